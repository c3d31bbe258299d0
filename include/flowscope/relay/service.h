/* The relay's gRPC service: Hubble's Observer API for the cluster. ServerStatus sums the nodes
 * and lists every unavailable one, GetNodes lists every node with its state, version, address,
 * uptime and flows, GetNamespaces merges the nodes' namespaces; GetFlows, GetAgentEvents and
 * health are flowd's observer over the relay's hub of merged events. Also /api/v1/nodes. */
#ifndef FLOWSCOPE_RELAY_SERVICE_H
#define FLOWSCOPE_RELAY_SERVICE_H

#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/relay/relay.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/observer.h"

struct relay_service {
	struct relay *relay;
	struct observer *observer; /* over the relay's follower hub */
	/* relay_service()'s. */
	struct grpc_service inner;
	uint64_t start_ns;
};

/* The service for grpc_server_start(); rs must outlive the server. */
struct grpc_service relay_service(struct relay_service *rs);

/* The nodes as JSON: {"nodes":[{"name","address","state","message","version","tls",
 * "uptime_ns","num_flows","max_flows","seen_flows","flows_rate","events","late","lost",
 * "connects","lag_ms"}, ...]}. Returns 0 or -ENOMEM. */
int relay_nodes_json(struct buf *out, const struct relay *r);

#endif /* FLOWSCOPE_RELAY_SERVICE_H */
