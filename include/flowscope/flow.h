/* A flow as the collector knows it: decoded from probe records, oriented initiator -> responder,
 * with wall-clock times. This is what the store keeps and the exporters turn into Hubble flows. */
#ifndef FLOWSCOPE_FLOW_H
#define FLOWSCOPE_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

#include "flowscope/record.h"

/* Matches flow.Verdict in proto/flow.proto. */
enum flow_verdict {
	FLOW_VERDICT_UNKNOWN = 0,
	FLOW_VERDICT_FORWARDED = 1,
	FLOW_VERDICT_DROPPED = 2,
};

/* Why a flow was published (extension field flow_event in proto/flow.proto). */
enum flow_event {
	FLOW_EVENT_UNKNOWN = 0,
	FLOW_EVENT_START = 1,	  /* first packet seen */
	FLOW_EVENT_TCP_FLAGS = 2, /* SYN, SYN-ACK, FIN or RST appeared */
	FLOW_EVENT_UPDATE = 3,	  /* counters refreshed by the periodic sweep */
	FLOW_EVENT_END = 4,	  /* idle timeout or closed: final counters */
	FLOW_EVENT_DROP = 5,	  /* the kernel dropped packets of the flow */
	FLOW_EVENT_DNS = 6,	  /* a DNS query or response of the flow was parsed */
};

/* Cilium's trace observation points (its monitor API's Trace* values, the sub type of a trace
 * event): where the packet an event tells of was seen. Flowscope's points are tc hooks; which
 * one an interface is depends on its kind (enum flow_if_kind) and the packet's direction. */
enum flow_obs_point {
	FLOW_OBS_TO_ENDPOINT = 0,   /* host side of a veth, towards the container (tc egress) */
	FLOW_OBS_TO_STACK = 3,	    /* loopback: delivered to the local stack */
	FLOW_OBS_TO_OVERLAY = 4,    /* tunnel device, egress */
	FLOW_OBS_FROM_ENDPOINT = 5, /* host side of a veth, from the container (tc ingress) */
	FLOW_OBS_FROM_STACK = 8,    /* loopback egress: sent by the local stack */
	FLOW_OBS_FROM_OVERLAY = 9,  /* tunnel device, ingress */
	FLOW_OBS_FROM_NETWORK = 10, /* any other device, ingress */
	FLOW_OBS_TO_NETWORK = 11,   /* any other device, egress */
};

/* What a watched interface is, as far as observation points go. */
enum flow_if_kind {
	FLOW_IF_NETWORK = 0,  /* a device to the network (physical, bond, bridge, ...) */
	FLOW_IF_ENDPOINT = 1, /* a veth: the host side of a container's or namespace's link */
	FLOW_IF_LOOPBACK = 2,
	FLOW_IF_OVERLAY = 3, /* vxlan, geneve, gre, ipip and other tunnels */
};

/* Cilium's monitor message types: the type of a flow event (Hubble's event_type.type). */
enum flow_msg_type {
	FLOW_MSG_DROP = 1,  /* sub type: Cilium's drop reason code */
	FLOW_MSG_TRACE = 4, /* sub type: enum flow_obs_point */
	FLOW_MSG_L7 = 129,  /* an L7 record (DNS) */
};

struct identity; /* include/flowscope/enrich/identity.h */

/* The node a flow was observed on, when it is not this one (flows a relay merged). */
struct flow_origin {
	const char *name;
	char *const *labels; /* "key=value" */
	size_t n_labels;
};

struct flow_endpoint {
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;	  /* host order; ICMP: see flow_record.h */
};

/* The local process behind one end of a flow (from the socket probes). Flows point at one
 * record per process, shared: interned by the collector's socket table (a relay's flow: by the
 * relay; a decoded one: by its decoder), kept while flows point at it like the DNS names. */
struct flow_process {
	uint64_t cgroup_id;
	/* From the cgroup's path, NULL if not in a container (never ""). Interned by the
	 * collector's cgroup_names (or as the record is). */
	const char *container_id;
	uint32_t pid;
	char comm[16];
	bool known; /* false only in a record read back that said so (a flow's is NULL instead) */
};

static inline bool flow_proc_known(const struct flow_process *p)
{
	return p && p->known;
}

