// SPDX-License-Identifier: GPL-2.0
/* TC probe: on clsact ingress and egress, parses each packet down to L4, keeps per-flow state
 * in an LRU hash keyed by a canonical flow key (both directions share one entry) and writes a
 * record to this CPU's ring buffer only when a flow starts or a SYN, FIN or RST first appears
 * in a direction. Records that find the ring full are counted per CPU. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "flowscope/record.h"
#include "flow_key.h"
#include "rings.h"

#define TC_ACT_UNSPEC (-1)
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#define IPPROTO_ICMPV6 58
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 6

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

char LICENSE[] SEC("license") = "GPL";

/* The kernel's tick rate from its configuration (libbpf reads /proc/config.gz); 0 when it is
 * not known. A constant to the verifier, which drops the branch not taken. */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* The coarse clock of last-seen stamps (struct flow_state): jiffies when the tick rate is
 * known, an inlined load, where bpf_ktime_get_boot_ns() reads the clock source (30 ns of a
 * 70 ns packet on a KVM guest, measured with bench_probe); else boot ns >> 20. */
static __always_inline __u32 tick_now(void)
{
	if (CONFIG_HZ)
		return (__u32)bpf_jiffies64();
	return (__u32)(bpf_ktime_get_boot_ns() >> FLOW_TICK_SHIFT_FALLBACK);
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct flow_key);
	__type(value, struct flow_state);
} flows SEC(".maps");

/* What parsing found out about one packet, in the packet's own direction. */
struct pkt {
	__u32 payload_off; /* L4 payload offset from the frame start (TCP/UDP) */
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport, dport;
	__u16 tcp_flags;
	__u8 proto;
	__u8 family;
	__u8 icmp_type, icmp_code;
	__u16 vlan_id;
	/* The sender is the responder of this flow (SYN-ACK, echo reply, reply from a
	 * well-known UDP port): used only when the packet creates the flow. */
	bool from_server;
};

static __always_inline bool in_bounds(void *p, __u32 len, void *end)
{
	return p + len <= end;
}

static __always_inline int parse_l4(void *start, void *l4, void *end, struct pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;
		__u8 *fl;

		if (!in_bounds(th, sizeof(*th), end))
			return -1;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		fl = (__u8 *)th + 12;
		p->payload_off = (__u32)((void *)th - start) + (fl[0] >> 4) * 4;
		/* Byte 13 holds CWR..FIN, the low bit of byte 12 is NS. */
		p->tcp_flags = fl[1] | ((fl[0] & 1) << 8);
		p->from_server = (p->tcp_flags & (FLOW_TCP_SYN | FLOW_TCP_ACK)) ==
				 (FLOW_TCP_SYN | FLOW_TCP_ACK);
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;

		if (!in_bounds(uh, sizeof(*uh), end))
			return -1;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->payload_off = (__u32)((void *)(uh + 1) - start);
		p->from_server = p->sport < 1024 && p->dport >= 1024;
		return 0;
	}
	case IPPROTO_SCTP: {
		__be16 *ports = l4;

		if (!in_bounds(ports, 4, end))
			return -1;
		p->sport = bpf_ntohs(ports[0]);
		p->dport = bpf_ntohs(ports[1]);
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *ih = l4;
		bool req, rep;

		if (!in_bounds(ih, 8, end))
			return -1;
		p->icmp_type = ih[0];
		p->icmp_code = ih[1];
		if (p->proto == IPPROTO_ICMP) {
			req = ih[0] == ICMP_ECHO;
			rep = ih[0] == ICMP_ECHOREPLY;
		} else {
			req = ih[0] == ICMPV6_ECHO_REQUEST;
			rep = ih[0] == ICMPV6_ECHO_REPLY;
		}
		if (req || rep) {
			/* Request and reply share the identifier: one flow. */
			p->sport = p->dport = bpf_ntohs(*(__be16 *)(ih + 4));
			p->from_server = rep;
		} else {
			p->sport = ih[0];
			p->dport = ih[1];
		}
		return 0;
	}
	}
	return 0; /* other protocols: addresses only */
}

static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	void *cur;
	__u16 proto;
	int i;

	if (!in_bounds(eth, sizeof(*eth), end))
		return -1;
	proto = eth->h_proto;
	cur = eth + 1;
	if (skb->vlan_present)
		p->vlan_id = skb->vlan_tci & 0x0fff;
