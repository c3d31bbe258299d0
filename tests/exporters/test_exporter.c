/* Unit tests of the exporter contract (export/exporters/exporter.c, registry.c): the registry,
 * options set by name, the allow/deny filters and the field mask applied once for every
 * exporter, the per-type event selection, the counters and delivery on flush and free. The
 * syslog and IPFIX peers are sockets the tests bind on 127.0.0.1. */
#include <check.h>

#include "export_harness.h"

#define IPFIX_HDR 16
#define IPFIX_TMPL_SET (4 + 2 * (4 + 10 * 4))
#define IPFIX_REC_V4 47

static uint16_t get16(const void *p)
{
	const uint8_t *b = p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const void *p)
{
	return (uint32_t)get16(p) << 16 | get16((const uint8_t *)p + 2);
}

/* An IPFIX message of one template set and one IPv4 data set: its data records' source ports
 * into sports (in order); returns the record count and the header's sequence number. */
static unsigned int ipfix_v4_records(const char *m, size_t len, uint16_t *sports, uint32_t *seq)
{
	const char *set = m + IPFIX_HDR + IPFIX_TMPL_SET;
	unsigned int n, i;

	ck_assert_uint_eq(get16(m), 10);
	ck_assert_uint_eq(get16(m + 2), len);
	*seq = get32(m + 8);
	ck_assert_uint_eq(get16(m + IPFIX_HDR), 2); /* the template set first */
	ck_assert_uint_eq(get16(m + IPFIX_HDR + 2), IPFIX_TMPL_SET);
	ck_assert_uint_eq(get16(set), 256);
	ck_assert_uint_eq(get16(set + 2), len - IPFIX_HDR - IPFIX_TMPL_SET);
	ck_assert_uint_eq((len - IPFIX_HDR - IPFIX_TMPL_SET - 4) % IPFIX_REC_V4, 0);
	n = (unsigned int)((len - IPFIX_HDR - IPFIX_TMPL_SET - 4) / IPFIX_REC_V4);
	for (i = 0; i < n; i++)
		sports[i] = get16(set + 4 + i * IPFIX_REC_V4 + 8);
	return n;
}

