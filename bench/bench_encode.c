/* Per-flow encoding and decoding costs, measured side by side in one run: a Hubble flow (a TCP
 * flow with a process, names and flags, as flowd sends them) packed by protobuf-c (size pass
 * and pack: the baseline) and by pb_pack (what flowd sends with); written as an NDJSON line;
 * unpacked by protobuf-c with malloc (baseline) and into a pb_arena, and by pb_unpack (one
 * pass) with malloc and into a pb_arena (what flowctl and the relay do).
 * Rounds interleave the cases; medians, min..max and ratios.
 * (The flow is tests/flows.h's, with a process and a name.)
 * Usage: bench_encode [ROUNDS [N]]  (defaults 9 rounds of 100,000). */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowscope/base/grpc_frame.h"
#include "flowscope/base/pb_arena.h"
#include "flowscope/base/pb_pack.h"
#include "flowscope/base/pb_unpack.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/flow.h"
#include "flows.h"
#include "observer.pb-c.h"

enum {
	PACK_PBC,
	PACK_ONE,
	JSON,
	UNPACK_MALLOC,
	UNPACK_ARENA,
	ONEPASS_MALLOC,
	ONEPASS_ARENA,
	NCASES
};

/* What each case is compared with (itself: a baseline, or no other way to do it). */
static const int baseline[NCASES] = {PACK_PBC,	    PACK_PBC,	   JSON,	UNPACK_MALLOC,
				     UNPACK_MALLOC, UNPACK_MALLOC, UNPACK_ARENA};

static const char *names[NCASES] = {"pack_protobuf_c", "pack_pb_pack", "json_line",
				    "unpack_malloc",   "unpack_arena", "pb_unpack_malloc",
				    "pb_unpack_arena"};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The tests' TCP flow with what a flow from a local process carries besides. */
static void sample_flow(struct flow *f)
{
	static const struct flow_process curl = {
		.known = true, .pid = 4242, .comm = "curl", .cgroup_id = 77};

	*f = tcp_flow();
	f->tcp_flags_seen[1] = FLOW_TCP_SYN | FLOW_TCP_ACK;
	f->src_proc = &curl;
	f->dst_name = "api.example.org";
	f->rtt_us = 350;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 9, n = argc > 2 ? atoi(argv[2]) : 100000, r, c, i;
	double *ns[NCASES], med[NCASES];
	Observer__GetFlowsResponse *resp;
	struct buf frame = BUF_INIT, b = BUF_INIT;
	struct pb_arena arena;
	const uint8_t *msg;
	struct flow f;
	size_t len;

	if (rounds < 1 || n < 1) {
		fprintf(stderr, "usage: %s [ROUNDS [N]]\n", argv[0]);
		return 2;
	}
	sample_flow(&f);
	if (flow_pb_frame(&frame, &f, "node-1"))
		return 1;
	msg = (const uint8_t *)frame.data + GRPC_FRAME_HDR;
	len = frame.len - GRPC_FRAME_HDR;
	resp = observer__get_flows_response__unpack(NULL, len, msg);
	if (!resp)
		return 1;
	{ /* the one-pass decoder reads the same message: it packs to the same bytes */
		ProtobufCMessage *m =
			pb_unpack(&observer__get_flows_response__descriptor, NULL, len, msg);

		buf_reset(&b);
		if (!m || pb_pack_append(&b, m) || b.len != len || memcmp(b.data, msg, len)) {
			fprintf(stderr, "bench_encode: pb_unpack does not read the flow back\n");
			return 1;
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	pb_arena_init(&arena);
	for (c = 0; c < NCASES; c++)
		ns[c] = calloc(rounds, sizeof(double));
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < NCASES; i++) {
			double t0;
			int k;

			c = (i + r) % NCASES; /* rotate: no case always runs first */
			t0 = now_ns();
			for (k = 0; k < n; k++) {
				switch (c) {
				case PACK_PBC: { /* what grpc_frame_append did before pb_pack */
					size_t sz = protobuf_c_message_get_packed_size(&resp->base);

					buf_reset(&b);
					if (buf_reserve(&b, sz))
						return 1;
					b.len = protobuf_c_message_pack(&resp->base,
									(uint8_t *)b.data);
					break;
				}
				case PACK_ONE:
					buf_reset(&b);
					if (pb_pack_append(&b, &resp->base))
						return 1;
					break;
				case JSON:
					buf_reset(&b);
					if (flow_pb_json_line(&b, &f, "node-1"))
						return 1;
					break;
				case UNPACK_MALLOC: {
					Observer__GetFlowsResponse *m =
						observer__get_flows_response__unpack(NULL, len,
										     msg);

					if (!m)
						return 1;
					observer__get_flows_response__free_unpacked(m, NULL);
					break;
				}
				case UNPACK_ARENA:
					if (!observer__get_flows_response__unpack(&arena.allocator,
										  len, msg))
						return 1;
					pb_arena_reset(&arena);
					break;
				case ONEPASS_MALLOC: {
					ProtobufCMessage *m =
						pb_unpack(&observer__get_flows_response__descriptor,
							  NULL, len, msg);

					if (!m)
						return 1;
					protobuf_c_message_free_unpacked(m, NULL);
					break;
				}
				default:
					if (!pb_unpack(&observer__get_flows_response__descriptor,
						       &arena.allocator, len, msg))
						return 1;
					pb_arena_reset(&arena);
				}
			}
			ns[c][r] = (now_ns() - t0) / n;
		}
	}
	printf("Per-flow encoding and decoding (%zu-byte message), median of %d rounds of %d\n",
	       len, rounds, n);
	printf("%-18s %10s %18s %8s\n", "case", "ns/flow", "min..max", "ratio");
	for (c = 0; c < NCASES; c++) {
		qsort(ns[c], rounds, sizeof(double), cmp_double);
		med[c] = ns[c][rounds / 2];
	}
	for (c = 0; c < NCASES; c++) {
		int base = baseline[c];

		printf("%-18s %10.0f %8.0f..%-8.0f %7.2fx\n", names[c], med[c], ns[c][0],
		       ns[c][rounds - 1], med[c] / med[base]);
	}
	for (c = 0; c < NCASES; c++) {
		int base = baseline[c];

		printf("{\"bench\":\"encode\",\"case\":\"%s\",\"ns_per_flow\":%.1f,\"min\":%.1f,"
		       "\"max\":%.1f,\"baseline\":\"%s\",\"ratio\":%.3f,\"rounds\":%d}\n",
		       names[c], med[c], ns[c][0], ns[c][rounds - 1], names[base],
		       med[c] / med[base], rounds);
	}
	observer__get_flows_response__free_unpacked(resp, NULL);
	pb_arena_free(&arena);
	buf_free(&b);
	buf_free(&frame);
	for (c = 0; c < NCASES; c++)
		free(ns[c]);
	return 0;
}
