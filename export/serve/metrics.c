/* GET /metrics (see include/flowscope/serve/metrics.h). Each section writes its families; every
 * write goes through buf_printf, so the first allocation failure stops the rest. */
#include <errno.h>
#include <string.h>

#include "flowscope/enrich/drop_reason.h"
#include "flowscope/serve/metrics.h"
#include "flow.pb-c.h"

static const char *const protos[METRIC_PROTOS] = {"TCP",    "UDP",  "ICMPv4",
						  "ICMPv6", "SCTP", "other"};
static const char *const flags[9] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"};

static int head(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family with a single unlabelled sample. */
static int single(struct buf *b, const char *name, const char *type, const char *help,
		  unsigned long long v)
{
	return head(b, name, type, help) ?: buf_printf(b, "%s %llu\n", name, v);
}

static const char *drop_label(unsigned int reason)
{
	const ProtobufCEnumValue *v;
	const char *k;
	int h;

	if (reason == 255)
		return "other";
	k = drop_reason_kernel_name(reason);
	h = drop_reason_hubble(k);
	/* Hubble's name where one fits, as hubble_drop_total reports it; else the kernel's. */
	v = h ? protobuf_c_enum_descriptor_get_value(&flow__drop_reason__descriptor, h) : NULL;
	return v ? v->name : k;
}

static int hubble_flows(struct buf *b, const struct collector_stats *c)
{
	int err, t, v, p;
	unsigned int r;

	err = head(b, "hubble_flows_processed_total", "counter",
		   "Flow events published, by type, verdict and protocol");
	for (t = 0; t < 2 && !err; t++)
		for (v = 0; v < 2 && !err; v++)
			for (p = 0; p < METRIC_PROTOS && !err; p++)
				if (c->flows[t][v][p])
					err = buf_printf(
						b,
						"hubble_flows_processed_total{type=\"%s\","
						"subtype=\"\",verdict=\"%s\",protocol=\"%s\"} %llu\n",
						t ? "L7" : "L3_L4", v ? "DROPPED" : "FORWARDED",
						protos[p], (unsigned long long)c->flows[t][v][p]);
	err = err
		      ?: head(b, "hubble_drop_total", "counter",
			      "Packets of tracked flows the kernel dropped, by reason and protocol");
	for (r = 0; r < 256 && !err; r++)
		for (p = 0; p < METRIC_PROTOS && !err; p++)
			if (c->drops[r][p])
				err = buf_printf(
					b,
					"hubble_drop_total{reason=\"%s\",protocol=\"%s\"} %llu\n",
					drop_label(r), protos[p],
					(unsigned long long)c->drops[r][p]);
	err = err
		      ?: head(b, "hubble_tcp_flags_total", "counter",
			      "TCP flow events by the flags of their packet and IP family");
	for (t = 0; t < 9 && !err; t++)
		for (v = 0; v < 2 && !err; v++)
			if (c->tcp_flags[t][v])
				err = buf_printf(
					b,
					"hubble_tcp_flags_total{flag=\"%s\",family=\"%s\"} %llu\n",
					flags[t], v ? "IPv6" : "IPv4",
					(unsigned long long)c->tcp_flags[t][v]);
	return err;
}

/* Frees the kernel gives a drop reason but that lose nothing (see drop_reason.h): counted by
 * the probe instead of reported, so they are never DROPPED flows nor in hubble_drop_total. */
static int ignored_frees(struct buf *b, const struct status *st)
{
	size_t i;
	int err;

	if (!st->have_ignored)
		return 0;
	err = head(
		b, "flowscope_kernel_frees_ignored_total", "counter",
		"Packets the kernel freed with a drop reason that loses nothing (a refusal answered by RST or ICMP, a duplicate TCP segment, a copy), by kernel reason: not counted as drops");
	for (i = 0; i < st->n_ignored && !err; i++)
		if (st->ignored[i].count)
			err = buf_printf(
				b, "flowscope_kernel_frees_ignored_total{reason=\"%s\"} %llu\n",
				drop_reason_kernel_name(st->ignored[i].reason),
				(unsigned long long)st->ignored[i].count);
	return err;
}

struct sub_ctx {
	struct buf *b;
	int err;
};

static void put_sub(const char *name, uint64_t lost, void *arg)
{
	struct sub_ctx *sc = arg;

	sc->err = sc->err
			  ?: buf_printf(sc->b,
					"flowscope_subscriber_lost_total{subscriber=\"%s\"} %llu\n",
					name, (unsigned long long)lost);
}

static int losses(struct buf *b, const struct status *st)
{
	const uint64_t *lost = st->followers.lost;
	struct sub_ctx sc = {.b = b};
	int err;

	err = head(
		b, "hubble_lost_events_total", "counter",
		"Events lost: ring records that found the kernel ring full, flows streaming clients could not take");
	err = err
		      ?: buf_printf(
				 b,
				 "hubble_lost_events_total{source=\"perf_event_ring_buffer\"} %llu\n"
				 "hubble_lost_events_total{source=\"observer_events_queue\"} %llu\n",
				 (unsigned long long)st->lost_records,
				 (unsigned long long)(lost[FOLLOWER_GRPC] + lost[FOLLOWER_HTTP]));
	err = err
		      ?: head(b, "flowscope_follower_lost_total", "counter",
			      "Flows streaming clients lost because their queue was full, by API");
	err = err
		      ?: buf_printf(b,
				    "flowscope_follower_lost_total{api=\"grpc\"} %llu\n"
				    "flowscope_follower_lost_total{api=\"http\"} %llu\n",
				    (unsigned long long)lost[FOLLOWER_GRPC],
				    (unsigned long long)lost[FOLLOWER_HTTP]);
	err = err
		      ?: head(b, "flowscope_follower_queued_bytes", "gauge",
			      "Memory of the streaming clients' queues (gRPC and HTTP) together");
	err = err
		      ?: buf_printf(b, "flowscope_follower_queued_bytes %llu\n",
				    (unsigned long long)st->follow_bytes);
	err = err
		      ?: head(b, "flowscope_follower_queued_bytes_max", "gauge",
			      "The bound of flowscope_follower_queued_bytes (--follow-total-bytes)");
	err = err
		      ?: buf_printf(b, "flowscope_follower_queued_bytes_max %llu\n",
				    (unsigned long long)st->follow_bytes_max);
	err = err
		      ?: head(b, "flowscope_subscriber_lost_total", "counter",
			      "Flows each streaming client could not take (its queue was full)");
	if (!err && st->hub) {
		follower_hub_foreach(st->hub, put_sub, &sc);
		err = sc.err;
	}
	return err;
}

static int rings_and_records(struct buf *b, const struct status *st)
{
	const struct collector_stats *c = &st->col;
	int err = 0;

	if (st->have_rings) {
		err = single(b, "flowscope_ring_pending_bytes", "gauge",
			     "Bytes written to the per-CPU rings, not read yet", st->ring_pending);
		err = err
			      ?: single(b, "flowscope_ring_capacity_bytes", "gauge",
					"Total size of the per-CPU rings", st->ring_capacity);
	}
	err = err
		      ?: head(b, "flowscope_records_total", "counter",
			      "Records read from the probes' rings, by kind");
	err = err
		      ?: buf_printf(b,
				    "flowscope_records_total{kind=\"flow\"} %llu\n"
				    "flowscope_records_total{kind=\"socket\"} %llu\n"
				    "flowscope_records_total{kind=\"drop\"} %llu\n"
				    "flowscope_records_total{kind=\"dns\"} %llu\n",
				    (unsigned long long)(c->records - c->sock_records -
							 c->drop_records - c->dns_records),
				    (unsigned long long)c->sock_records,
				    (unsigned long long)c->drop_records,
				    (unsigned long long)c->dns_records);
	err = err
		      ?: single(b, "flowscope_record_errors_total", "counter",
				"Records rejected by the decoder", c->decode_errors);
	err = err
		      ?: single(b, "flowscope_dns_errors_total", "counter",
				"DNS payloads that were not well-formed DNS messages",
				c->dns_errors);
	return err;
}

static int store(struct buf *b, const struct status *st)
{
	int err;

	err = single(b, "flowscope_flows_seen_total", "counter", "Flows seen since start",
		     st->store.seen);
	err = err
		      ?: single(b, "flowscope_flows_evicted_total", "counter",
				"Flows the store dropped because it was full", st->store.evicted);
	err = err ?: head(b, "flowscope_store_flows", "gauge", "Flows held by the store");
	err = err
		      ?: buf_printf(b,
				    "flowscope_store_flows{state=\"active\"} %llu\n"
				    "flowscope_store_flows{state=\"ended\"} %llu\n",
				    (unsigned long long)st->store.active,
				    (unsigned long long)(st->store.stored - st->store.active));
	err = err
		      ?: single(b, "flowscope_store_capacity", "gauge", "Flows the store can hold",
				st->store_capacity);
	err = err
		      ?: single(b, "flowscope_kernel_flows", "gauge",
				"Entries of the kernel flow map at the latest sweep",
				st->col.last_sweep_entries);
	err = err
		      ?: single(b, "flowscope_kernel_flows_untracked", "gauge",
				"Kernel flow entries the latest sweep left untracked: the store had no "
				"room but an active flow's (--max-flows)",
				st->col.last_sweep_untracked);
	err = err
		      ?: single(b, "flowscope_bus_subscribers", "gauge",
				"Subscribers of the flow bus (streaming clients, graph, exporters)",
				st->bus_subscribers);
	return err;
}

static int dns(struct buf *b, const struct status *st)
{
	const struct dns_match_stats *m = &st->col.dns_match;
	int err;

	err = single(b, "flowscope_dns_names", "gauge", "Addresses with a DNS name", st->dns.addrs);
	err = err
		      ?: single(b, "flowscope_dns_clients", "gauge",
				"Clients whose DNS answers name addresses", st->dns.clients);
	err = err
		      ?: single(b, "flowscope_dns_names_evicted_total", "counter",
				"Addresses forgotten before their TTL to make room (per-client or total "
				"limit)",
				st->dns.evicted);
	err = err
		      ?: single(b, "flowscope_dns_name_strings", "gauge", "Distinct DNS names kept",
				st->dns.names);
	err = err
		      ?: single(b, "flowscope_dns_name_strings_freed_total", "counter",
				"DNS names freed when the table was full (no flow held them)",
				st->dns.names_freed);
	err = err
		      ?: single(b, "flowscope_dns_name_strings_refused_total", "counter",
				"DNS names not kept: the table was full of names in use",
				st->dns.full);
	err = err
		      ?: head(b, "flowscope_dns_answers_total", "counter",
			      "DNS responses, by whether they answer a query seen (unmatched ones "
			      "name nothing)");
	err = err
		      ?: buf_printf(b,
				    "flowscope_dns_answers_total{match=\"matched\"} %llu\n"
				    "flowscope_dns_answers_total{match=\"unmatched\"} %llu\n",
				    (unsigned long long)m->matched,
				    (unsigned long long)m->unmatched);
	err = err
		      ?: single(b, "flowscope_dns_queries_unanswered_total", "counter",
				"DNS queries with no response within the query timeout",
				m->unanswered);
	err = err
		      ?: single(b, "flowscope_dns_queries_evicted_total", "counter",
				"DNS queries forgotten before their timeout (too many pending)",
				m->evicted);
	return err
		       ?: single(b, "flowscope_dns_queries_pending", "gauge",
				 "DNS queries and answers being matched", m->pending);
}

static int enrichment(struct buf *b, const struct status *st)
{
	int err = 0;

	if (st->have_socks) {
		err = single(b, "flowscope_sockets", "gauge", "Local TCP sockets known",
			     st->socks.sockets);
		err = err
			      ?: single(b, "flowscope_process_records", "gauge",
					"Distinct processes (pid, comm, cgroup) flows point at",
					st->socks.processes);
		err = err
			      ?: single(b, "flowscope_process_records_refused_total", "counter",
					"Flow ends left without their process: the table was full of "
					"processes in use",
					st->socks.processes_full);
	}
	if (st->have_dns)
		err = err ?: dns(b, st);
	if (st->have_graph) {
		err = err
			      ?: single(b, "flowscope_graph_nodes", "gauge",
					"Nodes of the service graph", st->graph.nodes);
		err = err
			      ?: single(b, "flowscope_graph_edges", "gauge",
					"Edges of the service graph", st->graph.edges);
		err = err
			      ?: head(b, "flowscope_graph_folded_total", "counter",
				      "Graph nodes and edges folded into other (caps reached)");
		err = err
			      ?: buf_printf(b,
					    "flowscope_graph_folded_total{what=\"node\"} %llu\n"
					    "flowscope_graph_folded_total{what=\"edge\"} %llu\n",
					    (unsigned long long)st->graph.folded_nodes,
					    (unsigned long long)st->graph.folded_edges);
	}
	err = err
		      ?: single(b, "flowscope_identities", "gauge",
				"Entries of the identity file in force", st->identities.entries);
	err = err
		      ?: head(b, "flowscope_identity_reloads_total", "counter",
			      "Identity file reloads, by result");
	err = err
		      ?: buf_printf(b,
				    "flowscope_identity_reloads_total{result=\"ok\"} %llu\n"
				    "flowscope_identity_reloads_total{result=\"error\"} %llu\n",
				    (unsigned long long)st->identities.reloads,
				    (unsigned long long)st->identities.errors);
	return err;
}

static int exporters(struct buf *b, const struct status *st)
{
	static const char *const outcomes[] = {"written", "filtered", "dropped"};
	size_t i, k;
	int err = 0;

	if (!st->n_exporters)
		return 0;
	err = head(b, "flowscope_exporter_flows_total", "counter",
		   "Flow events handled by each exporter, by outcome");
	for (i = 0; i < st->n_exporters && !err; i++) {
		const struct exporter_stats *x = &st->exporters[i].st;
		const uint64_t v[] = {x->written, x->filtered, x->dropped};

		for (k = 0; k < 3 && !err; k++)
			err = buf_printf(b,
					 "flowscope_exporter_flows_total{exporter=\"%s\","
					 "outcome=\"%s\"} %llu\n",
					 st->exporters[i].name, outcomes[k],
					 (unsigned long long)v[k]);
	}
	err = err
		      ?: head(b, "flowscope_exporter_errors_total", "counter",
			      "Failed operations of each exporter (writes, sends, connections)");
	for (i = 0; i < st->n_exporters && !err; i++)
		err = buf_printf(b, "flowscope_exporter_errors_total{exporter=\"%s\"} %llu\n",
				 st->exporters[i].name,
				 (unsigned long long)st->exporters[i].st.errors);
	err = err
		      ?: head(b, "flowscope_exporter_queue_bytes", "gauge",
			      "Bytes waiting in each exporter's buffer");
	for (i = 0; i < st->n_exporters && !err; i++)
		err = buf_printf(b, "flowscope_exporter_queue_bytes{exporter=\"%s\"} %llu\n",
				 st->exporters[i].name,
				 (unsigned long long)st->exporters[i].st.queued);
	err = err
		      ?: head(b, "flowscope_exporter_events_total", "counter",
			      "Each exporter's own counters (rotations, reconnects, records, ...)");
	for (i = 0; i < st->n_exporters && !err; i++)
		for (k = 0; k < st->exporters[i].st.n_extra && !err; k++)
			err = buf_printf(b,
					 "flowscope_exporter_events_total{exporter=\"%s\","
					 "event=\"%s\"} %llu\n",
					 st->exporters[i].name, st->exporters[i].st.extra[k].name,
					 (unsigned long long)st->exporters[i].st.extra[k].value);
	return err;
}

static int history(struct buf *b, const struct status *st)
{
	const struct history_stats *h = &st->history;
	int err;

	if (!st->have_history)
		return 0;
	err = single(b, "flowscope_history_events", "gauge", "Flow events the history keeps",
		     h->events);
	err = err
		      ?: single(b, "flowscope_history_bytes", "gauge",
				"Bytes the history uses on disk", h->bytes);
	err = err
		      ?: head(b, "flowscope_history_oldest_timestamp_seconds", "gauge",
			      "Time of the oldest flow event the history keeps (0: none)");
	err = err
		      ?: buf_printf(b, "flowscope_history_oldest_timestamp_seconds %.3f\n",
				    h->oldest_ns / 1e9);
	err = err
		      ?: single(b, "flowscope_history_dropped_total", "counter",
				"Flow events retention dropped (size or age caps)", h->dropped);
	err = err
		      ?: single(b, "flowscope_history_lost_total", "counter",
				"Flow events the history could not keep (stopped: disk full; damage)",
				h->lost);
	err = err
		      ?: single(b, "flowscope_history_damaged_blocks_total", "counter",
				"History blocks found damaged and skipped", h->damaged_blocks);
	err = err
		      ?: single(b, "flowscope_history_write_errors_total", "counter",
				"Failed history writes", h->write_errors);
	return err
		       ?: single(b, "flowscope_history_stopped", "gauge",
				 "1 while the history is not keeping events (a write failed)",
				 h->stopped);
}

int metrics_write(struct buf *b, const struct status *st)
{
	int err = hubble_flows(b, &st->col);

	err = err ?: ignored_frees(b, st);
	err = err ?: losses(b, st);
	err = err ?: rings_and_records(b, st);
	err = err ?: store(b, st);
	err = err ?: enrichment(b, st);
	err = err ?: exporters(b, st);
	err = err ?: history(b, st);
	err = err ?: head(b, "flowscope_uptime_seconds", "gauge", "Seconds since flowd started");
	err = err ?: buf_printf(b, "flowscope_uptime_seconds %.3f\n", st->uptime_ns / 1e9);
	return err ? -ENOMEM : 0;
}
