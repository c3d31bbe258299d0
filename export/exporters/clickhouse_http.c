/* ClickHouse's HTTP interface: targets, requests, the response parser and a blocking exchange
 * (see include/flowscope/exporters/clickhouse_http.h). */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/parse.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/exporters/clickhouse_schema.h"

#define MAX_LINE 8192

enum {
	ST_STATUS,
	ST_HEADERS,
	ST_BODY,
	ST_CHUNK_SIZE,
	ST_CHUNK,
	ST_CHUNK_END,
	ST_TRAILER,
	ST_CLOSE
};

/* ---- targets ------------------------------------------------------------------------------- */

static int bad_url(struct errmsg *e, const char *name, const char *url, const char *why)
{
	return errmsg_set(
		e, -EINVAL,
		"invalid %s '%s': %s; use http://HOST[:PORT][/?database=DB] (port 8123 by "
		"default)",
		name, url, why);
}

/* "?database=DB" (the only parameter a target takes). */
static int parse_params(struct ch_target *t, const char *q, const char *name, const char *url,
			struct errmsg *e)
{
	const char *v;

	if (!*q)
		return 0;
	if (strncmp(q, "database=", 9))
		return bad_url(e, name, url, "the only parameter is database=");
	v = q + 9;
	if (!ch_schema_name_ok(v))
		return bad_url(e, name, url,
			       "a database name is letters, digits and _ (at most 64)");
	snprintf(t->database, sizeof(t->database), "%s", v);
	return 0;
}

/* "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address; port 8123 by default. */
static int split_host(struct ch_target *t, const char *hp)
{
	const char *colon = strchr(hp, ':'), *close = strchr(hp, ']');
	size_t n;

	t->port = CH_DEFAULT_PORT;
	if (hp[0] == '[' && close && !close[1]) {
		n = (size_t)(close - hp - 1);
	} else if (colon && colon == strrchr(hp, ':') && hp[0] != '[') {
		return parse_hostport(hp, t->host, sizeof(t->host), &t->port) || !t->host[0]
			       ? -EINVAL
			       : 0;
	} else if (hp[0] == '[') {
		return parse_hostport(hp, t->host, sizeof(t->host), &t->port) ? -EINVAL : 0;
	} else {
		n = strlen(hp); /* a name, an IPv4 address or a bare IPv6 address */
	}
	if (!n || n >= sizeof(t->host))
		return -EINVAL;
	memcpy(t->host, hp[0] == '[' ? hp + 1 : hp, n);
	t->host[n] = '\0';
	return 0;
}

int ch_target_parse(struct ch_target *t, const char *url, const char *name, struct errmsg *e)
{
	const char *hp, *end, *q;
	char hostport[300];
	size_t n;

	memset(t, 0, sizeof(*t));
	snprintf(t->database, sizeof(t->database), "%s", CH_DEFAULT_DATABASE);
	snprintf(t->table, sizeof(t->table), "%s", CH_DEFAULT_TABLE);
	if (strncmp(url, "http://", 7))
		return bad_url(e, name, url,
			       strstr(url, "://") ? "only http:// is supported" : "not a URL");
	hp = url + 7;
	end = hp + strcspn(hp, "/?");
	n = (size_t)(end - hp);
	if (!n || n >= sizeof(hostport))
		return bad_url(e, name, url, "no host");
	memcpy(hostport, hp, n);
	hostport[n] = '\0';
	if (strchr(hostport, '@'))
		return bad_url(e, name, url, "give the user with the -user and -password options");
	if (split_host(t, hostport))
		return bad_url(e, name, url, "a bad host or port");
	q = end;
	if (*q == '/')
		q++;
	if (*q && *q != '?')
		return bad_url(e, name, url, "no path is taken");
	return parse_params(t, *q == '?' ? q + 1 : q, name, url, e);
}

int ch_target_set(struct ch_target *t, const char *table, const char *user, const char *password,
		  struct errmsg *e)
{
	char plain[300];
	unsigned char enc[420];
	int n;

