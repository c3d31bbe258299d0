#!/bin/bash
# End-to-end enrichment: a client and a server host in network namespaces joined by a veth,
# flowd on the client's veth with an identity file. A known process (its own name and pid)
# resolves a name at a tiny resolver in the server namespace and connects; a connection to a
# closed port is refused (RST); an nftables rule in the server namespace drops another one.
# The flows must carry the process, DNS names, the DNS query's L7 record, RTT, retransmits,
# the drop verdicts and reasons and the identities, end when the sockets close, and follow an
# identity file reload; malformed DNS answers and a broken identity file change nothing; a
# removed one neither, and a 50 MB one is read without stopping the loop.
# Usage: tests/e2e/e2e_enrich.sh BUILD_DIR. Needs root and nft.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"
need_root enrich "network namespaces, BPF"

P="fsn$(printf '%05d' $(($$ % 100000)))"
C=${P}c S=${P}s
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$C" 2>/dev/null
	ip netns del "$S" 2>/dev/null
	[ -n "${cgdir:-}" ] && rmdir "$cgdir" "$(dirname "$cgdir")" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
inc() { ip netns exec "$C" "$@"; }
ins() { ip netns exec "$S" "$@"; }
ctl() { ip netns exec "$C" "$build/flowctl" "$@"; }

set -e
ip netns add "$C"
ip netns add "$S"
ip link add "${P}a" netns "$C" type veth peer name "${P}b" netns "$S"
ip -n "$C" addr add 10.200.4.1/24 dev "${P}a"
ip -n "$S" addr add 10.200.4.2/24 dev "${P}b"
ip -n "$C" link set lo up
ip -n "$S" link set lo up
ip -n "$C" link set "${P}a" up
ip -n "$S" link set "${P}b" up
set +e

cat >"$tmp/ids.yaml" <<'EOF'
identities:
  - ip: 10.200.4.2
    namespace: shop
    pod: web-7d9f
    service: web
    labels: {app: web}
  - ip: 10.200.4.1
    namespace: infra
    pod: client-1
    labels: ["app=client"]
EOF

# Server side: the resolver (web.shop.test, and a name answered with garbage), a TCP server
# on 8080 and one on 7070 behind an nftables drop rule; nothing on 9.
ip netns exec "$S" python3 "$here/../../tests/e2e/resolver.py" 10.200.4.2 53 \
	web.shop.test=10.200.4.2 bad.shop.test=GARBAGE '*.spray.test=10.201.0.0' \
	>"$tmp/resolver.out" 2>&1 &
pids+=($!)
ip netns exec "$S" python3 -c '
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.200.4.2", port)); s.listen(16)
    while True:
        a, _ = s.accept()
        while a.recv(65536): pass
        a.sendall(b"y" * 3000); a.close()
for p in (8080, 7070):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()' >"$tmp/server.out" 2>&1 &
pids+=($!)
ins nft add table inet fse
ins nft add chain inet fse in '{ type filter hook input priority 0; }'
ins nft add rule inet fse in tcp dport 7070 drop

ip netns exec "$C" "$build/flowd" --history-dir "$tmp/history-1" -i "${P}a" --sweep-interval 200ms --node-name enrich \
	--identities "$tmp/ids.yaml" --dns-max-addrs-per-client 64 >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
for _ in $(seq 50); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
for _ in $(seq 50); do grep -q ready "$tmp/resolver.out" && grep -q ready "$tmp/server.out" &&
	break; sleep 0.1; done

# The client: named "fsclient" (prctl), its pid written out, in a cgroup named the way
# container runtimes name theirs (the cgroup2 hierarchy is the host's: joined before
# entering the namespace, whose /sys hides it).
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
cid=$(printf '%s' "$P" | sha256sum | cut -c1-64)
cgdir="$cg2/flowscope-e2e-$P/docker-$cid.scope"
mkdir -p "$cgdir"
check "a container-like cgroup to run the client in" test -d "$cgdir"
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cgdir" \
	ip netns exec "$C" python3 - "$tmp/client.pid" <<'PY'
import ctypes, os, socket, struct, sys, time
ctypes.CDLL(None).prctl(15, b"fsclient", 0, 0, 0)
open(sys.argv[1], "w").write(str(os.getpid()))
def query(name, sport):
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for l in name.split("."):
        q += bytes([len(l)]) + l.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.200.4.1", sport))
    u.settimeout(2); u.sendto(q, ("10.200.4.2", 53))
    try: return u.recv(512)
    except socket.timeout: return b""
