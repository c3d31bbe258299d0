/* Writes the fuzz targets' seed corpora (fuzz/corpus/TARGET/NAME): hand-written inputs of each
 * kind, the binary ones built with the code that writes them for real (protobuf-c messages, an
 * nghttp2 client's bytes, history segments and records, ClickHouse rows), so that each target
 * starts from inputs that go deep. Run by hand (`make fuzz-seeds`) when an input kind changes;
 * its output is committed. Usage: make_seeds DIR. */
#include "fuzz.h"

#include <dirent.h>
#include <nghttp2/nghttp2.h>
#include <sys/stat.h>

#include "flows.h"
#include "flowscope/base/buf.h"
#include "flowscope/base/grpc_frame.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/history/flow_rec.h"
#include "flowscope/history/history.h"
#include "health.pb-c.h"
#include "observer.pb-c.h"
#include "peer.pb-c.h"

static const char *out_dir;

static void seed(const char *target, const char *name, const void *p, size_t n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	fuzz_write_file(path, p, n);
}

/* A seed of one selector byte and then p. */
static void seed_sel(const char *target, const char *name, uint8_t sel, const void *p, size_t n)
{
	uint8_t *b = malloc(n + 1);

	b[0] = sel;
	memcpy(b + 1, p, n);
	seed(target, name, b, n + 1);
	free(b);
}

static void seed_str(const char *target, const char *name, const char *s)
{
	seed(target, name, s, strlen(s));
}

static void seed_msg(const char *target, const char *name, uint8_t sel, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n + 1);

	b[0] = sel;
	protobuf_c_message_pack(m, b + 1);
	seed(target, name, b, n + 1);
	free(b);
}

/* The message in b, a gRPC frame (flow_pb_frame and its kind), as target's seed; b is emptied. */
static void seed_frame(const char *target, const char *name, struct buf *b)
{
	seed_sel(target, name, 0, b->data + GRPC_FRAME_HDR, b->len - GRPC_FRAME_HDR);
	buf_reset(b);
}

/* ---- DNS ---- */

static size_t dns_name(uint8_t *p, const char *dotted)
{
	size_t o = 0;

	while (*dotted) {
		const char *dot = strchr(dotted, '.');
		size_t l = dot ? (size_t)(dot - dotted) : strlen(dotted);

		p[o++] = (uint8_t)l;
		memcpy(p + o, dotted, l);
		o += l;
		dotted += l + (dot ? 1 : 0);
	}
	p[o++] = 0;
	return o;
}

