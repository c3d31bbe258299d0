/* The service dependency graph (see include/flowscope/graph/graph.h). Nodes and edges live in
 * arrays sized by the caps, found through chained hash indexes; a table of tracked flows
 * remembers what each flow already contributed, so a flow's repeated publications (start,
 * flags, updates, end) add only their difference. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowscope/enrich/drop_reason.h"
#include "flowscope/graph/graph.h"
#include "flowscope/base/bigmem.h"
#include "flowscope/base/hash.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/base/addr.h"
#include "flowscope/base/str.h"

#define NSEC_PER_SEC 1000000000ULL
#define RTT_SAMPLES 64
#define DROP_KINDS 8

struct gnode {
	bool used;
	enum graph_node_kind kind;
	uint8_t family;	  /* an IP node: its address, the key it is looked up by */
	uint8_t addr[16]; /* (IPv4 in the first 4 bytes) */
	uint64_t h;	  /* the hash its bucket is of */
	char id[300];
	char label[280];
	char ns[64];
	uint64_t first_seen, last_seen;
	int next; /* hash chain */
};

#define EDGE_NODES 16 /* nodes told apart per edge */

struct gedge {
	bool used;
	uint32_t gen; /* bumped when the slot is reused: tracked flows notice */
	int src, dst; /* node indexes */
	uint64_t flows, active, resets;
	uint64_t bytes[2], packets[2]; /* 0: client -> server, 1: server -> client */
	struct {
		const char *reason; /* kernel drop reason name (static) */
		uint64_t count;
	} drops[DROP_KINDS];
	uint64_t drops_total;
	/* The nodes its flows were observed on (flows a relay merged), the last slot taking
	 * the rest: the node dimension of a cluster graph. */
	struct {
		const char *name; /* the flow origin's (the relay's, stable) */
		uint64_t flows, bytes;
	} by_node[EDGE_NODES];
	uint32_t rtt[RTT_SAMPLES];
	unsigned int n_rtt, rtt_pos;
	uint64_t first_seen, last_seen;
	int next;
};

/* One per tracked flow, two per store slot (flowd's default): ordered without holes, 88 bytes
 * (104 with the fields in their natural order). */
struct tflow {
	uint64_t id;
	const char *node; /* the origin's name, for relayed flows */
	uint64_t bytes[2], packets[2], drops;
	uint64_t sig; /* what the node names were computed from (see node_sig) */
	int edge;
	uint32_t edge_gen;
	uint32_t drop_reason;
	uint32_t updated_s; /* wall clock seconds of its latest update */
	int next;
	bool used, active, reset, rtt;
};

struct graph {
	struct graph_config cfg;
	struct gnode *nodes; /* max_nodes + 1: the last is "other" */
	struct gedge *edges; /* max_edges + 1: the last is other -> other */
	struct tflow *flows;
	int *node_hash, *edge_hash, *flow_hash;
	size_t node_buckets, edge_buckets, flow_buckets;
	int free_node, free_edge, free_flow; /* free lists through next */
	struct graph_stats st;
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 64;

	while (p < n)
		p <<= 1;
	return p;
}

struct graph *graph_new(const struct graph_config *cfg)
{
	struct graph *g = calloc(1, sizeof(*g));
	size_t i;

