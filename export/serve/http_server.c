/* The HTTP API (see include/flowscope/serve/http_server.h): libmicrohttpd in external-epoll mode,
 * driven by flowd's libuv loop (uv_poll on MHD's epoll fd plus a timer for its timeouts).
 * Streaming followers are suspended while their bounded queue is empty and resumed when a
 * flow arrives, so no request ever blocks the loop. */
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
#include <time.h>

#include "flowscope/filter/filter_query.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/graph/graph.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/serve/metrics.h"
#include "flowscope/base/msg_queue.h"
#include "flowscope/base/parse.h"

#define DEFAULT_FOLLOW_QUEUE 4096
#define DEFAULT_LAST 20
#define NSEC_PER_SEC 1000000000ULL
#define LOST_SOURCE_OBSERVER_QUEUE 2 /* flow.LostEventSource */
#define CT_NDJSON "application/x-ndjson"
#define CT_PB "application/x-protobuf"

struct follower;

struct http_server {
	struct MHD_Daemon *d;
	struct collector *col;
	struct http_server_opts opts;
	uv_poll_t poll;
	uv_timer_t timer; /* MHD's own timeouts, and "run soon" after a resume */
	uv_timer_t tick;  /* once a second: lost-event notices, disconnect checks */
	struct follower *followers;
	int handles_open;
	bool stopping;
};

/* What a request or a follower selects: Hubble filters plus graph node / edge ids. */
struct flow_match {
	struct flow_filter_set *fs; /* NULL: everything */
	char *node, *edge;
};

static void match_free(struct flow_match *m)
{
	flow_filter_set_free(m->fs);
	free(m->node);
	free(m->edge);
	memset(m, 0, sizeof(*m));
}

static bool match(const struct flow_match *m, const struct flow *f, const char *node_name)
{
	char a[300], b[300], e[620];

	if (m->fs && !flow_filter_set_match(m->fs, f, node_name))
		return false;
	if (!m->node && !m->edge)
		return true;
	graph_node_id(f, 0, a, sizeof(a), NULL, 0, NULL, 0);
	graph_node_id(f, 1, b, sizeof(b), NULL, 0, NULL, 0);
	if (m->node && strcmp(a, m->node) && strcmp(b, m->node))
		return false;
	if (m->edge) {
		snprintf(e, sizeof(e), "e:%s>%s", a, b);
		if (strcmp(e, m->edge))
			return false;
	}
	return true;
}

struct follower {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct follower *next, *prev;
	struct flow_bus_sub *sub;
	struct msg_queue q;
	struct buf scratch;
	bool pb;
	bool sse; /* Server-Sent Events framing */
	struct flow_match m;
	bool suspended;
	bool gone; /* the client closed its end */
	uint64_t lost;
	uint64_t lost_sent_ns;
};

static uint64_t now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void on_timer(uv_timer_t *t);

/* A resumed connection is handled at the next MHD_run: make it happen soon. */
static void schedule_run(struct http_server *s)
{
	if (!s->stopping)
		uv_timer_start(&s->timer, on_timer, 0, 0);
}

/* ---- responses -------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *ctype,
			     char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
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

/* Flow filters from query parameters, with flowctl's (Hubble's) meaning: "either side"
 * parameters (ip, port, namespace, pod, service, label, fqdn) fill the source field of one
 * filter and the destination field of a twin; from_/to_ ones and the rest fill both. */
struct flows_query {
	uint64_t last;
	bool last_given;
	bool follow;
	bool pb;
	struct filter_query fq; /* the filter parameters */
	bool sse;		/* the client asked for text/event-stream */
	char err[256];
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct flows_query *q = cls;

	(void)kind;
	if (q->err[0])
		return MHD_NO;
	if (!strcmp(key, "last")) {
		if (!value || parse_u64(value, UINT32_MAX, &q->last))
			snprintf(q->err, sizeof(q->err),
				 "invalid last '%s': use a whole number of flows (0 or more)",
				 value ? value : "");
		q->last_given = true;
	} else if (!strcmp(key, "follow")) {
		if (value && (!strcmp(value, "1") || !strcasecmp(value, "true")))
			q->follow = true;
		else if (value && (!strcmp(value, "0") || !strcasecmp(value, "false")))
			q->follow = false;
		else
			snprintf(q->err, sizeof(q->err),
				 "invalid follow '%s': use 1, 0, true or false",
				 value ? value : "");
	} else if (!strcmp(key, "format")) {
		if (value && !strcmp(value, "json"))
			q->pb = false;
		else if (value && !strcmp(value, "pb"))
			q->pb = true;
		else
			snprintf(q->err, sizeof(q->err),
				 "invalid format '%s': use json (NDJSON) or pb (length-prefixed "
				 "protobuf)",
				 value ? value : "");
	} else {
		int r = filter_query_arg(&q->fq, key, value ? value : "");

		if (q->fq.err[0])
			snprintf(q->err, sizeof(q->err), "%s", q->fq.err);
		else if (r < 0)
			snprintf(q->err, sizeof(q->err), "out of memory");
		else if (r > 0)
			snprintf(q->err, sizeof(q->err),
				 "unknown parameter '%s': /api/v1/flows takes last, follow, format "
				 "and the filters ip, port, protocol, verdict, namespace, pod, "
				 "service, label, fqdn (also from_/to_ forms), node and edge",
				 key);
	}
	return q->err[0] ? MHD_NO : MHD_YES;
}

