#!/usr/bin/env python3
"""Known traffic for the end-to-end tests: TCP servers/clients that move exact byte counts
from fixed source ports, and a UDP request/response. Run inside the test's namespaces."""
import socket
import sys
import time


def tcp_server(addr, port, reply_bytes):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        with c:
            while True:  # read the request until the client shuts down its side
                d = c.recv(65536)
                if not d:
                    break
            c.sendall(b"r" * reply_bytes)


def tcp_client(addr, port, sport, send_bytes):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.connect((addr, port))
    s.sendall(b"q" * send_bytes)
    s.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
    s.close()
    return got


def udp_server(addr, port, reply_bytes):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        _, peer = s.recvfrom(65536)
        s.sendto(b"u" * reply_bytes, peer)


def udp_client(addr, port, sport, send_bytes):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(5)
    s.sendto(b"q" * send_bytes, (addr, port))
    d, _ = s.recvfrom(65536)
    return len(d)


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "tcp-server":
        tcp_server(a[0], int(a[1]), int(a[2]))
    elif cmd == "udp-server":
        udp_server(a[0], int(a[1]), int(a[2]))
    elif cmd == "tcp-clients":
        # addr port first_sport count send_bytes expect_reply
        addr, port, sport, n, size, reply = a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5])
        for i in range(n):
            got = tcp_client(addr, port, sport + i, size)
            if got != reply:
                sys.exit("connection %d got %d reply bytes, want %d" % (i, got, reply))
            time.sleep(0.02)
    elif cmd == "udp-client":
        got = udp_client(a[0], int(a[1]), int(a[2]), int(a[3]))
        if got != int(a[4]):
            sys.exit("udp reply %d bytes, want %s" % (got, a[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
