/* Unit tests of the socket table (sock_table.c): listeners lend their process to accepted
 * sockets, a connecting socket learns its tuple later, closes, expiry, port reuse, the size
 * limit, IPv6 and malformed records. Records are built by hand as the socket probe writes them. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/enrich/cgroup_path.h"
#include "flowscope/enrich/sock_table.h"

#define NS 1000000000ULL

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
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
