/* Shared by the ClickHouse tests and the benchmark: Debian's clickhouse-server started by the
 * program itself, with a config of its own in a temporary directory (loopback only, free ports,
 * its data in that directory: nothing under /var/lib/clickhouse, no default port taken), killed
 * and started again on the same ports and data for outage tests, stopped and removed at the end;
 * and queries to it over the HTTP interface; all in a network namespace of the program's own.
 * Header-only; needs root and /usr/sbin/clickhouse-server. */
#ifndef FLOWSCOPE_TESTS_CLICKHOUSE_HARNESS_H
#define FLOWSCOPE_TESTS_CLICKHOUSE_HARNESS_H

#include <arpa/inet.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/buf.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/flow.h"

#define CH_SERVER_BIN "/usr/sbin/clickhouse-server"

struct ch_server {
	pid_t pid;
	char dir[64];
	uint16_t http_port, tcp_port;
	char url[64]; /* http://127.0.0.1:PORT */
	struct ch_target t;
};

/* A port no one listens on now (bound and released: another program could take it meanwhile,
 * which the start would then report). */
static inline uint16_t ch_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static inline int ch_server_config(const struct ch_server *s)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/users.xml", s->dir);
	f = fopen(p, "w");
	if (!f)
		return -errno;
	fputs("<?xml version=\"1.0\"?>\n<yandex><profiles><default>"
	      "<max_memory_usage>4000000000</max_memory_usage></default></profiles>"
	      "<users><default><password></password><networks><ip>127.0.0.1</ip></networks>"
	      "<profile>default</profile><quota>default</quota></default>"
	      "<flowscope><password>secret</password><networks><ip>127.0.0.1</ip></networks>"
	      "<profile>default</profile><quota>default</quota></flowscope></users>"
	      "<quotas><default></default></quotas></yandex>\n",
	      f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/config.xml", s->dir);
	f = fopen(p, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"<?xml version=\"1.0\"?>\n<yandex>\n"
		"<logger><level>warning</level><log>%s/server.log</log>"
		"<errorlog>%s/server.err.log</errorlog><size>10M</size><count>1</count></logger>\n"
		"<http_port>%u</http_port><tcp_port>%u</tcp_port>"
		"<listen_host>127.0.0.1</listen_host>\n"
		"<path>%s/data/</path><tmp_path>%s/tmp/</tmp_path>"
		"<user_files_path>%s/user_files/</user_files_path>"
		"<format_schema_path>%s/format_schemas/</format_schema_path>\n"
		"<users_config>%s/users.xml</users_config><default_profile>default</default_profile>"
		"<default_database>default</default_database><timezone>UTC</timezone>\n"
		"<mark_cache_size>268435456</mark_cache_size>"
		"<uncompressed_cache_size>268435456</uncompressed_cache_size>"
		"<keep_alive_timeout>3</keep_alive_timeout>"
		"<max_concurrent_queries>100</max_concurrent_queries>"
		"<mlock_executable>false</mlock_executable>\n</yandex>\n",
		s->dir, s->dir, s->http_port, s->tcp_port, s->dir, s->dir, s->dir, s->dir, s->dir);
	fclose(f);
	return 0;
}

static inline int ch_discard(const char *p, size_t n, void *ctx)
{
	(void)p;
	(void)n;
	(void)ctx;
	return 0;
}

/* Starts (or starts again) the server of s; waits until it answers (at most 60 s). */
static inline int ch_server_run(struct ch_server *s)
{
	char conf[128], out[128];
	struct errmsg e = {""};
	int i;

	snprintf(conf, sizeof(conf), "--config-file=%s/config.xml", s->dir);
	snprintf(out, sizeof(out), "%s/stdout", s->dir);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		FILE *f = freopen(out, "a", stdout);

		(void)f;
		dup2(1, 2);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that dies takes its server along */
		execl(CH_SERVER_BIN, CH_SERVER_BIN, conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 600; i++) {
		if (!ch_http_run(&s->t, "SELECT 1", NULL, 0, 2000, ch_discard, NULL, &e))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return -ECHILD;
		}
		usleep(100000);
	}
	return -ETIMEDOUT;
}

/* Kills the server at once (SIGKILL: no clean shutdown, as a crash or an outage). */
static inline void ch_server_kill(struct ch_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

/* The program (and the servers it starts) in a network namespace of its own with only its
 * loopback up: whatever ClickHouse looks up at start (its host's name) never reaches the
 * machine's resolver, and nothing of the test leaves loopback. Once per process; needs root. */
static inline int ch_isolate_network(void)
{
	static int done;
	struct ifreq ifr;
	int fd, err = 0;

	if (done)
		return 0;
	if (syscall(SYS_unshare, CLONE_NEWNET)) /* unshare(2) without _GNU_SOURCE */
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr))
		err = -errno;
	close(fd);
	done = !err;
	return err;
}

