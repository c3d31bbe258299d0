/* Tests of what a flowd offers a relay, over real loopback gRPC connections (the server on its
 * own loop in a thread, as in test_grpc.c; flows injected there as probe records):
 * - peer.Peer/Notify: this node then every peer as PEER_ADDED, a peers file watched and
 *   reloaded (PEER_DELETED / PEER_UPDATED / PEER_ADDED for what changed), a bad file keeping
 *   the old list and naming its line, TLS server names, the parsing of peers;
 * - GetFlows watermarks (heartbeat_ms): right after the replay, at the interval while idle,
 *   never above the time of a flow event that follows (records still in a ring are published
 *   before the watermark), events told late counted, until ended by a watermark;
 * - GetFlows resume_after: the exact continuation (no event twice, none skipped, filters
 *   applied), the exact LostEvent count after the event log wrapped, another run's uuid, and
 *   the requests refused;
 * - ServerStatus and GetNodes as a relay reads them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "flowscope/base/grpc_client.h"
#include "flowscope/pipeline/flow_view.h"
#include "flowscope/serve/observer.h"
#include "flowscope/serve/peers.h"
#include "loop_thread.h"
#include "observer.pb-c.h"
#include "peer.pb-c.h"

#define CAP 200 /* flows stored, events logged */
#define MS 1000000ULL

/* ---- the server thread --------------------------------------------------------------------- */

static struct {
	struct loop_thread t;
	struct grpc_server *srv;
	struct observer obs;
	struct agent_events *agent;
	uint16_t port;
	char address[64];
	char dir[64], file[96];
	/* Records "still in a ring": published by the next watermark's drain. */
	struct flow_record ring[64];
	int n_ring;
	atomic_int marks_computed;
} S;

static void on_loop(void (*fn)(void *), void *arg)
{
	loop_thread_run(&S.t, fn, arg);
}

static void stop_server(void *ctx)
{
	(void)ctx;
	grpc_server_stop(S.srv);
	peers_stop(S.obs.peers);
	S.obs.peers = NULL;
}

/* As flowd's: drain the rings, then the collector's watermark of the time read before. */
static uint64_t test_watermark(void *ctx)
{
	uint64_t boot = clock_boot_ns();
	int i;

	(void)ctx;
	for (i = 0; i < S.n_ring; i++)
		ck_assert_int_eq(collector_handle_record(S.t.col, &S.ring[i], sizeof(S.ring[i])),
				 0);
	S.n_ring = 0;
	atomic_fetch_add(&S.marks_computed, 1);
	return follower_collector_mark(S.t.col, boot);
}

static void write_file(const char *path, const char *text)
{
	char tmp[128];
	FILE *f;

	/* As editors do: a new file renamed over the old one. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static const char *const specs[] = {"n2=10.0.0.2:4244", "10.0.0.3:4244"};

static void server_start(void)
{
	struct grpc_server_opts o = {.addr = "127.0.0.1", .follow_queue = 4096};
	struct peers_opts po = {.specs = specs, .n_specs = 2};
	struct grpc_service svc;
	struct errmsg e = {""};
	char text[300];
	int err = -1, tries;

	memset(&S, 0, sizeof(S));
	loop_thread_init(&S.t, CAP, false);
	follower_hub_set_marks(
		S.t.hub, &(struct follower_marks){.loop = &S.t.loop, .watermark = test_watermark});
	S.agent = agent_events_new(64);
	ck_assert_ptr_nonnull(S.agent);
	S.obs = (struct observer){.followers = S.t.hub,
				  .status = &S.t.status,
				  .node_name = LOOP_THREAD_NODE,
				  .events = S.t.events,
				  .address = S.address};
	svc = observer_service(&S.obs);
	for (tries = 0; tries < 5 && err; tries++) {
		S.port = o.port = loop_thread_free_port();
		err = grpc_server_start(&S.srv, &S.t.loop, &o, &svc, &e);
	}
	ck_assert_msg(err == 0, "grpc_server_start: %s", e.text);
	snprintf(S.address, sizeof(S.address), "127.0.0.1:%u", S.port);

	/* A file shared by every node lists this one too: skipped. */
	snprintf(S.dir, sizeof(S.dir), "/tmp/fs-peers-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(S.dir));
	snprintf(S.file, sizeof(S.file), "%s/peers", S.dir);
	snprintf(text, sizeof(text),
		 "# the cluster\n"
		 "n4=10.0.0.4:4244   # rack 2\n"
		 "\n"
		 "  n6=10.0.0.6:4244\n" LOOP_THREAD_NODE "=%s\n",
		 S.address);
	write_file(S.file, text);
	snprintf(po.self.name, sizeof(po.self.name), "%s", LOOP_THREAD_NODE);
	snprintf(po.self.address, sizeof(po.self.address), "%s", S.address);
	po.file = S.file;
	po.agent = S.agent;
	ck_assert_msg(peers_start(&S.obs.peers, &S.t.loop, &po, &e) == 0, "%s", e.text);
	S.t.on_stop = stop_server;
	loop_thread_start(&S.t);
}

static void setup(void)
{
	server_start();
}

static void teardown(void)
{
	char tmp[128];

	loop_thread_stop(&S.t);
	agent_events_free(S.agent);
	unlink(S.file);
	snprintf(tmp, sizeof(tmp), "%s.new", S.file);
	unlink(tmp);
	rmdir(S.dir);
}

/* A UDP flow's start record: 10.0.H.1:P -> 10.0.0.2:53 for port H * 65536 + P, stamped
 * ago_ns before now. */
static struct flow_record record(int port, uint64_t ago_ns)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.type = FLOW_REC_TC;
	r.version = FLOW_RECORD_VERSION;
	r.events = FLOW_EV_START;
	r.key.addr[0][0] = 10;
	r.key.addr[0][2] = (uint8_t)(port >> 16);
	r.key.addr[0][3] = 1;
	r.key.addr[1][0] = 10;
	r.key.addr[1][3] = 2;
	r.key.port[0] = (uint16_t)(port & 0xffff);
	r.key.port[1] = 53;
	r.key.ifindex = 1;
	r.key.proto = IPPROTO_UDP;
	r.key.family = 4;
	r.ts_ns = clock_boot_ns() - ago_ns;
	r.pkt_len = 100;
	r.tc_dir = FLOW_TC_EGRESS;
	r.state.first_seen_ns = r.ts_ns; /* no ticks: last seen = first seen */
	r.state.packets[0] = 1;
	r.state.bytes[0] = 100;
	return r;
}

