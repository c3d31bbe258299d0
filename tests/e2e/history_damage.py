#!/usr/bin/env python3
"""Damages one block of a stopped flowd's history for tests/e2e/e2e_history.sh: in the segment
file with the most blocks, the second block (one in the middle when there are three or more)
gets one byte of its compressed payload flipped, 100 bytes past its header's start (headers are
80 bytes: "FSHB", version, lengths, counts, times, sequence numbers, session, CRC; all
little-endian). Prints what its header says, as JSON, for the test to compare with flowd's
report.

  history_damage.py DIR
"""
import glob
import json
import struct
import sys

HDR = 80


def blocks(path):
    data = open(path, "rb").read()
    off, out = 0, []
    while off + HDR <= len(data) and data[off:off + 4] == b"FSHB":
        clen, rlen, events, _pcrc, no, min_ns, max_ns, first, last = struct.unpack_from(
            "<IIII QQQQQ", data, off + 8)
        out.append({"file": path, "no": no, "off": off, "clen": clen, "events": events,
                    "min_ns": min_ns, "max_ns": max_ns, "first_seq": first, "last_seq": last,
                    "session": data[off + 64:off + 72].hex()})
        off += HDR + clen
    return out


def main():
    segs = sorted(glob.glob(sys.argv[1] + "/seg-*.fsh"))
    by = max((blocks(p) for p in segs), key=len, default=[])
    if len(by) < 2:
        sys.exit("history_damage: no segment with two blocks in %s (%s)" % (sys.argv[1], segs))
    b = by[1]
    b["blocks_in_segment"] = len(by)
    if b["clen"] <= 20:
        sys.exit("history_damage: block %d has only %d bytes of payload" % (b["no"], b["clen"]))
    with open(b["file"], "r+b") as f:
        f.seek(b["off"] + 100)
        c = f.read(1)
        f.seek(b["off"] + 100)
        f.write(bytes([c[0] ^ 0xFF]))
    print(json.dumps(b))


if __name__ == "__main__":
    main()