/* The latest DNS message of a DNS flow (port 53). Names are interned (dns_cache). */
struct flow_dns_info {
	const char *query;
	uint32_t ttl;
	uint16_t qtype;
	uint8_t rcode;
	uint8_t n_ips;
	bool present;
	bool response;
	uint8_t ip_family[4];
	uint8_t ips[4][16];
};

struct flow {
	uint64_t id;		  /* collector-assigned, unique for the life of flowd */
	struct flow_key key;	  /* canonical kernel key: identifies the flow in the map */
	struct flow_endpoint src; /* initiator */
	struct flow_endpoint dst; /* responder */
	uint32_t ifindex;
	uint8_t family; /* 4 or 6 */
	uint8_t proto;	/* IPPROTO_* */
	uint8_t icmp_type, icmp_code;
	uint16_t vlan_id;
	char ifname[IF_NAMESIZE];
	uint8_t traffic_dir; /* enum flow_tc_dir at which the initiator's packets were seen */
	uint8_t if_kind;     /* enum flow_if_kind of ifindex */
	/* A connection crossing several watched interfaces is one flow per interface (one per
	 * observation point); all but the first one seen are copies, which the graph and the
	 * counters leave out so that a connection counts once. */
	bool copy;
	uint8_t verdict; /* enum flow_verdict */
	uint8_t event;	 /* enum flow_event of the latest publication */
	bool ended;
	/* Publication for a reply-direction packet: exporters swap source and destination
	 * and set is_reply. The counters below stay initiator-oriented. */
	bool is_reply;
	uint8_t obs_point; /* of one flow event: enum flow_obs_point where its packet was seen */
	/* In a flow event: the flags of the packet the event tells of (0 for events without a
	 * packet: UPDATE, END). In the store (the per-flow view): every flag seen so far. */
	uint16_t tcp_flags;
	uint16_t tcp_flags_seen[2]; /* union per direction: 0 initiator, 1 reply */
	uint64_t packets[2];	    /* 0: initiator -> responder, 1: responder -> initiator */
	uint64_t bytes[2];
	uint64_t time_ns; /* wall clock (CLOCK_REALTIME, ns) of the event */
	/* Of one flow event (the store's flow has those of its latest event; obs_point above): */
	uint8_t uuid[16];	/* unique per event: the collector's random id, then seq */
	uint64_t seq;		/* the collector's event number (1, 2, ...) */
	uint64_t first_seen_ns; /* wall clock */
	uint64_t last_seen_ns;	/* wall clock */
	uint64_t end_ns;	/* wall clock, when ended */
	/* From the socket probes, when an end of the flow is a local TCP socket. */
	const struct flow_process *src_proc,
		*dst_proc; /* initiator's, responder's; NULL: unknown */
	uint32_t rtt_us;   /* smoothed RTT of the local socket (0: unknown) */
	uint32_t retransmits;
	uint64_t socket_cookie;
	uint64_t sock_closed_ns; /* boot ns when the local socket(s) closed, 0 while open */
	/* From the drop probe: the latest drop reason (kernel enum skb_drop_reason) and how many
	 * packets of the flow were dropped for it. A DROP event's verdict is DROPPED; other
	 * events are FORWARDED; the store's flow is DROPPED once a drop was seen. */
	uint32_t drop_reason;
	uint64_t drops;
	/* DNS names of the source and destination addresses (interned, NULL if unknown) and,
	 * for a DNS flow, its latest message. */
	const char *src_name, *dst_name;
	struct flow_dns_info dns;
	/* Of a flow another node observed (the relay): that node, and its ends' identities as it
	 * told them (NULL: this node's, looked up in the identity table in force). Owned by the
	 * relay, valid for its life. late: released after a later event of another node. */
	const struct flow_origin *origin;
	const struct identity *src_id, *dst_id;
	/* Collector bookkeeping, not exported; and late (see origin), last to take no padding. */
	uint64_t first_seen_boot_ns; /* the kernel entry's own first_seen: identifies it */
	uint64_t sweep_gen;	     /* last kernel map sweep that found the flow */
	uint64_t published_ns;	     /* wall clock of the latest publication */
	bool started;		     /* its START event was published */
	bool late;
};

#endif /* FLOWSCOPE_FLOW_H */
