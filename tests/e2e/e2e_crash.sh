#!/bin/bash
# kill -9 under heavy traffic, then a clean start and stop: flowd in a namespace watches a veth
# while a client makes 5,000 new UDP flows a second; flowd is SIGKILLed mid-stream and a new
# one started on the same interface. After the new one's clean stop nothing of either is left:
# no tc filter, no clsact qdisc, no BPF program of flowd's loaded (tc, sockops, tracing), nothing
# pinned, no lock file. The second run's export file has every flow's START once.
# Usage: tests/e2e/e2e_crash.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root crash "network namespaces, BPF"

P="fsk$(printf '%05d' $(($$ % 100000)))"
A=${P}a B=${P}b
tmp=$(mktemp -d)
trap e2e_cleanup EXIT
veth_pair "$P" 10.204.0 || {
	fail "namespaces $A and $B joined by a veth"
	echo "crash: $passed passed, $failed failed"
	exit 1
}

flowd_progs() { # the ids of the BPF programs of flowd's objects loaded now
	bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
names = {"flow_tc_ingress", "flow_tc_egress", "sock_ops", "skb_drop", "sock_state"}
print(" ".join(str(p["id"]) for p in json.load(sys.stdin) if p.get("name") in names))'
}
new_ids() { # new_ids "BEFORE" "NOW": the ids in NOW not in BEFORE
	comm -13 <(tr ' ' '\n' <<<"$1" | sort) <(tr ' ' '\n' <<<"$2" | sort) | xargs
}
loaded() { # loaded IDS...: those of the program ids still loaded
	local id
	for id in "$@"; do bpftool prog show id "$id" >/dev/null 2>&1 && echo "$id"; done
}
# still_loaded IDS...: those still loaded after up to 5 s. The kernel drops a
# tc filter's reference to its program from a work item after an RCU grace
# period (tcf_queue_work), so a program can outlive the filter's removal by a
# moment; one that is still there 5 s later was leaked.
still_loaded() {
	local out
	for _ in $(seq 50); do
		out=$(loaded "$@")
		[ -z "$out" ] && return 0
		sleep 0.1
	done
	echo "$out"
}
locks_of() { # locks_of PID...: lock files that name one of the pids
	local p
	for p in "$@"; do grep -lx "$p" /run/flowscope/tc-*.lock 2>/dev/null; done
}
start_flowd() { # start_flowd N: flowd number N, exporting to $tmp/flowsN.ndjson
	ip netns exec "$A" "$build/flowd" -i "${P}x" --no-history --sweep-interval 200ms \
		--export-file "$tmp/flows$1.ndjson" >"$tmp/flowd$1.out" 2>&1 &
	flowd_pid=$!
	pids+=("$flowd_pid")
	for _ in $(seq 100); do
		grep -q "watching 1 interface" "$tmp/flowd$1.out" && return 0
		sleep 0.1
	done
	return 1
}

ip netns exec "$B" python3 -c '
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("10.204.0.2", 7000))
while True: r.recv(100)' &
pids+=($!)
before=$(flowd_progs)
check "flowd 1 starts" start_flowd 1
# New flows at 5,000 a second, each from its own port (never reused here), the port of every one
# sent after flowd 2 is ready written out.
ip netns exec "$A" python3 -c '
import os, socket, sys, time
stop, mark, out = sys.argv[1], sys.argv[2], open(sys.argv[3], "w")
p, t0 = 10000, time.time()
while not os.path.exists(stop) and p < 65000:
    if p % 100 == 0 and p - 10000 > 5000 * (time.time() - t0):
        time.sleep(0.01)  # at most 5,000 a second: the ports last the test
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.204.0.1", p))
    s.sendto(b"x" * 64, ("10.204.0.2", 7000)); s.sendto(b"y" * 64, ("10.204.0.2", 7000))
    s.close()
    if os.path.exists(mark):
        out.write("%d\n" % p)
    p += 1
print(p - 10000)' "$tmp/stop" "$tmp/mark" "$tmp/ports2" >"$tmp/client.out" 2>&1 &
client=$!
pids+=("$client")
sleep 2
pid1=$flowd_pid
ids1=$(new_ids "$before" "$(flowd_progs)")
check "flowd 1 has its programs loaded ($ids1)" test "$(echo $ids1 | wc -w)" -ge 5
kill -KILL "$flowd_pid"
wait "$flowd_pid" 2>/dev/null
n=$(ip netns exec "$A" tc filter show dev "${P}x" ingress | grep -c bpf)
check "the killed flowd left its filter running ($n)" test "$n" -ge 1
check "flowd 2 starts on the same interface under the same traffic" start_flowd 2
touch "$tmp/mark"
pid2=$flowd_pid
ids2=$(new_ids "$before $ids1" "$(flowd_progs)")
sleep 3
touch "$tmp/stop"
wait "$client"
sleep 1
check "flowd 2 took the killed one's interface over and said so" \
	grep -q "removed what a flowd that did not stop cleanly .* left on ${P}x" "$tmp/flowd2.out"
kill -TERM "$flowd_pid"
wait "$flowd_pid"
rc=$?
check "flowd 2 stops cleanly (rc $rc)" test "$rc" -eq 0
check "the client made $(cat "$tmp/client.out") flows" test "$(cat "$tmp/client.out")" -gt 1000

out=$(ip netns exec "$A" tc filter show dev "${P}x" ingress; ip netns exec "$A" tc filter show dev "${P}x" egress)
check "no tc filter left ($out)" test -z "$out"
out=$(ip netns exec "$A" tc qdisc show dev "${P}x" | grep clsact)
check "no clsact qdisc left ($out)" test -z "$out"
out=$(still_loaded $ids1 $ids2)
check "no BPF program of either flowd loaded (of $ids1 $ids2: ${out:-none})" test -z "$out"
out=$(find /sys/fs/bpf -mindepth 1 2>/dev/null | head -5)
check "nothing pinned in /sys/fs/bpf ($out)" test -z "$out"
out=$(locks_of "$pid1" "$pid2")
check "no lock file of either left (${out:-none})" test -z "$out"

python3 - "$tmp/flows2.ndjson" "$tmp/ports2" >"$tmp/checks" <<'PY'
import collections, json, sys
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
starts, bad = collections.Counter(), 0
for l in open(sys.argv[1]):
    try:
        f = json.loads(l)["flow"]
    except ValueError:
        bad += 1
        continue
    u = f.get("l4", {}).get("UDP", {})
    if f.get("flow_event") == "FLOW_EVENT_START" and u.get("destination_port") == 7000:
        starts[u["source_port"]] += 1
made = {int(x) for x in open(sys.argv[2])}
twice = [p for p, n in starts.items() if n > 1]
c(bad == 0, "every line of the second run's file is JSON (%d bad)" % bad)
c(not twice, "no START twice among %d flows (%d twice, e.g. %s)" % (len(starts), len(twice), twice[:5]))
missing = made - set(starts)
c(len(made) > 500 and not missing,
  "a START for each of the %d flows made while flowd 2 ran (%d missing, e.g. %s)"
  % (len(made), len(missing), sorted(missing)[:5]))
PY
cat "$tmp/checks"
add_checks "$tmp/checks"
if [ "$failed" -gt 0 ]; then
	tail -n 20 "$tmp/flowd1.out" "$tmp/flowd2.out"
fi
echo "crash: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
