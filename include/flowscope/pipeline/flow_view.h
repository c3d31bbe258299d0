/* Hubble's view of a flow event, derived in one place for the encoders and the filters: its
 * Cilium event type and sub type, its trace observation point, its drop reason code and its
 * uuid. A TC event is a trace at its observation point, a DROP event a drop with Cilium's drop
 * reason, a DNS event an L7 record. */
#ifndef FLOWSCOPE_PIPELINE_FLOW_VIEW_H
#define FLOWSCOPE_PIPELINE_FLOW_VIEW_H

#include <stdbool.h>
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

/* A collector's uuid: the first 8 bytes are its session (its random id, with the version
 * bits), the last 8 the event's number (62 bits under the variant bits), so that a uuid a
 * client got says which flowd run published it and where in that run's sequence it was. */
#define FLOW_UUID_SESSION_LEN 8
#define FLOW_UUID_SEQ_MAX ((1ULL << 62) - 1)
/* The event number of uuid u; -EINVAL when u is not of the collector's form (not a version 4
 * RFC 4122 uuid). */
int flow_uuid_seq(const uint8_t u[16], uint64_t *seq);
/* Were a and b published by the same collector run? */
bool flow_uuid_same_session(const uint8_t a[16], const uint8_t b[16]);

#endif /* FLOWSCOPE_PIPELINE_FLOW_VIEW_H */
