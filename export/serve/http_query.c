/* GET /api/v1/flows parameters (see export/serve/http_query.h). */
#include <errno.h>
#include <string.h>

#include "flowscope/base/parse.h"
#include "http_query.h"

void http_flows_query_init(struct http_flows_query *q)
{
	memset(q, 0, sizeof(*q));
	q->last = HTTP_DEFAULT_LAST;
	filter_req_init(&q->filters, FILTER_AS_PARAM);
}

void http_flows_query_free(struct http_flows_query *q)
{
	filter_req_free(&q->filters);
}

static int count_arg(const char *key, const char *v, uint64_t *out, struct errmsg *e)
{
	if (parse_u64(v, UINT32_MAX, out))
		return errmsg_set(e, -EINVAL,
				  "invalid %s '%s': use a whole number of flows (0 or more)", key,
				  v);
	return 0;
}

static int time_arg(const char *key, const char *v, uint64_t now, uint64_t *out, struct errmsg *e)
{
	if (parse_time(v, now, out))
		return errmsg_set(
			e, -EINVAL,
			"invalid %s '%s': use RFC 3339 (2026-11-24T10:00:00Z) or a duration ago such as 5m",
			key, v);
	return 0;
}

int http_flows_query_arg(struct http_flows_query *q, const char *key, const char *v,
			 uint64_t now_ns, struct errmsg *e)
{
	int err;

	v = v ? v : "";
	if (!strcmp(key, "last")) {
		q->last_given = true;
		return count_arg(key, v, &q->last, e);
	}
	if (!strcmp(key, "first")) {
		q->first_given = true;
		return count_arg(key, v, &q->first, e);
	}
	if (!strcmp(key, "since"))
		return time_arg(key, v, now_ns, &q->since_ns, e);
	if (!strcmp(key, "until"))
		return time_arg(key, v, now_ns, &q->until_ns, e);
	if (!strcmp(key, "follow")) {
		if (parse_bool(v, &q->follow))
			return errmsg_set(e, -EINVAL,
					  "invalid follow '%s': use 1, 0, true or false", v);
		return 0;
	}
	if (!strcmp(key, "per_flow")) {
		if (parse_bool(v, &q->per_flow))
			return errmsg_set(e, -EINVAL,
					  "invalid per_flow '%s': use 1, 0, true or false", v);
		return 0;
	}
	if (!strcmp(key, "deny"))
		return filter_req_add_deny_group(&q->filters, v, e);
	if (!strcmp(key, "format")) {
		if (strcmp(v, "json") && strcmp(v, "pb"))
			return errmsg_set(
				e, -EINVAL,
				"invalid format '%s': use json (NDJSON) or pb (length-prefixed protobuf)",
				v);
		q->pb = !strcmp(v, "pb");
		return 0;
	}
	err = filter_req_add_named(&q->filters, key, v, e);
	if (err == -ENOENT)
		return errmsg_set(
			e, -ENOENT,
			"unknown parameter '%s': /api/v1/flows takes last, first, since, until, follow, per_flow, format, deny and the filter keys (see GET /)",
			key);
	return err;
}

int http_flows_query_request(struct http_flows_query *q, struct follower_req *out, struct errmsg *e)
{
	memset(out, 0, sizeof(*out));
	if (q->first_given && q->follow)
		return errmsg_set(e, -EINVAL, "first cannot be combined with follow");
	out->follow = q->follow;
	out->per_flow = q->per_flow;
	out->since_ns = q->since_ns;
	out->until_ns = q->until_ns;
	if (q->first_given) {
		out->replay = FOLLOWER_REPLAY_FIRST;
		out->number = q->first;
	} else if (q->last_given || (!q->follow && !q->since_ns)) {
		/* like `hubble observe`: 20 by default, none when following */
		out->replay = FOLLOWER_REPLAY_LAST;
		out->number = q->last;
	} else if (q->since_ns) {
		out->replay = FOLLOWER_REPLAY_ALL; /* a time window replaces the default count */
	}
	return flow_filter_set_from_req(&q->filters, &out->filters, e);
}
