/* Tests of the HTTP API (export/http_server.c) over real loopback connections: the server runs
 * on its own libuv loop in a thread (as in test_grpc.c), flows are injected there as probe
 * records (TC records, and a drop record for a DROPPED verdict), a service graph is fed from
 * the bus, and clients are plain blocking sockets speaking HTTP/1.1 (chunked bodies decoded).
 * Covers last-N with every kind of filter, errors (400/404/405 with JSON bodies), Server-Sent
 * Events with filters, a stalled SSE client next to a live one (bounded queue, lost-event
 * accounting), the graph endpoint and the dashboard's static files with path checks. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "flowscope/record.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/graph/graph.h"
#include "flowscope/serve/http_server.h"
#include "loop_thread.h"
#include "observer.pb-c.h"

/* ---- the server thread --------------------------------------------------------------------- */

static struct {
	struct loop_thread t;
	struct http_server *srv;
	uint16_t port;
} S;

static const char *server_token;   /* the token the next server_start() requires, or NULL */
static unsigned int server_idle_s; /* the next server_start()'s idle timeout (0: default) */
static char web_root[64];	   /* mkdtemp directory of the static-file tests */
static char web_dir[96];	   /* web_root/www: the server's web_dir */

static void on_loop(void (*fn)(void *), void *arg)
{
	loop_thread_run(&S.t, fn, arg);
}

static void stop_server(void *ctx)
{
	(void)ctx;
	http_server_stop(S.srv);
}

static void server_start(uint32_t follow_queue, const char *web)
{
	static const char *const allow[] = {"flows.test"};
	struct http_server_opts o = {.addr = "127.0.0.1",
				     .follow_queue = follow_queue,
				     .web_dir = web,
				     .allow_hosts = allow,
				     .n_allow_hosts = 1,
				     .token = server_token,
				     .token_file = server_token ? "/run/test/token" : NULL,
				     .idle_timeout_s = server_idle_s};
	struct errmsg e = {""};
	int err = -1, tries;

	memset(&S, 0, sizeof(S));
	loop_thread_init(&S.t, 100000, true);
	o.followers = S.t.hub;
	o.status = &S.t.status;
	o.graph = S.t.graph;
	for (tries = 0; tries < 5 && err; tries++) {
		S.port = o.port = loop_thread_free_port();
		err = http_server_start(&S.srv, &S.t.loop, &o, &e);
	}
	ck_assert_msg(err == 0, "http_server_start: %s", e.text);
	S.t.on_stop = stop_server;
	loop_thread_start(&S.t);
}

static void server_stop(void)
{
	loop_thread_stop(&S.t);
}

static uint64_t col_stat(size_t off)
{
	struct collector_stats st;

	collector_get_stats(S.t.col, &st);
	return *(uint64_t *)((char *)&st + off);
}

static void do_count_subs(void *arg)
{
	*(unsigned int *)arg = flow_bus_count(S.t.bus);
}

static unsigned int subscribers(void)
{
	unsigned int n;

	on_loop(do_count_subs, &n);
	return n;
}

/* Waits until the bus has n subscribers: the graph plus n - 1 HTTP followers. */
static void wait_subscribers(unsigned int n)
{
	int i;

	for (i = 0; i < 500 && subscribers() != n; i++)
		usleep(10000);
	ck_assert_uint_eq(subscribers(), n);
}

/* ---- injecting flows ----------------------------------------------------------------------- */

struct fspec {
	const char *src, *dst;
	int sport, dport, proto;
};

/* The canonical key of src:sport -> dst:dport (lower endpoint first) and the key index of
 * the initiator. */
static int make_key(struct flow_key *k, const uint8_t src[4], const uint8_t dst[4], int sport,
		    int dport, int proto)
{
	int c = memcmp(src, dst, 4), init = c > 0 || (c == 0 && sport > dport);

	memset(k, 0, sizeof(*k));
	memcpy(k->addr[init], src, 4);
	memcpy(k->addr[!init], dst, 4);
	k->port[init] = (uint16_t)sport;
	k->port[!init] = (uint16_t)dport;
	k->ifindex = 1;
	k->proto = (uint8_t)proto;
	k->family = 4;
	return init;
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A flow's first packet (TCP: its SYN), sent by src. Runs on the loop. */
static void feed_start(const uint8_t src[4], const uint8_t dst[4], int sport, int dport, int proto)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.type = FLOW_REC_TC;
	r.version = FLOW_RECORD_VERSION;
	r.events = FLOW_EV_START;
	r.state.init_side = (uint8_t)make_key(&r.key, src, dst, sport, dport, proto);
	r.ts_ns = boot_ns();
	r.pkt_len = 100;
	r.tc_dir = FLOW_TC_EGRESS;
	r.state.init_tc_dir = FLOW_TC_EGRESS;
	r.state.first_seen_ns = r.ts_ns; /* no ticks: last seen = first seen */
	r.state.packets[0] = 1;
	r.state.bytes[0] = 100;
	if (proto == IPPROTO_TCP) {
		r.events |= FLOW_EV_TCP_FLAGS;
		r.pkt_tcp_flags = FLOW_TCP_SYN;
		r.state.tcp_flags[0] = FLOW_TCP_SYN;
	}
	ck_assert_int_eq(collector_handle_record(S.t.col, &r, sizeof(r)), 0);
}

static void addr4(const char *s, uint8_t a[4])
{
	ck_assert_int_eq(inet_pton(AF_INET, s, a), 1);
}

struct spec_job {
	const struct fspec *f;
	int n;
	int drop; /* feed drop records instead of TC records */
};

static void do_specs(void *arg)
{
	struct spec_job *j = arg;
	int i;

	for (i = 0; i < j->n; i++) {
		const struct fspec *f = &j->f[i];
		uint8_t s[4], d[4];

		addr4(f->src, s);
		addr4(f->dst, d);
		if (!j->drop) {
			feed_start(s, d, f->sport, f->dport, f->proto);
		} else {
			struct flow_drop_record r;
			uint64_t drops = col_stat(offsetof(struct collector_stats, drop_records)),
				 untracked;

			memset(&r, 0, sizeof(r));
			r.type = FLOW_REC_DROP;
			r.version = FLOW_RECORD_VERSION;
			r.reason = 2; /* any number */
			r.sender = (uint8_t)make_key(&r.key, s, d, f->sport, f->dport, f->proto);
			r.key.ifindex = 0; /* drops are matched by tuple */
			r.ts_ns = boot_ns();
			r.count = 1;
			untracked = col_stat(offsetof(struct collector_stats, drops_untracked));
			ck_assert_int_eq(collector_handle_record(S.t.col, &r, sizeof(r)), 0);
			ck_assert_uint_eq(col_stat(offsetof(struct collector_stats, drop_records)),
					  drops + 1);
			ck_assert_uint_eq(
				col_stat(offsetof(struct collector_stats, drops_untracked)),
				untracked); /* it matched */
		}
	}
}

static void inject_specs(const struct fspec *f, int n, int drop)
{
	struct spec_job j = {f, n, drop};

	on_loop(do_specs, &j);
}

/* Bulk: UDP 10.0.H.1:P -> 10.0.0.2:53 for "port" numbers H * 65536 + P (as in test_grpc). */
struct range_job {
	int first, n;
};

static void do_range(void *arg)
{
	struct range_job *j = arg;
	int i;

	for (i = 0; i < j->n; i++) {
		int port = j->first + i;
		uint8_t s[4] = {10, 0, (uint8_t)(port >> 16), 1}, d[4] = {10, 0, 0, 2};

		feed_start(s, d, port & 0xffff, 53, IPPROTO_UDP);
	}
}

static void inject_range(int first, int n)
{
	struct range_job j = {first, n};

	on_loop(do_range, &j);
}

/* The base set: 5 UDP flows to 10.0.0.2:53, 4 TCP flows 10.0.0.3 -> 10.0.0.2:8080, then the
 * UDP flow from port 1002 is dropped (which also makes it the most recently updated flow).
 * Store order, oldest first: 1000 1001 1003 1004 2000 2001 2002 2003 1002. */
static const struct fspec base_flows[] = {
	{"10.0.0.1", "10.0.0.2", 1000, 53, IPPROTO_UDP},
	{"10.0.0.1", "10.0.0.2", 1001, 53, IPPROTO_UDP},
	{"10.0.0.1", "10.0.0.2", 1002, 53, IPPROTO_UDP},
	{"10.0.0.1", "10.0.0.2", 1003, 53, IPPROTO_UDP},
	{"10.0.0.1", "10.0.0.2", 1004, 53, IPPROTO_UDP},
	{"10.0.0.3", "10.0.0.2", 2000, 8080, IPPROTO_TCP},
	{"10.0.0.3", "10.0.0.2", 2001, 8080, IPPROTO_TCP},
	{"10.0.0.3", "10.0.0.2", 2002, 8080, IPPROTO_TCP},
	{"10.0.0.3", "10.0.0.2", 2003, 8080, IPPROTO_TCP},
};

static void inject_base(void)
{
	inject_specs(base_flows, 9, 0);
	inject_specs(&base_flows[2], 1, 1);
}

/* ---- an HTTP/1.1 client on a plain socket -------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct hconn {
	int fd;
	char *raw; /* received, not yet decoded */
	size_t rlen, rcap;
	int have_head, status, chunked, eof;
	long clen; /* Content-Length, -1: none */
	char head[8192];
	int cstate; /* chunked decoding: 0 size line, 1 data, 2 CRLF after data, 3 last chunk seen
		     */
	size_t chunk_left;
	char *body; /* decoded body, NUL-terminated; [boff, blen) not yet consumed */
	size_t blen, bcap, boff;
};

