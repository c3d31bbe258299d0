/* The filter language's key table and request builder (see include/flowscope/filter/filter.h).
 * Values are checked here once and stored in canonical form, then set on the FlowFilter fields
 * the key names through protobuf-c's descriptors, so a key is one table row. */
#include <ctype.h>
#include <net/if.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/base/parse.h"
#include "flowscope/filter/filter.h"
#include "flowscope/pipeline/flow_view.h"
#include "flowscope/record.h"

#define CANON_MAX 300

static int parse_tcp_flags(const char *s, uint16_t *flags);

static int check_ip(const char *v, char *canon, size_t len, const char **why)
{
	struct cidr c;

	*why = FILTER_HINT_IP;
	if (parse_cidr(v, &c))
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

static int check_port(const char *v, char *canon, size_t len, const char **why)
{
	struct port_range p;

	*why = FILTER_HINT_PORT;
	if (filter_parse_port(v, &p))
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

static int check_protocol(const char *v, char *canon, size_t len, const char **why)
{
	unsigned int mask = 0;
	size_t i;

	*why = FILTER_HINT_PROTOCOL;
	if (filter_parse_protocol(v, &mask))
		return -EINVAL;
	for (i = 0; v[i] && i + 1 < len; i++)
		canon[i] = (char)tolower((unsigned char)v[i]);
	canon[i] = '\0';
	return 0;
}

/* One of an enum's value names, in any case; canon is the name as the enum spells it. */
static int check_enum(const ProtobufCEnumDescriptor *d, const char *v, char *canon, size_t len)
{
	unsigned int i;

	for (i = 0; i < d->n_values; i++) {
		if (!strcasecmp(d->values[i].name, v)) {
			snprintf(canon, len, "%s", d->values[i].name);
			return 0;
		}
	}
	return -EINVAL;
}

static int check_verdict(const char *v, char *canon, size_t len, const char **why)
{
	*why = "use FORWARDED, DROPPED, ERROR, AUDIT, REDIRECTED, TRACED or TRANSLATED";
	return strcasecmp(v, "VERDICT_UNKNOWN")
		       ? check_enum(&flow__verdict__descriptor, v, canon, len)
		       : -EINVAL;
}

static int check_direction(const char *v, char *canon, size_t len, const char **why)
{
	*why = "use ingress or egress";
	if (strcasecmp(v, "ingress") && strcasecmp(v, "egress"))
		return -EINVAL;
	return check_enum(&flow__traffic_direction__descriptor, v, canon, len);
}

static int check_ip_version(const char *v, char *canon, size_t len, const char **why)
{
	static const char *const v4[] = {"4", "v4", "ipv4", "ip4"}, *const v6[] = {"6", "v6",
										   "ipv6", "ip6"};
	size_t i;

	*why = "use 4 or 6 (also v4, ipv4, ip4 and v6, ipv6, ip6)";
	for (i = 0; i < 4; i++) {
		if (!strcasecmp(v, v4[i]) || !strcasecmp(v, v6[i])) {
			snprintf(canon, len, "%s", !strcasecmp(v, v4[i]) ? "IPv4" : "IPv6");
			return 0;
		}
	}
	return -EINVAL;
}

static int check_tcp_flags(const char *v, char *canon, size_t len, const char **why)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK",
					    "URG", "ECE", "CWR", "NS"};
	uint16_t flags;
	size_t i, o = 0;

	*why = "use flags such as SYN or SYN,ACK (FIN SYN RST PSH ACK URG ECE CWR NS)";
	if (parse_tcp_flags(v, &flags))
		return -EINVAL;
	canon[0] = '\0';
	for (i = 0; i < 9; i++)
		if (flags & (1u << i) && o < len)
			o += (size_t)snprintf(canon + o, len - o, "%s%s", o ? "," : "", names[i]);
	return 0;
}

