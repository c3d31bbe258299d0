/* One agent's reader threads (see relay/node.h): the stream thread follows its flow events
 * (resuming after the last one the loop took), the info thread asks its ServerStatus, GetNodes,
 * GetNamespaces and, for discovery, the first answers of peer.Peer/Notify. Both reconnect with
 * backoff; neither touches anything but the node's queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowscope/base/str.h"
#include "flowscope/base/clock.h"
#include "flowscope/base/pb_unpack.h"
#include "flowscope/encode/flow_pb_decode.h"
#include "node.h"
#include "observer.pb-c.h"
#include "peer.pb-c.h"

#define QUEUE_MAX 16384	      /* messages a node may have waiting for the loop */
#define INFO_INTERVAL_MS 2000 /* how often the info thread asks */
#define NOTIFY_WINDOW_MS 400  /* how long it listens to Notify's first answers */

static void push(struct relay_node *n, struct node_msg *m)
{
	bool wait;

	m->next = NULL;
	m->rx_ns = clock_boot_ns();
	pthread_mutex_lock(&n->lock);
	if (n->tail)
		n->tail->next = m;
	else
		n->head = m;
	n->tail = m;
	n->queued++;
	wait = n->queued > QUEUE_MAX;
	pthread_mutex_unlock(&n->lock);
	uv_async_send(n->wake);
	/* The loop is behind: hold the agent back (TCP flow control reaches it, and the agent
	 * tells its losses in the stream) rather than queue without bound. */
	n->held = wait;
	while (wait && !n->stop) {
		struct timespec ts = {0, 2000000};

		nanosleep(&ts, NULL);
		pthread_mutex_lock(&n->lock);
		wait = n->queued > QUEUE_MAX / 2;
		pthread_mutex_unlock(&n->lock);
	}
	n->held = 0;
}

static void push_text(struct relay_node *n, enum node_msg_kind kind, const char *text)
{
	struct node_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->kind = kind;
	snprintf(m->text, sizeof(m->text), "%s", text);
	push(n, m);
}

struct node_msg *node_take(struct relay_node *n)
{
	struct node_msg *m;

	pthread_mutex_lock(&n->lock);
	m = n->head;
	n->head = n->tail = NULL;
	n->queued = 0;
	pthread_mutex_unlock(&n->lock);
	return m;
}

/* Sleeps ms, in steps, unless the node stops. */
static void nap(struct relay_node *n, int ms)
{
	while (ms > 0 && !n->stop) {
		struct timespec ts = {0, (ms > 100 ? 100 : ms) * 1000000L};

		nanosleep(&ts, NULL);
		ms -= 100;
	}
}

/* Decodes here, in the node's thread (the loop only merges): the response, its flow, and the
 * uuid to resume after. */
static int on_flows(const uint8_t *msg, size_t len, void *ctx)
{
	struct relay_node *n = ctx;
	struct node_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return 1;
	/* A stream is up once the agent answers it: a connection that takes TLS but then fails
	 * (not an agent, a refused client certificate) never counts as connected. */
	if (!n->stream_up) {
		n->stream_up = true;
		push_text(n, NODE_MSG_UP, "");
	}
	m->kind = NODE_MSG_FLOWS;
	pb_arena_init_block(&m->arena, 3072); /* a 265-byte flow unpacks into 2.5 KiB */
	m->pb = (Observer__GetFlowsResponse *)pb_unpack(&observer__get_flows_response__descriptor,
							&m->arena.allocator, len, msg);
	if (!m->pb) {
		pb_arena_free(&m->arena);
		free(m);
		return 0; /* not a GetFlowsResponse: skipped (counted by the loop as nothing) */
	}
	if (m->pb->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW &&
	    !flow_pb_to_flow(m->pb->flow, &m->f)) {
		m->has_flow = true;
		if (m->f.dns.query) {
			str_copy(m->query, sizeof(m->query), m->f.dns.query);
			m->f.dns.query = m->query;
		}
		if (m->pb->flow->uuid && m->pb->flow->uuid[0]) {
			pthread_mutex_lock(&n->lock);
			str_copy(n->resume_after, sizeof(n->resume_after), m->pb->flow->uuid);
			pthread_mutex_unlock(&n->lock);
		}
	}
	push(n, m);
	return n->stop || n->reconnect;
}

void node_msg_free(struct node_msg *m)
{
	pb_arena_free(&m->arena); /* m->pb and its parts (nothing for other kinds) */
	free(m->info);
	free(m);
}

/* One follow stream: from the last event taken (resume_after), else the newest backfill
 * events, then live, with heartbeats. Returns when it ends. */