static void grow_append(char **p, size_t *len, size_t *cap, const void *d, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;

		while (*len + n + 1 > c)
			c *= 2;
		*p = realloc(*p, c);
		ck_assert_ptr_nonnull(*p);
		*cap = c;
	}
	memcpy(*p + *len, d, n);
	*len += n;
	(*p)[*len] = '\0';
}

static void raw_consume(struct hconn *c, size_t n)
{
	memmove(c->raw, c->raw + n, c->rlen - n);
	c->rlen -= n;
}

/* Copies the value of header name (case-insensitive) from head into out; 1 if present. */
static int header(const char *head, const char *name, char *out, size_t len)
{
	const char *l = strstr(head, "\r\n");
	size_t nl = strlen(name);

	while (l && l[2] != '\r') {
		const char *e;

		l += 2;
		e = strstr(l, "\r\n");
		if (!e)
			break;
		if (!strncasecmp(l, name, nl) && l[nl] == ':') {
			const char *v = l + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)(e - v), v);
			return 1;
		}
		l = e;
	}
	return 0;
}

static void hc_decode(struct hconn *c)
{
	if (!c->have_head) {
		char *e = c->raw ? memmem(c->raw, c->rlen, "\r\n\r\n", 4) : NULL;
		char v[256];
		size_t hl;

		if (!e)
			return;
		hl = (size_t)(e - c->raw) + 4;
		ck_assert_uint_lt(hl, sizeof(c->head));
		memcpy(c->head, c->raw, hl);
		c->head[hl] = '\0';
		raw_consume(c, hl);
		c->have_head = 1;
		ck_assert_msg(sscanf(c->head, "HTTP/1.1 %d ", &c->status) == 1,
			      "bad status line: %s", c->head);
		c->chunked = header(c->head, "Transfer-Encoding", v, sizeof(v)) &&
			     strcasestr(v, "chunked");
		c->clen = header(c->head, "Content-Length", v, sizeof(v)) ? atol(v) : -1;
		grow_append(&c->body, &c->blen, &c->bcap, "", 0);
	}
	if (!c->chunked) {
		grow_append(&c->body, &c->blen, &c->bcap, c->raw, c->rlen);
		c->rlen = 0;
		return;
	}
	for (;;) {
		if (c->cstate == 0) {
			char *e = c->rlen ? memmem(c->raw, c->rlen, "\r\n", 2) : NULL;
			char *end;
			unsigned long n;

			if (!e)
				return;
			n = strtoul(c->raw, &end, 16);
			ck_assert_msg(end != c->raw && (end == e || *end == ';'), "bad chunk size");
			raw_consume(c, (size_t)(e - c->raw) + 2);
			c->chunk_left = n;
			c->cstate = n ? 1 : 3;
		} else if (c->cstate == 1) {
			size_t n = c->chunk_left < c->rlen ? c->chunk_left : c->rlen;

			if (!n)
				return;
			grow_append(&c->body, &c->blen, &c->bcap, c->raw, n);
			raw_consume(c, n);
			c->chunk_left -= n;
			if (!c->chunk_left)
				c->cstate = 2;
		} else if (c->cstate == 2) {
			if (c->rlen < 2)
				return;
			ck_assert_msg(c->raw[0] == '\r' && c->raw[1] == '\n',
				      "no CRLF after chunk");
			raw_consume(c, 2);
			c->cstate = 0;
		} else {
			return; /* the last chunk: trailers are ignored */
		}
	}
}

/* Reads what arrives within timeout_ms: 1 when something did, 0 on timeout, -1 at EOF. */
static int hc_pump(struct hconn *c, int timeout_ms)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	char tmp[65536];
	ssize_t n;

	if (c->eof)
		return -1;
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	n = read(c->fd, tmp, sizeof(tmp));
	if (n <= 0) {
		c->eof = 1;
		return -1;
	}
	grow_append(&c->raw, &c->rlen, &c->rcap, tmp, (size_t)n);
	hc_decode(c);
	return 1;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		ck_assert_int_gt(w, 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Connects and sends "METHOD path" with the extra header lines (each ending in CRLF). */
static struct hconn *hc_open(const char *method, const char *path, const char *extra,
			     const char *body)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
	struct hconn *c = calloc(1, sizeof(*c));
	/* Host: 127.0.0.1 unless extra has a Host line of its own. */
	const char *host =
		extra && (!strncasecmp(extra, "Host:", 5) || strcasestr(extra, "\nHost:"))
			? ""
			: "Host: 127.0.0.1\r\n";
	char req[4096];
	int n;

	ck_assert_ptr_nonnull(c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(c->fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);

	if (body)
		n = snprintf(req, sizeof(req),
			     "%s %s HTTP/1.1\r\n%s%sContent-Length: %zu\r\n\r\n%s", method, path,
			     host, extra ? extra : "", strlen(body), body);
	else
		n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\n%s%s\r\n", method, path, host,
			     extra ? extra : "");
	ck_assert_int_lt(n, (int)sizeof(req));
	send_all(c->fd, req, (size_t)n);
	return c;
}

static void hc_close(struct hconn *c)
{
	close(c->fd);
	free(c->raw);
	free(c->body);
	free(c);
}

static void hc_wait_head(struct hconn *c, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (!c->have_head && now_ms() < end && hc_pump(c, 10) >= 0)
		;
	ck_assert_msg(c->have_head, "no response head within %d ms", timeout_ms);
}

/* A one-shot request (Connection: close): reads the whole response. */
static struct hconn *request(const char *method, const char *path, const char *extra,
			     const char *body)
{
	char hdrs[1024];
	struct hconn *c;
	uint64_t end = now_ms() + 5000;

	snprintf(hdrs, sizeof(hdrs), "Connection: close\r\n%s", extra ? extra : "");
	c = hc_open(method, path, hdrs, body);
	while (now_ms() < end && hc_pump(c, 10) >= 0)
		;
	ck_assert_msg(c->eof, "%s %s: the server did not finish within 5 s", method, path);
	ck_assert_msg(c->have_head, "%s %s: no response", method, path);
	if (c->chunked)
		ck_assert_int_eq(c->cstate, 3);
	else if (c->clen >= 0)
		ck_assert_int_eq((long)c->blen, c->clen);
	return c;
}

static struct hconn *get(const char *path)
{
	return request("GET", path, NULL, NULL);
}

static int has_ctype(const struct hconn *c, const char *prefix)
{
	char v[256];

	return header(c->head, "Content-Type", v, sizeof(v)) && !strncmp(v, prefix, strlen(prefix));
}

/* The next message ending in sep ("\n" for NDJSON, "\n\n" for SSE) into out, without
 * waiting longer than timeout_ms: its length, 0 on timeout, -1 at EOF. */
static int next_msg(struct hconn *c, const char *sep, char *out, size_t size, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	if (c->boff) {
		memmove(c->body, c->body + c->boff, c->blen - c->boff);
		c->blen -= c->boff;
		c->boff = 0;
		c->body[c->blen] = '\0';
	}
	for (;;) {
		char *e = c->blen ? memmem(c->body, c->blen, sep, strlen(sep)) : NULL;
		uint64_t now;
		int r;

		if (e) {
			size_t n = (size_t)(e - c->body) + strlen(sep);

			ck_assert_uint_lt(n, size);
			memcpy(out, c->body, n);
			out[n] = '\0';
			c->boff = n;
			return (int)n;
		}
		now = now_ms();
		if (now >= end)
			return 0;
		r = hc_pump(c, (int)(end - now));
		if (r < 0)
			return -1;
	}
}

/* ---- parsing flows (minimal, but exact about what it looks at) ------------------------------ */

struct line {
	int sport, dport; /* sport: for 10.0.H.x sources, H * 65536 + the source port */
	char src[32], dst[32], proto[8], verdict[16];
};

static void str_field(const char *json, const char *key, char *out, size_t len)
{
	const char *p = strstr(json, key);
	const char *e;

	ck_assert_msg(p, "no %s in %s", key, json);
	p += strlen(key);
	e = strchr(p, '"');
	ck_assert_ptr_nonnull(e);
	snprintf(out, len, "%.*s", (int)(e - p), p);
}

static int int_field(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	ck_assert_msg(p, "no %s in %s", key, json);
	return atoi(p + strlen(key));
}

/* Parses one flow JSON object ({"flow":{...},...}). */
static void parse_flow(const char *json, struct line *l)
{
	uint8_t a[4];
	const char *l4;

	ck_assert_msg(!strncmp(json, "{\"flow\":{", 9), "not a flow: %s", json);
	str_field(json, "\"IP\":{\"source\":\"", l->src, sizeof(l->src));
	str_field(json, "\"destination\":\"", l->dst, sizeof(l->dst));
	str_field(json, "\"verdict\":\"", l->verdict, sizeof(l->verdict));
	l4 = strstr(json, "\"l4\":{\"");
	ck_assert_ptr_nonnull(l4);
	str_field(l4, "\"l4\":{\"", l->proto, sizeof(l->proto));
	l->sport = int_field(l4, "\"source_port\":");
	l->dport = int_field(l4, "\"destination_port\":");
	ck_assert_int_eq(inet_pton(AF_INET, l->src, a), 1);
	l->sport |= a[2] << 16;
}

