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
#include "flowscope/base/pb_pack.h"
#include "flowscope/base/addr.h"
#include "flowscope/base/str.h"
#include "flowscope/pipeline/flow_view.h"

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
	Flow__TCPFlags flags, flags_seen;
	Google__Protobuf__BoolValue is_reply;
	Flow__NetworkInterface iface;
	Flow__CiliumEventType event_type;
	Flow__Process sproc, dproc;
	Flow__Layer7 l7;
	Flow__Endpoint src_ep, dst_ep;
	Flow__Service src_svc, dst_svc;
	Flow__Workload src_wl, dst_wl, *src_wlp[1], *dst_wlp[1];
	Flow__DNS dns;
	char *src_names[1], *dst_names[1];
	char *dns_ips[4], *qtypes[1];
	char dns_ipbuf[4][INET6_ADDRSTRLEN];
	char query[DNS_NAME_MAX + 2];
	char scomm[16], dcomm[16];
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char ifname[IF_NAMESIZE];
	char uuid[FLOW_UUID_STR_LEN];
	char summary[640];
	char node[256];
};

/* The node's labels (flowd --node-label), on every flow. */
static char **node_labels;
static size_t n_node_labels;

void flow_pb_set_node_labels(char **labels, size_t n)
{
	node_labels = labels;
	n_node_labels = n;
}

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

/* The ICMP type of the event's packet: a reply event of an echo (or timestamp, information,
 * address mask) request flow carries the reply type. */
static uint8_t icmp_type_of(const struct flow *f)
{
	static const uint8_t v4[][2] = {{8, 0}, {13, 14}, {15, 16}, {17, 18}},
			     v6[][2] = {{128, 129}};
	size_t i;

	if (!f->is_reply)
		return f->icmp_type;
	if (f->proto == IPPROTO_ICMP) {
		for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
			if (f->icmp_type == v4[i][0])
				return v4[i][1];
	} else if (f->icmp_type == v6[0][0]) {
		return v6[0][1];
	}
	return f->icmp_type;
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
		pb->icmp4.type = icmp_type_of(f);
		pb->icmp4.code = f->icmp_code;
		pb->l4.protocol_case = FLOW__LAYER4__PROTOCOL_ICMPV4;
		pb->l4.icmpv4 = &pb->icmp4;
		break;
	case IPPROTO_ICMPV6:
		flow__icmpv6__init(&pb->icmp6);
		pb->icmp6.type = icmp_type_of(f);
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
	if (!flow_proc_known(p))
		return NULL;
	flow__process__init(m);
	memcpy(comm, p->comm, 16);
	comm[15] = '\0';
	m->pid = p->pid;
	m->comm = comm;
	m->cgroup_id = p->cgroup_id;
	if (p->container_id)
		m->container_id = (char *)p->container_id;
	return m;
}

/* Endpoint of an address: its numeric identity (reserved host or world without an identity
 * file entry), and namespace, pod, labels, workload and service from the entry in force. */
