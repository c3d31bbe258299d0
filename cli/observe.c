/* `flowctl observe`'s options and request (see cli/observe.h). The filter flags are made from
 * the filter language's key table, so every key is a flag with the key's own help. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/parse.h"
#include "observe.h"
#include "print.h"

#define MAX_FILTER_FLAGS 64

#define CONN(field) offsetof(struct conn_opts, field)

const struct opt conn_opts_table[] = {
	{"server", 0, "HOST:PORT", "the server (default localhost:4245)", opt_string, CONN(server)},
	{"tls", 0, NULL, "use TLS (with --tls-ca-cert-files)", opt_flag, CONN(tls)},
	{"tls-ca-cert-files", 0, "FILE", "CA bundle that signed the server certificate", opt_string,
	 CONN(tls_ca)},
	{"tls-client-cert-file", 0, "FILE", "client certificate, for mutual TLS", opt_string,
	 CONN(tls_cert)},
	{"tls-client-key-file", 0, "FILE", "... and its key", opt_string, CONN(tls_key)},
	{"tls-server-name", 0, "NAME", "name to verify in the server certificate", opt_string,
	 CONN(tls_server_name)},
	{"timeout", 0, "DUR", "connect timeout (default 5s)", opt_duration, CONN(timeout_ns),
	 1000000},
	{0},
};

#define ARG(field) offsetof(struct observe_args, field)

static int opt_last(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct observe_args *a = base;

	a->last_given = true;
	return opt_u64(o, arg, base, e);
}

static const char *const outputs[] = {"compact", "json", "jsonpb", "dict", "table", NULL};

static const struct opt selection_opts[] = {
	{"follow", 'f', NULL, "keep streaming new flows until Ctrl-C", opt_flag, ARG(follow)},
	{"last", 0, "N", "the N most recent flows (default 20, or 0 with --follow)", opt_last,
	 ARG(last), 0, UINT32_MAX},
	{"first", 0, "N", "the N oldest stored flows (not with --follow)", opt_u64, ARG(first), 1,
	 UINT32_MAX},
	{"all", 0, NULL, "every stored flow", opt_flag, ARG(all)},
	{"since", 0, "TIME",
	 "flows from TIME: RFC 3339 (2026-11-24T10:00:00Z) or a duration\nago (5m, 1h)", opt_string,
	 ARG(since)},
	{"until", 0, "TIME", "flows up to TIME (same forms)", opt_string, ARG(until)},
	{0},
};

static const struct opt output_opts[] = {
	{"output", 'o', "FMT", "compact (default), json, jsonpb (same as json), dict, table",
	 opt_word, ARG(output), 0, 0, outputs},
	{"help", 'h', NULL, "show this help", opt_flag, ARG(help)},
	{0},
};

static int opt_filter(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct observe_args *a = base;
	bool deny = a->negate;

	a->negate = false;
	return filter_req_add(&a->filters, o->data, arg, deny, e);
}

static int opt_not(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct observe_args *a = base;

	(void)o;
	(void)arg;
	if (a->negate)
		return errmsg_set(e, -EINVAL, "--not twice in a row: give it before each filter");
	a->negate = true;
	return 0;
}

/* One flag per filter key ("to_port" -> --to-port), then --not. */
static struct opt filter_opts[MAX_FILTER_FLAGS + 2];
static char filter_names[MAX_FILTER_FLAGS][40];

static const struct opt *filter_table(void)
{
	size_t i, j;

	if (filter_opts[0].name)
		return filter_opts;
	for (i = 0; i < filter_n_keys && i < MAX_FILTER_FLAGS; i++) {
		const struct filter_key *k = &filter_keys[i];

		snprintf(filter_names[i], sizeof(filter_names[i]), "%s", k->name);
		for (j = 0; filter_names[i][j]; j++)
			if (filter_names[i][j] == '_')
				filter_names[i][j] = '-';
		filter_opts[i] = (struct opt){.name = filter_names[i],
					      .arg = k->arg,
					      .help = k->help,
					      .parse = opt_filter,
					      .data = k};
	}
	filter_opts[i] = (struct opt){.name = "not",
				      .help = "the next filter excludes instead of selects",
				      .parse = opt_not};
	return filter_opts;
}

