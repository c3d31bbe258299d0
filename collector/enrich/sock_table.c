/* Socket table (see include/flowscope/enrich/sock_table.h): connections in two chained hash
 * indexes over one set of entries, by cookie and by 4-tuple; bound sockets (TCP listeners for
 * accepted connections, whose accept runs in softirq where no process is current, and UDP
 * sockets) hashed by (proto, netns, family, port); local addresses by address. What a scan
 * found carries the scan's generation, so the next complete scan can forget what is gone. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/hash.h"
#include "flowscope/base/strtab.h"
#include "flowscope/enrich/sock_table.h"

#define NBUCKETS 65536 /* power of two */
#define NBOUND 4096    /* power of two */
#define NADDRS 4096    /* power of two */
#define MAX_ADDRS 65536
#define NETNS_AMBIGUOUS UINT32_MAX
#define SCHED_TCP 0
#define SCHED_UDP 1

struct entry {
	struct sock_info info;
	struct entry *next_cookie, *next_tuple;
	bool in_tuple;
	uint64_t gen; /* of the scan that last found it (from_scan only) */
};

struct bound {
	struct sock_info info; /* laddr/lport: where it is bound; raddr unused */
	struct bound *next;
	uint64_t gen;
};

struct addr_ent {
	uint8_t family;
	uint8_t addr[16];
	uint32_t netns; /* NETNS_AMBIGUOUS: several namespaces have it */
	uint64_t gen;
	struct addr_ent *next;
};

struct sock_table {
	struct entry **by_cookie, **by_tuple;
	struct bound **bound;
	struct addr_ent **addrs;
	size_t n, max, n_listeners, n_udp, n_addrs, n_scanned;
	uint64_t full, scans, asks;
	uint32_t home_netns;
	/* The scan under way (scan_begin .. scan_end) and the schedule of the next one. */
	uint64_t gen, scan_now_ns, scan_named;
	unsigned int scan_what;
	/* Per protocol (SCHED_TCP, SCHED_UDP): a rescan of one protocol's tables that finds
	 * nothing new must not delay the other's. */
	struct {
		uint64_t last_ns, wait_ns, asks, named;
	} sched[2];
	size_t n_udp_scanned;
	struct strtab *procs; /* struct flow_process records */
};

static const uint8_t zero16[16];

static bool is_zero(const uint8_t a[16])
{
	return !memcmp(a, zero16, 16);
}

static bool is_v4mapped(const uint8_t a[16])
{
	return !memcmp(a, zero16, 10) && a[10] == 0xff && a[11] == 0xff;
}

static void unmap(uint8_t a[16])
{
	memmove(a, a + 12, 4);
	memset(a + 4, 0, 12);
}

/* An IPv6 socket of an IPv4 connection (a dual-stack listener's) has v4-mapped addresses; the
 * TC probe sees IPv4 packets, so it is kept as the IPv4 socket it is on the wire. */
static void normalize(uint8_t *family, uint8_t la[16], uint8_t ra[16])
{
	if (*family != 6 || !is_v4mapped(la) || !(is_v4mapped(ra) || is_zero(ra)))
		return;
	unmap(la);
	if (!is_zero(ra))
		unmap(ra);
	*family = 4;
}

static bool is_loopback(uint8_t family, const uint8_t a[16])
{
	static const uint8_t lo6[16] = {[15] = 1};

	return family == 4 ? a[0] == 127 : !memcmp(a, lo6, 16);
}

static size_t tuple_hash(uint8_t family, const uint8_t *la, uint16_t lp, const uint8_t *ra,
			 uint16_t rp)
{
	uint64_t a[2], b[2], h;

	memcpy(a, la, 16);
	memcpy(b, ra, 16);
	h = hash_mix64(a[0] ^ hash_mix64(a[1] ^ hash_mix64(b[0] ^ hash_mix64(b[1]))) ^
		       ((uint64_t)lp << 16 | rp) ^ ((uint64_t)family << 40));
	return h & (NBUCKETS - 1);
}

