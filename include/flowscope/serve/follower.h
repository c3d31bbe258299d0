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
 * The API supplies the encoding and the queue (struct follower_sink).
 * For a relay, two more (GetFlowsRequest.heartbeat_ms and resume_after):
 * - watermarks: while following, every heartbeat_ms and once right after the replay, a time W
 *   such that every later flow event of the stream has a time >= W (see struct follower_marks
 *   for how a hub knows it, and follower_hub_stats.late for what it cannot know);
 * - resume: the replay is every event published after the one a client names by uuid, then
 *   live ones; what the event log no longer holds is told first (follower_req.resume).
 * Such streams are in publication order throughout, replay included, so that every uuid they
 * carry is an exact point to resume from: no event twice, none skipped. */
#ifndef FLOWSCOPE_SERVE_FOLLOWER_H
#define FLOWSCOPE_SERVE_FOLLOWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/pipeline/event_log.h"
#include "flowscope/pipeline/flow_bus.h"
#include "flowscope/pipeline/flow_store.h"

/* Hubble's LostEventSource for flows dropped on the way to one client. */
#define FOLLOWER_LOST_SOURCE 2 /* OBSERVER_EVENTS_QUEUE */
/* ... for the events a resume point is past that the event log no longer holds. */
#define FOLLOWER_LOST_OVERWRITTEN 3 /* HUBBLE_RING_BUFFER */
/* ... for a resume point of another run of the collector (flowd restarted since): the earlier
 * run's events after it are unknown; the count is of this run's events no longer held. */
#define FOLLOWER_LOST_RESTARTED 0 /* UNKNOWN_LOST_EVENT_SOURCE */

/* Watermarks are sent at most this often. */
#define FOLLOWER_HEARTBEAT_MIN_MS 50

enum follower_api { FOLLOWER_GRPC, FOLLOWER_HTTP, FOLLOWER_APIS };

/* The followers of one flow source (the store and bus of a collector): who follows now and what
 * they lost since start. */
struct follower_hub;

/* events: the flow event log replays read (NULL: replays are per flow, from the store). loop
 * sends every replay in steps, as the client takes it (its API calls follower_poke() when its
 * queue has room), and then goes live or ends (sink->end): no reply is built whole in a
 * client's queue, whatever its source (the event log, the store per flow, a resume point, the
 * history or an archive below). */
struct follower_hub *follower_hub_new(struct flow_store *store, struct event_log *events,
				      struct flow_bus *bus, const char *node_name, uv_loop_t *loop);
/* The node's labels ("key=value"), for node_labels filters; kept by pointer. */
void follower_hub_set_node_labels(struct follower_hub *h, char *const *labels, size_t n);
/* The node the hub's flows come from (name and labels), as filters match it. */
const struct filter_node *follower_hub_node(const struct follower_hub *h);
/* Every follower must have been stopped. */
void follower_hub_free(struct follower_hub *h);

/* The history replays read (NULL: the event log alone). Its events are in time order; a
 * `since` before the oldest kept event gets a notice first (a node status with no state and a
 * message saying where the history begins). */
struct history;
void follower_hub_set_history(struct follower_hub *h, struct history *history);
/* An archive of what is older than the hub's event log (a relay's ClickHouse): a replay whose
 * window reaches before the log's oldest event reads the archive for everything before that
 * event's time and the log from it on (a split by time: no event twice). The archive applies the
 * filters itself (those it can in its query, the rest with flow_filter_set_match) and may answer
 * "not yet" while its query runs elsewhere. */
struct follower_archive {
	/* Starts reading [since_ns, until_ns] (0: unbounded) oldest first, filtered by filters
	 * (the follower's: alive until stop); first/last: only the oldest/newest N. Returns the
	 * query, or NULL with e set. */
	void *(*start)(void *ctx, uint64_t since_ns, uint64_t until_ns, uint64_t first,
		       uint64_t last, const struct flow_filter_set *filters, struct errmsg *e);
	/* 1: *f is the next event (valid until the next call); 0: the end; -EAGAIN: not yet;
	 * another negative errno: the query failed, e says why. */
	int (*next)(void *query, struct flow *f, struct errmsg *e);
	void (*stop)(void *query);
	void *ctx;
};
void follower_hub_set_archive(struct follower_hub *h, const struct follower_archive *a);

/* What a hub's watermarks come from (without it, heartbeat_ms is refused). */
struct follower_marks {
	uv_loop_t *loop; /* runs the heartbeat timers */
	/* A wall time W such that every flow event the bus publishes after this call returns has
	 * a time >= W. It may publish first (drain what is waiting): the follower is subscribed
	 * by then, and what it publishes goes out before the watermark. */
	uint64_t (*watermark)(void *ctx);
	void *ctx;
};
void follower_hub_set_marks(struct follower_hub *h, const struct follower_marks *m);