#pragma unroll
	for (i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vh = cur;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (!in_bounds(vh, sizeof(*vh), end))
			return -1;
		if (!p->vlan_id)
			p->vlan_id = bpf_ntohs(vh->h_vlan_TCI) & 0x0fff;
		proto = vh->h_vlan_encapsulated_proto;
		cur = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		__u32 hlen;

		if (!in_bounds(ip, sizeof(*ip), end))
			return -1;
		hlen = ip->ihl * 4;
		if (ip->version != 4 || hlen < sizeof(*ip))
			return -1;
		p->family = 4;
		p->proto = ip->protocol;
		__builtin_memcpy(p->saddr, &ip->saddr, 4);
		__builtin_memcpy(p->daddr, &ip->daddr, 4);
		/* Non-first fragments carry no L4 header: the flow is the address pair. */
		if (ip->frag_off & bpf_htons(IP_OFFSET))
			return 0;
		return parse_l4(data, cur + hlen, end, p);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		__u8 nexthdr;

		if (!in_bounds(ip6, sizeof(*ip6), end))
			return -1;
		if (ip6->version != 6)
			return -1;
		p->family = 6;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		nexthdr = ip6->nexthdr;
		cur = ip6 + 1;
#pragma unroll
		for (i = 0; i < MAX_IPV6_EXT; i++) {
			__u8 *ext = cur;

			if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
			    nexthdr != IPPROTO_FRAGMENT && nexthdr != IPPROTO_DSTOPTS &&
			    nexthdr != IPPROTO_AH)
				break;
			if (!in_bounds(ext, 8, end))
				return -1;
			if (nexthdr == IPPROTO_FRAGMENT) {
				/* Offset != 0: a later fragment without L4 header. */
				if (bpf_ntohs(*(__be16 *)(ext + 2)) & 0xfff8) {
					p->proto = ext[0];
					return 0;
				}
				cur = ext + 8;
			} else if (nexthdr == IPPROTO_AH) {
				cur = ext + (ext[1] + 2) * 4;
			} else {
				cur = ext + (ext[1] + 1) * 8;
			}
			nexthdr = ext[0];
		}
		p->proto = nexthdr;
		return parse_l4(data, cur, end, p);
	}
	return -1; /* not IP */
}

static __always_inline void emit(struct flow_key *key, struct flow_state *st, struct pkt *p,
				 __u32 events, __u8 pkt_dir, __u8 tc_dir, __u32 len, __u64 now)
{
	struct flow_record *r;
	__u32 cpu;

	r = ring_reserve(sizeof(*r), &cpu);
	if (!r)
		return;
	r->type = FLOW_REC_TC;
	r->version = FLOW_RECORD_VERSION;
	r->events = events;
	r->key = *key;
	r->pkt_len = len;
	r->ts_ns = now;
	r->state = *st;
	r->pkt_tcp_flags = p->tcp_flags;
	r->pkt_dir = pkt_dir;
	r->tc_dir = tc_dir;
	r->cpu = cpu;
	bpf_ringbuf_submit(r, 0);
}

/* DNS packets go to user space whole (up to FLOW_DNS_MAX bytes): names for addresses and the
 * query's L7 record are parsed there, where a malformed packet can do no harm. */
static __always_inline void emit_dns(struct __sk_buff *skb, struct flow_key *key, struct pkt *p,
				     __u8 side, __u8 tc_dir, __u64 now)
{
	struct flow_dns_record *r;
	__u32 cpu, len;

	if (p->payload_off >= skb->len)
		return;
	len = skb->len - p->payload_off;
	r = ring_reserve(sizeof(*r), &cpu);
	if (!r)
		return;
	r->type = FLOW_REC_DNS;
	r->version = FLOW_RECORD_VERSION;
	r->orig_len = len;
	if (len > FLOW_DNS_MAX)
		len = FLOW_DNS_MAX;
	r->key = *key;
	r->sender = side;
	r->tc_dir = tc_dir;
	r->ts_ns = now;
	r->cpu = cpu;
	r->pad[0] = r->pad[1] = 0;
	r->pad2 = 0;
	if (len < 1 || bpf_skb_load_bytes(skb, p->payload_off, r->data, len)) {
		bpf_ringbuf_discard(r, 0);
		return;
	}
	r->data_len = len;
	bpf_ringbuf_submit(r, 0);
}

