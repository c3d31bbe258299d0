/* Collector throughput, fed from the real per-CPU rings: the TC probe (loaded through the real
 * loader) writes flow-start records for fresh flows through BPF_PROG_TEST_RUN, then the rings
 * are drained (1) by a callback that only counts (the baseline: bare ring reading), (2) into the
 * collector core (decode + flow store + bus), (3) into flowd's full pipeline (also socket join,
 * DNS names, identities and the service graph). Cases alternate round by round; medians,
 * records/s, CPU use of the draining thread, ratio to the baseline.
 * Then: memory (RSS) of the collector holding 10k, 100k and 1M active flows (each size in a
 * child process), with the kernel flow map's own memory; and lost records: short
 * connections (SYN, SYN-ACK, FIN, FIN: 4 records each) written at a set rate by a generator
 * program (probes/bench_gen.bpf.c, same record layout, same rings) while flowd's ring reader
 * drains the default-sized rings on a libuv loop, as in flowd.
 * Usage: bench_collector [ROUNDS] (default 5). Needs root. */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/pipeline/collector.h"
#include "flowscope/graph/graph.h"
#include "flowscope/probes/probe_tc.h"
#include "flowscope/probes/ring_reader.h"
#include "bench_gen.skel.h"
#include "pktgen.h"

#define BATCH 200000 /* records per round and case */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A UDP packet of a flow nobody saw before: 10.S.H.L:P -> 10.9.0.1:53xx. */
static size_t fresh_packet(uint8_t *buf, size_t cap, uint32_t n, uint8_t round, uint8_t tcp_flags,
			   int reply)
{
	char src[32], dst[32] = "10.200.250.1";
	struct pkt_spec s = {.family = 4, .proto = tcp_flags ? IPPROTO_TCP : IPPROTO_UDP};

	/* round picks the second octet (kept a valid 0-255), n the rest: fresh in every round. */
	snprintf(src, sizeof(src), "10.%u.%u.%u", round % 200u, (n >> 16) & 0xff, (n >> 8) & 0xff);
	s.src = reply ? dst : src;
	s.dst = reply ? src : dst;
	s.sport = reply ? 443 : (uint16_t)(1024 + (n & 0xff));
	s.dport = reply ? (uint16_t)(1024 + (n & 0xff)) : 443;
	s.tcp_flags = tcp_flags;
	return pkt_build(&s, buf, cap);
}

static int run_packet(int prog_fd, const uint8_t *buf, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = len, .repeat = 1);

	return bpf_prog_test_run_opts(prog_fd, &o);
}

/* ---- 1. records/s from the rings ------------------------------------------------------------ */

struct pipeline {
	struct collector *col;
	struct flow_store *store;
	struct event_log *events;
	struct flow_bus *bus;
	struct sock_table *socks;
	struct dns_cache *dns;
	struct graph *graph;
	bool full;
	uint64_t records;
};

static void on_count(void *ctx, const void *data, size_t size)
{
	(void)data;
	(void)size;
	((struct pipeline *)ctx)->records++;
}

static void on_collect(void *ctx, const void *data, size_t size)
{
	struct pipeline *p = ctx;

	p->records++;
	collector_handle_record(p->col, data, size);
}

static void on_collect_ahead(void *ctx, const void *data, size_t size)
{
	collector_prefetch_record(((struct pipeline *)ctx)->col, data, size);
}

static void graph_cb(const struct flow *f, void *ctx)
{
	graph_add_flow(ctx, f);
}

