/* Address -> name cache with interned names, bounded per client (see
 * include/flowscope/enrich/dns_cache.h). Each address is on two pairs of lists, its client's and
 * the cache's: "unused" (no flow looked it up yet; in the order learned) and "used" (in the order
 * last looked up). Making room takes the head of unused, else the head of used. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/dns_cache.h"
#include "flowscope/base/hash.h"
#include "flowscope/base/list.h"
#include "flowscope/base/strtab.h"

struct lru {
	struct list_node unused, used;
};

struct dns_client {
	struct dns_client *next;
	uint8_t family;
	uint8_t addr[16];
	size_t n;
	struct lru lru;
};

struct addr_entry {
	struct addr_entry *next;
	const char *name; /* interned, held while the entry is */
	struct dns_client *client;
	uint64_t expires_ns;
	struct list_node all, mine; /* on the cache's lists, on its client's */
	bool used;
	uint8_t family;
	uint8_t addr[16];
};

struct dns_cache {
	struct dns_cache_limits lim;
	struct addr_entry **addrs;
	struct strtab *names;
	struct dns_client **clients;
	size_t addr_mask, client_mask;
	struct lru lru;
	size_t n_addrs, n_clients;
	uint64_t evicted;
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 64;

	while (p < n && p < ((size_t)1 << 24))
		p <<= 1;
	return p;
}

static void lru_init(struct lru *l)
{
	list_init(&l->unused);
	list_init(&l->used);
}

struct dns_cache *dns_cache_new(const struct dns_cache_limits *l)
{
	struct dns_cache *c;

	if (!l->max_addrs || !l->max_addrs_per_client || !l->max_names) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->lim = *l;
	if (c->lim.max_addrs_per_client > c->lim.max_addrs)
		c->lim.max_addrs_per_client = c->lim.max_addrs;
	c->addr_mask = pow2_at_least(l->max_addrs / 2) - 1;
	c->client_mask = pow2_at_least(l->max_addrs / l->max_addrs_per_client * 4) - 1;
	c->addrs = calloc(c->addr_mask + 1, sizeof(*c->addrs));
	c->names = strtab_new(l->max_names);
	c->clients = calloc(c->client_mask + 1, sizeof(*c->clients));
	if (!c->addrs || !c->names || !c->clients) {
		dns_cache_free(c);
		errno = ENOMEM;
		return NULL;
	}
	lru_init(&c->lru);
	return c;
}

void dns_cache_free(struct dns_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; c->addrs && i <= c->addr_mask; i++)
		while (c->addrs[i]) {
			struct addr_entry *e = c->addrs[i];

			c->addrs[i] = e->next;
			free(e);
		}
	for (i = 0; c->clients && i <= c->client_mask; i++)
		while (c->clients[i]) {
			struct dns_client *e = c->clients[i];

			c->clients[i] = e->next;
			free(e);
		}
	free(c->addrs);
	strtab_free(c->names);
	free(c->clients);
	free(c);
}

void dns_cache_set_holders(struct dns_cache *c, void (*mark)(void *ctx), void *ctx)
{
	strtab_set_holders(c->names, mark, ctx);
}

void dns_cache_mark(struct dns_cache *c, const char *name)
{
	strtab_mark(c->names, name);
}

const char *dns_cache_intern(struct dns_cache *c, const char *name)
{
	return strtab_intern(c->names, name);
}

/* ---- clients ---------------------------------------------------------------------------- */

static size_t client_bucket(const struct dns_cache *c, uint8_t family, const uint8_t addr[16])
{
	return (hash_bytes(addr, 16) ^ family) & c->client_mask;
}

static struct dns_client *client_get(struct dns_cache *c, uint8_t family, const uint8_t addr[16])
{
	size_t b = client_bucket(c, family, addr);
	struct dns_client *cl;

	for (cl = c->clients[b]; cl; cl = cl->next)
		if (cl->family == family && !memcmp(cl->addr, addr, 16))
			return cl;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	cl->family = family;
	memcpy(cl->addr, addr, 16);
	lru_init(&cl->lru);
	cl->next = c->clients[b];
	c->clients[b] = cl;
	c->n_clients++;
	return cl;
}

static void client_put(struct dns_cache *c, struct dns_client *cl)
{
	struct dns_client **pp;

	if (--cl->n)
		return;
	for (pp = &c->clients[client_bucket(c, cl->family, cl->addr)]; *pp; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			free(cl);
			c->n_clients--;
			return;
		}
}

