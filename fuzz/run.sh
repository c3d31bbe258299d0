#!/bin/bash
# Runs every fuzz target in BUILD/fuzz for SECONDS each, from its seed corpus (fuzz/corpus/NAME,
# only read: what the run finds goes to a scratch directory), and prints per target the
# executions done, then "fuzz: N passed, N failed". A crash, leak, sanitizer report or timeout
# is a failure: its log is printed and the input that caused it kept in BUILD/fuzz/findings.
# FUZZ_RUNS=N stops a target after N executions if that comes first.
# Usage: fuzz/run.sh BUILD SECONDS [TARGET...]
set -u
build=${1:?usage: fuzz/run.sh BUILD SECONDS [TARGET...]}
seconds=${2:-60}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
findings=$build/fuzz/findings
mkdir -p "$findings"
# On a tmpfs where there is one: targets write files per input (identity files, peer lists,
# history blocks), and a disk's truncate-and-flush on close would take most of their time.
scratch=$(mktemp -d -p "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")")
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
	for t in "$build"/fuzz/fuzz_*; do
		[ -x "$t" ] && targets+=("$(basename "$t")")
	done
fi
# One target, into $scratch/NAME/: its log and its status.
one() {
	local name=$1 work=$scratch/$1
	mkdir -p "$work/corpus" "$work/tmp"
	# The target's own files (identity files, history directories) go under its TMPDIR.
	TMPDIR=$work/tmp "$build/fuzz/$name" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/$name-" \
		${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
		"$work/corpus" "$here/corpus/$name" >"$work/log" 2>&1
	echo $? >"$work/rc"
}
# FUZZ_JOBS targets at a time (default: one per core).
for name in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-$(nproc)}" ]; do
		wait -n
	done
	one "$name" &
done
wait
for name in "${targets[@]}"; do
	work=$scratch/$name
	rc=$(cat "$work/rc")
	execs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$work/log")
	took=$(awk '/^Done [0-9]+ runs in/ { print $5 }' "$work/log")
	if [ "$rc" -eq 0 ]; then
		echo "ok - $name: ${execs:-?} executions in ${took:-$seconds} s ($(ls "$work/corpus" | wc -l) new inputs)"
		passed=$((passed + 1))
	else
		echo "FAIL - $name (rc $rc) after ${execs:-?} executions; inputs kept in $findings:"
		grep -v '^#[0-9]\|^INFO:\|^MS:\|^base64:' "$work/log" | tail -60
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
