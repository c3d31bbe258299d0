/* What the one-pass encoder and decoder work out once per message type (a plan: how each
 * field is packed, or which field a number names), found by descriptor in a table of their
 * own shared by every thread without locks. A plan lives as long as the process. */
#ifndef FLOWSCOPE_BASE_PB_PLAN_H
#define FLOWSCOPE_BASE_PB_PLAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#define PB_PLAN_SLOTS 2048 /* message types a table holds; past that, no plan */

/* Every plan starts with its message type. */
struct pb_plan {
	const ProtobufCMessageDescriptor *d;
};

struct pb_plan_table {
	_Atomic(struct pb_plan *) slot[PB_PLAN_SLOTS];
};

/* d's plan in t, made by make() (a malloc'd plan, or NULL) for the first message of type d; a
 * thread racing another keeps the one that went in first. NULL without memory or room: the
 * caller does without. */
const struct pb_plan *pb_plan_of(struct pb_plan_table *t, const ProtobufCMessageDescriptor *d,
				 struct pb_plan *(*make)(const ProtobufCMessageDescriptor *d));

/* d's plan kept in slot (a nested message type's, in its field's entry of the parent's plan):
 * looked up in t only when slot holds none or another type's. */
const struct pb_plan *pb_plan_kept(struct pb_plan_table *t, _Atomic(const struct pb_plan *) *slot,
				   const ProtobufCMessageDescriptor *d,
				   struct pb_plan *(*make)(const ProtobufCMessageDescriptor *d));

#endif /* FLOWSCOPE_BASE_PB_PLAN_H */