static int check_selector(const char *v, char *canon, size_t len, const char **why)
{
	*why = FILTER_HINT_SELECTOR;
	if (!*v || strlen(v) > FILTER_MAX_SELECTOR)
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

/* A namespace is the pod selector "namespace/" (any pod in it). */
static int check_namespace(const char *v, char *canon, size_t len, const char **why)
{
	*why = "use a namespace name (no '/', at most 253 characters)";
	if (!*v || strchr(v, '/') || strlen(v) > 253)
		return -EINVAL;
	snprintf(canon, len, "%s/", v);
	return 0;
}

static int check_identity(const char *v, char *canon, size_t len, const char **why)
{
	uint32_t id;

	*why = FILTER_HINT_IDENTITY;
	if (filter_parse_identity(v, &id))
		return -EINVAL;
	snprintf(canon, len, "%u", id);
	return 0;
}

/* Hubble's [KIND/]NAME: "web", "Deployment/web", "Deployment/" (any workload of that kind). */
static int check_workload(const char *v, char *canon, size_t len, const char **why)
{
	*why = "use a workload name, KIND/NAME or KIND/ (e.g. Deployment/web), at most 255 "
	       "characters";
	if (!*v || strlen(v) > FILTER_MAX_SELECTOR)
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

static bool all_digits(const char *s)
{
	return *s && s[strspn(s, "0123456789")] == '\0';
}

/* A name, or digits for an index. */
static int check_interface(const char *v, char *canon, size_t len, const char **why)
{
	uint64_t idx;

	*why = FILTER_HINT_INTERFACE;
	if (all_digits(v) && (parse_u64(v, UINT32_MAX, &idx) || !idx))
		return -EINVAL;
	if (!*v || strlen(v) >= IF_NAMESIZE || strpbrk(v, "/ \t\n"))
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

static int check_drop_reason(const char *v, char *canon, size_t len, const char **why)
{
	*why = FILTER_HINT_DROP_REASON;
	return check_enum(&flow__drop_reason__descriptor, v, canon, len);
}

static int check_uuid(const char *v, char *canon, size_t len, const char **why)
{
	uint8_t u[16];
	size_t i;

	*why = FILTER_HINT_UUID;
	if (flow_uuid_parse(v, u))
		return -EINVAL;
	for (i = 0; v[i] && i + 1 < len; i++)
		canon[i] = (char)tolower((unsigned char)v[i]);
	canon[i] = '\0';
	return 0;
}

/* Canonical form: the numbers, "4:0" for trace:to-endpoint. */
static int check_type(const char *v, char *canon, size_t len, const char **why)
{
	int32_t type, sub;
	bool match_sub;

	*why = FILTER_HINT_TYPE;
	if (filter_parse_type(v, &type, &match_sub, &sub))
		return -EINVAL;
	if (match_sub)
		snprintf(canon, len, "%d:%d", type, sub);
	else
		snprintf(canon, len, "%d", type);
	return 0;
}

static int check_regex(const char *v, char *canon, size_t len, const char **why)
{
	char detail[128];

	*why = FILTER_HINT_REGEX;
	if (filter_parse_regex(v, NULL, detail, sizeof(detail)))
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

static int check_http_status(const char *v, char *canon, size_t len, const char **why)
{
	*why = FILTER_HINT_HTTP_STATUS;
	if (filter_parse_http_status(v))
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

/* Hubble's --http-header KEY:VALUE (either may be empty: any key, any value). */
static int check_http_header(const char *v, char *canon, size_t len, const char **why)
{
	*why = "use KEY:VALUE, e.g. content-type:application/json, at most 255 characters";
	if (!strchr(v, ':') || strlen(v) > FILTER_MAX_SELECTOR)
		return -EINVAL;
	snprintf(canon, len, "%s", v);
	return 0;
}

static int check_bool(const char *v, char *canon, size_t len, const char **why)
{
	bool b;

	*why = "use true or false";
	if (parse_bool(v, &b))
		return -EINVAL;
	snprintf(canon, len, "%s", b ? "true" : "false");
	return 0;
}

/* A key for either side and its from_ and to_ forms. */
#define EITHER(n, arg, help, sf, df, chk)                                                          \
	{n, NULL, FILTER_EITHER, arg, help " (source or destination)", sf, df, chk},               \
		{"from_" n, NULL, FILTER_SOURCE, arg, "source " help, sf, sf, chk},                \
	{                                                                                          \
		"to_" n, NULL, FILTER_DEST, arg, "destination " help, df, df, chk                  \
	}

const struct filter_key filter_keys[] = {
	EITHER("ip", "IP[/LEN]", "address or CIDR", "source_ip", "destination_ip", check_ip),
	EITHER("port", "PORT[-PORT]", "port or port range", "source_port", "destination_port",
	       check_port),
	EITHER("pod", "[NS/]POD", "pod name prefix (identity file)", "source_pod",
	       "destination_pod", check_selector),
	EITHER("namespace", "NS", "namespace (identity file)", "source_pod", "destination_pod",
	       check_namespace),
	EITHER("service", "[NS/]SVC", "service (identity file)", "source_service",
	       "destination_service", check_selector),
	EITHER("label", "SELECTOR", "labels, e.g. app=web,!canary", "source_label",
	       "destination_label", check_selector),
	EITHER("fqdn", "NAME", "DNS name pattern, e.g. *.example.com", "source_fqdn",
	       "destination_fqdn", check_selector),
	{"protocol", NULL, FILTER_BOTH, "PROTO", "tcp, udp, icmp, icmpv4, icmpv6 or sctp",
	 "protocol", "protocol", check_protocol},
	{"verdict", NULL, FILTER_BOTH, "VERDICT", "FORWARDED, DROPPED, ... (any case)", "verdict",
	 "verdict", check_verdict},
	{"tcp_flags", NULL, FILTER_BOTH, "FLAGS",
	 "events with all these TCP flags, e.g. SYN or SYN,ACK", "tcp_flags", "tcp_flags",
	 check_tcp_flags},
	{"traffic_direction", NULL, FILTER_BOTH, "DIR", "ingress or egress", "traffic_direction",
	 "traffic_direction", check_direction},
	{"ip_version", NULL, FILTER_BOTH, "V", "4 or 6", "ip_version", "ip_version",
	 check_ip_version},
	{"node_name", NULL, FILTER_BOTH, "PATTERN", "node name pattern such as 'node*'",
	 "node_name", "node_name", check_selector},
	{"graph_node", "node", FILTER_BOTH, "ID",
	 "service-graph node at either end, as /api/v1/graph has it", "graph_node", "graph_node",
	 check_selector},
	{"graph_edge", "edge", FILTER_BOTH, "ID", "service-graph edge (e:CLIENT>SERVER)",
	 "graph_edge", "graph_edge", check_selector},
	EITHER("identity", "ID", "numeric identity, or host, world, ...", "source_identity",
	       "destination_identity", check_identity),
	EITHER("workload", "[KIND/]NAME", "workload, e.g. Deployment/web", "source_workload",
	       "destination_workload", check_workload),
	EITHER("process", "PATTERN", "local process name, e.g. nginx*", "source_process",
	       "destination_process", check_selector),
	EITHER("container", "ID", "local process's container id prefix, or host",
	       "source_container", "destination_container", check_selector),
	EITHER("cluster", "NAME", "cluster name: matches nothing (no clusters)",
	       "source_cluster_name", "destination_cluster_name", check_selector),
	{"type", NULL, FILTER_BOTH, "TYPE[:SUB]",
	 "event type, e.g. trace, drop, l7, trace:to-endpoint", "event_type", "event_type",
	 check_type},
	{"interface", NULL, FILTER_BOTH, "NAME|INDEX", "interface the event was seen on",
	 "interface", "interface", check_interface},
	{"drop_reason_desc", NULL, FILTER_BOTH, "REASON",
	 "drops for this reason, e.g. POLICY_DENIED (any case)", "drop_reason_desc",
	 "drop_reason_desc", check_drop_reason},
	{"uuid", NULL, FILTER_BOTH, "UUID", "the event with this uuid", "uuid", "uuid", check_uuid},
	{"dns_query", NULL, FILTER_BOTH, "REGEX",
	 "DNS query regular expression (names end with '.')", "dns_query", "dns_query",
	 check_regex},
	{"node_label", NULL, FILTER_BOTH, "SELECTOR", "node label selector, e.g. zone=a",
	 "node_labels", "node_labels", check_selector},
	{"http_status", NULL, FILTER_BOTH, "CODE",
	 "HTTP status or prefix (5+): matches nothing (no HTTP)", "http_status_code",
	 "http_status_code", check_http_status},
	{"http_method", NULL, FILTER_BOTH, "METHOD", "HTTP method: matches nothing (no HTTP)",
	 "http_method", "http_method", check_selector},
	{"http_path", NULL, FILTER_BOTH, "REGEX",
	 "HTTP path regular expression: matches nothing (no HTTP)", "http_path", "http_path",
	 check_regex},
	{"http_url", NULL, FILTER_BOTH, "REGEX",
	 "HTTP URL regular expression: matches nothing (no HTTP)", "http_url", "http_url",
	 check_regex},
	{"http_header", NULL, FILTER_BOTH, "KEY:VALUE", "HTTP header: matches nothing (no HTTP)",
	 "http_header", "http_header", check_http_header},
	{"trace_id", NULL, FILTER_BOTH, "ID", "trace id: matches nothing (no tracing)", "trace_id",
	 "trace_id", check_selector},
	{"encrypted", NULL, FILTER_BOTH, "BOOL",
	 "false: all events; true: none (no encryption seen)", "encrypted", "encrypted",
	 check_bool},
};

const size_t filter_n_keys = sizeof(filter_keys) / sizeof(filter_keys[0]);

/* Equal names where '-' and '_' are the same character. */
static bool same_name(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
			return false;
	return !*a && !*b;
}

const struct filter_key *filter_key_find(const char *name)
{
	size_t i;

	for (i = 0; i < filter_n_keys; i++)
		if (same_name(name, filter_keys[i].name) ||
		    (filter_keys[i].alias && same_name(name, filter_keys[i].alias)))
			return &filter_keys[i];
	return NULL;
}

void filter_req_init(struct filter_req *r, enum filter_spelling spelling)
{
	int d, t;

	memset(r, 0, sizeof(*r));
	for (d = 0; d < 2; d++)
		for (t = 0; t < 2; t++)
			flow__flow_filter__init(&r->f[d][t]);
	r->spelling = spelling;
}

/* Frees what the builder put in m: every repeated field's elements and array. */
static void filter_msg_clear(Flow__FlowFilter *m)
{
	const ProtobufCMessageDescriptor *d = m->base.descriptor;
	unsigned int i;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		size_t *n = (size_t *)((char *)m + fd->quantifier_offset), k;
		void **arr = (void **)((char *)m + fd->offset);

		if (fd->label != PROTOBUF_C_LABEL_REPEATED)
			continue;
		if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE)
			for (k = 0; k < *n; k++)
				free(((void **)*arr)[k]);
		free(*arr);
		*arr = NULL;
		*n = 0;
	}
}

void filter_req_free(struct filter_req *r)
{
	size_t i;
	int d, t;

	for (d = 0; d < 2; d++)
		for (t = 0; t < 2; t++)
			filter_msg_clear(&r->f[d][t]);
	for (i = 0; i < r->n_groups; i++)
		filter_req_free(&r->groups[i]);
	free(r->groups);
	filter_req_init(r, r->spelling);
}

int filter_req_add_deny_group(struct filter_req *r, const char *query, struct errmsg *e)
{
	struct filter_req *g;
	int err;

	if (r->n_groups >= FILTER_MAX_GROUPS)
		return errmsg_set(e, -EINVAL, "too many exclusions (at most %d in one request)",
				  FILTER_MAX_GROUPS);
	g = realloc(r->groups, (r->n_groups + 1) * sizeof(*g));
	if (!g)
		return errmsg_set(e, -ENOMEM, "out of memory");
	r->groups = g;
	g = &r->groups[r->n_groups];
	filter_req_init(g, r->spelling);
	err = filter_req_parse(g, query, true, e);
	if (!err && !g->used[1])
		err = errmsg_set(e, -EINVAL, "an exclusion needs at least one key=value");
	if (err) {
		filter_req_free(g);
		errmsg_prefix(e, "%s '%s'", r->spelling == FILTER_AS_PARAM ? "deny" : "exclusion",
			      query);
		return err;
	}
	r->n_groups++;
	return 0;
}

size_t filter_req_max_deny(const struct filter_req *r)
{
	return 2 * (r->n_groups + 1);
}

size_t filter_req_deny_filters(struct filter_req *r, Flow__FlowFilter **out)
{
	size_t n = filter_req_filters(r, true, out), i;

	for (i = 0; i < r->n_groups; i++)
		n += filter_req_filters(&r->groups[i], true, out + n);
	return n;
}

/* The message-typed values, each in one allocation (the struct, then its strings) so that
 * filter_msg_clear() frees it with one free(). */
static void *new_tcp_flags(const char *canon)
{
	Flow__TCPFlags *t = malloc(sizeof(*t));
	uint16_t bits;

	if (!t || parse_tcp_flags(canon, &bits)) {
		free(t);
		return NULL;
	}
	flow__tcpflags__init(t);
	t->fin = !!(bits & FLOW_TCP_FIN), t->syn = !!(bits & FLOW_TCP_SYN);
	t->rst = !!(bits & FLOW_TCP_RST), t->psh = !!(bits & FLOW_TCP_PSH);
	t->ack = !!(bits & FLOW_TCP_ACK), t->urg = !!(bits & FLOW_TCP_URG);
	t->ece = !!(bits & FLOW_TCP_ECE), t->cwr = !!(bits & FLOW_TCP_CWR);
	t->ns = !!(bits & FLOW_TCP_NS);
	return t;
}

/* A struct of size bytes followed by the two strings a (n_a bytes) and b, pointed to by *pa and
 * *pb (offsets into the struct). */
static void *new_with_strings(size_t size, size_t pa, const char *a, size_t n_a, size_t pb,
			      const char *b)
{
	size_t n_b = strlen(b);
	char *m = calloc(1, size + n_a + n_b + 2), *sa = m + size, *sb = sa + n_a + 1;

	if (!m)
		return NULL;
	memcpy(sa, a, n_a);
	memcpy(sb, b, n_b);
	*(char **)(m + pa) = sa;
	*(char **)(m + pb) = sb;
	return m;
}

/* "[KIND/]NAME" as hubble observe --workload reads it. */
static void *new_workload(const char *canon)
{
	const char *slash = strchr(canon, '/');
	Flow__Workload *w;

	if (slash)
		w = new_with_strings(sizeof(*w), offsetof(Flow__Workload, kind), canon,
				     (size_t)(slash - canon), offsetof(Flow__Workload, name),
				     slash + 1);
	else
		w = new_with_strings(sizeof(*w), offsetof(Flow__Workload, kind), "", 0,
				     offsetof(Flow__Workload, name), canon);
	if (w)
		w->base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&flow__workload__descriptor);
	return w;
}

static void *new_http_header(const char *canon)
{
	const char *colon = strchr(canon, ':');
	Flow__HTTPHeader *h = new_with_strings(sizeof(*h), offsetof(Flow__HTTPHeader, key), canon,
					       (size_t)(colon - canon),
					       offsetof(Flow__HTTPHeader, value), colon + 1);

	if (h)
		h->base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&flow__httpheader__descriptor);
	return h;
}

static void *new_interface(const char *canon)
{
	bool index = all_digits(canon);
	size_t n = index ? 0 : strlen(canon);
	Flow__NetworkInterface *i = calloc(1, sizeof(*i) + n + 1);

	if (!i)
		return NULL;
	flow__network_interface__init(i);
	i->name = (char *)(i + 1);
	memcpy(i->name, canon, n);
	i->index = index ? (uint32_t)strtoul(canon, NULL, 10) : 0;
	return i;
}

static void *new_event_type(const char *canon)
{
	Flow__EventTypeFilter *t = malloc(sizeof(*t));

	if (!t)
		return NULL;
	flow__event_type_filter__init(t);
	t->match_sub_type = sscanf(canon, "%d:%d", &t->type, &t->sub_type) == 2;
	return t;
}

static const struct {
	const ProtobufCMessageDescriptor *d;
	void *(*make)(const char *canon);
} message_values[] = {
	{&flow__tcpflags__descriptor, new_tcp_flags},
	{&flow__workload__descriptor, new_workload},
	{&flow__httpheader__descriptor, new_http_header},
	{&flow__network_interface__descriptor, new_interface},
	{&flow__event_type_filter__descriptor, new_event_type},
};

/* canon converted to the type of fd, into slot. */
static int convert(const ProtobufCFieldDescriptor *fd, const char *canon, void *slot)
{
	const ProtobufCEnumValue *ev;
	size_t i;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, canon);
		if (!ev)
			return -EINVAL;
		*(int *)slot = ev->value;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)slot = (uint32_t)strtoul(canon, NULL, 10);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)slot = !strcmp(canon, "true");
		return 0;
	case PROTOBUF_C_TYPE_STRING:
		*(char **)slot = strdup(canon);
		return *(char **)slot ? 0 : -ENOMEM;
	case PROTOBUF_C_TYPE_MESSAGE:
		for (i = 0; i < sizeof(message_values) / sizeof(message_values[0]); i++)
			if (message_values[i].d == fd->descriptor) {
				*(void **)slot = message_values[i].make(canon);
				return *(void **)slot ? 0 : -ENOMEM;
			}
		return -EINVAL;
	default:
		return -EINVAL;
	}
}

