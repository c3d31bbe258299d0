/* Followers (see include/flowscope/serve/follower.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/list.h"
#include "flowscope/pipeline/flow_view.h"
#include "flowscope/serve/follower.h"
#include "follower_int.h"

static const char *const api_names[FOLLOWER_APIS] = {"grpc", "http"};

struct follower_hub *follower_hub_new(struct flow_store *store, struct event_log *events,
				      struct flow_bus *bus, const char *node_name, uv_loop_t *loop)
{
	struct follower_hub *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->store = store;
	h->events = events;
	h->bus = bus;
	h->loop = loop;
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
	if (h)
		buf_free(&h->shared.bytes);
	free(h);
}

void follower_hub_set_marks(struct follower_hub *h, const struct follower_marks *m)
{
	h->have_marks = m && m->loop && m->watermark;
	if (h->have_marks)
		h->marks = *m;
}

uint64_t follower_collector_mark(const struct collector *c, uint64_t boot_ns)
{
	uint64_t wall = clock_to_wall(collector_clock(c), boot_ns);

	return wall > FOLLOWER_REORDER_NS ? wall - FOLLOWER_REORDER_NS : 0;
}

void follower_hub_get_stats(const struct follower_hub *h, struct follower_hub_stats *st)
{
	int i;

	st->followers = h->n_followers;
	for (i = 0; i < FOLLOWER_APIS; i++) {
		st->lost[i] = h->lost[i];
		st->late[i] = h->late[i];
	}
}

void follower_hub_foreach(const struct follower_hub *h,
			  void (*cb)(const char *name, uint64_t lost, void *ctx), void *ctx)
{
	struct follower *f, *tmp;

	list_for_each_safe(f, tmp, &h->followers, struct follower, node)
		cb(f->name, f->lost_total, ctx);
}

bool follower_wanted(const struct follower *fo, const struct flow *f)
{
	if (fo->req.since_ns && f->time_ns < fo->req.since_ns)
		return false;
	if (fo->req.until_ns && f->time_ns > fo->req.until_ns)
		return false;
	return flow_filter_set_match(fo->req.filters, f, &fo->hub->node);
}

/* A flow the client could not take: for its next notice, its API's total and its own count. */
void follower_count_lost(struct follower *fo)
{
	fo->lost++;
	fo->lost_total++;
	fo->hub->lost[fo->api]++;
}

static void on_lost_timer(uv_timer_t *t)
{
	follower_poke(t->data);
}

/* Pokes the follower again in ms: its held-back lost notice goes then, or once the client
 * makes room (a full queue pokes as it drains). */
static void poke_later(struct follower *fo, uint64_t ms)
{
	if (!fo->hub->loop)
		return; /* told with the next event */
	if (!fo->have_lost_timer) {
		uv_timer_init(fo->hub->loop, &fo->lost_timer);
		fo->lost_timer.data = fo;
		fo->have_lost_timer = true;
		fo->refs++; /* dropped when the timer is closed */
	}
	if (!uv_is_active((uv_handle_t *)&fo->lost_timer))
		uv_timer_start(&fo->lost_timer, on_lost_timer, ms, 0);
}

void follower_poke(struct follower *fo)
{
	uint64_t now;

	if (fo->catchup)
		follower_history_poke(fo);
	if (!fo->lost || fo->sink->full(fo->ctx))
		return;
	now = clock_wall_ns();
	if (now - fo->lost_sent_ns < NSEC_PER_SEC) {
		poke_later(fo, (NSEC_PER_SEC - (now - fo->lost_sent_ns)) / 1000000 + 1);
		return;
	}
	buf_reset(&fo->scratch);
	if (fo->sink->encode_lost(&fo->scratch, fo->lost, fo->hub->node_name, now, fo->ctx))
		return;
	if (!fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, true)) {
		fo->lost = 0;
		fo->lost_sent_ns = now;
	}
}

