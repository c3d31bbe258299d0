/* Unit tests of the IPFIX exporter (export/exporters/ipfix_exporter.c) through the exporter
 * contract, with a UDP collector the tests bind on 127.0.0.1 and a small decoder that reads the
 * messages as a collector would: templates then data records, END events only, one record per
 * direction with packets, sequence numbers counting records, template refresh, and the
 * counters. */
#include <check.h>

#include "export_harness.h"
#include "ipfix_decode.h"

/* Receives the next message and decodes it (tests/ipfix_decode.h); templates, when there are,
 * come first and are ours. */
static void recv_msg(int fd, struct dec_msg *m)
{
	uint8_t d[2048];
	size_t len = udp_recv(fd, (char *)d, sizeof(d));
	unsigned int i;

	ck_assert_uint_le(len, IPFIX_MSG_MAX);
	ipfix_decode(m, d, len);
	ck_assert_uint_eq(m->version, 10);
	for (i = 0; i < m->n_sets; i++)
		ck_assert(m->set_ids[i] != 2 || i == 0);
	if (m->n_templates) {
		ck_assert_uint_eq(m->n_templates, 2);
		assert_ipfix_template(&m->tmpl[0], IPFIX_MSG_TMPL_V4, false);
		assert_ipfix_template(&m->tmpl[1], IPFIX_MSG_TMPL_V6, true);
	}
}

/* Data sets in a message. */
static unsigned int data_sets(const struct dec_msg *m)
{
	return m->n_sets - (m->n_templates ? 1 : 0);
}

static struct exporter_set *open_ipfix(uint16_t port, const char *domain, const char *refresh)
{
	char col[32];

	snprintf(col, sizeof(col), "127.0.0.1:%u", port);
	if (refresh)
		return XS_OPEN({"export-ipfix", col}, {"export-ipfix-template-refresh", refresh});
	if (domain)
		return XS_OPEN({"export-ipfix", col}, {"export-ipfix-domain", domain});
	return XS_OPEN({"export-ipfix", col});
}

/* An ended flow of make_flow() (10.0.0.1:40000+id -> 10.0.0.2:443, TCP). */
static struct flow end_flow(uint64_t id)
{
	struct flow f = make_flow(id, 443);

	f.event = FLOW_EVENT_END;
	f.ended = true;
	f.end_ns = 1700000002500000000ULL + id * 1000000ULL;
	f.tcp_flags_seen[0] = FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN;
	f.tcp_flags_seen[1] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	return f;
}

/* r is f's record for direction dir: 0 as the flow goes, 1 the reverse, swapped. */
static void check_rec(const struct dec_record *r, const struct flow *f, int dir)
{
	size_t alen = f->family == 6 ? 16 : 4;
	const struct flow_endpoint *s = dir ? &f->dst : &f->src, *d = dir ? &f->src : &f->dst;

	ck_assert_uint_eq(r->tmpl, f->family == 6 ? IPFIX_MSG_TMPL_V6 : IPFIX_MSG_TMPL_V4);
	ck_assert_int_eq(memcmp(r->src, s->addr, alen), 0);
	ck_assert_int_eq(memcmp(r->dst, d->addr, alen), 0);
	ck_assert_uint_eq(r->sport, s->port);
	ck_assert_uint_eq(r->dport, d->port);
	ck_assert_uint_eq(r->proto, f->proto);
	ck_assert_uint_eq(r->packets, f->packets[dir]);
	ck_assert_uint_eq(r->octets, f->bytes[dir]);
	ck_assert_uint_eq(r->start_ms, f->first_seen_ns / 1000000ULL);
	ck_assert_uint_eq(r->end_ms, (f->end_ns ? f->end_ns : f->last_seen_ns) / 1000000ULL);
	ck_assert_uint_eq(r->flags, f->proto == IPPROTO_TCP ? f->tcp_flags_seen[dir] : 0);
}

