/* The HTTP API (see include/flowscope/serve/http_server.h): libmicrohttpd in external-epoll
 * mode, driven by the libuv loop (uv_poll on MHD's epoll fd plus a timer for its timeouts).
 * Streaming followers are suspended while their bounded queue is empty and resumed when a flow
 * arrives, so no request ever blocks the loop. */
#define _GNU_SOURCE /* POLLRDHUP */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/list.h"
#include "flowscope/base/msg_queue.h"
#include "flowscope/base/parse.h"
#include "flowscope/base/tls.h"
#include "flowscope/base/token.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/serve/metrics.h"
#include "flowscope/serve/serve_limits.h"
#include "http_query.h"

#define DEFAULT_FOLLOW_QUEUE 4096
#define DEFAULT_FOLLOW_BYTES (4u << 20)
#define CT_NDJSON "application/x-ndjson"
#define CT_PB "application/x-protobuf"

struct http_server {
	struct MHD_Daemon *d;
	struct http_server_opts opts;
	uv_poll_t poll;
	uv_timer_t timer; /* MHD's own timeouts, and "run soon" after a resume */
	uv_timer_t tick;  /* once a second: lost-event notices, disconnect checks */
	struct list_node streams;
	int handles_open;
	bool stopping;
	char cookie[32]; /* the token's cookie: named by the port, as cookies ignore ports */
	char *tls_cert, *tls_key; /* PEM, read at start: MHD keeps pointers to them */
};

static void on_timer(uv_timer_t *t);

/* A resumed connection is handled at the next MHD_run: make it happen soon. */
static void schedule_run(struct http_server *s)
{
	if (!s->stopping)
		uv_timer_start(&s->timer, on_timer, 0, 0);
}

/* ---- responses -------------------------------------------------------------------------- */

/* The dashboard's policy: its own scripts, styles and API only; nothing inline but the one
 * rule Cytoscape inserts (allowed by its hash); never in a frame. */
#define CSP                                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self' "                                 \
	"'sha256-" CYTOSCAPE_STYLE_SHA256 "'; img-src 'self' data:; connect-src 'self'; "          \
	"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
/* SHA-256 (base64) of the <style> text Cytoscape adds to the page:
 * ".__________cytoscape_container { position: relative; }" */
#define CYTOSCAPE_STYLE_SHA256 "pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8="

/* Every response goes out with the browser boundary's headers. Takes r. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned int status,
			     struct MHD_Response *r)
{
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *ctype,
			     char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(conn, status, r);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
				  const char *ctype, const char *text)
{
	char *copy = strdup(text);

	return copy ? reply(conn, status, ctype, copy, strlen(copy)) : MHD_NO;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned int status,
				   const char *msg)
{
	struct buf b = BUF_INIT;

	if (buf_puts(&b, "{\"error\":") || buf_json_str(&b, msg, strlen(msg)) ||
	    buf_puts(&b, "}\n")) {
		buf_free(&b);
		return MHD_NO;
	}
	return reply(conn, status, "application/json", b.data, b.len);
}

/* ---- /api/v1/flows ------------------------------------------------------------------------ */

/* How a response frames its flows: NDJSON lines, protobuf frames, or Server-Sent Events. */
struct framing {
	bool pb, sse;
};

static int encode_flow(struct buf *out, const struct flow *f, const char *node, void *ctx)
{
	const struct framing *fr = ctx;
	int err;

	if (fr->pb)
		return flow_pb_frame(out, f, node);
	if (!fr->sse)
		return flow_pb_json_line(out, f, node);
	err = buf_puts(out, "event: flow\ndata: ");
	err = err ?: flow_pb_json_line(out, f, node); /* ends with "\n" */
	return err ?: buf_puts(out, "\n");
}

/* Protobuf frames, NDJSON lines or SSE events: one encoding each, shared by their streams. */
static uint64_t encoding(void *ctx)
{
	const struct framing *fr = ctx;

	return 1 + (fr->pb ? 1 : 0) + (fr->sse ? 2 : 0);
}

static int encode_lost(struct buf *out, uint64_t lost, const char *node, uint64_t now, void *ctx)
{
	const struct framing *fr = ctx;
	int err;

	if (fr->pb)
		return flow_pb_lost_frame(out, FOLLOWER_LOST_SOURCE, lost, node, now);
	err = fr->sse ? buf_puts(out, "event: lost\ndata: ") : 0;
	err = err ?: flow_pb_lost_json_line(out, FOLLOWER_LOST_SOURCE, lost, node, now);
	return err ?: (fr->sse ? buf_puts(out, "\n") : 0);
}

/* A streaming response: its follower writes into a bounded queue that MHD reads. */
struct stream {
	struct framing fr; /* first: the encoders' ctx */
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct list_node node;
	struct follower *fo;
	struct msg_queue q;
	bool suspended;
	bool gone; /* the client closed its end */
	bool done; /* until passed: end after the queue */
};

static void stream_wake(struct stream *st)
{
	if (st->suspended) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
		schedule_run(st->srv);
	}
}

