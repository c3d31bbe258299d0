/* Unit tests of `flowctl observe`'s options (cli/observe.c, cli/conn.c): each flag's effect on
 * the GetFlowsRequest, Hubble's forms of durations, times, IP versions, outputs and server
 * addresses, and every bad value refused by observe_parse (exit 2) before any connection. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cli/observe.h"
#include "../../cli/print.h"
#include "flowscope/encode/pb_json.h"

#define NOW (1561989600ULL * 1000000000ULL) /* 2019-07-01T14:00:00Z */

struct parsed {
	struct observe_args a;
	Observer__GetFlowsRequest req;
	struct errmsg e;
	int err;
};

/* observe_parse() of "observe" and the NULL-terminated arguments, then the request. */
static void parse(struct parsed *p, ...)
{
	char *argv[64] = {"observe"};
	int argc = 1;
	va_list ap;

	va_start(ap, p);
	while (argc < 63 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	memset(&p->e, 0, sizeof(p->e));
	observe_args_init(&p->a);
	p->err = observe_parse(&p->a, argc, argv, NOW, &p->e);
	if (!p->err)
		observe_request(&p->a, &p->req);
}

static void ok(struct parsed *p)
{
	ck_assert_msg(p->err == 0, "refused: %s", p->e.text);
}

/* A filter list as JSON, for comparing. */
static char *filters_json(Flow__FlowFilter *const *f, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_puts(&b, "");
	for (i = 0; i < n; i++) {
		pb_json_write(&b, &f[i]->base);
		buf_putc(&b, ';');
	}
	return b.data;
}

static void assert_allow(struct parsed *p, const char *want)
{
	char *got = filters_json(p->req.whitelist, p->req.n_whitelist);

	ck_assert_msg(!strcmp(got, want), "allow: got %s, want %s", got, want);
	free(got);
}

static void assert_deny(struct parsed *p, const char *want)
{
	char *got = filters_json(p->req.blacklist, p->req.n_blacklist);

	ck_assert_msg(!strcmp(got, want), "deny: got %s, want %s", got, want);
	free(got);
}

START_TEST(selection_numbers_as_hubble)
{
	struct parsed p;

	parse(&p, NULL);
	ok(&p);
	ck_assert_uint_eq(p.req.number, 20);
	ck_assert(!p.req.follow && !p.req.first && !p.req.since && !p.req.until);
	observe_args_free(&p.a);
	parse(&p, "-f", NULL);
	ok(&p);
	ck_assert(p.req.follow);
	ck_assert_uint_eq(p.req.number, 0);
	observe_args_free(&p.a);
	parse(&p, "--follow", "--last", "5", NULL);
	ok(&p);
	ck_assert(p.req.follow);
	ck_assert_uint_eq(p.req.number, 5);
	observe_args_free(&p.a);
	parse(&p, "--first", "3", NULL);
	ok(&p);
	ck_assert(p.req.first);
	ck_assert_uint_eq(p.req.number, 3);
	observe_args_free(&p.a);
	parse(&p, "--all", NULL);
	ok(&p);
	ck_assert_uint_eq(p.req.number, UINT64_MAX);
	observe_args_free(&p.a);
	parse(&p, "--until", "5m", NULL);
	ok(&p);
	ck_assert_uint_eq(p.req.number, 0);
	ck_assert_int_eq(p.req.until->seconds, 1561989600 - 300);
	observe_args_free(&p.a);
	parse(&p, "--per-flow", NULL);
	ok(&p);
	ck_assert(p.req.per_flow);
	observe_args_free(&p.a);
	/* `hubble observe flows` is the same command. */
	parse(&p, "flows", "--last", "2", NULL);
	ok(&p);
	ck_assert_uint_eq(p.req.number, 2);
	observe_args_free(&p.a);
}
END_TEST

START_TEST(since_until_in_hubble_forms)
{
	static const struct {
		const char *in;
		int64_t secs;
	} cases[] = {
		{"1h43m", 1561989600 - 6180},
		{"90s", 1561989600 - 90},
		{"2h", 1561989600 - 7200},
		{"2019-06-30", 1561852800},
		{"2019-06-30T18:45", 1561920300},
		{"2019-06-30T18:45:00+02:00", 1561913100},
		{"2019-06-30T18:45:00.5Z", 1561920300},
		{"Sun, 30 Jun 2019 18:45:00 +0200", 1561913100},
		{"Jun 30 18:45:00.000", 1561920300},
	};
	struct parsed p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(&p, "--since", cases[i].in, NULL);
		ok(&p);
		ck_assert_msg(p.req.since && p.req.since->seconds == cases[i].secs, "%s",
			      cases[i].in);
		ck_assert_uint_eq(p.req.number, 0); /* the whole window */
		observe_args_free(&p.a);
	}
}
END_TEST

