/* IPFIX (RFC 7011) export of ended flows over UDP (see include/flowscope/exporters/ipfix_exporter.h).
 * One message is built in a fixed buffer: header, optionally the template set, then data sets
 * (a new set whenever the template changes). Everything is big-endian on the wire. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/exporters/ipfix_exporter.h"

#define IPFIX_VERSION 10
#define DEFAULT_PORT 4739
#define DEFAULT_DOMAIN 1
#define DEFAULT_REFRESH_S 60
#define MAX_MSG 1400
#define MSG_HDR_LEN 16
#define SET_HDR_LEN 4
#define TEMPLATE_SET_ID 2
#define TMPL_V4 256
#define TMPL_V6 257
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

struct ipfix_exporter {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t domain_id;
	uint32_t refresh_s;
	uint32_t seq;		/* data records sent so far in the domain (mod 2^32) */
	uint64_t last_tmpl_ns;	/* monotonic time the templates were last sent */
	int tmpl_sent;		/* templates were sent at least once */
	uint8_t buf[MAX_MSG];	/* the message being built */
	size_t len;		/* bytes used in buf; 0: no message started */
	size_t set_off;		/* offset of the open data set's header (0: none) */
	uint16_t set_id;	/* template id of the open data set */
	unsigned int n_records; /* data records in the message */
	int has_templates;	/* the message carries the template set */
	struct ipfix_exporter_stats stats;
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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
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
	size_t n = 0;

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

static int templates_due(const struct ipfix_exporter *e)
{
	return !e->tmpl_sent ||
	       mono_ns() - e->last_tmpl_ns >= (uint64_t)e->refresh_s * 1000000000ull;
}

/* Starts a message: header space, plus the template set when due. */
static void begin_message(struct ipfix_exporter *e)
{
	e->len = MSG_HDR_LEN;
	e->set_off = 0;
	e->set_id = 0;
	e->n_records = 0;
	e->has_templates = 0;
	if (templates_due(e)) {
		uint8_t *p = e->buf + e->len;
		size_t n = SET_HDR_LEN;

		put16(p, TEMPLATE_SET_ID);
		n += put_template(p + n, TMPL_V4, 0);
		n += put_template(p + n, TMPL_V6, 1);
		put16(p + 2, n);
		e->len += n;
		e->has_templates = 1;
	}
}

static void close_set(struct ipfix_exporter *e)
{
	if (e->set_off) {
		put16(e->buf + e->set_off + 2, e->len - e->set_off);
		e->set_off = 0;
		e->set_id = 0;
	}
}

int ipfix_exporter_flush(struct ipfix_exporter *e)
{
	ssize_t r;
	int ret = 0;

	if (!e->len || !e->n_records) {
		e->len = 0;
		return 0;
	}
	close_set(e);
	put16(e->buf, IPFIX_VERSION);
	put16(e->buf + 2, e->len);
	put32(e->buf + 4, (uint32_t)time(NULL));
	put32(e->buf + 8, e->seq);
	put32(e->buf + 12, e->domain_id);
	do {
		r = sendto(e->fd, e->buf, e->len, 0, (struct sockaddr *)&e->addr, e->addrlen);
	} while (r < 0 && errno == EINTR);
	if (r < 0 || (size_t)r != e->len) {
		ret = r < 0 ? -errno : -EMSGSIZE;
		e->stats.send_errors++;
	} else {
		e->seq += e->n_records;
		e->stats.records += e->n_records;
		e->stats.messages++;
		if (e->has_templates) {
			e->tmpl_sent = 1;
			e->last_tmpl_ns = mono_ns();
		}
	}
	e->len = 0;
	e->n_records = 0;
	e->set_off = 0;
	e->has_templates = 0;
	return ret;
}

static int has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE || proto == IPPROTO_DCCP;
}

/* Appends one record for direction dir (0: initiator -> responder). */
static int add_record(struct ipfix_exporter *e, const struct flow *f, int dir)
{
	const struct flow_endpoint *src = dir ? &f->dst : &f->src;
	const struct flow_endpoint *dst = dir ? &f->src : &f->dst;
	int v6 = f->family == 6;
	uint16_t tmpl = v6 ? TMPL_V6 : TMPL_V4;
	size_t alen = v6 ? 16 : 4;
	size_t rlen = v6 ? REC_V6_LEN : REC_V4_LEN;
	uint64_t end_ns = f->end_ns ? f->end_ns : f->last_seen_ns;
	int ret = 0;
	uint8_t *p;

	if (e->len) {
		size_t need = rlen + (e->set_id == tmpl ? 0 : SET_HDR_LEN);

		if (e->len + need > MAX_MSG)
			ret = ipfix_exporter_flush(e);
	}
	if (!e->len)
		begin_message(e);
	if (e->set_id != tmpl) {
		close_set(e);
		e->set_off = e->len;
		e->set_id = tmpl;
		put16(e->buf + e->len, tmpl);
		put16(e->buf + e->len + 2, 0);
		e->len += SET_HDR_LEN;
	}
	p = e->buf + e->len;
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
	e->len += rlen;
	e->n_records++;
	return ret;
}

int ipfix_exporter_add(struct ipfix_exporter *e, const struct flow *f)
{
	int ret = 0, r;

	if (f->event != FLOW_EVENT_END)
		return 0;
	if (f->family != 4 && f->family != 6)
		return -EINVAL;
	for (int dir = 0; dir < 2; dir++) {
		if (!f->packets[dir])
			continue;
		r = add_record(e, f, dir);
		if (r && !ret)
			ret = r;
	}
	return ret;
}

int ipfix_exporter_open(struct ipfix_exporter **out, const struct ipfix_exporter_opts *o, char *err,
			size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL;
	struct ipfix_exporter *e;
	char port[8];
	int r;

	*out = NULL;
	if (!o->host || !*o->host) {
		snprintf(err, errlen, "ipfix: no collector host");
		return -EINVAL;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", o->port ? o->port : DEFAULT_PORT);
	r = getaddrinfo(o->host, port, &hints, &res);
	if (r) {
		snprintf(err, errlen, "ipfix: bad collector address '%s': %s", o->host,
			 gai_strerror(r));
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		freeaddrinfo(res);
		snprintf(err, errlen, "ipfix: out of memory");
		return -ENOMEM;
	}
	e->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (e->fd < 0) {
		r = -errno;
		snprintf(err, errlen, "ipfix: socket: %s", strerror(-r));
		freeaddrinfo(res);
		free(e);
		return r;
	}
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	e->domain_id = o->domain_id ? o->domain_id : DEFAULT_DOMAIN;
	e->refresh_s = o->template_refresh_s ? o->template_refresh_s : DEFAULT_REFRESH_S;
	*out = e;
	return 0;
}

void ipfix_exporter_close(struct ipfix_exporter *e)
{
	if (!e)
		return;
	ipfix_exporter_flush(e);
	close(e->fd);
	free(e);
}

void ipfix_exporter_get_stats(const struct ipfix_exporter *e, struct ipfix_exporter_stats *st)
{
	*st = e->stats;
}
