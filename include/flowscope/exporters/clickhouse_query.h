/* History from ClickHouse: a since/until window, the first or last N events, and Hubble
 * FlowFilters (allow: any may match; deny: none may) as SQL on the exporter's table, the rows
 * decoded back into flows, in time order, for flowctl --history-clickhouse and a relay.
 *
 * Each filter field that has a column is translated with the filter code's semantics (OR over
 * allow filters, AND inside one, NOT over deny ones; values of one field are alternatives):
 * uuid, source/destination IP and CIDR (byte ranges of the FixedString(16) addresses),
 * ports, protocol, verdict, traffic direction, IP version, reply, TCP flags, node name (exact or
 * * and ? patterns), event type and sub type, drop reason, interface, numeric identities, pods
 * and namespaces, services, workloads, FQDN and process patterns, containers. What has no column
 * or no faithful SQL form (labels, node labels, the DNS query's POSIX regular expressions, the
 * service graph, HTTP, patterns with brackets or escapes) is left out of the SQL (an allow filter
 * then selects more, a deny filter excludes nothing in SQL) and applied in C afterwards with
 * flow_filter_set_match() on each decoded flow. LIMIT goes into the SQL only when every filter
 * was translated; otherwise rows are read until N of them passed in C. Rows with the uuid of the
 * row just before (a batch delivered twice) are skipped. */
#ifndef FLOWSCOPE_EXPORTERS_CLICKHOUSE_QUERY_H
#define FLOWSCOPE_EXPORTERS_CLICKHOUSE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/flow.h"
#include "flow.pb-c.h"

struct ch_query {
	uint64_t since_ns, until_ns; /* wall clock, inclusive; 0: unbounded */
	uint64_t first, last;	     /* the N oldest or newest of the window; both 0: all of it */
	Flow__FlowFilter *const *allow, *const *deny;
	size_t n_allow, n_deny;
};

/* The SELECT for q on t's table (FORMAT RowBinary, every column in row order). *exact is set
 * when the SQL selects exactly what the filters select (then it has q's LIMIT). Returns 0 or
 * -ENOMEM. */
int ch_query_sql(const struct ch_query *q, const struct ch_target *t, struct buf *sql, bool *exact);

/* The SQL condition of one FlowFilter (appended; "1" for one without conditions). *complete is
 * set when it says all the filter says. Returns 0 or -ENOMEM. */
int ch_query_filter_sql(struct buf *out, const Flow__FlowFilter *f, bool *complete);

/* Gets each flow selected; non-zero stops the query (returned as -ECANCELED). */
typedef int (*ch_query_cb)(const struct flow *f, void *ctx);

/* Runs q against t: every flow of the window that passes fs (the same filters, compiled; NULL
 * when there are none), oldest first, to cb. timeout_ms bounds connecting and each wait for
 * data. Returns 0, -ECANCELED, or a negative errno with e saying what failed (ClickHouse's own
 * error text for an error answer). */
int ch_query_run(const struct ch_query *q, const struct ch_target *t,
		 const struct flow_filter_set *fs, unsigned int timeout_ms, ch_query_cb cb,
		 void *ctx, struct errmsg *e);

#endif /* FLOWSCOPE_EXPORTERS_CLICKHOUSE_QUERY_H */
