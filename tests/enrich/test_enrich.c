/* Tests of what the collector adds to flows beyond the TC probe's records: the processes, RTT
 * and retransmits of local TCP sockets (and the end of a flow whose sockets closed), packet
 * drops, and the identity/DNS-name filters (pods, services, labels, fqdns) on such flows. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/pipeline/collector.h"
#include "records.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/enrich/identities.h"

#define NS 1000000000ULL
#define MS 1000000ULL

/* A socket record as the socket probe writes it (ports in host order). */
static struct flow_sock_record srec(uint32_t event, const char *laddr, uint16_t lport,
				    const char *raddr, uint16_t rport, uint64_t cookie, uint64_t ts)
{
	struct flow_sock_record r;

	memset(&r, 0, sizeof(r));
	r.type = FLOW_REC_SOCK;
	r.version = FLOW_RECORD_VERSION;
	r.event = event;
	r.family = 4;
	inet_pton(AF_INET, laddr, r.laddr);
	inet_pton(AF_INET, raddr, r.raddr);
	r.lport = lport;
	r.rport = rport;
	r.cookie = cookie;
	r.ts_ns = ts;
	return r;
}

static struct flow_sock_record with_task(struct flow_sock_record r, uint32_t pid, const char *comm)
{
	r.has_task = 1;
	r.pid = pid;
	r.tid = pid;
	strncpy(r.comm, comm, sizeof(r.comm) - 1);
	return r;
}

struct seen {
	struct flow last;
	struct flow last_end;
	int n;
	int ends;
	uint16_t end_src_ports[16]; /* of the flows ended, in order */
};

static void on_flow(const struct flow *f, void *ctx)
{
	struct seen *s = ctx;

	s->last = *f;
	s->n++;
	if (f->event == FLOW_EVENT_END) {
		s->last_end = *f;
		if (s->ends < 16)
			s->end_src_ports[s->ends] = f->src.port;
		s->ends++;
	}
}

/* A collector with a socket table and options o (0: the defaults), its events seen in seen. */
static void setup_with(struct tcoll *t, struct seen *seen, struct collector_opts o)
{
	o.socks = sock_table_new(1024);
	ck_assert_ptr_nonnull(o.socks);
	tcoll_setup(t, o, on_flow, seen);
}

static void setup(struct tcoll *t, struct seen *seen)
{
	setup_with(t, seen, (struct collector_opts){0});
}

static void teardown(struct tcoll *t)
{
	tcoll_teardown(t);
	sock_table_free(t->o.socks);
}

static void handle_sock(struct collector *c, struct flow_sock_record r)
{
	ck_assert_int_eq(collector_handle_record(c, &r, sizeof(r)), 0);
}

/* The client 10.0.0.1:cport (pid 1111 "curl", cookie ccookie, srtt 1500 us, 2 retransmits)
 * connected to the server 10.0.0.2:80 whose listener is pid 2222 "nginx"; the accepted socket
 * has cookie ccookie + 0x1000, srtt 700 us and 1 retransmit. */
static void client_sockets(struct collector *c, uint16_t cport, uint64_t ccookie, uint64_t ts)
{
	struct flow_sock_record r;

	handle_sock(c, with_task(srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.2", 80, ccookie, ts),
				 1111, "curl"));
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", cport, "10.0.0.2", 80, ccookie, ts + 1);
	r.srtt_us = 1500;
	r.total_retrans = 2;
	handle_sock(c, r);
}

static void server_sockets(struct collector *c, uint16_t cport, uint64_t scookie, uint64_t ts)
{
	struct flow_sock_record r;

	r = srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 80, "10.0.0.1", cport, scookie, ts);
	r.srtt_us = 700;
	r.total_retrans = 1;
	handle_sock(c, r);
}

static void listener(struct collector *c, uint64_t ts)
{
	handle_sock(c, with_task(srec(FLOW_SOCK_LISTEN, "0.0.0.0", 80, "0.0.0.0", 0, 0x9000, ts),
				 2222, "nginx"));
}

static int make_map(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "test_enrich", sizeof(struct flow_key),
				sizeof(struct flow_state), 1024, NULL);

	if (fd < 0 && geteuid() == 0)
		ck_abort_msg("bpf_map_create failed as root: %s", strerror(errno));
	return fd;
}

/* The kernel entry matching what rec(k, START, 0, 0, SYN, first) told, now with packets
 * counted in both directions up to last. */
static struct flow_state entry(uint64_t first, uint64_t last, uint64_t pkts)
{
	struct flow_state s;

