/* Hubble's observer.Observer service (GetFlows, GetAgentEvents, ServerStatus, GetNodes,
 * GetNamespaces; GetDebugEvents is UNIMPLEMENTED: there are no datapath debug events) and the
 * standard grpc.health.v1.Health, behind the gRPC server: GetFlows is a follower, GetAgentEvents
 * replays and follows the agent event log, the others read the status snapshot. Hubble's semantics:
 * first with follow is INVALID_ARGUMENT; number N replays the newest N (with first the oldest N);
 * follow alone replays nothing unless since asks; neither number nor follow means everything
 * stored. */
#ifndef FLOWSCOPE_SERVE_OBSERVER_H
#define FLOWSCOPE_SERVE_OBSERVER_H

#include "flowscope/pipeline/agent_events.h"
#include "flowscope/serve/follower.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/status.h"

/* What the service answers from. */
struct observer {
	struct follower_hub *followers;
	const struct status_src *status;
	struct agent_events *agent_events; /* GetAgentEvents (NULL: UNAVAILABLE) */
	const char *node_name;
};

/* The service for grpc_server_start(); o must outlive the server. */
struct grpc_service observer_service(struct observer *o);

#endif /* FLOWSCOPE_SERVE_OBSERVER_H */
