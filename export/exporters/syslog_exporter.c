/* The syslog exporter: every flow event as an RFC 5424 message (encode/syslog_msg.h: the
 * event's JSON line or a CEF record) to a syslog server (rsyslog, syslog-ng, a SIEM collector)
 * over UDP (one message per datagram), TCP (RFC 6587 octet counting) or TLS (RFC 5425).
 *
 * Delivery: take() only queues (base/msg_queue.h, bounded in bytes by --export-syslog-buffer;
 * beyond it messages are dropped and counted); flush() sends what the non-blocking socket takes.
 * While a TCP connection is down messages stay queued and flush reconnects, at most once a
 * second. A message partly sent when a connection broke is sent whole on the next one. Bytes the
 * kernel accepted on a connection that then broke cannot be recovered (plain TCP syslog has no
 * acknowledgement); before sending, flush checks whether the peer closed the connection, which
 * catches the common case of a restarted server. Over UDP a datagram the kernel refuses with an
 * error other than EAGAIN/ENOBUFS is dropped.
 *
 * TLS: the server's certificate is always verified, against --export-syslog-ca or the system's
 * CAs, and its name against the host (an IP address against IP SANs); the handshake is
 * non-blocking, driven by flush. A failed handshake or verification is logged once, counted and
 * retried like a TCP connection; messages stay queued. */
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
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/msg_queue.h"
#include "flowscope/base/parse.h"
#include "flowscope/base/tls.h"
#include "flowscope/encode/syslog_msg.h"
#include "flowscope/exporters/exporter.h"

#define DEFAULT_MAX_BUFFER (4u << 20)
#define RECONNECT_NS 1000000000ULL
#define CLOSE_WAIT_NS 2000000000ULL
#define SEND_CHUNK (256u << 10)

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_HANDSHAKE, CONN_UP };

struct syslog_cfg {
	struct url url; /* udp://, tcp:// or tls://HOST:PORT */
	bool set;
	int format; /* 0 json, 1 cef */
	const char *ca, *cert, *key, *hostname;
	uint64_t max_buffer;
};

struct syslog_exporter {
	bool tcp, cef;
	SSL_CTX *ssl_ctx; /* TLS: set */
	SSL *ssl;	  /* TLS: the current connection */
	char *tls_name;	  /* host name or IP address the certificate must match */
	bool tls_logged;  /* a handshake failure was logged (once) */
	size_t tls_wlen;  /* TLS: length of an SSL_write to retry (WANT_WRITE), else 0 */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hostname[SYSLOG_MSG_HOSTNAME_MAX];
	int fd;
	enum conn_state state;
	bool ever_connected;
	uint64_t last_attempt_ns;
	int pid;
	struct msg_queue q; /* whole messages, framed for TCP and TLS */
	struct buf msg, framed;
	struct exporter_stats st;
	uint64_t reconnects, connect_failures;
};

static int opt_syslog_url(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct syslog_cfg *c = base;

	(void)o;
	if (parse_url(arg, &c->url) ||
	    (strcmp(c->url.scheme, "udp") && strcmp(c->url.scheme, "tcp") &&
	     strcmp(c->url.scheme, "tls")) ||
	    c->url.path[0])
		return errmsg_set(
			e, -EINVAL,
			"invalid --export-syslog '%s': use udp://, tcp:// or tls://HOST:PORT with a numeric address",
			arg);
	c->set = true;
	return 0;
}

static const char *const formats[] = {"json", "cef", NULL};

