/* Unit tests of the RFC 5424 syslog message encoder (syslog_msg.c): JSON and CEF payloads,
 * priorities, timestamps, HOSTNAME sanitising and RFC 6587 octet-counting framing. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/encode/syslog_msg.h"

#define T_EVENT 1704164645123456789ULL /* 2024-01-02T03:04:05.123456789Z */
#define HDR "<134>1 2024-01-02T03:04:05.123456Z host1 flowd 4242 flow - "
#define HDR_DROP "<132>1 2024-01-02T03:04:05.123456Z host1 flowd 4242 flow - "
#define CEF_HDR "CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|"
#define JSON_LINE "{\"flow\":{}}\n"

/* 10.0.0.1:40000 -> 10.0.0.2:80 over TCP, 1000 bytes sent and 5000 received, still open. */
static struct flow tcp_flow(void)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.0.0.1", f.src.addr);
	inet_pton(AF_INET, "10.0.0.2", f.dst.addr);
	f.src.port = 40000;
	f.dst.port = 80;
	f.verdict = FLOW_VERDICT_FORWARDED;
	f.event = FLOW_EVENT_UPDATE;
	f.packets[0] = 10;
	f.packets[1] = 8;
	f.bytes[0] = 1000;
	f.bytes[1] = 5000;
	f.time_ns = T_EVENT;
	f.first_seen_ns = 1704164640000999999ULL;
	f.last_seen_ns = 1704164645100000000ULL;
	return f;
}

static void assert_msg(const struct flow *f, bool cef, const char *json, const char *want)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(
		syslog_msg_format(&b, f, json, json ? strlen(json) : 0, cef, "host1", 4242), 0);
	ck_assert_str_eq(b.data, want);
	ck_assert_uint_eq(b.len, strlen(want));
	buf_free(&b);
}

START_TEST(test_json_message_strips_trailing_newline)
{
	struct flow f = tcp_flow();

	assert_msg(&f, false, JSON_LINE, HDR "{\"flow\":{}}");
	assert_msg(&f, false, "{\"flow\":{}}\r\n", HDR "{\"flow\":{}}");
	assert_msg(&f, false, "{\"a\":\"x\ny\"}", HDR "{\"a\":\"x\ny\"}"); /* only trailing ones */
	assert_msg(&f, false, "\n", HDR);
}
END_TEST

START_TEST(test_json_uses_only_json_len_bytes)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;
	const char *json = "{\"flow\":{}}\nTRAILING GARBAGE";

	ck_assert_int_eq(syslog_msg_format(&b, &f, json, 12, false, "host1", 4242), 0);
	ck_assert_str_eq(b.data, HDR "{\"flow\":{}}");
	buf_free(&b);
}
END_TEST

