/* Prometheus metrics (text exposition format 0.0.4) for GET /metrics: Hubble's metric names
 * where Hubble has one (hubble_flows_processed_total, hubble_drop_total, hubble_tcp_flags_total,
 * hubble_lost_events_total), flowscope_* for the rest (store, kernel map, rings, followers,
 * caches, graph, exporters). */
#ifndef FLOWSCOPE_METRICS_H
#define FLOWSCOPE_METRICS_H

#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/pipeline/collector.h"

/* An exporter's counters, reported with its name (set by flowd for each exporter it runs). */
struct metrics_exporter {
	const char *name;
	uint64_t written, dropped, filtered, errors, queued_bytes;
};

/* Appends every metric. exporters may be NULL. Returns 0 or a negative errno. */
int metrics_write(struct buf *out, struct collector *c, uint64_t now_wall_ns,
		  const struct metrics_exporter *exporters, int n_exporters);

#endif /* FLOWSCOPE_METRICS_H */
