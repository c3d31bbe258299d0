/* flowctl: the command-line client of flowd, in the spirit of `hubble observe`. Talks gRPC
 * (Hubble's observer.Observer API) to flowd or any Hubble-compatible server. Every value is
 * checked before connecting: bad flags exit 2, a server that cannot be reached or that fails
 * the call exits 1, a reader of the output that goes away (`| head`) ends it quietly with 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "flowscope/base/clock.h"
#include "flowscope/base/grpc_client.h"
#include "flowscope/base/version.h"
#include "health.pb-c.h"
#include "history_ch.h"
#include "input.h"
#include "list.h"
#include "observe.h"
#include "observer.pb-c.h"
#include "out.h"
#include "print.h"

static volatile int stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The output's fate as the exit status: a closed reader is no error. */
static int output_status(struct out *w, int status)
{
	out_flush(w);
	if (w->err && !out_closed(w)) {
		fprintf(stderr, "flowctl: cannot write the output: %s\n", strerror(-w->err));
		return 1;
	}
	return out_closed(w) ? 0 : status;
}

struct observe_run {
	struct printer pr;
	struct out w, err;
};

static void flush_output(void *ctx)
{
	struct observe_run *o = ctx;

	/* A failed write ends the call: the next message or the next wait stops it. */
	if (out_flush(&o->w))
		stop_requested = 1;
}

/* The GetFlows call, each message to cb (ctx) as it arrives. */
static int observe_server(struct observe_args *a, Observer__GetFlowsRequest *req,
			  struct observe_run *o, grpc_client_msg_cb cb, void *ctx)
{
	struct grpc_client *cl = NULL;
	struct errmsg e = {""};
	int r;

	if (conn_connect(&a->conn, &cl))
		return 1;
	/* Ctrl-C ends the call cleanly (exit 0); while connecting it ends flowctl at once. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* Output is flushed once per burst of messages: followers see each flow as soon as it
	 * arrives, bulk replies are not slowed by a write per line. A reader that goes away
	 * ends the call even while no flow comes. */
	grpc_client_set_idle_cb(cl, flush_output, o);
	grpc_client_watch_fd(cl, 1);
	r = grpc_client_call(cl, "/observer.Observer/GetFlows", &req->base, cb, ctx,
			     &stop_requested, &e);
	grpc_client_close(cl);
	if (r == 1 && strstr(e.text, "output was closed"))
		o->w.err = -EPIPE; /* the reader went away while no flow came */
	/* Ctrl-C, or the output failed (output_status() says how). */
	if (r == 0 || (r == 1 && (stop_requested || o->w.err)))
		return 0;
	if (r < 0)
		fprintf(stderr, "flowctl: connection to %s failed: %s\n", a->conn.via, e.text);
	else
		fprintf(stderr, "flowctl: %s: %s\n", conn_status_name(r), e.text);
	return 1;
}

