#!/bin/bash
# End-to-end: what counts as a drop (collector/enrich/drop_reason.c), with real traffic. A client
# and a server host in network namespaces, routed through a third where flowd watches both veths
# and lo. Healthy traffic of every kind (TCP with a normal close, aborts by RST, a server that
# stops reading while the client sends, UDP, ping through raw and ICMP datagram sockets, DNS,
# loopback) must never show a DROPPED verdict nor move hubble_drop_total, a refused TCP or UDP
# port must show as the refusal it is (the RST), while the frees it skipped are counted in
# flowscope_kernel_frees_ignored_total; then real drops (an nftables rule, a full socket receive
# buffer, a bad UDP checksum) must show with their kernel reason and Hubble description.
# Usage: tests/e2e/e2e_drops.sh BUILD_DIR. Needs root; only touches namespaces it creates.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"
finish() {
	echo "e2e_drops: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

need_root e2e_drops "network namespaces, BPF, nftables"
for tool in nft ping python3 curl promtool; do
	command -v "$tool" >/dev/null || {
		fail "$tool is installed (needed to run)"
		finish
	}
done

# Unique per run; leftovers of an earlier run of this prefix family whose shell is gone go first.
P="fsk$(printf '%05d' $(($$ % 100000)))"
C=${P}c R=${P}r S=${P}s
for ns in $(ip netns list | awk '{print $1}' | grep -E '^fsk[0-9]{5}[crs]$'); do
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

inc() { ip netns exec "$C" "$@"; }
inr() { ip netns exec "$R" "$@"; }
ins() { ip netns exec "$S" "$@"; }
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
# The server host lets every group open ICMP datagram ("ping") sockets; the client keeps the
# default (none), so its `ping` uses a raw socket.
ins sysctl -qw net.ipv4.ping_group_range="0 2147483647"
set +e
# Links settle before flowd starts: a neighbour's duplicate address detection probe that reaches
# an interface still being brought up is freed for want of a route (IP_INNOROUTES), a real drop
# of interface bring-up, not of the traffic this test is about.
for _ in $(seq 50); do
	[ -z "$(for ns in $C $R $S; do ip -n "$ns" -6 addr show tentative; done)" ] && break
	sleep 0.1
done
sleep 0.5

# The traffic, as small commands run inside the namespaces.
cat >"$tmp/t.py" <<'PY'
import os, socket, struct, sys, time

def fam(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET

def listen(addr, port):
    s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    print("ready", flush=True)
    return s

def tcp_server(addr, port, mode):
    s = listen(addr, port)
    while True:
        c, _ = s.accept()
        if mode == "normal":  # read the request to EOF, answer, close
            while c.recv(65536):
                pass
            c.sendall(b"r" * 3000)
            c.close()
        elif mode == "send":  # talk until the client goes away
            try:
                for _ in range(200):
                    c.send(b"s" * 4096)
                    time.sleep(0.005)
            except OSError:
                pass
            c.close()
        elif mode == "shutdown":  # no more reading or writing, socket kept open
            c.shutdown(socket.SHUT_RDWR)
            time.sleep(2)
            c.close()
        elif mode == "close":
            c.close()

def connect(addr, port, sport):
    s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if ":" in addr else "0.0.0.0", sport))
    s.settimeout(5)
    s.connect((addr, port))
    return s

def tcp_client(addr, port, sport, mode):
    if mode == "refused":
        try:
            connect(addr, port, sport)
        except ConnectionRefusedError:
            return
        sys.exit("connection to a closed port was accepted")
    if mode == "dropped":  # the SYN is dropped: no answer at all
        try:
            s = socket.socket(fam(addr), socket.SOCK_STREAM)
            s.bind(("0.0.0.0", sport))
            s.settimeout(1.5)
            s.connect((addr, port))
        except (socket.timeout, TimeoutError):
            return
        sys.exit("connection through the drop rule succeeded")
    s = connect(addr, port, sport)
    if mode == "normal":
        s.sendall(b"q" * 2000)
        s.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
        s.close()
        if got != 3000:
            sys.exit("got %d reply bytes, want 3000" % got)
    elif mode == "linger0":  # abort: close with SO_LINGER 0 sends RST
        s.recv(100)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elif mode == "unread":  # abort: close with unread data sends RST
        time.sleep(0.2)
        s.close()
    elif mode == "keep-sending":  # the server stops reading; the client goes on
        time.sleep(0.2)
        try:
            for _ in range(20):
                s.send(b"k" * 1000, socket.MSG_NOSIGNAL)
                time.sleep(0.02)
        except OSError:
            pass
        s.close()

