#!/bin/sh
# make bench-ab: two server binaries, A (before) and B (after), measured in
# one run, in alternating rounds (A B, A B, ...) so that whatever else the
# machine does falls on both alike. Each round gives each binary a fresh
# data dir and measures issuance at saturation (wrk, 64 connections) and
# LMDB redemption (every token once, 256 connections), with the server's CPU
# per request. The report gives each figure's median over the rounds and
# B's change against A.
#
#   sh bench/ab.sh A-BIN B-BIN        (make bench-ab OLD=<commit> builds A)
#
# Knobs: AB_ROUNDS (3), AB_TOKENS (tokens per redemption run, 40000),
# AB_SECONDS (issuance run, 10); PP_TOOLS (ppclient, from the B tree).
set -eu

[ $# -eq 2 ] || { echo "usage: sh bench/ab.sh A-BIN B-BIN" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/port.sh"
client=${PP_TOOLS:-$root/build/obj/tools}/ppclient
rounds=${AB_ROUNDS:-3}
tokens=${AB_TOKENS:-40000}
secs=${AB_SECONDS:-10}
hz=$(getconf CLK_TCK)
for b in "$1" "$2" "$client"; do
	[ -x "$b" ] || { echo "bench-ab: no executable $b" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench-ab: wrk not found" >&2; exit 1; }

work=$(mktemp -d)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$work"
	return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "bench-ab: FAILED: $*" >&2
	exit 1
}

# start BIN DATADIR: the server on a free port; sets srv_pid and url.
start() {
	: >"$work/log"
	"$1" serve --listen 127.0.0.1:0 --data-dir "$2" >>"$work/log" 2>&1 &
	srv_pid=$!
	port=$(reported_port "$work/log" "$srv_pid") || case $? in
		1) fail "server $1 exited at start" ;;
		*) fail "server $1 did not report its port" ;;
	esac
	url=http://127.0.0.1:$port
}

stop() {
	kill "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=
}

ticks() {
	awk '{ print $14 + $15 }' "/proc/$srv_pid/stat"
}

# kv LINE NAME: the value of NAME=... in a WRKRESULT line.
kv() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# wrk_result FILE WHAT: the WRKRESULT line, after checking it is clean.
wrk_result() {
	r=$(grep '^WRKRESULT ' "$1") || fail "$2: wrk printed no result"
	for e in err_connect err_read err_write err_status err_timeout; do
		[ "$(kv "$r" $e)" = 0 ] || fail "$2: wrk reports $e=$(kv "$r" $e)"
	done
	printf '%s\n' "$r"
}

# one BIN TAG ROUND: issuance and redemption figures of one binary, appended
# to $work/TAG as "issue_rate issue_us redeem_rate redeem_us".
one() {
	d=$work/data-$2-$3
	start "$1" "$d"
	"$client" requests "$url" 1000 "$work/req.bin" >/dev/null || fail "ppclient requests"
	t0=$(ticks)
	wrk -t2 -c64 -d${secs}s --timeout 10s -s "$here/issue.lua" "$url" -- \
		"$work/req.bin" >"$work/wrk-i.txt" 2>&1 || fail "wrk (issuance)"
	t1=$(ticks)
	ri=$(wrk_result "$work/wrk-i.txt" "issuance")
	"$client" tokens "$url" "$tokens" "$work/tokens.txt" 4 >/dev/null || fail "ppclient tokens"
	stop
	start "$1" "$d"
	rm -rf "$work/done"
	mkdir -p "$work/done"
	wrk -t2 -c256 -d120s --timeout 10s -s "$here/redeem.lua" "$url" -- \
		"$work/tokens.txt" 2 256 "$work/done/t" >"$work/wrk-r.txt" 2>&1 &
	wp=$!
	t2=$(ticks)
	i=0
	while [ "$(ls "$work/done" | wc -l)" -lt 2 ] && kill -0 $wp 2>/dev/null &&
		[ $i -lt 2400 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	t3=$(ticks)
	kill -INT $wp 2>/dev/null || true
	wait $wp 2>/dev/null || true
	rr=$(wrk_result "$work/wrk-r.txt" "redemption")
	[ "$(kv "$rr" finished)" = 1 ] || fail "redemption did not finish"
	[ "$(kv "$rr" requests)" = "$tokens" ] || fail "redemption: $(kv "$rr" requests) answers for $tokens tokens"
	stop
	rm -rf "$d"
	echo "$(kv "$ri" rate) $(kv "$ri" requests) $((t1 - t0)) $(kv "$rr" rate) $tokens $((t3 - t2))" |
		awk -v hz="$hz" '{ printf "%.1f %.1f %.1f %.1f\n", $1, ($3 * 1e6 / hz) / $2, $4, ($6 * 1e6 / hz) / $5 }' \
		>>"$work/$2"
	printf '  round %s %s: issuance %s tokens/s, redemption %s/s\n' "$3" "$2" \
		"$(kv "$ri" rate)" "$(kv "$rr" rate)"
}

echo "# A/B: $rounds rounds, A then B in each"
echo "A: $1"
echo "B: $2"
r=1
while [ $r -le "$rounds" ]; do
	one "$1" A $r
	one "$2" B $r
	r=$((r + 1))
done

# median COLUMN FILE
median() {
	awk -v c="$1" '{ print $c }' "$2" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo ""
printf '%-36s %12s %12s %8s\n' "median over $rounds rounds" A B "B/A-1"
for f in "1 issuance tokens/s" "2 issuance server CPU us/token" \
	"3 LMDB redemptions/s" "4 redemption server CPU us/token"; do
	c=${f%% *}
	name=${f#* }
	a=$(median "$c" "$work/A")
	b=$(median "$c" "$work/B")
	printf '%-36s %12s %12s %7s%%\n' "$name" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.1f", (b / a - 1) * 100 }')"
done
