/* The IPFIX exporter: ended flows to an IPFIX collector (RFC 7011) over UDP, one data record per
 * direction that has packets (encode/ipfix_msg.h has the templates and records). Records are
 * gathered into a message of at most 1400 bytes, sent (sendto, non-blocking) when the next record
 * would not fit and on every flush; templates go at the start of the first message and again in
 * the first message built after the refresh interval. A message whose send fails is lost (its
 * events counted as dropped; the next message carries the templates again). The sequence number
 * counts the data records sent before a message in the observation domain. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "flowscope/encode/ipfix_msg.h"
#include "flowscope/exporters/exporter.h"

#define DEFAULT_DOMAIN 1
#define DEFAULT_REFRESH_NS (60 * NSEC_PER_SEC)

struct ipfix_cfg {
	struct opt_hostport collector;
	uint32_t domain;
	uint64_t refresh_ns;
};

static const struct opt ipfix_opts[] = {
	{"export-ipfix", 0, "HOST:PORT", "ended flows as IPFIX (RFC 7011) over UDP to HOST:PORT",
	 opt_hostport, offsetof(struct ipfix_cfg, collector)},
	{"export-ipfix-domain", 0, "N", "observation domain id (default 1)", opt_u32,
	 offsetof(struct ipfix_cfg, domain), 0, UINT32_MAX},
	{"export-ipfix-template-refresh", 0, "DUR",
	 "send the templates again this often (default 60s)", opt_duration,
	 offsetof(struct ipfix_cfg, refresh_ns)},
	{0},
};

struct ipfix_exporter {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint32_t domain;
	uint64_t refresh_ns;
	uint32_t seq;	       /* data records sent so far in the domain (mod 2^32) */
	uint64_t last_tmpl_ns; /* monotonic time the templates were last sent; 0: never */
	struct ipfix_msg msg;
	uint64_t msg_events; /* events whose last record is in msg */
	struct exporter_stats st;
	uint64_t records, messages;
};

static bool templates_due(const struct ipfix_exporter *e)
{
	return !e->last_tmpl_ns || clock_mono_ns() - e->last_tmpl_ns >= e->refresh_ns;
}

/* Sends the message being built (nothing if it holds no record) and starts none. */
static int send_msg(struct ipfix_exporter *e)
{
	size_t len;
	ssize_t r;
	int ret = 0;

	if (!e->msg.len || !e->msg.n_records) {
		e->msg.len = 0;
		return 0;
	}
	len = ipfix_msg_finish(&e->msg, (uint32_t)time(NULL), e->seq, e->domain);
	do {
		r = sendto(e->fd, e->msg.buf, len, MSG_DONTWAIT, (struct sockaddr *)&e->addr,
			   e->addrlen);
	} while (r < 0 && errno == EINTR);
	if (r < 0 || (size_t)r != len) {
		ret = r < 0 ? -errno : -EMSGSIZE;
		e->st.errors++;
		e->st.dropped += e->msg_events;
	} else {
		e->seq += e->msg.n_records;
		e->records += e->msg.n_records;
		e->messages++;
		e->st.written += e->msg_events;
		if (e->msg.has_templates)
			e->last_tmpl_ns = clock_mono_ns();
	}
	e->msg.len = 0;
	e->msg_events = 0;
	return ret;
}

static int add_record(struct ipfix_exporter *e, const struct flow *f, int dir)
{
	int ret = 0, r;

	if (!e->msg.len)
		ipfix_msg_begin(&e->msg, templates_due(e));
	r = ipfix_msg_add(&e->msg, f, dir);
	if (r == -ENOSPC) {
		ret = send_msg(e);
		ipfix_msg_begin(&e->msg, templates_due(e));
		r = ipfix_msg_add(&e->msg, f, dir);
	}
	return r ?: ret;
}

static int ipfix_take(void *state, struct export_event *ev)
{
	struct ipfix_exporter *e = state;
	const struct flow *f = ev->flow;
	int ret = 0, r, dir, n = 0;

	if (f->family != 4 && f->family != 6) {
		e->st.dropped++;
		e->st.errors++;
		return -EINVAL;
	}
	for (dir = 0; dir < 2; dir++) {
		if (!f->packets[dir])
			continue;
		r = add_record(e, f, dir);
		if (r && !ret)
			ret = r;
		n++;
	}
	if (n)
		e->msg_events++;
	return ret;
}

static int ipfix_flush(void *state, bool sync)
{
	(void)sync;
	return send_msg(state);
}

static int ipfix_open(void **state, const void *cfg, const struct exporter_env *env,
		      struct errmsg *err)
{
	const struct ipfix_cfg *c = cfg;
	struct addrinfo hints = {0}, *res = NULL;
	struct ipfix_exporter *e;
	char port[8];
	int r;

	(void)env;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", c->collector.port);
	r = getaddrinfo(c->collector.host, port, &hints, &res);
	if (r)
		return errmsg_set(
			err, -EINVAL,
			"invalid --export-ipfix '%s': use HOST:PORT with a numeric address, e.g. 127.0.0.1:4739",
			c->collector.host);
	e = calloc(1, sizeof(*e));
	if (!e) {
		freeaddrinfo(res);
		return errmsg_set(err, -ENOMEM, "out of memory");
	}
	e->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (e->fd < 0) {
		r = -errno;
		freeaddrinfo(res);
		free(e);
		return errmsg_set(err, r, "socket: %s", strerror(-r));
	}
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	e->domain = c->domain;
	e->refresh_ns = c->refresh_ns;
	*state = e;
	return 0;
}

static void ipfix_close(void *state)
{
	struct ipfix_exporter *e = state;

	send_msg(e);
	close(e->fd);
	free(e);
}

static void ipfix_stats(const void *state, struct exporter_stats *st)
{
	const struct ipfix_exporter *e = state;

	*st = e->st;
	st->queued = e->msg.len;
	st->n_extra = 2;
	st->extra[0].name = "records";
	st->extra[0].value = e->records;
	st->extra[1].name = "messages";
	st->extra[1].value = e->messages;
}

static void ipfix_config_init(void *cfg)
{
	struct ipfix_cfg *c = cfg;

	c->domain = DEFAULT_DOMAIN;
	c->refresh_ns = DEFAULT_REFRESH_NS;
}

static bool ipfix_enabled(const void *cfg)
{
	return ((const struct ipfix_cfg *)cfg)->collector.set;
}

const struct exporter_type ipfix_exporter = {
	.name = "ipfix",
	.title = "Export to IPFIX:",
	.opts = ipfix_opts,
	.config_size = sizeof(struct ipfix_cfg),
	.config_init = ipfix_config_init,
	.enabled = ipfix_enabled,
	.events = 1u << FLOW_EVENT_END, /* IPFIX carries finished flows */
	.open = ipfix_open,
	.take = ipfix_take,
	.flush = ipfix_flush,
	.close = ipfix_close,
	.stats = ipfix_stats,
};