static int stream_push(void *ctx, const void *msg, size_t len, bool force)
{
	struct stream *st = ctx;
	int err = msg_queue_push(&st->q, msg, len, force);

	if (!err)
		stream_wake(st);
	return err;
}

static bool stream_full(void *ctx)
{
	return msg_queue_full(&((struct stream *)ctx)->q);
}

static void stream_end(void *ctx)
{
	struct stream *st = ctx;

	st->done = true;
	stream_wake(st);
}

/* A relay's node status notice: a JSON line, or an SSE event "node". */
static int encode_status(struct buf *out, int state, const char *const *names, size_t n,
			 const char *message, const char *node, uint64_t now, void *ctx)
{
	const struct framing *fr = ctx;
	int err;

	if (fr->pb)
		return flow_pb_node_status_frame(out, state, names, n, message, node, now);
	err = fr->sse ? buf_puts(out, "event: node\ndata: ") : 0;
	err = err ?: flow_pb_node_status_json_line(out, state, names, n, message, node, now);
	return err ?: (fr->sse ? buf_puts(out, "\n") : 0);
}

static const struct follower_sink stream_sink = {.encode_flow = encode_flow,
						 .encode_lost = encode_lost,
						 .push = stream_push,
						 .full = stream_full,
						 .end = stream_end,
						 .encode_status = encode_status,
						 .encoding = encoding};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t n;

	(void)pos;
	if (st->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR; /* the client left: close, free */
	if (msg_queue_bytes(&st->q) == 0) {
		if (st->srv->stopping || st->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* Nothing to send: park the connection until a flow arrives. */
		st->suspended = true;
		MHD_suspend_connection(st->conn);
		return 0;
	}
	n = msg_queue_read(&st->q, buf, max);
	if (st->fo && msg_queue_count(&st->q) < msg_queue_limit(&st->q) / 2)
		follower_poke(st->fo);
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;

	follower_stop(st->fo);
	list_del(&st->node);
	msg_queue_free(&st->q);
	free(st);
}

struct args {
	struct http_flows_query q;
	struct errmsg e;
	uint64_t now;
	int err;
};

static enum MHD_Result flows_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct args *a = cls;

	(void)kind;
	a->err = http_flows_query_arg(&a->q, key, value, a->now, &a->e);
	return a->err ? MHD_NO : MHD_YES;
}

static enum MHD_Result queue_stream(struct http_server *s, struct MHD_Connection *conn,
				    struct stream *st)
{
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
								   stream_read, st, stream_free);

	(void)s;
	if (!r) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				st->fr.sse  ? "text/event-stream"
				: st->fr.pb ? CT_PB
					    : CT_NDJSON);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(conn, MHD_HTTP_OK, r);
}

/* A request the client must fix is 400; running out of memory is ours: 503. */
static unsigned int status_of(int err)
{
	return err == -ENOMEM ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_BAD_REQUEST;
}

static enum MHD_Result serve_follow(struct http_server *s, struct MHD_Connection *conn,
				    struct follower_req *req, struct framing fr)
{
	struct stream *st = calloc(1, sizeof(*st));
	struct errmsg e = {""};
	int err;

	if (!st || msg_queue_init(&st->q, s->opts.follow_queue, s->opts.follow_queue_bytes)) {
		free(st);
		flow_filter_set_free(req->filters);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	msg_queue_set_budget(&st->q, s->opts.follow_budget);
	st->fr = fr;
	st->srv = s;
	st->conn = conn;
	list_add_tail(&s->streams, &st->node);
	err = follower_start(&st->fo, s->opts.followers, FOLLOWER_HTTP, req, &stream_sink, st, &e);
	if (err) {
		stream_free(st);
		return reply_error(conn, status_of(err), e.text);
	}
	if (!follower_live(st->fo))
		st->done = true;
	return queue_stream(s, conn, st);
}

static enum MHD_Result serve_flows(struct http_server *s, struct MHD_Connection *conn)
{
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
	struct args a = {.now = clock_wall_ns()};
	struct follower_req req = {0};
	struct framing fr;

	http_flows_query_init(&a.q);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, flows_arg, &a);
	fr = (struct framing){.pb = a.q.pb,
			      .sse = a.q.follow && accept && strstr(accept, "text/event-stream")};
	if (!a.err && fr.sse && fr.pb)
		a.err = errmsg_set(&a.e, -EINVAL, "format=pb cannot be sent as Server-Sent Events");
	a.err = a.err ?: http_flows_query_request(&a.q, &req, &a.e);
	http_flows_query_free(&a.q);
	if (a.err)
		return reply_error(conn, status_of(a.err), errmsg_text(&a.e, a.err));
	/* Streamed as the client reads it (in steps, on flowd's loop), never built whole. */
	return serve_follow(s, conn, &req, fr);
}

/* ---- /api/v1/graph and /api/v1/namespaces ------------------------------------------------- */

/* A graph of filtered flows, without a window given, covers this much (the live graph's default
 * --graph-window). */
#define GRAPH_FILTERED_WINDOW_NS (300ULL * 1000000000ULL)
struct graph_query {
	uint64_t window_ns;
	struct filter_req
		req; /* the filter keys and deny= exclusions, as /api/v1/flows takes them */
	bool filtered;
	struct errmsg e;
	int err;
};

