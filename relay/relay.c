/* The relay's loop side (see include/flowscope/relay/relay.h): nodes, their messages, and the
 * merge: a min-heap of events by time, released when every connected node's watermark has
 * passed them or when they have waited `lag`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/parse.h"
#include "intern.h"
#include "node.h"
#include "peer.pb-c.h"
#include "relay.pb-c.h"

#define MAX_NODES 1024
#define TICK_MS 20

/* An event waiting for the merge. */
struct pending {
	uint64_t time_ns;    /* the event's (wall clock) */
	uint64_t arrival_ns; /* boot ns it reached the relay */
	struct relay_node *node;
	struct flow f;
};

struct relay {
	struct relay_opts o;
	struct relay_node *nodes[MAX_NODES];
	unsigned int n_nodes;
	uv_async_t *wake; /* freed when closed */
	uv_timer_t *tick;
	bool stopped;
	struct intern *intern;
	struct pending **heap;
	size_t n_heap, cap_heap;
	uint64_t last_released; /* time of the newest event released */
	relay_node_cb node_cb;
	void *node_ctx;
	relay_lost_cb lost_cb;
	void *lost_ctx;
	relay_agent_event_cb agent_cb;
	void *agent_ctx;
	struct relay_stats st;
};

/* ---- the merge heap ------------------------------------------------------------------------- */

static bool before(const struct pending *a, const struct pending *b)
{
	return a->time_ns < b->time_ns;
}

static int heap_push(struct relay *r, struct pending *p)
{
	size_t i;

	if (r->n_heap == r->cap_heap) {
		size_t cap = r->cap_heap ? r->cap_heap * 2 : 4096;
		struct pending **h = realloc(r->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		r->heap = h;
		r->cap_heap = cap;
	}
	for (i = r->n_heap++; i && before(p, r->heap[(i - 1) / 2]); i = (i - 1) / 2)
		r->heap[i] = r->heap[(i - 1) / 2];
	r->heap[i] = p;
	return 0;
}

static struct pending *heap_pop(struct relay *r)
{
	struct pending *top = r->heap[0], *last = r->heap[--r->n_heap];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < r->n_heap) {
		if (c + 1 < r->n_heap && before(r->heap[c + 1], r->heap[c]))
			c++;
		if (!before(r->heap[c], last))
			break;
		r->heap[i] = r->heap[c];
		i = c;
	}
	if (r->n_heap)
		r->heap[i] = last;
	return top;
}

/* The time every connected node has passed (no event older than it is still to come from
 * them), or 0 when a connected node has told none yet. */
static uint64_t watermark(const struct relay *r)
{
	uint64_t wm = UINT64_MAX;
	unsigned int i;
	bool any = false;

	for (i = 0; i < r->n_nodes; i++) {
		const struct relay_node *n = r->nodes[i];

		if (n->removed || !n->up)
			continue;
		any = true;
		if (n->watermark_ns < wm)
			wm = n->watermark_ns;
	}
	return any ? wm : 0;
}

static void release(struct relay *r)
{
	uint64_t wm = watermark(r), now = clock_boot_ns();

	while (r->n_heap) {
		struct pending *p = r->heap[0];

		if (p->time_ns > wm && now - p->arrival_ns < r->o.lag_ns)
			break;
		heap_pop(r);
		if (p->time_ns < r->last_released) {
			p->f.late = true;
			r->st.late++;
			p->node->info.late++;
		} else {
			r->last_released = p->time_ns;
		}
		collector_handle_remote(r->o.col, &p->f);
		free(p);
	}
}

/* ---- node messages ------------------------------------------------------------------------- */

static void set_state(struct relay *r, struct relay_node *n, int state, const char *why)
{
	bool changed = n->info.state != state;

	n->info.state = state;
	snprintf(n->info.message, sizeof(n->info.message), "%s", why ? why : "");
	if (changed && r->node_cb)
		r->node_cb(state, n->info.name, n->info.message, r->node_ctx);
}

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0 || t->nanos < 0)
		return 0;
	return (uint64_t)t->seconds * NSEC_PER_SEC + (uint64_t)t->nanos;
}

/* A decoded flow of node n made the relay's: its strings kept, its identities as n told
 * them, its origin, and a key that keeps nodes and interfaces apart. */
