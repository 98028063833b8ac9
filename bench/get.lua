-- wrk script: GET the issuer directory over keep-alive connections, the
-- cheapest request the server answers: its HTTP ceiling, which bench/run.sh
-- divides redemptions/s by.
--   wrk ... -s bench/get.lua URL [-- RATE THREADS]
-- With RATE > 0 the threads pace their GETs at RATE per second in all, as
-- bench/redeem.lua paces redemptions: the latency of the cheapest request at
-- a redemption run's pace, the part of its latency that is HTTP, wrk and the
-- machine rather than the verification and the store.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local stat = require("wrkstat")

wrk.method = "GET"
wrk.path = "/.well-known/private-token-issuer-directory"

function init(args)
   local rate = tonumber(args[1] or "0")
   if rate and rate > 0 then
      delay = stat.pace(rate, assert(tonumber(args[2]), "want RATE THREADS"))
   end
end

function done(summary, latency, requests)
   stat.report(summary, latency, nil)
end
