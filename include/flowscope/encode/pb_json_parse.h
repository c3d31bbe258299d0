/* The inverse of pb_json.h: proto3 JSON into any protobuf-c message, walking its descriptors.
 * Takes what protojson (Hubble's `-o jsonpb`, `--allowlist`) writes and reads: proto field names
 * and their lowerCamelCase JSON names, enums by name or number, 64-bit integers as strings or
 * numbers, google.protobuf.Timestamp and Duration as strings, wrappers as bare values,
 * FieldMask as "a.b,c", null for "not set". */
#ifndef FLOWSCOPE_ENCODE_PB_JSON_PARSE_H
#define FLOWSCOPE_ENCODE_PB_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "flowscope/base/errmsg.h"

struct pb_json_parse_opts {
	bool ignore_unknown; /* skip fields the descriptor lacks instead of failing */
	size_t unknown;	     /* out: how many were skipped */
};

/* Parses one JSON object (or, for a well-known type such as Timestamp, its JSON value) at
 * text[0..len), which need not be NUL-terminated, into a new message of type d (freed with
 * protobuf_c_message_free_unpacked(msg, NULL)). With end NULL only white space may follow the
 * object; otherwise *end is the offset just after it, so that several objects in one text can
 * be read one after the other. opts may be NULL (unknown fields refused). Returns 0, or -EINVAL
 * (-ENOENT for an unknown field, -ENOMEM) with e saying what and where ("offset 12: unknown
 * field 'foo' in flow.Flow"). */
int pb_json_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
		  struct pb_json_parse_opts *opts, ProtobufCMessage **out, size_t *end,
		  struct errmsg *e);

#endif /* FLOWSCOPE_ENCODE_PB_JSON_PARSE_H */
