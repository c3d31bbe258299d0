/* One-pass protobuf decoding into protobuf-c messages (see include/flowscope/base/pb_unpack.h).
 * protobuf-c reads a message twice: a first pass records every field and counts the repeated
 * ones, a second allocates their arrays and parses. Here each field is parsed where it is
 * read: a repeated field's array grows by doubling (its capacity follows from its count, so
 * nothing is kept beside the message), a field is found from its number in a table made once
 * per message type, and the message stays freeable by
 * protobuf_c_message_free_unpacked() at every step, which is how a failure cleans up. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/pb_pack.h"
#include "flowscope/base/pb_plan.h"
#include "flowscope/base/pb_unpack.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pb_unpack reads fixed-width fields as they are in memory: little-endian hosts only"
#endif

/* The smallest array a repeated field gets; it doubles from there. */
#define MIN_CAP 4

static void *sys_alloc(void *data, size_t n)
{
	(void)data;
	return malloc(n);
}

static void sys_free(void *data, void *p)
{
	(void)data;
	free(p);
}

/* malloc's: what protobuf_c_message_free_unpacked(m, NULL) frees with. */
static ProtobufCAllocator sys_allocator = {sys_alloc, sys_free, NULL};

struct dec {
	ProtobufCAllocator *a;
};

static inline void *dalloc(struct dec *d, size_t n)
{
	return d->a->alloc(d->a->allocator_data, n);
}

static inline void dfree(struct dec *d, void *p)
{
	if (p)
		d->a->free(d->a->allocator_data, p);
}

/* A varint of at most 10 bytes within [p, end): its length, 0 if there is none. */
static inline size_t varint_len(const uint8_t *p, const uint8_t *end)
{
	size_t max = (size_t)(end - p) < 10 ? (size_t)(end - p) : 10, i;

	for (i = 0; i < max; i++)
		if (!(p[i] & 0x80))
			return i + 1;
	return 0;
}

/* The value of the varint of n bytes at p, modulo 2^64 (protobuf-c's parse_uint64). */
static inline uint64_t varint_value(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
	return v;
}

/* A bool is true when any bit of its bytes' payload is: protobuf-c reads it so, whatever the
 * wire type (all of a field's bytes, a length-prefixed one's prefix included). */
static inline protobuf_c_boolean bool_value(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] & 0x7f)
			return 1;
	return 0;
}

/* What a message type's decoding needs to know, worked out once (base/pb_plan.h): the field a
 * number names, straight from a table for numbers below n_direct, and whether the type has
 * required fields without a default (which protobuf-c refuses a message without), so that a
 * proto3 message is not walked field by field after it is read. Looking for each field in
 * the descriptor and walking it for required fields were a third of the decoding (perf). */
struct unpack_plan {
	struct pb_plan base; /* first */
	bool required;
	uint32_t n_direct;
	/* per field index: a message field's type's plan, once found (not looked up per message:
	 * pb_plan_of was 7% of decoding a flow, perf) */
	_Atomic(const struct pb_plan *) *sub;
	uint16_t index[]; /* number -> field index + 1; 0: no such field */
};

#define MAX_DIRECT 1024

static struct pb_plan_table plans;

static struct pb_plan *make_plan(const ProtobufCMessageDescriptor *md)
{
	uint32_t n = 0, i;
	struct unpack_plan *p;

	for (i = 0; i < md->n_fields; i++)
		if (md->fields[i].id < MAX_DIRECT && md->fields[i].id >= n)
			n = md->fields[i].id + 1;
	p = calloc(1, sizeof(*p) + n * sizeof(p->index[0]));
	if (p && !(p->sub = calloc(md->n_fields ? md->n_fields : 1, sizeof(p->sub[0])))) {
		free(p);
		p = NULL;
	}
	if (!p)
		return NULL;
	p->base.d = md;
	p->n_direct = n;
	for (i = 0; i < md->n_fields; i++) {
		if (md->fields[i].id < n)
			p->index[md->fields[i].id] = (uint16_t)(i + 1);
		if (md->fields[i].label == PROTOBUF_C_LABEL_REQUIRED &&
		    !md->fields[i].default_value)
			p->required = true;
	}
	return &p->base;
}

