/* flowctl's output of GetFlowsResponse messages (see cli/print.h), line for line what Hubble's
 * printer (hubble/pkg/printer/printer.go) writes for the same response, so that what a Hubble
 * user reads, greps and parses stays the same; Flowscope's own fields go to dict and JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/pb_unpack.h"
#include "flowscope/encode/pb_json.h"
#include "print.h"

/* Flow.Summary is deprecated in Cilium's proto, and still what Hubble's printer shows. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

const char *const printer_output_words[] = {"compact", "dict", "json", "jsonpb",
					    "table",   "tab",  NULL};
const char *const printer_time_words[] = {"StampMilli",	      "YearMonthDay",
					  "YearMonthDayHour", "YearMonthDayHourMinute",
					  "RFC3339",	      "RFC3339Milli",
					  "RFC3339Micro",     "RFC3339Nano",
					  "RFC1123Z",	      NULL};
const char *const printer_color_words[] = {"auto", "always", "never", NULL};

/* Cilium's monitor message types (pkg/monitor/api). */
enum {
	MSG_DROP = 1,
	MSG_CAPTURE = 3,
	MSG_TRACE = 4,
	MSG_POLICY_VERDICT = 5,
	MSG_TRACE_SOCK = 7,
};

/* pkg/monitor/api TraceObservationPoints, by Cilium's sub type. */
static const char *const trace_points[] = {
	"to-endpoint",	 "to-proxy",   "to-host",     "to-stack",   "to-overlay",
	"from-endpoint", "from-proxy", "from-host",   "from-stack", "from-overlay",
	"from-network",	 "to-network", "from-crypto", "to-crypto",
};

/* pkg/monitor/api/drop.go: Cilium's drop reasons as its CLI prints them. */
static const char *const drop_reasons[256] = {
	[0] = "Success",
	[2] = "Invalid packet",
	[3] = "Interface",
	[4] = "Interface Decrypted",
	[5] = "LB, sock cgroup: No backend slot entry found",
	[6] = "LB, sock cgroup: No backend entry found",
	[7] = "LB, sock cgroup: Reverse entry update failed",
	[8] = "LB, sock cgroup: Reverse entry stale",
	[9] = "Fragmented packet",
	[10] = "Fragmented packet entry update failed",
	[11] = "Missed tail call to custom program",
	[130] = "Invalid source mac",
	[131] = "Invalid destination mac",
	[132] = "Invalid source ip",
	[133] = "Policy denied",
	[134] = "Invalid packet",
	[135] = "CT: Truncated or invalid header",
	[136] = "Fragmentation needed",
	[137] = "CT: Unknown L4 protocol",
	[138] = "CT: Can't create entry from packet",
	[139] = "Unsupported L3 protocol",
	[140] = "Missed tail call",
	[141] = "Error writing to packet",
	[142] = "Unknown L4 protocol",
	[143] = "Unknown ICMPv4 code",
	[144] = "Unknown ICMPv4 type",
	[145] = "Unknown ICMPv6 code",
	[146] = "Unknown ICMPv6 type",
	[147] = "Error retrieving tunnel key",
	[148] = "Error retrieving tunnel options",
	[149] = "Invalid Geneve option",
	[150] = "Unknown L3 target address",
	[151] = "Stale or unroutable IP",
	[152] = "No matching local container found",
	[153] = "Error while correcting L3 checksum",
	[154] = "Error while correcting L4 checksum",
	[155] = "CT: Map insertion failed",
	[156] = "Invalid IPv6 extension header",
	[157] = "IP fragmentation not supported",
	[158] = "Service backend not found",
	[160] = "No tunnel/encapsulation endpoint (datapath BUG!)",
	[161] = "NAT 46/64 not enabled",
	[162] = "Reached EDT rate-limiting drop horizon",
	[163] = "Unknown connection tracking state",
	[164] = "Local host is unreachable",
	[165] = "No configuration available to perform policy decision",
	[166] = "Unsupported L2 protocol",
	[167] = "No mapping for NAT masquerade",
	[168] = "Unsupported protocol for NAT masquerade",
	[169] = "FIB lookup failed",
	[170] = "Encapsulation traffic is prohibited",
	[171] = "Invalid identity",
	[172] = "Unknown sender",
	[173] = "NAT not needed",
	[174] = "Is a ClusterIP",
	[175] = "First logical datagram fragment not found",
	[176] = "Forbidden ICMPv6 message",
	[177] = "Denied by LB src range check",
	[178] = "Socket lookup failed",
	[179] = "Socket assign failed",
	[180] = "Proxy redirection not supported for protocol",
	[181] = "Policy denied by denylist",
	[182] = "VLAN traffic disallowed by VLAN filter",
	[183] = "Incorrect VNI from VTEP",
	[184] = "Failed to update or lookup TC buffer",
	[185] = "No SID was found for the IP address",
	[186] = "SRv6 state was removed during tail call",
	[187] = "L3 translation from IPv4 to IPv6 failed (NAT46)",
	[188] = "L3 translation from IPv6 to IPv4 failed (NAT64)",
	[189] = "Authentication required",
	[190] = "No conntrack map found",
	[191] = "No nat map found",
	[192] = "Invalid ClusterID",
	[193] = "Unsupported packet protocol for DSR encapsulation",
	[194] = "No egress gateway found",
	[195] = "Traffic is unencrypted",
	[196] = "TTL exceeded",
	[197] = "No node ID found",
	[198] = "Rate limited",
	[199] = "IGMP handled",
	[200] = "IGMP subscribed",
	[201] = "Multicast handled",
	[202] = "Host datapath not ready",
	[203] = "Endpoint policy program not available",
	[204] = "No Egress IP configured",
	[205] = "Punt to proxy",
};

