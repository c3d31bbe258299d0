/* flowrelay, the cluster relay: follows every agent (flowd) it is given or finds, merges their
 * flow events in time order into a collector of its own and serves the cluster with flowd's
 * servers: Hubble's Observer API (GetFlows over the merged events, ServerStatus, GetNodes,
 * GetNamespaces, health), the HTTP API with the dashboard, /api/v1/nodes, /metrics. */
#include <errno.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/opts.h"
#include "flowscope/base/privs.h"
#include "flowscope/base/version.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/relay/relay.h"
#include "flowscope/relay/service.h"
#include "flowscope/serve/access.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/serve/observer.h"
#include "flowscope/serve/peers.h"
#include "flowscope/serve/serve_limits.h"
#include "flowscope/relay/archive.h"

#define MAX_PEERS 1024

struct relay_cfg {
	const char *peers[MAX_PEERS];
	int n_peers;
	const char *peers_file;
	struct opt_hostport http, grpc;
	const char *tls_cert, *tls_key, *tls_client_ca;
	struct relay_tls peer_tls;
	const char *peer_token_file;
	char peer_token[TOKEN_MAX];
	uint64_t lag_ns, max_flows, max_events, backfill;
	uint32_t heartbeat_ms, follow_queue;
	struct serve_limits limits;
	struct serve_access access;
	const char *node_name, *web_dir;
	uint64_t graph_window_ns;
	const char *history_url, *history_table, *history_user, *history_password;
	bool no_discover, keep_caps, help, version;
};

struct flowrelay {
	uv_loop_t *loop;
	struct relay_cfg cfg;
	char node_name[256];
	struct flow_store *store;
	struct event_log *events;
	struct flow_bus *bus;
	struct collector *col;
	struct graph *graph;
	struct follower_hub *followers;
	struct agent_events *agent;
	struct relay *relay;
	struct relay_archive *archive; /* --history-clickhouse */
	struct status_src status;
	struct observer observer;
	struct relay_service service;
	struct http_server *http;
	struct grpc_server *grpc;
	uv_signal_t sig_int, sig_term;
	struct peers *peers; /* --peer and --peers-file */
	bool stopping;
};

/* ---- options ------------------------------------------------------------------------------ */

static int opt_peer(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct relay_cfg *c = base;

	(void)o;
	if (c->n_peers == MAX_PEERS)
		return errmsg_set(e, -EINVAL, "at most %d --peer options", MAX_PEERS);
	c->peers[c->n_peers++] = arg;
	return 0;
}

#define CFG(field) offsetof(struct relay_cfg, field)

