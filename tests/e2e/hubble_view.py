"""The Hubble user's view of flowd (run by e2e_hubble_view.sh inside the router namespace): an
independent client from stubs generated from proto/ reads the events of the test's traffic and
checks every column Hubble's printer uses, with Hubble's own rules written out here (the TYPE
column from event_type, identities, the reply arrow, Summary), plus the API around them.
Usage: hubble_view.py STUBS_DIR FLOWCTL. Prints ok/FAIL lines."""
import re
import subprocess
import sys
import time

import grpc

sys.path.insert(0, sys.argv[1])
import flow_pb2  # noqa: E402
import observer_pb2  # noqa: E402
import observer_pb2_grpc  # noqa: E402

FLOWCTL = sys.argv[2]
ch = grpc.insecure_channel("127.0.0.1:4245")
stub = observer_pb2_grpc.ObserverStub(ch)


def c(ok, what):
    print(("ok - " if ok else "FAIL - ") + what)


# Hubble's printer, as cilium/hubble's pkg/printer and Cilium's monitor API define it.
TRACE_POINTS = {0: "to-endpoint", 1: "to-proxy", 2: "to-host", 3: "to-stack", 4: "to-overlay",
                5: "from-endpoint", 6: "from-proxy", 7: "from-host", 8: "from-stack",
                9: "from-overlay", 10: "from-network", 11: "to-network"}
DROP_REASONS = {133: "Policy denied", 134: "Invalid packet", 169: "FIB lookup failed"}
RESERVED = {1: "host", 2: "world", 3: "unmanaged", 4: "health", 5: "init", 6: "remote-node",
            7: "kube-apiserver", 8: "ingress", 9: "world-ipv4", 10: "world-ipv6"}


def flow_type(f):
    if f.HasField("l7"):
        kind = flow_pb2.L7FlowType.Name(f.l7.type).lower()
        if f.l7.WhichOneof("record") == "dns":
            return "dns-" + kind + " " + f.l7.dns.observation_source
        return "l7-" + kind
    t, sub = f.event_type.type, f.event_type.sub_type
    if t == 4:
        return TRACE_POINTS.get(sub, str(sub))
    if t == 1:
        return DROP_REASONS.get(sub, str(sub))
    return "UNKNOWN"


def fmt_identity(i):
    if i == 0:
        return "(unknown)"
    return "(%s)" % RESERVED[i] if i in RESERVED else "(ID:%d)" % i


def host(ip, port, ep):
    h = ep.namespace + "/" + ep.pod_name if ep.pod_name else ip
    return "%s:%s" % (h, port) if port else h


def ports(f):
    p = f.l4.WhichOneof("protocol")
    if p in ("TCP", "UDP", "SCTP"):
        x = getattr(f.l4, p)
        return x.source_port, x.destination_port
    return 0, 0


