/* Identity file: maps IP addresses and CIDR prefixes to the workload they belong to (namespace,
 * pod, service, labels, owning workload) and gives each a Cilium-style numeric identity. The
 * file is YAML or JSON:
 *
 *   identities:
 *     - cidr: 10.200.2.0/24      # or "ip: 10.200.2.2"; exactly one of the two
 *       namespace: shop
 *       pod: web-7d9f            # optional
 *       service: web             # optional
 *       labels: {app: web}       # optional: a mapping, or a list of "key=value" strings
 *       workload: web            # optional: the owner's name, or {name: web, kind: Deployment}
 *       workload_kind: Deployment  # optional (with workload): its kind
 *       identity: 12345          # optional: the numeric identity, 256..16777215
 *
 * Numeric identities are label sets, as in Cilium: entries with the same namespace and labels
 * share one. Unless an entry of the set gives one (identity: N), it is derived from the set
 * (namespace and labels; namespace, pod and service for entries without labels) into
 * 256..65535, collisions resolved in sorted order of the sets, so that the same file always
 * gives the same numbers, whatever the order of its entries and across restarts.
 */
#ifndef FLOWSCOPE_ENRICH_IDENTITY_H
#define FLOWSCOPE_ENRICH_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/errmsg.h"

struct identity {
	char ns[64]; /* namespace ("" if not given) */
	char pod[128];
	char service[128];
	char **labels; /* "key=value" strings, sorted */
	size_t n_labels;
	char workload[128];	/* the owning workload's name ("" if not given) */
	char workload_kind[64]; /* its kind: Deployment, StatefulSet, ... */
	uint32_t numeric;	/* Cilium-style numeric security identity, >= 256 */
};

/* Explicit numeric identities (identity: N); below are Cilium's reserved ones. */
#define IDENTITY_NUMERIC_MIN 256u
#define IDENTITY_NUMERIC_MAX 16777215u
/* Where derived numeric identities go (above only when all of it is taken). */
#define IDENTITY_DERIVED_MAX 65535u

struct identity_table;

/* Loads and validates path. Returns 0 with *out set, or a negative errno with a message in e
 * that names the file and line (e.g. "ids.yaml:7: invalid cidr '10.0.0.0/33'"): ENOENT/EACCES
 * for unreadable files, EINVAL for syntax errors (libyaml's problem text and line) and for
 * invalid content: unknown keys, missing cidr/ip, both given, bad addresses or prefix lengths,
 * non-string values, a namespace longer than 63 bytes / pod, service or workload longer than
 * 127 / workload kind longer than 63, a workload kind without a workload or given twice, an
 * identity number out of 256..16777215, more than 100000 entries, duplicate identical
 * prefixes. Every entry's numeric identity is set. */
int identity_table_load(const char *path, struct identity_table **out, struct errmsg *e);

/* Longest-prefix match; family 4 (addr in the first 4 bytes) or 6. NULL if nothing matches. */
const struct identity *identity_lookup(const struct identity_table *t, int family,
				       const uint8_t addr[16]);

size_t identity_table_size(const struct identity_table *t);
/* The i-th entry in file order (i < identity_table_size()), or NULL. */
const struct identity *identity_table_entry(const struct identity_table *t, size_t i);

void identity_table_free(struct identity_table *t);

#endif /* FLOWSCOPE_ENRICH_IDENTITY_H */
