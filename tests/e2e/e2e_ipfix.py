#!/usr/bin/env python3
"""End-to-end test of the IPFIX exporter (export/exporters/ipfix_exporter.c) against nfdump's
collector.

Builds a small driver from a C source embedded below (the exporter contract, options set by name)
linked against BUILD/libflowscope.a, starts nfcapd on 127.0.0.1 (free UDP port, temp dir), lets
the driver export known IPv4 and IPv6 flows (both directions, an ICMP flow each, some
one-directional flows, an ignored non-END flow), stops nfcapd (SIGTERM writes its file) and checks
with `nfdump -o csv` that exactly the expected unidirectional flows come back: addresses, ports,
protocol, packets, bytes, duration, TCP flags, and no sequence failures. Needs nfdump (apt-get
install nfdump), a C compiler and the built library. Prints ok/FAIL lines and "ipfix: N passed,
N failed"; exits 1 on failure."""
import csv
import io
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The build directory (argument, as the test runner passes it; default build/).
BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(REPO, "build")
LIB = os.path.join(BUILD, "libflowscope.a")
PKGS = "libbpf libuv libmicrohttpd libprotobuf-c libnghttp2 openssl yaml-0.1"
N4, N6 = 50, 20
BASE_MS = 1700000000000  # first flow's start, ms since the epoch
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08

DRIVER = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "flowscope/exporters/exporter.h"

#define BASE_MS 1700000000000ull

static void fill(struct flow *f, int i, int v6)
{
	memset(f, 0, sizeof(*f));
	f->family = v6 ? 6 : 4;
	f->event = FLOW_EVENT_END;
	f->ended = 1;
	if (v6) {
		uint8_t s[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, (uint8_t)(i + 1)};
		uint8_t d[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, (uint8_t)(i + 1)};
		memcpy(f->src.addr, s, 16);
		memcpy(f->dst.addr, d, 16);
	} else {
		uint8_t s[4] = {10, 1, 0, (uint8_t)(i + 1)}, d[4] = {10, 2, 0, (uint8_t)(i + 1)};
		memcpy(f->src.addr, s, 4);
		memcpy(f->dst.addr, d, 4);
	}
	f->src.port = 10000 + i;
	f->dst.port = 80 + i;
	f->proto = i % 2 ? 17 : 6;
	if (i == (v6 ? 19 : 49)) {
		f->proto = v6 ? 58 : 1;
		f->src.port = 8; /* must be exported as 0 */
		f->dst.port = 0;
	}
	f->packets[0] = i + 1;
	f->packets[1] = i % 10 == 3 ? 0 : i + 2;
	f->bytes[0] = 1000ull * (i + 1) + 7;
	f->bytes[1] = f->packets[1] ? 500ull * (i + 1) + 3 : 0;
	f->first_seen_ns = (BASE_MS + 1000ull * i) * 1000000ull;
	f->last_seen_ns = f->first_seen_ns + 2500000000ull;
	f->end_ns = f->last_seen_ns;
	if (f->proto == 6) {
		f->tcp_flags_seen[0] = 0x02 | 0x10 | 0x08 | 0x01;
		f->tcp_flags_seen[1] = 0x02 | 0x10;
	}
}

static void log_sink(enum log_level level, const char *text, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "%s: %s\n", level == LOG_LEVEL_WARN ? "warning" : "info", text);
}

static uint64_t extra(const struct exporter_stats *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_extra; i++)
		if (!strcmp(st->extra[i].name, name))
			return st->extra[i].value;
	return 0;
}