static void pipeline_init(struct pipeline *p, bool full, size_t max_flows)
{
	struct collector_opts o = {0};

	memset(p, 0, sizeof(*p));
	p->store = o.store = flow_store_new(max_flows);
	p->bus = o.bus = flow_bus_new();
	p->full = full;
	if (full) {
		struct graph_config gc = {.max_tracked_flows = max_flows}; /* as flowd */

		p->events = o.events = event_log_new(65536); /* flowd's default --max-events */
		p->socks = o.socks = sock_table_new(262144);
		p->dns = o.dns = dns_cache_new(&(struct dns_cache_limits){262144, 16384, 262144});
		p->graph = graph_new(&gc);
		if (p->graph)
			flow_store_on_drop(p->store, graph_store_dropped, p->graph);
		flow_bus_subscribe(p->bus, graph_cb, p->graph);
	}
	p->col = collector_new(&o);
	if (!p->col || (full && !p->graph)) {
		fprintf(stderr, "bench_collector: out of memory\n");
		exit(1);
	}
}

static void pipeline_free(struct pipeline *p)
{
	collector_free(p->col);
	flow_bus_free(p->bus);
	flow_store_free(p->store);
	event_log_free(p->events);
	graph_free(p->graph);
	sock_table_free(p->socks);
	dns_cache_free(p->dns);
}

/* BENCH_PERF_CTL=FIFO BENCH_PERF_ACK=FIFO2 (perf record -D -1 --control fifo:FIFO,FIFO2): the
 * profile is enabled only while the collector's full case drains, so it shows that case and
 * not the filling of the rings. Each command waits for perf's ack. */
static void perf_ctl(const char *cmd)
{
	const char *ctl = getenv("BENCH_PERF_CTL"), *ack = getenv("BENCH_PERF_ACK");
	char line[16];
	FILE *f;

	if (!ctl || !ack || !(f = fopen(ctl, "w")))
		return;
	fprintf(f, "%s\n", cmd);
	fclose(f);
	if ((f = fopen(ack, "r"))) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
}

static int throughput(int rounds)
{
	struct probe_tc_opts po = {.ring_bytes = 1u << 26, .max_flows = 1u << 20};
	const char *names[] = {"ring_only", "collector_core", "collector_full"};
	const char *what[] = {"drain the rings (flowd's ring reader), count records (baseline)",
			      "decode + flow store + bus",
			      "+ event log, socket join, DNS names, identities, service graph"};
	double rate[3][64], cpu[3][64], med_rate[3], med_cpu[3];
	struct probe_tc *probe;
	const int *fds;
	int nfds, r, c, i;

	if (rounds > 64)
		rounds = 64;
	if (probe_tc_open(&probe, &po, NULL))
		return 1;
	nfds = probe_tc_ring_fds(probe, &fds);
	for (r = 0; r < rounds; r++) {
		for (c = 0; c < 3; c++) {
			int k = (c + r) % 3; /* rotate the order */
			struct pipeline *p = calloc(1, sizeof(*p));
			struct ring_reader *rr;
			uv_loop_t loop;
			uint8_t buf[2048];
			double t0, c0;

			pipeline_init(p, k == 2, BATCH * 2);
			/* flowd's ring reader, with its lookahead for the collector's cases */
			uv_loop_init(&loop);
			if (ring_reader_start(&rr, &loop, fds, nfds, k ? on_collect : on_count, p))
				return 1;
			if (k)
				ring_reader_set_prefetch(rr, on_collect_ahead);
			/* Fill: BATCH fresh flows, one start record each. */
			for (i = 0; i < BATCH; i++) {
				size_t len = fresh_packet(buf, sizeof(buf), (uint32_t)i,
							  (uint8_t)(r * 3 + k), 0, 0);

				if (run_packet(probe_tc_prog_fd(probe, 1), buf, len)) {
					perror("bench_collector: BPF_PROG_TEST_RUN");
					return 1;
				}
			}
			if (k == 2)
				perf_ctl("enable");
			t0 = now_s();
			c0 = cpu_s();
			/* Each pass stops after the reader's budget (negative): go on. */
			while (p->records < BATCH && ring_reader_drain(rr) != 0)
				;
			rate[k][r] = p->records / (now_s() - t0);
			cpu[k][r] = (cpu_s() - c0) / (now_s() - t0) * 100;
			if (k == 2)
				perf_ctl("disable");
			if (p->records != BATCH) {
				fprintf(stderr, "bench_collector: read %llu of %d records\n",
					(unsigned long long)p->records, BATCH);
				return 1;
			}
			ring_reader_stop(rr);
			uv_run(&loop, UV_RUN_DEFAULT);
			uv_loop_close(&loop);
			pipeline_free(p);
			free(p);
		}
	}
	for (c = 0; c < 3; c++) {
		med_rate[c] = median(rate[c], rounds);
		med_cpu[c] = median(cpu[c], rounds);
	}
	printf("Collector throughput from the rings: %d records per round, median of %d "
	       "interleaved rounds\n",
	       BATCH, rounds);
	printf("%-16s %14s %8s %7s  %s\n", "case", "records/s", "ratio", "cpu%", "what");
	for (c = 0; c < 3; c++)
		printf("%-16s %14.0f %7.2fx %6.0f%%  %s\n", names[c], med_rate[c],
		       med_rate[c] / med_rate[0], med_cpu[c], what[c]);
	printf("target: >= 2,000,000 records/s on one core (collector_full): %s (%.2f M/s)\n",
	       med_rate[2] >= 2e6 ? "PASS" : "MISS", med_rate[2] / 1e6);
	for (c = 0; c < 3; c++)
		printf("{\"bench\":\"collector\",\"case\":\"%s\",\"records_per_s\":%.0f,"
		       "\"baseline\":\"ring_only\",\"ratio\":%.3f,\"cpu_pct\":%.0f,\"rounds\":%d}"
		       "\n",
		       names[c], med_rate[c], med_rate[c] / med_rate[0], med_cpu[c], rounds);
	probe_tc_close(probe);
	return 0;
}

