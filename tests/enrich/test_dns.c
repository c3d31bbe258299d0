/* Unit tests of the DNS message parser (collector/dns.c): messages are built by hand with a small
 * builder, then well-formed, hostile and randomly mutated ones are parsed. Inputs are copied into
 * exactly-sized heap buffers so that valgrind sees any read past the end. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/dns.h"

/* ---- message builder ------------------------------------------------------------------------ */

#define QR 0x8000
#define RD 0x0100
#define RA 0x0080
#define TC 0x0200

struct mb {
	uint8_t b[8192];
	size_t len;
};

static void u8(struct mb *m, uint8_t v)
{
	ck_assert_uint_lt(m->len, sizeof(m->b));
	m->b[m->len++] = v;
}

static void u16(struct mb *m, uint16_t v)
{
	u8(m, v >> 8);
	u8(m, v & 0xff);
}

static void u32(struct mb *m, uint32_t v)
{
	u16(m, v >> 16);
	u16(m, v & 0xffff);
}

static void bytes(struct mb *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->len + n, sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void hdr(struct mb *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an)
{
	m->len = 0;
	u16(m, id);
	u16(m, flags);
	u16(m, qd);
	u16(m, an);
	u16(m, 0); /* nscount */
	u16(m, 0); /* arcount */
}

/* One raw label: may hold dots, spaces, anything. */
static void label(struct mb *m, const void *s, size_t n)
{
	u8(m, (uint8_t)n);
	bytes(m, s, n);
}

/* The labels of a dotted name without the terminating root (so a pointer can follow). */
static void labels(struct mb *m, const char *dotted)
{
	while (*dotted) {
		size_t n = strcspn(dotted, ".");

		label(m, dotted, n);
		dotted += n;
		if (*dotted == '.')
			dotted++;
	}
}

/* A complete name; returns its offset for later pointers. */
static size_t name(struct mb *m, const char *dotted)
{
	size_t off = m->len;

	labels(m, dotted);
	u8(m, 0);
	return off;
}

static void ptr(struct mb *m, size_t off)
{
	u16(m, (uint16_t)(0xc000 | off));
}

static void question_tail(struct mb *m, uint16_t qtype)
{
	u16(m, qtype);
	u16(m, 1); /* IN */
}

/* Everything of a record after its owner name, up to the rdata. */
static void rr(struct mb *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	u16(m, type);
	u16(m, 1); /* IN */
	u32(m, ttl);
	u16(m, rdlen);
}

static void rr_a(struct mb *m, uint32_t ttl, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t addr[4] = {a, b, c, d};

	rr(m, 1, ttl, 4);
	bytes(m, addr, 4);
}

/* Parses from an exactly-sized heap copy so that valgrind catches any over-read. */
static int parse(const uint8_t *p, size_t len, struct dns_msg *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	if (len)
		memcpy(copy, p, len);
	rc = dns_parse(copy, len, out);
	free(copy);
	return rc;
}

static int parse_mb(const struct mb *m, struct dns_msg *out)
{
	return parse(m->b, m->len, out);
}

/* example.com A -> 93.184.216.34, 1.2.3.4 */
static void build_a_response(struct mb *m, uint16_t ancount)
{
	hdr(m, 0x1234, QR | RD | RA, 1, ancount);
	name(m, "example.com");
	question_tail(m, 1);
	ptr(m, 12);
	rr_a(m, 300, 93, 184, 216, 34);
	ptr(m, 12);
	rr_a(m, 60, 1, 2, 3, 4);
}

/* www.example.com A -> CNAME cdn.example.com -> A 10.0.0.1, all names compressed */
static void build_cname_chain(struct mb *m)
{
	size_t target;

	hdr(m, 7, QR | RD | RA, 1, 2);
	name(m, "www.example.com");
	question_tail(m, 1);
	ptr(m, 12);
	rr(m, 5, 60, 6); /* "cdn" label (4) + pointer (2) */
	target = m->len;
	labels(m, "cdn");
	ptr(m, 12 + 4); /* "example.com" inside the question */
	ptr(m, target);
	rr_a(m, 30, 10, 0, 0, 1);
}

/* ---- well-formed messages ------------------------------------------------------------------- */

START_TEST(a_response_with_two_answers)
{
	struct mb m;
	struct dns_msg d;

	build_a_response(&m, 2);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_uint_eq(d.id, 0x1234);
	ck_assert(d.response);
	ck_assert(!d.truncated);
	ck_assert_uint_eq(d.opcode, 0);
	ck_assert_uint_eq(d.rcode, 0);
	ck_assert_str_eq(dns_rcode_name(d.rcode), "NOERROR");
	ck_assert_str_eq(d.qname, "example.com");
	ck_assert_uint_eq(d.qtype, 1);
	ck_assert_str_eq(dns_type_name(d.qtype), "A");
	ck_assert_uint_eq(d.n_questions, 1);
	ck_assert_uint_eq(d.n_answers, 2);
	ck_assert(!d.answers_dropped);
	ck_assert_str_eq(d.answers[0].name, "example.com");
	ck_assert_uint_eq(d.answers[0].type, 1);
	ck_assert_uint_eq(d.answers[0].ttl, 300);
	ck_assert_uint_eq(d.answers[0].family, 4);
	ck_assert_mem_eq(d.answers[0].addr, ((uint8_t[]){93, 184, 216, 34}), 4);
	ck_assert_str_eq(d.answers[0].cname, "");
	ck_assert_str_eq(d.answers[1].name, "example.com");
	ck_assert_uint_eq(d.answers[1].ttl, 60);
	ck_assert_uint_eq(d.answers[1].family, 4);
	ck_assert_mem_eq(d.answers[1].addr, ((uint8_t[]){1, 2, 3, 4}), 4);
}
END_TEST

START_TEST(aaaa_response)
{
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	struct mb m;
	struct dns_msg d;

	hdr(&m, 99, QR | RD | RA | TC, 1, 1);
	name(&m, "ipv6.example.org");
	question_tail(&m, 28);
	ptr(&m, 12);
	rr(&m, 28, 3600, 16);
	bytes(&m, v6, 16);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert(d.truncated);
	ck_assert_str_eq(d.qname, "ipv6.example.org");
	ck_assert_uint_eq(d.qtype, 28);
	ck_assert_str_eq(dns_type_name(d.qtype), "AAAA");
	ck_assert_uint_eq(d.n_answers, 1);
	ck_assert_uint_eq(d.answers[0].type, 28);
	ck_assert_uint_eq(d.answers[0].family, 6);
	ck_assert_uint_eq(d.answers[0].ttl, 3600);
	ck_assert_mem_eq(d.answers[0].addr, v6, 16);
}
END_TEST

START_TEST(cname_chain_with_compression)
{
	struct mb m;
	struct dns_msg d;

	build_cname_chain(&m);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.qname, "www.example.com");
	ck_assert_uint_eq(d.n_answers, 2);
	ck_assert_str_eq(d.answers[0].name, "www.example.com");
	ck_assert_uint_eq(d.answers[0].type, 5);
	ck_assert_uint_eq(d.answers[0].family, 0);
	ck_assert_str_eq(d.answers[0].cname, "cdn.example.com");
	ck_assert_str_eq(d.answers[1].name, "cdn.example.com");
	ck_assert_uint_eq(d.answers[1].type, 1);
	ck_assert_uint_eq(d.answers[1].ttl, 30);
	ck_assert_mem_eq(d.answers[1].addr, ((uint8_t[]){10, 0, 0, 1}), 4);
}
END_TEST