static size_t value_size(const ProtobufCFieldDescriptor *fd)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_UINT32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return sizeof(void *);
	}
}

/* Appends canon to the repeated field named field of m, converted to the field's type. */
static int append(Flow__FlowFilter *m, const char *field, const char *canon)
{
	const ProtobufCFieldDescriptor *fd =
		protobuf_c_message_descriptor_get_field_by_name(m->base.descriptor, field);
	size_t *n, esize;
	char **arr, *slot;
	int err;

	if (!fd || fd->label != PROTOBUF_C_LABEL_REPEATED)
		return -EINVAL;
	n = (size_t *)((char *)m + fd->quantifier_offset);
	arr = (char **)((char *)m + fd->offset);
	esize = value_size(fd);
	slot = realloc(*arr, esize * (*n + 1));
	if (!slot)
		return -ENOMEM;
	*arr = slot;
	err = convert(fd, canon, slot + esize * *n);
	if (err)
		return err;
	(*n)++;
	return 0;
}

static void spell(const struct filter_req *r, const struct filter_key *k, char *out, size_t len)
{
	size_t i;

	snprintf(out, len, "%s%s", r->spelling == FILTER_AS_FLAG ? "--" : "", k->name);
	for (i = 0; r->spelling == FILTER_AS_FLAG && out[i]; i++)
		if (out[i] == '_')
			out[i] = '-';
}

