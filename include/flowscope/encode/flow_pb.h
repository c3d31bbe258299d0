/* Turns collector flows into Hubble's observer.GetFlowsResponse (protobuf-c, proto/) and writes
 * them as canonical protobuf JSON lines or as length-prefixed protobuf frames. */
#ifndef FLOWSCOPE_ENCODE_FLOW_PB_H
#define FLOWSCOPE_ENCODE_FLOW_PB_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/flow.h"
#include "observer.pb-c.h"

/* The node's labels ("key=value"), put on every flow (Flow.node_labels); the strings are kept
 * by pointer. */
void flow_pb_set_node_labels(char **labels, size_t n);

/* Appends one line: the canonical protobuf JSON of the GetFlowsResponse for f, then '\n'.
 * Returns 0 or a negative errno. */
int flow_pb_json_line(struct buf *out, const struct flow *f, const char *node_name);

/* Appends a GetFlowsResponse for f framed as one gRPC message (base/grpc_frame.h). Returns 0 or
 * a negative errno. */
int flow_pb_frame(struct buf *out, const struct flow *f, const char *node_name);

/* The same two for a GetFlowsResponse carrying lost_events (source, count). */
int flow_pb_lost_json_line(struct buf *out, int source, uint64_t count, const char *node_name,
			   uint64_t time_ns);
int flow_pb_lost_frame(struct buf *out, int source, uint64_t count, const char *node_name,
		       uint64_t time_ns);

/* The same two for a GetFlowsResponse carrying a relay's NodeStatusEvent: state
 * (relay.NodeState), the nodes it is about and why. */
int flow_pb_node_status_frame(struct buf *out, int state, const char *const *names, size_t n,
			      const char *message, const char *node_name, uint64_t time_ns);
int flow_pb_node_status_json_line(struct buf *out, int state, const char *const *names, size_t n,
				  const char *message, const char *node_name, uint64_t time_ns);

/* A field mask: the fields of flow.Flow to keep, by proto name as the JSON has them, nested
 * with dots as in google.protobuf.FieldMask ("time,verdict,IP.source,l4,source.identity";
 * spaces around names are ignored; an unknown or empty name is -EINVAL with e set). NULL or ""
 * gives no mask (*out NULL). */
struct flow_pb_mask;
int flow_pb_mask_new(const char *fields, struct flow_pb_mask **out, struct errmsg *e);
/* The same from a FieldMask's paths; no paths gives no mask. */
int flow_pb_mask_from_paths(char *const *paths, size_t n, struct flow_pb_mask **out,
			    struct errmsg *e);
void flow_pb_mask_free(struct flow_pb_mask *m);

/* flow_pb_json_line() with only the mask's fields in the flow (the response's own node_name
 * and time stay); a NULL mask keeps everything. */
int flow_pb_json_line_masked(struct buf *out, const struct flow *f, const char *node_name,
			     const struct flow_pb_mask *m);
/* flow_pb_frame() with only the mask's fields. */
int flow_pb_frame_masked(struct buf *out, const struct flow *f, const char *node_name,
			 const struct flow_pb_mask *m);

#endif /* FLOWSCOPE_ENCODE_FLOW_PB_H */
