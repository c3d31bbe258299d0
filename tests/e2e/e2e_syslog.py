#!/usr/bin/env python3
"""End-to-end test of the syslog exporter (export/exporters/syslog_exporter.c) against Debian's
real rsyslog.

Starts a private rsyslogd (imudp + imtcp on 127.0.0.1, one output file per input, work
directory in a temp dir; the system rsyslog is not touched), builds a small C driver from the
source below (the exporter contract, options set by name) linked against BUILD/libflowscope.a,
and checks:
200 flows over TCP as JSON, 100 over UDP as CEF, reconnection after an rsyslogd restart (50
buffered flows all arrive), TLS (RFC 5425, a third listener with rsyslog's "ossl" stream driver
and a CA + server certificate for 127.0.0.1 made with the openssl CLI: 100 flows arrive; a client
trusting another CA delivers nothing, counts connect failures and drops, logs once, does not crash)
and that a tiny --export-syslog-buffer drops (and counts) instead of growing.
Needs rsyslog and rsyslog-openssl (apt-get install -y rsyslog rsyslog-openssl).
Run as root: python3 tests/e2e/e2e_syslog.py"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The build directory (argument, as the test runner passes it; default build/).
BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libflowscope.a")

DRIVER_C = r"""
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/exporters/exporter.h"

static struct exporter_set *ex;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The library's runtime messages (a TLS failure, logged once) go to our stderr. */
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

static void get_stats(struct exporter_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (ex && exporter_set_count(ex))
		exporter_set_stats(ex, 0, st);
}

static void stats(const char *what, int rc)
{
	struct exporter_stats st;
	get_stats(&st);
	printf("%s rc=%d sent=%llu dropped=%llu reconnects=%llu queued=%llu failures=%llu\n", what,
	       rc, (unsigned long long)st.written, (unsigned long long)st.dropped,
	       (unsigned long long)extra(&st, "reconnects"), (unsigned long long)st.queued,
	       (unsigned long long)extra(&st, "connect_failures"));
	fflush(stdout);
}

static int set(const char *name, const char *arg, struct errmsg *e)
{
	return exporter_set_option(ex, name, arg, e);
}

