/* Followers (see include/flowscope/serve/follower.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/list.h"
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
	uint64_t next_id[FOLLOWER_APIS];
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
	struct buf scratch;
};

static const char *const api_names[FOLLOWER_APIS] = {"grpc", "http"};

struct follower_hub *follower_hub_new(struct flow_store *store, struct event_log *events,
				      struct flow_bus *bus, const char *node_name)
{
	struct follower_hub *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->store = store;
	h->events = events;
	h->bus = bus;
	snprintf(h->node_name, sizeof(h->node_name), "%s", node_name ? node_name : "");
	h->node.name = h->node_name;
	list_init(&h->followers);
	return h;
}

const struct filter_node *follower_hub_node(const struct follower_hub *h)
{
	return &h->node;
}

void follower_hub_set_node_labels(struct follower_hub *h, char *const *labels, size_t n)
{
	h->node.labels = labels;
	h->node.n_labels = n;
}

void follower_hub_free(struct follower_hub *h)
{
	free(h);
}

void follower_hub_get_stats(const struct follower_hub *h, struct follower_hub_stats *st)
{
	int i;

	st->followers = h->n_followers;
	for (i = 0; i < FOLLOWER_APIS; i++)
		st->lost[i] = h->lost[i];
}

void follower_hub_foreach(const struct follower_hub *h,
			  void (*cb)(const char *name, uint64_t lost, void *ctx), void *ctx)
{
	struct follower *f, *tmp;

	list_for_each_safe(f, tmp, &h->followers, struct follower, node)
		cb(f->name, f->lost_total, ctx);
}

static bool wanted(const struct follower *fo, const struct flow *f)
{
	if (fo->req.since_ns && f->time_ns < fo->req.since_ns)
		return false;
	if (fo->req.until_ns && f->time_ns > fo->req.until_ns)
		return false;
	return flow_filter_set_match(fo->req.filters, f, &fo->hub->node);
}

/* A flow the client could not take: for its next notice, its API's total and its own count. */
static void count_lost(struct follower *fo)
{
	fo->lost++;
	fo->lost_total++;
	fo->hub->lost[fo->api]++;
}

void follower_poke(struct follower *fo)
{
	uint64_t now;

	if (!fo->lost || fo->sink->full(fo->ctx))
		return;
	now = clock_wall_ns();
	if (now - fo->lost_sent_ns < NSEC_PER_SEC)
		return;
	buf_reset(&fo->scratch);
	if (fo->sink->encode_lost(&fo->scratch, fo->lost, fo->hub->node_name, now, fo->ctx))
		return;
	if (!fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, true)) {
		fo->lost = 0;
		fo->lost_sent_ns = now;
	}
}

static int send_flow(struct follower *fo, const struct flow *f, bool force)
{
	int err;

	buf_reset(&fo->scratch);
	err = fo->sink->encode_flow(&fo->scratch, f, fo->hub->node_name, fo->ctx);
	return err ?: fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, force);
}

static void on_flow(const struct flow *f, void *arg)
{
	struct follower *fo = arg;

	if (fo->req.until_ns && f->time_ns > fo->req.until_ns) {
		flow_bus_unsubscribe(fo->hub->bus, fo->sub);
		fo->sub = NULL;
		fo->live = false;
		if (fo->sink->end)
			fo->sink->end(fo->ctx);
		return;
	}
	if (!wanted(fo, f))
		return;
	if (fo->sink->full(fo->ctx)) {
		count_lost(fo);
		return;
	}
	follower_poke(fo);
	if (send_flow(fo, f, false))
		count_lost(fo);
}

/* The replay: the events (or, per flow, the store's flows) walked oldest first; the matches
 * kept in a ring of the newest `number` (LAST) or the first `number` (FIRST, ALL: all), then
 * sent in time order. */
struct replay {
	struct follower *fo;
	const struct flow **ring;
	uint64_t number, count;
};