/* The field numbered tag: from the plan, else from the descriptor's ranges, which map numbers
 * to fields as protobuf-c's lookup does. */
static inline const ProtobufCFieldDescriptor *
find_field(const ProtobufCMessageDescriptor *md, const struct unpack_plan *plan, uint32_t tag)
{
	const ProtobufCIntRange *r = md->field_ranges;
	unsigned lo = 0, hi = md->n_field_ranges;

	if (plan && tag < plan->n_direct)
		return plan->index[tag] ? &md->fields[plan->index[tag] - 1] : NULL;
	/* ranges[n_field_ranges] is a sentinel whose orig_index is n_fields */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2, size = r[mid + 1].orig_index - r[mid].orig_index;

		if ((int64_t)tag < r[mid].start_value)
			hi = mid;
		else if ((int64_t)tag >= (int64_t)r[mid].start_value + size)
			lo = mid + 1;
		else
			return &md->fields[r[mid].orig_index +
					   (tag - (uint32_t)r[mid].start_value)];
	}
	return NULL;
}

/* The capacity of a repeated field's array of n elements (see grow). */
static inline size_t cap_of(size_t n)
{
	size_t c = MIN_CAP;

	if (!n)
		return 0;
	while (c < n)
		c <<= 1;
	return c;
}

/* Room in *arr (n elements of size bytes) for k more: a new array of the capacity n + k has
 * when it is not enough. Every array of a repeated field is made here, so its capacity is
 * always cap_of(its count). */
static int grow(struct dec *d, void **arr, size_t n, size_t k, size_t size)
{
	size_t have = cap_of(n), want;
	void *na;

	if (n + k <= have)
		return 0;
	if (k > (SIZE_MAX / 2) / size - n)
		return -1;
	want = cap_of(n + k);
	na = dalloc(d, want * size);
	if (!na)
		return -1;
	if (n)
		memcpy(na, *arr, n * size);
	dfree(d, *arr);
	*arr = na;
	return 0;
}

static void init_message(const ProtobufCMessageDescriptor *md, ProtobufCMessage *m)
{
	unsigned i;

	if (md->message_init) {
		md->message_init(m);
		return;
	}
	/* what protobuf-c does for a descriptor without an init function */
	memset(m, 0, md->sizeof_message);
	m->descriptor = md;
	for (i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &md->fields[i];
		void *v = (char *)m + fd->offset;

		if (!fd->default_value || fd->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE)
			*(const void **)v = fd->default_value;
		else
			memcpy(v, fd->default_value, pb_value_size(fd->type));
	}
}

static ProtobufCMessage *new_message(struct dec *d, const ProtobufCMessageDescriptor *md)
{
	ProtobufCMessage *m = dalloc(d, md->sizeof_message);

	if (m)
		init_message(md, m);
	return m;
}

/* One field as read: its wire type, its value (body, n bytes: a length-prefixed one's after
 * the prefix) and all its bytes after the tag (raw, raw_n). */
struct wire {
	unsigned wt;
	const uint8_t *body, *raw;
	size_t n, raw_n;
};

static int parse(struct dec *d, ProtobufCMessage *m, const uint8_t *p, const uint8_t *end,
		 int depth, const struct unpack_plan *plan);

/* The plan of message field fd's type, kept in the plan of the message it is a field of. */
static const struct unpack_plan *sub_plan(const struct unpack_plan *plan,
					  const ProtobufCFieldDescriptor *fd)
{
	const struct pb_plan *p = plan ? pb_plan_kept(&plans, &plan->sub[fd - plan->base.d->fields],
						      fd->descriptor, make_plan)
				       : pb_plan_of(&plans, fd->descriptor, make_plan);

	return (const struct unpack_plan *)p;
}

/* One value of a field (an element, for a repeated one) at v, fd a field of plan's message type
 * (plan NULL: none at hand). An old value at v is replaced (a message merged into). */
