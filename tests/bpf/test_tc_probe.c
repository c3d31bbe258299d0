/* BPF tests of the TC probe (probes/flow_tc.bpf.c), loaded through the real loader: crafted
 * frames go through BPF_PROG_TEST_RUN and the flow map entries and ring records are checked.
 * Attach/detach and real loopback traffic run in a network namespace of the test's own.
 * These need root; as root nothing is skipped, without it every test fails. */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flowscope/record.h"
#include "flowscope/base/clock.h"
#include "flowscope/pipeline/flow_decode.h"
#include "flowscope/probes/probe_tc.h"
#include "flowscope/probes/ring_reader.h"
#include "pktgen.h"

#define TC_ACT_UNSPEC (-1)
#define MAX_RECS 4096

static struct probe_tc *probe;
static struct ring_buffer *rb;
static struct flow_record recs[MAX_RECS];
static int nrecs;

static struct flow_dns_record dns_recs[64];
static int ndns;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (*(uint16_t *)data == FLOW_REC_DNS) {
		ck_assert_uint_eq(size, sizeof(struct flow_dns_record));
		if (ndns < 64)
			memcpy(&dns_recs[ndns], data, size);
		ndns++;
		return 0;
	}
	ck_assert_uint_eq(*(uint16_t *)data, FLOW_REC_TC);
	ck_assert_uint_eq(size, sizeof(struct flow_record));
	if (nrecs < MAX_RECS)
		memcpy(&recs[nrecs], data, sizeof(struct flow_record));
	nrecs++;
	return 0;
}

static void open_probe(uint32_t ring_bytes)
{
	struct probe_tc_opts opts = {.ring_bytes = ring_bytes};
	const int *fds;
	int n, i;

	ck_assert_msg(geteuid() == 0, "BPF tests need root (CAP_BPF, CAP_NET_ADMIN)");
	ck_assert_int_eq(probe_tc_open(&probe, &opts, NULL), 0);
	n = probe_tc_ring_fds(probe, &fds);
	ck_assert_int_gt(n, 0);
	rb = ring_buffer__new(fds[0], on_record, NULL, NULL);
	ck_assert_ptr_nonnull(rb);
	for (i = 1; i < n; i++)
		ck_assert_int_eq(ring_buffer__add(rb, fds[i], on_record, NULL), 0);
	nrecs = 0;
	ndns = 0;
}

static void setup(void)
{
	open_probe(0);
}

static void teardown(void)
{
	ring_buffer__free(rb);
	rb = NULL;
	probe_tc_close(probe);
	probe = NULL;
}

/* Runs one frame through the ingress or egress program; returns the records it produced. */
static int run(const struct pkt_spec *s, int egress)
{
	uint8_t buf[2048];
	size_t len = pkt_build(s, buf, sizeof(buf));
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = len, .repeat = 1);
	int before = nrecs;

	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(bpf_prog_test_run_opts(probe_tc_prog_fd(probe, egress), &opts), 0);
	ck_assert_int_eq((int)opts.retval, TC_ACT_UNSPEC);
	ring_buffer__consume(rb);
	return nrecs - before;
}

static int run_raw(const uint8_t *buf, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = len, .repeat = 1);
	int before = nrecs;

	ck_assert_int_eq(bpf_prog_test_run_opts(probe_tc_prog_fd(probe, 0), &opts), 0);
	ck_assert_int_eq((int)opts.retval, TC_ACT_UNSPEC);
	ring_buffer__consume(rb);
	return nrecs - before;
}

