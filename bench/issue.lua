-- wrk script: POST /token-request replaying real TokenRequests made by
-- `ppclient requests` (a file of 259-byte records), keep-alive.
--   wrk ... -s bench/issue.lua URL -- REQFILE [RATE THREADS]
-- With RATE > 0 each wrk thread paces its connections on a fixed schedule
-- of RATE/THREADS requests per second (delay() hook; wrk's timers have 1 ms
-- granularity, so requests leave in small bursts that keep the average).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local stat = require("wrkstat")

-- record size: 259 (type 2), or BENCH_REQ_LEN (bench/voprf.sh: 35, 52)
local REC = tonumber(os.getenv("BENCH_REQ_LEN") or "") or 259
local reqs, n, i = {}, 0, 0

function init(args)
   local f = assert(io.open(args[1], "rb"))
   local data = f:read("*a")
   f:close()
   n = math.floor(#data / REC)
   assert(n > 0 and n * REC == #data, "request file is not " .. REC .. "-byte records")
   local hdr = { ["Content-Type"] = "application/private-token-request" }
   for k = 0, n - 1 do
      reqs[k + 1] = wrk.format("POST", "/token-request", hdr,
                               data:sub(k * REC + 1, (k + 1) * REC))
   end
   -- threads start at different records so they do not move in step
   i = math.random(0, n - 1)
   local rate, threads = tonumber(args[2] or "0"), tonumber(args[3] or "1")
   if rate and rate > 0 then
      delay = stat.pace(rate, threads)
   end
end

function request()
   i = i % n + 1
   return reqs[i]
end

function done(summary, latency, requests)
   stat.report(summary, latency, nil)
end
