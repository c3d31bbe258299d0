/* Unit tests of flowctl's printer (cli/print.c): golden lines for hand-built Flow protos in
 * compact, dict, table and JSON output, as Hubble's printer writes them for the same flows:
 * the reply arrow, identities, types, verdicts, summaries, time formats, colors, escapes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../cli/print.h"
#include "flowscope/encode/pb_json.h"

/* Flow.Summary is deprecated in Cilium's proto, and still what Hubble's printer shows. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* A flow and everything it points to, on the stack of the test. */
struct sample {
	Observer__GetFlowsResponse r;
	Flow__Flow f;
	Google__Protobuf__Timestamp t;
	Flow__IP ip;
	Flow__Layer4 l4;
	Flow__TCP tcp;
	Flow__TCPFlags flags;
	Flow__Endpoint src, dst;
	Flow__CiliumEventType et;
	Google__Protobuf__BoolValue reply;
};

/* 10.0.0.1:40000 (ID:1234) -> shop/web-1:443 (world), a SYN seen at to-stack. */
static void sample_init(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	observer__get_flows_response__init(&s->r);
	flow__flow__init(&s->f);
	google__protobuf__timestamp__init(&s->t);
	flow__ip__init(&s->ip);
	flow__layer4__init(&s->l4);
	flow__tcp__init(&s->tcp);
	flow__tcpflags__init(&s->flags);
	flow__endpoint__init(&s->src);
	flow__endpoint__init(&s->dst);
	flow__cilium_event_type__init(&s->et);
	google__protobuf__bool_value__init(&s->reply);
	s->t.seconds = 1700000000; /* 2023-11-14T22:13:20Z */
	s->t.nanos = 123456789;
	s->ip.source = "10.0.0.1";
	s->ip.destination = "10.0.0.2";
	s->ip.ipversion = FLOW__IPVERSION__IPv4;
	s->tcp.source_port = 40000;
	s->tcp.destination_port = 443;
	s->flags.syn = 1;
	s->tcp.flags = &s->flags;
	s->l4.protocol_case = FLOW__LAYER4__PROTOCOL_TCP;
	s->l4.tcp = &s->tcp;
	s->src.identity = 1234;
	s->dst.identity = 2;
	s->dst.namespace_ = "shop";
	s->dst.pod_name = "web-1";
	s->et.type = 4;
	s->et.sub_type = 3; /* to-stack */
	s->f.time = &s->t;
	s->f.verdict = FLOW__VERDICT__FORWARDED;
	s->f.ip = &s->ip;
	s->f.l4 = &s->l4;
	s->f.source = &s->src;
	s->f.destination = &s->dst;
	s->f.event_type = &s->et;
	s->f.is_reply = &s->reply;
	s->f.node_name = "node1";
	s->f.summary = "TCP Flags: SYN";
	s->r.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW;
	s->r.flow = &s->f;
	s->r.node_name = "node1";
	s->r.time = &s->t;
}

/* What the printer writes for responses, with options. */
static char *print_all(struct printer *opts, const Observer__GetFlowsResponse *const *r, size_t n)
{
	struct out w = OUT_INIT(-1), err = OUT_INIT(-1);
	struct printer p = *opts;
	char *text;
	size_t i;

	p.w = &w;
	p.err = &err;
	for (i = 0; i < n; i++)
		ck_assert_int_eq(printer_response(&p, r[i]), 0);
	ck_assert_int_eq(printer_finish(&p), 0);
	text = strdup(w.b.data ? w.b.data : "");
	printer_free(&p);
	out_free(&w);
	out_free(&err);
	return text;
}

static void assert_prints(struct printer *opts, const Observer__GetFlowsResponse *r,
			  const char *want)
{
	char *got = print_all(opts, &r, 1);

	ck_assert_msg(!strcmp(got, want), "got\n[%s]\nwant\n[%s]", got, want);
	free(got);
}

START_TEST(compact_forward_line)
{
	struct printer p = {.out = OUT_COMPACT};
	struct sample s;

	sample_init(&s);
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) -> shop/web-1:443 (world) "
		      "to-stack FORWARDED (TCP Flags: SYN)\n");
}
END_TEST

