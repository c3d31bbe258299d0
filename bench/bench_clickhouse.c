/* ClickHouse ingest, measured side by side in one run against a clickhouse-server the benchmark
 * starts itself (tests/exporters/clickhouse_harness.h: its own config and data in a temporary
 * directory, loopback): the same N flow events as rows of the flow table
 * - inserted by clickhouse-client from TSV (the baseline: ClickHouse's own client and a text
 *   format, parsed by the server),
 * - sent by the exporter through the exporter contract at full speed (take() of every event,
 *   then flush() until ClickHouse acknowledged the last batch: encoding, batching, HTTP),
 * - encoded to RowBinary and sent in one POST (what the server takes at most this way).
 * Rounds alternate the cases; medians, ratios to the baseline, one JSON line per case.
 * Usage: bench_clickhouse [ROUNDS [ROWS]]  (defaults 3, 200000). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exporters/clickhouse_harness.h"
#include "flowscope/base/clock.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/exporters/exporter.h"

#define N_CASES 3

static struct ch_server srv;
static struct flow *flows;
static int n_rows;

static double now_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static int sql(const char *q)
{
	struct buf out = BUF_INIT;
	struct errmsg e = {""};
	int r = ch_sql(&srv, q, &out, &e);

	if (r)
		fprintf(stderr, "bench_clickhouse: %s: %s\n", q, e.text);
	buf_free(&out);
	return r;
}

static int fresh_table(const char *name)
{
	struct buf b = BUF_INIT;
	char q[128];
	int r;

	snprintf(q, sizeof(q), "DROP TABLE IF EXISTS %s", name);
	r = sql(q) ?: ch_schema_create_sql(&b, "default", name, &(struct ch_version){18, 16});
	r = r ?: sql(b.data);
	buf_free(&b);
	return r;
}

static long long rows_in(const char *table)
{
	char q[128];

	snprintf(q, sizeof(q), "SELECT count() FROM %s", table);
	return ch_sql_num(&srv, q);
}

/* The baseline: clickhouse-client, the rows as TSV on its standard input. */
static double run_client(const char *tsv)
{
	char cmd[512];
	double t0;

	if (fresh_table("b_client"))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "clickhouse-client --host 127.0.0.1 --port %u -q 'INSERT INTO b_client FORMAT "
		 "TSV' < %s",
		 srv.tcp_port, tsv);
	t0 = now_s();
	if (system(cmd))
		return -1;
	return rows_in("b_client") == n_rows ? n_rows / (now_s() - t0) : -1;
}

static double run_exporter(void)
{
	struct exporter_env env = {.node_name = "bench"};
	struct exporter_set *s = exporter_set_new();
	struct exporter_stats st;
	struct errmsg e = {""};
	double t0;
	int i;

	if (sql("DROP TABLE IF EXISTS b_exporter") ||
	    exporter_set_option(s, "export-clickhouse", srv.url, &e) ||
	    exporter_set_option(s, "export-clickhouse-table", "b_exporter", &e) ||
	    exporter_set_option(s, "export-clickhouse-buffer", "2G", &e) ||
	    exporter_set_option(s, "export-clickhouse-max-age", "0", &e) ||
	    exporter_set_open(s, &env, &e)) {
		fprintf(stderr, "bench_clickhouse: exporter: %s\n", e.text);
		exporter_set_free(s);
		return -1;
	}
	/* The table exists before the clock starts: setup is not ingest. */
	while (rows_in("b_exporter") < 0)
		exporter_set_flush(s, false), usleep(1000);
	t0 = now_s();
	for (i = 0; i < n_rows; i++)
		exporter_set_take(s, &flows[i]);
	do {
		exporter_set_flush(s, false);
		exporter_set_stats(s, 0, &st);
		if (st.written + st.dropped < (uint64_t)n_rows)
			usleep(500);
	} while (st.written + st.dropped < (uint64_t)n_rows);
	t0 = now_s() - t0;
	exporter_set_free(s);
	if (st.dropped)
		fprintf(stderr, "bench_clickhouse: the exporter dropped %llu rows\n",
			(unsigned long long)st.dropped);
	return st.dropped || rows_in("b_exporter") != n_rows ? -1 : n_rows / t0;
}