	if (!g)
		return NULL;
	if (cfg)
		g->cfg = *cfg;
	if (!g->cfg.window_ns)
		g->cfg.window_ns = 300 * NSEC_PER_SEC;
	if (!g->cfg.max_nodes)
		g->cfg.max_nodes = 1000;
	if (!g->cfg.max_edges)
		g->cfg.max_edges = 5000;
	if (!g->cfg.max_tracked_flows)
		g->cfg.max_tracked_flows = 262144;
	g->node_buckets = pow2_at_least(g->cfg.max_nodes * 2);
	g->edge_buckets = pow2_at_least(g->cfg.max_edges * 2);
	/* Tracked flows are bucketed by their sequential id (flow_bucket): as many buckets as
	 * flows keeps the chains at about one, and twice as many cost 4-8 more bytes per flow. */
	g->flow_buckets = pow2_at_least(g->cfg.max_tracked_flows);
	g->nodes = calloc(g->cfg.max_nodes + 1, sizeof(*g->nodes));
	g->edges = calloc(g->cfg.max_edges + 1, sizeof(*g->edges));
	g->flows = bigmem_alloc(g->cfg.max_tracked_flows * sizeof(*g->flows));
	g->node_hash = malloc(g->node_buckets * sizeof(int));
	g->edge_hash = malloc(g->edge_buckets * sizeof(int));
	g->flow_hash = bigmem_alloc(g->flow_buckets * sizeof(int));
	if (!g->nodes || !g->edges || !g->flows || !g->node_hash || !g->edge_hash ||
	    !g->flow_hash) {
		graph_free(g);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < g->node_buckets; i++)
		g->node_hash[i] = -1;
	for (i = 0; i < g->edge_buckets; i++)
		g->edge_hash[i] = -1;
	for (i = 0; i < g->flow_buckets; i++)
		g->flow_hash[i] = -1;
	/* Free lists: every slot but the "other" ones. */
	for (i = 0; i < g->cfg.max_nodes; i++)
		g->nodes[i].next = i + 1 < g->cfg.max_nodes ? (int)i + 1 : -1;
	for (i = 0; i < g->cfg.max_edges; i++)
		g->edges[i].next = i + 1 < g->cfg.max_edges ? (int)i + 1 : -1;
	for (i = 0; i < g->cfg.max_tracked_flows; i++)
		g->flows[i].next = i + 1 < g->cfg.max_tracked_flows ? (int)i + 1 : -1;
	g->free_node = g->free_edge = g->free_flow = 0;
	return g;
}

void graph_free(struct graph *g)
{
	if (!g)
		return;
	free(g->nodes);
	free(g->edges);
	bigmem_free(g->flows, g->cfg.max_tracked_flows * sizeof(*g->flows));
	free(g->node_hash);
	free(g->edge_hash);
	bigmem_free(g->flow_hash, g->flow_buckets * sizeof(int));
	free(g);
}

/* Which kind of node one end of f is: a service or pod, then a container or process, then a
 * name, else its address. The one place that order is decided: the naming below and the lookup
 * by address in node_get() both take it from here. */
static enum graph_node_kind node_kind(const struct flow *f, int side, const struct identity **idp)
{
	const struct flow_process *p = side ? f->dst_proc : f->src_proc;
	const struct identity *id = identities_of(f, side ? &f->dst : &f->src);

	*idp = id;
	if (id && (id->service[0] || id->pod[0]))
		return id->service[0] ? GRAPH_NODE_SERVICE : GRAPH_NODE_POD;
	if (flow_proc_known(p))
		return p->container_id ? GRAPH_NODE_CONTAINER : GRAPH_NODE_PROCESS;
	if (side ? f->dst_name : f->src_name)
		return GRAPH_NODE_DNS;
	return GRAPH_NODE_IP;
}

/* Node ids, labels and namespaces are written by appends (base/str.h), not printf: every new
 * flow names its two nodes, three strings each with snprintf and glibc's inet_ntop (itself an
 * sprintf) before. */
static void node_name(const struct flow *f, int side, enum graph_node_kind kind,
		      const struct identity *id, char *out, size_t len, char *label,
		      size_t label_len, char *ns, size_t ns_len)
{
	const struct flow_endpoint *ep = side ? &f->dst : &f->src;
	const struct flow_process *p = side ? f->dst_proc : f->src_proc;
	const char *name = side ? f->dst_name : f->src_name;
	struct str_writer o = str_writer_at(out, len), l = str_writer_at(label, label_len),
			  n = str_writer_at(ns, ns_len);
	char addr[ADDR_STR_LEN];

	switch (kind) {
	case GRAPH_NODE_SERVICE:
	case GRAPH_NODE_POD: {
		const char *what = kind == GRAPH_NODE_SERVICE ? id->service : id->pod;
		char tmp[300];
		struct str_writer t = str_writer_at(tmp, sizeof(tmp));

		if (id->ns[0]) {
			str_puts(&t, id->ns);
			str_puts(&t, "/");
		}
		str_puts(&t, what);
		str_puts(&o, kind == GRAPH_NODE_SERVICE ? "svc:" : "pod:");
		str_puts(&o, tmp);
		str_puts(&l, tmp);
		str_puts(&n, id->ns);
		return;
	}
	case GRAPH_NODE_CONTAINER:
		str_puts(&o, "ctr:");
		str_put(&o, p->container_id, 12);
		str_puts(&l, p->comm);
		str_puts(&l, "@");
		str_put(&l, p->container_id, 12);
		return;
	case GRAPH_NODE_PROCESS:
		str_puts(&o, "proc:");
		str_puts(&o, p->comm);
		str_puts(&l, p->comm);
		return;
	case GRAPH_NODE_DNS:
		str_puts(&o, "dns:");
		str_puts(&o, name);
		str_puts(&l, name);
		return;
	default:
		addr_str(f->family == 6 ? 6 : 4, ep->addr, addr);
		str_puts(&o, "ip:");
		str_puts(&o, addr);
		str_puts(&l, addr);
		if (id)
			str_puts(&n, id->ns);
		return;
	}
}

