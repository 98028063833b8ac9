# Sourced by bench/run.sh (it uses that script's helpers and variables):
# VOPRF token types 0x0005 (ristretto255) and 0x0001 (P-384), issuance at
# saturation beside the machine's limit for the same work, and type-5
# redemption, all measured in this run.
#
# The limit is the group's scalar multiplications per second on every core
# divided by what one token costs. One single-request BlindEvaluate with its
# proof (crypto/voprf_proof.c, ComputeCompositesFast) makes 5 of them:
# Z = k*B, d*B (the composite M), k*M, t2 = r*G and t3 = r*M; one redemption
# (Evaluate) makes 1, after a hash to the group.
#  - ristretto255: tests/tools/r255speed (libsodium's
#    crypto_scalarmult_ristretto255, variable base, and its _base for r*G)
#    on all cores: limit = 1 / (4 / var + 1 / base).
#  - P-384: openssl speed -multi ecdhp384 (one variable-base multiplication
#    per op; our P-384 multiplies with OpenSSL's ladder for the generator
#    too): limit = ecdh op/s / 5.
# Requests come from tests/tools/ppvclient (the project's client code),
# replayed by bench/issue.lua with BENCH_REQ_LEN; tokens are redeemed once
# each by bench/redeem.lua with BENCH_TOKEN_LINE.

vclient=${PP_TOOLS:-$root/build/obj/tools}/ppvclient
r255speed=${PP_TOOLS:-$root/build/obj/tools}/r255speed
[ -x "$vclient" ] && [ -x "$r255speed" ] ||
	fail "no ppvclient or r255speed in ${PP_TOOLS:-$root/build/obj/tools} (make test-build)"
if [ "$mode" = full ]; then
	v_tokens=${BENCH_VOPRF_TOKENS:-50000}
else
	v_tokens=500
fi

say "## 6. VOPRF token types 0x0005 (ristretto255) and 0x0001 (P-384)"
"$r255speed" "$speed_s" "$cores" >"$work/r255speed.txt" 2>&1 ||
	fail "r255speed: $(cat "$work/r255speed.txt")"
r255_var=$(kv "$(cat "$work/r255speed.txt")" var)
r255_base=$(kv "$(cat "$work/r255speed.txt")" base)
openssl speed -seconds "$speed_s" -multi "$cores" ecdhp384 >"$work/speed384.txt" 2>&1 ||
	fail "openssl speed ecdhp384 failed"
p384_ops=$(awk '/ecdh \(nistp384\)/ { v = $NF } END { print v }' "$work/speed384.txt")
[ -n "$r255_var" ] && [ -n "$r255_base" ] && [ -n "$p384_ops" ] ||
	fail "cannot read r255speed's or openssl speed's output"
v5_limit=$(calc "1 / (4 / $r255_var + 1 / $r255_base)")
v1_limit=$(calc "$p384_ops / 5")
row "ristretto255 scalar mults/s, $cores cores" "$r255_var" "(base point: $r255_base)"
row "P-384 ecdh op/s, openssl -multi $cores" "$p384_ops"

start_server --token-types 2,5,1
"$vclient" requests "$url" 5 "$requests" "$work/req5.bin" >/dev/null ||
	fail "ppvclient requests (type 5)"
"$vclient" requests "$url" 1 "$requests" "$work/req1.bin" >/dev/null ||
	fail "ppvclient requests (type 1)"
say "($requests distinct TokenRequests of each type from ppvclient, replayed"
say "round-robin; wrk -t$wrk_threads -c$sat_conns -d${sat_s}s as '$sat_sched')"
export BENCH_REQ_LEN=35
v5=$(wrk_run "$work/wrk-v5.txt" $sat_sched -t$wrk_threads -c$sat_conns -d${sat_s}s \
	--timeout 10s -s "$here/issue.lua" "$url" -- "$work/req5.bin")
check_wrk "$v5" "type 5 issuance"
export BENCH_REQ_LEN=52
v1=$(wrk_run "$work/wrk-v1.txt" $sat_sched -t$wrk_threads -c$sat_conns -d${sat_s}s \
	--timeout 10s -s "$here/issue.lua" "$url" -- "$work/req1.bin")
check_wrk "$v1" "type 1 issuance"
unset BENCH_REQ_LEN
[ "$(non200 token_request)" = 0 ] || fail "VOPRF issuance: the server answered non-200 statuses"
row "type 5 tokens/s at saturation" "$(kv "$v5" rate)"
row "  limit: scalar mults/s / 5 per token" "$v5_limit" \
	"(ratio $(calc "$(kv "$v5" rate) / $v5_limit"))"
row "  latency" "$(lat "$v5")"
cpu_say "$(cpu_report "$work/wrk-v5.txt" "$(kv "$v5" requests)")" nowarn
row "type 1 tokens/s at saturation" "$(kv "$v1" rate)"
row "  limit: ecdhp384 op/s / 5 per token" "$v1_limit" \
	"(ratio $(calc "$(kv "$v1" rate) / $v1_limit"))"
row "  latency" "$(lat "$v1")"
cpu_say "$(cpu_report "$work/wrk-v1.txt" "$(kv "$v1" requests)")" nowarn

# type-5 redemption: redeem_run redeems $work/tokens.txt, $tokens of them
"$vclient" tokens "$url" 5 "$v_tokens" "$work/tokens5.txt" 4 >/dev/null ||
	fail "ppvclient tokens (type 5)"
stop_server
mv "$work/tokens.txt" "$work/tokens2.txt"
cp "$work/tokens5.txt" "$work/tokens.txt"
v_saved_tokens=$tokens
tokens=$v_tokens
export BENCH_TOKEN_LINE=217
start_server --token-types 2,5,1
v5r=$(redeem_run lmdb-type5)
stop_server
unset BENCH_TOKEN_LINE
tokens=$v_saved_tokens
mv "$work/tokens2.txt" "$work/tokens.txt"
row "LMDB redemptions/s, type 5 ($v_tokens tokens)" "$(kv "$v5r" rate)" \
	"(limit, 1 mult each: $r255_var; type 2 above: $lm_rate)"
row "  latency" "$(lat "$v5r")"
cpu_say "$v5r" nowarn
say ""
