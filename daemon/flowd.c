/* flowd: the node agent. Loads the TC probe on the chosen interfaces, drains its per-CPU rings
 * and sweeps its flow map on one libuv loop, and serves flows over HTTP. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowscope/pipeline/collector.h"
#include "flowscope/exporters/file_exporter.h"
#include "flowscope/filter/filter_query.h"
#include "flowscope/graph/graph.h"
#include "flowscope/exporters/ipfix_exporter.h"
#include "flowscope/exporters/syslog_exporter.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/base/parse.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/probes/probe_sock.h"
#include "flowscope/probes/probe_tc.h"
#include "flowscope/probes/ring_reader.h"

#define FLOWSCOPE_VERSION "0.1.0"
#define MAX_IFACES 256

struct flowd {
	uv_loop_t *loop;
	struct collector col;
	struct probe_tc *probe;
	struct ring_reader *reader;
	struct http_server *http;
	struct grpc_server *grpc;
	uv_timer_t sweep_timer;
	uv_signal_t sig_int, sig_term;
	uint64_t sweep_interval_ns;
	int stopping;
	struct probe_sock *sock;
	/* --identities: the file, a watch on its directory and a debounce timer. */
	const char *ids_path;
	char ids_dir[4096], ids_base[256];
	uv_fs_event_t ids_watch;
	uv_timer_t ids_timer;
	int ids_watching;
	/* --export-file: the SIEM file exporter, flushed every second, reopened on SIGHUP. */
	struct file_exporter *fx;
	struct file_exporter_opts fxo;
	uv_timer_t fx_timer;
	uv_signal_t sig_hup;
	int fx_running;
	/* --export-syslog, --export-ipfix. */
	struct syslog_exporter *sx;
	struct syslog_exporter_opts sxo;
	char sx_host[256];
	struct ipfix_exporter *ix;
	struct ipfix_exporter_opts ixo;
	char ix_host[256];
	/* --export-allow / --export-deny: which flows the exporters get. */
	const char *x_allow, *x_deny;
	struct flow_filter_set *xfs; /* for syslog and IPFIX; the file exporter has its own */
};