START_TEST(nxdomain_without_answers_ignores_authority)
{
	struct mb m;
	struct dns_msg d;

	hdr(&m, 1, QR | RD | RA | 3, 1, 0);
	m.b[9] = 1; /* nscount: an SOA-like record the parser must skip */
	name(&m, "nope.example");
	question_tail(&m, 1);
	ptr(&m, 12 + 5);
	rr(&m, 6, 900, 3);
	bytes(&m, "\x01\x02\x03", 3);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_uint_eq(d.rcode, 3);
	ck_assert_str_eq(dns_rcode_name(d.rcode), "NXDOMAIN");
	ck_assert_uint_eq(d.n_answers, 0);
	ck_assert(!d.answers_dropped);
	ck_assert_str_eq(d.qname, "nope.example");
}
END_TEST

START_TEST(query_and_empty_questions)
{
	struct mb m;
	struct dns_msg d;

	hdr(&m, 0xbeef, RD | (2 << 11), 1, 0);
	name(&m, "example.net");
	question_tail(&m, 15);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert(!d.response);
	ck_assert_uint_eq(d.id, 0xbeef);
	ck_assert_uint_eq(d.opcode, 2);
	ck_assert_str_eq(d.qname, "example.net");
	ck_assert_str_eq(dns_type_name(d.qtype), "MX");
	ck_assert_uint_eq(d.n_answers, 0);

	/* the root */
	hdr(&m, 1, 0, 1, 0);
	u8(&m, 0);
	question_tail(&m, 2);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.qname, ".");

	/* no question at all */
	hdr(&m, 1, QR, 0, 0);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.qname, "");
	ck_assert_uint_eq(d.qtype, 0);
	ck_assert_uint_eq(d.n_questions, 0);

	/* every question is checked, the first is kept */
	hdr(&m, 1, 0, 2, 0);
	name(&m, "first.example");
	question_tail(&m, 1);
	name(&m, "second.example");
	question_tail(&m, 28);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.qname, "first.example");
	ck_assert_uint_eq(d.qtype, 1);
	ck_assert_uint_eq(d.n_questions, 2);
	m.len -= 1; /* second question cut */
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
}
END_TEST

