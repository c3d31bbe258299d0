#!/usr/bin/env python3
"""Asserts that the flows flowd reported (NDJSON of GetFlowsResponse, from the HTTP API or
`flowctl observe -o json`) hold each known connection of the end-to-end test exactly once per
watched interface, with the right 5-tuple, direction and byte counts.
Usage: check_flows.py FLOWS.ndjson IFACE_CLIENT_SIDE IFACE_SERVER_SIDE
Prints one "ok - ..." or "FAIL - ..." line per check."""
import json
import sys

# Per-packet overhead allowed on top of the payload: Ethernet 14 + IPv6 40 + TCP 60 at most.
OVERHEAD = 114

CLIENT4, SERVER4 = "10.200.1.2", "10.200.2.2"
CLIENT6, SERVER6 = "fd00:200:1::2", "fd00:200:2::2"
# (name, proto, client, sport, server, dport, payload sent, payload received, min pkts each way)
EXPECTED = [("tcp4 %d" % i, "TCP", CLIENT4, 40001 + i, SERVER4, 8080, 20000, 5000, 3)
            for i in range(10)]
EXPECTED += [("tcp6 %d" % i, "TCP", CLIENT6, 41001 + i, SERVER6, 8080, 3000, 7000, 3)
             for i in range(2)]
EXPECTED += [("udp4", "UDP", CLIENT4, 50000, SERVER4, 5353, 100, 200, 1),
             ("udp6", "UDP", CLIENT6, 50001, SERVER6, 5353, 300, 400, 1)]

results = []


def check(ok, what):
    results.append(ok)
    print(("ok - " if ok else "FAIL - ") + what)


def orient(f):
    """The flow as initiator -> responder, whatever event it last described."""
    ip = f.get("IP", {})
    l4 = f.get("l4", {})
    proto = next(iter(l4), None)
    ports = l4.get(proto, {}) if proto else {}
    src, dst = ip.get("source"), ip.get("destination")
    sp, dp = ports.get("source_port", 0), ports.get("destination_port", 0)
    sent = (int(f.get("packets_sent", "0")), int(f.get("bytes_sent", "0")))
    recv = (int(f.get("packets_received", "0")), int(f.get("bytes_received", "0")))
    if f.get("is_reply"):
        src, dst, sp, dp, sent, recv = dst, src, dp, sp, recv, sent
    return proto, src, sp, dst, dp, sent, recv


def main():
    path, if_client, if_server = sys.argv[1:4]
    flows = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError as e:
                check(False, "line %d is JSON (%s)" % (n, e))
                continue
            if "flow" in msg:
                flows.append(msg["flow"])
    check(len(flows) > 0, "flows were reported (%d)" % len(flows))
    for iface, direction in ((if_client, "INGRESS"), (if_server, "EGRESS")):
        for name, proto, cli, sport, srv, dport, out_b, in_b, minp in EXPECTED:
            match = []
            for f in flows:
                p, s, sp, d, dp, sent, recv = orient(f)
                if f.get("interface", {}).get("name") != iface or p != proto:
                    continue
                if {(s, sp), (d, dp)} == {(cli, sport), (srv, dport)}:
                    match.append((f, s, sp, d, dp, sent, recv))
            what = "%s on %s" % (name, iface)
            check(len(match) == 1, "%s appears once (found %d)" % (what, len(match)))
            if len(match) != 1:
                continue
            f, s, sp, d, dp, sent, recv = match[0]
            check((s, sp, d, dp) == (cli, sport, srv, dport),
                  "%s oriented client -> server (%s:%s -> %s:%s)" % (what, s, sp, d, dp))
            check(f.get("traffic_direction") == direction,
                  "%s traffic_direction %s (got %s)" % (what, direction,
                                                        f.get("traffic_direction")))
            check(f.get("verdict") == "FORWARDED", "%s verdict FORWARDED" % what)
            check(f.get("Type") == "L3_L4", "%s Type L3_L4" % what)
            ok_out = sent[0] >= minp and out_b <= sent[1] <= out_b + sent[0] * OVERHEAD
            ok_in = recv[0] >= minp and in_b <= recv[1] <= in_b + recv[0] * OVERHEAD
            check(ok_out, "%s bytes sent %d for %d payload in %d packets" %
                  (what, sent[1], out_b, sent[0]))
            check(ok_in, "%s bytes received %d for %d payload in %d packets" %
                  (what, recv[1], in_b, recv[0]))
            check(bool(f.get("flow_start")) and bool(f.get("flow_last_seen")),
                  "%s has flow_start and flow_last_seen" % what)
            if proto == "TCP":
                fl = f["l4"]["TCP"].get("flags", {})
                check(all(fl.get(k) for k in ("SYN", "ACK", "FIN")),
                      "%s TCP flags include SYN, ACK, FIN (%s)" % (what, sorted(fl)))
        # ping: ICMPv4 echo, 3 requests and 3 replies, one flow
        pings = []
        for f in flows:
            if f.get("interface", {}).get("name") != iface or "ICMPv4" not in f.get("l4", {}):
                continue
            p, s, sp, d, dp, sent, recv = orient(f)
            if {s, d} == {CLIENT4, SERVER4}:
                pings.append((f, s, d, sent, recv))
        check(len(pings) == 1, "ping on %s appears once (found %d)" % (iface, len(pings)))
        if len(pings) == 1:
            f, s, d, sent, recv = pings[0]
            check((s, d) == (CLIENT4, SERVER4), "ping on %s oriented %s -> %s" % (iface, s, d))
            check(sent[0] == 3 and recv[0] == 3,
                  "ping on %s counts 3 requests, 3 replies (%d, %d)" % (iface, sent[0], recv[0]))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
