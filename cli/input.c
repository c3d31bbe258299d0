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

#include "flowscope/encode/flow_pb_decode.h"
#include "flowscope/encode/pb_json.h"
#include "flowscope/encode/pb_json_parse.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/enrich/identity.h"
#include "flowscope/filter/flow_filter.h"
#include "flowscope/pipeline/flow_view.h"
#include "input.h"

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
	if (!t || t->seconds < 0 || t->nanos < 0)
		return 0;
	return (uint64_t)t->seconds * 1000000000ULL + (uint64_t)t->nanos;
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
	if (flow_pb_to_flow(pb, &f))
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