int filter_req_add(struct filter_req *r, const struct filter_key *k, const char *value, bool deny,
		   struct errmsg *e)
{
	Flow__FlowFilter *f = r->f[deny];
	char canon[CANON_MAX], name[64];
	const char *why = "";
	double cost;
	int err;

	spell(r, k, name, sizeof(name));
	if (r->n_values >= FILTER_MAX_VALUES)
		return errmsg_set(e, -EINVAL, "too many filter values (at most %d in one request)",
				  FILTER_MAX_VALUES);
	/* (One refused on its own is said so by its check.) */
	if (k->check == check_regex && (cost = filter_regex_cost(value)) >= 0) {
		r->regex_cost += cost;
		if (r->regex_cost > FILTER_MAX_REGEX_COST)
			return errmsg_set(
				e, -E2BIG,
				"%s '%s': the request's regular expressions are too complex "
				"together (their repetitions would compile into more than "
				"%.0f copies of their parts)",
				name, value, FILTER_MAX_REGEX_COST);
	}
	if (k->check(value, canon, sizeof(canon), &why))
		return errmsg_set(e, -EINVAL, "invalid %s '%s': %s", name, value, why);
	/* An either-side key: source on the filter, destination on its twin. */
	if (k->side == FILTER_EITHER) {
		err = append(&f[0], k->src_field, canon);
		err = err ?: append(&f[1], k->dst_field, canon);
		r->twin[deny] = true;
	} else {
		err = append(&f[0], k->side == FILTER_DEST ? k->dst_field : k->src_field, canon);
		err = err
			      ?: append(&f[1], k->side == FILTER_DEST ? k->dst_field : k->src_field,
					canon);
	}
	if (err)
		return errmsg_set(e, err, "%s: out of memory", name);
	r->used[deny] = true;
	r->n_values++;
	return 0;
}

