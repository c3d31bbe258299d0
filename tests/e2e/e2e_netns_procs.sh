#!/bin/bash
# End-to-end: processes and containers for sockets in every network namespace of the host. A
# client namespace and two server namespaces are routed through a router namespace where flowd
# watches the veths. In the server namespaces: a TCP server (in a container-like cgroup) and a
# long-lived connection to it that both exist BEFORE flowd starts (named only by the /proc
# scan), a TCP server started after flowd, the same port served in both server namespaces by
# two processes, and UDP servers on one wildcard port in both (in another container-like
# cgroup), which only a rescan can name. Every flow must carry its own process (pid and comm)
# and container id, and no flow event another one's.
# Usage: tests/e2e/e2e_netns_procs.sh BUILD_DIR. Needs root; only touches what it creates.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
finish() {
	echo "e2e_netns_procs: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

need_root e2e_netns_procs "network namespaces, cgroups, BPF"

# Unique per run, short enough for interface names; leftovers of dead runs are removed first.
P="fsp$(printf '%05d' $(($$ % 100000)))"
C=${P}c R=${P}r S=${P}s T=${P}t
# Subnets of this run's own (10.200.N.0/24, N from the pid): a UDP socket bound to the wildcard
# is named only for addresses that one namespace alone has, so another test's namespaces with
# the same addresses would make ours nobody's.
N=$((100 + $$ % 37 * 4))
CN=10.200.$N SN=10.200.$((N + 1)) TN=10.200.$((N + 2))
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
for ns in $(ip netns list | awk '{print $1}' | grep -E '^fsp[0-9]{5}[crst]$'); do
	old=$((10#${ns:3:5}))
	kill -0 "$old" 2>/dev/null && [ "$old" != "$$" ] && continue
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
done
for d in "$cg2"/flowscope-test-*; do
	[ -d "$d" ] || continue
	old=${d##*flowscope-test-}
	kill -0 "$old" 2>/dev/null && [ "$old" != "$$" ] && continue
	for sub in "$d"/*/; do [ -d "$sub" ] && rmdir "$sub" 2>/dev/null; done
	rmdir "$d" 2>/dev/null
done

tmp=$(mktemp -d)
cgroot="$cg2/flowscope-test-$$"
cid1=$(printf '%s-1' "$P" | sha256sum | cut -c1-64)
cid2=$(printf '%s-2' "$P" | sha256sum | cut -c1-64)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for ns in $C $R $S $T; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in $C $R $S $T; do ip netns del "$ns" 2>/dev/null; done
	for d in "$cgroot"/*/; do
		[ -d "$d" ] || continue
		xargs -r kill -9 <"$d/cgroup.procs" 2>/dev/null
		for _ in $(seq 20); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
	done
	rmdir "$cgroot" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

set -e
for ns in $C $R $S $T; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add "${P}c0" netns "$C" type veth peer name "${P}rc" netns "$R"
ip link add "${P}s0" netns "$S" type veth peer name "${P}rs" netns "$R"
ip link add "${P}t0" netns "$T" type veth peer name "${P}rt" netns "$R"
ip -n "$C" addr add $CN.2/24 dev "${P}c0"
ip -n "$S" addr add $SN.2/24 dev "${P}s0"
ip -n "$T" addr add $TN.2/24 dev "${P}t0"
ip -n "$R" addr add $CN.1/24 dev "${P}rc"
ip -n "$R" addr add $SN.1/24 dev "${P}rs"
ip -n "$R" addr add $TN.1/24 dev "${P}rt"
ip -n "$C" link set "${P}c0" up
ip -n "$S" link set "${P}s0" up
ip -n "$T" link set "${P}t0" up
ip -n "$R" link set "${P}rc" up
ip -n "$R" link set "${P}rs" up
ip -n "$R" link set "${P}rt" up
ip -n "$C" route add default via $CN.1
ip -n "$S" route add default via $SN.1
ip -n "$T" route add default via $TN.1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
mkdir -p "$cgroot/docker-$cid1.scope" "$cgroot/docker-$cid2.scope"
set +e

# The programs: servers and clients named with prctl, so comm tells them apart.
cat >"$tmp/peer.py" <<'PY'
import ctypes, os, socket, sys, threading, time
mode, name = sys.argv[1], sys.argv[2]
ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)
def tcp_server(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, int(port))); s.listen(16)
    print("ready", os.getpid(), flush=True)
    def serve(c):
        while c.recv(65536): pass
        c.sendall(b"r" * 3000); c.close()
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def udp_server(addr, port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((addr, int(port)))
    print("ready", os.getpid(), flush=True)
    while True:
        d, a = u.recvfrom(2048); u.sendto(b"u" * 100, a)
def tcp_client(dst, port, sport, go=None):
    c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("0.0.0.0", int(sport))); c.connect((dst, int(port)))
    print("connected", os.getpid(), flush=True)
    while go and not os.path.exists(go): time.sleep(0.05)  # long-lived: wait for the signal
    c.sendall(b"q" * 5000); c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
    c.close()
def udp_client(dst, port, sport, seconds):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", int(sport)))
    u.settimeout(1); n = 0
    end = time.time() + float(seconds)
    while time.time() < end:
        u.sendto(b"x" * 50, (dst, int(port)))
        try: u.recv(2048); n += 1
        except socket.timeout: pass
        time.sleep(0.25)
    print("answers", n, flush=True)
{"tcp-server": tcp_server, "udp-server": udp_server, "tcp-client": tcp_client,
 "udp-client": udp_client}[mode](*sys.argv[3:])
PY

# start NAME NS CGROUP MODE ARGS...: a peer in namespace NS (and cgroup CGROUP if not "-"), its
# output in $tmp/NAME; waits for its first line.
start() {
	local name=$1 ns=$2 cg=$3
	shift 3
	if [ "$cg" = - ]; then
		ip netns exec "$ns" python3 "$tmp/peer.py" "$1" "$name" "${@:2}" >"$tmp/$name" 2>&1 &
	else
		# The cgroup is joined before entering the namespace (whose /sys hides the hierarchy).
		sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cgroot/$cg" \
			ip netns exec "$ns" python3 "$tmp/peer.py" "$1" "$name" "${@:2}" \
			>"$tmp/$name" 2>&1 &
	fi
	pids+=($!)
	for _ in $(seq 50); do [ -s "$tmp/$name" ] && break; sleep 0.1; done
	awk 'NR == 1 { print $2 }' "$tmp/$name"
}

# Before flowd: a server in a container and a connection to it that stays open.
old_pid=$(start fsold "$S" "docker-$cid1.scope" tcp-server $SN.2 8080)
long_pid=$(start fslong "$C" - tcp-client $SN.2 8080 41000 "$tmp/go")
check "server and long-lived connection up before flowd (pids $old_pid $long_pid)" \
	test -n "$old_pid" -a -n "$long_pid"

ip netns exec "$R" "$build/flowd" --history-dir "$tmp/history-1" -i "${P}rc" -i "${P}rs" -i "${P}rt" --sweep-interval 200ms \
	--update-interval 1s --idle-timeout 3s --node-name procs >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
for _ in $(seq 100); do
	ip netns exec "$R" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
check "flowd starts" ip netns exec "$R" "$build/flowctl" status
check "flowd logged its first /proc scan" grep -q "/proc scan:" "$tmp/flowd.out"
grep "/proc scan:" "$tmp/flowd.out" | sed 's/^/  /'

# After flowd: another server, the same port in both server namespaces, UDP servers on one
# wildcard port in both (T's in a container).
new_pid=$(start fsnew "$S" - tcp-server 0.0.0.0 8081)
sames_pid=$(start fssame-s "$S" - tcp-server 0.0.0.0 9000)
samet_pid=$(start fssame-t "$T" - tcp-server 0.0.0.0 9000)
udps_pid=$(start fsudp-s "$S" - udp-server 0.0.0.0 5300)
udpt_pid=$(start fsudp-t "$T" "docker-$cid2.scope" udp-server 0.0.0.0 5300)
check "servers started after flowd are up" \
	test -n "$new_pid" -a -n "$sames_pid" -a -n "$samet_pid" -a -n "$udps_pid" -a -n "$udpt_pid"

cli() { ip netns exec "$C" python3 "$tmp/peer.py" "$@" >/dev/null; }
touch "$tmp/go" # the long-lived connection sends and closes
check "new connection to the server older than flowd" cli tcp-client fsc1 $SN.2 8080 41001
check "connection to the server started after flowd" cli tcp-client fsc2 $SN.2 8081 41002
check "connection to :9000 in the first server namespace" cli tcp-client fsc3 $SN.2 9000 41003
check "connection to :9000 in the second server namespace" cli tcp-client fsc4 $TN.2 9000 41004
# UDP for longer than the rescan wait (5 s after the start scan), so later events are named.
ip netns exec "$C" python3 "$tmp/peer.py" udp-client fsuc1 $SN.2 5300 42001 7 >"$tmp/u1" &
u1=$!
ip netns exec "$C" python3 "$tmp/peer.py" udp-client fsuc2 $TN.2 5300 42002 7 >"$tmp/u2" &
u2=$!
wait "$u1" "$u2"
check "UDP to both server namespaces answered" grep -q "answers [1-9]" "$tmp/u1" "$tmp/u2"
sleep 4.5 # idle timeout (3 s) and a few sweeps: the UDP flows end

ip netns exec "$R" "$build/flowctl" observe --all -o json >"$tmp/flows.json" 2>"$tmp/ctl.err"
check "flowctl observe -o json exits 0" test $? -eq 0
python3 - "$tmp/flows.json" "$cid1" "$cid2" "$old_pid" "$long_pid" "$new_pid" "$sames_pid" \
	"$samet_pid" "$udps_pid" "$udpt_pid" "$SN.2" "$TN.2" >"$tmp/checks" <<'PY'
import json, sys
cid1, cid2 = sys.argv[2], sys.argv[3]
old, long_, new, sames, samet, udps, udpt = (int(x) for x in sys.argv[4:11])
s2, t2 = sys.argv[11], sys.argv[12] # the two servers' addresses
flows = [json.loads(l)["flow"] for l in open(sys.argv[1]) if l.strip()]
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)

def view(f):
    """(src ip, sport, dst ip, dport, src process, dst process) oriented client -> server."""
    l4 = f.get("l4", {})
    p = l4.get("TCP") or l4.get("UDP") or {}
    ip = f.get("IP", {})
    v = [ip.get("source"), p.get("source_port"), ip.get("destination"),
         p.get("destination_port"), f.get("source_process"), f.get("destination_process")]
    if f.get("is_reply"):
        v = [v[2], v[3], v[0], v[1], v[5], v[4]]
    return v

def expect(what, sport, dport, dst, side, pid, comm, cid=""):
    evs = [view(f) for f in flows]
    evs = [e for e in evs if e[1] == sport and e[3] == dport and e[2] == dst]
    procs = [e[5 if side == "dst" else 4] for e in evs]
    named = [p for p in procs if p]
    c(len(evs) > 0, "%s: flow events seen (%d)" % (what, len(evs)))
    c(any(p.get("pid") == pid and p.get("comm") == comm for p in named),
      "%s: %s process %s/%d (%s)" % (what, side, comm, pid, named[-1:] or "none"))
    wrong = [p for p in named if p.get("pid") != pid or p.get("comm") != comm]
    c(not wrong, "%s: no event with another process (%s)" % (what, wrong[:1]))
    if cid is not None:
        c(all(p.get("container_id", "") == cid for p in named),
          "%s: %s container id %s (%s)" % (what, side, cid[:12] or '""',
                                           sorted({p.get("container_id", "") for p in named})))

expect("long-lived connection from before flowd", 41000, 8080, s2, "dst", old,
       "fsold", cid1)
expect("long-lived connection from before flowd", 41000, 8080, s2, "src", long_,
       "fslong", "")
expect("new connection to the server older than flowd", 41001, 8080, s2, "dst", old,
       "fsold", cid1)
expect("server started after flowd", 41002, 8081, s2, "dst", new, "fsnew", "")
expect(":9000 in the first server namespace", 41003, 9000, s2, "dst", sames,
       "fssame-s", "")
expect(":9000 in the second server namespace", 41004, 9000, t2, "dst", samet,
       "fssame-t", "")
expect("UDP to the first server namespace", 42001, 5300, s2, "dst", udps, "fsudp-s",
       "")
expect("UDP to the second server namespace (container)", 42002, 5300, t2, "dst",
       udpt, "fsudp-t", cid2)
PY
cat "$tmp/checks"
add_checks "$tmp/checks"

status() { ip netns exec "$R" python3 -c 'import flowscope_api, json, sys, urllib.request
print(json.load(urllib.request.urlopen("http://127.0.0.1:12000/api/v1/status"))[sys.argv[1]])' "$1"; }
n=$(status lost_records)
check "no lost records ($n)" test "$n" = 0

kill -TERM "$flowd_pid"
for _ in $(seq 50); do kill -0 "$flowd_pid" 2>/dev/null || break; sleep 0.1; done
wait "$flowd_pid"
rc=$?
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
if [ "$failed" -gt 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out"
fi
finish
