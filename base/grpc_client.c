/* Blocking gRPC client (see include/flowscope/base/grpc_client.h): one TCP connection, an
 * nghttp2 client session, optional TLS via OpenSSL on the socket, poll() for I/O. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/grpc_client.h"
#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/tls.h"
#include "flowscope/base/token.h"

struct grpc_client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	nghttp2_session *session;
	char authority[300];
	char authorization[TOKEN_MAX + 8]; /* "Bearer <token>", or "" */
	bool tls;
	/* The current call. */
	int32_t stream_id;
	struct buf req; /* framed request */
	size_t req_off;
	struct buf in; /* response bytes not yet forming a whole message */
	grpc_client_msg_cb cb;
	void *ctx_cb;
	int http_status;
	int grpc_status; /* -1 until seen */
	char grpc_message[512];
	bool closed; /* stream closed */
	bool cancelled;
	uint32_t rst_code;
	struct errmsg err; /* what a callback found wrong with the stream */
	/* Called when the client is about to wait for more data after delivering messages. */
	void (*idle_cb)(void *ctx);
	void *idle_ctx;
	bool delivered;
	int watch_fd;	 /* -1, or an fd whose error or hang-up ends a call */
	int deadline_ms; /* of each call, 0: none */
	/* What the transport said when it failed ("" if nothing more than errno), and the first
	 * bytes the server sent, to tell what it is when it is not an HTTP/2 server. */
	char io_err[256];
	uint8_t first[8];
	size_t n_first;
	bool got_frame; /* nghttp2 took at least one frame of the server's */
};

static ssize_t on_send(nghttp2_session *s, const uint8_t *d, size_t n, int flags, void *u)
{
	(void)s;
	(void)d;
	(void)n;
	(void)flags;
	(void)u;
	return NGHTTP2_ERR_CALLBACK_FAILURE; /* mem_send is used */
}

static int pct_decode(const uint8_t *in, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < outlen; i++) {
		if (in[i] == '%' && i + 2 < n) {
			char hex[3] = {(char)in[i + 1], (char)in[i + 2], 0};

			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[o++] = (char)in[i];
		}
	}
	out[o] = '\0';
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct grpc_client *c = user;
	char v[32];

	(void)session;
	(void)flags;
	if (frame->hd.stream_id != c->stream_id)
		return 0;
	if (namelen == 7 && !memcmp(name, ":status", 7)) {
		snprintf(v, sizeof(v), "%.*s", (int)(valuelen < 31 ? valuelen : 31), value);
		c->http_status = atoi(v);
	} else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
		snprintf(v, sizeof(v), "%.*s", (int)(valuelen < 31 ? valuelen : 31), value);
		c->grpc_status = atoi(v);
	} else if (namelen == 12 && !memcmp(name, "grpc-message", 12)) {
		pct_decode(value, valuelen, c->grpc_message, sizeof(c->grpc_message));
	}
	return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
		   size_t len, void *user)
{
	struct grpc_client *c = user;
	const uint8_t *p;
	size_t off = 0;

	(void)session;
	(void)flags;
	if (stream_id != c->stream_id || c->cancelled)
		return 0;
	if (buf_append(&c->in, data, len))
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	p = (const uint8_t *)c->in.data;
	for (;;) {
		uint32_t mlen;
		uint8_t mflags;

		if (!grpc_frame_get_header(p + off, c->in.len - off, &mflags, &mlen) ||
		    c->in.len - off - GRPC_FRAME_HDR < mlen)
			break;
		if (mflags != 0) {
			errmsg_set(&c->err, -EPROTO, "server sent a compressed message");
			c->cancelled = true;
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
						  NGHTTP2_CANCEL);
			return 0;
		}
		c->delivered = true;
		if (c->cb(p + off + 5, mlen, c->ctx_cb)) {
			c->cancelled = true;
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id,
						  NGHTTP2_CANCEL);
			return 0;
		}
		off += 5 + mlen;
	}
	if (off) {
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user)
{
	struct grpc_client *c = user;

	(void)session;
	if (stream_id == c->stream_id) {
		c->closed = true;
		c->rst_code = error_code;
	}
	return 0;
}

