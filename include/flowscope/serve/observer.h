/* Hubble's observer.Observer service (GetFlows, GetAgentEvents, ServerStatus, GetNodes,
 * GetNamespaces; GetDebugEvents is UNIMPLEMENTED: there are no datapath debug events) and the
 * standard grpc.health.v1.Health, and peer.Peer/Notify when given peers, behind the gRPC server:
 * GetFlows is a follower, GetAgentEvents replays and follows the agent event log, the others
 * read the status snapshot. ServerStatus and GetNodes count flow events (the event log: what
 * GetFlows replays), as Hubble counts its ring's flows. Hubble's semantics:
 * first with follow is INVALID_ARGUMENT; number N replays the newest N (with first the oldest N);
 * follow alone replays nothing unless since asks; neither number nor follow means everything
 * stored. Flowscope's own, for a relay: heartbeat_ms and resume_after (see serve/follower.h);
 * resume_after with number or first is INVALID_ARGUMENT. */
#ifndef FLOWSCOPE_SERVE_OBSERVER_H
#define FLOWSCOPE_SERVE_OBSERVER_H

#include "flowscope/pipeline/agent_events.h"
#include "flowscope/serve/follower.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/peers.h"
#include "flowscope/serve/status.h"

/* What the service answers from. */
struct observer {
	struct follower_hub *followers;
	const struct status_src *status;
	struct agent_events *agent_events; /* GetAgentEvents (NULL: UNAVAILABLE) */
	const char *node_name;
	const struct event_log *events; /* counted by ServerStatus, GetNodes (NULL: the store) */
	const char *address;		/* advertised, for GetNodes (NULL: "") */
	const char *tls_server_name;	/* the server's TLS name (NULL: plaintext) */
	struct peers *peers;		/* peer.Peer/Notify (NULL: UNIMPLEMENTED) */
};

/* The service for grpc_server_start(); o must outlive the server. */
struct grpc_service observer_service(struct observer *o);
/* Answers a GetNamespaces call with names (sorted here, each told once) and ends it. */
void observer_send_namespaces(struct grpc_call *call, char **names, size_t n);

#endif /* FLOWSCOPE_SERVE_OBSERVER_H */