/* pkg/identity: Cilium's reserved numeric identities. */
static const char *const reserved_identities[] = {
	"unknown",     "host",		 "world",   "unmanaged",  "health",	"init",
	"remote-node", "kube-apiserver", "ingress", "world-ipv4", "world-ipv6",
};

/* fatih/color as Hubble uses it. */
enum color { C_NONE = 0, C_RED = 31, C_GREEN = 32, C_YELLOW = 33, C_MAGENTA = 35, C_CYAN = 36 };

/* Colors on compact and dict output only: tabwriter would count the escapes as text. */
static bool colored(const struct printer *p, enum color c)
{
	return p->color && c && p->out != OUT_TABLE && p->out != OUT_TAB;
}

static int color_on(struct printer *p, struct buf *b, enum color c)
{
	return colored(p, c) ? buf_printf(b, "\x1b[%dm", c) : 0;
}

static int color_off(struct printer *p, struct buf *b, enum color c)
{
	return colored(p, c) ? buf_puts(b, "\x1b[0m") : 0;
}

bool printer_use_color(enum color_mode mode, int fd)
{
	const char *term = getenv("TERM");

	if (mode != COLOR_AUTO)
		return mode == COLOR_ALWAYS;
	return isatty(fd) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
}

/* A string from the server, with the terminal escapes Hubble defuses ("\x1b" as "^[", "\r" as
 * "\\r") so that a crafted name cannot drive the terminal. */
static int esc(struct buf *b, const char *s)
{
	int err = 0;

	for (; s && *s && !err; s++) {
		if (*s == '\x1b')
			err = buf_puts(b, "^[");
		else if (*s == '\r')
			err = buf_puts(b, "\\r");
		else
			err = buf_putc(b, *s);
	}
	return err;
}

const char *printer_identity_name(uint32_t id)
{
	return id < sizeof(reserved_identities) / sizeof(reserved_identities[0])
		       ? reserved_identities[id]
		       : NULL;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v, char *tmp, size_t len)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	if (ev)
		return ev->name;
	snprintf(tmp, len, "%d", v);
	return tmp;
}

/* ---- times ------------------------------------------------------------------------------- */

/* Go's ".999" fractions: up to digits digits, trailing zeros and then the dot left out. */
static void trimmed_fraction(char *out, size_t len, int32_t nanos, int digits)
{
	char d[16];
	int n;

	snprintf(d, sizeof(d), "%09d", nanos % 1000000000);
	d[digits] = '\0';
	for (n = digits; n > 0 && d[n - 1] == '0'; n--)
		d[n - 1] = '\0';
	if (n && len > (size_t)n + 1) {
		out[0] = '.';
		memcpy(out + 1, d, (size_t)n + 1);
	} else {
		out[0] = '\0';
	}
}

/* "Nov  4 22:13:20.123" (Go's StampMilli, the compact output's default), by hand: gmtime_r,
 * strftime and the printf family were a sixth of flowctl's samples writing compact lines
 * (perf, bench_export). */
#define STAMP_MILLI_LEN 19
static void stamp_milli(const Google__Protobuf__Timestamp *ts, char *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	unsigned ms = (unsigned)ts->nanos / 1000000;
	struct clock_civil c;
	char *o = out;

	clock_civil(ts->seconds, &c);
	memcpy(o, months + 3 * (c.mon - 1), 3);
	o[3] = ' ';
	o[4] = c.mday >= 10 ? (char)('0' + c.mday / 10) : ' ';
	o[5] = (char)('0' + c.mday % 10);
	o[6] = ' ';
	o[7] = (char)('0' + c.hour / 10), o[8] = (char)('0' + c.hour % 10), o[9] = ':';
	o[10] = (char)('0' + c.min / 10), o[11] = (char)('0' + c.min % 10), o[12] = ':';
	o[13] = (char)('0' + c.sec / 10), o[14] = (char)('0' + c.sec % 10), o[15] = '.';
	o[16] = (char)('0' + ms / 100), o[17] = (char)('0' + ms / 10 % 10);
	o[18] = (char)('0' + ms % 10), o[19] = '\0';
}

