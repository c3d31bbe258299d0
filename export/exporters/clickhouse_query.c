/* History queries on the ClickHouse flow table (see
 * include/flowscope/exporters/clickhouse_query.h): FlowFilters into SQL, field by field, with the
 * semantics collector/filter/flow_filter.c gives them on a decoded row; then the rows, decoded,
 * filtered in C for what SQL could not say, in time order. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowscope/base/parse.h"
#include "flowscope/encode/flow_pb_decode.h"
#include "flowscope/exporters/clickhouse_query.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/pipeline/flow_view.h"

/* One filter's condition as it is built: terms ANDed. */
struct fsql {
	struct buf *b;
	bool first, complete;
	int err;
};

static void and_term(struct fsql *s)
{
	if (!s->first)
		s->err = s->err ?: buf_puts(s->b, " AND ");
	s->first = false;
}

static void put(struct fsql *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct fsql *s, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (!s->err && (n < 0 || (size_t)n >= sizeof(tmp)))
		s->err = -EINVAL;
	s->err = s->err ?: buf_puts(s->b, tmp);
}

/* A string literal: quotes and backslashes escaped, other bytes outside printable ASCII as
 * \xHH (addresses and uuids are bytes). */
static void lit(struct fsql *s, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	put(s, "'");
	for (i = 0; i < n && !s->err; i++) {
		if (c[i] == '\'' || c[i] == '\\')
			put(s, "\\%c", c[i]);
		else if (c[i] < 0x20 || c[i] >= 0x7f)
			put(s, "\\x%02x", c[i]);
		else
			s->err = buf_putc(s->b, (char)c[i]);
	}
	put(s, "'");
}

static void lit_str(struct fsql *s, const char *str)
{
	lit(s, str, strlen(str));
}

/* Whether an fnmatch pattern (flags 0) has an SQL form here: only '*' and '?' are special. */
static bool glob_ok(const char *p)
{
	return !strpbrk(p, "[\\");
}

/* col matches the fnmatch pattern p (glob_ok): equality without wildcards, else an anchored
 * RE2 expression. */
static void glob(struct fsql *s, const char *col, const char *p)
{
	struct buf re = BUF_INIT;
	const char *c;

	if (!strpbrk(p, "*?")) {
		put(s, "%s = ", col);
		lit_str(s, p);
		return;
	}
	s->err = s->err ?: buf_putc(&re, '^');
	for (c = p; *c && !s->err; c++) {
		if (*c == '*')
			s->err = buf_puts(&re, ".*");
		else if (*c == '?')
			s->err = buf_putc(&re, '.');
		else if (ispunct((unsigned char)*c))
			s->err = buf_printf(&re, "\\%c", *c);
		else
			s->err = buf_putc(&re, *c);
	}
	s->err = s->err ?: buf_putc(&re, '$');
	put(s, "match(%s, ", col);
	if (!s->err)
		lit(s, re.data, re.len);
	put(s, ")");
	buf_free(&re);
}

/* ---- L3/L4 ---------------------------------------------------------------------------------- */

/* The addresses of c as FixedString(16) bounds, IPv4 mapped as the table stores it. */
static void cidr_bounds(const struct cidr *c, uint8_t lo[16], uint8_t hi[16])
{
	unsigned int width = c->family == 4 ? 32 : 128, i;
	uint8_t a[16] = {0}, b[16] = {0};
	size_t n = c->family == 4 ? 4 : 16;

	memcpy(a, c->addr, n);
	for (i = 0; i < width; i++) {
		uint8_t bit = (uint8_t)(0x80 >> (i % 8));

		if (i >= c->bits) {
			a[i / 8] &= (uint8_t)~bit;
			b[i / 8] |= bit;
		} else {
			b[i / 8] |= a[i / 8] & bit;
		}
	}
	if (c->family == 6) {
		memcpy(lo, a, 16);
		memcpy(hi, b, 16);
		return;
	}
	memset(lo, 0, 16);
	memset(hi, 0, 16);
	lo[10] = lo[11] = hi[10] = hi[11] = 0xff;
	memcpy(lo + 12, a, 4);
	memcpy(hi + 12, b, 4);
}

static void ips(struct fsql *s, const char *col, char **v, size_t n)
{
	struct cidr c;
	uint8_t lo[16], hi[16];
	size_t i;

	for (i = 0; i < n; i++)
		if (parse_cidr(v[i], &c)) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "(");
	for (i = 0; i < n; i++) {
		parse_cidr(v[i], &c);
		cidr_bounds(&c, lo, hi);
		put(s, "%s(ip_version = %d AND %s BETWEEN ", i ? " OR " : "", c.family, col);
		lit(s, lo, 16);
		put(s, " AND ");
		lit(s, hi, 16);
		put(s, ")");
	}
	put(s, ")");
}

