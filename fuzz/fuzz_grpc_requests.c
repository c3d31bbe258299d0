/* Fuzz target: the request messages of every gRPC method flowd and flowrelay serve, as a client
 * sends them (the first byte picks the method): protobuf-c's unpack, then for GetFlows what the
 * Observer service does with a request before it starts a follower - its FlowFilters compiled,
 * its field mask, its resume point. Every message decoded (unknown fields too) is packed again
 * by pb_pack and by protobuf-c: the same bytes. */
#include "fuzz.h"

#include "flowscope/encode/flow_pb.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/flow.h"
#include "flowscope/pipeline/flow_view.h"
#include "health.pb-c.h"
#include "observer.pb-c.h"
#include "peer.pb-c.h"

static void get_flows(const uint8_t *p, size_t n)
{
	Observer__GetFlowsRequest *req = observer__get_flows_request__unpack(NULL, n, p);
	const Google__Protobuf__FieldMask *fm;
	struct flow_pb_mask *mask = NULL;
	struct flow_filter_set *fs;
	struct errmsg e = {""};
	uint8_t uuid[16];

	if (!req)
		return;
	fuzz_same_pack(&req->base);
	fs = flow_filter_set_new(req->whitelist, req->n_whitelist, req->blacklist, req->n_blacklist,
				 &e);
	flow_filter_set_free(fs);
	fm = req->field_mask;
	if ((!fm || !fm->n_paths) && req->experimental)
		fm = req->experimental->field_mask;
	if (fm && flow_pb_mask_from_paths(fm->paths, fm->n_paths, &mask, &e) == 0)
		flow_pb_mask_free(mask);
	(void)flow_uuid_parse(req->resume_after, uuid);
	observer__get_flows_request__free_unpacked(req, NULL);
}

static const ProtobufCMessageDescriptor *const others[] = {
	&observer__get_agent_events_request__descriptor,
	&observer__get_debug_events_request__descriptor,
	&observer__server_status_request__descriptor,
	&observer__get_nodes_request__descriptor,
	&observer__get_namespaces_request__descriptor,
	&grpc__health__v1__health_check_request__descriptor,
	&peer__notify_request__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t which;
	ProtobufCMessage *m;

	if (!size)
		return 0;
	fuzz_quiet();
	which = data[0] % (1 + sizeof(others) / sizeof(others[0]));
	if (!which) {
		get_flows(data + 1, size - 1);
		return 0;
	}
	m = protobuf_c_message_unpack(others[which - 1], NULL, size - 1, data + 1);
	if (m) {
		fuzz_same_pack(m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return 0;
}