static inline int ch_server_start(struct ch_server *s)
{
	struct errmsg e = {""};
	int err;

	memset(s, 0, sizeof(*s));
	err = ch_isolate_network();
	if (err)
		return err;
	strcpy(s->dir, "/tmp/fs-ch-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	s->http_port = ch_free_port();
	s->tcp_port = ch_free_port();
	while (s->tcp_port == s->http_port)
		s->tcp_port = ch_free_port();
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->http_port);
	if (ch_target_parse(&s->t, s->url, "test", &e) || ch_target_resolve(&s->t, &e))
		return -EINVAL;
	err = ch_server_config(s);
	return err ?: ch_server_run(s);
}

/* Stops the server and removes its directory. */
static inline void ch_server_stop(struct ch_server *s)
{
	char cmd[128];

	ch_server_kill(s);
	if (s->dir[0] && !strncmp(s->dir, "/tmp/fs-ch-", 11)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", s->dir);
	}
	s->dir[0] = '\0';
}

static inline int ch_collect(const char *p, size_t n, void *ctx)
{
	return buf_append(ctx, p, n) ? 1 : 0;
}

/* Runs sql; its answer (NUL-terminated) in out. Returns 0 or a negative errno (e's text). */
static inline int ch_sql(struct ch_server *s, const char *sql, struct buf *out, struct errmsg *e)
{
	buf_reset(out);
	return ch_http_run(&s->t, sql, NULL, 0, 30000, ch_collect, out, e) ?: buf_puts(out, "");
}

/* The number the query answers (a count()), or -1. */
static inline long long ch_sql_num(struct ch_server *s, const char *sql)
{
	struct buf b = BUF_INIT;
	struct errmsg e = {""};
	long long v = ch_sql(s, sql, &b, &e) ? -1 : atoll(b.data);

	buf_free(&b);
	return v;
}

/* ---- flows of every kind ---------------------------------------------------------------- */

#define CH_T0 1700000000000000000ULL /* 2023-11-14T22:13:20Z */

/* The identity file the generated flows' addresses are in: shop/web-* (a workload, labels)
 * for 10.0.0.0/24, db/pg-0 (identity 4711) for 10.0.1.5, nothing for the rest. */
static inline int ch_test_identities(const char *dir)
{
	char p[128];
	struct errmsg e = {""};
	FILE *f;

	snprintf(p, sizeof(p), "%s/ids.yaml", dir);
	f = fopen(p, "w");
	if (!f)
		return -errno;
	fputs("identities:\n"
	      "  - cidr: 10.0.0.0/24\n    namespace: shop\n    pod: web-1\n    service: web\n"
	      "    labels: {app: web, tier: front}\n"
	      "    workload: {name: web, kind: Deployment}\n"
	      "  - ip: 10.0.1.5\n    namespace: db\n    pod: pg-0\n    identity: 4711\n"
	      "  - cidr: fd00::1:0/112\n    namespace: v6\n    pod: six\n",
	      f);
	fclose(f);
	return identities_reload(p, &e);
}

/* A kernel drop reason that is a loss with a Hubble code, or 0. */
static inline uint32_t ch_test_drop_reason(void)
{
	uint32_t v, n = drop_reason_kernel_count();

	for (v = 1; v < n; v++)
		if (drop_reason_is_loss(v) && drop_reason_hubble_code(v))
			return v;
	return 0;
}

/* Process i of the test flows: its fields cycle every 60, so 60 static records serve all. */
static inline const struct flow_process *ch_test_proc(uint64_t i)
{
	static const char *const comms[] = {"curl", "nginx", "python3", "pg"};
	static struct flow_process procs[60];
	struct flow_process *p = &procs[i % 60];

	memset(p, 0, sizeof(*p));
	p->known = true;
	p->pid = (uint32_t)(1000 + i % 10);
	snprintf(p->comm, sizeof(p->comm), "%s", comms[i % 4]);
	p->cgroup_id = 7000 + i % 3;
	if (i % 3 == 0)
		p->container_id =
			"3f2a9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3";
	return p;
}

/* Flow event i: events, protocols, families, replies, drops, DNS, processes, names and
 * interfaces vary with i; the time is CH_T0 + i ms; the uuid carries i. */