static const struct opt relay_opts_table[] = {
	{"peer", 'p', "ADDR",
	 "an agent to follow (repeatable): HOST:PORT, [V6]:PORT or\ntls://HOST:PORT (flowd's --grpc)",
	 opt_peer},
	{"peers-file", 0, "FILE",
	 "agents to follow, one ADDR (or NAME=ADDR) per line;\nreloaded when it changes",
	 opt_string, CFG(peers_file)},
	{"no-discover", 0, NULL, "do not follow the peers agents tell of (peer.Peer/Notify)",
	 opt_flag, CFG(no_discover)},
	{"grpc", 0, "ADDR:PORT",
	 "gRPC (Hubble observer API) listen address\n(default 127.0.0.1:4245 and [::1]:4245)",
	 opt_hostport, CFG(grpc)},
	{"http", 0, "ADDR:PORT", "HTTP API and dashboard (default 127.0.0.1:12000)", opt_hostport,
	 CFG(http)},
	{"tls-cert", 0, "FILE", "serve gRPC over TLS with this PEM certificate chain", opt_string,
	 CFG(tls_cert)},
	{"tls-key", 0, "FILE", "... and this PEM private key", opt_string, CFG(tls_key)},
	{"tls-client-ca", 0, "FILE", "require client certificates signed by this CA (mTLS)",
	 opt_string, CFG(tls_client_ca)},
	{"peer-tls", 0, NULL, "reach agents over TLS (verified against the system's CAs)", opt_flag,
	 CFG(peer_tls.enabled)},
	{"peer-tls-ca", 0, "FILE", "verify agents against this CA bundle", opt_string,
	 CFG(peer_tls.ca)},
	{"peer-tls-cert", 0, "FILE", "client certificate for agents that require one (mTLS)",
	 opt_string, CFG(peer_tls.cert)},
	{"peer-tls-key", 0, "FILE", "... and its key", opt_string, CFG(peer_tls.key)},
	{"peer-tls-server-name", 0, "NAME", "the name to verify on agents' certificates",
	 opt_string, CFG(peer_tls.server_name)},
	{"peer-tls-insecure", 0, NULL, "TLS to agents without verifying them", opt_flag,
	 CFG(peer_tls.insecure)},
	{"peer-token-file", 0, "FILE",
	 "the token agents require (their --token-file), sent to\nevery agent", opt_string,
	 CFG(peer_token_file)},
	{"lag", 0, "DUR",
	 "the most a silent agent holds the time-ordered merge back\n(default 1s); what comes "
	 "later is released late and counted",
	 opt_duration, CFG(lag_ns)},
	{"heartbeat", 0, "N", "watermark interval asked of agents, ms (default 200)", opt_u32,
	 CFG(heartbeat_ms), 50, 10000},
	{"backfill", 0, "N", "events asked of an agent when first followed (default 2000)", opt_u64,
	 CFG(backfill), 1, 1 << 24},
	{"max-flows", 0, "N", "flows kept, the per-flow view (default 262144)", opt_u64,
	 CFG(max_flows), 1, 1 << 30},
	{"max-events", 0, "N", "merged flow events kept for replays (default 262144)", opt_u64,
	 CFG(max_events), 1, 1 << 28},
	{"follow-queue", 0, "N", "flows queued per streaming client (default 4096)", opt_u32,
	 CFG(follow_queue), 1, 1 << 24},
	{"node-name", 0, "NAME", "the relay's own name (default: the host name)", opt_string,
	 CFG(node_name)},
	{"web-dir", 0, "DIR", "the dashboard's files (default: web/ next to flowrelay)", opt_string,
	 CFG(web_dir)},
	{"graph-window", 0, "DUR", "service graph nodes and edges idle this long go (5m)",
	 opt_duration, CFG(graph_window_ns)},
	{"history-clickhouse", 0, "URL",
	 "answer replays older than the relay holds from the\ncluster's ClickHouse table "
	 "(http://HOST:8123[/?database=DB])",
	 opt_string, CFG(history_url)},
	{"history-clickhouse-table", 0, "NAME", "its table (default flows)", opt_string,
	 CFG(history_table)},
	{"history-clickhouse-user", 0, "USER", "the ClickHouse user", opt_string,
	 CFG(history_user)},
	{"history-clickhouse-password", 0, "PASS", "its password", opt_string,
	 CFG(history_password)},
	{"keep-capabilities", 0, NULL,
	 "keep the capabilities it was started with (default:\nnone once listening: a relay "
	 "needs none)",
	 opt_flag, CFG(keep_caps)},
	{"help", 'h', NULL, "show this help", opt_flag, CFG(help)},
	{"version", 'V', NULL, "show the version", opt_flag, CFG(version)},
	{NULL},
};

static int parse_args(struct flowrelay *d, int argc, char **argv)
{
	struct serve_listen listen = {.socket_name = RELAY_SOCKET_NAME};
	struct opt_group g[] = {{NULL, relay_opts_table, &d->cfg},
				serve_limits_opt_group(&d->cfg.limits),
				serve_access_opt_group(&d->cfg.access)};
	struct errmsg e = {""};
	struct buf b = BUF_INIT;
	int r;

	d->cfg.max_flows = 262144;
	d->cfg.max_events = 262144;
	r = opts_parse(argc, argv, g, 3, &e);
	if (r < 0 || r < argc) {
		fprintf(stderr, "flowrelay: %s\nTry 'flowrelay --help'.\n",
			r < 0 ? e.text : "unexpected argument");
		return 2;
	}
	if (d->cfg.help) {
		opts_help(&b, g, 3);
		printf("Usage: flowrelay [OPTIONS]\n"
		       "Flowscope relay: merges the flows of every agent into one cluster view, served\n"
		       "with Hubble's Observer API (flowctl, hubble observe), the HTTP API and the\n"
		       "dashboard.\n\n%s\n"
		       "Agents listen where flowd --grpc says (on a relay host: not on 4245, which the\n"
		       "relay takes; e.g. flowd --grpc 0.0.0.0:4244). DUR is a number with a unit\n"
		       "(\"500ms\", \"2s\").\n",
		       b.data ? b.data : "");
		buf_free(&b);
		return -1;
	}
	if (d->cfg.version) {
		printf("flowrelay %s\n", FLOWSCOPE_VERSION);
		return -1;
	}
	if (!d->cfg.n_peers && !d->cfg.peers_file) {
		fprintf(stderr, "flowrelay: give agents with --peer or --peers-file\n"
				"Try 'flowrelay --help'.\n");
		return 2;
	}
	/* As start_servers() will listen. */
	listen.grpc_addr = d->cfg.grpc.set && d->cfg.grpc.host[0] ? d->cfg.grpc.host : "127.0.0.1";
	listen.http_addr = d->cfg.http.set && d->cfg.http.host[0] ? d->cfg.http.host : "127.0.0.1";
	listen.grpc_tls = d->cfg.tls_cert != NULL;
	listen.grpc_mtls = d->cfg.tls_client_ca != NULL;
	if (serve_access_prepare(&d->cfg.access, &listen, &e) ||
	    (d->cfg.peer_token_file && (token_file_check(d->cfg.peer_token_file, &e) ||
					token_read_file(d->cfg.peer_token_file, d->cfg.peer_token,
							sizeof(d->cfg.peer_token), &e)))) {
		fprintf(stderr, "flowrelay: %s\n", e.text);
		return 2;
	}
	if (d->cfg.peer_token_file)
		d->cfg.peer_tls.token = d->cfg.peer_token;
	return 0;
}

