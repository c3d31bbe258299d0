"""One node of the relay test's cluster (tests/e2e/e2e_relay.sh), run inside the node's network
namespace: the services other nodes talk to on the data address (TCP 8080: reads until the
client shuts down its side, answers 300 bytes, closes; UDP 5000: answers 200 bytes), and a
control port on the management address (which no agent watches) through which the test's
driver makes this node a client: one JSON object per line in, one JSON answer per line out.
  {"op": "tcp", "dst": IP, "port": P, "sport": S}     a request/response from source port S
  {"op": "udp", "dst": IP, "port": P, "sport": S}     a datagram and its answer
  {"op": "background", "peers": [IP, ...], "on": true} TCP requests to random peers, ~5/s
Usage: relay_node.py DATA_ADDR MGMT_ADDR [CONTROL_PORT]"""
import json
import random
import socket
import sys
import threading
import time

DATA, MGMT = sys.argv[1], sys.argv[2]
CONTROL = int(sys.argv[3]) if len(sys.argv) > 3 else 7000
REPLY_TCP, REPLY_UDP = 300, 200
background = {"on": False, "peers": []}


def tcp_server():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((DATA, 8080))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_answer, args=(c,), daemon=True).start()


def tcp_answer(c):
    with c:
        c.settimeout(5)
        try:
            while c.recv(65536):
                pass
            c.sendall(b"r" * REPLY_TCP)
        except OSError:
            pass


def udp_server():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((DATA, 5000))
    while True:
        _, peer = u.recvfrom(65536)
        u.sendto(b"u" * REPLY_UDP, peer)


def tcp_client(dst, port, sport=0, size=100):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.settimeout(5)
    try:
        c.bind((DATA, sport))
        c.connect((dst, port))
        c.sendall(b"q" * size)
        c.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        return {"ok": got == REPLY_TCP, "got": got}
    except OSError as e:
        return {"ok": False, "error": str(e)}
    finally:
        c.close()


def udp_client(dst, port, sport):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(3)
    try:
        u.bind((DATA, sport))
        u.sendto(b"q" * 50, (dst, port))
        d, _ = u.recvfrom(65536)
        return {"ok": len(d) == REPLY_UDP, "got": len(d)}
    except OSError as e:
        return {"ok": False, "error": str(e)}
    finally:
        u.close()


def background_loop():
    while True:
        time.sleep(0.1 + random.random() * 0.3)
        if background["on"] and background["peers"]:
            tcp_client(random.choice(background["peers"]), 8080)


def control_conn(c):
    with c, c.makefile("rw") as f:
        for line in f:
            try:
                req = json.loads(line)
                op = req["op"]
                if op == "tcp":
                    ans = tcp_client(req["dst"], req["port"], req["sport"])
                elif op == "udp":
                    ans = udp_client(req["dst"], req["port"], req["sport"])
                elif op == "background":
                    background["peers"] = req.get("peers", background["peers"])
                    background["on"] = bool(req["on"])
                    ans = {"ok": True}
                else:
                    ans = {"ok": False, "error": "unknown op " + op}
            except (ValueError, KeyError) as e:
                ans = {"ok": False, "error": "bad request: %s" % e}
            f.write(json.dumps(ans) + "\n")
            f.flush()


def main():
    for fn in (tcp_server, udp_server, background_loop):
        threading.Thread(target=fn, daemon=True).start()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((MGMT, CONTROL))
    s.listen(64)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=control_conn, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
