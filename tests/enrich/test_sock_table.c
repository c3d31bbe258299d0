/* Unit tests of the socket table (sock_table.c) and the join of flows to it (sock_join.c):
 * listeners lend their process to accepted sockets of their own network namespace, a connecting
 * socket learns its tuple later, closes, expiry, port reuse, the size limit, IPv6, dual-stack
 * listeners and malformed records; what the /proc scanner feeds in (never over the probes'
 * data, absorbed by later records, forgotten when a complete scan no longer finds it), local
 * addresses per namespace, the rescan schedule; UDP and TCP flows named through the table.
 * Records are built by hand as the socket probe writes them. */
#include <arpa/inet.h>
#include <errno.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/enrich/cgroup_path.h"
#include "flowscope/enrich/sock_join.h"
#include "flowscope/enrich/sock_table.h"

#define NS 1000000000ULL
#define NETNS_A 4026532001u
#define NETNS_B 4026532002u
#define NETNS_HOME 4026531840u

/* A socket record; addresses are IPv4 or IPv6 text (NULL: all zero), ports in host order. */
static struct flow_sock_record srec(uint32_t event, const char *laddr, uint16_t lport,
				    const char *raddr, uint16_t rport, uint64_t cookie, uint64_t ts)
{
	struct flow_sock_record r;

	memset(&r, 0, sizeof(r));
	r.type = FLOW_REC_SOCK;
	r.version = FLOW_RECORD_VERSION;
	r.event = event;
	r.family = 4;
	if (laddr && inet_pton(AF_INET, laddr, r.laddr) != 1) {
		ck_assert_int_eq(inet_pton(AF_INET6, laddr, r.laddr), 1);
		r.family = 6;
	}
	if (raddr && inet_pton(AF_INET, raddr, r.raddr) != 1) {
		ck_assert_int_eq(inet_pton(AF_INET6, raddr, r.raddr), 1);
		r.family = 6;
	}
	r.lport = lport;
	r.rport = rport;
	r.cookie = cookie;
	r.ts_ns = ts;
	return r;
}

static void set_task(struct flow_sock_record *r, uint32_t pid, const char *comm)
{
	r->has_task = 1;
	r->pid = pid;
	r->tid = pid + 1;
	r->cgroup_id = 1000 + pid;
	strncpy(r->comm, comm, sizeof(r->comm) - 1);
}

static const struct sock_info *find(const struct sock_table *t, const char *la, uint16_t lp,
				    const char *ra, uint16_t rp)
{
	uint8_t l[16] = {0}, r[16] = {0};
	uint8_t family = 4;

	if (inet_pton(AF_INET, la, l) != 1) {
		ck_assert_int_eq(inet_pton(AF_INET6, la, l), 1);
		family = 6;
	}
	if (inet_pton(AF_INET, ra, r) != 1)
		ck_assert_int_eq(inet_pton(AF_INET6, ra, r), 1);
	return sock_table_find(t, family, l, lp, r, rp);
}

static struct sock_table_stats stats(const struct sock_table *t)
{
	struct sock_table_stats st;

	memset(&st, 0xff, sizeof(st));
	sock_table_get_stats(t, &st);
	return st;
}

START_TEST(test_accepted_socket_gets_the_listeners_process)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record listen = srec(FLOW_SOCK_LISTEN, "0.0.0.0", 80, NULL, 0, 1, NS);
	struct flow_sock_record acc =
		srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 80, "10.0.0.1", 40000, 2, 2 * NS);
	struct flow_sock_record other =
		srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 81, "10.0.0.1", 40001, 3, 2 * NS);
	const struct sock_info *i;

	ck_assert_ptr_nonnull(t);
	set_task(&listen, 4242, "nginx");
	ck_assert_ptr_null(sock_table_handle(t, &listen)); /* listeners are not sockets */
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_uint_eq(stats(t).sockets, 0);

	acc.srtt_us = 321;
	i = sock_table_handle(t, &acc);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 2);
	i = find(t, "10.0.0.2", 80, "10.0.0.1", 40000);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 2);
	ck_assert(i->has_task);
	ck_assert(i->tuple_known);
	ck_assert_uint_eq(i->pid, 4242);
	ck_assert_str_eq(i->comm, "nginx");
	ck_assert_uint_eq(i->cgroup_id, 1000 + 4242);
	ck_assert_uint_eq(i->srtt_us, 321);
	ck_assert_uint_eq(i->closed_ns, 0);
	/* The tuple is the socket's own view: local first. */
	ck_assert_ptr_null(find(t, "10.0.0.1", 40000, "10.0.0.2", 80));
	ck_assert_ptr_null(find(t, "10.0.0.2", 80, "10.0.0.1", 40001));

	/* No listener on port 81: the accepted socket is known, its process is not. */
	ck_assert_ptr_nonnull(sock_table_handle(t, &other));
	i = find(t, "10.0.0.2", 81, "10.0.0.1", 40001);
	ck_assert_ptr_nonnull(i);
	ck_assert(!i->has_task);
	ck_assert_uint_eq(i->pid, 0);
	ck_assert_uint_eq(stats(t).sockets, 2);
	ck_assert_uint_eq(stats(t).listeners, 1);
	sock_table_free(t);
}
END_TEST

/* Flows share one record per process; a full table frees the records no flow points at. */
struct proc_holder {
	const struct flow_process *kept;
	int calls;
	struct sock_table *t;
};

static void mark_kept(void *ctx)
{
	struct proc_holder *h = ctx;

	h->calls++;
	sock_table_mark_process(h->t, h->kept);
}

START_TEST(test_process_records_are_shared_and_freed_when_unused)
{
	struct sock_table *t = sock_table_new(16); /* room for 1024 records */
	struct proc_holder h = {.t = t};
	struct sock_table_stats st;
	struct flow_process p;
	const struct flow_process *a, *b;
	int i;

	ck_assert_ptr_nonnull(t);
	memset(&p, 0, sizeof(p));
	p.known = true;
	p.pid = 42;
	strcpy(p.comm, "curl");
	a = sock_table_process(t, &p);
	b = sock_table_process(t, &p);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(a, &p);
	ck_assert_str_eq(a->comm, "curl");
	p.pid = 43;
	ck_assert_ptr_ne(sock_table_process(t, &p), a);
	sock_table_set_holders(t, mark_kept, &h);
	h.kept = a;
	for (i = 0; i < 5000; i++) {
		p.pid = 1000 + (uint32_t)i;
		ck_assert_ptr_nonnull(sock_table_process(t, &p));
	}
	sock_table_get_stats(t, &st);
	ck_assert_int_gt(h.calls, 0);
	ck_assert_uint_le(st.processes, 1024);
	ck_assert_uint_eq(st.processes_full, 0);
	p.pid = 42;
	ck_assert_ptr_eq(sock_table_process(t, &p), a); /* marked: still the same record */
	sock_table_free(t);
}
END_TEST

START_TEST(test_container_id_from_cgroup_paths)
{
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char path[300], out[65];

	snprintf(path, sizeof(path), "/system.slice/docker-%s.scope", id);
	cgroup_container_id_of_path(path, out);
	ck_assert_str_eq(out, id);
	snprintf(path, sizeof(path), "/kubepods/besteffort/pod1234/cri-containerd-%s.scope", id);
	cgroup_container_id_of_path(path, out);
	ck_assert_str_eq(out, id);
	snprintf(path, sizeof(path), "/docker/%s", id);
	cgroup_container_id_of_path(path, out);
	ck_assert_str_eq(out, id);
	/* Not containers: a plain service, 63 or 65 hex digits. */
	cgroup_container_id_of_path("/system.slice/sshd.service", out);
	ck_assert_str_eq(out, "");
	cgroup_container_id_of_path(
		"/x/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", out);
	ck_assert_str_eq(out, "");
	snprintf(path, sizeof(path), "/x/%sa", id);
	cgroup_container_id_of_path(path, out);
	ck_assert_str_eq(out, "");
	cgroup_container_id_of_path("", out);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_closed_listener_is_forgotten)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record listen = srec(FLOW_SOCK_LISTEN, "0.0.0.0", 8080, NULL, 0, 1, NS);
	struct flow_sock_record unlisten =
		srec(FLOW_SOCK_UNLISTEN, "0.0.0.0", 8080, NULL, 0, 1, 2 * NS);
	struct flow_sock_record acc =
		srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 8080, "10.0.0.1", 40000, 2, 3 * NS);
	const struct sock_info *i;

	set_task(&listen, 77, "oldserver");
	sock_table_handle(t, &listen);
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_ptr_null(sock_table_handle(t, &unlisten));
	ck_assert_uint_eq(stats(t).listeners, 0);
	/* A connection accepted later (by whoever listens now) is not the old server's. */
	sock_table_handle(t, &acc);
	i = find(t, "10.0.0.2", 8080, "10.0.0.1", 40000);
	ck_assert_ptr_nonnull(i);
	ck_assert(!i->has_task);
	sock_table_free(t);
}
END_TEST

