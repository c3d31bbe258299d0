/* The ClickHouse exporter: every flow event as a row of one table (clickhouse_schema.h), sent to
 * ClickHouse's HTTP interface in batches (INSERT ... FORMAT RowBinary), for a cluster's history
 * that flowctl --history-clickhouse (and a relay) can query.
 *
 * Delivery is at least once. take() encodes the row into the batch being filled; a batch is
 * closed at --export-clickhouse-batch rows (50,000), at an eighth of the buffer, or when flush()
 * comes (every second), and is sent as one POST. It leaves the buffer only when ClickHouse
 * answered 200. A batch that could not be sent, or whose answer did not come (the connection
 * broke, the server did not answer within --export-clickhouse-timeout), is sent again: if the
 * server had stored it before the answer was lost, its rows are there twice (MergeTree does not
 * deduplicate; flowctl's history skips a uuid it has just printed). A batch the server refused
 * (an HTTP error: a missing table is created again first) is retried with backoff (1 s doubling
 * to 30 s) and dropped after 5 refusals. Everything waiting is bounded by
 * --export-clickhouse-buffer (64M): when a row does not fit, the oldest batch not in flight is
 * dropped (the newest events are kept, as flowd's event ring keeps them); all of it is counted
 * in `dropped`.
 *
 * Nothing blocks flowd's loop: the socket is non-blocking and driven from take() (every 256
 * events while something is waiting, and when a batch closes) and flush(); a connection is
 * attempted at most once a second while ClickHouse is down. At connect the exporter asks
 * SELECT version(), creates the database and the table when missing (CREATE ... IF NOT EXISTS),
 * then inserts. Retention (--export-clickhouse-max-age, 7 days; 0 keeps everything) drops the
 * day partitions whose every row is older, at connect and hourly. ClickHouse's error text is
 * logged once each time the state changes, and again when inserts work again. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/parse.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/exporters/exporter.h"

#define DEFAULT_BUFFER (64ull << 20)
#define DEFAULT_BATCH 50000u
#define DEFAULT_MAX_AGE (7ull * 86400 * NSEC_PER_SEC)
#define DEFAULT_TIMEOUT (30ull * NSEC_PER_SEC)
#define RECONNECT_NS NSEC_PER_SEC
#define BACKOFF_MAX_NS (30ull * NSEC_PER_SEC)
#define BATCH_AGE_NS NSEC_PER_SEC
#define RETENTION_EVERY_NS (3600ull * NSEC_PER_SEC)
#define CLOSE_WAIT_NS (5ull * NSEC_PER_SEC)
#define MAX_REFUSALS 5
#define MAX_ERROR_BODY 4096
#define MAX_DROP_PARTS 64
#define PROGRESS_EVERY 256
#define PART_ID_CHARS "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-"

struct ch_cfg {
	struct ch_target target;
	bool set;
	const char *table, *user, *password, *password_file;
	uint64_t buffer, max_age, timeout;
	uint32_t batch;
	bool max_age_set;
};

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

/* What the request in flight is. Setup runs in this order at every new connection until it
 * succeeded once (and again after a refusal that says the table or database is gone). */
enum req_kind {
	RQ_NONE,
	RQ_VERSION,
	RQ_DATABASE,
	RQ_TABLE,
	RQ_PARTS, /* retention: the partitions to drop */
	RQ_DROP,
	RQ_INSERT,
};

struct batch {
	struct batch *next;
	struct buf data;
	uint32_t rows, refusals;
};

