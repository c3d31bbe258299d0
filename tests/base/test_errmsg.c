/* Unit tests of the error channel and the log sink (base/errmsg.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/errmsg.h"

#define MAX_LOGGED 8

struct logged {
	int n;
	enum log_level level[MAX_LOGGED];
	char text[MAX_LOGGED][1100];
};

static void capture(enum log_level level, const char *text, void *ctx)
{
	struct logged *l = ctx;

	ck_assert_int_lt(l->n, MAX_LOGGED);
	l->level[l->n] = level;
	snprintf(l->text[l->n], sizeof(l->text[0]), "%s", text);
	l->n++;
}

static void teardown(void)
{
	logmsg_set_sink(NULL, NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

START_TEST(test_set_formats_and_returns_the_code)
{
	struct errmsg e = {""};

	ck_assert_int_eq(errmsg_set(&e, -EINVAL, "invalid port '%s' (%d)", "x", 7), -EINVAL);
	ck_assert_str_eq(e.text, "invalid port 'x' (7)");
	ck_assert_int_eq(errmsg_set(&e, -ENOENT, "again"), -ENOENT);
	ck_assert_str_eq(e.text, "again");
}
END_TEST

START_TEST(test_set_with_null_errmsg_still_returns_the_code)
{
	ck_assert_int_eq(errmsg_set(NULL, -EPERM, "ignored %s", "text"), -EPERM);
	errmsg_prefix(NULL, "also %s", "ignored");
	ck_assert_str_eq(errmsg_text(NULL, -EINVAL), strerror(EINVAL));
}
END_TEST

START_TEST(test_set_cuts_a_long_text)
{
	struct errmsg e = {""};
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errmsg_set(&e, -EINVAL, "%s", big);
	ck_assert_uint_eq(strlen(e.text), sizeof(e.text) - 1);
	errmsg_prefix(&e, "--opt");
	ck_assert_uint_eq(strlen(e.text), sizeof(e.text) - 1);
	ck_assert(!strncmp(e.text, "--opt: aaa", 10));
}
END_TEST

START_TEST(test_prefix_goes_in_front)
{
	struct errmsg e = {""};

	errmsg_set(&e, -EINVAL, "invalid port '%s'", "x");
	errmsg_prefix(&e, "--%s", "export-allow");
	ck_assert_str_eq(e.text, "--export-allow: invalid port 'x'");
	errmsg_prefix(&e, "config line %d", 3);
	ck_assert_str_eq(e.text, "config line 3: --export-allow: invalid port 'x'");
}
END_TEST

START_TEST(test_text_falls_back_to_strerror)
{
	struct errmsg e = {""};

	ck_assert_str_eq(errmsg_text(&e, -ENOMEM), strerror(ENOMEM));
	ck_assert_str_eq(errmsg_text(&e, ENOENT), strerror(ENOENT));
	errmsg_set(&e, -ENOMEM, "no room for the flow table: lower --flows");
	ck_assert_str_eq(errmsg_text(&e, -ENOMEM), "no room for the flow table: lower --flows");
}
END_TEST

START_TEST(test_logmsg_reaches_the_sink_with_its_level)
{
	struct logged l = {0};

	logmsg_set_sink(capture, &l);
	logmsg(LOG_LEVEL_WARN, "peer %s refused TLS", "10.0.0.1");
	logmsg(LOG_LEVEL_INFO, "reloaded %d filters", 3);
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.level[0], LOG_LEVEL_WARN);
	ck_assert_str_eq(l.text[0], "peer 10.0.0.1 refused TLS");
	ck_assert_int_eq(l.level[1], LOG_LEVEL_INFO);
	ck_assert_str_eq(l.text[1], "reloaded 3 filters");
}
END_TEST

START_TEST(test_logmsg_cuts_a_long_text)
{
	struct logged l = {0};
	char big[3000];

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	logmsg_set_sink(capture, &l);
	logmsg(LOG_LEVEL_WARN, "%s", big);
	ck_assert_int_eq(l.n, 1);
	ck_assert_uint_gt(strlen(l.text[0]), 500);
	ck_assert_uint_lt(strlen(l.text[0]), sizeof(l.text[0]) - 1);
}
END_TEST

/* Library code never prints: without a sink, nothing reaches stdout or stderr. */
START_TEST(test_logmsg_without_sink_prints_nothing)
{
	struct logged l = {0};
	FILE *tmp = tmpfile();
	int out, err;
	struct stat st;

	ck_assert_ptr_nonnull(tmp);
	fflush(stdout);
	fflush(stderr);
	out = dup(STDOUT_FILENO);
	err = dup(STDERR_FILENO);
	ck_assert_int_ge(out, 0);
	ck_assert_int_ge(err, 0);
	ck_assert_int_ge(dup2(fileno(tmp), STDOUT_FILENO), 0);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	logmsg_set_sink(capture, &l);
	logmsg_set_sink(NULL, NULL);
	logmsg(LOG_LEVEL_WARN, "dropped %d", 1);
	logmsg_limited(&(struct logmsg_limit){0}, LOG_LEVEL_INFO, "dropped too");
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	close(out);
	close(err);
	ck_assert_int_eq(fstat(fileno(tmp), &st), 0);
	fclose(tmp);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(l.n, 0);
}
END_TEST

