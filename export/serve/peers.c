/* The peer list and peer.Peer/Notify (see include/flowscope/serve/peers.h). The list in force
 * is kept sorted by name, so that a reload is told as the merge of the old and the new list. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/list.h"
#include "flowscope/base/parse.h"
#include "flowscope/serve/peers.h"
#include "peer.pb-c.h"

#define LINE_MAX_LEN 1024

struct peer_list {
	struct peer *v;
	size_t n, cap;
};

struct peers {
	uv_loop_t *loop;
	struct peers_opts o;
	struct peer self;
	struct peer_list specs; /* --peer, parsed once */
	struct peer_list now;	/* in force: the specs and the file's, sorted by name */
	char *file;
	struct list_node calls; /* Notify streams */
	uv_fs_event_t watch;
	uv_timer_t settle;
	char dir[4096], base[256];
	bool watching;
	int closing; /* handles still to close before p goes */
};

/* One Notify stream (its node unlinked when the peers stop before the call ends). */
struct notify {
	struct list_node node;
	struct grpc_call *call;
};

/* ---- parsing -------------------------------------------------------------------------------- */

int peer_check_name(const char *s, struct errmsg *e)
{
	size_t i, n = strlen(s);

	if (!n || n > PEER_NAME_LEN)
		return errmsg_set(e, -EINVAL, "a name is 1 to %d characters", PEER_NAME_LEN);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_./", s[i]))
			return errmsg_set(e, -EINVAL,
					  "'%s' is not a name: use letters, digits, '-', '_', '.', "
					  "'/'",
					  s);
	return 0;
}

/* A host name as DNS has them: labels of letters, digits and '-', not all digits. */
static bool host_name_ok(const char *h)
{
	size_t i, n = strlen(h);
	bool alpha = false;

	if (!n || n > 253 || h[0] == '-' || h[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (isalpha((unsigned char)h[i]) || h[i] == '-')
			alpha = true;
		else if (!isdigit((unsigned char)h[i]) && h[i] != '.')
			return false;
	}
	return alpha; /* "10.0.0.300" is a mistyped address, not a name */
}

int peer_parse_address(const char *s, char *out, size_t len, struct errmsg *e)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[256];
	uint16_t port;

	if (parse_hostport(s, host, sizeof(host), &port) || !host[0])
		return errmsg_set(e, -EINVAL,
				  "invalid address '%s': use HOST:PORT or [IPV6]:PORT, e.g. "
				  "10.0.0.1:4244",
				  s);
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return errmsg_set(e, -EINVAL, "invalid address '%s': '%s' is not IPv6", s,
					  host);
		if (IN6_IS_ADDR_UNSPECIFIED(&a6))
			goto wildcard;
		snprintf(out, len, "[%s]:%u", host, port);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a4) == 1) {
		if (a4.s_addr == INADDR_ANY)
			goto wildcard;
	} else if (!host_name_ok(host)) {
		return errmsg_set(
			e, -EINVAL,
			"invalid address '%s': '%s' is neither an IPv4 address nor a host "
			"name (IPv6 goes in brackets: [fd00::1]:4244)",
			s, host);
	}
	snprintf(out, len, "%s:%u", host, port);
	return 0;
wildcard:
	return errmsg_set(e, -EINVAL,
			  "invalid address '%s': a wildcard listens everywhere but cannot be "
			  "connected to: give one of the node's own addresses",
			  s);
}

int peer_parse(const char *spec, struct peer *out, struct errmsg *e)
{
	const char *eq = strchr(spec, '=');
	const char *addr = eq ? eq + 1 : spec;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!strncmp(addr, "tls://", 6)) {
		addr += 6;
		out->tls = true;
	}
	if (eq) {
		if ((size_t)(eq - spec) > PEER_NAME_LEN)
			err = errmsg_set(e, -EINVAL, "the name is longer than %d characters",
					 PEER_NAME_LEN);
		else
			memcpy(out->name, spec, (size_t)(eq - spec));
		err = err ?: peer_check_name(out->name, e);
	}
	err = err ?: peer_parse_address(addr, out->address, sizeof(out->address), e);
	if (err) {
		errmsg_prefix(e,
			      "invalid peer '%s' (use [NAME=]ADDR:PORT or [NAME=]tls://ADDR:PORT)",
			      spec);
		return err;
	}
	if (!eq)
		snprintf(out->name, sizeof(out->name), "%s", out->address);
	return 0;
}