static int map_count(void)
{
	struct flow_key k, next;
	int fd = probe_tc_flow_map_fd(probe), n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* The canonical key for a flow between a:pa and b:pb (either order). */
static struct flow_key mkkey(int family, const char *a, uint16_t pa, const char *b, uint16_t pb,
			     uint8_t proto)
{
	struct flow_key k;
	uint8_t x[16] = {0}, y[16] = {0};
	int c;

	memset(&k, 0, sizeof(k));
	inet_pton(family == 6 ? AF_INET6 : AF_INET, a, x);
	inet_pton(family == 6 ? AF_INET6 : AF_INET, b, y);
	c = memcmp(x, y, 16);
	/* The probe compares the addresses as two native-endian u64 words. */
	{
		uint64_t x0, x1, y0, y1;

		memcpy(&x0, x, 8);
		memcpy(&x1, x + 8, 8);
		memcpy(&y0, y, 8);
		memcpy(&y1, y + 8, 8);
		c = x0 != y0 ? (x0 < y0 ? -1 : 1) : x1 != y1 ? (x1 < y1 ? -1 : 1) : 0;
	}
	if (c > 0 || (c == 0 && pa > pb)) {
		memcpy(k.addr[0], y, 16);
		memcpy(k.addr[1], x, 16);
		k.port[0] = pb;
		k.port[1] = pa;
	} else {
		memcpy(k.addr[0], x, 16);
		memcpy(k.addr[1], y, 16);
		k.port[0] = pa;
		k.port[1] = pb;
	}
	k.ifindex = 1; /* BPF_PROG_TEST_RUN runs on the netns loopback device */
	k.proto = proto;
	k.family = family;
	return k;
}

static int lookup(const struct flow_key *k, struct flow_state *st)
{
	return bpf_map_lookup_elem(probe_tc_flow_map_fd(probe), k, st);
}

/* The endpoint of the key that is a:pa. */
static int side_of(const struct flow_key *k, int family, const char *a, uint16_t pa)
{
	uint8_t x[16] = {0};

	inet_pton(family == 6 ? AF_INET6 : AF_INET, a, x);
	return !(memcmp(k->addr[0], x, 16) == 0 && k->port[0] == pa);
}

#define C4 "10.1.0.2"
#define S4 "10.2.0.9"
#define C6 "fd00:1::2"
#define S6 "fd00:2::9"

static struct pkt_spec tcp4(const char *src, uint16_t sp, const char *dst, uint16_t dp,
			    uint8_t flags, int payload)
{
	struct pkt_spec s = {.family = 4,
			     .src = src,
			     .dst = dst,
			     .proto = IPPROTO_TCP,
			     .sport = sp,
			     .dport = dp,
			     .tcp_flags = flags,
			     .payload = payload};
	return s;
}

START_TEST(tcp_handshake_and_close)
{
	struct flow_key k = mkkey(4, C4, 40000, S4, 443, IPPROTO_TCP);
	int cside = side_of(&k, 4, C4, 40000);
	struct pkt_spec syn = tcp4(C4, 40000, S4, 443, FLOW_TCP_SYN, 0);
	struct pkt_spec synack = tcp4(S4, 443, C4, 40000, FLOW_TCP_SYN | FLOW_TCP_ACK, 0);
	struct pkt_spec ack = tcp4(C4, 40000, S4, 443, FLOW_TCP_ACK, 0);
	struct pkt_spec data = tcp4(C4, 40000, S4, 443, FLOW_TCP_ACK | FLOW_TCP_PSH, 100);
	struct pkt_spec rdata = tcp4(S4, 443, C4, 40000, FLOW_TCP_ACK | FLOW_TCP_PSH, 1000);
	struct pkt_spec fin = tcp4(C4, 40000, S4, 443, FLOW_TCP_ACK | FLOW_TCP_FIN, 0);
	struct pkt_spec rfin = tcp4(S4, 443, C4, 40000, FLOW_TCP_ACK | FLOW_TCP_FIN, 0);
	struct flow_state st;

	/* SYN on egress: the flow starts, the client is the initiator. */
	ck_assert_int_eq(run(&syn, 1), 1);
	ck_assert_uint_eq(recs[0].type, FLOW_REC_TC);
	ck_assert_uint_eq(recs[0].version, FLOW_RECORD_VERSION);
	ck_assert_uint_eq(recs[0].events, FLOW_EV_START | FLOW_EV_TCP_FLAGS);
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
	ck_assert_uint_eq(recs[0].state.init_side, cside);
	ck_assert_uint_eq(recs[0].state.init_tc_dir, FLOW_TC_EGRESS);
	ck_assert_uint_eq(recs[0].pkt_dir, 0);
	ck_assert_uint_eq(recs[0].tc_dir, FLOW_TC_EGRESS);
	ck_assert_uint_eq(recs[0].pkt_tcp_flags, FLOW_TCP_SYN);
	ck_assert_uint_eq(recs[0].pkt_len, 14 + 20 + 20);
	ck_assert_uint_eq(recs[0].state.packets[0], 1);
	ck_assert_uint_gt(recs[0].ts_ns, 0);

	/* SYN-ACK on ingress: a new flag in the reply direction, one record. */
	ck_assert_int_eq(run(&synack, 0), 1);
	ck_assert_uint_eq(recs[1].events, FLOW_EV_TCP_FLAGS);
	ck_assert_uint_eq(recs[1].pkt_dir, 1);
	ck_assert_uint_eq(recs[1].tc_dir, FLOW_TC_INGRESS);
	ck_assert_uint_eq(recs[1].state.packets[1], 1);

	/* Ordinary packets: counted, never recorded. */
	ck_assert_int_eq(run(&ack, 1), 0);
	ck_assert_int_eq(run(&data, 1), 0);
	ck_assert_int_eq(run(&data, 1), 0);
	ck_assert_int_eq(run(&rdata, 0), 0);
	ck_assert_int_eq(run(&ack, 1), 0);

	/* FIN each way: one record each; a retransmitted FIN is not new. */
	ck_assert_int_eq(run(&fin, 1), 1);
	ck_assert_uint_eq(recs[2].pkt_dir, 0);
	ck_assert(recs[2].pkt_tcp_flags & FLOW_TCP_FIN);
	ck_assert_int_eq(run(&fin, 1), 0);
	ck_assert_int_eq(run(&rfin, 0), 1);
	ck_assert_uint_eq(recs[3].pkt_dir, 1);
	ck_assert_int_eq(run(&ack, 1), 0);

	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.packets[0], 8); /* syn, ack, data x2, ack, fin x2, ack */
	ck_assert_uint_eq(st.packets[1], 3); /* synack, rdata, rfin */
	ck_assert_uint_eq(st.bytes[0], 54 * 6 + 154 * 2);
	ck_assert_uint_eq(st.bytes[1], 54 * 2 + 1054);
	ck_assert_uint_eq(st.tcp_flags[0],
			  FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_PSH | FLOW_TCP_FIN);
	ck_assert_uint_eq(st.tcp_flags[1],
			  FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_PSH | FLOW_TCP_FIN);
	ck_assert_uint_eq(st.init_side, cside);
	ck_assert_uint_ge(st.last_tick, st.first_tick);
	ck_assert_int_eq(map_count(), 1);
}
END_TEST

START_TEST(tcp_reverse_order_endpoints)
{
	/* The client has the higher address: the key is still canonical, orientation kept. */
	struct flow_key k = mkkey(4, S4, 40001, C4, 22, IPPROTO_TCP);
	struct pkt_spec syn = tcp4(S4, 40001, C4, 22, FLOW_TCP_SYN, 0);
	struct pkt_spec synack = tcp4(C4, 22, S4, 40001, FLOW_TCP_SYN | FLOW_TCP_ACK, 0);
	struct flow_state st;

	ck_assert_int_eq(run(&syn, 0), 1);
	ck_assert_int_eq(run(&synack, 1), 1);
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
	ck_assert_mem_eq(&recs[1].key, &k, sizeof(k));
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.init_side, side_of(&k, 4, S4, 40001));
	ck_assert_uint_eq(st.init_tc_dir, FLOW_TC_INGRESS);
	ck_assert_uint_eq(st.packets[0], 1);
	ck_assert_uint_eq(st.packets[1], 1);
	ck_assert_int_eq(map_count(), 1);
}
END_TEST