static int put_value(struct dec *d, const struct unpack_plan *plan,
		     const ProtobufCFieldDescriptor *fd, void *v, const struct wire *w, int depth)
{
	const uint8_t *body = w->body;
	size_t n = w->n;

	/* the wire type of the field's type; a bool takes any (protobuf-c reads one so) */
	if (w->wt != pb_wire_type(fd->type) && fd->type != PROTOBUF_C_TYPE_BOOL)
		return -1;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)v = (uint32_t)varint_value(body, n);
		return 0;
	case PROTOBUF_C_TYPE_SINT32: {
		uint32_t x;

		x = (uint32_t)varint_value(body, n);
		*(int32_t *)v = (int32_t)((x >> 1) ^ -(x & 1));
		return 0;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)v = varint_value(body, n);
		return 0;
	case PROTOBUF_C_TYPE_SINT64: {
		uint64_t x;

		x = varint_value(body, n);
		*(int64_t *)v = (int64_t)((x >> 1) ^ -(x & 1));
		return 0;
	}
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		memcpy(v, body, 4);
		return 0;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		memcpy(v, body, 8);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)v = bool_value(w->raw, w->raw_n);
		return 0;
	case PROTOBUF_C_TYPE_STRING: {
		char **s = v, *ns;

		ns = dalloc(d, n + 1);
		if (!ns)
			return -1;
		memcpy(ns, body, n);
		ns[n] = '\0';
		if (*s != fd->default_value)
			dfree(d, *s);
		*s = ns;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = v;
		const ProtobufCBinaryData *def = fd->default_value;
		uint8_t *nb = NULL;

		if (n && !(nb = dalloc(d, n)))
			return -1;
		if (n)
			memcpy(nb, body, n);
		if (b->data && (!def || b->data != def->data))
			dfree(d, b->data);
		b->data = nb;
		b->len = n;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage **sub = v;

		if (!*sub || *sub == fd->default_value) {
			*sub = new_message(d, fd->descriptor);
			if (!*sub)
				return -1;
		}
		return parse(d, *sub, body, body + n, depth + 1, sub_plan(plan, fd));
	}
	default:
		return -1;
	}
}

/* A packed run of a repeated scalar field, appended to its array. */
static int put_packed(struct dec *d, const ProtobufCFieldDescriptor *fd, ProtobufCMessage *m,
		      const uint8_t *p, size_t n)
{
	size_t *count = (size_t *)((char *)m + fd->quantifier_offset),
	       size = pb_value_size(fd->type);
	void **arr = (void **)((char *)m + fd->offset);
	const uint8_t *end = p + n;
	size_t k = 0, i;

	if (pb_wire_type(fd->type) != PROTOBUF_C_WIRE_TYPE_VARINT) { /* fixed width */
		if (n % size)
			return -1;
		if (!n)
			return 0;
		if (grow(d, arr, *count, n / size, size))
			return -1;
		memcpy((char *)*arr + *count * size, p, n);
		*count += n / size;
		return 0;
	}
	/* varints (bools too: protobuf-c 1.4.1 reads any varint as one): as many as bytes that
	 * end one */
	for (i = 0; i < n; i++)
		k += !(p[i] & 0x80);
	if (grow(d, arr, *count, k, size))
		return -1;
	while (p < end) {
		struct wire w = {PROTOBUF_C_WIRE_TYPE_VARINT, p, p, varint_len(p, end), 0};

		w.raw_n = w.n;
		if (!w.n || put_value(d, NULL, fd, (char *)*arr + *count * size, &w, 0))
			return -1;
		++*count;
		p += w.n;
	}
	return 0;
}

/* One element of a repeated field (not packed). */
static int put_element(struct dec *d, const struct unpack_plan *plan,
		       const ProtobufCFieldDescriptor *fd, ProtobufCMessage *m,
		       const struct wire *w, int depth)
{
	size_t *count = (size_t *)((char *)m + fd->quantifier_offset),
	       size = pb_value_size(fd->type);
	void **arr = (void **)((char *)m + fd->offset);
	char *v;

	if (grow(d, arr, *count, 1, size))
		return -1;
	v = (char *)*arr + *count * size;
	memset(v, 0, size);
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		/* counted before it is parsed: a failure frees what it holds */
		if (w->wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED ||
		    !(*(ProtobufCMessage **)v = new_message(d, fd->descriptor)))
			return -1;
		++*count;
		return parse(d, *(ProtobufCMessage **)v, w->body, w->body + w->n, depth + 1,
			     sub_plan(plan, fd));
	}
	if (put_value(d, plan, fd, v, w, depth))
		return -1;
	++*count;
	return 0;
}

