/* Unit tests of replays through the history (export/serve/follower_history.c), with a real
 * history store in a temporary directory, an event log smaller than it, a bus, and a sink that
 * records what a client would get: every event once and in time order for all, last N, first
 * N and since/until (filters too), also right after a "restart" (a new session in the same
 * history); a slow client gets the replay in steps, as it makes room; follow goes live with
 * nothing missed or twice; events only the log holds (a stopped history) come after, the gap
 * told; a since before the oldest kept event gets a notice. Without a history (--no-history),
 * replays of the log and per flow of the store are sent in steps too, never all at once. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "flowscope/history/history.h"
#include "flowscope/pipeline/flow_view.h"
#include "flowscope/serve/follower.h"
#include "flows.h"

#define T0 1790000000000000000ULL
#define MS 1000000ULL
#define MAX_GOT 20000

static char dir[64];
static uv_loop_t loop;
static struct flow_store *store;
static struct event_log *events;
static struct flow_bus *bus;
static struct follower_hub *hub;
static struct history *hist;
static uint8_t session[8];
static uint64_t seq, tbase = T0;

/* What the client got. */
static struct {
	uint64_t seqs[MAX_GOT], times[MAX_GOT];
	size_t n;
	uint64_t lost;
	char notice[320];
	bool ended;
	size_t limit; /* full at this many queued; 0: never */
	size_t queued;
	int pad; /* each flow's encoding padded to this many bytes more */
} got;

static int enc_flow(struct buf *out, const struct flow *f, const char *node, void *ctx)
{
	(void)node;
	(void)ctx;
	return buf_printf(out, "F %llu %llu%*s", (unsigned long long)f->seq,
			  (unsigned long long)f->time_ns, got.pad, "");
}

static int enc_lost(struct buf *out, uint64_t lost, const char *node, uint64_t now, void *ctx)
{
	(void)node;
	(void)now;
	(void)ctx;
	return buf_printf(out, "L %llu", (unsigned long long)lost);
}

static int enc_status(struct buf *out, int state, const char *const *names, size_t n,
		      const char *message, const char *node, uint64_t now, void *ctx)
{
	(void)state, (void)names, (void)n, (void)node, (void)now, (void)ctx;
	return buf_printf(out, "N %s", message);
}

static int push(void *ctx, const void *msg, size_t len, bool force)
{
	char s[300];
	unsigned long long a, b;

	(void)ctx;
	if (!force && got.limit && got.queued >= got.limit)
		return -ENOBUFS;
	snprintf(s, sizeof(s), "%.*s", (int)len, (const char *)msg);
	got.queued++;
	if (sscanf(s, "F %llu %llu", &a, &b) == 2) {
		ck_assert_uint_lt(got.n, MAX_GOT);
		got.seqs[got.n] = a;
		got.times[got.n++] = b;
	} else if (sscanf(s, "L %llu", &a) == 1) {
		got.lost += a;
	} else if (s[0] == 'N') {
		snprintf(got.notice, sizeof(got.notice), "%s", s + 2);
	}
	return 0;
}

static bool full(void *ctx)
{
	(void)ctx;
	return got.limit && got.queued >= got.limit;
}

static void end(void *ctx)
{
	(void)ctx;
	got.ended = true;
}

static const struct follower_sink sink = {.encode_flow = enc_flow,
					  .encode_lost = enc_lost,
					  .push = push,
					  .full = full,
					  .end = end,
					  .encode_status = enc_status};

static void keep(const struct flow *f, void *ctx)
{
	ck_assert_int_eq(history_append(ctx, f), 0);
}

static void new_session(void)
{
	for (int i = 0; i < 8; i++)
		session[i] = (uint8_t)rand();
	session[6] = (uint8_t)((session[6] & 0x0f) | 0x40);
	seq = 0;
}

