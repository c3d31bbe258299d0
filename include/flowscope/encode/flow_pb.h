/* Turns collector flows into Hubble's observer.GetFlowsResponse (protobuf-c, proto/) and writes
 * them as canonical protobuf JSON lines or as length-prefixed protobuf frames. */
#ifndef FLOWSCOPE_FLOW_PB_H
#define FLOWSCOPE_FLOW_PB_H

#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/flow.h"
#include "observer.pb-c.h"

/* Appends one line: the canonical protobuf JSON of the GetFlowsResponse for f, then '\n'.
 * Returns 0 or a negative errno. */
int flow_pb_json_line(struct buf *out, const struct flow *f, const char *node_name);

/* Appends a GetFlowsResponse for f framed like a gRPC message: a zero byte, the 4-byte
 * big-endian length, the serialized message. Returns 0 or a negative errno. */
int flow_pb_frame(struct buf *out, const struct flow *f, const char *node_name);

/* The same two for a GetFlowsResponse carrying lost_events (source, count). */
int flow_pb_lost_json_line(struct buf *out, int source, uint64_t count, const char *node_name,
			   uint64_t time_ns);
int flow_pb_lost_frame(struct buf *out, int source, uint64_t count, const char *node_name,
		       uint64_t time_ns);

/* Builds a heap GetFlowsResponse for f; free it with flow_pb_response_free(). NULL on ENOMEM. */
Observer__GetFlowsResponse *flow_pb_response_new(const struct flow *f, const char *node_name);
void flow_pb_response_free(Observer__GetFlowsResponse *r);

#endif /* FLOWSCOPE_FLOW_PB_H */
