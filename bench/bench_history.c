/* History engines measured side by side in one run (issue 13: flowd's embedded flow history, its
 * engine chosen by measurement): the real store (collector/history, flowscope/history/history.h:
 * zstd-compressed blocks of flow records in segment files) against an SQLite baseline holding the
 * same information, on realistic struct flow events (gen_next: a pool of connections each telling
 * START, TCP_FLAGS, UPDATE, END; TCP with processes, interfaces and names on some, UDP DNS with
 * queries and answers, dropped SYNs with drop reasons, 15% IPv6, ~20% of events to port 443;
 * times increasing over 10 hours).
 *
 *   history: history_open with flowd's block size, zstd level and segment size (no retention
 *     bound); history_append in a loop, history_sync every 1 s of wall time (flowd's
 *     --history-sync), history_close at the end: durable. Three ways: foreground=true (one core
 *     encodes, compresses, writes and syncs: the store the queries read); the writer thread as
 *     flowd runs it, unpaced (the loop outruns any disk, and past 64 blocks waiting the store
 *     drops blocks by design: events kept per second is the writer's throughput, and the loss is
 *     shown); the writer thread paced at twice the ingest target, where nothing may be lost.
 *   sqlite: WAL, synchronous=FULL (a commit is durable, as a history_sync is), one transaction
 *     per 1 s of wall time, a prepared INSERT into
 *       ev (seq INTEGER PRIMARY KEY, time INTEGER, daddr BLOB, dport INTEGER, rec BLOB)
 *     with an index on time. rec is the history's own record of the event (flow_rec_encode)
 *     coded alone, against the row's time and seq and the collector session (kept once, in a
 *     table meta): every field the history keeps, nothing twice but the published destination
 *     address and port, which are columns for SQL to filter on. Queries decode rec back into a
 *     struct flow as the cursor does and pass it through the same filter.
 *
 * Measured: ingest events/s (and CPU per event: the loop's thread, every thread), bytes per event
 * on disk, and through a cursor with history_cursor_set_range and the filter that flowctl's
 * `--to-port 443` compiles to (flow_filter_set_match): `--since 1h --to-port 443`, every event of
 * the last hour, and `--to-ip` of one host over everything (a full scan), over N and over BIG
 * stored events, each count checked against the generator's ground truth; opening the store
 * (history_open + history_get_stats) at N, BIG and on a real directory of STARTUP_MIB (1 GiB),
 * written with less compressible events in blocks of the byte size a store of the events above
 * has (as many blocks as such a store of that size), warm and with its pages dropped from the
 * page cache. Rounds alternate the engines; medians with min..max, ratios of the history against
 * SQLite. Speed targets are told as met or missed; the checks (query counts, every event read
 * back as appended, reopened stores complete) end the output.
 * Usage: bench_history [ROUNDS [N [BIG [STARTUP_MIB]]]]  (defaults 3, 1000000, 10000000, 1024;
 * BIG or STARTUP_MIB 0 leaves that part out). Files in a temporary directory under /tmp. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/filter/filter.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/flow.h"
#include "flowscope/history/flow_rec.h"
#include "flowscope/history/history.h"

#define NS 1000000000ULL
#define SPAN_NS (10 * 3600 * NS)
#define HOUR_NS (3600 * NS)
#define T0_NS (1796000000ULL * NS)
#define POOL 2048      /* connections open at once */
#define N_CLIENTS 1024 /* 10.1.x.y, fd00:1::x */
#define N_SERVERS 64   /* 10.2.0.x, fd00:2::x */
#define P443 30	       /* % of TCP connections to port 443: ~20% of events */
#define FAT_LEN 120    /* random names of the startup store's events */
#define MAX_ROUNDS 32
#define TARGET_INGEST 200000.0 /* events/s */
#define HOST "10.2.0.7"	       /* server 7: the full scan's --to-ip */

static const uint16_t other_ports[] = {80, 8080, 5432, 6379, 9090, 22, 3306, 8443};
static const char *const comms[] = {"curl", "nginx",	"envoy",	"python3",
				    "java", "postgres", "redis-server", "node"};
static const uint32_t drop_reasons[] = {2, 3, 8, 16}; /* kernel enum skb_drop_reason */
static char server_names[N_SERVERS][40], client_names[N_CLIENTS][32];
static char container_ids[16][65], veth_names[16][IF_NAMESIZE];

static int passed, failed, warnings;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	failed++;
	va_start(ap, fmt);
	fprintf(stderr, "bench_history: FAILED: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_history: %s: %s\n", what, why);
	exit(1);
}