static size_t bound_hash(uint8_t proto, uint32_t netns, uint8_t family, uint16_t port)
{
	return hash_mix64((uint64_t)netns << 32 | (uint64_t)proto << 24 | (uint64_t)family << 16 |
			  port) &
	       (NBOUND - 1);
}

static size_t addr_hash(uint8_t family, const uint8_t a[16])
{
	return (hash_bytes(a, 16) ^ family) & (NADDRS - 1);
}

struct sock_table *sock_table_new(size_t max)
{
	struct sock_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->by_cookie = calloc(NBUCKETS, sizeof(*t->by_cookie));
	t->by_tuple = calloc(NBUCKETS, sizeof(*t->by_tuple));
	t->bound = calloc(NBOUND, sizeof(*t->bound));
	t->addrs = calloc(NADDRS, sizeof(*t->addrs));
	/* As many processes as connections and listeners, and more for those of flows kept. */
	t->procs = strtab_new(2 * max > 1024 ? 2 * max : 1024);
	if (!t->by_cookie || !t->by_tuple || !t->bound || !t->addrs || !t->procs) {
		sock_table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->max = max;
	t->sched[SCHED_TCP].wait_ns = t->sched[SCHED_UDP].wait_ns = SOCK_TABLE_SCAN_MIN_WAIT_NS;
	return t;
}

void sock_table_free(struct sock_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; t->by_cookie && i < NBUCKETS; i++) {
		struct entry *e = t->by_cookie[i], *n;

		for (; e; e = n) {
			n = e->next_cookie;
			free(e);
		}
	}
	for (i = 0; t->bound && i < NBOUND; i++) {
		struct bound *b = t->bound[i], *n;

		for (; b; b = n) {
			n = b->next;
			free(b);
		}
	}
	for (i = 0; t->addrs && i < NADDRS; i++) {
		struct addr_ent *a = t->addrs[i], *n;

		for (; a; a = n) {
			n = a->next;
			free(a);
		}
	}
	free(t->by_cookie);
	free(t->by_tuple);
	free(t->bound);
	free(t->addrs);
	strtab_free(t->procs);
	free(t);
}

/* ---- connections ---------------------------------------------------------------------- */

static struct entry *find_cookie(const struct sock_table *t, uint64_t cookie)
{
	struct entry *e = t->by_cookie[hash_mix64(cookie) & (NBUCKETS - 1)];

	while (e && e->info.cookie != cookie)
		e = e->next_cookie;
	return e;
}