/* A reply is shown from the initiator's side with the arrow flipped; without is_reply the
 * direction is unknown. */
START_TEST(compact_reply_and_unknown_direction)
{
	struct printer p = {.out = OUT_COMPACT};
	struct sample s;

	sample_init(&s);
	s.reply.value = 1;
	s.ip.source = "10.0.0.2";
	s.ip.destination = "10.0.0.1";
	s.tcp.source_port = 443;
	s.tcp.destination_port = 40000;
	s.f.source = &s.dst;
	s.f.destination = &s.src;
	s.f.summary = "TCP Flags: SYN, ACK";
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) <- shop/web-1:443 (world) "
		      "to-stack FORWARDED (TCP Flags: SYN, ACK)\n");
	sample_init(&s);
	s.f.is_reply = NULL;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) <> shop/web-1:443 (world) "
		      "to-stack FORWARDED (TCP Flags: SYN)\n");
}
END_TEST

START_TEST(compact_identities)
{
	static const struct {
		uint32_t id;
		const char *text;
	} ids[] = {{0, "(unknown)"},	 {1, "(host)"},	      {2, "(world)"},
		   {6, "(remote-node)"}, {9, "(world-ipv4)"}, {10, "(world-ipv6)"},
		   {11, "(ID:11)"},	 {256, "(ID:256)"},   {4294967295u, "(ID:4294967295)"}};
	struct printer p = {.out = OUT_COMPACT};
	struct sample s;
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		sample_init(&s);
		s.src.identity = ids[i].id;
		snprintf(
			want, sizeof(want),
			"Nov 14 22:13:20.123: 10.0.0.1:40000 %s -> shop/web-1:443 (world) to-stack "
			"FORWARDED (TCP Flags: SYN)\n",
			ids[i].text);
		assert_prints(&p, &s.r, want);
	}
	/* No endpoint at all: identity 0. */
	sample_init(&s);
	s.f.source = NULL;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (unknown) -> shop/web-1:443 (world) "
		      "to-stack FORWARDED (TCP Flags: SYN)\n");
}
END_TEST

/* TYPE: a trace's observation point, a drop's reason, an L7 record's protocol and type. */
START_TEST(compact_types)
{
	static const struct {
		int32_t type, sub;
		const char *text;
	} types[] = {
		{4, 0, "to-endpoint"},	   {4, 5, "from-endpoint"},
		{4, 10, "from-network"},   {4, 11, "to-network"},
		{4, 8, "from-stack"},	   {4, 99, "99"},
		{1, 133, "Policy denied"}, {1, 178, "Socket lookup failed"},
		{1, 196, "TTL exceeded"},  {1, 250, "250, 0"},
		{0, 0, "UNKNOWN"},	   {129, 0, "UNKNOWN"},
	};
	struct sample s;
	char type[64];
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		sample_init(&s);
		s.et.type = types[i].type;
		s.et.sub_type = types[i].sub;
		printer_flow_type(&s.f, type, sizeof(type));
		ck_assert_str_eq(type, types[i].text);
	}
	sample_init(&s);
	s.f.event_type = NULL;
	printer_flow_type(&s.f, type, sizeof(type));
	ck_assert_str_eq(type, "UNKNOWN");
}
END_TEST

