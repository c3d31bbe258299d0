/* Loader of the socket probes (probes/flow_sock.bpf.c): the TCP state tracepoint and cgroup
 * sockops on the cgroup2 root. They write into the TC probe's per-CPU rings. */
#ifndef FLOWSCOPE_PROBES_PROBE_SOCK_H
#define FLOWSCOPE_PROBES_PROBE_SOCK_H

#include "flowscope/probes/probe_tc.h"

struct probe_sock;

/* Loads the probes sharing tc's rings and lost counter, and attaches them: the tracepoints,
 * and sockops on the cgroup2 hierarchy's root (found in /proc/mounts; without it, a warning is
 * logged and the rest works). Returns 0 or a negative errno with the reason in e. */
int probe_sock_open(struct probe_sock **out, const struct probe_tc *tc, struct errmsg *e);
/* Detaches and frees. */
void probe_sock_close(struct probe_sock *p);

#endif /* FLOWSCOPE_PROBES_PROBE_SOCK_H */
