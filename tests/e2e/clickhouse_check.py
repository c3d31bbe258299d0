#!/usr/bin/env python3
"""Checks for tests/e2e/e2e_clickhouse.sh: what flowd's ClickHouse exporter stored against the
ground truth (the flow events flowd's file exporter wrote at the same time), the table's schema
against the documented one, and flowctl's history output against the server's. Prints
"ok - ..." / "FAIL - ..." lines for lib.sh's add_checks.

Usage:
  clickhouse_check.py delivered FLOWS.ndjson LATER.ndjson ROWS.tsv WHAT
  clickhouse_check.py schema COLUMNS.tsv ENGINE.txt
  clickhouse_check.py same HISTORY.jsonl SERVER.jsonl WHAT
  clickhouse_check.py selected HISTORY.jsonl FLOWS.ndjson PORT WHAT
  clickhouse_check.py follow OUT.jsonl FLOWS.ndjson PORT
  clickhouse_check.py ended FLOWS.ndjson PORT
  clickhouse_check.py relay FLOWS.ndjson WHAT OUT.jsonl CHECK... (all, port=N, first=N, last=N,
      held, or a time in ns: the relay's start)
"""
import datetime
import json
import sys

# The documented table (README "ClickHouse"; include/flowscope/exporters/clickhouse_schema.h).
SCHEMA = """date Date
time UInt64
node_name String
node_labels Array(String)
uuid FixedString(16)
flow_id UInt64
verdict UInt8
flow_event UInt8
event_type UInt8
event_subtype Int32
observation_point UInt8
traffic_direction UInt8
is_reply UInt8
observation_copy UInt8
ip_version UInt8
source_ip FixedString(16)
destination_ip FixedString(16)
protocol UInt8
source_port UInt16
destination_port UInt16
icmp_type UInt8
icmp_code UInt8
tcp_flags UInt16
tcp_flags_seen UInt16
interface_index UInt32
interface_name String
drop_reason UInt16
drop_reason_kernel String
drops UInt64
packets_sent UInt64
packets_received UInt64
bytes_sent UInt64
bytes_received UInt64
flow_start UInt64
flow_last_seen UInt64
flow_end UInt64
rtt_us UInt32
retransmits UInt32
socket_cookie UInt64
source_pid UInt32
source_comm String
source_cgroup_id UInt64
source_container_id String
destination_pid UInt32
destination_comm String
destination_cgroup_id UInt64
destination_container_id String
source_name String
destination_name String
dns_type UInt8
dns_query String
dns_qtype UInt16
dns_rcode UInt8
dns_ttl UInt32
dns_ips Array(FixedString(16))
source_identity UInt32
source_namespace String
source_pod String
source_labels Array(String)
source_service String
source_workload String
source_workload_kind String
destination_identity UInt32
destination_namespace String
destination_pod String
destination_labels Array(String)
destination_service String
destination_workload String
destination_workload_kind String"""
ENGINE = ("MergeTree PARTITION BY date ORDER BY (intDiv(time, 600000000000), node_name, "
          "source_ip, destination_ip, time) SETTINGS index_granularity = 8192")
EVENTS = {"FLOW_EVENT_START": 1, "FLOW_EVENT_TCP_FLAGS": 2, "FLOW_EVENT_UPDATE": 3,
          "FLOW_EVENT_END": 4, "FLOW_EVENT_DROP": 5, "FLOW_EVENT_DNS": 6}


def c(ok, what):
    print(("ok - " if ok else "FAIL - ") + what)


def ns_of(ts):
    """RFC 3339 with nanoseconds (protobuf JSON) to ns since the epoch."""
    date, frac = ts.rstrip("Z").split(".") if "." in ts else (ts.rstrip("Z"), "0")
    t = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 10**9 + int(frac.ljust(9, "0"))


def flows(path):
    out = []
    for line in open(path):
        m = json.loads(line)
        if "flow" in m:
            out.append(m["flow"])
    return out


def l4(f):
    for p in ("TCP", "UDP", "SCTP"):
        if p in f.get("l4", {}):
            return f["l4"][p]
    return {}