static void follow(struct relay_node *n, struct grpc_client *c)
{
	Observer__GetFlowsRequest req = OBSERVER__GET_FLOWS_REQUEST__INIT;
	struct errmsg e = {""};
	char resume[40], why[600];
	int r;

	pthread_mutex_lock(&n->lock);
	snprintf(resume, sizeof(resume), "%s", n->resume_after);
	pthread_mutex_unlock(&n->lock);
	req.follow = true;
	req.heartbeat_ms = n->heartbeat_ms;
	if (resume[0])
		req.resume_after = resume;
	else
		req.number = n->backfill;
	n->stream_up = false;
	r = grpc_client_call(c, "/observer.Observer/GetFlows", &req.base, on_flows, n,
			     &n->reconnect, &e);
	if (n->reconnect && !n->stop)
		snprintf(why, sizeof(why), "no heartbeat: reconnecting");
	else if (r < 0)
		snprintf(why, sizeof(why), "stream failed: %s", errmsg_text(&e, r));
	else
		snprintf(why, sizeof(why), "stream ended: status %d%s%s", r, e.text[0] ? ": " : "",
			 e.text);
	push_text(n, NODE_MSG_DOWN, why);
}

static void *stream_main(void *arg)
{
	struct relay_node *n = arg;
	int backoff = 100;

	while (!n->stop) {
		struct grpc_client *c = NULL;
		struct errmsg e = {""};
		uint64_t t0 = clock_boot_ns();
		int r = grpc_client_connect(&c, &n->copts, &e);

		n->reconnect = 0;
		if (r) {
			char why[600];

			snprintf(why, sizeof(why), "cannot connect: %s", errmsg_text(&e, r));
			push_text(n, NODE_MSG_DOWN, why);
		} else {
			follow(n, c);
			grpc_client_close(c);
		}
		/* A stream that lasted a while starts the backoff over. */
		if (clock_boot_ns() - t0 > 10 * NSEC_PER_SEC)
			backoff = 100;
		nap(n, backoff);
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
	return NULL;
}

/* ---- the info thread ------------------------------------------------------------------------ */

static int on_status(const uint8_t *msg, size_t len, void *ctx)
{
	Observer__ServerStatusResponse *s =
		observer__server_status_response__unpack(NULL, len, msg);
	struct relay_node_info *i = ctx;

	if (!s)
		return 1;
	i->num_flows = s->num_flows;
	i->max_flows = s->max_flows;
	i->seen_flows = s->seen_flows;
	i->uptime_ns = s->uptime_ns;
	i->flows_rate = s->flows_rate;
	snprintf(i->version, sizeof(i->version), "%s", s->version ? s->version : "");
	observer__server_status_response__free_unpacked(s, NULL);
	return 0;
}

/* The agent's own name: the one node its GetNodes lists (a relay lists many: keep "" then). */
static int on_nodes(const uint8_t *msg, size_t len, void *ctx)
{
	Observer__GetNodesResponse *s = observer__get_nodes_response__unpack(NULL, len, msg);
	struct relay_node_info *i = ctx;

	if (!s)
		return 1;
	if (s->n_nodes == 1 && s->nodes[0]->name)
		snprintf(i->name, sizeof(i->name), "%s", s->nodes[0]->name);
	observer__get_nodes_response__free_unpacked(s, NULL);
	return 0;
}

static int on_namespaces(const uint8_t *msg, size_t len, void *ctx)
{
	Observer__GetNamespacesResponse *s =
		observer__get_namespaces_response__unpack(NULL, len, msg);
	struct relay_node_info *i = ctx;
	size_t k, o = 0;

	if (!s)
		return 1;
	for (k = 0; k < s->n_namespaces && o < sizeof(i->namespaces); k++)
		o += (size_t)snprintf(
			i->namespaces + o, sizeof(i->namespaces) - o, "%s%s", o ? "," : "",
			s->namespaces[k]->namespace_ ? s->namespaces[k]->namespace_ : "");
	observer__get_namespaces_response__free_unpacked(s, NULL);
	return 0;
}

static int on_peer(const uint8_t *msg, size_t len, void *ctx)
{
	Peer__ChangeNotification *p = peer__change_notification__unpack(NULL, len, msg);
	struct relay_node *n = ctx;
	struct node_msg *m;

	if (!p)
		return 1;
	m = calloc(1, sizeof(*m));
	if (m && p->address && p->address[0]) {
		m->kind = NODE_MSG_PEER;
		m->peer_type = p->type;
		snprintf(m->text, sizeof(m->text), "%s %s", p->name && p->name[0] ? p->name : "-",
			 p->address);
		push(n, m);
	} else {
		free(m);
	}
	peer__change_notification__free_unpacked(p, NULL);
	return n->stop;
}

/* One round of questions; 0, or a negative errno with e set. */
static int on_agent_event(const uint8_t *msg, size_t len, void *ctx)
{
	Observer__GetAgentEventsResponse *r =
		observer__get_agent_events_response__unpack(NULL, len, msg);
	struct relay_node *n = ctx;
	struct node_msg *m;
	uint64_t t;

	if (!r)
		return 1;
	t = r->time ? (uint64_t)r->time->seconds * NSEC_PER_SEC + (uint64_t)r->time->nanos : 0;
	m = r->agent_event && t > n->agent_since ? calloc(1, sizeof(*m)) : NULL;
	if (m) {
		const Flow__AgentEventUnknown *u = r->agent_event->unknown;

		m->kind = NODE_MSG_AGENT;
		m->peer_type = (int)r->agent_event->type;
		m->time_ns = t;
		snprintf(m->query, sizeof(m->query), "%s", u && u->type ? u->type : "");
		snprintf(m->text, sizeof(m->text), "%s",
			 u && u->notification ? u->notification : "");
		n->agent_since = t;
		push(n, m);
	}
	observer__get_agent_events_response__free_unpacked(r, NULL);
	return 0;
}

/* The agent events the node has that were not taken yet (an agent without them, or a server
 * that does not serve GetAgentEvents, is no matter). */
static void take_agent_events(struct relay_node *n, struct grpc_client *c, struct errmsg *e)
{
	Observer__GetAgentEventsRequest req = OBSERVER__GET_AGENT_EVENTS_REQUEST__INIT;
	Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	if (n->agent_since) {
		since.seconds = (int64_t)(n->agent_since / NSEC_PER_SEC);
		since.nanos = (int32_t)(n->agent_since % NSEC_PER_SEC);
		req.since = &since;
	}
	req.number = 1024;
	grpc_client_call(c, "/observer.Observer/GetAgentEvents", &req.base, on_agent_event, n,
			 &n->stop, e);
}

static int ask(struct relay_node *n, struct grpc_client *c, bool discover, struct errmsg *e)
{
	Observer__ServerStatusRequest sreq = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	Observer__GetNodesRequest nreq = OBSERVER__GET_NODES_REQUEST__INIT;
	Observer__GetNamespacesRequest gns = OBSERVER__GET_NAMESPACES_REQUEST__INIT;
	Peer__NotifyRequest preq = PEER__NOTIFY_REQUEST__INIT;
	struct node_msg *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return errmsg_set(e, -ENOMEM, "out of memory");
	m->kind = NODE_MSG_INFO;
	m->info = calloc(1, sizeof(*m->info));
	if (!m->info) {
		free(m);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	grpc_client_set_deadline(c, 3000);
	r = grpc_client_call(c, "/observer.Observer/ServerStatus", &sreq.base, on_status, m->info,
			     &n->stop, e);
	if (r == 0)
		r = grpc_client_call(c, "/observer.Observer/GetNodes", &nreq.base, on_nodes,
				     m->info, &n->stop, e);
	if (r == 0) /* an agent without namespaces may answer UNIMPLEMENTED: no matter */
		grpc_client_call(c, "/observer.Observer/GetNamespaces", &gns.base, on_namespaces,
				 m->info, &n->stop, e);
	if (r) {
		char why[sizeof(e->text)];

		node_msg_free(m);
		if (r < 0)
			return r;
		/* e->text is the status's message: not both source and target of one format. */
		snprintf(why, sizeof(why), "%s", e->text);
		return errmsg_set(e, -EPROTO, "status %d: %s", r, why);
	}
	push(n, m);
	take_agent_events(n, c, e);
	if (discover) {
		/* Notify never ends: listen to the list it starts with, then hang up. */
		grpc_client_set_deadline(c, NOTIFY_WINDOW_MS);
		grpc_client_call(c, "/peer.Peer/Notify", &preq.base, on_peer, n, &n->stop, e);
	}
	return 0;
}

static void *info_main(void *arg)
{
	struct relay_node *n = arg;

	while (!n->stop) {
		struct grpc_client *c = NULL;
		struct errmsg e = {""};
		int r = grpc_client_connect(&c, &n->copts, &e);

		if (!r) {
			while (!n->stop && !(r = ask(n, c, n->discover, &e)))
				nap(n, INFO_INTERVAL_MS);
			grpc_client_close(c);
		}
		if (r && !n->stop) {
			char why[600];

			snprintf(why, sizeof(why), "%s", errmsg_text(&e, r));
			push_text(n, NODE_MSG_INFO_FAIL, why);
		}
		nap(n, INFO_INTERVAL_MS);
	}
	return NULL;
}

int node_start(struct relay_node *n)
{
	int err;

	pthread_mutex_init(&n->lock, NULL);
	err = pthread_create(&n->stream_thread, NULL, stream_main, n);
	if (err)
		return -err;
	err = pthread_create(&n->info_thread, NULL, info_main, n);
	if (err) {
		n->stop = 1;
		pthread_join(n->stream_thread, NULL);
		return -err;
	}
	n->threads = true;
	return 0;
}

void node_stop(struct relay_node *n)
{
	struct node_msg *m, *next;

	n->stop = 1;
	n->reconnect = 1;
	if (n->threads) {
		pthread_join(n->stream_thread, NULL);
		pthread_join(n->info_thread, NULL);
		n->threads = false;
	}
	for (m = node_take(n); m; m = next) {
		next = m->next;
		node_msg_free(m);
	}
	for (m = n->backlog; m; m = next) {
		next = m->next;
		node_msg_free(m);
	}
	n->backlog = NULL;
	pthread_mutex_destroy(&n->lock);
}
