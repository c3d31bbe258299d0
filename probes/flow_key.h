/* Canonical flow keys, shared by the BPF programs: the lower (address, port) endpoint goes
 * first, so both directions of a connection find the same entry. */
#ifndef FLOWSCOPE_PROBES_FLOW_KEY_H
#define FLOWSCOPE_PROBES_FLOW_KEY_H

#include "flowscope/record.h"

/* Any total order will do for the canonical key; two 64-bit compares are cheap. */
static __always_inline int addr_cmp(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	if (a0 != b0)
		return a0 < b0 ? -1 : 1;
	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	return 0;
}

/* Fills the address and port part of key from a packet's source and destination; returns
 * which key endpoint the sender is (0 or 1). */
static __always_inline __u8 flow_key_fill(struct flow_key *key, const __u8 *saddr, __u16 sport,
					  const __u8 *daddr, __u16 dport)
{
	int cmp = addr_cmp(saddr, daddr);
	__u8 side = cmp > 0 || (cmp == 0 && sport > dport);

	if (!side) {
		__builtin_memcpy(key->addr[0], saddr, 16);
		__builtin_memcpy(key->addr[1], daddr, 16);
		key->port[0] = sport;
		key->port[1] = dport;
	} else {
		__builtin_memcpy(key->addr[0], daddr, 16);
		__builtin_memcpy(key->addr[1], saddr, 16);
		key->port[0] = dport;
		key->port[1] = sport;
	}
	return side;
}

#endif /* FLOWSCOPE_PROBES_FLOW_KEY_H */
