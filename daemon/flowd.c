/* flowd, the node agent: wires the layers together on one libuv loop. Probes on the chosen
 * interfaces feed the collector through the rings; the kernel map is swept every second; the
 * graph, the exporters and the followers of the gRPC and HTTP servers take flow events from the
 * bus. Options come from one table (flowd's own and each exporter's), which also makes --help. */
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libgen.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/opts.h"
#include "flowscope/base/privs.h"
#include "flowscope/base/version.h"
#include "flowscope/enrich/dns_opts.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/enrich/proc_sockets.h"
#include "flowscope/exporters/exporter.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/history/history.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/probes/probe_sock.h"
#include "flowscope/probes/probe_tc.h"
#include "flowscope/probes/ring_reader.h"
#include "flowscope/serve/access.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/serve/observer.h"
#include "flowscope/serve/peers.h"
#include "flowscope/serve/serve_limits.h"

#define MAX_IFACES 256
#define FLOWD_HISTORY_DIR "/var/lib/flowscope/history"
#define MAX_GROUPS 13
#define MAX_LABELS 64

struct flowd_cfg {
	char *ifaces[MAX_IFACES];
	int n_if;
	bool explicit_if;
	struct opt_hostport http, grpc;
	const char *tls_cert, *tls_key, *tls_client_ca;
	uint64_t max_flows, max_events;
	uint32_t kernel_max_flows;
	uint64_t idle_ns, tcp_idle_ns, sweep_ns, update_ns;
	uint32_t follow_queue;
	struct serve_limits limits;
	struct serve_access access;
	struct dns_opts dns;
	const char *node_name, *identities, *web_dir;
	char *node_labels[MAX_LABELS];
	int n_labels;
	struct peers_cfg peers;
	uint64_t graph_window_ns, graph_max_nodes, graph_max_edges;
	const char *history_dir;
	bool no_history;
	bool keep_caps;
	uint64_t history_max_size, history_max_age_ns, history_sync_ns, history_retry_ns;
	bool help, version;
};

struct flowd {
	uv_loop_t *loop;
	struct flowd_cfg cfg;
	char node_name[256];
	struct flow_store *store;
	struct event_log *events;
	struct flow_bus *bus;
	struct collector *col;
	struct sock_table *socks;
	struct dns_cache *dns;
	struct cgroup_names *cgroups;
	struct graph *graph;
	struct probe_tc *probe;
	struct probe_sock *sock;
	struct ring_reader *reader;
	struct exporter_set *exporters;
	struct history *history;
	struct follower_hub *followers;
	struct peers *peers;
	char advertised[PEER_ADDR_MAX];
	struct agent_events *agent;
	uint64_t ring_lost_told; /* ring-full records already told as agent events */
	uint32_t map_max;	 /* entries the kernel flow map holds */
	bool map_full_told;
	struct status_src status;
	struct observer observer;
	struct http_server *http;
	struct grpc_server *grpc;
	uv_timer_t sweep_timer, flush_timer, ids_timer, history_timer;
	uv_signal_t sig_int, sig_term, sig_hup;
	uv_fs_event_t ids_watch;
	uv_work_t ids_work; /* a reload being read */
	struct identity_table *ids_loaded;
	struct errmsg ids_errmsg;
	int ids_err;
	bool ids_loading, ids_again;
	char ids_dir[4096], ids_base[256];
	char listening[600];
	bool running, ids_watching, stopping;
};

/* ---- agent events --------------------------------------------------------------------------- */

/* Ring records lost and the kernel flow map filling up, told once as they happen. */
static void tell_pressure(struct flowd *d)
{
	struct collector_stats cs;
	uint64_t lost;

	if (d->probe && !probe_tc_lost(d->probe, &lost) && lost > d->ring_lost_told) {
		agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "ring-full",
				  "{\"lost_records\":%llu,\"lost_records_total\":%llu}",
				  (unsigned long long)(lost - d->ring_lost_told),
				  (unsigned long long)lost);
		d->ring_lost_told = lost;
	}
	collector_get_stats(d->col, &cs);
	if (!d->map_max)
		return;
	if (!d->map_full_told && cs.last_sweep_entries >= (uint64_t)d->map_max * 98 / 100) {
		agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "flow-map-full",
				  "{\"entries\":%llu,\"max_entries\":%u}",
				  (unsigned long long)cs.last_sweep_entries, d->map_max);
		d->map_full_told = true;
	} else if (d->map_full_told && cs.last_sweep_entries < (uint64_t)d->map_max * 9 / 10) {
		d->map_full_told = false;
	}
}

/* ---- options ------------------------------------------------------------------------------ */

static int opt_iface(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct flowd_cfg *c = base;

	(void)o;
	if (c->n_if == MAX_IFACES)
		return errmsg_set(e, -EINVAL, "at most %d interfaces", MAX_IFACES);
	c->ifaces[c->n_if++] = (char *)arg;
	c->explicit_if = true;
	return 0;
}

