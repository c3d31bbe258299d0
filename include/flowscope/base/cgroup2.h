/* The cgroup2 hierarchy's root, which the socket probes attach sockops to and the enricher
 * names containers from. */
#ifndef FLOWSCOPE_BASE_CGROUP2_H
#define FLOWSCOPE_BASE_CGROUP2_H

#include <stddef.h>

/* An open fd (O_DIRECTORY) of the cgroup2 root, found in /proc/self/mounts. Without a visible
 * mount (under `ip netns exec` /sys is remounted and hides it), cgroup2 is mounted on a private
 * directory just long enough to open its root: the fd outlives the mount. where (may be NULL)
 * says which. Returns the fd or a negative errno. */
int cgroup2_root_open(char *where, size_t len);

#endif /* FLOWSCOPE_BASE_CGROUP2_H */
