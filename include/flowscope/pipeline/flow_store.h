/* Bounded store of recent flows: active flows indexed by kernel key and by connection, all flows
 * (active and ended) kept in order of their latest update; the least recently updated is
 * evicted when full. This is the per-flow view; the flow events are in the event log. */
#ifndef FLOWSCOPE_PIPELINE_FLOW_STORE_H
#define FLOWSCOPE_PIPELINE_FLOW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"

struct flow_store;

struct flow_store_stats {
	uint64_t seen;		 /* flows ever inserted */
	uint64_t stored;	 /* flows held now (active + ended) */
	uint64_t active;	 /* flows held and indexed by key */
	uint64_t evicted;	 /* flows dropped because the store was full */
	uint64_t evicted_active; /* of which were still active */
	uint64_t bytes;		 /* memory of its tables (all allocated at creation) */
};

/* Returns a store for at most max_flows flows (> 0), or NULL with errno set.
 * The caller frees it with flow_store_free(). */
struct flow_store *flow_store_new(size_t max_flows);
void flow_store_free(struct flow_store *s);

/* Starts loading what a lookup of key will read first (its index bucket); no effect else. */
void flow_store_prefetch(const struct flow_store *s, const struct flow_key *key);

/* The active flow with this key, or NULL. The pointer stays valid until the next insert. */
struct flow *flow_store_find(struct flow_store *s, const struct flow_key *key);

/* The active flow of the connection key belongs to on any interface or VLAN (its first
 * observation point, the one that is not a copy, when it is still active), or NULL. */
struct flow *flow_store_find_conn(struct flow_store *s, const struct flow_key *key);

/* Copies f into the store as a new active flow, assigns f's id (s->next id), makes it the
 * newest, evicting the least recently updated flow when full. An active flow with the same key
 * is ended first. Returns the stored flow (owned by the store; valid until the next insert),
 * or NULL with errno set. */
struct flow *flow_store_insert(struct flow_store *s, const struct flow *f);

/* cb(id, ctx) is called when the store drops a flow for good (its slot taken by a new flow):
 * no event of flow id follows. One callback; NULL removes it. */
void flow_store_on_drop(struct flow_store *s, void (*cb)(uint64_t id, void *ctx), void *ctx);

/* Marks a stored flow as updated now: it becomes the newest. */
void flow_store_touch(struct flow_store *s, struct flow *f);

/* Ends a stored flow: it leaves the key index (a new flow with the same key starts afresh)
 * but stays in the store until evicted. Sets f->ended. */
void flow_store_end(struct flow_store *s, struct flow *f);

/* Calls cb for the n most recently updated flows, oldest first; stops early and returns cb's
 * value when cb returns non-zero. n = 0 means none. */
int flow_store_foreach_last(struct flow_store *s, size_t n,
			    int (*cb)(const struct flow *f, void *ctx), void *ctx);

/* Calls cb for every active flow (any order). cb must not insert; it may end the flow it got. */
int flow_store_foreach_active(struct flow_store *s, int (*cb)(struct flow *f, void *ctx),
			      void *ctx);

/* Would an insert now evict a flow that is still active (the store is full and its least
 * recently updated flow has not ended)? */
bool flow_store_insert_evicts_active(const struct flow_store *s);

void flow_store_get_stats(const struct flow_store *s, struct flow_store_stats *st);
size_t flow_store_capacity(const struct flow_store *s);

#endif /* FLOWSCOPE_PIPELINE_FLOW_STORE_H */
