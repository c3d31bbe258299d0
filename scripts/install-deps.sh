#!/bin/sh
# Installs the Debian packages Flowscope needs to build, run and test; does nothing when all are present.
# Usage: scripts/install-deps.sh [build|test|bench]
set -e
mode=${1:-build}
pkgs="make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev libuv1-dev
libmicrohttpd-dev libnghttp2-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler libssl-dev libyaml-dev libzstd-dev iproute2 nodejs"
if [ "$mode" = bench ]; then
	# The peers and load generators the benchmarks compare against.
	pkgs="$pkgs iperf3 softflowd pmacct nftables procps libsqlite3-dev clickhouse-server clickhouse-client chromium"
fi
if [ "$mode" = test ]; then
	pkgs="$pkgs check clang-format libclang-rt-dev git socat iputils-ping python3 procps python3-grpcio python3-protobuf python3-grpc-tools nftables openssl chromium prometheus rsyslog rsyslog-openssl nfdump clickhouse-server clickhouse-client systemd"
fi
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Debian's own nodejs comes without npm (NodeSource's includes it): the dashboard build needs it.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