START_TEST(test_connecting_socket_learns_its_tuple_from_stats)
{
	struct sock_table *t = sock_table_new(100);
	/* connect(): no local port yet, but the connecting process is current. */
	struct flow_sock_record conn =
		srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.2", 80, 0xc0ffee, NS);
	struct flow_sock_record st =
		srec(FLOW_SOCK_STATS, "10.0.0.1", 40000, "10.0.0.2", 80, 0xc0ffee, 2 * NS);
	const struct sock_info *i;

	set_task(&conn, 1111, "curl");
	i = sock_table_handle(t, &conn);
	ck_assert_ptr_nonnull(i);
	ck_assert(!i->tuple_known);
	ck_assert_ptr_null(find(t, "10.0.0.1", 40000, "10.0.0.2", 80));
	ck_assert_ptr_null(find(t, "0.0.0.0", 0, "10.0.0.2", 80));

	/* sockops (softirq, no task): the established tuple and the first RTT sample. */
	st.srtt_us = 1500;
	st.total_retrans = 1;
	ck_assert_ptr_nonnull(sock_table_handle(t, &st));
	i = find(t, "10.0.0.1", 40000, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 0xc0ffee);
	ck_assert(i->tuple_known);
	ck_assert(i->has_task);
	ck_assert_uint_eq(i->pid, 1111);
	ck_assert_str_eq(i->comm, "curl");
	ck_assert_uint_eq(i->srtt_us, 1500);
	ck_assert_uint_eq(i->retrans, 1);
	ck_assert_uint_eq(i->lport, 40000);
	ck_assert_uint_eq(i->rport, 80);
	ck_assert_uint_eq(stats(t).sockets, 1);

	/* A later STATS without an RTT sample keeps the last one; one with a sample updates. */
	st.srtt_us = 0;
	st.ts_ns = 3 * NS;
	sock_table_handle(t, &st);
	ck_assert_uint_eq(find(t, "10.0.0.1", 40000, "10.0.0.2", 80)->srtt_us, 1500);
	st.srtt_us = 900;
	st.ts_ns = 4 * NS;
	sock_table_handle(t, &st);
	ck_assert_uint_eq(find(t, "10.0.0.1", 40000, "10.0.0.2", 80)->srtt_us, 900);
	ck_assert_uint_eq(stats(t).sockets, 1);
	sock_table_free(t);
}
END_TEST

START_TEST(test_close_sets_closed_and_keeps_the_max_retransmits)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record st =
		srec(FLOW_SOCK_STATS, "10.0.0.1", 40000, "10.0.0.2", 80, 7, 2 * NS);
	struct flow_sock_record cl =
		srec(FLOW_SOCK_CLOSE, "10.0.0.1", 40000, "10.0.0.2", 80, 7, 5 * NS);
	const struct sock_info *i;

	st.srtt_us = 800;
	st.total_retrans = 4;
	sock_table_handle(t, &st);
	i = find(t, "10.0.0.1", 40000, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->closed_ns, 0);
	ck_assert_uint_eq(i->retrans, 4);

	/* The close carries fewer retransmits (a stale count): the larger one stays. */
	cl.total_retrans = 2;
	i = sock_table_handle(t, &cl);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->closed_ns, 5 * NS);
	ck_assert_uint_eq(i->retrans, 4);
	ck_assert_uint_eq(i->srtt_us, 800);
	i = find(t, "10.0.0.1", 40000, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->closed_ns, 5 * NS);

	/* Another socket whose close brings the final, larger count. */
	st = srec(FLOW_SOCK_STATS, "10.0.0.1", 40001, "10.0.0.2", 80, 8, 2 * NS);
	st.total_retrans = 1;
	sock_table_handle(t, &st);
	cl = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 40001, "10.0.0.2", 80, 8, 6 * NS);
	cl.total_retrans = 9;
	sock_table_handle(t, &cl);
	i = find(t, "10.0.0.1", 40001, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->retrans, 9);
	ck_assert_uint_eq(i->closed_ns, 6 * NS);
	sock_table_free(t);
}
END_TEST

START_TEST(test_expire_forgets_old_closes_only)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r;
	const struct sock_info *i;

	/* Socket 1: closed at 10 s. Socket 2: open since 1 s. Socket 3: closed at 95 s.
	 * Socket 4: closed at exactly now - keep. */
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 1001, "10.0.0.2", 80, 1, 5 * NS);
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 1001, "10.0.0.2", 80, 1, 10 * NS);
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 1002, "10.0.0.2", 80, 2, 1 * NS);
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 1003, "10.0.0.2", 80, 3, 95 * NS);
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 1004, "10.0.0.2", 80, 4, 70 * NS);
	sock_table_handle(t, &r);
	ck_assert_uint_eq(stats(t).sockets, 4);

	sock_table_expire(t, 100 * NS, 30 * NS);
	ck_assert_ptr_null(find(t, "10.0.0.1", 1001, "10.0.0.2", 80));
	ck_assert_ptr_nonnull(find(t, "10.0.0.1", 1002, "10.0.0.2", 80));
	ck_assert_ptr_nonnull(find(t, "10.0.0.1", 1003, "10.0.0.2", 80));
	ck_assert_ptr_nonnull(find(t, "10.0.0.1", 1004, "10.0.0.2", 80));
	ck_assert_uint_eq(stats(t).sockets, 3);

	/* Much later: every closed socket goes, the open one (however old) stays. */
	sock_table_expire(t, 1000 * NS, 30 * NS);
	ck_assert_ptr_null(find(t, "10.0.0.1", 1003, "10.0.0.2", 80));
	ck_assert_ptr_null(find(t, "10.0.0.1", 1004, "10.0.0.2", 80));
	i = find(t, "10.0.0.1", 1002, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 2);
	ck_assert_uint_eq(stats(t).sockets, 1);

	/* The forgotten cookie is a new socket if it shows up again. */
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 1001, "10.0.0.2", 80, 1, 1001 * NS);
	i = sock_table_handle(t, &r);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->closed_ns, 0);
	ck_assert_uint_eq(stats(t).sockets, 2);
	sock_table_free(t);
}
END_TEST

START_TEST(test_port_reuse_finds_the_newest_socket)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r;
	const struct sock_info *i;

	/* The old connection on the tuple, closed at 3 s. */
	r = srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.2", 80, 10, 1 * NS);
	set_task(&r, 300, "old");
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 40000, "10.0.0.2", 80, 10, 2 * NS);
	r.srtt_us = 100;
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 40000, "10.0.0.2", 80, 10, 3 * NS);
	sock_table_handle(t, &r);
	ck_assert_uint_eq(find(t, "10.0.0.1", 40000, "10.0.0.2", 80)->cookie, 10);

	/* A new socket reuses the port. */
	r = srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.2", 80, 11, 4 * NS);
	set_task(&r, 301, "new");
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 40000, "10.0.0.2", 80, 11, 5 * NS);
	r.srtt_us = 200;
	sock_table_handle(t, &r);
	i = find(t, "10.0.0.1", 40000, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 11);
	ck_assert_uint_eq(i->pid, 301);
	ck_assert_str_eq(i->comm, "new");
	ck_assert_uint_eq(i->srtt_us, 200);
	ck_assert_uint_eq(i->closed_ns, 0);
	ck_assert_uint_eq(stats(t).sockets, 2);

	/* A record of the old socket read late (another CPU's ring) is older: still the new. */
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 40000, "10.0.0.2", 80, 10, (uint64_t)(2.5 * NS));
	sock_table_handle(t, &r);
	i = find(t, "10.0.0.1", 40000, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 11);

	/* Read in the other order (the new socket's records first): the newest still wins. */
	sock_table_free(t);
	t = sock_table_new(100);
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 40000, "10.0.0.2", 80, 21, 5 * NS);
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 40000, "10.0.0.2", 80, 20, 3 * NS);
	sock_table_handle(t, &r);
	i = find(t, "10.0.0.1", 40000, "10.0.0.2", 80);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 21);
	sock_table_free(t);
}
END_TEST

