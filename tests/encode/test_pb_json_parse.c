/* Unit tests of the proto3 JSON reader (export/encode/pb_json_parse.c): what pb_json.c writes
 * reads back to the same message, Hubble's and protojson's spellings are understood, and bad
 * input is refused with where and why. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "flows.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/encode/pb_json.h"
#include "flowscope/encode/pb_json_parse.h"
#include "google/protobuf/duration.pb-c.h"
#include "observer.pb-c.h"

/* Flow.Summary is deprecated in Cilium's proto, and still what Hubble's printer shows. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static ProtobufCMessage *parse_ok(const ProtobufCMessageDescriptor *d, const char *json)
{
	struct errmsg e = {""};
	ProtobufCMessage *m = NULL;
	int r = pb_json_parse(d, json, strlen(json), NULL, &m, NULL, &e);

	ck_assert_msg(r == 0, "%s: %s", json, e.text);
	return m;
}

static int parse_err(const ProtobufCMessageDescriptor *d, const char *json, struct errmsg *e)
{
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	int r = pb_json_parse(d, json, strlen(json), NULL, &m, NULL, e);

	ck_assert_ptr_null(m);
	return r;
}

/* JSON of m, then m parsed from it and written again: both texts must be the same, and so must
 * the protobuf bytes. */
static void assert_round_trip(const ProtobufCMessage *m)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	ProtobufCMessage *back;
	size_t n1 = protobuf_c_message_get_packed_size(m), n2;
	uint8_t *p1 = malloc(n1), *p2;

	ck_assert_int_eq(pb_json_write(&a, m), 0);
	back = parse_ok(m->descriptor, a.data);
	ck_assert_int_eq(pb_json_write(&b, back), 0);
	ck_assert_str_eq(b.data, a.data);
	n2 = protobuf_c_message_get_packed_size(back);
	ck_assert_uint_eq(n2, n1);
	p2 = malloc(n2);
	protobuf_c_message_pack(m, p1);
	protobuf_c_message_pack(back, p2);
	ck_assert_mem_eq(p1, p2, n1);
	free(p1);
	free(p2);
	protobuf_c_message_free_unpacked(back, NULL);
	buf_free(&a);
	buf_free(&b);
}

START_TEST(round_trip_of_encoded_flows)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;
	ProtobufCMessage *m;

	/* Flows as flowd encodes them: a TCP event, and a reply over IPv6. */
	ck_assert_int_eq(flow_pb_json_line(&b, &f, "node1"), 0);
	m = parse_ok(&observer__get_flows_response__descriptor, b.data);
	assert_round_trip(m);
	protobuf_c_message_free_unpacked(m, NULL);
	buf_reset(&b);
	f.family = 6;
	inet_pton(AF_INET6, "fd00::1", f.src.addr);
	inet_pton(AF_INET6, "fd00::2", f.dst.addr);
	f.is_reply = true;
	f.ended = true;
	f.end_ns = f.last_seen_ns;
	ck_assert_int_eq(flow_pb_json_line(&b, &f, "node1"), 0);
	m = parse_ok(&observer__get_flows_response__descriptor, b.data);
	assert_round_trip(m);
	protobuf_c_message_free_unpacked(m, NULL);
	buf_free(&b);
}
END_TEST

/* Every kind of field: scalars of each type, enums, strings with escapes, repeated fields,
 * wrappers, timestamps, a oneof, nested messages. */