	memset(&s, 0, sizeof(s));
	state_times(&s, first, last);
	s.packets[0] = pkts;
	s.packets[1] = pkts;
	s.bytes[0] = 60 * pkts;
	s.bytes[1] = 60 * pkts;
	s.tcp_flags[0] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	s.tcp_flags[1] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	s.init_side = 0;
	s.init_tc_dir = FLOW_TC_EGRESS;
	return s;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / NS), .tv_nsec = (long)(ns % NS)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- sockets ------------------------------------------------------------------------------ */

START_TEST(test_flow_gets_processes_rtt_and_cookie_of_its_sockets)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	uint64_t t0 = clock_boot_ns() - 5 * NS;
	struct flow_record syn =
		rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0 + 10 * MS);
	struct flow *f;

	setup(&col, &seen);
	listener(col.c, t0);
	client_sockets(col.c, 40000, 0x1001, t0 + 1 * MS);
	server_sockets(col.c, 40000, 0x2001, t0 + 2 * MS);
	ck_assert_uint_eq(tcoll_stats(&col)->sock_records, 4);
	ck_assert_int_eq(seen.n, 0); /* socket records alone publish nothing */

	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_START);
	ck_assert(flow_proc_known(seen.last.src_proc));
	ck_assert_uint_eq(seen.last.src_proc->pid, 1111);
	ck_assert_str_eq(seen.last.src_proc->comm, "curl");
	ck_assert(flow_proc_known(seen.last.dst_proc));
	ck_assert_uint_eq(seen.last.dst_proc->pid, 2222);
	ck_assert_str_eq(seen.last.dst_proc->comm, "nginx");
	/* The client's socket is the one whose RTT and cookie the flow carries. */
	ck_assert_uint_eq(seen.last.rtt_us, 1500);
	ck_assert_uint_eq(seen.last.socket_cookie, 0x1001);
	ck_assert_uint_eq(seen.last.retransmits, 3);
	ck_assert_uint_eq(seen.last.sock_closed_ns, 0);
	f = flow_store_find(col.store, &k);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->src_proc->pid, 1111);
	ck_assert_uint_eq(f->dst_proc->pid, 2222);

	/* UDP flows on the same addresses and ports are not joined to TCP sockets. */
	k.proto = IPPROTO_UDP;
	syn = rec(k, FLOW_EV_START, 0, 0, 0, t0 + 20 * MS);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert(!flow_proc_known(seen.last.src_proc));
	ck_assert(!flow_proc_known(seen.last.dst_proc));
	ck_assert_uint_eq(seen.last.socket_cookie, 0);
	ck_assert_uint_eq(seen.last.rtt_us, 0);
	teardown(&col);
}
END_TEST

START_TEST(test_flow_with_only_the_server_socket_local)
{
	struct tcoll col;
	struct seen seen = {0};
	/* A remote client 10.0.0.1 (no local socket) to the local server. */
	struct flow_key k = key4("10.0.0.1", 40005, "10.0.0.2", 80, IPPROTO_TCP);
	uint64_t t0 = clock_boot_ns() - 5 * NS;
	struct flow_record syn =
		rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0 + 10 * MS);

	setup(&col, &seen);
	listener(col.c, t0);
	server_sockets(col.c, 40005, 0x2005, t0 + 1 * MS);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert(!flow_proc_known(seen.last.src_proc));
	ck_assert(flow_proc_known(seen.last.dst_proc));
	ck_assert_uint_eq(seen.last.dst_proc->pid, 2222);
	ck_assert_uint_eq(seen.last.rtt_us, 700);
	ck_assert_uint_eq(seen.last.retransmits, 1);
	ck_assert_uint_eq(seen.last.socket_cookie, 0x2005);
	teardown(&col);
}
END_TEST

