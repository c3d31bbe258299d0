/* Unit tests of record decoding and the collector core: records become flows, both directions
 * are one flow, sweeps of a real kernel LRU hash map refresh counters and end idle flows. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/pipeline/collector.h"
#include "flowscope/pipeline/flow_decode.h"
#include "records.h"

#define NS 1000000000ULL

struct seen {
	struct flow last;
	struct flow last_end;
	int n;
	int ends;
	int starts;
};

static void on_flow(const struct flow *f, void *ctx)
{
	struct seen *s = ctx;

	s->last = *f;
	s->n++;
	if (f->event == FLOW_EVENT_END) {
		s->last_end = *f;
		s->ends++;
	}
	if (f->event == FLOW_EVENT_START) {
		s->starts++;
	}
}

/* A collector with options o (0: the defaults), its events seen in seen. */
static void setup_with(struct tcoll *t, struct seen *seen, struct collector_opts o)
{
	tcoll_setup(t, o, on_flow, seen);
}

static void setup(struct tcoll *t, struct seen *seen)
{
	setup_with(t, seen, (struct collector_opts){0});
}

static void teardown(struct tcoll *t)
{
	tcoll_teardown(t);
}

START_TEST(test_decode_rejects_short_unknown_and_bad_records)
{
	struct clock_offset clk = {0};
	struct decoded_record d;
	struct flow_record r = rec(key4("10.0.0.1", 1000, "10.0.0.2", 80, IPPROTO_TCP),
				   FLOW_EV_START, 0, 0, FLOW_TCP_SYN, 5);

	ck_assert_int_eq(flow_decode(&r, 3, &clk, &d), -EINVAL);
	ck_assert_int_eq(flow_decode(&r, sizeof(r) - 1, &clk, &d), -EINVAL);
	r.version = 99;
	ck_assert_int_eq(flow_decode(&r, sizeof(r), &clk, &d), -EPROTO);
	r.version = FLOW_RECORD_VERSION;
	r.type = 77;
	ck_assert_int_eq(flow_decode(&r, sizeof(r), &clk, &d), -ENOTSUP);
	r.type = FLOW_REC_TC;
	r.key.family = 5;
	ck_assert_int_eq(flow_decode(&r, sizeof(r), &clk, &d), -EINVAL);
	r.key.family = 4;
	r.events = 0;
	ck_assert_int_eq(flow_decode(&r, sizeof(r), &clk, &d), -EINVAL);
	r.events = FLOW_EV_START;
	ck_assert_int_eq(flow_decode(&r, sizeof(r), &clk, &d), 0);
}
END_TEST

START_TEST(test_decode_orients_initiator_as_source)
{
	struct clock_offset clk = {.boot_to_wall_ns = 1000 * (int64_t)NS};
	/* Canonical key has the server first (lower address): the client is endpoint 1. */
	struct flow_record r = rec(key4("10.0.0.1", 80, "10.0.0.9", 40000, IPPROTO_TCP),
				   FLOW_EV_START | FLOW_EV_TCP_FLAGS, 1, 0, FLOW_TCP_SYN, 7 * NS);
	char a[INET_ADDRSTRLEN];
	struct decoded_record d;
	const struct flow *f = &d.flow;

	ck_assert_int_eq(flow_decode(&r, sizeof(r), &clk, &d), 0);
	ck_assert_uint_eq(d.type, FLOW_REC_TC);
	inet_ntop(AF_INET, f->src.addr, a, sizeof(a));
	ck_assert_str_eq(a, "10.0.0.9");
	ck_assert_uint_eq(f->src.port, 40000);
	ck_assert_uint_eq(f->dst.port, 80);
	ck_assert_uint_eq(f->event, FLOW_EVENT_START);
	ck_assert(!f->is_reply);
	ck_assert_uint_eq(f->time_ns, 1007 * NS);
	ck_assert_uint_eq(f->first_seen_ns, 1007 * NS);
	ck_assert_uint_eq(f->tcp_flags, FLOW_TCP_SYN);
	ck_assert_uint_eq(f->verdict, FLOW_VERDICT_FORWARDED);
}
END_TEST

