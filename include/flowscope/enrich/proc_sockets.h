/* The /proc scanner: the sockets that exist in every network namespace of the host and the
 * processes that hold them, for what the socket probes cannot tell (sockets older than flowd,
 * UDP). For each distinct namespace (the inode of /proc/PID/ns/net) the tables of one of its
 * processes are read (/proc/PID/net/tcp, tcp6, udp, udp6) with its local addresses (fib_trie,
 * if_inet6); socket inodes are mapped to processes through /proc/PID/fd ("socket:[INODE]"),
 * with comm and the cgroup2 id (the inode of the cgroup's directory, as
 * bpf_get_current_cgroup_id gives it) so container ids come out as for probe-seen sockets.
 * Listeners, connections and bound UDP sockets are fed into the socket table (sock_table.h),
 * which keeps what the probes told. Only sockets the table does not know yet have their holder
 * looked for in the fds. Synchronous and bounded: at most max_procs processes, max_fds fds and
 * max_sockets sockets per scan. */
#ifndef FLOWSCOPE_ENRICH_PROC_SOCKETS_H
#define FLOWSCOPE_ENRICH_PROC_SOCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flowscope/enrich/cgroup_path.h"
#include "flowscope/enrich/sock_table.h"

struct proc_sockets_opts {
	const char *proc;   /* procfs root; NULL: "/proc" */
	int cgroup_root_fd; /* the cgroup2 root; < 0: cgroup ids are 0 */
	size_t max_procs;   /* 0: 65536 */
	size_t max_fds;	    /* 0: 1048576 */
	size_t max_sockets; /* 0: 262144 */
	uint64_t now_ns;    /* boot ns the found sockets are stamped with; 0: now */
	unsigned int what;  /* SOCK_SCAN_* tables to read; 0: all */
};

struct proc_sockets_stats {
	uint64_t procs;	    /* processes read */
	uint64_t fds;	    /* their fds looked at */
	uint64_t netns;	    /* distinct network namespaces whose tables were read */
	uint64_t sockets;   /* sockets in those tables (listening, connected, UDP) */
	uint64_t known;	    /* of which the table knew already (no process looked up) */
	uint64_t held;	    /* of the others, how many a process holds (given to the table) */
	uint64_t new_names; /* of which the table had no process for */
	uint64_t addrs;	    /* local addresses found */
	uint64_t elapsed_ns;
	bool truncated; /* a limit was reached: what was not read is not forgotten either */
};

/* One scan into t. st (may be NULL) gets what it cost. Returns 0 or a negative errno (the proc
 * root cannot be read: nothing changed). */
int proc_sockets_scan(struct sock_table *t, const struct proc_sockets_opts *o,
		      struct proc_sockets_stats *st);

/* What flowd calls: a scan of /proc with cgroup ids through cn (NULL: none) when force is set
 * (once, after the probes are attached: every table) or when the table says one is due
 * (sock_table_scan_due: asked for by flow ends it could not name, rate-limited; only the tables
 * of the protocols asked for, since reading a namespace's TCP tables walks the kernel's whole
 * established hash). Logs the first scan's cost and any truncation. Returns 1 if it scanned, 0
 * if not due, or a negative errno. */
int proc_sockets_refresh(struct sock_table *t, struct cgroup_names *cn, bool force,
			 struct proc_sockets_stats *st);

/* ---- the parsers, for the tests ------------------------------------------------------------ */

/* One socket line of /proc/net/{tcp,tcp6,udp,udp6}. Addresses as on the wire (the kernel
 * prints each 32-bit word in host order), ports in host order, state as the kernel's TCP_*
 * (UDP: 7 unconnected, 1 connected). */
struct proc_sock_line {
	uint8_t family; /* 4 or 6 */
	uint8_t state;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	uint64_t inode; /* 0: no socket file (TIME_WAIT, request sockets) */
};

/* Parses one line (family from the file's name). Returns 0, or -EINVAL for the header line
 * and anything malformed. */
int proc_sockets_parse_line(const char *line, uint8_t family, struct proc_sock_line *out);

/* Calls cb for each local IPv4 address ("/32 host LOCAL") of a fib_trie text, reading at
 * most max_bytes. Returns the number of addresses, or -E2BIG if max_bytes was reached. */
int proc_sockets_read_fib_trie(FILE *f, size_t max_bytes,
			       void (*cb)(void *ctx, const uint8_t addr[16]), void *ctx);

/* The address of one /proc/net/if_inet6 line. Returns 0 or -EINVAL. */
int proc_sockets_parse_if_inet6(const char *line, uint8_t addr[16]);

/* The cgroup2 path ("0::/path" line) of a /proc/PID/cgroup text into path. Returns 0, or
 * -ENOENT when the process is in no cgroup2 hierarchy. */
int proc_sockets_cgroup2_path(FILE *f, char *path, size_t len);

/* The inode of a "net:[4026531840]" or "socket:[1234]" link text with that prefix, else 0. */
uint64_t proc_sockets_link_inode(const char *link, const char *prefix);

#endif /* FLOWSCOPE_ENRICH_PROC_SOCKETS_H */
