/* Unit tests of the file exporter (export/exporters/file_exporter.c) through the exporter
 * contract, configured by option name as flowd's command line would: NDJSON lines identical to
 * the API's, field masks and filters (applied by the contract), size-based rotation (plain and
 * gzip), reopening on reload (logrotate) and flushing. */
#include <check.h>
#include <inttypes.h>
#include <zlib.h>

#include "export_harness.h"

#define MAX_IDS 1024

/* ---- helpers -------------------------------------------------------------------------------- */

/* A gzip file's content through zlib, NUL-terminated. */
static char *gunzip(const char *p)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	gzFile gz = gzopen(p, "rb");
	int n;

	ck_assert_msg(gz != NULL, "cannot gzopen %s", p);
	ck_assert_int_eq(buf_puts(&b, ""), 0);
	while ((n = gzread(gz, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(buf_append(&b, chunk, (size_t)n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(gzclose(gz), Z_OK);
	return b.data;
}

/* Expected files after writing ids 1..n with rotation at max: the first id of each file (greedy:
 * a new file when the next line would exceed max), oldest first; returns how many files. */
static int simulate(uint64_t n, uint64_t max, uint64_t *first)
{
	uint64_t cur = 0, id;
	int files = 0;

	for (id = 1; id <= n; id++) {
		struct buf b = api_line(id);

		if (!files || (cur && cur + b.len > max)) {
			first[files++] = id;
			cur = 0;
		}
		cur += b.len;
		buf_free(&b);
	}
	return files;
}

/* Takes flows from..to (port dport) into the set. */
static void take_range(struct exporter_set *s, uint64_t from, uint64_t to, uint16_t dport)
{
	uint64_t id;

	for (id = from; id <= to; id++) {
		struct flow f = make_flow(id, dport);

		xs_take(s, &f);
	}
}

/* The file at p has exactly the lines of flows from..to, in order; returns its text. */
static char *check_ids(const char *p, uint64_t from, uint64_t to)
{
	uint64_t ids[MAX_IDS];
	char *t = slurp(p);
	int i, n = check_lines(t, ids, MAX_IDS);

	ck_assert_msg((uint64_t)n == to - from + 1, "%s: %d lines, want %" PRIu64, p, n,
		      to - from + 1);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], from + (uint64_t)i);
	return t;
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(lines_match_api)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct buf want = BUF_INIT;
	char p[256];
	uint64_t ids[64];
	char *got;
	int i;

	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "flows.json")});
	ck_assert_uint_eq(exporter_set_count(s), 1);
	for (i = 1; i <= 20; i++) {
		struct flow f = make_flow((uint64_t)i, 443);

		if (i % 3 == 0) {
			f.proto = IPPROTO_UDP;
			f.is_reply = true;
		}
		if (i % 5 == 0) {
			f.family = 6;
			inet_pton(AF_INET6, "fd00::1", f.src.addr);
			inet_pton(AF_INET6, "fd00::2", f.dst.addr);
			f.ended = true;
			f.end_ns = f.last_seen_ns + 1;
		}
		xs_take(s, &f);
		ck_assert_int_eq(flow_pb_json_line(&want, &f, NODE), 0);
	}
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.written, 0); /* still buffered */
	ck_assert_uint_eq(st.queued, want.len);
	exporter_set_free(s);
	got = slurp(p);
	ck_assert_str_eq(got, want.data);
	ck_assert_int_eq(check_lines(got, ids, 64), 20);
	for (i = 0; i < 20; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)i + 1);
	free(got);
	buf_free(&want);
}
END_TEST

