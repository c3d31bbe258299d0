#!/bin/bash
# `make demo-cluster`: a cluster on one machine. N agents (a real flowd each, default 16), each
# in its own network namespace with its own interfaces: eth0 on a data bridge, which is all its
# flowd watches, and mgmt0 on a management bridge, where its gRPC listens on port 4244. The
# bridges live in a hub namespace; the root namespace reaches the management bridge through a
# veth of its own, and flowrelay runs there with its default ports: the dashboard on
# http://127.0.0.1:12000, gRPC on 127.0.0.1:4245 (what flowctl and hubble reach with no flags).
# Every node runs a small application (scripts/demo-node.py: web -> api -> db and cache, UDP
# time queries) so the map has something to show. An agent you kill is started again after
# DEMO_RESTART seconds (as an orchestrator would), so it goes UNAVAILABLE and comes back.
# Ctrl-C (or SIGTERM) stops every process and removes every namespace and interface it made.
# Usage: scripts/demo-cluster.sh BUILD_DIR [N]   (as root; DEMO_HTTP, DEMO_GRPC: relay addresses)
set -u
build=$(cd "${1:-build}" 2>/dev/null && pwd) || {
	echo "demo-cluster: no build directory ${1:-build}" >&2
	exit 2
}
N=${2:-16}
here=$(cd "$(dirname "$0")" && pwd)
http=${DEMO_HTTP:-127.0.0.1:12000}
grpc=${DEMO_GRPC:-}
restart_after=${DEMO_RESTART:-10}
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 2 ] || [ "$N" -gt 200 ]; then
	echo "demo-cluster: N must be a number from 2 to 200, not '$N'" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "demo-cluster: needs root (network namespaces, BPF)" >&2
	exit 2
fi
for f in flowd flowrelay flowctl; do
	[ -x "$build/$f" ] || {
		echo "demo-cluster: $build/$f is not built (make all)" >&2
		exit 2
	}
done

P="fsdemo$$"
H=${P}h
# Namespaces a demo left behind when it could not clean up (kill -9): their owner is gone.
for ns in $(ip netns list | awk '{print $1}' | grep -E '^fsdemo[0-9]+(h|n[0-9]+)$'); do
	owner=${ns#fsdemo}
	owner=${owner%%[hn]*}
	kill -0 "$owner" 2>/dev/null && continue
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
done
ip link del "${P}r" 2>/dev/null
tmp=$(mktemp -d /tmp/flowscope-demo.XXXXXX)
relay_pid=
namespaces() {
	echo "$H"
	for i in $(seq "$N"); do echo "${P}n$i"; done
}
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "demo-cluster: stopping the relay, $N agents and their traffic; removing the namespaces"
	[ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null
	for ns in $(namespaces); do ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM 2>/dev/null; done
	for _ in $(seq 30); do
		left=0
		for ns in $(namespaces); do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1; done
		[ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null && left=1
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	[ -n "$relay_pid" ] && kill -9 "$relay_pid" 2>/dev/null
	for ns in $(namespaces); do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
	for ns in $(namespaces); do ip netns del "$ns" 2>/dev/null; done
	ip link del "${P}r" 2>/dev/null
	rm -rf "$tmp"
	echo "demo-cluster: done"
	exit 0
}
trap cleanup EXIT INT TERM

name_of() { printf 'node-%02d' "$1"; }
data_of() { echo "10.201.$((1 + $1 / 240)).$((10 + $1 % 240))"; } # 10.201.0.0/16
mgmt_of() { echo "10.202.$((1 + $1 / 240)).$((10 + $1 % 240))"; } # 10.202.0.0/16
tiers=(web api db cache)
tier_of() { echo "${tiers[$((($1 - 1) % 4))]}"; }
group_of() { echo $((($1 - 1) / 4 + 1)); } # four nodes make one application
ns_of() { case $(tier_of "$1") in web | api) echo shop ;; *) echo data ;; esac }

echo "demo-cluster: $N nodes, each its own network namespace (${P}n1..${P}n$N)"
set -e
{
	echo "netns add $H"
	for i in $(seq "$N"); do echo "netns add ${P}n$i"; done
} | ip -b -
for ns in $(namespaces); do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
done
for i in $(seq "$N"); do
	echo "link add ${P}d$i netns $H type veth peer name eth0 netns ${P}n$i"
	echo "link add ${P}m$i netns $H type veth peer name mgmt0 netns ${P}n$i"