/* How far a collector's events may be published out of time order once every record already
 * in the rings is published: the time from a probe's clock read to its record's commit (the
 * program's run, microseconds), and steps of the boot-to-wall offset between syncs. */
#define FOLLOWER_REORDER_NS (20ULL * 1000000)
/* The watermark of a collector fed by the probes' rings (flowd's): boot_ns is the boot clock
 * read before every record already in the rings was handed to the collector; W is its wall
 * time, by the collector's clock, less FOLLOWER_REORDER_NS. What this cannot cover - a start
 * the sweep adopts because the ring was full or the store had evicted the flow (told with the
 * flow's first packet time), the wall clock set back by more than the bound - is sent with its
 * own time and counted late. */
uint64_t follower_collector_mark(const struct collector *c, uint64_t boot_ns);

struct follower_hub_stats {
	uint64_t followers;	      /* following now */
	uint64_t lost[FOLLOWER_APIS]; /* flows followers could not take, since start */
	/* Flow events sent below a watermark the stream had already been sent. */
	uint64_t late[FOLLOWER_APIS];
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
	/* Watermarks every heartbeat_ms while following (raised to FOLLOWER_HEARTBEAT_MIN_MS),
	 * one after the replay; with until, the stream ends once a watermark passes it. 0: none. */
	uint32_t heartbeat_ms;
	/* Instead of a replay (replay must be NONE, not per_flow): the events published after the
	 * one with this uuid, in publication order. Same run of the collector: first, when the
	 * log no longer holds all of them, a lost notice (FOLLOWER_LOST_OVERWRITTEN) with the
	 * exact number of events missing (counted before filters: which would have matched is
	 * unknown). Another run (no event held has its session): a notice
	 * (FOLLOWER_LOST_RESTARTED) counting this run's events no longer held, then every event
	 * held. A uuid of this run not published yet is -EINVAL. The event log must be one
	 * collector's (its uuids numbered without gaps), as flowd's is. */
	bool resume;
	uint8_t resume_uuid[16];
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
	/* Optional; without them heartbeat_ms and resume are refused (-EINVAL). A watermark: */
	int (*encode_mark)(struct buf *out, const char *node_name, uint64_t time_ns, void *ctx);
	/* A lost notice of source (FOLLOWER_LOST_*) and time: */
	int (*encode_gap)(struct buf *out, int source, uint64_t lost, const char *node_name,
			  uint64_t time_ns, void *ctx);
	/* Optional (a relay's streams): a node status notice (relay.NodeState state). */
	int (*encode_status)(struct buf *out, int state, const char *const *names, size_t n,
			     const char *message, const char *node_name, uint64_t time_ns,
			     void *ctx);
	/* Optional: which encoding of a flow event this client gets, as a number; clients of the
	 * same sink with the same non-zero number get the same bytes, so a live event is encoded
	 * once for all of them. 0 (or no function): its own (a field mask). */
	uint64_t (*encoding)(void *ctx);
};

struct follower;

/* Node status notices (a relay's): every live follower whose sink encodes them gets this one
 * (past its queue's limit: notices, like lost notices, always fit). */
void follower_hub_node_status(struct follower_hub *h, int state, const char *const *names, size_t n,
			      const char *message);
/* Events lost before they reached this server (a relay: an agent told it lost them), told to
 * every live follower as a lost notice of that source. */
void follower_hub_lost(struct follower_hub *h, int source, uint64_t lost);
/* What a follower is told first, before its replay (the relay: which nodes answer): greet runs
 * for each new follower and may call follower_node_status(). */
void follower_hub_set_greeting(struct follower_hub *h,
			       void (*greet)(struct follower *fo, void *ctx), void *ctx);
void follower_node_status(struct follower *fo, int state, const char *const *names, size_t n,
			  const char *message);

/* Replays what req selects into the sink and, with follow, goes on with live flows. Returns 0
 * with *out set, or -EINVAL (until before since, a request the hub or sink cannot serve, a bad
 * resume point) or -ENOMEM with e set; req->filters is the follower's (or freed) in any case. */
int follower_start(struct follower **out, struct follower_hub *h, enum follower_api api,
		   const struct follower_req *req, const struct follower_sink *sink, void *ctx,
		   struct errmsg *e);
/* After follower_start(): does it follow, or is its replay still being sent? False when the
 * replay was everything asked for (no follow, or until already passed): the API ends the
 * stream and stops the follower. Once true, the follower tells the end through sink->end. */
bool follower_live(const struct follower *f);
/* The client's queue has room again, or a second went by: sends a pending lost notice. */
void follower_poke(struct follower *f);
/* Unsubscribes and frees (a follower with heartbeats once its timer closed: the loop must
 * run); NULL is ignored. */
void follower_stop(struct follower *f);

#endif /* FLOWSCOPE_SERVE_FOLLOWER_H */