assert len(query("web.shop.test", 45001)) > 12
query("bad.shop.test", 45002)
c = socket.socket(); c.bind(("10.200.4.1", 46001)); c.connect(("10.200.4.2", 8080))
c.sendall(b"x" * 5000); c.shutdown(socket.SHUT_WR)
while c.recv(65536): pass
c.close()
r = socket.socket(); r.bind(("10.200.4.1", 46002))
try: r.connect(("10.200.4.2", 9))
except ConnectionRefusedError: pass
d = socket.socket(); d.bind(("10.200.4.1", 46003)); d.settimeout(1.5)
try: d.connect(("10.200.4.2", 7070))
except (socket.timeout, OSError): pass
d.close()
PY
client_pid=$(cat "$tmp/client.pid")
rmdir "$cgdir" "$cg2/flowscope-e2e-$P"
check "client ran (pid $client_pid)" test -n "$client_pid"
sleep 3 # the 8080 connection's sockets closed: it ends after the grace period

ctl observe --per-flow --all -o json >"$tmp/all.json"
python3 - "$tmp/all.json" "$client_pid" "$cid" >"$tmp/checks" <<'PY'
import json, sys
flows = [json.loads(l)["flow"] for l in open(sys.argv[1])]
pid = int(sys.argv[2])
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
def tcp(f): return f.get("l4", {}).get("TCP", {})
def udp(f): return f.get("l4", {}).get("UDP", {})
def one(pred, what):
    m = [f for f in flows if pred(f)]
    c(len(m) == 1, "%s: one flow (%d)" % (what, len(m)))
    return m[0] if m else {}

web = one(lambda f: tcp(f).get("source_port") == 46001, "connection to 8080")
p = web.get("source_process", {})
c(p.get("comm") == "fsclient" and p.get("pid") == pid,
  "the connecting process is on the flow (%s, want fsclient/%d)" % (p, pid))
c(p.get("container_id") == sys.argv[3] and int(p.get("cgroup_id", "0")) > 1,
  "its container id from the cgroup path (%s)" % p.get("container_id"))
c(web.get("destination_names") == ["web.shop.test"],
  "destination_names from the DNS answer (%s)" % web.get("destination_names"))
c(web.get("rtt_us", 0) > 0, "RTT from the socket (%s us)" % web.get("rtt_us"))
c(web.get("destination", {}).get("namespace") == "shop" and
  web.get("destination", {}).get("pod_name") == "web-7d9f" and
  web.get("destination", {}).get("labels") == ["app=web"],
  "destination endpoint from the identity file (%s)" % web.get("destination"))
c(web.get("destination_service") == {"name": "web", "namespace": "shop"},
  "destination service (%s)" % web.get("destination_service"))
c(web.get("source", {}).get("pod_name") == "client-1", "source endpoint (%s)" % web.get("source"))
c(web.get("verdict") == "FORWARDED", "verdict FORWARDED (%s %s)" % (web.get("verdict"), web.get("drop_reason_kernel")))
c(web.get("flow_event") == "FLOW_EVENT_END" and "flow_end" in web,
  "ended when its sockets closed, not by idle timeout (%s)" % web.get("flow_event"))

ref = one(lambda f: tcp(f).get("source_port") == 46002, "refused connection to 9")
# A refusal is a reset, not a drop (the kernel's NO_SOCKET loses nothing: it answered).
c(ref.get("verdict") == "FORWARDED", "refused: verdict FORWARDED (%s)" % ref.get("verdict"))
c("drop_reason_desc" not in ref and "drop_reason_kernel" not in ref,
  "refused: no drop reason (%s / %s)" % (ref.get("drop_reason_desc"), ref.get("drop_reason_kernel")))
c(ref.get("flags_seen", {}).get("RST") is True, "refused: RST seen (%s)" % ref.get("flags_seen"))

drp = one(lambda f: tcp(f).get("source_port") == 46003, "connection to 7070 (nft drop)")
c(drp.get("verdict") == "DROPPED", "nft: verdict DROPPED (%s)" % drp.get("verdict"))
c(drp.get("drop_reason_desc") == "POLICY_DENIED" and
  drp.get("drop_reason_kernel") == "NETFILTER_DROP",
  "nft: reason (%s / %s)" % (drp.get("drop_reason_desc"), drp.get("drop_reason_kernel")))
c(int(drp.get("drops", "0")) >= 2, "nft: SYN and its retransmissions counted (%s)" % drp.get("drops"))
c(drp.get("retransmits", 0) >= 1, "nft: retransmits (%s)" % drp.get("retransmits"))
c(drp.get("source_process", {}).get("comm") == "fsclient", "nft: process on the dropped flow")