def stamp_milli(ts):
    t = time.gmtime(ts.seconds)  # Hubble prints times in UTC
    return time.strftime("%b ", t) + ("%2d" % t.tm_mday) + time.strftime(" %H:%M:%S", t) + \
        ".%03d" % (ts.nanos // 1000000)


def compact(f):
    sp, dp = ports(f)
    src, dst = host(f.IP.source, sp, f.source), host(f.IP.destination, dp, f.destination)
    si, di = fmt_identity(f.source.identity), fmt_identity(f.destination.identity)
    arrow = "->"
    if not f.HasField("is_reply"):
        arrow = "<>"
    elif f.is_reply.value:
        src, dst, si, di, arrow = dst, src, di, si, "<-"
    return "%s: %s %s %s %s %s %s %s (%s)" % (stamp_milli(f.time), src, si, arrow, dst, di,
                                              flow_type(f), flow_pb2.Verdict.Name(f.verdict),
                                              f.Summary)


# ---- the events of the test's traffic ----------------------------------------------------------
until = time.time()
ts = observer_pb2.google_dot_protobuf_dot_timestamp__pb2.Timestamp(seconds=int(until))
ours = [flow_pb2.FlowFilter(source_ip=["10.200.1.2"]), flow_pb2.FlowFilter(destination_ip=["10.200.1.2"])]
call = stub.GetFlows(observer_pb2.GetFlowsRequest(number=1000, whitelist=ours, until=ts))
resps = list(call)
meta = dict(call.initial_metadata())
c(meta.get("hubble-server-version", "") != "", "hubble-server-version header (%s)" % meta)
flows = [r.flow for r in resps if r.HasField("flow")]
c(len(flows) >= 20, "events of the test's traffic (%d)" % len(flows))
times = [(f.time.seconds, f.time.nanos) for f in flows]
c(times == sorted(times), "events in time order")
uuids = [f.uuid for f in flows]
c(len(set(uuids)) == len(uuids) and all(re.fullmatch(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u) for u in uuids),
  "a distinct uuid on every event")
c(all(r.node_name == "hv" and r.flow.node_name == "hv" for r in resps if r.HasField("flow")),
  "node name")
c(all(list(f.node_labels) == ["zone=test"] for f in flows), "node labels on every flow")
c(all(f.verdict != flow_pb2.DROPPED or ports(f)[1] == 7070 for f in flows),
  "healthy traffic never DROPPED (only the nftables port is)")


def of(sport, pred=lambda f: True):
    return [f for f in flows if sport in ports(f) and pred(f)]


def tcpf(f):
    return f.l4.TCP.flags


# Identities: numbers from the identity file, named endpoints.
web_id = {f.destination.identity for f in of(47001) if not f.is_reply.value}
cli_id = {f.source.identity for f in of(47001) if not f.is_reply.value}
c(len(web_id) == 1 and len(cli_id) == 1 and min(web_id | cli_id) >= 256 and web_id != cli_id,
  "numeric identities from the identity file (client %s, web %s)" % (cli_id, web_id))
w = of(47001)[0]
c(w.destination.namespace == "shop" and w.destination.pod_name == "web-1" and
  [(x.name, x.kind) for x in w.destination.workloads] == [("web", "Deployment")] and
  w.destination_service.name == "web", "destination endpoint, workload and service")

# The SYN: once per observation point, from-endpoint on the client's veth, to-endpoint on the
# server's, the second marked as a copy.
syn = of(47001, lambda f: tcpf(f).SYN and not tcpf(f).ACK)
c(sorted(flow_type(f) for f in syn) == ["from-endpoint", "to-endpoint"],
  "SYN seen from-endpoint and to-endpoint (%s)" % [flow_type(f) for f in syn])
c(all(f.event_type.type == 4 and f.Summary == "TCP Flags: SYN" and f.verdict == flow_pb2.FORWARDED
      for f in syn), "SYN: trace event, Summary 'TCP Flags: SYN', FORWARDED")
c(sorted(flow_pb2.TraceObservationPoint.Name(f.trace_observation_point) for f in syn) ==
  ["FROM_ENDPOINT", "TO_ENDPOINT"], "trace_observation_point of the SYN events")
c(sorted(f.interface.name[-2:] for f in syn) == ["rc", "rs"], "the interface of each")
c(sorted(f.observation_copy for f in syn) == [False, True],
  "the second observation point is a copy")
sa = of(47001, lambda f: tcpf(f).SYN and tcpf(f).ACK)
c(len(sa) == 2 and all(f.is_reply.value and f.Summary == "TCP Flags: SYN, ACK" and
                       f.IP.source == "10.200.2.2" for f in sa),
  "SYN-ACK: a reply, told from the server's end, Summary 'TCP Flags: SYN, ACK'")
line = compact(sa[0])
c(" <- " in line and "shop/client-1:47001 (ID:" in line and "shop/web-1:8080 (ID:" in line,
  "compact line of a reply: %s" % line)
fin = of(47001, lambda f: tcpf(f).FIN)
c(len(fin) >= 2 and all("FIN" in f.Summary for f in fin), "FIN events")
end = of(47001, lambda f: f.flow_event == flow_pb2.FLOW_EVENT_END)
c(len(end) == 2 and all(f.Summary.startswith("Flow end: ") and not tcpf(f).SYN for f in end),
  "END events: 'Flow end: ...' and no packet flags (%s)" % [f.Summary for f in end])

# Refused: a reset, not a drop.
ref = of(47002)
c(any(tcpf(f).RST and f.is_reply.value for f in ref) and
  all(f.verdict == flow_pb2.FORWARDED for f in ref),
  "refused port: the RST, nothing DROPPED (%s)" % [(f.Summary, f.verdict) for f in ref])

# nftables: a drop event with Cilium's reason.
drops = of(47003, lambda f: f.verdict == flow_pb2.DROPPED)
c(len(drops) >= 1 and all(f.event_type.type == 1 and f.event_type.sub_type == 133 and
                          flow_type(f) == "Policy denied" and
                          f.drop_reason_desc == flow_pb2.POLICY_DENIED and
                          f.drop_reason_kernel == "NETFILTER_DROP" and
                          f.Summary == "TCP Flags: SYN" and
                          not f.observation_copy for f in drops),
  "nftables drop: DROP event, TYPE 'Policy denied', POLICY_DENIED, once per drop report (%s)"
  % [(f.event_type.type, f.event_type.sub_type, f.Summary) for f in drops])
c(len({f.interface.name for f in drops}) == 1, "a drop is one event, not one per interface")

# UDP, ICMP, DNS.
u = of(47004, lambda f: f.flow_event == flow_pb2.FLOW_EVENT_START)
c(len(u) == 2 and all(f.Summary == "UDP" for f in u), "UDP: Summary 'UDP'")
icmp = [f for f in flows if f.l4.WhichOneof("protocol") == "ICMPv4" and
        f.flow_event == flow_pb2.FLOW_EVENT_START]
c(len(icmp) == 2 and all(f.Summary == "ICMPv4 EchoRequest" for f in icmp),
  "ping: Summary 'ICMPv4 EchoRequest' (%s)" % [f.Summary for f in icmp])
dq = of(47005, lambda f: f.HasField("l7") and f.l7.type == flow_pb2.REQUEST)
da = of(47005, lambda f: f.HasField("l7") and f.l7.type == flow_pb2.RESPONSE)
c(len(dq) == 2 and all(f.event_type.type == 129 and f.Summary == "DNS Query web.shop.test. A" and
                       flow_type(f) == "dns-request flowscope-tc" for f in dq),
  "DNS query: L7 event, TYPE dns-request, Summary (%s)" % [f.Summary for f in dq])
c(len(da) == 2 and all(f.Summary == 'DNS Answer "10.200.2.2" (Query web.shop.test. A)'
                       for f in da), "DNS answer: its own event, Summary (%s)" %
  [f.Summary for f in da])

# flowctl's compact output is Hubble's printer on the same events.
out = subprocess.run([FLOWCTL, "observe", "--last", "1000", "-o", "compact", "--ip", "10.200.1.2",
                      "--until", time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(until))],
                     capture_output=True, text=True)
