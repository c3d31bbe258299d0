/* The flow key, per-flow state and ring-buffer record shared by probes/ and collector/.
 * This is the only definition: the .bpf.c programs and user space both include it. */
#ifndef FLOWSCOPE_RECORD_H
#define FLOWSCOPE_RECORD_H

#ifdef __BPF__
/* vmlinux.h already provides the __u* types in BPF programs. */
#else
#include <linux/types.h>
#endif

#define FLOW_RECORD_VERSION 1

/* Record types: the first field of every record. Later probes add types, never reuse one. */
enum flow_rec_type {
	FLOW_REC_TC = 1,   /* a flow event seen by the TC probe */
	FLOW_REC_SOCK = 2, /* a TCP socket event (probes/flow_sock.bpf.c) */
	FLOW_REC_DROP = 3, /* the kernel dropped a packet (tp_btf/kfree_skb) */
	FLOW_REC_DNS = 4,  /* the payload of a DNS packet (port 53) seen by the TC probe */
};

/* Why a TC record was written (bit mask: one packet can start a flow and carry SYN). */
enum flow_rec_event {
	FLOW_EV_START = 1 << 0,	    /* first packet of a flow not in the map */
	FLOW_EV_TCP_FLAGS = 1 << 1, /* SYN, FIN or RST appeared for the first time in a direction */
};

/* TCP flag bits as in the TCP header's 13th byte, plus NS from the 12th. */
enum flow_tcp_flag {
	FLOW_TCP_FIN = 0x01,
	FLOW_TCP_SYN = 0x02,
	FLOW_TCP_RST = 0x04,
	FLOW_TCP_PSH = 0x08,
	FLOW_TCP_ACK = 0x10,
	FLOW_TCP_URG = 0x20,
	FLOW_TCP_ECE = 0x40,
	FLOW_TCP_CWR = 0x80,
	FLOW_TCP_NS = 0x100,
};

/* Flags whose first appearance in a direction is an event worth a record. */
#define FLOW_TCP_EVENT_FLAGS (FLOW_TCP_SYN | FLOW_TCP_FIN | FLOW_TCP_RST)

/* Traffic directions at the tc hook. */
enum flow_tc_dir {
	FLOW_TC_INGRESS = 0,
	FLOW_TC_EGRESS = 1,
};

/*
 * The flow key is canonical: (addr[0], port[0]) is the lower of the two endpoints, so both
 * directions of a connection find the same entry with one lookup. Which side started the flow
 * is kept in flow_state.init_side. IPv4 addresses use the first 4 bytes, the rest are zero.
 * Ports are in host byte order. For ICMP echo both ports hold the echo identifier; for other
 * ICMP messages port[0] = type and port[1] = code so errors don't merge with echo flows.
 */
struct flow_key {
	__u8 addr[2][16];
	__u16 port[2];
	__u32 ifindex;
	__u8 proto;    /* IPPROTO_* */
	__u8 family;   /* 4 or 6 */
	__u16 vlan_id; /* outer 802.1Q VLAN id, 0 if untagged */
};
_Static_assert(sizeof(struct flow_key) == 44, "struct flow_key: no implicit padding");

/* The length of a tick when the kernel's tick rate (CONFIG_HZ) is not known to the probe: the
 * ticks are then boot ns >> 20. */
#define FLOW_TICK_SHIFT_FALLBACK 20

/* Per-direction counters: index 0 is initiator -> responder, 1 is the reply direction. */
struct flow_state {
	__u64 first_seen_ns; /* bpf_ktime_get_boot_ns() of the first packet */
	/* The coarse clock (a tick: see FLOW_TICK_NS) at the first and the latest packet, low 32
	 * bits; the latest is written without atomics (monotone enough). The last-seen time is
	 * first_seen_ns + (last_tick - first_tick) ticks, within a tick: the probe reads no
	 * clock source per packet. */
	__u32 first_tick;
	__u32 last_tick;
	__u64 packets[2];
	__u64 bytes[2];	    /* skb->len: L2 frame length as seen at the hook */
	__u32 tcp_flags[2]; /* OR of every flag seen per direction (atomic fetch-or) */
	__u8 init_side;	    /* 0: key endpoint 0 initiated, 1: endpoint 1 did */
	__u8 init_tc_dir;   /* enum flow_tc_dir at which the initiator's packets pass this hook */
	__u8 icmp_type;	    /* of the first ICMP packet in the initiator direction */
	__u8 icmp_code;
	__u32 pad;
};
_Static_assert(sizeof(struct flow_state) == 64, "struct flow_state layout");

