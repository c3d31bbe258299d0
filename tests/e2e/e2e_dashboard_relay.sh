#!/bin/bash
# End-to-end test of the dashboard over the cluster relay: four agents (real flowd, each in its
# own network namespace: node1 shop/frontend, node2 shop/api, node3 data/db, node4 shop/batch)
# on one bridge in a hub namespace, traffic between them (frontend -> api:8080 and db:5432,
# api -> db:5432, db -> frontend:8080, batch -> api:8080), and flowrelay in the hub namespace
# following node1-3 (--peer) and its --peers-file (empty at first), serving the dashboard on the
# hub's loopback, where Debian's chromium runs tests/e2e/dashboard_relay.mjs (playwright-core):
# node picker, node column, node health in the header, a killed agent (kill -9) unavailable
# within 5 s and back after a restart (asked for by the browser test through $tmp/ctl), node4
# coming and going through the peers file, an edge's nodes, a synthetic 16-node load measured
# in the page; screenshot in BUILD_DIR/dashboard-relay.png.
# Usage: tests/e2e/e2e_dashboard_relay.sh BUILD_DIR. Needs root, python3, node, chromium and
# web/node_modules (npm ci --prefix web; done here if missing). Only touches namespaces it
# creates (fsw<pid><n>).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
abort() {
	echo "FAIL - $*"
	echo "dashboard_relay: 0 passed, 1 failed"
	exit 1
}
need_root dashboard_relay "network namespaces, BPF"
build=$(cd "${1:-build}" 2>/dev/null && pwd) || abort "no build directory ${1:-build}"
for b in flowd flowrelay; do
	[ -x "$build/$b" ] || abort "no $build/$b: build it first"
done
chromium=${CHROMIUM:-/usr/bin/chromium}
for tool in node python3; do
	command -v "$tool" >/dev/null 2>&1 || abort "$tool is not installed"
done
[ -x "$chromium" ] || abort "$chromium is not installed"
if [ ! -f "$root/web/node_modules/playwright-core/package.json" ]; then
	echo "# web/node_modules missing: npm ci --prefix web"
	npm ci --prefix "$root/web" --no-audit --no-fund >/dev/null 2>&1 ||
		abort "npm ci --prefix web failed"
fi

P="fsw$(printf '%05d' $(($$ % 100000)))"
H=${P}0 # the hub: the bridge, the relay, the browser
NODES=4
tmp=$(mktemp -d)
mkdir -p "$tmp/ctl"
pids=()
cleanup() {
	# Agents first and gently (they detach their probes), then everything else started here,
	# including whatever still runs inside this run's namespaces (the browser, restarted agents).
	for i in $(seq "$NODES"); do
		[ -f "$tmp/agent$i.pid" ] && kill -TERM "$(cat "$tmp/agent$i.pid")" 2>/dev/null
	done
	for _ in $(seq 30); do
		alive=0
		for i in $(seq "$NODES"); do
			[ -f "$tmp/agent$i.pid" ] && kill -0 "$(cat "$tmp/agent$i.pid")" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for ns in "$H" $(seq -f "$P%g" 1 "$NODES"); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

setup_net() {
	ip netns add "$H" &&
		ip -n "$H" link set lo up &&
		ip netns exec "$H" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
		ip netns exec "$H" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
		ip -n "$H" link add br0 type bridge &&
		ip -n "$H" addr add 10.210.0.254/24 dev br0 &&
		ip -n "$H" link set br0 up || return 1
	for i in $(seq "$NODES"); do
		ip netns add "$P$i" &&
			ip -n "$P$i" link set lo up &&
			ip netns exec "$P$i" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
			ip netns exec "$P$i" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
			ip link add "${P}a$i" netns "$P$i" type veth peer name "${P}b$i" netns "$H" &&
			ip -n "$H" link set "${P}b$i" master br0 &&
			ip -n "$H" link set "${P}b$i" up &&
			ip -n "$P$i" addr add "10.210.0.$i/24" dev "${P}a$i" &&
			ip -n "$P$i" link set "${P}a$i" up || return 1
	done
}
setup_net >"$tmp/setup.out" 2>&1 || {
	cat "$tmp/setup.out"
	abort "could not set up the network namespaces"
}

cat >"$tmp/ids.yaml" <<'EOF'
identities:
  - ip: 10.210.0.1
    namespace: shop
    pod: frontend-1
    service: frontend
  - ip: 10.210.0.2
    namespace: shop
    pod: api-1
    service: api
  - ip: 10.210.0.3
    namespace: data
    pod: db-1
    service: db
  - ip: 10.210.0.4
    namespace: shop
    pod: batch-1
    service: batch
EOF

cd "$root" || abort "no $root"
# An agent: its own veth, the cluster's identities, small maps (four of them on one machine).
start_agent() { # N
	ip netns exec "$P$1" "$build/flowd" --history-dir "$tmp/history-$1" -i "${P}a$1" --grpc 0.0.0.0:4244 --insecure-listen --advertise "10.210.0.$1:4244" \
		--node-name "node$1" --identities "$tmp/ids.yaml" --sweep-interval 200ms \
		--kernel-max-flows 8192 --max-flows 16384 --max-events 16384 >>"$tmp/agent$1.out" 2>&1 &
	echo $! >"$tmp/agent$1.pid"
}
for i in $(seq "$NODES"); do start_agent "$i"; done

# Servers and clients in every node, for as long as the test runs (400 s at most).
for i in $(seq "$NODES"); do
	ip netns exec "$P$i" python3 -c '
import socket, sys, threading, time
me, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            c.sendall(d)
    except OSError: pass
    c.close()
def server(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port)); s.listen(128)
    while True:
        c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()
