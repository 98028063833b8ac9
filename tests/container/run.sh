#!/bin/sh
# Container test: build the image from the Dockerfile with podman, run it the
# way an operator would, and check what the image promises:
#   - /healthz answers and the image's HEALTHCHECK passes;
#   - the directory is served and a token is issued to an authenticated
#     attester and verifies (tests/container/token.mjs, privacypass-ts);
#   - the server runs as a non-root user, as PID 1 (exec form), with a
#     read-only root file system and no capabilities;
#   - SIGTERM stops it with exit status 0; `clients add` and
#     `keys rotate --if-due` run in the image;
#   - as in deploy/compose.yaml, two replicas on the same key volume, with the
#     spent-token store in a password-protected Redis, publish the key made
#     before and issue tokens.
#
#   sh tests/container/run.sh        (make container-test; needs root)
#
# No registry is reachable, so the base images debian:bookworm and
# debian:bookworm-slim are made locally with debootstrap from the Debian
# mirror the host's apt uses (PP_DEBIAN_MIRROR overrides it).  Podman's
# storage, the base images and the build layers are kept under
# PP_CONTAINER_CACHE (default /var/cache/ppissuer-container-test) so later
# runs, from any clone, are fast; delete it to start over with a fresh Debian
# base.  It is not under build/: the Makefile scans build/ for *.d files, and
# a Debian root file system has many *.d directories.
#
# The server's container gets a network namespace of its own with only a
# loopback interface: it listens on 0.0.0.0:8080 there, reachable from this
# script through `ip netns exec` and from nowhere else.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${PP_CONTAINER_CACHE:-/var/cache/ppissuer-container-test}
image=localhost/ppissuer:test
name=ppissuer-ctest-$$
volume=$name-data
netns=$name
port=8080
start_timeout=60 # seconds until /healthz must answer
stop_timeout=30  # seconds the server gets to exit after SIGTERM
t0=$(date +%s)

log() { echo "container-test: [$(($(date +%s) - t0))s] $*"; }
die() {
	echo "container-test: $*" >&2
	exit 1
}

if [ "$(id -u)" != 0 ]; then
	die "needs root (debootstrap, podman with runc, network namespaces); run: sudo make container-test"
fi

# ---- tools -------------------------------------------------------------------
missing=""
for p in podman runc debootstrap debian-archive-keyring iproute2 curl redis-server; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	log "installing:$missing"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$missing >/dev/null || die "apt-get install failed"
fi
make -s -C "$root" interop-deps >/dev/null || die "npm ci in tests/interop failed"

# ---- podman configuration ----------------------------------------------------
# A private configuration and storage: runc (crun fails on these machines),
# cgroupfs (no systemd), host networking for the build's apt-get, and explicit
# ulimits no higher than this shell's hard limits (podman's defaults are
# higher and runc cannot raise them).
mkdir -p "$cache/conf" "$cache/storage" || die "cannot create $cache"
runroot=/run/ppissuer-container-test
hard_nofile=$(awk '/^Max open files/ { print $5 }' /proc/self/limits)
hard_nproc=$(awk '/^Max processes/ { print $4 }' /proc/self/limits)
nofile=65536
nproc=4096
[ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt "$nofile" ] && nofile=$hard_nofile
[ "$hard_nproc" != unlimited ] && [ "$hard_nproc" -lt "$nproc" ] && nproc=$hard_nproc
cat >"$cache/conf/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$runroot/libpod"
EOF
cat >"$cache/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$runroot/storage"
EOF
# Short names resolve to local images only; nothing is looked up remotely.
cat >"$cache/conf/registries.conf" <<EOF
unqualified-search-registries = []
short-name-mode = "permissive"
EOF
export CONTAINERS_CONF="$cache/conf/containers.conf"
export CONTAINERS_STORAGE_CONF="$cache/conf/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$cache/conf/registries.conf"

# ---- checks and cleanup ------------------------------------------------------
passed=0
failed=0
check() { # check WHAT CONDITION-STATUS [DETAIL]
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1${3:+: $3}"
	fi
}

netns_made=0
redis_pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	podman rm -f -t 0 "$name" "$name-1" "$name-2" >/dev/null 2>&1
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	podman volume rm -f "$volume" >/dev/null 2>&1
	[ "$netns_made" = 1 ] && ip netns del "$netns" 2>/dev/null
	rm -f "$cache/out.$$" "$cache/err.$$" "$cache/redis.$$"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
	log "$passed passed, $failed failed (total $(($(date +%s) - t0))s)"
	echo "container-test: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}