/* ---- options -------------------------------------------------------------------------------- */

static int opt_advertise(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct peers_cfg *c = base;
	int err = peer_parse_address(arg, c->advertise, sizeof(c->advertise), e);

	if (err)
		errmsg_prefix(e, "--%s", o->name);
	return err;
}

/* Checked now, kept as given for peers_start(). */
static int opt_peer(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct peers_cfg *c = base;
	struct peer p;
	int err = peer_parse(arg, &p, e);

	if (err) {
		errmsg_prefix(e, "--%s", o->name);
		return err;
	}
	if (c->n_specs == PEERS_MAX_SPECS)
		return errmsg_set(e, -EINVAL, "at most %d --peer options: use --peers-file",
				  PEERS_MAX_SPECS);
	c->specs[c->n_specs++] = arg;
	return 0;
}

static int opt_tls_name(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	int err = peer_check_name(arg, e);

	if (err)
		errmsg_prefix(e, "invalid --%s '%s'", o->name, arg);
	return err ?: opt_string(o, arg, base, e);
}

#define CFG(field) offsetof(struct peers_cfg, field)

static const struct opt peer_opts[] = {
	{"advertise", 0, "ADDR:PORT",
	 "where relays reach this node's gRPC API, told by\npeer.Peer/Notify and GetNodes "
	 "(default: the --grpc\naddress)",
	 opt_advertise},
	{"tls-server-name", 0, "NAME",
	 "the name on this node's certificate, told to relays\n(with --tls-cert; default: the "
	 "node name)",
	 opt_tls_name, CFG(tls_server_name)},
	{"peer", 0, "[NAME=]ADDR:PORT",
	 "another agent, told to relays by peer.Peer/Notify\n(repeatable; unnamed: named by its "
	 "address)",
	 opt_peer},
	{"peers-file", 0, "FILE",
	 "more peers, one [NAME=]ADDR:PORT a line, '#' comments;\nreloaded when it changes "
	 "(this node's own line is\nskipped)",
	 opt_string, CFG(file)},
	{0},
};

struct opt_group peers_opt_group(struct peers_cfg *cfg)
{
	return (struct opt_group){"Relays (peer.Peer/Notify):", peer_opts, cfg};
}

/* ---- building a list ------------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct peer *)a)->name, ((const struct peer *)b)->name);
}

/* The TLS server name of a peer of a TLS cluster: its name, or its host when unnamed. */
static void set_tls_name(const struct peers *p, struct peer *pe)
{
	const char *a = pe->address;
	size_t n;

	if (!p->o.tls && !pe->tls)
		return;
	if (strcmp(pe->name, pe->address)) {
		snprintf(pe->tls_server_name, sizeof(pe->tls_server_name), "%s", pe->name);
		return;
	}
	a += a[0] == '[';
	n = strcspn(a, a == pe->address ? ":" : "]");
	snprintf(pe->tls_server_name, sizeof(pe->tls_server_name), "%.*s", (int)n, a);
}