int follower_send_flow(struct follower *fo, const struct flow *f, bool force)
{
	int err;

	buf_reset(&fo->scratch);
	err = fo->sink->encode_flow(&fo->scratch, f, fo->hub->node_name, fo->ctx);
	err = err ?: fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, force);
	if (!err && f->time_ns < fo->mark_ns) {
		/* Below a watermark already sent: the one promise a follower can break, so it
		 * is never broken silently. */
		fo->hub->late[fo->api]++;
	}
	return err;
}

/* A live event to one follower: encoded once for every follower that wants the same encoding
 * of it (the bus hands the event to each in turn; its uuid tells it is the same one). */
static int send_live(struct follower *fo, const struct flow *f)
{
	static const uint8_t zero[16];
	struct follower_hub *h = fo->hub;
	uint64_t enc = fo->sink->encoding ? fo->sink->encoding(fo->ctx) : 0;
	int err;

	if (!enc || !memcmp(f->uuid, zero, sizeof(zero)))
		return follower_send_flow(fo, f, false);
	if (!h->shared.valid || h->shared.sink != fo->sink || h->shared.encoding != enc ||
	    memcmp(h->shared.uuid, f->uuid, sizeof(f->uuid))) {
		buf_reset(&h->shared.bytes);
		h->shared.valid = false;
		err = fo->sink->encode_flow(&h->shared.bytes, f, h->node_name, fo->ctx);
		if (err)
			return err;
		memcpy(h->shared.uuid, f->uuid, sizeof(f->uuid));
		h->shared.sink = fo->sink;
		h->shared.encoding = enc;
		h->shared.valid = true;
	}
	err = fo->sink->push(fo->ctx, h->shared.bytes.data, h->shared.bytes.len, false);
	if (!err && f->time_ns < fo->mark_ns)
		h->late[fo->api]++;
	return err;
}

/* until has passed: the stream is complete. */
static void end_live(struct follower *fo)
{
	flow_bus_unsubscribe(fo->hub->bus, fo->sub);
	fo->sub = NULL;
	fo->live = false;
	if (fo->have_timer)
		uv_timer_stop(&fo->timer);
	if (fo->sink->end)
		fo->sink->end(fo->ctx);
}

static void on_flow(const struct flow *f, void *arg)
{
	struct follower *fo = arg;

	if (fo->req.until_ns && f->time_ns > fo->req.until_ns) {
		end_live(fo);
		return;
	}
	if (!follower_wanted(fo, f))
		return;
	if (fo->sink->full(fo->ctx)) {
		follower_count_lost(fo);
		return;
	}
	follower_poke(fo);
	if (send_live(fo, f))
		follower_count_lost(fo);
}

/* The replay: the events (or, per flow, the store's flows) walked oldest first; the matches
 * kept in a ring of the newest `number` (LAST) or the first `number` (FIRST, ALL: all), then
 * sent in time order. */
struct replay {
	struct follower *fo;
	const struct flow **ring;
	uint64_t number, count;
	enum follower_replay mode; /* of the walk: ALL keeps every match */
};

static int replay_one(const struct flow *f, void *arg)
{
	struct replay *r = arg;

	if (!follower_wanted(r->fo, f))
		return 0;
	r->ring[r->count++ % r->number] = f;
	return r->mode != FOLLOWER_REPLAY_LAST && r->count >= r->number;
}

