/* Unit tests of the service dependency graph (collector/graph.c): aggregation of flow events
 * into nodes and client -> server edges (counted once per flow however often it is
 * published), node naming by what is known of an end, moves when an end becomes better known,
 * drops, resets, RTT percentiles, ageing, caps and the JSON the HTTP API serves. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/graph/graph.h"
#include "flowscope/pipeline/flow_store.h"
#include "flowscope/enrich/identities.h"

#define NS 1000000000ULL
#define T0 (1700000000ULL * NS)

static struct flow mk(uint64_t id, const char *src, uint16_t sp, const char *dst, uint16_t dp)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.family = 4;
	f.proto = IPPROTO_TCP;
	inet_pton(AF_INET, src, f.src.addr);
	inet_pton(AF_INET, dst, f.dst.addr);
	f.src.port = sp;
	f.dst.port = dp;
	f.first_seen_ns = f.last_seen_ns = f.time_ns = T0;
	f.event = FLOW_EVENT_START;
	return f;
}

static char *json(struct graph *g, uint64_t now, uint64_t window, const char *ns)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(graph_json(g, &b, now, window, ns), 0);
	ck_assert_int_eq(buf_putc(&b, '\0'), 0);
	return b.data;
}

/* The value of "key": in the edge object whose id is edge (a crude but strict lookup). */
static long long edge_num(const char *js, const char *edge, const char *key)
{
	char pat[400], k[64];
	const char *e, *end, *v;

	snprintf(pat, sizeof(pat), "{\"id\":\"%s\"", edge);
	e = strstr(js, pat);
	ck_assert_msg(e != NULL, "edge %s not in %s", edge, js);
	end = strstr(e, "\"last_seen\"");
	snprintf(k, sizeof(k), "\"%s\":", key);
	v = strstr(e, k);
	ck_assert_msg(v && v < end, "%s not in edge %s", key, edge);
	return atoll(v + strlen(k));
}

START_TEST(aggregates_flows_once_per_flow)
{
	struct graph *g = graph_new(NULL);
	struct flow a = mk(1, "10.0.0.1", 40000, "10.0.0.2", 80);
	struct flow b = mk(2, "10.0.0.1", 40001, "10.0.0.2", 80);
	struct graph_stats st;
	char *js;

	graph_add_flow(g, &a);
	/* The same flow published again with growing counters: only the difference counts. */
	a.packets[0] = 3;
	a.bytes[0] = 300;
	a.packets[1] = 2;
	a.bytes[1] = 2000;
	a.event = FLOW_EVENT_UPDATE;
	graph_add_flow(g, &a);
	a.packets[0] = 5;
	a.bytes[0] = 500;
	graph_add_flow(g, &a);
	/* An older view arriving late changes nothing. */
	a.packets[0] = 4;
	a.bytes[0] = 400;
	graph_add_flow(g, &a);
	b.packets[0] = 1;
	b.bytes[0] = 60;
	graph_add_flow(g, &b);
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.nodes, 2);
	ck_assert_uint_eq(st.edges, 1);
	js = json(g, T0, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "flows"), 2);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "active"), 2);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "bytes_sent"), 560);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "bytes_received"), 2000);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "packets_sent"), 6);
	ck_assert_ptr_nonnull(strstr(js, "\"source\":\"ip:10.0.0.1\",\"target\":\"ip:10.0.0.2\""));
	ck_assert_ptr_nonnull(strstr(js, "{\"id\":\"ip:10.0.0.2\",\"label\":\"10.0.0.2\","
					 "\"kind\":\"ip\",\"namespace\":\"\",\"flows\":2,"
					 "\"active\":2}"));
	free(js);
	/* The end of a flow: no longer active, its counters stay. */
	a.event = FLOW_EVENT_END;
	a.ended = true;
	graph_add_flow(g, &a);
	js = json(g, T0, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "active"), 1);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "flows"), 2);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "bytes_sent"), 560);
	free(js);
	graph_free(g);
}
END_TEST

