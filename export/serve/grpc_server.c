/* gRPC over HTTP/2 (nghttp2 server sessions) on a libuv loop, optionally inside TLS (OpenSSL
 * with memory BIOs), for the service given at start (see include/flowscope/serve/grpc_server.h).
 * One stream (TCP, or the unix socket) and one nghttp2 session per connection; each call (stream)
 * owns a bounded output queue of framed messages that nghttp2 pulls through a data provider, so
 * HTTP/2 flow control and slow clients never block the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/list.h"
#include "flowscope/base/msg_queue.h"
#include "flowscope/base/tls.h"
#include "flowscope/base/token.h"
#include "flowscope/base/version.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/serve_limits.h"

#define DEFAULT_FOLLOW_QUEUE 4096
#define DEFAULT_FOLLOW_BYTES (4u << 20)
#define DEFAULT_MAX_REQUEST (4u << 20)
#define DEFAULT_MAX_STREAMS 100
#define DEFAULT_SLOW_CLIENT_MS (60 * 1000)
#define DEFAULT_MAX_PENDING_REQUEST (16u << 20)
/* Stop pulling frames from nghttp2 while this much is waiting in the socket. */
#define WRITE_HIGH_WATER (1u << 20)
#define READ_BUF_SIZE 65536

struct grpc_conn;

struct grpc_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_tcp_t listener6; /* ::1 next to 127.0.0.1 when opts.ipv6_loopback_too */
	bool have_listener6;
	uv_pipe_t unix_listener; /* opts.unix_path */
	bool have_unix;
	ino_t unix_ino;	   /* the socket file made, removed at stop if it is still that one */
	uv_idle_t flusher; /* flushes connections marked dirty, once per loop iteration */
	struct grpc_server_opts opts;
	struct grpc_service svc;
	SSL_CTX *ssl_ctx;
	struct list_node conns;
	uv_timer_t idler; /* once a second: closes connections idle too long */
	uint64_t refused_conns;
	struct logmsg_limit refused_log;
	size_t req_bytes;     /* of requests still being received, on every connection */
	uint64_t slow_resets; /* calls reset for not reading */
	struct logmsg_limit slow_log;
	bool flusher_active;
	bool stopping;
	struct logmsg_limit bad_client_log;
};

struct grpc_conn {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} io;
	bool local; /* on the unix socket: no token needed */
	struct grpc_server *srv;
	struct list_node node;
	nghttp2_session *session;
	SSL *ssl;
	BIO *rbio, *wbio; /* TLS: network bytes in, network bytes out */
	struct list_node calls;
	char rbuf[READ_BUF_SIZE];
	struct sockaddr_storage peer; /* the client's address, for the per-client cap */
	uint64_t idle_since;	      /* uv_now when its last call ended (or it came) */
	bool dirty;		      /* wants a flush */
	bool closing;
	bool in_flush;
};

static void conn_close(struct grpc_conn *c);
static void conn_flush(struct grpc_conn *c);
static void on_flush(uv_idle_t *h);

/* ---- calls ---------------------------------------------------------------------------- */

struct grpc_call {
	struct grpc_conn *conn;
	struct list_node node;
	int32_t stream_id;
	char path[128];
	bool grpc_content_type;
	bool compressed_ok; /* grpc-encoding identity or absent */
	bool authorized;    /* carried the server's token */
	bool dispatched;
	bool responded; /* response HEADERS submitted */
	bool finished;	/* no more messages: trailers after the queue drains */
	bool deferred;	/* the data provider returned DEFERRED */
	int status;
	char message[256];
	struct buf req;
	const char
		*req_refused; /* why its request is answered RESOURCE_EXHAUSTED; NULL: it is not */
	struct msg_queue out; /* framed messages for nghttp2 to pull */
	uint64_t read_total;  /* bytes nghttp2 has pulled from out */
	uint64_t read_seen;   /* ... as of the last tick of the idler */
	uint32_t stalled_s;   /* ticks in a row with out full and nothing pulled */
	/* The service's state for a streaming call, released by its cancel hook. */
	void *svc;
	void (*drained)(struct grpc_call *call, void *svc);
	void (*svc_free)(void *svc);
};

uint32_t grpc_call_queue_limit(struct grpc_call *call)
{
	return call->conn->srv->opts.follow_queue;
}