/* The MSG of a syslog datagram (after "... flow - "). */
static const char *syslog_payload(const char *dgram)
{
	const char *p = strstr(dgram, " flow - ");

	ck_assert_msg(p != NULL, "not a flowd message: %.100s", dgram);
	return p + 8;
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(registry_lists_file_syslog_ipfix_clickhouse)
{
	const char *const want[] = {"file", "syslog", "ipfix", "clickhouse"};
	struct exporter_set *s = exporter_set_new();
	struct opt_group g[8];
	size_t i, n;

	for (i = 0; i < 4; i++) {
		const struct exporter_type *t = exporter_types[i];
		const struct opt *o;

		ck_assert_ptr_nonnull(t);
		ck_assert_str_eq(t->name, want[i]);
		ck_assert(t->opts && t->opts[0].name && t->config_size && t->enabled);
		ck_assert(t->open && t->take && t->flush && t->close && t->stats);
		for (o = t->opts; o->name; o++)
			ck_assert_msg(!strncmp(o->name, "export-", 7), "%s", o->name);
	}
	ck_assert_ptr_null(exporter_types[4]);
	ck_assert_uint_eq(exporter_types[0]->events, 0); /* file and syslog take every event */
	ck_assert_uint_eq(exporter_types[1]->events, 0);
	ck_assert_uint_eq(exporter_types[2]->events, 1u << FLOW_EVENT_END);
	ck_assert_uint_eq(exporter_types[3]->events, 0);  /* ClickHouse: a row per event */
	ck_assert_ptr_nonnull(exporter_types[0]->reload); /* SIGHUP reopens the file */

	/* flowd's option groups: each exporter's in registry order, then the filters. */
	n = exporter_set_opt_groups(s, g, 8);
	ck_assert_uint_eq(n, 5);
	for (i = 0; i < 4; i++)
		ck_assert_ptr_eq(g[i].opts, exporter_types[i]->opts);
	ck_assert_str_eq(g[4].opts[0].name, "export-allow");
	ck_assert_str_eq(g[4].opts[1].name, "export-deny");
	ck_assert_str_eq(g[4].opts[2].name, "export-fields");
	ck_assert_uint_eq(exporter_set_opt_groups(s, g, 2), 2);
	exporter_set_free(s);
}
END_TEST

START_TEST(unknown_option_refused)
{
	struct exporter_set *s = exporter_set_new();
	struct errmsg e = {""};

	ck_assert_int_eq(exporter_set_option(s, "export-nope", "x", &e), -ENOENT);
	ck_assert_str_eq(e.text, "unknown option '--export-nope'");
	ck_assert_int_eq(exporter_set_option(s, "--export-file", "/tmp/x", &e), -ENOENT);
	ck_assert_int_eq(exporter_set_option(s, "export-syslog-url", "udp://127.0.0.1:1", NULL),
			 -ENOENT);
	ck_assert_int_eq(exporter_set_option(s, "export-gzip", NULL, &e), 0); /* a flag */
	exporter_set_free(s);
}
END_TEST

START_TEST(bad_values_refused)
{
	static const struct xs_opt bad[] = {
		{"export-file", ""},
		{"export-max-size", "lots"},
		{"export-max-size", "0"},
		{"export-keep", "0"},
		{"export-keep", "1001"},
		{"export-keep", "x"},
		{"export-file-buffer", "0"},
		{"export-file-buffer", "2G"},
		{"export-syslog", "http://127.0.0.1:514"},
		{"export-syslog", "udp://127.0.0.1"},
		{"export-syslog", "udp://127.0.0.1:514/x"},
		{"export-syslog", "127.0.0.1:514"},
		{"export-syslog-format", "xml"},
		{"export-syslog-buffer", "100"},
		{"export-syslog-hostname", ""},
		{"export-ipfix", "127.0.0.1"},
		{"export-ipfix", "127.0.0.1:0"},
		{"export-ipfix-domain", "4294967296"},
		{"export-ipfix-domain", "-1"},
		{"export-ipfix-template-refresh", "soon"},
		{"export-ipfix-template-refresh", "0s"},
		{"export-allow", ""},
		{"export-fields", ""},
		{NULL, NULL},
	};
	struct exporter_set *s = exporter_set_new();
	const struct xs_opt *o;
	char want[256];

	for (o = bad; o->name; o++) {
		struct errmsg e = {""};

		ck_assert_msg(exporter_set_option(s, o->name, o->arg, &e) == -EINVAL, "--%s '%s'",
			      o->name, o->arg);
		snprintf(want, sizeof(want), "invalid --%s '%s': ", o->name, o->arg);
		ck_assert_msg(!strncmp(e.text, want, strlen(want)) && strlen(e.text) > strlen(want),
			      "--%s '%s': %s", o->name, o->arg, e.text);
	}
	ck_assert_int_eq(exporter_set_option(s, "export-keep", "0", NULL), -EINVAL);
	/* A refused value sets nothing: no exporter is enabled. */
	{
		struct exporter_env env = {.node_name = NODE};
		struct errmsg e = {""};

		ck_assert_int_eq(exporter_set_open(s, &env, &e), 0);
		ck_assert_uint_eq(exporter_set_count(s), 0);
	}
	exporter_set_free(s);
}
END_TEST

START_TEST(open_errors_name_the_option_or_exporter)
{
	static const struct {
		const char *name, *arg, *prefix, *has;
	} cases[] = {
		{"export-allow", "to_port=99999", "--export-allow: ", "99999"},
		{"export-allow", "nope=1", "--export-allow: ", "nope"},
		{"export-deny", "to_port=x", "--export-deny: ", "'x'"},
		{"export-deny", "not_to_port=443", "--export-deny: ", "not_to_port"},
		{"export-fields", "time,bogus", "--export-fields: ", "'bogus'"},
		{"export-syslog", "udp://localhost:514", "syslog exporter: ", "'localhost'"},
		{"export-ipfix", "localhost:4739", "ipfix exporter: ", "localhost"},
	};
	char p[256];
	size_t i;

	in_dir(p, sizeof(p), "never.json");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct errmsg e;
		int r = XS_OPEN_FAILS(&e, {"export-file", p}, {cases[i].name, cases[i].arg});

		ck_assert_msg(r == -EINVAL || r == -ENOENT, "%s: %d", cases[i].arg, r);
		ck_assert_msg(!strncmp(e.text, cases[i].prefix, strlen(cases[i].prefix)) &&
				      strstr(e.text, cases[i].has),
			      "--%s '%s': %s", cases[i].name, cases[i].arg, e.text);
		/* Filters and mask are compiled first; a failing exporter closes those open. */
		if (cases[i].prefix[0] == '-')
			ck_assert_msg(!exists(p), "%s created", p);
		unlink(p);
	}
	/* A CA bundle that cannot be read: named, after the exporter. */
	{
		struct errmsg e;

		ck_assert_int_lt(XS_OPEN_FAILS(&e, {"export-syslog", "tls://127.0.0.1:6514"},
					       {"export-syslog-ca", "/nonexistent/ca.pem"}),
				 0);
		ck_assert_msg(!strncmp(e.text, "syslog exporter: ", 17) &&
				      strstr(e.text, "/nonexistent/ca.pem"),
			      "%s", e.text);
	}
}
END_TEST

