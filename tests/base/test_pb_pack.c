/* Unit tests of the one-pass protobuf encoder: byte for byte what protobuf_c_message_pack()
 * writes, for a message with a field of every type and label (hand-made descriptor, random
 * values, nesting, lengths of one to three bytes, unknown fields) and for Hubble flows. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/pb_pack.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/flow.h"
#include "flows.h"
#include "observer.pb-c.h"

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
};

static const ProtobufCMessageDescriptor all_desc;
static const ProtobufCEnumDescriptor no_enum; /* the encoder never reads it */

#define F(name, id, label, type, q, member, flags)                                                 \
	{                                                                                          \
		name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q,                     \
			offsetof(struct all, member), NULL, NULL, flags, 0, NULL, NULL             \
	}
#define NONE(name, id, type, member) F(name, id, NONE, type, 0, member, 0)
#define Q(m) offsetof(struct all, m)

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
	F("one_u", 20, NONE, UINT32, Q(one_case), one_u, PROTOBUF_C_FIELD_FLAG_ONEOF),
	F("one_s", 21, NONE, STRING, Q(one_case), one_s, PROTOBUF_C_FIELD_FLAG_ONEOF),
	F("one_m", 22, NONE, MESSAGE, Q(one_case), one_m, PROTOBUF_C_FIELD_FLAG_ONEOF),
	F("pk", 23, REPEATED, INT32, Q(n_pk), pk, PROTOBUF_C_FIELD_FLAG_PACKED),
	F("pk64", 200, REPEATED, SINT64, Q(n_pk64), pk64, PROTOBUF_C_FIELD_FLAG_PACKED),
	F("pkd", 2047, REPEATED, DOUBLE, Q(n_pkd), pkd, PROTOBUF_C_FIELD_FLAG_PACKED),
	F("rs", 2048, REPEATED, STRING, Q(n_rs), rs, 0),
	F("rm", 70000, REPEATED, MESSAGE, Q(n_rm), rm, 0),
	F("ru", 70001, REPEATED, UINT32, Q(n_ru), ru, 0),
	F("req", 536870910, REQUIRED, INT32, 0, req, 0),
	F("req_str", 536870911, REQUIRED, STRING, 0, req_str, 0),
};

/* Field 22 and the repeated messages are of this message type; the enum needs a descriptor. */
static void fix_descriptors(void)
{
	size_t i;

	for (i = 0; i < sizeof(all_fields) / sizeof(all_fields[0]); i++) {
		if (all_fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			all_fields[i].descriptor = &all_desc;
		else if (all_fields[i].type == PROTOBUF_C_TYPE_ENUM)
			all_fields[i].descriptor = &no_enum;
	}
}

static const ProtobufCMessageDescriptor all_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	"test.All",
	"All",
	"All",
	"test",
	sizeof(struct all),
	sizeof(all_fields) / sizeof(all_fields[0]),
	all_fields,
	NULL,
	0,
	NULL,
	NULL,
	NULL,
	NULL,
	NULL,
};

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

/* Lengths that take one, two and three bytes. */
static size_t pick_len(void)
{
	static const size_t l[] = {0, 1, 5, 127, 128, 300, 16383, 16384, 20000};

	return l[rnd() % (sizeof(l) / sizeof(l[0]))];
}

static struct all *make(int depth)
{
	struct all *m = calloc(1, sizeof(*m));
	size_t i;

	m->base.descriptor = &all_desc;
	if (rnd() % 4 == 0)
		return m; /* all zero: only the required fields are written */
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
	if (rnd() % 2) {
		m->by.len = pick_len();
		m->by.data = (uint8_t *)text(m->by.len);
	}
	if (depth && rnd() % 2)
		m->sub = make(depth - 1);
	m->has_opt = rnd() % 2;
	m->opt = rnd() % 2 ? 0 : (int32_t)pick(); /* has_opt with 0: written */
	if (rnd() % 2)
		m->opt_str = text(rnd() % 3);
	m->one_case = 20 + rnd() % 4; /* 23: no field of the oneof has that number */
	if (m->one_case == 20)
		m->one_u = rnd() % 2 ? 0 : (uint32_t)pick(); /* chosen: written even when 0 */
	else if (m->one_case == 21)
		m->one_s = rnd() % 3 ? text(rnd() % 4) : NULL;
	else if (m->one_case == 22)
		m->one_m = depth && rnd() % 2 ? make(depth - 1) : NULL;
	m->n_pk = rnd() % 2 ? rnd() % 4 : pick_len() % 3000;
	m->pk = calloc(m->n_pk + 1, sizeof(*m->pk));
	for (i = 0; i < m->n_pk; i++)
		m->pk[i] = (int32_t)pick();
	m->n_pk64 = rnd() % 20;
	m->pk64 = calloc(m->n_pk64 + 1, sizeof(*m->pk64));
	for (i = 0; i < m->n_pk64; i++)
		m->pk64[i] = (int64_t)pick();
	m->n_pkd = rnd() % 40;
	m->pkd = calloc(m->n_pkd + 1, sizeof(*m->pkd));
	for (i = 0; i < m->n_pkd; i++)
		m->pkd[i] = (double)(int64_t)pick() / 3;
	m->n_rs = rnd() % 4;
	m->rs = calloc(m->n_rs + 1, sizeof(*m->rs));
	for (i = 0; i < m->n_rs; i++)
		m->rs[i] = text(i == 1 ? 0 : rnd() % 200);
	m->n_rm = depth ? rnd() % 3 : 0;
	m->rm = calloc(m->n_rm + 1, sizeof(*m->rm));
	for (i = 0; i < m->n_rm; i++)
		m->rm[i] = make(depth - 1);
	m->n_ru = rnd() % 5;
	m->ru = calloc(m->n_ru + 1, sizeof(*m->ru));
	for (i = 0; i < m->n_ru; i++)
		m->ru[i] = (uint32_t)pick();
	m->req = (int32_t)pick();
	if (rnd() % 2)
		m->req_str = text(rnd() % 5);
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
	free(m);
}