START_TEST(test_sockets_seen_after_the_start_are_joined_at_the_sweep)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 40001, "10.0.0.2", 80, IPPROTO_TCP);
	uint64_t t0 = clock_boot_ns() - 2 * NS;
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0);
	struct flow_state s;
	struct flow *f;
	uint64_t id;
	int fd = make_map();

	if (fd < 0) {
		fprintf(stderr, "skip: needs root for BPF maps\n");
		return;
	}
	setup_with(&col, &seen, (struct collector_opts){.update_interval_ns = 1});
	/* The SYN's record is read before the socket records (other CPUs' rings). */
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_int_eq(seen.n, 1);
	id = seen.last.id;
	ck_assert(!flow_proc_known(seen.last.src_proc));
	ck_assert(!flow_proc_known(seen.last.dst_proc));
	ck_assert_uint_eq(seen.last.socket_cookie, 0);

	listener(col.c, t0 - NS);
	client_sockets(col.c, 40001, 0x1002, t0 + 1 * MS);
	server_sockets(col.c, 40001, 0x2002, t0 + 2 * MS);
	ck_assert_int_eq(seen.n, 1);

	/* The kernel entry of this flow (same first_seen), with the handshake and data. */
	s = entry(t0, clock_boot_ns(), 5);
	ck_assert_int_eq(bpf_map_update_elem(fd, &k, &s, BPF_ANY), 0);
	ck_assert_int_eq(collector_sweep(col.c, fd), 0);
	f = flow_store_find(col.store, &k);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->id, id);
	ck_assert(flow_proc_known(f->src_proc));
	ck_assert_uint_eq(f->src_proc->pid, 1111);
	ck_assert_str_eq(f->src_proc->comm, "curl");
	ck_assert(flow_proc_known(f->dst_proc));
	ck_assert_uint_eq(f->dst_proc->pid, 2222);
	ck_assert_str_eq(f->dst_proc->comm, "nginx");
	ck_assert_uint_eq(f->rtt_us, 1500);
	ck_assert_uint_eq(f->socket_cookie, 0x1002);
	/* Its counters changed: the update published carries the sockets too. */
	ck_assert_int_eq(seen.n, 2);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_UPDATE);
	ck_assert_uint_eq(seen.last.id, id);
	ck_assert_uint_eq(seen.last.packets[0], 5);
	ck_assert_uint_eq(seen.last.src_proc->pid, 1111);
	ck_assert_uint_eq(seen.last.dst_proc->pid, 2222);
	ck_assert_uint_eq(seen.last.rtt_us, 1500);
	ck_assert_uint_eq(seen.last.socket_cookie, 0x1002);
	ck_assert_int_eq(seen.ends, 0);
	close(fd);
	teardown(&col);
}
END_TEST

