/* The collector's state shared with the exporters: one per flowd, living on the one loop. */
#ifndef FLOWSCOPE_COLLECTOR_H
#define FLOWSCOPE_COLLECTOR_H

#include <stdint.h>
#include <uv.h>

#include "flowscope/flow_bus.h"
#include "flowscope/flow_store.h"

struct collector_stats {
	uint64_t records; /* ring records read */
	uint64_t decode_errors; /* records rejected by the decoder */
	uint64_t flows_published; /* flow events handed to the bus */
	uint64_t sweeps; /* kernel map sweeps done */
};

struct collector {
	uv_loop_t *loop;
	struct flow_store *store;
	struct flow_bus *bus;
	char node_name[256];
	uint64_t start_wall_ns; /* CLOCK_REALTIME when flowd started */
	struct collector_stats stats;
	/* Reads the per-CPU ring-full counters from the kernel; NULL when no probe is loaded. */
	int (*lost_records)(struct collector *c, uint64_t *lost);
	void *probe; /* the loaded probe set, for lost_records */
};

#endif /* FLOWSCOPE_COLLECTOR_H */