static ssize_t req_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *source, void *user)
{
	struct grpc_client *c = user;
	size_t n = c->req.len - c->req_off;

	(void)session;
	(void)stream_id;
	(void)source;
	if (n > len)
		n = len;
	memcpy(buf, c->req.data + c->req_off, n);
	c->req_off += n;
	if (c->req_off == c->req.len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* A TLS read or write failed with SSL error code err: keeps what OpenSSL said (an alert such as
 * "certificate required" when the server refused the client's certificate) for the call's
 * error. */
static int tls_io_error(struct grpc_client *c, int err)
{
	if (err == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
		if (!errno)
			return -ECONNRESET;
		snprintf(c->io_err, sizeof(c->io_err), "TLS: %s", strerror(errno));
		return -errno;
	}
	snprintf(c->io_err, sizeof(c->io_err), "TLS: %s", tls_error_text());
	return -EPROTO;
}

/* A TLS write failed: a server that refused the client (its certificate) has sent an alert
 * before closing; reading it tells why, where the write alone says only "broken pipe". */
static int tls_write_error(struct grpc_client *c, int err)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	uint8_t b[256];
	int r = tls_io_error(c, err), n;

	ERR_clear_error();
	if (poll(&p, 1, 200) > 0 && (n = SSL_read(c->ssl, b, sizeof(b))) <= 0 &&
	    SSL_get_error(c->ssl, n) == SSL_ERROR_SSL)
		snprintf(c->io_err, sizeof(c->io_err), "TLS: %s", tls_error_text());
	return r;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct grpc_client *c = user;

	(void)session;
	(void)frame;
	c->got_frame = true;
	return 0;
}

static int net_write(struct grpc_client *c, const uint8_t *d, size_t n)
{
	while (n) {
		ssize_t w;

		if (c->tls) {
			int r = SSL_write(c->ssl, d, (int)n);

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					struct pollfd p = {c->fd, POLLOUT | POLLIN, 0};
					poll(&p, 1, 1000);
					continue;
				}
				return tls_write_error(c, e);
			}
			w = r;
		} else {
			w = send(c->fd, d, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN) {
					struct pollfd p = {c->fd, POLLOUT, 0};
					poll(&p, 1, 1000);
					continue;
				}
				return -errno;
			}
		}
		d += w;
		n -= (size_t)w;
	}
	return 0;
}

static int session_flush(struct grpc_client *c)
{
	const uint8_t *data;
	ssize_t n;
	int err;

	while ((n = nghttp2_session_mem_send(c->session, &data)) > 0) {
		err = net_write(c, data, (size_t)n);
		if (err)
			return err;
	}
	return n < 0 ? -EPROTO : 0;
}

/* Reads what is available; returns 0, -ECONNRESET on EOF, or another negative errno. */
static int session_read(struct grpc_client *c)
{
	uint8_t buf[65536];
	ssize_t n;

	for (;;) {
		if (c->tls) {
			int r = SSL_read(c->ssl, buf, sizeof(buf));

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return 0;
				if (e == SSL_ERROR_ZERO_RETURN)
					return -ECONNRESET;
				return tls_io_error(c, e);
			}
			n = r;
		} else {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -errno;
			if (n == 0)
				return -ECONNRESET;
		}
		if (c->n_first < sizeof(c->first)) {
			size_t k = sizeof(c->first) - c->n_first;

			k = k < (size_t)n ? k : (size_t)n;
			memcpy(c->first + c->n_first, buf, k);
			c->n_first += k;
		}
		if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0)
			return -EPROTO;
	}
}

/* Why the connection failed, when the server was not an HTTP/2 server at all: told by the
 * first bytes it sent (or that it sent none). NULL when it spoke HTTP/2. */
static const char *not_h2(const struct grpc_client *c)
{
	if (c->got_frame)
		return NULL;
	if (c->n_first >= 5 && !memcmp(c->first, "HTTP/", 5))
		return "not a gRPC server: it answered HTTP/1";
	if (!c->tls && c->n_first && (c->first[0] == 0x15 || c->first[0] == 0x16))
		return "the server speaks TLS (use TLS: tls://ADDR or the --tls options)";
	if (!c->n_first)
		return c->tls ? "the server closed the connection before answering"
			      : "the server closed the connection before answering (a TLS server? "
				"use tls://ADDR or the --tls options)";
	return "not a gRPC server: it did not answer HTTP/2";
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for a non-blocking connect() on fd until deadline: 0 or the positive errno. */
static int connect_wait(int fd, int64_t deadline)
{
	struct pollfd p = {fd, POLLOUT, 0};
	socklen_t sl = sizeof(int);
	int err = 0, r;

	for (;;) {
		int64_t left = deadline - mono_ms();

		if (left <= 0)
			return ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl))
			return errno;
		return err;
	}
}