/* Hubble's short forms and aliases land on the filter language's keys. */
START_TEST(short_forms_and_aliases)
{
	struct parsed p;

	parse(&p, "-t", "drop", NULL);
	ok(&p);
	assert_allow(&p, "{\"event_type\":[{\"type\":1}]};");
	observe_args_free(&p.a);
	parse(&p, "--type", "trace:to-endpoint", NULL);
	ok(&p);
	assert_allow(&p, "{\"event_type\":[{\"type\":4,\"match_sub_type\":true}]};");
	observe_args_free(&p.a);
	parse(&p, "-4", NULL);
	ok(&p);
	assert_allow(&p, "{\"ip_version\":[\"IPv4\"]};");
	observe_args_free(&p.a);
	parse(&p, "--ipv6", NULL);
	ok(&p);
	assert_allow(&p, "{\"ip_version\":[\"IPv6\"]};");
	observe_args_free(&p.a);
	parse(&p, "--not", "-6", "--ip-version", "v4", NULL);
	ok(&p);
	assert_allow(&p, "{\"ip_version\":[\"IPv4\"]};");
	assert_deny(&p, "{\"ip_version\":[\"IPv6\"]};");
	observe_args_free(&p.a);
	parse(&p, "--ip-version", "ipv4", NULL);
	ok(&p);
	assert_allow(&p, "{\"ip_version\":[\"IPv4\"]};");
	observe_args_free(&p.a);
	parse(&p, "-n", "shop", NULL);
	ok(&p);
	assert_allow(&p, "{\"source_pod\":[\"shop/\"]};{\"destination_pod\":[\"shop/\"]};");
	observe_args_free(&p.a);
	parse(&p, "-l", "app=web", "--to-port", "443", NULL);
	ok(&p);
	assert_allow(&p, "{\"source_label\":[\"app=web\"],\"destination_port\":[\"443\"]};"
			 "{\"destination_label\":[\"app=web\"],\"destination_port\":[\"443\"]};");
	observe_args_free(&p.a);
	parse(&p, "--from-identity", "world", "--interface", "eth0", "--drop-reason-desc",
	      "policy_denied", "--uuid", "6C9E0A4E-0000-4000-8000-000000000001", NULL);
	ok(&p);
	assert_allow(&p, "{\"source_identity\":[2],\"uuid\":[\"6c9e0a4e-0000-4000-8000-"
			 "000000000001\"],\"drop_reason_desc\":[\"POLICY_DENIED\"],\"interface\":"
			 "[{\"name\":\"eth0\"}]};");
	observe_args_free(&p.a);
}
END_TEST

