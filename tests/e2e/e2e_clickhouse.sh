#!/bin/bash
# The ClickHouse exporter and history end to end, against Debian's clickhouse-server started by
# this test in a network namespace of its own (config, data and logs in a temporary directory,
# loopback only): flowd watches lo there and exports every flow event to ClickHouse and, as
# ground truth, to a file. Checked: every event is a row with its fields; the table has the
# documented schema; ClickHouse killed for ~10 s while traffic goes on loses nothing (the
# buffer holds it), flowd answers /healthz all along and says what happened once, /metrics has
# the exporter's counters; `flowctl observe --history-clickhouse` prints exactly the matching
# events, the same lines as the server, for filters in SQL and in C, and --follow hands over to
# the server without a gap or a duplicate; `flowrelay --history-clickhouse` following flowd and
# holding 50 events answers --since/--first/--last replays with ClickHouse's rows before what it
# holds and its own after (each event once, in time order, with the agent's name, filters in SQL
# and in C), and with ClickHouse down says "history: the archive failed" and gives what it holds;
# SIGTERM delivers what is buffered; retention drops old day partitions at start.
# Usage: tests/e2e/e2e_clickhouse.sh BUILD_DIR. Needs root and clickhouse-server.
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
need_root clickhouse "network namespace, BPF"
for tool in /usr/sbin/clickhouse-server clickhouse-client; do
	if ! command -v $tool >/dev/null; then
		echo "FAIL - $tool is not installed (scripts/install-deps.sh test)"
		echo "clickhouse: 0 passed, 1 failed"
		exit 1
	fi
