/* Replays in steps (see follower_hub_set_history and follower_hub_set_archive in
 * include/flowscope/serve/follower.h), one timeline from two sources:
 * - flowd: the history (earlier runs, this run's blocks, its open block) up to the first event
 *   the event log also holds, then the log, which holds every event of its run from its oldest
 *   on - also those a history that stopped for a while (a full disk) missed; a jump in one run's
 *   numbers that neither holds is told as lost; a client slower than the log goes back to the
 *   history for what the log overwrote;
 * - a relay: its archive (ClickHouse) for everything before the log's oldest event's time, then
 *   the log from that time on;
 * - without either (--no-history, or a relay's window the log covers): the log alone; a resumed
 *   stream: the log from its point; per flow: the store's flows chosen at the request.
 * Each step reads at most CATCHUP_STEP events and runs when the client has room, so neither the
 * loop nor the client's queue grows with the history's size; when the newest event is sent the
 * follower goes live with nothing missed (one thread: nothing is published in between).
 *
 * Order: the sources are in publication order, which strays from time order by at most the
 * probes' reordering; matches wait in a window until every event FOLLOWER_REORDER_NS newer has
 * been read and leave it sorted (first N counted as they leave: the oldest N). Streams in
 * publication order (relays) skip the window. LAST N counts the log's matches first, then the
 * history's block by block back from before the log (also in steps), and sends forwards from
 * the N-th. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/pipeline/flow_view.h"
#include "follower_int.h"

#define CATCHUP_STEP 4096
/* ... and adds at most this much to the window of matches waiting to be sent in time order,
 * which a step sends at its end whatever the client's queue holds. */
#define CATCHUP_STEP_BYTES (256 * 1024)

enum phase {
	PH_COUNT, /* LAST: counting matches back, block by block */
	PH_HISTORY,
	PH_ARCHIVE, /* a relay's archive: what is older than its event log */
	PH_LOG,	    /* the event log: from where the history reaches it (flowd), or from the
		     * archive's split time on (a relay), or from a resume point, or all of it */
	PH_FLOWS,   /* per flow: the store's flows chosen at the request */
	PH_DONE,
};

struct pending {
	uint64_t time_ns, seq;
	size_t off, len;
};

struct catchup {
	uv_timer_t step; /* first: its close frees the catch-up; data is the follower */
	bool armed;
	enum phase phase;
	struct history_cursor *cur;
	uint64_t skip;	/* matches to pass first (LAST) */
	uint64_t left;	/* matches still to send */
	uint64_t count; /* LAST: matches counted so far */
	uint64_t count_no;
	/* Not following: the end as it was at the request. */
	bool bounded;
	uint64_t end_no;
	uint32_t end_events;
	/* The uuid of the last event the history gave (its run and number). */
	bool have_last;
	uint8_t last_uuid[16];
	/* The window: pend[head, n_sorted) in time order (what a release kept), then what steps
	 * added since, up to n_pend; before head, matches sent (moved out once they are most of
	 * the array: a window drained a little at a time is not moved at every release). Their
	 * bytes in pbuf, of which dead bytes belong to matches already sent. merge: scratch for
	 * merging the two, cap_pend long. */
	struct pending *pend, *merge;
	size_t head, n_pend, n_sorted, cap_pend;
	struct buf pbuf;
	size_t dead;
	uint64_t max_ns;
	/* The log: the next position (as counted by event_log_stats.appended), where it ended at
	 * the request, matches to pass first (LAST). With an archive: its query and the time up
	 * to which it answers (0: no split). */
	uint64_t log_pos, log_end, log_skip;
	void *aq;
	uint64_t split_ns;
	uint8_t (*split_uuids)[16]; /* the archive's events at split_ns */
	size_t n_split, cap_split;
	bool count_mem; /* LAST: the log's events from count_from on were counted */
	uint64_t count_from;
	uint8_t mem_head[16]; /* a uuid of the log's run */
	uint64_t want;	      /* LAST: matches the history must give (those the log lacks) */
	bool wait;	      /* the archive said "not yet": the next step after a pause */
	struct flow f;	      /* the event being read */
	/* Per flow: the store's flows in the order to send, each with its id when chosen (its
	 * slot holds another flow once the store evicted it). */
	const struct flow **flows;
	uint64_t *flow_ids;
	size_t n_flows, flows_pos;
};

