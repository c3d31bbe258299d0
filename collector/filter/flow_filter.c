/* Hubble FlowFilter semantics compiled into plain structs and matched against collector flows
 * (see include/flowscope/filter/flow_filter.h). Values are checked with the filter language's
 * own checks, so a gRPC client's filter and a flowctl flag mean the same. Everything a match
 * needs is prepared here (addresses parsed, label selectors split, regular expressions
 * compiled), so that matching allocates nothing. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/base/parse.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/graph/graph.h"
#include "flowscope/pipeline/flow_view.h"

/* One term of a label selector: "k=v", "k!=v", "k", "!k"; a source prefix ("k8s:") is dropped
 * from the key, as from the labels it is compared with. */
enum term_op { TERM_EQ, TERM_NE, TERM_EXISTS, TERM_ABSENT, TERM_NEVER };

struct term {
	enum term_op op;
	const char *key, *val; /* into the selector's buf */
	size_t klen;
};

/* A label selector: comma-separated terms, all of which must hold. */
struct selector {
	struct term *terms;
	size_t n;
	char *buf;
};

struct workload_sel {
	char *name, *kind; /* "" matches any */
};

struct type_sel {
	int32_t type; /* 0: any */
	bool match_sub;
	int32_t sub;
};

struct iface_sel {
	uint32_t index;		/* 0: any */
	char name[IF_NAMESIZE]; /* "": any */
};

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
	struct selector *node_labels;
	size_t n_node_labels;
	char **graph_nodes, **graph_edges; /* service-graph ids */
	size_t n_graph_nodes, n_graph_edges;
	struct type_sel *types;
	size_t n_types;
	int32_t *drop_reasons; /* flow.DropReason */
	size_t n_drop_reasons;
	struct iface_sel *ifaces;
	size_t n_ifaces;
	uint8_t (*uuids)[16];
	size_t n_uuids;
	regex_t *dns; /* on the DNS query, as Hubble shows it (with its final dot) */
	size_t n_dns;
	/* A field no Flowscope flow has a value for that could match (HTTP, trace ids, NAT,
	 * cluster names, encryption): the filter matches nothing. */
	bool nothing;
	/* Identity (identity file in force), DNS-name and local-process selectors, per side.
	 * Each list matches if any of its entries does. */
	struct side_sel {
		char **pods; /* "[namespace/]pod-prefix" */
		size_t n_pods;
		char **services; /* "[namespace/]name" */
		size_t n_services;
		struct selector *labels;
		size_t n_labels;
		char **fqdns; /* name patterns with * wildcards, lower case, no final dot */
		size_t n_fqdns;
		uint32_t *identities; /* numeric */
		size_t n_identities;
		struct workload_sel *workloads;
		size_t n_workloads;
		char **procs; /* fnmatch patterns on the process name */
		size_t n_procs;
		char **containers; /* container id prefixes; "host": a process in none */
		size_t n_containers;
	} sel[2]; /* 0: source, 1: destination */
};

struct flow_filter_set {
	struct filter *allow, *deny;
	size_t n_allow, n_deny;
	/* Copies of the FlowFilters compiled, for who translates them elsewhere (SQL). */
	Flow__FlowFilter **src_allow, **src_deny;
};

static void free_strs(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_selectors(struct selector *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].terms);
		free(v[i].buf);
	}
	free(v);
}

static void free_side(struct side_sel *x)
{
	size_t i;

	free_strs(x->pods, x->n_pods);
	free_strs(x->services, x->n_services);
	free_selectors(x->labels, x->n_labels);
	free_strs(x->fqdns, x->n_fqdns);
	free(x->identities);
	for (i = 0; x->workloads && i < x->n_workloads; i++) {
		free(x->workloads[i].name);
		free(x->workloads[i].kind);
	}
	free(x->workloads);
	free_strs(x->procs, x->n_procs);
	free_strs(x->containers, x->n_containers);
}

static void filter_free(struct filter *f)
{
	size_t i;

	free(f->src_ip);
	free(f->dst_ip);
	free(f->src_port);
	free(f->dst_port);
	free(f->tcp_flags);
	free_strs(f->node_names, f->n_node_names);
	free_selectors(f->node_labels, f->n_node_labels);
	free_strs(f->graph_nodes, f->n_graph_nodes);
	free_strs(f->graph_edges, f->n_graph_edges);
	free(f->types);
	free(f->drop_reasons);
	free(f->ifaces);
	free(f->uuids);
	for (i = 0; i < f->n_dns; i++)
		regfree(&f->dns[i]);
	free(f->dns);
	free_side(&f->sel[0]);
	free_side(&f->sel[1]);
}

