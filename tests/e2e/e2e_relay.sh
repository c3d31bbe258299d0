#!/bin/bash
# The cluster relay end to end: 16 agents (a real flowd each, small kernel maps and stores) in 16
# network namespaces, one relay following them over mutual TLS, real traffic between the nodes.
# Every node namespace has a data interface (eth0, on a bridge in the hub namespace, the only
# interface its flowd watches, so a connection between two nodes is seen once on each) and a
# management interface (mgmt0, on a second bridge, where the agent's gRPC and the test's control
# port listen, so what the relay and the test say is never a flow). The relay runs in the hub
# namespace with its default ports. tests/e2e/relay_node.py is each node's services and client;
# tests/e2e/relay_check.py, in the hub namespace, drives the traffic and checks what the relay
# serves (ground truth per observation point and node, time order and late events, cluster-wide
# --last/--first and since/until, flowctl list nodes, the Python client generated from proto/,
# an agent killed and restarted, the relay's connection cut by nftables and resumed, refusals
# and bad peers reported per node, the peers file reloaded); tests/e2e/relay_dashboard.mjs opens
# the relay's dashboard in Chromium.
# Usage: tests/e2e/e2e_relay.sh BUILD_DIR. Needs root; only touches namespaces it creates.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3 # Debian's: python3-grpcio and python3-protobuf live there
. "$here/lib.sh"
need_root e2e_relay "network namespaces, BPF"
started=$(date +%s)
N=16