static void key_list(char *out, size_t len)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < filter_n_keys && o < len; i++)
		if (filter_keys[i].side != FILTER_SOURCE && filter_keys[i].side != FILTER_DEST)
			o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "",
					      filter_keys[i].name);
}

int filter_req_add_named(struct filter_req *r, const char *name, const char *value,
			 struct errmsg *e)
{
	bool deny = !strncmp(name, "not_", 4) || !strncmp(name, "not-", 4);
	const struct filter_key *k = filter_key_find(deny ? name + 4 : name);
	char keys[400];

	if (!k) {
		key_list(keys, sizeof(keys));
		return errmsg_set(
			e, -ENOENT,
			"unknown filter '%s': use %s (either-side keys also as from_KEY and to_KEY, any of them after not_ to exclude)",
			name, keys);
	}
	return filter_req_add(r, k, value, deny, e);
}

int filter_req_parse(struct filter_req *r, const char *query, bool deny, struct errmsg *e)
{
	char *copy = strdup(query), *p, *tok, *save = NULL;
	int err = 0;

	if (!copy)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (p = copy; !err && (tok = strtok_r(p, "&", &save)); p = NULL) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			err = errmsg_set(e, -EINVAL, "'%s' is not key=value", tok);
			break;
		}
		*eq = '\0';
		if (deny && (!strncmp(tok, "not_", 4) || !strncmp(tok, "not-", 4))) {
			err = errmsg_set(
				e, -EINVAL,
				"'%s': a deny filter cannot be negated; move it to the allow filter",
				tok);
			break;
		}
		if (deny) {
			const struct filter_key *k = filter_key_find(tok);

			err = k ? filter_req_add(r, k, eq + 1, true, e)
				: filter_req_add_named(r, tok, eq + 1, e);
		} else {
			err = filter_req_add_named(r, tok, eq + 1, e);
		}
	}
	free(copy);
	return err;
}