START_TEST(test_limited_holds_back_repeats_then_counts_them)
{
	struct logmsg_limit lim = {0};
	struct logged l = {0};

	logmsg_set_sink(capture, &l);
	logmsg_limited(&lim, LOG_LEVEL_WARN, "bad HTTP/2 from %s", "a");
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.level[0], LOG_LEVEL_WARN);
	ck_assert_str_eq(l.text[0], "bad HTTP/2 from a");
	logmsg_limited(&lim, LOG_LEVEL_WARN, "bad HTTP/2 from %s", "b");
	logmsg_limited(&lim, LOG_LEVEL_WARN, "bad HTTP/2 from %s", "c");
	ck_assert_int_eq(l.n, 1);
	sleep_ms(1100);
	logmsg_limited(&lim, LOG_LEVEL_INFO, "bad HTTP/2 from %s", "d");
	ck_assert_int_eq(l.n, 2);
	ck_assert_int_eq(l.level[1], LOG_LEVEL_INFO);
	ck_assert_str_eq(l.text[1], "bad HTTP/2 from d (and 2 more since the last report)");
	/* The count starts again after a report. */
	sleep_ms(1100);
	logmsg_limited(&lim, LOG_LEVEL_WARN, "bad HTTP/2 from %s", "e");
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.text[2], "bad HTTP/2 from e");
}
END_TEST

START_TEST(test_limits_are_independent)
{
	struct logmsg_limit a = {0}, b = {0};
	struct logged l = {0};

	logmsg_set_sink(capture, &l);
	logmsg_limited(&a, LOG_LEVEL_WARN, "from a");
	logmsg_limited(&b, LOG_LEVEL_WARN, "from b");
	logmsg_limited(&a, LOG_LEVEL_WARN, "from a again");
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.text[0], "from a");
	ck_assert_str_eq(l.text[1], "from b");
	ck_assert_uint_eq(a.suppressed, 1);
	ck_assert_uint_eq(b.suppressed, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errmsg");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_set_formats_and_returns_the_code);
	tcase_add_test(tc, test_set_with_null_errmsg_still_returns_the_code);
	tcase_add_test(tc, test_set_cuts_a_long_text);
	tcase_add_test(tc, test_prefix_goes_in_front);
	tcase_add_test(tc, test_text_falls_back_to_strerror);
	tcase_add_test(tc, test_logmsg_reaches_the_sink_with_its_level);
	tcase_add_test(tc, test_logmsg_cuts_a_long_text);
	tcase_add_test(tc, test_logmsg_without_sink_prints_nothing);
	tcase_add_test(tc, test_limited_holds_back_repeats_then_counts_them);
	tcase_add_test(tc, test_limits_are_independent);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