bool grpc_call_queue_full(struct grpc_call *call)
{
	return msg_queue_full(&call->out);
}

uint32_t grpc_call_queued(struct grpc_call *call)
{
	return msg_queue_count(&call->out);
}

void grpc_call_set_service(struct grpc_call *call, void *svc, const struct grpc_call_ops *ops)
{
	call->svc = svc;
	call->svc_free = ops->svc_free;
	call->drained = ops->drained;
}

static void call_mark_dirty(struct grpc_call *call)
{
	struct grpc_conn *c = call->conn;
	struct grpc_server *s = c->srv;

	c->dirty = true;
	if (!s->flusher_active && !s->stopping) {
		s->flusher_active = true;
		uv_idle_start(&s->flusher, on_flush);
	}
}

static int call_respond_headers(struct grpc_call *call);

/* Appends one framed message (5-byte prefix included). Returns 0, -ENOBUFS when the call's
 * queue is full (the caller counts the loss), -ENOMEM, or -EPIPE after finish. */
int grpc_call_send_frame(struct grpc_call *call, const void *frame, size_t len, bool force)
{
	int err;

	if (call->finished)
		return -EPIPE;
	err = msg_queue_push(&call->out, frame, len, force);
	if (err)
		return err;
	if (!call->responded) {
		err = call_respond_headers(call);
		if (err)
			return err;
	}
	if (call->deferred) {
		call->deferred = false;
		nghttp2_session_resume_data(call->conn->session, call->stream_id);
	}
	call_mark_dirty(call);
	return 0;
}

int grpc_call_send_msg(struct grpc_call *call, const ProtobufCMessage *m)
{
	struct buf frame = BUF_INIT;
	int err = grpc_frame_append(&frame, m);

	err = err ?: grpc_call_send_frame(call, frame.data, frame.len, true);
	buf_free(&frame);
	return err;
}

/* Ends the call once queued messages are sent: grpc-status and grpc-message trailers. */
void grpc_call_finish(struct grpc_call *call, int status, const char *message)
{
	if (call->finished)
		return;
	call->finished = true;
	call->status = status;
	snprintf(call->message, sizeof(call->message), "%s", message ? message : "");
	if (!call->responded) {
		/* Nothing was sent: a trailers-only response. */
		call_respond_headers(call);
	} else if (call->deferred) {
		call->deferred = false;
		nghttp2_session_resume_data(call->conn->session, call->stream_id);
	}
	call_mark_dirty(call);
}

/* grpc-message is percent-encoded (gRPC over HTTP/2): keep printable ASCII but '%'. */
static void pct_encode(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < outlen; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch >= 0x20 && ch < 0x7f && ch != '%') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

#define NV(n, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
	}