/* A oneof member: the one chosen before, if another or the same, is dropped first. */
static int put_oneof(struct dec *d, const ProtobufCMessageDescriptor *md,
		     const struct unpack_plan *plan, const ProtobufCFieldDescriptor *fd,
		     ProtobufCMessage *m, const struct wire *w, int depth)
{
	uint32_t *which = (uint32_t *)((char *)m + fd->quantifier_offset);
	void *v = (char *)m + fd->offset;

	if (*which) {
		const ProtobufCFieldDescriptor *old = find_field(md, plan, *which);

		if (old) {
			if (old->type == PROTOBUF_C_TYPE_STRING) {
				if (*(char **)v != old->default_value)
					dfree(d, *(char **)v);
			} else if (old->type == PROTOBUF_C_TYPE_BYTES) {
				const ProtobufCBinaryData *def = old->default_value;
				ProtobufCBinaryData *b = v;

				if (b->data && (!def || b->data != def->data))
					dfree(d, b->data);
			} else if (old->type == PROTOBUF_C_TYPE_MESSAGE) {
				ProtobufCMessage *sub = *(ProtobufCMessage **)v;

				if (sub && sub != old->default_value)
					protobuf_c_message_free_unpacked(sub, d->a);
			}
			memset(v, 0, pb_value_size(old->type));
		}
	}
	/* the case first: what the value holds is freed with the message if it fails */
	*which = fd->id;
	return put_value(d, plan, fd, v, w, depth);
}

static int put_unknown(struct dec *d, ProtobufCMessage *m, uint32_t tag, const struct wire *w)
{
	ProtobufCMessageUnknownField *u;
	void *arr = m->unknown_fields;

	if (grow(d, &arr, m->n_unknown_fields, 1, sizeof(*u)))
		return -1;
	m->unknown_fields = arr;
	u = &m->unknown_fields[m->n_unknown_fields];
	u->tag = tag;
	u->wire_type = (ProtobufCWireType)w->wt;
	u->len = w->raw_n;
	u->data = dalloc(d, w->raw_n); /* never 0: a varint or a length has a byte */
	if (!u->data)
		return -1;
	memcpy(u->data, w->raw, w->raw_n);
	m->n_unknown_fields++;
	return 0;
}

/* Every required field of md without a default seen (seen has a bit per field index). */
static bool required_seen(const ProtobufCMessageDescriptor *md, const uint64_t *seen)
{
	unsigned i;

	for (i = 0; i < md->n_fields; i++)
		if (md->fields[i].label == PROTOBUF_C_LABEL_REQUIRED &&
		    !md->fields[i].default_value && !(seen[i / 64] >> (i % 64) & 1))
			return false;
	return true;
}

/* One field's tag and extent at p (end is the message's): as protobuf-c reads them, the tag at
 * most 5 bytes with its number in 32 bits, a length prefix at most 5 bytes and 32 bits.
 * Returns where the next field starts, NULL if these bytes are not a field. */
static inline const uint8_t *read_field(const uint8_t *p, const uint8_t *end, uint32_t *tag,
					struct wire *w)
{
	size_t max, i;
	uint32_t len = 0;