static int connect_error(struct errmsg *e, int err, int timeout_ms)
{
	if (err == ETIMEDOUT)
		return errmsg_set(e, -ETIMEDOUT, "connection timed out (no answer within %d ms)",
				  timeout_ms);
	return errmsg_set(e, -err, "%s", strerror(err));
}

static int tcp_connect(const char *host, uint16_t port, int timeout_ms, struct errmsg *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int64_t deadline = mono_ms() + timeout_ms;
	char portstr[8];
	int fd = -1, r, last = ECONNREFUSED;

	snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r)
		return errmsg_set(e, -EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(r));
	/* Every address gets a try; a timeout is what is reported when any attempt timed out
	 * and none succeeded, as that is what the user must act on. */
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		r = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		if (r == EINPROGRESS)
			r = connect_wait(fd, deadline);
		if (r == 0)
			break;
		if (last != ETIMEDOUT)
			last = r;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return connect_error(e, last, timeout_ms);
	r = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &r, sizeof(r));
	return fd;
}

static int unix_connect(const char *path, int timeout_ms, struct errmsg *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errmsg_set(e, -ENAMETOOLONG, "unix socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errmsg_set(e, -errno, "socket: %s", strerror(errno));
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
	if (r == EINPROGRESS || r == EAGAIN)
		r = connect_wait(fd, mono_ms() + timeout_ms);
	if (r) {
		close(fd);
		return connect_error(e, r, timeout_ms);
	}
	return fd;
}

static int tls_context(struct grpc_client *c, const struct grpc_client_opts *o, struct errmsg *e)
{
	const char *first = o->tls_ca ? o->tls_ca : (o->n_tls_cas ? o->tls_cas[0] : NULL);
	size_t i;

	c->ctx = tls_client_ctx(first, o->tls_cert, o->tls_key, "h2", e);
	if (!c->ctx)
		return -EINVAL;
	for (i = o->tls_ca ? 0 : 1; i < o->n_tls_cas; i++)
		if (SSL_CTX_load_verify_locations(c->ctx, o->tls_cas[i], NULL) != 1)
			return errmsg_set(e, -EINVAL, "cannot load the CA bundle %s: %s",
					  o->tls_cas[i], tls_error_text());
	if (o->tls_insecure)
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	return 0;
}

static int tls_setup(struct grpc_client *c, const struct grpc_client_opts *o, int timeout_ms,
		     struct errmsg *e)
{
	const char *name = o->tls_server_name ? o->tls_server_name
			   : o->unix_path     ? "localhost"
					      : o->host;
	int64_t deadline = mono_ms() + timeout_ms;
	struct pollfd p;
	int r;

	r = tls_context(c, o, e);
	if (r)
		return r;
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || tls_set_peer_name(c->ssl, name))
		return errmsg_set(e, -EPROTO, "TLS: %s", tls_error_text());
	for (;;) {
		r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		r = SSL_get_error(c->ssl, r);
		if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE) {
			long vr = SSL_get_verify_result(c->ssl);

			if (vr != X509_V_OK)
				return errmsg_set(e, -EPROTO, "certificate verification failed: %s",
						  X509_verify_cert_error_string(vr));
			return errmsg_set(e, -EPROTO, "TLS handshake failed: %s", tls_error_text());
		}
		p = (struct pollfd){c->fd, r == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0};
		r = (int)(deadline - mono_ms());
		if (r <= 0 || poll(&p, 1, r) == 0)
			return errmsg_set(e, -ETIMEDOUT,
					  "TLS handshake timed out (no answer within %d ms)",
					  timeout_ms);
	}
	c->tls = true;
	return 0;
}

int grpc_client_connect(struct grpc_client **out, const struct grpc_client_opts *opts,
			struct errmsg *e)
{
	struct grpc_client *c = calloc(1, sizeof(*c));
	int timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
	nghttp2_session_callbacks *cbs;
	int r;