START_TEST(tcp_midstream_synack_names_the_client)
{
	/* First packet seen is the SYN-ACK (the SYN went another way): the receiver initiated. */
	struct flow_key k = mkkey(4, C4, 40002, S4, 8080, IPPROTO_TCP);
	struct pkt_spec synack = tcp4(S4, 8080, C4, 40002, FLOW_TCP_SYN | FLOW_TCP_ACK, 0);
	struct flow_state st;

	ck_assert_int_eq(run(&synack, 0), 1);
	ck_assert_uint_eq(recs[0].events, FLOW_EV_START | FLOW_EV_TCP_FLAGS);
	ck_assert_uint_eq(recs[0].pkt_dir, 1);
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.init_side, side_of(&k, 4, C4, 40002));
	/* The initiator's packets pass this hook in the other direction. */
	ck_assert_uint_eq(st.init_tc_dir, FLOW_TC_EGRESS);
	ck_assert_uint_eq(st.packets[1], 1);
	ck_assert_uint_eq(st.packets[0], 0);
}
END_TEST

START_TEST(tcp_rst)
{
	struct pkt_spec syn = tcp4(C4, 40003, S4, 9, FLOW_TCP_SYN, 0);
	struct pkt_spec rst = tcp4(S4, 9, C4, 40003, FLOW_TCP_RST | FLOW_TCP_ACK, 0);

	ck_assert_int_eq(run(&syn, 1), 1);
	ck_assert_int_eq(run(&rst, 0), 1);
	ck_assert_uint_eq(recs[1].events, FLOW_EV_TCP_FLAGS);
	ck_assert_uint_eq(recs[1].pkt_dir, 1);
	ck_assert(recs[1].pkt_tcp_flags & FLOW_TCP_RST);
	ck_assert(recs[1].state.tcp_flags[1] & FLOW_TCP_RST);
	ck_assert_int_eq(run(&rst, 0), 0);
}
END_TEST

START_TEST(tcp_midstream_data_no_flag_records)
{
	/* A connection already open when flowd started: one START record, then nothing. */
	struct pkt_spec d = tcp4(C4, 40004, S4, 5432, FLOW_TCP_ACK | FLOW_TCP_PSH, 10);
	int i;

	ck_assert_int_eq(run(&d, 1), 1);
	ck_assert_uint_eq(recs[0].events, FLOW_EV_START);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(run(&d, 1), 0);
}
END_TEST

/* The probe reads no clock source per packet: an existing flow's last-seen time is counted in
 * kernel ticks, and the collector's conversion puts it within a tick of the packet. */
START_TEST(last_seen_is_counted_in_ticks)
{
	struct flow_key k = mkkey(4, C4, 50001, S4, 5000, IPPROTO_UDP);
	struct pkt_spec q = {.family = 4,
			     .src = C4,
			     .dst = S4,
			     .proto = IPPROTO_UDP,
			     .sport = 50001,
			     .dport = 5000};
	struct clock_offset clk = {.tick_ns = probe_tc_tick_ns(probe)};
	uint64_t t0, t1, last;
	struct flow_state st;

	/* The kernel's tick (CONFIG_HZ) is known on this machine: a jiffy, not the fallback. */
	ck_assert_uint_ge(clk.tick_ns, 1000000);
	ck_assert_uint_le(clk.tick_ns, 10000000);
	ck_assert_int_eq(run(&q, 1), 1);
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(flow_state_last_seen(&st, &clk), st.first_seen_ns);
	usleep(300000);
	t0 = clock_boot_ns();
	ck_assert_int_eq(run(&q, 1), 0);
	t1 = clock_boot_ns();
	ck_assert_int_eq(lookup(&k, &st), 0);
	last = flow_state_last_seen(&st, &clk);
	ck_assert_uint_ge(last + clk.tick_ns, t0);
	ck_assert_uint_le(last, t1 + clk.tick_ns);
	ck_assert_uint_ge(last - st.first_seen_ns, 300000000 - clk.tick_ns);
}
END_TEST

START_TEST(udp_request_response)
{
	struct flow_key k = mkkey(4, C4, 50000, S4, 5353, IPPROTO_UDP);
	struct pkt_spec q = {.family = 4,
			     .src = C4,
			     .dst = S4,
			     .proto = IPPROTO_UDP,
			     .sport = 50000,
			     .dport = 5353,
			     .payload = 100};
	struct pkt_spec r = {.family = 4,
			     .src = S4,
			     .dst = C4,
			     .proto = IPPROTO_UDP,
			     .sport = 5353,
			     .dport = 50000,
			     .payload = 200};
	struct flow_state st;

	ck_assert_int_eq(run(&q, 1), 1);
	ck_assert_uint_eq(recs[0].events, FLOW_EV_START);
	ck_assert_int_eq(run(&r, 0), 0);
	ck_assert_int_eq(run(&q, 1), 0);
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.packets[0], 2);
	ck_assert_uint_eq(st.packets[1], 1);
	ck_assert_uint_eq(st.bytes[0], 2 * (14 + 20 + 8 + 100));
	ck_assert_uint_eq(st.bytes[1], 14 + 20 + 8 + 200);
	ck_assert_uint_eq(st.init_side, side_of(&k, 4, C4, 50000));
}
END_TEST

START_TEST(udp_reply_from_well_known_port_first)
{
	/* The first packet seen is a DNS answer: the client is its receiver. */
	struct flow_key k = mkkey(4, S4, 53, C4, 41000, IPPROTO_UDP);
	struct pkt_spec r = {.family = 4,
			     .src = S4,
			     .dst = C4,
			     .proto = IPPROTO_UDP,
			     .sport = 53,
			     .dport = 41000,
			     .payload = 60};
	struct flow_state st;

	ck_assert_int_eq(run(&r, 0), 1);
	ck_assert_uint_eq(recs[0].pkt_dir, 1);
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.init_side, side_of(&k, 4, C4, 41000));
	ck_assert_uint_eq(st.packets[1], 1);
}
END_TEST