struct inject {
	int first_port, n;
	uint64_t ago_ns;
	bool to_ring; /* left in the "ring" for the next watermark to drain */
};

static void do_inject(void *arg)
{
	struct inject *in = arg;
	int i;

	for (i = 0; i < in->n; i++) {
		struct flow_record r = record(in->first_port + i, in->ago_ns);

		if (in->to_ring) {
			ck_assert_int_lt(S.n_ring, 64);
			S.ring[S.n_ring++] = r;
		} else {
			ck_assert_int_eq(collector_handle_record(S.t.col, &r, sizeof(r)), 0);
		}
	}
}

static void inject(int first_port, int n)
{
	struct inject in = {first_port, n, 0, false};

	on_loop(do_inject, &in);
}

static void do_hub_stats(void *arg)
{
	follower_hub_get_stats(S.t.hub, arg);
}

static uint64_t hub_late(void)
{
	struct follower_hub_stats st;

	on_loop(do_hub_stats, &st);
	return st.late[FOLLOWER_GRPC];
}

static struct grpc_client *connect_client(void)
{
	struct grpc_client_opts o = {.host = "127.0.0.1", .port = S.port};
	struct grpc_client *c = NULL;
	struct errmsg err = {""};

	ck_assert_msg(grpc_client_connect(&c, &o, &err) == 0, "connect: %s", err.text);
	return c;
}

/* ---- streams ------------------------------------------------------------------------------- */

enum kind { FLOW, LOST, MARK, PEER };

struct msg {
	enum kind kind;
	int port;	   /* FLOW: its source "port" (see record()) */
	uint64_t time_ns;  /* FLOW, MARK */
	uint64_t seq;	   /* FLOW: its uuid's event number */
	uint8_t uuid[16];  /* FLOW */
	int source;	   /* LOST */
	uint64_t lost;	   /* LOST */
	uint64_t recv_ns;  /* when the client got it (wall) */
	int type;	   /* PEER: the ChangeNotificationType */
	char name[64];	   /* PEER */
	char address[64];  /* PEER */
	char tls_name[64]; /* PEER */
};

/* A call in a thread of its own, and what it received. */
struct stream {
	pthread_t th;
	struct grpc_client *c;
	const char *path;
	Observer__GetFlowsRequest req;
	pthread_mutex_t mu;
	struct msg *m;
	int n, cap;
	int stop_at_port; /* cancel when a flow of this port arrives */
	int stop_after;	  /* cancel after this many messages */
	volatile int stop;
	int status;
	struct errmsg err;
};

static uint64_t ts_of(const Google__Protobuf__Timestamp *t)
{
	return t ? (uint64_t)t->seconds * NSEC_PER_SEC + (uint64_t)t->nanos : 0;
}

static void parse_flows(struct msg *m, const uint8_t *data, size_t len)
{
	Observer__GetFlowsResponse *r = observer__get_flows_response__unpack(NULL, len, data);

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->node_name, LOOP_THREAD_NODE);
	ck_assert(!r->late); /* a relay's to set, never the agent's */
	m->time_ns = ts_of(r->time);
	if (r->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW) {
		uint8_t a[4];

		m->kind = FLOW;
		ck_assert_int_eq(inet_pton(AF_INET, r->flow->ip->source, a), 1);
		m->port = a[2] << 16 | (int)r->flow->l4->udp->source_port;
		ck_assert_int_eq(flow_uuid_parse(r->flow->uuid, m->uuid), 0);
		ck_assert_int_eq(flow_uuid_seq(m->uuid, &m->seq), 0);
		ck_assert_uint_eq(ts_of(r->flow->time), m->time_ns);
	} else if (r->response_types_case ==
		   OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS) {
		m->kind = LOST;
		m->source = r->lost_events->source;
		m->lost = r->lost_events->num_events_lost;
	} else {
		/* A watermark: nothing but the node and the time. */
		ck_assert_int_eq(r->response_types_case,
				 OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES__NOT_SET);
		ck_assert_uint_gt(m->time_ns, 0);
		m->kind = MARK;
	}
	observer__get_flows_response__free_unpacked(r, NULL);
}

static void parse_peer(struct msg *m, const uint8_t *data, size_t len)
{
	Peer__ChangeNotification *n = peer__change_notification__unpack(NULL, len, data);

	ck_assert_ptr_nonnull(n);
	m->kind = PEER;
	m->type = n->type;
	snprintf(m->name, sizeof(m->name), "%s", n->name);
	snprintf(m->address, sizeof(m->address), "%s", n->address);
	snprintf(m->tls_name, sizeof(m->tls_name), "%s", n->tls ? n->tls->server_name : "");
	peer__change_notification__free_unpacked(n, NULL);
}

static int on_msg(const uint8_t *data, size_t len, void *ctx)
{
	struct stream *s = ctx;
	struct msg m = {0};

	if (!strcmp(s->path, "/peer.Peer/Notify"))
		parse_peer(&m, data, len);
	else
		parse_flows(&m, data, len);
	m.recv_ns = clock_wall_ns();
	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->m = realloc(s->m, (size_t)s->cap * sizeof(*s->m));
		ck_assert_ptr_nonnull(s->m);
	}
	s->m[s->n++] = m;
	if ((s->stop_at_port && m.kind == FLOW && m.port == s->stop_at_port) ||
	    (s->stop_after && s->n >= s->stop_after))
		s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void *stream_main(void *arg)
{
	struct stream *s = arg;

	if (!strcmp(s->path, "/peer.Peer/Notify")) {
		Peer__NotifyRequest req = PEER__NOTIFY_REQUEST__INIT;

		s->status =
			grpc_client_call(s->c, s->path, &req.base, on_msg, s, &s->stop, &s->err);
	} else {
		s->status =
			grpc_client_call(s->c, s->path, &s->req.base, on_msg, s, &s->stop, &s->err);
	}
	return NULL;
}