enum graph_node_kind graph_node_id(const struct flow *f, int side, char *out, size_t len,
				   char *label, size_t label_len, char *ns, size_t ns_len)
{
	const struct identity *id;
	enum graph_node_kind kind = node_kind(f, side, &id);

	node_name(f, side, kind, id, out, len, label, label_len, ns, ns_len);
	return kind;
}

static int other_node(struct graph *g)
{
	int i = (int)g->cfg.max_nodes;
	struct gnode *n = &g->nodes[i];

	if (!n->used) {
		n->used = true;
		n->kind = GRAPH_NODE_OTHER;
		snprintf(n->id, sizeof(n->id), "other");
		snprintf(n->label, sizeof(n->label), "other");
	}
	return i;
}

/* The node of one end of f, made if new. An IP node (what most ends of new flows are) is looked
 * up by its address, the others by their id: formatting, hashing and comparing the ids of
 * both ends of every new flow were a third of the full pipeline (perf, bench_collector). */
static int node_get(struct graph *g, const struct flow *f, int side)
{
	const struct flow_endpoint *ep = side ? &f->dst : &f->src;
	uint8_t family = f->family == 6 ? 6 : 4;
	size_t alen = family == 6 ? 16 : 4;
	const struct identity *ident;
	enum graph_node_kind kind = node_kind(f, side, &ident);
	bool ip = kind == GRAPH_NODE_IP;
	char id[300];
	struct gnode *n;
	uint64_t h;
	size_t b;
	int i;

	if (ip) {
		h = hash_bytes(ep->addr, alen) ^ family;
	} else {
		node_name(f, side, kind, ident, id, sizeof(id), NULL, 0, NULL, 0);
		h = hash_str(id);
	}
	b = h & (g->node_buckets - 1);
	for (i = g->node_hash[b]; i >= 0; i = g->nodes[i].next) {
		n = &g->nodes[i];
		if (n->h != h)
			continue;
		if (ip ? n->kind == GRAPH_NODE_IP && n->family == family &&
				    !memcmp(n->addr, ep->addr, alen)
		       : n->kind != GRAPH_NODE_IP && !strcmp(n->id, id))
			return i;
	}
	if (g->free_node < 0) {
		g->st.folded_nodes++;
		return other_node(g);
	}
	i = g->free_node;
	n = &g->nodes[i];
	g->free_node = n->next;
	memset(n, 0, sizeof(*n));
	n->used = true;
	n->kind = kind;
	n->h = h;
	if (ip) {
		n->family = family;
		memcpy(n->addr, ep->addr, alen);
	}
	/* A new node: its id, label and namespace (a lookup needs none of them for an IP node,
	 * only the id for the others). */
	node_name(f, side, kind, ident, n->id, sizeof(n->id), n->label, sizeof(n->label), n->ns,
		  sizeof(n->ns));
	n->next = g->node_hash[b];
	g->node_hash[b] = i;
	g->st.nodes++;
	return i;
}

