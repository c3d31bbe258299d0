/* Unit tests of the IPFIX (RFC 7011) message builder (ipfix_msg.c), read back with a small
 * decoder that checks the message's structure as a collector would. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "ipfix_decode.h"

/* 192.0.2.1:40000 -> 198.51.100.7:443 over TCP, ended. */
static struct flow v4_tcp(void)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "192.0.2.1", f.src.addr);
	inet_pton(AF_INET, "198.51.100.7", f.dst.addr);
	f.src.port = 40000;
	f.dst.port = 443;
	f.packets[0] = 12;
	f.packets[1] = 9;
	f.bytes[0] = 1500;
	f.bytes[1] = 70000;
	f.tcp_flags_seen[0] = FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN | FLOW_TCP_PSH;
	f.tcp_flags_seen[1] = FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_RST | FLOW_TCP_NS;
	f.first_seen_ns = 1704164640123999999ULL; /* ms are truncated, not rounded */
	f.last_seen_ns = 1704164645000000000ULL;
	f.end_ns = 1704164646789000001ULL;
	f.ended = true;
	f.event = FLOW_EVENT_END;
	return f;
}

/* [2001:db8::1]:5353 -> [2001:db8::53]:53 over UDP, ended without an end time. */
static struct flow v6_udp(void)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = 6;
	f.proto = IPPROTO_UDP;
	inet_pton(AF_INET6, "2001:db8::1", f.src.addr);
	inet_pton(AF_INET6, "2001:db8::53", f.dst.addr);
	f.src.port = 5353;
	f.dst.port = 53;
	f.packets[0] = 1;
	f.packets[1] = 1;
	f.bytes[0] = 80;
	f.bytes[1] = 200;
	f.tcp_flags_seen[0] = FLOW_TCP_SYN; /* not TCP: must not be exported */
	f.first_seen_ns = 2000000000ULL;
	f.last_seen_ns = 3500000000ULL;
	f.ended = true;
	return f;
}

START_TEST(test_header_fields)
{
	struct ipfix_msg m;
	struct flow f = v4_tcp();
	struct dec_msg d;
	size_t len;

	ipfix_msg_begin(&m, false);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), 0);
	len = ipfix_msg_finish(&m, 1704164700u, 0xdeadbeefu, 0x01020304u);
	ck_assert_uint_eq(len, 16 + 4 + REC_V4_LEN);
	ck_assert_uint_eq(len, m.len);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(d.version, 10);
	ck_assert_uint_eq(d.length, len);
	ck_assert_uint_eq(d.export_time, 1704164700u);
	ck_assert_uint_eq(d.seq, 0xdeadbeefu);
	ck_assert_uint_eq(d.domain, 0x01020304u);
	ck_assert_uint_eq(d.n_sets, 1);
	ck_assert_uint_eq(d.n_templates, 0);
	ck_assert(!m.has_templates);
	ck_assert_uint_eq(m.n_records, 1);
}
END_TEST

START_TEST(test_template_set)
{
	struct ipfix_msg m;
	struct dec_msg d;
	size_t len;

	ipfix_msg_begin(&m, true);
	ck_assert(m.has_templates);
	ck_assert_uint_eq(m.n_records, 0);
	len = ipfix_msg_finish(&m, 1, 2, 3);
	ck_assert_uint_eq(len, 16 + TMPL_SET_LEN);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(d.n_sets, 1);
	ck_assert_uint_eq(d.set_ids[0], 2);
	ck_assert_uint_eq(d.set_lens[0], TMPL_SET_LEN);
	ck_assert_uint_eq(d.n_templates, 2);
	assert_ipfix_template(&d.tmpl[0], 256, false);
	assert_ipfix_template(&d.tmpl[1], 257, true);
	ck_assert_uint_eq(d.n_records, 0);
}
END_TEST