static void ports(struct fsql *s, const char *col, char **v, size_t n)
{
	struct port_range r;
	size_t i;

	for (i = 0; i < n; i++)
		if (filter_parse_port(v[i], &r)) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "(protocol IN (6, 17, 132) AND (");
	for (i = 0; i < n; i++) {
		filter_parse_port(v[i], &r);
		put(s, "%s%s BETWEEN %u AND %u", i ? " OR " : "", col, r.lo, r.hi);
	}
	put(s, "))");
}

static void protocols(struct fsql *s, char **v, size_t n)
{
	static const struct {
		unsigned int bit, proto;
	} map[] = {{FILTER_P_TCP, 6},
		   {FILTER_P_UDP, 17},
		   {FILTER_P_ICMP4, 1},
		   {FILTER_P_ICMP6, 58},
		   {FILTER_P_SCTP, 132}};
	unsigned int mask = 0, i, k = 0;

	for (i = 0; i < n; i++)
		if (filter_parse_protocol(v[i], &mask)) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "protocol IN (");
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (mask & map[i].bit)
			put(s, "%s%u", k++ ? ", " : "", map[i].proto);
	put(s, "%s)", k ? "" : "0");
}

/* col IN (values), each value mapped (map NULL: as it is; a map to -1: matches nothing). */
static void in_list(struct fsql *s, const char *col, const int *v, size_t n, int (*map)(int))
{
	size_t i, k = 0;

	if (!n)
		return;
	and_term(s);
	put(s, "%s IN (", col);
	for (i = 0; i < n; i++) {
		int x = map ? map(v[i]) : v[i];

		if (x >= 0)
			put(s, "%s%d", k++ ? ", " : "", x);
	}
	put(s, "%s)", k ? "" : "-1");
}

static int ip_version_of(int v)
{
	return v == 1 ? 4 : v == 2 ? 6 : -1; /* flow.IPVersion: IPv4 = 1, IPv6 = 2 */
}

static void replies(struct fsql *s, const protobuf_c_boolean *v, size_t n)
{
	int x[2];
	size_t i, k = 0;
	bool seen[2] = {false, false};

	for (i = 0; i < n; i++)
		if (!seen[v[i] ? 1 : 0]) {
			seen[v[i] ? 1 : 0] = true;
			x[k++] = v[i] ? 1 : 0;
		}
	in_list(s, "is_reply", x, k, NULL);
}

static void tcp_flags(struct fsql *s, Flow__TCPFlags *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!flow_pb_tcp_bits(v[i]) || v[i]->base.n_unknown_fields) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "(protocol = 6 AND (");
	for (i = 0; i < n; i++)
		put(s, "%sbitAnd(tcp_flags, %u) = %u", i ? " OR " : "", flow_pb_tcp_bits(v[i]),
		    flow_pb_tcp_bits(v[i]));
	put(s, "))");
}

static void l3l4(struct fsql *s, const Flow__FlowFilter *f)
{
	ips(s, "source_ip", f->source_ip, f->n_source_ip);
	ips(s, "destination_ip", f->destination_ip, f->n_destination_ip);
	ports(s, "source_port", f->source_port, f->n_source_port);
	ports(s, "destination_port", f->destination_port, f->n_destination_port);
	protocols(s, f->protocol, f->n_protocol);
	in_list(s, "verdict", (const int *)f->verdict, f->n_verdict, NULL);
	in_list(s, "traffic_direction", (const int *)f->traffic_direction, f->n_traffic_direction,
		NULL);
	in_list(s, "ip_version", (const int *)f->ip_version, f->n_ip_version, ip_version_of);
	replies(s, f->reply, f->n_reply);
	tcp_flags(s, f->tcp_flags, f->n_tcp_flags);
}

/* ---- events, nodes, interfaces ----------------------------------------------------------------
 */

/* Patterns on one column, any of which may match; the field is left to C when one of them
 * has no SQL form. prep turns a value into the pattern the filter code compares (NULL: as is). */