int main(void)
{
	char line[512], cmd[32];

	setvbuf(stdout, NULL, _IOLBF, 0);
	logmsg_set_sink(log_sink, NULL);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "%31s", cmd) != 1)
			continue;
		if (!strcmp(cmd, "open")) {
			char proto[8], fmt[8], url[64], buffer[32];
			static char ca[400];
			unsigned port;
			unsigned long maxbuf;
			struct exporter_env env = {.node_name = "e2e-node"};
			struct errmsg e = {""};
			int rc;
			ca[0] = '\0';
			sscanf(line, "%*s %7s %7s %u %lu %399s", proto, fmt, &port, &maxbuf, ca);
			snprintf(url, sizeof(url), "%s://127.0.0.1:%u", proto, port);
			snprintf(buffer, sizeof(buffer), "%lu", maxbuf);
			ex = exporter_set_new();
			rc = ex ? 0 : -ENOMEM;
			rc = rc ?: set("export-syslog", url, &e);
			rc = rc ?: set("export-syslog-hostname", "e2e-host", &e);
			if (!rc && !strcmp(fmt, "cef"))
				rc = set("export-syslog-format", "cef", &e);
			if (!rc && ca[0])
				rc = set("export-syslog-ca", ca, &e);
			if (!rc && maxbuf)
				rc = set("export-syslog-buffer", buffer, &e);
			rc = rc ?: exporter_set_open(ex, &env, &e);
			if (rc) {
				printf("error %s\n", errmsg_text(&e, rc));
				exporter_set_free(ex);
				ex = NULL;
			}
			stats("open", rc);
		} else if (!strcmp(cmd, "add")) {
			unsigned base, n, i;
			int rc = 0, last = 0;
			sscanf(line, "%*s %u %u", &base, &n);
			for (i = 0; i < n; i++) {
				struct flow f;
				memset(&f, 0, sizeof(f));
				f.id = base + i;
				f.family = 4;
				f.proto = (base / 10000) % 2 ? IPPROTO_UDP : IPPROTO_TCP;
				inet_pton(AF_INET, "10.1.2.3", f.src.addr);
				inet_pton(AF_INET, "10.4.5.6", f.dst.addr);
				f.src.port = (uint16_t)(base + i);
				f.dst.port = 443;
				f.verdict = i % 10 == 3 ? FLOW_VERDICT_DROPPED : FLOW_VERDICT_FORWARDED;
				f.event = i % 10 == 3 ? FLOW_EVENT_DROP : FLOW_EVENT_START;
				f.packets[0] = 3;
				f.packets[1] = 2;
				f.bytes[0] = 1000 + i;
				f.bytes[1] = 2000 + i;
				f.time_ns = now_ns();
				f.first_seen_ns = f.time_ns - 5000000000ULL;
				f.last_seen_ns = f.time_ns;
				f.ifindex = 1;
				strcpy(f.ifname, "lo");
				last = exporter_set_take(ex, &f);
				if (last && !rc)
					rc = last;
			}
			stats("add", rc);
		} else if (!strcmp(cmd, "flush")) {
			struct exporter_stats st;
			unsigned ms;
			int rc;
			sscanf(line, "%*s %u", &ms);
			uint64_t end = now_ns() + (uint64_t)ms * 1000000ULL;
			/* 0 once the queue is empty, -EAGAIN while something is left. */
			for (;;) {
				exporter_set_flush(ex, false);
				get_stats(&st);
				rc = st.queued ? -EAGAIN : 0;
				if (!rc || now_ns() >= end)
					break;
				usleep(10000);
			}
			stats("flush", rc);
		} else if (!strcmp(cmd, "stats")) {
			stats("stats", 0);
		} else if (!strcmp(cmd, "close")) {
			stats("close", 0);
			exporter_set_free(ex);
			ex = NULL;
			printf("closed\n");
		}
	}
	return 0;
}
"""

passed = failed = 0


def check(cond, name, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))
    sys.stdout.flush()


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Rsyslog:
    def __init__(self, tmp, udp_port, tcp_port, tls_port, pki):
        self.tmp = tmp
        self.conf = os.path.join(tmp, "rsyslog.conf")
        self.pidfile = os.path.join(tmp, "rsyslogd.pid")
        self.udp_log = os.path.join(tmp, "udp.log")
        self.tcp_log = os.path.join(tmp, "tcp.log")
        self.tls_log = os.path.join(tmp, "tls.log")
        work = os.path.join(tmp, "work")
        os.makedirs(work, exist_ok=True)
        tpl = ("%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|"
               "%msgid%|%structured-data%|%msg%\\n")
        with open(self.conf, "w") as f:
            f.write('$MaxMessageSize 64k\n')
            # Certificates for the TLS listener only (its input() picks the ossl driver).
            f.write('global(DefaultNetstreamDriverCAFile="%s" DefaultNetstreamDriverCertFile="%s"'
                    ' DefaultNetstreamDriverKeyFile="%s")\n'
                    % (pki["ca"], pki["cert"], pki["key"]))
            f.write('$WorkDirectory %s\n' % work)
            f.write('template(name="e2e" type="string" string="%s")\n' % tpl)
            f.write('ruleset(name="udp") { action(type="omfile" file="%s" template="e2e") }\n'
                    % self.udp_log)
            f.write('ruleset(name="tcp") { action(type="omfile" file="%s" template="e2e") }\n'
                    % self.tcp_log)
            f.write('module(load="imudp")\n')
            f.write('input(type="imudp" address="127.0.0.1" port="%d" ruleset="udp")\n'
                    % udp_port)
            f.write('module(load="imtcp")\n')
            f.write('input(type="imtcp" address="127.0.0.1" port="%d" ruleset="tcp")\n'
                    % tcp_port)
            f.write('ruleset(name="tls") { action(type="omfile" file="%s" template="e2e") }\n'
                    % self.tls_log)
            f.write('input(type="imtcp" address="127.0.0.1" port="%d" ruleset="tls"'
                    ' StreamDriver.Name="ossl" StreamDriver.Mode="1"'
                    ' StreamDriver.AuthMode="anon")\n' % tls_port)
        self.tcp_port = tcp_port
        self.tls_port = tls_port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", self.conf, "-i", self.pidfile],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.tmp, "rsyslogd.err"), "a"))
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                for port in (self.tcp_port, self.tls_port):
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return True
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(0.1)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return []


def wait_lines(path, pred, want, timeout=10):
    deadline = time.time() + timeout
    while True:
        got = [l for l in read_lines(path) if pred(l)]
        if len(got) >= want or time.time() > deadline:
            return got
        time.sleep(0.2)


def split_rec(line):
    parts = line.split("|", 7)
    if len(parts) != 8:
        return None
    return {"pri": parts[0], "ts": parts[1], "host": parts[2], "app": parts[3],
            "procid": parts[4], "msgid": parts[5], "sd": parts[6], "msg": parts[7].lstrip(" ")}


def find_key(o, key):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == key:
                yield v
            else:
                yield from find_key(v, key)
    elif isinstance(o, list):
        for v in o:
            yield from find_key(v, key)


def make_pki(tmp):
    """A CA and a server certificate for 127.0.0.1 (IP SAN), plus an unrelated second CA."""
    d = os.path.join(tmp, "pki")
    os.makedirs(d, exist_ok=True)
    pki = {k: os.path.join(d, v) for k, v in (
        ("ca", "ca.pem"), ("ca_key", "ca.key"), ("cert", "server.pem"), ("key", "server.key"),
        ("other_ca", "other-ca.pem"), ("other_ca_key", "other-ca.key"))}

    def ossl(*args):
        subprocess.check_call(["openssl"] + list(args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    for ca, key, cn in (("ca", "ca_key", "e2e CA"), ("other_ca", "other_ca_key", "other CA")):
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
             "-keyout", pki[key], "-out", pki[ca])
    csr = os.path.join(d, "server.csr")
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", pki["key"],
         "-out", csr)
    ossl("x509", "-req", "-in", csr, "-CA", pki["ca"], "-CAkey", pki["ca_key"],
         "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", pki["cert"])
    return pki


class Driver:
    def __init__(self, exe, stderr=None):
        self.p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1, stderr=stderr)

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        while line.startswith("error"):
            print("  driver: " + line.strip())
            line = self.p.stdout.readline()
        m = dict(re.findall(r"(\w+)=(-?\d+)", line))
        return {k: int(v) for k, v in m.items()}

    def close(self):
        r = self.cmd("close")
        self.p.stdout.readline()  # "closed"
        return r

    def end(self):
        self.p.stdin.close()
        self.p.wait(10)


def build_driver(tmp):
    if not os.path.exists(LIB):
        subprocess.check_call(["make", "-C", ROOT, "BUILD=" + BUILD, LIB])
    src = os.path.join(tmp, "driver.c")
    with open(src, "w") as f:
        f.write(DRIVER_C)
    exe = os.path.join(tmp, "driver")
    libs = subprocess.check_output(
        "pkg-config --libs libbpf libuv libmicrohttpd libprotobuf-c libnghttp2 openssl yaml-0.1",
        shell=True, text=True).split()
    cflags = subprocess.check_output(
        "pkg-config --cflags libbpf libuv libmicrohttpd libprotobuf-c libnghttp2 openssl yaml-0.1",
        shell=True, text=True).split()
    cmd = (["cc", "-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
            "-I" + os.path.join(ROOT, "include"), "-I" + BUILD, "-I" + os.path.join(BUILD, "proto")]
           + cflags + [src, LIB]
           + libs + ["-lelf", "-lz", "-lm", "-o", exe])
    subprocess.check_call(cmd)
    return exe


def main():
    if os.geteuid() != 0:
        print("FAIL must run as root")
        print("syslog: 0 passed, 1 failed")
        return 1
    if not shutil.which("rsyslogd"):
        print("FAIL rsyslogd not installed (apt-get install -y rsyslog)")
        print("syslog: 0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="e2e_syslog.")
    rs = None
    drv = None
    try:
        exe = build_driver(tmp)
        check(True, "driver built")
        udp_port, tcp_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        tls_port = free_port(socket.SOCK_STREAM)
        while tls_port == tcp_port:
            tls_port = free_port(socket.SOCK_STREAM)
        pki = make_pki(tmp)
        rs = Rsyslog(tmp, udp_port, tcp_port, tls_port, pki)
        check(rs.start(), "rsyslogd started", open(os.path.join(tmp, "rsyslogd.err")).read())

        # 1. 200 flows over TCP, JSON.
        drv = Driver(exe)
        r = drv.cmd("open tcp json %d 0" % tcp_port)
        check(r.get("rc") == 0, "tcp open", r)
        r = drv.cmd("add 20000 200")
        check(r.get("rc") == 0, "tcp add 200", r)
        r = drv.cmd("flush 5000")
        check(r.get("rc") == 0 and r.get("sent") == 200 and r.get("queued") == 0,
              "tcp flush sent 200", r)
        recs = [split_rec(l) for l in wait_lines(rs.tcp_log, lambda l: "2000" in l or True, 200)]
        ports = set()
        bad = []
        for rec in recs:
            if not rec:
                bad.append("unsplittable")
                continue
            try:
                obj = json.loads(rec["msg"])
            except ValueError as e:
                bad.append("json: %s: %r" % (e, rec["msg"][:200]))
                continue
            if rec["app"] != "flowd" or rec["msgid"] != "flow" or rec["host"] != "e2e-host":
                bad.append("header %r" % rec)
            sp = [v for v in find_key(obj, "source_port")]
            if not sp:
                bad.append("no source_port: %r" % rec["msg"][:200])
                continue
            port = int(sp[0])
            want_pri = "132" if (port - 20000) % 10 == 3 else "134"
            if rec["pri"] != want_pri:
                bad.append("pri %s for %d" % (rec["pri"], port))
            if obj.get("node_name") != "e2e-node":
                bad.append("node_name %r" % obj.get("node_name"))
            ports.add(port)
        check(ports == set(range(20000, 20200)), "tcp json: all 200 flows arrived",
              "missing %s" % sorted(set(range(20000, 20200)) - ports)[:10])
        check(not bad, "tcp json: every message parses (RFC 5424 header, JSON, PRI)", bad[:3])
        ts_ok = all(rec and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", rec["ts"])
                    for rec in recs)
        check(ts_ok, "tcp json: timestamps with microseconds", recs[0]["ts"] if recs else "")

        # 2. Reconnect: stop rsyslogd, add 50 (buffered), restart, flush until sent.
        rs.stop()
        r = drv.cmd("add 22000 50")
        check(r.get("rc") == 0 and r.get("queued", 0) > 0, "tcp add 50 while down (buffered)", r)
        r = drv.cmd("flush 300")
        check(r.get("queued", 0) > 0, "tcp flush while down keeps the queue", r)
        check(rs.start(), "rsyslogd restarted on the same ports")
        r = drv.cmd("flush 8000")
        check(r.get("rc") == 0 and r.get("queued") == 0 and r.get("sent") == 250
              and r.get("reconnects", 0) >= 1, "tcp flush after restart: reconnected, all sent", r)
        recs = [split_rec(l) for l in wait_lines(
            rs.tcp_log, lambda l: '"source_port":22' in l.replace(" ", ""), 50)]
        ports = set()
        for rec in recs:
            try:
                ports.update(int(p) for p in find_key(json.loads(rec["msg"]), "source_port"))
            except (ValueError, TypeError):
                pass
        want = set(range(22000, 22050))
        check(want <= ports, "tcp reconnect: all 50 buffered flows arrived",
              "missing %s" % sorted(want - ports)[:10])
        r = drv.close()
        check(r.get("dropped") == 0, "tcp: nothing dropped", r)

        # 3. 100 flows over UDP, CEF (flush after every 10 so the socket buffers never overflow).
        r = drv.cmd("open udp cef %d 0" % udp_port)
        check(r.get("rc") == 0, "udp open", r)
        for i in range(10):
            drv.cmd("add %d 10" % (30000 + 10 * i))  # 30000s: UDP flows in the driver
            drv.cmd("flush 2000")
        r = drv.cmd("stats")
        check(r.get("sent") == 100 and r.get("dropped") == 0 and r.get("queued") == 0,
              "udp sent 100", r)
        recs = [split_rec(l) for l in wait_lines(rs.udp_log, lambda l: "CEF:0" in l, 100)]
        ports = set()
        bad = []
        hdr = "CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|"
        for rec in recs:
            if not rec or not rec["msg"].startswith(hdr):
                bad.append("header %r" % (rec,))
                continue
            ext = dict(kv.split("=", 1) for kv in rec["msg"][len(hdr):].split(" "))
            try:
                port = int(ext["spt"])
                i = port - 30000
                drop = i % 10 == 3
                exp = {"src": "10.1.2.3", "dst": "10.4.5.6", "dpt": "443", "proto": "UDP",
                       "act": "DROPPED" if drop else "FORWARDED", "out": str(1000 + i % 10),
                       "in": str(2000 + i % 10)}
                for k, v in exp.items():
                    if ext.get(k) != v:
                        bad.append("%s=%r want %r" % (k, ext.get(k), v))
                if not (ext["start"].isdigit() and ext["end"].isdigit()
                        and int(ext["end"]) - int(ext["start"]) == 5000):
                    bad.append("start/end %s %s" % (ext["start"], ext["end"]))
                if rec["pri"] != ("132" if drop else "134"):
                    bad.append("pri %s" % rec["pri"])
                ports.add(port)
            except (KeyError, ValueError) as e:
                bad.append("ext %r: %s" % (rec["msg"], e))
        check(ports == set(range(30000, 30100)), "udp cef: all 100 flows arrived",
              "missing %s" % sorted(set(range(30000, 30100)) - ports)[:10])
        check(not bad, "udp cef: fields right (src dst spt dpt proto act in out start end, PRI)",
              bad[:3])
        drv.close()

        # 4. 100 flows over TLS (RFC 5425), JSON, verifying the server certificate (IP SAN).
        r = drv.cmd("open tls json %d 0 %s" % (tls_port, pki["ca"]))
        check(r.get("rc") == 0, "tls open", r)
        r = drv.cmd("add 40000 100")
        check(r.get("rc") == 0, "tls add 100", r)
        r = drv.cmd("flush 8000")
        check(r.get("rc") == 0 and r.get("sent") == 100 and r.get("queued") == 0
              and r.get("failures") == 0, "tls flush sent 100 (handshake, verification ok)", r)
        recs = [split_rec(l) for l in wait_lines(
            rs.tls_log, lambda l: '"source_port":40' in l.replace(" ", ""), 100)]
        ports = set()
        for rec in recs:
            try:
                if rec["app"] == "flowd" and rec["host"] == "e2e-host":
                    ports.update(int(p) for p in find_key(json.loads(rec["msg"]), "source_port"))
            except (ValueError, TypeError):
                pass
        want = set(range(40000, 40100))
        check(ports == want, "tls: all 100 flows arrived",
              "missing %s" % sorted(want - ports)[:10])
        r = drv.close()
        check(r.get("dropped") == 0, "tls: nothing dropped", r)
        drv.end()

        # 5. TLS with the wrong CA: verification fails, nothing delivered, failures counted,
        # logged once, no crash.
        errpath = os.path.join(tmp, "driver-badca.err")
        with open(errpath, "w") as errf:
            drv = Driver(exe, stderr=errf)
        r = drv.cmd("open tls json %d 0 %s" % (tls_port, pki["other_ca"]))
        check(r.get("rc") == 0, "tls wrong CA: open", r)
        r = drv.cmd("add 42000 20")
        check(r.get("rc") == 0, "tls wrong CA: add 20 (queued)", r)
        r = drv.cmd("flush 2500")
        check(r.get("rc") == -11 and r.get("sent") == 0 and r.get("queued", 0) > 0
              and r.get("failures", 0) >= 2,
              "tls wrong CA: nothing sent, connect failures counted, retried", r)
        r = drv.close()  # stats just before closing: what is still queued is then dropped
        check(r.get("sent") == 0 and r.get("dropped") == 0 and r.get("queued", 0) > 0,
              "tls wrong CA: all 20 still queued at close", r)
        drv.end()
        check(drv.p.returncode == 0, "tls wrong CA: driver exits cleanly (no crash)",
              drv.p.returncode)
        drv = None
        time.sleep(0.5)
        leaked = [l for l in read_lines(rs.tls_log) if '"source_port":42' in l.replace(" ", "")]
        check(not leaked, "tls wrong CA: nothing delivered", leaked[:2])
        errs = [l for l in read_lines(errpath) if "TLS" in l]
        check(len(errs) == 1 and "certificate verif" in errs[0],
              "tls wrong CA: verification failure logged once", errs[:3])
        check(rs.proc.poll() is None, "rsyslogd still running after the failed handshakes")
        drv = Driver(exe)

        # 6. Tiny --export-syslog-buffer while the server is down: drops are counted, the queue
        # stays small.
        rs.stop()
        r = drv.cmd("open tcp json %d 3000" % tcp_port)
        check(r.get("rc") == 0, "tcp open (server down) is not an error", r)
        r = drv.cmd("add 24000 50")
        check(r.get("dropped", 0) > 0 and r.get("queued", 0) <= 3000
              and r.get("dropped", 0) + r.get("queued", 0) > 0,
              "tiny max_buffer: drops counted, queue bounded", r)
        t0 = time.time()
        r = drv.close()
        check(time.time() - t0 < 3.5, "close with the server down returns within ~2 s",
              "%.1fs" % (time.time() - t0))
        drv.end()
        drv = None
    except Exception as e:  # report, do not hide
        import traceback
        traceback.print_exc()
        check(False, "exception", repr(e))
    finally:
        if drv:
            try:
                drv.p.kill()
            except OSError:
                pass
        if rs:
            rs.stop()
        if failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s for inspection" % tmp)
    print("syslog: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
