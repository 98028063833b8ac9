-- wrk script: POST /token-request with 0xDA7A ExtendedTokenRequests
-- (TokenRequest || Extensions holding one expiration), keep-alive.
--   wrk ... -s bench/da7a.lua URL -- TID MODE PRECISION TIMESTAMP
-- TID: the key's truncated id (decimal). MODE "hit": every request carries
-- the same Extensions (PRECISION, TIMESTAMP): one derived key, cached.
-- MODE "miss": every request a fresh timestamp (TIMESTAMP + a count, with
-- PRECISION 1), so every signature derives its key anew. The blinded
-- messages are random below 2^2040, hence below any 2048-bit modulus: the
-- server signs them as it signs real ones.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local stat = require("wrkstat")

local NREQ = 64
local hdr = { ["Content-Type"] = "application/private-token-request" }
local tid, mode, precision, ts
local blinded, n, i = {}, 0, 0
local fixed = {}
local count = 0

local function u64(v)
   local b = {}
   for k = 8, 1, -1 do
      b[k] = string.char(v % 256)
      v = math.floor(v / 256)
   end
   return table.concat(b)
end

-- the serialized Extensions: list length 20, type 0x0001, length 16
local function ext(p, t)
   return "\0\20\0\1\0\16" .. u64(p) .. u64(t)
end

function init(args)
   tid, mode = tonumber(args[1]), args[2]
   precision, ts = tonumber(args[3]), tonumber(args[4])
   math.randomseed(os.time() + math.floor(stat.now_ms()))
   for k = 1, NREQ do
      local b = { "\218\122", string.char(tid), "\0" }
      for _ = 1, 255 do
         b[#b + 1] = string.char(math.random(0, 255))
      end
      blinded[k] = table.concat(b)
      fixed[k] = wrk.format("POST", "/token-request", hdr,
                            blinded[k] .. ext(precision, ts))
   end
   n = NREQ
   i = math.random(0, n - 1)
   -- threads count apart, so their timestamps never meet
   count = math.random(0, 15) * 1000000   -- stays within a year ahead
end

function request()
   i = i % n + 1
   if mode == "hit" then
      return fixed[i]
   end
   count = count + 1
   return wrk.format("POST", "/token-request", hdr,
                     blinded[i] .. ext(1, ts + count))
end

function done(summary, latency, requests)
   stat.report(summary, latency, nil)
end
