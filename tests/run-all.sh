#!/bin/bash
# Runs every test program in BUILD/tests (Check suites and BPF tests) and every end-to-end test
# in tests/e2e, then prints one line counting the individual tests of all of them.
# With SAN_BUILD (make san's directory): also every test program there and e2e_flows.sh with its
# flowd and flowctl, under ASan + UBSan; any report fails the program that made it. With
# FUZZ_BUILD (make fuzzers'): each fuzz target for FUZZ_SECONDS (fuzz/run.sh).
# Exits non-zero when any test program fails.
set -u
build=${1:-build}
san_build=${SAN_BUILD:-}
fuzz_build=${FUZZ_BUILD:-}
checks=0
fails=0
bad_programs=()
log=$(mktemp)
san_dir=
trap 'rm -rf "$log" $san_dir' EXIT

times=()
run() {
	local name=$1 rc p f t0=$SECONDS
	shift
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	times+=("$((SECONDS - t0)) $name")
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

# Sanitized runs: every process writes its reports to a file of the program's own directory
# (reports of background processes such as flowd or flowctl followers count too); leaks count.
san_opts() { # san_opts DIR: exports the options that send reports to DIR
	mkdir -p "$1"
	export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:log_path=$1/asan"
	export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$1/ubsan"
}
san_reports() { # san_reports DIR NAME: a report in DIR is a failure of NAME
	local r
	for r in "$1"/*; do
		[ -e "$r" ] || continue
		echo "--- sanitizer report $r"
		cat "$r"
		echo "$2: 0 passed, 1 failed (sanitizer report)"
		fails=$((fails + 1))
		bad_programs+=("$2")
	done
}
# A sanitized program run aside: its output and status kept for replay() (the Check suites
# mostly wait on timers, so SAN_JOBS (3) of them run at once; their output is told in order).
# Sanitized code is slower: Check's timeouts are longer, and a suite gets 10 minutes in all.
san_aside() { # san_aside NAME PROGRAM...
	local name=$1
	shift
	(
		san_opts "$san_dir/$name"
		export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3}
		timeout -k 10 600 "$@" >"$san_dir/$name.log" 2>&1
		echo $? >"$san_dir/$name.rc"
	)
}
replay() { # replay NAME: what san_aside kept, as if it ran now
	cat "$san_dir/$1.log"
	return "$(cat "$san_dir/$1.rc")"
}
if [ -n "$san_build" ]; then
	san_t0=$SECONDS
	san_dir=$(mktemp -d)
	names=()
	# The BPF suites attach probes: one after the other, beside the others.
	(
		for t in $(find "$san_build/tests/bpf" -type f -name "test_*" 2>/dev/null | sort); do
			san_aside "san-$(basename "$t")" "$t"
		done
	) &
	for t in $(find "$san_build/tests" -type f -name "test_*" | sort); do
		[ -x "$t" ] && names+=("san-$(basename "$t")")
	done
	# The longest suites (serve/, history/, exporters/, enrich/) first: reverse order packs best.
	for t in $(find "$san_build/tests" -type f -name "test_*" | sort -r); do
		[ -x "$t" ] || continue
		name="san-$(basename "$t")"
		[[ $t == */tests/bpf/* ]] && continue
		while [ "$(jobs -rp | wc -l)" -gt "${SAN_JOBS:-3}" ]; do
			wait -n
		done
		san_aside "$name" "$t" &
	done
	wait
	times+=("$((SECONDS - san_t0)) the sanitized suites, side by side")
	for name in "${names[@]}"; do
		run "$name" replay "$name"
		san_reports "$san_dir/$name" "$name"
	done
	san_opts "$san_dir/e2e_flows"
	run "san-e2e_flows.sh" bash tests/e2e/e2e_flows.sh "$san_build"
	san_reports "$san_dir/e2e_flows" "san-e2e_flows.sh"
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi
if [ -n "$fuzz_build" ]; then
	run "fuzz" fuzz/run.sh "$fuzz_build" "${FUZZ_SECONDS:-5}"
fi

echo
echo "the longest test programs (seconds):"
printf '%s\n' "${times[@]}" | sort -rn | head -12 | sed 's/^/  /'
echo "all test programs: $SECONDS s"
if [ "${#bad_programs[@]}" -gt 0 ]; then
	echo "failing test programs: ${bad_programs[*]}"
fi
echo "all: $checks passed, $fails failed"
[ "${#bad_programs[@]}" -eq 0 ] && [ "$fails" -eq 0 ]
