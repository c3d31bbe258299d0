/* The ClickHouse flow table and its rows (see include/flowscope/exporters/clickhouse_schema.h).
 * One table of columns drives the CREATE TABLE text, the INSERT's column list, the encoder and
 * the decoder, so the four cannot disagree on order or type. A row goes through struct ch_row,
 * the flow as the table sees it (Hubble's orientation, values as stored), both ways. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/drop_reason.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/pipeline/flow_view.h"

/* A string decoded rows may carry at most (a longer one is not ours: an error text, garbage). */
#define MAX_STR (1u << 20)
#define MAX_ARRAY 4096

struct ch_str {
	const char *p;
	size_t len;
};

/* An Array(String): strings to encode, or the encoded elements of a decoded row. */
struct ch_strs {
	char *const *v;
	size_t n;
	const uint8_t *raw, *raw_end; /* decoded: n varint-prefixed strings in [raw, raw_end) */
};

struct ch_proc {
	uint32_t pid;
	struct ch_str comm;
	uint64_t cgroup;
	struct ch_str container;
};

struct ch_ident {
	uint32_t numeric;
	struct ch_str ns, pod, service, workload, kind;
	struct ch_strs labels;
};

struct ch_ips {
	uint8_t ip[4][16];
	uint8_t n;
};

/* One row as the table holds it; [0] is the event's source, [1] its destination. */
struct ch_row {
	uint16_t date;
	uint64_t time;
	struct ch_str node;
	struct ch_strs node_labels;
	uint8_t uuid[16];
	uint64_t flow_id;
	uint8_t verdict, event, event_type;
	int32_t event_subtype;
	uint8_t obs_point, direction, is_reply, copy, ip_version;
	uint8_t ip[2][16];
	uint8_t proto;
	uint16_t port[2];
	uint8_t icmp_type, icmp_code;
	uint16_t tcp_flags, tcp_flags_seen;
	uint32_t ifindex;
	struct ch_str ifname;
	uint16_t drop_reason;
	struct ch_str drop_kernel;
	uint64_t drops;
	uint64_t packets[2], bytes[2]; /* sent by [0], by [1] */
	uint64_t start, last, end;
	uint32_t rtt_us, retransmits;
	uint64_t cookie;
	struct ch_proc proc[2];
	struct ch_str name[2];
	uint8_t dns_type; /* 0 none, 1 query, 2 response (Hubble's L7FlowType) */
	struct ch_str dns_query;
	uint16_t dns_qtype;
	uint8_t dns_rcode;
	uint32_t dns_ttl;
	struct ch_ips dns_ips;
	struct ch_ident id[2];
};

enum kind { K_U8, K_U16, K_U32, K_U64, K_I32, K_STR, K_FS16, K_DATE, K_STRS, K_IPS };

struct column {
	const char *name;
	enum kind kind;
	size_t off;
	/* From 20.1: LowCardinality(String) for strings with few values, a codec for times. */
	bool low_card;
	const char *codec;
};

#define R(field) offsetof(struct ch_row, field)
#define SIDE(p, i)                                                                                 \
	{p "_pid", K_U32, R(proc[i].pid)}, {p "_comm", K_STR, R(proc[i].comm), true},              \
		{p "_cgroup_id", K_U64, R(proc[i].cgroup)},                                        \
	{                                                                                          \
		p "_container_id", K_STR, R(proc[i].container)                                     \
	}
#define IDENT(p, i)                                                                                \
	{p "_identity", K_U32, R(id[i].numeric)}, {p "_namespace", K_STR, R(id[i].ns), true},      \
		{p "_pod", K_STR, R(id[i].pod)}, {p "_labels", K_STRS, R(id[i].labels)},           \
		{p "_service", K_STR, R(id[i].service), true},                                     \
		{p "_workload", K_STR, R(id[i].workload), true},                                   \
	{                                                                                          \
		p "_workload_kind", K_STR, R(id[i].kind), true                                     \
	}