START_TEST(test_v4_tcp_both_directions)
{
	struct ipfix_msg m;
	struct flow f = v4_tcp();
	struct dec_msg d;
	const struct dec_record *r;
	uint8_t a[4], b[4];
	size_t len;

	inet_pton(AF_INET, "192.0.2.1", a);
	inet_pton(AF_INET, "198.51.100.7", b);
	ipfix_msg_begin(&m, true);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 1), 0);
	ck_assert_uint_eq(m.n_records, 2);
	len = ipfix_msg_finish(&m, 100, 7, 1);
	ck_assert_uint_eq(len, 16 + TMPL_SET_LEN + 4 + 2 * REC_V4_LEN);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(d.n_sets, 2);
	ck_assert_uint_eq(d.set_ids[1], 256);
	ck_assert_uint_eq(d.set_lens[1], 4 + 2 * REC_V4_LEN);
	ck_assert_uint_eq(d.n_records, 2);

	r = &d.rec[0];
	ck_assert_int_eq(memcmp(r->src, a, 4), 0);
	ck_assert_int_eq(memcmp(r->dst, b, 4), 0);
	ck_assert_uint_eq(r->sport, 40000);
	ck_assert_uint_eq(r->dport, 443);
	ck_assert_uint_eq(r->proto, 6);
	ck_assert_uint_eq(r->octets, 1500);
	ck_assert_uint_eq(r->packets, 12);
	ck_assert_uint_eq(r->start_ms, 1704164640123ULL);
	ck_assert_uint_eq(r->end_ms, 1704164646789ULL);
	ck_assert_uint_eq(r->flags, FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN | FLOW_TCP_PSH);

	r = &d.rec[1];
	ck_assert_int_eq(memcmp(r->src, b, 4), 0);
	ck_assert_int_eq(memcmp(r->dst, a, 4), 0);
	ck_assert_uint_eq(r->sport, 443);
	ck_assert_uint_eq(r->dport, 40000);
	ck_assert_uint_eq(r->proto, 6);
	ck_assert_uint_eq(r->octets, 70000);
	ck_assert_uint_eq(r->packets, 9);
	ck_assert_uint_eq(r->start_ms, 1704164640123ULL);
	ck_assert_uint_eq(r->end_ms, 1704164646789ULL);
	ck_assert_uint_eq(r->flags, FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_RST | FLOW_TCP_NS);
}
END_TEST

START_TEST(test_v6_after_v4_opens_a_new_set)
{
	struct ipfix_msg m;
	struct flow f4 = v4_tcp(), f6 = v6_udp();
	struct dec_msg d;
	const struct dec_record *r;
	uint8_t a[16], b[16];
	size_t len;

	inet_pton(AF_INET6, "2001:db8::1", a);
	inet_pton(AF_INET6, "2001:db8::53", b);
	ipfix_msg_begin(&m, false);
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f6, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f6, 1), 0);
	len = ipfix_msg_finish(&m, 100, 0, 1);
	ck_assert_uint_eq(len, 16 + 4 + REC_V4_LEN + 4 + 2 * REC_V6_LEN);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(d.n_sets, 2);
	ck_assert_uint_eq(d.set_ids[0], 256);
	ck_assert_uint_eq(d.set_lens[0], 4 + REC_V4_LEN);
	ck_assert_uint_eq(d.set_ids[1], 257);
	ck_assert_uint_eq(d.set_lens[1], 4 + 2 * REC_V6_LEN);
	ck_assert_uint_eq(d.n_records, 3);

	r = &d.rec[1];
	ck_assert_uint_eq(r->tmpl, 257);
	ck_assert_int_eq(memcmp(r->src, a, 16), 0);
	ck_assert_int_eq(memcmp(r->dst, b, 16), 0);
	ck_assert_uint_eq(r->sport, 5353);
	ck_assert_uint_eq(r->dport, 53);
	ck_assert_uint_eq(r->proto, 17);
	ck_assert_uint_eq(r->octets, 80);
	ck_assert_uint_eq(r->packets, 1);
	ck_assert_uint_eq(r->start_ms, 2000);
	ck_assert_uint_eq(r->end_ms, 3500); /* end_ns 0: the last packet */
	ck_assert_uint_eq(r->flags, 0);	    /* tcpControlBits only for TCP */

	r = &d.rec[2];
	ck_assert_int_eq(memcmp(r->src, b, 16), 0);
	ck_assert_int_eq(memcmp(r->dst, a, 16), 0);
	ck_assert_uint_eq(r->sport, 53);
	ck_assert_uint_eq(r->dport, 5353);
	ck_assert_uint_eq(r->octets, 200);
}
END_TEST

