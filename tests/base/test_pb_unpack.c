/* Unit tests of the one-pass protobuf decoder (base/pb_unpack.c) against protobuf-c's own unpack:
 * the same inputs accepted and refused, and the same message built (packed again by protobuf-c:
 * the same bytes; field by field: the same values; every part from the allocator given), for a
 * message with a field of every type and label (hand-made descriptor, random values, nesting),
 * for Hubble flows (malloc and pb_arena), for damaged encodings of both (bytes flipped, cut,
 * added and taken away; fields re-encoded, repeated, lost and added), for nesting past
 * PB_UNPACK_MAX_DEPTH and for allocations that fail. A difference prints the input in hex. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/pb_arena.h"
#include "flowscope/base/pb_pack.h"
#include "flowscope/base/pb_unpack.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/flow.h"
#include "flows.h"
#include "observer.pb-c.h"
#include "pb_walk.h"

/* An assertion for loops run a million times: Check's record every passing one (a write). */
#define MUST(x)                                                                                    \
	do {                                                                                       \
		if (!(x))                                                                          \
			ck_abort_msg("assertion failed: %s", #x);                                  \
	} while (0)

/* ---- a message with a field of every type and label ------------------------------------------ */

/* test_pb_pack.c's, and what only a decoder tells apart: repeated bools, bytes and enums,
 * optional bytes, bools and messages, unpacked fixed32 and sint32, a oneof's bytes. */
struct all {
	ProtobufCMessage base;
	int32_t i32, s32, sf32;
	int64_t i64, s64, sf64;
	uint32_t u32, f32;
	uint64_t u64, f64;
	float fl;
	double db;
	protobuf_c_boolean b;
	int en;
	char *str;
	ProtobufCBinaryData by;
	struct all *sub;
	protobuf_c_boolean has_opt;
	int32_t opt;
	char *opt_str;
	uint32_t one_case;
	union {
		uint32_t one_u;
		char *one_s;
		struct all *one_m;
		ProtobufCBinaryData one_by;
	};
	size_t n_pk;
	int32_t *pk;
	size_t n_pk64;
	int64_t *pk64;
	size_t n_pkd;
	double *pkd;
	size_t n_rs;
	char **rs;
	size_t n_rm;
	struct all **rm;
	size_t n_ru;
	uint32_t *ru; /* repeated, not packed */
	int32_t req;
	char *req_str;
	size_t n_pkb;
	protobuf_c_boolean *pkb;
	size_t n_rb;
	ProtobufCBinaryData *rb;
	protobuf_c_boolean has_opt_by;
	ProtobufCBinaryData opt_by;
	struct all *opt_m;
	size_t n_rf32;
	uint32_t *rf32; /* not packed */
	size_t n_pkf;
	float *pkf;
	size_t n_rs32;
	int32_t *rs32; /* not packed */
	protobuf_c_boolean has_ob;
	protobuf_c_boolean ob;
	size_t n_re;
	int *re;
};

static ProtobufCMessageDescriptor all_desc;
static const ProtobufCEnumDescriptor no_enum; /* neither decoder reads it */

#define F(name, id, label, type, q, member, flags)                                                 \
	{                                                                                          \
		name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q,                     \
			offsetof(struct all, member), NULL, NULL, flags, 0, NULL, NULL             \
	}
#define NONE(name, id, type, member) F(name, id, NONE, type, 0, member, 0)
#define Q(m) offsetof(struct all, m)
#define PACKED PROTOBUF_C_FIELD_FLAG_PACKED
#define ONEOF PROTOBUF_C_FIELD_FLAG_ONEOF

static ProtobufCFieldDescriptor all_fields[] = {
	NONE("i32", 1, INT32, i32),
	NONE("s32", 2, SINT32, s32),
	NONE("sf32", 3, SFIXED32, sf32),
	NONE("i64", 4, INT64, i64),
	NONE("s64", 5, SINT64, s64),
	NONE("sf64", 6, SFIXED64, sf64),
	NONE("u32", 7, UINT32, u32),
	NONE("f32", 8, FIXED32, f32),
	NONE("u64", 9, UINT64, u64),
	NONE("f64", 10, FIXED64, f64),
	NONE("fl", 11, FLOAT, fl),
	NONE("db", 12, DOUBLE, db),
	NONE("b", 13, BOOL, b),
	NONE("en", 14, ENUM, en),
	NONE("str", 15, STRING, str),
	NONE("by", 16, BYTES, by),
	NONE("sub", 17, MESSAGE, sub),
	F("opt", 18, OPTIONAL, INT32, Q(has_opt), opt, 0),
	F("opt_str", 19, OPTIONAL, STRING, 0, opt_str, 0),
	F("one_u", 20, NONE, UINT32, Q(one_case), one_u, ONEOF),
	F("one_s", 21, NONE, STRING, Q(one_case), one_s, ONEOF),
	F("one_m", 22, NONE, MESSAGE, Q(one_case), one_m, ONEOF),
	F("pk", 23, REPEATED, INT32, Q(n_pk), pk, PACKED),
	F("pkb", 24, REPEATED, BOOL, Q(n_pkb), pkb, PACKED),
	F("rb", 25, REPEATED, BYTES, Q(n_rb), rb, 0),
	F("opt_by", 26, OPTIONAL, BYTES, Q(has_opt_by), opt_by, 0),
	F("opt_m", 27, OPTIONAL, MESSAGE, 0, opt_m, 0),
	F("rf32", 28, REPEATED, FIXED32, Q(n_rf32), rf32, 0),
	F("pkf", 29, REPEATED, FLOAT, Q(n_pkf), pkf, PACKED),
	F("rs32", 30, REPEATED, SINT32, Q(n_rs32), rs32, 0),
	F("one_by", 31, NONE, BYTES, Q(one_case), one_by, ONEOF),
	F("ob", 32, OPTIONAL, BOOL, Q(has_ob), ob, 0),
	F("re", 33, REPEATED, ENUM, Q(n_re), re, PACKED),
	F("pk64", 200, REPEATED, SINT64, Q(n_pk64), pk64, PACKED),
	F("pkd", 2047, REPEATED, DOUBLE, Q(n_pkd), pkd, PACKED),
	F("rs", 2048, REPEATED, STRING, Q(n_rs), rs, 0),
	F("rm", 70000, REPEATED, MESSAGE, Q(n_rm), rm, 0),
	F("ru", 70001, REPEATED, UINT32, Q(n_ru), ru, 0),
	F("req", 536870910, REQUIRED, INT32, 0, req, 0),
	F("req_str", 536870911, REQUIRED, STRING, 0, req_str, 0),
};

#define N_ALL (sizeof(all_fields) / sizeof(all_fields[0]))
static ProtobufCIntRange all_ranges[N_ALL + 1];

/* As generated code's: the message as its INIT macro makes it. */
static void all_init(ProtobufCMessage *m)
{
	memset(m, 0, sizeof(struct all));
	m->descriptor = &all_desc;
}

static ProtobufCMessageDescriptor all_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	"test.All",
	"All",
	"All",
	"test",
	sizeof(struct all),
	N_ALL,
	all_fields,
	NULL,
	0, /* fix_descriptors() counts the ranges */
	all_ranges,
	all_init,
	NULL,
	NULL,
	NULL,
};

/* proto2 defaults, with no message_init (protobuf-c's generic initialisation then). */
struct defs {
	ProtobufCMessage base;
	protobuf_c_boolean has_i;
	int32_t i;
	char *s;
	protobuf_c_boolean has_by;
	ProtobufCBinaryData by;
	protobuf_c_boolean has_d;
	double d;
	int32_t ri; /* required with a default: may be absent */
	struct defs *m;
};

static const int32_t def_i = 42, def_ri = 7;
static const char def_s[] = "dflt";
static const ProtobufCBinaryData def_by = {3, (uint8_t *)"abc"};
static const double def_d = 2.5;
static ProtobufCMessageDescriptor defs_desc;

#define D(name, id, label, type, q, member, dflt)                                                  \
	{                                                                                          \
		name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q,                     \
			offsetof(struct defs, member), NULL, dflt, 0, 0, NULL, NULL                \
	}

static ProtobufCFieldDescriptor defs_fields[] = {
	D("i", 1, OPTIONAL, INT32, offsetof(struct defs, has_i), i, &def_i),
	D("s", 2, OPTIONAL, STRING, 0, s, def_s),
	D("by", 3, OPTIONAL, BYTES, offsetof(struct defs, has_by), by, &def_by),
	D("d", 4, OPTIONAL, DOUBLE, offsetof(struct defs, has_d), d, &def_d),
	D("ri", 5, REQUIRED, INT32, 0, ri, &def_ri),
	D("m", 6, OPTIONAL, MESSAGE, 0, m, NULL),
};

#define N_DEFS (sizeof(defs_fields) / sizeof(defs_fields[0]))
static ProtobufCIntRange defs_ranges[N_DEFS + 1];

static ProtobufCMessageDescriptor defs_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	"test.Defs",
	"Defs",
	"Defs",
	"test",
	sizeof(struct defs),
	N_DEFS,
	defs_fields,
	NULL,
	0,
	defs_ranges,
	NULL,
	NULL,
	NULL,
	NULL,
};

/* The ranges of field numbers protobuf-c looks fields up in (as generated code has them), and
 * the descriptors of the message and enum fields. */
