#!/bin/bash
# flowctl as a Hubble user expects it, against a real flowd in a network namespace of this
# test's own (flowd watching its lo, an identity file naming two workloads there): bad values
# exit 2 before any connection; Hubble's compact, table, dict and JSON output of real flows;
# --input-file selects from a saved file what the same flags select from the server; `list
# nodes` and `list namespaces`; `observe -f | head -1` and a reader that goes away end flowctl
# promptly with status 0; a connection to an address that black-holes (an nftables drop rule
# in the namespace) says "timed out"; a unix:// server.
# Usage: tests/e2e/e2e_cli.sh BUILD_DIR. Needs root. Only loopback inside its own namespace.
set -u
build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib.sh"
need_root cli "network namespace, BPF, nftables"

# Unique per run; leftovers of an earlier run whose shell is gone go first.
ns="fsl$(printf '%05d' $(($$ % 100000)))"
for old in $(ip netns list | awk '{print $1}' | grep -E '^fsl[0-9]{5}$'); do
	pid_of_ns=${old:3:5}
	kill -0 "$((10#$pid_of_ns))" 2>/dev/null && [ "$((10#$pid_of_ns))" != "$$" ] && continue
	ip netns pids "$old" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$old" 2>/dev/null
done
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
inns() { ip netns exec "$ns" "$@"; }
ctl() { ip netns exec "$ns" "$build/flowctl" "$@"; }
# all_match ERE FILE: FILE has lines, and every one matches.
all_match() { test -s "$2" && ! grep -Evq "$1" "$2"; }
# elapsed_ms CMD...: runs CMD, sets rc and ms (how long it took).
elapsed_ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@"
	rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
}

ip netns add "$ns"
ip -n "$ns" link set lo up
# 127.0.0.1:4999 black-holes: SYNs to it are dropped, so connecting can only time out.
inns nft -f - <<'NFT'
table inet fsl_test {
	chain input {
		type filter hook input priority 0;
		tcp dport 4999 drop
	}
}
NFT
check "an nftables rule black-holes 127.0.0.1:4999 in the namespace" \
	sh -c "ip netns exec $ns nft list ruleset | grep -q 'dport 4999 drop'"

# ---- every bad value exits 2 before any connection -------------------------------------------
# The server given is the black hole with a long timeout: had flowctl tried to connect, it
# would take 30 s and exit 1.
bad_args=(
	"--since yesterday" "--until 1h43" "--since 2h --until 3h" "--last abc" "--first 0"
	"--first 1 --last 1" "--first 2 --follow" "-o xml" "-o table -f" "--time-format Kitchen"
	"--color sometimes" "--ip-version 5" "-t bogus" "--to-port 99999" "--from-ip 10.0.0.300"
	"--identity nobody" "--uuid 123" "--drop-reason-desc NOPE" "--not" "--bogus"
	"--allowlist {bad}" "--denylist {\"source_ip\":[\"1.2.3.300\"]}" "--field-mask time"
	"-o json --field-mask nope" "--input-file /nonexistent/flows.json"
	"--tls-ca-cert-files /nonexistent/ca.pem" "--timeout soon" "stray-argument"
)
for a in "${bad_args[@]}"; do
	# shellcheck disable=SC2086 # each entry is a list of words
	elapsed_ms ctl observe --server 127.0.0.1:4999 --timeout 30s $a >"$tmp/bad.out" 2>&1
	check "observe $a: exit 2 at once, saying why ($(head -c 150 "$tmp/bad.out"))" \
		test "$rc" -eq 2 -a "$ms" -lt 3000 -a -s "$tmp/bad.out"
done
elapsed_ms ctl observe --server localhost 2>"$tmp/bad.out"
check "--server without a port: exit 2 ($(head -c 120 "$tmp/bad.out"))" test "$rc" -eq 2
elapsed_ms ctl list pods 2>"$tmp/bad.out"
check "list pods: exit 2 ($(head -c 120 "$tmp/bad.out"))" test "$rc" -eq 2
elapsed_ms ctl status --server 127.0.0.1:4999 --timeout 30s --request-timeout x 2>/dev/null
check "status --request-timeout x: exit 2" test "$rc" -eq 2

