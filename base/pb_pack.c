/* One-pass protobuf encoding of protobuf-c messages (see include/flowscope/base/pb_pack.h). A
 * nested message or packed list gets one byte for its length before its body is written; a
 * body of 128 bytes or more moves up by the length's extra bytes (a flow has one or two). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "flowscope/base/pb_pack.h"
#include "flowscope/base/pb_plan.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pb_pack writes fixed-width fields as they are in memory: little-endian hosts only"
#endif

#define VARINT_MAX 10 /* bytes of the longest varint (a 64-bit value) */

static int pack_message(struct buf *b, const ProtobufCMessage *m);
static int pack_planned(struct buf *b, const ProtobufCMessage *m, const struct pb_plan *p);

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *end_of(struct buf *b)
{
	return (uint8_t *)b->data + b->len;
}

/* A scalar's value (no tag) at p, which has VARINT_MAX bytes of room. */
static uint8_t *put_scalar(uint8_t *p, ProtobufCType t, const void *v)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SINT32: {
		int32_t x = *(const int32_t *)v;

		return put_varint(p, ((uint32_t)x << 1) ^ (uint32_t)(x >> 31));
	}
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_INT32: /* negative: sign-extended to 64 bits, ten bytes */
		return put_varint(p, (uint64_t)(int64_t) * (const int32_t *)v);
	case PROTOBUF_C_TYPE_UINT32:
		return put_varint(p, *(const uint32_t *)v);
	case PROTOBUF_C_TYPE_SINT64: {
		int64_t x = *(const int64_t *)v;

		return put_varint(p, ((uint64_t)x << 1) ^ (uint64_t)(x >> 63));
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		return put_varint(p, *(const uint64_t *)v);
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		memcpy(p, v, 4);
		return p + 4;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		memcpy(p, v, 8);
		return p + 8;
	case PROTOBUF_C_TYPE_BOOL:
		*p = *(const protobuf_c_boolean *)v ? 1 : 0;
		return p + 1;
	default: /* not scalars: never called with them */
		return p;
	}
}

/* Writes the length of what was appended after the kept bytes for it at len_at, moving the
 * body when its length takes another number of bytes; returns that number, or an error. */
static int close_length_kept(struct buf *b, size_t len_at, size_t kept)
{
	size_t n = b->len - len_at - kept, k = varint_len(n);

	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if (k != kept) {
		if (k > kept && buf_reserve(b, k - kept))
			return -ENOMEM;
		memmove(b->data + len_at + k, b->data + len_at + kept, n);
	}
	put_varint((uint8_t *)b->data + len_at, n);
	b->len = len_at + k + n;
	return (int)k;
}

/* The same after the one byte open_length() keeps. */
static int close_length(struct buf *b, size_t len_at)
{
	int k = close_length_kept(b, len_at, 1);

	return k < 0 ? k : 0;
}

/* A tag and a length-delimited field's first byte of length: returns where the length goes. */
static int open_length(struct buf *b, uint64_t key, size_t *len_at)
{
	uint8_t *p;

	if (buf_reserve(b, VARINT_MAX + 1))
		return -ENOMEM;
	p = put_varint(end_of(b), key | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED);
	*len_at = (size_t)(p - (uint8_t *)b->data);
	b->len = *len_at + 1;
	return 0;
}

static int put_bytes(struct buf *b, uint64_t key, const void *d, size_t n)
{
	uint8_t *p;

	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if (buf_reserve(b, 2 * VARINT_MAX + n))
		return -ENOMEM;
	p = put_varint(put_varint(end_of(b), key | PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED), n);
	if (n)
		memcpy(p, d, n);
	b->len = (size_t)(p + n - (uint8_t *)b->data);
	return 0;
}

/* One value of field fd (an element, for a repeated field), its tag first. */
static int pack_value(struct buf *b, const ProtobufCFieldDescriptor *fd, const void *v)
{
	uint64_t key = (uint64_t)fd->id << 3;
	size_t len_at;
	uint8_t *p;
	int err;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;

		return put_bytes(b, key, s, s ? strlen(s) : 0);
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *d = v;

		return put_bytes(b, key, d->data, d->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;

		if ((err = open_length(b, key, &len_at)))
			return err;
		if (sub && (err = pack_message(b, sub)))
			return err;
		return close_length(b, len_at);
	}
	default:
		if (buf_reserve(b, 2 * VARINT_MAX))
			return -ENOMEM;
		p = put_varint(end_of(b), key | (uint64_t)pb_wire_type(fd->type));
		p = put_scalar(p, fd->type, v);
		b->len = (size_t)(p - (uint8_t *)b->data);
		return 0;
	}
}