show_logs() { # show_logs CONTAINER
	echo "--- $1 log (last 40 lines) ---" >&2
	podman logs --tail 40 "$1" >&2 2>&1
	echo "--- end of log ---" >&2
}

# ---- base images -------------------------------------------------------------
# The Debian mirror that the host's apt sources use for bookworm.
host_mirror() {
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null
		echo
	} | awk 'BEGIN { RS = "" }
		/(^|\n)Suites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ && !/(^|\n)Enabled: *no/ {
			if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) {
				s = substr($0, RSTART, RLENGTH); sub(/^\n?URIs:[ \t]*/, "", s)
				print s; exit
			}
		}'
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++
			if ($2 ~ /^\[/) i++
			if ($(i + 1) == "bookworm") { print $i; exit } }'
}

# Makes the two base images from one debootstrap (minbase) root file system:
# debian:bookworm as it is, debian:bookworm-slim without documentation,
# manual pages and translations (as the official slim image).
make_base_images() {
	base=$cache/base
	if [ ! -s "$base/bookworm.tar" ] || [ ! -s "$base/bookworm-slim.tar" ]; then
		mirror=${PP_DEBIAN_MIRROR:-$(host_mirror | head -n 1)}
		# A host of another release: any Debian archive it uses has bookworm.
		[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
			grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ')
		case $mirror in
		http://* | https://*) ;;
		*) die "no Debian bookworm mirror in /etc/apt sources; set PP_DEBIAN_MIRROR" ;;
		esac
		log "debootstrap bookworm (minbase) from the host's Debian mirror"
		rm -rf "$base"
		mkdir -p "$base" || die "cannot create $base"
		if ! debootstrap --variant=minbase bookworm "$base/rootfs" "$mirror" \
			>"$base/debootstrap.log" 2>&1; then
			tail -n 20 "$base/debootstrap.log" >&2
			die "debootstrap failed (log: $base/debootstrap.log)"
		fi
		r=$base/rootfs
		rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin \
			"$r"/var/lib/apt/lists/* "$r"/var/log/* "$r"/tmp/* "$r"/root/.bash_history
		tar -C "$r" --numeric-owner -cf "$base/bookworm.tar.tmp" . || die "tar failed"
		mv "$base/bookworm.tar.tmp" "$base/bookworm.tar" || die "mv failed"
		cat >"$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<-'EOF'
			path-exclude /usr/share/doc/*
			path-include /usr/share/doc/*/copyright
			path-exclude /usr/share/info/*
			path-exclude /usr/share/locale/*
			path-exclude /usr/share/man/*
			path-exclude /usr/share/groff/*
			path-exclude /usr/share/lintian/*
		EOF
		find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
		find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
		rm -rf "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/man/* \
			"$r"/usr/share/groff/* "$r"/usr/share/lintian/*
		tar -C "$r" --numeric-owner -cf "$base/bookworm-slim.tar.tmp" . || die "tar failed"
		mv "$base/bookworm-slim.tar.tmp" "$base/bookworm-slim.tar" || die "mv failed"
		rm -rf "$r"
		# Images made from older tarballs are replaced below.
		podman rmi -f localhost/debian:bookworm localhost/debian:bookworm-slim >/dev/null 2>&1
	fi
	for tag in bookworm bookworm-slim; do
		podman image exists "localhost/debian:$tag" && continue
		log "importing debian:$tag"
		podman import --quiet \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'CMD ["bash"]' \
			"$base/$tag.tar" "localhost/debian:$tag" >/dev/null || die "podman import failed"
	done
}

make_base_images
log "base images ready"

# ---- build -------------------------------------------------------------------
# Docker image format: the OCI format has no HEALTHCHECK.  The build stage
# gets a tag of its own so that pruning the untagged images of earlier builds
# keeps its layers as the cache of the next build.
log "building the image"
: >"$cache/build.log"
for target in build final; do
	if [ "$target" = build ]; then
		set -- --target build -t localhost/ppissuer-build:test
	else
		set -- -t "$image"
	fi
	if ! podman build --pull=never --format docker --network host --layers "$@" \
		-f "$root/Dockerfile" "$root" >>"$cache/build.log" 2>&1; then
		grep -v '^cc ' "$cache/build.log" | tail -n 40 >&2
		die "podman build failed (log: $cache/build.log)"
	fi
done
podman image prune -f >/dev/null 2>&1
size=$(podman image inspect -f '{{.Size}}' "$image")
log "image built: $image, $((size / 1000000)) MB"

cfg=$(podman image inspect -f 'user={{.Config.User}} entry={{json .Config.Entrypoint}} ports={{json .Config.ExposedPorts}} health={{json .HealthCheck}}' "$image")
case $cfg in
*"user=10001:10001 "*) check "image runs as user 10001:10001" 0 ;;
*) check "image runs as user 10001:10001" 1 "$cfg" ;;
esac
case $cfg in
*'entry=["/usr/local/bin/ppissuer"]'*) check "exec-form entrypoint" 0 ;;
*) check "exec-form entrypoint" 1 "$cfg" ;;
esac
case $cfg in
*'"8080/tcp"'*) check "image exposes 8080/tcp" 0 ;;
*) check "image exposes 8080/tcp" 1 "$cfg" ;;
esac
case $cfg in
*'health={"Test":["CMD","/usr/local/bin/ppissuer-healthcheck"]'*) check "image has a HEALTHCHECK" 0 ;;
*) check "image has a HEALTHCHECK" 1 "$cfg" ;;
esac

# ---- run ---------------------------------------------------------------------
ip netns add "$netns" || die "cannot create network namespace $netns"
netns_made=1
ip -n "$netns" link set lo up || die "cannot bring up lo in $netns"
podman volume create "$volume" >/dev/null || die "podman volume create failed"

in_ns() { ip netns exec "$netns" "$@"; }
# The hardening an operator should use (and deploy/compose.yaml does): a
# read-only root, no capabilities, no privilege gain.
# The HEALTHCHECK is run by hand below: podman's timer for it needs systemd.
run_opts="--health-interval disable --network ns:/run/netns/$netns -v $volume:/var/lib/ppissuer --read-only --cap-drop ALL --security-opt no-new-privileges"

# An attester's secret, made with the CLI in the image on the data volume.
# shellcheck disable=SC2086 # run_opts is a list of options
podman run --rm $run_opts "$image" clients add ctest --role attester \
	--data-dir /var/lib/ppissuer >"$cache/out.$$" 2>"$cache/err.$$"
st=$?
check "clients add in the image" "$st" "$(tail -n 5 "$cache/err.$$" "$cache/out.$$")"
secret=
[ "$st" -eq 0 ] && secret=$(awk 'NF { last = $NF } END { print last }' "$cache/out.$$")

# The first key, made before any server starts (as compose's keys-init does).
# shellcheck disable=SC2086 # run_opts is a list of options
podman run --rm $run_opts "$image" keys rotate --if-due --data-dir /var/lib/ppissuer \
	>"$cache/out.$$" 2>"$cache/err.$$"
check "keys rotate --if-due in the image" $? "$(tail -n 5 "$cache/err.$$" "$cache/out.$$")"

# start_server CONTAINER PORT [PODMAN-OPTION...]: runs the image's default
# command; waits for /healthz on PORT.
start_server() {
	sname=$1
	sport=$2
	shift 2
	# shellcheck disable=SC2086 # run_opts is a list of options
	if ! podman run -d --name "$sname" $run_opts "$@" "$image" >/dev/null 2>"$cache/err.$$"; then
		cat "$cache/err.$$" >&2
		return 1
	fi
	deadline=$(($(date +%s) + start_timeout))
	while [ "$(date +%s)" -le "$deadline" ]; do
		if in_ns curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$sport/healthz" 2>/dev/null; then
			return 0
		fi
		[ "$(podman inspect -f '{{.State.Running}}' "$sname" 2>/dev/null)" = true ] || return 1
		sleep 0.5
	done
	return 1
}

directory() { # directory PORT
	in_ns curl -fsS --max-time 5 "http://127.0.0.1:$1/.well-known/private-token-issuer-directory"
}

# The token-key values of a directory, one a line, sorted.
directory_keys() {
	printf '%s' "$1" | tr ',{}' '[\n*]' | sed -n 's/^ *"token-key" *: *"\([^"]*\)".*/\1/p' | sort
}

