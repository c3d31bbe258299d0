#!/usr/bin/env python3
"""Checks of tests/e2e/e2e_history.sh on what `flowctl observe -o json` (or /api/v1/flows)
returned: one subcommand per behaviour, each printing "ok - ..." / "FAIL - ..." lines that the
test counts (lib.sh add_checks). A flow event is known by its uuid; a connection by its client's
source port (history_traffic.py prints them)."""
import datetime
import json
import re
import sys


def say(ok, what):
    print(("ok - " if ok else "FAIL - ") + what)
    return ok


def ns_of(t):
    """RFC 3339 with up to 9 fraction digits (Go trims trailing zeros) to Unix ns."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$", t)
    if not m:
        raise ValueError("not an RFC 3339 UTC time: %r" % t)
    s = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    s = s.replace(tzinfo=datetime.timezone.utc)
    return int(s.timestamp()) * 10**9 + int((m.group(2) or "0").ljust(9, "0"))


class Ev:
    def __init__(self, f):
        self.f = f
        self.uuid = f["uuid"]
        self.t = ns_of(f["time"])
        l4 = f.get("l4", {})
        self.proto = next(iter(l4), "")
        p = l4.get(self.proto, {}) if self.proto in ("TCP", "UDP") else {}
        self.sport = p.get("source_port")
        self.dport = p.get("destination_port")
        self.kind = f.get("flow_event", "")
        self.session = self.uuid.replace("-", "")[:16]
        self.seq = int(self.uuid.replace("-", "")[16:], 16) & ((1 << 62) - 1)


def load(path):
    """The flow events of a file of GetFlowsResponse JSON lines, in their order."""
    evs = []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        m = json.loads(line)
        if "flow" in m:
            evs.append(Ev(m["flow"]))
    return evs


def ports(path):
    return [int(x) for x in open(path).read().split()]


def uuids(evs):
    return [e.uuid for e in evs]


def dups(evs):
    seen, d = set(), []
    for u in uuids(evs):
        if u in seen:
            d.append(u)
        seen.add(u)
    return d


def disorder(evs):
    """Indexes where an event is older than the one before it."""
    return [i for i in range(1, len(evs)) if evs[i].t < evs[i - 1].t]


def starts_to(evs, proto, dport):
    return {e.sport for e in evs if e.proto == proto and e.dport == dport
            and e.kind == "FLOW_EVENT_START"}


def once_and_ordered(evs, label):
    d = dups(evs)
    say(not d, "%s: every event once (%d events, %d twice, e.g. %s)" % (label, len(evs),
                                                                       len(d), d[:2]))
    o = disorder(evs)
    say(not o, "%s: in time order (%d events older than the one before%s)"
        % (label, len(o), ", first at %d" % o[0] if o else ""))


def has_connections(evs, proto, dport, want, label):
    got = starts_to(evs, proto, dport)
    missing = sorted(set(want) - got)
    return say(not missing, "%s: the START event of each of the %d %s flows to port %d "
               "(%d missing, e.g. %s)" % (label, len(want), proto, dport, len(missing),
                                          missing[:5]))


# ---- subcommands ---------------------------------------------------------------------------

def cmd_replay(a):
    """replay FILE TCP_PORTS UDP_PORTS MAX_EVENTS LABEL: the ground truth, every event once, in
    time order, more events than memory keeps."""
    evs = load(a[0])
    has_connections(evs, "TCP", 8443, ports(a[1]), a[4])
    has_connections(evs, "UDP", 9053, ports(a[2]), a[4])
    # Each connection's own events: its SYN and its FIN, after one another.
    by_port = {}
    for e in evs:
        if e.proto == "TCP" and e.dport == 8443:
            by_port.setdefault(e.sport, []).append(e)
    fin = [p for p in ports(a[1]) if not any(
        "FIN" in e.f.get("l4", {}).get("TCP", {}).get("flags", {}) or
        "FIN" in e.f.get("flags_seen", {}) for e in by_port.get(p, [])[1:])]
    say(not fin, "%s: each TCP connection to 8443 also has a later event with its FIN (%d "
        "without, e.g. %s)" % (a[4], len(fin), fin[:5]))
    once_and_ordered(evs, a[4])
    say(len(evs) > int(a[3]), "%s: %d events, more than the %s flowd keeps in memory: the "
        "history answered" % (a[4], len(evs), a[3]))


def cmd_restart(a):
    """restart OLD NEW LABEL: every event of OLD in NEW, exactly once, NEW in time order."""
    old, new = load(a[0]), load(a[1])
    nu = set(uuids(new))
    missing = [u for u in uuids(old) if u not in nu]
    say(old and not missing, "%s: all %d earlier events are there (%d missing, e.g. %s)"
        % (a[2], len(old), len(missing), missing[:3]))
    once_and_ordered(new, a[2])


def cmd_filter(a):
    """filter ALL SUB PROTO DPORT LABEL: SUB holds exactly ALL's events to DPORT (events newer
    than ALL's newest may be added)."""
    allv, sub = load(a[0]), load(a[1])
    proto, dport = a[2], int(a[3])
    want = {e.uuid for e in allv if e.dport == dport and (proto == "*" or e.proto == proto)}
    newest = max((e.t for e in allv), default=0)
    got = {e.uuid for e in sub}
    stray = [e.uuid for e in sub if e.uuid not in want and (e.t <= newest or e.dport != dport)]
    say(want and want <= got and not stray, "%s: exactly the %d events to port %d (%d returned, "
        "%d missing, %d others)" % (a[4], len(want), dport, len(got), len(want - got),
                                   len(stray)))
    once_and_ordered(sub, a[4])


