/* Flows as RFC 5424 syslog messages over UDP or TCP (see include/flowscope/syslog_exporter.h).
 * The queue is one byte buffer of whole messages (framed "LEN SP MSG" for TCP) plus the length of
 * each, so a message cut by a broken connection is re-sent whole on the next one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/buf.h"
#include "flowscope/flow_pb.h"
#include "flowscope/syslog_exporter.h"

#define DEFAULT_PORT 514
#define DEFAULT_MAX_BUFFER (4u << 20)
#define RECONNECT_NS 1000000000ULL
#define CLOSE_WAIT_NS 2000000000ULL
#define SEND_CHUNK (256u << 10)
#define PRI_INFO (16 * 8 + 6)
#define PRI_WARNING (16 * 8 + 4)

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

struct syslog_exporter {
	bool tcp, cef;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hostname[256];
	size_t max_buffer;
	int fd;
	enum conn_state state;
	bool ever_connected;
	uint64_t last_attempt_ns;
	int pid;

	struct buf q;	   /* queued messages; the first starts at q_off */
	size_t q_off;	   /* bytes of whole messages already sent */
	size_t part;	   /* bytes of the first queued message already sent (TCP) */
	size_t *lens;	   /* length of each queued message (framing included) */
	size_t lens_head;  /* first queued entry */
	size_t lens_count; /* entries queued */
	size_t lens_cap;

	struct buf scratch;
	struct syslog_exporter_stats st;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* RFC 5424 HOSTNAME: 1..255 printable US-ASCII characters, no spaces. */
static void set_hostname(struct syslog_exporter *e, const char *name)
{
	size_t i, n = 0;

	if (!name || !*name) {
		if (gethostname(e->hostname, sizeof(e->hostname)) != 0)
			e->hostname[0] = '\0';
		e->hostname[sizeof(e->hostname) - 1] = '\0';
		name = e->hostname;
	}
	for (i = 0; name[i] && n < sizeof(e->hostname) - 1; i++) {
		unsigned char c = (unsigned char)name[i];

		e->hostname[n++] = (c > 32 && c < 127) ? (char)c : '_';
	}
	e->hostname[n] = '\0';
	if (n == 0)
		strcpy(e->hostname, "-");
}

static void conn_close(struct syslog_exporter *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	e->state = CONN_DOWN;
	e->part = 0; /* a message cut by the break is re-sent whole */
}

