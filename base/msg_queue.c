/* Bounded message queue (see include/flowscope/base/msg_queue.h). Messages are stored back to
 * back in one buffer with a ring of their end offsets; read space is reclaimed in bulk. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/msg_queue.h"

#define RING_MIN 64
#define COMPACT_AT (1u << 20)
/* A queue read empty keeps a buffer of at most this much; a bigger one goes back. */
#define KEEP_EMPTY (64u << 10)

int msg_queue_init(struct msg_queue *q, uint32_t max_msgs, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	if (!max_msgs && !max_bytes)
		return -EINVAL;
	q->max_msgs = max_msgs;
	q->max_bytes = max_bytes;
	q->ring_cap = max_msgs && max_msgs < RING_MIN ? max_msgs : RING_MIN;
	q->ends = malloc(sizeof(*q->ends) * q->ring_cap);
	return q->ends ? 0 : -ENOMEM;
}

/* Brings the budget's count of this queue to the memory it holds now: its buffer, which is
 * what a queue costs (its messages and the room it grew for them). */
static void recharge(struct msg_queue *q)
{
	if (!q->budget)
		return;
	q->budget->used = q->budget->used - q->charged + q->data.cap;
	q->charged = q->data.cap;
}

/* The buffer's size once len more bytes are appended (as buf_reserve grows it). */
static size_t cap_after(const struct msg_queue *q, size_t len)
{
	size_t need = q->data.len + len + 1, cap = q->data.cap ? q->data.cap : 256;

	if (need <= q->data.cap)
		return q->data.cap;
	while (cap < need)
		cap *= 2;
	return cap;
}

/* Would appending len bytes take the budget past its bound? An empty queue always takes one
 * message (see the header). */
static bool over_budget(const struct msg_queue *q, size_t len)
{
	return q->count && q->budget && q->budget->max &&
	       q->budget->used - q->charged + cap_after(q, len) > q->budget->max;
}

void msg_queue_set_budget(struct msg_queue *q, struct msg_queue_budget *b)
{
	if (q->budget) {
		q->budget->used -= q->charged;
		q->charged = 0;
	}
	q->budget = b;
	recharge(q);
}

void msg_queue_free(struct msg_queue *q)
{
	msg_queue_set_budget(q, NULL);
	buf_free(&q->data);
	free(q->ends);
	memset(q, 0, sizeof(*q));
}

bool msg_queue_full(const struct msg_queue *q)
{
	return (q->max_msgs && q->count >= q->max_msgs) ||
	       (q->max_bytes && q->data.len - q->head_start >= q->max_bytes) || over_budget(q, 1);
}

static int grow_ring(struct msg_queue *q)
{
	uint32_t ncap = q->ring_cap * 2, i;
	size_t *n = malloc(sizeof(*n) * ncap);

	if (!n)
		return -ENOMEM;
	for (i = 0; i < q->count; i++)
		n[i] = q->ends[(q->head + i) % q->ring_cap];
	free(q->ends);
	q->ends = n;
	q->ring_cap = ncap;
	q->head = 0;
	return 0;
}

int msg_queue_push(struct msg_queue *q, const void *msg, size_t len, bool force)
{
	int err;

	if (!force && ((q->max_msgs && q->count >= q->max_msgs) ||
		       (q->max_bytes && q->data.len - q->head_start + len > q->max_bytes) ||
		       over_budget(q, len)))
		return -ENOBUFS;
	if (q->count == q->ring_cap) {
		err = grow_ring(q);
		if (err)
			return err;
	}
	err = buf_append(&q->data, msg, len);
	if (err)
		return err;
	q->ends[(q->head + q->count) % q->ring_cap] = q->data.len;
	q->count++;
	recharge(q);
	return 0;
}

/* Moves the unread part to the front once enough has been read; a half-read first message keeps
 * its start (for msg_queue_rewind). */
static void compact(struct msg_queue *q)
{
	size_t cut = q->head_start;
	uint32_t i;

	if (q->off == q->data.len) {
		if (q->data.cap > KEEP_EMPTY)
			buf_free(&q->data); /* a burst's room goes back */
		else
			buf_reset(&q->data);
		q->off = q->head_start = 0;
		return;
	}
	if (cut < COMPACT_AT || cut < q->data.len / 2)
		return;
	memmove(q->data.data, q->data.data + cut, q->data.len - cut);
	q->data.len -= cut;
	q->data.data[q->data.len] = '\0';
	q->off -= cut;
	q->head_start = 0;
	for (i = 0; i < q->count; i++)
		q->ends[(q->head + i) % q->ring_cap] -= cut;
}

size_t msg_queue_peek(const struct msg_queue *q, const void **p)
{
	/* An empty queue may have no buffer yet: NULL + 0 is undefined in C. */
	*p = q->data.data ? q->data.data + q->off : q->data.data;
	return q->data.len - q->off;
}

void msg_queue_consume(struct msg_queue *q, size_t n)
{
	if (n > q->data.len - q->off)
		n = q->data.len - q->off;
	q->off += n;
	/* Messages read to their end leave the bound. */
	while (q->count && q->ends[q->head] <= q->off) {
		q->head_start = q->ends[q->head];
		q->head = (q->head + 1) % q->ring_cap;
		q->count--;
	}
	compact(q);
	recharge(q);
}

size_t msg_queue_read(struct msg_queue *q, void *dst, size_t max)
{
	const void *p;
	size_t n = msg_queue_peek(q, &p);

	if (n > max)
		n = max;
	memcpy(dst, p, n);
	msg_queue_consume(q, n);
	return n;
}

size_t msg_queue_first(const struct msg_queue *q, const void **p)
{
	if (!q->count)
		return 0;
	*p = q->data.data + q->head_start;
	return q->ends[q->head] - q->head_start;
}

void msg_queue_pop(struct msg_queue *q)
{
	if (q->count)
		msg_queue_consume(q, q->ends[q->head] - q->off);
}

void msg_queue_rewind(struct msg_queue *q)
{
	q->off = q->head_start;
}
