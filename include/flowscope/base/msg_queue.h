/* A bounded queue of serialized messages (JSON lines, protobuf frames, syslog records) waiting
 * for a slow peer: bounded in messages and/or bytes, read out as a byte stream or a message at
 * a time. Every streaming API and every pushing exporter queues through it, so a peer that stops
 * reading costs a fixed amount of memory and what does not fit is counted by the caller. */
#ifndef FLOWSCOPE_BASE_MSG_QUEUE_H
#define FLOWSCOPE_BASE_MSG_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"

/* Memory several queues may hold together (all the followers of a server), counted as their
 * buffers' sizes (what they cost, the room a queue grew to included; a queue read empty gives a
 * big buffer back): a push that would take the total past max fails as a bound of the queue's
 * own would (forced ones always fit, and count), except into an empty queue: a client that
 * reads what it gets is never starved by others that hold the budget and do not read (past max
 * by at most a message per queue). Used on one thread. */
struct msg_queue_budget {
	size_t used, max; /* max 0: no bound */
};

struct msg_queue {
	struct buf data;   /* unread bytes are data[off..len) */
	size_t off;	   /* read position */
	size_t head_start; /* where the first message not completely read begins (<= off) */
	size_t *ends;	   /* end offset of each queued message, a ring of ring_cap */
	uint32_t ring_cap, head, count;
	uint32_t max_msgs;		 /* 0: no bound on messages */
	size_t max_bytes;		 /* 0: no bound on bytes */
	struct msg_queue_budget *budget; /* NULL: none */
	size_t charged;			 /* this queue's buffer as counted in budget->used */
};

/* At most max_msgs messages and max_bytes bytes (0: that one is unbounded; not both). Returns 0,
 * -EINVAL or -ENOMEM. */
int msg_queue_init(struct msg_queue *q, uint32_t max_msgs, size_t max_bytes);
void msg_queue_free(struct msg_queue *q);
/* Counts what q holds (messages not completely read) in b from now on, until it is freed. */
void msg_queue_set_budget(struct msg_queue *q, struct msg_queue_budget *b);

/* Messages not yet completely read. */
static inline uint32_t msg_queue_count(const struct msg_queue *q)
{
	return q->count;
}

/* Bytes not yet read. */
static inline size_t msg_queue_bytes(const struct msg_queue *q)
{
	return q->data.len - q->off;
}

static inline uint32_t msg_queue_limit(const struct msg_queue *q)
{
	return q->max_msgs;
}

/* No room for another message (of any size when bounded in messages), in it or its budget. */
bool msg_queue_full(const struct msg_queue *q);

/* Appends one message. Without force, -ENOBUFS when it would exceed a bound (the caller counts
 * the loss); force (replays, lost-event notices) goes past the bounds. -ENOMEM on allocation. */
int msg_queue_push(struct msg_queue *q, const void *msg, size_t len, bool force);

/* Stream reading: the unread bytes (contiguous) without consuming them, then consume some. */
size_t msg_queue_peek(const struct msg_queue *q, const void **p);
void msg_queue_consume(struct msg_queue *q, size_t n);
/* Copies up to max bytes into dst and consumes them; returns the count (0 when empty). */
size_t msg_queue_read(struct msg_queue *q, void *dst, size_t max);

/* Message reading: the first message whole (0 when empty); pop removes it. */
size_t msg_queue_first(const struct msg_queue *q, const void **p);
void msg_queue_pop(struct msg_queue *q);
/* Forgets that the first message was partly read, so it is read again from its start (a
 * stream that broke mid-message sends it whole on the next one). */
void msg_queue_rewind(struct msg_queue *q);

#endif /* FLOWSCOPE_BASE_MSG_QUEUE_H */
