/* The relay's Observer service (see include/flowscope/relay/service.h): ServerStatus, GetNodes
 * and GetNamespaces tell the cluster from the nodes' state; every other method (GetFlows over
 * the merged events, GetAgentEvents, health) is the flowd observer's, over the relay's hub. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/version.h"
#include "flowscope/relay/service.h"
#include "observer.pb-c.h"

#define MAX_LISTED 4096 /* nodes in one answer */

static bool unpacks(struct grpc_call *call, const ProtobufCMessageDescriptor *d, const uint8_t *msg,
		    size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, msg);

	if (!m) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse the request");
		return false;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return true;
}

/* The nodes now; NULL (the call finished) without memory. */
static struct relay_node_info *nodes_of(struct relay_service *rs, struct grpc_call *call, size_t *n)
{
	struct relay_node_info *v = calloc(MAX_LISTED, sizeof(*v));

	if (!v) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	*n = relay_nodes(rs->relay, v, MAX_LISTED);
	if (*n > MAX_LISTED)
		*n = MAX_LISTED;
	return v;
}

static void server_status(struct relay_service *rs, struct grpc_call *call, const uint8_t *msg,
			  size_t len)
{
	Observer__ServerStatusResponse resp = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Google__Protobuf__UInt32Value up = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__UInt32Value down = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	struct relay_node_info *v;
	char **names;
	size_t n, i;

	if (!unpacks(call, &observer__server_status_request__descriptor, msg, len) ||
	    !(v = nodes_of(rs, call, &n)))
		return;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names) {
		free(v);
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	/* Hubble's relay sums its nodes; unlike it, every unavailable node is listed. */
	for (i = 0; i < n; i++) {
		resp.num_flows += v[i].num_flows;
		resp.max_flows += v[i].max_flows;
		resp.seen_flows += v[i].seen_flows;
		resp.flows_rate += v[i].flows_rate;
		if (v[i].state == RELAY__NODE_STATE__NODE_CONNECTED)
			up.value++;
		else
			names[resp.n_unavailable_nodes++] = v[i].name;
	}
	resp.unavailable_nodes = names;
	down.value = (uint32_t)resp.n_unavailable_nodes;
	resp.num_connected_nodes = &up;
	resp.num_unavailable_nodes = &down;
	resp.uptime_ns = clock_wall_ns() - rs->start_ns;
	resp.version = (char *)"flowscope-relay " FLOWSCOPE_VERSION;
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
	free(names);
	free(v);
}

static void get_nodes(struct relay_service *rs, struct grpc_call *call, const uint8_t *msg,
		      size_t len)
{
	Observer__GetNodesResponse resp = OBSERVER__GET_NODES_RESPONSE__INIT;
	struct relay_node_info *v;
	Observer__Node *nodes, **ptrs;
	Observer__TLS *tls;
	size_t n, i;

	if (!unpacks(call, &observer__get_nodes_request__descriptor, msg, len) ||
	    !(v = nodes_of(rs, call, &n)))
		return;
	nodes = calloc(n ? n : 1, sizeof(*nodes));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	tls = calloc(n ? n : 1, sizeof(*tls));
	if (!nodes || !ptrs || !tls) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		observer__node__init(&nodes[i]);
		observer__tls__init(&tls[i]);
		nodes[i].name = v[i].name;
		nodes[i].version = v[i].version;
		nodes[i].address = v[i].address;
		nodes[i].state = (Relay__NodeState)v[i].state;
		tls[i].enabled = v[i].tls;
		nodes[i].tls = &tls[i];
		nodes[i].uptime_ns = v[i].uptime_ns;
		nodes[i].num_flows = v[i].num_flows;
		nodes[i].max_flows = v[i].max_flows;
		nodes[i].seen_flows = v[i].seen_flows;
		ptrs[i] = &nodes[i];
	}
	resp.nodes = ptrs;
	resp.n_nodes = n;
	grpc_call_send_msg(call, &resp.base);
	grpc_call_finish(call, GRPC_OK, NULL);
out:
	free(nodes);
	free(ptrs);
	free(tls);
	free(v);
}

