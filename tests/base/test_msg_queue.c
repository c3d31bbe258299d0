/* Unit tests of the bounded message queue every streaming API and exporter queues through
 * (base/msg_queue.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/msg_queue.h"

static void push_ok(struct msg_queue *q, const char *s)
{
	ck_assert_int_eq(msg_queue_push(q, s, strlen(s), false), 0);
}

/* Reads n bytes and checks they are s. */
static void read_expect(struct msg_queue *q, size_t n, const char *s)
{
	char got[256];

	ck_assert_uint_eq(msg_queue_read(q, got, n), strlen(s));
	ck_assert_mem_eq(got, s, strlen(s));
}

START_TEST(test_init_needs_a_bound)
{
	struct msg_queue q;

	ck_assert_int_eq(msg_queue_init(&q, 0, 0), -EINVAL);
	msg_queue_free(&q);
	ck_assert_int_eq(msg_queue_init(&q, 1, 0), 0);
	msg_queue_free(&q);
	ck_assert_int_eq(msg_queue_init(&q, 0, 1), 0);
	msg_queue_free(&q);
}
END_TEST

START_TEST(test_message_bound_refuses_then_force_goes_past)
{
	struct msg_queue q;

	ck_assert_int_eq(msg_queue_init(&q, 3, 0), 0);
	ck_assert_uint_eq(msg_queue_limit(&q), 3);
	push_ok(&q, "a");
	push_ok(&q, "bb");
	ck_assert(!msg_queue_full(&q));
	push_ok(&q, "ccc");
	ck_assert(msg_queue_full(&q));
	ck_assert_int_eq(msg_queue_push(&q, "d", 1, false), -ENOBUFS);
	ck_assert_uint_eq(msg_queue_count(&q), 3);
	ck_assert_uint_eq(msg_queue_bytes(&q), 6);
	ck_assert_int_eq(msg_queue_push(&q, "dd", 2, true), 0);
	ck_assert_int_eq(msg_queue_push(&q, "e", 1, true), 0);
	ck_assert_uint_eq(msg_queue_count(&q), 5);
	ck_assert(msg_queue_full(&q));
	read_expect(&q, 100, "abbcccdde");
	ck_assert_uint_eq(msg_queue_count(&q), 0);
	ck_assert(!msg_queue_full(&q));
	msg_queue_free(&q);
}
END_TEST

/* Forcing past a small ring (fewer slots than a forced burst) keeps the order of messages. */
START_TEST(test_forced_messages_past_the_ring_keep_their_order)
{
	struct msg_queue q;
	const void *p;
	char m[8];
	int i;

	ck_assert_int_eq(msg_queue_init(&q, 2, 0), 0);
	/* Move the ring's head off slot 0, so that growing it must unwrap it. */
	push_ok(&q, "w");
	push_ok(&q, "x0");
	msg_queue_pop(&q);
	for (i = 1; i < 200; i++) {
		snprintf(m, sizeof(m), "x%d", i);
		ck_assert_int_eq(msg_queue_push(&q, m, strlen(m), true), 0);
	}
	ck_assert_uint_eq(msg_queue_count(&q), 200);
	for (i = 0; i < 200; i++) {
		snprintf(m, sizeof(m), "x%d", i);
		ck_assert_uint_eq(msg_queue_first(&q, &p), strlen(m));
		ck_assert_mem_eq(p, m, strlen(m));
		msg_queue_pop(&q);
	}
	ck_assert_uint_eq(msg_queue_first(&q, &p), 0);
	msg_queue_free(&q);
}
END_TEST

