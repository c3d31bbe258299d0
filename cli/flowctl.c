/* flowctl: the command-line client of flowd, in the spirit of `hubble observe`. Talks gRPC
 * (Hubble's observer.Observer API) to flowd or any Hubble-compatible server. Every value is
 * checked before connecting: bad flags exit 2, a server that cannot be reached exits 1. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/grpc_client.h"
#include "flowscope/base/parse.h"
#include "flowscope/base/version.h"
#include "health.pb-c.h"
#include "observe.h"
#include "observer.pb-c.h"
#include "print.h"

#define DEFAULT_SERVER "localhost:4245"

static volatile int stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int connect_server(const struct conn_opts *co, struct grpc_client **out)
{
	struct grpc_client_opts o = {.timeout_ms = (int)(co->timeout_ns / 1000000),
				     .tls_ca = co->tls_ca,
				     .tls_cert = co->tls_cert,
				     .tls_key = co->tls_key,
				     .tls_server_name = co->tls_server_name};
	struct errmsg e = {""};
	char host[256];
	int r;

	if (parse_hostport(co->server, host, sizeof(host), &o.port) || !host[0]) {
		fprintf(stderr, "flowctl: invalid --server '%s': use HOST:PORT, e.g. %s\n",
			co->server, DEFAULT_SERVER);
		return -EINVAL;
	}
	o.host = host;
	r = grpc_client_connect(out, &o, &e);
	if (r)
		fprintf(stderr, "flowctl: cannot connect to flowd at %s: %s%s\n", co->server,
			errmsg_text(&e, r),
			r == -ECONNREFUSED ? " (is flowd running? start it with `make run`)" : "");
	return r;
}

static const char *status_name(int code)
{
	static const char *const names[] = {"OK",
					    "CANCELLED",
					    "UNKNOWN",
					    "INVALID_ARGUMENT",
					    "DEADLINE_EXCEEDED",
					    "NOT_FOUND",
					    "ALREADY_EXISTS",
					    "PERMISSION_DENIED",
					    "RESOURCE_EXHAUSTED",
					    "FAILED_PRECONDITION",
					    "ABORTED",
					    "OUT_OF_RANGE",
					    "UNIMPLEMENTED",
					    "INTERNAL",
					    "UNAVAILABLE",
					    "DATA_LOSS",
					    "UNAUTHENTICATED"};

	return code >= 0 && code < 17 ? names[code] : "?";
}

static void flush_stdout(void *ctx)
{
	(void)ctx;
	fflush(stdout);
}

/* Runs a request; its status (or transport failure) becomes the exit status. */
static int run_observe(struct observe_args *a, Observer__GetFlowsRequest *req)
{
	struct printer pr = {.out = a->output};
	struct grpc_client *cl = NULL;
	struct errmsg e = {""};
	int r;

	if (connect_server(&a->conn, &cl))
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* Output is flushed once per burst of messages: followers see each flow as soon as it
	 * arrives, bulk replies are not slowed by a write per line. */
	grpc_client_set_idle_cb(cl, flush_stdout, NULL);
	r = grpc_client_call(cl, "/observer.Observer/GetFlows", &req->base, printer_flows_msg, &pr,
			     &stop_requested, &e);
	grpc_client_close(cl);
	buf_free(&pr.b);
	if (r == 0 || (r == 1 && stop_requested))
		return 0;
	if (r < 0)
		fprintf(stderr, "flowctl: connection to %s failed: %s\n", a->conn.server, e.text);
	else
		fprintf(stderr, "flowctl: %s: %s\n", status_name(r), e.text);
	return 1;
}

static int cmd_observe(int argc, char **argv)
{
	Observer__GetFlowsRequest req;
	struct observe_args a;
	struct errmsg e = {""};
	struct buf help = BUF_INIT;
	int r;

	observe_args_init(&a);
	r = observe_parse(&a, argc, argv, &e);
	if (!r && a.help) {
		observe_help(&help);
		fputs(help.data ? help.data : "", stdout);
		buf_free(&help);
	} else if (!r) {
		r = observe_request(&a, &req, &e);
		if (r == 0)
			r = run_observe(&a, &req);
		else if (r == 1)
			r = 0; /* nothing asked for */
	}
	if (r < 0) {
		fprintf(stderr, "flowctl: %s\nTry 'flowctl observe --help'.\n", e.text);
		r = 2;
	}
	observe_args_free(&a);
	return r;
}

static int on_status_msg(const uint8_t *msg, size_t len, void *ctx)
{
	Observer__ServerStatusResponse **out = ctx;

	*out = observer__server_status_response__unpack(NULL, len, msg);
	return *out ? 0 : 1;
}

