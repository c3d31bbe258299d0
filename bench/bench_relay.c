/* The cluster relay, measured side by side in one run: 16 agents (the real observer servers on
 * loop threads of their own) and the real flowrelay following them (started once, its memory
 * warmed by a first burst).
 *   throughput: each round, every agent publishes K new flow events at once; the time runs
 *     until decode-only followers have them all: 16 followers, one per agent (the baseline),
 *     or one follower of the relay (merged in time order); with the relay's CPU time per
 *     million events and its peak memory;
 *   delay: with the agents publishing live (16 x RATE events/s, each stamped with the time it
 *     is published), the delay from an event's time to its arrival at a follower of the relay,
 *     p50 and p99, against the relay's lag bound (--lag 1s, the default, and 200ms).
 * Rounds alternate the cases; medians with min..max.
 * Usage: bench_relay [ROUNDS [K [RATE]]]  (defaults 7, 8192, 2000); BENCH_RELAY_LOG=1 shows the
 * relay's log. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/grpc_client.h"
#include "flowscope/serve/observer.h"
#include "loop_thread.h"
#include "observer.pb-c.h"

#define AGENTS 16

struct agent {
	struct loop_thread lt;
	struct grpc_server *srv;
	struct observer obs;
	uint16_t port;
	char name[32];
	uv_timer_t live;
	int index;
	uint32_t next; /* flows made so far */
	int rate;      /* live events/s, 0: none */
};

static struct agent agents[AGENTS];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* n new UDP flows of agent a (a START event each), stamped now. */
static void publish(struct agent *a, int n)
{
	uint64_t ts = clock_boot_ns();
	int i;

	for (i = 0; i < n; i++, a->next++) {
		struct flow_record r;

		memset(&r, 0, sizeof(r));
		r.type = FLOW_REC_TC;
		r.version = FLOW_RECORD_VERSION;
		r.events = FLOW_EV_START;
		r.key.addr[0][0] = 10;
		r.key.addr[0][1] = (uint8_t)a->index;
		r.key.addr[0][2] = (uint8_t)(a->next >> 16);
		r.key.addr[0][3] = (uint8_t)(a->next >> 8);
		r.key.addr[1][0] = 10;
		r.key.addr[1][1] = 200;
		r.key.addr[1][3] = 2;
		r.key.port[0] = (uint16_t)a->next;
		r.key.port[1] = 53;
		r.key.ifindex = 1;
		r.key.proto = IPPROTO_UDP;
		r.key.family = 4;
		r.ts_ns = ts;
		r.pkt_len = 80;
		r.state.first_seen_ns = r.ts_ns; /* no ticks: last seen = first seen */
		r.state.packets[0] = 1;
		r.state.bytes[0] = 80;
		collector_handle_record(a->lt.col, &r, sizeof(r));
	}
}

/* Every event is published at its own time: what comes later is never older than now. */
static uint64_t watermark(void *ctx)
{
	(void)ctx;
	return clock_wall_ns();
}

static void on_live(uv_timer_t *t)
{
	struct agent *a = t->data;

	publish(a, a->rate / 100);
}

static void set_live(void *arg)
{
	struct agent *a = arg;

	if (a->rate)
		uv_timer_start(&a->live, on_live, 10, 10);
	else
		uv_timer_stop(&a->live);
}

static void stop_agent(void *ctx)
{
	struct agent *a = ctx;

	uv_timer_stop(&a->live);
	uv_close((uv_handle_t *)&a->live, NULL);
	grpc_server_stop(a->srv);
}

