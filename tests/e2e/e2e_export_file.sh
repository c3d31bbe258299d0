#!/bin/bash
# The SIEM file exporter end to end: flowd watching lo in a namespace of this test's own writes
# every flow event to a file that rotates (gzip) while traffic runs; the file is moved away and
# SIGHUP makes flowd reopen it (as logrotate does); SIGTERM flushes. Every flow made must be in
# the files, each line complete JSON, no event twice. A full disk is logged once, counted, and
# recovered from.
# Usage: tests/e2e/e2e_export_file.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root export_file "network namespace, BPF"
ns="fsx$$"
tmp=$(mktemp -d)
flowd_pid=
cleanup() {
	[ -n "$flowd_pid" ] && kill -KILL "$flowd_pid" 2>/dev/null && wait "$flowd_pid" 2>/dev/null
	mountpoint -q "$tmp/small" && umount "$tmp/small"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --sweep-interval 200ms --export-file "$tmp/flows.ndjson" \
	--export-max-size 16K --export-keep 100 --export-gzip >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$ns" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
check "flowd runs with --export-file" kill -0 "$flowd_pid"

traffic() { # traffic FIRST_PORT COUNT: one UDP flow per source port to a local receiver
	ip netns exec "$ns" python3 -c '
import socket, sys
first, n = int(sys.argv[1]), int(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 7777))
for p in range(first, first + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", p))
    s.sendto(b"x" * 50, ("127.0.0.1", 7777)); r.recv(100); s.close()' "$1" "$2"
}
traffic 30000 150
sleep 1.5 # one flush
mv "$tmp/flows.ndjson" "$tmp/moved.ndjson"
kill -HUP "$flowd_pid"
sleep 0.5
check "SIGHUP reopened the export file" test -f "$tmp/flows.ndjson"
check "flowd said so" grep -q "export file reopened" "$tmp/flowd.out"
traffic 31000 150
# No sleep: what is still buffered must be written at SIGTERM.
kill -TERM "$flowd_pid"
wait "$flowd_pid"
rc=$?
flowd_pid=
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
n_gz=$(ls "$tmp"/flows.ndjson.*.gz 2>/dev/null | wc -l)
check "the file rotated, compressed ($n_gz .gz files)" test "$n_gz" -ge 2

python3 - "$tmp" >"$tmp/checks" <<'PY'
import glob, gzip, json, os, sys
d = sys.argv[1]
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
files = [f for f in glob.glob(d + "/flows.ndjson*") + [d + "/moved.ndjson"]]
lines, bad, big = [], 0, []
for f in files:
    raw = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
    if f.endswith(".gz") and len(raw) > 16 * 1024:
        big.append(f)
    if raw and not raw.endswith(b"\n"):
        bad += 1
    for l in raw.splitlines():
        try:
            lines.append(json.loads(l))
        except ValueError:
            bad += 1
c(bad == 0, "every line of %d files is complete JSON (%d bad)" % (len(files), bad))
c(not big, "no rotated file over the 16 KiB limit (%s)" % big)
starts = {}
for m in lines:
    f = m.get("flow", {})
    u = f.get("l4", {}).get("UDP", {})
    if u.get("destination_port") == 7777 and f.get("flow_event") == "FLOW_EVENT_START":
        starts.setdefault(u["source_port"], []).append(f.get("flow_id"))
want = set(range(30000, 30150)) | set(range(31000, 31150))
c(set(starts) == want, "a START event for each of the 300 flows (%d found, %d missing)"
  % (len(starts), len(want - set(starts))))
c(all(len(v) == 1 for v in starts.values()), "no START event twice")
ids = [m["flow"]["flow_id"] for m in lines if "flow" in m]
c(len(lines) == len(ids), "every line is a flow event (%d)" % len(lines))
PY
cat "$tmp/checks"
add_checks "$tmp/checks"

# Export filters: a bad one stops flowd at start; allow and deny select what is written.
out=$(ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-2" -i lo --export-file "$tmp/x.ndjson" \
	--export-allow 'to_port=http' 2>&1)
rc=$?
check "a bad --export-allow is refused at start (rc $rc: $out)" \
	test "$rc" -eq 2 -a -n "$(echo "$out" | grep -- '--export-allow')"
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-3" -i lo --export-file "$tmp/allow.ndjson" \
	--export-allow 'to_port=7777&protocol=udp' --export-deny 'from_port=32001' \
	>"$tmp/flowd2.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$ns" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
traffic 32000 5
kill -TERM "$flowd_pid"
wait "$flowd_pid"
flowd_pid=
python3 - "$tmp/allow.ndjson" >"$tmp/checks2" <<'PY'
import json, sys
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
fl = [json.loads(l)["flow"] for l in open(sys.argv[1])]
ports = {f["l4"]["UDP"]["source_port"] for f in fl if "UDP" in f.get("l4", {})}
c(len(fl) > 0 and all(f.get("l4", {}).get("UDP", {}).get("destination_port") == 7777 for f in fl),
  "--export-allow: only UDP flows to 7777 in the file (%d lines)" % len(fl))
c(ports == {32000, 32002, 32003, 32004}, "--export-deny: from_port 32001 left out (%s)" % sorted(ports))
PY
cat "$tmp/checks2"
add_checks "$tmp/checks2"
# A full disk: writes fail (said once, counted), flowd goes on, and once there is room again
# the file gets the new events (said once more when writes have worked for 5 s, with what was
# dropped: near full, writes come and go).
mkdir -p "$tmp/small"
check "a 128 KiB tmpfs for the export file" mount -t tmpfs -o size=128k tmpfs "$tmp/small"
dd if=/dev/zero of="$tmp/small/filler" bs=1k count=120 2>/dev/null
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-4" -i lo --sweep-interval 200ms \
	--export-file "$tmp/small/flows.ndjson" --export-file-buffer 4K >"$tmp/flowd4.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$ns" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
traffic 33000 200
sleep 1.5
traffic 33200 200
sleep 1.5
n=$(grep -c "file exporter: writing $tmp/small/flows.ndjson: No space left on device" "$tmp/flowd4.out")
check "the full disk is logged once ($n)" test "$n" -eq 1
dropped=$(ip netns exec "$ns" curl -s -H "$(api_auth)" http://127.0.0.1:12000/metrics |
	sed -n 's/^flowscope_exporter_flows_total{exporter="file",outcome="dropped"} //p')
check "and counted: flowscope_exporter_flows_total{outcome=dropped} ${dropped:-none}" \
	test "${dropped:-0}" -gt 0
check "flowd goes on with its disk full" kill -0 "$flowd_pid"
rm -f "$tmp/small/filler"
traffic 34000 50
sleep 6 # writes have worked for 5 s: then it says so
traffic 34100 10
sleep 1.5
check "writing again is logged once ($(grep 'flow events dropped' "$tmp/flowd4.out"))" \
	test "$(grep -c "file exporter: writing $tmp/small/flows.ndjson again, [0-9]* flow events dropped" "$tmp/flowd4.out")" -eq 1
kill -TERM "$flowd_pid"
wait "$flowd_pid"
flowd_pid=
n=$(python3 -c 'import json, sys
ps = set()
for l in open(sys.argv[1]):
    f = json.loads(l)["flow"]
    u = f.get("l4", {}).get("UDP", {})
    if f.get("flow_event") == "FLOW_EVENT_START" and 34000 <= u.get("source_port", 0) < 34050:
        ps.add(u["source_port"])
print(len(ps))' "$tmp/small/flows.ndjson")
check "the file has the START of each of the 50 flows made after room was freed ($n)" \
	test "$n" -eq 50
umount "$tmp/small"

[ "$failed" -gt 0 ] && cat "$tmp/flowd.out"
echo "export_file: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
