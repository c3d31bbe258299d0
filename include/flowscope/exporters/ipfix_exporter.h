/* Ended flows exported to an IPFIX collector (RFC 7011) over UDP.
 *
 * Each ended flow (FLOW_EVENT_END) becomes up to two unidirectional IPFIX data records: one for
 * initiator -> responder (packets[0]/bytes[0], tcp_flags_seen[0]) and one for the reverse
 * direction with source and destination swapped (packets[1]/bytes[1], tcp_flags_seen[1]); a
 * direction without packets is skipped. Both records carry the flow's first_seen_ns as
 * flowStartMilliseconds and end_ns (last_seen_ns if 0) as flowEndMilliseconds.
 *
 * Templates: 256 for IPv4 and 257 for IPv6, each with sourceIPv{4,6}Address,
 * destinationIPv{4,6}Address, sourceTransportPort, destinationTransportPort, protocolIdentifier,
 * octetDeltaCount (8 bytes), packetDeltaCount (8 bytes), flowStartMilliseconds,
 * flowEndMilliseconds and tcpControlBits (2 bytes). Ports are 0 for protocols without ports
 * (ICMP included); tcpControlBits is 0 except for TCP. Both templates are sent in a template set
 * at the start of the first message and again in the first message built after
 * template_refresh_s seconds.
 *
 * Records are buffered into one message; it is sent (sendto(2), blocking) when the next record
 * would make it exceed 1400 bytes, and on ipfix_exporter_flush()/close. A message whose send
 * fails is dropped (counted in stats.send_errors; its templates are resent with the next one).
 * The message header's sequence number counts the data records sent before it in the domain.
 *
 * Not thread-safe: call everything from one thread. */
#ifndef FLOWSCOPE_IPFIX_EXPORTER_H
#define FLOWSCOPE_IPFIX_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"

struct ipfix_exporter;

struct ipfix_exporter_opts {
	const char *host;	     /* collector address (numeric IPv4/IPv6) */
	uint16_t port;		     /* 0: 4739 */
	uint32_t domain_id;	     /* observation domain; 0: 1 */
	uint32_t template_refresh_s; /* resend templates every N s over UDP; 0: 60 */
};

/* Creates the UDP socket. Returns 0 or a negative errno with a message in err. */
int ipfix_exporter_open(struct ipfix_exporter **out, const struct ipfix_exporter_opts *o, char *err,
			size_t errlen);
/* Exports a flow that ended (call it for FLOW_EVENT_END events; others are ignored and return 0):
 * one data record per direction that has packets. Buffered; the message is sent first when a
 * record would make it exceed ~1400 bytes. Returns 0 or a negative errno (-EINVAL for an unknown
 * family, or the error of sending the full message). */
int ipfix_exporter_add(struct ipfix_exporter *e, const struct flow *f);
/* Sends what is buffered (nothing if empty). Returns 0 or a negative errno. */
int ipfix_exporter_flush(struct ipfix_exporter *e);
/* Flushes and closes; NULL is ignored. */
void ipfix_exporter_close(struct ipfix_exporter *e);

struct ipfix_exporter_stats {
	uint64_t records;     /* data records sent */
	uint64_t messages;    /* messages sent */
	uint64_t send_errors; /* messages whose sendto(2) failed (their records are lost) */
};

void ipfix_exporter_get_stats(const struct ipfix_exporter *e, struct ipfix_exporter_stats *st);

#endif /* FLOWSCOPE_IPFIX_EXPORTER_H */
