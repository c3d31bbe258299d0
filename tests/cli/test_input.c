/* Unit tests of `flowctl observe --input-file` (cli/input.c) and `flowctl list` (cli/list.c):
 * flows read back from JSON lines become the collector flows they were made from, the same
 * flags select the same flows as on the server (with the identities the file carries), bad
 * lines are skipped; the node and namespace tables and JSON are laid out as Hubble's. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cli/input.h"
#include "../../cli/list.h"
#include "flows.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/encode/flow_pb_decode.h"
#include "flowscope/encode/pb_json_parse.h"

#define NOW (1700000100ULL * 1000000000ULL)

static Observer__GetFlowsResponse *from_json(const char *json)
{
	struct errmsg e = {""};
	ProtobufCMessage *m = NULL;

	ck_assert_msg(!pb_json_parse(&observer__get_flows_response__descriptor, json, strlen(json),
				     NULL, &m, NULL, &e),
		      "%s", e.text);
	return (Observer__GetFlowsResponse *)m;
}

START_TEST(flow_back_from_its_json)
{
	struct flow f = tcp_flow(), g;
	struct buf b = BUF_INIT;
	Observer__GetFlowsResponse *r;

	f.is_reply = true; /* the hard case: told from the responder's side */
	f.tcp_flags = FLOW_TCP_SYN | FLOW_TCP_ACK;
	f.src_proc = &(struct flow_process){.known = true, .pid = 7, .comm = "curl"};
	ck_assert_int_eq(flow_pb_json_line(&b, &f, "node1"), 0);
	r = from_json(b.data);
	ck_assert_int_eq(flow_pb_to_flow(r->flow, &g), 0);
	ck_assert_uint_eq(g.family, 4);
	ck_assert_mem_eq(g.src.addr, f.src.addr, 4);
	ck_assert_mem_eq(g.dst.addr, f.dst.addr, 4);
	ck_assert_uint_eq(g.src.port, 40000);
	ck_assert_uint_eq(g.dst.port, 443);
	ck_assert_uint_eq(g.proto, IPPROTO_TCP);
	ck_assert(g.is_reply);
	ck_assert_uint_eq(g.tcp_flags, FLOW_TCP_SYN | FLOW_TCP_ACK);
	ck_assert_uint_eq(g.traffic_dir, FLOW_TC_EGRESS);
	ck_assert_uint_eq(g.verdict, FLOW_VERDICT_FORWARDED);
	ck_assert_uint_eq(g.packets[0], 3);
	ck_assert_uint_eq(g.bytes[1], 1500);
	ck_assert_uint_eq(g.time_ns, f.time_ns);
	ck_assert_uint_eq(g.event, FLOW_EVENT_TCP_FLAGS);
	ck_assert_str_eq(g.ifname, "eth0");
	ck_assert_uint_eq(g.id, 42);
	ck_assert(flow_proc_known(g.src_proc) && g.src_proc->pid == 7);
	ck_assert_str_eq(g.src_proc->comm, "curl");
	ck_assert_ptr_null(g.dst_proc);
	observer__get_flows_response__free_unpacked(r, NULL);
	buf_free(&b);
}
END_TEST

/* A file of lines as `flowctl observe -o jsonpb` writes them, with junk among them. */
static char *make_file(void)
{
	static char path[] = "/tmp/fsc-test-flows-XXXXXX";
	struct buf b = BUF_INIT;
	struct flow f;
	FILE *out;
	int i;

	close(mkstemp(path));
	for (i = 0; i < 6; i++) {
		f = tcp_flow();
		f.id = 100 + (uint64_t)i;
		f.dst.port = i % 2 ? 53 : 443;
		f.proto = i % 2 ? IPPROTO_UDP : IPPROTO_TCP;
		f.time_ns = 1700000000ULL * 1000000000ULL + (uint64_t)i * 10000000000ULL;
		f.verdict = i == 4 ? FLOW_VERDICT_DROPPED : FLOW_VERDICT_FORWARDED;
		ck_assert_int_eq(flow_pb_json_line(&b, &f, "node1"), 0);
		if (i == 2) {
			buf_puts(&b, "this is not json\n\n");
			ck_assert_int_eq(flow_pb_lost_json_line(&b, 2, 9, "node1", f.time_ns), 0);
		}
	}
	/* A newer writer's field, and a flow with Hubble's identities. */
	buf_puts(&b,
		 "{\"flow\":{\"time\":\"2023-11-14T22:14:30Z\",\"verdict\":\"FORWARDED\","
		 "\"IP\":{\"source\":\"10.1.0.5\",\"destination\":\"10.1.0.6\"},"
		 "\"l4\":{\"TCP\":{\"source_port\":1000,\"destination_port\":8080}},"
		 "\"source\":{\"identity\":4242,\"namespace\":\"shop\",\"pod_name\":\"web-7d9f\","
		 "\"labels\":[\"k8s:app=web\",\"reserved:x\"],\"workloads\":[{\"name\":\"web\","
		 "\"kind\":\"Deployment\"}]},\"destination\":{\"identity\":2},"
		 "\"future_field\":{\"x\":1},\"flow_id\":\"200\"},"
		 "\"time\":\"2023-11-14T22:14:30Z\"}\n");
	out = fopen(path, "w");
	ck_assert_ptr_nonnull(out);
	fwrite(b.data, 1, b.len, out);
	fclose(out);
	buf_free(&b);
	return path;
}

