/* Unit tests of the history store (collector/history): every event back in order across blocks,
 * reopening and the open block; the journal after a crash (a child that never closes) and its
 * torn tail; a torn segment tail cut; a damaged block losing itself only, reported with its
 * time range; retention by size and by age; a failing disk stopping history, which goes on
 * once writes work again. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/history/history.h"
#include "flows.h"

#define T0 1790000000000000000ULL
#define SEC 1000000000ULL

static char dir[256];
static char logged[8192];

static void log_sink(enum log_level level, const char *text, void *ctx)
{
	(void)level;
	(void)ctx;
	strncat(logged, text, sizeof(logged) - strlen(logged) - 2);
	strcat(logged, "\n");
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fs-hist-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	logged[0] = 0;
	logmsg_set_sink(log_sink, NULL);
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The i-th event of a run: a flow of its own every 7 events, one millisecond apart. */
static struct flow event(uint64_t i)
{
	struct flow f = tcp_flow();

	f.seq = i;
	f.uuid[15] = (uint8_t)i;
	f.uuid[14] = (uint8_t)(i >> 8);
	f.uuid[13] = (uint8_t)(i >> 16);
	f.id = 1 + i / 7;
	f.src.port = (uint16_t)(30000 + i / 7);
	f.dst.port = i % 5 ? 443 : 53;
	f.time_ns = T0 + i * 1000000;
	f.first_seen_ns = f.time_ns - 1000;
	f.last_seen_ns = f.time_ns;
	f.bytes[0] = i * 100;
	return f;
}

static struct history *open_hist(uint32_t block_events, uint64_t max_bytes, uint64_t max_age)
{
	struct history_opts o = {.dir = dir,
				 .block_events = block_events,
				 .max_bytes = max_bytes,
				 .max_age_ns = max_age,
				 .foreground = true,
				 .retry_ns = 1};
	struct errmsg e = {""};
	struct history *h;

	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	return h;
}

static void append_range(struct history *h, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i <= to; i++) {
		struct flow f = event(i);

		ck_assert_int_eq(history_append(h, &f), 0);
	}
}

/* Reads everything from the start; the sequence numbers into seqs (up to max). */
static size_t read_all(struct history *h, uint64_t *seqs, size_t max)
{
	struct history_cursor *c = history_cursor_new(h);
	struct flow f;
	size_t n = 0;
	int r;

	ck_assert_ptr_nonnull(c);
	while ((r = history_cursor_next(c, &f)) == 1) {
		struct flow want = event(f.seq);

		ck_assert_uint_eq(f.time_ns, want.time_ns);
		ck_assert_uint_eq(f.dst.port, want.dst.port);
		ck_assert_uint_eq(f.bytes[0], want.bytes[0]);
		ck_assert_str_eq(f.ifname, "eth0");
		if (n < max)
			seqs[n] = f.seq;
		n++;
	}
	ck_assert_int_eq(r, 0);
	history_cursor_free(c);
	return n;
}

static void assert_run(const uint64_t *seqs, size_t n, uint64_t first)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(seqs[i], first + i);
}

static char seg_name[4200];