START_TEST(test_reply_record_joins_the_same_flow)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, NS);
	struct flow_record synack =
		rec(k, FLOW_EV_TCP_FLAGS, 0, 1, FLOW_TCP_SYN | FLOW_TCP_ACK, 2 * NS);
	struct flow_store_stats st;
	uint64_t id;

	setup(&col, &seen);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_int_eq(seen.n, 1);
	id = seen.last.id;
	synack.state.packets[0] = 1;
	synack.state.first_seen_ns = NS; /* the same kernel entry as the SYN's */
	ck_assert_int_eq(collector_handle_record(col.c, &synack, sizeof(synack)), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_uint_eq(seen.last.id, id);
	ck_assert(seen.last.is_reply);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_TCP_FLAGS);
	ck_assert_uint_eq(seen.last.packets[0], 1);
	ck_assert_uint_eq(seen.last.packets[1], 1);
	flow_store_get_stats(col.store, &st);
	ck_assert_uint_eq(st.seen, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->records, 2);
	/* Garbage is counted, not stored. */
	ck_assert_int_lt(collector_handle_record(col.c, "xx", 2), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->decode_errors, 1);
	teardown(&col);
}
END_TEST

START_TEST(test_new_start_for_known_key_ends_the_old_flow)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 5000, "10.0.0.2", 53, IPPROTO_UDP);
	struct flow_record a = rec(k, FLOW_EV_START, 0, 0, 0, NS);
	uint64_t id;

	setup(&col, &seen);
	collector_handle_record(col.c, &a, sizeof(a));
	id = seen.last.id;
	/* A new kernel entry for the same key: its own first_seen. */
	a.ts_ns = 5 * NS;
	state_times(&a.state, 5 * NS, 5 * NS);
	collector_handle_record(col.c, &a, sizeof(a));
	ck_assert_int_eq(seen.n, 3); /* start, end of the old one, start of the new one */
	ck_assert_uint_ne(seen.last.id, id);
	ck_assert_uint_eq(seen.ends, 1);
	ck_assert_uint_eq(seen.last_end.id, id);
	teardown(&col);
}
END_TEST

START_TEST(test_records_out_of_order_across_cpus_stay_one_flow)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 40001, "10.0.0.2", 8080, IPPROTO_TCP);
	/* One kernel entry (first_seen 1 s): SYN at 1 s, client FIN at 3 s with 4 packets
	 * counted. Different CPUs' rings deliver the FIN's record first. */
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, NS);
	struct flow_record fin =
		rec(k, FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_FIN | FLOW_TCP_ACK, 3 * NS);
	struct flow_store_stats st;
	uint64_t id;

	state_times(&fin.state, NS, 3 * NS);
	fin.state.packets[0] = 4;
	fin.state.bytes[0] = 400;
	fin.state.packets[1] = 3;
	fin.state.bytes[1] = 3000;
	fin.state.tcp_flags[0] = FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN;
	fin.state.tcp_flags[1] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	setup(&col, &seen);
	ck_assert_int_eq(collector_handle_record(col.c, &fin, sizeof(fin)), 0);
	id = seen.last.id;
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	/* Both events published, of one flow; nothing ended. */
	ck_assert_int_eq(seen.n, 2);
	ck_assert_int_eq(seen.ends, 0);
	ck_assert_uint_eq(seen.last.id, id);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_START);
	ck_assert_uint_eq(seen.last.tcp_flags, FLOW_TCP_SYN);
	/* The late record's older counters don't roll the flow back. */
	ck_assert_uint_eq(seen.last.packets[0], 4);
	ck_assert_uint_eq(seen.last.bytes[1], 3000);
	ck_assert_uint_eq(seen.last.tcp_flags_seen[0], FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN);
	ck_assert_uint_eq(seen.last.last_seen_ns, clock_to_wall(collector_clock(col.c), 3 * NS));
	flow_store_get_stats(col.store, &st);
	ck_assert_uint_eq(st.seen, 1);
	ck_assert_uint_eq(st.active, 1);
	teardown(&col);
}
END_TEST

