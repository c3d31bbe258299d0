/* A Flow protobuf back into the collector's struct flow (see
 * include/flowscope/encode/flow_pb_decode.h): what flowctl --input-file matches and what the relay
 * merges. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/base/str.h"
#include "flowscope/encode/flow_pb_decode.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/pipeline/flow_view.h"

#define HUBBLE_TO_ENDPOINT 101 /* flow.TraceObservationPoint's TO_ENDPOINT */
#define MAX_KERNEL_REASON 1024 /* kernel drop reasons searched for a name */

/* The process of pb in p, which is returned; NULL for none. */
static const struct flow_process *copy_proc(const Flow__Process *pb, struct flow_process *p)
{
	if (!pb)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->known = true;
	p->pid = pb->pid;
	str_copy(p->comm, sizeof(p->comm), pb->comm ? pb->comm : "");
	p->cgroup_id = pb->cgroup_id;
	p->container_id = pb->container_id && pb->container_id[0] ? pb->container_id : NULL;
	return p;
}

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0 || t->nanos < 0)
		return 0;
	return (uint64_t)t->seconds * 1000000000ULL + (uint64_t)t->nanos;
}

/* The kernel reason (of this kernel) a flow's drop is told by: its name when the file has it
 * (Flowscope's drop_reason_kernel), else the first reason Hubble's code stands for. */
static uint32_t kernel_reason(const Flow__Flow *pb)
{
	static struct {
		char name[64];
		int code;
		uint32_t value;
	} cache[32];
	static size_t n_cache;
	const char *name =
		pb->drop_reason_kernel && pb->drop_reason_kernel[0] ? pb->drop_reason_kernel : NULL;
	size_t i;
	uint32_t v;

	for (i = 0; i < n_cache; i++)
		if (name ? !strcmp(cache[i].name, name)
			 : !cache[i].name[0] && cache[i].code == (int)pb->drop_reason_desc)
			return cache[i].value;
	for (v = 0; v < MAX_KERNEL_REASON; v++)
		if (name ? !strcmp(drop_reason_kernel_name(v), name)
			 : drop_reason_hubble_code(v) == (int)pb->drop_reason_desc)
			break;
	if (n_cache < sizeof(cache) / sizeof(cache[0])) {
		snprintf(cache[n_cache].name, sizeof(cache[n_cache].name), "%s", name ? name : "");
		cache[n_cache].code = pb->drop_reason_desc;
		cache[n_cache++].value = v;
	}
	return v;
}

uint16_t flow_pb_tcp_bits(const Flow__TCPFlags *t)
{
	return (uint16_t)((t->fin ? FLOW_TCP_FIN : 0) | (t->syn ? FLOW_TCP_SYN : 0) |
			  (t->rst ? FLOW_TCP_RST : 0) | (t->psh ? FLOW_TCP_PSH : 0) |
			  (t->ack ? FLOW_TCP_ACK : 0) | (t->urg ? FLOW_TCP_URG : 0) |
			  (t->ece ? FLOW_TCP_ECE : 0) | (t->cwr ? FLOW_TCP_CWR : 0) |
			  (t->ns ? FLOW_TCP_NS : 0));
}

static void l4_from_pb(const Flow__Layer4 *l4, struct flow *f, uint16_t *sp, uint16_t *dp)
{
	const Flow__TCPFlags *t;

	if (!l4)
		return;
	switch (l4->protocol_case) {
	case FLOW__LAYER4__PROTOCOL_TCP:
		f->proto = IPPROTO_TCP;
		*sp = (uint16_t)l4->tcp->source_port;
		*dp = (uint16_t)l4->tcp->destination_port;
		t = l4->tcp->flags;
		if (t)
			f->tcp_flags = flow_pb_tcp_bits(t);
		break;
	case FLOW__LAYER4__PROTOCOL_UDP:
		f->proto = IPPROTO_UDP;
		*sp = (uint16_t)l4->udp->source_port;
		*dp = (uint16_t)l4->udp->destination_port;
		break;
	case FLOW__LAYER4__PROTOCOL_SCTP:
		f->proto = IPPROTO_SCTP;
		*sp = (uint16_t)l4->sctp->source_port;
		*dp = (uint16_t)l4->sctp->destination_port;
		break;
	case FLOW__LAYER4__PROTOCOL_ICMPV4:
		f->proto = IPPROTO_ICMP;
		f->icmp_type = (uint8_t)l4->icmpv4->type;
		f->icmp_code = (uint8_t)l4->icmpv4->code;
		break;
	case FLOW__LAYER4__PROTOCOL_ICMPV6:
		f->proto = IPPROTO_ICMPV6;
		f->icmp_type = (uint8_t)l4->icmpv6->type;
		f->icmp_code = (uint8_t)l4->icmpv6->code;
		break;
	default:
		break;
	}
}

/* The event, its observation point and its drop, from Cilium's event type where the file has
 * one, else from Flowscope's flow_event and trace_observation_point. */