START_TEST(allow_and_deny_together)
{
	struct exporter_stats st;
	struct exporter_set *s;
	uint64_t ids[32];
	char p[256];
	char *t;
	int i, n;

	/* Port 443, but not UDP. */
	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "ad.json")},
		    {"export-allow", "to_port=443"}, {"export-deny", "protocol=udp"});
	for (i = 1; i <= 30; i++) {
		struct flow f = make_flow((uint64_t)i, i % 3 ? 80 : 443);

		if (i % 2)
			f.proto = IPPROTO_UDP;
		xs_take(s, &f);
	}
	exporter_set_flush(s, false);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.written, 5);
	ck_assert_uint_eq(st.filtered, 25);
	exporter_set_free(s);
	t = slurp(p);
	n = check_lines(t, ids, 32);
	ck_assert_int_eq(n, 5);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], (uint64_t)(i + 1) * 6);
	free(t);

	/* Deny alone: everything else passes; several keys of one filter must all match. */
	s = XS_OPEN({"export-file", p}, {"export-deny", "to_port=80&protocol=udp"});
	for (i = 31; i <= 34; i++) {
		struct flow f = make_flow((uint64_t)i, i <= 32 ? 80 : 443);

		if (i % 2)
			f.proto = IPPROTO_UDP;
		xs_take(s, &f); /* 31: udp/80 denied, 32: tcp/80, 33: udp/443, 34: tcp/443 */
	}
	exporter_set_flush(s, false);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.written, 3);
	ck_assert_uint_eq(st.filtered, 1);
	exporter_set_free(s);
	t = slurp(p);
	n = check_lines(t, ids, 32);
	ck_assert_int_eq(n, 8);
	ck_assert_uint_eq(ids[5], 32);
	ck_assert_uint_eq(ids[6], 33);
	ck_assert_uint_eq(ids[7], 34);
	free(t);
}
END_TEST

/* IPFIX takes END events only: the others are neither counted nor filtered for it, while the
 * file exporter of the same set takes and filters them all. */
START_TEST(events_an_exporter_does_not_take)
{
	static const struct {
		uint8_t event;
		uint16_t dport;
	} evs[] = {
		{FLOW_EVENT_START, 443}, {FLOW_EVENT_UPDATE, 80}, {FLOW_EVENT_TCP_FLAGS, 80},
		{FLOW_EVENT_DROP, 443},	 {FLOW_EVENT_DNS, 80},	  {FLOW_EVENT_END, 443},
		{FLOW_EVENT_END, 80},	 {FLOW_EVENT_END, 443},	  {FLOW_EVENT_UNKNOWN, 443},
	};
	struct exporter_stats st;
	struct exporter_set *s;
	char p[256], col[32], m[2048];
	uint16_t sports[8], port;
	uint32_t seq;
	size_t i, len;
	int fd = udp_peer(&port);

	snprintf(col, sizeof(col), "127.0.0.1:%u", port);
	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "ev.json")}, {"export-ipfix", col},
		    {"export-allow", "to_port=443"});
	ck_assert_uint_eq(exporter_set_count(s), 2);
	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		struct flow f = make_flow(i + 1, evs[i].dport);

		f.event = evs[i].event;
		f.ended = f.event == FLOW_EVENT_END;
		xs_take(s, &f);
	}
	exporter_set_flush(s, false);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.written, 2);
	ck_assert_uint_eq(st.filtered, 1);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(xs_extra(&st, "records"), 4); /* both directions have packets */
	ck_assert_uint_eq(xs_extra(&st, "messages"), 1);
	xs_stats(s, "file", &st);
	ck_assert_uint_eq(st.written, 5);
	ck_assert_uint_eq(st.filtered, 4);
	len = udp_recv(fd, m, sizeof(m));
	ck_assert_uint_eq(ipfix_v4_records(m, len, sports, &seq), 4);
	ck_assert_uint_eq(seq, 0);
	ck_assert_uint_eq(sports[0], 40006); /* flow 6, initiator -> responder */
	ck_assert_uint_eq(sports[1], 443);   /* and back */
	ck_assert_uint_eq(sports[2], 40008);
	ck_assert_uint_eq(sports[3], 443);
	udp_none(fd);
	exporter_set_free(s);
	udp_none(fd);
	close(fd);
}
END_TEST

