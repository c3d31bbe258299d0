/* The filter language's key table and request builder (see include/flowscope/filter/filter.h).
 * Values are checked here once and stored in canonical form, then set on the FlowFilter fields
 * the key names through protobuf-c's descriptors, so a key is one table row. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/base/parse.h"
#include "flowscope/filter/filter.h"
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
	int d, t;

	for (d = 0; d < 2; d++)
		for (t = 0; t < 2; t++)
			filter_msg_clear(&r->f[d][t]);
	filter_req_init(r, r->spelling);
}

/* Appends canon to the repeated field named field of m, converted to the field's type. */
static int append(Flow__FlowFilter *m, const char *field, const char *canon)
{
	const ProtobufCFieldDescriptor *fd =
		protobuf_c_message_descriptor_get_field_by_name(m->base.descriptor, field);
	size_t *n, esize;
	char **arr, *slot;

	if (!fd || fd->label != PROTOBUF_C_LABEL_REPEATED)
		return -EINVAL;
	n = (size_t *)((char *)m + fd->quantifier_offset);
	arr = (char **)((char *)m + fd->offset);
	esize = fd->type == PROTOBUF_C_TYPE_ENUM ? sizeof(int) : sizeof(void *);
	slot = realloc(*arr, esize * (*n + 1));
	if (!slot)
		return -ENOMEM;
	*arr = slot;
	slot += esize * *n;
	if (fd->type == PROTOBUF_C_TYPE_ENUM) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value_by_name(fd->descriptor, canon);

		if (!ev)
			return -EINVAL;
		*(int *)slot = ev->value;
	} else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		Flow__TCPFlags *t = malloc(sizeof(*t));
		uint16_t bits;

		if (!t || parse_tcp_flags(canon, &bits)) {
			free(t);
			return -ENOMEM;
		}
		flow__tcpflags__init(t);
		t->fin = !!(bits & FLOW_TCP_FIN), t->syn = !!(bits & FLOW_TCP_SYN);
		t->rst = !!(bits & FLOW_TCP_RST), t->psh = !!(bits & FLOW_TCP_PSH);
		t->ack = !!(bits & FLOW_TCP_ACK), t->urg = !!(bits & FLOW_TCP_URG);
		t->ece = !!(bits & FLOW_TCP_ECE), t->cwr = !!(bits & FLOW_TCP_CWR);
		t->ns = !!(bits & FLOW_TCP_NS);
		*(void **)slot = t;
	} else {
		char *s = strdup(canon);

		if (!s)
			return -ENOMEM;
		*(char **)slot = s;
	}
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
	int err;

	spell(r, k, name, sizeof(name));
	if (r->n_values >= FILTER_MAX_VALUES)
		return errmsg_set(e, -EINVAL, "too many filter values (at most %d in one request)",
				  FILTER_MAX_VALUES);
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
	char keys[512];

	if (!k) {
		key_list(keys, sizeof(keys));
		return errmsg_set(
			e, -ENOENT,
			"unknown filter '%s': use %s (ip to fqdn also as from_ and to_, any of them after not_ to exclude)",
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