START_TEST(icmp_echo_is_one_flow)
{
	struct pkt_spec req = {.family = 4,
			       .src = C4,
			       .dst = S4,
			       .proto = IPPROTO_ICMP,
			       .icmp_type = 8,
			       .icmp_id = 0x1234,
			       .payload = 56};
	struct pkt_spec rep = {.family = 4,
			       .src = S4,
			       .dst = C4,
			       .proto = IPPROTO_ICMP,
			       .icmp_type = 0,
			       .icmp_id = 0x1234,
			       .payload = 56};
	struct pkt_spec unreach = {.family = 4,
				   .src = S4,
				   .dst = C4,
				   .proto = IPPROTO_ICMP,
				   .icmp_type = 3,
				   .icmp_code = 3,
				   .payload = 28};
	struct flow_key k = mkkey(4, C4, 0x1234, S4, 0x1234, IPPROTO_ICMP);
	struct flow_state st;
	int i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(run(&req, 1), i == 0);
		ck_assert_int_eq(run(&rep, 0), 0);
	}
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.packets[0], 3);
	ck_assert_uint_eq(st.packets[1], 3);
	ck_assert_uint_eq(st.icmp_type, 8);
	ck_assert_uint_eq(st.init_side, side_of(&k, 4, C4, 0x1234));
	/* An error message is a flow of its own, keyed by type and code. */
	ck_assert_int_eq(run(&unreach, 0), 1);
	ck_assert_uint_eq(recs[1].key.port[0] + recs[1].key.port[1], 3 + 3);
	ck_assert_uint_eq(recs[1].state.icmp_type, 3);
	ck_assert_uint_eq(recs[1].state.icmp_code, 3);
	ck_assert_int_eq(map_count(), 2);
}
END_TEST

START_TEST(icmpv6_echo)
{
	struct pkt_spec req = {.family = 6,
			       .src = C6,
			       .dst = S6,
			       .proto = IPPROTO_ICMPV6,
			       .icmp_type = 128,
			       .icmp_id = 7,
			       .payload = 56};
	struct pkt_spec rep = {.family = 6,
			       .src = S6,
			       .dst = C6,
			       .proto = IPPROTO_ICMPV6,
			       .icmp_type = 129,
			       .icmp_id = 7,
			       .payload = 56};
	struct flow_key k = mkkey(6, C6, 7, S6, 7, IPPROTO_ICMPV6);
	struct flow_state st;

	/* The reply arrives first: the receiver of the reply is the initiator. */
	ck_assert_int_eq(run(&rep, 0), 1);
	ck_assert_uint_eq(recs[0].pkt_dir, 1);
	ck_assert_int_eq(run(&req, 1), 0);
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.init_side, side_of(&k, 6, C6, 7));
	ck_assert_uint_eq(st.packets[0], 1);
	ck_assert_uint_eq(st.packets[1], 1);
	ck_assert_uint_eq(st.bytes[0], 14 + 40 + 8 + 56);
}
END_TEST

START_TEST(ipv6_tcp_with_extension_headers)
{
	struct pkt_spec syn = {.family = 6,
			       .src = C6,
			       .dst = S6,
			       .proto = IPPROTO_TCP,
			       .sport = 41000,
			       .dport = 443,
			       .tcp_flags = FLOW_TCP_SYN,
			       .v6_ext = 2};
	struct pkt_spec synack = {.family = 6,
				  .src = S6,
				  .dst = C6,
				  .proto = IPPROTO_TCP,
				  .sport = 443,
				  .dport = 41000,
				  .tcp_flags = FLOW_TCP_SYN | FLOW_TCP_ACK};
	struct flow_key k = mkkey(6, C6, 41000, S6, 443, IPPROTO_TCP);
	struct flow_state st;

	ck_assert_int_eq(run(&syn, 1), 1);
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
	ck_assert_uint_eq(recs[0].key.family, 6);
	ck_assert_uint_eq(recs[0].pkt_len, 14 + 40 + 32 + 20);
	/* Without extension headers the reply still lands on the same flow. */
	ck_assert_int_eq(run(&synack, 0), 1);
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.packets[0], 1);
	ck_assert_uint_eq(st.packets[1], 1);
	ck_assert_int_eq(map_count(), 1);
}
END_TEST

START_TEST(fragments)
{
	struct pkt_spec first4 = {.family = 4,
				  .src = C4,
				  .dst = S4,
				  .proto = IPPROTO_UDP,
				  .sport = 50010,
				  .dport = 7000,
				  .frag = PKT_FIRST_FRAG,
				  .payload = 1000};
	struct pkt_spec later4 = first4;
	struct pkt_spec first6 = {.family = 6,
				  .src = C6,
				  .dst = S6,
				  .proto = IPPROTO_UDP,
				  .sport = 50011,
				  .dport = 7000,
				  .frag = PKT_FIRST_FRAG,
				  .v6_ext = 1,
				  .payload = 1000};
	struct pkt_spec later6 = first6;
	struct flow_key k;
	struct flow_state st;

	later4.frag = PKT_LATER_FRAG;
	later6.frag = PKT_LATER_FRAG;
	/* The first fragment has the ports. */
	ck_assert_int_eq(run(&first4, 1), 1);
	k = mkkey(4, C4, 50010, S4, 7000, IPPROTO_UDP);
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
	/* Later ones are a flow of the address pair and protocol, without ports. */
	ck_assert_int_eq(run(&later4, 1), 1);
	k = mkkey(4, C4, 0, S4, 0, IPPROTO_UDP);
	ck_assert_mem_eq(&recs[1].key, &k, sizeof(k));

	ck_assert_int_eq(run(&first6, 1), 1);
	k = mkkey(6, C6, 50011, S6, 7000, IPPROTO_UDP);
	ck_assert_mem_eq(&recs[2].key, &k, sizeof(k));
	ck_assert_int_eq(run(&later6, 1), 1);
	k = mkkey(6, C6, 0, S6, 0, IPPROTO_UDP);
	ck_assert_mem_eq(&recs[3].key, &k, sizeof(k));
	ck_assert_int_eq(lookup(&k, &st), 0);
	ck_assert_uint_eq(st.packets[0], 1);
}
END_TEST