START_TEST(field_mask_keeps_listed_keys)
{
	struct exporter_set *s;
	struct flow f = make_flow(7, 443);
	struct keys top, fk;
	char p[256];
	char *got;

	in_dir(p, sizeof(p), "masked.json");
	s = XS_OPEN({"export-file", p}, {"export-fields", " time , IP"});
	xs_take(s, &f);
	exporter_set_free(s);
	got = slurp(p);
	ck_assert_int_eq(check_lines(got, NULL, 0), 1);
	ck_assert_ptr_nonnull(strstr(got, "\"IP\":"));
	ck_assert_ptr_null(strstr(got, "\"l4\":"));
	json_keys(got, &top, &fk);
	ck_assert_str_eq(top.list, "flow,node_name,time,");
	ck_assert_str_eq(fk.list, "time,IP,");
	ck_assert_ptr_nonnull(strstr(got, "\"node_name\":\"" NODE "\""));
	free(got);
	unlink(p);

	/* A wider mask: only listed keys, and those the flow has are there. */
	s = XS_OPEN({"export-file", p}, {"export-fields", "time,verdict,IP,l4,source,destination"});
	xs_take(s, &f);
	exporter_set_free(s);
	got = slurp(p);
	ck_assert_int_eq(check_lines(got, NULL, 0), 1);
	json_keys(got, &top, &fk);
	/* Every flow has its ends' endpoints: at least their numeric identities. */
	ck_assert_str_eq(fk.list, "time,verdict,IP,l4,source,destination,");
	free(got);
}
END_TEST

START_TEST(field_mask_unknown_field)
{
	struct exporter_env env = {.node_name = NODE};
	struct exporter_set *s;
	struct errmsg e;
	char p[256];

	/* The filters are compiled before the mask fails: freed with the set (valgrind checks). */
	in_dir(p, sizeof(p), "never.json");
	ck_assert_int_eq(XS_OPEN_FAILS(&e, {"export-file", p}, {"export-allow", "to_port=443"},
				       {"export-fields", "time,nope"}),
			 -EINVAL);
	ck_assert_msg(strstr(e.text, "'nope'") != NULL, "err: %s", e.text);
	ck_assert(!exists(p));
	ck_assert_int_eq(XS_OPEN_FAILS(&e, {"export-file", p}, {"export-fields", "time,,IP"}),
			 -EINVAL);
	ck_assert_msg(strstr(e.text, "empty") != NULL, "err: %s", e.text);
	ck_assert(!exists(p));
	/* No path: refused as a value; without --export-file there is no file exporter. */
	s = exporter_set_new();
	ck_assert_int_eq(exporter_set_option(s, "export-file", "", &e), -EINVAL);
	ck_assert_int_eq(exporter_set_option(s, "export-fields", "time", &e), 0);
	ck_assert_int_eq(exporter_set_open(s, &env, &e), 0);
	ck_assert_uint_eq(exporter_set_count(s), 0);
	exporter_set_free(s);
	ck_assert_int_eq(XS_OPEN_FAILS(&e, {"export-file", "/nonexistent-dir/x/flows.json"},
				       {"export-fields", "time"}),
			 -ENOENT);
	ck_assert_msg(strstr(e.text, "/nonexistent-dir/x/flows.json") != NULL, "err: %s", e.text);
}
END_TEST

START_TEST(filters_pass_matching_flows)
{
	struct exporter_stats st;
	struct exporter_set *s;
	char p[256];
	uint64_t ids[64];
	char *got;
	int i, n;

	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "filtered.json")},
		    {"export-allow", "to_port=443"});
	for (i = 1; i <= 30; i++) {
		struct flow f = make_flow((uint64_t)i, i % 3 ? 80 : 443);

		xs_take(s, &f);
	}
	exporter_set_flush(s, false);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.written, 10);
	ck_assert_uint_eq(st.filtered, 20);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.queued, 0);
	got = slurp(p);
	ck_assert_uint_eq(xs_extra(&st, "bytes"), strlen(got));
	ck_assert_uint_eq(xs_extra(&st, "bytes"), (uint64_t)file_size(p));
	n = check_lines(got, ids, 64);
	ck_assert_int_eq(n, 10);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)(i + 1) * 3);
	ck_assert_ptr_null(strstr(got, "\"destination_port\":80"));
	exporter_set_free(s);
	free(got);
}
END_TEST

