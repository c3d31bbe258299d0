/* `flowctl observe --history-clickhouse` (see cli/history_ch.h): the query from observe's
 * arguments, each flow encoded as the server would send it and printed, then the hand-over to
 * the live stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/exporters/clickhouse_query.h"
#include "flowscope/pipeline/flow_view.h"
#include "history_ch.h"

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0 || t->nanos < 0)
		return 0;
	return (uint64_t)t->seconds * 1000000000ULL + (uint64_t)t->nanos;
}

/* Remembers f as printed: the last time, and the uuids of that time. */
static int seen_add(struct history_seen *s, uint64_t time_ns, const uint8_t uuid[16])
{
	if (time_ns != s->last_ns)
		s->n = 0;
	s->last_ns = time_ns;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		uint8_t(*u)[16] = realloc(s->uuids, cap * sizeof(*u));

		if (!u)
			return -ENOMEM;
		s->uuids = u;
		s->cap = cap;
	}
	memcpy(s->uuids[s->n++], uuid, 16);
	return 0;
}

static bool seen_has(const struct history_seen *s, uint64_t time_ns, const uint8_t uuid[16])
{
	size_t i;

	if (!s->n || time_ns != s->last_ns)
		return false;
	for (i = 0; i < s->n; i++)
		if (!memcmp(s->uuids[i], uuid, 16))
			return true;
	return false;
}

/* One flow of the history: as a GetFlowsResponse, through the printer. */
static int print_flow(const struct flow *f, void *ctx)
{
	struct history_seen *s = ctx;
	struct buf frame = BUF_INIT;
	int r;

	if (*s->stop)
		return 1;
	r = flow_pb_frame_masked(&frame, f, NULL, s->mask);
	/* A gRPC frame: 5 bytes of header, then the message the printer takes. */
	r = r ? 1 : printer_flows_msg((const uint8_t *)frame.data + 5, frame.len - 5, s->p);
	buf_free(&frame);
	if (!r && seen_add(s, f->time_ns, f->uuid))
		r = 1;
	return r;
}

/* The query a's selection asks for, as observe_request() asks the server. */
static void query_of(const struct observe_args *a, struct ch_query *q)
{
	memset(q, 0, sizeof(*q));
	q->since_ns = a->since ? a->since_ns : 0;
	q->until_ns = a->until ? a->until_ns : 0;
	q->allow = a->allow;
	q->n_allow = a->n_allow;
	q->deny = a->deny;
	q->n_deny = a->n_deny;
	if (a->first)
		q->first = a->first;
	else if (a->all)
		q->last = 0;
	else if (a->last_given)
		q->last = a->last;
	else if (!a->since && !a->until)
		q->last = OBSERVE_DEFAULT_LAST;
}

/* Whether a asks the history for anything: --follow alone asks for what comes next only,
 * --last 0 for nothing. */
static bool wants_history(const struct observe_args *a)
{
	if (a->last_given && !a->last)
		return false;
	return !a->follow || a->since || a->until || a->first || a->all || a->last_given;
}

int history_run(struct observe_args *a, struct printer *p, volatile int *stop,
		struct history_seen *seen)
{
	struct ch_query q;
	struct errmsg e = {""};
	int r;

	seen->p = p;
	seen->stop = stop;
	if (a->n_mask && flow_pb_mask_from_paths(a->mask, a->n_mask, &seen->mask, &e)) {
		fprintf(stderr, "flowctl: %s\n", e.text);
		return 1;
	}
	if (!wants_history(a))
		return 0;
	query_of(a, &q);
	r = ch_query_run(&q, &a->history, a->compiled,
			 (unsigned int)(a->conn.request_timeout_ns / 1000000), print_flow, seen,
			 &e);
	if (r == -ECANCELED || !r)
		return 0; /* Ctrl-C, or the output was closed (the caller tells which) */
	fprintf(stderr, "flowctl: history from ClickHouse failed: %s\n", errmsg_text(&e, r));
	return 1;
}

void history_follow_request(const struct history_seen *seen, Observer__GetFlowsRequest *req,
			    Google__Protobuf__Timestamp *since)
{
	req->number = 0;
	req->first = 0;
	req->follow = true;
	if (!seen->n)
		return; /* nothing printed: --since as given (or from now on) */
	google__protobuf__timestamp__init(since);
	since->seconds = (int64_t)(seen->last_ns / 1000000000ULL);
	since->nanos = (int32_t)(seen->last_ns % 1000000000ULL);
	req->since = since;
}

int history_follow_msg(const uint8_t *msg, size_t len, void *ctx)
{
	struct history_seen *s = ctx;
	Observer__GetFlowsResponse *r = observer__get_flows_response__unpack(NULL, len, msg);
	uint8_t uuid[16];
	bool dup = false;

	if (!r)
		return printer_flows_msg(msg, len, s->p); /* says what is wrong */
	if (r->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW &&
	    r->flow->uuid && !flow_uuid_parse(r->flow->uuid, uuid))
		dup = seen_has(s, ts_ns(r->flow->time), uuid);
	observer__get_flows_response__free_unpacked(r, NULL);
	return dup ? 0 : printer_flows_msg(msg, len, s->p);
}

void history_seen_free(struct history_seen *s)
{
	free(s->uuids);
	flow_pb_mask_free(s->mask);
	memset(s, 0, sizeof(*s));
}
