/* observer.Observer and grpc.health.v1.Health (see include/flowscope/serve/observer.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/version.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/serve/observer.h"
#include "health.pb-c.h"
#include "observer.pb-c.h"

/* A GetFlows call: its follower, writing into the call's queue. */
struct get_flows {
	struct grpc_call *call;
	struct follower *fo;
};

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0)
		return 0;
	return (uint64_t)t->seconds * NSEC_PER_SEC + (uint64_t)t->nanos;
}

static int encode_flow(struct buf *out, const struct flow *f, const char *node, void *ctx)
{
	(void)ctx;
	return flow_pb_frame(out, f, node);
}

static int encode_lost(struct buf *out, uint64_t lost, const char *node, uint64_t now, void *ctx)
{
	(void)ctx;
	return flow_pb_lost_frame(out, FOLLOWER_LOST_SOURCE, lost, node, now);
}

static int push(void *ctx, const void *msg, size_t len, bool force)
{
	struct get_flows *g = ctx;

	return grpc_call_send_frame(g->call, msg, len, force);
}

static bool full(void *ctx)
{
	struct get_flows *g = ctx;

	return grpc_call_queued(g->call) >= grpc_call_queue_limit(g->call);
}

static void end(void *ctx)
{
	struct get_flows *g = ctx;

	grpc_call_finish(g->call, GRPC_OK, NULL);
}

static const struct follower_sink sink = {encode_flow, encode_lost, push, full, end};

static void get_flows_free(void *arg)
{
	struct get_flows *g = arg;

	follower_stop(g->fo);
	free(g);
}

static void get_flows_drained(struct grpc_call *call, void *svc)
{
	struct get_flows *g = svc;

	(void)call;
	if (g->fo)
		follower_poke(g->fo);
}

/* Hubble's request as a follower's: see the header. */
static int request(const Observer__GetFlowsRequest *req, struct follower_req *fr, struct errmsg *e)
{
	memset(fr, 0, sizeof(*fr));
	if (req->first && req->follow)
		return errmsg_set(e, -EINVAL, "first cannot be combined with follow");
	fr->since_ns = ts_ns(req->since);
	fr->until_ns = ts_ns(req->until);
	fr->follow = req->follow;
	fr->number = req->number;
	if (req->first && req->number)
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
	err = request(req, &fr, &e);
	observer__get_flows_request__free_unpacked(req, NULL);
	if (err) {
		grpc_call_finish(call,
				 err == -EINVAL ? GRPC_INVALID_ARGUMENT : GRPC_RESOURCE_EXHAUSTED,
				 errmsg_text(&e, err));
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		flow_filter_set_free(fr.filters);
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	g->call = call;
	grpc_call_set_service(call, g, get_flows_free);
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

static void server_status(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			  size_t len)
{
	Observer__ServerStatusResponse resp = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Google__Protobuf__UInt32Value connected = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__UInt32Value unavailable = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	struct status st;

	if (!unpacks(call, &observer__server_status_request__descriptor, msg, len))
		return;
	status_collect(o->status, &st);
	resp.num_flows = st.store.stored;
	resp.max_flows = st.store_capacity;
	resp.seen_flows = st.store.seen;
	resp.uptime_ns = st.uptime_ns;
	connected.value = 1;
	resp.num_connected_nodes = &connected;
	resp.num_unavailable_nodes = &unavailable;
	resp.version = (char *)"flowscope " FLOWSCOPE_VERSION;
	if (st.uptime_ns)
		resp.flows_rate = (double)st.store.seen / ((double)st.uptime_ns / 1e9);
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

static void get_nodes(struct grpc_call *call, struct observer *o, const uint8_t *msg, size_t len)
{
	Observer__GetNodesResponse resp = OBSERVER__GET_NODES_RESPONSE__INIT;
	Observer__Node node = OBSERVER__NODE__INIT, *nodes[1] = {&node};
	struct status st;

	if (!unpacks(call, &observer__get_nodes_request__descriptor, msg, len))
		return;
	status_collect(o->status, &st);
	node.name = (char *)st.node_name;
	node.version = (char *)"flowscope " FLOWSCOPE_VERSION;
	node.address = (char *)"";
	node.state = RELAY__NODE_STATE__NODE_CONNECTED;
	node.uptime_ns = st.uptime_ns;
	node.num_flows = st.store.stored;
	node.max_flows = st.store_capacity;
	node.seen_flows = st.store.seen;
	resp.n_nodes = 1;
	resp.nodes = nodes;
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The namespaces of the identity file in force, each once, sorted. */
static void get_namespaces(struct grpc_call *call, struct observer *o, const uint8_t *msg,
			   size_t len)
{
	Observer__GetNamespacesResponse resp = OBSERVER__GET_NAMESPACES_RESPONSE__INIT;
	const struct identity_table *t = identities_get();
	size_t n = identity_table_size(t), i, k = 0;
	Observer__Namespace *ns = calloc(n ? n : 1, sizeof(*ns));
	Observer__Namespace **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	char **names = calloc(n ? n : 1, sizeof(*names));

	(void)o;
	if (!ns || !ptrs || !names) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	if (!unpacks(call, &observer__get_namespaces_request__descriptor, msg, len))
		goto out;
	for (i = 0; i < n; i++) {
		const struct identity *id = identity_table_entry(t, i);

		if (id->ns[0])
			names[k++] = (char *)id->ns;
	}
	qsort(names, k, sizeof(*names), cmp_str);
	for (i = 0; i < k; i++) {
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
	free(names);
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
		{"/grpc.health.v1.Health/Check", health_check},
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
	return (struct grpc_service){.dispatch = dispatch, .drained = get_flows_drained, .ctx = o};
}