static struct stream *stream_new(const char *path)
{
	struct stream *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->path = path;
	pthread_mutex_init(&s->mu, NULL);
	observer__get_flows_request__init(&s->req);
	return s;
}

static void stream_start(struct stream *s)
{
	s->c = connect_client();
	ck_assert_int_eq(pthread_create(&s->th, NULL, stream_main, s), 0);
}

static int stream_count(struct stream *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Waits (up to 5 s) for at least n messages. */
static void stream_wait(struct stream *s, int n)
{
	int i;

	for (i = 0; i < 500 && stream_count(s) < n; i++)
		usleep(10000);
	ck_assert_int_ge(stream_count(s), n);
}

/* Ends the call (cancelling it unless it ended) and returns its status. */
static int stream_end(struct stream *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	grpc_client_close(s->c);
	return s->status;
}

static void stream_free(struct stream *s)
{
	free(s->m);
	free(s);
}

static int count_kind(struct stream *s, enum kind k)
{
	int i, n = 0;

	for (i = 0; i < s->n; i++)
		n += s->m[i].kind == k;
	return n;
}

/* One unary or finished streaming call: its status, what it sent into s. */
static int call_flows(struct stream *s)
{
	stream_start(s);
	pthread_join(s->th, NULL);
	grpc_client_close(s->c);
	return s->status;
}

/* ---- peer.Peer/Notify ---------------------------------------------------------------------- */

static void assert_peer(const struct msg *m, int type, const char *name, const char *addr)
{
	ck_assert_int_eq(m->kind, PEER);
	ck_assert_int_eq(m->type, type);
	ck_assert_str_eq(m->name, name);
	ck_assert_str_eq(m->address, addr);
}

#define ADDED PEER__CHANGE_NOTIFICATION_TYPE__PEER_ADDED
#define DELETED PEER__CHANGE_NOTIFICATION_TYPE__PEER_DELETED
#define UPDATED PEER__CHANGE_NOTIFICATION_TYPE__PEER_UPDATED

/* The list in force as a new stream tells it: this node first, then the peers by name. */
static void assert_initial_list(struct stream *s, int extra)
{
	stream_wait(s, 5 + extra);
	assert_peer(&s->m[0], ADDED, LOOP_THREAD_NODE, S.address);
	ck_assert_str_eq(s->m[0].tls_name, "");				/* plaintext */
	assert_peer(&s->m[1], ADDED, "10.0.0.3:4244", "10.0.0.3:4244"); /* named by address */
	assert_peer(&s->m[2], ADDED, "n2", "10.0.0.2:4244");
	assert_peer(&s->m[3], ADDED, "n4", "10.0.0.4:4244");
	assert_peer(&s->m[4], ADDED, "n6", "10.0.0.6:4244");
}

START_TEST(notify_lists_this_node_then_every_peer)
{
	struct stream *s = stream_new("/peer.Peer/Notify");

	stream_start(s);
	assert_initial_list(s, 0);
	usleep(300000);
	ck_assert_int_eq(stream_count(s), 5); /* this node's own line in the file: skipped */
	ck_assert_int_eq(stream_end(s), GRPC_CANCELLED);
	stream_free(s);
}
END_TEST

static int wait_count(struct stream *s, int n, int ms)
{
	int i;

	for (i = 0; i < ms / 10 && stream_count(s) < n; i++)
		usleep(10000);
	return stream_count(s);
}

struct find_event {
	const char *name, *text;
	int found;
};

static void find_agent_event(const struct agent_event *ev, void *arg)
{
	struct find_event *f = arg;

	if (!strcmp(ev->name, f->name) && (!f->text || strstr(ev->text, f->text)))
		f->found++;
}

static void do_find_event(void *arg)
{
	agent_events_foreach(S.agent, find_agent_event, arg);
}

static int agent_event_count(const char *name, const char *text)
{
	struct find_event f = {name, text, 0};

	on_loop(do_find_event, &f);
	return f.found;
}

START_TEST(peers_file_changes_are_notified_as_they_happen)
{
	struct stream *a = stream_new("/peer.Peer/Notify"), *b = stream_new("/peer.Peer/Notify");

	stream_start(a);
	stream_start(b);
	assert_initial_list(a, 0);
	assert_initial_list(b, 0);
	/* n4 goes, n6 moves, n5 comes: deletions first, then updates, then additions. */
	write_file(S.file, "n6=10.0.0.66:4244\nn5=10.0.0.5:4244\n");
	ck_assert_int_eq(wait_count(a, 8, 3000), 8);
	ck_assert_int_eq(wait_count(b, 8, 3000), 8);
	assert_peer(&a->m[5], DELETED, "n4", "10.0.0.4:4244");
	assert_peer(&a->m[6], UPDATED, "n6", "10.0.0.66:4244");
	assert_peer(&a->m[7], ADDED, "n5", "10.0.0.5:4244");
	assert_peer(&b->m[7], ADDED, "n5", "10.0.0.5:4244");
	ck_assert_int_eq(agent_event_count("peers-reloaded", "\"added\":1,\"deleted\":1"), 1);

	/* The same content again (an editor saving twice): nothing to tell. */
	write_file(S.file, "n5=10.0.0.5:4244\nn6=10.0.0.66:4244\n");
	ck_assert_int_eq(wait_count(a, 9, 800), 8);
	stream_end(a);
	stream_end(b);
	stream_free(a);
	stream_free(b);

	/* A new stream gets the new list. */
	a = stream_new("/peer.Peer/Notify");
	stream_start(a);
	ck_assert_int_eq(wait_count(a, 5, 3000), 5);
	assert_peer(&a->m[3], ADDED, "n5", "10.0.0.5:4244");
	assert_peer(&a->m[4], ADDED, "n6", "10.0.0.66:4244");
	stream_end(a);
	stream_free(a);
}
END_TEST

START_TEST(a_bad_peers_file_keeps_the_old_list)
{
	struct stream *a = stream_new("/peer.Peer/Notify"), *b;

	stream_start(a);
	assert_initial_list(a, 0);
	write_file(S.file, "n4=10.0.0.4:4244\nn7=10.0.0.7:4244\nn8=10.0.0.8\n");
	ck_assert_int_eq(wait_count(a, 6, 1000), 5); /* nothing changed */
	ck_assert_int_eq(agent_event_count("peers-refused", "line 3"), 1);
	ck_assert_int_eq(agent_event_count("peers-refused", "10.0.0.8"), 1);
	/* A name given twice, this node's name with another address: refused too. */
	write_file(S.file, "n4=10.0.0.4:4244\nn4=10.0.0.9:4244\n");
	ck_assert_int_eq(wait_count(a, 6, 1000), 5);
	ck_assert_int_eq(agent_event_count("peers-refused", "given twice"), 1);
	write_file(S.file, LOOP_THREAD_NODE "=10.9.9.9:4244\n");
	ck_assert_int_eq(wait_count(a, 6, 1000), 5);
	ck_assert_int_eq(agent_event_count("peers-refused", "this node's name"), 1);
	ck_assert_int_eq(agent_event_count("peers-reloaded", NULL), 0);

	/* A new stream still gets the old list; a good file is taken again. */
	b = stream_new("/peer.Peer/Notify");
	stream_start(b);
	assert_initial_list(b, 0);
	write_file(S.file, "n4=10.0.0.4:4244\nn6=10.0.0.6:4244\nn7=10.0.0.7:4244\n");
	ck_assert_int_eq(wait_count(a, 6, 3000), 6);
	assert_peer(&a->m[5], ADDED, "n7", "10.0.0.7:4244");
	stream_end(a);
	stream_end(b);
	stream_free(a);
	stream_free(b);
}
END_TEST

/* A TLS cluster: this node with its server name, each peer with its name (or host). */
static void do_tls_peers(void *arg)
{
	struct peers_opts po = {.specs = specs, .n_specs = 2, .tls = true};
	struct errmsg e = {""};

	(void)arg;
	peers_stop(S.obs.peers);
	snprintf(po.self.name, sizeof(po.self.name), "%s", LOOP_THREAD_NODE);
	snprintf(po.self.address, sizeof(po.self.address), "%s", S.address);
	snprintf(po.self.tls_server_name, sizeof(po.self.tls_server_name), "agent.example");
	ck_assert_msg(peers_start(&S.obs.peers, &S.t.loop, &po, &e) == 0, "%s", e.text);
}

START_TEST(tls_server_names_are_told)
{
	struct stream *s = stream_new("/peer.Peer/Notify");

	on_loop(do_tls_peers, NULL);
	stream_start(s);
	stream_wait(s, 3);
	ck_assert_str_eq(s->m[0].tls_name, "agent.example");
	ck_assert_str_eq(s->m[1].tls_name, "10.0.0.3"); /* unnamed: its host */
	ck_assert_str_eq(s->m[2].tls_name, "n2");
	stream_end(s);
	stream_free(s);
}
END_TEST

/* What the owner of the peers (the relay) is told: every peer at the start, then a reload's
 * deletions, updates and additions with the old and the new peer. */
struct change_log {
	int n;
	char text[16][600];
};

static void record_change(const struct peer *old, const struct peer *now, void *ctx)
{
	struct change_log *l = ctx;

	if (l->n < 16)
		snprintf(l->text[l->n++], sizeof(l->text[0]), "%s>%s%s", old ? old->address : "-",
			 now && now->tls ? "tls://" : "", now ? now->address : "-");
}

START_TEST(the_owner_is_told_every_change)
{
	const char *specs[] = {"a=10.0.0.1:4244"};
	struct change_log l = {0};
	char path[64];
	struct peers_opts o = {.specs = specs,
			       .n_specs = 1,
			       .file = path,
			       .on_change = record_change,
			       .change_ctx = &l};
	struct errmsg e = {""};
	struct peers *p;
	uv_loop_t loop;

	snprintf(path, sizeof(path), "/tmp/fs_peers_owner.%d", (int)getpid());
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	write_file(o.file, "b=10.0.0.2:4244\nc=10.0.0.3:4244\n");
	ck_assert_int_eq(peers_start(&p, &loop, &o, &e), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.text[0], "->10.0.0.1:4244");
	ck_assert_str_eq(l.text[1], "->10.0.0.2:4244");
	ck_assert_str_eq(l.text[2], "->10.0.0.3:4244");
	write_file(o.file, "c=tls://10.0.0.33:4244\nd=10.0.0.4:4244\n");
	ck_assert_int_eq(peers_reload(p, &e), 0);
	ck_assert_int_eq(l.n, 6);
	ck_assert_str_eq(l.text[3], "10.0.0.2:4244>-");
	ck_assert_str_eq(l.text[4], "10.0.0.3:4244>tls://10.0.0.33:4244");
	ck_assert_str_eq(l.text[5], "->10.0.0.4:4244");
	/* A file that does not parse tells nothing. */
	write_file(o.file, "d=10.0.0.4\n");
	ck_assert_int_eq(peers_reload(p, &e), -EINVAL);
	ck_assert_int_eq(l.n, 6);
	peers_stop(p);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	unlink(o.file);
}
END_TEST

START_TEST(peers_are_parsed_strictly)
{
	struct errmsg e = {""};
	struct peer p;
	char a[PEER_ADDR_MAX];

	ck_assert_int_eq(peer_parse("node-1.rack2=10.1.2.3:4244", &p, &e), 0);
	ck_assert_str_eq(p.name, "node-1.rack2");
	ck_assert_str_eq(p.address, "10.1.2.3:4244");
	ck_assert_int_eq(peer_parse("cluster/n1=[FD00::1]:4244", &p, &e), 0);
	ck_assert_str_eq(p.address, "[FD00::1]:4244");
	ck_assert_int_eq(peer_parse("agent3.example.com:4244", &p, &e), 0);
	ck_assert_str_eq(p.name, "agent3.example.com:4244");
	ck_assert(!p.tls);
	ck_assert_int_eq(peer_parse("n9=tls://10.0.0.9:4244", &p, &e), 0);
	ck_assert(p.tls);
	ck_assert_str_eq(p.address, "10.0.0.9:4244");
	ck_assert_int_eq(peer_parse("tls://10.0.0.9:4244", &p, &e), 0);
	ck_assert_str_eq(p.name, "10.0.0.9:4244");
	ck_assert_int_eq(peer_parse("n9=tls://0.0.0.0:4244", &p, &e), -EINVAL);
	ck_assert_int_eq(peer_parse_address("[::1]:4244", a, sizeof(a), &e), 0);
	ck_assert_str_eq(a, "[::1]:4244");

	ck_assert_int_eq(peer_parse("n1=10.0.0.1", &p, &e), -EINVAL); /* no port */
	ck_assert_ptr_nonnull(strstr(e.text, "n1=10.0.0.1"));
	ck_assert_int_eq(peer_parse("n1=10.0.0.1:70000", &p, &e), -EINVAL);
	ck_assert_int_eq(peer_parse("n1=10.0.0.300:4244", &p, &e), -EINVAL);
	ck_assert_int_eq(peer_parse("n1=::1:4244", &p, &e), -EINVAL); /* v6 needs brackets */
	ck_assert_int_eq(peer_parse("n1=[10.0.0.1]:4244", &p, &e), -EINVAL);
	ck_assert_int_eq(peer_parse("=10.0.0.1:4244", &p, &e), -EINVAL);
	ck_assert_int_eq(peer_parse("my node=10.0.0.1:4244", &p, &e), -EINVAL);
	ck_assert_int_eq(peer_parse("n1=0.0.0.0:4244", &p, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.text, "wildcard"));
	ck_assert_int_eq(peer_parse_address("[::]:4244", a, sizeof(a), &e), -EINVAL);
	ck_assert_int_eq(peer_parse_address(":4244", a, sizeof(a), &e), -EINVAL);
	ck_assert_int_eq(peer_parse_address("bad_host:4244", a, sizeof(a), &e), -EINVAL);
	ck_assert_int_eq(peer_check_name("", &e), -EINVAL);
	{
		char big[300];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_assert_int_eq(peer_check_name(big, &e), -EINVAL);
		big[253] = '\0';
		ck_assert_int_eq(peer_check_name(big, &e), 0);
	}
}
END_TEST

/* ---- watermarks ---------------------------------------------------------------------------- */

/* Every flow event after a watermark has a time >= it. Returns the flows that broke it. */
static int below_marks(struct stream *s)
{
	uint64_t mark = 0;
	int i, n = 0;

	for (i = 0; i < s->n; i++) {
		if (s->m[i].kind == MARK) {
			ck_assert_uint_ge(s->m[i].time_ns, mark); /* never backwards */
			mark = s->m[i].time_ns;
		} else if (s->m[i].kind == FLOW && s->m[i].time_ns < mark) {
			n++;
		}
	}
	return n;
}

START_TEST(watermarks_while_idle_at_the_interval)
{
	struct stream *s = stream_new("/observer.Observer/GetFlows");
	uint64_t t0 = clock_wall_ns();
	int i, marks;

	s->req.follow = 1;
	s->req.heartbeat_ms = 100;
	stream_start(s);
	stream_wait(s, 1);
	usleep(1050000);
	stream_end(s);
	marks = count_kind(s, MARK);
	ck_assert_int_eq(marks, s->n); /* nothing else while idle */
	/* One after the (empty) replay, then one every 100 ms. */
	ck_assert_int_ge(marks, 9);
	ck_assert_int_le(marks, 13);
	for (i = 0; i < s->n; i++) {
		/* No later than the collector's clock less the reordering bound, and close to it.
		 */
		ck_assert_uint_le(s->m[i].time_ns, s->m[i].recv_ns - FOLLOWER_REORDER_NS + MS);
		ck_assert_uint_ge(s->m[i].time_ns, s->m[i].recv_ns - FOLLOWER_REORDER_NS - 50 * MS);
		if (i > 1) {
			uint64_t gap = s->m[i].recv_ns - s->m[i - 1].recv_ns;

			ck_assert_uint_ge(gap, 60 * MS);
			ck_assert_uint_le(gap, 250 * MS);
		}
	}
	ck_assert_uint_le(s->m[0].recv_ns - t0, 100 * MS); /* the first: right away */
	stream_free(s);

	/* Clamped to 50 ms. */
	s = stream_new("/observer.Observer/GetFlows");
	s->req.follow = 1;
	s->req.heartbeat_ms = 1;
	stream_start(s);
	stream_wait(s, 1);
	usleep(500000);
	stream_end(s);
	ck_assert_int_ge(count_kind(s, MARK), 6);
	ck_assert_int_le(count_kind(s, MARK), 13);
	stream_free(s);
}
END_TEST

START_TEST(a_watermark_right_after_the_replay)
{
	struct stream *s = stream_new("/observer.Observer/GetFlows");
	int i;

	inject(1000, 50);
	s->req.number = 20;
	s->req.follow = 1;
	s->req.heartbeat_ms = 60000; /* none but the first within this test */
	stream_start(s);
	stream_wait(s, 21);
	usleep(200000);
	ck_assert_int_eq(stream_count(s), 21);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(s->m[i].kind, FLOW);
		ck_assert_int_eq(s->m[i].port, 1030 + i); /* the newest 20, publication order */
		ck_assert(i == 0 || s->m[i].seq == s->m[i - 1].seq + 1);
	}
	ck_assert_int_eq(s->m[20].kind, MARK);
	ck_assert_uint_ge(s->m[20].time_ns, s->m[19].time_ns - FOLLOWER_REORDER_NS);
	/* Live events come after it, at or above it. */
	inject(2000, 3);
	stream_wait(s, 24);
	ck_assert_int_eq(s->m[21].port, 2000);
	ck_assert_int_eq(below_marks(s), 0);
	stream_end(s);
	stream_free(s);

	/* Without follow: the replay, the watermark, the end. */
	s = stream_new("/observer.Observer/GetFlows");
	s->req.number = 5;
	s->req.heartbeat_ms = 100;
	ck_assert_int_eq(call_flows(s), GRPC_OK);
	ck_assert_int_eq(s->n, 6);
	ck_assert_int_eq(s->m[4].port, 2002);
	ck_assert_int_eq(s->m[5].kind, MARK);
	stream_free(s);
}
END_TEST

