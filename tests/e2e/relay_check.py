"""The relay test's driver (tests/e2e/e2e_relay.sh), run in the hub namespace where flowrelay
runs: it makes the ground-truth traffic through each node's control port (tests/e2e/relay_node.py)
and checks the cluster the relay serves, with flowctl (observe -o jsonpb --print-node-name,
list nodes), the HTTP API (/api/v1/nodes) and a gRPC client generated from proto/ (a follower
that keeps the whole merged stream with arrival times, ServerStatus, GetNodes, GetNamespaces,
health): every connection once per observation point on the right node, time order except
events marked late (and those counted), cluster-wide --last/--first, since/until across nodes,
an agent killed (UNAVAILABLE within 5 s, the others flowing) and restarted (CONNECTED, its new
events, no duplicates), the relay's stream to an agent cut by nftables (resumed: no gap, no
duplicate), refusals and bad peers reported per node with why, the peers file reloaded.
Usage: relay_check.py CONFIG.json (written by e2e_relay.sh). Prints ok/FAIL lines."""
import calendar
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import flowscope_api  # noqa: F401 (urllib requests carry the API token)

CFG = json.load(open(sys.argv[1]))
sys.path.insert(0, CFG["stubs"])
import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import flow_pb2  # noqa: E402
import observer_pb2  # noqa: E402
import observer_pb2_grpc  # noqa: E402

NODES = CFG["nodes"]  # [{"name", "data", "mgmt", "ns", "start", "pidfile"}], node-01 first
NAMES = [n["name"] for n in NODES]
BY_NAME = {n["name"]: n for n in NODES}
LAG = CFG["lag_s"]
HTTP = "http://" + CFG["http"]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what, flush=True)
    else:
        failed += 1
        print("FAIL - " + what, flush=True)
    return cond


def note(what):
    print("# " + what, flush=True)


# ---- what the relay says ----------------------------------------------------------------------

def nodes_http(http=HTTP):
    with urllib.request.urlopen(http + "/api/v1/nodes", timeout=5) as r:
        return json.load(r)["nodes"]


def node_states(http=HTTP):
    try:
        return {n["name"]: n for n in nodes_http(http)}
    except (OSError, ValueError, KeyError):
        return {}


channel = grpc.insecure_channel(CFG["grpc"])
stub = observer_pb2_grpc.ObserverStub(channel)


def server_status():
    return stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=5)


