/* Tests of the history queries on ClickHouse (export/exporters/clickhouse_query.c): the SQL that
 * filters become (what is translated, what is left to C, LIMIT only when all of it was), and,
 * against a clickhouse-server this test starts itself, that for every filter key of the filter
 * language the SQL selects exactly (or, where left to C, at least) the rows the filter code
 * selects from the same decoded rows, that SQL and C together select exactly those, in time
 * order, for the whole window, --first N and --last N; inclusive since/until; duplicates of
 * at-least-once delivery skipped; an unreachable server and a table of another schema said. */
#include <check.h>
#include <inttypes.h>

#include "clickhouse_harness.h"
#include "flowscope/exporters/clickhouse_query.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/filter/filter.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/flow_view.h"

#define N_ROWS 3000

static struct ch_server srv;
static struct ch_target target;
static char *node1_labels[] = {"zone=a"}, *node2_labels[] = {"zone=b"};

/* ---- building queries ------------------------------------------------------------------------ */

struct req {
	struct filter_req r;
	Flow__FlowFilter *allow[2], *deny[FILTER_MAX_GROUPS + 2];
	struct flow_filter_set *fs;
	struct ch_query q;
};

static void req_build(struct req *x, const char *allow, const char *deny)
{
	struct errmsg e = {""};

	memset(x, 0, sizeof(*x));
	filter_req_init(&x->r, FILTER_AS_PARAM);
	if (allow)
		ck_assert_msg(!filter_req_parse(&x->r, allow, false, &e), "%s: %s", allow, e.text);
	if (deny)
		ck_assert_msg(!filter_req_parse(&x->r, deny, true, &e), "%s: %s", deny, e.text);
	ck_assert_int_eq(flow_filter_set_from_req(&x->r, &x->fs, &e), 0);
	x->q.n_allow = filter_req_filters(&x->r, false, x->allow);
	x->q.allow = x->allow;
	x->q.n_deny = filter_req_deny_filters(&x->r, x->deny);
	x->q.deny = x->deny;
}

static void req_free(struct req *x)
{
	flow_filter_set_free(x->fs);
	filter_req_free(&x->r);
}

static char *sql_of(struct req *x, bool *exact)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(ch_query_sql(&x->q, &target, &b, exact), 0);
	return b.data;
}

START_TEST(translated_filters_and_limit)
{
	struct req x;
	bool exact;
	char *sql;

	req_build(&x, "to_port=443&protocol=tcp", NULL);
	x.q.last = 20;
	x.q.since_ns = CH_T0;
	sql = sql_of(&x, &exact);
	ck_assert(exact);
	ck_assert_ptr_nonnull(strstr(sql, "SELECT date, time, node_name, "));
	ck_assert_ptr_nonnull(strstr(sql, " FROM `default`.`flows` WHERE 1 AND time >= "
					  "1700000000000000000 AND intDiv(time, 600000000000) >= "
					  "2833333 AND date >= toDate('2023-11-14')"));
	ck_assert_ptr_nonnull(strstr(sql, "((protocol IN (6, 17, 132) AND (destination_port "
					  "BETWEEN 443 AND 443)) AND protocol IN (6))"));
	ck_assert_ptr_nonnull(
		strstr(sql, " ORDER BY time DESC, uuid DESC LIMIT 20 FORMAT RowBinary"));
	free(sql);
	req_free(&x);

	req_build(&x, "from_ip=10.0.0.0/8", "to_port=53");
	sql = sql_of(&x, &exact);
	ck_assert(exact);
	ck_assert_ptr_nonnull(
		strstr(sql, "(ip_version = 4 AND source_ip BETWEEN "
			    "'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\xff\\xff"
			    "\\x0a\\x00\\x00\\x00' AND '\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
			    "\\x00\\x00\\x00\\xff\\xff\\x0a\\xff\\xff\\xff')"));
	ck_assert_ptr_nonnull(strstr(sql, " AND NOT ((protocol IN (6, 17, 132) AND "
					  "(destination_port BETWEEN 53 AND 53)))"));
	ck_assert_ptr_nonnull(strstr(sql, " ORDER BY time, uuid FORMAT RowBinary"));
	free(sql);
	req_free(&x);
}
END_TEST