/* One flow as NDJSON line, protobuf frame, or Server-Sent Event ("event: flow"). */
static int encode(struct buf *out, const struct flow *f, const char *node, bool pb, bool sse)
{
	int err;

	if (pb)
		return flow_pb_frame(out, f, node);
	if (!sse)
		return flow_pb_json_line(out, f, node);
	err = buf_puts(out, "event: flow\ndata: ");
	err = err ?: flow_pb_json_line(out, f, node); /* ends with "\n" */
	return err ?: buf_puts(out, "\n");
}

/* The newest `want` flows of the store that match, oldest first. */
struct collect_ctx {
	const struct flow_match *m;
	const char *node;
	const struct flow **ring;
	uint64_t want, count;
};

static int collect_flow(const struct flow *f, void *arg)
{
	struct collect_ctx *c = arg;

	if (!c->want || !match(c->m, f, c->node))
		return 0;
	c->ring[c->count % c->want] = f;
	c->count++;
	return 0;
}

/* Calls emit for the newest `want` matching stored flows, oldest first. */
static int for_last_matching(struct collector *col, const struct flow_match *m, uint64_t want,
			     int (*emit)(const struct flow *f, void *ctx), void *ctx)
{
	struct collect_ctx c = {.m = m, .node = col->node_name, .want = want};
	uint64_t i, n, start;
	int err = 0;

	if (!want)
		return 0;
	c.ring = calloc(want, sizeof(*c.ring));
	if (!c.ring)
		return -ENOMEM;
	flow_store_foreach_last(col->store, flow_store_capacity(col->store), collect_flow, &c);
	n = c.count < want ? c.count : want;
	start = c.count < want ? 0 : c.count % want;
	for (i = 0; i < n && !err; i++)
		err = emit(c.ring[(start + i) % want], ctx);
	free(c.ring);
	return err;
}

struct emit_ctx {
	struct buf *out;     /* a whole response, or */
	struct msg_queue *q; /* a follower's queue (with scratch) */
	struct buf *scratch;
	const char *node;
	bool pb, sse;
};

static int emit_flow(const struct flow *f, void *arg)
{
	struct emit_ctx *e = arg;
	int err;

	if (e->out)
		return encode(e->out, f, e->node, e->pb, e->sse);
	buf_reset(e->scratch);
	err = encode(e->scratch, f, e->node, e->pb, e->sse);
	return err ?: msg_queue_push(e->q, e->scratch->data, e->scratch->len, true);
}

static void follower_send_lost(struct follower *fo)
{
	uint64_t now = now_wall_ns();
	int err;

	if (!fo->lost || now - fo->lost_sent_ns < NSEC_PER_SEC || msg_queue_full(&fo->q))
		return;
	buf_reset(&fo->scratch);
	if (fo->sse && buf_puts(&fo->scratch, "event: lost\ndata: "))
		return;
	err = fo->pb ? flow_pb_lost_frame(&fo->scratch, LOST_SOURCE_OBSERVER_QUEUE, fo->lost,
					  fo->srv->col->node_name, now)
		     : flow_pb_lost_json_line(&fo->scratch, LOST_SOURCE_OBSERVER_QUEUE, fo->lost,
					      fo->srv->col->node_name, now);
	if (!err && fo->sse)
		err = buf_puts(&fo->scratch, "\n");
	if (!err && !msg_queue_push(&fo->q, fo->scratch.data, fo->scratch.len, true)) {
		fo->lost = 0;
		fo->lost_sent_ns = now;
	}
}

static void follower_wake(struct follower *fo)
{
	if (fo->suspended) {
		fo->suspended = false;
		MHD_resume_connection(fo->conn);
		schedule_run(fo->srv);
	}
}