#define MAX_LINES 64

/* GET /api/v1/flows?query: the NDJSON lines as parsed flows; returns their number. */
static int get_flows(const char *query, struct line *out)
{
	char path[512];
	struct hconn *c;
	char *p, *nl;
	int n = 0;

	snprintf(path, sizeof(path), "/api/v1/flows?%s", query);
	c = get(path);
	ck_assert_msg(c->status == 200, "%s: status %d: %s", path, c->status, c->body);
	ck_assert_msg(has_ctype(c, "application/x-ndjson"), "%s: %s", path, c->head);
	for (p = c->body; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_msg(nl, "%s: unterminated line", path);
		*nl = '\0';
		ck_assert_msg(nl > p && nl[-1] == '}', "%s: line is not an object: %s", path, p);
		ck_assert_int_lt(n, MAX_LINES);
		parse_flow(p, &out[n++]);
	}
	hc_close(c);
	return n;
}

/* The query returns exactly the flows with these source ports, in this order. */
static void expect_ports(const char *query, const int *ports, int n)
{
	struct line l[MAX_LINES];
	int got = get_flows(query, l), i;

	ck_assert_msg(got == n, "%s: %d flows, want %d", query, got, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(l[i].sport == ports[i], "%s: flow %d has source port %d, want %d",
			      query, i, l[i].sport, ports[i]);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void setup(void)
{
	server_start(0, NULL); /* default follow queue: 4096 */
}

static void setup_idle_1s(void)
{
	server_idle_s = 1;
	server_start(0, NULL);
	server_idle_s = 0;
}

static void setup_small_queue(void)
{
	server_start(64, NULL);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static const char index_html[] = "<!doctype html><title>flowscope test</title><p>hello</p>\n";
static const char app_js[] = "console.log(\"flowscope test\");\n";

/* web_root/www holds the dashboard; web_root/secret.txt lies next to it, outside. Created
 * and removed by the parent process (unchecked fixture) so that a failing test leaves nothing
 * behind. */
static void make_web_dir(void)
{
	char p[128];

	snprintf(web_root, sizeof(web_root), "/tmp/flowscope-web-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(web_root));
	snprintf(web_dir, sizeof(web_dir), "%s/www", web_root);
	ck_assert_int_eq(mkdir(web_dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub", web_dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	write_file(web_dir, "index.html", index_html);
	write_file(web_dir, "app.js", app_js);
	write_file(web_dir, ".hidden", "hidden-secret\n");
	write_file(web_root, "secret.txt", "outside-secret\n");
}

static void remove_web_dir(void)
{
	const char *files[] = {"www/index.html", "www/app.js", "www/.hidden", "secret.txt"};
	char p[160];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", web_root, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/www/sub", web_root);
	rmdir(p);
	rmdir(web_dir);
	rmdir(web_root);
}

#define TOKEN "t0ken-Of_the.test~+/="
#define TOKEN_Q "t0ken-Of_the.test~%2B%2F%3D" /* in a query: '+' would be a space */

static void setup_token(void)
{
	server_token = TOKEN;
	server_start(0, NULL);
	server_token = NULL;
}

static void setup_web(void)
{
	server_start(0, web_dir);
}

static void teardown(void)
{
	server_stop();
}

START_TEST(last_n_with_filters)
{
	static const int all[] = {1000, 1001, 1003, 1004, 2000, 2001, 2002, 2003, 1002};
	static const int tcp[] = {2000, 2001, 2002, 2003}, udp[] = {1000, 1001, 1003, 1004, 1002};
	struct line l[MAX_LINES];
	int n, i;

	inject_base();

	/* The per-flow view: one line per flow in its latest state, oldest first. Everything
	 * (the default last is 20), fields as injected. */
	expect_ports("per_flow=1", all, 9);
	n = get_flows("per_flow=1&last=100", l);
	ck_assert_int_eq(n, 9);
	for (i = 0; i < n; i++) {
		int is_tcp = l[i].sport >= 2000;

		ck_assert_str_eq(l[i].src, is_tcp ? "10.0.0.3" : "10.0.0.1");
		ck_assert_str_eq(l[i].dst, "10.0.0.2");
		ck_assert_int_eq(l[i].dport, is_tcp ? 8080 : 53);
		ck_assert_str_eq(l[i].proto, is_tcp ? "TCP" : "UDP");
		ck_assert_str_eq(l[i].verdict, l[i].sport == 1002 ? "DROPPED" : "FORWARDED");
	}

	/* Ports, addresses, protocols, verdicts. */
	n = get_flows("per_flow=1&last=100&to_port=8080", l);
	ck_assert_int_eq(n, 4);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(l[i].sport, tcp[i]);
		ck_assert_int_eq(l[i].dport, 8080);
	}
	expect_ports("per_flow=1&last=100&port=8080", tcp, 4);
	expect_ports("per_flow=1&last=100&from_ip=10.0.0.3", tcp, 4);
	expect_ports("per_flow=1&last=100&to_port=53", udp, 5);
	expect_ports("per_flow=1&last=100&port=53", udp, 5);
	expect_ports("per_flow=1&last=100&ip=10.0.0.1", udp, 5);
	expect_ports("per_flow=1&last=100&ip=10.0.0.2", all, 9); /* both sets go to 10.0.0.2 */
	expect_ports("per_flow=1&last=100&to_ip=10.0.0.2", all, 9);
	expect_ports("per_flow=1&last=100&to_ip=10.0.0.1", NULL,
		     0); /* from_/to_ keep the direction */
	expect_ports("per_flow=1&last=100&from_port=8080", NULL, 0);
	expect_ports("per_flow=1&last=100&to_port=8080&from_port=2001", (const int[]){2001}, 1);
	expect_ports("per_flow=1&last=100&from_port=2001&from_port=1003", (const int[]){1003, 2001},
		     2);
	n = get_flows("per_flow=1&last=100&protocol=udp", l);
	ck_assert_int_eq(n, 5);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(l[i].sport, udp[i]);
		ck_assert_str_eq(l[i].proto, "UDP");
	}
	expect_ports("per_flow=1&last=100&protocol=tcp", tcp, 4);
	n = get_flows("per_flow=1&last=100&verdict=DROPPED", l);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(l[0].sport, 1002);
	ck_assert_str_eq(l[0].verdict, "DROPPED");
	expect_ports("per_flow=1&last=100&verdict=FORWARDED",
		     (const int[]){1000, 1001, 1003, 1004, 2000, 2001, 2002, 2003}, 8);
	expect_ports("per_flow=1&last=100&namespace=default", NULL, 0); /* no pods known */

	/* More than the store holds: everything stored, as `flowctl --last N` and Hubble do. */
	expect_ports("per_flow=1&last=100001", all, 9);
	expect_ports("per_flow=1&last=4294967295", all, 9);
	/* The filter language's rules, as flowctl has them: values in any case where Hubble's
	 * are, not_ keys exclude, first and since select too. */
	expect_ports("per_flow=1&last=100&verdict=dropped", (const int[]){1002}, 1);
	expect_ports("per_flow=1&last=100&protocol=UDP", udp, 5);
	expect_ports("per_flow=1&last=100&not_to_port=53", tcp, 4);
	/* not_ keys form one deny filter, whose fields must all match (Hubble's --not). */
	expect_ports("per_flow=1&last=100&not_protocol=tcp&not_from_port=2000",
		     (const int[]){1000, 1001, 1003, 1004, 2001, 2002, 2003, 1002}, 8);
	expect_ports("per_flow=1&last=100&not_protocol=udp&not_from_port=2000", all, 9);
	expect_ports("per_flow=1&first=2", (const int[]){1000, 1001}, 2);
	expect_ports("per_flow=1&first=2&protocol=tcp", (const int[]){2000, 2001}, 2);
	expect_ports("per_flow=1&since=1h", all, 9); /* a time window replaces the default count */
	expect_ports("per_flow=1&since=1h&last=2", (const int[]){2003, 1002}, 2);
	expect_ports("per_flow=1&until=1h", NULL, 0); /* an hour ago: before every flow */

	/* The newest N matching, oldest first. */
	expect_ports("per_flow=1&last=3", (const int[]){2002, 2003, 1002}, 3);
	expect_ports("per_flow=1&last=3&to_port=8080", (const int[]){2001, 2002, 2003}, 3);
	expect_ports("per_flow=1&last=1&protocol=udp", (const int[]){1002}, 1);
	expect_ports("per_flow=1&last=0", NULL, 0);

	/* Graph nodes and edges (percent-encoded or not). */
	expect_ports("per_flow=1&last=100&node=ip:10.0.0.3", tcp, 4);
	expect_ports("per_flow=1&last=100&node=ip%3A10.0.0.1", udp, 5);
	expect_ports("per_flow=1&last=100&node=ip:10.0.0.2", all, 9);
	expect_ports("per_flow=1&last=100&node=ip:10.0.0.9", NULL, 0);
	expect_ports("per_flow=1&last=100&edge=e%3Aip%3A10.0.0.3%3Eip%3A10.0.0.2", tcp, 4);
	expect_ports("per_flow=1&last=100&edge=e:ip:10.0.0.1%3Eip:10.0.0.2", udp, 5);
	expect_ports("per_flow=1&last=100&edge=e%3Aip%3A10.0.0.2%3Eip%3A10.0.0.3", NULL,
		     0); /* reversed */
	expect_ports("per_flow=1&last=2&edge=e%3Aip%3A10.0.0.3%3Eip%3A10.0.0.2&from_port=2000",
		     (const int[]){2000}, 1);

	/* format=pb: length-prefixed GetFlowsResponse messages. */
	{
		struct hconn *c = get("/api/v1/flows?per_flow=1&last=2&to_port=8080&format=pb");
		size_t off = 0;
		int k = 0;

		ck_assert_int_eq(c->status, 200);
		ck_assert(has_ctype(c, "application/x-protobuf"));
		while (off < c->blen) {
			const uint8_t *p = (const uint8_t *)c->body + off;
			size_t len;
			Observer__GetFlowsResponse *r;

			ck_assert_uint_ge(c->blen - off, 5);
			ck_assert_int_eq(p[0], 0);
			len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
			ck_assert_uint_le(len, c->blen - off - 5);
			r = observer__get_flows_response__unpack(NULL, len, p + 5);
			ck_assert_ptr_nonnull(r);
			ck_assert_ptr_nonnull(r->flow);
			ck_assert_ptr_nonnull(r->flow->l4);
			ck_assert_ptr_nonnull(r->flow->l4->tcp);
			ck_assert_uint_eq(r->flow->l4->tcp->destination_port, 8080);
			ck_assert_uint_eq(r->flow->l4->tcp->source_port, k ? 2003 : 2002);
			observer__get_flows_response__free_unpacked(r, NULL);
			off += 5 + len;
			k++;
		}
		ck_assert_int_eq(k, 2);
		hc_close(c);
	}
}
END_TEST

/* The default view: flow events in time order. The base set is 9 START events and then one
 * DROP event of the flow from port 1002: that flow shows twice, first FORWARDED, then DROPPED. */
START_TEST(events_in_time_order)
{
	static const int events[] = {1000, 1001, 1002, 1003, 1004, 2000, 2001, 2002, 2003, 1002};
	struct line l[MAX_LINES];
	int n, i;

	inject_base();
	n = get_flows("last=100", l);
	ck_assert_int_eq(n, 10);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(l[i].sport, events[i]);
		ck_assert_str_eq(l[i].verdict, i == 9 ? "DROPPED" : "FORWARDED");
	}
	expect_ports("last=2", (const int[]){2003, 1002}, 2);
	expect_ports("verdict=DROPPED", (const int[]){1002}, 1);
	expect_ports("from_port=1002", (const int[]){1002, 1002}, 2);
	expect_ports("per_flow=1&from_port=1002", (const int[]){1002}, 1);
	expect_ports("first=3", (const int[]){1000, 1001, 1002}, 3);
	/* Each deny= is an exclusion of its own (not_ keys together are one). */
	expect_ports("deny=protocol%3Dudp&deny=from_port%3D2000", (const int[]){2001, 2002, 2003},
		     3);
	expect_ports("not_protocol=udp&not_from_port=2000", events, 10);
}
END_TEST

/* The response is status with a JSON {"error":"..."} body that mentions what. */
static void expect_error_req(struct hconn *c, const char *what_req, int status, const char *what)
{
	size_t n = c->blen;

	ck_assert_msg(c->status == status, "%s: status %d, want %d", what_req, c->status, status);
	ck_assert_msg(has_ctype(c, "application/json"), "%s: %s", what_req, c->head);
	ck_assert_msg(n > 12 && !strncmp(c->body, "{\"error\":\"", 10) &&
			      !strcmp(c->body + n - 3, "\"}\n"),
		      "%s: body %s", what_req, c->body);
	if (what)
		ck_assert_msg(strstr(c->body, what), "%s: '%s' not in %s", what_req, what, c->body);
	hc_close(c);
}

static void expect_error(const char *path, int status, const char *what)
{
	expect_error_req(get(path), path, status, what);
}

START_TEST(bad_requests)
{
	struct hconn *c;

	inject_base();
	expect_error("/api/v1/flows?last=abc", 400, "abc");
	expect_error("/api/v1/flows?last=-1", 400, "-1");
	expect_error("/api/v1/flows?follow=maybe", 400, "maybe");
	expect_error("/api/v1/flows?bogus=1", 400, "bogus");
	expect_error("/api/v1/flows?last=5&bogus=1", 400, "bogus");
	expect_error("/api/v1/flows?format=xml", 400, "xml");
	expect_error("/api/v1/flows?verdict=NOPE", 400, "NOPE");
	expect_error("/api/v1/flows?to_port=http", 400, "http");
	expect_error("/api/v1/flows?ip=10.0.0.300", 400, "10.0.0.300");
	expect_error("/api/v1/flows?from_ip=nope", 400, "nope");
	expect_error("/api/v1/flows?protocol=tcpx", 400, "tcpx");
	expect_error("/api/v1/flows?namespace=a/b", 400, "a/b");
	expect_error("/api/v1/flows?namespace=", 400, "namespace");
	expect_error("/api/v1/flows?first=2&follow=1", 400, "first");
	expect_error("/api/v1/flows?since=yesterday", 400, "yesterday");
	expect_error("/api/v1/flows?not_bogus=1", 400, "bogus");
	/* Protobuf frames cannot be Server-Sent Events. */
	c = request("GET", "/api/v1/flows?follow=1&format=pb", "Accept: text/event-stream\r\n",
		    NULL);
	expect_error_req(c, "follow=1&format=pb as SSE", 400, "Server-Sent Events");
	/* A bad filter on a follow request: no stream, no subscriber left behind. */
	c = request("GET", "/api/v1/flows?follow=1&to_port=http", "Accept: text/event-stream\r\n",
		    NULL);
	expect_error_req(c, "follow=1&to_port=http as SSE", 400, "http");

	/* Other methods: 405 with Allow, bodies ignored. */
	c = request("POST", "/api/v1/flows", NULL, "");
	{
		char v[64];

		ck_assert(header(c->head, "Allow", v, sizeof(v)));
		ck_assert_str_eq(v, "GET, HEAD");
	}
	expect_error_req(c, "POST", 405, "GET");
	expect_error_req(request("POST", "/api/v1/flows?last=1", NULL, "{\"last\":1}"), "POST body",
			 405, NULL);
	expect_error_req(request("DELETE", "/api/v1/status", NULL, NULL), "DELETE", 405, NULL);

	/* Unknown paths. */
	expect_error("/nope", 404, NULL);
	expect_error("/api/v1/nope", 404, NULL);
	expect_error("/api/v1/flowsx", 404, NULL);

	/* Still serving, and no follower was created by the refused requests. */
	expect_ports("last=2", (const int[]){2003, 1002}, 2);
	ck_assert_uint_eq(subscribers(), 1); /* the graph only */
	c = get("/api/v1/status");
	ck_assert_int_eq(c->status, 200);
	ck_assert(has_ctype(c, "application/json"));
	ck_assert_ptr_nonnull(strstr(c->body, "\"num_flows\":9,"));
	ck_assert_ptr_nonnull(strstr(c->body, "\"drop_records\":1,"));
	ck_assert_ptr_nonnull(strstr(c->body, "\"node_name\":\"testnode\""));
	hc_close(c);
	c = get("/healthz");
	ck_assert_int_eq(c->status, 200);
	ck_assert_str_eq(c->body, "ok\n");
	hc_close(c);
}
END_TEST

/* One SSE frame: "event: flow\ndata: <one-line JSON>\n\n" or the same with "event: lost".
 * Returns 1 for a flow (into l), 0 for a lost-events notice (count into *lost). */
static int parse_frame(char *fr, struct line *l, uint64_t *lost)
{
	size_t n = strlen(fr);
	char *json;

	ck_assert_msg(n > 20 && !strcmp(fr + n - 2, "\n\n"), "bad frame: %s", fr);
	fr[n - 2] = '\0';
	if (!strncmp(fr, "event: flow\ndata: ", 18)) {
		json = fr + 18;
		ck_assert_msg(!strchr(json, '\n'), "multi-line data: %s", fr);
		parse_flow(json, l);
		return 1;
	}
	ck_assert_msg(!strncmp(fr, "event: lost\ndata: {\"lost_events\":{", 34), "bad frame: %s",
		      fr);
	json = fr + 18;
	ck_assert_msg(!strchr(json, '\n'), "multi-line data: %s", fr);
	ck_assert_ptr_nonnull(strstr(json, "\"source\":\"OBSERVER_EVENTS_QUEUE\""));
	json = strstr(json, "\"num_events_lost\":\"");
	ck_assert_ptr_nonnull(json);
	*lost = strtoull(json + 19, NULL, 10);
	ck_assert_uint_gt(*lost, 0);
	return 0;
}

/* The DNS-rebinding guard: a Host header that is not this server's refuses the request
 * whatever it asks; this server's names and addresses pass; every answer carries the browser
 * boundary's headers. */
static int host_status(const char *path, const char *host_line)
{
	struct hconn *c = request("GET", path, host_line, NULL);
	int st = c->status;

	if (st == 403)
		ck_assert_ptr_nonnull(strstr(c->body, "Host header"));
	else
		ck_assert_ptr_null(strstr(c->body, "Host header"));
	hc_close(c);
	return st;
}

START_TEST(host_header_guard)
{
	struct hconn *c;
	char v[512], h[64];

	inject_base();
	/* A page on another name, rebound to 127.0.0.1, gets nothing. */
	c = request("GET", "/api/v1/flows?last=10", "Host: rebind.evil.example\r\n", NULL);
	ck_assert_int_eq(c->status, 403);
	ck_assert_ptr_null(strstr(c->body, "flow"));
	hc_close(c);
	ck_assert_int_eq(host_status("/api/v1/status", "Host: rebind.evil.example:12000\r\n"), 403);
	ck_assert_int_eq(host_status("/healthz", "Host: localhost.evil.example\r\n"), 403);
	ck_assert_int_eq(host_status("/healthz", "Host: evil.localhost.example\r\n"), 403);
	/* Other loopback addresses and other families are not where the connection came to. */
	ck_assert_int_eq(host_status("/healthz", "Host: 127.0.0.2\r\n"), 403);
	ck_assert_int_eq(host_status("/healthz", "Host: [::1]\r\n"), 403);
	/* Malformed: a port that is not a number, an unclosed bracket, empty. */
	ck_assert_int_eq(host_status("/healthz", "Host: 127.0.0.1:80x\r\n"), 403);
	ck_assert_int_eq(host_status("/healthz", "Host: [127.0.0.1\r\n"), 403);
	ck_assert_int_eq(host_status("/healthz", "Host: :80\r\n"), 403);
	/* This server's names: its address (with its port or without), localhost in any case
	 * (and with the root's dot), a name allowed by option. */
	snprintf(h, sizeof(h), "Host: 127.0.0.1:%u\r\n", S.port);
	ck_assert_int_eq(host_status("/api/v1/flows?last=10", h), 200);
	ck_assert_int_eq(host_status("/healthz", "Host: 127.0.0.1\r\n"), 200);
	snprintf(h, sizeof(h), "Host: LocalHost:%u\r\n", S.port);
	ck_assert_int_eq(host_status("/api/v1/flows?last=10", h), 200);
	ck_assert_int_eq(host_status("/healthz", "Host: localhost.\r\n"), 200);
	ck_assert_int_eq(host_status("/api/v1/status", "Host: FLOWS.test:443\r\n"), 200);
	/* The answers carry a strict policy: no framing, no sniffing, nothing inline. */
	c = get("/api/v1/status");
	ck_assert(header(c->head, "Content-Security-Policy", v, sizeof(v)));
	ck_assert_ptr_nonnull(strstr(v, "frame-ancestors 'none'"));
	ck_assert_ptr_nonnull(strstr(v, "default-src 'none'"));
	ck_assert_ptr_nonnull(strstr(v, "script-src 'self';"));
	ck_assert_ptr_null(strstr(v, "unsafe"));
	ck_assert(header(c->head, "X-Content-Type-Options", v, sizeof(v)));
	ck_assert_str_eq(v, "nosniff");
	ck_assert(header(c->head, "X-Frame-Options", v, sizeof(v)));
	ck_assert_str_eq(v, "DENY");
	hc_close(c);
	c = request("GET", "/nope", NULL, NULL);
	ck_assert_int_eq(c->status, 404);
	ck_assert(header(c->head, "X-Content-Type-Options", v, sizeof(v)));
	hc_close(c);
	/* Nothing changes state: every other method is refused, with the same headers. */
	c = request("POST", "/api/v1/flows", NULL, "x=1");
	ck_assert_int_eq(c->status, 405);
	ck_assert(header(c->head, "Content-Security-Policy", v, sizeof(v)));
	hc_close(c);
}
END_TEST

/* A server with a token answers nothing but /healthz without it: 401 with WWW-Authenticate:
 * Bearer (no flow in the body) for no token, a wrong one, another scheme; 200 with "Bearer
 * <token>"; the login URL (?token=) sets an HttpOnly, SameSite=Strict cookie and redirects to
 * the same URL without the token, and the cookie alone is then enough. */
static int token_status(const char *path, const char *extra)
{
	struct hconn *c = request("GET", path, extra, NULL);
	int st = c->status;
	char v[256];

	if (st == 401) {
		ck_assert_msg(header(c->head, "WWW-Authenticate", v, sizeof(v)), "%s", c->head);
		ck_assert_str_eq(v, "Bearer realm=\"flowscope\"");
		ck_assert_ptr_nonnull(strstr(c->body, "token"));
		ck_assert_ptr_nonnull(strstr(c->body, "/run/test/token"));
		ck_assert_ptr_null(strstr(c->body, "flow\":"));
		ck_assert_ptr_null(strstr(c->body, TOKEN));
	}
	hc_close(c);
	return st;
}

START_TEST(token_required)
{
	char cookie[512], v[512], h[600];
	struct hconn *c;

	inject_base();
	ck_assert_int_eq(token_status("/api/v1/flows?last=10", NULL), 401);
	ck_assert_int_eq(token_status("/api/v1/status", NULL), 401);
	ck_assert_int_eq(token_status("/metrics", NULL), 401);
	ck_assert_int_eq(token_status("/", NULL), 401);
	ck_assert_int_eq(token_status("/api/v1/flows", "Authorization: Bearer wrong\r\n"), 401);
	ck_assert_int_eq(token_status("/api/v1/flows", "Authorization: Bearer " TOKEN "x\r\n"),
			 401);
	ck_assert_int_eq(token_status("/api/v1/flows", "Authorization: Basic " TOKEN "\r\n"), 401);
	ck_assert_int_eq(token_status("/api/v1/flows", "Cookie: flowscope_token_1=" TOKEN "\r\n"),
			 401);
	ck_assert_int_eq(token_status("/api/v1/flows?token=wrong", NULL), 401);
	/* The health check stays open: it tells nothing. */
	ck_assert_int_eq(token_status("/healthz", NULL), 200);
	ck_assert_int_eq(
		token_status("/api/v1/flows?last=10", "Authorization: Bearer " TOKEN "\r\n"), 200);
	ck_assert_int_eq(
		token_status("/api/v1/flows?last=10", "authorization: bearer  " TOKEN "\r\n"), 200);
	/* The login URL: a cookie and the same address without the token. */
	c = get("/api/v1/graph?window=5m&token=" TOKEN_Q "&from_ip=10.0.0.1");
	ck_assert_int_eq(c->status, 303);
	ck_assert(header(c->head, "Location", v, sizeof(v)));
	ck_assert_str_eq(v, "/api/v1/graph?window=5m&from_ip=10.0.0.1");
	ck_assert(header(c->head, "Set-Cookie", cookie, sizeof(cookie)));
	snprintf(v, sizeof(v), "flowscope_token_%u=" TOKEN ";", S.port);
	ck_assert_msg(!strncmp(cookie, v, strlen(v)), "%s", cookie);
	ck_assert_ptr_nonnull(strstr(cookie, "; HttpOnly"));
	ck_assert_ptr_nonnull(strstr(cookie, "; SameSite=Strict"));
	ck_assert_ptr_nonnull(strstr(cookie, "; Path=/"));
	ck_assert_ptr_null(strstr(cookie, "Secure")); /* plain HTTP */
	ck_assert_ptr_null(strstr(c->body, "flow"));
	hc_close(c);
	c = get("/?token=" TOKEN_Q);
	ck_assert_int_eq(c->status, 303);
	ck_assert(header(c->head, "Location", v, sizeof(v)));
	ck_assert_str_eq(v, "/");
	hc_close(c);
	snprintf(h, sizeof(h), "Cookie: other=1; flowscope_token_%u=" TOKEN "\r\n", S.port);
	ck_assert_int_eq(token_status("/api/v1/flows?last=10", h), 200);
	snprintf(h, sizeof(h), "Cookie: flowscope_token_%u=" TOKEN "0\r\n", S.port);
	ck_assert_int_eq(token_status("/api/v1/flows?last=10", h), 401);
}
END_TEST

/* Idle connections from one address are capped (64 by default: 1,020 took the server's
 * descriptors and /healthz with them); other clients are still answered. */
/* Whether GET /healthz over a connection from src is answered 200 within 3 s (false when
 * the server closes it first). */
static bool healthz_from(const char *src)
{
	static const char req[] =
		"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	int fd = loop_thread_connect_from(src, S.port);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[512];
	ssize_t r = 0;

	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1 &&
	    poll(&p, 1, 3000) == 1)
		r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	return strstr(buf, " 200 OK") != NULL;
}

START_TEST(connection_caps)
{
	int fds[65], i;
	struct pollfd p;
	char c;

	for (i = 0; i < 65; i++)
		fds[i] = loop_thread_connect_from("127.0.0.1", S.port);
	/* The 65th is closed by the server without an answer; the first 64 are kept. */
	p = (struct pollfd){.fd = fds[64], .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 3000), 1);
	ck_assert_int_eq(read(fds[64], &c, 1), 0);
	p = (struct pollfd){.fd = fds[0], .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 200), 0);
	/* Another address is answered meanwhile. */
	ck_assert(healthz_from("127.0.0.2"));
	for (i = 0; i < 65; i++)
		close(fds[i]);
	/* Once they are gone (the server notices within its next poll), the first address is
	 * served again. */
	for (i = 0; i < 100 && !healthz_from("127.0.0.1"); i++)
		usleep(20000);
	ck_assert_int_lt(i, 100);
}
END_TEST