def delivered(truth_path, later_path, rows_path, what):
    """Every event of truth_path is a row, every row an event of later_path (the file read
    after the rows)."""
    truth = {f["uuid"].replace("-", ""): f for f in flows(truth_path)}
    later = {f["uuid"].replace("-", "") for f in flows(later_path)}
    rows = {}
    n_rows = 0
    for line in open(rows_path):
        u, *cols = line.rstrip("\n").split("\t")
        rows.setdefault(u, cols)
        n_rows += 1
    missing = set(truth) - set(rows)
    extra = set(rows) - later
    c(truth and not missing, "%s: every one of the %d events is in ClickHouse (%d missing: %s)"
      % (what, len(truth), len(missing), sorted(missing)[:3]))
    c(not extra, "%s: every row is an event flowd exported (%d not)" % (what, len(extra)))
    print("# %s: %d rows, %d duplicates (at least once)" % (what, n_rows, n_rows - len(rows)))
    bad = []
    for u, f in truth.items():
        if u not in rows:
            continue
        t, sp, dp, verdict, ev, pk, by, node, ifname = rows[u]
        want = (ns_of(f["time"]), l4(f).get("source_port", 0), l4(f).get("destination_port", 0),
                1 if f["verdict"] == "FORWARDED" else 2, EVENTS[f["flow_event"]],
                int(f.get("packets_sent", 0)), int(f.get("bytes_sent", 0)), f["node_name"],
                f["interface"]["name"])
        got = (int(t), int(sp), int(dp), int(verdict), int(ev), int(pk), int(by), node, ifname)
        if want != got:
            bad.append((u, want, got))
    c(not bad, "%s: time, ports, verdict, event, packets, bytes, node and interface of every row "
      "are the event's (%d differ: %s)" % (what, len(bad), bad[:2]))


def schema(cols_path, engine_path):
    got = open(cols_path).read().strip().replace("\t", " ")
    c(got == SCHEMA, "the table has the documented columns and types (%s)"
      % [l for l in got.splitlines() if l not in SCHEMA.splitlines()][:3])
    eng = open(engine_path).read().strip()
    c(eng == ENGINE, "the table is partitioned by day and ordered for time, node and addresses "
      "(%s)" % eng)


def lines(path):
    out = []
    for line in open(path):
        m = json.loads(line)
        if "flow" in m:
            out.append(line.strip())
    return out


def same(hist_path, server_path, what):
    a, b = lines(hist_path), lines(server_path)
    diff = [(x, y) for x, y in zip(a, b) if x != y]
    c(a and a == b, "%s: the history prints the server's lines (%d and %d, %d differ: %s)"
      % (what, len(a), len(b), len(diff) + abs(len(a) - len(b)), diff[:1]))


def selected(hist_path, truth_path, port, what):
    want = [f["uuid"] for f in flows(truth_path) if l4(f).get("destination_port") == int(port)]
    got = [json.loads(l)["flow"]["uuid"] for l in lines(hist_path)]
    want_sorted = sorted(want, key=lambda u: u)
    c(want and sorted(got) == want_sorted, "%s: exactly the %d ground-truth events (%d printed, "
      "%d missing, %d extra)" % (what, len(want), len(got), len(set(want) - set(got)),
                                 len(set(got) - set(want))))
    times = [ns_of(json.loads(l)["flow"]["time"]) for l in lines(hist_path)]
    c(times == sorted(times), "%s: in time order" % what)


def follow(out_path, truth_path, port):
    want = {f["uuid"] for f in flows(truth_path) if l4(f).get("destination_port") == int(port)}
    got = [json.loads(l)["flow"]["uuid"] for l in lines(out_path)]
    dups = len(got) - len(set(got))
    c(want and want <= set(got), "--follow: every event, from ClickHouse then from the server "
      "(%d of %d, %d missing)" % (len(want & set(got)), len(want), len(want - set(got))))
    c(dups == 0, "--follow: none twice at the hand-over (%d duplicates)" % dups)