int main(int argc, char **argv)
{
	struct exporter_env env = {.node_name = "e2e-node"};
	struct exporter_set *s;
	struct exporter_stats st;
	struct errmsg e = {""};
	struct flow f;
	char col[300];
	uint64_t base_errors;
	int r;

	if (argc < 5)
		return 2;
	logmsg_set_sink(log_sink, NULL);
	snprintf(col, sizeof(col), "%s:%s", argv[1], argv[2]);
	s = exporter_set_new();
	if (!s)
		return 1;
	r = exporter_set_option(s, "export-ipfix", col, &e);
	r = r ?: exporter_set_option(s, "export-ipfix-domain", "7", &e);
	r = r ?: exporter_set_option(s, "export-ipfix-template-refresh", "1s", &e);
	r = r ?: exporter_set_open(s, &env, &e);
	if (r || exporter_set_count(s) != 1) {
		fprintf(stderr, "open: %s\n", errmsg_text(&e, r));
		return 1;
	}
	for (int i = 0; i < atoi(argv[3]); i++) {
		fill(&f, i, 0);
		if ((r = exporter_set_take(s, &f))) {
			fprintf(stderr, "add v4 %d: %d\n", i, r);
			return 1;
		}
	}
	/* Ignored: not an END event (IPFIX takes no other), and an unknown family (dropped). */
	fill(&f, 200, 0);
	f.event = FLOW_EVENT_UPDATE;
	if (exporter_set_take(s, &f))
		return 1;
	fill(&f, 201, 0);
	f.family = 5;
	if (exporter_set_take(s, &f) != -EINVAL)
		return 1;
	exporter_set_stats(s, 0, &st);
	if (st.dropped != 1 || st.errors != 1) {
		fprintf(stderr, "bad family: dropped %llu errors %llu\n",
			(unsigned long long)st.dropped, (unsigned long long)st.errors);
		return 1;
	}
	base_errors = st.errors; /* the bad family's: what follows are send errors */
	exporter_set_flush(s, false);
	exporter_set_stats(s, 0, &st);
	if (st.errors != base_errors || st.queued) {
		fprintf(stderr, "flush: errors %llu queued %llu\n", (unsigned long long)st.errors,
			(unsigned long long)st.queued);
		return 1;
	}
	usleep(1200000); /* past the template refresh: the next message carries the templates */
	for (int i = 0; i < atoi(argv[4]); i++) {
		fill(&f, i, 1);
		if ((r = exporter_set_take(s, &f))) {
			fprintf(stderr, "add v6 %d: %d\n", i, r);
			return 1;
		}
	}
	exporter_set_stats(s, 0, &st);
	printf("before_close %llu %llu %llu\n", (unsigned long long)extra(&st, "records"),
	       (unsigned long long)extra(&st, "messages"),
	       (unsigned long long)(st.errors - base_errors));
	exporter_set_free(s);
	return 0;
}
"""

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")
    return cond


def flags_str(bits):
    # nfdump's flag string: "CEUAPRSF" with '.' for unset bits
    names = "CEUAPRSF"
    return "".join(n if bits & (0x80 >> k) else "." for k, n in enumerate(names))


def expected():
    """(sa, da, sp, dp, proto) -> (packets, bytes, start_ms, end_ms, tcp_flags)"""
    exp = {}
    for v6, n in ((False, N4), (True, N6)):
        for i in range(n):
            if v6:
                s, d = f"fd00::1:{i + 1:x}", f"fd00::2:{i + 1:x}"
            else:
                s, d = f"10.1.0.{i + 1}", f"10.2.0.{i + 1}"
            proto = UDP if i % 2 else TCP
            sp, dp = 10000 + i, 80 + i
            if i == (N6 - 1 if v6 else N4 - 1):
                proto, sp, dp = (ICMP6 if v6 else ICMP), 0, 0
            start = BASE_MS + 1000 * i
            end = start + 2500
            pk = [i + 1, 0 if i % 10 == 3 else i + 2]
            by = [1000 * (i + 1) + 7, 0 if i % 10 == 3 else 500 * (i + 1) + 3]
            fl = [SYN | ACK | PSH | FIN, SYN | ACK] if proto == TCP else [0, 0]
            exp[(s, d, sp, dp, proto)] = (pk[0], by[0], start, end, fl[0])
            if pk[1]:
                exp[(d, s, dp, sp, proto)] = (pk[1], by[1], start, end, fl[1])
    return exp


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def norm_ip(a):
    return str(ipaddress.ip_address(a.strip()))


def proto_num(p):
    p = p.strip()
    if p.isdigit():
        return int(p)
    return {"TCP": TCP, "UDP": UDP, "ICMP": ICMP, "ICMP6": ICMP6, "IPV6-ICMP": ICMP6}.get(
        p.upper(), -1)


def main():
    for tool in ("nfcapd", "nfdump", "cc"):
        if not shutil.which(tool):
            print(f"FAIL {tool} not found (apt-get install nfdump / a C compiler)")
            print("ipfix: 0 passed, 1 failed")
            return 1
    tmp = tempfile.mkdtemp(prefix="e2e_ipfix.")
    capd = None
    try:
        src = os.path.join(tmp, "driver.c")
        exe = os.path.join(tmp, "driver")
        with open(src, "w") as f:
            f.write(DRIVER)
        if not os.path.exists(LIB):
            subprocess.check_call(["make", "-C", REPO, "BUILD=" + BUILD, LIB])
        cflags = subprocess.check_output("pkg-config --cflags " + PKGS, shell=True,
                                         text=True).split()
        libs = subprocess.check_output("pkg-config --libs " + PKGS, shell=True,
                                       text=True).split()
        cc = subprocess.run(
            ["cc", "-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror",
             "-I", os.path.join(REPO, "include"), "-I", BUILD, "-I", os.path.join(BUILD, "proto")]
            + cflags + ["-o", exe, src, LIB] + libs + ["-lelf", "-lz", "-lm"],
            capture_output=True, text=True)
        if not check(cc.returncode == 0, "driver builds against libflowscope.a"):
            print(cc.stderr)
            return 1

        flowdir = os.path.join(tmp, "flows")
        os.mkdir(flowdir)
        port = free_udp_port()
        capd = subprocess.Popen(
            ["nfcapd", "-w", flowdir, "-p", str(port), "-b", "127.0.0.1", "-t", "60",
             "-I", "e2e"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # wait until nfcapd has bound its port
        deadline = time.time() + 10
        bound = False
        while time.time() < deadline and capd.poll() is None:
            ss = subprocess.run(["ss", "-Hlun", f"sport = :{port}"], capture_output=True,
                                text=True).stdout if shutil.which("ss") else ""
            if f":{port}" in ss:
                bound = True
                break
            if not shutil.which("ss"):
                time.sleep(1)
                bound = True
                break
            time.sleep(0.1)
        if not check(bound and capd.poll() is None, f"nfcapd listens on 127.0.0.1:{port}"):
            if capd.poll() is not None:
                print(capd.stdout.read())
            return 1

        drv = subprocess.run([exe, "127.0.0.1", str(port), str(N4), str(N6)],
                             capture_output=True, text=True, timeout=30)
        check(drv.returncode == 0, "driver ran (open/add/flush/close, non-END ignored, "
              "bad family -EINVAL)")
        if drv.returncode:
            print(drv.stdout, drv.stderr)
        exp = expected()
        time.sleep(0.5)  # let nfcapd drain its socket
        capd.send_signal(signal.SIGTERM)
        try:
            out, _ = capd.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            capd.kill()
            out, _ = capd.communicate()
        capd = None
        check("before_close" in drv.stdout, "driver printed stats")

        files = [f for f in os.listdir(flowdir) if f.startswith("nfcapd.")]
        if not check(len(files) > 0, f"nfcapd wrote a file ({files})"):
            print(out)
            return 1
        env = dict(os.environ, TZ="UTC")
        dump = subprocess.run(["nfdump", "-q", "-N", "-R", flowdir, "-o", "csv"],
                              capture_output=True, text=True, env=env)
        if not check(dump.returncode == 0, "nfdump -R reads the files"):
            print(dump.stderr)
            return 1
        lines = [ln for ln in dump.stdout.splitlines()
                 if ln and not ln.startswith("Summary") and "," in ln]
        # csv output: a header line "ts,te,td,sa,da,sp,dp,pr,flg,..." (also with -q in
        # some versions), then one line per flow, then possibly a summary block.
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
        header = None
        for r in rows:
            if r and r[0] == "ts":
                header = r
                break
        if header is None:
            header = ["ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos",
                      "ipkt", "ibyt"]
        col = {n: k for k, n in enumerate(header)}
        got = {}
        dups = 0
        for r in rows:
            if not r or r[0] == "ts" or len(r) < len(header) - 1:
                continue
            try:
                sa, da = norm_ip(r[col["sa"]]), norm_ip(r[col["da"]])
            except ValueError:
                continue  # summary lines
            key = (sa, da, int(r[col["sp"]]), int(r[col["dp"]]), proto_num(r[col["pr"]]))
            if key in got:
                dups += 1
            got[key] = r
        check(dups == 0, "no duplicate flows")
        check(len(got) == len(exp), f"flow count: nfdump {len(got)}, expected {len(exp)}")
        missing = [k for k in exp if k not in got]
        extra = [k for k in got if k not in exp]
        check(not missing, f"all expected flows present (missing {missing[:3]})")
        check(not extra, f"no unexpected flows (extra {extra[:3]})")
        n4 = sum(1 for k in got if ":" not in k[0])
        n6 = len(got) - n4
        check(n4 == sum(1 for k in exp if ":" not in k[0]) and
              n6 == sum(1 for k in exp if ":" in k[0]), f"IPv4 {n4} and IPv6 {n6} records")
        bad_counts, bad_dur, bad_flags = [], [], []
        for k, (pk, by, start, end, fl) in exp.items():
            r = got.get(k)
            if not r:
                continue
            if int(r[col["ipkt"]]) != pk or int(r[col["ibyt"]]) != by:
                bad_counts.append((k, r[col["ipkt"]], r[col["ibyt"]], pk, by))
            if abs(float(r[col["td"]]) - (end - start) / 1000.0) > 0.002:
                bad_dur.append((k, r[col["td"]]))
            ts = r[col["ts"]]
            want_ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start // 1000))
            if not ts.startswith(want_ts):
                bad_dur.append((k, ts, want_ts))
            if k[4] == TCP and r[col["flg"]].strip() != flags_str(fl):
                bad_flags.append((k, r[col["flg"]], flags_str(fl)))
        check(not bad_counts, f"packets and bytes per flow match ({bad_counts[:3]})")
        check(not bad_dur, f"start times and durations match ({bad_dur[:3]})")
        check(not bad_flags, f"TCP flags per direction match ({bad_flags[:3]})")
        icmp = [k for k in got if k[4] in (ICMP, ICMP6)]
        check(len(icmp) == 4 and all(k[2] == 0 and k[3] == 0 for k in icmp),
              "ICMP/ICMPv6 flows exported with ports 0")
        check("10.1.0.201" not in dump.stdout and "10.2.0.201" not in dump.stdout,
              "non-END flow not exported")

        parts = drv.stdout.split()
        if len(parts) >= 4:
            check(int(parts[3]) == 0, "no send errors")
        # sequence numbers: nfdump counts sequence failures in the file's stat record
        info = subprocess.run(["nfdump", "-I", "-R", flowdir], capture_output=True, text=True)
        seqf = [ln for ln in info.stdout.splitlines() if "equence" in ln]
        bad_seq = [ln for ln in seqf if ln.split(":")[-1].strip() not in ("0", "")]
        check(seqf and not bad_seq, f"no sequence failures ({seqf})")
        return 0 if failed == 0 else 1
    finally:
        if capd is not None:
            capd.kill()
            capd.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    rc = main()
    if failed:
        rc = 1
    print(f"ipfix: {passed} passed, {failed} failed")
    sys.exit(rc)
