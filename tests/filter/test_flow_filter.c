/* Unit tests of the filter compiler and matcher (collector/filter/flow_filter.c): Hubble's
 * FlowFilter semantics on collector flows, every field of Hubble's FlowFilter applied (or, for
 * what flows never carry, matching nothing) or refused, and the errors a bad filter gets. */
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flows.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/filter/filter.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/flow_view.h"

/* ---- flow_filter.c -------------------------------------------------------------------------- */

static bool pass(Flow__FlowFilter **allow, size_t na, Flow__FlowFilter **deny, size_t nd,
		 const struct flow *f)
{
	struct errmsg err = {""};
	struct flow_filter_set *fs = flow_filter_set_new(allow, na, deny, nd, &err);
	bool r;

	ck_assert_msg(fs != NULL, "filter rejected: %s", err.text);
	r = flow_filter_set_match(fs, f, &(struct filter_node){.name = "node1"});
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
	struct errmsg err = {""};
	size_t i;

	for (i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++) {
		ff.n_destination_ip = 1;
		ff.destination_ip = bad_ips[i];
		err.text[0] = '\0';
		ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, &err));
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_msg(strstr(err.text, "destination_ip") != NULL, "err: %s", err.text);
		/* The same in a deny list. */
		ck_assert_ptr_null(flow_filter_set_new(NULL, 0, l, 1, &err));
	}
	ff.n_destination_ip = 0;
	for (i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		ff.n_source_port = 1;
		ff.source_port = bad_ports[i];
		ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, &err));
		ck_assert_msg(strstr(err.text, "source_port") != NULL, "err: %s", err.text);
	}
	ff.n_source_port = 0;
	ff.n_protocol = 1;
	ff.protocol = bad_proto;
	ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, &err));
	ck_assert_ptr_nonnull(strstr(err.text, "tcpx"));
	ff.n_protocol = 0;
	ff.n_tcp_flags = 1;
	ff.tcp_flags = nf;
	ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, &err));
}
END_TEST

/* A request's filters are bounded in number and size (a GetFlows of 800,000 filters held the
 * loop for 33 s): refused before anything is compiled, saying which limit and its option. */
START_TEST(filter_limits)
{
	static Flow__FlowFilter ff[FLOW_FILTER_DEFAULT_MAX + 1];
	Flow__FlowFilter *l[FLOW_FILTER_DEFAULT_MAX + 1];
	char *ports[1] = {"443"}, *names[2000];
	struct flow_filter_set *fs;
	struct errmsg err = {""};
	size_t i;

	for (i = 0; i <= FLOW_FILTER_DEFAULT_MAX; i++) {
		flow__flow_filter__init(&ff[i]);
		ff[i].n_destination_port = 1;
		ff[i].destination_port = ports;
		l[i] = &ff[i];
	}
	/* At the limit: allowed, allow and deny together. */
	fs = flow_filter_set_new(l, 60, l + 60, FLOW_FILTER_DEFAULT_MAX - 60, &err);
	ck_assert_ptr_nonnull(fs);
	flow_filter_set_free(fs);
	/* One more, either list. */
	ck_assert_ptr_null(flow_filter_set_new(l, 61, l + 61, FLOW_FILTER_DEFAULT_MAX - 60, &err));
	ck_assert_int_eq(errno, E2BIG);
	ck_assert_msg(strstr(err.text, "too many filters: 101") &&
			      strstr(err.text, "--max-filters"),
		      "%s", err.text);
	ck_assert_ptr_null(flow_filter_set_new(l, FLOW_FILTER_DEFAULT_MAX + 1, NULL, 0, &err));
	/* One filter of 2000 names of 40 bytes: past 64 KiB. */
	for (i = 0; i < 2000; i++)
		names[i] = "a-rather-long-pod-name-0123456789abcdef";
	ff[0].n_destination_port = 0;
	ff[0].n_destination_pod = 2000;
	ff[0].destination_pod = names;
	ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, &err));
	ck_assert_int_eq(errno, E2BIG);
	ck_assert_msg(strstr(err.text, "filters too large") &&
			      strstr(err.text, "--max-filter-bytes"),
		      "%s", err.text);
	/* The options move both limits (0: back to the defaults). */
	flow_filter_set_limits(2, 1 << 20);
	fs = flow_filter_set_new(l, 1, NULL, 0, &err);
	ck_assert_ptr_nonnull(fs);
	flow_filter_set_free(fs);
	ck_assert_ptr_null(flow_filter_set_new(l + 1, 3, NULL, 0, &err));
	ck_assert_ptr_nonnull(strstr(err.text, "at most 2 "));
	flow_filter_set_limits(0, 0);
	ck_assert_ptr_null(flow_filter_set_new(l, 1, NULL, 0, &err));
	fs = flow_filter_set_new(l + 1, 3, NULL, 0, &err);
	ck_assert_ptr_nonnull(fs);
	flow_filter_set_free(fs);
}
END_TEST

