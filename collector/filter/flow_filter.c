/* Hubble FlowFilter semantics compiled into plain structs and matched against collector flows
 * (see include/flowscope/filter/flow_filter.h). Values are checked with the filter language's
 * own checks, so a gRPC client's filter and a flowctl flag mean the same. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/base/parse.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/graph/graph.h"

/* One FlowFilter. A zero count or mask means "not given": the field matches anything. */
struct filter {
	struct cidr *src_ip, *dst_ip;
	size_t n_src_ip, n_dst_ip;
	struct port_range *src_port, *dst_port;
	size_t n_src_port, n_dst_port;
	unsigned int protocols;	  /* enum proto_bit */
	unsigned int verdicts;	  /* bit per flow.Verdict value */
	unsigned int directions;  /* bit per flow.TrafficDirection value */
	unsigned int ip_versions; /* bit per flow.IPVersion value */
	unsigned int replies;	  /* bit 0: is_reply false allowed, bit 1: true allowed */
	uint16_t *tcp_flags;	  /* each: flags that must all be set */
	size_t n_tcp_flags;
	char **node_names; /* fnmatch patterns */
	size_t n_node_names;
	char **graph_nodes, **graph_edges; /* service-graph ids */
	size_t n_graph_nodes, n_graph_edges;
	/* Identity (identity file in force) and DNS-name selectors, per side. Each list matches
	 * if any of its entries does. */
	struct side_sel {
		char **pods; /* "[namespace/]pod-prefix" */
		size_t n_pods;
		char **services; /* "[namespace/]name" */
		size_t n_services;
		char **labels; /* selectors: "k=v,k2,!k3,k4!=v" */
		size_t n_labels;
		char **fqdns; /* name patterns with * wildcards, lower case, no final dot */
		size_t n_fqdns;
	} sel[2]; /* 0: source, 1: destination */
};

struct flow_filter_set {
	struct filter *allow, *deny;
	size_t n_allow, n_deny;
};