static void on_log(enum log_level level, const char *text, void *ctx)
{
	(void)ctx;
	/* Expected when the loop outruns the writer: the lost events are counted and shown. */
	if (strstr(text, "does not keep up"))
		return;
	warnings += level == LOG_LEVEL_WARN;
	fprintf(stderr, "bench_history: history says: %s\n", text);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* CPU time of the process, every thread (the loop and the history's writer), or of one. */
static double rusage_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_s(void)
{
	return rusage_s(RUSAGE_SELF);
}

/* The loop's own: without the history's writer thread. */
static double thread_cpu_s(void)
{
	return rusage_s(RUSAGE_THREAD);
}

/* ---- the events ----------------------------------------------------------------------------- */

enum conn_kind { K_TCP, K_DNS, K_DROP };

struct conn {
	struct flow f;
	struct flow_process proc;   /* where f.src_proc points when it has one */
	uint8_t kind, stage, n_mid; /* n_mid: UPDATEs (TCP) or DROPs (a dropped SYN) */
	uint8_t server;
	bool live;
};

/* Deterministic: the same n gives the same events, so that ground truth and read-back checks
 * run the generator again instead of keeping millions of flows. */
struct gen {
	uint64_t rng, step, i, seq, next_id;
	uint8_t session[8]; /* uuid[0..7] of every event, as the collector sets it */
	bool fat;
	char fat_name[2][FAT_LEN + 1];
	struct conn *conns;
};

static uint64_t rnd(struct gen *g)
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 2685821657736338717ULL;
}

static uint32_t pick(struct gen *g, uint32_t n)
{
	return (uint32_t)((rnd(g) >> 32) % n);
}

static void set_addr(uint8_t a[16], bool v6, uint8_t net, uint32_t host)
{
	memset(a, 0, 16);
	if (v6) {
		a[0] = 0xfd;
		a[3] = net;
		a[14] = (uint8_t)(host >> 8);
		a[15] = (uint8_t)host;
	} else {
		a[0] = 10;
		a[1] = net;
		a[2] = (uint8_t)(host >> 8);
		a[3] = (uint8_t)host;
	}
}

static void tables_init(void)
{
	static const char hex[] = "0123456789abcdef";
	struct gen g = {.rng = 0x5eed};
	int i, k;

	for (i = 0; i < N_SERVERS; i++)
		snprintf(server_names[i], sizeof(server_names[i]),
			 "api-%02d.shop.svc.cluster.local", i);
	for (i = 0; i < N_CLIENTS; i++)
		snprintf(client_names[i], sizeof(client_names[i]), "client-%04d.corp.example", i);
	for (i = 0; i < 16; i++) {
		for (k = 0; k < 64; k++)
			container_ids[i][k] = hex[pick(&g, 16)];
		snprintf(veth_names[i], sizeof(veth_names[i]), "lxc%08x", (unsigned)rnd(&g));
	}
}

static void gen_init(struct gen *g, long n, bool fat)
{
	memset(g, 0, sizeof(*g));
	g->rng = 0x9e3779b97f4a7c15ULL;
	g->step = SPAN_NS / (uint64_t)n;
	g->fat = fat;
	for (int i = 0; i < 8; i++)
		g->session[i] = (uint8_t)rnd(g);
	g->session[6] = (uint8_t)((g->session[6] & 0x0f) | 0x40);
	g->conns = calloc(POOL, sizeof(*g->conns));
	if (!g->conns)
		die("generator", "out of memory");
}

static void gen_free(struct gen *g)
{
	free(g->conns);
}

static void conn_process(struct gen *g, struct conn *c, struct flow *f)
{
	struct flow_process *p = &c->proc;

	memset(p, 0, sizeof(*p));
	f->src_proc = p;
	p->known = true;
	p->pid = 1000 + pick(g, 60000);
	snprintf(p->comm, sizeof(p->comm), "%s", comms[pick(g, 8)]);
	p->cgroup_id = 4000 + pick(g, 500);
	if (pick(g, 2))
		p->container_id = container_ids[pick(g, 16)];
	f->socket_cookie = rnd(g) >> 16;
	f->rtt_us = 200 + pick(g, 50000);
}

/* A new connection in slot c: its kind, ends, interface and what enrichment knows of it. */
static void conn_start(struct gen *g, struct conn *c)
{
	struct flow *f = &c->f;
	uint32_t r = pick(g, 100), cl = pick(g, N_CLIENTS), v6 = pick(g, 100) < 15;
	int side;

	memset(f, 0, sizeof(*f));
	c->kind = r < 62 ? K_TCP : r < 92 ? K_DNS : K_DROP;
	c->stage = 0;
	c->live = true;
	c->server = (uint8_t)pick(g, N_SERVERS);
	c->n_mid = (uint8_t)(c->kind == K_TCP	 ? pick(g, 7)
			     : c->kind == K_DROP ? 1 + pick(g, 2)
						 : 0);
	f->id = ++g->next_id;
	f->family = v6 ? 6 : 4;
	f->proto = c->kind == K_DNS ? IPPROTO_UDP : IPPROTO_TCP;
	set_addr(f->src.addr, v6, 1, cl);
	if (c->kind == K_DNS)
		set_addr(f->dst.addr, v6, 96, 10);
	else
		set_addr(f->dst.addr, v6, 2, c->server);
	f->src.port = (uint16_t)(32768 + pick(g, 28000));
	f->dst.port = c->kind == K_DNS ? 53 : pick(g, 100) < P443 ? 443 : other_ports[pick(g, 8)];
	if (pick(g, 4)) {
		f->ifindex = 2;
		memcpy(f->ifname, "eth0", 5);
		f->if_kind = FLOW_IF_NETWORK;
		f->traffic_dir = FLOW_TC_EGRESS;
	} else {
		r = pick(g, 16);
		f->ifindex = 10 + r;
		memcpy(f->ifname, veth_names[r], IF_NAMESIZE);
		f->if_kind = FLOW_IF_ENDPOINT;
		f->traffic_dir = FLOW_TC_INGRESS;
	}
	/* The kernel's key: the lower endpoint first, as the probes order it. */
	side = memcmp(f->src.addr, f->dst.addr, 16) > 0;
	memcpy(f->key.addr[side], f->src.addr, 16);
	memcpy(f->key.addr[!side], f->dst.addr, 16);
	f->key.port[side] = f->src.port;
	f->key.port[!side] = f->dst.port;
	f->key.proto = f->proto;
	f->key.family = f->family;
	f->key.ifindex = f->ifindex;
	if (c->kind == K_TCP && pick(g, 100) < 40)
		conn_process(g, c, f);
	if (c->kind != K_DNS && pick(g, 2))
		f->dst_name = server_names[c->server];
	if (pick(g, 10) == 0)
		f->src_name = client_names[cl];
}

static void tcp_event(struct gen *g, struct conn *c, int s, int last)
{
	struct flow *f = &c->f;
	uint64_t p;

	if (s == 1) { /* SYN-ACK */
		f->event = FLOW_EVENT_TCP_FLAGS;
		f->is_reply = true;
		f->tcp_flags = FLOW_TCP_SYN | FLOW_TCP_ACK;
		f->tcp_flags_seen[1] |= f->tcp_flags;
		f->packets[1]++;
		f->bytes[1] += 74;
	} else if (s == last - 1) { /* FIN or RST */
		f->event = FLOW_EVENT_TCP_FLAGS;
		f->tcp_flags = pick(g, 20) ? FLOW_TCP_FIN | FLOW_TCP_ACK : FLOW_TCP_RST;
		f->tcp_flags_seen[0] |= f->tcp_flags;
		f->packets[0]++;
		f->bytes[0] += 66;
	} else { /* the sweep's counters */
		f->event = FLOW_EVENT_UPDATE;
		p = 1 + pick(g, 40);
		f->packets[0] += p;
		f->bytes[0] += p * (66 + pick(g, 400));
		p = 1 + pick(g, 60);
		f->packets[1] += p;
		f->bytes[1] += p * (66 + pick(g, 1400));
		f->tcp_flags_seen[0] |= FLOW_TCP_ACK | FLOW_TCP_PSH;
		f->tcp_flags_seen[1] |= FLOW_TCP_ACK | FLOW_TCP_PSH;
		f->last_seen_ns = f->time_ns - pick(g, 1000000000);
		if (f->rtt_us)
			f->rtt_us = 200 + pick(g, 50000);
		if (f->rtt_us && !pick(g, 8))
			f->retransmits++;
	}
}

static void dns_event(struct gen *g, struct conn *c, int s)
{
	struct flow *f = &c->f;
	struct flow_dns_info *d = &f->dns;

	f->event = FLOW_EVENT_DNS;
	d->present = true;
	d->query = server_names[c->server];
	d->qtype = f->family == 6 ? 28 : 1;
	if (s == 1) {
		f->bytes[0] += 40; /* the query went with the START's packet's twin */
		return;
	}
	f->is_reply = true;
	d->response = true;
	d->rcode = pick(g, 20) ? 0 : 3;
	d->n_ips = (uint8_t)(d->rcode ? 0 : 1 + pick(g, 2));
	for (int i = 0; i < d->n_ips; i++) {
		d->ip_family[i] = f->family;
		set_addr(d->ips[i], f->family == 6, 2, (c->server + (uint32_t)i) % N_SERVERS);
	}
	d->ttl = d->rcode ? 0 : 30 + pick(g, 270);
	f->packets[1]++;
	f->bytes[1] += 90 + 16 * d->n_ips;
}

/* The connection's next event, as the collector publishes it (a snapshot of the flow with that
 * event's type, packet flags, direction and verdict). */
static void conn_event(struct gen *g, struct conn *c)
{
	struct flow *f = &c->f;
	int s = c->stage++, last = c->kind == K_DNS ? 3 : c->n_mid + (c->kind == K_TCP ? 3 : 1);

	f->is_reply = false;
	f->tcp_flags = 0;
	f->verdict = FLOW_VERDICT_FORWARDED;
	f->last_seen_ns = f->time_ns;
	memset(&f->dns, 0, sizeof(f->dns));
	if (s == 0) {
		f->event = FLOW_EVENT_START;
		f->first_seen_ns = f->time_ns - pick(g, 1000000);
		f->packets[0] = 1;
		f->bytes[0] = f->proto == IPPROTO_TCP ? 74 : 70;
		if (f->proto == IPPROTO_TCP)
			f->tcp_flags = f->tcp_flags_seen[0] = FLOW_TCP_SYN;
	} else if (s == last) {
		f->event = FLOW_EVENT_END;
		f->ended = true;
		f->end_ns = f->time_ns;
		c->live = false;
	} else if (c->kind == K_TCP) {
		tcp_event(g, c, s, last);
	} else if (c->kind == K_DNS) {
		dns_event(g, c, s);
	} else {
		f->event = FLOW_EVENT_DROP;
		f->verdict = FLOW_VERDICT_DROPPED;
		f->drop_reason = drop_reasons[pick(g, 4)];
		f->drops++;
		f->tcp_flags = FLOW_TCP_SYN;
	}
	if (f->if_kind == FLOW_IF_NETWORK)
		f->obs_point = f->is_reply ? FLOW_OBS_FROM_NETWORK : FLOW_OBS_TO_NETWORK;
	else
		f->obs_point = f->is_reply ? FLOW_OBS_TO_ENDPOINT : FLOW_OBS_FROM_ENDPOINT;
}

/* The startup store's events: names of random letters, which zstd cannot shrink much. */
static void fatten(struct gen *g, struct flow *f)
{
	static const char abc[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.";

	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < FAT_LEN; i += 8) {
			uint64_t r = rnd(g);

			for (int j = 0; j < 8 && i + j < FAT_LEN; j++, r >>= 6)
				g->fat_name[k][i + j] = abc[r & 63];
		}
		g->fat_name[k][FAT_LEN] = 0;
	}
	f->src_name = g->fat_name[0];
	f->dst_name = g->fat_name[1];
}