/* ---- Hubble's other FlowFilter fields ------------------------------------------------------ */

START_TEST(filter_event_types)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	Flow__EventTypeFilter t = FLOW__EVENT_TYPE_FILTER__INIT, u = FLOW__EVENT_TYPE_FILTER__INIT;
	Flow__EventTypeFilter *one[] = {&t}, *two[] = {&u, &t};

	f.obs_point = FLOW_OBS_TO_NETWORK;
	ff.n_event_type = 1;
	ff.event_type = one;
	ck_assert(allow1(&ff, &f)); /* type 0, no sub type: any event */
	t.type = FLOW_MSG_TRACE;
	ck_assert(allow1(&ff, &f));
	t.match_sub_type = 1;
	t.sub_type = FLOW_OBS_TO_NETWORK;
	ck_assert(allow1(&ff, &f));
	t.sub_type = FLOW_OBS_TO_ENDPOINT;
	ck_assert(!allow1(&ff, &f));
	f.obs_point = FLOW_OBS_TO_ENDPOINT; /* to-endpoint is sub type 0 */
	ck_assert(allow1(&ff, &f));
	t.type = FLOW_MSG_DROP;
	t.match_sub_type = 0;
	ck_assert(!allow1(&ff, &f));
	/* Several: any. */
	u.type = FLOW_MSG_TRACE;
	ff.n_event_type = 2;
	ff.event_type = two;
	ck_assert(allow1(&ff, &f));
	/* A drop event is type drop, whatever its observation point. */
	f.event = FLOW_EVENT_DROP;
	f.verdict = FLOW_VERDICT_DROPPED;
	f.drops = 1;
	ff.n_event_type = 1;
	ff.event_type = one;
	ck_assert(allow1(&ff, &f));
	t.type = FLOW_MSG_TRACE;
	ck_assert(!allow1(&ff, &f));
	/* A DNS event is an L7 record. */
	f = tcp_flow();
	f.event = FLOW_EVENT_DNS;
	f.dns.present = true;
	f.dns.query = "example.com";
	t.type = FLOW_MSG_L7;
	ck_assert(allow1(&ff, &f));
	t.type = FLOW_MSG_TRACE;
	ck_assert(!allow1(&ff, &f));
}
END_TEST

/* A kernel drop reason of this kernel that Hubble has a code for, 0 when there is none. */
static uint32_t reason_with_code(int *code)
{
	uint32_t r;

	for (r = 1; r < drop_reason_kernel_count(); r++)
		if ((*code = drop_reason_hubble_code(r)))
			return r;
	return 0;
}

START_TEST(filter_drop_reason_desc)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	Flow__DropReason want[1];
	int code = 0;
	uint32_t reason = reason_with_code(&code);

	ff.n_drop_reason_desc = 1;
	ff.drop_reason_desc = want;
	want[0] = FLOW__DROP_REASON__POLICY_DENIED;
	ck_assert(!allow1(&ff, &f)); /* a forwarded event has no drop reason */
	if (!reason)
		return; /* no BTF: no kernel reason has a name, hence no code */
	f.event = FLOW_EVENT_DROP;
	f.verdict = FLOW_VERDICT_DROPPED;
	f.drops = 1;
	f.drop_reason = reason;
	want[0] = (Flow__DropReason)code;
	ck_assert(allow1(&ff, &f));
	want[0] = code == FLOW__DROP_REASON__POLICY_DENIED ? FLOW__DROP_REASON__CT_NO_MAP_FOUND
							   : FLOW__DROP_REASON__POLICY_DENIED;
	ck_assert(!allow1(&ff, &f));
	/* Only dropped events: a later forwarded event of the flow keeps its reason, not the
	 * verdict. */
	want[0] = (Flow__DropReason)code;
	f.verdict = FLOW_VERDICT_FORWARDED;
	ck_assert(!allow1(&ff, &f));
}
END_TEST