	if (table) {
		if (!ch_schema_name_ok(table))
			return errmsg_set(e, -EINVAL,
					  "invalid table name '%s': use letters, digits and _ (at "
					  "most 64)",
					  table);
		snprintf(t->table, sizeof(t->table), "%s", table);
	}
	t->auth[0] = '\0';
	if (!user || !*user)
		return 0;
	n = snprintf(plain, sizeof(plain), "%s:%s", user, password ? password : "");
	if (n < 0 || (size_t)n >= sizeof(plain) || strchr(user, ':'))
		return errmsg_set(e, -EINVAL,
				  "the ClickHouse user and password are too long, or the user has "
				  "a ':'");
	EVP_EncodeBlock(enc, (const unsigned char *)plain, n);
	snprintf(t->auth, sizeof(t->auth), "Basic %s", enc);
	return 0;
}

int ch_target_from_options(struct ch_target *t, bool *given, const char *url, const char *table,
			   const char *user, const char *password, struct errmsg *e)
{
	*given = url != NULL;
	if (!url)
		return table || user || password
			       ? errmsg_set(e, -EINVAL,
					    "--history-clickhouse-table, -user and -password need "
					    "--history-clickhouse URL")
			       : 0;
	if (ch_target_parse(t, url, "--history-clickhouse", e) ||
	    ch_target_set(t, table, user, password, e) || ch_target_resolve(t, e))
		return -EINVAL;
	return 0;
}

int ch_target_resolve(struct ch_target *t, struct errmsg *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", t->port);
	rc = getaddrinfo(t->host, port, &hints, &res);
	if (rc || !res)
		return errmsg_set(e, -EHOSTUNREACH, "cannot resolve ClickHouse host '%s': %s",
				  t->host, rc ? gai_strerror(rc) : "no address");
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static int url_encode(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int err = 0;

	for (; *s && !err; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			err = buf_putc(out, (char)c);
		else
			err = buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	return err;
}

int ch_http_request(struct buf *out, const struct ch_target *t, const char *query, size_t body_len)
{
	int err = buf_printf(out, "POST /?database=%s", t->database);

	if (body_len)
		err = err ?: buf_puts(out, "&query=") ?: url_encode(out, query);
	err = err
		      ?: buf_printf(out,
				    " HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: flowscope\r\n"
				    "Connection: keep-alive\r\nContent-Length: %zu\r\n",
				    t->host, t->port, body_len ? body_len : strlen(query));
	if (t->auth[0])
		err = err ?: buf_printf(out, "Authorization: %s\r\n", t->auth);
	err = err ?: buf_puts(out, "\r\n");
	if (!body_len)
		err = err ?: buf_puts(out, query);
	return err;
}

/* ---- responses ----------------------------------------------------------------------------- */

void ch_resp_init(struct ch_resp *r)
{
	struct buf keep = r->line;

	memset(r, 0, sizeof(*r));
	r->line = keep;
	buf_reset(&r->line);
}

void ch_resp_free(struct ch_resp *r)
{
	buf_free(&r->line);
}

static bool header_is(const char *line, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) || line[n] != ':')
		return false;
	*value = line + n + 1;
	while (**value == ' ' || **value == '\t')
		(*value)++;
	return true;
}

static int status_line(struct ch_resp *r, const char *l)
{
	int minor, code;

	if (sscanf(l, "HTTP/1.%d %3d", &minor, &code) != 2 || code < 100 || code > 599)
		return -EBADMSG;
	r->status = code;
	r->keep_alive = minor >= 1;
	r->state = ST_HEADERS;
	return 0;
}

/* The headers ended: where the body is (or that there is none). */
static void headers_end(struct ch_resp *r)
{
	if (r->status >= 100 && r->status < 200) {
		r->state = ST_STATUS; /* 100 Continue: the real answer follows */
		r->status = 0;
		return;
	}
	if (r->status == 204 || r->status == 304 || (r->has_length && !r->left && !r->chunked)) {
		r->done = true;
		return;
	}
	if (r->chunked) {
		r->state = ST_CHUNK_SIZE;
	} else if (r->has_length) {
		r->state = ST_BODY;
	} else {
		r->state = ST_CLOSE; /* the body ends with the connection */
		r->keep_alive = false;
	}
}

