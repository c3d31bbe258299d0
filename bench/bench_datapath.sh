#!/bin/bash
# Datapath overhead of the monitors. Two hosts in network namespaces (C 10.200.7.1, S 10.200.8.1)
# routed through a third (R, ip_forward=1) over veths; the monitor runs in R and watches both of
# R's veths (ingress and egress). Measured, case after case within each round (A B C D E, A B C D
# E, ...), medians over the rounds:
#   - the forwarded packet rate of small UDP packets (iperf3 -u -b 0 -l 18, about 64-byte frames,
#     C -> S): the packets per second the server in S received, with no monitor ("none", the
#     baseline), an empty tc program, flowd (tc probes + socket probes + collector), softflowd and
#     pmacctd (both libpcap, Debian packages); loss of each against none;
#   - the kernel's own statistics (kernel.bpf_stats_enabled: run_time_ns / run_cnt of every
#     program on R's tc hooks) under the same forwarded load, flowd's tc programs against the
#     empty program on the same hooks, in runs of their own (the statistics cost two clock reads
#     per program run, which the pps runs must not pay);
#   - bulk TCP throughput (iperf3, C -> S) without and with flowd.
# Each comparison is also made round by round (that round's cases against each other) and the
# spread of those paired differences printed; a verdict whose spread straddles its threshold is
# called INCONCLUSIVE rather than PASS or MISS.
# Usage: bash bench/bench_datapath.sh BUILD_DIR    (root; run by `make bench`, never by `make test`)
# Environment: ROUNDS (default 7), STATS_ROUNDS (default 3), SECS per run (default 5), NOISE_MAX
# and RETRIES (see below).
# The machine is shared: for every run the script also measures the CPU that processes outside
# its namespaces used meanwhile ("others CPU%", 100 = one core) and takes a run again right away
# when that was more than NOISE_MAX % (at most RETRIES retakes in all); the figure is printed
# with every result, and a disturbed run kept for lack of retakes is marked NOISY.
# Only touches the namespaces and veths it creates (prefix fsbNNNNN, removed on exit).
set -u
export LC_ALL=C

ROUNDS=${ROUNDS:-7}
STATS_ROUNDS=${STATS_ROUNDS:-3}
SECS=${SECS:-5}
NOISE_MAX=${NOISE_MAX:-25} # % of one core other processes may use during a run before it is retaken
RETRIES=${RETRIES:-8}      # retakes allowed in the whole script (keeps it under ~8 minutes)
CASES="none empty_tc flowd softflowd pmacctd"

die() { # a measurement cannot be made at all
	echo "datapath: $*"
	echo "datapath: not measured"
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, BPF)"
build=$(cd "${1:-build}" 2>/dev/null && pwd) || die "no build directory ${1:-build}"
for f in flowd flowctl empty_tc.bpf.o; do
	[ -e "$build/$f" ] || die "$build/$f is missing (make all)"
done
for t in ip tc iperf3 softflowd softflowctl pmacctd awk getconf bpftool sysctl; do
	command -v "$t" >/dev/null 2>&1 || die "$t is not installed (make bench-deps)"
done
case "$ROUNDS$STATS_ROUNDS$SECS$NOISE_MAX$RETRIES" in *[!0-9]*) die "ROUNDS, SECS, NOISE_MAX and RETRIES must be whole numbers" ;; esac
{ [ "$ROUNDS" -ge 1 ] && [ "$SECS" -ge 1 ]; } || die "ROUNDS and SECS must be at least 1"
HZ=$(getconf CLK_TCK)