static ssize_t call_read(nghttp2_session *session, int32_t stream_id, uint8_t *dst, size_t len,
			 uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
	struct grpc_call *call = source->ptr;
	size_t n;

	(void)user_data;
	if (msg_queue_bytes(&call->out) == 0) {
		char status[12], msg[768];
		nghttp2_nv trailers[2];
		size_t nt = 1;
		int rv;

		if (!call->finished) {
			call->deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
		snprintf(status, sizeof(status), "%d", call->status);
		pct_encode(call->message, msg, sizeof(msg));
		trailers[0] = (nghttp2_nv)NV("grpc-status", status);
		if (msg[0])
			trailers[nt++] = (nghttp2_nv)NV("grpc-message", msg);
		rv = nghttp2_submit_trailer(session, stream_id, trailers, nt);
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (rv == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		return 0;
	}
	n = msg_queue_read(&call->out, dst, len);
	call->read_total += n;
	if (call->svc && call->drained &&
	    msg_queue_count(&call->out) < grpc_call_queue_limit(call) / 2)
		call->drained(call, call->svc);
	return (ssize_t)n;
}

/* The response metadata Hubble's server sends with its version (clients log or check it). */
#define SERVER_VERSION_KEY "hubble-server-version"

static int call_respond_headers(struct grpc_call *call)
{
	nghttp2_session *s = call->conn->session;
	nghttp2_data_provider prd = {.source.ptr = call, .read_callback = call_read};

	call->responded = true;
	if (call->finished && msg_queue_bytes(&call->out) == 0) {
		char status[12], msg[768];
		nghttp2_nv hdrs[5] = {
			NV(":status", "200"),
			NV("content-type", "application/grpc"),
			NV(SERVER_VERSION_KEY, FLOWSCOPE_VERSION),
		};
		size_t n = 3;

		snprintf(status, sizeof(status), "%d", call->status);
		pct_encode(call->message, msg, sizeof(msg));
		hdrs[n++] = (nghttp2_nv)NV("grpc-status", status);
		if (msg[0])
			hdrs[n++] = (nghttp2_nv)NV("grpc-message", msg);
		return nghttp2_submit_response(s, call->stream_id, hdrs, n, NULL) ? -EIO : 0;
	}
	{
		nghttp2_nv hdrs[] = {
			NV(":status", "200"),
			NV("content-type", "application/grpc"),
			NV(SERVER_VERSION_KEY, FLOWSCOPE_VERSION),
		};

		return nghttp2_submit_response(s, call->stream_id, hdrs, 3, &prd) ? -EIO : 0;
	}
}

static struct grpc_call *call_new(struct grpc_conn *c, int32_t stream_id)
{
	struct grpc_call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	if (msg_queue_init(&call->out, c->srv->opts.follow_queue,
			   c->srv->opts.follow_queue_bytes)) {
		free(call);
		return NULL;
	}
	msg_queue_set_budget(&call->out, c->srv->opts.follow_budget);
	call->conn = c;
	call->stream_id = stream_id;
	call->compressed_ok = true;
	list_add_tail(&c->calls, &call->node);
	return call;
}

/* Its request stops counting as being received (dispatched, refused or gone). */
static void call_req_done(struct grpc_call *call)
{
	if (!call->dispatched)
		call->conn->srv->req_bytes -= call->req.len;
}

static void call_free(struct grpc_call *call)
{
	if (call->svc_free)
		call->svc_free(call->svc);
	list_del(&call->node);
	call_req_done(call);
	buf_free(&call->req);
	msg_queue_free(&call->out);
	free(call);
}

static void call_dispatch(struct grpc_call *call)
{
	const uint8_t *p = (const uint8_t *)call->req.data;
	size_t len = call->req.len;
	uint32_t mlen;
	uint8_t flags;

	call_req_done(call);
	call->dispatched = true;
	if (call->conn->srv->opts.require_token && !call->conn->local && !call->authorized) {
		grpc_call_finish(call, GRPC_UNAUTHENTICATED,
				 "this server requires a token: send the header \"authorization: "
				 "Bearer TOKEN\" (flowctl: --token-file FILE or FLOWSCOPE_TOKEN)");
		return;
	}
	if (call->req_refused) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, call->req_refused);
		return;
	}
	if (!call->grpc_content_type) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
				 "content-type must be application/grpc");
		return;
	}
	if (!grpc_frame_get_header(p, len, &flags, &mlen)) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
				 "malformed request: expected one length-prefixed message");
		return;
	}
	if (flags & GRPC_FRAME_COMPRESSED) {
		grpc_call_finish(call, GRPC_UNIMPLEMENTED,
				 "compressed messages are not supported: use identity encoding");
		return;
	}
	if (flags != 0 || (size_t)mlen + GRPC_FRAME_HDR != len) {
		grpc_call_finish(
			call, GRPC_INVALID_ARGUMENT,
			"malformed request: length prefix does not match the body or more than one message");
		return;
	}
	call->conn->srv->svc.dispatch(call, call->path, p + GRPC_FRAME_HDR, mlen,
				      call->conn->srv->svc.ctx);
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------ */

