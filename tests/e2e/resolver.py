"""A tiny DNS server for tests: answers A/AAAA queries for the names given as NAME=IP
arguments (NXDOMAIN for others). NAME=GARBAGE answers with a malformed message: a header that
announces an answer which is cut off. *.SUFFIX=A.B.0.0 answers nI.SUFFIX with A.B.(I/256).(I%256),
for a client asking many names. Usage: resolver.py ADDR PORT NAME=IP..."""
import socket
import struct
import sys

addr, port = sys.argv[1], int(sys.argv[2])
table = dict(a.split("=", 1) for a in sys.argv[3:])


def answer(q):
    tid, _flags, _qd = struct.unpack(">HHH", q[:6])
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += 1 + q[i]
    name = ".".join(labels).lower()
    qtype, _qclass = struct.unpack(">HH", q[i + 1:i + 5])
    question = q[12:i + 5]
    ip = table.get(name)
    first, _, rest = name.partition(".")
    base = table.get("*." + rest)
    if ip is None and base and first[:1] == "n" and first[1:].isdigit():
        n = int(first[1:])
        a, b = base.split(".")[:2]
        ip = "%s.%s.%d.%d" % (a, b, (n >> 8) & 255, n & 255)
    if ip is None:
        return struct.pack(">HHHHHH", tid, 0x8183, 1, 0, 0, 0) + question
    if ip == "GARBAGE":
        return struct.pack(">HHHHHH", tid, 0x8180, 1, 1, 0, 0) + question + b"\xc0\x0c\x00"
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    rtype = 28 if fam == socket.AF_INET6 else 1
    if rtype != qtype:
        return struct.pack(">HHHHHH", tid, 0x8180, 1, 0, 0, 0) + question
    rdata = socket.inet_pton(fam, ip)
    rr = b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 300, len(rdata)) + rdata
    return struct.pack(">HHHHHH", tid, 0x8180, 1, 1, 0, 0) + question + rr


s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    try:
        s.sendto(answer(q), peer)
    except Exception:  # a malformed query gets no answer
        pass