# Unique per run and short enough for 15-character interface names. Leftovers of an earlier
# run of this script whose process is gone are removed first (only our own prefix family).
P="fsb$(printf '%05d' $(($$ % 100000)))"
NC=${P}c NR=${P}r NS=${P}s
VC=${P}c0 VRC=${P}rc VRS=${P}rs VS=${P}s0
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fsb[0-9]{5}[crs]$'); do
	owner=$((10#${ns:3:5}))
	[ "$owner" != $(($$ % 100000)) ] && kill -0 "$owner" 2>/dev/null && continue
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
done

tmp=$(mktemp -d /tmp/fsb-datapath.XXXXXX)
pids=() # the processes this script started in the background and has not reaped yet
forget() { # PID: reaped, so never to be signalled again (its number may be reused)
	local keep=() q
	for q in "${pids[@]}"; do [ "$q" = "$1" ] || keep+=("$q"); done
	pids=("${keep[@]}")
}
stats_was=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	trap - EXIT INT TERM HUP
	local p ns
	sysctl -qw kernel.bpf_stats_enabled="$stats_was" 2>/dev/null
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	# Whatever is still running inside our namespaces is ours (monitors' children, clients).
	for ns in $NC $NR $NS; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	wait 2>/dev/null
	for ns in $NC $NR $NS; do ip netns del "$ns" 2>/dev/null; done # takes the veths along
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "datapath: interrupted"; exit 1' INT TERM HUP

# (Background processes are started with ip netns exec itself, never through inr: a function
# in the background runs in a subshell, and $! would be that subshell, not the process.)
inr() { ip netns exec "$NR" "$@"; }

# ---- topology ------------------------------------------------------------------------------
setup() {
	ip netns add "$NC" && ip netns add "$NR" && ip netns add "$NS" &&
		ip link add "$VC" netns "$NC" type veth peer name "$VRC" netns "$NR" &&
		ip link add "$VS" netns "$NS" type veth peer name "$VRS" netns "$NR" &&
		ip -n "$NC" link set lo up && ip -n "$NR" link set lo up && ip -n "$NS" link set lo up &&
		ip -n "$NC" addr add 10.200.7.1/24 dev "$VC" && ip -n "$NC" link set "$VC" up &&
		ip -n "$NC" route add 10.200.8.0/24 via 10.200.7.2 &&
		ip -n "$NS" addr add 10.200.8.1/24 dev "$VS" && ip -n "$NS" link set "$VS" up &&
		ip -n "$NS" route add 10.200.7.0/24 via 10.200.8.2 &&
		ip -n "$NR" addr add 10.200.7.2/24 dev "$VRC" && ip -n "$NR" link set "$VRC" up &&
		ip -n "$NR" addr add 10.200.8.2/24 dev "$VRS" && ip -n "$NR" link set "$VRS" up &&
		inr sysctl -qw net.ipv4.ip_forward=1
}
setup || die "cannot create the namespaces and veths"
ip netns exec "$NC" ping -q -c 1 -W 2 10.200.8.1 >/dev/null 2>&1 ||
	die "C cannot reach S through R"
IFX_RC=$(inr cat "/sys/class/net/$VRC/ifindex")
IFX_RS=$(inr cat "/sys/class/net/$VRS/ifindex")

# One long-running iperf3 server in S (restarted if a client finds it wedged).
srv_pid=
start_server() {
	if [ -n "$srv_pid" ]; then
		kill -KILL "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
		forget "$srv_pid"
	fi
	ip netns exec "$NS" iperf3 -s -B 10.200.8.1 -p 5201 >"$tmp/iperf3-server.log" 2>&1 &
	srv_pid=$!
	pids+=("$srv_pid")
	for _ in $(seq 50); do
		ip netns exec "$NS" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q LISTEN && return 0
		sleep 0.1
	done
	return 1
}
start_server || die "iperf3 server does not start in S: $(tail -n 3 "$tmp/iperf3-server.log")"

# ---- small helpers -------------------------------------------------------------------------
alive() { # PID: running and not a zombie
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $1}')
	[ -n "$st" ] && [ "$st" != Z ]
}
ticks() { # PID: utime+stime in clock ticks (0 if gone)
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{t = $12 + $13} END {print t + 0}'
}
median() { # numbers on stdin, one a line
	sort -g | awk '{v[NR] = $1} END {
		if (!NR) { print ""; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
json_field() { # FILE SECTION KEY: a number from iperf3's pretty-printed JSON ("end" section)
	awk -v sec="\"$2\":" -v key="\"$3\":" '
		$1 == sec { in_sec = 1; next }
		in_sec && $1 == key { v = $2; sub(/,$/, "", v); print v; exit }
		in_sec && /^[ \t]*}/ { in_sec = 0 }' "$1"
}
tx_packets() { inr cat "/sys/class/net/$VRS/statistics/tx_packets"; }
packet_socket_ifindexes() { # ifindexes R's packet sockets are bound to
	inr awk 'NR > 1 {print $5}' /proc/net/packet | sort -u | tr '\n' ' '
}
tc_filter_count() { # bpf filters on both router veths, both directions
	local n=0 d dir
	for d in "$VRC" "$VRS"; do
		for dir in ingress egress; do
			n=$((n + $(inr tc filter show dev "$d" "$dir" 2>/dev/null | grep -c ' bpf .*handle')))
		done
	done
	echo "$n"
}

prog_ids() { # ids of the bpf programs attached to R's veths (tc, both directions)
	local d dir
	for d in "$VRC" "$VRS"; do
		for dir in ingress egress; do
			inr tc filter show dev "$d" "$dir" 2>/dev/null | grep -o ' id [0-9]*' | awk '{print $2}'
		done
	done | sort -u # one program on several hooks is counted once
}
prog_stats() { # IDS...: "run_time_ns run_cnt" summed over those programs
	local id
	for id in "$@"; do
		bpftool prog show id "$id" 2>/dev/null | grep -o 'run_time_ns [0-9]* run_cnt [0-9]*'
	done | awk '{t += $2; n += $4} END {print t + 0, n + 0}'
}

# ---- monitors --------------------------------------------------------------------------------
# start_monitor CASE: starts it, checks it is alive after 1 s and really hooked in; sets
# mon_pids (the processes whose CPU is counted) or mon_err and returns 1.
mon_pids=()
mon_err=
flowd_pid=
start_monitor() {
	mon_pids=()
	mon_err=
	local c=$1 d dir p
	# Whatever ran before must be gone: "none" has to be really nothing.
	if [ "$(tc_filter_count)" != 0 ] || [ -n "$(packet_socket_ifindexes)" ]; then
		mon_err="a previous monitor left hooks behind (tc filters: $(tc_filter_count), packet sockets on: $(packet_socket_ifindexes))"
		return 1
	fi
	case $c in
	none) return 0 ;;
	empty_tc)
		for d in "$VRC" "$VRS"; do
			inr tc qdisc add dev "$d" clsact 2>"$tmp/tc.err" || { mon_err="tc qdisc: $(cat "$tmp/tc.err")"; return 1; }
			for dir in ingress egress; do
				inr tc filter add dev "$d" "$dir" bpf da obj "$build/empty_tc.bpf.o" sec tc \
					2>"$tmp/tc.err" || { mon_err="tc filter: $(head -3 "$tmp/tc.err")"; return 1; }
			done
		done
		[ "$(tc_filter_count)" = 4 ] || { mon_err="expected 4 bpf filters, found $(tc_filter_count)"; return 1; }
		;;
	flowd)
		ip netns exec "$NR" "$build/flowd" --history-dir "$tmp/history-1" -i "$VRC" -i "$VRS" --node-name bench >"$tmp/flowd.log" 2>&1 &
		flowd_pid=$! # ip netns exec execs in place: this is flowd itself
		pids+=("$flowd_pid")
		mon_pids=("$flowd_pid")
		sleep 1
		for _ in $(seq 50); do
			alive "$flowd_pid" || break
			inr "$build/flowctl" status --server 127.0.0.1:4245 >"$tmp/flowctl.out" 2>&1 && break
			sleep 0.2
		done
		alive "$flowd_pid" || { mon_err="flowd exited: $(tail -n 3 "$tmp/flowd.log" | tr '\n' ' ')"; return 1; }
		grep -q 'Healthcheck.*Ok' "$tmp/flowctl.out" ||
			{ mon_err="flowctl status fails: $(head -3 "$tmp/flowctl.out" | tr '\n' ' ')"; return 1; }
		[ "$(tc_filter_count)" = 4 ] || { mon_err="flowd runs but $(tc_filter_count)/4 tc filters are attached"; return 1; }
		;;
	softflowd)
		# softflowd takes one interface: one instance per veth.
		for d in "$VRC" "$VRS"; do
			ip netns exec "$NR" softflowd -i "$d" -n 127.0.0.1:2055 -d -p "$tmp/sf-$d.pid" -c "$tmp/sf-$d.ctl" \
				>"$tmp/sf-$d.log" 2>&1 &
			p=$!
			pids+=("$p")
			mon_pids+=("$p")
		done
		sleep 1
		for p in "${mon_pids[@]}"; do
			alive "$p" || { mon_err="softflowd exited: $(tail -q -n 3 "$tmp"/sf-*.log | tr '\n' ' ')"; return 1; }
		done
		;;
	pmacctd)
		# One pmacctd (core + print plugin processes) on both veths through an interfaces map
		# (the ifindex values there are pmacct's own tags, not the kernel's).
		printf 'ifname=%s ifindex=1\nifname=%s ifindex=2\n' "$VRC" "$VRS" >"$tmp/pm-ifmap"
		cat >"$tmp/pmacctd.conf" <<-EOF
			daemonize: false
			pidfile: $tmp/pmacctd.pid
			pcap_interfaces_map: $tmp/pm-ifmap
			plugins: print
			aggregate: src_host,dst_host,src_port,dst_port,proto
			print_output: csv
			print_output_file: $tmp/pmacctd.csv
			print_refresh_time: 60
		EOF
		rm -f "$tmp/pmacctd.csv"
		ip netns exec "$NR" pmacctd -f "$tmp/pmacctd.conf" >"$tmp/pmacctd.log" 2>&1 &
		p=$!
		pids+=("$p")
		mon_pids=("$p")
		sleep 1
		alive "$p" || { mon_err="pmacctd exited: $({ grep -E 'ERROR|WARN' "$tmp/pmacctd.log" || tail -n 3 "$tmp/pmacctd.log"; } | tail -n 3 | tr '\n' ' ')"; return 1; }
		mapfile -t mon_pids < <(echo "$p"; pgrep -P "$p")
		[ "${#mon_pids[@]}" -ge 2 ] || { mon_err="pmacctd has no plugin process"; return 1; }
		;;
	esac
	if [ "$c" = softflowd ] || [ "$c" = pmacctd ]; then
		# libpcap: there must be a packet socket bound to each veth.
		local socks
		socks=" $(packet_socket_ifindexes)"
		case "$socks" in *" $IFX_RC "*) ;; *) mon_err="$c has no packet socket on $VRC"; return 1 ;; esac
		case "$socks" in *" $IFX_RS "*) ;; *) mon_err="$c has no packet socket on $VRS"; return 1 ;; esac
	fi
	return 0
}