/* Everything encoded, then one POST of RowBinary. */
static double run_one_post(void)
{
	struct buf rows = BUF_INIT, q = BUF_INIT;
	struct errmsg e = {""};
	double t0;
	int i, r;

	if (fresh_table("b_post"))
		return -1;
	buf_puts(&q, "INSERT INTO b_post (");
	ch_schema_column_list(&q);
	buf_puts(&q, ") FORMAT RowBinary");
	t0 = now_s();
	for (i = 0; i < n_rows; i++)
		ch_row_encode(&rows, &flows[i], "bench", NULL, 0);
	r = ch_http_run(&srv.t, q.data, rows.data, rows.len, 600000, NULL, NULL, &e);
	t0 = now_s() - t0;
	buf_free(&rows);
	buf_free(&q);
	if (r)
		fprintf(stderr, "bench_clickhouse: POST: %s\n", e.text);
	return r || rows_in("b_post") != n_rows ? -1 : n_rows / t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The rows as TSV, from a table the exporter filled (the same rows, ClickHouse's text). */
static int write_tsv(const char *path)
{
	char cmd[512];

	if (run_exporter() < 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "clickhouse-client --host 127.0.0.1 --port %u -q 'SELECT * FROM b_exporter "
		 "FORMAT TSV' > %s",
		 srv.tcp_port, path);
	return system(cmd) ? -1 : 0;
}

static void report(double res[N_CASES][16], int rounds, uint64_t row_bytes, double disk)
{
	static const char *const names[N_CASES] = {"client_tsv", "exporter", "rowbinary_post"};
	static const char *const what[N_CASES] = {
		"clickhouse-client INSERT ... FORMAT TSV (baseline)",
		"the exporter: take() each event, flush() until acknowledged",
		"encode all, one POST of RowBinary"};
	double med[N_CASES], v[16];
	int c, k;

	for (c = 0; c < N_CASES; c++) {
		memcpy(v, res[c], sizeof(double) * (size_t)rounds);
		qsort(v, (size_t)rounds, sizeof(double), cmp_double);
		med[c] = v[rounds / 2];
	}
	printf("ClickHouse ingest: %d flow events (%.0f bytes per RowBinary row), median of %d "
	       "rounds\n",
	       n_rows, (double)row_bytes / n_rows, rounds);
	printf("On disk (MergeTree, LZ4, before merges): %.1f bytes per row\n", disk);
	printf("%-16s %12s %8s  %s\n", "case", "rows/s", "ratio", "what");
	for (c = 0; c < N_CASES; c++)
		printf("%-16s %12.0f %7.2fx  %s\n", names[c], med[c], med[c] / med[0], what[c]);
	for (c = 0; c < N_CASES; c++) {
		printf("{\"bench\":\"clickhouse\",\"case\":\"%s\",\"rows_per_s\":%.0f,"
		       "\"baseline\":\"client_tsv\",\"ratio\":%.3f,\"rows\":%d,\"rounds\":[",
		       names[c], med[c], med[c] / med[0], n_rows);
		for (k = 0; k < rounds; k++)
			printf("%s%.0f", k ? "," : "", res[c][k]);
		printf("]}\n");
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 3, i, k, c, err;
	double res[N_CASES][16];
	char tsv[128];
	struct buf one = BUF_INIT;
	uint64_t now = clock_wall_ns();

	n_rows = argc > 2 ? atoi(argv[2]) : 200000;
	if (rounds < 1 || rounds > 15 || n_rows < 1000 || n_rows > 5000000) {
		fprintf(stderr, "usage: %s [ROUNDS (1..15) [ROWS (1000..5000000)]]\n", argv[0]);
		return 2;
	}
	flows = calloc((size_t)n_rows, sizeof(*flows));
	for (i = 0; flows && i < n_rows; i++) {
		ch_test_flow((uint64_t)i, &flows[i]);
		flows[i].time_ns = now - (uint64_t)(n_rows - i) * 1000; /* today, 1 us apart */
		ch_row_encode(&one, &flows[i], "bench", NULL, 0);
	}
	err = flows ? ch_server_start(&srv) : -ENOMEM;
	if (err) {
		fprintf(stderr, "bench_clickhouse: clickhouse-server did not start: %s\n",
			strerror(-err));
		ch_server_stop(&srv);
		return 1;
	}
	snprintf(tsv, sizeof(tsv), "%s/rows.tsv", srv.dir);
	err = write_tsv(tsv);
	for (k = 0; !err && k < rounds; k++) {
		for (c = 0; c < N_CASES && !err; c++) {
			/* Interleaved, the order turning each round. */
			int which = (c + k) % N_CASES;

			res[which][k] = which == 0   ? run_client(tsv)
					: which == 1 ? run_exporter()
						     : run_one_post();
			err = res[which][k] < 0;
		}
	}
	if (!err)
		report(res, rounds, one.len,
		       (double)ch_sql_num(&srv, "SELECT sum(bytes_on_disk) FROM system.parts WHERE "
						"table = 'b_exporter' AND active") /
			       n_rows);
	ch_server_stop(&srv);
	buf_free(&one);
	free(flows);
	return err ? 1 : 0;
}