/* --node-label KEY=VALUE: Kubernetes-style label syntax, as node_labels selectors expect. */
static int opt_label(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct flowd_cfg *c = base;
	const char *eq = strchr(arg, '=');
	size_t i;

	(void)o;
	if (!eq || eq == arg || strlen(arg) > 316)
		return errmsg_set(e, -EINVAL, "invalid --node-label '%s': use KEY=VALUE", arg);
	for (i = 0; arg[i]; i++)
		if (!(isalnum((unsigned char)arg[i]) || strchr("-_./=", arg[i])) ||
		    (arg[i] == '=' && arg + i != eq))
			return errmsg_set(e, -EINVAL,
					  "invalid --node-label '%s': keys and values are letters, "
					  "digits, '-', '_', '.' (keys also '/')",
					  arg);
	if (c->n_labels == MAX_LABELS)
		return errmsg_set(e, -EINVAL, "at most %d node labels", MAX_LABELS);
	c->node_labels[c->n_labels++] = (char *)arg;
	return 0;
}

#define CFG(field) offsetof(struct flowd_cfg, field)

static const struct opt flowd_opts[] = {
	{"interface", 'i', "IFACE",
	 "watch IFACE (repeatable); default: every interface that is up,\nloopback included",
	 opt_iface},
	{"http", 0, "ADDR:PORT",
	 "HTTP API listen address (default 127.0.0.1:12000;\nother addresses are opt-in, e.g. "
	 "[::1]:12000)",
	 opt_hostport, CFG(http)},
	{"grpc", 0, "ADDR:PORT",
	 "gRPC (Hubble observer API) listen address\n(default 127.0.0.1:4245 and [::1]:4245)",
	 opt_hostport, CFG(grpc)},
	{"tls-cert", 0, "FILE", "serve gRPC over TLS with this PEM certificate chain", opt_string,
	 CFG(tls_cert)},
	{"tls-key", 0, "FILE", "... and this PEM private key", opt_string, CFG(tls_key)},
	{"tls-client-ca", 0, "FILE", "require client certificates signed by this CA (mTLS)",
	 opt_string, CFG(tls_client_ca)},
	{"max-flows", 0, "N", "flows kept in the store (default 65536)", opt_u64, CFG(max_flows), 1,
	 1 << 30},
	{"max-events", 0, "N",
	 "flow events kept for --last/--since replays\n(default 65536, about 600 bytes each)",
	 opt_u64, CFG(max_events), 1, 1 << 28},
	{"kernel-max-flows", 0, "N", "entries of the kernel flow map (default 262144)", opt_u32,
	 CFG(kernel_max_flows), 1024, 1 << 26},
	{"idle-timeout", 0, "DUR",
	 "end UDP, ICMP and closed TCP flows idle this long\n(default 30s)", opt_duration,
	 CFG(idle_ns)},
	{"tcp-idle-timeout", 0, "DUR", "end open TCP flows idle this long (default 5m)",
	 opt_duration, CFG(tcp_idle_ns)},
	{"sweep-interval", 0, "DUR", "how often the kernel flow map is read (default 1s)",
	 opt_duration, CFG(sweep_ns), 1000000},
	{"update-interval", 0, "DUR", "republish a changed flow at most this often (default 10s)",
	 opt_duration, CFG(update_ns)},
	{"follow-queue", 0, "N",
	 "flows queued per streaming client before it loses\nsome (default 4096)", opt_u32,
	 CFG(follow_queue), 1, 1 << 24},
	{"node-name", 0, "NAME", "node name put on flows (default: the host name)", opt_string,
	 CFG(node_name)},
	{"node-label", 0, "KEY=VALUE",
	 "a label of this node (repeatable): on every flow, for\n--node-label filters", opt_label},
	{"identities", 0, "FILE",
	 "YAML or JSON file mapping IPs/CIDRs to namespace,\npod, labels and service; reloaded when "
	 "it changes",
	 opt_string, CFG(identities)},
	{"web-dir", 0, "DIR", "the dashboard's files (default: web/ next to flowd)", opt_string,
	 CFG(web_dir)},
	{"graph-window", 0, "DUR", "service graph nodes and edges idle this long go\n(default 5m)",
	 opt_duration, CFG(graph_window_ns)},
	{"graph-max-nodes", 0, "N",
	 "graph size caps; beyond them new nodes and edges\nfold into \"other\" (default 1000)",
	 opt_u64, CFG(graph_max_nodes), 1, 10000000},
	{"graph-max-edges", 0, "N", "(default 5000)", opt_u64, CFG(graph_max_edges), 1, 10000000},
	{"history-dir", 0, "DIR",
	 "keep every flow event in DIR, for --since/--until/--first\nacross restarts (default " FLOWD_HISTORY_DIR
	 ")",
	 opt_string, CFG(history_dir)},
	{"no-history", 0, NULL, "keep flow events in memory only (--max-events)", opt_flag,
	 CFG(no_history)},
	{"history-max-size", 0, "SIZE",
	 "history on disk at most this big (default 1G);\n"
	 "the oldest events go first",
	 opt_size, CFG(history_max_size), 1 << 20},
	{"history-max-age", 0, "DUR", "history events older than this go (default 7d)",
	 opt_duration, CFG(history_max_age_ns), 1000000000},
	{"history-sync", 0, "DUR",
	 "make kept events durable this often: a crash loses at\nmost this much (default 1s)",
	 opt_duration, CFG(history_sync_ns), 10000000},
	{"history-retry", 0, "DUR",
	 "a history stopped by a write error (a full disk) tries\nagain this often (default 30s)",
	 opt_duration, CFG(history_retry_ns), 100000000},
	{"keep-capabilities", 0, NULL,
	 "keep all of root's capabilities after start (default:\nonly CAP_BPF, CAP_NET_ADMIN, "
	 "CAP_SYS_PTRACE and\nCAP_DAC_READ_SEARCH, which running needs)",
	 opt_flag, CFG(keep_caps)},
	{"help", 'h', NULL, "show this help", opt_flag, CFG(help)},
	{"version", 'V', NULL, "show the version", opt_flag, CFG(version)},
	{0},
};