# captured CASE: after a run, proof that the monitor saw the traffic (prints what it saw).
captured() {
	local n d
	case $1 in
	flowd) # the C -> S flow of the run's protocol (udp, or tcp: $2) must be in flowd's store
		n=$(inr "$build/flowctl" observe --server 127.0.0.1:4245 --all --from-ip 10.200.7.1 \
			--to-ip 10.200.8.1 --protocol "${2:-udp}" -o json 2>/dev/null | grep -c '^{')
		echo "${n:-0} ${2:-udp} flow records C->S"
		[ "${n:-0}" -ge 1 ]
		;;
	softflowd)
		local total=0
		for d in "$VRC" "$VRS"; do
			n=$(softflowctl -c "$tmp/sf-$d.ctl" statistics 2>/dev/null |
				awk -F': *' '/^Packets processed/ {print $2 + 0}')
			[ "${n:-0}" -gt 0 ] || { echo "softflowd on $d processed ${n:-no} packets"; return 1; }
			total=$((total + n))
		done
		echo "processed $total packets"
		;;
	*) return 0 ;;
	esac
}
# pmacctd_counted: pmacctd's print plugin writes its cache when stopped (SIGTERM): the UDP flow
# from C to S must be in it.
pmacctd_counted() {
	local n
	n=$(awk -F, '$1 == "10.200.7.1" && $2 == "10.200.8.1" && $5 == "udp" {n += $6} END {print n + 0}' \
		"$tmp/pmacctd.csv" 2>/dev/null)
	echo "counted ${n:-0} packets"
	[ "${n:-0}" -gt 0 ]
}

