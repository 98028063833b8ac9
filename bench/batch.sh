# Sourced by bench/run.sh (it uses that script's helpers and variables):
# type-2 issuance in generic batches (Content-Type:
# application/private-token-generic-batch-request) of 10 and of 100
# TokenRequests at saturation, in tokens/s, beside the single-request figure
# ($sat_rate, ratio $ratio) and openssl speed -multi ($signn) of this run.
#
# The bodies come from `ppclient batches` (the project's client code and
# crypto/batch.h's encoder): fixed-size records, replayed round-robin by a
# small wrk script written below. A fresh server with default options
# (max-batch 100) answers them; every answer must be 200 (all tokens issued:
# a 206 or worse shows in the server's counts by status), and the server
# must have signed at least as many tokens as wrk counted answers x size.

# SIZE:BODIES, distinct batches of each size
if [ "$mode" = full ]; then
	b_specs="10:100 100:10"   # 1,000 TokenRequests each, as above
else
	b_specs="10:5 100:5"
fi

# POST /token-request with the records of REQFILE (RECLEN bytes each) as
# generic batch bodies:  wrk ... -s batch.lua URL -- REQFILE RECLEN
{
	printf 'package.path = "%s/?.lua;" .. package.path\n' "$here"
	cat <<'EOF'
local stat = require("wrkstat")
local reqs, n, i = {}, 0, 0

function init(args)
   local rec = tonumber(args[2])
   local f = assert(io.open(args[1], "rb"))
   local data = f:read("*a")
   f:close()
   n = math.floor(#data / rec)
   assert(n > 0 and n * rec == #data, "batch file is not " .. rec .. "-byte records")
   local hdr = { ["Content-Type"] = "application/private-token-generic-batch-request" }
   for k = 0, n - 1 do
      reqs[k + 1] = wrk.format("POST", "/token-request", hdr,
                               data:sub(k * rec + 1, (k + 1) * rec))
   end
   i = math.random(0, n - 1)
end

function request()
   i = i % n + 1
   return reqs[i]
end

function done(summary, latency, requests)
   stat.report(summary, latency, nil)
end
EOF
} >"$work/batch.lua"

# b_issued: tokens the server has signed so far, over all its keys.
b_issued() {
	curl -sf "$url/metrics" >"$work/metrics.txt" || fail "cannot read /metrics"
	awk 'index($1, "ppissuer_tokens_issued_total{") == 1 { n += $2 } END { print n + 0 }' \
		"$work/metrics.txt"
}

say "## 8. Generic batches: POST /token-request, type 0x0002 in batches of 10 and 100"
say "(distinct batches from ppclient replayed round-robin; wrk -t$wrk_threads -c$sat_conns -d${sat_s}s"
say "as '$sat_sched'; latency is per batch; single requests above: $sat_rate tokens/s,"
say "ratio $ratio to openssl -multi)"
start_server --data-dir "$work/data-batch"
for b_spec in $b_specs; do
	b_size=${b_spec%%:*}
	b_n=${b_spec#*:}
	b_file=$work/batch$b_size.bin
	"$client" batches "$url" "$b_n" "$b_size" "$b_file" >/dev/null ||
		fail "ppclient batches ($b_size)"
	b_rec=$(($(wc -c <"$b_file") / b_n))
	b_before=$(b_issued)
	b_res=$(wrk_run "$work/wrk-batch$b_size.txt" $sat_sched -t$wrk_threads -c$sat_conns \
		-d${sat_s}s --timeout 10s -s "$work/batch.lua" "$url" -- "$b_file" "$b_rec")
	check_wrk "$b_res" "generic batches of $b_size"
	[ "$(non200 token_request)" = 0 ] ||
		fail "generic batches of $b_size: the server answered non-200 statuses"
	b_tokens=$(($(kv "$b_res" requests) * b_size))
	b_signed=$(($(b_issued) - b_before))
	[ "$b_signed" -ge "$b_tokens" ] ||
		fail "generic batches of $b_size: $b_tokens tokens answered, $b_signed signed"
	b_rate=$(calc "$(kv "$b_res" rate) * $b_size")
	b_cpu=$(cpu_report "$work/wrk-batch$b_size.txt" "$b_tokens")
	row "tokens/s, generic batches of $b_size" "$b_rate" \
		"(ratio $(calc "$b_rate / $signn") to openssl -multi; single requests $ratio)"
	row "  latency per batch" "$(lat "$b_res")"
	row "  CPU per token: server / wrk" "$(kv "$b_cpu" cpu_srv_us) / $(kv "$b_cpu" cpu_wrk_us) us" \
		"(cores busy: server $(kv "$b_cpu" cores_srv), wrk $(kv "$b_cpu" cores_wrk), others $(kv "$b_cpu" cores_other))"
done

# The cheapest request beside batches: directory GETs paced at 1,000/s on
# their own connections, alone and then while batches of 100 keep every
# core busy. Batches are signed by worker threads below the loop threads'
# priority (api/workers.h), so a GET does not wait for a batch in progress.
b_get() {
	wrk -t1 -c8 -d${ceil_s}s --timeout 10s -s "$here/get.lua" "$url" -- 1000 1 \
		>"$work/wrk-bget$1.txt" 2>&1 || fail "directory GETs ($1)"
	g=$(grep '^WRKRESULT' "$work/wrk-bget$1.txt")
	check_wrk "$g" "directory GETs ($1)"
	printf '%s\n' "$g"
}
[ "$b_size" = 100 ] || fail "the last batch size is $b_size, not 100"
b_alone=$(b_get alone)
wrk -t$wrk_threads -c$sat_conns -d$((ceil_s + 2))s --timeout 10s -s "$work/batch.lua" \
	"$url" -- "$work/batch100.bin" "$b_rec" >"$work/wrk-bload.txt" 2>&1 &
b_load=$!
sleep 1
b_beside=$(b_get beside)
wait $b_load || fail "batches beside the GETs"
[ "$(non200 directory)" = 0 ] || fail "directory GETs beside batches: non-200 answers"
row "directory GETs at 1,000/s, alone" "$(kv "$b_alone" rate)/s" "($(lat "$b_alone"))"
row "  the same beside batches of 100" "$(kv "$b_beside" rate)/s" "($(lat "$b_beside"))"
stop_server
say ""