static void patterns(struct fsql *s, const char *col, char **v, size_t n, const char *guard,
		     void (*prep)(const char *in, char *out, size_t len))
{
	char p[FILTER_MAX_SELECTOR + 1];
	size_t i;

	for (i = 0; i < n; i++)
		if (!glob_ok(v[i]) || strlen(v[i]) > FILTER_MAX_SELECTOR) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "(%s%s(", guard ? guard : "", guard ? " AND " : "");
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s", v[i]);
		if (prep)
			prep(v[i], p, sizeof(p));
		put(s, "%s", i ? " OR " : "");
		glob(s, col, p);
	}
	put(s, "))");
}

/* Node names as Hubble writes them: "cluster/node" names the node. */
static void node_prep(const char *in, char *out, size_t len)
{
	const char *slash = strchr(in, '/');

	snprintf(out, len, "%s", slash ? slash + 1 : in);
}

/* DNS names are compared in lower case, without a final dot. */
static void fqdn_prep(const char *in, char *out, size_t len)
{
	size_t i, n;

	snprintf(out, len, "%s", in);
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
}

static void event_types(struct fsql *s, Flow__EventTypeFilter *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i]->base.n_unknown_fields) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "(");
	for (i = 0; i < n; i++) {
		put(s, "%s(1", i ? " OR " : "");
		if (v[i]->type)
			put(s, " AND event_type = %d", v[i]->type);
		if (v[i]->match_sub_type)
			put(s, " AND event_subtype = %d", v[i]->sub_type);
		put(s, ")");
	}
	put(s, ")");
}

static void interfaces(struct fsql *s, Flow__NetworkInterface *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i]->base.n_unknown_fields ||
		    (v[i]->name && strlen(v[i]->name) >= IF_NAMESIZE)) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "(NOT (interface_index = 0 AND interface_name = '') AND (");
	for (i = 0; i < n; i++) {
		put(s, "%s(1", i ? " OR " : "");
		if (v[i]->index)
			put(s, " AND interface_index = %u", v[i]->index);
		if (v[i]->name && v[i]->name[0]) {
			put(s, " AND interface_name = ");
			lit_str(s, v[i]->name);
		}
		put(s, ")");
	}
	put(s, "))");
}

static void uuids(struct fsql *s, char **v, size_t n)
{
	uint8_t u[16];
	size_t i;

	for (i = 0; i < n; i++)
		if (flow_uuid_parse(v[i], u)) {
			s->complete = false;
			return;
		}
	if (!n)
		return;
	and_term(s);
	put(s, "uuid IN (");
	for (i = 0; i < n; i++) {
		flow_uuid_parse(v[i], u);
		put(s, "%s", i ? ", " : "");
		lit(s, u, 16);
	}
	put(s, ")");
}

static void events(struct fsql *s, const Flow__FlowFilter *f)
{
	event_types(s, f->event_type, f->n_event_type);
	if (f->n_drop_reason_desc) {
		and_term(s);
		put(s, "verdict = 2");
		in_list(s, "drop_reason", (const int *)f->drop_reason_desc, f->n_drop_reason_desc,
			NULL);
	}
	interfaces(s, f->interface, f->n_interface);
	uuids(s, f->uuid, f->n_uuid);
	patterns(s, "node_name", f->node_name, f->n_node_name, NULL, node_prep);
	/* POSIX regular expressions (RE2 differs), node labels and the graph: in C. */
	if (f->n_dns_query || f->n_node_labels || f->n_graph_node || f->n_graph_edge)
		s->complete = false;
}

/* ---- the ends -------------------------------------------------------------------------------- */

/* One side's columns, "source" or "destination". */
struct side {
	const char *p;
	char **pod, **service, **fqdn, **process, **container;
	size_t n_pod, n_service, n_fqdn, n_process, n_container, n_label;
	uint32_t *identity;
	size_t n_identity;
	Flow__Workload *const *workload;
	size_t n_workload;
};

static void col(char *out, size_t len, const struct side *x, const char *name)
{
	snprintf(out, len, "%s_%s", x->p, name);
}

/* "[namespace/]name": the namespace exactly, then the name (a pod's prefix, a service). */
static void ns_name(struct fsql *s, const struct side *x, const char *v, bool service)
{
	const char *slash = strchr(v, '/'), *name = slash ? slash + 1 : v;
	char c[64];

	put(s, "(1");
	if (slash) {
		col(c, sizeof(c), x, "namespace");
		put(s, " AND %s = ", c);
		lit(s, v, (size_t)(slash - v));
	}
	col(c, sizeof(c), x, service ? "service" : "pod");
	if (service)
		put(s, " AND %s != ''", c);
	if (*name) {
		put(s, service ? " AND %s = " : " AND startsWith(%s, ", c);
		lit_str(s, name);
		put(s, "%s", service ? "" : ")");
	}
	put(s, ")");
}

