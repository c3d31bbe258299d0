/* Fuzz target: peer lists (flowd's and flowrelay's --peers-file, one "[NAME=]ADDR" a line, and
 * --peer specs): the input is a file the peers start from, then, after a NUL, the file a reload
 * reads (so what a reload changes - added, deleted, updated peers - is fuzzed too); each line
 * also goes through peer_parse as a --peer value would. */
#include "fuzz.h"

#include <uv.h>

#include "flowscope/serve/peers.h"

static void on_change(const struct peer *old, const struct peer *now, void *ctx)
{
	(void)ctx;
	if (!old && !now)
		abort();
}

static void each_line(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *part;
	struct peer peer;
	struct errmsg e = {""};
	ssize_t len;

	while ((len = fuzz_next_part(&p, end, '\n', &part)) >= 0) {
		char *s = fuzz_str(part, (size_t)len);

		(void)peer_parse(s, &peer, &e);
		free(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t loop;
	static char path[300];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t first = nul ? (size_t)(nul - data) : size;
	struct peers_opts o = {.file = path, .on_change = on_change};
	struct peers *p = NULL;
	struct errmsg e = {""};
	int i;

	fuzz_quiet();
	if (!path[0]) {
		snprintf(path, sizeof(path), "%s/peers", fuzz_dir());
		if (uv_loop_init(&loop))
			abort();
	}
	snprintf(o.self.name, sizeof(o.self.name), "self");
	snprintf(o.self.address, sizeof(o.self.address), "127.0.0.1:4244");
	each_line(data, first);
	fuzz_write_file(path, data, first);
	if (peers_start(&p, &loop, &o, &e) == 0) {
		if (nul) {
			fuzz_write_file(path, nul + 1, size - first - 1);
			(void)peers_reload(p, &e);
		}
		peers_stop(p);
	}
	for (i = 0; i < 4 && uv_run(&loop, UV_RUN_NOWAIT); i++)
		;
	return 0;
}
