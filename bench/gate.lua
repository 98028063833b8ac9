-- wrk script: GET requests that the gate decides (bench/gate.sh), keep-alive.
--   wrk -t T -c C ... -s bench/gate.lua URL -- PATH T C DONEPREFIX tokens TOKFILE
--   wrk -t T -c C ... -s bench/gate.lua URL -- PATH T C DONEPREFIX cookie COOKIE N
-- "tokens": every token of `ppgclient tokens` sent exactly once as
-- Authorization: PrivateToken token="..."; thread k of T takes its own
-- slice of the file. "cookie": N requests in all (N / T per thread), each
-- with the header Cookie: COOKIE. Once a thread has sent its share it gives
-- its connections empty requests (nothing is sent), and when every
-- connection is idle it stops itself and creates DONEPREFIX.<thread>, so
-- the caller can interrupt wrk (which would sleep its whole -d). The rate is
-- answers over the time from the first request to the last answer, as in
-- bench/redeem.lua.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local stat = require("wrkstat")

local LINE = 473   -- 472 base64url characters and a newline (type 2)
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   threads[#threads + 1] = thread
end

local reqs, n, i, idle, conns = {}, 0, 0, 0, 0
local same = nil   -- cookie mode: one request, sent n times

function init(args)
   local path = args[1]
   local nthreads = assert(tonumber(args[2]), "want PATH THREADS CONNS DONEPREFIX MODE ...")
   conns = math.floor(assert(tonumber(args[3])) / nthreads)
   done_prefix = args[4]
   local mode = args[5]
   if mode == "tokens" then
      for k, tok in ipairs(stat.read_slice(args[6], LINE, id, nthreads)) do
         reqs[k] = wrk.format("GET", path,
            { ["Authorization"] = 'PrivateToken token="' .. tok .. '"' })
      end
      n = #reqs
   elseif mode == "cookie" then
      local total = assert(tonumber(args[7]), "want COOKIE N")
      same = wrk.format("GET", path, { ["Cookie"] = args[6] })
      n = math.floor(total * (id + 1) / nthreads) - math.floor(total * id / nthreads)
   else
      error("mode must be tokens or cookie")
   end
   slice = n
   -- wrk calls request() once on the first thread right after init, only to
   -- parse it (nothing is sent): give it a request without using it up
   verifying = id == 0
end

function request()
   if verifying then
      verifying = false
      return same or reqs[1] or ""
   end
   if i < n then
      i = i + 1
      if i == 1 then
         t0 = stat.now_ms()
      end
      return same or reqs[i]
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
   stat.report_shares(threads, summary, latency, "sent")
end
