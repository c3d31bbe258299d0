#!/bin/bash
# Who may reach flowd, against flowd and flowrelay in a network namespace of this test's own
# (flowd watching lo there): the bearer token, refused without it or with a wrong one and
# accepted with it over gRPC (flowctl --token-file and FLOWSCOPE_TOKEN) and HTTP; a token file
# others can read refused; flowrelay passing the agents' token (--peer-token-file); the unix
# socket (mode 0660, root and --grpc-socket-group), where a client needs no token and flowctl
# goes by default, refused to a user outside the group, who reaches TCP loopback instead; the
# relay's socket in /run/flowscope-relay (its systemd unit's) found by flowctl; a grpcio
# client sending the token as metadata and reaching the socket as unix:; HTTPS
# with a certificate made here (verified by curl against its CA; the login cookie Secure); the
# default: a token made at the first start into a root-only file (kept across restarts) that
# HTTP requires and flowctl run as root reads, the login URL printed, its cookie, and gRPC on
# loopback open to a client with no token (Hubble's) unless --grpc-require-token; beyond
# loopback: refused without TLS and the token unless --insecure-listen, which warns; gRPC with
# TLS beyond loopback requires the token.
# Usage: tests/e2e/e2e_access.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root access "network namespace, BPF"
ns="fsa$$"
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
wait_http() { # wait_http PORT: until /healthz answers
	for _ in $(seq 100); do
		inns curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
http_code() { # http_code URL [curl args]: the status
	local url=$1
	shift
	inns curl -s -o /dev/null -w '%{http_code}' "$@" "$url"
}

ip netns add "$ns"
ip -n "$ns" link set lo up
chmod 755 "$tmp" # for the unprivileged users below
FLOWSCOPE_RUNTIME_DIR="$tmp/run" # not lib.sh's: the test reads it as another user
asuser() { # asuser UID GID CMD...: in the namespace, as that user, in no other group
	local u=$1 g=$2
	shift 2
	inns setpriv --reuid="$u" --regid="$g" --clear-groups "$@"
}
printf 'e2e-token-%s\n' "$$" >"$tmp/token"
chmod 600 "$tmp/token"
token=$(cat "$tmp/token")
printf 'wrong-token\n' >"$tmp/wrong"
chmod 600 "$tmp/wrong"

# ---- a token file others may read is refused ------------------------------------------------
cp "$tmp/token" "$tmp/token-644"
chmod 644 "$tmp/token-644"
out=$(inns timeout 10 "$build/flowd" --no-history -i lo --token-file "$tmp/token-644" 2>&1)
rc=$?
check "flowd refuses a token file others can read (rc $rc): $out" \
	bash -c '[ "$1" -eq 2 ] && grep -q "chmod 600" <<<"$2"' _ "$rc" "$out"

# ---- flowd requiring its token on gRPC and HTTP --------------------------------------------
ip netns exec "$ns" "$build/flowd" --no-history -i lo --node-name access --token-file "$tmp/token" \
	--grpc-require-token --grpc-socket-group 4242 >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "flowd with --token-file --grpc-require-token answers /healthz" wait_http 12000

out=$(ctl status --server 127.0.0.1:4245 2>&1)
rc=$?
check "flowctl without the token: refused, UNAUTHENTICATED (rc $rc): $out" \
	bash -c '[ "$1" -ne 0 ] && grep -q UNAUTHENTICATED <<<"$2"' _ "$rc" "$out"
out=$(ctl status --server 127.0.0.1:4245 --token-file "$tmp/wrong" 2>&1)
rc=$?
check "flowctl with a wrong token: refused (rc $rc)" \
	bash -c '[ "$1" -ne 0 ] && grep -q UNAUTHENTICATED <<<"$2"' _ "$rc" "$out"
check "flowctl --token-file: accepted" ctl status --server 127.0.0.1:4245 --token-file "$tmp/token"
check "flowctl with FLOWSCOPE_TOKEN: accepted" \
	inns env FLOWSCOPE_TOKEN="$token" "$build/flowctl" observe --server 127.0.0.1:4245 --last 1
out=$(ctl observe --server 127.0.0.1:4245 --last 1 --token-file "$tmp/nonexistent" 2>&1)
rc=$?
check "flowctl --token-file of a missing file: exit 2 saying so (rc $rc)" \
	bash -c '[ "$1" -eq 2 ] && grep -q "token file" <<<"$2"' _ "$rc" "$out"

check "HTTP without the token: 401" test "$(http_code http://127.0.0.1:12000/api/v1/status)" = 401
check "HTTP with a wrong token: 401" \
	test "$(http_code http://127.0.0.1:12000/api/v1/status -H 'Authorization: Bearer wrong')" = 401
check "HTTP with the token: 200" \
	test "$(http_code http://127.0.0.1:12000/api/v1/status -H "Authorization: Bearer $token")" = 200

# ---- flowrelay passing the agent's token ----------------------------------------------------
relay_nodes() { # relay_nodes GRPC_PORT: flowctl list nodes of the relay
	ctl list nodes --server "127.0.0.1:$1" 2>/dev/null
}
wait_node() { # wait_node GRPC_PORT STATE
	for _ in $(seq 100); do
		relay_nodes "$1" | grep -q "$2" && return 0
		sleep 0.1
	done
	return 1
}
ip netns exec "$ns" "$build/flowrelay" --peer access=127.0.0.1:4245 --no-discover \
	--grpc 127.0.0.1:4300 --http 127.0.0.1:12300 --peer-token-file "$tmp/token" \
	>"$tmp/relay.out" 2>&1 &
relay_pid=$!
pids+=("$relay_pid")
check "flowrelay --peer-token-file: the agent is Connected" wait_node 4300 Connected
stop_pid "$relay_pid"
ip netns exec "$ns" "$build/flowrelay" --peer access=127.0.0.1:4245 --no-discover \
	--grpc 127.0.0.1:4301 --http 127.0.0.1:12301 >"$tmp/relay2.out" 2>&1 &
relay_pid=$!
pids+=("$relay_pid")
sleep 2
check "flowrelay without the token: the agent is not Connected ($(relay_nodes 4301 | tr '\n' ' '))" \
	bash -c '! grep -q Connected <<<"$1"' _ "$(relay_nodes 4301)"
nodes=$(inns curl -s -H "$(api_auth)" http://127.0.0.1:12301/api/v1/nodes)
check "flowrelay tells why in /api/v1/nodes: $nodes" \
	grep -q '"state":"UNAVAILABLE","message":"[^"]*status 16: this server requires a token' <<<"$nodes"
stop_pid "$relay_pid"

# ---- the unix socket ------------------------------------------------------------------------
sock="$FLOWSCOPE_RUNTIME_DIR/flowd.sock"
check "flowd made its socket in the runtime directory ($sock)" test -S "$sock"
check "the socket is mode 0660, owner root, group flowd's --grpc-socket-group (4242): $(stat -c '%a %u %g' "$sock")" \
	test "$(stat -c '%a %u %g' "$sock")" = "660 0 4242"
check "flowd says where it listens" grep -q "unix:$sock" "$tmp/flowd.out"
check "flowctl --server unix:// needs no token where TCP does" ctl status --server "unix://$sock"
# An independent gRPC client (Debian's grpcio, stubs generated here from proto/): the token as
# call metadata, the socket as a unix: target.
mkdir -p "$tmp/stubs"
/usr/bin/python3 -m grpc_tools.protoc -I"$(dirname "$0")/../../proto" -I/usr/include \
	--python_out="$tmp/stubs" --grpc_python_out="$tmp/stubs" "$(dirname "$0")"/../../proto/*.proto
grpc_status() { # grpc_status TARGET [TOKEN]: ServerStatus's status code name
	inns /usr/bin/python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import grpc, observer_pb2, observer_pb2_grpc
md = [("authorization", "Bearer " + sys.argv[3])] if len(sys.argv) > 3 else None
try:
    observer_pb2_grpc.ObserverStub(grpc.insecure_channel(sys.argv[2])).ServerStatus(
        observer_pb2.ServerStatusRequest(), metadata=md, timeout=5)
    print("OK")
except grpc.RpcError as e:
    print(e.code().name)' "$tmp/stubs" "$@" 2>&1
}
check "grpcio without the token on TCP: UNAUTHENTICATED" \
	test "$(grpc_status 127.0.0.1:4245)" = UNAUTHENTICATED
check "grpcio with a wrong token as metadata: UNAUTHENTICATED" \
	test "$(grpc_status 127.0.0.1:4245 wrong-token)" = UNAUTHENTICATED
check "grpcio with the token as metadata: OK" test "$(grpc_status 127.0.0.1:4245 "$token")" = OK
check "grpcio through unix://$sock with no token: OK" test "$(grpc_status "unix://$sock")" = OK
out=$(ctl status 2>&1)
check "flowctl with no --server goes through the socket: $(head -1 <<<"$out")" \
	grep -q "via unix://$sock" <<<"$out"
out=$(asuser 4243 4243 "$build/flowctl" status --server "unix://$sock" 2>&1)
rc=$?
check "a user outside the socket's group cannot connect (rc $rc): $out" \
	bash -c '[ "$1" -ne 0 ] && grep -qi "permission denied" <<<"$2"' _ "$rc" "$out"
check "a user in the group can, with no token" asuser 4243 4242 "$build/flowctl" status --server "unix://$sock"
out=$(asuser 4243 4243 "$build/flowctl" status 2>&1)
check "outside the group flowctl falls back to TCP, which wants the token here: $(tail -1 <<<"$out")" \
	grep -q UNAUTHENTICATED <<<"$out"
stop_pid "$flowd_pid"
check "the socket goes when flowd stops" test ! -e "$sock"

# ---- the relay's socket where its systemd unit keeps it -------------------------------------
# dist/flowrelay.service runs it with FLOWSCOPE_RUNTIME_DIR=/run/flowscope-relay; flowctl with
# neither --server nor FLOWSCOPE_RUNTIME_DIR looks there too (and would reach no server here
# otherwise: nothing listens on TCP 4245). In a mount namespace of the test's own with a tmpfs on
# /run, so the host's /run is not touched.
out=$(inns unshare -m --propagation private bash -c '
mount -t tmpfs flowscope-e2e /run && mkdir -m 0755 /run/flowscope-relay || exit 1
FLOWSCOPE_RUNTIME_DIR=/run/flowscope-relay "$1/flowrelay" --peer 127.0.0.1:4999 --grpc 127.0.0.1:4345 \
	--http 127.0.0.1:12345 >/dev/null 2>&1 &
relay=$!
for _ in $(seq 100); do [ -S /run/flowscope-relay/relay.sock ] && break; sleep 0.1; done
env -u FLOWSCOPE_RUNTIME_DIR "$1/flowctl" status 2>&1
kill "$relay"' _ "$build")
check "flowctl with no --server finds the relay's socket in /run/flowscope-relay: $(head -1 <<<"$out")" \
	grep -q "via unix:///run/flowscope-relay/relay.sock" <<<"$out"

# ---- HTTPS ----------------------------------------------------------------------------------
(
	cd "$tmp" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj /CN=access-test-ca
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
		-extfile srv.ext
	chmod 600 srv.key
) >"$tmp/openssl.out" 2>&1
check "a CA and a server certificate for 127.0.0.1 made with openssl" test -s "$tmp/srv.pem"
out=$(inns timeout 10 "$build/flowd" --no-history -i lo --http-tls-cert "$tmp/srv.pem" \
	--http-tls-key "$tmp/ca.key" --http 127.0.0.1:12443 --no-grpc-socket --grpc 127.0.0.1:4443 2>&1)
rc=$?
check "a key that is not the certificate's: flowd says so and exits non-zero (rc $rc): $out" \
	bash -c '[ "$1" -ne 0 ] && grep -qi "key" <<<"$2" && grep -q HTTPS <<<"$2"' _ "$rc" "$out"
ip netns exec "$ns" "$build/flowd" --no-history -i lo --token-file "$tmp/token" --no-grpc-socket \
	--grpc 127.0.0.1:4443 --http 127.0.0.1:12443 --http-tls-cert "$tmp/srv.pem" \
	--http-tls-key "$tmp/srv.key" >"$tmp/flowd-tls.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
wait_https_port() { # PORT
	for _ in $(seq 100); do
		inns curl -sf --cacert "$tmp/ca.pem" "https://127.0.0.1:$1/healthz" >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	return 1
}
wait_https() { wait_https_port 12443; }
check "HTTPS /healthz, the certificate verified against the CA" wait_https
check "HTTPS with the token: 200" test "$(http_code https://127.0.0.1:12443/api/v1/status \
	--cacert "$tmp/ca.pem" -H "Authorization: Bearer $token")" = 200
check "HTTPS without the token: 401" \
	test "$(http_code https://127.0.0.1:12443/api/v1/status --cacert "$tmp/ca.pem")" = 401
check "a client that does not trust the CA is refused the handshake" \
	bash -c '! ip netns exec "$1" curl -s -o /dev/null https://127.0.0.1:12443/healthz' _ "$ns"
check "plain HTTP on the HTTPS port gets no answer" \
	bash -c '! ip netns exec "$1" curl -sf -m 3 -o /dev/null http://127.0.0.1:12443/healthz' _ "$ns"
hdrs=$(inns curl -s -D - -o /dev/null --cacert "$tmp/ca.pem" "https://127.0.0.1:12443/?token=$token")
check "the login URL over HTTPS sets a Secure cookie: $(grep -i set-cookie <<<"$hdrs" | sed "s/$token/TOKEN/")" \
	bash -c 'grep -i "^set-cookie:" <<<"$1" | grep -q "HttpOnly; SameSite=Strict; Secure"' _ "$hdrs"
stop_pid "$flowd_pid"

# ---- beyond loopback ------------------------------------------------------------------------
refused() { # refused WHAT ARGS...: flowd exits 2 at once naming --insecure-listen
	local what=$1 out rc
	shift
	out=$(inns timeout 10 "$build/flowd" --no-history -i lo --no-grpc-socket "$@" 2>&1)
	rc=$?
	check "$what: refused, exit 2 (rc $rc): $out" \
		bash -c '[ "$1" -eq 2 ] && grep -q "refusing" <<<"$2" && grep -q -- "--insecure-listen" <<<"$2"' \
		_ "$rc" "$out"
}
refused "gRPC on 0.0.0.0 without TLS" --grpc 0.0.0.0:4250 --http 127.0.0.1:12050
refused "gRPC on [::] without TLS" --grpc '[::]:4250' --http 127.0.0.1:12050
refused "HTTP on 0.0.0.0 without TLS" --grpc 127.0.0.1:4250 --http 0.0.0.0:12050
refused "HTTPS on 0.0.0.0 with --http-no-token" --grpc 127.0.0.1:4250 --http 0.0.0.0:12050 \
	--http-tls-cert "$tmp/srv.pem" --http-tls-key "$tmp/srv.key" --http-no-token
ip netns exec "$ns" "$build/flowd" --no-history -i lo --no-grpc-socket --grpc 0.0.0.0:4250 \
	--http 0.0.0.0:12050 --insecure-listen >"$tmp/flowd-insecure.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "with --insecure-listen flowd serves on 0.0.0.0" wait_http 12050
check "... and warns about gRPC" grep -q "warning: gRPC on 0.0.0.0 without TLS (--insecure-listen)" \
	"$tmp/flowd-insecure.out"
check "... and about HTTP" grep -q "warning: HTTP on 0.0.0.0 without TLS (--insecure-listen)" \
	"$tmp/flowd-insecure.out"
check "... HTTP still wants the token" test "$(http_code http://127.0.0.1:12050/api/v1/status)" = 401
stop_pid "$flowd_pid"
ip netns exec "$ns" "$build/flowd" --no-history -i lo --no-grpc-socket --grpc 0.0.0.0:4250 \
	--http 0.0.0.0:12050 --tls-cert "$tmp/srv.pem" --tls-key "$tmp/srv.key" \
	--http-tls-cert "$tmp/srv.pem" --http-tls-key "$tmp/srv.key" --token-file "$tmp/token" \
	>"$tmp/flowd-tls-out.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "with TLS and the token flowd serves on 0.0.0.0 with no flag" wait_https_port 12050
check "... and no warning about it" bash -c '! grep -q "warning: \(gRPC\|HTTP\) on" "$1"' _ "$tmp/flowd-tls-out.out"
out=$(ctl status --server 127.0.0.1:4250 --tls-ca-cert-files "$tmp/ca.pem" 2>&1)
check "gRPC over TLS beyond loopback requires the token: $(tail -1 <<<"$out")" \
	grep -q UNAUTHENTICATED <<<"$out"
check "... and takes it" ctl status --server 127.0.0.1:4250 --tls-ca-cert-files "$tmp/ca.pem" \
	--token-file "$tmp/token"
stop_pid "$flowd_pid"

# ---- the default: a token made at start, the login URL ---------------------------------------
rm -f "$FLOWSCOPE_RUNTIME_DIR/token" # the relays above made one: a first start again
ip netns exec "$ns" "$build/flowd" --no-history -i lo --node-name access >"$tmp/flowd-default.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "flowd with no access options answers /healthz" wait_http 12000
tf="$FLOWSCOPE_RUNTIME_DIR/token"
check "flowd made a token file in the runtime directory, mode 0600, owner root: $(stat -c '%a %u' "$tf")" \
	test "$(stat -c '%a %u' "$tf")" = "600 0"
made=$(cat "$tf")
check "flowd said it made the token and where" grep -q "made a new API token in $tf" "$tmp/flowd-default.out"
url=$(login_url "$tmp/flowd-default.out")
check "flowd printed the login URL with the file's token: ${url/$made/TOKEN}" \
	test "$url" = "http://127.0.0.1:12000/?token=$made"
check "the dashboard without the token: 401" test "$(http_code http://127.0.0.1:12000/)" = 401
check "the API without the token: 401" test "$(http_code 'http://127.0.0.1:12000/api/v1/flows?last=1')" = 401
check "/healthz without the token: 200" test "$(http_code http://127.0.0.1:12000/healthz)" = 200
hdrs=$(inns curl -s -D - -o /dev/null -c "$tmp/jar" "$url")
check "the login URL: 303 to / with an HttpOnly, SameSite=Strict cookie" \
	bash -c 'grep -q "^HTTP/1.1 303" <<<"$1" && grep -qi "^location: /\s*$" <<<"$1" &&
		grep -i "^set-cookie:" <<<"$1" | grep -q "HttpOnly; SameSite=Strict"' _ "$hdrs"
check "with the cookie the dashboard (index.html) and the API answer" bash -c '
	ip netns exec "$1" curl -sf -b "$2" http://127.0.0.1:12000/ | grep -q "id=\"graph\"" &&
	ip netns exec "$1" curl -sf -b "$2" "http://127.0.0.1:12000/api/v1/flows?last=1" >/dev/null' \
	_ "$ns" "$tmp/jar"
out=$(asuser 4243 4243 cat "$tf" 2>&1)
check "another user cannot read the token file: $out" bash -c '! ip netns exec "$1" setpriv \
	--reuid=4243 --regid=4243 --clear-groups cat "$2" >/dev/null 2>&1' _ "$ns" "$tf"
check "gRPC on loopback with no token (a Hubble client as another user)" \
	asuser 4243 4243 "$build/flowctl" status --server 127.0.0.1:4245
stop_pid "$flowd_pid"
ip netns exec "$ns" "$build/flowd" --no-history -i lo --node-name access --grpc-require-token \
	>"$tmp/flowd-default2.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
check "restarted with --grpc-require-token, flowd answers" wait_http 12000
check "it kept the token (the login URL still works)" test "$(cat "$tf")" = "$made"
check "it made no new one" bash -c '! grep -q "made a new API token" "$1"' _ "$tmp/flowd-default2.out"
check "flowctl run as root reads the token file: gRPC on TCP accepted" \
	ctl status --server 127.0.0.1:4245
out=$(asuser 4243 4243 "$build/flowctl" status --server 127.0.0.1:4245 2>&1)
check "another user, who cannot read it, is refused: $(tail -1 <<<"$out")" grep -q UNAUTHENTICATED <<<"$out"
stop_pid "$flowd_pid"

if [ "$failed" -ne 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out"
	echo "--- relay outputs"
	cat "$tmp/relay.out" "$tmp/relay2.out"
	echo "--- the other flowd outputs"
	grep -h warning "$tmp"/flowd-*.out
fi
echo "access: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