static const char *nth_segment(int n)
{
	char cmd[400];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s | grep '^seg-' | sed -n %dp", dir, n + 1);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	seg_name[0] = 0;
	if (fgets(seg_name + strlen(dir) + 1, (int)(sizeof(seg_name) - strlen(dir) - 1), p)) {
		memcpy(seg_name, dir, strlen(dir));
		seg_name[strlen(dir)] = '/';
		seg_name[strcspn(seg_name, "\n")] = 0;
	}
	pclose(p);
	return seg_name;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

START_TEST(test_every_event_back_in_order_across_blocks_and_reopen)
{
	struct history *h = open_hist(100, 0, 0);
	struct history_stats st;
	static uint64_t seqs[2000];

	append_range(h, 1, 1050); /* ten blocks and an open one of 50 */
	ck_assert_uint_eq(read_all(h, seqs, 2000), 1050);
	assert_run(seqs, 1050, 1);
	history_get_stats(h, &st);
	ck_assert_uint_eq(st.events, 1050);
	ck_assert_uint_eq(st.blocks, 11);
	ck_assert_uint_eq(st.oldest_ns, T0 + 1000000);
	ck_assert_uint_eq(st.newest_ns, T0 + 1050 * 1000000);
	ck_assert_str_eq(st.state, "ok");
	history_close(h);

	h = open_hist(100, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 2000), 1050);
	assert_run(seqs, 1050, 1);
	append_range(h, 1051, 1100);
	ck_assert_uint_eq(read_all(h, seqs, 2000), 1100);
	assert_run(seqs, 1100, 1);
	history_get_stats(h, &st);
	ck_assert_uint_gt(st.bytes, 0);
	/* The store's promise on size: well under a raw struct per event. */
	ck_assert_uint_lt(st.bytes / 1100, 200);
	history_close(h);
}
END_TEST

START_TEST(test_cursor_follows_the_open_block_through_its_seal)
{
	struct history *h = open_hist(10, 0, 0);
	struct history_cursor *c = history_cursor_new(h);
	struct flow f;
	uint64_t next = 1;

	append_range(h, 1, 5);
	while (history_cursor_next(c, &f) == 1)
		ck_assert_uint_eq(f.seq, next++);
	ck_assert_uint_eq(next, 6);
	append_range(h, 6, 27); /* seals the block the cursor is in, and another */
	while (history_cursor_next(c, &f) == 1)
		ck_assert_uint_eq(f.seq, next++);
	ck_assert_uint_eq(next, 28);
	/* seeking and blocks */
	{
		struct history_block b, p;

		ck_assert(history_last_block(h, &b));
		ck_assert_uint_eq(b.events, 7);
		ck_assert_uint_eq(b.first_seq, 21);
		ck_assert(history_prev_block(h, b.no, &p));
		ck_assert_uint_eq(p.first_seq, 11);
		ck_assert_uint_eq(p.last_seq, 20);
		history_cursor_seek(c, p.no);
		ck_assert_int_eq(history_cursor_next_in_block(c, &f), 0); /* not entered yet */
		ck_assert_int_eq(history_cursor_next(c, &f), 1);
		ck_assert_uint_eq(f.seq, 11);
		ck_assert_uint_eq(history_cursor_block(c), p.no);
		for (int i = 0; i < 9; i++)
			ck_assert_int_eq(history_cursor_next_in_block(c, &f), 1);
		ck_assert_int_eq(history_cursor_next_in_block(c, &f), 0);
		ck_assert_uint_eq(history_cursor_index(c), 10);
	}
	/* time range: blocks wholly outside are skipped */
	history_cursor_seek(c, 1);
	history_cursor_set_range(c, T0 + 21 * 1000000, 0);
	ck_assert_int_eq(history_cursor_next(c, &f), 1);
	ck_assert_uint_eq(f.seq, 21);
	history_cursor_free(c);
	history_close(h);
}
END_TEST

/* A child keeps events and syncs, then dies without closing (kill -9 as far as the files go). */
static void crash_after(uint64_t n, bool sync)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (!pid) {
		struct history *h = open_hist(1000, 0, 0);

		append_range(h, 1, n);
		if (sync)
			history_sync(h, T0);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
}

START_TEST(test_journal_recovers_what_was_synced)
{
	struct history *h;
	struct history_stats st;
	static uint64_t seqs[3000];

	crash_after(2500, true); /* two blocks written, 500 in the journal */
	h = open_hist(1000, 0, 0);
	history_get_stats(h, &st);
	ck_assert_uint_eq(st.recovered, 500);
	ck_assert_uint_eq(read_all(h, seqs, 3000), 2500);
	assert_run(seqs, 2500, 1);
	ck_assert_ptr_nonnull(strstr(logged, "recovered 500 events"));
	history_close(h);
	/* Recovered once: the next open finds them in a block, not in the journal again. */
	h = open_hist(1000, 0, 0);
	history_get_stats(h, &st);
	ck_assert_uint_eq(st.recovered, 0);
	ck_assert_uint_eq(read_all(h, seqs, 3000), 2500);
	history_close(h);
}
END_TEST