stop_monitor() {
	local c=$1 p d
	case $c in
	empty_tc)
		for d in "$VRC" "$VRS"; do inr tc qdisc del dev "$d" clsact 2>/dev/null; done
		;;
	flowd | softflowd | pmacctd)
		local top=("${mon_pids[@]}")
		[ "$c" = pmacctd ] && top=("${mon_pids[@]:0:1}") # the core process stops its plugin
		for p in "${top[@]}"; do kill -TERM "$p" 2>/dev/null; done
		for _ in $(seq 50); do
			local any=0
			for p in "${mon_pids[@]}"; do alive "$p" && any=1; done
			[ "$any" = 0 ] && break
			sleep 0.1
		done
		for p in "${mon_pids[@]}"; do
			alive "$p" && { echo "  ($c pid $p ignored SIGTERM for 5 s: killed)"; kill -KILL "$p" 2>/dev/null; }
			wait "$p" 2>/dev/null
			forget "$p"
		done
		# Anything else left in R (e.g. a pmacctd writer) is ours too.
		ip netns pids "$NR" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		sleep 0.1
		;;
	esac
	if [ "$(tc_filter_count)" != 0 ]; then
		echo "  ($c left $(tc_filter_count) tc filters behind: removing the clsact qdiscs)"
		for d in "$VRC" "$VRS"; do inr tc qdisc del dev "$d" clsact 2>/dev/null; done
	fi
}

# client ARGS...: runs the iperf3 client in C (JSON into $tmp/client.json); retries once with a
# fresh server when the first attempt fails. Backgrounded so that a signal ends it at once.
client() {
	local rc
	for _ in 1 2; do
		ip netns exec "$NC" timeout $((SECS + 20)) iperf3 -c 10.200.8.1 -p 5201 --connect-timeout 3000 \
			-J "$@" >"$tmp/client.json" 2>"$tmp/client.err" &
		local cp=$!
		pids+=("$cp")
		wait "$cp"
		rc=$?
		forget "$cp"
		if [ "$rc" = 0 ] && ! grep -q '^[[:space:]]*"error":' "$tmp/client.json"; then
			return 0
		fi
		echo "  (iperf3 client failed, rc $rc: $(grep '"error"' "$tmp/client.json" | head -1 | tr -s ' \t' ' ')$(head -2 "$tmp/client.err"); restarting the server)"
		start_server || return 1
	done
	return 1
}

# ---- one measured run ------------------------------------------------------------------------
# others_snapshot: "pid ticks" of every user-space process outside our namespaces (kernel threads,
# e.g. ksoftirqd doing our own forwarding, are left out): what else used the CPUs during a run.
others_snapshot() {
	local ours
	ours=" $({ ip netns pids "$NC"; ip netns pids "$NR"; ip netns pids "$NS"; } 2>/dev/null | tr '\n' ' ') $$ "
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v ours="$ours" '{
		pid = $1; rest = $0; sub(/.*\) /, "", rest); split(rest, f, " ")
		if (pid == 2 || f[2] == 2 || index(ours, " " pid " ")) next
		print pid, f[12] + f[13] }'
}

