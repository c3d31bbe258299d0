/* Fuzz target: the history store on damaged files, as flowd finds its --history-dir after a
 * crash, a torn write or a bad disk. The first byte picks what the rest is: a segment file, the
 * journal, a segment and its index (split at a NUL), each opened and read through as flowd does
 * at start and for replays; or a run of records decoded directly (the payload a block's CRC
 * lets through). */
#include "fuzz.h"

#include <dirent.h>

#include "flowscope/history/flow_rec.h"
#include "flowscope/history/history.h"

#define SEG "seg-00000000000000000001.fsh"
#define IDX "seg-00000000000000000001.idx"

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", fuzz_dir(), name);
}

/* Everything an earlier input left (a recovered journal becomes a segment of its own). */
static void clear(void)
{
	DIR *d = opendir(fuzz_dir());
	struct dirent *de;
	char path[512];

	if (!d)
		abort();
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			path_of(path, sizeof(path), de->d_name);
			unlink(path);
		}
	closedir(d);
}

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[512];

	path_of(path, sizeof(path), name);
	fuzz_write_file(path, p, n);
}

static void open_and_read(void)
{
	struct history_opts o = {.dir = fuzz_dir(), .foreground = true, .block_events = 64};
	struct history *h = NULL;
	struct history_cursor *c;
	struct history_block b;
	struct errmsg e = {""};
	struct flow f;
	int i;

	if (history_open(&h, &o, &e))
		return;
	c = history_cursor_new(h);
	/* A few KiB of compressed blocks can hold very many events: the first few hundred take the
	 * cursor across blocks and through every record kind as well (4096 or more made inputs
	 * that decode thousands of records the corpus's norm: 400 inputs/s instead of 10,000). */
	for (i = 0; c && i < 256 && history_cursor_next(c, &f) == 1; i++)
		;
	history_cursor_free(c);
	if (history_last_block(h, &b))
		(void)history_prev_block(h, b.no, &b);
	history_close(h);
}

static void records(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	struct flow_rec_state st;
	struct flow f;

	flow_rec_reset(&st);
	while (p < end && flow_rec_decode(&st, &p, end, &f) == 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;

	if (!size)
		return 0;
	fuzz_quiet();
	switch (data[0] % 4) {
	case 0:
		clear();
		put(SEG, data + 1, size - 1);
		open_and_read();
		break;
	case 1:
		clear();
		put("journal", data + 1, size - 1);
		open_and_read();
		break;
	case 2:
		clear();
		nul = memchr(data + 1, '\0', size - 1);
		put(SEG, data + 1, nul ? (size_t)(nul - data - 1) : size - 1);
		if (nul)
			put(IDX, nul + 1, size - (size_t)(nul + 1 - data));
		open_and_read();
		break;
	default:
		records(data + 1, size - 1);
		break;
	}
	return 0;
}
