/* Unit tests of the unpack arena: messages unpacked into it are the messages protobuf-c's own
 * allocation gives (packed again: the same bytes), one over a block's size gets a block of its
 * own, and resets between them leave nothing behind (run under ASan and LeakSanitizer by
 * `make test`: no overlap, no leak). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/pb_arena.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/flow.h"
#include "flows.h"
#include "observer.pb-c.h"

static void frame_of(struct buf *b, int i, size_t labels)
{
	static char *lab[4096];
	static char text[4096][16];
	struct flow f;
	size_t j;

	for (j = 0; j < labels; j++) {
		snprintf(text[j], sizeof(text[j]), "k%zu=v%d", j, i);
		lab[j] = text[j];
	}
	flow_pb_set_node_labels(lab, labels);
	f = tcp_flow();
	f.family = i % 2 ? 6 : 4;
	f.proto = i % 3 ? 6 : 17;
	f.src.addr[0] = (uint8_t)i;
	f.src.port = (uint16_t)i;
	f.time_ns += (uint64_t)i;
	f.packets[0] = (uint64_t)i;
	f.src_name = "a.example";
	f.event = (uint8_t)(i % 7);
	ck_assert_int_eq(flow_pb_frame(b, &f, "node"), 0);
}

/* r packed again is msg. */
static void assert_repacks(const Observer__GetFlowsResponse *r, const uint8_t *msg, size_t len)
{
	uint8_t *again = malloc(len + 1);

	ck_assert_uint_eq(observer__get_flows_response__get_packed_size(r), len);
	observer__get_flows_response__pack(r, again);
	ck_assert_int_eq(memcmp(again, msg, len), 0);
	free(again);
}

START_TEST(unpacks_as_malloc_does)
{
	struct pb_arena a;
	int i;

	pb_arena_init(&a);
	for (i = 0; i < 2000; i++) {
		/* Every 100th message is far over a block (4096 labels: about 200 KiB unpacked). */
		size_t labels = i % 100 == 99 ? 4096 : (size_t)(i % 5);
		Observer__GetFlowsResponse *r, *k;
		struct buf b = BUF_INIT;
		const uint8_t *msg;
		size_t len;

		frame_of(&b, i, labels);
		msg = (const uint8_t *)b.data + GRPC_FRAME_HDR;
		len = b.len - GRPC_FRAME_HDR;
		r = observer__get_flows_response__unpack(&a.allocator, len, msg);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->flow->n_node_labels, labels);
		k = observer__get_flows_response__unpack(NULL, len, msg);
		assert_repacks(r, msg, len);
		assert_repacks(k, msg, len);
		observer__get_flows_response__free_unpacked(k, NULL);
		pb_arena_reset(&a);
		buf_free(&b);
	}
	/* Truncated input: refused, and what the failed unpack took goes with the reset. */
	{
		struct buf b = BUF_INIT;

		frame_of(&b, 1, 3);
		ck_assert_ptr_null(observer__get_flows_response__unpack(
			&a.allocator, b.len - GRPC_FRAME_HDR - 3,
			(uint8_t *)b.data + GRPC_FRAME_HDR));
		pb_arena_reset(&a);
		buf_free(&b);
	}
	pb_arena_free(&a);
	ck_assert_ptr_null(a.head);
	flow_pb_set_node_labels(NULL, 0);
}
END_TEST

/* An arena per message (as the relay's): small blocks, a message over a block (300 labels:
 * about 20 KiB) takes more of them, and the whole goes with pb_arena_free (ASan: nothing
 * leaks); the same message as malloc's unpack. */
START_TEST(an_arena_per_message_with_small_blocks)
{
	int i;

	for (i = 0; i < 200; i++) {
		size_t labels = i % 10 == 9 ? 300 : (size_t)(i % 4);
		Observer__GetFlowsResponse *r;
		struct buf b = BUF_INIT;
		struct pb_arena a;

		frame_of(&b, i, labels);
		pb_arena_init_block(&a, 3072);
		r = observer__get_flows_response__unpack(&a.allocator, b.len - GRPC_FRAME_HDR,
							 (uint8_t *)b.data + GRPC_FRAME_HDR);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->flow->n_node_labels, labels);
		assert_repacks(r, (uint8_t *)b.data + GRPC_FRAME_HDR, b.len - GRPC_FRAME_HDR);
		pb_arena_free(&a);
		ck_assert_ptr_null(a.head);
		buf_free(&b);
	}
	flow_pb_set_node_labels(NULL, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pb_arena");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, unpacks_as_malloc_does);
	tcase_add_test(tc, an_arena_per_message_with_small_blocks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