static void ns_names(struct fsql *s, const struct side *x, char **v, size_t n, bool service)
{
	size_t i;

	if (!n)
		return;
	and_term(s);
	put(s, "(");
	for (i = 0; i < n; i++) {
		put(s, "%s", i ? " OR " : "");
		ns_name(s, x, v[i], service);
	}
	put(s, ")");
}

static void workloads(struct fsql *s, const struct side *x)
{
	char c[64], k[64];
	size_t i;

	for (i = 0; i < x->n_workload; i++)
		if (x->workload[i]->base.n_unknown_fields) {
			s->complete = false;
			return;
		}
	if (!x->n_workload)
		return;
	col(c, sizeof(c), x, "workload");
	col(k, sizeof(k), x, "workload_kind");
	and_term(s);
	put(s, "(%s != '' AND (", c);
	for (i = 0; i < x->n_workload; i++) {
		const Flow__Workload *w = x->workload[i];

		put(s, "%s(1", i ? " OR " : "");
		if (w->name && w->name[0]) {
			put(s, " AND %s = ", c);
			lit_str(s, w->name);
		}
		if (w->kind && w->kind[0]) {
			put(s, " AND %s = ", k);
			lit_str(s, w->kind);
		}
		put(s, ")");
	}
	put(s, "))");
}

static void containers(struct fsql *s, const struct side *x, const char *known)
{
	char c[64];
	size_t i;

	if (!x->n_container)
		return;
	col(c, sizeof(c), x, "container_id");
	and_term(s);
	put(s, "(%s AND (", known);
	for (i = 0; i < x->n_container; i++) {
		put(s, "%s", i ? " OR " : "");
		if (!strcmp(x->container[i], "host")) {
			put(s, "%s = ''", c);
			continue;
		}
		put(s, "(%s != '' AND startsWith(%s, ", c, c);
		lit_str(s, x->container[i]);
		put(s, "))");
	}
	put(s, "))");
}

static void side(struct fsql *s, const struct side *x)
{
	char c[64], guard[96], known[128];
	size_t i;

	ns_names(s, x, x->pod, x->n_pod, false);
	ns_names(s, x, x->service, x->n_service, true);
	workloads(s, x);
	if (x->n_label)
		s->complete = false; /* selectors with "k8s:" prefixes and negations: in C */
	if (x->n_identity) {
		and_term(s);
		col(c, sizeof(c), x, "identity");
		put(s, "%s IN (", c);
		for (i = 0; i < x->n_identity; i++)
			put(s, "%s%u", i ? ", " : "", x->identity[i]);
		put(s, ")");
	}
	col(c, sizeof(c), x, "name");
	snprintf(guard, sizeof(guard), "%s != ''", c);
	patterns(s, c, x->fqdn, x->n_fqdn, guard, fqdn_prep);
	snprintf(known, sizeof(known), "(%s_pid != 0 OR %s_comm != '')", x->p, x->p);
	col(c, sizeof(c), x, "comm");
	patterns(s, c, x->process, x->n_process, known, NULL);
	containers(s, x, known);
}

#define SIDE_OF(f, w)                                                                              \
	{                                                                                          \
		.p = #w, .pod = f->w##_pod, .n_pod = f->n_##w##_pod, .service = f->w##_service,    \
		.n_service = f->n_##w##_service, .fqdn = f->w##_fqdn, .n_fqdn = f->n_##w##_fqdn,   \
		.process = f->w##_process, .n_process = f->n_##w##_process,                        \
		.container = f->w##_container, .n_container = f->n_##w##_container,                \
		.n_label = f->n_##w##_label, .identity = f->w##_identity,                          \
		.n_identity = f->n_##w##_identity, .workload = f->w##_workload,                    \
		.n_workload = f->n_##w##_workload,                                                 \
	}

/* What flows never have (HTTP, trace ids, NAT, cluster names, encryption) and what is not ours:
 * the filter code decides, in C. */
static bool untranslated(const Flow__FlowFilter *f)
{
	return f->n_http_status_code || f->n_http_method || f->n_http_path || f->n_http_url ||
	       f->n_http_header || f->n_source_ip_xlated || f->n_source_cluster_name ||
	       f->n_destination_cluster_name || f->n_trace_id || f->n_ip_trace_id ||
	       f->n_encrypted || f->experimental || f->base.n_unknown_fields;
}