START_TEST(vlan_and_qinq)
{
	struct pkt_spec v = tcp4(C4, 40005, S4, 80, FLOW_TCP_SYN, 0);
	struct pkt_spec q = v;
	struct pkt_spec untagged = v;
	struct flow_key k = mkkey(4, C4, 40005, S4, 80, IPPROTO_TCP);

	v.vlan[0] = 100;
	q.vlan[0] = 200;
	q.vlan[1] = 300;
	q.qinq = true;
	ck_assert_int_eq(run(&v, 1), 1);
	k.vlan_id = 100;
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
	ck_assert_uint_eq(recs[0].pkt_len, 18 + 20 + 20);
	/* Double tagging: the outer (service) VLAN names the flow, L3 is still found. */
	ck_assert_int_eq(run(&q, 1), 1);
	k.vlan_id = 200;
	ck_assert_mem_eq(&recs[1].key, &k, sizeof(k));
	/* The same 5-tuple untagged is another flow. */
	ck_assert_int_eq(run(&untagged, 1), 1);
	k.vlan_id = 0;
	ck_assert_mem_eq(&recs[2].key, &k, sizeof(k));
	ck_assert_int_eq(map_count(), 3);
}
END_TEST

START_TEST(sctp_ports)
{
	struct pkt_spec s = {.family = 4,
			     .src = C4,
			     .dst = S4,
			     .proto = IPPROTO_SCTP,
			     .sport = 36412,
			     .dport = 38412,
			     .payload = 16};
	struct flow_key k = mkkey(4, C4, 36412, S4, 38412, IPPROTO_SCTP);

	ck_assert_int_eq(run(&s, 1), 1);
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
}
END_TEST

START_TEST(other_ip_protocol_is_address_flow)
{
	struct pkt_spec gre = {.family = 4, .src = C4, .dst = S4, .proto = 47, .payload = 40};
	struct flow_key k = mkkey(4, C4, 0, S4, 0, 47);

	ck_assert_int_eq(run(&gre, 1), 1);
	ck_assert_mem_eq(&recs[0].key, &k, sizeof(k));
}
END_TEST

START_TEST(truncated_and_garbage_are_ignored)
{
	uint8_t buf[2048];
	struct pkt_spec syn = tcp4(C4, 40006, S4, 443, FLOW_TCP_SYN, 0);
	struct pkt_spec syn6 = {.family = 6,
				.src = C6,
				.dst = S6,
				.proto = IPPROTO_TCP,
				.sport = 41006,
				.dport = 443,
				.tcp_flags = FLOW_TCP_SYN,
				.v6_ext = 2};
	size_t len = pkt_build(&syn, buf, sizeof(buf)), cut;
	unsigned int seed = 12345;
	int i, j;

	/* Every truncation of a valid frame: the IP header or the TCP header is cut.
	 * BPF_PROG_TEST_RUN refuses untagged frames shorter than the IP header, so those cuts
	 * run behind a VLAN tag, where the kernel leaves parsing to the program. */
	for (cut = 14 + 20; cut < len; cut++)
		ck_assert_int_eq(run_raw(buf, cut), 0);
	syn.vlan[0] = 5;
	len = pkt_build(&syn, buf, sizeof(buf));
	for (cut = 18; cut < len; cut++)
		ck_assert_int_eq(run_raw(buf, cut), 0);
	len = pkt_build(&syn6, buf, sizeof(buf));
	for (cut = 14 + 40; cut < len; cut++)
		ck_assert_int_eq(run_raw(buf, cut), 0);
	syn6.vlan[0] = 5;
	len = pkt_build(&syn6, buf, sizeof(buf));
	for (cut = 18; cut < len; cut++)
		ck_assert_int_eq(run_raw(buf, cut), 0);
	ck_assert_int_eq(map_count(), 0);
	syn.vlan[0] = 0;

	/* IPv4 with a bad version or header length. */
	len = pkt_build(&syn, buf, sizeof(buf));
	buf[14] = 0x55;
	ck_assert_int_eq(run_raw(buf, len), 0);
	buf[14] = 0x44; /* ihl 4 < 5 */
	ck_assert_int_eq(run_raw(buf, len), 0);
	buf[14] = 0x4f; /* ihl 15: TCP header beyond the frame */
	ck_assert_int_eq(run_raw(buf, len), 0);

	/* ARP and an unknown ethertype. */
	memset(buf + 12, 0, 64);
	memcpy(buf + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01", 10);
	ck_assert_int_eq(run_raw(buf, 60), 0);
	memcpy(buf + 12, "\x88\xcc", 2); /* LLDP */
	ck_assert_int_eq(run_raw(buf, 60), 0);
	/* A VLAN tag and nothing after it. */
	memcpy(buf + 12, "\x81\x00\x00\x64", 4);
	ck_assert_int_eq(run_raw(buf, 16), 0);
	ck_assert_int_eq(map_count(), 0);

	/* Random bytes behind IPv4 and IPv6 ethertypes: no crash, no stray records beyond one
	 * per flow created. The program must keep returning TC_ACT_UNSPEC (run_raw checks). */
	for (i = 0; i < 2000; i++) {
		size_t n = 14 + 40 + rand_r(&seed) % 120;

		for (j = 0; j < (int)n; j++)
			buf[j] = rand_r(&seed);
		memcpy(buf + 12, i & 1 ? "\x86\xdd" : "\x08\x00", 2);
		buf[14] = (buf[14] & 0x0f) | (i & 1 ? 0x60 : 0x40);
		run_raw(buf, n);
	}
	ck_assert_int_le(nrecs, map_count());
}
END_TEST

/* flowd's ring reader with its lookahead: every record delivered once, in the order written;
 * each small record announced (prefetch) before it is delivered and at most 8 records ahead;
 * a large record (DNS payload) is delivered after those waiting; nothing left once drained. */
static struct {
	uint16_t type[64];
	uint16_t port[64];
	int n, n_small, announced, ahead_max, ahead_min;
} rd;

static uint16_t rec_port(const void *data)
{
	const struct flow_record *r = data; /* DNS records have the key at the same offset */

	return r->key.port[0] == 53 ? r->key.port[1] : r->key.port[0];
}

static void rd_deliver(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)len;
	ck_assert_int_lt(rd.n, 64);
	rd.type[rd.n] = *(const uint16_t *)data;
	rd.port[rd.n++] = rec_port(data);
	rd.n_small += len <= 192;
}

