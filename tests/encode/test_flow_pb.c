/* Unit tests of the encoders (export/encode/flow_pb.c, pb_json.c): the Flow/GetFlowsResponse of
 * a collector flow as canonical protobuf JSON lines and as gRPC frames. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flows.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/encode/pb_json.h"
#include "observer.pb-c.h"

/* ---- flow_pb.c and pb_json.c ---------------------------------------------------------------- */

START_TEST(json_line_has_hubble_fields)
{
	struct flow f = tcp_flow();
	struct buf b = {0};
	/* 10.0.0.x are no address of this host: the reserved identity world (2). */
	const char *want =
		"{\"flow\":{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"verdict\":\"FORWARDED\","
		"\"IP\":{\"source\":\"10.0.0.1\",\"destination\":\"10.0.0.2\",\"ipVersion\":"
		"\"IPv4\"},"
		"\"l4\":{\"TCP\":{\"source_port\":40000,\"destination_port\":443,"
		"\"flags\":{\"SYN\":true}}},\"source\":{\"identity\":2},"
		"\"destination\":{\"identity\":2},\"Type\":\"L3_L4\",\"node_name\":\"node1\","
		"\"event_type\":{\"type\":4,\"sub_type\":11},\"traffic_direction\":\"EGRESS\","
		"\"trace_observation_point\":\"TO_NETWORK\",\"is_reply\":false,"
		"\"interface\":{\"index\":2,\"name\":\"eth0\"},"
		"\"uuid\":\"12345678-9abc-4def-8000-000000000007\","
		"\"flow_start\":\"2023-11-14T22:13:20Z\","
		"\"flow_last_seen\":\"2023-11-14T22:13:20.123Z\",\"packets_sent\":\"3\","
		"\"bytes_sent\":\"180\",\"packets_received\":\"2\",\"bytes_received\":\"1500\","
		"\"flow_event\":\"FLOW_EVENT_TCP_FLAGS\",\"flow_id\":\"42\","
		"\"flags_seen\":{\"SYN\":true},\"Summary\":\"TCP Flags: SYN\"},"
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

/* json_escape: the inside of a JSON string for printf-built notifications, cut to fit. */
START_TEST(json_escape_inside)
{
	char out[64], small[10];

	ck_assert_str_eq(json_escape("a\"b\\c\n\x01\xc3\xa9", out, sizeof(out)),
			 "a\\\"b\\\\c\\u000a\\u0001\xc3\xa9");
	ck_assert_str_eq(json_escape("", out, sizeof(out)), "");
	ck_assert_uint_lt(strlen(json_escape("abcdefghijklmnop", small, sizeof(small))),
			  sizeof(small));
}
END_TEST

/* The JSON line of f as a C string (the test frees it). */
static char *line_of(const struct flow *f)
{
	struct buf b = {0};

	ck_assert_int_eq(flow_pb_json_line(&b, f, "n"), 0);
	buf_append(&b, "", 1);
	return b.data;
}

#define HAS(json, s) ck_assert_msg(strstr(json, s), "no %s in %s", s, json)

/* Cilium's Summary texts and event types, event by event. */
START_TEST(summaries_and_event_types_as_cilium_writes_them)
{
	struct flow f = tcp_flow();
	char *j;

	f.tcp_flags = FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_PSH;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"TCP Flags: SYN, ACK, PSH\"");
	free(j);
	/* An ICMP echo flow: the reply event is an EchoReply. */
	f.proto = IPPROTO_ICMP;
	f.icmp_type = 8;
	f.is_reply = false;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"ICMPv4 EchoRequest\"");
	HAS(j, "\"ICMPv4\":{\"type\":8}");
	free(j);
	f.is_reply = true;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"ICMPv4 EchoReply\"");
	free(j);
	f.is_reply = false;
	f.icmp_type = 3;
	f.icmp_code = 3;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"ICMPv4 DestinationUnreachable(Port)\"");
	free(j);
	f.proto = IPPROTO_ICMPV6;
	f.family = 6;
	f.icmp_type = 135;
	f.icmp_code = 0;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"ICMPv6 NeighborSolicitation\"");
	free(j);
	f = tcp_flow();
	f.proto = IPPROTO_UDP;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"UDP\"");
	free(j);
	/* Events without a packet say what they are; no packet flags. */
	f = tcp_flow();
	f.event = FLOW_EVENT_END;
	f.tcp_flags = 0;
	f.tcp_flags_seen[1] = FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"Flow end: 5 packets, 1680 bytes; TCP Flags seen: SYN, ACK, FIN\"");
	HAS(j, "\"flags\":{}");
	free(j);
	/* A drop event: Cilium's drop type and reason, nothing of a trace. */
	f = tcp_flow();
	f.event = FLOW_EVENT_DROP;
	f.verdict = FLOW_VERDICT_DROPPED;
	f.drops = 2;
	f.drop_reason = 0; /* whatever reason; the mapping is drop_reason's (tested there) */
	j = line_of(&f);
	HAS(j, "\"event_type\":{\"type\":1");
	ck_assert_ptr_null(strstr(j, "trace_observation_point"));
	HAS(j, "\"verdict\":\"DROPPED\"");
	free(j);
	/* A DNS event: L7, Cilium's DNS summary. */
	f = tcp_flow();
	f.proto = IPPROTO_UDP;
	f.event = FLOW_EVENT_DNS;
	f.dns.present = true;
	f.dns.query = "web.shop.test";
	f.dns.qtype = 1;
	j = line_of(&f);
	HAS(j, "\"event_type\":{\"type\":129}");
	HAS(j, "\"Summary\":\"DNS Query web.shop.test. A\"");
	free(j);
	f.dns.response = true;
	f.dns.n_ips = 1;
	f.dns.ip_family[0] = 4;
	inet_pton(AF_INET, "10.0.0.9", f.dns.ips[0]);
	j = line_of(&f);
	HAS(j, "\"Summary\":\"DNS Answer \\\"10.0.0.9\\\" (Query web.shop.test. A)\"");
	free(j);
	f.dns.rcode = 3;
	j = line_of(&f);
	HAS(j, "\"Summary\":\"DNS Answer RCode: Non-Existent Domain (Query web.shop.test. A)\"");
	free(j);
}
END_TEST

