/* gRPC's length-prefixed message framing (gRPC over HTTP/2, "Length-Prefixed-Message"): one
 * flag byte (bit 0: compressed), the message length as 4 bytes big-endian, the message. */
#ifndef FLOWSCOPE_BASE_GRPC_FRAME_H
#define FLOWSCOPE_BASE_GRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "flowscope/base/buf.h"

#define GRPC_FRAME_HDR 5
#define GRPC_FRAME_COMPRESSED 0x01

/* Writes the 5-byte prefix of an uncompressed message of len bytes. */
void grpc_frame_put_header(uint8_t hdr[GRPC_FRAME_HDR], uint32_t len);

/* Reads a prefix from p[0..n): false when fewer than 5 bytes are there. */
bool grpc_frame_get_header(const uint8_t *p, size_t n, uint8_t *flags, uint32_t *len);

/* Appends m packed (pb_pack_append) and framed to out. Returns 0, or -ENOMEM or -EMSGSIZE (a
 * message over 4 GiB) with out as it was. */
int grpc_frame_append(struct buf *out, const ProtobufCMessage *m);

#endif /* FLOWSCOPE_BASE_GRPC_FRAME_H */
