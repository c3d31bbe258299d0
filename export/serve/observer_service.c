/* observer.Observer (GetFlows, ServerStatus, GetNodes, GetNamespaces) and grpc.health.v1.Health
 * served from the collector's store and bus, with Hubble's request semantics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowscope/base/buf.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/serve/observer_service.h"
#include "health.pb-c.h"
#include "observer.pb-c.h"

#define FLOWSCOPE_VERSION "0.1.0"
#define NSEC_PER_SEC 1000000000ULL
/* Hubble's LostEventSource: events dropped on the way to this client. */
#define LOST_SOURCE_OBSERVER_QUEUE 2

struct get_flows {
	struct grpc_call *call;
	struct collector *col;
	struct flow_filter_set *filters;
	struct flow_bus_sub *sub;
	uint64_t since_ns, until_ns; /* 0: unbounded */
	uint64_t lost;		     /* flows dropped since the last lost event */
	uint64_t lost_sent_ns;	     /* when the last lost event was queued */
	struct buf frame;
};

static uint64_t now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0)
		return 0;
	return (uint64_t)t->seconds * NSEC_PER_SEC + (uint64_t)t->nanos;
}

static void get_flows_free(void *arg)
{
	struct get_flows *g = arg;

	if (g->sub)
		flow_bus_unsubscribe(g->col->bus, g->sub);
	flow_filter_set_free(g->filters);
	buf_free(&g->frame);
	free(g);
}

static bool wanted(struct get_flows *g, const struct flow *f)
{
	if (g->since_ns && f->time_ns < g->since_ns)
		return false;
	if (g->until_ns && f->time_ns > g->until_ns)
		return false;
	return flow_filter_set_match(g->filters, f, g->col->node_name);
}

/* Lost events skip filters, don't count toward number and go out at most once a second. */
static void maybe_send_lost(struct get_flows *g)
{
	uint64_t now;

	if (!g->lost)
		return;
	now = now_wall_ns();
	if (now - g->lost_sent_ns < NSEC_PER_SEC)
		return;
	buf_reset(&g->frame);
	if (flow_pb_lost_frame(&g->frame, LOST_SOURCE_OBSERVER_QUEUE, g->lost, g->col->node_name,
			       now))
		return;
	if (grpc_call_send_frame(g->call, g->frame.data, g->frame.len, true) == 0) {
		g->lost = 0;
		g->lost_sent_ns = now;
	}
}

/* A flow the client could not take: for its next LostEvent, the gRPC total and its own
 * counter in /metrics. */
static void count_lost(struct get_flows *g)
{
	g->lost++;
	g->col->metrics.follower_lost_grpc++;
	flow_bus_sub_lost(g->sub, 1);
}

static void on_flow(const struct flow *f, void *arg)
{
	struct get_flows *g = arg;
	int err;

	if (g->until_ns && f->time_ns > g->until_ns) {
		flow_bus_unsubscribe(g->col->bus, g->sub);
		g->sub = NULL;
		grpc_call_finish(g->call, GRPC_OK, NULL);
		return;
	}
	if (!wanted(g, f))
		return;
	if (grpc_call_queued(g->call) >= grpc_call_queue_limit(g->call)) {
		count_lost(g);
		return;
	}
	maybe_send_lost(g);
	buf_reset(&g->frame);
	if (flow_pb_frame(&g->frame, f, g->col->node_name)) {
		count_lost(g);
		return;
	}
	err = grpc_call_send_frame(g->call, g->frame.data, g->frame.len, false);
	if (err == -ENOBUFS || err == -ENOMEM) {
		count_lost(g);
	}
}

void observer_service_drained(struct grpc_call *call, void *svc)
{
	(void)call;
	maybe_send_lost(svc);
}

struct replay {
	struct get_flows *g;
	const struct flow **ring; /* the newest `number` matches, for last-N */
	uint64_t number, count;
	bool first;
	int err;
};

static int send_flow(struct get_flows *g, const struct flow *f)
{
	buf_reset(&g->frame);
	if (flow_pb_frame(&g->frame, f, g->col->node_name))
		return -ENOMEM;
	return grpc_call_send_frame(g->call, g->frame.data, g->frame.len, true);
}

static int replay_one(const struct flow *f, void *arg)
{
	struct replay *r = arg;

	if (!wanted(r->g, f))
		return 0;
	if (r->ring) {
		r->ring[r->count % r->number] = f;
		r->count++;
		return 0;
	}
	r->err = send_flow(r->g, f);
	if (r->err)
		return 1;
	r->count++;
	return r->first && r->number && r->count >= r->number ? 1 : 0;
}