START_TEST(test_unsynced_events_are_lost_and_only_those)
{
	struct history *h;
	static uint64_t seqs[3000];

	crash_after(2500, false); /* the last 500 never reached the journal */
	h = open_hist(1000, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 3000), 2000);
	assert_run(seqs, 2000, 1);
	history_close(h);
}
END_TEST

START_TEST(test_torn_journal_tail_is_cut)
{
	char path[300];
	struct history *h;
	static uint64_t seqs[3000];
	int fd;

	crash_after(1500, true);
	snprintf(path, sizeof(path), "%s/journal", dir);
	/* Half a chunk more, as a crash in the middle of a sync leaves it. */
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x40\x00\x00\x00\x12\x34\x56\x78garbage", 15), 15);
	close(fd);
	h = open_hist(1000, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 3000), 1500);
	assert_run(seqs, 1500, 1);
	ck_assert_ptr_nonnull(strstr(logged, "journal: cut a torn tail of 15 bytes"));
	history_close(h);
}
END_TEST

START_TEST(test_torn_segment_tail_is_cut)
{
	struct history *h = open_hist(100, 0, 0);
	static uint64_t seqs[1000];
	long size;

	append_range(h, 1, 500);
	history_close(h); /* five blocks */
	size = file_size(nth_segment(0));
	ck_assert_int_gt(size, 0);
	/* The last block written in part. */
	ck_assert_int_eq(truncate(seg_name, size - 20), 0);
	h = open_hist(100, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 1000), 400);
	assert_run(seqs, 400, 1);
	ck_assert_ptr_nonnull(strstr(logged, "cut a torn tail"));
	history_close(h);
	ck_assert_int_lt(file_size(nth_segment(0)), size - 20);
	/* Appending goes on after the cut. */
	h = open_hist(100, 0, 0);
	append_range(h, 401, 450);
	ck_assert_uint_eq(read_all(h, seqs, 1000), 450);
	assert_run(seqs, 450, 1);
	history_close(h);
}
END_TEST

/* Flips one byte at off of the first segment. */
static void flip(long off)
{
	int fd = open(nth_segment(0), O_RDWR);
	unsigned char c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

START_TEST(test_damaged_payload_loses_its_block_only)
{
	struct history *h = open_hist(100, 0, 0);
	struct history_stats st;
	static uint64_t seqs[1000];
	long block;

	append_range(h, 1, 500);
	history_close(h);
	block = file_size(nth_segment(0)) / 5; /* about one block */
	flip(block + block / 2);	       /* inside the second block's payload */
	h = open_hist(100, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 1000), 400);
	assert_run(seqs, 100, 1);
	assert_run(seqs + 100, 300, 201);
	history_get_stats(h, &st);
	ck_assert_uint_eq(st.damaged_blocks, 1);
	ck_assert_uint_eq(st.events, 400);
	ck_assert_ptr_nonnull(
		strstr(logged, "is damaged (checksum mismatch): its 100 events from"));
	history_close(h);
}
END_TEST

START_TEST(test_damaged_header_is_skipped_and_told)
{
	struct history *h = open_hist(100, 0, 0);
	struct history_stats st;
	static uint64_t seqs[1000];
	long block;

	append_range(h, 1, 500);
	history_close(h);
	/* Find the third block's header: scan for the magic after the first two. */
	block = file_size(nth_segment(0)) / 5;
	{
		int fd = open(seg_name, O_RDONLY);
		unsigned char buf[65536];
		ssize_t n = pread(fd, buf, sizeof(buf), 0);
		int found = 0;

		close(fd);
		for (ssize_t i = 1; i + 4 <= n; i++)
			if (!memcmp(buf + i, "FSHB", 4) && ++found == 2) {
				block = i;
				break;
			}
		ck_assert_int_eq(found, 2);
	}
	flip(block + 30); /* its time range */
	h = open_hist(100, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 1000), 400);
	assert_run(seqs, 200, 1);
	assert_run(seqs + 200, 200, 301);
	history_get_stats(h, &st);
	ck_assert_uint_eq(st.damaged_blocks, 1);
	ck_assert_ptr_nonnull(strstr(logged, "damaged bytes at offset"));
	ck_assert_ptr_nonnull(strstr(logged, "the events between 2026-"));
	history_close(h);
}
END_TEST

