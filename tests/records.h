/* Flow keys and TC probe records built by hand, for the collector's unit tests. */
#ifndef FLOWSCOPE_TESTS_RECORDS_H
#define FLOWSCOPE_TESTS_RECORDS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "flowscope/record.h"

static inline struct flow_key key4(const char *a, uint16_t pa, const char *b, uint16_t pb, uint8_t proto)
{
	struct flow_key k;

	memset(&k, 0, sizeof(k));
	inet_pton(AF_INET, a, k.addr[0]);
	inet_pton(AF_INET, b, k.addr[1]);
	k.port[0] = pa;
	k.port[1] = pb;
	k.proto = proto;
	k.family = 4;
	k.ifindex = 1;
	return k;
}

static inline struct flow_record rec(struct flow_key k, uint32_t events, uint8_t init_side,
			      uint8_t pkt_dir, uint16_t flags, uint64_t ts)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.type = FLOW_REC_TC;
	r.version = FLOW_RECORD_VERSION;
	r.events = events;
	r.key = k;
	r.ts_ns = ts;
	r.pkt_len = 60;
	r.pkt_tcp_flags = flags;
	r.pkt_dir = pkt_dir;
	r.tc_dir = FLOW_TC_EGRESS;
	r.state.first_seen_ns = ts;
	r.state.last_seen_ns = ts;
	r.state.init_side = init_side;
	r.state.init_tc_dir = FLOW_TC_EGRESS;
	r.state.packets[pkt_dir] = 1;
	r.state.bytes[pkt_dir] = 60;
	r.state.tcp_flags[pkt_dir] = flags;
	return r;
}

#endif /* FLOWSCOPE_TESTS_RECORDS_H */
