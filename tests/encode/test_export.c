/* Unit tests of what the exporters are built from: value parsing (parse.c), Hubble's
 * FlowFilter semantics (flow_filter.c), the Flow/GetFlowsResponse encoding (flow_pb.c) and
 * canonical protobuf JSON (pb_json.c). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/filter/flow_filter.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/base/parse.h"
#include "flowscope/encode/pb_json.h"
#include "observer.pb-c.h"

/* ---- parse.c -------------------------------------------------------------------------------- */

START_TEST(parse_numbers)
{
	uint64_t v;

	ck_assert_int_eq(parse_u64("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	ck_assert_int_eq(parse_u64("11", 10, &v), -ERANGE);
	ck_assert_int_eq(parse_u64("", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("-1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("+1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64(" 1", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("1x", 10, &v), -EINVAL);
	ck_assert_int_eq(parse_u64("0x10", 100, &v), -EINVAL);
}
END_TEST

START_TEST(parse_durations)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ns("30s", &v), 0);
	ck_assert_uint_eq(v, 30000000000ULL);
	ck_assert_int_eq(parse_duration_ns("5m", &v), 0);
	ck_assert_uint_eq(v, 300000000000ULL);
	ck_assert_int_eq(parse_duration_ns("2h", &v), 0);
	ck_assert_uint_eq(v, 7200000000000ULL);
	ck_assert_int_eq(parse_duration_ns("200ms", &v), 0);
	ck_assert_uint_eq(v, 200000000ULL);
	ck_assert_int_eq(parse_duration_ns("1.5s", &v), 0);
	ck_assert_uint_eq(v, 1500000000ULL);
	ck_assert_int_eq(parse_duration_ns("10us", &v), 0);
	ck_assert_uint_eq(v, 10000ULL);
	ck_assert_int_eq(parse_duration_ns("7ns", &v), 0);
	ck_assert_uint_eq(v, 7ULL);
	ck_assert_int_eq(parse_duration_ns("12", &v), 0); /* bare number: seconds */
	ck_assert_uint_eq(v, 12000000000ULL);
	ck_assert_int_eq(parse_duration_ns("", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("5x", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("-5s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("5 s", &v), -EINVAL);
	ck_assert_int_eq(parse_duration_ns("99999999999999999999h", &v), -EINVAL);
}
END_TEST

START_TEST(parse_hostports)
{
	char host[64];
	uint16_t port;

	ck_assert_int_eq(parse_hostport("127.0.0.1:4245", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 4245);
	ck_assert_int_eq(parse_hostport("[::1]:12000", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 12000);
	ck_assert_int_eq(parse_hostport("localhost:80", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(parse_hostport(":9", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "");
	ck_assert_uint_eq(port, 9);
	ck_assert_int_eq(parse_hostport("localhost", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:70000", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("h:", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("::1:80", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(parse_hostport("[::1:80", host, sizeof(host), &port), -EINVAL);
}
END_TEST

/* ---- flows used below ----------------------------------------------------------------------- */

static struct flow tcp_flow(void)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.id = 42;
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.0.0.1", f.src.addr);
	inet_pton(AF_INET, "10.0.0.2", f.dst.addr);
	f.src.port = 40000;
	f.dst.port = 443;
	f.traffic_dir = FLOW_TC_EGRESS;
	f.verdict = FLOW_VERDICT_FORWARDED;
	f.event = FLOW_EVENT_TCP_FLAGS;
	f.tcp_flags = FLOW_TCP_SYN;
	f.packets[0] = 3;
	f.bytes[0] = 180;
	f.packets[1] = 2;
	f.bytes[1] = 1500;
	f.time_ns = 1700000000123456789ULL;
	f.first_seen_ns = 1700000000000000000ULL;
	f.last_seen_ns = 1700000000123000000ULL;
	f.ifindex = 2;
	strcpy(f.ifname, "eth0");
	return f;
}

/* ---- flow_filter.c -------------------------------------------------------------------------- */

static bool pass(Flow__FlowFilter **allow, size_t na, Flow__FlowFilter **deny, size_t nd,
		 const struct flow *f)
{
	char err[256];
	struct flow_filter_set *fs = flow_filter_set_new(allow, na, deny, nd, err, sizeof(err));
	bool r;

	ck_assert_msg(fs != NULL, "filter rejected: %s", err);
	r = flow_filter_set_match(fs, f, "node1");
	flow_filter_set_free(fs);
	return r;
}

static bool allow1(Flow__FlowFilter *ff, const struct flow *f)
{
	return pass(&ff, 1, NULL, 0, f);
}

START_TEST(filter_ips_ports_protocols)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	char *ip1[] = {"10.0.0.1"}, *net[] = {"10.0.0.0/24"}, *other[] = {"10.9.0.0/16"};
	char *two[] = {"192.168.0.1", "10.0.0.2"}, *v6[] = {"fd00::/8"};
	char *p443[] = {"443"}, *prange[] = {"400-500"}, *p80[] = {"80"};
	char *tcp[] = {"TCP"}, *udp[] = {"udp"}, *icmp[] = {"icmp"};

	ck_assert(pass(NULL, 0, NULL, 0, &f)); /* no filters: everything */
	ff.n_source_ip = 1;
	ff.source_ip = ip1;
	ck_assert(allow1(&ff, &f));
	ff.source_ip = net;
	ck_assert(allow1(&ff, &f));
	ff.source_ip = other;
	ck_assert(!allow1(&ff, &f));
	ff.source_ip = v6;
	ck_assert(!allow1(&ff, &f)); /* an IPv6 prefix never matches IPv4 */
	ff.n_source_ip = 0;
	/* Several values in one field: any of them. */
	ff.n_destination_ip = 2;
	ff.destination_ip = two;
	ck_assert(allow1(&ff, &f));
	/* Fields of one filter: all of them. */
	ff.n_destination_port = 1;
	ff.destination_port = p443;
	ck_assert(allow1(&ff, &f));
	ff.destination_port = p80;
	ck_assert(!allow1(&ff, &f));
	ff.destination_port = prange;
	ck_assert(allow1(&ff, &f));
	ff.n_destination_ip = 0;
	ff.n_destination_port = 0;
	ff.n_protocol = 1;
	ff.protocol = tcp;
	ck_assert(allow1(&ff, &f));
	ff.protocol = udp;
	ck_assert(!allow1(&ff, &f));
	ff.protocol = icmp;
	f.proto = IPPROTO_ICMPV6;
	f.family = 6;
	ck_assert(allow1(&ff, &f));
}
END_TEST

START_TEST(filter_reply_sees_swapped_endpoints)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	char *p443[] = {"443"}, *server[] = {"10.0.0.2"};
	Flow__TCPFlags syn = FLOW__TCPFLAGS__INIT;
	Flow__TCPFlags *flags[] = {&syn};

	/* A reply (server -> client) event: the source is the server. */
	f.is_reply = true;
	ff.n_source_port = 1;
	ff.source_port = p443;
	ck_assert(allow1(&ff, &f));
	ff.n_source_port = 0;
	ff.n_destination_port = 1;
	ff.destination_port = p443;
	ck_assert(!allow1(&ff, &f));
	ff.n_destination_port = 0;
	ff.n_source_ip = 1;
	ff.source_ip = server;
	ck_assert(allow1(&ff, &f));
	ff.n_source_ip = 0;
	/* reply filter */
	{
		protobuf_c_boolean yes[] = {1}, no[] = {0};

		ff.n_reply = 1;
		ff.reply = yes;
		ck_assert(allow1(&ff, &f));
		ff.reply = no;
		ck_assert(!allow1(&ff, &f));
		ff.n_reply = 0;
	}
	/* TCP flags: all flags of one entry must be set. */
	syn.syn = 1;
	ff.n_tcp_flags = 1;
	ff.tcp_flags = flags;
	ck_assert(allow1(&ff, &f));
	syn.ack = 1;
	ck_assert(!allow1(&ff, &f));
	f.tcp_flags |= FLOW_TCP_ACK;
	ck_assert(allow1(&ff, &f));
}
END_TEST

START_TEST(filter_enums_node_and_lists)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter a = FLOW__FLOW_FILTER__INIT, b = FLOW__FLOW_FILTER__INIT;
	Flow__FlowFilter *list[] = {&a, &b};
	Flow__Verdict fwd[] = {FLOW__VERDICT__FORWARDED}, drop[] = {FLOW__VERDICT__DROPPED};
	Flow__TrafficDirection eg[] = {FLOW__TRAFFIC_DIRECTION__EGRESS},
			       in[] = {FLOW__TRAFFIC_DIRECTION__INGRESS};
	Flow__IPVersion v4[] = {FLOW__IPVERSION__IPv4}, v6[] = {FLOW__IPVERSION__IPv6};
	char *n1[] = {"node*"}, *n2[] = {"cluster/node1"}, *n3[] = {"other"};
	char *pod[] = {"default/web"}, *p443[] = {"443"}, *p80[] = {"80"};

	a.n_verdict = 1;
	a.verdict = fwd;
	ck_assert(allow1(&a, &f));
	a.verdict = drop;
	ck_assert(!allow1(&a, &f));
	a.n_verdict = 0;
	a.n_traffic_direction = 1;
	a.traffic_direction = eg;
	ck_assert(allow1(&a, &f));
	a.traffic_direction = in;
	ck_assert(!allow1(&a, &f));
	a.n_traffic_direction = 0;
	a.n_ip_version = 1;
	a.ip_version = v4;
	ck_assert(allow1(&a, &f));
	a.ip_version = v6;
	ck_assert(!allow1(&a, &f));
	a.n_ip_version = 0;
	a.n_node_name = 1;
	a.node_name = n1;
	ck_assert(allow1(&a, &f));
	a.node_name = n2;
	ck_assert(allow1(&a, &f));
	a.node_name = n3;
	ck_assert(!allow1(&a, &f));
	a.n_node_name = 0;
	/* Identity we don't know yet (pods): such a filter matches nothing. */
	a.n_source_pod = 1;
	a.source_pod = pod;
	ck_assert(!allow1(&a, &f));
	a.n_source_pod = 0;

	/* Allow list: any filter. Deny list: none may match. */
	a.n_destination_port = 1;
	a.destination_port = p80;
	b.n_destination_port = 1;
	b.destination_port = p443;
	ck_assert(pass(list, 2, NULL, 0, &f));
	ck_assert(!pass(list, 1, NULL, 0, &f));
	ck_assert(!pass(NULL, 0, list, 2, &f));
	ck_assert(pass(NULL, 0, list, 1, &f));
	/* Deny wins over allow. */
	ck_assert(!pass(&list[1], 1, &list[1], 1, &f));
}
END_TEST

START_TEST(filter_errors)
{
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *l[] = {&ff};
	char *bad_ips[][1] = {{"10.0.0.300"}, {"10.0.0.0/33"}, {"fd00::/129"},
			      {""},	      {"10.0.0.1/"},   {"host"}};
	char *bad_ports[][1] = {{"65536"}, {"-1"}, {"http"}, {"90-80"}, {""}};
	char *bad_proto[] = {"tcpx"};
	Flow__TCPFlags none = FLOW__TCPFLAGS__INIT, *nf[] = {&none};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		ff.n_destination_ip = 1;
		ff.destination_ip = bad_ips[i];
		err[0] = '\0';
		ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, err, sizeof(err)));
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_msg(strstr(err, "destination_ip") != NULL, "err: %s", err);
		/* The same in a deny list. */
		ck_assert_ptr_null(flow_filter_set_new(NULL, 0, l, 1, err, sizeof(err)));
	}
	ff.n_destination_ip = 0;
	for (i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		ff.n_source_port = 1;
		ff.source_port = bad_ports[i];
		ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, err, sizeof(err)));
		ck_assert_msg(strstr(err, "source_port") != NULL, "err: %s", err);
	}
	ff.n_source_port = 0;
	ff.n_protocol = 1;
	ff.protocol = bad_proto;
	ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "tcpx"));
	ff.n_protocol = 0;
	ff.n_tcp_flags = 1;
	ff.tcp_flags = nf;
	ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, err, sizeof(err)));
}
END_TEST

/* ---- flow_pb.c and pb_json.c ---------------------------------------------------------------- */

START_TEST(json_line_has_hubble_fields)
{
	struct flow f = tcp_flow();
	struct buf b = {0};
	const char *want =
		"{\"flow\":{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"verdict\":\"FORWARDED\","
		"\"IP\":{\"source\":\"10.0.0.1\",\"destination\":\"10.0.0.2\",\"ipVersion\":"
		"\"IPv4\"},"
		"\"l4\":{\"TCP\":{\"source_port\":40000,\"destination_port\":443,"
		"\"flags\":{\"SYN\":true}}},\"Type\":\"L3_L4\",\"node_name\":\"node1\","
		"\"event_type\":{\"type\":4},\"traffic_direction\":\"EGRESS\",\"is_reply\":false,"
		"\"interface\":{\"index\":2,\"name\":\"eth0\"},"
		"\"flow_start\":\"2023-11-14T22:13:20Z\","
		"\"flow_last_seen\":\"2023-11-14T22:13:20.123Z\",\"packets_sent\":\"3\","
		"\"bytes_sent\":\"180\",\"packets_received\":\"2\",\"bytes_received\":\"1500\","
		"\"flow_event\":\"FLOW_EVENT_TCP_FLAGS\",\"flow_id\":\"42\"},"
		"\"node_name\":\"node1\",\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n";

	ck_assert_int_eq(flow_pb_json_line(&b, &f, "node1"), 0);
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_mem_eq(b.data, want, b.len);
	buf_free(&b);
}
END_TEST

START_TEST(json_reply_ipv6_icmp_and_end)
{
	struct flow f = tcp_flow();
	struct buf b = {0};

	/* A reply event: endpoints and counters seen from the replying side. */
	f.is_reply = true;
	f.tcp_flags = FLOW_TCP_SYN | FLOW_TCP_ACK;
	ck_assert_int_eq(flow_pb_json_line(&b, &f, "n"), 0);
	buf_append(&b, "", 1);
	ck_assert_ptr_nonnull(strstr(b.data, "\"IP\":{\"source\":\"10.0.0.2\",\"destination\":"
					     "\"10.0.0.1\""));
	ck_assert_ptr_nonnull(strstr(b.data, "\"source_port\":443,\"destination_port\":40000"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"flags\":{\"SYN\":true,\"ACK\":true}"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"is_reply\":true"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"packets_sent\":\"2\",\"bytes_sent\":\"1500\","
					     "\"packets_received\":\"3\""));

	buf_reset(&b);
	f = tcp_flow();
	f.family = 6;
	f.proto = IPPROTO_ICMPV6;
	f.icmp_type = 128;
	inet_pton(AF_INET6, "fd00::1", f.src.addr);
	inet_pton(AF_INET6, "fd00::2", f.dst.addr);
	f.event = FLOW_EVENT_END;
	f.ended = true;
	f.end_ns = 1700000001000001000ULL;
	ck_assert_int_eq(flow_pb_json_line(&b, &f, "n"), 0);
	buf_append(&b, "", 1);
	ck_assert_ptr_nonnull(strstr(b.data, "\"source\":\"fd00::1\",\"destination\":\"fd00::2\","
					     "\"ipVersion\":\"IPv6\""));
	ck_assert_ptr_nonnull(strstr(b.data, "\"l4\":{\"ICMPv6\":{\"type\":128}}"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"flow_end\":\"2023-11-14T22:13:21.000001Z\""));
	ck_assert_ptr_nonnull(strstr(b.data, "\"flow_event\":\"FLOW_EVENT_END\""));
	buf_free(&b);
}
END_TEST

START_TEST(json_lost_events)
{
	struct buf b = {0};
	const char *want = "{\"lost_events\":{\"source\":\"OBSERVER_EVENTS_QUEUE\","
			   "\"num_events_lost\":\"17\"},\"node_name\":\"n\","
			   "\"time\":\"2023-11-14T22:13:20Z\"}\n";

	ck_assert_int_eq(flow_pb_lost_json_line(&b, 2, 17, "n", 1700000000000000000ULL), 0);
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_mem_eq(b.data, want, b.len);
	buf_free(&b);
}
END_TEST

START_TEST(json_escapes_strings)
{
	Observer__GetFlowsResponse r = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	struct buf b = {0};
	const char *want = "{\"node_name\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"}";

	r.node_name = "a\"b\\c\n\x01\xc3\xa9";
	ck_assert_int_eq(pb_json_write(&b, &r.base), 0);
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_mem_eq(b.data, want, b.len);
	buf_free(&b);
}
END_TEST

START_TEST(frame_round_trips)
{
	struct flow f = tcp_flow();
	struct buf b = {0};
	Observer__GetFlowsResponse *r;
	uint32_t len;

	ck_assert_int_eq(flow_pb_frame(&b, &f, "node1"), 0);
	ck_assert_uint_ge(b.len, 5);
	ck_assert_uint_eq((uint8_t)b.data[0], 0);
	len = (uint32_t)(uint8_t)b.data[1] << 24 | (uint32_t)(uint8_t)b.data[2] << 16 |
	      (uint32_t)(uint8_t)b.data[3] << 8 | (uint8_t)b.data[4];
	ck_assert_uint_eq(len + 5, b.len);
	r = observer__get_flows_response__unpack(NULL, len, (uint8_t *)b.data + 5);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->response_types_case, OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW);
	ck_assert_str_eq(r->node_name, "node1");
	ck_assert_str_eq(r->flow->ip->source, "10.0.0.1");
	ck_assert_str_eq(r->flow->ip->destination, "10.0.0.2");
	ck_assert_int_eq(r->flow->ip->ipversion, FLOW__IPVERSION__IPv4);
	ck_assert_uint_eq(r->flow->l4->tcp->source_port, 40000);
	ck_assert_uint_eq(r->flow->l4->tcp->destination_port, 443);
	ck_assert(r->flow->l4->tcp->flags->syn);
	ck_assert(!r->flow->l4->tcp->flags->ack);
	ck_assert_int_eq(r->flow->verdict, FLOW__VERDICT__FORWARDED);
	ck_assert_int_eq(r->flow->type, FLOW__FLOW_TYPE__L3_L4);
	ck_assert_int_eq(r->flow->traffic_direction, FLOW__TRAFFIC_DIRECTION__EGRESS);
	ck_assert_uint_eq(r->flow->time->seconds, 1700000000);
	ck_assert_int_eq(r->flow->time->nanos, 123456789);
	ck_assert_uint_eq(r->flow->packets_sent, 3);
	ck_assert_uint_eq(r->flow->bytes_received, 1500);
	ck_assert_uint_eq(r->flow->flow_id, 42);
	ck_assert_int_eq(r->flow->flow_event, FLOW__FLOW_EVENT__FLOW_EVENT_TCP_FLAGS);
	observer__get_flows_response__free_unpacked(r, NULL);
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("export");
	TCase *p = tcase_create("parse"), *f = tcase_create("filter"), *e = tcase_create("encode");
	SRunner *r;
	int failed;

	tcase_add_test(p, parse_numbers);
	tcase_add_test(p, parse_durations);
	tcase_add_test(p, parse_hostports);
	tcase_add_test(f, filter_ips_ports_protocols);
	tcase_add_test(f, filter_reply_sees_swapped_endpoints);
	tcase_add_test(f, filter_enums_node_and_lists);
	tcase_add_test(f, filter_errors);
	tcase_add_test(e, json_line_has_hubble_fields);
	tcase_add_test(e, json_reply_ipv6_icmp_and_end);
	tcase_add_test(e, json_lost_events);
	tcase_add_test(e, json_escapes_strings);
	tcase_add_test(e, frame_round_trips);
	suite_add_tcase(s, p);
	suite_add_tcase(s, f);
	suite_add_tcase(s, e);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
