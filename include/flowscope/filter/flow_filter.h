/* Hubble's FlowFilter semantics on collector flows: inside one filter every given field must
 * match (a field with several values matches if any value does); a flow passes a list of
 * allow filters if any matches (an empty list allows all) and is excluded if any deny filter
 * matches. Filters apply to the flow as published: a reply event is seen with source and
 * destination swapped.
 *
 * Every FlowFilter field is either applied or refused: fields for what Flowscope flows never
 * carry (HTTP, trace ids, IP trace ids, translated source IPs, cluster names, encryption) are
 * checked as Hubble checks them and then match nothing, as in Hubble for flows without them
 * (encrypted: false matches every flow); experimental.cel_expression and fields unknown to
 * Flowscope's protos are refused, naming them. */
#ifndef FLOWSCOPE_FILTER_FLOW_FILTER_H
#define FLOWSCOPE_FILTER_FLOW_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/filter/filter.h"
#include "flowscope/flow.h"
#include "flow.pb-c.h"

struct flow_filter_set;

/* What one filter set may hold (a request's allow and deny filters together): their number and
 * their size as protobuf. Every flow a request reads is matched against each of its filters, so
 * without a bound one request could hold the event loop for minutes. Defaults 100 filters and
 * 64 KiB; flowd and flowrelay set them with --max-filters and --max-filter-bytes. */
#define FLOW_FILTER_DEFAULT_MAX 100
#define FLOW_FILTER_DEFAULT_MAX_BYTES (64 * 1024)
void flow_filter_set_limits(size_t max_filters, size_t max_bytes);

/* Compiles allow (whitelist) and deny (blacklist) FlowFilters. Returns a set to free with
 * flow_filter_set_free(), or NULL with errno set: EINVAL with the reason in e (e.g. "invalid
 * source_ip '10.0.0.300': use an IP address or CIDR ...") for a filter the user must fix,
 * E2BIG with the reason in e past the limits above, ENOMEM otherwise. */
struct flow_filter_set *flow_filter_set_new(Flow__FlowFilter *const *allow, size_t n_allow,
					    Flow__FlowFilter *const *deny, size_t n_deny,
					    struct errmsg *e);
/* The filters a request built, compiled; *out is NULL (everything passes) when it has none.
 * Returns 0 or a negative errno with e set. */
int flow_filter_set_from_req(struct filter_req *r, struct flow_filter_set **out, struct errmsg *e);
void flow_filter_set_free(struct flow_filter_set *fs);
/* The FlowFilters fs was compiled from (copies owned by fs), for a consumer that translates
 * them, as the ClickHouse history does into SQL. A NULL set has none. */
void flow_filter_set_sources(const struct flow_filter_set *fs, Flow__FlowFilter *const **allow,
			     size_t *n_allow, Flow__FlowFilter *const **deny, size_t *n_deny);

/* The node flows come from, for node_name and node_labels filters: its name (NULL: "") and its
 * labels as "key=value" strings (flowd --node-label). */
struct filter_node {
	const char *name;
	char *const *labels;
	size_t n_labels;
};

/* True when f passes: matches some allow filter (or there are none) and no deny filter. node
 * may be NULL (no name, no labels). A NULL set passes everything. Everything is prepared when
 * the set is compiled: a match parses nothing and allocates nothing itself (only glibc's
 * regexec may, for dns_query). */
bool flow_filter_set_match(const struct flow_filter_set *fs, const struct flow *f,
			   const struct filter_node *node);

#endif /* FLOWSCOPE_FILTER_FLOW_FILTER_H */