/* flowctl observe --input-file FILE -o jsonpb ARGS...: the flow ids printed, "L" for a lost
 * events line, each followed by a space. */
static void run(char *out, size_t len, const char *file, ...)
{
	char *argv[32] = {"observe", "--input-file", (char *)file, "-o", "jsonpb"};
	struct observe_args a;
	struct out w = OUT_INIT(-1), err = OUT_INIT(-1);
	struct printer p = {.out = OUT_JSONPB, .w = &w, .err = &err};
	struct errmsg e = {""};
	volatile int stop = 0;
	int argc = 5;
	const char *line;
	va_list ap;
	FILE *in;

	va_start(ap, file);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	observe_args_init(&a);
	ck_assert_msg(!observe_parse(&a, argc, argv, NOW, &e), "%s", e.text);
	in = fopen(file, "r");
	ck_assert_int_eq(input_run(&a, in, file, &p, &stop), 0);
	fclose(in);
	out[0] = '\0';
	for (line = w.b.data; line && *line; line = strchr(line, '\n') + 1) {
		const char *id = strstr(line, "\"flow_id\":\"");
		size_t o = strlen(out);

		if (strncmp(line, "{\"lost_events\"", 14) == 0)
			snprintf(out + o, len - o, "L ");
		else if (id && id < strchr(line, '\n'))
			snprintf(out + o, len - o, "%d ", atoi(id + 11));
		else
			snprintf(out + o, len - o, "0 ");
	}
	printer_free(&p);
	out_free(&w);
	out_free(&err);
	observe_args_free(&a);
}

START_TEST(file_selected_by_the_same_flags)
{
	char *file = make_file(), got[256];

	run(got, sizeof(got), file, NULL); /* a file: all of it, not the last 20 */
	ck_assert_str_eq(got, "100 101 102 L 103 104 105 200 ");
	run(got, sizeof(got), file, "--to-port", "443", NULL);
	ck_assert_str_eq(got, "100 102 104 ");
	run(got, sizeof(got), file, "--protocol", "udp", NULL);
	ck_assert_str_eq(got, "101 103 105 ");
	run(got, sizeof(got), file, "--verdict", "DROPPED", NULL);
	ck_assert_str_eq(got, "104 ");
	run(got, sizeof(got), file, "--not", "--to-port", "53", "--not", "--to-port", "8080", NULL);
	ck_assert_str_eq(got, "100 102 104 ");
	run(got, sizeof(got), file, "--allowlist", "{\"destination_port\":[\"53\"]}", NULL);
	ck_assert_str_eq(got, "101 103 105 ");
	run(got, sizeof(got), file, "--first", "2", NULL);
	ck_assert_str_eq(got, "100 101 ");
	run(got, sizeof(got), file, "--last", "3", NULL);
	ck_assert_str_eq(got, "104 105 200 ");
	/* Times: the responses' own, 10 s apart from 2023-11-14T22:13:20. */
	run(got, sizeof(got), file, "--since", "2023-11-14T22:13:40Z", "--until",
	    "2023-11-14T22:14:00Z", NULL);
	ck_assert_str_eq(got, "102 L 103 104 ");
	unlink(file);
}
END_TEST

/* Pods, namespaces, labels, workloads and numeric identities come from the file's flows. */
START_TEST(file_identities_select_too)
{
	char *file = make_file(), got[256];

	run(got, sizeof(got), file, "--from-pod", "shop/web", NULL);
	ck_assert_str_eq(got, "200 ");
	run(got, sizeof(got), file, "-n", "shop", NULL);
	ck_assert_str_eq(got, "200 ");
	run(got, sizeof(got), file, "--to-namespace", "shop", NULL);
	ck_assert_str_eq(got, "");
	run(got, sizeof(got), file, "-l", "app=web", NULL);
	ck_assert_str_eq(got, "200 ");
	run(got, sizeof(got), file, "--from-workload", "Deployment/web", NULL);
	ck_assert_str_eq(got, "200 ");
	run(got, sizeof(got), file, "--from-identity", "4242", NULL);
	ck_assert_str_eq(got, "200 ");
	run(got, sizeof(got), file, "--not", "-n", "shop", "--protocol", "tcp", NULL);
	ck_assert_str_eq(got, "100 102 104 ");
	unlink(file);
}
END_TEST