START_TEST(test_full_table_keeps_no_more_sockets)
{
	struct sock_table *t = sock_table_new(2);
	struct flow_sock_record r;
	struct sock_table_stats st;
	const struct sock_info *i;

	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 1, "10.0.0.2", 80, 1, NS);
	ck_assert_ptr_nonnull(sock_table_handle(t, &r));
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 2, "10.0.0.2", 80, 2, NS);
	ck_assert_ptr_nonnull(sock_table_handle(t, &r));
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 3, "10.0.0.2", 80, 3, NS);
	ck_assert_ptr_null(sock_table_handle(t, &r));
	ck_assert_ptr_null(find(t, "10.0.0.1", 3, "10.0.0.2", 80));
	st = stats(t);
	ck_assert_uint_eq(st.sockets, 2);
	ck_assert_uint_eq(st.full, 1);

	/* Sockets already held are still updated. */
	r = srec(FLOW_SOCK_CLOSE, "10.0.0.1", 1, "10.0.0.2", 80, 1, 2 * NS);
	r.srtt_us = 77;
	i = sock_table_handle(t, &r);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(find(t, "10.0.0.1", 1, "10.0.0.2", 80)->srtt_us, 77);
	ck_assert_uint_eq(find(t, "10.0.0.1", 1, "10.0.0.2", 80)->closed_ns, 2 * NS);
	st = stats(t);
	ck_assert_uint_eq(st.full, 1);

	/* Once a closed one expires, there is room again. */
	sock_table_expire(t, 100 * NS, 10 * NS);
	r = srec(FLOW_SOCK_STATS, "10.0.0.1", 3, "10.0.0.2", 80, 3, 100 * NS);
	ck_assert_ptr_nonnull(sock_table_handle(t, &r));
	ck_assert_ptr_nonnull(find(t, "10.0.0.1", 3, "10.0.0.2", 80));
	st = stats(t);
	ck_assert_uint_eq(st.sockets, 2);
	ck_assert_uint_eq(st.full, 1);
	sock_table_free(t);
}
END_TEST

START_TEST(test_ipv6_tuples)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record listen = srec(FLOW_SOCK_LISTEN, "::", 443, NULL, 0, 1, NS);
	struct flow_sock_record acc =
		srec(FLOW_SOCK_ACCEPT, "fd00::2", 443, "fd00::1", 50000, 2, 2 * NS);
	struct flow_sock_record v4 =
		srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 443, "10.0.0.1", 50001, 3, 2 * NS);
	const struct sock_info *i;
	uint8_t l[16] = {0}, r[16] = {0};

	set_task(&listen, 555, "envoy");
	ck_assert_uint_eq(listen.family, 6);
	ck_assert_uint_eq(acc.family, 6);
	sock_table_handle(t, &listen);
	acc.srtt_us = 42;
	ck_assert_ptr_nonnull(sock_table_handle(t, &acc));
	i = find(t, "fd00::2", 443, "fd00::1", 50000);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->family, 6);
	ck_assert_uint_eq(i->pid, 555);
	ck_assert_str_eq(i->comm, "envoy");
	ck_assert_uint_eq(i->srtt_us, 42);
	ck_assert_ptr_null(find(t, "fd00::1", 50000, "fd00::2", 443));
	ck_assert_ptr_null(find(t, "fd00::2", 443, "fd00::3", 50000));

	/* The same bytes under family 4 are another tuple. */
	inet_pton(AF_INET6, "fd00::2", l);
	inet_pton(AF_INET6, "fd00::1", r);
	ck_assert_ptr_nonnull(sock_table_find(t, 6, l, 443, r, 50000));
	ck_assert_ptr_null(sock_table_find(t, 4, l, 443, r, 50000));

	/* The IPv6 listener does not lend its process to an IPv4 socket of the same port. */
	ck_assert_ptr_nonnull(sock_table_handle(t, &v4));
	i = find(t, "10.0.0.2", 443, "10.0.0.1", 50001);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->family, 4);
	ck_assert(!i->has_task);
	sock_table_free(t);
}
END_TEST

START_TEST(test_records_of_unknown_family_are_ignored)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r = srec(FLOW_SOCK_STATS, "10.0.0.1", 1, "10.0.0.2", 80, 1, NS);
	struct flow_sock_record listen = srec(FLOW_SOCK_LISTEN, "0.0.0.0", 80, NULL, 0, 2, NS);
	struct flow_sock_record acc = srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 80, "10.0.0.1", 9, 3, NS);
	uint8_t l[16] = {0}, a[16] = {0};
	struct sock_table_stats st;

	r.family = 0;
	ck_assert_ptr_null(sock_table_handle(t, &r));
	inet_pton(AF_INET, "10.0.0.1", l);
	inet_pton(AF_INET, "10.0.0.2", a);
	ck_assert_ptr_null(sock_table_find(t, 0, l, 1, a, 80));
	ck_assert_ptr_null(sock_table_find(t, 4, l, 1, a, 80));
	r.family = 5;
	ck_assert_ptr_null(sock_table_handle(t, &r));
	ck_assert_ptr_null(sock_table_find(t, 4, l, 1, a, 80));
	listen.family = 0;
	set_task(&listen, 9, "ghost");
	ck_assert_ptr_null(sock_table_handle(t, &listen));
	st = stats(t);
	ck_assert_uint_eq(st.sockets, 0);
	ck_assert_uint_eq(st.listeners, 0);
	ck_assert_uint_eq(st.full, 0);
	/* The ignored listener lends nothing. */
	ck_assert_ptr_nonnull(sock_table_handle(t, &acc));
	ck_assert(!find(t, "10.0.0.2", 80, "10.0.0.1", 9)->has_task);
	/* A valid record of the same socket afterwards is kept normally. */
	r.family = 4;
	ck_assert_ptr_nonnull(sock_table_handle(t, &r));
	ck_assert_ptr_nonnull(sock_table_find(t, 4, l, 1, a, 80));
	sock_table_free(t);
}
END_TEST

/* ---- network namespaces ------------------------------------------------------------------ */

static struct flow_sock_record in_netns(struct flow_sock_record r, uint32_t netns)
{
	r.netns = netns;
	return r;
}

