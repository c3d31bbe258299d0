/* Unit tests of the ClickHouse table and its rows (export/exporters/clickhouse_schema.c): a flow
 * of every kind (replies, IPv6, drops, DNS, processes, names, identities, copies) survives the
 * row both ways, to the JSON byte (so the history prints what the server would), with its
 * identities carried by the row and not looked up again; rows are laid out as RowBinary wants;
 * a row cut anywhere is "not yet", an error text is not a row; the CREATE TABLE of 18.16 has
 * nothing 18.16 lacks and newer servers get their types. */
#include <check.h>

#include "clickhouse_harness.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/exporters/clickhouse_schema.h"

#define N_FLOWS 600

static char tmpdir[64];
static char *labels[] = {"rack=r1", "zone=a"};

static void setup(void)
{
	strcpy(tmpdir, "/tmp/chs-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(ch_test_identities(tmpdir), 0);
	flow_pb_set_node_labels(labels, 2);
}

static void teardown(void)
{
	char p[128];

	identities_set(NULL);
	flow_pb_set_node_labels(NULL, 0);
	snprintf(p, sizeof(p), "%s/ids.yaml", tmpdir);
	unlink(p);
	rmdir(tmpdir);
}

static struct buf json_of(const struct flow *f, const char *node)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(flow_pb_json_line(&b, f, node), 0);
	return b;
}

START_TEST(every_kind_of_flow_round_trips_to_the_same_json)
{
	struct ch_flow cf;
	struct buf row = BUF_INIT, want, got;
	struct flow f;
	size_t used;
	uint64_t i;

	memset(&cf, 0, sizeof(cf));
	for (i = 0; i < N_FLOWS; i++) {
		ch_test_flow(i, &f);
		buf_reset(&row);
		ck_assert_int_eq(ch_row_encode(&row, &f, "node1", labels, 2), 0);
		ck_assert_int_eq(ch_row_decode((uint8_t *)row.data, row.len, &used, &cf), 0);
		ck_assert_uint_eq(used, row.len);
		want = json_of(&f, "node1");
		/* The decoded flow names its node itself (origin), whatever this process is. */
		got = json_of(&cf.f, "elsewhere");
		ck_assert_msg(!strcmp(want.data, got.data), "flow %llu:\nwant %s\ngot  %s",
			      (unsigned long long)i, want.data, got.data);
		buf_free(&got);
		/* Without an identity file, the row's identities still stand. */
		identities_set(NULL);
		got = json_of(&cf.f, "elsewhere");
		ck_assert_msg(!strcmp(want.data, got.data), "flow %llu without identities:\n%s",
			      (unsigned long long)i, got.data);
		ck_assert_int_eq(ch_test_identities(tmpdir), 0);
		buf_free(&got);
		buf_free(&want);
		ck_assert_int_eq(cf.f.is_reply, f.is_reply);
		ck_assert_int_eq(memcmp(&cf.f.src, &f.src, sizeof(f.src)), 0);
		ck_assert_int_eq(memcmp(&cf.f.dst, &f.dst, sizeof(f.dst)), 0);
	}
	buf_free(&row);
	ch_flow_free(&cf);
}
END_TEST

START_TEST(a_relayed_flow_keeps_its_node_and_identities)
{
	struct identity id = {.ns = "far", .pod = "away-1", .numeric = 31000};
	char *far_labels[] = {"zone=b"};
	struct flow_origin o = {.name = "node9", .labels = far_labels, .n_labels = 1};
	struct ch_flow cf;
	struct buf row = BUF_INIT, want, got;
	struct flow f;
	size_t used;

	memset(&cf, 0, sizeof(cf));
	ch_test_flow(3, &f);
	f.origin = &o;
	f.src_id = &id;
	ck_assert_int_eq(ch_row_encode(&row, &f, "node1", labels, 2), 0);
	ck_assert_int_eq(ch_row_decode((uint8_t *)row.data, row.len, &used, &cf), 0);
	ck_assert_str_eq(cf.origin.name, "node9");
	ck_assert_uint_eq(cf.origin.n_labels, 1);
	ck_assert_str_eq(cf.origin.labels[0], "zone=b");
	ck_assert_str_eq(cf.f.src_id->ns, "far");
	ck_assert_uint_eq(cf.f.src_id->numeric, 31000);
	want = json_of(&f, "node1");
	got = json_of(&cf.f, "node1");
	ck_assert_str_eq(want.data, got.data);
	buf_free(&want);
	buf_free(&got);
	buf_free(&row);
	ch_flow_free(&cf);
}
END_TEST

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

START_TEST(rows_are_rowbinary_in_column_order)
{
	struct buf row = BUF_INIT;
	struct flow f;
	const uint8_t *p;

	ch_test_flow(2, &f); /* IPv4, not a reply */
	ck_assert_int_eq(ch_row_encode(&row, &f, "node1", labels, 2), 0);
	p = (const uint8_t *)row.data;
	/* date: UInt16 days, time: UInt64 ns, node_name: varint length + bytes, node_labels:
	 * varint count + strings, uuid: 16 bytes. */
	ck_assert_uint_eq(le(p, 2), f.time_ns / CH_DAY_NS);
	ck_assert_uint_eq(le(p + 2, 8), f.time_ns);
	ck_assert_uint_eq(p[10], 5);
	ck_assert_int_eq(memcmp(p + 11, "node1", 5), 0);
	ck_assert_uint_eq(p[16], 2);
	ck_assert_uint_eq(p[17], 7);
	ck_assert_int_eq(memcmp(p + 18, "rack=r1", 7), 0);
	ck_assert_uint_eq(p[25], 6);
	ck_assert_int_eq(memcmp(p + 26, "zone=a", 6), 0);
	ck_assert_int_eq(memcmp(p + 32, f.uuid, 16), 0);
	ck_assert_str_eq(ch_schema_column(0, NULL, &(const char *){0}), "date");
	buf_free(&row);
}
END_TEST

