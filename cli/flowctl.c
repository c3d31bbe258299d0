/* flowctl: the command-line client of flowd, in the spirit of `hubble observe`. Talks gRPC
 * (Hubble's observer.Observer API) to flowd or any Hubble-compatible server. */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/grpc_client.h"
#include "flowscope/base/parse.h"
#include "flowscope/encode/pb_json.h"
#include "health.pb-c.h"
#include "observer.pb-c.h"

#define DEFAULT_SERVER "localhost:4245"
#define FLOWCTL_VERSION "0.1.0"

static volatile int stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- connection options shared by every command ------------------------------------------ */

struct conn_opts {
	const char *server;
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_server_name;
	int timeout_ms;
};

static int connect_server(const struct conn_opts *co, struct grpc_client **out)
{
	struct grpc_client_opts o = {0};
	char host[256], err[256];
	uint16_t port;
	int r;

	if (parse_hostport(co->server, host, sizeof(host), &port) || !host[0]) {
		fprintf(stderr, "flowctl: invalid --server '%s': use HOST:PORT, e.g. %s\n",
			co->server, DEFAULT_SERVER);
		return -EINVAL;
	}
	o.host = host;
	o.port = port;
	o.timeout_ms = co->timeout_ms;
	o.tls_ca = co->tls_ca;
	o.tls_cert = co->tls_cert;
	o.tls_key = co->tls_key;
	o.tls_server_name = co->tls_server_name;
	r = grpc_client_connect(out, &o, err, sizeof(err));
	if (r) {
		fprintf(stderr, "flowctl: cannot connect to flowd at %s: %s%s\n", co->server, err,
			r == -ECONNREFUSED ? " (is flowd running? start it with `make run`)" : "");
		return r;
	}
	return 0;
}

static const char *status_name(int code)
{
	static const char *names[] = {"OK",
				      "CANCELLED",
				      "UNKNOWN",
				      "INVALID_ARGUMENT",
				      "DEADLINE_EXCEEDED",
				      "NOT_FOUND",
				      "ALREADY_EXISTS",
				      "PERMISSION_DENIED",
				      "RESOURCE_EXHAUSTED",
				      "FAILED_PRECONDITION",
				      "ABORTED",
				      "OUT_OF_RANGE",
				      "UNIMPLEMENTED",
				      "INTERNAL",
				      "UNAVAILABLE",
				      "DATA_LOSS",
				      "UNAUTHENTICATED"};

	return code >= 0 && code < 17 ? names[code] : "?";
}

/* ---- output ------------------------------------------------------------------------------- */

enum output { OUT_COMPACT, OUT_JSON, OUT_DICT, OUT_TABLE };

struct printer {
	enum output out;
	bool table_header_done;
	uint64_t printed;
	struct buf b;
};

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

static void flush_stdout(void *ctx)
{
	(void)ctx;
	fflush(stdout);
}