static void dns_seeds(void)
{
	uint8_t m[512], t[514];
	size_t n = 0;
	static const uint8_t a_rr[] = {0xc0, 0x0c, 0, 1, 0,  1,	  0,   0,
				       0x0e, 0x10, 0, 4, 93, 184, 216, 34};
	static const uint8_t aaaa_rr[] = {0xc0, 0x0c, 0,    28,	  0,	1,    0,    0,	  0, 60,
					  0,	16,   0x26, 0x06, 0x28, 0,    0x02, 0x20, 0, 1,
					  0x2,	0x48, 0x18, 0x93, 0x25, 0xc8, 0x19, 0x46};

	/* Query: id 0x1234, RD, one question example.com A. */
	memcpy(m, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	n = 12 + dns_name(m + 12, "example.com");
	memcpy(m + n, "\x00\x01\x00\x01", 4);
	n += 4;
	seed_sel("fuzz_dns", "query_a", 0, m, n);
	/* Its answer: QR, RA, an A and an AAAA by pointer, then a CNAME. */
	m[2] = 0x81;
	m[3] = 0x80;
	m[7] = 3;
	memcpy(m + n, a_rr, sizeof(a_rr));
	n += sizeof(a_rr);
	memcpy(m + n, aaaa_rr, sizeof(aaaa_rr));
	n += sizeof(aaaa_rr);
	memcpy(m + n, "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c", 10);
	n += 10;
	{
		uint8_t target[64];
		size_t tl = dns_name(target, "www.example.net");

		m[n++] = 0;
		m[n++] = (uint8_t)tl;
		memcpy(m + n, target, tl);
		n += tl;
	}
	seed_sel("fuzz_dns", "answer_a_aaaa_cname", 0, m, n);
	t[0] = (uint8_t)(n >> 8);
	t[1] = (uint8_t)n;
	memcpy(t + 2, m, n);
	seed_sel("fuzz_dns", "answer_tcp", 1, t, n + 2);
	/* NXDOMAIN with an escaped byte in the name. */
	memcpy(m, "\xbe\xef\x81\x83\x00\x01\x00\x00\x00\x00\x00\x00", 12);
	n = 12 + dns_name(m + 12, "a\x01z.local");
	memcpy(m + n, "\x00\x1c\x00\x01", 4);
	seed_sel("fuzz_dns", "nxdomain_escaped", 0, m, n + 4);
}

/* ---- text inputs ---- */

static void text_seeds(void)
{
	static const char *const filters[] = {
		"to_port=443&protocol=tcp\nnot_ip=10.0.0.0/8\nfrom_pod=shop/web&to_label=app=db",
		"ip=fd00::1&verdict=DROPPED&tcp_flags=SYN,ACK",
		"fqdn=*.example.com&type=trace:to-endpoint&port=8000-8080",
		"identity=world&workload=Deployment/web&interface=eth0&drop_reason_desc=POLICY_DENIED",
		"process=nginx*&container=3f2a9c&node_name=node*&ip_version=4&traffic_direction=egress",
		"from_service=shop/web&to_namespace=db&graph_node=svc:shop/web\n\nnot_to_port=53",
	};
	static const char *const queries[] = {
		"last=100&since=5m&to_port=443&follow=0&format=json",
		"per_flow=1&first=10&deny=to_port=53",
		"until=2026-11-24T10:00:00Z&not_protocol=udp&format=pb&label=app=web,!canary",
		"follow=1&since=2026-11-24T10:00&from_ip=10.0.0.0/8&from_ip=fd00::/64",
	};
	static const char *const parse[][2] = {
		{"\x00", "12345"},
		{"\x01", "1h43m30.5s"},
		{"\x01", "250ms"},
		{"\x02", "64K"},
		{"\x03", "yes"},
		{"\x04", "[::1]:4245"},
		{"\x04", "localhost:12000"},
		{"\x05", "https://ch.example:8443/db"},
		{"\x06", "2026-11-24T10:00:00.5+01:00"},
		{"\x07", "Nov 24 10:00:01.123"},
		{"\x07", "Mon, 02 Jan 2006 15:04:05 -0700"},
		{"\x07", "2006-01-02T15:04:05.999+0700"},
		{"\x08", "10.0.0.0/8"},
		{"\x08", "fd00::1:2/64"},
		{"\x09", "8000-8080"},
		{"\x09", "ICMPv6"},
		{"\x0a", "trace:to-endpoint"},
		{"\x0a", "kube-apiserver"},
		{"\x0a", "5+"},
	};
	/* A file, then after the NUL the file a reload reads. */
	static const char peers[] =
		"node-1=10.0.0.1:4244\n# a comment\nnode-2=tls://[fd00::2]:4244\n10.0.0.3:4244\n"
		"\0node-1=10.0.0.9:4244\nnode-3=relay.example:4244\n10.0.0.3:4244\n";
	char name[32];
	size_t i;

	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		snprintf(name, sizeof(name), "seed%zu", i);
		seed_str("fuzz_filter", name, filters[i]);
	}
	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		snprintf(name, sizeof(name), "seed%zu", i);
		seed_str("fuzz_http_query", name, queries[i]);
	}
	for (i = 0; i < sizeof(parse) / sizeof(parse[0]); i++) {
		snprintf(name, sizeof(name), "seed%zu", i);
		seed_sel("fuzz_parse", name, (uint8_t)parse[i][0][0], parse[i][1],
			 strlen(parse[i][1]));
	}
	seed_str(
		"fuzz_identities", "yaml",
		"# shop\n- cidr: 10.200.2.0/24\n  namespace: shop\n  pod: web-7d9f\n  service: web\n"
		"  labels: {app: web}\n  workload: web\n  workload_kind: Deployment\n"
		"  identity: 12345\n- ip: 10.200.1.2\n  namespace: shop\n"
		"  labels: [\"app=client\", \"tier=front\"]\n- cidr: fd00:200:2::/64\n"
		"  namespace: db\n  workload: {name: pg, kind: StatefulSet}\n");
	seed_str(
		"fuzz_identities", "json",
		"[{\"cidr\": \"10.0.0.0/8\", \"namespace\": \"kube-system\", \"pod\": \"coredns\","
		" \"labels\": {\"k8s-app\": \"kube-dns\"}}, {\"ip\": \"::1\", \"namespace\": \"x\"}]");
	seed("fuzz_peers", "file_then_reload", peers, sizeof(peers) - 1);
	seed_str("fuzz_peers", "one", "agent-7=[::1]:4244\n");
}