/* Adds pe (from where: "--peer 'X'", "FILE line N") unless it is this node itself. */
static int list_add(const struct peers *p, struct peer_list *l, const struct peer *pe,
		    const char *where, struct errmsg *e)
{
	const struct peer *self = &p->self;
	bool same_name = !strcmp(pe->name, self->name),
	     same_addr = !strcmp(pe->address, self->address);
	size_t i;

	/* A peers file shared by every node lists each node too: this one is skipped. */
	if (same_addr && (same_name || !strcmp(pe->name, pe->address)))
		return 0;
	if (same_name || same_addr)
		return errmsg_set(e, -EINVAL,
				  "%s: %s is this node's %s, but this node is %s=%s (see "
				  "--node-name and --advertise)",
				  where, same_name ? pe->name : pe->address,
				  same_name ? "name" : "address", self->name, self->address);
	for (i = 0; i < l->n; i++) {
		if (!strcmp(l->v[i].name, pe->name) || !strcmp(l->v[i].address, pe->address))
			return errmsg_set(e, -EINVAL, "%s: peer %s=%s is given twice (%s=%s)",
					  where, pe->name, pe->address, l->v[i].name,
					  l->v[i].address);
	}
	if (l->n == PEERS_MAX)
		return errmsg_set(e, -EINVAL, "%s: more than %d peers", where, PEERS_MAX);
	if (l->n == l->cap) { /* grown as lines come: a list is mostly a handful of peers */
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct peer *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return errmsg_set(e, -ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = *pe;
	set_tls_name(p, &l->v[l->n]);
	l->n++;
	return 0;
}

/* One line of the file: blanks around it and a '#' comment ignored. */
static int file_line(const struct peers *p, struct peer_list *l, char *line, unsigned int no,
		     struct errmsg *e)
{
	char where[4200], *s = line, *end;
	struct peer pe;
	int err;

	snprintf(where, sizeof(where), "%s line %u", p->file, no);
	end = strchr(s, '#');
	if (end)
		*end = '\0';
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (!*s)
		return 0;
	err = peer_parse(s, &pe, e);
	if (err) {
		errmsg_prefix(e, "%s", where);
		return err;
	}
	return list_add(p, l, &pe, where, e);
}

static int read_file(const struct peers *p, struct peer_list *l, struct errmsg *e)
{
	FILE *f = fopen(p->file, "re");
	char *line = NULL;
	size_t cap = 0;
	unsigned int no = 0;
	ssize_t n;
	int err = 0;

	if (!f)
		return errmsg_set(e, -errno, "cannot read the peers file %s: %s", p->file,
				  strerror(errno));
	while (!err && (n = getline(&line, &cap, f)) >= 0) {
		no++;
		if (n > LINE_MAX_LEN)
			err = errmsg_set(e, -EINVAL, "%s line %u: longer than %d characters",
					 p->file, no, LINE_MAX_LEN);
		else
			err = file_line(p, l, line, no, e);
	}
	if (!err && ferror(f))
		err = errmsg_set(e, -EIO, "cannot read the peers file %s", p->file);
	free(line);
	fclose(f);
	return err;
}

/* The specs and the file as a new list, sorted by name. */
static int build(const struct peers *p, struct peer_list *l, struct errmsg *e)
{
	size_t i;
	int err = 0;

	*l = (struct peer_list){0};
	for (i = 0; i < p->specs.n && !err; i++) {
		char where[600];

		snprintf(where, sizeof(where), "--peer %s=%s", p->specs.v[i].name,
			 p->specs.v[i].address);
		err = list_add(p, l, &p->specs.v[i], where, e);
	}
	if (!err && p->file)
		err = read_file(p, l, e);
	if (err) {
		free(l->v);
		*l = (struct peer_list){0};
		return err;
	}
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), by_name);
	return 0;
}

/* ---- Notify --------------------------------------------------------------------------------- */

static int send_change(struct grpc_call *call, const struct peer *pe, int type)
{
	Peer__ChangeNotification n = PEER__CHANGE_NOTIFICATION__INIT;
	Peer__TLS tls = PEER__TLS__INIT;

	n.name = (char *)pe->name;
	n.address = (char *)pe->address;
	n.type = (Peer__ChangeNotificationType)type;
	if (pe->tls_server_name[0]) {
		tls.server_name = (char *)pe->tls_server_name;
		n.tls = &tls;
	}
	return grpc_call_send_msg(call, &n.base);
}

static void notify_free(void *arg)
{
	struct notify *n = arg;

	list_del(&n->node);
	free(n);
}