START_TEST(round_trip_of_a_full_message)
{
	Observer__GetFlowsResponse r = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	Flow__Flow f = FLOW__FLOW__INIT;
	Flow__IP ip = FLOW__IP__INIT;
	Flow__Layer4 l4 = FLOW__LAYER4__INIT;
	Flow__ICMPv6 icmp = FLOW__ICMPV6__INIT;
	Flow__Endpoint src = FLOW__ENDPOINT__INIT;
	Flow__Layer7 l7 = FLOW__LAYER7__INIT;
	Flow__DNS dns = FLOW__DNS__INIT;
	Flow__CiliumEventType et = FLOW__CILIUM_EVENT_TYPE__INIT;
	Google__Protobuf__BoolValue reply = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char *labels[] = {"k8s:app=web", "quote\"back\\slash\ttab\x01 é 𝄞"};
	char *names[] = {"a.example."};
	char *ips[] = {"10.0.0.1", "fd00::1"};

	t.seconds = 1700000000;
	t.nanos = 5000;
	ip.source = "fd00::1";
	ip.destination = "fd00::2";
	ip.ipversion = FLOW__IPVERSION__IPv6;
	ip.encrypted = 1;
	icmp.type = 128;
	l4.protocol_case = FLOW__LAYER4__PROTOCOL_ICMPV6;
	l4.icmpv6 = &icmp;
	src.identity = 4294967295u;
	src.namespace_ = "shop";
	src.n_labels = 2;
	src.labels = labels;
	dns.query = "a.example.";
	dns.n_ips = 2;
	dns.ips = ips;
	dns.ttl = 300;
	l7.type = FLOW__L7_FLOW_TYPE__RESPONSE;
	l7.latency_ns = UINT64_MAX;
	l7.record_case = FLOW__LAYER7__RECORD_DNS;
	l7.dns = &dns;
	et.type = -7;
	et.sub_type = 2147483647;
	reply.value = 0;
	f.time = &t;
	f.uuid = "6c9e0a4e-0000-4000-8000-000000000001";
	f.verdict = FLOW__VERDICT__DROPPED;
	f.ip = &ip;
	f.l4 = &l4;
	f.source = &src;
	f.n_source_names = 1;
	f.source_names = names;
	f.l7 = &l7;
	f.event_type = &et;
	f.is_reply = &reply;
	f.drop_reason_desc = FLOW__DROP_REASON__POLICY_DENIED;
	f.socket_cookie = 18446744073709551615ULL;
	f.summary = "TCP Flags: SYN";
	r.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW;
	r.flow = &f;
	r.node_name = "node1";
	r.time = &t;
	assert_round_trip(&r.base);
}
END_TEST

START_TEST(reads_protojson_spellings)
{
	Observer__GetFlowsResponse *r;
	Flow__Flow *f;

	/* lowerCamelCase names, enums by number, 64-bit integers as numbers, 32-bit ones as
	 * strings, a time with an offset and a fraction, null for "not set". */
	r = (Observer__GetFlowsResponse *)parse_ok(
		&observer__get_flows_response__descriptor,
		" {\"flow\": {\"time\": \"2023-11-14T23:13:20.5+01:00\", \"verdict\": 2, "
		"\"l4\": {\"TCP\": {\"sourcePort\": \"40000\", \"destination_port\": 4.43e2}}, "
		"\"isReply\": true, \"socketCookie\": 12345678901234, \"packets_sent\": \"7\", "
		"\"source\": null, \"trace_observation_point\": \"TO_STACK\", "
		"\"drop_reason_desc\": 133, \"Summary\": \"x\\u00e9\\ud834\\udd1e\\/\"}, "
		"\"nodeName\": \"n1\"}\n ");
	f = r->flow;
	ck_assert_int_eq(r->response_types_case, OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW);
	ck_assert_int_eq(f->time->seconds, 1700000000);
	ck_assert_int_eq(f->time->nanos, 500000000);
	ck_assert_int_eq(f->verdict, FLOW__VERDICT__DROPPED);
	ck_assert_int_eq(f->l4->protocol_case, FLOW__LAYER4__PROTOCOL_TCP);
	ck_assert_uint_eq(f->l4->tcp->source_port, 40000);
	ck_assert_uint_eq(f->l4->tcp->destination_port, 443);
	ck_assert(f->is_reply && f->is_reply->value);
	ck_assert_uint_eq(f->socket_cookie, 12345678901234ULL);
	ck_assert_uint_eq(f->packets_sent, 7);
	ck_assert_ptr_null(f->source);
	ck_assert_int_eq(f->trace_observation_point, FLOW__TRACE_OBSERVATION_POINT__TO_STACK);
	ck_assert_int_eq(f->drop_reason_desc, FLOW__DROP_REASON__POLICY_DENIED);
	ck_assert_str_eq(f->summary, "x\xc3\xa9\xf0\x9d\x84\x9e/");
	ck_assert_str_eq(r->node_name, "n1");
	protobuf_c_message_free_unpacked(&r->base, NULL);
}
END_TEST