def udp(addr, sport):
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.bind(("::" if ":" in addr else "0.0.0.0", sport))
    return s

def udp_closed(addr, port, sport):  # refused: answered by ICMP port unreachable
    s = udp(addr, sport)
    s.connect((addr, port))
    s.settimeout(1)
    refused = 0
    for _ in range(3):
        try:
            s.send(b"x")
            s.recv(100)
        except ConnectionRefusedError:
            refused += 1
        except socket.timeout:
            pass
    if not refused:
        sys.exit("no ICMP port unreachable came back")

def icmp_dgram(addr, n):  # an ICMP datagram socket (no raw socket, no root needed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s.settimeout(2)
    for i in range(n):
        s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, i) + b"fsd-ping", (addr, 0))
        d, _ = s.recvfrom(1500)
        if d[0] != 0:
            sys.exit("ICMP type %d, want an echo reply" % d[0])

def dns(addr, sport, name):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    s = udp(addr, sport)
    s.settimeout(2)
    s.sendto(q, (addr, 53))
    d, _ = s.recvfrom(512)
    if struct.unpack(">H", d[6:8])[0] != 1:
        sys.exit("no answer for %s" % name)

def udp_sink(addr, port):  # a socket with a tiny receive buffer that never reads
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.bind((addr, port))
    print("ready", flush=True)
    time.sleep(3600)

def udp_flood(addr, port, sport, n):
    s = udp(addr, sport)
    for _ in range(n):
        s.sendto(b"f" * 1000, (addr, port))

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff

def bad_csum(src, dst, sport, dport, n):  # IP_HDRINCL: a UDP datagram with a wrong checksum
    payload = b"bad checksum"
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x4242, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, udp_len)
    good = csum(pseudo + struct.pack("!HHHH", sport, dport, udp_len, 0) + payload) or 0xffff
    wrong = good ^ 0x5a5a or 1
    pkt = ip + struct.pack("!HHHH", sport, dport, udp_len, wrong) + payload
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for _ in range(n):
        s.sendto(pkt, (dst, 0))
        time.sleep(0.05)

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "tcp-server":
    tcp_server(a[0], int(a[1]), a[2])
elif cmd == "tcp-client":
    tcp_client(a[0], int(a[1]), int(a[2]), a[3])
elif cmd == "udp-closed":
    udp_closed(a[0], int(a[1]), int(a[2]))
elif cmd == "icmp-dgram":
    icmp_dgram(a[0], int(a[1]))
elif cmd == "dns":
    dns(a[0], int(a[1]), a[2])
elif cmd == "udp-sink":
    udp_sink(a[0], int(a[1]))
elif cmd == "udp-flood":
    udp_flood(a[0], int(a[1]), int(a[2]), int(a[3]))