static void fix_one(ProtobufCMessageDescriptor *d, ProtobufCFieldDescriptor *f,
		    ProtobufCIntRange *r)
{
	unsigned i, n = 0;

	for (i = 0; i < d->n_fields; i++) {
		if (f[i].type == PROTOBUF_C_TYPE_MESSAGE)
			f[i].descriptor = d;
		else if (f[i].type == PROTOBUF_C_TYPE_ENUM)
			f[i].descriptor = &no_enum;
		if (!i || f[i].id != f[i - 1].id + 1)
			r[n++] = (ProtobufCIntRange){(int)f[i].id, i};
	}
	r[n] = (ProtobufCIntRange){0, d->n_fields};
	d->n_field_ranges = n;
}

static void fix_descriptors(void)
{
	fix_one(&all_desc, all_fields, all_ranges);
	fix_one(&defs_desc, defs_fields, defs_ranges);
}

/* ---- random messages (test_pb_pack.c's picker) ---------------------------------------------- */

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A value from the edges (0, 1, the extremes, one-byte and two-byte varint limits) or random. */
static uint64_t pick(void)
{
	static const uint64_t edge[] = {0,	    1,		127,	    128,
					16383,	    16384,	0x7fffffff, 0x80000000,
					0xffffffff, 1ULL << 63, UINT64_MAX, UINT64_MAX - 1};

	return rnd() % 3 ? edge[rnd() % (sizeof(edge) / sizeof(edge[0]))] : rnd() >> (rnd() % 64);
}

static char *text(size_t n)
{
	char *s = malloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = (char)('a' + rnd() % 26);
	s[n] = '\0';
	return s;
}

static bool small; /* short strings and arrays: messages to damage byte by byte */

/* Lengths that take one, two and three bytes (small: one and two). */
static size_t pick_len(void)
{
	static const size_t l[] = {0, 1, 5, 127, 128, 300, 16383, 16384, 20000};

	return l[rnd() % (small ? 5 : 9)];
}

static ProtobufCBinaryData blob(size_t n)
{
	ProtobufCBinaryData b = {n, n ? (uint8_t *)text(n) : NULL};

	return b;
}

static void make_scalars(struct all *m)
{
	m->i32 = (int32_t)pick();
	m->s32 = (int32_t)pick();
	m->sf32 = (int32_t)pick();
	m->i64 = (int64_t)pick();
	m->s64 = (int64_t)pick();
	m->sf64 = (int64_t)pick();
	m->u32 = (uint32_t)pick();
	m->f32 = (uint32_t)pick();
	m->u64 = pick();
	m->f64 = pick();
	m->fl = rnd() % 2 ? 0.0f : rnd() % 2 ? -0.0f : (float)(int64_t)pick() / 3;
	m->db = rnd() % 2 ? 0.0 : rnd() % 2 ? -0.0 : (double)(int64_t)pick() / 7;
	m->b = rnd() % 2;
	m->en = (int)pick();
	if (rnd() % 3)
		m->str = text(rnd() % 2 ? rnd() % 10 : pick_len());
	if (rnd() % 2)
		m->by = blob(pick_len());
	m->has_opt = rnd() % 2;
	m->opt = rnd() % 2 ? 0 : (int32_t)pick(); /* has_opt with 0: written */
	if (rnd() % 2)
		m->opt_str = text(rnd() % 3);
	m->has_opt_by = rnd() % 2;
	if (m->has_opt_by)
		m->opt_by = blob(rnd() % 4);
	m->has_ob = rnd() % 2;
	m->ob = rnd() % 2;
	m->req = (int32_t)pick();
	if (rnd() % 2)
		m->req_str = text(rnd() % 5);
}

#define FILL(m, n_, arr, count, value)                                                             \
	do {                                                                                       \
		size_t i_;                                                                         \
		(m)->n_ = (count);                                                                 \
		(m)->arr = calloc((m)->n_ + 1, sizeof(*(m)->arr));                                 \
		for (i_ = 0; i_ < (m)->n_; i_++)                                                   \
			(m)->arr[i_] = (value);                                                    \
	} while (0)

static struct all *make(int depth);

static void make_repeated(struct all *m, int depth)
{
	FILL(m, n_pk, pk,
	     small	 ? rnd() % 6
	     : rnd() % 2 ? rnd() % 4
			 : pick_len() % 3000,
	     (int32_t)pick());
	FILL(m, n_pk64, pk64, rnd() % (small ? 5 : 20), (int64_t)pick());
	FILL(m, n_pkd, pkd, rnd() % (small ? 4 : 40), (double)(int64_t)pick() / 3);
	FILL(m, n_rs, rs, rnd() % 4, text(rnd() % (small ? 8 : 200)));
	FILL(m, n_rm, rm, depth ? rnd() % 3 : 0, make(depth - 1));
	FILL(m, n_ru, ru, rnd() % 5, (uint32_t)pick());
	FILL(m, n_pkb, pkb, rnd() % 4, rnd() % 2);
	FILL(m, n_rb, rb, rnd() % 3, blob(rnd() % 2 ? 0 : pick_len() % 50));
	FILL(m, n_rf32, rf32, rnd() % 3, (uint32_t)pick());
	FILL(m, n_pkf, pkf, rnd() % 4, (float)(int64_t)pick() / 5);
	FILL(m, n_rs32, rs32, rnd() % 4, (int32_t)pick());
	FILL(m, n_re, re, rnd() % 4, (int)pick());
}

static struct all *make(int depth)
{
	static const uint32_t cases[] = {20, 21, 22, 23, 31}; /* 23: not a field of the oneof */
	struct all *m = calloc(1, sizeof(*m));

	m->base.descriptor = &all_desc;
	if (rnd() % 4 == 0)
		return m; /* all zero: only the required fields are written */
	make_scalars(m);
	if (depth && rnd() % 2)
		m->sub = make(depth - 1);
	if (depth && rnd() % 4 == 0)
		m->opt_m = make(depth - 1);
	m->one_case = cases[rnd() % 5];
	if (m->one_case == 22 && !depth)
		m->one_case = 20;
	if (m->one_case == 20)
		m->one_u = rnd() % 2 ? 0 : (uint32_t)pick(); /* chosen: written even when 0 */
	else if (m->one_case == 21)
		m->one_s = text(rnd() % 4);
	else if (m->one_case == 22)
		m->one_m = make(depth - 1);
	else if (m->one_case == 31)
		m->one_by = blob(rnd() % 3);
	make_repeated(m, depth);
	return m;
}

static void drop(struct all *m)
{
	size_t i;

	if (!m)
		return;
	free(m->str);
	free(m->by.data);
	drop(m->sub);
	free(m->opt_str);
	if (m->one_case == 21)
		free(m->one_s);
	else if (m->one_case == 22)
		drop(m->one_m);
	else if (m->one_case == 31)
		free(m->one_by.data);
	free(m->pk);
	free(m->pk64);
	free(m->pkd);
	for (i = 0; i < m->n_rs; i++)
		free(m->rs[i]);
	free(m->rs);
	for (i = 0; i < m->n_rm; i++)
		drop(m->rm[i]);
	free(m->rm);
	free(m->ru);
	free(m->req_str);
	free(m->pkb);
	for (i = 0; i < m->n_rb; i++)
		free(m->rb[i].data);
	free(m->rb);
	free(m->opt_by.data);
	drop(m->opt_m);
	free(m->rf32);
	free(m->pkf);
	free(m->rs32);
	free(m->re);
	free(m);
}

static uint8_t *packed(const ProtobufCMessage *m, size_t *n)
{
	uint8_t *p;

	*n = protobuf_c_message_get_packed_size(m);
	p = malloc(*n + 1);
	MUST(p);
	MUST(protobuf_c_message_pack(m, p) == *n);
	return p;
}

/* ---- an allocator that counts (and fails when told) ------------------------------------------ */

struct counting {
	ProtobufCAllocator a;
	size_t allocs, frees;
	size_t limit; /* allocations past this many fail */
};

#define ALLOC_HDR 16
#define ALLOC_MAGIC 0x7062756e7061636bULL

static void *counting_alloc(void *ctx, size_t n)
{
	struct counting *c = ctx;
	uint64_t magic = ALLOC_MAGIC;
	uint8_t *p;

	if (c->allocs >= c->limit)
		return NULL;
	p = malloc(ALLOC_HDR + n);
	if (!p)
		return NULL;
	memcpy(p, &magic, sizeof(magic));
	c->allocs++;
	return p + ALLOC_HDR;
}

/* A part not from this allocator, or freed twice, has no magic before it. */
static void counting_free(void *ctx, void *q)
{
	struct counting *c = ctx;
	uint64_t magic;
	uint8_t *p;

	if (!q)
		return;
	p = (uint8_t *)q - ALLOC_HDR;
	memcpy(&magic, p, sizeof(magic));
	if (magic != ALLOC_MAGIC)
		ck_abort_msg("pb_unpack: a part freed twice or not from the allocator");
	magic = 0;
	memcpy(p, &magic, sizeof(magic));
	c->frees++;
	free(p);
}

static void counting_init(struct counting *c, size_t limit)
{
	c->a = (ProtobufCAllocator){counting_alloc, counting_free, c};
	c->allocs = c->frees = 0;
	c->limit = limit;
}

/* ---- reports: the input a difference or a crash was found on --------------------------------- */