size_t filter_req_filters(struct filter_req *r, bool deny, Flow__FlowFilter *out[2])
{
	if (!r->used[deny])
		return 0;
	out[0] = &r->f[deny][0];
	out[1] = &r->f[deny][1];
	return r->twin[deny] ? 2 : 1;
}

/* ---- value checks shared with the compiler -------------------------------------------------- */

int filter_parse_port(const char *s, struct port_range *p)
{
	const char *dash = strchr(s, '-');
	uint64_t lo, hi;
	char tmp[16];

	if (!dash) {
		if (parse_u64(s, 65535, &lo))
			return -EINVAL;
		p->lo = p->hi = (uint16_t)lo;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, (size_t)(dash - s));
	tmp[dash - s] = '\0';
	if (parse_u64(tmp, 65535, &lo) || parse_u64(dash + 1, 65535, &hi) || hi < lo)
		return -EINVAL;
	p->lo = (uint16_t)lo;
	p->hi = (uint16_t)hi;
	return 0;
}

int filter_parse_protocol(const char *s, unsigned int *mask)
{
	static const struct {
		const char *name;
		unsigned int bits;
	} names[] = {
		{"tcp", FILTER_P_TCP},
		{"udp", FILTER_P_UDP},
		{"icmp", FILTER_P_ICMP4 | FILTER_P_ICMP6},
		{"icmpv4", FILTER_P_ICMP4},
		{"icmpv6", FILTER_P_ICMP6},
		{"sctp", FILTER_P_SCTP},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(s, names[i].name)) {
			*mask |= names[i].bits;
			return 0;
		}
	}
	return -EINVAL;
}

/* "SYN", "SYN,ACK" (also '|' or ' ' between, any case) into FLOW_TCP_* bits. */
static int parse_tcp_flags(const char *s, uint16_t *flags)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK",
					    "URG", "ECE", "CWR", "NS"};
	char tmp[128], *tok, *save = NULL;
	size_t i;

	*flags = 0;
	if (strlen(s) >= sizeof(tmp))
		return -EINVAL;
	strcpy(tmp, s);
	for (tok = strtok_r(tmp, ",| ", &save); tok; tok = strtok_r(NULL, ",| ", &save)) {
		for (i = 0; i < 9 && strcasecmp(tok, names[i]); i++)
			;
		if (i == 9)
			return -EINVAL;
		*flags |= (uint16_t)(1u << i);
	}
	return *flags ? 0 : -EINVAL;
}