static inline void ch_test_flow(uint64_t i, struct flow *f)
{
	static const uint16_t dports[] = {80, 443, 53, 5432, 8080};
	static const uint8_t obs[] = {0, 3, 5, 8, 10, 11};
	static const char *const ifnames[] = {"eth0", "lo", "veth1"};

	memset(f, 0, sizeof(*f));
	f->id = i / 3 + 1;
	f->family = i % 5 == 0 ? 6 : 4;
	if (f->family == 6) {
		inet_pton(AF_INET6, i % 2 ? "fd00::1:7" : "fd00::2:9", f->src.addr);
		inet_pton(AF_INET6, "fd00::3:1", f->dst.addr);
	} else {
		f->src.addr[0] = i % 9 == 0 ? 127 : 10;
		f->src.addr[3] = (uint8_t)(i % 7 + 1);
		f->dst.addr[0] = 10;
		f->dst.addr[2] = 1;
		f->dst.addr[3] = (uint8_t)(i % 3 + 4);
	}
	f->proto = i % 13 == 0 ? (f->family == 6 ? 58 : 1) : i % 4 == 3 ? 17 : 6;
	f->src.port = (uint16_t)(40000 + i % 50);
	f->dst.port = dports[i % 5];
	if (f->proto == 1 || f->proto == 58) {
		f->icmp_type = 8;
		f->src.port = f->dst.port = 77;
	}
	f->is_reply = i % 3 == 1;
	f->traffic_dir = i % 2 ? FLOW_TC_INGRESS : FLOW_TC_EGRESS;
	f->obs_point = obs[i % 6];
	f->ifindex = (uint32_t)(1 + i % 3);
	snprintf(f->ifname, sizeof(f->ifname), "%s", ifnames[i % 3]);
	f->copy = i % 11 == 0;
	f->verdict = FLOW_VERDICT_FORWARDED;
	f->event = (uint8_t)(1 + i % 6);
	if (f->proto == 6 && f->event == FLOW_EVENT_TCP_FLAGS)
		f->tcp_flags = i % 2 ? FLOW_TCP_SYN | FLOW_TCP_ACK : FLOW_TCP_SYN;
	if (f->proto == 6 && i % 8 == 7)
		f->tcp_flags = FLOW_TCP_RST;
	f->tcp_flags_seen[0] = f->proto == 6 ? FLOW_TCP_SYN | FLOW_TCP_ACK : 0;
	f->packets[0] = 3 + i % 5;
	f->packets[1] = 2 + i % 3;
	f->bytes[0] = 180 + i;
	f->bytes[1] = 1500 + 2 * i;
	f->time_ns = CH_T0 + i * 1000000ULL;
	f->first_seen_ns = CH_T0 - 5000000000ULL;
	f->last_seen_ns = f->time_ns;
	f->uuid[0] = 0x3b;
	f->uuid[6] = 0x40;
	f->uuid[8] = 0x80;
	memcpy(f->uuid + 10, &i, 6);
	f->seq = i + 1;
	if (f->event == FLOW_EVENT_END) {
		f->ended = true;
		f->end_ns = f->time_ns;
	}
	if (f->event == FLOW_EVENT_DROP) {
		f->verdict = FLOW_VERDICT_DROPPED;
		f->drop_reason = ch_test_drop_reason();
		f->drops = 2;
	}
	if (f->event == FLOW_EVENT_DNS) {
		f->proto = 17;
		f->dst.port = 53;
		f->dns.present = true;
		f->dns.response = i % 2;
		f->dns.query = i % 4 < 2 ? "www.example.com" : "db.internal";
		f->dns.qtype = 1;
		f->dns.rcode = i % 5 == 0 ? 3 : 0;
		f->dns.ttl = 300;
		if (f->dns.response) {
			f->dns.n_ips = 2;
			f->dns.ip_family[0] = 4;
			f->dns.ips[0][0] = 93;
			f->dns.ips[0][3] = 34;
			f->dns.ip_family[1] = 6;
			inet_pton(AF_INET6, "2001:db8::1", f->dns.ips[1]);
		}
	}
	if (i % 2 == 0)
		f->src_proc = ch_test_proc(i);
	if (i % 5 == 1)
		f->dst_proc = ch_test_proc(i + 1);
	f->src_name = i % 6 == 0 ? "client.example.com" : NULL;
	f->dst_name = i % 4 == 0 ? "api.example.com" : i % 4 == 1 ? "db.internal" : NULL;
	f->rtt_us = (uint32_t)(i % 7) * 100;
	f->retransmits = (uint32_t)(i % 4 == 2);
	f->socket_cookie = 9000 + i;
}

#endif /* FLOWSCOPE_TESTS_CLICKHOUSE_HARNESS_H */