static void open_with(size_t log_cap, size_t store_cap)
{
	struct history_opts o = {.dir = dir, .block_events = 64, .foreground = true};
	struct errmsg e = {""};

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	store = flow_store_new(store_cap);
	events = event_log_new(log_cap);
	bus = flow_bus_new();
	hub = follower_hub_new(store, events, bus, "n1", &loop);
	ck_assert_msg(!history_open(&hist, &o, &e), "%s", e.text);
	ck_assert_ptr_nonnull(flow_bus_subscribe(bus, keep, hist));
	follower_hub_set_history(hub, hist);
}

static void open_all(size_t log_cap)
{
	open_with(log_cap, 16);
}

static void close_all(void)
{
	uv_run(&loop, UV_RUN_NOWAIT);
	follower_hub_free(hub);
	history_close(hist);
	flow_bus_free(bus);
	event_log_free(events);
	flow_store_free(store);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fs-fh-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&got, 0, sizeof(got));
	tbase = T0;
	new_session();
	open_all(100);
}

static void teardown(void)
{
	char cmd[100];

	close_all();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Event number i of this session: port 443 for every third, time i ms (a few swapped, as
 * rings from two CPUs deliver them). */
static uint64_t time_of(uint64_t n)
{
	return tbase + n * MS - (n % 10 == 3 ? 3 * MS : 0);
}

/* The collector's uuid of event number f->seq of this session. */
static void set_uuid(struct flow *f)
{
	memcpy(f->uuid, session, 8);
	for (int k = 15; k >= 8; k--)
		f->uuid[k] = (uint8_t)(f->seq >> (8 * (15 - k)));
	f->uuid[8] = (uint8_t)((f->uuid[8] & 0x3f) | 0x80);
}

static void publish(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		struct flow f = tcp_flow(), *ev;

		f.seq = ++seq;
		set_uuid(&f);
		f.time_ns = time_of(f.seq);
		f.dst.port = f.seq % 3 ? 80 : 443;
		ev = event_log_append(events);
		*ev = f;
		flow_bus_publish(bus, ev);
	}
}

static struct follower *start(struct follower_req *r)
{
	struct follower *fo;
	struct errmsg e = {""};

	ck_assert_msg(!follower_start(&fo, hub, FOLLOWER_GRPC, r, &sink, NULL, &e), "%s", e.text);
	return fo;
}

/* Runs the loop until the replay is sent (the follower no longer catching up). */
static void run(void)
{
	for (int i = 0; i < 10000 && uv_run(&loop, UV_RUN_ONCE); i++)
		;
}

/* Runs a slow client's rounds: each round the loop runs and the client reads all it got. The
 * queue never holds more than a step past its limit. Returns the rounds it took. */
static int rounds_until_ended(struct follower *fo, size_t limit, void (*between)(int round))
{
	int rounds = 0;

	while (!got.ended && rounds++ < 1000) {
		uv_run(&loop, UV_RUN_NOWAIT);
		/* A step at most past the limit: 4096 events, or 256 KiB and the 20 ms window. */
		ck_assert_uint_le(got.queued, limit + (got.pad ? 256 + 25 : 4096));
		got.queued = 0;
		if (between)
			between(rounds);
		follower_poke(fo);
	}
	ck_assert(got.ended);
	return rounds;
}

static void assert_time_order(void)
{
	for (size_t i = 1; i < got.n; i++)
		ck_assert_uint_le(got.times[i - 1], got.times[i]);
}

/* got holds exactly the events numbered first..last (of those passing pred), each once. */
static void assert_exactly(uint64_t first, uint64_t last, bool (*pred)(uint64_t))
{
	static unsigned char seen[MAX_GOT + 1];
	size_t want = 0;

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < got.n; i++) {
		ck_assert_uint_le(got.seqs[i], MAX_GOT);
		ck_assert_msg(!seen[got.seqs[i]]++, "event %llu twice",
			      (unsigned long long)got.seqs[i]);
		ck_assert_uint_ge(got.seqs[i], first);
		ck_assert_uint_le(got.seqs[i], last);
	}
	for (uint64_t s = first; s <= last; s++)
		if (!pred || pred(s)) {
			ck_assert_msg(seen[s], "event %llu missing", (unsigned long long)s);
			want++;
		}
	ck_assert_uint_eq(got.n, want);
}