static int edge_get(struct graph *g, int src, int dst)
{
	size_t b =
		hash_mix64(((uint64_t)(unsigned)src << 32) | (unsigned)dst) & (g->edge_buckets - 1);
	struct gedge *e;
	uint32_t gen;
	int i;

	for (i = g->edge_hash[b]; i >= 0; i = g->edges[i].next)
		if (g->edges[i].src == src && g->edges[i].dst == dst)
			return i;
	if (g->free_edge < 0) {
		g->st.folded_edges++;
		i = (int)g->cfg.max_edges;
		e = &g->edges[i];
		if (!e->used) {
			e->used = true;
			e->src = e->dst = other_node(g);
		}
		return i;
	}
	i = g->free_edge;
	e = &g->edges[i];
	g->free_edge = e->next;
	gen = e->gen + 1;
	memset(e, 0, sizeof(*e));
	e->gen = gen;
	e->used = true;
	e->src = src;
	e->dst = dst;
	e->next = g->edge_hash[b];
	g->edge_hash[b] = i;
	g->st.edges++;
	return i;
}

/* Flow ids are handed out in sequence by the store: the id itself is the bucket, so new flows
 * fill consecutive buckets (a cache line holds 16) where a mixed hash cost one cache miss each
 * (82% of graph_add_flow's samples, perf). */
static size_t flow_bucket(const struct graph *g, uint64_t id)
{
	return (size_t)id & (g->flow_buckets - 1);
}

static struct tflow *flow_get(struct graph *g, uint64_t id, bool create)
{
	size_t b = flow_bucket(g, id);
	struct tflow *t;
	int i;

	for (i = g->flow_hash[b]; i >= 0; i = g->flows[i].next)
		if (g->flows[i].id == id)
			return &g->flows[i];
	if (!create || g->free_flow < 0)
		return NULL;
	i = g->free_flow;
	t = &g->flows[i];
	g->free_flow = t->next;
	memset(t, 0, sizeof(*t));
	t->used = true;
	t->id = id;
	t->edge = -1;
	t->next = g->flow_hash[b];
	g->flow_hash[b] = i;
	return t;
}

static void flow_put(struct graph *g, struct tflow *t)
{
	size_t b = flow_bucket(g, t->id);
	int i = (int)(t - g->flows), *pp = &g->flow_hash[b];

	while (*pp >= 0 && *pp != i)
		pp = &g->flows[*pp].next;
	if (*pp == i)
		*pp = t->next;
	t->used = false;
	t->next = g->free_flow;
	g->free_flow = i;
}

static void add_drop(struct gedge *e, const char *reason, uint64_t n)
{
	int i, slot = -1;

	for (i = 0; i < DROP_KINDS; i++) {
		if (e->drops[i].reason == reason ||
		    (e->drops[i].reason && reason && !strcmp(e->drops[i].reason, reason))) {
			slot = i;
			break;
		}
		if (!e->drops[i].reason && slot < 0)
			slot = i;
	}
	if (slot < 0)
		slot = DROP_KINDS - 1; /* the last kind takes the rest */
	if (!e->drops[slot].reason)
		e->drops[slot].reason = reason;
	e->drops[slot].count += n;
	e->drops_total += n;
}

/* The edge's counters of the node called name (NULL for a local flow: none). */
static int node_slot(struct gedge *e, const char *name)
{
	int i;

	if (!name)
		return -1;
	for (i = 0; i < EDGE_NODES - 1; i++) {
		if (!e->by_node[i].name)
			e->by_node[i].name = name;
		if (e->by_node[i].name == name || !strcmp(e->by_node[i].name, name))
			return i;
	}
	if (!e->by_node[i].name)
		e->by_node[i].name = "other";
	return i;
}

/* Takes a flow's contribution back from its edge: the flow moves to another edge (its ends
 * became better known: a process, a name, an identity). */
static void detach(struct graph *g, struct tflow *t)
{
	struct gedge *e = &g->edges[t->edge];
	int d, k;

	for (d = 0; d < 2; d++) {
		e->bytes[d] -= t->bytes[d] < e->bytes[d] ? t->bytes[d] : e->bytes[d];
		e->packets[d] -= t->packets[d] < e->packets[d] ? t->packets[d] : e->packets[d];
	}
	if (e->flows)
		e->flows--;
	k = node_slot(e, t->node);
	if (k >= 0) {
		uint64_t b = t->bytes[0] + t->bytes[1];

		e->by_node[k].flows -= e->by_node[k].flows ? 1 : 0;
		e->by_node[k].bytes -= b < e->by_node[k].bytes ? b : e->by_node[k].bytes;
	}
	if (t->active && e->active)
		e->active--;
	if (t->reset && e->resets)
		e->resets--;
	if (t->drops) {
		const char *reason = drop_reason_kernel_name(t->drop_reason);

		for (k = 0; k < DROP_KINDS; k++)
			if (e->drops[k].reason && !strcmp(e->drops[k].reason, reason)) {
				e->drops[k].count -=
					t->drops < e->drops[k].count ? t->drops : e->drops[k].count;
				break;
			}
		e->drops_total -= t->drops < e->drops_total ? t->drops : e->drops_total;
	}
	t->edge = -1;
}

