/* GET /metrics (see include/flowscope/serve/metrics.h). */
#include <errno.h>
#include <string.h>

#include "flowscope/enrich/dns_cache.h"
#include "flowscope/enrich/drop_reason.h"
#include "flowscope/graph/graph.h"
#include "flowscope/enrich/identities.h"
#include "flowscope/serve/metrics.h"
#include "flowscope/enrich/sock_table.h"
#include "flow.pb-c.h"

static const char *const protos[METRIC_PROTOS] = {"TCP",    "UDP",  "ICMPv4",
						  "ICMPv6", "SCTP", "other"};
static const char *const flags[9] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"};

static int head(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *drop_label(unsigned int reason)
{
	const char *k;
	const ProtobufCEnumValue *v;
	int h;

	if (reason == 255)
		return "other";
	k = drop_reason_kernel_name(reason);
	h = drop_reason_hubble(k);
	/* Hubble's name where one fits, as hubble_drop_total reports it; else the kernel's. */
	v = h ? protobuf_c_enum_descriptor_get_value(&flow__drop_reason__descriptor, h) : NULL;
	return v ? v->name : k;
}

struct sub_ctx {
	struct buf *b;
	int err;
};

static void put_sub(const char *name, uint64_t lost, void *arg)
{
	struct sub_ctx *sc = arg;

	if (!sc->err)
		sc->err = buf_printf(sc->b,
				     "flowscope_subscriber_lost_total{subscriber=\"%s\"} %llu\n",
				     name, (unsigned long long)lost);
}

int metrics_write(struct buf *b, struct collector *c, uint64_t now_wall_ns,
		  const struct metrics_exporter *ex, int n_ex)
{
	struct collector_metrics *m = &c->metrics;
	struct flow_store_stats st;
	uint64_t lost = 0;
	int err = 0, t, v, p, i;
	unsigned int r;

	flow_store_get_stats(c->store, &st);
	if (c->lost_records)
		c->lost_records(c, &lost);

	err = err
		      ?: head(b, "hubble_flows_processed_total", "counter",
			      "Flow events published, by type, verdict and protocol");
	for (t = 0; t < 2 && !err; t++)
		for (v = 0; v < 2 && !err; v++)
			for (p = 0; p < METRIC_PROTOS && !err; p++)
				if (m->flows[t][v][p])
					err = buf_printf(
						b,
						"hubble_flows_processed_total{type=\"%s\","
						"subtype=\"\",verdict=\"%s\",protocol=\"%s\"} "
						"%llu\n",
						t ? "L7" : "L3_L4", v ? "DROPPED" : "FORWARDED",
						protos[p], (unsigned long long)m->flows[t][v][p]);

	err = err
		      ?: head(b, "hubble_drop_total", "counter",
			      "Packets of tracked flows the kernel dropped, by reason and "
			      "protocol");
	for (r = 0; r < 256 && !err; r++)
		for (p = 0; p < METRIC_PROTOS && !err; p++)
			if (m->drops[r][p])
				err = buf_printf(
					b,
					"hubble_drop_total{reason=\"%s\",protocol=\"%s\"} %llu\n",
					drop_label(r), protos[p],
					(unsigned long long)m->drops[r][p]);

	err = err
		      ?: head(b, "hubble_tcp_flags_total", "counter",
			      "TCP flow events by the flags of their packet and IP family");
	for (i = 0; i < 9 && !err; i++)
		for (v = 0; v < 2 && !err; v++)
			if (m->tcp_flags[i][v])
				err = buf_printf(
					b,
					"hubble_tcp_flags_total{flag=\"%s\",family=\"%s\"} %llu\n",
					flags[i], v ? "IPv6" : "IPv4",
					(unsigned long long)m->tcp_flags[i][v]);

	err = err
		      ?: head(b, "hubble_lost_events_total", "counter",
			      "Events lost: ring records that found the kernel ring full, flows "
			      "streaming "
			      "clients could not take");
	err = err
		      ?: buf_printf(b,
				    "hubble_lost_events_total{source=\"perf_event_ring_buffer\"} "
				    "%llu\n"
				    "hubble_lost_events_total{source=\"observer_events_queue\"} "
				    "%llu\n",
				    (unsigned long long)lost,
				    (unsigned long long)(m->follower_lost_grpc +
							 m->follower_lost_http));
	err = err
		      ?: head(b, "flowscope_follower_lost_total", "counter",
			      "Flows streaming clients lost because their queue was full, by API");
	err = err
		      ?: buf_printf(b,
				    "flowscope_follower_lost_total{api=\"grpc\"} %llu\n"
				    "flowscope_follower_lost_total{api=\"http\"} %llu\n",
				    (unsigned long long)m->follower_lost_grpc,
				    (unsigned long long)m->follower_lost_http);

	if (c->ring_usage) {
		uint64_t pending = 0, cap = 0;

		if (!c->ring_usage(c, &pending, &cap)) {
			err = err
				      ?: head(b, "flowscope_ring_pending_bytes", "gauge",
					      "Bytes written to the per-CPU rings, not read yet");
			err = err
				      ?: buf_printf(b, "flowscope_ring_pending_bytes %llu\n",
						    (unsigned long long)pending);
			err = err
				      ?: head(b, "flowscope_ring_capacity_bytes", "gauge",
					      "Total size of the per-CPU rings");
			err = err
				      ?: buf_printf(b, "flowscope_ring_capacity_bytes %llu\n",
						    (unsigned long long)cap);
		}
	}
	{
		struct sub_ctx sc = {.b = b};

		err = err
			      ?: head(b, "flowscope_subscriber_lost_total", "counter",
				      "Flows each streaming client could not take (its queue was "
				      "full)");
		if (!err) {
			flow_bus_foreach_named(c->bus, put_sub, &sc);
			err = sc.err;
		}
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
				    (unsigned long long)(c->stats.records - c->stats.sock_records -
							 c->stats.drop_records -
							 c->stats.dns_records),
				    (unsigned long long)c->stats.sock_records,
				    (unsigned long long)c->stats.drop_records,
				    (unsigned long long)c->stats.dns_records);
	err = err
		      ?: head(b, "flowscope_record_errors_total", "counter",
			      "Records rejected by the decoder");
	err = err
		      ?: buf_printf(b, "flowscope_record_errors_total %llu\n",
				    (unsigned long long)c->stats.decode_errors);
	err = err
		      ?: head(b, "flowscope_dns_errors_total", "counter",
			      "DNS payloads that were not well-formed DNS messages");
	err = err
		      ?: buf_printf(b, "flowscope_dns_errors_total %llu\n",
				    (unsigned long long)c->stats.dns_errors);
	err = err ?: head(b, "flowscope_flows_seen_total", "counter", "Flows seen since start");
	err = err
		      ?: buf_printf(b, "flowscope_flows_seen_total %llu\n",
				    (unsigned long long)st.seen);
	err = err
		      ?: head(b, "flowscope_flows_evicted_total", "counter",
			      "Flows the store dropped because it was full");
	err = err
		      ?: buf_printf(b, "flowscope_flows_evicted_total %llu\n",
				    (unsigned long long)st.evicted);
	err = err ?: head(b, "flowscope_store_flows", "gauge", "Flows held by the store");
	err = err
		      ?: buf_printf(b,
				    "flowscope_store_flows{state=\"active\"} %llu\n"
				    "flowscope_store_flows{state=\"ended\"} %llu\n",
				    (unsigned long long)st.active,
				    (unsigned long long)(st.stored - st.active));
	err = err ?: head(b, "flowscope_store_capacity", "gauge", "Flows the store can hold");
	err = err ?: buf_printf(b, "flowscope_store_capacity %zu\n", flow_store_capacity(c->store));
	err = err
		      ?: head(b, "flowscope_kernel_flows", "gauge",
			      "Entries of the kernel flow map at the latest sweep");
	err = err
		      ?: buf_printf(b, "flowscope_kernel_flows %llu\n",
				    (unsigned long long)m->last_sweep_entries);
	err = err
		      ?: head(b, "flowscope_bus_subscribers", "gauge",
			      "Subscribers of the flow bus (streaming clients, graph)");
	err = err ?: buf_printf(b, "flowscope_bus_subscribers %u\n", flow_bus_count(c->bus));
	if (c->socks) {
		struct sock_table_stats ss;

		sock_table_get_stats(c->socks, &ss);
		err = err ?: head(b, "flowscope_sockets", "gauge", "Local TCP sockets known");
		err = err
			      ?: buf_printf(b, "flowscope_sockets %llu\n",
					    (unsigned long long)ss.sockets);
	}
	if (c->dns) {
		struct dns_cache_stats ds;

		dns_cache_get_stats(c->dns, &ds);
		err = err ?: head(b, "flowscope_dns_names", "gauge", "Addresses with a DNS name");
		err = err
			      ?: buf_printf(b, "flowscope_dns_names %llu\n",
					    (unsigned long long)ds.addrs);
	}
	if (c->graph) {
		struct graph_stats gs;

		graph_get_stats(c->graph, &gs);
		err = err
			      ?: head(b, "flowscope_graph_nodes", "gauge",
				      "Nodes of the service graph");
		err = err
			      ?: buf_printf(b, "flowscope_graph_nodes %llu\n",
					    (unsigned long long)gs.nodes);
		err = err
			      ?: head(b, "flowscope_graph_edges", "gauge",
				      "Edges of the service graph");
		err = err
			      ?: buf_printf(b, "flowscope_graph_edges %llu\n",
					    (unsigned long long)gs.edges);
		err = err
			      ?: head(b, "flowscope_graph_folded_total", "counter",
				      "Graph nodes and edges folded into other (caps reached)");
		err = err
			      ?: buf_printf(b,
					    "flowscope_graph_folded_total{what=\"node\"} %llu\n"
					    "flowscope_graph_folded_total{what=\"edge\"} %llu\n",
					    (unsigned long long)gs.folded_nodes,
					    (unsigned long long)gs.folded_edges);
	}
	err = err
		      ?: head(b, "flowscope_identities", "gauge",
			      "Entries of the identity file in force");
	err = err
		      ?: buf_printf(b, "flowscope_identities %zu\n",
				    identity_table_size(identities_get()));
	err = err
		      ?: head(b, "flowscope_identity_reloads_total", "counter",
			      "Identity file reloads, by result");
	err = err
		      ?: buf_printf(b,
				    "flowscope_identity_reloads_total{result=\"ok\"} %llu\n"
				    "flowscope_identity_reloads_total{result=\"error\"} %llu\n",
				    (unsigned long long)c->stats.identity_reloads,
				    (unsigned long long)c->stats.identity_errors);
	if (n_ex > 0) {
		err = err
			      ?: head(b, "flowscope_exporter_flows_total", "counter",
				      "Flows handled by each exporter, by outcome");
		for (i = 0; i < n_ex && !err; i++)
			err = buf_printf(b,
					 "flowscope_exporter_flows_total{exporter=\"%s\",outcome="
					 "\"written\"} %llu\n"
					 "flowscope_exporter_flows_total{exporter=\"%s\",outcome="
					 "\"filtered\"} %llu\n"
					 "flowscope_exporter_flows_total{exporter=\"%s\",outcome="
					 "\"dropped\"} %llu\n",
					 ex[i].name, (unsigned long long)ex[i].written, ex[i].name,
					 (unsigned long long)ex[i].filtered, ex[i].name,
					 (unsigned long long)ex[i].dropped);
		err = err
			      ?: head(b, "flowscope_exporter_queue_bytes", "gauge",
				      "Bytes waiting in each exporter's buffer");
		for (i = 0; i < n_ex && !err; i++)
			err = buf_printf(b,
					 "flowscope_exporter_queue_bytes{exporter=\"%s\"} %llu\n",
					 ex[i].name, (unsigned long long)ex[i].queued_bytes);
	}
	err = err ?: head(b, "flowscope_uptime_seconds", "gauge", "Seconds since flowd started");
	err = err
		      ?: buf_printf(b, "flowscope_uptime_seconds %.3f\n",
				    now_wall_ns > c->start_wall_ns
					    ? (now_wall_ns - c->start_wall_ns) / 1e9
					    : 0.0);
	return err ? -ENOMEM : 0;
}
