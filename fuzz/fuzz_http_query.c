/* Fuzz target: GET /api/v1/flows parameters as the HTTP server gets them from any client
 * ("key=value&key=value", already percent-decoded by the HTTP library): each through
 * http_flows_query_arg, then the follower request with its filters compiled. */
#include "fuzz.h"

#include "../export/serve/http_query.h"

#define FUZZ_NOW_NS 1700000000000000000ULL

static void one_arg(struct http_flows_query *q, const uint8_t *p, size_t n, int *err)
{
	const uint8_t *eq = memchr(p, '=', n);
	char *key, *value;
	struct errmsg e = {""};

	key = fuzz_str(p, eq ? (size_t)(eq - p) : n);
	value = eq ? fuzz_str(eq + 1, n - (size_t)(eq + 1 - p)) : NULL;
	/* MHD gives a key without '=' a NULL value. */
	*err = http_flows_query_arg(q, key, value, FUZZ_NOW_NS, &e);
	free(key);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *part;
	struct http_flows_query q;
	struct follower_req req;
	struct errmsg e = {""};
	ssize_t n;
	int err = 0;

	fuzz_quiet();
	http_flows_query_init(&q);
	while (!err && (n = fuzz_next_part(&p, end, '&', &part)) >= 0)
		one_arg(&q, part, (size_t)n, &err);
	if (!err && http_flows_query_request(&q, &req, &e) == 0)
		flow_filter_set_free(req.filters);
	http_flows_query_free(&q);
	return 0;
}