START_TEST(sse_follow)
{
	struct fspec f[11];
	struct hconn *c, *nd;
	char fr[8192], v[128];
	struct line l;
	uint64_t lost;
	int i;

	inject_base(); /* not replayed: a follow without last sends only new flows */
	c = hc_open("GET", "/api/v1/flows?follow=1&to_port=8080", "Accept: text/event-stream\r\n",
		    NULL);
	wait_subscribers(2);
	hc_wait_head(c, 2000); /* before any flow: the browser's EventSource opens */
	ck_assert_int_eq(c->status, 200);
	ck_assert_msg(header(c->head, "Content-Type", v, sizeof(v)), "%s", c->head);
	ck_assert_str_eq(v, "text/event-stream");
	ck_assert(header(c->head, "Cache-Control", v, sizeof(v)));
	ck_assert_str_eq(v, "no-store");

	/* 5 flows to 8080 interleaved with 5 to port 53. */
	for (i = 0; i < 5; i++) {
		f[2 * i] = (struct fspec){"10.0.0.1", "10.0.0.2", 4000 + i, 53, IPPROTO_UDP};
		f[2 * i + 1] = (struct fspec){"10.0.0.3", "10.0.0.2", 3000 + i, 8080, IPPROTO_TCP};
	}
	inject_specs(f, 10, 0);
	for (i = 0; i < 5; i++) {
		ck_assert_msg(next_msg(c, "\n\n", fr, sizeof(fr), 2000) > 0, "frame %d missing", i);
		ck_assert_ptr_nonnull(strstr(fr, "\ndata: {"));
		ck_assert_ptr_nonnull(strstr(fr, "\"destination_port\":8080"));
		ck_assert_int_eq(parse_frame(fr, &l, &lost), 1);
		ck_assert_int_eq(l.sport, 3000 + i);
		ck_assert_int_eq(l.dport, 8080);
	}
	ck_assert_int_eq(next_msg(c, "\n\n", fr, sizeof(fr), 500), 0);
	ck_assert_uint_eq(c->blen - c->boff, 0); /* not even part of a frame */

	/* Without Accept: text/event-stream the same follow is NDJSON; last=N replays first. */
	nd = hc_open("GET", "/api/v1/flows?follow=1&last=2&to_port=8080", NULL, NULL);
	wait_subscribers(3);
	for (i = 0; i < 2; i++) {
		ck_assert_int_gt(next_msg(nd, "\n", fr, sizeof(fr), 2000), 0);
		parse_flow(fr, &l);
		ck_assert_int_eq(l.sport, 3003 + i);
	}
	ck_assert(has_ctype(nd, "application/x-ndjson"));
	f[0] = (struct fspec){"10.0.0.3", "10.0.0.2", 3005, 8080, IPPROTO_TCP};
	f[1] = (struct fspec){"10.0.0.3", "10.0.0.2", 3006, 8081, IPPROTO_TCP};
	inject_specs(f, 2, 0);
	ck_assert_int_gt(next_msg(nd, "\n", fr, sizeof(fr), 2000), 0);
	parse_flow(fr, &l);
	ck_assert_int_eq(l.sport, 3005);
	ck_assert_int_eq(next_msg(nd, "\n", fr, sizeof(fr), 300), 0);
	ck_assert_int_gt(next_msg(c, "\n\n", fr, sizeof(fr), 2000), 0);
	ck_assert_int_eq(parse_frame(fr, &l, &lost), 1);
	ck_assert_int_eq(l.sport, 3005);
	ck_assert_int_eq(next_msg(c, "\n\n", fr, sizeof(fr), 300), 0);

	hc_close(c);
	hc_close(nd);
}
END_TEST