static void build_identity(Flow__Endpoint *ep, Flow__Service *svc, Flow__Workload *wl,
			   Flow__Workload **wlp, Flow__Endpoint **ep_out, Flow__Service **svc_out,
			   const struct flow *f, const struct flow_endpoint *end)
{
	const struct identity *id = identities_of(f, end);

	flow__endpoint__init(ep);
	ep->identity = identities_numeric_of(f, end);
	*ep_out = ep;
	if (!id)
		return;
	ep->namespace_ = (char *)id->ns;
	ep->pod_name = (char *)id->pod;
	ep->labels = id->labels;
	ep->n_labels = id->n_labels;
	if (id->workload[0]) {
		flow__workload__init(wl);
		wl->name = (char *)id->workload;
		wl->kind = (char *)id->workload_kind;
		wlp[0] = wl;
		ep->workloads = wlp;
		ep->n_workloads = 1;
	}
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
		addr_str(f->dns.ip_family[i], f->dns.ips[i], pb->dns_ipbuf[i]);
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
	const struct flow_process *sp = s ? f->dst_proc : f->src_proc;
	const struct flow_process *dp = s ? f->src_proc : f->dst_proc;
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
	fl->cgroup_id = flow_proc_known(sp)   ? sp->cgroup_id
			: flow_proc_known(dp) ? dp->cgroup_id
					      : 0;
	if (f->drops) {
		fl->drop_reason_kernel = (char *)drop_reason_kernel_name(f->drop_reason);
		fl->drops = f->drops;
	}
	if (f->proto == IPPROTO_TCP) {
		set_flags(&pb->flags_seen, f->tcp_flags_seen[0] | f->tcp_flags_seen[1]);
		fl->flags_seen = &pb->flags_seen;
	}
	fl->observation_copy = f->copy;
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

/* Cilium's names of ICMP types and codes (as its Summary prints them, e.g. "ICMPv4 EchoRequest",
 * "ICMPv6 DestinationUnreachable(PortUnreachable)"). */
struct icmp_name {
	uint8_t type;
	const char *name;
	const char *const *codes;
	uint8_t n_codes;
};

static const char *const v4_unreach[] = {"Net",
					 "Host",
					 "Protocol",
					 "Port",
					 "FragmentationNeeded",
					 "SourceRoutingFailed",
					 "NetUnknown",
					 "HostUnknown",
					 "SourceIsolated",
					 "NetAdminProhibited",
					 "HostAdminProhibited",
					 "NetTOS",
					 "HostTOS",
					 "CommAdminProhibited",
					 "HostPrecedence",
					 "PrecedenceCutoff"};
static const char *const v4_redirect[] = {"Network", "Host", "TOS+Network", "TOS+Host"};
static const char *const v4_time[] = {"TTLExceeded", "FragmentReassemblyTimeExceeded"};
static const char *const v4_param[] = {"PointerIndicatesError", "MissingOption", "BadLength"};
static const char *const v6_unreach[] = {
	"NoRouteToDst",	   "AdminProhibited",	     "BeyondScopeOfSrc", "AddressUnreachable",
	"PortUnreachable", "SrcAddressFailedPolicy", "RejectRouteToDst"};
static const char *const v6_time[] = {"HopLimitExceeded", "FragmentReassemblyTimeExceeded"};
static const char *const v6_param[] = {"ErroneousHeaderField", "UnrecognizedNextHeader",
				       "UnrecognizedIPv6Option"};
#define CODES(a) a, sizeof(a) / sizeof(a[0])
static const struct icmp_name icmp4_names[] = {
	{0, "EchoReply", NULL, 0},
	{3, "DestinationUnreachable", CODES(v4_unreach)},
	{4, "SourceQuench", NULL, 0},
	{5, "Redirect", CODES(v4_redirect)},
	{8, "EchoRequest", NULL, 0},
	{9, "RouterAdvertisement", NULL, 0},
	{10, "RouterSolicitation", NULL, 0},
	{11, "TimeExceeded", CODES(v4_time)},
	{12, "ParameterProblem", CODES(v4_param)},
	{13, "TimestampRequest", NULL, 0},
	{14, "TimestampReply", NULL, 0},
	{15, "InfoRequest", NULL, 0},
	{16, "InfoReply", NULL, 0},
	{17, "AddressMaskRequest", NULL, 0},
	{18, "AddressMaskReply", NULL, 0},
};
static const struct icmp_name icmp6_names[] = {
	{1, "DestinationUnreachable", CODES(v6_unreach)},
	{2, "PacketTooBig", NULL, 0},
	{3, "TimeExceeded", CODES(v6_time)},
	{4, "ParameterProblem", CODES(v6_param)},
	{128, "EchoRequest", NULL, 0},
	{129, "EchoReply", NULL, 0},
	{130, "MulticastListenerQuery", NULL, 0},
	{131, "MulticastListenerReport", NULL, 0},
	{132, "MulticastListenerDone", NULL, 0},
	{133, "RouterSolicitation", NULL, 0},
	{134, "RouterAdvertisement", NULL, 0},
	{135, "NeighborSolicitation", NULL, 0},
	{136, "NeighborAdvertisement", NULL, 0},
	{137, "Redirect", NULL, 0},
	{143, "MulticastListenerReportV2", NULL, 0},
};

static void icmp_summary(char *out, size_t len, const struct icmp_name *names, size_t n,
			 const char *proto, uint8_t type, uint8_t code)
{
	size_t i;

	for (i = 0; i < n && names[i].type != type; i++)
		;
	if (i == n)
		snprintf(out, len, "%s %u(%u)", proto, type, code);
	else if (code < names[i].n_codes)
		snprintf(out, len, "%s %s(%s)", proto, names[i].name, names[i].codes[code]);
	else if (code || names[i].n_codes)
		snprintf(out, len, "%s %s(Code: %u)", proto, names[i].name, code);
	else
		snprintf(out, len, "%s %s", proto, names[i].name);
}

/* Cilium's TCP flag list: "SYN, ACK" (its order, not the header's). */
static size_t tcp_flag_list(char *out, size_t len, uint16_t f)
{
	static const struct {
		uint16_t bit;
		const char *name;
	} order[] = {{FLOW_TCP_SYN, "SYN"}, {FLOW_TCP_ACK, "ACK"}, {FLOW_TCP_RST, "RST"},
		     {FLOW_TCP_FIN, "FIN"}, {FLOW_TCP_PSH, "PSH"}, {FLOW_TCP_URG, "URG"},
		     {FLOW_TCP_ECE, "ECE"}, {FLOW_TCP_CWR, "CWR"}, {FLOW_TCP_NS, "NS"}};
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((f & order[i].bit) && o < len)
			o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "",
					      order[i].name);
	return o;
}