int ch_query_filter_sql(struct buf *out, const Flow__FlowFilter *f, bool *complete)
{
	const struct side src = SIDE_OF(f, source), dst = SIDE_OF(f, destination);
	struct fsql s = {out, true, true, 0};

	l3l4(&s, f);
	events(&s, f);
	side(&s, &src);
	side(&s, &dst);
	if (untranslated(f))
		s.complete = false;
	if (s.first)
		put(&s, "1");
	*complete = s.complete;
	return s.err == -EINVAL ? -ENOMEM : s.err;
}

/* ---- the query ------------------------------------------------------------------------------- */

static void day(struct fsql *s, const char *op, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ULL);
	struct tm tm;
	char d[16];

	gmtime_r(&t, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d", &tm);
	put(s, " AND date %s toDate('%s')", op, d);
}

/* The window: on the time, and on what prunes (the partitions' dates, the key's buckets). */
static void window(struct fsql *s, const struct ch_query *q)
{
	put(s, " WHERE 1");
	if (q->since_ns) {
		put(s, " AND time >= %llu", (unsigned long long)q->since_ns);
		put(s, " AND intDiv(time, %llu) >= %llu", (unsigned long long)CH_BUCKET_NS,
		    (unsigned long long)(q->since_ns / CH_BUCKET_NS));
		day(s, ">=", q->since_ns);
	}
	if (q->until_ns) {
		put(s, " AND time <= %llu", (unsigned long long)q->until_ns);
		put(s, " AND intDiv(time, %llu) <= %llu", (unsigned long long)CH_BUCKET_NS,
		    (unsigned long long)(q->until_ns / CH_BUCKET_NS));
		day(s, "<=", q->until_ns);
	}
}

/* (allow OR allow ...) AND NOT (deny) ...: allow filters as far as they translate (an allow
 * filter that says less selects more: C narrows it), deny filters only when whole. */
static void filters(struct fsql *s, const struct ch_query *q, bool *exact)
{
	bool complete;
	size_t i;

	if (q->n_allow) {
		put(s, " AND (");
		for (i = 0; i < q->n_allow && !s->err; i++) {
			put(s, "%s(", i ? " OR " : "");
			s->err = s->err ?: ch_query_filter_sql(s->b, q->allow[i], &complete);
			put(s, ")");
			*exact &= complete;
		}
		put(s, ")");
	}
	for (i = 0; i < q->n_deny && !s->err; i++) {
		struct buf one = BUF_INIT;

		s->err = ch_query_filter_sql(&one, q->deny[i], &complete);
		if (!s->err && complete) {
			put(s, " AND NOT (");
			s->err = s->err ?: buf_append(s->b, one.data, one.len);
			put(s, ")");
		}
		*exact &= complete;
		buf_free(&one);
	}
}

int ch_query_sql(const struct ch_query *q, const struct ch_target *t, struct buf *sql, bool *exact)
{
	struct fsql s = {sql, true, true, 0};
	bool desc = q->last && !q->first;
	uint64_t n = q->first ? q->first : q->last;

	*exact = true;
	s.err = buf_puts(sql, "SELECT ") ?: ch_schema_column_list(sql);
	put(&s, " FROM `%s`.`%s`", t->database, t->table);
	window(&s, q);
	filters(&s, q, exact);
	put(&s, " ORDER BY time%s, uuid%s", desc ? " DESC" : "", desc ? " DESC" : "");
	if (*exact && n)
		put(&s, " LIMIT %llu", (unsigned long long)n);
	put(&s, " FORMAT RowBinary");
	return s.err ? -ENOMEM : 0;
}

/* ---- running it ------------------------------------------------------------------------------ */

struct run {
	const struct ch_query *q;
	const struct flow_filter_set *fs;
	ch_query_cb cb;
	void *ctx;
	uint64_t want, matched;
	bool desc, stopped, done;
	int err;
	struct buf pending; /* bytes of a row not all received */
	struct ch_flow cf;
	uint8_t prev_uuid[16];
	uint64_t prev_time;
	bool have_prev;
	struct buf kept; /* newest first: the rows of --last, to be told oldest first */
	size_t *kept_end;
	size_t n_kept, cap_kept;
};

