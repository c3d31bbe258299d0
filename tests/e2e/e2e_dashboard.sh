#!/bin/bash
# End-to-end dashboard test: a client and a server host in network namespaces joined by a veth,
# flowd in the client namespace on its veth and its loopback (where the browser talks to it)
# with an identity file (shop/client-1 -> shop/web-1, shop/late-1; a namespace "billing" with
# no traffic), continuous traffic (a TCP connection to 8080 every ~50 ms, UDP to 5353, once a
# second a connection to 9090 that an nftables rule in the server namespace drops, UDP over
# link-local 169.254.5.0/16 and to the multicast group 224.0.0.251, and, once the browser test
# asks for it, connections to a new server address), and Debian's chromium driven by
# tests/e2e/dashboard.mjs (playwright-core) against the dashboard flowd serves at "/": service
# map, flow table, flow details and filters from their values, the namespace picker, the noise
# toggles, a stable map layout, pause/resume, screenshot in BUILD_DIR/dashboard.png.
# Usage: tests/e2e/e2e_dashboard.sh BUILD_DIR. Needs root, nft, python3, node, chromium and
# web/node_modules (npm ci --prefix web; done here if missing).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$(dirname "$0")/lib.sh"
# Fails before the browser test ran: one failure, nothing else counted.
abort() {
	echo "FAIL - $*"
	echo "dashboard: 0 passed, 1 failed"
	exit 1
}
need_root dashboard "network namespaces, BPF"
build=$(cd "${1:-build}" 2>/dev/null && pwd) || abort "no build directory ${1:-build}"
[ -x "$build/flowd" ] || abort "no $build/flowd: build it first"
chromium=${CHROMIUM:-/usr/bin/chromium}
for tool in node python3 nft; do
	command -v "$tool" >/dev/null 2>&1 || abort "$tool is not installed"
done
[ -x "$chromium" ] || abort "$chromium is not installed"
if [ ! -f "$root/web/node_modules/playwright-core/package.json" ]; then
	echo "# web/node_modules missing: npm ci --prefix web"
	npm ci --prefix "$root/web" --no-audit --no-fund >/dev/null 2>&1 ||
		abort "npm ci --prefix web failed"
fi

P="fsd$(printf '%05d' $(($$ % 100000)))"
C=${P}c S=${P}s
tmp=$(mktemp -d)
pids=()
flowd_pid=
cleanup() {
	# flowd first and gently, so it detaches its probes; then everything else started here,
	# including whatever is still running inside this run's own namespaces (the browser).
	if [ -n "$flowd_pid" ] && kill -0 "$flowd_pid" 2>/dev/null; then
		kill -TERM "$flowd_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$flowd_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for ns in "$C" "$S"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	ip netns del "$C" 2>/dev/null
	ip netns del "$S" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
inc() { ip netns exec "$C" "$@"; }
ins() { ip netns exec "$S" "$@"; }

setup_net() {
	ip netns add "$C" &&
		ip netns add "$S" &&
		ip link add "${P}a" netns "$C" type veth peer name "${P}b" netns "$S" &&
		ip -n "$C" addr add 10.200.5.1/24 dev "${P}a" &&
		ip -n "$S" addr add 10.200.5.2/24 dev "${P}b" &&
		ip -n "$S" addr add 10.200.5.3/24 dev "${P}b" &&
		ip -n "$C" addr add 169.254.5.1/16 dev "${P}a" &&
		ip -n "$S" addr add 169.254.5.2/16 dev "${P}b" &&
		ip -n "$C" link set lo up &&
		ip -n "$S" link set lo up &&
		ip -n "$C" link set "${P}a" up &&
		ip -n "$S" link set "${P}b" up &&
		ip -n "$C" route add 224.0.0.0/4 dev "${P}a" &&
		ins nft add table inet "$P" &&
		ins nft add chain inet "$P" in '{ type filter hook input priority 0; }' &&
		ins nft add rule inet "$P" in tcp dport 9090 drop
}
setup_net >"$tmp/setup.out" 2>&1 || {
	cat "$tmp/setup.out"
	abort "could not set up the network namespaces"
}

cat >"$tmp/ids.yaml" <<'EOF'
identities:
  - ip: 10.200.5.2
    namespace: shop
    pod: web-1
    service: web
  - ip: 10.200.5.1
    namespace: shop
    pod: client-1
    service: client
  - ip: 10.200.5.3
    namespace: shop
    pod: late-1
    service: late
  - cidr: 10.201.0.0/16
    namespace: billing
EOF

# Server: TCP echo on 8080, UDP echo on 5353, on all its addresses (9090 is dropped before
# anything answers).
# Processes in the background are started with "ip netns exec" itself (not through a shell
# function), so that $! is their own pid.
ip netns exec "$S" python3 -c '
import socket, threading
def tcp_echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            c.sendall(d)
    except OSError: pass
    c.close()
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 8080)); s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_echo, args=(c,), daemon=True).start()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("", 5353))
    while True:
        d, a = u.recvfrom(65536); u.sendto(d, a)