START_TEST(test_byte_bound_refuses_what_would_exceed_it)
{
	struct msg_queue q;

	ck_assert_int_eq(msg_queue_init(&q, 0, 10), 0);
	push_ok(&q, "123456");
	ck_assert(!msg_queue_full(&q));
	ck_assert_int_eq(msg_queue_push(&q, "12345", 5, false), -ENOBUFS);
	push_ok(&q, "1234");
	ck_assert(msg_queue_full(&q));
	ck_assert_int_eq(msg_queue_push(&q, "1", 1, false), -ENOBUFS);
	ck_assert_uint_eq(msg_queue_count(&q), 2);
	ck_assert_uint_eq(msg_queue_bytes(&q), 10);
	ck_assert_int_eq(msg_queue_push(&q, "!", 1, true), 0);
	ck_assert_uint_eq(msg_queue_bytes(&q), 11);
	msg_queue_free(&q);

	/* A message larger than the bound never fits without force. */
	ck_assert_int_eq(msg_queue_init(&q, 0, 4), 0);
	ck_assert_int_eq(msg_queue_push(&q, "12345", 5, false), -ENOBUFS);
	ck_assert_uint_eq(msg_queue_count(&q), 0);
	/* A half-read message still fills the bound. */
	push_ok(&q, "1234");
	read_expect(&q, 2, "12");
	ck_assert(msg_queue_full(&q));
	read_expect(&q, 2, "34");
	ck_assert(!msg_queue_full(&q));
	msg_queue_free(&q);
}
END_TEST

START_TEST(test_both_bounds_apply)
{
	struct msg_queue q;
	char big[100];

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(msg_queue_init(&q, 2, 100), 0);
	push_ok(&q, "a");
	push_ok(&q, "b");
	ck_assert_int_eq(msg_queue_push(&q, "c", 1, false), -ENOBUFS);
	msg_queue_pop(&q);
	ck_assert_int_eq(msg_queue_push(&q, "c", 1, false), 0);
	msg_queue_pop(&q);
	/* One message ("c") and 1 byte queued: room for 99 bytes, not 100. */
	ck_assert_int_eq(msg_queue_push(&q, big, 100, false), -ENOBUFS);
	ck_assert_int_eq(msg_queue_push(&q, big, 99, false), 0);
	ck_assert(msg_queue_full(&q));
	msg_queue_free(&q);
}
END_TEST

/* A message leaves the bounds only once read to its end: reading part of it frees nothing. */
START_TEST(test_stream_reads_free_the_bound_at_message_ends)
{
	struct msg_queue q;

	ck_assert_int_eq(msg_queue_init(&q, 2, 8), 0);
	push_ok(&q, "abcd");
	push_ok(&q, "efgh");
	ck_assert(msg_queue_full(&q));
	read_expect(&q, 3, "abc");
	ck_assert_uint_eq(msg_queue_count(&q), 2);
	ck_assert_uint_eq(msg_queue_bytes(&q), 5);
	ck_assert(msg_queue_full(&q));
	ck_assert_int_eq(msg_queue_push(&q, "i", 1, false), -ENOBUFS);
	/* Across the boundary: "d" ends the first message, "ef" starts the second. */
	read_expect(&q, 3, "def");
	ck_assert_uint_eq(msg_queue_count(&q), 1);
	ck_assert(!msg_queue_full(&q));
	/* The half-read second message still counts whole against the byte bound. */
	ck_assert_int_eq(msg_queue_push(&q, "ijklm", 5, false), -ENOBUFS);
	push_ok(&q, "ijkl");
	read_expect(&q, 100, "ghijkl");
	ck_assert_uint_eq(msg_queue_count(&q), 0);
	ck_assert_uint_eq(msg_queue_bytes(&q), 0);
	ck_assert_uint_eq(msg_queue_read(&q, (char[4]){0}, 4), 0);
	msg_queue_free(&q);
}
END_TEST