START_TEST(filter_interface)
{
	struct flow f = tcp_flow(); /* eth0, index 2 */
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	Flow__NetworkInterface a = FLOW__NETWORK_INTERFACE__INIT, b = FLOW__NETWORK_INTERFACE__INIT;
	Flow__NetworkInterface *one[] = {&a}, *two[] = {&a, &b};

	ff.n_interface = 1;
	ff.interface = one;
	a.name = "eth0";
	ck_assert(allow1(&ff, &f));
	a.index = 2;
	ck_assert(allow1(&ff, &f)); /* both must hold */
	a.index = 3;
	ck_assert(!allow1(&ff, &f));
	a.name = "";
	a.index = 2;
	ck_assert(allow1(&ff, &f)); /* by index alone */
	a.name = "lo";
	a.index = 0;
	ck_assert(!allow1(&ff, &f));
	b.name = "eth0";
	ff.n_interface = 2;
	ff.interface = two;
	ck_assert(allow1(&ff, &f)); /* any of them */
	/* An event seen on no interface matches no interface filter. */
	f.ifindex = 0;
	f.ifname[0] = '\0';
	ck_assert(!allow1(&ff, &f));
}
END_TEST

START_TEST(filter_uuid)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	char s[FLOW_UUID_STR_LEN], upper[FLOW_UUID_STR_LEN], *v[] = {s};
	size_t i;

	for (i = 0; i < 16; i++)
		f.uuid[i] = (uint8_t)(0xa0 + i);
	flow_uuid_str(&f, s);
	ff.n_uuid = 1;
	ff.uuid = v;
	ck_assert(allow1(&ff, &f));
	for (i = 0; s[i]; i++)
		upper[i] = (char)toupper((unsigned char)s[i]);
	upper[i] = '\0';
	v[0] = upper;
	ck_assert(allow1(&ff, &f));
	f.uuid[15] ^= 1;
	ck_assert(!allow1(&ff, &f));
}
END_TEST

START_TEST(filter_dns_query)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	char *suffix[] = {"example\\.com\\.$"}, *start[] = {"^www\\."}, *bare[] = {"^example"};
	char *any[] = {"^example", "\\.com\\.$"};

	f.proto = IPPROTO_UDP;
	f.dst.port = 53;
	ff.n_dns_query = 1;
	ff.dns_query = suffix;
	ck_assert(!allow1(&ff, &f)); /* no DNS message */
	f.event = FLOW_EVENT_DNS;
	f.dns.present = true;
	f.dns.query = "www.example.com";
	ck_assert(allow1(&ff, &f)); /* the query as Hubble shows it: with its final dot */
	ff.dns_query = start;
	ck_assert(allow1(&ff, &f));
	ff.dns_query = bare;
	ck_assert(!allow1(&ff, &f));
	ff.n_dns_query = 2;
	ff.dns_query = any;
	ck_assert(allow1(&ff, &f));
}
END_TEST

/* Regexes glibc's regcomp would take gigabytes or seconds to compile are refused before it runs
 * (the fuzzers found "e++++...", "we+)+++..." and "2??????????+++++"), as RE2 (Hubble's)
 * refuses stacked repetitions and counts over 1000; ordinary and large-but-bounded ones still
 * compile. */