/* got's entries [from, from + n) are the events numbered first..first + n - 1, in any order. */
static void assert_run_set(size_t from, size_t n, uint64_t first)
{
	static unsigned char seen[MAX_GOT + 1];

	memset(seen, 0, sizeof(seen));
	ck_assert_uint_le(from + n, got.n);
	for (size_t i = from; i < from + n; i++) {
		ck_assert_uint_ge(got.seqs[i], first);
		ck_assert_uint_lt(got.seqs[i], first + n);
		ck_assert(!seen[got.seqs[i] - first]++);
	}
}

static bool is_443(uint64_t s)
{
	return s % 3 == 0;
}

static struct flow_filter_set *to_port_443(void)
{
	Flow__FlowFilter f = FLOW__FLOW_FILTER__INIT, *fp = &f;
	char *ports[] = {"443"};
	struct errmsg e = {""};
	struct flow_filter_set *fs;

	f.n_destination_port = 1;
	f.destination_port = ports;
	fs = flow_filter_set_new(&fp, 1, NULL, 0, &e);
	ck_assert_msg(fs != NULL, "%s", e.text);
	return fs;
}

START_TEST(test_all_comes_from_the_history_beyond_the_log)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL};
	struct follower *fo;

	publish(1000); /* the log holds the last 100 */
	fo = start(&r);
	run();
	ck_assert(got.ended);
	ck_assert(!follower_live(fo));
	assert_exactly(1, 1000, NULL);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

/* Where the history hands over to the log, the log's first event (703, at 700 ms) is older than
 * the history's last ones (701, 702): still sent in time order. */
START_TEST(test_time_order_across_the_hand_over)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL};
	struct follower *fo;

	publish(802); /* the log holds 703..802 */
	fo = start(&r);
	run();
	assert_exactly(1, 802, NULL);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

START_TEST(test_last_n_with_a_filter_counts_back_through_blocks)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_LAST, .number = 200};
	struct follower *fo;

	publish(1000);
	r.filters = to_port_443();
	fo = start(&r);
	run();
	ck_assert(got.ended);
	/* The newest 200 matches: numbers 402..999 that are multiples of 3. */
	assert_exactly(1000 - 600 + 2, 1000, is_443);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

START_TEST(test_first_n_and_a_time_window)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_FIRST, .number = 150};
	struct follower *fo;

	publish(1000);
	fo = start(&r);
	run();
	assert_exactly(1, 150, NULL);
	follower_stop(fo);
	memset(&got, 0, sizeof(got));
	r = (struct follower_req){.replay = FOLLOWER_REPLAY_ALL,
				  .since_ns = T0 + 300 * MS,
				  .until_ns = T0 + 500 * MS};
	fo = start(&r);
	run();
	ck_assert(got.ended);
	/* By time: 300..500 ms, with the swapped ones (n % 10 == 3 are 3 ms early). */
	for (size_t i = 0; i < got.n; i++) {
		ck_assert_uint_ge(got.times[i], r.since_ns);
		ck_assert_uint_le(got.times[i], r.until_ns);
	}
	{
		size_t want = 0;

		for (uint64_t n = 1; n <= 1000; n++)
			want += time_of(n) >= r.since_ns && time_of(n) <= r.until_ns;
		ck_assert_uint_eq(got.n, want);
	}
	assert_time_order();
	follower_stop(fo);
}
END_TEST

/* The oldest N by time, not the first N published: event 3 is older than 1 and 2. */
START_TEST(test_first_n_are_the_oldest_by_time)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_FIRST, .number = 2};
	struct follower *fo;

	publish(1000);
	fo = start(&r);
	run();
	ck_assert_uint_eq(got.n, 2);
	ck_assert_uint_eq(got.seqs[0], 3);
	ck_assert_uint_eq(got.seqs[1], 1);
	follower_stop(fo);
}
END_TEST