/* A flow the client could not take: for its next lost notice, the HTTP total and its own
 * counter in /metrics. */
static void count_lost(struct follower *fo)
{
	fo->lost++;
	fo->srv->col->metrics.follower_lost_http++;
	flow_bus_sub_lost(fo->sub, 1);
}

static void on_flow(const struct flow *f, void *arg)
{
	struct follower *fo = arg;

	if (!match(&fo->m, f, fo->srv->col->node_name))
		return;
	if (msg_queue_full(&fo->q)) {
		count_lost(fo);
		return;
	}
	follower_send_lost(fo);
	buf_reset(&fo->scratch);
	if (encode(&fo->scratch, f, fo->srv->col->node_name, fo->pb, fo->sse) ||
	    msg_queue_push(&fo->q, fo->scratch.data, fo->scratch.len, false)) {
		count_lost(fo);
		return;
	}
	follower_wake(fo);
}

static ssize_t follower_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *fo = cls;
	size_t n;

	(void)pos;
	if (fo->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR; /* the client left: close, free */
	if (msg_queue_bytes(&fo->q) == 0) {
		if (fo->srv->stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* Nothing to send: park the connection until a flow arrives. */
		fo->suspended = true;
		MHD_suspend_connection(fo->conn);
		return 0;
	}
	n = msg_queue_read(&fo->q, buf, max);
	if (fo->lost && msg_queue_count(&fo->q) < fo->q.cap / 2)
		follower_send_lost(fo);
	return (ssize_t)n;
}

static void follower_free(void *cls)
{
	struct follower *fo = cls;
	struct http_server *s = fo->srv;

	if (fo->sub)
		flow_bus_unsubscribe(s->col->bus, fo->sub);
	if (fo->prev)
		fo->prev->next = fo->next;
	else
		s->followers = fo->next;
	if (fo->next)
		fo->next->prev = fo->prev;
	msg_queue_free(&fo->q);
	buf_free(&fo->scratch);
	match_free(&fo->m);
	free(fo);
}

/* Compiles the query's filters into m; on a bad filter, the message goes to q->err. */
static int query_compile(struct flows_query *q, struct flow_match *m)
{
	if (filter_query_compile(&q->fq, NULL, &m->fs, q->err, sizeof(q->err)))
		return -1;
	m->node = q->fq.node;
	m->edge = q->fq.edge;
	q->fq.node = q->fq.edge = NULL;
	return 0;
}

static enum MHD_Result serve_flows(struct http_server *s, struct MHD_Connection *conn)
{
	struct flows_query q = {.last = DEFAULT_LAST};
	struct collector *col = s->col;
	size_t cap = flow_store_capacity(col->store);
	struct flow_match m = {0};
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
	struct MHD_Response *r;
	struct follower *fo;
	enum MHD_Result ret;

	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	if (!q.err[0] && q.follow && accept && strstr(accept, "text/event-stream")) {
		q.sse = true;
		if (q.pb)
			snprintf(q.err, sizeof(q.err),
				 "format=pb cannot be sent as Server-Sent Events");
	}
	if (!q.err[0] && q.follow && !q.last_given)
		q.last = 0; /* like `hubble observe --follow`: only new flows */
	if (!q.err[0] && q.last > cap)
		snprintf(q.err, sizeof(q.err), "invalid last %llu: at most %zu flows are stored",
			 (unsigned long long)q.last, cap);
	if (!q.err[0])
		query_compile(&q, &m);
	filter_query_free(&q.fq);
	if (q.err[0]) {
		match_free(&m);
		return reply_error(conn, MHD_HTTP_BAD_REQUEST, q.err);
	}
	if (!q.follow) {
		struct buf out = BUF_INIT;
		struct emit_ctx e = {.out = &out, .node = col->node_name, .pb = q.pb};
		int err = for_last_matching(col, &m, q.last, emit_flow, &e);

		match_free(&m);
		if (err) {
			buf_free(&out);
			return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		}
		return reply(conn, MHD_HTTP_OK, q.pb ? CT_PB : CT_NDJSON,
			     out.data ? out.data : strdup(""), out.len);
	}

	fo = calloc(1, sizeof(*fo));
	if (!fo || msg_queue_init(&fo->q, s->opts.follow_queue)) {
		free(fo);
		match_free(&m);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	fo->srv = s;
	fo->conn = conn;
	fo->pb = q.pb;
	fo->sse = q.sse;
	fo->m = m;
	{
		struct emit_ctx e = {.q = &fo->q,
				     .scratch = &fo->scratch,
				     .node = col->node_name,
				     .pb = q.pb,
				     .sse = q.sse};

		for_last_matching(col, &fo->m, q.last, emit_flow, &e);
	}
	fo->sub = flow_bus_subscribe(col->bus, on_flow, fo);
	if (fo->sub) {
		static unsigned long next_id;
		char name[32];

		snprintf(name, sizeof(name), "http-%lu", ++next_id);
		flow_bus_sub_set_name(fo->sub, name);
	}
	fo->next = s->followers;
	if (s->followers)
		s->followers->prev = fo;
	s->followers = fo;
	if (!fo->sub) {
		follower_free(fo);
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, follower_read, fo,
					      follower_free);
	if (!r) {
		follower_free(fo);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				q.sse  ? "text/event-stream"
				: q.pb ? CT_PB
				       : CT_NDJSON);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- /api/v1/graph ------------------------------------------------------------------------ */

struct graph_query {
	uint64_t window_ns;
	const char *ns;
	char err[256];
};

static enum MHD_Result graph_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct graph_query *q = cls;

	(void)kind;
	if (q->err[0])
		return MHD_NO;
	if (!strcmp(key, "window")) {
		if (!value || parse_duration_ns(value, &q->window_ns) || !q->window_ns)
			snprintf(q->err, sizeof(q->err),
				 "invalid window '%s': use a duration such as 30s or 5m",
				 value ? value : "");
	} else if (!strcmp(key, "namespace")) {
		q->ns = value ? value : "";
	} else {
		snprintf(q->err, sizeof(q->err),
			 "unknown parameter '%s': /api/v1/graph takes window and namespace", key);
	}
	return q->err[0] ? MHD_NO : MHD_YES;
}

static enum MHD_Result serve_graph(struct http_server *s, struct MHD_Connection *conn)
{
	struct graph_query q = {0};
	struct buf b = BUF_INIT;

	if (!s->col->graph)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, "the service graph is not enabled");
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, graph_arg, &q);
	if (q.err[0])
		return reply_error(conn, MHD_HTTP_BAD_REQUEST, q.err);
	if (graph_json(s->col->graph, &b, now_wall_ns(), q.window_ns, q.ns)) {
		buf_free(&b);
		return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	return reply(conn, MHD_HTTP_OK, "application/json", b.data, b.len);
}

/* ---- /metrics -------------------------------------------------------------------------- */

static enum MHD_Result serve_metrics(struct http_server *s, struct MHD_Connection *conn)
{
	struct buf b = BUF_INIT;
	struct metrics_exporter ex[4];
	int n = s->opts.exporters ? s->opts.exporters(ex, 4, s->opts.exporters_ctx) : 0;

	if (metrics_write(&b, s->col, now_wall_ns(), ex, n)) {
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
	*ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return 0;
}

/* ---- other endpoints --------------------------------------------------------------------- */

static enum MHD_Result serve_status(struct http_server *s, struct MHD_Connection *conn)
{
	struct collector *col = s->col;
	struct flow_store_stats st;
	struct buf b = BUF_INIT;
	uint64_t lost = 0, now = now_wall_ns();
	int err;

	flow_store_get_stats(col->store, &st);
	if (col->lost_records)
		col->lost_records(col, &lost);
	err = buf_printf(
		&b,
		"{\"num_flows\":%llu,\"max_flows\":%zu,\"seen_flows\":%llu,"
		"\"active_flows\":%llu,\"evicted_flows\":%llu,\"lost_records\":%llu,"
		"\"records\":%llu,\"decode_errors\":%llu,\"flows_published\":%llu,"
		"\"uptime_ns\":%llu,\"followers\":%u,\"node_name\":",
		(unsigned long long)st.stored, flow_store_capacity(col->store),
		(unsigned long long)st.seen, (unsigned long long)st.active,
		(unsigned long long)st.evicted, (unsigned long long)lost,
		(unsigned long long)col->stats.records,
		(unsigned long long)col->stats.decode_errors,
		(unsigned long long)col->stats.flows_published,
		(unsigned long long)(now > col->start_wall_ns ? now - col->start_wall_ns : 0),
		flow_bus_count(col->bus));
	if (!err)
		err = buf_json_str(&b, col->node_name, strlen(col->node_name));
	if (!err) {
		struct sock_table_stats ss = {0};
		struct dns_cache_stats ds = {0};

		if (col->socks)
			sock_table_get_stats(col->socks, &ss);
		if (col->dns)
			dns_cache_get_stats(col->dns, &ds);
		err = buf_printf(
			&b,
			",\"sock_records\":%llu,\"sockets\":%llu,\"drop_records\":%llu,"
			"\"drops_untracked\":%llu,\"dns_records\":%llu,\"dns_errors\":%llu,"
			"\"dns_names\":%llu,\"identities\":%zu,\"identity_reloads\":%llu,"
			"\"identity_errors\":%llu",
			(unsigned long long)col->stats.sock_records, (unsigned long long)ss.sockets,
			(unsigned long long)col->stats.drop_records,
			(unsigned long long)col->stats.drops_untracked,
			(unsigned long long)col->stats.dns_records,
			(unsigned long long)col->stats.dns_errors, (unsigned long long)ds.addrs,
			identity_table_size(identities_get()),
			(unsigned long long)col->stats.identity_reloads,
			(unsigned long long)col->stats.identity_errors);
	}
	if (!err)
		err = buf_puts(&b, "}\n");
	if (err) {
		buf_free(&b);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, "application/json", b.data, b.len);
}

static const char index_text[] =
	"flowd: Flowscope node agent\n"
	"\n"
	"GET /api/v1/flows?last=N[&follow=1][&format=json|pb]  flows as NDJSON or protobuf frames\n"
	"GET /api/v1/status                                   counters as JSON\n"
	"GET /api/v1/graph?window=5m[&namespace=NS]           the service graph as JSON\n"
	"GET /metrics                                         Prometheus metrics\n"
	"GET /healthz                                         liveness\n";

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
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		struct MHD_Response *r;
		enum MHD_Result ret;
		const char *msg = "{\"error\":\"only GET and HEAD are supported\"}\n";

		r = MHD_create_response_from_buffer(strlen(msg), (void *)msg,
						    MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!strcmp(url, "/api/v1/flows"))
		return serve_flows(s, conn);
	if (!strcmp(url, "/api/v1/status"))
		return serve_status(s, conn);
	if (!strcmp(url, "/api/v1/graph"))
		return serve_graph(s, conn);
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
	struct follower *fo;

	/* Pending lost-event notices go out even if no new flow comes. A streaming response
	 * is only ever written, so MHD would notice a client that went away only on the next
	 * write, which may never come for an idle or narrowly filtered follower: look at the
	 * socket ourselves and end the response of a client that closed or reset it. */
	for (fo = s->followers; fo; fo = fo->next) {
		follower_send_lost(fo);
		if (!fo->gone && client_gone(fo->conn)) {
			fo->gone = true;
			follower_wake(fo);
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
	fprintf(stderr, "flowd: http: %s%s", msg,
		msg[0] && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

int http_server_start(struct http_server **out, struct collector *c,
		      const struct http_server_opts *opts)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage sa = {0};
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int err;

	if (!s)
		return -ENOMEM;
	s->col = c;
	s->opts = *opts;
	if (!s->opts.addr)
		s->opts.addr = "127.0.0.1";
	if (!s->opts.port)
		s->opts.port = 12000;
	if (!s->opts.follow_queue)
		s->opts.follow_queue = DEFAULT_FOLLOW_QUEUE;
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
		fprintf(stderr,
			"flowd: invalid HTTP listen address '%s': use a numeric IPv4 or "
			"IPv6 address\n",
			s->opts.addr);
		free(s);
		return err;
	}
	s->d = MHD_start_daemon(flags, s->opts.port, NULL, NULL, on_request, s,
				/* The logger first, or MHD logs about it with its own. */
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)120, MHD_OPTION_END);
	if (!s->d) {
		fprintf(stderr,
			"flowd: cannot serve HTTP on %s port %u (in use by another flowd? choose "
			"another with --http ADDR:PORT)\n",
			s->opts.addr, s->opts.port);
		free(s);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		MHD_stop_daemon(s->d);
		free(s);
		return -EIO;
	}
	uv_poll_init(c->loop, &s->poll, info->epoll_fd);
	uv_timer_init(c->loop, &s->timer);
	uv_timer_init(c->loop, &s->tick);
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
	struct follower *fo;

	if (!s)
		return;
	/* MHD must not be stopped with suspended connections: resume them first; their
	 * readers then end the stream because stopping is set. */
	s->stopping = true;
	for (fo = s->followers; fo; fo = fo->next) {
		if (fo->suspended) {
			fo->suspended = false;
			MHD_resume_connection(fo->conn);
		}
	}
	MHD_run(s->d);
	MHD_stop_daemon(s->d); /* frees remaining responses: follower_free unsubscribes */
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->tick, on_handle_closed);
}
