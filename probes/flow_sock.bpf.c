// SPDX-License-Identifier: GPL-2.0
/* Socket probes: TCP state changes (tp_btf/inet_sock_set_state) tell who connects, listens,
 * is accepted and closes, with the process where the kernel runs in it; cgroup sockops on the
 * cgroup2 root report RTT and retransmits as they happen; tp_btf/kfree_skb reports packets the
 * kernel lost, with its reason, and only counts the frees the loader's table says lose nothing
 * (collector/enrich/drop_reason.c). Records go to the same per-CPU rings
 * as the TC probe's (the loader shares the maps); ring-full records are counted the same way. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "flowscope/record.h"
#include "flow_key.h"
#include "rings.h"

#define AF_INET 2
#define AF_INET6 10
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define NSEC_PER_SEC 1000000000ULL
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IP_OFFSET 0x1FFF
#define IPPROTO_ICMPV6 58

char LICENSE[] SEC("license") = "GPL";

/* Per socket: when sockops last reported it, to report retransmits at most once a second. */
struct sock_seen {
	__u64 last_report_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_seen);
} seen SEC(".maps");

static __always_inline struct flow_sock_record *reserve(void)
{
	struct flow_sock_record *r;
	__u32 cpu;

	r = ring_reserve(sizeof(*r), &cpu);
	if (!r)
		return NULL;
	__builtin_memset(r, 0, sizeof(*r));
	r->type = FLOW_REC_SOCK;
	r->version = FLOW_RECORD_VERSION;
	r->ts_ns = bpf_ktime_get_boot_ns();
	r->cpu = cpu;
	return r;
}

static __always_inline void fill_task(struct flow_sock_record *r)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->has_task = 1;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->cgroup_id = bpf_get_current_cgroup_id();
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sock_state, struct sock *sk, int oldstate, int newstate)
{
	struct flow_sock_record *r;
	struct tcp_sock *tp;
	__u32 event;
	__u16 family;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT)
		event = FLOW_SOCK_CONNECT;
	else if (newstate == TCP_LISTEN)
		event = FLOW_SOCK_LISTEN;
	else if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED)
		event = FLOW_SOCK_ACCEPT;
	else if (newstate == TCP_CLOSE && oldstate == TCP_LISTEN)
		event = FLOW_SOCK_UNLISTEN;
	else if (newstate == TCP_CLOSE)
		event = FLOW_SOCK_CLOSE;
	else
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	r = reserve();
	if (!r)
		return 0;
	r->event = event;
	r->oldstate = oldstate;
	r->newstate = newstate;
	if (family == AF_INET) {
		r->family = 4;
		__builtin_memcpy(r->laddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(r->raddr, &sk->__sk_common.skc_daddr, 4);
	} else {
		r->family = 6;
		BPF_CORE_READ_INTO(&r->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r->raddr, sk, __sk_common.skc_v6_daddr);
	}
	/* inet_sport, not skc_num: the bound port is already released when a closing socket
	 * gets here. (At SYN_SENT no port is chosen yet: the collector joins by cookie.) */
	r->lport = __builtin_bswap16(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	r->rport = __builtin_bswap16(sk->__sk_common.skc_dport);
	r->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	r->cookie = bpf_get_socket_cookie(sk);
	/* connect() and listen() run in the process; the rest may run in softirq. */
	if (event == FLOW_SOCK_CONNECT || event == FLOW_SOCK_LISTEN)
		fill_task(r);
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		r->srtt_us = tp->srtt_us >> 3;
		r->total_retrans = tp->total_retrans;
	}
	bpf_ringbuf_submit(r, 0);
	return 0;
}

static __always_inline void report_stats(struct bpf_sock_ops *skops)
{
	struct flow_sock_record *r = reserve();

	if (!r)
		return;
	r->event = FLOW_SOCK_STATS;
	r->newstate = skops->state;
	if (skops->family == AF_INET) {
		__u32 l = skops->local_ip4, rm = skops->remote_ip4;

		r->family = 4;
		__builtin_memcpy(r->laddr, &l, 4);
		__builtin_memcpy(r->raddr, &rm, 4);
	} else {
		__u32 w;

		r->family = 6;
		/* The context allows 4-byte loads at constant offsets only. */
		w = skops->local_ip6[0];
		__builtin_memcpy(r->laddr, &w, 4);
		w = skops->local_ip6[1];
		__builtin_memcpy(r->laddr + 4, &w, 4);
		w = skops->local_ip6[2];
		__builtin_memcpy(r->laddr + 8, &w, 4);
		w = skops->local_ip6[3];
		__builtin_memcpy(r->laddr + 12, &w, 4);
		w = skops->remote_ip6[0];
		__builtin_memcpy(r->raddr, &w, 4);
		w = skops->remote_ip6[1];
		__builtin_memcpy(r->raddr + 4, &w, 4);
		w = skops->remote_ip6[2];
		__builtin_memcpy(r->raddr + 8, &w, 4);
		w = skops->remote_ip6[3];
		__builtin_memcpy(r->raddr + 12, &w, 4);
	}
	r->lport = skops->local_port;
	r->rport = (__u16)__builtin_bswap32(skops->remote_port); /* network order, in 32 bits */
	r->srtt_us = skops->srtt_us >> 3;
	r->total_retrans = skops->total_retrans;
	r->cookie = bpf_get_socket_cookie(skops);
	bpf_ringbuf_submit(r, 0);
}