START_TEST(test_two_namespaces_listening_on_the_same_port)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record la =
		in_netns(srec(FLOW_SOCK_LISTEN, "0.0.0.0", 80, NULL, 0, 1, NS), NETNS_A);
	struct flow_sock_record lb =
		in_netns(srec(FLOW_SOCK_LISTEN, "0.0.0.0", 80, NULL, 0, 2, NS), NETNS_B);
	struct flow_sock_record r;
	const struct sock_info *i;

	set_task(&la, 100, "web-a");
	set_task(&lb, 200, "web-b");
	sock_table_handle(t, &la);
	sock_table_handle(t, &lb); /* the second pod's listener does not replace the first's */
	ck_assert_uint_eq(stats(t).listeners, 2);

	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 80, "10.0.0.1", 40000, 10, 2 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.2.2", 80, "10.0.0.1", 40001, 11, 2 * NS),
		     NETNS_B);
	sock_table_handle(t, &r);
	i = find(t, "10.0.1.2", 80, "10.0.0.1", 40000);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->pid, 100);
	ck_assert_str_eq(i->comm, "web-a");
	ck_assert_uint_eq(i->netns, NETNS_A);
	i = find(t, "10.0.2.2", 80, "10.0.0.1", 40001);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->pid, 200);
	ck_assert_str_eq(i->comm, "web-b");

	/* A namespace with no listener of its own borrows nobody's. */
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.3.2", 80, "10.0.0.1", 40002, 12, 2 * NS),
		     NETNS_HOME);
	sock_table_handle(t, &r);
	ck_assert(!find(t, "10.0.3.2", 80, "10.0.0.1", 40002)->has_task);

	/* A's listener closes: B's stays. */
	la.event = FLOW_SOCK_UNLISTEN;
	sock_table_handle(t, &la);
	ck_assert_uint_eq(stats(t).listeners, 1);
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 80, "10.0.0.1", 40003, 13, 3 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);
	ck_assert(!find(t, "10.0.1.2", 80, "10.0.0.1", 40003)->has_task);
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.2.2", 80, "10.0.0.1", 40004, 14, 3 * NS),
		     NETNS_B);
	sock_table_handle(t, &r);
	ck_assert_uint_eq(find(t, "10.0.2.2", 80, "10.0.0.1", 40004)->pid, 200);
	sock_table_free(t);
}
END_TEST

START_TEST(test_listener_bound_to_an_address_before_the_wildcard)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record any = srec(FLOW_SOCK_LISTEN, "0.0.0.0", 53, NULL, 0, 1, NS);
	struct flow_sock_record one = srec(FLOW_SOCK_LISTEN, "10.0.0.2", 53, NULL, 0, 2, NS);
	struct flow_sock_record r;

	set_task(&any, 10, "any");
	set_task(&one, 20, "one");
	sock_table_handle(t, &any);
	sock_table_handle(t, &one);
	ck_assert_uint_eq(stats(t).listeners, 2);
	r = srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 53, "10.0.0.1", 40000, 3, 2 * NS);
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_ACCEPT, "10.0.0.3", 53, "10.0.0.1", 40000, 4, 2 * NS);
	sock_table_handle(t, &r);
	ck_assert_str_eq(find(t, "10.0.0.2", 53, "10.0.0.1", 40000)->comm, "one");
	ck_assert_str_eq(find(t, "10.0.0.3", 53, "10.0.0.1", 40000)->comm, "any");
	/* Closing the bound one leaves the wildcard one. */
	one.event = FLOW_SOCK_UNLISTEN;
	sock_table_handle(t, &one);
	r = srec(FLOW_SOCK_ACCEPT, "10.0.0.2", 53, "10.0.0.1", 40001, 5, 3 * NS);
	sock_table_handle(t, &r);
	ck_assert_str_eq(find(t, "10.0.0.2", 53, "10.0.0.1", 40001)->comm, "any");
	sock_table_free(t);
}
END_TEST

START_TEST(test_dual_stack_listener_names_ipv4_connections)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record l = srec(FLOW_SOCK_LISTEN, "::", 8443, NULL, 0, 1, NS);
	struct flow_sock_record r = srec(FLOW_SOCK_ACCEPT, "::ffff:10.0.0.2", 8443,
					 "::ffff:10.0.0.1", 44134, 2, 2 * NS);
	const struct sock_info *i;

	set_task(&l, 77, "dual");
	sock_table_handle(t, &l);
	ck_assert_uint_eq(r.family, 6);
	sock_table_handle(t, &r);
	/* Kept as the IPv4 socket the TC probe sees on the wire. */
	i = find(t, "10.0.0.2", 8443, "10.0.0.1", 44134);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->family, 4);
	ck_assert_uint_eq(i->pid, 77);
	ck_assert_ptr_null(find(t, "::ffff:10.0.0.2", 8443, "::ffff:10.0.0.1", 44134));
	sock_table_free(t);
}
END_TEST

START_TEST(test_same_tuple_in_two_namespaces)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r;
	uint8_t lo[16] = {127, 0, 0, 1};

	/* Every namespace has its own 127.0.0.1: the same tuple twice. */
	r = in_netns(srec(FLOW_SOCK_CONNECT, "127.0.0.1", 0, "127.0.0.1", 5432, 1, NS), NETNS_A);
	set_task(&r, 100, "in-a");
	sock_table_handle(t, &r);
	r = in_netns(srec(FLOW_SOCK_STATS, "127.0.0.1", 40000, "127.0.0.1", 5432, 1, 2 * NS), 0);
	sock_table_handle(t, &r);
	r = in_netns(srec(FLOW_SOCK_CONNECT, "127.0.0.1", 0, "127.0.0.1", 5432, 2, 3 * NS),
		     NETNS_B);
	set_task(&r, 200, "in-b");
	sock_table_handle(t, &r);
	r = in_netns(srec(FLOW_SOCK_STATS, "127.0.0.1", 40000, "127.0.0.1", 5432, 2, 4 * NS), 0);
	sock_table_handle(t, &r);

	ck_assert_uint_eq(sock_table_find_ns(t, NETNS_A, 4, lo, 40000, lo, 5432)->pid, 100);
	ck_assert_uint_eq(sock_table_find_ns(t, NETNS_B, 4, lo, 40000, lo, 5432)->pid, 200);
	/* Namespace unknown, or one holding neither: the newest. */
	ck_assert_uint_eq(sock_table_find_ns(t, 0, 4, lo, 40000, lo, 5432)->pid, 200);
	ck_assert_uint_eq(sock_table_find_ns(t, NETNS_HOME, 4, lo, 40000, lo, 5432)->pid, 200);
	ck_assert_uint_eq(sock_table_find(t, 4, lo, 40000, lo, 5432)->pid, 200);
	/* A later record of A's socket makes it the newest. */
	r = srec(FLOW_SOCK_STATS, "127.0.0.1", 40000, "127.0.0.1", 5432, 1, 5 * NS);
	sock_table_handle(t, &r);
	ck_assert_uint_eq(sock_table_find(t, 4, lo, 40000, lo, 5432)->pid, 100);
	ck_assert_uint_eq(sock_table_find_ns(t, NETNS_B, 4, lo, 40000, lo, 5432)->pid, 200);
	sock_table_free(t);
}
END_TEST

/* ---- what the /proc scanner feeds in ------------------------------------------------------- */

static struct sock_scan_entry scanned(uint8_t kind, const char *la, uint16_t lp, const char *ra,
				      uint16_t rp, uint32_t netns, uint64_t inode, uint32_t pid,
				      const char *comm)
{
	struct flow_sock_record r = srec(0, la, lp, ra, rp, 0, 0);
	struct sock_scan_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.family = r.family;
	memcpy(e.laddr, r.laddr, 16);
	memcpy(e.raddr, r.raddr, 16);
	e.lport = lp;
	e.rport = rp;
	e.netns = netns;
	e.inode = inode;
	e.pid = pid;
	e.cgroup_id = 5000 + pid;
	strncpy(e.comm, comm, sizeof(e.comm) - 1);
	return e;
}

static int scan_add(struct sock_table *t, struct sock_scan_entry e)
{
	return sock_table_scan_add(t, &e);
}

static const struct sock_info *udp_at(const struct sock_table *t, uint32_t netns, const char *a,
				      uint16_t port)
{
	uint8_t addr[16] = {0};

	ck_assert_int_eq(inet_pton(AF_INET, a, addr), 1);
	return sock_table_find_bound(t, IPPROTO_UDP, netns, 4, addr, port);
}

