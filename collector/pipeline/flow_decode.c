/* Decoding of probe records and kernel map entries into flows (see flow_decode.h). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "flowscope/pipeline/flow_decode.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t flow_clock_boot_now(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

void flow_clock_sync(struct flow_clock *clk)
{
	/* Bracket the realtime read with two boottime reads to halve the error. */
	uint64_t b1 = clock_ns(CLOCK_BOOTTIME);
	uint64_t r = clock_ns(CLOCK_REALTIME);
	uint64_t b2 = clock_ns(CLOCK_BOOTTIME);

	clk->boot_to_real_ns = (int64_t)r - (int64_t)(b1 + (b2 - b1) / 2);
}

uint64_t flow_clock_wall(const struct flow_clock *clk, uint64_t boot_ns)
{
	if (!boot_ns)
		return 0;
	return (uint64_t)((int64_t)boot_ns + clk->boot_to_real_ns);
}

void flow_decode_state(struct flow *f, const struct flow_key *key, const struct flow_state *st,
		       const struct flow_clock *clk)
{
	int init = st->init_side ? 1 : 0;

	f->key = *key;
	memcpy(f->src.addr, key->addr[init], sizeof(f->src.addr));
	memcpy(f->dst.addr, key->addr[!init], sizeof(f->dst.addr));
	f->src.port = key->port[init];
	f->dst.port = key->port[!init];
	f->family = key->family;
	f->proto = key->proto;
	f->vlan_id = key->vlan_id;
	f->ifindex = key->ifindex;
	f->icmp_type = st->icmp_type;
	f->icmp_code = st->icmp_code;
	f->traffic_dir = st->init_tc_dir;
	if (!f->verdict)
		f->verdict = FLOW_VERDICT_FORWARDED;
	f->tcp_flags_seen[0] = (uint16_t)st->tcp_flags[0];
	f->tcp_flags_seen[1] = (uint16_t)st->tcp_flags[1];
	f->packets[0] = st->packets[0];
	f->packets[1] = st->packets[1];
	f->bytes[0] = st->bytes[0];
	f->bytes[1] = st->bytes[1];
	f->first_seen_boot_ns = st->first_seen_ns;
	f->first_seen_ns = flow_clock_wall(clk, st->first_seen_ns);
	f->last_seen_ns = flow_clock_wall(clk, st->last_seen_ns);
}

int flow_decode_record(struct flow *f, const void *data, size_t len, const struct flow_clock *clk)
{
	struct flow_record r;

	memset(f, 0, sizeof(*f));
	if (len < 4)
		return -EINVAL;
	memcpy(&r, data, len < sizeof(r) ? len : sizeof(r));
	if (r.type != FLOW_REC_TC)
		return -ENOTSUP;
	if (r.version != FLOW_RECORD_VERSION)
		return -EPROTO;
	if (len < sizeof(r))
		return -EINVAL;
	if ((r.key.family != 4 && r.key.family != 6) || r.pkt_dir > 1 || r.tc_dir > 1 ||
	    r.state.init_side > 1 || r.state.init_tc_dir > 1)
		return -EINVAL;
	flow_decode_state(f, &r.key, &r.state, clk);
	f->event = (r.events & FLOW_EV_START) ? FLOW_EVENT_START : FLOW_EVENT_TCP_FLAGS;
	f->is_reply = r.pkt_dir == 1;
	f->tcp_flags = r.pkt_tcp_flags;
	f->time_ns = flow_clock_wall(clk, r.ts_ns);
	if (!(r.events & (FLOW_EV_START | FLOW_EV_TCP_FLAGS)))
		return -EINVAL;
	return 0;
}