/* ---- protobuf: gRPC requests, agents' answers, JSON ---- */

static void request_seeds(void)
{
	Observer__GetFlowsRequest r = OBSERVER__GET_FLOWS_REQUEST__INIT;
	Flow__FlowFilter allow = FLOW__FLOW_FILTER__INIT, deny = FLOW__FLOW_FILTER__INIT;
	Flow__TCPFlags syn = FLOW__TCPFLAGS__INIT;
	Flow__TCPFlags *flags[] = {&syn};
	Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	Observer__GetAgentEventsRequest ae = OBSERVER__GET_AGENT_EVENTS_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Peer__NotifyRequest nr = PEER__NOTIFY_REQUEST__INIT;
	char *src_ip[] = {"10.0.0.0/8", "fd00::1"}, *dport[] = {"443", "8000-8080"};
	char *proto[] = {"tcp"}, *pods[] = {"shop/web"}, *paths[] = {"source", "l4.TCP"};
	char *fqdn[] = {"*.example.com"}, *labels[] = {"app=web,!canary"};
	Flow__FlowFilter *al[] = {&allow}, *dl[] = {&deny};
	Flow__Verdict verdicts[] = {FLOW__VERDICT__DROPPED};

	allow.n_source_ip = 2;
	allow.source_ip = src_ip;
	allow.n_destination_port = 2;
	allow.destination_port = dport;
	allow.n_protocol = 1;
	allow.protocol = proto;
	allow.n_source_pod = 1;
	allow.source_pod = pods;
	syn.syn = true;
	allow.n_tcp_flags = 1;
	allow.tcp_flags = flags;
	deny.n_destination_fqdn = 1;
	deny.destination_fqdn = fqdn;
	deny.n_source_label = 1;
	deny.source_label = labels;
	deny.n_verdict = 1;
	deny.verdict = verdicts;
	r.number = 20;
	seed_msg("fuzz_grpc_requests", "get_flows_number", 0, &r.base);
	r.n_whitelist = 1;
	r.whitelist = al;
	r.n_blacklist = 1;
	r.blacklist = dl;
	since.seconds = 1700000000;
	r.since = &since;
	fm.n_paths = 2;
	fm.paths = paths;
	r.field_mask = &fm;
	seed_msg("fuzz_grpc_requests", "get_flows_filters", 0, &r.base);
	r.number = 0;
	r.follow = true;
	r.resume_after = "12345678-9abc-4def-8000-000000000007";
	r.heartbeat_ms = 100;
	seed_msg("fuzz_grpc_requests", "get_flows_resume", 0, &r.base);
	ae.number = 5;
	ae.follow = true;
	seed_msg("fuzz_grpc_requests", "agent_events", 1, &ae.base);
	hc.service = "observer.Observer";
	seed_msg("fuzz_grpc_requests", "health", 6, &hc.base);
	seed_msg("fuzz_grpc_requests", "notify", 7, &nr.base);
}

