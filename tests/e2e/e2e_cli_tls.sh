#!/bin/bash
# flowctl against flowd in a network namespace of this test's own (flowd watching lo):
# filters like `--to-port 8080 -o json`, --follow with a filter, every output format, clear
# errors for bad flags and an unreachable server; then gRPC over TLS and mutual TLS with
# certificates made here by openssl: --tls alone trusting the system's CAs (SSL_CERT_FILE,
# which OpenSSL honours, standing in for the machine's store), tls:// servers, CA lists,
# --tls-allow-insecure.
# Usage: tests/e2e/e2e_cli_tls.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root cli_tls "network namespace, BPF"
ns="fsc$$"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
inns() { ip netns exec "$ns" "$@"; }
ctl() { ip netns exec "$ns" "$build/flowctl" "$@"; }
wait_ready() { # wait_ready flowctl-args...
	for _ in $(seq 50); do
		ctl status "$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stop_flowd() {
	kill -TERM "$1"
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

ip netns add "$ns"
ip -n "$ns" link set lo up

# Errors that need no server.
out=$(ctl observe --last abc 2>&1); rc=$?
check "--last abc: exit 2 with a message ($out)" \
	test "$rc" -eq 2 -a -n "$(echo "$out" | grep -i 'last')"
out=$(ctl observe --bogus 2>&1); rc=$?
check "unknown flag: non-zero exit naming it ($out)" \
	test "$rc" -ne 0 -a -n "$(echo "$out" | grep -- '--bogus')"
out=$(ctl observe --since yesterday 2>&1); rc=$?
check "--since yesterday: rejected ($out)" test "$rc" -ne 0
out=$(ctl observe -o xml 2>&1); rc=$?
check "-o xml: rejected ($out)" test "$rc" -ne 0 -a -n "$(echo "$out" | grep -i 'xml')"
out=$(ctl observe --server 127.0.0.1:1 --last 1 2>&1); rc=$?
check "unreachable server: exit 1 saying so ($out)" \
	test "$rc" -eq 1 -a -n "$(echo "$out" | grep -i 'connect')"
out=$(ctl observe --server nosuchhost.invalid:4245 2>&1); rc=$?
check "unknown host: rejected ($out)" test "$rc" -ne 0

# Plain flowd on lo.
# (ip netns exec in place, not the inns function: $! must be flowd itself.)
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --node-name clitest >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "flowd answers" wait_ready

# A follower with a filter, started before the traffic.
ip netns exec "$ns" "$build/flowctl" observe --follow --to-port 8080 -o json \
	>"$tmp/follow.json" 2>"$tmp/follow.err" &
fpid=$!
pids+=("$fpid")
sleep 0.5
inns python3 - <<'PY'
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(16)
    for _ in range(3):
        a, _ = s.accept(); a.recv(100); a.sendall(b"ok"); a.close()
for p in (8080, 9090):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
import time; time.sleep(0.2)
for p in (8080, 9090):
    for i in range(3):
        c = socket.socket(); c.bind(("127.0.0.1", 45000 + p % 100 + i))
        c.connect(("127.0.0.1", p)); c.sendall(b"hi"); c.recv(10); c.close()
time.sleep(0.3)
PY
sleep 0.5
kill -INT "$fpid"
for _ in $(seq 50); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
wait "$fpid"
rc=$?
check "observe --follow --to-port 8080 exits 0 on SIGINT (rc $rc)" test "$rc" -eq 0
check "the follower got only flows to port 8080, the SYN of each connection" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ports = set()
for l in lines:
    t = l["flow"]["l4"]["TCP"]
    assert t["destination_port"] == 8080, t
    if t.get("flags", {}).get("SYN") and not t["flags"].get("ACK"):
        ports.add(t["source_port"])
sys.exit(0 if ports == {45080, 45081, 45082} else 1)' "$tmp/follow.json"

ctl observe --last 1000 --to-port 8080 -o json >"$tmp/to8080.json"
# (Flow events: several of each connection.)
check "observe --to-port 8080 -o json: the 3 connections, nothing else" python3 -c '
import json, sys
fl = [json.loads(l)["flow"] for l in open(sys.argv[1])]
ok = set(f["l4"]["TCP"]["source_port"] for f in fl) == {45080, 45081, 45082}
ok = ok and all(f["l4"]["TCP"]["destination_port"] == 8080 for f in fl)
ok = ok and all(f["node_name"] == "clitest" and f["verdict"] == "FORWARDED" for f in fl)
sys.exit(0 if ok else 1)' "$tmp/to8080.json"
# (flowctl's own connections to flowd on port 4245 are TCP flows on lo too.)
ctl observe --last 1000 --not --port 8080 --not --port 4245 --protocol tcp -o json \
	>"$tmp/not.json"
check "--not --port 8080 --not --port 4245 --protocol tcp: only the 9090 connections" python3 -c '
import json, sys
fl = [json.loads(l)["flow"] for l in open(sys.argv[1])]
# A reply event is told from the other end: its destination port is the client port.
client = lambda f: f["l4"]["TCP"]["destination_port" if f.get("is_reply") else "source_port"]
sys.exit(0 if set(map(client, fl)) == {45090, 45091, 45092} else 1)
' "$tmp/not.json"
n=$(ctl observe --last 2 --from-ip 127.0.0.1 --protocol tcp | wc -l)
check "--last 2 prints 2 compact lines ($n)" test "$n" -eq 2
# Hubble's compact line: TIME: SRC (IDENTITY) -> DST (IDENTITY) TYPE VERDICT (SUMMARY), the
# initiator on the left whichever way the event's packet went.
check "compact line format" sh -c "$(printf '%q ' ip netns exec "$ns" "$build/flowctl" observe --last 1000 --to-port 9090) | grep -Eq '^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}\.[0-9]{3}: 127\.0\.0\.1:4509[0-2] \([^)]*\) (->|<-) 127\.0\.0\.1:9090 \([^)]*\) [^ ]+ FORWARDED \(.*\)$'"
check "-o dict" sh -c "$(printf '%q ' ip netns exec "$ns" "$build/flowctl" observe --last 1 --to-port 9090 -o dict) | grep -q 'DESTINATION: 127.0.0.1:9090'"
check "-o table has a header and rows" sh -c "test \$($(printf '%q ' ip netns exec "$ns" "$build/flowctl" observe --last 3 --to-port 9090 -o table) | wc -l) -eq 4"
check "-o jsonpb is json" sh -c "$(printf '%q ' ip netns exec "$ns" "$build/flowctl" observe --last 1 -o jsonpb) | python3 -c 'import json,sys; json.loads(sys.stdin.readline())'"
out=$(ctl observe --from-ip 10.0.0.300 2>&1); rc=$?
check "invalid IP: refused with a message naming it, before connecting ($out)" \
	test "$rc" -eq 2 -a -n "$(echo "$out" | grep '10.0.0.300')"
out=$(ctl status 2>&1)
check "status shows the flow counts" sh -c "echo '$out' | grep -q 'Current/Max Flows'"
stop_flowd "$flowd_pid"

# TLS and mTLS with certificates made here.
cd "$tmp" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
	-subj "/CN=flowscope test CA" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost" \
	>/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
	-extfile srv.ext >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj "/CN=flowctl" \
	>/dev/null 2>&1
openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli.pem -days 2 \
	>/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 \
	-subj "/CN=someone else" >/dev/null 2>&1
check "test certificates made" test -s srv.pem -a -s cli.pem

ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-2" -i lo --tls-cert srv.pem --tls-key srv.key >"$tmp/flowd-tls.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "TLS: flowctl with the CA connects" wait_ready --tls --tls-ca-cert-files ca.pem
out=$(ctl status 2>&1); rc=$?
check "TLS: a plaintext client fails with a message (rc $rc)" test "$rc" -ne 0 -a -n "$out"
out=$(ctl status --tls 2>&1); rc=$?
check "TLS: --tls alone verifies against the system's CAs, which do not hold the test CA (rc $rc: $out)" \
	test "$rc" -eq 1 -a -n "$(grep 'certificate verification failed' <<<"$out")"
# The system's CAs as OpenSSL finds them: SSL_CERT_FILE stands in for the machine's store.
out=$(SSL_CERT_FILE="$tmp/ca.pem" ctl status --tls 2>&1); rc=$?
check "TLS: --tls alone with the test CA among the system's connects (rc $rc)" test "$rc" -eq 0
out=$(SSL_CERT_FILE="$tmp/ca.pem" ctl observe --server tls://localhost:4245 --last 1 2>&1); rc=$?
check "TLS: a tls:// server means TLS (rc $rc)" test "$rc" -eq 0
out=$(ctl status --tls-allow-insecure 2>&1); rc=$?
check "TLS: --tls-allow-insecure connects without the CA (rc $rc)" test "$rc" -eq 0
out=$(ctl status --tls-ca-cert-files other.pem,ca.pem 2>&1); rc=$?
check "TLS: a list of CA files, the right one second (rc $rc: $out)" test "$rc" -eq 0
out=$(ctl status --tls-ca-cert-files other.pem 2>&1); rc=$?
check "TLS: the wrong CA is refused (rc $rc)" test "$rc" -eq 1
out=$(ctl status --tls-ca-cert-files ca.pem --server 127.0.0.1:4245 2>&1); rc=$?
check "TLS: the server's address is verified against its certificate's IP SAN (rc $rc)" \
	test "$rc" -eq 0
n=$(SSL_CERT_FILE="$tmp/ca.pem" ctl observe --tls --last 2 | wc -l)
check "TLS: observe over --tls prints flows ($n)" test "$n" -eq 2
out=$(ctl status --tls --tls-ca-cert-files ca.pem --tls-server-name wrong.example 2>&1); rc=$?
check "TLS: a wrong server name is refused (rc $rc)" test "$rc" -ne 0
stop_flowd "$flowd_pid"

ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-3" -i lo --tls-cert srv.pem --tls-key srv.key --tls-client-ca ca.pem \
	>"$tmp/flowd-mtls.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "mTLS: flowctl with a client certificate connects" wait_ready --tls \
	--tls-ca-cert-files ca.pem --tls-client-cert-file cli.pem --tls-client-key-file cli.key
out=$(ctl status --tls --tls-ca-cert-files ca.pem 2>&1); rc=$?
check "mTLS: no client certificate is refused (rc $rc)" test "$rc" -ne 0
out=$(ctl status --tls --tls-ca-cert-files ca.pem --tls-client-cert-file other.pem \
	--tls-client-key-file other.key 2>&1); rc=$?
check "mTLS: a certificate from another CA is refused (rc $rc)" test "$rc" -ne 0
out=$(ctl observe --last 5 --tls --tls-ca-cert-files ca.pem --tls-client-cert-file cli.pem \
	--tls-client-key-file cli.key 2>&1); rc=$?
check "mTLS: observe works (rc $rc)" test "$rc" -eq 0
stop_flowd "$flowd_pid"

if [ "$failed" -gt 0 ]; then
	for f in "$tmp"/flowd*.out "$tmp/follow.err"; do echo "--- $f"; cat "$f"; done
fi
echo "cli_tls: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