START_TEST(test_peek_shows_unread_bytes_and_consume_advances)
{
	struct msg_queue q;
	const void *p;

	ck_assert_int_eq(msg_queue_init(&q, 10, 0), 0);
	ck_assert_uint_eq(msg_queue_peek(&q, &p), 0);
	push_ok(&q, "hello ");
	push_ok(&q, "world");
	ck_assert_uint_eq(msg_queue_peek(&q, &p), 11);
	ck_assert_mem_eq(p, "hello world", 11);
	/* Peeking consumes nothing. */
	ck_assert_uint_eq(msg_queue_peek(&q, &p), 11);
	msg_queue_consume(&q, 4);
	ck_assert_uint_eq(msg_queue_peek(&q, &p), 7);
	ck_assert_mem_eq(p, "o world", 7);
	ck_assert_uint_eq(msg_queue_count(&q), 2);
	msg_queue_consume(&q, 2);
	ck_assert_uint_eq(msg_queue_count(&q), 1);
	/* Consuming more than there is stops at the end. */
	msg_queue_consume(&q, 1000);
	ck_assert_uint_eq(msg_queue_peek(&q, &p), 0);
	ck_assert_uint_eq(msg_queue_count(&q), 0);
	push_ok(&q, "again");
	ck_assert_uint_eq(msg_queue_peek(&q, &p), 5);
	ck_assert_mem_eq(p, "again", 5);
	msg_queue_free(&q);
}
END_TEST

START_TEST(test_first_and_pop_give_whole_messages)
{
	struct msg_queue q;
	const void *p;

	ck_assert_int_eq(msg_queue_init(&q, 10, 0), 0);
	ck_assert_uint_eq(msg_queue_first(&q, &p), 0);
	msg_queue_pop(&q); /* harmless when empty */
	push_ok(&q, "one");
	push_ok(&q, "three");
	ck_assert_uint_eq(msg_queue_first(&q, &p), 3);
	ck_assert_mem_eq(p, "one", 3);
	ck_assert_uint_eq(msg_queue_first(&q, &p), 3); /* first does not remove */
	msg_queue_pop(&q);
	ck_assert_uint_eq(msg_queue_count(&q), 1);
	ck_assert_uint_eq(msg_queue_first(&q, &p), 5);
	ck_assert_mem_eq(p, "three", 5);
	msg_queue_pop(&q);
	ck_assert_uint_eq(msg_queue_count(&q), 0);
	ck_assert_uint_eq(msg_queue_bytes(&q), 0);
	ck_assert_uint_eq(msg_queue_first(&q, &p), 0);
	msg_queue_free(&q);
}
END_TEST

/* A stream that broke mid-message sends that message whole on the next one. */
START_TEST(test_rewind_after_partial_read_gives_whole_first_message)
{
	struct msg_queue q;
	const void *p;

	ck_assert_int_eq(msg_queue_init(&q, 10, 0), 0);
	push_ok(&q, "first");
	push_ok(&q, "second");
	read_expect(&q, 7, "firstse");
	ck_assert_uint_eq(msg_queue_count(&q), 1);
	/* first() is the half-read message from its start, not from the read position. */
	ck_assert_uint_eq(msg_queue_first(&q, &p), 6);
	ck_assert_mem_eq(p, "second", 6);
	msg_queue_rewind(&q);
	ck_assert_uint_eq(msg_queue_bytes(&q), 6);
	read_expect(&q, 100, "second");
	/* Nothing half-read: rewind changes nothing. */
	push_ok(&q, "third");
	msg_queue_rewind(&q);
	ck_assert_uint_eq(msg_queue_bytes(&q), 5);
	/* pop after a partial read removes the whole message. */
	push_ok(&q, "fourth");
	read_expect(&q, 2, "th");
	msg_queue_pop(&q);
	ck_assert_uint_eq(msg_queue_count(&q), 1);
	read_expect(&q, 100, "fourth");
	msg_queue_free(&q);
}
END_TEST

/* The byte at offset i of everything pushed. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 11));
}

/* Does p[0..n) hold the pattern from offset start? (One assertion per call, not per byte.) */
static bool is_pattern(const void *p, size_t n, size_t start)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != pattern(start + i))
			return false;
	return true;
}

struct sent {
	size_t start, len;
};