START_TEST(uppercase_names_are_lowered)
{
	struct mb m;
	struct dns_msg d;

	hdr(&m, 1, QR, 1, 1);
	name(&m, "WwW.ExAmPle.COM");
	question_tail(&m, 1);
	name(&m, "MiXeD-Case_1.ORG");
	rr_a(&m, 1, 1, 1, 1, 1);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.qname, "www.example.com");
	ck_assert_str_eq(d.answers[0].name, "mixed-case_1.org");
}
END_TEST

START_TEST(odd_label_bytes_are_escaped)
{
	struct mb m;
	struct dns_msg d;

	hdr(&m, 1, 0, 1, 0);
	label(&m, "a b", 3);
	label(&m, "x.y", 3);
	label(&m, "\\\xff\x01", 3);
	name(&m, "com");
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.qname, "a\\032b.x\\046y.\\092\\255\\001.com");
}
END_TEST

START_TEST(rcode_and_type_names)
{
	ck_assert_str_eq(dns_rcode_name(2), "SERVFAIL");
	ck_assert_str_eq(dns_rcode_name(5), "REFUSED");
	ck_assert_str_eq(dns_rcode_name(15), "RCODE15");
	ck_assert_str_eq(dns_rcode_name(255), "RCODE255");
	ck_assert_str_eq(dns_type_name(5), "CNAME");
	ck_assert_str_eq(dns_type_name(65), "HTTPS");
	ck_assert_str_eq(dns_type_name(999), "TYPE999");
	ck_assert_str_eq(dns_type_name(65535), "TYPE65535");
}
END_TEST

/* ---- hostile and broken messages ------------------------------------------------------------ */

static void long_label(struct mb *m, char c, size_t n)
{
	char s[63];

	memset(s, c, n);
	label(m, s, n);
}

