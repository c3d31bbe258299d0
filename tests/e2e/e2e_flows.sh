#!/bin/bash
# End-to-end: a client and a server host in network namespaces, routed through a third
# namespace where flowd watches both veths. Known traffic (10 TCP connections of known size,
# IPv6 TCP, UDP request/response, ping) must come out of the HTTP API and flowctl exactly once
# per interface with the right 5-tuple, direction and byte counts; a second flowd must refuse
# the same interfaces; SIGTERM must leave no tc filter behind.
# Usage: tests/e2e/e2e_flows.sh BUILD_DIR. Needs root; only touches namespaces it creates.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"
finish() {
	echo "e2e_flows: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

need_root e2e_flows "network namespaces, BPF"

# Unique per run, short enough for 15-character interface names; leftovers of an earlier
# run of this same prefix family are removed first.
P="fse$(printf '%05d' $(($$ % 100000)))"
C=${P}c R=${P}r S=${P}s
for ns in $(ip netns list | awk '{print $1}' | grep -E '^fse[0-9]{5}[crs]$'); do
	pid_of_ns=${ns:3:5}
	kill -0 "$((10#$pid_of_ns))" 2>/dev/null && [ "$((10#$pid_of_ns))" != "$$" ] && continue
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
done

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for ns in $C $R $S; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
tmp=$(mktemp -d)
trap cleanup EXIT
trap 'exit 1' INT TERM

inr() { ip netns exec "$R" "$@"; }
set -e
ip netns add "$C"
ip netns add "$R"
ip netns add "$S"
ip link add "${P}c0" netns "$C" type veth peer name "${P}rc" netns "$R"
ip link add "${P}s0" netns "$S" type veth peer name "${P}rs" netns "$R"
for ns in $C $R $S; do ip -n "$ns" link set lo up; done
ip -n "$C" addr add 10.200.1.2/24 dev "${P}c0"
ip -n "$C" addr add fd00:200:1::2/64 dev "${P}c0" nodad
ip -n "$C" link set "${P}c0" up
ip -n "$C" route add default via 10.200.1.1
ip -n "$C" -6 route add default via fd00:200:1::1
ip -n "$S" addr add 10.200.2.2/24 dev "${P}s0"
ip -n "$S" addr add fd00:200:2::2/64 dev "${P}s0" nodad
ip -n "$S" link set "${P}s0" up
ip -n "$S" route add default via 10.200.2.1
ip -n "$S" -6 route add default via fd00:200:2::1
ip -n "$R" addr add 10.200.1.1/24 dev "${P}rc"
ip -n "$R" addr add fd00:200:1::1/64 dev "${P}rc" nodad
ip -n "$R" addr add 10.200.2.1/24 dev "${P}rs"
ip -n "$R" addr add fd00:200:2::1/64 dev "${P}rs" nodad
ip -n "$R" link set "${P}rc" up
ip -n "$R" link set "${P}rs" up
inr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
set +e

# flowd in the router namespace, on both veths, with a fast sweep so counters settle quickly.
ip netns exec "$R" "$build/flowd" --history-dir "$tmp/history-1" -i "${P}rc" -i "${P}rs" --sweep-interval 200ms --node-name e2e \
	>"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
for _ in $(seq 50); do
	inr "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
check "flowd starts and answers status" inr "$build/flowctl" status

# A second flowd on the same interfaces must refuse, not stack probes.
inr timeout 10 "$build/flowd" --history-dir "$tmp/history-2" -i "${P}rc" --http 127.0.0.1:12001 --grpc 127.0.0.1:4246 >"$tmp/flowd2.out" 2>&1
rc=$?
check "second flowd on the same interface exits non-zero (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "second flowd says the interface is already watched" \
	grep -qi "already" "$tmp/flowd2.out"

# Servers, then the known traffic.
ip netns exec "$S" python3 "$here/traffic.py" tcp-server 10.200.2.2 8080 5000 >"$tmp/s1" &
pids+=($!)
ip netns exec "$S" python3 "$here/traffic.py" tcp-server fd00:200:2::2 8080 7000 >"$tmp/s2" &
pids+=($!)
ip netns exec "$S" python3 "$here/traffic.py" udp-server 10.200.2.2 5353 200 >"$tmp/s3" &
pids+=($!)
ip netns exec "$S" python3 "$here/traffic.py" udp-server fd00:200:2::2 5353 400 >"$tmp/s4" &
pids+=($!)
for f in s1 s2 s3 s4; do
	for _ in $(seq 50); do grep -q ready "$tmp/$f" && break; sleep 0.1; done
done

# A follower started before the traffic must see it live.
# (ip netns exec runs flowctl in place, so $! is flowctl itself, not a subshell.)
ip netns exec "$R" "$build/flowctl" observe --follow -o json >"$tmp/follow.json" 2>"$tmp/follow.err" &
follow_pid=$!
pids+=("$follow_pid")
sleep 0.5

inc() { ip netns exec "$C" "$@"; }
check "10 IPv4 TCP connections complete" \
	inc python3 "$here/traffic.py" tcp-clients 10.200.2.2 8080 40001 10 20000 5000
check "2 IPv6 TCP connections complete" \
	inc python3 "$here/traffic.py" tcp-clients fd00:200:2::2 8080 41001 2 3000 7000
check "IPv4 UDP request/response" inc python3 "$here/traffic.py" udp-client 10.200.2.2 5353 50000 100 200
check "IPv6 UDP request/response" \
	inc python3 "$here/traffic.py" udp-client fd00:200:2::2 5353 50001 300 400
check "ping 3 packets" inc ping -q -c 3 -i 0.2 10.200.2.2

sleep 1.5 # a few sweeps: final counters reach the store
inr python3 - "$tmp/api.json" <<'PY'
import flowscope_api, sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:12000/api/v1/flows?per_flow=1&last=1000",
                            timeout=10) as r:
    assert r.headers.get("Content-Type", "").startswith("application/x-ndjson"), r.headers
    open(sys.argv[1], "wb").write(r.read())