START_TEST(what_is_left_to_c)
{
	struct req x;
	bool exact;
	char *sql;

	/* A label selector has no column: the allow filter selects more, no LIMIT. */
	req_build(&x, "label=app=web&to_port=443", NULL);
	x.q.first = 5;
	sql = sql_of(&x, &exact);
	ck_assert(!exact);
	ck_assert_ptr_nonnull(strstr(sql, "destination_port BETWEEN 443 AND 443"));
	ck_assert_ptr_null(strstr(sql, "LIMIT"));
	free(sql);
	req_free(&x);
	/* A deny filter that does not translate whole excludes nothing in SQL. */
	req_build(&x, NULL, "dns_query=example&protocol=udp");
	sql = sql_of(&x, &exact);
	ck_assert(!exact);
	ck_assert_ptr_null(strstr(sql, "NOT"));
	free(sql);
	req_free(&x);
	/* Patterns: equality, RE2 for * and ?, brackets left to C; node names without their
	 * cluster; DNS names in lower case without the final dot. */
	req_build(&x, "node_name=cluster/node1&fqdn=*.Example.COM.&process=ng?nx", NULL);
	sql = sql_of(&x, &exact);
	ck_assert(exact);
	ck_assert_ptr_nonnull(strstr(sql, "node_name = 'node1'"));
	ck_assert_ptr_nonnull(strstr(sql, "match(source_name, '^.*\\\\.example\\\\.com$')"));
	ck_assert_ptr_nonnull(strstr(sql, "match(source_comm, '^ng.nx$')"));
	free(sql);
	req_free(&x);
	req_build(&x, "process=ng[i]nx", NULL);
	sql = sql_of(&x, &exact);
	ck_assert(!exact);
	free(sql);
	req_free(&x);
	/* Quotes in values cannot leave their literal. */
	req_build(&x, "pod=x'); DROP TABLE flows; --", NULL);
	sql = sql_of(&x, &exact);
	ck_assert_ptr_nonnull(strstr(sql, "startsWith(source_pod, 'x\\'); DROP TABLE flows; --')"));
	free(sql);
	req_free(&x);
}
END_TEST

/* ---- against the server ---------------------------------------------------------------------- */

static uint64_t index_of(const struct flow *f)
{
	uint64_t i = 0;

	memcpy(&i, f->uuid + 10, 6);
	return i;
}

struct got {
	uint64_t *v;
	size_t n, cap;
};

static int collect(const struct flow *f, void *ctx)
{
	struct got *g = ctx;

	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 1024;
		g->v = realloc(g->v, g->cap * sizeof(*g->v));
		ck_assert_ptr_nonnull(g->v);
	}
	g->v[g->n++] = index_of(f);
	return 0;
}

static struct got run(const struct ch_query *q, const struct flow_filter_set *fs)
{
	struct got g = {0};
	struct errmsg e = {""};
	int r = ch_query_run(q, &target, fs, 30000, collect, &g, &e);

	ck_assert_msg(r == 0, "query: %d %s", r, e.text);
	return g;
}

/* Every row, decoded, and which of them the filter code selects. */
static struct ch_flow *all_rows;
static size_t n_all;

static int keep_all(const struct flow *f, void *ctx)
{
	(void)ctx;
	(void)f;
	return 0;
}

static void load_rows(void)
{
	struct buf rows = BUF_INIT, sql = BUF_INIT, out = BUF_INIT;
	struct errmsg e = {""};
	struct flow f;
	uint64_t i;

	for (i = 0; i < N_ROWS; i++) {
		const char *node = i % 3 == 0 ? "node1" : i % 3 == 1 ? "node2" : "other";
		char **l = i % 3 == 0 ? node1_labels : i % 3 == 1 ? node2_labels : NULL;

		ch_test_flow(i, &f);
		ck_assert_int_eq(ch_row_encode(&rows, &f, node, l, l ? 1 : 0), 0);
	}
	ck_assert_int_eq(
		ch_schema_create_sql(&sql, "default", "flows", &(struct ch_version){18, 16}), 0);
	ck_assert_msg(!ch_sql(&srv, sql.data, &out, &e), "%s", e.text);
	buf_reset(&sql);
	buf_puts(&sql, "INSERT INTO flows (");
	ch_schema_column_list(&sql);
	buf_puts(&sql, ") FORMAT RowBinary");
	ck_assert_msg(!ch_http_run(&target, sql.data, rows.data, rows.len, 30000, NULL, NULL, &e),
		      "%s", e.text);
	buf_free(&rows);
	buf_free(&sql);
	buf_free(&out);
	(void)keep_all;
}

