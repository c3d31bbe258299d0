/* The collector's core (see include/flowscope/pipeline/collector.h): decoded records and
 * kernel map sweeps become flows in the store and events on the bus. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "flowscope/enrich/dns.h"
#include "flowscope/enrich/sock_join.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/pipeline/flow_decode.h"

#define SWEEP_BATCH 1024
#define MAX_IFACES 64

struct collector {
	struct collector_opts o;
	char node_name[256];
	uint64_t start_wall_ns;
	struct collector_stats st;
	struct clock_offset clock;
	uint64_t sweep_gen;
	/* Flow events: numbered from 1; uuids are this collector's random id and the number. */
	uint8_t session[8];
	uint64_t seq;
	struct flow scratch; /* the event being published when there is no event log */
	struct dns_match *dns_match;
	struct {
		uint32_t ifindex;
		char name[IF_NAMESIZE];
		uint8_t kind; /* enum flow_if_kind */
		uint64_t at;  /* boot ns of the lookup */
	} ifnames[MAX_IFACES];
};

/* Every flow the store and the event log keep, and the event being published: the holders of
 * the interned strings flows point at (the DNS cache's names, the cgroups' container ids). */
static void foreach_held(struct collector *c, int (*fn)(const struct flow *f, void *ctx), void *ctx)
{
	flow_store_foreach_last(c->o.store, flow_store_capacity(c->o.store), fn, ctx);
	if (c->o.events)
		event_log_foreach(c->o.events, fn, ctx);
	fn(&c->scratch, ctx);
}

static int mark_flow_names(const struct flow *f, void *ctx)
{
	struct dns_cache *dns = ctx;

	dns_cache_mark(dns, f->src_name);
	dns_cache_mark(dns, f->dst_name);
	dns_cache_mark(dns, f->dns.query);
	return 0;
}

static void mark_names(void *ctx)
{
	struct collector *c = ctx;

	foreach_held(c, mark_flow_names, c->o.dns);
}

static int mark_flow_containers(const struct flow *f, void *ctx)
{
	struct cgroup_names *cn = ctx;

	if (f->src_proc)
		cgroup_names_mark(cn, f->src_proc->container_id);
	if (f->dst_proc)
		cgroup_names_mark(cn, f->dst_proc->container_id);
	return 0;
}

static void mark_containers(void *ctx)
{
	struct collector *c = ctx;

	foreach_held(c, mark_flow_containers, c->o.cgroups);
}

static int mark_flow_processes(const struct flow *f, void *ctx)
{
	struct sock_table *t = ctx;

	sock_table_mark_process(t, f->src_proc);
	sock_table_mark_process(t, f->dst_proc);
	return 0;
}

static void mark_processes(void *ctx)
{
	struct collector *c = ctx;

	foreach_held(c, mark_flow_processes, c->o.socks);
}

struct collector *collector_new(const struct collector_opts *o)
{
	struct collector *c;

	if (!o->store || !o->bus) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = *o;
	c->o.idle_timeout_ns = o->idle_timeout_ns ?: 30 * NSEC_PER_SEC;
	c->o.tcp_idle_timeout_ns = o->tcp_idle_timeout_ns ?: 300 * NSEC_PER_SEC;
	c->o.update_interval_ns = o->update_interval_ns ?: 10 * NSEC_PER_SEC;
	c->o.close_grace_ns = o->close_grace_ns ?: 2 * NSEC_PER_SEC;
	if (o->dns) {
		c->dns_match =
			dns_match_new(o->dns_max_pending ?: DNS_MATCH_DEFAULT_MAX_PENDING,
				      o->dns_query_timeout_ns ?: DNS_MATCH_DEFAULT_TIMEOUT_NS);
		if (!c->dns_match) {
			free(c);
			return NULL;
		}
		dns_cache_set_holders(o->dns, mark_names, c);
	}
	if (o->cgroups)
		cgroup_names_set_holders(o->cgroups, mark_containers, c);
	if (o->socks)
		sock_table_set_holders(o->socks, mark_processes, c);
	snprintf(c->node_name, sizeof(c->node_name), "%s", o->node_name ? o->node_name : "");
	c->o.node_name = c->node_name;
	clock_sync(&c->clock);
	c->start_wall_ns = clock_wall_ns();
	if (getrandom(c->session, sizeof(c->session), 0) != sizeof(c->session)) {
		uint64_t t = c->start_wall_ns ^ (uint64_t)getpid() << 40;

		memcpy(c->session, &t, sizeof(t));
	}
	return c;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	if (c->o.dns)
		dns_cache_set_holders(c->o.dns, NULL, NULL);
	if (c->o.cgroups)
		cgroup_names_set_holders(c->o.cgroups, NULL, NULL);
	if (c->o.socks)
		sock_table_set_holders(c->o.socks, NULL, NULL);
	dns_match_free(c->dns_match);
	free(c);
}