/* A DNS message about name: a query (ip NULL), or a response with one A record for ip. */
static size_t dns_msg(uint8_t *b, uint16_t id, const char *name, const char *ip, uint32_t ttl)
{
	size_t n = 0, l;
	const char *p = name;

	memcpy(b,
	       ip ? "\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
		  : "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00",
	       12);
	b[0] = id >> 8;
	b[1] = id & 0xff;
	n = 12;
	while (*p) {
		const char *dot = strchr(p, '.');

		l = dot ? (size_t)(dot - p) : strlen(p);
		b[n++] = (uint8_t)l;
		memcpy(b + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	b[n++] = 0;
	memcpy(b + n, "\x00\x01\x00\x01", 4); /* A, IN */
	n += 4;
	if (!ip)
		return n;
	memcpy(b + n, "\xc0\x0c\x00\x01\x00\x01", 6);
	n += 6;
	b[n++] = ttl >> 24;
	b[n++] = ttl >> 16;
	b[n++] = ttl >> 8;
	b[n++] = ttl;
	b[n++] = 0;
	b[n++] = 4;
	inet_pton(AF_INET, ip, b + n);
	return n + 4;
}

static size_t dns_answer(uint8_t *b, const char *name, const char *ip, uint32_t ttl)
{
	return dns_msg(b, 0x1234, name, ip, ttl);
}

/* Hands the collector one DNS record of flow k, sent by endpoint sender at ts_ns. */
static void dns_rec(struct tcoll *col, const struct flow_key *k, uint8_t sender, uint64_t ts_ns,
		    uint16_t id, const char *name, const char *ip)
{
	static struct flow_dns_record d;

	memset(&d, 0, sizeof(d));
	d.type = FLOW_REC_DNS;
	d.version = FLOW_RECORD_VERSION;
	d.key = *k;
	d.sender = sender;
	d.ts_ns = ts_ns;
	d.data_len = (uint32_t)dns_msg(d.data, id, name, ip, 300);
	ck_assert_int_eq(collector_handle_record(col->c, &d, sizeof(d)), 0);
}

START_TEST(test_dns_answers_name_flows_and_the_query_carries_l7)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key dk = key4("10.0.0.1", 45353, "10.0.0.53", 53, IPPROTO_UDP);
	struct flow_key tk = key4("10.0.0.1", 40000, "10.9.9.9", 443, IPPROTO_TCP);
	struct flow_record q = rec(dk, FLOW_EV_START, 0, 0, 0, NS);
	struct flow_record syn =
		rec(tk, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, 3 * NS);
	static struct flow_dns_record d;
	struct dns_cache *dns = dns_cache_new(&(struct dns_cache_limits){100, 100, 100});
	char a[INET_ADDRSTRLEN];

	setup_with(&col, &seen, (struct collector_opts){.dns = dns});
	ck_assert_int_eq(collector_handle_record(col.c, &q, sizeof(q)), 0);
	/* The query leaves the client (endpoint 0) first: only its answer is believed. */
	dns_rec(&col, &dk, 0, clock_boot_ns(), 0x1234, "web.example", NULL);
	ck_assert_int_eq(seen.n, 2);
	ck_assert(!seen.last.dns.response);
	memset(&d, 0, sizeof(d));
	d.type = FLOW_REC_DNS;
	d.version = FLOW_RECORD_VERSION;
	d.key = dk;
	d.sender = 1;		   /* the resolver, endpoint 1 of the key */
	d.ts_ns = clock_boot_ns(); /* names expire against the real clock */
	d.data_len = (uint32_t)dns_answer(d.data, "Web.Example", "10.9.9.9", 300);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	/* The DNS flow's event: L7 response, told from the resolver's side. */
	ck_assert_int_eq(seen.n, 3);
	ck_assert_uint_eq(tcoll_stats(&col)->dns_match.matched, 1);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_DNS);
	ck_assert(seen.last.is_reply);
	ck_assert(seen.last.dns.present);
	ck_assert(seen.last.dns.response);
	ck_assert_str_eq(seen.last.dns.query, "web.example");
	ck_assert_uint_eq(seen.last.dns.n_ips, 1);
	inet_ntop(AF_INET, seen.last.dns.ips[0], a, sizeof(a));
	ck_assert_str_eq(a, "10.9.9.9");
	ck_assert_uint_eq(seen.last.dns.ttl, 300);
	/* Its query read late (another CPU's ring): an event of its own, but the flow's latest DNS
	 * message stays the answer. */
	dns_rec(&col, &dk, 0, d.ts_ns - 1, 0x1234, "web.example", NULL);
	ck_assert_int_eq(seen.n, 4);
	ck_assert(!seen.last.dns.response);
	ck_assert(flow_store_find(col.store, &dk)->dns.response);
	ck_assert_uint_eq(flow_store_find(col.store, &dk)->dns.n_ips, 1);
	/* A connection to the answered address carries the name. */
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_ptr_nonnull(seen.last.dst_name);
	ck_assert_str_eq(seen.last.dst_name, "web.example");
	ck_assert_ptr_null(seen.last.src_name);
	/* Garbage on port 53 is counted, never fatal. */
	d.data_len = 7;
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->dns_errors, 1);
	d.data_len = FLOW_DNS_MAX + 1;
	ck_assert_int_lt(collector_handle_record(col.c, &d, sizeof(d)), 0);
	teardown(&col);
	dns_cache_free(dns);
}
END_TEST