static void free_sources(Flow__FlowFilter **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (v[i])
			flow__flow_filter__free_unpacked(v[i], NULL);
	free(v);
}

/* Copies of n filters (packed and unpacked again: a deep copy protobuf-c does not offer). */
static int copy_sources(Flow__FlowFilter *const *in, size_t n, Flow__FlowFilter ***out)
{
	uint8_t *tmp;

	*out = n ? calloc(n, sizeof(**out)) : NULL;
	if (n && !*out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = flow__flow_filter__get_packed_size(in[i]);

		tmp = malloc(len ? len : 1);
		if (!tmp)
			return -ENOMEM;
		flow__flow_filter__pack(in[i], tmp);
		(*out)[i] = flow__flow_filter__unpack(NULL, len, tmp);
		free(tmp);
		if (!(*out)[i])
			return -ENOMEM;
	}
	return 0;
}

void flow_filter_set_sources(const struct flow_filter_set *fs, Flow__FlowFilter *const **allow,
			     size_t *n_allow, Flow__FlowFilter *const **deny, size_t *n_deny)
{
	*allow = fs ? fs->src_allow : NULL;
	*n_allow = fs ? fs->n_allow : 0;
	*deny = fs ? fs->src_deny : NULL;
	*n_deny = fs ? fs->n_deny : 0;
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
	free_sources(fs->src_allow, fs->n_allow);
	free_sources(fs->src_deny, fs->n_deny);
	free(fs->allow);
	free(fs->deny);
	free(fs);
}

/* ---- matching ------------------------------------------------------------------------------- */

/* "k8s:app=web" and "app=web" are the same label here. */
static const char *label_key_start(const char *l)
{
	const char *colon = strchr(l, ':'), *eq = strchr(l, '=');

	return colon && (!eq || colon < eq) ? colon + 1 : l;
}

/* Has a label with t's key (and, when val is not NULL, that value)? */
static bool has_label(char *const *labels, size_t n, const struct term *t, const char *val)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *l = label_key_start(labels[i]);
		const char *eq = strchr(l, '=');
		size_t lk = eq ? (size_t)(eq - l) : strlen(l);

		if (lk != t->klen || strncmp(l, t->key, lk))
			continue;
		if (!val || (eq && !strcmp(eq + 1, val)) || (!eq && !*val))
			return true;
	}
	return false;
}