static const struct opt syslog_opts[] = {
	{"export-syslog", 0, "URL",
	 "every flow event to syslog (RFC 5424): udp://, tcp:// or\ntls://HOST:PORT (RFC 5425)",
	 opt_syslog_url},
	{"export-syslog-format", 0, "FMT", "json (default: the flow's JSON line) or cef", opt_word,
	 offsetof(struct syslog_cfg, format), 0, 0, formats},
	{"export-syslog-ca", 0, "FILE",
	 "CA bundle to verify the TLS server (default: the system's)", opt_string,
	 offsetof(struct syslog_cfg, ca)},
	{"export-syslog-cert", 0, "FILE", "client certificate for TLS (with --export-syslog-key)",
	 opt_string, offsetof(struct syslog_cfg, cert)},
	{"export-syslog-key", 0, "FILE", "the client certificate's key", opt_string,
	 offsetof(struct syslog_cfg, key)},
	{"export-syslog-hostname", 0, "NAME", "the messages' HOSTNAME (default: this host's name)",
	 opt_string, offsetof(struct syslog_cfg, hostname)},
	{"export-syslog-buffer", 0, "SIZE",
	 "bytes queued at most while the server is slow or down (default 4M)", opt_size,
	 offsetof(struct syslog_cfg, max_buffer), 1024},
	{0},
};

static void conn_close(struct syslog_exporter *e);
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
	msg_queue_rewind(&e->q); /* a message cut by the break is re-sent whole */
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
		e->reconnects++;
	e->ever_connected = true;
}

static void conn_failed(struct syslog_exporter *e)
{
	e->connect_failures++;
	e->st.errors++;
	conn_close(e);
}

