#!/bin/sh
# Runs every libFuzzer target in a directory for a fixed time each.
#   sh scripts/fuzz.sh <fuzz-bin-dir> <seconds>
# Each target starts from a scratch copy of tests/fuzz/corpus/<target>/ so
# the committed seed corpus never grows. Prints one line per target with its
# exec count; exits 1 if any target crashes, leaks, times out or is missing
# its stats. Crash inputs are kept under <fuzz-bin-dir>/crashes/<target>/.
set -u

if [ $# -ne 2 ]; then
	echo "usage: sh scripts/fuzz.sh <fuzz-bin-dir> <seconds>" >&2
	exit 2
fi
bin_dir=$1
secs=$2
case $secs in
'' | *[!0-9]*) echo "fuzz: seconds must be a whole number: $secs" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
seeds=$root/tests/fuzz/corpus

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ppfuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM

found=0
failed=0
for bin in "$bin_dir"/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	name=$(basename "$bin")
	found=$((found + 1))
	work=$scratch/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "$seeds/$name" ]; then
		cp "$seeds/$name"/* "$work/corpus/" 2>/dev/null
	else
		echo "fuzz: note: no seed corpus for $name" >&2
	fi

	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" >"$work/log" 2>&1
	rc=$?
	# libFuzzer names the count number_of_executed_runs in some releases
	# and number_of_executed_units in others (LLVM 14): take either
	runs=$(sed -n \
		-e 's/^stat::number_of_executed_runs:[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
		-e 's/^stat::number_of_executed_units:[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
		"$work/log" | tail -n 1)

	if [ $rc -ne 0 ] || [ -z "$runs" ]; then
		failed=$((failed + 1))
		printf '%-24s FAIL (exit %s)\n' "$name" "$rc"
		tail -n 40 "$work/log" | sed 's/^/    /'
		if [ -n "$(ls "$work/artifacts" 2>/dev/null)" ]; then
			mkdir -p "$bin_dir/crashes/$name"
			cp "$work/artifacts"/* "$bin_dir/crashes/$name/"
			echo "    inputs kept in $bin_dir/crashes/$name/"
		fi
	else
		printf '%-24s ok   %s execs in %ss\n' "$name" "$runs" "$secs"
	fi
done

if [ $found -eq 0 ]; then
	echo "fuzz: no fuzz_* targets in $bin_dir" >&2
	exit 1
fi
if [ $failed -ne 0 ]; then
	echo "fuzz: $failed of $found targets failed" >&2
	exit 1
fi
echo "fuzz: all $found targets ran ${secs}s without a crash"
