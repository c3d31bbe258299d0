/* The collector's core: decoded ring records and sweeps of the kernel flow map become flows in
 * the store and flow events on the bus, enriched on the way (sockets, DNS names). It owns its
 * counters; everyone else reads them with collector_get_stats(). One per flowd, on one loop. */
#ifndef FLOWSCOPE_PIPELINE_COLLECTOR_H
#define FLOWSCOPE_PIPELINE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/clock.h"
#include "flowscope/enrich/cgroup_path.h"
#include "flowscope/enrich/dns_cache.h"
#include "flowscope/enrich/dns_match.h"
#include "flowscope/enrich/sock_table.h"
#include "flowscope/pipeline/event_log.h"
#include "flowscope/pipeline/flow_bus.h"
#include "flowscope/pipeline/flow_store.h"

struct collector;

struct collector_opts {
	struct flow_store *store; /* where flows are kept (required) */
	struct flow_bus *bus;	  /* where flow events go (required) */
	struct event_log *events; /* where flow events are kept for replays (NULL: nowhere) */
	const char *node_name;	  /* copied; NULL: "" */
	/* Enrichment; each NULL when absent. */
	struct sock_table *socks;     /* local TCP sockets: processes, RTT, retransmits */
	struct cgroup_names *cgroups; /* cgroup ids to container ids */
	struct dns_cache *dns;	      /* names learned from DNS answers; its holders are set to
				       * this collector's store and event log */
	uint64_t
		dns_query_timeout_ns; /* an answer is believed this long after its query; 0: 10 s */
	size_t dns_max_pending;	      /* queries waiting for an answer; 0: 65,536 */
	uint64_t idle_timeout_ns;     /* UDP, ICMP, other and closed TCP flows; 0: 30 s */
	uint64_t tcp_idle_timeout_ns; /* open TCP flows; 0: 5 min */
	uint64_t update_interval_ns;  /* republish a changed active flow at most this often;
				       * 0: 10 s (use 1 for "every sweep") */
	uint64_t close_grace_ns;      /* a flow whose sockets closed ends this long after; 0: 2 s */
};

/* Counters behind the status and /metrics. */
enum {
	METRIC_PROTO_TCP,
	METRIC_PROTO_UDP,
	METRIC_PROTO_ICMPV4,
	METRIC_PROTO_ICMPV6,
	METRIC_PROTO_SCTP,
	METRIC_PROTO_OTHER,
	METRIC_PROTOS
};

struct collector_stats {
	uint64_t records;		  /* ring records read */
	uint64_t sock_records;		  /* of which from the socket probes */
	uint64_t drop_records;		  /* of which drops */
	uint64_t drops_untracked;	  /* drop records that matched no flow we hold */
	uint64_t dns_records;		  /* DNS payloads read */
	uint64_t dns_errors;		  /* of which were not well-formed DNS messages */
	struct dns_match_stats dns_match; /* answers matched to queries (with a DNS cache) */
	uint64_t decode_errors;		  /* records rejected by the decoder */
	uint64_t flows_published;	  /* flow events handed to the bus */
	uint64_t sweeps;		  /* kernel map sweeps done */
	uint64_t last_sweep_entries;	  /* kernel flow map entries seen by the latest sweep */
	uint64_t last_sweep_untracked;	  /* of which it left untracked: no room in the store but
					   * for an active flow's */
	/* Flow events published: [L3_L4 or L7][verdict FORWARDED/DROPPED][protocol]. */
	uint64_t flows[2][2][METRIC_PROTOS];
	uint64_t tcp_flags[9][2];	    /* events carrying each flag (FIN..NS), [IPv4, IPv6] */
	uint64_t drops[256][METRIC_PROTOS]; /* dropped packets by kernel reason (255: others) */
};

/* Returns a collector, or NULL with errno set (EINVAL without store or bus, ENOMEM). With a DNS
 * cache, names are learned only from answers to queries seen (enrich/dns_match.h). */
struct collector *collector_new(const struct collector_opts *o);
void collector_free(struct collector *c);

/* The length of the TC probe's tick (probe_tc_tick_ns), once the probe is loaded: kernel
 * entries count their last-seen time in it. Until set, the probe's fallback tick. */
void collector_set_tick_ns(struct collector *c, uint32_t tick_ns);

/* Handles one ring record: decodes it, starts or updates the flow in the store and publishes
 * it. Returns 0 or the decoder's negative errno (counted in decode_errors). */
int collector_handle_record(struct collector *c, const void *data, size_t len);
/* A record that collector_handle_record() will get shortly (ring_reader_set_prefetch): starts
 * loading the store's memory it will touch. Reads only the record's type and key. */
void collector_prefetch_record(struct collector *c, const void *data, size_t len);

/* One event another node observed (a relay's input, decoded: flow_pb_decode.h), with its
 * origin, identities and uuid set and a key that tells its node and interface apart: starts
 * or updates the flow in the store (a connection first seen on another node is a copy) and
 * publishes the event, keeping its uuid. Returns 0 or -ENOMEM. */
int collector_handle_remote(struct collector *c, const struct flow *ev);

/* Reads every entry of the kernel flow map (fd): refreshes counters of stored flows,
 * republishes changed ones at most every update interval, ends flows idle past their timeout
 * (deleting them from the map) and flows the kernel map no longer holds. Returns the number
 * of flows ended, or a negative errno. */
int collector_sweep(struct collector *c, int map_fd);

/* Ends every active flow now (flowd stopping: exporters get each flow's final counters).
 * Returns the number of flows ended. */
int collector_end_all(struct collector *c);

void collector_get_stats(const struct collector *c, struct collector_stats *st);
struct flow_store *collector_store(const struct collector *c);
struct flow_bus *collector_bus(const struct collector *c);
const char *collector_node_name(const struct collector *c);
/* Wall-clock time the collector was made. */
uint64_t collector_start_ns(const struct collector *c);
/* The boot-to-wall offset the collector stamps flows with (refreshed at every sweep). */
const struct clock_offset *collector_clock(const struct collector *c);

#endif /* FLOWSCOPE_PIPELINE_COLLECTOR_H */