static enum MHD_Result graph_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct graph_query *q = cls;

	(void)kind;
	if (!strcmp(key, "window")) {
		if (!value || parse_duration_ns(value, &q->window_ns) || !q->window_ns)
			q->err = errmsg_set(&q->e, -EINVAL,
					    "invalid window '%s': use a duration such as 30s or 5m",
					    value ? value : "");
		return q->err ? MHD_NO : MHD_YES;
	}
	q->filtered = true;
	if (!strcmp(key, "deny")) {
		q->err = filter_req_add_deny_group(&q->req, value ? value : "", &q->e);
	} else {
		q->err = filter_req_add_named(&q->req, key, value ? value : "", &q->e);
		if (q->err == -ENOENT)
			q->err = errmsg_set(
				&q->e, -ENOENT,
				"unknown parameter '%s': /api/v1/graph takes window, deny and the filter keys of /api/v1/flows (see GET /)",
				key);
	}
	return q->err ? MHD_NO : MHD_YES;
}

static void graph_query_free(struct graph_query *q)
{
	filter_req_free(&q->req);
}

struct graph_build {
	struct graph *g;
	const struct flow_filter_set *fs;
	const struct filter_node *node;
	uint64_t cutoff;
};

static int graph_build_flow(const struct flow *f, void *ctx)
{
	struct graph_build *b = ctx;
	struct flow v;

	if (f->copy || (f->last_seen_ns ? f->last_seen_ns : f->time_ns) < b->cutoff)
		return 0;
	if (f->is_reply) {
		/* Matched as the stored flow reads, initiator -> responder: the graph's edges go
		 * client -> server, so from_ keys select the clients. */
		v = *f;
		v.is_reply = false;
		f = &v;
	}
	if (flow_filter_set_match(b->fs, f, b->node))
		graph_add_flow(b->g, f);
	return 0;
}

/* The graph of the stored flows that pass fs (each connection once), built for this request. */
static int filtered_graph_json(struct http_server *s, const struct flow_filter_set *fs,
			       struct buf *out, uint64_t now, uint64_t window_ns)
{
	const struct collector *col = s->opts.status ? s->opts.status->col : NULL;
	struct graph_config gc = {.window_ns = window_ns ? window_ns : GRAPH_FILTERED_WINDOW_NS};
	struct flow_store_stats st;
	struct graph_build b = {.fs = fs};
	struct flow_store *store;
	int err;

	if (!col)
		return -ENOENT;
	store = collector_store(col);
	flow_store_get_stats(store, &st);
	gc.max_tracked_flows = st.stored + 1;
	b.g = graph_new(&gc);
	if (!b.g)
		return -ENOMEM;
	b.node = s->opts.followers ? follower_hub_node(s->opts.followers) : NULL;
	b.cutoff = now > gc.window_ns ? now - gc.window_ns : 0;
	flow_store_foreach_last(store, st.stored, graph_build_flow, &b);
	err = graph_json(b.g, out, now, gc.window_ns, NULL);
	graph_free(b.g);
	return err;
}

/* Without filters the live graph; with any, the graph of the stored flows that match them. */
static enum MHD_Result serve_graph(struct http_server *s, struct MHD_Connection *conn)
{
	struct graph_query q = {0};
	struct flow_filter_set *fs = NULL;
	struct buf b = BUF_INIT;
	uint64_t now = clock_wall_ns();
	int err;

	if (!s->opts.graph)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, "the service graph is not enabled");
	filter_req_init(&q.req, FILTER_AS_PARAM);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, graph_arg, &q);
	err = q.err ?: (q.filtered ? flow_filter_set_from_req(&q.req, &fs, &q.e) : 0);
	graph_query_free(&q);
	if (err)
		return reply_error(conn, status_of(err), errmsg_text(&q.e, err));
	if (q.filtered)
		err = filtered_graph_json(s, fs, &b, now, q.window_ns);
	else
		err = graph_json(s->opts.graph, &b, now, q.window_ns, NULL);
	flow_filter_set_free(fs);
	if (err == -ENOENT)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, "filtered graphs need the flow store");
	if (err) {
		buf_free(&b);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	return reply(conn, MHD_HTTP_OK, "application/json", b.data, b.len);
}

/* Namespaces, for pickers: a growing list, sorted and made unique once complete. */
struct ns_list {
	char **v;
	size_t n, cap;
	int err;
};

static void ns_add(struct ns_list *l, const char *ns)
{
	char **v;

	/* Runs of one namespace (entries of a file, flows of a service) are common. */
	if (l->err || !ns[0] || (l->n && !strcmp(l->v[l->n - 1], ns)))
		return;
	if (l->n == l->cap) {
		v = realloc(l->v, (l->cap ? l->cap * 2 : 64) * sizeof(*v));
		if (!v) {
			l->err = -ENOMEM;
			return;
		}
		l->v = v;
		l->cap = l->cap ? l->cap * 2 : 64;
	}
	l->v[l->n] = strdup(ns);
	if (!l->v[l->n])
		l->err = -ENOMEM;
	else
		l->n++;
}

