-- wrk script: GET the issuer directory over keep-alive connections, the
-- cheapest request the server answers: its HTTP ceiling, which bench/run.sh
-- divides redemptions/s by.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local stat = require("wrkstat")

wrk.method = "GET"
wrk.path = "/.well-known/private-token-issuer-directory"

function done(summary, latency, requests)
   stat.report(summary, latency, nil)
end