START_TEST(compact_drop_and_dns)
{
	Flow__Layer7 l7 = FLOW__LAYER7__INIT;
	Flow__DNS dns = FLOW__DNS__INIT;
	struct printer p = {.out = OUT_COMPACT};
	struct sample s;

	sample_init(&s);
	s.et.type = 1;
	s.et.sub_type = 133;
	s.f.verdict = FLOW__VERDICT__DROPPED;
	s.f.drop_reason_desc = FLOW__DROP_REASON__POLICY_DENIED;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) -> shop/web-1:443 (world) "
		      "Policy denied DROPPED (TCP Flags: SYN)\n");
	sample_init(&s);
	dns.query = "example.com.";
	dns.observation_source = "flowscope-tc";
	l7.type = FLOW__L7_FLOW_TYPE__REQUEST;
	l7.record_case = FLOW__LAYER7__RECORD_DNS;
	l7.dns = &dns;
	s.f.l7 = &l7;
	s.et.type = 129;
	s.f.l4 = NULL;
	s.f.summary = "DNS Query example.com. A";
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1 (ID:1234) -> shop/web-1 (world) dns-request "
		      "flowscope-tc FORWARDED (DNS Query example.com. A)\n");
	/* As Hubble: with no observation source the type ends in a space. */
	dns.observation_source = "";
	l7.type = FLOW__L7_FLOW_TYPE__RESPONSE;
	s.f.summary = "";
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1 (ID:1234) -> shop/web-1 (world) dns-response  "
		      "FORWARDED ()\n");
}
END_TEST

/* Hosts: pod, else service, else DNS names, else the address; --numeric the address. */
START_TEST(compact_hosts_and_numeric)
{
	Flow__Service svc = FLOW__SERVICE__INIT;
	char *names[] = {"a.example.com", "b.example.com"};
	struct printer p = {.out = OUT_COMPACT}, num = {.out = OUT_COMPACT, .numeric = true};
	struct sample s;

	sample_init(&s);
	s.dst.pod_name = "";
	svc.name = "web";
	svc.namespace_ = "shop";
	s.f.destination_service = &svc;
	s.f.source_names = names;
	s.f.n_source_names = 2;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: a.example.com,b.example.com:40000 (ID:1234) -> "
		      "shop/web:443 (world) to-stack FORWARDED (TCP Flags: SYN)\n");
	assert_prints(&num, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) -> 10.0.0.2:443 (world) "
		      "to-stack FORWARDED (TCP Flags: SYN)\n");
	sample_init(&s);
	s.ip.source = "fd00::1";
	s.ip.destination = "fd00::2";
	s.dst.pod_name = NULL;
	s.tcp.source_port = 0;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: fd00::1 (ID:1234) -> [fd00::2]:443 (world) to-stack "
		      "FORWARDED (TCP Flags: SYN)\n");
}
END_TEST

START_TEST(compact_node_name_verdicts_and_auth)
{
	struct printer p = {.out = OUT_COMPACT, .node_name = true};
	struct sample s;

	sample_init(&s);
	s.f.verdict = FLOW__VERDICT__AUDIT;
	s.f.auth_type = FLOW__AUTH_TYPE__SPIRE;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123 [node1]: 10.0.0.1:40000 (ID:1234) -> shop/web-1:443 "
		      "(world) to-stack AUDIT (TCP Flags: SYN; SPIRE)\n");
	/* A policy verdict event says ALLOWED and DENIED, and its type the match. */
	sample_init(&s);
	p.node_name = false;
	s.et.type = 5;
	s.f.policy_match_type = 2;
	s.f.traffic_direction = FLOW__TRAFFIC_DIRECTION__INGRESS;
	s.f.verdict = FLOW__VERDICT__DROPPED;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) -> shop/web-1:443 (world) "
		      "policy-verdict:L3-L4 INGRESS DENIED (TCP Flags: SYN)\n");
}
END_TEST

/* Hubble's colors (fatih/color): host cyan with its port yellow, identity magenta, verdict
 * green, red or yellow. */
