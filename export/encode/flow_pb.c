/* Collector flows as Hubble's observer.GetFlowsResponse (see include/flowscope/encode/flow_pb.h). The
 * message is built on the stack (no allocation per flow) and then packed or written as JSON. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/dns.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/encode/pb_json.h"

#define DNS_NAME_MAX 255

/* Every sub-message one flow needs, so a response is built without malloc. */
struct flow_pb {
	Observer__GetFlowsResponse resp;
	Flow__Flow flow;
	Google__Protobuf__Timestamp time, resp_time, start, last, end;
	Flow__IP ip;
	Flow__Layer4 l4;
	Flow__TCP tcp;
	Flow__UDP udp;
	Flow__SCTP sctp;
	Flow__ICMPv4 icmp4;
	Flow__ICMPv6 icmp6;
	Flow__TCPFlags flags;
	Google__Protobuf__BoolValue is_reply;
	Flow__NetworkInterface iface;
	Flow__CiliumEventType event_type;
	Flow__Process sproc, dproc;
	Flow__Layer7 l7;
	Flow__Endpoint src_ep, dst_ep;
	Flow__Service src_svc, dst_svc;
	Flow__DNS dns;
	char *src_names[1], *dst_names[1];
	char *dns_ips[4], *qtypes[1];
	char dns_ipbuf[4][INET6_ADDRSTRLEN];
	char query[DNS_NAME_MAX + 2];
	char scomm[16], dcomm[16];
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char ifname[IF_NAMESIZE];
	char node[256];
};

struct lost_pb {
	Observer__GetFlowsResponse resp;
	Flow__LostEvent lost;
	Google__Protobuf__Timestamp time;
	char node[256];
};

static void set_ts(Google__Protobuf__Timestamp *t, uint64_t ns)
{
	google__protobuf__timestamp__init(t);
	t->seconds = (int64_t)(ns / 1000000000ULL);
	t->nanos = (int32_t)(ns % 1000000000ULL);
}

static void set_flags(Flow__TCPFlags *fl, uint16_t f)
{
	flow__tcpflags__init(fl);
	fl->fin = !!(f & FLOW_TCP_FIN);
	fl->syn = !!(f & FLOW_TCP_SYN);
	fl->rst = !!(f & FLOW_TCP_RST);
	fl->psh = !!(f & FLOW_TCP_PSH);
	fl->ack = !!(f & FLOW_TCP_ACK);
	fl->urg = !!(f & FLOW_TCP_URG);
	fl->ece = !!(f & FLOW_TCP_ECE);
	fl->cwr = !!(f & FLOW_TCP_CWR);
	fl->ns = !!(f & FLOW_TCP_NS);
}

