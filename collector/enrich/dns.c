/* DNS message parser (see include/flowscope/enrich/dns.h). Input comes straight from the wire, so
 * every offset is checked against len before it is read and every name is bounded in bytes and
 * jumps. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/enrich/dns.h"

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_TC 0x0200
#define DNS_RR_FIXED_LEN 10 /* type, class, ttl, rdlength after the owner name */
#define DNS_Q_FIXED_LEN 4   /* qtype, qclass after the name */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool plain_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Appends one label in text form to out (o bytes used), escaping so that a dot inside a label
 * cannot be confused with a separator and the result stays printable. */
static int put_label(char *out, size_t *o, const uint8_t *label, size_t n)
{
	size_t i;

	if (*o) {
		if (*o + 1 >= DNS_NAME_TEXT_LEN)
			return -EINVAL;
		out[(*o)++] = '.';
	}
	for (i = 0; i < n; i++) {
		uint8_t c = label[i];

		if (plain_char(c)) {
			if (*o + 1 >= DNS_NAME_TEXT_LEN)
				return -EINVAL;
			out[(*o)++] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : (char)c;
		} else {
			if (*o + 4 >= DNS_NAME_TEXT_LEN)
				return -EINVAL;
			out[(*o)++] = '\\';
			out[(*o)++] = (char)('0' + c / 100);
			out[(*o)++] = (char)('0' + c / 10 % 10);
			out[(*o)++] = (char)('0' + c % 10);
		}
	}
	return 0;
}

/* Decodes the name starting at off into out (DNS_NAME_TEXT_LEN bytes). *next is set to the offset
 * just past the name where it starts (after its first pointer, or its terminating zero).
 * Pointers must go strictly backwards and not into the header, so they cannot loop; the jump
 * count is bounded anyway. */
