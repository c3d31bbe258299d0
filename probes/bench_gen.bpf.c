// SPDX-License-Identifier: GPL-2.0
/* Benchmark record generator (bench/ only, never loaded by flowd): each run writes one flow
 * record into this CPU's ring, in the TC probe's layout. Four consecutive runs are one short
 * TCP connection (start with SYN, SYN-ACK, FIN, FIN), each connection a new flow. Driven by
 * BPF_PROG_TEST_RUN with repeat= it produces records far faster than real packets could on
 * this machine, to find the rate at which the collector starts losing records. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "flowscope/record.h"
#include "rings.h"

char LICENSE[] SEC("license") = "GPL";

struct gen_state {
	__u64 n;	  /* records written so far on this CPU */
	__u64 first_seen; /* of the current connection */
	__u32 base;	  /* distinguishes runs of the benchmark (set from user space) */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_state);
} gen_state SEC(".maps");

SEC("tc")
int gen(struct __sk_buff *skb)
{
	__u32 zero = 0, cpu, step;
	struct flow_record *r;
	struct gen_state *g;
	__u64 conn, now = bpf_ktime_get_boot_ns();

	(void)skb;
	g = bpf_map_lookup_elem(&gen_state, &zero);
	if (!g)
		return -1;
	step = g->n & 3;
	conn = g->n >> 2;
	g->n++;
	if (!step)
		g->first_seen = now;
	r = ring_reserve(sizeof(*r), &cpu);
	if (!r)
		return -1;
	__builtin_memset(r, 0, sizeof(*r));
	r->type = FLOW_REC_TC;
	r->version = FLOW_RECORD_VERSION;
	r->events = step ? FLOW_EV_TCP_FLAGS : (FLOW_EV_START | FLOW_EV_TCP_FLAGS);
	r->key.addr[0][0] = 10;
	r->key.addr[0][1] = (__u8)(g->base + cpu);
	r->key.addr[0][2] = (__u8)(conn >> 16);
	r->key.addr[0][3] = (__u8)(conn >> 8);
	r->key.addr[1][0] = 10;
	r->key.addr[1][1] = 255;
	r->key.addr[1][3] = 1;
	r->key.port[0] = (__u16)(1024 + (conn & 0xff));
	r->key.port[1] = 443;
	r->key.ifindex = 2;
	r->key.proto = IPPROTO_TCP;
	r->key.family = 4;
	r->pkt_len = 60;
	r->ts_ns = now;
	r->state.first_seen_ns = g->first_seen;
	/* Ticks of the fallback clock: the benchmark's collector knows no tick rate. */
	r->state.first_tick = (__u32)(g->first_seen >> FLOW_TICK_SHIFT_FALLBACK);
	r->state.last_tick = (__u32)(now >> FLOW_TICK_SHIFT_FALLBACK);
	r->state.packets[0] = 1 + (step >= 2);
	r->state.packets[1] = step >= 1 ? 1 + (step >= 3) : 0;
	r->state.bytes[0] = r->state.packets[0] * 60;
	r->state.bytes[1] = r->state.packets[1] * 60;
	r->state.tcp_flags[0] = FLOW_TCP_SYN | (step >= 2 ? FLOW_TCP_FIN | FLOW_TCP_ACK : 0);
	r->state.tcp_flags[1] =
		step >= 1 ? FLOW_TCP_SYN | FLOW_TCP_ACK | (step >= 3 ? FLOW_TCP_FIN : 0) : 0;
	r->pkt_dir = step & 1;
	r->pkt_tcp_flags = step == 0   ? FLOW_TCP_SYN
			   : step == 1 ? FLOW_TCP_SYN | FLOW_TCP_ACK
				       : FLOW_TCP_FIN | FLOW_TCP_ACK;
	r->tc_dir = step & 1;
	r->cpu = cpu;
	bpf_ringbuf_submit(r, 0);
	return -1;
}
