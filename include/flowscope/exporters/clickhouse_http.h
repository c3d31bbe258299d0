/* ClickHouse's HTTP interface as the exporter and the history queries speak it: the server a URL
 * names (http://HOST[:PORT][/][?database=DB], port 8123 by default), requests (a query in the
 * URL with data in the body, or a query as the body), an incremental HTTP/1.1 response parser
 * (status line, headers, Content-Length, chunked or read-to-close bodies, keep-alive), the
 * server's error text, and one blocking exchange for clients that may block (flowctl, tests).
 * The exporter drives the same requests and parser from its non-blocking socket. */
#ifndef FLOWSCOPE_EXPORTERS_CLICKHOUSE_HTTP_H
#define FLOWSCOPE_EXPORTERS_CLICKHOUSE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"

#define CH_DEFAULT_PORT 8123
#define CH_DEFAULT_DATABASE "default"
#define CH_DEFAULT_TABLE "flows"

/* A ClickHouse server and the table flows go to. */
struct ch_target {
	char host[256];
	uint16_t port;
	char database[65], table[65];
	char auth[512]; /* an Authorization header's value, "" without a user */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* Parses url into t (database "default" unless given, table "flows"). Returns 0 or -EINVAL with
 * e saying what to use; name is the option for messages ("--export-clickhouse"). */
int ch_target_parse(struct ch_target *t, const char *url, const char *name, struct errmsg *e);
/* The table (when not NULL) and the user and password (HTTP basic authentication; a user alone
 * has an empty password). Returns 0 or -EINVAL for a table name ch_schema_name_ok() refuses. */
int ch_target_set(struct ch_target *t, const char *table, const char *user, const char *password,
		  struct errmsg *e);
/* Resolves the host (once: a name is looked up now, blocking). Returns 0 or a negative errno. */
int ch_target_resolve(struct ch_target *t, struct errmsg *e);

/* The --history-clickhouse options of a program that reads the history (flowctl, the relay):
 * url (NULL: not given), table, user, password as given. Sets *given and, with a URL, parses,
 * sets and resolves t. Returns 0, or -EINVAL with e set (a bad URL or table name, an unknown
 * host, or a table, user or password without a URL). */
int ch_target_from_options(struct ch_target *t, bool *given, const char *url, const char *table,
			   const char *user, const char *password, struct errmsg *e);

/* Appends a POST request: with data, query goes in the URL and body_len bytes of data follow the
 * head (INSERT ... FORMAT RowBinary); without (body_len 0), the query itself is the body.
 * Returns 0 or -ENOMEM. */
int ch_http_request(struct buf *out, const struct ch_target *t, const char *query, size_t body_len);

/* Receives body bytes as they are parsed; non-zero stops the response (it is then not done). */
typedef int (*ch_body_cb)(const char *p, size_t n, void *ctx);

struct ch_resp {
	int status;	 /* the status line's code, 0 until it is read */
	bool done;	 /* the whole response was read */
	bool keep_alive; /* the connection may carry the next request */
	int exception;	 /* X-ClickHouse-Exception-Code, 0 without */
	/* Parser state. */
	int state;
	bool chunked, has_length, to_close;
	uint64_t left; /* body (or chunk) bytes still to come */
	struct buf line;
};

void ch_resp_init(struct ch_resp *r);
void ch_resp_free(struct ch_resp *r);

/* Feeds n bytes of the connection; body bytes go to cb (NULL: dropped). Sets *used to the bytes
 * taken (less than n when the response is done: the rest is the next response's). Returns 0,
 * -EBADMSG for what is not an HTTP/1.x response, or -ECANCELED when cb stopped it. */
int ch_resp_feed(struct ch_resp *r, const char *p, size_t n, size_t *used, ch_body_cb cb,
		 void *ctx);
/* The server closed the connection: a body read to its close is done then. Returns 0, or
 * -EPIPE when the response is cut short. */
int ch_resp_eof(struct ch_resp *r);

/* The server's error text from an error body, on one line and without its e.what() tail
 * ("Code: 60, e.displayText() = DB::Exception: Table default.flows doesn't exist."). Returns
 * out. */
const char *ch_error_text(const char *body, size_t n, char *out, size_t len);
/* The "Code: N" of an error body, 0 without. */
int ch_error_code(const char *body, size_t n);

/* One blocking exchange (connect, send, read the whole answer), for programs that may block:
 * body bytes of a 200 answer go to cb; an error answer is returned as -EPROTO with the server's
 * text in e; timeout_ms bounds the connect and each wait for data. Returns 0, -ECANCELED (cb
 * stopped it), -EPROTO, or a negative errno of the connection with e set. */
int ch_http_run(const struct ch_target *t, const char *query, const void *data, size_t data_len,
		unsigned int timeout_ms, ch_body_cb cb, void *ctx, struct errmsg *e);

#endif /* FLOWSCOPE_EXPORTERS_CLICKHOUSE_HTTP_H */
