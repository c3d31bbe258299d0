/* Plans per message type (see include/flowscope/base/pb_plan.h): open addressing from the
 * descriptor's address (a Fibonacci hash), a slot set once with a compare-and-swap. */
#include <stdint.h>
#include <stdlib.h>

#include "flowscope/base/pb_plan.h"

#define PROBES 16

const struct pb_plan *pb_plan_of(struct pb_plan_table *t, const ProtobufCMessageDescriptor *d,
				 struct pb_plan *(*make)(const ProtobufCMessageDescriptor *d))
{
	size_t h = (size_t)(((uintptr_t)d * 0x9e3779b97f4a7c15ULL) >> 53), k;

	for (k = 0; k < PROBES; k++) {
		_Atomic(struct pb_plan *) *slot = &t->slot[(h + k) % PB_PLAN_SLOTS];
		struct pb_plan *p = atomic_load_explicit(slot, memory_order_acquire),
			       *expect = NULL;

		if (p && p->d == d)
			return p;
		if (p)
			continue;
		p = make(d);
		if (!p)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(slot, &expect, p, memory_order_acq_rel,
							    memory_order_acquire))
			return p;
		free(p);
		if (expect->d == d)
			return expect;
	}
	return NULL;
}

const struct pb_plan *pb_plan_kept(struct pb_plan_table *t, _Atomic(const struct pb_plan *) *slot,
				   const ProtobufCMessageDescriptor *d,
				   struct pb_plan *(*make)(const ProtobufCMessageDescriptor *d))
{
	const struct pb_plan *p = atomic_load_explicit(slot, memory_order_acquire);

	if (p && p->d == d)
		return p;
	p = pb_plan_of(t, d, make);
	if (p)
		atomic_store_explicit(slot, p, memory_order_release);
	return p;
}