/* Counts one packet on an existing entry. dir is a constant at each call site: indexing the
 * per-direction arrays with a run-time value makes clang emit pointer arithmetic the
 * verifier refuses. */
static __always_inline void count_dir(struct flow_key *key, struct flow_state *st, struct pkt *p,
				      const int dir, __u8 tc_dir, __u32 len)
{
	__sync_fetch_and_add(&st->packets[dir], 1);
	__sync_fetch_and_add(&st->bytes[dir], len);
	st->last_tick = tick_now();
	if (p->tcp_flags) {
		__u32 old = st->tcp_flags[dir];

		/* Read first: the atomic is only paid when a flag is new in this direction. */
		if ((old | p->tcp_flags) != old) {
			old = __sync_fetch_and_or(&st->tcp_flags[dir], (__u32)p->tcp_flags);
			if ((p->tcp_flags & FLOW_TCP_EVENT_FLAGS) & ~old)
				emit(key, st, p, FLOW_EV_TCP_FLAGS, dir, tc_dir, len,
				     bpf_ktime_get_boot_ns());
		}
	}
}

static __always_inline void init_dir(struct flow_state *init, struct pkt *p, const int dir,
				     __u32 len)
{
	init->packets[dir] = 1;
	init->bytes[dir] = len;
	init->tcp_flags[dir] = p->tcp_flags;
}

static __always_inline int handle(struct __sk_buff *skb, __u8 tc_dir)
{
	struct pkt p = {};
	struct flow_key key = {};
	struct flow_state *st, init = {};
	__u8 side, pkt_dir, init_side;
	__u32 events = 0, len = skb->len;
	bool is_dns;

	if (parse(skb, &p))
		return TC_ACT_UNSPEC;

	/* Canonical key: the lower (address, port) endpoint goes first. */
	side = flow_key_fill(&key, p.saddr, p.sport, p.daddr, p.dport); /* 1: sender is 1 */
	key.ifindex = skb->ifindex;
	key.proto = p.proto;
	key.family = p.family;
	key.vlan_id = p.vlan_id;
	/* DNS records follow the flow's own record on this CPU's ring, so the collector
	 * already knows the flow when it parses the message. */
	is_dns = (p.sport == 53 || p.dport == 53) &&
		 (p.proto == IPPROTO_UDP || p.proto == IPPROTO_TCP);

	st = bpf_map_lookup_elem(&flows, &key);
	if (!st) {
		__u64 now = bpf_ktime_get_boot_ns();

		init_side = p.from_server ? !side : side;
		init.first_seen_ns = now;
		init.first_tick = init.last_tick = tick_now();
		init.init_side = init_side;
		init.init_tc_dir = init_side == side ? tc_dir : !tc_dir;
		if (init_side == side) {
			init.icmp_type = p.icmp_type;
			init.icmp_code = p.icmp_code;
		}
		pkt_dir = side != init_side;
		if (pkt_dir)
			init_dir(&init, &p, 1, len);
		else
			init_dir(&init, &p, 0, len);
		if (bpf_map_update_elem(&flows, &key, &init, BPF_NOEXIST) == 0) {
			events = FLOW_EV_START;
			if (p.tcp_flags & FLOW_TCP_EVENT_FLAGS)
				events |= FLOW_EV_TCP_FLAGS;
			emit(&key, &init, &p, events, pkt_dir, tc_dir, len, now);
			if (is_dns)
				emit_dns(skb, &key, &p, side, tc_dir, now);
			return TC_ACT_UNSPEC;
		}
		/* Another CPU created it first: count this packet as on an existing flow. */
		st = bpf_map_lookup_elem(&flows, &key);
		if (!st)
			return TC_ACT_UNSPEC;
	}

	if (side != st->init_side)
		count_dir(&key, st, &p, 1, tc_dir, len);
	else
		count_dir(&key, st, &p, 0, tc_dir, len);
	if (is_dns)
		emit_dns(skb, &key, &p, side, tc_dir, bpf_ktime_get_boot_ns());
	return TC_ACT_UNSPEC;
}

SEC("tc")
int flow_tc_ingress(struct __sk_buff *skb)
{
	return handle(skb, FLOW_TC_INGRESS);
}

SEC("tc")
int flow_tc_egress(struct __sk_buff *skb)
{
	return handle(skb, FLOW_TC_EGRESS);
}