/* 3 MiB through a queue that is never empty, read in odd chunks, with first(), rewind() and
 * pop() mixed in: compaction (after 1 MiB read) must keep every byte and message boundary
 * and bound memory. */
START_TEST(test_large_volume_stays_byte_exact_through_compaction)
{
	enum { TOTAL = 3 << 20, MAX_MSGS = 8192 };
	struct sent *msgs = calloc(MAX_MSGS, sizeof(*msgs));
	unsigned char *msg = malloc(4096), *got = malloc(8192);
	size_t pushed = 0, rd = 0, head = 0, n_msgs = 0, i, n, max_len = 0;
	struct msg_queue q;
	const void *p;
	unsigned int step = 0;

	ck_assert_ptr_nonnull(msgs);
	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(msg_queue_init(&q, 0, 64 << 10), 0);
	while (pushed < TOTAL || rd < pushed) {
		if (pushed < TOTAL) {
			size_t len = 700 + (n_msgs * 37) % 900;

			for (i = 0; i < len; i++)
				msg[i] = pattern(pushed + i);
			ck_assert_uint_lt(n_msgs, MAX_MSGS);
			ck_assert_int_eq(msg_queue_push(&q, msg, len, false), 0);
			msgs[n_msgs++] = (struct sent){pushed, len};
			pushed += len;
		}
		/* Keep a backlog so that the queue never empties (which resets it instead). */
		if (pushed < TOTAL && msg_queue_bytes(&q) < 6000)
			continue;
		step++;
		if (step % 7 == 0) {
			n = msg_queue_first(&q, &p);
			ck_assert_uint_eq(n, msgs[head].len);
			ck_assert_msg(is_pattern(p, n, msgs[head].start), "message %zu differs",
				      head);
			if (step % 14 == 0) {
				msg_queue_rewind(&q);
				rd = msgs[head].start;
			} else {
				msg_queue_pop(&q);
				rd = msgs[head].start + msgs[head].len;
			}
		} else {
			n = msg_queue_read(&q, got, 1000 + step % 3001);
			ck_assert_msg(is_pattern(got, n, rd), "bytes from %zu differ", rd);
			rd += n;
		}
		while (head < n_msgs && msgs[head].start + msgs[head].len <= rd)
			head++;
		ck_assert_uint_eq(msg_queue_count(&q), n_msgs - head);
		ck_assert_uint_eq(msg_queue_bytes(&q), pushed - rd);
		if (q.data.len > max_len)
			max_len = q.data.len;
	}
	ck_assert_uint_eq(rd, pushed);
	ck_assert_uint_eq(msg_queue_count(&q), 0);
	/* Read space was reclaimed: the buffer never held the whole 3 MiB. */
	ck_assert_uint_lt(max_len, (1 << 20) + (64 << 10));
	msg_queue_free(&q);
	free(msgs);
	free(msg);
	free(got);
}
END_TEST

/* Two queues sharing a budget: together their buffers (256 bytes at first, doubling) take at
 * most its max (forced messages go past it and count); what is read, and a queue freed, gives
 * room back; an empty queue takes one message whatever the others hold. */
