/* IPFIX (RFC 7011) message builder (see include/flowscope/encode/ipfix_msg.h). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "flowscope/encode/ipfix_msg.h"

#define IPFIX_VERSION 10
#define MSG_HDR_LEN 16
#define SET_HDR_LEN 4
#define TEMPLATE_SET_ID 2
#define N_FIELDS 10
#define REC_V4_LEN (4 + 4 + 2 + 2 + 1 + 8 + 8 + 8 + 8 + 2)
#define REC_V6_LEN (16 + 16 + 2 + 2 + 1 + 8 + 8 + 8 + 8 + 2)

/* Information elements (IANA IPFIX registry). */
enum {
	IE_OCTET_DELTA_COUNT = 1,
	IE_PACKET_DELTA_COUNT = 2,
	IE_PROTOCOL_IDENTIFIER = 4,
	IE_TCP_CONTROL_BITS = 6,
	IE_SOURCE_TRANSPORT_PORT = 7,
	IE_SOURCE_IPV4_ADDRESS = 8,
	IE_DESTINATION_TRANSPORT_PORT = 11,
	IE_DESTINATION_IPV4_ADDRESS = 12,
	IE_SOURCE_IPV6_ADDRESS = 27,
	IE_DESTINATION_IPV6_ADDRESS = 28,
	IE_FLOW_START_MILLISECONDS = 152,
	IE_FLOW_END_MILLISECONDS = 153,
};

struct ie_spec {
	uint16_t id, len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, v & 0xffffffffu);
}

static size_t put_template(uint8_t *p, uint16_t tmpl_id, int v6)
{
	const struct ie_spec fields[N_FIELDS] = {
		{v6 ? IE_SOURCE_IPV6_ADDRESS : IE_SOURCE_IPV4_ADDRESS, v6 ? 16 : 4},
		{v6 ? IE_DESTINATION_IPV6_ADDRESS : IE_DESTINATION_IPV4_ADDRESS, v6 ? 16 : 4},
		{IE_SOURCE_TRANSPORT_PORT, 2},
		{IE_DESTINATION_TRANSPORT_PORT, 2},
		{IE_PROTOCOL_IDENTIFIER, 1},
		{IE_OCTET_DELTA_COUNT, 8},
		{IE_PACKET_DELTA_COUNT, 8},
		{IE_FLOW_START_MILLISECONDS, 8},
		{IE_FLOW_END_MILLISECONDS, 8},
		{IE_TCP_CONTROL_BITS, 2},
	};
	size_t n;

	put16(p, tmpl_id);
	put16(p + 2, N_FIELDS);
	n = 4;
	for (int i = 0; i < N_FIELDS; i++) {
		put16(p + n, fields[i].id);
		put16(p + n + 2, fields[i].len);
		n += 4;
	}
	return n;
}

void ipfix_msg_begin(struct ipfix_msg *m, bool with_templates)
{
	m->len = MSG_HDR_LEN;
	m->set_off = 0;
	m->set_id = 0;
	m->n_records = 0;
	m->has_templates = false;
	if (with_templates) {
		uint8_t *p = m->buf + m->len;
		size_t n = SET_HDR_LEN;

		put16(p, TEMPLATE_SET_ID);
		n += put_template(p + n, IPFIX_MSG_TMPL_V4, 0);
		n += put_template(p + n, IPFIX_MSG_TMPL_V6, 1);
		put16(p + 2, n);
		m->len += n;
		m->has_templates = true;
	}
}

static void close_set(struct ipfix_msg *m)
{
	if (m->set_off) {
		put16(m->buf + m->set_off + 2, m->len - m->set_off);
		m->set_off = 0;
		m->set_id = 0;
	}
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE || proto == IPPROTO_DCCP;
}

int ipfix_msg_add(struct ipfix_msg *m, const struct flow *f, int dir)
{
	const struct flow_endpoint *src = dir ? &f->dst : &f->src;
	const struct flow_endpoint *dst = dir ? &f->src : &f->dst;
	bool v6 = f->family == 6;
	uint16_t tmpl = v6 ? IPFIX_MSG_TMPL_V6 : IPFIX_MSG_TMPL_V4;
	size_t alen = v6 ? 16 : 4;
	size_t rlen = v6 ? REC_V6_LEN : REC_V4_LEN;
	uint64_t end_ns = f->end_ns ? f->end_ns : f->last_seen_ns;
	uint8_t *p;

	if ((f->family != 4 && f->family != 6) || (dir != 0 && dir != 1) || m->len < MSG_HDR_LEN)
		return -EINVAL;
	if (m->len + rlen + (m->set_id == tmpl ? 0 : SET_HDR_LEN) > IPFIX_MSG_MAX)
		return -ENOSPC;
	if (m->set_id != tmpl) {
		close_set(m);
		m->set_off = m->len;
		m->set_id = tmpl;
		put16(m->buf + m->len, tmpl);
		put16(m->buf + m->len + 2, 0); /* set by close_set() */
		m->len += SET_HDR_LEN;
	}
	p = m->buf + m->len;
	memcpy(p, src->addr, alen);
	p += alen;
	memcpy(p, dst->addr, alen);
	p += alen;
	put16(p, has_ports(f->proto) ? src->port : 0);
	put16(p + 2, has_ports(f->proto) ? dst->port : 0);
	p[4] = f->proto;
	p += 5;
	put64(p, f->bytes[dir]);
	put64(p + 8, f->packets[dir]);
	put64(p + 16, f->first_seen_ns / 1000000);
	put64(p + 24, end_ns / 1000000);
	put16(p + 32, f->proto == IPPROTO_TCP ? f->tcp_flags_seen[dir] : 0);
	m->len += rlen;
	m->n_records++;
	return 0;
}

size_t ipfix_msg_finish(struct ipfix_msg *m, uint32_t export_time_s, uint32_t seq, uint32_t domain)
{
	if (m->len < MSG_HDR_LEN)
		return 0;
	close_set(m);
	put16(m->buf, IPFIX_VERSION);
	put16(m->buf + 2, m->len);
	put32(m->buf + 4, export_time_s);
	put32(m->buf + 8, seq);
	put32(m->buf + 12, domain);
	return m->len;
}
