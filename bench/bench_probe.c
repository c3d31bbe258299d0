/* Probe cost: BPF_PROG_TEST_RUN ns/packet of each path of the TC flow probe next to an empty tc
 * program, measured in the same run. Cases are interleaved round by round (so drift on a noisy
 * machine hits all of them alike) and each is reported as the median over rounds with its
 * ratio to the empty program. Prints a table and one JSON line per case.
 * Then the cost of an existing flow's packet as the map fills: 1k, 100k and 1M live entries,
 * each packet of a flow picked at random among them (cache misses are the real cost at scale),
 * one packet per run, next to the empty program run on the same packets in the same loop.
 * Usage: bench_probe [ROUNDS [REPEAT]]  (defaults 15, 200000). Needs root. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/record.h"
#include "flowscope/probes/probe_tc.h"
#include "empty_tc.skel.h"
#include "pktgen.h"

struct bench_case {
	const char *name;
	const char *what;
	int prog;  /* 0: empty, 1: flow probe */
	int fresh; /* every packet creates a new flow (repeat 1, many packets) */
	struct pkt_spec spec;
	uint8_t frame[2048];
	size_t len;
	double *samples;
};

static int drain(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
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

static int run_prog(int fd, const void *frame, size_t len, int repeat, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &opts);

	if (err)
		return err;
	*ns = opts.duration; /* the kernel's average per run, in ns */
	return 0;
}

