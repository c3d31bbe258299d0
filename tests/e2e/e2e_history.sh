#!/bin/bash
# flowd's flow history end to end, against real flowds watching lo in a network namespace of
# this test's own, each with a history directory of the test's own (never the default): replays
# (--since, --first, --last, --until, --to-port, /api/v1/flows) answer from disk with every
# event once, in time order, across a SIGTERM restart and a kill -9 (what was older than
# --history-sync at the kill is kept); a second flowd on the same directory is refused while
# the first goes on; --since --follow replays then goes live; a since before the oldest event
# kept gets a notice; --history-max-age drops old events; a damaged block loses only its
# events, said with its time range; a full disk (a small tmpfs) stops the history, said once,
# while flowd and its memory replays go on, and once there is room it writes again, said once;
# status, /api/v1/status and /metrics tell it all.
# Traffic: history_traffic.py (ground truth: it prints each flow's client port); checks on the
# replies: history_check.py.
# Usage: tests/e2e/e2e_history.sh BUILD_DIR. Needs root. Only loopback inside its namespace.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root history "network namespace, BPF, a tmpfs mount"

# Unique per run; leftovers of an earlier run whose shell is gone go first.
ns="fsh$(printf '%05d' $(($$ % 100000)))"
for old in $(ip netns list | awk '{print $1}' | grep -E '^fsh[0-9]{5}$'); do
	pid_of_ns=${old:3:5}
	kill -0 "$((10#$pid_of_ns))" 2>/dev/null && [ "$((10#$pid_of_ns))" != "$$" ] && continue
	ip netns pids "$old" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$old" 2>/dev/null
done
tmp=$(mktemp -d)
flowd_pid=
pids=()
cleanup() {
	[ -n "$flowd_pid" ] && kill -KILL "$flowd_pid" 2>/dev/null && wait "$flowd_pid" 2>/dev/null
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	mountpoint -q "$tmp/small" && umount "$tmp/small"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
inns() { ip netns exec "$ns" "$@"; }
ctl() { ip netns exec "$ns" "$build/flowctl" "$@"; }
traffic() { inns python3 "$here/history_traffic.py" "$@"; }
# hcheck SUBCOMMAND ARGS...: history_check.py's checks, shown and counted.
hcheck() {
	python3 "$here/history_check.py" "$@" >"$tmp/hc.out" 2>&1
	cat "$tmp/hc.out"
	grep -Eq '^(ok|FAIL) - ' "$tmp/hc.out" || fail "history_check.py $1 ran ($(tail -1 "$tmp/hc.out"))"
	add_checks "$tmp/hc.out"
}
# http PATH: the body of GET http://127.0.0.1:12000PATH in the namespace (exit 1 on an error).
http() {
	inns python3 -c '
import flowscope_api, sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:12000" + sys.argv[1], timeout=10)
                 .read().decode())' "$1"
}
# jget FILE EXPR: a value of the JSON object in FILE (o), e.g. 'o["history"]["events"]'.
jget() { python3 -c 'import json, sys; o = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# metric FILE NAME: the value of an unlabelled metric.
metric() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }

# start_flowd LOG ARGS...: flowd watching lo, ready when it answers status.
start_flowd() {
	local log=$1
	shift
	ip netns exec "$ns" "$build/flowd" -i lo --node-name histnode --sweep-interval 200ms "$@" \
		>"$log" 2>&1 &
	flowd_pid=$!
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$flowd_pid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
# stop_flowd: SIGTERM, and flowd's exit status in rc.
stop_flowd() {
	kill -TERM "$flowd_pid"
	wait "$flowd_pid"
	rc=$?
	flowd_pid=
}

# The binaries under test, copied: others may rebuild the tree while this runs.
mkdir "$tmp/bin"
for _ in $(seq 60); do
	cp "$build/flowd" "$build/flowctl" "$tmp/bin/" 2>/dev/null &&
		"$tmp/bin/flowd" --version >/dev/null 2>&1 && "$tmp/bin/flowctl" --version >/dev/null 2>&1 &&
		break
	sleep 1
done
build="$tmp/bin"
check "flowd and flowctl of the build ($("$build/flowd" --version 2>&1 | head -1))" \
	"$build/flowctl" --version

ip netns add "$ns"
ip -n "$ns" link set lo up
h="$tmp/h"
run=(--history-dir "$h" --history-sync 200ms --max-events 200)

# ---- a restart: every event once, in time order, from the disk ------------------------
check "flowd starts with a fresh --history-dir" start_flowd "$tmp/flowd1.log" "${run[@]}"
check "flowd says where its history is" grep -q "flowd: history in $h: 0 events" "$tmp/flowd1.log"
traffic tcp 8443 150 >"$tmp/tcp1.ports"
traffic udp 9053 200 >"$tmp/udp1.ports"
check "150 TCP connections and 200 UDP flows made" \
	test "$(wc -l <"$tmp/tcp1.ports")" -eq 150 -a "$(sort -u "$tmp/udp1.ports" | wc -l)" -eq 200
sleep 1
ctl observe --since 10m -o json >"$tmp/r1.json" 2>"$tmp/r1.err"
check "observe --since 10m exits 0" test $? -eq 0
hcheck replay "$tmp/r1.json" "$tmp/tcp1.ports" "$tmp/udp1.ports" 200 "--since 10m"

# ---- a since before the oldest event kept: a notice, and the flows anyway ------------------
ctl observe --since 2h --to-port 8443 >"$tmp/n.out" 2>"$tmp/n.err"
rc=$?
check "--since 2h on a fresh history: exit 0 (rc $rc)" test "$rc" -eq 0
check "--since 2h: the notice on stderr ($(head -c 200 "$tmp/n.err"))" grep -Eq \
	'^notice \[histnode\]: history: the oldest flow event kept is from 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]+)?Z; nothing before it is kept' \
	"$tmp/n.err"
check "--since 2h: the notice is not among the flows" sh -c "! grep -q notice $tmp/n.out"
check "--since 2h: the flows still come ($(grep -c 'SYN)' "$tmp/n.out") SYNs to 8443)" \
	test "$(grep -c ':8443 .*(TCP Flags: SYN)$' "$tmp/n.out")" -ge 150
ctl observe --since 2h --to-port 8443 -o json >"$tmp/nj.out" 2>"$tmp/nj.err"
check "--since 2h -o json: the notice is a node_status JSON line on stderr ($(head -c 200 "$tmp/nj.err"))" \
	python3 -c '
import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert any("nothing before it is kept" in x["node_status"]["message"] for x in m), m
assert not any("node_status" in json.loads(l) for l in open(sys.argv[2])), "on stdout"' \
	"$tmp/nj.err" "$tmp/nj.out"
read -r mid_ns mid_time < <(python3 "$here/history_check.py" pick_time "$tmp/r1.json" 8443 75)
ctl observe --since "$mid_time" --to-port 8443 >/dev/null 2>"$tmp/nn.err"
check "--since a time the history holds: no notice ($(head -c 200 "$tmp/nn.err"))" \
	test ! -s "$tmp/nn.err"

stop_flowd
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
check "the history is on disk: segment files and a journal ($(ls "$h" | tr '\n' ' '))" \
	sh -c "ls $h | grep -Eq '^seg-[0-9]{20}\.fsh$' && test -f $h/journal"
check "flowd starts again on the same directory" start_flowd "$tmp/flowd2.log" "${run[@]}"
ctl observe --since 10m -o json >"$tmp/r2.json" 2>/dev/null
hcheck restart "$tmp/r1.json" "$tmp/r2.json" "after a restart, --since 10m"
ctl observe --since 10m --to-port 8443 -o json >"$tmp/r2p.json" 2>/dev/null
hcheck filter "$tmp/r2.json" "$tmp/r2p.json" TCP 8443 "after a restart, --since 10m --to-port 8443"
http "/api/v1/flows?since=10m&to_port=8443" >"$tmp/r2h.json"
hcheck filter "$tmp/r2.json" "$tmp/r2h.json" TCP 8443 "GET /api/v1/flows?since=10m&to_port=8443"
ctl observe --first 10 -o json >"$tmp/first.json" 2>/dev/null
hcheck first "$tmp/r2.json" "$tmp/first.json" 10 "--first 10"
http "/api/v1/flows?first=10" >"$tmp/firsth.json"
hcheck first "$tmp/r2.json" "$tmp/firsth.json" 10 "GET /api/v1/flows?first=10"
ctl observe --last 5 --to-port 9053 -o json >"$tmp/last.json" 2>/dev/null
hcheck last "$tmp/r2.json" "$tmp/last.json" 5 UDP 9053 "--last 5 --to-port 9053"
http "/api/v1/flows?last=5&to_port=9053" >"$tmp/lasth.json"
hcheck last "$tmp/r2.json" "$tmp/lasth.json" 5 UDP 9053 "GET /api/v1/flows?last=5&to_port=9053"
ctl observe --since 10m --until "$mid_time" -o json >"$tmp/until.json" 2>/dev/null
hcheck until "$tmp/r2.json" "$tmp/until.json" "$mid_ns" "--since 10m --until $mid_time"

# ---- kill -9: what was older than --history-sync at the kill is kept ------------------------
traffic tcp 8443 100 >"$tmp/tcp2.ports"
sleep 0.6 # the batch's events are published
ctl observe --since 10m -o json >"$tmp/k_before.json" 2>/dev/null
sleep 0.6 # more than twice --history-sync 200ms since
kill -KILL "$flowd_pid"
wait "$flowd_pid" 2>/dev/null
flowd_pid=
check "flowd starts again after kill -9 (the lock of a dead flowd is no obstacle)" \
	start_flowd "$tmp/flowd3.log" "${run[@]}"
ctl observe --since 10m -o json >"$tmp/r3.json" 2>/dev/null
hcheck batch "$tmp/k_before.json" "$tmp/r3.json" "$tmp/tcp2.ports" "$tmp/r2.json" "after kill -9"

# ---- a second flowd on the same directory is refused; the first goes on ---------------------
ip netns exec "$ns" timeout 20 "$build/flowd" -i lo --history-dir "$h" --http 127.0.0.1:12001 \
	--grpc 127.0.0.1:4246 >"$tmp/second.log" 2>&1
rc=$?
check "a second flowd on the same --history-dir exits non-zero at once (rc $rc)" \
	test "$rc" -ne 0 -a "$rc" -ne 124
check "... saying the directory is in use by the first ($(head -c 250 "$tmp/second.log"))" \
	grep -qF "history directory $h is in use by another flowd (pid $flowd_pid)" "$tmp/second.log"
check "the first flowd still runs and answers" sh -c "kill -0 $flowd_pid && $(printf '%q ' ip netns exec "$ns" "$build/flowctl") status >/dev/null"
traffic tcp 8443 20 >"$tmp/tcp3.ports"
sleep 0.6
ctl observe --since 10m -o json >"$tmp/r4.json" 2>/dev/null
hcheck restart "$tmp/r3.json" "$tmp/r4.json" "after the refused second flowd, --since 10m"
hcheck conns "$tmp/r4.json" "$tmp/tcp3.ports" "the first flowd still sees new traffic"

# ---- --since --follow: the replay, then live ---------------------------------------------
ip netns exec "$ns" timeout 30 "$build/flowctl" observe --since 10m --follow --to-port 8443 \
	-o json >"$tmp/follow.json" 2>"$tmp/follow.err" &
follow_pid=$!
pids+=("$follow_pid")
sleep 1.5
traffic tcp 8443 50 >"$tmp/tcp4.ports"
sleep 1.5
kill -INT "$follow_pid"
wait "$follow_pid"
rc=$?
check "observe --since 10m --follow ends on SIGINT with status 0 (rc $rc)" test "$rc" -eq 0
hcheck follow "$tmp/follow.json" "$tmp/r4.json" "$tmp/tcp4.ports" "--since 10m --follow --to-port 8443"

# ---- status, /api/v1/status, /metrics --------------------------------------------------
ctl status >"$tmp/status.txt"
hist_line=$(grep '^History:' "$tmp/status.txt")
check "flowctl status: the History line ($hist_line)" grep -Eq \
	'^History: [1-9][0-9,]* events, [0-9]+\.[0-9] MiB, oldest 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]+)?Z, 0 dropped by retention, 0 lost \(ok\)$' \
	"$tmp/status.txt"
http /api/v1/status >"$tmp/status.json"
r4_oldest=$(python3 "$here/history_check.py" oldest_ns "$tmp/r4.json")
check "/api/v1/status: history with events, bytes, oldest (the oldest replayed: $r4_oldest) ($(jget "$tmp/status.json" 'o.get("history")'))" \
	python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["history"]
keys = {"events", "bytes", "dropped", "lost", "damaged_blocks", "oldest_ns", "newest_ns", "oldest",
        "newest", "stopped", "state"}
assert keys <= set(h), keys - set(h)
assert h["events"] > 0 and h["bytes"] > 0 and h["state"] == "ok" and h["stopped"] is False, h
assert h["oldest_ns"] == int(sys.argv[2]) and h["newest_ns"] >= h["oldest_ns"], h
assert h["oldest"].startswith(h["oldest"][:4]) and h["oldest"].endswith("Z"), h
assert h["dropped"] == 0 and h["lost"] == 0 and h["damaged_blocks"] == 0, h' \
	"$tmp/status.json" "$r4_oldest"
http /metrics >"$tmp/metrics.txt"
for m in flowscope_history_events flowscope_history_bytes flowscope_history_oldest_timestamp_seconds \
	flowscope_history_dropped_total flowscope_history_lost_total \
	flowscope_history_damaged_blocks_total flowscope_history_write_errors_total \
	flowscope_history_stopped; do
	check "/metrics: $m ($(metric "$tmp/metrics.txt" $m))" test -n "$(metric "$tmp/metrics.txt" $m)"
done
check "/metrics: flowscope_history_events > 0, stopped 0, oldest the oldest replayed" \
	python3 -c '
import sys
m = dict(l.split()[:2] for l in open(sys.argv[1]) if l.strip() and not l.startswith("#"))
assert int(m["flowscope_history_events"]) > 0, m
assert m["flowscope_history_stopped"] == "0", m
assert abs(float(m["flowscope_history_oldest_timestamp_seconds"]) - int(sys.argv[2]) / 1e9) < 0.002' \
	"$tmp/metrics.txt" "$r4_oldest"
stop_flowd
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0

# ---- retention by age -------------------------------------------------------------------
# Memory keeps the newest --max-events whatever their age: 16, so that batch B fills it and
# what is asked of batch A is the history's.
check "flowd starts with --history-max-age 3s" start_flowd "$tmp/flowd6.log" \
	--history-dir "$tmp/h6" --history-sync 200ms --max-events 16 --history-max-age 3s
traffic tcp 8443 30 >"$tmp/tcpA.ports"
traffic udp 9053 30 >"$tmp/udpA.ports"
sleep 0.5
http /api/v1/status >"$tmp/status6a.json"
sleep 5.5 # batch A is older than 3 s, and more than one segment span (3 s / 8) and sync
traffic tcp 8443 30 >"$tmp/tcpB.ports"
sleep 1
ctl observe --since 10m -o json >"$tmp/r6.json" 2>/dev/null
hcheck retention "$tmp/r6.json" "$tmp/tcpA.ports" "$tmp/udpA.ports" "$tmp/tcpB.ports" \
	"--history-max-age 3s" 3000
http /api/v1/status >"$tmp/status6.json"
check "--history-max-age 3s: status counts events dropped by retention ($(jget "$tmp/status6.json" 'o["history"]["dropped"]'))" \
	test "$(jget "$tmp/status6.json" 'o["history"]["dropped"]')" -gt 0
check "--history-max-age 3s: the oldest event kept moved forward ($(jget "$tmp/status6a.json" 'o["history"]["oldest"]') -> $(jget "$tmp/status6.json" 'o["history"]["oldest"]'))" \
	test "$(jget "$tmp/status6.json" 'o["history"]["oldest_ns"]')" -gt \
	"$(jget "$tmp/status6a.json" 'o["history"]["newest_ns"]')"
http /metrics >"$tmp/metrics6.txt"
check "--history-max-age 3s: flowscope_history_dropped_total > 0 ($(metric "$tmp/metrics6.txt" flowscope_history_dropped_total))" \
	test "$(metric "$tmp/metrics6.txt" flowscope_history_dropped_total)" -gt 0
ctl status | grep '^History:' >"$tmp/status6.txt"
check "--history-max-age 3s: flowctl status tells what retention dropped ($(cat "$tmp/status6.txt"))" \
	grep -Eq ', [1-9][0-9]* dropped by retention,' "$tmp/status6.txt"
stop_flowd

# ---- a damaged block --------------------------------------------------------------------
# Blocks hold 8192 events: 20000 UDP flows make two full ones while flowd runs, and their END
# events at SIGTERM more.
h7="$tmp/h7"
check "flowd starts on a fresh directory" start_flowd "$tmp/flowd7.log" \
	--history-dir "$h7" --history-sync 200ms --max-events 200
traffic many 20000 20000 >/dev/null
sleep 1.5
ctl observe --since 10m -o json >"$tmp/d_before.json" 2>/dev/null
n_before=$(python3 "$here/history_check.py" count "$tmp/d_before.json")
check "20000 UDP flows: at least 20000 events replayed ($n_before)" test "$n_before" -ge 20000
stop_flowd
python3 "$here/history_damage.py" "$h7" >"$tmp/damaged.json" 2>"$tmp/damage.err"
check "a byte of a block in the middle of a segment flipped ($(cat "$tmp/damaged.json" "$tmp/damage.err"))" \
	test "$(jget "$tmp/damaged.json" 'o["blocks_in_segment"]' 2>/dev/null)" -ge 3
check "flowd starts on the damaged history" start_flowd "$tmp/flowd7b.log" \
	--history-dir "$h7" --history-sync 200ms --max-events 200
ctl observe --since 10m -o json >"$tmp/d_after.json" 2>/dev/null
check "the replay over the damage exits 0" test $? -eq 0
sleep 0.3
hcheck damage "$tmp/d_before.json" "$tmp/d_after.json" "$tmp/damaged.json" "$tmp/flowd7b.log" \
	"a damaged block"
http /api/v1/status >"$tmp/status7.json"
check "the damage counted: /api/v1/status damaged_blocks >= 1 ($(jget "$tmp/status7.json" 'o["history"]["damaged_blocks"]'))" \
	test "$(jget "$tmp/status7.json" 'o["history"]["damaged_blocks"]')" -ge 1
http /metrics >"$tmp/metrics7.txt"
check "the damage counted: flowscope_history_damaged_blocks_total >= 1" \
	test "$(metric "$tmp/metrics7.txt" flowscope_history_damaged_blocks_total)" -ge 1
check "flowd still runs after reading the damaged block" kill -0 "$flowd_pid"
stop_flowd

# ---- a full disk --------------------------------------------------------------------------
mkdir "$tmp/small"
check "a 256 KiB tmpfs for the history" mount -t tmpfs -o size=256k tmpfs "$tmp/small"
check "flowd starts with its history on the small tmpfs" start_flowd "$tmp/flowd8.log" \
	--history-dir "$tmp/small/h" --history-sync 200ms --history-retry 1s --max-events 2000
traffic many 20000 30000 >/dev/null
# The disk fills when the history writes what the traffic made (every --history-sync; how
# many blocks that takes depends on how well they compress): up to 10 s, with more traffic
# after 3 s if it is not full yet.
for i in $(seq 20); do
	ctl status 2>/dev/null | grep -Eq '^History: .*\(stopped: .*disk full.*\)$' && break
	[ "$i" = 6 ] && traffic many 20000 30000 >/dev/null
	sleep 0.5
done
check "flowd still runs with its disk full" kill -0 "$flowd_pid"
check "GET /healthz answers ok ($(http /healthz))" test "$(http /healthz)" = ok
ctl status >"$tmp/status8.txt"
check "flowctl status: History stopped, disk full ($(grep '^History:' "$tmp/status8.txt"))" \
	grep -Eq '^History: .*\(stopped: .*disk full.*\)$' "$tmp/status8.txt"
n=$(grep -c 'not keeping flow events' "$tmp/flowd8.log")
check "flowd logs the stop once ($n: $(grep 'not keeping' "$tmp/flowd8.log" | head -1))" test "$n" -eq 1
http /metrics >"$tmp/metrics8.txt"
check "/metrics: flowscope_history_stopped 1" test "$(metric "$tmp/metrics8.txt" flowscope_history_stopped)" = 1
check "/metrics: flowscope_history_write_errors_total >= 1 and lost > 0" \
	test "$(metric "$tmp/metrics8.txt" flowscope_history_write_errors_total)" -ge 1 -a \
	"$(metric "$tmp/metrics8.txt" flowscope_history_lost_total)" -gt 0
http /api/v1/status >"$tmp/status8.json"
check "/api/v1/status: history stopped, state says disk full ($(jget "$tmp/status8.json" 'o["history"]["state"]'))" \
	python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["history"]
assert h["stopped"] is True and "disk full" in h["state"] and h["state"].startswith("stopped"), h' \
	"$tmp/status8.json"
stopped_newest=$(jget "$tmp/status8.json" 'o["history"]["newest_ns"]')
traffic tcp 8443 5 >"$tmp/tcp8.ports"
sleep 0.6
ctl observe --last 5 -o json >"$tmp/last8.json" 2>"$tmp/last8.err"
check "observe --last 5 answers with the history stopped (rc $?)" test -s "$tmp/last8.json"
hcheck newest "$tmp/last8.json" 5 "$stopped_newest" "--last 5 with the history stopped"
# (each connection tells several events to port 8443: 100 covers the 5 connections' STARTs)
ctl observe --last 100 --to-port 8443 -o json >"$tmp/last8p.json" 2>/dev/null
hcheck conns "$tmp/last8p.json" "$tmp/tcp8.ports" \
	"the collector goes on with the history stopped: --last 100 --to-port 8443"
ctl observe --since 1m --to-port 8443 -o json >"$tmp/since8.json" 2>/dev/null
hcheck conns "$tmp/since8.json" "$tmp/tcp8.ports" \
	"--since 1m --to-port 8443 with the history stopped"
n=$(grep -c 'not keeping flow events' "$tmp/flowd8.log")
check "still logged once, however many retries failed ($n)" test "$n" -eq 1
# Room again: the next retry (--history-retry 1s) writes blocks again, says so once, and keeps
# events.
check "the tmpfs grows to 16 MiB" mount -o remount,size=16m "$tmp/small"
sleep 1.5
traffic many 50000 10000 >/dev/null
sleep 1
http /api/v1/status >"$tmp/status9.json"
check "/api/v1/status: the history writes again (state $(jget "$tmp/status9.json" 'o["history"]["state"]'))" \
	python3 -c '
import json, sys
h = json.load(open(sys.argv[1]))["history"]
assert h["stopped"] is False and h["state"] == "ok", h
assert h["newest_ns"] > int(sys.argv[2]), (h["newest_ns"], sys.argv[2])' "$tmp/status9.json" "$stopped_newest"
n=$(grep -c 'history: writing again' "$tmp/flowd8.log")
check "flowd logs the recovery once ($n: $(grep 'writing again' "$tmp/flowd8.log" | head -1))" \
	test "$n" -eq 1
http /metrics >"$tmp/metrics9.txt"
check "/metrics: flowscope_history_stopped 0" test "$(metric "$tmp/metrics9.txt" flowscope_history_stopped)" = 0
stop_flowd
check "flowd exits 0 on SIGTERM with its disk full (rc $rc)" test "$rc" -eq 0

if [ "$failed" -gt 0 ]; then
	for f in "$tmp"/flowd*.log; do
		echo "--- $(basename "$f")"
		grep -v '^flowd: /proc scan' "$f" | head -20
	done
fi
echo "history: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