static void adopt(struct relay *r, struct relay_node *n, struct flow *f, const Flow__Flow *pb)
{
	bool reply = f->is_reply;
	const Flow__Endpoint *ini = reply ? pb->destination : pb->source;
	const Flow__Endpoint *res = reply ? pb->source : pb->destination;
	const Flow__Service *ini_svc = reply ? pb->destination_service : pb->source_service;
	const Flow__Service *res_svc = reply ? pb->source_service : pb->destination_service;

	f->origin = &n->origin;
	f->src_name = intern_str(r->intern, f->src_name);
	f->dst_name = intern_str(r->intern, f->dst_name);
	if (f->dns.query)
		f->dns.query = intern_str(r->intern, f->dns.query);
	f->src_proc = intern_process(r->intern, f->src_proc);
	f->dst_proc = intern_process(r->intern, f->dst_proc);
	f->src_id = intern_identity(r->intern, ini, ini_svc);
	f->dst_id = intern_identity(r->intern, res, res_svc);
	memset(&f->key, 0, sizeof(f->key));
	memcpy(f->key.addr[0], f->src.addr, 16);
	memcpy(f->key.addr[1], f->dst.addr, 16);
	f->key.port[0] = f->src.port;
	f->key.port[1] = f->dst.port;
	f->key.proto = f->proto;
	f->key.family = f->family;
	f->key.ifindex = (uint32_t)n->index << 20 | (f->ifindex & 0xfffff);
}

static void on_flows_msg(struct relay *r, struct relay_node *n, struct node_msg *m)
{
	Observer__GetFlowsResponse *pb = m->pb;
	struct pending *p;

	n->last_msg_ns = m->rx_ns;
	switch (pb->response_types_case) {
	case OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW:
		if (!m->has_flow)
			return;
		p = malloc(sizeof(*p));
		if (!p)
			return;
		p->f = m->f;
		adopt(r, n, &p->f, pb->flow);
		p->time_ns = p->f.time_ns;
		p->arrival_ns = n->last_msg_ns;
		p->node = n;
		if (heap_push(r, p)) {
			free(p);
			return;
		}
		n->info.events++;
		r->st.events++;
		return;
	case OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS:
		n->info.lost += pb->lost_events->num_events_lost;
		r->st.lost += pb->lost_events->num_events_lost;
		if (r->lost_cb)
			r->lost_cb(n->info.name, pb->lost_events->num_events_lost, r->lost_ctx);
		return;
	case OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES__NOT_SET:
		/* A watermark: nothing older than its time will follow. */
		if (ts_ns(pb->time) > n->watermark_ns)
			n->watermark_ns = ts_ns(pb->time);
		return;
	default:
		return; /* a chained relay's node status: its nodes are not ours */
	}
}

static void on_info(struct relay_node *n, const struct relay_node_info *i)
{
	n->info.num_flows = i->num_flows;
	n->info.max_flows = i->max_flows;
	n->info.seen_flows = i->seen_flows;
	n->info.uptime_ns = i->uptime_ns;
	n->info.flows_rate = i->flows_rate;
	snprintf(n->info.version, sizeof(n->info.version), "%s", i->version);
	snprintf(n->info.namespaces, sizeof(n->info.namespaces), "%s", i->namespaces);
	/* The name the node gives itself, unless one was configured. */
	if (i->name[0] && !strcmp(n->info.name, n->address))
		snprintf(n->info.name, sizeof(n->info.name), "%s", i->name);
}

/* A peer an agent told of. An agent listening on every address tells "0.0.0.0:PORT" (or
 * "[::]:PORT"): that is the host the relay reaches it by. A name already followed is that
 * node (the relay may know it by another address). */
static void on_peer(struct relay *r, struct relay_node *from, struct node_msg *m)
{
	char name[256], addr[340], host[256], fixed[320];
	struct errmsg e = {""};
	uint16_t port;
	unsigned int i;
	bool tls;

	if (m->peer_type != PEER__CHANGE_NOTIFICATION_TYPE__PEER_ADDED &&
	    m->peer_type != PEER__CHANGE_NOTIFICATION_TYPE__PEER_UPDATED)
		return;
	if (sscanf(m->text, "%255s %299s", name, addr) != 2)
		return;
	for (i = 0; strcmp(name, "-") && i < r->n_nodes; i++)
		if (!r->nodes[i]->removed && !strcmp(r->nodes[i]->info.name, name))
			return;
	tls = !strncmp(addr, "tls://", 6);
	if (parse_hostport(tls ? addr + 6 : addr, host, sizeof(host), &port))
		return;
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
		snprintf(fixed, sizeof(fixed), "%s%s%s%s:%u", tls ? "tls://" : "",
			 strchr(from->host, ':') ? "[" : "", from->host,
			 strchr(from->host, ':') ? "]" : "", port);
		snprintf(addr, sizeof(addr), "%s", fixed);
	}
	relay_add_peer(r, strcmp(name, "-") ? name : NULL, addr, &e);
}