/* A line as `hubble observe -o jsonpb` writes it, with fields this proto does not have: read,
 * printed as Hubble prints it, and selected by what it carries. */
START_TEST(hubble_line_read_printed_and_selected)
{
	static const char line[] =
		"{\"flow\":{\"time\":\"2023-03-14T09:27:19.093374464Z\",\"uuid\":"
		"\"8d8e2f3c-2b4c-4a53-9c1e-7f0f6a1d2b3c\",\"verdict\":\"FORWARDED\","
		"\"ethernet\":{\"source\":\"a2:7c:1b:2f:3e:4d\",\"destination\":\"6e:1f:5d:4c:3b:2a\"},"
		"\"IP\":{\"source\":\"10.244.1.118\",\"destination\":\"10.244.2.175\","
		"\"ipVersion\":\"IPv4\"},\"l4\":{\"TCP\":{\"source_port\":39578,"
		"\"destination_port\":80,\"flags\":{\"SYN\":true}}},\"source\":{\"ID\":1133,"
		"\"identity\":35580,\"namespace\":\"default\",\"labels\":[\"k8s:app=curl\","
		"\"k8s:io.kubernetes.pod.namespace=default\"],\"pod_name\":\"curl-75c8b7c84f-5n9zv\","
		"\"workloads\":[{\"name\":\"curl\",\"kind\":\"Deployment\"}]},\"destination\":"
		"{\"identity\":2,\"labels\":[\"reserved:world\"]},\"Type\":\"L3_L4\","
		"\"node_name\":\"kind-worker\",\"node_labels\":[\"zone=a\"],\"event_type\":{\"type\":4,\"sub_type\":11},"
		"\"traffic_direction\":\"EGRESS\",\"trace_observation_point\":\"TO_NETWORK\","
		"\"egress_allowed_by\":[{\"name\":\"allow-web\",\"namespace\":\"default\"}],"
		"\"is_reply\":false,\"interface\":{\"index\":7,\"name\":\"eth0\"},"
		"\"Summary\":\"TCP Flags: SYN\"},\"node_name\":\"kind-worker\","
		"\"time\":\"2023-03-14T09:27:19.093374464Z\"}\n";
	static char path[] = "/tmp/fsc-test-hubble-XXXXXX";
	char got[64];
	FILE *f;
	int fd = mkstemp(path);

	f = fdopen(fd, "w");
	fputs(line, f);
	fclose(f);
	run(got, sizeof(got), path, NULL);
	ck_assert_str_eq(got, "0 "); /* no flow_id: Hubble's */
	run(got, sizeof(got), path, "--from-pod", "default/curl", "--to-identity", "world",
	    "--type", "trace:to-network", "--interface", "eth0", "--uuid",
	    "8d8e2f3c-2b4c-4a53-9c1e-7f0f6a1d2b3c", NULL);
	ck_assert_str_eq(got, "0 ");
	run(got, sizeof(got), path, "--from-workload", "Deployment/curl", "--from-identity",
	    "35580", "-l", "k8s:app=curl", "--node-name", "kind-*", "--node-label", "zone=a", NULL);
	ck_assert_str_eq(got, "0 ");
	run(got, sizeof(got), path, "--type", "drop", NULL);
	ck_assert_str_eq(got, "");
	run(got, sizeof(got), path, "--node-label", "zone=b", NULL);
	ck_assert_str_eq(got, "");
	run(got, sizeof(got), path, "--from-identity", "host", NULL);
	ck_assert_str_eq(got, "");
	{
		Observer__GetFlowsResponse *r;
		struct pb_json_parse_opts o = {.ignore_unknown = true};
		struct out w = OUT_INIT(-1), err = OUT_INIT(-1);
		struct printer p = {.out = OUT_COMPACT, .w = &w, .err = &err};
		struct errmsg e = {""};
		ProtobufCMessage *m;

		ck_assert_int_eq(pb_json_parse(&observer__get_flows_response__descriptor, line,
					       strlen(line), &o, &m, NULL, &e),
				 0);
		r = (Observer__GetFlowsResponse *)m;
		ck_assert_int_eq(printer_response(&p, r), 0);
		ck_assert_str_eq(w.b.data,
				 "Mar 14 09:27:19.093: default/curl-75c8b7c84f-5n9zv:39578 "
				 "(ID:35580) -> 10.244.2.175:80 (world) to-network FORWARDED "
				 "(TCP Flags: SYN)\n");
		observer__get_flows_response__free_unpacked(r, NULL);
		out_free(&w);
		out_free(&err);
	}
	unlink(path);
}
END_TEST