# ---- a connect timeout says so --------------------------------------------------------------
elapsed_ms ctl observe --server 127.0.0.1:4999 --timeout 1s >"$tmp/to.out" 2>&1
check "black-holed server: exit 1 after about --timeout 1s (rc $rc, $ms ms)" \
	test "$rc" -eq 1 -a "$ms" -ge 900 -a "$ms" -lt 4000
check "black-holed server: the message says timed out ($(cat "$tmp/to.out"))" \
	grep -q 'timed out' "$tmp/to.out"
check "black-holed server: not 'Connection refused'" sh -c "! grep -qi refused $tmp/to.out"
ctl observe --server 127.0.0.1:1 >"$tmp/refused.out" 2>&1
check "a closed port: Connection refused ($(cat "$tmp/refused.out"))" \
	grep -q 'Connection refused' "$tmp/refused.out"

# ---- flowd with two workloads --------------------------------------------------------------
cat >"$tmp/ids.yaml" <<'YAML'
identities:
  - ip: 127.0.0.2
    namespace: shop
    pod: client-1
    labels: {app: client}
  - ip: 127.0.0.3
    namespace: db
    pod: pg-0
    service: pg
    labels: {app: pg}
    workload: {name: pg, kind: StatefulSet}
YAML
ip netns exec "$ns" "$build/flowd" --history-dir "$tmp/history-1" -i lo --identities "$tmp/ids.yaml" --node-name clinode \
	>"$tmp/flowd.out" 2>&1 &
flowd_pid=$!
pids+=("$flowd_pid")
for _ in $(seq 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
check "flowd answers status" ctl status
# flowctl went through flowd's unix socket; Hubble's default address answers too (and makes the
# TCP flows not on port 5432 that the filters below select).
check "flowd answers status on localhost:4245" ctl status --server localhost:4245

# Three connections shop/client-1 -> db/pg-0:5432, each with a request and an answer.
cat >"$tmp/traffic.py" <<'PY'
import socket, sys, threading, time
n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.3", 5432)); s.listen(64)
def serve():
    while True:
        a, _ = s.accept(); a.recv(100); a.sendall(b"ok"); a.close()
threading.Thread(target=serve, daemon=True).start()
for i in range(n):
    c = socket.socket(); c.bind(("127.0.0.2", 0))
    c.connect(("127.0.0.3", 5432)); c.sendall(b"hi"); c.recv(10); c.close()
    time.sleep(pause)
time.sleep(0.5)
PY
inns python3 "$tmp/traffic.py" 3
sleep 1

ctl observe --last 1000 --to-port 5432 >"$tmp/compact.txt" 2>"$tmp/compact.err"
check "observe --to-port 5432 exits 0" test $? -eq 0
line_re='^[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}: shop/client-1:[0-9]+ \((ID:[0-9]+|[a-z-]+)\) (->|<-) db/pg-0:5432 \((ID:[0-9]+|[a-z-]+)\) [^ ]+ FORWARDED \(.*\)$'
check "compact lines as Hubble's: TIME: SRC (ID) -> DST (ID) TYPE VERDICT (SUMMARY)" \
	all_match "$line_re" "$tmp/compact.txt"
check "compact: the client's connections from shop/client-1 ($(head -1 "$tmp/compact.txt"))" \
	test "$(grep -c 'shop/client-1' "$tmp/compact.txt")" -ge 3
ctl observe --last 1000 --to-port 5432 --numeric >"$tmp/numeric.txt"
check "--numeric: addresses instead of names" \
	grep -Eq '127\.0\.0\.2:[0-9]+ \([^)]*\) (->|<-) 127\.0\.0\.3:5432' "$tmp/numeric.txt"
ctl observe --last 5 --to-port 5432 --print-node-name --time-format RFC3339Milli \
	>"$tmp/node.txt"
check "--print-node-name --time-format RFC3339Milli ($(head -1 "$tmp/node.txt"))" \
	grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]{1,3})?Z \[clinode\]: ' \
	"$tmp/node.txt"
