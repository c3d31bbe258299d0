/* Unit tests of the value parsers every front end shares (base/parse.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "flowscope/base/parse.h"

#define NS 1000000000ULL

START_TEST(test_u64_accepts_decimal_up_to_max)
{
	uint64_t v = 7;

	ck_assert_int_eq(parse_u64("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("10", 10, &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(parse_u64("007", 10, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_u64_refuses_sign_space_text_and_out_of_range)
{
	uint64_t v = 42;

	ck_assert_int_eq(parse_u64(NULL, 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("-1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("+1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64(" 1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("1 ", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("1x", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("0x1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("11", 10, &v), -ERANGE);
	ck_assert_int_eq(parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	ck_assert_uint_eq(v, 42); /* untouched on failure */
}
END_TEST

START_TEST(test_duration_units_and_fractions)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ns("1.5s", &v), 0);
	ck_assert_uint_eq(v, 1500000000ULL);
	ck_assert_int_eq(parse_duration_ns("500ms", &v), 0);
	ck_assert_uint_eq(v, 500000000ULL);
	ck_assert_int_eq(parse_duration_ns("5m", &v), 0);
	ck_assert_uint_eq(v, 300 * NS);
	ck_assert_int_eq(parse_duration_ns("2h", &v), 0);
	ck_assert_uint_eq(v, 7200 * NS);
	ck_assert_int_eq(parse_duration_ns("250us", &v), 0);
	ck_assert_uint_eq(v, 250000);
	ck_assert_int_eq(parse_duration_ns("7ns", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_duration_ns(".5s", &v), 0);
	ck_assert_uint_eq(v, 500000000ULL);
	ck_assert_int_eq(parse_duration_ns("0", &v), 0);
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(test_duration_bare_number_is_seconds)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ns("30", &v), 0);
	ck_assert_uint_eq(v, 30 * NS);
	ck_assert_int_eq(parse_duration_ns("0.25", &v), 0);
	ck_assert_uint_eq(v, 250000000ULL);
}
END_TEST

/* Decimal fractions are not exact in binary (1.001 * 1000 is 1000.999...): the parsed value
 * must still be the nanoseconds the user wrote, not one less. */
START_TEST(test_duration_decimal_fraction_is_exact_in_ns)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ns("1.001us", &v), 0);
	ck_assert_uint_eq(v, 1001);
	ck_assert_int_eq(parse_duration_ns("1.003us", &v), 0);
	ck_assert_uint_eq(v, 1003);
	ck_assert_int_eq(parse_duration_ns("0.001s", &v), 0);
	ck_assert_uint_eq(v, 1000000);
	ck_assert_int_eq(parse_duration_ns("2.3s", &v), 0);
	ck_assert_uint_eq(v, 2300000000ULL);
}
END_TEST