static int observe_file(struct observe_args *a, struct observe_run *o)
{
	bool is_stdin = !strcmp(a->input_file, "-");
	FILE *in = is_stdin ? stdin : fopen(a->input_file, "r");
	int r;

	if (!in) {
		fprintf(stderr, "flowctl: cannot open --input-file '%s': %s\n", a->input_file,
			strerror(errno));
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	r = input_run(a, in, is_stdin ? "stdin" : a->input_file, &o->pr, &stop_requested);
	if (!is_stdin)
		fclose(in);
	return r && !o->w.err ? 1 : 0;
}

/* --history-clickhouse: the history, then (--follow) the server's live events after it. */
static int observe_history(struct observe_args *a, Observer__GetFlowsRequest *req,
			   struct observe_run *o)
{
	struct history_seen seen = {0};
	Google__Protobuf__Timestamp since;
	int r;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	r = history_run(a, &o->pr, &stop_requested, &seen);
	if (!r && a->follow && !stop_requested && !o->w.err) {
		out_flush(&o->w);
		history_follow_request(&seen, req, &since);
		r = observe_server(a, req, o, history_follow_msg, &seen);
	}
	history_seen_free(&seen);
	return r;
}

static int run_observe(struct observe_args *a, Observer__GetFlowsRequest *req)
{
	struct observe_run o = {.w = OUT_INIT(1), .err = OUT_INIT(2)};
	int r;

	o.pr = (struct printer){.out = a->output,
				.time_format = a->time_format,
				.node_name = a->print_node_name,
				.numeric = a->numeric,
				.color = printer_use_color(a->color, 1),
				.w = &o.w,
				.err = &o.err};
	if (a->input_file)
		r = observe_file(a, &o);
	else if (a->history_url)
		r = observe_history(a, req, &o);
	else
		r = observe_server(a, req, &o, printer_flows_msg, &o.pr);
	if (!o.w.err)
		printer_finish(&o.pr);
	r = output_status(&o.w, r);
	out_flush(&o.err);
	printer_free(&o.pr);
	out_free(&o.w);
	out_free(&o.err);
	return r;
}

static int cmd_observe(int argc, char **argv)
{
	Observer__GetFlowsRequest req;
	struct observe_args a;
	struct errmsg e = {""};
	struct out w = OUT_INIT(1);
	int r;

	observe_args_init(&a);
	r = observe_parse(&a, argc, argv, clock_wall_ns(), &e);
	if (r) {
		fprintf(stderr, "flowctl: %s\nTry 'flowctl observe --help'.\n", e.text);
		observe_args_free(&a);
		return 2;
	}
	if (a.help) {
		r = output_status(&w, observe_help(&w.b) ? 1 : 0);
	} else if (observe_request(&a, &req)) {
		r = 0; /* nothing asked for */
	} else if (a.print_raw_filters) {
		r = output_status(&w, observe_raw_filters(&req, &w.b) ? 1 : 0);
	} else {
		r = run_observe(&a, &req);
	}
	out_free(&w);
	observe_args_free(&a);
	return r;
}

/* ---- status ------------------------------------------------------------------------------ */

static int on_unary_msg(const uint8_t *msg, size_t len, void *ctx)
{
	ProtobufCMessage **out = ctx;

	*out = protobuf_c_message_unpack((*out)->descriptor, NULL, len, msg);
	return *out ? 0 : 1;
}

/* Hubble's uint64Grouping: 1234567 as "1,234,567". */
static void grouped(char *out, size_t len, uint64_t v)
{
	char digits[32];
	size_t n, i, o = 0;

	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	n = strlen(digits);
	for (i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

/* The history's line: what it keeps, from when, what retention dropped; why it stopped. */
static int print_history(struct buf *b, const Observer__History *h)
{
	char events[32], oldest[CLOCK_UTC_LEN] = "-";

	if (!h)
		return 0;
	grouped(events, sizeof(events), h->events);
	if (h->oldest)
		clock_utc((uint64_t)h->oldest->seconds * NSEC_PER_SEC + (uint64_t)h->oldest->nanos,
			  oldest);
	return buf_printf(b,
			  "History: %s events, %.1f MiB, oldest %s, %llu dropped by retention, "
			  "%llu lost (%s)\n",
			  events, (double)h->bytes / (1 << 20), oldest,
			  (unsigned long long)h->dropped, (unsigned long long)h->lost,
			  h->state && h->state[0] ? h->state : "ok");
}

static int print_status(struct buf *b, const Observer__ServerStatusResponse *st)
{
	char num[32], max[32], seen[32];
	double up = (double)st->uptime_ns / 1e9;
	int err;

	grouped(num, sizeof(num), st->num_flows);
	grouped(max, sizeof(max), st->max_flows);
	grouped(seen, sizeof(seen), st->seen_flows);
	err = buf_printf(b, "Current/Max Flows: %s/%s", num, max);
	if (st->max_flows)
		err = err
			      ?: buf_printf(b, " (%.2f%%)",
					    100.0 * (double)st->num_flows / (double)st->max_flows);
	if (st->flows_rate > 0)
		err = err ?: buf_printf(b, "\nFlows/s: %.2f\n", st->flows_rate);
	else if (up > 0)
		err = err ?: buf_printf(b, "\nFlows/s: %.2f\n", (double)st->seen_flows / up);
	else
		err = err ?: buf_puts(b, "\nFlows/s: N/A\n");
	if (st->num_connected_nodes) {
		err = err ?: buf_printf(b, "Connected Nodes: %u", st->num_connected_nodes->value);
		if (st->num_unavailable_nodes)
			err = err
				      ?: buf_printf(b, "/%u",
						    st->num_connected_nodes->value +
							    st->num_unavailable_nodes->value);
		err = err ?: buf_putc(b, '\n');
	}
	if (st->num_unavailable_nodes && st->num_unavailable_nodes->value)
		err = err
			      ?: buf_printf(b, "Unavailable Nodes: %u\n",
					    st->num_unavailable_nodes->value);
	/* Flowscope's lines, after Hubble's. */
	err = err ?: buf_printf(b, "Seen flows: %s\nUptime: %.0fs\n", seen, up);
	if (st->version && st->version[0])
		err = err ?: buf_printf(b, "Version: %s\n", st->version);
	return err ?: print_history(b, st->history);
}

static int status_call(struct conn_opts *co, struct out *w)
{
	Observer__ServerStatusRequest req = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	Observer__ServerStatusResponse st0 = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckResponse h0 = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	ProtobufCMessage *st = &st0.base, *h = &h0.base;
	struct grpc_client *cl = NULL;
	struct errmsg e = {""};
	int r;

	if (conn_connect(co, &cl))
		return 1;
	grpc_client_set_deadline(cl, (int)(co->request_timeout_ns / 1000000));
	hreq.service = (char *)"hubble.server.Observer";
	r = grpc_client_call(cl, "/grpc.health.v1.Health/Check", &hreq.base, on_unary_msg, &h, NULL,
			     &e);
	if (r || h == &h0.base) {
		fprintf(stderr, "flowctl: health check failed: %s%s%s\n",
			r < 0 ? "" : conn_status_name(r), r < 0 ? "" : ": ", e.text);
		grpc_client_close(cl);
		if (h != &h0.base)
			protobuf_c_message_free_unpacked(h, NULL);
		return 1;
	}
	buf_printf(&w->b, "Healthcheck (via %s): %s\n", co->via,
		   ((Grpc__Health__V1__HealthCheckResponse *)h)->status ==
				   GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
			   ? "Ok"
			   : "Not serving");
	protobuf_c_message_free_unpacked(h, NULL);
	r = grpc_client_call(cl, "/observer.Observer/ServerStatus", &req.base, on_unary_msg, &st,
			     NULL, &e);
	grpc_client_close(cl);
	if (r || st == &st0.base) {
		fprintf(stderr, "flowctl: ServerStatus failed: %s%s%s\n",
			r < 0 ? "" : conn_status_name(r), r < 0 ? "" : ": ", e.text);
		if (st != &st0.base)
			protobuf_c_message_free_unpacked(st, NULL);
		return 1;
	}
	r = print_status(&w->b, (Observer__ServerStatusResponse *)st) ? 1 : 0;
	protobuf_c_message_free_unpacked(st, NULL);
	return r;
}

static int cmd_status(int argc, char **argv)
{
	static const struct opt help_opt[] = {{"help", 'h', NULL, "show this help", opt_flag}, {0}};
	struct conn_opts co;
	bool help = false;
	struct opt_group g[] = {{NULL, help_opt, &help}, {"Connection:", conn_opts_table, &co}};
	struct errmsg e = {""};
	struct out w = OUT_INIT(1);
	int r;

	conn_opts_init(&co);
	r = opts_parse(argc, argv, g, 2, &e);
	if (r >= 0 && r < argc)
		r = errmsg_set(&e, -EINVAL, "unexpected argument '%s'", argv[r]);
	if (r >= 0 && !help)
		r = conn_check(&co, &e);
	if (r < 0) {
		fprintf(stderr, "flowctl: %s\nTry 'flowctl status --help'.\n", e.text);
		conn_opts_free(&co);
		return 2;
	}
	if (help)
		r = buf_puts(&w.b,
			     "Usage: flowctl status [OPTIONS]\n"
			     "Checks the server's health (grpc.health.v1) and prints its flow "
			     "counters.\n\n")
			    ?: opts_help(&w.b, g, 2);
	else
		r = status_call(&co, &w);
	r = output_status(&w, r ? 1 : 0);
	out_free(&w);
	conn_opts_free(&co);
	return r;
}

static void usage_main(FILE *out)
{
	fprintf(out,
		"Usage: flowctl COMMAND [OPTIONS]\n"
		"Client of flowd (and of any Hubble-compatible observer API).\n"
		"\n"
		"Commands:\n"
		"  observe            show recent flows, or follow new ones\n"
		"  status             show the server's health and flow counters\n"
		"  list nodes         show the server's nodes\n"
		"  list namespaces    show the namespaces of the server's flows\n"
		"  help               show this help; `flowctl COMMAND --help` for a command\n"
		"  version            show the version\n"
		"\n"
		"Every command that talks to a server takes --server ADDR (default " CONN_DEFAULT_SERVER
		") and the TLS options.\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	/* Writes to a closed pipe fail with EPIPE, which each command handles, instead of
	 * killing flowctl with a status that says it failed. */
	signal(SIGPIPE, SIG_IGN);
	if (!cmd) {
		usage_main(stderr);
		return 2;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage_main(stdout);
		return fflush(stdout) && errno != EPIPE ? 1 : 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("flowctl %s\n", FLOWSCOPE_VERSION);
		return fflush(stdout) && errno != EPIPE ? 1 : 0;
	}
	if (!strcmp(cmd, "observe"))
		return cmd_observe(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(cmd, "list"))
		return list_main(argc - 1, argv + 1);
	fprintf(stderr, "flowctl: unknown command '%s'\n", cmd);
	usage_main(stderr);
	return 2;
}
