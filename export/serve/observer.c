/* observer.Observer and grpc.health.v1.Health (see include/flowscope/serve/observer.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/version.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/pipeline/flow_view.h"
#include "flowscope/serve/observer.h"
#include "health.pb-c.h"
#include "observer.pb-c.h"

/* A GetFlows call: its follower, writing into the call's queue, and its field mask. */
struct get_flows {
	struct grpc_call *call;
	struct follower *fo;
	struct flow_pb_mask *mask;
};

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0)
		return 0;
	return (uint64_t)t->seconds * NSEC_PER_SEC + (uint64_t)t->nanos;
}

static int encode_flow(struct buf *out, const struct flow *f, const char *node, void *ctx)
{
	struct get_flows *g = ctx;

	return flow_pb_frame_masked(out, f, node, g->mask);
}

static int encode_lost(struct buf *out, uint64_t lost, const char *node, uint64_t now, void *ctx)
{
	(void)ctx;
	return flow_pb_lost_frame(out, FOLLOWER_LOST_SOURCE, lost, node, now);
}

/* Every call without a field mask gets the same frame of an event. */
static uint64_t encoding(void *ctx)
{
	return ((struct get_flows *)ctx)->mask ? 0 : 1;
}

static int encode_gap(struct buf *out, int source, uint64_t lost, const char *node,
		      uint64_t time_ns, void *ctx)
{
	(void)ctx;
	return flow_pb_lost_frame(out, source, lost, node, time_ns);
}

/* A watermark: no response type, only the node and the time (Hubble's printer skips it). */
static int encode_mark(struct buf *out, const char *node, uint64_t time_ns, void *ctx)
{
	Observer__GetFlowsResponse resp = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	(void)ctx;
	t.seconds = (int64_t)(time_ns / NSEC_PER_SEC);
	t.nanos = (int32_t)(time_ns % NSEC_PER_SEC);
	resp.node_name = (char *)node;
	resp.time = &t;
	return grpc_frame_append(out, &resp.base);
}

static int push(void *ctx, const void *msg, size_t len, bool force)
{
	struct get_flows *g = ctx;

	return grpc_call_send_frame(g->call, msg, len, force);
}

static bool full(void *ctx)
{
	struct get_flows *g = ctx;

	return grpc_call_queue_full(g->call);
}

static void end(void *ctx)
{
	struct get_flows *g = ctx;

	grpc_call_finish(g->call, GRPC_OK, NULL);
}

static int encode_status(struct buf *out, int state, const char *const *names, size_t n,
			 const char *message, const char *node, uint64_t now, void *ctx)
{
	(void)ctx;
	return flow_pb_node_status_frame(out, state, names, n, message, node, now);
}

static const struct follower_sink sink = {.encode_flow = encode_flow,
					  .encode_lost = encode_lost,
					  .push = push,
					  .full = full,
					  .end = end,
					  .encode_mark = encode_mark,
					  .encode_gap = encode_gap,
					  .encode_status = encode_status,
					  .encoding = encoding};

static void get_flows_free(void *arg)
{
	struct get_flows *g = arg;

	follower_stop(g->fo);
	flow_pb_mask_free(g->mask);
	free(g);
}

static void get_flows_drained(struct grpc_call *call, void *svc)
{
	struct get_flows *g = svc;

	(void)call;
	if (g->fo)
		follower_poke(g->fo);
}

/* The request's field mask (field_mask, or its older place experimental.field_mask). */
static int request_mask(const Observer__GetFlowsRequest *req, struct flow_pb_mask **mask,
			struct errmsg *e)
{
	const Google__Protobuf__FieldMask *fm = req->field_mask;

	if ((!fm || !fm->n_paths) && req->experimental)
		fm = req->experimental->field_mask;
	return fm ? flow_pb_mask_from_paths(fm->paths, fm->n_paths, mask, e) : 0;
}

/* Hubble's request as a follower's: see the header. A field this server does not know is
 * refused rather than ignored. */
