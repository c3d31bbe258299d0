/* Unit tests of the /proc scanner (proc_sockets.c): its parsers on text as this kernel writes it
 * (captured from /proc/net/{tcp,tcp6,udp,udp6}, fib_trie, if_inet6 and /proc/PID/cgroup in a
 * test namespace; x86-64, so addresses are printed as little-endian words), and whole scans of
 * a fixture /proc tree (symlinks for ns/net and fds, a cgroup tree for the ids): which process
 * a socket goes to, namespaces read once, limits, what reaches the socket table. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowscope/enrich/proc_sockets.h"

#define NS 1000000000ULL

/* ---- fixture text ------------------------------------------------------------------------- */

static const char tcp_text[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
	"inode                                                     \n"
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
	"172535 1 00000000a9cb373b 100 0 0 10 0                    \n"
	"   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 "
	"172537 1 000000003cceb14b 20 0 0 10 -1                    \n"
	"   2: 0100007F:AC66 0100007F:20FB 01 00000000:00000000 00:00000000 00000000     0        0 "
	"172543 2 00000000a9f05b99 20 0 0 10 -1                    \n"
	"   3: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 "
	"172536 2 000000002b838078 20 0 0 10 -1                    \n"
	"   4: 0100007F:9C41 0100007F:1F90 06 00000000:00000000 03:0000175C 00000000     0        0 0 "
	"3 00000000b447ed42                                      \n";

static const char tcp6_text[] =
	"  sl  local_address                         remote_address                        st "
	"tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:20FB 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000     0        0 172540 1 000000001034e053 100 0 0 10 "
	"0\n"
	"   1: 0000000000000000FFFF00000100007F:20FB 0000000000000000FFFF00000100007F:AC66 01 "
	"00000000:00000000 00:00000000 00000000     0        0 172544 1 0000000037fde218 20 0 0 10 "
	"-1\n"
	"   2: 00000000000000000000000001000000:20FB 00000000000000000000000001000000:A860 01 "
	"00000000:00000000 00:00000000 00000000     0        0 172542 1 000000003e42a9ff 20 0 0 10 "
	"-1\n"
	"   3: 00000000000000000000000001000000:A860 00000000000000000000000001000000:20FB 01 "
	"00000000:00000000 00:00000000 00000000     0        0 172541 2 000000007b096f7a 20 0 0 10 "
	"-1\n";

static const char udp_text[] =
	"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
	"inode ref pointer drops            \n"
	" 6366: 0100007F:AFC8 0100007F:14E9 01 00000000:00000000 00:00000000 00000000     0        0 "
	"172546 2 000000007eee07f4 0        \n"
	"15871: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 "
	"172545 2 000000003d98b9a3 0        \n";

static const char udp6_text[] =
	"  sl  local_address                         remote_address                        st "
	"tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	"15818: 00000000000000000000000001000000:14B4 00000000000000000000000000000000:0000 07 "
	"00000000:00000000 00:00000000 00000000     0        0 172547 2 000000000a544111 0\n";

static const char fib_trie_text[] = "Main:\n"
				    "  +-- 0.0.0.0/0 3 0 5\n"
				    "     |-- 0.0.0.0\n"
				    "        /0 universe UNICAST\n"
				    "     +-- 10.200.2.0/24 2 0 2\n"
				    "        +-- 10.200.2.0/30 2 0 2\n"
				    "           |-- 10.200.2.0\n"
				    "              /24 link UNICAST\n"
				    "           |-- 10.200.2.2\n"
				    "              /32 host LOCAL\n"
				    "        |-- 10.200.2.255\n"
				    "           /32 link BROADCAST\n"
				    "     +-- 127.0.0.0/8 2 0 2\n"
				    "        +-- 127.0.0.0/31 1 0 0\n"
				    "           |-- 127.0.0.0\n"
				    "              /8 host LOCAL\n"
				    "           |-- 127.0.0.1\n"
				    "              /32 host LOCAL\n"
				    "Local:\n"
				    "  +-- 10.200.2.0/24 2 0 2\n"
				    "     |-- 10.200.2.7\n"
				    "        /32 host LOCAL\n";

static const char if_inet6_text[] = "00000000000000000000000000000001 01 80 10 80       lo\n"
				    "fd000200000200000000000000000002 04 40 00 80 fsx0\n"
				    "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n";

static const char cgroup_text[] = "9:name=systemd:/\n"
				  "4:memory:/process_api/80d8b5eb\n"
				  "1:cpu:/\n"
				  "0::/flowscope-test/docker-0123.scope\n";

static FILE *text(const char *s)
{
	FILE *f = fmemopen((void *)s, strlen(s), "r");

	ck_assert_ptr_nonnull(f);
	return f;
}

static void addr(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) != 1)
		ck_assert_int_eq(inet_pton(AF_INET6, s, out), 1);
}

