/* The live service dependency graph: flows aggregated into nodes (services, else pods, else
 * containers, else processes, else DNS names, else addresses) and directed client -> server
 * edges with traffic, drops, resets and RTT percentiles. Fed from the flow bus, aged out after
 * a window, bounded: beyond the caps new nodes and edges fold into an "other" bucket. */
#ifndef FLOWSCOPE_GRAPH_GRAPH_H
#define FLOWSCOPE_GRAPH_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/flow.h"

enum graph_node_kind {
	GRAPH_NODE_SERVICE,   /* svc:NS/NAME from the identity file */
	GRAPH_NODE_POD,	      /* pod:NS/POD */
	GRAPH_NODE_CONTAINER, /* ctr:ID12 */
	GRAPH_NODE_PROCESS,   /* proc:COMM */
	GRAPH_NODE_DNS,	      /* dns:NAME */
	GRAPH_NODE_IP,	      /* ip:ADDR */
	GRAPH_NODE_OTHER,     /* other: what exceeded the caps */
};

struct graph_config {
	uint64_t window_ns;	  /* nodes and edges idle this long are dropped; default 5 min */
	size_t max_nodes;	  /* default 1000 */
	size_t max_edges;	  /* default 5000 */
	size_t max_tracked_flows; /* flows whose contribution is remembered; default 262144 */
};

struct graph_stats {
	uint64_t nodes, edges;
	uint64_t folded_nodes;	  /* nodes that went to the "other" bucket (cap reached) */
	uint64_t folded_edges;	  /* edges that went to other -> other */
	uint64_t flows_untracked; /* flow updates not accounted (tracking table full) */
	uint64_t bytes;		  /* memory of its tables (nodes, edges, tracked flows) */
};

struct graph;

struct graph *graph_new(const struct graph_config *cfg);
void graph_free(struct graph *g);

/* Accounts one published flow event (any event of a flow: counters are taken as totals and
 * added as the difference to what the flow contributed before). Copies (a connection's second
 * observation points) are left out: a connection counts once. */
void graph_add_flow(struct graph *g, const struct flow *f);

/* Flow id will not be published again (the store dropped it, maybe before it ended): its
 * tracking goes, what it contributed stays, and it no longer counts as active. */
void graph_forget_flow(struct graph *g, uint64_t id);

/* graph_forget_flow as the store's drop hook: flow_store_on_drop(store, graph_store_dropped,
 * graph). The graph then tracks at most the store's flows, and max_tracked_flows can be the
 * store's capacity. */
void graph_store_dropped(uint64_t id, void *graph);

/* Drops nodes and edges not seen within the window before now (wall ns). */
void graph_expire(struct graph *g, uint64_t now_ns);

/* The node id of one end of f (side 0: the initiator/client, 1: the responder/server) into
 * out (e.g. "svc:shop/web"), its label and namespace (may be NULL). Returns its kind. */
enum graph_node_kind graph_node_id(const struct flow *f, int side, char *out, size_t len,
				   char *label, size_t label_len, char *ns, size_t ns_len);

/* Appends the graph as JSON: nodes and edges seen within window_ns before now (0: the whole
 * configured window), only those touching namespace ns when ns is not NULL/empty. */
int graph_json(struct graph *g, struct buf *out, uint64_t now_ns, uint64_t window_ns,
	       const char *ns);

void graph_get_stats(const struct graph *g, struct graph_stats *st);

#endif /* FLOWSCOPE_GRAPH_GRAPH_H */