START_TEST(filter_regex_blow_ups_refused)
{
	static const char *const ok[] = {
		"^(api|web)-[0-9]+\\.example\\.com\\.$",
		"[[:alpha:]]+x",
		"x{2,5}",
		"a{3,}",
		"[]a]+",
		"[^]a]{2}",
		"a\\{3",
		"a{1000}",
		"a+?",
		"x*?y",
		"((((((((((2?)+)?)+)?)+)?)+)?)+)",
		"(a{30}){30}",
		"(((a{8}){8}){8})",
		"(((((((a+)+)+)+)+)+)+)+",
	};
	static const char *const bad[] = {
		"we++++++++++++++++++++++++++++++++++++++++b",
		"(a{44}){44}",
		"(((a{20}){20}){20})",
		"((a{99}){99}){99}",
		"((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+",
		"(a|b|c|d|e|f|g){300}",
		"we+)++++++++++++++++++++++++++++++++++++++++b", /* a ')' closing nothing, repeated
								  */
		"++++++++++++++++++++++++++++++++++++++++",	 /* a '+' repeating nothing, too */
		"x{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}{2}",
		"weeb02??????????+++++", /* seconds of epsilon closures, not memory */
		"a???",
		"a**",
		"a{1001}",
		"(a{,200}){,200}", /* {,M} is {0,M} to glibc: 250 ms and 260 MB */
		"((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))",
	};
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *l = &ff;
	struct errmsg err;
	char why[300];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(!filter_parse_regex(ok[i], NULL, why, sizeof(why)), "%s: %s", ok[i],
			      why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *q[] = {(char *)bad[i]};
		struct flow_filter_set *fs;

		ck_assert_int_eq(filter_parse_regex(bad[i], NULL, why, sizeof(why)), -EINVAL);
		ck_assert_msg(strstr(why, "too complex"), "%s: %s", bad[i], why);
		ff.n_dns_query = 1;
		ff.dns_query = q;
		err.text[0] = '\0';
		fs = flow_filter_set_new(&l, 1, NULL, 0, &err);
		ck_assert_ptr_null(fs);
		ck_assert_msg(strstr(err.text, "too complex"), "%s: %s", bad[i], err.text);
	}
	/* Each under the limit, five together past the request's budget (FILTER_MAX_REGEX_COST). */
	{
		char *q[10];
		struct flow_filter_set *fs;

		for (i = 0; i < 10; i++)
			q[i] = "(a{1,40}){1,40}";
		ff.n_dns_query = 4;
		ff.dns_query = q;
		fs = flow_filter_set_new(&l, 1, NULL, 0, &err);
		ck_assert_msg(fs != NULL, "%s", err.text);
		flow_filter_set_free(fs);
		ff.n_dns_query = 5;
		ck_assert_ptr_null(flow_filter_set_new(&l, 1, NULL, 0, &err));
		ck_assert_msg(strstr(err.text, "too complex together"), "%s", err.text);
	}
}
END_TEST

static char id_dir[64];

/* Puts an identity file in force for the tests below. */
static void identities_from(const char *content)
{
	struct identity_table *t = NULL;
	struct errmsg err = {""};
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/ids.yaml", id_dir);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(content, fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_msg(identity_table_load(path, &t, &err) == 0, "%s", err.text);
	identities_set(t);
	unlink(path);
}

static const char *const shop_ids = "identities:\n"
				    "  - ip: 10.0.0.1\n"
				    "    namespace: shop\n"
				    "    labels: {app: client}\n"
				    "    workload: {name: client, kind: Deployment}\n"
				    "  - ip: 10.0.0.2\n"
				    "    namespace: shop\n"
				    "    labels: {app: web}\n"
				    "    identity: 4242\n";

START_TEST(filter_numeric_identities)
{
	struct flow f = tcp_flow(); /* 10.0.0.1 -> 10.0.0.2 */
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	uint32_t client, ids[2];
	uint8_t a[16] = {127, 0, 0, 1};

	identities_from(shop_ids);
	client = identities_numeric(4, f.src.addr);
	ck_assert_uint_ge(client, 256);
	ff.n_source_identity = 1;
	ff.source_identity = ids;
	ids[0] = client;
	ck_assert(allow1(&ff, &f));
	ids[0] = 4242;
	ck_assert(!allow1(&ff, &f));
	f.is_reply = true; /* the server is the source now */
	ck_assert(allow1(&ff, &f));
	f.is_reply = false;
	ff.n_source_identity = 0;
	ff.n_destination_identity = 1;
	ff.destination_identity = ids;
	ck_assert(allow1(&ff, &f));
	/* Reserved identities: the host's addresses, the world's. */
	memcpy(f.dst.addr, a, 16);
	ids[0] = 1;
	ck_assert(allow1(&ff, &f));
	inet_pton(AF_INET, "192.0.2.9", f.dst.addr);
	ck_assert(!allow1(&ff, &f));
	ids[1] = 2;
	ff.n_destination_identity = 2;
	ck_assert(allow1(&ff, &f));
	identities_set(NULL);
}
END_TEST

START_TEST(filter_workloads)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	Flow__Workload w = FLOW__WORKLOAD__INIT, *one[] = {&w};

	identities_from(shop_ids);
	ff.n_source_workload = 1;
	ff.source_workload = one;
	w.name = "client";
	ck_assert(allow1(&ff, &f));
	w.kind = "Deployment";
	ck_assert(allow1(&ff, &f));
	w.kind = "StatefulSet";
	ck_assert(!allow1(&ff, &f));
	w.name = "";
	w.kind = "Deployment";
	ck_assert(allow1(&ff, &f)); /* any Deployment */
	w.kind = "";
	ck_assert(allow1(&ff, &f)); /* any workload */
	w.name = "web";
	ck_assert(!allow1(&ff, &f));
	/* The server has no workload in the file: no workload filter matches it. */
	w.name = "";
	ff.n_source_workload = 0;
	ff.n_destination_workload = 1;
	ff.destination_workload = one;
	ck_assert(!allow1(&ff, &f));
	f.is_reply = true;
	ck_assert(allow1(&ff, &f)); /* the client is the destination of a reply */
	identities_set(NULL);
}
END_TEST