void printer_time(const Google__Protobuf__Timestamp *ts, enum time_format layout, char *out,
		  size_t len)
{
	static const char *const base[] = {
		[TIME_STAMP_MILLI] = "%b %e %H:%M:%S",
		[TIME_YEAR_MONTH_DAY] = "%Y-%m-%d",
		[TIME_YEAR_MONTH_DAY_HOUR] = "%Y-%m-%dT%H",
		[TIME_YEAR_MONTH_DAY_HOUR_MINUTE] = "%Y-%m-%dT%H:%M",
		[TIME_RFC3339] = "%Y-%m-%dT%H:%M:%S",
		[TIME_RFC3339_MILLI] = "%Y-%m-%dT%H:%M:%S",
		[TIME_RFC3339_MICRO] = "%Y-%m-%dT%H:%M:%S",
		[TIME_RFC3339_NANO] = "%Y-%m-%dT%H:%M:%S",
		[TIME_RFC1123Z] = "%a, %d %b %Y %H:%M:%S +0000",
	};
	char date[64], frac[16] = "";
	struct tm tm;
	time_t t;

	/* timestamppb's IsValid: year 1 to 9999, nanos within a second. */
	if (!ts || ts->seconds < -62135596800LL || ts->seconds > 253402300799LL || ts->nanos < 0 ||
	    ts->nanos > 999999999) {
		snprintf(out, len, "N/A");
		return;
	}
	if (layout == TIME_STAMP_MILLI && len > STAMP_MILLI_LEN) {
		stamp_milli(ts, out);
		return;
	}
	t = (time_t)ts->seconds;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), base[layout], &tm);
	switch (layout) {
	case TIME_STAMP_MILLI:
		snprintf(frac, sizeof(frac), ".%03d", ts->nanos / 1000000);
		break;
	case TIME_RFC3339_MILLI:
	case TIME_RFC3339_MICRO:
	case TIME_RFC3339_NANO:
		trimmed_fraction(frac, sizeof(frac), ts->nanos,
				 layout == TIME_RFC3339_MILLI	? 3
				 : layout == TIME_RFC3339_MICRO ? 6
								: 9);
		break;
	default:
		break;
	}
	/* UTC: Go writes the Z07:00 of RFC 3339 layouts as "Z". */
	snprintf(out, len, "%s%s%s", date, frac,
		 layout == TIME_STAMP_MILLI || layout == TIME_YEAR_MONTH_DAY ||
				 layout == TIME_RFC1123Z
			 ? ""
			 : "Z");
}

/* ---- the columns ------------------------------------------------------------------------- */

static void trace_sock_point(const Flow__Flow *f, char *out, size_t len)
{
	static const char *const names[] = {NULL, "pre-xlate-fwd", "post-xlate-fwd",
					    "pre-xlate-rev", "post-xlate-rev"};
	char tmp[16];

	if (f->sock_xlate_point > 0 && f->sock_xlate_point < 5)
		snprintf(out, len, "%s", names[f->sock_xlate_point]);
	else
		snprintf(out, len, "%s",
			 enum_name(&flow__socket_translation_point__descriptor, f->sock_xlate_point,
				   tmp, sizeof(tmp)));
}

/* GetFlowType: an L7 record's protocol and type, else what the event type says. */
void printer_flow_type(const Flow__Flow *f, char *out, size_t len)
{
	static const char *const match_types[] = {"none", "L3-Only", "L3-L4", "L4-Only", "all"};
	int32_t type = f->event_type ? f->event_type->type : 0;
	uint8_t sub = (uint8_t)(f->event_type ? f->event_type->sub_type : 0);
	char tmp[16], low[40];
	size_t i;

	if (f->l7) {
		const char *proto = f->l7->record_case == FLOW__LAYER7__RECORD_DNS    ? "dns"
				    : f->l7->record_case == FLOW__LAYER7__RECORD_HTTP ? "http"
										      : "l7";

		snprintf(low, sizeof(low), "%s",
			 enum_name(&flow__l7_flow_type__descriptor, f->l7->type, tmp, sizeof(tmp)));
		for (i = 0; low[i]; i++)
			low[i] = (char)(low[i] >= 'A' && low[i] <= 'Z' ? low[i] + 32 : low[i]);
		if (f->l7->record_case == FLOW__LAYER7__RECORD_DNS)
			snprintf(out, len, "%s-%s %s", proto, low,
				 f->l7->dns->observation_source ? f->l7->dns->observation_source
								: "");
		else
			snprintf(out, len, "%s-%s", proto, low);
		return;
	}
	switch (type) {
	case MSG_TRACE:
		if (sub < sizeof(trace_points) / sizeof(trace_points[0]))
			snprintf(out, len, "%s", trace_points[sub]);
		else
			snprintf(out, len, "%u", sub);
		return;
	case MSG_DROP:
		if (drop_reasons[sub])
			snprintf(out, len, "%s", drop_reasons[sub]);
		else
			snprintf(out, len, "%u, 0", sub);
		return;
	case MSG_POLICY_VERDICT:
		snprintf(out, len, "policy-verdict:%s %s",
			 f->policy_match_type < 5 ? match_types[f->policy_match_type] : "unknown",
			 enum_name(&flow__traffic_direction__descriptor, f->traffic_direction, tmp,
				   sizeof(tmp)));
		return;
	case MSG_CAPTURE:
		snprintf(out, len, "%s",
			 enum_name(&flow__debug_capture_point__descriptor, f->debug_capture_point,
				   tmp, sizeof(tmp)));
		return;
	case MSG_TRACE_SOCK:
		trace_sock_point(f, out, len);
		return;
	}
	snprintf(out, len, "UNKNOWN");
}

