#!/bin/sh
# Interop test: start the real ppissuer on a free local port with an empty
# data dir, issue and verify tokens with an independent client
# (@cloudflare/privacypass-ts, see interop.mjs), then stop the server with
# SIGTERM and require a clean exit.
#
#   PP_BIN=/abs/path/to/ppissuer sh tests/interop/run.sh
#
# Needs node >= 20, curl, and `npm ci` done in tests/interop (make test does it).
set -u

here=$(cd "$(dirname "$0")" && pwd)
bin=${PP_BIN:-$here/../../build/bin/ppissuer}
node=${NODE:-node}
count=${PP_INTEROP_TOKENS:-50}
start_timeout=10 # seconds until /healthz must answer
stop_timeout=10  # seconds the server gets to exit after SIGTERM

if [ ! -x "$bin" ]; then
	echo "interop: server binary '$bin' not found; build it or set PP_BIN" >&2
	exit 1
fi
if [ ! -d "$here/node_modules/@cloudflare/privacypass-ts" ]; then
	echo "interop: run 'cd tests/interop && npm ci' first" >&2
	exit 1
fi

# The server also reads PPISSUER_* settings; the caller's must not leak in.
for v in $(env | sed -n 's/^\(PPISSUER_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pp-interop.XXXXXX") || exit 1
pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_server_log() {
	echo "--- server stderr (last 40 lines) ---" >&2
	tail -n 40 "$tmp/stderr" >&2
	echo "--- end of server stderr ---" >&2
}

# Asks the kernel for an unused port, then releases it for the server.  Another
# process may take it in between; start_server retries on "address in use".
free_port() {
	"$node" -e '
		const s = require("net").createServer();
		s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

healthy() {
	curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$1/healthz" 2>/dev/null
}

# Starts the server on $port; returns 0 once /healthz answers, 1 if the server
# died (its exit status in $server_status), 2 if it did not come up in time.
start_server() {
	mkdir -m 0700 "$tmp/data" || return 1
	"$bin" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" \
		${PP_INTEROP_TYPES:+--token-types "$PP_INTEROP_TYPES"} \
		>"$tmp/stdout" 2>"$tmp/stderr" &
	pid=$!
	deadline=$(($(date +%s) + start_timeout))
	while [ "$(date +%s)" -le "$deadline" ]; do
		if healthy "$port"; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			server_status=$?
			pid=
			return 1
		fi
		sleep 0.1
	done
	return 2
}

attempt=1
while :; do
	port=$(free_port) || exit 1
	start_server
	rc=$?
	[ "$rc" -eq 0 ] && break
	if [ "$rc" -eq 1 ] && [ "$attempt" -lt 3 ] && grep -qi 'in use' "$tmp/stderr"; then
		rm -rf "$tmp/data"
		attempt=$((attempt + 1))
		continue
	fi
	if [ "$rc" -eq 1 ]; then
		echo "interop: server exited with status $server_status before answering /healthz" >&2
	else
		echo "interop: server did not answer /healthz within ${start_timeout}s" >&2
	fi
	show_server_log
	exit 1
done

"$node" "$here/${PP_INTEROP_SCRIPT:-interop.mjs}" "http://127.0.0.1:$port" "$count"
status=$?

# Graceful shutdown is part of the contract: SIGTERM, then exit status 0.
if ! kill -TERM "$pid" 2>/dev/null; then
	wait "$pid"
	server_status=$?
	pid=
	echo "interop: server died during the test (exit status $server_status)" >&2
	status=1
	show_server_log
	exit "$status"
fi
deadline=$(($(date +%s) + stop_timeout))
while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -le "$deadline" ]; do
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	echo "interop: server still running ${stop_timeout}s after SIGTERM" >&2
	status=1
else
	wait "$pid"
	server_status=$?
	pid=
	if [ "$server_status" -ne 0 ]; then
		echo "interop: server exited with status $server_status after SIGTERM, want 0" >&2
		status=1
	fi
fi

if [ "$status" -ne 0 ]; then
	show_server_log
fi
# Then the VOPRF types 0x0005 and 0x0001 (voprf.mjs: @noble/curves and
# privacypass-ts clients) against a server that serves 2,5,1.
if [ "$status" -eq 0 ] && [ -z "${PP_INTEROP_SCRIPT:-}" ]; then
	PP_INTEROP_SCRIPT=voprf.mjs PP_INTEROP_TYPES=2,5,1 \
		PP_INTEROP_TOKENS=${PP_INTEROP_VOPRF_TOKENS:-20} sh "$0"
	status=$?
fi
# Then token type 0xDA7A: da7a.mjs starts its own server (2,0xDA7A) with the
# committed safe-prime key imported, so it never searches for primes.
if [ "$status" -eq 0 ] && [ -z "${PP_INTEROP_SCRIPT:-}" ]; then
	PP_BIN="$bin" "$node" "$here/da7a.mjs" "${PP_INTEROP_DA7A_TOKENS:-24}"
	status=$?
fi
# Then several issuers (issuers.mjs starts its own server with two issuers
# on two host names): tokens from each through its own directory, and
# nothing of one issuer accepted by the other.
if [ "$status" -eq 0 ] && [ -z "${PP_INTEROP_SCRIPT:-}" ]; then
	PP_BIN="$bin" "$node" "$here/issuers.mjs" "${PP_INTEROP_ISSUERS_TOKENS:-10}"
	status=$?
fi
# Then batches (batch.mjs): generic batches of type 2 (privacypass-ts) and
# amortized batches of types 5 and 1 (@noble/curves) on a server with 2,5,1.
if [ "$status" -eq 0 ] && [ -z "${PP_INTEROP_SCRIPT:-}" ]; then
	PP_INTEROP_SCRIPT=batch.mjs PP_INTEROP_TYPES=2,5,1 \
		PP_INTEROP_TOKENS=${PP_INTEROP_BATCH_TOKENS:-20} sh "$0"
	status=$?
fi
exit "$status"