static void build(struct flow_pb *pb, const struct flow *f, const char *node_name)
{
	/* A reply event is told from the replier's side, as Hubble does. */
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;
	int s = f->is_reply ? 1 : 0;
	int af = f->family == 6 ? AF_INET6 : AF_INET;
	Flow__Flow *fl = &pb->flow;

	observer__get_flows_response__init(&pb->resp);
	flow__flow__init(fl);
	snprintf(pb->node, sizeof(pb->node), "%s", node_name ? node_name : "");
	set_ts(&pb->time, f->time_ns);
	fl->time = &pb->time;
	fl->verdict = f->verdict == FLOW_VERDICT_DROPPED ? FLOW__VERDICT__DROPPED
							 : FLOW__VERDICT__FORWARDED;
	fl->type = FLOW__FLOW_TYPE__L3_L4;
	fl->node_name = pb->node;

	flow__ip__init(&pb->ip);
	inet_ntop(af, src->addr, pb->src, sizeof(pb->src));
	inet_ntop(af, dst->addr, pb->dst, sizeof(pb->dst));
	pb->ip.source = pb->src;
	pb->ip.destination = pb->dst;
	pb->ip.ipversion = f->family == 6 ? FLOW__IPVERSION__IPv6 : FLOW__IPVERSION__IPv4;
	fl->ip = &pb->ip;

	flow__layer4__init(&pb->l4);
	switch (f->proto) {
	case IPPROTO_TCP:
		flow__tcp__init(&pb->tcp);
		pb->tcp.source_port = src->port;
		pb->tcp.destination_port = dst->port;
		set_flags(&pb->flags, f->tcp_flags);
		pb->tcp.flags = &pb->flags;
		pb->l4.protocol_case = FLOW__LAYER4__PROTOCOL_TCP;
		pb->l4.tcp = &pb->tcp;
		break;
	case IPPROTO_UDP:
		flow__udp__init(&pb->udp);
		pb->udp.source_port = src->port;
		pb->udp.destination_port = dst->port;
		pb->l4.protocol_case = FLOW__LAYER4__PROTOCOL_UDP;
		pb->l4.udp = &pb->udp;
		break;
	case IPPROTO_SCTP:
		flow__sctp__init(&pb->sctp);
		pb->sctp.source_port = src->port;
		pb->sctp.destination_port = dst->port;
		pb->l4.protocol_case = FLOW__LAYER4__PROTOCOL_SCTP;
		pb->l4.sctp = &pb->sctp;
		break;
	case IPPROTO_ICMP:
		flow__icmpv4__init(&pb->icmp4);
		pb->icmp4.type = f->icmp_type;
		pb->icmp4.code = f->icmp_code;
		pb->l4.protocol_case = FLOW__LAYER4__PROTOCOL_ICMPV4;
		pb->l4.icmpv4 = &pb->icmp4;
		break;
	case IPPROTO_ICMPV6:
		flow__icmpv6__init(&pb->icmp6);
		pb->icmp6.type = f->icmp_type;
		pb->icmp6.code = f->icmp_code;
		pb->l4.protocol_case = FLOW__LAYER4__PROTOCOL_ICMPV6;
		pb->l4.icmpv6 = &pb->icmp6;
		break;
	}
	if (pb->l4.protocol_case != FLOW__LAYER4__PROTOCOL__NOT_SET)
		fl->l4 = &pb->l4;

	/* The connection's direction: did its initiator's packets enter or leave here? */
	fl->traffic_direction = f->traffic_dir == FLOW_TC_INGRESS ? FLOW__TRAFFIC_DIRECTION__INGRESS
								  : FLOW__TRAFFIC_DIRECTION__EGRESS;
	google__protobuf__bool_value__init(&pb->is_reply);
	pb->is_reply.value = f->is_reply;
	fl->is_reply = &pb->is_reply;
	flow__network_interface__init(&pb->iface);
	pb->iface.index = f->ifindex;
	memcpy(pb->ifname, f->ifname, sizeof(pb->ifname));
	pb->ifname[sizeof(pb->ifname) - 1] = '\0';
	pb->iface.name = pb->ifname;
	fl->interface = &pb->iface;
	/* Cilium's monitor message type for a trace event, which Hubble clients expect on
	 * L3/L4 flows; the sub type is the observation point. */
	flow__cilium_event_type__init(&pb->event_type);
	pb->event_type.type = 4;
	fl->event_type = &pb->event_type;

	set_ts(&pb->start, f->first_seen_ns);
	set_ts(&pb->last, f->last_seen_ns);
	fl->flow_start = &pb->start;
	fl->flow_last_seen = &pb->last;
	if (f->ended) {
		set_ts(&pb->end, f->end_ns ? f->end_ns : f->last_seen_ns);
		fl->flow_end = &pb->end;
	}
	fl->packets_sent = f->packets[s];
	fl->bytes_sent = f->bytes[s];
	fl->packets_received = f->packets[!s];
	fl->bytes_received = f->bytes[!s];
	fl->flow_event = (Flow__FlowEvent)f->event;
	fl->flow_id = f->id;
	{
		const struct flow_process *sp = f->is_reply ? &f->dst_proc : &f->src_proc;
		const struct flow_process *dp = f->is_reply ? &f->src_proc : &f->dst_proc;

		if (sp->known) {
			flow__process__init(&pb->sproc);
			memcpy(pb->scomm, sp->comm, sizeof(pb->scomm));
			pb->scomm[15] = '\0';
			pb->sproc.pid = sp->pid;
			pb->sproc.comm = pb->scomm;
			pb->sproc.cgroup_id = sp->cgroup_id;
			pb->sproc.container_id = (char *)sp->container_id;
			fl->source_process = &pb->sproc;
		}
		if (dp->known) {
			flow__process__init(&pb->dproc);
			memcpy(pb->dcomm, dp->comm, sizeof(pb->dcomm));
			pb->dcomm[15] = '\0';
			pb->dproc.pid = dp->pid;
			pb->dproc.comm = pb->dcomm;
			pb->dproc.cgroup_id = dp->cgroup_id;
			pb->dproc.container_id = (char *)dp->container_id;
			fl->destination_process = &pb->dproc;
		}
		fl->cgroup_id = sp->known ? sp->cgroup_id : dp->known ? dp->cgroup_id : 0;
	}
	if (f->drops) {
		const char *k = drop_reason_kernel_name(f->drop_reason);

		fl->drop_reason_kernel = (char *)k;
		fl->drop_reason_desc = (Flow__DropReason)drop_reason_hubble(k);
		fl->drops = f->drops;
	}
	{
		const char *sn = f->is_reply ? f->dst_name : f->src_name;
		const char *dn = f->is_reply ? f->src_name : f->dst_name;

		if (sn) {
			pb->src_names[0] = (char *)sn;
			fl->source_names = pb->src_names;
			fl->n_source_names = 1;
		}
		if (dn) {
			pb->dst_names[0] = (char *)dn;
			fl->destination_names = pb->dst_names;
			fl->n_destination_names = 1;
		}
	}
	{
		/* Endpoints and services from the identity file in force. */
		const struct identity *si = identities_lookup(f->family, src->addr);
		const struct identity *di = identities_lookup(f->family, dst->addr);

		if (si) {
			flow__endpoint__init(&pb->src_ep);
			pb->src_ep.namespace_ = (char *)si->ns;
			pb->src_ep.pod_name = (char *)si->pod;
			pb->src_ep.labels = si->labels;
			pb->src_ep.n_labels = si->n_labels;
			fl->source = &pb->src_ep;
			if (si->service[0]) {
				flow__service__init(&pb->src_svc);
				pb->src_svc.name = (char *)si->service;
				pb->src_svc.namespace_ = (char *)si->ns;
				fl->source_service = &pb->src_svc;
			}
		}
		if (di) {
			flow__endpoint__init(&pb->dst_ep);
			pb->dst_ep.namespace_ = (char *)di->ns;
			pb->dst_ep.pod_name = (char *)di->pod;
			pb->dst_ep.labels = di->labels;
			pb->dst_ep.n_labels = di->n_labels;
			fl->destination = &pb->dst_ep;
			if (di->service[0]) {
				flow__service__init(&pb->dst_svc);
				pb->dst_svc.name = (char *)di->service;
				pb->dst_svc.namespace_ = (char *)di->ns;
				fl->destination_service = &pb->dst_svc;
			}
		}
	}
	if (f->dns.present) {
		int i;

		/* Hubble writes DNS names fully qualified, with the final dot. */
		flow__layer7__init(&pb->l7);
		flow__dns__init(&pb->dns);
		pb->l7.type = f->dns.response ? FLOW__L7_FLOW_TYPE__RESPONSE
					      : FLOW__L7_FLOW_TYPE__REQUEST;
		pb->l7.record_case = FLOW__LAYER7__RECORD_DNS;
		pb->l7.dns = &pb->dns;
		snprintf(pb->query, sizeof(pb->query), "%s%s", f->dns.query ? f->dns.query : "",
			 f->dns.query && strcmp(f->dns.query, ".") ? "." : "");
		pb->dns.query = pb->query;
		for (i = 0; i < f->dns.n_ips; i++) {
			inet_ntop(f->dns.ip_family[i] == 6 ? AF_INET6 : AF_INET, f->dns.ips[i],
				  pb->dns_ipbuf[i], sizeof(pb->dns_ipbuf[i]));
			pb->dns_ips[i] = pb->dns_ipbuf[i];
		}
		pb->dns.ips = pb->dns_ips;
		pb->dns.n_ips = f->dns.n_ips;
		pb->dns.ttl = f->dns.ttl;
		pb->dns.rcode = f->dns.rcode;
		pb->qtypes[0] = (char *)dns_type_name(f->dns.qtype);
		pb->dns.qtypes = pb->qtypes;
		pb->dns.n_qtypes = 1;
		pb->dns.observation_source = "flowscope-tc";
		fl->l7 = &pb->l7;
		fl->type = FLOW__FLOW_TYPE__L7;
	}
	fl->rtt_us = f->rtt_us;
	fl->retransmits = f->retransmits;
	fl->socket_cookie = f->socket_cookie;

	pb->resp.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW;
	pb->resp.flow = fl;
	pb->resp.node_name = pb->node;
	pb->resp_time = pb->time;
	pb->resp.time = &pb->resp_time;
}