START_TEST(test_retention_by_size_drops_the_oldest)
{
	/* 64 KiB segments (the smallest), 256 KiB in all. */
	struct history *h = open_hist(200, 256 << 10, 0);
	struct history_stats st;
	static uint64_t seqs[200000];
	size_t n;

	for (uint64_t i = 1; i <= 60000; i += 1000) {
		append_range(h, i, i + 999);
		history_sync(h, T0);
	}
	history_get_stats(h, &st);
	ck_assert_uint_le(st.bytes, 256 << 10);
	ck_assert_uint_gt(st.dropped, 0);
	ck_assert_uint_eq(st.events + st.dropped, 60000);
	n = read_all(h, seqs, 200000);
	ck_assert_uint_eq(n, st.events);
	assert_run(seqs, n, 60000 - n + 1); /* the newest kept, none missing */
	ck_assert_uint_eq(st.oldest_ns, event(60000 - n + 1).time_ns);
	history_close(h);
}
END_TEST

static int count_files(const char *suffix)
{
	char cmd[400];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '%s$'", dir, suffix);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* Finished segments get an index file that the next open reads instead of their headers; a
 * bad or stale one is ignored (the segment scanned, the index written again). */
START_TEST(test_finished_segments_are_indexed)
{
	struct history_opts o = {
		.dir = dir, .block_events = 200, .segment_bytes = 64 << 10, .foreground = true};
	struct errmsg e = {""};
	struct history *h;
	static uint64_t seqs[40000];
	int segs;

	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	append_range(h, 1, 30000);
	history_sync(h, T0);
	history_close(h);
	segs = count_files(".fsh");
	ck_assert_int_ge(segs, 3);
	ck_assert_int_eq(count_files(".idx"), segs - 1); /* all but the one being written */
	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	ck_assert_uint_eq(read_all(h, seqs, 40000), 30000);
	assert_run(seqs, 30000, 1);
	history_close(h);
	/* A damaged index: ignored, the segment scanned, the index written again. */
	{
		char path[400];
		FILE *f;

		snprintf(path, sizeof(path), "ls %s/*.idx | head -1", dir);
		f = popen(path, "r");
		ck_assert_ptr_nonnull(fgets(path, sizeof(path), f));
		pclose(f);
		path[strcspn(path, "\n")] = 0;
		ck_assert_int_eq(truncate(path, 40), 0);
	}
	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	ck_assert_uint_eq(read_all(h, seqs, 40000), 30000);
	assert_run(seqs, 30000, 1);
	history_close(h);
	ck_assert_int_eq(count_files(".idx"), segs - 1);
	ck_assert_ptr_null(strstr(logged, "damaged"));
}
END_TEST

START_TEST(test_retention_by_age)
{
	struct history *h = open_hist(100, 0, 80 * SEC);
	struct history_stats st;
	static uint64_t seqs[100000];
	uint64_t now = T0;
	size_t n;

	/* 100 s of events at 1 ms; segments cut every 10 s of event time. */
	for (uint64_t i = 1; i <= 100000; i += 1000) {
		append_range(h, i, i + 999);
		now = event(i + 999).time_ns;
		history_sync(h, now);
	}
	history_get_stats(h, &st);
	ck_assert_uint_gt(st.dropped, 0);
	ck_assert_uint_ge(st.oldest_ns + 80 * SEC + 10 * SEC, now); /* within a segment's span */
	n = read_all(h, seqs, 100000);
	ck_assert_uint_eq(n, st.events);
	assert_run(seqs, n, 100000 - n + 1);
	history_close(h);
}
END_TEST

START_TEST(test_failing_writes_stop_history_and_it_resumes)
{
	struct history *h = open_hist(100, 0, 0);
	struct history_stats st;
	struct rlimit old, lim;
	static uint64_t seqs[5000];
	size_t n;
	int err = 0;

	append_range(h, 1, 250);
	history_sync(h, T0);
	/* Files may not grow past their size now: EFBIG, as ENOSPC would be. */
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)file_size(nth_segment(0));
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (uint64_t i = 251; i <= 1000; i++) {
		struct flow f = event(i);

		err = history_append(h, &f) ?: err;
	}
	ck_assert_int_ne(err, 0);
	history_get_stats(h, &st);
	ck_assert(st.stopped);
	ck_assert_ptr_nonnull(strstr(st.state, "stopped: writing"));
	ck_assert_uint_gt(st.lost, 0);
	ck_assert_ptr_nonnull(strstr(logged, "not keeping flow events"));
	/* A retry while the disk is still full fails the same way: not told again. (Checked once
	 * the limit is lifted: Check's own record of passed assertions is a file too.) No file
	 * may grow at all now. */
	lim.rlim_cur = 0;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	usleep(1000);
	history_sync(h, T0);
	for (uint64_t i = 1001; i <= 1100; i++) {
		struct flow f = event(i);

		history_append(h, &f);
	}
	history_sync(h, T0);
	history_get_stats(h, &st);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert(st.stopped);
	/* Logged once, however many writes and retries fail. */
	ck_assert_ptr_null(strstr(strstr(logged, "not keeping") + 1, "not keeping"));
	ck_assert_ptr_null(strstr(logged, "writing again"));
	usleep(1000);
	history_sync(h, T0); /* the retry interval (1 ns here) has passed */
	/* Retrying, but nothing written yet: still stopped, and the recovery not told. */
	history_get_stats(h, &st);
	ck_assert(st.stopped);
	ck_assert_ptr_null(strstr(logged, "writing again"));
	append_range(h, 2001, 2300);
	history_sync(h, T0);
	n = read_all(h, seqs, 5000);
	history_get_stats(h, &st);
	ck_assert(!st.stopped);
	ck_assert_str_eq(st.state, "ok");
	/* What was written before, then what came after: the loss counted, nothing else. */
	history_get_stats(h, &st);
	ck_assert_uint_eq(n, st.events);
	ck_assert_uint_eq(n + st.lost, 1400);
	/* The recovery told once, with what was lost. */
	ck_assert_ptr_nonnull(strstr(logged, "history: writing again to"));
	ck_assert_ptr_null(strstr(strstr(logged, "writing again") + 1, "writing again"));
	ck_assert_uint_ge(n, 200 + 300);
	assert_run(seqs, 200, 1);
	assert_run(seqs + n - 300, 300, 2001);
	history_close(h);
	h = open_hist(100, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 5000), n);
	history_close(h);
}
END_TEST