START_TEST(test_a_restart_is_one_timeline)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL};
	struct follower *fo;
	uint64_t before;

	publish(500);
	before = seq;
	close_all();
	new_session(); /* flowd started again: a new session, its numbers from 1 */
	tbase += 10000 * MS;
	open_all(100);
	publish(300);
	fo = start(&r);
	run();
	ck_assert_uint_eq(got.n, before + 300);
	/* The earlier run's 500 then this run's 300, each once. */
	assert_run_set(0, before, 1);
	assert_run_set(before, 300, 1);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

START_TEST(test_slow_client_gets_it_in_steps)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL};
	struct follower *fo;

	publish(9000);
	got.limit = 500;
	fo = start(&r);
	ck_assert_int_gt(rounds_until_ended(fo, 500, NULL), 2);
	assert_exactly(1, 9000, NULL);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

START_TEST(test_follow_goes_live_with_nothing_missed)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL, .follow = true};
	struct follower *fo;

	publish(700);
	got.limit = 100;
	fo = start(&r);
	ck_assert(follower_live(fo));
	/* Events published while the replay is still being sent. */
	for (int i = 0; i < 50; i++) {
		got.queued = 0; /* the client read everything: room for what comes now */
		publish(7);
		follower_poke(fo);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	got.limit = 0;
	run();
	publish(20); /* live now */
	ck_assert(!got.ended);
	ck_assert(follower_live(fo));
	assert_exactly(1, 700 + 350 + 20, NULL);
	ck_assert_uint_eq(got.lost, 0);
	follower_stop(fo);
}
END_TEST

/* The log overwrites what a slow client was to read from it next: the replay goes back to the
 * history for it, nothing is lost. */
START_TEST(test_a_client_slower_than_the_log_goes_back_to_the_history)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL, .follow = true};
	struct follower *fo;

	publish(700);
	got.limit = 100;
	fo = start(&r); /* 1..600 from the history, then full: the log is next */
	ck_assert_uint_ge(got.queued, 100);
	publish(150); /* the log (100) now starts at 751 */
	got.queued = 0;
	got.limit = 0;
	follower_poke(fo);
	run();
	publish(5);
	assert_exactly(1, 855, NULL);
	ck_assert_uint_eq(got.lost, 0);
	for (size_t i = 1; i < 850; i++) /* the replay; live events come as published */
		ck_assert_uint_le(got.times[i - 1], got.times[i]);
	follower_stop(fo);
}
END_TEST

START_TEST(test_events_only_the_log_holds_come_after_the_gap)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL};
	struct follower *fo;

	publish(300);
	/* The history stops keeping (as when the disk is full): 250 events reach the log only;
	 * the log (100) holds the newest 100 of them. */
	close_all();
	open_all(100); /* same session, the history reopened */
	{
		/* Without the history's subscription: published to the log and bus only. */
		struct flow_bus *b = bus;

		bus = flow_bus_new();
		publish(250);
		flow_bus_free(bus);
		bus = b;
	}
	fo = start(&r);
	run();
	/* 300 from the history, 150 lost (told), then the log's 100. */
	ck_assert_uint_eq(got.lost, 150);
	ck_assert_uint_eq(got.n, 400);
	assert_run_set(0, 300, 1);
	assert_run_set(300, 100, 451);
	follower_stop(fo);
	/* The newest N: the log's tail counted first, the history asked for the rest. */
	memset(&got, 0, sizeof(got));
	r = (struct follower_req){.replay = FOLLOWER_REPLAY_LAST, .number = 5};
	fo = start(&r);
	run();
	assert_exactly(546, 550, NULL);
	ck_assert_uint_eq(got.lost, 0);
	follower_stop(fo);
	memset(&got, 0, sizeof(got));
	r.number = 120;
	fo = start(&r);
	run();
	ck_assert_uint_eq(got.n, 120);
	ck_assert_uint_eq(got.lost, 150);
	assert_run_set(0, 20, 281);
	assert_run_set(20, 100, 451);
	follower_stop(fo);
}
END_TEST

