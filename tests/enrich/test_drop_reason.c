/* Unit tests of the drop reason table (collector/enrich/drop_reason.c): each row's class is the
 * one decided here (a list of LOSS and NOT-LOSS names kept next to the reasons, so a row changed
 * or added without a decision fails), every reason of the running kernel's BTF has a row, a
 * reason nobody knows is a loss, and the main losses carry their Hubble codes.
 * `test_drop_reason --markdown` prints the table for the documentation instead. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/drop_reason.h"
#include "flow.pb-c.h"

/* Packets really lost: policy, full queues and buffers, bad or malformed packets, no route,
 * neighbours, martians, tunnels, memory. */
static const char *const expect_loss[] = {
	"SOCKET_FILTER",
	"SOCKET_RCVBUFF",
	"PKT_TOO_SMALL",
	"TCP_CSUM",
	"UDP_CSUM",
	"NETFILTER_DROP",
	"IP_CSUM",
	"IP_INHDR",
	"IP_RPFILTER",
	"UNICAST_IN_L2_MULTICAST",
	"XFRM_POLICY",
	"PROTO_MEM",
	"TCP_AUTH_HDR",
	"TCP_MD5NOTFOUND",
	"TCP_MD5UNEXPECTED",
	"TCP_MD5FAILURE",
	"TCP_AONOTFOUND",
	"TCP_AOUNEXPECTED",
	"TCP_AOKEYNOTFOUND",
	"TCP_AOFAILURE",
	"SOCKET_BACKLOG",
	"TCP_ZEROWINDOW",
	"TCP_LISTEN_OVERFLOW",
	"TCP_OFO_QUEUE_PRUNE",
	"IP_OUTNOROUTES",
	"BPF_CGROUP_EGRESS",
	"IPV6DISABLED",
	"NEIGH_CREATEFAIL",
	"NEIGH_FAILED",
	"NEIGH_QUEUEFULL",
	"NEIGH_DEAD",
	"NEIGH_HH_FILLFAIL",
	"TC_EGRESS",
	"SECURITY_HOOK",
	"QDISC_DROP",
	"QDISC_OVERLIMIT",
	"QDISC_CONGESTED",
	"CAKE_FLOOD",
	"FQ_BAND_LIMIT",
	"FQ_HORIZON_LIMIT",
	"FQ_FLOW_LIMIT",
	"CPU_BACKLOG",
	"XDP",
	"TC_INGRESS",
	"UNHANDLED_PROTO",
	"SKB_CSUM",
	"SKB_GSO_SEG",
	"SKB_UCOPY_FAULT",
	"DEV_HDR",
	"DEV_READY",
	"FULL_RING",
	"NOMEM",
	"HDR_TRUNC",
	"TAP_FILTER",
	"TAP_TXFILTER",
	"ICMP_CSUM",
	"INVALID_PROTO",
	"IP_INADDRERRORS",
	"IP_INNOROUTES",
	"IP_LOCAL_SOURCE",
	"IP_INVALID_SOURCE",
	"IP_LOCALNET",
	"IP_INVALID_DEST",
	"PKT_TOO_BIG",
	"FRAG_REASM_TIMEOUT",
	"FRAG_TOO_FAR",
	"TCP_MINTTL",
	"IPV6_BAD_EXTHDR",
	"IPV6_TOO_MANY_EXTHDRS",
	"IPV6_NDISC_FRAG",
	"IPV6_NDISC_HOP_LIMIT",
	"IPV6_NDISC_BAD_CODE",
	"IPV6_NDISC_BAD_OPTIONS",
	"TC_COOKIE_ERROR",
	"TC_CHAIN_NOTFOUND",
	"TC_RECLASSIFY_LOOP",
	"VXLAN_INVALID_HDR",
	"VXLAN_VNI_NOT_FOUND",
	"MAC_INVALID_SOURCE",
	"VXLAN_ENTRY_EXISTS",
	"NO_TX_TARGET",
	"IP_TUNNEL_ECN",
	"TUNNEL_TXINFO",
	"LOCAL_MAC",
	"ARP_PVLAN_DISABLE",
	"MAC_IEEE_MAC_CONTROL",
	"BRIDGE_INGRESS_STP_STATE",
	"CAN_RX_INVALID_FRAME",
	"CANFD_RX_INVALID_FRAME",
	"CANXL_RX_INVALID_FRAME",
	"PFMEMALLOC",
	"DUALPI2_STEP_DROP",
	"PSP_INPUT",
	"PSP_OUTPUT",
	"RECURSION_LIMIT",
	"SKB_RX_HEADROOM",
	"IP_TTL_EXCEEDED",
};