/* What a probe writes to the ring. Every record starts with type and version. */
struct flow_record {
	__u16 type;    /* enum flow_rec_type */
	__u16 version; /* FLOW_RECORD_VERSION */
	__u32 events;  /* enum flow_rec_event bits */
	struct flow_key key;
	__u32 pkt_len;		 /* skb->len of the packet that caused the record */
	__u64 ts_ns;		 /* bpf_ktime_get_boot_ns() of that packet */
	struct flow_state state; /* the entry after this packet was counted */
	__u16 pkt_tcp_flags;	 /* flags of this packet */
	__u8 pkt_dir;		 /* 0: initiator -> responder, 1: reply */
	__u8 tc_dir;		 /* enum flow_tc_dir of this packet */
	__u32 cpu;
};
_Static_assert(sizeof(struct flow_record) == 136, "struct flow_record layout");

/* What a TCP socket did (struct flow_sock_record.event). */
enum flow_sock_event {
	FLOW_SOCK_CONNECT = 1,	/* connect(): SYN_SENT, in the connecting process */
	FLOW_SOCK_LISTEN = 2,	/* listen(): in the listening process */
	FLOW_SOCK_ACCEPT = 3,	/* SYN_RECV -> ESTABLISHED: a connection to a listener (softirq) */
	FLOW_SOCK_CLOSE = 4,	/* -> CLOSE: final RTT and retransmits */
	FLOW_SOCK_STATS = 5,	/* sockops: established or retransmitting, current RTT */
	FLOW_SOCK_UNLISTEN = 6, /* a listening socket closed */
};

/* A socket event. Addresses are the socket's own view: l* local, r* remote; ports in host
 * order. pid/comm/cgroup_id are those of the current task and valid only when has_task is
 * set (CONNECT and LISTEN run in the process's syscall). */
struct flow_sock_record {
	__u16 type;    /* FLOW_REC_SOCK */
	__u16 version; /* FLOW_RECORD_VERSION */
	__u32 event;   /* enum flow_sock_event */
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 family;		 /* 4 or 6 */
	__u8 oldstate, newstate; /* TCP_* states (STATS: 0, current state) */
	__u8 has_task;
	__u32 pid; /* thread group id */
	__u32 tid;
	char comm[16];
	__u64 cgroup_id;
	__u64 cookie;  /* socket cookie */
	__u64 ts_ns;   /* bpf_ktime_get_boot_ns() */
	__u32 srtt_us; /* smoothed RTT, microseconds (0: no sample yet) */
	__u32 total_retrans;
	__u32 netns; /* network namespace inode */
	__u32 cpu;
};
_Static_assert(sizeof(struct flow_sock_record) == 112, "struct flow_sock_record layout");

/* A dropped packet. Written for the first drop of a (flow, reason) and then at most once a
 * second per (flow, reason), with the running count, so a flood cannot fill the rings. */
struct flow_drop_record {
	__u16 type; /* FLOW_REC_DROP */
	__u16 version;
	__u32 reason;	     /* enum skb_drop_reason of the running kernel */
	struct flow_key key; /* canonical, ifindex 0 and vlan_id 0: matched to flows by tuple */
	__u8 sender;	     /* key endpoint (0 or 1) that sent the dropped packet */
	__u8 tcp_flags;	     /* of the dropped packet */
	__u8 pad1[2];
	__u32 ifindex; /* skb->dev, 0 if none */
	__u32 pad2;
	__u64 ts_ns;
	__u64 count; /* drops of this flow for this reason so far */
	__u32 cpu;
	__u32 netns;
};
_Static_assert(sizeof(struct flow_drop_record) == 88, "struct flow_drop_record layout");

#define FLOW_DNS_MAX 512 /* DNS payload bytes captured per packet */

/* A UDP or TCP packet to or from port 53: the collector parses the DNS message in user space
 * (names for addresses, and the query's own L7 record). */
struct flow_dns_record {
	__u16 type; /* FLOW_REC_DNS */
	__u16 version;
	__u32 data_len;	     /* bytes in data (at most FLOW_DNS_MAX) */
	struct flow_key key; /* the flow's canonical key, as in TC records */
	__u8 sender;	     /* key endpoint that sent the packet */
	__u8 tc_dir;
	__u8 pad[2];
	__u32 orig_len; /* L4 payload length of the packet */
	__u64 ts_ns;
	__u32 cpu;
	__u32 pad2;
	__u8 data[FLOW_DNS_MAX]; /* L4 payload (TCP: starts with the 2-byte length) */
};
_Static_assert(sizeof(struct flow_dns_record) == 592, "struct flow_dns_record layout");

#endif /* FLOWSCOPE_RECORD_H */