	if (!c)
		return -ENOMEM;
	c->watch_fd = -1;
	c->fd = opts->unix_path ? unix_connect(opts->unix_path, timeout_ms, e)
				: tcp_connect(opts->host, opts->port, timeout_ms, e);
	if (c->fd < 0) {
		r = c->fd;
		free(c);
		return r;
	}
	if (opts->token)
		snprintf(c->authorization, sizeof(c->authorization), "Bearer %s", opts->token);
	if (opts->unix_path)
		snprintf(c->authority, sizeof(c->authority), "localhost");
	else
		snprintf(c->authority, sizeof(c->authority),
			 strchr(opts->host, ':') ? "[%s]:%u" : "%s:%u", opts->host, opts->port);
	if (opts->tls || opts->tls_insecure || opts->tls_ca || opts->n_tls_cas) {
		r = tls_setup(c, opts, timeout_ms, e);
		if (r)
			goto fail;
	}
	if (nghttp2_session_callbacks_new(&cbs)) {
		r = -ENOMEM;
		goto fail;
	}
	nghttp2_session_callbacks_set_send_callback(cbs, on_send);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	r = nghttp2_session_client_new(&c->session, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (r) {
		r = -ENOMEM;
		goto fail;
	}
	{
		nghttp2_settings_entry iv[] = {
			{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4 << 20},
		};

		nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 1);
		/* A large connection window too, so streaming is not throttled by defaults. */
		nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 16 << 20);
	}
	*out = c;
	return 0;
fail:
	grpc_client_close(c);
	return r;
}

void grpc_client_set_idle_cb(struct grpc_client *c, void (*cb)(void *ctx), void *ctx)
{
	c->idle_cb = cb;
	c->idle_ctx = ctx;
}

void grpc_client_watch_fd(struct grpc_client *c, int fd)
{
	c->watch_fd = fd;
}

void grpc_client_set_deadline(struct grpc_client *c, int ms)
{
	c->deadline_ms = ms > 0 ? ms : 0;
}

int grpc_client_fd(const struct grpc_client *c)
{
	return c->fd;
}

void grpc_client_close(struct grpc_client *c)
{
	if (!c)
		return;
	if (c->session)
		nghttp2_session_del(c->session);
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->req);
	buf_free(&c->in);
	free(c);
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE         \
	}

int grpc_client_call(struct grpc_client *c, const char *path, const ProtobufCMessage *req,
		     grpc_client_msg_cb cb, void *ctx, volatile int *stop, struct errmsg *e)
{
	struct buf body = BUF_INIT;
	int r = grpc_frame_append(&body, req);

	if (r)
		return errmsg_set(e, r, "out of memory");
	r = grpc_client_call_raw(c, path, NULL, body.data, body.len, cb, ctx, stop, e);
	buf_free(&body);
	return r;
}

/* Waits up to ms for input; 1 when there is some, 0 when none, 2 when the watched fd reports an
 * error or hang-up, or a negative errno. */
static int wait_input(struct grpc_client *c, int ms)
{
	struct pollfd p[2] = {{c->fd, POLLIN, 0}, {c->watch_fd, 0, 0}};
	int r;

	if (c->tls && SSL_pending(c->ssl))
		return 1;
	r = poll(p, c->watch_fd >= 0 ? 2 : 1, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (c->watch_fd >= 0 && p[1].revents & (POLLERR | POLLHUP | POLLNVAL))
		return 2;
	return r > 0;
}

/* Ends the current stream on the client's side (RST_STREAM CANCEL). */
static void cancel_stream(struct grpc_client *c)
{
	c->cancelled = true;
	nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_CANCEL);
	session_flush(c);
}

/* Waits for the call's next input: 1 to read, 0 to look again, a negative errno, or the end of
 * the call as -(1000 + the gRPC status to return): CANCELLED or DEADLINE_EXCEEDED. */