threading.Thread(target=tcp, daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()' >"$tmp/server.out" 2>&1 &
pids+=($!)

cd "$root" || abort "no $root"
ip netns exec "$C" "$build/flowd" --history-dir "$tmp/history-2" -i "${P}a" -i lo --identities "$tmp/ids.yaml" --sweep-interval 200ms \
	>"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
http_get() { # PATH -> body on stdout, fails unless 200
	inc python3 -c 'import flowscope_api, sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:12000" + sys.argv[1], timeout=3)
sys.stdout.write(r.read().decode("utf-8", "replace"))' "$1" 2>/dev/null
}
up=0
for _ in $(seq 100); do
	http_get /healthz >/dev/null && up=1 && break
	kill -0 "$flowd_pid" 2>/dev/null || break
	sleep 0.1
done
if [ "$up" != 1 ]; then
	cat "$tmp/flowd.out"
	abort "flowd did not come up on 127.0.0.1:12000 in the client namespace"
fi
for _ in $(seq 50); do grep -q ready "$tmp/server.out" && break; sleep 0.1; done
grep -q ready "$tmp/server.out" || abort "the server did not start: $(cat "$tmp/server.out")"

# Client traffic for as long as the browser test runs (bounded: 400 s at most). Connections
# to the new address 10.200.5.3 start once the file $tmp/late exists (the browser test makes
# it, to see a node come to the map).
ip netns exec "$C" python3 -c '
import os, socket, sys, threading, time
end = time.time() + float(sys.argv[1])
late = sys.argv[2]
def tcp(addr, wait):
    while time.time() < end:
        if wait and not os.path.exists(late):
            time.sleep(0.2); continue
        try:
            c = socket.create_connection((addr, 8080), timeout=2)
            c.sendall(b"x" * 800); c.shutdown(socket.SHUT_WR)
            while c.recv(65536): pass
            c.close()
        except OSError: pass
        time.sleep(0.05 if not wait else 0.3)
def udp(addr, pause):
    while time.time() < end:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.5)
        try:
            u.sendto(b"q" * 120, (addr, 5353)); u.recv(2048)
        except OSError: pass
        u.close()
        time.sleep(pause)
def multicast():
    while time.time() < end:
        m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        try: m.sendto(b"m" * 60, ("224.0.0.251", 5354))
        except OSError: pass
        m.close()
        time.sleep(0.5)
def dropped():
    while time.time() < end:
        d = socket.socket(); d.settimeout(0.8)
        try: d.connect(("10.200.5.2", 9090))
        except OSError: pass
        d.close()
        time.sleep(0.2)
jobs = [(tcp, ("10.200.5.2", False)), (tcp, ("10.200.5.3", True)), (udp, ("10.200.5.2", 0.25)),
        (udp, ("169.254.5.2", 0.5)), (multicast, ()), (dropped, ())]
ts = [threading.Thread(target=f, args=a, daemon=True) for f, a in jobs]
for t in ts: t.start()
for t in ts: t.join()' 400 "$tmp/late" >"$tmp/client.out" 2>&1 &
pids+=($!)

# What flowd serves for the page.
index=$(http_get /)
check "flowd serves the dashboard at / (index.html)" grep -q 'id="graph"' <<<"$index"
check "flowd serves vendor/cytoscape.min.js" bash -c '[ "$(wc -c)" -gt 100000 ]' < <(http_get /vendor/cytoscape.min.js)
check "flowd serves app.js" bash -c '[ "$(wc -c)" -gt 1000 ]' < <(http_get /app.js)
sleep 2 # some flows and a drop or two before the page opens

exp='{"nodes": ["svc:shop/client", "svc:shop/web"],
  "edges": [["svc:shop/client", "svc:shop/web"]],
  "filter_ip": "10.200.5.2", "filter_port": "8080",
  "client_ip": "10.200.5.1", "client_node": "svc:shop/client",
  "namespaces": ["billing", "shop"], "namespace": "shop",
  "late_node": "svc:shop/late", "late_trigger": "'"$tmp/late"'",
  "link_local": ["169.254.5.1", "169.254.5.2", "224.0.0.251"], "iface": "'"${P}a"'"}'
rm -f "$build/dashboard.png"
# The page is opened at the login URL flowd printed, as an operator opens it: the token goes
# into a cookie and the address bar shows http://127.0.0.1:12000/.
inc env CHROMIUM="$chromium" timeout -k 5 330 node "$here/dashboard.mjs" "$(login_url "$tmp/flowd.out")" \
	"$build/dashboard.png" "$exp" 2>&1 | tee "$tmp/node.out" | grep --line-buffered -v '^dashboard: [0-9]* passed, [0-9]* failed'
rc=${PIPESTATUS[0]}
np=$(sed -n 's/^dashboard: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$tmp/node.out" | tail -n 1)
nf=$(sed -n 's/^dashboard: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$tmp/node.out" | tail -n 1)
if [ -z "$np" ] || [ -z "$nf" ]; then
	echo "FAIL - dashboard.mjs ended without its summary (exit $rc)"
	np=0
	nf=1
elif [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
	echo "FAIL - dashboard.mjs exited $rc"
	nf=1
fi
passed=$((passed + np))
failed=$((failed + nf))
check "flowd is still running" kill -0 "$flowd_pid"

if [ "$failed" -gt 0 ]; then
	echo "--- flowd output (last 40 lines)"
	tail -n 40 "$tmp/flowd.out"
fi
echo "dashboard: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
