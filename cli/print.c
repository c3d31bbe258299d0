/* flowctl's output of GetFlowsResponse messages (see cli/print.h): Hubble's compact, dict and
 * table layouts with Flowscope's extra fields, or the canonical JSON line. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "flowscope/encode/pb_json.h"
#include "print.h"

static void fmt_time(const Google__Protobuf__Timestamp *t, char *out, size_t len)
{
	struct tm tm;
	time_t s;

	if (!t) {
		snprintf(out, len, "-");
		return;
	}
	s = (time_t)t->seconds;
	localtime_r(&s, &tm);
	strftime(out, len, "%b %e %H:%M:%S", &tm);
	snprintf(out + strlen(out), len - strlen(out), ".%03d", t->nanos / 1000000);
}

static void fmt_endpoint(const char *ip, uint32_t port, bool has_port, char *out, size_t len)
{
	if (!has_port)
		snprintf(out, len, "%s", ip);
	else if (strchr(ip, ':'))
		snprintf(out, len, "[%s]:%u", ip, port);
	else
		snprintf(out, len, "%s:%u", ip, port);
}

static void fmt_flags(const Flow__TCPFlags *f, char *out, size_t len)
{
	const struct {
		protobuf_c_boolean v;
		const char *n;
	} all[] = {{f->syn, "SYN"}, {f->ack, "ACK"}, {f->fin, "FIN"},
		   {f->rst, "RST"}, {f->psh, "PSH"}, {f->urg, "URG"},
		   {f->ece, "ECE"}, {f->cwr, "CWR"}, {f->ns, "NS"}};
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i].v && o < len)
			o += snprintf(out + o, len - o, "%s%s", o ? ", " : "", all[i].n);
}

struct flow_text {
	char time[48], src[300], dst[300], proto[32], summary[160], verdict[24], type[16];
	char src_id[256], dst_id[256]; /* namespace/pod */
};

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	return ev ? ev->name : "?";
}

static void flow_to_text(const Flow__Flow *f, struct flow_text *t)
{
	const char *sip = f->ip ? f->ip->source : "?", *dip = f->ip ? f->ip->destination : "?";
	uint32_t sp = 0, dp = 0;
	bool ports = false;
	char flags[64] = "";

	fmt_time(f->time, t->time, sizeof(t->time));
	snprintf(t->proto, sizeof(t->proto), "%s", "IP");
	if (f->l4) {
		switch (f->l4->protocol_case) {
		case FLOW__LAYER4__PROTOCOL_TCP:
			sp = f->l4->tcp->source_port;
			dp = f->l4->tcp->destination_port;
			ports = true;
			snprintf(t->proto, sizeof(t->proto), "TCP");
			if (f->l4->tcp->flags)
				fmt_flags(f->l4->tcp->flags, flags, sizeof(flags));
			break;
		case FLOW__LAYER4__PROTOCOL_UDP:
			sp = f->l4->udp->source_port;
			dp = f->l4->udp->destination_port;
			ports = true;
			snprintf(t->proto, sizeof(t->proto), "UDP");
			break;
		case FLOW__LAYER4__PROTOCOL_SCTP:
			sp = f->l4->sctp->source_port;
			dp = f->l4->sctp->destination_port;
			ports = true;
			snprintf(t->proto, sizeof(t->proto), "SCTP");
			break;
		case FLOW__LAYER4__PROTOCOL_ICMPV4:
			snprintf(t->proto, sizeof(t->proto), "ICMPv4 %u/%u", f->l4->icmpv4->type,
				 f->l4->icmpv4->code);
			break;
		case FLOW__LAYER4__PROTOCOL_ICMPV6:
			snprintf(t->proto, sizeof(t->proto), "ICMPv6 %u/%u", f->l4->icmpv6->type,
				 f->l4->icmpv6->code);
			break;
		default:
			break;
		}
	}
	/* Like hubble: a known workload is shown as namespace/pod instead of its address. */
	if (f->source && f->source->pod_name && f->source->pod_name[0]) {
		snprintf(t->src_id, sizeof(t->src_id), "%s/%s", f->source->namespace_,
			 f->source->pod_name);
		sip = t->src_id;
	}
	if (f->destination && f->destination->pod_name && f->destination->pod_name[0]) {
		snprintf(t->dst_id, sizeof(t->dst_id), "%s/%s", f->destination->namespace_,
			 f->destination->pod_name);
		dip = t->dst_id;
	}
	fmt_endpoint(sip, sp, ports, t->src, sizeof(t->src));
	fmt_endpoint(dip, dp, ports, t->dst, sizeof(t->dst));
	snprintf(t->verdict, sizeof(t->verdict), "%s",
		 enum_name(&flow__verdict__descriptor, f->verdict));
	snprintf(t->type, sizeof(t->type), "%s", enum_name(&flow__flow_type__descriptor, f->type));
	if (flags[0])
		snprintf(t->summary, sizeof(t->summary), "%s Flags: %s", t->proto, flags);
	else
		snprintf(t->summary, sizeof(t->summary), "%s", t->proto);
}

static const char *event_word(Flow__FlowEvent e)
{
	switch (e) {
	case FLOW__FLOW_EVENT__FLOW_EVENT_START:
		return "start";
	case FLOW__FLOW_EVENT__FLOW_EVENT_TCP_FLAGS:
		return "flags";
	case FLOW__FLOW_EVENT__FLOW_EVENT_UPDATE:
		return "update";
	case FLOW__FLOW_EVENT__FLOW_EVENT_END:
		return "end";
	case FLOW__FLOW_EVENT__FLOW_EVENT_DROP:
		return "drop";
	case FLOW__FLOW_EVENT__FLOW_EVENT_DNS:
		return "dns";
	default:
		return NULL;
	}
}

