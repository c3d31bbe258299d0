/* The /proc scanner (see include/flowscope/enrich/proc_sockets.h). Pass 1 reads each process's
 * namespace and, the first time a namespace is met, its tables: sockets the table knows (same
 * inode, or the probes' with a process) are only marked found. Pass 2 walks fds, by ascending
 * pid, only while a socket new to the table has no holder, so a rescan that finds nothing new
 * reads no fd; only the processes that hold a new socket have their comm and cgroup read. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/base/hash.h"
#include "flowscope/enrich/proc_sockets.h"

#define FIB_TRIE_MAX_BYTES (4u << 20) /* a namespace with a full routing table: cut short */

/* ---- parsers -------------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n hex digits at s into v. */
static bool hex_u32(const char *s, int n, uint32_t *v)
{
	int i, d;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((d = hexval(s[i])) < 0)
			return false;
		*v = *v << 4 | (uint32_t)d;
	}
	return true;
}

/* "0100007F:0035": the kernel prints each 32-bit word of the address as the host reads it.
 * Returns the position after the port, or NULL. */
static const char *parse_endpoint(const char *s, uint8_t family, uint8_t addr[16], uint16_t *port)
{
	int words = family == 4 ? 1 : 4, i;
	uint32_t w, p;

	memset(addr, 0, 16);
	for (i = 0; i < words; i++, s += 8) {
		if (!hex_u32(s, 8, &w))
			return NULL;
		memcpy(addr + 4 * i, &w, 4);
	}
	if (*s++ != ':' || !hex_u32(s, 4, &p) || hexval(s[4]) >= 0)
		return NULL;
	*port = (uint16_t)p;
	return s + 4;
}

int proc_sockets_parse_line(const char *line, uint8_t family, struct proc_sock_line *out)
{
	const char *s = line;
	unsigned long long inode;
	uint32_t st;
	char *end;
	int i;

	memset(out, 0, sizeof(*out));
	out->family = family;
	if (family != 4 && family != 6)
		return -EINVAL;
	while (*s == ' ')
		s++;
	strtoul(s, &end, 10); /* "sl", then ':' */
	if (end == s || *end != ':')
		return -EINVAL;
	s = end + 1;
	while (*s == ' ')
		s++;
	if (!(s = parse_endpoint(s, family, out->laddr, &out->lport)) || *s++ != ' ' ||
	    !(s = parse_endpoint(s, family, out->raddr, &out->rport)) || *s++ != ' ' ||
	    !hex_u32(s, 2, &st) || s[2] != ' ')
		return -EINVAL;
	out->state = (uint8_t)st;
	s += 3;
	/* tx:rx, tr:when, retrnsmt, uid, timeout, then the inode. */
	for (i = 0; i < 5; i++) {
		while (*s == ' ')
			s++;
		if (!*s)
			return -EINVAL;
		while (*s && *s != ' ')
			s++;
	}
	inode = strtoull(s, &end, 10);
	if (end == s || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	out->inode = inode;
	return 0;
}

static int parse_ipv4(const char *s, uint8_t a[16])
{
	unsigned int b[4];
	char tail;
	int i;

	if (sscanf(s, "%u.%u.%u.%u%c", &b[0], &b[1], &b[2], &b[3], &tail) < 4)
		return -EINVAL;
	memset(a, 0, 16);
	for (i = 0; i < 4; i++) {
		if (b[i] > 255)
			return -EINVAL;
		a[i] = (uint8_t)b[i];
	}
	return 0;
}

int proc_sockets_read_fib_trie(FILE *f, size_t max_bytes,
			       void (*cb)(void *ctx, const uint8_t addr[16]), void *ctx)
{
	char line[256];
	uint8_t last[16];
	bool have_last = false;
	size_t read = 0;
	int n = 0;

	/* "|-- 10.0.0.2" then, for each route of that prefix, "/32 host LOCAL": a local address. */
	while (fgets(line, sizeof(line), f)) {
		const char *s = line;

		read += strlen(line);
		if (read > max_bytes)
			return -E2BIG;
		while (*s == ' ' || *s == '|' || *s == '+')
			s++;
		if (!strncmp(s, "-- ", 3)) {
			have_last = !parse_ipv4(s + 3, last);
		} else if (have_last && !strncmp(s, "/32 host LOCAL", 14)) {
			cb(ctx, last);
			n++;
		} else if (*s != '/') {
			have_last = false; /* a table header ("Main:", "Local:") */
		}
	}
	return n;
}

int proc_sockets_parse_if_inet6(const char *line, uint8_t addr[16])
{
	uint32_t b;
	int i;

	for (i = 0; i < 16; i++) {
		if (!hex_u32(line + 2 * i, 2, &b))
			return -EINVAL;
		addr[i] = (uint8_t)b;
	}
	return line[32] == ' ' ? 0 : -EINVAL;
}

int proc_sockets_cgroup2_path(FILE *f, char *path, size_t len)
{
	char line[4096];

	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, len, "%s", line + 3);
		return 0;
	}
	return -ENOENT;
}

