/* The HTTP API (libmicrohttpd) driven by flowd's libuv loop: flows as NDJSON or protobuf
 * frames (last N, or follow), status, health. */
#ifndef FLOWSCOPE_HTTP_SERVER_H
#define FLOWSCOPE_HTTP_SERVER_H

#include <stdint.h>

#include "flowscope/pipeline/collector.h"
#include "flowscope/serve/metrics.h"

struct http_server;

struct http_server_opts {
	const char *addr;      /* numeric IPv4 or IPv6 address; default 127.0.0.1 */
	uint16_t port;	       /* default 12000 */
	uint32_t follow_queue; /* max queued flows per follower before it loses some; 0: 4096 */
	const char *web_dir;   /* the dashboard's files, served at "/"; NULL: none */
	/* Fills up to max exporter counter sets for /metrics; returns how many. NULL: none. */
	int (*exporters)(struct metrics_exporter *out, int max, void *ctx);
	void *exporters_ctx;
};

/* Starts serving on c->loop. Returns 0 or a negative errno with a message on stderr
 * (address in use, bad address...). */
int http_server_start(struct http_server **out, struct collector *c,
		      const struct http_server_opts *opts);
/* Closes every connection and frees s; the loop must run once more to close handles. */
void http_server_stop(struct http_server *s);

#endif /* FLOWSCOPE_HTTP_SERVER_H */