static const uint8_t *cur; /* the input being decoded, for a crash's report */
static size_t cur_len;
static int n_mismatch; /* of the test running: the first ones printed, the test fails at its end */

static void hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 4096; i++)
		fprintf(stderr, "%02x", p[i]);
	if (n > 4096)
		fprintf(stderr, "... (%zu bytes more)", n - 4096);
	fputc('\n', stderr);
}

static void on_crash(int sig)
{
	static const char x[] = "0123456789abcdef", say[] = "pb_unpack test: crashed on input ";
	char c[2];
	size_t i;

	if (cur) {
		(void)!write(2, say, sizeof(say) - 1);
		for (i = 0; i < cur_len; i++) {
			c[0] = x[cur[i] >> 4];
			c[1] = x[cur[i] & 15];
			(void)!write(2, c, 2);
		}
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void setup(void)
{
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGABRT, on_crash);
	signal(SIGFPE, on_crash);
	n_mismatch = 0;
}

static void show(const char *who, const ProtobufCMessage *m)
{
	uint8_t *p;
	size_t n;

	fprintf(stderr, "  %s: ", who);
	if (!m) {
		fprintf(stderr, "NULL\n");
		return;
	}
	p = packed(m, &n);
	fprintf(stderr, "a message, packed again: ");
	hex(p, n);
	free(p);
}

static void mismatch(const char *what, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		     size_t n, const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	if (n_mismatch++ >= 10)
		return;
	fprintf(stderr, "pb_unpack differs from protobuf-c: %s\n  input (%s, %zu bytes): ", what,
		d->name, n);
	hex(p, n);
	show("protobuf-c", a);
	show("pb_unpack ", b);
}

#define NO_MISMATCH()                                                                              \
	ck_assert_msg(                                                                             \
		n_mismatch == 0,                                                                   \
		"%d inputs on which pb_unpack and protobuf-c differ (the first ones on stderr)",   \
		n_mismatch)

/* ---- the same message: field by field ------------------------------------------------------- */

static char where[512]; /* the path to the first field found different */

static void prepend(const char *name, long index)
{
	char part[128];
	size_t l;

	if (index >= 0)
		snprintf(part, sizeof(part), "%s[%ld]%s", name, index, where[0] ? "." : "");
	else
		snprintf(part, sizeof(part), "%s%s", name, where[0] ? "." : "");
	l = strlen(part);
	if (l + strlen(where) + 1 > sizeof(where))
		return;
	memmove(where + l, where, strlen(where) + 1);
	memcpy(where, part, l);
}

static bool same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b);

static bool same_value(const ProtobufCFieldDescriptor *f, const void *x, const void *y)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)x, *t = *(char *const *)y;

		return s == t || (s && t && !strcmp(s, t));
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *s = x, *t = y;

		return s->len == t->len && (!s->len || !memcmp(s->data, t->data, s->len));
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *s = *(ProtobufCMessage *const *)x;
		const ProtobufCMessage *t = *(ProtobufCMessage *const *)y;

		return s == t || (s && t && same_msg(s, t));
	}
	default:
		return !memcmp(x, y, pb_value_size(f->type));
	}
}

static bool same_field(const ProtobufCMessage *a, const ProtobufCMessage *b,
		       const ProtobufCFieldDescriptor *f)
{
	const char *x = (const char *)a + f->offset, *y = (const char *)b + f->offset;
	const char *qa = (const char *)a + f->quantifier_offset;
	const char *qb = (const char *)b + f->quantifier_offset;
	size_t size = pb_value_size(f->type), n, i;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		if (*(const uint32_t *)qa == *(const uint32_t *)qb &&
		    (*(const uint32_t *)qa != f->id || same_value(f, x, y)))
			return true;
		prepend(f->name, -1);
		return false;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n = *(const size_t *)qa;
		if (n != *(const size_t *)qb) {
			prepend(f->name, -1);
			return false;
		}
		for (i = 0; i < n; i++)
			if (!same_value(f, *(char *const *)x + i * size,
					*(char *const *)y + i * size)) {
				prepend(f->name, (long)i);
				return false;
			}
		return true;
	}
	if ((f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
	     *(const protobuf_c_boolean *)qa != *(const protobuf_c_boolean *)qb) ||
	    !same_value(f, x, y)) {
		prepend(f->name, -1);
		return false;
	}
	return true;
}

/* Whether a reader of the two structs sees the same values (bytes of no length and arrays of
 * no element: whatever pointer); where says the first field that differs. */
static bool same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	const ProtobufCMessageDescriptor *d = a->descriptor;
	unsigned i;

	if (a->descriptor != b->descriptor) {
		prepend("(descriptor)", -1);
		return false;
	}
	for (i = 0; i < d->n_fields; i++)
		if (!same_field(a, b, d->fields + i))
			return false;
	if (a->n_unknown_fields != b->n_unknown_fields) {
		prepend("(number of unknown fields)", -1);
		return false;
	}
	for (i = 0; i < a->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = a->unknown_fields + i,
						   *v = b->unknown_fields + i;

		if (u->tag != v->tag || u->wire_type != v->wire_type || u->len != v->len ||
		    (u->len && memcmp(u->data, v->data, u->len))) {
			prepend("(unknown field)", (long)i);
			return false;
		}
	}
	return true;
}

/* a and b pack to the same bytes and hold the same values; else what says how they differ. */
static bool same_result(const ProtobufCMessage *a, const ProtobufCMessage *b, char *what,
			size_t cap)
{
	size_t na, nb;
	uint8_t *pa = packed(a, &na), *pb = packed(b, &nb);
	bool bytes = na == nb && !memcmp(pa, pb, na), fields;

	where[0] = '\0';
	fields = same_msg(a, b);
	if (!fields)
		snprintf(what, cap, "the results differ at %s (packed again: %s bytes)", where,
			 bytes ? "the same" : "different");
	else if (!bytes)
		snprintf(what, cap, "the results pack to different bytes (%zu and %zu)", na, nb);
	free(pa);
	free(pb);
	return bytes && fields;
}

/* ---- the merge case: a singular message field more than once in one message ------------------ */

static bool dup_singular(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	struct wire_walk w = {false, 0};

	walk(d, p, n, 0, &w);
	return w.dup;
}

/* ---- the differential ----------------------------------------------------------------------- */

/* Both decoders on p: the same answer (a message or NULL); nothing of pb_unpack's left after a
 * NULL or after free_unpacked; and the same message unless the input is the merge case.
 * Returns whether it was accepted (by protobuf-c). */
static bool differ(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	ProtobufCMessage *a, *b;
	struct counting c;
	char what[700];
	bool dup;

	cur = p;
	cur_len = n;
	counting_init(&c, SIZE_MAX);
	a = protobuf_c_message_unpack(d, NULL, n, p);
	b = pb_unpack(d, &c.a, n, p);
	/* The merge case: pb_unpack may take what protobuf-c refuses (parts that lack required
	 * fields alone; protobuf-c's merge of two parts that both leave a oneof unset fails). */
	dup = dup_singular(d, p, n);
	if (a && !b)
		mismatch("protobuf-c accepts, pb_unpack refuses", d, p, n, a, b);
	else if (!a && b && !dup)
		mismatch("pb_unpack accepts, protobuf-c refuses", d, p, n, a, b);
	else if (a && !dup && !same_result(a, b, what, sizeof(what)))
		mismatch(what, d, p, n, a, b);
	if (a)
		protobuf_c_message_free_unpacked(a, NULL);
	if (b)
		protobuf_c_message_free_unpacked(b, &c.a);
	if (c.allocs != c.frees) {
		snprintf(what, sizeof(what), "pb_unpack %s: %zu allocations, %zu frees",
			 b ? "and free_unpacked leave parts" : "leaks when it refuses", c.allocs,
			 c.frees);
		mismatch(what, d, p, n, NULL, NULL);
	}
	cur = NULL;
	return a != NULL;
}

/* ---- inputs: random messages of every type, flows, other Hubble messages --------------------- */

struct sample {
	const ProtobufCMessageDescriptor *d;
	uint8_t *p;
	size_t n;
};

static struct sample sample_of(const ProtobufCMessage *m)
{
	struct sample s = {m->descriptor, NULL, 0};

	s.p = packed(m, &s.n);
	return s;
}

static struct sample sample_frame(const struct buf *b)
{
	struct sample s = {&observer__get_flows_response__descriptor, NULL,
			   b->len - GRPC_FRAME_HDR};

	s.p = malloc(s.n + 1);
	memcpy(s.p, b->data + GRPC_FRAME_HDR, s.n);
	return s;
}

/* Flows of every kind the encoder writes: families, protocols, events, processes, names, DNS. */
static struct flow varied(int i)
{
	static struct flow_process procs[2]; /* until the next call: the flow is encoded first */
	struct flow f = tcp_flow();