static int make_socket(struct syslog_exporter *e)
{
	int fd = socket(e->addr.ss_family,
			(e->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	e->fd = fd;
	return 0;
}

/* Starts a connection (TCP: non-blocking; UDP: sets the default destination). */
static int conn_start(struct syslog_exporter *e)
{
	int rc;

	e->last_attempt_ns = mono_ns();
	rc = make_socket(e);
	if (rc < 0)
		return rc;
	if (connect(e->fd, (struct sockaddr *)&e->addr, e->addrlen) == 0) {
		e->state = CONN_UP;
	} else if (errno == EINPROGRESS) {
		e->state = CONN_CONNECTING;
	} else {
		rc = -errno;
		conn_close(e);
		return rc;
	}
	if (e->state == CONN_UP && e->tcp) {
		if (e->ever_connected)
			e->st.reconnects++;
		e->ever_connected = true;
	}
	return 0;
}

/* Completes a pending TCP connect; returns true when the connection is up. */
static bool conn_check(struct syslog_exporter *e)
{
	struct pollfd p = {.fd = e->fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (poll(&p, 1, 0) <= 0)
		return false;
	if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
		conn_close(e);
		return false;
	}
	e->state = CONN_UP;
	if (e->ever_connected)
		e->st.reconnects++;
	e->ever_connected = true;
	return true;
}

/* TCP: has the peer closed (or reset) the connection? Catches a restarted server before we
 * write into a dead connection. */
static bool peer_gone(struct syslog_exporter *e)
{
	char c;
	ssize_t n;

	for (;;) {
		n = recv(e->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return true;
		if (n > 0) {
			/* The server sent something (syslog servers do not): discard it. */
			char sink[512];

			if (recv(e->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				return true;
			continue;
		}
		if (errno == EINTR)
			continue;
		return errno != EAGAIN && errno != EWOULDBLOCK;
	}
}

static bool ensure_up(struct syslog_exporter *e)
{
	if (e->state == CONN_CONNECTING && !conn_check(e))
		return false;
	if (e->state == CONN_DOWN) {
		if (mono_ns() - e->last_attempt_ns < RECONNECT_NS && e->last_attempt_ns)
			return false;
		if (conn_start(e) < 0)
			return false;
		if (e->state == CONN_CONNECTING && !conn_check(e))
			return false;
	}
	if (e->tcp && peer_gone(e)) {
		conn_close(e);
		return false;
	}
	return e->state == CONN_UP;
}

static size_t queued_bytes(const struct syslog_exporter *e)
{
	return e->q.len - e->q_off;
}

/* Removes the first queued message (sent or dropped). */
static void pop_msg(struct syslog_exporter *e)
{
	e->q_off += e->lens[e->lens_head];
	e->lens_head++;
	e->lens_count--;
	e->part = 0;
	if (e->lens_count == 0) {
		e->lens_head = 0;
		e->q_off = 0;
		buf_reset(&e->q);
	}
}

/* Reclaims the space of sent messages. */
static void compact(struct syslog_exporter *e)
{
	if (e->lens_head > 0 && e->lens_head >= e->lens_count) {
		memmove(e->lens, e->lens + e->lens_head, e->lens_count * sizeof(*e->lens));
		e->lens_head = 0;
	}
	if (e->q_off > 0 && e->q_off >= queued_bytes(e)) {
		memmove(e->q.data, e->q.data + e->q_off, queued_bytes(e));
		e->q.len -= e->q_off;
		e->q_off = 0;
	}
}

static int push_len(struct syslog_exporter *e, size_t len)
{
	if (e->lens_head + e->lens_count == e->lens_cap) {
		size_t ncap = e->lens_cap ? e->lens_cap * 2 : 64;
		size_t *n = realloc(e->lens, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		e->lens = n;
		e->lens_cap = ncap;
	}
	e->lens[e->lens_head + e->lens_count++] = len;
	return 0;
}

static void fmt_time(char *out, size_t n, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ULL);
	unsigned int us = (unsigned int)(ns % 1000000000ULL / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

static void fmt_addr(char *out, size_t n, uint8_t family, const uint8_t *a)
{
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, out, (socklen_t)n))
		snprintf(out, n, "-");
}

static const char *proto_name(uint8_t p, char *tmp, size_t n)
{
	switch (p) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
		return "ICMP";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	case IPPROTO_SCTP:
		return "SCTP";
	default:
		snprintf(tmp, n, "%u", p);
		return tmp;
	}
}

/* Appends a CEF extension value: '\', '=' escaped with '\', newlines as \n and \r. */
static int cef_ext_sep(struct buf *b, bool first, const char *key, const char *val)
{
	int rc = buf_printf(b, "%s%s=", first ? "" : " ", key);

	for (; rc == 0 && *val; val++) {
		switch (*val) {
		case '\\':
		case '=':
		case '|':
			rc = buf_putc(b, '\\');
			if (rc == 0)
				rc = buf_putc(b, *val);
			break;
		case '\n':
			rc = buf_puts(b, "\\n");
			break;
		case '\r':
			rc = buf_puts(b, "\\r");
			break;
		default:
			rc = buf_putc(b, *val);
		}
	}
	return rc;
}

static int cef_ext(struct buf *b, const char *key, const char *val)
{
	return cef_ext_sep(b, false, key, val);
}

static int cef_u64(struct buf *b, const char *key, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	return cef_ext(b, key, tmp);
}

static int format_cef(struct buf *b, const struct flow *f)
{
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;
	uint64_t out = f->bytes[f->is_reply ? 1 : 0], in = f->bytes[f->is_reply ? 0 : 1];
	uint64_t end = f->ended && f->end_ns ? f->end_ns : f->last_seen_ns;
	char a[INET6_ADDRSTRLEN], tmp[8];
	int rc;

	rc = buf_puts(b, "CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|");
	if (rc)
		return rc;
	fmt_addr(a, sizeof(a), f->family, src->addr);
	rc = cef_ext_sep(b, true, "src", a); /* right after the header's last '|' */
	if (rc)
		return rc;
	fmt_addr(a, sizeof(a), f->family, dst->addr);
	rc = cef_ext(b, "dst", a);
	if (!rc &&
	    (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP)) {
		rc = cef_u64(b, "spt", src->port);
		if (!rc)
			rc = cef_u64(b, "dpt", dst->port);
	}
	if (!rc)
		rc = cef_ext(b, "proto", proto_name(f->proto, tmp, sizeof(tmp)));
	if (!rc)
		rc = cef_ext(b, "act",
			     f->verdict == FLOW_VERDICT_DROPPED ? "DROPPED" : "FORWARDED");
	if (!rc)
		rc = cef_u64(b, "in", in);
	if (!rc)
		rc = cef_u64(b, "out", out);
	if (!rc)
		rc = cef_u64(b, "start", f->first_seen_ns / 1000000ULL);
	if (!rc)
		rc = cef_u64(b, "end", end / 1000000ULL);
	return rc;
}

/* Builds the RFC 5424 message for f in e->scratch. */
static int format_msg(struct syslog_exporter *e, const struct flow *f, const char *node_name)
{
	struct buf *b = &e->scratch;
	bool drop = f->verdict == FLOW_VERDICT_DROPPED || f->event == FLOW_EVENT_DROP;
	char ts[96];
	int rc;

	buf_reset(b);
	fmt_time(ts, sizeof(ts), f->time_ns ? f->time_ns : wall_ns());
	rc = buf_printf(b, "<%d>1 %s %s flowd %d flow - ", drop ? PRI_WARNING : PRI_INFO, ts,
			e->hostname, e->pid);
	if (rc)
		return rc;
	if (e->cef)
		return format_cef(b, f);
	rc = flow_pb_json_line(b, f, node_name ? node_name : "");
	if (rc)
		return rc;
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
	return 0;
}

int syslog_exporter_open(struct syslog_exporter **out, const struct syslog_exporter_opts *o,
			 char *err, size_t errlen)
{
	struct syslog_exporter *e;
	uint16_t port = o->port ? o->port : DEFAULT_PORT;
	struct sockaddr_in *s4;
	struct sockaddr_in6 *s6;
	int rc;

	*out = NULL;
	if (!o->host || !*o->host) {
		snprintf(err, errlen, "syslog: no host given");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "syslog: out of memory");
		return -ENOMEM;
	}
	s4 = (struct sockaddr_in *)&e->addr;
	s6 = (struct sockaddr_in6 *)&e->addr;
	if (inet_pton(AF_INET, o->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		e->addrlen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, o->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		e->addrlen = sizeof(*s6);
	} else {
		snprintf(err, errlen, "syslog: '%s' is not a numeric IPv4 or IPv6 address",
			 o->host);
		free(e);
		return -EINVAL;
	}
	e->tcp = o->tcp;
	e->cef = o->cef;
	e->max_buffer = o->max_buffer ? o->max_buffer : DEFAULT_MAX_BUFFER;
	e->fd = -1;
	e->pid = (int)getpid();
	set_hostname(e, o->hostname);
	rc = conn_start(e);
	if (rc < 0 && !e->tcp) {
		snprintf(err, errlen, "syslog: udp socket to %s:%u: %s", o->host, port,
			 strerror(-rc));
		free(e);
		return rc;
	}
	/* TCP: a server not up yet is retried by flush. */
	*out = e;
	return 0;
}

int syslog_exporter_add(struct syslog_exporter *e, const struct flow *f, const char *node_name)
{
	char hdr[24];
	size_t hlen = 0, len;
	int rc;

	rc = format_msg(e, f, node_name);
	if (rc) {
		e->st.dropped++;
		return rc;
	}
	if (e->tcp)
		hlen = (size_t)snprintf(hdr, sizeof(hdr), "%zu ", e->scratch.len);
	len = hlen + e->scratch.len;
	if (queued_bytes(e) + len > e->max_buffer) {
		e->st.dropped++;
		return -ENOBUFS;
	}
	compact(e);
	rc = buf_reserve(&e->q, len);
	if (!rc)
		rc = push_len(e, len);
	if (rc) {
		e->st.dropped++;
		return rc;
	}
	buf_append(&e->q, hdr, hlen);
	buf_append(&e->q, e->scratch.data, e->scratch.len);
	return 0;
}

static int flush_udp(struct syslog_exporter *e)
{
	bool retried = false;

	if (e->state != CONN_UP && !ensure_up(e))
		return -EAGAIN;
	while (e->lens_count > 0) {
		size_t len = e->lens[e->lens_head];
		ssize_t n = send(e->fd, e->q.data + e->q_off, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n >= 0) {
			e->st.sent++;
			pop_msg(e);
			retried = false;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return -EAGAIN;
		/* ECONNREFUSED and the like report an earlier datagram: retry this one once. */
		if (!retried) {
			retried = true;
			continue;
		}
		e->st.dropped++;
		pop_msg(e);
		retried = false;
	}
	return 0;
}

static int flush_tcp(struct syslog_exporter *e)
{
	while (e->lens_count > 0) {
		size_t avail = queued_bytes(e) - e->part, n;
		ssize_t w;

		if (!ensure_up(e))
			return -EAGAIN;
		if (avail > SEND_CHUNK)
			avail = SEND_CHUNK;
		w = send(e->fd, e->q.data + e->q_off + e->part, avail, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			conn_close(e); /* EPIPE, ECONNRESET, ...: reconnect later */
			return -EAGAIN;
		}
		n = (size_t)w;
		while (n > 0 && e->lens_count > 0) {
			size_t rest = e->lens[e->lens_head] - e->part;

			if (n < rest) {
				e->part += n;
				break;
			}
			n -= rest;
			e->st.sent++;
			pop_msg(e);
		}
	}
	return 0;
}

int syslog_exporter_flush(struct syslog_exporter *e)
{
	int rc = e->tcp ? flush_tcp(e) : flush_udp(e);

	compact(e);
	return rc;
}

void syslog_exporter_close(struct syslog_exporter *e)
{
	uint64_t deadline;

	if (!e)
		return;
	deadline = mono_ns() + CLOSE_WAIT_NS;
	while (syslog_exporter_flush(e) == -EAGAIN) {
		uint64_t now = mono_ns();
		struct pollfd p = {.fd = e->fd, .events = POLLOUT};
		int ms;

		if (now >= deadline)
			break;
		ms = (int)((deadline - now) / 1000000ULL);
		if (ms > 100)
			ms = 100;
		if (e->fd >= 0 && e->state != CONN_DOWN)
			poll(&p, 1, ms);
		else
			usleep((useconds_t)ms * 1000);
	}
	e->st.dropped += e->lens_count;
	conn_close(e);
	buf_free(&e->q);
	buf_free(&e->scratch);
	free(e->lens);
	free(e);
}

void syslog_exporter_get_stats(const struct syslog_exporter *e, struct syslog_exporter_stats *st)
{
	*st = e->st;
	st->queued_bytes = queued_bytes(e);
}