ctl observe --last 1000 --to-port 5432 --color always >"$tmp/color.txt"
check "--color always: Hubble's escapes (cyan hosts, green verdict)" \
	grep -q $'\e\\[36mshop/client-1:.*\e\\[32mFORWARDED\e\\[0m' "$tmp/color.txt"
check "--color auto into a file: none" sh -c "! grep -q $'\e' $tmp/compact.txt"

ctl observe --last 3 --to-port 5432 -o table >"$tmp/table.txt"
check "-o table: a header and 3 rows" test "$(wc -l <"$tmp/table.txt")" -eq 4
check "-o table: Hubble's columns" \
	grep -Eq '^TIMESTAMP +SOURCE +DESTINATION +TYPE +VERDICT +SUMMARY$' "$tmp/table.txt"
check "-o table: the columns line up" python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
col = lines[0].index("DESTINATION")
ok = all(l[col - 3:col] == "   " and l[col] != " " for l in lines[1:])
sys.exit(0 if ok else 1)' "$tmp/table.txt"
check "-o tab is -o table" sh -c "test \$($(printf '%q ' ip netns exec "$ns" "$build/flowctl") observe --last 3 --to-port 5432 -o tab | wc -l) -eq 4"
ctl observe --last 2 --to-port 5432 -o dict >"$tmp/dict.txt"
check "-o dict: KEY: VALUE blocks, one separator between two" \
	sh -c "grep -q '^DESTINATION: db/pg-0:5432$' $tmp/dict.txt && test \$(grep -c '^------------$' $tmp/dict.txt) -eq 1"

ctl observe --last 1000 -o jsonpb >"$tmp/all.json"
check "-o jsonpb: one GetFlowsResponse per line" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    assert "flow" in r or "lost_events" in r, r
' "$tmp/all.json"