void peers_notify(struct peers *p, struct grpc_call *call, const uint8_t *msg, size_t len)
{
	Peer__NotifyRequest *req = peer__notify_request__unpack(NULL, len, msg);
	struct notify *n;
	size_t i;

	if (!req) {
		grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "cannot parse NotifyRequest");
		return;
	}
	peer__notify_request__free_unpacked(req, NULL);
	n = calloc(1, sizeof(*n));
	if (!n) {
		grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	n->call = call;
	list_add_tail(&p->calls, &n->node);
	grpc_call_set_service(call, n, &(struct grpc_call_ops){.svc_free = notify_free});
	send_change(call, &p->self, PEER__CHANGE_NOTIFICATION_TYPE__PEER_ADDED);
	for (i = 0; i < p->now.n; i++)
		send_change(call, &p->now.v[i], PEER__CHANGE_NOTIFICATION_TYPE__PEER_ADDED);
}

static bool peer_equal(const struct peer *a, const struct peer *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->address, b->address) &&
	       !strcmp(a->tls_server_name, b->tls_server_name);
}

struct changes {
	size_t added, deleted, updated;
};

static void tell_all(struct peers *p, const struct peer *pe, int type)
{
	struct notify *n, *tmp;

	list_for_each_safe(n, tmp, &p->calls, struct notify, node)
	{
		/* A client that reads nothing does not get an unbounded queue: it is told to
		 * call again, and then gets the whole list. */
		if (grpc_call_queued(n->call) >= grpc_call_queue_limit(n->call))
			grpc_call_finish(n->call, GRPC_RESOURCE_EXHAUSTED,
					 "peer changes are not read: call Notify again");
		else
			send_change(n->call, pe, type);
	}
}

static void tell_owner(struct peers *p, const struct peer *old, const struct peer *now)
{
	if (p->o.on_change)
		p->o.on_change(old, now, p->o.change_ctx);
}

/* The merge of two lists sorted by name: deletions, updates, then additions, so that a relay
 * never holds two peers for one name. */
static void tell_changes(struct peers *p, const struct peer_list *old, const struct peer_list *new,
			 struct changes *c)
{
	size_t i = 0, j = 0;
	int pass, d;

	for (pass = 0; pass < 3; pass++) {
		for (i = 0, j = 0; i < old->n || j < new->n;) {
			d = i == old->n	  ? 1
			    : j == new->n ? -1
					  : strcmp(old->v[i].name, new->v[j].name);
			if (d < 0 && pass == 0) {
				tell_all(p, &old->v[i],
					 PEER__CHANGE_NOTIFICATION_TYPE__PEER_DELETED);
				tell_owner(p, &old->v[i], NULL);
				c->deleted++;
			} else if (!d && pass == 1 && !peer_equal(&old->v[i], &new->v[j])) {
				tell_all(p, &new->v[j],
					 PEER__CHANGE_NOTIFICATION_TYPE__PEER_UPDATED);
				tell_owner(p, &old->v[i], &new->v[j]);
				c->updated++;
			} else if (d > 0 && pass == 2) {
				tell_all(p, &new->v[j], PEER__CHANGE_NOTIFICATION_TYPE__PEER_ADDED);
				tell_owner(p, NULL, &new->v[j]);
				c->added++;
			}
			i += d <= 0;
			j += d >= 0;
		}
	}
}

/* ---- reloading --------------------------------------------------------------------------------
 */

int peers_reload(struct peers *p, struct errmsg *e)
{
	struct peer_list new, old = p->now;
	struct changes c = {0};
	char f[1024], m[1100];
	int err = build(p, &new, e);

	if (err) {
		logmsg(LOG_LEVEL_WARN, "peers not reloaded: %s (the previous %zu stay in force)",
		       e->text, p->now.n);
		if (p->o.agent)
			agent_events_post(
				p->o.agent, AGENT_EVENT_UNKNOWN, "peers-refused",
				"{\"file\":\"%s\",\"error\":\"%s\",\"peers_in_force\":%zu}",
				json_escape(p->file ? p->file : "", f, sizeof(f)),
				json_escape(e->text, m, sizeof(m)), p->now.n);
		return err;
	}
	tell_changes(p, &old, &new, &c);
	p->now = new;
	free(old.v);
	if (!c.added && !c.deleted && !c.updated)
		return 0;
	logmsg(LOG_LEVEL_INFO, "peers reloaded from %s: %zu (%zu added, %zu deleted, %zu updated)",
	       p->file, p->now.n, c.added, c.deleted, c.updated);
	if (p->o.agent)
		agent_events_post(p->o.agent, AGENT_EVENT_UNKNOWN, "peers-reloaded",
				  "{\"file\":\"%s\",\"peers\":%zu,\"added\":%zu,\"deleted\":%zu,"
				  "\"updated\":%zu}",
				  json_escape(p->file, f, sizeof(f)), p->now.n, c.added, c.deleted,
				  c.updated);
	return 0;
}

