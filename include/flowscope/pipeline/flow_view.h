/* Hubble's view of a flow event, derived in one place for the encoders and the filters: its
 * Cilium event type and sub type, its trace observation point, its drop reason code and its
 * uuid. A TC event is a trace at its observation point, a DROP event a drop with Cilium's drop
 * reason, a DNS event an L7 record. */
#ifndef FLOWSCOPE_PIPELINE_FLOW_VIEW_H
#define FLOWSCOPE_PIPELINE_FLOW_VIEW_H

#include <stdint.h>

#include "flowscope/flow.h"

/* Hubble's event_type of f: type (enum flow_msg_type) and sub type. */
void flow_event_type(const struct flow *f, int32_t *type, int32_t *sub_type);

/* flow.TraceObservationPoint of a trace event (TO_ENDPOINT is 101 in that enum, 0 in Cilium's
 * monitor API), 0 (UNKNOWN_POINT) for events that are not traces. */
int flow_trace_point(const struct flow *f);

/* flow.DropReason of a flow with drops (its latest kernel reason mapped to Cilium's code), 0
 * when it has none. */
int flow_drop_code(const struct flow *f);

/* The event's uuid in the 8-4-4-4-12 form, NUL-terminated. */
#define FLOW_UUID_STR_LEN 37
void flow_uuid_str(const struct flow *f, char out[FLOW_UUID_STR_LEN]);

/* Parses the 8-4-4-4-12 form (any case) into 16 bytes: 0, or -EINVAL. */
int flow_uuid_parse(const char *s, uint8_t out[16]);

#endif /* FLOWSCOPE_PIPELINE_FLOW_VIEW_H */