void collector_get_stats(const struct collector *c, struct collector_stats *st)
{
	*st = c->st;
	if (c->dns_match)
		dns_match_get_stats(c->dns_match, &st->dns_match);
}

struct flow_store *collector_store(const struct collector *c)
{
	return c->o.store;
}

struct flow_bus *collector_bus(const struct collector *c)
{
	return c->o.bus;
}

const char *collector_node_name(const struct collector *c)
{
	return c->node_name;
}

uint64_t collector_start_ns(const struct collector *c)
{
	return c->start_wall_ns;
}

void collector_set_tick_ns(struct collector *c, uint32_t tick_ns)
{
	c->clock.tick_ns = tick_ns;
}

const struct clock_offset *collector_clock(const struct collector *c)
{
	return &c->clock;
}

/* Processes, containers, RTT, retransmits and closes from the local sockets of the flow's ends
 * (TCP and UDP, in every network namespace of the host). */
static void enrich_sockets(struct collector *c, struct flow *f)
{
	sock_join_flow(c->o.socks, c->o.cgroups, f);
}

/* The boot time of an event's wall time, for the caches' clocks: a clock read per record
 * was 12% of the full pipeline on this VM (perf); 0 (no time): the clock. */
static uint64_t boot_of(const struct collector *c, uint64_t wall_ns)
{
	return wall_ns ? (uint64_t)((int64_t)wall_ns - c->clock.boot_to_wall_ns) : clock_boot_ns();
}

/* now: the boot time the event happened at. */
static void enrich(struct collector *c, struct flow *f, uint64_t now)
{
	enrich_sockets(c, f);
	if (c->o.dns) {
		const char *n;

		/* A name stays once learned, even after its TTL: the flow was made with it. */
		n = dns_cache_lookup(c->o.dns, f->family, f->src.addr, now);
		if (n)
			f->src_name = n;
		n = dns_cache_lookup(c->o.dns, f->family, f->dst.addr, now);
		if (n)
			f->dst_name = n;
	}
}

static int metric_proto(const struct flow *f)
{
	switch (f->proto) {
	case IPPROTO_TCP:
		return METRIC_PROTO_TCP;
	case IPPROTO_UDP:
		return METRIC_PROTO_UDP;
	case IPPROTO_ICMP:
		return METRIC_PROTO_ICMPV4;
	case IPPROTO_ICMPV6:
		return METRIC_PROTO_ICMPV6;
	case IPPROTO_SCTP:
		return METRIC_PROTO_SCTP;
	}
	return METRIC_PROTO_OTHER;
}

/* Counts one flow event; a copy (a connection's second observation point) is counted where the
 * connection was first seen. */
static void count_metrics(struct collector *c, const struct flow *f)
{
	int i;

	if (f->copy)
		return;
	c->st.flows[f->dns.present][f->verdict == FLOW_VERDICT_DROPPED][metric_proto(f)]++;
	if (f->proto == IPPROTO_TCP && f->event != FLOW_EVENT_UPDATE && f->event != FLOW_EVENT_END)
		for (i = 0; i < 9; i++)
			if (f->tcp_flags & (1u << i))
				c->st.tcp_flags[i][f->family == 6]++;
}