#define ARCHIVE_WAIT_MS 20

bool follower_history_wants(const struct follower *fo)
{
	const struct follower_req *r = &fo->req;

	return r->resume || (r->replay != FOLLOWER_REPLAY_NONE &&
			     (r->replay == FOLLOWER_REPLAY_ALL || r->number));
}

/* A relay's archive is read only for what the log cannot answer alone: a window reaching
 * before its oldest event, the oldest N, or the newest N (counted at start: maybe not needed). */
static bool archive_wanted(const struct follower *fo)
{
	const struct follower_req *r = &fo->req;
	const struct follower_hub *h = fo->hub;
	const struct flow *old;

	if (!h->archive.start || !h->events)
		return false;
	old = event_log_oldest(h->events);
	return r->replay != FOLLOWER_REPLAY_ALL ||
	       (r->since_ns && (!old || r->since_ns < old->time_ns));
}

/* The event log's matches now. */
static uint64_t log_matches(const struct follower *fo)
{
	const struct event_log *l = fo->hub->events;
	struct event_log_stats st;
	uint64_t m = 0;

	event_log_get_stats(l, &st);
	for (uint64_t i = 0; i < st.held; i++)
		m += follower_wanted(fo, event_log_at(l, i));
	return m;
}

/* ---- sending, in time order ------------------------------------------------------------- */

/* May the step that began with the window at base bytes read another event? */
static bool step_room(const struct catchup *c, size_t base)
{
	return c->pbuf.len - base < CATCHUP_STEP_BYTES;
}

