#!/bin/bash
# GET /metrics: flowd watching lo in a network namespace of this test's own, known traffic
# (3 TCP connections, 1 refused), then Prometheus's own promtool must accept the exposition
# and the values must match the traffic and /api/v1/status.
# Usage: tests/e2e/e2e_metrics.sh BUILD_DIR. Needs root and promtool (Debian's prometheus).
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root metrics "network namespace, BPF"
ns="fsm$$"
tmp=$(mktemp -d)
flowd_pid=
cleanup() {
	[ -n "$flowd_pid" ] && kill -KILL "$flowd_pid" 2>/dev/null && wait "$flowd_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --sweep-interval 200ms >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$ns" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
ip netns exec "$ns" python3 - "$tmp" <<'PY'
import flowscope_api, json, socket, sys, time, urllib.request
s = socket.socket(); s.bind(("127.0.0.1", 8080)); s.listen()
for i in range(3):
    c = socket.socket(); c.bind(("127.0.0.1", 46100 + i)); c.connect(("127.0.0.1", 8080))
    a, _ = s.accept(); c.sendall(b"x" * 100); a.recv(100); c.close(); a.close()
r = socket.socket(); r.bind(("127.0.0.1", 46200))
try: r.connect(("127.0.0.1", 9))
except ConnectionRefusedError: pass
time.sleep(1)
# Our own requests to flowd are flows on lo too: read the status before and after the metrics,
# every metric must lie between the two.
open(sys.argv[1] + "/status0.json", "wb").write(
    urllib.request.urlopen("http://127.0.0.1:12000/api/v1/status").read())
m = urllib.request.urlopen("http://127.0.0.1:12000/metrics")
open(sys.argv[1] + "/ctype", "w").write(m.headers["Content-Type"])
open(sys.argv[1] + "/metrics.txt", "wb").write(m.read())
open(sys.argv[1] + "/status.json", "wb").write(
    urllib.request.urlopen("http://127.0.0.1:12000/api/v1/status").read())
PY
check "Content-Type is the text exposition format ($(cat "$tmp/ctype"))" \
	grep -q "^text/plain; version=0.0.4" "$tmp/ctype"
promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1
rc=$?
check "promtool check metrics accepts it (rc $rc: $(head -c 300 "$tmp/promtool.out"))" test "$rc" -eq 0
python3 - "$tmp/metrics.txt" "$tmp/status.json" "$tmp/status0.json" >"$tmp/checks" <<'PY'
import json, re, sys
st = json.load(open(sys.argv[2]))
s0 = json.load(open(sys.argv[3]))
def between(v, k): return s0[k] <= v <= st[k]
vals = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    name, value = line.rsplit(" ", 1)
    vals[name] = float(value)
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
def get(k): return vals.get(k, 0)
processed = sum(v for k, v in vals.items() if k.startswith("hubble_flows_processed_total{"))
c(between(processed, "flows_published"),
  "hubble_flows_processed_total sums to the flows published (%d in %d..%d)"
  % (processed, s0["flows_published"], st["flows_published"]))
# A refused connection is a reset, not a drop: no DROPPED event, nothing in hubble_drop_total,
# the kernel's free counted among those that lose nothing.
c(get('hubble_flows_processed_total{type="L3_L4",subtype="",verdict="DROPPED",protocol="TCP"}') == 0,
  "the refused connection is no DROPPED flow event")
c(sum(v for k, v in vals.items() if k.startswith("hubble_drop_total{")) == 0,
  "hubble_drop_total does not count the refused SYN")
c(get('flowscope_kernel_frees_ignored_total{reason="NO_SOCKET"}') >= 1,
  "the refusal's free is counted as ignored (%s)"
  % get('flowscope_kernel_frees_ignored_total{reason="NO_SOCKET"}'))
c(get('hubble_tcp_flags_total{flag="SYN",family="IPv4"}') >= 4,
  "SYN events for the 4 connection attempts (%s)" % get('hubble_tcp_flags_total{flag="SYN",family="IPv4"}'))
c(get('hubble_tcp_flags_total{flag="RST",family="IPv4"}') >= 1, "an RST event")
c(get('hubble_lost_events_total{source="perf_event_ring_buffer"}') == st["lost_records"] == 0,
  "no ring losses, as /api/v1/status says")
recs = sum(v for k, v in vals.items() if k.startswith("flowscope_records_total{"))
c(between(recs, "records"), "flowscope_records_total sums to status records (%d in %d..%d)"
  % (recs, s0["records"], st["records"]))
c(between(get("flowscope_flows_seen_total"), "seen_flows"), "flows seen match status")
stored = get('flowscope_store_flows{state="active"}') + get('flowscope_store_flows{state="ended"}')
c(between(stored, "num_flows"), "store flows match status (%d in %d..%d)"
  % (stored, s0["num_flows"], st["num_flows"]))
c(get("flowscope_store_capacity") == st["max_flows"], "store capacity")
c(get("flowscope_graph_edges") >= 1, "graph edges reported")
c(get("flowscope_ring_capacity_bytes") >= 1 << 20 and
  0 <= get("flowscope_ring_pending_bytes") <= get("flowscope_ring_capacity_bytes"),
  "ring occupancy: %d of %d bytes pending" % (get("flowscope_ring_pending_bytes"),
                                             get("flowscope_ring_capacity_bytes")))
PY
cat "$tmp/checks"
add_checks "$tmp/checks"
kill -TERM "$flowd_pid"
wait "$flowd_pid"
flowd_pid=
if [ "$failed" -gt 0 ]; then
	cat "$tmp/flowd.out"
	head -60 "$tmp/metrics.txt"
fi
echo "metrics: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