START_TEST(test_shared_budget_bounds_queues_together)
{
	struct msg_queue_budget b = {.max = 1024};
	struct msg_queue q1, q2;
	char big[300], got[400];

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(msg_queue_init(&q1, 100, 0), 0);
	ck_assert_int_eq(msg_queue_init(&q2, 100, 0), 0);
	msg_queue_set_budget(&q1, &b);
	msg_queue_set_budget(&q2, &b);
	push_ok(&q1, "aaaa");
	push_ok(&q2, "bbbb");
	ck_assert_uint_eq(b.used, 512); /* two buffers of 256 */
	/* q1 to 512 bytes: 1024 in all, the bound. */
	ck_assert_int_eq(msg_queue_push(&q1, big, sizeof(big), false), 0);
	ck_assert_uint_eq(b.used, 768);
	ck_assert(!msg_queue_full(&q2));
	ck_assert_int_eq(msg_queue_push(&q2, big, sizeof(big), false), 0);
	ck_assert_uint_eq(b.used, 1024);
	/* Past it: q1 would grow to 1024; what fits in a buffer as it is still goes. */
	ck_assert_int_eq(msg_queue_push(&q1, big, 250, false), -ENOBUFS);
	ck_assert(!msg_queue_full(&q2));
	ck_assert_int_eq(msg_queue_push(&q2, "c", 1, false), 0);
	ck_assert_int_eq(msg_queue_push(&q1, big, 250, true), 0); /* forced: past, counted */
	ck_assert_uint_eq(b.used, 1536);
	/* A message half read still counts; the queue read empty gives its buffer back (small
	 * ones are kept: 256 bytes). */
	ck_assert_uint_eq(msg_queue_read(&q2, got, 2), 2);
	ck_assert_uint_eq(b.used, 1536);
	while (msg_queue_count(&q2))
		ck_assert_uint_gt(msg_queue_read(&q2, got, sizeof(got)), 0);
	ck_assert_uint_eq(b.used, 1536);
	msg_queue_free(&q1);
	ck_assert_uint_eq(b.used, 512);
	ck_assert_int_eq(msg_queue_push(&q2, big, sizeof(big), false), 0);
	/* The budget spent by q2, which does not read: an empty queue still takes one message (a
	 * client that reads is not starved), and then it is full. */
	b.max = 511; /* below what q2 holds */
	ck_assert_int_eq(msg_queue_init(&q1, 100, 0), 0);
	msg_queue_set_budget(&q1, &b);
	ck_assert(msg_queue_full(&q2));
	ck_assert(!msg_queue_full(&q1));
	ck_assert_int_eq(msg_queue_push(&q1, "fff", 3, false), 0);
	ck_assert(msg_queue_full(&q1));
	ck_assert_int_eq(msg_queue_push(&q1, "g", 1, false), -ENOBUFS);
	ck_assert_uint_eq(msg_queue_read(&q1, got, 3), 3);
	ck_assert(!msg_queue_full(&q1));
	msg_queue_free(&q1);
	msg_queue_free(&q2);
	ck_assert_uint_eq(b.used, 0);
}
END_TEST

/* A queue that grew for a burst gives the room back once read empty. */
START_TEST(test_a_queue_read_empty_gives_a_big_buffer_back)
{
	struct msg_queue_budget b = {0};
	static char big[100000];
	struct msg_queue q;

	ck_assert_int_eq(msg_queue_init(&q, 0, 1 << 20), 0);
	msg_queue_set_budget(&q, &b);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(msg_queue_push(&q, big, sizeof(big), false), 0);
	ck_assert_uint_ge(b.used, 500000);
	while (msg_queue_count(&q))
		msg_queue_read(&q, big, sizeof(big));
	ck_assert_uint_eq(b.used, 0);
	ck_assert_uint_eq(q.data.cap, 0);
	msg_queue_free(&q);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("msg_queue");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_init_needs_a_bound);
	tcase_add_test(tc, test_message_bound_refuses_then_force_goes_past);
	tcase_add_test(tc, test_forced_messages_past_the_ring_keep_their_order);
	tcase_add_test(tc, test_byte_bound_refuses_what_would_exceed_it);
	tcase_add_test(tc, test_both_bounds_apply);
	tcase_add_test(tc, test_stream_reads_free_the_bound_at_message_ends);
	tcase_add_test(tc, test_peek_shows_unread_bytes_and_consume_advances);
	tcase_add_test(tc, test_first_and_pop_give_whole_messages);
	tcase_add_test(tc, test_rewind_after_partial_read_gives_whole_first_message);
	tcase_add_test(tc, test_large_volume_stays_byte_exact_through_compaction);
	tcase_add_test(tc, test_shared_budget_bounds_queues_together);
	tcase_add_test(tc, test_a_queue_read_empty_gives_a_big_buffer_back);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
