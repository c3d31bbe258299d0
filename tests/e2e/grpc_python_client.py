"""An independent gRPC client (Debian's python3-grpcio, stubs generated at test time from our
proto/) against a running flowd: GetFlows (last N, follow with filters), ServerStatus,
GetNodes, health, and the error statuses. Runs inside the test's network namespace, where
flowd watches lo. Prints ok/FAIL lines and "grpc_python: N passed, N failed"."""
import socket
import sys
import threading
import time

import grpc

sys.path.insert(0, sys.argv[1])  # the generated stubs
import flow_pb2  # noqa: E402
import health_pb2  # noqa: E402
import observer_pb2  # noqa: E402
import observer_pb2_grpc  # noqa: E402

TARGET = sys.argv[2] if len(sys.argv) > 2 else "localhost:4245"
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - " + what)


def tcp_conn(sport, dport, payload):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", sport))
    c.connect(("127.0.0.1", dport))
    c.sendall(b"x" * payload)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()


def serve(port, stop):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            a, _ = s.accept()
        except socket.timeout:
            continue
        while a.recv(65536):
            pass
        a.sendall(b"y" * 500)
        a.close()
    s.close()


stop = threading.Event()
for p in (8080, 9090):
    threading.Thread(target=serve, args=(p, stop), daemon=True).start()
time.sleep(0.3)

channel = grpc.insecure_channel(TARGET)
stub = observer_pb2_grpc.ObserverStub(channel)

# Known traffic before asking: 5 connections to 8080, 2 to 9090.
for i in range(5):
    tcp_conn(43001 + i, 8080, 2000)
for i in range(2):
    tcp_conn(43101 + i, 9090, 100)
time.sleep(0.5)


def tcp_of(resp):
    f = resp.flow
    return f.IP.source, f.l4.TCP.source_port, f.IP.destination, f.l4.TCP.destination_port


# GetFlows per flow (per_flow, Flowscope's field 1000), the last 1000: the store holds one entry
# per flow (its latest state, oriented client -> server): every connection exactly once, with
# Hubble's fields and our counters.
resps = list(stub.GetFlows(observer_pb2.GetFlowsRequest(number=1000, per_flow=True), timeout=10))
flows = [r for r in resps if r.HasField("flow")]
check(len(flows) > 0, "GetFlows(number=1000) returns flows (%d)" % len(flows))
for i in range(5):
    mine = [r for r in flows if tcp_of(r) == ("127.0.0.1", 43001 + i, "127.0.0.1", 8080)]
    check(len(mine) == 1, "connection from port %d appears once, client -> server (%d)"
          % (43001 + i, len(mine)))
    if not mine:
        continue
    r = mine[0]
    f = r.flow
    fl = f.l4.TCP.flags
    check(f.verdict == flow_pb2.FORWARDED, "  verdict FORWARDED")
    check(f.Type == flow_pb2.L3_L4, "  Type L3_L4")
    check(f.IP.ipVersion == flow_pb2.IPv4, "  ipVersion IPv4")
    check(f.traffic_direction == flow_pb2.EGRESS, "  traffic_direction EGRESS (lo egress hook)")
    check(not f.is_reply.value, "  is_reply false")
    check(fl.SYN and fl.ACK and fl.FIN, "  TCP flags seen include SYN, ACK, FIN")
    check(f.time.seconds > 1600000000, "  time is wall clock (%d)" % f.time.seconds)
    check(r.node_name == "pytest" and f.node_name == "pytest", "  node_name pytest")
    # 2000 bytes sent, 500 received, plus at most 114 bytes of headers per packet.
    check(2000 < f.bytes_sent <= 2000 + 114 * f.packets_sent,
          "  bytes_sent %d for 2000 payload in %d packets" % (f.bytes_sent, f.packets_sent))
    check(500 < f.bytes_received <= 500 + 114 * f.packets_received,
          "  bytes_received %d for 500 payload in %d packets"
          % (f.bytes_received, f.packets_received))
    check(f.flow_start.seconds > 1600000000 and f.flow_id > 0, "  flow_start and flow_id set")
check(len({r.flow.flow_id for r in flows}) == len(flows), "every stored flow once (flow_id)")

# number limits the answer; first=true gives the oldest. Over the test's own connections only
# (the gRPC channel this client uses is a flow too, touched by every call), and compared with
# listings taken just before and just after that agree: a sweep may still move a connection
# that just closed (its last counters) to the newest between two calls.
known = [flow_pb2.FlowFilter(destination_port=["8080", "9090"])]


def listing(**kw):
    req = observer_pb2.GetFlowsRequest(per_flow=True, whitelist=known, **kw)
    return [tcp_of(r) for r in stub.GetFlows(req, timeout=10) if r.HasField("flow")]