/* Compiles the export filters (NULL when there are none). Returns 0 or -1 with err. */
static int export_filters(struct flowd *d, struct flow_filter_set **out, char *err, size_t len)
{
	struct filter_query a = {0}, n = {0};
	int r = 0;

	*out = NULL;
	if (d->x_allow && filter_query_parse(&a, d->x_allow)) {
		snprintf(err, len, "--export-allow: %s", a.err[0] ? a.err : "out of memory");
		r = -1;
	} else if (d->x_deny && filter_query_parse(&n, d->x_deny)) {
		snprintf(err, len, "--export-deny: %s", n.err[0] ? n.err : "out of memory");
		r = -1;
	} else {
		struct flow_filter_set *probe = NULL;
		char e[256];

		/* Each on its own first, so the message can say which option is wrong. */
		if (filter_query_compile(&a, NULL, &probe, e, sizeof(e))) {
			snprintf(err, len, "--export-allow: %s", e);
			r = -1;
		}
		flow_filter_set_free(probe);
		probe = NULL;
		if (!r && filter_query_compile(NULL, &n, &probe, e, sizeof(e))) {
			snprintf(err, len, "--export-deny: %s", e);
			r = -1;
		}
		flow_filter_set_free(probe);
		if (!r && filter_query_compile(&a, &n, out, err, len))
			r = -1;
	}
	filter_query_free(&a);
	filter_query_free(&n);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: flowd [OPTIONS]\n"
		"Flowscope node agent: watches network flows with eBPF tc probes and serves them.\n"
		"\n"
		"  -i, --interface IFACE      watch IFACE (repeatable); default: every interface\n"
		"                             that is up, loopback included\n"
		"      --http ADDR:PORT       HTTP API listen address (default 127.0.0.1:12000;\n"
		"                             other addresses are opt-in, e.g. [::1]:12000)\n"
		"      --grpc ADDR:PORT       gRPC (Hubble observer API) listen address\n"
		"                             (default 127.0.0.1:4245 and [::1]:4245)\n"
		"      --tls-cert FILE        serve gRPC over TLS with this PEM certificate chain\n"
		"      --tls-key FILE         ... and this PEM private key\n"
		"      --tls-client-ca FILE   require client certificates signed by this CA "
		"(mTLS)\n"
		"      --max-flows N          flows kept in the store (default 65536)\n"
		"      --kernel-max-flows N   entries of the kernel flow map (default 262144)\n"
		"      --idle-timeout DUR     end UDP, ICMP and closed TCP flows idle this long\n"
		"                             (default 30s)\n"
		"      --tcp-idle-timeout DUR end open TCP flows idle this long (default 5m)\n"
		"      --sweep-interval DUR   how often the kernel flow map is read (default 1s)\n"
		"      --update-interval DUR  republish a changed flow at most this often (default "
		"10s)\n"
		"      --follow-queue N       flows queued per streaming client before it loses\n"
		"                             some (default 4096)\n"
		"      --node-name NAME       node name put on flows (default: the host name)\n"
		"      --identities FILE      YAML or JSON file mapping IPs/CIDRs to namespace,\n"
		"                             pod, labels and service; reloaded when it changes\n"
		"      --web-dir DIR          the dashboard's files (default: web/ next to flowd)\n"
		"      --graph-window DUR     service graph nodes and edges idle this long go\n"
		"                             (default 5m)\n"
		"      --graph-max-nodes N    graph size caps; beyond them new nodes and edges\n"
		"      --graph-max-edges N    fold into \"other\" (defaults 1000 and 5000)\n"
		"      --export-file PATH     append every flow event to PATH as NDJSON (SIEM);\n"
		"                             SIGHUP reopens it (for logrotate)\n"
		"      --export-max-size SIZE rotate PATH at this size (default 100M)\n"
		"      --export-keep N        rotated files kept: PATH.1 ... PATH.N (default 5)\n"
		"      --export-gzip          compress rotated files (PATH.1.gz ...)\n"
		"      --export-fields LIST   keep only these flow fields, e.g. "
		"time,IP,l4,verdict\n"
		"      --export-syslog URL    every flow event to syslog (RFC 5424), URL\n"
		"                             udp://, tcp:// or tls://HOST:PORT (RFC 5425)\n"
		"      --export-syslog-ca FILE  CA bundle to verify the TLS server (default:\n"
		"                             the system's)\n"
		"      --export-syslog-cert FILE, --export-syslog-key FILE  client certificate\n"
		"      --export-syslog-format json (default) or cef\n"
		"      --export-ipfix HOST:PORT  ended flows as IPFIX (RFC 7011) over UDP\n"
		"      --export-allow FILTER  export only matching flows, e.g.\n"
		"                             'to_port=443&protocol=tcp' (keys as the HTTP API's)\n"
		"      --export-deny FILTER   export no flow matching FILTER\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n"
		"\n"
		"DUR is a number with a unit: ns, us, ms, s, m, h (\"30s\", \"5m\"); bare numbers "
		"are\n"
		"seconds. flowd needs root (CAP_BPF, CAP_NET_ADMIN). SIGINT/SIGTERM detach every "
		"probe.\n");
}

static void on_record(void *ctx, const void *data, size_t len)
{
	collector_handle_record(ctx, data, len);
}

static int lost_records(struct collector *c, uint64_t *lost)
{
	return probe_tc_lost(c->probe, lost);
}

static void on_sweep(uv_timer_t *t)
{
	struct flowd *d = t->data;
	int r;

	/* Drain first so that start records reach the store before the sweep adopts flows. */
	ring_reader_drain(d->reader);
	r = collector_sweep(&d->col, probe_tc_flow_map_fd(d->probe));
	if (r < 0)
		fprintf(stderr, "flowd: reading the kernel flow map failed: %s\n", strerror(-r));
	if (d->col.graph)
		graph_expire(d->col.graph, flow_clock_wall(&d->col.clock, flow_clock_boot_now()));
}

static int ring_usage(struct collector *c, uint64_t *pending, uint64_t *capacity)
{
	return c->reader ? ring_reader_usage(c->reader, pending, capacity) : -ENODEV;
}

