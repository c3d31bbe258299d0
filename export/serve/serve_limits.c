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
	{"connection-idle-timeout", 0, "DUR",
	 "close gRPC connections without a call this long\n(default 5m)", opt_duration,
	 CFG(conn_idle_ns), 1000000000},
	{0},
};

struct opt_group serve_limits_opt_group(struct serve_limits *l)
{
	return (struct opt_group){"API servers:", limit_opts, l};
}

void serve_limits_apply(const struct serve_limits *l, struct grpc_server_opts *go,
			struct http_server_opts *ho)
{
	go->max_conns = ho->max_conns = l->max_conns;
	go->max_conns_per_client = ho->max_conns_per_client = l->max_conns_per_client;
	go->idle_timeout_ms = (uint32_t)(l->conn_idle_ns / 1000000);
	ho->allow_hosts = l->http_allow_hosts.v;
	ho->n_allow_hosts = l->http_allow_hosts.n;
}