for _ in range(10):
    before = listing(number=1000)
    last3, first2 = listing(number=3), listing(number=2, first=True)
    if listing(number=1000) == before:
        break
    time.sleep(0.5)
check(len(before) == 7, "the test's 7 connections (%d)" % len(before))
check(len(last3) == 3, "GetFlows(number=3) returns 3 (%d)" % len(last3))
check(last3 == before[-3:], "GetFlows(number=3) returns the newest 3")
check(first2 == before[:2], "GetFlows(number=2, first) returns the oldest 2")

# Whitelist and blacklist with Hubble's semantics.
wl = observer_pb2.GetFlowsRequest(number=1000, whitelist=[
    flow_pb2.FlowFilter(destination_port=["9090"])])
got = [r for r in stub.GetFlows(wl, timeout=10)]
check(len(got) >= 2 and all(r.flow.l4.TCP.destination_port == 9090 for r in got),
      "whitelist destination_port 9090 (%d flows)" % len(got))
bl = observer_pb2.GetFlowsRequest(number=1000, blacklist=[
    flow_pb2.FlowFilter(destination_port=["8080"]), flow_pb2.FlowFilter(source_port=["8080"])])
got = [r for r in stub.GetFlows(bl, timeout=10)]
check(len(got) > 0 and all(8080 not in (r.flow.l4.TCP.destination_port,
                                        r.flow.l4.TCP.source_port) for r in got),
      "blacklist port 8080 both ways (%d flows)" % len(got))

# Follow with a filter: flows made after the call starts arrive live, others are filtered.
live = []
ready = threading.Event()


def follow():
    req = observer_pb2.GetFlowsRequest(follow=True, whitelist=[
        flow_pb2.FlowFilter(destination_port=["8080"], tcp_flags=[flow_pb2.TCPFlags(SYN=True)])])
    call = stub.GetFlows(req)
    ready.set()
    try:
        for r in call:
            live.append(r)
            if any(tcp_of(x)[1] == 43050 for x in live):
                call.cancel()
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.CANCELLED:
            live.append(e)


t = threading.Thread(target=follow)
t.start()
ready.wait()
time.sleep(0.5)
tcp_conn(43060, 9090, 10)
tcp_conn(43050, 8080, 10)
t.join(10)
check(not t.is_alive(), "follow stream delivered the new connection and was cancelled")
check(any(not isinstance(r, Exception) and tcp_of(r) == ("127.0.0.1", 43050, "127.0.0.1", 8080)
          for r in live), "follow: SYN of 43050 -> 8080 arrived live")
check(all(not isinstance(r, Exception) and r.flow.l4.TCP.destination_port == 8080
          and r.flow.l4.TCP.flags.SYN for r in live),
      "follow: only flows matching the filter (%d)" % len(live))

# ServerStatus and GetNodes.
st = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=5)
check(st.num_flows > 0 and st.seen_flows >= st.num_flows, "ServerStatus num_flows %d seen_flows %d"
      % (st.num_flows, st.seen_flows))
check(st.max_flows == 65536, "ServerStatus max_flows %d" % st.max_flows)
check(st.uptime_ns > 0, "ServerStatus uptime_ns %d" % st.uptime_ns)
check(st.num_connected_nodes.value == 1, "ServerStatus num_connected_nodes 1")
check(st.version.startswith("flowscope"), "ServerStatus version %s" % st.version)
nodes = stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=5)
check(len(nodes.nodes) == 1 and nodes.nodes[0].name != "", "GetNodes lists this node")

# grpc.health.v1.
health = channel.unary_unary("/grpc.health.v1.Health/Check",
                             request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                             response_deserializer=health_pb2.HealthCheckResponse.FromString)
h = health(health_pb2.HealthCheckRequest(service=""), timeout=5)
check(h.status == health_pb2.HealthCheckResponse.SERVING, "health Check SERVING")

# Errors: invalid filter, unknown method, follow with first.
try:
    list(stub.GetFlows(observer_pb2.GetFlowsRequest(number=1, whitelist=[
        flow_pb2.FlowFilter(source_ip=["10.0.0.300"])]), timeout=5))
    check(False, "invalid source_ip is rejected")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "10.0.0.300" in e.details(),
          "invalid source_ip: INVALID_ARGUMENT (%s: %s)" % (e.code(), e.details()))
nope = channel.unary_unary("/observer.Observer/GetDebugEvents")
try:
    nope(b"", timeout=5)
    check(False, "unknown method is rejected")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.UNIMPLEMENTED, "unknown method: UNIMPLEMENTED (%s)"
          % e.code())
# After errors the server still answers.
st2 = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=5)
check(st2.seen_flows >= st.seen_flows, "server answers after errors")

stop.set()
print("grpc_python: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