/* Cilium's rcode names, as its DNS summary prints them. */
static const char *rcode_name(uint8_t rcode)
{
	static const char *const names[] = {"No Error",	       "Format Error",
					    "Server Failure",  "Non-Existent Domain",
					    "Not Implemented", "Query Refused"};

	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "Unknown";
}

static void dns_summary(struct flow_pb *pb, const struct flow *f)
{
	char ips[4 * INET6_ADDRSTRLEN + 4];
	size_t o = 0;
	int i;

	if (!f->dns.response) {
		snprintf(pb->summary, sizeof(pb->summary), "DNS Query %s %s", pb->query,
			 pb->qtypes[0]);
		return;
	}
	if (f->dns.rcode) {
		snprintf(pb->summary, sizeof(pb->summary), "DNS Answer RCode: %s (Query %s %s)",
			 rcode_name(f->dns.rcode), pb->query, pb->qtypes[0]);
		return;
	}
	ips[0] = '\0';
	for (i = 0; i < f->dns.n_ips && o < sizeof(ips); i++)
		o += (size_t)snprintf(ips + o, sizeof(ips) - o, "%s%s", i ? "," : "",
				      pb->dns_ipbuf[i]);
	snprintf(pb->summary, sizeof(pb->summary), "DNS Answer %s%s%s (Query %s %s)",
		 f->dns.n_ips ? "\"" : "", ips, f->dns.n_ips ? "\"" : "", pb->query, pb->qtypes[0]);
}

/* The Summary Cilium writes for the packet an event tells of ("TCP Flags: SYN, ACK", "UDP",
 * "ICMPv4 EchoRequest", "DNS Query example.com. A"); events without a packet say what they are
 * ("Flow end: 12 packets, 3400 bytes; TCP Flags seen: SYN, ACK, FIN"). */