/* getVerdict: the verdict's name (ALLOWED, DENIED, AUDITED for policy verdicts) and color. */
static const char *verdict(const Flow__Flow *f, enum color *c, char *tmp, size_t len)
{
	bool pv = f->event_type && f->event_type->type == MSG_POLICY_VERDICT;
	const char *name = enum_name(&flow__verdict__descriptor, f->verdict, tmp, len);

	switch (f->verdict) {
	case FLOW__VERDICT__FORWARDED:
	case FLOW__VERDICT__REDIRECTED:
		*c = C_GREEN;
		return pv ? "ALLOWED" : name;
	case FLOW__VERDICT__DROPPED:
	case FLOW__VERDICT__ERROR:
		*c = C_RED;
		return pv ? "DENIED" : name;
	case FLOW__VERDICT__AUDIT:
		*c = C_YELLOW;
		return pv ? "AUDITED" : name;
	case FLOW__VERDICT__TRACED:
	case FLOW__VERDICT__TRANSLATED:
		*c = C_YELLOW;
		return name;
	default:
		*c = C_NONE;
		return name;
	}
}

static int put_verdict(struct printer *p, struct buf *b, const Flow__Flow *f)
{
	enum color c;
	char tmp[16];
	const char *v = verdict(f, &c, tmp, sizeof(tmp));
	int err = color_on(p, b, c);

	err = err ?: buf_puts(b, v);
	return err ?: color_off(p, b, c);
}

/* getSummary: the server's Summary, then the auth type when there is one. */
static int put_summary(struct printer *p, struct buf *b, const Flow__Flow *f)
{
	enum color c = f->auth_type == FLOW__AUTH_TYPE__TEST_ALWAYS_FAIL ? C_RED : C_GREEN;
	char tmp[16];
	int err = esc(b, f->summary);

	if (f->auth_type == FLOW__AUTH_TYPE__DISABLED || err)
		return err;
	err = buf_puts(b, "; ");
	err = err ?: color_on(p, b, c);
	err = err
		      ?: buf_puts(b, enum_name(&flow__auth_type__descriptor, f->auth_type, tmp,
					       sizeof(tmp)));
	return err ?: color_off(p, b, c);
}

/* One end's port as text, "" for protocols without ports. */
static void port_of(const Flow__Flow *f, bool dst, char *out, size_t len)
{
	const Flow__Layer4 *l4 = f->l4;
	uint32_t sp = 0, dp = 0;

	out[0] = '\0';
	if (!l4)
		return;
	switch (l4->protocol_case) {
	case FLOW__LAYER4__PROTOCOL_TCP:
		sp = l4->tcp->source_port, dp = l4->tcp->destination_port;
		break;
	case FLOW__LAYER4__PROTOCOL_UDP:
		sp = l4->udp->source_port, dp = l4->udp->destination_port;
		break;
	case FLOW__LAYER4__PROTOCOL_SCTP:
		sp = l4->sctp->source_port, dp = l4->sctp->destination_port;
		break;
	default:
		return;
	}
	snprintf(out, len, "%u", dst ? dp : sp);
}

/* GetHostNames/Hostname: "namespace/pod:port", "namespace/service:port", "name,name:port" or
 * "address:port" ("[v6]:port"), the port left out when there is none or it is 0. */