static ssize_t on_send(nghttp2_session *s, const uint8_t *d, size_t n, int f, void *u)
{
	(void)s;
	(void)d;
	(void)n;
	(void)f;
	(void)u;
	return NGHTTP2_ERR_CALLBACK_FAILURE; /* mem_send is used instead */
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct grpc_conn *c = user;
	struct grpc_call *call;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call = call_new(c, frame->hd.stream_id);
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct grpc_call *call;

	(void)flags;
	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call)
		return 0;
	if (namelen == 5 && !memcmp(name, ":path", 5)) {
		size_t n = valuelen < sizeof(call->path) - 1 ? valuelen : sizeof(call->path) - 1;

		memcpy(call->path, value, n);
		call->path[n] = '\0';
	} else if (namelen == 12 && !memcmp(name, "content-type", 12)) {
		call->grpc_content_type = valuelen >= 16 && !memcmp(value, "application/grpc", 16);
	} else if (namelen == 13 && !memcmp(name, "grpc-encoding", 13)) {
		call->compressed_ok = valuelen == 8 && !memcmp(value, "identity", 8);
	} else if (namelen == 13 && !memcmp(name, "authorization", 13)) {
		const char *token = call->conn->srv->opts.token;

		call->authorized =
			token && token_bearer_matches(token, (const char *)value, valuelen);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *user)
{
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	struct grpc_conn *c = user;

	(void)flags;
	if (!call || call->dispatched || call->req_refused)
		return 0;
	/* Requests being received are bounded one by one and all together: many streams each
	 * sending an unfinished body must not hold the server's memory. */
	if (call->req.len + len > (size_t)c->srv->opts.max_request_bytes + 5)
		call->req_refused = "request message too large";
	else if (c->srv->req_bytes + len > c->srv->opts.max_pending_request_bytes)
		call->req_refused =
			"the server is receiving too many request bytes at once: try again";
	if (call->req_refused) {
		c->srv->req_bytes -= call->req.len;
		buf_free(&call->req);
		return 0;
	}
	if (buf_append(&call->req, data, len))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	c->srv->req_bytes += len;
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct grpc_call *call;

	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (call && !call->dispatched)
		call_dispatch(call);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user)
{
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

	(void)error_code;
	(void)user;
	/* Normal end or client cancellation (RST_STREAM): everything of the call goes. */
	if (call) {
		struct grpc_conn *c = call->conn;

		nghttp2_session_set_stream_user_data(session, stream_id, NULL);
		call_free(call);
		c->idle_since = uv_now(c->srv->loop);
	}
	return 0;
}

/* ---- connections ------------------------------------------------------------------------- */

struct write_req {
	uv_write_t req;
	struct grpc_conn *conn;
	char data[];
};

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct grpc_conn *c = w->conn;

	free(w);
	if (status < 0) {
		conn_close(c);
		return;
	}
	/* Room in the socket again: pull more from nghttp2. */
	if (!c->closing)
		conn_flush(c);
}

static int conn_write_raw(struct grpc_conn *c, const void *data, size_t len)
{
	struct write_req *w;
	uv_buf_t b;
	int err;

	if (!len)
		return 0;
	w = malloc(sizeof(*w) + len);
	if (!w)
		return -ENOMEM;
	memcpy(w->data, data, len);
	w->conn = c;
	b = uv_buf_init(w->data, (unsigned int)len);
	err = uv_write(&w->req, (uv_stream_t *)&c->io, &b, 1, on_written);
	if (err)
		free(w);
	return err;
}

/* TLS: whatever OpenSSL produced for the network goes to the socket. */
static int conn_drain_wbio(struct grpc_conn *c)
{
	char tmp[16384];
	int n, err;

	while ((n = BIO_read(c->wbio, tmp, sizeof(tmp))) > 0) {
		err = conn_write_raw(c, tmp, (size_t)n);
		if (err)
			return err;
	}
	return 0;
}

static int conn_write(struct grpc_conn *c, const uint8_t *data, size_t len)
{
	if (!c->ssl)
		return conn_write_raw(c, data, len);
	while (len) {
		int n = SSL_write(c->ssl, data, (int)(len > 65536 ? 65536 : len));

		if (n <= 0)
			return -EIO;
		data += n;
		len -= (size_t)n;
	}
	return conn_drain_wbio(c);
}