static void free_strs(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void filter_free(struct filter *f)
{
	free(f->src_ip);
	free(f->dst_ip);
	free(f->src_port);
	free(f->dst_port);
	free(f->tcp_flags);
	free_strs(f->node_names, f->n_node_names);
	free_strs(f->graph_nodes, f->n_graph_nodes);
	free_strs(f->graph_edges, f->n_graph_edges);
	for (int s = 0; s < 2; s++) {
		struct side_sel *x = &f->sel[s];

		free_strs(x->pods, x->n_pods);
		free_strs(x->services, x->n_services);
		free_strs(x->labels, x->n_labels);
		free_strs(x->fqdns, x->n_fqdns);
	}
}

/* "k8s:app=web" and "app=web" are the same label here. */
static const char *label_key_start(const char *l)
{
	const char *colon = strchr(l, ':'), *eq = strchr(l, '=');

	return colon && (!eq || colon < eq) ? colon + 1 : l;
}

static bool has_label(const struct identity *id, const char *key, size_t klen, const char *val)
{
	size_t i;

	for (i = 0; i < id->n_labels; i++) {
		const char *l = label_key_start(id->labels[i]);
		const char *eq = strchr(l, '=');
		size_t lk = eq ? (size_t)(eq - l) : strlen(l);

		if (lk != klen || strncmp(l, key, klen))
			continue;
		if (!val || (eq && !strcmp(eq + 1, val)) || (!eq && !*val))
			return true;
	}
	return false;
}

/* A label selector: comma-separated terms, all of which must hold. */
static bool selector_match(const char *sel, const struct identity *id)
{
	char term[256];
	const char *p = sel;

	while (*p) {
		size_t n = strcspn(p, ",");
		char *ne, *eq;
		const char *t;
		bool neg = false;

		if (n >= sizeof(term))
			return false;
		memcpy(term, p, n);
		term[n] = '\0';
		p += n + (p[n] == ',');
		t = label_key_start(term);
		if (*t == '!') {
			neg = true;
			t++;
		}
		ne = strstr(t, "!=");
		eq = strchr(t, '=');
		if (ne) {
			if (has_label(id, t, (size_t)(ne - t), ne + 2))
				return false;
		} else if (eq) {
			if (!has_label(id, t, (size_t)(eq - t), eq + 1))
				return false;
		} else if (has_label(id, t, strlen(t), NULL) == neg) {
			return false;
		}
	}
	return true;
}

static bool pod_match(const char *sel, const struct identity *id, bool service)
{
	const char *slash = strchr(sel, '/');
	const char *name = slash ? slash + 1 : sel;

	if (slash && (strlen(id->ns) != (size_t)(slash - sel) ||
		      strncmp(id->ns, sel, (size_t)(slash - sel))))
		return false;
	if (service)
		return id->service[0] && (!*name || !strcmp(id->service, name));
	/* Pods match by prefix, as in Hubble ("web" matches "web-7d9f"). */
	return !*name || (id->pod[0] && !strncmp(id->pod, name, strlen(name)));
}

static bool side_match(const struct side_sel *x, const struct flow *f,
		       const struct flow_endpoint *ep, const char *name)
{
	const struct identity *id = NULL;
	size_t i;
	bool any;

	if (x->n_pods || x->n_services || x->n_labels) {
		id = identities_lookup(f->family, ep->addr);
		if (!id)
			return false;
	}
	for (i = 0, any = !x->n_pods; i < x->n_pods && !any; i++)
		any = pod_match(x->pods[i], id, false);
	if (!any)
		return false;
	for (i = 0, any = !x->n_services; i < x->n_services && !any; i++)
		any = pod_match(x->services[i], id, true);
	if (!any)
		return false;
	for (i = 0, any = !x->n_labels; i < x->n_labels && !any; i++)
		any = selector_match(x->labels[i], id);
	if (!any)
		return false;
	for (i = 0, any = !x->n_fqdns; i < x->n_fqdns && !any; i++)
		any = name && !fnmatch(x->fqdns[i], name, 0);
	return any;
}

void flow_filter_set_free(struct flow_filter_set *fs)
{
	size_t i;

	if (!fs)
		return;
	for (i = 0; i < fs->n_allow; i++)
		filter_free(&fs->allow[i]);
	for (i = 0; i < fs->n_deny; i++)
		filter_free(&fs->deny[i]);
	free(fs->allow);
	free(fs->deny);
	free(fs);
}

static bool cidr_match(const struct cidr *c, size_t n, const uint8_t *addr, uint8_t family)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cidr_contains(&c[i], family, addr))
			return true;
	return false;
}

static bool port_match(const struct port_range *p, size_t n, uint16_t port)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (port >= p[i].lo && port <= p[i].hi)
			return true;
	return false;
}

static unsigned int proto_bit(const struct flow *f)
{
	switch (f->proto) {
	case IPPROTO_TCP:
		return FILTER_P_TCP;
	case IPPROTO_UDP:
		return FILTER_P_UDP;
	case IPPROTO_ICMP:
		return FILTER_P_ICMP4;
	case IPPROTO_ICMPV6:
		return FILTER_P_ICMP6;
	case IPPROTO_SCTP:
		return FILTER_P_SCTP;
	}
	return 0;
}

static bool has_ports(const struct flow *f)
{
	return f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP;
}

