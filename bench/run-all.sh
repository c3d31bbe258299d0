#!/bin/bash
# Runs every benchmark in BUILD/bench, one after the other (not the hour-long soak). Results are printed as tables with
# ratios against a baseline measured in the same run, plus one JSON line per result; the JSON
# lines are also collected in BUILD/bench/results.jsonl to compare runs over time.
set -u
build=${1:-build}
out="$build/bench/results.jsonl"
: >"$out"
rc=0
for b in "$build"/bench/bench_* bench/bench_*.sh; do
	[ -x "$b" ] || [ "${b%.sh}" != "$b" ] || continue
	[ -e "$b" ] || continue
	[ "$(basename "$b")" = bench_soak.sh ] && continue # an hour: run on its own (README)
	echo "=== $(basename "$b")"
	if [ "${b%.sh}" != "$b" ]; then
		bash "$b" "$build" | tee >(grep '^{' >>"$out")
	else
		"$b" | tee >(grep '^{' >>"$out")
	fi
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	echo
done
echo "JSON results: $out"
exit $rc
