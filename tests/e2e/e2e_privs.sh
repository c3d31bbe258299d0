#!/bin/bash
# Least privilege: once its probes are attached and its listeners open, flowd holds only
# CAP_BPF, CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (effective, permitted and
# bounding sets, in every thread: the history writer's holds none), no ambient ones,
# no_new_privs; and still does its work with them: flows with their process (the /proc scan),
# the sweep, SIGHUP, a clean stop that detaches its tc filters. --keep-capabilities keeps them
# all. flowrelay holds none once listening and still follows its agent. The systemd units in
# dist/ pass systemd-analyze verify with no warning.
# Usage: tests/e2e/e2e_privs.sh BUILD_DIR. Needs root.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"
need_root privs "network namespaces, BPF, capabilities"

P="fsp$(printf '%05d' $(($$ % 100000)))"
A=${P}a B=${P}b
tmp=$(mktemp -d)
trap e2e_cleanup EXIT
veth_pair "$P" 10.203.0 || {
	fail "namespaces $A and $B joined by a veth"
	echo "privs: $passed passed, $failed failed"
	exit 1
}

# CAP_DAC_READ_SEARCH 2, CAP_NET_ADMIN 12, CAP_SYS_PTRACE 19, CAP_BPF 39.
want=$(printf '%016x' $(((1 << 2) | (1 << 12) | (1 << 19) | (1 << 39))))
caps() { # caps PID FIELD: the hex mask of one capability set of a task
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
all_tasks_hold() { # all_tasks_hold PID MASK: every thread's effective set is MASK or none
	local t c
	for t in /proc/"$1"/task/*; do
		c=$(awk '$1 == "CapEff:" { print $2 }' "$t/status")
		[ "$c" = "$2" ] || [ "$c" = 0000000000000000 ] || return 1
	done
}
start_flowd() { # start_flowd LOG ARGS...: flowd in namespace A on its veth
	local log=$1
	shift
	ip netns exec "$A" "$build/flowd" -i "${P}x" --history-dir "$tmp/history" \
		--sweep-interval 200ms --node-name privs "$@" >"$log" 2>&1 &
	flowd_pid=$!
	pids+=("$flowd_pid")
	for _ in $(seq 100); do
		grep -q "watching 1 interface" "$log" && break
		sleep 0.1
	done
	sleep 0.3
}

ip netns exec "$B" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.203.0.2", 8080)); s.listen(16); print("ready", flush=True)
while True:
    a, _ = s.accept(); a.recv(100); a.sendall(b"ok"); a.close()' >"$tmp/server.out" 2>&1 &
pids+=($!)

start_flowd "$tmp/flowd.out"
check "flowd says what it keeps ($(grep 'running with' "$tmp/flowd.out"))" \
	grep -q "running with CAP_DAC_READ_SEARCH,CAP_NET_ADMIN,CAP_SYS_PTRACE,CAP_BPF only" \
	"$tmp/flowd.out"
for set in CapEff CapPrm CapBnd; do
	v=$(caps "$flowd_pid" $set)
	check "$set is CAP_BPF, CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH ($v)" \
		test "$v" = "$want"
done
check "no inheritable or ambient capabilities ($(caps "$flowd_pid" CapInh) $(caps "$flowd_pid" CapAmb))" \
	test "$(caps "$flowd_pid" CapInh)$(caps "$flowd_pid" CapAmb)" = 00000000000000000000000000000000
check "no_new_privs is set" test "$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$flowd_pid/status")" = 1
n=$(ls /proc/"$flowd_pid"/task | wc -l)
check "every one of its $n threads holds those or none (the history writer: none)" \
	all_tasks_hold "$flowd_pid" "$want"
check "the history writer thread holds none" bash -c '
	for t in /proc/'"$flowd_pid"'/task/*; do
		[ "$(awk "\$1 == \"CapEff:\" { print \$2 }" "$t/status")" = 0000000000000000 ] && exit 0
	done; exit 1'

# With only those, it still works: a connection by a known process, seen with the process
# (the /proc scan reads every process's sockets), swept, served.
ip netns exec "$A" python3 -c '
import ctypes, socket
ctypes.CDLL(None).prctl(15, b"privclient", 0, 0, 0)
c = socket.socket(); c.bind(("10.203.0.1", 47001)); c.connect(("10.203.0.2", 8080))
c.sendall(b"hi"); c.recv(10); c.close()'
sleep 1
ip netns exec "$A" "$build/flowctl" observe --per-flow --all -o json --port 47001 >"$tmp/flows.json"
python3 - "$tmp/flows.json" >"$tmp/checks" <<'PY'
import json, sys
flows = [json.loads(l)["flow"] for l in open(sys.argv[1])]
def c(ok, what): print(("ok - " if ok else "FAIL - ") + what)
c(len(flows) == 1, "the connection is one flow (%d)" % len(flows))
f = flows[0] if flows else {}
c(f.get("source_process", {}).get("comm") == "privclient",
  "with its process (%s)" % f.get("source_process"))
c(int(f.get("l4", {}).get("TCP", {}).get("destination_port", 0)) == 8080, "to port 8080")
PY
cat "$tmp/checks"
add_checks "$tmp/checks"
kill -HUP "$flowd_pid"
sleep 0.5
check "SIGHUP handled (still running)" kill -0 "$flowd_pid"
check "its tc filters are attached" bash -c "ip netns exec $A tc filter show dev ${P}x ingress | grep -q bpf"
kill -TERM "$flowd_pid"
wait "$flowd_pid"
rc=$?
check "a clean stop (rc $rc)" test "$rc" -eq 0
out=$(ip netns exec "$A" tc filter show dev "${P}x" ingress; ip netns exec "$A" tc filter show dev "${P}x" egress)
check "and its tc filters are gone: detaching needed only what it kept ($out)" test -z "$out"
check "no capability error logged" bash -c "! grep -qi 'operation not permitted\|EPERM' '$tmp/flowd.out'"

start_flowd "$tmp/flowd-keep.out" --keep-capabilities
v=$(caps "$flowd_pid" CapEff)
check "--keep-capabilities keeps them all ($v = $(caps $$ CapEff))" test "$v" = "$(caps $$ CapEff)"
kill -TERM "$flowd_pid"
wait "$flowd_pid"

# flowrelay: none at all once listening, and it still follows an agent.
start_flowd "$tmp/flowd-2.out" --grpc 10.203.0.1:4244 --insecure-listen
ip netns exec "$A" "$build/flowrelay" --peer 10.203.0.1:4244 --grpc 127.0.0.1:4255 \
	--http 127.0.0.1:12055 >"$tmp/relay.out" 2>&1 &
relay_pid=$!
pids+=("$relay_pid")
# (Waiting for that line itself: an attempt refused first says "unavailable" and more.)
for _ in $(seq 150); do
	grep -qE "node (10.203.0.1:4244|privs) connected" "$tmp/relay.out" && break
	sleep 0.1
done
check "the relay follows its agent: $(grep -m1 -E ' connected|unavailable' "$tmp/relay.out")" \
	grep -qE "node (10.203.0.1:4244|privs) connected" "$tmp/relay.out"
for set in CapEff CapPrm CapBnd; do
	v=$(caps "$relay_pid" $set)
	check "flowrelay's $set is empty ($v)" test "$v" = 0000000000000000
done
check "in every thread of flowrelay" all_tasks_hold "$relay_pid" 0000000000000000
n=$(ip netns exec "$A" "$build/flowctl" observe --server 127.0.0.1:4255 --all -o json 2>/dev/null | wc -l)
check "flows through the relay ($n)" test "$n" -ge 1
kill -TERM "$relay_pid" "$flowd_pid"
wait "$relay_pid" "$flowd_pid"

# The systemd units: the binaries at their install path are this build's.
mkdir -p "$tmp/units"
for u in flowd flowrelay; do
	sed "s|/usr/local/sbin/$u|$build/$u|" "$here/../../dist/$u.service" >"$tmp/units/$u.service"
done
out=$(systemd-analyze verify "$tmp/units/flowd.service" "$tmp/units/flowrelay.service" 2>&1)
rc=$?
check "systemd-analyze verify: both units, no warning (rc $rc: $out)" test "$rc" -eq 0 -a -z "$out"
check "flowd.service keeps the start's capabilities only, sandboxed" \
	grep -q '^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_ADMIN' \
	"$here/../../dist/flowd.service"

if [ "$failed" -gt 0 ]; then
	for f in "$tmp"/flowd*.out "$tmp/relay.out"; do
		echo "--- $f"
		tail -20 "$f"
	done
fi
echo "privs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