static bool any_str(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

/* Service-graph selections: a node at either end, or the client -> server edge. */
static bool graph_match(const struct filter *flt, const struct flow *f)
{
	char a[300], b[300], e[620];

	graph_node_id(f, 0, a, sizeof(a), NULL, 0, NULL, 0);
	graph_node_id(f, 1, b, sizeof(b), NULL, 0, NULL, 0);
	if (flt->n_graph_nodes && !any_str(flt->graph_nodes, flt->n_graph_nodes, a) &&
	    !any_str(flt->graph_nodes, flt->n_graph_nodes, b))
		return false;
	snprintf(e, sizeof(e), "e:%s>%s", a, b);
	return !flt->n_graph_edges || any_str(flt->graph_edges, flt->n_graph_edges, e);
}

static bool filter_match(const struct filter *flt, const struct flow *f, const char *node_name)
{
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;
	/* flow.TrafficDirection: INGRESS = 1, EGRESS = 2 (the initiator's direction). */
	unsigned int dir = f->traffic_dir == FLOW_TC_INGRESS ? 1 : 2;
	size_t i;

	if (!side_match(&flt->sel[0], f, src, f->is_reply ? f->dst_name : f->src_name) ||
	    !side_match(&flt->sel[1], f, dst, f->is_reply ? f->src_name : f->dst_name))
		return false;
	if (flt->n_src_ip && !cidr_match(flt->src_ip, flt->n_src_ip, src->addr, f->family))
		return false;
	if (flt->n_dst_ip && !cidr_match(flt->dst_ip, flt->n_dst_ip, dst->addr, f->family))
		return false;
	if (flt->n_src_port &&
	    (!has_ports(f) || !port_match(flt->src_port, flt->n_src_port, src->port)))
		return false;
	if (flt->n_dst_port &&
	    (!has_ports(f) || !port_match(flt->dst_port, flt->n_dst_port, dst->port)))
		return false;
	if (flt->protocols && !(flt->protocols & proto_bit(f)))
		return false;
	if (flt->verdicts && !(flt->verdicts & (1u << f->verdict)))
		return false;
	if (flt->directions && !(flt->directions & (1u << dir)))
		return false;
	if (flt->ip_versions && !(flt->ip_versions & (1u << (f->family == 6 ? 2 : 1))))
		return false;
	if (flt->replies && !(flt->replies & (1u << (f->is_reply ? 1 : 0))))
		return false;
	if (flt->n_tcp_flags) {
		bool any = false;

		if (f->proto != IPPROTO_TCP)
			return false;
		for (i = 0; i < flt->n_tcp_flags && !any; i++)
			any = (f->tcp_flags & flt->tcp_flags[i]) == flt->tcp_flags[i];
		if (!any)
			return false;
	}
	if (flt->n_node_names) {
		bool any = false;

		for (i = 0; i < flt->n_node_names && !any; i++)
			any = !fnmatch(flt->node_names[i], node_name, 0);
		if (!any)
			return false;
	}
	return (!flt->n_graph_nodes && !flt->n_graph_edges) || graph_match(flt, f);
}

bool flow_filter_set_match(const struct flow_filter_set *fs, const struct flow *f,
			   const char *node_name)
{
	size_t i;
	bool allowed;

	if (!fs)
		return true;
	allowed = fs->n_allow == 0;
	for (i = 0; i < fs->n_allow && !allowed; i++)
		allowed = filter_match(&fs->allow[i], f, node_name);
	if (!allowed)
		return false;
	for (i = 0; i < fs->n_deny; i++)
		if (filter_match(&fs->deny[i], f, node_name))
			return false;
	return true;
}

/* ---- compiling FlowFilter messages ------------------------------------------------------- */

/* An invalid value: e says which field and what to use. */
#define BAD(field, v, hint) errmsg_set(e, -EINVAL, "invalid %s '%s': %s", field, v, hint)

static int parse_ip(const char *s, void *out)
{
	return parse_cidr(s, out);
}

static int parse_port(const char *s, void *out)
{
	return filter_parse_port(s, out);
}

/* A repeated field's values parsed into an array of size-byte elements. */
static int compile_values(char **in, size_t n, size_t size, int (*parse)(const char *, void *),
			  void **out, size_t *nout, const char *field, const char *hint,
			  struct errmsg *e)
{
	size_t i;

	if (!n)
		return 0;
	*out = calloc(n, size);
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++)
		if (parse(in[i], (char *)*out + i * size))
			return BAD(field, in[i], hint);
	return 0;
}

#define COMPILE_IPS(in, n, out, nout, field)                                                       \
	compile_values(in, n, sizeof(struct cidr), parse_ip, (void **)(out), nout, field,          \
		       FILTER_HINT_IP, e)