def cmd_first(a):
    """first ALL SUB N LABEL: SUB is the N oldest events of ALL."""
    allv, sub, n = load(a[0]), load(a[1]), int(a[2])
    want = uuids(allv[:n])
    if not say(len(allv) >= n and uuids(sub) == want, "%s: the %d oldest events, oldest first "
               "(%d returned, %d of them among the %d oldest)"
               % (a[3], n, len(sub), len(set(uuids(sub)) & set(want)), n)):
        w = set(want)
        for e in sub:
            if e.uuid not in w:
                print("#   returned, not among the %d oldest: %s (seq %d) at %s" % (
                    n, e.uuid, e.seq, e.f["time"]))
        for e in allv[:n]:
            if e.uuid not in set(uuids(sub)):
                print("#   among the %d oldest, not returned: %s (seq %d) at %s" % (
                    n, e.uuid, e.seq, e.f["time"]))


def cmd_last(a):
    """last ALL SUB N PROTO DPORT LABEL: SUB is the N newest of ALL's events to DPORT."""
    allv, sub, n, proto, dport = load(a[0]), load(a[1]), int(a[2]), a[3], int(a[4])
    want = uuids([e for e in allv if e.proto == proto and e.dport == dport][-n:])
    say(len(want) == n and uuids(sub) == want, "%s: the %d newest events, oldest first (%d "
        "returned, %d of them among the %d newest)" % (a[5], n, len(sub),
                                                       len(set(uuids(sub)) & set(want)), n))


def cmd_until(a):
    """until ALL SUB T_NS LABEL: SUB is every event of ALL up to T (inclusive), nothing after."""
    allv, sub, t = load(a[0]), load(a[1]), int(a[2])
    want = {e.uuid for e in allv if e.t <= t}
    got = {e.uuid for e in sub}
    late = [e.uuid for e in sub if e.t > t]
    say(want and got == want and not late, "%s: the %d events up to the time, none after (%d "
        "returned, %d missing, %d after)" % (a[3], len(want), len(got), len(want - got),
                                            len(late)))


def cmd_pick_time(a):
    """pick_time FILE DPORT K: prints the time (ns and RFC 3339 with ns) of the K-th START event
    to DPORT."""
    e = [e for e in load(a[0]) if e.dport == int(a[1]) and e.kind == "FLOW_EVENT_START"]
    e = e[int(a[2])]
    print(e.t, e.f["time"])


