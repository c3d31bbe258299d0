/* What the socket probes told about local TCP sockets: which process owns a connection, its
 * RTT and retransmits, when it closed. Indexed by socket cookie and by 4-tuple, so flows (which
 * know only addresses and ports) can be joined to their socket. */
#ifndef FLOWSCOPE_ENRICH_SOCK_TABLE_H
#define FLOWSCOPE_ENRICH_SOCK_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/record.h"

struct sock_info {
	uint64_t cookie;
	uint8_t family;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	bool tuple_known; /* a connecting socket has no local port until it is established */
	bool has_task;
	uint32_t pid;
	char comm[16];
	uint64_t cgroup_id;
	uint32_t srtt_us;
	uint32_t retrans;
	uint64_t closed_ns; /* boot ns of the close, 0 while open */
	uint64_t updated_ns;
};

struct sock_table_stats {
	uint64_t sockets; /* held now */
	uint64_t listeners;
	uint64_t full; /* records not kept because the table was full */
};

struct sock_table;

/* max: sockets kept at most (closed ones are expired by sock_table_expire). */
struct sock_table *sock_table_new(size_t max);
void sock_table_free(struct sock_table *t);

/* Applies one socket record. Returns the socket it concerns (NULL if not kept). */
const struct sock_info *sock_table_handle(struct sock_table *t, const struct flow_sock_record *r);

/* The socket whose local end is (laddr, lport) and remote end (raddr, rport), or NULL. */
const struct sock_info *sock_table_find(const struct sock_table *t, uint8_t family,
					const uint8_t laddr[16], uint16_t lport,
					const uint8_t raddr[16], uint16_t rport);

/* Forgets sockets closed more than keep_ns before now (boot ns). Listeners are forgotten when
 * they close (FLOW_SOCK_UNLISTEN). */
void sock_table_expire(struct sock_table *t, uint64_t now_ns, uint64_t keep_ns);

void sock_table_get_stats(const struct sock_table *t, struct sock_table_stats *st);

#endif /* FLOWSCOPE_ENRICH_SOCK_TABLE_H */
