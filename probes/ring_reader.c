/* Per-CPU ring buffers read from the libuv loop (see include/flowscope/probes/ring_reader.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/probes/ring_reader.h"

/* Records read per wakeup before yielding to the loop, so HTTP clients are served while the
 * rings are busy; the level-triggered poll brings us back at once. */
#define RING_BUDGET 65536
/* ... and at most this long (read every RING_CLOCK_EVERY records): however slow each record is
 * to handle (many followers), the loop answers its other clients between turns. */
#define RING_TIME_BUDGET_NS (20 * 1000000ULL)
#define RING_CLOCK_EVERY 512

/* With a prefetch callback, records are handed on RING_LOOKAHEAD records after they are read:
 * each is copied aside and announced to the callback, so that the memory its handling will
 * touch (the flow store's bucket, a cache miss per new flow) is on its way meanwhile. Records
 * larger than a slot (DNS payloads) go straight through, after the ones waiting. */
#define RING_LOOKAHEAD 8
#define RING_SLOT 192

struct pending {
	size_t len;
	_Alignas(8) unsigned char data[RING_SLOT];
};

struct ring_pos {
	const volatile unsigned long *consumer, *producer; /* the ring's position pages */
	uint64_t size;
};

struct ring_reader {
	uv_poll_t poll;
	struct ring_pos *pos;
	int n_pos;
	struct ring_buffer *rb;
	ring_reader_cb cb, prefetch;
	void *ctx;
	long budget;
	uint64_t turn_start_ns; /* 0: no time budget (a drain) */
	struct pending q[RING_LOOKAHEAD];
	unsigned q_head, q_len;
};

static void deliver_oldest(struct ring_reader *r)
{
	struct pending *p = &r->q[r->q_head];

	r->q_head = (r->q_head + 1) % RING_LOOKAHEAD;
	r->q_len--;
	r->cb(r->ctx, p->data, p->len);
}

/* Every record read so far is handed on: called at the end of each pass over the rings. */
static void flush(struct ring_reader *r)
{
	while (r->q_len)
		deliver_oldest(r);
}

static void take(struct ring_reader *r, void *data, size_t len)
{
	struct pending *p;

	if (!r->prefetch || len > RING_SLOT) {
		flush(r);
		r->cb(r->ctx, data, len);
		return;
	}
	if (r->q_len == RING_LOOKAHEAD)
		deliver_oldest(r);
	p = &r->q[(r->q_head + r->q_len++) % RING_LOOKAHEAD];
	memcpy(p->data, data, len);
	p->len = len;
	r->prefetch(r->ctx, p->data, len);
}

static int on_sample(void *ctx, void *data, size_t len)
{
	struct ring_reader *r = ctx;

	take(r, data, len);
	/* A negative return stops ring_buffer__consume after this (consumed) record: it keeps
	 * one wakeup bounded; the level-triggered poll brings us back for the rest. */
	if (--r->budget <= 0)
		return -EAGAIN;
	if (r->turn_start_ns && r->budget % RING_CLOCK_EVERY == 0 &&
	    clock_boot_ns() - r->turn_start_ns >= RING_TIME_BUDGET_NS)
		return -EAGAIN;
	return 0;
}

static void on_closed(uv_handle_t *h);
static void unmap_positions(struct ring_reader *r);

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct ring_reader *r = h->data;

	(void)events;
	if (status < 0) {
		logmsg(LOG_LEVEL_WARN, "ring poll error: %s", uv_strerror(status));
		return;
	}
	r->budget = RING_BUDGET;
	r->turn_start_ns = clock_boot_ns();
	ring_buffer__consume(r->rb);
	flush(r);
}

int ring_reader_start(struct ring_reader **out, uv_loop_t *loop, const int *fds, int n,
		      ring_reader_cb cb, void *ctx)
{
	struct ring_reader *r;
	int i, err;

	if (n < 1)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cb = cb;
	r->ctx = ctx;
	r->budget = RING_BUDGET;
	r->rb = ring_buffer__new(fds[0], on_sample, r, NULL);
	if (!r->rb) {
		err = -errno;
		goto err;
	}
	for (i = 1; i < n; i++) {
		err = ring_buffer__add(r->rb, fds[i], on_sample, r);
		if (err)
			goto err;
	}
	/* The positions, mapped read-only, for ring_reader_usage(): page 0 of a ring map holds
	 * the consumer position, page 1 the producer's. */
	r->pos = calloc((size_t)n, sizeof(*r->pos));
	if (r->pos) {
		long pg = sysconf(_SC_PAGESIZE);

		r->n_pos = n;
		for (i = 0; i < n; i++) {
			struct bpf_map_info info = {0};
			__u32 len = sizeof(info);
			void *c = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fds[i], 0);
			void *p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fds[i], pg);

			r->pos[i].consumer = c == MAP_FAILED ? NULL : c;
			r->pos[i].producer = p == MAP_FAILED ? NULL : p;
			if (!bpf_obj_get_info_by_fd(fds[i], &info, &len))
				r->pos[i].size = info.max_entries;
		}
	}
	err = uv_poll_init(loop, &r->poll, ring_buffer__epoll_fd(r->rb));
	if (err)
		goto err;
	r->poll.data = r;
	err = uv_poll_start(&r->poll, UV_READABLE, on_readable);
	if (err) {
		uv_close((uv_handle_t *)&r->poll, on_closed);
		return err;
	}
	*out = r;
	return 0;
err:
	unmap_positions(r);
	ring_buffer__free(r->rb);
	free(r);
	return err;
}

int ring_reader_usage(struct ring_reader *r, uint64_t *pending, uint64_t *capacity)
{
	int i;

	*pending = *capacity = 0;
	for (i = 0; i < r->n_pos; i++) {
		if (!r->pos[i].consumer || !r->pos[i].producer)
			return -ENODEV;
		*pending += *r->pos[i].producer - *r->pos[i].consumer;
		*capacity += r->pos[i].size;
	}
	return 0;
}

int ring_reader_drain(struct ring_reader *r)
{
	int n;

	r->budget = RING_BUDGET;
	r->turn_start_ns = 0;
	n = ring_buffer__consume(r->rb);
	flush(r);
	return n;
}

void ring_reader_set_prefetch(struct ring_reader *r, ring_reader_cb prefetch)
{
	flush(r);
	r->prefetch = prefetch;
}

static void unmap_positions(struct ring_reader *r)
{
	long pg = sysconf(_SC_PAGESIZE);
	int i;

	for (i = 0; i < r->n_pos; i++) {
		if (r->pos[i].consumer)
			munmap((void *)r->pos[i].consumer, (size_t)pg);
		if (r->pos[i].producer)
			munmap((void *)r->pos[i].producer, (size_t)pg);
	}
	free(r->pos);
}

static void on_closed(uv_handle_t *h)
{
	struct ring_reader *r = h->data;

	unmap_positions(r);
	ring_buffer__free(r->rb);
	free(r);
}

void ring_reader_stop(struct ring_reader *r)
{
	if (!r)
		return;
	uv_poll_stop(&r->poll);
	uv_close((uv_handle_t *)&r->poll, on_closed);
}