/* The stream under load: events published while watermarks go out, some still in a "ring"
 * when a watermark is computed, a few stamped long ago (a start told late). */
START_TEST(watermarks_are_never_above_a_later_event)
{
	struct stream *s = stream_new("/observer.Observer/GetFlows");
	int i, port = 10000, late_sent = 0, fresh_below = 0;
	uint64_t mark = 0, late_before = hub_late();

	s->req.follow = 1;
	s->req.heartbeat_ms = 50;
	stream_start(s);
	stream_wait(s, 1);
	for (i = 0; i < 40; i++) {
		struct inject now = {port, 20, 0, false}, ringed = {port + 20, 10, 0, true};

		on_loop(do_inject, &now);
		on_loop(do_inject, &ringed); /* published by the next watermark, before it */
		port += 30;
		if (i % 10 == 9) {
			struct inject old = {100000 + i, 1, 500 * MS, false};

			on_loop(do_inject, &old);
		}
		usleep(25000);
	}
	usleep(150000); /* the last records "in the ring" go out with the next watermark */
	s->stop_at_port = port;
	inject(port, 1);
	pthread_join(s->th, NULL);
	grpc_client_close(s->c);
	ck_assert_int_ge(count_kind(s, MARK), 15);
	ck_assert_int_eq(count_kind(s, FLOW), 40 * 30 + 4 + 1);
	for (i = 0; i < s->n; i++) {
		if (s->m[i].kind == MARK) {
			mark = s->m[i].time_ns;
		} else if (s->m[i].kind == FLOW && s->m[i].time_ns < mark) {
			if (s->m[i].port >= 100000)
				late_sent++;
			else
				fresh_below++;
		}
	}
	ck_assert_int_eq(fresh_below, 0);
	ck_assert_int_eq(below_marks(s), late_sent);
	/* Events told late are sent with their own time and counted, never silently. */
	ck_assert_int_ge(late_sent, 3);
	ck_assert_uint_eq(hub_late() - late_before, (uint64_t)late_sent);
	stream_free(s);
}
END_TEST