static int by_time(const void *a, const void *b)
{
	const struct flow *x = *(const struct flow *const *)a, *y = *(const struct flow *const *)b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int follower_replay_select(struct follower *fo, const struct flow ***out, size_t *out_n)
{
	struct follower_hub *h = fo->hub;
	bool per_flow = fo->req.per_flow || !h->events;
	size_t cap = per_flow ? flow_store_capacity(h->store) : event_log_capacity(h->events);
	struct replay r = {.fo = fo, .number = fo->req.number, .mode = fo->req.replay};
	uint64_t i, n, first, want, from = 0;
	bool select_by_time;

	*out = NULL;
	*out_n = 0;
	if (fo->req.replay == FOLLOWER_REPLAY_NONE ||
	    (fo->req.replay != FOLLOWER_REPLAY_ALL && !r.number))
		return 0;
	if (fo->req.replay == FOLLOWER_REPLAY_ALL || r.number > cap)
		r.number = cap; /* more than is held: all of it */
	/* The store is in order of the latest update, which is not its flows' time order (a flow's
	 * last packets may be published after a later one's first): the newest or oldest N flows
	 * are chosen by time, as the client sees them, among every match. */
	want = r.number;
	select_by_time = per_flow && !fo->in_order && fo->req.replay != FOLLOWER_REPLAY_ALL;
	if (select_by_time) {
		r.number = cap;
		r.mode = FOLLOWER_REPLAY_ALL;
	}
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
	 * order. A client reading times sees them in order; one that orders by watermarks (a
	 * relay) gets publication order, in which any uuid is a point to resume from. */
	if (!fo->in_order)
		qsort(r.ring, n, sizeof(*r.ring), by_time);
	if (select_by_time && n > want) {
		from = fo->req.replay == FOLLOWER_REPLAY_FIRST ? 0 : n - want;
		n = want;
		memmove(r.ring, r.ring + from, n * sizeof(*r.ring));
	}
	*out = r.ring;
	*out_n = n;
	return 0;
}

/* ---- resume ------------------------------------------------------------------------------- */

struct resume {
	uint64_t after; /* send the events numbered after this */
	bool all;	/* every event held */
};

static int send_gap(struct follower *fo, int source, uint64_t lost)
{
	int err;

	buf_reset(&fo->scratch);
	err = fo->sink->encode_gap(&fo->scratch, source, lost, fo->hub->node_name, clock_wall_ns(),
				   fo->ctx);
	return err ?: fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, true);
}

/* Where the resume point is in the log: r set for the replay; gap and source say what to
 * tell first (gap 0: nothing). -EINVAL when the point is of this run but not published yet. */
static int resume_point(const struct follower_hub *h, const uint8_t uuid[16], struct resume *r,
			uint64_t *gap, int *source, struct errmsg *e)
{
	const struct flow *oldest = event_log_oldest(h->events);
	const struct flow *newest = event_log_newest(h->events);
	uint64_t after, first = 0, last = 0;

	*gap = 0;
	if (flow_uuid_seq(uuid, &after))
		return errmsg_set(e, -EINVAL, "resume_after is not a uuid of a flow event");
	if (oldest && (flow_uuid_seq(oldest->uuid, &first) || flow_uuid_seq(newest->uuid, &last)))
		oldest = NULL; /* not a collector's log: nothing is of the same run */
	if (!oldest || !flow_uuid_same_session(newest->uuid, uuid)) {
		/* Published by an earlier run: its events after the point are gone with it. */
		r->all = true;
		*source = FOLLOWER_LOST_RESTARTED;
		*gap = first ? first - 1 : 0;
		return 0;
	}
	if (after > last)
		return errmsg_set(e, -EINVAL,
				  "resume_after names an event this server has not published (its "
				  "newest is number %llu, the uuid says %llu)",
				  (unsigned long long)last, (unsigned long long)after);
	r->after = after;
	*source = FOLLOWER_LOST_OVERWRITTEN;
	*gap = first > after + 1 ? first - after - 1 : 0;
	return 0;
}

int follower_resume_begin(struct follower *fo, bool *all, uint64_t *after, struct errmsg *e)
{
	struct resume r = {0};
	int source = FOLLOWER_LOST_OVERWRITTEN, err;
	uint64_t gap;

	err = resume_point(fo->hub, fo->req.resume_uuid, &r, &gap, &source, e);
	if (err)
		return err;
	if (source == FOLLOWER_LOST_RESTARTED || gap) {
		err = send_gap(fo, source, gap);
		if (err)
			return errmsg_set(e, err, "out of memory");
	}
	*all = r.all;
	*after = r.after;
	return 0;
}