/* Everything graph_node_id() depends on, folded into one number: while it is unchanged, a
 * flow's nodes are too, and the (formatting) work of naming them is skipped. */
static uint64_t proc_sig(const struct flow_process *p)
{
	uint64_t comm;

	if (!p)
		return 0;
	memcpy(&comm, p->comm, sizeof(comm));
	return ((uint64_t)p->pid << 1 | p->known) ^ p->cgroup_id << 20 ^ comm * 31 ^
	       (uint64_t)(uintptr_t)p->container_id << 24;
}

static uint64_t node_sig(const struct flow *f)
{
	uint64_t s = identities_generation() * 0x9e3779b97f4a7c15ULL;

	s ^= hash_mix64((uint64_t)(uintptr_t)f->src_name ^ proc_sig(f->src_proc));
	s = hash_mix64(s ^ (uint64_t)(uintptr_t)f->dst_name ^ proc_sig(f->dst_proc));
	return s | 1; /* never 0: 0 is "not computed" */
}

void graph_add_flow(struct graph *g, const struct flow *f)
{
	struct tflow *t;
	uint64_t seen = f->last_seen_ns ? f->last_seen_ns : f->time_ns, sig;
	struct gedge *e;
	int src, dst, d;

	if (f->copy)
		return; /* counted at the connection's first observation point */
	t = flow_get(g, f->id, true);
	if (!t) {
		g->st.flows_untracked++;
		return;
	}
	sig = node_sig(f);
	if (t->edge >= 0 && g->edges[t->edge].used && g->edges[t->edge].gen == t->edge_gen &&
	    t->sig == sig) {
		/* Same inputs, same nodes: keep the edge. */
		src = g->edges[t->edge].src;
		dst = g->edges[t->edge].dst;
	} else {
		src = node_get(g, f, 0);
		dst = node_get(g, f, 1);
		t->sig = sig;
	}
	if (t->edge >= 0 && g->edges[t->edge].used && g->edges[t->edge].gen == t->edge_gen &&
	    (g->edges[t->edge].src != src || g->edges[t->edge].dst != dst) &&
	    t->edge != (int)g->cfg.max_edges)
		detach(g, t);
	/* (Re)attach to its edge: new flow, its ends changed, or its edge aged out. */
	if (t->edge < 0 || !g->edges[t->edge].used || g->edges[t->edge].gen != t->edge_gen) {
		t->edge = edge_get(g, src, dst);
		t->edge_gen = g->edges[t->edge].gen;
		memset(t->bytes, 0, sizeof(t->bytes));
		memset(t->packets, 0, sizeof(t->packets));
		t->drops = 0;
		t->active = t->reset = t->rtt = false;
		g->edges[t->edge].flows++;
		t->node = f->origin ? f->origin->name : NULL;
		if ((d = node_slot(&g->edges[t->edge], t->node)) >= 0)
			g->edges[t->edge].by_node[d].flows++;
		if (!g->edges[t->edge].first_seen ||
		    f->first_seen_ns < g->edges[t->edge].first_seen)
			g->edges[t->edge].first_seen = f->first_seen_ns ? f->first_seen_ns : seen;
	}
	e = &g->edges[t->edge];
	for (d = 0; d < 2; d++) {
		/* Counters only grow within a flow; a smaller value is an older view. */
		if (f->bytes[d] > t->bytes[d]) {
			int k = node_slot(e, t->node);

			e->bytes[d] += f->bytes[d] - t->bytes[d];
			if (k >= 0)
				e->by_node[k].bytes += f->bytes[d] - t->bytes[d];
			t->bytes[d] = f->bytes[d];
		}
		if (f->packets[d] > t->packets[d]) {
			e->packets[d] += f->packets[d] - t->packets[d];
			t->packets[d] = f->packets[d];
		}
	}
	if (f->drops) {
		uint64_t prev = f->drop_reason == t->drop_reason ? t->drops : 0;

		if (f->drops > prev)
			add_drop(e, drop_reason_kernel_name(f->drop_reason), f->drops - prev);
		t->drops = f->drops > prev ? f->drops : prev;
		t->drop_reason = f->drop_reason;
	}
	if (!t->reset && ((f->tcp_flags_seen[0] | f->tcp_flags_seen[1]) & FLOW_TCP_RST)) {
		t->reset = true;
		e->resets++;
	}
	if (!t->rtt && f->rtt_us && (f->ended || f->event == FLOW_EVENT_END || f->sock_closed_ns)) {
		/* One sample per connection, when its socket closed: the settled RTT. */
		t->rtt = true;
		e->rtt[e->rtt_pos] = f->rtt_us;
		e->rtt_pos = (e->rtt_pos + 1) % RTT_SAMPLES;
		if (e->n_rtt < RTT_SAMPLES)
			e->n_rtt++;
	}
	if (seen > e->last_seen)
		e->last_seen = seen;
	if (seen > g->nodes[e->src].last_seen)
		g->nodes[e->src].last_seen = seen;
	if (seen > g->nodes[e->dst].last_seen)
		g->nodes[e->dst].last_seen = seen;
	t->updated_s = (uint32_t)(seen / NSEC_PER_SEC);
	if (f->ended || f->event == FLOW_EVENT_END) {
		if (t->active && e->active)
			e->active--;
		flow_put(g, t);
		return;
	}
	if (!t->active) {
		t->active = true;
		e->active++;
	}
}