static void handle(struct relay *r, struct relay_node *n, struct node_msg *m)
{
	switch (m->kind) {
	case NODE_MSG_FLOWS:
		on_flows_msg(r, n, m);
		break;
	case NODE_MSG_UP:
		n->up = true;
		n->watermark_ns = 0;
		n->last_msg_ns = m->rx_ns;
		n->info.connects++;
		set_state(r, n, RELAY__NODE_STATE__NODE_CONNECTED, NULL);
		break;
	case NODE_MSG_DOWN:
		n->up = false;
		set_state(r, n, RELAY__NODE_STATE__NODE_UNAVAILABLE, m->text);
		break;
	case NODE_MSG_INFO:
		on_info(n, m->info);
		break;
	case NODE_MSG_INFO_FAIL:
		if (!n->up)
			set_state(r, n, RELAY__NODE_STATE__NODE_UNAVAILABLE, m->text);
		break;
	case NODE_MSG_PEER:
		if (r->o.discover)
			on_peer(r, n, m);
		break;
	case NODE_MSG_AGENT:
		if (r->agent_cb)
			r->agent_cb(n->info.name, m->peer_type, m->query, m->text, m->time_ns,
				    r->agent_ctx);
		break;
	}
}

/* Messages a node may have handled per wake: a node with a backlog does not keep the loop
 * (servers, other nodes, the tick) waiting; the rest is handled on the next turn. */
#define WAKE_BUDGET 2048

static void on_wake(uv_async_t *a)
{
	struct relay *r = a->data;
	unsigned int i;
	bool more = false;

	for (i = 0; i < r->n_nodes; i++) {
		struct relay_node *n = r->nodes[i];
		struct node_msg *m;
		int k;

		if (n->removed)
			continue;
		if (!n->backlog)
			n->backlog = node_take(n);
		for (k = 0; (m = n->backlog) && k < WAKE_BUDGET; k++) {
			n->backlog = m->next;
			handle(r, n, m);
			node_msg_free(m);
		}
		more |= n->backlog != NULL;
	}
	release(r);
	if (more)
		uv_async_send(a);
}

/* Every tick: what waited lag goes; a connected node silent for too long is reconnected. */
static void on_tick(uv_timer_t *t)
{
	struct relay *r = t->data;
	uint64_t now = clock_boot_ns(), quiet = 5ULL * r->o.heartbeat_ms * 1000000ULL;
	uint64_t wall = clock_wall_ns();
	unsigned int i;

	if (quiet < 2 * NSEC_PER_SEC)
		quiet = 2 * NSEC_PER_SEC;
	for (i = 0; i < r->n_nodes; i++) {
		struct relay_node *n = r->nodes[i];

		if (n->removed)
			continue;
		n->info.lag_ns = n->up && n->watermark_ns && wall > n->watermark_ns
					 ? wall - n->watermark_ns
					 : 0;
		/* Not silent: waiting for this loop (a full queue, a backlog) is not the agent's.
		 */
		if (n->up && !n->held && !n->backlog && now - n->last_msg_ns > quiet) {
			char why[100];

			snprintf(why, sizeof(why), "no heartbeat for %.1f s: reconnecting",
				 (double)(now - n->last_msg_ns) / 1e9);
			n->up = false;
			n->reconnect = 1;
			set_state(r, n, RELAY__NODE_STATE__NODE_UNAVAILABLE, why);
		}
	}
	release(r);
}

/* ---- nodes ------------------------------------------------------------------------------- */

static int parse_address(const char *address, struct relay_node *n, const struct relay_tls *tls,
			 struct errmsg *e)
{
	const char *hp = address;
	bool use_tls = tls->enabled || tls->ca || tls->cert || tls->insecure;

	if (!strncmp(address, "tls://", 6)) {
		hp = address + 6;
		use_tls = true;
	}
	if (parse_hostport(hp, n->host, sizeof(n->host), &n->copts.port) || !n->copts.port)
		return errmsg_set(e, -EINVAL,
				  "invalid peer '%s': use HOST:PORT, [V6]:PORT or tls://HOST:PORT",
				  address);
	n->copts.host = n->host;
	n->copts.tls = use_tls;
	n->copts.tls_insecure = tls->insecure;
	n->copts.tls_ca = tls->ca;
	n->copts.tls_cert = tls->cert;
	n->copts.tls_key = tls->key;
	n->copts.tls_server_name = tls->server_name;
	n->copts.token = tls->token;
	n->info.tls = use_tls;
	return 0;
}