START_TEST(test_since_before_the_history_gets_a_notice)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL, .since_ns = T0 - 3600 * 1000 * MS};
	struct follower *fo;

	publish(100);
	fo = start(&r);
	run();
	ck_assert_ptr_nonnull(strstr(got.notice, "the oldest flow event kept is from 2026-"));
	ck_assert_uint_eq(got.n, 100);
	follower_stop(fo);
	memset(&got, 0, sizeof(got));
	r.since_ns = T0 + 10 * MS;
	fo = start(&r);
	run();
	ck_assert_str_eq(got.notice, "");
	follower_stop(fo);
}
END_TEST

/* The store is in update order; the newest (oldest) N flows are those with the latest
 * (earliest) times, as the client sees them sorted. */
START_TEST(test_per_flow_replays_choose_by_time)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_LAST, .number = 1, .per_flow = true};
	struct follower *fo;
	const uint64_t times[] = {3, 1, 2}; /* updated in this order */

	for (int i = 0; i < 3; i++) {
		struct flow f = tcp_flow();

		f.key.port[0] = (uint16_t)(1000 + i);
		f.seq = (uint64_t)i + 1;
		f.time_ns = T0 + times[i] * MS;
		ck_assert_ptr_nonnull(flow_store_insert(store, &f));
	}
	fo = start(&r);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_uint_eq(got.times[0], T0 + 3 * MS);
	follower_stop(fo);
	memset(&got, 0, sizeof(got));
	r.replay = FOLLOWER_REPLAY_FIRST;
	r.number = 2;
	fo = start(&r);
	ck_assert_uint_eq(got.n, 2);
	ck_assert_uint_eq(got.times[0], T0 + 1 * MS);
	ck_assert_uint_eq(got.times[1], T0 + 2 * MS);
	follower_stop(fo);
}
END_TEST

/* ---- without a history: the log or the store alone, in steps too --------------------------- */

/* flowd with --no-history: a log of 10,000, a store of 9,000, no history; replays still run on
 * the loop. */
static void no_history_hub(void)
{
	close_all();
	open_with(10000, 9000);
	follower_hub_set_history(hub, NULL);
}

START_TEST(test_log_replay_without_history_is_sent_in_steps)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_LAST, .number = 6000};
	struct follower *fo;

	no_history_hub();
	publish(9000);
	got.limit = 500;
	fo = start(&r);
	ck_assert_uint_le(got.queued, 500 + 4096); /* not the 6,000 at once */
	ck_assert(follower_live(fo));		   /* still sending */
	ck_assert_int_gt(rounds_until_ended(fo, 500, NULL), 2);
	assert_exactly(3001, 9000, NULL);
	assert_time_order();
	follower_stop(fo);
	/* Events of 1 KB: a step reads at most 256 KiB of them (and the reordering window's 20 ms).
	 */
	memset(&got, 0, sizeof(got));
	got.limit = 100;
	got.pad = 1000;
	fo = start(&r);
	ck_assert_int_gt(rounds_until_ended(fo, 100, NULL), 20);
	assert_exactly(3001, 9000, NULL);
	follower_stop(fo);
	/* The oldest N with a filter, the same way. */
	memset(&got, 0, sizeof(got));
	got.limit = 300;
	r = (struct follower_req){
		.replay = FOLLOWER_REPLAY_FIRST, .number = 2000, .filters = to_port_443()};
	fo = start(&r);
	rounds_until_ended(fo, 300, NULL);
	ck_assert_uint_eq(got.n, 2000);
	for (size_t i = 0; i < got.n; i++)
		ck_assert(is_443(got.seqs[i]));
	ck_assert_uint_eq(got.seqs[got.n - 1], 6000);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