def cmd_batch(a):
    """batch BEFORE AFTER PORTS PREV LABEL: after a kill -9 and a restart, the batch's every
    event seen before the kill (BEFORE) is there once, each of its connections, and the earlier
    history (PREV) too."""
    before, after, prev = load(a[0]), load(a[1]), load(a[3])
    au = set(uuids(after))
    has_connections(before, "TCP", 8443, ports(a[2]), a[4] + ", before the kill")
    has_connections(after, "TCP", 8443, ports(a[2]), a[4] + ", after the restart")
    missing = [u for u in uuids(before) if u not in au]
    say(before and not missing, "%s: every one of the %d events published before the kill is "
        "kept (%d lost, e.g. %s)" % (a[4], len(before), len(missing), missing[:3]))
    missing = [u for u in uuids(prev) if u not in au]
    say(prev and not missing, "%s: the %d events of the runs before too (%d missing)"
        % (a[4], len(prev), len(missing)))
    once_and_ordered(after, a[4])


def cmd_conns(a):
    """conns FILE PORTS LABEL: the START event of each connection to 8443, every event once."""
    evs = load(a[0])
    has_connections(evs, "TCP", 8443, ports(a[1]), a[2])
    d = dups(evs)
    say(not d, "%s: every event once (%d events, %d twice)" % (a[2], len(evs), len(d)))


def cmd_follow(a):
    """follow OUT PAST NEW_PORTS LABEL: a --since --follow --to-port 8443 stream: PAST's 8443
    events replayed, then the new connections live, each event once."""
    out, past = load(a[0]), load(a[1])
    want_past = [e.uuid for e in past if e.proto == "TCP" and e.dport == 8443]
    ou = uuids(out)
    missing = [u for u in want_past if u not in set(ou)]
    say(want_past and not missing, "%s: every one of the %d earlier events to 8443 replayed "
        "(%d missing)" % (a[3], len(want_past), len(missing)))
    has_connections(out, "TCP", 8443, ports(a[2]), a[3] + ", live")
    stray = [e.uuid for e in out if e.dport != 8443]
    say(not stray, "%s: only events to 8443 (%d others)" % (a[3], len(stray)))
    d = dups(out)
    say(not d, "%s: every event once (%d events, %d twice)" % (a[3], len(out), len(d)))
    ps = set(want_past)
    replay = [e for e in out if e.uuid in ps]
    live = [e for e in out if e.uuid not in ps]
    o = disorder(replay)
    say(not o, "%s: the replayed part in time order (%d events, %d out of order)"
        % (a[3], len(replay), len(o)))
    first_live = next((i for i, e in enumerate(out) if e.uuid not in ps), len(out))
    late = [e for e in out[first_live:] if e.uuid in ps]
    say(not late, "%s: the replay before the live part (%d replayed events after the first "
        "live one)" % (a[3], len(late)))
    # Live events go out as they are published, which may stray from time order by the
    # probes' reordering: told, not checked.
    o = disorder(live)
    print("# %s: the live part: %d events, %d older than the one before%s" % (
        a[3], len(live), len(o), "".join(
            " (%s %s %s after %s %s %s)" % (live[i].sport, live[i].kind, live[i].f["time"],
                                            live[i - 1].sport, live[i - 1].kind,
                                            live[i - 1].f["time"]) for i in o[:3])))


