/* What is known about the local sockets of every network namespace of the host: which process
 * owns a TCP connection, its RTT and retransmits, when it closed (the socket probes), and what
 * the /proc scanner (proc_sockets.h) found: sockets older than flowd, TCP listeners and bound UDP
 * sockets, and which addresses belong to which namespace. Connections are indexed by socket
 * cookie and by 4-tuple, listeners and UDP sockets by (netns, family, port, address), so that
 * flows, which know only addresses and ports, can be joined to their sockets (sock_join.h). */
#ifndef FLOWSCOPE_ENRICH_SOCK_TABLE_H
#define FLOWSCOPE_ENRICH_SOCK_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"
#include "flowscope/record.h"

/* Sockets found in /proc have no cookie: theirs is this bit or'ed with the socket's inode. */
#define SOCK_SCAN_COOKIE (1ULL << 63)

struct sock_info {
	uint64_t cookie;
	uint8_t family; /* 4 or 6; an IPv6 socket of a v4-mapped connection is kept as IPv4 */
	uint8_t proto;	/* IPPROTO_TCP, IPPROTO_UDP (bound UDP sockets) */
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	bool tuple_known; /* a connecting socket has no local port until it is established */
	bool has_task;
	bool from_scan; /* found in /proc, not told by the probes */
	uint32_t netns; /* network namespace inode, 0 if unknown */
	uint64_t inode; /* scanned: the socket's inode (0: told by the probes) */
	uint32_t pid;
	char comm[16];
	uint64_t cgroup_id;
	uint32_t srtt_us;
	uint32_t retrans;
	uint64_t closed_ns;  /* boot ns of the close, 0 while open */
	uint64_t updated_ns; /* boot ns of the latest record (scanned: of the scan that found it) */
};

struct sock_table_stats {
	uint64_t sockets; /* TCP connections held now */
	uint64_t listeners;
	uint64_t udp;	    /* bound UDP sockets held now (found by the scanner) */
	uint64_t scanned;   /* of sockets + listeners + udp: how many came from /proc */
	uint64_t full;	    /* records or scanned sockets not kept because the table was full */
	uint64_t scans;	    /* /proc scans fed in */
	uint64_t asks;	    /* flow ends that could not be named (sock_table_ask_scan) */
	uint64_t processes; /* process records flows point at, kept now */
	uint64_t processes_full; /* not kept: the table was full of records in use */
};

struct sock_table;

/* max: connections kept at most (closed ones are expired by sock_table_expire), and as many
 * listeners plus UDP sockets. */
struct sock_table *sock_table_new(size_t max);
void sock_table_free(struct sock_table *t);

/* Applies one socket record. Returns the socket it concerns (NULL if not kept). A LISTEN is
 * kept under its own netns, an ACCEPT takes the process of the listener of its netns. A probe's
 * record always wins over what a scan found for the same socket. */
const struct sock_info *sock_table_handle(struct sock_table *t, const struct flow_sock_record *r);

/* The TCP socket whose local end is (laddr, lport) and remote end (raddr, rport), or NULL.
 * Sockets of several namespaces can have the same tuple (every namespace has its own
 * 127.0.0.1): one of netns (0: unknown) is preferred, then the newest (latest record). */
const struct sock_info *sock_table_find_ns(const struct sock_table *t, uint32_t netns,
					   uint8_t family, const uint8_t laddr[16], uint16_t lport,
					   const uint8_t raddr[16], uint16_t rport);
/* The same with no namespace preference: the newest. */
const struct sock_info *sock_table_find(const struct sock_table *t, uint8_t family,
					const uint8_t laddr[16], uint16_t lport,
					const uint8_t raddr[16], uint16_t rport);

/* The socket of protocol proto (IPPROTO_TCP: a listener, IPPROTO_UDP: a bound UDP socket) in
 * namespace netns that receives what is sent to (addr, port): bound to addr itself, else to the
 * wildcard address of the family, else (IPv4) to the IPv6 wildcard, which takes IPv4 too unless
 * IPV6_V6ONLY (which /proc does not show). The caller knows that addr is netns's (through
 * sock_table_netns_of); netns 0 finds only sockets of records that carried no namespace. */
const struct sock_info *sock_table_find_bound(const struct sock_table *t, uint8_t proto,
					      uint32_t netns, uint8_t family,
					      const uint8_t addr[16], uint16_t port);

/* The namespace that addr is a local address of, as the latest scan found it; 0 if unknown or
 * if several namespaces have it (127.0.0.1, overlapping pod networks). Loopback addresses are
 * the namespace where flowd runs (sock_table_home_netns). */
uint32_t sock_table_netns_of(const struct sock_table *t, uint8_t family, const uint8_t addr[16]);
/* flowd's own namespace, whose interfaces it watches (0: not known yet). */
uint32_t sock_table_home_netns(const struct sock_table *t);

