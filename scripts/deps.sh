#!/bin/sh
# Checks that the Debian packages the build and the tests need are present.
# As root it installs what is missing; otherwise it prints the command to run.
set -u
pkgs="build-essential pkg-config libssl-dev libmicrohttpd-dev libjansson-dev
libsodium-dev liblmdb-dev libhiredis-dev libgnutls28-dev libcriterion-dev libcurl4-openssl-dev
clang libclang-rt-14-dev curl openssl redis-server wrk cppcheck libp11-kit-dev softhsm2 opensc nginx"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		{ echo "deps: apt-get install failed" >&2; exit 1; }
	exit 0
fi
echo "Missing packages. Run:" >&2
echo "  sudo apt-get install -y$missing" >&2
exit 1