/* TCP is up: starts the TLS handshake (driven by tls_handshake()). */
static int tls_start(struct syslog_exporter *e)
{
	e->ssl = SSL_new(e->ssl_ctx);
	if (!e->ssl || SSL_set_fd(e->ssl, e->fd) != 1)
		return -ENOMEM;
	if (tls_set_peer_name(e->ssl, e->tls_name))
		return -EINVAL;
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
		logmsg(LOG_LEVEL_WARN, "syslog: TLS to %s: %s (retrying; logged once)", e->tls_name,
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

	e->last_attempt_ns = clock_mono_ns();
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
		if (clock_mono_ns() - e->last_attempt_ns < RECONNECT_NS && e->last_attempt_ns)
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

static int syslog_take(void *state, struct export_event *ev)
{
	struct syslog_exporter *e = state;
	const struct buf *json = e->cef ? NULL : export_event_json(ev);
	struct buf *m = &e->msg;
	int rc;

	buf_reset(&e->msg);
	buf_reset(&e->framed);
	rc = !e->cef && !json
		     ? -ENOMEM
		     : syslog_msg_format(&e->msg, ev->flow, json ? json->data : NULL,
					 json ? json->len : 0, e->cef, e->hostname, e->pid);
	if (!rc && e->tcp) {
		rc = syslog_msg_frame(&e->framed, e->msg.data, e->msg.len);
		m = &e->framed;
	}
	rc = rc ?: msg_queue_push(&e->q, m->data, m->len, false);
	if (rc) {
		e->st.dropped++;
		if (rc != -ENOBUFS)
			e->st.errors++;
	}
	return rc;
}

static int flush_udp(struct syslog_exporter *e)
{
	bool retried = false;
	const void *p;
	size_t len;

	if (e->state != CONN_UP && !ensure_up(e))
		return -EAGAIN;
	while ((len = msg_queue_first(&e->q, &p))) {
		ssize_t n = send(e->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n >= 0) {
			e->st.written++;
			msg_queue_pop(&e->q);
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
		e->st.errors++;
		msg_queue_pop(&e->q);
		retried = false;
	}
	return 0;
}

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
	while (msg_queue_count(&e->q)) {
		const void *p;
		size_t avail = msg_queue_peek(&e->q, &p);
		uint32_t before = msg_queue_count(&e->q);
		ssize_t w;

		if (!ensure_up(e))
			return -EAGAIN;
		w = stream_write(e, p, avail > SEND_CHUNK ? SEND_CHUNK : avail);
		if (w == -EAGAIN)
			return -EAGAIN;
		if (w < 0) {
			conn_close(e); /* EPIPE, ECONNRESET, ...: reconnect later */
			return -EAGAIN;
		}
		msg_queue_consume(&e->q, (size_t)w);
		e->st.written += before - msg_queue_count(&e->q);
	}
	return 0;
}

static int syslog_flush(void *state, bool sync)
{
	struct syslog_exporter *e = state;

	(void)sync; /* nothing on our side to make durable */
	return e->tcp ? flush_tcp(e) : flush_udp(e);
}

static int set_addr(struct syslog_exporter *e, const struct url *u, struct errmsg *err)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&e->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&e->addr;

	if (inet_pton(AF_INET, u->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(u->port);
		e->addrlen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, u->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(u->port);
		e->addrlen = sizeof(*s6);
	} else {
		return errmsg_set(err, -EINVAL,
				  "'%s' is not a numeric IPv4 or IPv6 address (--export-syslog)",
				  u->host);
	}
	return 0;
}

static void destroy(struct syslog_exporter *e)
{
	conn_close(e);
	msg_queue_free(&e->q);
	buf_free(&e->msg);
	buf_free(&e->framed);
	SSL_CTX_free(e->ssl_ctx);
	free(e->tls_name);
	free(e);
}

static int syslog_open(void **state, const void *cfg, const struct exporter_env *env,
		       struct errmsg *err)
{
	const struct syslog_cfg *c = cfg;
	struct syslog_exporter *e = calloc(1, sizeof(*e));
	int rc;

	(void)env;
	if (!e)
		return errmsg_set(err, -ENOMEM, "out of memory");
	e->fd = -1;
	e->pid = (int)getpid();
	e->tcp = strcmp(c->url.scheme, "udp") != 0;
	e->cef = c->format == 1;
	syslog_msg_hostname(e->hostname, c->hostname);
	rc = msg_queue_init(&e->q, 0, c->max_buffer ? c->max_buffer : DEFAULT_MAX_BUFFER);
	rc = rc ?: set_addr(e, &c->url, err);
	if (!rc && !strcmp(c->url.scheme, "tls")) {
		e->tls_name = strdup(c->url.host);
		e->ssl_ctx = tls_client_ctx(c->ca, c->cert, c->key, NULL, err);
		if (!e->tls_name || !e->ssl_ctx)
			rc = e->tls_name ? -EINVAL : -ENOMEM;
		else
			SSL_CTX_set_mode(e->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
							     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	if (!rc) {
		rc = conn_start(e);
		/* TCP: a server not up yet is retried by flush. */
		if (rc < 0 && !e->tcp)
			errmsg_set(err, rc, "udp socket to %s:%u: %s", c->url.host, c->url.port,
				   strerror(-rc));
		else
			rc = 0;
	}
	if (rc) {
		destroy(e);
		return rc;
	}
	*state = e;
	return 0;
}

/* Flushes with a bounded wait (up to 2 s), then closes; what is left counts as dropped. */
static void syslog_close(void *state)
{
	struct syslog_exporter *e = state;
	uint64_t deadline = clock_mono_ns() + CLOSE_WAIT_NS;

	while (syslog_flush(e, true) == -EAGAIN) {
		uint64_t now = clock_mono_ns();
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
	e->st.dropped += msg_queue_count(&e->q);
	destroy(e);
}

static void syslog_stats(const void *state, struct exporter_stats *st)
{
	const struct syslog_exporter *e = state;

	*st = e->st;
	st->queued = msg_queue_bytes(&e->q);
	st->n_extra = 2;
	st->extra[0].name = "reconnects";
	st->extra[0].value = e->reconnects;
	st->extra[1].name = "connect_failures";
	st->extra[1].value = e->connect_failures;
}

static bool syslog_enabled(const void *cfg)
{
	return ((const struct syslog_cfg *)cfg)->set;
}

const struct exporter_type syslog_exporter = {
	.name = "syslog",
	.title = "Export to syslog:",
	.opts = syslog_opts,
	.config_size = sizeof(struct syslog_cfg),
	.enabled = syslog_enabled,
	.open = syslog_open,
	.take = syslog_take,
	.flush = syslog_flush,
	.close = syslog_close,
	.stats = syslog_stats,
};