/* Every node's namespaces, each once, sorted. */
static void get_namespaces(struct relay_service *rs, struct grpc_call *call, const uint8_t *msg,
			   size_t len)
{
	struct relay_node_info *v;
	char **names = NULL, *save;
	size_t n, i, k = 0, cap = 0;

	if (!unpacks(call, &observer__get_namespaces_request__descriptor, msg, len) ||
	    !(v = nodes_of(rs, call, &n)))
		return;
	for (i = 0; i < n; i++) {
		char *tok;

		for (tok = strtok_r(v[i].namespaces, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			if (k == cap) {
				char **g = realloc(names, (cap ? cap * 2 : 64) * sizeof(*g));

				if (!g)
					break;
				names = g;
				cap = cap ? cap * 2 : 64;
			}
			names[k++] = tok;
		}
	}
	observer_send_namespaces(call, names, k);
	free(names);
	free(v);
}

static void dispatch(struct grpc_call *call, const char *path, const uint8_t *msg, size_t len,
		     void *ctx)
{
	struct relay_service *rs = ctx;

	if (!strcmp(path, "/observer.Observer/ServerStatus"))
		server_status(rs, call, msg, len);
	else if (!strcmp(path, "/observer.Observer/GetNodes"))
		get_nodes(rs, call, msg, len);
	else if (!strcmp(path, "/observer.Observer/GetNamespaces"))
		get_namespaces(rs, call, msg, len);
	else
		rs->inner.dispatch(call, path, msg, len, rs->inner.ctx);
}

struct grpc_service relay_service(struct relay_service *rs)
{
	rs->inner = observer_service(rs->observer);
	rs->start_ns = clock_wall_ns();
	return (struct grpc_service){.dispatch = dispatch, .ctx = rs};
}

int relay_nodes_json(struct buf *out, const struct relay *r)
{
	struct relay_node_info *v = calloc(MAX_LISTED, sizeof(*v));
	static const char *const states[] = {"UNKNOWN", "CONNECTED", "UNAVAILABLE", "GONE",
					     "ERROR"};
	size_t n, i;
	int err = 0;

	if (!v)
		return -ENOMEM;
	n = relay_nodes(r, v, MAX_LISTED);
	n = n > MAX_LISTED ? MAX_LISTED : n;
	err = buf_append(out, "{\"nodes\":[", 10);
	for (i = 0; i < n && !err; i++) {
		const struct relay_node_info *x = &v[i];

		err = buf_printf(out, "%s{\"name\":", i ? "," : "");
		err = err ?: buf_json_str(out, x->name, strlen(x->name));
		err = err ?: buf_printf(out, ",\"address\":");
		err = err ?: buf_json_str(out, x->address, strlen(x->address));
		err = err
			      ?: buf_printf(out, ",\"state\":\"%s\",\"message\":",
					    states[x->state >= 0 && x->state < 5 ? x->state : 0]);
		err = err ?: buf_json_str(out, x->message, strlen(x->message));
		err = err ?: buf_printf(out, ",\"version\":");
		err = err ?: buf_json_str(out, x->version, strlen(x->version));
		err = err
			      ?: buf_printf(
					 out,
					 ",\"tls\":%s,\"uptime_ns\":%llu,\"num_flows\":%llu,"
					 "\"max_flows\":%llu,\"seen_flows\":%llu,\"flows_rate\":%.1f,"
					 "\"events\":%llu,\"late\":%llu,\"lost\":%llu,"
					 "\"connects\":%llu,\"lag_ms\":%.1f}",
					 x->tls ? "true" : "false",
					 (unsigned long long)x->uptime_ns,
					 (unsigned long long)x->num_flows,
					 (unsigned long long)x->max_flows,
					 (unsigned long long)x->seen_flows, x->flows_rate,
					 (unsigned long long)x->events, (unsigned long long)x->late,
					 (unsigned long long)x->lost,
					 (unsigned long long)x->connects, (double)x->lag_ns / 1e6);
	}
	err = err ?: buf_append(out, "]}", 2);
	free(v);
	return err;
}
