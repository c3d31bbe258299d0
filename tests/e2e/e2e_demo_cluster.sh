#!/bin/bash
# `make demo-cluster` end to end, with 4 nodes and the relay on ports of its own: every agent
# connects, the relay's map has every node's service, flowctl follows the cluster, a killed agent
# goes UNAVAILABLE and is started again, and an interrupt (Ctrl-C) removes every namespace,
# interface and process the demo made.
# Usage: tests/e2e/e2e_demo_cluster.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root e2e_demo_cluster "network namespaces, BPF"
out=$(mktemp)
grpc=127.0.0.1:4299
http=127.0.0.1:12999
DEMO_HTTP=$http DEMO_GRPC=$grpc DEMO_RESTART=2 setsid "$here/../../scripts/demo-cluster.sh" \
	"$build" 4 >"$out" 2>&1 &
demo=$!
trap 'kill -INT -- -$demo 2>/dev/null; sleep 3; rm -f "$out"' EXIT
for _ in $(seq 150); do
	grep -q 'Ctrl-C stops everything' "$out" && break
	kill -0 "$demo" 2>/dev/null || break
	sleep 0.2
done
check "the demo says how to reach it: the relay's login URL" grep -q "dashboard     http://$http/?token=" "$out"
check "4 of 4 agents connected to the relay" grep -q '4 of 4 agents connected' "$out"
prefix=$(grep -o 'fsdemo[0-9]*n1' "$out" | head -1)
prefix=${prefix%n1}
check "4 node namespaces and a hub" test "$(ip netns list | grep -c "^$prefix")" -eq 5

nodes=$("$build/flowctl" list nodes --server "$grpc")
check "flowctl list nodes: node-01..04 Connected" \
	test "$(echo "$nodes" | grep -cE '^node-0[1-4] +Connected')" -eq 4
services() {
	curl -s -H "$(api_auth)" "http://$http/api/v1/graph" | python3 -c '
import json, sys
g = json.load(sys.stdin)
print(" ".join(sorted(n["id"] for n in g["nodes"] if n["id"].startswith("svc:"))))'
}
want="svc:data/cache-1 svc:data/db-1 svc:shop/api-1 svc:shop/web-1"
got=
for _ in $(seq 50); do
	got=$(services)
	[ "$got" = "$want" ] && break
	sleep 0.2
done
check "the relay's map: the service of every node ($got)" test "$got" = "$want"
seen=$(timeout 5 "$build/flowctl" observe --server "$grpc" --follow --print-node-name -o json |
	python3 -c '
import json, sys
print(" ".join(sorted({json.loads(l)["flow"]["node_name"] for l in sys.stdin if "\"flow\"" in l})))')
check "flowctl observe --follow: events of every node ($seen)" \
	test "$seen" = "node-01 node-02 node-03 node-04"

tmp=$(sed -n 's/.*logs          \(.*\)\/$/\1/p' "$out")
kill -9 "$(cat "$tmp/flowd-2.pid")"
state() { "$build/flowctl" list nodes --server "$grpc" | awk '$1 == "node-02" {print $2}'; }
down=
for _ in $(seq 50); do
	down=$(state)
	[ "$down" = Unavailable ] && break
	sleep 0.1
done
check "a killed agent is Unavailable within 5 s ($down)" test "$down" = Unavailable
up=
for _ in $(seq 100); do
	up=$(state)
	[ "$up" = Connected ] && break
	sleep 0.1
done
check "... and Connected again once the demo started it again ($up)" test "$up" = Connected

kill -INT -- -"$demo"
wait "$demo"
rc=$?
check "the demo ends on an interrupt (exit $rc)" test "$rc" -eq 0
check "the demo said it cleaned up" grep -q 'demo-cluster: done' "$out"
check "no namespace of the demo left" test "$(ip netns list | grep -c "^$prefix")" -eq 0
check "no interface of the demo left" test "$(ip link | grep -c "$prefix")" -eq 0
check "no process of the demo left" test -z "$(pgrep -f "$tmp|demo-node.py" 2>/dev/null)"
check "its directory removed" test ! -e "$tmp"
trap 'rm -f "$out"' EXIT
[ "$failed" -eq 0 ] || sed 's/^/demo: /' "$out" | tail -30
echo "e2e_demo_cluster: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