static int header_line(struct ch_resp *r, const char *l)
{
	const char *v;
	char *end;

	if (!*l) {
		headers_end(r);
		return 0;
	}
	if (header_is(l, "Content-Length", &v)) {
		unsigned long long n = strtoull(v, &end, 10);

		if (end == v || !isdigit((unsigned char)*v))
			return -EBADMSG;
		r->has_length = true;
		r->left = n;
	} else if (header_is(l, "Transfer-Encoding", &v)) {
		r->chunked = strcasestr(v, "chunked") != NULL;
	} else if (header_is(l, "Connection", &v)) {
		if (!strncasecmp(v, "close", 5))
			r->keep_alive = false;
		else if (!strncasecmp(v, "keep-alive", 10))
			r->keep_alive = true;
	} else if (header_is(l, "X-ClickHouse-Exception-Code", &v)) {
		r->exception = atoi(v);
	}
	return 0;
}

static int chunk_line(struct ch_resp *r, const char *l)
{
	char *end;
	unsigned long long n;

	if (r->state == ST_CHUNK_END) {
		if (*l)
			return -EBADMSG;
		r->state = ST_CHUNK_SIZE;
		return 0;
	}
	if (r->state == ST_TRAILER) {
		if (!*l)
			r->done = true;
		return 0;
	}
	n = strtoull(l, &end, 16);
	if (end == l || (*end && *end != ';' && *end != ' '))
		return -EBADMSG;
	r->left = n;
	r->state = n ? ST_CHUNK : ST_TRAILER;
	return 0;
}

/* One complete line (without its CRLF) for the line-oriented states. */
static int on_line(struct ch_resp *r, const char *l)
{
	switch (r->state) {
	case ST_STATUS:
		return status_line(r, l);
	case ST_HEADERS:
		return header_line(r, l);
	default:
		return chunk_line(r, l);
	}
}

static bool line_state(const struct ch_resp *r)
{
	return r->state == ST_STATUS || r->state == ST_HEADERS || r->state == ST_CHUNK_SIZE ||
	       r->state == ST_CHUNK_END || r->state == ST_TRAILER;
}

/* Takes line bytes up to a '\n'; returns the bytes taken, or a negative errno. */
static long take_line(struct ch_resp *r, const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	size_t k = nl ? (size_t)(nl - p) + 1 : n;
	int err;

	if (r->line.len + k > MAX_LINE)
		return -EBADMSG;
	if (buf_append(&r->line, p, k))
		return -ENOMEM;
	if (!nl)
		return (long)k;
	r->line.len--; /* the '\n' */
	if (r->line.len && r->line.data[r->line.len - 1] == '\r')
		r->line.len--;
	r->line.data[r->line.len] = '\0';
	err = on_line(r, r->line.data);
	buf_reset(&r->line);
	return err ? err : (long)k;
}

static long take_body(struct ch_resp *r, const char *p, size_t n, ch_body_cb cb, void *ctx)
{
	size_t k = n;

	if (r->state != ST_CLOSE && k > r->left)
		k = (size_t)r->left;
	if (k && cb && cb(p, k, ctx))
		return -ECANCELED;
	if (r->state == ST_CLOSE)
		return (long)k;
	r->left -= k;
	if (!r->left) {
		if (r->state == ST_BODY)
			r->done = true;
		else
			r->state = ST_CHUNK_END;
	}
	return (long)k;
}

int ch_resp_feed(struct ch_resp *r, const char *p, size_t n, size_t *used, ch_body_cb cb, void *ctx)
{
	size_t off = 0;

	while (off < n && !r->done) {
		long k = line_state(r) ? take_line(r, p + off, n - off)
				       : take_body(r, p + off, n - off, cb, ctx);

		if (k < 0) {
			*used = off;
			return (int)k;
		}
		off += (size_t)k;
	}
	*used = off;
	return 0;
}

int ch_resp_eof(struct ch_resp *r)
{
	if (r->done)
		return 0;
	if (r->state == ST_CLOSE) {
		r->done = true;
		return 0;
	}
	return -EPIPE;
}