START_TEST(until_ends_the_stream_once_a_watermark_passes_it)
{
	struct stream *s = stream_new("/observer.Observer/GetFlows");
	Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint64_t u = clock_wall_ns() + 300 * MS, t0 = clock_wall_ns();

	until.seconds = (int64_t)(u / NSEC_PER_SEC);
	until.nanos = (int32_t)(u % NSEC_PER_SEC);
	s->req.follow = 1;
	s->req.until = &until;
	s->req.heartbeat_ms = 50;
	s->req.number = 0;
	stream_start(s);
	pthread_join(s->th, NULL); /* no event needed to end it */
	grpc_client_close(s->c);
	ck_assert_int_eq(s->status, GRPC_OK);
	ck_assert_uint_lt(clock_wall_ns() - t0, 1500 * MS);
	ck_assert_uint_gt(s->m[s->n - 1].time_ns, u);
	stream_free(s);
}
END_TEST

/* ---- resume_after -------------------------------------------------------------------------- */

static void uuid_text(const uint8_t u[16], char out[FLOW_UUID_STR_LEN])
{
	struct flow f;

	memcpy(f.uuid, u, 16);
	flow_uuid_str(&f, out);
}

/* Follows until the flow of port stop_at arrives; returns the stream. */
static struct stream *follow_until(int stop_at, int first_port, int n)
{
	struct stream *s = stream_new("/observer.Observer/GetFlows");
	int i;