# ---- --input-file: the same flags, the same flows -------------------------------------------
# A flow event's identity: its uuid, else (servers without uuids) its flow's id; not its time,
# which a flow's later events move.
ids_of() { python3 -c '
import json, sys
print(" ".join(sorted(r["flow"].get("uuid") or r["flow"].get("flow_id", "?")
                     for r in map(json.loads, sys.stdin) if "flow" in r)))'; }
for f in "--to-port 5432" "-n db" "--from-pod shop/client" "--to-workload StatefulSet/pg" \
	"--from-label app=client" "--protocol tcp --not --port 5432" "--tcp-flags SYN" \
	"--to-service db/pg" "--verdict FORWARDED --from-ip 127.0.0.2"; do
	# shellcheck disable=SC2086
	want=$(ctl observe --last 1000 $f -o jsonpb | ids_of)
	# shellcheck disable=SC2086
	got=$(ctl observe --input-file "$tmp/all.json" $f -o jsonpb | ids_of)
	# The server's answer holds flows of flowctl's own later connections too: compare the
	# flows both could have.
	got_in=$(comm -12 <(tr ' ' '\n' <<<"$want" | sort) <(tr ' ' '\n' <<<"$got" | sort) | wc -l)
	n_got=$(tr ' ' '\n' <<<"$got" | grep -c .)
	check "--input-file $f: what the server selects of the same flows ($n_got flows)" \
		test "$got_in" -eq "$n_got" -a "$n_got" -gt 0
done
n=$(ctl observe --input-file - --to-port 5432 <"$tmp/all.json" | grep -c 'db/pg-0:5432')
check "--input-file - reads stdin ($n lines)" test "$n" -ge 3
n=$(ctl observe --input-file "$tmp/all.json" --last 2 | wc -l)
check "--input-file --last 2: two lines" test "$n" -eq 2
cat "$tmp/all.json" >"$tmp/mixed.json"
echo 'not json' >>"$tmp/mixed.json"
ctl observe --input-file "$tmp/mixed.json" -o jsonpb >"$tmp/mixed.out" 2>"$tmp/mixed.err"
check "--input-file: a bad line is reported and skipped ($(cat "$tmp/mixed.err"))" \
	sh -c "grep -q 'mixed.json:[0-9]*: not a GetFlowsResponse' $tmp/mixed.err && test \$(wc -l <$tmp/mixed.out) -eq \$(wc -l <$tmp/all.json)"

# ---- list ---------------------------------------------------------------------------------
ctl list nodes >"$tmp/nodes.txt"
check "list nodes: Hubble's table ($(tail -1 "$tmp/nodes.txt"))" \
	sh -c "grep -Eq '^NAME +STATUS +AGE +FLOWS/S +CURRENT/MAX-FLOWS$' $tmp/nodes.txt && grep -Eq '^clinode +Connected +[0-9hms]+ +[0-9.]+ +[0-9]+/[0-9]+ \( *[0-9.]+%\)$' $tmp/nodes.txt"
check "list nodes -o json" sh -c "$(printf '%q ' ip netns exec "$ns" "$build/flowctl") list nodes -o json | python3 -c 'import json,sys; n=json.load(sys.stdin); assert n[0][\"name\"] == \"clinode\", n'"
ctl list namespaces >"$tmp/ns.txt"
check "list namespaces: the identity file's ($(tr '\n' ' ' <"$tmp/ns.txt"))" \
	sh -c "head -1 $tmp/ns.txt | grep -qx NAMESPACE && grep -qx db $tmp/ns.txt && grep -qx shop $tmp/ns.txt"
check "list namespaces -o json" sh -c "$(printf '%q ' ip netns exec "$ns" "$build/flowctl") list namespaces -o json | python3 -c 'import json,sys; assert sorted(n[\"namespace\"] for n in json.load(sys.stdin)) == [\"db\", \"shop\"]'"

# ---- a reader that goes away ends flowctl, status 0 -----------------------------------------
inns python3 "$tmp/traffic.py" 60 0.1 &
pids+=($!)
sleep 0.3
t0=$(date +%s%N)
first=$(ip netns exec "$ns" timeout 20 "$build/flowctl" observe -f | head -1)
rcs=("${PIPESTATUS[@]}")
ms=$((($(date +%s%N) - t0) / 1000000))
check "observe -f | head -1: a line ($first)" test -n "$first"
check "observe -f | head -1: flowctl exits 0 (rc ${rcs[0]}), promptly ($ms ms)" \
	test "${rcs[0]}" -eq 0 -a "$ms" -lt 5000
t0=$(date +%s%N)
ip netns exec "$ns" timeout 20 "$build/flowctl" observe -f --to-port 1 | true
rcs=("${PIPESTATUS[@]}")
ms=$((($(date +%s%N) - t0) / 1000000))
check "observe -f with no flows to write: ends with its reader, exit 0 (rc ${rcs[0]}, $ms ms)" \
	test "${rcs[0]}" -eq 0 -a "$ms" -lt 5000
ip netns exec "$ns" timeout 20 "$build/flowctl" observe --last 1000 -o jsonpb | head -c 10 \
	>/dev/null
rcs=("${PIPESTATUS[@]}")
check "observe --last 1000 | head -c 10: exit 0 (rc ${rcs[0]})" test "${rcs[0]}" -eq 0
ip netns exec "$ns" "$build/flowctl" observe --last 10 >/dev/full 2>"$tmp/full.err"
rc=$?
check "a full disk is an error, said ($(cat "$tmp/full.err"))" \
	sh -c "test $rc -eq 1 && grep -q 'No space left' $tmp/full.err"

# ---- unix:// ------------------------------------------------------------------------------
# flowd listens on TCP: a small relay puts its gRPC port behind a unix socket.
cat >"$tmp/unix_relay.py" <<'PY'
import os, socket, sys, threading
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(8)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", 4245))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
ip netns exec "$ns" python3 "$tmp/unix_relay.py" "$tmp/flowd.sock" &
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/flowd.sock" ] && break; sleep 0.1; done
check "--server unix:///PATH" ctl status --server "unix://$tmp/flowd.sock"
n=$(ctl observe --server "unix://$tmp/flowd.sock" --last 3 | wc -l)
check "observe over unix:// ($n lines)" test "$n" -eq 3

if [ "$failed" -gt 0 ]; then
	echo "--- flowd"
	cat "$tmp/flowd.out"
	echo "--- compact"
	head -20 "$tmp/compact.txt"
fi
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