	f.family = i % 2 ? 6 : 4;
	f.proto = i % 3 == 0 ? 17 : i % 5 == 0 ? (f.family == 6 ? 58 : 1) : 6;
	f.src.addr[0] = (uint8_t)i;
	f.dst.addr[15] = (uint8_t)(i * 7);
	f.src.port = (uint16_t)(i * 311);
	f.icmp_type = (uint8_t)(i % 4 ? 8 : 3);
	f.tcp_flags = (uint16_t)(i * 5);
	f.packets[0] = (uint64_t)i << (i % 50);
	f.bytes[1] = 1ULL << (i % 64);
	f.time_ns = 1764748800000000000ULL + (uint64_t)i * 999999937ULL;
	f.first_seen_ns = f.time_ns - 1000;
	f.last_seen_ns = f.time_ns;
	f.event = (uint8_t)(i % 7);
	f.seq = (uint64_t)i;
	f.is_reply = i % 4 == 1;
	f.verdict = (uint8_t)(i % 3);
	f.drops = (uint64_t)(i % 3);
	f.ifindex = (uint32_t)i;
	if (i % 2 == 0)
		f.ifname[0] = '\0';
	procs[0] = (struct flow_process){.known = true, .pid = (uint32_t)i * 1000, .comm = "curl"};
	procs[1] = (struct flow_process){.known = true,
					 .cgroup_id = (uint64_t)i * 77,
					 .comm = "nginx",
					 .container_id = i % 2 ? "3f2a9c" : NULL};
	f.src_proc = i % 2 ? &procs[0] : NULL;
	f.dst_proc = i % 3 == 1 ? &procs[1] : NULL;
	f.src_name = i % 5 ? "example.org" : NULL;
	f.dst_name = i % 7 == 3 ? "db.shop.svc" : NULL;
	f.rtt_us = (uint32_t)i * 13;
	f.retransmits = (uint32_t)(i % 4);
	if (f.event == FLOW_EVENT_DNS) {
		f.dns.present = true;
		f.dns.query = "web.shop.test";
		f.dns.qtype = i % 2 ? 1 : 28;
		f.dns.response = i % 3 == 0;
		f.dns.n_ips = (uint8_t)(f.dns.response ? 1 + i % 3 : 0);
		f.dns.ip_family[0] = f.dns.ip_family[1] = f.dns.ip_family[2] = 4;
		f.dns.ips[1][3] = (uint8_t)i;
		f.dns.rcode = (uint8_t)(i % 5 == 0 ? 3 : 0);
	}
	return f;
}

static void flow_labels(int i)
{
	static char *lab[] = {"zone=a", "rack=r7", "k8s.io/role=worker"};

	flow_pb_set_node_labels(lab, (size_t)(i % 4));
}

static struct sample sample_flow(int i)
{
	struct flow f = varied(i);
	struct buf b = BUF_INIT;
	struct sample s;

	flow_labels(i);
	ck_assert_int_eq(flow_pb_frame(&b, &f, i % 2 ? "node-a" : NULL), 0);
	s = sample_frame(&b);
	buf_free(&b);
	return s;
}

static struct sample sample_request(void)
{
	Observer__GetFlowsRequest r = OBSERVER__GET_FLOWS_REQUEST__INIT;
	Flow__FlowFilter allow = FLOW__FLOW_FILTER__INIT, deny = FLOW__FLOW_FILTER__INIT;
	Flow__TCPFlags syn = FLOW__TCPFLAGS__INIT, *flags[] = {&syn};
	Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *src_ip[] = {"10.0.0.0/8", "fd00::1"}, *dport[] = {"443", "8000-8080"};
	char *paths[] = {"source", "l4.TCP"}, *fqdn[] = {"*.example.com"};
	Flow__FlowFilter *al[] = {&allow}, *dl[] = {&deny};
	Flow__Verdict verdicts[] = {FLOW__VERDICT__DROPPED, FLOW__VERDICT__FORWARDED};

	allow.n_source_ip = 2;
	allow.source_ip = src_ip;
	allow.n_destination_port = 2;
	allow.destination_port = dport;
	syn.syn = true;
	allow.n_tcp_flags = 1;
	allow.tcp_flags = flags;
	deny.n_destination_fqdn = 1;
	deny.destination_fqdn = fqdn;
	deny.n_verdict = 2;
	deny.verdict = verdicts;
	r.number = 20;
	r.n_whitelist = 1;
	r.whitelist = al;
	r.n_blacklist = 1;
	r.blacklist = dl;
	since.seconds = 1700000000;
	since.nanos = 5;
	r.since = &since;
	fm.n_paths = 2;
	fm.paths = paths;
	r.field_mask = &fm;
	r.follow = true;
	return sample_of(&r.base);
}

static struct sample sample_status(void)
{
	Observer__ServerStatusResponse st = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Google__Protobuf__UInt32Value nc = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__UInt32Value nu = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__Timestamp old = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Observer__History h = OBSERVER__HISTORY__INIT;
	char *unavailable[] = {"node-3", "node-9"};

	st.num_flows = 10;
	st.max_flows = 65536;
	st.seen_flows = 1ULL << 40;
	st.version = "flowscope 0.1.0";
	st.flows_rate = 12.5;
	nc.value = 3;
	st.num_connected_nodes = &nc;
	st.num_unavailable_nodes = &nu; /* present, value 0 */
	st.n_unavailable_nodes = 2;
	st.unavailable_nodes = unavailable;
	old.seconds = 1700000000;
	h.oldest = &old;
	h.events = 99;
	h.state = "ok";
	st.history = &h;
	return sample_of(&st.base);
}

/* The inputs damaged: small random messages of every type, flows, the other frames and a
 * request. Returns how many (at most cap). */
static size_t samples(struct sample *s, size_t cap, size_t n_all)
{
	const char *names[] = {"node-1", "node-2"};
	struct buf b = BUF_INIT;
	size_t n = 0;
	int i;

	small = true;
	for (i = 0; n < n_all && n < cap; i++) {
		struct all *m = make(2);

		s[n++] = sample_of(&m->base);
		drop(m);
	}
	small = false;
	for (i = 0; i < 12 && n < cap; i++)
		s[n++] = sample_flow(i * 5 + 1);
	flow_pb_set_node_labels(NULL, 0);
	ck_assert_int_eq(flow_pb_lost_frame(&b, 2, 17, "node-1", 1700000000000000000ULL), 0);
	s[n++] = sample_frame(&b);
	buf_reset(&b);
	ck_assert_int_eq(flow_pb_node_status_frame(&b, 1, names, 2, "connected", "relay",
						   1700000000000000001ULL),
			 0);
	s[n++] = sample_frame(&b);
	buf_free(&b);
	s[n++] = sample_request();
	s[n++] = sample_status();
	ck_assert_uint_le(n, cap);
	return n;
}

static void samples_free(struct sample *s, size_t n)
{
	while (n--)
		free(s[n].p);
}

/* ---- round trips ------------------------------------------------------------------------------
 */

/* Both decoders accept p, pack their results again to p (canonical) and hold the same values;
 * pb_unpack's parts all from the allocator (the counting one, and then malloc's under ASan). */
static void assert_round_trip(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	ProtobufCMessage *a, *b, *c;
	struct counting cnt;
	char what[700];
	uint8_t *again;
	size_t len;

	cur = p;
	cur_len = n;
	counting_init(&cnt, SIZE_MAX);
	a = protobuf_c_message_unpack(d, NULL, n, p);
	MUST(a);
	b = pb_unpack(d, &cnt.a, n, p);
	c = pb_unpack(d, NULL, n, p);
	if (!b || !c) {
		mismatch("pb_unpack refuses a valid message", d, p, n, a, b);
	} else {
		if (!same_result(a, b, what, sizeof(what)) ||
		    !same_result(a, c, what, sizeof(what)))
			mismatch(what, d, p, n, a, b);
		again = packed(b, &len);
		if (len != n || memcmp(again, p, n))
			mismatch("the result does not pack to the input", d, p, n, a, b);
		free(again);
	}
	protobuf_c_message_free_unpacked(a, NULL);
	if (b)
		protobuf_c_message_free_unpacked(b, &cnt.a);
	if (c)
		protobuf_c_message_free_unpacked(c, NULL);
	MUST(cnt.allocs == cnt.frees);
	cur = NULL;
}

START_TEST(test_every_type_and_label)
{
	struct all zero = {.base = {.descriptor = &all_desc}};
	uint8_t *p;
	size_t n;
	int i;

	p = packed(&zero.base, &n);
	assert_round_trip(&all_desc, p, n);
	free(p);
	for (i = 0; i < 3000; i++) {
		struct all *m = make(3);

		p = packed(&m->base, &n);
		assert_round_trip(&all_desc, p, n);
		free(p);
		drop(m);
	}
	NO_MISMATCH();
}
END_TEST

/* Unpacked from flows as flow_pb writes them: with malloc (freed by free_unpacked: under ASan a
 * part from elsewhere or left behind shows), the counting allocator, an arena reset between
 * messages and an arena per message (as flowctl and the relay use them). */