	w->wt = p[0] & 7;
	*tag = (p[0] & 0x7f) >> 3;
	if (p[0] & 0x80) {
		max = (size_t)(end - p) < 5 ? (size_t)(end - p) : 5;
		for (i = 1; i < max && (p[i] & 0x80); i++)
			*tag |= (uint32_t)(p[i] & 0x7f) << (4 + 7 * (i - 1));
		if (i == max)
			return NULL;
		*tag |= (uint32_t)p[i] << (4 + 7 * (i - 1));
		p += i + 1;
	} else if (!*tag) {
		/* protobuf-c 1.4.1 refuses field number 0 in a one-byte tag (only there) */
		return NULL;
	} else {
		p++;
	}
	w->body = w->raw = p;
	switch (w->wt) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		w->n = w->raw_n = varint_len(p, end);
		return w->n ? p + w->n : NULL;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		w->n = w->raw_n = w->wt == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
		return (size_t)(end - p) >= w->n ? p + w->n : NULL;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		max = (size_t)(end - p) < 5 ? (size_t)(end - p) : 5;
		for (i = 0; i < max; i++) {
			len |= (uint32_t)(p[i] & 0x7f) << (7 * i);
			if (!(p[i] & 0x80))
				break;
		}
		/* protobuf-c refuses a length of more than 32 bits */
		if (i == max || (i == 4 && p[4] > 0x0f) || len > (size_t)(end - p) - (i + 1))
			return NULL;
		w->body = p + i + 1;
		w->n = len;
		w->raw_n = i + 1 + len;
		return p + w->raw_n;
	default: /* groups (3, 4) and the unused 6 and 7: protobuf-c reads none */
		return NULL;
	}
}

/* Marks required field i of md seen; seen grows past the 256 fields seen_small covers. */
static int mark_seen(const ProtobufCMessageDescriptor *md, unsigned i, uint64_t **seen,
		     uint64_t *seen_small)
{
	if (i >= 256 && *seen == seen_small) {
		uint64_t *big = calloc((md->n_fields + 63) / 64, sizeof(*big));

		if (!big)
			return -1;
		memcpy(big, seen_small, 4 * sizeof(*big));
		*seen = big;
	}
	(*seen)[i / 64] |= 1ULL << (i % 64);
	return 0;
}

/* The fields in [p, end) into m, by plan (NULL, or another type's: looked up). */
static int parse(struct dec *d, ProtobufCMessage *m, const uint8_t *p, const uint8_t *end,
		 int depth, const struct unpack_plan *plan)
{
	const ProtobufCMessageDescriptor *md = m->descriptor;
	uint64_t seen_small[4] = {0}, *seen = seen_small;
	int err = depth > PB_UNPACK_MAX_DEPTH ? -1 : 0;

	if (!plan || plan->base.d != md)
		plan = (const struct unpack_plan *)pb_plan_of(&plans, md, make_plan);
	while (p < end && !err) {
		const ProtobufCFieldDescriptor *fd;
		struct wire w;
		uint32_t tag;

		p = read_field(p, end, &tag, &w);
		if (!p) {
			err = -1;
			break;
		}
		fd = find_field(md, plan, tag);
		if (!fd) {
			err = put_unknown(d, m, tag, &w);
			continue;
		}
		switch (fd->label) {
		case PROTOBUF_C_LABEL_REPEATED:
			/* a length-prefixed scalar is a packed run */
			if (w.wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
			    pb_wire_type(fd->type) != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
				err = put_packed(d, fd, m, w.body, w.n);
			else
				err = put_element(d, plan, fd, m, &w, depth);
			break;
		case PROTOBUF_C_LABEL_REQUIRED:
			err = mark_seen(md, (unsigned)(fd - md->fields), &seen, seen_small)
				      ?: put_value(d, plan, fd, (char *)m + fd->offset, &w, depth);
			break;
		default:
			if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
				err = put_oneof(d, md, plan, fd, m, &w, depth);
				break;
			}
			err = put_value(d, plan, fd, (char *)m + fd->offset, &w, depth);
			/* a has_ flag, proto2's or proto3 optional's */
			if (!err && fd->quantifier_offset)
				*(protobuf_c_boolean *)((char *)m + fd->quantifier_offset) = 1;
		}
	}
	if (!err && (plan ? plan->required : true) && !required_seen(md, seen))
		err = -1;
	if (seen != seen_small)
		free(seen);
	return err;
}

ProtobufCMessage *pb_unpack(const ProtobufCMessageDescriptor *md, ProtobufCAllocator *a, size_t len,
			    const uint8_t *data)
{
	struct dec d = {a ? a : &sys_allocator};
	ProtobufCMessage *m = new_message(&d, md);

	if (!m)
		return NULL;
	if (parse(&d, m, data, data + len, 0, NULL)) {
		protobuf_c_message_free_unpacked(m, d.a);
		return NULL;
	}
	return m;
}