static const struct flow *gen_next(struct gen *g)
{
	struct conn *c = &g->conns[pick(g, POOL)];
	struct flow *f = &c->f;
	uint64_t seq;

	if (!c->live)
		conn_start(g, c);
	/* Increasing: within the first half of the event's own step. */
	f->time_ns = T0_NS + g->i * g->step + rnd(g) % (g->step / 2 + 1);
	g->i++;
	f->seq = seq = ++g->seq;
	memcpy(f->uuid, g->session, 8);
	for (int i = 15; i >= 8; i--, seq >>= 8)
		f->uuid[i] = (uint8_t)seq;
	f->uuid[8] = (uint8_t)((f->uuid[8] & 0x3f) | 0x80);
	conn_event(g, c);
	if (g->fat)
		fatten(g, f);
	return f;
}

/* ---- ground truth --------------------------------------------------------------------------- */

/* Filters apply to the flow as published: a reply's source is the responder. */
static const struct flow_endpoint *pub_dst(const struct flow *f)
{
	return f->is_reply ? &f->src : &f->dst;
}

static const uint8_t host_addr[4] = {10, 2, 0, 7};

static bool to_host(const struct flow *f)
{
	return f->family == 4 && !memcmp(pub_dst(f)->addr, host_addr, 4);
}

struct truth {
	long n, hour, hour443, host;			/* what the three queries find */
	long to443, tcp, dns, dropped, v6, proc, names; /* the mix */
	uint64_t since;					/* the last hour: now is the span's end */
	double gen_rate;				/* events/s of the generator alone */
};

static void truth_of(long n, struct truth *t)
{
	struct gen g;
	double t0 = now_s();

	memset(t, 0, sizeof(*t));
	t->n = n;
	t->since = T0_NS + SPAN_NS - HOUR_NS;
	gen_init(&g, n, false);
	for (long i = 0; i < n; i++) {
		const struct flow *f = gen_next(&g);
		bool p443 = pub_dst(f)->port == 443;

		t->hour += f->time_ns >= t->since;
		t->hour443 += f->time_ns >= t->since && p443;
		t->host += to_host(f);
		t->to443 += p443;
		t->tcp += f->proto == IPPROTO_TCP;
		t->dns += f->dns.present;
		t->dropped += f->verdict == FLOW_VERDICT_DROPPED;
		t->v6 += f->family == 6;
		t->proc += flow_proc_known(f->src_proc);
		t->names += f->src_name || f->dst_name;
	}
	t->gen_rate = (double)n / (now_s() - t0);
	gen_free(&g);
}

/* The first field in which a (read back) differs from b (appended), or NULL. */
static const char *flow_diff(const struct flow *a, const struct flow *b)
{
#define SAME(x) (!memcmp(&a->x, &b->x, sizeof(a->x)))
#define STR_SAME(x) ((!a->x && !b->x) || (a->x && b->x && !strcmp(a->x, b->x)))
	if (!SAME(id) || !SAME(time_ns) || !SAME(seq) || !SAME(uuid))
		return "id, time, seq or uuid";
	if (!SAME(key) || !SAME(src) || !SAME(dst) || !SAME(family) || !SAME(proto))
		return "key or endpoints";
	if (!SAME(ifindex) || strcmp(a->ifname, b->ifname) || !SAME(if_kind) ||
	    !SAME(traffic_dir) || !SAME(obs_point))
		return "interface";
	if (!SAME(event) || !SAME(verdict) || !SAME(ended) || !SAME(is_reply) || !SAME(tcp_flags) ||
	    !SAME(tcp_flags_seen) || !SAME(packets) || !SAME(bytes))
		return "event or counters";
	if (!SAME(first_seen_ns) || !SAME(last_seen_ns) || !SAME(end_ns))
		return "times";
	if (!a->src_proc != !b->src_proc ||
	    (a->src_proc && (!SAME(src_proc->known) || !SAME(src_proc->pid) ||
			     strcmp(a->src_proc->comm, b->src_proc->comm) ||
			     !SAME(src_proc->cgroup_id) || !STR_SAME(src_proc->container_id))))
		return "process";
	if (!SAME(rtt_us) || !SAME(retransmits) || !SAME(socket_cookie) || !SAME(drop_reason) ||
	    !SAME(drops))
		return "socket or drops";
	if (!STR_SAME(src_name) || !STR_SAME(dst_name))
		return "names";
	if (!SAME(dns.present) ||
	    (b->dns.present &&
	     (!SAME(dns.response) || !STR_SAME(dns.query) || !SAME(dns.qtype) || !SAME(dns.rcode) ||
	      !SAME(dns.n_ips) || !SAME(dns.ttl) || !SAME(dns.ips))))
		return "dns";
	return NULL;
#undef SAME
#undef STR_SAME
}

