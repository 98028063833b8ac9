# Sourced by bench/run.sh (it uses that script's helpers and variables):
# `ppissuer gate` decisions per second, in front of the issuer this run
# starts (default options, type 0x0002, open mode).
#
# The gate runs with its LMDB spent store (a 200 only after the group
# commit's fdatasync), --session-ttl 600 and a challenge window of an hour
# (tokens made at a window's end stay good for the run). Two loads, each
# with wrk -t$wrk_threads -c$red_conns, each request answered before the
# next on its connection:
#   fresh tokens:   tests/tools/ppgclient reads the gate's 401 challenge and
#                   has the issuer sign tokens for it (the project's client
#                   code); bench/gate.lua sends each token exactly once, so
#                   every decision verifies an RSA signature against the
#                   cached directory and spends the token;
#   session cookie: one ppgate_session cookie (got with one more token) on
#                   every request: an HMAC check, no store.
# Both on the gate alone (GET /gate) and behind nginx with
# deploy/nginx-gate.conf (its ports and paths replaced; GET / serves a
# small static page after auth_request) when nginx is installed. Every
# answer must be 200: wrk counts any status >= 400 as an error, and its
# count of answers must equal the requests sent; afterwards a token of the
# run must be refused as spent.

gclient=${PP_TOOLS:-$root/build/obj/tools}/ppgclient
[ -x "$gclient" ] || fail "no ppgclient in ${PP_TOOLS:-$root/build/obj/tools} (make test-build)"
if [ "$mode" = full ]; then
	g_tokens=${BENCH_GATE_TOKENS:-50000}
	g_cookies=${BENCH_GATE_COOKIES:-300000}
else
	g_tokens=100
	g_cookies=1000
fi
g_conns=$red_conns
g_pid=
ngx_pid=
ngx_dir=

gate_cleanup() {
	[ -n "$ngx_pid" ] && stop_child "$ngx_pid" TERM
	[ -n "$g_pid" ] && stop_child "$g_pid" TERM
	[ -n "$ngx_dir" ] && rm -rf "$ngx_dir"
	ngx_pid=
	g_pid=
	ngx_dir=
}
trap 'gate_cleanup; cleanup' EXIT

gate_fail() {
	tail -3 "$work/gate.log" >&2
	[ -n "$ngx_dir" ] && tail -3 "$ngx_dir/ngx/error.log" >&2 2>/dev/null
	fail "$@"
}

# children_ticks PID: CPU ticks of PID's children (nginx's workers).
children_ticks() {
	cat /proc/[0-9]*/stat 2>/dev/null |
		awk -v p="$1" '$4 == p { t += $14 + $15 } END { print t + 0 }'
}

# gate_wrk NAME BASE-URL PATH MODE ARG...: one gate.lua run to its end;
# prints its WRKRESULT line with the gate's (and nginx's) CPU per request.
gate_wrk() {
	gw_name=$1
	gw_base=$2
	gw_path=$3
	shift 3
	mkdir -p "$work/done-$gw_name"
	gw_g0=$(proc_ticks "$g_pid")
	gw_n0=$([ -n "$ngx_pid" ] && children_ticks "$ngx_pid" || echo 0)
	wrk -t$wrk_threads -c$g_conns -d${red_max_s}s --timeout 10s \
		-s "$here/gate.lua" "$gw_base" -- "$gw_path" $wrk_threads $g_conns \
		"$work/done-$gw_name/t" "$@" >"$work/wrk-$gw_name.txt" 2>&1 &
	gw_wrk=$!
	i=0
	while [ "$(ls "$work/done-$gw_name" | wc -l)" -lt $wrk_threads ] &&
		alive $gw_wrk && [ $i -lt $((red_max_s * 100)) ]; do
		sleep 0.01
		i=$((i + 1))
	done
	gw_g=$(($(proc_ticks "$g_pid") - gw_g0))
	gw_n=$(($([ -n "$ngx_pid" ] && children_ticks "$ngx_pid" || echo 0) - gw_n0))
	stop_child $gw_wrk INT
	gw_r=$(grep '^WRKRESULT ' "$work/wrk-$gw_name.txt") ||
		gate_fail "gate $gw_name: wrk printed no result: $(tail -3 "$work/wrk-$gw_name.txt")"
	check_wrk "$gw_r" "gate $gw_name (every answer must be 200)"
	[ "$(kv "$gw_r" finished)" = 1 ] || gate_fail "gate $gw_name did not finish within ${red_max_s}s"
	[ "$(kv "$gw_r" requests)" = "$(kv "$gw_r" sent)" ] ||
		gate_fail "gate $gw_name: wrk counted $(kv "$gw_r" requests) answers for $(kv "$gw_r" sent) requests"
	printf '%s %s\n' "$gw_r" "$(awk -v g="$gw_g" -v x="$gw_n" -v n="$(kv "$gw_r" requests)" \
		-v hz="$hz" 'BEGIN { printf "cpu_gate_us=%.1f cpu_nginx_us=%.1f", g * 1e6 / hz / n, x * 1e6 / hz / n }')"
}

