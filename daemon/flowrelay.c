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
#include "flowscope/base/version.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/relay/relay.h"
#include "flowscope/relay/service.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/serve/observer.h"

#define MAX_PEERS 1024

struct relay_cfg {
	const char *peers[MAX_PEERS];
	int n_peers;
	const char *peers_file;
	struct opt_hostport http, grpc;
	const char *tls_cert, *tls_key, *tls_client_ca;
	struct relay_tls peer_tls;
	uint64_t lag_ns, max_flows, max_events, backfill;
	uint32_t heartbeat_ms, follow_queue;
	const char *node_name, *web_dir;
	uint64_t graph_window_ns;
	bool no_discover, help, version;
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
	struct status_src status;
	struct observer observer;
	struct relay_service service;
	struct http_server *http;
	struct grpc_server *grpc;
	uv_signal_t sig_int, sig_term;
	uv_fs_event_t peers_watch;
	uv_timer_t peers_timer;
	char peers_dir[4096], peers_base[256];
	char (*file_peers)[340]; /* the addresses the peers file gave, as last loaded */
	size_t n_file_peers;
	bool watching, stopping;
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
	{"help", 'h', NULL, "show this help", opt_flag, CFG(help)},
	{"version", 'V', NULL, "show the version", opt_flag, CFG(version)},
	{NULL},
};

static int parse_args(struct flowrelay *d, int argc, char **argv)
{
	struct opt_group g = {NULL, relay_opts_table, &d->cfg};
	struct errmsg e = {""};
	struct buf b = BUF_INIT;
	int r;

	d->cfg.max_flows = 262144;
	d->cfg.max_events = 262144;
	r = opts_parse(argc, argv, &g, 1, &e);
	if (r < 0 || r < argc) {
		fprintf(stderr, "flowrelay: %s\nTry 'flowrelay --help'.\n",
			r < 0 ? e.text : "unexpected argument");
		return 2;
	}
	if (d->cfg.help) {
		opts_help(&b, &g, 1);
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
	return 0;
}

/* ---- peers ------------------------------------------------------------------------------- */

static bool listed(char (*list)[340], size_t n, const char *address)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], address))
			return true;
	return false;
}

/* Follows every peer of the file: new lines are added, kept ones stay, and a peer no longer in
 * the file is no longer followed (NODE_GONE) unless --peer gave it too. A bad line (reported
 * with its number) leaves the peers followed as they were but for the lines before it.
 * Returns 0, or -EINVAL with the line in e. */
static int load_peers_file(struct flowrelay *d, struct errmsg *e)
{
	FILE *f = fopen(d->cfg.peers_file, "r");
	char line[600], (*now)[340] = NULL;
	size_t n_now = 0, cap = 0, i;
	int n = 0, err = 0;

	if (!f)
		return errmsg_set(e, -errno, "%s: %s", d->cfg.peers_file, strerror(errno));
	while (!err && fgets(line, sizeof(line), f)) {
		char *p = line, *eq, *end;

		n++;
		p[strcspn(p, "#\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		for (end = p + strlen(p); end > p && (end[-1] == ' ' || end[-1] == '\t'); end--)
			*--end = '\0';
		if (!*p)
			continue;
		eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		err = relay_add_peer(d->relay, eq ? p : NULL, eq ? eq + 1 : p, e);
		if (err) {
			errmsg_prefix(e, "%s:%d", d->cfg.peers_file, n);
			break;
		}
		if (n_now == cap) {
			void *m = realloc(now, (cap = cap ? 2 * cap : 64) * sizeof(*now));

			if (!m) {
				err = errmsg_set(e, -ENOMEM, "out of memory");
				break;
			}
			now = m;
		}
		snprintf(now[n_now++], sizeof(now[0]), "%s", eq ? eq + 1 : p);
	}
	fclose(f);
	if (err) {
		free(now);
		return err;
	}
	for (i = 0; i < d->n_file_peers; i++) {
		int k;
		bool given = listed(now, n_now, d->file_peers[i]);

		for (k = 0; !given && k < d->cfg.n_peers; k++) {
			const char *a = d->cfg.peers[k], *eq = strchr(a, '=');

			given = !strcmp(eq ? eq + 1 : a, d->file_peers[i]);
		}
		if (!given)
			relay_remove_peer(d->relay, d->file_peers[i]);
	}
	free(d->file_peers);
	d->file_peers = now;
	d->n_file_peers = n_now;
	return 0;
}

static void on_peers_timer(uv_timer_t *t)
{
	struct flowrelay *d = t->data;
	struct errmsg e = {""};

	if (load_peers_file(d, &e))
		fprintf(stderr, "flowrelay: peers not reloaded: %s\n", e.text);
}

static void on_peers_change(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct flowrelay *d = h->data;

	(void)events;
	if (status < 0 || (filename && strcmp(filename, d->peers_base)))
		return;
	uv_timer_start(&d->peers_timer, on_peers_timer, 200, 0);
}

static int start_peers(struct flowrelay *d)
{
	struct errmsg e = {""};
	char tmp[4096];
	int i;

	for (i = 0; i < d->cfg.n_peers; i++) {
		const char *a = d->cfg.peers[i], *eq = strchr(a, '=');
		char name[256] = "";

		if (eq && (size_t)(eq - a) < sizeof(name))
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
		if (relay_add_peer(d->relay, name, eq ? eq + 1 : a, &e)) {
			fprintf(stderr, "flowrelay: --peer: %s\n", e.text);
			return 2;
		}
	}
	if (!d->cfg.peers_file)
		return 0;
	if (load_peers_file(d, &e)) {
		fprintf(stderr, "flowrelay: --peers-file: %s\n", e.text);
		return 2;
	}
	snprintf(tmp, sizeof(tmp), "%s", d->cfg.peers_file);
	snprintf(d->peers_dir, sizeof(d->peers_dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", d->cfg.peers_file);
	snprintf(d->peers_base, sizeof(d->peers_base), "%s", basename(tmp));
	uv_timer_init(d->loop, &d->peers_timer);
	uv_fs_event_init(d->loop, &d->peers_watch);
	d->peers_timer.data = d->peers_watch.data = d;
	uv_fs_event_start(&d->peers_watch, on_peers_change, d->peers_dir, 0);
	d->watching = true;
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
				  .max_tracked_flows = d->cfg.max_flows * 2};
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
	d->agent = agent_events_new(1024);
	co.store = d->store;
	co.events = d->events;
	co.bus = d->bus;
	co.node_name = d->node_name;
	d->col = d->store && d->events && d->bus ? collector_new(&co) : NULL;
	d->followers = follower_hub_new(d->store, d->events, d->bus, d->node_name);
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

	d->status =
		(struct status_src){.col = d->col, .followers = d->followers, .graph = d->graph};
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
	fprintf(stderr, "flowrelay: gRPC%s on %s:%u%s, HTTP on %s:%u (node %s)\n",
		go.tls_cert ? "+TLS" : "", go.addr, go.port,
		go.ipv6_loopback_too ? " and [::1]" : "", ho.addr, ho.port, d->node_name);
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
	if (d->watching) {
		uv_close((uv_handle_t *)&d->peers_watch, NULL);
		uv_close((uv_handle_t *)&d->peers_timer, NULL);
	}
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
	free(d->file_peers);
}

int main(int argc, char **argv)
{
	static struct flowrelay d;
	int ret = parse_args(&d, argc, argv);

	if (ret)
		return ret < 0 ? 0 : ret;
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