static void conn_flush(struct grpc_conn *c)
{
	struct buf out = BUF_INIT;

	if (c->closing || c->in_flush)
		return;
	/* Nothing goes to nghttp2's peer before the TLS handshake is done: SSL_write would
	 * fail and the frames (our SETTINGS first) would be lost. on_read flushes afterwards. */
	if (c->ssl && !SSL_is_init_finished(c->ssl))
		return;
	c->in_flush = true;
	c->dirty = false;
	while (uv_stream_get_write_queue_size((uv_stream_t *)&c->io) < WRITE_HIGH_WATER) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->session, &data);

		if (n < 0) {
			c->in_flush = false;
			buf_free(&out);
			conn_close(c);
			return;
		}
		if (n == 0)
			break;
		if (buf_append(&out, data, (size_t)n))
			break;
		if (out.len >= 65536) {
			if (conn_write(c, (const uint8_t *)out.data, out.len)) {
				buf_free(&out);
				c->in_flush = false;
				conn_close(c);
				return;
			}
			buf_reset(&out);
		}
	}
	if (out.len && conn_write(c, (const uint8_t *)out.data, out.len)) {
		/* Frames nghttp2 considers sent could not be written: the session is broken. */
		buf_free(&out);
		c->in_flush = false;
		conn_close(c);
		return;
	}
	buf_free(&out);
	c->in_flush = false;
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
		conn_close(c);
}

static void on_flush(uv_idle_t *h)
{
	struct grpc_server *s = h->data;
	struct grpc_conn *c, *next;

	list_for_each_safe(c, next, &s->conns, struct grpc_conn, node) if (c->dirty) conn_flush(c);
	s->flusher_active = false;
	uv_idle_stop(h);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct grpc_conn *c = h->data;

	if (c->ssl)
		SSL_free(c->ssl); /* frees the BIOs too */
	free(c);
}

static void conn_close(struct grpc_conn *c)
{
	struct grpc_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	(void)s;
	/* Every call goes with the connection (the session would not call on_stream_close). */
	while (!list_empty(&c->calls))
		call_free(container_of(c->calls.next, struct grpc_call, node));
	nghttp2_session_del(c->session);
	c->session = NULL;
	list_del(&c->node);
	uv_close((uv_handle_t *)&c->io, on_conn_closed);
}

static int conn_feed(struct grpc_conn *c, const uint8_t *data, size_t len)
{
	ssize_t n = nghttp2_session_mem_recv(c->session, data, len);

	if (n < 0) {
		/* Rate-limited: a misbehaving client must not flood the log. */
		logmsg_limited(&c->srv->bad_client_log, LOG_LEVEL_WARN,
			       "grpc: bad HTTP/2 from a client: %s", nghttp2_strerror((int)n));
		return -EPROTO;
	}
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct grpc_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct grpc_conn *c = stream->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (!c->ssl) {
		if (conn_feed(c, (const uint8_t *)buf->base, (size_t)nread)) {
			conn_flush(c); /* nghttp2 queued a GOAWAY: try to tell the client */
			conn_close(c);
			return;
		}
	} else {
		uint8_t plain[16384];
		int n;

		BIO_write(c->rbio, buf->base, (int)nread);
		for (;;) {
			n = SSL_read(c->ssl, plain, sizeof(plain));
			if (n > 0) {
				if (conn_feed(c, plain, (size_t)n)) {
					conn_close(c);
					return;
				}
				continue;
			}
			n = SSL_get_error(c->ssl, n);
			if (n == SSL_ERROR_WANT_READ || n == SSL_ERROR_WANT_WRITE)
				break;
			/* Handshake failure (e.g. no or untrusted client certificate). */
			conn_drain_wbio(c);
			conn_close(c);
			return;
		}
		conn_drain_wbio(c);
	}
	conn_flush(c);
}

static int conn_session_init(struct grpc_conn *c)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->srv->opts.max_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
	};
	int rv;

	if (nghttp2_session_callbacks_new(&cbs))
		return -ENOMEM;
	nghttp2_session_callbacks_set_send_callback(cbs, on_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	rv = nghttp2_session_server_new(&c->session, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rv)
		return -ENOMEM;
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2))
		return -EIO;
	return 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

/* Whether one more connection, c, stays within the caps (in all and from c's address); *open:
 * how many there are. Counted on the list: a walk per accept, never per request. */