mine = [compact(f) for f in flows if f.time.seconds < int(until) or
        (f.time.seconds == int(until) and f.time.nanos == 0)]
got = out.stdout.splitlines()
c(out.returncode == 0 and got == mine,
  "flowctl -o compact prints Hubble's lines (%d lines, %d expected; first difference: %s)" %
  (len(got), len(mine), next(((a, b) for a, b in zip(got, mine) if a != b), None)))

# ---- the API around them -----------------------------------------------------------------------
def get(**kw):
    return [r.flow for r in stub.GetFlows(observer_pb2.GetFlowsRequest(number=1000, until=ts, **kw))
            if r.HasField("flow")]


only = get(whitelist=[flow_pb2.FlowFilter(event_type=[flow_pb2.EventTypeFilter(type=1)])])
c(len(only) >= 1 and all(f.event_type.type == 1 for f in only), "event_type drop: only drops")
te = get(whitelist=[flow_pb2.FlowFilter(event_type=[flow_pb2.EventTypeFilter(
    type=4, match_sub_type=True, sub_type=0)], source_ip=["10.200.1.2"])])
c(len(te) >= 1 and all(flow_type(f) == "to-endpoint" for f in te), "type trace:to-endpoint")
sf = get(whitelist=[flow_pb2.FlowFilter(tcp_flags=[flow_pb2.TCPFlags(SYN=True)],
                                        source_ip=["10.200.1.2"])])