static void event_from_pb(const Flow__Flow *pb, struct flow *f)
{
	int32_t type = pb->event_type ? pb->event_type->type : 0;

	f->event = (uint8_t)pb->flow_event;
	if (type == FLOW_MSG_DROP || pb->flow_event == FLOW__FLOW_EVENT__FLOW_EVENT_DROP)
		f->event = FLOW_EVENT_DROP;
	else if (type == FLOW_MSG_L7 && f->event != FLOW_EVENT_DNS)
		f->event = FLOW_EVENT_DNS;
	if (type == FLOW_MSG_TRACE)
		f->obs_point = (uint8_t)pb->event_type->sub_type;
	else if (pb->trace_observation_point)
		f->obs_point = pb->trace_observation_point == HUBBLE_TO_ENDPOINT
				       ? FLOW_OBS_TO_ENDPOINT
				       : (uint8_t)pb->trace_observation_point;
	if (pb->drops || pb->drop_reason_desc || f->event == FLOW_EVENT_DROP) {
		f->drops = pb->drops ? pb->drops : 1;
		f->drop_reason = kernel_reason(pb);
	}
}

static void dns_from_pb(const Flow__Layer7 *l7, struct flow *f)
{
	static __thread char query[256]; /* the query without its final dot, until the next call */
	const Flow__DNS *d = l7 && l7->record_case == FLOW__LAYER7__RECORD_DNS ? l7->dns : NULL;
	size_t i, n;

	if (!d)
		return;
	f->dns.present = true;
	f->dns.response = l7->type == FLOW__L7_FLOW_TYPE__RESPONSE;
	/* The collector keeps names without their final dot. */
	str_copy(query, sizeof(query), d->query ? d->query : "");
	n = strlen(query);
	if (n > 1 && query[n - 1] == '.')
		query[n - 1] = '\0';
	f->dns.query = query;
	f->dns.rcode = (uint8_t)d->rcode;
	f->dns.ttl = d->ttl;
	for (i = 0; i < d->n_ips && f->dns.n_ips < 4; i++) {
		uint8_t *a = f->dns.ips[f->dns.n_ips];

		if (inet_pton(AF_INET, d->ips[i], a) == 1)
			f->dns.ip_family[f->dns.n_ips++] = 4;
		else if (inet_pton(AF_INET6, d->ips[i], a) == 1)
			f->dns.ip_family[f->dns.n_ips++] = 6;
	}
}

int flow_pb_to_flow(const Flow__Flow *pb, struct flow *f)
{
	static __thread struct flow_process procs[2]; /* as the query: until the next call */
	struct flow_endpoint *src = &f->src, *dst = &f->dst;
	bool reply = pb->is_reply && pb->is_reply->value;
	uint16_t sp = 0, dp = 0;
	int s = reply ? 1 : 0;

	memset(f, 0, sizeof(*f));
	if (!pb->ip || !pb->ip->source || !pb->ip->destination)
		return -EINVAL;
	/* A reply is told from the replier's side: its source is the flow's responder. */
	if (reply) {
		src = &f->dst;
		dst = &f->src;
	}
	if (inet_pton(AF_INET, pb->ip->source, src->addr) == 1 &&
	    inet_pton(AF_INET, pb->ip->destination, dst->addr) == 1)
		f->family = 4;
	else if (inet_pton(AF_INET6, pb->ip->source, src->addr) == 1 &&
		 inet_pton(AF_INET6, pb->ip->destination, dst->addr) == 1)
		f->family = 6;
	else
		return -EINVAL;
	l4_from_pb(pb->l4, f, &sp, &dp);
	src->port = sp;
	dst->port = dp;
	f->is_reply = reply;
	f->verdict = (uint8_t)pb->verdict;
	f->traffic_dir = pb->traffic_direction == FLOW__TRAFFIC_DIRECTION__INGRESS ? FLOW_TC_INGRESS
										   : FLOW_TC_EGRESS;
	f->time_ns = ts_ns(pb->time);
	f->first_seen_ns = ts_ns(pb->flow_start);
	f->last_seen_ns = ts_ns(pb->flow_last_seen);
	f->end_ns = ts_ns(pb->flow_end);
	f->ended = pb->flow_end != NULL;
	f->id = pb->flow_id;
	f->copy = pb->observation_copy;
	if (pb->uuid && pb->uuid[0])
		flow_uuid_parse(pb->uuid, f->uuid);
	if (pb->interface) {
		f->ifindex = pb->interface->index;
		str_copy(f->ifname, sizeof(f->ifname),
			 pb->interface->name ? pb->interface->name : "");
	}
	event_from_pb(pb, f);
	dns_from_pb(pb->l7, f);
	if (pb->flags_seen) /* Flowscope's: every flag of the flow; else what this event shows */
		f->tcp_flags_seen[0] = flow_pb_tcp_bits(pb->flags_seen);
	else
		f->tcp_flags_seen[s] = f->tcp_flags;
	/* Counters, processes and names are the initiator's and the responder's. */
	f->packets[s] = pb->packets_sent;
	f->bytes[s] = pb->bytes_sent;
	f->packets[!s] = pb->packets_received;
	f->bytes[!s] = pb->bytes_received;
	f->src_proc = copy_proc(reply ? pb->destination_process : pb->source_process, &procs[0]);
	f->dst_proc = copy_proc(reply ? pb->source_process : pb->destination_process, &procs[1]);
	if (pb->n_source_names)
		*(reply ? &f->dst_name : &f->src_name) = pb->source_names[0];
	if (pb->n_destination_names)
		*(reply ? &f->src_name : &f->dst_name) = pb->destination_names[0];
	f->rtt_us = pb->rtt_us;
	f->retransmits = pb->retransmits;
	f->socket_cookie = pb->socket_cookie;
	f->started = true;
	return 0;
}