/* Hubble's --allowlist takes FlowFilters; our requests carry field masks. */
START_TEST(reads_filters_and_field_masks)
{
	Flow__FlowFilter *ff;
	Observer__GetFlowsRequest *q;

	ff = (Flow__FlowFilter *)parse_ok(
		&flow__flow_filter__descriptor,
		"{\"source_pod\":[\"shop/web\"],\"verdict\":[\"DROPPED\",1],"
		"\"tcp_flags\":[{\"SYN\":true}],\"reply\":[false],\"source_identity\":[1,\"2\"],"
		"\"event_type\":[{\"type\":4,\"match_sub_type\":true,\"sub_type\":3}],"
		"\"source_workload\":[{\"name\":\"web\",\"kind\":\"Deployment\"}]}");
	ck_assert_uint_eq(ff->n_source_pod, 1);
	ck_assert_str_eq(ff->source_pod[0], "shop/web");
	ck_assert_uint_eq(ff->n_verdict, 2);
	ck_assert_int_eq(ff->verdict[0], FLOW__VERDICT__DROPPED);
	ck_assert_int_eq(ff->verdict[1], FLOW__VERDICT__FORWARDED);
	ck_assert(ff->n_tcp_flags == 1 && ff->tcp_flags[0]->syn && !ff->tcp_flags[0]->ack);
	ck_assert(ff->n_reply == 1 && !ff->reply[0]);
	ck_assert(ff->n_source_identity == 2 && ff->source_identity[1] == 2);
	ck_assert(ff->n_event_type == 1 && ff->event_type[0]->match_sub_type);
	ck_assert_str_eq(ff->source_workload[0]->kind, "Deployment");
	protobuf_c_message_free_unpacked(&ff->base, NULL);

	q = (Observer__GetFlowsRequest *)parse_ok(
		&observer__get_flows_request__descriptor,
		"{\"fieldMask\":\"time,source.podName,IP\",\"experimental\":{\"field_mask\":"
		"{\"paths\":[\"verdict\"]}},\"number\":\"18446744073709551615\",\"perFlow\":true}");
	ck_assert_uint_eq(q->field_mask->n_paths, 3);
	ck_assert_str_eq(q->field_mask->paths[1], "source.pod_name");
	ck_assert_str_eq(q->field_mask->paths[2], "_i_p"); /* as Go's protojson reads it */
	ck_assert_str_eq(q->experimental->field_mask->paths[0], "verdict");
	ck_assert_uint_eq(q->number, UINT64_MAX);
	ck_assert(q->per_flow);
	protobuf_c_message_free_unpacked(&q->base, NULL);
}
END_TEST

/* --allowlist '{...}{...}': one object after the other, each ending where it ends. */
START_TEST(reads_objects_one_after_the_other)
{
	const char *text = "{\"verdict\":[\"DROPPED\"]} \n{\"protocol\":[\"tcp\"]}";
	struct errmsg e = {""};
	ProtobufCMessage *m;
	size_t end;

	ck_assert_int_eq(pb_json_parse(&flow__flow_filter__descriptor, text, strlen(text), NULL, &m,
				       &end, &e),
			 0);
	ck_assert_uint_eq(end, strlen("{\"verdict\":[\"DROPPED\"]}"));
	protobuf_c_message_free_unpacked(m, NULL);
	ck_assert_int_eq(pb_json_parse(&flow__flow_filter__descriptor, text + end,
				       strlen(text + end), NULL, &m, &end, &e),
			 0);
	ck_assert_str_eq(((Flow__FlowFilter *)m)->protocol[0], "tcp");
	protobuf_c_message_free_unpacked(m, NULL);
	/* Without end, the second object is junk after the first. */
	ck_assert_int_eq(parse_err(&flow__flow_filter__descriptor, text, &e), -EINVAL);
	ck_assert_str_eq(e.text, "offset 25: unexpected text after the object");
}
END_TEST

