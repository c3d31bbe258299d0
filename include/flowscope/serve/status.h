/* One status snapshot of a flowd: every counter the collector, its enrichment, the probes, the
 * followers and the exporters keep, read in one place, so that ServerStatus, /api/v1/status and
 * /metrics report the same numbers and no server touches the state behind them. */
#ifndef FLOWSCOPE_SERVE_STATUS_H
#define FLOWSCOPE_SERVE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/msg_queue.h"
#include "flowscope/enrich/dns_cache.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/enrich/sock_table.h"
#include "flowscope/exporters/exporter.h"
#include "flowscope/graph/graph.h"
#include "flowscope/history/history.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/probes/probe_sock.h"
#include "flowscope/probes/probe_tc.h"
#include "flowscope/probes/ring_reader.h"
#include "flowscope/serve/follower.h"

#define STATUS_MAX_EXPORTERS 8
#define STATUS_MAX_IGNORED 128 /* kernel drop reasons that are not losses (about 40 today) */

/* What a snapshot is taken of; every member but col and followers may be NULL (not running). */
struct status_src {
	const struct collector *col;
	const struct follower_hub *followers;
	const struct sock_table *socks;
	const struct dns_cache *dns;
	const struct graph *graph;
	const struct probe_tc *probe;  /* the ring-full counters */
	const struct probe_sock *sock; /* the drop probe's ignored frees */
	struct ring_reader *reader;    /* the rings' fill */
	const struct exporter_set *exporters;
	const struct history *history;
	const struct msg_queue_budget *follow_budget; /* what streaming clients hold together */
};

struct status {
	uint64_t now_ns, uptime_ns;
	const char *node_name;
	struct flow_store_stats store;
	uint64_t store_capacity;
	struct collector_stats col;
	bool have_lost;
	uint64_t lost_records; /* ring records the kernel could not write (rings full) */
	bool have_rings;
	uint64_t ring_pending, ring_capacity;
	unsigned int bus_subscribers;
	struct follower_hub_stats followers;
	uint64_t follow_bytes, follow_bytes_max; /* queued for streaming clients, and the bound */
	const struct follower_hub *hub;		 /* for the per-follower listing of /metrics */
	bool have_socks, have_dns, have_graph;
	struct sock_table_stats socks;
	struct dns_cache_stats dns;
	struct graph_stats graph;
	struct identities_stats identities;
	/* Frees the drop probe did not report because they lose nothing, per kernel reason. */
	bool have_ignored;
	size_t n_ignored;
	struct probe_sock_ignored ignored[STATUS_MAX_IGNORED];
	bool have_history;
	struct history_stats history;
	size_t n_exporters;
	struct {
		const char *name;
		struct exporter_stats st;
	} exporters[STATUS_MAX_EXPORTERS];
};

void status_collect(const struct status_src *src, struct status *st);

#endif /* FLOWSCOPE_SERVE_STATUS_H */
