/* Internal to the HTTP server: the parameters of GET /api/v1/flows (selection, format and the
 * filter language's keys) into a follower's request. Apart from the MHD glue so it can be
 * tested key by key. */
#ifndef FLOWSCOPE_SERVE_HTTP_QUERY_H
#define FLOWSCOPE_SERVE_HTTP_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/filter/filter.h"
#include "flowscope/serve/follower.h"

#define HTTP_DEFAULT_LAST 20

struct http_flows_query {
	uint64_t last, first, since_ns, until_ns;
	bool last_given, first_given, follow, per_flow, pb;
	struct filter_req filters;
};

void http_flows_query_init(struct http_flows_query *q);
void http_flows_query_free(struct http_flows_query *q);

/* One parameter. Returns 0, or -EINVAL / -ENOENT with e saying what is wrong. */
int http_flows_query_arg(struct http_flows_query *q, const char *key, const char *value,
			 uint64_t now_ns, struct errmsg *e);

/* The follower's request (its filters compiled; the caller owns them in out). */
int http_flows_query_request(struct http_flows_query *q, struct follower_req *out,
			     struct errmsg *e);

#endif /* FLOWSCOPE_SERVE_HTTP_QUERY_H */