static bool conn_admitted(struct grpc_server *s, struct grpc_conn *c, uint32_t *open)
{
	struct grpc_conn *o, *tmp;
	int len = sizeof(c->peer);
	bool known =
		!c->local && !uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&c->peer, &len);
	uint32_t same = 0;

	*open = 0;
	list_for_each_safe(o, tmp, &s->conns, struct grpc_conn, node)
	{
		(*open)++;
		same += known && same_addr(&o->peer, &c->peer);
	}
	return *open < s->opts.max_conns && same < s->opts.max_conns_per_client;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct grpc_server *s = listener->data;
	struct grpc_conn *c;
	uint32_t open;

	if (status < 0) {
		/* Out of descriptors (libuv keeps a spare one to accept and close with, so the
		 * listener does not spin): say so, not once per attempt. */
		logmsg_limited(&s->refused_log, LOG_LEVEL_WARN, "grpc: cannot accept: %s",
			       uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	list_init(&c->calls);
	c->local = listener == (uv_stream_t *)&s->unix_listener;
	if (c->local)
		uv_pipe_init(s->loop, &c->io.pipe, 0);
	else
		uv_tcp_init(s->loop, &c->io.tcp);
	c->io.tcp.data = c;
	if (uv_accept(listener, (uv_stream_t *)&c->io)) {
		uv_close((uv_handle_t *)&c->io, on_conn_closed);
		return;
	}
	if (!conn_admitted(s, c, &open)) {
		s->refused_conns++;
		logmsg_limited(&s->refused_log, LOG_LEVEL_WARN,
			       "grpc: connection refused: %u open (at most %u, %u per client; "
			       "--max-connections, --max-connections-per-client); %llu refused "
			       "so far",
			       open, s->opts.max_conns, s->opts.max_conns_per_client,
			       (unsigned long long)s->refused_conns);
		uv_close((uv_handle_t *)&c->io, on_conn_closed);
		return;
	}
	if (!c->local)
		uv_tcp_nodelay(&c->io.tcp, 1);
	list_add_tail(&s->conns, &c->node);
	c->idle_since = uv_now(s->loop);
	if (s->ssl_ctx) {
		c->ssl = SSL_new(s->ssl_ctx);
		c->rbio = BIO_new(BIO_s_mem());
		c->wbio = BIO_new(BIO_s_mem());
		if (!c->ssl || !c->rbio || !c->wbio) {
			BIO_free(c->rbio);
			BIO_free(c->wbio);
			conn_close(c);
			return;
		}
		SSL_set_bio(c->ssl, c->rbio, c->wbio);
		SSL_set_accept_state(c->ssl);
	}
	if (conn_session_init(c)) {
		conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->io, on_alloc, on_read);
	conn_flush(c);
}

/* ---- server ------------------------------------------------------------------------------- */

/* Connections with no call for idle_timeout_ms go (GOAWAY first, so the client knows). */
/* A call whose queue has been full with nothing read from it for slow_client_timeout_ms is
 * reset: the client is not reading, and what it holds of the server goes. */
static void reset_stalled(struct grpc_conn *c)
{
	struct grpc_server *s = c->srv;
	struct grpc_call *call, *tmp;
	bool reset = false;

	list_for_each_safe(call, tmp, &c->calls, struct grpc_call, node)
	{
		bool stalled = msg_queue_full(&call->out) && call->read_total == call->read_seen;

		call->read_seen = call->read_total;
		call->stalled_s = stalled ? call->stalled_s + 1 : 0;
		if ((uint64_t)call->stalled_s * 1000 < s->opts.slow_client_timeout_ms)
			continue;
		s->slow_resets++;
		logmsg_limited(
			&s->slow_log, LOG_LEVEL_WARN,
			"grpc: a call that read nothing for %u s with its queue full was reset "
			"(--slow-client-timeout); %llu so far",
			call->stalled_s, (unsigned long long)s->slow_resets);
		call->stalled_s = 0;
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
					  NGHTTP2_CANCEL);
		reset = true;
	}
	if (reset)
		conn_flush(c);
}

static void on_idler(uv_timer_t *t)
{
	struct grpc_server *s = t->data;
	struct grpc_conn *c, *tmp;
	uint64_t now = uv_now(s->loop);

	list_for_each_safe(c, tmp, &s->conns, struct grpc_conn, node)
	{
		if (!list_empty(&c->calls)) {
			reset_stalled(c);
			continue;
		}
		if (now - c->idle_since < s->opts.idle_timeout_ms)
			continue;
		nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->session),
				      NGHTTP2_NO_ERROR, (const uint8_t *)"idle", 4);
		conn_flush(c);
		conn_close(c);
	}
}