c(len(sf) >= 4 and all(tcpf(f).SYN for f in sf), "tcp_flags SYN: the events that carried a SYN")
ids = get(whitelist=[flow_pb2.FlowFilter(destination_identity=list(web_id))])
c(len(ids) >= 4 and all(f.destination.identity in web_id for f in ids), "destination_identity")
wl = get(whitelist=[flow_pb2.FlowFilter(destination_workload=[flow_pb2.Workload(name="web")])])
c(len(wl) >= 4 and all(f.destination.pod_name == "web-1" for f in wl), "destination_workload")
one = get(whitelist=[flow_pb2.FlowFilter(uuid=[uuids[0]])])
c([f.uuid for f in one] == [uuids[0]], "uuid filter")
dn = get(whitelist=[flow_pb2.FlowFilter(dns_query=["web\\.shop"])])
c(len(dn) == 4 and all(f.HasField("l7") for f in dn), "dns_query")
http = get(whitelist=[flow_pb2.FlowFilter(http_method=["GET"])])
c(http == [], "http_method matches nothing (there is no HTTP)")
nl = get(whitelist=[flow_pb2.FlowFilter(node_labels=["zone=test"], source_ip=["10.200.1.2"])])
nl2 = get(whitelist=[flow_pb2.FlowFilter(node_labels=["zone=prod"])])
c(len(nl) >= 4 and nl2 == [], "node_labels")

for what, flt in (("cel_expression", flow_pb2.FlowFilter(experimental=flow_pb2.FlowFilter.Experimental(
        cel_expression=["true"]))), ("unknown field 2000", None)):
    if flt is None:
        raw = flow_pb2.FlowFilter(source_ip=["10.200.1.2"]).SerializeToString() + b"\x82\x7d\x01x"
        req = observer_pb2.GetFlowsRequest(number=1)
        req.whitelist.add().MergeFromString(raw)
    else:
        req = observer_pb2.GetFlowsRequest(number=1, whitelist=[flt])
    try:
        list(stub.GetFlows(req))
        c(False, "%s refused" % what)
    except grpc.RpcError as e:
        c(e.code() == grpc.StatusCode.INVALID_ARGUMENT and
          ("cel" in e.details() or "2000" in e.details()),
          "%s refused: %s %s" % (what, e.code(), e.details()))

fm = observer_pb2.google_dot_protobuf_dot_field__mask__pb2.FieldMask(
    paths=["time", "verdict", "source.identity", "l4.TCP.source_port"])
masked = get(whitelist=ours, field_mask=fm)
m = [f for f in masked if f.l4.HasField("TCP")]
c(len(m) >= 1 and all(not f.IP.source and not f.Summary and f.source.identity and
                      not f.source.pod_name and not f.l4.TCP.destination_port and
                      f.l4.TCP.source_port and f.HasField("time") for f in m),
  "field_mask keeps only the paths asked for")

pf = get(whitelist=ours, per_flow=True)
keys = [(f.IP.source, ports(f), f.interface.name) for f in pf]
c(len(pf) >= 10 and len(set(keys)) == len(keys) and len(pf) < len(flows),
  "per_flow: one message per flow and observation point (%d, of %d events)" % (len(pf), len(flows)))

ns = stub.GetNamespaces(observer_pb2.GetNamespacesRequest())
c([(n.namespace) for n in ns.namespaces] == ["shop"], "GetNamespaces from the identity file")

ae = [r.agent_event for r in stub.GetAgentEvents(observer_pb2.GetAgentEventsRequest())]
c(any(e.type == flow_pb2.AGENT_STARTED and e.agent_start.time.seconds > 0 for e in ae),
  "GetAgentEvents: AGENT_STARTED with its time")
att = [e.unknown.notification for e in ae if e.unknown.type == "probe-attached"]
c(len(att) == 3 and sum('"interface"' in n for n in att) == 2,
  "GetAgentEvents: the probes attached (%s)" % att)
last1 = list(stub.GetAgentEvents(observer_pb2.GetAgentEventsRequest(number=1)))
c(len(last1) == 1 and last1[0].agent_event == ae[-1],
  "GetAgentEvents number=1: the newest (%s of %s)" %
  ([r.agent_event.unknown.type for r in last1], [e.unknown.type or e.type for e in ae]))
try:
    list(stub.GetDebugEvents(observer_pb2.GetDebugEventsRequest()))
    c(False, "GetDebugEvents says it is not implemented")
except grpc.RpcError as e:
    c(e.code() == grpc.StatusCode.UNIMPLEMENTED and "debug" in e.details(),
      "GetDebugEvents: UNIMPLEMENTED with a reason (%s)" % e.details())