START_TEST(names_over_255_bytes_rejected)
{
	struct mb m;
	struct dns_msg d;
	size_t q;
	int i;

	/* exactly 255 bytes on the wire: 3 * (1 + 63) + (1 + 61) + 1 */
	hdr(&m, 1, 0, 1, 0);
	for (i = 0; i < 3; i++)
		long_label(&m, 'a', 63);
	long_label(&m, 'b', 61);
	u8(&m, 0);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_uint_eq(strlen(d.qname), 253);

	/* 257 bytes */
	hdr(&m, 1, 0, 1, 0);
	for (i = 0; i < 4; i++)
		long_label(&m, 'a', 63);
	u8(&m, 0);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* over 255 only through a pointer: a 252-byte name, then a 2-byte (ok) or 3-byte label
	 * (256 bytes) in front of a pointer to it */
	for (i = 2; i <= 3; i++) {
		int j;

		hdr(&m, 1, QR, 1, 1);
		q = m.len;
		for (j = 0; j < 3; j++)
			long_label(&m, 'a', 63);
		long_label(&m, 'b', 58);
		u8(&m, 0);
		question_tail(&m, 1);
		long_label(&m, 'c', (size_t)i);
		ptr(&m, q);
		rr_a(&m, 1, 1, 1, 1, 1);
		if (i == 2) {
			ck_assert_int_eq(parse_mb(&m, &d), 0);
			ck_assert_uint_eq(strlen(d.answers[0].name), 253);
		} else {
			ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
		}
	}

	/* short on the wire but too long once escaped: 2 * 63 spaces = 2 * 252 characters */
	hdr(&m, 1, 0, 1, 0);
	long_label(&m, ' ', 63);
	long_label(&m, ' ', 63);
	u8(&m, 0);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* 0x40 (extended) and 0x80 (reserved) label types */
	hdr(&m, 1, 0, 1, 0);
	u8(&m, 0x41);
	u8(&m, 'a');
	u8(&m, 0);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
	m.b[12] = 0x81;
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
}
END_TEST

START_TEST(pointer_loops_rejected)
{
	struct mb m;
	struct dns_msg d;
	size_t self;

	/* the question name is a pointer to itself */
	hdr(&m, 1, 0, 1, 0);
	ptr(&m, 12);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* a label then a pointer back to that label: a loop, since the pointer is after it */
	hdr(&m, 1, 0, 1, 0);
	labels(&m, "loop");
	ptr(&m, 12);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* two pointers pointing to each other: 12 -> 14, 14 -> 12 */
	hdr(&m, 1, 0, 1, 0);
	ptr(&m, 14);
	ptr(&m, 12);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* the same in an answer owner name, after a valid question */
	hdr(&m, 1, QR, 1, 1);
	name(&m, "example.com");
	question_tail(&m, 1);
	self = m.len;
	ptr(&m, self);
	rr_a(&m, 1, 1, 1, 1, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
}
END_TEST

START_TEST(forward_pointer_rejected)
{
	struct mb m;
	struct dns_msg d;

	/* answer owner points to a valid name stored later (in the CNAME rdata) */
	hdr(&m, 1, QR, 1, 2);
	name(&m, "example.com");
	question_tail(&m, 1);
	ptr(&m, m.len + 2 + 10 + 4 + 2 + 10);
	rr_a(&m, 1, 1, 1, 1, 1);
	ptr(&m, 12);
	rr(&m, 5, 1, 13);
	name(&m, "example.com");
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* a pointer into the header */
	hdr(&m, 1, 0, 1, 0);
	ptr(&m, 2);
	question_tail(&m, 1);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
}
END_TEST

START_TEST(every_truncation_rejected)
{
	struct mb msgs[2];
	struct dns_msg d;
	size_t i, len;

	build_a_response(&msgs[0], 2);
	build_cname_chain(&msgs[1]);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(parse_mb(&msgs[i], &d), 0);
		for (len = 0; len < msgs[i].len; len++)
			ck_assert_int_eq(parse(msgs[i].b, len, &d), -EINVAL);
	}
	ck_assert_int_eq(dns_parse(NULL, 0, &d), -EINVAL);
	ck_assert_int_eq(dns_parse(msgs[0].b, msgs[0].len, NULL), -EINVAL);
}
END_TEST

START_TEST(ancount_beyond_records_rejected)
{
	struct mb m;
	struct dns_msg d;

	build_a_response(&m, 3);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* counts over the limits, even in a header alone */
	hdr(&m, 1, 0, 17, 0);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
	hdr(&m, 1, QR, 0, 513);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
}
END_TEST

