#!/bin/bash
# What a relay gets from a real flowd, checked by an independent client (Python stubs generated
# at test time from proto/ with grpc_tools): peer.Peer/Notify (this node then every --peer and
# --peers-file peer as PEER_ADDED, a file change told as PEER_DELETED/PEER_ADDED, a bad file
# changing nothing), GetNodes' advertised address, GetFlows watermarks over real traffic read
# from the probes' rings (no flow event after a watermark is older than it) and resume_after
# (the exact continuation: consecutive event numbers, nothing lost); then, over TLS, the names
# a relay verifies (--tls-server-name, each peer's name). flowd watches lo in a
# network namespace of this test's own.
# Usage: tests/e2e/e2e_peer.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3 # Debian's: python3-grpcio and python3-protobuf live there

. "$(dirname "$0")/lib.sh"
need_root peer "network namespace, BPF"
ns="fsp$$"
tmp=$(mktemp -d)
cleanup() {
	[ -n "${flowd_pid:-}" ] && kill -KILL "$flowd_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/stubs"
if ! $py -m grpc_tools.protoc -I"$here/../../proto" -I/usr/include --python_out="$tmp/stubs" \
	--grpc_python_out="$tmp/stubs" "$here"/../../proto/*.proto; then
	echo "peer: cannot generate Python stubs from proto/"
	echo "peer: 0 passed, 1 failed"
	exit 1
fi

cat >"$tmp/peers" <<'EOF'
# the cluster's agents; this node's own line is skipped
agent1=10.9.0.1:4244
agent3=10.9.0.3:4244   # rack 2
10.9.0.4:4244
EOF

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --node-name agent1 --advertise 10.9.0.1:4244 \
	--peer agent2=10.9.0.2:4244 --peers-file "$tmp/peers" >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$ns" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done

cat >"$tmp/check.py" <<'EOF'
import os
import socket
import sys
import threading
import time

import grpc

sys.path.insert(0, sys.argv[1])
import observer_pb2  # noqa: E402
import observer_pb2_grpc  # noqa: E402
import peer_pb2  # noqa: E402
import peer_pb2_grpc  # noqa: E402

PEERS = sys.argv[2]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - " + what)


def write_peers(text):
    with open(PEERS + ".new", "w") as f:
        f.write(text)
    os.rename(PEERS + ".new", PEERS)


channel = grpc.insecure_channel("localhost:4245")
peers = peer_pb2_grpc.PeerStub(channel)
obs = observer_pb2_grpc.ObserverStub(channel)


class Stream:
    """A streaming call read in a thread: its messages, as they arrive."""

    def __init__(self, call):
        self.call, self.msgs, self.error = call, [], None
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        try:
            for m in self.call:
                self.msgs.append(m)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = e

    def wait(self, n, secs=5):
        end = time.time() + secs
        while len(self.msgs) < n and time.time() < end:
            time.sleep(0.02)
        return len(self.msgs)

    def stop(self):
        self.call.cancel()
        self.thread.join(5)


def as_tuples(msgs):
    return [(m.type, m.name, m.address) for m in msgs]


A, D = peer_pb2.PEER_ADDED, peer_pb2.PEER_DELETED
initial = [(A, "agent1", "10.9.0.1:4244"), (A, "10.9.0.4:4244", "10.9.0.4:4244"),
           (A, "agent2", "10.9.0.2:4244"), (A, "agent3", "10.9.0.3:4244")]
s = Stream(peers.Notify(peer_pb2.NotifyRequest()))
s.wait(4)
time.sleep(0.3)
check(as_tuples(s.msgs) == initial, "Notify: this node, then every peer by name, PEER_ADDED: %s"
      % as_tuples(s.msgs))
check(all(not m.HasField("tls") for m in s.msgs), "Notify: plaintext peers have no tls")

write_peers("agent1=10.9.0.1:4244\nagent5=10.9.0.5:4244\n10.9.0.4:4244\n")
s.wait(6)
check(as_tuples(s.msgs[4:]) == [(D, "agent3", "10.9.0.3:4244"), (A, "agent5", "10.9.0.5:4244")],
      "peers file changed: PEER_DELETED agent3, PEER_ADDED agent5: %s" % as_tuples(s.msgs[4:]))
write_peers("agent6=10.9.0.6\n")
time.sleep(1)
check(len(s.msgs) == 6, "a bad peers file changes nothing (%d messages)" % len(s.msgs))
s2 = Stream(peers.Notify(peer_pb2.NotifyRequest()))
s2.wait(4)
time.sleep(0.3)
check([m.name for m in s2.msgs] == ["agent1", "10.9.0.4:4244", "agent2", "agent5"],
      "a new stream still gets the list in force: %s" % [m.name for m in s2.msgs])
s.stop()
s2.stop()
check(s.error is None and s2.error is None, "Notify streams end only when cancelled")

nodes = obs.GetNodes(observer_pb2.GetNodesRequest(), timeout=5)
n = nodes.nodes[0]
check(n.name == "agent1" and n.address == "10.9.0.1:4244" and n.state == 1
      and not n.tls.enabled, "GetNodes: agent1 at 10.9.0.1:4244, CONNECTED, plaintext")


def tcp_conn(port):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.socket()
    c.connect(srv.getsockname())
    a, _ = srv.accept()
    c.sendall(b"x" * 100)
    a.recv(100)
    c.close()
    a.close()
    srv.close()


def seq(uuid):
    return int(uuid.replace("-", "")[16:], 16) & ((1 << 62) - 1)


# Watermarks over real traffic: every 100 ms, and no flow event after one is older than it.
f = Stream(obs.GetFlows(observer_pb2.GetFlowsRequest(follow=True, heartbeat_ms=100)))
f.wait(1)
for i in range(30):
    tcp_conn(0)
    time.sleep(0.05)
time.sleep(0.5)
f.stop()
marks = [m for m in f.msgs if not m.HasField("flow") and not m.HasField("lost_events")]
flows = [m for m in f.msgs if m.HasField("flow")]
check(len(marks) >= 15, "watermarks every 100 ms (%d in about 2 s)" % len(marks))
check(len(flows) >= 60, "flow events of 30 connections arrived (%d)" % len(flows))
mark, below, back = 0, 0, 0
for m in f.msgs:
    t = m.time.seconds * 10**9 + m.time.nanos
    if m.HasField("flow"):
        below += t < mark
    elif not m.HasField("lost_events"):
        back += t < mark
        mark = t
check(below == 0, "no flow event after a watermark is older than it (%d were)" % below)
check(back == 0, "watermarks never go back")

# resume_after: cut, more traffic, resumed: the events after the last one got, each once.
last = flows[-1].flow.uuid
for i in range(10):
    tcp_conn(0)
time.sleep(1.5)
r = list(obs.GetFlows(observer_pb2.GetFlowsRequest(resume_after=last), timeout=10))
seqs = [seq(m.flow.uuid) for m in r if m.HasField("flow")]
check(len(seqs) >= 20 and not any(m.HasField("lost_events") for m in r),
      "resume_after: %d events after the point, nothing lost" % len(seqs))
check(seqs == list(range(seq(last) + 1, seq(last) + 1 + len(seqs))),
      "resume_after: consecutive event numbers from the one after the point")
try:
    list(obs.GetFlows(observer_pb2.GetFlowsRequest(resume_after=last, number=5), timeout=5))
    check(False, "resume_after with number is refused")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "resume_after with number: "
          "INVALID_ARGUMENT (%s)" % e.details())
sys.exit(1 if failed else 0)
EOF

ip netns exec "$ns" $py "$tmp/check.py" "$tmp/stubs" "$tmp/peers" | tee "$tmp/check.out"
add_checks "$tmp/check.out"
check "flowd told the reload" grep -q "peers reloaded from $tmp/peers: 3 (1 added, 1 deleted" \
	"$tmp/flowd.out"
check "flowd told the refused file and its line" grep -q "peers not reloaded: .*line 1" \
	"$tmp/flowd.out"
kill -TERM "$flowd_pid"
wait "$flowd_pid"
flowd_pid=

# ---- TLS: the names to verify, told by Notify and GetNodes ------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/srv.key" -out "$tmp/srv.pem" -days 2 \
	-subj "/CN=agent1.example" -addext "subjectAltName=DNS:agent1.example" >/dev/null 2>&1
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-2" -i lo --node-name agent1 --advertise 10.9.0.1:4244 \
	--tls-cert "$tmp/srv.pem" --tls-key "$tmp/srv.key" --tls-server-name agent1.example \
	--peer agent2=10.9.0.2:4244 --peer 10.9.0.4:4244 >"$tmp/flowd-tls.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 100); do
	grep -q "^flowd: watching" "$tmp/flowd-tls.out" && break
	sleep 0.1
done
cat >"$tmp/tls.py" <<'EOF'
import sys
import time

import grpc

sys.path.insert(0, sys.argv[1])
import observer_pb2  # noqa: E402
import observer_pb2_grpc  # noqa: E402
import peer_pb2  # noqa: E402
import peer_pb2_grpc  # noqa: E402

creds = grpc.ssl_channel_credentials(root_certificates=open(sys.argv[2], "rb").read())
# What a relay does with a peer's tls.server_name: verify the certificate against it.
channel = grpc.secure_channel("localhost:4245", creds,
                              options=(("grpc.ssl_target_name_override", "agent1.example"),))
nodes = None
for _ in range(50):
    try:
        nodes = observer_pb2_grpc.ObserverStub(channel).GetNodes(
            observer_pb2.GetNodesRequest(), timeout=5)
        break
    except grpc.RpcError:
        time.sleep(0.1)
n = nodes.nodes[0] if nodes else observer_pb2.Node()
print(("ok - " if n.tls.enabled and n.tls.server_name == "agent1.example" else "FAIL - ")
      + "GetNodes over TLS: tls enabled, server name '%s'" % n.tls.server_name)
call = peer_pb2_grpc.PeerStub(channel).Notify(peer_pb2.NotifyRequest(), timeout=10)
got = []
try:
    for m in call:
        got.append((m.name, m.tls.server_name if m.HasField("tls") else None))
        if len(got) == 3:
            call.cancel()
except grpc.RpcError:
    pass
want = [("agent1", "agent1.example"), ("10.9.0.4:4244", "10.9.0.4"), ("agent2", "agent2")]
print(("ok - " if got == want else "FAIL - ") + "Notify over TLS: server names %s" % got)
EOF
ip netns exec "$ns" $py "$tmp/tls.py" "$tmp/stubs" "$tmp/srv.pem" >"$tmp/tls.out" 2>&1
cat "$tmp/tls.out"
add_checks "$tmp/tls.out"
check "the TLS checks ran" grep -q "Notify over TLS" "$tmp/tls.out"
kill -TERM "$flowd_pid"
wait "$flowd_pid"
flowd_pid=
if [ "$failed" -ne 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out" "$tmp/flowd-tls.out"
fi
echo "peer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