/* What one flow event tells beyond its flow: which event, about which packet. */
struct event {
	uint8_t event;	    /* enum flow_event */
	bool is_reply;	    /* the packet went responder -> initiator */
	uint16_t tcp_flags; /* of the packet; 0 for events without one */
	uint8_t tc_dir;	    /* enum flow_tc_dir of the packet, for its observation point */
	uint64_t time_ns;   /* wall clock of the packet, or of the event */
};

/* Cilium's observation point of a packet seen at a tc hook of an interface of this kind. */
static uint8_t obs_point(uint8_t if_kind, uint8_t tc_dir)
{
	bool in = tc_dir == FLOW_TC_INGRESS;

	switch (if_kind) {
	case FLOW_IF_ENDPOINT:
		return in ? FLOW_OBS_FROM_ENDPOINT : FLOW_OBS_TO_ENDPOINT;
	case FLOW_IF_LOOPBACK:
		return in ? FLOW_OBS_TO_STACK : FLOW_OBS_FROM_STACK;
	case FLOW_IF_OVERLAY:
		return in ? FLOW_OBS_FROM_OVERLAY : FLOW_OBS_TO_OVERLAY;
	}
	return in ? FLOW_OBS_FROM_NETWORK : FLOW_OBS_TO_NETWORK;
}