/* ---- 2. memory at 10k, 100k, 1M active flows ------------------------------------------------ */

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static long map_memlock_kib(int fd)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %ld", &v) == 1)
			break;
	fclose(f);
	return v >= 0 ? v / 1024 : -1;
}

/* In a child: RSS of the full pipeline holding n active flows, the bytes of the flow store's
 * and the graph's tables, and the kernel map's memory for n entries. Writes "rss_kib map_kib
 * store_bytes graph_bytes" to the pipe. */
static void memory_child(int n, int wfd)
{
	struct pipeline p;
	struct flow_record rec;
	struct flow_store_stats ss;
	struct graph_stats gs;
	long before, after, map_kib;
	int i, mfd;
	char out[128];

	before = rss_kib();
	pipeline_init(&p, true, (size_t)n);
	for (i = 0; i < n; i++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = FLOW_REC_TC;
		rec.version = FLOW_RECORD_VERSION;
		rec.events = FLOW_EV_START;
		rec.key.addr[0][0] = 10;
		rec.key.addr[0][1] = (uint8_t)(i >> 16);
		rec.key.addr[0][2] = (uint8_t)(i >> 8);
		rec.key.addr[0][3] = (uint8_t)i;
		rec.key.addr[1][0] = 10;
		rec.key.addr[1][1] = 250;
		rec.key.addr[1][3] = 1;
		rec.key.port[0] = 40000;
		rec.key.port[1] = 443;
		rec.key.ifindex = 2;
		rec.key.proto = IPPROTO_TCP;
		rec.key.family = 4;
		rec.ts_ns = 1000000000ULL + (uint64_t)i;
		rec.state.first_seen_ns = rec.ts_ns; /* no ticks: last seen = first seen */
		rec.state.packets[0] = 1;
		rec.state.bytes[0] = 60;
		collector_handle_record(p.col, &rec, sizeof(rec));
	}
	after = rss_kib();
	/* The kernel side: an LRU hash of n entries, as flowd --kernel-max-flows n creates it. */
	mfd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "fs_mem", sizeof(struct flow_key),
			     sizeof(struct flow_state), (uint32_t)n, NULL);
	map_kib = mfd >= 0 ? map_memlock_kib(mfd) : -1;
	flow_store_get_stats(p.store, &ss);
	graph_get_stats(p.graph, &gs);
	snprintf(out, sizeof(out), "%ld %ld %llu %llu\n", after - before, map_kib,
		 (unsigned long long)ss.bytes, (unsigned long long)gs.bytes);
	if (write(wfd, out, strlen(out)) < 0)
		_exit(1);
	_exit(0);
}