# stop_server CONTAINER: SIGTERM, then the exit status must be 0.
stop_server() {
	podman kill --signal TERM "$1" >/dev/null 2>&1
	code=$(timeout "$stop_timeout" podman wait "$1" 2>/dev/null)
	if [ "$code" = 0 ]; then
		check "SIGTERM stops $1 with exit status 0" 0
	else
		check "SIGTERM stops $1 with exit status 0" 1 "exit status '${code:-still running after ${stop_timeout}s}'"
		show_logs "$1"
	fi
}

log "starting the server"
if ! start_server "$name" "$port"; then
	check "/healthz answers within ${start_timeout}s" 1 "state: $(podman inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$name" 2>&1)"
	show_logs "$name"
	finish
fi
check "/healthz answers within ${start_timeout}s" 0
podman logs "$name" 2>&1 | grep -q "listening on 0.0.0.0:$port"
check "server logs 'listening on 0.0.0.0:$port'" $? "$(podman logs --tail 5 "$name" 2>&1)"

podman healthcheck run "$name" >"$cache/out.$$" 2>&1
check "image HEALTHCHECK passes" $? "$(cat "$cache/out.$$")"

dir1=$(directory "$port")
case $dir1 in
*'"token-keys"'*) check "directory served" 0 ;;
*) check "directory served" 1 "$dir1" ;;
esac