START_TEST(nodes_are_named_by_what_is_known)
{
	char dir[] = "/tmp/fs-graph-XXXXXX", path[64], id[300], label[300], ns[64];
	struct flow_process proc = {0};
	struct identity_table *t;
	struct flow f = mk(1, "10.1.0.1", 40000, "10.1.0.2", 80);
	FILE *fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ids.yaml", dir);
	fp = fopen(path, "w");
	fputs("identities:\n"
	      "  - ip: 10.1.0.2\n    namespace: shop\n    service: web\n    pod: web-1\n"
	      "  - ip: 10.1.0.3\n    namespace: shop\n    pod: api-1\n",
	      fp);
	fclose(fp);
	ck_assert_int_eq(identity_table_load(path, &t, NULL), 0);
	identities_set(t);

	/* Service from the identity file beats everything. */
	ck_assert_int_eq(graph_node_id(&f, 1, id, sizeof(id), label, sizeof(label), ns, sizeof(ns)),
			 GRAPH_NODE_SERVICE);
	ck_assert_str_eq(id, "svc:shop/web");
	ck_assert_str_eq(label, "shop/web");
	ck_assert_str_eq(ns, "shop");
	/* A pod without a service. */
	inet_pton(AF_INET, "10.1.0.3", f.dst.addr);
	ck_assert_int_eq(graph_node_id(&f, 1, id, sizeof(id), label, sizeof(label), ns, sizeof(ns)),
			 GRAPH_NODE_POD);
	ck_assert_str_eq(id, "pod:shop/api-1");
	/* No identity: a container's process, then a process, then a DNS name, then the IP. */
	proc.known = true;
	proc.pid = 42;
	strcpy(proc.comm, "curl");
	proc.container_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	f.src_proc = &proc;
	f.src_name = "client.example";
	ck_assert_int_eq(graph_node_id(&f, 0, id, sizeof(id), label, sizeof(label), NULL, 0),
			 GRAPH_NODE_CONTAINER);
	ck_assert_str_eq(id, "ctr:0123456789ab");
	ck_assert_str_eq(label, "curl@0123456789ab");
	proc.container_id = NULL;
	ck_assert_int_eq(graph_node_id(&f, 0, id, sizeof(id), label, sizeof(label), NULL, 0),
			 GRAPH_NODE_PROCESS);
	ck_assert_str_eq(id, "proc:curl");
	f.src_proc = NULL;
	ck_assert_int_eq(graph_node_id(&f, 0, id, sizeof(id), label, sizeof(label), NULL, 0),
			 GRAPH_NODE_DNS);
	ck_assert_str_eq(id, "dns:client.example");
	f.src_name = NULL;
	ck_assert_int_eq(graph_node_id(&f, 0, id, sizeof(id), label, sizeof(label), NULL, 0),
			 GRAPH_NODE_IP);
	ck_assert_str_eq(id, "ip:10.1.0.1");
	ck_assert_str_eq(label, "10.1.0.1");
	/* Cut to the buffer as snprintf would, NUL-terminated; a NULL label and namespace. */
	ck_assert_int_eq(graph_node_id(&f, 0, id, 7, NULL, 0, NULL, 0), GRAPH_NODE_IP);
	ck_assert_str_eq(id, "ip:10.");
	f.src_proc = &proc;
	proc.container_id = "0123456789abcdef";
	ck_assert_int_eq(graph_node_id(&f, 0, id, 9, label, 8, NULL, 0), GRAPH_NODE_CONTAINER);
	ck_assert_str_eq(id, "ctr:0123");
	ck_assert_str_eq(label, "curl@01");
	f.src_proc = NULL;
	inet_pton(AF_INET, "10.1.0.3", f.src.addr);
	ck_assert_int_eq(graph_node_id(&f, 0, id, sizeof(id), label, 9, ns, 3), GRAPH_NODE_POD);
	ck_assert_str_eq(id, "pod:shop/api-1");
	ck_assert_str_eq(label, "shop/api");
	ck_assert_str_eq(ns, "sh");
	/* IPv6, as inet_ntop writes it. */
	f.family = 6;
	memset(f.src.addr, 0, 16);
	inet_pton(AF_INET6, "fd00:0:0:1::2", f.src.addr);
	ck_assert_int_eq(graph_node_id(&f, 0, id, sizeof(id), label, sizeof(label), ns, sizeof(ns)),
			 GRAPH_NODE_IP);
	ck_assert_str_eq(id, "ip:fd00:0:0:1::2");
	ck_assert_str_eq(ns, "");
	identities_set(NULL);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(flows_move_when_an_end_becomes_known)
{
	struct graph *g = graph_new(NULL);
	struct flow f = mk(7, "10.0.0.1", 40000, "10.0.0.2", 80);
	struct graph_stats st;
	char *js;

	f.bytes[0] = 100;
	f.packets[0] = 1;
	graph_add_flow(g, &f);
	/* The client's process arrives with a later event: the flow moves to proc:curl. */
	f.src_proc = &(const struct flow_process){.known = true, .comm = "curl"};
	f.bytes[0] = 150;
	f.packets[0] = 2;
	graph_add_flow(g, &f);
	js = json(g, T0, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:proc:curl>ip:10.0.0.2", "flows"), 1);
	ck_assert_int_eq(edge_num(js, "e:proc:curl>ip:10.0.0.2", "bytes_sent"), 150);
	ck_assert_int_eq(edge_num(js, "e:proc:curl>ip:10.0.0.2", "active"), 1);
	/* The old edge keeps nothing of it. */
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "flows"), 0);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "bytes_sent"), 0);
	free(js);
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.nodes, 3);
	graph_free(g);
}
END_TEST