struct ch_exporter {
	struct ch_target t;
	uint64_t max_buffer, batch_bytes, max_age, timeout;
	uint32_t batch_rows;
	char node[256];
	char *const *labels;
	size_t n_labels;
	struct buf insert_sql;
	/* The connection, watched on flowd's loop (when there is one) so that an answer is read
	 * when it comes, not at the next flush. */
	uv_loop_t *loop;
	uv_poll_t *poll;
	int poll_events;
	int fd;
	enum conn_state conn;
	bool reused; /* it carried an answer already: a close by the server is no failure */
	uint64_t last_attempt_ns, connect_deadline_ns;
	/* Setup and retention. */
	bool setup_done, ever_setup;
	enum req_kind setup_next; /* RQ_VERSION, RQ_DATABASE or RQ_TABLE */
	struct ch_version version;
	uint64_t retention_due_ns;
	char drop_parts[MAX_DROP_PARTS][32];
	size_t n_drop_parts;
	/* The request in flight. */
	enum req_kind req;
	struct buf head;
	const char *body;
	size_t body_len, sent;
	bool answer_started;
	uint64_t req_deadline_ns;
	struct ch_resp resp;
	struct buf answer; /* its body, the first MAX_ERROR_BODY bytes (or a small result) */
	/* The buffer: sealed batches, oldest first (head is the one in flight), and the one being
	 * filled. bytes counts them all. */
	struct batch *first, *last, cur;
	uint64_t cur_started_ns, bytes, retry_at_ns, backoff_ns;
	unsigned int takes;
	bool closing;
	char problem[600]; /* the state logged last; "" when all is well */
	struct exporter_stats st;
	uint64_t batches, retries, connect_failures, partitions_dropped;
};

/* ---- options ------------------------------------------------------------------------------- */

static int opt_ch_url(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct ch_cfg *c = base;

	(void)o;
	if (ch_target_parse(&c->target, arg, "--export-clickhouse", e))
		return -EINVAL;
	c->set = true;
	return 0;
}

/* A duration, or 0 (keep everything). */
static int opt_max_age(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct ch_cfg *c = base;

	(void)o;
	c->max_age_set = true;
	if (!strcmp(arg, "0")) {
		c->max_age = 0;
		return 0;
	}
	if (parse_duration_ns(arg, &c->max_age) || c->max_age < 3600 * NSEC_PER_SEC)
		return errmsg_set(e, -EINVAL,
				  "invalid --export-clickhouse-max-age '%s': use a duration of at "
				  "least 1h (7d is 168h, e.g. 168h) or 0 to keep every row",
				  arg);
	return 0;
}

#define CFG(f) offsetof(struct ch_cfg, f)

static const struct opt ch_opts[] = {
	{"export-clickhouse", 0, "URL",
	 "every flow event as a row of a ClickHouse table, over its HTTP\n"
	 "interface: http://HOST[:PORT][/?database=DB] (port 8123,\ndatabase default)",
	 opt_ch_url},
	{"export-clickhouse-table", 0, "NAME", "the table (default flows; created when missing)",
	 opt_string, CFG(table)},
	{"export-clickhouse-user", 0, "USER", "ClickHouse user (HTTP basic authentication)",
	 opt_string, CFG(user)},
	{"export-clickhouse-password", 0, "PASS", "its password", opt_string, CFG(password)},
	{"export-clickhouse-password-file", 0, "FILE",
	 "read the password from FILE (its first line)", opt_string, CFG(password_file)},
	{"export-clickhouse-buffer", 0, "SIZE",
	 "rows kept at most while ClickHouse is slow or down, in bytes\n"
	 "(default 64M; beyond it the oldest batches are dropped)",
	 opt_size, CFG(buffer), 65536},
	{"export-clickhouse-batch", 0, "N", "rows per INSERT at most (default 50000)", opt_u32,
	 CFG(batch), 1, 1000000},
	{"export-clickhouse-max-age", 0, "DUR",
	 "retention: day partitions older than DUR are dropped, at\n"
	 "start and hourly (default 168h = 7 days; 0 keeps every row)",
	 opt_max_age},
	{"export-clickhouse-timeout", 0, "DUR",
	 "a request without an answer this long is retried (default 30s)", opt_duration,
	 CFG(timeout), NSEC_PER_SEC},
	{0},
};

static bool ch_enabled(const void *cfg)
{
	return ((const struct ch_cfg *)cfg)->set;
}

/* ---- logging ------------------------------------------------------------------------------- */

