/* The decoder: every record type the probes write (include/flowscope/record.h), checked and
 * turned into what the collector works with, and kernel flow-map entries into flows. */
#ifndef FLOWSCOPE_PIPELINE_FLOW_DECODE_H
#define FLOWSCOPE_PIPELINE_FLOW_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/clock.h"
#include "flowscope/flow.h"

/* One decoded ring record. type is the record's enum flow_rec_type and says which member is
 * filled. */
struct decoded_record {
	uint16_t type;
	uint32_t tc_events; /* FLOW_REC_TC: the record's enum flow_rec_event bits */
	uint8_t tc_dir;	    /* FLOW_REC_TC: enum flow_tc_dir of its packet (on loopback both
			     * directions pass egress) */
	union {
		struct flow flow; /* FLOW_REC_TC: the flow as of that packet, with its event,
				   * is_reply and the packet's TCP flags */
		struct flow_sock_record sock;
		struct flow_drop_record drop;
		struct flow_dns_record dns;
	};
};

/* Decodes one ring record. Returns 0, -EINVAL for a short or malformed record, -EPROTO for a
 * record version this collector does not know, -ENOTSUP for an unknown type. */
int flow_decode(const void *data, size_t len, const struct clock_offset *clk,
		struct decoded_record *out);

/* Fills f's identity, orientation, counters and times from a kernel key and state. Leaves id,
 * event, is_reply, tcp_flags and bookkeeping fields alone. */
/* The boot time of an entry's latest packet: first_seen_ns plus its ticks (within a tick). */
static inline uint64_t flow_state_last_seen(const struct flow_state *st,
					    const struct clock_offset *clk)
{
	uint64_t tick = clk->tick_ns ? clk->tick_ns : 1ull << FLOW_TICK_SHIFT_FALLBACK;

	return st->first_seen_ns + (uint64_t)(uint32_t)(st->last_tick - st->first_tick) * tick;
}

void flow_decode_state(struct flow *f, const struct flow_key *key, const struct flow_state *st,
		       const struct clock_offset *clk);

#endif /* FLOWSCOPE_PIPELINE_FLOW_DECODE_H */
