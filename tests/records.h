/* Flow keys and TC probe records built by hand, and a collector on a store and bus of its own,
 * for the collector's unit tests. */
#ifndef FLOWSCOPE_TESTS_RECORDS_H
#define FLOWSCOPE_TESTS_RECORDS_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "flowscope/pipeline/collector.h"
#include "flowscope/record.h"

static inline struct flow_key key4(const char *a, uint16_t pa, const char *b, uint16_t pb,
				   uint8_t proto)
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

/* The tick of the collectors under test (collector_set_tick_ns), 1 us: times given to
 * state_times() come back exactly when they differ by whole microseconds. */
#define TEST_TICK_NS 1000

/* Sets an entry's first and last-seen boot times, the latter in ticks of TEST_TICK_NS. */
static inline void state_times(struct flow_state *s, uint64_t first, uint64_t last)
{
	s->first_seen_ns = first;
	s->first_tick = (uint32_t)(first / TEST_TICK_NS);
	s->last_tick = s->first_tick + (uint32_t)((last - first) / TEST_TICK_NS);
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
	state_times(&r.state, ts, ts);
	r.state.init_side = init_side;
	r.state.init_tc_dir = FLOW_TC_EGRESS;
	r.state.packets[pkt_dir] = 1;
	r.state.bytes[pkt_dir] = 60;
	r.state.tcp_flags[pkt_dir] = flags;
	return r;
}

/* A collector under test, publishing to a store and a bus of its own. */
struct tcoll {
	struct collector *c;
	struct flow_store *store;
	struct flow_bus *bus;
	struct flow_bus_sub *sub;
	struct collector_opts o;   /* as given to collector_new() */
	struct collector_stats st; /* as of the latest tcoll_stats() */
};

/* o: what the test sets (timeouts, enrichment, which the test owns); store and bus are made
 * here, and cb(f, ctx) gets every flow event. */
static inline void tcoll_setup(struct tcoll *t, struct collector_opts o, flow_bus_cb cb, void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->store = flow_store_new(1024);
	t->bus = flow_bus_new();
	ck_assert_ptr_nonnull(t->store);
	ck_assert_ptr_nonnull(t->bus);
	t->sub = flow_bus_subscribe(t->bus, cb, ctx);
	ck_assert_ptr_nonnull(t->sub);
	t->o = o;
	t->o.store = t->store;
	t->o.bus = t->bus;
	t->c = collector_new(&t->o);
	ck_assert_ptr_nonnull(t->c);
	collector_set_tick_ns(t->c, TEST_TICK_NS);
}

static inline void tcoll_teardown(struct tcoll *t)
{
	collector_free(t->c);
	flow_bus_unsubscribe(t->bus, t->sub);
	flow_bus_free(t->bus);
	flow_store_free(t->store);
}

/* The collector's counters now. */
static inline const struct collector_stats *tcoll_stats(struct tcoll *t)
{
	collector_get_stats(t->c, &t->st);
	return &t->st;
}

#endif /* FLOWSCOPE_TESTS_RECORDS_H */
