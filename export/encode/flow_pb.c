/* Collector flows as Hubble's observer.GetFlowsResponse (see include/flowscope/encode/flow_pb.h).
 * The message is built on the stack (no allocation per flow) and then packed or written as JSON. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/grpc_frame.h"
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

static void build_l4(struct flow_pb *pb, const struct flow *f, const struct flow_endpoint *src,
		     const struct flow_endpoint *dst)
{
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
		pb->flow.l4 = &pb->l4;
}

static Flow__Process *build_proc(Flow__Process *m, char comm[16], const struct flow_process *p)
{
	if (!p->known)
		return NULL;
	flow__process__init(m);
	memcpy(comm, p->comm, 16);
	comm[15] = '\0';
	m->pid = p->pid;
	m->comm = comm;
	m->cgroup_id = p->cgroup_id;
	m->container_id = (char *)p->container_id;
	return m;
}

/* Endpoint and service of an address from the identity file in force. */
static void build_identity(Flow__Endpoint *ep, Flow__Service *svc, Flow__Endpoint **ep_out,
			   Flow__Service **svc_out, uint8_t family, const uint8_t *addr)
{
	const struct identity *id = identities_lookup(family, addr);

	if (!id)
		return;
	flow__endpoint__init(ep);
	ep->namespace_ = (char *)id->ns;
	ep->pod_name = (char *)id->pod;
	ep->labels = id->labels;
	ep->n_labels = id->n_labels;
	*ep_out = ep;
	if (id->service[0]) {
		flow__service__init(svc);
		svc->name = (char *)id->service;
		svc->namespace_ = (char *)id->ns;
		*svc_out = svc;
	}
}

/* Hubble's L7 DNS record of a DNS flow's latest message; names fully qualified (final dot). */
static void build_dns(struct flow_pb *pb, const struct flow *f)
{
	int i;

	flow__layer7__init(&pb->l7);
	flow__dns__init(&pb->dns);
	pb->l7.type = f->dns.response ? FLOW__L7_FLOW_TYPE__RESPONSE : FLOW__L7_FLOW_TYPE__REQUEST;
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
	pb->flow.l7 = &pb->l7;
	pb->flow.type = FLOW__FLOW_TYPE__L7;
}

/* Flowscope's extensions: counters, times, processes, drops, names. */
static void build_extensions(struct flow_pb *pb, const struct flow *f)
{
	Flow__Flow *fl = &pb->flow;
	int s = f->is_reply ? 1 : 0;
	const struct flow_process *sp = s ? &f->dst_proc : &f->src_proc;
	const struct flow_process *dp = s ? &f->src_proc : &f->dst_proc;
	const char *sn = s ? f->dst_name : f->src_name, *dn = s ? f->src_name : f->dst_name;

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
	fl->source_process = build_proc(&pb->sproc, pb->scomm, sp);
	fl->destination_process = build_proc(&pb->dproc, pb->dcomm, dp);
	fl->cgroup_id = sp->known ? sp->cgroup_id : dp->known ? dp->cgroup_id : 0;
	if (f->drops) {
		const char *k = drop_reason_kernel_name(f->drop_reason);

		fl->drop_reason_kernel = (char *)k;
		fl->drop_reason_desc = (Flow__DropReason)drop_reason_hubble(k);
		fl->drops = f->drops;
	}
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
	fl->rtt_us = f->rtt_us;
	fl->retransmits = f->retransmits;
	fl->socket_cookie = f->socket_cookie;
}

static void build(struct flow_pb *pb, const struct flow *f, const char *node_name)
{
	/* A reply event is told from the replier's side, as Hubble does. */
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;
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
	build_l4(pb, f, src, dst);

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

	build_extensions(pb, f);
	build_identity(&pb->src_ep, &pb->src_svc, &fl->source, &fl->source_service, f->family,
		       src->addr);
	build_identity(&pb->dst_ep, &pb->dst_svc, &fl->destination, &fl->destination_service,
		       f->family, dst->addr);
	if (f->dns.present)
		build_dns(pb, f);

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
	return grpc_frame_append(out, &pb.resp.base);
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
	return grpc_frame_append(out, &pb.resp.base);
}

/* ---- field masks ------------------------------------------------------------------------ */

struct flow_pb_mask {
	bool keep[64]; /* per field of flow.Flow, by descriptor index */
};

int flow_pb_mask_new(const char *fields, struct flow_pb_mask **out, struct errmsg *e)
{
	const ProtobufCMessageDescriptor *d = &flow__flow__descriptor;
	const char *p = fields;
	struct flow_pb_mask *m;

	*out = NULL;
	if (!fields || !fields[0])
		return 0;
	if (d->n_fields > sizeof(m->keep) / sizeof(m->keep[0]))
		return errmsg_set(e, -E2BIG, "flow.Flow has more fields than a mask holds");
	m = calloc(1, sizeof(*m));
	if (!m)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const ProtobufCFieldDescriptor *fd;
		char name[128];

		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n) {
			free(m);
			return errmsg_set(e, -EINVAL, "empty field name in field mask '%s'",
					  fields);
		}
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		fd = n < sizeof(name) ? protobuf_c_message_descriptor_get_field_by_name(d, name)
				      : NULL;
		if (!fd) {
			free(m);
			return errmsg_set(e, -EINVAL, "unknown field '%.*s' in field mask", (int)n,
					  p);
		}
		m->keep[fd - d->fields] = true;
		if (!end)
			break;
		p = end + 1;
	}
	*out = m;
	return 0;
}

void flow_pb_mask_free(struct flow_pb_mask *m)
{
	free(m);
}

/* Clears one field of m in place (nothing to free: the message points into struct flow_pb). */
static void clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	char *base = (char *)m;
	size_t n;

	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		*(size_t *)(base + fd->quantifier_offset) = 0;
		*(void **)(base + fd->offset) = NULL;
		return;
	}
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *which = (uint32_t *)(base + fd->quantifier_offset);

		if (*which != fd->id)
			return; /* the storage belongs to another member */
		*which = 0;
	} else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset) {
		*(protobuf_c_boolean *)(base + fd->quantifier_offset) = 0;
	}
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		n = sizeof(uint64_t);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		n = sizeof(double);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		n = sizeof(float);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		n = sizeof(protobuf_c_boolean);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		n = sizeof(int);
		break;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		n = sizeof(void *);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		n = sizeof(ProtobufCBinaryData);
		break;
	default:
		n = sizeof(uint32_t);
		break;
	}
	memset(base + fd->offset, 0, n);
}

int flow_pb_json_line_masked(struct buf *out, const struct flow *f, const char *node_name,
			     const struct flow_pb_mask *m)
{
	const ProtobufCMessageDescriptor *d = &flow__flow__descriptor;
	struct flow_pb pb;
	unsigned int i;

	build(&pb, f, node_name);
	for (i = 0; m && i < d->n_fields; i++)
		if (!m->keep[i])
			clear_field(&pb.flow.base, &d->fields[i]);
	return append_json_line(out, &pb.resp.base);
}
