/* Followers: the clients of GetFlows and /api/v1/flows (and the relay's, later), from the replay
 * of stored flow events to the live stream, written once so that every API selects, orders,
 * bounds and accounts for flows the same way:
 * - replay: the newest or oldest N stored flow events that match (N above what is stored means
 *   all of them), or all of them, or none, sent in time order; per flow instead: the store's
 *   flows, one each in its latest state; then, when following, every new matching flow event;
 * - since/until bound both (a follower whose until passes ends its stream);
 * - the client's queue is bounded (the API's own): a flow that does not fit is lost, counted for
 *   the client, its API and /metrics, and told to the client in a lost-events notice, at most
 *   one a second, that skips the filters and does not count toward N.
 * The API supplies the encoding and the queue (struct follower_sink). */
#ifndef FLOWSCOPE_SERVE_FOLLOWER_H
#define FLOWSCOPE_SERVE_FOLLOWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/event_log.h"
#include "flowscope/pipeline/flow_bus.h"
#include "flowscope/pipeline/flow_store.h"

/* Hubble's LostEventSource for flows dropped on the way to one client. */
#define FOLLOWER_LOST_SOURCE 2 /* OBSERVER_EVENTS_QUEUE */

enum follower_api { FOLLOWER_GRPC, FOLLOWER_HTTP, FOLLOWER_APIS };

/* The followers of one flow source (the store and bus of a collector): who follows now and what
 * they lost since start. */
struct follower_hub;

/* events: the flow event log replays read (NULL: replays are per flow, from the store). */
struct follower_hub *follower_hub_new(struct flow_store *store, struct event_log *events,
				      struct flow_bus *bus, const char *node_name);
/* The node's labels ("key=value"), for node_labels filters; kept by pointer. */
void follower_hub_set_node_labels(struct follower_hub *h, char *const *labels, size_t n);
/* The node the hub's flows come from (name and labels), as filters match it. */
const struct filter_node *follower_hub_node(const struct follower_hub *h);
/* Every follower must have been stopped. */
void follower_hub_free(struct follower_hub *h);

struct follower_hub_stats {
	uint64_t followers;	      /* following now */
	uint64_t lost[FOLLOWER_APIS]; /* flows followers could not take, since start */
};

void follower_hub_get_stats(const struct follower_hub *h, struct follower_hub_stats *st);
/* cb for every live follower: its name ("grpc-7") and what it lost. */
void follower_hub_foreach(const struct follower_hub *h,
			  void (*cb)(const char *name, uint64_t lost, void *ctx), void *ctx);

enum follower_replay {
	FOLLOWER_REPLAY_NONE,
	FOLLOWER_REPLAY_LAST,  /* the newest number */
	FOLLOWER_REPLAY_FIRST, /* the oldest number */
	FOLLOWER_REPLAY_ALL,
};

struct follower_req {
	enum follower_replay replay;
	uint64_t number; /* LAST and FIRST */
	bool follow;
	bool per_flow; /* replay the store's flows in their latest state, not the events */
	uint64_t since_ns, until_ns;	 /* wall clock; 0: unbounded */
	struct flow_filter_set *filters; /* NULL: every flow; taken over by follower_start() */
};

/* What the follower's API does with what the follower produces. ctx is the API's. */
struct follower_sink {
	/* Appends the API's encoding of a flow event, and of a lost-events notice. */
	int (*encode_flow)(struct buf *out, const struct flow *f, const char *node_name, void *ctx);
	int (*encode_lost)(struct buf *out, uint64_t lost, const char *node_name, uint64_t now_ns,
			   void *ctx);
	/* Queues one encoded message: 0, or -ENOBUFS (-ENOMEM) when it does not fit; force
	 * (replays, notices) always fits. */
	int (*push)(void *ctx, const void *msg, size_t len, bool force);
	/* The client's queue has no room for another flow. */
	bool (*full)(void *ctx);
	/* until has passed: the stream is complete. May be NULL. */
	void (*end)(void *ctx);
};

struct follower;

/* Replays what req selects into the sink and, with follow, goes on with live flows. Returns 0
 * with *out set, or -EINVAL (until before since) or -ENOMEM with e set; req->filters is the
 * follower's (or freed) in any case. */
int follower_start(struct follower **out, struct follower_hub *h, enum follower_api api,
		   const struct follower_req *req, const struct follower_sink *sink, void *ctx,
		   struct errmsg *e);
/* After follower_start(): does it follow? False when the replay was everything asked for (no
 * follow, or until already passed): the API ends the stream and stops the follower. */
bool follower_live(const struct follower *f);
/* The client's queue has room again, or a second went by: sends a pending lost notice. */
void follower_poke(struct follower *f);
/* Unsubscribes and frees; NULL is ignored. */
void follower_stop(struct follower *f);

#endif /* FLOWSCOPE_SERVE_FOLLOWER_H */