/* The name a connection from 10.0.0.1 to ip gets now. */
static const char *name_of_conn(struct tcoll *col, struct seen *seen, const char *ip,
				uint16_t sport)
{
	struct flow_key k = key4("10.0.0.1", sport, ip, 443, IPPROTO_TCP);
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, NS);

	ck_assert_int_eq(collector_handle_record(col->c, &syn, sizeof(syn)), 0);
	return seen->last.dst_name;
}

/* Anyone can put a DNS "response" on the wire; only an answer to a query seen (same flow, sent
 * by the other end, same id and question, in time) names addresses. */
START_TEST(test_dns_answers_are_believed_only_for_a_query_seen)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key dk = key4("10.0.0.1", 45353, "10.0.0.53", 53, IPPROTO_UDP);
	struct flow_key other = key4("10.0.0.1", 45354, "10.0.0.53", 53, IPPROTO_UDP);
	struct dns_cache *dns = dns_cache_new(&(struct dns_cache_limits){100, 100, 100});
	uint64_t t = clock_boot_ns();
	const struct dns_match_stats *ms;

	setup_with(&col, &seen,
		   (struct collector_opts){.dns = dns, .dns_query_timeout_ns = 2 * NS});
	/* A forged response, no query: not believed. */
	dns_rec(&col, &dk, 1, t, 7, "bank.example", "10.9.9.1");
	ck_assert_ptr_null(name_of_conn(&col, &seen, "10.9.9.1", 40001));
	/* A query, then answers that do not answer it: another id, another name, another flow,
	 * sent by the asker itself, later than the timeout. */
	dns_rec(&col, &dk, 0, t + 1, 8, "shop.example", NULL);
	dns_rec(&col, &dk, 1, t + 2, 9, "shop.example", "10.9.9.2");
	dns_rec(&col, &dk, 1, t + 3, 8, "bank.example", "10.9.9.2");
	dns_rec(&col, &other, 1, t + 4, 8, "shop.example", "10.9.9.2");
	dns_rec(&col, &dk, 0, t + 5, 8, "shop.example", "10.9.9.2");
	dns_rec(&col, &dk, 1, t + 1 + 3 * NS, 8, "shop.example", "10.9.9.2");
	ck_assert_ptr_null(name_of_conn(&col, &seen, "10.9.9.2", 40002));
	ms = &tcoll_stats(&col)->dns_match;
	ck_assert_uint_eq(ms->matched, 0);
	ck_assert_uint_eq(ms->unmatched, 2); /* the asker's and the late one; the rest are held */
	/* The real answer, in time: believed; the same answer again (a second observation point)
	 * too; then a different answer to the same query is not. */
	dns_rec(&col, &dk, 0, t + 10, 10, "shop.example", NULL);
	dns_rec(&col, &dk, 1, t + 11, 10, "shop.example", "10.9.9.3");
	dns_rec(&col, &dk, 1, t + 12, 10, "shop.example", "10.9.9.3");
	dns_rec(&col, &dk, 1, t + 13, 10, "shop.example", "10.9.9.4");
	ck_assert_str_eq(name_of_conn(&col, &seen, "10.9.9.3", 40003), "shop.example");
	ck_assert_ptr_null(name_of_conn(&col, &seen, "10.9.9.4", 40004));
	ms = &tcoll_stats(&col)->dns_match;
	ck_assert_uint_eq(ms->matched, 1);
	ck_assert_uint_eq(ms->unmatched, 3);
	/* Read out of order (another CPU's ring): the answer first, its query next. */
	dns_rec(&col, &dk, 1, t + 21, 11, "late.example", "10.9.9.5");
	ck_assert_ptr_null(name_of_conn(&col, &seen, "10.9.9.5", 40005));
	dns_rec(&col, &dk, 0, t + 20, 11, "late.example", NULL);
	ck_assert_str_eq(name_of_conn(&col, &seen, "10.9.9.5", 40006), "late.example");
	/* A query sent after the held answer does not explain it. */
	dns_rec(&col, &dk, 1, t + 30, 12, "after.example", "10.9.9.6");
	dns_rec(&col, &dk, 0, t + 31, 12, "after.example", NULL);
	ck_assert_ptr_null(name_of_conn(&col, &seen, "10.9.9.6", 40007));
	ms = &tcoll_stats(&col)->dns_match;
	ck_assert_uint_eq(ms->matched, 2);
	ck_assert_uint_eq(ms->unmatched, 4);
	teardown(&col);
	dns_cache_free(dns);
}
END_TEST