static void start_agents(int k)
{
	struct grpc_server_opts go = {.addr = "127.0.0.1", .follow_queue = 65536};
	int i;

	for (i = 0; i < AGENTS; i++) {
		struct agent *a = &agents[i];
		struct grpc_service svc;
		int err = -1, tries;

		a->index = i + 1;
		snprintf(a->name, sizeof(a->name), "node-%02d", i + 1);
		loop_thread_init(&a->lt, (size_t)k * 2, false);
		follower_hub_set_marks(a->lt.hub, &(struct follower_marks){.loop = &a->lt.loop,
									   .watermark = watermark});
		a->obs = (struct observer){
			.followers = a->lt.hub, .status = &a->lt.status, .node_name = a->name};
		svc = observer_service(&a->obs);
		for (tries = 0; tries < 5 && err; tries++) {
			a->port = go.port = loop_thread_free_port();
			err = grpc_server_start(&a->srv, &a->lt.loop, &go, &svc, NULL);
		}
		LT_CHECK(err == 0);
		uv_timer_init(&a->lt.loop, &a->live);
		a->live.data = a;
		a->lt.on_stop = stop_agent;
		a->lt.stop_ctx = a;
		publish(a, k);
		loop_thread_start(&a->lt);
	}
}

/* ---- clients ------------------------------------------------------------------------------ */

struct counter {
	long want, got, lost;
	/* delays (ms) of live events, while measuring */
	double *delay;
	long n_delay, cap_delay;
	volatile int measuring;
	volatile int stop;
};

static int count_msg(const uint8_t *m, size_t l, void *ctx)
{
	Observer__GetFlowsResponse *r = observer__get_flows_response__unpack(NULL, l, m);
	struct counter *c = ctx;

	if (!r)
		return 1;
	/* flow and lost_events are one oneof (a union): told apart by its case. */
	if (r->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW) {
		c->got++;
		if (c->measuring && r->flow->time && c->n_delay < c->cap_delay) {
			double t = r->flow->time->seconds * 1e3 + r->flow->time->nanos / 1e6;

			c->delay[c->n_delay++] = clock_wall_ns() / 1e6 - t;
		}
	} else if (r->response_types_case ==
		   OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS) {
		c->lost += (long)r->lost_events->num_events_lost;
	}
	observer__get_flows_response__free_unpacked(r, NULL);
	return (c->want && c->got + c->lost >= c->want) || c->stop; /* all told, or lost */
}

/* GetFlows on port: number (and follow) as given, until c->want events or c->stop. Retries the
 * connection for a while (a relay that is starting). Returns 0 or -1. */
static int get_flows(uint16_t port, long number, bool follow, struct counter *c)
{
	struct grpc_client_opts o = {.host = "127.0.0.1", .port = port};
	Observer__GetFlowsRequest req = OBSERVER__GET_FLOWS_REQUEST__INIT;
	struct grpc_client *cl = NULL;
	int st, tries;

	for (tries = 0; tries < 500 && grpc_client_connect(&cl, &o, NULL); tries++)
		usleep(10000);
	if (!cl)
		return -1;
	req.number = (uint64_t)number;
	req.follow = follow;
	st = grpc_client_call(cl, "/observer.Observer/GetFlows", &req.base, count_msg, c, &c->stop,
			      NULL);
	grpc_client_close(cl);
	return st == 0 || st == 1 ? 0 : -1;
}

struct follow_job {
	uint16_t port;
	struct counter c;
	pthread_t th;
	volatile int done;
};

static void *follow_main(void *arg)
{
	struct follow_job *j = arg;

	get_flows(j->port, 0, true, &j->c);
	j->done = 1;
	return NULL;
}

static int burst_k;

static void burst_job(void *arg)
{
	publish(arg, burst_k);
}

static void *burst_main(void *arg)
{
	struct agent *a = arg;

	loop_thread_run(&a->lt, burst_job, a);
	return NULL;
}

/* Followers on ports[n] (each wants want events) are subscribed; then every agent publishes k
 * new events at once; the time runs until the followers have them all. Returns events/s. */
