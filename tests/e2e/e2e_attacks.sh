#!/bin/bash
# Exhaustion attacks on a running flowd, as any local user can make them on its loopback gRPC
# port, each measured the way the operator feels it: /healthz latency during the attack (at most
# 1 s), resident memory (under a stated bound) and descriptors (back to their baseline after).
# - 1,100 idle connections from one address (the per-client cap takes 64; the rest are closed);
# - 300 GetFlows follow streams on 10 connections that never read (an HTTP/2 window of 0), while
#   20,000 new flows are made: each stream's queue is bounded (4096 flows, 4M), and all of them
#   together by --follow-total-bytes (default 64M);
# - 30 gRPC and 30 HTTP replays of the whole event log (16,384 events) never read: sent in steps
#   as the client takes them, never built whole; a reader meanwhile gets all of its replay;
# - 200 Server-Sent Events followers that never read, while 20,000 new flows are made;
# - 1,100 idle and slowloris HTTP connections from one address (the per-client cap takes 64);
# - a syslog server and a ClickHouse that accept and never read, while 40,000 flows go by.
# Usage: tests/e2e/e2e_attacks.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root attacks "network namespace, BPF"

ns="fsa$$"
tmp=$(mktemp -d)
trap e2e_cleanup EXIT
netns_add "$ns"

ip netns exec "$ns" "$build/flowd" -i lo --no-history --sweep-interval 200ms \
	--max-flows 16384 --max-events 16384 >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
for _ in $(seq 100); do
	grep -q "watching 1 interface" "$tmp/flowd.out" && break
	sleep 0.1
