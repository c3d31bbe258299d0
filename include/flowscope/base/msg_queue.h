/* A bounded queue of serialized messages (JSON lines, protobuf frames) waiting for a slow
 * socket: bounded in messages, read out as a byte stream. Used by every streaming exporter so
 * that a client that stops reading costs flowd a fixed amount of memory. */
#ifndef FLOWSCOPE_MSG_QUEUE_H
#define FLOWSCOPE_MSG_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"

struct msg_queue {
	struct buf data; /* unread bytes are data[off..len) */
	size_t off;
	size_t *ends; /* end offset of each queued message, a ring */
	uint32_t cap, head, count;
};

/* cap > 0 messages. Returns 0 or -ENOMEM. */
int msg_queue_init(struct msg_queue *q, uint32_t cap);
void msg_queue_free(struct msg_queue *q);

static inline bool msg_queue_full(const struct msg_queue *q)
{
	return q->count >= q->cap;
}

/* Messages not yet completely read. */
static inline uint32_t msg_queue_count(const struct msg_queue *q)
{
	return q->count;
}

static inline size_t msg_queue_bytes(const struct msg_queue *q)
{
	return q->data.len - q->off;
}

/* Appends one message. When the queue is full it fails with -ENOBUFS, unless force is set
 * (replays and lost-event notices), which grows the queue instead. -ENOMEM on allocation. */
int msg_queue_push(struct msg_queue *q, const void *msg, size_t len, bool force);

/* Copies up to max bytes into dst and consumes them; returns the count (0 when empty). */
size_t msg_queue_read(struct msg_queue *q, void *dst, size_t max);

#endif /* FLOWSCOPE_MSG_QUEUE_H */