static void log_sink(enum log_level level, const char *text, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "flowrelay: %s%s\n", level == LOG_LEVEL_WARN ? "warning: " : "", text);
}

/* ---- peers ------------------------------------------------------------------------------- */

/* A peer's address as the relay follows it: tls://ADDR for a peer given so. */
static const char *follow_address(const struct peer *pe, char *out, size_t len)
{
	snprintf(out, len, "%s%s", pe->tls ? "tls://" : "", pe->address);
	return out;
}

/* The peers of --peer and --peers-file (serve/peers: parsed, the file watched and reloaded)
 * are the agents followed: a peer deleted from the file is no longer followed (NODE_GONE), an
 * updated one is followed at its new address. */
static void on_peer_change(const struct peer *old, const struct peer *now, void *ctx)
{
	struct flowrelay *d = ctx;
	struct errmsg e = {""};
	char a[PEER_ADDR_MAX + 8];

	if (old)
		relay_remove_peer(d->relay, follow_address(old, a, sizeof(a)));
	/* An unnamed peer is named by its address: the agent's own name is taken then. */
	if (now && relay_add_peer(d->relay, strcmp(now->name, now->address) ? now->name : NULL,
				  follow_address(now, a, sizeof(a)), &e))
		fprintf(stderr, "flowrelay: peer %s not followed: %s\n", now->name, e.text);
}

static int start_peers(struct flowrelay *d)
{
	struct peers_opts po = {.specs = d->cfg.peers,
				.n_specs = (size_t)d->cfg.n_peers,
				.file = d->cfg.peers_file,
				.agent = d->agent,
				.on_change = on_peer_change,
				.change_ctx = d};
	struct errmsg e = {""};

	if (peers_start(&d->peers, d->loop, &po, &e)) {
		fprintf(stderr, "flowrelay: %s\n", e.text);
		return 2;
	}
	return 0;
}

/* ---- the pipeline and the servers ------------------------------------------------------ */

static void graph_on_flow(const struct flow *f, void *ctx)
{
	graph_add_flow(ctx, f);
}

static void on_node_state(int state, const char *node, const char *message, void *ctx)
{
	static const char *const names[] = {"unknown", "connected", "unavailable", "gone", "error"};
	const char *name = names[state >= 0 && state < 5 ? state : 0];
	struct flowrelay *d = ctx;
	char n[300], m[700];

	fprintf(stderr, "flowrelay: node %s %s%s%s\n", node, name, message[0] ? ": " : "", message);
	agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "node-state",
			  "{\"node\":\"%s\",\"state\":\"%s\",\"message\":\"%s\"}",
			  json_escape(node, n, sizeof(n)), name,
			  json_escape(message, m, sizeof(m)));
	follower_hub_node_status(d->followers, state, &node, 1, message);
}

/* A node's stream said it lost events: the followers are told, as Hubble's relay passes its
 * agents' LostEvents on. */
static void on_node_lost(const char *node, uint64_t lost, void *ctx)
{
	struct flowrelay *d = ctx;

	(void)node;
	follower_hub_lost(d->followers, 3 /* HUBBLE_RING_BUFFER */, lost);
}

/* An agent's own event (GetAgentEvents of the node) goes to the relay's, with its node. */
static void on_agent_event(const char *node, int type, const char *name, const char *text,
			   uint64_t time_ns, void *ctx)
{
	struct flowrelay *d = ctx;

	agent_events_post_from(d->agent, node, time_ns, type, name, text);
}

