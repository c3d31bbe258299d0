/* `flowctl observe --input-file` (see cli/input.h): JSON lines back into GetFlowsResponses,
 * their flows back into collector flows for flowd's own filter code. */
#define _GNU_SOURCE /* memfd_create */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flowscope/encode/pb_json.h"
#include "flowscope/encode/pb_json_parse.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/enrich/identity.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/flow_view.h"
#include "input.h"

#define HUBBLE_TO_ENDPOINT 101 /* flow.TraceObservationPoint's TO_ENDPOINT */
#define MAX_KERNEL_REASON 1024 /* kernel drop reasons searched for a name */

static void copy_proc(const Flow__Process *pb, struct flow_process *p)
{
	memset(p, 0, sizeof(*p));
	if (!pb)
		return;
	p->known = true;
	p->pid = pb->pid;
	snprintf(p->comm, sizeof(p->comm), "%s", pb->comm ? pb->comm : "");
	p->cgroup_id = pb->cgroup_id;
	snprintf(p->container_id, sizeof(p->container_id), "%s",
		 pb->container_id ? pb->container_id : "");
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
			f->tcp_flags =
				(uint16_t)((t->fin ? FLOW_TCP_FIN : 0) |
					   (t->syn ? FLOW_TCP_SYN : 0) |
					   (t->rst ? FLOW_TCP_RST : 0) |
					   (t->psh ? FLOW_TCP_PSH : 0) |
					   (t->ack ? FLOW_TCP_ACK : 0) |
					   (t->urg ? FLOW_TCP_URG : 0) |
					   (t->ece ? FLOW_TCP_ECE : 0) |
					   (t->cwr ? FLOW_TCP_CWR : 0) | (t->ns ? FLOW_TCP_NS : 0));
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
	static char query[256];
	const Flow__DNS *d = l7 && l7->record_case == FLOW__LAYER7__RECORD_DNS ? l7->dns : NULL;
	size_t i, n;

	if (!d)
		return;
	f->dns.present = true;
	f->dns.response = l7->type == FLOW__L7_FLOW_TYPE__RESPONSE;
	/* The collector keeps names without their final dot. */
	snprintf(query, sizeof(query), "%s", d->query ? d->query : "");
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

int input_flow_from_pb(const Flow__Flow *pb, struct flow *f)
{
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
		snprintf(f->ifname, sizeof(f->ifname), "%s",
			 pb->interface->name ? pb->interface->name : "");
	}
	event_from_pb(pb, f);
	dns_from_pb(pb->l7, f);
	/* Counters, processes and names are the initiator's and the responder's. */
	f->packets[s] = pb->packets_sent;
	f->bytes[s] = pb->bytes_sent;
	f->packets[!s] = pb->packets_received;
	f->bytes[!s] = pb->bytes_received;
	copy_proc(reply ? pb->destination_process : pb->source_process, &f->src_proc);
	copy_proc(reply ? pb->source_process : pb->destination_process, &f->dst_proc);
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

/* ---- the file's identities ------------------------------------------------------------- */

/* Whether any filter selects by what the identity table gives (pods, namespaces, services,
 * labels, workloads, numeric identities, service-graph nodes). */
static bool needs_identities(const struct observe_args *a)
{
	Flow__FlowFilter *const *lists[2] = {a->allow, a->deny};
	size_t ns[2] = {a->n_allow, a->n_deny}, l, i;

	for (l = 0; l < 2; l++) {
		for (i = 0; i < ns[l]; i++) {
			const Flow__FlowFilter *f = lists[l][i];

			if (f->n_source_pod || f->n_destination_pod || f->n_source_label ||
			    f->n_destination_label || f->n_source_service ||
			    f->n_destination_service || f->n_source_workload ||
			    f->n_destination_workload || f->n_source_identity ||
			    f->n_destination_identity || f->n_graph_node || f->n_graph_edge)
				return true;
		}
	}
	return false;
}

/* One identity-file entry (JSON, which the YAML loader reads) for an end of a flow. */
static int identity_entry(struct buf *b, const char *ip, const Flow__Endpoint *ep,
			  const Flow__Service *svc)
{
	size_t i;
	int err = buf_puts(b, "{\"ip\":") ?: buf_json_str(b, ip, strlen(ip));

	if (ep && ep->namespace_ && ep->namespace_[0])
		err = err ?: buf_puts(b, ",\"namespace\":") ?:
			      buf_json_str(b, ep->namespace_, strlen(ep->namespace_));
	if (ep && ep->pod_name && ep->pod_name[0])
		err = err ?: buf_puts(b, ",\"pod\":") ?:
			      buf_json_str(b, ep->pod_name, strlen(ep->pod_name));
	if (svc && svc->name && svc->name[0])
		err = err ?: buf_puts(b, ",\"service\":") ?:
			      buf_json_str(b, svc->name, strlen(svc->name));
	if (ep && ep->n_workloads && ep->workloads[0]->name && ep->workloads[0]->name[0]) {
		const Flow__Workload *w = ep->workloads[0];

		err = err ?: buf_puts(b, ",\"workload\":") ?:
			      buf_json_str(b, w->name, strlen(w->name));
		if (w->kind && w->kind[0])
			err = err ?: buf_puts(b, ",\"workload_kind\":") ?:
				      buf_json_str(b, w->kind, strlen(w->kind));
	}
	/* Numeric identities: the file's own, where the identity file can carry them. */
	if (ep && ep->identity >= 256 && ep->identity <= 16777215)
		err = err ?: buf_printf(b, ",\"identity\":%u", ep->identity);
	if (ep && ep->n_labels) {
		err = err ?: buf_puts(b, ",\"labels\":[");
		for (i = 0; i < ep->n_labels && !err; i++)
			if (strchr(ep->labels[i], '='))
				err = (b->data[b->len - 1] == '[' ? 0 : buf_putc(b, ','))
					      ?: buf_json_str(b, ep->labels[i],
							      strlen(ep->labels[i]));
		err = err ?: buf_putc(b, ']');
	}
	return err ?: buf_putc(b, '}');
}

/* Whether an end has what an identity-file entry can say. Ends with a reserved identity (host,
 * world, ...) get none: flowd's own rule for addresses without an entry (host for this
 * host's addresses, else world) stands for them. */
static bool has_identity(const Flow__Endpoint *ep, const Flow__Service *svc)
{
	size_t i;

	if (!ep)
		return svc && svc->name && svc->name[0];
	if (ep->identity >= 1 && ep->identity < 256)
		return false;
	if ((ep->namespace_ && ep->namespace_[0]) || (ep->pod_name && ep->pod_name[0]) ||
	    ep->n_workloads || ep->identity || (svc && svc->name && svc->name[0]))
		return true;
	for (i = 0; i < ep->n_labels; i++)
		if (strchr(ep->labels[i], '='))
			return true;
	return false;
}

/* The table in force and the text it was made from, to make a new one only when the ends
 * change. */
static struct buf table_text = BUF_INIT;

static void load_identities(const Flow__Flow *pb)
{
	struct buf b = BUF_INIT;
	struct identity_table *t = NULL;
	struct errmsg e = {""};
	char path[64];
	int fd, err;

	err = buf_puts(&b, "{\"identities\":[");
	if (has_identity(pb->source, pb->source_service))
		err = err ?: identity_entry(&b, pb->ip->source, pb->source, pb->source_service);
	/* The loader refuses the same address twice (a flow on loopback). */
	if (strcmp(pb->ip->source, pb->ip->destination) &&
	    has_identity(pb->destination, pb->destination_service))
		err = err ?: (b.data[b.len - 1] == '[' ? 0 : buf_putc(&b, ',')) ?:
			      identity_entry(&b, pb->ip->destination, pb->destination,
					     pb->destination_service);
	err = err ?: buf_puts(&b, "]}\n");
	if (err || (table_text.data && !strcmp(table_text.data, b.data))) {
		buf_free(&b);
		return;
	}
	buf_free(&table_text);
	table_text = b;
	fd = memfd_create("flowctl-identities", MFD_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (write(fd, b.data, b.len) == (ssize_t)b.len && !identity_table_load(path, &t, &e))
		identities_set(t);
	else
		identities_set(NULL);
	close(fd);
}

bool input_match(struct observe_args *a, const Flow__Flow *pb, const char *node_name)
{
	/* The node the flow was seen on, with the labels the file gives it. */
	struct filter_node node = {
		.name = node_name ? node_name : "",
		.labels = pb->node_labels,
		.n_labels = pb->n_node_labels,
	};
	struct flow f;

	if (!a->compiled)
		return true;
	if (input_flow_from_pb(pb, &f))
		return false;
	if (needs_identities(a))
		load_identities(pb);
	return flow_filter_set_match(a->compiled, &f, &node);
}

void input_cleanup(void)
{
	identities_set(NULL);
	buf_free(&table_text);
}

/* ---- reading ---------------------------------------------------------------------------- */

/* --last N of a file: a ring of the N latest responses selected. */
struct ring {
	Observer__GetFlowsResponse **r;
	size_t cap, n, head;
};

static void ring_put(struct ring *g, Observer__GetFlowsResponse *r)
{
	if (g->n == g->cap) {
		observer__get_flows_response__free_unpacked(g->r[g->head], NULL);
		g->r[g->head] = r;
		g->head = (g->head + 1) % g->cap;
		return;
	}
	g->r[(g->head + g->n++) % g->cap] = r;
}

/* Whether a response read from the file is one of those asked for. */
static bool selected(struct observe_args *a, const Observer__GetFlowsResponse *r)
{
	uint64_t t = ts_ns(r->time);

	if (a->since && t < a->since_ns)
		return false;
	if (a->until && t > a->until_ns)
		return false;
	if (r->response_types_case != OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW)
		return !a->compiled; /* lost events pass no filter, as in Hubble */
	return input_match(a, r->flow,
			   r->flow->node_name && r->flow->node_name[0] ? r->flow->node_name
								       : r->node_name);
}

static Observer__GetFlowsResponse *read_line(const char *line, size_t len, const char *name,
					     unsigned long lineno, bool *warned)
{
	struct pb_json_parse_opts o = {.ignore_unknown = true};
	struct errmsg e = {""};
	ProtobufCMessage *m;
	int r = pb_json_parse(&observer__get_flows_response__descriptor, line, len, NULL, &m, NULL,
			      &e);

	if (r == -ENOENT) {
		/* A newer writer's fields: read on without them, and say so once. */
		if (!*warned)
			fprintf(stderr, "flowctl: %s:%lu: %s; such fields are skipped\n", name,
				lineno, e.text);
		*warned = true;
		r = pb_json_parse(&observer__get_flows_response__descriptor, line, len, &o, &m,
				  NULL, &e);
	}
	if (r) {
		fprintf(stderr, "flowctl: %s:%lu: not a GetFlowsResponse, skipped: %s\n", name,
			lineno, e.text);
		return NULL;
	}
	return (Observer__GetFlowsResponse *)m;
}

int input_run(struct observe_args *a, FILE *in, const char *name, struct printer *p,
	      volatile int *stop)
{
	struct ring g = {0};
	char *line = NULL;
	size_t cap = 0, printed = 0, i;
	unsigned long lineno = 0;
	bool warned = false;
	ssize_t n;
	int err = 0;

	if (a->last_given && !a->first && a->last) {
		g.cap = a->last;
		g.r = calloc(g.cap, sizeof(*g.r));
		if (!g.r)
			return -ENOMEM;
	}
	while (!err && !*stop && (!a->first || printed < a->first) &&
	       (n = getline(&line, &cap, in)) >= 0) {
		Observer__GetFlowsResponse *r;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		r = read_line(line, (size_t)n, name, lineno, &warned);
		if (!r || !selected(a, r)) {
			if (r)
				observer__get_flows_response__free_unpacked(r, NULL);
			continue;
		}
		if (g.cap) {
			ring_put(&g, r);
			continue;
		}
		err = printer_response(p, r);
		printed++;
		observer__get_flows_response__free_unpacked(r, NULL);
	}
	if (ferror(in) && !err) {
		fprintf(stderr, "flowctl: cannot read %s: %s\n", name, strerror(errno));
		err = -EIO;
	}
	for (i = 0; i < g.n; i++) {
		Observer__GetFlowsResponse *r = g.r[(g.head + i) % g.cap];

		if (!err && !*stop)
			err = printer_response(p, r);
		observer__get_flows_response__free_unpacked(r, NULL);
	}
	free(g.r);
	free(line);
	input_cleanup();
	return err;
}