START_TEST(test_scanned_sockets_name_connections_accepts_and_udp)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r;
	const struct sock_info *i;

	sock_table_scan_begin(t, 10 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 8080, "0.0.0.0", 0,
					     NETNS_A, 70, 300, "oldserver")),
			 1);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 8080, "10.0.0.1",
					     50000, NETNS_A, 71, 300, "oldserver")),
			 1);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 53, "0.0.0.0", 0, NETNS_A,
					     72, 400, "dnsd")),
			 1);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_UDP, "10.0.2.2", 5353, "0.0.0.0", 0, NETNS_B,
					     73, 500, "mdns")),
			 1);
	ck_assert_uint_eq(sock_table_scan_end(t, true), 4);
	ck_assert_uint_eq(stats(t).sockets, 1);
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_uint_eq(stats(t).udp, 2);
	ck_assert_uint_eq(stats(t).scanned, 4);
	ck_assert_uint_eq(stats(t).scans, 1);

	/* The connection that existed before flowd: its process, no kernel cookie. */
	i = find(t, "10.0.1.2", 8080, "10.0.0.1", 50000);
	ck_assert_ptr_nonnull(i);
	ck_assert(i->has_task && i->from_scan);
	ck_assert_uint_eq(i->pid, 300);
	ck_assert_str_eq(i->comm, "oldserver");
	ck_assert_uint_eq(i->cgroup_id, 5300);
	ck_assert_uint_eq(i->netns, NETNS_A);
	ck_assert_uint_eq(i->cookie, SOCK_SCAN_COOKIE | 71);
	ck_assert_uint_eq(i->updated_ns, 10 * NS);

	/* A connection accepted later by the server that listened before flowd started. */
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 8080, "10.0.0.1", 50001, 9, 11 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);
	i = find(t, "10.0.1.2", 8080, "10.0.0.1", 50001);
	ck_assert_uint_eq(i->pid, 300);
	ck_assert(!i->from_scan);

	/* UDP: the wildcard socket of A takes A's addresses (the caller knows which), the bound
	 * one of B only its own address. */
	ck_assert_uint_eq(udp_at(t, NETNS_A, "10.0.1.2", 53)->pid, 400);
	ck_assert_ptr_null(udp_at(t, NETNS_B, "10.0.2.2", 53));
	ck_assert_uint_eq(udp_at(t, NETNS_B, "10.0.2.2", 5353)->pid, 500);
	ck_assert_ptr_null(udp_at(t, NETNS_B, "10.0.2.3", 5353));
	ck_assert_ptr_null(udp_at(t, NETNS_A, "10.0.1.2", 5353));
	/* TCP listeners are not UDP sockets. */
	ck_assert_ptr_null(udp_at(t, NETNS_A, "10.0.1.2", 8080));
	sock_table_free(t);
}
END_TEST

START_TEST(test_scan_never_overrides_the_probes)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r, l;
	const struct sock_info *i;

	l = in_netns(srec(FLOW_SOCK_LISTEN, "0.0.0.0", 9090, NULL, 0, 1, NS), NETNS_A);
	set_task(&l, 500, "listener");
	sock_table_handle(t, &l);
	r = in_netns(srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.9", 80, 2, NS), NETNS_A);
	set_task(&r, 600, "client");
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "10.0.1.2", 40000, "10.0.0.9", 80, 2, 2 * NS);
	sock_table_handle(t, &r);
	/* Accepted while no listener was known: no process. */
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 7070, "10.0.0.1", 40001, 3, 2 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);

	/* The scan sees other processes holding them (inherited fds): the probes' stay. */
	sock_table_scan_begin(t, 3 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 9090, NULL, 0,
					     NETNS_A, 80, 501, "worker")),
			 0);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 40000, "10.0.0.9", 80,
					     NETNS_A, 81, 601, "child")),
			 0);
	/* ... and names the one the probes could not. */
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 7070, "10.0.0.1",
					     40001, NETNS_A, 82, 700, "acceptor")),
			 1);
	ck_assert_uint_eq(sock_table_scan_end(t, true), 1);
	ck_assert_uint_eq(stats(t).sockets, 2);
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_uint_eq(stats(t).scanned, 0);

	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 9090, "10.0.0.1", 40002, 4, 4 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);
	ck_assert_str_eq(find(t, "10.0.1.2", 9090, "10.0.0.1", 40002)->comm, "listener");
	ck_assert_str_eq(find(t, "10.0.1.2", 40000, "10.0.0.9", 80)->comm, "client");
	i = find(t, "10.0.1.2", 7070, "10.0.0.1", 40001);
	ck_assert_str_eq(i->comm, "acceptor");
	ck_assert_uint_eq(i->cookie, 3); /* still the probe's socket */
	ck_assert(!i->from_scan);
	sock_table_free(t);
}
END_TEST

START_TEST(test_probe_records_take_over_scanned_connections)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r;
	const struct sock_info *i;

	sock_table_scan_begin(t, 10 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 8080, "10.0.0.1", 50000, NETNS_A, 71,
			    300, "longlived"));
	sock_table_scan_end(t, true);

	/* Its first record (a retransmit, or the close) has the real cookie. */
	r = in_netns(srec(FLOW_SOCK_CLOSE, "10.0.1.2", 8080, "10.0.0.1", 50000, 0xabc, 20 * NS),
		     NETNS_A);
	r.total_retrans = 3;
	sock_table_handle(t, &r);
	ck_assert_uint_eq(stats(t).sockets, 1);
	ck_assert_uint_eq(stats(t).scanned, 0);
	i = find(t, "10.0.1.2", 8080, "10.0.0.1", 50000);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->cookie, 0xabc);
	ck_assert(!i->from_scan);
	ck_assert_uint_eq(i->pid, 300);
	ck_assert_str_eq(i->comm, "longlived");
	ck_assert_uint_eq(i->closed_ns, 20 * NS);
	ck_assert_uint_eq(i->retrans, 3);

	/* Another namespace's socket of the same tuple is not taken over. */
	sock_table_scan_begin(t, 30 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 8081, "10.0.0.1", 50000, NETNS_B, 72,
			    301, "other"));
	sock_table_scan_end(t, true);
	r = in_netns(srec(FLOW_SOCK_STATS, "10.0.1.2", 8081, "10.0.0.1", 50000, 0xabd, 31 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);
	ck_assert_uint_eq(stats(t).sockets, 3);
	ck_assert_uint_eq(stats(t).scanned, 1);
	sock_table_free(t);
}
END_TEST

START_TEST(test_complete_scans_forget_what_is_gone)
{
	struct sock_table *t = sock_table_new(100);

	sock_table_scan_begin(t, NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 80, NULL, 0, NETNS_A, 1, 10, "a"));
	scan_add(t,
		 scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 80, "10.0.0.1", 5, NETNS_A, 2, 10, "a"));
	scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 53, NULL, 0, NETNS_A, 3, 11, "b"));
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(stats(t).scanned, 3);

	/* A truncated scan that found nothing forgets nothing. */
	sock_table_scan_begin(t, 2 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	ck_assert_uint_eq(sock_table_scan_end(t, false), 0);
	ck_assert_uint_eq(stats(t).scanned, 3);
	/* A complete scan of the UDP tables forgets the UDP socket only. */
	sock_table_scan_begin(t, 3 * NS, NETNS_HOME, SOCK_SCAN_UDP_TABLES);
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(stats(t).udp, 0);
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_uint_eq(stats(t).sockets, 1);
	/* Finding them again keeps them; what is not found goes. */
	sock_table_scan_begin(t, 4 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 80, NULL, 0, NETNS_A,
					     1, 10, "a")),
			 0);
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_uint_eq(stats(t).sockets, 0);
	ck_assert_uint_eq(stats(t).scanned, 1);
	ck_assert_uint_eq(stats(t).scans, 4);
	sock_table_free(t);
}
END_TEST

START_TEST(test_scan_respects_the_size_limit)
{
	struct sock_table *t = sock_table_new(1);

	sock_table_scan_begin(t, NS, NETNS_HOME, SOCK_SCAN_ALL);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 80, "10.0.0.1", 5,
					     NETNS_A, 2, 10, "a")),
			 1);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 80, "10.0.0.1", 6,
					     NETNS_A, 3, 10, "a")),
			 -ENOSPC);
	ck_assert_int_eq(
		scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 53, NULL, 0, NETNS_A, 4, 1, "b")), 1);
	ck_assert_int_eq(
		scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 54, NULL, 0, NETNS_A, 5, 1, "b")),
		-ENOSPC);
	/* Malformed: no namespace, no port, unknown family or kind. */
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 55, NULL, 0, 0, 6, 1, "b")),
			 0);
	ck_assert_int_eq(
		scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 0, NULL, 0, NETNS_A, 7, 1, "b")), 0);
	ck_assert_int_eq(scan_add(t, scanned(9, "0.0.0.0", 56, NULL, 0, NETNS_A, 8, 1, "b")), 0);
	sock_table_scan_end(t, false);
	ck_assert_uint_eq(stats(t).full, 2);
	ck_assert_uint_eq(stats(t).sockets, 1);
	ck_assert_uint_eq(stats(t).udp, 1);
	sock_table_free(t);
}
END_TEST

