#!/bin/bash
# An independent gRPC client against flowd: Python stubs are generated at test time from our
# proto/ with grpc_tools (Debian's python3-grpc-tools), then tests/e2e/grpc_python_client.py
# runs GetFlows, ServerStatus, GetNodes and error cases against a flowd watching lo in a
# network namespace of this test's own.
# Usage: tests/e2e/e2e_grpc_python.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3 # Debian's: python3-grpcio and python3-protobuf live there

. "$(dirname "$0")/lib.sh"
need_root grpc_python "network namespace, BPF"
ns="fsg$$"
tmp=$(mktemp -d)
cleanup() {
	[ -n "${flowd_pid:-}" ] && kill -KILL "$flowd_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/stubs"
if ! $py -m grpc_tools.protoc -I"$here/../../proto" -I/usr/include --python_out="$tmp/stubs" \
	--grpc_python_out="$tmp/stubs" "$here"/../../proto/*.proto; then
	echo "grpc_python: cannot generate Python stubs from proto/"
	echo "grpc_python: 0 passed, 1 failed"
	exit 1
fi

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --node-name pytest >"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
for _ in $(seq 50); do
	ip netns exec "$ns" "$build/flowctl" status >/dev/null 2>&1 && break
	sleep 0.1
done

ip netns exec "$ns" $py "$here/grpc_python_client.py" "$tmp/stubs" localhost:4245
rc=$?
kill -TERM "$flowd_pid"
wait "$flowd_pid"
if [ "$rc" -ne 0 ]; then
	echo "--- flowd output"
	cat "$tmp/flowd.out"
fi
exit $rc
