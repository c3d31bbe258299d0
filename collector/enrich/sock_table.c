/* Socket table (see include/flowscope/enrich/sock_table.h): two chained hash indexes over one set
 * of entries, by cookie and by 4-tuple, plus listeners by (family, port) for accepted sockets,
 * whose accept runs in softirq where no process is current. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/hash.h"
#include "flowscope/enrich/sock_table.h"

#define NBUCKETS 65536 /* power of two */

struct entry {
	struct sock_info info;
	struct entry *next_cookie, *next_tuple;
	bool in_tuple;
};

struct listener {
	uint8_t family;
	uint16_t port;
	uint32_t pid;
	char comm[16];
	uint64_t cgroup_id;
	struct listener *next;
};

struct sock_table {
	struct entry **by_cookie, **by_tuple;
	struct listener *listeners;
	size_t n, max, n_listeners;
	uint64_t full;
};

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

struct sock_table *sock_table_new(size_t max)
{
	struct sock_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->by_cookie = calloc(NBUCKETS, sizeof(*t->by_cookie));
	t->by_tuple = calloc(NBUCKETS, sizeof(*t->by_tuple));
	if (!t->by_cookie || !t->by_tuple) {
		sock_table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->max = max;
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
	while (t->listeners) {
		struct listener *l = t->listeners;

		t->listeners = l->next;
		free(l);
	}
	free(t->by_cookie);
	free(t->by_tuple);
	free(t);
}

static struct entry *find_cookie(const struct sock_table *t, uint64_t cookie)
{
	struct entry *e = t->by_cookie[hash_mix64(cookie) & (NBUCKETS - 1)];

	while (e && e->info.cookie != cookie)
		e = e->next_cookie;
	return e;
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

static struct listener *find_listener(const struct sock_table *t, uint8_t family, uint16_t port)
{
	struct listener *l;

	for (l = t->listeners; l; l = l->next)
		if (l->port == port && l->family == family)
			return l;
	return NULL;
}

const struct sock_info *sock_table_handle(struct sock_table *t, const struct flow_sock_record *r)
{
	struct entry *e;
	struct sock_info *i;

	if (r->family != 4 && r->family != 6)
		return NULL;
	if (r->event == FLOW_SOCK_LISTEN) {
		struct listener *l = find_listener(t, r->family, r->lport);

		if (!l) {
			l = calloc(1, sizeof(*l));
			if (!l)
				return NULL;
			l->family = r->family;
			l->port = r->lport;
			l->next = t->listeners;
			t->listeners = l;
			t->n_listeners++;
		}
		l->pid = r->pid;
		memcpy(l->comm, r->comm, sizeof(l->comm));
		l->comm[15] = '\0';
		l->cgroup_id = r->cgroup_id;
		return NULL;
	}
	if (r->event == FLOW_SOCK_UNLISTEN) {
		struct listener **pp = &t->listeners;

		while (*pp) {
			struct listener *l = *pp;

			if (l->family == r->family && l->port == r->lport) {
				*pp = l->next;
				free(l);
				t->n_listeners--;
				break;
			}
			pp = &l->next;
		}
		return NULL;
	}
	e = find_cookie(t, r->cookie);
	if (!e) {
		size_t h;

		if (t->n >= t->max) {
			t->full++;
			return NULL;
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		e->info.cookie = r->cookie;
		h = hash_mix64(r->cookie) & (NBUCKETS - 1);
		e->next_cookie = t->by_cookie[h];
		t->by_cookie[h] = e;
		t->n++;
	}
	i = &e->info;
	i->updated_ns = r->ts_ns;
	if (r->lport && r->rport &&
	    (!i->tuple_known || i->lport != r->lport || memcmp(i->laddr, r->laddr, 16))) {
		tuple_unlink(t, e);
		i->family = r->family;
		memcpy(i->laddr, r->laddr, 16);
		memcpy(i->raddr, r->raddr, 16);
		i->lport = r->lport;
		i->rport = r->rport;
		i->tuple_known = true;
		tuple_link(t, e);
	}
	if (r->has_task && !i->has_task) {
		i->has_task = true;
		i->pid = r->pid;
		memcpy(i->comm, r->comm, sizeof(i->comm));
		i->comm[15] = '\0';
		i->cgroup_id = r->cgroup_id;
	}
	if (r->event == FLOW_SOCK_ACCEPT && !i->has_task) {
		struct listener *l = find_listener(t, r->family, r->lport);

		if (l) {
			i->has_task = true;
			i->pid = l->pid;
			memcpy(i->comm, l->comm, sizeof(i->comm));
			i->cgroup_id = l->cgroup_id;
		}
	}
	if (r->srtt_us)
		i->srtt_us = r->srtt_us;
	if (r->total_retrans > i->retrans)
		i->retrans = r->total_retrans;
	if (r->event == FLOW_SOCK_CLOSE)
		i->closed_ns = r->ts_ns;
	return i;
}

const struct sock_info *sock_table_find(const struct sock_table *t, uint8_t family,
					const uint8_t laddr[16], uint16_t lport,
					const uint8_t raddr[16], uint16_t rport)
{
	struct entry *e = t->by_tuple[tuple_hash(family, laddr, lport, raddr, rport)];
	const struct entry *best = NULL;

	for (; e; e = e->next_tuple) {
		const struct sock_info *i = &e->info;

		if (i->family != family || i->lport != lport || i->rport != rport ||
		    memcmp(i->laddr, laddr, 16) || memcmp(i->raddr, raddr, 16))
			continue;
		/* Port reuse: the newest socket of this tuple. */
		if (!best || i->updated_ns > best->info.updated_ns)
			best = e;
	}
	return best ? &best->info : NULL;
}

void sock_table_expire(struct sock_table *t, uint64_t now_ns, uint64_t keep_ns)
{
	size_t b;

	for (b = 0; b < NBUCKETS; b++) {
		struct entry **pp = &t->by_cookie[b];

		while (*pp) {
			struct entry *e = *pp;

			if (e->info.closed_ns && now_ns > e->info.closed_ns &&
			    now_ns - e->info.closed_ns > keep_ns) {
				*pp = e->next_cookie;
				tuple_unlink(t, e);
				free(e);
				t->n--;
				continue;
			}
			pp = &e->next_cookie;
		}
	}
}

void sock_table_get_stats(const struct sock_table *t, struct sock_table_stats *st)
{
	st->sockets = t->n;
	st->listeners = t->n_listeners;
	st->full = t->full;
}