static void on_settled(uv_timer_t *t)
{
	struct errmsg e = {""};

	peers_reload(t->data, &e);
}

static void on_change(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct peers *p = h->data;

	(void)events;
	if (status < 0 || (filename && strcmp(filename, p->base)))
		return;
	/* Editors write in several steps: read once things settle. */
	uv_timer_start(&p->settle, on_settled, 200, 0);
}

/* Watches the file's directory: editors and config tools rename a new file over the old one,
 * which a watch on the file itself would miss. */
static int watch(struct peers *p, struct errmsg *e)
{
	char tmp[4096];
	int err;

	snprintf(tmp, sizeof(tmp), "%s", p->file);
	snprintf(p->dir, sizeof(p->dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", p->file);
	snprintf(p->base, sizeof(p->base), "%s", basename(tmp));
	uv_timer_init(p->loop, &p->settle);
	uv_fs_event_init(p->loop, &p->watch);
	p->settle.data = p->watch.data = p;
	p->watching = true;
	err = uv_fs_event_start(&p->watch, on_change, p->dir, 0);
	return err ? errmsg_set(e, err, "cannot watch %s for changes: %s", p->dir, uv_strerror(err))
		   : 0;
}

int peers_start(struct peers **out, uv_loop_t *loop, const struct peers_opts *o, struct errmsg *e)
{
	struct peers *p = calloc(1, sizeof(*p));
	size_t i;
	int err = 0;

	*out = NULL;
	if (!p)
		return errmsg_set(e, -ENOMEM, "out of memory");
	p->loop = loop;
	p->o = *o;
	p->self = o->self;
	list_init(&p->calls);
	p->file = o->file ? strdup(o->file) : NULL;
	p->specs.v = calloc(o->n_specs ? o->n_specs : 1, sizeof(*p->specs.v));
	if (!p->specs.v || (o->file && !p->file))
		err = errmsg_set(e, -ENOMEM, "out of memory");
	for (i = 0; !err && i < o->n_specs; i++) {
		err = peer_parse(o->specs[i], &p->specs.v[i], e);
		if (err)
			errmsg_prefix(e, "--peer");
		p->specs.n++;
	}
	err = err ?: build(p, &p->now, e);
	if (!err && p->file)
		err = watch(p, e);
	if (err) {
		peers_stop(p);
		return err;
	}
	for (i = 0; i < p->now.n; i++)
		tell_owner(p, NULL, &p->now.v[i]);
	*out = p;
	return 0;
}

size_t peers_count(const struct peers *p)
{
	return p->now.n;
}

static void on_closed(uv_handle_t *h)
{
	struct peers *p = h->data;

	if (--p->closing)
		return;
	free(p->file);
	free(p);
}

void peers_stop(struct peers *p)
{
	struct notify *n, *tmp;

	if (!p)
		return;
	list_for_each_safe(n, tmp, &p->calls, struct notify, node)
		list_del(&n->node); /* the call frees n when it ends */
	free(p->specs.v);
	free(p->now.v);
	p->specs.v = p->now.v = NULL;
	if (!p->watching) {
		free(p->file);
		free(p);
		return;
	}
	p->closing = 2;
	uv_close((uv_handle_t *)&p->watch, on_closed);
	uv_close((uv_handle_t *)&p->settle, on_closed);
}