static int put_host(struct printer *p, struct buf *b, const Flow__Flow *f, bool dst)
{
	const Flow__Endpoint *ep = dst ? f->destination : f->source;
	const Flow__Service *svc = dst ? f->destination_service : f->source_service;
	const char *ns = ep ? ep->namespace_ : NULL, *pod = ep ? ep->pod_name : NULL;
	const char *svc_name = NULL, *ip = f->ip ? (dst ? f->ip->destination : f->ip->source) : "";
	char *const *names = dst ? f->destination_names : f->source_names;
	size_t n_names = dst ? f->n_destination_names : f->n_source_names, start, i;
	char port[12];
	int err;

	if (!f->ip && !f->ethernet)
		return 0;
	if (!f->ip)
		ip = dst ? f->ethernet->destination : f->ethernet->source;
	if (svc) {
		ns = svc->namespace_;
		svc_name = svc->name;
	}
	port_of(f, dst, port, sizeof(port));
	err = color_on(p, b, C_CYAN);
	start = b->len;
	if (!f->ip || p->numeric) {
		err = err ?: esc(b, ip);
	} else if ((pod && *pod) || (svc_name && *svc_name)) {
		if (ns && *ns)
			err = err ?: esc(b, ns) ?: buf_putc(b, '/');
		err = err ?: esc(b, pod && *pod ? pod : svc_name);
	} else if (n_names) {
		for (i = 0; i < n_names && !err; i++)
			err = (i ? buf_putc(b, ',') : 0) ?: esc(b, names[i]);
	} else {
		err = esc(b, ip);
	}
	if (!err && f->ip && port[0] && strcmp(port, "0")) {
		/* net.JoinHostPort: a host with a ':' goes in brackets. */
		if (memchr(b->data + start, ':', b->len - start)) {
			err = buf_reserve(b, 1);
			if (!err) {
				memmove(b->data + start + 1, b->data + start, b->len - start + 1);
				b->data[start] = '[';
				b->len++;
				err = buf_putc(b, ']');
			}
		}
		err = err ?: buf_putc(b, ':');
		err = err ?: color_on(p, b, C_YELLOW);
		err = err ?: buf_puts(b, port);
		err = err ?: color_off(p, b, C_YELLOW);
	}
	return err ?: color_off(p, b, C_CYAN);
}

/* fmtIdentity: "(host)", "(world)", ... for reserved identities, else "(ID:1234)". */
static int put_identity(struct printer *p, struct buf *b, const Flow__Endpoint *ep)
{
	uint32_t id = ep ? ep->identity : 0;
	const char *name = printer_identity_name(id);
	int err = color_on(p, b, C_MAGENTA);

	err = err ?: (name ? buf_printf(b, "(%s)", name) : buf_printf(b, "(ID:%u)", id));
	return err ?: color_off(p, b, C_MAGENTA);
}

/* ---- the layouts ------------------------------------------------------------------------- */

static int print_compact(struct printer *p, const Flow__Flow *f)
{
	struct buf *b = &p->w->b;
	bool unknown = !f->is_reply, reply = f->is_reply && f->is_reply->value;
	char when[64], type[160];
	int err;

	printer_time(f->time, p->time_format, when, sizeof(when));
	printer_flow_type(f, type, sizeof(type));
	err = buf_puts(b, when);
	if (p->node_name)
		err = err ?: buf_puts(b, " [") ?: esc(b, f->node_name) ?: buf_putc(b, ']');
	/* A reply is printed from the initiator's side with the arrow flipped; no is_reply at
	 * all means the direction is unknown. */
	err = err ?: buf_puts(b, ": ");
	err = err ?: put_host(p, b, f, reply) ?: buf_putc(b, ' ');
	err = err ?: put_identity(p, b, reply ? f->destination : f->source);
	err = err ?: buf_puts(b, unknown ? " <> " : reply ? " <- " : " -> ");
	err = err ?: put_host(p, b, f, !reply) ?: buf_putc(b, ' ');
	err = err ?: put_identity(p, b, reply ? f->source : f->destination);
	err = err ?: buf_putc(b, ' ') ?: buf_puts(b, type) ?: buf_putc(b, ' ');
	err = err ?: put_verdict(p, b, f) ?: buf_puts(b, " (");
	err = err ?: put_summary(p, b, f);
	return err ?: buf_puts(b, ")\n");
}

static int dict_key(struct buf *b, const char *key)
{
	return buf_printf(b, "%11s: ", key);
}