static int make_map(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "test_flows", sizeof(struct flow_key),
				sizeof(struct flow_state), 1024, NULL);

	if (fd < 0 && geteuid() == 0)
		ck_abort_msg("bpf_map_create failed as root: %s", strerror(errno));
	return fd;
}

/* More live kernel entries than the store holds: the sweep adopts what fits and leaves the rest
 * (counted), instead of evicting one active flow to adopt another, then that one back on the
 * next sweep, each told as a new START (an event storm, and STARTs twice for one connection). */
START_TEST(test_sweep_does_not_churn_a_store_full_of_active_flows)
{
	struct tcoll col;
	struct seen seen = {0};
	uint64_t now = clock_boot_ns();
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_flows", sizeof(struct flow_key),
				sizeof(struct flow_state), 2048, NULL),
	    i;

	if (fd < 0 && geteuid() == 0)
		ck_abort_msg("bpf_map_create failed as root: %s", strerror(errno));
	if (fd < 0) {
		fprintf(stderr, "skip: needs root for BPF maps\n");
		return;
	}
	setup(&col, &seen);
	for (i = 0; i < 1100; i++) {
		char src[32];
		struct flow_key k;
		struct flow_state st = {0};

		snprintf(src, sizeof(src), "10.1.%d.%d", i / 256, i % 256);
		k = key4(src, 40000, "10.0.0.2", 53, IPPROTO_UDP);
		state_times(&st, now - NS, now);
		st.packets[0] = 1;
		ck_assert_int_eq(bpf_map_update_elem(fd, &k, &st, BPF_ANY), 0);
	}
	ck_assert_int_ge(collector_sweep(col.c, fd), 0);
	ck_assert_int_eq(seen.starts, 1024);
	ck_assert_uint_eq(tcoll_stats(&col)->last_sweep_untracked, 76);
	ck_assert_int_ge(collector_sweep(col.c, fd), 0);
	ck_assert_int_ge(collector_sweep(col.c, fd), 0);
	ck_assert_int_eq(seen.starts, 1024);
	ck_assert_uint_eq(tcoll_stats(&col)->last_sweep_untracked, 76);
	teardown(&col);
	close(fd);
}
END_TEST

