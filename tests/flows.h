/* The sample flows the encoder and filter tests share. */
#ifndef FLOWSCOPE_TESTS_FLOWS_H
#define FLOWSCOPE_TESTS_FLOWS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "flowscope/flow.h"

/* 10.0.0.1:40000 -> 10.0.0.2:443, a SYN event of a flow seen egress on eth0. */
static inline struct flow tcp_flow(void)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.id = 42;
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, "10.0.0.1", f.src.addr);
	inet_pton(AF_INET, "10.0.0.2", f.dst.addr);
	f.src.port = 40000;
	f.dst.port = 443;
	f.traffic_dir = FLOW_TC_EGRESS;
	f.verdict = FLOW_VERDICT_FORWARDED;
	f.event = FLOW_EVENT_TCP_FLAGS;
	f.tcp_flags = FLOW_TCP_SYN;
	f.packets[0] = 3;
	f.bytes[0] = 180;
	f.packets[1] = 2;
	f.bytes[1] = 1500;
	f.time_ns = 1700000000123456789ULL;
	f.first_seen_ns = 1700000000000000000ULL;
	f.last_seen_ns = 1700000000123000000ULL;
	f.ifindex = 2;
	strcpy(f.ifname, "eth0");
	f.tcp_flags_seen[0] = FLOW_TCP_SYN;
	f.obs_point = FLOW_OBS_TO_NETWORK;
	f.seq = 7;
	memcpy(f.uuid, "\x12\x34\x56\x78\x9a\xbc\x4d\xef\x80\x00\x00\x00\x00\x00\x00\x07", 16);
	return f;
}

#endif /* FLOWSCOPE_TESTS_FLOWS_H */
