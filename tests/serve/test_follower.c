/* Unit tests of the followers' fan-out (export/serve/follower.c): a live flow event is encoded
 * once for all the followers of a sink that want the same encoding of it, each of them still
 * gets its own copy in its own queue (and loses its own when full), and a follower with an
 * encoding of its own (a field mask) is encoded for alone. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/pipeline/event_log.h"
#include "flowscope/pipeline/flow_bus.h"
#include "flowscope/pipeline/flow_store.h"
#include "flowscope/serve/follower.h"

struct client {
	uint64_t encoding; /* what the sink's encoding() says for it */
	unsigned int limit, queued, encodes;
	char last[64];
};

static unsigned int encodes;

static int enc_flow(struct buf *out, const struct flow *f, const char *node, void *ctx)
{
	struct client *c = ctx;

	encodes++;
	c->encodes++;
	return buf_printf(out, "F %llu %s", (unsigned long long)f->seq, node);
}

static int enc_lost(struct buf *out, uint64_t lost, const char *node, uint64_t now, void *ctx)
{
	(void)node, (void)now, (void)ctx;
	return buf_printf(out, "L %llu", (unsigned long long)lost);
}

static int push(void *ctx, const void *msg, size_t len, bool force)
{
	struct client *c = ctx;

	if (!force && c->limit && c->queued >= c->limit)
		return -ENOBUFS;
	c->queued++;
	snprintf(c->last, sizeof(c->last), "%.*s", (int)len, (const char *)msg);
	return 0;
}

static bool full(void *ctx)
{
	struct client *c = ctx;

	return c->limit && c->queued >= c->limit;
}

static uint64_t encoding(void *ctx)
{
	return ((struct client *)ctx)->encoding;
}

static const struct follower_sink sink = {.encode_flow = enc_flow,
					  .encode_lost = enc_lost,
					  .push = push,
					  .full = full,
					  .encoding = encoding};

START_TEST(live_events_are_encoded_once_for_followers_that_share_an_encoding)
{
	struct flow_store *store = flow_store_new(16);
	struct event_log *events = event_log_new(64);
	struct flow_bus *bus = flow_bus_new();
	uv_loop_t loop;
	struct follower_hub *hub;
	struct client c[4] = {
		{.encoding = 1}, {.encoding = 1}, {.encoding = 1, .limit = 3}, {.encoding = 0}};
	struct follower *fo[4];
	struct follower_req req = {.replay = FOLLOWER_REPLAY_NONE, .follow = true};
	struct errmsg e = {""};
	uint64_t i;
	int k;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	hub = follower_hub_new(store, events, bus, "n1", &loop);
	for (k = 0; k < 4; k++)
		ck_assert_msg(!follower_start(&fo[k], hub, FOLLOWER_GRPC, &req, &sink, &c[k], &e),
			      "%s", e.text);
	for (i = 1; i <= 10; i++) {
		struct flow *ev = event_log_append(events);

		memset(ev, 0, sizeof(*ev));
		ev->seq = i;
		ev->uuid[0] = 0x42;
		ev->uuid[15] = (uint8_t)i;
		ev->time_ns = i * 1000;
		flow_bus_publish(bus, ev);
	}
	/* 10 events: once each for the three that share an encoding, once each for the fourth. */
	ck_assert_uint_eq(encodes, 20);
	ck_assert_uint_eq(c[3].encodes, 10);
	for (k = 0; k < 2; k++) {
		ck_assert_uint_eq(c[k].queued, 10);
		ck_assert_str_eq(c[k].last, "F 10 n1");
	}
	ck_assert_uint_eq(c[3].queued, 10);
	ck_assert_str_eq(c[3].last, "F 10 n1");
	/* The full one lost its own share, counted for it alone. */
	ck_assert_uint_eq(c[2].queued, 3);
	for (k = 0; k < 4; k++)
		follower_stop(fo[k]);
	follower_hub_free(hub);
	flow_bus_free(bus);
	event_log_free(events);
	flow_store_free(store);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static void publish_seqs(struct event_log *events, struct flow_bus *bus, uint64_t from, uint64_t to)
{
	uint64_t i;

	for (i = from; i <= to; i++) {
		struct flow *ev = event_log_append(events);

		memset(ev, 0, sizeof(*ev));
		ev->seq = i;
		ev->uuid[15] = (uint8_t)i;
		ev->time_ns = i * 1000;
		flow_bus_publish(bus, ev);
	}
}

/* A burst that overflows a client's queue is told as a lost notice once the client has room,
 * and a second one within the notices' second is told when that second is over, though no
 * event follows to carry it. */
START_TEST(losses_of_a_burst_are_told_without_a_later_event)
{
	struct flow_store *store = flow_store_new(16);
	struct event_log *events = event_log_new(64);
	struct flow_bus *bus = flow_bus_new();
	struct follower_req req = {.replay = FOLLOWER_REPLAY_NONE, .follow = true};
	struct client c = {.limit = 3};
	struct errmsg e = {""};
	struct follower_hub *hub;
	struct follower *fo;
	uv_loop_t loop;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	hub = follower_hub_new(store, events, bus, "n1", &loop);
	ck_assert_msg(!follower_start(&fo, hub, FOLLOWER_GRPC, &req, &sink, &c, &e), "%s", e.text);
	publish_seqs(events, bus, 1, 10);
	ck_assert_uint_eq(c.queued, 3);
	c.queued = 0; /* the client read everything: its queue pokes the follower */
	follower_poke(fo);
	ck_assert_str_eq(c.last, "L 7");
	c.queued = 0;
	publish_seqs(events, bus, 11, 15);
	ck_assert_str_eq(c.last, "F 13 n1");
	c.queued = 0;
	follower_poke(fo); /* within a second of the first notice: held back */
	ck_assert_str_eq(c.last, "F 13 n1");
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* until the held notice went */
	ck_assert_str_eq(c.last, "L 2");
	follower_stop(fo);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	follower_hub_free(hub);
	flow_bus_free(bus);
	event_log_free(events);
	flow_store_free(store);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("follower");
	TCase *tc = tcase_create("fanout");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, live_events_are_encoded_once_for_followers_that_share_an_encoding);
	tcase_add_test(tc, losses_of_a_burst_are_told_without_a_later_event);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