START_TEST(test_sweep_refreshes_counters_and_ends_idle_flows)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k1 = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_key k2 = key4("10.0.0.1", 5353, "10.0.0.3", 53, IPPROTO_UDP);
	struct flow_state s1 = {0}, s2 = {0}, tmp;
	uint64_t now = clock_boot_ns();
	struct flow *f1, *f2;
	int fd = make_map();

	if (fd < 0) {
		fprintf(stderr, "skip: needs root for BPF maps\n");
		return;
	}
	setup_with(&col, &seen, (struct collector_opts){.update_interval_ns = 1});
	/* k1: active TCP flow with new packets; k2: UDP idle for 60 s (timeout 30 s). */
	state_times(&s1, now - 2 * NS, now);
	s1.packets[0] = 10;
	s1.packets[1] = 8;
	s1.bytes[0] = 1000;
	s1.bytes[1] = 9000;
	s1.tcp_flags[0] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	state_times(&s2, now - 70 * NS, now - 60 * NS);
	s2.packets[0] = 1;
	ck_assert_int_eq(bpf_map_update_elem(fd, &k1, &s1, BPF_ANY), 0);
	ck_assert_int_eq(bpf_map_update_elem(fd, &k2, &s2, BPF_ANY), 0);

	/* Neither flow's start record was seen: the sweep adopts both. */
	ck_assert_int_eq(collector_sweep(col.c, fd), 1);
	f1 = flow_store_find(col.store, &k1);
	ck_assert_ptr_nonnull(f1);
	ck_assert_uint_eq(f1->packets[0], 10);
	ck_assert_uint_eq(f1->bytes[1], 9000);
	ck_assert_ptr_null(flow_store_find(col.store, &k2));	 /* ended */
	ck_assert_int_lt(bpf_map_lookup_elem(fd, &k2, &tmp), 0); /* deleted from the kernel */
	ck_assert_int_eq(seen.ends, 1);
	ck_assert(seen.last_end.ended);
	ck_assert_uint_eq(seen.last_end.dst.port, 53);
	ck_assert_uint_eq(seen.last_end.packets[0], 1);

	/* More packets: the next sweep republishes the updated counters. */
	s1.packets[0] = 20;
	state_times(&s1, s1.first_seen_ns, clock_boot_ns());
	bpf_map_update_elem(fd, &k1, &s1, BPF_ANY);
	ck_assert_int_eq(collector_sweep(col.c, fd), 0);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_UPDATE);
	ck_assert_uint_eq(seen.last.packets[0], 20);

	/* The kernel forgets k1 (LRU eviction): the flow ends at the next sweep. */
	bpf_map_delete_elem(fd, &k1);
	ck_assert_int_eq(collector_sweep(col.c, fd), 1);
	f2 = flow_store_find(col.store, &k1);
	ck_assert_ptr_null(f2);
	ck_assert_int_eq(seen.ends, 2);
	ck_assert_uint_eq(seen.last_end.dst.port, 80);
	ck_assert_uint_eq(seen.last_end.packets[0], 20);
	close(fd);
	teardown(&col);
}
END_TEST

/* The sweep can read a kernel entry whose start record is still in another CPU's ring: it
 * adopts the flow and tells its START. When the record arrives it must not start the flow a
 * second time; a SYN it carries is still told, as a flags event. */
START_TEST(test_start_record_after_the_sweep_adopted_the_flow_is_not_a_second_start)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key ku = key4("10.0.0.1", 5353, "10.0.0.3", 53, IPPROTO_UDP);
	struct flow_key kt = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_state su = {0}, st = {0};
	uint64_t now = clock_boot_ns();
	struct flow_record ru = rec(ku, FLOW_EV_START, 0, 0, 0, now - NS);
	struct flow_record rt =
		rec(kt, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, now - NS);
	int fd = make_map();

	setup_with(&col, &seen, (struct collector_opts){0});
	state_times(&su, now - NS, now);
	state_times(&st, now - NS, now);
	su.packets[0] = st.packets[0] = 2;
	st.tcp_flags[0] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	ck_assert_int_eq(bpf_map_update_elem(fd, &ku, &su, BPF_ANY), 0);
	ck_assert_int_eq(bpf_map_update_elem(fd, &kt, &st, BPF_ANY), 0);
	ck_assert_int_eq(collector_sweep(col.c, fd), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_int_eq(seen.starts, 2); /* both adopted, each started once */

	/* The late start records of the same kernel entries. */
	ru.state.first_seen_ns = su.first_seen_ns;
	rt.state.first_seen_ns = st.first_seen_ns;
	ck_assert_int_eq(collector_handle_record(col.c, &ru, sizeof(ru)), 0);
	ck_assert_int_eq(seen.n, 2); /* nothing new to tell */
	ck_assert_int_eq(collector_handle_record(col.c, &rt, sizeof(rt)), 0);
	ck_assert_int_eq(seen.n, 3);
	ck_assert_int_eq(seen.starts, 2);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_TCP_FLAGS);
	ck_assert_uint_eq(seen.last.tcp_flags, FLOW_TCP_SYN);
	ck_assert_uint_eq(tcoll_stats(&col)->flows_published, 3);
	/* The counters are still the kernel's (the records' are older). */
	ck_assert_uint_eq(flow_store_find(col.store, &ku)->packets[0], 2);
	teardown(&col);
	close(fd);
}
END_TEST