static void response_seeds(void)
{
	struct flow f = tcp_flow();
	struct buf b = {0};
	Observer__ServerStatusResponse st = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Observer__GetNodesResponse gn = OBSERVER__GET_NODES_RESPONSE__INIT;
	Observer__Node node = OBSERVER__NODE__INIT, *nodes[] = {&node};
	Observer__GetNamespacesResponse ns = OBSERVER__GET_NAMESPACES_RESPONSE__INIT;
	Observer__Namespace n1 = OBSERVER__NAMESPACE__INIT, *nsv[] = {&n1};
	Peer__ChangeNotification cn = PEER__CHANGE_NOTIFICATION__INIT;

	if (flow_pb_frame(&b, &f, "node-1"))
		abort();
	seed_frame("fuzz_relay_decode", "flow_tcp", &b);
	f.is_reply = true;
	f.proto = IPPROTO_UDP;
	f.event = FLOW_EVENT_DNS;
	f.dns.present = true;
	f.dns.query = "example.com";
	f.src_name = "client.shop";
	if (flow_pb_frame(&b, &f, "node-2"))
		abort();
	seed_frame("fuzz_relay_decode", "flow_dns_reply", &b);
	if (flow_pb_lost_frame(&b, 2, 17, "node-1", 1700000000000000000ULL))
		abort();
	seed_frame("fuzz_relay_decode", "lost_events", &b);
	f = tcp_flow();
	if (flow_pb_json_line(&b, &f, "node-1"))
		abort();
	seed_sel("fuzz_pb_json", "response_line", 0, b.data, b.len);
	buf_free(&b);
	seed_str("fuzz_pb_json", "filters",
		 "\x01{\"source_pod\":[\"shop/\"],\"verdict\":[\"DROPPED\"]} "
		 "{\"destination_port\":[\"443\"],\"tcp_flags\":[{\"SYN\":true}],"
		 "\"sourceIp\":[\"10.0.0.1\"],\"event_type\":[{\"type\":4,\"match_sub_type\":true,"
		 "\"sub_type\":3}]}");
	st.num_flows = 10;
	st.max_flows = 65536;
	st.version = "flowscope 0.1.0";
	seed_msg("fuzz_relay_decode", "server_status", 1, &st.base);
	node.name = "node-1";
	node.address = "10.0.0.1:4244";
	gn.n_nodes = 1;
	gn.nodes = nodes;
	seed_msg("fuzz_relay_decode", "nodes", 2, &gn.base);
	n1.namespace_ = "shop";
	ns.n_namespaces = 1;
	ns.namespaces = nsv;
	seed_msg("fuzz_relay_decode", "namespaces", 3, &ns.base);
	cn.name = "node-2";
	cn.address = "10.0.0.2:4244";
	cn.type = PEER__CHANGE_NOTIFICATION_TYPE__PEER_ADDED;
	seed_msg("fuzz_relay_decode", "peer_added", 4, &cn.base);
}

/* ---- the one-pass decoder: the three kinds of message it is fuzzed with ---- */

static void unpack_seeds(void)
{
	const char *names[] = {"node-1", "node-2"};
	char *unavailable[] = {"node-3"};
	struct flow f = tcp_flow();
	struct buf b = {0};
	Observer__GetFlowsResponse *r;
	Observer__ServerStatusResponse st = OBSERVER__SERVER_STATUS_RESPONSE__INIT;
	Observer__History h = OBSERVER__HISTORY__INIT;
	Google__Protobuf__UInt32Value nc = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__Timestamp old = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	f.src_proc = &(const struct flow_process){.known = true, .pid = 4242, .comm = "curl"};
	f.src_name = "client.shop";
	if (flow_pb_frame(&b, &f, "node-1"))
		abort();
	r = observer__get_flows_response__unpack(NULL, b.len - GRPC_FRAME_HDR,
						 (uint8_t *)b.data + GRPC_FRAME_HDR);
	if (!r || !r->flow)
		abort();
	seed_msg("fuzz_pb_unpack", "flow_alone", 1, &r->flow->base);
	observer__get_flows_response__free_unpacked(r, NULL);
	seed_frame("fuzz_pb_unpack", "flow_tcp", &b);
	f.is_reply = true;
	f.proto = IPPROTO_UDP;
	f.event = FLOW_EVENT_DNS;
	f.dns.present = true;
	f.dns.query = "example.com";
	f.dns.response = true;
	f.dns.n_ips = 1;
	f.dns.ip_family[0] = 4;
	if (flow_pb_frame(&b, &f, "node-2"))
		abort();
	seed_frame("fuzz_pb_unpack", "flow_dns_reply", &b);
	if (flow_pb_lost_frame(&b, 2, 17, "node-1", 1700000000000000000ULL))
		abort();
	seed_frame("fuzz_pb_unpack", "lost_events", &b);
	if (flow_pb_node_status_frame(&b, 1, names, 2, "connected", "relay",
				      1700000000000000000ULL))
		abort();
	seed_frame("fuzz_pb_unpack", "node_status", &b);
	buf_free(&b);
	st.num_flows = 10;
	st.max_flows = 65536;
	st.version = "flowscope 0.1.0";
	st.flows_rate = 12.5;
	nc.value = 3;
	st.num_connected_nodes = &nc;
	st.n_unavailable_nodes = 1;
	st.unavailable_nodes = unavailable;
	old.seconds = 1700000000;
	h.oldest = &old;
	h.events = 99;
	h.state = "ok";
	st.history = &h;
	seed_msg("fuzz_pb_unpack", "server_status", 2, &st.base);
}

/* ---- HTTP/2: what a gRPC client sends, from nghttp2's own client ---- */

struct h2 {
	struct buf out;
	const uint8_t *body;
	size_t body_len, sent;
};