static int pack_repeated(struct buf *b, const ProtobufCFieldDescriptor *fd, size_t count,
			 const char *array)
{
	size_t size = pb_value_size(fd->type), len_at, i;
	uint8_t *p;
	int err;

	if (!count)
		return 0;
	if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED)) {
		for (i = 0; i < count; i++)
			if ((err = pack_value(b, fd, array + i * size)))
				return err;
		return 0;
	}
	if ((err = open_length(b, (uint64_t)fd->id << 3, &len_at)))
		return err;
	if (count > (SIZE_MAX - 1) / VARINT_MAX || buf_reserve(b, count * VARINT_MAX))
		return -ENOMEM;
	p = end_of(b);
	for (i = 0; i < count; i++)
		p = put_scalar(p, fd->type, array + i * size);
	b->len = (size_t)(p - (uint8_t *)b->data);
	return close_length(b, len_at);
}

/* Whether a singular field is written: a required one always, one of a oneof when it is the
 * case chosen, an optional one when it has a value, a proto3 one when it is not zero or empty. */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd, const void *v)
{
	const char *q = (const char *)m + fd->quantifier_offset;
	bool ptr = fd->type == PROTOBUF_C_TYPE_MESSAGE || fd->type == PROTOBUF_C_TYPE_STRING;

	if (fd->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (fd->label == PROTOBUF_C_LABEL_OPTIONAL || (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *)q != fd->id)
			return false;
		if (ptr) {
			const void *p = *(const void *const *)v;

			return p && p != fd->default_value;
		}
		return (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || *(const protobuf_c_boolean *)q;
	}
	switch (fd->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)v != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)v != 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;

		return s && *s;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *d = v;

		return d->data && d->len;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(const void *const *)v != NULL;
	default:
		return pb_value_size(fd->type) == 8 ? *(const uint64_t *)v != 0
						    : *(const uint32_t *)v != 0;
	}
}

/* How each field of a message type is packed, worked out once per type: the common proto3
 * fields (a singular string, message or integer outside a oneof) with their tag's bytes ready
 * and their offset, the rest through the descriptor. A flow's ~150 fields (most of them empty)
 * were walked descriptor by descriptor, 72 bytes apart, for every flow (perf: the loads and
 * the switch on the type were most of the packing). */
enum op_kind {
	OP_GENERIC, /* present() and pack_value()/pack_repeated() with the descriptor */
	OP_STRING,
	OP_MESSAGE, /* and a oneof's message member */
	OP_INT32,   /* and enum: sign-extended to 64 bits */
	OP_UINT32,
	OP_VARINT64,
	OP_BOOL,
};

/* A nested message's plan and the bytes its last length took are kept in its op: found once
 * per field, not looked up per message (perf: pb_plan_of was 5% of the packing), and a body of
 * a size like the last one's is written where its length leaves it, not moved up after. */
struct pack_op {
	uint32_t off;
	uint8_t kind, key_len, key[6]; /* the tag with its wire type, as written */
	uint8_t wide;		       /* a kind other than OP_GENERIC: 8-byte value, not 4 */
	_Atomic uint8_t len_bytes;     /* OP_MESSAGE: of the last body's length (racy: a hint) */
	const ProtobufCFieldDescriptor *fd;
	_Atomic(const struct pb_plan *) sub; /* OP_MESSAGE: the nested type's plan, once found */
};

struct pack_plan {
	struct pb_plan base;  /* first */
	struct pack_op ops[]; /* one per field, in the descriptor's order */
};

static struct pb_plan_table plans;

static struct pb_plan *make_plan(const ProtobufCMessageDescriptor *d)
{
	struct pack_plan *p = calloc(1, sizeof(*p) + d->n_fields * sizeof(p->ops[0]));
	unsigned i;

	if (!p)
		return NULL;
	p->base.d = d;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		struct pack_op *op = &p->ops[i];
		uint64_t key = (uint64_t)fd->id << 3 | (uint64_t)pb_wire_type(fd->type);