START_TEST(test_known_sockets_and_sockets_nobody_holds)
{
	struct sock_table *t = sock_table_new(100);
	struct sock_scan_entry e;
	struct flow_sock_record r;

	sock_table_scan_begin(t, NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 4789, NULL, 0, NETNS_A, 1, 100, "app"));
	/* A kernel socket (a tunnel's): kept, names nothing, does not hide the wildcard one. */
	ck_assert_int_eq(
		scan_add(t, scanned(SOCK_SCAN_UDP, "10.0.1.2", 4789, NULL, 0, NETNS_A, 2, 0, "")),
		0);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 2049, NULL, 0,
					     NETNS_A, 3, 0, "")),
			 0);
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 2049, "10.0.0.1", 700,
					     NETNS_A, 4, 0, "")),
			 0);
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(stats(t).udp, 2);
	ck_assert_uint_eq(stats(t).listeners, 1);
	ck_assert_uint_eq(stats(t).sockets, 0); /* unheld connections are not kept */
	ck_assert_str_eq(udp_at(t, NETNS_A, "10.0.1.2", 4789)->comm, "app");
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 2049, "10.0.0.1", 701, 9, 2 * NS), NETNS_A);
	sock_table_handle(t, &r);
	ck_assert(!find(t, "10.0.1.2", 2049, "10.0.0.1", 701)->has_task);

	/* The next scan knows them by inode (no process to look up); another inode is new. */
	sock_table_scan_begin(t, 3 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	e = scanned(SOCK_SCAN_UDP, "10.0.1.2", 4789, NULL, 0, NETNS_A, 2, 0, "");
	ck_assert(sock_table_scan_known(t, &e));
	e = scanned(SOCK_SCAN_UDP, "0.0.0.0", 4789, NULL, 0, NETNS_A, 1, 0, "");
	ck_assert(sock_table_scan_known(t, &e));
	e.inode = 99; /* closed and bound again since */
	ck_assert(!sock_table_scan_known(t, &e));
	e = scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 2049, NULL, 0, NETNS_A, 3, 0, "");
	ck_assert(sock_table_scan_known(t, &e));
	e = scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 2049, "10.0.0.1", 701, NETNS_A, 5, 0, "");
	ck_assert(!sock_table_scan_known(t, &e)); /* the probes' socket, with no process */
	e = scanned(SOCK_SCAN_UDP, "0.0.0.0", 53, NULL, 0, NETNS_A, 6, 0, "");
	ck_assert(!sock_table_scan_known(t, &e));
	/* A socket nobody held that a process holds now (fd passed): a new name. */
	ck_assert_int_eq(scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 2049, NULL, 0,
					     NETNS_A, 3, 7, "late")),
			 1);
	sock_table_scan_end(t, true);
	r = in_netns(srec(FLOW_SOCK_ACCEPT, "10.0.1.2", 2049, "10.0.0.1", 702, 12, 3 * NS),
		     NETNS_A);
	sock_table_handle(t, &r);
	ck_assert_str_eq(find(t, "10.0.1.2", 2049, "10.0.0.1", 702)->comm, "late");
	/* What was known counts as found: nothing forgotten. */
	ck_assert_uint_eq(stats(t).udp, 2);
	ck_assert_uint_eq(stats(t).listeners, 1);

	/* Probe-told sockets with a process are known; the one connection is. */
	r = in_netns(srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "10.0.0.9", 80, 10, 4 * NS), NETNS_A);
	set_task(&r, 600, "client");
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "10.0.1.2", 40000, "10.0.0.9", 80, 10, 4 * NS);
	sock_table_handle(t, &r);
	sock_table_scan_begin(t, 5 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	e = scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 40000, "10.0.0.9", 80, NETNS_A, 11, 0, "");
	ck_assert(sock_table_scan_known(t, &e));
	e.netns = NETNS_B;
	ck_assert(!sock_table_scan_known(t, &e));
	sock_table_scan_end(t, false);
	sock_table_free(t);
}
END_TEST

static uint32_t netns_of(const struct sock_table *t, const char *a)
{
	uint8_t addr[16] = {0};
	uint8_t family = 4;

	if (inet_pton(AF_INET, a, addr) != 1) {
		ck_assert_int_eq(inet_pton(AF_INET6, a, addr), 1);
		family = 6;
	}
	return sock_table_netns_of(t, family, addr);
}

static void scan_addr(struct sock_table *t, uint32_t netns, const char *a)
{
	uint8_t addr[16] = {0};
	uint8_t family = 4;

	if (inet_pton(AF_INET, a, addr) != 1) {
		ck_assert_int_eq(inet_pton(AF_INET6, a, addr), 1);
		family = 6;
	}
	sock_table_scan_addr(t, netns, family, addr);
}

