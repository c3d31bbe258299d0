/* Unit tests of option tables: getopt_long parsing into a struct and --help (base/opts.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/opts.h"

struct cfg {
	const char *name;
	bool verbose;
	uint64_t count;
	uint32_t small;
	uint32_t any32;
	uint64_t timeout_ns;
	uint64_t size;
	int mode;
	struct opt_hostport listen;
	uint64_t ranged;
	struct opt_list hosts;
};

static const char *const modes[] = {"slow", "fast", "auto", NULL};

#define OPT(n, s, a, h, fn, field)                                                                 \
	.name = n, .short_name = s, .arg = a, .help = h, .parse = fn,                              \
	.off = offsetof(struct cfg, field)

static const struct opt cfg_opts[] = {
	{OPT("name", 'n', "NAME", "what to call it", opt_string, name)},
	{OPT("verbose", 'v', NULL, "say more", opt_flag, verbose)},
	{OPT("count", 'c', "N", "how many", opt_u64, count)},
	{OPT("small", 0, "N", "a small number", opt_u32, small), .min = 1, .max = 1000},
	{OPT("any32", 0, "N", "any 32-bit number", opt_u32, any32)},
	{OPT("timeout", 't', "DUR", "give up after DUR", opt_duration, timeout_ns)},
	{OPT("size", 0, "BYTES", "buffer size", opt_size, size)},
	{OPT("mode", 'm', "MODE", "slow, fast or auto", opt_word, mode), .data = modes},
	{OPT("listen", 'l', "ADDR:PORT", "where to listen\nsecond line of help", opt_hostport,
	     listen)},
	{OPT("ranged", 0, "N", "from 10 to 20", opt_u64, ranged), .min = 10, .max = 20},
	{OPT("host", 0, "NAME", "repeatable", opt_list, hosts)},
	{0},
};

/* Runs opts_parse over a writable copy of args (getopt_long permutes argv). */
struct run {
	struct cfg cfg;
	struct errmsg e;
	char *argv[32];
	int argc;
	int r;
};

static void run_args(struct run *run, const char *const *args)
{
	struct opt_group g = {NULL, cfg_opts, &run->cfg};
	int i;

	memset(run, 0, sizeof(*run));
	for (i = 0; args[i]; i++)
		run->argv[i] = strdup(args[i]);
	run->argc = i;
	run->r = opts_parse(run->argc, run->argv, &g, 1, &run->e);
}

static void run_free(struct run *run)
{
	int i;

	for (i = 0; i < run->argc; i++)
		free(run->argv[i]);
}

#define RUN(run, ...) run_args(run, (const char *const[]){"prog", __VA_ARGS__, NULL})

START_TEST(test_every_parser_stores_at_its_offset)
{
	struct run run;

	RUN(&run, "--name", "alpha", "-v", "--count=12345678901", "--small", "1000", "--any32",
	    "4294967295", "-t", "1.5s", "--size", "16K", "--mode", "FAST", "-l", "[::1]:4245",
	    "--ranged", "20");
	ck_assert_msg(run.r == run.argc, "%d: %s", run.r, run.e.text);
	ck_assert_str_eq(run.cfg.name, "alpha");
	ck_assert(run.cfg.verbose);
	ck_assert_uint_eq(run.cfg.count, 12345678901ULL);
	ck_assert_uint_eq(run.cfg.small, 1000);
	ck_assert_uint_eq(run.cfg.any32, UINT32_MAX);
	ck_assert_uint_eq(run.cfg.timeout_ns, 1500000000ULL);
	ck_assert_uint_eq(run.cfg.size, 16384);
	ck_assert_int_eq(run.cfg.mode, 1);
	ck_assert(run.cfg.listen.set);
	ck_assert_str_eq(run.cfg.listen.host, "::1");
	ck_assert_uint_eq(run.cfg.listen.port, 4245);
	ck_assert_uint_eq(run.cfg.ranged, 20);
	ck_assert_str_eq(run.e.text, "");
	run_free(&run);
}
END_TEST