static bool addr_is(const uint8_t a[16], const char *s)
{
	uint8_t b[16];

	addr(s, b);
	return !memcmp(a, b, 16);
}

/* Parses every line of a table; returns how many parsed, lines in out. */
static int parse_all(const char *s, uint8_t family, struct proc_sock_line *out, int max)
{
	FILE *f = text(s);
	char line[512];
	int n = 0, bad = 0;

	while (fgets(line, sizeof(line), f)) {
		if (n < max && !proc_sockets_parse_line(line, family, &out[n]))
			n++;
		else
			bad++;
	}
	fclose(f);
	ck_assert_int_eq(bad, 1); /* the header */
	return n;
}

START_TEST(test_parse_ipv4_tcp_table)
{
	struct proc_sock_line l[8];

	ck_assert_int_eq(parse_all(tcp_text, 4, l, 8), 5);
	ck_assert_uint_eq(l[0].family, 4);
	ck_assert_uint_eq(l[0].state, 0x0a);
	ck_assert(addr_is(l[0].laddr, "127.0.0.1"));
	ck_assert_uint_eq(l[0].lport, 8080);
	ck_assert(addr_is(l[0].raddr, "0.0.0.0"));
	ck_assert_uint_eq(l[0].rport, 0);
	ck_assert_uint_eq(l[0].inode, 172535);
	ck_assert_uint_eq(l[1].state, 0x01);
	ck_assert_uint_eq(l[1].lport, 8080);
	ck_assert_uint_eq(l[1].rport, 40000);
	ck_assert_uint_eq(l[1].inode, 172537);
	ck_assert_uint_eq(l[2].lport, 44134);
	ck_assert_uint_eq(l[2].rport, 8443);
	/* TIME_WAIT: no socket file. */
	ck_assert_uint_eq(l[4].state, 0x06);
	ck_assert_uint_eq(l[4].inode, 0);
	ck_assert_uint_eq(l[4].lport, 40001);
}
END_TEST

START_TEST(test_parse_ipv6_and_udp_tables)
{
	struct proc_sock_line l[8];
	uint8_t mapped[16];

	ck_assert_int_eq(parse_all(tcp6_text, 6, l, 8), 4);
	ck_assert_uint_eq(l[0].family, 6);
	ck_assert(addr_is(l[0].laddr, "::"));
	ck_assert_uint_eq(l[0].lport, 8443);
	ck_assert_uint_eq(l[0].state, 0x0a);
	addr("::ffff:127.0.0.1", mapped);
	ck_assert(!memcmp(l[1].laddr, mapped, 16));
	ck_assert(!memcmp(l[1].raddr, mapped, 16));
	ck_assert_uint_eq(l[1].rport, 44134);
	ck_assert(addr_is(l[2].laddr, "::1"));
	ck_assert_uint_eq(l[2].rport, 43104);
	ck_assert_uint_eq(l[2].inode, 172542);
	ck_assert_uint_eq(l[3].lport, 43104);
	ck_assert_uint_eq(l[3].inode, 172541);

	ck_assert_int_eq(parse_all(udp_text, 4, l, 8), 2);
	ck_assert_uint_eq(l[0].state, 0x01); /* connected */
	ck_assert_uint_eq(l[0].lport, 45000);
	ck_assert_uint_eq(l[0].rport, 5353);
	ck_assert_uint_eq(l[1].state, 0x07);
	ck_assert(addr_is(l[1].laddr, "0.0.0.0"));
	ck_assert_uint_eq(l[1].lport, 5353);
	ck_assert_uint_eq(l[1].inode, 172545);
	ck_assert_int_eq(parse_all(udp6_text, 6, l, 8), 1);
	ck_assert(addr_is(l[0].laddr, "::1"));
	ck_assert_uint_eq(l[0].lport, 5300);
}
END_TEST