static uint64_t rows_waiting(const struct ch_exporter *e)
{
	const struct batch *b;
	uint64_t n = e->cur.rows;

	for (b = e->first; b; b = b->next)
		n += b->rows;
	return n;
}

/* A problem, logged when it is not the one logged last. */
static void problem(struct ch_exporter *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct ch_exporter *e, const char *fmt, ...)
{
	char text[sizeof(e->problem)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!strcmp(text, e->problem))
		return;
	snprintf(e->problem, sizeof(e->problem), "%s", text);
	logmsg(LOG_LEVEL_WARN, "clickhouse: %s:%u: %s (retrying; %llu rows waiting)", e->t.host,
	       e->t.port, text, (unsigned long long)rows_waiting(e));
}

static void recovered(struct ch_exporter *e)
{
	if (!e->problem[0])
		return;
	e->problem[0] = '\0';
	logmsg(LOG_LEVEL_INFO, "clickhouse: %s:%u: inserting into %s.%s again", e->t.host,
	       e->t.port, e->t.database, e->t.table);
}

/* ---- the buffer ---------------------------------------------------------------------------- */

static void batch_free(struct batch *b)
{
	buf_free(&b->data);
	free(b);
}

/* The batch being filled joins the queue. */
static int seal(struct ch_exporter *e)
{
	struct batch *b;

	if (!e->cur.rows)
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	*b = e->cur;
	b->next = NULL;
	memset(&e->cur, 0, sizeof(e->cur));
	if (e->last)
		e->last->next = b;
	else
		e->first = b;
	e->last = b;
	return 0;
}

static void unlink_first(struct ch_exporter *e)
{
	struct batch *b = e->first;

	e->first = b->next;
	if (!e->first)
		e->last = NULL;
	e->bytes -= b->data.len;
	batch_free(b);
}

/* Drops the oldest batch that is not in flight; false when there is none. */
static bool drop_oldest(struct ch_exporter *e)
{
	struct batch *prev = NULL, *b = e->first;

	if (b && e->req == RQ_INSERT) {
		prev = b;
		b = b->next;
	}
	if (!b)
		return false;
	e->st.dropped += b->rows;
	if (!prev) {
		unlink_first(e);
		return true;
	}
	prev->next = b->next;
	if (e->last == b)
		e->last = prev;
	e->bytes -= b->data.len;
	batch_free(b);
	return true;
}

/* ---- the connection ------------------------------------------------------------------------ */