START_TEST(unknown_fields_refused_or_skipped)
{
	const char *text = "{\"flow\":{\"verdict\":\"FORWARDED\",\"new_field\":{\"a\":[1,{\"b\":"
			   "null}],\"c\":\"}\"},\"Type\":\"NEW_TYPE\",\"uuid\":\"u\"}}";
	struct pb_json_parse_opts o = {.ignore_unknown = true};
	struct errmsg e = {""};
	ProtobufCMessage *m;

	ck_assert_int_eq(parse_err(&observer__get_flows_response__descriptor, text, &e), -ENOENT);
	ck_assert_str_eq(e.text, "offset 31: unknown field 'new_field' in flow.Flow");
	ck_assert_int_eq(pb_json_parse(&observer__get_flows_response__descriptor, text,
				       strlen(text), &o, &m, NULL, &e),
			 0);
	ck_assert_uint_eq(o.unknown, 2); /* the field and the enum value */
	ck_assert_str_eq(((Observer__GetFlowsResponse *)m)->flow->uuid, "u");
	ck_assert_int_eq(((Observer__GetFlowsResponse *)m)->flow->verdict,
			 FLOW__VERDICT__FORWARDED);
	protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(bad_input_is_refused_with_where_and_why)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
		{"", "offset 0: expected an object"},
		{"[]", "offset 0: expected an object"},
		{"{\"flow\":{\"verdict\":\"MAYBE\"}}",
		 "offset 19: unknown value 'MAYBE' of flow.Verdict"},
		{"{\"flow\":{\"verdict\":true}}", "offset 19: expected a number"},
		{"{\"node_name\":5}", "offset 13: expected a string"},
		{"{\"flow\":{\"l4\":{\"TCP\":{\"source_port\":-1}}}}",
		 "offset 36: '-1' is not an unsigned integer in range"},
		{"{\"flow\":{\"l4\":{\"TCP\":{\"source_port\":4294967296}}}}",
		 "offset 36: '4294967296' is not an unsigned integer in range"},
		{"{\"flow\":{\"l4\":{\"TCP\":{\"source_port\":1.5}}}}",
		 "offset 36: '1.5' is not an unsigned integer in range"},
		{"{\"flow\":{\"l4\":{\"TCP\":{},\"UDP\":{}}}}",
		 "offset 30: 'UDP' and another field of its oneof are both set"},
		{"{\"node_name\":\"a\",\"nodeName\":\"b\"}",
		 "offset 17: field 'nodeName' given twice"},
		{"{\"time\":\"yesterday\"}", "offset 8: 'yesterday' is not an RFC 3339 time"},
		{"{\"node_name\":\"a\\q\"}", "offset 16: bad escape '\\q' in a string"},
		{"{\"node_name\":\"\\ud800\"}", "offset 15: bad \\u escape in a string"},
		{"{\"node_name\":\"\\u0000\"}", "offset 15: bad \\u escape in a string"},
		{"{\"node_name\":\"a", "offset 13: unterminated string"},
		{"{\"node_name\":\"a\"", "offset 16: expected ',' or '}'"},
		{"{\"node_name\" \"a\"}", "offset 13: expected ':' after a key"},
		{"{\"flow\":{\"is_reply\":\"yes\"}}", "offset 20: expected true or false"},
		{"{\"time\":{\"seconds\":01}}", "offset 19: a number with a leading zero"},
		{"{\"flow\":{\"source\":{\"workloads\":[{},null]}}}",
		 "offset 35: null is not a value a list can hold"},
		{"{\"flow\":{\"destination_names\":[null]}}",
		 "offset 30: null is not a value a list can hold"},
	};
	struct errmsg e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.text[0] = '\0';
		ck_assert_int_lt(
			parse_err(&observer__get_flows_response__descriptor, bad[i].json, &e), 0);
		ck_assert_msg(!strcmp(e.text, bad[i].why), "%s: got '%s', want '%s'", bad[i].json,
			      e.text, bad[i].why);
	}
}
END_TEST

START_TEST(nesting_is_bounded)
{
	struct pb_json_parse_opts o = {.ignore_unknown = true};
	char text[2000] = "{\"x\":";
	struct errmsg e = {""};
	ProtobufCMessage *m;
	size_t i, n = strlen(text);

	for (i = 0; i < 500; i++)
		text[n++] = '[';
	text[n] = '\0';
	ck_assert_int_eq(pb_json_parse(&flow__flow__descriptor, text, n, &o, &m, NULL, &e),
			 -EINVAL);
	ck_assert(strstr(e.text, "nested too deeply"));
}
END_TEST

