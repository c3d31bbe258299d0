/* Opening and closing the history (see include/flowscope/history/history.h): the segments'
 * headers read back into the index, torn tails cut, damage skipped and told with its time
 * range, the journal's records turned into a block of their own. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "history_int.h"

static int mkdirs(const char *dir)
{
	char path[4096];
	size_t i, len = strlen(dir);

	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i])
			continue;
		path[i] = 0;
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment ids in dir, in order. */
static int list_segments(const char *dir, uint64_t **ids, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t cnt = 0, cap = 0;
	int err = 0;

	*ids = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long long id;
		char tail;

		if (sscanf(de->d_name, "seg-%20llu.fs%c", &id, &tail) != 2 || tail != 'h')
			continue;
		if (cnt == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*nn));

			if (!nn) {
				err = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[cnt] = strdup(de->d_name);
		if (!names[cnt]) {
			err = -ENOMEM;
			break;
		}
		cnt++;
	}
	closedir(d);
	if (!err && cnt) {
		qsort(names, cnt, sizeof(*names), by_name);
		*ids = malloc(cnt * sizeof(**ids));
		if (!*ids)
			err = -ENOMEM;
		for (size_t i = 0; !err && i < cnt; i++)
			(*ids)[i] = strtoull(names[i] + 4, NULL, 10);
		if (!err)
			*n = cnt;
	}
	for (size_t i = 0; i < cnt; i++)
		free(names[i]);
	free(names);
	return err;
}

struct scan_ctx {
	struct history *h;
	struct seg *s;
	const char *path;
	uint64_t prev_max; /* the newest time of the block before a damaged stretch */
	uint64_t last_no;
	uint64_t damage_from, damage_to; /* a stretch waiting to be told (its end time is
					  * the next good block's start) */
	bool pending_damage;
};

static void tell_damage(struct scan_ctx *x, uint64_t next_min)
{
	char a[CLOCK_UTC_LEN] = "the start", b[CLOCK_UTC_LEN] = "the segment's end";

	if (x->prev_max)
		clock_utc(x->prev_max, a);
	if (next_min)
		clock_utc(next_min, b);
	logmsg(LOG_LEVEL_WARN,
	       "history: %s: %" PRIu64 " damaged bytes at offset %" PRIu64
	       " skipped: the events between %s and %s there are lost",
	       x->path, x->damage_to - x->damage_from, x->damage_from, a, b);
	x->h->damaged_blocks++;
	x->pending_damage = false;
}