def flowctl(*args, timeout=30):
    p = subprocess.run([CFG["flowctl"], *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def observe(*args):
    """GetFlowsResponse dicts from flowctl observe -o jsonpb --print-node-name ARGS."""
    rc, out, err = flowctl("observe", "-o", "jsonpb", "--print-node-name", *args)
    if rc != 0:
        note("flowctl observe %s: exit %d: %s" % (" ".join(args), rc, err.strip()[:300]))
        return None
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---- flow events as plain data ----------------------------------------------------------------

def ts_ns(s):
    """RFC 3339 (as protobuf JSON writes it) -> ns since the epoch."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", s or "")
    if not m:
        return 0
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    frac = (m.group(2) or "").ljust(9, "0")[:9]
    return secs * 10**9 + int(frac)


def ev_of(resp, arrival=None):
    """One flow event of a GetFlowsResponse dict: what a check needs, and a key that two
    deliveries of the same event share (the relay's uuids are its own, so not the uuid)."""
    f = resp["flow"]
    ip = f.get("IP", {})
    l4 = f.get("l4", {})
    proto = next(iter(l4), "")
    ports = l4.get(proto, {}) if proto in ("TCP", "UDP") else {}
    flags = ports.get("flags", {}) if proto == "TCP" else {}
    e = {
        "node": resp.get("node_name", ""),
        "flow_node": f.get("node_name", ""),
        "time": ts_ns(f.get("time") or resp.get("time")),
        "src": ip.get("source", ""),
        "dst": ip.get("destination", ""),
        "sport": int(ports.get("source_port", 0)),
        "dport": int(ports.get("destination_port", 0)),
        "proto": proto,
        "flags": tuple(sorted(k for k, v in flags.items() if v)),
        "reply": bool(f.get("is_reply", False)),
        "event": f.get("flow_event", ""),
        "point": f.get("trace_observation_point", ""),
        "late": bool(resp.get("late", False)),
        "arrival": arrival,
    }
    e["key"] = (e["node"], e["time"], e["src"], e["dst"], e["sport"], e["dport"], proto,
                e["flags"], e["reply"], e["event"], e["point"], f.get("packets_sent", "0"),
                f.get("packets_received", "0"), f.get("verdict", ""))
    return e


def events_of(resps):
    return [ev_of(r) for r in resps or [] if "flow" in r]


def of_conn(evs, c):
    """The events of ground-truth connection c, either direction."""
    a = (c["src"], c["sport"], c["dst"], c["dport"])
    return [e for e in evs if e["proto"] == c["proto"] and
            ((e["src"], e["sport"], e["dst"], e["dport"]) == a or
             (e["dst"], e["dport"], e["src"], e["sport"]) == a)]


# ---- the follower: the whole merged stream, with arrival times --------------------------------

class Follower(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.msgs = []  # (arrival s, kind, dict)
        self.lock = threading.Lock()
        self.error = None
        self.call = None

    def run(self):
        try:
            self.call = stub.GetFlows(observer_pb2.GetFlowsRequest(follow=True))
            for r in self.call:
                kind = r.WhichOneof("response_types")
                d = json_format.MessageToDict(r, preserving_proto_field_name=True)
                with self.lock:
                    self.msgs.append((time.time(), kind, d))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = "%s: %s" % (e.code(), e.details())

    def events(self):
        with self.lock:
            return [ev_of(d, t) for t, k, d in self.msgs if k == "flow"]

    def statuses(self):
        with self.lock:
            return [(t, d["node_status"]) for t, k, d in self.msgs if k == "node_status"]

    def lost(self):
        with self.lock:
            return sum(int(d["lost_events"].get("num_events_lost", 0))
                       for t, k, d in self.msgs if k == "lost_events")


# ---- traffic through the nodes' control ports -------------------------------------------------

def control(node, req):
    with socket.create_connection((node["mgmt"], CFG["control_port"]), timeout=10) as s:
        f = s.makefile("rw")
        f.write(json.dumps(req) + "\n")
        f.flush()
        ans = f.readline()
    return json.loads(ans) if ans else {"ok": False, "error": "no answer"}


def conn(proto, a, b, sport):
    """A ground-truth connection from node a to node b (names) from source port sport."""
    port = 8080 if proto == "TCP" else 5000
    return {"proto": proto, "a": a, "b": b, "src": BY_NAME[a]["data"], "dst": BY_NAME[b]["data"],
            "sport": sport, "dport": port}


def run_conns(conns, spacing=0.0):
    """Makes the connections (in parallel unless spaced); returns those that failed."""
    bad = []

    def one(c):
        r = control(BY_NAME[c["a"]], {"op": c["proto"].lower(), "dst": c["dst"],
                                      "port": c["dport"], "sport": c["sport"]})
        c["t"] = time.time()
        if not r.get("ok"):
            bad.append((c, r))

    threads = []
    for c in conns:
        t = threading.Thread(target=one, args=(c,))
        t.start()
        threads.append(t)
        if spacing:
            time.sleep(spacing)
    for t in threads:
        t.join()
    return bad


def per_point(evs, c, want_end=True):
    """What is wrong with c in evs: each of its two nodes must have seen it once (one SYN and
    one SYN-ACK for TCP, one END), no other node at all. '' when right."""
    mine = of_conn(evs, c)
    nodes = sorted({e["node"] for e in mine})
    if nodes != sorted({c["a"], c["b"]}):
        return "seen on %s, expected %s and %s" % (nodes, c["a"], c["b"])
    for n in (c["a"], c["b"]):
        on = [e for e in mine if e["node"] == n]
        if any(e["flow_node"] != n for e in on):
            return "events of %s carry flow.node_name %s" % (n, {e["flow_node"] for e in on})
        if c["proto"] == "TCP":
            syn = [e for e in on if e["flags"] == ("SYN",)]
            synack = [e for e in on if e["flags"] == ("ACK", "SYN")]
            if len(syn) != 1 or len(synack) != 1:
                return "%s: %d SYN and %d SYN-ACK events" % (n, len(syn), len(synack))
        starts = [e for e in on if e["event"] == "FLOW_EVENT_START"]
        ends = [e for e in on if e["event"] == "FLOW_EVENT_END"]
        if len(starts) != 1 or (want_end and len(ends) != 1):
            return "%s: %d START and %d END events" % (n, len(starts), len(ends))
    return ""


def check_conns(evs, conns, what, want_end=True):
    bad = [(c, per_point(evs, c, want_end)) for c in conns]
    bad = [(c, why) for c, why in bad if why]
    check(not bad, "%s: %d connections, each once per observation point on its client's and its "
          "server's node%s" % (what, len(conns), "" if not bad else " (%d wrong, e.g. %s:%d %s->%s: %s)"
                               % (len(bad), bad[0][0]["proto"], bad[0][0]["sport"], bad[0][0]["a"],
                                  bad[0][0]["b"], bad[0][1])))


def wait_for(fn, timeout, step=0.2):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(step)


def settled(follower, conns, timeout=10):
    """Waits until every connection has its END events at both nodes in the follower."""
    return wait_for(lambda: all(not per_point(follower.events(), c) for c in conns), timeout, 0.3)


def duplicates(evs):
    seen, dups = set(), []
    for e in evs:
        if e["key"] in seen:
            dups.append(e)
        seen.add(e["key"])
    return dups


# ---- the checks -------------------------------------------------------------------------------

def start_checks():
    def all_up():
        s = node_states()
        return len(s) == len(NODES) and all(
            s.get(n, {}).get("state") == "CONNECTED" for n in NAMES) and s
    s = wait_for(all_up, 40, 0.5)
    got = node_states()
    check(bool(s), "%d agents CONNECTED to the relay over mTLS, named by themselves (%s)" % (
        len(NODES), ", ".join("%s:%s" % (k, v["state"]) for k, v in sorted(got.items())
                              if v["state"] != "CONNECTED") or "all connected"))
    check(len(got) == len(NODES), "the relay lists %d nodes, each once (discovery told the "
          "same agents again): %d" % (len(NODES), len(got)))
    check(all(v.get("tls") for v in got.values()), "every node is reached over TLS")
    return bool(s)


def phase_ground_truth(follower):
    conns = []
    for i, n in enumerate(NAMES):
        conns.append(conn("TCP", n, NAMES[(i + 1) % len(NAMES)], 41000 + i))
        conns.append(conn("UDP", n, NAMES[(i + 5) % len(NAMES)], 42000 + i))
    t1 = time.time()
    bad = run_conns(conns)
    t2 = time.time()
    check(not bad, "ground truth: %d TCP and UDP exchanges between the nodes answered%s" % (
        len(conns), "" if not bad else " (%d not: %s)" % (len(bad), bad[0][1])))
    settled(follower, conns)
    dump = observe("--all")
    check(dump is not None, "flowctl observe --all -o jsonpb --print-node-name against the relay")
    evs = events_of(dump)
    check_conns(evs, conns, "flowctl observe --all")
    check(all(e["node"] == e["flow_node"] and e["node"] in NAMES for e in evs),
          "every event carries its node's name (GetFlowsResponse.node_name = flow.node_name)")
    pf = observe("--all", "--per-flow")
    pfe = events_of(pf)
    bad = []
    for c in conns:
        nodes = sorted(e["node"] for e in of_conn(pfe, c))
        if nodes != sorted([c["a"], c["b"]]):
            bad.append((c, nodes))
    check(pf is not None and not bad, "--per-flow: one flow per connection and observation point "
          "(%d connections%s)" % (len(conns), "" if not bad else ", %d wrong, e.g. %s:%d on %s"
                                  % (len(bad), bad[0][0]["proto"], bad[0][0]["sport"], bad[0][1])))
    check_conns(follower.events(), conns, "the follower's stream")
    return conns, t1, t2, evs


def phase_selectors(t1, t2):
    # Nothing new comes in now (the ground truth has ended): compare with a dump.
    dump = events_of(observe("--all"))
    quiet = events_of(observe("--all"))
    if len(dump) != len(quiet):
        note("the cluster was not quiet: %d then %d events" % (len(dump), len(quiet)))
    times = sorted(e["time"] for e in quiet)
    n = 50
    last = events_of(observe("--last", str(n)))
    check(len(last) == n, "--last %d gives exactly %d events for the cluster (per node would be "
          "up to %d): %d" % (n, n, n * len(NODES), len(last)))
    check(sorted(e["time"] for e in last) == times[-n:],
          "--last %d: the newest %d events across nodes" % (n, n))
    check(len({e["node"] for e in last}) >= 3,
          "--last %d: from %d nodes" % (n, len({e["node"] for e in last})))
    first = events_of(observe("--first", "30"))
    check(len(first) == 30 and sorted(e["time"] for e in first) == times[:30],
          "--first 30: the oldest 30 events across nodes (%d)" % len(first))
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (
        int(t * 1000) % 1000)
    lo, hi = fmt(t1), fmt(t2)
    lo_ns, hi_ns = ts_ns(lo), ts_ns(hi)
    want = sorted(e["key"] for e in quiet if lo_ns <= e["time"] <= hi_ns)
    win = events_of(observe("--since", lo, "--until", hi))
    got = sorted(e["key"] for e in win)
    check(got == want and len(want) > 0, "--since %s --until %s: the %d events of every node in "
          "the window (got %d)" % (lo, hi, len(want), len(got)))
    check(len({e["node"] for e in win}) >= 3,
          "--since/--until: events of %d nodes" % len({e["node"] for e in win}))
    # The same through the gRPC client generated from proto/.
    req = observer_pb2.GetFlowsRequest(number=20)
    r = list(stub.GetFlows(req, timeout=10))
    flows = [x for x in r if x.WhichOneof("response_types") == "flow"]
    check(len(flows) == 20 and all(x.node_name in NAMES for x in flows),
          "Python GetFlows(number=20): 20 flows with node names (%d)" % len(flows))
    a, b = Timestamp(), Timestamp()
    a.FromNanoseconds(lo_ns)
    b.FromNanoseconds(hi_ns)
    r = list(stub.GetFlows(observer_pb2.GetFlowsRequest(since=a, until=b), timeout=10))
    got = sorted(ev_of(json_format.MessageToDict(x, preserving_proto_field_name=True))["key"]
                 for x in r if x.WhichOneof("response_types") == "flow")
    check(got == want, "Python GetFlows(since, until): the same %d events (%d)" % (
        len(want), len(got)))


def phase_api():
    rc, out, err = flowctl("list", "nodes")
    rows = [l for l in out.splitlines()[1:] if l.strip()]
    conn_rows = [l for l in rows if re.search(r"\bConnected\b", l)]
    names = sorted(l.split()[0] for l in conn_rows)
    check(rc == 0 and len(rows) == len(NODES) and names == sorted(NAMES),
          "flowctl list nodes: %d nodes Connected (%d rows, %d Connected)%s" % (
              len(NODES), len(rows), len(conn_rows), "" if rc == 0 else ": " + err.strip()))
    st = server_status()
    check(st.num_connected_nodes.value == len(NODES) and st.num_unavailable_nodes.value == 0,
          "Python ServerStatus: num_connected_nodes %d, num_unavailable_nodes %d" % (
              st.num_connected_nodes.value, st.num_unavailable_nodes.value))
    gn = stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=5)
    got = sorted(n.name for n in gn.nodes)
    check(got == sorted(NAMES) and all(n.state == 1 for n in gn.nodes) and
          sorted(n.address for n in gn.nodes) == sorted(n["mgmt"] + ":4244" for n in NODES),
          "Python GetNodes: %d nodes CONNECTED with their names and addresses (%d)" % (
              len(NODES), len(gn.nodes)))
    check(all(n.tls.enabled for n in gn.nodes), "GetNodes: every node's TLS enabled")
    ns = stub.GetNamespaces(observer_pb2.GetNamespacesRequest(), timeout=5)
    got = sorted({n.namespace for n in ns.namespaces})
    check({"shop", "pay"} <= set(got), "Python GetNamespaces: the nodes' namespaces merged (%s)"
          % ", ".join(got))
    evs = list(stub.GetAgentEvents(observer_pb2.GetAgentEventsRequest(number=1000), timeout=5))
    started = {e.node_name for e in evs if e.agent_event.type == flow_pb2.AGENT_STARTED}
    attached = {e.node_name for e in evs if e.agent_event.unknown.type == "probe-attached"}
    want = {n["name"] for n in NODES}
    check(want <= started and want <= attached,
          "Python GetAgentEvents: every agent's AGENT_STARTED and probe-attached, with its node "
          "(%d and %d of %d nodes)" % (len(want & started), len(want & attached), len(want)))
    h = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="hubble.server.Observer"), timeout=5)
    check(h.status == health_pb2.HealthCheckResponse.SERVING, "health: SERVING")


def down_seen(name, what):
    """Seconds until name is UNAVAILABLE in /api/v1/nodes and in ServerStatus (None: not in
    6 s), with the message /api/v1/nodes gives."""
    t0 = time.time()
    t_http = t_grpc = None
    msg = ""
    while time.time() - t0 < 6 and (t_http is None or t_grpc is None):
        s = node_states().get(name, {})
        if t_http is None and s.get("state") == "UNAVAILABLE":
            t_http, msg = time.time() - t0, s.get("message", "")
        st = server_status()
        if t_grpc is None and name in st.unavailable_nodes and st.num_unavailable_nodes.value >= 1:
            t_grpc = time.time() - t0
        time.sleep(0.1)
    return t_http, t_grpc, msg


def fmt_s(t):
    return "never" if t is None else "%.1f s" % t


def agent_pid(node):
    return int(open(node["pidfile"]).read().strip())


def phase_kill(follower):
    victim = BY_NAME[NAMES[4]]
    others = [n for n in NAMES if n != victim["name"]]
    during = [conn("TCP", others[0], others[1], 43000 + k) for k in range(6)] + \
        [conn("UDP", others[2], others[3], 43100 + k) for k in range(3)]
    os.kill(agent_pid(victim), signal.SIGKILL)
    res = []
    t = threading.Thread(target=lambda: res.append(run_conns(during, spacing=0.4)))
    t.start()
    t_http, t_grpc, msg = down_seen(victim["name"], "killed")
    check(t_http is not None and t_http <= 5,
          "agent %s killed (SIGKILL): UNAVAILABLE in /api/v1/nodes within 5 s (%s: %s)" % (
              victim["name"], fmt_s(t_http), msg))
    check(t_grpc is not None and t_grpc <= 5,
          "... and in ServerStatus.unavailable_nodes within 5 s (%s)" % fmt_s(t_grpc))
    s = node_states()
    check(all(s.get(n, {}).get("state") == "CONNECTED" for n in others),
          "the other %d nodes stay CONNECTED" % len(others))
    t.join()
    check(not res[0], "traffic between other nodes while %s is down answered" % victim["name"])
    settled(follower, during)
    check_conns(follower.events(), during, "while %s is down, the follower still gets the other "
                "nodes' events" % victim["name"])
    check(wait_for(lambda: any(s.get("state_change") == "NODE_UNAVAILABLE" and
                               victim["name"] in s.get("node_names", [])
                               for _, s in follower.statuses()), 2),
          "the follower's stream tells NodeStatusEvent NODE_UNAVAILABLE for %s" % victim["name"])
    # Back: the same agent again (a new flowd: a new event log).
    subprocess.run(["bash", victim["start"]], check=True)
    t0 = time.time()
    up = wait_for(lambda: node_states().get(victim["name"], {}).get("state") == "CONNECTED", 12)
    check(up, "agent %s restarted: CONNECTED again (%s)" % (
        victim["name"], fmt_s(time.time() - t0 if up else None)))
    i = NAMES.index(victim["name"])
    after = [conn("TCP", victim["name"], NAMES[i + 1], 44000), conn("TCP", NAMES[i - 1],
                                                                    victim["name"], 44001),
             conn("UDP", victim["name"], NAMES[i + 2], 44002)]
    bad = run_conns(after)
    check(not bad, "traffic to and from %s after its restart answered" % victim["name"])
    settled(follower, after)
    check_conns(follower.events(), after, "%s's new events after its restart" % victim["name"])
    check(wait_for(lambda: any(
        s.get("state_change") == "NODE_CONNECTED" and victim["name"] in s.get("node_names", [])
        for t, s in follower.statuses()), 2),
        "the follower's stream tells NodeStatusEvent NODE_CONNECTED for %s" % victim["name"])
    return during + after


NFT_BLOCK = """table inet fsrblock {
	chain in { type filter hook input priority 0; tcp dport 4244 drop; }
	chain out { type filter hook output priority 0; tcp sport 4244 drop; }
}
"""


def phase_cut(follower):
    victim = BY_NAME[NAMES[8]]
    i = NAMES.index(victim["name"])
    c0 = node_states().get(victim["name"], {}).get("connects", 0)
    late0 = node_states().get(victim["name"], {}).get("late", 0)
    during = [conn("TCP", victim["name"], NAMES[i + 1], 45000 + k) for k in range(5)] + \
        [conn("TCP", NAMES[i - 1], victim["name"], 45100 + k) for k in range(5)] + \
        [conn("UDP", victim["name"], NAMES[i + 2], 45200 + k) for k in range(3)]
    subprocess.run(["ip", "netns", "exec", victim["ns"], "nft", "-f", "-"], input=NFT_BLOCK,
                   text=True, check=True)
    t0 = time.time()
    res = []
    t = threading.Thread(target=lambda: res.append(run_conns(during, spacing=0.3)))
    t.start()
    t_http, _, msg = down_seen(victim["name"], "cut")
    check(t_http is not None and t_http <= 5, "the relay's stream to %s blocked by nftables: "
          "UNAVAILABLE within 5 s (%s: %s)" % (victim["name"], fmt_s(t_http), msg))
    t.join()
    time.sleep(max(0, 4.5 - (time.time() - t0)))
    subprocess.run(["ip", "netns", "exec", victim["ns"], "nft", "delete", "table", "inet",
                    "fsrblock"], check=True)
    check(not res[0], "traffic of %s while its agent cannot reach the relay answered"
          % victim["name"])
    t1 = time.time()
    up = wait_for(lambda: node_states().get(victim["name"], {}).get("state") == "CONNECTED" and
                  node_states()[victim["name"]].get("connects", 0) > c0, 12)
    check(up, "unblocked: %s CONNECTED again on a new stream (%s, connects %d -> %d)" % (
        victim["name"], fmt_s(time.time() - t1 if up else None), c0,
        node_states().get(victim["name"], {}).get("connects", 0)))
    settled(follower, during)
    evs = follower.events()
    check_conns(evs, during, "resumed: what %s published while cut off arrives (no gap, no "
                "duplicate)" % victim["name"])
    mine = [e for c in during for e in of_conn(evs, c) if e["node"] == victim["name"]]
    late = [e for e in mine if e["late"]]
    late1 = node_states().get(victim["name"], {}).get("late", 0)
    check(late and late1 - late0 >= len(late), "%s's events from the cut arrive after newer ones "
          "of other nodes: marked late (%d of %d) and counted (late %d -> %d)" % (
              victim["name"], len(late), len(mine), late0, late1))
    return during


def phase_stream(follower, late_before, extra):
    evs = follower.events()
    check(not follower.error, "the follower's stream stays open (%s)" % (follower.error or "yes"))
    dups = duplicates(evs)
    check(not dups, "no event twice in the follower's stream across the kill, the restart and "
          "the cut (%d events, %d twice%s)" % (len(evs), len(dups), "" if not dups else
                                                ", e.g. %s %s:%d" % (dups[0]["node"], dups[0]["src"],
                                                                     dups[0]["sport"])))
    top, bad, wrongly = 0, [], []
    for e in evs:
        if e["late"]:
            if e["time"] >= top:
                wrongly.append(e)
        elif e["time"] < top:
            bad.append((e, top))
        else:
            top = e["time"]
    check(not bad, "the merged stream is in time order but for events marked late (%d events, "
          "%d out of order unmarked%s)" % (len(evs), len(bad), "" if not bad else
                                           ", e.g. %s %.3f s behind" % (bad[0][0]["node"],
                                                                        (bad[0][1] - bad[0][0]["time"]) / 1e9)))
    check(not wrongly, "events marked late are older than one released before them (%d not)"
          % len(wrongly))
    late = sum(1 for e in evs if e["late"])
    s = node_states()
    late_now = sum(v.get("late", 0) for v in s.values())
    check(late_now - late_before == late, "late events counted: /api/v1/nodes late grew by %d, "
          "the stream had %d" % (late_now - late_before, late))
    check(follower.lost() == 0, "the follower lost nothing (%d)" % follower.lost())
    delays = sorted((e["arrival"] - e["time"] / 1e9) for e in evs if not e["late"])
    if delays:
        p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99)]
        check(p99 <= LAG + 0.5, "delay from an event's time to the follower: p50 %.3f s, p99 %.3f "
              "s, max %.3f s (lag bound %.1f s)" % (p50, p99, delays[-1], LAG))
    # Every connection the test made is in the stream, each once per observation point.
    check_conns(evs, extra, "the whole run in the follower's stream")


