/* The cluster relay: follows the flow events of every agent (flowd) it knows, merges them in
 * time order by each node's watermark (agents send one while idle; a node that says nothing holds
 * the merge back at most `lag`, and what then arrives older than what was released is released
 * at once, marked late and counted), and hands them to a collector of its own
 * (collector_handle_remote), so that everything a flowd serves (GetFlows with cluster-wide
 * --last N, since/until, filters and field masks, the HTTP API, SSE, the service graph, the
 * dashboard, /metrics) serves the cluster. A node that goes away is reconnected with backoff and
 * resumed after the last event taken (resume_after: no gap, no duplicate; where the node no
 * longer holds the events, its LostEvent says how many). Agents are found from the peers given
 * and from each agent's peer.Peer/Notify. Everything runs on one libuv loop except each node's
 * two reader threads. */
#ifndef FLOWSCOPE_RELAY_RELAY_H
#define FLOWSCOPE_RELAY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/pipeline/collector.h"

/* How the relay reaches its agents: the client side of the gRPC server's TLS options. */
struct relay_tls {
	bool enabled;		 /* also implied by any option below, or a tls:// address */
	bool insecure;		 /* TLS without verifying the agent's certificate */
	const char *ca;		 /* CA bundle to verify agents (default: the system's CAs) */
	const char *cert, *key;	 /* client certificate (mTLS) */
	const char *server_name; /* name to verify (default: the peer's server_name, else host) */
	const char *token;	 /* sent to every agent as its bearer token, or NULL */
};

struct relay_opts {
	uv_loop_t *loop;
	struct collector *col;	/* where merged events go (collector_handle_remote) */
	uint64_t lag_ns;	/* the most a silent node holds the merge back; 0: 1 s */
	uint32_t heartbeat_ms;	/* asked of agents; 0: 200 */
	uint64_t backfill;	/* events asked of a node when first followed; 0: 2000 */
	int connect_timeout_ms; /* 0: 3000 */
	bool discover;		/* follow the peers agents tell of (peer.Peer/Notify) */
	struct relay_tls tls;
};

/* The state of one node, as GetNodes and /api/v1/nodes tell it. */
struct relay_node_info {
	char name[256];	    /* the node's name (from its flows and status; else its address) */
	char address[300];  /* where the relay reaches it */
	int state;	    /* relay.NodeState: CONNECTED, UNAVAILABLE, GONE, ERROR */
	char message[512];  /* why it is not connected, or "" */
	char version[64];   /* its ServerStatus version */
	bool tls;	    /* reached over TLS */
	uint64_t uptime_ns; /* its own, as it told */
	uint64_t num_flows, max_flows, seen_flows;
	double flows_rate;
	uint64_t events;       /* flow events taken from it */
	uint64_t late;	       /* of which released late */
	uint64_t lost;	       /* events it said it lost for the relay (LostEvents) */
	uint64_t connects;     /* streams established */
	uint64_t lag_ns;       /* how far its watermark is behind now */
	char namespaces[1024]; /* its GetNamespaces, comma-separated */
};

struct relay;

int relay_new(struct relay **out, const struct relay_opts *o, struct errmsg *e);
/* Stops every node (joining their threads) and closes the relay's loop handles; nothing more
 * reaches the collector. Then the caller frees what holds relayed flows (the collector, its
 * store and event log, the servers) and last relay_free(): flows point at the relay's nodes and
 * strings. */
void relay_stop(struct relay *r);
void relay_free(struct relay *r);

/* Follows one more agent: address HOST:PORT, [V6]:PORT or tls://HOST:PORT; name NULL or "" to
 * learn it from the agent. Adding an address already followed does nothing. Returns 0, or
 * -EINVAL with e saying what is wrong with the address. */
int relay_add_peer(struct relay *r, const char *name, const char *address, struct errmsg *e);
/* Stops following the agent at address (NODE_GONE). Returns 0 or -ENOENT. */
int relay_remove_peer(struct relay *r, const char *address);

/* Every node's state into out (at most max); returns how many nodes there are. */
size_t relay_nodes(const struct relay *r, struct relay_node_info *out, size_t max);

struct relay_stats {
	uint64_t nodes, connected, unavailable;
	uint64_t events, late, lost;
	uint64_t pending; /* events waiting for the merge */
};
void relay_get_stats(const struct relay *r, struct relay_stats *st);

/* Told on every node state change (to put a NodeStatusEvent in the streams): state is
 * relay.NodeState, message why. */
typedef void (*relay_node_cb)(int state, const char *node, const char *message, void *ctx);
void relay_set_node_cb(struct relay *r, relay_node_cb cb, void *ctx);
/* Told when a node's stream said it lost events for the relay. */
typedef void (*relay_lost_cb)(const char *node, uint64_t lost, void *ctx);
void relay_set_lost_cb(struct relay *r, relay_lost_cb cb, void *ctx);
/* Told of each agent event a node has (GetAgentEvents, asked with every status poll): its
 * flow.AgentEventType, AgentEventUnknown's type and notification, and its time. */
typedef void (*relay_agent_event_cb)(const char *node, int type, const char *name, const char *text,
				     uint64_t time_ns, void *ctx);
void relay_set_agent_event_cb(struct relay *r, relay_agent_event_cb cb, void *ctx);

#endif /* FLOWSCOPE_RELAY_RELAY_H */