/* Cilium's reserved identities by name (pkg/identity), "unknown" included. */
static const struct {
	const char *name;
	uint32_t id;
} reserved_identities[] = {
	{"unknown", 0}, {"host", 1},	   {"world", 2},       {"unmanaged", 3},
	{"health", 4},	{"init", 5},	   {"remote-node", 6}, {"kube-apiserver", 7},
	{"ingress", 8}, {"world-ipv4", 9}, {"world-ipv6", 10},
};

int filter_parse_identity(const char *s, uint32_t *out)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(reserved_identities) / sizeof(reserved_identities[0]); i++)
		if (!strcasecmp(s, reserved_identities[i].name)) {
			*out = reserved_identities[i].id;
			return 0;
		}
	if (parse_u64(s, UINT32_MAX, &v))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

struct named {
	const char *name;
	int32_t value;
};

/* Cilium's monitor message types (pkg/monitor/api MessageTypeNames). */
static const struct named msg_types[] = {
	{"drop", 1},	 {"debug", 2},	    {"capture", 3}, {"trace", 4},   {"policy-verdict", 5},
	{"recorder", 6}, {"trace-sock", 7}, {"l7", 129},    {"agent", 130},
};
/* Trace observation points (TraceObservationPoints), the sub types of trace events. */
static const struct named trace_points[] = {
	{"to-endpoint", 0},  {"to-proxy", 1},	   {"to-host", 2},	 {"to-stack", 3},
	{"to-overlay", 4},   {"from-endpoint", 5}, {"from-proxy", 6},	 {"from-host", 7},
	{"from-stack", 8},   {"from-overlay", 9},  {"from-network", 10}, {"to-network", 11},
	{"from-crypto", 12}, {"to-crypto", 13},
};
/* Agent event sub types as hubble observe --type agent:NAME takes them. */
static const struct named agent_subtypes[] = {
	{"unspecified", 0},
	{"message", 1},
	{"agent-started", 2},
	{"endpoint-regenerate-success", 3},
	{"endpoint-regenerate-failure", 4},
	{"policy-updated", 5},
	{"policy-deleted", 6},
	{"endpoint-created", 7},
	{"endpoint-deleted", 8},
	{"ipcache-upserted", 9},
	{"ipcache-deleted", 10},
};

/* A name of the table (any case) or a number up to INT32_MAX. */
static int named_or_number(const char *s, const struct named *t, size_t n, int32_t *out)
{
	uint64_t v;
	size_t i;

	for (i = 0; t && i < n; i++)
		if (!strcasecmp(s, t[i].name)) {
			*out = t[i].value;
			return 0;
		}
	if (parse_u64(s, INT32_MAX, &v))
		return -EINVAL;
	*out = (int32_t)v;
	return 0;
}

int filter_parse_type(const char *s, int32_t *type, bool *match_sub, int32_t *sub)
{
	const char *colon = strchr(s, ':');
	char name[32];
	size_t len = colon ? (size_t)(colon - s) : strlen(s);

	if (!len || len >= sizeof(name))
		return -EINVAL;
	memcpy(name, s, len);
	name[len] = '\0';
	if (named_or_number(name, msg_types, sizeof(msg_types) / sizeof(msg_types[0]), type))
		return -EINVAL;
	*match_sub = colon != NULL;
	*sub = 0;
	if (!colon)
		return 0;
	if (*type == 4)
		return named_or_number(colon + 1, trace_points,
				       sizeof(trace_points) / sizeof(trace_points[0]), sub);
	if (*type == 130)
		return named_or_number(colon + 1, agent_subtypes,
				       sizeof(agent_subtypes) / sizeof(agent_subtypes[0]), sub);
	return named_or_number(colon + 1, NULL, 0, sub);
}

int filter_parse_http_status(const char *s)
{
	size_t n = strlen(s);

	if (n == 3 && s[0] >= '1' && s[0] <= '5' && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]))
		return 0;
	if ((n == 2 || n == 3) && s[0] >= '1' && s[0] <= '5' && s[n - 1] == '+' &&
	    (n == 2 || isdigit((unsigned char)s[1])))
		return 0;
	return -EINVAL;
}

/* What glibc's regcomp builds for an extended regex grows with its repetitions: a subexpression
 * under '+' is copied once more, under {N,M} M times, and nested ones multiply ("a++++..." or
 * "((a{99}){99}){99}" took gigabytes), and a repetition stacked on another (POSIX leaves them
 * undefined) makes its epsilon closures explode ("a??????????+++++": seconds). So, as RE2
 * (Hubble's) does, a repetition of a repetition is refused (a '?' after one, RE2's "lazy",
 * changes nothing when only matching and is let through) and so is a count over 1000; and the
 * copies are estimated, from where scanning is to the ')' closing the group or the end: more
 * than RE_MAX_COPIES, or groups deeper than RE_MAX_DEPTH, are refused. */