static void rd_ahead(void *ctx, const void *data, size_t len)
{
	int ahead = ++rd.announced - rd.n_small; /* announced, not yet delivered, this one too */

	(void)ctx;
	ck_assert_uint_le(len, 192);
	ck_assert_uint_eq(*(const uint16_t *)data, FLOW_REC_TC);
	if (ahead > rd.ahead_max)
		rd.ahead_max = ahead;
	if (ahead < rd.ahead_min)
		rd.ahead_min = ahead;
}

/* Runs the egress program on s without reading the rings (the records stay for another reader). */
static void run_unread(const struct pkt_spec *s)
{
	uint8_t buf[2048];
	size_t len = pkt_build(s, buf, sizeof(buf));
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = len, .repeat = 1);

	ck_assert_int_eq(bpf_prog_test_run_opts(probe_tc_prog_fd(probe, 1), &opts), 0);
}

START_TEST(ring_reader_lookahead_keeps_order)
{
	struct pkt_spec u = {.family = 4, .src = C4, .dst = S4, .proto = IPPROTO_UDP, .dport = 9};
	struct pkt_spec q = {.family = 4,
			     .src = C4,
			     .dst = S4,
			     .proto = IPPROTO_UDP,
			     .sport = 42053,
			     .dport = 53,
			     .payload = 40};
	struct ring_reader *rr;
	const int *fds;
	uv_loop_t loop;
	int i, n, tc = 0;

	memset(&rd, 0, sizeof(rd));
	rd.ahead_min = 1000;
	/* 20 new flows, a DNS query (a TC record, then a DNS record), 10 more flows. */
	for (i = 0; i < 20; i++) {
		u.sport = (uint16_t)(30000 + i);
		run_unread(&u);
	}
	run_unread(&q);
	for (i = 20; i < 30; i++) {
		u.sport = (uint16_t)(30000 + i);
		run_unread(&u);
	}
	n = probe_tc_ring_fds(probe, &fds);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(ring_reader_start(&rr, &loop, fds, n, rd_deliver, NULL), 0);
	ring_reader_set_prefetch(rr, rd_ahead);
	ck_assert_int_gt(ring_reader_drain(rr), 0);
	ck_assert_int_eq(rd.n, 32);
	for (i = 0; i < 32; i++) {
		uint16_t want = i < 20 ? 30000 + i : i == 20 || i == 21 ? 42053 : 30000 + i - 2;

		ck_assert_uint_eq(rd.port[i], want);
		ck_assert_uint_eq(rd.type[i], i == 21 ? FLOW_REC_DNS : FLOW_REC_TC);
		tc += rd.type[i] == FLOW_REC_TC;
	}
	ck_assert_int_eq(rd.announced, tc); /* every small record, the DNS payload not */
	ck_assert_int_eq(rd.ahead_max, 8);
	ck_assert_int_ge(rd.ahead_min, 1);
	ck_assert_int_eq(ring_reader_drain(rr), 0);
	ring_reader_stop(rr);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(dns_payloads_go_to_user_space)
{
	struct pkt_spec q = {.family = 4,
			     .src = C4,
			     .dst = S4,
			     .proto = IPPROTO_UDP,
			     .sport = 41053,
			     .dport = 53,
			     .payload = 40};
	struct pkt_spec a = {.family = 4,
			     .src = S4,
			     .dst = C4,
			     .proto = IPPROTO_UDP,
			     .sport = 53,
			     .dport = 41053,
			     .payload = 700};
	struct pkt_spec t = tcp4(C4, 41054, S4, 53, FLOW_TCP_ACK | FLOW_TCP_PSH, 60);
	struct pkt_spec other = {.family = 4,
				 .src = C4,
				 .dst = S4,
				 .proto = IPPROTO_UDP,
				 .sport = 41055,
				 .dport = 5353,
				 .payload = 40};
	struct flow_key k = mkkey(4, C4, 41053, S4, 53, IPPROTO_UDP);
	int i;

	/* Every packet to or from port 53, not only a flow's first. */
	run(&q, 1);
	run(&a, 0);
	run(&q, 1);
	ck_assert_int_eq(ndns, 3);
	ck_assert_mem_eq(&dns_recs[0].key, &k, sizeof(k));
	ck_assert_uint_eq(dns_recs[0].data_len, 40);
	ck_assert_uint_eq(dns_recs[0].orig_len, 40);
	ck_assert_uint_eq(dns_recs[0].sender, side_of(&k, 4, C4, 41053));
	ck_assert_uint_eq(dns_recs[0].tc_dir, FLOW_TC_EGRESS);
	for (i = 0; i < 40; i++) /* pktgen fills payload byte i with i */
		ck_assert_uint_eq(dns_recs[0].data[i], i);
	/* A large answer is cut at FLOW_DNS_MAX; its real length is kept. */
	ck_assert_uint_eq(dns_recs[1].data_len, FLOW_DNS_MAX);
	ck_assert_uint_eq(dns_recs[1].orig_len, 700);
	ck_assert_uint_eq(dns_recs[1].sender, side_of(&k, 4, S4, 53));
	ck_assert_uint_eq(dns_recs[1].data[FLOW_DNS_MAX - 1], (FLOW_DNS_MAX - 1) & 0xff);
	/* DNS over TCP: the segment's payload after the TCP header. */
	run(&t, 1);
	ck_assert_int_eq(ndns, 4);
	ck_assert_uint_eq(dns_recs[3].data_len, 60);
	ck_assert_uint_eq(dns_recs[3].data[0], 0);
	ck_assert_uint_eq(dns_recs[3].data[59], 59);
	/* Other ports: nothing. */
	run(&other, 1);
	ck_assert_int_eq(ndns, 4);
}
END_TEST

START_TEST(ring_full_is_counted)
{
	uint64_t lost = 0;
	int i, n = 200, recorded;

	/* Reopen with the smallest ring (4096 bytes: fewer than 30 records). */
	teardown();
	open_probe(4096);
	for (i = 0; i < n; i++) {
		struct pkt_spec s = {.family = 4,
				     .src = C4,
				     .dst = S4,
				     .proto = IPPROTO_UDP,
				     .sport = 20000 + i,
				     .dport = 9999};
		uint8_t buf[2048];
		size_t len = pkt_build(&s, buf, sizeof(buf));
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = len,
			    .repeat = 1);

		/* Not consumed in between: the ring fills up. */
		ck_assert_int_eq(bpf_prog_test_run_opts(probe_tc_prog_fd(probe, 1), &opts), 0);
	}
	ring_buffer__consume(rb);
	recorded = nrecs;
	ck_assert_int_eq(probe_tc_lost(probe, &lost), 0);
	ck_assert_int_gt(recorded, 0);
	ck_assert_int_lt(recorded, n);
	ck_assert_uint_eq((uint64_t)recorded + lost, (uint64_t)n);
	/* Every flow is still in the map: the counters are not lost with the record. */
	ck_assert_int_eq(map_count(), n);
}
END_TEST