# gate_token_status URL TOKEN-FILE: the status of the file's first token.
gate_token_status() {
	curl -s -o /dev/null -w '%{http_code}' \
		-H "Authorization: PrivateToken token=\"$(head -c 472 "$2")\"" "$1"
}

# gate_rows RESULT-LINE LABEL: its rate, latency and CPU.
gate_rows() {
	row "$2" "$(kv "$1" rate)"
	row "  latency" "$(lat "$1")"
	if [ -n "$ngx_pid" ]; then
		row "  CPU per request: nginx / gate" "$(kv "$1" cpu_nginx_us) / $(kv "$1" cpu_gate_us) us"
	else
		row "  CPU per decision: gate" "$(kv "$1" cpu_gate_us) us"
	fi
}

say "## Gate: forward-auth decisions (ppissuer gate)"
say "(the gate in front of this run's issuer: LMDB spent store, --session-ttl 600;"
say "$g_tokens fresh type-2 tokens per run made by ppgclient for the gate's own 401"
say "challenge, each sent once; $g_cookies requests with one session cookie;"
say "wrk -t$wrk_threads -c$g_conns; every answer was 200)"
start_server
: >"$work/gate.log"
"$bin" gate --listen 127.0.0.1:0 --issuer "$url" --origin-info bench.example \
	--data-dir "$work/gate-data" --session-ttl 600 --challenge-window 3600 \
	>>"$work/gate.log" 2>&1 &
g_pid=$!
g_port=$(reported_port "$work/gate.log" "$g_pid") || case $? in
	1) gate_fail "the gate exited at start" ;;
	*) gate_fail "the gate did not report its port" ;;
esac
gurl=http://127.0.0.1:$g_port
[ "$(curl -s -o /dev/null -w '%{http_code}' "$gurl/readyz")" = 200 ] ||
	gate_fail "the gate has no directory from $url"

"$gclient" tokens "$gurl/gate" "$url" 1 "$work/gate-cookie-token.txt" 1 >/dev/null ||
	gate_fail "ppgclient tokens (for the cookie)"