elif cmd == "bad-csum":
    bad_csum(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
PY
tp=$tmp/t.py

# flowd in the router namespace, on both veths and on lo (its own API's traffic is loopback).
inr "$build/flowd" --history-dir "$tmp/history-1" -i "${P}rc" -i "${P}rs" -i lo --sweep-interval 200ms --node-name e2e \
	>"$tmp/flowd.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	inr "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done
check "flowd starts and answers status" inr "$build/flowctl" status
metrics() { inr curl -sf --max-time 5 -H "$(api_auth)" http://127.0.0.1:12000/metrics; }
metrics >"$tmp/m0.txt"
check "/metrics has the ignored-frees family" \
	grep -q '^# TYPE flowscope_kernel_frees_ignored_total counter' "$tmp/m0.txt"

# Servers.
server() { # NS FILE CMD...
	local ns=$1 f=$2
	shift 2
	ip netns exec "$ns" python3 "$@" >"$tmp/$f" 2>&1 &
	pids+=($!)
}
server "$S" s1 "$tp" tcp-server 10.200.2.2 8080 normal
server "$S" s2 "$tp" tcp-server fd00:200:2::2 8080 normal
server "$S" s3 "$tp" tcp-server 10.200.2.2 8081 send
server "$S" s4 "$tp" tcp-server 10.200.2.2 8082 shutdown
server "$S" s5 "$tp" tcp-server 10.200.2.2 8083 close
server "$S" s6 "$here/traffic.py" udp-server 10.200.2.2 5353 200
server "$S" s7 "$here/resolver.py" 10.200.2.2 53 svc.fsd.test=10.200.2.2
server "$R" s8 "$tp" tcp-server 127.0.0.1 18080 normal
server "$S" s9 "$tp" udp-sink 10.200.2.2 7000
for f in s1 s2 s3 s4 s5 s6 s7 s8 s9; do
	for _ in $(seq 50); do grep -q ready "$tmp/$f" && break; sleep 0.1; done
	grep -q ready "$tmp/$f" || fail "server $f is ready ($(cat "$tmp/$f"))"
done

# ---- healthy traffic and refusals ----
# A follower on the HTTP API, cut off while flows stream: the dashboard's SSE close.
inr timeout 2 curl -sN -H "$(api_auth)" "http://127.0.0.1:12000/api/v1/flows?follow=true" >/dev/null 2>&1 &
sse_pid=$!
check "TCP with a normal close (3 IPv4)" sh -c \
	"ip netns exec $C python3 $tp tcp-client 10.200.2.2 8080 43001 normal &&
	 ip netns exec $C python3 $tp tcp-client 10.200.2.2 8080 43002 normal &&
	 ip netns exec $C python3 $tp tcp-client 10.200.2.2 8080 43003 normal"
check "TCP with a normal close (IPv6)" inc python3 "$tp" tcp-client fd00:200:2::2 8080 43101 normal
check "TCP abort: SO_LINGER 0 close sends RST" inc python3 "$tp" tcp-client 10.200.2.2 8081 43011 linger0
check "TCP abort: close with unread data sends RST" \
	inc python3 "$tp" tcp-client 10.200.2.2 8081 43012 unread
check "server shuts down while the client sends (ABORT_ON_DATA)" \
	inc python3 "$tp" tcp-client 10.200.2.2 8082 43021 keep-sending
check "server closes while the client sends" \
	inc python3 "$tp" tcp-client 10.200.2.2 8083 43022 keep-sending
check "UDP request/response" inc python3 "$here/traffic.py" udp-client 10.200.2.2 5353 53000 100 200
check "ping through a raw socket (IPv4)" inc ping -q -c 3 -i 0.2 -W 2 10.200.2.2
check "ping through a raw socket (IPv6)" inc ping -6 -q -c 3 -i 0.2 -W 2 fd00:200:2::2
check "ping through an ICMP datagram socket" ins python3 "$tp" icmp-dgram 10.200.1.2 3
check "DNS to the resolver" inc python3 "$tp" dns 10.200.2.2 53010 svc.fsd.test
check "loopback TCP with a normal close" inr python3 "$tp" tcp-client 127.0.0.1 18080 43201 normal
check "loopback TCP to a closed port is refused" \
	inr python3 "$tp" tcp-client 127.0.0.1 18099 43202 refused
check "loopback UDP to a closed port is refused" inr python3 "$tp" udp-closed 127.0.0.1 18098 43203
check "loopback ping" inr ping -q -c 2 -i 0.2 -W 2 127.0.0.1
check "TCP to a closed port is refused" inc python3 "$tp" tcp-client 10.200.2.2 8099 43031 refused
check "UDP to a closed port is refused" inc python3 "$tp" udp-closed 10.200.2.2 9999 53031
wait "$sse_pid"
sleep 1.5 # a few sweeps: every flow reaches the store

flows() { # FILE: every flow event the HTTP API holds
	inr curl -sf --max-time 10 -H "$(api_auth)" "http://127.0.0.1:12000/api/v1/flows?last=100000" >"$1"
}
flows "$tmp/healthy.json"
metrics >"$tmp/m1.txt"
check "HTTP API returns the flows" test -s "$tmp/healthy.json"

# The checker: flows are matched by their two ends, whatever direction an event describes.
cat >"$tmp/check.py" <<'PY'
import json, re, sys

def c(ok, what):
    print(("ok - " if ok else "FAIL - ") + what)

def load(path):
    out = []
    for line in open(path):
        line = line.strip()
        if line:
            m = json.loads(line)
            if "flow" in m:
                out.append(m["flow"])
    return out

def ends(f):
    ip, l4 = f.get("IP", {}), f.get("l4", {})
    proto = next(iter(l4), "")
    p = l4.get(proto, {})
    return proto, {(ip.get("source"), p.get("source_port", 0)),
                   (ip.get("destination"), p.get("destination_port", 0))}

def of(flows, proto, a, b):
    return [f for f in flows if ends(f) == (proto, {a, b})]

def of_icmp(flows, proto, x, y):
    return [f for f in flows if next(iter(f.get("l4", {})), "") == proto and
            {f.get("IP", {}).get("source"), f.get("IP", {}).get("destination")} == {x, y}]

def dropped(fs):
    return ["%s %s" % (f.get("drop_reason_kernel"), f.get("drop_reason_desc")) for f in fs
            if f.get("verdict") == "DROPPED"]

def metric(path, name, labels=None):
    tot = 0
    for line in open(path):
        m = re.match(r'^(\w+)(\{[^}]*\})? (\S+)$', line.strip())
        if m and m.group(1) == name and (labels is None or m.group(2) == labels):
            tot += float(m.group(3))
    return tot

C4, S4, C6, S6, LO = "10.200.1.2", "10.200.2.2", "fd00:200:1::2", "fd00:200:2::2", "127.0.0.1"
HEALTHY = [("TCP normal close %d" % i, "TCP", (C4, 43000 + i), (S4, 8080)) for i in (1, 2, 3)]
HEALTHY += [("TCP normal close IPv6", "TCP", (C6, 43101), (S6, 8080)),
            ("TCP abort SO_LINGER 0", "TCP", (C4, 43011), (S4, 8081)),
            ("TCP abort unread data", "TCP", (C4, 43012), (S4, 8081)),
            ("TCP server shutdown, client sends", "TCP", (C4, 43021), (S4, 8082)),
            ("TCP server close, client sends", "TCP", (C4, 43022), (S4, 8083)),
            ("UDP request/response", "UDP", (C4, 53000), (S4, 5353)),
            ("DNS", "UDP", (C4, 53010), (S4, 53)),
            ("loopback TCP", "TCP", (LO, 43201), (LO, 18080)),
            ("loopback refused TCP", "TCP", (LO, 43202), (LO, 18099)),
            ("loopback refused UDP", "UDP", (LO, 43203), (LO, 18098)),
            ("refused TCP", "TCP", (C4, 43031), (S4, 8099)),
            ("refused UDP", "UDP", (C4, 53031), (S4, 9999))]
PINGS = [("raw ping IPv4", "ICMPv4", C4, S4), ("raw ping IPv6", "ICMPv6", C6, S6),
         ("loopback ping", "ICMPv4", LO, LO)]

def healthy(flows, phase):
    for name, proto, a, b in HEALTHY:
        fs = of(flows, proto, a, b)
        c(len(fs) > 0, "%s: %s seen (%d events)" % (phase, name, len(fs)))
        d = dropped(fs)
        c(not d, "%s: %s never DROPPED %s" % (phase, name, d))
    for name, proto, x, y in PINGS:
        fs = of_icmp(flows, proto, x, y)
        c(len(fs) > 0, "%s: %s seen (%d events)" % (phase, name, len(fs)))
        d = dropped(fs)
        c(not d, "%s: %s never DROPPED %s" % (phase, name, d))

phase, path = sys.argv[1], sys.argv[2]
flows = load(path)
if phase == "healthy":
    m0, m1 = sys.argv[3], sys.argv[4]
    healthy(flows, phase)
    # The ICMP datagram socket pings from the server host to the client.
    fs = of_icmp(flows, "ICMPv4", S4, C4)
    c(len(fs) > 0 and not dropped(fs), "ICMP datagram socket ping seen, never DROPPED %s"
      % dropped(fs))
    d = dropped(flows)
    c(not d, "no DROPPED event at all in healthy traffic (%d events): %s" % (len(flows), d))
    for name, proto, a, b in (("refused TCP", "TCP", (C4, 43031), (S4, 8099)),
                              ("loopback refused TCP", "TCP", (LO, 43202), (LO, 18099))):
        rst = [f for f in of(flows, proto, a, b)
               if f.get("l4", {}).get("TCP", {}).get("flags", {}).get("RST")]
        c(len(rst) > 0, "%s shows its RST" % name)
    c(metric(m1, "hubble_drop_total") == 0,
      "hubble_drop_total did not move (%s)" % metric(m1, "hubble_drop_total"))
    for r in ("NO_SOCKET", "TCP_ABORT_ON_DATA"):
        lab = '{reason="%s"}' % r
        n0, n1 = metric(m0, "flowscope_kernel_frees_ignored_total", lab), \
            metric(m1, "flowscope_kernel_frees_ignored_total", lab)
        c(n1 > n0, "flowscope_kernel_frees_ignored_total%s moved (%d -> %d)" % (lab, n0, n1))
    c(metric(m1, "flowscope_kernel_frees_ignored_total", '{reason="NETFILTER_DROP"}') == 0,
      "a loss reason is never among the ignored frees")
else:
    healthy(flows, phase)
    for name, proto, a, b, kernel, desc in (
            ("nftables drop", "TCP", (C4, 43041), (S4, 8090), "NETFILTER_DROP", "POLICY_DENIED"),
            ("full receive buffer", "UDP", (C4, 53041), (S4, 7000), "SOCKET_RCVBUFF", None),
            ("bad UDP checksum", "UDP", (C4, 53051), (S4, 7001), "UDP_CSUM",
             "INVALID_PACKET_DROPPED")):
        fs = [f for f in of(flows, proto, a, b) if f.get("verdict") == "DROPPED"]
        c(len(fs) > 0, "%s: DROPPED (%d of %d events)" % (name, len(fs), len(of(flows, proto, a, b))))
        k = sorted({f.get("drop_reason_kernel") for f in fs})
        c(k == [kernel], "%s: drop_reason_kernel %s (%s)" % (name, kernel, k))
        if desc:
            d = sorted({f.get("drop_reason_desc") for f in fs})
            c(d == [desc], "%s: drop_reason_desc %s (%s)" % (name, desc, d))
    m2 = sys.argv[3]
    c(metric(m2, "hubble_drop_total", '{reason="POLICY_DENIED",protocol="TCP"}') >= 1,
      "hubble_drop_total counts the nftables drop")
    c(metric(m2, "hubble_drop_total", '{reason="INVALID_PACKET_DROPPED",protocol="UDP"}') >= 1,
      "hubble_drop_total counts the bad checksum")
PY
python3 "$tmp/check.py" healthy "$tmp/healthy.json" "$tmp/m0.txt" "$tmp/m1.txt" >"$tmp/healthy.checks"
cat "$tmp/healthy.checks"
add_checks "$tmp/healthy.checks"
echo "--- frees ignored so far:"
grep '^flowscope_kernel_frees_ignored_total' "$tmp/m1.txt"
grep 'flowscope_kernel_frees_ignored_total' "$tmp/m1.txt" >"$tmp/family.txt"
promtool check metrics <"$tmp/family.txt" >"$tmp/promtool.out" 2>&1
check "promtool accepts the ignored-frees family ($(head -c 300 "$tmp/promtool.out"))" test $? -eq 0

# ---- real drops ----
ins nft -f - <<'NFT'
table inet fsdtest {
	chain input {
		type filter hook input priority 0;
		tcp dport 8090 drop
	}
}
NFT
check "nftables rule in the server host" test $? -eq 0
check "TCP through the drop rule gets no answer" \
	inc python3 "$tp" tcp-client 10.200.2.2 8090 43041 dropped
check "UDP flood of a socket that never reads" inc python3 "$tp" udp-flood 10.200.2.2 7000 53041 300
check "UDP datagrams with a wrong checksum (IP_HDRINCL)" \
	inc python3 "$tp" bad-csum 10.200.1.2 10.200.2.2 53051 7001 3
sleep 1.5
flows "$tmp/drops.json"
metrics >"$tmp/m2.txt"
python3 "$tmp/check.py" drops "$tmp/drops.json" "$tmp/m2.txt" >"$tmp/drops.checks"
cat "$tmp/drops.checks"
add_checks "$tmp/drops.checks"

# flowctl tells the same: the nftables drop, with its reason.
inr "$build/flowctl" observe --last 100000 -o json >"$tmp/ctl.json" 2>"$tmp/ctl.err"
check "flowctl observe -o json exits 0" test $? -eq 0
check "flowctl shows the nftables drop as DROPPED / NETFILTER_DROP / POLICY_DENIED" python3 -c '
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line).get("flow", {})
    t = f.get("l4", {}).get("TCP", {})
    if 43041 in (t.get("source_port"), t.get("destination_port")) and \
            f.get("verdict") == "DROPPED" and f.get("drop_reason_kernel") == "NETFILTER_DROP" and \
            f.get("drop_reason_desc") == "POLICY_DENIED":
        sys.exit(0)
sys.exit(1)' "$tmp/ctl.json"

if [ "$failed" -gt 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out"
	echo "--- DROPPED events"
	grep '"DROPPED"' "$tmp/drops.json" | head -20
fi
finish
