/* A flow's ends joined to local sockets (see include/flowscope/enrich/sock_join.h). */
#include <netinet/in.h>
#include <string.h>

#include "flowscope/enrich/sock_join.h"

/* The end's process record: the one it has while the socket's process is that one, else the
 * table's (kept as it was when the table is full of records in use). */
static void set_proc(struct sock_table *t, struct cgroup_names *cn, const struct flow_process **pp,
		     const struct sock_info *i)
{
	const struct flow_process *cur = *pp, *q;
	struct flow_process p;

	if (!i || !i->has_task)
		return;
	if (cur && cur->known && cur->pid == i->pid && cur->cgroup_id == i->cgroup_id &&
	    !memcmp(cur->comm, i->comm, sizeof(cur->comm)))
		return;
	memset(&p, 0, sizeof(p)); /* the padding too: records are compared whole */
	p.known = true;
	p.pid = i->pid;
	memcpy(p.comm, i->comm, sizeof(p.comm));
	p.cgroup_id = i->cgroup_id;
	if (cur && cur->cgroup_id == i->cgroup_id)
		p.container_id = cur->container_id;
	else if (cn && i->cgroup_id > 1)
		p.container_id = cgroup_names_container_id(cn, i->cgroup_id);
	q = sock_table_process(t, &p);
	if (q)
		*pp = q;
}

/* The namespace an end's socket would be in: flowd's own on its loopback, else the one owning
 * the address (0: unknown). */
static uint32_t end_netns(const struct sock_table *t, const struct flow *f,
			  const struct flow_endpoint *e)
{
	if (f->if_kind == FLOW_IF_LOOPBACK)
		return sock_table_home_netns(t);
	return sock_table_netns_of(t, f->family, e->addr);
}

static void join_tcp(struct sock_table *t, struct cgroup_names *cn, struct flow *f,
		     const struct sock_info *cs, const struct sock_info *ss)
{
	const struct sock_info *any = cs ? cs : ss;

	set_proc(t, cn, &f->src_proc, cs);
	set_proc(t, cn, &f->dst_proc, ss);
	if (!any)
		return;
	f->rtt_us = any->srtt_us;
	f->retransmits = (cs ? cs->retrans : 0) + (ss ? ss->retrans : 0);
	f->socket_cookie = any->from_scan ? 0 : any->cookie;
	/* Closed when every local end we know of has closed. */
	if ((!cs || cs->closed_ns) && (!ss || ss->closed_ns))
		f->sock_closed_ns =
			(cs && ss) ? (cs->closed_ns > ss->closed_ns ? cs->closed_ns : ss->closed_ns)
				   : any->closed_ns;
	else
		f->sock_closed_ns = 0;
}

void sock_join_flow(struct sock_table *t, struct cgroup_names *cn, struct flow *f)
{
	const struct sock_info *cs = NULL, *ss = NULL;
	uint32_t sns, dns;
	bool src_named, dst_named;

	if (!t || (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP))
		return;
	sns = end_netns(t, f, &f->src);
	dns = end_netns(t, f, &f->dst);
	if (f->proto == IPPROTO_TCP) {
		cs = sock_table_find_ns(t, sns, f->family, f->src.addr, f->src.port, f->dst.addr,
					f->dst.port);
		ss = sock_table_find_ns(t, dns, f->family, f->dst.addr, f->dst.port, f->src.addr,
					f->src.port);
		join_tcp(t, cn, f, cs, ss);
	} else {
		/* A wildcard-bound socket takes only what is sent to its namespace's addresses,
		 * so an end of unknown namespace has none. */
		if (sns)
			cs = sock_table_find_bound(t, IPPROTO_UDP, sns, f->family, f->src.addr,
						   f->src.port);
		if (dns)
			ss = sock_table_find_bound(t, IPPROTO_UDP, dns, f->family, f->dst.addr,
						   f->dst.port);
		set_proc(t, cn, &f->src_proc, cs);
		set_proc(t, cn, &f->dst_proc, ss);
	}
	src_named = flow_proc_known(f->src_proc);
	dst_named = flow_proc_known(f->dst_proc);
	/* A TCP connection whose SYN was seen began after the probes: its ends are told by
	 * CONNECT and ACCEPT records (the server's only once the handshake is over), so it asks
	 * only if it ends unnamed. One picked up mid-stream may be older than flowd. */
	if (f->proto == IPPROTO_TCP && (f->tcp_flags_seen[0] & FLOW_TCP_SYN) && !f->ended)
		return;
	/* An unnamed end at a local address may be a socket older than the last scan. With no
	 * end named, a UDP flow may also be of a namespace made since (new TCP servers have
	 * their LISTEN record, UDP ones nothing). */
	if ((!src_named && sns) || (!dst_named && dns) ||
	    (f->proto == IPPROTO_UDP && !src_named && !dst_named))
		sock_table_ask_scan(t, f->proto);
}