START_TEST(bad_rdata_lengths_rejected)
{
	struct mb m;
	struct dns_msg d;

	hdr(&m, 1, QR, 1, 1);
	name(&m, "example.com");
	question_tail(&m, 1);
	ptr(&m, 12);
	rr(&m, 1, 1, 5);
	bytes(&m, "\x01\x02\x03\x04\x05", 5);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	hdr(&m, 1, QR, 1, 1);
	name(&m, "example.com");
	question_tail(&m, 28);
	ptr(&m, 12);
	rr(&m, 28, 1, 4);
	bytes(&m, "\x01\x02\x03\x04", 4);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* CNAME rdata shorter than the name in it, the rest of the name in the next bytes */
	hdr(&m, 1, QR, 1, 1);
	name(&m, "example.com");
	question_tail(&m, 1);
	ptr(&m, 12);
	rr(&m, 5, 1, 3);
	name(&m, "cdn");
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
	m.b[m.len - 5 - 1] = 5; /* rdlength 5: fits */
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_str_eq(d.answers[0].cname, "cdn");

	/* rdlength past the end of the message */
	hdr(&m, 1, QR, 1, 1);
	name(&m, "example.com");
	question_tail(&m, 1);
	ptr(&m, 12);
	rr(&m, 16, 1, 10);
	bytes(&m, "\x05hello", 6);
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);
	m.b[m.len - 6 - 1] = 6; /* other types keep no data */
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_uint_eq(d.answers[0].type, 16);
	ck_assert_uint_eq(d.answers[0].family, 0);
}
END_TEST

START_TEST(more_than_32_answers_keep_32)
{
	struct mb m;
	struct dns_msg d;
	int i;

	hdr(&m, 1, QR, 1, 40);
	name(&m, "many.example");
	question_tail(&m, 1);
	for (i = 0; i < 40; i++) {
		ptr(&m, 12);
		rr_a(&m, (uint32_t)i, 10, 0, 0, (uint8_t)i);
	}
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_uint_eq(d.n_answers, DNS_MAX_ANSWERS);
	ck_assert(d.answers_dropped);
	ck_assert_str_eq(d.answers[31].name, "many.example");
	ck_assert_uint_eq(d.answers[31].ttl, 31);
	ck_assert_uint_eq(d.answers[31].addr[3], 31);

	/* answers past 32 are still checked */
	m.b[m.len - 5] = 5;
	ck_assert_int_eq(parse_mb(&m, &d), -EINVAL);

	/* exactly 32: nothing dropped */
	hdr(&m, 1, QR, 1, 32);
	name(&m, "many.example");
	question_tail(&m, 1);
	for (i = 0; i < 32; i++) {
		ptr(&m, 12);
		rr_a(&m, 1, 10, 0, 0, (uint8_t)i);
	}
	ck_assert_int_eq(parse_mb(&m, &d), 0);
	ck_assert_uint_eq(d.n_answers, 32);
	ck_assert(!d.answers_dropped);
}
END_TEST

START_TEST(tcp_length_prefix)
{
	struct mb m, t;
	struct dns_msg d;

	build_a_response(&m, 2);
	t.len = 0;
	u16(&t, (uint16_t)m.len);
	bytes(&t, m.b, m.len);
	ck_assert_int_eq(dns_parse_tcp(t.b, t.len, &d), 0);
	ck_assert_uint_eq(d.n_answers, 2);
	ck_assert_str_eq(d.qname, "example.com");

	/* the segment holds less than announced */
	t.b[1]++;
	ck_assert_int_eq(dns_parse_tcp(t.b, t.len, &d), -EINVAL);
	t.b[1]--;
	ck_assert_int_eq(dns_parse_tcp(t.b, t.len - 1, &d), -EINVAL);
	ck_assert_int_eq(dns_parse_tcp(t.b, 1, &d), -EINVAL);
	ck_assert_int_eq(dns_parse_tcp(t.b, 0, &d), -EINVAL);

	/* a complete message followed by the start of the next one */
	u16(&t, 100);
	ck_assert_int_eq(dns_parse_tcp(t.b, t.len, &d), 0);
	ck_assert_uint_eq(d.n_answers, 2);
}
END_TEST

