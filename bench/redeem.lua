-- wrk script: POST /redeem, every token of `ppclient tokens` exactly once.
--   wrk -t T -c C ... -s bench/redeem.lua URL -- TOKFILE T C [DONEPREFIX [RATE]]
-- Thread k of T takes its own slice of the file. Once a thread has sent its
-- last token it gives its connections empty requests (nothing is sent),
-- and when every connection is idle it stops itself: no token is sent
-- twice and no other request is counted. wrk still sleeps its whole -d, so
-- the rate is the script's own: answered redemptions over the time from
-- the first request to the last answer. With DONEPREFIX, a finished thread
-- creates the file DONEPREFIX.<thread>, so the caller can interrupt wrk.
-- With RATE > 0 the threads pace their requests at RATE per second in all
-- (as bench/issue.lua does), for latency below saturation.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local stat = require("wrkstat")

-- 472 base64url characters and a newline (type 2), or BENCH_TOKEN_LINE
-- (bench/voprf.sh: 217 for type 5, 197 for type 1)
local LINE = tonumber(os.getenv("BENCH_TOKEN_LINE") or "") or 473
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   threads[#threads + 1] = thread
end

local reqs, n, i, idle, conns = {}, 0, 0, 0, 0

function init(args)
   local nthreads = assert(tonumber(args[2]), "want TOKFILE THREADS CONNS")
   conns = math.floor(assert(tonumber(args[3])) / nthreads)
   done_prefix = args[4]
   local hdr = { ["Content-Type"] = "application/json" }
   for k, tok in ipairs(stat.read_slice(args[1], LINE, id, nthreads)) do
      reqs[k] = wrk.format("POST", "/redeem", hdr, '{"token":"' .. tok .. '"}')
   end
   n = #reqs
   slice = n
   local rate = tonumber(args[5] or "0")
   if rate and rate > 0 then
      delay = stat.pace(rate, nthreads)
   end
   -- wrk calls request() once on the first thread right after init, only to
   -- parse it (nothing is sent): give it a request without using it up
   verifying = id == 0
end

function request()
   if verifying then
      verifying = false
      return reqs[1] or ""
   end
   if i < n then
      i = i + 1
      if i == 1 then
         t0 = stat.now_ms()
      end
      return reqs[i]
   end
   idle = idle + 1
   if idle == conns then
      t1 = stat.now_ms()
      wrk.thread:stop()
      if done_prefix then
         assert(io.open(done_prefix .. "." .. id, "w")):close()
      end
   end
   return ""
end

function done(summary, latency, requests)
   stat.report_shares(threads, summary, latency, "tokens")
end