/* Writes ids 1..n and checks the kept files against the greedy simulation. */
static void check_rotation(bool gzip)
{
	const uint64_t max = 2000, n = 200;
	const unsigned int keep = 3;
	struct exporter_stats st;
	struct exporter_set *s;
	char p[256], rp[300];
	uint64_t first[256], ids[MAX_IDS];
	int files, i, k, total = 0;
	uint64_t next;

	in_dir(p, sizeof(p), "rot.json");
	if (gzip)
		s = XS_OPEN({"export-file", p}, {"export-max-size", "2000"}, {"export-keep", "3"},
			    {"export-gzip", NULL});
	else
		s = XS_OPEN({"export-file", p}, {"export-max-size", "2000"}, {"export-keep", "3"});
	take_range(s, 1, n, 443);
	xs_stats(s, "file", &st);
	exporter_set_free(s);
	files = simulate(n, max, first);
	ck_assert_int_gt(files, (int)keep + 1);
	ck_assert_uint_eq(xs_extra(&st, "rotations"), (uint64_t)files - 1);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.dropped, 0);

	snprintf(rp, sizeof(rp), "%s.%u%s", p, keep + 1, gzip ? ".gz" : "");
	ck_assert_msg(!exists(rp), "%s exists", rp);
	snprintf(rp, sizeof(rp), "%s.%u.gz", p, keep + 1);
	ck_assert(!exists(rp));
	snprintf(rp, sizeof(rp), "%s.%u", p, keep + 1);
	ck_assert(!exists(rp));
	/* Oldest kept first: path.keep ... path.1, path. */
	next = first[files - 1 - (int)keep];
	for (k = (int)keep; k >= 0; k--) {
		int fi = files - 1 - k, lines;
		uint64_t last = fi + 1 < files ? first[fi + 1] - 1 : n;
		char *text;

		if (k)
			snprintf(rp, sizeof(rp), "%s.%d%s", p, k, gzip ? ".gz" : "");
		else
			snprintf(rp, sizeof(rp), "%s", p);
		ck_assert_msg(exists(rp), "%s missing", rp);
		if (gzip && k) {
			char plain[300];

			snprintf(plain, sizeof(plain), "%s.%d", p, k);
			ck_assert_msg(!exists(plain), "%s left uncompressed", plain);
			snprintf(plain, sizeof(plain), "%s.%d.gz.tmp", p, k);
			ck_assert(!exists(plain));
			text = gunzip(rp);
		} else {
			text = slurp(rp);
			ck_assert_int_le(file_size(rp), (long)max);
		}
		ck_assert_uint_le(strlen(text), max);
		lines = check_lines(text, ids, MAX_IDS);
		ck_assert_int_eq((uint64_t)lines, last - first[fi] + 1);
		for (i = 0; i < lines; i++)
			ck_assert_uint_eq(ids[i], next++);
		/* Rotated only when needed: the next line would not have fitted. */
		if (k) {
			struct buf nl = api_line(last + 1);

			ck_assert_uint_gt(strlen(text) + nl.len, max);
			buf_free(&nl);
		}
		/* Byte for byte the API's lines. */
		{
			struct buf want = BUF_INIT;
			uint64_t id;

			for (id = first[fi]; id <= last; id++) {
				struct flow f = make_flow(id, 443);

				ck_assert_int_eq(flow_pb_json_line(&want, &f, NODE), 0);
			}
			ck_assert_str_eq(text, want.data);
			buf_free(&want);
		}
		total += lines;
		free(text);
	}
	ck_assert_uint_eq(next - 1, n); /* the newest are all there, in order, no gap */
	ck_assert_uint_eq((uint64_t)total, n - (first[files - 1 - (int)keep] - 1));
}