START_TEST(test_flows)
{
	const char *names[] = {"node-1", "node-2", "node-3"};
	struct pb_arena arena;
	int i;

	pb_arena_init(&arena);
	for (i = 0; i < 300; i++) {
		struct sample s = i < 298 ? sample_flow(i) : (struct sample){0};
		struct buf b = BUF_INIT;
		ProtobufCMessage *a, *r, *k;
		struct pb_arena own;
		char what[700];

		if (i == 298)
			ck_assert_int_eq(
				flow_pb_lost_frame(&b, 1, 3, "node-1", 1700000000000000000ULL), 0);
		else if (i == 299)
			ck_assert_int_eq(flow_pb_node_status_frame(&b, 2, names, 3, "gone", NULL,
								   1700000000000000000ULL),
					 0);
		if (i >= 298) {
			s = sample_frame(&b);
			buf_free(&b);
		}
		assert_round_trip(s.d, s.p, s.n);
		a = protobuf_c_message_unpack(s.d, NULL, s.n, s.p);
		ck_assert_ptr_nonnull(a);
		r = pb_unpack(s.d, &arena.allocator, s.n, s.p);
		ck_assert_ptr_nonnull(r);
		if (!same_result(a, r, what, sizeof(what)))
			mismatch(what, s.d, s.p, s.n, a, r);
		pb_arena_reset(&arena);
		pb_arena_init_block(&own, 3072);
		k = pb_unpack(s.d, &own.allocator, s.n, s.p);
		ck_assert_ptr_nonnull(k);
		if (!same_result(a, k, what, sizeof(what)))
			mismatch(what, s.d, s.p, s.n, a, k);
		pb_arena_free(&own);
		/* The flow alone, as a Flow. */
		if (((Observer__GetFlowsResponse *)a)->response_types_case ==
		    OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW) {
			struct sample f = sample_of(&((Observer__GetFlowsResponse *)a)->flow->base);

			assert_round_trip(&flow__flow__descriptor, f.p, f.n);
			free(f.p);
		}
		protobuf_c_message_free_unpacked(a, NULL);
		free(s.p);
	}
	pb_arena_free(&arena);
	flow_pb_set_node_labels(NULL, 0);
	NO_MISMATCH();
}
END_TEST

START_TEST(test_other_hubble_messages)
{
	struct sample s[2] = {sample_request(), sample_status()};

	assert_round_trip(s[0].d, s[0].p, s[0].n);
	assert_round_trip(s[1].d, s[1].p, s[1].n);
	/* Nothing at all: every field absent. */
	assert_round_trip(&observer__get_flows_response__descriptor, (const uint8_t *)"", 0);
	assert_round_trip(&flow__flow__descriptor, (const uint8_t *)"", 0);
	samples_free(s, 2);
	NO_MISMATCH();
}
END_TEST

/* ---- damaged inputs, byte by byte -------------------------------------------------------------
 */

START_TEST(test_damaged_bytes)
{
	static const uint8_t flips[] = {0x01, 0x80, 0x07, 0xff, 0x08};
	struct sample s[64];
	size_t n = samples(s, 64, 30), i, j, k, accepted = 0, total = 0;

	for (i = 0; i < n; i++) {
		const struct sample *x = s + i;
		uint8_t *q = malloc(x->n + 2);

		for (j = 0; j < x->n; j++) { /* cut at every length */
			memcpy(q, x->p, j);
			accepted += differ(x->d, q, j);
			total++;
		}
		memcpy(q, x->p, x->n);
		for (j = 0; j < x->n; j++)
			for (k = 0; k <= sizeof(flips); k++) {
				uint8_t flip =
					k < sizeof(flips) ? flips[k] : (uint8_t)(1 + rnd() % 255);

				q[j] ^= flip;
				accepted += differ(x->d, q, x->n);
				q[j] ^= flip;
				total++;
			}
		for (j = 0; j < x->n; j++) { /* a byte taken away */
			memcpy(q, x->p, j);
			memcpy(q + j, x->p + j + 1, x->n - j - 1);
			accepted += differ(x->d, q, x->n - 1);
			total++;
		}
		for (j = 0; j <= x->n; j++) { /* a byte added */
			static const uint8_t add[] = {0x00, 0x80, 0xff, 0x0a, 0x12};

			memcpy(q, x->p, j);
			q[j] = rnd() % 2 ? add[rnd() % sizeof(add)] : (uint8_t)rnd();
			memcpy(q + j + 1, x->p + j, x->n - j);
			accepted += differ(x->d, q, x->n + 1);
			total++;
		}
		free(q);
	}
	samples_free(s, n);
	ck_assert_uint_gt(accepted, total / 20);
	ck_assert_uint_lt(accepted, total - total / 20);
	NO_MISMATCH();
}
END_TEST

/* ---- damaged inputs, field by field: an encoding as a tree of fields ------------------------- */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
};

static void wput(struct wbuf *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		MUST(b->p);
	}
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
}

