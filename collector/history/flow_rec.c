/* The history's flow record codec (see include/flowscope/history/flow_rec.h): one flow event in
 * a few dozen bytes, read back from bytes that are trusted for nothing (a torn journal, a bad
 * disk, a fuzzer) without ever reading past their end.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "flowscope/history/flow_rec.h"

/*
 * A record is a varint of the header bits below, then these fields, those of a group the header
 * does not announce left out (numbers are LEB128 varints unless said otherwise; differences are
 * zigzag-coded with two's complement wrap, so that any pair of uint64 round-trips):
 *   id - previous id, time_ns - previous time_ns, seq - previous seq (unless SEQ_NEXT)
 *   uuid[0..7] (unless UUID_HEAD_SAME), uuid[8..15] (unless UUID_SEQ)
 *   ifindex, ifname (unless IFACE_SAME)
 *   proto (1 byte), src and dst addresses (4 or 16 bytes), src and dst ports (2 bytes, LE),
 *   vlan_id (VLAN)
 *   key addresses (2 x 16 bytes), ports (2 x 2 bytes), proto, family (KEY_RAW); key ifindex
 *   (KEY_IFINDEX); key vlan_id (KEY_VLAN)
 *   packets[0], packets[1], bytes[0], bytes[1]
 *   tcp_flags, tcp_flags_seen[0], tcp_flags_seen[1] (TCP)
 *   time_ns - first_seen_ns, time_ns - last_seen_ns (unless LAST_IS_TIME), end_ns - time_ns (END)
 *   icmp_type, icmp_code (ICMP, 1 byte each)
 *   event, verdict, traffic_dir, if_kind, obs_point (ENUMS, 1 byte each)
 *   per process (SRC_PROC, DST_PROC): pid << 1 | known, comm, cgroup_id, container_id
 *   src_name, dst_name (NAMES)
 *   dns (DNS): a byte (bit 0 response, bits 1-3 n_ips, bit 4 + i: ips[i] is IPv6), query,
 *   qtype, rcode (1 byte), ttl, the addresses (4 or 16 bytes)
 *   drop_reason, drops (DROP)
 *   rtt_us, retransmits, socket_cookie, sock_closed_ns (SOCK)
 * Fixed-size strings (ifname, comm) are a length byte and their bytes; container_id's length
 * byte has bit 7 set when its hex digits are packed two to a byte. Pointer strings are
 * varint(length + 1) (0: NULL), their bytes and a NUL, so that a decoded flow can point at them.
 */

#define H_BIT(n) ((uint64_t)1 << (n))

/* Header bits 0-11: event, verdict, traffic_dir, if_kind and obs_point when they fit (else
 * ENUMS and zero). The flags after them come commonest first, so that a typical event's header
 * is a varint of 4 bytes. */
#define H_EVENT_SHIFT 0	  /* 3 bits */
#define H_VERDICT_SHIFT 3 /* 2 bits */
#define H_DIR_SHIFT 5	  /* 1 bit */
#define H_KIND_SHIFT 6	  /* 2 bits */
#define H_OBS_SHIFT 8	  /* 4 bits */
#define H_V6 H_BIT(12)
#define H_SEQ_NEXT H_BIT(13)	   /* seq is the previous record's + 1 */
#define H_UUID_HEAD_SAME H_BIT(14) /* uuid[0..7] is the previous record's */
#define H_UUID_SEQ H_BIT(15)	   /* uuid[8..15] is seq the collector's way (seq_uuid_tail) */
#define H_IFACE_SAME H_BIT(16)	   /* ifindex and ifname are the previous record's */
#define H_REPLY H_BIT(17)
#define H_ENDED H_BIT(18)
#define H_COPY H_BIT(19)
#define H_KEY_SWAPPED H_BIT(20) /* key side 1 is the initiator (else side 0) */
#define H_LAST_IS_TIME H_BIT(21)
#define H_TCP H_BIT(22)
#define H_SRC_PROC H_BIT(23)
#define H_DST_PROC H_BIT(24)
#define H_NAMES H_BIT(25)
#define H_SOCK H_BIT(26)
#define H_DNS H_BIT(27)
#define H_END H_BIT(28)
#define H_DROP H_BIT(29)
#define H_ICMP H_BIT(30)
#define H_VLAN H_BIT(31)
#define H_ENUMS H_BIT(32)
#define H_KEY_RAW H_BIT(33) /* the key is not the endpoints' (H_KEY_SWAPPED then unset) */
#define H_KEY_IFINDEX H_BIT(34)
#define H_KEY_VLAN H_BIT(35)
#define H_ALL (H_BIT(36) - 1)
#define H_ENUM_BITS (H_BIT(12) - 1)

