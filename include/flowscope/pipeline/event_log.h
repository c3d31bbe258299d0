/* The flow event log: the newest flow events (START, TCP_FLAGS, UPDATE, DROP, DNS, END), each a
 * snapshot of its flow as that event told it, kept in a fixed ring in the order they were
 * published; the oldest is overwritten when full. It is what --last, --first and --since
 * replay; the flow store keeps the per-flow view. */
#ifndef FLOWSCOPE_PIPELINE_EVENT_LOG_H
#define FLOWSCOPE_PIPELINE_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"

struct event_log;

struct event_log_stats {
	uint64_t appended;    /* events ever appended */
	uint64_t held;	      /* events held now */
	uint64_t overwritten; /* events the ring no longer holds */
};

/* A log of at most capacity (> 0) events, or NULL with errno set. */
struct event_log *event_log_new(size_t capacity);
void event_log_free(struct event_log *l);

/* The slot of a new event, the newest from now on (it replaces the oldest when the log is
 * full): the caller fills it in. Valid until the log is appended to capacity more times. */
struct flow *event_log_append(struct event_log *l);

/* Calls cb for every event held, oldest first; stops and returns cb's value when it returns
 * non-zero. cb must not append. */
int event_log_foreach(const struct event_log *l, int (*cb)(const struct flow *ev, void *ctx),
		      void *ctx);

/* The i-th oldest event held (0: the oldest); NULL past the newest. */
const struct flow *event_log_at(const struct event_log *l, uint64_t i);
/* The oldest and the newest event held; NULL when the log is empty. */
const struct flow *event_log_oldest(const struct event_log *l);
const struct flow *event_log_newest(const struct event_log *l);

size_t event_log_capacity(const struct event_log *l);
void event_log_get_stats(const struct event_log *l, struct event_log_stats *st);

#endif /* FLOWSCOPE_PIPELINE_EVENT_LOG_H */