START_TEST(test_open_tcp_uses_the_long_timeout_closed_tcp_the_short_one)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key open_k = key4("10.0.0.1", 1, "10.0.0.2", 22, IPPROTO_TCP);
	struct flow_key fin_k = key4("10.0.0.1", 2, "10.0.0.2", 22, IPPROTO_TCP);
	struct flow_state s = {0};
	uint64_t now = clock_boot_ns();
	int fd = make_map();

	if (fd < 0) {
		fprintf(stderr, "skip: needs root for BPF maps\n");
		return;
	}
	setup(&col, &seen);
	state_times(&s, now - 100 * NS, now - 60 * NS);
	s.packets[0] = 3;
	s.tcp_flags[0] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	bpf_map_update_elem(fd, &open_k, &s, BPF_ANY);
	s.tcp_flags[0] |= FLOW_TCP_FIN;
	s.tcp_flags[1] = FLOW_TCP_FIN | FLOW_TCP_ACK;
	bpf_map_update_elem(fd, &fin_k, &s, BPF_ANY);
	ck_assert_int_eq(collector_sweep(col.c, fd), 1);
	ck_assert_ptr_nonnull(flow_store_find(col.store, &open_k));
	ck_assert_ptr_null(flow_store_find(col.store, &fin_k));
	close(fd);
	teardown(&col);
}
END_TEST

/* Every event a subscriber got, kept for the tests that look at several. */
struct events {
	struct flow ev[16];
	int n;
};

static void keep_event(const struct flow *f, void *ctx)
{
	struct events *e = ctx;

	if (e->n < 16)
		e->ev[e->n++] = *f;
}

static struct flow_drop_record drop_rec(struct flow_key k, uint32_t reason, uint64_t count,
					uint64_t ts)
{
	struct flow_drop_record d;

	memset(&d, 0, sizeof(d));
	d.type = FLOW_REC_DROP;
	d.version = FLOW_RECORD_VERSION;
	d.reason = reason;
	d.key = k;
	d.key.ifindex = 0;
	d.tcp_flags = FLOW_TCP_SYN;
	d.ts_ns = ts;
	d.count = count;
	return d;
}

/* One connection through two watched interfaces: one flow per observation point, the second a
 * copy; a drop is one event, on the first, counted once; the counters count the connection
 * once. */
START_TEST(test_a_connection_on_two_interfaces_counts_once)
{
	struct tcoll col;
	struct events ev = {0};
	struct flow_key k1 = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP), k2 = k1;
	struct flow_record a, b;
	struct flow_drop_record d;

	k2.ifindex = 2;
	a = rec(k1, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, NS);
	b = rec(k2, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, NS + 1000);
	d = drop_rec(k1, 12 /* whichever: the collector takes what the probe reports */, 3, 2 * NS);
	tcoll_setup(&col, (struct collector_opts){0}, keep_event, &ev);
	ck_assert_int_eq(collector_handle_record(col.c, &a, sizeof(a)), 0);
	ck_assert_int_eq(collector_handle_record(col.c, &b, sizeof(b)), 0);
	ck_assert_int_eq(ev.n, 2);
	ck_assert(!ev.ev[0].copy);
	ck_assert(ev.ev[1].copy);
	ck_assert_uint_ne(ev.ev[0].id, ev.ev[1].id);
	ck_assert_uint_eq(tcoll_stats(&col)->tcp_flags[1][0], 1); /* one SYN counted */
	ck_assert_uint_eq(col.st.flows[0][0][METRIC_PROTO_TCP], 1);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(ev.n, 3);
	ck_assert_uint_eq(ev.ev[2].event, FLOW_EVENT_DROP);
	ck_assert_uint_eq(ev.ev[2].verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(ev.ev[2].id, ev.ev[0].id);
	ck_assert(!ev.ev[2].copy);
	ck_assert_uint_eq(ev.ev[2].tcp_flags, FLOW_TCP_SYN);
	ck_assert_uint_eq(tcoll_stats(&col)->drops[12][METRIC_PROTO_TCP], 3);
	ck_assert_uint_eq(col.st.flows[0][1][METRIC_PROTO_TCP], 1);
	/* The next report of the same reason adds what is new, still once. */
	d.count = 5;
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->drops[12][METRIC_PROTO_TCP], 5);
	tcoll_teardown(&col);
}
END_TEST

/* Each event is a snapshot of what it tells: its packet's flags and direction, its own verdict,
 * its observation point and a uuid of its own; the store keeps the per-flow view. */