/* More than the longest record but for its pointer strings (about 620 bytes). */
#define REC_MAX_FIXED 1024
#define VARINT_MAX 10

static inline uint64_t zigzag(uint64_t d)
{
	return d << 1 ^ (uint64_t)((int64_t)d >> 63);
}

static inline uint64_t unzigzag(uint64_t v)
{
	return v >> 1 ^ (0 - (v & 1));
}

/* uuid[8..15] as set_uuid (collector/pipeline/collector.c) makes it of seq. */
static void seq_uuid_tail(uint64_t seq, uint8_t t[8])
{
	int i;

	for (i = 7; i >= 0; i--, seq >>= 8)
		t[i] = (uint8_t)seq;
	t[0] = (uint8_t)((t[0] & 0x3f) | 0x80);
}

static size_t addr_len(bool v6)
{
	return v6 ? 16 : 4;
}

/* The key the collector makes of the endpoints (flow_decode_state), the initiator on side
 * `side`, with ifindex and vlan_id taken from `like` (they are coded apart: the relay's keys
 * differ in ifindex). IPv4 addresses as a record carries them: 4 bytes, the rest zero. */
static void derive_key(const struct flow *f, int side, const struct flow_key *like,
		       struct flow_key *k)
{
	size_t alen = addr_len(f->family == 6);

	memset(k, 0, sizeof(*k));
	memcpy(k->addr[side], f->src.addr, alen);
	memcpy(k->addr[!side], f->dst.addr, alen);
	k->port[side] = f->src.port;
	k->port[!side] = f->dst.port;
	k->proto = f->proto;
	k->family = f->family;
	k->ifindex = like->ifindex;
	k->vlan_id = like->vlan_id;
}

/* ---- encoding: into room reserved for the whole record, so that nothing fails half-way ---- */

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static inline uint8_t *put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *put_fixed_str(uint8_t *p, const char *s, size_t size)
{
	size_t n = strnlen(s, size - 1);

	*p++ = (uint8_t)n;
	return put_bytes(p, s, n);
}

static uint8_t *put_ptr_str(uint8_t *p, const char *s)
{
	size_t n;

	if (!s)
		return put_varint(p, 0);
	n = strlen(s);
	p = put_varint(p, (uint64_t)n + 1);
	return put_bytes(p, s, n + 1);
}

