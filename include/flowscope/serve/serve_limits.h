/* What flowd's and flowrelay's API servers (gRPC and HTTP) bound, as one group of options both
 * binaries take: connections per listener and per client, idle gRPC connections, filters per
 * request, the Host names the HTTP server answers to. */
#ifndef FLOWSCOPE_SERVE_SERVE_LIMITS_H
#define FLOWSCOPE_SERVE_SERVE_LIMITS_H

#include <stdint.h>

#include "flowscope/base/opts.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/http_server.h"

/* The servers' defaults for a limit given as 0. */
#define SERVE_DEFAULT_MAX_CONNS 512
#define SERVE_DEFAULT_MAX_CONNS_PER_CLIENT 64

/* Bytes all followers of both servers may hold queued together, by default. */
#define SERVE_DEFAULT_FOLLOW_TOTAL_BYTES (64u << 20)

struct serve_limits {
	struct opt_list http_allow_hosts;
	uint32_t max_filters, max_conns, max_conns_per_client;
	uint64_t max_filter_bytes, conn_idle_ns, http_idle_ns;
	uint64_t follow_queue_bytes, follow_total_bytes;
	uint32_t max_streams;
	uint64_t max_pending_request_bytes;
	uint64_t slow_client_ns;
	struct msg_queue_budget follow_budget; /* shared by both servers' followers */
};

struct opt_group serve_limits_opt_group(struct serve_limits *l);

/* Puts the limits into both servers' options (l must outlive the servers: they share its
 * follow_budget). */
void serve_limits_apply(struct serve_limits *l, struct grpc_server_opts *go,
			struct http_server_opts *ho);

#endif /* FLOWSCOPE_SERVE_SERVE_LIMITS_H */