	s->req.follow = 1;
	s->req.heartbeat_ms = 1000;
	s->stop_at_port = stop_at;
	stream_start(s);
	stream_wait(s, 1); /* the watermark after the (empty) replay: subscribed */
	for (i = 0; i < n; i++)
		inject(first_port + i, 1);
	pthread_join(s->th, NULL);
	grpc_client_close(s->c);
	return s;
}

static const struct msg *last_flow(struct stream *s)
{
	int i;

	for (i = s->n - 1; i >= 0; i--)
		if (s->m[i].kind == FLOW)
			return &s->m[i];
	ck_abort_msg("no flow");
	return NULL;
}

START_TEST(resume_after_is_the_exact_continuation)
{
	struct stream *a = follow_until(3009, 3000, 10), *b, *c;
	const struct msg *last = last_flow(a);
	char uuid[FLOW_UUID_STR_LEN], uuid2[FLOW_UUID_STR_LEN];
	int i, k = 0;

	ck_assert_int_eq(last->port, 3009);
	uuid_text(last->uuid, uuid);
	inject(3010, 40); /* while the client is away */
	/* And 3 still in a "ring": the watermark after the replay publishes them first. */
	{
		struct inject ringed = {3050, 3, 0, true};

		on_loop(do_inject, &ringed);
	}
	b = stream_new("/observer.Observer/GetFlows");
	b->req.follow = 1;
	b->req.heartbeat_ms = 60000;
	b->req.resume_after = uuid;
	b->stop_at_port = 4004;
	stream_start(b);
	stream_wait(b, 44);
	inject(4000, 5);
	pthread_join(b->th, NULL);
	grpc_client_close(b->c);
	/* Exactly 3010..3049 (the replay), 3050..3052 (live), the watermark, 4000..4004: every
	 * event once, in publication order. */
	for (i = 0; i < b->n; i++) {
		if (b->m[i].kind == MARK) {
			ck_assert_int_eq(k, 43);
			continue;
		}
		ck_assert_int_eq(b->m[i].kind, FLOW);
		ck_assert_int_eq(b->m[i].port, k < 43 ? 3010 + k : 4000 + k - 43);
		ck_assert_uint_eq(b->m[i].seq, last->seq + 1 + (uint64_t)k);
		k++;
	}
	ck_assert_int_eq(k, 48);
	ck_assert_int_eq(count_kind(b, MARK), 1);

	/* Cut in the middle of a resumed replay, resumed again: still exact. */
	uuid_text(b->m[19].uuid, uuid2);
	c = stream_new("/observer.Observer/GetFlows");
	c->req.resume_after = uuid2;
	ck_assert_int_eq(call_flows(c), GRPC_OK); /* no follow: the replay only */
	ck_assert_int_eq(c->n, 48 - 20);
	ck_assert_int_eq(c->m[0].port, 3030);
	ck_assert_int_eq(c->m[c->n - 1].port, 4004);
	stream_free(c);

	/* With a filter: only the matching events after the point. */
	{
		Flow__FlowFilter ff = FLOW__FLOW_FILTER__INIT, *ffs[1] = {&ff};
		char *ports[] = {"3040", "3041", "3005"};

		ff.n_source_port = 3;
		ff.source_port = ports;
		c = stream_new("/observer.Observer/GetFlows");
		c->req.resume_after = uuid;
		c->req.n_whitelist = 1;
		c->req.whitelist = ffs;
		ck_assert_int_eq(call_flows(c), GRPC_OK);
		ck_assert_int_eq(c->n, 2); /* 3005 was before the point */
		ck_assert_int_eq(c->m[0].port, 3040);
		ck_assert_int_eq(c->m[1].port, 3041);
		stream_free(c);
	}
	stream_free(a);
	stream_free(b);
}
END_TEST

