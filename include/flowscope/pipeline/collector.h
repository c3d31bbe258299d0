/* The collector's state shared with the exporters: one per flowd, living on the one loop. */
#ifndef FLOWSCOPE_COLLECTOR_H
#define FLOWSCOPE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flowscope/pipeline/flow_bus.h"
#include "flowscope/enrich/dns_cache.h"
#include "flowscope/pipeline/flow_decode.h"
#include "flowscope/pipeline/flow_store.h"
#include "flowscope/enrich/sock_table.h"

/* Counters behind GET /metrics, kept as flows are published. */
enum {
	METRIC_PROTO_TCP,
	METRIC_PROTO_UDP,
	METRIC_PROTO_ICMPV4,
	METRIC_PROTO_ICMPV6,
	METRIC_PROTO_SCTP,
	METRIC_PROTO_OTHER,
	METRIC_PROTOS
};

struct collector_metrics {
	/* Flow events published: [L3_L4 or L7][verdict FORWARDED/DROPPED][protocol]. */
	uint64_t flows[2][2][METRIC_PROTOS];
	uint64_t tcp_flags[9][2];	    /* events carrying each flag (FIN..NS), [IPv4, IPv6] */
	uint64_t drops[256][METRIC_PROTOS]; /* dropped packets by kernel reason (255: others) */
	uint64_t follower_lost_grpc, follower_lost_http; /* flows followers could not take */
	uint64_t last_sweep_entries; /* kernel flow map entries seen by the latest sweep */
};

struct collector_stats {
	uint64_t records;	   /* ring records read */
	uint64_t sock_records;	   /* of which from the socket probes */
	uint64_t drop_records;	   /* of which drops */
	uint64_t drops_untracked;  /* drop records that matched no flow we hold */
	uint64_t dns_records;	   /* DNS payloads read */
	uint64_t dns_errors;	   /* of which were not well-formed DNS messages */
	uint64_t identity_reloads; /* identity file reloads that took effect */
	uint64_t identity_errors;  /* reloads refused (the previous table stayed) */
	uint64_t decode_errors;	   /* records rejected by the decoder */
	uint64_t flows_published;  /* flow events handed to the bus */
	uint64_t sweeps;	   /* kernel map sweeps done */
};

struct collector_config {
	uint64_t idle_timeout_ns;     /* UDP, ICMP, other and closed TCP flows; default 30 s */
	uint64_t tcp_idle_timeout_ns; /* open TCP flows; default 5 min */
	uint64_t update_interval_ns;  /* republish a changed active flow at most this often */
};

struct collector {
	uv_loop_t *loop;
	struct flow_store *store;
	struct flow_bus *bus;
	char node_name[256];
	uint64_t start_wall_ns; /* CLOCK_REALTIME when flowd started */
	struct collector_stats stats;
	struct collector_metrics metrics;
	struct collector_config cfg;
	struct flow_clock clock;
	uint64_t sweep_gen;
	/* Reads the per-CPU ring-full counters from the kernel; NULL when no probe is loaded. */
	int (*lost_records)(struct collector *c, uint64_t *lost);
	void *probe; /* the loaded probe set, for lost_records */
	/* Bytes waiting in the rings and their total size; NULL when unknown. */
	int (*ring_usage)(struct collector *c, uint64_t *pending, uint64_t *capacity);
	void *reader;
	/* Local TCP sockets from the socket probes; NULL when they are not loaded. */
	struct sock_table *socks;
	int cgroup_root_fd; /* the cgroup2 root, to find containers by cgroup id; -1: none */
	/* Names learned from DNS answers; NULL: no names. */
	struct dns_cache *dns;
	/* The service dependency graph (fed from the bus); NULL: none. */
	struct graph *graph;
	uint64_t close_grace_ns; /* a flow whose sockets closed ends this long after; 2 s */
	/* Interfaces flows were seen on: drop records carry no usable ifindex, they are
	 * matched to the flow of the same tuple on each of these. */
	uint32_t ifindexes[64];
	struct {
		uint32_t ifindex;
		char name[IF_NAMESIZE];
		uint64_t at; /* boot ns of the lookup */
	} ifnames[64];
	unsigned int n_ifindexes;
};

/* Sets defaults; the caller then creates store and bus and fills loop and node_name. */
void collector_init(struct collector *c);

/* Handles one ring record: decodes it, starts or updates the flow in the store and publishes
 * it. Returns 0 or the decoder's negative errno (counted in stats.decode_errors). */
int collector_handle_record(struct collector *c, const void *data, size_t len);

/* Reads every entry of the kernel flow map (fd): refreshes counters of stored flows,
 * republishes changed ones at most every update_interval, ends flows idle past their timeout
 * (deleting them from the map) and flows the kernel map no longer holds. Returns the number
 * of flows ended, or a negative errno. */
int collector_sweep(struct collector *c, int map_fd);

/* Ends every active flow now (flowd stopping: exporters get each flow's final counters).
 * Returns the number of flows ended. */
int collector_end_all(struct collector *c);

#endif /* FLOWSCOPE_COLLECTOR_H */