log "issuing a token through the container"
PP_BEARER=$secret in_ns node "$here/token.mjs" "http://127.0.0.1:$port"
check "token issued and verified (token.mjs)" $?

# The server is PID 1 of the container and runs as a non-root user.
pid=$(podman inspect -f '{{.State.Pid}}' "$name")
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "/proc/$pid/status" ]; then
	comm=$(cat "/proc/$pid/comm")
	uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
	nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$pid/status")
	[ "$comm" = ppissuer ]
	check "container PID 1 is ppissuer (exec form)" $? "comm '$comm'"
	[ "$uids" = "10001 10001 10001 10001" ] && [ "$gids" = "10001 10001 10001 10001" ]
	check "server runs as uid/gid 10001, not root" $? "uid $uids, gid $gids"
	[ "$capeff" = 0000000000000000 ] && [ "$nnp" = 1 ]
	check "server has no capabilities and no-new-privileges" $? "CapEff $capeff, NoNewPrivs $nnp"
else
	check "server process visible" 1 "pid '$pid'"
fi

log "stopping the server with SIGTERM"
stop_server "$name"

# ---- replicas ----------------------------------------------------------------
# As in deploy/compose.yaml: two replicas on the same key volume, the spent
# tokens in one Redis that wants a password.
log "two replicas with a shared key volume and Redis"
redis_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
in_ns redis-server --bind 127.0.0.1 --port 6379 --requirepass "$redis_pw" \
	--save '' --appendonly yes --dir "$(mktemp -d)" >"$cache/redis.$$" 2>&1 &
redis_pid=$!
i=0
until in_ns redis-cli --no-auth-warning -a "$redis_pw" ping 2>/dev/null | grep -q PONG; do
	i=$((i + 1))
	[ "$i" -le 50 ] || die "redis-server did not start: $(tail -n 5 "$cache/redis.$$")"
	sleep 0.1
done
keys0=$(directory_keys "$dir1")
for r in 1 2; do
	rport=$((port + r))
	if ! start_server "$name-$r" "$rport" -e "PPISSUER_LISTEN=0.0.0.0:$rport" \
		-e PPISSUER_SPENT_BACKEND=redis -e PPISSUER_REDIS_HOST=127.0.0.1 \
		-e PPISSUER_REDIS_PORT=6379 -e "PPISSUER_REDIS_PASSWORD=$redis_pw"; then
		check "replica $r starts with the Redis spent store" 1
		show_logs "$name-$r"
		continue
	fi
	check "replica $r starts with the Redis spent store" 0
	keys=$(directory_keys "$(directory "$rport")")
	[ -n "$keys" ] && [ "$keys" = "$keys0" ]
	check "replica $r publishes the key made before (shared volume)" $? \
		"before: [$keys0], replica: [$keys]"
	PP_BEARER=$secret in_ns node "$here/token.mjs" "http://127.0.0.1:$rport" >"$cache/out.$$" 2>&1
	check "token issued by replica $r" $? "$(cat "$cache/out.$$")"
done
for r in 1 2; do
	[ "$(podman inspect -f '{{.State.Running}}' "$name-$r" 2>/dev/null)" = true ] &&
		stop_server "$name-$r"
done

finish