static int replay_one(const struct flow *f, void *arg)
{
	struct replay *r = arg;

	if (!wanted(r->fo, f))
		return 0;
	r->ring[r->count++ % r->number] = f;
	return r->fo->req.replay != FOLLOWER_REPLAY_LAST && r->count >= r->number;
}

static int by_time(const void *a, const void *b)
{
	const struct flow *x = *(const struct flow *const *)a, *y = *(const struct flow *const *)b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int replay(struct follower *fo)
{
	struct follower_hub *h = fo->hub;
	bool per_flow = fo->req.per_flow || !h->events;
	size_t cap = per_flow ? flow_store_capacity(h->store) : event_log_capacity(h->events);
	struct replay r = {.fo = fo, .number = fo->req.number};
	uint64_t i, n, first;
	int err = 0;

	if (fo->req.replay == FOLLOWER_REPLAY_NONE ||
	    (fo->req.replay != FOLLOWER_REPLAY_ALL && !r.number))
		return 0;
	if (fo->req.replay == FOLLOWER_REPLAY_ALL || r.number > cap)
		r.number = cap; /* more than is held: all of it */
	r.ring = calloc(r.number, sizeof(*r.ring));
	if (!r.ring)
		return -ENOMEM;
	if (per_flow)
		flow_store_foreach_last(h->store, cap, replay_one, &r);
	else
		event_log_foreach(h->events, replay_one, &r);
	n = r.count < r.number ? r.count : r.number;
	first = r.count - n;
	if (first % r.number) {
		/* Unroll the ring so that the kept matches are in order of arrival. */
		const struct flow **sorted = calloc(n, sizeof(*sorted));

		if (!sorted) {
			free(r.ring);
			return -ENOMEM;
		}
		for (i = 0; i < n; i++)
			sorted[i] = r.ring[(first + i) % r.number];
		free(r.ring);
		r.ring = sorted;
	}
	/* Events of one flow come from several CPUs' rings: arrival is almost, not quite, time
	 * order. A client reading times sees them in order. */
	qsort(r.ring, n, sizeof(*r.ring), by_time);
	for (i = 0; i < n && !err; i++)
		err = send_flow(fo, r.ring[i], true);
	free(r.ring);
	return err;
}

int follower_start(struct follower **out, struct follower_hub *h, enum follower_api api,
		   const struct follower_req *req, const struct follower_sink *sink, void *ctx,
		   struct errmsg *e)
{
	struct follower *fo;
	int err;

	*out = NULL;
	if (req->since_ns && req->until_ns && req->until_ns < req->since_ns) {
		flow_filter_set_free(req->filters);
		return errmsg_set(e, -EINVAL, "until is before since");
	}
	fo = calloc(1, sizeof(*fo));
	if (!fo) {
		flow_filter_set_free(req->filters);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	fo->hub = h;
	fo->api = api;
	fo->req = *req;
	fo->sink = sink;
	fo->ctx = ctx;
	snprintf(fo->name, sizeof(fo->name), "%s-%llu", api_names[api],
		 (unsigned long long)++h->next_id[api]);
	list_add_tail(&h->followers, &fo->node);
	h->n_followers++;
	err = replay(fo);
	if (!err && req->follow && (!req->until_ns || req->until_ns >= clock_wall_ns())) {
		fo->sub = flow_bus_subscribe(h->bus, on_flow, fo);
		err = fo->sub ? 0 : -ENOMEM;
		fo->live = fo->sub != NULL;
	}
	if (err) {
		follower_stop(fo);
		return errmsg_set(e, err, "out of memory");
	}
	*out = fo;
	return 0;
}

bool follower_live(const struct follower *fo)
{
	return fo->live;
}

void follower_stop(struct follower *fo)
{
	if (!fo)
		return;
	if (fo->sub)
		flow_bus_unsubscribe(fo->hub->bus, fo->sub);
	list_del(&fo->node);
	fo->hub->n_followers--;
	flow_filter_set_free(fo->req.filters);
	buf_free(&fo->scratch);
	free(fo);
}
