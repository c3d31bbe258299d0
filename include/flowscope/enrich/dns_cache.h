/* Names for addresses, learned from DNS answers seen on the wire: address -> the name that was
 * asked for, until the answer's TTL (plus a grace period) runs out. Bounded in all and per
 * client (the address that asked), so that one client's answers cannot push out another's, and
 * within a bound the addresses flows were seen to use are kept over those no flow used.
 *
 * Names are interned: flows keep the pointers handed out. A name stays while an address is
 * called by it or a holder (the store, the event log: whoever keeps flows) marks it when the
 * table is full and asks for room; the others are freed then (dns_cache_set_holders). */
#ifndef FLOWSCOPE_ENRICH_DNS_CACHE_H
#define FLOWSCOPE_ENRICH_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct dns_cache;

struct dns_cache_limits {
	size_t max_addrs;	     /* addresses with a name, in all */
	size_t max_addrs_per_client; /* of which learned from one client's answers */
	size_t max_names;	     /* distinct names interned */
};

struct dns_cache_stats {
	uint64_t addrs;	      /* addresses with a name now */
	uint64_t names;	      /* distinct names interned now */
	uint64_t clients;     /* clients whose answers name addresses now */
	uint64_t evicted;     /* addresses forgotten before their TTL to make room */
	uint64_t names_freed; /* names freed when the table was full (nothing held them) */
	uint64_t full;	      /* names not interned: the table was full of names in use */
};

/* Default limits: 262,144 addresses, 16,384 of them per client, 262,144 names. */
#define DNS_CACHE_DEFAULT_ADDRS 262144
#define DNS_CACHE_DEFAULT_ADDRS_PER_CLIENT 16384
#define DNS_CACHE_DEFAULT_NAMES 262144

/* Every limit > 0 (a per-client limit above the total is the total). NULL with errno set on
 * failure (EINVAL for a zero limit). */
struct dns_cache *dns_cache_new(const struct dns_cache_limits *l);
void dns_cache_free(struct dns_cache *c);

/* Who keeps interned names beside the cache: mark(ctx) calls dns_cache_mark() for every
 * name pointer it holds. Called when the name table is full, at most once per eighth of it
 * interned; names neither marked nor naming an address are freed then. Without holders, names
 * are never freed (a full table refuses new ones). */
void dns_cache_set_holders(struct dns_cache *c, void (*mark)(void *ctx), void *ctx);
/* From a holder's mark callback: name (any pointer; those not from this cache are ignored)
 * stays. */
void dns_cache_mark(struct dns_cache *c, const char *name);

/* The interned copy of name (NULL when the name limit is reached and nothing could be freed). */
const char *dns_cache_intern(struct dns_cache *c, const char *name);

/* Remembers that family/addr is called name (interned by this cache) until expires_ns (boot
 * ns), as learned from an answer to client (client_family/client_addr, the address that asked).
 * The newest answer for an address wins. When the client or the whole cache is at its limit,
 * an address of that client or of any is forgotten first: the one no flow used for the longest,
 * else the one a flow used least recently. */
void dns_cache_add(struct dns_cache *c, uint8_t family, const uint8_t addr[16], const char *name,
		   uint64_t expires_ns, uint8_t client_family, const uint8_t client_addr[16]);

/* The name of family/addr for a flow that uses the address, or NULL if none is known (or it
 * expired before now_ns). A hit counts as a use. */
const char *dns_cache_lookup(struct dns_cache *c, uint8_t family, const uint8_t addr[16],
			     uint64_t now_ns);

/* Forgets expired addresses. */
void dns_cache_expire(struct dns_cache *c, uint64_t now_ns);

void dns_cache_get_stats(const struct dns_cache *c, struct dns_cache_stats *st);

#endif /* FLOWSCOPE_ENRICH_DNS_CACHE_H */