static void edge_unlink(struct graph *g, int i)
{
	struct gedge *e = &g->edges[i];
	size_t b = hash_mix64(((uint64_t)(unsigned)e->src << 32) | (unsigned)e->dst) &
		   (g->edge_buckets - 1);
	int *pp = &g->edge_hash[b];

	while (*pp >= 0 && *pp != i)
		pp = &g->edges[*pp].next;
	if (*pp == i)
		*pp = e->next;
	e->used = false;
	e->next = g->free_edge;
	g->free_edge = i;
	g->st.edges--;
}

static void node_unlink(struct graph *g, int i)
{
	struct gnode *n = &g->nodes[i];
	size_t b = n->h & (g->node_buckets - 1);
	int *pp = &g->node_hash[b];

	while (*pp >= 0 && *pp != i)
		pp = &g->nodes[*pp].next;
	if (*pp == i)
		*pp = n->next;
	n->used = false;
	n->next = g->free_node;
	g->free_node = i;
	g->st.nodes--;
}

void graph_forget_flow(struct graph *g, uint64_t id)
{
	struct tflow *t = flow_get(g, id, false);

	if (!t)
		return;
	if (t->active && t->edge >= 0 && g->edges[t->edge].used &&
	    g->edges[t->edge].gen == t->edge_gen && g->edges[t->edge].active)
		g->edges[t->edge].active--;
	flow_put(g, t);
}

void graph_store_dropped(uint64_t id, void *graph)
{
	graph_forget_flow(graph, id);
}