START_TEST(test_local_addresses_name_their_namespace)
{
	struct sock_table *t = sock_table_new(100);

	ck_assert_uint_eq(netns_of(t, "127.0.0.1"), 0); /* no scan yet: flowd's own is unknown */
	sock_table_scan_begin(t, NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_addr(t, NETNS_A, "10.0.1.2");
	scan_addr(t, NETNS_B, "10.0.2.2");
	scan_addr(t, NETNS_B, "fd00:200:2::2");
	scan_addr(t, NETNS_A, "10.9.9.9");
	scan_addr(t, NETNS_B, "10.9.9.9"); /* overlapping pod networks */
	scan_addr(t, NETNS_A, "10.0.1.2"); /* twice from the same namespace: still A's */
	scan_addr(t, NETNS_A, "127.0.0.1");
	/* An address of a socket's (bound, connected) is its namespace's. */
	scan_add(t, scanned(SOCK_SCAN_UDP, "10.0.3.2", 53, NULL, 0, NETNS_B, 3, 11, "b"));
	sock_table_scan_end(t, true);

	ck_assert_uint_eq(netns_of(t, "10.0.1.2"), NETNS_A);
	ck_assert_uint_eq(netns_of(t, "10.0.2.2"), NETNS_B);
	ck_assert_uint_eq(netns_of(t, "fd00:200:2::2"), NETNS_B);
	ck_assert_uint_eq(netns_of(t, "10.0.3.2"), NETNS_B);
	ck_assert_uint_eq(netns_of(t, "10.9.9.9"), 0);
	ck_assert_uint_eq(netns_of(t, "192.0.2.1"), 0);
	/* Loopback addresses are flowd's own namespace's, whatever the scan said. */
	ck_assert_uint_eq(netns_of(t, "127.0.0.1"), NETNS_HOME);
	ck_assert_uint_eq(netns_of(t, "::1"), NETNS_HOME);
	ck_assert_uint_eq(sock_table_home_netns(t), NETNS_HOME);

	/* The next complete scan: A's addresses went away, the ambiguous one is B's alone. */
	sock_table_scan_begin(t, 2 * NS, NETNS_HOME, SOCK_SCAN_UDP_TABLES);
	scan_addr(t, NETNS_B, "10.9.9.9");
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(netns_of(t, "10.0.1.2"), 0);
	ck_assert_uint_eq(netns_of(t, "10.9.9.9"), NETNS_B);
	sock_table_free(t);
}
END_TEST

START_TEST(test_rescans_are_asked_for_and_rate_limited)
{
	struct sock_table *t = sock_table_new(100);
	uint64_t t0 = 1000 * NS;

	ck_assert_uint_eq(sock_table_scan_due(t, t0), SOCK_SCAN_ALL); /* never scanned */
	sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 80, NULL, 0, NETNS_A, 1, 10, "a"));
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + 100 * NS), 0); /* nobody asked */

	sock_table_ask_scan(t, IPPROTO_UDP);
	ck_assert_uint_eq(stats(t).asks, 1);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + 1 * NS), 0);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MIN_WAIT_NS),
			  SOCK_SCAN_UDP_TABLES);
	sock_table_ask_scan(t, IPPROTO_TCP);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MIN_WAIT_NS), SOCK_SCAN_ALL);

	/* A scan that finds nothing new: the next one waits twice as long. */
	t0 += SOCK_TABLE_SCAN_MIN_WAIT_NS;
	sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 80, NULL, 0, NETNS_A, 1, 10, "a"));
	ck_assert_uint_eq(sock_table_scan_end(t, true), 0);
	sock_table_ask_scan(t, IPPROTO_TCP);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MIN_WAIT_NS), 0);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + 2 * SOCK_TABLE_SCAN_MIN_WAIT_NS),
			  SOCK_SCAN_TCP);
	/* A TCP-only scan leaves UDP asks pending. */
	sock_table_ask_scan(t, IPPROTO_UDP);
	t0 += 2 * SOCK_TABLE_SCAN_MIN_WAIT_NS;
	sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_TCP);
	scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 81, NULL, 0, NETNS_A, 2, 10, "a"));
	ck_assert_uint_eq(sock_table_scan_end(t, true), 1);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MIN_WAIT_NS),
			  SOCK_SCAN_UDP_TABLES);

	/* TCP rescans that find nothing do not delay UDP's: asked for UDP right after. */
	sock_table_ask_scan(t, IPPROTO_TCP);
	t0 += 2 * SOCK_TABLE_SCAN_MIN_WAIT_NS;
	sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 81, NULL, 0, NETNS_A, 2, 10, "a"));
	sock_table_scan_end(t, true); /* TCP: nothing new, UDP: nothing asked, nothing found */
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + 3 * SOCK_TABLE_SCAN_MIN_WAIT_NS), 0);
	t0 += SOCK_TABLE_SCAN_MIN_WAIT_NS;
	sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_TCP);
	scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 81, NULL, 0, NETNS_A, 2, 10, "a"));
	sock_table_scan_end(t, true);
	sock_table_ask_scan(t, IPPROTO_UDP);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MIN_WAIT_NS), 0);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + 3 * SOCK_TABLE_SCAN_MIN_WAIT_NS),
			  SOCK_SCAN_UDP_TABLES);

	/* Backing off stops at the maximum. */
	for (int k = 0; k < 8; k++) {
		sock_table_ask_scan(t, IPPROTO_TCP);
		sock_table_ask_scan(t, IPPROTO_UDP);
		t0 += SOCK_TABLE_SCAN_MAX_WAIT_NS;
		sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_ALL);
		scan_add(t, scanned(SOCK_SCAN_TCP_LISTEN, "0.0.0.0", 81, NULL, 0, NETNS_A, 2, 10,
				    "a"));
		sock_table_scan_end(t, true);
	}
	sock_table_ask_scan(t, IPPROTO_TCP);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MAX_WAIT_NS - 1), 0);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MAX_WAIT_NS), SOCK_SCAN_TCP);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 - NS), 0); /* clock before the scan */

	/* Found UDP sockets are refreshed unasked (they have no close record). */
	sock_table_scan_begin(t, t0, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 53, NULL, 0, NETNS_A, 3, 11, "b"));
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MAX_WAIT_NS - 1), 0);
	ck_assert_uint_eq(sock_table_scan_due(t, t0 + SOCK_TABLE_SCAN_MAX_WAIT_NS),
			  SOCK_SCAN_UDP_TABLES);
	sock_table_free(t);
}
END_TEST

/* ---- joining flows ----------------------------------------------------------------------- */

static struct flow mkflow(uint8_t proto, const char *src, uint16_t sp, const char *dst, uint16_t dp,
			  uint8_t if_kind)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.proto = proto;
	f.family = 4;
	if (inet_pton(AF_INET, src, f.src.addr) != 1) {
		ck_assert_int_eq(inet_pton(AF_INET6, src, f.src.addr), 1);
		f.family = 6;
	}
	if (inet_pton(AF_INET, dst, f.dst.addr) != 1)
		ck_assert_int_eq(inet_pton(AF_INET6, dst, f.dst.addr), 1);
	f.src.port = sp;
	f.dst.port = dp;
	f.if_kind = if_kind;
	return f;
}

/* Two server namespaces A (10.0.1.2, fd00::12) and B (10.0.2.2) with UDP servers on the same
 * wildcard port, a bound one, and a DNS server on flowd's own loopback. */
static struct sock_table *udp_servers(void)
{
	struct sock_table *t = sock_table_new(100);

	sock_table_scan_begin(t, NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_addr(t, NETNS_A, "10.0.1.2");
	scan_addr(t, NETNS_A, "fd00::12");
	scan_addr(t, NETNS_B, "10.0.2.2");
	scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 5300, NULL, 0, NETNS_A, 1, 100, "udp-a"));
	scan_add(t, scanned(SOCK_SCAN_UDP, "0.0.0.0", 5300, NULL, 0, NETNS_B, 2, 200, "udp-b"));
	scan_add(t, scanned(SOCK_SCAN_UDP, "::", 5400, NULL, 0, NETNS_A, 3, 101, "dual-a"));
	scan_add(t, scanned(SOCK_SCAN_UDP, "10.0.2.2", 5500, NULL, 0, NETNS_B, 4, 201, "bound-b"));
	scan_add(t, scanned(SOCK_SCAN_UDP, "127.0.0.1", 53, NULL, 0, NETNS_HOME, 5, 1, "resolved"));
	scan_add(t, scanned(SOCK_SCAN_UDP, "127.0.0.1", 54, NULL, 0, NETNS_A, 6, 102, "lo-a"));
	sock_table_scan_end(t, true);
	return t;
}

START_TEST(test_udp_flows_get_the_process_of_their_namespace)
{
	struct sock_table *t = udp_servers();
	struct flow f;

	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "10.0.1.2", 5300, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert(flow_proc_known(f.dst_proc));
	ck_assert_uint_eq(f.dst_proc->pid, 100);
	ck_assert_str_eq(f.dst_proc->comm, "udp-a");
	ck_assert_uint_eq(f.dst_proc->cgroup_id, 5100);
	ck_assert_ptr_null(f.dst_proc->container_id);
	ck_assert(!flow_proc_known(f.src_proc));
	ck_assert_uint_eq(f.socket_cookie, 0);

	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "10.0.2.2", 5300, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.dst_proc->comm, "udp-b");

	/* The reply direction's view is the same flow: the server is the source. */
	f = mkflow(IPPROTO_UDP, "10.0.2.2", 5500, "10.0.0.1", 40000, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.src_proc->comm, "bound-b");
	ck_assert(!flow_proc_known(f.dst_proc));

	/* A dual-stack IPv6 wildcard socket takes IPv4 too; IPv6 to an address of A. */
	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "10.0.1.2", 5400, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.dst_proc->comm, "dual-a");
	f = mkflow(IPPROTO_UDP, "fd00::1", 40000, "fd00::12", 5400, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.dst_proc->comm, "dual-a");

	/* Loopback is flowd's own namespace: its resolver, not A's socket on 127.0.0.1. */
	f = mkflow(IPPROTO_UDP, "127.0.0.1", 40000, "127.0.0.1", 53, FLOW_IF_LOOPBACK);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.dst_proc->comm, "resolved");
	f = mkflow(IPPROTO_UDP, "127.0.0.1", 40000, "127.0.0.1", 54, FLOW_IF_LOOPBACK);
	sock_join_flow(t, NULL, &f);
	ck_assert(!flow_proc_known(f.dst_proc));

	/* Not a local address, or a port nobody has bound: nobody, however many wildcards. */
	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "192.0.2.1", 5300, FLOW_IF_NETWORK);
	sock_join_flow(t, NULL, &f);
	ck_assert(!flow_proc_known(f.dst_proc));
	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "10.0.2.2", 5400, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert(!flow_proc_known(f.dst_proc));
	/* UDP sockets do not name TCP flows. */
	f = mkflow(IPPROTO_TCP, "10.0.0.1", 40000, "10.0.1.2", 5300, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert(!flow_proc_known(f.dst_proc));
	sock_table_free(t);
}
END_TEST