/* ---- files ---------------------------------------------------------------------------------- */

/* The bytes of the files in dir; with drop, their pages are dropped from the page cache too. */
static uint64_t dir_bytes(const char *dir, bool drop)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[4200];
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		n += (uint64_t)st.st_size;
		if (drop && (fd = open(path, O_RDONLY)) >= 0) {
			fdatasync(fd);
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	closedir(d);
	return n;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.')
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void remove_sqlite(const char *path)
{
	char p[4200];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static char tmp_dir[] = "/tmp/bench_history.XXXXXX";

/* Whatever a run left in the temporary directory, also when it dies half-way. */
static void cleanup(void)
{
	static const char *const dirs[] = {"history", "history-fg", "history-paced", "history-big",
					   "history-startup"};
	static const char *const dbs[] = {"sqlite.db", "sqlite-big.db"};
	char p[300];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmp_dir, dirs[i]);
		remove_dir(p);
	}
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmp_dir, dbs[i]);
		remove_sqlite(p);
	}
	rmdir(tmp_dir);
}

/* ---- the history ---------------------------------------------------------------------------- */

struct ingest {
	double rate;	    /* events kept per second, wall time of appending, syncing, closing */
	double loop_rate;   /* events appended per second by the loop */
	double cpu_us;	    /* CPU time per event, every thread */
	double loop_cpu_us; /* CPU time per event of the loop's thread */
	double bytes;	    /* per kept event, the files on disk */
	long kept;	    /* events the store holds when opened again */
	long errors;	    /* appends that failed */
};

static struct history *hist_open(const char *dir, bool fg, uint32_t block_events)
{
	struct history_opts o = {.dir = dir, .foreground = fg, .block_events = block_events};
	struct errmsg e = {""};
	struct history *h;
	int err = history_open(&h, &o, &e);

	if (err)
		die("history_open", errmsg_text(&e, err));
	return h;
}

static void hist_ingest(const char *dir, long n, bool fg, bool fat, uint32_t block_events,
			struct ingest *out)
{
	struct history *h = hist_open(dir, fg, block_events);
	double t0, c0, l0, next, loop, end;
	struct history_stats st;
	struct gen g;

	gen_init(&g, n, fat);
	memset(out, 0, sizeof(*out));
	t0 = now_s();
	c0 = cpu_s();
	l0 = thread_cpu_s();
	next = t0 + 1;
	for (long i = 0; i < n; i++) {
		out->errors += history_append(h, gen_next(&g)) != 0;
		if (!(i & 1023) && now_s() >= next) {
			history_sync(h, wall_ns());
			next = now_s() + 1;
		}
	}
	loop = now_s() - t0;
	history_close(h);
	end = now_s() - t0;
	out->loop_cpu_us = (thread_cpu_s() - l0) / (double)n * 1e6;
	out->cpu_us = (cpu_s() - c0) / (double)n * 1e6;
	h = hist_open(dir, true, block_events);
	history_get_stats(h, &st);
	out->kept = (long)st.events;
	out->rate = (double)out->kept / end;
	history_close(h);
	out->loop_rate = (double)n / loop;
	out->bytes = out->kept ? (double)dir_bytes(dir, false) / (double)out->kept : 0;
	gen_free(&g);
}

/* As flowd runs it, at a rate the collector could offer: n events appended at rate events/s
 * of wall time with the writer thread. Returns the events lost; *loop_cpu_us: the loop's CPU
 * time per event. */
static long hist_paced(const char *dir, long n, double rate, double *loop_cpu_us)
{
	struct history *h = hist_open(dir, false, 0);
	double t0 = now_s(), l0 = thread_cpu_s(), next = t0 + 1;
	struct history_stats st;
	struct gen g;

	gen_init(&g, n, false);
	for (long i = 0; i < n; i++) {
		history_append(h, gen_next(&g));
		if (!(i & 1023)) {
			double now = now_s(), due = t0 + (double)i / rate;

			if (now >= next) {
				history_sync(h, wall_ns());
				next = now + 1;
			}
			if (due > now)
				nanosleep(&(struct timespec){0, (long)((due - now) * 1e9)}, NULL);
		}
	}
	history_close(h);
	*loop_cpu_us = (thread_cpu_s() - l0) / (double)n * 1e6;
	h = hist_open(dir, true, 0);
	history_get_stats(h, &st);
	history_close(h);
	gen_free(&g);
	remove_dir(dir);
	return n - (long)st.events;
}

/* Events from since on (0: all) that fs passes, through a cursor as flowd's replays read. */
static long hist_query(struct history *h, uint64_t since, const struct flow_filter_set *fs)
{
	struct history_cursor *c = history_cursor_new(h);
	struct flow f;
	long n = 0;
	int r;

	if (!c)
		die("history_cursor_new", strerror(errno));
	history_cursor_set_range(c, since, 0);
	while ((r = history_cursor_next(c, &f)) == 1)
		n += f.time_ns >= since && flow_filter_set_match(fs, &f, NULL);
	if (r < 0)
		die("history_cursor_next", strerror(-r));
	history_cursor_free(c);
	return n;
}

/* history_open + history_get_stats, in ms; the store is closed again (not timed). */
static double hist_startup(const char *dir, uint32_t block_events, struct history_stats *st)
{
	double t0 = now_s(), ms;
	struct history *h = hist_open(dir, false, block_events);

	history_get_stats(h, st);
	ms = (now_s() - t0) * 1e3;
	history_close(h);
	return ms;
}