static void build_lost(struct lost_pb *pb, int source, uint64_t count, const char *node_name,
		       uint64_t time_ns)
{
	observer__get_flows_response__init(&pb->resp);
	flow__lost_event__init(&pb->lost);
	pb->lost.source = (Flow__LostEventSource)source;
	pb->lost.num_events_lost = count;
	snprintf(pb->node, sizeof(pb->node), "%s", node_name ? node_name : "");
	set_ts(&pb->time, time_ns);
	pb->resp.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS;
	pb->resp.lost_events = &pb->lost;
	pb->resp.node_name = pb->node;
	pb->resp.time = &pb->time;
}

/* gRPC framing: compressed flag 0, then the 4-byte big-endian length. */
static int append_frame(struct buf *out, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p;

	if (n > UINT32_MAX || buf_reserve(out, n + 5))
		return -ENOMEM;
	p = (uint8_t *)out->data + out->len;
	p[0] = 0;
	p[1] = (uint8_t)(n >> 24);
	p[2] = (uint8_t)(n >> 16);
	p[3] = (uint8_t)(n >> 8);
	p[4] = (uint8_t)n;
	protobuf_c_message_pack(m, p + 5);
	out->len += n + 5;
	out->data[out->len] = '\0';
	return 0;
}

static int append_json_line(struct buf *out, const ProtobufCMessage *m)
{
	size_t before = out->len;
	int err = pb_json_write(out, m);

	if (!err)
		err = buf_putc(out, '\n');
	if (err) {
		out->len = before;
		if (out->data)
			out->data[before] = '\0';
	}
	return err;
}

