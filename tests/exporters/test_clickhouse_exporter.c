/* Tests of the ClickHouse exporter (export/exporters/clickhouse_exporter.c) through the exporter
 * contract against a clickhouse-server this test starts itself: every event arrives as the row
 * the history decodes back to the same JSON, in a table created with the documented schema, in
 * batches of at most N rows; a server that is down, hung or restarted loses nothing that fits
 * the buffer, the buffer's bound drops the oldest and counts them, a table dropped meanwhile is
 * made again, a keep-alive connection the server closed is no error; the error text is logged
 * once per state; authentication; retention drops old day partitions; close delivers what it
 * holds within a bounded time; take() and flush() never wait for the server. */
#include <check.h>
#include <signal.h>

#include "clickhouse_harness.h"
#include "export_harness.h"
#include "flowscope/base/clock.h"
#include "flowscope/exporters/clickhouse_query.h"
#include "flowscope/exporters/clickhouse_schema.h"

#define EXP "clickhouse"

static struct ch_server srv;
static struct buf logs = BUF_INIT;

static void log_sink(enum log_level level, const char *text, void *ctx)
{
	(void)ctx;
	if (getenv("CH_TEST_LOGS"))
		fprintf(stderr, "log: %s\n", text);
	buf_printf(&logs, "%s %s\n", level == LOG_LEVEL_WARN ? "W" : "I", text);
}

static int count_in(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)); hay++)
		n++;
	return n;
}

static struct exporter_set *open_ch(const char *table, const struct xs_opt *more)
{
	struct xs_opt o[12] = {{"export-clickhouse", srv.url}, {"export-clickhouse-table", table}};
	size_t n = 2;

	while (more && more->name)
		o[n++] = *more++;
	o[n] = (struct xs_opt){NULL, NULL};
	return xs_open(o);
}

static void take_range(struct exporter_set *s, uint64_t from, uint64_t to)
{
	struct flow f;
	uint64_t i;

	for (i = from; i < to; i++) {
		ch_test_flow(i, &f);
		f.time_ns = clock_wall_ns() - 60 * NSEC_PER_SEC + i * 1000; /* within retention */
		xs_take(s, &f);
	}
}

static long long count(const char *table, const char *where)
{
	char q[256];

	snprintf(q, sizeof(q), "SELECT count() FROM %s%s%s", table, where ? " WHERE " : "",
		 where ? where : "");
	return ch_sql_num(&srv, q);
}

static void flush_for(struct exporter_set *s, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		exporter_set_flush(s, false);
		usleep(20000);
	}
}

static int index_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- delivery -------------------------------------------------------------------------------- */

struct decoded {
	struct buf json;
	uint64_t n;
};

static int to_json(const struct flow *f, void *ctx)
{
	struct decoded *d = ctx;

	d->n++;
	return flow_pb_json_line(&d->json, f, "unused");
}