/* A burst denser than the reordering bound (15,000 events in 15 ms, their times scattered: event
 * n is at (n * 7919 mod 15,000) us): no match can leave the window until the end, which steps
 * fill 4096 at a time and out of order; the replay is still in exact time order, each once, and
 * the oldest N are the oldest by time. */
static uint64_t burst_time(uint64_t n)
{
	return tbase + (n * 7919 % 15000) * 1000;
}

START_TEST(test_a_burst_within_the_reordering_bound_comes_in_time_order)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL};
	struct follower *fo;

	close_all();
	open_with(20000, 1000);
	follower_hub_set_history(hub, NULL);
	for (uint64_t i = 0; i < 15000; i++) {
		struct flow f = tcp_flow(), *ev;

		f.seq = ++seq;
		set_uuid(&f);
		f.time_ns = burst_time(f.seq);
		ev = event_log_append(events);
		*ev = f;
		flow_bus_publish(bus, ev);
	}
	got.limit = 700;
	fo = start(&r);
	ck_assert_int_gt(rounds_until_ended(fo, 700, NULL), 3);
	assert_exactly(1, 15000, NULL);
	for (size_t i = 0; i < got.n; i++)
		ck_assert_uint_eq(got.times[i], tbase + i * 1000);
	follower_stop(fo);
	memset(&got, 0, sizeof(got));
	r = (struct follower_req){.replay = FOLLOWER_REPLAY_FIRST, .number = 5000};
	fo = start(&r);
	run();
	ck_assert_uint_eq(got.n, 5000);
	for (size_t i = 0; i < got.n; i++)
		ck_assert_uint_eq(got.times[i], tbase + i * 1000);
	follower_stop(fo);
	/* Following: while a slow client takes the window, events keep coming (30 ms after the
	 * burst and on); they come after it, none missed or twice, and the follower goes live. */
	memset(&got, 0, sizeof(got));
	got.limit = 700;
	r = (struct follower_req){.replay = FOLLOWER_REPLAY_ALL, .follow = true};
	fo = start(&r);
	for (int round = 0; round < 400 && got.n < 15000 + 400; round++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		got.queued = 0;
		if (round < 40)
			for (int k = 0; k < 10; k++) {
				struct flow f = tcp_flow(), *ev;

				f.seq = ++seq;
				set_uuid(&f);
				f.time_ns = tbase + 30 * MS + f.seq * 1000;
				ev = event_log_append(events);
				*ev = f;
				flow_bus_publish(bus, ev);
			}
		follower_poke(fo);
	}
	assert_exactly(1, 15400, NULL);
	assert_time_order();
	ck_assert(follower_live(fo));
	follower_stop(fo);
}
END_TEST

static void insert_flows(uint64_t from, uint64_t n)
{
	for (uint64_t i = from; i < from + n; i++) {
		struct flow f = tcp_flow();

		f.key.port[0] = (uint16_t)(i & 0xffff);
		f.key.port[1] = (uint16_t)(i >> 16);
		f.seq = i;
		f.time_ns = T0 + i * MS;
		ck_assert_ptr_nonnull(flow_store_insert(store, &f));
	}
}

/* After the client's first round, 6,000 new flows evict the 6,000 oldest of the store. */
static uint64_t sent_before_eviction;
static void evict_after_first(int round)
{
	if (round != 1)
		return;
	sent_before_eviction = got.n;
	insert_flows(100001, 6000);
}

