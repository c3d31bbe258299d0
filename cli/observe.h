/* Internal to flowctl: `flowctl observe`'s options (selection, the filter language's keys as
 * flags, raw FlowFilters, output, connection) into a GetFlowsRequest, every value checked
 * before anything is sent, apart from running it so that the mapping can be tested flag by
 * flag. Flags and values are Hubble's (`hubble observe`). */
#ifndef FLOWSCOPE_CLI_OBSERVE_H
#define FLOWSCOPE_CLI_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/filter/filter.h"
#include "flowscope/filter/flow_filter.h"
#include "observer.pb-c.h"

#define OBSERVE_MAX_RAW 64	/* --allowlist/--denylist filters, each side */
#define OBSERVE_MAX_MASK 64	/* --field-mask paths */
#define OBSERVE_DEFAULT_LAST 20 /* flows shown without --last, --first, --all, --since ... */

struct observe_args {
	/* Selection. */
	bool follow, all, last_given, help;
	uint64_t last, first;
	const char *since, *until;
	/* Filters: the keys' flags (--not for the next one), then raw FlowFilters. */
	bool negate;
	struct filter_req filters;
	Flow__FlowFilter *raw[2][OBSERVE_MAX_RAW]; /* [0 allowlist, 1 denylist] */
	size_t n_raw[2];
	/* Output. */
	int output, time_format, color; /* enum output, time_format, color_mode */
	bool print_node_name, numeric;
	/* Other. */
	bool print_raw_filters, per_flow, default_masks;
	const char *input_file;
	char *mask[OBSERVE_MAX_MASK]; /* --field-mask paths, split */
	size_t n_mask;
	struct conn_opts conn;
	/* History from ClickHouse (--history-clickhouse URL and its table and user). */
	const char *history_url, *history_table, *history_user, *history_password;
	struct ch_target history; /* checked and resolved by observe_parse() */
	/* Checked and worked out by observe_parse(); the request points into these. */
	uint64_t since_ns, until_ns;
	Google__Protobuf__Timestamp since_ts, until_ts;
	Flow__FlowFilter *allow[2 + OBSERVE_MAX_RAW], *deny[2 + OBSERVE_MAX_RAW];
	size_t n_allow, n_deny;
	struct flow_filter_set *compiled; /* the filters as flowd compiles them */
	Google__Protobuf__FieldMask mask_msg, exp_mask_msg;
	Observer__GetFlowsRequest__Experimental exp;
};

void observe_args_init(struct observe_args *a);
void observe_args_free(struct observe_args *a);

/* Parses and checks argv (argv[0] is "observe"; a following "flows", as in `hubble observe
 * flows`, is skipped) at wall-clock time now_ns (for durations in --since/--until). Returns 0,
 * or -EINVAL with e saying what is wrong and what to use. */
int observe_parse(struct observe_args *a, int argc, char **argv, uint64_t now_ns, struct errmsg *e);

/* The request the arguments ask for; its pointers are into a. Returns 0, or 1 when nothing is
 * asked for (--last 0 without --follow). */
int observe_request(struct observe_args *a, Observer__GetFlowsRequest *req);

/* --print-raw-filters: the request's filters as Hubble prints them (YAML lists of FlowFilter
 * JSON, "{}" when there are none). Returns 0 or -ENOMEM. */
int observe_raw_filters(const Observer__GetFlowsRequest *req, struct buf *out);

/* --help for observe. */
int observe_help(struct buf *out);

#endif /* FLOWSCOPE_CLI_OBSERVE_H */