/* pb_pack_append after a prefix gives the prefix and then what protobuf-c packs. */
static void assert_same(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *want = malloc(n + 1);
	struct buf b = BUF_INIT;

	ck_assert_uint_eq(protobuf_c_message_pack(m, want), n);
	ck_assert_int_eq(buf_puts(&b, "prefix"), 0);
	ck_assert_int_eq(pb_pack_append(&b, m), 0);
	ck_assert_uint_eq(b.len, 6 + n);
	ck_assert_int_eq(memcmp(b.data, "prefix", 6), 0);
	ck_assert_int_eq(memcmp(b.data + 6, want, n), 0);
	ck_assert_int_eq(b.data[b.len], '\0');
	/* Framed: the 5-byte gRPC prefix with the length, then the same bytes. */
	buf_reset(&b);
	ck_assert_int_eq(grpc_frame_append(&b, m), 0);
	ck_assert_uint_eq(b.len, GRPC_FRAME_HDR + n);
	ck_assert_uint_eq((uint8_t)b.data[0], 0);
	ck_assert_uint_eq((uint32_t)(uint8_t)b.data[1] << 24 | (uint32_t)(uint8_t)b.data[2] << 16 |
				  (uint32_t)(uint8_t)b.data[3] << 8 | (uint8_t)b.data[4],
			  n);
	ck_assert_int_eq(memcmp(b.data + GRPC_FRAME_HDR, want, n), 0);
	buf_free(&b);
	free(want);
}

START_TEST(test_every_type_and_label)
{
	struct all zero = {.base = {.descriptor = &all_desc}};
	int i;

	fix_descriptors();
	assert_same(&zero.base);
	for (i = 0; i < 3000; i++) {
		struct all *m = make(3);

		assert_same(&m->base);
		drop(m);
	}
}
END_TEST

START_TEST(test_unknown_fields_last)
{
	struct all m = {.base = {.descriptor = &all_desc}, .u32 = 300};
	ProtobufCMessageUnknownField u[3] = {
		{5000, PROTOBUF_C_WIRE_TYPE_VARINT, 2, (uint8_t *)"\x96\x01"},
		{9, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, 4,
		 (uint8_t *)"\x03"
			    "abc"},
		{77, PROTOBUF_C_WIRE_TYPE_32BIT, 4, (uint8_t *)"\x01\x02\x03\x04"},
	};

	fix_descriptors();
	m.base.n_unknown_fields = 3;
	m.base.unknown_fields = u;
	assert_same(&m.base);
}
END_TEST

/* Flows as the observer sends them: the real messages of flow_pb, read back by protobuf-c and
 * packed again by it, are the bytes the encoder wrote. */
START_TEST(test_flows_repack_the_same)
{
	struct flow_process sp;
	struct flow f;
	int i;

	for (i = 0; i < 200; i++) {
		Observer__GetFlowsResponse *r;
		struct buf b = BUF_INIT;
		uint8_t *again;
		size_t n;

		f = tcp_flow(); /* then varied: families, protocols, counters, names */
		f.family = i % 2 ? 6 : 4;
		f.proto = i % 3 ? 6 : 17;
		f.src.addr[0] = (uint8_t)i;
		f.dst.addr[15] = (uint8_t)(i * 7);
		f.src.port = (uint16_t)(i * 311);
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
		f.ifindex = (uint32_t)i;
		if (i % 2 == 0)
			f.ifname[0] = '\0';
		sp = (struct flow_process){
			.known = true, .pid = (uint32_t)i * 1000, .comm = "curl"};
		f.src_proc = i % 2 ? &sp : NULL;
		f.src_name = i % 5 ? "example.org" : NULL;
		f.rtt_us = (uint32_t)i * 13;
		ck_assert_int_eq(flow_pb_frame(&b, &f, i % 2 ? "node-a" : NULL), 0);
		r = observer__get_flows_response__unpack(NULL, b.len - GRPC_FRAME_HDR,
							 (uint8_t *)b.data + GRPC_FRAME_HDR);
		ck_assert_ptr_nonnull(r);
		n = observer__get_flows_response__get_packed_size(r);
		ck_assert_uint_eq(n, b.len - GRPC_FRAME_HDR);
		again = malloc(n);
		observer__get_flows_response__pack(r, again);
		ck_assert_int_eq(memcmp(again, b.data + GRPC_FRAME_HDR, n), 0);
		free(again);
		observer__get_flows_response__free_unpacked(r, NULL);
		buf_free(&b);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pb_pack");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_type_and_label);
	tcase_add_test(tc, test_unknown_fields_last);
	tcase_add_test(tc, test_flows_repack_the_same);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