static int ns_flow(const struct flow *f, void *ctx)
{
	char id[320], ns[64];
	int side;

	for (side = 0; side < 2; side++) {
		ns[0] = '\0';
		graph_node_id(f, side, id, sizeof(id), NULL, 0, ns, sizeof(ns));
		ns_add(ctx, ns);
	}
	return 0;
}

static int ns_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* {"namespaces":[...]}: those of the identity file in force and of the stored flows' graph
 * nodes, sorted. */
static enum MHD_Result no_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			      const char *value)
{
	(void)kind;
	(void)value;
	*(const char **)cls = key;
	return MHD_NO;
}

/* The relay's nodes (the hook it gives); a node has none. */
static enum MHD_Result serve_nodes(struct http_server *s, struct MHD_Connection *conn)
{
	struct buf b = BUF_INIT;

	if (!s->opts.nodes_json)
		return reply_error(conn, MHD_HTTP_NOT_FOUND,
				   "no nodes here: /api/v1/nodes is the relay's (flowrelay)");
	if (s->opts.nodes_json(&b, s->opts.nodes_ctx)) {
		buf_free(&b);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	return reply(conn, MHD_HTTP_OK, "application/json", b.data, b.len);
}

static enum MHD_Result serve_namespaces(struct http_server *s, struct MHD_Connection *conn)
{
	const struct identity_table *ids = identities_get();
	const struct collector *col = s->opts.status ? s->opts.status->col : NULL;
	struct ns_list l = {0};
	struct buf b = BUF_INIT;
	size_t i, n = ids ? identity_table_size(ids) : 0;
	struct flow_store *store;
	const char *arg = NULL;
	struct errmsg e;
	int err;

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, no_arg, &arg);
	if (arg) {
		errmsg_set(&e, -EINVAL, "unknown parameter '%s': /api/v1/namespaces takes none",
			   arg);
		return reply_error(conn, MHD_HTTP_BAD_REQUEST, e.text);
	}
	for (i = 0; i < n; i++)
		ns_add(&l, identity_table_entry(ids, i)->ns);
	store = col ? collector_store(col) : NULL;
	if (store)
		flow_store_foreach_last(store, flow_store_capacity(store), ns_flow, &l);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), ns_cmp);
	err = l.err ?: buf_puts(&b, "{\"namespaces\":[");
	for (i = 0; !err && i < l.n; i++) {
		if (i && !strcmp(l.v[i], l.v[i - 1]))
			continue;
		err = i ? buf_puts(&b, ",") : 0;
		err = err ?: buf_json_str(&b, l.v[i], strlen(l.v[i]));
	}
	err = err ?: buf_puts(&b, "]}\n");
	for (i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	if (err) {
		buf_free(&b);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	return reply(conn, MHD_HTTP_OK, "application/json", b.data, b.len);
}

/* ---- /metrics -------------------------------------------------------------------------- */

static enum MHD_Result serve_metrics(struct http_server *s, struct MHD_Connection *conn)
{
	struct buf b = BUF_INIT;
	struct status st;

	status_collect(s->opts.status, &st);
	if (metrics_write(&b, &st)) {
		buf_free(&b);
		return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
}

/* ---- the dashboard's files ---------------------------------------------------------------- */

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".mjs", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".json", "application/json"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".map", "application/json"},
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* Serves a file below web_dir; returns MHD_NO-or-response, or -1 if there is no such file. */
static int serve_file(struct http_server *s, struct MHD_Connection *conn, const char *url,
		      enum MHD_Result *ret)
{
	char path[4096];
	const char *p;
	struct stat st;
	struct MHD_Response *r;
	int fd;

	if (!s->opts.web_dir || url[0] != '/')
		return -1;
	/* Only plain relative names: no "..", no hidden files, no odd characters. */
	for (p = url + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("._-/", *p)))
			return -1;
	if (strstr(url, "/.") || strstr(url, "//"))
		return -1;
	snprintf(path, sizeof(path), "%s%s", s->opts.web_dir,
		 strcmp(url, "/") ? url : "/index.html");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		*ret = MHD_NO;
		return 0;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(path));
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	*ret = queue(conn, MHD_HTTP_OK, r);
	return 0;
}

/* ---- other endpoints --------------------------------------------------------------------- */

/* ,"history":{...} when there is one (times as RFC 3339 and as Unix ns). */
static int status_history_json(struct buf *b, const struct status *st)
{
	const struct history_stats *h = &st->history;
	char oldest[CLOCK_UTC_LEN] = "", newest[CLOCK_UTC_LEN] = "";
	int err;

	if (!st->have_history)
		return 0;
	if (h->oldest_ns)
		clock_utc(h->oldest_ns, oldest);
	if (h->newest_ns)
		clock_utc(h->newest_ns, newest);
	err = buf_printf(b,
			 ",\"history\":{\"events\":%llu,\"bytes\":%llu,\"dropped\":%llu,"
			 "\"lost\":%llu,\"damaged_blocks\":%llu,\"oldest_ns\":%llu,"
			 "\"newest_ns\":%llu,\"oldest\":\"%s\",\"newest\":\"%s\",\"stopped\":%s,"
			 "\"state\":",
			 (unsigned long long)h->events, (unsigned long long)h->bytes,
			 (unsigned long long)h->dropped, (unsigned long long)h->lost,
			 (unsigned long long)h->damaged_blocks, (unsigned long long)h->oldest_ns,
			 (unsigned long long)h->newest_ns, oldest, newest,
			 h->stopped ? "true" : "false");
	err = err ?: buf_json_str(b, h->state, strlen(h->state));
	return err ?: buf_putc(b, '}');
}