START_TEST(test_per_flow_replay_is_sent_in_steps_and_counts_what_was_evicted)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL, .per_flow = true};
	struct follower_hub_stats st;
	struct follower *fo;

	no_history_hub();
	insert_flows(1, 9000);
	got.limit = 500;
	fo = start(&r);
	ck_assert_uint_lt(got.n, 9000);
	ck_assert_int_gt(rounds_until_ended(fo, 500, evict_after_first), 2);
	ck_assert_uint_gt(sent_before_eviction, 0);
	ck_assert_uint_lt(sent_before_eviction, 6000);
	/* Sent: those before the eviction, then the 3,000 it left; never an evicted slot's new
	 * flow in place of the one chosen. */
	ck_assert_uint_eq(got.n, sent_before_eviction + 3000);
	for (size_t i = 0; i < got.n; i++)
		ck_assert_uint_lt(got.seqs[i], 100001);
	for (size_t i = sent_before_eviction; i < got.n; i++)
		ck_assert_uint_gt(got.seqs[i], 6000);
	assert_time_order();
	follower_hub_get_stats(hub, &st);
	ck_assert_uint_eq(st.lost[FOLLOWER_GRPC], 6000 - sent_before_eviction);
	follower_stop(fo);
}
END_TEST

/* ---- a relay's archive -------------------------------------------------------------------- */

/* A fake archive: the events numbered 1..n_archived, answered in pieces with "not yet" in
 * between (as a query running elsewhere does), honouring the window, first and last. */
static struct {
	uint64_t n_archived;
	uint64_t since, until, first, last;
	int started, stopped;
} A;

struct fake_q {
	uint64_t next, end;
	int calls;
	const struct flow_filter_set *fs;
	struct flow f;
};

static bool in_window(uint64_t n)
{
	return (!A.since || time_of(n) >= A.since) && (!A.until || time_of(n) <= A.until);
}

static struct flow archived(uint64_t n)
{
	struct flow g = tcp_flow();

	g.seq = n;
	set_uuid(&g);
	g.time_ns = time_of(n);
	g.dst.port = n % 3 ? 80 : 443;
	return g;
}

static bool archive_match(uint64_t n, const struct flow_filter_set *fs)
{
	struct flow g = archived(n);

	return in_window(n) && flow_filter_set_match(fs, &g, NULL);
}

static void *fake_start(void *ctx, uint64_t since, uint64_t until, uint64_t first, uint64_t last,
			const struct flow_filter_set *fs, struct errmsg *e)
{
	struct fake_q *q = calloc(1, sizeof(*q));
	uint64_t n = 0;

	(void)ctx, (void)e;
	A.started++;
	A.since = since, A.until = until, A.first = first, A.last = last;
	q->fs = fs;
	q->next = 1;
	q->end = A.n_archived;
	if (last) { /* start at the last-th newest match */
		for (q->next = A.n_archived; q->next > 1; q->next--)
			if (archive_match(q->next, fs) && ++n == last)
				break;
	}
	return q;
}

static int fake_next(void *arg, struct flow *f, struct errmsg *e)
{
	struct fake_q *q = arg;

	(void)e;
	if (++q->calls % 50 == 0)
		return -EAGAIN;
	for (; q->next <= q->end; q->next++) {
		if (!archive_match(q->next, q->fs))
			continue;
		if (A.first && q->next > A.first)
			return 0;
		q->f = archived(q->next);
		*f = q->f;
		q->next++;
		return 1;
	}
	return 0;
}

static void fake_stop(void *q)
{
	A.stopped++;
	free(q);
}

/* The relay's hub: no history, the log holds the events after the first archived; the archive
 * every event (as a cluster's ClickHouse does, the log's too: the split is the follower's). */
static void archive_hub(uint64_t archived, uint64_t logged)
{
	struct follower_archive a = {.start = fake_start, .next = fake_next, .stop = fake_stop};

	memset(&A, 0, sizeof(A));
	A.n_archived = archived + logged;
	follower_hub_set_history(hub, NULL);
	follower_hub_set_archive(hub, &a);
	{
		struct flow_bus *b = bus; /* past the history: the relay has none */

		bus = flow_bus_new();
		seq = archived;
		publish(logged);
		flow_bus_free(bus);
		bus = b;
	}
}