/* ---- fuzz ----------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32);
}

static void assert_printable(const char *s)
{
	size_t n = strnlen(s, DNS_NAME_TEXT_LEN), i;

	ck_assert_uint_lt(n, DNS_NAME_TEXT_LEN);
	for (i = 0; i < n; i++)
		ck_assert(s[i] >= 0x20 && s[i] <= 0x7e);
}

static void mutate(struct mb *m)
{
	static const uint8_t interesting[] = {0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xc0, 0xff};
	int ops = 1 + (int)(rnd() % 4), i;

	for (i = 0; i < ops; i++) {
		size_t at = m->len ? rnd() % m->len : 0;
		uint8_t v = rnd() % 2 ? (uint8_t)rnd() : interesting[rnd() % sizeof(interesting)];

		switch (rnd() % 4) {
		case 0: /* flip one bit */
			if (m->len)
				m->b[at] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1: /* overwrite */
			if (m->len)
				m->b[at] = v;
			break;
		case 2: /* insert */
			if (m->len < 1024) {
				at = rnd() % (m->len + 1);
				memmove(m->b + at + 1, m->b + at, m->len - at);
				m->b[at] = v;
				m->len++;
			}
			break;
		default: /* delete */
			if (m->len) {
				memmove(m->b + at, m->b + at + 1, m->len - at - 1);
				m->len--;
			}
			break;
		}
	}
}

START_TEST(fuzz_mutations_never_crash)
{
	static struct mb seeds[5], m;
	struct dns_msg d;
	size_t n_ok = 0, j;
	int i, rc;

	build_a_response(&seeds[0], 2);
	build_cname_chain(&seeds[1]);
	hdr(&seeds[2], 3, QR, 1, 1);
	name(&seeds[2], "v6.Example.org");
	question_tail(&seeds[2], 28);
	ptr(&seeds[2], 12);
	rr(&seeds[2], 28, 5, 16);
	bytes(&seeds[2], "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	hdr(&seeds[3], 4, 0, 1, 0);
	label(&seeds[3], "a b", 3);
	name(&seeds[3], "x");
	question_tail(&seeds[3], 1);
	hdr(&seeds[4], 5, QR | 3, 1, 0);
	name(&seeds[4], "nx.example");
	question_tail(&seeds[4], 1);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(parse_mb(&seeds[i], &d), 0);

	for (i = 0; i < 200000; i++) {
		m = seeds[rnd() % 5];
		mutate(&m);
		rc = parse_mb(&m, &d);
		ck_assert(rc == 0 || rc == -EINVAL);
		if (rc)
			continue;
		n_ok++;
		ck_assert_uint_le(d.n_answers, DNS_MAX_ANSWERS);
		assert_printable(d.qname);
		for (j = 0; j < d.n_answers; j++) {
			assert_printable(d.answers[j].name);
			assert_printable(d.answers[j].cname);
		}
	}
	/* the mutations must leave enough valid messages to exercise the success path */
	ck_assert_uint_gt(n_ok, 1000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns");
	TCase *ok = tcase_create("valid"), *bad = tcase_create("malformed"),
	      *fz = tcase_create("fuzz");
	SRunner *r;
	int failed;

	tcase_add_test(ok, a_response_with_two_answers);
	tcase_add_test(ok, aaaa_response);
	tcase_add_test(ok, cname_chain_with_compression);
	tcase_add_test(ok, nxdomain_without_answers_ignores_authority);
	tcase_add_test(ok, query_and_empty_questions);
	tcase_add_test(ok, uppercase_names_are_lowered);
	tcase_add_test(ok, odd_label_bytes_are_escaped);
	tcase_add_test(ok, rcode_and_type_names);
	tcase_add_test(ok, more_than_32_answers_keep_32);
	tcase_add_test(ok, tcp_length_prefix);
	tcase_add_test(bad, names_over_255_bytes_rejected);
	tcase_add_test(bad, pointer_loops_rejected);
	tcase_add_test(bad, forward_pointer_rejected);
	tcase_add_test(bad, every_truncation_rejected);
	tcase_add_test(bad, ancount_beyond_records_rejected);
	tcase_add_test(bad, bad_rdata_lengths_rejected);
	tcase_add_test(fz, fuzz_mutations_never_crash);
	/* 200000 parses take far longer than Check's default 4 s under valgrind */
	tcase_set_timeout(fz, 600);
	suite_add_tcase(s, ok);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, fz);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
