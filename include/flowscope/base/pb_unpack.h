/* Protobuf wire decoding into protobuf-c messages in one pass: the same structs
 * protobuf_c_message_unpack() builds, every part from the allocator given, without its first
 * pass over the bytes that only counts (protobuf-c's unpack was most of a flow's decoding in
 * flowctl, the relay and a decode-only client, perf). What it accepts and rejects is what
 * protobuf-c accepts and rejects, with two differences:
 *  - a singular message field (not of a oneof) sent more than once is merged the way the
 *    protobuf spec says, as if its parts were one (a later value overwrites, repeated fields
 *    append), where protobuf-c's merge drops the proto3 scalars of an earlier part that a
 *    later part leaves out;
 *  - messages nested deeper than PB_UNPACK_MAX_DEPTH are rejected (protobuf-c recurses without
 *    a bound).
 * Free the result with protobuf_c_message_free_unpacked() and the same allocator, or reset
 * the arena it came from. */
#ifndef FLOWSCOPE_BASE_PB_UNPACK_H
#define FLOWSCOPE_BASE_PB_UNPACK_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define PB_UNPACK_MAX_DEPTH 64

/* The message of type d in data[0..len), or NULL if the bytes are not one or memory ran out.
 * a NULL allocator is malloc's, as for protobuf-c. */
ProtobufCMessage *pb_unpack(const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a, size_t len,
			    const uint8_t *data);

#endif /* FLOWSCOPE_BASE_PB_UNPACK_H */
