#!/bin/bash
# Soak: flowd at a steady rate for SOAK_SECONDS (default 3600), watching lo in a namespace of
# its own: SOAK_RATE new UDP flows a second (default 500) with a follower reading them all and
# a replay asked every 10 s. Resident memory and descriptors are sampled every 10 s; the store
# and event log fill early (--max-flows/--max-events 16384) and so does the history (2M: at
# this rate it reaches its size in minutes, then drops a 256K segment for each one it starts;
# each segment holds a descriptor), so after the first minutes nothing should grow. Prints the
# samples, then the first and the last tenth's means and the verdict: flat when the last
# tenth's memory is within 5% (and 4 MiB) of the tenth after warm-up and its descriptors never
# more than that tenth's most (the history's segments come and go one at a time).
# Usage: bench/bench_soak.sh BUILD_DIR (as root). Not part of `make bench` (an hour): run it.
set -u
build=$(cd "${1:-build}" && pwd)
secs=${SOAK_SECONDS:-3600}
rate=${SOAK_RATE:-500}
[ "$(id -u)" = 0 ] || { echo "soak: needs root"; exit 1; }
ns="fss$$"
tmp=$(mktemp -d)
export FLOWSCOPE_RUNTIME_DIR="$tmp/run"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$build/flowd" -i lo --history-dir "$tmp/history" --history-max-size 2M \
	--max-flows 16384 --max-events 16384 >"$tmp/flowd.out" 2>&1 &
flowd=$!
pids+=("$flowd")
for _ in $(seq 100); do grep -q "watching 1 interface" "$tmp/flowd.out" && break; sleep 0.1; done
ip netns exec "$ns" "$build/flowctl" observe --follow -o compact >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$ns" python3 -c '
import socket, sys, time
rate, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 7000))
i, t0 = 0, time.time()
while time.time() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.2", 1024 + i % 60000))
    s.sendto(b"x" * 40, ("127.0.0.1", 7000)); r.recv(100); s.close()
    i += 1
    ahead = i / rate - (time.time() - t0)
    if ahead > 0:
        time.sleep(ahead)' "$rate" "$secs" &
pids+=($!)
echo "soak: $secs s at $rate new flows/s; t(s) rss(KiB) fds"
samples="$tmp/samples"
for ((t = 0; t < secs; t += 10)); do
	sleep 10
	kill -0 "$flowd" 2>/dev/null || { echo "soak: flowd died"; exit 1; }
	ip netns exec "$ns" "$build/flowctl" observe --last 1000 -o json >/dev/null 2>&1
	r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$flowd/status")
	f=$(ls "/proc/$flowd/fd" | wc -l)
	echo "$((t + 10)) $r $f" | tee -a "$samples"
done
python3 - "$samples" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
n = len(rows)
if n < 10:
    print("soak: too short to judge (%d samples)" % n); sys.exit(0)
tenth = max(1, n // 10)
early = rows[tenth:2 * tenth]   # after the warm-up tenth
late = rows[-tenth:]
m = lambda xs, i: sum(x[i] for x in xs) / len(xs)
r0, r1, f0, f1 = m(early, 1), m(late, 1), m(early, 2), m(late, 2)
flat = r1 - r0 <= max(0.05 * r0, 4096) and max(x[2] for x in late) <= max(x[2] for x in early)
print("soak: RSS %.1f -> %.1f MiB (%+.1f%%), descriptors %.1f -> %.1f: %s"
      % (r0 / 1024, r1 / 1024, 100 * (r1 - r0) / r0, f0, f1, "flat" if flat else "GROWING"))
sys.exit(0 if flat else 1)
PY