START_TEST(drops_resets_and_rtt)
{
	struct graph *g = graph_new(NULL);
	struct flow f;
	char *js;
	int i;

	/* 100 connections with RTTs 1..100 us, ended: p50 50, p95 95, p99 99 of the newest 64. */
	for (i = 1; i <= 100; i++) {
		f = mk((uint64_t)i, "10.0.0.1", (uint16_t)(40000 + i), "10.0.0.2", 443);
		f.rtt_us = (uint32_t)i;
		f.ended = true;
		f.event = FLOW_EVENT_END;
		graph_add_flow(g, &f);
	}
	js = json(g, T0, 0, NULL);
	/* The newest 64 samples are 37..100. */
	ck_assert_ptr_nonnull(strstr(js, "\"rtt_us\":{\"p50\":68,\"p95\":97,\"p99\":100,"
					 "\"samples\":64}"));
	free(js);
	/* Drops by reason, counted as they grow; a reset once per flow. */
	f = mk(500, "10.0.0.1", 50000, "10.0.0.3", 9);
	f.verdict = FLOW_VERDICT_DROPPED;
	f.drop_reason = 3; /* NO_SOCKET on this kernel; the name comes from BTF */
	f.drops = 1;
	f.tcp_flags_seen[1] = FLOW_TCP_RST;
	graph_add_flow(g, &f);
	f.drops = 4;
	graph_add_flow(g, &f);
	graph_add_flow(g, &f);
	js = json(g, T0, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.3", "drops_total"), 4);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.3", "resets"), 1);
	ck_assert_ptr_nonnull(strstr(js, "\"drops\":{\"NO_SOCKET\":4}"));
	ck_assert_ptr_nonnull(strstr(js, "\"rtt_us\":null"));
	free(js);
	graph_free(g);
}
END_TEST

START_TEST(ageing_and_windows)
{
	struct graph_config cfg = {.window_ns = 60 * NS};
	struct graph *g = graph_new(&cfg);
	struct flow old = mk(1, "10.0.0.1", 40000, "10.0.0.2", 80);
	struct flow young = mk(2, "10.0.0.5", 40000, "10.0.0.6", 80);
	struct graph_stats st;
	char *js;

	graph_add_flow(g, &old);
	young.last_seen_ns = young.time_ns = T0 + 50 * NS;
	graph_add_flow(g, &young);
	/* A query window shorter than the graph's: only what was seen within it. */
	js = json(g, T0 + 55 * NS, 10 * NS, NULL);
	ck_assert_ptr_null(strstr(js, "ip:10.0.0.1"));
	ck_assert_ptr_nonnull(strstr(js, "ip:10.0.0.5"));
	free(js);
	/* Past the window, the old edge and its nodes go; the young stay. */
	graph_expire(g, T0 + 70 * NS);
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.edges, 1);
	ck_assert_uint_eq(st.nodes, 2);
	js = json(g, T0 + 70 * NS, 0, NULL);
	ck_assert_ptr_null(strstr(js, "ip:10.0.0.1"));
	free(js);
	/* A long-lived flow heard from again after its edge expired is counted afresh. */
	old.last_seen_ns = old.time_ns = T0 + 100 * NS;
	old.bytes[0] = 10;
	graph_add_flow(g, &old);
	js = json(g, T0 + 100 * NS, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "flows"), 1);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "bytes_sent"), 10);
	free(js);
	graph_expire(g, T0 + 1000 * NS);
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.edges, 0);
	ck_assert_uint_eq(st.nodes, 0);
	graph_free(g);
}
END_TEST

/* Flows never ended (evicted from the store) leave the tracking table after the window: its
 * slots are reused, not lost; the table's bytes grow with its size. */