# one_run udp|tcp CASE: start the monitor, run iperf3 C -> S for SECS, check the monitor saw it,
# stop it. Sets run_val (received pps, or Gbit/s), run_fwd (router tx pps), run_cpu (monitor CPU,
# % of one core), run_noise (CPU other processes on the machine used meanwhile, % of one core),
# run_extra (details); or run_err and returns 1.
one_run() {
	local kind=$1 c=$2 p dt=0 tx0 tx1 w0 w1 wall seen cap_ok f secs pk lost b ids st0 st1
	local -A ct0=()
	run_val='' run_fwd='' run_cpu='' run_noise='' run_extra='' run_err='' run_bpf=''
	if ! start_monitor "$c"; then
		run_err="$c did not start: $mon_err"
		stop_monitor "$c" >/dev/null
		return 1
	fi
	for p in "${mon_pids[@]}"; do ct0[$p]=$(ticks "$p"); done
	others_snapshot >"$tmp/others0"
	ids=$(prog_ids)
	[ -n "$with_stats" ] && st0=$(prog_stats $ids)
	tx0=$(tx_packets)
	w0=$(date +%s.%N)
	if [ "$kind" = udp ]; then client "${UDP_ARGS[@]}" -t "$SECS"; else client -t "$SECS"; fi
	if [ $? != 0 ]; then
		run_err="iperf3 $kind run failed: $(grep '"error"' "$tmp/client.json" | head -1 | tr -s ' \t' ' ')$(head -2 "$tmp/client.err")"
		stop_monitor "$c" >/dev/null
		return 1
	fi
	w1=$(date +%s.%N)
	tx1=$(tx_packets)
	if [ -n "$with_stats" ]; then
		st1=$(prog_stats $ids)
		# ns per program run, over every run of the tc programs on both veths
		run_bpf=$(echo "$st0 $st1" | awk '$4 > $2 {printf "%.1f", ($3 - $1) / ($4 - $2)}')
		[ -n "$run_bpf" ] || { run_err="no bpf statistics for programs $ids"; stop_monitor "$c" >/dev/null; return 1; }
		run_extra="tc programs $(echo "$st0 $st1" | awk '{print $4 - $2}') runs, $run_bpf ns/run"
	fi
	others_snapshot >"$tmp/others1"
	for p in "${mon_pids[@]}"; do dt=$((dt + $(ticks "$p") - ${ct0[$p]})); done
	seen=$(captured "$c" "$kind")
	cap_ok=$?
	stop_monitor "$c"
	if [ "$c" = pmacctd ] && [ "$cap_ok" = 0 ]; then
		seen=$(pmacctd_counted)
		cap_ok=$?
	fi
	if [ "$cap_ok" != 0 ]; then
		run_err="$c did not capture the traffic ($seen)"
		return 1
	fi
	wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')
	run_cpu=$(awk -v t="$dt" -v hz="$HZ" -v w="$wall" 'BEGIN {printf "%.1f", 100 * t / hz / w}')
	run_noise=$(awk -v hz="$HZ" -v w="$wall" 'NR == FNR {b[$1] = $2; next}
		($1 in b) {d += $2 - b[$1]} END {printf "%.0f", 100 * d / hz / w}' "$tmp/others0" "$tmp/others1")
	f=$tmp/client.json
	secs=$(json_field "$f" sum_received seconds)
	if [ "$kind" = udp ]; then
		pk=$(json_field "$f" sum_received packets)
		lost=$(json_field "$f" sum_received lost_packets)
		if [ -z "$secs" ] || [ -z "$pk" ] || [ -z "$lost" ]; then
			run_err="no sum_received in iperf3's JSON"
			return 1
		fi
		run_val=$(awk -v p="$pk" -v l="$lost" -v s="$secs" 'BEGIN {printf "%.0f", (p - l) / s}')
		run_fwd=$(awk -v a="$tx0" -v b="$tx1" -v s="$secs" 'BEGIN {printf "%.0f", (b - a) / s}')
		run_extra+="${run_extra:+, }iperf3 loss $(awk -v p="$pk" -v l="$lost" 'BEGIN {printf "%.1f", p ? 100 * l / p : 0}')%, router tx $run_fwd pps"
	else
		b=$(json_field "$f" sum_received bits_per_second)
		[ -n "$b" ] || { run_err="no sum_received in iperf3's JSON"; return 1; }
		run_val=$(awk -v b="$b" 'BEGIN {printf "%.3f", b / 1e9}')
	fi
	case $c in none | empty_tc) ;; *) run_extra+="${run_extra:+, }$c CPU $run_cpu%, $seen" ;; esac
	return 0
}