/* ---- addresses -------------------------------------------------------------------------- */

static size_t addr_bucket(const struct dns_cache *c, uint8_t family, const uint8_t addr[16])
{
	return (hash_bytes(addr, 16) ^ family) & c->addr_mask;
}

/* Puts e at the tail of the lists its use says, on its client's and the cache's. */
static void lru_place(struct dns_cache *c, struct addr_entry *e)
{
	list_del(&e->all);
	list_del(&e->mine);
	list_add_tail(e->used ? &c->lru.used : &c->lru.unused, &e->all);
	list_add_tail(e->used ? &e->client->lru.used : &e->client->lru.unused, &e->mine);
}

static void addr_remove(struct dns_cache *c, struct addr_entry *e)
{
	struct addr_entry **pp;

	for (pp = &c->addrs[addr_bucket(c, e->family, e->addr)]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	list_del(&e->all);
	list_del(&e->mine);
	strtab_release(e->name);
	client_put(c, e->client);
	free(e);
	c->n_addrs--;
}

/* The address to forget from lists l (offset: where the node sits in an entry). */
static struct addr_entry *victim(struct lru *l, size_t offset)
{
	struct list_node *n = !list_empty(&l->unused) ? l->unused.next
			      : !list_empty(&l->used) ? l->used.next
						      : NULL;

	return n ? (struct addr_entry *)((char *)n - offset) : NULL;
}

static void set_name(struct addr_entry *e, const char *name)
{
	strtab_hold(name);
	if (e->name)
		strtab_release(e->name);
	e->name = name;
}

void dns_cache_add(struct dns_cache *c, uint8_t family, const uint8_t addr[16], const char *name,
		   uint64_t expires_ns, uint8_t client_family, const uint8_t client_addr[16])
{
	size_t b = addr_bucket(c, family, addr);
	struct dns_client *cl;
	struct addr_entry *e, *old;

	if (!name)
		return;
	cl = client_get(c, client_family, client_addr);
	if (!cl)
		return;
	cl->n++; /* held while room is made: it is not freed under us */
	for (e = c->addrs[b]; e; e = e->next)
		if (e->family == family && !memcmp(e->addr, addr, 16))
			break;
	if (e) {
		/* The newest answer wins: it is what the next connection will use. */
		set_name(e, name);
		e->expires_ns = expires_ns;
		client_put(c, e->client);
		e->client = cl;
		lru_place(c, e);
		return;
	}
	old = cl->n > c->lim.max_addrs_per_client
		      ? victim(&cl->lru, offsetof(struct addr_entry, mine))
	      : c->n_addrs >= c->lim.max_addrs ? victim(&c->lru, offsetof(struct addr_entry, all))
					       : NULL;
	if (old) {
		addr_remove(c, old);
		c->evicted++;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		client_put(c, cl);
		return;
	}
	e->family = family;
	memcpy(e->addr, addr, 16);
	set_name(e, name);
	e->expires_ns = expires_ns;
	e->client = cl;
	list_init(&e->all);
	list_init(&e->mine);
	lru_place(c, e);
	e->next = c->addrs[b];
	c->addrs[b] = e;
	c->n_addrs++;
}

const char *dns_cache_lookup(struct dns_cache *c, uint8_t family, const uint8_t addr[16],
			     uint64_t now_ns)
{
	struct addr_entry *e;

	for (e = c->addrs[addr_bucket(c, family, addr)]; e; e = e->next)
		if (e->family == family && !memcmp(e->addr, addr, 16)) {
			if (e->expires_ns < now_ns)
				return NULL;
			e->used = true;
			lru_place(c, e);
			return e->name;
		}
	return NULL;
}

void dns_cache_expire(struct dns_cache *c, uint64_t now_ns)
{
	size_t i;

	for (i = 0; i <= c->addr_mask; i++) {
		struct addr_entry *e = c->addrs[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (e->expires_ns < now_ns)
				addr_remove(c, e);
		}
	}
}

void dns_cache_get_stats(const struct dns_cache *c, struct dns_cache_stats *st)
{
	struct strtab_stats names;

	strtab_get_stats(c->names, &names);
	st->addrs = c->n_addrs;
	st->names = names.strings;
	st->clients = c->n_clients;
	st->evicted = c->evicted;
	st->names_freed = names.freed;
	st->full = names.full;
}