const char *ch_error_text(const char *body, size_t n, char *out, size_t len)
{
	const char *tail;
	size_t i, o = 0;

	tail = body ? memmem(body, n, ", e.what() = ", 13) : NULL;
	if (tail)
		n = (size_t)(tail - body);
	for (i = 0; i < n && o + 1 < len; i++) {
		char c = body[i];

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		if ((unsigned char)c < 0x20 || c == 0x7f)
			continue;
		if (c == ' ' && (!o || out[o - 1] == ' '))
			continue;
		out[o++] = c;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

int ch_error_code(const char *body, size_t n)
{
	const char *c = body ? memmem(body, n, "Code: ", 6) : NULL;

	return c && (size_t)(c - body) + 6 < n ? atoi(c + 6) : 0;
}

/* ---- a blocking exchange ------------------------------------------------------------------- */

static int wait_fd(int fd, short events, unsigned int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	do
		n = poll(&p, 1, (int)timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

static int connect_to(const struct ch_target *t, unsigned int timeout_ms, struct errmsg *e)
{
	int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	socklen_t sl = sizeof(err);

	if (fd < 0)
		return errmsg_set(e, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) && errno != EINPROGRESS)
		err = -errno;
	else if (!(err = wait_fd(fd, POLLOUT, timeout_ms)) &&
		 !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl))
		err = -err;
	if (err) {
		close(fd);
		return errmsg_set(e, err, "cannot connect to ClickHouse at %s:%u: %s%s", t->host,
				  t->port, strerror(-err),
				  err == -ECONNREFUSED ? " (is clickhouse-server running?)" : "");
	}
	return fd;
}

static int send_all(int fd, const void *p, size_t n, unsigned int timeout_ms)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			int err = wait_fd(fd, POLLOUT, timeout_ms);

			if (err)
				return err;
			continue;
		}
		if (w < 0)
			return -errno;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* What a 200 answer's body goes to, and an error answer's text. */
struct run_ctx {
	const struct ch_resp *resp;
	ch_body_cb cb;
	void *ctx;
	struct buf err;
};

static int run_body(const char *p, size_t n, void *ctx)
{
	struct run_ctx *rc = ctx;

	if (rc->resp->status == 200)
		return rc->cb ? rc->cb(p, n, rc->ctx) : 0;
	if (rc->err.len < 4096)
		buf_append(&rc->err, p, n < 4096 ? n : 4096);
	return 0;
}

static int read_answer(int fd, const struct ch_target *t, struct ch_resp *r, struct run_ctx *rc,
		       unsigned int timeout_ms, struct errmsg *e)
{
	char chunk[65536];
	int err = 0;

	while (!r->done && !err) {
		ssize_t n;
		size_t used;

		err = wait_fd(fd, POLLIN, timeout_ms);
		if (err)
			return errmsg_set(e, err, "ClickHouse at %s:%u did not answer within %u ms",
					  t->host, t->port, timeout_ms);
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			err = n < 0 ? -errno : ch_resp_eof(r);
		else
			err = ch_resp_feed(r, chunk, (size_t)n, &used, run_body, rc);
	}
	if (err == -ECANCELED)
		return err;
	if (err)
		return errmsg_set(e, err, "ClickHouse at %s:%u: %s", t->host, t->port,
				  err == -EBADMSG ? "not an HTTP answer" : strerror(-err));
	return 0;
}

int ch_http_run(const struct ch_target *t, const char *query, const void *data, size_t data_len,
		unsigned int timeout_ms, ch_body_cb cb, void *ctx, struct errmsg *e)
{
	struct buf req = BUF_INIT;
	struct ch_resp r = {0};
	struct run_ctx rc = {&r, cb, ctx, BUF_INIT};
	char text[512];
	int fd, err;

	ch_resp_init(&r);
	if (ch_http_request(&req, t, query, data ? data_len : 0)) {
		buf_free(&req);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	fd = connect_to(t, timeout_ms, e);
	if (fd < 0) {
		buf_free(&req);
		return fd;
	}
	err = send_all(fd, req.data, req.len, timeout_ms);
	if (!err && data && data_len)
		err = send_all(fd, data, data_len, timeout_ms);
	if (err)
		errmsg_set(e, err, "sending to ClickHouse at %s:%u: %s", t->host, t->port,
			   strerror(-err));
	else
		err = read_answer(fd, t, &r, &rc, timeout_ms, e);
	if (!err && r.status != 200)
		err = errmsg_set(e, -EPROTO, "ClickHouse answered %d: %s", r.status,
				 ch_error_text(rc.err.data, rc.err.len, text, sizeof(text)));
	close(fd);
	buf_free(&req);
	buf_free(&rc.err);
	ch_resp_free(&r);
	return err;
}