/* A new follower is told which nodes answer and which do not, as Hubble's relay does. */
static void greet(struct follower *fo, void *ctx)
{
	struct flowrelay *d = ctx;
	static struct relay_node_info v[1024];
	const char *up[1024], *down[1024];
	size_t n = relay_nodes(d->relay, v, 1024), i, nu = 0, nd = 0;

	for (i = 0; i < n && i < 1024; i++) {
		if (v[i].state == 1) /* NODE_CONNECTED */
			up[nu++] = v[i].name;
		else
			down[nd++] = v[i].name;
	}
	if (nu)
		follower_node_status(fo, 1, up, nu, "");
	if (nd)
		follower_node_status(fo, 2 /* NODE_UNAVAILABLE */, down, nd, "");
}

static int start_pipeline(struct flowrelay *d)
{
	struct collector_opts co = {0};
	struct graph_config gc = {.window_ns = d->cfg.graph_window_ns,
				  .max_tracked_flows = d->cfg.max_flows};
	struct relay_opts ro = {.loop = d->loop,
				.lag_ns = d->cfg.lag_ns,
				.heartbeat_ms = d->cfg.heartbeat_ms,
				.backfill = d->cfg.backfill,
				.discover = !d->cfg.no_discover,
				.tls = d->cfg.peer_tls};
	struct errmsg e = {""};

	d->store = flow_store_new(d->cfg.max_flows);
	d->events = event_log_new(d->cfg.max_events);
	d->bus = flow_bus_new();
	d->graph = graph_new(&gc);
	if (d->graph && d->store)
		flow_store_on_drop(d->store, graph_store_dropped, d->graph);
	d->agent = agent_events_new(1024);
	co.store = d->store;
	co.events = d->events;
	co.bus = d->bus;
	co.node_name = d->node_name;
	d->col = d->store && d->events && d->bus ? collector_new(&co) : NULL;
	d->followers = follower_hub_new(d->store, d->events, d->bus, d->node_name, d->loop);
	if (!d->col || !d->graph || !d->agent || !d->followers ||
	    !flow_bus_subscribe(d->bus, graph_on_flow, d->graph)) {
		fprintf(stderr, "flowrelay: out of memory\n");
		return 1;
	}
	ro.col = d->col;
	if (relay_new(&d->relay, &ro, &e)) {
		fprintf(stderr, "flowrelay: %s\n", e.text);
		return 1;
	}
	{
		struct ch_target t;
		struct follower_archive ops;
		bool given;

		if (ch_target_from_options(&t, &given, d->cfg.history_url, d->cfg.history_table,
					   d->cfg.history_user, d->cfg.history_password, &e)) {
			fprintf(stderr, "flowrelay: %s\n", e.text);
			return 2;
		}
		if (given && relay_archive_new(&d->archive, &t)) {
			fprintf(stderr, "flowrelay: out of memory\n");
			return 1;
		}
		if (given) {
			ops = relay_archive_ops(d->archive);
			follower_hub_set_archive(d->followers, &ops);
		}
	}
	relay_set_node_cb(d->relay, on_node_state, d);
	relay_set_lost_cb(d->relay, on_node_lost, d);
	relay_set_agent_event_cb(d->relay, on_agent_event, d);
	follower_hub_set_greeting(d->followers, greet, d);
	return 0;
}

static int nodes_json(struct buf *out, void *ctx)
{
	return relay_nodes_json(out, ctx);
}

static const char *default_web_dir(void)
{
	static char dir[4096];
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return "web";
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/web", dirname(exe));
	return dir;
}

