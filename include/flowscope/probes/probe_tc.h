/* Loader of the TC probe (probes/flow_tc.bpf.c): loads it through its skeleton, creates one
 * ring buffer per possible CPU, attaches to interfaces and detaches everything on close. */
#ifndef FLOWSCOPE_PROBES_PROBE_TC_H
#define FLOWSCOPE_PROBES_PROBE_TC_H

#include <stdint.h>

#include "flowscope/base/errmsg.h"

struct probe_tc;

struct probe_tc_opts {
	uint32_t max_flows;  /* kernel LRU flow map entries; 0: default (262144) */
	uint32_t ring_bytes; /* bytes per per-CPU ring, power of two; 0: default (1 MiB) */
};

/* Loads the probe, and removes what a flowd killed in this network namespace left behind (its
 * filters, the clsact qdiscs it added, its lock files under /run/flowscope; logged). Returns 0
 * or a negative errno with the reason in e. */
int probe_tc_open(struct probe_tc **out, const struct probe_tc_opts *opts, struct errmsg *e);

/* Attaches on clsact ingress and egress of ifname. Returns 0 or a negative errno, with e saying
 * what to do (no such interface, already watched by another flowd, ...). Stale filters left by a
 * flowd that died are replaced (and logged). */
int probe_tc_attach(struct probe_tc *p, const char *ifname, struct errmsg *e);

/* Detaches every filter it attached (removing clsact qdiscs it created, or that the killed
 * flowd it took an interface over from created), removes its lock files and frees p. */
void probe_tc_close(struct probe_tc *p);

/* The per-CPU ring buffer map fds (one per possible CPU); returns their count. */
int probe_tc_ring_fds(const struct probe_tc *p, const int **fds);
/* The LRU hash map struct flow_key -> struct flow_state. */
int probe_tc_flow_map_fd(const struct probe_tc *p);
/* The length in ns of the tick the flow map's last_tick counts (struct flow_state): a jiffy,
 * or 1 << FLOW_TICK_SHIFT_FALLBACK ns when the kernel's tick rate is not known. */
uint32_t probe_tc_tick_ns(const struct probe_tc *p);
/* The program fd of the ingress (egress = 0) or egress program, e.g. for BPF_PROG_TEST_RUN. */
int probe_tc_prog_fd(const struct probe_tc *p, int egress);
/* The ARRAY_OF_MAPS of rings and the per-CPU lost counter, for other probes to share. */
int probe_tc_rings_map_fd(const struct probe_tc *p);
int probe_tc_lost_map_fd(const struct probe_tc *p);
/* Sums the per-CPU ring-full counters into *total; returns 0 or a negative errno. */
int probe_tc_lost(const struct probe_tc *p, uint64_t *total);

#endif /* FLOWSCOPE_PROBES_PROBE_TC_H */
