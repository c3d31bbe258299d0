/* Shared by the exporter tests (tests/exporters/): a temp directory fixture, files read back,
 * known flows, a minimal JSON syntax checker, exporter sets configured by option name as
 * flowd's command line would, and loopback peers (UDP collectors, TCP servers) the tests bind
 * themselves on 127.0.0.1. Header-only. */
#ifndef FLOWSCOPE_TESTS_EXPORT_HARNESS_H
#define FLOWSCOPE_TESTS_EXPORT_HARNESS_H

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/buf.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/exporters/exporter.h"

#define NODE "node1"

/* ---- a temp directory per test ------------------------------------------------------------ */

static char dir[64];

static inline void dir_setup(void)
{
	strcpy(dir, "/tmp/fe-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void dir_teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static inline const char *in_dir(char *p, size_t len, const char *name)
{
	snprintf(p, len, "%s/%s", dir, name);
	return p;
}

static inline bool exists(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0;
}

static inline long file_size(const char *p)
{
	struct stat sb;

	return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* Entries of dir besides "." and "..". */
static inline int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The whole file, NUL-terminated; "" when it does not exist. */
static inline char *slurp(const char *p)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	int fd = open(p, O_RDONLY);
	ssize_t n;

	ck_assert_int_eq(buf_puts(&b, ""), 0);
	if (fd < 0)
		return b.data;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(buf_append(&b, chunk, (size_t)n), 0);
	close(fd);
	return b.data;
}

/* ---- flows ---------------------------------------------------------------------------------- */

#define FLOW_TIME_S 1700000000ULL /* 2023-11-14T22:13:20Z */

/* 10.0.0.1:(40000 + id % 1000) -> 10.0.0.2:dport over TCP, egress, forwarded, at
 * 2023-11-14T22:13:20.123456789Z + id ns. */
static inline struct flow make_flow(uint64_t id, uint16_t dport)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.0.0.1", f.src.addr);
	inet_pton(AF_INET, "10.0.0.2", f.dst.addr);
	f.src.port = (uint16_t)(40000 + id % 1000);
	f.dst.port = dport;
	f.traffic_dir = FLOW_TC_EGRESS;
	f.verdict = FLOW_VERDICT_FORWARDED;
	f.event = FLOW_EVENT_TCP_FLAGS;
	f.tcp_flags = FLOW_TCP_SYN;
	f.packets[0] = 3;
	f.bytes[0] = 180;
	f.packets[1] = 2;
	f.bytes[1] = 1500 + id;
	f.time_ns = FLOW_TIME_S * 1000000000ULL + 123456789ULL + id;
	f.first_seen_ns = 1700000000000000000ULL;
	f.last_seen_ns = 1700000000123000000ULL;
	f.ifindex = 2;
	strcpy(f.ifname, "eth0");
	return f;
}

/* The API's line for f. */
static inline struct buf flow_line(const struct flow *f)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(flow_pb_json_line(&b, f, NODE), 0);
	return b;
}

/* The API's line for flow id (port 443). */
static inline struct buf api_line(uint64_t id)
{
	struct flow f = make_flow(id, 443);

	return flow_line(&f);
}

/* ---- a minimal JSON syntax checker ---------------------------------------------------------- */

static inline const char *json_value(const char *p);

static inline const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static inline const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static inline const char *json_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	s = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s)
		return NULL;
	if (*p == '.') {
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		s = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

/* Calls back for each member of the object at p; returns the end of the object or NULL. */
typedef void (*member_cb)(const char *key, size_t klen, const char *val, void *ctx);

static inline const char *json_object(const char *p, member_cb cb, void *ctx)
{
	if (*p++ != '{')
		return NULL;
	p = json_ws(p);
	if (*p == '}')
		return p + 1;
	for (;;) {
		const char *k = p, *v;

		p = json_string(p);
		if (!p)
			return NULL;
		p = json_ws(p);
		if (*p++ != ':')
			return NULL;
		v = json_ws(p);
		p = json_value(v);
		if (!p)
			return NULL;
		if (cb)
			cb(k + 1, (size_t)(p - k), v, ctx); /* klen is fixed up by the callee */
		p = json_ws(p);
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = json_ws(p);
	}
}

static inline const char *json_value(const char *p)
{
	switch (*p) {
	case '{':
		return json_object(p, NULL, NULL);
	case '[':
		p = json_ws(p + 1);
		if (*p == ']')
			return p + 1;
		for (;;) {
			p = json_value(p);
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p == ']')
				return p + 1;
			if (*p++ != ',')
				return NULL;
			p = json_ws(p);
		}
	case '"':
		return json_string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return json_number(p);
	}
}

