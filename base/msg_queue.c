/* Bounded message queue read as a byte stream (see include/flowscope/base/msg_queue.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/msg_queue.h"

int msg_queue_init(struct msg_queue *q, uint32_t cap)
{
	memset(q, 0, sizeof(*q));
	if (!cap)
		return -EINVAL;
	q->ends = malloc(sizeof(*q->ends) * cap);
	if (!q->ends)
		return -ENOMEM;
	q->cap = cap;
	return 0;
}

void msg_queue_free(struct msg_queue *q)
{
	buf_free(&q->data);
	free(q->ends);
	q->ends = NULL;
	q->cap = q->count = 0;
}

static int grow(struct msg_queue *q)
{
	uint32_t ncap = q->cap * 2, i;
	size_t *n = malloc(sizeof(*n) * ncap);

	if (!n)
		return -ENOMEM;
	for (i = 0; i < q->count; i++)
		n[i] = q->ends[(q->head + i) % q->cap];
	free(q->ends);
	q->ends = n;
	q->cap = ncap;
	q->head = 0;
	return 0;
}

int msg_queue_push(struct msg_queue *q, const void *msg, size_t len, bool force)
{
	int err;

	if (q->count == q->cap) {
		if (!force)
			return -ENOBUFS;
		err = grow(q);
		if (err)
			return err;
	}
	err = buf_append(&q->data, msg, len);
	if (err)
		return err;
	q->ends[(q->head + q->count) % q->cap] = q->data.len;
	q->count++;
	return 0;
}

size_t msg_queue_read(struct msg_queue *q, void *dst, size_t max)
{
	size_t avail = q->data.len - q->off, n = avail < max ? avail : max, i;

	memcpy(dst, q->data.data + q->off, n);
	q->off += n;
	/* Messages fully read leave the bound. */
	while (q->count && q->ends[q->head] <= q->off) {
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
	if (q->off == q->data.len) {
		buf_reset(&q->data);
		q->off = 0;
	} else if (q->off > (1u << 20) && q->off > q->data.len / 2) {
		/* Compact now and then rather than on every read. */
		memmove(q->data.data, q->data.data + q->off, q->data.len - q->off);
		q->data.len -= q->off;
		for (i = 0; i < q->count; i++)
			q->ends[(q->head + i) % q->cap] -= q->off;
		q->off = 0;
	}
	return n;
}