static int keep_row(struct run *r, const uint8_t *p, size_t n)
{
	if (r->n_kept == r->cap_kept) {
		size_t cap = r->cap_kept ? 2 * r->cap_kept : 256;
		size_t *e = realloc(r->kept_end, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		r->kept_end = e;
		r->cap_kept = cap;
	}
	if (buf_append(&r->kept, p, n))
		return -ENOMEM;
	r->kept_end[r->n_kept++] = r->kept.len;
	return 0;
}

/* One decoded row: a duplicate skipped, C's filters, then told (or kept for --last). */
static int on_row(struct run *r, const uint8_t *p, size_t n)
{
	const struct flow *f = &r->cf.f;

	if (r->have_prev && r->prev_time == f->time_ns && !memcmp(r->prev_uuid, f->uuid, 16))
		return 0; /* a batch delivered twice (at least once) */
	r->have_prev = true;
	r->prev_time = f->time_ns;
	memcpy(r->prev_uuid, f->uuid, 16);
	if (r->fs && !flow_filter_set_match(r->fs, f, NULL))
		return 0;
	r->matched++;
	if (r->desc)
		r->err = keep_row(r, p, n);
	else if (r->cb(f, r->ctx))
		r->stopped = true;
	if (r->want && r->matched >= r->want)
		r->done = true;
	return r->err || r->stopped || r->done;
}

static int on_body(const char *p, size_t n, void *ctx)
{
	struct run *r = ctx;
	size_t off = 0, used;
	int rc = 0;

	if (buf_append(&r->pending, p, n))
		return r->err = -ENOMEM, 1;
	while (off < r->pending.len && !rc) {
		const uint8_t *row = (const uint8_t *)r->pending.data + off;
		int err = ch_row_decode(row, r->pending.len - off, &used, &r->cf);

		if (err == -EAGAIN)
			break;
		if (err) {
			r->err = err;
			return 1;
		}
		rc = on_row(r, row, used);
		off += used;
	}
	memmove(r->pending.data, r->pending.data + off, r->pending.len - off);
	r->pending.len -= off;
	return rc;
}

/* --last: the kept rows (newest first) told oldest first. */
static int tell_kept(struct run *r)
{
	size_t i, used;

	for (i = r->n_kept; i-- > 0;) {
		size_t start = i ? r->kept_end[i - 1] : 0;
		int err = ch_row_decode((const uint8_t *)r->kept.data + start,
					r->kept_end[i] - start, &used, &r->cf);

		if (err)
			return err;
		if (r->cb(&r->cf.f, r->ctx))
			return -ECANCELED;
	}
	return 0;
}

/* What an answer that is not all rows says: ClickHouse's error text when it appended one. */
static int bad_answer(struct run *r, const struct ch_target *t, struct errmsg *e)
{
	char text[512];
	const char *code = memmem(r->pending.data, r->pending.len, "Code: ", 6);

	if (code)
		return errmsg_set(e, -EPROTO, "ClickHouse at %s:%u: %s", t->host, t->port,
				  ch_error_text(code,
						r->pending.len - (size_t)(code - r->pending.data),
						text, sizeof(text)));
	return errmsg_set(e, -EBADMSG,
			  "the rows of %s.%s at %s:%u are not of this flowctl's table (is it "
			  "another program's, or an older schema?)",
			  t->database, t->table, t->host, t->port);
}

int ch_query_run(const struct ch_query *q, const struct ch_target *t,
		 const struct flow_filter_set *fs, unsigned int timeout_ms, ch_query_cb cb,
		 void *ctx, struct errmsg *e)
{
	struct run r = {.q = q, .fs = fs, .cb = cb, .ctx = ctx};
	struct buf sql = BUF_INIT;
	bool exact;
	int err;

	r.desc = q->last && !q->first;
	r.want = q->first ? q->first : q->last;
	if (ch_query_sql(q, t, &sql, &exact)) {
		buf_free(&sql);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	err = ch_http_run(t, sql.data, NULL, 0, timeout_ms, on_body, &r, e);
	if (err == -ECANCELED && (r.done || r.stopped) && !r.err)
		err = 0; /* we stopped reading: N rows passed, or the caller had enough */
	else if (err == -ECANCELED || (!err && (r.err || r.pending.len)))
		err = r.err == -ENOMEM ? errmsg_set(e, -ENOMEM, "out of memory")
				       : bad_answer(&r, t, e);
	if (!err && r.desc)
		err = tell_kept(&r);
	if (!err && r.stopped)
		err = -ECANCELED;
	buf_free(&sql);
	buf_free(&r.pending);
	buf_free(&r.kept);
	free(r.kept_end);
	ch_flow_free(&r.cf);
	return err;
}