static int memory(void)
{
	int sizes[] = {10000, 100000, 1000000}, i;
	long rss[3], map[3];
	double store[3], graph[3];

	for (i = 0; i < 3; i++) {
		int p[2], st;
		char buf[128] = "";
		pid_t pid;

		if (pipe(p))
			return 1;
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			memory_child(sizes[i], p[1]);
		}
		close(p[1]);
		if (read(p[0], buf, sizeof(buf) - 1) <= 0)
			buf[0] = '\0';
		close(p[0]);
		waitpid(pid, &st, 0);
		if (sscanf(buf, "%ld %ld %lf %lf", &rss[i], &map[i], &store[i], &graph[i]) != 4) {
			fprintf(stderr, "bench_collector: memory run for %d flows failed\n",
				sizes[i]);
			return 1;
		}
	}
	printf("\nMemory with N active flows (collector: store, graph, caches; kernel: the LRU "
	       "flow map)\n");
	printf("%-10s %12s %12s %14s %12s\n", "flows", "RSS MiB", "B/flow", "kernel MiB",
	       "B/entry");
	for (i = 0; i < 3; i++)
		printf("%-10d %12.1f %12.0f %14.1f %12.0f\n", sizes[i], rss[i] / 1024.0,
		       rss[i] * 1024.0 / sizes[i], map[i] / 1024.0, map[i] * 1024.0 / sizes[i]);
	/* Per active flow: what one more flow costs (the slope between sizes), apart from the
	 * tables of a fixed size (the event log of 65536 events, socket and DNS tables). */
	for (i = 1; i < 3; i++) {
		double slope = (rss[i] - rss[i - 1]) * 1024.0 / (sizes[i] - sizes[i - 1]);

		double st = (store[i] - store[i - 1]) / (sizes[i] - sizes[i - 1]);
		double gr = (graph[i] - graph[i - 1]) / (sizes[i] - sizes[i - 1]);

		/* Where it goes: the store's and the graph's tables are sized from the flow count
		 * (their bytes are exact); the rest is what the pages of the caches and the heap
		 * add. */
		printf("user space per active flow from %d to %d flows: %.0f B (flow store %.0f B: "
		       "a %zu-byte struct flow per slot, its link and bucket; graph %.0f B: its "
		       "tracked flows; the rest %.0f B)\n",
		       sizes[i - 1], sizes[i], slope, st, sizeof(struct flow), gr, slope - st - gr);
		printf("{\"bench\":\"memory\",\"case\":\"slope_%d_%d\",\"bytes_per_flow\":%.0f,"
		       "\"store_bytes_per_flow\":%.0f,\"graph_bytes_per_flow\":%.0f}\n",
		       sizes[i - 1], sizes[i], slope, st, gr);
	}
	{
		double slope = (rss[2] - rss[1]) * 1024.0 / (sizes[2] - sizes[1]), worst = 0;

		for (i = 0; i < 3; i++)
			if (map[i] * 1024.0 / sizes[i] > worst)
				worst = map[i] * 1024.0 / sizes[i];
		printf("target: <= 300 B of user space per active flow: %s (%.0f B per flow from "
		       "100k to 1M; %.0f B/flow of the whole RSS at 1M)\n",
		       slope <= 300 ? "PASS" : "MISS", slope, rss[2] * 1024.0 / sizes[2]);
		printf("target: <= 128 B per kernel map entry at 10k, 100k and 1M: %s (at most %.0f "
		       "B)\n",
		       worst <= 128 ? "PASS" : "MISS", worst);
	}
	for (i = 0; i < 3; i++)
		printf("{\"bench\":\"memory\",\"case\":\"flows_%d\",\"rss_kib\":%ld,"
		       "\"bytes_per_flow\":%.0f,\"kernel_map_kib\":%ld,\"baseline\":\"flows_"
		       "10000\","
		       "\"ratio\":%.3f}\n",
		       sizes[i], rss[i], rss[i] * 1024.0 / sizes[i], map[i],
		       (double)rss[i] / (rss[0] ? rss[0] : 1));
	return 0;
}

