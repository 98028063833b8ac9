# Sourced by bench/run.sh and bench/ab.sh.
#
# reported_port LOG PID: waits up to 15 s for the process PID, which writes
# LOG, to log "listening on 127.0.0.1:PORT", and prints PORT. Returns 1 if
# the process exits first (a zombie counts as exited), 2 on the timeout.
reported_port() {
	rp_i=0
	while [ $rp_i -lt 1500 ]; do
		rp_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1")
		[ -n "$rp_port" ] && { echo "$rp_port"; return 0; }
		rp_st=$(awk '{ print $3 }' "/proc/$2/stat" 2>/dev/null) &&
			[ "$rp_st" != Z ] || return 1
		sleep 0.01
		rp_i=$((rp_i + 1))
	done
	return 2
}
