/* The status snapshot (see include/flowscope/serve/status.h). */
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/serve/status.h"

void status_collect(const struct status_src *src, struct status *st)
{
	const struct collector *c = src->col;
	size_t i;
	int n;

	memset(st, 0, sizeof(*st));
	st->now_ns = clock_wall_ns();
	st->uptime_ns = st->now_ns > collector_start_ns(c) ? st->now_ns - collector_start_ns(c) : 0;
	st->node_name = collector_node_name(c);
	flow_store_get_stats(collector_store(c), &st->store);
	st->store_capacity = flow_store_capacity(collector_store(c));
	collector_get_stats(c, &st->col);
	st->have_lost = src->probe && !probe_tc_lost(src->probe, &st->lost_records);
	st->have_rings = src->reader &&
			 !ring_reader_usage(src->reader, &st->ring_pending, &st->ring_capacity);
	st->bus_subscribers = flow_bus_count(collector_bus(c));
	follower_hub_get_stats(src->followers, &st->followers);
	st->hub = src->followers;
	if (src->follow_budget) {
		st->follow_bytes = src->follow_budget->used;
		st->follow_bytes_max = src->follow_budget->max;
	}
	if ((st->have_socks = src->socks))
		sock_table_get_stats(src->socks, &st->socks);
	if ((st->have_dns = src->dns))
		dns_cache_get_stats(src->dns, &st->dns);
	if ((st->have_graph = src->graph))
		graph_get_stats(src->graph, &st->graph);
	identities_get_stats(&st->identities);
	if ((st->have_history = src->history))
		history_get_stats(src->history, &st->history);
	if (src->sock) {
		n = probe_sock_ignored(src->sock, st->ignored, STATUS_MAX_IGNORED);
		st->have_ignored = n >= 0;
		st->n_ignored = n < 0 ? 0 : n < STATUS_MAX_IGNORED ? (size_t)n : STATUS_MAX_IGNORED;
	}
	for (i = 0;
	     src->exporters && i < exporter_set_count(src->exporters) && i < STATUS_MAX_EXPORTERS;
	     i++)
		st->exporters[i].name = exporter_set_stats(src->exporters, i, &st->exporters[i].st);
	st->n_exporters = i;
}
