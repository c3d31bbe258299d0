#!/bin/bash
# Every exporter through flowd at once, against the real tools: flowd watches lo in a network
# namespace of this test's own and exports to a file, to a private rsyslogd (TCP, JSON) and to
# nfcapd (IPFIX), all on that namespace's loopback. N UDP flows are made, flowd is stopped with
# SIGTERM, and all N must be in the file, in rsyslog's output and in nfdump, with the same
# packet and byte counts.
# Usage: tests/e2e/e2e_siem.sh BUILD_DIR. Needs root, rsyslog and nfdump.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
N=100
. "$(dirname "$0")/lib.sh"
need_root siem "network namespace, BPF"
for tool in rsyslogd nfcapd nfdump; do
	if ! command -v $tool >/dev/null; then
		echo "FAIL - $tool is not installed (scripts/install-deps.sh test)"
		echo "siem: 0 passed, 1 failed"
		exit 1
	fi
done
ns="fsi$$"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }

# rsyslogd of our own: TCP input on 127.0.0.1:6514 of the namespace, raw messages to a file.
mkdir -p "$tmp/rsyslog"
cat >"$tmp/rsyslog.conf" <<CONF
\$MaxMessageSize 64k
\$WorkDirectory $tmp/rsyslog
template(name="raw" type="string" string="%msg%\\n")
ruleset(name="flows") { action(type="omfile" file="$tmp/syslog.out" template="raw") }
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="6514" ruleset="flows")
CONF
ip netns exec "$ns" rsyslogd -n -f "$tmp/rsyslog.conf" -i "$tmp/rsyslog.pid" \
	>"$tmp/rsyslog.log" 2>&1 &
pids+=($!)
mkdir -p "$tmp/ipfix"
ip netns exec "$ns" nfcapd -w "$tmp/ipfix" -p 4739 -b 127.0.0.1 -t 60 -I siem \
	>"$tmp/nfcapd.log" 2>&1 &
capd=$!
pids+=("$capd")
for _ in $(seq 50); do
	inns ss -Hltn "sport = :6514" | grep -q 6514 && inns ss -Hlun "sport = :4739" | grep -q 4739 &&
		break
	sleep 0.1
done
check "rsyslogd and nfcapd listen" sh -c "$(printf '%q ' ip netns exec "$ns" ss -Hltun) | grep -q 6514"

ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --sweep-interval 200ms \
	--export-file "$tmp/flows.ndjson" --export-syslog tcp://127.0.0.1:6514 \
	--export-ipfix 127.0.0.1:4739 >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
for _ in $(seq 50); do
	inns "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
inns python3 -c '
import socket, sys
n = int(sys.argv[1])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 7777))
for p in range(33000, 33000 + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", p))
    for k in range(1 + p % 3):
        s.sendto(b"x" * (40 + p % 50), ("127.0.0.1", 7777)); r.recv(200)
    s.close()' $N
sleep 0.3
kill -TERM "$flowd_pid"
wait "$flowd_pid"
rc=$?
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
sleep 1 # rsyslog writes, nfcapd drains its socket
kill -TERM "$capd"
wait "$capd"
inns kill -TERM "$(cat "$tmp/rsyslog.pid" 2>/dev/null)" 2>/dev/null
sleep 0.5
TZ=UTC nfdump -q -N -R "$tmp/ipfix" -o csv >"$tmp/nfdump.csv" 2>"$tmp/nfdump.err"
check "nfdump reads what nfcapd received" test -s "$tmp/nfdump.csv"

python3 - "$tmp" "$N" >"$tmp/checks" <<'PY'
import csv, json, sys
d, n = sys.argv[1], int(sys.argv[2])
want = set(range(33000, 33000 + n))
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
def udp(m): return m.get("flow", {}).get("l4", {}).get("UDP", {})
# The file: each flow's final counters (the END event flowd writes when it stops).
final = {}
for line in open(d + "/flows.ndjson"):
    m = json.loads(line)
    u, f = udp(m), m.get("flow", {})
    if u.get("destination_port") == 7777 and f.get("flow_event") == "FLOW_EVENT_END":
        final[u["source_port"]] = (int(f.get("packets_sent", "0")), int(f.get("bytes_sent", "0")))
c(set(final) == want, "file: every flow ended with its final counters (%d of %d)" % (len(final), n))
c(all(final[p][0] == 1 + p % 3 for p in final), "file: packet counts are the ones sent")
# rsyslog: the same events, as JSON messages.
seen = {}
for line in open(d + "/syslog.out"):
    line = line.strip()
    if not line:
        continue
    m = json.loads(line)
    u, f = udp(m), m.get("flow", {})
    if u.get("destination_port") == 7777:
        seen.setdefault(u["source_port"], set()).add(f.get("flow_event"))
c(set(seen) == want, "rsyslog: every flow arrived (%d of %d)" % (len(seen), n))
c(all({"FLOW_EVENT_START", "FLOW_EVENT_END"} <= seen.get(p, set()) for p in want),
  "rsyslog: each flow's START and END events arrived")
# nfdump: one IPFIX record per flow (one direction: nothing came back), same counts.
rows = [r for r in csv.reader(open(d + "/nfdump.csv")) if r and r[0] != "ts" and "," not in r[0]]
header = None
for r in csv.reader(open(d + "/nfdump.csv")):
    if r and r[0] == "ts":
        header = r
        break
header = header or ["ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos",
                    "ipkt", "ibyt"]
col = {k: i for i, k in enumerate(header)}
got = {}
for r in rows:
    if len(r) <= max(col["dp"], col["ibyt"]):
        continue
    try:
        sp, dp = int(r[col["sp"]]), int(r[col["dp"]])
    except ValueError:
        continue
    if dp == 7777:
        got[sp] = (int(r[col["ipkt"]]), int(r[col["ibyt"]]))
c(set(got) == want, "nfdump: every flow exported over IPFIX (%d of %d)" % (len(got), n))
c(all(got.get(p) == final.get(p) for p in want),
  "nfdump: packets and bytes match the flows' counters")
PY
cat "$tmp/checks"
add_checks "$tmp/checks"
if [ "$failed" -gt 0 ]; then
	echo "--- flowd"; cat "$tmp/flowd.out"
	echo "--- rsyslog"; cat "$tmp/rsyslog.log"
	echo "--- nfdump"; head -5 "$tmp/nfdump.csv"; cat "$tmp/nfdump.err"
fi
echo "siem: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
