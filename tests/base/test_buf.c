/* Unit tests of the growable byte buffer: printf in one pass or two, integers without printf,
 * appends across every capacity boundary, JSON string literals. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/str.h"

START_TEST(test_printf_fits_and_grows)
{
	struct buf b = BUF_INIT;
	static char want[1 << 16];
	int i;

	ck_assert_int_eq(buf_printf(&b, "%s-%d", "a", 7), 0);
	ck_assert_str_eq(b.data, "a-7");
	/* Text longer than the spare capacity: the buffer grows and nothing is cut. */
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	ck_assert_int_eq(buf_printf(&b, "%s", want), 0);
	ck_assert_uint_eq(b.len, 3 + sizeof(want) - 1);
	ck_assert_int_eq(memcmp(b.data + 3, want, sizeof(want) - 1), 0);
	ck_assert_int_eq(b.data[b.len], '\0');
	/* Text of one byte less than the spare capacity (fits with its NUL: one pass) and of
	 * exactly the spare capacity (does not: the buffer grows), after every prefix length. */
	for (i = 0; i < 300; i++) {
		int extra;

		for (extra = 0; extra < 2; extra++) {
			struct buf c = BUF_INIT;
			size_t before, n;

			ck_assert_int_eq(buf_printf(&c, "%.*s", i, want), 0);
			before = c.len;
			n = c.cap - c.len - 1 + (size_t)extra; /* with the '|' */
			if (n < 1)
				n += c.cap; /* no spare byte left: the same test one capacity on */
			ck_assert_int_eq(buf_printf(&c, "%.*s|", (int)n - 1, want), 0);
			ck_assert_uint_eq(c.len, before + n);
			ck_assert_int_eq(memcmp(c.data, want, c.len - 1), 0);
			ck_assert_int_eq(c.data[c.len - 1], '|');
			ck_assert_int_eq(c.data[c.len], '\0');
			buf_free(&c);
		}
	}
	buf_free(&b);
}
END_TEST

START_TEST(test_integers_match_printf)
{
	static const int64_t s[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN};
	static const uint64_t u[] = {0, 7, 10, 99, 100, 4294967295ULL, UINT64_MAX};
	struct buf b = BUF_INIT;
	char want[32];
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(buf_put_i64(&b, s[i]), 0);
		snprintf(want, sizeof(want), "%" PRId64, s[i]);
		ck_assert_str_eq(b.data, want);
	}
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(buf_put_u64(&b, u[i]), 0);
		snprintf(want, sizeof(want), "%" PRIu64, u[i]);
		ck_assert_str_eq(b.data, want);
	}
	buf_free(&b);
}
END_TEST

/* Byte and run appends from every prefix length: the inline room check grows the buffer exactly
 * when the bytes and their NUL do not fit. */
START_TEST(test_appends_grow_at_the_boundary)
{
	static char want[2048];
	struct buf b = BUF_INIT;
	size_t i, n;

	for (i = 0; i < sizeof(want); i++)
		want[i] = (char)('a' + i % 26);
	for (i = 0; i < sizeof(want);) {
		n = i % 3 == 0 ? 1 : i % 7;
		if (i + n > sizeof(want))
			n = sizeof(want) - i;
		if (n == 1)
			ck_assert_int_eq(buf_putc(&b, want[i]), 0);
		else
			ck_assert_int_eq(buf_append(&b, want + i, n), 0);
		i += n;
		ck_assert_uint_eq(b.len, i);
		ck_assert_uint_lt(b.len, b.cap);
		ck_assert_int_eq(b.data[b.len], '\0');
		ck_assert_int_eq(memcmp(b.data, want, b.len), 0);
	}
	ck_assert_int_eq(buf_puts(&b, ""), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	buf_free(&b);
}
END_TEST

/* RFC 8259 string literals: quotes, backslashes and control characters escaped wherever they
 * are in the text (first, last, in runs, alone), everything else (UTF-8 too) copied. */
START_TEST(test_json_str_escapes)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} c[] = {
		{"", 0, "\"\""},
		{"plain text", 10, "\"plain text\""},
		{"\"", 1, "\"\\\"\""},
		{"a\\b", 3, "\"a\\\\b\""},
		{"\n\r\t", 3, "\"\\n\\r\\t\""},
		{"x\001y\037", 4, "\"x\\u0001y\\u001f\""},
		{"caf\xc3\xa9 \x7f", 7, "\"caf\xc3\xa9 \x7f\""},
		{"\"\"ab\"\"", 6, "\"\\\"\\\"ab\\\"\\\"\""},
		{"nul\0after", 9, "\"nul\\u0000after\""},
	};
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		buf_reset(&b);
		ck_assert_int_eq(buf_puts(&b, "k:"), 0);
		ck_assert_int_eq(buf_json_str(&b, c[i].in, c[i].len), 0);
		ck_assert_str_eq(b.data + 2, c[i].want);
		ck_assert_uint_eq(b.len, 2 + strlen(c[i].want));
	}
	buf_free(&b);
}
END_TEST

/* str_copy leaves what snprintf's "%s" leaves: cut to fit, always terminated. */
START_TEST(test_str_copy_cuts_as_snprintf)
{
	static const char *const srcs[] = {"", "a", "abcdefg", "abcdefgh", "abcdefghijklmnop"};
	char got[8], want[8];
	size_t i, size;

	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		for (size = 1; size <= sizeof(got); size++) {
			memset(got, 'x', sizeof(got));
			str_copy(got, size, srcs[i]);
			snprintf(want, size, "%s", srcs[i]);
			ck_assert_str_eq(got, want);
		}
}
END_TEST

/* A str_writer leaves what snprintf of the same pieces leaves, at every size. */
START_TEST(test_str_writer_cuts_as_snprintf)
{
	static const uint32_t nums[] = {0, 7, 42, 4294967295u};
	char got[24], want[24];
	size_t size, i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		for (size = 1; size <= sizeof(got); size++) {
			struct str_writer w = str_writer_at(got, size);

			str_puts(&w, "id:");
			str_put_u32(&w, nums[i]);
			str_put(&w, "abcdef", 3);
			snprintf(want, size, "id:%u%.3s", nums[i], "abcdef");
			ck_assert_str_eq(got, want);
			ck_assert_uint_eq(w.n, strlen(want));
		}
	{
		struct str_writer none = str_writer_at(NULL, 0);

		str_puts(&none, "nothing"); /* writes nowhere */
		ck_assert_uint_eq(none.n, 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_printf_fits_and_grows);
	tcase_add_test(tc, test_str_copy_cuts_as_snprintf);
	tcase_add_test(tc, test_str_writer_cuts_as_snprintf);
	tcase_add_test(tc, test_integers_match_printf);
	tcase_add_test(tc, test_appends_grow_at_the_boundary);
	tcase_add_test(tc, test_json_str_escapes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