static enum MHD_Result serve_status(struct http_server *s, struct MHD_Connection *conn)
{
	struct buf b = BUF_INIT;
	struct status st;
	int err;

	status_collect(s->opts.status, &st);
	err = buf_printf(&b,
			 "{\"num_flows\":%llu,\"max_flows\":%llu,\"seen_flows\":%llu,"
			 "\"active_flows\":%llu,\"evicted_flows\":%llu,\"lost_records\":%llu,"
			 "\"records\":%llu,\"decode_errors\":%llu,\"flows_published\":%llu,"
			 "\"uptime_ns\":%llu,\"followers\":%u,\"node_name\":",
			 (unsigned long long)st.store.stored, (unsigned long long)st.store_capacity,
			 (unsigned long long)st.store.seen, (unsigned long long)st.store.active,
			 (unsigned long long)st.store.evicted, (unsigned long long)st.lost_records,
			 (unsigned long long)st.col.records,
			 (unsigned long long)st.col.decode_errors,
			 (unsigned long long)st.col.flows_published,
			 (unsigned long long)st.uptime_ns, st.bus_subscribers);
	err = err ?: buf_json_str(&b, st.node_name, strlen(st.node_name));
	err = err
		      ?: buf_printf(
				 &b,
				 ",\"sock_records\":%llu,\"sockets\":%llu,\"process_records\":%llu,"
				 "\"process_records_refused\":%llu,\"drop_records\":%llu,"
				 "\"drops_untracked\":%llu,\"kernel_flows_untracked\":%llu,"
				 "\"dns_records\":%llu,\"dns_errors\":%llu,"
				 "\"dns_names\":%llu,\"dns_clients\":%llu,\"dns_name_strings\":%llu,"
				 "\"dns_addrs_evicted\":%llu,\"dns_names_freed\":%llu,"
				 "\"dns_names_refused\":%llu,\"dns_matched\":%llu,\"dns_unmatched\":%llu,"
				 "\"dns_unanswered\":%llu,\"dns_pending\":%llu,\"dns_pending_evicted\":%llu,"
				 "\"identities\":%llu,\"identity_reloads\":%llu,\"identity_errors\":%llu",
				 (unsigned long long)st.col.sock_records,
				 (unsigned long long)st.socks.sockets,
				 (unsigned long long)st.socks.processes,
				 (unsigned long long)st.socks.processes_full,
				 (unsigned long long)st.col.drop_records,
				 (unsigned long long)st.col.drops_untracked,
				 (unsigned long long)st.col.last_sweep_untracked,
				 (unsigned long long)st.col.dns_records,
				 (unsigned long long)st.col.dns_errors,
				 (unsigned long long)st.dns.addrs,
				 (unsigned long long)st.dns.clients,
				 (unsigned long long)st.dns.names,
				 (unsigned long long)st.dns.evicted,
				 (unsigned long long)st.dns.names_freed,
				 (unsigned long long)st.dns.full,
				 (unsigned long long)st.col.dns_match.matched,
				 (unsigned long long)st.col.dns_match.unmatched,
				 (unsigned long long)st.col.dns_match.unanswered,
				 (unsigned long long)st.col.dns_match.pending,
				 (unsigned long long)st.col.dns_match.evicted,
				 (unsigned long long)st.identities.entries,
				 (unsigned long long)st.identities.reloads,
				 (unsigned long long)st.identities.errors);
	err = err ?: status_history_json(&b, &st);
	err = err ?: buf_puts(&b, "}\n");
	if (err) {
		buf_free(&b);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, "application/json", b.data, b.len);
}

static const char index_text[] =
	"flowd: Flowscope node agent\n"
	"\n"
	"GET /api/v1/flows?last=N[&follow=1][&format=json|pb]  flow events as NDJSON or protobuf\n"
	"    frames, in time order; also first=N, since=T, until=T (RFC 3339 or 5m ago),\n"
	"    per_flow=1 (one per flow in its latest state instead of every event), and the\n"
	"    filter keys of `flowctl observe --help` (to_port=443, ...; not_KEY to exclude;\n"
	"    deny=K%3DV%26K%3DV for each further exclusion of its own)\n"
	"GET /api/v1/status                                   counters as JSON\n"
	"GET /api/v1/graph?window=5m[&FILTERS][&deny=K%3DV]   the service graph as JSON (of the\n"
	"    matching flows with filters: the keys of /api/v1/flows; deny=K=V&K=V excludes)\n"
	"GET /api/v1/namespaces                               namespaces (identity file, graph)\n"
	"GET /metrics                                         Prometheus metrics\n"
	"GET /healthz                                         liveness\n";

/* ---- the Host header ------------------------------------------------------------------------ */