done | ip -b -
ip link add "${P}r" type veth peer name "${P}rh" netns "$H"
{
	echo "link set lo up"
	echo "link add ${P}bd type bridge"
	echo "link add ${P}bm type bridge"
	echo "link set ${P}bd up"
	echo "link set ${P}bm up"
	echo "link set ${P}rh master ${P}bm up"
	for i in $(seq "$N"); do
		echo "link set ${P}d$i master ${P}bd up"
		echo "link set ${P}m$i master ${P}bm up"
	done
} | ip -n "$H" -b -
ip addr add 10.202.0.1/16 dev "${P}r"
ip link set "${P}r" up
for i in $(seq "$N"); do
	printf '%s\n' "link set lo up" "addr add $(data_of "$i")/16 dev eth0" \
		"addr add $(mgmt_of "$i")/16 dev mgmt0" "link set eth0 up" "link set mgmt0 up" |
		ip -n "${P}n$i" -b -
done
set +e

# Who is who: every node's address is a pod of its tier's service.
{
	echo "identities:"
	for i in $(seq "$N"); do
		printf '  - ip: %s\n    namespace: %s\n    pod: %s-%d-%02d\n    service: %s-%d\n' \
			"$(data_of "$i")" "$(ns_of "$i")" "$(tier_of "$i")" "$(group_of "$i")" "$i" \
			"$(tier_of "$i")" "$(group_of "$i")"
		printf '    labels: {app: %s, node: %s}\n' "$(tier_of "$i")" "$(name_of "$i")"
	done
} >"$tmp/identities.yaml"

start_agent() {
	ip netns exec "${P}n$1" "$build/flowd" --history-dir "$tmp/history-$1" -i eth0 --grpc "$(mgmt_of "$1"):4244" \
		--insecure-listen --http 127.0.0.1:12000 --no-grpc-socket --node-name "$(name_of "$1")" \
		--kernel-max-flows 4096 \
		--max-flows 8192 --max-events 16384 --identities "$tmp/identities.yaml" \
		>>"$tmp/flowd-$1.log" 2>&1 &
	echo $! >"$tmp/flowd-$1.pid"
}
for i in $(seq "$N"); do start_agent "$i"; done
peers=
for i in $(seq "$N"); do peers+="$(data_of "$i"):$(tier_of "$i"):$(group_of "$i"),"; done
for i in $(seq "$N"); do
	me="$(data_of "$i"):$(tier_of "$i"):$(group_of "$i"),"
	(ip netns exec "${P}n$i" python3 "$here/demo-node.py" "$(data_of "$i")" "$(tier_of "$i")" \
		"$(group_of "$i")" "${peers//$me/}" >"$tmp/node-$i.log" 2>&1 &)
done
for i in $(seq "$N"); do echo "$(name_of "$i")=$(mgmt_of "$i"):4244"; done >"$tmp/peers"
relay_args=(--peers-file "$tmp/peers" --http "$http")
[ -n "$grpc" ] && relay_args+=(--grpc "$grpc")
"$build/flowrelay" "${relay_args[@]}" >"$tmp/relay.log" 2>&1 &
relay_pid=$!

connected=0
for _ in $(seq 100); do
	if ! kill -0 "$relay_pid" 2>/dev/null; then
		echo "demo-cluster: flowrelay did not start:" >&2
		sed 's/^/  /' "$tmp/relay.log" >&2
		exit 1
	fi
	connected=$("$build/flowctl" list nodes ${grpc:+--server "$grpc"} 2>/dev/null |
		grep -c Connected)
	[ "$connected" -eq "$N" ] && break
	sleep 0.2
done
# The relay's dashboard wants its token: the login URL it printed carries it.
login=$(sed -n 's/^flowrelay: dashboard: \(http[^ ]*\).*$/\1/p' "$tmp/relay.log" | tail -1)
cat <<EOF

  Flowscope demo cluster: $connected of $N agents connected to the relay.

    dashboard     ${login:-http://$http/}
    follow        $build/flowctl observe --follow --print-node-name
    nodes         $build/flowctl list nodes
    one node      $build/flowctl observe --last 20 --node-name $(name_of 3)
    kill an agent kill -9 \$(cat $tmp/flowd-3.pid)     (it is started again after ${restart_after} s)
    peers         $tmp/peers   (edit it: the relay follows what it lists)
    logs          $tmp/

  Ctrl-C stops everything and removes every namespace.

EOF

# Agents that died are started again after a while; a relay that died ends the demo.
declare -A down_since
while sleep 1; do
	if ! kill -0 "$relay_pid" 2>/dev/null; then
		echo "demo-cluster: flowrelay exited:" >&2
		tail -5 "$tmp/relay.log" | sed 's/^/  /' >&2
		exit 1
	fi
	now=$(date +%s)
	for i in $(seq "$N"); do
		kill -0 "$(cat "$tmp/flowd-$i.pid")" 2>/dev/null && continue
		if [ -z "${down_since[$i]:-}" ]; then
			down_since[$i]=$now
			echo "demo-cluster: agent $(name_of "$i") is down; starting it again in ${restart_after} s"
		elif [ $((now - down_since[$i])) -ge "$restart_after" ]; then
			start_agent "$i"
			unset "down_since[$i]"
			echo "demo-cluster: agent $(name_of "$i") started again"
		fi
	done
done