START_TEST(test_short_options_and_attached_values)
{
	struct run run;

	RUN(&run, "-nbeta", "-vc7", "-mauto", "-t", "500ms");
	ck_assert_msg(run.r == run.argc, "%d: %s", run.r, run.e.text);
	ck_assert_str_eq(run.cfg.name, "beta");
	ck_assert(run.cfg.verbose);
	ck_assert_uint_eq(run.cfg.count, 7);
	ck_assert_int_eq(run.cfg.mode, 2);
	ck_assert_uint_eq(run.cfg.timeout_ns, 500000000ULL);
	ck_assert(!run.cfg.listen.set);
	run_free(&run);
}
END_TEST

START_TEST(test_fields_not_given_are_left_alone)
{
	struct run run;

	RUN(&run, "-v");
	ck_assert_int_eq(run.r, 2);
	ck_assert(run.cfg.verbose);
	ck_assert_ptr_null(run.cfg.name);
	ck_assert_uint_eq(run.cfg.count, 0);
	ck_assert(!run.cfg.listen.set);
	run_free(&run);
}
END_TEST

START_TEST(test_returns_index_of_first_operand_after_permutation)
{
	struct run run;

	RUN(&run, "first", "-v", "second", "--count", "3");
	ck_assert_int_eq(run.r, 4);
	ck_assert(run.cfg.verbose);
	ck_assert_uint_eq(run.cfg.count, 3);
	ck_assert_str_eq(run.argv[run.r], "first");
	ck_assert_str_eq(run.argv[run.r + 1], "second");
	run_free(&run);

	RUN(&run, "-v");
	ck_assert_int_eq(run.r, run.argc);
	run_free(&run);

	RUN(&run, "-v", "--", "--count", "x");
	ck_assert_int_eq(run.r, 3);
	ck_assert_str_eq(run.argv[run.r], "--count");
	ck_assert_uint_eq(run.cfg.count, 0);
	run_free(&run);
}
END_TEST

START_TEST(test_unknown_options_are_named)
{
	struct run run;

	RUN(&run, "--bogus");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "unknown option '--bogus'");
	run_free(&run);

	RUN(&run, "--bogus=1");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "unknown option '--bogus=1'");
	run_free(&run);

	RUN(&run, "-z");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "unknown option '-z'");
	run_free(&run);

	RUN(&run, "-vz");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "unknown option '-z'");
	run_free(&run);
}
END_TEST

START_TEST(test_value_given_to_a_flag_is_refused)
{
	struct run run;

	RUN(&run, "--verbose=yes");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "--verbose takes no value");
	ck_assert(!run.cfg.verbose);
	run_free(&run);
}
END_TEST

START_TEST(test_missing_value_names_the_option)
{
	struct run run;

	RUN(&run, "--name");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "--name needs a value (NAME)");
	run_free(&run);

	RUN(&run, "-v", "-t");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "--timeout needs a value (DUR)");
	run_free(&run);

	/* A long-only option. */
	RUN(&run, "--size");
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "--size needs a value (BYTES)");
	run_free(&run);
}
END_TEST

static void assert_refused(const char *opt, const char *value, const char *use)
{
	char expect[512];
	struct run run;

	RUN(&run, opt, value);
	snprintf(expect, sizeof(expect), "invalid %s '%s': use %s", opt, value, use);
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, expect);
	run_free(&run);
}

START_TEST(test_bad_values_say_what_to_use)
{
	assert_refused("--name", "", "a value that is not empty");
	assert_refused("--count", "abc", "a whole number from 0 to 18446744073709551615");
	assert_refused("--count", "-1", "a whole number from 0 to 18446744073709551615");
	assert_refused("--small", "0", "a whole number from 1 to 1000");
	assert_refused("--small", "1001", "a whole number from 1 to 1000");
	assert_refused("--ranged", "9", "a whole number from 10 to 20");
	assert_refused("--ranged", "21", "a whole number from 10 to 20");
	assert_refused("--timeout", "0", "a duration such as 30s, 500ms or 5m");
	assert_refused("--timeout", "5x", "a duration such as 30s, 500ms or 5m");
	assert_refused("--size", "1T", "bytes, or a number with K, M or G (100M)");
	assert_refused("--size", "0", "bytes, or a number with K, M or G (100M)");
	assert_refused("--mode", "quick", "slow, fast or auto");
	assert_refused("--listen", "4245", "ADDR:PORT, e.g. 127.0.0.1:4245 or [::1]:4245");
	assert_refused("--listen", "h:0", "ADDR:PORT, e.g. 127.0.0.1:4245 or [::1]:4245");
}
END_TEST