START_TEST(rotation_keeps_newest)
{
	check_rotation(false);
}
END_TEST

START_TEST(rotation_gzip)
{
	check_rotation(true);
}
END_TEST

START_TEST(rotation_stats_and_big_lines)
{
	/* Every line is larger than the maximum size: each is written alone in its file. */
	struct exporter_stats st;
	struct exporter_set *s;
	char p[256], rp[300];
	uint64_t ids[4];
	char *t;
	int i;

	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "big.json")}, {"export-max-size", "100"},
		    {"export-keep", "2"});
	take_range(s, 1, 5, 443);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(xs_extra(&st, "rotations"), 4);
	ck_assert_uint_eq(st.written, 4); /* the 5th is buffered */
	exporter_set_free(s);
	for (i = 0; i <= 2; i++) {
		if (i)
			snprintf(rp, sizeof(rp), "%s.%d", p, i);
		else
			snprintf(rp, sizeof(rp), "%s", p);
		t = slurp(rp);
		ck_assert_int_eq(check_lines(t, ids, 4), 1);
		ck_assert_uint_eq(ids[0], 5 - (uint64_t)i);
		free(t);
	}
	snprintf(rp, sizeof(rp), "%s.3", p);
	ck_assert(!exists(rp));
}
END_TEST

/* flowd's options cannot change at runtime: switching to another path and mask is closing one
 * set (everything it took goes to the old file) and opening another. */
START_TEST(new_set_switches_file)
{
	struct exporter_stats st;
	struct exporter_set *s;
	char pa[256], pb[256];
	char *t;

	s = XS_OPEN({"export-file", in_dir(pa, sizeof(pa), "a.json")});
	take_range(s, 1, 50, 443);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	exporter_set_free(s);
	s = XS_OPEN({"export-file", in_dir(pb, sizeof(pb), "b.json")},
		    {"export-fields", "time,IP,flow_id"});
	take_range(s, 51, 100, 443);
	exporter_set_flush(s, false);
	xs_stats(s, "file", &st);
	exporter_set_free(s);
	ck_assert_uint_eq(st.written, 50);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);

	t = check_ids(pa, 1, 50);
	ck_assert_ptr_nonnull(strstr(t, "\"l4\":")); /* old options */
	free(t);
	t = check_ids(pb, 51, 100);
	ck_assert_ptr_null(strstr(t, "\"l4\":")); /* new options */
	ck_assert_ptr_nonnull(strstr(t, "\"IP\":"));
	free(t);
}
END_TEST

/* logrotate: the file is moved away, a reload (SIGHUP) reopens the path. Lines taken before the
 * reload go to the old file, those after to the new one: none lost, none twice, in order. */
START_TEST(reload_reopens_moved_file)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct errmsg e = {""};
	char p[256], moved[300];
	char *t;

	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "b.json")},
		    {"export-fields", "time,IP,flow_id"});
	take_range(s, 1, 50, 443);
	exporter_set_flush(s, false);
	snprintf(moved, sizeof(moved), "%s.moved", p);
	ck_assert_int_eq(rename(p, moved), 0);
	take_range(s, 51, 60, 443); /* buffered: taken for the old file */
	ck_assert_int_eq(exporter_set_reload(s, &e), 0);
	ck_assert(exists(p));
	take_range(s, 61, 70, 443);
	/* A reload of an unmoved file continues it. */
	exporter_set_flush(s, false);
	ck_assert_int_eq(exporter_set_reload(s, &e), 0);
	take_range(s, 71, 80, 443);
	xs_stats(s, "file", &st);
	exporter_set_free(s);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);

	t = check_ids(moved, 1, 60);
	ck_assert_ptr_null(strstr(t, "\"l4\":")); /* the set's mask, before and after */
	free(t);
	t = check_ids(p, 61, 80);
	ck_assert_ptr_null(strstr(t, "\"l4\":"));
	free(t);
}
END_TEST