static void build_summary(struct flow_pb *pb, const struct flow *f)
{
	char flags[64];
	size_t o;

	if (f->event == FLOW_EVENT_UPDATE || f->event == FLOW_EVENT_END) {
		o = (size_t)snprintf(pb->summary, sizeof(pb->summary),
				     "Flow %s: %llu packets, %llu bytes",
				     f->event == FLOW_EVENT_END ? "end" : "update",
				     (unsigned long long)(f->packets[0] + f->packets[1]),
				     (unsigned long long)(f->bytes[0] + f->bytes[1]));
		if (f->proto == IPPROTO_TCP && o < sizeof(pb->summary) &&
		    tcp_flag_list(flags, sizeof(flags),
				  f->tcp_flags_seen[0] | f->tcp_flags_seen[1]))
			snprintf(pb->summary + o, sizeof(pb->summary) - o, "; TCP Flags seen: %s",
				 flags);
	} else if (f->event == FLOW_EVENT_DNS && f->dns.present) {
		dns_summary(pb, f);
	} else if (f->proto == IPPROTO_TCP) {
		tcp_flag_list(flags, sizeof(flags), f->tcp_flags);
		snprintf(pb->summary, sizeof(pb->summary), "TCP Flags: %s", flags);
	} else if (f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP) {
		str_copy(pb->summary, sizeof(pb->summary),
			 f->proto == IPPROTO_UDP ? "UDP" : "SCTP");
	} else if (f->proto == IPPROTO_ICMP) {
		icmp_summary(pb->summary, sizeof(pb->summary), icmp4_names,
			     sizeof(icmp4_names) / sizeof(icmp4_names[0]), "ICMPv4",
			     icmp_type_of(f), f->icmp_code);
	} else if (f->proto == IPPROTO_ICMPV6) {
		icmp_summary(pb->summary, sizeof(pb->summary), icmp6_names,
			     sizeof(icmp6_names) / sizeof(icmp6_names[0]), "ICMPv6",
			     icmp_type_of(f), f->icmp_code);
	} else {
		str_copy(pb->summary, sizeof(pb->summary), f->family == 6 ? "IPv6" : "IPv4");
	}
	/* Deprecated in Cilium's proto but what Hubble's printer shows. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	pb->flow.summary = pb->summary;
#pragma GCC diagnostic pop
}

/* Hubble's event type, observation point and drop reason of the event. */
static void build_event_type(struct flow_pb *pb, const struct flow *f)
{
	Flow__Flow *fl = &pb->flow;

	flow__cilium_event_type__init(&pb->event_type);
	flow_event_type(f, &pb->event_type.type, &pb->event_type.sub_type);
	fl->event_type = &pb->event_type;
	fl->trace_observation_point = (Flow__TraceObservationPoint)flow_trace_point(f);
	if (f->verdict == FLOW_VERDICT_DROPPED) {
		fl->drop_reason_desc = (Flow__DropReason)flow_drop_code(f);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		fl->drop_reason = (uint32_t)fl->drop_reason_desc; /* its older form */
#pragma GCC diagnostic pop
	}
	flow_uuid_str(f, pb->uuid);
	fl->uuid = pb->uuid;
}

static void build(struct flow_pb *pb, const struct flow *f, const char *node_name)
{
	/* A reply event is told from the replier's side, as Hubble does. */
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;
	Flow__Flow *fl = &pb->flow;

	observer__get_flows_response__init(&pb->resp);
	flow__flow__init(fl);
	if (f->origin)
		node_name = f->origin->name; /* a relayed flow: the node it was seen on */
	str_copy(pb->node, sizeof(pb->node), node_name ? node_name : "");
	set_ts(&pb->time, f->time_ns);
	fl->time = &pb->time;
	fl->verdict = f->verdict == FLOW_VERDICT_DROPPED ? FLOW__VERDICT__DROPPED
							 : FLOW__VERDICT__FORWARDED;
	fl->type = FLOW__FLOW_TYPE__L3_L4;
	fl->node_name = pb->node;

	flow__ip__init(&pb->ip);
	addr_str(f->family, src->addr, pb->src);
	addr_str(f->family, dst->addr, pb->dst);
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
	fl->node_labels = f->origin ? (char **)f->origin->labels : node_labels;
	fl->n_node_labels = f->origin ? f->origin->n_labels : n_node_labels;
	build_event_type(pb, f);
	build_extensions(pb, f);
	build_identity(&pb->src_ep, &pb->src_svc, &pb->src_wl, pb->src_wlp, &fl->source,
		       &fl->source_service, f, src);
	build_identity(&pb->dst_ep, &pb->dst_svc, &pb->dst_wl, pb->dst_wlp, &fl->destination,
		       &fl->destination_service, f, dst);
	if (f->dns.present)
		build_dns(pb, f);
	build_summary(pb, f);

	pb->resp.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW;
	pb->resp.flow = fl;
	pb->resp.node_name = pb->node;
	pb->resp.late = f->late;
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
	str_copy(pb->node, sizeof(pb->node), node_name ? node_name : "");
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

/* A GetFlowsResponse carrying a relay's node status (relay.NodeStatusEvent). */
static int build_node_status(struct buf *out, bool json, int state, const char *const *names,
			     size_t n, const char *message, const char *node_name, uint64_t time_ns)
{
	Observer__GetFlowsResponse resp = OBSERVER__GET_FLOWS_RESPONSE__INIT;
	Relay__NodeStatusEvent ev = RELAY__NODE_STATUS_EVENT__INIT;
	Google__Protobuf__Timestamp t;

	set_ts(&t, time_ns);
	ev.state_change = (Relay__NodeState)state;
	ev.node_names = (char **)names;
	ev.n_node_names = n;
	ev.message = (char *)(message ? message : "");
	resp.response_types_case = OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_NODE_STATUS;
	resp.node_status = &ev;
	resp.node_name = (char *)(node_name ? node_name : "");
	resp.time = &t;
	return json ? append_json_line(out, &resp.base) : grpc_frame_append(out, &resp.base);
}

int flow_pb_node_status_frame(struct buf *out, int state, const char *const *names, size_t n,
			      const char *message, const char *node_name, uint64_t time_ns)
{
	return build_node_status(out, false, state, names, n, message, node_name, time_ns);
}

int flow_pb_node_status_json_line(struct buf *out, int state, const char *const *names, size_t n,
				  const char *message, const char *node_name, uint64_t time_ns)
{
	return build_node_status(out, true, state, names, n, message, node_name, time_ns);
}

/* ---- field masks ------------------------------------------------------------------------ */

/* A mask over one message type: per field, clear it, keep it whole, or keep what the child mask
 * over its message keeps. */
enum { MASK_CLEAR, MASK_KEEP, MASK_PARTIAL };

struct flow_pb_mask {
	const ProtobufCMessageDescriptor *d;
	uint8_t *keep;
	struct flow_pb_mask **child;
};

void flow_pb_mask_free(struct flow_pb_mask *m)
{
	unsigned int i;

	if (!m)
		return;
	for (i = 0; m->child && i < m->d->n_fields; i++)
		flow_pb_mask_free(m->child[i]);
	free(m->child);
	free(m->keep);
	free(m);
}

static struct flow_pb_mask *mask_node(const ProtobufCMessageDescriptor *d)
{
	struct flow_pb_mask *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->d = d;
	m->keep = calloc(d->n_fields, sizeof(*m->keep));
	m->child = calloc(d->n_fields, sizeof(*m->child));
	if (!m->keep || !m->child) {
		flow_pb_mask_free(m);
		return NULL;
	}
	return m;
}

/* Adds one path ("source.identity", "l4", "IP.source") of n bytes to m. */
static int mask_add(struct flow_pb_mask *m, const char *path, size_t n, struct errmsg *e)
{
	const char *dot = memchr(path, '.', n);
	size_t len = dot ? (size_t)(dot - path) : n;
	const ProtobufCFieldDescriptor *fd;
	char name[128];
	unsigned int i;

	if (!len || len >= sizeof(name))
		return errmsg_set(e, -EINVAL, "invalid field path '%.*s' in field mask", (int)n,
				  path);
	memcpy(name, path, len);
	name[len] = '\0';
	fd = protobuf_c_message_descriptor_get_field_by_name(m->d, name);
	if (!fd)
		return errmsg_set(e, -EINVAL, "unknown field '%s' of %s in field mask", name,
				  m->d->name);
	i = (unsigned int)(fd - m->d->fields);
	if (!dot) {
		m->keep[i] = MASK_KEEP;
		flow_pb_mask_free(m->child[i]);
		m->child[i] = NULL;
		return 0;
	}
	if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
		return errmsg_set(e, -EINVAL, "field '%s' of %s has no fields ('%.*s')", name,
				  m->d->name, (int)n, path);
	if (m->keep[i] == MASK_KEEP)
		return 0; /* already kept whole */
	if (!m->child[i]) {
		m->child[i] = mask_node(fd->descriptor);
		if (!m->child[i])
			return errmsg_set(e, -ENOMEM, "out of memory");
	}
	m->keep[i] = MASK_PARTIAL;
	return mask_add(m->child[i], dot + 1, n - len - 1, e);
}

int flow_pb_mask_from_paths(char *const *paths, size_t n, struct flow_pb_mask **out,
			    struct errmsg *e)
{
	struct flow_pb_mask *m;
	size_t i;
	int err;

	*out = NULL;
	if (!n)
		return 0;
	m = mask_node(&flow__flow__descriptor);
	if (!m)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		err = mask_add(m, paths[i], strlen(paths[i]), e);
		if (err) {
			flow_pb_mask_free(m);
			return err;
		}
	}
	*out = m;
	return 0;
}

int flow_pb_mask_new(const char *fields, struct flow_pb_mask **out, struct errmsg *e)
{
	const char *p = fields;
	struct flow_pb_mask *m;
	int err;

	*out = NULL;
	if (!fields || !fields[0])
		return 0;
	m = mask_node(&flow__flow__descriptor);
	if (!m)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		err = n ? mask_add(m, p, n, e)
			: errmsg_set(e, -EINVAL, "empty field name in field mask '%s'", fields);
		if (err) {
			flow_pb_mask_free(m);
			return err;
		}
		if (!end)
			break;
		p = end + 1;
	}
	*out = m;
	return 0;
}

