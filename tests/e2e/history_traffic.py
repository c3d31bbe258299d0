#!/usr/bin/env python3
"""Ground-truth traffic for tests/e2e/e2e_history.sh, run inside the test's namespace (loopback
only). Prints the client source port of each flow it made, one a line, so that the test knows
which flows must be in the history.

  tcp PORT N        a server on 127.0.0.1:PORT; N connections, each a request and an answer
  udp PORT N        a receiver on 127.0.0.1:PORT; N datagrams, each from a socket of its own
  many FIRST COUNT  one socket sends a datagram to each of the ports FIRST..FIRST+COUNT-1 of
                    127.0.0.1 (a new flow each: many flow events quickly; prints its port)
"""
import socket
import sys
import threading
import time


def tcp(port, n):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(256)

    def serve():
        while True:
            c, _ = srv.accept()
            with c:
                c.recv(100)
                c.sendall(b"answer")

    threading.Thread(target=serve, daemon=True).start()
    for _ in range(n):
        c = socket.socket()
        c.connect(("127.0.0.1", port))
        print(c.getsockname()[1])
        c.sendall(b"request")
        c.recv(100)
        c.close()


def udp(port, n):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", port))
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))  # a port of its own, held until the end: all distinct
        s.sendto(b"datagram", ("127.0.0.1", port))
        r.recv(100)
        print(s.getsockname()[1])
        socks.append(s)
    for s in socks:
        s.close()


def many(first, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    for i, p in enumerate(range(first, first + count)):
        s.sendto(b"x", ("127.0.0.1", p))
        if i % 2000 == 1999:
            time.sleep(0.05)  # the probes' ring is not meant for one burst of thousands


def main():
    mode, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    {"tcp": tcp, "udp": udp, "many": many}[mode](a, b)
    sys.stdout.flush()
    time.sleep(0.3)  # the last packets leave before the sockets' owner goes


if __name__ == "__main__":
    main()
