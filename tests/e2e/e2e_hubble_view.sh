#!/bin/bash
# What a Hubble user sees: a client and a server in network namespaces routed through a third
# where flowd watches both veths with an identity file and a node label. Known traffic (a TCP
# exchange, a refused port, an nftables-dropped port, a ping, a UDP datagram, a DNS query to a
# resolver of the test's own) is then read back by an independent client generated from our
# protos at test time (tests/e2e/hubble_view.py), which checks every column Hubble's printer
# uses (type, observation point, verdict, drop reason, summary, identities, reply arrow, order,
# uuids) and the API around them (field_mask, per_flow, event_type filters, refusals,
# GetAgentEvents, GetNamespaces, the server version header), and compares flowctl's compact
# output with Hubble's printer rules applied to the same events.
# Usage: tests/e2e/e2e_hubble_view.sh BUILD_DIR. Needs root; only touches namespaces it creates.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3 # Debian's: python3-grpcio and python3-protobuf live there
. "$here/lib.sh"
need_root e2e_hubble_view "network namespaces, BPF"

P="fsh$(printf '%05d' $(($$ % 100000)))"
C=${P}c R=${P}r S=${P}s
for ns in $(ip netns list | awk '{print $1}' | grep -E '^fsh[0-9]{5}[crs]$'); do
	pid_of_ns=${ns:3:5}
	kill -0 "$((10#$pid_of_ns))" 2>/dev/null && [ "$((10#$pid_of_ns))" != "$$" ] && continue
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
done
tmp=$(mktemp -d)
cleanup() {
	for ns in $C $R $S; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
finish() {
	echo "e2e_hubble_view: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

mkdir -p "$tmp/stubs"
if ! $py -m grpc_tools.protoc -I"$here/../../proto" -I/usr/include --python_out="$tmp/stubs" \
	--grpc_python_out="$tmp/stubs" "$here"/../../proto/*.proto; then
	fail "Python stubs generated from proto/"
	finish
fi

set -e
for ns in $C $R $S; do ip netns add "$ns"; done
ip link add "${P}c0" netns "$C" type veth peer name "${P}rc" netns "$R"
ip link add "${P}s0" netns "$S" type veth peer name "${P}rs" netns "$R"
for ns in $C $R $S; do ip -n "$ns" link set lo up; done
ip -n "$C" addr add 10.200.1.2/24 dev "${P}c0"
ip -n "$C" link set "${P}c0" up
ip -n "$C" route add default via 10.200.1.1
ip -n "$S" addr add 10.200.2.2/24 dev "${P}s0"
ip -n "$S" link set "${P}s0" up
ip -n "$S" route add default via 10.200.2.1
ip -n "$R" addr add 10.200.1.1/24 dev "${P}rc"
ip -n "$R" addr add 10.200.2.1/24 dev "${P}rs"
ip -n "$R" link set "${P}rc" up
ip -n "$R" link set "${P}rs" up
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
# IPv4 only: no router solicitations or DAD noise in the flows this test reads.
for ns in $C $R $S; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip netns exec "$S" nft -f - <<'EOF'
table inet fsh {
	chain in {
		type filter hook input priority 0;
		tcp dport 7070 drop
	}
}
EOF
set +e

cat >"$tmp/ids.yaml" <<'EOF'
identities:
  - ip: 10.200.1.2
    namespace: shop
    pod: client-1
    labels: {app: client}
  - cidr: 10.200.2.0/24
    namespace: shop
    pod: web-1
    service: web
    labels: {app: web}
    workload: {name: web, kind: Deployment}
EOF

# Servers: TCP (answers and closes), UDP (reads), DNS.
ip netns exec "$S" $py - >/dev/null 2>&1 <<'EOF' &
import socket, threading
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.200.2.2", 8080)); s.listen(8)
    while True:
        c, _ = s.accept(); c.recv(4096); c.sendall(b"y" * 300); c.close()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.200.2.2", 5000))
    while True:
        u.recvfrom(2048)
threading.Thread(target=udp, daemon=True).start()
tcp()
EOF
ip netns exec "$S" $py "$here/resolver.py" 10.200.2.2 53 web.shop.test=10.200.2.2 >/dev/null 2>&1 &

ip netns exec "$R" "$build/flowd" --history-dir "$tmp/history-1" -i "${P}rc" -i "${P}rs" --identities "$tmp/ids.yaml" \
	--node-name hv --node-label zone=test --sweep-interval 200ms --idle-timeout 2s \
	>"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$R" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
check "flowd starts" kill -0 "$flowd_pid"

# The traffic, one kind at a time so that events are apart in time.
ip netns exec "$C" $py - <<'EOF'
import socket, struct, time
def tcp(sport, dport, timeout=2):
    c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("10.200.1.2", sport)); c.settimeout(timeout)
    try:
        c.connect(("10.200.2.2", dport)); c.sendall(b"x" * 100); c.recv(4096)
    except OSError:
        pass
    c.close(); time.sleep(0.3)
tcp(47001, 8080)
tcp(47002, 9)
tcp(47003, 7070, timeout=1.5)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.200.1.2", 47004))
u.sendto(b"hello", ("10.200.2.2", 5000)); time.sleep(0.3)
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); d.bind(("10.200.1.2", 47005)); d.settimeout(2)
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x03web\x04shop\x04test\x00" + struct.pack(">HH", 1, 1)
d.sendto(q, ("10.200.2.2", 53)); d.recvfrom(512); time.sleep(0.3)
EOF
ip netns exec "$C" ping -c 1 -W 1 10.200.2.2 >/dev/null
check "ping through the router answers" test $? -eq 0
sleep 3 # the UDP and ICMP flows end (idle 2s), the closed TCP one too

ip netns exec "$R" $py "$here/hubble_view.py" "$tmp/stubs" "$build/flowctl" >"$tmp/checks" 2>&1
cat "$tmp/checks"
add_checks "$tmp/checks"
grep -q '^ok - \|^FAIL - ' "$tmp/checks" || fail "hubble_view.py ran"

kill -TERM "$flowd_pid"
wait "$flowd_pid"
check "flowd exits 0 on SIGTERM" test $? -eq 0
[ "$failed" -eq 0 ] || sed 's/^/flowd: /' "$tmp/flowd.out"
finish
