/* The identity table in force in this process (flowd --identities): read by the encoders and
 * the filters when a flow goes out, so a reload applies to every flow at once and no flow
 * keeps a pointer into a table that was replaced. Used on the one loop thread only. */
#ifndef FLOWSCOPE_ENRICH_IDENTITIES_H
#define FLOWSCOPE_ENRICH_IDENTITIES_H

#include <stdbool.h>
#include <stdint.h>

#include "flowscope/enrich/identity.h"
#include "flowscope/flow.h"

/* Puts t in force (NULL: none) and frees the table it replaces. */
void identities_set(struct identity_table *t);
const struct identity_table *identities_get(void);
/* Changes whenever identities_set() puts a table in force: cached identity lookups compare it. */
uint64_t identities_generation(void);
/* The identity of family/addr in the table in force, or NULL. */
const struct identity *identities_lookup(uint8_t family, const uint8_t addr[16]);

/* Cilium's reserved numeric identities. */
enum identity_reserved {
	IDENTITY_UNKNOWN = 0,
	IDENTITY_HOST = 1,  /* an address of this host */
	IDENTITY_WORLD = 2, /* anything else */
};

/* The numeric identity of family/addr: its identity-file entry's, else IDENTITY_HOST for this
 * host's own addresses, else IDENTITY_WORLD. Cheap enough for every flow that goes out. */
uint32_t identities_numeric(uint8_t family, const uint8_t addr[16]);

/* Is family/addr one of this host's: 127.0.0.0/8, ::1 (also as ::ffff:127.x), or an address of
 * an interface in this network namespace (read with getifaddrs at most every 5 seconds)? */
bool identities_is_host(uint8_t family, const uint8_t addr[16]);

/* The identity of the end ep of f (&f->src or &f->dst): the one the flow came with (a flow
 * relayed from another node carries its node's), else the entry in force for its address. */
const struct identity *identities_of(const struct flow *f, const struct flow_endpoint *ep);
/* Its numeric identity: the one the flow came with, else identities_numeric(). */
uint32_t identities_numeric_of(const struct flow *f, const struct flow_endpoint *ep);

/* Loads path and puts it in force; a file with an error leaves the table in force as it was.
 * Counted either way (a reload that took effect, or one refused). Returns 0 or a negative
 * errno with e naming the file and line. */
int identities_reload(const char *path, struct errmsg *e);
/* The second half of a reload whose identity_table_load() ran elsewhere (another thread: a
 * large file takes seconds): err 0 puts t in force, else the refusal is counted. */
void identities_reloaded(struct identity_table *t, int err);

struct identities_stats {
	uint64_t entries; /* of the table in force */
	uint64_t reloads; /* reloads that took effect */
	uint64_t errors;  /* reloads refused */
};

void identities_get_stats(struct identities_stats *st);

#endif /* FLOWSCOPE_ENRICH_IDENTITIES_H */