START_TEST(test_bad_directory_is_refused)
{
	struct history_opts o = {.dir = "/proc/flowscope-no/x", .foreground = true};
	struct errmsg e = {""};
	struct history *h;

	ck_assert_int_lt(history_open(&h, &o, &e), 0);
	ck_assert_ptr_nonnull(strstr(e.text, "history directory /proc/flowscope-no/x"));
	o.dir = "";
	ck_assert_int_eq(history_open(&h, &o, &e), -EINVAL);
}
END_TEST

START_TEST(test_writer_thread_writes_in_the_background)
{
	struct history_opts o = {.dir = dir, .block_events = 1000};
	struct history_stats st;
	struct errmsg e = {""};
	struct history *h;
	static uint64_t seqs[20000];

	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	for (uint64_t i = 1; i <= 10000; i += 500) {
		append_range(h, i, i + 499);
		history_sync(h, T0);
	}
	ck_assert_uint_eq(read_all(h, seqs, 20000), 10000);
	assert_run(seqs, 10000, 1);
	history_get_stats(h, &st);
	ck_assert_uint_eq(st.lost, 0);
	history_close(h);
	h = open_hist(1000, 0, 0);
	ck_assert_uint_eq(read_all(h, seqs, 20000), 10000);
	history_close(h);
}
END_TEST