static int listen_on(struct grpc_server *s, uv_tcp_t *t, const struct sockaddr *sa,
		     unsigned int flags)
{
	int err;

	uv_tcp_init(s->loop, t);
	t->data = s;
	err = uv_tcp_bind(t, sa, flags);
	return err ?: uv_listen((uv_stream_t *)t, 128, on_connection);
}

/* Whether a server answers on the unix socket at sa (a stale file refuses). */
static bool unix_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool live;

	if (fd < 0)
		return false;
	live = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) || errno == EAGAIN;
	close(fd);
	return live;
}

/* The unix socket, made with its mode and group before anyone can connect (a umask covers
 * the moment between bind and chmod). */
static int listen_unix(struct grpc_server *s, struct errmsg *e)
{
	const char *path = s->opts.unix_path;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errmsg_set(e, -ENAMETOOLONG,
				  "the gRPC unix socket's path is too long (at most %zu bytes): %s",
				  sizeof(sa.sun_path) - 1, path);
	memcpy(sa.sun_path, path, strlen(path));
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode))
			return errmsg_set(e, -EEXIST,
					  "cannot serve gRPC on %s: something that is not a socket "
					  "is there (remove it, or choose --grpc-socket PATH)",
					  path);
		if (unix_live(&sa)) {
			logmsg(LOG_LEVEL_WARN,
			       "another server answers on %s: this one serves gRPC on TCP only "
			       "(--grpc-socket PATH for a socket of its own)",
			       path);
			return 0;
		}
		unlink(path); /* stale: its server is gone */
	}
	uv_pipe_init(s->loop, &s->unix_listener, 0);
	s->unix_listener.data = s;
	s->have_unix = true;
	old = umask(0177);
	err = uv_pipe_bind(&s->unix_listener, path);
	umask(old);
	if (!err && (chmod(path, s->opts.unix_mode ?: 0660) ||
		     (s->opts.unix_gid > 0 && chown(path, (uid_t)-1, (gid_t)s->opts.unix_gid))))
		err = -errno;
	if (!err && !lstat(path, &st))
		s->unix_ino = st.st_ino;
	err = err ?: uv_listen((uv_stream_t *)&s->unix_listener, 128, on_connection);
	if (err)
		return errmsg_set(e, err, "cannot serve gRPC on the unix socket %s: %s", path,
				  err == -EPERM ? strerror(EPERM) : uv_strerror(err));
	return 0;
}

int grpc_server_start(struct grpc_server **out, uv_loop_t *loop,
		      const struct grpc_server_opts *opts, const struct grpc_service *svc,
		      struct errmsg *e)
{
	struct grpc_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage sa;
	int err;