/* --allowlist/--denylist: raw FlowFilters, after the flags' own, several in one value. */
START_TEST(raw_filters)
{
	struct parsed p;
	struct buf b = BUF_INIT;

	parse(&p, "--to-port", "443", "--allowlist",
	      "{\"source_pod\":[\"shop/\"]} {\"verdict\":[\"DROPPED\"]}", "--denylist",
	      "{\"protocol\":[\"udp\"]}", NULL);
	ok(&p);
	assert_allow(&p, "{\"destination_port\":[\"443\"]};{\"source_pod\":[\"shop/\"]};"
			 "{\"verdict\":[\"DROPPED\"]};");
	assert_deny(&p, "{\"protocol\":[\"udp\"]};");
	/* --print-raw-filters prints them as Hubble does: YAML lists of JSON. */
	ck_assert_int_eq(observe_raw_filters(&p.req, &b), 0);
	ck_assert_str_eq(b.data, "allowlist:\n"
				 "    - '{\"destination_port\":[\"443\"]}'\n"
				 "    - '{\"source_pod\":[\"shop/\"]}'\n"
				 "    - '{\"verdict\":[\"DROPPED\"]}'\n"
				 "denylist:\n"
				 "    - '{\"protocol\":[\"udp\"]}'\n");
	buf_free(&b);
	observe_args_free(&p.a);
	parse(&p, "--allowlist", "{\"source_pod\":[\"it's\"]}", "--print-raw-filters", NULL);
	ok(&p);
	ck_assert(p.a.print_raw_filters);
	ck_assert_int_eq(observe_raw_filters(&p.req, &b), 0);
	ck_assert_str_eq(b.data, "allowlist:\n    - '{\"source_pod\":[\"it''s\"]}'\n");
	buf_reset(&b);
	observe_args_free(&p.a);
	parse(&p, NULL);
	ck_assert_int_eq(observe_raw_filters(&p.req, &b), 0);
	ck_assert_str_eq(b.data, "{}\n");
	buf_free(&b);
	observe_args_free(&p.a);
}
END_TEST

START_TEST(output_and_formatting)
{
	static const struct {
		const char *word;
		int out;
	} outputs[] = {{"compact", OUT_COMPACT}, {"dict", OUT_DICT},   {"json", OUT_JSON},
		       {"jsonpb", OUT_JSONPB},	 {"table", OUT_TABLE}, {"tab", OUT_TAB},
		       {"JSON", OUT_JSON}};
	struct parsed p;
	size_t i;

	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		parse(&p, "-o", outputs[i].word, NULL);
		ok(&p);
		ck_assert_int_eq(p.a.output, outputs[i].out);
		observe_args_free(&p.a);
	}
	parse(&p, "--time-format", "rfc3339nano", "--print-node-name", "--color", "never",
	      "--numeric", NULL);
	ok(&p);
	ck_assert_int_eq(p.a.time_format, TIME_RFC3339_NANO);
	ck_assert(p.a.print_node_name && p.a.numeric);
	ck_assert_int_eq(p.a.color, COLOR_NEVER);
	observe_args_free(&p.a);
	/* Field masks go to both places Hubble servers read them from. */
	parse(&p, "-o", "jsonpb", "--field-mask", "time,source.pod_name",
	      "--experimental-field-mask", "IP", NULL);
	ok(&p);
	ck_assert_uint_eq(p.req.field_mask->n_paths, 3);
	ck_assert_str_eq(p.req.field_mask->paths[1], "source.pod_name");
	ck_assert_str_eq(p.req.experimental->field_mask->paths[2], "IP");
	observe_args_free(&p.a);
	parse(&p, "--use-default-field-masks", NULL);
	ok(&p);
	ck_assert(p.req.field_mask && p.req.field_mask->n_paths > 10);
	ck_assert_str_eq(p.req.field_mask->paths[0], "time");
	observe_args_free(&p.a);
	parse(&p, "-o", "json", "--use-default-field-masks", NULL);
	ok(&p);
	ck_assert_ptr_null(p.req.field_mask); /* JSON shows every field */
	observe_args_free(&p.a);
}
END_TEST

static void write_file(const char *path)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs("x\n", f);
	fclose(f);
}