START_TEST(test_flow_ends_once_its_sockets_closed_and_the_grace_passed)
{
	struct tcoll col;
	struct seen seen = {0};
	/* both: client and server closed. half: the server is still open. late: both closed
	 * but packets still arrive. remote: only the client is local (port 443), closed. */
	struct flow_key both = key4("10.0.0.1", 41000, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_key half = key4("10.0.0.1", 41001, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_key late = key4("10.0.0.1", 41002, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_key remote = key4("10.0.0.1", 41003, "10.0.0.3", 443, IPPROTO_TCP);
	const uint64_t grace = 100 * MS;
	uint64_t t0 = clock_boot_ns() - 3 * NS, t;
	struct flow_record r;
	struct flow_state s;
	struct flow *f;
	uint64_t both_id;
	int fd = make_map();

	if (fd < 0) {
		fprintf(stderr, "skip: needs root for BPF maps\n");
		return;
	}
	setup_with(&col, &seen, (struct collector_opts){.close_grace_ns = grace});
	listener(col.c, t0 - NS);
	client_sockets(col.c, 41000, 0x1100, t0);
	server_sockets(col.c, 41000, 0x2100, t0);
	client_sockets(col.c, 41001, 0x1101, t0);
	server_sockets(col.c, 41001, 0x2101, t0);
	client_sockets(col.c, 41002, 0x1102, t0);
	server_sockets(col.c, 41002, 0x2102, t0);
	handle_sock(col.c,
		    with_task(srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.3", 443, 0x1103, t0),
			      1111, "curl"));
	handle_sock(col.c,
		    srec(FLOW_SOCK_STATS, "10.0.0.1", 41003, "10.0.0.3", 443, 0x1103, t0 + 1));

	r = rec(both, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0);
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	both_id = seen.last.id;
	r.key = half;
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	r.key = late;
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	r.key = remote;
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	ck_assert_int_eq(seen.n, 4);

	/* The sockets close now; the last packets were just before. */
	t = clock_boot_ns();
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.1", 41000, "10.0.0.2", 80, 0x1100, t));
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.2", 80, "10.0.0.1", 41000, 0x2100, t));
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.1", 41001, "10.0.0.2", 80, 0x1101, t));
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.1", 41002, "10.0.0.2", 80, 0x1102, t));
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.2", 80, "10.0.0.1", 41002, 0x2102, t));
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.1", 41003, "10.0.0.3", 443, 0x1103, t));
	s = entry(t0, t - 1 * MS, 4);
	ck_assert_int_eq(bpf_map_update_elem(fd, &both, &s, BPF_ANY), 0);
	ck_assert_int_eq(bpf_map_update_elem(fd, &half, &s, BPF_ANY), 0);
	ck_assert_int_eq(bpf_map_update_elem(fd, &late, &s, BPF_ANY), 0);
	ck_assert_int_eq(bpf_map_update_elem(fd, &remote, &s, BPF_ANY), 0);

	/* Right after the close: within the grace, nothing ends. */
	ck_assert_int_eq(collector_sweep(col.c, fd), 0);
	ck_assert_int_eq(seen.ends, 0);
	f = flow_store_find(col.store, &both);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->sock_closed_ns, t);
	ck_assert_ptr_nonnull(flow_store_find(col.store, &half));
	ck_assert_uint_eq(flow_store_find(col.store, &half)->sock_closed_ns, 0);
	ck_assert_int_eq(bpf_map_lookup_elem(fd, &both, &s), 0);

	/* Past the grace; late's entry saw a packet just now. */
	sleep_ns(grace + 50 * MS);
	s = entry(t0, clock_boot_ns(), 4);
	ck_assert_int_eq(bpf_map_update_elem(fd, &late, &s, BPF_ANY), 0);
	ck_assert_int_eq(collector_sweep(col.c, fd), 2);
	ck_assert_int_eq(seen.ends, 2);

	/* both ended, with its final view, and its kernel entry is gone. */
	ck_assert_ptr_null(flow_store_find(col.store, &both));
	ck_assert_int_lt(bpf_map_lookup_elem(fd, &both, &s), 0);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(flow_store_find(col.store, &remote));
	ck_assert_int_lt(bpf_map_lookup_elem(fd, &remote, &s), 0);
	/* The two ENDs published are both's and remote's (in map order). */
	ck_assert((seen.end_src_ports[0] == 41000 && seen.end_src_ports[1] == 41003) ||
		  (seen.end_src_ports[0] == 41003 && seen.end_src_ports[1] == 41000));
	ck_assert(seen.last_end.ended);
	ck_assert_uint_eq(seen.last_end.event, FLOW_EVENT_END);
	ck_assert_uint_eq(seen.last_end.sock_closed_ns, t);
	ck_assert_uint_eq(seen.last_end.packets[0], 4);
	if (seen.last_end.src.port == 41000)
		ck_assert_uint_eq(seen.last_end.id, both_id);

	/* half: the server's socket is open: the connection is not over. */
	f = flow_store_find(col.store, &half);
	ck_assert_ptr_nonnull(f);
	ck_assert(!f->ended);
	ck_assert_int_eq(bpf_map_lookup_elem(fd, &half, &s), 0);
	/* late: packets within the grace keep it. */
	f = flow_store_find(col.store, &late);
	ck_assert_ptr_nonnull(f);
	ck_assert(!f->ended);
	ck_assert_uint_eq(f->sock_closed_ns, t);
	ck_assert_int_eq(bpf_map_lookup_elem(fd, &late, &s), 0);

	/* Nothing more ends at the next sweep right away. */
	ck_assert_int_eq(collector_sweep(col.c, fd), 0);
	ck_assert_int_eq(seen.ends, 2);
	close(fd);
	teardown(&col);
}
END_TEST

START_TEST(test_end_on_close_publishes_the_flow_with_end_set)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 42000, "10.0.0.2", 80, IPPROTO_TCP);
	const uint64_t grace = 100 * MS;
	uint64_t t0 = clock_boot_ns() - 3 * NS, t;
	struct flow_record r = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0);
	struct flow_state s;
	uint64_t id;
	int fd = make_map();

	if (fd < 0) {
		fprintf(stderr, "skip: needs root for BPF maps\n");
		return;
	}
	setup_with(&col, &seen, (struct collector_opts){.close_grace_ns = grace});
	listener(col.c, t0 - NS);
	client_sockets(col.c, 42000, 0x1200, t0);
	server_sockets(col.c, 42000, 0x2200, t0);
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	id = seen.last.id;
	t = clock_boot_ns();
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.1", 42000, "10.0.0.2", 80, 0x1200, t));
	handle_sock(col.c, srec(FLOW_SOCK_CLOSE, "10.0.0.2", 80, "10.0.0.1", 42000, 0x2200, t));
	/* The last packet passed long before the close: only the close's grace holds it. */
	s = entry(t0, t0 + 10 * MS, 6);
	ck_assert_int_eq(bpf_map_update_elem(fd, &k, &s, BPF_ANY), 0);
	ck_assert_int_eq(collector_sweep(col.c, fd), 0);
	ck_assert_int_eq(seen.ends, 0);
	ck_assert_ptr_nonnull(flow_store_find(col.store, &k));

	sleep_ns(grace + 30 * MS);
	ck_assert_int_eq(collector_sweep(col.c, fd), 1);
	ck_assert_int_eq(seen.ends, 1);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_END);
	ck_assert_uint_eq(seen.last_end.id, id);
	ck_assert(seen.last_end.ended);
	ck_assert(!seen.last_end.is_reply);
	ck_assert_uint_eq(seen.last_end.packets[0], 6);
	ck_assert_uint_eq(seen.last_end.packets[1], 6);
	ck_assert_uint_eq(seen.last_end.sock_closed_ns, t);
	ck_assert_uint_eq(seen.last_end.src_proc->pid, 1111);
	ck_assert_uint_eq(seen.last_end.dst_proc->pid, 2222);
	ck_assert_uint_eq(seen.last_end.end_ns,
			  clock_to_wall(collector_clock(col.c), t0 + 10 * MS));
	ck_assert_ptr_null(flow_store_find(col.store, &k));
	ck_assert_int_lt(bpf_map_lookup_elem(fd, &k, &s), 0);
	close(fd);
	teardown(&col);
}
END_TEST