void graph_expire(struct graph *g, uint64_t now_ns)
{
	uint64_t cutoff = now_ns > g->cfg.window_ns ? now_ns - g->cfg.window_ns : 0;
	size_t i;

	/* Edges first: a node is never newer than its newest edge. */
	for (i = 0; i < g->cfg.max_edges; i++)
		if (g->edges[i].used && g->edges[i].last_seen < cutoff)
			edge_unlink(g, (int)i);
	if (g->edges[g->cfg.max_edges].used && g->edges[g->cfg.max_edges].last_seen < cutoff)
		memset(&g->edges[g->cfg.max_edges], 0, sizeof(g->edges[0]));
	for (i = 0; i < g->cfg.max_nodes; i++)
		if (g->nodes[i].used && g->nodes[i].last_seen < cutoff)
			node_unlink(g, (int)i);
	if (g->nodes[g->cfg.max_nodes].used && g->nodes[g->cfg.max_nodes].last_seen < cutoff &&
	    !g->edges[g->cfg.max_edges].used)
		g->nodes[g->cfg.max_nodes].used = false;
	/* Flows not heard of within the window (evicted from the store without an end). */
	for (i = 0; i < g->cfg.max_tracked_flows; i++)
		if (g->flows[i].used && g->flows[i].updated_s < cutoff / NSEC_PER_SEC)
			flow_put(g, &g->flows[i]);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int put_time(struct buf *out, uint64_t ns)
{
	time_t s = (time_t)(ns / NSEC_PER_SEC);
	struct tm tm;
	char t[40];

	gmtime_r(&s, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	return buf_printf(out, "\"%s.%03uZ\"", t, (unsigned)(ns % NSEC_PER_SEC / 1000000));
}

static const char *kind_name(enum graph_node_kind k)
{
	static const char *names[] = {"service", "pod", "container", "process",
				      "dns",	 "ip",	"other"};

	return names[k];
}

static bool edge_shown(const struct graph *g, const struct gedge *e, uint64_t cutoff,
		       const char *ns)
{
	if (!e->used || e->last_seen < cutoff)
		return false;
	return !ns || !*ns || !strcmp(g->nodes[e->src].ns, ns) || !strcmp(g->nodes[e->dst].ns, ns);
}

int graph_json(struct graph *g, struct buf *out, uint64_t now_ns, uint64_t window_ns,
	       const char *ns)
{
	uint64_t cutoff,
		win = window_ns && window_ns < g->cfg.window_ns ? window_ns : g->cfg.window_ns;
	size_t n_nodes = g->cfg.max_nodes + 1, i;
	uint64_t *nflows = calloc(n_nodes, sizeof(uint64_t));
	uint64_t *nactive = calloc(n_nodes, sizeof(uint64_t));
	bool *shown = calloc(n_nodes, sizeof(bool)), first = true;
	int err = 0;

	if (!nflows || !nactive || !shown) {
		free(nflows);
		free(nactive);
		free(shown);
		return -ENOMEM;
	}
	cutoff = now_ns > win ? now_ns - win : 0;
	for (i = 0; i <= g->cfg.max_edges; i++) {
		const struct gedge *e = &g->edges[i];

		if (!edge_shown(g, e, cutoff, ns))
			continue;
		shown[e->src] = shown[e->dst] = true;
		nflows[e->src] += e->flows;
		nactive[e->src] += e->active;
		if (e->dst != e->src) {
			nflows[e->dst] += e->flows;
			nactive[e->dst] += e->active;
		}
	}
	err = buf_printf(out, "{\"window_ns\":%llu,\"time\":", (unsigned long long)win);
	err = err ?: put_time(out, now_ns);
	err = err ?: buf_puts(out, ",\"nodes\":[");
	for (i = 0; !err && i < n_nodes; i++) {
		const struct gnode *n = &g->nodes[i];

		if (!n->used || !shown[i])
			continue;
		err = buf_puts(out, first ? "{\"id\":" : ",{\"id\":");
		first = false;
		err = err ?: buf_json_str(out, n->id, strlen(n->id));
		err = err ?: buf_puts(out, ",\"label\":");
		err = err ?: buf_json_str(out, n->label, strlen(n->label));
		err = err ?: buf_printf(out, ",\"kind\":\"%s\",\"namespace\":", kind_name(n->kind));
		err = err ?: buf_json_str(out, n->ns, strlen(n->ns));
		err = err
			      ?: buf_printf(out, ",\"flows\":%llu,\"active\":%llu}",
					    (unsigned long long)nflows[i],
					    (unsigned long long)nactive[i]);
	}
	err = err ?: buf_puts(out, "],\"edges\":[");
	first = true;
	for (i = 0; !err && i <= g->cfg.max_edges; i++) {
		const struct gedge *e = &g->edges[i];
		const struct gnode *s = &g->nodes[e->src], *d = &g->nodes[e->dst];
		uint32_t rtt[RTT_SAMPLES];
		char id[620];
		int k;
		bool firstd = true;

		if (!edge_shown(g, e, cutoff, ns))
			continue;
		snprintf(id, sizeof(id), "e:%s>%s", s->id, d->id);
		err = buf_puts(out, first ? "{\"id\":" : ",{\"id\":");
		first = false;
		err = err ?: buf_json_str(out, id, strlen(id));
		err = err ?: buf_puts(out, ",\"source\":");
		err = err ?: buf_json_str(out, s->id, strlen(s->id));
		err = err ?: buf_puts(out, ",\"target\":");
		err = err ?: buf_json_str(out, d->id, strlen(d->id));
		err = err
			      ?: buf_printf(out,
					    ",\"flows\":%llu,\"active\":%llu,\"bytes_sent\":%llu,"
					    "\"bytes_received\":%llu,\"packets_sent\":%llu,"
					    "\"packets_received\":%llu,\"drops\":{",
					    (unsigned long long)e->flows,
					    (unsigned long long)e->active,
					    (unsigned long long)e->bytes[0],
					    (unsigned long long)e->bytes[1],
					    (unsigned long long)e->packets[0],
					    (unsigned long long)e->packets[1]);
		for (k = 0; !err && k < DROP_KINDS; k++) {
			if (!e->drops[k].reason)
				continue;
			err = buf_puts(out, firstd ? "" : ",");
			firstd = false;
			err = err
				      ?: buf_json_str(out, e->drops[k].reason,
						      strlen(e->drops[k].reason));
			err = err
				      ?: buf_printf(out, ":%llu",
						    (unsigned long long)e->drops[k].count);
		}
		err = err
			      ?: buf_printf(out,
					    "},\"drops_total\":%llu,\"resets\":%llu,\"rtt_us\":",
					    (unsigned long long)e->drops_total,
					    (unsigned long long)e->resets);
		if (!err && e->n_rtt) {
			memcpy(rtt, e->rtt, e->n_rtt * sizeof(uint32_t));
			qsort(rtt, e->n_rtt, sizeof(uint32_t), cmp_u32);
			/* Nearest rank. */
			err = buf_printf(out, "{\"p50\":%u,\"p95\":%u,\"p99\":%u,\"samples\":%u}",
					 rtt[(e->n_rtt * 50 + 99) / 100 - 1],
					 rtt[(e->n_rtt * 95 + 99) / 100 - 1],
					 rtt[(e->n_rtt * 99 + 99) / 100 - 1], e->n_rtt);
		} else if (!err) {
			err = buf_puts(out, "null");
		}
		for (k = 0; !err && k < EDGE_NODES && e->by_node[k].name; k++) {
			err = buf_puts(out, k ? ",{\"node\":" : ",\"nodes\":[{\"node\":");
			err = err
				      ?: buf_json_str(out, e->by_node[k].name,
						      strlen(e->by_node[k].name));
			err = err
				      ?: buf_printf(out, ",\"flows\":%llu,\"bytes\":%llu}",
						    (unsigned long long)e->by_node[k].flows,
						    (unsigned long long)e->by_node[k].bytes);
			if (!err && (k + 1 == EDGE_NODES || !e->by_node[k + 1].name))
				err = buf_puts(out, "]");
		}
		err = err ?: buf_puts(out, ",\"first_seen\":");
		err = err ?: put_time(out, e->first_seen);
		err = err ?: buf_puts(out, ",\"last_seen\":");
		err = err ?: put_time(out, e->last_seen);
		err = err ?: buf_puts(out, "}");
	}
	err = err
		      ?: buf_printf(out, "],\"folded\":{\"nodes\":%llu,\"edges\":%llu}}\n",
				    (unsigned long long)g->st.folded_nodes,
				    (unsigned long long)g->st.folded_edges);
	free(nflows);
	free(nactive);
	free(shown);
	return err;
}

void graph_get_stats(const struct graph *g, struct graph_stats *st)
{
	*st = g->st;
	st->bytes = sizeof(*g) + (g->cfg.max_nodes + 1) * sizeof(*g->nodes) +
		    (g->cfg.max_edges + 1) * sizeof(*g->edges) +
		    g->cfg.max_tracked_flows * sizeof(*g->flows) +
		    (g->node_buckets + g->edge_buckets + g->flow_buckets) * sizeof(int);
}