START_TEST(nodes_table_and_json)
{
	Observer__Node a = OBSERVER__NODE__INIT, b = OBSERVER__NODE__INIT;
	Observer__TLS tls = OBSERVER__TLS__INIT;
	Observer__Node *nodes[] = {&b, &a};
	Observer__GetNodesResponse r = OBSERVER__GET_NODES_RESPONSE__INIT;
	struct buf out = BUF_INIT;

	a.name = "node-a";
	a.state = RELAY__NODE_STATE__NODE_CONNECTED;
	a.uptime_ns = 3723400000000ULL; /* 1h2m3.4s */
	a.seen_flows = 7446;
	a.num_flows = 4095;
	a.max_flows = 4095;
	a.version = "flowscope 0.1.0";
	a.address = "127.0.0.1:4245";
	a.tls = &tls;
	b.name = "b";
	b.state = RELAY__NODE_STATE__NODE_UNAVAILABLE;
	r.nodes = nodes;
	r.n_nodes = 2;
	ck_assert_int_eq(list_nodes_table(&out, &r, false), 0);
	ck_assert_str_eq(out.data,
			 "NAME     STATUS        AGE      FLOWS/S   CURRENT/MAX-FLOWS\n"
			 "b        Unavailable   N/A      N/A       N/A\n"
			 "node-a   Connected     1h2m3s   2.00      4095/4095 (100.00%)\n");
	buf_reset(&out);
	ck_assert_int_eq(list_nodes_table(&out, &r, true), 0);
	ck_assert_str_eq(out.data,
			 "NAME     STATUS        AGE      FLOWS/S   CURRENT/MAX-FLOWS     "
			 "VERSION           ADDRESS          TLS\n"
			 "b        Unavailable   N/A      N/A       N/A                   N/A "
			 "                               N/A\n"
			 "node-a   Connected     1h2m3s   2.00      4095/4095 (100.00%)   "
			 "flowscope 0.1.0   127.0.0.1:4245   Disabled\n");
	buf_reset(&out);
	ck_assert_int_eq(list_json(&out, (ProtobufCMessage **)r.nodes, 1), 0);
	ck_assert_str_eq(out.data, "[\n"
				   "  {\n"
				   "    \"name\": \"b\",\n"
				   "    \"state\": \"NODE_UNAVAILABLE\"\n"
				   "  }\n"
				   "]\n");
	buf_reset(&out);
	ck_assert_int_eq(list_json(&out, NULL, 0), 0);
	ck_assert_str_eq(out.data, "[]\n");
	buf_free(&out);
}
END_TEST

START_TEST(namespaces_table)
{
	Observer__Namespace a = OBSERVER__NAMESPACE__INIT, b = OBSERVER__NAMESPACE__INIT;
	Observer__Namespace *ns[] = {&a, &b};
	Observer__GetNamespacesResponse r = OBSERVER__GET_NAMESPACES_RESPONSE__INIT;
	struct buf out = BUF_INIT;

	a.namespace_ = "kube-system";
	a.cluster = "c1";
	b.namespace_ = "shop";
	r.namespaces = ns;
	r.n_namespaces = 2;
	ck_assert_int_eq(list_namespaces_table(&out, &r, false), 0);
	ck_assert_str_eq(out.data, "NAMESPACE\nkube-system\nshop\n");
	buf_reset(&out);
	ck_assert_int_eq(list_namespaces_table(&out, &r, true), 0);
	ck_assert_str_eq(out.data, "NAMESPACE     CLUSTER\nkube-system   c1\nshop\n");
	buf_free(&out);
}
END_TEST

START_TEST(json_indent_as_go)
{
	const char *in = "{\"a\":[1,{\"b\":\"x,y:{z}\\\"\"}],\"c\":{},\"d\":[]}";
	struct buf out = BUF_INIT;

	ck_assert_int_eq(list_json_indent(&out, in, strlen(in), 0, "  "), 0);
	ck_assert_str_eq(out.data, "{\n"
				   "  \"a\": [\n"
				   "    1,\n"
				   "    {\n"
				   "      \"b\": \"x,y:{z}\\\"\"\n"
				   "    }\n"
				   "  ],\n"
				   "  \"c\": {},\n"
				   "  \"d\": []\n"
				   "}");
	buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_input");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, flow_back_from_its_json);
	tcase_add_test(tc, file_selected_by_the_same_flags);
	tcase_add_test(tc, file_identities_select_too);
	tcase_add_test(tc, hubble_line_read_printed_and_selected);
	tcase_add_test(tc, nodes_table_and_json);
	tcase_add_test(tc, namespaces_table);
	tcase_add_test(tc, json_indent_as_go);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
