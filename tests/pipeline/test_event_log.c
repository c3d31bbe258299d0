/* Unit tests of the flow event log (collector/pipeline/event_log.c) and of Hubble's view of an
 * event (collector/pipeline/flow_view.c): ring order and overwrite, event types, observation
 * points, uuids (their text, their event number and session). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <string.h>

#include "flowscope/pipeline/event_log.h"
#include "flowscope/base/addr.h"
#include "flowscope/pipeline/flow_view.h"

static int collect(const struct flow *ev, void *ctx)
{
	uint64_t **out = ctx;

	*(*out)++ = ev->seq;
	return 0;
}

START_TEST(test_ring_keeps_the_newest_in_order)
{
	struct event_log *l = event_log_new(4);
	struct event_log_stats st;
	uint64_t got[8], *p = got, i;

	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_null(event_log_new(0));
	ck_assert_int_eq(errno, EINVAL);
	for (i = 1; i <= 6; i++)
		event_log_append(l)->seq = i;
	ck_assert_int_eq(event_log_foreach(l, collect, &p), 0);
	ck_assert_int_eq(p - got, 4);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(got[i], i + 3);
	event_log_get_stats(l, &st);
	ck_assert_uint_eq(st.appended, 6);
	ck_assert_uint_eq(st.held, 4);
	ck_assert_uint_eq(st.overwritten, 2);
	ck_assert_uint_eq(event_log_capacity(l), 4);
	event_log_free(l);
}
END_TEST

START_TEST(test_event_types_as_hubble_has_them)
{
	struct flow f;
	int32_t type, sub;

	memset(&f, 0, sizeof(f));
	f.event = FLOW_EVENT_START;
	f.obs_point = FLOW_OBS_TO_ENDPOINT;
	flow_event_type(&f, &type, &sub);
	ck_assert_int_eq(type, 4);
	ck_assert_int_eq(sub, 0);
	ck_assert_int_eq(flow_trace_point(&f), 101); /* TO_ENDPOINT in flow.proto */
	f.obs_point = FLOW_OBS_FROM_NETWORK;
	flow_event_type(&f, &type, &sub);
	ck_assert_int_eq(sub, 10);
	ck_assert_int_eq(flow_trace_point(&f), 10);
	f.event = FLOW_EVENT_DNS;
	f.dns.present = true;
	flow_event_type(&f, &type, &sub);
	ck_assert_int_eq(type, 129);
	ck_assert_int_eq(flow_trace_point(&f), 0);
	f.event = FLOW_EVENT_DROP;
	flow_event_type(&f, &type, &sub);
	ck_assert_int_eq(type, 1);
	ck_assert_int_eq(sub, 0); /* no drops counted: no reason */
	ck_assert_int_eq(flow_trace_point(&f), 0);
}
END_TEST

START_TEST(test_uuid_text_round_trip)
{
	struct flow f;
	char s[FLOW_UUID_STR_LEN];
	uint8_t back[16];

	memset(&f, 0, sizeof(f));
	memcpy(f.uuid, "\x01\x23\x45\x67\x89\xab\x4d\xef\x80\x00\x00\x00\x00\x00\x01\x00", 16);
	flow_uuid_str(&f, s);
	ck_assert_str_eq(s, "01234567-89ab-4def-8000-000000000100");
	ck_assert_int_eq(flow_uuid_parse(s, back), 0);
	ck_assert_mem_eq(back, f.uuid, 16);
	ck_assert_int_eq(flow_uuid_parse("01234567-89AB-4DEF-8000-000000000100", back), 0);
	ck_assert_mem_eq(back, f.uuid, 16);
	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-4def-8000-00000000010", back), -EINVAL);
	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-4def-8000-0000000001000", back), -EINVAL);
	ck_assert_int_eq(flow_uuid_parse("0123456789ab-4def-8000-0000000001000", back), -EINVAL);
	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-4def-8000-00000000010g", back), -EINVAL);
}
END_TEST

/* addr_str formats IPv4 by hand: every digit count, against inet_ntop; IPv6 too. */
START_TEST(test_addr_text_matches_inet_ntop)
{
	static const uint8_t v4[][4] = {{0, 0, 0, 0},	 {255, 255, 255, 255}, {10, 0, 100, 9},
					{1, 20, 3, 199}, {192, 168, 10, 1},    {9, 99, 100, 109},
					{127, 0, 0, 1}};
	char got[ADDR_STR_LEN], want[INET6_ADDRSTRLEN];
	uint8_t a[16];
	size_t i;
	int v;

	for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		memset(a, 0xee, sizeof(a)); /* the bytes past an IPv4 address are never read */
		memcpy(a, v4[i], 4);
		addr_str(4, a, got);
		inet_ntop(AF_INET, a, want, sizeof(want));
		ck_assert_str_eq(got, want);
	}
	for (v = 0; v < 256; v++) {
		uint8_t b[16] = {(uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v * 7), (uint8_t)v};

		addr_str(4, b, got);
		inet_ntop(AF_INET, b, want, sizeof(want));
		ck_assert_str_eq(got, want);
	}
	inet_pton(AF_INET6, "fd00:1::2", a);
	addr_str(6, a, got);
	ck_assert_str_eq(got, "fd00:1::2");
}
END_TEST

START_TEST(test_ring_by_position)
{
	struct event_log *l = event_log_new(4);
	uint64_t i;

	ck_assert_ptr_null(event_log_oldest(l));
	ck_assert_ptr_null(event_log_newest(l));
	ck_assert_ptr_null(event_log_at(l, 0));
	event_log_append(l)->seq = 1;
	ck_assert_ptr_eq(event_log_oldest(l), event_log_newest(l));
	for (i = 2; i <= 6; i++)
		event_log_append(l)->seq = i;
	ck_assert_uint_eq(event_log_oldest(l)->seq, 3);
	ck_assert_uint_eq(event_log_newest(l)->seq, 6);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(event_log_at(l, i)->seq, 3 + i);
	ck_assert_ptr_null(event_log_at(l, 4));
	event_log_free(l);
}
END_TEST

/* The collector's uuids: session in the first 8 bytes, the event number in the last 62 bits. */
START_TEST(test_uuid_number_and_session)
{
	uint8_t a[16], b[16];
	uint64_t n;

	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-4def-8000-000000000100", a), 0);
	ck_assert_int_eq(flow_uuid_seq(a, &n), 0);
	ck_assert_uint_eq(n, 0x100);
	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-4def-bfff-ffffffffffff", b), 0);
	ck_assert_int_eq(flow_uuid_seq(b, &n), 0);
	ck_assert_uint_eq(n, FLOW_UUID_SEQ_MAX);
	ck_assert(flow_uuid_same_session(a, b));
	b[3] ^= 1;
	ck_assert(!flow_uuid_same_session(a, b));
	/* Not the collector's form: another version, or another variant. */
	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-1def-8000-000000000100", b), 0);
	ck_assert_int_eq(flow_uuid_seq(b, &n), -EINVAL);
	ck_assert_int_eq(flow_uuid_parse("01234567-89ab-4def-c000-000000000100", b), 0);
	ck_assert_int_eq(flow_uuid_seq(b, &n), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("event_log");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_ring_keeps_the_newest_in_order);
	tcase_add_test(tc, test_event_types_as_hubble_has_them);
	tcase_add_test(tc, test_uuid_text_round_trip);
	tcase_add_test(tc, test_ring_by_position);
	tcase_add_test(tc, test_addr_text_matches_inet_ntop);
	tcase_add_test(tc, test_uuid_number_and_session);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
