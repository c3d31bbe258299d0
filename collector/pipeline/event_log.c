/* The flow event log (see include/flowscope/pipeline/event_log.h): one ring of flow snapshots,
 * allocated and faulted in once, at creation (bigmem): an append is a copy into memory already
 * mapped (first-touch page faults cost ~0.5 us per event on this VM class while the ring filled,
 * which halved the collector's rate for its first 65536 events; bench_collector). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "flowscope/base/bigmem.h"
#include "flowscope/pipeline/event_log.h"

struct event_log {
	struct flow *ring;
	size_t cap;
	uint64_t appended; /* the next slot is appended % cap */
};

struct event_log *event_log_new(size_t capacity)
{
	struct event_log *l;

	if (!capacity) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (capacity > SIZE_MAX / sizeof(*l->ring) ||
	    !(l->ring = bigmem_alloc(capacity * sizeof(*l->ring)))) {
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	l->cap = capacity;
	return l;
}

void event_log_free(struct event_log *l)
{
	if (!l)
		return;
	bigmem_free(l->ring, l->cap * sizeof(*l->ring));
	free(l);
}

struct flow *event_log_append(struct event_log *l)
{
	return &l->ring[l->appended++ % l->cap];
}

int event_log_foreach(const struct event_log *l, int (*cb)(const struct flow *ev, void *ctx),
		      void *ctx)
{
	uint64_t i = l->appended > l->cap ? l->appended - l->cap : 0;
	int ret;

	for (; i < l->appended; i++) {
		ret = cb(&l->ring[i % l->cap], ctx);
		if (ret)
			return ret;
	}
	return 0;
}

const struct flow *event_log_at(const struct event_log *l, uint64_t i)
{
	uint64_t first = l->appended > l->cap ? l->appended - l->cap : 0;

	return first + i < l->appended ? &l->ring[(first + i) % l->cap] : NULL;
}

const struct flow *event_log_oldest(const struct event_log *l)
{
	return event_log_at(l, 0);
}

const struct flow *event_log_newest(const struct event_log *l)
{
	return l->appended ? &l->ring[(l->appended - 1) % l->cap] : NULL;
}

size_t event_log_capacity(const struct event_log *l)
{
	return l->cap;
}

void event_log_get_stats(const struct event_log *l, struct event_log_stats *st)
{
	st->appended = l->appended;
	st->held = l->appended < l->cap ? l->appended : l->cap;
	st->overwritten = l->appended - st->held;
}