		op->fd = fd;
		op->off = fd->offset;
		op->key_len = (uint8_t)(put_varint(op->key, key) - op->key);
		op->kind = OP_GENERIC;
		op->len_bytes = 1;
		if (fd->label == PROTOBUF_C_LABEL_NONE &&
		    (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			op->kind = OP_MESSAGE; /* its case checked as it is packed */
			op->wide = 1;	       /* a pointer */
		}
		if (fd->label != PROTOBUF_C_LABEL_NONE || (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		switch (fd->type) {
		case PROTOBUF_C_TYPE_STRING:
			op->kind = OP_STRING;
			break;
		case PROTOBUF_C_TYPE_MESSAGE:
			op->kind = OP_MESSAGE;
			break;
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_ENUM:
			op->kind = OP_INT32;
			break;
		case PROTOBUF_C_TYPE_UINT32:
			op->kind = OP_UINT32;
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_UINT64:
			op->kind = OP_VARINT64;
			break;
		case PROTOBUF_C_TYPE_BOOL:
			op->kind = OP_BOOL;
			break;
		default:
			break;
		}
		op->wide = op->kind != OP_GENERIC && pb_value_size(fd->type) == 8;
	}
	return &p->base;
}

/* op's tag and a varint (a value, or a length when data, n bytes, follows). */
static inline int put_op(struct buf *b, const struct pack_op *op, uint64_t v, const void *data,
			 size_t n)
{
	uint8_t *p;

	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if (buf_reserve(b, sizeof(op->key) + VARINT_MAX + n))
		return -ENOMEM;
	p = end_of(b);
	memcpy(p, op->key, sizeof(op->key));
	p = put_varint(p + op->key_len, v);
	if (n)
		memcpy(p, data, n);
	b->len = (size_t)(p + n - (uint8_t *)b->data);
	return 0;
}

static int pack_field(struct buf *b, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	const char *v = (const char *)m + fd->offset;

	if (fd->label == PROTOBUF_C_LABEL_REPEATED)
		return pack_repeated(b, fd,
				     *(const size_t *)((const char *)m + fd->quantifier_offset),
				     *(const char *const *)v);
	return present(m, fd, v) ? pack_value(b, fd, v) : 0;
}

/* A nested message at op, with the plan op keeps for its type and its length in as many bytes
 * as the last one's took. */
static int pack_nested(struct buf *b, const struct pack_op *op, const ProtobufCMessage *sub)
{
	const struct pb_plan *p =
		pb_plan_kept(&plans, &((struct pack_op *)op)->sub, sub->descriptor, make_plan);
	size_t kept = atomic_load_explicit(&op->len_bytes, memory_order_relaxed), len_at;
	int err, k;

	/* the tag and the bytes kept for the length, which close_length_kept() writes */
	if ((err = put_op(b, op, 0, NULL, 0)) || (kept > 1 && buf_reserve(b, kept - 1)))
		return err ?: -ENOMEM;
	len_at = b->len - 1;
	b->len += kept - 1;
	if ((err = pack_planned(b, sub, p)))
		return err;
	if ((k = close_length_kept(b, len_at, kept)) < 0)
		return k;
	if ((size_t)k != kept)
		atomic_store_explicit(&((struct pack_op *)op)->len_bytes, (uint8_t)k,
				      memory_order_relaxed);
	return 0;
}

static int pack_message(struct buf *b, const ProtobufCMessage *m)
{
	return pack_planned(b, m, pb_plan_of(&plans, m->descriptor, make_plan));
}

/* m's fields by plan p (p NULL: by its descriptor). */
static int pack_planned(struct buf *b, const ProtobufCMessage *m, const struct pb_plan *p)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const struct pack_plan *plan = (const struct pack_plan *)p;
	unsigned i, n = d->n_fields;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		const struct pack_op *op;
		const char *v;

		if (!plan) {
			err = pack_field(b, m, &d->fields[i]);
			continue;
		}
		op = &plan->ops[i];
		v = (const char *)m + op->off;
		/* Most of a flow's fields are empty: skipped before the switch on their kind. */
		if (op->kind != OP_GENERIC &&
		    !(op->wide ? *(const uint64_t *)v : *(const uint32_t *)v))
			continue;
		switch (op->kind) {
		case OP_STRING: {
			const char *s = *(char *const *)v;
			size_t n;

			if (s && *s) {
				n = strlen(s);
				err = put_op(b, op, n, s, n);
			}
			break;
		}
		case OP_MESSAGE:
			if (!(op->fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
			    *(const uint32_t *)((const char *)m + op->fd->quantifier_offset) ==
				    op->fd->id)
				err = pack_nested(b, op, *(ProtobufCMessage *const *)v);
			break;
		case OP_INT32:
			if (*(const int32_t *)v)
				err = put_op(b, op, (uint64_t)(int64_t) * (const int32_t *)v, NULL,
					     0);
			break;
		case OP_UINT32:
			if (*(const uint32_t *)v)
				err = put_op(b, op, *(const uint32_t *)v, NULL, 0);
			break;
		case OP_VARINT64:
			if (*(const uint64_t *)v)
				err = put_op(b, op, *(const uint64_t *)v, NULL, 0);
			break;
		case OP_BOOL:
			if (*(const protobuf_c_boolean *)v)
				err = put_op(b, op, 1, NULL, 0);
			break;
		default:
			err = pack_field(b, m, op->fd);
		}
	}
	if (err)
		return err;
	for (i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = m->unknown_fields + i;

		uint8_t *p;

		if (buf_reserve(b, VARINT_MAX + u->len))
			return -ENOMEM;
		p = put_varint(end_of(b), (uint64_t)u->tag << 3 | u->wire_type);
		memcpy(p, u->data, u->len);
		b->len = (size_t)(p + u->len - (uint8_t *)b->data);
	}
	return 0;
}

int pb_pack_append(struct buf *out, const ProtobufCMessage *m)
{
	size_t before = out->len;
	int err = pack_message(out, m);

	if (!err && buf_reserve(out, 0)) /* room for the NUL every buf keeps after its bytes */
		err = -ENOMEM;
	if (err) {
		out->len = before;
		if (out->data)
			out->data[before] = '\0';
		return err;
	}
	out->data[out->len] = '\0';
	return 0;
}

size_t pb_value_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}