/* ---- drops -------------------------------------------------------------------------------- */

static struct flow_drop_record drop_rec(struct flow_key k, uint32_t reason, uint8_t sender,
					uint64_t count, uint64_t ts)
{
	struct flow_drop_record d;

	memset(&d, 0, sizeof(d));
	d.type = FLOW_REC_DROP;
	d.version = FLOW_RECORD_VERSION;
	d.reason = reason;
	d.key = k;
	d.key.ifindex = 0;
	d.key.vlan_id = 0;
	d.sender = sender;
	d.tcp_flags = FLOW_TCP_ACK;
	d.ifindex = 0;
	d.ts_ns = ts;
	d.count = count;
	return d;
}

START_TEST(test_drop_record_marks_the_flow_dropped)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	uint64_t t0 = clock_boot_ns() - 5 * NS;
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0);
	struct flow_drop_record d = drop_rec(k, 77, 0, 3, t0 + NS);
	struct flow *f;
	uint64_t id;

	setup(&col, &seen);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_uint_eq(seen.last.verdict, FLOW_VERDICT_FORWARDED);
	id = seen.last.id;

	/* The client (key endpoint 0, the initiator) sent the dropped packets. */
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_uint_eq(seen.last.id, id);
	ck_assert_uint_eq(seen.last.verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_DROP);
	ck_assert_uint_eq(seen.last.drops, 3);
	ck_assert_uint_eq(seen.last.drop_reason, 77);
	ck_assert(!seen.last.is_reply);
	ck_assert_uint_eq(seen.last.ifindex, 1);
	ck_assert_uint_eq(seen.last.tcp_flags, FLOW_TCP_ACK);
	ck_assert_uint_eq(seen.last.time_ns, clock_to_wall(collector_clock(col.c), t0 + NS));
	ck_assert_uint_eq(tcoll_stats(&col)->drop_records, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->drops_untracked, 0);
	f = flow_store_find(col.store, &k);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(f->drops, 3);

	/* The server (endpoint 1) had packets dropped for another reason: a reply's drop. */
	d = drop_rec(k, 5, 1, 2, t0 + 2 * NS);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(seen.n, 3);
	ck_assert_uint_eq(seen.last.id, id);
	ck_assert(seen.last.is_reply);
	ck_assert_uint_eq(seen.last.verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_DROP);
	ck_assert_uint_eq(seen.last.drop_reason, 5);
	ck_assert_uint_eq(seen.last.drops, 2);

	/* The same reason again, with the running count. */
	d = drop_rec(k, 5, 1, 9, t0 + 3 * NS);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(seen.last.drops, 9);
	/* An older count of that reason read late (another CPU's ring) does not go back. */
	d = drop_rec(k, 5, 1, 4, t0 + 3 * NS);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(seen.last.drops, 9);
	ck_assert_uint_eq(seen.last.drop_reason, 5);
	ck_assert_uint_eq(tcoll_stats(&col)->drop_records, 4);
	ck_assert_uint_eq(tcoll_stats(&col)->drops_untracked, 0);
	teardown(&col);
}
END_TEST

START_TEST(test_drop_sender_is_judged_against_the_initiator)
{
	struct tcoll col;
	struct seen seen = {0};
	/* The server 10.0.0.1:80 is the lower endpoint: the client 10.0.0.9 is endpoint 1. */
	struct flow_key k = key4("10.0.0.1", 80, "10.0.0.9", 40000, IPPROTO_TCP);
	uint64_t t0 = clock_boot_ns() - 5 * NS;
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 1, 0, FLOW_TCP_SYN, t0);
	struct flow_drop_record d = drop_rec(k, 2, 1, 1, t0 + NS);

	setup(&col, &seen);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_uint_eq(seen.last.src.port, 40000);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_DROP);
	ck_assert(!seen.last.is_reply);
	d = drop_rec(k, 2, 0, 2, t0 + 2 * NS);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(seen.last.event, FLOW_EVENT_DROP);
	ck_assert(seen.last.is_reply);
	ck_assert_uint_eq(seen.last.drops, 2);
	teardown(&col);
}
END_TEST