START_TEST(test_duration_refuses_negative_unknown_unit_and_huge)
{
	uint64_t v = 99;

	ck_assert_int_eq(parse_duration_ns(NULL, &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("-1s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("+1s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1x", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1 s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1S", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1sec", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns(".", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("inf", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("nan", &v), -EINVAL);
	/* 1e7 hours is 3.6e22 ns: past uint64_t. */
	ck_assert_int_eq(parse_duration_ns("10000000h", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1e400s", &v), -EINVAL);
	ck_assert_uint_eq(v, 99);
}
END_TEST

START_TEST(test_size_units_are_powers_of_1024)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("100", &v), 0);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(parse_size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_size("16K", &v), 0);
	ck_assert_uint_eq(v, 16384);
	ck_assert_int_eq(parse_size("16k", &v), 0);
	ck_assert_uint_eq(v, 16384);
	ck_assert_int_eq(parse_size("100M", &v), 0);
	ck_assert_uint_eq(v, 100ULL << 20);
	ck_assert_int_eq(parse_size("1G", &v), 0);
	ck_assert_uint_eq(v, 1ULL << 30);
	ck_assert_int_eq(parse_size("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	/* The largest G that fits: (2^64 - 1) / 2^30 = 2^34 - 1. */
	ck_assert_int_eq(parse_size("17179869183G", &v), 0);
	ck_assert_uint_eq(v, ((1ULL << 34) - 1) << 30);
}
END_TEST

START_TEST(test_size_refuses_unknown_unit_fraction_and_overflow)
{
	uint64_t v = 5;

	ck_assert_int_eq(parse_size(NULL, &v), -EINVAL);
	ck_assert_int_eq(parse_size("", &v), -EINVAL);
	ck_assert_int_eq(parse_size("K", &v), -EINVAL);
	ck_assert_int_eq(parse_size("1T", &v), -EINVAL);
	ck_assert_int_eq(parse_size("16KB", &v), -EINVAL);
	ck_assert_int_eq(parse_size("1m", &v), -EINVAL);
	ck_assert_int_eq(parse_size("1.5M", &v), -EINVAL);
	ck_assert_int_eq(parse_size("-1", &v), -EINVAL);
	ck_assert_int_eq(parse_size(" 1", &v), -EINVAL);
	ck_assert_int_eq(parse_size("17179869184G", &v), -ERANGE);
	ck_assert_int_eq(parse_size("18014398509481984K", &v), -ERANGE);
	ck_assert_int_eq(parse_size("18446744073709551616", &v), -ERANGE);
	ck_assert_int_ne(parse_size("1000000000000000000000000000000000000", &v), 0);
	ck_assert_uint_eq(v, 5);
}
END_TEST

START_TEST(test_bool_words_in_any_case)
{
	static const char *const yes[] = {"1", "true", "yes", "on", "TRUE", "Yes", "ON"};
	static const char *const no[] = {"0", "false", "no", "off", "FALSE", "No", "oFf"};
	size_t i;
	bool b;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		ck_assert_int_eq(parse_bool(yes[i], &b), 0);
		ck_assert_msg(b, "'%s' must be true", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		ck_assert_int_eq(parse_bool(no[i], &b), 0);
		ck_assert_msg(!b, "'%s' must be false", no[i]);
	}
}
END_TEST

START_TEST(test_bool_refuses_other_words)
{
	bool b = true;

	ck_assert_int_eq(parse_bool(NULL, &b), -EINVAL);
	ck_assert_int_eq(parse_bool("", &b), -EINVAL);
	ck_assert_int_eq(parse_bool("2", &b), -EINVAL);
	ck_assert_int_eq(parse_bool("y", &b), -EINVAL);
	ck_assert_int_eq(parse_bool("truee", &b), -EINVAL);
	ck_assert_int_eq(parse_bool(" on", &b), -EINVAL);
	ck_assert(b);
}
END_TEST

START_TEST(test_hostport_v4_v6_and_empty_host)
{
	char host[64];
	uint16_t port;

	ck_assert_int_eq(parse_hostport("127.0.0.1:4245", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 4245);
	ck_assert_int_eq(parse_hostport("[::1]:4245", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 4245);
	ck_assert_int_eq(parse_hostport(":80", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "");
	ck_assert_uint_eq(port, 80);
	ck_assert_int_eq(parse_hostport("localhost:1", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_uint_eq(port, 1);
	ck_assert_int_eq(parse_hostport("h:65535", host, sizeof(host), &port), 0);
	ck_assert_uint_eq(port, 65535);
}
END_TEST

START_TEST(test_hostport_refuses_bad_ports_and_shapes)
{
	char host[64] = "unchanged", small[4];
	uint16_t port = 9;

	ck_assert_int_eq(parse_hostport("h:0", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:65536", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:x", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:-1", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport(NULL, host, sizeof(host), &port), -EINVAL);
	/* An IPv6 address must be bracketed, else its colons are ambiguous. */
	ck_assert_int_eq(parse_hostport("::1:4245", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1]", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1]4245", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1:4245", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1]:0", host, sizeof(host), &port), -EINVAL);
	ck_assert_str_eq(host, "unchanged");
	ck_assert_uint_eq(port, 9);
	/* The host must fit with its NUL. */
	ck_assert_int_eq(parse_hostport("abcd:1", small, sizeof(small), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("abc:1", small, sizeof(small), &port), 0);
	ck_assert_str_eq(small, "abc");
}
END_TEST

START_TEST(test_url_scheme_host_port_path)
{
	struct url u;

	ck_assert_int_eq(parse_url("udp://127.0.0.1:514", &u), 0);
	ck_assert_str_eq(u.scheme, "udp");
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_uint_eq(u.port, 514);
	ck_assert_str_eq(u.path, "");
	ck_assert_int_eq(parse_url("tls://[::1]:6514", &u), 0);
	ck_assert_str_eq(u.scheme, "tls");
	ck_assert_str_eq(u.host, "::1");
	ck_assert_uint_eq(u.port, 6514);
	ck_assert_str_eq(u.path, "");
	ck_assert_int_eq(parse_url("http://127.0.0.1:8123/path", &u), 0);
	ck_assert_str_eq(u.scheme, "http");
	ck_assert_str_eq(u.host, "127.0.0.1");
	ck_assert_uint_eq(u.port, 8123);
	ck_assert_str_eq(u.path, "/path");
	ck_assert_int_eq(parse_url("syslog+tls2://collector.example:6514/a/b?c=d", &u), 0);
	ck_assert_str_eq(u.scheme, "syslog+tls2");
	ck_assert_str_eq(u.host, "collector.example");
	ck_assert_str_eq(u.path, "/a/b?c=d");
	ck_assert_int_eq(parse_url("http://h:1/", &u), 0);
	ck_assert_str_eq(u.path, "/");
}
END_TEST

START_TEST(test_url_refuses_missing_parts_and_upper_case_scheme)
{
	struct url u;

	ck_assert_int_eq(parse_url(NULL, &u), -EINVAL);
	ck_assert_int_eq(parse_url("", &u), -EINVAL);
	ck_assert_int_eq(parse_url("127.0.0.1:514", &u), -EINVAL);
	ck_assert_int_eq(parse_url("://127.0.0.1:514", &u), -EINVAL);
	ck_assert_int_eq(parse_url("udp:/127.0.0.1:514", &u), -EINVAL);
	ck_assert_int_eq(parse_url("udp://127.0.0.1", &u), -EINVAL);
	ck_assert_int_eq(parse_url("udp://127.0.0.1:", &u), -EINVAL);
	ck_assert_int_eq(parse_url("http://127.0.0.1/path", &u), -EINVAL);
	ck_assert_int_eq(parse_url("udp://:514", &u), -EINVAL);
	ck_assert_int_eq(parse_url("udp://127.0.0.1:0", &u), -EINVAL);
	ck_assert_int_eq(parse_url("UDP://127.0.0.1:514", &u), -EINVAL);
	ck_assert_int_eq(parse_url("Http://127.0.0.1:80", &u), -EINVAL);
	ck_assert_int_eq(parse_url("ud-p://127.0.0.1:514", &u), -EINVAL);
	/* The scheme must fit its 16 bytes with the NUL. */
	ck_assert_int_eq(parse_url("abcdefghijklmnop://h:1", &u), -EINVAL);
	ck_assert_int_eq(parse_url("abcdefghijklmno://h:1", &u), 0);
	ck_assert_str_eq(u.scheme, "abcdefghijklmno");
}
END_TEST

START_TEST(test_rfc3339_utc_fraction_and_offsets)
{
	uint64_t v;

	/* 2026-11-24: 56 years from 1970 with 14 leap days = 20454 days, + 327 days into 2026,
	 * = 20781 days = 1795478400 s; + 10 h = 1795514400. */
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00Z", &v), 0);
	ck_assert_uint_eq(v, 1795514400ULL * NS);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00z", &v), 0);
	ck_assert_uint_eq(v, 1795514400ULL * NS);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00.123456789Z", &v), 0);
	ck_assert_uint_eq(v, 1795514400ULL * NS + 123456789);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00.5Z", &v), 0);
	ck_assert_uint_eq(v, 1795514400ULL * NS + 500000000);
	/* 10:00 at +01:00 is 09:00Z. */
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00.5+01:00", &v), 0);
	ck_assert_uint_eq(v, (1795514400ULL - 3600) * NS + 500000000);
	/* 10:00 at -05:30 is 15:30Z. */
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00-05:30", &v), 0);
	ck_assert_uint_eq(v, (1795514400ULL + 5 * 3600 + 30 * 60) * NS);
	/* A leap day: 10957 days to 2000, + 59 = 11016 days, + 86399 s. */
	ck_assert_int_eq(parse_rfc3339("2000-02-29T23:59:59Z", &v), 0);
	ck_assert_uint_eq(v, (11016ULL * 86400 + 86399) * NS);
	ck_assert_int_eq(parse_rfc3339("1970-01-01T00:00:00Z", &v), 0);
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(test_rfc3339_refuses_missing_zone_garbage_and_pre_epoch)
{
	uint64_t v = 3;

	ck_assert_int_eq(parse_rfc3339(NULL, &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00.5", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00Zjunk", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00+01:00x", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00+0100", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00+01", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24T10:00:00.Z", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24 10:00:00Z", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("2026-11-24", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339(" 2026-11-24T10:00:00Z", &v), -EINVAL);
	ck_assert_int_eq(parse_rfc3339("1969-12-31T23:59:59Z", &v), -ERANGE);
	ck_assert_int_eq(parse_rfc3339("1970-01-01T00:30:00+01:00", &v), -ERANGE);
	ck_assert_uint_eq(v, 3);
}
END_TEST

START_TEST(test_time_duration_is_before_now)
{
	uint64_t now = 1795514400ULL * NS, v;

	ck_assert_int_eq(parse_time("5m", now, &v), 0);
	ck_assert_uint_eq(v, now - 300 * NS);
	ck_assert_int_eq(parse_time("0s", now, &v), 0);
	ck_assert_uint_eq(v, now);
	ck_assert_int_eq(parse_time("30", now, &v), 0);
	ck_assert_uint_eq(v, now - 30 * NS);
	ck_assert_int_eq(parse_time("2026-11-24T09:00:00Z", now, &v), 0);
	ck_assert_uint_eq(v, now - 3600 * NS);
	/* Further back than the epoch. */
	ck_assert_int_eq(parse_time("5m", 299 * NS, &v), -ERANGE);
	ck_assert_int_eq(parse_time("5x", now, &v), -EINVAL);
	ck_assert_int_eq(parse_time("yesterday", now, &v), -EINVAL);
}
END_TEST

START_TEST(test_cidr_v4_v6_with_and_without_len)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
	static const uint8_t lo6[16] = {[15] = 1};
	struct cidr c;

	ck_assert_int_eq(parse_cidr("10.1.2.3", &c), 0);
	ck_assert_uint_eq(c.family, 4);
	ck_assert_uint_eq(c.bits, 32);
	ck_assert(!c.has_len);
	ck_assert_mem_eq(c.addr, "\x0a\x01\x02\x03", 4);
	ck_assert_int_eq(parse_cidr("10.0.0.0/8", &c), 0);
	ck_assert_uint_eq(c.family, 4);
	ck_assert_uint_eq(c.bits, 8);
	ck_assert(c.has_len);
	ck_assert_int_eq(parse_cidr("0.0.0.0/0", &c), 0);
	ck_assert_uint_eq(c.bits, 0);
	ck_assert(c.has_len);
	ck_assert_int_eq(parse_cidr("1.2.3.4/32", &c), 0);
	ck_assert_uint_eq(c.bits, 32);
	ck_assert_int_eq(parse_cidr("::1", &c), 0);
	ck_assert_uint_eq(c.family, 6);
	ck_assert_uint_eq(c.bits, 128);
	ck_assert(!c.has_len);
	ck_assert_mem_eq(c.addr, lo6, 16);
	ck_assert_int_eq(parse_cidr("2001:db8::/32", &c), 0);
	ck_assert_uint_eq(c.family, 6);
	ck_assert_uint_eq(c.bits, 32);
	ck_assert(c.has_len);
	ck_assert_mem_eq(c.addr, v6, 16);
	ck_assert_int_eq(parse_cidr("::/128", &c), 0);
	ck_assert_uint_eq(c.bits, 128);
}
END_TEST

START_TEST(test_cidr_refuses_long_prefixes_and_bad_addresses)
{
	struct cidr c;

	ck_assert_int_eq(parse_cidr("10.0.0.0/33", &c), -ERANGE);
	ck_assert_int_eq(parse_cidr("::/129", &c), -ERANGE);
	ck_assert_int_eq(parse_cidr("10.0.0.0/0032", &c), -ERANGE);
	ck_assert_int_ne(parse_cidr("10.0.0.0/", &c), 0);
	ck_assert_int_ne(parse_cidr("10.0.0.0/x", &c), 0);
	ck_assert_int_ne(parse_cidr("10.0.0.0/-1", &c), 0);
	ck_assert_int_ne(parse_cidr("10.0.0.0/8/8", &c), 0);
	ck_assert_int_eq(parse_cidr(NULL, &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("", &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("/8", &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("10.0.0", &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("256.0.0.0", &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("example.com/8", &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("[::1]", &c), -EINVAL);
	ck_assert_int_eq(parse_cidr("::1::2", &c), -EINVAL);
}
END_TEST

static bool contains(const char *net, const char *addr)
{
	struct cidr c, a;

	ck_assert_int_eq(parse_cidr(net, &c), 0);
	ck_assert_int_eq(parse_cidr(addr, &a), 0);
	return cidr_contains(&c, a.family, a.addr);
}

START_TEST(test_cidr_contains_byte_aligned_prefixes)
{
	ck_assert(contains("10.0.0.0/8", "10.255.1.2"));
	ck_assert(!contains("10.0.0.0/8", "11.0.0.1"));
	ck_assert(contains("192.168.1.0/24", "192.168.1.255"));
	ck_assert(!contains("192.168.1.0/24", "192.168.2.1"));
	ck_assert(contains("1.2.3.4", "1.2.3.4"));
	ck_assert(!contains("1.2.3.4", "1.2.3.5"));
	ck_assert(contains("2001:db8::/32", "2001:db8:ffff::1"));
	ck_assert(!contains("2001:db8::/32", "2001:db9::1"));
	ck_assert(contains("::1", "::1"));
	ck_assert(!contains("::1", "::2"));
}
END_TEST

START_TEST(test_cidr_contains_non_byte_aligned_prefixes)
{
	ck_assert(contains("172.16.0.0/12", "172.16.0.0"));
	ck_assert(contains("172.16.0.0/12", "172.31.255.255"));
	ck_assert(!contains("172.16.0.0/12", "172.32.0.0"));
	ck_assert(!contains("172.16.0.0/12", "172.15.255.255"));
	ck_assert(contains("10.0.0.0/31", "10.0.0.1"));
	ck_assert(!contains("10.0.0.0/31", "10.0.0.2"));
	ck_assert(contains("128.0.0.0/1", "255.255.255.255"));
	ck_assert(!contains("128.0.0.0/1", "127.255.255.255"));
	ck_assert(contains("fe80::/10", "febf::1"));
	ck_assert(!contains("fe80::/10", "fec0::1"));
	ck_assert(contains("2001:db8::/127", "2001:db8::1"));
	ck_assert(!contains("2001:db8::/127", "2001:db8::2"));
	/* Host bits past the prefix are not compared. */
	ck_assert(contains("172.17.1.2/12", "172.30.0.1"));
}
END_TEST

START_TEST(test_cidr_contains_zero_prefix_and_family_mismatch)
{
	ck_assert(contains("0.0.0.0/0", "1.2.3.4"));
	ck_assert(contains("0.0.0.0/0", "255.255.255.255"));
	ck_assert(contains("::/0", "2001:db8::1"));
	ck_assert(!contains("0.0.0.0/0", "::1"));
	ck_assert(!contains("::/0", "1.2.3.4"));
	/* ::ffff:10.0.0.1 is an IPv6 address, even though it maps an IPv4 one. */
	ck_assert(!contains("10.0.0.0/8", "::ffff:10.0.0.1"));
	ck_assert(!contains("::ffff:0:0/96", "10.0.0.1"));
}
END_TEST

START_TEST(test_cidr_masked_clears_host_bits)
{
	struct cidr c, m, n;

	ck_assert_int_eq(parse_cidr("10.1.2.3/8", &c), 0);
	cidr_masked(&c, &m);
	ck_assert_uint_eq(m.family, 4);
	ck_assert_uint_eq(m.bits, 8);
	ck_assert(m.has_len);
	ck_assert_mem_eq(m.addr, "\x0a\x00\x00\x00", 4);
	ck_assert_int_eq(parse_cidr("172.31.2.3/12", &c), 0);
	cidr_masked(&c, &m);
	ck_assert_mem_eq(m.addr, "\xac\x10\x00\x00", 4);
	ck_assert_int_eq(parse_cidr("2001:db8:abcd::1/36", &c), 0);
	cidr_masked(&c, &m);
	ck_assert_uint_eq(m.family, 6);
	ck_assert_int_eq(parse_cidr("2001:db8:a000::", &n), 0);
	ck_assert_mem_eq(m.addr, n.addr, 16);
	ck_assert_int_eq(parse_cidr("255.255.255.255/0", &c), 0);
	cidr_masked(&c, &m);
	ck_assert_mem_eq(m.addr, "\0\0\0\0", 4);
	/* Nothing to clear: the same address, the way a caller detects stray host bits. */
	ck_assert_int_eq(parse_cidr("192.168.0.0/16", &c), 0);
	cidr_masked(&c, &m);
	ck_assert_mem_eq(m.addr, c.addr, 16);
	ck_assert_int_eq(parse_cidr("::1", &c), 0);
	cidr_masked(&c, &m);
	ck_assert_mem_eq(m.addr, c.addr, 16);
	ck_assert_uint_eq(m.bits, 128);
	ck_assert(!m.has_len);
}
END_TEST

/* ---- the cases of the former test_export.c ------------------------------------------------ */

START_TEST(parse_numbers)
{
	uint64_t v;

	ck_assert_int_eq(parse_u64("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(parse_u64("11", 10, &v), -ERANGE);
	ck_assert_int_eq(parse_u64("", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("-1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("+1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64(" 1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("1x", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("0x10", 100, &v), -EINVAL);
}
END_TEST

START_TEST(parse_durations)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ns("30s", &v), 0);
	ck_assert_uint_eq(v, 30000000000ULL);
	ck_assert_int_eq(parse_duration_ns("5m", &v), 0);
	ck_assert_uint_eq(v, 300000000000ULL);
	ck_assert_int_eq(parse_duration_ns("2h", &v), 0);
	ck_assert_uint_eq(v, 7200000000000ULL);
	ck_assert_int_eq(parse_duration_ns("200ms", &v), 0);
	ck_assert_uint_eq(v, 200000000ULL);
	ck_assert_int_eq(parse_duration_ns("1.5s", &v), 0);
	ck_assert_uint_eq(v, 1500000000ULL);
	ck_assert_int_eq(parse_duration_ns("10us", &v), 0);
	ck_assert_uint_eq(v, 10000ULL);
	ck_assert_int_eq(parse_duration_ns("7ns", &v), 0);
	ck_assert_uint_eq(v, 7ULL);
	ck_assert_int_eq(parse_duration_ns("12", &v), 0); /* bare number: seconds */
	ck_assert_uint_eq(v, 12000000000ULL);
	ck_assert_int_eq(parse_duration_ns("", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("5x", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("-5s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("5 s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("99999999999999999999h", &v), -EINVAL);
}
END_TEST

START_TEST(parse_hostports)
{
	char host[64];
	uint16_t port;

	ck_assert_int_eq(parse_hostport("127.0.0.1:4245", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 4245);
	ck_assert_int_eq(parse_hostport("[::1]:12000", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 12000);
	ck_assert_int_eq(parse_hostport("localhost:80", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(parse_hostport(":9", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "");
	ck_assert_uint_eq(port, 9);
	ck_assert_int_eq(parse_hostport("localhost", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:70000", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("::1:80", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1:80", host, sizeof(host), &port), -EINVAL);
}
END_TEST

/* Go's duration form, which Hubble's --since takes: several terms, each with its unit. */
START_TEST(test_duration_compound_terms_as_go_writes_them)
{
	uint64_t v = 5;

	ck_assert_int_eq(parse_duration_ns("1h43m", &v), 0);
	ck_assert_uint_eq(v, (3600 + 43 * 60) * NS);
	ck_assert_int_eq(parse_duration_ns("90s", &v), 0);
	ck_assert_uint_eq(v, 90 * NS);
	ck_assert_int_eq(parse_duration_ns("1m30.5s", &v), 0);
	ck_assert_uint_eq(v, 90 * NS + 500000000ULL);
	ck_assert_int_eq(parse_duration_ns("2h45m30s100ms", &v), 0);
	ck_assert_uint_eq(v, (2 * 3600 + 45 * 60 + 30) * NS + 100000000ULL);
	ck_assert_int_eq(parse_duration_ns("1.5h", &v), 0);
	ck_assert_uint_eq(v, 5400 * NS);
	ck_assert_int_eq(parse_duration_ns("1m1ms1us1ns", &v), 0);
	ck_assert_uint_eq(v, 60 * NS + 1000000 + 1000 + 1);
	ck_assert_int_eq(parse_duration_ns("3\xc2\xb5s", &v), 0); /* micro sign */
	ck_assert_uint_eq(v, 3000);
	ck_assert_int_eq(parse_duration_ns("3\xce\xbcs", &v), 0); /* Greek mu */
	ck_assert_uint_eq(v, 3000);
	ck_assert_int_eq(parse_duration_ns("1h1h", &v), 0); /* Go adds repeated units too */
	ck_assert_uint_eq(v, 7200 * NS);
}
END_TEST

START_TEST(test_duration_compound_refuses_missing_units_and_junk)
{
	uint64_t v = 77;

	ck_assert_int_eq(parse_duration_ns("1h43", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1h 43m", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("h1", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1h-5m", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1hm", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("1e3s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("0x10s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("5000000000h5000000000h", &v), -EINVAL);
	ck_assert_uint_eq(v, 77);
}
END_TEST

/* Hubble's own test (hubble/pkg/time), now being 2019-07-01T14:00:00Z. */
START_TEST(test_hubble_time_as_hubble_tests_it)
{
	const uint64_t now = 1561989600ULL * NS; /* 2019-07-01T14:00:00Z */
	static const struct {
		const char *in;
		uint64_t want_s;
	} cases[] = {
		{"10s", 1561989590},
		{"5m", 1561989300},
		{"20h", 1561917600},
		{"1h43m", 1561989600 - 6180},
		{"2019-06-30T18:00:00Z", 1561917600},
		{"2019-06-30", 1561852800},
		{"2019-06-30T18Z", 1561917600},
		{"2019-06-30T18:45Z", 1561920300},
		{"2019-06-30T18+02:00", 1561910400},
		{"2019-06-30T18:45+02:00", 1561913100},
		/* What hubble refuses but flowctl takes: no zone means UTC, as Go reads the rest.
		 */
		{"2019-06-30T18:45", 1561920300},
		{"2019-06-30T18:45:00", 1561920300},
		{"2019-06-30t18:45:00z", 1561920300},
		{"2019-06-30T18:45:00+0200", 1561913100},
		{"2019-06-30T18:45:00-05:30", 1561920300 + 5 * 3600 + 1800},
		{"Sun, 30 Jun 2019 18:45:00 +0200", 1561913100},
		/* StampMilli, as the compact output prints it: this year, in UTC. */
		{"Jun 30 18:45:00.000", 1561920300},
		{"Jul  1 13:59:59", 1561989599},
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse_hubble_time(cases[i].in, now, &v) == 0, "%s", cases[i].in);
		ck_assert_msg(v == cases[i].want_s * NS, "%s: %llu", cases[i].in,
			      (unsigned long long)v);
	}
	ck_assert_int_eq(parse_hubble_time("2019-06-30T18:45:00.123456789Z", now, &v), 0);
	ck_assert_uint_eq(v, 1561920300ULL * NS + 123456789);
	ck_assert_int_eq(parse_hubble_time("Jun 30 18:45:00.250", now, &v), 0);
	ck_assert_uint_eq(v, 1561920300ULL * NS + 250000000);
	/* A stamp more than a day ahead of now is last year's. */
	ck_assert_int_eq(parse_hubble_time("Dec 31 23:00:00.000", now, &v), 0);
	ck_assert_uint_eq(v, 1546297200ULL * NS); /* 2018-12-31T23:00:00Z */
}
END_TEST

START_TEST(test_hubble_time_refuses_what_is_no_time)
{
	const uint64_t now = 1561989600ULL * NS;
	static const char *const bad[] = {
		"",
		"yesterday",
		"5x",
		"2019-06-30T",
		"2019-06-30T1",
		"2019-06-30T25Z",
		"2019-06-30T18:4",
		"2019-06-30T18:45:0",
		"2019-06-30T18:45:00.Z",
		"2019-06-30T18:45:00+2",
		"2019-06-30T18:45:00+02:60",
		"2019-06-30 18:45:00",
		"2019-6-30",
		"2019-06-30Z",
		"2019-06-30T18:45:00Zjunk",
		"Sun, 30 Jun 2019 18:45:00",
		"Sun, 30 Jun 2019 18:45:00 GMT",
		"Jun 30",
		"Jun 30 18:45:00.",
		"Foo 30 18:45:00",
	};
	uint64_t v = 9;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_hubble_time(bad[i], now, &v) < 0, "accepted '%s'", bad[i]);
	ck_assert_int_eq(parse_hubble_time(NULL, now, &v), -EINVAL);
	ck_assert_int_eq(parse_hubble_time("1969-12-31T23:59:59Z", now, &v), -ERANGE);
	ck_assert_int_eq(parse_hubble_time("60m", 10 * NS, &v), -ERANGE);
	ck_assert_uint_eq(v, 9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_u64_accepts_decimal_up_to_max);
	tcase_add_test(tc, test_u64_refuses_sign_space_text_and_out_of_range);
	tcase_add_test(tc, test_duration_units_and_fractions);
	tcase_add_test(tc, test_duration_bare_number_is_seconds);
	tcase_add_test(tc, test_duration_decimal_fraction_is_exact_in_ns);
	tcase_add_test(tc, test_duration_refuses_negative_unknown_unit_and_huge);
	tcase_add_test(tc, test_size_units_are_powers_of_1024);
	tcase_add_test(tc, test_size_refuses_unknown_unit_fraction_and_overflow);
	tcase_add_test(tc, test_bool_words_in_any_case);
	tcase_add_test(tc, test_bool_refuses_other_words);
	tcase_add_test(tc, test_hostport_v4_v6_and_empty_host);
	tcase_add_test(tc, test_hostport_refuses_bad_ports_and_shapes);
	tcase_add_test(tc, test_url_scheme_host_port_path);
	tcase_add_test(tc, test_url_refuses_missing_parts_and_upper_case_scheme);
	tcase_add_test(tc, test_rfc3339_utc_fraction_and_offsets);
	tcase_add_test(tc, test_rfc3339_refuses_missing_zone_garbage_and_pre_epoch);
	tcase_add_test(tc, test_time_duration_is_before_now);
	tcase_add_test(tc, test_cidr_v4_v6_with_and_without_len);
	tcase_add_test(tc, test_cidr_refuses_long_prefixes_and_bad_addresses);
	tcase_add_test(tc, test_cidr_contains_byte_aligned_prefixes);
	tcase_add_test(tc, test_cidr_contains_non_byte_aligned_prefixes);
	tcase_add_test(tc, test_cidr_contains_zero_prefix_and_family_mismatch);
	tcase_add_test(tc, test_cidr_masked_clears_host_bits);
	tcase_add_test(tc, parse_numbers);
	tcase_add_test(tc, parse_durations);
	tcase_add_test(tc, parse_hostports);
	tcase_add_test(tc, test_duration_compound_terms_as_go_writes_them);
	tcase_add_test(tc, test_duration_compound_refuses_missing_units_and_junk);
	tcase_add_test(tc, test_hubble_time_as_hubble_tests_it);
	tcase_add_test(tc, test_hubble_time_refuses_what_is_no_time);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
