/* BPF tests of the socket and drop probes (probes/flow_sock.bpf.c) through the real loaders,
 * in a network namespace of the test's own with real TCP and UDP sockets on loopback:
 * connect/listen/accept/close records with the process, RTT from sockops, retransmits and
 * netfilter drops under an nftables rule, frees that lose nothing (a refused connection's
 * NO_SOCKET, TCP_ABORT_ON_DATA) counted per reason and never reported, and the per-flow rate
 * limit of drop records. The probes see the whole host, so records are picked by the test's
 * own ports. Needs root and nft; as root nothing is skipped. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/enrich/drop_reason.h"
#include "flowscope/record.h"
#include "flowscope/probes/probe_sock.h"
#include "flowscope/probes/probe_tc.h"

#define MAX_RECS 4096

static struct probe_tc *tc;
static struct probe_sock *sk;
static struct ring_buffer *rb;
static struct flow_sock_record socks[MAX_RECS];
static struct flow_drop_record drops[MAX_RECS];
static int nsocks, ndrops;
static uint16_t want_ports[4]; /* records touching one of these ports are kept */

static bool wanted(uint16_t a, uint16_t b)
{
	int i;

	for (i = 0; i < 4; i++)
		if (want_ports[i] && (a == want_ports[i] || b == want_ports[i]))
			return true;
	return false;
}

static int on_record(void *ctx, void *data, size_t size)
{
	uint16_t type = *(uint16_t *)data;

	(void)ctx;
	if (type == FLOW_REC_SOCK) {
		const struct flow_sock_record *r = data;

		ck_assert_uint_eq(size, sizeof(*r));
		if (r->event == FLOW_SOCK_LISTEN ? wanted(r->lport, 0) : wanted(r->lport, r->rport))
			if (nsocks < MAX_RECS)
				socks[nsocks++] = *r;
	} else if (type == FLOW_REC_DROP) {
		const struct flow_drop_record *r = data;

		ck_assert_uint_eq(size, sizeof(*r));
		if (wanted(r->key.port[0], r->key.port[1]) && ndrops < MAX_RECS)
			drops[ndrops++] = *r;
	}
	return 0;
}

static void own_netns(void)
{
	struct ifreq ifr = {0};
	int fd;

	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static void setup(void)
{
	const int *fds;
	int n, i;

	ck_assert_msg(geteuid() == 0, "BPF tests need root");
	own_netns();
	ck_assert_int_eq(probe_tc_open(&tc, NULL, NULL), 0);
	ck_assert_int_eq(probe_sock_open(&sk, tc, drop_reason_is_loss, NULL), 0);
	n = probe_tc_ring_fds(tc, &fds);
	rb = ring_buffer__new(fds[0], on_record, NULL, NULL);
	ck_assert_ptr_nonnull(rb);
	for (i = 1; i < n; i++)
		ck_assert_int_eq(ring_buffer__add(rb, fds[i], on_record, NULL), 0);
	nsocks = ndrops = 0;
	memset(want_ports, 0, sizeof(want_ports));
	/* A name of our own, to find in the records. */
	prctl(PR_SET_NAME, "fs-socktest", 0, 0, 0);
}

static void teardown(void)
{
	ring_buffer__free(rb);
	probe_sock_close(sk);
	probe_tc_close(tc);
}

static void drain(int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ring_buffer__poll(rb, 10);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static int tcp_listen(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

static int tcp_connect(uint16_t lport, uint16_t port, int nonblock)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(lport)};
	int one = 1,
	    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	a.sin_addr.s_addr = l.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&l, sizeof(l)), 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && !(nonblock && errno == EINPROGRESS))
		return -errno;
	return fd;
}

static const struct flow_sock_record *find_sock(uint32_t event, uint16_t lport, uint16_t rport)
{
	int i;

	for (i = 0; i < nsocks; i++)
		if (socks[i].event == event && socks[i].lport == lport &&
		    (event == FLOW_SOCK_LISTEN || event == FLOW_SOCK_CONNECT ||
		     socks[i].rport == rport))
			return &socks[i];
	return NULL;
}