START_TEST(test_archive_before_the_log_split_by_time)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_ALL, .since_ns = T0};
	struct follower *fo;

	archive_hub(5000, 100);
	fo = start(&r);
	run();
	ck_assert(got.ended);
	ck_assert_int_eq(A.started, 1);
	ck_assert_int_eq(A.stopped, 1);
	/* The archive up to the log's oldest time (inclusive: events at that time the log no
	 * longer holds are the archive's), the log from it: each event once. */
	ck_assert_uint_eq(A.until, time_of(5001));
	assert_exactly(1, 5100, NULL);
	assert_time_order();
	follower_stop(fo);
}
END_TEST

START_TEST(test_archive_last_n_asks_only_what_the_log_lacks)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_LAST, .number = 40};
	struct follower *fo;

	archive_hub(5000, 100);
	r.filters = to_port_443();
	fo = start(&r);
	run();
	/* The log has 34 matches (5001..5100, every third), one at the split time (5001, the
	 * log's oldest), which the archive answers for: 7 asked of it, 40 in all, none twice. */
	ck_assert_int_eq(A.started, 1);
	ck_assert_uint_eq(A.last, 7);
	ck_assert_uint_eq(got.n, 40);
	assert_time_order();
	ck_assert_uint_eq(got.seqs[39], 5100 - 5100 % 3);
	follower_stop(fo);
	/* Fewer than the log holds: no archive at all. */
	memset(&got, 0, sizeof(got));
	A.started = 0;
	r = (struct follower_req){.replay = FOLLOWER_REPLAY_LAST, .number = 10};
	fo = start(&r);
	run();
	ck_assert_int_eq(A.started, 0);
	assert_exactly(5091, 5100, NULL);
	follower_stop(fo);
}
END_TEST

START_TEST(test_archive_first_n_and_follow)
{
	struct follower_req r = {.replay = FOLLOWER_REPLAY_FIRST, .number = 30};
	struct follower *fo;

	archive_hub(5000, 100);
	fo = start(&r);
	run();
	ck_assert_uint_eq(A.first, 30);
	assert_exactly(1, 30, NULL);
	follower_stop(fo);
	memset(&got, 0, sizeof(got));
	r = (struct follower_req){
		.replay = FOLLOWER_REPLAY_ALL, .since_ns = time_of(4900), .follow = true};
	fo = start(&r);
	run();
	publish(5); /* live now */
	ck_assert(follower_live(fo));
	assert_exactly(4900, 5105, NULL);
	follower_stop(fo);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("follower_history");
	TCase *t = tcase_create("replays");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_all_comes_from_the_history_beyond_the_log);
	tcase_add_test(t, test_time_order_across_the_hand_over);
	tcase_add_test(t, test_last_n_with_a_filter_counts_back_through_blocks);
	tcase_add_test(t, test_first_n_and_a_time_window);
	tcase_add_test(t, test_first_n_are_the_oldest_by_time);
	tcase_add_test(t, test_a_burst_within_the_reordering_bound_comes_in_time_order);
	tcase_add_test(t, test_a_restart_is_one_timeline);
	tcase_add_test(t, test_slow_client_gets_it_in_steps);
	tcase_add_test(t, test_follow_goes_live_with_nothing_missed);
	tcase_add_test(t, test_a_client_slower_than_the_log_goes_back_to_the_history);
	tcase_add_test(t, test_events_only_the_log_holds_come_after_the_gap);
	tcase_add_test(t, test_since_before_the_history_gets_a_notice);
	tcase_add_test(t, test_per_flow_replays_choose_by_time);
	tcase_add_test(t, test_log_replay_without_history_is_sent_in_steps);
	tcase_add_test(t, test_per_flow_replay_is_sent_in_steps_and_counts_what_was_evicted);
	tcase_add_test(t, test_archive_before_the_log_split_by_time);
	tcase_add_test(t, test_archive_last_n_asks_only_what_the_log_lacks);
	tcase_add_test(t, test_archive_first_n_and_follow);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