done

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$flowd_pid/status"; } # KiB
fds() { ls "/proc/$flowd_pid/fd" | wc -l; }
traffic() { # traffic FIRST N: N new UDP flows on lo, 5,000 a second (the VM has two cores:
	# a generator flat out would be measured along with flowd)
	ip netns exec "$ns" python3 -c '
import socket, sys, time
first, n = int(sys.argv[1]), int(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 7000))
t0 = time.time()
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.2", 1024 + (first + i) % 60000))
    s.sendto(b"x" * 40, ("127.0.0.1", 7000)); r.recv(100); s.close()
    if i % 100 == 0 and i / 5000 > time.time() - t0:
        time.sleep(i / 5000 - (time.time() - t0))' "$1" "$2"
}
# health SECONDS: the worst /healthz latency (s) over that time, asked every 50 ms.
health() {
	ip netns exec "$ns" python3 -c '
import sys, time, urllib.request
worst, end = 0.0, time.time() + float(sys.argv[1])
while time.time() < end:
    t = time.time()
    try:
        urllib.request.urlopen("http://127.0.0.1:12000/healthz", timeout=5).read()
        worst = max(worst, time.time() - t)
    except Exception:
        worst = 99
    time.sleep(0.05)
print("%.3f" % worst)' "$1"
}
under() { python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$1" "$2"; }

# Warm up: the store and the event log fill (16,384 each), so later traffic costs no memory.
traffic 0 20000
sleep 1
rss0=$(rss)
fds0=$(fds)
echo "# baseline: RSS $((rss0 / 1024)) MiB, $fds0 descriptors"

# ---- 1,100 idle connections from one address ------------------------------------------------
ip netns exec "$ns" python3 -c '
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for i in range(1100):
    s = socket.socket(); s.connect(("127.0.0.1", 4245)); socks.append(s)
open(sys.argv[1], "w").write("open\n")
time.sleep(6)' "$tmp/idle.mark" &
idle=$!
for _ in $(seq 100); do [ -s "$tmp/idle.mark" ] && break; sleep 0.1; done
w=$(health 4)
n=$(fds)
check "1,100 idle connections: /healthz within 1 s (worst $w s)" under "$w" 1
check "... flowd holds at most the per-client cap of them ($((n - fds0)) more descriptors, cap 64)" \
	test "$((n - fds0))" -le 66
wait "$idle"
sleep 1
check "... and its descriptors are back to the baseline after ($(fds), $fds0 before)" \
	test "$(fds)" -le "$((fds0 + 1))"

# ---- 300 follow streams that never read -----------------------------------------------------
ip netns exec "$ns" python3 - "$tmp/follow.mark" <<'PY' &
import socket, struct, sys, time
def frame(t, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload
def lit(n, v):
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
hdrs = (lit(b":method", b"POST") + lit(b":scheme", b"http") +
        lit(b":path", b"/observer.Observer/GetFlows") + lit(b":authority", b"127.0.0.1:4245") +
        lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers"))
req = b"\x18\x01"  # GetFlowsRequest{follow: true}
msg = b"\x00" + struct.pack(">I", len(req)) + req
conns = []
for c in range(10):
    s = socket.socket(); s.connect(("127.0.0.1", 4245))
    # A window of 0: the server may send no DATA on any stream of ours.
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, struct.pack(">HI", 4, 0)))
    s.settimeout(2)
    s.recv(4096)  # its SETTINGS
    out = frame(4, 1, 0, b"")
    for i in range(30):
        sid = 1 + 2 * i
        out += frame(1, 4, sid, hdrs) + frame(0, 1, sid, msg)
    s.sendall(out)
    conns.append(s)
open(sys.argv[1], "w").write("open\n")
time.sleep(20)
PY
follow=$!
pids+=("$follow")
for _ in $(seq 100); do [ -s "$tmp/follow.mark" ] && break; sleep 0.1; done
sleep 1
n=$(ip netns exec "$ns" "$build/flowctl" status 2>/dev/null | sed -n 's/^Followers: *//p')
health 6 >"$tmp/health2" &
hp=$!
traffic 20000 20000
wait "$hp"
rss1=$(rss)
w=$(cat "$tmp/health2")
grow=$(((rss1 - rss0) / 1024))
echo "# 300 stalled followers: RSS $((rss1 / 1024)) MiB (+$grow MiB), followers ${n:-?}"
check "300 follow streams that never read: /healthz within 1 s while 20,000 flows go by (worst $w s)" \
	under "$w" 1
check "... memory grew by $grow MiB, under --follow-total-bytes (64M) and 48 MiB of streams" \
	test "$grow" -lt 112
lost=$(ip netns exec "$ns" curl -s -H "$(api_auth)" http://127.0.0.1:12000/metrics |
	sed -n 's/^flowscope_follower_lost_total{api="grpc"} //p')
pub=$(ip netns exec "$ns" curl -s -H "$(api_auth)" http://127.0.0.1:12000/api/v1/status |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["flows_published"])')
check "... what they could not take was counted lost (${lost:-none} of $pub events x 300)" \
	test "${lost:-0}" -gt 0
kill "$follow"
wait "$follow" 2>/dev/null
sleep 1
check "... descriptors back to the baseline once they left ($(fds), $fds0 before)" \
	test "$(fds)" -le "$((fds0 + 1))"
w=$(health 1)
check "... and /healthz answers as before (worst $w s)" under "$w" 1
check "flowd is still running" kill -0 "$flowd_pid"

# ---- replays of the whole event log that are never read --------------------------------------
# 30 GetFlows number=16384 on one connection with a window of 0, and 30 HTTP last=16384 whose
# sockets are never read: each replay is sent in steps as its client takes it (not built whole),
# so each holds its queue at most, and all of them the total budget.
ip netns exec "$ns" python3 - "$tmp/replay.mark" "$(api_token)" <<'PY' &
import socket, struct, sys, time
mark, token = sys.argv[1], sys.argv[2]
def frame(t, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload
def lit(n, v):
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
hdrs = (lit(b":method", b"POST") + lit(b":scheme", b"http") +
        lit(b":path", b"/observer.Observer/GetFlows") + lit(b":authority", b"127.0.0.1:4245") +
        lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers"))
req = b"\x08\x80\x80\x01"  # GetFlowsRequest{number: 16384}
msg = b"\x00" + struct.pack(">I", len(req)) + req
held = []
s = socket.socket(); s.connect(("127.0.0.1", 4245))
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, struct.pack(">HI", 4, 0)))
s.settimeout(2)
s.recv(4096)
out = frame(4, 1, 0, b"")
for i in range(30):
    out += frame(1, 4, 1 + 2 * i, hdrs) + frame(0, 1, 1 + 2 * i, msg)
s.sendall(out)
held.append(s)
for i in range(30):
    h = socket.socket()
    h.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    h.bind(("127.0.0.3", 0)); h.connect(("127.0.0.1", 12000))
    h.sendall(("GET /api/v1/flows?last=16384 HTTP/1.1\r\nHost: 127.0.0.1:12000\r\n"
               "Authorization: Bearer %s\r\n\r\n" % token).encode())
    held.append(h)
open(mark, "w").write("open\n")
time.sleep(12)
PY
replays=$!
pids+=("$replays")
rss_before=$(rss) # (memory freed by the sections before stays with flowd's allocator)
for _ in $(seq 100); do [ -s "$tmp/replay.mark" ] && break; sleep 0.1; done
w=$(health 4)
grow=$((($(rss) - rss_before) / 1024))
echo "# 60 replays of 16,384 events never read: RSS +$grow MiB"
check "60 replays of the whole log never read: /healthz within 1 s (worst $w s)" under "$w" 1
check "... memory grew by $grow MiB, under --follow-total-bytes (64M) and 48 MiB" \
	test "$grow" -lt 112
q=$(ip netns exec "$ns" curl -s -H "$(api_auth)" http://127.0.0.1:12000/metrics |
	sed -n 's/^flowscope_follower_queued_bytes //p')
check "... their queues hold ${q:-?} bytes: the budget and at most a step (512 KiB) each past it" \
	test "${q:-999999999}" -le $((64 * 1048576 + 60 * 524288))
n=$(ip netns exec "$ns" curl -s -m 20 -H "$(api_auth)" "http://127.0.0.1:12000/api/v1/flows?last=5000" |
	grep -c '"flow"')
check "... a client that reads gets its whole replay meanwhile ($n of 5000 events)" test "$n" -eq 5000
kill "$replays"
wait "$replays" 2>/dev/null
sleep 1
check "... descriptors back to the baseline once they left ($(fds), $fds0 before)" \
	test "$(fds)" -le "$((fds0 + 1))"

# ---- 200 Server-Sent Events followers that never read ------------------------------------------
# From four addresses (the per-client cap is 64), while 20,000 new flows are made: each queue is
# bounded, all of them together by the total budget, and what they could not take is counted.
ip netns exec "$ns" python3 - "$tmp/sse.mark" "$(api_token)" <<'PY' &
import socket, sys, time
mark, token = sys.argv[1], sys.argv[2]
held = []
for i in range(200):
    h = socket.socket()
    h.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    h.bind(("127.0.0.%d" % (4 + i % 4), 0)); h.connect(("127.0.0.1", 12000))
    h.sendall(("GET /api/v1/flows?follow=1 HTTP/1.1\r\nHost: 127.0.0.1:12000\r\n"
               "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode())
    held.append(h)
open(mark, "w").write("open\n")
time.sleep(20)
PY
sse=$!
pids+=("$sse")
rss_before=$(rss)
for _ in $(seq 100); do [ -s "$tmp/sse.mark" ] && break; sleep 0.1; done
sleep 1
health 6 >"$tmp/health4" &
hp=$!
traffic 40000 20000
wait "$hp"
w=$(cat "$tmp/health4")
grow=$((($(rss) - rss_before) / 1024))
echo "# 200 stalled SSE followers: RSS +$grow MiB after 20,000 flows"
check "200 SSE followers that never read: /healthz within 1 s while 20,000 flows go by (worst $w s)" \
	under "$w" 1
check "... memory grew by $grow MiB, under --follow-total-bytes (64M) and 48 MiB" \
	test "$grow" -lt 112
lost=$(ip netns exec "$ns" curl -s -H "$(api_auth)" http://127.0.0.1:12000/metrics |
	sed -n 's/^flowscope_follower_lost_total{api="http"} //p')
check "... what they could not take was counted lost (${lost:-none})" test "${lost:-0}" -gt 0
kill "$sse"
wait "$sse" 2>/dev/null
sleep 2
check "... descriptors back to the baseline once they left ($(fds), $fds0 before)" \
	test "$(fds)" -le "$((fds0 + 1))"

# ---- 1,100 idle and slowloris HTTP connections from one address ----------------------------------
# Half open nothing, half send a request a byte at a time and never finish it: the per-client
# cap takes 64; /healthz (from another address) answers throughout.
ip netns exec "$ns" python3 - "$tmp/loris.mark" <<'PY' &
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = []
for i in range(1100):
    s = socket.socket(); s.bind(("127.0.0.8", 0))
    try:
        s.connect(("127.0.0.1", 12000))
    except OSError:
        continue
    socks.append(s)
open(sys.argv[1], "w").write("open\n")
req = b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
for k in range(6):
    for i, s in enumerate(socks):
        if i % 2:
            try:
                s.send(req[k:k + 1])
            except OSError:
                pass
    time.sleep(1)
PY
loris=$!
pids+=("$loris")
for _ in $(seq 100); do [ -s "$tmp/loris.mark" ] && break; sleep 0.1; done
w=$(health 4)
n=$(fds)
check "1,100 idle and slowloris HTTP connections: /healthz within 1 s (worst $w s)" under "$w" 1
check "... flowd holds at most the per-client cap of them ($((n - fds0)) more descriptors, cap 64)" \
	test "$((n - fds0))" -le 66
wait "$loris"
sleep 1
check "... and its descriptors are back to the baseline after ($(fds), $fds0 before)" \
	test "$(fds)" -le "$((fds0 + 1))"
check "flowd is still running" kill -0 "$flowd_pid"

# ---- export peers that accept and never read ------------------------------------------------
# A syslog server and a ClickHouse that take the connection and never read from it: flowd's
# exporters queue what they can (--export-syslog-buffer, --export-clickhouse-buffer), drop and
# count the rest, and the loop goes on.
kill -TERM "$flowd_pid"
wait "$flowd_pid"
ip netns exec "$ns" python3 - "$tmp/tarpit.mark" <<'PY' &
import socket, sys, threading, time
held = []
def tarpit(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    l.bind(("127.0.0.1", port)); l.listen(64)
    while True:
        c, _ = l.accept(); held.append(c)  # never read
for p in (5514, 8124):
    threading.Thread(target=tarpit, args=(p,), daemon=True).start()
open(sys.argv[1], "w").write("up\n")
time.sleep(120)
PY
tarpit=$!
pids+=("$tarpit")
for _ in $(seq 50); do [ -s "$tmp/tarpit.mark" ] && break; sleep 0.1; done
ip netns exec "$ns" "$build/flowd" -i lo --no-history --sweep-interval 200ms \
	--max-flows 16384 --max-events 16384 --export-syslog tcp://127.0.0.1:5514 \
	--export-clickhouse http://127.0.0.1:8124 --export-clickhouse-buffer 8M \
	--export-clickhouse-timeout 3s >"$tmp/flowd2.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
started=no
for _ in $(seq 100); do
	grep -q "watching 1 interface" "$tmp/flowd2.out" && started=yes && break
	sleep 0.1
done
check "flowd starts with export peers that never read" test "$started" = yes
traffic 0 20000
sleep 1
rss0=$(rss)
health 10 >"$tmp/health3" &
hp=$!
traffic 20000 20000
traffic 40000 20000
wait "$hp"
w=$(cat "$tmp/health3")
grow=$((($(rss) - rss0) / 1024))
echo "# export peers that never read: RSS +$grow MiB after 40,000 more flows"
check "export peers that never read: /healthz within 1 s while 40,000 flows go by (worst $w s)" \
	under "$w" 1
check "... memory grew by $grow MiB, under the syslog (4M) and ClickHouse (8M) buffers and 32 MiB" \
	test "$grow" -lt 44
ip netns exec "$ns" curl -s -H "$(api_auth)" http://127.0.0.1:12000/metrics >"$tmp/metrics3"
for x in syslog clickhouse; do
	n=$(sed -n "s/^flowscope_exporter_flows_total{exporter=\"$x\",outcome=\"dropped\"} //p" "$tmp/metrics3")
	check "... the $x exporter dropped and counted what did not fit (${n:-none})" test "${n:-0}" -gt 0
done
kill -TERM "$flowd_pid"
for _ in $(seq 100); do kill -0 "$flowd_pid" 2>/dev/null || break; sleep 0.1; done
check "... and flowd stops within 10 s with its peers still stalled" bash -c "! kill -0 $flowd_pid 2>/dev/null"
wait "$flowd_pid" 2>/dev/null

[ "$failed" -gt 0 ] && tail -20 "$tmp/flowd.out" "$tmp/flowd2.out"
echo "attacks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