/* --export-fields shapes the JSON of every exporter that sends JSON: the file's lines and the
 * syslog messages carry the same masked line. */
START_TEST(field_mask_applies_to_every_json_exporter)
{
	struct exporter_set *s;
	struct flow f = make_flow(9, 443);
	struct keys top, fk;
	struct buf want = BUF_INIT;
	char p[256], url[64], d[4096];
	const char *msg;
	uint16_t port;
	int fd = udp_peer(&port);
	char *line;

	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "m.json")}, {"export-syslog", url},
		    {"export-syslog-hostname", "h1"}, {"export-fields", "time,IP"});
	xs_take(s, &f);
	exporter_set_free(s);
	line = slurp(p);
	ck_assert_int_eq(check_lines(line, NULL, 0), 1);
	json_keys(line, &top, &fk);
	ck_assert_str_eq(top.list, "flow,node_name,time,");
	ck_assert_str_eq(fk.list, "time,IP,");

	udp_recv(fd, d, sizeof(d));
	msg = syslog_payload(d);
	json_keys(msg, &top, &fk);
	ck_assert_str_eq(top.list, "flow,node_name,time,");
	ck_assert_str_eq(fk.list, "time,IP,");
	syslog_expect(&want, &f, "h1", line, strlen(line) - 1);
	ck_assert_str_eq(d, want.data); /* the file's line, whole */
	udp_none(fd);
	free(line);
	buf_free(&want);

	/* CEF is built from the flow, not the JSON: the mask does not touch it. */
	s = XS_OPEN({"export-syslog", url}, {"export-syslog-format", "cef"},
		    {"export-fields", "time"});
	xs_take(s, &f);
	exporter_set_free(s);
	udp_recv(fd, d, sizeof(d));
	msg = syslog_payload(d);
	ck_assert_msg(!strncmp(msg, "CEF:0|Flowscope|flowd|", 22), "%s", msg);
	ck_assert_ptr_nonnull(strstr(msg, "src=10.0.0.1 dst=10.0.0.2 spt=40009 dpt=443"));
	close(fd);
}
END_TEST

static const char *const extra_names[3][2] = {
	{"rotations", "bytes"}, {"reconnects", "connect_failures"}, {"records", "messages"}};

/* Every open exporter, in registry order whatever the order of the options, with the same
 * counters. */
START_TEST(stats_in_registry_order)
{
	const char *const names[] = {"file", "syslog", "ipfix"};
	struct exporter_stats st;
	struct exporter_set *s;
	char p[256], url[64], col[32];
	uint16_t sport, iport;
	int sfd = udp_peer(&sport), ifd = udp_peer(&iport);
	size_t i;
	int id;

	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", sport);
	snprintf(col, sizeof(col), "127.0.0.1:%u", iport);
	s = XS_OPEN({"export-ipfix", col}, {"export-syslog", url},
		    {"export-file", in_dir(p, sizeof(p), "s.json")},
		    {"export-allow", "to_port=443"});
	ck_assert_uint_eq(exporter_set_count(s), 3);
	for (id = 1; id <= 5; id++) {
		struct flow f = make_flow((uint64_t)id, id == 3 ? 80 : 443);

		f.event = FLOW_EVENT_END;
		xs_take(s, &f);
	}
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(exporter_set_stats(s, i, &st), names[i]);
		ck_assert_uint_eq(st.written, 0); /* buffered or queued */
		ck_assert_uint_gt(st.queued, 0);
		ck_assert_uint_eq(st.filtered, 1);
	}
	exporter_set_flush(s, false);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(exporter_set_stats(s, i, &st), names[i]);
		ck_assert_uint_eq(st.written, 4);
		ck_assert_uint_eq(st.filtered, 1);
		ck_assert_uint_eq(st.dropped, 0);
		ck_assert_uint_eq(st.errors, 0);
		ck_assert_uint_eq(st.queued, 0);
		ck_assert_uint_eq(st.n_extra, 2);
		ck_assert_str_eq(st.extra[0].name, extra_names[i][0]);
		ck_assert_str_eq(st.extra[1].name, extra_names[i][1]);
	}
	exporter_set_stats(s, 0, &st);
	ck_assert_uint_eq(st.extra[1].value, (uint64_t)file_size(p)); /* bytes */
	exporter_set_stats(s, 1, &st);
	ck_assert_uint_eq(st.extra[0].value, 0); /* no reconnects, no failures over UDP */
	ck_assert_uint_eq(st.extra[1].value, 0);
	exporter_set_stats(s, 2, &st);
	ck_assert_uint_eq(st.extra[0].value, 8); /* records: 2 per flow */
	ck_assert_uint_eq(st.extra[1].value, 1);
	exporter_set_free(s);
	close(sfd);
	close(ifd);
}
END_TEST