/* Every event read back, in order, as it was appended; and the stats agree. */
static void hist_verify(const char *dir, long n, const char *what)
{
	struct history *h = hist_open(dir, true, 0);
	struct history_cursor *c = history_cursor_new(h);
	struct history_stats st;
	const char *diff = NULL;
	long k = 0, bad = 0;
	struct flow f;
	struct gen g;

	gen_init(&g, n, false);
	history_get_stats(h, &st);
	while (c && history_cursor_next(c, &f) == 1) {
		const char *d = k < n ? flow_diff(&f, gen_next(&g)) : "an event too many";

		if (d && !bad++)
			diff = d;
		k++;
	}
	check(st.events == (uint64_t)n && !st.lost && !st.damaged_blocks,
	      "%s: reopened, the history holds %llu events (%llu lost, %llu damaged blocks), "
	      "want %ld",
	      what, (unsigned long long)st.events, (unsigned long long)st.lost,
	      (unsigned long long)st.damaged_blocks, n);
	check(k == n && !bad, "%s: read back %ld events of %ld, %ld differ (first: %s)", what, k, n,
	      bad, diff ? diff : "-");
	history_cursor_free(c);
	history_close(h);
	gen_free(&g);
}

/* ---- sqlite --------------------------------------------------------------------------------- */

static void sq_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		die(sql, err ? err : "sqlite error");
}

static sqlite3_stmt *sq_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(db));
	return st;
}

static sqlite3 *sq_open(const char *path)
{
	sqlite3 *db;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die(path, sqlite3_errmsg(db));
	return db;
}

/* rec is coded against the row: its time and seq, the collector session of the table meta. */
static void sq_rec_state(struct flow_rec_state *st, const uint8_t session[8], uint64_t seq,
			 uint64_t time_ns)
{
	flow_rec_reset(st);
	st->time_ns = time_ns;
	st->seq = seq - 1;
	memcpy(st->uuid_head, session, 8);
}

static void sq_create(sqlite3 *db, const uint8_t session[8])
{
	sqlite3_stmt *st;

	sq_exec(db, "PRAGMA journal_mode=WAL");
	sq_exec(db, "PRAGMA synchronous=FULL");
	sq_exec(db, "CREATE TABLE meta (session BLOB NOT NULL)");
	sq_exec(db, "CREATE TABLE ev (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, "
		    "daddr BLOB NOT NULL, dport INTEGER NOT NULL, rec BLOB NOT NULL)");
	sq_exec(db, "CREATE INDEX ev_time ON ev (time)");
	st = sq_prepare(db, "INSERT INTO meta VALUES (?)");
	sqlite3_bind_blob(st, 1, session, 8, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		die("insert meta", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

static void sqlite_ingest(const char *path, long n, struct ingest *out)
{
	sqlite3 *db = sq_open(path);
	struct buf rec = BUF_INIT;
	struct flow_rec_state rs;
	sqlite3_stmt *ins;
	double t0, c0, next;
	struct gen g;
	struct stat sb;

	gen_init(&g, n, false);
	memset(out, 0, sizeof(*out));
	t0 = now_s();
	c0 = cpu_s();
	next = t0 + 1;
	sq_create(db, g.session);
	ins = sq_prepare(db, "INSERT INTO ev VALUES (?, ?, ?, ?, ?)");
	sq_exec(db, "BEGIN");
	for (long i = 0; i < n; i++) {
		const struct flow *f = gen_next(&g);

		sq_rec_state(&rs, g.session, f->seq, f->time_ns);
		buf_reset(&rec);
		if (flow_rec_encode(&rs, &rec, f)) {
			out->errors++;
			continue;
		}
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)f->seq);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)f->time_ns);
		sqlite3_bind_blob(ins, 3, pub_dst(f)->addr, f->family == 6 ? 16 : 4, SQLITE_STATIC);
		sqlite3_bind_int(ins, 4, pub_dst(f)->port);
		sqlite3_bind_blob(ins, 5, rec.data, (int)rec.len, SQLITE_STATIC);
		out->errors += sqlite3_step(ins) != SQLITE_DONE;
		sqlite3_reset(ins);
		if (!(i & 1023) && now_s() >= next) {
			sq_exec(db, "COMMIT");
			sq_exec(db, "BEGIN");
			next = now_s() + 1;
		}
	}
	sq_exec(db, "COMMIT");
	sqlite3_finalize(ins);
	sq_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
	out->rate = out->loop_rate = (double)n / (now_s() - t0);
	out->cpu_us = out->loop_cpu_us = (cpu_s() - c0) / (double)n * 1e6;
	out->bytes = stat(path, &sb) ? 0 : (double)sb.st_size / (double)n;
	out->kept = n - out->errors;
	buf_free(&rec);
	gen_free(&g);
}

enum query { Q_PORT, Q_HOUR, Q_HOST, NQ };

static const char *const query_names[NQ] = {"since 1h, to-port 443", "since 1h, all",
					    "to-ip " HOST ", all time"};

struct sq_db {
	sqlite3 *db;
	uint8_t session[8];
};

static void sq_db_open(struct sq_db *s, const char *path)
{
	sqlite3_stmt *st;

	s->db = sq_open(path);
	st = sq_prepare(s->db, "SELECT session FROM meta");
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, 0) != 8)
		die(path, "no session in meta");
	memcpy(s->session, sqlite3_column_blob(st, 0), 8);
	sqlite3_finalize(st);
}

/* The query's rows, each decoded into a struct flow and passed through fs, as the cursor's
 * are; the WHERE clause does the work first. verify: every row compared with the generator. */
static long sq_query(struct sq_db *s, enum query q, uint64_t since,
		     const struct flow_filter_set *fs, struct gen *verify, long *bad)
{
	static const char *const sql[] = {
		[Q_PORT] = "SELECT seq, time, rec FROM ev WHERE time >= ?1 AND dport = 443",
		[Q_HOUR] = "SELECT seq, time, rec FROM ev WHERE time >= ?1",
		[Q_HOST] = "SELECT seq, time, rec FROM ev WHERE daddr = ?1",
	};
	sqlite3_stmt *st =
		sq_prepare(s->db, verify ? "SELECT seq, time, rec FROM ev ORDER BY seq" : sql[q]);
	struct flow_rec_state rs;
	struct flow f;
	long n = 0;

	if (q == Q_HOST)
		sqlite3_bind_blob(st, 1, host_addr, 4, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const uint8_t *p = sqlite3_column_blob(st, 2);
		int len = sqlite3_column_bytes(st, 2);

		sq_rec_state(&rs, s->session, (uint64_t)sqlite3_column_int64(st, 0),
			     (uint64_t)sqlite3_column_int64(st, 1));
		if (flow_rec_decode(&rs, &p, p + len, &f)) {
			(*bad)++;
			continue;
		}
		if (verify)
			*bad += flow_diff(&f, gen_next(verify)) != NULL;
		n += flow_filter_set_match(fs, &f, NULL);
	}
	sqlite3_finalize(st);
	return n;
}