static int request(const Observer__GetFlowsRequest *req, struct follower_req *fr, struct errmsg *e)
{
	memset(fr, 0, sizeof(*fr));
	if (req->base.n_unknown_fields)
		return errmsg_set(e, -EINVAL, "GetFlowsRequest field %u is not supported",
				  req->base.unknown_fields[0].tag);
	if (req->first && req->follow)
		return errmsg_set(e, -EINVAL, "first cannot be combined with follow");
	if (req->resume_after[0]) {
		if (req->number || req->first)
			return errmsg_set(e, -EINVAL,
					  "resume_after cannot be combined with number or first");
		if (flow_uuid_parse(req->resume_after, fr->resume_uuid))
			return errmsg_set(e, -EINVAL, "resume_after '%.40s' is not a uuid",
					  req->resume_after);
		fr->resume = true;
	}
	fr->heartbeat_ms = req->heartbeat_ms;
	fr->per_flow = req->per_flow;
	fr->since_ns = ts_ns(req->since);
	fr->until_ns = ts_ns(req->until);
	fr->follow = req->follow;
	fr->number = req->number;
	if (fr->resume)
		fr->replay = FOLLOWER_REPLAY_NONE; /* the events after the resume point instead */
	else if (req->first && req->number)
		fr->replay = FOLLOWER_REPLAY_FIRST;
	else if (req->number)
		fr->replay = FOLLOWER_REPLAY_LAST;
	else if (!req->follow || fr->since_ns)
		fr->replay = FOLLOWER_REPLAY_ALL;
	if (req->n_whitelist || req->n_blacklist) {
		fr->filters = flow_filter_set_new(req->whitelist, req->n_whitelist, req->blacklist,
						  req->n_blacklist, e);
		if (!fr->filters)
			return -errno;
	}
	return 0;
}

static void get_flows(struct grpc_call *call, struct observer *o, const uint8_t *msg, size_t len)
{
	Observer__GetFlowsRequest *req = observer__get_flows_request__unpack(NULL, len, msg);
	struct follower_req fr;
	struct errmsg e = {""};
	struct get_flows *g;
	int err;

	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse GetFlowsRequest");
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		observer__get_flows_request__free_unpacked(req, NULL);
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	err = request_mask(req, &g->mask, &e);
	if (!err) {
		err = request(req, &fr, &e);
		if (err)
			flow_pb_mask_free(g->mask);
	}
	observer__get_flows_request__free_unpacked(req, NULL);
	if (err) {
		free(g);
		grpc_call_finish(call,
				 err == -EINVAL ? GRPC_INVALID_ARGUMENT : GRPC_RESOURCE_EXHAUSTED,
				 errmsg_text(&e, err));
		return;
	}
	g->call = call;
	grpc_call_set_service(
		call, g,
		&(struct grpc_call_ops){.drained = get_flows_drained, .svc_free = get_flows_free});
	err = follower_start(&g->fo, o->followers, FOLLOWER_GRPC, &fr, &sink, g, &e);
	if (err)
		grpc_call_finish(call,
				 err == -EINVAL ? GRPC_INVALID_ARGUMENT : GRPC_RESOURCE_EXHAUSTED,
				 errmsg_text(&e, err));
	else if (!follower_live(g->fo))
		grpc_call_finish(call, GRPC_OK, NULL);
}

/* Unpacks a request that carries nothing we use, so a malformed one is still refused. */
static bool unpacks(struct grpc_call *call, const ProtobufCMessageDescriptor *d, const uint8_t *msg,
		    size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, msg);
	char why[160];

	if (!m) {
		snprintf(why, sizeof(why), "cannot parse %s", d->short_name);
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, why);
		return false;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return true;
}

/* What ServerStatus and GetNodes count: flow events, what GetFlows replays (Hubble counts the
 * flows of its ring); the store's flows when there is no event log. */
struct counts {
	uint64_t num, max, seen;
	double rate;
};

/* Hubble's flows_rate: events a second over the last minute (the uptime when shorter; what the
 * log holds when it holds less than a minute). The log is in publication order, which is time
 * order within the collector's reordering bound: the minute's start is found by bisection. */