static void sh(const char *cmd)
{
	int rc = system(cmd);

	ck_assert_msg(rc == 0, "'%s' failed (%d): is nftables installed?", cmd, rc);
}

START_TEST(connection_lifecycle_with_process_and_rtt)
{
	const struct flow_sock_record *r;
	uint16_t sp = 47101, cp = 47102;
	int l, c, a, i, n_stats = 0;
	char buf[100] = "hello";

	want_ports[0] = sp;
	l = tcp_listen(sp);
	c = tcp_connect(cp, sp, 0);
	ck_assert_int_ge(c, 0);
	a = accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(write(c, buf, 5), 5);
	ck_assert_int_eq(read(a, buf, sizeof(buf)), 5);
	close(c);
	close(a);
	close(l);
	drain(300);

	/* listen() and connect() run in this process: its pid and name are on them. */
	r = find_sock(FLOW_SOCK_LISTEN, sp, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert(r->has_task);
	ck_assert_uint_eq(r->pid, (uint32_t)getpid());
	ck_assert_str_eq(r->comm, "fs-socktest");
	ck_assert_uint_eq(r->family, 4);
	ck_assert_uint_gt(r->cgroup_id, 0);
	r = find_sock(FLOW_SOCK_CONNECT, 0, sp);
	for (i = 0; !r && i < nsocks; i++)
		if (socks[i].event == FLOW_SOCK_CONNECT && socks[i].rport == sp)
			r = &socks[i];
	ck_assert_ptr_nonnull(r);
	ck_assert(r->has_task);
	ck_assert_uint_eq(r->pid, (uint32_t)getpid());
	ck_assert_uint_ne(r->cookie, 0);
	/* The accepted socket: the full tuple, in softirq (no process). */
	r = find_sock(FLOW_SOCK_ACCEPT, sp, cp);
	ck_assert_ptr_nonnull(r);
	ck_assert(!r->has_task);
	ck_assert_uint_eq(r->laddr[0], 127);
	ck_assert_uint_eq(r->raddr[0], 127);
	/* sockops: both ends established, with an RTT sample. */
	for (i = 0; i < nsocks; i++)
		if (socks[i].event == FLOW_SOCK_STATS) {
			n_stats++;
			ck_assert_uint_gt(socks[i].srtt_us, 0);
			ck_assert(socks[i].lport == sp || socks[i].lport == cp);
			ck_assert(socks[i].rport == sp || socks[i].rport == cp);
		}
	ck_assert_int_ge(n_stats, 2);
	/* Both ends close, each with its tuple and RTT. */
	r = find_sock(FLOW_SOCK_CLOSE, cp, sp);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_gt(r->srtt_us, 0);
	r = find_sock(FLOW_SOCK_CLOSE, sp, cp);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->total_retrans, 0);
	/* The listener's close is its own event, not a connection's. */
	r = find_sock(FLOW_SOCK_UNLISTEN, sp, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->rport, 0);
}
END_TEST