# measure KIND ROUND CASE: one run, retaken right away (while the budget lasts) when other
# processes used more than NOISE_MAX % of a core meanwhile. Appends to vals/fwds/cpus/noises.
retries_left=$RETRIES
measure() {
	local kind=$1 r=$2 c=$3 unit=pps fmt='%9.0f'
	[ "$kind" = tcp ] && unit=Gbit/s fmt='%9.3f'
	while :; do
		if ! one_run "$kind" "$c"; then
			failed[$c]="round $r: $run_err"
			echo "  $kind round $r $(printf '%-9s' "$c") FAILED: $run_err"
			return 1
		fi
		if [ "$run_noise" -gt "$NOISE_MAX" ] && [ "$retries_left" -gt 0 ]; then
			retries_left=$((retries_left - 1))
			echo "  $kind round $r $(printf '%-9s' "$c") $(printf "$fmt" "$run_val") $unit, but other processes used ${run_noise}% CPU: taken again"
			continue
		fi
		break
	done
	vals[$c]+="$run_val "
	bpfs[$c]+="$run_bpf "
	fwds[$c]+="$run_fwd "
	cpus[$c]+="$run_cpu "
	noises[$c]+="$run_noise "
	local flag=
	[ "$run_noise" -gt "$NOISE_MAX" ] && flag=" (NOISY, no retries left)"
	echo "  $kind round $r $(printf '%-9s' "$c") $(printf "$fmt" "$run_val") $unit (${run_extra:+$run_extra, }others ${run_noise}% CPU)$flag"
}

med() { echo "$1" | tr ' ' '\n' | grep . | median; }
cnt() { echo "$1" | wc -w; }
noisy_count() { echo "$1" | tr ' ' '\n' | grep . | awk -v m="$NOISE_MAX" '$1 > m {n++} END {print n + 0}'; }
# reset_cases CASE...: forget what was measured for these cases.
reset_cases() {
	local c
	for c in "$@"; do vals[$c]='' bpfs[$c]='' fwds[$c]='' cpus[$c]='' noises[$c]='' failed[$c]=''; done
}
# run_rounds udp|tcp N CASE...: N rounds, the cases one after the other in each; a case that
# failed is not run again.
run_rounds() {
	local kind=$1 n=$2 r c
	shift 2
	for r in $(seq "$n"); do
		for c in "$@"; do
			[ -n "${failed[$c]}" ] || measure "$kind" "$r" "$c"
		done
	done
}
# no_result BENCH CASE: the table row and JSON line of a case without a result.
no_result() {
	printf '%-10s %12s   %s\n' "$2" FAILED "${failed[$2]:-no result}"
	json_err "$1" "$2" "${failed[$2]:-no result}"
	rc=1
}
json_err() { echo "{\"bench\":\"$1\",\"case\":\"$2\",\"error\":\"$(echo "$3" | tr -d '"\\' | tr '\n\t' '  ')\"}"; }

# ---- forwarded packet rate -------------------------------------------------------------------
# One client stream: on this 2-core VM the sender (whose core also does the forwarding softirq)
# and the receiver take a core each; -P 2 was tried and forwarded no more (about 150-170k pps vs
# 175-180k with one stream, the sending core at 99% either way), so a second stream only adds
# contention.
UDP_ARGS=(-u -b 0 -l 18)

echo "datapath: namespaces $NC/$NR/$NS, router veths $VRC $VRS; $ROUNDS rounds x $SECS s per case;" \
	"runs during which other processes used > $NOISE_MAX% CPU are taken again (at most $RETRIES); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up (ARP, caches), not counted.
client "${UDP_ARGS[@]}" -t 1 >/dev/null || die "the UDP warm-up run fails: $(head -3 "$tmp/client.err")"

with_stats=
declare -A vals bpfs fwds cpus noises failed
# shellcheck disable=SC2086 # CASES is a list of words
reset_cases $CASES
# shellcheck disable=SC2086
run_rounds udp "$ROUNDS" $CASES

rc=0
base=$(med "${vals[none]}")
echo
echo "Forwarded UDP packet rate (18-byte payloads, 1 stream, $SECS s runs), medians of $ROUNDS rounds:"
printf '%-10s %12s %16s %14s %18s %12s %12s\n' case "pps (median)" "loss vs none (%)" "ratio to none" \
	"paired loss (%)" "monitor CPU%" "others CPU%"
declare -A loss
for c in $CASES; do
	if [ -n "${failed[$c]}" ] || [ -z "${vals[$c]}" ]; then
		no_result datapath "$c"
		continue
	fi
	m=$(med "${vals[$c]}")
	cm=$(med "${cpus[$c]}")
	fm=$(med "${fwds[$c]}")
	nm=$(med "${noises[$c]}")
	ratio='' loss[$c]='' paired=''
	if [ -n "$base" ]; then
		ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
		loss[$c]=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.1f", 100 * (1 - a / b)}')
		# Each round against that round's none, then the median: less sensitive to drift.
		if [ "$(cnt "${vals[$c]}")" = "$(cnt "${vals[none]}")" ]; then
			paired=$(paste -d' ' <(echo "${vals[$c]}" | tr ' ' '\n' | grep .) \
				<(echo "${vals[none]}" | tr ' ' '\n' | grep .) |
				awk '{printf "%.2f\n", 100 * (1 - $1 / $2)}' | median)
			paired=$(printf '%.1f' "$paired")
		fi
	fi
	cshow=-
	case $c in none | empty_tc) ;; *) cshow=$cm ;; esac
	printf '%-10s %12.0f %16s %14s %18s %12s %12s\n' "$c" "$m" "${loss[$c]:-?}" "${ratio:-?}" \
		"${paired:-?}" "$cshow" "$nm"
	json="{\"bench\":\"datapath\",\"case\":\"$c\",\"pps\":$(printf '%.0f' "$m"),\"baseline\":\"none\""
	[ -n "$ratio" ] && json+=",\"loss_pct\":${loss[$c]},\"ratio\":$ratio"
	[ -n "$paired" ] && json+=",\"loss_pct_paired\":$paired"
	json+=",\"router_tx_pps\":$(printf '%.0f' "$fm")"
	[ "$cshow" != - ] && json+=",\"cpu_pct\":$cm"
	json+=",\"others_cpu_pct\":$nm,\"noisy_runs\":$(noisy_count "${noises[$c]}")"
	json+=",\"rounds\":$(cnt "${vals[$c]}"),\"secs\":$SECS}"
	echo "$json"