def bad_relays():
    """Relays that cannot follow: refused (no client certificate), the wrong CA, bad peers."""
    tmp, pki, hub = CFG["tmp"], CFG["pki"], CFG["hub_mgmt"]
    # Two plaintext servers that are not agents: one asked in plaintext, one over TLS (a peer
    # is given once per address).
    srv = http.server.ThreadingHTTPServer((hub, 18080), http.server.SimpleHTTPRequestHandler)
    srv2 = http.server.ThreadingHTTPServer((hub, 18081), http.server.SimpleHTTPRequestHandler)
    for x in (srv, srv2):
        threading.Thread(target=x.serve_forever, daemon=True).start()
    a, b = NODES[0]["mgmt"] + ":4244", NODES[1]["mgmt"] + ":4244"
    common = ["--no-discover", "--web-dir", CFG["web_dir"], "--max-flows", "1024",
              "--max-events", "1024"]
    specs = {
        "nocert": (["--peer", a, "--peer", b, "--peer-tls-ca", pki["ca"],
                    "--peer-tls-server-name", pki["server_name"]],
                   {a: r"certificate", b: r"certificate"}),
        "wrongca": (["--peer", a, "--peer-tls-ca", pki["other_ca"], "--peer-tls-cert", pki["cert"],
                     "--peer-tls-key", pki["key"], "--peer-tls-server-name", pki["server_name"]],
                    {a: r"certificate|verif"}),
        "bad": (["--peer", NODES[0]["mgmt"] + ":4299", "--peer", hub + ":18080",
                 "--peer", a, "--peer", "tls://%s:18081" % hub],
                {NODES[0]["mgmt"] + ":4299": r"refused",
                 hub + ":18080": r"HTTP/2|HTTP/1|gRPC|not a|protocol|closed the connection",
                 a: r"TLS|SSL",
                 "tls://%s:18081" % hub: r"TLS|SSL|handshake"}),
    }
    why = {"nocert": "TLS without the client certificate the agents require",
           "wrongca": "agents' certificates not signed by the CA given",
           "bad": "bad peers"}
    what = {NODES[0]["mgmt"] + ":4299": "wrong port", hub + ":18080": "not a flowd (an HTTP/1 "
            "server)", a: "plaintext to a TLS agent", "tls://%s:18081" % hub: "TLS to a "
            "plaintext server"}
    procs = {}
    for k, (args, _) in specs.items():
        port = {"nocert": 1, "wrongca": 2, "bad": 3}[k]
        log = open(os.path.join(tmp, "relay-%s.log" % k), "w")
        procs[k] = (subprocess.Popen([CFG["flowrelay"], "--grpc", "127.0.0.1:%d" % (4245 + port),
                                      "--http", "127.0.0.1:%d" % (12000 + port), *args, *common],
                                     stdout=log, stderr=subprocess.STDOUT),
                    "http://127.0.0.1:%d" % (12000 + port))
    samples = {k: [] for k in specs}
    t0 = time.time()
    while time.time() - t0 < 5:
        time.sleep(0.25)
        for k, (p, url) in procs.items():
            samples[k].append(node_states(url))
    for k, (args, expect) in specs.items():
        last = samples[k][-1] if samples[k] else {}
        byaddr = {v["address"]: v for v in last.values()}
        check(sorted(byaddr) == sorted(expect), "relay with %s lists its %d peers (%s)" % (
            why[k], len(expect), ", ".join(sorted(byaddr))))
        for addr, pat in expect.items():
            v = byaddr.get(addr, {})
            ever = [s2 for s2 in samples[k] for x in s2.values()
                    if x["address"] == addr and x["state"] == "CONNECTED"]
            label = what.get(addr, addr) if k == "bad" else addr
            # connects counts the streams the relay took as established: none may be.
            check(v.get("state") in ("UNAVAILABLE", "ERROR") and not ever and
                  v.get("connects", 0) == 0 and re.search(pat, v.get("message", ""), re.I),
                  "%s: %s is %s, never CONNECTED (%d of %d samples, connects %s), and "
                  "/api/v1/nodes says why: %r" % (
                      why[k], label, v.get("state"), len(ever), len(samples[k]),
                      v.get("connects"), v.get("message", "")))
    for p, _ in procs.values():
        p.send_signal(signal.SIGTERM)
    for k, (p, _) in procs.items():
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "hung"
        check(rc == 0, "relay with %s stops on SIGTERM (exit %s)" % (why[k], rc))
    srv.shutdown()
    srv2.shutdown()
    s = node_states()
    check(sum(1 for v in s.values() if v["state"] == "CONNECTED") == len(NODES),
          "the main relay's %d nodes are still CONNECTED" % len(NODES))