START_TEST(test_cef_tcp_flow)
{
	struct flow f = tcp_flow();

	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP act=FORWARDED "
			       "in=5000 out=1000 start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_cef_ignores_json)
{
	struct flow f = tcp_flow();

	assert_msg(&f, true, JSON_LINE,
		   HDR CEF_HDR "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP act=FORWARDED "
			       "in=5000 out=1000 start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_cef_reply_swaps_source_and_destination)
{
	struct flow f = tcp_flow();

	f.is_reply = true;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=10.0.0.2 dst=10.0.0.1 spt=80 dpt=40000 proto=TCP act=FORWARDED "
			       "in=1000 out=5000 start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_dropped_flow_is_warning)
{
	struct flow f = tcp_flow();

	f.verdict = FLOW_VERDICT_DROPPED;
	assert_msg(&f, true, NULL,
		   HDR_DROP CEF_HDR
		   "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP act=DROPPED "
		   "in=5000 out=1000 start=1704164640000 end=1704164645100");
	assert_msg(&f, false, JSON_LINE, HDR_DROP "{\"flow\":{}}");
}
END_TEST

START_TEST(test_drop_event_is_warning_even_if_forwarded)
{
	struct flow f = tcp_flow();

	f.event = FLOW_EVENT_DROP;
	assert_msg(&f, true, NULL,
		   HDR_DROP CEF_HDR "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP "
				    "act=FORWARDED in=5000 out=1000 start=1704164640000 "
				    "end=1704164645100");
	f.verdict = FLOW_VERDICT_UNKNOWN;
	f.event = FLOW_EVENT_END;
	assert_msg(&f, false, JSON_LINE, HDR "{\"flow\":{}}");
}
END_TEST

START_TEST(test_cef_icmp_has_no_ports)
{
	struct flow f = tcp_flow();

	f.proto = IPPROTO_ICMP;
	f.src.port = 1234; /* echo id: not a port */
	f.dst.port = 1234;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR
		   "src=10.0.0.1 dst=10.0.0.2 proto=ICMP act=FORWARDED in=5000 out=1000 "
		   "start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_cef_protocol_names)
{
	struct flow f = tcp_flow();

	f.proto = IPPROTO_SCTP;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR
		   "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=SCTP act=FORWARDED "
		   "in=5000 out=1000 start=1704164640000 end=1704164645100");
	f.proto = IPPROTO_GRE;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=10.0.0.1 dst=10.0.0.2 proto=47 act=FORWARDED in=5000 out=1000 "
			       "start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_cef_ipv6_udp)
{
	struct flow f = tcp_flow();

	f.family = 6;
	f.proto = IPPROTO_UDP;
	memset(f.src.addr, 0, sizeof(f.src.addr));
	memset(f.dst.addr, 0, sizeof(f.dst.addr));
	inet_pton(AF_INET6, "2001:db8::1", f.src.addr);
	inet_pton(AF_INET6, "fe80::a:b:c:d", f.dst.addr);
	f.src.port = 5353;
	f.dst.port = 53;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=2001:db8::1 dst=fe80::a:b:c:d spt=5353 dpt=53 proto=UDP "
			       "act=FORWARDED in=5000 out=1000 start=1704164640000 "
			       "end=1704164645100");
	f.proto = IPPROTO_ICMPV6;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR
		   "src=2001:db8::1 dst=fe80::a:b:c:d proto=ICMPv6 act=FORWARDED in=5000 "
		   "out=1000 start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_cef_end_of_ended_flow)
{
	struct flow f = tcp_flow();

	f.ended = true;
	f.end_ns = 1704164650999000000ULL;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP act=FORWARDED "
			       "in=5000 out=1000 start=1704164640000 end=1704164650999");
	f.end_ns = 0; /* ended without an end time: the last packet */
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP act=FORWARDED "
			       "in=5000 out=1000 start=1704164640000 end=1704164645100");
	f.ended = false; /* end_ns of a flow not ended is not its end */
	f.end_ns = 1704164650999000000ULL;
	assert_msg(&f, true, NULL,
		   HDR CEF_HDR "src=10.0.0.1 dst=10.0.0.2 spt=40000 dpt=80 proto=TCP act=FORWARDED "
			       "in=5000 out=1000 start=1704164640000 end=1704164645100");
}
END_TEST

START_TEST(test_cef_value_escaping)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(buf_puts(&b, "k="), 0);
	ck_assert_int_eq(syslog_msg_cef_value(&b, "a\\b=c|d\ne\rf plain"), 0);
	ck_assert_str_eq(b.data, "k=a\\\\b\\=c\\|d\\ne\\rf plain");
	buf_reset(&b);
	ck_assert_int_eq(syslog_msg_cef_value(&b, ""), 0);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_timestamp_microseconds_utc)
{
	struct flow f = tcp_flow();

	f.time_ns = 1; /* 1 ns after the epoch (0 would mean "now") */
	assert_msg(&f, false, "{}",
		   "<134>1 1970-01-01T00:00:00.000000Z host1 flowd 4242 flow - {}");
	f.time_ns =
		951782400999999999ULL; /* 2000-02-29T00:00:00.999999999: truncated, not rounded */
	assert_msg(&f, false, "{}",
		   "<134>1 2000-02-29T00:00:00.999999Z host1 flowd 4242 flow - {}");
	f.time_ns = 1735689599000001000ULL; /* 2024-12-31T23:59:59.000001 */
	assert_msg(&f, false, "{}",
		   "<134>1 2024-12-31T23:59:59.000001Z host1 flowd 4242 flow - {}");
}
END_TEST

static void fmt_now(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

START_TEST(test_zero_time_is_now)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;
	char before[64], after[64], got[64];

	f.time_ns = 0;
	fmt_now(before, sizeof(before));
	ck_assert_int_eq(syslog_msg_format(&b, &f, "{}", 2, false, "host1", 4242), 0);
	fmt_now(after, sizeof(after));
	ck_assert_int_eq(strncmp(b.data, "<134>1 ", 7), 0);
	ck_assert_uint_eq(strlen(before), 27);
	memcpy(got, b.data + 7, 27);
	got[27] = '\0';
	/* Same fixed-width format: the strings order like the times. */
	ck_assert_int_le(strcmp(before, got), 0);
	ck_assert_int_le(strcmp(got, after), 0);
	ck_assert_str_eq(b.data + 7 + 27, " host1 flowd 4242 flow - {}");
	buf_free(&b);
}
END_TEST

START_TEST(test_appends_and_keeps_previous_content)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;

	ck_assert_int_eq(buf_puts(&b, "before|"), 0);
	ck_assert_int_eq(syslog_msg_format(&b, &f, "{}", 2, false, "host1", 4242), 0);
	ck_assert_str_eq(b.data, "before|" HDR "{}");
	buf_free(&b);
}
END_TEST

START_TEST(test_error_leaves_output_unchanged)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;

	ck_assert_int_eq(buf_puts(&b, "before"), 0);
	ck_assert_int_eq(syslog_msg_format(&b, &f, NULL, 5, false, "host1", 4242), -EINVAL);
	ck_assert_str_eq(b.data, "before");
	ck_assert_uint_eq(b.len, 6);
	/* No JSON at all is an empty MSG, not an error. */
	ck_assert_int_eq(syslog_msg_format(&b, &f, NULL, 0, false, "host1", 4242), 0);
	ck_assert_str_eq(b.data, "before" HDR);
	buf_free(&b);
}
END_TEST

