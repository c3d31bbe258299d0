/* Hubble FlowFilter semantics compiled into plain structs and matched against collector flows
 * (see include/flowscope/filter/flow_filter.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/filter/flow_filter.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/base/parse.h"

struct cidr {
	uint8_t addr[16];
	uint8_t family; /* 4 or 6 */
	uint8_t bits;
};

struct port_range {
	uint16_t lo, hi;
};

enum proto_bit {
	P_TCP = 1 << 0,
	P_UDP = 1 << 1,
	P_ICMP4 = 1 << 2,
	P_ICMP6 = 1 << 3,
	P_SCTP = 1 << 4,
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

static void filter_free(struct filter *f)
{
	size_t i;

	free(f->src_ip);
	free(f->dst_ip);
	free(f->src_port);
	free(f->dst_port);
	free(f->tcp_flags);
	for (i = 0; i < f->n_node_names; i++)
		free(f->node_names[i]);
	free(f->node_names);
	for (int s = 0; s < 2; s++) {
		struct side_sel *x = &f->sel[s];

		for (i = 0; i < x->n_pods; i++)
			free(x->pods[i]);
		for (i = 0; i < x->n_services; i++)
			free(x->services[i]);
		for (i = 0; i < x->n_labels; i++)
			free(x->labels[i]);
		for (i = 0; i < x->n_fqdns; i++)
			free(x->fqdns[i]);
		free(x->pods);
		free(x->services);
		free(x->labels);
		free(x->fqdns);
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

	for (i = 0; i < n; i++) {
		unsigned int full = c[i].bits / 8, rest = c[i].bits % 8;

		if (c[i].family != family)
			continue;
		if (memcmp(c[i].addr, addr, full))
			continue;
		if (rest && ((c[i].addr[full] ^ addr[full]) & (0xff00 >> rest) & 0xff))
			continue;
		return true;
	}
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
		return P_TCP;
	case IPPROTO_UDP:
		return P_UDP;
	case IPPROTO_ICMP:
		return P_ICMP4;
	case IPPROTO_ICMPV6:
		return P_ICMP6;
	case IPPROTO_SCTP:
		return P_SCTP;
	}
	return 0;
}

static bool has_ports(const struct flow *f)
{
	return f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP;
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
	return true;
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

static int parse_cidr(const char *s, struct cidr *c)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	char *slash;
	uint64_t bits;

	if (strlen(s) >= sizeof(tmp))
		return -EINVAL;
	strcpy(tmp, s);
	slash = strchr(tmp, '/');
	if (slash)
		*slash++ = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, tmp, c->addr) == 1) {
		c->family = 4;
		c->bits = 32;
	} else if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
		c->family = 6;
		c->bits = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (parse_u64(slash, c->bits, &bits))
			return -EINVAL;
		c->bits = (uint8_t)bits;
	}
	return 0;
}

static int parse_port(const char *s, struct port_range *p)
{
	uint64_t lo, hi;
	const char *dash = strchr(s, '-');
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

static int parse_protocol(const char *s, unsigned int *mask)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} names[] = {
		{"tcp", P_TCP},	     {"udp", P_UDP},	  {"icmp", P_ICMP4 | P_ICMP6},
		{"icmpv4", P_ICMP4}, {"icmpv6", P_ICMP6}, {"sctp", P_SCTP},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(s, names[i].name)) {
			*mask |= names[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		errno = EINVAL;                                                                    \
		return -EINVAL;                                                                    \
	} while (0)

static int compile_ips(char **in, size_t n, struct cidr **out, size_t *nout, const char *field,
		       char *err, size_t errlen)
{
	size_t i;

	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++)
		if (parse_cidr(in[i], &(*out)[i]))
			FAIL("invalid %s '%s': use an IP address or CIDR such as 10.0.0.0/8", field,
			     in[i]);
	return 0;
}

static int compile_ports(char **in, size_t n, struct port_range **out, size_t *nout,
			 const char *field, char *err, size_t errlen)
{
	size_t i;

	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++)
		if (parse_port(in[i], &(*out)[i]))
			FAIL("invalid %s '%s': use a port (0-65535) or a range such as 8000-8080",
			     field, in[i]);
	return 0;
}

/* Copies selector strings; fqdn patterns are lower-cased and lose a final dot. */
static int copy_sel(char **in, size_t n, char ***out, size_t *nout, bool fqdn)
{
	size_t i;

	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++) {
		size_t len = strlen(in[i]), j;

		if (!len || len > 255)
			return -EINVAL;
		(*out)[i] = strdup(in[i]);
		if (!(*out)[i])
			return -ENOMEM;
		if (fqdn) {
			for (j = 0; j < len; j++)
				(*out)[i][j] = (char)tolower((unsigned char)(*out)[i][j]);
			if (len > 1 && (*out)[i][len - 1] == '.')
				(*out)[i][len - 1] = '\0';
		}
	}
	return 0;
}

