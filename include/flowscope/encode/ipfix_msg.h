/* IPFIX (RFC 7011) messages of flow records built in a fixed buffer, independent of any socket.
 *
 * A message is the 16-byte header, optionally the template set (set id 2) with templates 256
 * (IPv4) and 257 (IPv6), then data sets: a new set whenever the template changes from one record
 * to the next. Both templates have the fields sourceIPv{4,6}Address, destinationIPv{4,6}Address,
 * sourceTransportPort, destinationTransportPort, protocolIdentifier, octetDeltaCount (8 bytes),
 * packetDeltaCount (8 bytes), flowStartMilliseconds, flowEndMilliseconds and tcpControlBits
 * (2 bytes), in that order. Ports are 0 for protocols without ports (ICMP included);
 * tcpControlBits is 0 except for TCP. Everything is big-endian on the wire.
 *
 * Use: ipfix_msg_begin(), ipfix_msg_add() until it returns -ENOSPC, ipfix_msg_finish(), send
 * buf[0..len), begin the next message and add the record that did not fit. */
#ifndef FLOWSCOPE_ENCODE_IPFIX_MSG_H
#define FLOWSCOPE_ENCODE_IPFIX_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"

#define IPFIX_MSG_MAX 1400 /* bytes in a message at most: fits a UDP datagram on most paths */

#define IPFIX_MSG_TMPL_V4 256
#define IPFIX_MSG_TMPL_V6 257

/* A message being built. A value type; callers read buf, len, n_records and has_templates and
 * change nothing directly. */
struct ipfix_msg {
	uint8_t buf[IPFIX_MSG_MAX];
	size_t len;		/* bytes used in buf; 0 before ipfix_msg_begin() */
	size_t set_off;		/* offset of the open data set's header (0: none) */
	uint16_t set_id;	/* template id of the open data set */
	unsigned int n_records; /* data records in the message */
	bool has_templates;	/* the message carries the template set */
};

/* Starts a message in m: room for the header, then the template set when with_templates. */
void ipfix_msg_begin(struct ipfix_msg *m, bool with_templates);

/* Appends one data record of f for direction dir: 0 is initiator -> responder (packets[0],
 * bytes[0], tcp_flags_seen[0]), 1 the reverse with source and destination swapped (packets[1],
 * bytes[1], tcp_flags_seen[1]). flowStartMilliseconds is first_seen_ns, flowEndMilliseconds
 * end_ns (last_seen_ns if 0). Returns 0, -ENOSPC when the record does not fit in IPFIX_MSG_MAX
 * bytes (m is unchanged), or -EINVAL for a family other than 4 or 6, a dir other than 0 or 1, or
 * a message not begun. */
int ipfix_msg_add(struct ipfix_msg *m, const struct flow *f, int dir);

/* Closes the open data set and writes the header: version 10, the length, export_time_s (UNIX
 * seconds), seq (data records sent before this message in the domain) and the observation
 * domain. Returns the message's length: the message is m->buf[0..len) (0 for a message not
 * begun). Begin the next message with ipfix_msg_begin(). */
size_t ipfix_msg_finish(struct ipfix_msg *m, uint32_t export_time_s, uint32_t seq, uint32_t domain);

#endif /* FLOWSCOPE_ENCODE_IPFIX_MSG_H */