static const struct column columns[] = {
	{"date", K_DATE, R(date)},
	{"time", K_U64, R(time), false, "DoubleDelta, LZ4"},
	{"node_name", K_STR, R(node), true},
	{"node_labels", K_STRS, R(node_labels)},
	{"uuid", K_FS16, R(uuid)},
	{"flow_id", K_U64, R(flow_id)},
	{"verdict", K_U8, R(verdict)},
	{"flow_event", K_U8, R(event)},
	{"event_type", K_U8, R(event_type)},
	{"event_subtype", K_I32, R(event_subtype)},
	{"observation_point", K_U8, R(obs_point)},
	{"traffic_direction", K_U8, R(direction)},
	{"is_reply", K_U8, R(is_reply)},
	{"observation_copy", K_U8, R(copy)},
	{"ip_version", K_U8, R(ip_version)},
	{"source_ip", K_FS16, R(ip[0])},
	{"destination_ip", K_FS16, R(ip[1])},
	{"protocol", K_U8, R(proto)},
	{"source_port", K_U16, R(port[0])},
	{"destination_port", K_U16, R(port[1])},
	{"icmp_type", K_U8, R(icmp_type)},
	{"icmp_code", K_U8, R(icmp_code)},
	{"tcp_flags", K_U16, R(tcp_flags)},
	{"tcp_flags_seen", K_U16, R(tcp_flags_seen)},
	{"interface_index", K_U32, R(ifindex)},
	{"interface_name", K_STR, R(ifname), true},
	{"drop_reason", K_U16, R(drop_reason)},
	{"drop_reason_kernel", K_STR, R(drop_kernel), true},
	{"drops", K_U64, R(drops)},
	{"packets_sent", K_U64, R(packets[0])},
	{"packets_received", K_U64, R(packets[1])},
	{"bytes_sent", K_U64, R(bytes[0])},
	{"bytes_received", K_U64, R(bytes[1])},
	{"flow_start", K_U64, R(start), false, "Delta, LZ4"},
	{"flow_last_seen", K_U64, R(last), false, "Delta, LZ4"},
	{"flow_end", K_U64, R(end)},
	{"rtt_us", K_U32, R(rtt_us)},
	{"retransmits", K_U32, R(retransmits)},
	{"socket_cookie", K_U64, R(cookie)},
	SIDE("source", 0),
	SIDE("destination", 1),
	{"source_name", K_STR, R(name[0])},
	{"destination_name", K_STR, R(name[1])},
	{"dns_type", K_U8, R(dns_type)},
	{"dns_query", K_STR, R(dns_query)},
	{"dns_qtype", K_U16, R(dns_qtype)},
	{"dns_rcode", K_U8, R(dns_rcode)},
	{"dns_ttl", K_U32, R(dns_ttl)},
	{"dns_ips", K_IPS, R(dns_ips)},
	IDENT("source", 0),
	IDENT("destination", 1),
};

#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))

static const char *const kind_type[] = {
	[K_U8] = "UInt8",
	[K_U16] = "UInt16",
	[K_U32] = "UInt32",
	[K_U64] = "UInt64",
	[K_I32] = "Int32",
	[K_STR] = "String",
	[K_FS16] = "FixedString(16)",
	[K_DATE] = "Date",
	[K_STRS] = "Array(String)",
	[K_IPS] = "Array(FixedString(16))",
};

static bool newer(const struct ch_version *v)
{
	return v && v->major >= 20;
}