/* What an exporter holds is delivered by a flush, and by freeing the set without one. */
START_TEST(flush_and_free_deliver)
{
	struct exporter_set *s;
	char p[256], url[64], col[32], d[4096];
	uint16_t sport, iport, sports[8];
	int sfd = udp_peer(&sport), ifd = udp_peer(&iport);
	uint32_t seq;
	size_t len;
	int id;

	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", sport);
	snprintf(col, sizeof(col), "127.0.0.1:%u", iport);
	s = XS_OPEN({"export-file", in_dir(p, sizeof(p), "d.json")}, {"export-syslog", url},
		    {"export-ipfix", col});
	for (id = 1; id <= 3; id++) {
		struct flow f = make_flow((uint64_t)id, 443);

		f.event = FLOW_EVENT_END;
		xs_take(s, &f);
	}
	/* Nothing delivered before a flush. */
	ck_assert_int_eq(file_size(p), 0);
	udp_none(sfd);
	udp_none(ifd);
	exporter_set_flush(s, true);
	{
		char *t = slurp(p);

		ck_assert_int_eq(check_lines(t, NULL, 0), 3);
		free(t);
	}
	for (id = 1; id <= 3; id++) {
		udp_recv(sfd, d, sizeof(d));
		ck_assert_ptr_nonnull(strstr(d, "\"flow_id\":\""));
	}
	len = udp_recv(ifd, d, sizeof(d));
	ck_assert_uint_eq(ipfix_v4_records(d, len, sports, &seq), 6);
	ck_assert_uint_eq(seq, 0);
	exporter_set_flush(s, false); /* nothing left: nothing sent */
	udp_none(sfd);
	udp_none(ifd);

	for (id = 4; id <= 5; id++) {
		struct flow f = make_flow((uint64_t)id, 443);

		f.event = FLOW_EVENT_END;
		xs_take(s, &f);
	}
	exporter_set_free(s);
	{
		uint64_t ids[8];
		char *t = slurp(p);

		ck_assert_int_eq(check_lines(t, ids, 8), 5);
		ck_assert_uint_eq(ids[4], 5);
		free(t);
	}
	for (id = 4; id <= 5; id++) {
		char want[32];

		udp_recv(sfd, d, sizeof(d));
		snprintf(want, sizeof(want), "\"flow_id\":\"%d\"", id);
		ck_assert_msg(strstr(d, want) != NULL, "%s", d);
	}
	udp_none(sfd);
	len = udp_recv(ifd, d, sizeof(d));
	/* The templates are not due again yet: a data set only. */
	ck_assert_uint_eq(get16(d + 2), len);
	ck_assert_uint_eq(get32(d + 8), 6); /* records sent before */
	ck_assert_uint_eq(get16(d + IPFIX_HDR), 256);
	ck_assert_uint_eq(len, IPFIX_HDR + 4 + 4 * IPFIX_REC_V4);
	udp_none(ifd);
	close(sfd);
	close(ifd);
}
END_TEST

START_TEST(empty_set)
{
	struct exporter_set *s = XS_OPEN({"export-allow", "to_port=443"});
	struct flow f = make_flow(1, 443);
	struct errmsg e = {""};

	ck_assert_uint_eq(exporter_set_count(s), 0);
	ck_assert_int_eq(exporter_set_take(s, &f), 0);
	exporter_set_flush(s, true);
	ck_assert_int_eq(exporter_set_reload(s, &e), 0);
	exporter_set_free(s);
	exporter_set_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exporter");
	TCase *t = tcase_create("exporter");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, registry_lists_file_syslog_ipfix_clickhouse);
	tcase_add_test(t, unknown_option_refused);
	tcase_add_test(t, bad_values_refused);
	tcase_add_test(t, open_errors_name_the_option_or_exporter);
	tcase_add_test(t, allow_and_deny_together);
	tcase_add_test(t, events_an_exporter_does_not_take);
	tcase_add_test(t, field_mask_applies_to_every_json_exporter);
	tcase_add_test(t, stats_in_registry_order);
	tcase_add_test(t, flush_and_free_deliver);
	tcase_add_test(t, empty_set);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
