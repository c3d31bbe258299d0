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
