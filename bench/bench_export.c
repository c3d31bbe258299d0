/* Export throughput over loopback, measured side by side in one run: flows/s out of flowd's
 * store over HTTP NDJSON (GET /api/v1/flows?last=N, the baseline), over gRPC GetFlows to
 * flowctl (-o json and compact, formatting included) and over gRPC to a bare client that only
 * decodes the messages (pb_unpack into an arena, as flowctl does). The servers are the
 * real ones on a libuv loop in a thread; the store
 * is filled with N synthetic UDP flows. Rounds alternate the clients; medians and ratios.
 * Usage: bench_export [ROUNDS [FLOWS]]  (defaults 7, 65536); BENCH_CASE=NAME runs one case
 * (for a profile of it). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "flowscope/base/grpc_client.h"
#include "flowscope/base/pb_arena.h"
#include "flowscope/base/pb_unpack.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/serve/http_server.h"
#include "flowscope/serve/observer.h"
#include "loop_thread.h"
#include "observer.pb-c.h"

static struct loop_thread lt;
static struct grpc_server *grpc;
static struct http_server *http;
static struct observer obs;

static void stop_servers(void *ctx)
{
	(void)ctx;
	grpc_server_stop(grpc);
	http_server_stop(http);
}

/* The store's N flows, FILL_GAP_NS apart up to now: a node's last N flows span time, and a
 * replay holds what is within FOLLOWER_REORDER_NS of the newest event until the end (flows all
 * within one window would be sent only once the whole window is encoded: a latency the stream
 * pays once, not a rate). */
#define FILL_GAP_NS 10000 /* 100k flows/s */

