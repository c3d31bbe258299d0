/* Internal to flowctl: `flowctl list nodes` and `flowctl list namespaces` (Hubble's `hubble
 * list`): GetNodes and GetNamespaces as Hubble's tables or as JSON. */
#ifndef FLOWSCOPE_CLI_LIST_H
#define FLOWSCOPE_CLI_LIST_H

#include <stdbool.h>

#include "flowscope/base/buf.h"
#include "observer.pb-c.h"

/* The tables: NAME STATUS AGE FLOWS/S CURRENT/MAX-FLOWS (wide: VERSION ADDRESS TLS), nodes
 * sorted by name; NAMESPACE (wide: CLUSTER). Return 0 or -ENOMEM. */
int list_nodes_table(struct buf *out, Observer__GetNodesResponse *r, bool wide);
int list_namespaces_table(struct buf *out, const Observer__GetNamespacesResponse *r, bool wide);

/* The messages of a repeated field as an indented JSON array, as `hubble list -o json`. */
int list_json(struct buf *out, ProtobufCMessage *const *msgs, size_t n);

/* Indents compact JSON as Go's json.MarshalIndent(v, prefix "", indent), one level deeper
 * than depth. Returns 0 or -ENOMEM. */
int list_json_indent(struct buf *out, const char *json, size_t len, int depth, const char *indent);

/* `flowctl list ...` (argv[0] is "list"). Returns the exit status. */
int list_main(int argc, char **argv);

#endif /* FLOWSCOPE_CLI_LIST_H */