/* ---- attach/detach and real traffic in a namespace of our own ------------------------------ */

static void own_netns_with_lo_up(void)
{
	struct ifreq ifr = {0};
	int fd;

	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static int filters_on_lo(enum bpf_tc_attach_point point)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1, .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0xf10c, .priority = 0xf10c);

	return bpf_tc_query(&hook, &opts) == 0;
}

START_TEST(attach_real_traffic_and_detach)
{
	struct probe_tc *second = NULL;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(40404)};
	int s, r, i, found = 0;
	char msg[300] = {0};

	own_netns_with_lo_up();
	ck_assert_int_eq(probe_tc_attach(probe, "lo", NULL), 0);
	ck_assert(filters_on_lo(BPF_TC_EGRESS));
	{
		struct errmsg e = {""};

		/* The reason names the interface and says where to look. */
		ck_assert_int_eq(probe_tc_attach(probe, "no-such-if0", &e), -ENODEV);
		ck_assert_msg(strstr(e.text, "no-such-if0") && strstr(e.text, "ip link"), "%s",
			      e.text);
	}

	/* A second probe on the same interface is refused, not stacked. */
	ck_assert_int_eq(probe_tc_open(&second, NULL, NULL), 0);
	{
		struct errmsg e = {""};

		/* The reason says another flowd has it, with its pid. */
		ck_assert_int_eq(probe_tc_attach(second, "lo", &e), -EBUSY);
		ck_assert_msg(strstr(e.text, "already watched by another flowd") &&
				      strstr(e.text, "pid"),
			      "%s", e.text);
	}
	probe_tc_close(second);
	ck_assert(filters_on_lo(BPF_TC_EGRESS));

	/* Real packets: a UDP datagram to a bound socket on 127.0.0.1. */
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(r, (struct sockaddr *)&a, sizeof(a)), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(sendto(s, msg, sizeof(msg), 0, (struct sockaddr *)&a, sizeof(a)),
				 (int)sizeof(msg));
	ring_buffer__consume(rb);
	for (i = 0; i < nrecs; i++) {
		struct flow_record *x = &recs[i];

		if (x->key.proto == IPPROTO_UDP &&
		    (x->key.port[0] == 40404 || x->key.port[1] == 40404)) {
			found++;
			ck_assert_uint_eq(x->key.ifindex, 1);
			ck_assert_uint_eq(x->tc_dir, FLOW_TC_EGRESS);
			ck_assert_uint_eq(x->events, FLOW_EV_START);
			ck_assert_uint_eq(x->pkt_len, 14 + 20 + 8 + sizeof(msg));
		}
	}
	ck_assert_int_eq(found, 1); /* loopback: one hook, one record per flow */
	{
		struct flow_key next;
		struct flow_state st;
		int fd = probe_tc_flow_map_fd(probe);

		ck_assert_int_eq(bpf_map_get_next_key(fd, NULL, &next), 0);
		ck_assert_int_eq(bpf_map_lookup_elem(fd, &next, &st), 0);
		ck_assert_uint_eq(st.packets[0], 3);
		ck_assert_uint_eq(st.bytes[0], 3 * (14 + 20 + 8 + sizeof(msg)));
	}
	close(s);
	close(r);

	/* Closing detaches: no filter, no clsact qdisc that we created. */
	ring_buffer__free(rb);
	rb = NULL;
	probe_tc_close(probe);
	probe = NULL;
	ck_assert(!filters_on_lo(BPF_TC_EGRESS));
	ck_assert(!filters_on_lo(BPF_TC_INGRESS));
	{
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		/* Creating the hook succeeds only if no clsact qdisc is left. */
		ck_assert_int_eq(bpf_tc_hook_create(&hook), 0);
		bpf_tc_hook_destroy(&hook);
	}
	/* Once the first is gone, a new probe may attach. */
	ck_assert_int_eq(probe_tc_open(&second, NULL, NULL), 0);
	ck_assert_int_eq(probe_tc_attach(second, "lo", NULL), 0);
	probe_tc_close(second);
}
END_TEST