START_TEST(every_event_arrives_as_its_row)
{
	/* Rows of 2023: no retention here. */
	struct exporter_set *s =
		open_ch("t_rows", (struct xs_opt[]){{"export-clickhouse-max-age", "0"}, {0}});
	struct ch_target t = srv.t;
	struct ch_query q = {0};
	struct decoded d = {BUF_INIT, 0};
	struct buf want = BUF_INIT;
	struct exporter_stats st;
	struct errmsg e = {""};
	struct flow f;
	uint64_t i;

	for (i = 0; i < 2500; i++) {
		ch_test_flow(i, &f);
		xs_take(s, &f);
		ck_assert_int_eq(flow_pb_json_line(&want, &f, NODE), 0);
	}
	xs_flush_until_written(s, EXP, 2500, 20000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_ge(xs_extra(&st, "batches"), 1);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_rows", NULL), 2500);
	ck_assert_int_eq(ch_sql_num(&srv, "SELECT uniqExact(uuid) FROM t_rows"), 2500);
	snprintf(t.table, sizeof(t.table), "t_rows");
	ck_assert_int_eq(ch_query_run(&q, &t, NULL, 30000, to_json, &d, &e), 0);
	ck_assert_uint_eq(d.n, 2500);
	ck_assert_msg(!strcmp(d.json.data, want.data), "the rows do not decode to the events");
	ck_assert_int_eq(count_in(logs.data, "ClickHouse 18.16 at 127.0.0.1"), 1);
	buf_free(&d.json);
	buf_free(&want);
}
END_TEST

START_TEST(the_table_has_the_documented_schema)
{
	struct exporter_set *s = open_ch("t_schema", NULL);
	struct buf got = BUF_INIT, want = BUF_INIT;
	struct errmsg e = {""};
	size_t i;

	take_range(s, 0, 1);
	xs_flush_until_written(s, EXP, 1, 10000);
	exporter_set_free(s);
	ck_assert(!ch_sql(&srv,
			  "SELECT name, type FROM system.columns WHERE database = 'default' AND "
			  "table = 't_schema' FORMAT TabSeparated",
			  &got, &e));
	for (i = 0; i < ch_schema_n_columns(); i++) {
		const char *type, *name = ch_schema_column(i, &(struct ch_version){18, 16}, &type);

		buf_printf(&want, "%s\t%s\n", name, type);
	}
	ck_assert_str_eq(got.data, want.data);
	ck_assert(!ch_sql(&srv, "SELECT engine_full FROM system.tables WHERE name = 't_schema'",
			  &got, &e));
	ck_assert_str_eq(got.data, "MergeTree PARTITION BY date ORDER BY (intDiv(time, "
				   "600000000000), node_name, source_ip, destination_ip, time) "
				   "SETTINGS index_granularity = 8192\n");
	buf_free(&got);
	buf_free(&want);
}
END_TEST

START_TEST(batches_of_at_most_n_rows)
{
	struct exporter_set *s =
		open_ch("t_batch", (struct xs_opt[]){{"export-clickhouse-batch", "100"}, {0}});
	struct exporter_stats st;

	take_range(s, 0, 1050);
	xs_flush_until_written(s, EXP, 1050, 20000);
	xs_stats(s, EXP, &st);
	/* Ten full batches closed by take(), the rest by flush(). */
	ck_assert_uint_eq(xs_extra(&st, "batches"), 11);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_batch", NULL), 1050);
}
END_TEST

START_TEST(close_delivers_what_it_holds)
{
	struct exporter_set *s = open_ch("t_close", NULL);

	take_range(s, 0, 300);
	exporter_set_free(s); /* no flush: close sends the rest */
	ck_assert_int_eq(count("t_close", NULL), 300);
}
END_TEST

START_TEST(an_idle_connection_closed_by_the_server_is_no_error)
{
	struct exporter_set *s = open_ch("t_idle", NULL);
	struct exporter_stats st;

	take_range(s, 0, 5);
	xs_flush_until_written(s, EXP, 5, 10000);
	sleep(4); /* past the server's keep_alive_timeout (3 s) */
	take_range(s, 5, 10);
	xs_flush_until_written(s, EXP, 10, 10000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(xs_extra(&st, "retries"), 0);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_idle", NULL), 10);
}
END_TEST

/* ---- outages --------------------------------------------------------------------------------- */

START_TEST(nothing_is_lost_while_the_server_is_down)
{
	struct exporter_set *s;
	struct exporter_stats st;

	ch_server_kill(&srv);
	buf_reset(&logs);
	s = open_ch("t_down", NULL); /* opens without a server: it is retried */
	take_range(s, 0, 500);
	flush_for(s, 2500);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_gt(st.queued, 0);
	ck_assert_uint_ge(xs_extra(&st, "connect_failures"), 2);
	/* Tried every second, said once. */
	ck_assert_int_eq(count_in(logs.data, "cannot connect: Connection refused"), 1);
	ck_assert_int_eq(ch_server_run(&srv), 0);
	take_range(s, 500, 600);
	xs_flush_until_written(s, EXP, 600, 20000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_int_eq(count_in(logs.data, "inserting into default.t_down again"), 1);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_down", NULL), 600);
	ck_assert_int_eq(ch_sql_num(&srv, "SELECT uniqExact(uuid) FROM t_down"), 600);
}
END_TEST

START_TEST(the_buffer_bound_drops_the_oldest)
{
	struct exporter_set *s;
	struct exporter_stats st;
	struct buf ids = BUF_INIT;
	struct errmsg e = {""};
	uint64_t *v, n, i, lo;
	char *p;

	ch_server_kill(&srv);
	s = open_ch("t_bound", (struct xs_opt[]){{"export-clickhouse-buffer", "64K"}, {0}});
	take_range(s, 0, 2000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_gt(st.dropped, 1000);
	ck_assert_uint_le(st.queued, 65536);
	ck_assert_int_eq(ch_server_run(&srv), 0);
	xs_flush_until_written(s, EXP, 2000 - st.dropped, 20000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.written + st.dropped, 2000);
	exporter_set_free(s);
	/* What arrived is the newest events, without a gap. */
	ck_assert(!ch_sql(&srv,
			  "SELECT reinterpretAsUInt64(substring(uuid, 11, 6)) FROM t_bound FORMAT "
			  "TabSeparated",
			  &ids, &e));
	v = calloc(2000, sizeof(*v));
	for (n = 0, p = ids.data; *p; n++)
		v[n] = strtoull(p, &p, 10), p += *p == '\n';
	ck_assert_uint_eq(n, st.written);
	qsort(v, n, sizeof(*v), index_cmp);
	lo = 2000 - n;
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(v[i], lo + i);
	free(v);
	buf_free(&ids);
}
END_TEST

START_TEST(a_hung_server_never_stalls_take_or_flush)
{
	struct exporter_set *s =
		open_ch("t_hung", (struct xs_opt[]){{"export-clickhouse-timeout", "2s"}, {0}});
	uint64_t worst = 0, t0, end;
	struct exporter_stats st;
	struct flow f;
	uint64_t i;

	take_range(s, 0, 10);
	xs_flush_until_written(s, EXP, 10, 10000);
	kill(srv.pid, SIGSTOP); /* connections are accepted by the kernel, nothing answers */
	end = now_ms() + 3000;
	for (i = 10; now_ms() < end; i++) {
		ch_test_flow(i, &f);
		f.time_ns = clock_wall_ns();
		t0 = clock_mono_ns();
		xs_take(s, &f);
		if (i % 100 == 0)
			exporter_set_flush(s, false);
		worst = clock_mono_ns() - t0 > worst ? clock_mono_ns() - t0 : worst;
		usleep(100);
	}
	kill(srv.pid, SIGCONT);
	ck_assert_msg(worst < 20 * 1000000ULL, "a take or flush took %llu us",
		      (unsigned long long)(worst / 1000));
	xs_flush_until_written(s, EXP, i, 30000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.dropped, 0);
	exporter_set_free(s);
	ck_assert_int_ge(count("t_hung", NULL), (long long)i);
}
END_TEST

START_TEST(a_dropped_table_is_made_again)
{
	struct exporter_set *s = open_ch("t_again", NULL);
	struct buf out = BUF_INIT;
	struct errmsg e = {""};

	take_range(s, 0, 10);
	xs_flush_until_written(s, EXP, 10, 10000);
	ck_assert(!ch_sql(&srv, "DROP TABLE t_again", &out, &e));
	buf_reset(&logs);
	take_range(s, 10, 30);
	xs_flush_until_written(s, EXP, 30, 20000);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_again", NULL), 20);
	ck_assert_int_eq(count_in(logs.data, "Code: 60"), 1);
	ck_assert_int_eq(count_in(logs.data, "Table default.t_again doesn't exist"), 1);
	buf_free(&out);
}
END_TEST

/* ---- options, authentication, retention ------------------------------------------------------ */

START_TEST(authentication)
{
	struct exporter_set *s;
	struct exporter_stats st;
	char path[128];
	FILE *f;
	uint64_t t0;

	s = open_ch("t_auth", (struct xs_opt[]){{"export-clickhouse-user", "flowscope"},
						{"export-clickhouse-password", "secret"},
						{0}});
	take_range(s, 0, 3);
	xs_flush_until_written(s, EXP, 3, 10000);
	exporter_set_free(s);
	snprintf(path, sizeof(path), "%s/pw", srv.dir);
	f = fopen(path, "w");
	fputs("secret\n", f);
	fclose(f);
	s = open_ch("t_auth", (struct xs_opt[]){{"export-clickhouse-user", "flowscope"},
						{"export-clickhouse-password-file", path},
						{0}});
	take_range(s, 3, 5);
	xs_flush_until_written(s, EXP, 2, 10000);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_auth", NULL), 5);
	buf_reset(&logs);
	s = open_ch("t_auth", (struct xs_opt[]){{"export-clickhouse-user", "flowscope"},
						{"export-clickhouse-password", "wrong"},
						{0}});
	take_range(s, 5, 8);
	flush_for(s, 1000);
	xs_stats(s, EXP, &st);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_ge(st.errors, 1);
	ck_assert_msg(strstr(logs.data, "Wrong password for user flowscope"), "%s", logs.data);
	t0 = now_ms();
	exporter_set_free(s);
	ck_assert_uint_lt(now_ms() - t0, 6000);
	ck_assert_int_eq(count("t_auth", NULL), 5);
}
END_TEST

START_TEST(bad_options_say_what_to_use)
{
	struct exporter_set *s = exporter_set_new();
	struct errmsg e = {""};

	ck_assert_int_eq(exporter_set_option(s, "export-clickhouse", "ftp://x", &e), -EINVAL);
	ck_assert_ptr_nonnull(
		strstr(e.text, "invalid --export-clickhouse 'ftp://x': only http://"));
	ck_assert_int_eq(exporter_set_option(s, "export-clickhouse-max-age", "10m", &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "at least 1h"));
	ck_assert_int_eq(exporter_set_option(s, "export-clickhouse-buffer", "1K", &e), -EINVAL);
	exporter_set_free(s);
	XS_OPEN_FAILS(&e, {"export-clickhouse", srv.url}, {"export-clickhouse-table", "a-b"});
	ck_assert_msg(strstr(e.text, "--export-clickhouse: invalid table name 'a-b'"), "%s",
		      e.text);
}
END_TEST

START_TEST(retention_drops_old_day_partitions)
{
	struct exporter_set *s;
	struct exporter_stats st;
	struct buf rows = BUF_INIT, sql = BUF_INIT;
	struct ch_target t = srv.t;
	struct errmsg e = {""};
	struct flow f;
	uint64_t i, old = clock_wall_ns() - 10 * 86400 * NSEC_PER_SEC;

	/* The table, with a recent row. */
	s = open_ch("t_ret", (struct xs_opt[]){{"export-clickhouse-max-age", "0"}, {0}});
	take_range(s, 0, 1);
	xs_flush_until_written(s, EXP, 1, 10000);
	exporter_set_free(s);
	/* Rows of ten and twelve days ago, in two old partitions. */
	for (i = 0; i < 20; i++) {
		ch_test_flow(i, &f);
		f.time_ns = old - (i % 2) * 2 * 86400 * NSEC_PER_SEC + i;
		ck_assert_int_eq(ch_row_encode(&rows, &f, NODE, NULL, 0), 0);
	}
	snprintf(t.table, sizeof(t.table), "t_ret");
	buf_puts(&sql, "INSERT INTO t_ret (");
	ch_schema_column_list(&sql);
	buf_puts(&sql, ") FORMAT RowBinary");
	ck_assert(!ch_http_run(&t, sql.data, rows.data, rows.len, 10000, NULL, NULL, &e));
	ck_assert_int_eq(count("t_ret", NULL), 21);
	/* With max-age 0 nothing goes; with 48h both old days go at start. */
	s = open_ch("t_ret", (struct xs_opt[]){{"export-clickhouse-max-age", "0"}, {0}});
	flush_for(s, 500);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_ret", NULL), 21);
	s = open_ch("t_ret", (struct xs_opt[]){{"export-clickhouse-max-age", "48h"}, {0}});
	for (i = 0; i < 100; i++) {
		exporter_set_flush(s, false);
		xs_stats(s, EXP, &st);
		if (xs_extra(&st, "partitions_dropped") == 2)
			break;
		usleep(20000);
	}
	ck_assert_uint_eq(xs_extra(&st, "partitions_dropped"), 2);
	exporter_set_free(s);
	ck_assert_int_eq(count("t_ret", NULL), 1);
	ck_assert_int_eq(count_in(logs.data, "dropped partition"), 2);
	buf_free(&rows);
	buf_free(&sql);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("clickhouse_exporter");
	TCase *t = tcase_create("clickhouse_exporter");
	SRunner *r;
	int failed, err;

	logmsg_set_sink(log_sink, NULL);
	buf_puts(&logs, "");
	err = ch_server_start(&srv);
	if (err) {
		fprintf(stderr, "clickhouse-server did not start (%s): see %s\n", strerror(-err),
			srv.dir);
		ch_server_stop(&srv);
		return EXIT_FAILURE;
	}
	tcase_set_timeout(t, 120);
	tcase_add_test(t, every_event_arrives_as_its_row);
	tcase_add_test(t, the_table_has_the_documented_schema);
	tcase_add_test(t, batches_of_at_most_n_rows);
	tcase_add_test(t, close_delivers_what_it_holds);
	tcase_add_test(t, an_idle_connection_closed_by_the_server_is_no_error);
	tcase_add_test(t, nothing_is_lost_while_the_server_is_down);
	tcase_add_test(t, the_buffer_bound_drops_the_oldest);
	tcase_add_test(t, a_hung_server_never_stalls_take_or_flush);
	tcase_add_test(t, a_dropped_table_is_made_again);
	tcase_add_test(t, authentication);
	tcase_add_test(t, bad_options_say_what_to_use);
	tcase_add_test(t, retention_drops_old_day_partitions);
	suite_add_tcase(su, t);
	r = srunner_create(su);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	ch_server_stop(&srv);
	if (getenv("CH_TEST_LOGS"))
		fputs(logs.data, stderr);
	buf_free(&logs);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
