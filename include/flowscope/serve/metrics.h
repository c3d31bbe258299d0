/* Prometheus metrics (text exposition format 0.0.4) for GET /metrics from a status snapshot:
 * Hubble's metric names where Hubble has one (hubble_flows_processed_total, hubble_drop_total,
 * hubble_tcp_flags_total, hubble_lost_events_total), flowscope_* for the rest (store, kernel map,
 * rings, followers, caches, graph, identities, exporters). */
#ifndef FLOWSCOPE_SERVE_METRICS_H
#define FLOWSCOPE_SERVE_METRICS_H

#include "flowscope/base/buf.h"
#include "flowscope/serve/status.h"

/* Appends every metric of st. Returns 0 or -ENOMEM. */
int metrics_write(struct buf *out, const struct status *st);

#endif /* FLOWSCOPE_SERVE_METRICS_H */