#define COMPILE_PORTS(in, n, out, nout, field)                                                     \
	compile_values(in, n, sizeof(struct port_range), parse_port, (void **)(out), nout, field,  \
		       FILTER_HINT_PORT, e)

/* Copies selector strings; fqdn patterns are lower-cased and lose a final dot; node names
 * lose a "cluster/" prefix (Hubble names nodes "cluster/node"). */
enum sel_kind { SEL_PLAIN, SEL_FQDN, SEL_NODE };

static int copy_sel(char **in, size_t n, char ***out, size_t *nout, enum sel_kind kind,
		    const char *field, struct errmsg *e)
{
	size_t i, len, j;

	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++) {
		const char *v = in[i];

		len = strlen(v);
		if (!len || len > FILTER_MAX_SELECTOR)
			return BAD(field, v, FILTER_HINT_SELECTOR);
		if (kind == SEL_NODE && strchr(v, '/'))
			v = strchr(v, '/') + 1;
		(*out)[i] = strdup(v);
		if (!(*out)[i])
			return -ENOMEM;
		if (kind != SEL_FQDN)
			continue;
		for (j = 0; j < len; j++)
			(*out)[i][j] = (char)tolower((unsigned char)(*out)[i][j]);
		if (len > 1 && (*out)[i][len - 1] == '.')
			(*out)[i][len - 1] = '\0';
	}
	return 0;
}

static int compile_enums(const int *in, size_t n, unsigned int max, unsigned int *bits,
			 const char *field, struct errmsg *e)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned int)in[i] > max)
			return errmsg_set(e, -EINVAL, "invalid %s %d", field, in[i]);
		*bits |= 1u << in[i];
	}
	return 0;
}

static int compile_tcp_flags(Flow__TCPFlags *const *in, size_t n, struct filter *f,
			     struct errmsg *e)
{
	size_t i;

	if (!n)
		return 0;
	f->tcp_flags = calloc(n, sizeof(*f->tcp_flags));
	if (!f->tcp_flags)
		return -ENOMEM;
	f->n_tcp_flags = n;
	for (i = 0; i < n; i++) {
		const Flow__TCPFlags *t = in[i];
		uint16_t v = 0;

		v |= t->fin ? FLOW_TCP_FIN : 0;
		v |= t->syn ? FLOW_TCP_SYN : 0;
		v |= t->rst ? FLOW_TCP_RST : 0;
		v |= t->psh ? FLOW_TCP_PSH : 0;
		v |= t->ack ? FLOW_TCP_ACK : 0;
		v |= t->urg ? FLOW_TCP_URG : 0;
		v |= t->ece ? FLOW_TCP_ECE : 0;
		v |= t->cwr ? FLOW_TCP_CWR : 0;
		v |= t->ns ? FLOW_TCP_NS : 0;
		if (!v)
			return errmsg_set(e, -EINVAL,
					  "invalid tcp_flags filter: set at least one flag");
		f->tcp_flags[i] = v;
	}
	return 0;
}

static int compile_l3l4(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	size_t i;
	int r;

	r = COMPILE_IPS(m->source_ip, m->n_source_ip, &f->src_ip, &f->n_src_ip, "source_ip");
	r = r
		    ?: COMPILE_IPS(m->destination_ip, m->n_destination_ip, &f->dst_ip, &f->n_dst_ip,
				   "destination_ip");
	r = r
		    ?: COMPILE_PORTS(m->source_port, m->n_source_port, &f->src_port, &f->n_src_port,
				     "source_port");
	r = r
		    ?: COMPILE_PORTS(m->destination_port, m->n_destination_port, &f->dst_port,
				     &f->n_dst_port, "destination_port");
	for (i = 0; !r && i < m->n_protocol; i++)
		if (filter_parse_protocol(m->protocol[i], &f->protocols))
			r = BAD("protocol", m->protocol[i], FILTER_HINT_PROTOCOL);
	r = r
		    ?: compile_enums((const int *)m->verdict, m->n_verdict, 31, &f->verdicts,
				     "verdict", e);
	r = r
		    ?: compile_enums((const int *)m->traffic_direction, m->n_traffic_direction, 2,
				     &f->directions, "traffic_direction", e);
	r = r
		    ?: compile_enums((const int *)m->ip_version, m->n_ip_version, 2,
				     &f->ip_versions, "ip_version", e);
	for (i = 0; i < m->n_reply; i++)
		f->replies |= 1u << (m->reply[i] ? 1 : 0);
	return r ?: compile_tcp_flags(m->tcp_flags, m->n_tcp_flags, f, e);
}

