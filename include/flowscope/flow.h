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

struct flow_endpoint {
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;	  /* host order; ICMP: see flow_record.h */
};

/* The local process behind one end of a flow (from the socket probes). */
struct flow_process {
	bool known;
	uint32_t pid;
	char comm[16];
	uint64_t cgroup_id;
	char container_id[65]; /* from the cgroup's path, "" if not in a container */
};

/* The latest DNS message of a DNS flow (port 53). Names are interned (dns_cache). */
struct flow_dns_info {
	bool present;
	bool response;
	const char *query;
	uint16_t qtype;
	uint8_t rcode;
	uint8_t n_ips;
	uint8_t ip_family[4];
	uint8_t ips[4][16];
	uint32_t ttl;
};

struct flow {
	uint64_t id;		  /* collector-assigned, unique for the life of flowd */
	struct flow_key key;	  /* canonical kernel key: identifies the flow in the map */
	struct flow_endpoint src; /* initiator */
	struct flow_endpoint dst; /* responder */
	uint8_t family;		  /* 4 or 6 */
	uint8_t proto;		  /* IPPROTO_* */
	uint8_t icmp_type, icmp_code;
	uint16_t vlan_id;
	uint32_t ifindex;
	char ifname[IF_NAMESIZE];
	uint8_t traffic_dir; /* enum flow_tc_dir at which the initiator's packets were seen */
	uint8_t verdict;     /* enum flow_verdict */
	uint8_t event;	     /* enum flow_event of the latest publication */
	bool ended;
	/* Publication for a reply-direction packet: exporters swap source and destination
	 * and set is_reply. The counters below stay initiator-oriented. */
	bool is_reply;
	uint16_t tcp_flags; /* flags of the packet that caused the event (or union, see below) */
	uint16_t tcp_flags_seen[2]; /* union per direction: 0 initiator, 1 reply */
	uint64_t packets[2];	    /* 0: initiator -> responder, 1: responder -> initiator */
	uint64_t bytes[2];
	uint64_t time_ns;	/* wall clock (CLOCK_REALTIME, ns) of the event */
	uint64_t first_seen_ns; /* wall clock */
	uint64_t last_seen_ns;	/* wall clock */
	uint64_t end_ns;	/* wall clock, when ended */
	/* From the socket probes, when an end of the flow is a local TCP socket. */
	struct flow_process src_proc, dst_proc; /* initiator's and responder's process */
	uint32_t rtt_us;			/* smoothed RTT of the local socket (0: unknown) */
	uint32_t retransmits;
	uint64_t socket_cookie;
	uint64_t sock_closed_ns; /* boot ns when the local socket(s) closed, 0 while open */
	/* From the drop probe: the latest drop reason (kernel enum skb_drop_reason) and how many
	 * packets of the flow were dropped for it. verdict is DROPPED once a drop was seen. */
	uint32_t drop_reason;
	uint64_t drops;
	/* DNS names of the source and destination addresses (interned, NULL if unknown) and,
	 * for a DNS flow, its latest message. */
	const char *src_name, *dst_name;
	struct flow_dns_info dns;
	/* Collector bookkeeping, not exported. */
	uint64_t first_seen_boot_ns; /* the kernel entry's own first_seen: identifies it */
	uint64_t sweep_gen;	     /* last kernel map sweep that found the flow */
	uint64_t published_ns;	     /* wall clock of the latest publication */
	bool started;		     /* its START event was published */
};

#endif /* FLOWSCOPE_FLOW_H */