START_TEST(test_malformed_lines_are_refused)
{
	static const char *bad[] = {
		"",
		"garbage\n",
		"   0: 0100007F:1F90\n",
		"   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F9 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0\n",
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x1\n",
		"   0 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
	};
	struct proc_sock_line l;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(proc_sockets_parse_line(bad[i], 4, &l) == -EINVAL, "accepted: %s",
			      bad[i]);
	/* An IPv4 line in an IPv6 file is short of digits. */
	ck_assert_int_eq(
		proc_sockets_parse_line("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
					"00:00000000 00000000     0        0 1\n",
					6, &l),
		-EINVAL);
	ck_assert_int_eq(
		proc_sockets_parse_line("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
					"00:00000000 00000000     0        0 1\n",
					5, &l),
		-EINVAL);
}
END_TEST

struct addrs {
	int n;
	char text[8][64];
};

static void on_addr(void *ctx, const uint8_t a[16])
{
	struct addrs *as = ctx;

	if (as->n < 8)
		inet_ntop(AF_INET, a, as->text[as->n++], 64);
}

START_TEST(test_fib_trie_local_addresses)
{
	struct addrs as = {0};
	FILE *f = text(fib_trie_text);

	/* Local /32 host routes only: not the network, the broadcast or 127.0.0.0/8 itself. */
	ck_assert_int_eq(proc_sockets_read_fib_trie(f, 1 << 20, on_addr, &as), 3);
	fclose(f);
	ck_assert_int_eq(as.n, 3);
	ck_assert_str_eq(as.text[0], "10.200.2.2");
	ck_assert_str_eq(as.text[1], "127.0.0.1");
	ck_assert_str_eq(as.text[2], "10.200.2.7");
	/* A routing table too large to read is cut short, and says so. */
	memset(&as, 0, sizeof(as));
	f = text(fib_trie_text);
	ck_assert_int_eq(proc_sockets_read_fib_trie(f, 250, on_addr, &as), -E2BIG);
	fclose(f);
	ck_assert_int_eq(as.n, 1);
}
END_TEST

START_TEST(test_if_inet6_cgroup_and_links)
{
	uint8_t a[16];
	char path[256];
	FILE *f;

	ck_assert_int_eq(proc_sockets_parse_if_inet6(
				 "fd000200000200000000000000000002 04 40 00 80 fsx0\n", a),
			 0);
	ck_assert(addr_is(a, "fd00:200:2::2"));
	ck_assert_int_eq(proc_sockets_parse_if_inet6(if_inet6_text, a), 0);
	ck_assert(addr_is(a, "::1"));
	ck_assert_int_eq(proc_sockets_parse_if_inet6("fd00 04 40 00 80 x\n", a), -EINVAL);
	ck_assert_int_eq(proc_sockets_parse_if_inet6("", a), -EINVAL);

	f = text(cgroup_text);
	ck_assert_int_eq(proc_sockets_cgroup2_path(f, path, sizeof(path)), 0);
	fclose(f);
	ck_assert_str_eq(path, "/flowscope-test/docker-0123.scope");
	f = text("4:memory:/x\n1:cpu:/\n");
	ck_assert_int_eq(proc_sockets_cgroup2_path(f, path, sizeof(path)), -ENOENT);
	fclose(f);

	ck_assert_uint_eq(proc_sockets_link_inode("net:[4026531840]", "net"), 4026531840ULL);
	ck_assert_uint_eq(proc_sockets_link_inode("socket:[172535]", "socket"), 172535);
	ck_assert_uint_eq(proc_sockets_link_inode("socket:[172535]", "net"), 0);
	ck_assert_uint_eq(proc_sockets_link_inode("pipe:[172535]", "socket"), 0);
	ck_assert_uint_eq(proc_sockets_link_inode("socket:[]", "socket"), 0);
	ck_assert_uint_eq(proc_sockets_link_inode("socket:[12]x", "socket"), 0);
	ck_assert_uint_eq(proc_sockets_link_inode("/dev/null", "socket"), 0);
}
END_TEST

