/* RFC 5424 syslog messages for flows and RFC 6587 framing (see
 * include/flowscope/encode/syslog_msg.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/encode/syslog_msg.h"
#include "flowscope/base/addr.h"
#include "flowscope/pipeline/flow_view.h"

#define PRI_INFO (16 * 8 + 6)	 /* local0.info */
#define PRI_WARNING (16 * 8 + 4) /* local0.warning */

/* Undoes a partly appended message so a failed call leaves out as it was. */
static int rollback(struct buf *b, size_t len, int rc)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
	return rc;
}

void syslog_msg_hostname(char out[SYSLOG_MSG_HOSTNAME_MAX], const char *name)
{
	size_t i, n = 0;

	if (!name || !*name) {
		if (gethostname(out, SYSLOG_MSG_HOSTNAME_MAX) != 0)
			out[0] = '\0';
		out[SYSLOG_MSG_HOSTNAME_MAX - 1] = '\0';
		name = out; /* sanitised in place: n never passes i */
	}
	for (i = 0; name[i] && n < SYSLOG_MSG_HOSTNAME_MAX - 1; i++) {
		unsigned char c = (unsigned char)name[i];

		out[n++] = (c > 32 && c < 127) ? (char)c : '_';
	}
	out[n] = '\0';
	if (n == 0)
		strcpy(out, "-");
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fmt_time(char *out, size_t n, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ULL);
	unsigned int us = (unsigned int)(ns % 1000000000ULL / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

static const char *proto_name(uint8_t p, char *tmp, size_t n)
{
	switch (p) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
		return "ICMP";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	case IPPROTO_SCTP:
		return "SCTP";
	default:
		snprintf(tmp, n, "%u", p);
		return tmp;
	}
}

static int cef_escape(struct buf *b, const char *val)
{
	int rc = 0;

	for (; rc == 0 && *val; val++) {
		switch (*val) {
		case '\\':
		case '=':
		case '|':
			rc = buf_putc(b, '\\');
			if (rc == 0)
				rc = buf_putc(b, *val);
			break;
		case '\n':
			rc = buf_puts(b, "\\n");
			break;
		case '\r':
			rc = buf_puts(b, "\\r");
			break;
		default:
			rc = buf_putc(b, *val);
		}
	}
	return rc;
}

int syslog_msg_cef_value(struct buf *out, const char *val)
{
	size_t len = out->len;
	int rc = cef_escape(out, val);

	return rc ? rollback(out, len, rc) : 0;
}

/* Appends " key=val" (no space before the first extension, right after the header's '|'). */
static int cef_ext_sep(struct buf *b, bool first, const char *key, const char *val)
{
	int rc = buf_printf(b, "%s%s=", first ? "" : " ", key);

	return rc ? rc : cef_escape(b, val);
}

static int cef_ext(struct buf *b, const char *key, const char *val)
{
	return cef_ext_sep(b, false, key, val);
}

static int cef_u64(struct buf *b, const char *key, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	return cef_ext(b, key, tmp);
}

static int format_cef(struct buf *b, const struct flow *f)
{
	const struct flow_endpoint *src = f->is_reply ? &f->dst : &f->src;
	const struct flow_endpoint *dst = f->is_reply ? &f->src : &f->dst;
	uint64_t out = f->bytes[f->is_reply ? 1 : 0], in = f->bytes[f->is_reply ? 0 : 1];
	uint64_t end = f->ended && f->end_ns ? f->end_ns : f->last_seen_ns;
	char a[ADDR_STR_LEN], tmp[8];
	int rc;

	rc = buf_puts(b, "CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|");
	if (rc)
		return rc;
	addr_str(f->family, src->addr, a);
	rc = cef_ext_sep(b, true, "src", a);
	if (rc)
		return rc;
	addr_str(f->family, dst->addr, a);
	rc = cef_ext(b, "dst", a);
	if (!rc &&
	    (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP)) {
		rc = cef_u64(b, "spt", src->port);
		if (!rc)
			rc = cef_u64(b, "dpt", dst->port);
	}
	if (!rc)
		rc = cef_ext(b, "proto", proto_name(f->proto, tmp, sizeof(tmp)));
	if (!rc)
		rc = cef_ext(b, "act",
			     f->verdict == FLOW_VERDICT_DROPPED ? "DROPPED" : "FORWARDED");
	if (!rc)
		rc = cef_u64(b, "in", in);
	if (!rc)
		rc = cef_u64(b, "out", out);
	if (!rc)
		rc = cef_u64(b, "start", f->first_seen_ns / 1000000ULL);
	if (!rc)
		rc = cef_u64(b, "end", end / 1000000ULL);
	return rc;
}

int syslog_msg_format(struct buf *out, const struct flow *f, const char *json, size_t json_len,
		      bool cef, const char *hostname, int pid)
{
	bool drop = f->verdict == FLOW_VERDICT_DROPPED || f->event == FLOW_EVENT_DROP;
	size_t len = out->len;
	char ts[96];
	int rc;

	if (!cef && !json && json_len > 0)
		return -EINVAL;
	if (!hostname || !*hostname)
		hostname = "-";
	fmt_time(ts, sizeof(ts), f->time_ns ? f->time_ns : wall_ns());
	rc = buf_printf(out, "<%d>1 %s %s flowd %d flow - ", drop ? PRI_WARNING : PRI_INFO, ts,
			hostname, pid);
	if (!rc && cef) {
		rc = format_cef(out, f);
	} else if (!rc) {
		while (json_len > 0 && (json[json_len - 1] == '\n' || json[json_len - 1] == '\r'))
			json_len--;
		if (json_len > 0)
			rc = buf_append(out, json, json_len);
	}
	return rc ? rollback(out, len, rc) : 0;
}

int syslog_msg_frame(struct buf *out, const char *msg, size_t len)
{
	char hdr[24];
	int hlen = snprintf(hdr, sizeof(hdr), "%zu ", len);
	int rc;

	rc = buf_reserve(out, (size_t)hlen + len);
	if (rc)
		return rc;
	buf_append(out, hdr, (size_t)hlen); /* cannot fail: reserved */
	if (len > 0)
		buf_append(out, msg, len);
	return 0;
}