/* KNOWN BUG (export/http_server.c, fails at the time of writing): a follower whose client
 * disconnected while its stream was idle stays subscribed, with its queue, until two matching
 * flows have been written to the dead socket (with a filter that matches nothing: forever).
 * on_tick resumes suspended followers "so that MHD notices when its client has gone away",
 * but MHD only writes on a connection that is sending a response, it never reads from it, so
 * it never sees the EOF. The correct behaviour checked here: the subscription goes away
 * within a few seconds of the disconnect, with no flow published in between. */
START_TEST(idle_follower_freed_on_disconnect)
{
	struct hconn *sse, *nd;

	sse = hc_open("GET", "/api/v1/flows?follow=1&to_port=8080", "Accept: text/event-stream\r\n",
		      NULL);
	nd = hc_open("GET", "/api/v1/flows?follow=1&protocol=udp", NULL, NULL);
	wait_subscribers(3);
	hc_wait_head(sse, 2000);
	hc_wait_head(nd, 2000);
	hc_close(sse);
	hc_close(nd);
	wait_subscribers(1); /* the graph only */
}
END_TEST

/* An SSE reader in a thread: counts flows and lost events until a flow from stop_port. */
struct reader {
	pthread_t th;
	struct hconn *c;
	int stop_port;
	atomic_int flows;
	atomic_int lost_frames;
	atomic_ullong lost;
	int last_port;
	int out_of_order, eof, timed_out;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t end = now_ms() + 30000;
	char fr[8192];