static double run_burst(const uint16_t *ports, int n, long want, int k, const char *what)
{
	struct follow_job j[AGENTS];
	pthread_t b[AGENTS];
	long got = 0, lost = 0;
	double t0, t;
	int i, left;

	for (i = 0; i < n; i++) {
		j[i] = (struct follow_job){.port = ports[i], .c = {.want = want}};
		LT_CHECK(pthread_create(&j[i].th, NULL, follow_main, &j[i]) == 0);
	}
	usleep(500000); /* every follower subscribed */
	burst_k = k;
	t0 = now_s();
	for (i = 0; i < AGENTS; i++)
		LT_CHECK(pthread_create(&b[i], NULL, burst_main, &agents[i]) == 0);
	for (i = 0; i < AGENTS; i++)
		pthread_join(b[i], NULL);
	do {
		for (i = 0, left = 0; i < n; i++)
			left += !j[i].done;
		if (left)
			usleep(1000);
	} while (left && now_s() - t0 < 60);
	t = now_s() - t0;
	for (i = 0; i < n; i++) {
		j[i].c.stop = 1;
		pthread_join(j[i].th, NULL);
		got += j[i].c.got;
		lost += j[i].c.lost;
	}
	if (got != want * n || lost) {
		fprintf(stderr, "bench_relay: %s got %ld events (%ld lost), expected %ld\n", what,
			got, lost, want * n);
		exit(1);
	}
	return got / t;
}

static char flowrelay[PATH_MAX + 16];

struct relay_proc {
	pid_t pid;
	uint16_t grpc, http;
};

static struct relay_proc relay_start(const char *lag)
{
	char *argv[80], lagopt[32], grpc[32], http[32];
	static char peers[AGENTS][64];
	struct relay_proc p;
	int n = 0, i;

	p.grpc = loop_thread_free_port();
	p.http = loop_thread_free_port();
	snprintf(grpc, sizeof(grpc), "127.0.0.1:%u", p.grpc);
	snprintf(http, sizeof(http), "127.0.0.1:%u", p.http);
	snprintf(lagopt, sizeof(lagopt), "%s", lag);
	argv[n++] = flowrelay;
	for (i = 0; i < AGENTS; i++) {
		snprintf(peers[i], sizeof(peers[i]), "%s=127.0.0.1:%u", agents[i].name,
			 agents[i].port);
		argv[n++] = "--peer";
		argv[n++] = peers[i];
	}
	argv[n++] = "--no-discover";
	argv[n++] = "--grpc";
	argv[n++] = grpc;
	argv[n++] = "--http";
	argv[n++] = http;
	argv[n++] = "--backfill";
	argv[n++] = "1";
	/* The bench's follower takes a burst without loss: 131,072 flows (about 40 MiB queued),
	 * past the default bounds of 4096 flows and 4M per client. */
	argv[n++] = "--follow-queue";
	argv[n++] = "262144";
	argv[n++] = "--follow-queue-bytes";
	argv[n++] = "256M";
	argv[n++] = "--follow-total-bytes";
	argv[n++] = "512M";
	argv[n++] = "--lag";
	argv[n++] = lagopt;
	argv[n] = NULL;
	p.pid = fork();
	if (p.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* the bench killed: so is its relay */
		if (!getenv("BENCH_RELAY_LOG"))
			freopen("/dev/null", "w", stderr);
		execv(flowrelay, argv);
		_exit(127);
	}
	LT_CHECK(p.pid > 0);
	return p;
}

/* The process's CPU seconds (user + system) and peak resident set (kB). */
static void proc_usage(pid_t pid, double *cpu, long *hwm_kb)
{
	char path[64], line[512];
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')');

			if (p)
				sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				       &ut, &st);
		}
		fclose(f);
	}
	*cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	*hwm_kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			*hwm_kb = atol(line + 6);
	if (f)
		fclose(f);
}