/* Forgets sockets closed more than keep_ns before now (boot ns). Listeners are forgotten when
 * they close (FLOW_SOCK_UNLISTEN), scanned sockets when a later scan no longer finds them. */
void sock_table_expire(struct sock_table *t, uint64_t now_ns, uint64_t keep_ns);

void sock_table_get_stats(const struct sock_table *t, struct sock_table_stats *st);

/* ---- process records (struct flow_process) that flows point at --------------------------- */

/* The interned copy of p (padding zeroed: records are compared whole), or NULL when the table
 * is full of records in use. Records stay while a holder marks them when room is asked for
 * (base/strtab.h); without holders, never freed. */
const struct flow_process *sock_table_process(struct sock_table *t, const struct flow_process *p);
void sock_table_set_holders(struct sock_table *t, void (*mark)(void *ctx), void *ctx);
/* From a holder's mark callback: p (NULL and others' ignored) stays. */
void sock_table_mark_process(struct sock_table *t, const struct flow_process *p);

/* ---- fed by the /proc scanner (proc_sockets.h) ------------------------------------------- */

/* What a scan found: one socket of one namespace and the process holding it. */
enum sock_scan_kind {
	SOCK_SCAN_TCP_LISTEN = 1,
	SOCK_SCAN_TCP_CONN = 2, /* established (or closing): has a 4-tuple */
	SOCK_SCAN_UDP = 3,	/* bound, connected or not: known by its local end */
};

struct sock_scan_entry {
	uint8_t kind; /* enum sock_scan_kind */
	uint8_t family;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	uint32_t netns;
	uint64_t inode;
	uint32_t
		pid; /* 0: no process holds it (a kernel socket: tunnels, NFS); kept for
		      * listeners and UDP so that the next scans know it, ignored for connections */
	char comm[16];
	uint64_t cgroup_id;
};

/* Between begin and end, the scan adds what it found; a socket already known from the probes
 * keeps its data (the scan only names it if no process was known). Returns 1 if the entry gave
 * a process to a socket that had none (a new name), 0 if nothing changed, -ENOSPC when full. */
/* What a scan reads: TCP tables (listeners and connections), UDP tables. Local addresses are
 * read by every scan. */
#define SOCK_SCAN_TCP (1u << 0)
#define SOCK_SCAN_UDP_TABLES (1u << 1)
#define SOCK_SCAN_ALL (SOCK_SCAN_TCP | SOCK_SCAN_UDP_TABLES)

void sock_table_scan_begin(struct sock_table *t, uint64_t now_ns, uint32_t home_netns,
			   unsigned int what);
int sock_table_scan_add(struct sock_table *t, const struct sock_scan_entry *e);
/* Whether e's socket is known already (found by an earlier scan, same inode; or told by the
 * probes, with its process): it is then marked found by this scan and needs no process looked
 * up. Only e's kind, namespace, addresses, ports and inode are read. */
bool sock_table_scan_known(struct sock_table *t, const struct sock_scan_entry *e);
/* addr is a local address of netns. */
void sock_table_scan_addr(struct sock_table *t, uint32_t netns, uint8_t family,
			  const uint8_t addr[16]);
/* complete: every process and namespace was read, so what earlier scans found of the kinds this
 * one read and it did not find is gone (a truncated scan forgets nothing). Returns the new names
 * of this scan. */
uint64_t sock_table_scan_end(struct sock_table *t, bool complete);

/* A flow end of protocol proto (IPPROTO_TCP or IPPROTO_UDP) that could not be named asks for a
 * rescan of that protocol's tables. One increment, for the hot path. */
void sock_table_ask_scan(struct sock_table *t, uint8_t proto);

/* Rescans of a protocol's tables run only when asked, at least SOCK_TABLE_SCAN_MIN_WAIT_NS
 * after the previous scan of them; while asked-for scans find nothing new the wait doubles, up to
 * SOCK_TABLE_SCAN_MAX_WAIT_NS, so flows that no local socket can ever name (forwarded
 * traffic) cost at most one scan a minute. TCP and UDP are scheduled apart. UDP
 * sockets found by a scan are refreshed every SOCK_TABLE_SCAN_MAX_WAIT_NS even unasked: they
 * have no close record. Returns what is due (SOCK_SCAN_* bits), 0 if nothing. */
#define SOCK_TABLE_SCAN_MIN_WAIT_NS (5 * 1000000000ULL)
#define SOCK_TABLE_SCAN_MAX_WAIT_NS (60 * 1000000000ULL)
unsigned int sock_table_scan_due(const struct sock_table *t, uint64_t now_ns);

#endif /* FLOWSCOPE_ENRICH_SOCK_TABLE_H */