/* A reopen that fails (the path's directory is gone) is reported and changes nothing: the lines
 * keep going to the file in use, which was moved with its directory. */
START_TEST(reload_failure_keeps_old_file)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct errmsg e = {""};
	char p[256], gone[128], in_gone[300];
	char *t;

	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "a.json")});
	take_range(s, 1, 10, 443);
	snprintf(gone, sizeof(gone), "%s.gone", dir);
	ck_assert_int_eq(rename(dir, gone), 0);
	ck_assert_int_eq(exporter_set_reload(s, &e), -ENOENT);
	ck_assert_msg(strstr(e.text, p) != NULL, "err: %s", e.text);
	ck_assert_msg(strncmp(e.text, "file exporter: ", 15) == 0, "err: %s", e.text);
	take_range(s, 11, 20, 80); /* still the old options: no filter, no mask */
	ck_assert_int_eq(exporter_set_reload(s, NULL), -ENOENT); /* again, without a message */
	take_range(s, 21, 25, 80);
	exporter_set_flush(s, true);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.filtered, 0);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.written, 25);
	exporter_set_free(s);
	ck_assert(!exists(p)); /* nothing recreated the path */
	ck_assert_int_eq(dir_entries(gone), 1);
	snprintf(in_gone, sizeof(in_gone), "%s/a.json", gone);
	t = check_ids(in_gone, 1, 25);
	ck_assert_ptr_nonnull(strstr(t, "\"l4\":"));
	free(t);
	ck_assert_int_eq(rename(gone, dir), 0); /* for the teardown */
}
END_TEST

START_TEST(flush_and_close_leave_lines_on_disk)
{
	struct exporter_stats st;
	struct exporter_set *s;
	char p[256];
	char *t;

	in_dir(p, sizeof(p), "flush.json");
	s = XS_OPEN({"export-file", p}, {"export-file-buffer", "1M"});
	take_range(s, 1, 10, 443);
	ck_assert_int_eq(file_size(p), 0); /* all buffered */
	exporter_set_flush(s, false);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.errors, 0);
	t = slurp(p);
	ck_assert_int_eq(check_lines(t, NULL, 0), 10);
	free(t);
	take_range(s, 11, 15, 443);
	exporter_set_flush(s, true);
	exporter_set_flush(s, true); /* nothing buffered: fine */
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.errors, 0);
	take_range(s, 16, 20, 443);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.written, 15);
	exporter_set_free(s);
	/* Reopening appends. A one-byte buffer writes every line at once. */
	s = XS_OPEN({"export-file", p}, {"export-file-buffer", "1"});
	{
		struct flow f = make_flow(21, 443);
		struct buf l = api_line(21);
		long before = file_size(p);

		xs_take(s, &f);
		ck_assert_int_eq(file_size(p), before + (long)l.len);
		xs_stats(s, "file", &st);
		ck_assert_uint_eq(st.written, 1);
		ck_assert_uint_eq(xs_extra(&st, "bytes"), l.len);
		buf_free(&l);
	}
	exporter_set_free(s);
	exporter_set_free(NULL);
	free(check_ids(p, 1, 21));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file_exporter");
	TCase *t = tcase_create("file_exporter");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, lines_match_api);
	tcase_add_test(t, field_mask_keeps_listed_keys);
	tcase_add_test(t, field_mask_unknown_field);
	tcase_add_test(t, filters_pass_matching_flows);
	tcase_add_test(t, rotation_keeps_newest);
	tcase_add_test(t, rotation_gzip);
	tcase_add_test(t, rotation_stats_and_big_lines);
	tcase_add_test(t, new_set_switches_file);
	tcase_add_test(t, reload_reopens_moved_file);
	tcase_add_test(t, reload_failure_keeps_old_file);
	tcase_add_test(t, flush_and_close_leave_lines_on_disk);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