START_TEST(compact_colors)
{
	struct printer p = {.out = OUT_COMPACT, .color = true};
	struct sample s;

	sample_init(&s);
	s.f.verdict = FLOW__VERDICT__DROPPED;
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: \x1b[36m10.0.0.1:\x1b[33m40000\x1b[0m\x1b[0m "
		      "\x1b[35m(ID:1234)\x1b[0m -> \x1b[36mshop/web-1:\x1b[33m443\x1b[0m\x1b[0m "
		      "\x1b[35m(world)\x1b[0m to-stack \x1b[31mDROPPED\x1b[0m (TCP Flags: SYN)\n");
	ck_assert(printer_use_color(COLOR_ALWAYS, -1));
	ck_assert(!printer_use_color(COLOR_NEVER, 1));
	ck_assert(!printer_use_color(COLOR_AUTO, -1)); /* not a terminal */
}
END_TEST

/* Names from the server cannot drive the terminal. */
START_TEST(compact_escapes_terminal_sequences)
{
	struct printer p = {.out = OUT_COMPACT};
	struct sample s;

	sample_init(&s);
	s.dst.pod_name = "evil\x1b[2J";
	s.f.summary = "a\rb";
	assert_prints(&p, &s.r,
		      "Nov 14 22:13:20.123: 10.0.0.1:40000 (ID:1234) -> shop/evil^[[2J:443 (world) "
		      "to-stack FORWARDED (a\\rb)\n");
}
END_TEST

START_TEST(time_formats)
{
	static const struct {
		enum time_format f;
		const char *text;
	} formats[] = {
		{TIME_STAMP_MILLI, "Nov 14 22:13:20.123"},
		{TIME_YEAR_MONTH_DAY, "2023-11-14"},
		{TIME_YEAR_MONTH_DAY_HOUR, "2023-11-14T22Z"},
		{TIME_YEAR_MONTH_DAY_HOUR_MINUTE, "2023-11-14T22:13Z"},
		{TIME_RFC3339, "2023-11-14T22:13:20Z"},
		{TIME_RFC3339_MILLI, "2023-11-14T22:13:20.123Z"},
		{TIME_RFC3339_MICRO, "2023-11-14T22:13:20.123456Z"},
		{TIME_RFC3339_NANO, "2023-11-14T22:13:20.123456789Z"},
		{TIME_RFC1123Z, "Tue, 14 Nov 2023 22:13:20 +0000"},
	};
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char out[64];
	size_t i;

	t.seconds = 1700000000;
	t.nanos = 123456789;
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		printer_time(&t, formats[i].f, out, sizeof(out));
		ck_assert_str_eq(out, formats[i].text);
	}
	/* Go's .999 fractions lose their trailing zeros, then the dot. */
	t.nanos = 120000000;
	printer_time(&t, TIME_RFC3339_NANO, out, sizeof(out));
	ck_assert_str_eq(out, "2023-11-14T22:13:20.12Z");
	t.nanos = 0;
	printer_time(&t, TIME_RFC3339_MILLI, out, sizeof(out));
	ck_assert_str_eq(out, "2023-11-14T22:13:20Z");
	printer_time(&t, TIME_STAMP_MILLI, out, sizeof(out));
	ck_assert_str_eq(out, "Nov 14 22:13:20.000");
	t.seconds = 1699920000 + 86400 * -10; /* a one-digit day: space-padded */
	printer_time(&t, TIME_STAMP_MILLI, out, sizeof(out));
	ck_assert_str_eq(out, "Nov  4 00:00:00.000");
	/* Written by hand: as strftime writes it, for every day from 1901 to 2200, any time. */
	for (t.seconds = -2177452800LL; t.seconds < 7258118400LL; t.seconds += 86400 + 3661) {
		time_t s = (time_t)t.seconds;
		char want[64], frac[8];
		struct tm tm;

		t.nanos = (int32_t)((uint64_t)t.seconds * 2654435761u % 1000000000u);
		gmtime_r(&s, &tm);
		strftime(want, sizeof(want), "%b %e %H:%M:%S", &tm);
		snprintf(frac, sizeof(frac), ".%03d", t.nanos / 1000000);
		strcat(want, frac);
		printer_time(&t, TIME_STAMP_MILLI, out, sizeof(out));
		ck_assert_str_eq(out, want);
	}
	t.seconds = 1700000000;
	printer_time(&t, TIME_STAMP_MILLI, out, 8); /* too short: cut as before */
	ck_assert_str_eq(out, "Nov 14 ");
	printer_time(NULL, TIME_RFC3339, out, sizeof(out));
	ck_assert_str_eq(out, "N/A");
	t.nanos = -1;
	printer_time(&t, TIME_RFC3339, out, sizeof(out));
	ck_assert_str_eq(out, "N/A");
}
END_TEST

START_TEST(table_aligned_like_tabwriter)
{
	struct printer p = {.out = OUT_TABLE, .color = true /* never in tables */};
	Flow__LostEvent lost = FLOW__LOST_EVENT__INIT;
	Observer__GetFlowsResponse lr = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	const Observer__GetFlowsResponse *rs[3];
	struct sample a, b;
	char *got;

	sample_init(&a);
	sample_init(&b);
	b.ip.source = "192.168.100.200";
	b.f.verdict = FLOW__VERDICT__DROPPED;
	b.f.summary = "";
	lost.source = FLOW__LOST_EVENT_SOURCE__OBSERVER_EVENTS_QUEUE;
	lost.num_events_lost = 7;
	lr.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS;
	lr.lost_events = &lost;
	rs[0] = &a.r;
	rs[1] = &b.r;
	rs[2] = &lr;
	got = print_all(&p, rs, 3);
	ck_assert_str_eq(
		got, "TIMESTAMP             SOURCE                  DESTINATION      TYPE          "
		     "VERDICT     SUMMARY\n"
		     "Nov 14 22:13:20.123   10.0.0.1:40000          shop/web-1:443   to-stack      "
		     "FORWARDED   TCP Flags: SYN\n"
		     "Nov 14 22:13:20.123   192.168.100.200:40000   shop/web-1:443   to-stack      "
		     "DROPPED     \n"
		     "                      OBSERVER_EVENTS_QUEUE                    EVENTS LOST   "
		     "            CPU(0) - 7\n");
	free(got);
	p.node_name = true;
	got = print_all(&p, rs, 1);
	ck_assert_str_eq(got,
			 "TIMESTAMP             NODE    SOURCE           DESTINATION      TYPE "
			 "      VERDICT     SUMMARY\n"
			 "Nov 14 22:13:20.123   node1   10.0.0.1:40000   shop/web-1:443   "
			 "to-stack   FORWARDED   TCP Flags: SYN\n");
	free(got);
}
END_TEST

START_TEST(dict_blocks)
{
	struct printer p = {.out = OUT_DICT, .node_name = true};
	Flow__NetworkInterface ifc = FLOW__NETWORK_INTERFACE__INIT;
	Flow__Process proc = FLOW__PROCESS__INIT;
	const Observer__GetFlowsResponse *rs[2];
	struct sample a, b;
	char *got;

	sample_init(&a);
	sample_init(&b);
	ifc.name = "eth0";
	proc.comm = "curl";
	proc.pid = 4242;
	b.f.interface = &ifc;
	b.f.source_process = &proc;
	b.f.flow_event = FLOW__FLOW_EVENT__FLOW_EVENT_START;
	b.f.packets_sent = 3;
	b.f.bytes_sent = 180;
	rs[0] = &a.r;
	rs[1] = &b.r;
	got = print_all(&p, rs, 2);
	ck_assert_str_eq(got, "  TIMESTAMP: Nov 14 22:13:20.123\n"
			      "       NODE: node1\n"
			      "     SOURCE: 10.0.0.1:40000\n"
			      "DESTINATION: shop/web-1:443\n"
			      "       TYPE: to-stack\n"
			      "    VERDICT: FORWARDED\n"
			      "    SUMMARY: TCP Flags: SYN\n"
			      "------------\n"
			      "  TIMESTAMP: Nov 14 22:13:20.123\n"
			      "       NODE: node1\n"
			      "     SOURCE: 10.0.0.1:40000\n"
			      "DESTINATION: shop/web-1:443\n"
			      "       TYPE: to-stack\n"
			      "    VERDICT: FORWARDED\n"
			      "    SUMMARY: TCP Flags: SYN\n"
			      "  INTERFACE: eth0\n"
			      "      EVENT: FLOW_EVENT_START\n"
			      "    PACKETS: 3 sent (180 bytes), 0 received (0 bytes)\n"
			      "SRC PROCESS: curl[4242]\n");
	free(got);
}
END_TEST

START_TEST(json_lines_and_lost_events)
{
	struct printer p = {.out = OUT_JSONPB}, c = {.out = OUT_COMPACT};
	Flow__LostEvent lost = FLOW__LOST_EVENT__INIT;
	Google__Protobuf__Int32Value cpu = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
	Observer__GetFlowsResponse lr = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	struct buf want = BUF_INIT;
	struct sample s;

	sample_init(&s);
	ck_assert_int_eq(pb_json_write(&want, &s.r.base), 0);
	buf_putc(&want, '\n');
	assert_prints(&p, &s.r, want.data);
	p.out = OUT_JSON;
	assert_prints(&p, &s.r, want.data);
	buf_free(&want);
	lost.source = FLOW__LOST_EVENT_SOURCE__PERF_EVENT_RING_BUFFER;
	lost.num_events_lost = 12;
	cpu.value = 3;
	lost.cpu = &cpu;
	lr.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS;
	lr.lost_events = &lost;
	assert_prints(&c, &lr, "EVENTS LOST: PERF_EVENT_RING_BUFFER CPU(3) 12\n");
}
END_TEST

/* Node status notices go to stderr, only the ones that say something is wrong. */
START_TEST(node_status_to_stderr)
{
	Relay__NodeStatusEvent ns = RELAY__NODE_STATUS_EVENT__INIT;
	Observer__GetFlowsResponse r = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char *names[] = {"a", "b"};
	struct out w = OUT_INIT(-1), err = OUT_INIT(-1);
	struct printer p = {.out = OUT_COMPACT, .w = &w, .err = &err};

	t.seconds = 1700000000;
	r.time = &t;
	r.node_name = "relay";
	r.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_NODE_STATUS;
	r.node_status = &ns;
	ns.state_change = RELAY__NODE_STATE__NODE_CONNECTED;
	ns.node_names = names;
	ns.n_node_names = 2;
	ck_assert_int_eq(printer_response(&p, &r), 0);
	ck_assert_ptr_null(err.b.data);
	ns.state_change = RELAY__NODE_STATE__NODE_UNAVAILABLE;
	ck_assert_int_eq(printer_response(&p, &r), 0);
	ck_assert_str_eq(err.b.data,
			 "Nov 14 22:13:20.000 [relay]: 2 nodes are unavailable: a, b\n");
	ck_assert_ptr_null(w.b.data);
	out_free(&w);
	out_free(&err);
}
END_TEST

/* Go's tabwriter: a column block ends at a line without a cell in it. */
START_TEST(tabwriter_blocks)
{
	char *r0[] = {"NAMESPACE", "CLUSTER"}, *r1[] = {"a-long-name", "c1"}, *r2[] = {"b"},
	     *r3[] = {"c", "c2"};
	char *const *rows[] = {r0, r1, r2, r3};
	size_t n[] = {2, 2, 1, 2};
	struct buf b = BUF_INIT;

	ck_assert_int_eq(printer_tabwrite(&b, rows, n, 4), 0);
	ck_assert_str_eq(b.data, "NAMESPACE     CLUSTER\n"
				 "a-long-name   c1\n"
				 "b\n"
				 "c   c2\n");
	buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_print");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, compact_forward_line);
	tcase_add_test(tc, compact_reply_and_unknown_direction);
	tcase_add_test(tc, compact_identities);
	tcase_add_test(tc, compact_types);
	tcase_add_test(tc, compact_drop_and_dns);
	tcase_add_test(tc, compact_hosts_and_numeric);
	tcase_add_test(tc, compact_node_name_verdicts_and_auth);
	tcase_add_test(tc, compact_colors);
	tcase_add_test(tc, compact_escapes_terminal_sequences);
	tcase_add_test(tc, time_formats);
	tcase_add_test(tc, table_aligned_like_tabwriter);
	tcase_add_test(tc, dict_blocks);
	tcase_add_test(tc, json_lines_and_lost_events);
	tcase_add_test(tc, node_status_to_stderr);
	tcase_add_test(tc, tabwriter_blocks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