START_TEST(resume_after_the_log_wrapped_tells_the_exact_loss)
{
	struct stream *a = follow_until(5004, 5000, 5), *b;
	const struct msg *last = last_flow(a);
	char uuid[FLOW_UUID_STR_LEN];
	int i;

	uuid_text(last->uuid, uuid);
	inject(6000, 500); /* the log holds CAP (200): 300 of them are gone */
	b = stream_new("/observer.Observer/GetFlows");
	b->req.resume_after = uuid;
	b->req.follow = 1;
	b->req.heartbeat_ms = 1000;
	b->stop_at_port = 7000;
	stream_start(b);
	stream_wait(b, 1 + CAP + 1);
	inject(7000, 1);
	pthread_join(b->th, NULL);
	grpc_client_close(b->c);
	ck_assert_int_eq(b->m[0].kind, LOST);
	ck_assert_int_eq(b->m[0].source, FLOW__LOST_EVENT_SOURCE__HUBBLE_RING_BUFFER);
	ck_assert_uint_eq(b->m[0].lost, 300);
	for (i = 1; i <= CAP; i++) {
		ck_assert_int_eq(b->m[i].kind, FLOW);
		ck_assert_int_eq(b->m[i].port, 6300 + i - 1);
	}
	/* The lost count and the first event held meet exactly: no gap left unexplained. */
	ck_assert_uint_eq(b->m[1].seq, last->seq + b->m[0].lost + 1);
	ck_assert_int_eq(b->m[CAP + 1].kind, MARK);
	ck_assert_int_eq(b->m[CAP + 2].port, 7000);
	stream_free(a);
	stream_free(b);
}
END_TEST

START_TEST(resume_after_another_run_says_so_then_sends_everything_held)
{
	struct stream *a = follow_until(8001, 8000, 2), *b;
	uint8_t other[16];
	char uuid[FLOW_UUID_STR_LEN];

	/* The same number, another session: a uuid of this flowd before it restarted. */
	memcpy(other, last_flow(a)->uuid, 16);
	other[0] ^= 0x5a;
	uuid_text(other, uuid);
	b = stream_new("/observer.Observer/GetFlows");
	b->req.resume_after = uuid;
	ck_assert_int_eq(call_flows(b), GRPC_OK);
	ck_assert_int_eq(b->m[0].kind, LOST);
	ck_assert_int_eq(b->m[0].source, FLOW__LOST_EVENT_SOURCE__UNKNOWN_LOST_EVENT_SOURCE);
	ck_assert_uint_eq(b->m[0].lost, 0); /* nothing of this run is gone yet */
	ck_assert_int_eq(b->n, 1 + 2);
	ck_assert_int_eq(b->m[1].port, 8000);
	stream_free(b);

	/* After the log wrapped: this run's events no longer held are counted. */
	inject(9000, 300);
	b = stream_new("/observer.Observer/GetFlows");
	b->req.resume_after = uuid;
	ck_assert_int_eq(call_flows(b), GRPC_OK);
	ck_assert_int_eq(b->m[0].kind, LOST);
	ck_assert_uint_eq(b->m[0].lost, 302 - CAP);
	ck_assert_int_eq(b->n, 1 + CAP);
	ck_assert_uint_eq(b->m[1].seq, b->m[0].lost + 1);
	stream_free(a);
	stream_free(b);
}
END_TEST

