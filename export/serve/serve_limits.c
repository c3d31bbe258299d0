/* The API servers' limits as options (see include/flowscope/serve/serve_limits.h). */
#include <stddef.h>

#include "flowscope/serve/serve_limits.h"

#define CFG(field) offsetof(struct serve_limits, field)

static const struct opt limit_opts[] = {
	{"http-allow-host", 0, "NAME",
	 "a Host name the HTTP server answers to (repeatable);\nit always answers to localhost and "
	 "its address, and\nrefuses other names (DNS rebinding)",
	 opt_list, CFG(http_allow_hosts)},
	{"max-filters", 0, "N",
	 "allow and deny filters one request may hold together\n(default 100)", opt_u32,
	 CFG(max_filters), 1, 1 << 20},
	{"max-filter-bytes", 0, "SIZE", "... and their size as protobuf (default 64K)", opt_size,
	 CFG(max_filter_bytes), 64, 1 << 30},
	{"max-connections", 0, "N",
	 "connections at once on each gRPC and HTTP listener\n(default 512)", opt_u32,
	 CFG(max_conns), 1, 1 << 20},
	{"max-connections-per-client", 0, "N", "... and from one client address (default 64)",
	 opt_u32, CFG(max_conns_per_client), 1, 1 << 20},
	{"max-streams-per-connection", 0, "N",
	 "gRPC calls open at once on one connection (default\n100; HTTP/2's MAX_CONCURRENT_STREAMS)",
	 opt_u32, CFG(max_streams), 1, 1 << 20},
	{"max-pending-request-bytes", 0, "SIZE",
	 "bytes of gRPC requests being received at once, on\nall connections (default 16M)",
	 opt_size, CFG(max_pending_request_bytes), 65536, 1ULL << 40},
	{"follow-queue-bytes", 0, "SIZE",
	 "bytes queued per streaming client before it loses\nsome (default 4M; --follow-queue bounds "
	 "flows)",
	 opt_size, CFG(follow_queue_bytes), 4096, 1ULL << 32},
	{"follow-total-bytes", 0, "SIZE",
	 "... and by all of them together, on gRPC and HTTP\n(default 64M)", opt_size,
	 CFG(follow_total_bytes), 65536, 1ULL << 40},
	{"slow-client-timeout", 0, "DUR",
	 "reset a gRPC call whose queue stays full with nothing\nread this long (default 1m)",
	 opt_duration, CFG(slow_client_ns), 1000000000},
	{"connection-idle-timeout", 0, "DUR",
	 "close gRPC connections without a call this long\n(default 5m)", opt_duration,
	 CFG(conn_idle_ns), 1000000000},
	{"http-idle-timeout", 0, "DUR",
	 "close an HTTP connection that sends nothing and reads\nnothing this long: idle, or a "
	 "slow (slowloris) or\nstalled client; a stream with nothing to send waits\n(default 2m)",
	 opt_duration, CFG(http_idle_ns), 1000000000},
	{0},
};

struct opt_group serve_limits_opt_group(struct serve_limits *l)
{
	return (struct opt_group){"API servers:", limit_opts, l};
}

void serve_limits_apply(struct serve_limits *l, struct grpc_server_opts *go,
			struct http_server_opts *ho)
{
	l->follow_budget.max = l->follow_total_bytes ?: SERVE_DEFAULT_FOLLOW_TOTAL_BYTES;
	go->follow_queue_bytes = ho->follow_queue_bytes = (size_t)l->follow_queue_bytes;
	go->follow_budget = ho->follow_budget = &l->follow_budget;
	go->max_streams = l->max_streams;
	go->slow_client_timeout_ms = (uint32_t)(l->slow_client_ns / 1000000);
	go->max_pending_request_bytes = (size_t)l->max_pending_request_bytes;
	go->max_conns = ho->max_conns = l->max_conns;
	go->max_conns_per_client = ho->max_conns_per_client = l->max_conns_per_client;
	go->idle_timeout_ms = (uint32_t)(l->conn_idle_ns / 1000000);
	ho->idle_timeout_s = (unsigned int)(l->http_idle_ns / 1000000000);
	ho->allow_hosts = l->http_allow_hosts.v;
	ho->n_allow_hosts = l->http_allow_hosts.n;
}