uint64_t proc_sockets_link_inode(const char *link, const char *prefix)
{
	size_t n = strlen(prefix);
	unsigned long long v;
	char *end;

	if (strncmp(link, prefix, n) || link[n] != ':' || link[n + 1] != '[')
		return 0;
	v = strtoull(link + n + 2, &end, 10);
	return end != link + n + 2 && *end == ']' && !end[1] ? v : 0;
}

/* ---- the scan ------------------------------------------------------------------------------- */

/* A socket of a namespace's tables that the table does not know yet: its process is wanted. */
struct found {
	struct proc_sock_line s;
	uint8_t kind; /* enum sock_scan_kind */
	uint32_t netns;
	int32_t owner; /* index in procs, -1: no process holds it (yet) */
};

struct proc {
	uint32_t pid;
	bool info_read, info_ok;
	char comm[16];
	uint64_t cgroup_id;
};

struct scan {
	int proc_fd, cg_fd;
	struct sock_table *t;
	struct proc_sockets_stats *st;
	size_t max_procs, max_fds, max_sockets;
	unsigned int what; /* SOCK_SCAN_* */
	struct found *socks;
	size_t n_socks, cap_socks, n_owned;
	int32_t *slots; /* open addressing over socks by inode */
	size_t n_slots;
	struct proc *procs;
	size_t n_procs, cap_procs;
	uint32_t *netns;
	size_t n_netns, cap_netns;
	uint32_t cur_netns; /* of the tables being read */
};

/* Makes room for one more element in *arr (of *cap elements of size sz). */
static int grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	void **p = arr, *q;
	size_t c = *cap ? *cap * 2 : 256;

	if (n < *cap)
		return 0;
	q = realloc(*p, c * sz);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static FILE *open_at(int dir, const char *path)
{
	int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

static uint64_t read_link_inode(int dir, const char *path, const char *prefix)
{
	char link[64];
	ssize_t n = readlinkat(dir, path, link, sizeof(link) - 1);

	if (n <= 0)
		return 0;
	link[n] = '\0';
	return proc_sockets_link_inode(link, prefix);
}

static uint8_t kind_of(bool udp, const struct proc_sock_line *l)
{
	if (!l->inode || !l->lport)
		return 0;
	if (udp)
		return SOCK_SCAN_UDP;
	switch (l->state) {
	case 0x0a: /* LISTEN */
		return SOCK_SCAN_TCP_LISTEN;
	case 0x01: /* ESTABLISHED */
	case 0x02: /* SYN_SENT */
	case 0x04: /* FIN_WAIT1 */
	case 0x05: /* FIN_WAIT2 */
	case 0x08: /* CLOSE_WAIT */
	case 0x09: /* LAST_ACK */
	case 0x0b: /* CLOSING */
		return l->rport ? SOCK_SCAN_TCP_CONN : 0;
	}
	return 0; /* TIME_WAIT and request sockets have no inode; CLOSE: bound, nothing more */
}

static struct sock_scan_entry entry_of(const struct proc_sock_line *l, uint8_t kind, uint32_t netns)
{
	struct sock_scan_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.family = l->family;
	memcpy(e.laddr, l->laddr, 16);
	memcpy(e.raddr, l->raddr, 16);
	e.lport = l->lport;
	e.rport = l->rport;
	e.netns = netns;
	e.inode = l->inode;
	return e;
}

/* Reads one socket table: sockets the table knows are marked found, the others kept for the
 * fd walk. A table that cannot be opened (no IPv6) has no sockets. */
static int read_table(struct scan *sc, int pid_dir, const char *name, uint8_t family, bool udp)
{
	FILE *f = open_at(pid_dir, name);
	char line[512];
	struct proc_sock_line l;
	int err = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		struct sock_scan_entry e;
		uint8_t kind;

		if (proc_sockets_parse_line(line, family, &l) || !(kind = kind_of(udp, &l)))
			continue;
		if (sc->st->sockets >= sc->max_sockets) {
			sc->st->truncated = true;
			break;
		}
		sc->st->sockets++;
		e = entry_of(&l, kind, sc->cur_netns);
		if (sock_table_scan_known(sc->t, &e)) {
			sc->st->known++;
			continue;
		}
		if ((err = grow(&sc->socks, &sc->cap_socks, sc->n_socks, sizeof(*sc->socks))))
			break;
		sc->socks[sc->n_socks++] =
			(struct found){.s = l, .kind = kind, .netns = sc->cur_netns, .owner = -1};
	}
	fclose(f);
	return err;
}

