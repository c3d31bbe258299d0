/* A small IPFIX (RFC 7011) message decoder for the tests of the IPFIX encoder and exporter: it
 * reads a message as a collector would and fails the test unless its sets exactly fill it. */
#ifndef FLOWSCOPE_TESTS_IPFIX_DECODE_H
#define FLOWSCOPE_TESTS_IPFIX_DECODE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "flowscope/encode/ipfix_msg.h"

#define REC_V4_LEN 47
#define REC_V6_LEN 71
#define TMPL_SET_LEN (4 + 2 * (4 + 10 * 4))

struct dec_record {
	uint16_t tmpl;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t proto;
	uint64_t octets, packets, start_ms, end_ms;
	uint16_t flags;
};

struct dec_template {
	uint16_t id, n_fields;
	uint16_t ids[16], lens[16];
};

struct dec_msg {
	uint16_t version, length;
	uint32_t export_time, seq, domain;
	unsigned int n_sets;
	uint16_t set_ids[32], set_lens[32];
	unsigned int n_templates;
	struct dec_template tmpl[4];
	unsigned int n_records;
	struct dec_record rec[64];
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void decode_templates(struct dec_msg *d, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct dec_template *t = &d->tmpl[d->n_templates++];

		ck_assert_uint_le(d->n_templates, 4);
		ck_assert_uint_ge(len - off, 4);
		t->id = get16(p + off);
		t->n_fields = get16(p + off + 2);
		off += 4;
		ck_assert_uint_le(t->n_fields, 16);
		ck_assert_uint_ge(len - off, 4u * t->n_fields);
		for (unsigned int i = 0; i < t->n_fields; i++, off += 4) {
			t->ids[i] = get16(p + off);
			t->lens[i] = get16(p + off + 2);
		}
	}
}

/* Data records of the layout both templates share; a set holds whole records, no padding. */
static void decode_data(struct dec_msg *d, uint16_t tmpl, const uint8_t *p, size_t len)
{
	size_t alen = tmpl == IPFIX_MSG_TMPL_V6 ? 16 : 4, rlen = 2 * alen + 39;

	ck_assert(tmpl == IPFIX_MSG_TMPL_V4 || tmpl == IPFIX_MSG_TMPL_V6);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(len % rlen, 0);
	for (; len > 0; len -= rlen, p += rlen) {
		struct dec_record *r = &d->rec[d->n_records++];
		const uint8_t *q = p + 2 * alen;

		ck_assert_uint_le(d->n_records, 64);
		memset(r, 0, sizeof(*r));
		r->tmpl = tmpl;
		memcpy(r->src, p, alen);
		memcpy(r->dst, p + alen, alen);
		r->sport = get16(q);
		r->dport = get16(q + 2);
		r->proto = q[4];
		r->octets = get64(q + 5);
		r->packets = get64(q + 13);
		r->start_ms = get64(q + 21);
		r->end_ms = get64(q + 29);
		r->flags = get16(q + 37);
	}
}

/* Decodes p[0..len): fails the test unless the sets exactly fill the header's length. */
static void ipfix_decode(struct dec_msg *d, const uint8_t *p, size_t len)
{
	size_t off = 16;

	memset(d, 0, sizeof(*d));
	ck_assert_uint_ge(len, 16);
	d->version = get16(p);
	d->length = get16(p + 2);
	d->export_time = get32(p + 4);
	d->seq = get32(p + 8);
	d->domain = get32(p + 12);
	ck_assert_uint_eq(d->length, len);
	while (off < len) {
		uint16_t id, slen;

		ck_assert_uint_ge(len - off, 4);
		id = get16(p + off);
		slen = get16(p + off + 2);
		ck_assert_uint_ge(slen, 4);
		ck_assert_uint_le(slen, len - off);
		ck_assert_uint_lt(d->n_sets, 32);
		d->set_ids[d->n_sets] = id;
		d->set_lens[d->n_sets++] = slen;
		if (id == 2)
			decode_templates(d, p + off + 4, slen - 4u);
		else
			decode_data(d, id, p + off + 4, slen - 4u);
		off += slen;
	}
	ck_assert_uint_eq(off, len);
}

static void assert_ipfix_template(const struct dec_template *t, uint16_t id, bool v6)
{
	const uint16_t ids[10] = {v6 ? 27 : 8, v6 ? 28 : 12, 7, 11, 4, 1, 2, 152, 153, 6};
	const uint16_t lens[10] = {v6 ? 16 : 4, v6 ? 16 : 4, 2, 2, 1, 8, 8, 8, 8, 2};

	ck_assert_uint_eq(t->id, id);
	ck_assert_uint_eq(t->n_fields, 10);
	for (int i = 0; i < 10; i++) {
		ck_assert_uint_eq(t->ids[i], ids[i]);
		ck_assert_uint_eq(t->lens[i], lens[i]);
	}
}

#endif /* FLOWSCOPE_TESTS_IPFIX_DECODE_H */
