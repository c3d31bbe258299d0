/* Fuzz target: what a relay decodes from an agent (any peer it follows, or one that answers in
 * its place): a GetFlowsResponse made the relay's own flow as relay/node.c and relay.c do it
 * (flow_pb_to_flow, its strings and identities interned), then encoded again as the relay serves
 * it (gRPC frame and JSON); the first byte picks instead one of the other answers it reads
 * (ServerStatus, GetNodes, GetNamespaces, peer ChangeNotification). */
#include "fuzz.h"

#include "../relay/intern.h"
#include "flowscope/base/buf.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/encode/flow_pb_decode.h"
#include "observer.pb-c.h"
#include "peer.pb-c.h"

static void adopt_and_encode(const Flow__Flow *pb, struct flow *f)
{
	struct intern *in = intern_new(64);
	bool reply = f->is_reply;
	struct buf out = {0};

	if (!in)
		abort();
	f->src_name = intern_str(in, f->src_name);
	f->dst_name = intern_str(in, f->dst_name);
	if (f->dns.query)
		f->dns.query = intern_str(in, f->dns.query);
	f->src_proc = intern_process(in, f->src_proc);
	f->dst_proc = intern_process(in, f->dst_proc);
	f->src_id = intern_identity(in, reply ? pb->destination : pb->source,
				    reply ? pb->destination_service : pb->source_service);
	f->dst_id = intern_identity(in, reply ? pb->source : pb->destination,
				    reply ? pb->source_service : pb->destination_service);
	(void)flow_pb_frame(&out, f, pb->node_name);
	buf_reset(&out);
	(void)flow_pb_json_line(&out, f, pb->node_name);
	buf_free(&out);
	intern_free(in);
}

static const ProtobufCMessageDescriptor *const others[] = {
	&observer__server_status_response__descriptor,
	&observer__get_nodes_response__descriptor,
	&observer__get_namespaces_response__descriptor,
	&peer__change_notification__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Observer__GetFlowsResponse *r;
	ProtobufCMessage *m;
	struct flow f;
	size_t which;

	if (!size)
		return 0;
	fuzz_quiet();
	which = data[0] % (1 + sizeof(others) / sizeof(others[0]));
	if (which) {
		m = protobuf_c_message_unpack(others[which - 1], NULL, size - 1, data + 1);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		return 0;
	}
	r = observer__get_flows_response__unpack(NULL, size - 1, data + 1);
	if (!r)
		return 0;
	memset(&f, 0, sizeof(f));
	if (r->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW &&
	    !flow_pb_to_flow(r->flow, &f))
		adopt_and_encode(r->flow, &f);
	observer__get_flows_response__free_unpacked(r, NULL);
	return 0;
}