static void add_addr(void *ctx, const uint8_t addr[16])
{
	struct scan *sc = ctx;

	sock_table_scan_addr(sc->t, sc->cur_netns, 4, addr);
	sc->st->addrs++;
}

static void read_addrs(struct scan *sc, int pid_dir)
{
	FILE *f = open_at(pid_dir, "net/fib_trie");
	char line[256];
	uint8_t a[16];

	if (f) {
		proc_sockets_read_fib_trie(f, FIB_TRIE_MAX_BYTES, add_addr, sc);
		fclose(f);
	}
	f = open_at(pid_dir, "net/if_inet6");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!proc_sockets_parse_if_inet6(line, a)) {
			sock_table_scan_addr(sc->t, sc->cur_netns, 6, a);
			sc->st->addrs++;
		}
	fclose(f);
}

/* The tables of netns, read through a process in it, unless read already. */
static int read_netns(struct scan *sc, int pid_dir, uint32_t netns)
{
	static const struct {
		const char *name;
		uint8_t family;
		bool udp;
	} tables[] = {{"net/tcp", 4, false},
		      {"net/tcp6", 6, false},
		      {"net/udp", 4, true},
		      {"net/udp6", 6, true}};
	size_t i;
	int err;

	for (i = 0; i < sc->n_netns; i++)
		if (sc->netns[i] == netns)
			return 0;
	if (faccessat(pid_dir, "net/udp", R_OK, 0))
		return 0; /* gone: another process of the namespace will do */
	if ((err = grow(&sc->netns, &sc->cap_netns, sc->n_netns, sizeof(*sc->netns))))
		return err;
	sc->netns[sc->n_netns++] = netns;
	sc->st->netns++;
	sc->cur_netns = netns;
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (!(sc->what & (tables[i].udp ? SOCK_SCAN_UDP_TABLES : SOCK_SCAN_TCP)))
			continue;
		if ((err = read_table(sc, pid_dir, tables[i].name, tables[i].family,
				      tables[i].udp)))
			return err;
	}
	read_addrs(sc, pid_dir);
	return 0;
}