	while (now_ms() < end) {
		struct line l;
		uint64_t lost = 0;
		int n = next_msg(r->c, "\n\n", fr, sizeof(fr), 100);

		if (n < 0) {
			r->eof = 1;
			return NULL;
		}
		if (!n)
			continue;
		if (parse_frame(fr, &l, &lost)) {
			if (l.sport <= r->last_port)
				r->out_of_order++;
			r->last_port = l.sport;
			atomic_fetch_add(&r->flows, 1);
			if (l.sport == r->stop_port)
				return NULL;
		} else {
			atomic_fetch_add(&r->lost, lost);
			atomic_fetch_add(&r->lost_frames, 1);
		}
	}
	r->timed_out = 1;
	return NULL;
}

START_TEST(slow_sse_client_next_to_live_one)
{
	enum { BATCH = 50, BATCHES = 400, FIRST = 100000, MARKER = 200000 };
	struct reader slow, live;
	int i, total = BATCH * BATCHES;
	uint64_t t0, end;
	struct hconn *st;

	memset(&slow, 0, sizeof(slow));
	memset(&live, 0, sizeof(live));
	slow.stop_port = live.stop_port = MARKER;
	slow.c = hc_open("GET", "/api/v1/flows?follow=1", "Accept: text/event-stream\r\n", NULL);
	live.c = hc_open("GET", "/api/v1/flows?follow=1", "Accept: text/event-stream\r\n", NULL);
	wait_subscribers(3);
	ck_assert_int_eq(pthread_create(&live.th, NULL, reader_main, &live), 0);

	/* 20000 flows while the slow client reads nothing. Batches stay below the queue size
	 * (64) and the live reader catches up before the next one. */
	t0 = now_ms();
	for (i = 0; i < BATCHES; i++) {
		inject_range(FIRST + i * BATCH, BATCH);
		end = now_ms() + 5000;
		while (atomic_load(&live.flows) < (i + 1) * BATCH && now_ms() < end && !live.eof &&
		       !live.timed_out)
			usleep(50);
		ck_assert_msg(atomic_load(&live.flows) == (i + 1) * BATCH,
			      "live reader stuck at %d flows after batch %d",
			      atomic_load(&live.flows), i);
	}
	ck_assert_msg(now_ms() - t0 < 10000, "injection took %llu ms",
		      (unsigned long long)(now_ms() - t0));
	ck_assert_int_eq(atomic_load(&live.flows), total);
	ck_assert_int_eq(atomic_load(&live.lost_frames), 0);
	ck_assert_int_eq(live.out_of_order, 0);

	/* The server still answers other requests promptly. */
	t0 = now_ms();
	st = get("/api/v1/status");
	ck_assert_int_eq(st->status, 200);
	ck_assert_ptr_nonnull(strstr(st->body, "\"followers\":3,"));
	hc_close(st);
	ck_assert_uint_lt(now_ms() - t0, 1000);

	/* The slow client starts reading: what was buffered and queued, then a lost-events
	 * notice counting the rest, then new flows again. Nothing disappears silently. */
	ck_assert_int_eq(pthread_create(&slow.th, NULL, reader_main, &slow), 0);
	usleep(1500 * 1000); /* lost events go out at most once a second */
	inject_range(MARKER, 1);
	pthread_join(live.th, NULL);
	pthread_join(slow.th, NULL);
	ck_assert_int_eq(live.eof + live.timed_out, 0);
	ck_assert_int_eq(slow.eof + slow.timed_out, 0);
	ck_assert_int_eq(atomic_load(&live.flows), total + 1);
	ck_assert_int_eq(atomic_load(&live.lost_frames), 0);
	ck_assert_int_eq(slow.last_port, MARKER);
	ck_assert_int_eq(slow.out_of_order, 0);
	ck_assert_int_gt(atomic_load(&slow.flows), 1);
	ck_assert_int_lt(atomic_load(&slow.flows), total);
	ck_assert_int_ge(atomic_load(&slow.lost_frames), 1);
	ck_assert_msg((uint64_t)atomic_load(&slow.flows) + atomic_load(&slow.lost) ==
			      (uint64_t)total + 1,
		      "slow client: %d flows + %llu lost != %d", atomic_load(&slow.flows),
		      (unsigned long long)atomic_load(&slow.lost), total + 1);
	/* /metrics counts the same losses per subscriber: the slow one has exactly what it was
	 * told it lost, the live one none. */
	{
		struct hconn *m = get("/metrics");
		const char *p = m->body;
		uint64_t most = 0, least = UINT64_MAX;
		int series = 0;

		while ((p = strstr(p, "flowscope_subscriber_lost_total{subscriber=\"http-"))) {
			uint64_t v = strtoull(strchr(p, '}') + 2, NULL, 10);

			most = v > most ? v : most;
			least = v < least ? v : least;
			series++;
			p++;
		}
		ck_assert_int_eq(series, 2);
		ck_assert_uint_eq(most, (uint64_t)atomic_load(&slow.lost));
		ck_assert_uint_eq(least, 0);
		hc_close(m);
	}
	hc_close(slow.c);
	hc_close(live.c);
}
END_TEST

