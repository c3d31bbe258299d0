/* Canonical proto3 JSON of any protobuf-c message, with the proto field names (as
 * `hubble observe -o json` prints them): enums by name, 64-bit integers as strings,
 * google.protobuf.Timestamp as RFC 3339, wrappers as their bare value, defaults omitted. */
#ifndef FLOWSCOPE_ENCODE_PB_JSON_H
#define FLOWSCOPE_ENCODE_PB_JSON_H

#include <protobuf-c/protobuf-c.h>

#include "flowscope/base/buf.h"

/* Appends the JSON object for msg to out (no newline). Returns 0 or a negative errno. */
int pb_json_write(struct buf *out, const ProtobufCMessage *msg);

#endif /* FLOWSCOPE_ENCODE_PB_JSON_H */