P="fsr$(printf '%05d' $(($$ % 100000)))"
H=${P}h
for ns in $(ip netns list | awk '{print $1}' | grep -E '^fsr[0-9]{5}(h|n[0-9]+)$'); do
	owner=$((10#${ns:3:5}))
	kill -0 "$owner" 2>/dev/null && [ "$owner" != "$$" ] && continue
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
done
tmp=$(mktemp -d)
namespaces() {
	echo "$H"
	for i in $(seq "$N"); do echo "${P}n$i"; done
}
cleanup() {
	for ns in $(namespaces); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	for ns in $(namespaces); do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
finish() {
	echo "e2e_relay: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
name_of() { printf 'node-%02d' "$1"; }
data_of() { echo "10.200.1.$((10 + $1))"; }
mgmt_of() { echo "10.200.2.$((10 + $1))"; }

for f in flowd flowrelay flowctl; do
	[ -x "$build/$f" ] || {
		fail "$build/$f built"
		finish
	}
done
mkdir -p "$tmp/stubs"
if ! $py -m grpc_tools.protoc -I"$here/../../proto" -I/usr/include --python_out="$tmp/stubs" \
	--grpc_python_out="$tmp/stubs" "$here"/../../proto/*.proto; then
	fail "Python stubs generated from proto/"
	finish
fi

# Certificates: a CA, the agents' server certificate (one name for all of them, which the relay
# verifies with --peer-tls-server-name), the relay's client certificate, a CA nobody uses.
pki=$tmp/pki
mkdir -p "$pki"
(
	set -e
	cd "$pki"
	key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
	key ca.key
	openssl req -x509 -key ca.key -out ca.pem -days 2 -subj "/CN=fsr test CA" 2>/dev/null
	key other.key
	openssl req -x509 -key other.key -out other.pem -days 2 -subj "/CN=fsr other CA" 2>/dev/null
	key agent.key
	openssl req -new -key agent.key -out agent.csr -subj "/CN=flowd" 2>/dev/null
	printf 'subjectAltName=DNS:agents.fsr.test\nextendedKeyUsage=serverAuth\n' >agent.ext
	openssl x509 -req -in agent.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out agent.pem \
		-days 2 -extfile agent.ext 2>/dev/null
	key relay.key
	openssl req -new -key relay.key -out relay.csr -subj "/CN=flowrelay" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >relay.ext
	openssl x509 -req -in relay.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out relay.pem \
		-days 2 -extfile relay.ext 2>/dev/null
)
check "test certificates made with openssl" test -s "$pki/agent.pem" -a -s "$pki/relay.pem"

# The network: the hub with a data bridge (10.200.1.0/24) and a management bridge
# (10.200.2.0/24), node i at 10.200.1.(10+i) on eth0 and 10.200.2.(10+i) on mgmt0. IPv4 only: no
# router solicitations or DAD in the flows.
set -e
{
	echo "netns add $H"
	for i in $(seq "$N"); do echo "netns add ${P}n$i"; done
} | ip -b -
for ns in $(namespaces); do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
done
for i in $(seq "$N"); do
	echo "link add ${P}d$i netns $H type veth peer name eth0 netns ${P}n$i"
	echo "link add ${P}m$i netns $H type veth peer name mgmt0 netns ${P}n$i"
done | ip -b -
{
	echo "link set lo up"
	echo "link add ${P}bd type bridge"
	echo "link add ${P}bm type bridge"
	echo "link set ${P}bd up"
	echo "link set ${P}bm up"
	echo "addr add 10.200.1.1/24 dev ${P}bd"
	echo "addr add 10.200.2.1/24 dev ${P}bm"
	for i in $(seq "$N"); do
		echo "link set ${P}d$i master ${P}bd up"
		echo "link set ${P}m$i master ${P}bm up"
	done
} | ip -n "$H" -b -
for i in $(seq "$N"); do
	printf '%s\n' "link set lo up" "addr add $(data_of "$i")/24 dev eth0" \
		"addr add $(mgmt_of "$i")/24 dev mgmt0" "link set eth0 up" "link set mgmt0 up" |
		ip -n "${P}n$i" -b -
done
set +e
check "hub and $N node namespaces with their interfaces" \
	ip netns exec "${P}n1" ping -c 1 -W 2 "$(data_of "$N")" -q

# The identity file every agent reads: the first half of the nodes is namespace shop, the rest
# pay, each node its own service.
{
	echo "identities:"
	for i in $(seq "$N"); do
		ns=shop
		[ "$i" -gt $((N / 2)) ] && ns=pay
		printf '  - ip: %s\n    namespace: %s\n    pod: app-%02d\n    service: svc-%02d\n' \
			"$(data_of "$i")" "$ns" "$i" "$i"
		printf '    labels: {app: svc-%02d}\n' "$i"
	done
} >"$tmp/ids.yaml"

# The agents, each started by a script of its own (the driver restarts one with it).
agent_pids=()
for i in $(seq "$N"); do
	cat >"$tmp/agent-$i.sh" <<EOF
ip netns exec ${P}n$i "$build/flowd" --history-dir "$tmp/history-$i" -i eth0 --grpc $(mgmt_of "$i"):4244 --http 127.0.0.1:12000 \\
	--node-name $(name_of "$i") --kernel-max-flows 4096 --max-flows 8192 --max-events 16384 \\
	--sweep-interval 200ms --idle-timeout 2s --identities "$tmp/ids.yaml" \\
	--tls-cert "$pki/agent.pem" --tls-key "$pki/agent.key" --tls-client-ca "$pki/ca.pem" \\
	--tls-server-name agents.fsr.test >>"$tmp/flowd-$i.log" 2>&1 &
echo \$! >"$tmp/flowd-$i.pid"
EOF
	# Sourced, not run: the first flowd of each node is this shell's child (its exit status).
	. "$tmp/agent-$i.sh"
	agent_pids+=("$(cat "$tmp/flowd-$i.pid")")
done
for i in $(seq "$N"); do
	# In a subshell: not this shell's job (cleanup kills them with their namespace).
	(ip netns exec "${P}n$i" $py "$here/relay_node.py" "$(data_of "$i")" "$(mgmt_of "$i")" \
		>"$tmp/node-$i.out" 2>&1 &)
done
for i in $(seq "$N"); do echo "$(mgmt_of "$i"):4244"; done >"$tmp/peers"
ip netns exec "$H" "$build/flowrelay" --peers-file "$tmp/peers" --peer-tls-ca "$pki/ca.pem" \
	--peer-tls-cert "$pki/relay.pem" --peer-tls-key "$pki/relay.key" \
	--peer-tls-server-name agents.fsr.test >"$tmp/relay.log" 2>&1 &
relay_pid=$!

ready=0
for _ in $(seq 150); do
	ready=$(cat "$tmp"/node-*.out 2>/dev/null | grep -c '^ready')
	[ "$ready" -eq "$N" ] && break
	sleep 0.2
done
check "the $N nodes' services started ($ready)" test "$ready" -eq "$N"
alive=0
for p in "${agent_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "$N flowd agents running ($alive)" test "$alive" -eq "$N"
check "flowrelay running" kill -0 "$relay_pid"

{
	printf '{"stubs": "%s", "flowctl": "%s", "flowrelay": "%s", "web_dir": "%s",\n' \
		"$tmp/stubs" "$build/flowctl" "$build/flowrelay" "$build/web"
	printf ' "tmp": "%s", "grpc": "127.0.0.1:4245", "http": "127.0.0.1:12000", "lag_s": 1.0,\n' "$tmp"
	printf ' "control_port": 7000, "hub_mgmt": "10.200.2.1", "peers_file": "%s",\n' "$tmp/peers"
	printf ' "pki": {"ca": "%s", "other_ca": "%s", "cert": "%s", "key": "%s",' \
		"$pki/ca.pem" "$pki/other.pem" "$pki/relay.pem" "$pki/relay.key"
	printf ' "server_name": "agents.fsr.test"},\n "nodes": ['
	for i in $(seq "$N"); do
		[ "$i" -gt 1 ] && printf ','
		printf '\n  {"name": "%s", "data": "%s", "mgmt": "%s", "ns": "%s", "start": "%s", "pidfile": "%s"}' \
			"$(name_of "$i")" "$(data_of "$i")" "$(mgmt_of "$i")" "${P}n$i" "$tmp/agent-$i.sh" \
			"$tmp/flowd-$i.pid"
	done
	printf ']}\n'
} >"$tmp/config.json"

ip netns exec "$H" $py "$here/relay_check.py" "$tmp/config.json" 2>&1 | tee "$tmp/checks"
add_checks "$tmp/checks"
grep -q '^ok - \|^FAIL - ' "$tmp/checks" || fail "relay_check.py ran"

# The dashboard, served by the relay, while every node makes background traffic.
ip netns exec "$H" node "$here/relay_dashboard.mjs" "$(login_url "$tmp/relay.log")" \
	"$tmp/relay-dashboard.png" 2>&1 | tee "$tmp/dashboard"
add_checks "$tmp/dashboard"
grep -q '^ok - \|^FAIL - ' "$tmp/dashboard" || fail "relay_dashboard.mjs ran"

rss=$(awk '/^VmRSS/ {print $2}' "/proc/$relay_pid/status" 2>/dev/null)
echo "# relay RSS ${rss:-?} kB; agents: $(for p in "${agent_pids[@]}"; do
	awk '/^VmRSS/ {printf "%d ", $2 / 1024}' "/proc/$p/status" 2>/dev/null
done)MB"
check "flowrelay still running at the end" kill -0 "$relay_pid"
kill -TERM "$relay_pid"
wait "$relay_pid"
check "flowrelay exits 0 on SIGTERM" test $? -eq 0
bad=0
for p in "${agent_pids[@]}"; do
	kill -0 "$p" 2>/dev/null || continue # the one the driver killed
	kill -TERM "$p"
	wait "$p" || bad=$((bad + 1))
done
check "every agent exits 0 on SIGTERM ($bad did not)" test "$bad" -eq 0
took=$(($(date +%s) - started))
check "the whole test took under 180 s ($took s)" test "$took" -lt 180
if [ "$failed" -ne 0 ]; then
	sed 's/^/flowrelay: /' "$tmp/relay.log" | tail -40
	for f in "$tmp"/relay-*.log; do [ -f "$f" ] && sed "s|^|$(basename "$f"): |" "$f" | tail -8; done
	for i in $(seq "$N"); do grep -v '^flowd: /proc scan' "$tmp/flowd-$i.log" | sed "s/^/flowd-$i: /" | tail -5; done
fi
finish