/* A connection seen on two interfaces: its drop is one event, on the flow of the first point
 * (the second is a copy), whatever interface the drop record names. */
START_TEST(test_drop_is_one_event_of_its_connection)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k1 = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP), k2 = k1;
	uint64_t t0 = clock_boot_ns() - 5 * NS;
	struct flow_record r = rec(k1, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0);
	struct flow_drop_record d = drop_rec(k1, 77, 0, 1, t0 + NS);

	k2.ifindex = 2;
	setup(&col, &seen);
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	r.key = k2;
	ck_assert_int_eq(collector_handle_record(col.c, &r, sizeof(r)), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(seen.n, 3);
	ck_assert_uint_eq(flow_store_find(col.store, &k1)->verdict, FLOW_VERDICT_DROPPED);
	ck_assert_uint_eq(flow_store_find(col.store, &k2)->verdict, FLOW_VERDICT_FORWARDED);
	ck_assert(flow_store_find(col.store, &k2)->copy);
	ck_assert_uint_eq(tcoll_stats(&col)->drops_untracked, 0);
	teardown(&col);
}
END_TEST

START_TEST(test_drop_of_unknown_or_malformed_records)
{
	struct tcoll col;
	struct seen seen = {0};
	struct flow_key k = key4("10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP);
	struct flow_key other = key4("10.0.0.5", 1234, "10.0.0.6", 80, IPPROTO_TCP);
	uint64_t t0 = clock_boot_ns() - 5 * NS;
	struct flow_record syn = rec(k, FLOW_EV_START | FLOW_EV_TCP_FLAGS, 0, 0, FLOW_TCP_SYN, t0);
	struct flow_drop_record d = drop_rec(other, 77, 0, 3, t0 + NS);

	setup(&col, &seen);
	ck_assert_int_eq(collector_handle_record(col.c, &syn, sizeof(syn)), 0);
	ck_assert_int_eq(seen.n, 1);

	/* A tuple no flow has: counted, nothing published. */
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->drop_records, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->drops_untracked, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->decode_errors, 0);
	/* The same tuple over UDP is another flow. */
	d = drop_rec(k, 77, 0, 3, t0 + NS);
	d.key.proto = IPPROTO_UDP;
	ck_assert_int_eq(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->drops_untracked, 2);

	/* Malformed: rejected and counted, the flow untouched. */
	d = drop_rec(k, 77, 0, 3, t0 + NS);
	ck_assert_int_lt(collector_handle_record(col.c, &d, sizeof(d) - 1), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->decode_errors, 1);
	ck_assert_int_lt(collector_handle_record(col.c, &d, sizeof(d) + 8), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->decode_errors, 2);
	d.sender = 2;
	ck_assert_int_lt(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->decode_errors, 3);
	d.sender = 0;
	d.version = FLOW_RECORD_VERSION + 1;
	ck_assert_int_lt(collector_handle_record(col.c, &d, sizeof(d)), 0);
	ck_assert_uint_eq(tcoll_stats(&col)->decode_errors, 4);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_uint_eq(tcoll_stats(&col)->drop_records, 2);
	ck_assert_uint_eq(tcoll_stats(&col)->drops_untracked, 2);
	ck_assert_uint_eq(flow_store_find(col.store, &k)->verdict, FLOW_VERDICT_FORWARDED);
	ck_assert_uint_eq(flow_store_find(col.store, &k)->drops, 0);
	teardown(&col);
}
END_TEST

/* ---- identity and name filters ------------------------------------------------------------ */

enum field {
	SRC_POD,
	DST_POD,
	SRC_SERVICE,
	DST_SERVICE,
	SRC_LABEL,
	DST_LABEL,
	SRC_FQDN,
	DST_FQDN,
};

