/* Loader of the socket probes (probes/flow_sock.bpf.c): the TCP state tracepoint and cgroup
 * sockops on the cgroup2 root. They write into the TC probe's per-CPU rings. */
#ifndef FLOWSCOPE_PROBE_SOCK_H
#define FLOWSCOPE_PROBE_SOCK_H

#include "flowscope/probes/probe_tc.h"

struct probe_sock;

/* Loads the probes sharing tc's rings and lost counter, and attaches them: the tracepoint,
 * and sockops on the cgroup2 hierarchy's root (found in /proc/mounts). Returns 0 or a
 * negative errno with a message on stderr. */
int probe_sock_open(struct probe_sock **out, const struct probe_tc *tc);
/* The cgroup2 root the sockops program is attached to (an open fd), or -1. */
int probe_sock_cgroup_fd(const struct probe_sock *p);
/* Detaches and frees. */
void probe_sock_close(struct probe_sock *p);
/* The cgroup2 mount point (e.g. /sys/fs/cgroup/unified), or NULL if there is none. */
const char *probe_sock_cgroup2_root(void);

#endif /* FLOWSCOPE_PROBE_SOCK_H */