START_TEST(tracked_flows_expire_with_the_window)
{
	struct graph_config cfg = {.window_ns = 60 * NS, .max_tracked_flows = 2};
	struct graph_config big = {.window_ns = 60 * NS, .max_tracked_flows = 2000};
	struct graph *g = graph_new(&cfg), *gb = graph_new(&big);
	struct flow a = mk(1, "10.0.0.1", 40000, "10.0.0.2", 80);
	struct flow b = mk(2, "10.0.0.3", 40000, "10.0.0.2", 80);
	struct flow c = mk(3, "10.0.0.4", 40000, "10.0.0.2", 80);
	struct graph_stats st, stb;

	graph_add_flow(g, &a);
	graph_add_flow(g, &b);
	graph_add_flow(g, &c); /* the table is full */
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.flows_untracked, 1);
	/* 59.5 s later a and b are still within the window (seconds are enough for it)... */
	graph_expire(g, T0 + 59 * NS + NS / 2);
	graph_add_flow(g, &c);
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.flows_untracked, 2);
	/* ... past it they go, and c is tracked. */
	graph_expire(g, T0 + 62 * NS);
	c.last_seen_ns = c.time_ns = T0 + 62 * NS;
	graph_add_flow(g, &c);
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.flows_untracked, 2);
	graph_get_stats(gb, &stb);
	ck_assert_uint_ge(stb.bytes - st.bytes, 1998 * 64);
	graph_free(g);
	graph_free(gb);
}
END_TEST

/* Following a store, a graph with as many tracked flows as the store has slots tracks every
 * flow: the flows the store drops (never ended) leave the table and stop counting as active;
 * what they carried stays on the edge. */
START_TEST(a_graph_following_its_store_forgets_what_the_store_drops)
{
	struct graph_config cfg = {.window_ns = 60 * NS, .max_tracked_flows = 2};
	struct graph *g = graph_new(&cfg);
	struct flow_store *s = flow_store_new(2);
	struct graph_stats st;
	uint32_t i;
	char *js;

	flow_store_on_drop(s, graph_store_dropped, g);
	for (i = 0; i < 5; i++) {
		struct flow f = mk(0, "10.0.0.1", (uint16_t)(40000 + i), "10.0.0.2", 80);
		struct flow *stored;

		f.key.family = 4;
		f.key.port[0] = f.src.port;
		f.bytes[0] = 100;
		stored = flow_store_insert(s, &f); /* evicts the oldest (active) once full */
		ck_assert_ptr_nonnull(stored);
		graph_add_flow(g, stored);
	}
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.flows_untracked, 0);
	js = json(g, T0, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "flows"), 5);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "active"), 2);
	ck_assert_int_eq(edge_num(js, "e:ip:10.0.0.1>ip:10.0.0.2", "bytes_sent"), 500);
	free(js);
	graph_forget_flow(g, 12345); /* not tracked: nothing */
	flow_store_free(s);
	graph_free(g);
}
END_TEST

static uint64_t nodes_of(const struct graph *g)
{
	struct graph_stats st;

	graph_get_stats(g, &st);
	return st.nodes;
}

/* IP nodes are found by their address: one node per address and family whatever the flow,
 * apart from the node of a name for the same address; gone with the window and made again. */
START_TEST(ip_nodes_are_one_per_address)
{
	struct graph_config cfg = {.window_ns = 60 * NS};
	struct graph *g = graph_new(&cfg);
	uint64_t id = 1;
	int i;
	char *js;

	for (i = 0; i < 50; i++) {
		char cli[32];
		struct flow f;

		snprintf(cli, sizeof(cli), "10.9.%d.%d", i / 10, i % 10);
		f = mk(id++, cli, 40000, "10.0.0.2", 443);
		graph_add_flow(g, &f);
		f = mk(id++, cli, 40001, "10.0.0.2", 443); /* the same two nodes */
		graph_add_flow(g, &f);
	}
	ck_assert_uint_eq(nodes_of(g), 51);
	{
		struct flow v6 = mk(id++, "10.9.0.0", 40000, "10.0.0.2", 443), named;

		/* ::a00:2 holds 10.0.0.2's bytes, but as IPv6 it is another address (and so is
		 * the client's, a09::): two nodes more, and one for the name. */
		v6.family = 6;
		memset(v6.dst.addr, 0, 16);
		memcpy(v6.dst.addr + 12, "\x0a\x00\x00\x02", 4);
		graph_add_flow(g, &v6);
		named = mk(id++, "10.9.0.0", 40002, "10.0.0.2", 443);
		named.dst_name = "web.shop.test";
		graph_add_flow(g, &named);
	}
	ck_assert_uint_eq(nodes_of(g), 54);
	js = json(g, T0, 0, NULL);
	ck_assert_int_eq(edge_num(js, "e:ip:10.9.0.0>ip:10.0.0.2", "flows"), 2);
	ck_assert_ptr_nonnull(strstr(js, "\"id\":\"ip:::10.0.0.2\"")); /* as inet_ntop has it */
	ck_assert_ptr_nonnull(strstr(js, "\"id\":\"dns:web.shop.test\""));
	free(js);
	graph_expire(g, T0 + 70 * NS); /* every node leaves its bucket */
	ck_assert_uint_eq(nodes_of(g), 0);
	{
		struct flow again = mk(id++, "10.9.0.0", 40003, "10.0.0.2", 443);

		again.first_seen_ns = again.last_seen_ns = again.time_ns = T0 + 71 * NS;
		graph_add_flow(g, &again);
	}
	ck_assert_uint_eq(nodes_of(g), 2);
	graph_free(g);
}
END_TEST

