/* Decoding of probe records and kernel flow-map entries into collector flows. */
#ifndef FLOWSCOPE_FLOW_DECODE_H
#define FLOWSCOPE_FLOW_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"

/* Probes stamp packets with CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); flows carry wall-clock
 * time. The offset is re-read now and then so that clock steps are followed. */
struct flow_clock {
	int64_t boot_to_real_ns;
};

void flow_clock_sync(struct flow_clock *clk);
uint64_t flow_clock_wall(const struct flow_clock *clk, uint64_t boot_ns);
uint64_t flow_clock_boot_now(void);

/* Fills f's identity, orientation, counters and times from a kernel key and state. Leaves
 * id, event, is_reply, tcp_flags and bookkeeping fields alone. */
void flow_decode_state(struct flow *f, const struct flow_key *key, const struct flow_state *st,
		       const struct flow_clock *clk);

/* Decodes one ring record into *f (zeroed first): the flow as of that packet, with event,
 * is_reply and tcp_flags of the packet. Returns 0, -EINVAL for a short or malformed record,
 * -EPROTO for a record version this collector does not know, -ENOTSUP for an unknown type. */
int flow_decode_record(struct flow *f, const void *data, size_t len, const struct flow_clock *clk);

#endif /* FLOWSCOPE_FLOW_DECODE_H */