/* Whether an address literal is the address conn came to (IPv4 also as IPv4-mapped IPv6). */
static bool is_local_addr(struct MHD_Connection *conn, const char *lit)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint8_t want[16], *have;
	size_t n;

	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &len))
		return false;
	if (inet_pton(AF_INET, lit, want) == 1) {
		n = 4;
	} else if (inet_pton(AF_INET6, lit, want) == 1) {
		n = 16;
	} else {
		return false;
	}
	if (ss.ss_family == AF_INET) {
		have = (uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
		return n == 4 && !memcmp(want, have, 4);
	}
	have = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
	if (n == 16)
		return !memcmp(want, have, 16);
	return IN6_IS_ADDR_V4MAPPED((struct in6_addr *)have) && !memcmp(want, have + 12, 4);
}

/* DNS rebinding: a page from elsewhere reaches this server under a name of its own, which the
 * browser sends as Host. Only this server's names pass: localhost, the address literal the
 * connection came to (a literal cannot be rebound) and the names given in allow_hosts. No Host
 * (HTTP/1.0, which no browser speaks) passes; MHD itself refuses HTTP/1.1 without one. */
/* ---- the token -------------------------------------------------------------------------- */

static bool has_token(const struct http_server *s, struct MHD_Connection *conn)
{
	const char *v =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (v && token_bearer_matches(s->opts.token, v, strlen(v)))
		return true;
	v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, s->cookie);
	return v && token_equal(s->opts.token, v, strlen(v));
}

static void url_encode(struct buf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (isalnum(c) || strchr("-._~", c)) {
			buf_append(b, v, 1);
		} else {
			char enc[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_append(b, enc, 3);
		}
	}
}

/* Every query parameter but the token, again as a query string. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct buf *b = cls;

	(void)kind;
	if (!strcmp(key, "token"))
		return MHD_YES;
	if (b->data[b->len - 1] != '?')
		buf_putc(b, '&');
	url_encode(b, key);
	if (value) {
		buf_append(b, "=", 1);
		url_encode(b, value);
	}
	return MHD_YES;
}

/* The login URL's visit: the token goes into a cookie, and the browser to the same page
 * without the token in its address (where history, bookmarks and screenshots would keep it). */
static enum MHD_Result login_redirect(struct http_server *s, struct MHD_Connection *conn,
				      const char *url)
{
	struct buf loc = BUF_INIT, cookie = BUF_INIT;
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

	buf_puts(&loc, url);
	buf_puts(&loc, "?");
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &loc);
	if (loc.len && loc.data[loc.len - 1] == '?')
		loc.data[--loc.len] = '\0';
	buf_printf(&cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", s->cookie, s->opts.token,
		   s->tls_cert ? "; Secure" : "");
	if (!r || !loc.data || !cookie.data) {
		if (r)
			MHD_destroy_response(r);
		buf_free(&loc);
		buf_free(&cookie);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc.data);
	MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie.data);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	buf_free(&loc);
	buf_free(&cookie);
	return queue(conn, MHD_HTTP_SEE_OTHER, r);
}

/* MHD_YES/MHD_NO when the request was answered here (refused, or the login redirect), else
 * -1: go on. */
static int check_token(struct http_server *s, struct MHD_Connection *conn, const char *url)
{
	const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	struct buf msg = BUF_INIT;
	struct MHD_Response *r;

	if (!s->opts.token || !strcmp(url, "/healthz"))
		return -1;
	if (q && token_equal(s->opts.token, q, strlen(q)))
		return login_redirect(s, conn, url);
	if (!q && has_token(s, conn))
		return -1;
	buf_puts(&msg, "{\"error\":");
	{
		char text[600];

		snprintf(text, sizeof(text),
			 "%s: open the login URL the server printed when it started, or send "
			 "\"Authorization: Bearer TOKEN\"%s%s%s",
			 q ? "wrong token" : "this server requires a token",
			 s->opts.token_file ? " (the token is in " : "",
			 s->opts.token_file ? s->opts.token_file : "",
			 s->opts.token_file ? ", readable by root)" : "");
		buf_json_str(&msg, text, strlen(text));
	}
	buf_puts(&msg, "}\n");
	if (!msg.data)
		return MHD_NO;
	r = MHD_create_response_from_buffer(msg.len, msg.data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		buf_free(&msg);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"flowscope\"");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(conn, MHD_HTTP_UNAUTHORIZED, r);
}