static size_t opt_groups(struct flowd *d, struct opt_group *g)
{
	g[0] = (struct opt_group){NULL, flowd_opts, &d->cfg};
	g[1] = peers_opt_group(&d->cfg.peers);
	g[2] = serve_limits_opt_group(&d->cfg.limits);
	g[3] = serve_access_opt_group(&d->cfg.access);
	g[4] = dns_opt_group(&d->cfg.dns);
	return 5 + exporter_set_opt_groups(d->exporters, g + 5, MAX_GROUPS - 5);
}

static void usage(struct flowd *d)
{
	struct opt_group g[MAX_GROUPS];
	struct buf b = BUF_INIT;

	opts_help(&b, g, opt_groups(d, g));
	printf("Usage: flowd [OPTIONS]\n"
	       "Flowscope node agent: watches network flows with eBPF tc probes and serves them.\n"
	       "\n%s\n"
	       "DUR is a number with a unit: ns, us, ms, s, m, h (\"30s\", \"5m\"); bare numbers are\n"
	       "seconds. SIZE is bytes, or a number with K, M or G. flowd starts as root (CAP_BPF,\n"
	       "CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN) and, once started, keeps only CAP_BPF,\n"
	       "CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH. SIGINT/SIGTERM detach\n"
	       "every probe; SIGHUP reopens export files and reloads the identities.\n",
	       b.data ? b.data : "");
	buf_free(&b);
}

/* 0 to go on, else the exit status. */
static int parse_args(struct flowd *d, int argc, char **argv)
{
	struct serve_listen listen = {.socket_name = FLOWD_SOCKET_NAME};
	struct opt_group g[MAX_GROUPS];
	struct errmsg e = {""};
	int r;

	d->cfg.max_flows = 65536;
	d->cfg.max_events = 65536;
	d->cfg.sweep_ns = NSEC_PER_SEC;
	d->cfg.history_max_size = 1ULL << 30;
	d->cfg.history_max_age_ns = 7 * 24 * 3600 * NSEC_PER_SEC;
	d->cfg.history_sync_ns = NSEC_PER_SEC;
	r = opts_parse(argc, argv, g, opt_groups(d, g), &e);
	if (r < 0) {
		fprintf(stderr, "flowd: %s\nTry 'flowd --help'.\n", e.text);
		return 2;
	}
	if (r < argc) {
		fprintf(stderr, "flowd: unexpected argument '%s'\nTry 'flowd --help'.\n", argv[r]);
		return 2;
	}
	if (d->cfg.peers.tls_server_name && !d->cfg.tls_cert) {
		fprintf(stderr, "flowd: --tls-server-name needs --tls-cert and --tls-key\n");
		return 2;
	}
	/* As start_servers() will listen. */
	listen.grpc_addr = d->cfg.grpc.set && d->cfg.grpc.host[0] ? d->cfg.grpc.host : "127.0.0.1";
	listen.http_addr = d->cfg.http.set && d->cfg.http.host[0] ? d->cfg.http.host : "127.0.0.1";
	listen.grpc_tls = d->cfg.tls_cert != NULL;
	listen.grpc_mtls = d->cfg.tls_client_ca != NULL;
	if (!d->cfg.help && !d->cfg.version && serve_access_prepare(&d->cfg.access, &listen, &e)) {
		fprintf(stderr, "flowd: %s\n", e.text);
		return 2;
	}
	if (d->cfg.help)
		usage(d);
	else if (d->cfg.version)
		printf("flowd %s\n", FLOWSCOPE_VERSION);
	return d->cfg.help || d->cfg.version ? -1 : 0;
}

static void log_sink(enum log_level level, const char *text, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "flowd: %s%s\n", level == LOG_LEVEL_WARN ? "warning: " : "", text);
}

/* ---- interfaces ----------------------------------------------------------------------------- */

static int up_interfaces(struct flowd_cfg *c)
{
	struct ifaddrs *ifa, *i;
	int j;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && c->n_if < MAX_IFACES; i = i->ifa_next) {
		if (!(i->ifa_flags & IFF_UP) || !i->ifa_name)
			continue;
		for (j = 0; j < c->n_if && strcmp(c->ifaces[j], i->ifa_name); j++)
			;
		if (j == c->n_if && (c->ifaces[c->n_if] = strdup(i->ifa_name)))
			c->n_if++;
	}
	freeifaddrs(ifa);
	return c->n_if;
}

/* Loads the probes and attaches: a named interface must work; of "every interface that is up"
 * we take what we can. */
