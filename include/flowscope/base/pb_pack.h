/* Protobuf wire encoding of any protobuf-c message in one pass over its fields, into a growable
 * buffer: the bytes protobuf_c_message_pack() writes (fields in descriptor order, proto3's zero
 * values left out, unknown fields last), without its first pass that only measures the size
 * (with strlen of every string, on every nested message: most of a flow's encoding, perf). */
#ifndef FLOWSCOPE_BASE_PB_PACK_H
#define FLOWSCOPE_BASE_PB_PACK_H

#include <protobuf-c/protobuf-c.h>

#include "flowscope/base/buf.h"

/* Appends m's encoding to out (no NUL counted in out->len, as every buf append). Returns 0, or
 * -ENOMEM or -EMSGSIZE (a message over 4 GiB) with out as it was. */
int pb_pack_append(struct buf *out, const ProtobufCMessage *m);

/* The wire type a field of type t is written with (packed repeated fields aside); inline: the
 * decoder asks it of every field it reads. */
static inline ProtobufCWireType pb_wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return PROTOBUF_C_WIRE_TYPE_32BIT;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return PROTOBUF_C_WIRE_TYPE_64BIT;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	default:
		return PROTOBUF_C_WIRE_TYPE_VARINT;
	}
}

/* The bytes a field's value takes in a protobuf-c message (one element of a repeated field). */
size_t pb_value_size(ProtobufCType t);

#endif /* FLOWSCOPE_BASE_PB_PACK_H */