/* v as a varint, pad bytes longer than it needs (continuation bytes of nothing). */
static size_t varint(uint8_t *out, uint64_t v, unsigned pad)
{
	size_t i = 0;

	while (v >= 0x80) {
		out[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[i++] = (uint8_t)v;
	if (pad) {
		out[i - 1] |= 0x80;
		while (--pad)
			out[i++] = 0x80;
		out[i++] = 0;
	}
	return i;
}

static size_t varint_len(uint64_t v)
{
	size_t k = 1;

	while (v >= 0x80) {
		v >>= 7;
		k++;
	}
	return k;
}

static size_t get_varint(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < n && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

struct wmsg;

struct wfield {
	uint64_t id;	   /* the field number written (from 2^32 on: a tag of 6 bytes) */
	unsigned wt;	   /* the wire type written */
	unsigned tag_pad;  /* bytes added to the tag's varint */
	unsigned len_pad;  /* and to the length's */
	int64_t len_delta; /* added to the length written */
	bool flat;	   /* raw is all of the value, written as it is (a length in it) */
	struct wbuf raw;   /* else a scalar's bytes or a length-delimited body */
	struct wmsg *sub;  /* or a known message field's body, as fields */
};

struct wmsg {
	const ProtobufCMessageDescriptor *d;
	struct wfield *f;
	size_t n;
};

static void wadd(struct wmsg *m, size_t at, const struct wfield *f)
{
	m->f = realloc(m->f, (m->n + 1) * sizeof(*m->f));
	MUST(m->f);
	memmove(m->f + at + 1, m->f + at, (m->n - at) * sizeof(*m->f));
	m->f[at] = *f;
	m->n++;
}

static void wfree(struct wmsg *m);

static void wclear(struct wfield *f)
{
	free(f->raw.p);
	f->raw = (struct wbuf){NULL, 0, 0};
	wfree(f->sub);
	f->sub = NULL;
	f->flat = false;
	f->len_pad = 0;
	f->len_delta = 0;
}

/* Takes field at out of m (its parts stay with *f). */
static void wtake(struct wmsg *m, size_t at, struct wfield *f)
{
	*f = m->f[at];
	memmove(m->f + at, m->f + at + 1, (m->n - at - 1) * sizeof(*m->f));
	m->n--;
}

static void wfree(struct wmsg *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		wclear(&m->f[i]);
	free(m->f);
	free(m);
}

/* A valid encoding (protobuf-c's) as fields; the known message fields' values as fields too. */
static struct wmsg *wparse(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	struct wmsg *m = calloc(1, sizeof(*m));

	m->d = d;
	while (n) {
		const ProtobufCFieldDescriptor *fd;
		struct wfield f = {0};
		uint64_t key, l = 0;
		size_t k = get_varint(p, n, &key), v = 0;

		MUST(k > 0);
		f.id = key >> 3;
		f.wt = key & 7;
		p += k;
		n -= k;
		if (f.wt == PROTOBUF_C_WIRE_TYPE_VARINT)
			MUST((v = get_varint(p, n, &l)) > 0);
		else if (f.wt == PROTOBUF_C_WIRE_TYPE_64BIT)
			v = 8;
		else if (f.wt == PROTOBUF_C_WIRE_TYPE_32BIT)
			v = 4;
		else if (f.wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
			MUST((k = get_varint(p, n, &l)) > 0);
			p += k;
			n -= k;
			v = l;
		} else
			ck_abort_msg("wire type %u in protobuf-c's encoding", f.wt);
		MUST(v <= n);
		fd = f.wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED
			     ? protobuf_c_message_descriptor_get_field(d, (unsigned)f.id)
			     : NULL;
		if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE)
			f.sub = wparse(fd->descriptor, p, v);
		else
			wput(&f.raw, p, v);
		wadd(m, m->n, &f);
		p += v;
		n -= v;
	}
	return m;
}

static void wwrite(struct wbuf *b, const struct wmsg *m);

/* A field's value: the bytes after its tag. */
static void wwrite_value(struct wbuf *b, const struct wfield *f)
{
	struct wbuf body = {NULL, 0, 0};
	const struct wbuf *x = &f->raw;
	uint8_t v[32];

	if (f->flat || f->wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
		wput(b, f->raw.p, f->raw.n);
		return;
	}
	if (f->sub) {
		wwrite(&body, f->sub);
		x = &body;
	}
	wput(b, v, varint(v, (uint64_t)((int64_t)x->n + f->len_delta), f->len_pad));
	wput(b, x->p, x->n);
	free(body.p);
}

static void wwrite(struct wbuf *b, const struct wmsg *m)
{
	uint8_t v[32];
	size_t i;

	for (i = 0; i < m->n; i++) {
		const struct wfield *f = m->f + i;

		wput(b, v, varint(v, f->id << 3 | f->wt, f->tag_pad));
		wwrite_value(b, f);
	}
}

static size_t body_len(const struct wfield *f)
{
	struct wbuf b = {NULL, 0, 0};
	size_t n;

	if (!f->sub)
		return f->raw.n;
	wwrite(&b, f->sub);
	n = b.n;
	free(b.p);
	return n;
}

/* The field's value as bytes written as they are (its wire type can change). */
static void flatten(struct wfield *f)
{
	struct wbuf b = {NULL, 0, 0};

	wwrite_value(&b, f);
	wclear(f);
	f->raw = b;
	f->flat = true;
}

/* A message field's body as bytes (to cut). */
static void unsub(struct wfield *f)
{
	struct wbuf b = {NULL, 0, 0};

	if (!f->sub)
		return;
	wwrite(&b, f->sub);
	wfree(f->sub);
	f->sub = NULL;
	free(f->raw.p);
	f->raw = b;
}

static struct wfield wcopy(const struct wfield *f)
{
	struct wfield c = {f->id, f->wt, f->tag_pad, 0, 0, true, {NULL, 0, 0}, NULL};

	wwrite_value(&c.raw, f);
	return c;
}

static unsigned wire_of(ProtobufCType t)
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

static void random_bytes(struct wbuf *b, size_t n)
{
	while (n--) {
		uint8_t c = (uint8_t)rnd();

		wput(b, &c, 1);
	}
}

/* Random bytes of a value of wire type wt (a varint sometimes longer than it needs). */
static void random_payload(struct wfield *f)
{
	uint8_t v[32];

	switch (f->wt) {
	case PROTOBUF_C_WIRE_TYPE_VARINT:
		wput(&f->raw, v, varint(v, pick(), rnd() % 4 ? 0 : (unsigned)(rnd() % 3)));
		break;
	case PROTOBUF_C_WIRE_TYPE_64BIT:
		random_bytes(&f->raw, 8);
		break;
	case PROTOBUF_C_WIRE_TYPE_32BIT:
		random_bytes(&f->raw, 4);
		break;
	case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
		random_bytes(&f->raw, rnd() % 8);
		break;
	default: /* a group's or no wire type's: whatever follows */
		random_bytes(&f->raw, rnd() % 3);
	}
}

static struct wmsg *minimal(const ProtobufCMessageDescriptor *d, unsigned depth);

/* A value of field fd sent as wire type wt: of its own type when wt is its own (a message with
 * its required fields, a packed array of values), else random bytes of that wire type. */
static void known_value(struct wfield *f, const ProtobufCFieldDescriptor *fd, unsigned wt,
			unsigned depth)
{
	unsigned own = wire_of(fd->type), i, n;
	uint8_t v[32];

	f->wt = wt;
	if (wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		f->sub = minimal(fd->descriptor, depth + 1);
	} else if (wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && own != wt &&
		   fd->label == PROTOBUF_C_LABEL_REPEATED) {
		n = (unsigned)(rnd() % 4);
		for (i = 0; i < n; i++) {
			if (own == PROTOBUF_C_WIRE_TYPE_VARINT)
				wput(&f->raw, v,
				     varint(v,
					    fd->type == PROTOBUF_C_TYPE_BOOL ? rnd() % 2 : pick(),
					    0));
			else
				random_bytes(&f->raw, own == PROTOBUF_C_WIRE_TYPE_32BIT ? 4 : 8);
		}
	} else if (wt == PROTOBUF_C_WIRE_TYPE_VARINT && fd->type == PROTOBUF_C_TYPE_BOOL) {
		wput(&f->raw, v, varint(v, rnd() % 2 ? rnd() % 3 : pick(), 0));
	} else {
		random_payload(f);
	}
}

/* A message of type d that decodes: its required fields (and sometimes another). */
static struct wmsg *minimal(const ProtobufCMessageDescriptor *d, unsigned depth)
{
	struct wmsg *m = calloc(1, sizeof(*m));
	unsigned i;

	m->d = d;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = d->fields + i;
		struct wfield f = {fd->id};

		if (fd->label != PROTOBUF_C_LABEL_REQUIRED &&
		    (rnd() % 8 || depth > 3 || fd->type == PROTOBUF_C_TYPE_MESSAGE))
			continue;
		known_value(&f, fd, wire_of(fd->type), depth);
		wadd(m, m->n, &f);
	}
	return m;
}

static void collect(struct wmsg *m, struct wmsg **nodes, size_t *n, size_t cap)
{
	size_t i;

	if (*n < cap)
		nodes[(*n)++] = m;
	for (i = 0; i < m->n; i++)
		if (m->f[i].sub)
			collect(m->f[i].sub, nodes, n, cap);
}

static const ProtobufCFieldDescriptor *known(const struct wmsg *m, const struct wfield *f)
{
	return f->id <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(m->d, (unsigned)f->id)
				   : NULL;
}

/* A packed field's values as one field each (its last one cut if it was). */
static void split(struct wmsg *m, size_t at, const ProtobufCFieldDescriptor *fd)
{
	unsigned w = wire_of(fd->type);
	struct wfield old;
	size_t o = 0, k;

	wtake(m, at, &old);
	while (o < old.raw.n) {
		struct wfield e = {old.id, w};

		if (w == PROTOBUF_C_WIRE_TYPE_VARINT) {
			for (k = 0; o + k < old.raw.n && (old.raw.p[o + k] & 0x80); k++)
				;
			k++;
		} else
			k = w == PROTOBUF_C_WIRE_TYPE_32BIT ? 4 : 8;
		if (o + k > old.raw.n)
			k = old.raw.n - o;
		wput(&e.raw, old.raw.p + o, k);
		wadd(m, at++, &e);
		o += k;
	}
	wclear(&old);
}

static void add_unknown(struct wmsg *m)
{
	static const uint64_t ids[] = {0,	   99,	       150,	  999,	      99999,
				       123457,	   536870911,  536870912, 0x7fffffff, 0x80000000,
				       0xffffffff, 1ULL << 32, 1ULL << 40};
	struct wfield f = {ids[rnd() % (sizeof(ids) / sizeof(ids[0]))]};

	f.wt = (unsigned)(rnd() % 6 ? "\0\1\2\5"[rnd() % 4] : "\3\4\6\7"[rnd() % 4]);
	random_payload(&f);
	wadd(m, (size_t)(rnd() % (m->n + 1)), &f);
}

/* A oneof's case switched: one of its fields (this one or another) somewhere in m. */
static bool add_oneof(struct wmsg *m)
{
	const ProtobufCFieldDescriptor *fd, *members[64];
	size_t n = 0;
	unsigned i;

	for (i = 0; i < m->d->n_fields && n < 64; i++)
		if (m->d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			members[n++] = m->d->fields + i;
	if (!n)
		return false;
	fd = members[rnd() % n];
	{
		struct wfield f = {fd->id};

		known_value(&f, fd, wire_of(fd->type), 2);
		wadd(m, (size_t)(rnd() % (m->n + 1)), &f);
	}
	return true;
}

static bool damage_value(struct wfield *f, unsigned kind)
{
	static const int64_t deltas[] = {1,	     2,		9,	   1000, 1 << 20,
					 0x7ffffff0, 1LL << 32, 1LL << 35, -1,	 -2};
	uint8_t v[32];
	uint64_t x;
	size_t k, target;

	switch (kind) {
	case 0: /* a varint of 10 bytes (taken), 11 (refused), or with bits past 64 */
		if (f->flat || f->wt != PROTOBUF_C_WIRE_TYPE_VARINT ||
		    !get_varint(f->raw.p, f->raw.n, &x))
			return false;
		f->raw.n = 0;
		if (rnd() % 4 == 0) {
			memset(v, 0xff, 9);
			v[9] = rnd() % 2 ? 0x7f : 0x01;
			wput(&f->raw, v, 10);
			return true;
		}
		k = varint_len(x);
		target = rnd() % 2 ? 10 : 11;
		wput(&f->raw, v, varint(v, x, (unsigned)(target > k ? target - k : 1)));
		return true;
	case 1: /* a tag of 4, 5 (taken) or 6 bytes (refused) */
		k = varint_len(f->id << 3 | f->wt);
		target = 4 + rnd() % 3;
		f->tag_pad = (unsigned)(target > k ? target - k : 1);
		return true;
	case 2: /* a length of 5 bytes (taken) or 6 (refused) */
		if (f->flat || f->wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			return false;
		k = varint_len(body_len(f));
		target = 5 + rnd() % 2;
		f->len_pad = (unsigned)(target > k ? target - k : 1);
		return true;
	case 3: /* a length past the end, short of it, or with bits past 32 */
		if (f->flat || f->wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			return false;
		f->len_delta = deltas[rnd() % (sizeof(deltas) / sizeof(deltas[0]))];
		if (rnd() % 8 == 0)
			f->len_delta =
				(int64_t)0xffffffff - (int64_t)body_len(f) - (int64_t)(rnd() % 6);
		if (f->len_delta < 0 && (int64_t)body_len(f) < -f->len_delta)
			f->len_delta = 1;
		return true;
	case 4: /* wire type 3, 4, 6 or 7 */
		flatten(f);
		f->wt = (unsigned)"\3\4\6\7"[rnd() % 4];
		return true;
	case 5: /* field number 0 */
		f->id = 0;
		return true;
	default: /* the body of a length-delimited value cut short */
		if (f->flat || f->wt != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			return false;
		unsub(f);
		f->raw.n = f->raw.n ? (size_t)(rnd() % f->raw.n) : 0;
		return true;
	}
}

/* One damage somewhere in the tree: a value, a tag or a length re-encoded, wire types wrong or
 * invalid, fields repeated, added (unknown ones of every wire type, oneof members), moved or
 * taken away (required ones too), packed arrays sent as single values and back. */
static void damage(struct wmsg *top)
{
	const ProtobufCFieldDescriptor *fd = NULL;
	struct wmsg *nodes[1024], *m;
	struct wfield *f = NULL, c;
	size_t nn = 0, at = 0, i;
	unsigned kind = (unsigned)(rnd() % 14), w;

	collect(top, nodes, &nn, 1024);
	m = nodes[rnd() % nn];
	if (m->n) {
		at = (size_t)(rnd() % m->n);
		f = m->f + at;
		fd = known(m, f);
	}
	switch (kind) {
	case 7: /* a known field in another wire type, with a value of that one */
		if (!fd)
			break;
		do
			w = (unsigned)"\0\1\2\5"[rnd() % 4];
		while (w == wire_of(fd->type));
		wclear(f);
		known_value(f, fd, w, 2);
		return;
	case 8: /* a field twice (a singular message twice: the merge case) */
		if (!f)
			break;
		c = wcopy(f);
		wadd(m, (size_t)(rnd() % (m->n + 1)), &c);
		return;
	case 9:
		if (add_oneof(m))
			return;
		break;
	case 10: /* a repeated scalar's packed values as single ones, or a single one packed */
		if (!fd || fd->label != PROTOBUF_C_LABEL_REPEATED || f->flat ||
		    wire_of(fd->type) == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			break;
		if (f->wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			split(m, at, fd);
		else
			f->wt = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		return;
	case 11: /* a required field missing */
		for (i = 0; i < m->n; i++) {
			const ProtobufCFieldDescriptor *r = known(m, m->f + i);

			if (r && r->label == PROTOBUF_C_LABEL_REQUIRED) {
				wtake(m, i, &c);
				wclear(&c);
				return;
			}
		}
		break;
	case 12: /* a field taken away, or moved */
		if (!f)
			break;
		wtake(m, at, &c);
		if (rnd() % 2)
			wadd(m, (size_t)(rnd() % (m->n + 1)), &c);
		else
			wclear(&c);
		return;
	case 13: /* a known field added (a value of its own type) */
		if (!m->d->n_fields)
			break;
		fd = m->d->fields + rnd() % m->d->n_fields;
		c = (struct wfield){fd->id};
		known_value(&c, fd, wire_of(fd->type), 2);
		wadd(m, (size_t)(rnd() % (m->n + 1)), &c);
		return;
	default:
		if (f && damage_value(f, kind))
			return;
	}
	add_unknown(m); /* what did not apply */
}

START_TEST(test_damaged_fields)
{
	struct sample s[64];
	size_t n = samples(s, 64, 40), i, accepted = 0, total = 0, dups = 0;
	int j, k;

	for (i = 0; i < n; i++)
		for (j = 0; j < 1500; j++) {
			struct wmsg *t = wparse(s[i].d, s[i].p, s[i].n);
			struct wbuf out = {NULL, 0, 0};

			for (k = 1 + (int)(rnd() % 3); k > 0; k--)
				damage(t);
			wwrite(&out, t);
			accepted += differ(s[i].d, out.p ? out.p : (const uint8_t *)"", out.n);
			dups += dup_singular(s[i].d, out.p ? out.p : (const uint8_t *)"", out.n);
			total++;
			free(out.p);
			wfree(t);
		}
	samples_free(s, n);
	ck_assert_uint_gt(accepted, total / 10);
	ck_assert_uint_lt(accepted, total - total / 10);
	ck_assert_uint_lt(dups, total / 3); /* most results compared */
	NO_MISMATCH();
}
END_TEST

/* ---- damaged inputs, by hand: what each decoder makes of protobuf-c's corner cases ----------- */

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned v;

		if (h[0] == ' ') {
			h--;
			continue;
		}
		MUST(sscanf(h, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* test.All's required fields (536870910 = 0, 536870911 = ""), after each input of all_cases. */
#define REQ "f0ffffff0f00 faffffff0f00"

static const struct {
	const char *name, *hex;
	bool accepted; /* by protobuf-c 1.4.1 */
} all_cases[] = {
	{"nothing (the required fields missing)", "", 0},
	{"the required fields only", REQ, 1},
	{"req_str missing", "f0ffffff0f00", 0},
	{"req given twice", "f0ffffff0f05 " REQ, 1},
	{"i32 of 10 bytes (-1)", "08ffffffffffffffffff01 " REQ, 1},
	{"i32 of 11 bytes", "08ffffffffffffffffffff01 " REQ, 0},
	{"i64 of 10 bytes with bits past 64", "20ffffffffffffffffff7f " REQ, 1},
	{"u32 of 10 bytes, padded", "3885808080808080808000 " REQ, 1},
	{"u32 of 5 bytes with bits past 32", "38ffffffff7f " REQ, 1},
	{"i32 as length-delimited", "0a00 " REQ, 0},
	{"i32 as fixed32", "0d01000000 " REQ, 0},
	{"sf32 as varint", "1801 " REQ, 0},
	{"sf64 as fixed32", "3501000000 " REQ, 0},
	{"db as fixed64", "610000000000000840 " REQ, 1},
	{"str as varint", "7801 " REQ, 0},
	{"bool 2", "6802 " REQ, 1},
	{"bool of 10 bytes, 0 in the end", "6880808080808080808000 " REQ, 1},
	{"bool as fixed32", "6d00000001 " REQ, 1},
	{"bool as fixed64", "690000000000000000 " REQ, 1},
	{"bool as length-delimited", "6a0100 " REQ, 1},
	{"bool as length-delimited, empty", "6a00 " REQ, 1},
	{"tag 0, varint", "0000 " REQ, 0},
	{"tag 0, length-delimited", "020161 " REQ, 0},
	{"wire type 3 (group start)", "0b " REQ, 0},
	{"wire type 4 (group end)", "0c " REQ, 0},
	{"wire type 6", "0e00 " REQ, 0},
	{"wire type 7", "0f00 " REQ, 0},
	{"tag 0, wire type 3", "03 " REQ, 0},
	{"unknown varint", "b8860301 " REQ, 1},
	{"unknown fixed64", "b98603 0102030405060708 " REQ, 1},
	{"unknown length-delimited", "ba8603 03616263 " REQ, 1},
	{"unknown fixed32", "bd8603 01020304 " REQ, 1},
	{"unknown with a tag of 5 bytes past 32 bits", "f8ffffff7f01 " REQ, 1},
	{"a tag of 6 bytes", "f8ffffffff01 01 " REQ, 0},
	{"i32 with a tag of 5 bytes", "8880808000 05 " REQ, 1},
	{"i32's tag of 5 bytes with bits past 32", "8880808010 05 " REQ, 1},
	{"str with a length of 5 bytes", "7a8180808000 61 " REQ, 1},
	{"str with a length of 6 bytes", "7a818080808000 61 " REQ, 0},
	{"str with a length of 5 bytes, bits past 32", "7a8180808010 61 " REQ, 0},
	{"str's length past the end", "7a05 61", 0},
	{"str's length 2^32 - 1", "7affffffff0f 61 " REQ, 0},
	{"a varint cut at the end", REQ " 0880", 0},
	{"a fixed64 cut at the end", REQ " 31010203", 0},
	{"str given twice", "7a0161 7a0162 " REQ, 1},
	{"pk unpacked", "b80105 b80106 " REQ, 1},
	{"pk packed and unpacked", "ba01020102 b80103 ba0100 " REQ, 1},
	{"pk packed, a varint cut", "ba01020180 " REQ, 0},
	{"pk packed, a varint of 11 bytes", "ba010bffffffffffffffffffff01 " REQ, 0},
	{"pkb packed 0 and 1", "c2010200 01 " REQ, 1},
	{"pkb packed 2", "c2010102 " REQ, 1},
	{"pkb as varint 2", "c00102 " REQ, 1},
	{"pkb as fixed32", "c50101000000 " REQ, 1},
	{"pkf packed, 3 bytes", "ea0103010203 " REQ, 0},
	{"pkf unpacked", "ed010000803f " REQ, 1},
	{"pkd packed, 7 bytes", "fa7f07 01020304050607 " REQ, 0},
	{"rf32 packed", "e2010801000000 02000000 " REQ, 1},
	{"ru packed", "8a97220201 02 " REQ, 1},
	{"rs as varint", "8080 0101 " REQ, 0},
	{"re packed of a 10-byte value", "8a020affffffffffffffffff01 " REQ, 1},
	{"rs32 packed", "f201020103 " REQ, 1},
	{"rb as varint", "c80101 " REQ, 0},
	{"rb empty", "ca0100 " REQ, 1},
	{"opt_by empty", "d20100 " REQ, 1},
	{"opt_by twice", "d2010161 d2010162 " REQ, 1},
	{"one_u, then one_s", "a00105 aa01026162 " REQ, 1},
	{"one_s, then one_u", "aa01026162 a00105 " REQ, 1},
	{"one_m, then one_u", "b2010c " REQ " a00107 " REQ, 1},
	{"one_u, then one_m", "a00107 b2010c " REQ " " REQ, 1},
	{"one_by, then one_s", "fa010178 aa010179 " REQ, 1},
	{"one_m missing its required fields", "b20100 " REQ, 0},
	{"sub missing its required fields", "8a0100 " REQ, 0},
	{"sub, then the same sub again", "8a010c " REQ " 8a010c " REQ " " REQ, 0},
	{"sub twice, the second part without its required fields",
	 "8a010e 0801 " REQ " 8a010210 02 " REQ, 0},
	{"sub twice, the first part without its required fields",
	 "8a0102 0801 8a010e 1002 " REQ " " REQ, 0},
	{"rm empty message", "82972200 " REQ, 0},
	{"rm as varint", "80972201 " REQ, 0},
	{"sub as varint", "8801 01 " REQ, 0},
	{"sub as fixed32", "8d0101020304 " REQ, 0},
	{"opt_m with a length past its end", "da0164 " REQ, 0},
	{"pkf packed, empty", "ea0100 " REQ, 1},
	{"pkd packed, empty", "fa7f00 " REQ, 1},
};

/* The same for Hubble's messages (proto3: no required fields; oneofs). */
static const struct {
	const ProtobufCMessageDescriptor *d;
	const char *name, *hex;
	bool accepted; /* by protobuf-c 1.4.1 */
} hubble_cases[] = {
	{&flow__flow__descriptor, "l4 twice, TCP then UDP", "32020a00 32021200", 1},
	{&flow__flow__descriptor, "l4 twice, its oneof unset in both (the merge)", "3200 3200", 0},
	{&flow__flow__descriptor, "l4 twice, TCP then nothing", "32020a00 3200", 1},
	{&flow__flow__descriptor, "l4 with TCP twice", "3204 0a00 0a00", 1},
	{&flow__flow__descriptor, "time twice", "0a020801 0a021002", 1},
	{&flow__flow__descriptor, "a field of number 0 in l4", "3202 0000", 0},
	{&flow__flow__descriptor, "Summary (100000) with a tag of 5 bytes", "82eab08000 0161", 1},
	{&observer__get_flows_response__descriptor, "flow twice (a oneof)", "0a00 0a00", 1},
	{&observer__get_flows_response__descriptor, "flow, then lost_events", "0a00 1a00", 1},
	{&observer__get_flows_response__descriptor, "lost_events, then flow", "1a020801 0a00", 1},
	{&observer__get_flows_response__descriptor, "flow as varint", "0800", 0},
	{&observer__get_flows_response__descriptor, "late (bool) as fixed64",
	 "d13e 0100000000000000", 1},
	{&observer__get_flows_response__descriptor, "node_name twice", "c23e0161 c23e0162", 1},
};

START_TEST(test_corner_cases)
{
	uint8_t in[256];
	size_t i, n;

	for (i = 0; i < sizeof(hubble_cases) / sizeof(hubble_cases[0]); i++) {
		int before = n_mismatch;
		bool ok;

		n = unhex(hubble_cases[i].hex, in);
		ok = differ(hubble_cases[i].d, in, n);
		if (n_mismatch != before)
			fprintf(stderr, "  (that was \"%s\")\n", hubble_cases[i].name);
		if (ok != hubble_cases[i].accepted)
			fprintf(stderr, "note: protobuf-c %s \"%s\", unlike 1.4.1\n",
				ok ? "accepts" : "refuses", hubble_cases[i].name);
	}

	for (i = 0; i < sizeof(all_cases) / sizeof(all_cases[0]); i++) {
		int before = n_mismatch;
		bool ok;

		n = unhex(all_cases[i].hex, in);
		ok = differ(&all_desc, in, n);
		if (n_mismatch != before)
			fprintf(stderr, "  (that was \"%s\")\n", all_cases[i].name);
		if (ok != all_cases[i].accepted)
			fprintf(stderr, "note: protobuf-c %s \"%s\", unlike 1.4.1\n",
				ok ? "accepts" : "refuses", all_cases[i].name);
	}
	NO_MISMATCH();
}
END_TEST

/* proto2 defaults: absent fields have them (and free_unpacked leaves them be). */
START_TEST(test_defaults)
{
	static const char *const cases[] = {
		"",
		"0801",
		"120178",
		"1201781201 79",
		"1a00",
		"1a0278791a017a",
		"2100000000000000c0",
		"2803",
		"3200",
		"3204 0801 1200",
		"3202 0801 3203 120178",
		"0d01000000",
	};
	struct defs *m;
	uint8_t in[64];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = unhex(cases[i], in);
		differ(&defs_desc, in, n);
	}
	m = (struct defs *)pb_unpack(&defs_desc, NULL, 0, in);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->i, 42);
	ck_assert(!m->has_i);
	ck_assert_str_eq(m->s, "dflt");
	ck_assert_uint_eq(m->by.len, 3);
	ck_assert_int_eq(memcmp(m->by.data, "abc", 3), 0);
	ck_assert(m->d == 2.5);
	ck_assert_int_eq(m->ri, 7);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	NO_MISMATCH();
}
END_TEST

/* ---- nesting ----------------------------------------------------------------------------------
 */

/* A message with levels messages under it, each the one before's sub (or, mixed, one of its
 * repeated messages, its oneof's or its optional one). */
static struct all *chain(int levels, bool mixed)
{
	struct all *top = calloc(1, sizeof(*top)), *m = top;
	int i;

	top->base.descriptor = &all_desc;
	for (i = 0; i < levels; i++) {
		struct all *next = calloc(1, sizeof(*next));

		next->base.descriptor = &all_desc;
		next->req = i;
		switch (mixed ? i % 4 : 0) {
		case 0:
			m->sub = next;
			break;
		case 1:
			m->n_rm = 1;
			m->rm = calloc(1, sizeof(*m->rm));
			m->rm[0] = next;
			break;
		case 2:
			m->one_case = 22;
			m->one_m = next;
			break;
		default:
			m->opt_m = next;
		}
		m = next;
	}
	return top;
}

static void nested(int levels, bool mixed, bool accepted)
{
	struct all *m = chain(levels, mixed);
	ProtobufCMessage *a, *b;
	struct counting c;
	char what[700];
	uint8_t *p;
	size_t n;

	p = packed(&m->base, &n);
	cur = p;
	cur_len = n;
	counting_init(&c, SIZE_MAX);
	a = protobuf_c_message_unpack(&all_desc, NULL, n, p);
	ck_assert_ptr_nonnull(a); /* protobuf-c has no bound */
	b = pb_unpack(&all_desc, &c.a, n, p);
	if (accepted) {
		ck_assert_msg(b != NULL, "pb_unpack refuses %d levels", levels);
		if (!same_result(a, b, what, sizeof(what)))
			mismatch(what, &all_desc, p, n, a, b);
		protobuf_c_message_free_unpacked(b, &c.a);
	} else {
		ck_assert_msg(b == NULL, "pb_unpack takes %d levels, over PB_UNPACK_MAX_DEPTH",
			      levels);
	}
	ck_assert_uint_eq(c.allocs, c.frees);
	protobuf_c_message_free_unpacked(a, NULL);
	cur = NULL;
	free(p);
	drop(m);
}

START_TEST(test_nesting_bound)
{
	nested(60, false, true);
	nested(60, true, true);
	nested(70, false, false);
	nested(70, true, false);
	nested(200, false, false);
	NO_MISMATCH();
}
END_TEST

/* ---- allocations that fail ---------------------------------------------------------------------
 */

/* pb_unpack of p with every allocation from the k-th on failing, for every k below what it
 * takes: NULL, and everything it took given back. */
static void fail_every_allocation(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n)
{
	ProtobufCMessage *m;
	struct counting c;
	size_t need, k;

	cur = p;
	cur_len = n;
	counting_init(&c, SIZE_MAX);
	m = pb_unpack(d, &c.a, n, p);
	ck_assert_ptr_nonnull(m);
	need = c.allocs;
	protobuf_c_message_free_unpacked(m, &c.a);
	ck_assert_uint_eq(c.allocs, c.frees);
	ck_assert_uint_gt(need, 0);
	for (k = 0; k < need; k++) {
		counting_init(&c, k);
		m = pb_unpack(d, &c.a, n, p);
		if (m)
			ck_abort_msg(
				"pb_unpack returns a message with allocation %zu of %zu failed", k,
				need);
		if (c.allocs != c.frees)
			ck_abort_msg(
				"pb_unpack with allocation %zu of %zu failed: %zu taken, %zu freed",
				k, need, c.allocs, c.frees);
	}
	counting_init(&c, need);
	m = pb_unpack(d, &c.a, n, p);
	ck_assert_ptr_nonnull(m);
	protobuf_c_message_free_unpacked(m, &c.a);
	ck_assert_uint_eq(c.allocs, c.frees);
	cur = NULL;
}

START_TEST(test_allocation_failures)
{
	struct sample s[64];
	size_t n = samples(s, 64, 30), i;

	for (i = 0; i < n; i++)
		fail_every_allocation(s[i].d, s[i].p, s[i].n);
	samples_free(s, n);
	for (i = 0; i < 20; i++) { /* larger: arrays of thousands, strings of 20000 bytes */
		struct all *m = make(3);
		struct sample x = sample_of(&m->base);

		fail_every_allocation(x.d, x.p, x.n);
		free(x.p);
		drop(m);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pb_unpack");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	fix_descriptors();
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_every_type_and_label);
	tcase_add_test(tc, test_flows);
	tcase_add_test(tc, test_other_hubble_messages);
	tcase_add_test(tc, test_corner_cases);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_damaged_bytes);
	tcase_add_test(tc, test_damaged_fields);
	tcase_add_test(tc, test_nesting_bound);
	tcase_add_test(tc, test_allocation_failures);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