int relay_add_peer(struct relay *r, const char *name, const char *address, struct errmsg *e)
{
	struct relay_node *n;
	unsigned int i;
	int err;

	for (i = 0; i < r->n_nodes; i++)
		if (!r->nodes[i]->removed && !strcmp(r->nodes[i]->address, address))
			return 0;
	if (r->n_nodes == MAX_NODES)
		return errmsg_set(e, -ENOSPC, "at most %d nodes", MAX_NODES);
	n = calloc(1, sizeof(*n));
	if (!n)
		return errmsg_set(e, -ENOMEM, "out of memory");
	snprintf(n->address, sizeof(n->address), "%s", address);
	err = parse_address(address, n, &r->o.tls, e);
	if (err) {
		free(n);
		return err;
	}
	n->relay = r;
	n->index = r->n_nodes;
	n->copts.timeout_ms = r->o.connect_timeout_ms;
	n->heartbeat_ms = r->o.heartbeat_ms;
	n->backfill = r->o.backfill;
	n->discover = r->o.discover;
	n->wake = r->wake;
	snprintf(n->info.name, sizeof(n->info.name), "%s", name && name[0] ? name : address);
	snprintf(n->info.address, sizeof(n->info.address), "%s", address);
	n->info.state = RELAY__NODE_STATE__NODE_UNAVAILABLE;
	snprintf(n->info.message, sizeof(n->info.message), "connecting");
	n->origin.name = n->info.name;
	err = node_start(n);
	if (err) {
		free(n);
		return errmsg_set(e, err, "cannot start a reader for %s", address);
	}
	r->nodes[r->n_nodes++] = n;
	return 0;
}

int relay_remove_peer(struct relay *r, const char *address)
{
	unsigned int i;

	for (i = 0; i < r->n_nodes; i++) {
		struct relay_node *n = r->nodes[i];

		if (n->removed || strcmp(n->address, address))
			continue;
		/* Its threads end on their own (a connect in progress may take its timeout): they
		 * are joined by relay_stop(), not here in the loop. */
		n->stop = 1;
		n->reconnect = 1;
		n->removed = true;
		n->up = false;
		set_state(r, n, RELAY__NODE_STATE__NODE_GONE, "removed from the peers");
		return 0;
	}
	return -ENOENT;
}

size_t relay_nodes(const struct relay *r, struct relay_node_info *out, size_t max)
{
	unsigned int i;
	size_t k = 0;

	for (i = 0; i < r->n_nodes; i++) {
		if (r->nodes[i]->removed)
			continue;
		if (k < max)
			out[k] = r->nodes[i]->info;
		k++;
	}
	return k;
}

void relay_get_stats(const struct relay *r, struct relay_stats *st)
{
	unsigned int i;

	*st = r->st;
	st->nodes = st->connected = st->unavailable = 0;
	for (i = 0; i < r->n_nodes; i++) {
		if (r->nodes[i]->removed)
			continue;
		st->nodes++;
		if (r->nodes[i]->info.state == RELAY__NODE_STATE__NODE_CONNECTED)
			st->connected++;
		else
			st->unavailable++;
	}
	st->pending = r->n_heap;
}

void relay_set_node_cb(struct relay *r, relay_node_cb cb, void *ctx)
{
	r->node_cb = cb;
	r->node_ctx = ctx;
}

void relay_set_lost_cb(struct relay *r, relay_lost_cb cb, void *ctx)
{
	r->lost_cb = cb;
	r->lost_ctx = ctx;
}

void relay_set_agent_event_cb(struct relay *r, relay_agent_event_cb cb, void *ctx)
{
	r->agent_cb = cb;
	r->agent_ctx = ctx;
}

int relay_new(struct relay **out, const struct relay_opts *o, struct errmsg *e)
{
	struct relay *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r || !o->col || !o->loop) {
		free(r);
		return errmsg_set(e, r ? -EINVAL : -ENOMEM,
				  r ? "a relay needs a loop and a collector" : "out of memory");
	}
	r->o = *o;
	r->o.lag_ns = o->lag_ns ? o->lag_ns : NSEC_PER_SEC;
	r->o.heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : 200;
	r->o.backfill = o->backfill ? o->backfill : 2000;
	r->o.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 3000;
	r->intern = intern_new(1u << 20);
	r->wake = calloc(1, sizeof(*r->wake));
	r->tick = calloc(1, sizeof(*r->tick));
	if (!r->intern || !r->wake || !r->tick) {
		intern_free(r->intern);
		free(r->wake);
		free(r->tick);
		free(r);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	uv_async_init(o->loop, r->wake, on_wake);
	uv_timer_init(o->loop, r->tick);
	r->wake->data = r;
	r->tick->data = r;
	uv_timer_start(r->tick, on_tick, TICK_MS, TICK_MS);
	*out = r;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h);
}

void relay_stop(struct relay *r)
{
	unsigned int i;

	if (!r || r->stopped)
		return;
	r->stopped = true;
	for (i = 0; i < r->n_nodes; i++)
		node_stop(r->nodes[i]);
	while (r->n_heap)
		free(heap_pop(r));
	uv_timer_stop(r->tick);
	uv_close((uv_handle_t *)r->tick, on_closed);
	uv_close((uv_handle_t *)r->wake, on_closed);
}

void relay_free(struct relay *r)
{
	unsigned int i;

	if (!r)
		return;
	relay_stop(r);
	for (i = 0; i < r->n_nodes; i++)
		free(r->nodes[i]);
	free(r->heap);
	intern_free(r->intern);
	free(r);
}
