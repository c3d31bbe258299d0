/* For the one-pass decoder's differential checks (tests/base/test_pb_unpack.c and
 * fuzz/fuzz_pb_unpack.c): walks a protobuf encoding along its descriptors into every known
 * message field, to find the inputs where pb_unpack and protobuf-c may differ as documented
 * (a singular message field twice in one message; nesting past PB_UNPACK_MAX_DEPTH). Header-only.
 */
#ifndef FLOWSCOPE_TESTS_PB_WALK_H
#define FLOWSCOPE_TESTS_PB_WALK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <protobuf-c/protobuf-c.h>

/* A tag as protobuf-c reads it: up to 5 bytes, into 32 bits. Its length, 0 if none. */
static inline size_t walk_tag(const uint8_t *p, size_t n, uint32_t *tag)
{
	size_t i, max = n < 5 ? n : 5;
	uint32_t t = (p[0] & 0x7f) >> 3;
	unsigned shift = 4;

	if (!(p[0] & 0x80)) {
		*tag = t;
		return 1;
	}
	for (i = 1; i < max; i++, shift += 7) {
		t |= (uint32_t)(p[i] & 0x7f) << shift;
		if (!(p[i] & 0x80)) {
			*tag = t;
			return i + 1;
		}
	}
	return 0;
}

/* The bytes a value of wire type wt takes at p, a length's own included (*pref), as protobuf-c
 * reads them (varints of up to 10 bytes, lengths of up to 5 into 32 bits); 0 if it takes none. */
static inline size_t walk_value(unsigned wt, const uint8_t *p, size_t n, size_t *pref)
{
	size_t i, max = n < 5 ? n : 5;
	uint32_t v = 0;

	*pref = 0;
	switch (wt) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		for (i = 0; i < n && i < 10; i++)
			if (!(p[i] & 0x80))
				return i + 1;
		return 0;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		return n >= 8 ? 8 : 0;
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		return n >= 4 ? 4 : 0;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		for (i = 0; i < max; i++) {
			v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
			if (!(p[i] & 0x80))
				break;
		}
		if (i == max || i + 1 + (uint64_t)v > n)
			return 0;
		*pref = i + 1;
		return i + 1 + v;
	default:
		return 0;
	}
}

struct wire_walk {
	bool dup;	/* a singular message field (a oneof's too) twice in one message */
	unsigned depth; /* of the deepest message (the outer one: 0) */
};

/* Walks an encoding along its descriptors, into every known message field, up to what no
 * decoder takes. pb_unpack merges a singular message field's parts as the protobuf spec says,
 * protobuf-c does not: on such an input only what they accept is compared. */
static inline void walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
			unsigned depth, struct wire_walk *w)
{
	uint8_t *seen = calloc(d->n_fields / 8 + 1, 1);

	if (!seen)
		abort();
	if (depth > w->depth)
		w->depth = depth;
	while (n) {
		const ProtobufCFieldDescriptor *f;
		unsigned wt = p[0] & 7;
		uint32_t tag;
		size_t k = walk_tag(p, n, &tag), v = 0, pref, i;

		if (!k || !(v = walk_value(wt, p + k, n - k, &pref)))
			break;
		f = protobuf_c_message_descriptor_get_field(d, tag);
		if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
			i = (size_t)(f - d->fields);
			if (f->label != PROTOBUF_C_LABEL_REPEATED) {
				if (seen[i / 8] & 1u << i % 8)
					w->dup = true;
				seen[i / 8] |= (uint8_t)(1u << i % 8);
			}
			walk(f->descriptor, p + k + pref, v - pref, depth + 1, w);
		}
		p += k + v;
		n -= k + v;
	}
	free(seen);
}

#endif /* FLOWSCOPE_TESTS_PB_WALK_H */
