#!/bin/bash
# Runs every test program in BUILD/tests (Check suites and BPF tests) and every end-to-end test
# in tests/e2e, then prints one line counting the individual tests of all of them.
# Exits non-zero when any test program fails.
set -u
build=${1:-build}
checks=0
fails=0
bad_programs=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
	local name=$1 rc p f
	shift
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# Check prints "NN%: Checks: T, Failures: F, Errors: E"; our scripts "P passed, F failed".
	read -r p f < <(awk '
		/Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
			gsub(/,/, ""); for (i = 1; i <= NF; i++) {
				if ($i == "Checks:") t = $(i + 1); if ($i == "Failures:") x = $(i + 1)
				if ($i == "Errors:") e = $(i + 1) }
			P += t - x - e; F += x + e; seen = 1 }
		/^[A-Za-z0-9_-]*:? *[0-9]+ passed, [0-9]+ failed/ {
			for (i = 1; i <= NF; i++) { if ($(i + 1) ~ /^passed/) pp = $i; if ($(i + 1) ~ /^failed/) ff = $i }
			P += pp; F += ff; seen = 1 }
		END { if (!seen) { P = 0; F = 0 } print P + 0, F + 0 }' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or failed before counting
	fi
	checks=$((checks + p))
	fails=$((fails + f))
	if [ "$rc" -ne 0 ]; then
		bad_programs+=("$name")
	fi
}

for t in $(find "$build/tests" -type f -name "test_*" | sort); do
	[ -x "$t" ] || continue
	run "$(basename "$t")" "$t"
done
for t in tests/e2e/*.sh; do
	[ -f "$t" ] || continue
	run "$(basename "$t")" bash "$t" "$build"
done
# Self-contained end-to-end tests in Python (against real rsyslog, nfcapd/nfdump).
for t in tests/e2e/e2e_*.py; do
	[ -f "$t" ] || continue
	run "$(basename "$t")" python3 "$t" "$build"
done

echo
if [ "${#bad_programs[@]}" -gt 0 ]; then
	echo "failing test programs: ${bad_programs[*]}"
fi
echo "all: $checks passed, $fails failed"
[ "${#bad_programs[@]}" -eq 0 ] && [ "$fails" -eq 0 ]