/* An IPv4 TCP ACK of flow i of the scale cases: 10.x.y.z:40000 -> 10.250.0.1:443. */
static size_t scale_packet(uint32_t i, uint8_t *buf, size_t cap)
{
	char src[32];
	struct pkt_spec s = {.family = 4,
			     .src = src,
			     .dst = "10.250.0.1",
			     .proto = IPPROTO_TCP,
			     .sport = 40000,
			     .dport = 443,
			     .tcp_flags = FLOW_TCP_ACK};

	snprintf(src, sizeof(src), "10.%u.%u.%u", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
	return pkt_build(&s, buf, cap);
}

/* One ring_buffer over all of p's per-CPU rings, records drained and dropped; NULL (told) on
 * failure. */
static struct ring_buffer *rings_of(struct probe_tc *p)
{
	const int *fds;
	int n = probe_tc_ring_fds(p, &fds), i;
	struct ring_buffer *rb = ring_buffer__new(fds[0], drain, NULL, NULL);

	for (i = 1; rb && i < n; i++)
		ring_buffer__add(rb, fds[i], drain, NULL);
	if (!rb)
		fprintf(stderr, "bench_probe: ring_buffer__new failed: %s\n", strerror(errno));
	return rb;
}

/* Existing-flow cost with n live entries: fills the map to n flows (one packet each), then per
 * round times `per_round` packets of flows picked at random, each run once on the probe and
 * once on the empty program. Prints one line and one JSON line per size. */
static int scale(int rounds, int empty_fd)
{
	static const uint32_t sizes[] = {1, 1000, 100000, 1000000};
	struct probe_tc_opts popts = {.ring_bytes = 1 << 22, .max_flows = 1 << 21};
	double *sp = calloc(rounds, sizeof(double)), *se = calloc(rounds, sizeof(double));
	int per_round = 5000, fds[2], r, k;
	uint32_t filled = 0, z;
	struct ring_buffer *srb;
	struct probe_tc *probe;
	uint8_t buf[2048];

	/* A probe of its own: its map must hold 1M flows. */
	if (!sp || !se || probe_tc_open(&probe, &popts, NULL)) {
		fprintf(stderr, "bench_probe: cannot load the probe for the scale cases\n");
		return 1;
	}
	srb = rings_of(probe);
	if (!srb)
		return 1;
	fds[0] = empty_fd;
	fds[1] = probe_tc_prog_fd(probe, 1);
	printf("\nExisting flow (IPv4 TCP ACK) as the map fills: packets of flows picked at random "
	       "among N live entries, one packet per run, %d per round, median of %d rounds; "
	       "the empty program on the same packets in the same loop\n",
	       per_round, rounds);
	printf("%-10s %12s %12s %8s\n", "entries", "probe ns", "empty ns", "ratio");
	srandom(1);
	for (z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		double mp, me;

		for (; filled < sizes[z]; filled++) {
			size_t len = scale_packet(filled, buf, sizeof(buf));
			double ns = 0;

			if (run_prog(fds[1], buf, len, 1, &ns)) {
				fprintf(stderr, "bench_probe: BPF_PROG_TEST_RUN: %s\n",
					strerror(errno));
				return 1;
			}
			if (filled % 4096 == 4095)
				ring_buffer__consume(srb);
		}
		ring_buffer__consume(srb);
		for (r = 0; r < rounds; r++) {
			double sum_p = 0, sum_e = 0, ns = 0;

			for (k = 0; k < per_round; k++) {
				size_t len = scale_packet((uint32_t)random() % sizes[z], buf,
							  sizeof(buf));

				run_prog(fds[1], buf, len, 1, &ns);
				sum_p += ns;
				run_prog(fds[0], buf, len, 1, &ns);
				sum_e += ns;
			}
			sp[r] = sum_p / per_round;
			se[r] = sum_e / per_round;
		}
		mp = median(sp, rounds);
		me = median(se, rounds);
		printf("%-10u %12.1f %12.1f %7.2fx\n", sizes[z], mp, me, mp / me);
		printf("{\"bench\":\"probe\",\"case\":\"existing_at_%u\",\"ns_per_packet\":%.1f,"
		       "\"baseline\":\"empty_one_packet\",\"baseline_ns\":%.1f,\"ratio\":%.3f,"
		       "\"rounds\":%d}\n",
		       sizes[z], mp, me, mp / me, rounds);
	}
	ring_buffer__free(srb);
	probe_tc_close(probe);
	free(sp);
	free(se);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 15, repeat = argc > 2 ? atoi(argv[2]) : 200000;
	struct probe_tc_opts popts = {.ring_bytes = 1 << 22};
#define V4(sp, dp, pr, fl)                                                                         \
	.family = 4, .src = "10.1.0.2", .dst = "10.2.0.9", .proto = (pr), .sport = (sp),           \
	.dport = (dp), .tcp_flags = (fl)
#define V6(sp, dp, pr, fl)                                                                         \
	.family = 6, .src = "fd00:1::2", .dst = "fd00:2::9", .proto = (pr), .sport = (sp),         \
	.dport = (dp), .tcp_flags = (fl)
	struct bench_case cases[] = {
		{.name = "empty",
		 .what = "empty tc program (baseline), IPv4 TCP ACK",
		 .spec = {V4(40000, 443, IPPROTO_TCP, FLOW_TCP_ACK)}},
		{.name = "existing_tcp4",
		 .what = "existing flow, IPv4 TCP ACK",
		 .prog = 1,
		 .spec = {V4(40000, 443, IPPROTO_TCP, FLOW_TCP_ACK)}},
		{.name = "existing_udp4",
		 .what = "existing flow, IPv4 UDP",
		 .prog = 1,
		 .spec = {V4(40001, 5000, IPPROTO_UDP, 0)}},
		{.name = "existing_tcp6",
		 .what = "existing flow, IPv6 TCP ACK",
		 .prog = 1,
		 .spec = {V6(40000, 443, IPPROTO_TCP, FLOW_TCP_ACK)}},
		{.name = "existing_tcp6_ext",
		 .what = "existing flow, IPv6 TCP + 2 extension headers",
		 .prog = 1,
		 .spec = {V6(40001, 443, IPPROTO_TCP, FLOW_TCP_ACK), .v6_ext = 2}},
		{.name = "existing_vlan",
		 .what = "existing flow, 802.1Q IPv4 TCP",
		 .prog = 1,
		 .spec = {V4(40002, 443, IPPROTO_TCP, FLOW_TCP_ACK), .vlan = {7}}},
		{.name = "non_ip", .what = "non-IP frame (ARP)", .prog = 1},
		{.name = "new_flow",
		 .what = "new flow: map insert + ring record (IPv4 UDP)",
		 .prog = 1,
		 .fresh = 1,
		 .spec = {V4(0, 9000, IPPROTO_UDP, 0)}},
		{.name = "tcp_flag",
		 .what = "new TCP flag on an existing flow: record (FIN)",
		 .prog = 1,
		 .fresh = 1,
		 .spec = {V4(0, 8443, IPPROTO_TCP, FLOW_TCP_FIN | FLOW_TCP_ACK)}},
		{.name = "dns_packet",
		 .what = "DNS packet on an existing flow: payload record (64 B)",
		 .prog = 1,
		 .fresh = 1,
		 .spec = {V4(45353, 53, IPPROTO_UDP, 0), .payload = 64}},
		{.name = "empty_fresh",
		 .what = "empty tc program, one packet per run (baseline of the above)",
		 .fresh = 1,
		 .spec = {V4(0, 9000, IPPROTO_UDP, 0)}},
	};
	int ncases = sizeof(cases) / sizeof(cases[0]), fds[2], i, r, err;
	int fresh_n = 2000, fresh_base = 0;
	struct empty_tc_bpf *empty;
	struct probe_tc *probe;
	struct ring_buffer *rb;
	double base = 0, base_fresh = 0;

	if (rounds < 1 || repeat < 1 || rounds * fresh_n > 64000) {
		fprintf(stderr, "usage: %s [ROUNDS (1..32) [REPEAT]]\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench_probe: needs root (BPF_PROG_TEST_RUN)\n");
		return 1;
	}
	empty = empty_tc_bpf__open_and_load();
	if (!empty) {
		fprintf(stderr, "bench_probe: cannot load the empty program: %s\n",
			strerror(errno));
		return 1;
	}
	err = probe_tc_open(&probe, &popts, NULL);
	if (err)
		return 1;
	rb = rings_of(probe);
	if (!rb)
		return 1;
	fds[0] = bpf_program__fd(empty->progs.empty_tc);
	fds[1] = probe_tc_prog_fd(probe, 1);

	for (i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];
		double ns;

		c->samples = calloc(rounds, sizeof(double));
		if (c->spec.family) {
			c->len = pkt_build(&c->spec, c->frame, sizeof(c->frame));
		} else {
			memcpy(c->frame,
			       "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x08\x06"
			       "\x00\x01\x08\x00\x06\x04\x00\x01",
			       22);
			c->len = 60;
		}
		/* Warm up; existing-flow cases thereby create their flow. */
		if (!c->fresh && run_prog(fds[c->prog], c->frame, c->len, 1000, &ns)) {
			fprintf(stderr, "bench_probe: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			return 1;
		}
	}

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < ncases; i++) {
			struct bench_case *c = &cases[i];
			double ns = 0, sum = 0;
			int k;

			if (!c->fresh) {
				run_prog(fds[c->prog], c->frame, c->len, repeat, &ns);
				c->samples[r] = ns;
				continue;
			}
			/* One packet per run, each of a flow (or a flag) not seen before. The
			 * kernel times the program alone, not the syscall. */
			for (k = 0; k < fresh_n; k++) {
				/* A port not used before in this run: every packet is a new flow.
				 */
				int port = 1024 + (fresh_base + k) % 64000;
				uint8_t *l4 = c->frame + 14 + 20;

				if (!strcmp(c->name, "dns_packet")) {
					/* The same DNS flow every time: one payload record each. */
					c->len = pkt_build(&c->spec, c->frame, sizeof(c->frame));
				} else if (!strcmp(c->name, "tcp_flag")) {
					struct pkt_spec ack = c->spec;
					double dummy;

					/* Open the flow with an ACK, then time its first FIN. */
					ack.sport = port;
					ack.tcp_flags = FLOW_TCP_ACK;
					c->len = pkt_build(&ack, c->frame, sizeof(c->frame));
					run_prog(fds[1], c->frame, c->len, 1, &dummy);
					l4[13] = c->spec.tcp_flags;
				} else {
					c->spec.sport = port;
					c->len = pkt_build(&c->spec, c->frame, sizeof(c->frame));
				}
				run_prog(fds[c->prog], c->frame, c->len, 1, &ns);
				sum += ns;
				if (k % 256 == 255)
					ring_buffer__consume(rb);
			}
			ring_buffer__consume(rb);
			c->samples[r] = sum / fresh_n;
		}
		fresh_base += fresh_n;
	}

	for (i = 0; i < ncases; i++) {
		double m = median(cases[i].samples, rounds);

		if (!strcmp(cases[i].name, "empty"))
			base = m;
		if (!strcmp(cases[i].name, "empty_fresh"))
			base_fresh = m;
	}
	printf("TC probe cost, BPF_PROG_TEST_RUN, median of %d interleaved rounds "
	       "(repeat %d; one-packet cases: %d packets/round)\n",
	       rounds, repeat, fresh_n);
	printf("%-20s %10s %8s  %s\n", "case", "ns/packet", "ratio", "what");
	for (i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];
		double m = median(c->samples, rounds), b = c->fresh ? base_fresh : base;

		printf("%-20s %10.1f %7.2fx  %s%s\n", c->name, m, m / b, c->what,
		       c->fresh ? " [vs empty_fresh]" : " [vs empty]");
	}
	{
		double worst = 0, m = 0;

		for (i = 0; i < ncases; i++)
			if (!strncmp(cases[i].name, "existing_", 9) &&
			    (m = median(cases[i].samples, rounds) / base) > worst)
				worst = m;
		printf("target: existing flow at most 2x the empty program on every path: %s "
		       "(worst %.2fx)\n",
		       worst <= 2 ? "PASS" : "MISS", worst);
		for (i = 0; i < ncases; i++)
			if (!strcmp(cases[i].name, "new_flow"))
				m = median(cases[i].samples, rounds) / base_fresh;
		printf("target: new flow at most 6x the empty program run one packet at a time: %s "
		       "(%.2fx)\n",
		       m <= 6 ? "PASS" : "MISS", m);
	}
	for (i = 0; i < ncases; i++) {
		struct bench_case *c = &cases[i];
		double m = median(c->samples, rounds), b = c->fresh ? base_fresh : base;

		printf("{\"bench\":\"probe\",\"case\":\"%s\",\"ns_per_packet\":%.1f,"
		       "\"baseline\":\"%s\",\"ratio\":%.3f,\"rounds\":%d}\n",
		       c->name, m, c->fresh ? "empty_fresh" : "empty", m / b, rounds);
	}
	ring_buffer__free(rb);
	probe_tc_close(probe);
	err = scale(rounds < 7 ? rounds : 7, fds[0]);
	empty_tc_bpf__destroy(empty);
	return err;
}