/* Every cut of a real line is refused, never read past its end or half-freed. */
START_TEST(every_truncation_is_refused)
{
	struct flow f = tcp_flow();
	struct buf b = BUF_INIT;
	struct errmsg e;
	ProtobufCMessage *m;
	size_t n;

	f.is_reply = true;
	ck_assert_int_eq(flow_pb_json_line(&b, &f, "node1"), 0);
	for (n = 0; n + 1 < b.len; n++) {
		char *cut = strndup(b.data, n); /* no NUL past n for the parser to lean on */

		ck_assert_int_lt(pb_json_parse(&observer__get_flows_response__descriptor, cut, n,
					       NULL, &m, NULL, &e),
				 0);
		free(cut);
	}
	buf_free(&b);
}
END_TEST

START_TEST(well_known_values_at_the_top)
{
	Google__Protobuf__Duration *d;
	Google__Protobuf__Timestamp *t;

	d = (Google__Protobuf__Duration *)parse_ok(&google__protobuf__duration__descriptor,
						   "\"-1.000000500s\"");
	ck_assert_int_eq(d->seconds, -1);
	ck_assert_int_eq(d->nanos, -500);
	protobuf_c_message_free_unpacked(&d->base, NULL);
	t = (Google__Protobuf__Timestamp *)parse_ok(&google__protobuf__timestamp__descriptor,
						    "\"1970-01-01T00:00:01.000000001Z\"");
	ck_assert_int_eq(t->seconds, 1);
	ck_assert_int_eq(t->nanos, 1);
	protobuf_c_message_free_unpacked(&t->base, NULL);
}
END_TEST

/* Timestamps are written with a date computed by hand: the same text as gmtime_r and strftime
 * give, from year 0 to 9999 (leap days, centuries, the epoch, before it), refused outside. */
START_TEST(timestamps_as_gmtime_writes_them)
{
	static const int64_t edge[] = {0,
				       -1,
				       1,
				       86399,
				       86400,
				       -86400,
				       -86401,
				       951782400,
				       951868800,
				       4107542400,
				       1764748800,
				       -62167219200,
				       253402300799,
				       -2208988800,
				       68256000};
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	struct buf b = BUF_INIT;
	char want[64];
	struct tm tm;
	size_t i;

	for (i = 0; i < 200000; i++) {
		time_t secs;

		if (i < sizeof(edge) / sizeof(edge[0])) {
			secs = edge[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			secs = (time_t)(x % (253402300799ULL + 62167219200ULL + 1)) - 62167219200LL;
		}
		t.seconds = secs;
		t.nanos = i % 3 ? 0 : 500000000;
		ck_assert_ptr_nonnull(gmtime_r(&secs, &tm));
		strftime(want, sizeof(want), "\"%Y-%m-%dT%H:%M:%S", &tm);
		if (tm.tm_year + 1900 < 1000) /* strftime's %Y does not pad to 4 digits */
			snprintf(want, sizeof(want), "\"%04d-%02d-%02dT%02d:%02d:%02d",
				 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				 tm.tm_min, tm.tm_sec);
		strcat(want, t.nanos ? ".500Z\"" : "Z\"");
		buf_reset(&b);
		ck_assert_int_eq(pb_json_write(&b, &t.base), 0);
		ck_assert_str_eq(b.data, want);
	}
	t.seconds = -62167219201LL;
	ck_assert_int_eq(pb_json_write(&b, &t.base), -EINVAL);
	t.seconds = 253402300800LL;
	ck_assert_int_eq(pb_json_write(&b, &t.base), -EINVAL);
	t.seconds = 0;
	t.nanos = -1;
	ck_assert_int_eq(pb_json_write(&b, &t.base), -EINVAL);
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pb_json_parse");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, round_trip_of_encoded_flows);
	tcase_add_test(tc, round_trip_of_a_full_message);
	tcase_add_test(tc, reads_protojson_spellings);
	tcase_add_test(tc, reads_filters_and_field_masks);
	tcase_add_test(tc, reads_objects_one_after_the_other);
	tcase_add_test(tc, unknown_fields_refused_or_skipped);
	tcase_add_test(tc, bad_input_is_refused_with_where_and_why);
	tcase_add_test(tc, nesting_is_bounded);
	tcase_add_test(tc, every_truncation_is_refused);
	tcase_add_test(tc, well_known_values_at_the_top);
	tcase_add_test(tc, timestamps_as_gmtime_writes_them);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