START_TEST(filter_processes_and_containers)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	char *curl[] = {"cur*"}, *nginx[] = {"nginx"}, *host[] = {"host"}, *cid[] = {"3f2a"};
	const struct flow_process sp = {.known = true, .comm = "curl"},
				  dp = {.known = true,
					.comm = "nginx",
					.container_id = "3f2a9c0d1e"};

	f.src_proc = &sp;
	f.dst_proc = &dp;
	ff.n_source_process = 1;
	ff.source_process = curl;
	ck_assert(allow1(&ff, &f));
	ff.source_process = nginx;
	ck_assert(!allow1(&ff, &f));
	f.is_reply = true;
	ck_assert(allow1(&ff, &f));
	f.is_reply = false;
	ff.n_source_process = 0;
	ff.n_source_container = 1;
	ff.source_container = host; /* a process in no container */
	ck_assert(allow1(&ff, &f));
	ff.source_container = cid;
	ck_assert(!allow1(&ff, &f));
	ff.n_source_container = 0;
	ff.n_destination_container = 1;
	ff.destination_container = cid;
	ck_assert(allow1(&ff, &f));
	ff.destination_container = host;
	ck_assert(!allow1(&ff, &f));
	/* No process known: no process or container filter matches. */
	f.src_proc = NULL;
	ff.n_destination_container = 0;
	ff.n_source_container = 1;
	ff.source_container = host;
	ck_assert(!allow1(&ff, &f));
}
END_TEST

static bool on_node(Flow__FlowFilter *ff, const struct flow *f, const struct filter_node *node)
{
	struct errmsg err = {""};
	struct flow_filter_set *fs = flow_filter_set_new(&ff, 1, NULL, 0, &err);
	bool r;

	ck_assert_msg(fs != NULL, "filter rejected: %s", err.text);
	r = flow_filter_set_match(fs, f, node);
	flow_filter_set_free(fs);
	return r;
}

START_TEST(filter_node_labels)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;
	char *labels[] = {"zone=a", "k8s:tier=edge"}, *sel[1];
	const struct filter_node node = {"node1", labels, 2};

	ff.n_node_labels = 1;
	ff.node_labels = sel;
	sel[0] = "zone=a";
	ck_assert(on_node(&ff, &f, &node));
	sel[0] = "zone=b";
	ck_assert(!on_node(&ff, &f, &node));
	sel[0] = "tier=edge,zone=a";
	ck_assert(on_node(&ff, &f, &node));
	sel[0] = "k8s:tier=edge";
	ck_assert(on_node(&ff, &f, &node));
	sel[0] = "!gpu";
	ck_assert(on_node(&ff, &f, &node));
	sel[0] = "zone!=a";
	ck_assert(!on_node(&ff, &f, &node));
	sel[0] = "zone";
	ck_assert(on_node(&ff, &f, &node));
	/* A node without labels. */
	sel[0] = "zone=a";
	ck_assert(!on_node(&ff, &f, NULL));
	sel[0] = "!zone";
	ck_assert(on_node(&ff, &f, NULL));
}
END_TEST

/* What no Flowscope flow has: HTTP, trace ids, translated addresses, cluster names, encryption.
 * Such a filter matches nothing (as in Hubble, for flows without them), so as a deny filter it
 * excludes nothing. */