static void sqlite_verify(const char *path, long n)
{
	struct sq_db s;
	struct gen g;
	long bad = 0, k;

	sq_db_open(&s, path);
	gen_init(&g, n, false);
	k = sq_query(&s, Q_HOUR, 0, NULL, &g, &bad);
	check(k == n && !bad, "sqlite: read back %ld rows of %ld, %ld differ", k, n, bad);
	gen_free(&g);
	sqlite3_close(s.db);
}

/* sqlite3_open and what history_get_stats tells: the time range and the count (seq is the
 * rowid: no scan), in ms. */
static double sqlite_startup(const char *path, long *events)
{
	double t0 = now_s(), ms;
	sqlite3 *db = sq_open(path);
	sqlite3_stmt *st = sq_prepare(db, "SELECT (SELECT min(time) FROM ev), (SELECT max(time) "
					  "FROM ev), (SELECT max(seq) FROM ev) - (SELECT min(seq) "
					  "FROM ev) + 1");

	if (sqlite3_step(st) != SQLITE_ROW)
		die(path, sqlite3_errmsg(db));
	*events = (long)sqlite3_column_int64(st, 2);
	ms = (now_s() - t0) * 1e3;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ms;
}

/* ---- results -------------------------------------------------------------------------------- */

struct series {
	double v[MAX_ROUNDS];
	int n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void add(struct series *s, double v)
{
	if (s->n < MAX_ROUNDS)
		s->v[s->n++] = v;
}

static double med(const struct series *s)
{
	double v[MAX_ROUNDS];

	if (!s->n)
		return 0;
	memcpy(v, s->v, sizeof(double) * (size_t)s->n);
	qsort(v, (size_t)s->n, sizeof(double), cmp_double);
	return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static double lo(const struct series *s)
{
	double m = s->n ? s->v[0] : 0;

	for (int i = 1; i < s->n; i++)
		m = s->v[i] < m ? s->v[i] : m;
	return m;
}

static double hi(const struct series *s)
{
	double m = s->n ? s->v[0] : 0;

	for (int i = 1; i < s->n; i++)
		m = s->v[i] > m ? s->v[i] : m;
	return m;
}

static const char *fmt_series(const struct series *s, int prec, char *out, size_t len)
{
	if (!s->n)
		snprintf(out, len, "-");
	else if (s->n == 1)
		snprintf(out, len, "%.*f", prec, s->v[0]);
	else
		snprintf(out, len, "%.*f (%.*f..%.*f)", prec, med(s), prec, lo(s), prec, hi(s));
	return out;
}

/* How a row's ratio reads: rates higher is better, the rest lower. */
enum ratio { R_RATE, R_TIME, R_CPU, R_SIZE };

/* One row: the history's value, SQLite's, and how the history compares. */
static void row(const char *what, const struct series *h, const struct series *s, int prec,
		enum ratio k)
{
	static const char *const words[] = {"faster", "faster", "less CPU", "the size"};
	char a[64], c[64], r[48] = "";
	double x = med(h), y = med(s);

	if (h->n && s->n && x > 0 && y > 0)
		snprintf(r, sizeof(r), "%.2fx %s", k == R_RATE || k == R_SIZE ? x / y : y / x,
			 words[k]);
	printf("  %-30s %-30s %-30s %s\n", what, fmt_series(h, prec, a, sizeof(a)),
	       fmt_series(s, prec, c, sizeof(c)), r);
}

/* What one store size measured: [0] the history written in the foreground (the store the
 * queries read: every event), [1] sqlite; w_*: the history with its writer thread, as flowd. */
struct results {
	long n;
	bool once; /* ingested once */
	struct series ingest[2], cpu[2], bytes[2], q[NQ][2], open[2];
	struct series w_kept, w_loop, w_loop_cpu, w_cpu, w_lost;
	double paced_rate, paced_cpu; /* the writer thread at a given offered rate */
	long paced_lost;
};

static void print_results(const struct results *r, const struct truth *t, int rounds)
{
	printf("store of %ld events over 10 h (%s; %d rounds, median (min..max)); last hour %ld "
	       "events, %ld to port 443; %ld to " HOST "\n",
	       r->n, r->once ? "ingested once, queries and opens in rounds" : "rounds interleaved",
	       rounds, t->hour, t->hour443, t->host);
	printf("  %-30s %-30s %-30s %s\n", "", "history", "sqlite", "history against sqlite");
	row("ingest ev/s, foreground", &r->ingest[0], &r->ingest[1], 0, R_RATE);
	if (r->w_kept.n) {
		row("ingest ev/s kept, writer thr.", &r->w_kept, &r->ingest[1], 0, R_RATE);
		row("  appended by the loop, ev/s", &r->w_loop, &(struct series){0}, 0, R_RATE);
		row("  lost (64 blocks waiting)", &r->w_lost, &(struct series){0}, 0, R_RATE);
	}
	row("CPU us/ev, foreground", &r->cpu[0], &r->cpu[1], 2, R_CPU);
	if (r->w_kept.n) {
		row("CPU us/ev, writer thr.: loop", &r->w_loop_cpu, &r->cpu[1], 2, R_CPU);
		row("CPU us/ev, writer thr.: all", &r->w_cpu, &r->cpu[1], 2, R_CPU);
	}
	row("bytes per event", &r->bytes[0], &r->bytes[1], 1, R_SIZE);
	for (int q = 0; q < NQ; q++) {
		char what[64];

		snprintf(what, sizeof(what), "%s, ms", query_names[q]);
		row(what, &r->q[q][0], &r->q[q][1], 1, R_TIME);
	}
	row("startup (open + stats), ms", &r->open[0], &r->open[1], 2, R_TIME);
	if (r->paced_rate)
		printf("  writer thread at %.0f ev/s offered (paced in wall time, twice the target), "
		       "%ld events: %ld lost, loop CPU %.2f us/ev\n",
		       r->paced_rate, r->n, r->paced_lost, r->paced_cpu);
	for (int e = 0; e < 2; e++)
		printf("{\"bench\":\"history\",\"engine\":\"%s\",\"events\":%ld,\"ingest_per_s\":%.0f,"
		       "\"ingest_writer_kept_per_s\":%.0f,\"ingest_writer_loop_per_s\":%.0f,"
		       "\"ingest_writer_lost\":%.0f,\"ingest_cpu_us\":%.3f,\"loop_cpu_us\":%.3f,"
		       "\"bytes_per_event\":%.1f,\"since1h_port443_ms\":%.1f,\"since1h_all_ms\":%.1f,"
		       "\"host_all_ms\":%.1f,\"open_ms\":%.2f,\"ingest_ratio\":%.3f,"
		       "\"baseline\":\"sqlite\",\"rounds\":%d}\n",
		       e ? "sqlite" : "history", r->n, med(&r->ingest[e]), e ? 0 : med(&r->w_kept),
		       e ? 0 : med(&r->w_loop), e ? 0 : med(&r->w_lost), med(&r->cpu[e]),
		       e ? med(&r->cpu[1]) : med(&r->w_loop_cpu), med(&r->bytes[e]),
		       med(&r->q[Q_PORT][e]), med(&r->q[Q_HOUR][e]), med(&r->q[Q_HOST][e]),
		       med(&r->open[e]), med(&r->ingest[e]) / med(&r->ingest[1]), rounds);
}

/* ---- the runs ------------------------------------------------------------------------------- */

struct filters {
	struct flow_filter_set *port, *host; /* --to-port 443, --to-ip HOST */
};

static struct flow_filter_set *compile(const char *flag, const char *value)
{
	struct flow_filter_set *fs;
	struct filter_req r;
	struct errmsg e = {""};
	int err;

	filter_req_init(&r, FILTER_AS_FLAG);
	err = filter_req_add_named(&r, flag, value, &e) ?: flow_filter_set_from_req(&r, &fs, &e);
	filter_req_free(&r);
	if (err || !fs)
		die(flag, errmsg_text(&e, err ? err : -EINVAL));
	return fs;
}

/* The three queries on both engines, in the order of the round; counts checked. */
static void query_round(struct results *res, const struct truth *t, const struct filters *fl,
			const char *hdir, const char *spath, int r)
{
	const long want[NQ] = {t->hour443, t->hour, t->host};
	struct history *h = hist_open(hdir, false, 0);
	struct sq_db s;

	sq_db_open(&s, spath);
	for (int q = 0; q < NQ; q++) {
		const struct flow_filter_set *fs = q == Q_PORT	 ? fl->port
						   : q == Q_HOST ? fl->host
								 : NULL;
		uint64_t since = q == Q_HOST ? 0 : t->since;

		for (int k = 0; k < 2; k++) {
			int e = (k + r + q) % 2;
			long got, bad = 0;
			double t0 = now_s();

			got = e ? sq_query(&s, (enum query)q, since, fs, NULL, &bad)
				: hist_query(h, since, fs);
			add(&res->q[q][e], (now_s() - t0) * 1e3);
			check(got == want[q] && !bad, "%s, %ld events: %s found %ld, want %ld",
			      query_names[q], t->n, e ? "sqlite" : "history", got, want[q]);
		}
	}
	sqlite3_close(s.db);
	history_close(h);
}

static void startup_round(struct results *res, const char *hdir, const char *spath, long n)
{
	struct history_stats st;
	long events;

	add(&res->open[0], hist_startup(hdir, 0, &st));
	add(&res->open[1], sqlite_startup(spath, &events));
	check(st.events == (uint64_t)n && st.oldest_ns && st.newest_ns > st.oldest_ns,
	      "history_get_stats after open: %llu events, want %ld", (unsigned long long)st.events,
	      n);
	check(events == n, "sqlite after open: %ld events, want %ld", events, n);
}

static void add_ingest(struct results *res, int e, const struct ingest *in)
{
	add(&res->ingest[e], in->rate);
	add(&res->cpu[e], in->cpu_us);
	add(&res->bytes[e], in->bytes);
}

/* Rounds of N events: each round ingests with the three writers in turn (the order rotating),
 * then queries and opens the stores. The writer thread's store may have lost blocks (the loop
 * appends faster than any disk): the queries read the foreground one. */
static void run_rounds(struct results *res, const struct truth *t, const struct filters *fl,
		       const char *tmp, int rounds)
{
	char wdir[300], fgdir[300], spath[300];

	snprintf(wdir, sizeof(wdir), "%s/history", tmp);
	snprintf(fgdir, sizeof(fgdir), "%s/history-fg", tmp);
	snprintf(spath, sizeof(spath), "%s/sqlite.db", tmp);
	res->n = t->n;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 3; k++) {
			int e = (k + r) % 3;
			struct ingest in;

			if (e == 0) {
				hist_ingest(wdir, t->n, false, false, 0, &in);
				add(&res->w_kept, in.rate);
				add(&res->w_loop, in.loop_rate);
				add(&res->w_loop_cpu, in.loop_cpu_us);
				add(&res->w_cpu, in.cpu_us);
				add(&res->w_lost, (double)(t->n - in.kept));
			} else if (e == 1) {
				hist_ingest(fgdir, t->n, true, false, 0, &in);
				add_ingest(res, 0, &in);
			} else {
				sqlite_ingest(spath, t->n, &in);
				add_ingest(res, 1, &in);
			}
			check(!in.errors, "ingest %d: %ld appends failed", e, in.errors);
		}
		if (r == 0) {
			hist_verify(fgdir, t->n, "foreground");
			sqlite_verify(spath, t->n);
		}
		query_round(res, t, fl, fgdir, spath, r);
		startup_round(res, fgdir, spath, t->n);
		remove_dir(wdir);
		remove_dir(fgdir);
		remove_sqlite(spath);
	}
}