/* comm[pid], and the container's short id (12 digits, as docker shows it) if any. */
static void print_process(const char *side, const Flow__Process *p)
{
	printf(" %s=%s[%u]", side, p->comm, p->pid);
	if (p->container_id && p->container_id[0])
		printf("@%.12s", p->container_id);
}

static void print_compact(const Flow__Flow *f)
{
	struct flow_text t;
	const char *ev = event_word(f->flow_event);

	flow_to_text(f, &t);
	printf("%s: %s -> %s %s%s %s", t.time, t.src, t.dst,
	       f->is_reply && f->is_reply->value ? "(reply) " : "", t.summary, t.verdict);
	if (f->interface && f->interface->name[0])
		printf(" if=%s", f->interface->name);
	if (f->traffic_direction)
		printf(" %s", f->traffic_direction == FLOW__TRAFFIC_DIRECTION__INGRESS ? "ingress"
										       : "egress");
	if (ev)
		printf(" [%s]", ev);
	if (f->packets_sent || f->packets_received)
		printf(" pkts %llu/%llu bytes %llu/%llu", (unsigned long long)f->packets_sent,
		       (unsigned long long)f->packets_received, (unsigned long long)f->bytes_sent,
		       (unsigned long long)f->bytes_received);
	if (f->source_process)
		print_process("src", f->source_process);
	if (f->destination_process)
		print_process("dst", f->destination_process);
	if (f->n_source_names)
		printf(" src-name=%s", f->source_names[0]);
	if (f->n_destination_names)
		printf(" dst-name=%s", f->destination_names[0]);
	if (f->l7 && f->l7->record_case == FLOW__LAYER7__RECORD_DNS) {
		const Flow__DNS *d = f->l7->dns;
		bool answer = f->l7->type == FLOW__L7_FLOW_TYPE__RESPONSE;
		size_t i;

		printf(" DNS %s %s %s", answer ? "answer" : "query", d->query,
		       d->n_qtypes ? d->qtypes[0] : "");
		if (answer)
			printf(" rcode=%u", d->rcode);
		for (i = 0; i < d->n_ips; i++)
			printf("%s%s", i ? "," : " ips=", d->ips[i]);
	}
	if (f->drops)
		printf(" drops=%llu reason=%s", (unsigned long long)f->drops,
		       f->drop_reason_kernel);
	if (f->rtt_us)
		printf(" rtt=%uus", f->rtt_us);
	if (f->retransmits)
		printf(" retrans=%u", f->retransmits);
	putchar('\n');
}

static void print_dict(const Flow__Flow *f, const char *node)
{
	struct flow_text t;

	flow_to_text(f, &t);
	printf("------------\n");
	printf("  TIMESTAMP: %s\n", t.time);
	printf("     SOURCE: %s\n", t.src);
	printf("DESTINATION: %s\n", t.dst);
	printf("       TYPE: %s\n", t.type);
	printf("    VERDICT: %s\n", t.verdict);
	printf("    SUMMARY: %s\n", t.summary);
	printf("       NODE: %s\n", node);
	if (f->interface)
		printf("  INTERFACE: %s\n", f->interface->name);
	printf("   IS_REPLY: %s\n", f->is_reply && f->is_reply->value ? "yes" : "no");
	printf("    PACKETS: %llu sent, %llu received\n", (unsigned long long)f->packets_sent,
	       (unsigned long long)f->packets_received);
	printf("      BYTES: %llu sent, %llu received\n", (unsigned long long)f->bytes_sent,
	       (unsigned long long)f->bytes_received);
}

static void print_table(struct printer *p, const Flow__Flow *f)
{
	struct flow_text t;

	if (!p->table_header_done) {
		printf("%-20s %-46s %-46s %-6s %-10s %s\n", "TIMESTAMP", "SOURCE", "DESTINATION",
		       "TYPE", "VERDICT", "SUMMARY");
		p->table_header_done = true;
	}
	flow_to_text(f, &t);
	printf("%-20s %-46s %-46s %-6s %-10s %s\n", t.time, t.src, t.dst, t.type, t.verdict,
	       t.summary);
}

int printer_flows_msg(const uint8_t *msg, size_t len, void *ctx)
{
	struct printer *p = ctx;
	Observer__GetFlowsResponse *r = observer__get_flows_response__unpack(NULL, len, msg);

	if (!r) {
		fprintf(stderr,
			"flowctl: the server sent a message that is not a GetFlowsResponse\n");
		return 1;
	}
	if (p->out == OUT_JSON || p->out == OUT_JSONPB) {
		buf_reset(&p->b);
		if (!pb_json_write(&p->b, &r->base))
			printf("%s\n", p->b.data);
	} else if (r->response_types_case ==
		   OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS) {
		printf("EVENTS LOST: %llu (%s)\n",
		       (unsigned long long)r->lost_events->num_events_lost,
		       enum_name(&flow__lost_event_source__descriptor, r->lost_events->source));
	} else if (r->response_types_case == OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW) {
		if (p->out == OUT_COMPACT)
			print_compact(r->flow);
		else if (p->out == OUT_DICT)
			print_dict(r->flow, r->node_name);
		else
			print_table(p, r->flow);
	}
	p->printed++;
	observer__get_flows_response__free_unpacked(r, NULL);
	return 0;
}
