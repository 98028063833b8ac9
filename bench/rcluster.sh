# Sourced by bench/run.sh (it uses that script's helpers and variables, and
# runs after its LMDB and single-Redis redemption rows): the same tokens
# redeemed once each against a local six-node Redis Cluster (three masters,
# three replicas, all on this machine, AOF on with appendfsync everysec),
# with redis-min-replicas 0 (a 200 once the master has the record) and 1 (a
# 200 only once WAIT saw it on a replica), each with a fresh key prefix.
# The nodes get free ports from 12000 up, so that their cluster bus ports
# (port + 10000) stay below the kernel's ephemeral range (32768 up), where an
# outgoing connection could take one between the check and the bind; they
# are stopped at the end (and on exit).

rc_pids=
rc_ports=
rc_dir=$work/rcluster

rc_stop() {
	for p in $rc_pids; do
		stop_child "$p" TERM
	done
	rc_pids=
}
trap 'rc_stop; cleanup' EXIT

# a port whose bus port (+ 10000) is free too, not taken by a node yet
rc_free_port() {
	p=$1
	while [ "$p" -le 45535 ]; do
		p=$((p + 1))
		case " $rc_ports " in *" $p "*) continue ;; esac
		[ -z "$(redis-cli -p $p ping 2>/dev/null)" ] || continue
		[ -z "$(redis-cli -p $((p + 10000)) ping 2>/dev/null)" ] || continue
		if command -v ss >/dev/null 2>&1 &&
			ss -Htan 2>/dev/null | grep -qE ":($p|$((p + 10000)))[[:space:]]"; then
			continue
		fi
		echo $p
		return 0
	done
	return 1
}

say "## Redemption on a Redis Cluster (redis-cli --cluster create, 3 masters + 3 replicas)"
mkdir -p "$rc_dir"
rc_port=$((12000 + $$ % 10000))
n=0
while [ $n -lt 6 ]; do
	rc_port=$(rc_free_port $rc_port) || fail "no free port pair for a cluster node"
	mkdir -p "$rc_dir/$rc_port"
	redis-server --port $rc_port --bind 127.0.0.1 --dir "$rc_dir/$rc_port" \
		--cluster-enabled yes --cluster-config-file nodes.conf \
		--cluster-node-timeout 1000 --appendonly yes --appendfsync everysec \
		--save '' --repl-diskless-sync-delay 0 --daemonize no \
		--logfile "$rc_dir/$rc_port/redis.log" >/dev/null 2>&1 &
	rc_pids="$rc_pids $!"
	rc_ports="$rc_ports $rc_port"
	n=$((n + 1))
done
for p in $rc_ports; do
	i=0
	while [ $i -lt 100 ] && [ "$(redis-cli -p $p ping 2>/dev/null)" != PONG ]; do
		sleep 0.05
		i=$((i + 1))
	done
done
rc_nodes=
for p in $rc_ports; do
	rc_nodes="$rc_nodes 127.0.0.1:$p"
done
# shellcheck disable=SC2086
redis-cli --cluster create $rc_nodes --cluster-replicas 1 --cluster-yes \
	>"$rc_dir/create.log" 2>&1 || fail "redis-cli --cluster create: $(tail -3 "$rc_dir/create.log")"
# every node ok, every replica's link up
i=0
while [ $i -lt 400 ]; do
	ok=1
	for p in $rc_ports; do
		redis-cli -p $p cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
		if redis-cli -p $p info replication 2>/dev/null | grep -q 'role:slave' &&
			! redis-cli -p $p info replication 2>/dev/null | grep -q 'master_link_status:up'; then
			ok=0
		fi
	done
	[ $ok = 1 ] && break
	sleep 0.05
	i=$((i + 1))
done
[ $ok = 1 ] || fail "the cluster did not become ok"
rc_seeds=$(echo $rc_ports | awk '{ printf "127.0.0.1:%s,127.0.0.1:%s", $1, $2 }')

start_server --spent-backend redis --redis-cluster "$rc_seeds" --redis-min-replicas 0 \
	--redis-prefix pb0:
rc0=$(redeem_run rcluster-0)
stop_server
row "Cluster redemptions/s, redis-min-replicas 0" "$(kv "$rc0" rate)" "(a 200 once the master has it)"
row "  latency" "$(lat "$rc0")"
cpu_say "$rc0" nowarn

start_server --spent-backend redis --redis-cluster "$rc_seeds" --redis-min-replicas 1 \
	--redis-prefix pb1:
rc1=$(redeem_run rcluster-1)
waits=$(metric 'ppissuer_spent_redis_waits_total{result="ok"}')
stop_server
row "Cluster redemptions/s, redis-min-replicas 1" "$(kv "$rc1" rate)" "(a 200 once WAIT saw a replica; $waits WAITs)"
row "  latency" "$(lat "$rc1")"
cpu_say "$rc1" nowarn
rc_stop
say ""
