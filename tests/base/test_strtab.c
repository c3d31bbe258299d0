/* Unit tests of the interned strings with holders (include/flowscope/base/strtab.h). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/base/strtab.h"

START_TEST(test_the_same_string_is_the_same_pointer)
{
	struct strtab *t = strtab_new(8);
	char buf[16];
	const char *a, *b;

	ck_assert_ptr_nonnull(t);
	a = strtab_intern(t, "3f2a9c0d1e");
	strcpy(buf, "3f2a9c0d1e");
	b = strtab_intern(t, buf);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(b, buf);
	ck_assert_str_eq(a, "3f2a9c0d1e");
	ck_assert_ptr_ne(strtab_intern(t, "3f2a9c0d1f"), a);
	strtab_free(t);
}
END_TEST

START_TEST(test_zero_strings_is_refused)
{
	ck_assert_ptr_null(strtab_new(0));
}
END_TEST

struct holder {
	const char *kept[3];
	int calls;
	struct strtab *t;
};

static void mark(void *ctx)
{
	struct holder *h = ctx;
	int i;

	h->calls++;
	for (i = 0; i < 3; i++)
		strtab_mark(h->t, h->kept[i]); /* NULL too */
	strtab_mark(h->t, "not one of ours");
}

/* Strings held or marked stay, the others go for room; a full table of strings in use refuses
 * and counts it; and the holders are asked at most once per eighth of the table interned. */
START_TEST(test_room_is_made_of_what_no_one_holds)
{
	struct strtab *t = strtab_new(16);
	struct holder h = {.t = t};
	struct strtab_stats st;
	const char *held, *marked, *refused = NULL;
	char s[32];
	int i, n_refused = 0;

	strtab_set_holders(t, mark, &h);
	held = strtab_intern(t, "held by its owner");
	strtab_hold(held);
	marked = h.kept[0] = strtab_intern(t, "marked by a flow");
	for (i = 0; i < 1000; i++) {
		snprintf(s, sizeof(s), "spray-%d", i);
		ck_assert_ptr_nonnull(strtab_intern(t, s));
	}
	strtab_get_stats(t, &st);
	ck_assert_uint_le(st.strings, 16);
	ck_assert_uint_ge(st.freed, 1000 - 16);
	ck_assert_uint_eq(st.full, 0);
	/* Each time it filled up again (every 14 new strings, 2 staying). */
	ck_assert_int_ge(h.calls, 1000 / 16);
	ck_assert_int_le(h.calls, 1000 / 14 + 1);
	/* Still there, at the same address. */
	ck_assert_ptr_eq(strtab_intern(t, "held by its owner"), held);
	ck_assert_ptr_eq(strtab_intern(t, "marked by a flow"), marked);

	/* Released and no longer marked: freed at the next collection. */
	strtab_release(held);
	h.kept[0] = NULL;
	for (i = 0; i < 40; i++) {
		snprintf(s, sizeof(s), "again-%d", i);
		strtab_intern(t, s);
	}
	/* The table full of strings in use: refused, counted. */
	for (i = 0; i < 16; i++) {
		snprintf(s, sizeof(s), "in use-%d", i);
		strtab_hold(strtab_intern(t, s));
	}
	h.calls = 0;
	for (i = 0; i < 16; i++) {
		snprintf(s, sizeof(s), "no room-%d", i);
		refused = strtab_intern(t, s);
		n_refused += !refused;
	}
	ck_assert_ptr_null(refused);
	ck_assert_int_eq(n_refused, 16);
	ck_assert_int_le(h.calls, 1);
	strtab_get_stats(t, &st);
	ck_assert_uint_eq(st.full, 16);
	ck_assert_uint_eq(st.strings, 16);
	strtab_free(t);
}
END_TEST

START_TEST(test_without_holders_nothing_is_freed)
{
	struct strtab *t = strtab_new(4);
	struct strtab_stats st;
	const char *first = strtab_intern(t, "a");

	strtab_intern(t, "b");
	strtab_intern(t, "c");
	strtab_intern(t, "d");
	ck_assert_ptr_null(strtab_intern(t, "e"));
	ck_assert_ptr_eq(strtab_intern(t, "a"), first);
	strtab_get_stats(t, &st);
	ck_assert_uint_eq(st.strings, 4);
	ck_assert_uint_eq(st.freed, 0);
	ck_assert_uint_eq(st.full, 1);
	strtab_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("strtab");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_the_same_string_is_the_same_pointer);
	tcase_add_test(tc, test_zero_strings_is_refused);
	tcase_add_test(tc, test_room_is_made_of_what_no_one_holds);
	tcase_add_test(tc, test_without_holders_nothing_is_freed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