static double events_rate(const struct event_log *l, uint64_t held, uint64_t now, uint64_t up)
{
	const struct flow *oldest = event_log_oldest(l);
	uint64_t win = 60 * NSEC_PER_SEC, lo = 0, hi = held, mid;
	struct event_log_stats ls;

	if (!oldest || !up)
		return 0;
	win = up < win ? up : win;
	event_log_get_stats(l, &ls);
	if (ls.overwritten && oldest->time_ns > now - win) {
		win = now > oldest->time_ns ? now - oldest->time_ns : 1;
		return (double)held / ((double)win / 1e9);
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (event_log_at(l, mid)->time_ns < now - win)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (double)(held - lo) / ((double)win / 1e9);
}

static void count(const struct observer *o, const struct status *st, struct counts *c)
{
	struct event_log_stats ls;

	if (!o->events) {
		c->num = st->store.stored;
		c->max = st->store_capacity;
		c->seen = st->store.seen;
		c->rate = st->uptime_ns ? (double)c->seen / ((double)st->uptime_ns / 1e9) : 0;
		return;
	}
	event_log_get_stats(o->events, &ls);
	c->num = ls.held;
	c->max = event_log_capacity(o->events);
	c->seen = ls.appended;
	c->rate = events_rate(o->events, ls.held, st->now_ns, st->uptime_ns);
}

static void server_status(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			  size_t len)
{
	Observer__ServerStatusResponse resp = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Google__Protobuf__UInt32Value connected = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__UInt32Value unavailable = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Observer__History hist = OBSERVER__HISTORY__INIT;
	Google__Protobuf__Timestamp oldest = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp newest = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct status st;
	struct counts c;

	if (!unpacks(call, &observer__server_status_request__descriptor, msg, len))
		return;
	status_collect(o->status, &st);
	count(o, &st, &c);
	resp.num_flows = c.num;
	resp.max_flows = c.max;
	resp.seen_flows = c.seen;
	resp.uptime_ns = st.uptime_ns;
	connected.value = 1;
	resp.num_connected_nodes = &connected;
	resp.num_unavailable_nodes = &unavailable;
	resp.version = (char *)"flowscope " FLOWSCOPE_VERSION;
	resp.flows_rate = c.rate;
	if (st.have_history) {
		hist.events = st.history.events;
		hist.bytes = st.history.bytes;
		hist.dropped = st.history.dropped;
		hist.lost = st.history.lost;
		hist.damaged_blocks = st.history.damaged_blocks;
		hist.state = st.history.state;
		oldest.seconds = (int64_t)(st.history.oldest_ns / NSEC_PER_SEC);
		oldest.nanos = (int32_t)(st.history.oldest_ns % NSEC_PER_SEC);
		newest.seconds = (int64_t)(st.history.newest_ns / NSEC_PER_SEC);
		newest.nanos = (int32_t)(st.history.newest_ns % NSEC_PER_SEC);
		hist.oldest = st.history.oldest_ns ? &oldest : NULL;
		hist.newest = st.history.newest_ns ? &newest : NULL;
		resp.history = &hist;
	}
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

/* This node as a relay lists it: connected, where it is reached (the advertised address) and
 * how (TLS and the name its certificate has). */
static void get_nodes(struct grpc_call *call, struct observer *o, const uint8_t *msg, size_t len)
{
	Observer__GetNodesResponse resp = OBSERVER__GET_NODES_RESPONSE__INIT;
	Observer__Node node = OBSERVER__NODE__INIT, *nodes[1] = {&node};
	Observer__TLS tls = OBSERVER__TLS__INIT;
	struct status st;
	struct counts c;

	if (!unpacks(call, &observer__get_nodes_request__descriptor, msg, len))
		return;
	status_collect(o->status, &st);
	count(o, &st, &c);
	node.name = (char *)st.node_name;
	node.version = (char *)"flowscope " FLOWSCOPE_VERSION;
	node.address = (char *)(o->address ? o->address : "");
	node.state = RELAY__NODE_STATE__NODE_CONNECTED;
	tls.enabled = o->tls_server_name != NULL;
	tls.server_name = (char *)(o->tls_server_name ? o->tls_server_name : "");
	node.tls = &tls;
	node.uptime_ns = st.uptime_ns;
	node.num_flows = c.num;
	node.max_flows = c.max;
	node.seen_flows = c.seen;
	resp.n_nodes = 1;
	resp.nodes = nodes;
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void observer_send_namespaces(struct grpc_call *call, char **names, size_t n)
{
	Observer__GetNamespacesResponse resp = OBSERVER__GET_NAMESPACES_RESPONSE__INIT;
	Observer__Namespace *ns = calloc(n ? n : 1, sizeof(*ns));
	Observer__Namespace **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	size_t i;

	if (!ns || !ptrs) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		if (resp.n_namespaces && !strcmp(names[i], ns[resp.n_namespaces - 1].namespace_))
			continue;
		observer__namespace__init(&ns[resp.n_namespaces]);
		ns[resp.n_namespaces].cluster = (char *)"";
		ns[resp.n_namespaces].namespace_ = names[i];
		ptrs[resp.n_namespaces] = &ns[resp.n_namespaces];
		resp.n_namespaces++;
	}
	resp.namespaces = ptrs;
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
out:
	free(ns);
	free(ptrs);
}

/* The namespaces of the identity file in force, each once, sorted. */
static void get_namespaces(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			   size_t len)
{
	const struct identity_table *t = identities_get();
	size_t n = identity_table_size(t), i, k = 0;
	char **names;

	(void)o;
	if (!unpacks(call, &observer__get_namespaces_request__descriptor, msg, len))
		return;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		const struct identity *id = identity_table_entry(t, i);

		if (id->ns[0])
			names[k++] = (char *)id->ns;
	}
	observer_send_namespaces(call, names, k);
	free(names);
}

/* ---- GetAgentEvents --------------------------------------------------------------------- */

/* A GetAgentEvents call: what it asked for and, when following, its subscription. */
struct agent_call {
	struct grpc_call *call;
	struct agent_events *events;
	struct agent_events_sub *sub;
	const char *node;
	uint64_t since_ns, until_ns, number;
	bool first, ended;
	const struct agent_event **sel; /* the replay's selection */
	uint64_t n_sel, count;
};

static void agent_call_free(void *arg)
{
	struct agent_call *a = arg;

	agent_events_unsubscribe(a->events, a->sub);
	free(a->sel);
	free(a);
}

static void send_agent_event(struct agent_call *a, const struct agent_event *ev)
{
	Observer__GetAgentEventsResponse resp = OBSERVER__GET_AGENT_EVENTS_RESPONSE__INIT;
	Flow__AgentEvent ae = FLOW__AGENT_EVENT__INIT;
	Flow__AgentEventUnknown unk = FLOW__AGENT_EVENT_UNKNOWN__INIT;
	Flow__TimeNotification tn = FLOW__TIME_NOTIFICATION__INIT;
	Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	t.seconds = (int64_t)(ev->time_ns / NSEC_PER_SEC);
	t.nanos = (int32_t)(ev->time_ns % NSEC_PER_SEC);
	ae.type = (Flow__AgentEventType)ev->type;
	if (ev->type == AGENT_EVENT_STARTED) {
		tn.time = &t;
		ae.notification_case = FLOW__AGENT_EVENT__NOTIFICATION_AGENT_START;
		ae.agent_start = &tn;
	} else {
		unk.type = (char *)ev->name;
		unk.notification = (char *)ev->text;
		ae.notification_case = FLOW__AGENT_EVENT__NOTIFICATION_UNKNOWN;
		ae.unknown = &unk;
	}
	resp.agent_event = &ae;
	resp.node_name = (char *)(ev->node[0] ? ev->node : a->node);
	resp.time = &t;
	grpc_call_send_msg(a->call, &resp.base);
}

static bool agent_wanted(const struct agent_call *a, const struct agent_event *ev)
{
	return (!a->since_ns || ev->time_ns >= a->since_ns) &&
	       (!a->until_ns || ev->time_ns <= a->until_ns);
}

/* The replay keeps the newest number (first: the oldest) matching events. */
static void agent_select(const struct agent_event *ev, void *arg)
{
	struct agent_call *a = arg;

	if (!agent_wanted(a, ev) || (a->first && a->count >= a->n_sel))
		return;
	a->sel[a->count++ % a->n_sel] = ev;
}

static void agent_live(const struct agent_event *ev, void *arg)
{
	struct agent_call *a = arg;

	if (a->ended)
		return;
	if (a->until_ns && ev->time_ns > a->until_ns) {
		a->ended = true;
		grpc_call_finish(a->call, GRPC_OK, NULL);
		return;
	}
	send_agent_event(a, ev);
}

static int agent_replay(struct agent_call *a, bool follow)
{
	uint64_t i, n, start;

	/* Like GetFlows: number N, or everything when there is no number and no follow (or a
	 * since); follow alone starts with what comes next. */
	a->n_sel = a->number ? a->number : (!follow || a->since_ns) ? UINT32_MAX : 0;
	if (!a->n_sel)
		return 0;
	if (a->n_sel > 4096)
		a->n_sel = 4096; /* more than the log holds */
	a->sel = calloc(a->n_sel, sizeof(*a->sel));
	if (!a->sel)
		return -ENOMEM;
	agent_events_foreach(a->events, agent_select, a);
	n = a->count < a->n_sel ? a->count : a->n_sel;
	start = a->count - n;
	for (i = 0; i < n; i++)
		send_agent_event(a, a->sel[(start + i) % a->n_sel]);
	return 0;
}

static void get_agent_events(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			     size_t len)
{
	Observer__GetAgentEventsRequest *req =
		observer__get_agent_events_request__unpack(NULL, len, msg);
	struct agent_call *a;
	bool follow;

	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse GetAgentEventsRequest");
		return;
	}
	if (req->first && req->follow) {
		observer__get_agent_events_request__free_unpacked(req, NULL);
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
				 "first cannot be combined with follow");
		return;
	}
	a = o->agent_events ? calloc(1, sizeof(*a)) : NULL;
	if (!a) {
		observer__get_agent_events_request__free_unpacked(req, NULL);
		grpc_call_finish(call, o->agent_events ? GRPC_RESOURCE_EXHAUSTED : GRPC_UNAVAILABLE,
				 o->agent_events ? "out of memory" : "agent events are not kept");
		return;
	}
	a->call = call;
	a->events = o->agent_events;
	a->node = o->node_name ? o->node_name : "";
	a->since_ns = ts_ns(req->since);
	a->until_ns = ts_ns(req->until);
	a->number = req->number;
	a->first = req->first;
	follow = req->follow;
	observer__get_agent_events_request__free_unpacked(req, NULL);
	grpc_call_set_service(call, a, &(struct grpc_call_ops){.svc_free = agent_call_free});
	if (agent_replay(a, follow)) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (!follow || (a->until_ns && a->until_ns < clock_wall_ns())) {
		grpc_call_finish(call, GRPC_OK, NULL);
		return;
	}
	a->sub = agent_events_subscribe(a->events, agent_live, a);
	if (!a->sub)
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