#define RE_MAX_COPIES 2048.0
#define RE_MAX_DEPTH 32
#define RE_MAX_COUNT 1000

struct re_scan {
	const char *p;
	const char *why; /* set: refused */
};

/* A bound {N}, {N,}, {N,M} or {,M} at s->p (after its '{'): the copies it makes of what it repeats,
 * or 0 if it is not a bound (then '{' is a literal). */
static double re_bound(struct re_scan *s)
{
	unsigned long n, m;
	char *end;

	if (*s->p == ',' && isdigit((unsigned char)s->p[1])) { /* {,M}: glibc's {0,M} */
		n = 0;
		end = (char *)s->p;
	} else if (!isdigit((unsigned char)*s->p)) {
		return 0;
	} else {
		n = strtoul(s->p, &end, 10);
	}
	m = n;
	if (*end == ',')
		m = isdigit((unsigned char)end[1]) ? strtoul(end + 1, &end, 10) : n + 1;
	if (*end != '}')
		return 0;
	s->p = end + 1;
	if (n > RE_MAX_COUNT || m > RE_MAX_COUNT + 1) {
		s->why = "too complex for a filter: a repetition count over 1000";
		return 1;
	}
	/* (An optional copy, past N, costs more than a mandatory one: a{1000} 0.1 ms and little
	 * memory, a{,999} 7 ms and 8 MB; the request's budget bounds how many of those add up.) */
	return (double)(m > n ? m : n) + 1;
}

static void re_bracket(struct re_scan *s)
{
	if (*s->p == '^')
		s->p++;
	if (*s->p == ']')
		s->p++;
	while (*s->p && *s->p != ']') {
		if (*s->p == '[' && (s->p[1] == ':' || s->p[1] == '.' || s->p[1] == '=')) {
			char close = s->p[1];

			s->p += 2;
			while (*s->p && !(*s->p == close && s->p[1] == ']'))
				s->p++;
			if (*s->p)
				s->p++;
		}
		if (*s->p)
			s->p++;
	}
	if (*s->p)
		s->p++;
}

static double re_copies(struct re_scan *s, int depth)
{
	double total = 0, last = 0; /* the atom a repetition applies to, not yet added */
	int reps = 0;		    /* repetitions applied to it so far */

	if (depth > RE_MAX_DEPTH) {
		s->why = "too complex for a filter: groups nested deeper than 32";
		return 0;
	}
	/* A ')' closing no group is a literal, as glibc takes it (and repeats it). */
	while (*s->p && !(depth && *s->p == ')') && !s->why && total + last <= RE_MAX_COPIES) {
		char c = *s->p++;
		double k = 0;

		if (c == '{') {
			const char *at = s->p;

			k = re_bound(s);
			if (!k)
				s->p = at, c = 'x'; /* not a bound: a literal '{' */
		}
		if (strchr("+*?{", c) && !last)
			c = 'x'; /* repeating nothing: a literal, for glibc */
		if (strchr("+*?{", c)) {
			if (reps && !(reps == 1 && c == '?'))
				s->why =
					"too complex for a filter: a repetition of a repetition (like a** or a+{2}): "
					"group it";
			reps++;
			last *= c == '+' ? 2 : c == '{' ? k : 1;
			continue;
		}
		reps = 0;
		total += last;
		last = 1;
		switch (c) {
		case '|':
			last = 0;
			break;
		case '(':
			last = re_copies(s, depth + 1) + 1;
			if (*s->p == ')')
				s->p++;
			break;
		case '[': /* a bracket expression: one atom */
			re_bracket(s);
			break;
		case '\\':
			if (*s->p)
				s->p++;
			break;
		}
	}
	return total + last;
}

/* Why s is refused before compiling (NULL: it is not), and its cost in *copies. */
static const char *re_refusal(const char *s, double *copies)
{
	struct re_scan sc = {.p = s};

	*copies = 0;
	if (strlen(s) > 1024)
		return "longer than 1024 characters";
	*copies = re_copies(&sc, 0);
	if (!sc.why && *copies > RE_MAX_COPIES)
		sc.why =
			"too complex for a filter: repetitions that would make more than 2048 copies of its parts";
	return sc.why;
}

double filter_regex_cost(const char *s)
{
	double copies;

	return re_refusal(s, &copies) ? -1 : copies;
}

int filter_parse_regex(const char *s, regex_t *re, char *why, size_t why_len)
{
	regex_t tmp, *r = re ? re : &tmp;
	double copies;
	const char *no = re_refusal(s, &copies);
	int err;

	if (why_len)
		why[0] = '\0';
	if (no) {
		snprintf(why, why_len, "%s", no);
		return -EINVAL;
	}
	err = regcomp(r, s, REG_EXTENDED | REG_NOSUB);
	if (err) {
		regerror(err, r, why, why_len);
		return -EINVAL;
	}
	if (!re)
		regfree(r);
	return 0;
}