static struct got expected(const struct flow_filter_set *fs)
{
	struct got g = {0};
	size_t i;

	for (i = 0; i < n_all; i++)
		if (flow_filter_set_match(fs, &all_rows[i].f, NULL))
			collect(&all_rows[i].f, &g);
	return g;
}

static int decode_all(const struct flow *f, void *ctx)
{
	(void)ctx;
	(void)f;
	return 0;
}

/* Every stored row decoded once (the C side's input, identities carried by the rows). */
static void fetch_all(void)
{
	struct buf sql = BUF_INIT, body = BUF_INIT;
	struct errmsg e = {""};
	size_t off = 0, used;

	buf_puts(&sql, "SELECT ");
	ch_schema_column_list(&sql);
	buf_puts(&sql, " FROM flows ORDER BY time, uuid FORMAT RowBinary");
	ck_assert_msg(!ch_http_run(&target, sql.data, NULL, 0, 30000, ch_collect, &body, &e), "%s",
		      e.text);
	all_rows = calloc(N_ROWS, sizeof(*all_rows));
	while (off < body.len) {
		ck_assert_uint_lt(n_all, N_ROWS);
		ck_assert_int_eq(ch_row_decode((uint8_t *)body.data + off, body.len - off, &used,
					       &all_rows[n_all]),
				 0);
		n_all++;
		off += used;
	}
	ck_assert_uint_eq(n_all, N_ROWS);
	buf_free(&sql);
	buf_free(&body);
	(void)decode_all;
}

static void same(const struct got *a, const uint64_t *b, size_t nb, const char *what, const char *f)
{
	size_t i;

	ck_assert_msg(a->n == nb, "%s %s: %zu rows, want %zu", f, what, a->n, nb);
	for (i = 0; i < nb; i++)
		ck_assert_msg(a->v[i] == b[i], "%s %s: row %zu is %" PRIu64 ", want %" PRIu64, f,
			      what, i, a->v[i], b[i]);
}

static bool has(const struct got *g, uint64_t v)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (g->v[i] == v)
			return true;
	return false;
}

/* For one filter: SQL alone (exact, or a superset), SQL and C, first and last N. */
static void check_filter(const char *allow, const char *deny, size_t *n_exact)
{
	struct req x;
	struct buf sql = BUF_INIT;
	struct got want, sql_only, both;
	char name[256];
	bool exact;
	size_t i, n;

	snprintf(name, sizeof(name), "[%s | not %s]", allow ? allow : "", deny ? deny : "");
	req_build(&x, allow, deny);
	ck_assert_int_eq(ch_query_sql(&x.q, &target, &sql, &exact), 0);
	want = expected(x.fs);
	sql_only = run(&x.q, NULL);
	if (exact) {
		same(&sql_only, want.v, want.n, "SQL alone", name);
		(*n_exact)++;
	} else {
		for (i = 0; i < want.n; i++)
			ck_assert_msg(has(&sql_only, want.v[i]), "%s: SQL lost row %" PRIu64, name,
				      want.v[i]);
	}
	both = run(&x.q, x.fs);
	same(&both, want.v, want.n, "SQL and C", name);
	free(both.v);
	x.q.first = 7;
	both = run(&x.q, x.fs);
	same(&both, want.v, want.n < 7 ? want.n : 7, "--first 7", name);
	free(both.v);
	x.q.first = 0;
	x.q.last = 7;
	both = run(&x.q, x.fs);
	n = want.n < 7 ? want.n : 7;
	same(&both, n ? want.v + want.n - n : want.v, n, "--last 7", name); /* NULL + 0: UB */
	free(both.v);
	free(want.v);
	free(sql_only.v);
	buf_free(&sql);
	req_free(&x);
}

START_TEST(rows_stored_and_read_back)
{
	load_rows();
	/* The rows carry their identities: the C side must not need the file. */
	identities_set(NULL);
	fetch_all();
}
END_TEST