static bool host_allowed(const struct http_server *s, struct MHD_Connection *conn, const char *host)
{
	char name[256];
	const char *end, *port;
	size_t i, n;

	if (!host)
		return true;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end)
			return false;
		host++;
		port = end + 1;
	} else {
		end = strchr(host, ':');
		port = end ? end : host + strlen(host);
		end = port;
	}
	n = (size_t)(end - host);
	if (n == 0 || n >= sizeof(name))
		return false;
	if (*port) {
		if (*port != ':' || !port[1] || strspn(port + 1, "0123456789") != strlen(port + 1))
			return false;
	}
	memcpy(name, host, n);
	name[n] = '\0';
	if (n > 1 && name[n - 1] == '.')
		name[--n] = '\0'; /* "localhost." is localhost */
	if (!strcasecmp(name, "localhost"))
		return true;
	for (i = 0; i < s->opts.n_allow_hosts; i++)
		if (!strcasecmp(name, s->opts.allow_hosts[i]))
			return true;
	return is_local_addr(conn, name);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	static int first_call;
	struct http_server *s = cls;

	(void)version;
	(void)upload;
	if (!*con_cls) {
		/* Headers only so far; answer when the request is complete. */
		*con_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* bodies are ignored: every endpoint is a GET */
		return MHD_YES;
	}
	if (!host_allowed(s, conn, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")))
		return reply_error(
			conn, MHD_HTTP_FORBIDDEN,
			"this server does not answer to that Host header (a DNS rebinding "
			"guard): use its address or localhost, or allow the name with "
			"--http-allow-host");
	{
		int t = check_token(s, conn, url);

		if (t >= 0)
			return (enum MHD_Result)t;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		struct MHD_Response *r;
		const char *msg = "{\"error\":\"only GET and HEAD are supported\"}\n";

		r = MHD_create_response_from_buffer(strlen(msg), (void *)msg,
						    MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
	}
	if (!strcmp(url, "/api/v1/flows"))
		return serve_flows(s, conn);
	if (!strcmp(url, "/api/v1/status"))
		return serve_status(s, conn);
	if (!strcmp(url, "/api/v1/graph"))
		return serve_graph(s, conn);
	if (!strcmp(url, "/api/v1/namespaces"))
		return serve_namespaces(s, conn);
	if (!strcmp(url, "/api/v1/nodes"))
		return serve_nodes(s, conn);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(s, conn);
	if (!strcmp(url, "/healthz"))
		return reply_text(conn, MHD_HTTP_OK, "text/plain", "ok\n");
	if (strncmp(url, "/api/", 5)) {
		enum MHD_Result ret;

		if (!serve_file(s, conn, url, &ret))
			return ret;
	}
	if (!strcmp(url, "/"))
		return reply_text(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", index_text);
	return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint: see GET /");
}

/* ---- driving MHD from libuv -------------------------------------------------------------- */

static void run_mhd(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (s->stopping)
		return;
	MHD_run(s->d);
	if (MHD_get_timeout(s->d, &ms) == MHD_YES)
		uv_timer_start(&s->timer, on_timer, ms > 60000 ? 60000 : ms, 0);
	else
		uv_timer_stop(&s->timer);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	run_mhd(h->data);
}

static void on_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static bool client_gone(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;
	char c;

	if (!ci)
		return false;
	p.fd = ci->connect_fd;
	p.events = POLLIN | POLLRDHUP;
	p.revents = 0;
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP))
		return true;
	/* Readable: EOF (orderly close) or bytes we ignore (a client sends nothing here). */
	return recv(p.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void on_tick(uv_timer_t *t)
{
	struct http_server *s = t->data;
	struct stream *st, *tmp;

	/* Pending lost-event notices go out even if no new flow comes. A streaming response
	 * is only ever written, so MHD would notice a client that went away only on the next
	 * write, which may never come for an idle or narrowly filtered follower: look at the
	 * socket ourselves and end the response of a client that closed or reset it. */
	list_for_each_safe(st, tmp, &s->streams, struct stream, node)
	{
		if (st->fo)
			follower_poke(st->fo);
		if (!st->gone && client_gone(st->conn)) {
			st->gone = true;
			stream_wake(st);
		}
	}
}

/* MHD's messages, minus those about clients that went away mid-stream: that is how every
 * follower ends and no reason for a log line. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strstr(msg, "application error generating response") ||
	    strstr(msg, "no longer available") || strstr(msg, "Failed to send") ||
	    strstr(msg, "Connection reset"))
		return;
	if (msg[0] && msg[strlen(msg) - 1] == '\n')
		msg[strlen(msg) - 1] = '\0';
	logmsg(LOG_LEVEL_WARN, "http: %s", msg);
}

static char *read_pem(const char *path, const char *what, struct errmsg *e)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	if (!f) {
		errmsg_set(e, -errno, "cannot read the HTTP TLS %s %s: %s", what, path,
			   strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (1 << 20))
		buf_append(&b, chunk, n);
	fclose(f);
	if (!b.data)
		errmsg_set(e, -EINVAL, "the HTTP TLS %s %s is empty", what, path);
	return b.data;
}

/* HTTPS: the certificate and key checked with OpenSSL first, whose errors say what is wrong
 * (MHD only fails to start), then read for MHD. */
static int tls_setup(struct http_server *s, struct errmsg *e)
{
	SSL_CTX *ctx;

	if (!s->opts.tls_cert && !s->opts.tls_key)
		return 0;
	if (!s->opts.tls_cert || !s->opts.tls_key)
		return errmsg_set(e, -EINVAL, "--http-tls-cert and --http-tls-key go together");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return errmsg_set(e, -ENOTSUP,
				  "this libmicrohttpd has no TLS: HTTPS needs one built with "
				  "GnuTLS");
	ctx = tls_server_ctx(s->opts.tls_cert, s->opts.tls_key, NULL, NULL, e);
	if (!ctx) {
		errmsg_prefix(e, "HTTPS");
		return -EINVAL;
	}
	SSL_CTX_free(ctx);
	s->tls_cert = read_pem(s->opts.tls_cert, "certificate", e);
	s->tls_key = s->tls_cert ? read_pem(s->opts.tls_key, "key", e) : NULL;
	return s->tls_key ? 0 : -EINVAL;
}

static void free_tls(struct http_server *s)
{
	free(s->tls_cert);
	if (s->tls_key)
		OPENSSL_cleanse(s->tls_key, strlen(s->tls_key));
	free(s->tls_key);
}

int http_server_start(struct http_server **out, uv_loop_t *loop,
		      const struct http_server_opts *opts, struct errmsg *e)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage sa = {0};
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int err;

	if (!s)
		return errmsg_set(e, -ENOMEM, "out of memory");
	list_init(&s->streams);
	s->opts = *opts;
	if (!s->opts.addr)
		s->opts.addr = "127.0.0.1";
	if (!s->opts.port)
		s->opts.port = 12000;
	if (!s->opts.follow_queue)
		s->opts.follow_queue = DEFAULT_FOLLOW_QUEUE;
	if (!s->opts.follow_queue_bytes)
		s->opts.follow_queue_bytes = DEFAULT_FOLLOW_BYTES;
	snprintf(s->cookie, sizeof(s->cookie), "flowscope_token_%u", s->opts.port);
	if (strchr(s->opts.addr, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(s->opts.port);
		err = inet_pton(AF_INET6, s->opts.addr, &a6->sin6_addr) == 1 ? 0 : -EINVAL;
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;

		a4->sin_family = AF_INET;
		a4->sin_port = htons(s->opts.port);
		err = inet_pton(AF_INET, s->opts.addr, &a4->sin_addr) == 1 ? 0 : -EINVAL;
	}
	if (err) {
		errmsg_set(e, err,
			   "invalid HTTP listen address '%s': use a numeric IPv4 or IPv6 address",
			   s->opts.addr);
		free(s);
		return err;
	}
	for (size_t i = 0; i < s->opts.n_allow_hosts; i++) {
		const char *h = s->opts.allow_hosts[i];

		if (!h[0] || strlen(h) > 253 ||
		    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
			    strlen(h)) {
			errmsg_set(e, -EINVAL,
				   "invalid --http-allow-host '%s': use a host name (letters, "
				   "digits, '-', '.')",
				   h);
			free(s);
			return -EINVAL;
		}
	}
	err = tls_setup(s, e);
	if (err) {
		free_tls(s);
		free(s);
		return err;
	}
	/* The TLS options last: without TLS, MHD_OPTION_END comes before them. */
	s->d = MHD_start_daemon(
		flags | (s->tls_cert ? MHD_USE_TLS : 0), s->opts.port, NULL, NULL, on_request, s,
		/* The logger first, or MHD logs about it with its own. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
		opts->idle_timeout_s ? opts->idle_timeout_s : 120u, MHD_OPTION_CONNECTION_LIMIT,
		s->opts.max_conns ?: SERVE_DEFAULT_MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		s->opts.max_conns_per_client ?: SERVE_DEFAULT_MAX_CONNS_PER_CLIENT,
		s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->tls_cert,
		MHD_OPTION_HTTPS_MEM_KEY, s->tls_key, MHD_OPTION_HTTPS_PRIORITIES,
		"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", MHD_OPTION_END);
	if (!s->d) {
		free_tls(s);
		free(s);
		return errmsg_set(
			e, -EADDRINUSE,
			"cannot serve HTTP on %s port %u (in use by another flowd? choose another with --http ADDR:PORT)",
			opts->addr ? opts->addr : "127.0.0.1", opts->port ? opts->port : 12000);
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		MHD_stop_daemon(s->d);
		free_tls(s);
		free(s);
		return -EIO;
	}
	uv_poll_init(loop, &s->poll, info->epoll_fd);
	uv_timer_init(loop, &s->timer);
	uv_timer_init(loop, &s->tick);
	s->poll.data = s->timer.data = s->tick.data = s;
	s->handles_open = 3;
	uv_poll_start(&s->poll, UV_READABLE, on_poll);
	uv_timer_start(&s->tick, on_tick, 1000, 1000);
	uv_timer_start(&s->timer, on_timer, 0, 0);
	*out = s;
	return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	if (--s->handles_open == 0)
		free(s);
}

void http_server_stop(struct http_server *s)
{
	struct stream *st, *tmp;

	if (!s)
		return;
	/* MHD must not be stopped with suspended connections: resume them first; their
	 * readers then end the stream because stopping is set. */
	s->stopping = true;
	list_for_each_safe(st, tmp, &s->streams, struct stream, node)
	{
		if (st->suspended) {
			st->suspended = false;
			MHD_resume_connection(st->conn);
		}
	}
	MHD_run(s->d);
	MHD_stop_daemon(s->d); /* frees remaining responses: stream_free stops the follower */
	free_tls(s);
	s->tls_cert = s->tls_key = NULL;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->tick, on_handle_closed);
}
