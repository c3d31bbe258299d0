/* Flows as RFC 5424 syslog messages over UDP, TCP or TLS (see
 * include/flowscope/exporters/syslog_exporter.h). The queue is one byte buffer of whole messages (framed
 * "LEN SP MSG" for TCP and TLS) plus the length of each, so a message cut by a broken connection
 * is re-sent whole on the next one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/buf.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/exporters/syslog_exporter.h"

#define DEFAULT_PORT 514
#define DEFAULT_MAX_BUFFER (4u << 20)
#define RECONNECT_NS 1000000000ULL
#define CLOSE_WAIT_NS 2000000000ULL
#define SEND_CHUNK (256u << 10)
#define PRI_INFO (16 * 8 + 6)
#define PRI_WARNING (16 * 8 + 4)

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_HANDSHAKE, CONN_UP };

struct syslog_exporter {
	bool tcp, cef;
	SSL_CTX *ssl_ctx; /* TLS: set */
	SSL *ssl;	  /* TLS: the current connection */
	char *tls_name;	  /* host name or IP address the certificate must match */
	bool tls_logged;  /* a handshake failure was logged (once) */
	size_t tls_wlen;  /* TLS: length of an SSL_write to retry (WANT_WRITE), else 0 */
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
	if (e->ssl) {
		SSL_free(e->ssl); /* no close_notify: the connection is broken or being dropped */
		e->ssl = NULL;
	}
	e->tls_wlen = 0;
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

/* SSL_* calls write with write(2), which raises SIGPIPE on a reset connection: block it around
 * them and swallow a SIGPIPE raised meanwhile (unless one was already pending). */
struct pipe_guard {
	sigset_t old;
	bool pending;
};

static void pipe_block(struct pipe_guard *g)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pend);
	g->pending = sigismember(&pend, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_unblock(struct pipe_guard *g)
{
	sigset_t set, pend;
	struct timespec zero = {0, 0};

	if (!g->pending) {
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		sigpending(&pend);
		if (sigismember(&pend, SIGPIPE) == 1)
			while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
				;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* The connection (TCP, or TLS after its handshake) is up. */
static void conn_established(struct syslog_exporter *e)
{
	e->state = CONN_UP;
	if (e->ever_connected)
		e->st.reconnects++;
	e->ever_connected = true;
}

static void conn_failed(struct syslog_exporter *e)
{
	e->st.connect_failures++;
	conn_close(e);
}

/* TCP is up: starts the TLS handshake (driven by tls_handshake()). */
static int tls_start(struct syslog_exporter *e)
{
	X509_VERIFY_PARAM *vp;
	unsigned char ip[16];

	e->ssl = SSL_new(e->ssl_ctx);
	if (!e->ssl || SSL_set_fd(e->ssl, e->fd) != 1)
		return -ENOMEM;
	vp = SSL_get0_param(e->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, e->tls_name, ip) == 1 || inet_pton(AF_INET6, e->tls_name, ip) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, e->tls_name) != 1)
			return -EINVAL;
	} else {
		if (X509_VERIFY_PARAM_set1_host(vp, e->tls_name, 0) != 1)
			return -EINVAL;
		SSL_set_tlsext_host_name(e->ssl, e->tls_name); /* SNI: names only */
	}
	SSL_set_connect_state(e->ssl);
	e->state = CONN_HANDSHAKE;
	return 0;
}

/* Advances the handshake; returns true when the TLS connection is up. A failure (certificate
 * verification included) closes the connection, is counted and logged once. */
static bool tls_handshake(struct syslog_exporter *e)
{
	struct pipe_guard g;
	int rc, err;
	unsigned long ec;
	long vr;
	char msg[256] = "";

	ERR_clear_error();
	pipe_block(&g);
	rc = SSL_connect(e->ssl);
	pipe_unblock(&g);
	if (rc == 1) {
		conn_established(e);
		return true;
	}
	err = SSL_get_error(e->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return false;
	}
	vr = SSL_get_verify_result(e->ssl);
	ec = ERR_peek_last_error();
	if (vr != X509_V_OK)
		snprintf(msg, sizeof(msg), "certificate verification failed: %s",
			 X509_verify_cert_error_string(vr));
	else if (ec)
		ERR_error_string_n(ec, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "handshake failed (%s)",
			 err == SSL_ERROR_SYSCALL ? "connection closed" : "protocol error");
	ERR_clear_error();
	if (!e->tls_logged) {
		fprintf(stderr, "syslog: TLS to %s: %s (retrying; logged once)\n", e->tls_name,
			msg);
		e->tls_logged = true;
	}
	conn_failed(e);
	return false;
}

/* TCP is up: for TLS starts the handshake, else the connection is established. */
static bool tcp_up(struct syslog_exporter *e)
{
	if (!e->ssl_ctx) {
		conn_established(e);
		return true;
	}
	if (tls_start(e) < 0) {
		ERR_clear_error();
		conn_failed(e);
		return false;
	}
	return tls_handshake(e);
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
		if (e->tcp)
			tcp_up(e);
		else
			e->state = CONN_UP;
	} else if (errno == EINPROGRESS) {
		e->state = CONN_CONNECTING;
	} else {
		rc = -errno;
		if (e->tcp)
			conn_failed(e);
		else
			conn_close(e);
		return rc;
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
		conn_failed(e);
		return false;
	}
	return tcp_up(e);
}