static int start_probes(struct flowd *d)
{
	struct probe_tc_opts po = {.max_flows = d->cfg.kernel_max_flows};
	struct errmsg e = {""};
	int i, attached = 0, err;

	if (!d->cfg.explicit_if && up_interfaces(&d->cfg) <= 0) {
		fprintf(stderr, "flowd: no interface is up\n");
		return -ENODEV;
	}
	err = probe_tc_open(&d->probe, &po, &e);
	if (err) {
		fprintf(stderr, "flowd: %s\n", errmsg_text(&e, err));
		return err;
	}
	collector_set_tick_ns(d->col, probe_tc_tick_ns(d->probe));
	for (i = 0; i < d->cfg.n_if; i++) {
		err = probe_tc_attach(d->probe, d->cfg.ifaces[i], &e);
		if (!err) {
			char n[64];

			attached++;
			agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "probe-attached",
					  "{\"probe\":\"tc\",\"interface\":\"%s\"}",
					  json_escape(d->cfg.ifaces[i], n, sizeof(n)));
			continue;
		}
		fprintf(stderr, "flowd: %s\n", errmsg_text(&e, err));
		if (d->cfg.explicit_if || err == -EBUSY)
			return err;
		fprintf(stderr, "flowd: skipping %s\n", d->cfg.ifaces[i]);
	}
	if (!attached) {
		fprintf(stderr, "flowd: could not attach to any interface\n");
		return -ENODEV;
	}
	/* Socket probes: processes, RTT, retransmits, closes. Flows still work without them. */
	if (probe_sock_open(&d->sock, d->probe, drop_reason_is_loss, &e)) {
		fprintf(stderr,
			"flowd: warning: %s: flows will have no process, RTT or retransmits\n",
			e.text);
		d->sock = NULL;
	} else {
		agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "probe-attached",
				  "{\"probe\":\"socket\"}");
	}
	d->status.sock = d->sock; /* the drop probe's ignored frees, for /metrics */
	return attached;
}

/* ---- identities ----------------------------------------------------------------------------- */

/* A reload reads and parses the file on the loop's thread pool (a file of 100,000 entries takes
 * seconds) and puts the table in force on the loop. */
static void load_identities(uv_work_t *w)
{
	struct flowd *d = w->data;

	d->ids_err = identity_table_load(d->cfg.identities, &d->ids_loaded, &d->ids_errmsg);
}

static void reload_identities(uv_timer_t *t);

static void identities_loaded(uv_work_t *w, int status)
{
	struct flowd *d = w->data;
	struct identities_stats st;
	char f[1024], m[300];

	d->ids_loading = false;
	if (status == UV_ECANCELED)
		return;
	identities_reloaded(d->ids_loaded, d->ids_err);
	d->ids_loaded = NULL;
	identities_get_stats(&st);
	if (d->ids_err) {
		fprintf(stderr,
			"flowd: identities not reloaded: %s (the previous %llu stay in force)\n",
			errmsg_text(&d->ids_errmsg, d->ids_err), (unsigned long long)st.entries);
		agent_events_post(
			d->agent, AGENT_EVENT_UNKNOWN, "identities-refused",
			"{\"file\":\"%s\",\"error\":\"%s\",\"entries_in_force\":%llu}",
			json_escape(d->cfg.identities, f, sizeof(f)),
			json_escape(errmsg_text(&d->ids_errmsg, d->ids_err), m, sizeof(m)),
			(unsigned long long)st.entries);
	} else {
		agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "identities-reloaded",
				  "{\"file\":\"%s\",\"entries\":%llu}",
				  json_escape(d->cfg.identities, f, sizeof(f)),
				  (unsigned long long)st.entries);
		fprintf(stderr, "flowd: identities reloaded from %s: %llu entries\n",
			d->cfg.identities, (unsigned long long)st.entries);
	}
	if (d->ids_again && !d->stopping) { /* it changed again while being read */
		d->ids_again = false;
		reload_identities(&d->ids_timer);
	}
}

static void reload_identities(uv_timer_t *t)
{
	struct flowd *d = t->data;

	if (d->ids_loading) {
		d->ids_again = true;
		return;
	}
	d->ids_errmsg.text[0] = '\0';
	d->ids_work.data = d;
	if (!uv_queue_work(d->loop, &d->ids_work, load_identities, identities_loaded))
		d->ids_loading = true;
}

static void on_ids_change(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct flowd *d = h->data;

	(void)events;
	if (status < 0 || (filename && strcmp(filename, d->ids_base)))
		return;
	/* Editors write in several steps: reload once things settle. */
	uv_timer_start(&d->ids_timer, reload_identities, 200, 0);
}

/* Loads --identities and watches its directory (editors and config tools replace the file by
 * renaming a new one over it, which a watch on the file itself would miss). */
