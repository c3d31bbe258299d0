/* Hubble-style flow filters from key=value parameters, with flowctl's meaning: "either side"
 * keys (ip, port, namespace, pod, service, label, fqdn) match the source or the destination;
 * from_X / to_X only one side; protocol and verdict both. Values of one key are alternatives,
 * different keys must all match. Used for the HTTP API's query parameters and for flowd's
 * --export-allow / --export-deny ("to_port=443&protocol=tcp"). */
#ifndef FLOWSCOPE_FILTER_QUERY_H
#define FLOWSCOPE_FILTER_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "flowscope/filter/flow_filter.h"

struct filter_query {
	Flow__FlowFilter f[2]; /* f[1] is the twin used by either-side keys */
	bool twin, any;
	char *node, *edge;  /* graph node / edge ids (copies; the HTTP API's own keys) */
	char *ns_copies[3]; /* "namespace/" pod selectors built from namespace keys */
	char *owned;	    /* the string filter_query_parse() values point into */
	char err[256];	    /* why a value was refused */
};

/* Applies one key=value. Returns 0 (with err set when the value is bad), 1 when key is not
 * a filter key, or a negative errno. Values must outlive the query (compile copies them). */
int filter_query_arg(struct filter_query *q, const char *key, const char *value);

/* Parses "k=v&k=v" (or comma separated) into q. Returns 0, or -1 with q->err. */
int filter_query_parse(struct filter_query *q, const char *s);

/* Compiles allow and deny queries (either may be NULL) into one set: a flow passes if it
 * matches the allow filters (or there are none) and no deny filter. *out is NULL when neither
 * has a filter. Returns 0 or -1 with a message in err. */
int filter_query_compile(struct filter_query *allow, struct filter_query *deny,
			 struct flow_filter_set **out, char *err, size_t errlen);

void filter_query_free(struct filter_query *q);

#endif /* FLOWSCOPE_FILTER_QUERY_H */