/* BIG events: ingested once per engine (the history in the foreground: every event kept), then
 * queried and opened in rounds. */
static void run_big(struct results *res, const struct truth *t, const struct filters *fl,
		    const char *tmp, int rounds, double *block_bytes)
{
	char hdir[300], spath[300];
	struct history_stats st;
	struct ingest in;

	snprintf(hdir, sizeof(hdir), "%s/history-big", tmp);
	snprintf(spath, sizeof(spath), "%s/sqlite-big.db", tmp);
	res->n = t->n;
	res->once = true;
	hist_ingest(hdir, t->n, true, false, 0, &in);
	check(!in.errors && in.kept == t->n, "ingest of %ld: %ld appends failed, %ld kept", t->n,
	      in.errors, in.kept);
	add_ingest(res, 0, &in);
	sqlite_ingest(spath, t->n, &in);
	check(!in.errors, "sqlite ingest of %ld: %ld inserts failed", t->n, in.errors);
	add_ingest(res, 1, &in);
	for (int r = 0; r < rounds; r++) {
		query_round(res, t, fl, hdir, spath, r);
		startup_round(res, hdir, spath, t->n);
	}
	hist_startup(hdir, 0, &st);
	*block_bytes = st.blocks ? (double)st.bytes / (double)st.blocks : 0;
	remove_dir(hdir);
	remove_sqlite(spath);
}

struct startup {
	uint64_t bytes, events, blocks, typical_blocks;
	uint32_t block_events;
	double build_s;
	struct series warm, cold;
};

/* A real store of mib MiB: events with random names, in blocks of the byte size the store of
 * the events above has (block_bytes), so that it holds as many blocks as a store of those
 * would at that size (opening reads every block's header). */