def cmd_retention(a):
    """retention FILE A_TCP A_UDP B_TCP LABEL MAX_AGE_MS: batch A's events older than the max age
    (and a segment's span and a sync interval more, the granularity of retention) are gone, and
    batch B is there. The newest event stands for the time of the query (which is later)."""
    evs = load(a[0])
    a_ports = set(ports(a[1]))
    a_udp = set(ports(a[2]))
    has_connections(evs, "TCP", 8443, ports(a[3]), a[4] + ": batch B")
    newest = max((e.t for e in evs), default=0)
    # A segment spans an eighth of the max age; history_sync runs every --history-sync (200 ms).
    bound = newest - (int(a[5]) * 9 // 8 + 200) * 1000000
    batch_a = [e for e in evs if (e.proto == "TCP" and e.dport == 8443 and e.sport in a_ports) or
               (e.proto == "UDP" and e.dport == 9053 and e.sport in a_udp)]
    left = [e for e in batch_a if e.t < bound]
    say(not left, "%s: no event of batch A older than --history-max-age is left (%d left of "
        "%d connections%s)" % (a[4], len(left), len(a_ports) + len(a_udp),
                               "".join("; %s %s %d %s ms before the newest" %
                                       (e.kind, e.proto, e.sport, (newest - e.t) // 1000000)
                                       for e in left[:4])))


def cmd_damage(a):
    """damage BEFORE AFTER BLOCK_JSON LOG LABEL: the damaged block's events are gone, and only
    they; the log tells which block, where and its time range."""
    before, after = load(a[0]), load(a[1])
    blk = json.load(open(a[2]))
    log = open(a[3]).read()
    lost = {e.uuid for e in before if e.session == blk["session"]
            and blk["first_seq"] <= e.seq <= blk["last_seq"]}
    say(len(lost) == blk["events"], "%s: the damaged block %d holds %d events of the replay "
        "before (%d by its header)" % (a[4], blk["no"], len(lost), blk["events"]))
    au, bu = set(uuids(after)), set(uuids(before))
    newest = max(e.t for e in before)
    say(0 < len(au & bu) < len(bu), "%s: the replay still answers, with fewer events (%d of "
        "%d)" % (a[4], len(au & bu), len(bu)))
    gone = bu - au
    say(gone == lost, "%s: exactly the damaged block's events are missing (%d missing, %d of "
        "them in the block, %d in it)" % (a[4], len(gone), len(gone & lost), len(lost)))
    stray = [e.uuid for e in after if e.uuid not in bu and e.t <= newest]
    say(not stray, "%s: nothing returned that was not there before (%d)" % (a[4], len(stray)))
    once_and_ordered(after, a[4])
    m = re.search(r"history: (\S+): block (\d+) at offset (\d+) is damaged \(checksum "
                  r"mismatch\): its (\d+) events from (\S+) to (\S+) are lost", log)
    say(m is not None, "%s: flowd logs the damaged block (%s)" % (
        a[4], m.group(0) if m else "no such line"))
    if m:
        t0, t1 = (int(ns_of(x) // 10**9) for x in (m.group(5), m.group(6)))
        ok = (m.group(1) == blk["file"] and int(m.group(2)) == blk["no"] and
              int(m.group(3)) == blk["off"] and int(m.group(4)) == blk["events"] and
              t0 == blk["min_ns"] // 10**9 and t1 == blk["max_ns"] // 10**9)
        say(ok, "%s: ... naming its file, number, offset, event count and time range (the "
            "header says %s block %d at %d, %d events, %d..%d s)"
            % (a[4], blk["file"], blk["no"], blk["off"], blk["events"],
               blk["min_ns"] // 10**9, blk["max_ns"] // 10**9))


def cmd_newest(a):
    """newest FILE N AFTER_NS LABEL: N events, all published after AFTER_NS."""
    evs, n, t = load(a[0]), int(a[1]), int(a[2])
    old = [e for e in evs if e.t <= t]
    say(len(evs) == n and not old, "%s: %d events, the newest ones (%d returned, %d of them from "
        "before the history stopped)" % (a[3], n, len(evs), len(old)))


def cmd_count(a):
    """count FILE: prints how many flow events FILE has."""
    print(len(load(a[0])))


def cmd_oldest_ns(a):
    """oldest_ns FILE: prints the oldest event's time (ns)."""
    print(min(e.t for e in load(a[0])))


def main():
    globals()["cmd_" + sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
