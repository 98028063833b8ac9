# Sourced by bench/run.sh (it uses that script's helpers and variables):
# type-2 issuance with the key in a SoftHSM2 token (keys/pkcs11.c,
# CKM_RSA_X_509 through C_Sign) beside the file-key figure ($sat_rate) and
# openssl speed ($signn) of this same run. What limits it: SoftHSM2 signs
# with OpenSSL's RSA under its own locks and copies, plus one PKCS#11 call
# round (C_SignInit + C_Sign) per token; a network HSM adds its round trip
# and is bounded by its own signing rate and sessions. Skipped with a note
# when softhsm2 is not installed.

p11_mod=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
	[ -r "$m" ] && p11_mod=$m
done
say "## 7. Issuance with the key in a PKCS#11 token (SoftHSM2)"
if [ -z "$p11_mod" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
	say "skipped: softhsm2 is not installed (apt-get install softhsm2)"
	say ""
else
	mkdir -p "$work/hsm/tokens" && chmod 700 "$work/hsm"
	printf 'directories.tokendir = %s/hsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$work" >"$work/hsm/softhsm2.conf"
	export SOFTHSM2_CONF="$work/hsm/softhsm2.conf"
	softhsm2-util --init-token --free --label ppbench --pin 1234 --so-pin 5678 \
		>/dev/null || fail "softhsm2-util --init-token"
	printf '1234\n' >"$work/hsm/pin" && chmod 600 "$work/hsm/pin"
	rm -rf "$work/data-p11"
	p11_args="--pkcs11-module $p11_mod --pkcs11-token ppbench --pkcs11-pin-file $work/hsm/pin"
	start_server --data-dir "$work/data-p11" $p11_args
	"$client" requests "$url" "$requests" "$work/req-p11.bin" >/dev/null ||
		fail "ppclient requests (pkcs11)"
	p11=$(wrk_run "$work/wrk-p11.txt" $sat_sched -t$wrk_threads -c$sat_conns -d${sat_s}s \
		--timeout 10s -s "$here/issue.lua" "$url" -- "$work/req-p11.bin")
	check_wrk "$p11" "pkcs11 issuance"
	[ "$(non200 token_request)" = 0 ] || fail "pkcs11 issuance: non-200 statuses"
	p11_rate=$(kv "$p11" rate)
	stop_server
	row "tokens/s, key in SoftHSM2" "$p11_rate" \
		"($(calc "$p11_rate / $sat_rate") of the file key's $sat_rate/s; $(calc "$p11_rate / $signn") of openssl -multi sign/s)"
	row "  latency" "$(lat "$p11")"
	cpu_say "$(cpu_report "$work/wrk-p11.txt" "$(kv "$p11" requests)")"
	say "(limit: SoftHSM2's own RSA under its locks and one C_SignInit+C_Sign per"
	say " token; every signature is still checked in software before it is sent)"
	say ""
	unset SOFTHSM2_CONF
fi