START_TEST(filter_fields_flows_never_have)
{
	struct flow f = tcp_flow();
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *l[] = {&ff};
	Flow__HTTPHeader h = FLOW__HTTPHEADER__INIT, *hs[] = {&h};
	Flow__EventTypeFilter l7 = FLOW__EVENT_TYPE_FILTER__INIT, *l7s[] = {&l7};
	char *code[] = {"200"}, *prefix[] = {"5+"}, *get[] = {"GET"}, *path[] = {"^/api"};
	char *tid[] = {"4bf92f3577b34da6"}, *no_tid[] = {""}, *ip[] = {"10.0.0.1"}, *c[] = {"x"};
	uint64_t iptid[] = {5};
	protobuf_c_boolean yes[] = {1}, no[] = {0}, both[] = {1, 0};

#define NOTHING(n_field, field, value)                                                             \
	do {                                                                                       \
		ff.n_field = sizeof(value) / sizeof(value[0]);                                     \
		ff.field = value;                                                                  \
		ck_assert_msg(!allow1(&ff, &f), #field " matched");                                \
		ck_assert_msg(pass(NULL, 0, l, 1, &f), #field " as a deny filter excluded");       \
		ff.n_field = 0;                                                                    \
	} while (0)
	NOTHING(n_http_status_code, http_status_code, code);
	NOTHING(n_http_status_code, http_status_code, prefix);
	NOTHING(n_http_method, http_method, get);
	NOTHING(n_http_path, http_path, path);
	NOTHING(n_http_url, http_url, path);
	NOTHING(n_http_header, http_header, hs);
	NOTHING(n_trace_id, trace_id, tid);
	NOTHING(n_ip_trace_id, ip_trace_id, iptid);
	NOTHING(n_source_ip_xlated, source_ip_xlated, ip);
	NOTHING(n_source_cluster_name, source_cluster_name, c);
	NOTHING(n_destination_cluster_name, destination_cluster_name, c);
	NOTHING(n_encrypted, encrypted, yes);
	/* HTTP with an l7 event type filter: accepted, matches nothing. */
	l7.type = FLOW_MSG_L7;
	ff.n_event_type = 1;
	ff.event_type = l7s;
	NOTHING(n_http_method, http_method, get);
	ff.n_event_type = 0;
#undef NOTHING
	/* Hubble's own answers for flows without them: no trace id is trace id "", and a flow
	 * that is not encrypted is encrypted: false. */
	ff.n_trace_id = 1;
	ff.trace_id = no_tid;
	ck_assert(allow1(&ff, &f));
	ff.n_trace_id = 0;
	ff.n_encrypted = 1;
	ff.encrypted = no;
	ck_assert(allow1(&ff, &f));
	ff.n_encrypted = 2;
	ff.encrypted = both;
	ck_assert(allow1(&ff, &f));
}
END_TEST

static void refused(Flow__FlowFilter *ff, const char *what)
{
	Flow__FlowFilter *l[] = {ff};
	struct errmsg err = {""};

	ck_assert_msg(flow_filter_set_new(l, 1, NULL, 0, &err) == NULL, "accepted, want '%s'",
		      what);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err.text, what), "'%s' not in '%s'", what, err.text);
	ck_assert_ptr_null(flow_filter_set_new(NULL, 0, l, 1, &err)); /* deny lists too */
}

START_TEST(filter_refusals)
{
	Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *un;
	Flow__FlowFilter__Experimental x = FLOW__FLOW_FILTER__EXPERIMENTAL__INIT;
	Flow__EventTypeFilter trace = FLOW__EVENT_TYPE_FILTER__INIT, *ts[] = {&trace};
	Flow__NetworkInterface longname = FLOW__NETWORK_INTERFACE__INIT, *is[] = {&longname};
	Flow__DropReason bogus[] = {(Flow__DropReason)9999};
	char *cel[] = {"_flow.verdict == 2"}, *re[] = {"(unclosed"}, *uuid[] = {"not-a-uuid"};
	char *status[] = {"600"}, *get[] = {"GET"}, *empty[] = {""}, *ip[] = {"10.0.0.300"};
	/* A FlowFilter with field 41 (varint 1) and 2000 (varint 7), unknown to our protos, and
	 * one whose interface has field 9. */
	static const uint8_t unknown[] = {0xc8, 0x02, 0x01, 0x80, 0x7d, 0x07};
	static const uint8_t nested[] = {0x9a, 0x02, 0x02, 0x48, 0x01};

	x.n_cel_expression = 1;
	x.cel_expression = cel;
	ff.experimental = &x;
	refused(&ff, "FlowFilter.experimental.cel_expression is not supported");
	ff.experimental = NULL;

	un = flow__flow_filter__unpack(NULL, sizeof(unknown), unknown);
	ck_assert_ptr_nonnull(un);
	refused(un, "FlowFilter has field number 41, 2000");
	flow__flow_filter__free_unpacked(un, NULL);
	un = flow__flow_filter__unpack(NULL, sizeof(nested), nested);
	ck_assert_ptr_nonnull(un);
	ck_assert_uint_eq(un->n_interface, 1);
	refused(un, "FlowFilter.interface has field number 9");
	flow__flow_filter__free_unpacked(un, NULL);

	ff.n_dns_query = 1;
	ff.dns_query = re;
	refused(&ff, "invalid dns_query '(unclosed'");
	ff.n_dns_query = 0;
	ff.n_http_path = 1;
	ff.http_path = re;
	refused(&ff, "invalid http_path '(unclosed'");
	ff.n_http_path = 0;
	ff.n_uuid = 1;
	ff.uuid = uuid;
	refused(&ff, "invalid uuid 'not-a-uuid': " FILTER_HINT_UUID);
	ff.n_uuid = 0;
	ff.n_drop_reason_desc = 1;
	ff.drop_reason_desc = bogus;
	refused(&ff, "invalid drop_reason_desc 9999: " FILTER_HINT_DROP_REASON);
	ff.n_drop_reason_desc = 0;
	ff.n_http_status_code = 1;
	ff.http_status_code = status;
	refused(&ff, "invalid http_status_code '600': " FILTER_HINT_HTTP_STATUS);
	ff.n_http_status_code = 0;
	/* HTTP fields with an event type filter that excludes l7, as Hubble refuses them. */
	trace.type = FLOW_MSG_TRACE;
	ff.n_event_type = 1;
	ff.event_type = ts;
	ff.n_http_method = 1;
	ff.http_method = get;
	refused(&ff, "filtering by http_method requires the event type filter to match 'l7'");
	ff.n_http_method = 0;
	ff.n_event_type = 0;
	ff.n_source_cluster_name = 1;
	ff.source_cluster_name = empty;
	refused(&ff, "invalid source_cluster_name ''");
	ff.n_source_cluster_name = 0;
	ff.n_source_ip_xlated = 1;
	ff.source_ip_xlated = ip;
	refused(&ff, "invalid source_ip_xlated '10.0.0.300'");
	ff.n_source_ip_xlated = 0;
	longname.name = "a-name-of-sixteen";
	ff.n_interface = 1;
	ff.interface = is;
	refused(&ff, "invalid interface name 'a-name-of-sixteen'");
	ff.n_interface = 0;
	ff.n_node_labels = 1;
	ff.node_labels = empty;
	refused(&ff, "invalid node_labels ''");
}
END_TEST