/* Whether f passes an allow list of one filter with field = value. */
static bool match(enum field field, const char *value, const struct flow *f)
{
	Flow__FlowFilter m = FLOW__FLOW_FILTER__INIT;
	Flow__FlowFilter *allow[1] = {&m};
	char *v[1] = {(char *)value};
	struct flow_filter_set *fs;
	struct errmsg err = {""};
	bool ok;

	switch (field) {
	case SRC_POD:
		m.n_source_pod = 1;
		m.source_pod = v;
		break;
	case DST_POD:
		m.n_destination_pod = 1;
		m.destination_pod = v;
		break;
	case SRC_SERVICE:
		m.n_source_service = 1;
		m.source_service = v;
		break;
	case DST_SERVICE:
		m.n_destination_service = 1;
		m.destination_service = v;
		break;
	case SRC_LABEL:
		m.n_source_label = 1;
		m.source_label = v;
		break;
	case DST_LABEL:
		m.n_destination_label = 1;
		m.destination_label = v;
		break;
	case SRC_FQDN:
		m.n_source_fqdn = 1;
		m.source_fqdn = v;
		break;
	case DST_FQDN:
		m.n_destination_fqdn = 1;
		m.destination_fqdn = v;
		break;
	}
	fs = flow_filter_set_new(allow, 1, NULL, 0, &err);
	ck_assert_msg(fs != NULL, "filter '%s': %s", value, err.text);
	ok = flow_filter_set_match(fs, f, &(struct filter_node){.name = "node-1"});
	flow_filter_set_free(fs);
	return ok;
}

static const char ids_yaml[] = "identities:\n"
			       "  - ip: 10.0.0.2\n"
			       "    namespace: shop\n"
			       "    pod: web-7d9f\n"
			       "    service: web\n"
			       "    labels: {app: web, tier: front}\n"
			       "  - cidr: 10.0.0.0/24\n"
			       "    namespace: infra\n"
			       "    pod: client-1\n"
			       "    labels: [\"app=client\"]\n";

static char dir[64];
static char ids_path[128];

static void load_identities(void)
{
	struct identity_table *t = NULL;
	struct errmsg err = {""};
	FILE *fp;
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/flowscope-enrich-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ids_path, sizeof(ids_path), "%s/ids.yaml", dir);
	fp = fopen(ids_path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(ids_yaml, 1, strlen(ids_yaml), fp), strlen(ids_yaml));
	ck_assert_int_eq(fclose(fp), 0);
	rc = identity_table_load(ids_path, &t, &err);
	ck_assert_msg(rc == 0, "identity_table_load: %d: %s", rc, err.text);
	ck_assert_ptr_nonnull(t);
	identities_set(t);
	ck_assert_ptr_eq(identities_get(), t);
}

static void remove_identities(void)
{
	identities_set(NULL);
	unlink(ids_path);
	rmdir(dir);
}

static struct flow tcp_flow(void)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.0.0.1", f.src.addr);
	inet_pton(AF_INET, "10.0.0.2", f.dst.addr);
	f.src.port = 40000;
	f.dst.port = 80;
	f.verdict = FLOW_VERDICT_FORWARDED;
	f.event = FLOW_EVENT_START;
	return f;
}

START_TEST(test_pod_and_service_filters)
{
	struct flow f = tcp_flow();

	load_identities();
	ck_assert(match(DST_POD, "shop/web", &f));
	ck_assert(match(DST_POD, "shop/web-7d9f", &f));
	ck_assert(!match(DST_POD, "shop/api", &f));
	ck_assert(match(DST_POD, "web", &f));
	ck_assert(!match(DST_POD, "other/", &f));
	ck_assert(match(DST_POD, "shop/", &f));
	ck_assert(!match(DST_POD, "sho/web", &f));
	ck_assert(!match(DST_POD, "shop/web-7d9f-x", &f));
	ck_assert(!match(DST_POD, "infra/", &f));
	ck_assert(match(SRC_POD, "infra/", &f));
	ck_assert(match(SRC_POD, "infra/client", &f));
	ck_assert(!match(SRC_POD, "shop/web", &f));

	ck_assert(match(DST_SERVICE, "shop/web", &f));
	ck_assert(match(DST_SERVICE, "web", &f));
	ck_assert(!match(DST_SERVICE, "shop/api", &f));
	ck_assert(!match(DST_SERVICE, "other/web", &f));
	ck_assert(!match(DST_SERVICE, "we", &f)); /* services match whole names */
	/* The client has no service. */
	ck_assert(!match(SRC_SERVICE, "infra/", &f));
	ck_assert(!match(SRC_SERVICE, "web", &f));

	/* A reply event is seen from the server's side. */
	f.is_reply = true;
	ck_assert(match(SRC_POD, "shop/web", &f));
	ck_assert(!match(SRC_POD, "infra/", &f));
	ck_assert(match(DST_POD, "infra/client", &f));
	ck_assert(!match(DST_POD, "shop/web", &f));
	ck_assert(match(SRC_SERVICE, "shop/web", &f));
	ck_assert(!match(DST_SERVICE, "web", &f));
	remove_identities();
}
END_TEST