static ssize_t h2_send(nghttp2_session *s, const uint8_t *d, size_t n, int flags, void *user)
{
	struct h2 *h = user;

	(void)s;
	(void)flags;
	if (buf_append(&h->out, d, n))
		abort();
	return (ssize_t)n;
}

static ssize_t h2_read(nghttp2_session *s, int32_t id, uint8_t *dst, size_t len, uint32_t *flags,
		       nghttp2_data_source *src, void *user)
{
	struct h2 *h = src->ptr;
	size_t n = h->body_len - h->sent < len ? h->body_len - h->sent : len;

	(void)s;
	(void)id;
	(void)user;
	memcpy(dst, h->body + h->sent, n);
	h->sent += n;
	if (h->sent == h->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(k, v)                                                                                   \
	{                                                                                          \
		(uint8_t *)k, (uint8_t *)v, sizeof(k) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE         \
	}

/* The bytes of one call of path with message m (framed) from a fresh client, preface cut (the
 * target sends it). */
static void h2_seed(const char *name, const char *path, const ProtobufCMessage *m)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	struct h2 h = {{0}};
	uint8_t *body;
	size_t n = m ? protobuf_c_message_get_packed_size(m) : 0;
	nghttp2_nv hdrs[] = {NV(":method", "POST"),
			     NV(":scheme", "http"),
			     NV(":path", path),
			     NV(":authority", "localhost:4245"),
			     NV("content-type", "application/grpc"),
			     NV("te", "trailers")};
	nghttp2_data_provider prd = {.source.ptr = &h, .read_callback = h2_read};

	body = malloc(n + 5);
	body[0] = 0;
	body[1] = (uint8_t)(n >> 24);
	body[2] = (uint8_t)(n >> 16);
	body[3] = (uint8_t)(n >> 8);
	body[4] = (uint8_t)n;
	if (m)
		protobuf_c_message_pack(m, body + 5);
	h.body = body;
	h.body_len = n + 5;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, h2_send);
	nghttp2_session_client_new(&s, cbs, &h);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	if (nghttp2_submit_request(s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &prd, NULL) < 0 ||
	    nghttp2_session_send(s))
		abort();
	seed_sel("fuzz_grpc_server", name, 0, h.out.data + 24, h.out.len - 24);
	nghttp2_session_del(s);
	nghttp2_session_callbacks_del(cbs);
	buf_free(&h.out);
	free(body);
}

static void server_seeds(void)
{
	Observer__GetFlowsRequest r = OBSERVER__GET_FLOWS_REQUEST__INIT;
	Flow__FlowFilter allow = FLOW__FLOW_FILTER__INIT, *al[] = {&allow};
	Observer__ServerStatusRequest ss = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	Observer__GetNodesRequest gn = OBSERVER__GET_NODES_REQUEST__INIT;
	Observer__GetNamespacesRequest ns = OBSERVER__GET_NAMESPACES_REQUEST__INIT;
	Observer__GetAgentEventsRequest ae = OBSERVER__GET_AGENT_EVENTS_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckRequest hc = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	char *ports[] = {"53"};

	r.number = 5;
	h2_seed("get_flows", "/observer.Observer/GetFlows", &r.base);
	allow.n_destination_port = 1;
	allow.destination_port = ports;
	r.n_whitelist = 1;
	r.whitelist = al;
	r.per_flow = true;
	h2_seed("get_flows_filter_per_flow", "/observer.Observer/GetFlows", &r.base);
	r.number = 0;
	r.per_flow = false;
	r.follow = true;
	r.heartbeat_ms = 50;
	h2_seed("get_flows_follow", "/observer.Observer/GetFlows", &r.base);
	h2_seed("server_status", "/observer.Observer/ServerStatus", &ss.base);
	h2_seed("get_nodes", "/observer.Observer/GetNodes", &gn.base);
	h2_seed("get_namespaces", "/observer.Observer/GetNamespaces", &ns.base);
	ae.number = 3;
	h2_seed("agent_events", "/observer.Observer/GetAgentEvents", &ae.base);
	h2_seed("health", "/grpc.health.v1.Health/Check", &hc.base);
	h2_seed("debug_events", "/observer.Observer/GetDebugEvents", NULL);
	h2_seed("unknown_method", "/observer.Observer/Nope", &ss.base);
}

/* ---- the history's files and records ---- */

static void read_whole(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	buf_reset(b);
	if (!f)
		return;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n))
			abort();
	fclose(f);
}

static struct flow sample(int i)
{
	struct flow f = tcp_flow();