START_TEST(test_back_to_v4_opens_a_third_set)
{
	struct ipfix_msg m;
	struct flow f4 = v4_tcp(), f6 = v6_udp();
	struct dec_msg d;
	size_t len;

	ipfix_msg_begin(&m, true);
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f6, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 1), 0);
	len = ipfix_msg_finish(&m, 100, 0, 1);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(d.n_sets, 4);
	ck_assert_uint_eq(d.set_ids[0], 2);
	ck_assert_uint_eq(d.set_ids[1], 256);
	ck_assert_uint_eq(d.set_ids[2], 257);
	ck_assert_uint_eq(d.set_ids[3], 256);
	ck_assert_uint_eq(d.set_lens[3], 4 + REC_V4_LEN);
	ck_assert_uint_eq(d.n_records, 3);
	ck_assert_uint_eq(d.rec[2].sport, 443);
}
END_TEST

START_TEST(test_icmp_has_no_ports_or_flags)
{
	struct ipfix_msg m;
	struct flow f = v4_tcp();
	struct dec_msg d;

	f.proto = IPPROTO_ICMP;
	f.src.port = 0x0800; /* echo request: type 8 code 0 in the key's ports */
	f.dst.port = 0x1234;
	ipfix_msg_begin(&m, false);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 1), 0);
	ipfix_decode(&d, m.buf, ipfix_msg_finish(&m, 100, 0, 1));
	ck_assert_uint_eq(d.n_records, 2);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(d.rec[i].sport, 0);
		ck_assert_uint_eq(d.rec[i].dport, 0);
		ck_assert_uint_eq(d.rec[i].proto, 1);
		ck_assert_uint_eq(d.rec[i].flags, 0);
	}
}
END_TEST

START_TEST(test_sctp_keeps_ports)
{
	struct ipfix_msg m;
	struct flow f = v4_tcp();
	struct dec_msg d;

	f.proto = IPPROTO_SCTP;
	ipfix_msg_begin(&m, false);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), 0);
	ipfix_decode(&d, m.buf, ipfix_msg_finish(&m, 100, 0, 1));
	ck_assert_uint_eq(d.rec[0].sport, 40000);
	ck_assert_uint_eq(d.rec[0].dport, 443);
	ck_assert_uint_eq(d.rec[0].flags, 0);
}
END_TEST

START_TEST(test_fill_until_no_space)
{
	struct ipfix_msg m, before;
	struct flow f4 = v4_tcp(), f6 = v6_udp();
	struct dec_msg d;
	unsigned int added = 0;
	size_t len;
	int rc;

	memset(&m, 0, sizeof(m));
	ipfix_msg_begin(&m, true);
	for (;;) {
		bool v6 = added % 3 == 2; /* mixed, so sets open and close */

		rc = ipfix_msg_add(&m, v6 ? &f6 : &f4, (int)(added & 1));
		if (rc == -ENOSPC) /* the other family may still fit */
			rc = ipfix_msg_add(&m, v6 ? &f4 : &f6, (int)(added & 1));
		if (rc)
			break;
		added++;
		ck_assert_uint_le(m.len, IPFIX_MSG_MAX);
	}
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_uint_gt(added, 10);
	ck_assert_uint_eq(m.n_records, added);
	memcpy(&before, &m, sizeof(m));
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), -ENOSPC);
	ck_assert_int_eq(ipfix_msg_add(&m, &f6, 0), -ENOSPC);
	ck_assert_int_eq(memcmp(&before, &m, sizeof(m)), 0); /* unchanged by the refusals */
	len = ipfix_msg_finish(&m, 100, 0, 1);
	ck_assert_uint_le(len, IPFIX_MSG_MAX);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(d.n_records, added);
	ck_assert_uint_eq(d.n_templates, 2);
}
END_TEST