START_TEST(sql_selects_what_the_filter_code_selects)
{
	char uuid[FLOW_UUID_STR_LEN], by_uuid[64], drop[96];
	const ProtobufCEnumValue *dr;
	struct flow f;
	size_t i, n_exact = 0;
	static const char *const cases[][2] = {
		{"to_port=443", NULL},
		{"port=53", NULL},
		{"from_port=40000-40010&protocol=tcp", NULL},
		{"ip=10.0.0.0/24", NULL},
		{"from_ip=10.0.0.3", NULL},
		{"to_ip=10.0.1.5&ip_version=4", NULL},
		{"ip=fd00::/16", NULL},
		{"ip=fd00::1:0/112", NULL},
		{"ip=127.0.0.1", NULL},
		{"ip_version=6", NULL},
		{"protocol=udp&protocol=icmp", NULL},
		{"protocol=icmpv6", NULL},
		{"verdict=DROPPED", NULL},
		{"verdict=FORWARDED&traffic_direction=ingress", NULL},
		{"tcp_flags=SYN", NULL},
		{"tcp_flags=SYN,ACK", NULL},
		{"tcp_flags=RST&tcp_flags=FIN", NULL},
		{"node_name=node*", NULL},
		{"node_name=cluster/node2", NULL},
		{"node_name=n?de1&node_name=oth*", NULL},
		{"type=trace:to-endpoint", NULL},
		{"type=trace:from-stack&type=l7", NULL},
		{"type=drop", NULL},
		{"type=trace", NULL},
		{"interface=eth0", NULL},
		{"interface=2", NULL},
		{"pod=shop/web", NULL},
		{"namespace=db", NULL},
		{"to_pod=db/pg", NULL},
		{"from_namespace=shop&to_namespace=db", NULL},
		{"pod=v6/six", NULL},
		{"service=shop/web", NULL},
		{"service=web", NULL},
		{"workload=Deployment/web", NULL},
		{"workload=web", NULL},
		{"to_workload=Deployment/", NULL},
		{"identity=4711", NULL},
		{"from_identity=host", NULL},
		{"identity=world", NULL},
		{"fqdn=*.example.com", NULL},
		{"to_fqdn=db.internal", NULL},
		{"fqdn=API.example.com.", NULL},
		{"process=curl", NULL},
		{"from_process=py*", NULL},
		{"to_process=pg", NULL},
		{"container=3f2a", NULL},
		{"container=host", NULL},
		{"label=app=web", NULL},
		{"to_label=tier=front,!canary", NULL},
		{"dns_query=example", NULL},
		{"node_label=zone=a", NULL},
		{"process=ng[i]nx", NULL},
		{"http_status=200", NULL},
		{"encrypted=false&to_port=80", NULL},
		{NULL, "to_port=443"},
		{NULL, "protocol=tcp"},
		{"protocol=tcp", "label=app=web"},
		{NULL, "from_ip=10.0.0.0/24&to_port=5432"},
		{"to_port=443&from_pod=shop/", "verdict=DROPPED"},
		{"to_port=80&to_port=8080", "node_name=node1"},
	};

	ch_test_flow(5, &f);
	flow_uuid_str(&f, uuid);
	snprintf(by_uuid, sizeof(by_uuid), "uuid=%s", uuid);
	check_filter(by_uuid, NULL, &n_exact);
	dr = protobuf_c_enum_descriptor_get_value(&flow__drop_reason__descriptor,
						  drop_reason_hubble_code(ch_test_drop_reason()));
	ck_assert_ptr_nonnull(dr);
	snprintf(drop, sizeof(drop), "drop_reason_desc=%s", dr->name);
	check_filter(drop, NULL, &n_exact);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_filter(cases[i][0], cases[i][1], &n_exact);
	/* Most keys translate: only labels, node labels, DNS regexps, brackets, HTTP and
	 * encryption are left to C. */
	ck_assert_uint_ge(n_exact, 50);
}
END_TEST

START_TEST(since_and_until_are_inclusive)
{
	struct ch_query q = {.since_ns = CH_T0 + 1000 * 1000000ULL,
			     .until_ns = CH_T0 + 1999 * 1000000ULL};
	struct got g = run(&q, NULL);
	size_t i;

	ck_assert_uint_eq(g.n, 1000);
	for (i = 0; i < g.n; i++)
		ck_assert_uint_eq(g.v[i], 1000 + i);
	free(g.v);
	q.last = 3;
	g = run(&q, NULL);
	ck_assert_uint_eq(g.n, 3);
	ck_assert_uint_eq(g.v[0], 1997);
	ck_assert_uint_eq(g.v[2], 1999);
	free(g.v);
}
END_TEST

