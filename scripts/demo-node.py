#!/usr/bin/env python3
"""One node of `make demo-cluster`, run in the node's network namespace: the service of its tier
on its data address, and a client that calls the tier below it at a few requests a second, so
that the relay's map shows small applications: each group of four nodes is one (web -> api ->
db and cache), which calls another group's api now and then; every node asks the time of another
node of its group over UDP once in a while.
Usage: demo-node.py DATA_ADDR TIER GROUP PEERS   PEERS: "ip:tier:group,..." of the other nodes."""
import random
import socket
import sys
import threading
import time

PORTS = {"web": 80, "api": 8080, "db": 5432, "cache": 6379}
CALLS = {"web": ["api"], "api": ["db", "cache"], "db": [], "cache": []}
TIME_PORT = 123  # UDP, every node answers

addr, tier, group = sys.argv[1], sys.argv[2], sys.argv[3]
peers = [p.split(":") for p in sys.argv[4].split(",") if p]  # [ip, tier, group]


def answer(c):
    with c:
        c.settimeout(5)
        try:
            c.recv(4096)
            c.sendall(b"x" * random.randint(200, 4000))
        except OSError:
            pass


def tcp_server(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=answer, args=(c,), daemon=True).start()


def udp_server():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, TIME_PORT))
    while True:
        data, who = s.recvfrom(512)
        s.sendto(str(time.time()).encode(), who)


def call(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=2, source_address=(addr, 0)) as c:
            c.sendall(b"GET / " + b"q" * random.randint(50, 400))
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
    except OSError:
        pass  # a node that is down (the demo lets you kill agents, not nodes)


def ask_time(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        s.bind((addr, 0))
        s.sendto(b"time?", (ip, TIME_PORT))
        s.recvfrom(512)
    except OSError:
        pass
    finally:
        s.close()


def client():
    mine = [(ip, t) for ip, t, g in peers if g == group and t in CALLS[tier]]
    other = [(ip, t) for ip, t, g in peers if g != group and t == "api" and tier == "web"]
    group_peers = [ip for ip, t, g in peers if g == group]
    while True:
        time.sleep(random.uniform(0.1, 0.5))
        targets = other if other and random.random() < 0.15 else mine
        if targets:
            ip, t = random.choice(targets)
            threading.Thread(target=call, args=(ip, PORTS[t]), daemon=True).start()
        if random.random() < 0.1 and group_peers:
            ask_time(random.choice(group_peers))


threading.Thread(target=tcp_server, args=(PORTS[tier],), daemon=True).start()
threading.Thread(target=udp_server, daemon=True).start()
time.sleep(1)  # every node's servers up before the first call
client()