/* Keys of an object, as "a,b,c," (in order). */
struct keys {
	char list[1024];
	const char *flow; /* the value of "flow", when collected */
};

static inline void collect_key(const char *key, size_t klen, const char *val, void *ctx)
{
	struct keys *k = ctx;
	size_t n = strcspn(key, "\""); /* our keys have no escapes */

	(void)klen;
	strncat(k->list, key, n);
	strcat(k->list, ",");
	if (n == 4 && !strncmp(key, "flow", 4))
		k->flow = val;
}

/* The top-level keys and the flow's keys of the JSON object at p. */
static inline void json_keys(const char *p, struct keys *top, struct keys *flow)
{
	memset(top, 0, sizeof(*top));
	memset(flow, 0, sizeof(*flow));
	ck_assert_ptr_nonnull(json_object(p, collect_key, top));
	ck_assert_ptr_nonnull(top->flow);
	ck_assert_ptr_nonnull(json_object(top->flow, collect_key, flow));
}

/* Checks that every line of text is one complete, valid JSON object; returns the line count
 * and collects the flow ids (in order). */
static inline int check_lines(const char *text, uint64_t *ids, int max_ids)
{
	const char *p = text;
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n'), *end, *id;

		ck_assert_msg(nl != NULL, "incomplete last line: %.80s", p);
		end = json_object(p, NULL, NULL);
		ck_assert_msg(end == nl, "invalid JSON line: %.*s", (int)(nl - p), p);
		id = strstr(p, "\"flow_id\":\"");
		if (ids && id && id < nl) {
			ck_assert_int_lt(n, max_ids);
			ids[n] = strtoull(id + 11, NULL, 10);
		}
		n++;
		p = nl + 1;
	}
	return n;
}

/* ---- exporter sets configured by option name ------------------------------------------------ */

struct xs_opt {
	const char *name, *arg; /* arg NULL for flags */
};

/* Sets each option (failing the test on a refusal). */
static inline void xs_set(struct exporter_set *s, const struct xs_opt *o)
{
	struct errmsg e = {""};

	for (; o->name; o++)
		ck_assert_msg(exporter_set_option(s, o->name, o->arg, &e) == 0, "--%s %s: %s",
			      o->name, o->arg ? o->arg : "", e.text);
}

/* A set with these options, opened for node NODE (failing the test if it does not open). The
 * option values must outlive the call only (the exporters copy what they keep). */
static inline struct exporter_set *xs_open(const struct xs_opt *o)
{
	struct exporter_env env = {.node_name = NODE};
	struct exporter_set *s = exporter_set_new();
	struct errmsg e = {""};
	int r;

	ck_assert_ptr_nonnull(s);
	xs_set(s, o);
	r = exporter_set_open(s, &env, &e);
	ck_assert_msg(r == 0, "exporter_set_open: %d %s", r, e.text);
	return s;
}

#define XS_OPEN(...) xs_open((const struct xs_opt[]){__VA_ARGS__, {NULL, NULL}})

/* Opening a set with these options fails: returns the error, the message in e, the set freed. */
static inline int xs_open_fails(const struct xs_opt *o, struct errmsg *e)
{
	struct exporter_env env = {.node_name = NODE};
	struct exporter_set *s = exporter_set_new();
	int r;

	ck_assert_ptr_nonnull(s);
	xs_set(s, o);
	memset(e, 0, sizeof(*e));
	r = exporter_set_open(s, &env, e);
	ck_assert_int_lt(r, 0);
	ck_assert_uint_eq(exporter_set_count(s), 0); /* nothing is left open */
	exporter_set_free(s);
	return r;
}

#define XS_OPEN_FAILS(e, ...) xs_open_fails((const struct xs_opt[]){__VA_ARGS__, {NULL, NULL}}, e)

/* The counters of the open exporter named name (failing the test when it is not open). */
static inline void xs_stats(const struct exporter_set *s, const char *name,
			    struct exporter_stats *st)
{
	size_t i;

	for (i = 0; i < exporter_set_count(s); i++)
		if (!strcmp(exporter_set_stats(s, i, st), name))
			return;
	ck_abort_msg("exporter %s is not open", name);
}