/* ---- watermarks ---------------------------------------------------------------------------- */

/* Queues a watermark (force: after the replay; heartbeats wait while the client is behind).
 * The hub may publish first: that goes out before the watermark, which only speaks of later
 * events. A watermark past until ends the stream: no later event can be in the window. */
static int send_mark(struct follower *fo, bool force)
{
	struct follower_hub *h = fo->hub;
	uint64_t w = h->marks.watermark(h->marks.ctx);
	int err;

	if (!force && !fo->live)
		return 0; /* publishing ended the stream (until passed) */
	if (w < fo->mark_ns)
		w = fo->mark_ns; /* the clock was set back: never a watermark below the last */
	buf_reset(&fo->scratch);
	err = fo->sink->encode_mark(&fo->scratch, h->node_name, w, fo->ctx);
	err = err ?: fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, force);
	if (!err)
		fo->mark_ns = w;
	if (fo->live && fo->req.until_ns && fo->mark_ns > fo->req.until_ns)
		end_live(fo);
	return err == -ENOBUFS ? 0 : err;
}

static void on_heartbeat(uv_timer_t *t)
{
	struct follower *fo = t->data;

	follower_poke(fo);
	if (fo->live && !fo->sink->full(fo->ctx))
		send_mark(fo, false);
}

/* What the request asks that the hub or the API cannot do. */
static int check_request(const struct follower_hub *h, const struct follower_req *req,
			 const struct follower_sink *sink, struct errmsg *e)
{
	if (req->since_ns && req->until_ns && req->until_ns < req->since_ns)
		return errmsg_set(e, -EINVAL, "until is before since");
	if (req->heartbeat_ms && (!h->have_marks || !sink->encode_mark))
		return errmsg_set(e, -EINVAL, "heartbeat_ms is not served here");
	if (!req->resume)
		return 0;
	if (req->replay != FOLLOWER_REPLAY_NONE || req->per_flow)
		return errmsg_set(e, -EINVAL,
				  "resume_after cannot be combined with number, first or per_flow");
	if (!h->events || !sink->encode_gap)
		return errmsg_set(e, -EINVAL, "resume_after is not served here");
	return 0;
}

int follower_go_live(struct follower *fo)
{
	const struct follower_req *req = &fo->req;
	struct follower_hub *h = fo->hub;

	if (req->follow && (!req->until_ns || req->until_ns >= clock_wall_ns())) {
		fo->sub = flow_bus_subscribe(h->bus, on_flow, fo);
		if (!fo->sub)
			return -ENOMEM;
		fo->live = true;
	}
	if (!req->heartbeat_ms)
		return 0;
	if (fo->live) {
		uint64_t ms = req->heartbeat_ms < FOLLOWER_HEARTBEAT_MIN_MS
				      ? FOLLOWER_HEARTBEAT_MIN_MS
				      : req->heartbeat_ms;

		uv_timer_init(h->marks.loop, &fo->timer);
		fo->timer.data = fo;
		fo->have_timer = true;
		uv_timer_start(&fo->timer, on_heartbeat, ms, ms);
	}
	return send_mark(fo, true);
}

/* The replay or resume (in steps, follower_history.c), which then goes live; else at once
 * (following) the subscription and the first watermark. */
static int start_stream(struct follower *fo, struct errmsg *e)
{
	int err;

	if (follower_history_wants(fo))
		return follower_history_start(fo, e);
	err = follower_go_live(fo);
	return err ? errmsg_set(e, err, "out of memory") : 0;
}

int follower_start(struct follower **out, struct follower_hub *h, enum follower_api api,
		   const struct follower_req *req, const struct follower_sink *sink, void *ctx,
		   struct errmsg *e)
{
	struct follower *fo;
	int err;