static size_t groups(struct observe_args *a, struct opt_group *g)
{
	g[0] = (struct opt_group){"Selection:", selection_opts, a};
	g[1] = (struct opt_group){
		"Filters (all given filters must match; --not negates the next one):",
		filter_table(), a};
	g[2] = (struct opt_group){"Output:", output_opts, a};
	g[3] = (struct opt_group){"Connection:", conn_opts_table, &a->conn};
	return 4;
}

void observe_args_init(struct observe_args *a)
{
	memset(a, 0, sizeof(*a));
	a->last = 20;
	a->conn.server = "localhost:4245";
	filter_req_init(&a->filters, FILTER_AS_FLAG);
}

void observe_args_free(struct observe_args *a)
{
	filter_req_free(&a->filters);
}

int observe_help(struct buf *out)
{
	struct observe_args a;
	struct opt_group g[4];
	int err;

	observe_args_init(&a);
	err = buf_puts(out, "Usage: flowctl observe [OPTIONS]\n"
			    "Shows flows from flowd over gRPC (Hubble's observer API).\n\n");
	err = err ?: opts_help(out, g, groups(&a, g));
	observe_args_free(&a);
	return err;
}

int observe_parse(struct observe_args *a, int argc, char **argv, struct errmsg *e)
{
	struct opt_group g[4];
	int r = opts_parse(argc, argv, g, groups(a, g), e);

	if (r < 0)
		return r;
	if (r < argc)
		return errmsg_set(e, -EINVAL, "unexpected argument '%s'", argv[r]);
	if (a->negate)
		return errmsg_set(e, -EINVAL, "--not must be followed by a filter flag");
	if (a->first && a->follow)
		return errmsg_set(e, -EINVAL, "--first cannot be combined with --follow");
	return 0;
}

static int when(const char *name, const char *s, Google__Protobuf__Timestamp *ts, struct errmsg *e)
{
	uint64_t ns;

	if (parse_time(s, clock_wall_ns(), &ns))
		return errmsg_set(
			e, -EINVAL,
			"invalid --%s '%s': use RFC 3339 (2026-11-24T10:00:00Z) or a duration such as 5m",
			name, s);
	google__protobuf__timestamp__init(ts);
	ts->seconds = (int64_t)(ns / NSEC_PER_SEC);
	ts->nanos = (int32_t)(ns % NSEC_PER_SEC);
	return 0;
}

int observe_request(struct observe_args *a, Observer__GetFlowsRequest *req, struct errmsg *e)
{
	observer__get_flows_request__init(req);
	req->follow = a->follow;
	if (a->since && when("since", a->since, &a->since_ts, e))
		return -EINVAL;
	if (a->until && when("until", a->until, &a->until_ts, e))
		return -EINVAL;
	req->since = a->since ? &a->since_ts : NULL;
	req->until = a->until ? &a->until_ts : NULL;
	if (a->first) {
		req->first = 1;
		req->number = a->first;
	} else if (a->all || (!a->last_given && (a->follow || a->since))) {
		req->number = 0; /* --follow alone: only new flows; a time window: all of it */
	} else {
		req->number = a->last;
		if (!a->last && !a->follow)
			return 1; /* --last 0 without --follow: nothing asked for */
	}
	req->n_whitelist = filter_req_filters(&a->filters, false, a->allow);
	req->whitelist = req->n_whitelist ? a->allow : NULL;
	req->n_blacklist = filter_req_filters(&a->filters, true, a->deny);
	req->blacklist = req->n_blacklist ? a->deny : NULL;
	return 0;
}