START_TEST(caps_fold_into_other)
{
	struct graph_config cfg = {.max_nodes = 4, .max_edges = 2};
	struct graph *g = graph_new(&cfg);
	struct graph_stats st;
	char *js, dst[32];
	int i;

	/* 10.0.0.1 talks to 6 servers: 4 node slots and 2 edge slots. */
	for (i = 0; i < 6; i++) {
		struct flow f;

		snprintf(dst, sizeof(dst), "10.0.1.%d", i + 1);
		f = mk((uint64_t)i + 1, "10.0.0.1", 40000, dst, 80);
		f.bytes[0] = 100;
		graph_add_flow(g, &f);
	}
	graph_get_stats(g, &st);
	ck_assert_uint_eq(st.nodes, 4);
	ck_assert_uint_eq(st.edges, 2);
	ck_assert_uint_eq(st.folded_nodes,
			  3); /* 10.0.1.4-6: the 4 slots hold 10.0.0.1 and 10.0.1.1-3 */
	ck_assert_uint_eq(st.folded_edges, 4);
	js = json(g, T0, 0, NULL);
	/* Nothing is lost: the folded traffic is on other -> other. */
	ck_assert_int_eq(edge_num(js, "e:other>other", "flows"), 4);
	ck_assert_int_eq(edge_num(js, "e:other>other", "bytes_sent"), 400);
	ck_assert_ptr_nonnull(strstr(js, "\"folded\":{\"nodes\":3,\"edges\":4}"));
	ck_assert_ptr_nonnull(strstr(js, "\"kind\":\"other\""));
	free(js);
	graph_free(g);
}
END_TEST

START_TEST(namespace_filter)
{
	char dir[] = "/tmp/fs-graph-XXXXXX", path[64];
	struct identity_table *t;
	struct graph *g = graph_new(NULL);
	struct flow a = mk(1, "10.2.0.1", 40000, "10.2.0.2", 80);
	struct flow b = mk(2, "10.2.0.3", 40000, "10.2.0.4", 80);
	char *js;
	FILE *fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ids.yaml", dir);
	fp = fopen(path, "w");
	fputs("identities:\n  - ip: 10.2.0.2\n    namespace: shop\n    service: web\n", fp);
	fclose(fp);
	ck_assert_int_eq(identity_table_load(path, &t, NULL), 0);
	identities_set(t);
	graph_add_flow(g, &a);
	graph_add_flow(g, &b);
	js = json(g, T0, 0, "shop");
	ck_assert_ptr_nonnull(strstr(js, "e:ip:10.2.0.1>svc:shop/web"));
	ck_assert_ptr_null(strstr(js, "10.2.0.3"));
	free(js);
	js = json(g, T0, 0, "");
	ck_assert_ptr_nonnull(strstr(js, "10.2.0.3"));
	free(js);
	identities_set(NULL);
	unlink(path);
	rmdir(dir);
	graph_free(g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("graph");
	TCase *t = tcase_create("graph");
	SRunner *r;
	int failed;

	tcase_add_test(t, aggregates_flows_once_per_flow);
	tcase_add_test(t, nodes_are_named_by_what_is_known);
	tcase_add_test(t, flows_move_when_an_end_becomes_known);
	tcase_add_test(t, drops_resets_and_rtt);
	tcase_add_test(t, ageing_and_windows);
	tcase_add_test(t, tracked_flows_expire_with_the_window);
	tcase_add_test(t, a_graph_following_its_store_forgets_what_the_store_drops);
	tcase_add_test(t, ip_nodes_are_one_per_address);
	tcase_add_test(t, caps_fold_into_other);
	tcase_add_test(t, namespace_filter);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