static bool is_lower_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int hex_val(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Container ids are 64 hex digits: packed, they cost 32 bytes instead of 64. */
static uint8_t *put_container_id(uint8_t *p, const char *s)
{
	size_t i, n = s ? strnlen(s, 64) : 0;

	if (!n) {
		*p++ = 0;
		return p;
	}
	if (n % 2 || !is_lower_hex(s, n)) {
		*p++ = (uint8_t)n;
		return put_bytes(p, s, n);
	}
	*p++ = (uint8_t)(0x80 | n);
	for (i = 0; i < n; i += 2)
		*p++ = (uint8_t)(hex_val(s[i]) << 4 | hex_val(s[i + 1]));
	return p;
}

static uint8_t *put_proc(uint8_t *p, const struct flow_process *pr)
{
	p = put_varint(p, (uint64_t)pr->pid << 1 | pr->known);
	p = put_fixed_str(p, pr->comm, sizeof(pr->comm));
	p = put_varint(p, pr->cgroup_id);
	return put_container_id(p, pr->container_id);
}

static uint8_t *put_dns(uint8_t *p, const struct flow_dns_info *d)
{
	uint8_t head = (uint8_t)(d->response | d->n_ips << 1);
	int i;

	for (i = 0; i < d->n_ips; i++)
		if (d->ip_family[i] == 6)
			head |= (uint8_t)(0x10 << i);
	*p++ = head;
	p = put_ptr_str(p, d->query);
	p = put_varint(p, d->qtype);
	*p++ = d->rcode;
	p = put_varint(p, d->ttl);
	for (i = 0; i < d->n_ips; i++)
		p = put_bytes(p, d->ips[i], addr_len(d->ip_family[i] == 6));
	return p;
}

/* What a record cannot tell: the family is a bit, DNS addresses 4 of 4 or 6. */
static bool recordable(const struct flow *f)
{
	int i;

	if (f->family != 4 && f->family != 6)
		return false;
	if (!f->dns.present)
		return true;
	if (f->dns.n_ips > 4)
		return false;
	for (i = 0; i < f->dns.n_ips; i++)
		if (f->dns.ip_family[i] != 4 && f->dns.ip_family[i] != 6)
			return false;
	return true;
}

static bool iface_same(const struct flow_rec_state *st, const struct flow *f)
{
	size_t n = strnlen(f->ifname, IF_NAMESIZE - 1);

	return f->ifindex == st->ifindex && !memcmp(f->ifname, st->ifname, n) && !st->ifname[n];
}

/* The header's enums and flags; the key's are added by head_key. */
static uint64_t head_bits(const struct flow_rec_state *st, const struct flow *f)
{
	uint8_t tail[8];
	uint64_t h = 0;

	if (f->event < 8 && f->verdict < 4 && f->traffic_dir < 2 && f->if_kind < 4 &&
	    f->obs_point < 16)
		h |= (uint64_t)f->event << H_EVENT_SHIFT | (uint64_t)f->verdict << H_VERDICT_SHIFT |
		     (uint64_t)f->traffic_dir << H_DIR_SHIFT |
		     (uint64_t)f->if_kind << H_KIND_SHIFT | (uint64_t)f->obs_point << H_OBS_SHIFT;
	else
		h |= H_ENUMS;
	seq_uuid_tail(f->seq, tail);
	h |= (f->family == 6 ? H_V6 : 0) | (f->seq == st->seq + 1 ? H_SEQ_NEXT : 0) |
	     (!memcmp(f->uuid, st->uuid_head, 8) ? H_UUID_HEAD_SAME : 0) |
	     (!memcmp(f->uuid + 8, tail, 8) ? H_UUID_SEQ : 0) |
	     (iface_same(st, f) ? H_IFACE_SAME : 0) | (f->is_reply ? H_REPLY : 0) |
	     (f->ended ? H_ENDED : 0) | (f->copy ? H_COPY : 0) |
	     (f->last_seen_ns == f->time_ns ? H_LAST_IS_TIME : 0) |
	     (f->tcp_flags || f->tcp_flags_seen[0] || f->tcp_flags_seen[1] ? H_TCP : 0) |
	     (f->src_proc ? H_SRC_PROC : 0) | (f->dst_proc ? H_DST_PROC : 0) |
	     (f->src_name || f->dst_name ? H_NAMES : 0) |
	     (f->rtt_us || f->retransmits || f->socket_cookie || f->sock_closed_ns ? H_SOCK : 0) |
	     (f->dns.present ? H_DNS : 0) | (f->end_ns ? H_END : 0) |
	     (f->drop_reason || f->drops ? H_DROP : 0) |
	     (f->icmp_type || f->icmp_code ? H_ICMP : 0) | (f->vlan_id ? H_VLAN : 0);
	return h;
}

static uint64_t head_key(const struct flow *f)
{
	uint64_t h = (f->key.ifindex != f->ifindex ? H_KEY_IFINDEX : 0) |
		     (f->key.vlan_id != f->vlan_id ? H_KEY_VLAN : 0);
	struct flow_key k;

	derive_key(f, 0, &f->key, &k);
	if (!memcmp(&k, &f->key, sizeof(k)))
		return h;
	derive_key(f, 1, &f->key, &k);
	if (!memcmp(&k, &f->key, sizeof(k)))
		return h | H_KEY_SWAPPED;
	return h | H_KEY_RAW;
}

static uint8_t *put_endpoints(uint8_t *p, uint64_t h, const struct flow *f)
{
	const struct flow_key *k = &f->key;
	size_t alen = addr_len(h & H_V6);

	*p++ = f->proto;
	p = put_bytes(p, f->src.addr, alen);
	p = put_bytes(p, f->dst.addr, alen);
	p = put_u16(p, f->src.port);
	p = put_u16(p, f->dst.port);
	if (h & H_VLAN)
		p = put_varint(p, f->vlan_id);
	if (h & H_KEY_RAW) {
		p = put_bytes(p, k->addr, sizeof(k->addr));
		p = put_u16(p, k->port[0]);
		p = put_u16(p, k->port[1]);
		*p++ = k->proto;
		*p++ = k->family;
	}
	if (h & H_KEY_IFINDEX)
		p = put_varint(p, k->ifindex);
	if (h & H_KEY_VLAN)
		p = put_varint(p, k->vlan_id);
	return p;
}

static uint8_t *put_state(uint8_t *p, uint64_t h, const struct flow *f)
{
	p = put_varint(p, f->packets[0]);
	p = put_varint(p, f->packets[1]);
	p = put_varint(p, f->bytes[0]);
	p = put_varint(p, f->bytes[1]);
	if (h & H_TCP) {
		p = put_varint(p, f->tcp_flags);
		p = put_varint(p, f->tcp_flags_seen[0]);
		p = put_varint(p, f->tcp_flags_seen[1]);
	}
	p = put_varint(p, zigzag(f->time_ns - f->first_seen_ns));
	if (!(h & H_LAST_IS_TIME))
		p = put_varint(p, zigzag(f->time_ns - f->last_seen_ns));
	if (h & H_END)
		p = put_varint(p, zigzag(f->end_ns - f->time_ns));
	if (h & H_ICMP) {
		*p++ = f->icmp_type;
		*p++ = f->icmp_code;
	}
	if (h & H_ENUMS) {
		*p++ = f->event;
		*p++ = f->verdict;
		*p++ = f->traffic_dir;
		*p++ = f->if_kind;
		*p++ = f->obs_point;
	}
	return p;
}

static uint8_t *put_groups(uint8_t *p, uint64_t h, const struct flow *f)
{
	if (h & H_SRC_PROC)
		p = put_proc(p, f->src_proc);
	if (h & H_DST_PROC)
		p = put_proc(p, f->dst_proc);
	if (h & H_NAMES) {
		p = put_ptr_str(p, f->src_name);
		p = put_ptr_str(p, f->dst_name);
	}
	if (h & H_DNS)
		p = put_dns(p, &f->dns);
	if (h & H_DROP) {
		p = put_varint(p, f->drop_reason);
		p = put_varint(p, f->drops);
	}
	if (h & H_SOCK) {
		p = put_varint(p, f->rtt_us);
		p = put_varint(p, f->retransmits);
		p = put_varint(p, f->socket_cookie);
		p = put_varint(p, f->sock_closed_ns);
	}
	return p;
}

static size_t ptr_str_room(const char *s)
{
	return s ? strlen(s) + 1 + VARINT_MAX : 1;
}

int flow_rec_encode(struct flow_rec_state *st, struct buf *out, const struct flow *f)
{
	size_t room = REC_MAX_FIXED + ptr_str_room(f->src_name) + ptr_str_room(f->dst_name) +
		      ptr_str_room(f->dns.present ? f->dns.query : NULL);
	uint64_t h;
	uint8_t *p;

	if (!recordable(f))
		return -EINVAL;
	if (buf_reserve(out, room))
		return -ENOMEM;
	h = head_bits(st, f) | head_key(f);
	p = (uint8_t *)out->data + out->len;
	p = put_varint(p, h);
	p = put_varint(p, zigzag(f->id - st->id));
	p = put_varint(p, zigzag(f->time_ns - st->time_ns));
	if (!(h & H_SEQ_NEXT))
		p = put_varint(p, zigzag(f->seq - st->seq));
	if (!(h & H_UUID_HEAD_SAME))
		p = put_bytes(p, f->uuid, 8);
	if (!(h & H_UUID_SEQ))
		p = put_bytes(p, f->uuid + 8, 8);
	if (!(h & H_IFACE_SAME)) {
		p = put_varint(p, f->ifindex);
		p = put_fixed_str(p, f->ifname, sizeof(f->ifname));
	}
	p = put_endpoints(p, h, f);
	p = put_state(p, h, f);
	p = put_groups(p, h, f);
	out->len = (size_t)(p - (uint8_t *)out->data);
	out->data[out->len] = '\0';

	st->id = f->id;
	st->time_ns = f->time_ns;
	st->seq = f->seq;
	memcpy(st->uuid_head, f->uuid, 8);
	if (!(h & H_IFACE_SAME)) {
		st->ifindex = f->ifindex;
		memset(st->ifname, 0, sizeof(st->ifname));
		memcpy(st->ifname, f->ifname, strnlen(f->ifname, IF_NAMESIZE - 1));
	}
	return 0;
}

/* ---- decoding: every read checks the end; the first failure makes the rest read nothing ---- */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static void fail(struct rd *r)
{
	r->bad = true;
	r->p = r->end;
}

static inline uint8_t get_u8(struct rd *r)
{
	if (r->p == r->end) {
		fail(r);
		return 0;
	}
	return *r->p++;
}

static inline uint64_t get_varint(struct rd *r)
{
	uint64_t v = 0;
	unsigned int shift;
	uint8_t b;

	for (shift = 0; shift < 64 && r->p != r->end; shift += 7) {
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return shift == 63 && b > 1 ? (fail(r), 0) : v;
	}
	fail(r);
	return 0;
}

/* A varint that must fit in max (a narrower field). */
static inline uint64_t get_uint(struct rd *r, uint64_t max)
{
	uint64_t v = get_varint(r);

	if (v > max) {
		fail(r);
		return 0;
	}
	return v;
}

static inline void get_bytes(struct rd *r, void *d, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		fail(r);
		return;
	}
	memcpy(d, r->p, n);
	r->p += n;
}

