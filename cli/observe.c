/* `flowctl observe`'s options and request (see cli/observe.h). The filter flags are made from
 * the filter language's key table, so every key is a flag with the key's own help and value
 * check; Hubble's short forms (-t, -n, -l, -4, -6) are added to them here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/base/parse.h"
#include "flowscope/encode/pb_json.h"
#include "flowscope/encode/pb_json_parse.h"
#include "observe.h"
#include "print.h"

#define MAX_FILTER_FLAGS 160
#define ARG(field) offsetof(struct observe_args, field)

static int opt_last(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct observe_args *a = base;

	a->last_given = true;
	return opt_u64(o, arg, base, e);
}

static const struct opt selection_opts[] = {
	{"all", 0, NULL, "every stored flow", opt_flag, ARG(all)},
	{"last", 0, "N",
	 "the N most recent flows (default 20; all of them with --since,\n--until or --follow)",
	 opt_last, ARG(last), 0, UINT32_MAX},
	{"first", 0, "N", "the N oldest stored flows", opt_u64, ARG(first), 1, UINT32_MAX},
	{"follow", 'f', NULL, "keep streaming new flows until Ctrl-C", opt_flag, ARG(follow)},
	{"since", 0, "TIME",
	 "flows from TIME: a duration ago (90s, 5m, 1h43m) or a time:\n"
	 "2006-01-02, 2006-01-02T15:04[:05[.000]][Z07:00],\n"
	 "Mon, 02 Jan 2006 15:04:05 -0700, Jan  2 15:04:05.000\n"
	 "(without a zone: UTC, as Hubble reads and prints times)",
	 opt_string, ARG(since)},
	{"until", 0, "TIME", "flows up to TIME (the same forms)", opt_string, ARG(until)},
	{0},
};

/* ---- filters ------------------------------------------------------------------------------ */

static int add_filter(struct observe_args *a, const struct filter_key *k, const char *value,
		      struct errmsg *e)
{
	bool deny = a->negate;

	a->negate = false;
	return filter_req_add(&a->filters, k, value, deny, e);
}

static int opt_filter(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	return add_filter(base, o->data, arg, e);
}

