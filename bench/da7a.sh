# Sourced by bench/run.sh (it uses that script's helpers and variables):
# token type 0xDA7A issuance beside type 0x0002's, in the same run.
#
# The committed safe-prime key (tests/data/keys/pbrsa-safe2048.pem) is
# imported into the run's data dir, so nothing searches for primes; the
# server then serves 2,0xDA7A. Two loads at saturation (wrk -c$sat_conns):
#   cache hit:  every request carries one Extensions value (an expiration
#               rounded to the hour): one derived key, made once;
#   cache miss: every request a fresh expiration (precision 1 s), so every
#               signature first derives its key (e' by HKDF, d' = e'^-1 mod
#               phi(n)) and sets it up; the cache (256 keys) only evicts.
# Both must answer 200 to every request, as type 0x0002 does.

da7a_key=$root/tests/data/keys/pbrsa-safe2048.pem
"$bin" keys import --type 0xDA7A "$da7a_key" --data-dir "$work/data" \
	>"$work/da7a-import.txt" 2>&1 || fail "0xDA7A key import: $(cat "$work/da7a-import.txt")"
da7a_tid=$(sed -n 's/.*truncated id 0x\([0-9a-f]*\).*/\1/p' "$work/da7a-import.txt")
[ -n "$da7a_tid" ] || fail "0xDA7A key import printed no truncated id"
da7a_tid=$((0x$da7a_tid))
da7a_now=$(date +%s)
start_server --token-types 2,0xDA7A --ext-expiry-precisions 1,3600 \
	--ext-expiry-max-future 31536000

say "## 5. Token type 0xDA7A issuance (partially blind RSA, public metadata)"
say "(wrk -t$wrk_threads -c$sat_conns -d${sat_s}s as '$sat_sched', random blinded messages"
say "and one expiration extension per request; type 0x0002 above: $sat_rate tokens/s)"
da7a_hit=$(wrk_run "$work/wrk-da7a-hit.txt" $sat_sched -t$wrk_threads -c$sat_conns \
	-d${sat_s}s --timeout 10s -s "$here/da7a.lua" "$url" -- "$da7a_tid" hit 3600 \
	$(((da7a_now / 3600 + 1) * 3600)))
check_wrk "$da7a_hit" "0xDA7A issuance (cache hit)"
da7a_miss=$(wrk_run "$work/wrk-da7a-miss.txt" $sat_sched -t$wrk_threads -c$sat_conns \
	-d${sat_s}s --timeout 10s -s "$here/da7a.lua" "$url" -- "$da7a_tid" miss 1 \
	$((da7a_now + 3600)))
check_wrk "$da7a_miss" "0xDA7A issuance (cache miss)"
[ "$(non200 token_request)" = 0 ] || fail "0xDA7A issuance: the server answered non-200 statuses"
stop_server
row "0xDA7A tokens/s, one Extensions value (hit)" "$(kv "$da7a_hit" rate)" \
	"($(calc "$(kv "$da7a_hit" rate) / $sat_rate") x type 0x0002)"
row "  latency" "$(lat "$da7a_hit")"
cpu_say "$(cpu_report "$work/wrk-da7a-hit.txt" "$(kv "$da7a_hit" requests)")" nowarn
row "0xDA7A tokens/s, fresh value per request (miss)" "$(kv "$da7a_miss" rate)" \
	"($(calc "$(kv "$da7a_miss" rate) / $(kv "$da7a_hit" rate)") x hit)"
row "  latency" "$(lat "$da7a_miss")"
cpu_say "$(cpu_report "$work/wrk-da7a-miss.txt" "$(kv "$da7a_miss" requests)")" nowarn
say ""
