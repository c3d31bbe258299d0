/* Loader of the socket probes (probes/flow_sock.bpf.c): the TCP state tracepoint, cgroup sockops
 * on the cgroup2 root and the drop tracepoint. They write into the TC probe's per-CPU rings. */
#ifndef FLOWSCOPE_PROBES_PROBE_SOCK_H
#define FLOWSCOPE_PROBES_PROBE_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/probes/probe_tc.h"

struct probe_sock;

/* Whether a kernel drop reason (an enum skb_drop_reason value of the running kernel) is a packet
 * really lost. The drop probe reports those; the others it only counts, per reason. */
typedef bool (*probe_sock_is_loss_fn)(uint32_t reason);

/* Frees of one reason the drop probe counted instead of reporting. */
struct probe_sock_ignored {
	uint32_t reason; /* enum skb_drop_reason value */
	uint64_t count;	 /* since the probe was loaded, summed over CPUs */
};

/* Loads the probes sharing tc's rings and lost counter, tells the drop probe which reasons are
 * losses (is_loss, asked for every reason value the probe can tell apart, before it attaches;
 * NULL: every reason is), and attaches them: the tracepoints, and sockops on the cgroup2
 * hierarchy's root (found in /proc/mounts; without it, a warning is logged and the rest works).
 * Returns 0 or a negative errno with the reason in e. */
int probe_sock_open(struct probe_sock **out, const struct probe_tc *tc,
		    probe_sock_is_loss_fn is_loss, struct errmsg *e);

/* The counts of the frees the drop probe ignored, one entry per reason is_loss said is no loss
 * (zero counts included), in reason order: fills up to n entries of out and returns how many
 * there are (which may be more than n), or a negative errno. */
int probe_sock_ignored(const struct probe_sock *p, struct probe_sock_ignored *out, size_t n);

/* Detaches and frees. */
void probe_sock_close(struct probe_sock *p);

#endif /* FLOWSCOPE_PROBES_PROBE_SOCK_H */
