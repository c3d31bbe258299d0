/* The HTTP API (libmicrohttpd) on a libuv loop: flows as NDJSON, protobuf frames or Server-Sent
 * Events (last N, since/until, follow; the filter language's keys as parameters), the status,
 * the service graph, /metrics, /healthz and the dashboard's files. */
#ifndef FLOWSCOPE_SERVE_HTTP_SERVER_H
#define FLOWSCOPE_SERVE_HTTP_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/msg_queue.h"
#include "flowscope/graph/graph.h"
#include "flowscope/serve/follower.h"
#include "flowscope/serve/status.h"

struct http_server;

struct http_server_opts {
	const char *addr;      /* numeric IPv4 or IPv6 address; default 127.0.0.1 */
	uint16_t port;	       /* default 12000 */
	uint32_t follow_queue; /* max queued flows per follower before it loses some; 0: 4096 */
	/* ... and bytes (0: 4 MiB); all followers of the binary's servers together hold at most
	 * follow_budget's max (NULL: no total bound). */
	size_t follow_queue_bytes;
	struct msg_queue_budget *follow_budget;
	const char *web_dir; /* the dashboard's files, served at "/"; NULL: none */
	/* Host header names accepted besides localhost and the address a connection came to
	 * (a request naming anything else is refused: DNS rebinding); letters, digits, '-',
	 * '.' (e.g. "flows.example.com"). */
	const char *const *allow_hosts;
	size_t n_allow_hosts;
	/* Connections at once (0: 512) and from one client address (0: 64); past either MHD
	 * closes a new connection at once. */
	unsigned int max_conns, max_conns_per_client;
	/* A connection that sends nothing and takes nothing this long is closed (idle, slowloris,
	 * or a client not reading its reply); a suspended stream (nothing to send) is not. 0: 120.
	 */
	unsigned int idle_timeout_s;
	/* With a token every request but /healthz must carry it: "Authorization: Bearer <token>",
	 * or the cookie a visit with ?token=<token> sets (HttpOnly, SameSite=Strict; that visit is
	 * redirected to the same URL without the token); else 401 with WWW-Authenticate: Bearer.
	 * token_file: where the operator finds it, for the refusal's message. */
	const char *token, *token_file;
	/* PEM certificate chain and key: serve HTTPS (TLS 1.2 or later, GnuTLS through MHD). */
	const char *tls_cert, *tls_key;
	struct follower_hub *followers;	 /* /api/v1/flows */
	const struct status_src *status; /* /api/v1/status and /metrics */
	struct graph *graph;		 /* /api/v1/graph; NULL: none */
	/* /api/v1/nodes (the relay's): appends the JSON answer; NULL: a node has no such list. */
	int (*nodes_json)(struct buf *out, void *ctx);
	void *nodes_ctx;
};

/* Starts serving. Returns 0 or a negative errno with e set (address in use, bad address, a
 * certificate that cannot be read or does not match its key). */
int http_server_start(struct http_server **out, uv_loop_t *loop,
		      const struct http_server_opts *opts, struct errmsg *e);
/* Closes every connection and frees s; the loop must run once more to close handles. */
void http_server_stop(struct http_server *s);

#endif /* FLOWSCOPE_SERVE_HTTP_SERVER_H */