static void get_flows(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct collector *col = grpc_call_collector(call);
	Observer__GetFlowsRequest *req;
	struct replay r = {0};
	struct get_flows *g;
	char err[256];
	uint64_t i, n;

	req = observer__get_flows_request__unpack(NULL, len, msg);
	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse GetFlowsRequest");
		return;
	}
	if (req->first && req->follow) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
				 "first cannot be combined with follow");
		goto out;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	g->call = call;
	g->col = col;
	grpc_call_set_service(call, g, get_flows_free);
	g->since_ns = ts_ns(req->since);
	g->until_ns = ts_ns(req->until);
	if (g->since_ns && g->until_ns && g->until_ns < g->since_ns) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "until is before since");
		goto out;
	}
	if (req->n_whitelist || req->n_blacklist) {
		g->filters = flow_filter_set_new(req->whitelist, req->n_whitelist, req->blacklist,
						 req->n_blacklist, err, sizeof(err));
		if (!g->filters) {
			grpc_call_finish(call,
					 errno == EINVAL ? GRPC_INVALID_ARGUMENT
							 : GRPC_RESOURCE_EXHAUSTED,
					 err[0] ? err : "cannot compile filters");
			goto out;
		}
	}

	/* Replay from the store: `first` N oldest, else the N newest; follow alone replays
	 * nothing unless `since` asks for it; no number and no follow means everything. */
	r.g = g;
	r.number = req->number;
	r.first = req->first;
	if (!req->first && req->number) {
		r.ring = calloc(req->number < flow_store_capacity(col->store)
					? req->number
					: flow_store_capacity(col->store),
				sizeof(*r.ring));
		if (!r.ring) {
			grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
			goto out;
		}
		if (r.number > flow_store_capacity(col->store))
			r.number = flow_store_capacity(col->store);
	}
	if (req->number || !req->follow || g->since_ns)
		flow_store_foreach_last(col->store, flow_store_capacity(col->store), replay_one,
					&r);
	if (r.ring) {
		n = r.count < r.number ? r.count : r.number;
		for (i = r.count - n; i < r.count && !r.err; i++)
			r.err = send_flow(g, r.ring[i % r.number]);
		free(r.ring);
	}
	if (r.err) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	if (!req->follow || (g->until_ns && g->until_ns < now_wall_ns())) {
		grpc_call_finish(call, GRPC_OK, NULL);
		goto out;
	}
	g->sub = flow_bus_subscribe(col->bus, on_flow, g);
	if (g->sub) {
		static unsigned long next_id;
		char name[32];

		snprintf(name, sizeof(name), "grpc-%lu", ++next_id);
		flow_bus_sub_set_name(g->sub, name);
	}
	if (!g->sub)
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
out:
	observer__get_flows_request__free_unpacked(req, NULL);
}

static void server_status(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct collector *col = grpc_call_collector(call);
	Observer__ServerStatusRequest *req =
		observer__server_status_request__unpack(NULL, len, msg);
	Observer__ServerStatusResponse resp = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Google__Protobuf__UInt32Value connected = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__UInt32Value unavailable = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	struct flow_store_stats st;
	uint64_t now = now_wall_ns();

	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse ServerStatusRequest");
		return;
	}
	observer__server_status_request__free_unpacked(req, NULL);
	flow_store_get_stats(col->store, &st);
	resp.num_flows = st.stored;
	resp.max_flows = flow_store_capacity(col->store);
	resp.seen_flows = st.seen;
	resp.uptime_ns = now > col->start_wall_ns ? now - col->start_wall_ns : 0;
	connected.value = 1;
	unavailable.value = 0;
	resp.num_connected_nodes = &connected;
	resp.num_unavailable_nodes = &unavailable;
	resp.version = (char *)"flowscope " FLOWSCOPE_VERSION;
	if (resp.uptime_ns)
		resp.flows_rate = (double)st.seen / ((double)resp.uptime_ns / 1e9);
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

static void get_nodes(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct collector *col = grpc_call_collector(call);
	Observer__GetNodesRequest *req = observer__get_nodes_request__unpack(NULL, len, msg);
	Observer__GetNodesResponse resp = OBSERVER__GET_NODES_RESPONSE__INIT;
	Observer__Node node = OBSERVER__NODE__INIT, *nodes[1] = {&node};
	struct flow_store_stats st;
	uint64_t now = now_wall_ns();

	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse GetNodesRequest");
		return;
	}
	observer__get_nodes_request__free_unpacked(req, NULL);
	flow_store_get_stats(col->store, &st);
	node.name = col->node_name;
	node.version = (char *)"flowscope " FLOWSCOPE_VERSION;
	node.address = (char *)"";
	node.state = RELAY__NODE_STATE__NODE_CONNECTED;
	node.uptime_ns = now > col->start_wall_ns ? now - col->start_wall_ns : 0;
	node.num_flows = st.stored;
	node.max_flows = flow_store_capacity(col->store);
	node.seen_flows = st.seen;
	resp.n_nodes = 1;
	resp.nodes = nodes;
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

static void get_namespaces(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	Observer__GetNamespacesRequest *req =
		observer__get_namespaces_request__unpack(NULL, len, msg);
	Observer__GetNamespacesResponse resp = OBSERVER__GET_NAMESPACES_RESPONSE__INIT;

	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse GetNamespacesRequest");
		return;
	}
	observer__get_namespaces_request__free_unpacked(req, NULL);
	/* Flows carry no Kubernetes namespaces yet: the honest answer is an empty list. */
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
}

static void health_check(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	Grpc__Health__V1__HealthCheckRequest *req =
		grpc__health__v1__health_check_request__unpack(NULL, len, msg);
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

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

void observer_service_dispatch(struct grpc_call *call, const char *path, const uint8_t *msg,
			       size_t len)
{
	static const struct {
		const char *path;
		void (*fn)(struct grpc_call *call, const uint8_t *msg, size_t len);
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
			methods[i].fn(call, msg, len);
			return;
		}
	}
	snprintf(m, sizeof(m), "unknown method %s", path);
	grpc_call_finish(call, GRPC_UNIMPLEMENTED, m);
}
