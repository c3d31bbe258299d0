/* Unit tests of the filter compiler and matcher (collector/filter/flow_filter.c): Hubble's
 * FlowFilter semantics on collector flows, and the errors a bad filter gets. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flows.h"
#include "flowscope/filter/flow_filter.h"

/* ---- flow_filter.c -------------------------------------------------------------------------- */

static bool pass(Flow__FlowFilter **allow, size_t na, Flow__FlowFilter **deny, size_t nd,
		 const struct flow *f)
{
	struct errmsg err = {""};
	struct flow_filter_set *fs = flow_filter_set_new(allow, na, deny, nd, &err);
	bool r;

	ck_assert_msg(fs != NULL, "filter rejected: %s", err.text);
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

int main(void)
{
	Suite *s = suite_create("flow_filter");
	TCase *t = tcase_create("flow_filter");
	SRunner *r;
	int failed;

	tcase_add_test(t, filter_ips_ports_protocols);
	tcase_add_test(t, filter_reply_sees_swapped_endpoints);
	tcase_add_test(t, filter_enums_node_and_lists);
	tcase_add_test(t, filter_errors);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