/* -4/--ipv4 and -6/--ipv6: Hubble's --ip-version v4 and v6 without a value. */
static int opt_ip_flag(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	const struct filter_key *k = filter_key_find("ip_version");

	(void)arg;
	if (!k)
		return errmsg_set(e, -EINVAL, "--%s: the filter language has no ip_version",
				  o->name);
	return add_filter(base, k, o->short_name == '4' ? "4" : "6", e);
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

/* Hubble's short forms of filter flags. */
static int short_of(const char *key)
{
	static const struct {
		const char *key;
		int c;
	} shorts[] = {{"type", 't'}, {"namespace", 'n'}, {"label", 'l'}};
	size_t i;

	for (i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++)
		if (!strcmp(shorts[i].key, key))
			return shorts[i].c;
	return 0;
}

/* One flag per filter key ("to_port" -> --to-port), -4/-6, then --not. */
static struct opt filter_opts[MAX_FILTER_FLAGS + 4];
static char filter_names[MAX_FILTER_FLAGS][48];

static const struct opt *filter_table(void)
{
	size_t i, j, n = 0;

	if (filter_opts[0].name)
		return filter_opts;
	for (i = 0; i < filter_n_keys && n < MAX_FILTER_FLAGS; i++) {
		const struct filter_key *k = &filter_keys[i];

		snprintf(filter_names[n], sizeof(filter_names[n]), "%s", k->name);
		for (j = 0; filter_names[n][j]; j++)
			if (filter_names[n][j] == '_')
				filter_names[n][j] = '-';
		filter_opts[n] = (struct opt){.name = filter_names[n],
					      .short_name = short_of(k->name),
					      .arg = k->arg,
					      .help = k->help,
					      .parse = opt_filter,
					      .data = k};
		n++;
	}
	filter_opts[n++] = (struct opt){.name = "ipv4",
					.short_name = '4',
					.help = "IPv4 flows only (--ip-version 4)",
					.parse = opt_ip_flag};
	filter_opts[n++] = (struct opt){.name = "ipv6",
					.short_name = '6',
					.help = "IPv6 flows only (--ip-version 6)",
					.parse = opt_ip_flag};
	filter_opts[n] = (struct opt){.name = "not",
				      .help = "the next filter excludes instead of selects",
				      .parse = opt_not};
	return filter_opts;
}

/* --allowlist/--denylist: FlowFilters as JSON, several in one value if need be, as Hubble. */
static int opt_raw(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct observe_args *a = base;
	int side = o->name[0] == 'd';
	size_t off = 0, len = strlen(arg), end;
	ProtobufCMessage *m;
	struct errmsg pe = {""};

	while (off < len && strchr(" \t\r\n", arg[off]))
		off++;
	if (off == len)
		return errmsg_set(e, -EINVAL,
				  "invalid --%s '%s': use a FlowFilter in JSON, e.g. "
				  "'{\"source_pod\":[\"shop/web\"]}'",
				  o->name, arg);
	while (off < len) {
		if (a->n_raw[side] >= OBSERVE_MAX_RAW)
			return errmsg_set(e, -EINVAL, "too many --%s filters (at most %d)", o->name,
					  OBSERVE_MAX_RAW);
		if (pb_json_parse(&flow__flow_filter__descriptor, arg + off, len - off, NULL, &m,
				  &end, &pe))
			return errmsg_set(e, -EINVAL,
					  "invalid --%s '%s': %s (a FlowFilter in JSON)", o->name,
					  arg, pe.text);
		a->raw[side][a->n_raw[side]++] = (Flow__FlowFilter *)m;
		off += end;
		while (off < len && strchr(" \t\r\n", arg[off]))
			off++;
	}
	return 0;
}

static const struct opt raw_opts[] = {
	{"allowlist", 0, "JSON",
	 "a FlowFilter in JSON that flows may match instead of the\nflags' filters (repeatable), "
	 "e.g. '{\"source_pod\":[\"shop/\"]}'",
	 opt_raw},
	{"denylist", 0, "JSON", "a FlowFilter in JSON that excludes what it matches", opt_raw},
	{0},
};

/* ---- output and the rest ------------------------------------------------------------------ */

static const struct opt format_opts[] = {
	{"output", 'o', "FMT",
	 "compact (default), dict (KEY: VALUE blocks), jsonpb (one\n"
	 "GetFlowsResponse per line; json is the same), table or tab\n(aligned columns; not "
	 "with --follow)",
	 opt_word, ARG(output), 0, 0, printer_output_words},
	{"time-format", 0, "NAME",
	 "StampMilli (default, Jan  2 15:04:05.000), YearMonthDay,\n"
	 "YearMonthDayHour, YearMonthDayHourMinute, RFC3339,\n"
	 "RFC3339Milli, RFC3339Micro, RFC3339Nano or RFC1123Z (UTC)",
	 opt_word, ARG(time_format), 0, 0, printer_time_words},
	{"print-node-name", 0, NULL, "show the node that saw each flow", opt_flag,
	 ARG(print_node_name)},
	{"color", 0, "WHEN", "auto (default: on a terminal), always or never", opt_word, ARG(color),
	 0, 0, printer_color_words},
	{"numeric", 0, NULL, "addresses instead of pod, service and DNS names", opt_flag,
	 ARG(numeric)},
	{"help", 'h', NULL, "show this help", opt_flag, ARG(help)},
	{0},
};

/* --field-mask: a string slice, comma-separated and repeatable. */
static int opt_mask(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct observe_args *a = base;
	char *copy = strdup(arg), *tok, *save = NULL;

	if (!copy)
		return errmsg_set(e, -ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (a->n_mask >= OBSERVE_MAX_MASK) {
			free(copy);
			return errmsg_set(e, -EINVAL, "too many --%s paths (at most %d)", o->name,
					  OBSERVE_MAX_MASK);
		}
		a->mask[a->n_mask] = strdup(tok);
		if (!a->mask[a->n_mask++]) {
			free(copy);
			return errmsg_set(e, -ENOMEM, "out of memory");
		}
	}
	free(copy);
	return 0;
}

static const struct opt other_opts[] = {
	{"print-raw-filters", 0, NULL,
	 "print the filters the flags make (as --allowlist/--denylist\nvalues) and exit", opt_flag,
	 ARG(print_raw_filters)},
	{"input-file", 0, "FILE",
	 "read flows from FILE (GetFlowsResponse JSON lines, e.g. of\n`-o jsonpb`; - for stdin) "
	 "instead of the server",
	 opt_string, ARG(input_file)},
	{"per-flow", 0, NULL, "one line per connection (its latest state), not per event", opt_flag,
	 ARG(per_flow)},
	{"field-mask", 0, "PATHS",
	 "only these Flow fields (e.g. time,IP,l4,source.pod_name);\nneeds -o jsonpb", opt_mask},
	{"experimental-field-mask", 0, "PATHS", "the same (Hubble's older name)", opt_mask},
	{"use-default-field-masks", 0, NULL,
	 "with compact, dict and table output, ask only for the fields\nthey show", opt_flag,
	 ARG(default_masks)},
	{"experimental-use-default-field-masks", 0, NULL, "the same (Hubble's older name)",
	 opt_flag, ARG(default_masks)},
	{0},
};

static const struct opt history_opts[] = {
	{"history-clickhouse", 0, "URL",
	 "the events from the ClickHouse table flowd's --export-clickhouse\n"
	 "fills (every node's: http://HOST[:PORT][/?database=DB]) instead of\n"
	 "the server's, with the same selectors and filters; with --follow\n"
	 "the server's live events follow them",
	 opt_string, ARG(history_url)},
	{"history-clickhouse-table", 0, "NAME", "its table (default flows)", opt_string,
	 ARG(history_table)},
	{"history-clickhouse-user", 0, "USER", "the ClickHouse user", opt_string,
	 ARG(history_user)},
	{"history-clickhouse-password", 0, "PASS", "its password", opt_string,
	 ARG(history_password)},
	{0},
};

#define N_GROUPS 7

static size_t groups(struct observe_args *a, struct opt_group *g)
{
	g[0] = (struct opt_group){"Selectors:", selection_opts, a};
	g[1] = (struct opt_group){
		"Filters (values of one flag are alternatives, different flags must all match;\n"
		"--not before a filter makes it exclude):",
		filter_table(), a};
	g[2] = (struct opt_group){"Raw filters:", raw_opts, a};
	g[3] = (struct opt_group){"Formatting:", format_opts, a};
	g[4] = (struct opt_group){"Connection:", conn_opts_table, &a->conn};
	g[5] = (struct opt_group){"Other:", other_opts, a};
	g[6] = (struct opt_group){"History (ClickHouse):", history_opts, a};
	return N_GROUPS;
}

void observe_args_init(struct observe_args *a)
{
	memset(a, 0, sizeof(*a));
	a->last = OBSERVE_DEFAULT_LAST;
	conn_opts_init(&a->conn);
	filter_req_init(&a->filters, FILTER_AS_FLAG);
}

void observe_args_free(struct observe_args *a)
{
	size_t i;
	int s;

	filter_req_free(&a->filters);
	for (s = 0; s < 2; s++)
		for (i = 0; i < a->n_raw[s]; i++)
			protobuf_c_message_free_unpacked(&a->raw[s][i]->base, NULL);
	for (i = 0; i < a->n_mask; i++)
		free(a->mask[i]);
	flow_filter_set_free(a->compiled);
	conn_opts_free(&a->conn);
	memset(a, 0, sizeof(*a));
}

int observe_help(struct buf *out)
{
	struct observe_args a;
	struct opt_group g[N_GROUPS];
	int err;

	observe_args_init(&a);
	err = buf_puts(out, "Usage: flowctl observe [OPTIONS]\n"
			    "Shows flows from flowd (or any Hubble server) over gRPC, as `hubble "
			    "observe` does.\n"
			    "Bad flags and values exit with status 2 before anything is sent.\n\n");
	err = err ?: opts_help(out, g, groups(&a, g));
	observe_args_free(&a);
	return err;
}

/* ---- checks ------------------------------------------------------------------------------- */

static int when(const char *name, const char *s, uint64_t now, uint64_t *ns,
		Google__Protobuf__Timestamp *ts, struct errmsg *e)
{
	if (parse_hubble_time(s, now, ns))
		return errmsg_set(e, -EINVAL,
				  "invalid --%s '%s': use a duration ago (5m, 1h43m) or a time "
				  "such as 2026-11-24, 2026-11-24T10:00:00Z or "
				  "2026-11-24T10:00:00.5+01:00",
				  name, s);
	google__protobuf__timestamp__init(ts);
	ts->seconds = (int64_t)(*ns / 1000000000ULL);
	ts->nanos = (int32_t)(*ns % 1000000000ULL);
	return 0;
}

/* A field mask path such as "source.pod_name": each name a field of the message before. */
static int check_mask_path(const char *path, struct errmsg *e)
{
	const ProtobufCMessageDescriptor *d = &flow__flow__descriptor;
	char name[128];
	const char *p = path;

	while (*p) {
		size_t n = strcspn(p, ".");
		const ProtobufCFieldDescriptor *fd;

		if (!n || n >= sizeof(name) || !d)
			return errmsg_set(e, -EINVAL,
					  "invalid --field-mask '%s': use Flow field names such as "
					  "time, IP, l4, source.pod_name",
					  path);
		memcpy(name, p, n);
		name[n] = '\0';
		fd = protobuf_c_message_descriptor_get_field_by_name(d, name);
		if (!fd)
			return errmsg_set(e, -EINVAL,
					  "invalid --field-mask '%s': %s has no field '%s'", path,
					  d->name, name);
		d = fd->type == PROTOBUF_C_TYPE_MESSAGE ? fd->descriptor : NULL;
		p += n + (p[n] == '.');
		if (p[-1] == '.' && !*p)
			return errmsg_set(e, -EINVAL, "invalid --field-mask '%s'", path);
	}
	return 0;
}

/* What Hubble asks for with --use-default-field-masks: what its printer shows. */
static const char *const default_mask[] = {
	"time",
	"source.identity",
	"source.namespace",
	"source.pod_name",
	"destination.identity",
	"destination.namespace",
	"destination.pod_name",
	"source_service",
	"destination_service",
	"source_names",
	"destination_names",
	"l4",
	"IP",
	"ethernet",
	"l7",
	"Type",
	"node_name",
	"is_reply",
	"event_type",
	"verdict",
	"auth_type",
	"Summary",
	"sock_xlate_point",
	"debug_capture_point",
	"policy_match_type",
	"traffic_direction",
};

static int check_output(struct observe_args *a, struct errmsg *e)
{
	bool json = a->output == OUT_JSON || a->output == OUT_JSONPB;
	size_t i;
	int r;

	if ((a->output == OUT_TABLE || a->output == OUT_TAB) && a->follow)
		return errmsg_set(
			e, -EINVAL,
			"-o table cannot follow (its columns are aligned at the end): use "
			"-o compact or dict with --follow");
	if (a->n_mask && !json)
		return errmsg_set(e, -EINVAL,
				  "--field-mask needs -o jsonpb (the other outputs need the fields "
				  "they show)");
	if (a->default_masks && !json && !a->n_mask)
		for (i = 0; i < sizeof(default_mask) / sizeof(default_mask[0]); i++)
			if (!(a->mask[a->n_mask++] = strdup(default_mask[i])))
				return errmsg_set(e, -ENOMEM, "out of memory");
	for (i = 0; i < a->n_mask; i++) {
		r = check_mask_path(a->mask[i], e);
		if (r)
			return r;
	}
	return 0;
}

static int check_selection(struct observe_args *a, uint64_t now, struct errmsg *e)
{
	if (a->first && a->last_given)
		return errmsg_set(e, -EINVAL, "--first and --last cannot be combined");
	if (a->first && a->all)
		return errmsg_set(e, -EINVAL, "--first and --all cannot be combined");
	if (a->last_given && a->all)
		return errmsg_set(e, -EINVAL, "--last and --all cannot be combined");
	if (a->first && a->follow)
		return errmsg_set(e, -EINVAL, "--first cannot be combined with --follow");
	if (a->since && when("since", a->since, now, &a->since_ns, &a->since_ts, e))
		return -EINVAL;
	if (a->until && when("until", a->until, now, &a->until_ns, &a->until_ts, e))
		return -EINVAL;
	if (a->since && a->until && a->since_ns > a->until_ns)
		return errmsg_set(e, -EINVAL, "--since %s is after --until %s", a->since, a->until);
	if (a->input_file && a->follow)
		return errmsg_set(e, -EINVAL,
				  "--follow cannot read a file: use it with the server, or leave "
				  "it out");
	if (a->input_file && strcmp(a->input_file, "-") && access(a->input_file, R_OK))
		return errmsg_set(e, -EINVAL, "cannot read --input-file '%s': %s", a->input_file,
				  strerror(errno));
	return 0;
}

/* --history-clickhouse: a URL and a table that can be, with what reads events (not flows). */
static int check_history(struct observe_args *a, struct errmsg *e)
{
	bool given;
	int err = ch_target_from_options(&a->history, &given, a->history_url, a->history_table,
					 a->history_user, a->history_password, e);

	if (err || !given)
		return err;
	if (a->input_file)
		return errmsg_set(
			e, -EINVAL,
			"--history-clickhouse and --input-file are two sources: give one");
	if (a->per_flow)
		return errmsg_set(e, -EINVAL,
				  "--per-flow cannot read ClickHouse (it keeps flow events, not "
				  "connections): leave one out");
	return 0;
}

/* The filters together, compiled as flowd compiles them: a value flowd would refuse is
 * refused here, before anything is sent. */
static int check_filters(struct observe_args *a, struct errmsg *e)
{
	Flow__FlowFilter *f[2];
	size_t n, i;

	n = filter_req_filters(&a->filters, false, f);
	for (i = 0; i < n; i++)
		a->allow[a->n_allow++] = f[i];
	for (i = 0; i < a->n_raw[0]; i++)
		a->allow[a->n_allow++] = a->raw[0][i];
	n = filter_req_filters(&a->filters, true, f);
	for (i = 0; i < n; i++)
		a->deny[a->n_deny++] = f[i];
	for (i = 0; i < a->n_raw[1]; i++)
		a->deny[a->n_deny++] = a->raw[1][i];
	if (!a->n_allow && !a->n_deny)
		return 0;
	a->compiled = flow_filter_set_new(a->allow, a->n_allow, a->deny, a->n_deny, e);
	return a->compiled ? 0 : -EINVAL;
}

int observe_parse(struct observe_args *a, int argc, char **argv, uint64_t now_ns, struct errmsg *e)
{
	struct opt_group g[N_GROUPS];
	int r;

	if (argc > 1 && !strcmp(argv[1], "flows")) {
		argv++;
		argc--;
	}
	r = opts_parse(argc, argv, g, groups(a, g), e);
	if (r < 0)
		return r;
	if (r < argc)
		return errmsg_set(e, -EINVAL, "unexpected argument '%s'", argv[r]);
	if (a->help)
		return 0;
	if (a->negate)
		return errmsg_set(e, -EINVAL, "--not must be followed by a filter flag");
	r = check_selection(a, now_ns, e);
	r = r ?: check_history(a, e);
	r = r ?: check_output(a, e);
	r = r ?: check_filters(a, e);
	if (!r && !a->input_file && !a->print_raw_filters)
		r = conn_check(&a->conn, e);
	return r;
}

/* ---- the request -------------------------------------------------------------------------- */

int observe_request(struct observe_args *a, Observer__GetFlowsRequest *req)
{
	observer__get_flows_request__init(req);
	req->follow = a->follow;
	req->since = a->since ? &a->since_ts : NULL;
	req->until = a->until ? &a->until_ts : NULL;
	req->per_flow = a->per_flow;
	if (a->first) {
		req->first = 1;
		req->number = a->first;
	} else if (a->all) {
		req->number = UINT64_MAX; /* as Hubble: more than any server keeps */
	} else if (a->last_given) {
		req->number = a->last;
		if (!a->last && !a->follow)
			return 1; /* --last 0 without --follow: nothing asked for */
	} else {
		/* --follow alone: only new flows; a time window: all of it. */
		req->number = a->follow || a->since || a->until ? 0 : OBSERVE_DEFAULT_LAST;
	}
	req->n_whitelist = a->n_allow;
	req->whitelist = a->n_allow ? a->allow : NULL;
	req->n_blacklist = a->n_deny;
	req->blacklist = a->n_deny ? a->deny : NULL;
	if (a->n_mask) {
		/* Hubble sends the mask in experimental.field_mask; newer servers read
		 * field_mask. Both, so that either kind of server gets it. */
		google__protobuf__field_mask__init(&a->mask_msg);
		a->mask_msg.n_paths = a->n_mask;
		a->mask_msg.paths = a->mask;
		a->exp_mask_msg = a->mask_msg;
		observer__get_flows_request__experimental__init(&a->exp);
		a->exp.field_mask = &a->exp_mask_msg;
		req->field_mask = &a->mask_msg;
		req->experimental = &a->exp;
	}
	return 0;
}

/* One YAML list of JSON strings, single-quoted as yaml.v3 quotes them. */
static int yaml_list(struct buf *out, const char *key, Flow__FlowFilter *const *f, size_t n)
{
	struct buf json = BUF_INIT;
	size_t i, j;
	int err = n ? buf_printf(out, "%s:\n", key) : 0;

	for (i = 0; i < n && !err; i++) {
		buf_reset(&json);
		err = pb_json_write(&json, &f[i]->base) ?: buf_puts(out, "    - '");
		for (j = 0; !err && j < json.len; j++)
			err = json.data[j] == '\'' ? buf_puts(out, "''")
						   : buf_putc(out, json.data[j]);
		err = err ?: buf_puts(out, "'\n");
	}
	buf_free(&json);
	return err;
}

int observe_raw_filters(const Observer__GetFlowsRequest *req, struct buf *out)
{
	int err;

	if (!req->n_whitelist && !req->n_blacklist)
		return buf_puts(out, "{}\n");
	err = yaml_list(out, "allowlist", req->whitelist, req->n_whitelist);
	return err ?: yaml_list(out, "denylist", req->blacklist, req->n_blacklist);
}