START_TEST(test_record_that_fits_exactly_is_taken)
{
	struct ipfix_msg m;
	struct flow f4 = v4_tcp(), f6 = v6_udp();
	struct dec_msg d;

	/* 16 + (4 + 47) + (4 + 18 * 71) + (4 + 47) = 1400 */
	ipfix_msg_begin(&m, false);
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), 0);
	for (int i = 0; i < 18; i++)
		ck_assert_int_eq(ipfix_msg_add(&m, &f6, 0), 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), 0);
	ck_assert_uint_eq(m.len, IPFIX_MSG_MAX);
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), -ENOSPC);
	ipfix_decode(&d, m.buf, ipfix_msg_finish(&m, 100, 0, 1));
	ck_assert_uint_eq(d.n_records, 20);
	ck_assert_uint_eq(d.n_sets, 3);
}
END_TEST

START_TEST(test_new_set_header_counts_toward_the_limit)
{
	struct ipfix_msg m, before;
	struct flow f4 = v4_tcp(), f6 = v6_udp();
	struct dec_msg d;

	/* 16 + (4 + 6 * 71) + (4 + 10 * 47) + (4 + 6 * 71) = 1350: a v4 record (47) would fit in
	 * an open v4 set, but it needs a new set header (4) and 1350 + 51 > 1400. */
	memset(&m, 0, sizeof(m));
	ipfix_msg_begin(&m, false);
	for (int i = 0; i < 22; i++)
		ck_assert_int_eq(ipfix_msg_add(&m, i >= 6 && i < 16 ? &f4 : &f6, 0), 0);
	ck_assert_uint_eq(m.len, 1350);
	memcpy(&before, &m, sizeof(m));
	ck_assert_int_eq(ipfix_msg_add(&m, &f4, 0), -ENOSPC);
	ck_assert_int_eq(memcmp(&before, &m, sizeof(m)), 0);
	ipfix_decode(&d, m.buf, ipfix_msg_finish(&m, 100, 0, 1));
	ck_assert_uint_eq(d.n_records, 22);
	ck_assert_uint_eq(d.n_sets, 3);
}
END_TEST

START_TEST(test_invalid_input)
{
	struct ipfix_msg m, before;
	struct flow f = v4_tcp();

	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), -EINVAL); /* not begun */
	ck_assert_uint_eq(ipfix_msg_finish(&m, 1, 2, 3), 0);
	ipfix_msg_begin(&m, true);
	memcpy(&before, &m, sizeof(m));
	f.family = 5;
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), -EINVAL);
	f.family = 0;
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), -EINVAL);
	f.family = 4;
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 2), -EINVAL);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, -1), -EINVAL);
	ck_assert_int_eq(memcmp(&before, &m, sizeof(m)), 0);
}
END_TEST

START_TEST(test_begin_resets_for_the_next_message)
{
	struct ipfix_msg m;
	struct flow f = v4_tcp();
	struct dec_msg d;
	size_t len;

	ipfix_msg_begin(&m, true);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 0), 0);
	ipfix_msg_finish(&m, 100, 0, 1);
	ipfix_msg_begin(&m, false);
	ck_assert(!m.has_templates);
	ck_assert_uint_eq(m.n_records, 0);
	ck_assert_int_eq(ipfix_msg_add(&m, &f, 1), 0);
	len = ipfix_msg_finish(&m, 101, 1, 1);
	ipfix_decode(&d, m.buf, len);
	ck_assert_uint_eq(len, 16 + 4 + REC_V4_LEN);
	ck_assert_uint_eq(d.n_sets, 1);
	ck_assert_uint_eq(d.set_ids[0], 256);
	ck_assert_uint_eq(d.seq, 1);
	ck_assert_uint_eq(d.rec[0].sport, 443);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ipfix_msg");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_header_fields);
	tcase_add_test(tc, test_template_set);
	tcase_add_test(tc, test_v4_tcp_both_directions);
	tcase_add_test(tc, test_v6_after_v4_opens_a_new_set);
	tcase_add_test(tc, test_back_to_v4_opens_a_third_set);
	tcase_add_test(tc, test_icmp_has_no_ports_or_flags);
	tcase_add_test(tc, test_sctp_keeps_ports);
	tcase_add_test(tc, test_fill_until_no_space);
	tcase_add_test(tc, test_record_that_fits_exactly_is_taken);
	tcase_add_test(tc, test_new_set_header_counts_toward_the_limit);
	tcase_add_test(tc, test_invalid_input);
	tcase_add_test(tc, test_begin_resets_for_the_next_message);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
