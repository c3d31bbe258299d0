/* The identity table in force in this process (flowd --identities): read by the encoders and
 * the filters when a flow goes out, so a reload applies to every flow at once and no flow
 * keeps a pointer into a table that was replaced. Used on the one loop thread only. */
#ifndef FLOWSCOPE_IDENTITIES_H
#define FLOWSCOPE_IDENTITIES_H

#include <stdint.h>

#include "flowscope/enrich/identity.h"

/* Puts t in force (NULL: none) and frees the table it replaces. */
void identities_set(struct identity_table *t);
const struct identity_table *identities_get(void);
/* Changes whenever identities_set() puts a table in force: cached identity lookups compare it. */
uint64_t identities_generation(void);
/* The identity of family/addr in the table in force, or NULL. */
const struct identity *identities_lookup(uint8_t family, const uint8_t addr[16]);

#endif /* FLOWSCOPE_IDENTITIES_H */