g_cookie=$(curl -s -o /dev/null -D - \
	-H "Authorization: PrivateToken token=\"$(head -c 472 "$work/gate-cookie-token.txt")\"" \
	"$gurl/gate" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: *\(ppgate_session=[^;]*\).*/\1/p')
[ -n "$g_cookie" ] || gate_fail "the gate set no session cookie for a fresh token"

"$gclient" tokens "$gurl/gate" "$url" "$g_tokens" "$work/gate-tokens.txt" 4 >/dev/null ||
	gate_fail "ppgclient tokens"
g_tok=$(gate_wrk gate-tokens "$gurl" /gate tokens "$work/gate-tokens.txt")
[ "$(gate_token_status "$gurl/gate" "$work/gate-tokens.txt")" = 401 ] ||
	gate_fail "a token of the run was not refused as spent afterwards"
g_ck=$(gate_wrk gate-cookie "$gurl" /gate cookie "$g_cookie" "$g_cookies")
gate_rows "$g_tok" "gate: decisions/s, fresh type-2 tokens"
gate_rows "$g_ck" "gate: decisions/s, session cookie"

ngx_bin=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
if [ ! -x "$ngx_bin" ]; then
	say "behind nginx: skipped, nginx is not installed (sh scripts/deps.sh installs it)"
else
	# its own directory, readable by nginx's workers (nobody when run as root)
	ngx_dir=$(mktemp -d)
	chmod 755 "$ngx_dir"
	mkdir -p "$ngx_dir/www" "$ngx_dir/ngx"
	printf 'the protected page\n' >"$ngx_dir/www/index.html"
	chmod 755 "$ngx_dir/www" && chmod 644 "$ngx_dir/www/index.html"
	# a port below the ephemeral range (32768 and up on Linux), where no
	# outgoing connection holds it; nginx itself says when it cannot bind
	ngx_port=$((10000 + $$ % 20000))
	tries=0
	while [ $tries -lt 20 ] && [ -z "$ngx_pid" ]; do
		tries=$((tries + 1))
		ngx_port=$((ngx_port + 1))
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$ngx_port/" && continue
		sed -e "s#listen 127.0.0.1:8000;#listen 127.0.0.1:$ngx_port;#" \
			-e "s#server 127.0.0.1:8090;#server 127.0.0.1:$g_port;#" \
			-e "s#/var/www/protected#$ngx_dir/www#" -e "s#/tmp/nginx-gate#$ngx_dir/ngx#g" \
			"$root/deploy/nginx-gate.conf" >"$ngx_dir/nginx.conf"
		: >"$ngx_dir/ngx/early.log"
		"$ngx_bin" -e "$ngx_dir/ngx/early.log" -c "$ngx_dir/nginx.conf" -g 'daemon off;' \
			>"$ngx_dir/ngx/stderr.log" 2>&1 &
		ngx_pid=$!
		i=0
		while [ $i -lt 500 ] && alive "$ngx_pid" &&
			[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ngx_port/")" != 401 ]; do
			if grep -qs 'bind()' "$ngx_dir/ngx/early.log" "$ngx_dir/ngx/error.log" \
				"$ngx_dir/ngx/stderr.log"; then
				stop_child "$ngx_pid" TERM
				break
			fi
			sleep 0.01
			i=$((i + 1))
		done
		if ! alive "$ngx_pid"; then
			wait "$ngx_pid" 2>/dev/null || true
			ngx_pid=
			rm -f "$ngx_dir/ngx/error.log"
		fi
	done
	nurl=http://127.0.0.1:$ngx_port
	[ -n "$ngx_pid" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$nurl/")" = 401 ] ||
		gate_fail "nginx did not start or does not answer 401 at $nurl/: $(cat "$ngx_dir/ngx/stderr.log" \
			"$ngx_dir/ngx/error.log" 2>/dev/null | tail -3)"
	"$gclient" tokens "$nurl/" "$url" "$g_tokens" "$work/gate-tokens-nginx.txt" 4 >/dev/null ||
		gate_fail "ppgclient tokens (through nginx)"
	n_tok=$(gate_wrk nginx-tokens "$nurl" / tokens "$work/gate-tokens-nginx.txt")
	[ "$(gate_token_status "$nurl/" "$work/gate-tokens-nginx.txt")" = 401 ] ||
		gate_fail "a token of the nginx run was not refused as spent afterwards"
	n_ck=$(gate_wrk nginx-cookie "$nurl" / cookie "$g_cookie" "$g_cookies")
	say "behind nginx ($("$ngx_bin" -v 2>&1 | sed 's#.*/##'), deploy/nginx-gate.conf: one worker, access log on,"
	say "upstream keepalive 16; GET / serves a 19-byte page after auth_request):"
	gate_rows "$n_tok" "nginx + gate: requests/s, fresh tokens"
	gate_rows "$n_ck" "nginx + gate: requests/s, session cookie"
fi
gate_cleanup
trap cleanup EXIT
stop_server
say ""