/* ---- no field ignored ----------------------------------------------------------------------- */

static Flow__Workload other_workload = {PROTOBUF_C_MESSAGE_INIT(&flow__workload__descriptor),
					"nope", "Job"};
static Flow__NetworkInterface lo_iface = {
	PROTOBUF_C_MESSAGE_INIT(&flow__network_interface__descriptor), 1, "lo"};
static Flow__EventTypeFilter drop_type = {
	PROTOBUF_C_MESSAGE_INIT(&flow__event_type_filter__descriptor), FLOW_MSG_DROP, 0, 0};
static Flow__HTTPHeader any_header = {PROTOBUF_C_MESSAGE_INIT(&flow__httpheader__descriptor), "",
				      ""};
static Flow__TCPFlags fin_flag = {PROTOBUF_C_MESSAGE_INIT(&flow__tcpflags__descriptor), 1};
static Flow__FlowFilter__Experimental cel = {
	PROTOBUF_C_MESSAGE_INIT(&flow__flow_filter__experimental__descriptor), 1,
	(char *[]){"true"}};

/* For every FlowFilter field, a value the sample flow (10.0.0.1:40000 -> 10.0.0.2:443, a TCP SYN
 * trace event on eth0, no identity file, no process) does not have: a filter with it alone must
 * not match, so a field the compiler ignored would fail here. NULL refusal: refused instead. */