/* Flowscope's fields Hubble has no column for, after Hubble's keys. */
static int print_dict_extras(struct printer *p, const Flow__Flow *f)
{
	struct buf *b = &p->w->b;
	char tmp[24];
	int err = 0;

	if (f->interface && f->interface->name && f->interface->name[0])
		err = dict_key(b, "INTERFACE") ?: esc(b, f->interface->name) ?: buf_putc(b, '\n');
	if (!err && f->flow_event)
		err = dict_key(b, "EVENT")
			      ?: buf_printf(b, "%s\n",
					    enum_name(&flow__flow_event__descriptor, f->flow_event,
						      tmp, sizeof(tmp)));
	if (!err && (f->packets_sent || f->packets_received))
		err = dict_key(b, "PACKETS")
			      ?: buf_printf(b,
					    "%llu sent (%llu bytes), %llu received (%llu bytes)\n",
					    (unsigned long long)f->packets_sent,
					    (unsigned long long)f->bytes_sent,
					    (unsigned long long)f->packets_received,
					    (unsigned long long)f->bytes_received);
	for (int side = 0; side < 2 && !err; side++) {
		const Flow__Process *pr = side ? f->destination_process : f->source_process;

		if (!pr)
			continue;
		err = dict_key(b, side ? "DST PROCESS" : "SRC PROCESS") ?: esc(b, pr->comm) ?:
			      buf_printf(b, "[%u]", pr->pid);
		if (!err && pr->container_id && pr->container_id[0])
			err = buf_puts(b, " container ") ?: esc(b, pr->container_id);
		err = err ?: buf_putc(b, '\n');
	}
	if (!err && f->drops)
		err = dict_key(b, "DROPS") ?:
			      buf_printf(b, "%llu (", (unsigned long long)f->drops) ?:
			      esc(b, f->drop_reason_kernel) ?: buf_puts(b, ")\n");
	if (!err && f->rtt_us)
		err = dict_key(b, "RTT") ?: buf_printf(b, "%u us\n", f->rtt_us);
	if (!err && f->retransmits)
		err = dict_key(b, "RETRANSMITS") ?: buf_printf(b, "%u\n", f->retransmits);
	return err;
}

static int print_dict(struct printer *p, const Flow__Flow *f)
{
	struct buf *b = &p->w->b;
	char when[64], type[160];
	int err = p->line ? buf_puts(b, "------------\n") : 0;

	printer_time(f->time, p->time_format, when, sizeof(when));
	printer_flow_type(f, type, sizeof(type));
	err = err ?: dict_key(b, "TIMESTAMP") ?: buf_printf(b, "%s\n", when);
	if (p->node_name)
		err = err ?: dict_key(b, "NODE") ?: esc(b, f->node_name) ?: buf_putc(b, '\n');
	err = err ?: dict_key(b, "SOURCE") ?: put_host(p, b, f, false) ?: buf_putc(b, '\n');
	err = err ?: dict_key(b, "DESTINATION") ?: put_host(p, b, f, true) ?: buf_putc(b, '\n');
	err = err ?: dict_key(b, "TYPE") ?: buf_printf(b, "%s\n", type);
	err = err ?: dict_key(b, "VERDICT") ?: put_verdict(p, b, f) ?: buf_putc(b, '\n');
	err = err ?: dict_key(b, "SUMMARY") ?: put_summary(p, b, f) ?: buf_putc(b, '\n');
	return err ?: print_dict_extras(p, f);
}

static int add_cell(struct printer *p, const char *s)
{
	char *c = strdup(s);

	if (!c)
		return -ENOMEM;
	if (p->n_cells == p->cap_cells) {
		size_t cap = p->cap_cells ? 2 * p->cap_cells : 64;
		char **grown = realloc(p->cells, cap * sizeof(*grown));

		if (!grown) {
			free(c);
			return -ENOMEM;
		}
		p->cells = grown;
		p->cap_cells = cap;
	}
	p->cells[p->n_cells++] = c;
	return 0;
}

/* The cell a function writes into p->tmp. */
static int add_cell_from(struct printer *p,
			 int (*fn)(struct printer *, struct buf *, const Flow__Flow *, bool),
			 const Flow__Flow *f, bool arg)
{
	int err;

	buf_reset(&p->tmp);
	err = buf_puts(&p->tmp, "") ?: fn(p, &p->tmp, f, arg);
	return err ?: add_cell(p, p->tmp.data);
}

static int host_cell(struct printer *p, struct buf *b, const Flow__Flow *f, bool dst)
{
	return put_host(p, b, f, dst);
}

static int verdict_cell(struct printer *p, struct buf *b, const Flow__Flow *f, bool unused)
{
	(void)unused;
	return put_verdict(p, b, f);
}

static int summary_cell(struct printer *p, struct buf *b, const Flow__Flow *f, bool unused)
{
	(void)unused;
	return put_summary(p, b, f);
}

static int table_header(struct printer *p)
{
	static const char *const cols[] = {"SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY"};
	int err = p->line ? 0 : add_cell(p, "TIMESTAMP");

	if (!p->line && p->node_name)
		err = err ?: add_cell(p, "NODE");
	for (size_t i = 0; !p->line && i < 5 && !err; i++)
		err = add_cell(p, cols[i]);
	return err;
}