START_TEST(a_row_cut_anywhere_is_incomplete)
{
	struct ch_flow cf;
	struct buf row = BUF_INIT;
	struct flow f;
	size_t n, used;

	memset(&cf, 0, sizeof(cf));
	ch_test_flow(6, &f); /* DNS, a process, names */
	ck_assert_int_eq(ch_row_encode(&row, &f, "node1", labels, 2), 0);
	for (n = 0; n < row.len; n++)
		ck_assert_int_eq(ch_row_decode((uint8_t *)row.data, n, &used, &cf), -EAGAIN);
	ck_assert_int_eq(ch_row_decode((uint8_t *)row.data, row.len, &used, &cf), 0);
	buf_free(&row);
	ch_flow_free(&cf);
}
END_TEST

START_TEST(an_error_text_is_not_a_row)
{
	static const char text[] =
		"Code: 60, e.displayText() = DB::Exception: Table default.flows doesn't exist., "
		"e.what() = DB::Exception\n"
		"................................................................................"
		"................................................................................"
		"................................................................................";
	struct ch_flow cf;
	size_t used;

	memset(&cf, 0, sizeof(cf));
	ck_assert_int_eq(ch_row_decode((const uint8_t *)text, sizeof(text) - 1, &used, &cf),
			 -EBADMSG);
	ch_flow_free(&cf);
}
END_TEST

START_TEST(rows_follow_each_other)
{
	struct ch_flow cf;
	struct buf rows = BUF_INIT;
	struct flow f;
	size_t off = 0, used;
	uint64_t i;

	memset(&cf, 0, sizeof(cf));
	for (i = 0; i < 50; i++) {
		ch_test_flow(i, &f);
		ck_assert_int_eq(ch_row_encode(&rows, &f, "n", NULL, 0), 0);
	}
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(
			ch_row_decode((uint8_t *)rows.data + off, rows.len - off, &used, &cf), 0);
		ck_assert_uint_eq(cf.f.time_ns, CH_T0 + i * 1000000ULL);
		ck_assert_str_eq(cf.origin.name, "n");
		ck_assert_uint_eq(cf.origin.n_labels, 0);
		off += used;
	}
	ck_assert_uint_eq(off, rows.len);
	buf_free(&rows);
	ch_flow_free(&cf);
}
END_TEST

START_TEST(create_table_for_18_16_and_newer)
{
	struct ch_version old = {18, 16}, v20 = {20, 3};
	struct buf a = BUF_INIT, b = BUF_INIT;

	ck_assert_int_eq(ch_schema_create_sql(&a, "default", "flows", &old), 0);
	ck_assert_ptr_nonnull(strstr(a.data, "CREATE TABLE IF NOT EXISTS `default`.`flows` ("));
	ck_assert_ptr_nonnull(strstr(a.data, "date Date, time UInt64, node_name String,"));
	ck_assert_ptr_nonnull(strstr(a.data, "source_ip FixedString(16), destination_ip "
					     "FixedString(16)"));
	ck_assert_ptr_nonnull(strstr(a.data, ") ENGINE = MergeTree PARTITION BY date ORDER BY "
					     "(intDiv(time, 600000000000), node_name, source_ip, "
					     "destination_ip, time)"));
	ck_assert_ptr_null(strstr(a.data, "LowCardinality"));
	ck_assert_ptr_null(strstr(a.data, "CODEC"));
	ck_assert_ptr_null(strstr(a.data, "TTL"));
	ck_assert_int_eq(ch_schema_create_sql(&b, "db", "t", &v20), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "node_name LowCardinality(String)"));
	ck_assert_ptr_nonnull(strstr(b.data, "time UInt64 CODEC(DoubleDelta, LZ4)"));
	ck_assert_ptr_nonnull(strstr(b.data, "source_ip FixedString(16)"));
	buf_free(&a);
	buf_free(&b);
}
END_TEST

START_TEST(versions_and_names)
{
	struct ch_version v;

	ck_assert_int_eq(ch_version_parse("18.16.1\n", 8, &v), 0);
	ck_assert_uint_eq(v.major, 18);
	ck_assert_uint_eq(v.minor, 16);
	ck_assert_int_eq(ch_version_parse("21.8.10.19", 10, &v), 0);
	ck_assert_uint_eq(v.major, 21);
	ck_assert_int_eq(ch_version_parse("", 0, &v), -EINVAL);
	ck_assert_int_eq(ch_version_parse("Code: 1", 7, &v), -EINVAL);
	ck_assert(ch_schema_name_ok("flows"));
	ck_assert(ch_schema_name_ok("_flows_2"));
	ck_assert(!ch_schema_name_ok("2flows"));
	ck_assert(!ch_schema_name_ok("fl`ows"));
	ck_assert(!ch_schema_name_ok("db.flows"));
	ck_assert(!ch_schema_name_ok(""));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clickhouse_schema");
	TCase *t = tcase_create("clickhouse_schema");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, every_kind_of_flow_round_trips_to_the_same_json);
	tcase_add_test(t, a_relayed_flow_keeps_its_node_and_identities);
	tcase_add_test(t, rows_are_rowbinary_in_column_order);
	tcase_add_test(t, a_row_cut_anywhere_is_incomplete);
	tcase_add_test(t, an_error_text_is_not_a_row);
	tcase_add_test(t, rows_follow_each_other);
	tcase_add_test(t, create_table_for_18_16_and_newer);
	tcase_add_test(t, versions_and_names);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