START_TEST(server_addresses_and_tls)
{
	char ca1[] = "/tmp/fsc-test-ca1-XXXXXX", ca2[] = "/tmp/fsc-test-ca2-XXXXXX";
	char list[80];
	struct parsed p;

	close(mkstemp(ca1));
	close(mkstemp(ca2));
	write_file(ca1);
	write_file(ca2);
	parse(&p, NULL);
	ok(&p);
	ck_assert_str_eq(p.a.conn.host, "localhost");
	ck_assert_uint_eq(p.a.conn.port, 4245);
	ck_assert(!p.a.conn.use_tls);
	observe_args_free(&p.a);
	parse(&p, "--server", "tls://relay.example:4245", NULL);
	ok(&p);
	ck_assert_str_eq(p.a.conn.host, "relay.example");
	ck_assert(p.a.conn.use_tls);
	observe_args_free(&p.a);
	parse(&p, "--server", "tls://relay.example", NULL);
	ok(&p);
	ck_assert_uint_eq(p.a.conn.port, 443);
	observe_args_free(&p.a);
	parse(&p, "--server", "[::1]:4245", NULL);
	ok(&p);
	ck_assert_str_eq(p.a.conn.host, "::1");
	observe_args_free(&p.a);
	parse(&p, "--server", "unix:///var/run/cilium/hubble.sock", NULL);
	ok(&p);
	ck_assert_str_eq(p.a.conn.unix_path, "/var/run/cilium/hubble.sock");
	observe_args_free(&p.a);
	parse(&p, "--server", "unix:hubble.sock", NULL);
	ok(&p);
	ck_assert_str_eq(p.a.conn.unix_path, "hubble.sock");
	observe_args_free(&p.a);
	/* --tls alone: TLS with the system's CAs. */
	parse(&p, "--tls", NULL);
	ok(&p);
	ck_assert(p.a.conn.use_tls);
	ck_assert_uint_eq(p.a.conn.n_cas, 0);
	observe_args_free(&p.a);
	snprintf(list, sizeof(list), "%s,%s", ca1, ca2);
	parse(&p, "--tls-ca-cert-files", list, "--tls-ca-cert-files", ca1, "--tls-server-name",
	      "flowd.example", "--tls-allow-insecure", NULL);
	ok(&p);
	ck_assert(p.a.conn.use_tls && p.a.conn.tls_insecure);
	ck_assert_uint_eq(p.a.conn.n_cas, 3);
	ck_assert_str_eq(p.a.conn.cas[1], ca2);
	ck_assert_str_eq(p.a.conn.tls_server_name, "flowd.example");
	observe_args_free(&p.a);
	parse(&p, "--timeout", "1m30s", "--request-timeout", "500ms", NULL);
	ok(&p);
	ck_assert_uint_eq(p.a.conn.timeout_ns, 90000000000ULL);
	ck_assert_uint_eq(p.a.conn.request_timeout_ns, 500000000ULL);
	observe_args_free(&p.a);
	unlink(ca1);
	unlink(ca2);
}
END_TEST