static int found_block(const struct scanned_block *sb, void *arg)
{
	struct scan_ctx *x = arg;
	struct blk b = {.h = sb->h, .seg = x->s->id, .off = sb->off};
	struct history *h = x->h;

	if (x->pending_damage)
		tell_damage(x, sb->h.b.min_ns);
	if (sb->h.b.no <= x->last_no)
		return 0; /* a block told twice (a copy): the first one counts */
	if (h->n_blks == h->cap_blks) {
		size_t cap = h->cap_blks ? h->cap_blks * 2 : 1024;
		struct blk *n = realloc(h->blks, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->blks = n;
		h->cap_blks = cap;
	}
	h->blks[h->n_blks++] = b;
	x->last_no = sb->h.b.no;
	x->prev_max = sb->h.b.max_ns;
	x->s->events += sb->h.b.events;
	h->held += sb->h.b.events;
	if (!x->s->min_ns || sb->h.b.min_ns < x->s->min_ns)
		x->s->min_ns = sb->h.b.min_ns;
	if (sb->h.b.max_ns > x->s->max_ns)
		x->s->max_ns = sb->h.b.max_ns;
	return 0;
}

static void found_damage(uint64_t from, uint64_t to, void *arg)
{
	struct scan_ctx *x = arg;

	x->damage_from = from;
	x->damage_to = to;
	x->pending_damage = true;
}

/* A finished segment's blocks from its index file, when it has a valid one. */
static bool indexed(struct history *h, struct scan_ctx *x, uint64_t size)
{
	char path[4200];
	size_t before = h->n_blks;
	uint64_t held = h->held;

	seg_index_path(h, x->s->id, path, sizeof(path));
	if (!seg_index_read(path, size, found_block, x))
		return true;
	h->n_blks = before; /* out of memory half-way: scan instead */
	h->held = held;
	x->s->events = x->s->min_ns = x->s->max_ns = 0;
	return false;
}

/* A finished segment that had no valid index gets one (an index is only a shortcut: failing
 * to write it costs the next open a scan). */
static void write_index(struct history *h, uint64_t id)
{
	struct buf idx = BUF_INIT;
	char path[4200];

	seg_index_path(h, id, path, sizeof(path));
	if (!seg_index_build(h, id, &idx) && seg_index_write(path, &idx))
		logmsg(LOG_LEVEL_WARN, "history: writing %s: %s", path, strerror(errno));
	buf_free(&idx);
}

/* One segment into the index; the last one's torn tail is cut (an older one's damaged end
 * too: nothing valid follows it). */
static int open_segment(struct history *h, uint64_t id, bool last, uint64_t *last_no,
			struct errmsg *e)
{
	struct scan_ctx x = {.h = h, .last_no = *last_no};
	struct scan_result res;
	char path[4200];
	struct stat st;
	struct seg *s;
	int fd, err;

	if (h->n_segs == h->cap_segs) {
		size_t cap = h->cap_segs ? h->cap_segs * 2 : 16;
		struct seg *n = realloc(h->segs, cap * sizeof(*n));

		if (!n)
			return errmsg_set(e, -ENOMEM, "out of memory");
		h->segs = n;
		h->cap_segs = cap;
	}
	snprintf(path, sizeof(path), "%s/seg-%020" PRIu64 ".fsh", h->dir, id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return errmsg_set(e, err, "history: opening %s: %s", path, strerror(-err));
	}
	s = &h->segs[h->n_segs];
	*s = (struct seg){.id = id, .fd = fd};
	x.s = s;
	x.path = path;
	if (!last && indexed(h, &x, (uint64_t)st.st_size)) {
		s->bytes = (uint64_t)st.st_size;
		h->n_segs++;
		*last_no = x.last_no;
		return 0;
	}
	err = block_scan(fd, (uint64_t)st.st_size, true, found_block, found_damage, &x, &res);
	if (err) {
		close(fd);
		return errmsg_set(e, err, "history: reading %s: %s", path, strerror(-err));
	}
	if (x.pending_damage)
		tell_damage(&x, 0);
	if (res.good_end < (uint64_t)st.st_size) {
		logmsg(LOG_LEVEL_WARN,
		       "history: %s: cut a torn tail of %" PRIu64 " bytes at offset %" PRIu64
		       " (a write the last run did not finish)",
		       path, (uint64_t)st.st_size - res.good_end, res.good_end);
		if (ftruncate(fd, (off_t)res.good_end))
			logmsg(LOG_LEVEL_WARN, "history: cutting %s: %s", path, strerror(errno));
	}
	s->bytes = res.good_end;
	h->n_segs++;
	*last_no = x.last_no;
	if (!last)
		write_index(h, id);
	return 0;
}

/* The journal's valid records become the block it was for, unless that block is on disk
 * already (a crash between writing it and starting the journal over). */
static int recover_journal(struct history *h, uint64_t last_no)
{
	struct flow_rec_state dec;
	struct stat st;
	uint8_t *data = NULL;
	uint64_t no, off = JOURNAL_HDR_LEN;
	int err = 0;

	if (fstat(h->jfd, &st) || st.st_size < JOURNAL_HDR_LEN)
		return 0;
	data = malloc((size_t)st.st_size);
	if (!data)
		return -ENOMEM;
	if (pread(h->jfd, data, (size_t)st.st_size, 0) != st.st_size ||
	    !journal_hdr_unpack(data, &no) || no <= last_no)
		goto out;
	open_reset(h, no);
	flow_rec_reset(&dec);
	while (off + CHUNK_HDR_LEN <= (uint64_t)st.st_size) {
		uint32_t len = le_get32(data + off);
		uint8_t want[CHUNK_HDR_LEN];
		const uint8_t *p, *end;

		if (off + CHUNK_HDR_LEN + len > (uint64_t)st.st_size)
			break;
		chunk_hdr_pack(data + off + CHUNK_HDR_LEN, len, want);
		if (memcmp(want, data + off, CHUNK_HDR_LEN))
			break;
		p = data + off + CHUNK_HDR_LEN;
		end = p + len;
		while (p < end) {
			struct flow f;

			if (flow_rec_decode(&dec, &p, end, &f))
				break;
			/* Encoded again as the live run did: the same bytes, the block's counts. */
			err = history_append(h, &f);
			if (err)
				goto out;
			h->recovered++;
		}
		off += CHUNK_HDR_LEN + len;
	}
	if (off < (uint64_t)st.st_size)
		logmsg(LOG_LEVEL_WARN,
		       "history: journal: cut a torn tail of %" PRIu64
		       " bytes (events of the last sync interval before a crash)",
		       (uint64_t)st.st_size - off);
	if (h->recovered)
		logmsg(LOG_LEVEL_INFO, "history: recovered %" PRIu64 " events from the journal",
		       h->recovered);
out:
	free(data);
	return err;
}

/* One writer per directory: a second flowd on it would interleave its blocks with ours. */
static int lock_dir(struct history *h, struct errmsg *e)
{
	char path[4200], pid[32] = "";
	ssize_t n;

	snprintf(path, sizeof(path), "%s/lock", h->dir);
	h->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lockfd < 0)
		return errmsg_set(e, -errno, "history: opening %s: %s", path, strerror(errno));
	if (flock(h->lockfd, LOCK_EX | LOCK_NB)) {
		int err = -errno;

		n = pread(h->lockfd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		if (err == -EWOULDBLOCK)
			return errmsg_set(e, -EBUSY,
					  "history directory %s is in use by another flowd%s%s%s",
					  h->dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
		return errmsg_set(e, err, "history: locking %s: %s", path, strerror(-err));
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(h->lockfd, 0) || pwrite(h->lockfd, pid, (size_t)n, 0) != n)
		(void)0; /* the pid is only for the message above */
	return 0;
}

static int open_files(struct history *h, struct errmsg *e)
{
	uint64_t *ids, last_no = 0;
	size_t n;
	char path[4200];
	int err;

	err = mkdirs(h->dir);
	if (err)
		return errmsg_set(e, err, "history directory %s: %s", h->dir, strerror(-err));
	err = lock_dir(h, e);
	if (err)
		return err;
	err = list_segments(h->dir, &ids, &n);
	if (err)
		return errmsg_set(e, err, "history directory %s: %s", h->dir, strerror(-err));
	for (size_t i = 0; i < n && !err; i++)
		err = open_segment(h, ids[i], i + 1 == n, &last_no, e);
	free(ids);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/journal", h->dir);
	h->jfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->jfd < 0)
		return errmsg_set(e, -errno, "history: opening %s: %s", path, strerror(errno));
	h->next_no = last_no + 1;
	err = recover_journal(h, last_no);
	if (err)
		return errmsg_set(e, err, "history: reading %s: %s", path, strerror(-err));
	h->appended -= h->recovered;
	if (h->open.events && h->open.no >= h->next_no)
		h->next_no = h->open.no + 1;
	/* The recovered records are the last run's: a block of their own, written now. */
	err = history_seal(h);
	if (!err && !h->open.events)
		open_reset(h, h->next_no++);
	if (!err)
		history_drain(h);
	if (!err && h->stopped)
		err = -EIO;
	return err ? errmsg_set(e, err, "history: %s", h->state) : 0;
}

int history_open(struct history **out, const struct history_opts *o, struct errmsg *e)
{
	struct history *h;
	int err;

	*out = NULL;
	if (!o->dir || !*o->dir || strlen(o->dir) >= sizeof(h->dir))
		return errmsg_set(e, -EINVAL, "history directory: give a path");
	h = calloc(1, sizeof(*h));
	if (!h)
		return errmsg_set(e, -ENOMEM, "out of memory");
	snprintf(h->dir, sizeof(h->dir), "%s", o->dir);
	h->jfd = -1;
	h->lockfd = -1;
	h->max_bytes = o->max_bytes;
	h->max_age_ns = o->max_age_ns;
	h->block_events = o->block_events ? o->block_events : HISTORY_BLOCK_EVENTS;
	h->segment_bytes = o->segment_bytes;
	if (!h->segment_bytes) {
		h->segment_bytes = o->max_bytes ? o->max_bytes / 8 : 64ULL << 20;
		if (h->segment_bytes > 64ULL << 20)
			h->segment_bytes = 64ULL << 20;
		if (h->segment_bytes < 64ULL << 10)
			h->segment_bytes = 64ULL << 10;
	}
	h->zstd_level = o->zstd_level ? o->zstd_level : 3;
	h->retry_ns = o->retry_ns ? o->retry_ns : HISTORY_RETRY_NS;
	h->seal_ns = o->max_age_ns && o->max_age_ns / 8 < HISTORY_SEAL_NS ? o->max_age_ns / 8
									  : HISTORY_SEAL_NS;
	h->foreground = true; /* recovery writes before the writer runs */
	snprintf(h->state, sizeof(h->state), "ok");
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->cctx = ZSTD_createCCtx();
	if (!h->cctx) {
		history_close(h);
		return errmsg_set(e, -ENOMEM, "out of memory");
	}
	err = open_files(h, e);
	if (err) {
		history_close(h);
		return err;
	}
	h->foreground = o->foreground;
	h->thread_start = o->thread_start;
	h->thread_ctx = o->thread_ctx;
	if (!h->foreground) {
		err = -pthread_create(&h->thread, NULL, history_writer_main, h);
		if (err) {
			history_close(h);
			return errmsg_set(e, err, "history: starting its writer: %s",
					  strerror(-err));
		}
		h->have_thread = true;
	}
	*out = h;
	return 0;
}

void history_close(struct history *h)
{
	if (!h)
		return;
	if (h->cctx && !h->stopped && h->jfd >= 0) {
		history_seal(h);
		history_drain(h);
	}
	if (h->have_thread) {
		pthread_mutex_lock(&h->mu);
		h->quit = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	for (size_t i = 0; i < h->n_segs; i++)
		close(h->segs[i].fd);
	for (size_t i = 0; i < h->n_blks; i++)
		free(h->blks[i].raw);
	if (h->jfd >= 0)
		close(h->jfd);
	if (h->lockfd >= 0)
		close(h->lockfd);
	ZSTD_freeCCtx(h->cctx);
	buf_free(&h->open.raw);
	buf_free(&h->job.chunk);
	buf_free(&h->job.comp);
	buf_free(&h->job.idx);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->blks);
	free(h->segs);
	free(h);
}