/* ---- 3. lost records against the rate of new connections ------------------------------------ */

struct producer {
	int gen_fd;
	double rate; /* connections per second; 0: as fast as possible */
	double secs;
	atomic_int done;
	uint64_t records;
};

/* Runs the generator program in batches (one syscall writes `batch` records), paced to the
 * rate: 4 records make one short connection. */
static void *produce(void *arg)
{
	struct producer *pr = arg;
	uint8_t pkt[64] = {0};
	double t0 = now_s();
	const int batch = 256;

	memcpy(pkt + 12, "\x08\x00\x45", 3);
	while (now_s() - t0 < pr->secs) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = batch);

		if (bpf_prog_test_run_opts(pr->gen_fd, &o))
			break;
		pr->records += batch;
		if (pr->rate > 0) {
			double ahead = pr->records / 4.0 / pr->rate - (now_s() - t0);

			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
	atomic_store(&pr->done, 1);
	return NULL;
}

static struct collector *loss_col;
static uint64_t loss_records;

static void on_loss_record(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	loss_records++;
	collector_handle_record(loss_col, data, len);
}

static void on_loss_ahead(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	collector_prefetch_record(loss_col, data, len);
}

static void on_check(uv_timer_t *t)
{
	struct producer *pr = t->data;

	if (atomic_load(&pr->done))
		uv_stop(t->loop);
}