/* As flowd runs it (the writer thread) at a few events a second: the open block is sealed by
 * age, segments cut by time, and retention drops what is older than max_age. */
START_TEST(test_retention_at_low_rates_with_the_writer_thread)
{
	struct history_opts o = {.dir = dir, .max_age_ns = 800 * 1000000ULL};
	struct history_stats st;
	struct errmsg e = {""};
	struct history *h;
	static uint64_t seqs[100];
	uint64_t now = event(10010).time_ns;

	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	append_range(h, 1, 10); /* batch A, 10 s of event time before B */
	usleep(150 * 1000);	/* past the sealing age (max_age / 8) */
	history_sync(h, event(10).time_ns);
	append_range(h, 10001, 10010); /* batch B */
	usleep(150 * 1000);
	for (int i = 0; i < 200; i++) {
		history_sync(h, now);
		history_get_stats(h, &st);
		if (st.dropped)
			break;
		usleep(10 * 1000);
	}
	ck_assert_uint_eq(st.dropped, 10);
	ck_assert_uint_eq(st.events, 10);
	ck_assert_uint_eq(st.oldest_ns, event(10001).time_ns);
	ck_assert_uint_eq(read_all(h, seqs, 100), 10);
	assert_run(seqs, 10, 10001);
	history_close(h);
}
END_TEST

/* Blocks sealed faster than the disk takes them: past the bound they are lost, counted and
 * told, and what was kept is read back whole. */
START_TEST(test_a_slow_disk_loses_blocks_not_memory)
{
	struct history_opts o = {.dir = dir, .block_events = 10};
	struct history_stats st;
	struct errmsg e = {""};
	struct history *h;
	static uint64_t seqs[20000];
	size_t n;

	ck_assert_msg(!history_open(&h, &o, &e), "%s", e.text);
	append_range(h, 1, 20000); /* 2000 blocks at once */
	history_get_stats(h, &st);
	ck_assert_uint_gt(st.lost, 0);
	ck_assert_ptr_nonnull(strstr(logged, "the disk does not keep up"));
	history_close(h);
	h = open_hist(10, 0, 0);
	n = read_all(h, seqs, 20000);
	ck_assert_uint_eq(n + st.lost, 20000);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_lt(seqs[i - 1], seqs[i]);
	history_close(h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("history");
	TCase *t = tcase_create("store");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_every_event_back_in_order_across_blocks_and_reopen);
	tcase_add_test(t, test_cursor_follows_the_open_block_through_its_seal);
	tcase_add_test(t, test_journal_recovers_what_was_synced);
	tcase_add_test(t, test_unsynced_events_are_lost_and_only_those);
	tcase_add_test(t, test_torn_journal_tail_is_cut);
	tcase_add_test(t, test_torn_segment_tail_is_cut);
	tcase_add_test(t, test_damaged_payload_loses_its_block_only);
	tcase_add_test(t, test_damaged_header_is_skipped_and_told);
	tcase_add_test(t, test_retention_by_size_drops_the_oldest);
	tcase_add_test(t, test_retention_by_age);
	tcase_add_test(t, test_finished_segments_are_indexed);
	tcase_add_test(t, test_failing_writes_stop_history_and_it_resumes);
	tcase_add_test(t, test_bad_directory_is_refused);
	tcase_add_test(t, test_writer_thread_writes_in_the_background);
	tcase_add_test(t, test_a_slow_disk_loses_blocks_not_memory);
	tcase_add_test(t, test_retention_at_low_rates_with_the_writer_thread);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