START_TEST(test_events_are_snapshots_the_store_the_per_flow_view)
{
	struct tcoll col;
	struct events ev = {0};
	struct flow_key k = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, NS);
	struct flow_record sa =
		rec(k, FLOW_EV_TCP_FLAGS, 0, 1, FLOW_TCP_SYN | FLOW_TCP_ACK, 2 * NS);
	struct flow_drop_record d = drop_rec(k, 12, 1, 3 * NS);
	struct flow *f;

	sa.state.packets[0] = 1;
	sa.state.tcp_flags[0] = FLOW_TCP_SYN;
	sa.state.first_seen_ns = NS;
	sa.tc_dir = FLOW_TC_INGRESS; /* the reply passes the other hook */
	tcoll_setup(&col, (struct collector_opts){0}, keep_event, &ev);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_int_eq(collector_handle_record(col.c, &sa, sizeof(sa)), 0);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(ev.n, 3);
	ck_assert_uint_eq(ev.ev[0].tcp_flags, FLOW_TCP_SYN);
	ck_assert(!ev.ev[0].is_reply);
	ck_assert_uint_eq(ev.ev[1].tcp_flags, FLOW_TCP_SYN | FLOW_TCP_ACK);
	ck_assert(ev.ev[1].is_reply);
	/* ifindex 1 is loopback in every namespace: egress from-stack, ingress to-stack. */
	ck_assert_uint_eq(ev.ev[0].obs_point, FLOW_OBS_FROM_STACK);
	ck_assert_uint_eq(ev.ev[1].obs_point, FLOW_OBS_TO_STACK);
	ck_assert_uint_eq(ev.ev[0].verdict, FLOW_VERDICT_FORWARDED);
	ck_assert_uint_eq(ev.ev[1].verdict, FLOW_VERDICT_FORWARDED);
	ck_assert_uint_eq(ev.ev[2].verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(ev.ev[0].seq + 1, ev.ev[1].seq);
	ck_assert_mem_ne(ev.ev[0].uuid, ev.ev[1].uuid, 16);
	ck_assert_mem_eq(ev.ev[0].uuid, ev.ev[1].uuid, 6); /* one collector's prefix */
	ck_assert_uint_eq(ev.ev[0].uuid[6] >> 4, 4);
	ck_assert_uint_eq(ev.ev[0].uuid[8] >> 6, 2);
	/* On loopback both directions pass egress: the reply's point is its own hook's. */
	sa.tc_dir = FLOW_TC_EGRESS;
	sa.pkt_tcp_flags = FLOW_TCP_FIN;
	sa.state.tcp_flags[1] |= FLOW_TCP_FIN;
	ck_assert_int_eq(collector_handle_record(col.c, &sa, sizeof(sa)), 0);
	ck_assert_int_eq(ev.n, 4);
	ck_assert(ev.ev[3].is_reply);
	ck_assert_uint_eq(ev.ev[3].obs_point, FLOW_OBS_FROM_STACK);
	f = flow_store_find(col.store, &k);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->tcp_flags, FLOW_TCP_SYN | FLOW_TCP_ACK | FLOW_TCP_FIN);
	ck_assert(!f->is_reply);
	ck_assert_uint_eq(f->verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(f->event, FLOW_EVENT_TCP_FLAGS);
	ck_assert_mem_eq(f->uuid, ev.ev[3].uuid, 16);
	tcoll_teardown(&col);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("collector");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_decode_rejects_short_unknown_and_bad_records);
	tcase_add_test(tc, test_decode_orients_initiator_as_source);
	tcase_add_test(tc, test_reply_record_joins_the_same_flow);
	tcase_add_test(tc, test_new_start_for_known_key_ends_the_old_flow);
	tcase_add_test(tc, test_records_out_of_order_across_cpus_stay_one_flow);
	tcase_add_test(tc, test_dns_answers_name_flows_and_the_query_carries_l7);
	tcase_add_test(tc, test_dns_answers_are_believed_only_for_a_query_seen);
	tcase_add_test(tc, test_sweep_does_not_churn_a_store_full_of_active_flows);
	tcase_add_test(tc, test_sweep_refreshes_counters_and_ends_idle_flows);
	tcase_add_test(tc, test_open_tcp_uses_the_long_timeout_closed_tcp_the_short_one);
	tcase_add_test(tc,
		       test_start_record_after_the_sweep_adopted_the_flow_is_not_a_second_start);
	tcase_add_test(tc, test_a_connection_on_two_interfaces_counts_once);
	tcase_add_test(tc, test_events_are_snapshots_the_store_the_per_flow_view);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