static int on_status(const uint8_t *m, size_t l, void *ctx)
{
	Observer__ServerStatusResponse *r = observer__server_status_response__unpack(NULL, l, m);

	if (!r)
		return 1;
	*(uint32_t *)ctx = r->num_connected_nodes ? r->num_connected_nodes->value : 0;
	observer__server_status_response__free_unpacked(r, NULL);
	return 0;
}

/* Waits until the relay on port follows every agent (ServerStatus.num_connected_nodes). */
static void relay_wait(const struct relay_proc *p)
{
	struct grpc_client_opts o = {.host = "127.0.0.1", .port = p->grpc};
	Observer__ServerStatusRequest req = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	double t0 = now_s();

	for (;;) {
		struct grpc_client *c = NULL;
		uint32_t n = 0;

		if (!grpc_client_connect(&c, &o, NULL)) {
			grpc_client_call(c, "/observer.Observer/ServerStatus", &req.base, on_status,
					 &n, NULL, NULL);
			grpc_client_close(c);
		}
		if (n == AGENTS)
			return;
		if (now_s() - t0 > 20) {
			fprintf(stderr, "bench_relay: the relay follows %u of %d agents\n", n,
				AGENTS);
			exit(1);
		}
		usleep(20000);
	}
}

static void relay_stop(struct relay_proc *p)
{
	int st;

	kill(p->pid, SIGTERM);
	waitpid(p->pid, &st, 0);
}

static void set_rate(int rate)
{
	int i;

	for (i = 0; i < AGENTS; i++) {
		agents[i].rate = rate;
		loop_thread_run(&agents[i].lt, set_live, &agents[i]);
	}
}

/* Live: the delay of each event from its time to a follower of the relay on port, taken for
 * secs after a warm-up. */