SEC("sockops")
int sock_ops(struct bpf_sock_ops *skops)
{
	struct sock_seen *s;
	struct bpf_sock *sk;
	__u64 now;

	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* Ask for retransmit callbacks on this socket; report the handshake RTT. */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_RETRANS_CB_FLAG);
		report_stats(skops);
		break;
	case BPF_SOCK_OPS_RETRANS_CB:
		sk = skops->sk;
		if (!sk)
			break;
		s = bpf_sk_storage_get(&seen, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
		if (!s)
			break;
		now = bpf_ktime_get_boot_ns();
		if (now - s->last_report_ns < NSEC_PER_SEC)
			break;
		s->last_report_ns = now;
		report_stats(skops);
		break;
	}
	return 1;
}

/* ---- drops ---------------------------------------------------------------------------------- */

/* Reasons the loader's table says lose nothing (value 1), by enum skb_drop_reason value of this
 * kernel; 0, the default, is a loss: a reason the table does not know is reported. */
#define DROP_REASONS 1024
#define DROP_IGNORE 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DROP_REASONS);
	__type(key, __u32);
	__type(value, __u32);
} drop_class SEC(".maps");

/* Frees ignored as not lost, per reason: nothing is hidden, only not reported per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} drop_ignored SEC(".maps");

struct drop_key {
	struct flow_key key;
	__u32 reason;
};

struct drop_count {
	__u64 count;
	__u64 last_report_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct drop_key);
	__type(value, struct drop_count);
} drops SEC(".maps");

/* True when the reason loses nothing: counted, not reported. */
static __always_inline bool drop_ignored_reason(__u32 reason)
{
	__u32 *class;
	__u64 *n;

	if (reason >= DROP_REASONS)
		return false; /* subsystem reasons (mac80211, OVS, ...): unknown, so losses */
	class = bpf_map_lookup_elem(&drop_class, &reason);
	if (!class || *class != DROP_IGNORE)
		return false;
	n = bpf_map_lookup_elem(&drop_ignored, &reason);
	if (n)
		__sync_fetch_and_add(n, 1);
	return true;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(skb_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct drop_key dk = {};
	struct drop_count *dc, init = {.count = 1};
	struct flow_drop_record *r;
	__u8 saddr[16] = {}, daddr[16] = {}, l4[8] = {}, l4proto, side, flags = 0;
	__u16 sport = 0, dport = 0, nh, proto;
	unsigned char *head;
	__u32 l4off, cpu;
	struct net_device *dev;
	__u64 now;

	if (drop_ignored_reason(reason))
		return 0;
	proto = __builtin_bswap16(skb->protocol);
	head = skb->head;
	nh = skb->network_header;
	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
			return 0;
		dk.key.family = 4;
		l4proto = ip.protocol;
		__builtin_memcpy(saddr, &ip.saddr, 4);
		__builtin_memcpy(daddr, &ip.daddr, 4);
		l4off = nh + ip.ihl * 4;
		if (ip.frag_off & __builtin_bswap16(IP_OFFSET))
			l4proto = 0; /* a later fragment: no ports */
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.version != 6)
			return 0;
		dk.key.family = 6;
		l4proto = ip6.nexthdr; /* extension headers: matched by addresses only */
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		__builtin_memcpy(daddr, &ip6.daddr, 16);
		l4off = nh + sizeof(ip6);
	} else {
		return 0;
	}
	dk.key.proto = l4proto;
	if (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP || l4proto == IPPROTO_SCTP) {
		if (bpf_probe_read_kernel(l4, sizeof(l4), head + l4off))
			return 0;
		sport = (__u16)l4[0] << 8 | l4[1];
		dport = (__u16)l4[2] << 8 | l4[3];
		if (l4proto == IPPROTO_TCP && !bpf_probe_read_kernel(&flags, 1, head + l4off + 13))
			;
	} else if (l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6) {
		if (bpf_probe_read_kernel(l4, sizeof(l4), head + l4off))
			return 0;
		if (l4[0] == 8 || l4[0] == 0 || l4[0] == 128 || l4[0] == 129) {
			sport = dport = (__u16)l4[4] << 8 | l4[5]; /* echo identifier */
		} else {
			sport = l4[0];
			dport = l4[1];
		}
	}
	side = flow_key_fill(&dk.key, saddr, sport, daddr, dport);
	dk.reason = reason;

	now = bpf_ktime_get_boot_ns();
	dc = bpf_map_lookup_elem(&drops, &dk);
	if (dc) {
		__sync_fetch_and_add(&dc->count, 1);
		if (now - dc->last_report_ns < NSEC_PER_SEC)
			return 0;
		dc->last_report_ns = now;
	} else {
		init.last_report_ns = now;
		bpf_map_update_elem(&drops, &dk, &init, BPF_ANY);
		dc = &init;
	}

	r = ring_reserve(sizeof(*r), &cpu);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	r->type = FLOW_REC_DROP;
	r->version = FLOW_RECORD_VERSION;
	r->reason = reason;
	r->key = dk.key;
	r->sender = side;
	r->tcp_flags = flags;
	dev = skb->dev;
	r->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	r->ts_ns = now;
	r->count = dc->count;
	r->cpu = cpu;
	bpf_ringbuf_submit(r, 0);
	return 0;
}