static int losses(void)
{
	double rates[] = {25000, 50000, 100000, 200000, 400000, 0};
	int n_rates = sizeof(rates) / sizeof(rates[0]), i, best = -1, at100k = -1;
	double got_rate[8];
	uint64_t lost[8], recs[8];

	printf("\nLost records vs new short connections (4 records each: start, SYN-ACK, FIN, FIN) "
	       "from a generator program,\ndefault 1 MiB per-CPU rings, flowd's ring reader and "
	       "full pipeline on a libuv loop, 2 s per rate\n");
	printf("%-12s %12s %12s %12s %10s\n", "target/s", "conns/s", "records", "lost", "lost %");
	for (i = 0; i < n_rates; i++) {
		struct probe_tc_opts po = {.max_flows = 1u << 20};
		struct producer pr = {.rate = rates[i], .secs = 2};
		struct pipeline *p = calloc(1, sizeof(*p));
		struct bench_gen_bpf *gen;
		struct probe_tc *probe;
		struct ring_reader *rr;
		uv_loop_t loop;
		uv_timer_t tm;
		pthread_t th;
		const int *fds;
		uint64_t l = 0;
		double t0;
		int nfds;

		if (probe_tc_open(&probe, &po, NULL))
			return 1;
		gen = bench_gen_bpf__open();
		if (!gen || bpf_map__set_max_entries(gen->maps.rings, 0) ||
		    bpf_map__reuse_fd(gen->maps.rings, probe_tc_rings_map_fd(probe)) ||
		    bpf_map__reuse_fd(gen->maps.lost, probe_tc_lost_map_fd(probe)) ||
		    bench_gen_bpf__load(gen)) {
			fprintf(stderr, "bench_collector: cannot load the generator\n");
			return 1;
		}
		pr.gen_fd = bpf_program__fd(gen->progs.gen);
		pipeline_init(p, true, 1u << 20);
		loss_col = p->col;
		loss_records = 0;
		uv_loop_init(&loop);
		nfds = probe_tc_ring_fds(probe, &fds);
		if (ring_reader_start(&rr, &loop, fds, nfds, on_loss_record, NULL))
			return 1;
		ring_reader_set_prefetch(rr, on_loss_ahead); /* as flowd */
		uv_timer_init(&loop, &tm);
		tm.data = &pr;
		uv_timer_start(&tm, on_check, 50, 50);
		t0 = now_s();
		pthread_create(&th, NULL, produce, &pr);
		uv_run(&loop, UV_RUN_DEFAULT);
		pthread_join(th, NULL);
		ring_reader_drain(rr);
		probe_tc_lost(probe, &l);
		got_rate[i] = pr.records / 4.0 / (now_s() - t0);
		lost[i] = l;
		recs[i] = loss_records;
		ring_reader_stop(rr);
		uv_close((uv_handle_t *)&tm, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		pipeline_free(p);
		free(p);
		bench_gen_bpf__destroy(gen);
		probe_tc_close(probe);
		if (rates[i])
			printf("%-12.0f", rates[i]);
		else
			printf("%-12s", "max");
		printf(" %12.0f %12llu %12llu %9.3f%%\n", got_rate[i], (unsigned long long)recs[i],
		       (unsigned long long)lost[i],
		       100.0 * lost[i] / (recs[i] + lost[i] ? recs[i] + lost[i] : 1));
		if (recs[i] + lost[i] != pr.records)
			printf("  (accounting: %llu records + %llu lost of %llu written)\n",
			       (unsigned long long)recs[i], (unsigned long long)lost[i],
			       (unsigned long long)pr.records);
		if (!lost[i] && (best < 0 || got_rate[i] > got_rate[best]))
			best = i;
		if (rates[i] == 100000)
			at100k = i;
	}
	printf("highest measured rate with no lost record: %.0f connections/s (%.0f records/s); "
	       "beyond it the kernel counts what found a ring full (per CPU) and flowd reports it "
	       "as lost_records in /api/v1/status\n",
	       best >= 0 ? got_rate[best] : 0, best >= 0 ? got_rate[best] * 4 : 0);
	if (at100k >= 0 && got_rate[at100k] > 90000)
		printf("target: zero lost records at 100k new connections/s: %s (%llu lost)\n",
		       lost[at100k] ? "MISS" : "PASS", (unsigned long long)lost[at100k]);
	else
		printf("target: zero lost records at 100k new connections/s: NOT MEASURED (the "
		       "generator reached %.0f/s)\n",
		       at100k >= 0 ? got_rate[at100k] : 0);
	for (i = 0; i < n_rates; i++)
		printf("{\"bench\":\"lost\",\"case\":\"%s%.0f\",\"conns_per_s\":%.0f,\"records\":%"
		       "llu,"
		       "\"lost\":%llu,\"baseline\":\"none\",\"ratio\":%.5f}\n",
		       rates[i] ? "rate_" : "max", rates[i], got_rate[i],
		       (unsigned long long)recs[i], (unsigned long long)lost[i],
		       (double)lost[i] / (recs[i] + lost[i] ? recs[i] + lost[i] : 1));
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;

	if (rounds < 1 || rounds > 64) {
		fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench_collector: needs root (BPF)\n");
		return 1;
	}
	/* BENCH_PART=memory|throughput|lost runs one part. Memory first, while this process's
	 * heap is still small (its children inherit it). */
	const char *part = getenv("BENCH_PART");

	if ((!part || !strcmp(part, "memory")) && memory())
		return 1;
	if ((!part || !strcmp(part, "throughput")) && throughput(rounds))
		return 1;
	if ((!part || !strcmp(part, "lost")) && losses())
		return 1;
	return 0;
}