int ch_version_parse(const char *s, size_t len, struct ch_version *v)
{
	char tmp[32];
	unsigned int a, b;

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (!len || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%u.%u", &a, &b) != 2)
		return -EINVAL;
	v->major = a;
	v->minor = b;
	return 0;
}

size_t ch_schema_n_columns(void)
{
	return N_COLUMNS;
}

const char *ch_schema_column(size_t i, const struct ch_version *v, const char **type)
{
	static char buf[64];
	const struct column *c = &columns[i];

	*type = kind_type[c->kind];
	if (newer(v) && c->low_card) {
		snprintf(buf, sizeof(buf), "LowCardinality(%s)", *type);
		*type = buf;
	}
	return c->name;
}

int ch_schema_column_list(struct buf *out)
{
	size_t i;
	int err = 0;

	for (i = 0; i < N_COLUMNS && !err; i++)
		err = buf_printf(out, "%s%s", i ? ", " : "", columns[i].name);
	return err;
}

int ch_schema_create_sql(struct buf *out, const char *db, const char *table,
			 const struct ch_version *v)
{
	size_t i;
	int err = buf_printf(out, "CREATE TABLE IF NOT EXISTS `%s`.`%s` (", db, table);

	for (i = 0; i < N_COLUMNS && !err; i++) {
		const char *type, *name = ch_schema_column(i, v, &type);

		err = buf_printf(out, "%s%s %s", i ? ", " : "", name, type);
		if (!err && newer(v) && columns[i].codec)
			err = buf_printf(out, " CODEC(%s)", columns[i].codec);
	}
	return err
		       ?: buf_printf(out,
				     ") ENGINE = MergeTree PARTITION BY date ORDER BY "
				     "(intDiv(time, %llu), node_name, source_ip, destination_ip, "
				     "time)",
				     (unsigned long long)CH_BUCKET_NS);
}

bool ch_schema_name_ok(const char *name)
{
	size_t i;

	if (!name || !name[0] || strlen(name) > 64 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (i = 0; name[i]; i++)
		if (!(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9')))
			return false;
	return true;
}

/* ---- flow -> row ------------------------------------------------------------------------- */

static struct ch_str str_of(const char *s, size_t max)
{
	return (struct ch_str){s ? s : "", s ? strnlen(s, max) : 0};
}

/* IPv4 as ::ffff:a.b.c.d, so that one FixedString(16) column holds both families. */
static void mapped(uint8_t out[16], uint8_t family, const uint8_t *addr)
{
	if (family == 6) {
		memcpy(out, addr, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, addr, 4);
}

static void proc_to_row(struct ch_proc *r, const struct flow_process *p)
{
	if (!flow_proc_known(p)) {
		*r = (struct ch_proc){.comm = str_of("", 0), .container = str_of("", 0)};
		return;
	}
	r->pid = p->pid;
	r->comm = str_of(p->comm, sizeof(p->comm));
	r->cgroup = p->cgroup_id;
	r->container = str_of(p->container_id, 64);
}

/* An end's identity: the one the flow carries, else the identity file's (flow_pb.c's lookup). */
static void ident_to_row(struct ch_ident *r, const struct flow *f, const struct flow_endpoint *ep)
{
	const struct identity *id = identities_of(f, ep);

	r->numeric = identities_numeric_of(f, ep);
	r->ns = str_of(id ? id->ns : NULL, sizeof(id->ns));
	r->pod = str_of(id ? id->pod : NULL, sizeof(id->pod));
	r->service = str_of(id ? id->service : NULL, sizeof(id->service));
	r->workload = str_of(id ? id->workload : NULL, sizeof(id->workload));
	r->kind = str_of(id ? id->workload_kind : NULL, sizeof(id->workload_kind));
	r->labels = (struct ch_strs){id ? id->labels : NULL, id ? id->n_labels : 0, NULL, NULL};
}

static void dns_to_row(struct ch_row *r, const struct flow *f)
{
	uint8_t i;

	r->dns_query = str_of("", 0);
	if (!f->dns.present)
		return;
	r->dns_type = f->dns.response ? 2 : 1;
	r->dns_query = str_of(f->dns.query, 4096);
	r->dns_qtype = f->dns.qtype;
	r->dns_rcode = f->dns.rcode;
	r->dns_ttl = f->dns.ttl;
	for (i = 0; i < f->dns.n_ips && i < 4; i++)
		mapped(r->dns_ips.ip[i], f->dns.ip_family[i], f->dns.ips[i]);
	r->dns_ips.n = i;
}

static void counters_to_row(struct ch_row *r, const struct flow *f, int s)
{
	r->packets[0] = f->packets[s];
	r->packets[1] = f->packets[!s];
	r->bytes[0] = f->bytes[s];
	r->bytes[1] = f->bytes[!s];
	r->start = f->first_seen_ns;
	r->last = f->last_seen_ns;
	/* 0 means "not ended"; an ended flow without times still says it ended. */
	if (f->ended)
		r->end = f->end_ns ? f->end_ns : f->last_seen_ns ? f->last_seen_ns : 1;
	r->rtt_us = f->rtt_us;
	r->retransmits = f->retransmits;
	r->cookie = f->socket_cookie;
	if (f->drops) {
		r->drop_reason = (uint16_t)flow_drop_code(f);
		r->drop_kernel = str_of(drop_reason_kernel_name(f->drop_reason), 128);
		r->drops = f->drops;
	}
}

static void row_from_flow(struct ch_row *r, const struct flow *f, const char *node,
			  char *const *labels, size_t n_labels)
{
	int s = f->is_reply ? 1 : 0; /* a reply is told from the responder's side */
	const struct flow_endpoint *ep[2] = {s ? &f->dst : &f->src, s ? &f->src : &f->dst};
	int32_t type, sub;
	int i;

	memset(r, 0, sizeof(*r));
	r->date = ch_date_of(f->time_ns);
	r->time = f->time_ns;
	r->node = str_of(f->origin ? f->origin->name : node, 255);
	r->node_labels =
		f->origin ? (struct ch_strs){f->origin->labels, f->origin->n_labels, NULL, NULL}
			  : (struct ch_strs){labels, n_labels, NULL, NULL};
	memcpy(r->uuid, f->uuid, 16);
	r->flow_id = f->id;
	r->verdict = f->verdict;
	r->event = f->event;
	flow_event_type(f, &type, &sub);
	r->event_type = (uint8_t)type;
	r->event_subtype = sub;
	r->obs_point = f->obs_point;
	r->direction = f->traffic_dir == FLOW_TC_INGRESS ? 1 : 2;
	r->is_reply = f->is_reply;
	r->copy = f->copy;
	r->ip_version = f->family == 6 ? 6 : 4;
	r->proto = f->proto;
	r->icmp_type = f->icmp_type;
	r->icmp_code = f->icmp_code;
	r->tcp_flags = f->tcp_flags;
	r->tcp_flags_seen = f->tcp_flags_seen[0] | f->tcp_flags_seen[1];
	r->ifindex = f->ifindex;
	r->ifname = str_of(f->ifname, sizeof(f->ifname));
	r->drop_kernel = str_of("", 0);
	counters_to_row(r, f, s);
	for (i = 0; i < 2; i++) {
		const char *name = (i == 0) == (s == 0) ? f->src_name : f->dst_name;

		mapped(r->ip[i], r->ip_version, ep[i]->addr);
		r->port[i] = ep[i]->port;
		proc_to_row(&r->proc[i], (i == 0) == (s == 0) ? f->src_proc : f->dst_proc);
		r->name[i] = str_of(name, 4096);
		ident_to_row(&r->id[i], f, ep[i]);
	}
	dns_to_row(r, f);
}

/* ---- RowBinary ----------------------------------------------------------------------------- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	p = put_varint(p, n);
	memcpy(p, s, n);
	return p + n;
}

/* Little-endian, as RowBinary wants (and this machine is). */
static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

/* The bytes a row of r takes at most: fixed widths plus its strings. */
static size_t row_size(const struct ch_row *r)
{
	const char *base = (const char *)r;
	size_t i, j, n = 0;

	for (i = 0; i < N_COLUMNS; i++) {
		const struct column *c = &columns[i];

		if (c->kind == K_STR) {
			n += 10 + ((const struct ch_str *)(base + c->off))->len;
		} else if (c->kind == K_STRS) {
			const struct ch_strs *a = (const void *)(base + c->off);

			n += 10;
			for (j = 0; j < a->n; j++)
				n += 10 + strlen(a->v[j]);
		} else {
			n += 10 + 4 * 16;
		}
	}
	return n;
}

static uint8_t *put_column(uint8_t *p, const struct column *c, const char *base)
{
	const void *v = base + c->off;
	size_t j;

	switch (c->kind) {
	case K_U8:
		*p++ = *(const uint8_t *)v;
		return p;
	case K_U16:
	case K_DATE:
		return put_le(p, *(const uint16_t *)v, 2);
	case K_U32:
		return put_le(p, *(const uint32_t *)v, 4);
	case K_I32:
		return put_le(p, (uint32_t) * (const int32_t *)v, 4);
	case K_U64:
		return put_le(p, *(const uint64_t *)v, 8);
	case K_STR:
		return put_str(p, ((const struct ch_str *)v)->p, ((const struct ch_str *)v)->len);
	case K_FS16:
		memcpy(p, v, 16);
		return p + 16;
	case K_STRS:
		p = put_varint(p, ((const struct ch_strs *)v)->n);
		for (j = 0; j < ((const struct ch_strs *)v)->n; j++) {
			const char *s = ((const struct ch_strs *)v)->v[j];

			p = put_str(p, s, strlen(s));
		}
		return p;
	case K_IPS:
		p = put_varint(p, ((const struct ch_ips *)v)->n);
		memcpy(p, ((const struct ch_ips *)v)->ip, 16u * ((const struct ch_ips *)v)->n);
		return p + 16u * ((const struct ch_ips *)v)->n;
	}
	return p;
}

int ch_row_encode(struct buf *out, const struct flow *f, const char *node_name,
		  char *const *node_labels, size_t n_node_labels)
{
	struct ch_row r;
	uint8_t *p, *start;
	size_t i;

	row_from_flow(&r, f, node_name, node_labels, n_node_labels);
	if (buf_reserve(out, row_size(&r)))
		return -ENOMEM;
	start = p = (uint8_t *)out->data + out->len;
	for (i = 0; i < N_COLUMNS; i++)
		p = put_column(p, &columns[i], (const char *)&r);
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
	return 0;
}

/* ---- row -> flow --------------------------------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
};

static int get_varint(struct reader *rd, uint64_t *v)
{
	int shift = 0;

	*v = 0;
	while (rd->p < rd->end && shift < 64) {
		uint8_t b = *rd->p++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
		shift += 7;
	}
	return shift >= 64 ? -EBADMSG : -EAGAIN;
}

static int get_bytes(struct reader *rd, void *out, size_t n)
{
	if ((size_t)(rd->end - rd->p) < n)
		return -EAGAIN;
	if (out)
		memcpy(out, rd->p, n);
	rd->p += n;
	return 0;
}

static int get_le(struct reader *rd, uint64_t *v, int n)
{
	int i;

	if (rd->end - rd->p < n)
		return -EAGAIN;
	for (*v = 0, i = 0; i < n; i++)
		*v |= (uint64_t)rd->p[i] << (8 * i);
	rd->p += n;
	return 0;
}

static int get_str(struct reader *rd, struct ch_str *s)
{
	uint64_t n;
	int err = get_varint(rd, &n);

	if (err)
		return err;
	if (n > MAX_STR)
		return -EBADMSG;
	s->p = (const char *)rd->p;
	s->len = (size_t)n;
	return get_bytes(rd, NULL, (size_t)n);
}

static int get_column(struct reader *rd, const struct column *c, char *base)
{
	void *v = base + c->off;
	struct ch_ips *ips = v;
	struct ch_strs *a = v;
	struct ch_str skip;
	uint64_t x, n, j;
	int err = 0;

	switch (c->kind) {
	case K_U8:
		err = get_le(rd, &x, 1);
		*(uint8_t *)v = (uint8_t)x;
		return err;
	case K_U16:
	case K_DATE:
		err = get_le(rd, &x, 2);
		*(uint16_t *)v = (uint16_t)x;
		return err;
	case K_U32:
	case K_I32:
		err = get_le(rd, &x, 4);
		*(uint32_t *)v = (uint32_t)x;
		return err;
	case K_U64:
		return get_le(rd, (uint64_t *)v, 8);
	case K_STR:
		return get_str(rd, v);
	case K_FS16:
		return get_bytes(rd, v, 16);
	case K_STRS:
		err = get_varint(rd, &n);
		if (!err && n > MAX_ARRAY)
			return -EBADMSG;
		a->raw = rd->p;
		a->n = (size_t)n;
		for (j = 0; !err && j < n; j++)
			err = get_str(rd, &skip);
		a->raw_end = rd->p;
		return err;
	case K_IPS:
		err = get_varint(rd, &n);
		if (!err && n > MAX_ARRAY)
			return -EBADMSG;
		for (j = 0; !err && j < n; j++)
			err = get_bytes(rd, j < 4 ? ips->ip[j] : NULL, 16);
		ips->n = (uint8_t)(n < 4 ? n : 4);
		return err;
	}
	return -EBADMSG;
}

/* A decoded row is ours: a known family, a date that is its time's (an error text or garbage
 * read as a row fails these). */
static bool row_plausible(const struct ch_row *r)
{
	return (r->ip_version == 4 || r->ip_version == 6) && r->date == ch_date_of(r->time) &&
	       r->is_reply <= 1 && r->direction >= 1 && r->direction <= 2;
}

static void copy_str(char *dst, size_t size, const struct ch_str *s)
{
	size_t n = s->len < size - 1 ? s->len : size - 1;

	memcpy(dst, s->p, n);
	dst[n] = '\0';
}

static void unmapped(uint8_t out[16], uint8_t family, const uint8_t in[16])
{
	memset(out, 0, 16);
	memcpy(out, family == 6 ? in : in + 12, family == 6 ? 16 : 4);
}

/* The kernel reason of this machine a row's drop is told by: by name, else the first with the
 * row's Hubble code (rows of other kernels); remembered for the next row. */
static uint32_t kernel_reason(const char *name, int code)
{
	static char last_name[128];
	static int last_code = -1;
	static uint32_t last_value;
	uint32_t v, n = drop_reason_kernel_count();

	if (last_code == code && !strcmp(last_name, name))
		return last_value;
	for (v = 0; v < n && strcmp(drop_reason_kernel_name(v), name); v++)
		;
	if (v == n)
		for (v = 0; v < n && drop_reason_hubble_code(v) != code; v++)
			;
	snprintf(last_name, sizeof(last_name), "%s", name);
	last_code = code;
	last_value = v;
	return v;
}

/* The row's process in p (its container id in container, 65 bytes), which is returned; NULL for
 * none. */
static const struct flow_process *proc_from_row(struct flow_process *p, char *container,
						const struct ch_proc *r)
{
	memset(p, 0, sizeof(*p));
	if (!r->pid && !r->comm.len)
		return NULL;
	p->known = true;
	p->pid = r->pid;
	copy_str(p->comm, sizeof(p->comm), &r->comm);
	p->cgroup_id = r->cgroup;
	copy_str(container, 65, &r->container);
	p->container_id = container[0] ? container : NULL;
	return p;
}

static void ident_from_row(struct identity *id, const struct ch_ident *r)
{
	memset(id, 0, sizeof(*id));
	id->numeric = r->numeric;
	copy_str(id->ns, sizeof(id->ns), &r->ns);
	copy_str(id->pod, sizeof(id->pod), &r->pod);
	copy_str(id->service, sizeof(id->service), &r->service);
	copy_str(id->workload, sizeof(id->workload), &r->workload);
	copy_str(id->workload_kind, sizeof(id->workload_kind), &r->kind);
}

/* The labels of the row (the node's, then its source's and destination's) copied into cf's
 * arena; out[i] points to list i's first pointer in cf->labels. */
static int labels_from_row(struct ch_flow *cf, const struct ch_row *r, char ***out)
{
	const struct ch_strs *lists[3] = {&r->node_labels, &r->id[0].labels, &r->id[1].labels};
	size_t total = 0, off = 0, i, j, k = 0;
	struct ch_str s;

	buf_reset(&cf->arena);
	for (i = 0; i < 3; i++) {
		struct reader rd = {lists[i]->raw, lists[i]->raw_end};

		total += lists[i]->n;
		for (j = 0; j < lists[i]->n; j++)
			if (get_str(&rd, &s) || buf_append(&cf->arena, s.p, s.len) ||
			    buf_putc(&cf->arena, '\0'))
				return -ENOMEM;
	}
	if (total > cf->cap_labels) {
		char **n = realloc(cf->labels, total * sizeof(*n));

		if (!n)
			return -ENOMEM;
		cf->labels = n;
		cf->cap_labels = total;
	}
	for (i = 0; i < 3; i++) {
		out[i] = lists[i]->n ? cf->labels + k : NULL;
		for (j = 0; j < lists[i]->n; j++, k++) {
			cf->labels[k] = cf->arena.data + off;
			off += strlen(cf->labels[k]) + 1;
		}
	}
	return 0;
}

static void dns_from_row(struct ch_flow *cf, const struct ch_row *r)
{
	struct flow *f = &cf->f;
	uint8_t i;

	if (!r->dns_type)
		return;
	f->dns.present = true;
	f->dns.response = r->dns_type == 2;
	copy_str(cf->query, sizeof(cf->query), &r->dns_query);
	f->dns.query = cf->query;
	f->dns.qtype = r->dns_qtype;
	f->dns.rcode = r->dns_rcode;
	f->dns.ttl = r->dns_ttl;
	for (i = 0; i < r->dns_ips.n; i++) {
		static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		uint8_t fam = memcmp(r->dns_ips.ip[i], v4mapped, 12) ? 6 : 4;

		f->dns.ip_family[i] = fam;
		unmapped(f->dns.ips[i], fam, r->dns_ips.ip[i]);
	}
	f->dns.n_ips = r->dns_ips.n;
}

/* Everything but the ends' addresses, processes, names and identities. */
static void event_from_row(struct flow *f, const struct ch_row *r, int s)
{
	f->time_ns = r->time;
	memcpy(f->uuid, r->uuid, 16);
	f->id = r->flow_id;
	f->verdict = r->verdict;
	f->event = r->event;
	f->obs_point = r->obs_point;
	f->traffic_dir = r->direction == 1 ? FLOW_TC_INGRESS : FLOW_TC_EGRESS;
	f->is_reply = s;
	f->copy = r->copy;
	f->family = r->ip_version;
	f->proto = r->proto;
	f->icmp_type = r->icmp_type;
	f->icmp_code = r->icmp_code;
	f->tcp_flags = r->tcp_flags;
	f->tcp_flags_seen[0] = r->tcp_flags_seen;
	f->ifindex = r->ifindex;
	copy_str(f->ifname, sizeof(f->ifname), &r->ifname);
	if (r->drops) {
		char name[128];

		copy_str(name, sizeof(name), &r->drop_kernel);
		f->drops = r->drops;
		f->drop_reason = kernel_reason(name, r->drop_reason);
	}
	f->packets[s] = r->packets[0];
	f->packets[!s] = r->packets[1];
	f->bytes[s] = r->bytes[0];
	f->bytes[!s] = r->bytes[1];
	f->first_seen_ns = r->start;
	f->last_seen_ns = r->last;
	f->end_ns = r->end;
	f->ended = r->end != 0;
	f->rtt_us = r->rtt_us;
	f->retransmits = r->retransmits;
	f->socket_cookie = r->cookie;
	f->started = true;
}

static int flow_from_row(struct ch_flow *cf, const struct ch_row *r)
{
	struct flow *f = &cf->f;
	int s = r->is_reply ? 1 : 0, i;
	char **labels[3];

	memset(f, 0, sizeof(*f));
	if (labels_from_row(cf, r, labels))
		return -ENOMEM;
	event_from_row(f, r, s);
	for (i = 0; i < 2; i++) {
		/* Row end i is the initiator unless the event is a reply. */
		int end = i ^ s;
		struct flow_endpoint *ep = end ? &f->dst : &f->src;

		unmapped(ep->addr, f->family, r->ip[i]);
		ep->port = r->port[i];
		*(end ? &f->dst_proc : &f->src_proc) =
			proc_from_row(&cf->procs[end], cf->containers[end], &r->proc[i]);
		copy_str(cf->names[end], sizeof(cf->names[end]), &r->name[i]);
		*(end ? &f->dst_name : &f->src_name) = r->name[i].len ? cf->names[end] : NULL;
		ident_from_row(&cf->ids[end], &r->id[i]);
		cf->ids[end].labels = labels[i + 1];
		cf->ids[end].n_labels = r->id[i].labels.n;
	}
	dns_from_row(cf, r);
	copy_str(cf->node, sizeof(cf->node), &r->node);
	cf->origin = (struct flow_origin){cf->node, labels[0], r->node_labels.n};
	f->origin = &cf->origin;
	f->src_id = &cf->ids[0];
	f->dst_id = &cf->ids[1];
	return 0;
}

int ch_row_decode(const uint8_t *p, size_t len, size_t *used, struct ch_flow *cf)
{
	struct reader rd = {p, p + len};
	struct ch_row r;
	size_t i;
	int err;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < N_COLUMNS; i++) {
		err = get_column(&rd, &columns[i], (char *)&r);
		if (err)
			return err;
		/* date and time come first: text read as a row fails here, not for want of
		 * more bytes. */
		if (i == 1 && r.date != ch_date_of(r.time))
			return -EBADMSG;
	}
	if (!row_plausible(&r))
		return -EBADMSG;
	*used = (size_t)(rd.p - p);
	return flow_from_row(cf, &r);
}

void ch_flow_free(struct ch_flow *cf)
{
	buf_free(&cf->arena);
	free(cf->labels);
	cf->labels = NULL;
	cf->cap_labels = 0;
}