	f.time_ns += (uint64_t)i * 1000000;
	f.seq += (uint64_t)i;
	f.uuid[15] = (uint8_t)(7 + i);
	f.src.port = (uint16_t)(40000 + i % 5);
	f.event = i % 3 ? FLOW_EVENT_TCP_FLAGS : FLOW_EVENT_START;
	return f;
}

static void history_seeds(void)
{
	struct history_opts o = {.dir = fuzz_dir(), .foreground = true, .block_events = 8};
	struct history *h;
	struct errmsg e = {""};
	struct flow_rec_state st;
	struct buf b = {0}, seg = {0}, idx = {0};
	char path[512];
	DIR *d;
	struct dirent *de;
	int i;

	if (history_open(&h, &o, &e))
		abort();
	for (i = 0; i < 20; i++) {
		struct flow f = sample(i);

		if (history_append(h, &f))
			abort();
	}
	history_sync(h, 1700000001000000000ULL);
	history_close(h);
	d = opendir(fuzz_dir());
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);

		snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".fsh") && !seg.len)
			read_whole(path, &seg);
		else if (l > 4 && !strcmp(de->d_name + l - 4, ".idx") && !idx.len)
			read_whole(path, &idx);
		else if (!strcmp(de->d_name, "journal")) {
			read_whole(path, &b);
			if (b.len)
				seed_sel("fuzz_history", "journal", 1, b.data, b.len);
		}
	}
	if (d)
		closedir(d);
	if (!seg.len)
		abort();
	seed_sel("fuzz_history", "segment", 0, seg.data, seg.len);
	buf_reset(&b);
	if (buf_append(&b, seg.data, seg.len) || buf_putc(&b, '\0') ||
	    (idx.len && buf_append(&b, idx.data, idx.len)))
		abort();
	seed_sel("fuzz_history", "segment_and_index", 2, b.data, b.len);
	buf_reset(&b);
	flow_rec_reset(&st);
	for (i = 0; i < 6; i++) {
		struct flow f = sample(i);

		if (i == 4) {
			f.event = FLOW_EVENT_DNS;
			f.dns.present = true;
			f.dns.query = "example.com";
		}
		if (flow_rec_encode(&st, &b, &f))
			abort();
	}
	seed_sel("fuzz_history", "records", 3, b.data, b.len);
	buf_free(&b);
	buf_free(&seg);
	buf_free(&idx);
}

/* ---- ClickHouse answers ---- */

static void clickhouse_seeds(void)
{
	struct buf rows = {0}, b = {0};
	char *labels[] = {"zone=a"};
	int i;

	for (i = 0; i < 3; i++) {
		struct flow f = sample(i);

		if (ch_row_encode(&rows, &f, "node-1", labels, 1))
			abort();
	}
	buf_printf(&b,
		   "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
		   "Content-Length: %zu\r\nConnection: Keep-Alive\r\n\r\n",
		   rows.len);
	buf_append(&b, rows.data, rows.len);
	seed_sel("fuzz_clickhouse", "rows_length", 0, b.data, b.len);
	buf_reset(&b);
	buf_printf(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", rows.len);
	buf_append(&b, rows.data, rows.len);
	buf_puts(&b, "\r\n0\r\n\r\n");
	seed_sel("fuzz_clickhouse", "rows_chunked", 7, b.data, b.len);
	buf_reset(&b);
	buf_puts(&b, "HTTP/1.1 404 Not Found\r\nConnection: Keep-Alive\r\n"
		     "X-ClickHouse-Exception-Code: 60\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "68\r\nCode: 60, e.displayText() = DB::Exception: Table default.flows doesn't "
		     "exist., e.what() = DB::Exception\n\r\n0\r\n\r\n");
	seed_sel("fuzz_clickhouse", "error_404", 0, b.data, b.len);
	buf_reset(&b);
	buf_puts(&b, "HTTP/1.0 500 Internal Server Error\r\n\r\nCode: 241, e.displayText() = "
		     "DB::Exception: Memory limit exceeded");
	seed_sel("fuzz_clickhouse", "error_to_close", 3, b.data, b.len);
	buf_free(&b);
	buf_free(&rows);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	mkdir(out_dir, 0755);
	fuzz_quiet();
	dns_seeds();
	text_seeds();
	request_seeds();
	response_seeds();
	unpack_seeds();
	server_seeds();
	history_seeds();
	clickhouse_seeds();
	return 0;
}