/* TLS: has the peer closed the connection? Reads (and discards) what the server sent: TLS 1.3
 * session tickets, an alert, close_notify. */
static bool tls_peer_gone(struct syslog_exporter *e)
{
	char sink[512];
	struct pipe_guard g;
	int n, err;

	if (e->tls_wlen)
		return false; /* a write to retry: leave the connection alone */
	for (;;) {
		ERR_clear_error();
		pipe_block(&g);
		n = SSL_read(e->ssl, sink, sizeof(sink));
		pipe_unblock(&g);
		if (n > 0)
			continue;
		err = SSL_get_error(e->ssl, n);
		ERR_clear_error();
		return err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE;
	}
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
	if (e->state == CONN_HANDSHAKE && !tls_handshake(e))
		return false;
	if (e->state == CONN_DOWN) {
		if (mono_ns() - e->last_attempt_ns < RECONNECT_NS && e->last_attempt_ns)
			return false;
		if (conn_start(e) < 0)
			return false;
		if (e->state == CONN_CONNECTING && !conn_check(e))
			return false;
		if (e->state != CONN_UP)
			return false;
	}
	if (e->ssl ? tls_peer_gone(e) : e->tcp && peer_gone(e)) {
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

/* TLS: the client context (certificate verification on) and the name to verify. */
static int tls_setup(struct syslog_exporter *e, const struct syslog_exporter_opts *o, char *err,
		     size_t errlen)
{
	const char *name = o->tls_server_name && *o->tls_server_name ? o->tls_server_name : o->host;
	const char *what;
	char ebuf[160] = "";

	ERR_clear_error();
	e->tls_name = strdup(name);
	e->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!e->tls_name || !e->ssl_ctx) {
		snprintf(err, errlen, "syslog: TLS: out of memory");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(e->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(e->ssl_ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(e->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (o->tls_ca && *o->tls_ca) {
		what = "CA bundle";
		if (SSL_CTX_load_verify_locations(e->ssl_ctx, o->tls_ca, NULL) != 1)
			goto fail;
	} else {
		what = "default CA paths";
		if (SSL_CTX_set_default_verify_paths(e->ssl_ctx) != 1)
			goto fail;
	}
	if ((o->tls_cert && *o->tls_cert) != (o->tls_key && *o->tls_key)) {
		snprintf(err, errlen,
			 "syslog: TLS: a client certificate needs its key and vice versa");
		return -EINVAL;
	}
	if (o->tls_cert && *o->tls_cert) {
		what = "client certificate";
		if (SSL_CTX_use_certificate_chain_file(e->ssl_ctx, o->tls_cert) != 1)
			goto fail;
		what = "client key";
		if (SSL_CTX_use_PrivateKey_file(e->ssl_ctx, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(e->ssl_ctx) != 1)
			goto fail;
	}
	ERR_clear_error();
	return 0;
fail:
	ERR_error_string_n(ERR_peek_last_error(), ebuf, sizeof(ebuf));
	ERR_clear_error();
	snprintf(err, errlen, "syslog: TLS: cannot load the %s: %s", what, ebuf);
	return -EINVAL;
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
	e->tcp = o->tcp || o->tls;
	e->cef = o->cef;
	if (o->tls) {
		rc = tls_setup(e, o, err, errlen);
		if (rc < 0) {
			SSL_CTX_free(e->ssl_ctx);
			free(e->tls_name);
			free(e);
			return rc;
		}
	}
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

/* Writes up to n bytes on the stream: returns the count written, -EAGAIN (would block) or -EPIPE
 * (connection broken). TLS: after WANT_*, the next call retries with the same data (the queue
 * only grows meanwhile; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows compact() to move it). */
static ssize_t stream_write(struct syslog_exporter *e, const void *p, size_t n)
{
	struct pipe_guard g;
	ssize_t w;
	int err;

	if (!e->ssl) {
		for (;;) {
			w = send(e->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w >= 0)
				return w;
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EPIPE;
		}
	}
	if (n > INT32_MAX)
		n = INT32_MAX;
	ERR_clear_error();
	pipe_block(&g);
	w = SSL_write(e->ssl, p, (int)n);
	pipe_unblock(&g);
	if (w > 0) {
		e->tls_wlen = 0;
		return w;
	}
	err = SSL_get_error(e->ssl, (int)w);
	ERR_clear_error();
	if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
		e->tls_wlen = n;
		return -EAGAIN;
	}
	return -EPIPE;
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
		w = stream_write(e, e->q.data + e->q_off + e->part, avail);
		if (w == -EAGAIN)
			return -EAGAIN;
		if (w < 0) {
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

		if (e->ssl && SSL_want_read(e->ssl))
			p.events = POLLIN;
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
	SSL_CTX_free(e->ssl_ctx);
	free(e->tls_name);
	free(e);
}

void syslog_exporter_get_stats(const struct syslog_exporter *e, struct syslog_exporter_stats *st)
{
	*st = e->st;
	st->queued_bytes = queued_bytes(e);
}