/* Every bad value is refused by observe_parse, saying which flag and what to use. */
START_TEST(bad_values_are_refused_before_connecting)
{
	static const struct {
		const char *args[4];
		const char *says;
	} bad[] = {
		{{"--last", "abc"}, "--last"},
		{{"--last", "-1"}, "--last"},
		{{"--first", "0"}, "--first"},
		{{"--since", "yesterday"}, "--since"},
		{{"--until", "1h43"}, "--until"},
		{{"--since", "2019-06-31T25:00"}, "--since"},
		{{"--since", "1h", "--until", "2h"}, "after --until"},
		{{"--first", "1", "--last", "1"}, "--first and --last"},
		{{"--first", "1", "--all"}, "--first and --all"},
		{{"--last", "1", "--all"}, "--last and --all"},
		{{"--first", "1", "-f"}, "--follow"},
		{{"-o", "xml"}, "--output 'xml'"},
		{{"-o", "table", "-f"}, "table cannot follow"},
		{{"-o", "tab", "--follow"}, "table cannot follow"},
		{{"--time-format", "Kitchen"}, "--time-format"},
		{{"--color", "sometimes"}, "--color"},
		{{"--ip-version", "5"}, "--ip-version"},
		{{"-t", "bogus"}, "--type"},
		{{"--to-port", "99999"}, "--to-port"},
		{{"--from-ip", "10.0.0.300"}, "10.0.0.300"},
		{{"--identity", "nobody"}, "--identity"},
		{{"--uuid", "not-a-uuid"}, "--uuid"},
		{{"--drop-reason-desc", "NOPE"}, "--drop-reason-desc"},
		{{"--not"}, "--not must be followed"},
		{{"--not", "--not", "--port", "1"}, "--not twice"},
		{{"--bogus"}, "--bogus"},
		{{"-x"}, "-x"},
		{{"--follow=yes"}, "takes no value"},
		{{"--to-port"}, "needs a value"},
		{{"stray"}, "unexpected argument 'stray'"},
		{{"--allowlist", "{bad}"}, "--allowlist"},
		{{"--allowlist", "   "}, "--allowlist"},
		{{"--denylist", "{\"source_ip\":[\"1.2.3.300\"]}"}, "1.2.3.300"},
		{{"--allowlist", "{\"no_such_field\":1}"}, "no_such_field"},
		{{"--field-mask", "time"}, "needs -o jsonpb"},
		{{"-o", "json", "--field-mask", "nope"}, "no field 'nope'"},
		{{"-o", "json", "--field-mask", "source.nope"}, "no field 'nope'"},
		{{"-o", "json", "--field-mask", "time.seconds.x"}, "--field-mask"},
		{{"--server", "localhost"}, "--server"},
		{{"--server", "http://localhost:4245"}, "--server"},
		{{"--server", "localhost:0"}, "--server"},
		{{"--server", "unix://"}, "--server"},
		{{"--timeout", "0s"}, "--timeout"},
		{{"--timeout", "soon"}, "--timeout"},
		{{"--request-timeout", "-1s"}, "--request-timeout"},
		{{"--tls-ca-cert-files", "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
		{{"--tls-client-cert-file", "/etc/hostname"}, "go together"},
		{{"--input-file", "/nonexistent/flows.json"}, "/nonexistent/flows.json"},
		{{"--input-file", "-", "-f"}, "--follow"},
	};
	struct parsed p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(&p, bad[i].args[0], bad[i].args[1], bad[i].args[2], bad[i].args[3], NULL);
		ck_assert_msg(p.err < 0, "%s %s: accepted", bad[i].args[0],
			      bad[i].args[1] ? bad[i].args[1] : "");
		ck_assert_msg(strstr(p.e.text, bad[i].says), "%s: '%s' does not say '%s'",
			      bad[i].args[0], p.e.text, bad[i].says);
		observe_args_free(&p.a);
	}
}
END_TEST

/* --help tells the truth: every flag is there, with Hubble's names. */
START_TEST(help_lists_every_flag)
{
	static const char *const flags[] = {
		"-f, --follow",
		"--last N",
		"--first N",
		"--all",
		"--since TIME",
		"--until TIME",
		"-t, --type",
		"-4, --ipv4",
		"-6, --ipv6",
		"-n, --namespace",
		"-l, --label",
		"--not",
		"--identity",
		"--from-identity",
		"--to-identity",
		"--workload",
		"--interface",
		"--drop-reason-desc",
		"--uuid",
		"--allowlist JSON",
		"--denylist JSON",
		"-o, --output FMT",
		"--time-format NAME",
		"--print-node-name",
		"--color WHEN",
		"--numeric",
		"--server ADDR",
		"--tls ",
		"--tls-allow-insecure",
		"--tls-ca-cert-files",
		"--tls-client-cert-file",
		"--tls-client-key-file",
		"--tls-server-name",
		"--timeout DUR",
		"--request-timeout DUR",
		"--print-raw-filters",
		"--input-file FILE",
		"--per-flow",
		"--field-mask PATHS",
		"--experimental-field-mask",
		"--use-default-field-masks",
		"-h, --help",
		"StampMilli",
		"RFC3339Milli",
		"RFC1123Z",
		"1h43m",
		"tls://",
	};
	struct buf help = BUF_INIT;
	size_t i;

	ck_assert_int_eq(observe_help(&help), 0);
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		ck_assert_msg(strstr(help.data, flags[i]), "%s missing from --help", flags[i]);
	buf_free(&help);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_observe");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, selection_numbers_as_hubble);
	tcase_add_test(tc, since_until_in_hubble_forms);
	tcase_add_test(tc, short_forms_and_aliases);
	tcase_add_test(tc, raw_filters);
	tcase_add_test(tc, output_and_formatting);
	tcase_add_test(tc, server_addresses_and_tls);
	tcase_add_test(tc, bad_values_are_refused_before_connecting);
	tcase_add_test(tc, help_lists_every_flag);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
