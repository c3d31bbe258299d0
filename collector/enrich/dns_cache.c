/* Address -> name cache with interned names (see include/flowscope/enrich/dns_cache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/dns_cache.h"
#include "flowscope/base/hash.h"

#define ADDR_BUCKETS 16384
#define NAME_BUCKETS 16384

struct addr_entry {
	uint8_t family;
	uint8_t addr[16];
	const char *name;
	uint64_t expires_ns;
	struct addr_entry *next;
};

struct name_entry {
	struct name_entry *next;
	char name[];
};

struct dns_cache {
	struct addr_entry *addrs[ADDR_BUCKETS];
	struct name_entry *names[NAME_BUCKETS];
	size_t n_addrs, n_names, max_addrs, max_names;
	uint64_t full;
};

struct dns_cache *dns_cache_new(size_t max_addrs, size_t max_names)
{
	struct dns_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_addrs = max_addrs;
	c->max_names = max_names;
	return c;
}

void dns_cache_free(struct dns_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < ADDR_BUCKETS; i++)
		while (c->addrs[i]) {
			struct addr_entry *e = c->addrs[i];

			c->addrs[i] = e->next;
			free(e);
		}
	for (i = 0; i < NAME_BUCKETS; i++)
		while (c->names[i]) {
			struct name_entry *e = c->names[i];

			c->names[i] = e->next;
			free(e);
		}
	free(c);
}

const char *dns_cache_intern(struct dns_cache *c, const char *name)
{
	size_t len = strlen(name), b = hash_bytes(name, len) % NAME_BUCKETS;
	struct name_entry *e;

	for (e = c->names[b]; e; e = e->next)
		if (!strcmp(e->name, name))
			return e->name;
	if (c->n_names >= c->max_names) {
		c->full++;
		return NULL;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->name, name, len + 1);
	e->next = c->names[b];
	c->names[b] = e;
	c->n_names++;
	return e->name;
}

static size_t addr_bucket(uint8_t family, const uint8_t addr[16])
{
	return (hash_bytes(addr, 16) ^ family) % ADDR_BUCKETS;
}

void dns_cache_add(struct dns_cache *c, uint8_t family, const uint8_t addr[16], const char *name,
		   uint64_t expires_ns)
{
	size_t b = addr_bucket(family, addr);
	struct addr_entry *e;

	if (!name)
		return;
	for (e = c->addrs[b]; e; e = e->next)
		if (e->family == family && !memcmp(e->addr, addr, 16)) {
			/* The newest answer wins: it is what the next connection will use. */
			e->name = name;
			e->expires_ns = expires_ns;
			return;
		}
	if (c->n_addrs >= c->max_addrs) {
		c->full++;
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->family = family;
	memcpy(e->addr, addr, 16);
	e->name = name;
	e->expires_ns = expires_ns;
	e->next = c->addrs[b];
	c->addrs[b] = e;
	c->n_addrs++;
}

const char *dns_cache_lookup(const struct dns_cache *c, uint8_t family, const uint8_t addr[16],
			     uint64_t now_ns)
{
	const struct addr_entry *e;

	for (e = c->addrs[addr_bucket(family, addr)]; e; e = e->next)
		if (e->family == family && !memcmp(e->addr, addr, 16))
			return e->expires_ns >= now_ns ? e->name : NULL;
	return NULL;
}

void dns_cache_expire(struct dns_cache *c, uint64_t now_ns)
{
	size_t i;

	for (i = 0; i < ADDR_BUCKETS; i++) {
		struct addr_entry **pp = &c->addrs[i];

		while (*pp) {
			struct addr_entry *e = *pp;

			if (e->expires_ns < now_ns) {
				*pp = e->next;
				free(e);
				c->n_addrs--;
				continue;
			}
			pp = &e->next;
		}
	}
}

void dns_cache_get_stats(const struct dns_cache *c, struct dns_cache_stats *st)
{
	st->addrs = c->n_addrs;
	st->names = c->n_names;
	st->full = c->full;
}