def describe(f):
    return "%s %s %s %d->%d" % (f["uuid"], f["time"], f["flow_event"], l4(f).get("source_port", 0),
                                l4(f).get("destination_port", 0))


def ended(truth_path, port):
    """How many END events to port the file has."""
    print(sum(1 for f in flows(truth_path) if f["flow_event"] == "FLOW_EVENT_END"
              and l4(f).get("destination_port") == int(port)))


def relay(truth_path, what, out_path, *checks):
    """A relay's replay (ClickHouse before the oldest event it holds, then what it holds)
    against the ground truth: each event once, in time order, the agent's name on every one,
    nothing else; then what the checks say: all of the window, one port's, the first or last N
    by time, or (ClickHouse down) the newest events only, without a gap."""
    want = flows(truth_path)
    for k in checks:
        if k.startswith("port="):
            want = [f for f in want if l4(f).get("destination_port") == int(k[5:])]
    by_uuid = {f["uuid"]: f for f in want}
    got = [json.loads(l)["flow"] for l in lines(out_path)]
    uuids = [f["uuid"] for f in got]
    times = [ns_of(f["time"]) for f in got]
    extra = [u for u in uuids if u not in by_uuid]
    c(got and not extra, "relay %s: only ground-truth events (%d printed, %d not in it: %s)"
      % (what, len(got), len(extra), extra[:2]))
    c(len(set(uuids)) == len(uuids), "relay %s: each event once (%d twice)"
      % (what, len(uuids) - len(set(uuids))))
    c(times == sorted(times), "relay %s: in time order" % what)
    names = sorted({f.get("node_name") for f in got})
    c(names == ["agent"], "relay %s: every event has the agent's node name (%s)" % (what, names))
    bad = [u for u, f in zip(uuids, got) if u in by_uuid and ns_of(by_uuid[u]["time"]) != ns_of(
        f["time"])]
    c(not bad, "relay %s: with the events' times (%d differ)" % (what, len(bad)))
    want_t = sorted(ns_of(f["time"]) for f in want)
    have = set(uuids)
    if not any(k.startswith(("first=", "last=")) or k == "held" for k in checks):
        missing = [u for u in by_uuid if u not in have]
        c(want and not missing, "relay %s: every one of the %d events of the window (%d missing: "
          "%s)" % (what, len(want), len(missing), [describe(by_uuid[u]) for u in missing[:3]]))
    for k in checks:
        if k.isdigit():
            before = [f["uuid"] for f in want if ns_of(f["time"]) < int(k)]
            c(before and all(u in have for u in before), "relay %s: with the %d events from "
              "before the relay started (ClickHouse's alone; %d missing)"
              % (what, len(before), sum(u not in have for u in before)))
        elif k.startswith("first=") or k.startswith("last="):
            n = int(k.split("=")[1])
            if k.startswith("first="):
                edge = max(times) if times else 0
                owed = [f["uuid"] for f in want if ns_of(f["time"]) < edge]
                ok = want_t[:n] == sorted(times)
            else:
                edge = min(times) if times else 0
                owed = [f["uuid"] for f in want if ns_of(f["time"]) > edge]
                ok = want_t[-n:] == sorted(times)
            c(len(got) == n and ok and all(u in have for u in owed),
              "relay %s: the %s %d of the window by time (%d printed)"
              % (what, "oldest" if k[0] == "f" else "newest", n, len(got)))
        elif k == "held":
            edge = min(times) if times else 0
            owed = [f["uuid"] for f in want if ns_of(f["time"]) > edge]
            newest = max(want_t) in times  # one of the newest (the sweep's END events tie)
            c(got and newest and all(u in have for u in owed),
              "relay %s: the relay's own newest events, without a gap (%d printed, the %d newer "
              "than the oldest of them among them; the newest time too: %s)"
              % (what, len(got), len(owed), newest))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"delivered": delivered, "schema": schema, "same": same, "selected": selected,
     "follow": follow, "ended": ended, "relay": relay}[cmd](*args)