START_TEST(stale_filter_is_replaced)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1, .attach_point = BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0xf10c, .priority = 0xf10c);
	struct bpf_prog_info info = {0};
	__u32 ilen = sizeof(info);

	own_netns_with_lo_up();
	/* A filter left by a flowd that was killed: same handle and priority, no lock held. */
	ck_assert_int_eq(bpf_tc_hook_create(&hook), 0);
	opts.prog_fd = probe_tc_prog_fd(probe, 0);
	ck_assert_int_eq(bpf_tc_attach(&hook, &opts), 0);
	{
		struct probe_tc *p2 = NULL;
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = 0xf10c, .priority = 0xf10c);

		ck_assert_int_eq(probe_tc_open(&p2, NULL, NULL), 0);
		ck_assert_int_eq(probe_tc_attach(p2, "lo", NULL), 0);
		ck_assert_int_eq(bpf_tc_query(&hook, &q), 0);
		ck_assert_int_eq(bpf_obj_get_info_by_fd(probe_tc_prog_fd(p2, 1), &info, &ilen), 0);
		ck_assert_uint_eq(q.prog_id, info.id);
		probe_tc_close(p2);
	}
	ck_assert(!filters_on_lo(BPF_TC_EGRESS));
}
END_TEST

/* ---- a flowd killed with SIGKILL ------------------------------------------------------------ */

static bool clsact_on_lo(void)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err == 0)
		bpf_tc_hook_destroy(&hook); /* there was none: leave none */
	return err == -EEXIST;
}

/* The lock file of lo in this netns (named by the netns cookie). */
static bool lo_lock_exists(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct stat st;
	char path[128];

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, 71 /* SO_NETNS_COOKIE */, &cookie, &len), 0);
	close(fd);
	snprintf(path, sizeof(path), "/run/flowscope/tc-c%llu-1.lock", (unsigned long long)cookie);
	return stat(path, &st) == 0;
}

/* A process that loads the probe, attaches to lo and is killed with SIGKILL once it did. */
static void killed_while_attached(void)
{
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct probe_tc *k = NULL;

		close(p[0]);
		if (probe_tc_open(&k, NULL, NULL) || probe_tc_attach(k, "lo", NULL))
			_exit(1);
		if (write(p[1], "a", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* What it leaves: its filter still runs, its qdisc and its lock file stay. */
	ck_assert(filters_on_lo(BPF_TC_EGRESS));
	ck_assert(clsact_on_lo());
	ck_assert(lo_lock_exists());
}

START_TEST(killed_flowd_leaves_nothing_after_the_next_stop)
{
	struct probe_tc *p2 = NULL;

	own_netns_with_lo_up();
	ck_assert(!clsact_on_lo());
	killed_while_attached();
	/* The next start removes all of it, before it attaches anywhere... */
	ck_assert_int_eq(probe_tc_open(&p2, NULL, NULL), 0);
	ck_assert(!filters_on_lo(BPF_TC_EGRESS));
	ck_assert(!clsact_on_lo());
	ck_assert(!lo_lock_exists());
	/* ... and its own clean stop leaves the interface as it was at first. */
	ck_assert_int_eq(probe_tc_attach(p2, "lo", NULL), 0);
	ck_assert(lo_lock_exists());
	probe_tc_close(p2);
	ck_assert(!filters_on_lo(BPF_TC_EGRESS));
	ck_assert(!clsact_on_lo());
	ck_assert(!lo_lock_exists());

	/* Killed while a probe was already loaded: attaching takes the interface over (the
	 * stale filter replaced) and inherits the qdisc the killed one added, which its clean
	 * stop then removes. */
	ck_assert_int_eq(probe_tc_open(&p2, NULL, NULL), 0);
	killed_while_attached();
	ck_assert_int_eq(probe_tc_attach(p2, "lo", NULL), 0);
	probe_tc_close(p2);
	ck_assert(!filters_on_lo(BPF_TC_EGRESS));
	ck_assert(!clsact_on_lo());
	ck_assert(!lo_lock_exists());
}
END_TEST

/* A qdisc that was there before flowd came is not flowd's to remove. */
START_TEST(clsact_found_is_left)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = 1,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct probe_tc *p2 = NULL;

	own_netns_with_lo_up();
	ck_assert_int_eq(bpf_tc_hook_create(&hook), 0);
	ck_assert_int_eq(probe_tc_open(&p2, NULL, NULL), 0);
	ck_assert_int_eq(probe_tc_attach(p2, "lo", NULL), 0);
	probe_tc_close(p2);
	ck_assert(!filters_on_lo(BPF_TC_EGRESS));
	ck_assert(clsact_on_lo());
	ck_assert(!lo_lock_exists());
	bpf_tc_hook_destroy(&hook);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tc_probe");
	TCase *t = tcase_create("parse");
	TCase *a = tcase_create("attach");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, tcp_handshake_and_close);
	tcase_add_test(t, tcp_reverse_order_endpoints);
	tcase_add_test(t, tcp_midstream_synack_names_the_client);
	tcase_add_test(t, tcp_rst);
	tcase_add_test(t, tcp_midstream_data_no_flag_records);
	tcase_add_test(t, udp_request_response);
	tcase_add_test(t, last_seen_is_counted_in_ticks);
	tcase_add_test(t, udp_reply_from_well_known_port_first);
	tcase_add_test(t, icmp_echo_is_one_flow);
	tcase_add_test(t, icmpv6_echo);
	tcase_add_test(t, ipv6_tcp_with_extension_headers);
	tcase_add_test(t, fragments);
	tcase_add_test(t, vlan_and_qinq);
	tcase_add_test(t, sctp_ports);
	tcase_add_test(t, other_ip_protocol_is_address_flow);
	tcase_add_test(t, truncated_and_garbage_are_ignored);
	tcase_add_test(t, dns_payloads_go_to_user_space);
	tcase_add_test(t, ring_reader_lookahead_keeps_order);
	tcase_add_test(t, ring_full_is_counted);
	suite_add_tcase(s, t);

	tcase_add_checked_fixture(a, setup, teardown);
	tcase_set_timeout(a, 60);
	tcase_add_test(a, attach_real_traffic_and_detach);
	tcase_add_test(a, stale_filter_is_replaced);
	tcase_add_test(a, killed_flowd_leaves_nothing_after_the_next_stop);
	tcase_add_test(a, clsact_found_is_left);
	suite_add_tcase(s, a);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	/* Each test forks: unshare() and probe state stay inside it. */
	srunner_set_fork_status(r, CK_FORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
