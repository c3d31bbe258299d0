/* The history's record of one flow event: every field of struct flow an exporter or a filter
 * reads, packed into a few dozen bytes before compression (varints; times, sequence numbers and
 * flow ids as deltas from the previous record; addresses by family; optional groups behind
 * presence bits; strings inline, NUL-ended, so that a decoded flow points into the buffer).
 * Records are written and read in order from a reset state: one run of them is a block of the
 * history store (and its journal, the same bytes). */
#ifndef FLOWSCOPE_HISTORY_FLOW_REC_H
#define FLOWSCOPE_HISTORY_FLOW_REC_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/flow.h"

/* The previous record's values that the next is coded against; the same on both sides. */
struct flow_rec_state {
	uint64_t time_ns, seq, id;
	uint8_t uuid_head[8]; /* the previous event's uuid[0..7] (the collector's session) */
	uint32_t ifindex;     /* and its interface */
	char ifname[IF_NAMESIZE];
	/* Not coded against: where the flow decoded last points its processes. */
	struct flow_process procs[2];
	char container_ids[2][65];
};

/* The state at the start of a run of records. */
void flow_rec_reset(struct flow_rec_state *st);

/* Appends f's record to out. Not carried (decoded zero, NULL or false): origin, src_id, dst_id,
 * late, first_seen_boot_ns, sweep_gen, published_ns, started; the dns fields when dns.present is
 * false (the collector leaves the previous message in a flow whose event is not DNS), and past
 * dns.n_ips; an IPv4 address's bytes past its first 4. ifname and comm are cut at their array's
 * size less one, container ids at 64 characters. Returns 0, -EINVAL for a flow no record can tell
 * (family not 4 or 6; DNS with more than 4 addresses or one neither IPv4 nor IPv6) or -ENOMEM; out
 * and st are then as they were. */
int flow_rec_encode(struct flow_rec_state *st, struct buf *out, const struct flow *f);

/* Decodes the record at *p (before end) into f and moves *p past it. Every field of f is set:
 * those a record does not carry are zero, NULL or false. f's strings (src_name, dst_name,
 * dns.query) point into the buffer, which must stay alive while f is used, and its processes
 * into st, until the next decode with it. Never reads at or
 * past end, whatever the bytes. Returns 0, or -EBADMSG for a record that is cut short or
 * malformed (*p and st are then as they were, but the rest of the run cannot be read). */
int flow_rec_decode(struct flow_rec_state *st, const uint8_t **p, const uint8_t *end,
		    struct flow *f);

#endif /* FLOWSCOPE_HISTORY_FLOW_REC_H */