static void cookie_unlink(struct sock_table *t, struct entry *e)
{
	struct entry **pp = &t->by_cookie[hash_mix64(e->info.cookie) & (NBUCKETS - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->next_cookie;
	if (*pp)
		*pp = e->next_cookie;
}

static void tuple_link(struct sock_table *t, struct entry *e)
{
	struct sock_info *i = &e->info;
	size_t h = tuple_hash(i->family, i->laddr, i->lport, i->raddr, i->rport);

	e->next_tuple = t->by_tuple[h];
	t->by_tuple[h] = e;
	e->in_tuple = true;
}

static void tuple_unlink(struct sock_table *t, struct entry *e)
{
	struct sock_info *i = &e->info;
	struct entry **pp;

	if (!e->in_tuple)
		return;
	pp = &t->by_tuple[tuple_hash(i->family, i->laddr, i->lport, i->raddr, i->rport)];
	while (*pp && *pp != e)
		pp = &(*pp)->next_tuple;
	if (*pp)
		*pp = e->next_tuple;
	e->in_tuple = false;
}

static struct entry *new_entry(struct sock_table *t, uint64_t cookie)
{
	struct entry *e;
	size_t h;

	if (t->n >= t->max) {
		t->full++;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->info.cookie = cookie;
	e->info.proto = IPPROTO_TCP;
	h = hash_mix64(cookie) & (NBUCKETS - 1);
	e->next_cookie = t->by_cookie[h];
	t->by_cookie[h] = e;
	t->n++;
	return e;
}

static void drop_entry(struct sock_table *t, struct entry *e)
{
	cookie_unlink(t, e);
	tuple_unlink(t, e);
	if (e->info.from_scan)
		t->n_scanned--;
	t->n--;
	free(e);
}

static bool same_tuple(const struct sock_info *i, uint8_t family, const uint8_t *la, uint16_t lp,
		       const uint8_t *ra, uint16_t rp)
{
	return i->tuple_known && i->family == family && i->lport == lp && i->rport == rp &&
	       !memcmp(i->laddr, la, 16) && !memcmp(i->raddr, ra, 16);
}

static bool netns_compatible(uint32_t a, uint32_t b)
{
	return !a || !b || a == b;
}

/* Another entry of i's tuple and namespace, scanned (or, want_scanned false: told by the
 * probes and still open). */
static struct entry *find_twin(const struct sock_table *t, const struct sock_info *i,
			       bool want_scanned, const struct entry *self)
{
	struct entry *e =
		t->by_tuple[tuple_hash(i->family, i->laddr, i->lport, i->raddr, i->rport)];

	for (; e; e = e->next_tuple)
		if (e != self && e->info.from_scan == want_scanned &&
		    (want_scanned || !e->info.closed_ns) &&
		    netns_compatible(e->info.netns, i->netns) &&
		    same_tuple(&e->info, i->family, i->laddr, i->lport, i->raddr, i->rport))
			return e;
	return NULL;
}

static void copy_task(struct sock_info *to, const struct sock_info *from)
{
	to->has_task = true;
	to->pid = from->pid;
	memcpy(to->comm, from->comm, sizeof(to->comm));
	to->cgroup_id = from->cgroup_id;
}

/* The probes now tell of a socket the scan found: the probe's entry takes over (with the
 * scanned process if it knows none: an accepted connection of an unknown listener, one
 * established before flowd started) and the scanned entry goes. */
static void absorb_scanned(struct sock_table *t, struct entry *e)
{
	struct entry *s;

	while ((s = find_twin(t, &e->info, true, e))) {
		if (!e->info.has_task && s->info.has_task)
			copy_task(&e->info, &s->info);
		if (!e->info.netns)
			e->info.netns = s->info.netns;
		drop_entry(t, s);
	}
}

/* ---- bound sockets: listeners and UDP --------------------------------------------------- */

static struct bound *find_bound(const struct sock_table *t, uint8_t proto, uint32_t netns,
				uint8_t family, const uint8_t addr[16], uint16_t port)
{
	struct bound *b = t->bound[bound_hash(proto, netns, family, port)];

	for (; b; b = b->next)
		if (b->info.proto == proto && b->info.netns == netns && b->info.family == family &&
		    b->info.lport == port && !memcmp(b->info.laddr, addr, 16))
			return b;
	return NULL;
}

/* A bound socket that a process holds: one held by nobody (a kernel socket) takes nothing. */
static struct bound *find_held(const struct sock_table *t, uint8_t proto, uint32_t netns,
			       uint8_t family, const uint8_t addr[16], uint16_t port)
{
	struct bound *b = find_bound(t, proto, netns, family, addr, port);

	return b && b->info.has_task ? b : NULL;
}

static struct bound *new_bound(struct sock_table *t, const struct sock_info *i)
{
	struct bound *b;
	size_t h;

	if (t->n_listeners + t->n_udp >= t->max) {
		t->full++;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->info = *i;
	h = bound_hash(i->proto, i->netns, i->family, i->lport);
	b->next = t->bound[h];
	t->bound[h] = b;
	if (i->proto == IPPROTO_UDP)
		t->n_udp++;
	else
		t->n_listeners++;
	if (i->from_scan) {
		t->n_scanned++;
		t->n_udp_scanned += i->proto == IPPROTO_UDP;
	}
	return b;
}

static void drop_bound(struct sock_table *t, struct bound **pp)
{
	struct bound *b = *pp;

	*pp = b->next;
	if (b->info.proto == IPPROTO_UDP)
		t->n_udp--;
	else
		t->n_listeners--;
	if (b->info.from_scan) {
		t->n_scanned--;
		t->n_udp_scanned -= b->info.proto == IPPROTO_UDP;
	}
	free(b);
}

const struct sock_info *sock_table_find_bound(const struct sock_table *t, uint8_t proto,
					      uint32_t netns, uint8_t family,
					      const uint8_t addr[16], uint16_t port)
{
	const struct bound *b = find_held(t, proto, netns, family, addr, port);

	if (!b)
		b = find_held(t, proto, netns, family, zero16, port);
	if (!b && family == 4)
		b = find_held(t, proto, netns, 6, zero16, port);
	return b ? &b->info : NULL;
}

/* The bound socket of a record's or scan's namespace, family, address and port, as a key. */
static struct sock_info bound_key(uint8_t proto, uint32_t netns, uint8_t family,
				  const uint8_t addr[16], uint16_t port)
{
	struct sock_info k;

	memset(&k, 0, sizeof(k));
	k.proto = proto;
	k.netns = netns;
	k.family = family;
	memcpy(k.laddr, addr, 16);
	normalize(&k.family, k.laddr, k.raddr);
	k.lport = port;
	k.tuple_known = false;
	return k;
}

static void handle_listen(struct sock_table *t, const struct flow_sock_record *r)
{
	struct sock_info k = bound_key(IPPROTO_TCP, r->netns, r->family, r->laddr, r->lport);
	struct bound *b = find_bound(t, k.proto, k.netns, k.family, k.laddr, k.lport);

	if (!b && !(b = new_bound(t, &k)))
		return;
	if (b->info.from_scan) {
		b->info.from_scan = false;
		t->n_scanned--;
	}
	b->info.has_task = r->has_task;
	b->info.pid = r->pid;
	memcpy(b->info.comm, r->comm, sizeof(b->info.comm));
	b->info.comm[15] = '\0';
	b->info.cgroup_id = r->cgroup_id;
	b->info.updated_ns = r->ts_ns;
}

static void handle_unlisten(struct sock_table *t, const struct flow_sock_record *r)
{
	struct sock_info k = bound_key(IPPROTO_TCP, r->netns, r->family, r->laddr, r->lport);
	struct bound **pp = &t->bound[bound_hash(k.proto, k.netns, k.family, k.lport)];

	for (; *pp; pp = &(*pp)->next) {
		const struct sock_info *i = &(*pp)->info;

		if (i->proto == k.proto && i->netns == k.netns && i->family == k.family &&
		    i->lport == k.lport && !memcmp(i->laddr, k.laddr, 16)) {
			drop_bound(t, pp);
			return;
		}
	}
}

/* ---- records ------------------------------------------------------------------------------ */

static void apply_tuple(struct sock_table *t, struct entry *e, uint8_t family, const uint8_t la[16],
			uint16_t lp, const uint8_t ra[16], uint16_t rp)
{
	struct sock_info *i = &e->info;

	if (!lp || !rp ||
	    (i->tuple_known && i->lport == lp && i->family == family && !memcmp(i->laddr, la, 16)))
		return;
	tuple_unlink(t, e);
	i->family = family;
	memcpy(i->laddr, la, 16);
	memcpy(i->raddr, ra, 16);
	i->lport = lp;
	i->rport = rp;
	i->tuple_known = true;
	tuple_link(t, e);
	absorb_scanned(t, e);
}

const struct sock_info *sock_table_handle(struct sock_table *t, const struct flow_sock_record *r)
{
	uint8_t family = r->family, la[16], ra[16];
	struct entry *e;
	struct sock_info *i;

	if (r->family != 4 && r->family != 6)
		return NULL;
	if (r->event == FLOW_SOCK_LISTEN) {
		handle_listen(t, r);
		return NULL;
	}
	if (r->event == FLOW_SOCK_UNLISTEN) {
		handle_unlisten(t, r);
		return NULL;
	}
	e = find_cookie(t, r->cookie);
	if (!e && !(e = new_entry(t, r->cookie)))
		return NULL;
	i = &e->info;
	i->updated_ns = r->ts_ns;
	if (r->netns && !i->netns)
		i->netns = r->netns;
	memcpy(la, r->laddr, 16);
	memcpy(ra, r->raddr, 16);
	normalize(&family, la, ra);
	if (r->has_task && !i->has_task) {
		i->has_task = true;
		i->pid = r->pid;
		memcpy(i->comm, r->comm, sizeof(i->comm));
		i->comm[15] = '\0';
		i->cgroup_id = r->cgroup_id;
	}
	apply_tuple(t, e, family, la, r->lport, ra, r->rport);
	if (r->event == FLOW_SOCK_ACCEPT && !i->has_task) {
		/* The listener of the socket's namespace: bound to its address, else the wildcard
		 * of the socket's own family (an IPv4 connection accepted by a dual-stack IPv6
		 * listener is an IPv6 socket with v4-mapped addresses). */
		const struct bound *l = find_held(t, IPPROTO_TCP, r->netns, family, la, r->lport);

		if (!l)
			l = find_held(t, IPPROTO_TCP, r->netns, r->family, zero16, r->lport);
		if (l)
			copy_task(i, &l->info);
	}
	if (r->srtt_us)
		i->srtt_us = r->srtt_us;
	if (r->total_retrans > i->retrans)
		i->retrans = r->total_retrans;
	if (r->event == FLOW_SOCK_CLOSE)
		i->closed_ns = r->ts_ns;
	return i;
}

const struct sock_info *sock_table_find_ns(const struct sock_table *t, uint32_t netns,
					   uint8_t family, const uint8_t laddr[16], uint16_t lport,
					   const uint8_t raddr[16], uint16_t rport)
{
	struct entry *e = t->by_tuple[tuple_hash(family, laddr, lport, raddr, rport)];
	const struct entry *best = NULL;
	int best_rank = -1;

	for (; e; e = e->next_tuple) {
		const struct sock_info *i = &e->info;
		int rank;

		if (!same_tuple(i, family, laddr, lport, raddr, rport))
			continue;
		/* The namespace asked for, then one not known, then any other. */
		rank = !netns ? 0 : i->netns == netns ? 2 : !i->netns ? 1 : 0;
		/* Port reuse: the newest socket of this tuple. */
		if (rank > best_rank ||
		    (rank == best_rank && i->updated_ns > best->info.updated_ns)) {
			best = e;
			best_rank = rank;
		}
	}
	return best ? &best->info : NULL;
}

const struct sock_info *sock_table_find(const struct sock_table *t, uint8_t family,
					const uint8_t laddr[16], uint16_t lport,
					const uint8_t raddr[16], uint16_t rport)
{
	return sock_table_find_ns(t, 0, family, laddr, lport, raddr, rport);
}

void sock_table_expire(struct sock_table *t, uint64_t now_ns, uint64_t keep_ns)
{
	size_t b;

	for (b = 0; b < NBUCKETS; b++) {
		struct entry *e = t->by_cookie[b], *n;

		for (; e; e = n) {
			n = e->next_cookie;
			if (e->info.closed_ns && now_ns > e->info.closed_ns &&
			    now_ns - e->info.closed_ns > keep_ns)
				drop_entry(t, e);
		}
	}
}

void sock_table_get_stats(const struct sock_table *t, struct sock_table_stats *st)
{
	struct strtab_stats procs;

	strtab_get_stats(t->procs, &procs);
	st->sockets = t->n;
	st->listeners = t->n_listeners;
	st->udp = t->n_udp;
	st->scanned = t->n_scanned;
	st->full = t->full;
	st->scans = t->scans;
	st->asks = t->asks;
	st->processes = procs.strings;
	st->processes_full = procs.full;
}

const struct flow_process *sock_table_process(struct sock_table *t, const struct flow_process *p)
{
	return strtab_intern_bytes(t->procs, p, sizeof(*p));
}

void sock_table_set_holders(struct sock_table *t, void (*mark)(void *ctx), void *ctx)
{
	strtab_set_holders(t->procs, mark, ctx);
}

void sock_table_mark_process(struct sock_table *t, const struct flow_process *p)
{
	if (p)
		strtab_mark_bytes(t->procs, p, sizeof(*p));
}

/* ---- local addresses ------------------------------------------------------------------------ */

static struct addr_ent *find_addr(const struct sock_table *t, uint8_t family, const uint8_t a[16])
{
	struct addr_ent *e = t->addrs[addr_hash(family, a)];

	while (e && (e->family != family || memcmp(e->addr, a, 16)))
		e = e->next;
	return e;
}

uint32_t sock_table_netns_of(const struct sock_table *t, uint8_t family, const uint8_t addr[16])
{
	const struct addr_ent *e;

	if (is_loopback(family, addr))
		return t->home_netns;
	e = find_addr(t, family, addr);
	return e && e->netns != NETNS_AMBIGUOUS ? e->netns : 0;
}

uint32_t sock_table_home_netns(const struct sock_table *t)
{
	return t->home_netns;
}

void sock_table_scan_addr(struct sock_table *t, uint32_t netns, uint8_t family,
			  const uint8_t addr[16])
{
	uint8_t a[16], ra[16] = {0};
	struct addr_ent *e;
	size_t h;

	memcpy(a, addr, 16);
	normalize(&family, a, ra);
	if (!netns || is_zero(a) || is_loopback(family, a))
		return;
	e = find_addr(t, family, a);
	if (e) {
		/* Seen again in this scan under another namespace: nobody can tell which. */
		if (e->gen == t->gen && e->netns != netns)
			e->netns = NETNS_AMBIGUOUS;
		else if (e->gen != t->gen)
			e->netns = netns;
		e->gen = t->gen;
		return;
	}
	if (t->n_addrs >= MAX_ADDRS || !(e = calloc(1, sizeof(*e))))
		return;
	e->family = family;
	memcpy(e->addr, a, 16);
	e->netns = netns;
	e->gen = t->gen;
	h = addr_hash(family, a);
	e->next = t->addrs[h];
	t->addrs[h] = e;
	t->n_addrs++;
}

/* ---- scans -------------------------------------------------------------------------------- */

void sock_table_scan_begin(struct sock_table *t, uint64_t now_ns, uint32_t home_netns,
			   unsigned int what)
{
	t->gen++;
	t->scan_what = what;
	t->scan_now_ns = now_ns;
	t->scan_named = 0;
	t->sched[SCHED_TCP].named = t->sched[SCHED_UDP].named = 0;
	if (home_netns)
		t->home_netns = home_netns;
}

static void fill_scanned(struct sock_info *i, const struct sock_scan_entry *s, uint64_t now_ns)
{
	i->from_scan = true;
	i->netns = s->netns;
	i->has_task = s->pid != 0;
	i->pid = s->pid;
	memcpy(i->comm, s->comm, sizeof(i->comm));
	i->comm[15] = '\0';
	i->cgroup_id = s->cgroup_id;
	i->inode = s->inode;
	i->updated_ns = now_ns;
}

static void conn_key(struct sock_info *k, const struct sock_scan_entry *s)
{
	memset(k, 0, sizeof(*k));
	k->family = s->family;
	memcpy(k->laddr, s->laddr, 16);
	memcpy(k->raddr, s->raddr, 16);
	normalize(&k->family, k->laddr, k->raddr);
	k->lport = s->lport;
	k->rport = s->rport;
	k->netns = s->netns;
	k->tuple_known = true;
}

/* The process holding a socket found before (its first holder may have exited). */
static void set_scanned_task(struct sock_info *i, const struct sock_scan_entry *s)
{
	i->has_task = s->pid != 0;
	i->inode = s->inode;
	i->pid = s->pid;
	memcpy(i->comm, s->comm, sizeof(i->comm));
	i->comm[15] = '\0';
	i->cgroup_id = s->cgroup_id;
}

static int scan_add_bound(struct sock_table *t, const struct sock_scan_entry *s, uint8_t proto)
{
	struct sock_info k = bound_key(proto, s->netns, s->family, s->laddr, s->lport);
	struct bound *b = find_bound(t, proto, k.netns, k.family, k.laddr, k.lport);

	if (b) {
		bool had = b->info.has_task;

		/* Told by the probes: kept (fresher). Found before: now held by this process. */
		b->gen = t->gen;
		if (!b->info.from_scan)
			return 0;
		set_scanned_task(&b->info, s);
		return !had && b->info.has_task;
	}
	fill_scanned(&k, s, t->scan_now_ns);
	b = new_bound(t, &k);
	if (!b)
		return -ENOSPC;
	b->gen = t->gen;
	return k.has_task;
}

static int scan_add_conn(struct sock_table *t, const struct sock_scan_entry *s)
{
	struct sock_info k;
	struct entry *e = find_cookie(t, SOCK_SCAN_COOKIE | s->inode), *p;

	if (e) {
		e->gen = t->gen;
		set_scanned_task(&e->info, s);
		return 0;
	}
	conn_key(&k, s);
	p = find_twin(t, &k, false, NULL);
	if (p) {
		/* The probes know this connection: only a missing process is filled in. */
		if (!p->info.netns)
			p->info.netns = s->netns;
		if (p->info.has_task)
			return 0;
		fill_scanned(&k, s, t->scan_now_ns);
		copy_task(&p->info, &k);
		return 1;
	}
	e = new_entry(t, SOCK_SCAN_COOKIE | s->inode);
	if (!e)
		return -ENOSPC;
	memcpy(e->info.laddr, k.laddr, 16);
	memcpy(e->info.raddr, k.raddr, 16);
	e->info.family = k.family;
	e->info.lport = k.lport;
	e->info.rport = k.rport;
	e->info.tuple_known = true;
	fill_scanned(&e->info, s, t->scan_now_ns);
	e->gen = t->gen;
	t->n_scanned++;
	tuple_link(t, e);
	return 1;
}

int sock_table_scan_add(struct sock_table *t, const struct sock_scan_entry *s)
{
	int r;

	if ((s->family != 4 && s->family != 6) || !s->netns || !s->lport ||
	    (!s->pid && s->kind == SOCK_SCAN_TCP_CONN))
		return 0;
	switch (s->kind) {
	case SOCK_SCAN_TCP_LISTEN:
		r = scan_add_bound(t, s, IPPROTO_TCP);
		break;
	case SOCK_SCAN_UDP:
		r = scan_add_bound(t, s, IPPROTO_UDP);
		break;
	case SOCK_SCAN_TCP_CONN:
		r = s->rport ? scan_add_conn(t, s) : 0;
		break;
	default:
		return 0;
	}
	/* A bound or connected address is the namespace's own. */
	if (r >= 0)
		sock_table_scan_addr(t, s->netns, s->family, s->laddr);
	if (r > 0) {
		t->scan_named++;
		t->sched[s->kind == SOCK_SCAN_UDP ? SCHED_UDP : SCHED_TCP].named++;
	}
	return r;
}

bool sock_table_scan_known(struct sock_table *t, const struct sock_scan_entry *s)
{
	struct sock_info k;
	struct bound *b;
	struct entry *e;

	if ((s->family != 4 && s->family != 6) || !s->netns || !s->lport)
		return false;
	if (s->kind == SOCK_SCAN_TCP_LISTEN || s->kind == SOCK_SCAN_UDP) {
		k = bound_key(s->kind == SOCK_SCAN_UDP ? IPPROTO_UDP : IPPROTO_TCP, s->netns,
			      s->family, s->laddr, s->lport);
		b = find_bound(t, k.proto, k.netns, k.family, k.laddr, k.lport);
		if (!b || (b->info.from_scan ? b->info.inode != s->inode : !b->info.has_task))
			return false;
		b->gen = t->gen;
	} else if (s->kind == SOCK_SCAN_TCP_CONN && s->rport) {
		e = find_cookie(t, SOCK_SCAN_COOKIE | s->inode);
		if (!e) {
			conn_key(&k, s);
			e = find_twin(t, &k, false, NULL);
			if (!e || !e->info.has_task)
				return false;
		}
		e->gen = t->gen;
	} else {
		return false;
	}
	sock_table_scan_addr(t, s->netns, s->family, s->laddr);
	return true;
}

/* Forgets what earlier scans found and this one, which read the same tables, did not. */
static void scan_forget(struct sock_table *t)
{
	bool tcp = t->scan_what & SOCK_SCAN_TCP, udp = t->scan_what & SOCK_SCAN_UDP_TABLES;
	size_t b;

	for (b = 0; tcp && b < NBUCKETS; b++) {
		struct entry *e = t->by_cookie[b], *n;

		for (; e; e = n) {
			n = e->next_cookie;
			if (e->info.from_scan && e->gen != t->gen)
				drop_entry(t, e);
		}
	}
	for (b = 0; b < NBOUND; b++) {
		struct bound **pp = &t->bound[b];

		while (*pp) {
			const struct bound *x = *pp;
			bool read = x->info.proto == IPPROTO_UDP ? udp : tcp;

			if (x->info.from_scan && x->gen != t->gen && read)
				drop_bound(t, pp);
			else
				pp = &(*pp)->next;
		}
	}
	for (b = 0; b < NADDRS; b++) {
		struct addr_ent **pp = &t->addrs[b];

		while (*pp) {
			struct addr_ent *a = *pp;

			if (a->gen != t->gen) {
				*pp = a->next;
				free(a);
				t->n_addrs--;
			} else {
				pp = &a->next;
			}
		}
	}
}

uint64_t sock_table_scan_end(struct sock_table *t, bool complete)
{
	int p;

	if (complete)
		scan_forget(t);
	t->scans++;
	for (p = SCHED_TCP; p <= SCHED_UDP; p++) {
		if (!(t->scan_what & (p == SCHED_UDP ? SOCK_SCAN_UDP_TABLES : SOCK_SCAN_TCP)))
			continue;
		t->sched[p].last_ns = t->scan_now_ns;
		/* Backing off is for scans asked for in vain; the first scan and refreshes
		 * were not asked for. */
		if (t->sched[p].named)
			t->sched[p].wait_ns = SOCK_TABLE_SCAN_MIN_WAIT_NS;
		else if (t->sched[p].asks &&
			 (t->sched[p].wait_ns *= 2) > SOCK_TABLE_SCAN_MAX_WAIT_NS)
			t->sched[p].wait_ns = SOCK_TABLE_SCAN_MAX_WAIT_NS;
		t->sched[p].asks = 0;
	}
	return t->scan_named;
}

void sock_table_ask_scan(struct sock_table *t, uint8_t proto)
{
	t->asks++;
	t->sched[proto == IPPROTO_UDP ? SCHED_UDP : SCHED_TCP].asks++;
}

/* Whether protocol p's tables are due at now: asked for and waited long enough, or (UDP, whose
 * sockets have no close record) what scans found wants a refresh. */
static bool sched_due(const struct sock_table *t, int p, uint64_t now_ns)
{
	uint64_t since;

	if (now_ns < t->sched[p].last_ns)
		return false;
	since = now_ns - t->sched[p].last_ns;
	return (t->sched[p].asks && since >= t->sched[p].wait_ns) ||
	       (p == SCHED_UDP && t->n_udp_scanned && since >= SOCK_TABLE_SCAN_MAX_WAIT_NS);
}

unsigned int sock_table_scan_due(const struct sock_table *t, uint64_t now_ns)
{
	if (!t->scans)
		return SOCK_SCAN_ALL;
	return (sched_due(t, SCHED_TCP, now_ns) ? SOCK_SCAN_TCP : 0) |
	       (sched_due(t, SCHED_UDP, now_ns) ? SOCK_SCAN_UDP_TABLES : 0);
}