static int compile_one(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	struct side_sel *s = &f->sel[0], *d = &f->sel[1];
	int r = compile_l3l4(m, f, e);

	r = r
		    ?: copy_sel(m->node_name, m->n_node_name, &f->node_names, &f->n_node_names,
				SEL_NODE, "node_name", e);
	r = r
		    ?: copy_sel(m->source_pod, m->n_source_pod, &s->pods, &s->n_pods, SEL_PLAIN,
				"source_pod", e);
	r = r
		    ?: copy_sel(m->destination_pod, m->n_destination_pod, &d->pods, &d->n_pods,
				SEL_PLAIN, "destination_pod", e);
	r = r
		    ?: copy_sel(m->source_service, m->n_source_service, &s->services,
				&s->n_services, SEL_PLAIN, "source_service", e);
	r = r
		    ?: copy_sel(m->destination_service, m->n_destination_service, &d->services,
				&d->n_services, SEL_PLAIN, "destination_service", e);
	r = r
		    ?: copy_sel(m->source_label, m->n_source_label, &s->labels, &s->n_labels,
				SEL_PLAIN, "source_label", e);
	r = r
		    ?: copy_sel(m->destination_label, m->n_destination_label, &d->labels,
				&d->n_labels, SEL_PLAIN, "destination_label", e);
	r = r
		    ?: copy_sel(m->source_fqdn, m->n_source_fqdn, &s->fqdns, &s->n_fqdns, SEL_FQDN,
				"source_fqdn", e);
	r = r
		    ?: copy_sel(m->destination_fqdn, m->n_destination_fqdn, &d->fqdns, &d->n_fqdns,
				SEL_FQDN, "destination_fqdn", e);
	r = r
		    ?: copy_sel(m->graph_node, m->n_graph_node, &f->graph_nodes, &f->n_graph_nodes,
				SEL_PLAIN, "graph_node", e);
	r = r
		    ?: copy_sel(m->graph_edge, m->n_graph_edge, &f->graph_edges, &f->n_graph_edges,
				SEL_PLAIN, "graph_edge", e);
	return r;
}

static int compile_list(Flow__FlowFilter *const *in, size_t n, struct filter **out, size_t *nout,
			struct errmsg *e)
{
	size_t i;
	int r;

	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++) {
		r = compile_one(in[i], &(*out)[i], e);
		if (r)
			return r;
	}
	return 0;
}

struct flow_filter_set *flow_filter_set_new(Flow__FlowFilter *const *allow, size_t n_allow,
					    Flow__FlowFilter *const *deny, size_t n_deny,
					    struct errmsg *e)
{
	struct flow_filter_set *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs) {
		errmsg_set(e, -ENOMEM, "out of memory for the filters");
		return NULL;
	}
	r = compile_list(allow, n_allow, &fs->allow, &fs->n_allow, e);
	r = r ?: compile_list(deny, n_deny, &fs->deny, &fs->n_deny, e);
	if (r) {
		if (r == -ENOMEM)
			errmsg_set(e, r, "out of memory for the filters");
		flow_filter_set_free(fs);
		errno = -r;
		return NULL;
	}
	return fs;
}

int flow_filter_set_from_req(struct filter_req *r, struct flow_filter_set **out, struct errmsg *e)
{
	Flow__FlowFilter *a[2], *d[2];
	size_t na = filter_req_filters(r, false, a), nd = filter_req_filters(r, true, d);

	*out = NULL;
	if (!na && !nd)
		return 0;
	*out = flow_filter_set_new(a, na, d, nd, e);
	return *out ? 0 : -errno;
}