START_TEST(duplicates_are_skipped)
{
	struct ch_target t2 = target;
	struct buf rows = BUF_INIT, sql = BUF_INIT, out = BUF_INIT;
	struct ch_query q = {0};
	struct errmsg e = {""};
	struct got g = {0};
	struct flow f;
	uint64_t i;
	int k;

	snprintf(t2.table, sizeof(t2.table), "dups");
	for (i = 0; i < 10; i++) {
		ch_test_flow(i, &f);
		ck_assert_int_eq(ch_row_encode(&rows, &f, "node1", NULL, 0), 0);
	}
	ch_schema_create_sql(&sql, "default", "dups", &(struct ch_version){18, 16});
	ck_assert_msg(!ch_sql(&srv, sql.data, &out, &e), "%s", e.text);
	buf_reset(&sql);
	buf_puts(&sql, "INSERT INTO dups (");
	ch_schema_column_list(&sql);
	buf_puts(&sql, ") FORMAT RowBinary");
	for (k = 0; k < 2; k++) /* a batch delivered twice */
		ck_assert_msg(
			!ch_http_run(&t2, sql.data, rows.data, rows.len, 30000, NULL, NULL, &e),
			"%s", e.text);
	ck_assert_int_eq(ch_sql_num(&srv, "SELECT count() FROM dups"), 20);
	ck_assert_int_eq(ch_query_run(&q, &t2, NULL, 30000, collect, &g, &e), 0);
	ck_assert_uint_eq(g.n, 10);
	for (i = 0; i < 10; i++)
		ck_assert_uint_eq(g.v[i], i);
	free(g.v);
	buf_free(&rows);
	buf_free(&sql);
	buf_free(&out);
}
END_TEST

START_TEST(failures_say_why)
{
	struct ch_target t2 = target;
	struct ch_query q = {.last = 5};
	struct buf out = BUF_INIT;
	struct errmsg e = {""};
	struct got g = {0};
	int r;

	/* Another program's table of the same name. */
	ck_assert(!ch_sql(&srv,
			  "CREATE TABLE other (date Date, time UInt64) ENGINE = "
			  "MergeTree PARTITION BY date ORDER BY time",
			  &out, &e));
	snprintf(t2.table, sizeof(t2.table), "other");
	r = ch_query_run(&q, &t2, NULL, 30000, collect, &g, &e);
	ck_assert_int_eq(r, -EPROTO);
	ck_assert_msg(strstr(e.text, "ClickHouse answered") && strstr(e.text, "Code: "), "%s",
		      e.text);
	/* A table that is not there. */
	snprintf(t2.table, sizeof(t2.table), "nosuch");
	r = ch_query_run(&q, &t2, NULL, 30000, collect, &g, &e);
	ck_assert_int_eq(r, -EPROTO);
	ck_assert_msg(strstr(e.text, "Table default.nosuch doesn't exist"), "%s", e.text);
	/* No server. */
	t2 = target;
	((struct sockaddr_in *)&t2.addr)->sin_port = htons(ch_free_port());
	r = ch_query_run(&q, &t2, NULL, 2000, collect, &g, &e);
	ck_assert_int_eq(r, -ECONNREFUSED);
	ck_assert_msg(strstr(e.text, "is clickhouse-server running?"), "%s", e.text);
	ck_assert_uint_eq(g.n, 0);
	buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clickhouse_query");
	TCase *t = tcase_create("sql"), *live = tcase_create("server");
	SRunner *r;
	char dir[64];
	int failed, err;

	strcpy(dir, "/tmp/chq-ids-XXXXXX");
	if (!mkdtemp(dir) || ch_test_identities(dir)) {
		fprintf(stderr, "cannot write the identity file\n");
		return EXIT_FAILURE;
	}
	err = ch_server_start(&srv);
	if (err) {
		fprintf(stderr, "clickhouse-server did not start (%s): see %s\n", strerror(-err),
			srv.dir);
		ch_server_stop(&srv);
		return EXIT_FAILURE;
	}
	target = srv.t;
	tcase_add_test(t, translated_filters_and_limit);
	tcase_add_test(t, what_is_left_to_c);
	tcase_set_timeout(live, 120);
	tcase_add_test(live, rows_stored_and_read_back);
	tcase_add_test(live, sql_selects_what_the_filter_code_selects);
	tcase_add_test(live, since_and_until_are_inclusive);
	tcase_add_test(live, duplicates_are_skipped);
	tcase_add_test(live, failures_say_why);
	suite_add_tcase(s, t);
	suite_add_tcase(s, live);
	r = srunner_create(s);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	ch_server_stop(&srv);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/ids.yaml");
	unlink(dir);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