/* Healthy stack behaviour: refusals answered by RST or ICMP, duplicate, stale and
 * out-of-window TCP segments, aborts, copies, purges, frames for other hosts. */
static const char *const expect_not_loss[] = {
	"NOT_DROPPED_YET",
	"CONSUMED",
	"NOT_SPECIFIED",
	"NO_SOCKET",
	"SOCKET_CLOSE",
	"UNIX_DISCONNECT",
	"UNIX_SKIP_OOB",
	"OTHERHOST",
	"IP_NOPROTO",
	"TCP_FLAGS",
	"TCP_ABORT_ON_DATA",
	"TCP_OLD_DATA",
	"TCP_OVERWINDOW",
	"TCP_OFOMERGE",
	"TCP_RFC7323_PAWS",
	"TCP_RFC7323_PAWS_ACK",
	"TCP_RFC7323_TW_PAWS",
	"TCP_RFC7323_TSECR",
	"TCP_OLD_SEQUENCE",
	"TCP_INVALID_SEQUENCE",
	"TCP_INVALID_END_SEQUENCE",
	"TCP_INVALID_ACK_SEQUENCE",
	"TCP_RESET",
	"TCP_INVALID_SYN",
	"TCP_CLOSE",
	"TCP_FASTOPEN",
	"TCP_OLD_ACK",
	"TCP_TOO_OLD_ACK",
	"TCP_ACK_UNSENT_DATA",
	"TCP_OFO_DROP",
	"DUP_FRAG",
	"IPV6_NDISC_NS_OTHERHOST",
	"QUEUE_PURGE",
	"PACKET_SOCK_ERROR",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int listed(const char *const *list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return 1;
	return 0;
}

/* The value of a reason name on the running kernel, or -1. */
static long value_of(const char *name)
{
	uint32_t v, n = drop_reason_kernel_count();

	for (v = 0; v < n; v++)
		if (!strcmp(drop_reason_kernel_name(v), name))
			return v;
	return -1;
}

/* One test per row: its class is the one this file decided, and its other columns fit. */
START_TEST(row_has_its_decided_class)
{
	size_t n;
	const struct drop_reason_row *r = &drop_reason_table(&n)[_i];
	int loss = listed(expect_loss, N(expect_loss), r->name);
	int keep = listed(expect_not_loss, N(expect_not_loss), r->name);

	ck_assert_msg(loss + keep == 1, "%s: decided %s", r->name,
		      loss + keep ? "twice" : "nowhere (add it to a list above)");
	ck_assert_msg(r->class == (loss ? DROP_CLASS_LOSS : DROP_CLASS_NOT_LOSS),
		      "%s is %s in the table", r->name,
		      r->class == DROP_CLASS_LOSS ? "LOSS" : "NOT LOSS");
	ck_assert_int_eq(drop_reason_class(r->name), r->class);
	ck_assert_ptr_eq(drop_reason_row(r->name), r);
	ck_assert_msg(r->why && strlen(r->why) > 10, "%s has no why", r->name);
	if (r->class == DROP_CLASS_NOT_LOSS) {
		ck_assert_int_eq(r->hubble, 0);
		ck_assert_int_eq(drop_reason_hubble(r->name), 0);
	} else {
		ck_assert_int_eq(drop_reason_hubble(r->name), r->hubble);
		ck_assert_msg(!r->hubble || protobuf_c_enum_descriptor_get_value(
						    &flow__drop_reason__descriptor, r->hubble),
			      "%s: %d is no flow.DropReason", r->name, r->hubble);
	}
}
END_TEST

START_TEST(every_decided_name_is_a_row)
{
	size_t i, n;

	drop_reason_table(&n);
	ck_assert_uint_eq(n, N(expect_loss) + N(expect_not_loss));
	for (i = 0; i < N(expect_loss); i++)
		ck_assert_msg(drop_reason_row(expect_loss[i]), "%s: no row", expect_loss[i]);
	for (i = 0; i < N(expect_not_loss); i++)
		ck_assert_msg(drop_reason_row(expect_not_loss[i]), "%s: no row",
			      expect_not_loss[i]);
}
END_TEST

START_TEST(every_reason_of_this_kernel_is_classified)
{
	uint32_t v, n = drop_reason_kernel_count(), named = 0;

	/* 6.18 has 129 (NOT_DROPPED_YET .. SKB_RX_HEADROOM), 6.18.44 130 (IPV6_TOO_MANY_EXTHDRS);
	 * any kernel with drop reasons in BTF has dozens. */
	ck_assert_uint_ge(n, 60);
	for (v = 0; v < n; v++) {
		const char *k = drop_reason_kernel_name(v);

		if (!strncmp(k, "REASON_", 7))
			continue; /* a gap in the enum */
		named++;
		ck_assert_msg(drop_reason_row(k), "kernel reason %u %s has no row: decide it", v,
			      k);
		/* What the probe is loaded with agrees with the row. */
		ck_assert_int_eq(drop_reason_is_loss(v), drop_reason_class(k) == DROP_CLASS_LOSS);
		ck_assert_int_eq(drop_reason_hubble_code(v), drop_reason_hubble(k));
	}
	ck_assert_uint_ge(named, 60);
	ck_assert_str_eq(drop_reason_kernel_name(0), "NOT_DROPPED_YET");
	ck_assert_str_eq(drop_reason_kernel_name(1), "CONSUMED");
	ck_assert_str_eq(drop_reason_kernel_name(2), "NOT_SPECIFIED");
	ck_assert_int_eq(value_of("MAX"), -1); /* a count, not a reason */
}
END_TEST

START_TEST(unknown_reasons_are_losses)
{
	ck_assert_ptr_null(drop_reason_row("SOMETHING_NEW"));
	ck_assert_int_eq(drop_reason_class("SOMETHING_NEW"), DROP_CLASS_LOSS);
	ck_assert_int_eq(drop_reason_hubble("SOMETHING_NEW"), 0);
	/* A value past this kernel's enum (a newer one's), past the probe's map, a subsystem's. */
	ck_assert(drop_reason_is_loss(drop_reason_kernel_count()));
	ck_assert(drop_reason_is_loss(5000));
	ck_assert(drop_reason_is_loss(0x00010001)); /* SKB_DROP_REASON_SUBSYS_MAC80211_... */
	ck_assert_str_eq(drop_reason_kernel_name(5000), "REASON_5000");
	ck_assert_int_eq(drop_reason_hubble_code(5000), 0);
}
END_TEST

START_TEST(main_losses_have_hubble_codes)
{
	static const struct {
		const char *k;
		int hubble;
	} want[] = {
		{"NETFILTER_DROP", FLOW__DROP_REASON__POLICY_DENIED},
		{"TC_INGRESS", FLOW__DROP_REASON__POLICY_DENIED},
		{"TC_EGRESS", FLOW__DROP_REASON__POLICY_DENIED},
		{"XDP", FLOW__DROP_REASON__POLICY_DENIED},
		{"BPF_CGROUP_EGRESS", FLOW__DROP_REASON__POLICY_DENIED},
		{"TCP_CSUM", FLOW__DROP_REASON__INVALID_PACKET_DROPPED},
		{"UDP_CSUM", FLOW__DROP_REASON__INVALID_PACKET_DROPPED},
		{"IP_CSUM", FLOW__DROP_REASON__INVALID_PACKET_DROPPED},
		{"ICMP_CSUM", FLOW__DROP_REASON__INVALID_PACKET_DROPPED},
		{"PKT_TOO_SMALL", FLOW__DROP_REASON__INVALID_PACKET_DROPPED},
		{"IP_OUTNOROUTES", FLOW__DROP_REASON__FIB_LOOKUP_FAILED},
		{"IP_INNOROUTES", FLOW__DROP_REASON__FIB_LOOKUP_FAILED},
		{"IP_RPFILTER", FLOW__DROP_REASON__INVALID_SOURCE_IP},
		{"IP_INVALID_SOURCE", FLOW__DROP_REASON__INVALID_SOURCE_IP},
		{"IPV6_BAD_EXTHDR", FLOW__DROP_REASON__INVALID_IPV6_EXTENSION_HEADER},
		{"IPV6_TOO_MANY_EXTHDRS", FLOW__DROP_REASON__INVALID_IPV6_EXTENSION_HEADER},
		{"IP_INADDRERRORS", FLOW__DROP_REASON__STALE_OR_UNROUTABLE_IP},
		{"IP_TTL_EXCEEDED", FLOW__DROP_REASON__TTL_EXCEEDED},
		/* Full queues and buffers have no Cilium equivalent. */
		{"SOCKET_RCVBUFF", 0},
		{"QDISC_DROP", 0},
		/* Not losses: no code, whatever Cilium calls a similar drop. */
		{"NO_SOCKET", 0},
		{"TCP_ABORT_ON_DATA", 0},
	};
	size_t i;
	long v;

	for (i = 0; i < N(want); i++)
		ck_assert_msg(drop_reason_hubble(want[i].k) == want[i].hubble, "%s: %d, want %d",
			      want[i].k, drop_reason_hubble(want[i].k), want[i].hubble);
	v = value_of("NETFILTER_DROP");
	ck_assert_int_ge(v, 0);
	ck_assert_int_eq(drop_reason_hubble_code(v), FLOW__DROP_REASON__POLICY_DENIED);
	ck_assert(drop_reason_is_loss(v));
	v = value_of("NO_SOCKET");
	ck_assert_int_ge(v, 0);
	ck_assert(!drop_reason_is_loss(v));
}
END_TEST

/* The table as the README's list: one line per class, then every row. */
static void print_markdown(void)
{
	size_t i, n, k;
	const struct drop_reason_row *t = drop_reason_table(&n);
	int c;

	for (c = 0; c < 2; c++) {
		for (i = 0, k = 0; i < n; i++)
			k += t[i].class == (enum drop_class)c;
		printf("%s: %zu reasons\n\n| kernel reason | Hubble drop_reason_desc | why |\n"
		       "| --- | --- | --- |\n",
		       c == DROP_CLASS_LOSS ? "Losses" : "Not losses", k);
		for (i = 0; i < n; i++) {
			const ProtobufCEnumValue *v;

			if (t[i].class != (enum drop_class)c)
				continue;
			v = t[i].hubble ? protobuf_c_enum_descriptor_get_value(
						  &flow__drop_reason__descriptor, t[i].hubble)
					: NULL;
			printf("| %s | %s | %s |\n", t[i].name, v ? v->name : "-", t[i].why);
		}
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	Suite *s = suite_create("drop_reason");
	TCase *t = tcase_create("table");
	SRunner *r;
	size_t n;
	int failed;

	if (argc > 1 && !strcmp(argv[1], "--markdown")) {
		print_markdown();
		return 0;
	}
	drop_reason_table(&n);
	tcase_add_loop_test(t, row_has_its_decided_class, 0, (int)n);
	tcase_add_test(t, every_decided_name_is_a_row);
	tcase_add_test(t, every_reason_of_this_kernel_is_classified);
	tcase_add_test(t, unknown_reasons_are_losses);
	tcase_add_test(t, main_losses_have_hubble_codes);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