START_TEST(test_pid_and_missing_hostname)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;

	ck_assert_int_eq(syslog_msg_format(&b, &f, "{}", 2, false, "", 1), 0);
	ck_assert_str_eq(b.data, "<134>1 2024-01-02T03:04:05.123456Z - flowd 1 flow - {}");
	buf_reset(&b);
	ck_assert_int_eq(syslog_msg_format(&b, &f, "{}", 2, false, NULL, 99999), 0);
	ck_assert_str_eq(b.data, "<134>1 2024-01-02T03:04:05.123456Z - flowd 99999 flow - {}");
	buf_free(&b);
}
END_TEST

START_TEST(test_hostname_sanitising)
{
	char h[SYSLOG_MSG_HOSTNAME_MAX], long_name[400];

	syslog_msg_hostname(h, "node-1.example.com");
	ck_assert_str_eq(h, "node-1.example.com");
	syslog_msg_hostname(h, "my host\x01\tname\x7f");
	ck_assert_str_eq(h, "my_host__name_");
	syslog_msg_hostname(h, "caf\xc3\xa9"); /* UTF-8 is not US-ASCII */
	ck_assert_str_eq(h, "caf__");
	syslog_msg_hostname(h, " ");
	ck_assert_str_eq(h, "_");
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	syslog_msg_hostname(h, long_name); /* RFC 5424: 255 characters at most */
	ck_assert_uint_eq(strlen(h), 255);
	ck_assert_int_eq(strspn(h, "a"), 255);
}
END_TEST

START_TEST(test_hostname_default_is_gethostname)
{
	char h[SYSLOG_MSG_HOSTNAME_MAX], want[SYSLOG_MSG_HOSTNAME_MAX],
		sys[SYSLOG_MSG_HOSTNAME_MAX];

	ck_assert_int_eq(gethostname(sys, sizeof(sys)), 0);
	sys[sizeof(sys) - 1] = '\0';
	syslog_msg_hostname(want, sys);
	if (!*sys)
		ck_assert_str_eq(want, "-"); /* nothing left: RFC 5424's NILVALUE */
	syslog_msg_hostname(h, "");
	ck_assert_str_eq(h, want);
	syslog_msg_hostname(h, NULL);
	ck_assert_str_eq(h, want);
	ck_assert_uint_gt(strlen(h), 0);
	ck_assert_ptr_null(strpbrk(h, " \t\r\n"));
}
END_TEST

START_TEST(test_octet_counting_frame)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(syslog_msg_frame(&b, "hello", 5), 0);
	ck_assert_str_eq(b.data, "5 hello");
	ck_assert_int_eq(syslog_msg_frame(&b, "", 0), 0);
	ck_assert_int_eq(syslog_msg_frame(&b, "ab\ncd", 5), 0); /* LEN counts octets, any octets */
	ck_assert_uint_eq(b.len, 7 + 2 + 7);
	ck_assert_int_eq(memcmp(b.data, "5 hello0 5 ab\ncd", b.len), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_frame_of_a_message)
{
	struct flow f = tcp_flow();
	struct buf msg = BUF_INIT, out = BUF_INIT;
	char want[512];

	ck_assert_int_eq(syslog_msg_format(&msg, &f, NULL, 0, true, "host1", 4242), 0);
	ck_assert_int_eq(syslog_msg_frame(&out, msg.data, msg.len), 0);
	snprintf(want, sizeof(want), "%zu %s", msg.len, msg.data);
	ck_assert_str_eq(out.data, want);
	ck_assert_int_eq(strncmp(out.data, "226 <134>1 ", 11), 0);
	buf_free(&msg);
	buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("syslog_msg");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_json_message_strips_trailing_newline);
	tcase_add_test(tc, test_json_uses_only_json_len_bytes);
	tcase_add_test(tc, test_cef_tcp_flow);
	tcase_add_test(tc, test_cef_ignores_json);
	tcase_add_test(tc, test_cef_reply_swaps_source_and_destination);
	tcase_add_test(tc, test_dropped_flow_is_warning);
	tcase_add_test(tc, test_drop_event_is_warning_even_if_forwarded);
	tcase_add_test(tc, test_cef_icmp_has_no_ports);
	tcase_add_test(tc, test_cef_protocol_names);
	tcase_add_test(tc, test_cef_ipv6_udp);
	tcase_add_test(tc, test_cef_end_of_ended_flow);
	tcase_add_test(tc, test_cef_value_escaping);
	tcase_add_test(tc, test_timestamp_microseconds_utc);
	tcase_add_test(tc, test_zero_time_is_now);
	tcase_add_test(tc, test_appends_and_keeps_previous_content);
	tcase_add_test(tc, test_error_leaves_output_unchanged);
	tcase_add_test(tc, test_pid_and_missing_hostname);
	tcase_add_test(tc, test_hostname_sanitising);
	tcase_add_test(tc, test_hostname_default_is_gethostname);
	tcase_add_test(tc, test_octet_counting_frame);
	tcase_add_test(tc, test_frame_of_a_message);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