static int by_time(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Puts the window in time order: the matches steps added since the last release are sorted
 * and merged with the ones it kept, already in order (a burst denser than the reordering bound
 * keeps the whole window waiting: sorting it all again at every step would be quadratic). */
static void sort_window(struct catchup *c)
{
	struct pending *a = c->pend + c->head, *b = c->pend + c->n_sorted;
	struct pending *end = c->pend + c->n_pend, *out = c->merge;

	if (c->n_sorted == c->n_pend)
		return;
	qsort(b, (size_t)(end - b), sizeof(*b), by_time);
	if (c->n_sorted > c->head && by_time(b - 1, b) > 0) {
		struct pending *mid = b;

		while (a < mid && b < end)
			*out++ = by_time(a, b) <= 0 ? *a++ : *b++;
		while (a < mid)
			*out++ = *a++;
		while (b < end)
			*out++ = *b++;
		memcpy(c->pend + c->head, c->merge, (c->n_pend - c->head) * sizeof(*c->pend));
	}
	c->n_sorted = c->n_pend;
}

/* Sends the waiting matches no later event can precede: at once, as a step's events are (what
 * stays holds a client's memory outside its queue and the follow budget); with all, every one,
 * as the client makes room (at the end of a replay, the window may be a whole burst). */
static int release(struct follower *fo, bool all)
{
	struct catchup *c = fo->catchup;
	uint64_t bound = c->max_ns > FOLLOWER_REORDER_NS ? c->max_ns - FOLLOWER_REORDER_NS : 0;
	size_t i, k;
	int err = 0;

	if (c->head == c->n_pend)
		return 0;
	sort_window(c);
	for (i = c->head; i < c->n_pend && !err; i++) {
		if (!all && c->pend[i].time_ns > bound)
			break;
		if (!c->left) { /* the oldest N are out: the rest goes */
			i = c->n_pend;
			break;
		}
		if (all && fo->sink->full(fo->ctx))
			break; /* the rest when the client makes room */
		err = fo->sink->push(fo->ctx, c->pbuf.data + c->pend[i].off, c->pend[i].len, true);
		c->dead += c->pend[i].len;
		if (c->left != UINT64_MAX)
			c->left--;
	}
	c->head = i;
	if (c->head > c->n_pend - c->head) {
		c->n_pend -= c->head;
		memmove(c->pend, c->pend + c->head, c->n_pend * sizeof(*c->pend));
		c->head = 0;
	}
	c->n_sorted = c->n_pend;
	if (c->head == c->n_pend) {
		buf_free(&c->pbuf); /* a stalled client keeps no step's worth of room */
		c->dead = 0;
	} else if (c->dead > c->pbuf.len / 2) {
		/* Mostly sent: the rest moves to a buffer of its own (at most what was sent since
		 * the last move is copied, so each byte is copied a bounded number of times). */
		struct buf rest = BUF_INIT;

		for (k = c->head; k < c->n_pend && !err; k++) {
			err = buf_append(&rest, c->pbuf.data + c->pend[k].off, c->pend[k].len);
			c->pend[k].off = rest.len - c->pend[k].len;
		}
		buf_free(&c->pbuf);
		c->pbuf = rest;
		c->dead = 0;
	}
	return err;
}

/* One match: sent at once in publication order, else into the window (counted against first
 * N as it leaves the window, in time order: the oldest N, not the first N published). */
static int take(struct follower *fo, const struct flow *f)
{
	struct catchup *c = fo->catchup;
	size_t before;
	int err;

	if (f->time_ns > c->max_ns)
		c->max_ns = f->time_ns;
	if (fo->in_order) {
		if (c->left != UINT64_MAX)
			c->left--;
		return follower_send_flow(fo, f, true);
	}
	if (c->n_pend == c->cap_pend) {
		size_t cap = c->cap_pend ? c->cap_pend * 2 : 256;
		struct pending *n = realloc(c->pend, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->pend = n;
		n = realloc(c->merge, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->merge = n;
		c->cap_pend = cap;
	}
	before = c->pbuf.len;
	err = fo->sink->encode_flow(&c->pbuf, f, fo->hub->node_name, fo->ctx);
	if (err)
		return err;
	c->pend[c->n_pend++] = (struct pending){f->time_ns, f->seq, before, c->pbuf.len - before};
	return 0;
}

/* ---- the notice for a since before the history ------------------------------------------ */

static void tell_start(struct follower *fo)
{
	struct history_stats st;
	char when[CLOCK_UTC_LEN], msg[200];

	if (!fo->req.since_ns || !fo->sink->encode_status)
		return;
	history_get_stats(fo->hub->history, &st);
	if (st.oldest_ns && st.oldest_ns <= fo->req.since_ns)
		return;
	if (st.oldest_ns) {
		clock_utc(st.oldest_ns, when);
		snprintf(msg, sizeof(msg),
			 "history: the oldest flow event kept is from %s; nothing before it is "
			 "kept%s",
			 when, st.dropped ? " (older ones were dropped by retention)" : "");
	} else {
		snprintf(msg, sizeof(msg), "history: no flow events are kept yet");
	}
	follower_node_status(fo, 0, NULL, 0, msg);
}

/* ---- the steps ------------------------------------------------------------------------------ */

/* Not following: past what the history held at the request. */
static bool past_end(const struct catchup *c)
{
	uint64_t no = history_cursor_block(c->cur);

	return c->bounded && (no > c->end_no ||
			      (no == c->end_no && history_cursor_index(c->cur) > c->end_events));
}

static bool flow_seq_ge(const struct flow *f, uint64_t n)
{
	uint64_t seq;

	return !flow_uuid_seq(f->uuid, &seq) && seq >= n;
}

/* Is f (read from the history) also in the event log now? From there on the log, which holds
 * every event of its run from its oldest on, is read instead: it has what the history may have
 * missed while stopped. */
static bool in_memory(const struct follower *fo, const struct flow *f)
{
	const struct flow *old = fo->hub->events ? event_log_oldest(fo->hub->events) : NULL;
	uint64_t first, seq;

	return old && flow_uuid_same_session(old->uuid, f->uuid) &&
	       !flow_uuid_seq(old->uuid, &first) && !flow_uuid_seq(f->uuid, &seq) && seq >= first;
}

/* A jump in one run's numbers between two events of the history: what it lost (stopped). */
static void tell_jump(struct follower *fo, const struct flow *f)
{
	struct catchup *c = fo->catchup;
	uint64_t prev, seq;

	if (c->have_last && flow_uuid_same_session(c->last_uuid, f->uuid) &&
	    !flow_uuid_seq(c->last_uuid, &prev) && !flow_uuid_seq(f->uuid, &seq) && seq > prev + 1)
		follower_send_lost(fo, FOLLOWER_LOST_OVERWRITTEN, seq - prev - 1);
}

/* The log position of event number seq of the log's run (a collector's log: numbered without
 * gaps from its oldest); past the newest, the next one to come. */
static uint64_t log_pos_of(const struct event_log *l, uint64_t seq)
{
	const struct flow *old = event_log_oldest(l);
	struct event_log_stats st;
	uint64_t first;

	event_log_get_stats(l, &st);
	if (!old || flow_uuid_seq(old->uuid, &first) || seq < first)
		return st.overwritten;
	return seq - first < st.held ? st.overwritten + (seq - first) : st.appended;
}

/* The event log from the one after the last the history gave of this run (or the log's
 * oldest): what the history has not given yet, the gap before it told. */
static void enter_memory(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	const struct event_log *l = fo->hub->events;
	const struct flow *old = l ? event_log_oldest(l) : NULL;
	uint64_t first, expected = 1;

	c->phase = PH_DONE;
	if (!old || flow_uuid_seq(old->uuid, &first))
		return;
	if (c->have_last && flow_uuid_same_session(c->last_uuid, old->uuid) &&
	    !flow_uuid_seq(c->last_uuid, &expected))
		expected++;
	if (first > expected)
		follower_send_lost(fo, FOLLOWER_LOST_OVERWRITTEN, first - expected);
	c->log_pos = log_pos_of(l, expected > first ? expected : first);
	c->phase = PH_LOG;
}

/* LAST: one block's matches counted; once they reach N, the forward pass starts in it. */
static int step_count(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	struct history_block prev;
	uint64_t m = 0;
	int r;

	history_cursor_seek(c->cur, c->count_no);
	r = history_cursor_next(c->cur, &c->f);
	while (r == 1 && history_cursor_block(c->cur) == c->count_no) {
		if (c->count_no == c->end_no && history_cursor_index(c->cur) > c->end_events)
			break;
		/* What the log had at the start it counted already. */
		m += follower_wanted(fo, &c->f) &&
		     !(c->count_mem && flow_uuid_same_session(c->f.uuid, c->mem_head) &&
		       flow_seq_ge(&c->f, c->count_from));
		r = history_cursor_next_in_block(c->cur, &c->f);
	}
	if (r < 0)
		return r;
	if (c->count + m >= c->want) {
		c->skip = c->count + m - c->want;
		c->phase = PH_HISTORY;
		history_cursor_seek(c->cur, c->count_no);
		return 0;
	}
	c->count += m;
	if (history_prev_block(fo->hub->history, c->count_no, &prev) &&
	    !(fo->req.since_ns && prev.max_ns < fo->req.since_ns)) {
		c->count_no = prev.no;
		return 0;
	}
	c->phase = PH_HISTORY; /* fewer than N: all of them */
	history_cursor_seek(c->cur, 1);
	return 0;
}

static int step_history(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	size_t base = c->pbuf.len;
	int err = 0, r;

	for (int i = 0; i < CATCHUP_STEP && !err && c->phase == PH_HISTORY && step_room(c, base);
	     i++) {
		if (fo->sink->full(fo->ctx))
			break;
		r = history_cursor_next(c->cur, &c->f);
		if (r < 0)
			return r;
		if (!r || past_end(c) || in_memory(fo, &c->f)) {
			/* The window stays: the log's first events may be older than the history's
			 * last ones (the order of the rings), and finish() empties it. */
			err = release(fo, false);
			enter_memory(fo);
			break;
		}
		tell_jump(fo, &c->f);
		c->have_last = true;
		memcpy(c->last_uuid, c->f.uuid, sizeof(c->last_uuid));
		if (!follower_wanted(fo, &c->f))
			continue;
		if (c->skip) {
			c->skip--;
			continue;
		}
		err = take(fo, &c->f);
	}
	err = err ?: release(fo, false);
	if (!err && !c->left)
		c->phase = PH_DONE; /* the oldest N sent */
	return err;
}

/* The log overwrote what a slow client was to get from it next (event seq on, of old's run):
 * back to the history at that event when it has it. True when the replay goes on there. */
static bool back_to_history(struct follower *fo, const struct flow *old, uint64_t seq)
{
	struct catchup *c = fo->catchup;
	struct history_block b;
	bool found;
	struct flow f;
	int i;

	if (!c->cur)
		return false;
	for (found = history_last_block(fo->hub->history, &b); found;
	     found = history_prev_block(fo->hub->history, b.no, &b))
		if (!memcmp(b.session, old->uuid, sizeof(b.session)) && b.first_seq <= seq)
			break;
	if (!found || b.last_seq < seq)
		return false;
	history_cursor_seek(c->cur, b.no);
	if (history_cursor_next(c->cur, &f) != 1 || history_cursor_block(c->cur) != b.no)
		return false;
	for (i = 1; (uint64_t)i < seq - b.first_seq; i++)
		if (history_cursor_next_in_block(c->cur, &f) != 1)
			return false;
	/* f is the event before seq (or seq itself when it starts the block: read again).
	 */
	if (b.first_seq == seq) {
		history_cursor_seek(c->cur, b.no);
		c->have_last = false;
	} else {
		memcpy(c->last_uuid, f.uuid, sizeof(c->last_uuid));
		c->have_last = true;
	}
	c->phase = PH_HISTORY;
	return true;
}

/* ---- per flow -------------------------------------------------------------------------------- */

/* The store's flows, chosen at the request as a replay at once chooses them; each sent in its
 * state when its turn comes, or counted lost when the store evicted it meanwhile. */
static int flows_start(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	int err = follower_replay_select(fo, &c->flows, &c->n_flows);

	if (err)
		return err;
	c->flow_ids = malloc((c->n_flows ? c->n_flows : 1) * sizeof(*c->flow_ids));
	if (!c->flow_ids)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_flows; i++)
		c->flow_ids[i] = c->flows[i]->id;
	c->phase = PH_FLOWS;
	return 0;
}

static int step_flows(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	int err = 0;

	for (int i = 0; i < CATCHUP_STEP && !err && c->flows_pos < c->n_flows; i++) {
		size_t k;

		if (fo->sink->full(fo->ctx))
			return 0;
		k = c->flows_pos++;
		if (c->flows[k]->id == c->flow_ids[k])
			err = follower_send_flow(fo, c->flows[k], true);
		else
			follower_count_lost(fo);
	}
	if (!err && c->flows_pos == c->n_flows)
		c->phase = PH_DONE;
	return err;
}

/* ---- a relay's archive ---------------------------------------------------------------------- */

static void archive_end(struct follower *fo)
{
	struct catchup *c = fo->catchup;

	if (c->aq)
		fo->hub->archive.stop(c->aq);
	c->aq = NULL;
	c->phase = PH_LOG;
}

/* The uuids the archive gave at the split time, so that the log does not give them again. */
static int at_split_add(struct catchup *c, const struct flow *f)
{
	if (c->n_split == c->cap_split) {
		size_t cap = c->cap_split ? c->cap_split * 2 : 16;
		uint8_t(*n)[16] = realloc(c->split_uuids, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->split_uuids = n;
		c->cap_split = cap;
	}
	memcpy(c->split_uuids[c->n_split++], f->uuid, 16);
	return 0;
}

static bool at_split_seen(const struct catchup *c, const struct flow *f)
{
	for (size_t i = 0; i < c->n_split; i++)
		if (!memcmp(c->split_uuids[i], f->uuid, 16))
			return true;
	return false;
}

static int step_archive(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	struct errmsg e = {""};
	size_t base = c->pbuf.len;
	int err = 0, r;

	for (int i = 0; i < CATCHUP_STEP && !err && c->phase == PH_ARCHIVE && step_room(c, base);
	     i++) {
		if (fo->sink->full(fo->ctx))
			break;
		r = fo->hub->archive.next(c->aq, &c->f, &e);
		if (r == -EAGAIN) {
			c->wait = true;
			break;
		}
		if (r < 0) {
			char msg[300];

			snprintf(msg, sizeof(msg), "history: the archive failed: %s", e.text);
			follower_node_status(fo, 0, NULL, 0, msg);
		}
		if (r <= 0) {
			err = release(fo, false);
			archive_end(fo);
			break;
		}
		if (!follower_wanted(fo, &c->f))
			continue;
		if (c->f.time_ns == c->split_ns)
			err = at_split_add(c, &c->f);
		err = err ?: take(fo, &c->f);
	}
	err = err ?: release(fo, false);
	if (!err && !c->left) {
		archive_end(fo);
		c->phase = PH_DONE;
	}
	return err;
}

/* The log n events back from its oldest, which it no longer holds: from the history, when there
 * is one that has them. */
static bool rewind_to_history(struct follower *fo, uint64_t n)
{
	const struct flow *old = event_log_oldest(fo->hub->events);
	uint64_t first;

	return fo->catchup->cur && old && !flow_uuid_seq(old->uuid, &first) && first > n &&
	       back_to_history(fo, old, first - n);
}

/* The log from where the replay reached it (the history's end, or the archive's split: events
 * before the split time came from the archive), as it was at the start when not following;
 * what it overwrote meanwhile comes from the history, or is told as lost. */
static int step_log(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	const struct event_log *l = fo->hub->events;
	size_t base = c->pbuf.len;
	int err = 0;

	for (int i = 0; i < CATCHUP_STEP && !err && step_room(c, base); i++) {
		struct event_log_stats st;
		const struct flow *f;

		if (fo->sink->full(fo->ctx))
			return 0;
		event_log_get_stats(l, &st);
		if (c->log_pos >= st.appended || (c->bounded && c->log_pos >= c->log_end) ||
		    !c->left)
			break;
		if (c->log_pos < st.overwritten) { /* overwritten while the client was slow */
			if (rewind_to_history(fo, st.overwritten - c->log_pos))
				return release(fo, false);
			follower_send_lost(fo, FOLLOWER_LOST_OVERWRITTEN,
					   st.overwritten - c->log_pos);
			c->log_pos = st.overwritten;
		}
		f = event_log_at(l, c->log_pos++ - st.overwritten);
		if (f->time_ns < c->split_ns || !follower_wanted(fo, f) ||
		    (f->time_ns == c->split_ns && at_split_seen(c, f)))
			continue;
		if (c->log_skip) {
			c->log_skip--;
			continue;
		}
		err = take(fo, f);
	}
	if (err)
		return err;
	err = release(fo, false);
	if (!err && (c->log_pos >= c->log_end || !c->left) && c->bounded)
		c->phase = PH_DONE;
	else if (!err) {
		struct event_log_stats st;

		event_log_get_stats(l, &st);
		if (c->log_pos >= st.appended)
			c->phase = PH_DONE; /* caught up: live from here */
	}
	return err;
}

/* Where the log starts (the split) and what the archive must add: the log's matches for the
 * newest N counted first, the archive asked only for what they do not cover. */
static int archive_start(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	const struct follower_req *r = &fo->req;
	const struct event_log *l = fo->hub->events;
	const struct flow *old = event_log_oldest(l);
	struct event_log_stats st;
	uint64_t first = 0, last = 0, m = 0, until;
	struct errmsg e = {""};

	event_log_get_stats(l, &st);
	c->split_ns = old ? old->time_ns : clock_wall_ns();
	c->log_pos = st.overwritten;
	c->phase = PH_LOG;
	if (r->replay == FOLLOWER_REPLAY_LAST) {
		uint64_t later = 0; /* of them after the split time */

		for (uint64_t i = 0; i < st.held; i++) {
			const struct flow *f = event_log_at(l, i);

			if (f->time_ns < c->split_ns || !follower_wanted(fo, f))
				continue;
			m++;
			later += f->time_ns > c->split_ns;
		}
		if (m >= r->number) {
			c->log_skip = m - r->number;
			return 0;
		}
		/* The archive answers up to the split time inclusive: its newest are asked for in
		 * place of the log's at that time, which it gives once (see step_log). */
		last = r->number - later;
	} else if (r->replay == FOLLOWER_REPLAY_FIRST) {
		first = r->number;
	}
	if (r->since_ns && r->since_ns >= c->split_ns)
		return 0;
	/* Up to the split time inclusive: events at that very time (a sweep ends many flows at
	 * once) the log no longer holds are the archive's; those it holds are sent once. */
	until = r->until_ns && r->until_ns < c->split_ns ? r->until_ns : c->split_ns;
	c->aq = fo->hub->archive.start(fo->hub->archive.ctx, r->since_ns, until, first, last,
				       r->filters, &e);
	if (!c->aq) {
		char msg[300];

		snprintf(msg, sizeof(msg), "history: the archive cannot be read: %s", e.text);
		follower_node_status(fo, 0, NULL, 0, msg);
		return 0;
	}
	c->phase = PH_ARCHIVE;
	return 0;
}

static void catchup_closed(uv_handle_t *t)
{
	struct follower *fo = t->data;
	struct catchup *c = (struct catchup *)t;

	if (c->aq)
		fo->hub->archive.stop(c->aq);
	history_cursor_free(c->cur);
	free(c->flows);
	free(c->flow_ids);
	free(c->pend);
	free(c->merge);
	free(c->split_uuids);
	buf_free(&c->pbuf);
	free(c);
	follower_unref(fo);
}

/* The replay is over, its window sent (drain_window): the follower goes live, or the stream
 * ends. */
static void finish(struct follower *fo, int err)
{
	struct catchup *c = fo->catchup;

	fo->catchup = NULL;
	uv_timer_stop(&c->step);
	uv_close((uv_handle_t *)&c->step, catchup_closed);
	err = err ?: follower_go_live(fo);
	if ((err || !fo->live) && !fo->starting && fo->sink->end)
		fo->sink->end(fo->ctx);
}

static void on_step(uv_timer_t *t);

static void arm(struct follower *fo)
{
	struct catchup *c = fo->catchup;

	if (!c->armed) {
		c->armed = true;
		uv_timer_start(&c->step, on_step, 0, 0);
	}
}

/* The replay has read all it sends: the window goes out as the client makes room. Until it
 * has, a follower that goes live next reads what the log takes meanwhile, as the replay did
 * (subscribing only once the window is out, nothing published in between is missed). */
static int drain_window(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	struct event_log_stats st;
	int err = release(fo, true);

	if (err || c->head == c->n_pend || !fo->req.follow || !fo->hub->events)
		return err;
	event_log_get_stats(fo->hub->events, &st);
	c->log_pos = st.appended;
	c->bounded = false;
	c->phase = PH_LOG;
	return 0;
}

/* One step of whatever phase the replay is in; then the next step at once while the client
 * has room, or when it makes room (follower_poke). */
static void run_step(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	int err = 0;

	switch (c->phase) {
	case PH_COUNT:
		err = step_count(fo);
		break;
	case PH_HISTORY:
		err = step_history(fo);
		break;
	case PH_ARCHIVE:
		err = step_archive(fo);
		break;
	case PH_LOG:
		err = step_log(fo);
		break;
	case PH_FLOWS:
		err = step_flows(fo);
		break;
	case PH_DONE:
		break;
	}
	if (!err && c->phase == PH_DONE)
		err = drain_window(fo);
	if (err || (c->phase == PH_DONE && c->head == c->n_pend)) {
		finish(fo, err);
		return;
	}
	if (c->wait) {
		c->wait = false;
		c->armed = true;
		uv_timer_start(&c->step, on_step, ARCHIVE_WAIT_MS, 0);
	} else if (!fo->sink->full(fo->ctx)) {
		arm(fo);
	}
}

static void on_step(uv_timer_t *t)
{
	struct follower *fo = t->data;

	fo->catchup->armed = false;
	run_step(fo);
}

void follower_history_poke(struct follower *fo)
{
	if (!fo->sink->full(fo->ctx))
		arm(fo);
}

/* LAST N: the event log's matches are counted first (the replay reads the log for all it
 * holds); the history is asked only for what they lack, counted back before the log's oldest. */
static void last_start(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	const struct event_log *l = fo->hub->events;
	const struct flow *old = l ? event_log_oldest(l) : NULL;
	struct event_log_stats st;
	uint64_t m = 0;

	c->want = fo->req.number;
	if (old && !flow_uuid_seq(old->uuid, &c->count_from)) {
		m = log_matches(fo);
		c->count_mem = true;
		memcpy(c->mem_head, old->uuid, sizeof(c->mem_head));
	}
	if (m && m >= c->want) {
		event_log_get_stats(l, &st);
		c->phase = PH_LOG;
		c->log_pos = st.overwritten;
		c->log_skip = m - c->want;
		return;
	}
	c->want -= m;
	if (c->end_no)
		c->phase = PH_COUNT;
}

/* Through the history, then the log from where the history reaches it. */
static void history_begin(struct follower *fo)
{
	struct catchup *c = fo->catchup;

	history_cursor_set_range(c->cur, fo->req.since_ns, fo->req.until_ns);
	tell_start(fo);
	c->phase = PH_HISTORY;
	c->count_no = c->end_no;
	history_cursor_seek(c->cur, 1);
	if (fo->req.replay == FOLLOWER_REPLAY_LAST)
		last_start(fo);
}

/* The log alone, all of it held: the newest N are those after its first matches. */
static void log_begin(struct follower *fo)
{
	struct catchup *c = fo->catchup;
	struct event_log_stats st;
	uint64_t m;

	event_log_get_stats(fo->hub->events, &st);
	c->phase = PH_LOG;
	c->log_pos = st.overwritten;
	if (fo->req.replay == FOLLOWER_REPLAY_LAST) {
		m = log_matches(fo);
		c->log_skip = m > fo->req.number ? m - fo->req.number : 0;
	}
}

/* A resumed stream: the log from the event after the point (what the log overwrote since then
 * comes from the history, or is told as lost, as for any slow client). */
static int resume_begin(struct follower *fo, struct errmsg *e)
{
	struct catchup *c = fo->catchup;
	struct event_log_stats st;
	uint64_t after;
	bool all;
	int err = follower_resume_begin(fo, &all, &after, e);

	if (err)
		return err;
	event_log_get_stats(fo->hub->events, &st);
	c->phase = PH_LOG;
	c->log_pos = all ? st.overwritten : log_pos_of(fo->hub->events, after + 1);
	return 0;
}

int follower_history_start(struct follower *fo, struct errmsg *e)
{
	struct follower_hub *h = fo->hub;
	bool per_flow = fo->req.per_flow || !h->events;
	struct catchup *c = calloc(1, sizeof(*c));
	struct history_block last;
	int err = 0;

	if (!c)
		return errmsg_set(e, -ENOMEM, "out of memory");
	c->cur = h->history && !per_flow ? history_cursor_new(h->history) : NULL;
	if (h->history && !per_flow && !c->cur) {
		free(c);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	uv_timer_init(h->loop, &c->step);
	c->step.data = fo;
	fo->catchup = c;
	fo->refs++; /* the step timer's */
	c->left = fo->req.replay == FOLLOWER_REPLAY_FIRST ? fo->req.number : UINT64_MAX;
	c->bounded = !fo->req.follow;
	if (h->events) {
		struct event_log_stats st;

		event_log_get_stats(h->events, &st);
		c->log_end = st.appended;
	}
	if (c->cur && history_last_block(h->history, &last)) {
		/* Not following: the history's end as it is now. */
		c->end_no = last.no;
		c->end_events = last.events;
	}
	if (per_flow)
		err = flows_start(fo);
	else if (fo->req.resume)
		err = resume_begin(fo, e);
	else if (h->history)
		history_begin(fo);
	else if (archive_wanted(fo))
		archive_start(fo);
	else
		log_begin(fo);
	if (err) {
		follower_history_stop(fo);
		return err == -ENOMEM ? errmsg_set(e, err, "out of memory") : err;
	}
	run_step(fo);
	return 0;
}

void follower_history_stop(struct follower *fo)
{
	struct catchup *c = fo->catchup;

	if (!c)
		return;
	fo->catchup = NULL;
	uv_timer_stop(&c->step);
	uv_close((uv_handle_t *)&c->step, catchup_closed);
}