static void run_startup(struct startup *su, const char *tmp, uint64_t mib, double block_bytes,
			int rounds)
{
	char dir[300];
	struct ingest in;
	struct history_stats st;
	double per_event, t0;
	long n;

	snprintf(dir, sizeof(dir), "%s/history-startup", tmp);
	hist_ingest(dir, 8192, true, true, 0, &in); /* what one fat event costs on disk */
	remove_dir(dir);
	per_event = in.bytes;
	su->block_events = (uint32_t)(block_bytes / per_event);
	if (su->block_events < 64)
		su->block_events = 64;
	n = (long)((double)(mib << 20) / per_event);
	t0 = now_s();
	hist_ingest(dir, n, true, true, su->block_events, &in);
	su->build_s = now_s() - t0;
	check(!in.errors, "startup store: %ld appends failed", in.errors);
	for (int r = 0; r < rounds; r++) {
		add(&su->warm, hist_startup(dir, su->block_events, &st));
		dir_bytes(dir, true);
		add(&su->cold, hist_startup(dir, su->block_events, &st));
		check(st.events == (uint64_t)n && !st.lost && !st.damaged_blocks,
		      "startup store reopened: %llu events (%llu lost), want %ld",
		      (unsigned long long)st.events, (unsigned long long)st.lost, n);
	}
	su->bytes = st.bytes;
	su->events = st.events;
	su->blocks = st.blocks;
	su->typical_blocks = (uint64_t)((double)st.bytes / block_bytes);
	remove_dir(dir);
}

static void print_mix(const struct truth *t)
{
	double n = (double)t->n / 100;

	printf("events: %.0f%% TCP (%.0f%% of events with a process), %.0f%% UDP (%.0f%% DNS messages), %.0f%% "
	       "DROPPED, %.0f%% IPv6, %.0f%% with names; %.1f%% to port 443 as published; generator "
	       "alone %.1f M events/s (included in every ingest figure)\n",
	       t->tcp / n, t->proc / n, (double)(t->n - t->tcp) / n, t->dns / n, t->dropped / n,
	       t->v6 / n, t->names / n, t->to443 / n, t->gen_rate / 1e6);
}

static void target(const char *what, bool met, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void target(const char *what, bool met, const char *fmt, ...)
{
	va_list ap;

	printf("target %-46s %-7s ", what, met ? "met" : "MISSED");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void print_targets(const struct results *small, const struct results *big,
			  const struct startup *su)
{
	const struct results *q = big->n ? big : small;
	double fg = med(&small->ingest[0]), kept = med(&small->w_kept), bytes = med(&q->bytes[0]);

	target("ingest >= 200000 events/s on one core:",
	       fg >= TARGET_INGEST && kept >= TARGET_INGEST && !small->paced_lost,
	       "%.0f events/s in the foreground (one core does everything), %.0f kept with the "
	       "writer thread; %ld lost at %.0f offered",
	       fg, kept, small->paced_lost, small->paced_rate);
	target("<= 64 B per event on disk:", bytes <= 64, "%.1f B at %ld events", bytes, q->n);
	target("since 1h to-port 443 over 10 M <= 1 s:", med(&q->q[Q_PORT][0]) <= 1000,
	       "%.1f ms at %ld events", med(&q->q[Q_PORT][0]), q->n);
	if (su->events)
		target("startup with 1 GiB < 1 s:", med(&su->cold) < 1000 && med(&su->warm) < 1000,
		       "%.1f ms warm, %.1f ms cold (worst %.1f), %.2f GiB", med(&su->warm),
		       med(&su->cold), hi(&su->cold), (double)su->bytes / (1 << 30));
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 3;
	long n = argc > 2 ? atol(argv[2]) : 1000000, big = argc > 3 ? atol(argv[3]) : 10000000;
	long mib = argc > 4 ? atol(argv[4]) : 1024;
	const char *tmp = tmp_dir;
	char paced[300];
	struct results small = {0}, large = {0};
	struct startup su = {0};
	struct truth ts, tb;
	struct filters fl;
	double block_bytes = 0;

	if (rounds < 1 || rounds > MAX_ROUNDS || n < 10000 || n > 100000000 ||
	    (big && (big < 10000 || big > 100000000)) || mib < 0 || mib > 65536) {
		fprintf(stderr,
			"usage: %s [ROUNDS (1..%d) [N (10000..1e8) [BIG (0, 10000..1e8) "
			"[STARTUP_MIB (0..65536)]]]]\n",
			argv[0], MAX_ROUNDS);
		return 2;
	}
	if (!mkdtemp(tmp_dir))
		die("mkdtemp", strerror(errno));
	atexit(cleanup);
	logmsg_set_sink(on_log, NULL);
	tables_init();
	fl.port = compile("to-port", "443");
	fl.host = compile("to-ip", HOST);
	truth_of(n, &ts);
	printf("History engines: the real store (collector/history) against SQLite (WAL, "
	       "synchronous=FULL, rows of query columns + the history's record), durable ingest "
	       "(sync/commit every 1 s of wall time, close at the end)\n");
	print_mix(&ts);
	run_rounds(&small, &ts, &fl, tmp, rounds);
	small.paced_rate = 2 * TARGET_INGEST;
	snprintf(paced, sizeof(paced), "%s/history-paced", tmp);
	small.paced_lost = hist_paced(paced, n, small.paced_rate, &small.paced_cpu);
	print_results(&small, &ts, rounds);
	if (big) {
		truth_of(big, &tb);
		run_big(&large, &tb, &fl, tmp, rounds, &block_bytes);
		print_results(&large, &tb, rounds);
	}
	if (mib) {
		if (!block_bytes)
			block_bytes = med(&small.bytes[0]) * HISTORY_BLOCK_EVENTS;
		run_startup(&su, tmp, (uint64_t)mib, block_bytes, rounds);
		printf("startup on a real store of %.2f GiB (%llu events with random 120-byte names in "
		       "%llu blocks of %u events, built in %.1f s; a store of the events above that "
		       "size would hold %llu blocks): history_open + history_get_stats, ms\n",
		       (double)su.bytes / (1 << 30), (unsigned long long)su.events,
		       (unsigned long long)su.blocks, su.block_events, su.build_s,
		       (unsigned long long)su.typical_blocks);
		printf("  warm %s, cold (the store's pages dropped with posix_fadvise) %s\n",
		       fmt_series(&su.warm, 1, (char[64]){0}, 64),
		       fmt_series(&su.cold, 1, (char[64]){0}, 64));
		printf("{\"bench\":\"history\",\"engine\":\"history\",\"startup_bytes\":%llu,"
		       "\"startup_blocks\":%llu,\"open_warm_ms\":%.2f,\"open_cold_ms\":%.2f,"
		       "\"rounds\":%d}\n",
		       (unsigned long long)su.bytes, (unsigned long long)su.blocks, med(&su.warm),
		       med(&su.cold), rounds);
	}
	print_targets(&small, &large, &su);
	check(!warnings, "the history logged %d warnings", warnings);
	flow_filter_set_free(fl.port);
	flow_filter_set_free(fl.host);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