done

# paired_diffs A B: per round, loss(A) - loss(B) in percentage points, each against that
# round's none: 100 * (B - A) / none.
paired_diffs() {
	paste -d' ' <(echo "${vals[$1]}" | tr ' ' '\n' | grep .) <(echo "${vals[$2]}" | tr ' ' '\n' | grep .) \
		<(echo "${vals[none]}" | tr ' ' '\n' | grep .) |
		awk 'NF == 3 && $3 > 0 {printf "%.2f\n", 100 * ($2 - $1) / $3}'
}
quartiles() { # numbers on stdin: "q25 median q75 min max n"
	sort -g | awk '{v[NR] = $1} END {
		if (!NR) { print ""; exit }
		q = (NR - 1) / 4; lo = int(q); f = q - lo; q25 = v[lo + 1] + f * (v[lo + 2 > NR ? NR : lo + 2] - v[lo + 1])
		q = (NR - 1) / 2; lo = int(q); f = q - lo; q50 = v[lo + 1] + f * (v[lo + 2 > NR ? NR : lo + 2] - v[lo + 1])
		q = 3 * (NR - 1) / 4; lo = int(q); f = q - lo; q75 = v[lo + 1] + f * (v[lo + 2 > NR ? NR : lo + 2] - v[lo + 1])
		printf "%.1f %.1f %.1f %.1f %.1f %d\n", q25, q50, q75, v[1], v[NR], NR }'
}
# target NAME A B MAX TEXT: loss(A) - loss(B) must be at most MAX pp. PASS when the upper
# quartile of the paired differences is within it, MISS when the lower one is beyond it,
# INCONCLUSIVE when the interquartile spread straddles MAX (or runs were disturbed).
target() {
	local name=$1 a=$2 b=$3 max=$4 text=$5 q res n=0 c
	if [ -z "${loss[$a]:-}" ] || [ -z "${loss[$b]:-}" ]; then
		echo "target: $text: n/a (a case failed)"
		echo "{\"bench\":\"datapath\",\"target\":\"$name\",\"result\":\"n/a\"}"
		return
	fi
	q=$(paired_diffs "$a" "$b" | quartiles)
	read -r q25 q50 q75 qmin qmax qn <<<"$q"
	res=$(awk -v lo="$q25" -v hi="$q75" -v m="$max" 'BEGIN {print (hi <= m) ? "PASS" : ((lo > m) ? "MISS" : "INCONCLUSIVE")}')
	for c in none "$a" "$b"; do n=$((n + $(noisy_count "${noises[$c]}"))); done
	text+=" (paired per round, $qn rounds: $a - $b = median $q50 pp, interquartile $q25..$q75, range $qmin..$qmax; from the medians: $a ${loss[$a]}%, $b ${loss[$b]}%)"
	[ "$res" = INCONCLUSIVE ] && text+="; the spread between rounds is larger than the difference tested: more ROUNDS, or a quieter machine"
	[ "$n" -gt 0 ] && [ "$res" != INCONCLUSIVE ] && res=INCONCLUSIVE && text+="; $n of these runs were disturbed by other processes"
	echo "target: $text: $res"
	echo "{\"bench\":\"datapath\",\"target\":\"$name\",\"result\":\"$res\",\"diff_median_pp\":$q50,\"diff_q25_pp\":$q25,\"diff_q75_pp\":$q75,\"rounds\":$qn,\"noisy_runs\":$n}"
}
echo
target flowd_vs_empty_tc flowd empty_tc 2 "flowd loss within 2 percentage points of empty_tc's"
target flowd_vs_softflowd flowd softflowd 0 "flowd loss below softflowd's"
if [ -n "${loss[empty_tc]:-}" ] && awk -v l="${loss[empty_tc]}" 'BEGIN {exit !(l < -3)}'; then
	echo "note: empty_tc forwarded more than none (${loss[empty_tc]}% 'loss'): the machine was noisy; more ROUNDS help"