static int print_table_row(struct printer *p, const Flow__Flow *f)
{
	char when[64], type[160];
	int err = table_header(p);

	printer_time(f->time, p->time_format, when, sizeof(when));
	printer_flow_type(f, type, sizeof(type));
	err = err ?: add_cell(p, when);
	if (p->node_name) {
		buf_reset(&p->tmp);
		err = err ?: buf_puts(&p->tmp, "") ?: esc(&p->tmp, f->node_name);
		err = err ?: add_cell(p, p->tmp.data);
	}
	err = err ?: add_cell_from(p, host_cell, f, false);
	err = err ?: add_cell_from(p, host_cell, f, true);
	err = err ?: add_cell(p, type);
	err = err ?: add_cell_from(p, verdict_cell, f, false);
	return err ?: add_cell_from(p, summary_cell, f, false);
}

static int print_lost(struct printer *p, const Observer__GetFlowsResponse *r)
{
	const Flow__LostEvent *l = r->lost_events;
	struct buf *b = &p->w->b;
	char tmp[16], summary[64];
	const char *src =
		enum_name(&flow__lost_event_source__descriptor, l->source, tmp, sizeof(tmp));
	int cpu = l->cpu ? l->cpu->value : 0, err = 0;

	snprintf(summary, sizeof(summary), "CPU(%d) - %llu", cpu,
		 (unsigned long long)l->num_events_lost);
	switch (p->out) {
	case OUT_TABLE:
	case OUT_TAB:
		err = table_header(p) ?: add_cell(p, "");
		if (p->node_name)
			err = err ?: add_cell(p, "");
		err = err ?: add_cell(p, src) ?: add_cell(p, "") ?: add_cell(p, "EVENTS LOST");
		return err ?: add_cell(p, "") ?: add_cell(p, summary);
	case OUT_DICT:
		err = p->line ? buf_puts(b, "------------\n") : 0;
		err = err ?: buf_puts(b, "  TIMESTAMP: \n");
		if (p->node_name)
			err = err ?: buf_puts(b, "       NODE: \n");
		return err
			       ?: buf_printf(
					  b,
					  "     SOURCE: %s\n       TYPE: EVENTS LOST\n    VERDICT: \n"
					  "    SUMMARY: %s\n",
					  src, summary);
	default:
		return buf_printf(b, "EVENTS LOST: %s CPU(%d) %llu\n", src, cpu,
				  (unsigned long long)l->num_events_lost);
	}
}

/* Node status notices go to stderr, and without --debug (which flowctl has not) only the
 * ones that say something is wrong, as in Hubble. */
static int print_node_status(struct printer *p, const Observer__GetFlowsResponse *r)
{
	const Relay__NodeStatusEvent *s = r->node_status;
	struct buf *b = &p->err->b;
	char when[64];
	size_t i;
	int err;

	/* A notice with no state: what the server wants said (where its history begins). */
	if (s->state_change == RELAY__NODE_STATE__UNKNOWN_NODE_STATE && s->message &&
	    s->message[0]) {
		if (p->out == OUT_JSON || p->out == OUT_JSONPB)
			return pb_json_write(b, &r->base) ?: buf_putc(b, '\n');
		return buf_puts(b, "notice [") ?: esc(b, r->node_name) ?: buf_puts(b, "]: ") ?:
			       esc(b, s->message) ?: buf_putc(b, '\n');
	}
	if (s->state_change != RELAY__NODE_STATE__NODE_ERROR &&
	    s->state_change != RELAY__NODE_STATE__NODE_UNAVAILABLE)
		return 0;
	if (p->out == OUT_JSON || p->out == OUT_JSONPB)
		return pb_json_write(b, &r->base) ?: buf_putc(b, '\n');
	printer_time(r->time, p->time_format, when, sizeof(when));
	err = buf_printf(b, "%s [", when) ?: esc(b, r->node_name) ?: buf_puts(b, "]: ");
	if (s->state_change == RELAY__NODE_STATE__NODE_ERROR)
		err = err ?: buf_puts(b, "Error \"") ?: esc(b, s->message) ?:
			      buf_printf(b, "\" on %zu nodes: ", s->n_node_names);
	else
		err = err ?: buf_printf(b, "%zu nodes are unavailable: ", s->n_node_names);
	for (i = 0; i < s->n_node_names && !err; i++)
		err = (i ? buf_puts(b, ", ") : 0) ?: esc(b, s->node_names[i]);
	return err ?: buf_putc(b, '\n');
}