/* Pass 1: every process's namespace, whose tables are read the first time it is met. */
static int read_process(struct scan *sc, const char *name)
{
	int pid_dir = openat(sc->proc_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err;
	uint32_t netns;

	if (pid_dir < 0)
		return 0;
	netns = (uint32_t)read_link_inode(pid_dir, "ns/net", "net");
	err = netns ? read_netns(sc, pid_dir, netns) : 0;
	if (!err && netns &&
	    !(err = grow(&sc->procs, &sc->cap_procs, sc->n_procs, sizeof(*sc->procs)))) {
		sc->procs[sc->n_procs++] = (struct proc){.pid = (uint32_t)strtoul(name, NULL, 10)};
		sc->st->procs++;
	}
	close(pid_dir);
	return err;
}

static int walk_processes(struct scan *sc)
{
	int fd = openat(sc->proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (!err && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (sc->n_procs >= sc->max_procs) {
			sc->st->truncated = true;
			break;
		}
		err = read_process(sc, de->d_name);
	}
	closedir(d);
	return err;
}

/* ---- pass 2: who holds the sockets not known yet -------------------------------------------- */

static int index_sockets(struct scan *sc)
{
	size_t i, j;

	sc->n_slots = 64;
	while (sc->n_slots < sc->n_socks * 2)
		sc->n_slots *= 2;
	sc->slots = malloc(sc->n_slots * sizeof(*sc->slots));
	if (!sc->slots)
		return -ENOMEM;
	memset(sc->slots, 0xff, sc->n_slots * sizeof(*sc->slots));
	for (i = 0; i < sc->n_socks; i++) {
		for (j = hash_mix64(sc->socks[i].s.inode) & (sc->n_slots - 1); sc->slots[j] >= 0;
		     j = (j + 1) & (sc->n_slots - 1))
			;
		sc->slots[j] = (int32_t)i;
	}
	return 0;
}

/* The first process to hold an inode owns it: processes are walked by ascending pid, so that is
 * the lowest pid (the parent of forked workers, as the probes' listen() would name). */
static void claim(struct scan *sc, uint64_t inode, uint32_t proc)
{
	size_t j;

	for (j = hash_mix64(inode) & (sc->n_slots - 1); sc->slots[j] >= 0;
	     j = (j + 1) & (sc->n_slots - 1)) {
		struct found *f = &sc->socks[sc->slots[j]];

		if (f->s.inode == inode) {
			if (f->owner < 0) {
				f->owner = (int32_t)proc;
				sc->n_owned++;
			}
			return;
		}
	}
}

static void read_fds(struct scan *sc, uint32_t proc)
{
	char path[32];
	struct dirent *de;
	DIR *d;
	int fd;

	snprintf(path, sizeof(path), "%u/fd", sc->procs[proc].pid);
	fd = openat(sc->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) && sc->n_owned < sc->n_socks) {
		uint64_t ino;

		if (de->d_name[0] == '.')
			continue;
		if (sc->st->fds >= sc->max_fds) {
			sc->st->truncated = true;
			break;
		}
		sc->st->fds++;
		if ((ino = read_link_inode(dirfd(d), de->d_name, "socket")))
			claim(sc, ino, proc);
	}
	closedir(d);
}

static int pid_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Walks fds only while some new socket has no holder yet: a rescan that finds nothing new reads
 * no fd at all. */
static int find_owners(struct scan *sc)
{
	size_t i;
	int err;

	if (!sc->n_socks)
		return 0;
	if ((err = index_sockets(sc)))
		return err;
	qsort(sc->procs, sc->n_procs, sizeof(*sc->procs), pid_cmp);
	for (i = 0; i < sc->n_procs && sc->n_owned < sc->n_socks && !sc->st->truncated; i++)
		read_fds(sc, (uint32_t)i);
	return 0;
}

/* comm and cgroup id of a process that holds a socket, read once. */
static bool proc_info(struct scan *sc, struct proc *p)
{
	char path[64], cg[4096];
	struct stat st;
	FILE *f;

	if (p->info_read)
		return p->info_ok;
	p->info_read = true;
	snprintf(path, sizeof(path), "%u/comm", p->pid);
	f = open_at(sc->proc_fd, path);
	if (!f)
		return false;
	if (!fgets(p->comm, sizeof(p->comm), f))
		p->comm[0] = '\0';
	fclose(f);
	p->comm[strcspn(p->comm, "\n")] = '\0';
	snprintf(path, sizeof(path), "%u/cgroup", p->pid);
	if (sc->cg_fd >= 0 && (f = open_at(sc->proc_fd, path))) {
		/* The cgroup id is the inode of its directory in the cgroup2 hierarchy. */
		if (!proc_sockets_cgroup2_path(f, cg, sizeof(cg)) && cg[0] == '/' &&
		    !fstatat(sc->cg_fd, cg[1] ? cg + 1 : ".", &st, 0))
			p->cgroup_id = st.st_ino;
		fclose(f);
	}
	p->info_ok = true;
	return true;
}

static void feed(struct scan *sc)
{
	struct sock_scan_entry e;
	size_t i;

	for (i = 0; i < sc->n_socks; i++) {
		const struct found *f = &sc->socks[i];
		struct proc *p;

		e = entry_of(&f->s, f->kind, f->netns);
		/* Held by nobody (a kernel socket), or its holder gone: kept without a process,
		 * so that the next scans do not walk every fd for it again. */
		p = f->owner >= 0 ? &sc->procs[f->owner] : NULL;
		if (p && proc_info(sc, p)) {
			e.pid = p->pid;
			memcpy(e.comm, p->comm, sizeof(e.comm));
			e.cgroup_id = p->cgroup_id;
			sc->st->held++;
		} else if (sc->st->truncated) {
			continue; /* its holder may be among what was not read */
		}
		if (sock_table_scan_add(sc->t, &e) == -ENOSPC)
			sc->st->truncated = true;
	}
}

int proc_sockets_scan(struct sock_table *t, const struct proc_sockets_opts *o,
		      struct proc_sockets_stats *st)
{
	struct proc_sockets_stats local;
	struct scan sc = {.t = t, .cg_fd = o->cgroup_root_fd};
	uint64_t t0 = clock_mono_ns();
	int err;

	st = st ? st : &local;
	memset(st, 0, sizeof(*st));
	sc.st = st;
	sc.max_procs = o->max_procs ? o->max_procs : 65536;
	sc.max_fds = o->max_fds ? o->max_fds : 1048576;
	sc.max_sockets = o->max_sockets ? o->max_sockets : 262144;
	sc.what = o->what ? o->what : SOCK_SCAN_ALL;
	sc.proc_fd = open(o->proc ? o->proc : "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc.proc_fd < 0)
		return -errno;
	sock_table_scan_begin(t, o->now_ns ? o->now_ns : clock_boot_ns(),
			      (uint32_t)read_link_inode(sc.proc_fd, "self/ns/net", "net"), sc.what);
	err = walk_processes(&sc);
	err = err ?: find_owners(&sc);
	if (!err)
		feed(&sc);
	st->new_names = sock_table_scan_end(t, !err && !st->truncated);
	free(sc.socks);
	free(sc.slots);
	free(sc.procs);
	free(sc.netns);
	close(sc.proc_fd);
	st->elapsed_ns = clock_mono_ns() - t0;
	return err;
}

int proc_sockets_refresh(struct sock_table *t, struct cgroup_names *cn, bool force,
			 struct proc_sockets_stats *st)
{
	struct proc_sockets_opts o = {.cgroup_root_fd = cn ? cgroup_names_root_fd(cn) : -1};
	struct proc_sockets_stats local;
	int err;

	o.what = force ? SOCK_SCAN_ALL : sock_table_scan_due(t, clock_boot_ns());
	if (!o.what)
		return 0;
	st = st ? st : &local;
	err = proc_sockets_scan(t, &o, st);
	if (err) {
		logmsg(LOG_LEVEL_WARN, "cannot scan /proc for sockets: %s", strerror(-err));
		return err;
	}
	if (force || st->truncated)
		logmsg(st->truncated ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
		       "/proc scan: %llu sockets of %llu processes (%llu fds) in %llu network namespaces, %llu named, in %.1f ms%s",
		       (unsigned long long)st->sockets, (unsigned long long)st->procs,
		       (unsigned long long)st->fds, (unsigned long long)st->netns,
		       (unsigned long long)st->new_names, st->elapsed_ns / 1e6,
		       st->truncated ? " (limit reached: not every socket was read)" : "");
	return 1;
}