START_TEST(retransmits_and_netfilter_drops)
{
	const struct flow_sock_record *r;
	uint16_t sp = 47201, cp = 47202;
	int l, c, a, i, retrans_stats = 0, nf = 0;
	char buf[64] = "data";

	want_ports[0] = sp;
	l = tcp_listen(sp);
	c = tcp_connect(cp, sp, 0);
	ck_assert_int_ge(c, 0);
	a = accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	/* Data to the server is dropped for a while: the client retransmits. */
	sh("nft add table inet fstest && "
	   "nft add chain inet fstest in '{ type filter hook input priority 0; }' && "
	   "nft add rule inet fstest in tcp dport 47201 drop");
	ck_assert_int_eq(write(c, buf, 4), 4);
	drain(1500);
	sh("nft delete table inet fstest");
	ck_assert_int_eq(read(a, buf, sizeof(buf)), 4);
	close(c);
	close(a);
	close(l);
	drain(300);

	for (i = 0; i < nsocks; i++)
		if (socks[i].event == FLOW_SOCK_STATS && socks[i].total_retrans > 0)
			retrans_stats++;
	ck_assert_int_ge(retrans_stats, 1);
	r = find_sock(FLOW_SOCK_CLOSE, cp, sp);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_ge(r->total_retrans, 1);
	/* The drops, with the kernel's reason, from the client side of the flow. */
	for (i = 0; i < ndrops; i++) {
		const struct flow_drop_record *d = &drops[i];

		if (strcmp(drop_reason_kernel_name(d->reason), "NETFILTER_DROP"))
			continue;
		nf++;
		ck_assert_uint_eq(d->key.proto, IPPROTO_TCP);
		ck_assert_uint_eq(d->key.family, 4);
		ck_assert_uint_eq(d->key.port[d->sender], cp);
		ck_assert_uint_eq(d->key.port[!d->sender], sp);
		ck_assert_uint_ge(d->count, 1);
		ck_assert(d->tcp_flags & 0x10); /* ACK: a data segment */
	}
	/* Rate limit: the first drop, then at most one a second. */
	ck_assert_int_ge(nf, 1);
	ck_assert_int_le(nf, 3);
}
END_TEST

/* The drop probe's count of ignored frees of a reason, 0 when it ignores none of it. */
static uint64_t ignored_count(const char *reason)
{
	struct probe_sock_ignored ig[256];
	int n, i;

	n = probe_sock_ignored(sk, ig, 256);
	ck_assert_int_ge(n, 0);
	ck_assert_int_le(n, 256);
	for (i = 0; i < n; i++)
		if (!strcmp(drop_reason_kernel_name(ig[i].reason), reason))
			return ig[i].count;
	return 0;
}

static int count_drops(const char *reason)
{
	int i, n = 0;

	for (i = 0; i < ndrops; i++)
		if (!reason || !strcmp(drop_reason_kernel_name(drops[i].reason), reason))
			n++;
	return n;
}

START_TEST(ignored_reasons_are_the_tables_not_losses)
{
	struct probe_sock_ignored ig[256];
	uint32_t v, k = drop_reason_kernel_count();
	int n, i, j;

	n = probe_sock_ignored(sk, ig, 256);
	ck_assert_int_gt(n, 10);
	ck_assert_int_le(n, 256);
	/* Exactly the values whose names the table calls no loss, in order. */
	for (v = 0, i = 0; v < k; v++) {
		if (drop_reason_is_loss(v))
			continue;
		ck_assert_int_lt(i, n);
		ck_assert_uint_eq(ig[i].reason, v);
		ck_assert_int_eq(drop_reason_class(drop_reason_kernel_name(v)),
				 DROP_CLASS_NOT_LOSS);
		i++;
	}
	ck_assert_int_eq(i, n);
	for (j = 0; j < n; j++)
		ck_assert_str_ne(drop_reason_kernel_name(ig[j].reason), "NETFILTER_DROP");
}
END_TEST

START_TEST(refused_connection_is_counted_not_reported)
{
	uint16_t sp = 47301, cp = 47302;
	uint64_t before = ignored_count("NO_SOCKET");
	int c;

	ck_assert_uint_ne(drop_reason_kernel_count(), 0);
	want_ports[0] = sp;
	c = tcp_connect(cp, sp, 0);
	ck_assert_int_eq(c, -ECONNREFUSED);
	drain(200);
	/* The SYN is freed with NO_SOCKET after the RST went out: a refusal, not a loss. */
	ck_assert_int_eq(count_drops(NULL), 0);
	ck_assert_uint_ge(ignored_count("NO_SOCKET"), before + 1);
	ck_assert_int_eq(drop_reason_hubble("NO_SOCKET"), 0);
	ck_assert_int_eq(drop_reason_hubble("NETFILTER_DROP"), 133);
	ck_assert_int_eq(drop_reason_hubble("SOMETHING_NEW"), 0);
}
END_TEST