int printer_response(struct printer *p, const Observer__GetFlowsResponse *r)
{
	int err;

	switch (r->response_types_case) {
	case OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_FLOW:
		if (p->out == OUT_JSON || p->out == OUT_JSONPB)
			err = pb_json_write(&p->w->b, &r->base) ?: buf_putc(&p->w->b, '\n');
		else if (p->out == OUT_COMPACT)
			err = print_compact(p, r->flow);
		else if (p->out == OUT_DICT)
			err = print_dict(p, r->flow);
		else
			err = print_table_row(p, r->flow);
		break;
	case OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_LOST_EVENTS:
		if (p->out == OUT_JSON || p->out == OUT_JSONPB)
			err = pb_json_write(&p->w->b, &r->base) ?: buf_putc(&p->w->b, '\n');
		else
			err = print_lost(p, r);
		break;
	case OBSERVER__GET_FLOWS_RESPONSE__RESPONSE_TYPES_NODE_STATUS:
		return print_node_status(p, r);
	default:
		return 0;
	}
	if (err)
		return err;
	p->line++;
	return out_maybe_flush(p->w);
}

/* Display width of UTF-8 text: its code points, as tabwriter counts runes. */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Go's text/tabwriter (minwidth 2, padding 3, spaces): a column block is a run of lines that
 * have a tab-terminated cell in that column (every cell of a row but its last); its cells are
 * padded to the widest of them plus 3. */
struct tabwriter {
	char *const *const *rows;
	const size_t *n_cells;
	size_t widths[32], n_widths;
	struct buf *out;
	int err;
};

static void tw_lines(struct tabwriter *t, size_t l0, size_t l1)
{
	size_t l, j;

	for (l = l0; l < l1 && !t->err; l++) {
		for (j = 0; j < t->n_cells[l] && !t->err; j++) {
			const char *c = t->rows[l][j];

			t->err = buf_puts(t->out, c);
			if (!t->err && j < t->n_widths)
				t->err = buf_printf(t->out, "%*s", (int)(t->widths[j] - width(c)),
						    "");
		}
		t->err = t->err ?: buf_putc(t->out, '\n');
	}
}

static void tw_format(struct tabwriter *t, size_t l0, size_t l1)
{
	size_t column = t->n_widths, this, w;

	for (this = l0; this < l1; this ++) {
		if (column + 1 >= t->n_cells[this] || column >= 32)
			continue;
		tw_lines(t, l0, this);
		l0 = this;
		w = 2;
		for (; this < l1 && column + 1 < t->n_cells[this]; this ++)
			if (width(t->rows[this][column]) + 3 > w)
				w = width(t->rows[this][column]) + 3;
		t->widths[t->n_widths++] = w;
		tw_format(t, l0, this);
		t->n_widths--;
		l0 = this;
	}
	tw_lines(t, l0, l1);
}

int printer_tabwrite(struct buf *out, char *const *const *rows, const size_t *n_cells,
		     size_t n_rows)
{
	struct tabwriter t = {.rows = rows, .n_cells = n_cells, .out = out};

	tw_format(&t, 0, n_rows);
	return t.err;
}

int printer_tabulate(struct buf *out, char *const *cells, size_t n_rows, size_t n_cols)
{
	char *const **rows = calloc(n_rows + 1, sizeof(*rows));
	size_t *n = calloc(n_rows + 1, sizeof(*n)), r;
	int err = rows && n ? 0 : -ENOMEM;

	for (r = 0; !err && r < n_rows; r++) {
		rows[r] = cells + r * n_cols;
		n[r] = n_cols;
	}
	err = err ?: printer_tabwrite(out, rows, n, n_rows);
	free(rows);
	free(n);
	return err;
}

int printer_finish(struct printer *p)
{
	size_t cols = p->node_name ? 7 : 6;
	int err = 0;

	if (p->n_cells)
		err = printer_tabulate(&p->w->b, p->cells, p->n_cells / cols, cols);
	return err ?: out_flush(p->w);
}

void printer_free(struct printer *p)
{
	size_t i;

	for (i = 0; i < p->n_cells; i++)
		free(p->cells[i]);
	free(p->cells);
	p->cells = NULL;
	p->n_cells = p->cap_cells = 0;
	buf_free(&p->tmp);
	if (p->arena.allocator.alloc)
		pb_arena_free(&p->arena);
}

int printer_flows_msg(const uint8_t *msg, size_t len, void *ctx)
{
	struct printer *p = ctx;
	Observer__GetFlowsResponse *r;
	int err;

	if (!p->arena.allocator.alloc)
		pb_arena_init(&p->arena);
	r = (Observer__GetFlowsResponse *)pb_unpack(&observer__get_flows_response__descriptor,
						    &p->arena.allocator, len, msg);
	if (!r) {
		pb_arena_reset(&p->arena);
		fprintf(stderr,
			"flowctl: the server sent a message that is not a GetFlowsResponse\n");
		return 1;
	}
	err = printer_response(p, r);
	pb_arena_reset(&p->arena);
	if (p->err)
		out_flush(p->err);
	return err ? 1 : 0;
}