done
ns="fsch$$"
tmp=$(mktemp -d)
chpid=
flowd_pid=
follow_pid=
relay_pid=
cleanup() {
	for p in $follow_pid $relay_pid $flowd_pid $chpid; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { ip netns exec "$ns" "$@"; }
CH=http://127.0.0.1:18123
chq() { inns clickhouse-client --port 19000 -q "$1"; }
fl() { inns "$build/flowctl" "$@"; }

# ---- ClickHouse of our own --------------------------------------------------------------------
mkdir -p "$tmp/ch"
cat >"$tmp/ch/users.xml" <<XML
<?xml version="1.0"?>
<yandex><profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
<users><default><password></password><networks><ip>127.0.0.1</ip></networks>
<profile>default</profile><quota>default</quota></default></users>
<quotas><default></default></quotas></yandex>
XML
cat >"$tmp/ch/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
<logger><level>warning</level><log>$tmp/ch/server.log</log><errorlog>$tmp/ch/server.err.log</errorlog></logger>
<http_port>18123</http_port><tcp_port>19000</tcp_port><listen_host>127.0.0.1</listen_host>
<path>$tmp/ch/data/</path><tmp_path>$tmp/ch/tmp/</tmp_path>
<user_files_path>$tmp/ch/user_files/</user_files_path>
<format_schema_path>$tmp/ch/format_schemas/</format_schema_path>
<users_config>$tmp/ch/users.xml</users_config><default_profile>default</default_profile>
<default_database>default</default_database><timezone>UTC</timezone>
<mark_cache_size>268435456</mark_cache_size><uncompressed_cache_size>268435456</uncompressed_cache_size>
<keep_alive_timeout>3</keep_alive_timeout><mlock_executable>false</mlock_executable>
</yandex>
XML
start_ch() {
	# Not through a shell function: $! must be the server itself.
	ip netns exec "$ns" /usr/sbin/clickhouse-server --config-file="$tmp/ch/config.xml" \
		>>"$tmp/ch/stdout" 2>&1 &
	chpid=$!
	for _ in $(seq 300); do
		chq "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
check "clickhouse-server of the test runs in its namespace" start_ch

# ---- flowd, exporting to ClickHouse and to a file ---------------------------------------------
# The test's own plumbing is not exported (ClickHouse's ports, flowd's and the relay's APIs): only
# its traffic.
plumbing=(18123 19000 12000 4245 14245 12001)
deny=$(printf 'port=%s&' "${plumbing[@]}")
deny=${deny%&}
start_flowd() { # extra flowd options
	ip netns exec "$ns" "$build/flowd" -i lo --sweep-interval 200ms --history-dir "$tmp/history" \
		--idle-timeout 2s --node-label zone=a --export-file "$tmp/flows.ndjson" \
		--export-clickhouse "$CH" --export-deny "$deny" "$@" >>"$tmp/flowd.out" 2>&1 &
	flowd_pid=$!
	for _ in $(seq 100); do
		fl status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
check "flowd runs with --export-clickhouse" start_flowd --node-name agent

# UDP flows from ports FIRST.. to 7777 (or TO), COUNT of them, one every GAP seconds.
traffic() { # FIRST COUNT GAP [TO]
	inns python3 -c '
import socket, sys, time
first, n, gap = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
to = int(sys.argv[4]) if len(sys.argv) > 4 else 7777
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", to))
for p in range(first, first + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", p))
    s.sendto(b"x" * (40 + p % 50), ("127.0.0.1", to)); r.recv(200); s.close()
    time.sleep(gap)' "$@"
}
http_get() { # PATH: flowd's HTTP API, within 1 s
	inns python3 -c '
import flowscope_api, sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:12000" + sys.argv[1], timeout=1).read().decode())' "$1"
}
metric() { # NAME{LABELS}: its value
	http_get /metrics | awk -v m="$1" '$1 == m { print $2 }'
}
# The rows, after a copy of the file (what it has is in ClickHouse by then; the copy taken after
# has everything that is in ClickHouse).
rows_tsv() {
	cp "$tmp/flows.ndjson" "$tmp/truth-before.ndjson"
	sleep 1.5
	chq "SELECT lower(hex(uuid)), time, source_port, destination_port, verdict, flow_event,
		packets_sent, bytes_sent, node_name, interface_name FROM flows FORMAT TSV" >"$1"
	cp "$tmp/flows.ndjson" "$tmp/truth-after.ndjson"
}
delivered() { # ROWS WHAT
	python3 "$here/clickhouse_check.py" delivered "$tmp/truth-before.ndjson" \
		"$tmp/truth-after.ndjson" "$1" "$2"
}
# Waits until every event of the file is a row (at most $1 seconds).
wait_delivered() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		local want have
		want=$(grep -c '"flow"' "$tmp/flows.ndjson" 2>/dev/null)
		have=$(chq "SELECT uniqExact(uuid) FROM flows" 2>/dev/null)
		[ -n "$want" ] && [ "${have:-0}" -ge "$want" ] && return 0
		sleep 0.5
	done
	return 1
}

traffic 30000 200 0
check "the first events arrive within 3 s" wait_delivered 3
rows_tsv "$tmp/rows1.tsv"
delivered "$tmp/rows1.tsv" "live" >"$tmp/c1"
cat "$tmp/c1"
add_checks "$tmp/c1"
chq "SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'flows'
	FORMAT TSV" >"$tmp/columns.tsv"
chq "SELECT engine_full FROM system.tables WHERE database = 'default' AND name = 'flows'" \
	>"$tmp/engine.txt"
python3 "$here/clickhouse_check.py" schema "$tmp/columns.tsv" "$tmp/engine.txt" >"$tmp/c2"
cat "$tmp/c2"
add_checks "$tmp/c2"

# ---- ClickHouse down for ~10 s while traffic goes on -------------------------------------------
kill -KILL "$chpid"
wait "$chpid" 2>/dev/null
chpid=
traffic 31000 200 0.05 &
gen=$!
# /healthz every 0.5 s for 10 s: how many answered, the slowest answer.
read -r answered slowest < <(inns python3 -c '
import flowscope_api, time, urllib.request
n, worst = 0, 0.0
for _ in range(20):
    t0 = time.monotonic()
    try:
        if urllib.request.urlopen("http://127.0.0.1:12000/healthz", timeout=1).read().strip() == b"ok":
            n += 1
    except OSError:
        pass
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.5)
print(n, int(worst * 1000))')
wait $gen
queued=$(metric 'flowscope_exporter_queue_bytes{exporter="clickhouse"}')
failures=$(metric 'flowscope_exporter_events_total{exporter="clickhouse",event="connect_failures"}')
check "flowd answered /healthz all through the outage ($answered of 20, slowest ${slowest} ms)" \
	test "$answered" -eq 20 -a "$slowest" -lt 500
check "/metrics: rows wait in the buffer meanwhile ($queued bytes)" test "${queued:-0}" -gt 0
check "/metrics: the failed connections are counted ($failures)" test "${failures:-0}" -ge 3
check "the outage is said once in flowd's log" \
	test "$(grep -c 'clickhouse: 127.0.0.1:18123: cannot connect: Connection refused' \
		"$tmp/flowd.out")" -eq 1
check "clickhouse-server starts again" start_ch
check "everything buffered arrives within 15 s" wait_delivered 15
rows_tsv "$tmp/rows2.tsv"
delivered "$tmp/rows2.tsv" "after a 10 s outage" >"$tmp/c3"
cat "$tmp/c3"
add_checks "$tmp/c3"
check "flowd says inserts work again" grep -q 'inserting into default.flows again' "$tmp/flowd.out"
http_get /metrics | grep 'exporter="clickhouse"' >"$tmp/metrics.txt"
cat "$tmp/metrics.txt" | sed 's/^/# /'
for m in 'flowscope_exporter_flows_total{exporter="clickhouse",outcome="written"}' \
	'flowscope_exporter_events_total{exporter="clickhouse",event="batches"}' \
	'flowscope_exporter_events_total{exporter="clickhouse",event="retries"}' \
	'flowscope_exporter_errors_total{exporter="clickhouse"}'; do
	check "/metrics has $m" grep -qF "$m" "$tmp/metrics.txt"
done
check "/metrics: nothing dropped" \
	test "$(metric 'flowscope_exporter_flows_total{exporter="clickhouse",outcome="dropped"}')" = 0

# ---- flowctl --history-clickhouse -------------------------------------------------------------
sleep 3 # every flow has ended (--idle-timeout 2s) and its END event is in both
fl observe --history-clickhouse "$CH" --since 10m --to-port 7777 -o jsonpb >"$tmp/h1.jsonl"
fl observe --since 10m --to-port 7777 -o jsonpb >"$tmp/s1.jsonl" 2>/dev/null
python3 "$here/clickhouse_check.py" selected "$tmp/h1.jsonl" "$tmp/flows.ndjson" 7777 \
	"--since 10m --to-port 7777" >"$tmp/c4"
python3 "$here/clickhouse_check.py" same "$tmp/h1.jsonl" "$tmp/s1.jsonl" \
	"--since 10m --to-port 7777" >>"$tmp/c4"
for args in "--last 5 --to-port 7777" "--first 3 --from-port 31000-31099" \
	"--since 10m --not --from-port 30000-30199 --to-port 7777" \
	"--since 10m --node-label zone=a --to-port 7777 --protocol udp"; do
	# shellcheck disable=SC2086
	fl observe --history-clickhouse "$CH" $args -o jsonpb >"$tmp/h.jsonl"
	# shellcheck disable=SC2086
	fl observe $args -o jsonpb >"$tmp/s.jsonl" 2>/dev/null
	python3 "$here/clickhouse_check.py" same "$tmp/h.jsonl" "$tmp/s.jsonl" "$args" >>"$tmp/c4"
done
fl observe --history-clickhouse "$CH" --last 3 --to-port 7777 >"$tmp/h.txt"
fl observe --last 3 --to-port 7777 >"$tmp/s.txt" 2>/dev/null
check "-o compact prints the server's lines" cmp -s "$tmp/h.txt" "$tmp/s.txt"
cat "$tmp/c4"
add_checks "$tmp/c4"
out=$(fl observe --history-clickhouse http://127.0.0.1:18999 --last 1 2>&1)
rc=$?
check "an unreachable ClickHouse is said (rc $rc: $out)" \
	test "$rc" -eq 1 -a -n "$(echo "$out" | grep 'is clickhouse-server running?')"
out=$(fl observe --history-clickhouse ftp://x --last 1 2>&1)
rc=$?
check "a bad URL exits 2 before anything (rc $rc)" test "$rc" -eq 2

# --follow: the history, then the server's new events, none twice.
ip netns exec "$ns" "$build/flowctl" observe --history-clickhouse "$CH" --since 10m \
	--to-port 7777 -f -o jsonpb >"$tmp/f.jsonl" &
follow_pid=$!
sleep 2
traffic 32000 20 0.05
sleep 4 # their END events too
cp "$tmp/flows.ndjson" "$tmp/truth-follow.ndjson"
kill -TERM "$follow_pid"
wait "$follow_pid"
follow_pid=
python3 "$here/clickhouse_check.py" follow "$tmp/f.jsonl" "$tmp/truth-follow.ndjson" 7777 \
	>"$tmp/c5"
cat "$tmp/c5"
add_checks "$tmp/c5"

# ---- flowrelay --history-clickhouse: replays older than the relay holds -----------------------
# A relay in the same namespace follows flowd (--peer agent=; flowd is --node-name agent) and
# keeps only the newest 50 events; what came before them is ClickHouse's. Its replays leave the
# test's plumbing out as the exporter does (the relay has it: the agent streams everything), so
# they must be exactly the ground truth's events.
RELAY=127.0.0.1:14245
nodeny=()
for side in source_port destination_port; do
	nodeny+=(--denylist "{\"$side\":[$(printf '"%s",' "${plumbing[@]}" | sed 's/,$//')]}")
done
rfl() { # flowctl observe ARGS... against the relay, without the plumbing
	inns "$build/flowctl" observe --server "$RELAY" "${nodeny[@]}" "$@"
}
relay_check() { # WHAT OUT.jsonl CHECK...: clickhouse_check.py relay
	python3 "$here/clickhouse_check.py" relay "$tmp/truth-relay.ndjson" "$@" >>"$tmp/c7"
}
start_relay() {
	ip netns exec "$ns" "$build/flowrelay" --peer agent=127.0.0.1:4245 --grpc "$RELAY" \
		--http 127.0.0.1:12001 --max-events 50 --history-clickhouse "$CH" \
		>>"$tmp/relay.out" 2>&1 &
	relay_pid=$!
	for _ in $(seq 100); do
		inns "$build/flowctl" list nodes --server "$RELAY" 2>/dev/null |
			grep -qE '^agent +Connected' && return 0
		sleep 0.1
	done
	return 1
}
wait_ended() { # TO N: until the file has N END events to port TO (at most 10 s)
	for _ in $(seq 100); do
		[ "$(python3 "$here/clickhouse_check.py" ended "$tmp/flows.ndjson" "$1")" = "$2" ] &&
			return 0
		sleep 0.1
	done
	return 1
}
relay_from=$(date +%s%N)
check "flowrelay --history-clickhouse --max-events 50 follows flowd (list nodes: Connected)" \
	start_relay
# Batch A (to 7778), then once it is all in ClickHouse batch B (to 7779): 320 events after the
# relay started, of which it holds the newest 50 (B's END events: flowd ends B's flows in one
# sweep or two, which gives their END events the sweep's time: the oldest the relay holds shares
# its time with events it no longer holds).
traffic 34000 100 0.005 7778
check "batch A (100 flows to 7778) has ended" wait_ended 7778 100
check "ClickHouse has every event of the file" wait_delivered 10
traffic 35000 60 0 7779
check "batch B (60 flows to 7779) has ended" wait_ended 7779 60
check "... and ClickHouse has it" wait_delivered 10
sleep 1 # the relay's merge has released B's last events (it holds them back 1 s at most)
cp "$tmp/flows.ndjson" "$tmp/truth-relay.ndjson"
: >"$tmp/c7"
: >"$tmp/r.err"
# First what needs the relay's own events (each query's own connections are new events there).
rfl --since 10m -o jsonpb >"$tmp/r1.jsonl" 2>>"$tmp/r.err"
relay_check "--since 10m" "$tmp/r1.jsonl" all "$relay_from"
rfl --last 5 -o jsonpb >"$tmp/r-last.jsonl" 2>>"$tmp/r.err"
relay_check "--last 5" "$tmp/r-last.jsonl" last=5

# ClickHouse down: the replay says so and goes on with what the relay holds.
kill -KILL "$chpid"
wait "$chpid" 2>/dev/null
chpid=
rfl --since 10m -o jsonpb >"$tmp/r.jsonl" 2>"$tmp/r-down.err"
rc=$?
check "ClickHouse down: --since 10m exits 0 (rc $rc)" test "$rc" -eq 0
check "... and tells the archive failed ($(head -c 300 "$tmp/r-down.err"))" \
	grep -q 'history: the archive failed: .*127.0.0.1:18123' "$tmp/r-down.err"
relay_check "ClickHouse down: --since 10m" "$tmp/r.jsonl" held
rfl --last 5 -o jsonpb >"$tmp/r.jsonl" 2>"$tmp/r-down.err"
same_last() { cmp -s "$tmp/r.jsonl" "$tmp/r-last.jsonl" && test ! -s "$tmp/r-down.err"; }
check "ClickHouse down: --last 5 is the relay's alone (the same 5, no notice: $(head -c 200 \
	"$tmp/r-down.err"))" same_last
rfl --since 10m >/dev/null 2>"$tmp/r-down.err"
check "ClickHouse down: flowctl -o compact prints it as a notice ($(head -c 300 \
	"$tmp/r-down.err"))" grep -q '^notice \[.*\]: history: the archive failed: ' \
	"$tmp/r-down.err"
check "clickhouse-server starts again" start_ch

rfl --since 10m --to-port 7778 -o jsonpb >"$tmp/r.jsonl" 2>>"$tmp/r.err"
relay_check "--since 10m --to-port 7778" "$tmp/r.jsonl" port=7778
rfl --since 10m --to-port 7779 -o jsonpb >"$tmp/r.jsonl" 2>>"$tmp/r.err"
relay_check "--since 10m --to-port 7779" "$tmp/r.jsonl" port=7779
# A filter without an SQL form is applied in C, on ClickHouse's rows as on the relay's.
rfl --since 10m --node-name 'ag[e]nt' --to-port 7778 -o jsonpb >"$tmp/r.jsonl" 2>>"$tmp/r.err"
relay_check "--since 10m --node-name 'ag[e]nt' --to-port 7778" "$tmp/r.jsonl" port=7778
rfl --since 10m --first 5 -o jsonpb >"$tmp/r.jsonl" 2>>"$tmp/r.err"
relay_check "--since 10m --first 5" "$tmp/r.jsonl" first=5
rfl --first 5 --to-port 7779 -o jsonpb >"$tmp/r.jsonl" 2>>"$tmp/r.err"
relay_check "--first 5 --to-port 7779" "$tmp/r.jsonl" first=5 port=7779
rfl --last 5 --to-port 7778 -o jsonpb >"$tmp/r.jsonl" 2>>"$tmp/r.err"
relay_check "--last 5 --to-port 7778 (ClickHouse for what the relay lacks)" "$tmp/r.jsonl" \
	last=5 port=7778
check "no notice while ClickHouse answers ($(head -c 200 "$tmp/r.err"))" test ! -s "$tmp/r.err"
cat "$tmp/c7"
add_checks "$tmp/c7"
kill -TERM "$relay_pid"
wait "$relay_pid"
rc=$?
relay_pid=
check "flowrelay exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0

# ---- SIGTERM delivers; retention at start -----------------------------------------------------
traffic 33000 30 0
kill -TERM "$flowd_pid"
wait "$flowd_pid"
rc=$?
flowd_pid=
check "flowd exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
rows_tsv "$tmp/rows3.tsv"
delivered "$tmp/rows3.tsv" "at SIGTERM" >"$tmp/c6"
cat "$tmp/c6"
add_checks "$tmp/c6"
chq "INSERT INTO flows (date, time, node_name, ip_version, traffic_direction)
	VALUES ('2020-01-01', 1577836800000000000, 'old', 4, 1),
	('2020-01-02', 1577923200000000000, 'old', 4, 1)"
before=$(chq "SELECT count() FROM flows WHERE date >= today() - 1")
check "the old rows are in two partitions" \
	test "$(chq "SELECT uniqExact(partition_id) FROM system.parts WHERE table = 'flows'
		AND active AND max_date < '2021-01-01'")" -eq 2
start_flowd --export-clickhouse-max-age 48h >/dev/null
for _ in $(seq 50); do
	[ "$(chq "SELECT count() FROM flows WHERE node_name = 'old'")" = 0 ] && break
	sleep 0.1
done
check "retention dropped the old day partitions at start" \
	test "$(chq "SELECT count() FROM flows WHERE node_name = 'old'")" -eq 0
sleep 0.5
check "and kept the recent rows" \
	test "$(chq "SELECT count() FROM flows WHERE date >= today() - 1")" -ge "$before"
check "flowd said so" grep -q 'clickhouse: dropped partition 20200101 of default.flows' \
	"$tmp/flowd.out"
check "/metrics counts the dropped partitions" \
	test "$(metric 'flowscope_exporter_events_total{exporter="clickhouse",event="partitions_dropped"}')" = 2

if [ "$failed" -gt 0 ]; then
	tail -30 "$tmp/flowd.out"
	tail -10 "$tmp/relay.out" 2>/dev/null
fi
echo "clickhouse: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
