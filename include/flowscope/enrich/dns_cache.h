/* Names for addresses, learned from DNS answers seen on the wire: address -> the name that was
 * asked for, until the answer's TTL (plus a grace period) runs out. Names are interned: the
 * pointers handed out stay valid for the life of the cache, so flows can keep them. */
#ifndef FLOWSCOPE_ENRICH_DNS_CACHE_H
#define FLOWSCOPE_ENRICH_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct dns_cache;

struct dns_cache_stats {
	uint64_t addrs; /* addresses with a name now */
	uint64_t names; /* distinct names interned */
	uint64_t full;	/* answers not kept because a limit was reached */
};

/* At most max_addrs addresses and max_names distinct names. NULL with errno on failure. */
struct dns_cache *dns_cache_new(size_t max_addrs, size_t max_names);
void dns_cache_free(struct dns_cache *c);

/* The interned copy of name (NULL when the name limit is reached). */
const char *dns_cache_intern(struct dns_cache *c, const char *name);

/* Remembers that family/addr is called name until expires_ns (boot ns). */
void dns_cache_add(struct dns_cache *c, uint8_t family, const uint8_t addr[16], const char *name,
		   uint64_t expires_ns);

/* The name of family/addr, or NULL if none is known (or it expired before now_ns). */
const char *dns_cache_lookup(const struct dns_cache *c, uint8_t family, const uint8_t addr[16],
			     uint64_t now_ns);

/* Forgets expired addresses. */
void dns_cache_expire(struct dns_cache *c, uint64_t now_ns);

void dns_cache_get_stats(const struct dns_cache *c, struct dns_cache_stats *st);

#endif /* FLOWSCOPE_ENRICH_DNS_CACHE_H */