static void graph_on_flow(const struct flow *f, void *ctx)
{
	graph_add_flow(ctx, f);
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

static void shutdown_flowd(struct flowd *d)
{
	if (d->stopping++)
		return;
	if (d->reader) {
		ring_reader_drain(d->reader);
		ring_reader_stop(d->reader);
		d->reader = NULL;
		d->col.reader = NULL;
	}
	if (d->http) {
		http_server_stop(d->http);
		d->http = NULL;
	}
	if (d->grpc) {
		grpc_server_stop(d->grpc);
		d->grpc = NULL;
	}
	uv_timer_stop(&d->sweep_timer);
	uv_close((uv_handle_t *)&d->sweep_timer, NULL);
	if (d->fx_running) {
		/* The HUP handler always runs; the flush timer only with an exporter. */
		if (d->fx || d->sx || d->ix) {
			uv_timer_stop(&d->fx_timer);
			uv_close((uv_handle_t *)&d->fx_timer, NULL);
		}
		uv_close((uv_handle_t *)&d->sig_hup, NULL);
		d->fx_running = 0;
	}
	/* Everything drained from the rings above is published. Flows still active end now,
	 * so the exporters get their final counters (IPFIX only exports ended flows); then
	 * every exporter writes out what it holds. */
	if (d->fx || d->sx || d->ix)
		collector_end_all(&d->col);
	if (d->fx) {
		file_exporter_close(d->fx);
		d->fx = NULL;
	}
	if (d->sx) {
		syslog_exporter_close(d->sx);
		d->sx = NULL;
	}
	if (d->ix) {
		ipfix_exporter_close(d->ix);
		d->ix = NULL;
	}
	if (d->ids_watching) {
		uv_fs_event_stop(&d->ids_watch);
		uv_close((uv_handle_t *)&d->ids_watch, NULL);
		uv_close((uv_handle_t *)&d->ids_timer, NULL);
		d->ids_watching = 0;
	}
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	/* Detach now, not at exit: a hung client must never keep probes in the kernel. */
	probe_sock_close(d->sock);
	d->sock = NULL;
	d->col.cgroup_root_fd = -1;
	probe_tc_close(d->probe);
	d->probe = NULL;
	d->col.probe = NULL;
	d->col.lost_records = NULL;
}

static void reload_identities(uv_timer_t *t)
{
	struct flowd *d = t->data;
	struct identity_table *ids = NULL;
	char err[512];

	if (identity_table_load(d->ids_path, &ids, err, sizeof(err))) {
		d->col.stats.identity_errors++;
		fprintf(stderr,
			"flowd: identities not reloaded: %s (the previous %zu stay in force)\n",
			err, identity_table_size(identities_get()));
		return;
	}
	identities_set(ids);
	d->col.stats.identity_reloads++;
	fprintf(stderr, "flowd: identities reloaded from %s: %zu entries\n", d->ids_path,
		identity_table_size(ids));
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

/* Loads --identities and watches its directory (editors and config tools replace the file
 * by renaming a new one over it, which a watch on the file itself would miss). */
static int start_identities(struct flowd *d)
{
	struct identity_table *ids = NULL;
	char err[512], tmp[4096];
	int r;

	if (!d->ids_path)
		return 0;
	if (identity_table_load(d->ids_path, &ids, err, sizeof(err))) {
		fprintf(stderr, "flowd: %s\n", err);
		return -EINVAL;
	}
	identities_set(ids);
	snprintf(tmp, sizeof(tmp), "%s", d->ids_path);
	snprintf(d->ids_dir, sizeof(d->ids_dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", d->ids_path);
	snprintf(d->ids_base, sizeof(d->ids_base), "%s", basename(tmp));
	uv_timer_init(d->loop, &d->ids_timer);
	d->ids_timer.data = d;
	uv_fs_event_init(d->loop, &d->ids_watch);
	d->ids_watch.data = d;
	r = uv_fs_event_start(&d->ids_watch, on_ids_change, d->ids_dir, 0);
	if (r) {
		fprintf(stderr, "flowd: cannot watch %s for changes: %s\n", d->ids_dir,
			uv_strerror(r));
		uv_close((uv_handle_t *)&d->ids_watch, NULL);
		uv_close((uv_handle_t *)&d->ids_timer, NULL);
		return r;
	}
	d->ids_watching = 1;
	fprintf(stderr, "flowd: %zu identities from %s\n", identity_table_size(ids), d->ids_path);
	return 0;
}

static void fx_on_flow(const struct flow *f, void *ctx)
{
	file_exporter_write(ctx, f);
}

static void fx_flush(uv_timer_t *t)
{
	struct flowd *d = t->data;

	if (d->fx)
		file_exporter_flush(d->fx, false);
	if (d->sx)
		syslog_exporter_flush(d->sx);
	if (d->ix)
		ipfix_exporter_flush(d->ix);
}

static void sx_on_flow(const struct flow *f, void *ctx)
{
	struct flowd *d = ctx;

	if (flow_filter_set_match(d->xfs, f, d->col.node_name))
		syslog_exporter_add(d->sx, f, d->col.node_name);
}

/* IPFIX carries finished flows: one record per direction when a flow ends. */
static void ix_on_flow(const struct flow *f, void *ctx)
{
	struct flowd *d = ctx;

	if (f->event == FLOW_EVENT_END && flow_filter_set_match(d->xfs, f, d->col.node_name))
		ipfix_exporter_add(d->ix, f);
}

/* SIGHUP: reopen the export file (after logrotate moved it) and reload the identities. */
static void on_hup(uv_signal_t *s, int signum)
{
	struct flowd *d = s->data;
	char err[512];

	(void)signum;
	if (d->fx) {
		/* The exporter owns (and frees) the filters it is given: a fresh set each time. */
		if (export_filters(d, &d->fxo.filters, err, sizeof(err)))
			d->fxo.filters = NULL;
		if (file_exporter_reload(d->fx, &d->fxo, err, sizeof(err)))
			fprintf(stderr,
				"flowd: export file not reopened: %s (still writing the old one)\n",
				err);
		else
			fprintf(stderr, "flowd: export file reopened: %s\n", d->fxo.path);
	}
	if (d->ids_watching)
		reload_identities(&d->ids_timer);
}

static int exporter_metrics(struct metrics_exporter *out, int max, void *ctx)
{
	struct flowd *d = ctx;
	struct file_exporter_stats st;

	int n = 0;

	if (d->fx && n < max) {
		file_exporter_get_stats(d->fx, &st);
		out[n++] = (struct metrics_exporter){.name = "file",
						     .written = st.written,
						     .dropped = st.dropped,
						     .filtered = st.filtered,
						     .errors = st.errors,
						     .queued_bytes = st.queued_bytes};
	}
	if (d->sx && n < max) {
		struct syslog_exporter_stats ss;

		syslog_exporter_get_stats(d->sx, &ss);
		out[n++] = (struct metrics_exporter){.name = "syslog",
						     .written = ss.sent,
						     .dropped = ss.dropped,
						     .queued_bytes = ss.queued_bytes};
	}
	if (d->ix && n < max) {
		struct ipfix_exporter_stats is;

		ipfix_exporter_get_stats(d->ix, &is);
		out[n++] = (struct metrics_exporter){
			.name = "ipfix", .written = is.records, .errors = is.send_errors};
	}
	return n;
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct flowd *d = s->data;

	fprintf(stderr, "flowd: %s, detaching probes\n", strsignal(signum));
	shutdown_flowd(d);
}

static int up_interfaces(char **names, int max)
{
	struct ifaddrs *ifa, *i;
	int n = 0, j;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		if (!(i->ifa_flags & IFF_UP) || !i->ifa_name)
			continue;
		for (j = 0; j < n && strcmp(names[j], i->ifa_name); j++)
			;
		if (j < n)
			continue;
		names[n] = strdup(i->ifa_name);
		if (!names[n]) {
			freeifaddrs(ifa);
			return -ENOMEM;
		}
		n++;
	}
	freeifaddrs(ifa);
	return n;
}

static int parse_dur_opt(const char *name, const char *v, uint64_t *out)
{
	if (parse_duration_ns(v, out) || *out == 0) {
		fprintf(stderr, "flowd: invalid %s '%s': use a duration such as 30s, 500ms or 5m\n",
			name, v);
		return -EINVAL;
	}
	return 0;
}

static int parse_num_opt(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	if (parse_u64(v, max, out) || *out < min) {
		fprintf(stderr, "flowd: invalid %s '%s': use a whole number from %llu to %llu\n",
			name, v, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_HTTP = 256,
		OPT_MAX_FLOWS,
		OPT_KMAX,
		OPT_IDLE,
		OPT_TCP_IDLE,
		OPT_SWEEP,
		OPT_UPDATE,
		OPT_NODE,
		OPT_FQ,
		OPT_GRPC,
		OPT_TLS_CERT,
		OPT_TLS_KEY,
		OPT_TLS_CA,
		OPT_IDS,
		OPT_WEB,
		OPT_GWIN,
		OPT_GNODES,
		OPT_GEDGES,
		OPT_XFILE,
		OPT_XSIZE,
		OPT_XKEEP,
		OPT_XGZIP,
		OPT_XFIELDS,
		OPT_XSYSLOG,
		OPT_XSYSLOGFMT,
		OPT_XIPFIX,
		OPT_XALLOW,
		OPT_XDENY,
		OPT_XSCA,
		OPT_XSCERT,
		OPT_XSKEY,
	};
	static const struct option opts[] = {
		{"interface", required_argument, NULL, 'i'},
		{"http", required_argument, NULL, OPT_HTTP},
		{"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
		{"kernel-max-flows", required_argument, NULL, OPT_KMAX},
		{"idle-timeout", required_argument, NULL, OPT_IDLE},
		{"tcp-idle-timeout", required_argument, NULL, OPT_TCP_IDLE},
		{"sweep-interval", required_argument, NULL, OPT_SWEEP},
		{"update-interval", required_argument, NULL, OPT_UPDATE},
		{"follow-queue", required_argument, NULL, OPT_FQ},
		{"node-name", required_argument, NULL, OPT_NODE},
		{"grpc", required_argument, NULL, OPT_GRPC},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"tls-client-ca", required_argument, NULL, OPT_TLS_CA},
		{"identities", required_argument, NULL, OPT_IDS},
		{"web-dir", required_argument, NULL, OPT_WEB},
		{"graph-window", required_argument, NULL, OPT_GWIN},
		{"graph-max-nodes", required_argument, NULL, OPT_GNODES},
		{"graph-max-edges", required_argument, NULL, OPT_GEDGES},
		{"export-file", required_argument, NULL, OPT_XFILE},
		{"export-max-size", required_argument, NULL, OPT_XSIZE},
		{"export-keep", required_argument, NULL, OPT_XKEEP},
		{"export-gzip", no_argument, NULL, OPT_XGZIP},
		{"export-fields", required_argument, NULL, OPT_XFIELDS},
		{"export-syslog", required_argument, NULL, OPT_XSYSLOG},
		{"export-syslog-format", required_argument, NULL, OPT_XSYSLOGFMT},
		{"export-ipfix", required_argument, NULL, OPT_XIPFIX},
		{"export-allow", required_argument, NULL, OPT_XALLOW},
		{"export-syslog-ca", required_argument, NULL, OPT_XSCA},
		{"export-syslog-cert", required_argument, NULL, OPT_XSCERT},
		{"export-syslog-key", required_argument, NULL, OPT_XSKEY},
		{"export-deny", required_argument, NULL, OPT_XDENY},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	static struct flowd d;
	struct probe_tc_opts popts = {0};
	struct http_server_opts hopts = {.addr = "127.0.0.1", .port = 12000};
	struct graph_config gcfg = {0};
	/* Default: both loopbacks, so "localhost:4245" works whichever one a client tries. */
	struct grpc_server_opts gopts = {
		.addr = "127.0.0.1", .port = 4245, .ipv6_loopback_too = true};
	char *ifaces[MAX_IFACES];
	char http_host[256], grpc_host[256];
	const int *fds;
	uint64_t v, max_flows = 65536;
	int n_if = 0, explicit_if = 0, attached = 0, nfds, c, i, err, ret = 1;

	collector_init(&d.col);
	d.sweep_interval_ns = 1000000000ULL;
	if (gethostname(d.col.node_name, sizeof(d.col.node_name) - 1))
		strcpy(d.col.node_name, "localhost");

	while ((c = getopt_long(argc, argv, "i:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (n_if == MAX_IFACES) {
				fprintf(stderr, "flowd: at most %d interfaces\n", MAX_IFACES);
				return 2;
			}
			ifaces[n_if++] = optarg;
			explicit_if = 1;
			break;
		case OPT_HTTP:
			if (parse_hostport(optarg, http_host, sizeof(http_host), &hopts.port)) {
				fprintf(stderr,
					"flowd: invalid --http '%s': use ADDR:PORT, e.g. "
					"127.0.0.1:12000 or [::1]:12000\n",
					optarg);
				return 2;
			}
			hopts.addr = http_host[0] ? http_host : "127.0.0.1";
			break;
		case OPT_GRPC:
			if (parse_hostport(optarg, grpc_host, sizeof(grpc_host), &gopts.port)) {
				fprintf(stderr,
					"flowd: invalid --grpc '%s': use ADDR:PORT, e.g. "
					"127.0.0.1:4245 or [::1]:4245\n",
					optarg);
				return 2;
			}
			gopts.addr = grpc_host[0] ? grpc_host : "127.0.0.1";
			gopts.ipv6_loopback_too = false;
			break;
		case OPT_TLS_CERT:
			gopts.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			gopts.tls_key = optarg;
			break;
		case OPT_TLS_CA:
			gopts.tls_client_ca = optarg;
			break;
		case OPT_MAX_FLOWS:
			if (parse_num_opt("--max-flows", optarg, 1, 1 << 30, &max_flows))
				return 2;
			break;
		case OPT_KMAX:
			if (parse_num_opt("--kernel-max-flows", optarg, 1024, 1 << 26, &v))
				return 2;
			popts.max_flows = (uint32_t)v;
			break;
		case OPT_IDLE:
			if (parse_dur_opt("--idle-timeout", optarg, &d.col.cfg.idle_timeout_ns))
				return 2;
			break;
		case OPT_TCP_IDLE:
			if (parse_dur_opt("--tcp-idle-timeout", optarg,
					  &d.col.cfg.tcp_idle_timeout_ns))
				return 2;
			break;
		case OPT_SWEEP:
			if (parse_dur_opt("--sweep-interval", optarg, &d.sweep_interval_ns))
				return 2;
			if (d.sweep_interval_ns < 1000000ULL) {
				fprintf(stderr, "flowd: --sweep-interval must be at least 1ms\n");
				return 2;
			}
			break;
		case OPT_UPDATE:
			if (parse_dur_opt("--update-interval", optarg,
					  &d.col.cfg.update_interval_ns))
				return 2;
			break;
		case OPT_FQ:
			if (parse_num_opt("--follow-queue", optarg, 1, 1 << 24, &v))
				return 2;
			hopts.follow_queue = (uint32_t)v;
			gopts.follow_queue = (uint32_t)v;
			break;
		case OPT_NODE:
			snprintf(d.col.node_name, sizeof(d.col.node_name), "%s", optarg);
			break;
		case OPT_IDS:
			d.ids_path = optarg;
			break;
		case OPT_WEB:
			hopts.web_dir = optarg;
			break;
		case OPT_GWIN:
			if (parse_duration_ns(optarg, &gcfg.window_ns) || !gcfg.window_ns) {
				fprintf(stderr,
					"flowd: invalid --graph-window '%s': use a duration such "
					"as "
					"5m\n",
					optarg);
				return 2;
			}
			break;
		case OPT_XFILE:
			d.fxo.path = optarg;
			break;
		case OPT_XSIZE: {
			char num[32], *unit;
			uint64_t mult = 1;

			snprintf(num, sizeof(num), "%s", optarg);
			unit = num + strspn(num, "0123456789");
			if (!strcmp(unit, "K") || !strcmp(unit, "k"))
				mult = 1024;
			else if (!strcmp(unit, "M"))
				mult = 1024 * 1024;
			else if (!strcmp(unit, "G"))
				mult = 1024ULL * 1024 * 1024;
			else if (*unit)
				mult = 0;
			*unit = '\0';
			if (!mult || parse_u64(num, UINT64_MAX / (1024ULL * 1024 * 1024), &v) ||
			    !v) {
				fprintf(stderr,
					"flowd: invalid --export-max-size '%s': use bytes, or a "
					"number "
					"with K, M or G (100M)\n",
					optarg);
				return 2;
			}
			d.fxo.max_bytes = v * mult;
			break;
		}
		case OPT_XKEEP:
			if (parse_u64(optarg, 1000, &v) || !v) {
				fprintf(stderr,
					"flowd: invalid --export-keep '%s': use 1 to 1000\n",
					optarg);
				return 2;
			}
			d.fxo.keep = (unsigned int)v;
			break;
		case OPT_XGZIP:
			d.fxo.gzip = true;
			break;
		case OPT_XFIELDS:
			d.fxo.fields = optarg;
			break;
		case OPT_XSYSLOG: {
			const char *hp = optarg;

			if (!strncmp(hp, "udp://", 6)) {
				hp += 6;
			} else if (!strncmp(hp, "tcp://", 6)) {
				hp += 6;
				d.sxo.tcp = true;
			} else if (!strncmp(hp, "tls://", 6)) {
				hp += 6;
				d.sxo.tcp = d.sxo.tls = true;
			}
			if (parse_hostport(hp, d.sx_host, sizeof(d.sx_host), &d.sxo.port) ||
			    !d.sx_host[0]) {
				fprintf(stderr,
					"flowd: invalid --export-syslog '%s': use udp://, tcp:// "
					"or "
					"tls://HOST:PORT with a numeric address\n",
					optarg);
				return 2;
			}
			d.sxo.host = d.sx_host;
			break;
		}
		case OPT_XSYSLOGFMT:
			if (!strcmp(optarg, "cef")) {
				d.sxo.cef = true;
			} else if (strcmp(optarg, "json")) {
				fprintf(stderr,
					"flowd: invalid --export-syslog-format '%s': use json "
					"or cef\n",
					optarg);
				return 2;
			}
			break;
		case OPT_XALLOW:
			d.x_allow = optarg;
			break;
		case OPT_XSCA:
			d.sxo.tls_ca = optarg;
			break;
		case OPT_XSCERT:
			d.sxo.tls_cert = optarg;
			break;
		case OPT_XSKEY:
			d.sxo.tls_key = optarg;
			break;
		case OPT_XDENY:
			d.x_deny = optarg;
			break;
		case OPT_XIPFIX:
			if (parse_hostport(optarg, d.ix_host, sizeof(d.ix_host), &d.ixo.port) ||
			    !d.ix_host[0]) {
				fprintf(stderr,
					"flowd: invalid --export-ipfix '%s': use HOST:PORT with a "
					"numeric address, e.g. 127.0.0.1:4739\n",
					optarg);
				return 2;
			}
			d.ixo.host = d.ix_host;
			break;
		case OPT_GNODES:
		case OPT_GEDGES:
			if (parse_u64(optarg, 10000000, &v) || !v) {
				fprintf(stderr, "flowd: invalid --%s '%s': use a number from 1\n",
					c == OPT_GNODES ? "graph-max-nodes" : "graph-max-edges",
					optarg);
				return 2;
			}
			if (c == OPT_GNODES)
				gcfg.max_nodes = v;
			else
				gcfg.max_edges = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("flowd %s\n", FLOWSCOPE_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'flowd --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flowd: unexpected argument '%s'\nTry 'flowd --help'.\n",
			argv[optind]);
		return 2;
	}
	if (geteuid() != 0)
		fprintf(stderr, "flowd: not running as root: loading probes will likely fail\n");
	if (!explicit_if) {
		n_if = up_interfaces(ifaces, MAX_IFACES);
		if (n_if <= 0) {
			fprintf(stderr, "flowd: no interface is up\n");
			return 1;
		}
	}

	d.loop = uv_default_loop();
	d.col.loop = d.loop;
	d.col.store = flow_store_new(max_flows);
	d.col.bus = flow_bus_new();
	if (!d.col.store || !d.col.bus) {
		fprintf(stderr, "flowd: out of memory for %llu flows\n",
			(unsigned long long)max_flows);
		goto out;
	}
	d.col.start_wall_ns = flow_clock_wall(&d.col.clock, flow_clock_boot_now());
	if (start_identities(&d)) {
		ret = 2;
		goto out;
	}

	err = probe_tc_open(&d.probe, &popts);
	if (err)
		goto out;
	d.col.probe = d.probe;
	d.col.lost_records = lost_records;
	for (i = 0; i < n_if; i++) {
		err = probe_tc_attach(d.probe, ifaces[i]);
		if (!err) {
			attached++;
			continue;
		}
		/* A named interface must work; of "all up" we take what we can. */
		if (explicit_if || err == -EBUSY)
			goto out;
		fprintf(stderr, "flowd: skipping %s\n", ifaces[i]);
	}
	if (!attached) {
		fprintf(stderr, "flowd: could not attach to any interface\n");
		goto out;
	}

	d.col.dns = dns_cache_new(262144, 262144);
	gcfg.max_tracked_flows = max_flows * 2;
	d.col.graph = graph_new(&gcfg);
	if (!d.col.graph || !flow_bus_subscribe(d.col.bus, graph_on_flow, d.col.graph)) {
		fprintf(stderr, "flowd: cannot set up the service graph: out of memory\n");
		goto out;
	}
	if (!hopts.web_dir)
		hopts.web_dir = default_web_dir();
	{
		char err[512];

		if (export_filters(&d, &d.xfs, err, sizeof(err))) {
			fprintf(stderr, "flowd: %s\n", err);
			ret = 2;
			goto out;
		}
	}
	if (d.fxo.path) {
		char err[512];

		d.fxo.node_name = d.col.node_name;
		if (export_filters(&d, &d.fxo.filters, err, sizeof(err)))
			goto out;
		if (file_exporter_open(&d.fx, &d.fxo, err, sizeof(err))) {
			fprintf(stderr, "flowd: --export-file: %s\n", err);
			ret = 2;
			goto out;
		}
		if (!flow_bus_subscribe(d.col.bus, fx_on_flow, d.fx)) {
			fprintf(stderr, "flowd: cannot start the file exporter: out of memory\n");
			goto out;
		}
	}
	if (d.sxo.host) {
		char err[512];

		if (syslog_exporter_open(&d.sx, &d.sxo, err, sizeof(err))) {
			fprintf(stderr, "flowd: --export-syslog: %s\n", err);
			ret = 2;
			goto out;
		}
		if (!flow_bus_subscribe(d.col.bus, sx_on_flow, &d))
			goto out;
	}
	if (d.ixo.host) {
		char err[512];

		if (ipfix_exporter_open(&d.ix, &d.ixo, err, sizeof(err))) {
			fprintf(stderr, "flowd: --export-ipfix: %s\n", err);
			ret = 2;
			goto out;
		}
		if (!flow_bus_subscribe(d.col.bus, ix_on_flow, &d))
			goto out;
	}
	hopts.exporters = exporter_metrics;
	hopts.exporters_ctx = &d;
	/* Socket probes: processes, RTT, retransmits, closes. Flows still work without them. */
	d.col.socks = sock_table_new(262144);
	if (!d.col.socks || probe_sock_open(&d.sock, d.probe)) {
		fprintf(stderr, "flowd: warning: running without socket probes: flows will have "
				"no process, RTT or retransmits\n");
		d.sock = NULL;
	}
	d.col.cgroup_root_fd = probe_sock_cgroup_fd(d.sock);

	nfds = probe_tc_ring_fds(d.probe, &fds);
	err = ring_reader_start(&d.reader, d.loop, fds, nfds, on_record, &d.col);
	d.col.reader = d.reader;
	d.col.ring_usage = ring_usage;
	if (err) {
		fprintf(stderr, "flowd: cannot read the probe rings: %s\n", strerror(-err));
		goto out;
	}
	err = http_server_start(&d.http, &d.col, &hopts);
	if (err)
		goto out;
	err = grpc_server_start(&d.grpc, &d.col, &gopts);
	if (err)
		goto out;

	uv_timer_init(d.loop, &d.sweep_timer);
	d.sweep_timer.data = &d;
	uv_timer_start(&d.sweep_timer, on_sweep, d.sweep_interval_ns / 1000000,
		       d.sweep_interval_ns / 1000000);
	uv_signal_init(d.loop, &d.sig_int);
	uv_signal_init(d.loop, &d.sig_term);
	d.sig_int.data = d.sig_term.data = &d;
	uv_signal_start(&d.sig_int, on_signal, SIGINT);
	uv_signal_start(&d.sig_term, on_signal, SIGTERM);
	uv_signal_init(d.loop, &d.sig_hup);
	d.sig_hup.data = &d;
	uv_signal_start(&d.sig_hup, on_hup, SIGHUP);
	if (d.fx || d.sx || d.ix) {
		uv_timer_init(d.loop, &d.fx_timer);
		d.fx_timer.data = &d;
		uv_timer_start(&d.fx_timer, fx_flush, 1000, 1000);
	}
	d.fx_running = 1;
	signal(SIGPIPE, SIG_IGN);

	fprintf(stderr,
		"flowd: watching %d interface%s, HTTP on %s%s%s:%u, gRPC%s on %s%s%s:%u%s (node "
		"%s)\n",
		attached, attached == 1 ? "" : "s", strchr(hopts.addr, ':') ? "[" : "", hopts.addr,
		strchr(hopts.addr, ':') ? "]" : "", hopts.port, gopts.tls_cert ? "+TLS" : "",
		strchr(gopts.addr, ':') ? "[" : "", gopts.addr, strchr(gopts.addr, ':') ? "]" : "",
		gopts.port, gopts.ipv6_loopback_too ? " and [::1]" : "", d.col.node_name);
	fflush(stderr);
	uv_run(d.loop, UV_RUN_DEFAULT);
	ret = 0;
	{
		struct flow_store_stats st;
		flow_store_get_stats(d.col.store, &st);
		fprintf(stderr, "flowd: stopped: %llu records, %llu flows seen\n",
			(unsigned long long)d.col.stats.records, (unsigned long long)st.seen);
	}
	d.stopping = 1; /* everything below is already closed */
out:
	if (!d.stopping) {
		if (d.reader)
			ring_reader_stop(d.reader);
		if (d.http)
			http_server_stop(d.http);
		if (d.grpc)
			grpc_server_stop(d.grpc);
		probe_sock_close(d.sock);
		if (d.probe)
			probe_tc_close(d.probe);
		uv_run(d.loop, UV_RUN_NOWAIT);
	}
	sock_table_free(d.col.socks);
	graph_free(d.col.graph);
	identities_set(NULL);
	dns_cache_free(d.col.dns);
	flow_store_free(d.col.store);
	flow_bus_free(d.col.bus);
	if (!explicit_if)
		for (i = 0; i < n_if; i++)
			free(ifaces[i]);
	return ret;
}