/* A uint32_t field without an explicit max must not take a value that does not fit. */
START_TEST(test_u32_without_max_refuses_values_past_32_bits)
{
	assert_refused("--any32", "4294967296", "a whole number from 0 to 4294967295");
}
END_TEST

/* A failure in the middle of a group of short options leaves getopt mid-word; the next parse
 * must start afresh and not resume inside the previous argv. */
START_TEST(test_parse_after_failure_starts_afresh)
{
	struct run bad, good;

	RUN(&bad, "-zv");
	ck_assert_int_eq(bad.r, -EINVAL);
	RUN(&good, "operand");
	ck_assert_int_eq(good.r, 1);
	ck_assert(!good.cfg.verbose);
	run_free(&good);
	run_free(&bad);
}
END_TEST

/* A repeatable option keeps every value in order, refuses an empty one, and says so past
 * OPT_LIST_MAX instead of dropping values. */
START_TEST(test_list_keeps_every_value_in_order)
{
	struct run run;
	const char *many[OPT_LIST_MAX + 3];
	char vals[OPT_LIST_MAX + 1][16];
	int i;

	RUN(&run, "--host", "a.example", "--host=b.example");
	ck_assert_int_eq(run.r, 4);
	ck_assert_uint_eq(run.cfg.hosts.n, 2);
	ck_assert_str_eq(run.cfg.hosts.v[0], "a.example");
	ck_assert_str_eq(run.cfg.hosts.v[1], "b.example");
	run_free(&run);
	assert_refused("--host", "", "a value that is not empty");
	many[0] = "prog";
	for (i = 0; i <= OPT_LIST_MAX; i++) {
		snprintf(vals[i], sizeof(vals[i]), "--host=h%d", i);
		many[i + 1] = vals[i];
	}
	many[OPT_LIST_MAX + 2] = NULL;
	run_args(&run, many);
	ck_assert_int_eq(run.r, -EINVAL);
	ck_assert_str_eq(run.e.text, "--host: at most 16 values");
	run_free(&run);
}
END_TEST

START_TEST(test_groups_store_into_their_own_base)
{
	struct extra {
		uint64_t workers;
		bool dry;
	} x = {0};
	static const struct opt extra_opts[] = {
		{.name = "workers",
		 .short_name = 'w',
		 .arg = "N",
		 .help = "worker count",
		 .parse = opt_u64,
		 .off = offsetof(struct extra, workers)},
		{.name = "dry-run",
		 .help = "change nothing",
		 .parse = opt_flag,
		 .off = offsetof(struct extra, dry)},
		{0},
	};
	char *argv[] = {"prog", "-w", "4", "--count", "9", "--dry-run", NULL};
	struct cfg c = {0};
	struct opt_group g[] = {{"Main:", cfg_opts, &c}, {"Extra:", extra_opts, &x}};
	struct errmsg e = {""};

	ck_assert_int_eq(opts_parse(6, argv, g, 2, &e), 6);
	ck_assert_uint_eq(x.workers, 4);
	ck_assert(x.dry);
	ck_assert_uint_eq(c.count, 9);
}
END_TEST

/* The line of --help that names --NAME. */
static const char *help_line(const char *help, const char *name, size_t *len)
{
	char key[64];
	const char *p, *start;

	snprintf(key, sizeof(key), "--%s", name);
	p = strstr(help, key);
	ck_assert_msg(p, "%s missing from help", key);
	for (start = p; start > help && start[-1] != '\n'; start--)
		;
	*len = strcspn(start, "\n");
	return start;
}