START_TEST(test_label_filters)
{
	struct flow f = tcp_flow();

	load_identities();
	ck_assert(match(DST_LABEL, "app=web", &f));
	ck_assert(match(DST_LABEL, "app=web,tier=front", &f));
	ck_assert(match(DST_LABEL, "k8s:app=web", &f));
	ck_assert(match(DST_LABEL, "tier", &f));
	ck_assert(match(DST_LABEL, "!missing", &f));
	ck_assert(match(DST_LABEL, "app!=client", &f));
	ck_assert(!match(DST_LABEL, "app=client", &f));
	ck_assert(!match(DST_LABEL, "!tier", &f));
	ck_assert(!match(DST_LABEL, "app=web,tier=back", &f));
	ck_assert(!match(DST_LABEL, "app=we", &f));
	ck_assert(!match(DST_LABEL, "app!=web", &f));
	ck_assert(!match(DST_LABEL, "missing", &f));
	ck_assert(match(SRC_LABEL, "app=client", &f));
	ck_assert(!match(SRC_LABEL, "app=web", &f));
	ck_assert(!match(SRC_LABEL, "tier", &f));

	f.is_reply = true;
	ck_assert(match(SRC_LABEL, "app=web,tier=front", &f));
	ck_assert(match(DST_LABEL, "app=client", &f));
	ck_assert(!match(DST_LABEL, "app=web", &f));
	remove_identities();
}
END_TEST

START_TEST(test_fqdn_filters)
{
	struct flow f = tcp_flow();

	f.src_name = "api.example.com";
	ck_assert(match(SRC_FQDN, "*.example.com", &f));
	ck_assert(match(SRC_FQDN, "api.example.com", &f));
	ck_assert(match(SRC_FQDN, "*.EXAMPLE.com.", &f));
	ck_assert(!match(SRC_FQDN, "*.example.org", &f));
	ck_assert(!match(DST_FQDN, "*.example.com", &f));
	f.is_reply = true;
	ck_assert(!match(SRC_FQDN, "*.example.com", &f));
	ck_assert(match(DST_FQDN, "*.example.com", &f));
	f.is_reply = false;
	f.src_name = NULL;
	ck_assert(!match(SRC_FQDN, "*.example.com", &f));
	ck_assert(!match(SRC_FQDN, "*", &f));
}
END_TEST

START_TEST(test_identity_filters_match_nothing_without_identities)
{
	struct flow f = tcp_flow();

	load_identities();
	ck_assert(match(DST_POD, "shop/web", &f));
	identities_set(NULL);
	ck_assert_ptr_null(identities_get());
	ck_assert(!match(DST_POD, "shop/web", &f));
	ck_assert(!match(DST_POD, "web", &f));
	ck_assert(!match(SRC_POD, "infra/", &f));
	ck_assert(!match(DST_SERVICE, "web", &f));
	ck_assert(!match(DST_LABEL, "app=web", &f));
	ck_assert(!match(DST_LABEL, "!missing", &f));
	ck_assert(!match(SRC_LABEL, "app!=web", &f));
	/* Names do not need identities. */
	f.dst_name = "web.shop.example";
	ck_assert(match(DST_FQDN, "*.example", &f));
	remove_identities();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enrich");
	TCase *socks = tcase_create("sockets");
	TCase *drops = tcase_create("drops");
	TCase *filters = tcase_create("filters");
	SRunner *sr;
	int failed;

	tcase_add_test(socks, test_flow_gets_processes_rtt_and_cookie_of_its_sockets);
	tcase_add_test(socks, test_flow_with_only_the_server_socket_local);
	tcase_add_test(socks, test_sockets_seen_after_the_start_are_joined_at_the_sweep);
	tcase_add_test(socks, test_flow_ends_once_its_sockets_closed_and_the_grace_passed);
	tcase_add_test(socks, test_end_on_close_publishes_the_flow_with_end_set);
	tcase_add_test(drops, test_drop_record_marks_the_flow_dropped);
	tcase_add_test(drops, test_drop_sender_is_judged_against_the_initiator);
	tcase_add_test(drops, test_drop_is_one_event_of_its_connection);
	tcase_add_test(drops, test_drop_of_unknown_or_malformed_records);
	tcase_add_test(filters, test_pod_and_service_filters);
	tcase_add_test(filters, test_label_filters);
	tcase_add_test(filters, test_fqdn_filters);
	tcase_add_test(filters, test_identity_filters_match_nothing_without_identities);
	suite_add_tcase(s, socks);
	suite_add_tcase(s, drops);
	suite_add_tcase(s, filters);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
