/* Internal to flowctl: `flowctl observe`'s options (selection, the filter language's keys as
 * flags, output, connection) into a GetFlowsRequest, apart from running it so the mapping can be
 * tested flag by flag. */
#ifndef FLOWSCOPE_CLI_OBSERVE_H
#define FLOWSCOPE_CLI_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/opts.h"
#include "flowscope/filter/filter.h"
#include "observer.pb-c.h"

/* Options every command takes. */
struct conn_opts {
	const char *server;
	bool tls; /* --tls: TLS is used when a CA is given */
	const char *tls_ca, *tls_cert, *tls_key, *tls_server_name;
	uint64_t timeout_ns;
};

extern const struct opt conn_opts_table[];

struct observe_args {
	bool follow, all, negate, help;
	uint64_t last, first;
	const char *since, *until;
	int output; /* enum output */
	struct filter_req filters;
	struct conn_opts conn;
	/* What the request points to. */
	Google__Protobuf__Timestamp since_ts, until_ts;
	Flow__FlowFilter *allow[2], *deny[2];
	bool last_given;
};

void observe_args_init(struct observe_args *a);
void observe_args_free(struct observe_args *a);

/* Parses argv (argv[0] is "observe"). Returns 0, or -EINVAL with e saying what is wrong. */
int observe_parse(struct observe_args *a, int argc, char **argv, struct errmsg *e);

/* The request the arguments ask for; its pointers are into a. Returns 0, 1 when nothing is asked
 * for (--last 0 without --follow), or -EINVAL with e set. */
int observe_request(struct observe_args *a, Observer__GetFlowsRequest *req, struct errmsg *e);

/* --help for observe. */
int observe_help(struct buf *out);

#endif /* FLOWSCOPE_CLI_OBSERVE_H */