PY
check "HTTP API returns flows (per flow)" test -s "$tmp/api.json"
python3 "$here/check_flows.py" "$tmp/api.json" "${P}rc" "${P}rs" >"$tmp/api.checks"
sed 's/^/[http] /' "$tmp/api.checks"
add_checks "$tmp/api.checks"

inr "$build/flowctl" observe --per-flow --last 1000 -o json >"$tmp/ctl.json" 2>"$tmp/ctl.err"
check "flowctl observe -o json exits 0" test $? -eq 0
python3 "$here/check_flows.py" "$tmp/ctl.json" "${P}rc" "${P}rs" >"$tmp/ctl.checks"
sed 's/^/[flowctl] /' "$tmp/ctl.checks"
add_checks "$tmp/ctl.checks"

# The default view: flow events, in time order, each connection's handshake once per interface.
inr "$build/flowctl" observe --last 5000 -o json >"$tmp/events.json" 2>&1
check "flowctl observe (events) exits 0" test $? -eq 0
python3 - "$tmp/events.json" "${P}rc" "${P}rs" >"$tmp/events.checks" <<'PY'
import json, sys
ev = [json.loads(l)["flow"] for l in open(sys.argv[1]) if '"flow"' in l]
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
ts = [e["time"] for e in ev]
def key(t):  # RFC 3339 with up to 9 fraction digits, Z
    sec, _, frac = t.rstrip("Z").partition(".")
    return sec, frac.ljust(9, "0")
c([key(t) for t in ts] == sorted(key(t) for t in ts), "events in time order (%d)" % len(ev))
for ifname in sys.argv[2:]:
    for port in range(40001, 40011):
        mine = [e for e in ev if e.get("interface", {}).get("name") == ifname and
                e.get("IP", {}).get("ipVersion") == "IPv4" and
                {e.get("l4", {}).get("TCP", {}).get("source_port"),
                 e.get("l4", {}).get("TCP", {}).get("destination_port")} == {port, 8080}]
        starts = [e for e in mine if e.get("flow_event") == "FLOW_EVENT_START"]
        syns = [e for e in mine if e["l4"]["TCP"].get("flags", {}).get("SYN") and
                not e["l4"]["TCP"]["flags"].get("ACK")]
        synack = [e for e in mine if e["l4"]["TCP"].get("flags", {}).get("SYN") and
                  e["l4"]["TCP"]["flags"].get("ACK")]
        c(len(starts) == 1 and len(syns) == 1 and len(synack) == 1 and synack[0].get("is_reply"),
          "tcp4 %d on %s: one START, one SYN, one SYN-ACK reply event (%d, %d, %d)" %
          (port, ifname, len(starts), len(syns), len(synack)))
