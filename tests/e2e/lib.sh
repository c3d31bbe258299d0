# Shared by the end-to-end test scripts (sourced): results in the format tests/run-all.sh
# counts ("ok - ..." / "FAIL - ..." lines, then "NAME: N passed, N failed").
passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { # check "what" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# add_checks FILE: counts the ok/FAIL lines a helper (e.g. a Python checker) wrote to FILE.
add_checks() {
	passed=$((passed + $(grep -c '^ok - ' "$1")))
	failed=$((failed + $(grep -c '^FAIL - ' "$1")))
}

# need_root NAME WHY: without root the test cannot run, which counts as a failure.
need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "$1: needs root ($2): not run"
		echo "$1: 0 passed, 1 failed"
		exit 1
	fi
}

# The servers a test starts keep their token file and unix sockets (and flowctl looks for them)
# in a runtime directory of the test's own, not the host's /run/flowscope: one per test script,
# emptied when it starts.
FLOWSCOPE_RUNTIME_DIR="${TMPDIR:-/tmp}/flowscope-e2e-$(basename "$0" | sed 's/\.[a-z]*$//')"
export FLOWSCOPE_RUNTIME_DIR
rm -rf "$FLOWSCOPE_RUNTIME_DIR"
mkdir -p -m 0755 "$FLOWSCOPE_RUNTIME_DIR"

# The API token the servers of this test require on HTTP, found as an operator finds it: in the
# token file flowd (or flowrelay) makes in the runtime directory at its first start, readable by
# root. Waits up to 10 s for the file.
api_token() {
	local f="$FLOWSCOPE_RUNTIME_DIR/token" i
	for i in $(seq 100); do
		[ -s "$f" ] && break
		sleep 0.1
	done
	head -1 "$f"
}
# api_auth: the header that carries it, for curl -H "$(api_auth)".
api_auth() { echo "Authorization: Bearer $(api_token)"; }
# login_url LOG: the dashboard's login URL flowd or flowrelay printed at start into LOG (waits
# up to 10 s), as an operator opens it.
login_url() {
	local i
	for i in $(seq 100); do
		grep -q ': dashboard: http' "$1" 2>/dev/null && break
		sleep 0.1
	done
	sed -n 's/^.*: dashboard: \(http[^ ]*\).*$/\1/p' "$1" | tail -1
}
# Python snippets and checkers `import flowscope_api` (tests/e2e/flowscope_api.py): their
# urllib requests then carry the token.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

# What a test made, undone at exit by e2e_cleanup (trap e2e_cleanup EXIT): the processes in
# pids (pids+=("$!")), killed; the namespaces netns_add made, removed; $tmp, when set.
pids=()
e2e_netns=()
e2e_cleanup() {
	local p n
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for n in "${e2e_netns[@]}"; do ip netns del "$n" 2>/dev/null; done
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
	return 0
}
# netns_add NAME: a namespace with lo up, removed at exit.
netns_add() {
	ip netns add "$1" || return
	e2e_netns+=("$1")
	ip -n "$1" link set lo up
}
# veth_pair P NET: namespaces ${P}a and ${P}b joined by a veth, ${P}x (NET.1/24) in the first
# and ${P}y (NET.2/24) in the second, both up.
veth_pair() {
	netns_add "${1}a" && netns_add "${1}b" &&
		ip link add "${1}x" netns "${1}a" type veth peer name "${1}y" netns "${1}b" &&
		ip -n "${1}a" addr add "$2.1/24" dev "${1}x" &&
		ip -n "${1}b" addr add "$2.2/24" dev "${1}y" &&
		ip -n "${1}a" link set "${1}x" up && ip -n "${1}b" link set "${1}y" up
}