static void fill(int n)
{
	struct timespec ts;
	uint64_t now;
	int i;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	for (i = 0; i < n; i++) {
		struct flow_record r;

		memset(&r, 0, sizeof(r));
		r.type = FLOW_REC_TC;
		r.version = FLOW_RECORD_VERSION;
		r.events = FLOW_EV_START;
		r.key.addr[0][0] = 10;
		r.key.addr[0][2] = (uint8_t)(i >> 16);
		r.key.addr[0][3] = 1;
		r.key.addr[1][0] = 10;
		r.key.addr[1][1] = 1;
		r.key.addr[1][3] = 2;
		r.key.port[0] = (uint16_t)i;
		r.key.port[1] = 53;
		r.key.ifindex = 1;
		r.key.proto = IPPROTO_UDP;
		r.key.family = 4;
		r.ts_ns = now - (uint64_t)(n - i) * FILL_GAP_NS;
		r.pkt_len = 80;
		r.state.first_seen_ns = r.ts_ns; /* no ticks: last seen = first seen */
		r.state.packets[0] = 1;
		r.state.bytes[0] = 80;
		collector_handle_record(lt.col, &r, sizeof(r));
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Counts '\n' in everything read from fd until EOF. */
static long count_lines(int fd)
{
	static char buf[1 << 16];
	long lines = 0;
	ssize_t n, i;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	return lines;
}

static int count_nl(const char *p, size_t n, void *ctx)
{
	for (size_t i = 0; i < n; i++)
		*(long *)ctx += p[i] == '\n';
	return 0;
}

/* Counts '\n' in the body of the HTTP/1.1 response read from fd until EOF (chunked, as a
 * streamed reply is sent, or not), with the HTTP client's response parser; -1 if it is not a
 * whole 200 response. */
static long count_body_lines(int fd)
{
	static char buf[1 << 16];
	struct ch_resp r;
	long lines = 0;
	size_t used;
	ssize_t n;
	int err = 0;

	ch_resp_init(&r);
	while (!err && !r.done && (n = read(fd, buf, sizeof(buf))) > 0)
		err = ch_resp_feed(&r, buf, (size_t)n, &used, count_nl, &lines);
	err = err ?: ch_resp_eof(&r);
	if (err || r.status != 200)
		lines = -1;
	ch_resp_free(&r);
	return lines;
}

static long run_http(uint16_t port, int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	char req[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	long lines;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	snprintf(req, sizeof(req),
		 "GET /api/v1/flows?last=%d HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: "
		 "close\r\n\r\n",
		 n, port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -1;
	lines = count_body_lines(fd);
	close(fd);
	return lines;
}

static long run_flowctl(const char *flowctl, uint16_t port, int n, const char *output)
{
	char server[64], last[32];
	int p[2], st;
	long lines;
	pid_t pid;

	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	snprintf(last, sizeof(last), "%d", n);
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(flowctl, flowctl, "observe", "--server", server, "--last", last, "-o", output,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	lines = count_lines(p[0]);
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? lines : -1;
}

struct decode_only {
	long got;
	struct pb_arena arena; /* as flowctl decodes: one reset per message, not a free per part */
};

static int count_msg(const uint8_t *m, size_t l, void *ctx)
{
	struct decode_only *d = ctx;
	ProtobufCMessage *r =
		pb_unpack(&observer__get_flows_response__descriptor, &d->arena.allocator, l, m);

	pb_arena_reset(&d->arena);
	if (!r)
		return 1;
	d->got++;
	return 0;
}

static long run_grpc_raw(uint16_t port, int n)
{
	struct grpc_client_opts o = {.host = "127.0.0.1", .port = port};
	Observer__GetFlowsRequest req = OBSERVER__GET_FLOWS_REQUEST__INIT;
	struct decode_only d = {0};
	struct grpc_client *c;
	int st;

	if (grpc_client_connect(&c, &o, NULL))
		return -1;
	pb_arena_init(&d.arena);
	req.number = n;
	st = grpc_client_call(c, "/observer.Observer/GetFlows", &req.base, count_msg, &d, NULL,
			      NULL);
	grpc_client_close(c);
	pb_arena_free(&d.arena);
	return st == 0 ? d.got : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7, n = argc > 2 ? atoi(argv[2]) : 65536, r, i;
	struct grpc_server_opts go = {.addr = "127.0.0.1"};
	struct http_server_opts ho = {.addr = "127.0.0.1"};
	const char *names[] = {"http_ndjson", "grpc_flowctl_json", "grpc_flowctl_compact",
			       "grpc_client_decode"};
	const char *what[] = {"HTTP GET /api/v1/flows NDJSON (baseline)",
			      "gRPC GetFlows -> flowctl observe -o json",
			      "gRPC GetFlows -> flowctl observe (compact)",
			      "gRPC GetFlows -> client that only decodes protobuf"};
	enum { NCASES = 4 };
	double *rate[NCASES];
	char self[PATH_MAX], flowctl[PATH_MAX + 16];
	struct grpc_service svc;
	const char *only;
	ssize_t sl;

	if (rounds < 1 || n < 1 || n > 1000000) {
		fprintf(stderr, "usage: %s [ROUNDS [FLOWS (1..1000000)]]\n", argv[0]);
		return 2;
	}
	sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0)
		return 1;
	self[sl] = '\0';
	snprintf(flowctl, sizeof(flowctl), "%s/../flowctl", dirname(self));
	if (access(flowctl, X_OK)) {
		fprintf(stderr, "bench_export: %s not found: run make first\n", flowctl);
		return 1;
	}

	loop_thread_init(&lt, (size_t)n, false);
	obs = (struct observer){.followers = lt.hub, .status = &lt.status};
	svc = observer_service(&obs);
	ho.followers = lt.hub;
	ho.status = &lt.status;
	go.port = loop_thread_free_port();
	ho.port = loop_thread_free_port();
	if (grpc_server_start(&grpc, &lt.loop, &go, &svc, NULL) ||
	    http_server_start(&http, &lt.loop, &ho, NULL))
		return 1;
	lt.on_stop = stop_servers;
	fill(n);
	loop_thread_start(&lt);

	/* BENCH_CASE=NAME runs that case alone (for a profile of it). */
	only = getenv("BENCH_CASE");
	for (i = 0; i < NCASES; i++)
		rate[i] = calloc(rounds, sizeof(double));
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < NCASES; i++) {
			/* Rotate the order each round so no client always goes first. */
			int c = (i + r) % NCASES;
			double t0 = now_s(), t;
			long got;

			if (only && strcmp(only, names[c])) {
				rate[c][r] = 1; /* not measured: BENCH_CASE names another case */
				continue;
			}

			switch (c) {
			case 0:
				got = run_http(ho.port, n);
				break;
			case 1:
				got = run_flowctl(flowctl, go.port, n, "json");
				break;
			case 2:
				got = run_flowctl(flowctl, go.port, n, "compact");
				break;
			default:
				got = run_grpc_raw(go.port, n);
			}
			t = now_s() - t0;
			if (got != n) {
				fprintf(stderr, "bench_export: %s got %ld flows, expected %d\n",
					names[c], got, n);
				return 1;
			}
			rate[c][r] = n / t;
		}
	}

	printf("Export throughput over loopback: %d stored flows per request, median of %d "
	       "rounds\n",
	       n, rounds);
	printf("%-22s %12s %8s  %s\n", "case", "flows/s", "ratio", "what");
	{
		double med[NCASES];

		for (i = 0; i < NCASES; i++) {
			qsort(rate[i], rounds, sizeof(double), cmp_double);
			med[i] = rounds % 2 ? rate[i][rounds / 2]
					    : (rate[i][rounds / 2 - 1] + rate[i][rounds / 2]) / 2;
		}
		for (i = 0; i < NCASES; i++)
			printf("%-22s %12.0f %7.2fx  %s\n", names[i], med[i], med[i] / med[0],
			       what[i]);
		for (i = 0; i < NCASES; i++)
			printf("{\"bench\":\"export\",\"case\":\"%s\",\"flows_per_s\":%.0f,"
			       "\"baseline\":\"http_ndjson\",\"ratio\":%.3f,\"flows\":%d,"
			       "\"rounds\":%d}\n",
			       names[i], med[i], med[i] / med[0], n, rounds);
		/* The targets: decode-only client, flowctl compact, HTTP NDJSON. */
		printf("target: >= 1,000,000 flows/s over gRPC to a decode-only client: %s (%.0f)\n",
		       med[3] >= 1e6 ? "PASS" : "MISS", med[3]);
		printf("target: >= 500,000 flows/s to flowctl compact: %s (%.0f)\n",
		       med[2] >= 5e5 ? "PASS" : "MISS", med[2]);
		printf("target: >= 300,000 flows/s over HTTP NDJSON: %s (%.0f)\n",
		       med[0] >= 3e5 ? "PASS" : "MISS", med[0]);
	}
	loop_thread_stop(&lt);
	return 0;
}
