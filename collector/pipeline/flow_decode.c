/* Record and kernel map decoding (see include/flowscope/pipeline/flow_decode.h). Records come
 * from the kernel but are checked as untrusted input: a probe of another version, or a bug,
 * must cost one counted record, never a wrong flow. */
#include <errno.h>
#include <string.h>

#include "flowscope/pipeline/flow_decode.h"

void flow_decode_state(struct flow *f, const struct flow_key *key, const struct flow_state *st,
		       const struct clock_offset *clk)
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
	f->first_seen_ns = clock_to_wall(clk, st->first_seen_ns);
	f->last_seen_ns = clock_to_wall(clk, flow_state_last_seen(st, clk));
}

static int decode_tc(const void *data, size_t len, const struct clock_offset *clk, struct flow *f)
{
	struct flow_record r;

	memset(f, 0, sizeof(*f));
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, data, sizeof(r));
	if ((r.key.family != 4 && r.key.family != 6) || r.pkt_dir > 1 || r.tc_dir > 1 ||
	    r.state.init_side > 1 || r.state.init_tc_dir > 1 ||
	    !(r.events & (FLOW_EV_START | FLOW_EV_TCP_FLAGS)))
		return -EINVAL;
	flow_decode_state(f, &r.key, &r.state, clk);
	f->event = (r.events & FLOW_EV_START) ? FLOW_EVENT_START : FLOW_EVENT_TCP_FLAGS;
	f->is_reply = r.pkt_dir == 1;
	f->tcp_flags = r.pkt_tcp_flags;
	f->time_ns = clock_to_wall(clk, r.ts_ns);
	return 0;
}

static int decode_drop(const void *data, size_t len, struct flow_drop_record *r)
{
	if (len != sizeof(*r))
		return -EINVAL;
	memcpy(r, data, sizeof(*r));
	return r->sender > 1 || (r->key.family != 4 && r->key.family != 6) ? -EINVAL : 0;
}

static int decode_dns(const void *data, size_t len, struct flow_dns_record *r)
{
	if (len != sizeof(*r))
		return -EINVAL;
	memcpy(r, data, sizeof(*r));
	return r->data_len > FLOW_DNS_MAX || r->sender > 1 ? -EINVAL : 0;
}

int flow_decode(const void *data, size_t len, const struct clock_offset *clk,
		struct decoded_record *out)
{
	uint16_t hdr[2]; /* type, version: the start of every record */

	if (len < sizeof(hdr))
		return -EINVAL;
	memcpy(hdr, data, sizeof(hdr));
	out->type = hdr[0];
	if (hdr[0] < FLOW_REC_TC || hdr[0] > FLOW_REC_DNS)
		return -ENOTSUP;
	if (hdr[1] != FLOW_RECORD_VERSION)
		return -EPROTO;
	switch (hdr[0]) {
	case FLOW_REC_TC:
		memcpy(&out->tc_events, (const char *)data + 4, sizeof(out->tc_events));
		out->tc_dir = ((const struct flow_record *)data)->tc_dir;
		return decode_tc(data, len, clk, &out->flow);
	case FLOW_REC_SOCK:
		if (len != sizeof(out->sock))
			return -EINVAL;
		memcpy(&out->sock, data, sizeof(out->sock));
		return 0;
	case FLOW_REC_DROP:
		return decode_drop(data, len, &out->drop);
	default:
		return decode_dns(data, len, &out->dns);
	}
}