	*out = NULL;
	err = check_request(h, req, sink, e);
	if (err) {
		flow_filter_set_free(req->filters);
		return err;
	}
	fo = calloc(1, sizeof(*fo));
	if (!fo) {
		flow_filter_set_free(req->filters);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	fo->refs = 1;
	fo->hub = h;
	fo->api = api;
	fo->req = *req;
	fo->sink = sink;
	fo->ctx = ctx;
	fo->in_order = req->heartbeat_ms || req->resume;
	snprintf(fo->name, sizeof(fo->name), "%s-%llu", api_names[api],
		 (unsigned long long)++h->next_id[api]);
	list_add_tail(&h->followers, &fo->node);
	h->n_followers++;
	if (h->greet)
		h->greet(fo, h->greet_ctx);
	fo->starting = true;
	err = start_stream(fo, e);
	fo->starting = false;
	if (err) {
		follower_stop(fo);
		return err;
	}
	*out = fo;
	return 0;
}

void follower_node_status(struct follower *fo, int state, const char *const *names, size_t n,
			  const char *message)
{
	if (!fo->sink->encode_status)
		return;
	buf_reset(&fo->scratch);
	if (!fo->sink->encode_status(&fo->scratch, state, names, n, message, fo->hub->node_name,
				     clock_wall_ns(), fo->ctx))
		fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, true);
}

void follower_hub_node_status(struct follower_hub *h, int state, const char *const *names, size_t n,
			      const char *message)
{
	struct follower *fo, *tmp;

	list_for_each_safe(fo, tmp, &h->followers, struct follower, node) if (fo->live)
		follower_node_status(fo, state, names, n, message);
}

int follower_send_lost(struct follower *fo, int source, uint64_t lost)
{
	uint64_t now = clock_wall_ns();
	int err;

	buf_reset(&fo->scratch);
	err = fo->sink->encode_gap
		      ? fo->sink->encode_gap(&fo->scratch, source, lost, fo->hub->node_name, now,
					     fo->ctx)
		      : fo->sink->encode_lost(&fo->scratch, lost, fo->hub->node_name, now, fo->ctx);
	return err ?: fo->sink->push(fo->ctx, fo->scratch.data, fo->scratch.len, true);
}

void follower_hub_lost(struct follower_hub *h, int source, uint64_t lost)
{
	struct follower *fo, *tmp;

	list_for_each_safe(fo, tmp, &h->followers, struct follower, node) if (fo->live)
		follower_send_lost(fo, source, lost);
}

void follower_hub_set_greeting(struct follower_hub *h,
			       void (*greet)(struct follower *fo, void *ctx), void *ctx)
{
	h->greet = greet;
	h->greet_ctx = ctx;
}

bool follower_live(const struct follower *fo)
{
	return fo->live || fo->catchup;
}

void follower_hub_set_history(struct follower_hub *h, struct history *history)
{
	h->history = history;
}

void follower_hub_set_archive(struct follower_hub *h, const struct follower_archive *a)
{
	h->archive = a ? *a : (struct follower_archive){0};
}

void follower_unref(struct follower *fo)
{
	if (!--fo->refs)
		free(fo);
}

static void on_timer_closed(uv_handle_t *t)
{
	follower_unref(t->data);
}

void follower_stop(struct follower *fo)
{
	if (!fo)
		return;
	if (fo->sub)
		flow_bus_unsubscribe(fo->hub->bus, fo->sub);
	list_del(&fo->node);
	fo->hub->n_followers--;
	follower_history_stop(fo); /* its archive query reads the filters */
	flow_filter_set_free(fo->req.filters);
	buf_free(&fo->scratch);
	if (fo->have_timer) {
		fo->refs++;
		uv_close((uv_handle_t *)&fo->timer, on_timer_closed);
	}
	if (fo->have_lost_timer)
		uv_close((uv_handle_t *)&fo->lost_timer, on_timer_closed); /* its reference */
	follower_unref(fo);
}