START_TEST(graph_endpoint)
{
	const char *tcp_edge = "{\"id\":\"e:ip:10.0.0.3>ip:10.0.0.2\",\"source\":\"ip:10.0.0.3\","
			       "\"target\":\"ip:10.0.0.2\",\"flows\":4,";
	const char *udp_edge = "{\"id\":\"e:ip:10.0.0.1>ip:10.0.0.2\",\"source\":\"ip:10.0.0.1\","
			       "\"target\":\"ip:10.0.0.2\",\"flows\":5,";
	struct hconn *c;
	char *p, *e;
	int edges = 0;

	/* Nothing yet: an empty graph. */
	c = get("/api/v1/graph");
	ck_assert_int_eq(c->status, 200);
	ck_assert_ptr_nonnull(strstr(c->body, "\"nodes\":[],\"edges\":[]"));
	hc_close(c);

	inject_base();
	c = get("/api/v1/graph");
	ck_assert_int_eq(c->status, 200);
	ck_assert(has_ctype(c, "application/json"));
	ck_assert_msg(strstr(c->body, tcp_edge), "%s", c->body);
	ck_assert_msg(strstr(c->body, udp_edge), "%s", c->body);
	for (p = c->body; (p = strstr(p, "{\"id\":\"e:")); p++)
		edges++;
	ck_assert_int_eq(edges, 2);
	/* The dropped UDP flow counts on its edge. */
	p = strstr(c->body, udp_edge);
	e = strstr(p, "\"drops_total\":");
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(atoi(e + 14), 1);
	/* The server node is in both edges. */
	p = strstr(c->body, "{\"id\":\"ip:10.0.0.2\",");
	ck_assert_ptr_nonnull(p);
	e = strchr(p, '}');
	ck_assert_ptr_nonnull(e);
	*e = '\0';
	ck_assert_msg(strstr(p, "\"flows\":9,"), "%s", p);
	hc_close(c);

	c = get("/api/v1/graph?window=30s");
	ck_assert_int_eq(c->status, 200);
	ck_assert_ptr_nonnull(strstr(c->body, tcp_edge));
	ck_assert_ptr_nonnull(strstr(c->body, "\"window_ns\":30000000000,"));
	hc_close(c);

	c = get("/api/v1/graph?namespace=none");
	ck_assert_int_eq(c->status, 200);
	ck_assert_msg(strstr(c->body, "\"edges\":[]"), "%s", c->body);
	ck_assert_ptr_nonnull(strstr(c->body, "\"nodes\":[]"));
	hc_close(c);

	expect_error("/api/v1/graph?window=abc", 400, "abc");
	expect_error("/api/v1/graph?window=0s", 400, "0s");
	expect_error("/api/v1/graph?bogus=1", 400, "bogus");

	/* The edge id from the graph selects its flows. */
	expect_ports("last=100&edge=e%3Aip%3A10.0.0.3%3Eip%3A10.0.0.2",
		     (const int[]){2000, 2001, 2002, 2003}, 4);
}
END_TEST

/* The graph's edge source -> target in body: its flows and drops_total; flows -1 when absent. */
struct edge_info {
	int flows, drops;
};

static struct edge_info graph_edge(const char *body, const char *source, const char *target)
{
	char key[256];
	struct edge_info ei = {-1, -1};
	const char *p, *end, *d;

	snprintf(key, sizeof(key), "{\"id\":\"e:%s>%s\",", source, target);
	p = strstr(body, key);
	if (!p)
		return ei;
	end = strstr(p + 1, "{\"id\":");
	ei.flows = int_field(p, "\"flows\":");
	d = strstr(p, "\"drops_total\":");
	ei.drops = d && (!end || d < end) ? atoi(d + 14) : 0;
	return ei;
}