START_TEST(resume_after_refuses_what_it_cannot_mean)
{
	struct stream *a = follow_until(9501, 9500, 2), *b;
	char uuid[FLOW_UUID_STR_LEN], future[FLOW_UUID_STR_LEN];
	uint8_t f[16];

	uuid_text(last_flow(a)->uuid, uuid);
	memcpy(f, last_flow(a)->uuid, 16);
	f[15] += 5; /* this run's, not published yet */
	uuid_text(f, future);
	{
		struct {
			uint64_t number;
			int first, per_flow;
			char *resume;
			const char *why;
		} bad[] = {
			{10, 0, 0, uuid, "number"},	    {10, 1, 0, uuid, "first"},
			{0, 0, 1, uuid, "per_flow"},	    {0, 0, 0, "not-a-uuid", "uuid"},
			{0, 0, 0, future, "not published"},
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			b = stream_new("/observer.Observer/GetFlows");
			b->req.number = bad[i].number;
			b->req.first = bad[i].first;
			b->req.per_flow = bad[i].per_flow;
			b->req.resume_after = bad[i].resume;
			ck_assert_int_eq(call_flows(b), GRPC_INVALID_ARGUMENT);
			ck_assert_msg(strstr(b->err.text, bad[i].why), "%s: %s", bad[i].why,
				      b->err.text);
			ck_assert_int_eq(b->n, 0);
			stream_free(b);
		}
	}
	stream_free(a);
}
END_TEST

/* ---- ServerStatus and GetNodes ------------------------------------------------------------- */

struct one {
	uint8_t data[4096];
	size_t len;
};

static int copy_one(const uint8_t *m, size_t l, void *ctx)
{
	struct one *o = ctx;

	ck_assert_uint_le(l, sizeof(o->data));
	memcpy(o->data, m, l);
	o->len = l;
	return 0;
}

START_TEST(status_and_nodes_as_a_relay_reads_them)
{
	Observer__ServerStatusRequest sreq = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	Observer__GetNodesRequest nreq = OBSERVER__GET_NODES_REQUEST__INIT;
	Observer__ServerStatusResponse *st;
	Observer__GetNodesResponse *nodes;
	struct grpc_client *c = connect_client();
	struct errmsg err = {""};
	struct one o = {{0}, 0};

	inject(11000, 250); /* more events than the log holds */
	ck_assert_int_eq(grpc_client_call(c, "/observer.Observer/ServerStatus", &sreq.base,
					  copy_one, &o, NULL, &err),
			 GRPC_OK);
	st = observer__server_status_response__unpack(NULL, o.len, o.data);
	ck_assert_ptr_nonnull(st);
	/* Flow events, as GetFlows replays them: held, the log's size, published since start. */
	ck_assert_uint_eq(st->num_flows, CAP);
	ck_assert_uint_eq(st->max_flows, CAP);
	ck_assert_uint_eq(st->seen_flows, 250);
	ck_assert_uint_gt(st->uptime_ns, 0);
	ck_assert_ptr_nonnull(strstr(st->version, "flowscope"));
	/* 200 events held, all published within the last second or so. */
	ck_assert(st->flows_rate > 200.0);
	ck_assert_uint_eq(st->num_connected_nodes->value, 1);
	ck_assert_uint_eq(st->num_unavailable_nodes->value, 0);
	observer__server_status_response__free_unpacked(st, NULL);

	ck_assert_int_eq(grpc_client_call(c, "/observer.Observer/GetNodes", &nreq.base, copy_one,
					  &o, NULL, &err),
			 GRPC_OK);
	nodes = observer__get_nodes_response__unpack(NULL, o.len, o.data);
	ck_assert_ptr_nonnull(nodes);
	ck_assert_uint_eq(nodes->n_nodes, 1);
	ck_assert_str_eq(nodes->nodes[0]->name, LOOP_THREAD_NODE);
	ck_assert_int_eq(nodes->nodes[0]->state, RELAY__NODE_STATE__NODE_CONNECTED);
	ck_assert_str_eq(nodes->nodes[0]->address, S.address);
	ck_assert_ptr_nonnull(strstr(nodes->nodes[0]->version, "flowscope"));
	ck_assert_uint_gt(nodes->nodes[0]->uptime_ns, 0);
	ck_assert_uint_eq(nodes->nodes[0]->num_flows, CAP);
	ck_assert_uint_eq(nodes->nodes[0]->max_flows, CAP);
	ck_assert_uint_eq(nodes->nodes[0]->seen_flows, 250);
	ck_assert_ptr_nonnull(nodes->nodes[0]->tls);
	ck_assert(!nodes->nodes[0]->tls->enabled);
	observer__get_nodes_response__free_unpacked(nodes, NULL);
	grpc_client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relay_agent");
	TCase *peers = tcase_create("peers"), *marks = tcase_create("watermarks");
	TCase *resume = tcase_create("resume");
	SRunner *r;
	int failed;

	tcase_add_checked_fixture(peers, setup, teardown);
	tcase_add_checked_fixture(marks, setup, teardown);
	tcase_add_checked_fixture(resume, setup, teardown);
	tcase_set_timeout(peers, 60);
	tcase_set_timeout(marks, 60);
	tcase_set_timeout(resume, 60);
	tcase_add_test(peers, notify_lists_this_node_then_every_peer);
	tcase_add_test(peers, peers_file_changes_are_notified_as_they_happen);
	tcase_add_test(peers, a_bad_peers_file_keeps_the_old_list);
	tcase_add_test(peers, tls_server_names_are_told);
	tcase_add_test(peers, peers_are_parsed_strictly);
	tcase_add_test(peers, the_owner_is_told_every_change);
	tcase_add_test(marks, watermarks_while_idle_at_the_interval);
	tcase_add_test(marks, a_watermark_right_after_the_replay);
	tcase_add_test(marks, watermarks_are_never_above_a_later_event);
	tcase_add_test(marks, until_ends_the_stream_once_a_watermark_passes_it);
	tcase_add_test(resume, resume_after_is_the_exact_continuation);
	tcase_add_test(resume, resume_after_the_log_wrapped_tells_the_exact_loss);
	tcase_add_test(resume, resume_after_another_run_says_so_then_sends_everything_held);
	tcase_add_test(resume, resume_after_refuses_what_it_cannot_mean);
	tcase_add_test(resume, status_and_nodes_as_a_relay_reads_them);
	suite_add_tcase(s, peers);
	suite_add_tcase(s, marks);
	suite_add_tcase(s, resume);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