int flow_pb_json_line(struct buf *out, const struct flow *f, const char *node_name)
{
	struct flow_pb pb;

	build(&pb, f, node_name);
	return append_json_line(out, &pb.resp.base);
}

int flow_pb_frame(struct buf *out, const struct flow *f, const char *node_name)
{
	struct flow_pb pb;

	build(&pb, f, node_name);
	return append_frame(out, &pb.resp.base);
}

int flow_pb_lost_json_line(struct buf *out, int source, uint64_t count, const char *node_name,
			   uint64_t time_ns)
{
	struct lost_pb pb;

	build_lost(&pb, source, count, node_name, time_ns);
	return append_json_line(out, &pb.resp.base);
}

int flow_pb_lost_frame(struct buf *out, int source, uint64_t count, const char *node_name,
		       uint64_t time_ns)
{
	struct lost_pb pb;

	build_lost(&pb, source, count, node_name, time_ns);
	return append_frame(out, &pb.resp.base);
}

/* The heap version keeps every sub-message inside one allocation: the response is the first
 * member of struct flow_pb, so freeing it frees all. */
Observer__GetFlowsResponse *flow_pb_response_new(const struct flow *f, const char *node_name)
{
	struct flow_pb *pb = malloc(sizeof(*pb));

	if (!pb)
		return NULL;
	build(pb, f, node_name);
	return &pb->resp;
}

void flow_pb_response_free(Observer__GetFlowsResponse *r)
{
	free(r); /* r is &pb->resp, the first member */
}