/* Flowscope has no datapath debug messages (Cilium's bpf debug output): say so, rather than
 * answer with a stream that never carries anything. */
static void get_debug_events(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			     size_t len)
{
	(void)o;
	if (unpacks(call, &observer__get_debug_events_request__descriptor, msg, len))
		grpc_call_finish(call, GRPC_UNIMPLEMENTED,
				 "flowscope's probes emit no datapath debug events");
}

static void health_check(struct grpc_call *call, struct observer *o, const uint8_t *msg, size_t len)
{
	Grpc__Health__V1__HealthCheckRequest *req =
		grpc__health__v1__health_check_request__unpack(NULL, len, msg);
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	(void)o;
	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse HealthCheckRequest");
		return;
	}
	if (req->service[0] && strcmp(req->service, "hubble.server.Observer") &&
	    strcmp(req->service, "observer.Observer")) {
		grpc_call_finish(call, GRPC_NOT_FOUND, "unknown service");
	} else {
		resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
		grpc_call_send_msg(call, &resp.base);
		grpc_call_finish(call, GRPC_OK, NULL);
	}
	grpc__health__v1__health_check_request__free_unpacked(req, NULL);
}

static void peer_notify(struct grpc_call *call, struct observer *o, const uint8_t *msg, size_t len)
{
	if (o->peers)
		peers_notify(o->peers, call, msg, len);
	else
		grpc_call_finish(call, GRPC_UNIMPLEMENTED, "this server keeps no peer list");
}

static void dispatch(struct grpc_call *call, const char *path, const uint8_t *msg, size_t len,
		     void *ctx)
{
	static const struct {
		const char *path;
		void (*fn)(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			   size_t len);
	} methods[] = {
		{"/observer.Observer/GetFlows", get_flows},
		{"/observer.Observer/ServerStatus", server_status},
		{"/observer.Observer/GetNodes", get_nodes},
		{"/observer.Observer/GetNamespaces", get_namespaces},
		{"/observer.Observer/GetAgentEvents", get_agent_events},
		{"/observer.Observer/GetDebugEvents", get_debug_events},
		{"/grpc.health.v1.Health/Check", health_check},
		{"/peer.Peer/Notify", peer_notify},
	};
	char m[200];
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!strcmp(path, methods[i].path)) {
			methods[i].fn(call, ctx, msg, len);
			return;
		}
	}
	snprintf(m, sizeof(m), "unknown method %s", path);
	grpc_call_finish(call, GRPC_UNIMPLEMENTED, m);
}

struct grpc_service observer_service(struct observer *o)
{
	return (struct grpc_service){.dispatch = dispatch, .ctx = o};
}