static int start_servers(struct flowrelay *d)
{
	const struct relay_cfg *c = &d->cfg;
	struct grpc_server_opts go = {.addr = c->grpc.set && c->grpc.host[0] ? c->grpc.host
									     : "127.0.0.1",
				      .port = c->grpc.set ? c->grpc.port : 4245,
				      .ipv6_loopback_too = !c->grpc.set,
				      .follow_queue = c->follow_queue,
				      .tls_cert = c->tls_cert,
				      .tls_key = c->tls_key,
				      .tls_client_ca = c->tls_client_ca};
	struct http_server_opts ho = {.addr = c->http.set && c->http.host[0] ? c->http.host
									     : "127.0.0.1",
				      .port = c->http.set ? c->http.port : 12000,
				      .follow_queue = c->follow_queue,
				      .web_dir = c->web_dir ? c->web_dir : default_web_dir(),
				      .followers = d->followers,
				      .status = &d->status,
				      .graph = d->graph,
				      .nodes_json = nodes_json,
				      .nodes_ctx = d->relay};
	struct grpc_service svc;
	struct errmsg e = {""};
	int err;

	serve_limits_apply(&d->cfg.limits, &go, &ho);
	serve_access_apply(&c->access, &go, &ho);
	d->status = (struct status_src){.col = d->col,
					.followers = d->followers,
					.graph = d->graph,
					.follow_budget = &d->cfg.limits.follow_budget};
	d->observer = (struct observer){.followers = d->followers,
					.status = &d->status,
					.agent_events = d->agent,
					.node_name = d->node_name};
	d->service = (struct relay_service){.relay = d->relay, .observer = &d->observer};
	svc = relay_service(&d->service);
	err = http_server_start(&d->http, d->loop, &ho, &e);
	err = err ?: grpc_server_start(&d->grpc, d->loop, &go, &svc, &e);
	if (err) {
		fprintf(stderr, "flowrelay: %s\n", errmsg_text(&e, err));
		return 1;
	}
	fprintf(stderr, "flowrelay: gRPC%s on %s:%u%s%s%s, HTTP on %s:%u (node %s)\n",
		go.tls_cert ? "+TLS" : "", go.addr, go.port,
		go.ipv6_loopback_too ? " and [::1]" : "", go.unix_path ? " and unix:" : "",
		go.unix_path ? go.unix_path : "", ho.addr, ho.port, d->node_name);
	serve_access_tell(&c->access, &ho);
	return 0;
}

/* ---- running and stopping --------------------------------------------------------------- */

static void stop(struct flowrelay *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	relay_stop(d->relay);
	http_server_stop(d->http);
	d->http = NULL;
	if (d->grpc)
		grpc_server_stop(d->grpc);
	d->grpc = NULL;
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	peers_stop(d->peers);
	d->peers = NULL;
}

static void on_signal(uv_signal_t *s, int signum)
{
	fprintf(stderr, "flowrelay: %s, stopping\n", strsignal(signum));
	stop(s->data);
}

static void free_relay(struct flowrelay *d)
{
	uv_run(d->loop, UV_RUN_NOWAIT);
	follower_hub_free(d->followers);
	collector_free(d->col);
	graph_free(d->graph);
	flow_store_free(d->store);
	event_log_free(d->events);
	flow_bus_free(d->bus);
	agent_events_free(d->agent);
	relay_free(d->relay);
	relay_archive_free(d->archive);
}

/* A relay needs no privilege once its listeners are open (a unix socket's group set). */
static int drop_capabilities(struct flowrelay *d)
{
	struct errmsg e = {""};

	if (d->cfg.keep_caps)
		return 0;
	if (privs_keep_only(NULL, 0, &e)) {
		fprintf(stderr, "flowrelay: %s (--keep-capabilities to run with them)\n", e.text);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct flowrelay d;
	int ret;

	logmsg_set_sink(log_sink, NULL);
	ret = parse_args(&d, argc, argv);
	if (ret)
		return ret < 0 ? 0 : ret;
	flow_filter_set_limits(d.cfg.limits.max_filters, (size_t)d.cfg.limits.max_filter_bytes);
	snprintf(d.node_name, sizeof(d.node_name), "%s", d.cfg.node_name ? d.cfg.node_name : "");
	if (!d.cfg.node_name && gethostname(d.node_name, sizeof(d.node_name) - 1))
		strcpy(d.node_name, "relay");
	d.loop = uv_default_loop();
	signal(SIGPIPE, SIG_IGN);
	/* Every message is allocated by a node's thread and freed by the loop: without these,
	 * glibc gives the heap's top back and takes it again for nearly every burst. */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	ret = start_pipeline(&d);
	ret = ret ?: start_servers(&d);
	/* Before the node threads start: capabilities are per thread. */
	ret = ret ?: drop_capabilities(&d);
	ret = ret ?: start_peers(&d);
	if (!ret) {
		uv_signal_init(d.loop, &d.sig_int);
		uv_signal_init(d.loop, &d.sig_term);
		d.sig_int.data = d.sig_term.data = &d;
		uv_signal_start(&d.sig_int, on_signal, SIGINT);
		uv_signal_start(&d.sig_term, on_signal, SIGTERM);
		agent_events_post(d.agent, AGENT_EVENT_STARTED, "agent-started",
				  "{\"relay\":true}");
		uv_run(d.loop, UV_RUN_DEFAULT);
	} else if (d.relay) {
		relay_stop(d.relay);
		http_server_stop(d.http);
		if (d.grpc)
			grpc_server_stop(d.grpc);
	}
	free_relay(&d);
	return ret;
}