static bool selector_match(const struct selector *s, char *const *labels, size_t n)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct term *t = &s->terms[i];

		switch (t->op) {
		case TERM_EQ:
			if (!has_label(labels, n, t, t->val))
				return false;
			break;
		case TERM_NE:
			if (has_label(labels, n, t, t->val))
				return false;
			break;
		case TERM_EXISTS:
			if (!has_label(labels, n, t, NULL))
				return false;
			break;
		case TERM_ABSENT:
			if (has_label(labels, n, t, NULL))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

static bool any_selector(const struct selector *v, size_t n, char *const *labels, size_t nl)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (selector_match(&v[i], labels, nl))
			return true;
	return false;
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

/* Hubble's workload filter: a workload of the endpoint with that name and kind (either may be
 * empty: any). The identity file gives an endpoint at most one workload. */
static bool workload_match(const struct workload_sel *v, size_t n, const struct identity *id)
{
	size_t i;

	if (!id->workload[0])
		return false;
	for (i = 0; i < n; i++)
		if ((!v[i].name[0] || !strcmp(v[i].name, id->workload)) &&
		    (!v[i].kind[0] || !strcmp(v[i].kind, id->workload_kind)))
			return true;
	return false;
}

static bool identity_side_match(const struct side_sel *x, const struct identity *id)
{
	size_t i;
	bool any;

	for (i = 0, any = !x->n_pods; i < x->n_pods && !any; i++)
		any = pod_match(x->pods[i], id, false);
	if (!any)
		return false;
	for (i = 0, any = !x->n_services; i < x->n_services && !any; i++)
		any = pod_match(x->services[i], id, true);
	if (!any)
		return false;
	if (x->n_labels && !any_selector(x->labels, x->n_labels, id->labels, id->n_labels))
		return false;
	return !x->n_workloads || workload_match(x->workloads, x->n_workloads, id);
}

static bool process_match(const struct side_sel *x, const struct flow_process *p)
{
	size_t i;
	bool any;

	for (i = 0, any = !x->n_procs; i < x->n_procs && !any; i++)
		any = flow_proc_known(p) && !fnmatch(x->procs[i], p->comm, 0);
	if (!any)
		return false;
	for (i = 0, any = !x->n_containers; i < x->n_containers && !any; i++) {
		const char *c = x->containers[i];

		if (!strcmp(c, "host"))
			any = flow_proc_known(p) && !p->container_id;
		else
			any = flow_proc_known(p) && p->container_id &&
			      !strncmp(p->container_id, c, strlen(c));
	}
	return any;
}

static bool side_match(const struct side_sel *x, const struct flow *f,
		       const struct flow_endpoint *ep, const char *name,
		       const struct flow_process *proc)
{
	size_t i;
	bool any;

	if (x->n_pods || x->n_services || x->n_labels || x->n_workloads) {
		const struct identity *id = identities_of(f, ep);

		if (!id || !identity_side_match(x, id))
			return false;
	}
	if (x->n_identities) {
		uint32_t num = identities_numeric_of(f, ep);

		for (i = 0, any = false; i < x->n_identities && !any; i++)
			any = x->identities[i] == num;
		if (!any)
			return false;
	}
	if ((x->n_procs || x->n_containers) && !process_match(x, proc))
		return false;
	for (i = 0, any = !x->n_fqdns; i < x->n_fqdns && !any; i++)
		any = name && !fnmatch(x->fqdns[i], name, 0);
	return any;
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

static bool l3l4_match(const struct filter *flt, const struct flow *f,
		       const struct flow_endpoint *src, const struct flow_endpoint *dst)
{
	/* flow.TrafficDirection: INGRESS = 1, EGRESS = 2 (the initiator's direction). */
	unsigned int dir = f->traffic_dir == FLOW_TC_INGRESS ? 1 : 2;
	size_t i;
	bool any;

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
	if (!flt->n_tcp_flags)
		return true;
	if (f->proto != IPPROTO_TCP)
		return false;
	for (i = 0, any = false; i < flt->n_tcp_flags && !any; i++)
		any = (f->tcp_flags & flt->tcp_flags[i]) == flt->tcp_flags[i];
	return any;
}

/* The DNS query as Hubble shows it: fully qualified, with its final dot. */
static bool dns_match(const struct filter *flt, const struct flow *f)
{
	char q[300];
	size_t i;

	if (!f->dns.present || !f->dns.query)
		return false;
	snprintf(q, sizeof(q), "%s%s", f->dns.query, strcmp(f->dns.query, ".") ? "." : "");
	for (i = 0; i < flt->n_dns; i++)
		if (!regexec(&flt->dns[i], q, 0, NULL, 0))
			return true;
	return false;
}

static bool iface_match(const struct filter *flt, const struct flow *f)
{
	size_t i;

	if (!f->ifindex && !f->ifname[0])
		return false;
	for (i = 0; i < flt->n_ifaces; i++)
		if ((!flt->ifaces[i].index || flt->ifaces[i].index == f->ifindex) &&
		    (!flt->ifaces[i].name[0] || !strcmp(flt->ifaces[i].name, f->ifname)))
			return true;
	return false;
}

/* What the event is (Hubble's event type and sub type, drop reason), where it was seen, its
 * uuid and DNS query. */
static bool event_match(const struct filter *flt, const struct flow *f)
{
	size_t i;
	bool any;

	if (flt->n_types) {
		int32_t type, sub;

		flow_event_type(f, &type, &sub);
		for (i = 0, any = false; i < flt->n_types && !any; i++)
			any = (!flt->types[i].type || flt->types[i].type == type) &&
			      (!flt->types[i].match_sub || flt->types[i].sub == sub);
		if (!any)
			return false;
	}
	if (flt->n_drop_reasons) {
		int32_t code = flow_drop_code(f);

		if (f->verdict != FLOW_VERDICT_DROPPED)
			return false;
		for (i = 0, any = false; i < flt->n_drop_reasons && !any; i++)
			any = flt->drop_reasons[i] == code;
		if (!any)
			return false;
	}
	if (flt->n_ifaces && !iface_match(flt, f))
		return false;
	if (flt->n_uuids) {
		for (i = 0, any = false; i < flt->n_uuids && !any; i++)
			any = !memcmp(flt->uuids[i], f->uuid, 16);
		if (!any)
			return false;
	}
	return !flt->n_dns || dns_match(flt, f);
}

/* The node a flow is of: the one it came from (relayed flows), else the one matching it. */
static bool node_match(const struct filter *flt, const struct flow *f,
		       const struct filter_node *node)
{
	const char *name = f->origin ? f->origin->name : node ? node->name : NULL;
	char *const *labels = f->origin ? f->origin->labels : node ? node->labels : NULL;
	size_t n_labels = f->origin ? f->origin->n_labels : node ? node->n_labels : 0, i;
	bool any;

	for (i = 0, any = !flt->n_node_names; i < flt->n_node_names && !any; i++)
		any = !fnmatch(flt->node_names[i], name ? name : "", 0);
	if (!any)
		return false;
	return !flt->n_node_labels ||
	       any_selector(flt->node_labels, flt->n_node_labels, labels, n_labels);
}

static bool filter_match(const struct filter *flt, const struct flow *f,
			 const struct filter_node *node)
{
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;

	if (flt->nothing || !node_match(flt, f, node) || !l3l4_match(flt, f, src, dst) ||
	    !event_match(flt, f))
		return false;
	if (!side_match(&flt->sel[0], f, src, f->is_reply ? f->dst_name : f->src_name,
			f->is_reply ? f->dst_proc : f->src_proc) ||
	    !side_match(&flt->sel[1], f, dst, f->is_reply ? f->src_name : f->dst_name,
			f->is_reply ? f->src_proc : f->dst_proc))
		return false;
	return (!flt->n_graph_nodes && !flt->n_graph_edges) || graph_match(flt, f);
}

bool flow_filter_set_match(const struct flow_filter_set *fs, const struct flow *f,
			   const struct filter_node *node)
{
	size_t i;
	bool allowed;

	if (!fs)
		return true;
	allowed = fs->n_allow == 0;
	for (i = 0; i < fs->n_allow && !allowed; i++)
		allowed = filter_match(&fs->allow[i], f, node);
	if (!allowed)
		return false;
	for (i = 0; i < fs->n_deny; i++)
		if (filter_match(&fs->deny[i], f, node))
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

/* Fields of a message that Flowscope's protos do not have (a newer client's): refused, since
 * ignoring them would hand the client flows it did not ask for. */
static int refuse_unknown(const ProtobufCMessage *m, const char *what, struct errmsg *e)
{
	char nums[160];
	size_t i, o = 0;

	if (!m || !m->n_unknown_fields)
		return 0;
	nums[0] = '\0';
	for (i = 0; i < m->n_unknown_fields && o < sizeof(nums); i++)
		o += (size_t)snprintf(nums + o, sizeof(nums) - o, "%s%u", i ? ", " : "",
				      m->unknown_fields[i].tag);
	return errmsg_set(e, -EINVAL,
			  "%s has field number %s, which Flowscope does not know and cannot apply; "
			  "remove it or use a flowd that knows it",
			  what, nums);
}

static int refuse_unknown_each(void *const *v, size_t n, const char *what, struct errmsg *e)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n && !r; i++)
		r = refuse_unknown(v[i], what, e);
	return r;
}

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

/* One term in place: "k=v", "k!=v", "k", "!k", a source prefix ("k8s:") dropped. */
static void term_parse(char *t, struct term *out)
{
	bool neg = *t == '!';
	char *ne, *eq;

	t = (char *)label_key_start(t + neg);
	if (!neg && *t == '!') {
		neg = true;
		t++;
	}
	ne = strstr(t, "!=");
	eq = strchr(t, '=');
	out->op = neg ? TERM_ABSENT : TERM_EXISTS;
	if (ne) {
		*ne = '\0';
		out->op = TERM_NE;
		out->val = ne + 2;
	} else if (eq) {
		*eq = '\0';
		out->op = TERM_EQ;
		out->val = eq + 1;
	}
	out->key = t;
	out->klen = strlen(t);
	if (!out->klen)
		out->op = TERM_NEVER; /* no label has an empty key */
}

/* Splits a selector into its terms; a comma at the end is allowed, an empty term elsewhere
 * matches nothing. */
static int selector_compile(const char *v, struct selector *s)
{
	size_t n = 1;
	char *t, *p;
	bool last;

	for (p = (char *)v; *p; p++)
		n += *p == ',';
	s->buf = strdup(v);
	s->terms = calloc(n, sizeof(*s->terms));
	if (!s->buf || !s->terms)
		return -ENOMEM;
	for (t = s->buf;; t = p + 1) {
		p = t + strcspn(t, ",");
		last = !*p;
		*p = '\0';
		if (!last || *t || t == s->buf)
			term_parse(t, &s->terms[s->n++]);
		if (last)
			return 0;
	}
}

static int compile_selectors(char **in, size_t n, struct selector **out, size_t *nout,
			     const char *field, struct errmsg *e)
{
	size_t i, len;

	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++) {
		len = strlen(in[i]);
		if (!len || len > FILTER_MAX_SELECTOR)
			return BAD(field, in[i], FILTER_HINT_SELECTOR);
		if (selector_compile(in[i], &(*out)[i]))
			return -ENOMEM;
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
	int r;

	if (!n)
		return 0;
	if ((r = refuse_unknown_each((void *const *)in, n, "FlowFilter.tcp_flags", e)))
		return r;
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

/* One side's selections, from the FlowFilter fields named prefix_X. */
struct side_in {
	const char *prefix; /* "source", "destination" */
	char **pod, **service, **label, **fqdn, **process, **container;
	size_t n_pod, n_service, n_label, n_fqdn, n_process, n_container;
	uint32_t *identity;
	size_t n_identity;
	Flow__Workload **workload;
	size_t n_workload;
};

static const char *field_name(char *buf, size_t len, const char *prefix, const char *field)
{
	snprintf(buf, len, "%s_%s", prefix, field);
	return buf;
}

static int compile_workloads(const struct side_in *in, struct side_sel *x, struct errmsg *e)
{
	char name[64];
	size_t i;
	int r;

	if (!in->n_workload)
		return 0;
	field_name(name, sizeof(name), in->prefix, "workload");
	if ((r = refuse_unknown_each((void *const *)in->workload, in->n_workload, name, e)))
		return r;
	x->workloads = calloc(in->n_workload, sizeof(*x->workloads));
	if (!x->workloads)
		return -ENOMEM;
	x->n_workloads = in->n_workload;
	for (i = 0; i < in->n_workload; i++) {
		x->workloads[i].name = strdup(in->workload[i]->name ? in->workload[i]->name : "");
		x->workloads[i].kind = strdup(in->workload[i]->kind ? in->workload[i]->kind : "");
		if (!x->workloads[i].name || !x->workloads[i].kind)
			return -ENOMEM;
	}
	return 0;
}

static int compile_side(const struct side_in *in, struct side_sel *x, struct errmsg *e)
{
	const char *p = in->prefix;
	char n[64];
	int r;

	r = copy_sel(in->pod, in->n_pod, &x->pods, &x->n_pods, SEL_PLAIN,
		     field_name(n, sizeof(n), p, "pod"), e);
	r = r
		    ?: copy_sel(in->service, in->n_service, &x->services, &x->n_services, SEL_PLAIN,
				field_name(n, sizeof(n), p, "service"), e);
	r = r
		    ?: compile_selectors(in->label, in->n_label, &x->labels, &x->n_labels,
					 field_name(n, sizeof(n), p, "label"), e);
	r = r
		    ?: copy_sel(in->fqdn, in->n_fqdn, &x->fqdns, &x->n_fqdns, SEL_FQDN,
				field_name(n, sizeof(n), p, "fqdn"), e);
	r = r
		    ?: copy_sel(in->process, in->n_process, &x->procs, &x->n_procs, SEL_PLAIN,
				field_name(n, sizeof(n), p, "process"), e);
	r = r
		    ?: copy_sel(in->container, in->n_container, &x->containers, &x->n_containers,
				SEL_PLAIN, field_name(n, sizeof(n), p, "container"), e);
	if (!r && in->n_identity) {
		x->identities = malloc(in->n_identity * sizeof(*x->identities));
		if (!x->identities)
			return -ENOMEM;
		memcpy(x->identities, in->identity, in->n_identity * sizeof(*x->identities));
		x->n_identities = in->n_identity;
	}
	return r ?: compile_workloads(in, x, e);
}

/* The FlowFilter fields of one side (source_pod, ...) */
#define SIDE_IN(p)                                                                                 \
	{                                                                                          \
		.prefix = #p, .pod = m->p##_pod, .n_pod = m->n_##p##_pod,                          \
		.service = m->p##_service, .n_service = m->n_##p##_service, .label = m->p##_label, \
		.n_label = m->n_##p##_label, .fqdn = m->p##_fqdn, .n_fqdn = m->n_##p##_fqdn,       \
		.process = m->p##_process, .n_process = m->n_##p##_process,                        \
		.container = m->p##_container, .n_container = m->n_##p##_container,                \
		.identity = m->p##_identity, .n_identity = m->n_##p##_identity,                    \
		.workload = m->p##_workload, .n_workload = m->n_##p##_workload,                    \
	}

static int compile_sides(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	const struct side_in src = SIDE_IN(source), dst = SIDE_IN(destination);

	return compile_side(&src, &f->sel[0], e) ?: compile_side(&dst, &f->sel[1], e);
}

static int compile_types(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	size_t i;
	int r;

	if (!m->n_event_type)
		return 0;
	r = refuse_unknown_each((void *const *)m->event_type, m->n_event_type,
				"FlowFilter.event_type", e);
	if (r)
		return r;
	f->types = calloc(m->n_event_type, sizeof(*f->types));
	if (!f->types)
		return -ENOMEM;
	f->n_types = m->n_event_type;
	for (i = 0; i < m->n_event_type; i++) {
		f->types[i].type = m->event_type[i]->type;
		f->types[i].match_sub = m->event_type[i]->match_sub_type;
		f->types[i].sub = m->event_type[i]->sub_type;
	}
	return 0;
}

static int compile_drop_reasons(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	size_t i;

	if (!m->n_drop_reason_desc)
		return 0;
	f->drop_reasons = calloc(m->n_drop_reason_desc, sizeof(*f->drop_reasons));
	if (!f->drop_reasons)
		return -ENOMEM;
	f->n_drop_reasons = m->n_drop_reason_desc;
	for (i = 0; i < m->n_drop_reason_desc; i++) {
		if (!protobuf_c_enum_descriptor_get_value(&flow__drop_reason__descriptor,
							  (int)m->drop_reason_desc[i]))
			return errmsg_set(e, -EINVAL, "invalid drop_reason_desc %d: %s",
					  (int)m->drop_reason_desc[i], FILTER_HINT_DROP_REASON);
		f->drop_reasons[i] = (int32_t)m->drop_reason_desc[i];
	}
	return 0;
}

static int compile_ifaces(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	size_t i;
	int r;

	if (!m->n_interface)
		return 0;
	r = refuse_unknown_each((void *const *)m->interface, m->n_interface, "FlowFilter.interface",
				e);
	if (r)
		return r;
	f->ifaces = calloc(m->n_interface, sizeof(*f->ifaces));
	if (!f->ifaces)
		return -ENOMEM;
	f->n_ifaces = m->n_interface;
	for (i = 0; i < m->n_interface; i++) {
		const char *name = m->interface[i]->name ? m->interface[i]->name : "";

		if (strlen(name) >= IF_NAMESIZE)
			return BAD("interface name", name, FILTER_HINT_INTERFACE);
		f->ifaces[i].index = m->interface[i]->index;
		snprintf(f->ifaces[i].name, sizeof(f->ifaces[i].name), "%s", name);
	}
	return 0;
}

static int compile_uuids_and_dns(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	char why[128];
	size_t i;

	if (m->n_uuid && !(f->uuids = calloc(m->n_uuid, sizeof(*f->uuids))))
		return -ENOMEM;
	f->n_uuids = m->n_uuid;
	for (i = 0; i < m->n_uuid; i++)
		if (flow_uuid_parse(m->uuid[i], f->uuids[i]))
			return BAD("uuid", m->uuid[i], FILTER_HINT_UUID);
	if (m->n_dns_query && !(f->dns = calloc(m->n_dns_query, sizeof(*f->dns))))
		return -ENOMEM;
	for (i = 0; i < m->n_dns_query; i++, f->n_dns++)
		if (filter_parse_regex(m->dns_query[i], &f->dns[i], why, sizeof(why)))
			return errmsg_set(e, -EINVAL, "invalid dns_query '%s': %s; %s",
					  m->dns_query[i], why, FILTER_HINT_REGEX);
	return 0;
}

/* HTTP fields: checked as Hubble checks them, then matching nothing (no flow has HTTP). */
static int compile_http(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	const char *const names[] = {"http_status_code", "http_method", "http_path", "http_url",
				     "http_header"};
	const size_t counts[] = {m->n_http_status_code, m->n_http_method, m->n_http_path,
				 m->n_http_url, m->n_http_header};
	bool l7 = !m->n_event_type;
	char why[128];
	size_t i, k;

	for (i = 0; i < m->n_event_type && !l7; i++)
		l7 = m->event_type[i]->type == FLOW_MSG_L7;
	for (k = 0; k < 5; k++) {
		if (counts[k] && !l7)
			return errmsg_set(
				e, -EINVAL,
				"filtering by %s requires the event type filter to match 'l7' events: add type l7 (129) or remove the event type",
				names[k]);
		f->nothing |= counts[k] > 0;
	}
	for (i = 0; i < m->n_http_status_code; i++)
		if (filter_parse_http_status(m->http_status_code[i]))
			return BAD("http_status_code", m->http_status_code[i],
				   FILTER_HINT_HTTP_STATUS);
	for (i = 0; i < m->n_http_path + m->n_http_url; i++) {
		bool path = i < m->n_http_path;
		const char *v = path ? m->http_path[i] : m->http_url[i - m->n_http_path];

		if (filter_parse_regex(v, NULL, why, sizeof(why)))
			return errmsg_set(e, -EINVAL, "invalid %s '%s': %s; %s",
					  path ? "http_path" : "http_url", v, why,
					  FILTER_HINT_REGEX);
	}
	return refuse_unknown_each((void *const *)m->http_header, m->n_http_header,
				   "FlowFilter.http_header", e);
}

/* What Flowscope flows never have, as a Hubble flow without it: no translated source address,
 * no cluster name, no trace context (trace id ""), no IP trace id, never encrypted. */
static int compile_absent(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	struct cidr c;
	size_t i;
	bool any;

	for (i = 0; i < m->n_source_ip_xlated; i++)
		if (parse_cidr(m->source_ip_xlated[i], &c))
			return BAD("source_ip_xlated", m->source_ip_xlated[i], FILTER_HINT_IP);
	for (i = 0; i < m->n_source_cluster_name + m->n_destination_cluster_name; i++)
		if (!*(i < m->n_source_cluster_name
			       ? m->source_cluster_name[i]
			       : m->destination_cluster_name[i - m->n_source_cluster_name]))
			return errmsg_set(e, -EINVAL,
					  "invalid %s_cluster_name '': give a cluster name",
					  i < m->n_source_cluster_name ? "source" : "destination");
	f->nothing |= m->n_source_ip_xlated || m->n_source_cluster_name ||
		      m->n_destination_cluster_name || m->n_ip_trace_id;
	for (i = 0, any = !m->n_trace_id; i < m->n_trace_id && !any; i++)
		any = !*m->trace_id[i];
	f->nothing |= !any;
	for (i = 0, any = !m->n_encrypted; i < m->n_encrypted && !any; i++)
		any = !m->encrypted[i];
	f->nothing |= !any;
	return 0;
}

static int compile_experimental(const Flow__FlowFilter *m, struct errmsg *e)
{
	int r;

	if (!m->experimental)
		return 0;
	if ((r = refuse_unknown(&m->experimental->base, "FlowFilter.experimental", e)))
		return r;
	if (m->experimental->n_cel_expression)
		return errmsg_set(
			e, -EINVAL,
			"FlowFilter.experimental.cel_expression is not supported; express the filter with the other FlowFilter fields");
	return 0;
}

static int compile_one(const Flow__FlowFilter *m, struct filter *f, struct errmsg *e)
{
	int r = refuse_unknown(&m->base, "FlowFilter", e);

	r = r ?: compile_experimental(m, e);
	r = r ?: compile_l3l4(m, f, e);
	r = r ?: compile_types(m, f, e);
	r = r ?: compile_drop_reasons(m, f, e);
	r = r ?: compile_ifaces(m, f, e);
	r = r ?: compile_uuids_and_dns(m, f, e);
	r = r ?: compile_http(m, f, e);
	r = r ?: compile_absent(m, f, e);
	r = r ?: compile_sides(m, f, e);
	r = r
		    ?: copy_sel(m->node_name, m->n_node_name, &f->node_names, &f->n_node_names,
				SEL_NODE, "node_name", e);
	r = r
		    ?: compile_selectors(m->node_labels, m->n_node_labels, &f->node_labels,
					 &f->n_node_labels, "node_labels", e);
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

static size_t max_filters = FLOW_FILTER_DEFAULT_MAX,
	      max_filter_bytes = FLOW_FILTER_DEFAULT_MAX_BYTES;

void flow_filter_set_limits(size_t filters, size_t bytes)
{
	max_filters = filters ? filters : FLOW_FILTER_DEFAULT_MAX;
	max_filter_bytes = bytes ? bytes : FLOW_FILTER_DEFAULT_MAX_BYTES;
}

/* What a list of regular expressions costs the request's budget; one refused on its own
 * counts nothing here (its compiling says why). */
static double regex_costs(char *const *v, size_t n)
{
	double sum = 0, c;

	for (size_t i = 0; i < n; i++)
		sum += (c = filter_regex_cost(v[i])) > 0 ? c : 0;
	return sum;
}

/* Refuses a set past the limits, before anything of it is compiled. */
static int check_limits(Flow__FlowFilter *const *allow, size_t n_allow,
			Flow__FlowFilter *const *deny, size_t n_deny, struct errmsg *e)
{
	size_t bytes = 0, i;
	double cost = 0;

	if (n_allow + n_deny > max_filters)
		return errmsg_set(
			e, -E2BIG,
			"too many filters: %zu (at most %zu allow and deny filters together; "
			"the server's --max-filters)",
			n_allow + n_deny, max_filters);
	for (i = 0; i < n_allow + n_deny; i++)
		bytes += protobuf_c_message_get_packed_size(
			&(i < n_allow ? allow[i] : deny[i - n_allow])->base);
	if (bytes > max_filter_bytes)
		return errmsg_set(e, -E2BIG,
				  "filters too large: %zu bytes (at most %zu; the server's "
				  "--max-filter-bytes)",
				  bytes, max_filter_bytes);
	for (i = 0; i < n_allow + n_deny; i++) {
		const Flow__FlowFilter *m = i < n_allow ? allow[i] : deny[i - n_allow];

		cost += regex_costs(m->dns_query, m->n_dns_query) +
			regex_costs(m->http_path, m->n_http_path) +
			regex_costs(m->http_url, m->n_http_url);
	}
	if (cost > FILTER_MAX_REGEX_COST)
		return errmsg_set(
			e, -E2BIG,
			"the filters' regular expressions are too complex together (their "
			"repetitions would compile into more than %.0f copies of their "
			"parts)",
			FILTER_MAX_REGEX_COST);
	return 0;
}

struct flow_filter_set *flow_filter_set_new(Flow__FlowFilter *const *allow, size_t n_allow,
					    Flow__FlowFilter *const *deny, size_t n_deny,
					    struct errmsg *e)
{
	struct flow_filter_set *fs;
	int r = check_limits(allow, n_allow, deny, n_deny, e);

	if (r) {
		errno = -r;
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		errmsg_set(e, -ENOMEM, "out of memory for the filters");
		return NULL;
	}
	r = compile_list(allow, n_allow, &fs->allow, &fs->n_allow, e);
	r = r ?: compile_list(deny, n_deny, &fs->deny, &fs->n_deny, e);
	r = r ?: copy_sources(allow, fs->n_allow, &fs->src_allow);
	r = r ?: copy_sources(deny, fs->n_deny, &fs->src_deny);
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
	Flow__FlowFilter *a[2], **d = calloc(filter_req_max_deny(r), sizeof(*d));
	size_t na = filter_req_filters(r, false, a), nd;

	*out = NULL;
	if (!d)
		return errmsg_set(e, -ENOMEM, "out of memory for the filters");
	nd = filter_req_deny_filters(r, d);
	if (na || nd)
		*out = flow_filter_set_new(a, na, d, nd, e);
	free(d);
	return *out || (!na && !nd) ? 0 : -errno;
}