START_TEST(abort_on_data_is_counted_not_reported)
{
	uint16_t sp = 47501, cp = 47502;
	uint64_t before = ignored_count("TCP_ABORT_ON_DATA");
	char buf[4096] = {0};
	int l, c, a, i;

	want_ports[0] = sp;
	l = tcp_listen(sp);
	c = tcp_connect(cp, sp, 0);
	ck_assert_int_ge(c, 0);
	a = accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	/* The server shuts its socket down (FIN, no more reads), the client goes on sending: the
	 * server's TCP answers the data with RST (RFC 1122). */
	ck_assert_int_eq(shutdown(a, SHUT_RDWR), 0);
	usleep(50000);
	for (i = 0; i < 3; i++)
		if (send(c, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
			break;
	drain(200);
	close(a);
	close(c);
	close(l);
	ck_assert_int_eq(count_drops(NULL), 0);
	ck_assert_uint_ge(ignored_count("TCP_ABORT_ON_DATA"), before + 1);
}
END_TEST

START_TEST(without_a_table_every_reason_is_a_loss)
{
	struct probe_sock *raw = NULL;
	struct probe_sock_ignored ig[4];
	uint16_t sp = 47601, cp = 47602;
	int c;

	/* A second drop probe with no table: it reports the refusal the first one ignores. */
	ck_assert_int_eq(probe_sock_open(&raw, tc, NULL, NULL), 0);
	ck_assert_int_eq(probe_sock_ignored(raw, ig, 4), 0);
	want_ports[0] = sp;
	c = tcp_connect(cp, sp, 0);
	ck_assert_int_eq(c, -ECONNREFUSED);
	drain(200);
	probe_sock_close(raw);
	ck_assert_int_eq(count_drops("NO_SOCKET"), 1);
	ck_assert_uint_eq(drops[0].key.port[drops[0].sender], cp);
	ck_assert(drops[0].tcp_flags & 0x02); /* the SYN */
}
END_TEST

START_TEST(drop_records_are_rate_limited_with_counts)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(47401)};
	struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(47402)};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), i, n = 0;
	uint64_t last = 0;

	want_ports[0] = 47401;
	a.sin_addr.s_addr = l.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&l, sizeof(l)), 0);
	sh("nft add table inet fstest && "
	   "nft add chain inet fstest in '{ type filter hook input priority 0; }' && "
	   "nft add rule inet fstest in udp dport 47401 drop");
	/* 50 datagrams dropped by the rule: 50 drops, one record. */
	for (i = 0; i < 50; i++)
		sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	drain(200);
	for (i = 0; i < ndrops; i++)
		if (drops[i].key.proto == IPPROTO_UDP) {
			n++;
			last = drops[i].count;
			ck_assert_str_eq(drop_reason_kernel_name(drops[i].reason),
					 "NETFILTER_DROP");
		}
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(last, 1);
	/* A second later the next drop reports the running count. */
	sleep(1);
	drain(100);
	sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	drain(200);
	sh("nft delete table inet fstest");
	for (i = 0, n = 0; i < ndrops; i++)
		if (drops[i].key.proto == IPPROTO_UDP) {
			n++;
			last = drops[i].count;
		}
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(last, 51);
	close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sock_probe");
	TCase *t = tcase_create("sock");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, connection_lifecycle_with_process_and_rtt);
	tcase_add_test(t, retransmits_and_netfilter_drops);
	tcase_add_test(t, ignored_reasons_are_the_tables_not_losses);
	tcase_add_test(t, refused_connection_is_counted_not_reported);
	tcase_add_test(t, abort_on_data_is_counted_not_reported);
	tcase_add_test(t, without_a_table_every_reason_is_a_loss);
	tcase_add_test(t, drop_records_are_rate_limited_with_counts);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_set_fork_status(r, CK_FORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