	if (!s)
		return errmsg_set(e, -ENOMEM, "out of memory");
	s->loop = loop;
	s->opts = *opts;
	s->svc = *svc;
	list_init(&s->conns);
	s->opts.addr = s->opts.addr ? s->opts.addr : "127.0.0.1";
	s->opts.port = s->opts.port ? s->opts.port : 4245;
	s->opts.follow_queue = s->opts.follow_queue ?: DEFAULT_FOLLOW_QUEUE;
	s->opts.follow_queue_bytes = s->opts.follow_queue_bytes ?: DEFAULT_FOLLOW_BYTES;
	s->opts.max_request_bytes = s->opts.max_request_bytes ?: DEFAULT_MAX_REQUEST;
	s->opts.max_streams = s->opts.max_streams ?: DEFAULT_MAX_STREAMS;
	s->opts.slow_client_timeout_ms = s->opts.slow_client_timeout_ms ?: DEFAULT_SLOW_CLIENT_MS;
	s->opts.max_pending_request_bytes =
		s->opts.max_pending_request_bytes ?: DEFAULT_MAX_PENDING_REQUEST;
	s->opts.max_conns = s->opts.max_conns ?: SERVE_DEFAULT_MAX_CONNS;
	s->opts.max_conns_per_client =
		s->opts.max_conns_per_client ?: SERVE_DEFAULT_MAX_CONNS_PER_CLIENT;
	s->opts.idle_timeout_ms = s->opts.idle_timeout_ms ?: 300000;
	if (s->opts.tls_client_ca && !s->opts.tls_cert)
		err = errmsg_set(e, -EINVAL, "--tls-client-ca needs --tls-cert and --tls-key");
	else if ((s->opts.tls_cert || s->opts.tls_key) &&
		 !(s->ssl_ctx = tls_server_ctx(s->opts.tls_cert, s->opts.tls_key,
					       s->opts.tls_client_ca, "h2", e)))
		err = -EINVAL;
	else if (strchr(s->opts.addr, ':'))
		err = uv_ip6_addr(s->opts.addr, s->opts.port, (struct sockaddr_in6 *)&sa);
	else
		err = uv_ip4_addr(s->opts.addr, s->opts.port, (struct sockaddr_in *)&sa);
	if (err) {
		if (!e || !e->text[0])
			errmsg_set(
				e, -EINVAL,
				"invalid gRPC listen address '%s': use a numeric IPv4 or IPv6 address",
				s->opts.addr);
		SSL_CTX_free(s->ssl_ctx);
		free(s);
		return -EINVAL;
	}
	uv_idle_init(s->loop, &s->flusher);
	s->flusher.data = s;
	uv_timer_init(s->loop, &s->idler);
	s->idler.data = s;
	uv_timer_start(&s->idler, on_idler, 1000, 1000);
	err = listen_on(s, &s->listener, (struct sockaddr *)&sa, 0);
	if (err) {
		errmsg_set(e, err, "cannot listen for gRPC on %s port %u: %s%s", s->opts.addr,
			   s->opts.port, uv_strerror(err),
			   err == UV_EADDRINUSE ? " (another flowd or hubble relay? use --grpc)"
						: "");
		s->stopping = true;
		grpc_server_stop(s);
		return err;
	}
	if (s->opts.ipv6_loopback_too) {
		/* "localhost" resolves to ::1 first for many clients (grpc among them): answer
		 * there too. Without IPv6 on this host, 127.0.0.1 alone will do. */
		struct sockaddr_in6 sa6;

		uv_ip6_addr("::1", s->opts.port, &sa6);
		s->have_listener6 = true;
		err = listen_on(s, &s->listener6, (struct sockaddr *)&sa6, UV_TCP_IPV6ONLY);
		if (err && err != UV_EADDRNOTAVAIL && err != UV_EAFNOSUPPORT)
			logmsg(LOG_LEVEL_WARN, "cannot listen for gRPC on [::1]:%u: %s",
			       s->opts.port, uv_strerror(err));
	}
	if (s->opts.unix_path && (err = listen_unix(s, e))) {
		s->stopping = true;
		grpc_server_stop(s);
		return err;
	}
	*out = s;
	return 0;
}

static void on_server_closed(uv_handle_t *h)
{
	struct grpc_server *s = h->data;

	if (s->have_unix) {
		s->have_unix = false;
		uv_close((uv_handle_t *)&s->unix_listener, on_server_closed);
		return;
	}
	SSL_CTX_free(s->ssl_ctx);
	free(s);
}

static void on_listener6_closed(uv_handle_t *h)
{
	struct grpc_server *s = h->data;

	uv_close((uv_handle_t *)&s->listener, on_server_closed);
}

static void on_idle_closed(uv_handle_t *h)
{
	struct grpc_server *s = h->data;

	if (s->have_listener6)
		uv_close((uv_handle_t *)&s->listener6, on_listener6_closed);
	else
		uv_close((uv_handle_t *)&s->listener, on_server_closed);
}

static void on_idler_closed(uv_handle_t *h)
{
	struct grpc_server *s = h->data;

	uv_close((uv_handle_t *)&s->flusher, on_idle_closed);
}

void grpc_server_stop(struct grpc_server *s)
{
	if (!s)
		return;
	s->stopping = true;
	if (s->unix_ino) {
		struct stat st;

		/* Only the socket this server made: a newer server's may be there now. */
		if (!lstat(s->opts.unix_path, &st) && st.st_ino == s->unix_ino)
			unlink(s->opts.unix_path);
		s->unix_ino = 0;
	}
	while (!list_empty(&s->conns))
		conn_close(container_of(s->conns.next, struct grpc_conn, node));
	uv_idle_stop(&s->flusher);
	uv_timer_stop(&s->idler);
	uv_close((uv_handle_t *)&s->idler, on_idler_closed);
}