static int read_name(const uint8_t *p, size_t len, size_t off, char *out, size_t *next)
{
	size_t pos = off, o = 0, wire = 1; /* the root octet */
	unsigned jumps = 0;
	bool jumped = false;
	int err;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EINVAL;
		c = p[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (len - pos < 2)
				return -EINVAL;
			target = (size_t)(c & 0x3f) << 8 | p[pos + 1];
			if (target >= pos || target < DNS_HDR_LEN)
				return -EINVAL;
			if (++jumps > DNS_MAX_POINTER_JUMPS)
				return -EINVAL;
			if (!jumped) {
				*next = pos + 2;
				jumped = true;
			}
			pos = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 extended and 0x80 reserved label types */
			return -EINVAL;
		if (c == 0) {
			if (!jumped)
				*next = pos + 1;
			break;
		}
		if (len - pos - 1 < c)
			return -EINVAL;
		wire += 1 + (size_t)c;
		if (wire > DNS_MAX_NAME_WIRE)
			return -EINVAL;
		err = put_label(out, &o, p + pos + 1, c);
		if (err)
			return err;
		pos += 1 + (size_t)c;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

static int read_answer(const uint8_t *p, size_t len, size_t *off, struct dns_answer *a)
{
	size_t pos, rdlen, rdata;
	int err;

	err = read_name(p, len, *off, a->name, &pos);
	if (err)
		return err;
	if (len - pos < DNS_RR_FIXED_LEN)
		return -EINVAL;
	a->type = rd16(p + pos);
	/* class (pos + 2) is not kept: only IN is seen in practice */
	a->ttl = rd32(p + pos + 4);
	rdlen = rd16(p + pos + 8);
	rdata = pos + DNS_RR_FIXED_LEN;
	if (len - rdata < rdlen)
		return -EINVAL;

	switch (a->type) {
	case DNS_TYPE_A:
		if (rdlen != 4)
			return -EINVAL;
		a->family = 4;
		memcpy(a->addr, p + rdata, 4);
		break;
	case DNS_TYPE_AAAA:
		if (rdlen != 16)
			return -EINVAL;
		a->family = 6;
		memcpy(a->addr, p + rdata, 16);
		break;
	case DNS_TYPE_CNAME: {
		size_t end;

		/* The target may point back into the message, but its own bytes are the rdata. */
		err = read_name(p, rdata + rdlen, rdata, a->cname, &end);
		if (err)
			return err;
		break;
	}
	default:
		break;
	}
	*off = rdata + rdlen;
	return 0;
}

int dns_parse(const uint8_t *p, size_t len, struct dns_msg *out)
{
	struct dns_answer scratch;
	char qscratch[DNS_NAME_TEXT_LEN];
	uint16_t flags, qdcount, ancount, i;
	size_t off = DNS_HDR_LEN;
	int err;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!p || len < DNS_HDR_LEN)
		return -EINVAL;

	out->id = rd16(p);
	flags = rd16(p + 2);
	out->response = flags & DNS_FLAG_QR;
	out->opcode = (flags >> 11) & 0xf;
	out->truncated = flags & DNS_FLAG_TC;
	out->rcode = flags & 0xf;
	qdcount = rd16(p + 4);
	ancount = rd16(p + 6);
	if (qdcount > DNS_MAX_QUESTIONS || ancount > DNS_MAX_ANCOUNT)
		return -EINVAL;
	out->n_questions = qdcount;

	for (i = 0; i < qdcount; i++) {
		char *name = i == 0 ? out->qname : qscratch;

		err = read_name(p, len, off, name, &off);
		if (err)
			return err;
		if (len - off < DNS_Q_FIXED_LEN)
			return -EINVAL;
		if (i == 0)
			out->qtype = rd16(p + off);
		off += DNS_Q_FIXED_LEN;
	}

	for (i = 0; i < ancount; i++) {
		struct dns_answer *a = &scratch;

		if (out->n_answers < DNS_MAX_ANSWERS)
			a = &out->answers[out->n_answers];
		else
			memset(a, 0, sizeof(*a));
		err = read_answer(p, len, &off, a);
		if (err)
			return err;
		if (a == &scratch)
			out->answers_dropped = true;
		else
			out->n_answers++;
	}
	/* Authority and additional sections are not needed by the collector. */
	return 0;
}

int dns_parse_tcp(const uint8_t *p, size_t len, struct dns_msg *out)
{
	size_t msg_len;

	if (!out)
		return -EINVAL;
	if (!p || len < 2) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	msg_len = rd16(p);
	if (len - 2 < msg_len) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return dns_parse(p + 2, msg_len, out);
}

const char *dns_rcode_name(uint8_t rcode)
{
	static const char *const names[] = {
		[0] = "NOERROR", [1] = "FORMERR", [2] = "SERVFAIL", [3] = "NXDOMAIN",
		[4] = "NOTIMP",	 [5] = "REFUSED", [6] = "YXDOMAIN", [7] = "YXRRSET",
		[8] = "NXRRSET", [9] = "NOTAUTH", [10] = "NOTZONE", [11] = "DSOTYPENI",
	};
	static _Thread_local char buf[sizeof("RCODE255")];

	if (rcode < sizeof(names) / sizeof(names[0]) && names[rcode])
		return names[rcode];
	snprintf(buf, sizeof(buf), "RCODE%u", (unsigned)rcode);
	return buf;
}

const char *dns_type_name(uint16_t type)
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = {
		{1, "A"},      {2, "NS"},      {5, "CNAME"},  {6, "SOA"},   {12, "PTR"},
		{13, "HINFO"}, {15, "MX"},     {16, "TXT"},   {28, "AAAA"}, {33, "SRV"},
		{35, "NAPTR"}, {39, "DNAME"},  {41, "OPT"},   {43, "DS"},   {46, "RRSIG"},
		{47, "NSEC"},  {48, "DNSKEY"}, {50, "NSEC3"}, {52, "TLSA"}, {64, "SVCB"},
		{65, "HTTPS"}, {251, "IXFR"},  {252, "AXFR"}, {255, "ANY"}, {257, "CAA"},
	};
	static _Thread_local char buf[sizeof("TYPE65535")];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].name;
	snprintf(buf, sizeof(buf), "TYPE%u", (unsigned)type);
	return buf;
}
