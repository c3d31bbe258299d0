/* The follower's state, shared by its files (export/serve/follower*.c) and nobody else. */
#ifndef FLOWSCOPE_SERVE_FOLLOWER_INT_H
#define FLOWSCOPE_SERVE_FOLLOWER_INT_H

#include "flowscope/base/buf.h"
#include "flowscope/base/list.h"
#include "flowscope/history/history.h"
#include "flowscope/serve/follower.h"

struct follower_hub {
	struct flow_store *store;
	struct event_log *events;
	struct flow_bus *bus;
	char node_name[256];
	struct filter_node node; /* name and labels, for node filters */
	struct list_node followers;
	uint64_t n_followers;
	uint64_t lost[FOLLOWER_APIS];
	uint64_t late[FOLLOWER_APIS];
	uint64_t next_id[FOLLOWER_APIS];
	struct follower_marks marks;
	bool have_marks;
	void (*greet)(struct follower *fo, void *ctx);
	void *greet_ctx;
	struct history *history;	 /* NULL: replays from the event log alone */
	struct follower_archive archive; /* start NULL: none */
	uv_loop_t *loop;		 /* runs the replays' steps */
	/* The latest live event's encoding, shared by the followers that want the same one. */
	struct {
		uint8_t uuid[16];
		const struct follower_sink *sink;
		uint64_t encoding;
		struct buf bytes;
		bool valid;
	} shared;
};

struct follower {
	struct follower_hub *hub;
	struct list_node node;
	enum follower_api api;
	char name[32];
	struct follower_req req;
	const struct follower_sink *sink;
	void *ctx;
	struct flow_bus_sub *sub;
	bool live;
	uint64_t lost;	       /* since the last notice */
	uint64_t lost_total;   /* since start */
	uint64_t lost_sent_ns; /* when the last notice was queued */
	uint64_t mark_ns;      /* the latest watermark sent (0: none yet) */
	uv_timer_t timer;      /* heartbeats; its close frees the follower */
	bool have_timer;
	/* A lost notice held back (one a second at most) is sent when this fires: the losses of
	 * a burst are told even when no event follows it. */
	uv_timer_t lost_timer;
	bool have_lost_timer;
	bool in_order; /* publication order, replay included (heartbeats, resume) */
	struct buf scratch;
	struct catchup *catchup; /* reading the history (follower_history.c) */
	bool starting;		 /* in follower_start() */
	int refs;		 /* the owner's and every open handle's (timers) */
};

/* follower.c's, for the catch-up. */
bool follower_wanted(const struct follower *fo, const struct flow *f);
int follower_send_flow(struct follower *fo, const struct flow *f, bool force);
/* A flow the client could not take: counted for its next lost notice, its API and its own. */
void follower_count_lost(struct follower *fo);
/* The replay req asks for (NONE: nothing): the chosen events, or per flow the store's flows,
 * in the order they are to be sent (*out: free()). */
int follower_replay_select(struct follower *fo, const struct flow ***out, size_t *n);
/* A resumed stream's start: its point found (all: every event held, else those after event
 * number after), what it missed told. -EINVAL with e set for a point it cannot mean. */
int follower_resume_begin(struct follower *fo, bool *all, uint64_t *after, struct errmsg *e);
/* A lost notice of source (the gap form when the sink has one); always fits. */
int follower_send_lost(struct follower *fo, int source, uint64_t lost);
/* Drops a reference (a handle closed, or the owner's at follower_stop); frees at the last. */
void follower_unref(struct follower *fo);
/* The replay is over: subscribe (following) and send the first watermark, or end. */
int follower_go_live(struct follower *fo);

/* follower_history.c's: a replay (or resume) in steps on the hub's loop: through the history
 * and then the event log, or an archive and the log, or the log alone, or the store's flows. */
bool follower_history_wants(const struct follower *fo);
/* 0, or a negative errno with e set (the follower is stopped by its owner). */
int follower_history_start(struct follower *fo, struct errmsg *e);
void follower_history_poke(struct follower *fo);
/* Stops the catch-up, if any; its timer's close drops its reference. */
void follower_history_stop(struct follower *fo);

#endif /* FLOWSCOPE_SERVE_FOLLOWER_INT_H */