/* ---- scans of a fixture /proc ------------------------------------------------------------- */

#define NETNS_S1 4026532755u
#define NETNS_S2 4026532756u
#define NETNS_HOME 4026531840u

struct fixture {
	char dir[64];
	char proc[128], cg[128];
	int cg_fd;
	uint64_t cgid;	  /* of the container-like cgroup */
	uint64_t root_id; /* of the root cgroup (1 in a real hierarchy) */
};

static void put(const struct fixture *fx, const char *rel, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->proc, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
}

static void dir(const struct fixture *fx, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", fx->proc, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void link_to(const struct fixture *fx, const char *rel, const char *target)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", fx->proc, rel);
	ck_assert_int_eq(symlink(target, path), 0);
}

/* Table text s with the inodes 1725xx made 1726xx: another namespace's copy (inodes are
 * unique on a host). Freed by the caller. */
static char *shifted(const char *s, bool shift)
{
	char *c = strdup(s), *p = c;

	ck_assert_ptr_nonnull(c);
	while (shift && (p = strstr(p, " 1725")))
		p[4] = '6';
	return c;
}

static void put_table(const struct fixture *fx, int pid, const char *name, const char *s,
		      bool shift)
{
	char rel[256], *c = shifted(s, shift);

	snprintf(rel, sizeof(rel), "%d/net/%s", pid, name);
	put(fx, rel, c);
	free(c);
}

/* A process: pid, its namespace (tables: 0 none, 1 the captured ones, 2 a copy with other
 * inodes), comm, cgroup and the socket inodes of its fds (0-terminated; fd 0 is /dev/null). */
static void process(const struct fixture *fx, int pid, uint32_t netns, int tables, const char *comm,
		    const char *cgroup, const uint64_t *inodes)
{
	char rel[256], target[64];
	int fd;

	snprintf(rel, sizeof(rel), "%d", pid);
	dir(fx, rel);
	snprintf(rel, sizeof(rel), "%d/ns", pid);
	dir(fx, rel);
	snprintf(rel, sizeof(rel), "%d/ns/net", pid);
	snprintf(target, sizeof(target), "net:[%u]", netns);
	link_to(fx, rel, target);
	snprintf(rel, sizeof(rel), "%d/comm", pid);
	snprintf(target, sizeof(target), "%s\n", comm);
	put(fx, rel, target);
	snprintf(rel, sizeof(rel), "%d/cgroup", pid);
	put(fx, rel, cgroup);
	snprintf(rel, sizeof(rel), "%d/fd", pid);
	dir(fx, rel);
	snprintf(rel, sizeof(rel), "%d/fd/0", pid);
	link_to(fx, rel, "/dev/null");
	for (fd = 3; inodes && *inodes; fd++, inodes++) {
		snprintf(rel, sizeof(rel), "%d/fd/%d", pid, fd);
		snprintf(target, sizeof(target), "socket:[%llu]", (unsigned long long)*inodes);
		link_to(fx, rel, target);
	}
	if (!tables)
		return;
	snprintf(rel, sizeof(rel), "%d/net", pid);
	dir(fx, rel);
	put_table(fx, pid, "tcp", tcp_text, tables == 2);
	put_table(fx, pid, "tcp6", tcp6_text, tables == 2);
	put_table(fx, pid, "udp", udp_text, tables == 2);
	put_table(fx, pid, "udp6", udp6_text, tables == 2);
	put_table(fx, pid, "fib_trie", fib_trie_text, false);
	put_table(fx, pid, "if_inet6", if_inet6_text, false);
}

/* Namespace S1 (the captured tables) with a server (pid 100, in a container-like cgroup) that
 * holds the listeners, the accepted connections and the UDP sockets, a forked worker (pid 300)
 * holding the same listener and the client end of one connection, and a client (pid 50) with
 * the other client ends; namespace S2 with a copy of the tables (another pod of the same
 * addresses) whose only process (pid 400) holds the IPv4 listener; a kernel thread (no fds) in
 * the host's namespace; "self" is in the host's namespace. */