static const struct {
	const char *field;
	void *value; /* the repeated field's array of one, or the message */
	const char *refusal;
} restricting[] = {
	{"uuid", (char *[]){"00000000-0000-0000-0000-000000000001"}},
	{"source_ip", (char *[]){"10.9.9.9"}},
	{"source_ip_xlated", (char *[]){"10.0.0.1"}},
	{"source_pod", (char *[]){"shop/"}},
	{"source_fqdn", (char *[]){"*.example.com"}},
	{"source_label", (char *[]){"app=web"}},
	{"source_service", (char *[]){"web"}},
	{"source_workload", (Flow__Workload *[]){&other_workload}},
	{"source_cluster_name", (char *[]){"default"}},
	{"destination_ip", (char *[]){"10.9.9.9"}},
	{"destination_pod", (char *[]){"shop/"}},
	{"destination_fqdn", (char *[]){"*.example.com"}},
	{"destination_label", (char *[]){"app=web"}},
	{"destination_service", (char *[]){"web"}},
	{"destination_workload", (Flow__Workload *[]){&other_workload}},
	{"destination_cluster_name", (char *[]){"default"}},
	{"traffic_direction", (int[]){FLOW__TRAFFIC_DIRECTION__INGRESS}},
	{"verdict", (int[]){FLOW__VERDICT__DROPPED}},
	{"drop_reason_desc", (int[]){FLOW__DROP_REASON__POLICY_DENIED}},
	{"interface", (Flow__NetworkInterface *[]){&lo_iface}},
	{"event_type", (Flow__EventTypeFilter *[]){&drop_type}},
	{"http_status_code", (char *[]){"200"}},
	{"http_method", (char *[]){"GET"}},
	{"http_path", (char *[]){"/"}},
	{"http_url", (char *[]){"/"}},
	{"http_header", (Flow__HTTPHeader *[]){&any_header}},
	{"protocol", (char *[]){"udp"}},
	{"source_port", (char *[]){"1"}},
	{"destination_port", (char *[]){"1"}},
	{"reply", (protobuf_c_boolean[]){1}},
	{"dns_query", (char *[]){"."}},
	{"source_identity", (uint32_t[]){12345}},
	{"destination_identity", (uint32_t[]){12345}},
	{"tcp_flags", (Flow__TCPFlags *[]){&fin_flag}},
	{"node_name", (char *[]){"other"}},
	{"node_labels", (char *[]){"zone=a"}},
	{"ip_version", (int[]){FLOW__IPVERSION__IPv6}},
	{"trace_id", (char *[]){"4bf92f3577b34da6"}},
	{"ip_trace_id", (uint64_t[]){5}},
	{"encrypted", (protobuf_c_boolean[]){1}},
	{"experimental", &cel, "FlowFilter.experimental.cel_expression is not supported"},
	{"graph_node", (char *[]){"svc:shop/web"}},
	{"graph_edge", (char *[]){"e:a>b"}},
	{"source_process", (char *[]){"nginx"}},
	{"destination_process", (char *[]){"nginx"}},
	{"source_container", (char *[]){"host"}},
	{"destination_container", (char *[]){"host"}},
};

START_TEST(no_flowfilter_field_is_ignored)
{
	const ProtobufCMessageDescriptor *d = &flow__flow_filter__descriptor;
	struct flow f = tcp_flow();
	unsigned int i;
	size_t k;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT;

		for (k = 0; k < sizeof(restricting) / sizeof(restricting[0]); k++)
			if (!strcmp(restricting[k].field, fd->name))
				break;
		ck_assert_msg(k < sizeof(restricting) / sizeof(restricting[0]),
			      "FlowFilter.%s: no value in restricting[]; add one, and make "
			      "flow_filter.c apply or refuse the field",
			      fd->name);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED)
			*(size_t *)((char *)&ff + fd->quantifier_offset) = 1;
		*(void **)((char *)&ff + fd->offset) = restricting[k].value;
		if (restricting[k].refusal)
			refused(&ff, restricting[k].refusal);
		else
			ck_assert_msg(!on_node(&ff, &f, &(struct filter_node){.name = "node1"}),
				      "FlowFilter.%s is ignored: the flow matched", fd->name);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flow_filter");
	TCase *t = tcase_create("flow_filter"), *h = tcase_create("hubble_fields");
	SRunner *r;
	int failed;

	tcase_add_test(t, filter_ips_ports_protocols);
	tcase_add_test(t, filter_reply_sees_swapped_endpoints);
	tcase_add_test(t, filter_enums_node_and_lists);
	tcase_add_test(t, filter_errors);
	tcase_add_test(t, filter_limits);
	tcase_add_test(h, filter_event_types);
	tcase_add_test(h, filter_drop_reason_desc);
	tcase_add_test(h, filter_interface);
	tcase_add_test(h, filter_uuid);
	tcase_add_test(h, filter_dns_query);
	tcase_add_test(h, filter_regex_blow_ups_refused);
	tcase_add_test(h, filter_numeric_identities);
	tcase_add_test(h, filter_workloads);
	tcase_add_test(h, filter_processes_and_containers);
	tcase_add_test(h, filter_node_labels);
	tcase_add_test(h, filter_fields_flows_never_have);
	tcase_add_test(h, filter_refusals);
	tcase_add_test(h, no_flowfilter_field_is_ignored);
	suite_add_tcase(s, t);
	suite_add_tcase(s, h);
	r = srunner_create(s);
	strcpy(id_dir, "/tmp/test_flow_filter.XXXXXX");
	if (!mkdtemp(id_dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	rmdir(id_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