START_TEST(test_unnamed_local_ends_ask_for_a_rescan)
{
	struct sock_table *t = udp_servers();
	struct flow f;
	uint64_t asks = stats(t).asks;

	/* Named: nothing to ask. */
	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "10.0.1.2", 5300, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, asks);
	/* A local address with no socket known: maybe one bound since the last scan. */
	f = mkflow(IPPROTO_UDP, "10.0.0.1", 40000, "10.0.1.2", 6000, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, ++asks);
	/* UDP with neither end named: maybe a namespace made since. */
	f = mkflow(IPPROTO_UDP, "192.0.2.1", 40000, "192.0.2.2", 6000, FLOW_IF_NETWORK);
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, ++asks);
	ck_assert_uint_eq(sock_table_scan_due(t, NS + SOCK_TABLE_SCAN_MIN_WAIT_NS),
			  SOCK_SCAN_UDP_TABLES);
	/* TCP between addresses that are not local: new servers have LISTEN records. */
	f = mkflow(IPPROTO_TCP, "192.0.2.1", 40000, "192.0.2.2", 80, FLOW_IF_NETWORK);
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, asks);
	/* TCP to a local address: picked up mid-stream (older than flowd?), it asks; with its
	 * SYN seen, the probes will tell its ends, unless it ends unnamed. */
	f = mkflow(IPPROTO_TCP, "192.0.2.1", 40000, "10.0.2.2", 80, FLOW_IF_ENDPOINT);
	f.tcp_flags_seen[0] = FLOW_TCP_SYN;
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, asks);
	f.ended = true;
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, ++asks);
	f = mkflow(IPPROTO_TCP, "192.0.2.1", 40000, "10.0.2.2", 80, FLOW_IF_ENDPOINT);
	f.tcp_flags_seen[0] = FLOW_TCP_ACK;
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, ++asks);
	ck_assert_uint_eq(sock_table_scan_due(t, NS + SOCK_TABLE_SCAN_MIN_WAIT_NS), SOCK_SCAN_ALL);
	/* ICMP is never joined. */
	f = mkflow(IPPROTO_ICMP, "10.0.0.1", 1, "10.0.1.2", 1, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_uint_eq(stats(t).asks, asks);
	sock_table_free(t);
}
END_TEST

START_TEST(test_tcp_flows_prefer_the_namespace_of_their_addresses)
{
	struct sock_table *t = sock_table_new(100);
	struct flow_sock_record r;
	struct flow f;

	/* 127.0.0.1:40000 -> 127.0.0.1:5432 in flowd's namespace and, newer, in A's: a flow on
	 * flowd's loopback is its own namespace's. */
	sock_table_scan_begin(t, NS, NETNS_HOME, SOCK_SCAN_ALL);
	sock_table_scan_end(t, true);
	r = in_netns(srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "127.0.0.1", 5432, 1, 2 * NS),
		     NETNS_HOME);
	set_task(&r, 100, "psql-host");
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "127.0.0.1", 40000, "127.0.0.1", 5432, 1, 2 * NS);
	sock_table_handle(t, &r);
	r = in_netns(srec(FLOW_SOCK_CONNECT, "0.0.0.0", 0, "127.0.0.1", 5432, 2, 3 * NS), NETNS_A);
	set_task(&r, 200, "psql-pod");
	sock_table_handle(t, &r);
	r = srec(FLOW_SOCK_STATS, "127.0.0.1", 40000, "127.0.0.1", 5432, 2, 3 * NS);
	sock_table_handle(t, &r);
	f = mkflow(IPPROTO_TCP, "127.0.0.1", 40000, "127.0.0.1", 5432, FLOW_IF_LOOPBACK);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.src_proc->comm, "psql-host");
	ck_assert_uint_eq(f.socket_cookie, 1);

	/* The same tuple at an address two namespaces have (overlapping pod networks): nobody
	 * can tell, the newest is taken. */
	sock_table_scan_begin(t, 4 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 80, "10.0.0.1", 40000, NETNS_A, 9, 300,
			    "in-a"));
	scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.1.2", 80, "10.0.0.1", 40000, NETNS_B, 10, 400,
			    "in-b"));
	sock_table_scan_end(t, true);
	ck_assert_uint_eq(netns_of(t, "10.0.1.2"), 0);
	r = in_netns(srec(FLOW_SOCK_STATS, "10.0.1.2", 80, "10.0.0.1", 40000, 11, 5 * NS), NETNS_B);
	sock_table_handle(t, &r); /* B's socket, newest */
	f = mkflow(IPPROTO_TCP, "10.0.0.1", 40000, "10.0.1.2", 80, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.dst_proc->comm, "in-b");
	ck_assert_uint_eq(f.socket_cookie, 11);
	/* Scanned sockets have no kernel cookie to show. */
	sock_table_scan_begin(t, 6 * NS, NETNS_HOME, SOCK_SCAN_ALL);
	scan_add(t, scanned(SOCK_SCAN_TCP_CONN, "10.0.3.2", 80, "10.0.0.1", 40001, NETNS_A, 12, 300,
			    "in-a"));
	sock_table_scan_end(t, true);
	f = mkflow(IPPROTO_TCP, "10.0.0.1", 40001, "10.0.3.2", 80, FLOW_IF_ENDPOINT);
	sock_join_flow(t, NULL, &f);
	ck_assert_str_eq(f.dst_proc->comm, "in-a");
	ck_assert_uint_eq(f.socket_cookie, 0);
	sock_table_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sock_table");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_accepted_socket_gets_the_listeners_process);
	tcase_add_test(tc, test_closed_listener_is_forgotten);
	tcase_add_test(tc, test_container_id_from_cgroup_paths);
	tcase_add_test(tc, test_connecting_socket_learns_its_tuple_from_stats);
	tcase_add_test(tc, test_close_sets_closed_and_keeps_the_max_retransmits);
	tcase_add_test(tc, test_expire_forgets_old_closes_only);
	tcase_add_test(tc, test_port_reuse_finds_the_newest_socket);
	tcase_add_test(tc, test_full_table_keeps_no_more_sockets);
	tcase_add_test(tc, test_ipv6_tuples);
	tcase_add_test(tc, test_records_of_unknown_family_are_ignored);
	suite_add_tcase(s, tc);
	tc = tcase_create("netns");
	tcase_add_test(tc, test_two_namespaces_listening_on_the_same_port);
	tcase_add_test(tc, test_listener_bound_to_an_address_before_the_wildcard);
	tcase_add_test(tc, test_dual_stack_listener_names_ipv4_connections);
	tcase_add_test(tc, test_same_tuple_in_two_namespaces);
	suite_add_tcase(s, tc);
	tc = tcase_create("scan");
	tcase_add_test(tc, test_scanned_sockets_name_connections_accepts_and_udp);
	tcase_add_test(tc, test_scan_never_overrides_the_probes);
	tcase_add_test(tc, test_probe_records_take_over_scanned_connections);
	tcase_add_test(tc, test_complete_scans_forget_what_is_gone);
	tcase_add_test(tc, test_scan_respects_the_size_limit);
	tcase_add_test(tc, test_known_sockets_and_sockets_nobody_holds);
	tcase_add_test(tc, test_local_addresses_name_their_namespace);
	tcase_add_test(tc, test_rescans_are_asked_for_and_rate_limited);
	suite_add_tcase(s, tc);
	tc = tcase_create("join");
	tcase_add_test(tc, test_udp_flows_get_the_process_of_their_namespace);
	tcase_add_test(tc, test_unnamed_local_ends_ask_for_a_rescan);
	tcase_add_test(tc, test_tcp_flows_prefer_the_namespace_of_their_addresses);
	tcase_add_test(tc, test_process_records_are_shared_and_freed_when_unused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