static void end_request(struct ch_exporter *e)
{
	e->req = RQ_NONE;
	e->body = NULL;
	e->body_len = e->sent = 0;
	e->answer_started = false;
	buf_reset(&e->head);
	buf_reset(&e->answer);
	ch_resp_init(&e->resp);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* Stops watching the socket (before it is closed); the handle goes when the loop closes it. */
static void unwatch(struct ch_exporter *e)
{
	if (!e->poll)
		return;
	uv_poll_stop(e->poll);
	uv_close((uv_handle_t *)e->poll, free_handle);
	e->poll = NULL;
	e->poll_events = 0;
}

static void conn_close(struct ch_exporter *e)
{
	unwatch(e);
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	e->conn = CONN_DOWN;
	e->reused = false;
	end_request(e);
}

static uint64_t backoff(struct ch_exporter *e)
{
	e->backoff_ns = e->backoff_ns ? e->backoff_ns * 2 : NSEC_PER_SEC;
	if (e->backoff_ns > BACKOFF_MAX_NS)
		e->backoff_ns = BACKOFF_MAX_NS;
	return e->backoff_ns;
}

/* The connection failed or broke: what was in flight is sent again on the next one. A server
 * closing a reused keep-alive connection before answering is no failure: retried at once. */
static void conn_failed(struct ch_exporter *e, const char *what, int err)
{
	bool idle_close = e->reused && e->req != RQ_NONE && !e->answer_started && e->sent &&
			  (err == -EPIPE || err == -ECONNRESET);

	if (idle_close) {
		conn_close(e);
		e->last_attempt_ns = 0;
		return;
	}
	if (e->req == RQ_INSERT)
		e->retries++;
	if (e->conn == CONN_CONNECTING)
		e->connect_failures++;
	e->st.errors++;
	problem(e, "%s: %s", what, strerror(-err));
	conn_close(e);
}

static int conn_start(struct ch_exporter *e)
{
	int fd = socket(e->t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	e->last_attempt_ns = clock_mono_ns();
	if (fd < 0)
		return -errno;
	e->fd = fd;
	e->conn = CONN_CONNECTING;
	e->connect_deadline_ns = e->last_attempt_ns + e->timeout;
	if (connect(fd, (struct sockaddr *)&e->t.addr, e->t.addrlen) == 0) {
		e->conn = CONN_UP;
		return 0;
	}
	if (errno == EINPROGRESS)
		return 0;
	conn_failed(e, "cannot connect", -errno);
	return -ECONNREFUSED;
}

/* Completes a pending connect: true when up. */
static bool conn_check(struct ch_exporter *e)
{
	struct pollfd p = {.fd = e->fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (poll(&p, 1, 0) <= 0) {
		if (clock_mono_ns() > e->connect_deadline_ns)
			conn_failed(e, "cannot connect", -ETIMEDOUT);
		return false;
	}
	if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
		conn_failed(e, "cannot connect", soerr ? -soerr : -errno);
		return false;
	}
	e->conn = CONN_UP;
	return true;
}

/* An idle keep-alive connection the server has closed (ClickHouse closes them after its
 * keep_alive_timeout): found before a request is written into it. */
static bool idle_conn_gone(struct ch_exporter *e)
{
	char c;
	ssize_t n = recv(e->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
	       n > 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static int start_request(struct ch_exporter *e, enum req_kind k, const char *query,
			 const struct batch *b)
{
	end_request(e);
	if (ch_http_request(&e->head, &e->t, query, b ? b->data.len : 0))
		return -ENOMEM;
	e->req = k;
	e->body = b ? b->data.data : NULL;
	e->body_len = b ? b->data.len : 0;
	e->req_deadline_ns = clock_mono_ns() + e->timeout;
	return 1;
}

static int setup_request(struct ch_exporter *e, enum req_kind k)
{
	struct buf sql = BUF_INIT;
	int r;

	if (k == RQ_VERSION)
		return start_request(e, k, "SELECT version()", NULL);
	if (k == RQ_DATABASE)
		r = buf_printf(&sql, "CREATE DATABASE IF NOT EXISTS `%s`", e->t.database);
	else
		r = ch_schema_create_sql(&sql, e->t.database, e->t.table, &e->version);
	r = r ? -ENOMEM : start_request(e, k, sql.data, NULL);
	buf_free(&sql);
	return r;
}

/* The partitions whose newest row is older than max_age (whole days, UTC). */
static int parts_request(struct ch_exporter *e)
{
	time_t cutoff = (time_t)((clock_wall_ns() - e->max_age) / NSEC_PER_SEC);
	char q[512], day[16];
	struct tm tm;

	gmtime_r(&cutoff, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	snprintf(q, sizeof(q),
		 "SELECT DISTINCT partition_id FROM system.parts WHERE database = '%s' AND "
		 "table = '%s' AND active AND max_date < '%s' FORMAT TabSeparated",
		 e->t.database, e->t.table, day);
	return start_request(e, RQ_PARTS, q, NULL);
}

static int drop_request(struct ch_exporter *e)
{
	char q[256];

	snprintf(q, sizeof(q), "ALTER TABLE `%s`.`%s` DROP PARTITION ID '%s'", e->t.database,
		 e->t.table, e->drop_parts[e->n_drop_parts - 1]);
	return start_request(e, RQ_DROP, q, NULL);
}

static bool retention_due(const struct ch_exporter *e, uint64_t now)
{
	return e->max_age && !e->closing && now >= e->retention_due_ns;
}

/* Whether there is anything to ask the server. */
static bool wants_work(const struct ch_exporter *e, uint64_t now)
{
	return !e->setup_done || e->first || retention_due(e, now) ||
	       (e->n_drop_parts && !e->closing);
}

/* Starts the next request: 1, 0 when there is none to make now, -ENOMEM. */
static int next_request(struct ch_exporter *e, uint64_t now)
{
	if (now < e->retry_at_ns && !e->closing)
		return 0;
	if (!e->setup_done)
		return setup_request(e, e->setup_next);
	if (retention_due(e, now))
		return parts_request(e);
	if (e->n_drop_parts && !e->closing)
		return drop_request(e);
	if (e->first)
		return start_request(e, RQ_INSERT, e->insert_sql.data, e->first);
	return 0;
}

/* ---- answers ------------------------------------------------------------------------------- */

/* An error answer: logged (once per state), retried after a backoff; a missing table or
 * database is made again first. */
static void refused(struct ch_exporter *e, const char *what)
{
	char text[512];
	int code = ch_error_code(e->answer.data, e->answer.len);

	ch_error_text(e->answer.data, e->answer.len, text, sizeof(text));
	e->st.errors++;
	problem(e, "%s: ClickHouse answered %d: %s", what, e->resp.status, text);
	e->retry_at_ns = clock_mono_ns() + backoff(e);
	if (code == 60 || code == 81 || (e->req == RQ_INSERT && e->resp.status == 404)) {
		e->setup_done = false;
		e->setup_next = RQ_VERSION;
	}
}

static void insert_answered(struct ch_exporter *e, bool ok)
{
	struct batch *b = e->first;
	char text[512];

	if (ok) {
		e->st.written += b->rows;
		e->batches++;
		e->backoff_ns = 0;
		unlink_first(e);
		recovered(e);
		return;
	}
	e->retries++;
	refused(e, "INSERT");
	if (++b->refusals < MAX_REFUSALS)
		return;
	logmsg(LOG_LEVEL_WARN,
	       "clickhouse: %s:%u: dropped a batch of %u rows that ClickHouse refused %d times: %s",
	       e->t.host, e->t.port, b->rows, MAX_REFUSALS,
	       ch_error_text(e->answer.data, e->answer.len, text, sizeof(text)));
	e->st.dropped += b->rows;
	unlink_first(e);
}

static void setup_answered(struct ch_exporter *e, bool ok)
{
	if (!ok) {
		refused(e, e->req == RQ_VERSION ? "SELECT version()" : "CREATE");
		return;
	}
	if (e->req == RQ_VERSION) {
		if (ch_version_parse(e->answer.data, e->answer.len, &e->version)) {
			problem(e, "SELECT version() answered '%.40s', not a version",
				e->answer.data);
			e->retry_at_ns = clock_mono_ns() + backoff(e);
			return;
		}
		e->setup_next = strcmp(e->t.database, CH_DEFAULT_DATABASE) ? RQ_DATABASE : RQ_TABLE;
		return;
	}
	if (e->req == RQ_DATABASE) {
		e->setup_next = RQ_TABLE;
		return;
	}
	e->setup_done = true;
	e->backoff_ns = 0;
	e->retention_due_ns = 0;
	if (!e->ever_setup)
		logmsg(LOG_LEVEL_INFO, "clickhouse: ClickHouse %u.%u at %s:%u, table %s.%s",
		       e->version.major, e->version.minor, e->t.host, e->t.port, e->t.database,
		       e->t.table);
	e->ever_setup = true;
	recovered(e);
}

/* The partition ids to drop, one a line. */
static void parts_answered(struct ch_exporter *e, bool ok)
{
	char *line, *save = NULL;

	e->retention_due_ns = clock_mono_ns() + RETENTION_EVERY_NS;
	if (!ok) {
		refused(e, "retention (system.parts)");
		return;
	}
	e->n_drop_parts = 0;
	for (line = e->answer.len ? strtok_r(e->answer.data, "\n", &save) : NULL;
	     line && e->n_drop_parts < MAX_DROP_PARTS; line = strtok_r(NULL, "\n", &save))
		if (*line && strlen(line) < sizeof(e->drop_parts[0]) &&
		    strspn(line, PART_ID_CHARS) == strlen(line)) /* quoted safely */
			snprintf(e->drop_parts[e->n_drop_parts++], sizeof(e->drop_parts[0]), "%s",
				 line);
}

static void drop_answered(struct ch_exporter *e, bool ok)
{
	const char *id = e->drop_parts[--e->n_drop_parts];

	if (!ok) {
		refused(e, "retention (DROP PARTITION)");
		return;
	}
	e->partitions_dropped++;
	logmsg(LOG_LEVEL_INFO, "clickhouse: dropped partition %s of %s.%s (older than %lluh)", id,
	       e->t.database, e->t.table, (unsigned long long)(e->max_age / 3600 / NSEC_PER_SEC));
}

static void answered(struct ch_exporter *e)
{
	bool ok = e->resp.status == 200, keep = e->resp.keep_alive;

	switch (e->req) {
	case RQ_INSERT:
		insert_answered(e, ok);
		break;
	case RQ_PARTS:
		parts_answered(e, ok);
		break;
	case RQ_DROP:
		drop_answered(e, ok);
		break;
	default:
		setup_answered(e, ok);
		break;
	}
	end_request(e);
	if (!keep) {
		conn_close(e);
		e->last_attempt_ns = 0; /* a clean close: the next connection may come at once */
	} else {
		e->reused = true;
	}
}

/* ---- I/O ----------------------------------------------------------------------------------- */

static int send_some(struct ch_exporter *e)
{
	size_t hl = e->head.len, total = hl + e->body_len;

	while (e->sent < total) {
		struct iovec iov[2];
		struct msghdr m = {.msg_iov = iov};
		ssize_t w;

		if (e->sent < hl) {
			iov[0] = (struct iovec){e->head.data + e->sent, hl - e->sent};
			iov[1] = (struct iovec){(void *)e->body, e->body_len};
			m.msg_iovlen = e->body_len ? 2 : 1;
		} else {
			iov[0] =
				(struct iovec){(void *)(e->body + (e->sent - hl)), total - e->sent};
			m.msg_iovlen = 1;
		}
		w = sendmsg(e->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		e->sent += (size_t)w;
	}
	return 0;
}

static int keep_answer(const char *p, size_t n, void *ctx)
{
	struct ch_exporter *e = ctx;

	if (e->answer.len < MAX_ERROR_BODY)
		buf_append(&e->answer, p, n < MAX_ERROR_BODY ? n : MAX_ERROR_BODY);
	return 0;
}

/* Reads the answer: 0 when it is complete, -EAGAIN, or a negative errno. */
static int recv_some(struct ch_exporter *e)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = recv(e->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		size_t used;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (n == 0) {
			e->resp.keep_alive = false;
			return ch_resp_eof(&e->resp);
		}
		e->answer_started = true;
		if (ch_resp_feed(&e->resp, chunk, (size_t)n, &used, keep_answer, e))
			return -EBADMSG;
		if (e->resp.done) {
			if (used < (size_t)n)
				e->resp.keep_alive = false; /* more than one answer: start afresh */
			return 0;
		}
	}
}

static void progress(struct ch_exporter *e);

static void on_poll(uv_poll_t *h, int status, int events)
{
	(void)status; /* an error shows in the next send or recv */
	(void)events;
	progress(h->data);
}

/* Watches the socket for what the connection waits for: writable while connecting or sending,
 * readable while an answer is due, nothing while idle. */
static void watch(struct ch_exporter *e)
{
	int want = 0;

	if (!e->loop || e->fd < 0)
		return;
	if (e->conn == CONN_CONNECTING ||
	    (e->req != RQ_NONE && e->sent < e->head.len + e->body_len))
		want = UV_WRITABLE;
	else if (e->req != RQ_NONE)
		want = UV_READABLE;
	if (!e->poll) {
		e->poll = calloc(1, sizeof(*e->poll));
		if (!e->poll || uv_poll_init_socket(e->loop, e->poll, e->fd)) {
			free(e->poll);
			e->poll = NULL;
			return; /* flush() drives it then */
		}
		e->poll->data = e;
	}
	if (want == e->poll_events)
		return;
	if (want)
		uv_poll_start(e->poll, want, on_poll);
	else
		uv_poll_stop(e->poll);
	e->poll_events = want;
}

/* Drives the connection as far as it goes without blocking. */
static void drive(struct ch_exporter *e)
{
	uint64_t now = clock_mono_ns();
	int i, err;

	for (i = 0; i < 16; i++) {
		if (e->conn == CONN_DOWN) {
			if (!wants_work(e, now) ||
			    (!e->closing &&
			     (now < e->retry_at_ns ||
			      (e->last_attempt_ns && now - e->last_attempt_ns < RECONNECT_NS))))
				return;
			if (conn_start(e) < 0)
				return;
		}
		if (e->conn == CONN_CONNECTING && !conn_check(e))
			return;
		if (e->req == RQ_NONE) {
			if (e->reused && idle_conn_gone(e)) {
				conn_close(e);
				e->last_attempt_ns = 0;
				continue;
			}
			if (next_request(e, now) <= 0)
				return;
		}
		err = e->sent < e->head.len + e->body_len ? send_some(e) : 0;
		err = err ?: recv_some(e);
		if (err == -EAGAIN) {
			if (now > e->req_deadline_ns)
				conn_failed(e, "no answer in time", -ETIMEDOUT);
			return;
		}
		if (err) {
			conn_failed(e, err == -EBADMSG ? "not an HTTP answer" : "connection", err);
			return;
		}
		answered(e);
	}
}

static void progress(struct ch_exporter *e)
{
	drive(e);
	if (!e->closing)
		watch(e);
}

/* ---- the contract -------------------------------------------------------------------------- */

static int ch_take(void *state, struct export_event *ev)
{
	struct ch_exporter *e = state;
	size_t before = e->cur.data.len, len;

	if (!e->cur.rows)
		e->cur_started_ns = clock_mono_ns();
	if (ch_row_encode(&e->cur.data, ev->flow, e->node, e->labels, e->n_labels)) {
		e->st.dropped++;
		e->st.errors++;
		return -ENOMEM;
	}
	len = e->cur.data.len - before;
	e->bytes += len;
	while (e->bytes > e->max_buffer) {
		if (!drop_oldest(e)) {
			e->cur.data.len = before;
			e->bytes -= len;
			e->st.dropped++;
			return -ENOBUFS;
		}
	}
	e->cur.rows++;
	if (e->cur.rows >= e->batch_rows || e->cur.data.len >= e->batch_bytes) {
		if (seal(e) == 0)
			progress(e);
	} else if (++e->takes % PROGRESS_EVERY == 0) {
		if (clock_mono_ns() - e->cur_started_ns >= BATCH_AGE_NS)
			seal(e);
		if (e->first || e->req != RQ_NONE)
			progress(e);
	}
	return 0;
}

static int ch_flush(void *state, bool sync)
{
	struct ch_exporter *e = state;

	(void)sync; /* delivered is durable: ClickHouse answered after writing the part */
	seal(e);
	progress(e);
	return e->first || e->cur.rows ? -EAGAIN : 0;
}

static void destroy(struct ch_exporter *e)
{
	conn_close(e);
	while (e->first)
		unlink_first(e);
	buf_free(&e->cur.data);
	buf_free(&e->head);
	buf_free(&e->answer);
	buf_free(&e->insert_sql);
	ch_resp_free(&e->resp);
	free(e);
}

/* Delivers within a bounded time (5 s, less when ClickHouse fails meanwhile), then closes; what
 * is left counts as dropped. */
static void ch_close(void *state)
{
	struct ch_exporter *e = state;
	uint64_t deadline = clock_mono_ns() + CLOSE_WAIT_NS;
	struct batch *b;

	e->closing = true;
	seal(e);
	while ((e->first || e->req != RQ_NONE) && clock_mono_ns() < deadline) {
		uint64_t errors = e->st.errors;
		struct pollfd p = {.fd = e->fd, .events = POLLIN};

		progress(e);
		if (e->st.errors != errors)
			break;
		if (e->fd >= 0 && e->req != RQ_NONE) {
			if (e->sent < e->head.len + e->body_len)
				p.events = POLLOUT;
			poll(&p, 1, 50);
		}
	}
	for (b = e->first; b; b = b->next)
		e->st.dropped += b->rows;
	destroy(e);
}

static void ch_stats(const void *state, struct exporter_stats *st)
{
	const struct ch_exporter *e = state;

	*st = e->st;
	st->queued = e->bytes;
	st->n_extra = 4;
	st->extra[0].name = "batches";
	st->extra[0].value = e->batches;
	st->extra[1].name = "retries";
	st->extra[1].value = e->retries;
	st->extra[2].name = "connect_failures";
	st->extra[2].value = e->connect_failures;
	st->extra[3].name = "partitions_dropped";
	st->extra[3].value = e->partitions_dropped;
}

static int read_password(const char *path, char *out, size_t len, struct errmsg *err)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return errmsg_set(err, -errno,
				  "cannot read --export-clickhouse-password-file '%s': %s", path,
				  strerror(errno));
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int configure(struct ch_exporter *e, const struct ch_cfg *c, const struct exporter_env *env,
		     struct errmsg *err)
{
	char password[256] = "";
	int rc;

	e->t = c->target;
	if (c->password_file &&
	    (rc = read_password(c->password_file, password, sizeof(password), err)))
		return rc;
	rc = ch_target_set(&e->t, c->table, c->user, c->password_file ? password : c->password,
			   err);
	rc = rc ?: ch_target_resolve(&e->t, err);
	if (rc)
		return rc;
	e->max_buffer = c->buffer ? c->buffer : DEFAULT_BUFFER;
	e->batch_bytes = e->max_buffer / 8;
	e->batch_rows = c->batch ? c->batch : DEFAULT_BATCH;
	e->max_age = c->max_age_set ? c->max_age : DEFAULT_MAX_AGE;
	e->timeout = c->timeout ? c->timeout : DEFAULT_TIMEOUT;
	snprintf(e->node, sizeof(e->node), "%s", env->node_name ? env->node_name : "");
	e->labels = env->node_labels;
	e->n_labels = env->n_node_labels;
	e->loop = env->loop;
	e->setup_next = RQ_VERSION;
	if (buf_printf(&e->insert_sql, "INSERT INTO `%s`.`%s` (", e->t.database, e->t.table) ||
	    ch_schema_column_list(&e->insert_sql) || buf_puts(&e->insert_sql, ") FORMAT RowBinary"))
		return errmsg_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int ch_open(void **state, const void *cfg, const struct exporter_env *env,
		   struct errmsg *err)
{
	struct ch_exporter *e = calloc(1, sizeof(*e));
	int rc;

	if (!e)
		return errmsg_set(err, -ENOMEM, "out of memory");
	e->fd = -1;
	rc = configure(e, cfg, env, err);
	if (rc) {
		errmsg_prefix(err, "--export-clickhouse");
		destroy(e);
		return rc;
	}
	progress(e); /* a server not up yet is retried by flush */
	*state = e;
	return 0;
}

const struct exporter_type clickhouse_exporter = {
	.name = "clickhouse",
	.title = "Export to ClickHouse:",
	.opts = ch_opts,
	.config_size = sizeof(struct ch_cfg),
	.enabled = ch_enabled,
	.open = ch_open,
	.take = ch_take,
	.flush = ch_flush,
	.close = ch_close,
	.stats = ch_stats,
};