/* The extra counter named name (failing the test when there is none). */
static inline uint64_t xs_extra(const struct exporter_stats *st, const char *name)
{
	unsigned int i;

	for (i = 0; i < st->n_extra; i++)
		if (!strcmp(st->extra[i].name, name))
			return st->extra[i].value;
	ck_abort_msg("no extra counter %s", name);
	return 0;
}

static inline void xs_take(struct exporter_set *s, const struct flow *f)
{
	int r = exporter_set_take(s, f);

	ck_assert_msg(r == 0, "exporter_set_take: %d", r);
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Flushes until exporter name has written n events (at most timeout_ms). */
static inline void xs_flush_until_written(struct exporter_set *s, const char *name, uint64_t n,
					  unsigned int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	struct exporter_stats st;

	for (;;) {
		exporter_set_flush(s, false);
		xs_stats(s, name, &st);
		if (st.written >= n || now_ms() > end)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(st.written, n);
}

/* ---- loopback peers ------------------------------------------------------------------------- */

static inline int loopback_socket(int type, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), rcv = 4 << 20;

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)); /* best effort */
	*port = ntohs(a.sin_port);
	return fd;
}

/* A UDP socket bound on 127.0.0.1 (a free port, in *port); recv() waits up to 5 s. */
static inline int udp_peer(uint16_t *port)
{
	return loopback_socket(SOCK_DGRAM, port);
}

/* The next datagram (waiting up to 5 s), NUL-terminated in buf; returns its length. */
static inline size_t udp_recv(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, 0);

	ck_assert_msg(n >= 0, "no datagram: %s", strerror(errno));
	ck_assert_uint_lt((size_t)n, len - 1); /* not cut */
	buf[n] = '\0';
	return (size_t)n;
}

/* Nothing (more) has arrived. Loopback delivers a datagram before sendto() returns. */
static inline void udp_none(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

	ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
		      "unexpected datagram (%zd bytes)", n);
}

/* A TCP socket bound on 127.0.0.1 and not listening yet: connections to it are refused. */
static inline int tcp_peer(uint16_t *port)
{
	return loopback_socket(SOCK_STREAM, port);
}

/* Accepts one connection on the listening fd (waiting up to 5 s); recv() on it waits up to
 * 5 s. */
static inline int tcp_accept(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 5};
	int fd;

	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

/* Reads from fd until out holds at least want bytes (failing after 5 s without data). */
static inline void tcp_read(int fd, struct buf *out, size_t want)
{
	char chunk[4096];

	while (out->len < want) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		ck_assert_msg(n > 0, "connection: %zd after %zu of %zu bytes: %s", n, out->len,
			      want, n < 0 ? strerror(errno) : "closed");
		ck_assert_int_eq(buf_append(out, chunk, (size_t)n), 0);
	}
}

/* ---- syslog messages ------------------------------------------------------------------------ */

/* The RFC 5424 message include/flowscope/encode/syslog_msg.h specifies for a flow of
 * make_flow() (its time is 2023-11-14T22:13:20.123456xxxZ) sent by this process as host, with
 * MSG msg[0..len): "<PRI>1 TIMESTAMP HOSTNAME flowd PID flow - MSG", PRI 134 (local0.info), 132
 * (local0.warning) for a drop. */
static inline void syslog_expect(struct buf *out, const struct flow *f, const char *host,
				 const char *msg, size_t len)
{
	bool drop = f->verdict == FLOW_VERDICT_DROPPED || f->event == FLOW_EVENT_DROP;

	ck_assert_uint_eq(f->time_ns / 1000000000ULL, FLOW_TIME_S);
	ck_assert_int_eq(buf_printf(out, "<%d>1 2023-11-14T22:13:20.%06uZ %s flowd %d flow - ",
				    drop ? 132 : 134,
				    (unsigned int)(f->time_ns % 1000000000ULL / 1000), host,
				    (int)getpid()),
			 0);
	ck_assert_int_eq(buf_append(out, msg, len), 0);
}

/* The same with the flow's JSON line (without its '\n') as MSG. */
static inline void syslog_expect_json(struct buf *out, const struct flow *f, const char *host)
{
	struct buf line = flow_line(f);

	syslog_expect(out, f, host, line.data, line.len - 1);
	buf_free(&line);
}

#endif /* FLOWSCOPE_TESTS_EXPORT_HARNESS_H */