static void fixture_setup(struct fixture *fx)
{
	static const uint64_t server[] = {172535, 172537, 172540, 172542,
					  172544, 172545, 172547, 0};
	static const uint64_t worker[] = {172535, 172543, 0};
	static const uint64_t client[] = {172536, 172541, 172546, 0};
	static const uint64_t pod2[] = {172635, 0};
	const char *cg_path = "/flowscope-test/docker-0123.scope";
	char path[512];
	struct stat st;

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_proc_sockets.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	snprintf(fx->proc, sizeof(fx->proc), "%s/proc", fx->dir);
	snprintf(fx->cg, sizeof(fx->cg), "%s/cg", fx->dir);
	ck_assert_int_eq(mkdir(fx->proc, 0755), 0);
	ck_assert_int_eq(mkdir(fx->cg, 0755), 0);
	snprintf(path, sizeof(path), "%s/flowscope-test", fx->cg);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s%s", fx->cg, cg_path);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	fx->cgid = st.st_ino;
	ck_assert_int_eq(stat(fx->cg, &st), 0);
	fx->root_id = st.st_ino;
	fx->cg_fd = open(fx->cg, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fx->cg_fd, 0);

	dir(fx, "self");
	dir(fx, "self/ns");
	link_to(fx, "self/ns/net", "net:[4026531840]");
	process(fx, 2, NETNS_HOME, 0, "kthreadd", "0::/\n", NULL);
	process(fx, 50, NETNS_S1, 1, "client", "0::/\n", client);
	process(fx, 100, NETNS_S1, 1, "server", "0::/flowscope-test/docker-0123.scope\n", server);
	process(fx, 300, NETNS_S1, 1, "worker", "0::/\n", worker);
	process(fx, 400, NETNS_S2, 2, "pod2", "0::/\n", pod2);
}