/* Field masks nest as google.protobuf.FieldMask paths. */
START_TEST(nested_field_masks)
{
	struct flow f = tcp_flow();
	struct flow_pb_mask *m;
	struct errmsg e = {""};
	char *paths[] = {"time", "l4.TCP.source_port", "source.identity"};
	struct buf b = {0};

	ck_assert_int_eq(flow_pb_mask_from_paths(paths, 3, &m, &e), 0);
	ck_assert_int_eq(flow_pb_json_line_masked(&b, &f, "n", m), 0);
	buf_append(&b, "", 1);
	ck_assert_str_eq(b.data,
			 "{\"flow\":{\"time\":\"2023-11-14T22:13:20.123456789Z\","
			 "\"l4\":{\"TCP\":{\"source_port\":40000}},\"source\":{\"identity\":2}},"
			 "\"node_name\":\"n\",\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n");
	buf_free(&b);
	flow_pb_mask_free(m);
	/* A oneof member the flow does not have stays away. */
	f.proto = IPPROTO_UDP;
	ck_assert_int_eq(flow_pb_mask_new("l4.TCP.flags, IP", &m, &e), 0);
	ck_assert_int_eq(flow_pb_json_line_masked(&b, &f, "n", m), 0);
	buf_append(&b, "", 1);
	ck_assert_ptr_null(strstr(b.data, "TCP"));
	HAS(b.data, "\"l4\":{}");
	buf_free(&b);
	flow_pb_mask_free(m);
	ck_assert_int_eq(flow_pb_mask_new("source.bogus", &m, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "bogus"));
	ck_assert_int_eq(flow_pb_mask_new("verdict.x", &m, &e), -EINVAL);
	ck_assert_int_eq(flow_pb_mask_new("time,,IP", &m, &e), -EINVAL);
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
	Suite *s = suite_create("flow_pb");
	TCase *t = tcase_create("flow_pb");
	SRunner *r;
	int failed;

	tcase_add_test(t, json_line_has_hubble_fields);
	tcase_add_test(t, json_reply_ipv6_icmp_and_end);
	tcase_add_test(t, json_lost_events);
	tcase_add_test(t, json_escapes_strings);
	tcase_add_test(t, json_escape_inside);
	tcase_add_test(t, frame_round_trips);
	tcase_add_test(t, summaries_and_event_types_as_cilium_writes_them);
	tcase_add_test(t, nested_field_masks);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