START_TEST(templates_then_data_records)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct flow f[4];
	struct dec_msg m;
	uint16_t port;
	int fd = udp_peer(&port), i;
	uint32_t now = (uint32_t)time(NULL);

	f[0] = end_flow(1); /* both directions */
	f[1] = end_flow(2); /* initiator only */
	f[1].proto = IPPROTO_UDP;
	f[1].packets[1] = 0;
	f[1].bytes[1] = 0;
	f[2] = end_flow(3); /* IPv6, both directions */
	f[2].family = 6;
	inet_pton(AF_INET6, "fd00::1", f[2].src.addr);
	inet_pton(AF_INET6, "fd00::2", f[2].dst.addr);
	f[3] = end_flow(4); /* responder only, no end time */
	f[3].packets[0] = 0;
	f[3].bytes[0] = 0;
	f[3].end_ns = 0;
	s = open_ipfix(port, "42", NULL);
	for (i = 0; i < 4; i++)
		xs_take(s, &f[i]);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.written, 0); /* gathered into a message */
	ck_assert_uint_gt(st.queued, 0);
	udp_none(fd);
	exporter_set_flush(s, false);
	recv_msg(fd, &m);
	udp_none(fd);
	ck_assert_uint_eq(m.domain, 42);
	ck_assert_uint_eq(m.seq, 0);
	ck_assert_uint_ge(m.export_time, now);
	ck_assert_uint_le(m.export_time, now + 5);
	ck_assert(m.n_templates);
	ck_assert_uint_eq(m.n_records, 6);
	ck_assert_uint_eq(data_sets(&m), 3); /* v4, v6, v4 again: a set per template change */
	check_rec(&m.rec[0], &f[0], 0);
	check_rec(&m.rec[1], &f[0], 1);
	check_rec(&m.rec[2], &f[1], 0);
	check_rec(&m.rec[3], &f[2], 0);
	check_rec(&m.rec[4], &f[2], 1);
	check_rec(&m.rec[5], &f[3], 1);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.written, 4);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.filtered, 0);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(xs_extra(&st, "records"), 6);
	ck_assert_uint_eq(xs_extra(&st, "messages"), 1);
	/* A flow without packets has no record. */
	{
		struct flow z = end_flow(5);

		z.packets[0] = z.packets[1] = 0;
		xs_take(s, &z);
		exporter_set_flush(s, false);
		udp_none(fd);
		xs_stats(s, "ipfix", &st);
		ck_assert_uint_eq(xs_extra(&st, "records"), 6);
		ck_assert_uint_eq(xs_extra(&st, "messages"), 1);
	}
	exporter_set_free(s);
	udp_none(fd);
	close(fd);
}
END_TEST

START_TEST(only_end_events)
{
	static const uint8_t others[] = {FLOW_EVENT_UNKNOWN, FLOW_EVENT_START, FLOW_EVENT_TCP_FLAGS,
					 FLOW_EVENT_UPDATE,  FLOW_EVENT_DROP,  FLOW_EVENT_DNS};
	struct exporter_stats st;
	struct exporter_set *s;
	struct flow end = end_flow(100);
	struct dec_msg m;
	uint16_t port;
	int fd = udp_peer(&port);
	size_t i;

	s = open_ipfix(port, NULL, NULL);
	for (i = 0; i < sizeof(others); i++) {
		struct flow f = end_flow(i + 1);

		f.event = others[i];
		f.ended = false;
		xs_take(s, &f);
	}
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.queued, 0); /* nothing taken */
	exporter_set_flush(s, false);
	udp_none(fd);
	xs_take(s, &end);
	exporter_set_flush(s, false);
	recv_msg(fd, &m);
	ck_assert_uint_eq(m.domain, 1); /* the default */
	ck_assert_uint_eq(m.n_records, 2);
	check_rec(&m.rec[0], &end, 0);
	check_rec(&m.rec[1], &end, 1);
	udp_none(fd);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.written, 1);
	ck_assert_uint_eq(st.filtered, 0);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(xs_extra(&st, "records"), 2);
	exporter_set_free(s);
	close(fd);
}
END_TEST

/* Many records: messages of at most IPFIX_MSG_MAX bytes, each one's sequence number the count
 * of data records sent before it; the templates only in the first (refresh 60 s). */