static void fixture_teardown(struct fixture *fx)
{
	char cmd[256];

	close(fx->cg_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const struct sock_info *conn(const struct sock_table *t, uint32_t netns, const char *la,
				    uint16_t lp, const char *ra, uint16_t rp)
{
	uint8_t l[16], r[16];
	uint8_t family = strchr(la, ':') ? 6 : 4;

	addr(la, l);
	addr(ra, r);
	return sock_table_find_ns(t, netns, family, l, lp, r, rp);
}

static const struct sock_info *bound(const struct sock_table *t, uint8_t proto, uint32_t netns,
				     const char *a, uint16_t port)
{
	uint8_t b[16];

	addr(a, b);
	return sock_table_find_bound(t, proto, netns, strchr(a, ':') ? 6 : 4, b, port);
}

START_TEST(test_scan_of_a_fixture_proc)
{
	struct fixture fx;
	struct sock_table *t = sock_table_new(1000);
	struct proc_sockets_stats st;
	struct proc_sockets_opts o;
	struct sock_table_stats ts;
	const struct sock_info *i;

	fixture_setup(&fx);
	o = (struct proc_sockets_opts){.proc = fx.proc, .cgroup_root_fd = fx.cg_fd, .now_ns = NS};
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert(!st.truncated);
	ck_assert_uint_eq(st.procs, 5);
	ck_assert_uint_eq(st.fds, 1 + 4 + 8 + 3 + 2); /* fd 0 and the sockets of each */
	ck_assert_uint_eq(st.netns, 2); /* S1 read once for its three processes, S2 once */
	/* Per namespace: 2 listeners + 6 connections (TIME_WAIT has no inode) + 3 UDP. */
	ck_assert_uint_eq(st.sockets, 2 * 11);
	ck_assert_uint_eq(st.held, 11 + 1);
	ck_assert_uint_eq(st.new_names, 12);
	ck_assert_uint_eq(st.addrs, 2 * (3 + 3));
	ck_assert_uint_eq(sock_table_home_netns(t), NETNS_HOME);

	/* The listener goes to the lowest pid holding it, with its comm and cgroup id. */
	i = bound(t, IPPROTO_TCP, NETNS_S1, "127.0.0.1", 8080);
	ck_assert_ptr_nonnull(i);
	ck_assert_uint_eq(i->pid, 100);
	ck_assert_str_eq(i->comm, "server");
	ck_assert_uint_eq(i->cgroup_id, fx.cgid);
	ck_assert_uint_eq(bound(t, IPPROTO_TCP, NETNS_S2, "127.0.0.1", 8080)->pid, 400);
	ck_assert_uint_eq(bound(t, IPPROTO_TCP, NETNS_S1, "10.200.2.2", 8443)->pid, 100);
	/* Both ends of the loopback connections, each with its holder. */
	i = conn(t, NETNS_S1, "127.0.0.1", 8080, "127.0.0.1", 40000);
	ck_assert_uint_eq(i->pid, 100);
	ck_assert(i->from_scan);
	ck_assert_uint_eq(i->cookie, SOCK_SCAN_COOKIE | 172537);
	i = conn(t, NETNS_S1, "127.0.0.1", 40000, "127.0.0.1", 8080);
	ck_assert_uint_eq(i->pid, 50);
	ck_assert_str_eq(i->comm, "client");
	ck_assert_uint_eq(i->cgroup_id, fx.root_id); /* "0::/" */
	ck_assert_str_eq(conn(t, NETNS_S1, "127.0.0.1", 44134, "127.0.0.1", 8443)->comm, "worker");
	/* The dual-stack listener's IPv4 connection, as IPv4. */
	ck_assert_str_eq(conn(t, NETNS_S1, "127.0.0.1", 8443, "127.0.0.1", 44134)->comm, "server");
	ck_assert_str_eq(conn(t, NETNS_S1, "::1", 8443, "::1", 43104)->comm, "server");
	ck_assert_str_eq(conn(t, NETNS_S1, "::1", 43104, "::1", 8443)->comm, "client");
	/* UDP: the wildcard, the connected client's local end, IPv6. */
	ck_assert_str_eq(bound(t, IPPROTO_UDP, NETNS_S1, "10.200.2.2", 5353)->comm, "server");
	ck_assert_str_eq(bound(t, IPPROTO_UDP, NETNS_S1, "127.0.0.1", 45000)->comm, "client");
	ck_assert_str_eq(bound(t, IPPROTO_UDP, NETNS_S1, "::1", 5300)->comm, "server");
	ck_assert_ptr_null(bound(t, IPPROTO_UDP, NETNS_S2, "10.200.2.2", 5353)); /* nobody holds */
	/* The addresses of both namespaces are the same (a copy): nobody's. */
	{
		uint8_t a[16];

		addr("10.200.2.2", a);
		ck_assert_uint_eq(sock_table_netns_of(t, 4, a), 0);
	}
	/* S2's sockets nobody holds: its listeners and UDP sockets are kept without a process
	 * (so that the next scans know them), its connections not at all. */
	sock_table_get_stats(t, &ts);
	ck_assert_uint_eq(ts.listeners, 2 + 2);
	ck_assert_uint_eq(ts.udp, 3 + 3);
	ck_assert_uint_eq(ts.sockets, 6);
	ck_assert_uint_eq(ts.scanned, 12 + 4);
	ck_assert_uint_eq(ts.scans, 1);
	ck_assert_ptr_null(bound(t, IPPROTO_TCP, NETNS_S2, "::", 8443));

	/* Scanned again: everything known by its inode, no process looked up; only S2's
	 * unheld connections are looked for in the fds again. */
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert_uint_eq(st.sockets, 22);
	ck_assert_uint_eq(st.known, 16);
	ck_assert_uint_eq(st.held, 0);
	ck_assert_uint_eq(st.new_names, 0);
	ck_assert_uint_eq(st.fds, 18);
	/* A UDP rescan that finds nothing new reads no fd at all. */
	o.what = SOCK_SCAN_UDP_TABLES;
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert_uint_eq(st.sockets, 6);
	ck_assert_uint_eq(st.known, 6);
	ck_assert_uint_eq(st.fds, 0);
	ck_assert_uint_eq(bound(t, IPPROTO_UDP, NETNS_S1, "10.200.2.2", 5353)->pid, 100);
	sock_table_free(t);
	fixture_teardown(&fx);
}
END_TEST

START_TEST(test_scan_limits_truncate_and_forget_nothing)
{
	struct fixture fx;
	struct sock_table *t = sock_table_new(1000);
	struct proc_sockets_stats st;
	struct proc_sockets_opts o;
	struct sock_table_stats ts;

	fixture_setup(&fx);
	o = (struct proc_sockets_opts){.proc = fx.proc, .cgroup_root_fd = -1, .now_ns = NS};
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	sock_table_get_stats(t, &ts);
	ck_assert_uint_eq(ts.scanned, 16);
	/* Without a cgroup root: no ids. */
	ck_assert_uint_eq(bound(t, IPPROTO_TCP, NETNS_S1, "127.0.0.1", 8080)->cgroup_id, 0);

	o.max_procs = 2;
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert(st.truncated);
	ck_assert_uint_eq(st.procs, 2);
	sock_table_get_stats(t, &ts);
	ck_assert_uint_eq(ts.scanned, 16); /* a truncated scan forgets nothing */

	o.max_procs = 0;
	o.max_fds = 4;
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert(st.truncated);
	ck_assert_uint_eq(st.fds, 4);
	o.max_fds = 0;
	o.max_sockets = 3;
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert(st.truncated);
	ck_assert_uint_eq(st.sockets, 3);
	sock_table_get_stats(t, &ts);
	ck_assert_uint_eq(ts.scanned, 16);

	/* A UDP-only scan reads no TCP table. */
	o.max_sockets = 0;
	o.what = SOCK_SCAN_UDP_TABLES;
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert(!st.truncated);
	ck_assert_uint_eq(st.sockets, 2 * 3);
	sock_table_get_stats(t, &ts);
	ck_assert_uint_eq(ts.scanned, 16);

	/* The server exits: its sockets leave the tables, a complete scan forgets them; the
	 * listener it shared with the worker stays, known by its inode, with the process found
	 * first. */
	{
		char cmd[300];
		int pid;

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/100'", fx.proc);
		ck_assert_int_eq(system(cmd), 0);
		for (pid = 50; pid <= 300; pid += 250) {
			char rel[64], *tcp = strdup(tcp_text), *l1 = strstr(tcp, "   1: "),
				      *l2 = strstr(tcp, "   2: "), *udp;

			memmove(l1, l2, strlen(l2) + 1);
			snprintf(rel, sizeof(rel), "%d/net/tcp", pid);
			put(&fx, rel, tcp);
			free(tcp);
			/* Of UDP, the client's connected socket alone (the first line after the
			 * header). */
			snprintf(rel, sizeof(rel), "%d/net/udp", pid);
			udp = strdup(udp_text);
			*strstr(udp, "15871:") = '\0';
			put(&fx, rel, udp);
			free(udp);
		}
	}
	o.what = 0;
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), 0);
	ck_assert_uint_eq(st.procs, 4);
	ck_assert_uint_eq(st.new_names, 0);
	ck_assert_str_eq(bound(t, IPPROTO_TCP, NETNS_S1, "127.0.0.1", 8080)->comm, "server");
	ck_assert_ptr_null(conn(t, NETNS_S1, "127.0.0.1", 8080, "127.0.0.1", 40000));
	ck_assert_ptr_nonnull(conn(t, NETNS_S1, "127.0.0.1", 40000, "127.0.0.1", 8080));
	ck_assert_ptr_null(bound(t, IPPROTO_UDP, NETNS_S1, "10.200.2.2", 5353));
	ck_assert_ptr_nonnull(bound(t, IPPROTO_UDP, NETNS_S1, "127.0.0.1", 45000));

	/* No such proc root: an error, the table unchanged. */
	o.proc = "/nonexistent/proc";
	ck_assert_int_eq(proc_sockets_scan(t, &o, &st), -ENOENT);
	ck_assert_ptr_nonnull(bound(t, IPPROTO_UDP, NETNS_S1, "127.0.0.1", 45000));
	sock_table_free(t);
	fixture_teardown(&fx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proc_sockets");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_parse_ipv4_tcp_table);
	tcase_add_test(tc, test_parse_ipv6_and_udp_tables);
	tcase_add_test(tc, test_malformed_lines_are_refused);
	tcase_add_test(tc, test_fib_trie_local_addresses);
	tcase_add_test(tc, test_if_inet6_cgroup_and_links);
	suite_add_tcase(s, tc);
	tc = tcase_create("scan");
	tcase_add_test(tc, test_scan_of_a_fixture_proc);
	tcase_add_test(tc, test_scan_limits_truncate_and_forget_nothing);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