PY
cat "$tmp/events.checks"
add_checks "$tmp/events.checks"

inr "$build/flowctl" observe --last 1000 >"$tmp/ctl.txt" 2>&1
check "flowctl compact output shows a TCP connection" \
	grep -q '10\.200\.1\.2:40001 ([^)]*) -> 10\.200\.2\.2:8080 ([^)]*)' "$tmp/ctl.txt"
check "flowctl compact output shows IPv6 as [addr]:port" \
	grep -q '\[fd00:200:1::2\]:41001 ([^)]*) -> \[fd00:200:2::2\]:8080' "$tmp/ctl.txt"
check "flowctl compact output shows the verdict" grep -q 'FORWARDED' "$tmp/ctl.txt"

kill -INT "$follow_pid"
for _ in $(seq 50); do kill -0 "$follow_pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$follow_pid" 2>/dev/null
wait "$follow_pid"
rc=$?
check "flowctl observe --follow exits 0 on SIGINT (rc $rc)" test "$rc" -eq 0
check "the follower saw the connections live (SYN of 10.200.1.2:40005)" python3 -c '
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line).get("flow", {})
    t = f.get("l4", {}).get("TCP", {})
    if f.get("IP", {}).get("source") == "10.200.1.2" and t.get("source_port") == 40005 \
            and t.get("flags", {}).get("SYN") and not t.get("flags", {}).get("ACK"):
        sys.exit(0)
sys.exit(1)' "$tmp/follow.json"

inr python3 - >"$tmp/status.checks" <<'PY'
import flowscope_api, json, urllib.request
st = json.load(urllib.request.urlopen("http://127.0.0.1:12000/api/v1/status", timeout=5))
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
c(st.get("lost_records") == 0, "no lost records (%s)" % st.get("lost_records"))
c(st.get("seen_flows", 0) >= 2 * 17, "seen_flows counts every flow (%s)" % st.get("seen_flows"))
c(st.get("decode_errors") == 0, "no decode errors (%s)" % st.get("decode_errors"))
PY
cat "$tmp/status.checks"
add_checks "$tmp/status.checks"

inr python3 - >"$tmp/bad.checks" <<'PY'
import flowscope_api, urllib.request, urllib.error, json
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
for q in ("last=-1", "last=abc", "follow=maybe", "format=xml", "bogus=1"):
    try:
        urllib.request.urlopen("http://127.0.0.1:12000/api/v1/flows?" + q, timeout=5)
        c(False, "?%s is rejected" % q)
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        c(e.code == 400 and "error" in body, "?%s gets 400 with a JSON error" % q)
PY
cat "$tmp/bad.checks"
add_checks "$tmp/bad.checks"

# SIGTERM: flowd exits 0 and leaves no filter or clsact qdisc behind.
kill -TERM "$flowd_pid"
for _ in $(seq 50); do kill -0 "$flowd_pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$flowd_pid" 2>/dev/null
wait "$flowd_pid"
rc=$?
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
for dev in "${P}rc" "${P}rs"; do
	check "no tc filter left on $dev ingress" test -z "$(inr tc filter show dev "$dev" ingress)"
	check "no tc filter left on $dev egress" test -z "$(inr tc filter show dev "$dev" egress)"
	check "no clsact qdisc left on $dev" sh -c "! ip netns exec $R tc qdisc show dev $dev | grep -q clsact"
done
if [ "$failed" -gt 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out"
	echo "--- second flowd output"
	cat "$tmp/flowd2.out"
fi
finish