static int call_wait(struct grpc_client *c, volatile int *stop, int64_t deadline, struct errmsg *e)
{
	int r;

	if ((stop && *stop) || (deadline && mono_ms() >= deadline)) {
		bool late = !(stop && *stop);

		cancel_stream(c);
		if (late)
			errmsg_set(e, 0, "deadline exceeded (no answer within %d ms)",
				   c->deadline_ms);
		else
			errmsg_set(e, 0, "cancelled");
		return late ? -1004 : -1001;
	}
	r = wait_input(c, 0);
	if (r == 0) {
		/* Everything received so far is delivered: a good moment for the caller to
		 * flush its output, once per burst, not per message. */
		if (c->delivered && c->idle_cb)
			c->idle_cb(c->idle_ctx);
		c->delivered = false;
		r = wait_input(c, 200);
	}
	if (r == 2) {
		cancel_stream(c);
		errmsg_set(e, 0, "cancelled: the output was closed");
		return -1001;
	}
	return r;
}

int grpc_client_call_raw(struct grpc_client *c, const char *path, const char *content_type,
			 const void *body, size_t len, grpc_client_msg_cb cb, void *ctx,
			 volatile int *stop, struct errmsg *e)
{
	char timeout[24];

	snprintf(timeout, sizeof(timeout), "%dm", c->deadline_ms);
	nghttp2_nv hdrs[] = {
		NV(":method", "POST"),
		NV(":scheme", c->tls ? "https" : "http"),
		NV(":path", path),
		NV(":authority", c->authority),
		NV("content-type", content_type ? content_type : "application/grpc+proto"),
		NV("te", "trailers"),
		NV("user-agent", "flowctl/0.1 grpc-c-nghttp2"),
		NV("grpc-timeout", timeout),
		NV("authorization", c->authorization),
	};
	size_t n_hdrs = 7;
	nghttp2_data_provider prd = {.read_callback = req_read};
	int64_t deadline = c->deadline_ms ? mono_ms() + c->deadline_ms : 0;
	int r;

	buf_reset(&c->req);
	buf_reset(&c->in);
	c->req_off = 0;
	if (buf_append(&c->req, body, len))
		return -ENOMEM;
	c->cb = cb;
	c->ctx_cb = ctx;
	c->grpc_status = -1;
	c->grpc_message[0] = '\0';
	c->http_status = 0;
	c->closed = c->cancelled = false;
	c->err.text[0] = '\0';
	c->io_err[0] = '\0';
	if (c->deadline_ms)
		n_hdrs++;
	if (c->authorization[0])
		hdrs[n_hdrs++] = hdrs[8];
	c->stream_id = nghttp2_submit_request(c->session, NULL, hdrs, n_hdrs, &prd, NULL);
	if (c->stream_id < 0) {
		errmsg_set(e, 0, "cannot start the request: %s", nghttp2_strerror(c->stream_id));
		return -EPROTO;
	}
	while (!c->closed) {
		r = session_flush(c);
		if (r)
			goto io_err;
		if (c->cancelled) {
			session_flush(c);
			errmsg_set(e, 0, "%s", c->err.text[0] ? c->err.text : "cancelled");
			return c->err.text[0] ? -EPROTO : 1;
		}
		r = call_wait(c, stop, deadline, e);
		if (r <= -1000)
			return -r - 1000;
		if (r < 0)
			goto io_err;
		if (r > 0) {
			r = session_read(c);
			if (r)
				goto io_err;
		}
	}
	if (c->grpc_status < 0) {
		if (c->http_status && c->http_status != 200)
			errmsg_set(e, 0, "server answered HTTP %d, not gRPC", c->http_status);
		else
			errmsg_set(e, 0, "the server ended the call without a status (%s)",
				   nghttp2_http2_strerror(c->rst_code));
		return 2; /* UNKNOWN */
	}
	errmsg_set(e, 0, "%s", c->grpc_message);
	return c->grpc_status;
io_err:
	if (c->io_err[0])
		errmsg_set(e, 0, "%s", c->io_err);
	else if ((r == -ECONNRESET || r == -EPIPE || r == -EPROTO) && not_h2(c))
		errmsg_set(e, 0, "%s", not_h2(c));
	else if (r == -ECONNRESET)
		errmsg_set(e, 0, "the server closed the connection");
	else if (r == -EPROTO)
		errmsg_set(e, 0, "protocol error (is that a gRPC server, and does it speak %s?)",
			   c->tls ? "TLS" : "plaintext h2c");
	else
		errmsg_set(e, 0, "%s", strerror(-r));
	return r;
}