static void run_delay(uint16_t port, int rate, double secs, double *p50, double *p99, double *max,
		      long *n)
{
	struct follow_job j = {.port = port};

	j.c.cap_delay = (long)(rate * AGENTS * secs * 2) + 1024;
	j.c.delay = malloc(sizeof(double) * (size_t)j.c.cap_delay);
	LT_CHECK(j.c.delay);
	set_rate(rate);
	LT_CHECK(pthread_create(&j.th, NULL, follow_main, &j) == 0);
	usleep(1000000);
	j.c.measuring = 1;
	usleep((useconds_t)(secs * 1e6));
	j.c.measuring = 0;
	j.c.stop = 1;
	pthread_join(j.th, NULL);
	set_rate(0);
	*n = j.c.n_delay;
	qsort(j.c.delay, (size_t)j.c.n_delay, sizeof(double), cmp_double);
	*p50 = *n ? j.c.delay[*n / 2] : 0;
	*p99 = *n ? j.c.delay[(long)(*n * 0.99)] : 0;
	*max = *n ? j.c.delay[*n - 1] : 0;
	if (j.c.lost)
		fprintf(stderr, "bench_relay: the follower lost %ld events\n", j.c.lost);
	free(j.c.delay);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7, k = argc > 2 ? atoi(argv[2]) : 8192;
	int rate = argc > 3 ? atoi(argv[3]) : 2000, r, i, l;
	double direct[64], relay[64], cpu0, cpu1, cpu_relay = 0, md, mr;
	const char *lags[] = {"1s", "200ms"};
	uint16_t ports[AGENTS];
	struct relay_proc p;
	char self[PATH_MAX];
	long kb;
	ssize_t sl;

	if (rounds < 1 || rounds > 64 || k < 1 || k > 100000 || rate < 100 || rate > 100000) {
		fprintf(stderr, "usage: %s [ROUNDS (1..64) [K (1..100000) [RATE (100..100000)]]]\n",
			argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0)
		return 1;
	self[sl] = '\0';
	snprintf(flowrelay, sizeof(flowrelay), "%s/../flowrelay", dirname(self));
	if (access(flowrelay, X_OK)) {
		fprintf(stderr, "bench_relay: %s not found: run make first\n", flowrelay);
		return 1;
	}
	start_agents(k);
	for (i = 0; i < AGENTS; i++)
		ports[i] = agents[i].port;
	p = relay_start(lags[0]);
	/* A first burst through the relay: its memory touched, every agent followed. */
	relay_wait(&p);
	run_burst(&p.grpc, 1, (long)k * AGENTS, k, "the relay (warm-up)");
	for (r = 0; r < rounds; r++) {
		for (l = 0; l < 2; l++) {
			if ((l + r) % 2) {
				proc_usage(p.pid, &cpu0, &kb);
				relay[r] = run_burst(&p.grpc, 1, (long)k * AGENTS, k, "the relay");
				proc_usage(p.pid, &cpu1, &kb);
				cpu_relay += cpu1 - cpu0;
			} else {
				direct[r] = run_burst(ports, AGENTS, k, k, "direct");
			}
		}
	}
	proc_usage(p.pid, &cpu1, &kb);
	md = median(direct, rounds);
	mr = median(relay, rounds);
	printf("Relay throughput: %d agents each publishing %d flow events at once, to "
	       "decode-only clients, median of %d rounds (min..max)\n",
	       AGENTS, k, rounds);
	printf("%-8s %12s %24s %7s\n", "case", "events/s", "spread", "ratio");
	printf("%-8s %12.0f %11.0f..%-11.0f %6.2fx  16 followers, one per agent (baseline)\n",
	       "direct", md, direct[0], direct[rounds - 1], 1.0);
	printf("%-8s %12.0f %11.0f..%-11.0f %6.2fx  one follower of the relay, merged in time "
	       "order (target 500000)\n",
	       "relay", mr, relay[0], relay[rounds - 1], mr / md);
	printf("relay cost: %.2f CPU s per million events merged (all its threads), peak RSS %.0f "
	       "MiB\n",
	       cpu_relay / ((double)rounds * k * AGENTS / 1e6), kb / 1024.0);
	printf("{\"bench\":\"relay\",\"case\":\"direct\",\"events_per_s\":%.0f,\"min\":%.0f,"
	       "\"max\":%.0f,\"agents\":%d,\"k\":%d,\"rounds\":%d}\n",
	       md, direct[0], direct[rounds - 1], AGENTS, k, rounds);
	printf("{\"bench\":\"relay\",\"case\":\"relay\",\"events_per_s\":%.0f,\"min\":%.0f,"
	       "\"max\":%.0f,\"baseline\":\"direct\",\"ratio\":%.3f,\"cpu_s_per_m\":%.2f,"
	       "\"peak_rss_mib\":%.0f,\"target_events_per_s\":500000}\n",
	       mr, relay[0], relay[rounds - 1], mr / md,
	       cpu_relay / ((double)rounds * k * AGENTS / 1e6), kb / 1024.0);

	printf("Relay delay: %d agents x %d events/s live, from an event's time to a follower of "
	       "the relay, 5 s\n",
	       AGENTS, rate);
	printf("%-8s %10s %10s %10s %10s\n", "lag", "p50 ms", "p99 ms", "max ms", "events");
	for (l = 0; l < 2; l++) {
		double p50, p99, max;
		long n;

		if (l) {
			relay_stop(&p);
			p = relay_start(lags[l]);
			relay_wait(&p);
		}
		run_delay(p.grpc, rate, 5, &p50, &p99, &max, &n);
		printf("%-8s %10.1f %10.1f %10.1f %10ld\n", lags[l], p50, p99, max, n);
		printf("{\"bench\":\"relay_delay\",\"lag\":\"%s\",\"p50_ms\":%.1f,"
		       "\"p99_ms\":%.1f,\"max_ms\":%.1f,\"events\":%ld,\"rate\":%d}\n",
		       lags[l], p50, p99, max, n, rate * AGENTS);
	}
	relay_stop(&p);
	for (i = 0; i < AGENTS; i++)
		loop_thread_stop(&agents[i].lt);
	return 0;
}
