/* Fuzz target: the filter language as users type it (flowd --export-allow/--export-deny,
 * the HTTP API's deny= groups, flowctl's flags): the input's lines are an allow query, a deny
 * query, then deny groups ("key=value&key=value" each). What parses is compiled as the servers
 * compile it and matched against sample flows. */
#include "fuzz.h"

#include "flows.h"
#include "flowscope/filter/filter.h"
#include "flowscope/filter/flow_filter.h"

static void match_samples(const struct flow_filter_set *fs)
{
	struct flow f = tcp_flow();
	char *labels[] = {"k8s:app=web", "zone=a"};
	struct filter_node node = {.name = "node-1", .labels = labels, .n_labels = 2};

	(void)flow_filter_set_match(fs, &f, NULL);
	f.is_reply = true;
	f.proto = IPPROTO_UDP;
	f.dst.port = 53;
	(void)flow_filter_set_match(fs, &f, &node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *part;
	struct flow_filter_set *fs = NULL;
	struct filter_req r;
	struct errmsg e = {""};
	ssize_t n;
	int line = 0;

	fuzz_quiet();
	filter_req_init(&r, FILTER_AS_PARAM);
	while ((n = fuzz_next_part(&p, end, '\n', &part)) >= 0) {
		char *s = fuzz_str(part, (size_t)n);
		int err;

		if (line < 2)
			err = filter_req_parse(&r, s, line == 1, &e);
		else
			err = filter_req_add_deny_group(&r, s, &e);
		free(s);
		if (err)
			goto out;
		line++;
	}
	if (flow_filter_set_from_req(&r, &fs, &e) == 0) {
		match_samples(fs);
		flow_filter_set_free(fs);
	}
out:
	filter_req_free(&r);
	return 0;
}