static inline uint16_t get_u16(struct rd *r)
{
	uint8_t b[2];

	get_bytes(r, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

/* n bytes of a string into d (zeroed, of size bytes): no NUL among them, room for one after. */
static void get_str_bytes(struct rd *r, char *d, size_t n, size_t size)
{
	if (n >= size) {
		fail(r);
		return;
	}
	get_bytes(r, d, n);
	if (memchr(d, '\0', n))
		fail(r);
}

static void get_fixed_str(struct rd *r, char *d, size_t size)
{
	get_str_bytes(r, d, get_u8(r), size);
}

/* Into d, NUL-ended; NULL for none, else d. */
static const char *get_container_id(struct rd *r, char d[65])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t head = get_u8(r), packed[32];
	size_t i, n = head & 0x7f;

	if (!(head & 0x80)) {
		get_str_bytes(r, d, n, 65);
	} else if (!n || n % 2 || n > 64) {
		fail(r);
	} else {
		get_bytes(r, packed, n / 2);
		for (i = 0; i < n / 2 && !r->bad; i++) {
			d[2 * i] = digits[packed[i] >> 4];
			d[2 * i + 1] = digits[packed[i] & 0xf];
		}
	}
	if (r->bad || !n)
		return NULL;
	d[n] = '\0';
	return d;
}

/* A pointer into the record, NUL-ended, or NULL. */
static const char *get_ptr_str(struct rd *r)
{
	uint64_t n = get_varint(r);
	const char *s = (const char *)r->p;

	if (!n)
		return NULL;
	if ((uint64_t)(r->end - r->p) < n || s[n - 1] || memchr(s, '\0', n - 1)) {
		fail(r);
		return NULL;
	}
	r->p += n;
	return s;
}

static void get_proc(struct rd *r, struct flow_process *pr, char container_id[65])
{
	uint64_t v = get_uint(r, (uint64_t)UINT32_MAX << 1 | 1);

	memset(pr, 0, sizeof(*pr)); /* the strings' NULs */
	pr->known = v & 1;
	pr->pid = (uint32_t)(v >> 1);
	get_fixed_str(r, pr->comm, sizeof(pr->comm));
	pr->cgroup_id = get_varint(r);
	pr->container_id = get_container_id(r, container_id);
}

static void get_dns(struct rd *r, struct flow_dns_info *d)
{
	uint8_t head = get_u8(r);
	int i;

	d->present = true;
	d->response = head & 1;
	d->n_ips = (uint8_t)(head >> 1 & 7);
	/* Family bits only for the addresses there are. */
	if (d->n_ips > 4 || head >> 4 >> d->n_ips) {
		fail(r);
		return;
	}
	d->query = get_ptr_str(r);
	d->qtype = (uint16_t)get_uint(r, UINT16_MAX);
	d->rcode = get_u8(r);
	d->ttl = (uint32_t)get_uint(r, UINT32_MAX);
	for (i = 0; i < d->n_ips; i++) {
		d->ip_family[i] = head & 0x10 << i ? 6 : 4;
		get_bytes(r, d->ips[i], addr_len(d->ip_family[i] == 6));
	}
}

/* id, time, seq, uuid, interface: what is coded against the previous record. */
static void get_head(struct rd *r, uint64_t h, const struct flow_rec_state *st, struct flow *f)
{
	f->id = st->id + unzigzag(get_varint(r));
	f->time_ns = st->time_ns + unzigzag(get_varint(r));
	f->seq = h & H_SEQ_NEXT ? st->seq + 1 : st->seq + unzigzag(get_varint(r));
	if (h & H_UUID_HEAD_SAME)
		memcpy(f->uuid, st->uuid_head, 8);
	else
		get_bytes(r, f->uuid, 8);
	if (h & H_UUID_SEQ)
		seq_uuid_tail(f->seq, f->uuid + 8);
	else
		get_bytes(r, f->uuid + 8, 8);
	if (h & H_IFACE_SAME) {
		f->ifindex = st->ifindex;
		memcpy(f->ifname, st->ifname, sizeof(f->ifname));
	} else {
		f->ifindex = (uint32_t)get_uint(r, UINT32_MAX);
		get_fixed_str(r, f->ifname, sizeof(f->ifname));
	}
}

static void get_endpoints(struct rd *r, uint64_t h, struct flow *f)
{
	size_t alen = addr_len(h & H_V6);
	struct flow_key *k = &f->key;

	f->family = h & H_V6 ? 6 : 4;
	f->proto = get_u8(r);
	get_bytes(r, f->src.addr, alen);
	get_bytes(r, f->dst.addr, alen);
	f->src.port = get_u16(r);
	f->dst.port = get_u16(r);
	if (h & H_VLAN)
		f->vlan_id = (uint16_t)get_uint(r, UINT16_MAX);
	if (h & H_KEY_RAW) {
		get_bytes(r, k->addr, sizeof(k->addr));
		k->port[0] = get_u16(r);
		k->port[1] = get_u16(r);
		k->proto = get_u8(r);
		k->family = get_u8(r);
		k->ifindex = f->ifindex;
		k->vlan_id = f->vlan_id;
	} else {
		struct flow_key like = {.ifindex = f->ifindex, .vlan_id = f->vlan_id};

		derive_key(f, h & H_KEY_SWAPPED ? 1 : 0, &like, k);
	}
	if (h & H_KEY_IFINDEX)
		k->ifindex = (uint32_t)get_uint(r, UINT32_MAX);
	if (h & H_KEY_VLAN)
		k->vlan_id = (uint16_t)get_uint(r, UINT16_MAX);
}

static void get_state(struct rd *r, uint64_t h, struct flow *f)
{
	f->packets[0] = get_varint(r);
	f->packets[1] = get_varint(r);
	f->bytes[0] = get_varint(r);
	f->bytes[1] = get_varint(r);
	if (h & H_TCP) {
		f->tcp_flags = (uint16_t)get_uint(r, UINT16_MAX);
		f->tcp_flags_seen[0] = (uint16_t)get_uint(r, UINT16_MAX);
		f->tcp_flags_seen[1] = (uint16_t)get_uint(r, UINT16_MAX);
	}
	f->first_seen_ns = f->time_ns - unzigzag(get_varint(r));
	f->last_seen_ns = h & H_LAST_IS_TIME ? f->time_ns : f->time_ns - unzigzag(get_varint(r));
	if (h & H_END)
		f->end_ns = f->time_ns + unzigzag(get_varint(r));
	if (h & H_ICMP) {
		f->icmp_type = get_u8(r);
		f->icmp_code = get_u8(r);
	}
	if (h & H_ENUMS) {
		f->event = get_u8(r);
		f->verdict = get_u8(r);
		f->traffic_dir = get_u8(r);
		f->if_kind = get_u8(r);
		f->obs_point = get_u8(r);
	} else {
		f->event = (uint8_t)(h >> H_EVENT_SHIFT & 7);
		f->verdict = (uint8_t)(h >> H_VERDICT_SHIFT & 3);
		f->traffic_dir = (uint8_t)(h >> H_DIR_SHIFT & 1);
		f->if_kind = (uint8_t)(h >> H_KIND_SHIFT & 3);
		f->obs_point = (uint8_t)(h >> H_OBS_SHIFT & 15);
	}
}

/* The processes go to procs (their container ids to container_ids), where f points. */
static void get_groups(struct rd *r, uint64_t h, struct flow *f, struct flow_process procs[2],
		       char container_ids[2][65])
{
	if (h & H_SRC_PROC) {
		get_proc(r, &procs[0], container_ids[0]);
		f->src_proc = &procs[0];
	}
	if (h & H_DST_PROC) {
		get_proc(r, &procs[1], container_ids[1]);
		f->dst_proc = &procs[1];
	}
	if (h & H_NAMES) {
		f->src_name = get_ptr_str(r);
		f->dst_name = get_ptr_str(r);
	}
	if (h & H_DNS)
		get_dns(r, &f->dns);
	if (h & H_DROP) {
		f->drop_reason = (uint32_t)get_uint(r, UINT32_MAX);
		f->drops = get_varint(r);
	}
	if (h & H_SOCK) {
		f->rtt_us = (uint32_t)get_uint(r, UINT32_MAX);
		f->retransmits = (uint32_t)get_uint(r, UINT32_MAX);
		f->socket_cookie = get_varint(r);
		f->sock_closed_ns = get_varint(r);
	}
}

int flow_rec_decode(struct flow_rec_state *st, const uint8_t **p, const uint8_t *end,
		    struct flow *f)
{
	struct rd r = {.p = *p, .end = end};
	uint64_t h = get_varint(&r);
	struct flow_process procs[2];
	char container_ids[2][65];
	int k;

	/* Bits a writer never sets: another version's record, or garbage. */
	if ((h & ~H_ALL) || ((h & H_ENUMS) && (h & H_ENUM_BITS)) ||
	    ((h & H_KEY_RAW) && (h & H_KEY_SWAPPED)))
		return -EBADMSG;
	memset(f, 0, sizeof(*f));
	get_head(&r, h, st, f);
	get_endpoints(&r, h, f);
	get_state(&r, h, f);
	get_groups(&r, h, f, procs, container_ids);
	if (r.bad)
		return -EBADMSG;
	/* Kept in st (left as it was when the record is bad), where f points. */
	for (k = 0; k < 2; k++) {
		const struct flow_process **pp = k ? &f->dst_proc : &f->src_proc;

		if (!*pp)
			continue;
		st->procs[k] = procs[k];
		if (procs[k].container_id)
			st->procs[k].container_id = memcpy(st->container_ids[k], container_ids[k],
							   sizeof(container_ids[k]));
		*pp = &st->procs[k];
	}
	f->is_reply = h & H_REPLY;
	f->ended = h & H_ENDED;
	f->copy = h & H_COPY;

	*p = r.p;
	st->id = f->id;
	st->time_ns = f->time_ns;
	st->seq = f->seq;
	memcpy(st->uuid_head, f->uuid, 8);
	st->ifindex = f->ifindex;
	memcpy(st->ifname, f->ifname, sizeof(st->ifname));
	return 0;
}

void flow_rec_reset(struct flow_rec_state *st)
{
	memset(st, 0, sizeof(*st));
}