dns = one(lambda f: udp(f).get("source_port") == 45001, "DNS query flow")
l7 = dns.get("l7", {})
c(dns.get("Type") == "L7" and l7.get("type") == "RESPONSE", "DNS flow is L7 (%s)" % l7)
c(l7.get("dns", {}).get("query") == "web.shop.test." and
  l7.get("dns", {}).get("ips") == ["10.200.4.2"] and l7.get("dns", {}).get("qtypes") == ["A"],
  "DNS record: query, ips, qtype (%s)" % l7.get("dns"))
bad = one(lambda f: udp(f).get("source_port") == 45002, "malformed DNS answer's flow")
c("l7" not in bad or bad["l7"].get("type") == "REQUEST",
  "a malformed answer adds no L7 response (%s)" % bad.get("l7"))
PY
cat "$tmp/checks"
add_checks "$tmp/checks"

status() { inc python3 -c 'import flowscope_api, json, sys, urllib.request
print(json.load(urllib.request.urlopen("http://127.0.0.1:12000/api/v1/status"))[sys.argv[1]])' "$1"; }
n=$(status dns_errors)
check "the malformed DNS answer was counted (dns_errors $n)" test "$n" -ge 1
# Flows share their processes' records: at least one per distinct process, fewer than the
# flow ends that name one (the client's three connections name the same).
read -r refs distinct < <(python3 -c 'import json, sys
ps = [f["flow"][k] for f in map(json.loads, open(sys.argv[1])) if "flow" in f
      for k in ("source_process", "destination_process") if k in f["flow"]]
print(len(ps), len({json.dumps(p, sort_keys=True) for p in ps}))' "$tmp/all.json")
n=$(status process_records)
check "process records: $n for $distinct distinct processes named by $refs flow ends" \
	test "$n" -ge "$distinct" -a "$n" -lt "$refs" -a "$distinct" -ge 1
n=$(status process_records_refused)
check "no flow end was left without its process (process_records_refused $n)" test "$n" -eq 0
check "flowd is still running" kill -0 "$flowd_pid"

# Filters over identities and names.
n=$(ctl observe --per-flow --all --to-namespace shop --protocol tcp -o json | wc -l)
check "--to-namespace shop finds the 3 TCP flows ($n)" test "$n" -eq 3
n=$(ctl observe --per-flow --all --to-fqdn '*.shop.test' -o json | wc -l)
check "--to-fqdn '*.shop.test' finds the named flow(s) ($n)" test "$n" -ge 1
n=$(ctl observe --per-flow --all --to-pod shop/web --verdict DROPPED -o json | wc -l)
check "--to-pod shop/web --verdict DROPPED finds the dropped flow ($n)" test "$n" -eq 1
n=$(ctl observe --per-flow --all --from-label app=client --to-service shop/web -o json | wc -l)
check "--from-label app=client --to-service shop/web ($n)" test "$n" -ge 4

# Names you can trust: as an unprivileged user (nobody), a forged "response" naming the web
# server bank.example, sent to the resolver's port, names nothing (it answers no query seen);
# then 500 real answers to 500 distinct names asked from another address of this host push out
# only that client's own names (--dns-max-addrs-per-client 64), not the name the first
# client's flows use.
ip -n "$C" addr add 10.200.4.3/24 dev "${P}a"
m0=$(status dns_matched)
u0=$(status dns_unmatched)
inc setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - >"$tmp/spray.out" 2>&1 <<'PY'
import socket, struct
def name(n): return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
forged = struct.pack(">HHHHHH", 0x5151, 0x8180, 1, 1, 0, 0) + name("bank.example")
forged += struct.pack(">HH", 1, 1) + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4)
forged += socket.inet_aton("10.200.4.2")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.200.4.1", 45100))
for _ in range(3):
    u.sendto(forged, ("10.200.4.2", 53))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.200.4.3", 45200))
s.settimeout(2)
got = 0
for i in range(500):
    q = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name("n%d.spray.test" % i)
    s.sendto(q + struct.pack(">HH", 1, 1), ("10.200.4.2", 53))
    try:
        got += len(s.recv(512)) > 12
    except socket.timeout:
        pass
c = socket.socket(); c.bind(("10.200.4.1", 46010)); c.connect(("10.200.4.2", 8080))
c.sendall(b"x"); c.shutdown(socket.SHUT_WR)
while c.recv(65536): pass
c.close()
print("answers", got)
PY
check "the unprivileged sprayer got its 500 answers ($(cat "$tmp/spray.out"))" \
	grep -qx "answers 500" "$tmp/spray.out"
sleep 1
m=$(status dns_matched)
u=$(status dns_unmatched)
check "the forged response was not believed: counted unmatched ($u0 -> $u)" test "$u" -gt "$u0"
check "the 500 answers matched their queries ($m0 -> $m)" test "$((m - m0))" -ge 500
n=$(status dns_addrs_evicted)
check "the sprayer's answers pushed out only its own: $n of its addresses forgotten" \
	test "$n" -ge 436
n=$(status dns_names)
check "addresses named now: the first client's and the sprayer's last 64 at most ($n)" \
	test "$n" -le 66
ctl observe --per-flow --all -o json --to-port 8080 >"$tmp/after.json"
n=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    f = json.loads(l)["flow"]
    if f.get("l4", {}).get("TCP", {}).get("source_port") == 46010:
        print(",".join(f.get("destination_names", [])))' "$tmp/after.json")
check "the connection after the forgery and the spray reads web.shop.test ($n)" \
	test "$n" = "web.shop.test"
n=$(ctl observe --per-flow --all --to-fqdn bank.example -o json | wc -l)
check "--to-fqdn bank.example finds nothing ($n)" test "$n" -eq 0

# Identity file: a broken version is refused and the old one stays; a good one applies.
printf 'identities:\n  - ip: 10.200.4.2\n    namespace: shop\n    pod: [oops\n' >"$tmp/ids.yaml.new"
mv "$tmp/ids.yaml.new" "$tmp/ids.yaml"
sleep 1
check "a broken identity file is reported with its line" \
	grep -q "identities not reloaded: .*ids.yaml:[0-9]" "$tmp/flowd.out"
n=$(ctl observe --per-flow --all --to-pod shop/web-7d9f -o json | wc -l)
check "the previous identities stay in force ($n flows)" test "$n" -ge 4
printf 'identities:\n  - ip: 10.200.4.2\n    namespace: shop\n    pod: web-v2\n' \
	>"$tmp/ids.yaml.new"
mv "$tmp/ids.yaml.new" "$tmp/ids.yaml"
sleep 1
n=$(ctl observe --per-flow --all --to-pod shop/web-v2 -o json | wc -l)
check "the reloaded identities apply to every flow ($n)" test "$n" -ge 4
check "reload reported" grep -q "identities reloaded from" "$tmp/flowd.out"

# The identity file removed: refused, the previous identities stay. Then a 50 MB file (98,000
# entries): read off the loop, so /healthz answers within a second throughout, and then in force.
rm "$tmp/ids.yaml"
sleep 1
check "a removed identity file is reported" \
	grep -q "identities not reloaded: .*ids.yaml: cannot read identity file: No such file" "$tmp/flowd.out"
n=$(ctl observe --per-flow --all --to-pod shop/web-v2 -o json | wc -l)
check "the previous identities stay in force after the removal ($n flows)" test "$n" -ge 4
python3 - "$tmp/ids.yaml.new" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("identities:\n  - ip: 10.200.4.2\n    namespace: shop\n    pod: web-big\n")
    labels = ", ".join("k%d: %s" % (j, "v" * 40) for j in range(10))
    for i in range(98000):
        f.write("  - ip: 10.%d.%d.%d\n    namespace: ns%d\n    pod: pod-%d\n    labels: {%s}\n"
                % (100 + (i >> 16), (i >> 8) & 255, i & 255, i % 50, i, labels))
PY
check "a 50 MB identity file ($(du -m "$tmp/ids.yaml.new" | cut -f1) MB)" \
	test "$(du -m "$tmp/ids.yaml.new" | cut -f1)" -ge 50
mv "$tmp/ids.yaml.new" "$tmp/ids.yaml"
worst=$(inc python3 -c '
import time, urllib.request
worst, end = 0.0, time.time() + 8
while time.time() < end:
    t = time.time()
    urllib.request.urlopen("http://127.0.0.1:12000/healthz", timeout=5).read()
    worst = max(worst, time.time() - t)
    time.sleep(0.05)
print("%.3f" % worst)')
check "/healthz answers within 1 s while it is read (worst ${worst:-none} s)" \
	python3 -c "import sys; sys.exit(not 0 < float('${worst:-9}') < 1)"
check "then it is in force ($(grep 'identities reloaded' "$tmp/flowd.out" | tail -1))" \
	grep -q "identities reloaded from .*: 98001 entries" "$tmp/flowd.out"
n=$(ctl observe --per-flow --all --to-pod shop/web-big -o json | wc -l)
check "every flow reads the big file's identities ($n)" test "$n" -ge 4

kill -TERM "$flowd_pid"
for _ in $(seq 50); do kill -0 "$flowd_pid" 2>/dev/null || break; sleep 0.1; done
wait "$flowd_pid"
rc=$?
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
if [ "$failed" -gt 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out"
fi
echo "enrich: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