static char *help_text(const struct opt_group *g, size_t n)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(opts_help(&b, g, n), 0);
	ck_assert_ptr_nonnull(b.data);
	return b.data; /* the caller frees it */
}

START_TEST(test_help_lists_every_option_with_argument_and_help)
{
	struct cfg c;
	struct opt_group g = {"Options:", cfg_opts, &c};
	char *text = help_text(&g, 1), want[128];
	const struct opt *o;
	size_t len;

	ck_assert_msg(!strncmp(text, "Options:\n", 9), "%s", text);
	for (o = cfg_opts; o->name; o++) {
		const char *line = help_line(text, o->name, &len);
		char first[64];
		const char *h;

		if (o->short_name)
			snprintf(want, sizeof(want), "  -%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(want, sizeof(want), "      --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		ck_assert_msg(!strncmp(line, want, strlen(want)), "'%.*s' for '%s'", (int)len, line,
			      want);
		/* The first help line is on the option's line, in the help column. */
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(o->help, "\n"), o->help);
		h = strstr(line, first);
		ck_assert_msg(h && h + strlen(first) == line + len, "help of --%s misplaced",
			      o->name);
		ck_assert_int_eq(h - line, 29);
	}
	free(text);
}
END_TEST

START_TEST(test_help_continuation_lines_align_with_first)
{
	struct cfg c;
	struct opt_group g = {NULL, cfg_opts, &c};
	char *text = help_text(&g, 1);
	const char *line, *first, *second;
	size_t len;

	line = help_line(text, "listen", &len);
	first = strstr(line, "where to listen");
	second = strstr(line, "second line of help");
	ck_assert_ptr_nonnull(first);
	ck_assert_ptr_nonnull(second);
	ck_assert_ptr_eq(second, line + len + 1 + (first - line));
	/* Only blanks before the continuation. */
	ck_assert_uint_eq(strspn(line + len + 1, " "), (size_t)(first - line));
	free(text);
}
END_TEST

START_TEST(test_help_puts_help_of_a_long_option_below_it)
{
	static const struct opt long_opts[] = {
		{.name = "a-very-long-option-name",
		 .arg = "VALUE",
		 .help = "its help\nand more",
		 .parse = opt_string},
		{.name = "x", .short_name = 'x', .help = "short", .parse = opt_flag},
		{0},
	};
	static const struct opt more_opts[] = {
		{.name = "other", .help = "in the second group", .parse = opt_flag},
		{0},
	};
	char base[64];
	struct opt_group g[] = {{"First:", long_opts, base}, {"Second:", more_opts, base}};
	char *text = help_text(g, 2);
	const char *expect = "First:\n"
			     "      --a-very-long-option-name VALUE\n"
			     "                             its help\n"
			     "                             and more\n"
			     "  -x, --x                    short\n"
			     "\n"
			     "Second:\n"
			     "      --other                in the second group\n";

	ck_assert_str_eq(text, expect);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	/* GNU argument permutation is what the tests expect. */
	unsetenv("POSIXLY_CORRECT");
	tcase_add_test(tc, test_every_parser_stores_at_its_offset);
	tcase_add_test(tc, test_short_options_and_attached_values);
	tcase_add_test(tc, test_fields_not_given_are_left_alone);
	tcase_add_test(tc, test_returns_index_of_first_operand_after_permutation);
	tcase_add_test(tc, test_unknown_options_are_named);
	tcase_add_test(tc, test_value_given_to_a_flag_is_refused);
	tcase_add_test(tc, test_missing_value_names_the_option);
	tcase_add_test(tc, test_bad_values_say_what_to_use);
	tcase_add_test(tc, test_u32_without_max_refuses_values_past_32_bits);
	tcase_add_test(tc, test_parse_after_failure_starts_afresh);
	tcase_add_test(tc, test_list_keeps_every_value_in_order);
	tcase_add_test(tc, test_groups_store_into_their_own_base);
	tcase_add_test(tc, test_help_lists_every_option_with_argument_and_help);
	tcase_add_test(tc, test_help_continuation_lines_align_with_first);
	tcase_add_test(tc, test_help_puts_help_of_a_long_option_below_it);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
