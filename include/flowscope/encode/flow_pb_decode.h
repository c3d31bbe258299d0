/* The inverse of flow_pb.c: a Flow protobuf (from a file, or from another node's stream) back
 * into the collector's struct flow, for flowd's own filter code and for the relay. */
#ifndef FLOWSCOPE_ENCODE_FLOW_PB_DECODE_H
#define FLOWSCOPE_ENCODE_FLOW_PB_DECODE_H

#include "flowscope/flow.h"
#include "flow.pb-c.h"

/* The collector flow a Flow proto describes (addresses, ports, protocol, direction, reply,
 * verdict, flags (the event's and every flag seen), event, observation point, drop, DNS record,
 * names, processes, counters, uuid, interface, copy), oriented initiator -> responder as the
 * collector keeps it. Strings point into pb, but the DNS query and the processes point to
 * buffers of this thread's that the next call overwrites. Returns 0, or -EINVAL for a flow without
 * addresses. */
int flow_pb_to_flow(const Flow__Flow *pb, struct flow *f);

/* Hubble's nine TCP flag bools as FLOW_TCP_* bits. */
uint16_t flow_pb_tcp_bits(const Flow__TCPFlags *t);

#endif /* FLOWSCOPE_ENCODE_FLOW_PB_DECODE_H */