fi

# ---- the kernel's statistics of the programs ------------------------------------------------
echo
if sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null; then
	with_stats=1
	reset_cases empty_tc flowd
	run_rounds udp "$STATS_ROUNDS" empty_tc flowd
	with_stats=
	sysctl -qw kernel.bpf_stats_enabled="$stats_was"
	echo
	echo "Kernel statistics (bpf_stats_enabled) of the tc programs on R's veths under the forwarded UDP load, $STATS_ROUNDS rounds:"
	printf '%-10s %14s %20s %14s\n' case "ns/run (median)" "spread (min..max)" "ratio to empty"
	eb=$(med "${bpfs[empty_tc]}")
	for c in empty_tc flowd; do
		if [ -n "${failed[$c]}" ] || [ -z "${bpfs[$c]}" ]; then
			no_result datapath_bpf_stats "$c"
			continue
		fi
		m=$(med "${bpfs[$c]}")
		sp=$(echo "${bpfs[$c]}" | tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 {a = $1} {b = $1} END {print a ".." b}')
		ratio=$(awk -v a="$m" -v b="$eb" 'BEGIN {printf "%.2f", a / b}')
		printf '%-10s %14.1f %20s %13sx\n' "$c" "$m" "$sp" "$ratio"
		echo "{\"bench\":\"datapath_bpf_stats\",\"case\":\"$c\",\"ns_per_run\":$m,\"baseline\":\"empty_tc\",\"ratio\":$ratio,\"rounds\":$(cnt "${bpfs[$c]}")}"
	done
	if [ -n "${bpfs[flowd]}" ] && [ -n "${bpfs[empty_tc]}" ]; then
		res=$(awk -v a="$(med "${bpfs[flowd]}")" -v b="$eb" 'BEGIN {print (a <= 2 * b) ? "PASS" : "MISS"}')
		echo "target: flowd's tc programs at most 2x the empty program per run (kernel statistics): $res"
		echo "{\"bench\":\"datapath\",\"target\":\"bpf_stats_2x\",\"result\":\"$res\"}"
	fi
else
	echo "datapath: cannot enable kernel.bpf_stats_enabled: the kernel statistics are not measured"
	json_err datapath_bpf_stats all "kernel.bpf_stats_enabled cannot be set"
	rc=1
fi

# ---- bulk TCP --------------------------------------------------------------------------------
echo
reset_cases none flowd
run_rounds tcp "$ROUNDS" none flowd
echo
echo "Bulk TCP (iperf3, 1 stream, $SECS s runs), medians of $ROUNDS rounds:"
printf '%-10s %16s %14s %12s %12s\n' case "Gbit/s (median)" "ratio to none" "flowd CPU%" "others CPU%"
tbase=$(med "${vals[none]}")
for c in none flowd; do
	if [ -n "${failed[$c]}" ] || [ -z "${vals[$c]}" ]; then
		no_result datapath_tcp "$c"
		continue
	fi
	m=$(med "${vals[$c]}")
	nm=$(med "${noises[$c]}")
	ratio=
	[ -n "$tbase" ] && ratio=$(awk -v a="$m" -v b="$tbase" 'BEGIN {printf "%.3f", a / b}')
	cm=-
	[ "$c" = flowd ] && cm=$(med "${cpus[$c]}")
	printf '%-10s %16.3f %14s %12s %12s\n' "$c" "$m" "${ratio:-?}" "$cm" "$nm"
	json="{\"bench\":\"datapath_tcp\",\"case\":\"$c\",\"gbps\":$(printf %.3f "$m"),\"baseline\":\"none\""
	[ -n "$ratio" ] && json+=",\"ratio\":$ratio"
	[ "$cm" != - ] && json+=",\"cpu_pct\":$cm"
	json+=",\"others_cpu_pct\":$nm,\"noisy_runs\":$(noisy_count "${noises[$c]}")"
	json+=",\"rounds\":$(cnt "${vals[$c]}"),\"secs\":$SECS}"
	echo "$json"
done

echo
if [ "$rc" != 0 ]; then
	echo "datapath: some measurements could not be made (see FAILED above)"
	exit 1
fi
echo "datapath: done"
exit 0
