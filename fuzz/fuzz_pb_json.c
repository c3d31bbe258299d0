/* Fuzz target: protobuf JSON as flowctl reads it from users: --input-file lines (GetFlowsResponse
 * as hubble observe -o jsonpb writes them, unknown fields skipped, each flow turned back into a
 * collector flow) and --allowlist/--denylist values (FlowFilter objects, several in one text,
 * compiled as filters). The first byte picks. Every message read is packed by pb_pack and by
 * protobuf-c: the same bytes. */
#include "fuzz.h"

#include "flowscope/encode/flow_pb_decode.h"
#include "flowscope/encode/pb_json_parse.h"
#include "flowscope/filter/flow_filter.h"
#include "observer.pb-c.h"

static void response_line(const char *text, size_t len)
{
	struct pb_json_parse_opts o = {.ignore_unknown = true};
	ProtobufCMessage *m = NULL;
	Observer__GetFlowsResponse *r;
	struct errmsg e = {""};
	struct flow f;

	if (pb_json_parse(&observer__get_flows_response__descriptor, text, len, &o, &m, NULL, &e))
		return;
	fuzz_same_pack(m);
	r = (Observer__GetFlowsResponse *)m;
	if (r->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW)
		(void)flow_pb_to_flow(r->flow, &f);
	protobuf_c_message_free_unpacked(m, NULL);
}

#define MAX_FILTERS 16

static void filters(const char *text, size_t len)
{
	Flow__FlowFilter *v[MAX_FILTERS];
	struct errmsg e = {""};
	size_t n = 0, off = 0, end, i;
	struct flow_filter_set *fs;

	while (n < MAX_FILTERS && off < len) {
		ProtobufCMessage *m = NULL;

		while (off < len && memchr(" \t\r\n", text[off], 4))
			off++;
		if (off == len || pb_json_parse(&flow__flow_filter__descriptor, text + off,
						len - off, NULL, &m, &end, &e))
			break;
		fuzz_same_pack(m);
		v[n++] = (Flow__FlowFilter *)m;
		off += end;
	}
	fs = flow_filter_set_new(v, n, NULL, 0, &e);
	flow_filter_set_free(fs);
	for (i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&v[i]->base, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	fuzz_quiet();
	if (data[0] & 1)
		filters((const char *)data + 1, size - 1);
	else
		response_line((const char *)data + 1, size - 1);
	return 0;
}