/* Clears one field of m in place (nothing to free: the message points into struct flow_pb). */
static void clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	char *base = (char *)m;

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
	memset(base + fd->offset, 0, pb_value_size(fd->type));
}

/* Clears what m does not keep, in place, down the message tree. */
static void mask_apply(const struct flow_pb_mask *m, ProtobufCMessage *msg)
{
	unsigned int i;

	for (i = 0; i < m->d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &m->d->fields[i];
		char *base = (char *)msg;

		if (m->keep[i] == MASK_CLEAR) {
			clear_field(msg, fd);
		} else if (m->keep[i] == MASK_PARTIAL) {
			if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
			    *(uint32_t *)(base + fd->quantifier_offset) != fd->id)
				continue;
			if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
				size_t k, n = *(size_t *)(base + fd->quantifier_offset);
				ProtobufCMessage **v = *(ProtobufCMessage ***)(base + fd->offset);

				for (k = 0; k < n; k++)
					mask_apply(m->child[i], v[k]);
			} else if (*(ProtobufCMessage **)(base + fd->offset)) {
				mask_apply(m->child[i], *(ProtobufCMessage **)(base + fd->offset));
			}
		}
	}
}

int flow_pb_json_line_masked(struct buf *out, const struct flow *f, const char *node_name,
			     const struct flow_pb_mask *m)
{
	struct flow_pb pb;

	build(&pb, f, node_name);
	if (m)
		mask_apply(m, &pb.flow.base);
	return append_json_line(out, &pb.resp.base);
}

int flow_pb_frame_masked(struct buf *out, const struct flow *f, const char *node_name,
			 const struct flow_pb_mask *m)
{
	struct flow_pb pb;

	build(&pb, f, node_name);
	if (m)
		mask_apply(m, &pb.flow.base);
	return grpc_frame_append(out, &pb.resp.base);
}
