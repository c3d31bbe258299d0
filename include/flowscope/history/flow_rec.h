/* The history's record of one flow event: every field of struct flow an exporter or a filter
 * reads, packed into a few dozen bytes before compression (varints; times, sequence numbers and
 * flow ids as deltas from the previous record; addresses by family; optional groups behind one
 * presence byte; strings inline, NUL-ended, so that a decoded flow points into the buffer).
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
	uint64_t time_ns, seq, id, first_seen_ns;
	uint8_t uuid_head[8]; /* the previous event's uuid[0..7] (the collector's session) */
};

/* The state at the start of a run of records. */
void flow_rec_reset(struct flow_rec_state *st);

/* Appends f's record to out. Returns 0 or -ENOMEM (out is then as it was). */
int flow_rec_encode(struct flow_rec_state *st, struct buf *out, const struct flow *f);

/* Decodes the record at *p (before end) into f (every field set: those a record does not carry
 * are zero, origin/src_id/dst_id NULL) and moves *p past it. f's strings (src_name, dst_name,
 * dns.query) point into the buffer, which must stay alive while f is used. Returns 0, or
 * -EBADMSG for a record that is cut short or malformed (state and *p are then unspecified: the
 * rest of the run cannot be read). */
int flow_rec_decode(struct flow_rec_state *st, const uint8_t **p, const uint8_t *end,
		    struct flow *f);

#endif /* FLOWSCOPE_HISTORY_FLOW_REC_H */