static void set_uuid(const struct collector *c, uint8_t uuid[16], uint64_t seq)
{
	int i;

	memcpy(uuid, c->session, 8);
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* random-based (version 4) */
	for (i = 15; i >= 8; i--, seq >>= 8)
		uuid[i] = (uint8_t)seq;
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

/* Publishes one event of f: a snapshot of the flow as the event tells it (that packet's
 * direction and flags, that event's time and verdict) goes to the event log and the bus. The
 * store keeps the per-flow view: initiator -> responder, every flag seen, DROPPED once a drop
 * was seen, the latest event's type, time and uuid. */
static void emit(struct collector *c, struct flow *f, const struct event *e);

static void publish(struct collector *c, struct flow *f, const struct event *e)
{
	if (e->event == FLOW_EVENT_START)
		f->started = true;
	enrich(c, f, boot_of(c, e->time_ns));
	f->event = e->event;
	f->time_ns = e->time_ns;
	f->obs_point = obs_point(f->if_kind, e->tc_dir);
	f->seq = ++c->seq;
	set_uuid(c, f->uuid, f->seq);
	f->is_reply = false;
	f->tcp_flags = f->tcp_flags_seen[0] | f->tcp_flags_seen[1];
	if (e->event == FLOW_EVENT_DROP)
		f->verdict = FLOW_VERDICT_DROPPED;
	emit(c, f, e);
}

/* The snapshot of f that event e tells goes to the event log and the bus. */
static void emit(struct collector *c, struct flow *f, const struct event *e)
{
	struct flow *ev = c->o.events ? event_log_append(c->o.events) : &c->scratch;

	*ev = *f;
	ev->is_reply = e->is_reply;
	ev->tcp_flags = e->tcp_flags;
	ev->verdict = e->event == FLOW_EVENT_DROP ? FLOW_VERDICT_DROPPED : FLOW_VERDICT_FORWARDED;
	if (e->event != FLOW_EVENT_DNS)
		ev->dns.present = false; /* the DNS message belongs to its DNS event */
	count_metrics(c, ev);
	f->published_ns = e->time_ns;
	c->st.flows_published++;
	flow_bus_publish(c->o.bus, ev);
}

/* An event without a packet (UPDATE, END), told in the initiator's direction. */
static void publish_state(struct collector *c, struct flow *f, uint8_t event, uint64_t time_ns)
{
	struct event e = {.event = event, .tc_dir = f->traffic_dir, .time_ns = time_ns};

	publish(c, f, &e);
}

/* Folds a record that arrived late into the stored flow. Each CPU writes to its own ring, so
 * records of one flow can be read out of order (a FIN's record before its SYN's): kernel
 * counters only grow within one map entry, so the larger value is the newer one. */
static void merge_counters(struct flow *f, const struct flow *ev)
{
	int d;

	for (d = 0; d < 2; d++) {
		if (ev->packets[d] > f->packets[d]) {
			f->packets[d] = ev->packets[d];
			f->bytes[d] = ev->bytes[d];
		}
		f->tcp_flags_seen[d] |= ev->tcp_flags_seen[d];
	}
	if (ev->last_seen_ns > f->last_seen_ns)
		f->last_seen_ns = ev->last_seen_ns;
}

/* The event a TC record tells: its packet, which passed the hook tc_dir. */
static void record_event(struct event *e, const struct flow *rec, uint8_t tc_dir, uint8_t event)
{
	e->event = event;
	e->is_reply = rec->is_reply;
	e->tcp_flags = rec->tcp_flags;
	e->tc_dir = tc_dir;
	e->time_ns = rec->time_ns;
}

static void end_flow(struct collector *c, struct flow *f, uint64_t now_wall)
{
	f->end_ns = f->last_seen_ns;
	flow_store_end(c->o.store, f);
	flow_store_touch(c->o.store, f);
	publish_state(c, f, FLOW_EVENT_END, now_wall);
}

static void handle_sock(struct collector *c, const struct flow_sock_record *r)
{
	c->st.sock_records++;
	if (c->o.socks)
		sock_table_handle(c->o.socks, r);
}

/* Names the answer's addresses with the name that was asked for (not the end of a CNAME
 * chain: it is what the application connects to), for a minute past the TTL, on behalf of the
 * endpoint that asked. Only answers to a query seen get here (dns_match). */
static void learn_name(struct collector *c, uint8_t family, const uint8_t addr[16], uint32_t ttl,
		       const char *query, uint64_t ts_ns, const struct flow_key *k, uint8_t querier)
{
	dns_cache_add(c->o.dns, family, addr, query, ts_ns + ((uint64_t)ttl + 60) * NSEC_PER_SEC,
		      k->family, k->addr[querier]);
}

/* Matches a parsed message to its query or answer and learns the names a believed answer
 * gives. */
static void learn_names(struct collector *c, const struct flow_dns_record *r,
			const struct dns_msg *m, const char *query)
{
	static struct dns_match_answers held; /* as m: not on the stack */
	size_t i;

	if (!m->response) {
		if (!dns_match_query(c->dns_match, &r->key, r->sender, m, r->ts_ns, &held))
			return;
		for (i = 0; i < held.n; i++)
			learn_name(c, held.a[i].family, held.a[i].addr, held.a[i].ttl, query,
				   held.ts_ns, &r->key, r->sender);
		return;
	}
	if (!dns_match_response(c->dns_match, &r->key, r->sender, m, r->ts_ns) ||
	    m->rcode != DNS_RCODE_NOERROR)
		return;
	for (i = 0; i < m->n_answers; i++) {
		const struct dns_answer *a = &m->answers[i];

		if (a->family)
			learn_name(c, a->family, a->addr, a->ttl, query, r->ts_ns, &r->key,
				   r->sender ^ 1);
	}
}

static void set_dns_info(struct flow_dns_info *d, const struct dns_msg *m, const char *query)
{
	uint32_t ttl = 0;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->present = true;
	d->response = m->response;
	d->query = query;
	d->qtype = m->qtype;
	d->rcode = m->rcode;
	for (i = 0; i < m->n_answers; i++) {
		const struct dns_answer *a = &m->answers[i];

		if (!ttl || a->ttl < ttl)
			ttl = a->ttl;
		if (!a->family || d->n_ips >= 4)
			continue;
		d->ip_family[d->n_ips] = a->family;
		memcpy(d->ips[d->n_ips], a->addr, 16);
		d->n_ips++;
	}
	d->ttl = ttl;
}

/* The sender is the initiator when its address and port are the flow's source. */
static bool sent_by_responder(const struct flow *f, const struct flow_key *k, uint8_t sender)
{
	return !(memcmp(k->addr[sender], f->src.addr, 16) == 0 && k->port[sender] == f->src.port);
}

static void handle_dns(struct collector *c, const struct flow_dns_record *r)
{
	static struct dns_msg m; /* 17 KiB: not on the stack; the loop is single-threaded */
	struct flow_dns_info kept;
	const char *query = NULL;
	struct flow *f;
	int err;

	c->st.dns_records++;
	err = r->key.proto == IPPROTO_TCP ? dns_parse_tcp(r->data, r->data_len, &m)
					  : dns_parse(r->data, r->data_len, &m);
	if (err) {
		c->st.dns_errors++; /* not DNS, or cut: the flow itself is unaffected */
		return;
	}
	if (c->o.dns) {
		query = dns_cache_intern(c->o.dns, m.qname);
		learn_names(c, r, &m, query);
	}
	f = flow_store_find(c->o.store, &r->key);
	if (!f)
		return;
	/* The flow's latest DNS message is what its per-flow view shows; a query read after its
	 * own answer (another CPU's ring) is published as itself but leaves the answer there. */
	kept = f->dns;
	set_dns_info(&f->dns, &m, query);
	flow_store_touch(c->o.store, f);
	publish(c, f,
		&(struct event){.event = FLOW_EVENT_DNS,
				.is_reply = sent_by_responder(f, &r->key, r->sender),
				.tc_dir = r->tc_dir,
				.time_ns = clock_to_wall(&c->clock, r->ts_ns)});
	if (!m.response && kept.present && kept.response && kept.query == query &&
	    kept.qtype == m.qtype)
		f->dns = kept;
}

/* What a watched interface is: loopback, the host side of a veth (a container's or
 * namespace's link), a tunnel, or else a device to the network. */
static uint8_t if_kind_of(const char *name)
{
	static const char *const tunnels[] = {"vxlan",	"geneve",     "gre",
					      "ip_gre", "ip6_gre",    "ipip",
					      "sit",	"ip6_tunnel", "wireguard"};
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr;
	uint8_t kind = FLOW_IF_NETWORK;
	size_t i;
	int fd;

	if (!name[0])
		return kind;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kind;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (!ioctl(fd, SIOCGIFFLAGS, &ifr) && (ifr.ifr_flags & IFF_LOOPBACK)) {
		kind = FLOW_IF_LOOPBACK;
	} else {
		ifr.ifr_data = (void *)&info;
		if (!ioctl(fd, SIOCETHTOOL, &ifr)) {
			if (!strcmp(info.driver, "veth"))
				kind = FLOW_IF_ENDPOINT;
			for (i = 0; i < sizeof(tunnels) / sizeof(tunnels[0]); i++)
				if (!strcmp(info.driver, tunnels[i]))
					kind = FLOW_IF_OVERLAY;
		}
	}
	close(fd);
	return kind;
}

/* Interface names and kinds, cached for a few seconds: if_indextoname() and the ioctls are
 * system calls, too much for every new flow (interfaces get renamed rarely; a stale name lasts
 * 5 s at most). */
static void iface_of(struct collector *c, struct flow *f)
{
	unsigned int slot = f->ifindex % (MAX_IFACES);
	uint64_t now = boot_of(c, f->time_ns);

	if (c->ifnames[slot].ifindex != f->ifindex ||
	    now - c->ifnames[slot].at > 5 * NSEC_PER_SEC) {
		c->ifnames[slot].ifindex = f->ifindex;
		c->ifnames[slot].at = now;
		if (!if_indextoname(f->ifindex, c->ifnames[slot].name))
			c->ifnames[slot].name[0] = '\0';
		c->ifnames[slot].kind = if_kind_of(c->ifnames[slot].name);
	}
	memcpy(f->ifname, c->ifnames[slot].name, IF_NAMESIZE);
	f->if_kind = c->ifnames[slot].kind;
}

/* Stores a new flow: a connection already held on another interface makes it a copy. */
static struct flow *start_flow(struct collector *c, struct flow *nf)
{
	const struct flow *first = flow_store_find_conn(c->o.store, &nf->key);

	nf->copy = first && memcmp(&first->key, &nf->key, sizeof(nf->key));
	iface_of(c, nf);
	return flow_store_insert(c->o.store, nf);
}

/* A drop is one event of its connection however many watched interfaces the connection
 * crossed: on the flow of its first observation point, counted once. */
static void handle_drop(struct collector *c, const struct flow_drop_record *r)
{
	struct flow *f = flow_store_find_conn(c->o.store, &r->key);
	uint64_t dropped;

	c->st.drop_records++;
	if (!f) {
		c->st.drops_untracked++;
		return;
	}
	/* Dropped packets since the last report for this flow and reason. */
	dropped = f->drop_reason == r->reason && f->drops <= r->count ? r->count - f->drops
								      : r->count;
	c->st.drops[r->reason < 255 ? r->reason : 255][metric_proto(f)] += dropped;
	if (f->drop_reason != r->reason || r->count > f->drops)
		f->drops = r->count;
	f->drop_reason = r->reason;
	flow_store_touch(c->o.store, f);
	publish(c, f,
		&(struct event){.event = FLOW_EVENT_DROP,
				.is_reply = sent_by_responder(f, &r->key, r->sender),
				.tcp_flags = r->tcp_flags,
				.tc_dir = f->traffic_dir,
				.time_ns = clock_to_wall(&c->clock, r->ts_ns)});
}

/* A record of the flow's kernel entry. A flow starts once: a start record read after the sweep
 * adopted the flow (its ring was read after the map) tells only the TCP flags it carries. A
 * start record read after a later record of the flow (another CPU's ring) still starts it. */
static int handle_flow(struct collector *c, struct flow *ev, uint32_t events, uint8_t tc_dir)
{
	struct flow *f = flow_store_find(c->o.store, &ev->key);
	struct event e;

	/* A record of another kernel entry for a key we hold (its first_seen differs) means
	 * the kernel forgot the old flow (LRU eviction, or our idle sweep raced with new
	 * packets): the old one is over. */
	if (f && f->first_seen_boot_ns != ev->first_seen_boot_ns) {
		end_flow(c, f, ev->time_ns);
		f = NULL;
	}
	if (!f) {
		record_event(&e, ev, tc_dir, ev->event);
		f = start_flow(c, ev);
		if (!f)
			return -errno;
		publish(c, f, &e);
		return 0;
	}
	merge_counters(f, ev);
	flow_store_touch(c->o.store, f);
	if (ev->event == FLOW_EVENT_START && f->started && !(events & FLOW_EV_TCP_FLAGS))
		return 0; /* nothing to tell */
	record_event(&e, ev, tc_dir,
		     ev->event == FLOW_EVENT_START && f->started ? FLOW_EVENT_TCP_FLAGS
								 : ev->event);
	publish(c, f, &e);
	return 0;
}

void collector_prefetch_record(struct collector *c, const void *data, size_t len)
{
	const struct flow_record *r = data;

	if (len == sizeof(*r) && r->type == FLOW_REC_TC)
		flow_store_prefetch(c->o.store, &r->key);
}

int collector_handle_record(struct collector *c, const void *data, size_t len)
{
	struct decoded_record d;
	int err;

	c->st.records++;
	err = flow_decode(data, len, &c->clock, &d);
	if (err) {
		c->st.decode_errors++;
		return err;
	}
	switch (d.type) {
	case FLOW_REC_TC:
		return handle_flow(c, &d.flow, d.tc_events, d.tc_dir);
	case FLOW_REC_SOCK:
		handle_sock(c, &d.sock);
		return 0;
	case FLOW_REC_DROP:
		handle_drop(c, &d.drop);
		return 0;
	default:
		handle_dns(c, &d.dns);
		return 0;
	}
}

static bool tcp_closed(const struct flow *f)
{
	uint16_t all = f->tcp_flags_seen[0] | f->tcp_flags_seen[1];

	return (all & FLOW_TCP_RST) ||
	       ((f->tcp_flags_seen[0] & FLOW_TCP_FIN) && (f->tcp_flags_seen[1] & FLOW_TCP_FIN));
}

/* Handles one kernel entry; returns 1 when the flow ended. */
static int sweep_entry(struct collector *c, int map_fd, const struct flow_key *key,
		       const struct flow_state *st, uint64_t now_boot, uint64_t now_wall)
{
	struct flow *f = flow_store_find(c->o.store, key);
	uint64_t timeout, before, last_seen = flow_state_last_seen(st, &c->clock);
	bool changed;

	if (!f) {
		/* Its start record was lost (ring full) or the store evicted it: adopt it, unless
		 * that would evict an active flow, which the next sweep would adopt again, each
		 * time told as a new START: kernel entries the store has no room for stay
		 * untracked (counted) until there is. */
		struct flow nf;

		if (flow_store_insert_evicts_active(c->o.store)) {
			c->st.last_sweep_untracked++;
			return 0;
		}
		memset(&nf, 0, sizeof(nf));
		flow_decode_state(&nf, key, st, &c->clock);
		f = start_flow(c, &nf);
		if (!f)
			return -errno;
		publish_state(c, f, FLOW_EVENT_START, f->first_seen_ns);
	}
	if (f->first_seen_boot_ns != st->first_seen_ns &&
	    st->first_seen_ns > f->first_seen_boot_ns) {
		/* The kernel holds a newer entry for this key whose start record is still on
		 * its way: the flow we hold is over; the next sweep (or the record) adopts it. */
		end_flow(c, f, now_wall);
		return 1;
	}
	f->sweep_gen = c->sweep_gen;
	before = f->packets[0] + f->packets[1];
	flow_decode_state(f, key, st, &c->clock);
	changed = f->packets[0] + f->packets[1] != before;
	if (changed)
		flow_store_touch(c->o.store, f);

	enrich(c, f, now_boot);
	/* The sockets closed: the connection is over once the last packets had time to pass
	 * (a final ACK after the close must not start a new flow). */
	if (f->sock_closed_ns && now_boot > f->sock_closed_ns &&
	    now_boot - f->sock_closed_ns >= c->o.close_grace_ns &&
	    now_boot - last_seen >= c->o.close_grace_ns) {
		bpf_map_delete_elem(map_fd, key);
		end_flow(c, f, now_wall);
		return 1;
	}
	timeout = f->proto == IPPROTO_TCP && !tcp_closed(f) ? c->o.tcp_idle_timeout_ns
							    : c->o.idle_timeout_ns;
	if (now_boot > last_seen && now_boot - last_seen >= timeout) {
		bpf_map_delete_elem(map_fd, key);
		end_flow(c, f, now_wall);
		return 1;
	}
	if (changed && now_wall - f->published_ns >= c->o.update_interval_ns)
		publish_state(c, f, FLOW_EVENT_UPDATE, now_wall);
	return 0;
}

struct gone_ctx {
	struct collector *c;
	uint64_t now_wall;
	int ended;
};

/* Flows the kernel map no longer has (LRU eviction) are over. */
static int end_gone(struct flow *f, void *arg)
{
	struct gone_ctx *g = arg;

	if (f->sweep_gen == g->c->sweep_gen)
		return 0;
	end_flow(g->c, f, g->now_wall);
	g->ended++;
	return 0;
}

static int end_any(struct flow *f, void *arg)
{
	struct gone_ctx *g = arg;

	end_flow(g->c, f, g->now_wall);
	g->ended++;
	return 0;
}

int collector_end_all(struct collector *c)
{
	struct gone_ctx g = {.c = c};

	g.now_wall = clock_to_wall(&c->clock, clock_boot_ns());
	flow_store_foreach_active(c->o.store, end_any, &g);
	return g.ended;
}

int collector_sweep(struct collector *c, int map_fd)
{
	struct flow_key *keys = NULL;
	struct flow_state *vals = NULL;
	struct gone_ctx g = {.c = c};
	uint64_t now_boot, now_wall;
	__u32 batch_out = 0;
	void *in = NULL;
	bool done = false;
	int err = 0, ended = 0, r;
	uint64_t entries = 0;
	__u32 i, n;

	clock_sync(&c->clock);
	now_boot = clock_boot_ns();
	now_wall = clock_to_wall(&c->clock, now_boot);
	c->sweep_gen++;
	c->st.last_sweep_untracked = 0;
	c->st.sweeps++;
	keys = calloc(SWEEP_BATCH, sizeof(*keys));
	vals = calloc(SWEEP_BATCH, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	/* Read in batches: one syscall per SWEEP_BATCH flows instead of two per flow. Deleting
	 * idle entries while batching is safe: the batch cursor is a bucket, not a key. */
	while (!done) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		n = SWEEP_BATCH;
		r = bpf_map_lookup_batch(map_fd, in, &batch_out, keys, vals, &n, &opts);
		if (r < 0) {
			if (errno != ENOENT) {
				err = -errno;
				goto out;
			}
			done = true;
		}
		entries += n;
		for (i = 0; i < n; i++) {
			r = sweep_entry(c, map_fd, &keys[i], &vals[i], now_boot, now_wall);
			if (r > 0)
				ended++;
		}
		in = &batch_out;
	}
	c->st.last_sweep_entries = entries;
	flow_store_foreach_active(c->o.store, end_gone, &g);
	if (c->o.socks)
		sock_table_expire(c->o.socks, now_boot, 60 * NSEC_PER_SEC);
	if (c->o.dns) {
		dns_cache_expire(c->o.dns, now_boot);
		dns_match_expire(c->dns_match, now_boot);
	}
	ended += g.ended;
	err = ended;
out:
	free(keys);
	free(vals);
	return err;
}

/* ---- events another node observed (the relay) ------------------------------------------- */

/* Folds what a remote event tells about its flow into the stored flow. */
static void merge_remote(struct flow *f, const struct flow *r)
{
	int d;

	for (d = 0; d < 2; d++) {
		if (r->packets[d] > f->packets[d]) {
			f->packets[d] = r->packets[d];
			f->bytes[d] = r->bytes[d];
		}
		f->tcp_flags_seen[d] |= r->tcp_flags_seen[d];
	}
	if (r->last_seen_ns > f->last_seen_ns)
		f->last_seen_ns = r->last_seen_ns;
	if (flow_proc_known(r->src_proc))
		f->src_proc = r->src_proc;
	if (flow_proc_known(r->dst_proc))
		f->dst_proc = r->dst_proc;
	f->src_name = r->src_name ? r->src_name : f->src_name;
	f->dst_name = r->dst_name ? r->dst_name : f->dst_name;
	f->src_id = r->src_id ? r->src_id : f->src_id;
	f->dst_id = r->dst_id ? r->dst_id : f->dst_id;
	if (r->rtt_us)
		f->rtt_us = r->rtt_us;
	if (r->retransmits > f->retransmits)
		f->retransmits = r->retransmits;
	if (r->drops) {
		f->drops = r->drops;
		f->drop_reason = r->drop_reason;
	}
}

int collector_handle_remote(struct collector *c, const struct flow *r)
{
	struct flow *f = flow_store_find(c->o.store, &r->key);
	struct event e = {.event = r->event,
			  .is_reply = r->is_reply,
			  .tcp_flags = r->tcp_flags,
			  .time_ns = r->time_ns};

	c->st.records++;
	if (!f) {
		struct flow nf = *r;
		const struct flow *first = flow_store_find_conn(c->o.store, &nf.key);

		/* Seen first on another node: that node counts it (a connection between two
		 * nodes is seen leaving one and entering the other). */
		nf.copy = r->copy || (first && first->origin != r->origin);
		f = flow_store_insert(c->o.store, &nf);
		if (!f)
			return -errno;
	} else {
		merge_remote(f, r);
		flow_store_touch(c->o.store, f);
	}
	f->started = true;
	f->event = r->event;
	f->time_ns = r->time_ns;
	f->obs_point = r->obs_point;
	memcpy(f->uuid, r->uuid, sizeof(f->uuid)); /* the node's: the same event everywhere */
	f->seq = ++c->seq;
	f->late = r->late;
	f->is_reply = false;
	f->tcp_flags = f->tcp_flags_seen[0] | f->tcp_flags_seen[1];
	if (r->event == FLOW_EVENT_DROP)
		f->verdict = FLOW_VERDICT_DROPPED;
	if (r->event == FLOW_EVENT_DNS)
		f->dns = r->dns;
	emit(c, f, &e);
	if (r->event == FLOW_EVENT_END && !f->ended) {
		f->end_ns = r->end_ns ? r->end_ns : r->last_seen_ns;
		flow_store_end(c->o.store, f);
	}
	return 0;
}