static int compile_one(const Flow__FlowFilter *m, struct filter *f, char *err, size_t errlen)
{
	size_t i;
	int r;

	r = compile_ips(m->source_ip, m->n_source_ip, &f->src_ip, &f->n_src_ip, "source_ip", err,
			errlen);
	if (!r)
		r = compile_ips(m->destination_ip, m->n_destination_ip, &f->dst_ip, &f->n_dst_ip,
				"destination_ip", err, errlen);
	if (!r)
		r = compile_ports(m->source_port, m->n_source_port, &f->src_port, &f->n_src_port,
				  "source_port", err, errlen);
	if (!r)
		r = compile_ports(m->destination_port, m->n_destination_port, &f->dst_port,
				  &f->n_dst_port, "destination_port", err, errlen);
	if (r)
		return r;
	for (i = 0; i < m->n_protocol; i++)
		if (parse_protocol(m->protocol[i], &f->protocols))
			FAIL("invalid protocol '%s': use tcp, udp, icmp, icmpv4, icmpv6 or sctp",
			     m->protocol[i]);
	for (i = 0; i < m->n_verdict; i++) {
		if ((unsigned int)m->verdict[i] > 31)
			FAIL("invalid verdict %d", (int)m->verdict[i]);
		f->verdicts |= 1u << m->verdict[i];
	}
	for (i = 0; i < m->n_traffic_direction; i++) {
		if ((unsigned int)m->traffic_direction[i] > 2)
			FAIL("invalid traffic_direction %d", (int)m->traffic_direction[i]);
		f->directions |= 1u << m->traffic_direction[i];
	}
	for (i = 0; i < m->n_ip_version; i++) {
		if ((unsigned int)m->ip_version[i] > 2)
			FAIL("invalid ip_version %d", (int)m->ip_version[i]);
		f->ip_versions |= 1u << m->ip_version[i];
	}
	for (i = 0; i < m->n_reply; i++)
		f->replies |= 1u << (m->reply[i] ? 1 : 0);
	if (m->n_tcp_flags) {
		f->tcp_flags = calloc(m->n_tcp_flags, sizeof(*f->tcp_flags));
		if (!f->tcp_flags)
			return -ENOMEM;
		f->n_tcp_flags = m->n_tcp_flags;
		for (i = 0; i < m->n_tcp_flags; i++) {
			const Flow__TCPFlags *t = m->tcp_flags[i];
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
				FAIL("invalid tcp_flags filter: set at least one flag");
			f->tcp_flags[i] = v;
		}
	}
	if (m->n_node_name) {
		f->node_names = calloc(m->n_node_name, sizeof(*f->node_names));
		if (!f->node_names)
			return -ENOMEM;
		f->n_node_names = m->n_node_name;
		for (i = 0; i < m->n_node_name; i++) {
			/* Hubble names nodes "cluster/node"; a bare pattern matches the node. */
			const char *p = strchr(m->node_name[i], '/');

			f->node_names[i] = strdup(p ? p + 1 : m->node_name[i]);
			if (!f->node_names[i])
				return -ENOMEM;
		}
	}

	r = copy_sel(m->source_pod, m->n_source_pod, &f->sel[0].pods, &f->sel[0].n_pods, false);
	if (!r)
		r = copy_sel(m->destination_pod, m->n_destination_pod, &f->sel[1].pods,
			     &f->sel[1].n_pods, false);
	if (!r)
		r = copy_sel(m->source_service, m->n_source_service, &f->sel[0].services,
			     &f->sel[0].n_services, false);
	if (!r)
		r = copy_sel(m->destination_service, m->n_destination_service, &f->sel[1].services,
			     &f->sel[1].n_services, false);
	if (!r)
		r = copy_sel(m->source_label, m->n_source_label, &f->sel[0].labels,
			     &f->sel[0].n_labels, false);
	if (!r)
		r = copy_sel(m->destination_label, m->n_destination_label, &f->sel[1].labels,
			     &f->sel[1].n_labels, false);
	if (!r)
		r = copy_sel(m->source_fqdn, m->n_source_fqdn, &f->sel[0].fqdns, &f->sel[0].n_fqdns,
			     true);
	if (!r)
		r = copy_sel(m->destination_fqdn, m->n_destination_fqdn, &f->sel[1].fqdns,
			     &f->sel[1].n_fqdns, true);
	if (r == -EINVAL)
		FAIL("invalid pod, service, label or fqdn filter: empty or longer than 255 "
		     "characters");
	return r;
}

static int compile_list(Flow__FlowFilter *const *in, size_t n, struct filter **out, size_t *nout,
			char *err, size_t errlen)
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
		r = compile_one(in[i], &(*out)[i], err, errlen);
		if (r)
			return r;
	}
	return 0;
}

struct flow_filter_set *flow_filter_set_new(Flow__FlowFilter *const *allow, size_t n_allow,
					    Flow__FlowFilter *const *deny, size_t n_deny, char *err,
					    size_t errlen)
{
	struct flow_filter_set *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs)
		return NULL;
	if (errlen)
		err[0] = '\0';
	r = compile_list(allow, n_allow, &fs->allow, &fs->n_allow, err, errlen);
	if (!r)
		r = compile_list(deny, n_deny, &fs->deny, &fs->n_deny, err, errlen);
	if (r) {
		flow_filter_set_free(fs);
		errno = -r;
		return NULL;
	}
	return fs;
}
