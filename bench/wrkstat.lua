-- Shared by the bench scripts: a monotonic clock, a pacing hook and the
-- one-line report printed from wrk's done() hook, which bench/run.sh parses.
local ffi = require("ffi")

ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } pp_bench_ts;
int clock_gettime(int clk, pp_bench_ts *ts);
]]

local M = {}
local ts = ffi.new("pp_bench_ts")

-- Milliseconds on CLOCK_MONOTONIC (1 on Linux), sub-millisecond precision.
function M.now_ms()
   ffi.C.clock_gettime(1, ts)
   return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

-- A delay() hook for wrk that paces one thread at rate/threads requests per
-- second on a fixed schedule (wrk's timers have 1 ms granularity, so
-- requests leave in small bursts that keep the average). No catching up
-- after a stall: the schedule never bursts.
function M.pace(rate, threads)
   local interval, next_at = 1000 * threads / rate, M.now_ms()
   return function()
      local t = M.now_ms()
      if next_at < t then
         next_at = t
      end
      local d = next_at - t
      next_at = next_at + interval
      return math.floor(d)
   end
end

-- Thread id of nthreads' own slice of a file of fixed-width lines (the
-- newline of each dropped), for scripts that send every line exactly once.
function M.read_slice(path, line, id, nthreads)
   local f = assert(io.open(path, "rb"))
   local size = f:seek("end")
   assert(size % line == 0, "token file is not fixed-width lines")
   local total = size / line
   local lo = math.floor(total * id / nthreads)
   local hi = math.floor(total * (id + 1) / nthreads)
   f:seek("set", lo * line)
   local data = f:read((hi - lo) * line) or ""
   f:close()
   local out = {}
   for k = 0, hi - lo - 1 do
      out[k + 1] = data:sub(k * line + 1, k * line + line - 1)
   end
   return out
end

-- The report of a run whose threads each send their share once: every
-- thread sets the globals slice (its share), t0 (its first request) and t1
-- (its last answer). The rate is answers over the time from the first
-- request to the last answer; sent_key names the count of shares in all.
function M.report_shares(threads, summary, latency, sent_key)
   local first, last, sent, finished = nil, nil, 0, true
   for _, t in ipairs(threads) do
      local a, b = t:get("t0"), t:get("t1")
      sent = sent + (t:get("slice") or 0)
      if a and (not first or a < first) then first = a end
      if not b then
         finished = false
      elseif not last or b > last then
         last = b
      end
   end
   local extra = { [sent_key] = sent, finished = finished and 1 or 0 }
   if finished and first and last and last > first then
      extra.rate = summary.requests / ((last - first) / 1000)
      extra.window_s = string.format("%.3f", (last - first) / 1000)
   end
   M.report(summary, latency, extra)
end

-- Prints "WRKRESULT key=value ..." from done(). rate and window_s are the
-- script's own measurement when it has one (redemption stops early),
-- otherwise wrk's requests over wrk's duration.
function M.report(summary, latency, extra)
   local e = summary.errors
   local dur_s = summary.duration / 1e6
   local fields = {
      "requests=" .. summary.requests,
      "duration_s=" .. string.format("%.3f", dur_s),
      "p50_ms=" .. string.format("%.3f", latency:percentile(50) / 1000),
      "p99_ms=" .. string.format("%.3f", latency:percentile(99) / 1000),
      "p999_ms=" .. string.format("%.3f", latency:percentile(99.9) / 1000),
      "max_ms=" .. string.format("%.3f", latency.max / 1000),
      "err_connect=" .. e.connect,
      "err_read=" .. e.read,
      "err_write=" .. e.write,
      "err_status=" .. e.status,
      "err_timeout=" .. e.timeout,
   }
   local rate = summary.requests / dur_s
   if extra and extra.rate then
      rate = extra.rate
   end
   fields[#fields + 1] = "rate=" .. string.format("%.1f", rate)
   for k, v in pairs(extra or {}) do
      if k ~= "rate" then
         fields[#fields + 1] = k .. "=" .. tostring(v)
      end
   end
   io.write("WRKRESULT " .. table.concat(fields, " ") .. "\n")
end

return M