def peers_reload(follower):
    path = CFG["peers_file"]
    orig = open(path).read()
    extra = "10.200.2.250:4244"
    with open(path + ".new", "w") as f:
        f.write(orig + extra + "\n")
    os.rename(path + ".new", path)
    got = wait_for(lambda: extra in {v["address"] for v in node_states().values()} and
                   node_states(), 5)
    check(got and len(got) == len(NODES) + 1 and
          {v["address"]: v for v in got.values()}[extra]["state"] == "UNAVAILABLE",
          "a peer added to the peers file is followed (%d nodes, the new one UNAVAILABLE)" % (
              len(got or {})))
    with open(path + ".new", "w") as f:
        f.write(orig)
    os.rename(path + ".new", path)
    got = wait_for(lambda: extra not in {v["address"] for v in node_states().values()} and
                   node_states(), 5)
    check(got and len(got) == len(NODES), "removed from the peers file: no longer listed (%d)"
          % len(got or {}))
    check(wait_for(lambda: any(s.get("state_change") == "NODE_GONE"
                               for _, s in follower.statuses()), 2),
          "the follower's stream tells NodeStatusEvent NODE_GONE for the removed peer")


def main():
    if not start_checks():
        note("the relay does not have its nodes: the checks that need them are skipped as failed")
        check(False, "the cluster is up: the rest of the checks not run")
        return
    late_before = sum(v.get("late", 0) for v in node_states().values())
    follower = Follower()
    follower.start()
    time.sleep(1)
    conns, t1, t2, evs = phase_ground_truth(follower)
    phase_selectors(t1, t2)
    phase_api()
    extra = phase_kill(follower)
    extra += phase_cut(follower)
    phase_stream(follower, late_before, conns + extra)
    bad_relays()
    peers_reload(follower)
    if follower.call:
        follower.call.cancel()
    # Traffic for the dashboard check that follows.
    for n in NODES:
        control(n, {"op": "background", "on": True,
                    "peers": [m["data"] for m in NODES if m is not n]})


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash of the driver is a failure, not a pass
        import traceback
        traceback.print_exc()
        check(False, "relay_check.py ran to the end (%s: %s)" % (type(e).__name__, e))