START_TEST(sequence_numbers_count_records)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct dec_msg m;
	uint16_t port;
	int fd = udp_peer(&port);
	uint32_t seq = 0, msgs = 0;
	uint64_t id, next = 1; /* records counted from 1 */

	s = open_ipfix(port, NULL, NULL);
	for (id = 1; id <= 100; id++) {
		struct flow f = end_flow(id);

		xs_take(s, &f); /* full messages go out as records come */
	}
	exporter_set_flush(s, false);
	while (seq < 200) {
		unsigned int i;

		recv_msg(fd, &m);
		ck_assert_uint_eq(m.seq, seq);
		ck_assert((m.n_templates > 0) == (msgs == 0));
		ck_assert_uint_gt(m.n_records, 0);
		/* Every record, in order: flow by flow, initiator first (a flow's two records may
		 * straddle two messages). */
		for (i = 0; i < m.n_records; i++, next++) {
			uint16_t p = (uint16_t)(40000 + (next + 1) / 2);

			ck_assert_uint_eq(next % 2 ? m.rec[i].sport : m.rec[i].dport, p);
		}
		seq += m.n_records;
		msgs++;
	}
	udp_none(fd);
	ck_assert_uint_eq(seq, 200);
	ck_assert_uint_gt(msgs, 1);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.written, 100);
	ck_assert_uint_eq(xs_extra(&st, "records"), 200);
	ck_assert_uint_eq(xs_extra(&st, "messages"), msgs);
	ck_assert_uint_eq(st.dropped, 0);
	ck_assert_uint_eq(st.errors, 0);
	exporter_set_free(s);
	close(fd);
}
END_TEST

START_TEST(templates_refreshed)
{
	struct exporter_set *s;
	struct flow f = end_flow(1);
	struct dec_msg m;
	uint16_t port;
	int fd = udp_peer(&port);

	s = open_ipfix(port, NULL, "200ms");
	xs_take(s, &f);
	exporter_set_flush(s, false);
	recv_msg(fd, &m);
	ck_assert(m.n_templates);
	xs_take(s, &f);
	exporter_set_flush(s, false);
	recv_msg(fd, &m);
	ck_assert(!m.n_templates);
	ck_assert_uint_eq(m.seq, 2);
	usleep(300000);
	xs_take(s, &f);
	exporter_set_flush(s, false);
	recv_msg(fd, &m);
	ck_assert(m.n_templates); /* due again */
	ck_assert_uint_eq(m.seq, 4);
	ck_assert_uint_eq(m.n_records, 2);
	exporter_set_free(s);
	close(fd);
}
END_TEST

START_TEST(unknown_family_dropped)
{
	struct exporter_stats st;
	struct exporter_set *s;
	struct flow f = end_flow(1), ok = end_flow(2);
	struct dec_msg m;
	uint16_t port;
	int fd = udp_peer(&port);

	f.family = 5;
	s = open_ipfix(port, NULL, NULL);
	ck_assert_int_eq(exporter_set_take(s, &f), -EINVAL);
	exporter_set_flush(s, false);
	udp_none(fd);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.dropped, 1);
	ck_assert_uint_eq(st.errors, 1);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_eq(xs_extra(&st, "records"), 0);
	ck_assert_uint_eq(xs_extra(&st, "messages"), 0);
	/* The next flow goes out as the first. */
	xs_take(s, &ok);
	exporter_set_flush(s, false);
	recv_msg(fd, &m);
	ck_assert(m.n_templates);
	ck_assert_uint_eq(m.seq, 0);
	ck_assert_uint_eq(m.n_records, 2);
	xs_stats(s, "ipfix", &st);
	ck_assert_uint_eq(st.written, 1);
	ck_assert_uint_eq(st.dropped, 1);
	exporter_set_free(s);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ipfix_exporter");
	TCase *t = tcase_create("ipfix_exporter");
	SRunner *r;
	int failed;

	tcase_set_timeout(t, 60);
	tcase_add_test(t, templates_then_data_records);
	tcase_add_test(t, only_end_events);
	tcase_add_test(t, sequence_numbers_count_records);
	tcase_add_test(t, templates_refreshed);
	tcase_add_test(t, unknown_family_dropped);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
