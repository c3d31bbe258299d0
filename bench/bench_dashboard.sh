#!/bin/bash
# Dashboard frame rate under load: Debian's chromium (headless, through playwright-core from
# web/node_modules) shows the dashboard of a synthetic relay (tests/e2e/dashboard_relay.mjs, its
# synthetic-load step alone: the page's own files from BUILD/web, 16 nodes streaming flow events
# at a set rate over the real SSE API shape, a click on a row every 0.7 s). Measured in the page:
# frames per second (requestAnimationFrame intervals), events received per second, long tasks.
# Rates alternate round by round (interleaved); medians with min..max over the rounds.
# Usage: bash bench/bench_dashboard.sh BUILD_DIR   Environment: ROUNDS (3), SECS (10), RATES
# ("2000 10000"). Runs on loopback only (the synthetic relay listens on 127.0.0.1).
set -u
export LC_ALL=C
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
RATES=${RATES:-"2000 10000"}
TARGET_RATE=10000
TARGET_FPS=30

die() {
	echo "dashboard: $*"
	echo "dashboard: not measured"
	exit 1
}
build=$(cd "${1:-build}" 2>/dev/null && pwd) || die "no build directory ${1:-build}"
here=$(cd "$(dirname "$0")" && pwd)
[ -e "$build/web/index.html" ] || die "$build/web is missing (make all)"
command -v node >/dev/null || die "node is not installed (make bench-deps)"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || die "$chromium is missing (make bench-deps)"
tmp=$(mktemp -d /tmp/fsb-dashboard.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

declare -A fps sent recv p95 lt
for r in $(seq "$ROUNDS"); do
	for rate in $RATES; do
		exp='{"only": "synthetic relay: 16 nodes streaming", "web_dir": "'"$build/web"'",
		      "load": {"nodes": 16, "rate": '"$rate"', "seconds": '"$SECS"'}}'
		CHROMIUM="$chromium" timeout -k 5 $((SECS + 90)) node "$here/../tests/e2e/dashboard_relay.mjs" - \
			"$tmp/shot.png" "$exp" >"$tmp/out" 2>&1
		line=$(grep '^{"bench":"dashboard"' "$tmp/out" | tail -n 1)
		if [ -z "$line" ]; then
			echo "  round $r rate $rate: no measurement: $(grep -E 'FAIL|Error' "$tmp/out" | head -n 3 | tr '\n' ' ')"
			continue
		fi
		val() { echo "$line" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
		fps[$rate]+="$(val fps) "
		sent[$rate]+="$(val sent_per_s) "
		recv[$rate]+="$(val received_per_s) "
		p95[$rate]+="$(val frame_p95_ms) "
		lt[$rate]+="$(val long_task_pct) "
		echo "  round $r rate $rate: $(val fps) fps, sent $(val sent_per_s)/s, received $(val received_per_s)/s, frame p95 $(val frame_p95_ms) ms, long tasks $(val long_task_pct)%"
	done
done

med() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {if (!NR) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
spread() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 {a = $1} {b = $1} END {print a ".." b}'; }
echo
echo "Dashboard under load (16 synthetic nodes, $SECS s per run, medians of $ROUNDS interleaved rounds):"
printf '%-12s %12s %14s %12s %14s %14s %12s\n' "asked/s" "sent/s" "received/s" "fps" "fps spread" "frame p95 ms" "long tasks"
rc=0
for rate in $RATES; do
	if [ -z "${fps[$rate]:-}" ]; then
		printf '%-12s %12s\n' "$rate" FAILED
		rc=1
		continue
	fi
	printf '%-12s %12s %14s %12s %14s %14s %11s%%\n' "$rate" "$(med "${sent[$rate]}")" "$(med "${recv[$rate]}")" \
		"$(med "${fps[$rate]}")" "$(spread "${fps[$rate]}")" "$(med "${p95[$rate]}")" "$(med "${lt[$rate]}")"
	echo "{\"bench\":\"dashboard\",\"case\":\"rate_$rate\",\"fps\":$(med "${fps[$rate]}"),\"sent_per_s\":$(med "${sent[$rate]}"),\"received_per_s\":$(med "${recv[$rate]}"),\"frame_p95_ms\":$(med "${p95[$rate]}"),\"rounds\":$(echo "${fps[$rate]}" | wc -w)}"
done
if [ -n "${fps[$TARGET_RATE]:-}" ]; then
	f=$(med "${fps[$TARGET_RATE]}")
	s=$(med "${sent[$TARGET_RATE]}")
	res=$(awk -v f="$f" -v t="$TARGET_FPS" 'BEGIN {print (f >= t) ? "PASS" : "MISS"}')
	note=
	awk -v s="$s" -v r="$TARGET_RATE" 'BEGIN {exit !(s < 0.95 * r)}' &&
		note=" (the synthetic relay reached $s of the $TARGET_RATE events/s asked)"
	echo "target: $TARGET_FPS+ fps at $TARGET_RATE events/s: $res ($f fps)$note"
fi
exit $rc