static int count_str(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

static char *graph_body(const char *query)
{
	char path[512];
	struct hconn *c;
	char *body;

	snprintf(path, sizeof(path), "/api/v1/graph%s%s", query[0] ? "?" : "", query);
	c = get(path);
	ck_assert_msg(c->status == 200, "%s: status %d: %s", path, c->status, c->body);
	ck_assert(has_ctype(c, "application/json"));
	body = strdup(c->body);
	ck_assert_ptr_nonnull(body);
	hc_close(c);
	return body;
}

/* The graph query gives exactly these numbers of edges and flows on the TCP edge (10.0.0.3 ->
 * 10.0.0.2) and the UDP edge (10.0.0.1 -> 10.0.0.2); -1: the edge is absent. */
static void expect_graph(const char *query, int tcp_flows, int udp_flows, int udp_drops)
{
	char *body = graph_body(query);
	struct edge_info tcp = graph_edge(body, "ip:10.0.0.3", "ip:10.0.0.2"),
			 udp = graph_edge(body, "ip:10.0.0.1", "ip:10.0.0.2");

	ck_assert_msg(tcp.flows == tcp_flows, "%s: TCP edge has %d flows, want %d: %s", query,
		      tcp.flows, tcp_flows, body);
	ck_assert_msg(udp.flows == udp_flows, "%s: UDP edge has %d flows, want %d: %s", query,
		      udp.flows, udp_flows, body);
	if (udp_flows >= 0)
		ck_assert_msg(udp.drops == udp_drops, "%s: UDP edge has %d drops, want %d", query,
			      udp.drops, udp_drops);
	ck_assert_int_eq(count_str(body, "{\"id\":\"e:"), (tcp_flows >= 0) + (udp_flows >= 0));
	free(body);
}

/* The TCP flow from port 2000 seen once more, on a second interface: a copy of it. */
static void do_copy(void *arg)
{
	struct flow_record r;
	uint8_t s[4], d[4];

	(void)arg;
	addr4("10.0.0.3", s);
	addr4("10.0.0.2", d);
	memset(&r, 0, sizeof(r));
	r.type = FLOW_REC_TC;
	r.version = FLOW_RECORD_VERSION;
	r.events = FLOW_EV_START | FLOW_EV_TCP_FLAGS;
	r.state.init_side = (uint8_t)make_key(&r.key, s, d, 2000, 8080, IPPROTO_TCP);
	r.key.ifindex = 2;
	r.ts_ns = boot_ns();
	r.pkt_len = 100;
	r.tc_dir = r.state.init_tc_dir = FLOW_TC_INGRESS;
	r.state.first_seen_ns = r.ts_ns; /* no ticks: last seen = first seen */
	r.state.packets[0] = 1;
	r.state.bytes[0] = 100;
	r.pkt_tcp_flags = r.state.tcp_flags[0] = FLOW_TCP_SYN;
	ck_assert_int_eq(collector_handle_record(S.t.col, &r, sizeof(r)), 0);
}

START_TEST(graph_filtered)
{
	char *all, *tcp;

	inject_base();
	on_loop(do_copy, NULL);
	/* Without filters: the live graph. With filters: the graph of the stored flows that
	 * match, each connection once (the copy of port 2000 is not counted again). */
	expect_graph("", 4, 5, 1);
	expect_graph("window=5m", 4, 5, 1);
	expect_graph("protocol=tcp", 4, -1, 0);
	expect_graph("protocol=tcp&window=30s", 4, -1, 0);
	expect_graph("from_ip=10.0.0.1", -1, 5, 1);
	expect_graph("to_port=53", -1, 5, 1);
	expect_graph("verdict=DROPPED", -1, 1, 1);
	expect_graph("port=2000-2001", 2, -1, 0);
	expect_graph("not_port=53", 4, -1, 0);
	expect_graph("ip=10.0.0.2", 4, 5, 1);
	expect_graph("ip=10.9.9.9", -1, -1, 0);
	/* not_ keys are one exclusion whose parts must all match (UDP and port 8080: none);
	 * each deny= excludes on its own. */
	expect_graph("not_protocol=udp&not_to_port=8080", 4, 5, 1);
	expect_graph("deny=protocol%3Dudp&deny=to_port%3D8080", -1, -1, 0);
	expect_graph("deny=protocol%3Dudp", 4, -1, 0);
	expect_graph("deny=protocol%3Dtcp%26to_port%3D8080", -1, 5, 1);
	expect_graph("deny=protocol%3Dtcp%26to_port%3D9999", 4, 5, 1);
	expect_graph("protocol=tcp&deny=from_port%3D2003", 3, -1, 0);

	/* A filtered graph differs from the unfiltered one in its nodes too. */
	all = graph_body("");
	tcp = graph_body("protocol=tcp");
	ck_assert_ptr_nonnull(strstr(all, "{\"id\":\"ip:10.0.0.1\","));
	ck_assert_ptr_null(strstr(tcp, "{\"id\":\"ip:10.0.0.1\","));
	ck_assert_msg(strstr(tcp, "{\"id\":\"ip:10.0.0.2\",\"label\":\"10.0.0.2\",\"kind\":\"ip\","
				  "\"namespace\":\"\",\"flows\":4,"),
		      "%s", tcp);
	ck_assert_str_ne(all, tcp);
	free(all);
	free(tcp);

	/* Bad filters: 400 saying what is wrong, as /api/v1/flows says it. */
	expect_error("/api/v1/graph?to_port=99999", 400, "99999");
	expect_error("/api/v1/graph?protocol=tcpp", 400, "tcpp");
	expect_error("/api/v1/graph?verdict=MAYBE", 400, "MAYBE");
	expect_error("/api/v1/graph?bogus=1", 400, "bogus");
	expect_error("/api/v1/graph?not_bogus=1", 400, "not_bogus");
	expect_error("/api/v1/graph?last=5", 400, "last");
	expect_error("/api/v1/graph?protocol=tcp&window=abc", 400, "abc");
	expect_error("/api/v1/graph?deny=", 400, "deny");
	expect_error("/api/v1/graph?deny=protocol", 400, "protocol");
	expect_error("/api/v1/graph?deny=bogus%3D1", 400, "bogus");
	expect_error("/api/v1/graph?deny=to_port%3D99999", 400, "99999");
	expect_error("/api/v1/graph?deny=not_port%3D53", 400, "cannot be negated");
}
END_TEST

static void do_set_identities(void *arg)
{
	identities_set(arg);
}

static void set_identities(const char *yaml)
{
	char path[] = "/tmp/flowscope-ids-XXXXXX";
	struct identity_table *t = NULL;
	struct errmsg e = {""};
	int fd = mkstemp(path), rc;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
	close(fd);
	rc = identity_table_load(path, &t, &e);
	unlink(path);
	ck_assert_msg(rc == 0, "identity_table_load: %s", e.text);
	on_loop(do_set_identities, t);
}

START_TEST(namespaces_endpoint)
{
	struct hconn *c;

	/* No identity file: none. */
	c = get("/api/v1/namespaces");
	ck_assert_int_eq(c->status, 200);
	ck_assert(has_ctype(c, "application/json"));
	ck_assert_str_eq(c->body, "{\"namespaces\":[]}\n");
	hc_close(c);

	/* The identity file's namespaces, sorted, each once (also those no flow has). */
	set_identities("identities:\n"
		       "  - ip: 10.0.0.2\n    namespace: shop\n    service: dns\n"
		       "  - ip: 10.0.0.3\n    namespace: shop\n    pod: client-1\n"
		       "  - cidr: 10.0.0.1/32\n    namespace: db\n    pod: loader\n"
		       "  - cidr: 10.9.0.0/16\n    namespace: alpha\n"
		       "  - cidr: 10.8.0.0/16\n    namespace: shop\n");
	c = get("/api/v1/namespaces");
	ck_assert_int_eq(c->status, 200);
	ck_assert_str_eq(c->body, "{\"namespaces\":[\"alpha\",\"db\",\"shop\"]}\n");
	hc_close(c);

	/* With flows: the same (their graph nodes are in those namespaces), and the picker's
	 * filter selects a namespace's part of the graph. */
	inject_base();
	c = get("/api/v1/namespaces");
	ck_assert_str_eq(c->body, "{\"namespaces\":[\"alpha\",\"db\",\"shop\"]}\n");
	hc_close(c);
	{
		char *db = graph_body("namespace=db"), *shop = graph_body("namespace=shop"),
		     *alpha = graph_body("namespace=alpha");
		struct edge_info e = graph_edge(db, "pod:db/loader", "svc:shop/dns");

		ck_assert_msg(e.flows == 5 && e.drops == 1, "%s", db);
		ck_assert_int_eq(count_str(db, "{\"id\":\"e:"), 1);
		ck_assert_int_eq(count_str(shop, "{\"id\":\"e:"), 2);
		ck_assert_int_eq(graph_edge(shop, "pod:shop/client-1", "svc:shop/dns").flows, 4);
		ck_assert_msg(strstr(alpha, "\"nodes\":[],\"edges\":[]"), "%s", alpha);
		ck_assert_msg(strstr(db, "{\"id\":\"pod:db/loader\",\"label\":\"db/loader\","
					 "\"kind\":\"pod\",\"namespace\":\"db\","),
			      "%s", db);
		free(db);
		free(shop);
		free(alpha);
	}
	on_loop(do_set_identities, NULL);
	expect_error("/api/v1/namespaces?x=1", 400, "x");
}
END_TEST

/* GET path answers 404 and does not leak any of the secret files. */
static void expect_not_served(const char *path)
{
	struct hconn *c = get(path);

	ck_assert_msg(c->status == 404, "%s: status %d", path, c->status);
	ck_assert_msg(!strstr(c->body, "secret") && !strstr(c->body, "root:"), "%s: served %s",
		      path, c->body);
	hc_close(c);
}

START_TEST(static_files)
{
	struct hconn *c;
	char v[128];

	c = get("/");
	ck_assert_int_eq(c->status, 200);
	ck_assert(header(c->head, "Content-Type", v, sizeof(v)));
	ck_assert_str_eq(v, "text/html; charset=utf-8");
	ck_assert_uint_eq(c->blen, strlen(index_html));
	ck_assert_mem_eq(c->body, index_html, c->blen);
	hc_close(c);

	c = get("/index.html");
	ck_assert_int_eq(c->status, 200);
	ck_assert(has_ctype(c, "text/html"));
	ck_assert_str_eq(c->body, index_html);
	hc_close(c);

	c = get("/app.js");
	ck_assert_int_eq(c->status, 200);
	ck_assert(header(c->head, "Content-Type", v, sizeof(v)));
	ck_assert_str_eq(v, "text/javascript; charset=utf-8");
	ck_assert_str_eq(c->body, app_js);
	hc_close(c);

	expect_error("/missing.js", 404, NULL);
	expect_not_served("/sub");
	expect_not_served("/../etc/passwd");
	expect_not_served("/%2e%2e/etc/passwd");
	expect_not_served("/..%2Fetc%2Fpasswd");
	expect_not_served("/../secret.txt");
	expect_not_served("/%2e%2e/secret.txt");
	expect_not_served("/sub/../../secret.txt");
	expect_not_served("/.hidden");
	expect_not_served("/%2ehidden");
	expect_not_served("//etc/passwd");
	expect_not_served("/etc/passwd");

	/* The API is unaffected by the files. */
	c = get("/api/v1/status");
	ck_assert_int_eq(c->status, 200);
	ck_assert(has_ctype(c, "application/json"));
	ck_assert_ptr_nonnull(strstr(c->body, "\"node_name\":\"testnode\""));
	hc_close(c);
	expect_error("/api/v1/nope", 404, NULL);
}
END_TEST

/* Waits up to ms for the server to close c; true if it did. */
static bool closed_within(struct hconn *c, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end)
		if (hc_pump(c, 50) < 0)
			return true;
	return false;
}

/* idle_timeout_s 1: a connection that sends nothing, and one that never finishes its request
 * (slowloris), are closed; a follow stream with nothing to send is not (it is suspended). */
START_TEST(idle_and_unfinished_connections_time_out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
	struct hconn *idle = calloc(1, sizeof(*idle)), *half, *follow;
	const char part[] = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a";
	char msg[8192];

	ck_assert_ptr_nonnull(idle);
	idle->fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(idle->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	half = calloc(1, sizeof(*half));
	ck_assert_ptr_nonnull(half);
	half->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(half->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	send_all(half->fd, part, sizeof(part) - 1);
	follow = hc_open("GET", "/api/v1/flows?follow=1", "Accept: text/event-stream\r\n", NULL);
	hc_wait_head(follow, 2000);
	ck_assert_msg(closed_within(idle, 4000), "an idle connection was kept past 1 s");
	ck_assert_msg(closed_within(half, 1000), "an unfinished request was kept past 1 s");
	ck_assert_msg(!closed_within(follow, 1500), "a quiet follow stream was closed");
	inject_base();
	ck_assert_int_gt(next_msg(follow, "\n\n", msg, sizeof(msg), 2000), 0); /* it delivers */
	hc_close(idle);
	hc_close(half);
	hc_close(follow);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *t = tcase_create("api"), *slow = tcase_create("slow"), *web = tcase_create("web");
	TCase *tok = tcase_create("token"), *idle = tcase_create("idle");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, last_n_with_filters);
	tcase_add_test(t, events_in_time_order);
	tcase_add_test(t, bad_requests);
	tcase_add_test(t, host_header_guard);
	tcase_add_test(t, connection_caps);
	tcase_add_test(t, sse_follow);
	tcase_add_test(t, idle_follower_freed_on_disconnect); /* KNOWN BUG: fails, see there */
	tcase_add_test(t, graph_endpoint);
	tcase_add_test(t, graph_filtered);
	tcase_add_test(t, namespaces_endpoint);
	suite_add_tcase(s, t);
	tcase_add_checked_fixture(slow, setup_small_queue, teardown);
	tcase_set_timeout(slow, 60);
	tcase_add_test(slow, slow_sse_client_next_to_live_one);
	suite_add_tcase(s, slow);
	tcase_add_checked_fixture(idle, setup_idle_1s, teardown);
	tcase_set_timeout(idle, 30);
	tcase_add_test(idle, idle_and_unfinished_connections_time_out);
	suite_add_tcase(s, idle);
	tcase_add_checked_fixture(tok, setup_token, teardown);
	tcase_set_timeout(tok, 60);
	tcase_add_test(tok, token_required);
	suite_add_tcase(s, tok);
	tcase_add_unchecked_fixture(web, make_web_dir, remove_web_dir);
	tcase_add_checked_fixture(web, setup_web, teardown);
	tcase_set_timeout(web, 60);
	tcase_add_test(web, static_files);
	suite_add_tcase(s, web);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