static int on_flows_msg(const uint8_t *msg, size_t len, void *ctx)
{
	struct printer *p = ctx;
	Observer__GetFlowsResponse *r = observer__get_flows_response__unpack(NULL, len, msg);

	if (!r) {
		fprintf(stderr, "flowctl: the server sent a message that is not a "
				"GetFlowsResponse\n");
		return 1;
	}
	if (p->out == OUT_JSON) {
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

/* ---- filters --------------------------------------------------------------------------- */

/* Hubble's flag semantics: "either direction" flags (--ip, --port, --label, --fqdn) put the
 * value on the source side of one filter and the destination side of a twin filter; the
 * other flags go on both. The twin is sent only if used, and the two are OR'ed. --not sends
 * the next flag's values to the deny pair instead. */
struct filter_pair {
	Flow__FlowFilter f[2];
	bool twin;
	bool any;
};

static int add_str(size_t *n, char ***arr, const char *v)
{
	char **a = realloc(*arr, sizeof(char *) * (*n + 1));

	if (!a)
		return -ENOMEM;
	*arr = a;
	a[*n] = strdup(v);
	if (!a[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int add_int(size_t *n, int **arr, int v)
{
	int *a = realloc(*arr, sizeof(int) * (*n + 1));

	if (!a)
		return -ENOMEM;
	*arr = a;
	a[(*n)++] = v;
	return 0;
}

#define BOTH_STR(pair, field, v)                                                                   \
	(add_str(&(pair)->f[0].n_##field, &(pair)->f[0].field, v) ||                               \
	 add_str(&(pair)->f[1].n_##field, &(pair)->f[1].field, v))
#define SPLIT_STR(pair, src, dst, v)                                                               \
	((pair)->twin = true, add_str(&(pair)->f[0].n_##src, &(pair)->f[0].src, v) ||              \
				      add_str(&(pair)->f[1].n_##dst, &(pair)->f[1].dst, v))

static int parse_enum(const ProtobufCEnumDescriptor *d, const char *v, int *out)
{
	unsigned int i;

	for (i = 0; i < d->n_values; i++) {
		if (!strcasecmp(d->values[i].name, v)) {
			*out = d->values[i].value;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_tcp_flags(const char *v, Flow__TCPFlags *f)
{
	char tmp[128], *tok, *save;

	flow__tcpflags__init(f);
	snprintf(tmp, sizeof(tmp), "%s", v);
	for (tok = strtok_r(tmp, ",| ", &save); tok; tok = strtok_r(NULL, ",| ", &save)) {
		if (!strcasecmp(tok, "SYN"))
			f->syn = 1;
		else if (!strcasecmp(tok, "ACK"))
			f->ack = 1;
		else if (!strcasecmp(tok, "FIN"))
			f->fin = 1;
		else if (!strcasecmp(tok, "RST"))
			f->rst = 1;
		else if (!strcasecmp(tok, "PSH"))
			f->psh = 1;
		else if (!strcasecmp(tok, "URG"))
			f->urg = 1;
		else if (!strcasecmp(tok, "ECE"))
			f->ece = 1;
		else if (!strcasecmp(tok, "CWR"))
			f->cwr = 1;
		else if (!strcasecmp(tok, "NS"))
			f->ns = 1;
		else
			return -EINVAL;
	}
	return 0;
}

static int add_tcp_flags(struct filter_pair *p, const char *v)
{
	int i;

	for (i = 0; i < 2; i++) {
		Flow__FlowFilter *f = &p->f[i];
		Flow__TCPFlags **a = realloc(f->tcp_flags, sizeof(*a) * (f->n_tcp_flags + 1));

		if (!a)
			return -ENOMEM;
		f->tcp_flags = a;
		a[f->n_tcp_flags] = malloc(sizeof(Flow__TCPFlags));
		if (!a[f->n_tcp_flags] || parse_tcp_flags(v, a[f->n_tcp_flags])) {
			free(a[f->n_tcp_flags]);
			return -EINVAL;
		}
		f->n_tcp_flags++;
	}
	return 0;
}

/* ---- time arguments ---------------------------------------------------------------------- */

/* RFC 3339 ("2026-11-24T23:00:00Z", fractions and offsets allowed) or a duration ago ("5m"). */
static int parse_when(const char *s, Google__Protobuf__Timestamp *ts)
{
	struct tm tm = {0};
	const char *p;
	uint64_t ago;
	long frac_ns = 0, off = 0;
	time_t t;

	if (!parse_duration_ns(s, &ago)) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		uint64_t n = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;

		if (ago > n)
			return -EINVAL;
		n -= ago;
		ts->seconds = (int64_t)(n / 1000000000ULL);
		ts->nanos = (int32_t)(n % 1000000000ULL);
		return 0;
	}
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		long scale = 100000000;

		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac_ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;

		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EINVAL;
		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm) - off;
	ts->seconds = t;
	ts->nanos = (int32_t)frac_ns;
	return 0;
}

/* ---- commands ------------------------------------------------------------------------------ */

static void usage_main(FILE *out)
{
	fprintf(out, "Usage: flowctl COMMAND [OPTIONS]\n"
		     "Client of flowd (and of any Hubble-compatible observer API).\n"
		     "\n"
		     "Commands:\n"
		     "  observe   show recent flows, or follow new ones\n"
		     "  status    show the server's status\n"
		     "  help      show this help; `flowctl COMMAND --help` for a command\n"
		     "  version   show the version\n"
		     "\n"
		     "Every command takes --server HOST:PORT (default " DEFAULT_SERVER ").\n");
}

static void usage_observe(FILE *out)
{
	fprintf(out,
		"Usage: flowctl observe [OPTIONS]\n"
		"Shows flows from flowd over gRPC (Hubble's observer API).\n"
		"\n"
		"Selection:\n"
		"  -f, --follow               keep streaming new flows until Ctrl-C\n"
		"      --last N               the N most recent flows (default 20, or 0 with\n"
		"                             --follow)\n"
		"      --first N              the N oldest stored flows (not with --follow)\n"
		"      --all                  every stored flow\n"
		"      --since TIME           flows from TIME: RFC 3339 (2026-11-24T10:00:00Z) or\n"
		"                             a duration ago (5m, 1h)\n"
		"      --until TIME           flows up to TIME (same forms)\n"
		"Filters (all given filters must match; --not negates the next one):\n"
		"      --ip IP[/LEN]          source or destination address or CIDR\n"
		"      --from-ip, --to-ip IP  source / destination address or CIDR\n"
		"      --port PORT            source or destination port\n"
		"      --from-port, --to-port PORT\n"
		"      --protocol P           tcp, udp, icmp, icmpv4, icmpv6, sctp\n"
		"      --verdict V            FORWARDED, DROPPED, ...\n"
		"      --tcp-flags F[,F]      flows with all these flags, e.g. SYN or SYN,ACK\n"
		"      --traffic-direction D  ingress or egress\n"
		"      --ip-version V         4 or 6\n"
		"      --label L, --from-label L, --to-label L\n"
		"      --fqdn N, --from-fqdn N, --to-fqdn N   DNS name patterns (*.example.com)\n"
		"      --pod [NS/]P, --from-pod, --to-pod     pod name prefix (identity file)\n"
		"      --namespace NS, --from-namespace, --to-namespace\n"
		"      --service [NS/]S, --from-service, --to-service\n"
		"      --node-name PATTERN    node name pattern (e.g. 'node*')\n"
		"      --not                  the next filter excludes instead of selects\n"
		"Output:\n"
		"  -o, --output FMT           compact (default), json, jsonpb (same as json), "
		"dict,\n"
		"                             table\n"
		"Connection:\n"
		"      --server HOST:PORT     default " DEFAULT_SERVER "\n"
		"      --tls                  use TLS (with --tls-ca-cert-files)\n"
		"      --tls-ca-cert-files F  CA bundle that signed the server certificate\n"
		"      --tls-client-cert-file F, --tls-client-key-file F   for mutual TLS\n"
		"      --tls-server-name NAME name to verify in the server certificate\n"
		"      --timeout DUR          connect timeout (default 5s)\n");
}

static int conn_option(struct conn_opts *co, int c, const char *arg)
{
	uint64_t ns;

	switch (c) {
	case 1000:
		co->server = arg;
		return 1;
	case 1001:
		return 1; /* --tls: implied by the CA option */
	case 1002:
		co->tls_ca = arg;
		return 1;
	case 1003:
		co->tls_cert = arg;
		return 1;
	case 1004:
		co->tls_key = arg;
		return 1;
	case 1005:
		co->tls_server_name = arg;
		return 1;
	case 1006:
		if (parse_duration_ns(arg, &ns) || ns < 1000000) {
			fprintf(stderr, "flowctl: invalid --timeout '%s': use e.g. 5s\n", arg);
			return -1;
		}
		co->timeout_ms = (int)(ns / 1000000);
		return 1;
	}
	return 0;
}

#define CONN_LONGOPTS                                                                              \
	{"server", required_argument, NULL, 1000}, {"tls", no_argument, NULL, 1001},               \
		{"tls-ca-cert-files", required_argument, NULL, 1002},                              \
		{"tls-client-cert-file", required_argument, NULL, 1003},                           \
		{"tls-client-key-file", required_argument, NULL, 1004},                            \
		{"tls-server-name", required_argument, NULL, 1005},                                \
	{                                                                                          \
		"timeout", required_argument, NULL, 1006                                           \
	}

static int cmd_observe(int argc, char **argv, struct conn_opts *co)
{
	enum {
		O_LAST = 2000,
		O_FIRST,
		O_ALL,
		O_SINCE,
		O_UNTIL,
		O_IP,
		O_FROM_IP,
		O_TO_IP,
		O_PORT,
		O_FROM_PORT,
		O_TO_PORT,
		O_PROTO,
		O_VERDICT,
		O_FLAGS,
		O_DIR,
		O_IPV,
		O_LABEL,
		O_FROM_LABEL,
		O_TO_LABEL,
		O_FQDN,
		O_FROM_FQDN,
		O_TO_FQDN,
		O_POD,
		O_FROM_POD,
		O_TO_POD,
		O_NS,
		O_FROM_NS,
		O_TO_NS,
		O_SVC,
		O_FROM_SVC,
		O_TO_SVC,
		O_NODE,
		O_NOT,
	};
	static const struct option opts[] = {
		CONN_LONGOPTS,
		{"follow", no_argument, NULL, 'f'},
		{"last", required_argument, NULL, O_LAST},
		{"first", required_argument, NULL, O_FIRST},
		{"all", no_argument, NULL, O_ALL},
		{"since", required_argument, NULL, O_SINCE},
		{"until", required_argument, NULL, O_UNTIL},
		{"ip", required_argument, NULL, O_IP},
		{"from-ip", required_argument, NULL, O_FROM_IP},
		{"to-ip", required_argument, NULL, O_TO_IP},
		{"port", required_argument, NULL, O_PORT},
		{"from-port", required_argument, NULL, O_FROM_PORT},
		{"to-port", required_argument, NULL, O_TO_PORT},
		{"protocol", required_argument, NULL, O_PROTO},
		{"verdict", required_argument, NULL, O_VERDICT},
		{"tcp-flags", required_argument, NULL, O_FLAGS},
		{"traffic-direction", required_argument, NULL, O_DIR},
		{"ip-version", required_argument, NULL, O_IPV},
		{"label", required_argument, NULL, O_LABEL},
		{"from-label", required_argument, NULL, O_FROM_LABEL},
		{"to-label", required_argument, NULL, O_TO_LABEL},
		{"fqdn", required_argument, NULL, O_FQDN},
		{"from-fqdn", required_argument, NULL, O_FROM_FQDN},
		{"to-fqdn", required_argument, NULL, O_TO_FQDN},
		{"pod", required_argument, NULL, O_POD},
		{"from-pod", required_argument, NULL, O_FROM_POD},
		{"to-pod", required_argument, NULL, O_TO_POD},
		{"namespace", required_argument, NULL, O_NS},
		{"from-namespace", required_argument, NULL, O_FROM_NS},
		{"to-namespace", required_argument, NULL, O_TO_NS},
		{"service", required_argument, NULL, O_SVC},
		{"from-service", required_argument, NULL, O_FROM_SVC},
		{"to-service", required_argument, NULL, O_TO_SVC},
		{"node-name", required_argument, NULL, O_NODE},
		{"not", no_argument, NULL, O_NOT},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	Observer__GetFlowsRequest req = OBSERVER__GET_FLOWS_REQUEST__INIT;
	Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct filter_pair allow = {0}, deny = {0}, *cur;
	Flow__FlowFilter *wl[2], *bl[2];
	struct printer pr = {.out = OUT_COMPACT};
	struct grpc_client *cl = NULL;
	bool negate = false, last_given = false, all = false;
	uint64_t last = 20, first = 0;
	char err[512];
	int c, r, v, i;

	for (i = 0; i < 2; i++) {
		flow__flow_filter__init(&allow.f[i]);
		flow__flow_filter__init(&deny.f[i]);
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "fo:h", opts, NULL)) != -1) {
		r = conn_option(co, c, optarg);
		if (r < 0)
			return 2;
		if (r)
			continue;
		cur = negate ? &deny : &allow;
		if (c >= O_IP && c <= O_NODE) {
			cur->any = true;
			negate = false;
		}
		r = 0;
		switch (c) {
		case 'f':
			req.follow = 1;
			break;
		case O_LAST:
			if (parse_u64(optarg, UINT32_MAX, &last)) {
				fprintf(stderr, "flowctl: invalid --last '%s': use a number\n",
					optarg);
				return 2;
			}
			last_given = true;
			break;
		case O_FIRST:
			if (parse_u64(optarg, UINT32_MAX, &first) || !first) {
				fprintf(stderr, "flowctl: invalid --first '%s': use a number > 0\n",
					optarg);
				return 2;
			}
			break;
		case O_ALL:
			all = true;
			break;
		case O_SINCE:
		case O_UNTIL:
			if (parse_when(optarg, c == O_SINCE ? &since : &until)) {
				fprintf(stderr,
					"flowctl: invalid --%s '%s': use RFC 3339 "
					"(2026-11-24T10:00:00Z) or a duration such as 5m\n",
					c == O_SINCE ? "since" : "until", optarg);
				return 2;
			}
			if (c == O_SINCE)
				req.since = &since;
			else
				req.until = &until;
			break;
		case O_IP:
			r = SPLIT_STR(cur, source_ip, destination_ip, optarg);
			break;
		case O_FROM_IP:
			r = BOTH_STR(cur, source_ip, optarg);
			break;
		case O_TO_IP:
			r = BOTH_STR(cur, destination_ip, optarg);
			break;
		case O_PORT:
			r = SPLIT_STR(cur, source_port, destination_port, optarg);
			break;
		case O_FROM_PORT:
			r = BOTH_STR(cur, source_port, optarg);
			break;
		case O_TO_PORT:
			r = BOTH_STR(cur, destination_port, optarg);
			break;
		case O_PROTO:
			r = BOTH_STR(cur, protocol, optarg);
			break;
		case O_LABEL:
			r = SPLIT_STR(cur, source_label, destination_label, optarg);
			break;
		case O_FROM_LABEL:
			r = BOTH_STR(cur, source_label, optarg);
			break;
		case O_TO_LABEL:
			r = BOTH_STR(cur, destination_label, optarg);
			break;
		case O_FQDN:
			r = SPLIT_STR(cur, source_fqdn, destination_fqdn, optarg);
			break;
		case O_FROM_FQDN:
			r = BOTH_STR(cur, source_fqdn, optarg);
			break;
		case O_TO_FQDN:
			r = BOTH_STR(cur, destination_fqdn, optarg);
			break;
		case O_POD:
			r = SPLIT_STR(cur, source_pod, destination_pod, optarg);
			break;
		case O_FROM_POD:
			r = BOTH_STR(cur, source_pod, optarg);
			break;
		case O_TO_POD:
			r = BOTH_STR(cur, destination_pod, optarg);
			break;
		case O_NS:
		case O_FROM_NS:
		case O_TO_NS: {
			/* A namespace is the pod selector "namespace/" (any pod in it). */
			char ns[300];

			if (!optarg[0] || strchr(optarg, '/') || strlen(optarg) > 253) {
				fprintf(stderr, "flowctl: invalid namespace '%s'\n", optarg);
				return 2;
			}
			snprintf(ns, sizeof(ns), "%s/", optarg);
			if (c == O_NS)
				r = SPLIT_STR(cur, source_pod, destination_pod, ns);
			else if (c == O_FROM_NS)
				r = BOTH_STR(cur, source_pod, ns);
			else
				r = BOTH_STR(cur, destination_pod, ns);
			break;
		}
		case O_SVC:
			r = SPLIT_STR(cur, source_service, destination_service, optarg);
			break;
		case O_FROM_SVC:
			r = BOTH_STR(cur, source_service, optarg);
			break;
		case O_TO_SVC:
			r = BOTH_STR(cur, destination_service, optarg);
			break;
		case O_NODE:
			r = BOTH_STR(cur, node_name, optarg);
			break;
		case O_VERDICT:
			if (parse_enum(&flow__verdict__descriptor, optarg, &v)) {
				fprintf(stderr,
					"flowctl: invalid --verdict '%s': use FORWARDED, DROPPED, "
					"ERROR, AUDIT, REDIRECTED, TRACED or TRANSLATED\n",
					optarg);
				return 2;
			}
			r = add_int(&cur->f[0].n_verdict, (int **)&cur->f[0].verdict, v) ||
			    add_int(&cur->f[1].n_verdict, (int **)&cur->f[1].verdict, v);
			break;
		case O_DIR:
			if (!strcasecmp(optarg, "ingress"))
				v = FLOW__TRAFFIC_DIRECTION__INGRESS;
			else if (!strcasecmp(optarg, "egress"))
				v = FLOW__TRAFFIC_DIRECTION__EGRESS;
			else {
				fprintf(stderr,
					"flowctl: invalid --traffic-direction '%s': use "
					"ingress or egress\n",
					optarg);
				return 2;
			}
			r = add_int(&cur->f[0].n_traffic_direction,
				    (int **)&cur->f[0].traffic_direction, v) ||
			    add_int(&cur->f[1].n_traffic_direction,
				    (int **)&cur->f[1].traffic_direction, v);
			break;
		case O_IPV:
			if (!strcmp(optarg, "4") || !strcasecmp(optarg, "ipv4"))
				v = FLOW__IPVERSION__IPv4;
			else if (!strcmp(optarg, "6") || !strcasecmp(optarg, "ipv6"))
				v = FLOW__IPVERSION__IPv6;
			else {
				fprintf(stderr, "flowctl: invalid --ip-version '%s': use 4 or 6\n",
					optarg);
				return 2;
			}
			r = add_int(&cur->f[0].n_ip_version, (int **)&cur->f[0].ip_version, v) ||
			    add_int(&cur->f[1].n_ip_version, (int **)&cur->f[1].ip_version, v);
			break;
		case O_FLAGS:
			if (add_tcp_flags(cur, optarg)) {
				fprintf(stderr,
					"flowctl: invalid --tcp-flags '%s': use flags such as SYN "
					"or "
					"SYN,ACK (FIN SYN RST PSH ACK URG ECE CWR NS)\n",
					optarg);
				return 2;
			}
			break;
		case O_NOT:
			negate = true;
			break;
		case 'o':
			if (!strcmp(optarg, "compact"))
				pr.out = OUT_COMPACT;
			else if (!strcmp(optarg, "json") || !strcmp(optarg, "jsonpb"))
				pr.out = OUT_JSON;
			else if (!strcmp(optarg, "dict"))
				pr.out = OUT_DICT;
			else if (!strcmp(optarg, "table"))
				pr.out = OUT_TABLE;
			else {
				fprintf(stderr,
					"flowctl: invalid --output '%s': use compact, json, "
					"jsonpb, dict or table\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage_observe(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'flowctl observe --help'.\n");
			return 2;
		}
		if (r) {
			fprintf(stderr, "flowctl: out of memory\n");
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"flowctl: unexpected argument '%s'\nTry 'flowctl observe --help'.\n",
			argv[optind]);
		return 2;
	}
	if (negate) {
		fprintf(stderr, "flowctl: --not must be followed by a filter flag\n");
		return 2;
	}
	if (first && req.follow) {
		fprintf(stderr, "flowctl: --first cannot be combined with --follow\n");
		return 2;
	}
	if (first) {
		req.first = 1;
		req.number = first;
	} else if (all) {
		req.number = 0;
	} else if (req.follow && !last_given) {
		req.number = 0;
	} else if (req.since && !last_given) {
		req.number = 0; /* a time window replaces the default count */
	} else {
		req.number = last;
		if (!last && !req.follow) {
			return 0; /* --last 0 without --follow: nothing asked for */
		}
	}
	if (allow.any) {
		wl[0] = &allow.f[0];
		wl[1] = &allow.f[1];
		req.whitelist = wl;
		req.n_whitelist = allow.twin ? 2 : 1;
	}
	if (deny.any) {
		bl[0] = &deny.f[0];
		bl[1] = &deny.f[1];
		req.blacklist = bl;
		req.n_blacklist = deny.twin ? 2 : 1;
	}

	if (connect_server(co, &cl))
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	/* Output is flushed once per burst of messages: followers see each flow as soon as it
	 * arrives, bulk replies are not slowed by a write per line. */
	grpc_client_set_idle_cb(cl, flush_stdout, NULL);
	r = grpc_client_call(cl, "/observer.Observer/GetFlows", &req.base, on_flows_msg, &pr,
			     &stop_requested, err, sizeof(err));
	grpc_client_close(cl);
	buf_free(&pr.b);
	if (r == 0 || (r == 1 && stop_requested))
		return 0;
	if (r < 0)
		fprintf(stderr, "flowctl: connection to %s failed: %s\n", co->server, err);
	else
		fprintf(stderr, "flowctl: %s: %s\n", status_name(r), err);
	return 1;
}

static int on_status_msg(const uint8_t *msg, size_t len, void *ctx)
{
	Observer__ServerStatusResponse **out = ctx;

	*out = observer__server_status_response__unpack(NULL, len, msg);
	return *out ? 0 : 1;
}

static int on_health_msg(const uint8_t *msg, size_t len, void *ctx)
{
	Grpc__Health__V1__HealthCheckResponse **out = ctx;

	*out = grpc__health__v1__health_check_response__unpack(NULL, len, msg);
	return *out ? 0 : 1;
}

static int cmd_status(int argc, char **argv, struct conn_opts *co)
{
	static const struct option opts[] = {
		CONN_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	Observer__ServerStatusRequest req = OBSERVER__SERVER_STATUS_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Observer__ServerStatusResponse *st = NULL;
	Grpc__Health__V1__HealthCheckResponse *h = NULL;
	struct grpc_client *cl = NULL;
	char err[512];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = conn_option(co, c, optarg);
		if (r < 0)
			return 2;
		if (r)
			continue;
		if (c == 'h') {
			printf("Usage: flowctl status [--server HOST:PORT] [TLS options]\n"
			       "Checks the server's health (grpc.health.v1) and prints its flow "
			       "counters.\n");
			return 0;
		}
		fprintf(stderr, "Try 'flowctl status --help'.\n");
		return 2;
	}
	if (connect_server(co, &cl))
		return 1;
	hreq.service = (char *)"hubble.server.Observer";
	r = grpc_client_call(cl, "/grpc.health.v1.Health/Check", &hreq.base, on_health_msg, &h,
			     NULL, err, sizeof(err));
	if (r || !h) {
		fprintf(stderr, "flowctl: health check failed: %s\n", r < 0 ? err : status_name(r));
		grpc_client_close(cl);
		return 1;
	}
	printf("Healthcheck (via %s): %s\n", co->server,
	       h->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
		       ? "Ok"
		       : "Not serving");
	grpc__health__v1__health_check_response__free_unpacked(h, NULL);
	r = grpc_client_call(cl, "/observer.Observer/ServerStatus", &req.base, on_status_msg, &st,
			     NULL, err, sizeof(err));
	grpc_client_close(cl);
	if (r || !st) {
		fprintf(stderr, "flowctl: ServerStatus failed: %s %s\n", status_name(r), err);
		return 1;
	}
	printf("Current/Max Flows: %llu/%llu (%.2f%%)\n", (unsigned long long)st->num_flows,
	       (unsigned long long)st->max_flows,
	       st->max_flows ? 100.0 * (double)st->num_flows / (double)st->max_flows : 0.0);
	printf("Flows/s: %.2f\n", st->flows_rate);
	printf("Seen flows: %llu\n", (unsigned long long)st->seen_flows);
	printf("Uptime: %.0fs\n", (double)st->uptime_ns / 1e9);
	if (st->num_connected_nodes)
		printf("Connected Nodes: %u/%u\n", st->num_connected_nodes->value,
		       st->num_connected_nodes->value +
			       (st->num_unavailable_nodes ? st->num_unavailable_nodes->value : 0));
	if (st->version[0])
		printf("Version: %s\n", st->version);
	observer__server_status_response__free_unpacked(st, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct conn_opts co = {.server = DEFAULT_SERVER};
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage_main(stderr);
		return 2;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage_main(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("flowctl %s\n", FLOWCTL_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "observe"))
		return cmd_observe(argc - 1, argv + 1, &co);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1, &co);
	fprintf(stderr, "flowctl: unknown command '%s'\n", cmd);
	usage_main(stderr);
	return 2;
}