def client(addr, port, pause):
    while time.time() < end:
        try:
            c = socket.create_connection((addr, port), timeout=2)
            c.sendall(b"x" * 500); c.shutdown(socket.SHUT_WR)
            while c.recv(65536): pass
            c.close()
        except OSError: pass
        time.sleep(pause)
servers = {1: [8080], 2: [8080], 3: [5432], 4: []}
plan = {1: [("10.210.0.2", 8080, 0.25), ("10.210.0.3", 5432, 1.0)], 2: [("10.210.0.3", 5432, 0.4)],
        3: [("10.210.0.1", 8080, 1.5)], 4: [("10.210.0.2", 8080, 0.5)]}
for p in servers[me]:
    threading.Thread(target=server, args=(p,), daemon=True).start()
time.sleep(0.5)
ts = [threading.Thread(target=client, args=a, daemon=True) for a in plan[me]]
for t in ts: t.start()
time.sleep(max(0, end - time.time()))' "$i" 400 >"$tmp/traffic$i.out" 2>&1 &
	pids+=($!)
done

: >"$tmp/peers"
start_relay() { # its pid in $tmp/relay.pid (the browser test asks for a restart)
	ip netns exec "$H" "$build/flowrelay" --peer 10.210.0.1:4244 --peer 10.210.0.2:4244 \
		--peer 10.210.0.3:4244 --peers-file "$tmp/peers" --http 127.0.0.1:12000 \
		--grpc 127.0.0.1:4245 >>"$tmp/relay.out" 2>&1 &
	echo $! >"$tmp/relay.pid"
}
start_relay
relay_pid=$(cat "$tmp/relay.pid")
pids+=("$relay_pid")
http_get() { # PATH -> body on stdout, fails unless 200
	ip netns exec "$H" python3 -c 'import flowscope_api, sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:12000" + sys.argv[1], timeout=3)
sys.stdout.write(r.read().decode("utf-8", "replace"))' "$1" 2>/dev/null
}
up=0
for _ in $(seq 100); do
	http_get /api/v1/nodes >/dev/null && up=1 && break
	kill -0 "$relay_pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$up" != 1 ]; then
	cat "$tmp/relay.out"
	abort "flowrelay did not come up on 127.0.0.1:12000 in the hub namespace"
fi
connected=0
for _ in $(seq 100); do
	connected=$(http_get /api/v1/nodes | grep -o '"state":"CONNECTED"' | wc -l)
	[ "$connected" -ge 3 ] && break
	sleep 0.2
done
check "the relay connects to the 3 agents ($connected connected)" [ "$connected" -ge 3 ]
check "the relay serves the dashboard at /" grep -q 'id="graph"' < <(http_get /)
check "the relay serves nodes.js" grep -q 'api/v1/nodes' < <(http_get /nodes.js; http_get /app.js)

# What the browser test asks for: kill -9 of an agent, its restart, a restart of the relay.
(
	while kill -0 $$ 2>/dev/null; do
		for f in "$tmp/ctl"/*.req; do
			[ -e "$f" ] || continue
			req=$(basename "$f" .req)
			rm -f "$f"
			i=${req##*node}
			case $req in
			kill-node[0-9]*) kill -KILL "$(cat "$tmp/agent$i.pid")" ;;
			restart-node[0-9]*) start_agent "$i" ;;
			restart-relay)
				kill -TERM "$(cat "$tmp/relay.pid")"
				while kill -0 "$(cat "$tmp/relay.pid")" 2>/dev/null; do sleep 0.05; done
				start_relay
				;;
			esac
			echo "$req" >>"$tmp/ctl.log"
			: >"$tmp/ctl/$req.done"
		done
		sleep 0.05
	done
) &
pids+=($!)
sleep 2 # flows of every node before the page opens

exp='{"nodes": ["node1", "node2", "node3"],
  "services": {"node1": "svc:shop/frontend", "node2": "svc:shop/api", "node3": "svc:data/db", "node4": "svc:shop/batch"},
  "edge": ["svc:shop/frontend", "svc:shop/api"], "edge_nodes": ["node1", "node2"],
  "victim": "node2", "ctl": "'"$tmp/ctl"'",
  "peers_file": "'"$tmp/peers"'", "extra": {"name": "node4", "address": "10.210.0.4:4244"},
  "web_dir": "'"$build/web"'", "load": {"nodes": 16, "rate": '"${LOAD_RATE:-4000}"', "seconds": 10}}'
rm -f "$build/dashboard-relay.png"
ip netns exec "$H" env CHROMIUM="$chromium" timeout -k 5 330 node "$here/dashboard_relay.mjs" "$(login_url "$tmp/relay.out")" \
	"$build/dashboard-relay.png" "$exp" 2>&1 | tee "$tmp/node.out" |
	grep --line-buffered -v '^dashboard_relay: [0-9]* passed, [0-9]* failed'
rc=${PIPESTATUS[0]}
np=$(sed -n 's/^dashboard_relay: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$tmp/node.out" | tail -n 1)
nf=$(sed -n 's/^dashboard_relay: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$tmp/node.out" | tail -n 1)
if [ -z "$np" ] || [ -z "$nf" ]; then
	echo "FAIL - dashboard_relay.mjs ended without its summary (exit $rc)"
	np=0
	nf=1
elif [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
	echo "FAIL - dashboard_relay.mjs exited $rc"
	nf=1
fi
passed=$((passed + np))
failed=$((failed + nf))
relay_pid=$(cat "$tmp/relay.pid")
check "flowrelay is still running" kill -0 "$relay_pid"

if [ "$failed" -gt 0 ]; then
	echo "--- flowrelay output (last 30 lines)"
	tail -n 30 "$tmp/relay.out"
	echo "--- /api/v1/nodes"
	http_get /api/v1/nodes
	echo
fi
echo "dashboard_relay: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