static int start_identities(struct flowd *d)
{
	struct identity_table *ids = NULL;
	struct errmsg e = {""};
	char tmp[4096];
	int r;

	if (!d->cfg.identities)
		return 0;
	r = identity_table_load(d->cfg.identities, &ids, &e);
	if (r) {
		fprintf(stderr, "flowd: %s\n", errmsg_text(&e, r));
		return r;
	}
	identities_set(ids);
	snprintf(tmp, sizeof(tmp), "%s", d->cfg.identities);
	snprintf(d->ids_dir, sizeof(d->ids_dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", d->cfg.identities);
	snprintf(d->ids_base, sizeof(d->ids_base), "%s", basename(tmp));
	uv_timer_init(d->loop, &d->ids_timer);
	d->ids_timer.data = d;
	uv_fs_event_init(d->loop, &d->ids_watch);
	d->ids_watch.data = d;
	d->ids_watching = true;
	r = uv_fs_event_start(&d->ids_watch, on_ids_change, d->ids_dir, 0);
	if (r) {
		fprintf(stderr, "flowd: cannot watch %s for changes: %s\n", d->ids_dir,
			uv_strerror(r));
		return r;
	}
	fprintf(stderr, "flowd: %zu identities from %s\n", identity_table_size(ids),
		d->cfg.identities);
	return 0;
}

/* ---- peers ------------------------------------------------------------------------------- */

/* The address relays are told (--advertise, else the gRPC listen address) and the peers. */
static int start_peers(struct flowd *d)
{
	const struct flowd_cfg *c = &d->cfg;
	const char *host = c->grpc.set && c->grpc.host[0] ? c->grpc.host : "127.0.0.1";
	struct peers_opts po = {.specs = c->peers.specs,
				.n_specs = c->peers.n_specs,
				.file = c->peers.file,
				.tls = c->tls_cert != NULL,
				.agent = d->agent};
	struct errmsg e = {""};
	int err;

	if (c->peers.advertise[0])
		snprintf(d->advertised, sizeof(d->advertised), "%s", c->peers.advertise);
	else
		snprintf(d->advertised, sizeof(d->advertised),
			 strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
			 c->grpc.set ? c->grpc.port : 4245);
	if (!c->peers.advertise[0] && (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")))
		fprintf(stderr,
			"flowd: warning: gRPC listens on every address: relays are told %s, which "
			"they cannot connect to; give --advertise ADDR:PORT\n",
			d->advertised);
	snprintf(po.self.name, sizeof(po.self.name), "%s", d->node_name);
	snprintf(po.self.address, sizeof(po.self.address), "%s", d->advertised);
	if (c->tls_cert)
		snprintf(po.self.tls_server_name, sizeof(po.self.tls_server_name), "%s",
			 c->peers.tls_server_name ? c->peers.tls_server_name : d->node_name);
	err = peers_start(&d->peers, d->loop, &po, &e);
	if (err)
		fprintf(stderr, "flowd: %s\n", errmsg_text(&e, err));
	else if (peers_count(d->peers))
		fprintf(stderr, "flowd: %zu peers for relays\n", peers_count(d->peers));
	return err;
}

/* ---- the pipeline --------------------------------------------------------------------------- */

static void on_record(void *ctx, const void *data, size_t len)
{
	collector_handle_record(ctx, data, len);
}

static void on_record_ahead(void *ctx, const void *data, size_t len)
{
	collector_prefetch_record(ctx, data, len);
}

static void graph_on_flow(const struct flow *f, void *ctx)
{
	graph_add_flow(ctx, f);
}

static void exporters_on_flow(const struct flow *f, void *ctx)
{
	exporter_set_take(ctx, f);
}

static void on_sweep(uv_timer_t *t)
{
	struct flowd *d = t->data;
	int r;

	/* Drain first so that start records reach the store before the sweep adopts flows. */
	ring_reader_drain(d->reader);
	r = collector_sweep(d->col, probe_tc_flow_map_fd(d->probe));
	if (r < 0)
		fprintf(stderr, "flowd: reading the kernel flow map failed: %s\n", strerror(-r));
	/* Sockets the probes cannot tell of, when flow ends asked for them (rate-limited). */
	proc_sockets_refresh(d->socks, d->cgroups, false, NULL);
	graph_expire(d->graph, clock_wall_ns());
	tell_pressure(d);
}

/* Watermarks for relays: every record already in the rings is published first, so that what
 * is still to come was stamped at most the probes' few microseconds from clock read to ring
 * commit ago (FOLLOWER_REORDER_NS bounds it, with clock resyncs). */
static uint64_t watermark(void *ctx)
{
	struct flowd *d = ctx;
	uint64_t boot = clock_boot_ns();

	if (d->reader)
		ring_reader_drain(d->reader);
	return follower_collector_mark(d->col, boot);
}

static void on_flush(uv_timer_t *t)
{
	struct flowd *d = t->data;

	exporter_set_flush(d->exporters, false);
}

/* The store, bus, enrichment, collector and graph. */
static int start_collector(struct flowd *d)
{
	struct graph_config gc = {.window_ns = d->cfg.graph_window_ns,
				  .max_nodes = d->cfg.graph_max_nodes,
				  .max_edges = d->cfg.graph_max_edges,
				  .max_tracked_flows = d->cfg.max_flows};
	struct collector_opts co = {.idle_timeout_ns = d->cfg.idle_ns,
				    .tcp_idle_timeout_ns = d->cfg.tcp_idle_ns,
				    .update_interval_ns = d->cfg.update_ns,
				    .dns_query_timeout_ns = d->cfg.dns.query_timeout_ns,
				    .dns_max_pending = d->cfg.dns.max_pending};
	struct dns_cache_limits dl = dns_opts_cache_limits(&d->cfg.dns);

	d->store = flow_store_new(d->cfg.max_flows);
	d->events = event_log_new(d->cfg.max_events);
	d->agent = agent_events_new(1024);
	d->bus = flow_bus_new();
	d->dns = dns_cache_new(&dl);
	d->socks = sock_table_new(262144);
	/* Without a cgroup2 root flows still work, with no container ids. */
	d->cgroups = cgroup_names_new();
	d->graph = graph_new(&gc);
	if (d->graph && d->store)
		flow_store_on_drop(d->store, graph_store_dropped, d->graph);
	co.store = d->store;
	co.events = d->events;
	co.bus = d->bus;
	co.node_name = d->node_name;
	co.socks = d->socks;
	co.cgroups = d->cgroups;
	co.dns = d->dns;
	d->col = d->store && d->bus ? collector_new(&co) : NULL;
	d->followers = follower_hub_new(d->store, d->events, d->bus, d->node_name, d->loop);
	if (d->followers) {
		follower_hub_set_node_labels(d->followers, d->cfg.node_labels,
					     (size_t)d->cfg.n_labels);
		follower_hub_set_marks(d->followers,
				       &(struct follower_marks){
					       .loop = d->loop, .watermark = watermark, .ctx = d});
	}
	flow_pb_set_node_labels(d->cfg.node_labels, (size_t)d->cfg.n_labels);
	if (!d->col || !d->events || !d->agent || !d->dns || !d->graph || !d->followers ||
	    !d->socks || !flow_bus_subscribe(d->bus, graph_on_flow, d->graph)) {
		fprintf(stderr, "flowd: out of memory for %llu flows\n",
			(unsigned long long)d->cfg.max_flows);
		return -ENOMEM;
	}
	return 0;
}

static void history_on_flow(const struct flow *f, void *ctx)
{
	history_append(ctx, f); /* a failure is counted and told by the history itself */
}

static void on_history_sync(uv_timer_t *t)
{
	struct flowd *d = t->data;

	history_sync(d->history, clock_wall_ns());
}

/* The history's writer thread holds no capability (they are per thread: the drop after start
 * does not reach a thread already running). */
static void history_thread_start(void *ctx)
{
	struct errmsg e = {""};

	(void)ctx;
	if (privs_keep_only(NULL, 0, &e))
		logmsg(LOG_LEVEL_WARN, "history writer: %s", e.text);
}

/* The history: opened (recovered) before anything is published, fed from the bus, synced on
 * its own timer; replays read it. */
static int start_history(struct flowd *d)
{
	struct history_opts o = {.dir = d->cfg.history_dir ? d->cfg.history_dir : FLOWD_HISTORY_DIR,
				 .max_bytes = d->cfg.history_max_size,
				 .max_age_ns = d->cfg.history_max_age_ns,
				 .retry_ns = d->cfg.history_retry_ns,
				 .thread_start = d->cfg.keep_caps ? NULL : history_thread_start};
	struct errmsg e = {""};
	struct history_stats st;
	int err;

	if (d->cfg.no_history)
		return 0;
	err = history_open(&d->history, &o, &e);
	if (err) {
		fprintf(stderr, "flowd: %s (--history-dir DIR elsewhere, or --no-history)\n",
			errmsg_text(&e, err));
		return err;
	}
	if (!flow_bus_subscribe(d->bus, history_on_flow, d->history)) {
		fprintf(stderr, "flowd: cannot start the history: out of memory\n");
		return -ENOMEM;
	}
	follower_hub_set_history(d->followers, d->history);
	d->status.history = d->history;
	history_get_stats(d->history, &st);
	fprintf(stderr, "flowd: history in %s: %llu events, %.1f MiB\n", o.dir,
		(unsigned long long)st.events, (double)st.bytes / (1 << 20));
	return 0;
}

static int start_exporters(struct flowd *d)
{
	struct exporter_env env = {.node_name = d->node_name,
				   .node_labels = d->cfg.node_labels,
				   .n_node_labels = (size_t)d->cfg.n_labels,
				   .loop = d->loop};
	struct errmsg e = {""};
	int err = exporter_set_open(d->exporters, &env, &e);

	if (err) {
		fprintf(stderr, "flowd: %s\n", errmsg_text(&e, err));
		return err;
	}
	if (exporter_set_count(d->exporters) &&
	    !flow_bus_subscribe(d->bus, exporters_on_flow, d->exporters)) {
		fprintf(stderr, "flowd: cannot start the exporters: out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

/* The dashboard's files: --web-dir, else "web" next to the flowd binary (build/web). */
static const char *default_web_dir(void)
{
	static char dir[4096];
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat st;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/web", dirname(exe));
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

static int start_servers(struct flowd *d)
{
	const struct flowd_cfg *c = &d->cfg;
	/* Default gRPC: both loopbacks, so "localhost:4245" works whichever one a client tries. */
	struct grpc_server_opts go = {.addr = c->grpc.set ? c->grpc.host : "127.0.0.1",
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
				      .graph = d->graph};
	struct grpc_service svc;
	struct errmsg e = {""};
	int err;

	if (c->grpc.set && !c->grpc.host[0])
		go.addr = "127.0.0.1";
	serve_limits_apply(&d->cfg.limits, &go, &ho);
	serve_access_apply(&c->access, &go, &ho);
	/* The probe and the ring reader join once attached (start()). */
	d->status = (struct status_src){.col = d->col,
					.followers = d->followers,
					.socks = d->socks,
					.dns = d->dns,
					.graph = d->graph,
					.exporters = d->exporters,
					.history = d->history,
					.follow_budget = &d->cfg.limits.follow_budget};
	d->observer = (struct observer){
		.followers = d->followers,
		.status = &d->status,
		.agent_events = d->agent,
		.node_name = d->node_name,
		.events = d->events,
		.address = d->advertised,
		.tls_server_name = c->tls_cert ? (c->peers.tls_server_name ?: d->node_name) : NULL,
		.peers = d->peers};
	svc = observer_service(&d->observer);
	err = http_server_start(&d->http, d->loop, &ho, &e);
	err = err ?: grpc_server_start(&d->grpc, d->loop, &go, &svc, &e);
	if (err) {
		fprintf(stderr, "flowd: %s\n", errmsg_text(&e, err));
		return err;
	}
	snprintf(d->listening, sizeof(d->listening), "HTTP on %s%s%s:%u, gRPC%s on %s%s%s:%u%s",
		 strchr(ho.addr, ':') ? "[" : "", ho.addr, strchr(ho.addr, ':') ? "]" : "", ho.port,
		 go.tls_cert ? "+TLS" : "", strchr(go.addr, ':') ? "[" : "", go.addr,
		 strchr(go.addr, ':') ? "]" : "", go.port,
		 go.ipv6_loopback_too ? " and [::1]" : "");
	if (go.unix_path) {
		size_t n = strlen(d->listening);

		snprintf(d->listening + n, sizeof(d->listening) - n, " and unix:%s", go.unix_path);
	}
	serve_access_tell(&c->access, &ho);
	return 0;
}

/* ---- running and stopping --------------------------------------------------------------- */

static void shutdown_flowd(struct flowd *d);

static void on_signal(uv_signal_t *s, int signum)
{
	struct flowd *d = s->data;

	fprintf(stderr, "flowd: %s, detaching probes\n", strsignal(signum));
	shutdown_flowd(d);
}

/* SIGHUP: reopen the export files (after logrotate moved them) and reload the identities. */
static void on_hup(uv_signal_t *s, int signum)
{
	struct flowd *d = s->data;
	struct errmsg e = {""};

	(void)signum;
	if (exporter_set_reload(d->exporters, &e))
		fprintf(stderr, "flowd: export file not reopened: %s (still writing the old one)\n",
			e.text);
	else if (exporter_set_count(d->exporters))
		fprintf(stderr, "flowd: export file reopened\n");
	if (d->ids_watching)
		reload_identities(&d->ids_timer);
	if (d->cfg.peers.file)
		peers_reload(d->peers, &e); /* says itself what it did */
}

static void start_loop_handles(struct flowd *d)
{
	uint64_t sweep_ms = d->cfg.sweep_ns / 1000000;

	uv_timer_init(d->loop, &d->sweep_timer);
	uv_timer_init(d->loop, &d->flush_timer);
	uv_timer_init(d->loop, &d->history_timer);
	d->sweep_timer.data = d->flush_timer.data = d->history_timer.data = d;
	if (d->history)
		uv_timer_start(&d->history_timer, on_history_sync, d->cfg.history_sync_ns / 1000000,
			       d->cfg.history_sync_ns / 1000000);
	uv_timer_start(&d->sweep_timer, on_sweep, sweep_ms, sweep_ms);
	uv_timer_start(&d->flush_timer, on_flush, 1000, 1000);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_hup);
	d->sig_int.data = d->sig_term.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
	d->running = true;
}

static void close_handle(void *h)
{
	uv_close((uv_handle_t *)h, NULL);
}

/* Everything drained from the rings is published; flows still active end now so the exporters
 * get their final counters (IPFIX only exports ended flows); then every exporter writes out
 * what it holds. Probes are detached now, not at exit: a hung client must never keep them in
 * the kernel. */
static void shutdown_flowd(struct flowd *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	/* Told while the servers still serve their followers. */
	agent_events_post(d->agent, AGENT_EVENT_UNKNOWN, "agent-stopping",
			  "{\"detaching_probes\":%s}", d->probe ? "true" : "false");
	if (d->reader) {
		ring_reader_drain(d->reader);
		ring_reader_stop(d->reader);
		d->reader = d->status.reader = NULL;
	}
	http_server_stop(d->http);
	d->http = NULL;
	if (d->grpc)
		grpc_server_stop(d->grpc);
	d->grpc = NULL;
	peers_stop(d->peers); /* after the server: its Notify calls are gone */
	d->peers = NULL;
	if (d->running) {
		close_handle(&d->sweep_timer);
		close_handle(&d->flush_timer);
		close_handle(&d->history_timer);
		close_handle(&d->sig_int);
		close_handle(&d->sig_term);
		close_handle(&d->sig_hup);
	}
	if (d->ids_watching) {
		close_handle(&d->ids_watch);
		close_handle(&d->ids_timer);
	}
	if (d->col && (exporter_set_count(d->exporters) || d->history))
		collector_end_all(d->col);
	exporter_set_free(d->exporters);
	d->exporters = NULL;
	d->status.exporters = NULL;
	/* Every event kept so far is written and durable before flowd exits. */
	history_close(d->history);
	d->history = NULL;
	d->status.history = NULL;
	if (d->followers)
		follower_hub_set_history(d->followers, NULL);
	d->exporters = NULL;
	d->status.exporters = NULL;
	probe_sock_close(d->sock);
	d->sock = NULL;
	probe_tc_close(d->probe);
	d->probe = NULL;
	d->status.probe = NULL;
}

static void free_flowd(struct flowd *d)
{
	int i;

	uv_run(d->loop, UV_RUN_NOWAIT); /* the handles closed by shutdown_flowd */
	follower_hub_free(d->followers);
	collector_free(d->col);
	sock_table_free(d->socks);
	cgroup_names_free(d->cgroups);
	graph_free(d->graph);
	identities_set(NULL);
	dns_cache_free(d->dns);
	flow_store_free(d->store);
	event_log_free(d->events);
	agent_events_free(d->agent);
	flow_bus_free(d->bus);
	if (!d->cfg.explicit_if)
		for (i = 0; i < d->cfg.n_if; i++)
			free(d->cfg.ifaces[i]);
}

/* Everything that can fail at start, in order; 0 or the exit status. The servers listen before
 * the probes attach: a client polling for flowd to be ready (refused until then) must not show
 * up as dropped packets of its own. */
static int start(struct flowd *d)
{
	const int *fds;
	int n, err;

	if (start_identities(d))
		return 2;
	if (start_collector(d))
		return 1;
	if (start_history(d))
		return 2;
	if (start_peers(d))
		return 2;
	if ((err = start_exporters(d)))
		return err == -ENOMEM ? 1 : 2;
	if (start_servers(d) || start_probes(d) < 0)
		return 1;
	/* Sockets older than the probes, and UDP ones, in every network namespace. */
	proc_sockets_refresh(d->socks, d->cgroups, true, NULL);
	n = probe_tc_ring_fds(d->probe, &fds);
	err = ring_reader_start(&d->reader, d->loop, fds, n, on_record, d->col);
	if (err) {
		fprintf(stderr, "flowd: cannot read the probe rings: %s\n", strerror(-err));
		return 1;
	}
	ring_reader_set_prefetch(d->reader, on_record_ahead);
	d->status.probe = d->probe;
	d->status.reader = d->reader;
	{
		struct bpf_map_info info = {0};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(probe_tc_flow_map_fd(d->probe), &info, &len))
			d->map_max = info.max_entries;
	}
	start_loop_handles(d);
	agent_events_post(d->agent, AGENT_EVENT_STARTED, "agent-started", "{\"interfaces\":%d}",
			  d->cfg.n_if);
	fprintf(stderr, "flowd: watching %d interface%s, %s (node %s)\n", d->cfg.n_if,
		d->cfg.n_if == 1 ? "" : "s", d->listening, d->node_name);
	return 0;
}

/* Once the probes are attached and the listeners open, flowd needs: CAP_BPF for the flow map
 * (every bpf() call, unprivileged BPF being off), CAP_NET_ADMIN to detach its tc filters at
 * stop, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to read every process's sockets in /proc and to
 * open cgroups by id. Everything else goes (loading modules, raw I/O, changing users, owning
 * any file, raw sockets, ...), from the bounding set too, with no_new_privs. */
static int drop_capabilities(struct flowd *d)
{
	static const int keep[] = {CAP_BPF, CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
	uint64_t eff, bnd;
	struct errmsg e = {""};
	char names[256];

	if (d->cfg.keep_caps)
		return 0;
	if (privs_keep_only(keep, sizeof(keep) / sizeof(keep[0]), &e)) {
		fprintf(stderr, "flowd: %s (--keep-capabilities to run with them all)\n", e.text);
		return 1;
	}
	if (!privs_current(&eff, &bnd)) {
		privs_names(eff, names, sizeof(names));
		fprintf(stderr, "flowd: running with %s only\n", names);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct flowd d;
	struct flow_store_stats st;
	struct collector_stats cs;
	int ret;

	logmsg_set_sink(log_sink, NULL);
	d.exporters = exporter_set_new();
	if (!d.exporters) {
		fprintf(stderr, "flowd: out of memory\n");
		return 1;
	}
	ret = parse_args(&d, argc, argv);
	if (ret) {
		exporter_set_free(d.exporters);
		return ret < 0 ? 0 : ret;
	}
	flow_filter_set_limits(d.cfg.limits.max_filters, (size_t)d.cfg.limits.max_filter_bytes);
	snprintf(d.node_name, sizeof(d.node_name), "%s", d.cfg.node_name ? d.cfg.node_name : "");
	if (!d.cfg.node_name && gethostname(d.node_name, sizeof(d.node_name) - 1))
		strcpy(d.node_name, "localhost");
	if (geteuid() != 0)
		fprintf(stderr, "flowd: not running as root: loading probes will likely fail\n");
	d.loop = uv_default_loop();
	signal(SIGPIPE, SIG_IGN);
	ret = start(&d);
	if (!ret)
		ret = drop_capabilities(&d);
	if (!ret) {
		fflush(stderr);
		uv_run(d.loop, UV_RUN_DEFAULT);
		flow_store_get_stats(d.store, &st);
		collector_get_stats(d.col, &cs);
		fprintf(stderr, "flowd: stopped: %llu records, %llu flows seen\n",
			(unsigned long long)cs.records, (unsigned long long)st.seen);
	}
	shutdown_flowd(&d);
	free_flowd(&d);
	return ret;
}