static int on_health_msg(const uint8_t *msg, size_t len, void *ctx)
{
	Grpc__Health__V1__HealthCheckResponse **out = ctx;

	*out = grpc__health__v1__health_check_response__unpack(NULL, len, msg);
	return *out ? 0 : 1;
}

static void print_status(const Observer__ServerStatusResponse *st)
{
	printf("Current/Max Flows: %llu/%llu (%.2f%%)\n", (unsigned long long)st->num_flows,
	       (unsigned long long)st->max_flows,
	       st->max_flows ? 100.0 * (double)st->num_flows / (double)st->max_flows : 0.0);
	printf("Flows/s: %.2f\n", st->flows_rate);
	printf("Seen flows: %llu\n", (unsigned long long)st->seen_flows);
	printf("Uptime: %.0fs\n", (double)st->uptime_ns / 1e9);
	if (st->num_connected_nodes)
		printf("Connected Nodes: %u/%u\n", st->num_connected_nodes->value,
		       st->num_connected_nodes->value +
			       (st->num_unavailable_nodes ? st->num_unavailable_nodes->value : 0));
	if (st->version[0])
		printf("Version: %s\n", st->version);
}

static int status_call(struct conn_opts *co)
{
	Observer__ServerStatusRequest req = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Observer__ServerStatusResponse *st = NULL;
	Grpc__Health__V1__HealthCheckResponse *h = NULL;
	struct grpc_client *cl = NULL;
	struct errmsg e = {""};
	int r;

	if (connect_server(co, &cl))
		return 1;
	hreq.service = (char *)"hubble.server.Observer";
	r = grpc_client_call(cl, "/grpc.health.v1.Health/Check", &hreq.base, on_health_msg, &h,
			     NULL, &e);
	if (r || !h) {
		fprintf(stderr, "flowctl: health check failed: %s\n",
			r < 0 ? e.text : status_name(r));
		grpc_client_close(cl);
		return 1;
	}
	printf("Healthcheck (via %s): %s\n", co->server,
	       h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
		       ? "Ok"
		       : "Not serving");
	grpc__health__v1__health_check_response__free_unpacked(h, NULL);
	r = grpc_client_call(cl, "/observer.Observer/ServerStatus", &req.base, on_status_msg, &st,
			     NULL, &e);
	grpc_client_close(cl);
	if (r || !st) {
		fprintf(stderr, "flowctl: ServerStatus failed: %s %s\n", status_name(r), e.text);
		return 1;
	}
	print_status(st);
	observer__server_status_response__free_unpacked(st, NULL);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	static const struct opt help_opt[] = {{"help", 'h', NULL, "show this help", opt_flag}, {0}};
	struct conn_opts co = {.server = DEFAULT_SERVER};
	bool help = false;
	struct opt_group g[] = {{NULL, help_opt, &help}, {"Connection:", conn_opts_table, &co}};
	struct errmsg e = {""};
	struct buf b = BUF_INIT;
	int r = opts_parse(argc, argv, g, 2, &e);

	if (r >= 0 && r < argc)
		r = errmsg_set(&e, -EINVAL, "unexpected argument '%s'", argv[r]);
	if (r < 0) {
		fprintf(stderr, "flowctl: %s\nTry 'flowctl status --help'.\n", e.text);
		return 2;
	}
	if (help) {
		opts_help(&b, g, 2);
		printf("Usage: flowctl status [OPTIONS]\n"
		       "Checks the server's health (grpc.health.v1) and prints its flow counters.\n\n"
		       "%s",
		       b.data ? b.data : "");
		buf_free(&b);
		return 0;
	}
	return status_call(&co);
}

static void usage_main(FILE *out)
{
	fprintf(out, "Usage: flowctl COMMAND [OPTIONS]\n"
		     "Client of flowd (and of any Hubble-compatible observer API).\n"
		     "\n"
		     "Commands:\n"
		     "  observe   show recent flows, or follow new ones\n"
		     "  status    show the server's status\n"
		     "  help      show this help; `flowctl COMMAND --help` for a command\n"
		     "  version   show the version\n"
		     "\n"
		     "Every command takes --server HOST:PORT (default " DEFAULT_SERVER ").\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage_main(stderr);
		return 2;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage_main(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("flowctl %s\n", FLOWSCOPE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "observe"))
		return cmd_observe(argc - 1, argv + 1);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1);
	fprintf(stderr, "flowctl: unknown command '%s'\n", cmd);
	usage_main(stderr);
	return 2;
}
