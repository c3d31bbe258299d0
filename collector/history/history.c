/* The embedded flow history (see include/flowscope/history/history.h): the index of blocks and
 * segments, the open block, the writer thread and its batches, recovery and retention. The
 * cursor is in history_read.c. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "flowscope/base/clock.h"
#include "history_int.h"

#define SEGMENT_MAX (64ULL << 20)
#define SEGMENT_MIN (64ULL << 10)

/* ---- the index ---------------------------------------------------------------------------- */

static int index_push(struct history *h, const struct blk *b)
{
	if (h->n_blks == h->cap_blks) {
		size_t cap = h->cap_blks ? h->cap_blks * 2 : 256;
		struct blk *n = realloc(h->blks, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->blks = n;
		h->cap_blks = cap;
	}
	h->blks[h->n_blks++] = *b;
	return 0;
}

size_t history_lower(const struct history *h, uint64_t no)
{
	size_t lo = 0, hi = h->n_blks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->blks[mid].h.b.no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct seg *history_seg(struct history *h, uint64_t id)
{
	for (size_t i = 0; i < h->n_segs; i++)
		if (h->segs[i].id == id)
			return &h->segs[i];
	return NULL;
}

static void seg_path(const struct history *h, uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/seg-%020" PRIu64 ".fsh", h->dir, id);
}

/* ---- writing ------------------------------------------------------------------------------ */

static int write_at(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
			pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* The segment the next block (len bytes, from min_ns to max_ns) goes to: the current one, or a
 * new one (created here) once the current one has its size or its time span. */
static int seg_for(const struct history *h, struct job *j, const struct history_block *b,
		   uint64_t len)
{
	struct job_seg *s = &j->seg;
	char path[4200];
	int fd;

	if (s->fd >= 0 && (!s->bytes || s->bytes + len <= h->segment_bytes) &&
	    !(s->bytes && h->max_age_ns && b->max_ns > s->min_ns + h->max_age_ns / 8))
		return 0;
	snprintf(path, sizeof(path), "%s/seg-%020" PRIu64 ".fsh", h->dir, b->no);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	*s = (struct job_seg){.id = b->no, .fd = fd, .min_ns = b->min_ns, .created = true};
	j->made[j->n_made++] = *s;
	return 0;
}

/* One block compressed and written at the end of its segment, durable. */
static int write_block(const struct history *h, struct job *j, struct job_block *w)
{
	size_t bound = ZSTD_compressBound(w->h.rlen), clen;
	uint8_t hdr[BLOCK_HDR_LEN];
	int err;

	buf_reset(&j->comp);
	if (buf_reserve(&j->comp, bound))
		return -ENOMEM;
	clen = ZSTD_compressCCtx(h->cctx, j->comp.data, bound, w->raw, w->h.rlen, h->zstd_level);
	if (ZSTD_isError(clen))
		return -EIO;
	w->h.clen = (uint32_t)clen;
	w->h.pcrc = block_crc(j->comp.data, clen);
	err = seg_for(h, j, &w->h.b, BLOCK_HDR_LEN + clen);
	if (err)
		return err;
	w->seg = j->seg.id;
	w->off = j->seg.bytes;
	block_hdr_pack(&w->h, hdr);
	err = write_at(j->seg.fd, hdr, BLOCK_HDR_LEN, w->off)
		      ?: write_at(j->seg.fd, j->comp.data, clen, w->off + BLOCK_HDR_LEN);
	if (err) {
		if (ftruncate(j->seg.fd, (off_t)w->off))
			(void)0; /* the scan at the next open cuts it */
		return err;
	}
	j->seg.bytes += BLOCK_HDR_LEN + clen;
	if (w->h.b.min_ns < j->seg.min_ns)
		j->seg.min_ns = w->h.b.min_ns;
	return 0;
}

static int sync_segments(struct job *j)
{
	if (fdatasync(j->seg.fd))
		goto fail;
	for (size_t i = 0; i < j->n_made; i++)
		if (j->made[i].fd != j->seg.fd && fdatasync(j->made[i].fd))
			goto fail;
	return 0;
fail:
	j->failed_at = 0; /* written but not known to be durable: none counts as kept */
	j->what = "syncing a segment";
	return -errno;
}

/* The batch, in the writer thread (or at once, foreground): blocks compressed and written to
 * their segments, then the journal, each made durable; the first failure ends the batch. */
static void run_job(const struct history *h, struct job *j)
{
	size_t i;

	j->err = 0;
	j->n_made = 0;
	j->failed_at = j->n; /* the journal failed, if anything: every block is on disk */
	for (i = 0; i < j->n && !j->err; i++) {
		j->err = write_block(h, j, &j->blocks[i]);
		if (j->err) {
			j->failed_at = i;
			j->what = "writing a block";
		}
	}
	/* One sync per segment written, for the whole batch (before the journal starts over). */
	if (j->n && !j->err)
		j->err = sync_segments(j);
	if (!j->err && j->idx.len && seg_index_write(j->idx_path, &j->idx))
		(void)0; /* only a shortcut: the next open scans that segment */
	if (j->err || !j->journal)
		return;
	if (j->journal_reset && ftruncate(j->jfd, 0))
		j->err = -errno;
	if (!j->err && j->journal_reset)
		j->err = write_at(j->jfd, j->jhdr, JOURNAL_HDR_LEN, 0);
	if (!j->err && j->chunk.len)
		j->err = write_at(j->jfd, j->chunk.data, j->chunk.len, j->joff);
	if (!j->err && fdatasync(j->jfd))
		j->err = -errno;
	if (j->err)
		j->what = "writing the journal";
}

void *history_writer_main(void *arg)
{
	struct history *h = arg;

	if (h->thread_start)
		h->thread_start(h->thread_ctx);
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->job_queued && !h->quit)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->job_queued) {
			pthread_mutex_unlock(&h->mu);
			run_job(h, &h->job);
			pthread_mutex_lock(&h->mu);
			h->job_queued = false;
			h->job_done = true;
			pthread_cond_broadcast(&h->cv);
			continue;
		}
		break;
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static void stop_history(struct history *h, int err, const char *what)
{
	size_t i;

	h->write_errors++;
	if (!h->stopped) {
		snprintf(h->state, sizeof(h->state), "stopped: %s: %s%s", what, strerror(-err),
			 err == -ENOSPC ? " (disk full)" : "");
		if (!h->stop_logged)
			logmsg(LOG_LEVEL_WARN,
			       "history: %s in %s; not keeping flow events, trying again every %llu s",
			       h->state, h->dir, (unsigned long long)(h->retry_ns / 1000000000));
		h->stop_logged = true;
	}
	h->stopped = true;
	h->retry_at_ns = clock_mono_ns() + h->retry_ns;
	/* What was not written is gone: the sealed blocks still waiting and the open block. */
	for (i = 0; i < h->n_blks;) {
		struct blk *b = &h->blks[i];

		if (b->raw && !b->writing) {
			h->held -= b->h.b.events;
			h->lost += b->h.b.events;
			free(b->raw);
			h->n_unwritten--;
			memmove(b, b + 1, (h->n_blks - i - 1) * sizeof(*b));
			h->n_blks--;
			continue;
		}
		i++;
	}
	h->lost += h->open.events;
	open_reset(h, h->next_no++);
}

/* A segment the writer created joins the index's list (the newest last). */
static int seg_add(struct history *h, const struct job_seg *js)
{
	if (h->n_segs == h->cap_segs) {
		size_t cap = h->cap_segs ? h->cap_segs * 2 : 16;
		struct seg *n = realloc(h->segs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->segs = n;
		h->cap_segs = cap;
	}
	h->segs[h->n_segs++] = (struct seg){
		.id = js->id, .fd = js->fd, .min_ns = js->min_ns, .max_ns = js->min_ns};
	return 0;
}

/* A finished batch: its blocks are on disk now (their memory freed), the journal is at its
 * new length; or the history stops. */
static void complete_job(struct history *h)
{
	struct job *j = &h->job;
	size_t i;

	if (j->n_made && h->n_segs) {
		/* The segment written before is finished: its index goes with the next batch. */
		h->idx_pending = true;
		h->idx_seg = h->segs[h->n_segs - 1].id;
	}
	for (i = 0; i < j->n_made; i++)
		if (seg_add(h, &j->made[i]))
			close(j->made[i].fd); /* out of memory: the next open finds it */
	for (i = 0; i < j->n; i++) {
		struct job_block *w = &j->blocks[i];
		struct blk *b = &h->blks[history_lower(h, w->h.b.no)];
		struct seg *s;

		b->writing = false;
		if (i >= j->failed_at)
			continue;
		b->h = w->h;
		b->seg = w->seg;
		b->off = w->off;
		free(b->raw);
		b->raw = NULL;
		h->n_unwritten--;
		s = history_seg(h, w->seg);
		if (!s)
			continue;
		s->bytes = w->off + BLOCK_HDR_LEN + w->h.clen;
		s->events += w->h.b.events;
		if (w->h.b.max_ns > s->max_ns)
			s->max_ns = w->h.b.max_ns;
		if (w->h.b.min_ns < s->min_ns)
			s->min_ns = w->h.b.min_ns;
	}
	if (j->journal && !j->err) {
		h->jblock = j->jblock;
		h->jsize = j->joff + j->chunk.len;
		h->jdurable = j->jdurable;
	}
	h->in_flight = false;
	if (j->err) {
		stop_history(h, j->err, j->what);
	} else if (h->stop_logged && j->n) {
		/* The first block written since the stop was told (a journal alone may fit where
		 * a block does not: the disk is not known to take events again): told once too,
		 * and only now is the history ok again. */
		snprintf(h->state, sizeof(h->state), "ok");
		logmsg(LOG_LEVEL_INFO,
		       "history: writing again to %s (%llu flow events lost while stopped, in all)",
		       h->dir, (unsigned long long)h->lost);
		h->stop_logged = false;
	}
}

/* Picks up a batch the writer finished; wait: until it has. */
static void reap(struct history *h, bool wait)
{
	bool done;

	if (!h->in_flight)
		return;
	if (h->foreground) {
		complete_job(h);
		return;
	}
	pthread_mutex_lock(&h->mu);
	while (wait && !h->job_done)
		pthread_cond_wait(&h->cv, &h->mu);
	done = h->job_done;
	h->job_done = false;
	pthread_mutex_unlock(&h->mu);
	if (done)
		complete_job(h);
}

/* Hands the writer every sealed block not yet written and, with journal, the open block's
 * records not yet in the journal. Nothing while a batch runs: the next sync or seal sends it. */
static void submit(struct history *h, bool journal)
{
	struct job *j = &h->job;
	size_t i;

	reap(h, false);
	if (h->in_flight || h->stopped)
		return;
	j->n = 0;
	buf_reset(&j->idx);
	if (h->idx_pending && !seg_index_build(h, h->idx_seg, &j->idx)) {
		seg_index_path(h, h->idx_seg, j->idx_path, sizeof(j->idx_path));
		h->idx_pending = false;
	}
	for (i = 0; i < h->n_blks; i++) {
		struct blk *b = &h->blks[i];

		if (!b->raw || b->writing || j->n == JOB_MAX_BLOCKS)
			continue;
		b->writing = true;
		j->blocks[j->n++] = (struct job_block){.h = b->h, .raw = b->raw};
	}
	if (h->n_segs) {
		const struct seg *s = &h->segs[h->n_segs - 1];

		j->seg = (struct job_seg){
			.id = s->id, .fd = s->fd, .bytes = s->bytes, .min_ns = s->min_ns};
	} else {
		j->seg = (struct job_seg){.fd = -1};
	}
	/* The journal only when it is behind: a sync with nothing new writes nothing. */
	j->journal =
		(journal || j->n) && (h->jblock != h->open.no || h->open.raw.len > h->jdurable);
	if (j->journal) {
		size_t from = h->jblock == h->open.no ? h->jdurable : 0;

		j->jfd = h->jfd;
		j->jblock = h->open.no;
		j->journal_reset = h->jblock != h->open.no;
		j->joff = j->journal_reset ? JOURNAL_HDR_LEN : h->jsize;
		journal_hdr_pack(h->open.no, j->jhdr);
		buf_reset(&j->chunk);
		if (h->open.raw.len > from) {
			uint8_t ch[CHUNK_HDR_LEN];
			uint32_t len = (uint32_t)(h->open.raw.len - from);

			chunk_hdr_pack(h->open.raw.data + from, len, ch);
			if (buf_append(&j->chunk, ch, sizeof(ch)) ||
			    buf_append(&j->chunk, h->open.raw.data + from, len)) {
				j->journal = j->n; /* out of memory: the next sync tries again */
				buf_reset(&j->chunk);
			}
		}
		j->jdurable = h->open.raw.len;
	}
	if (!j->n && !j->journal && !j->idx.len)
		return;
	h->in_flight = true;
	if (h->foreground) {
		run_job(h, j);
		complete_job(h);
		return;
	}
	pthread_mutex_lock(&h->mu);
	h->job_queued = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* ---- the open block ------------------------------------------------------------------------ */

void open_reset(struct history *h, uint64_t no)
{
	buf_reset(&h->open.raw);
	h->open.no = no;
	h->open.events = 0;
	flow_rec_reset(&h->open.st);
}

/* The open block becomes a sealed one: indexed (readable from memory until written) and
 * handed to the writer, which compresses it and finds its place: the loop only moves a
 * buffer. */
int history_seal(struct history *h)
{
	struct blk b = {0};
	int err;

	if (!h->open.events)
		return 0;
	if (h->n_unwritten >= HISTORY_MAX_UNWRITTEN) {
		/* The disk does not keep up: this block is lost, counted, and the collector goes
		 * on; memory stays bounded. */
		h->lost += h->open.events;
		logmsg_limited(&h->slow_log, LOG_LEVEL_WARN,
			       "history: the disk does not keep up with the flow events (%u blocks "
			       "waiting to be written): %u events not kept",
			       h->n_unwritten, h->open.events);
		open_reset(h, h->next_no++);
		submit(h, true);
		return -ENOBUFS;
	}
	b.h.b = h->open.b;
	b.h.b.no = h->open.no;
	b.h.b.events = h->open.events;
	b.h.rlen = (uint32_t)h->open.raw.len;
	b.raw = (uint8_t *)h->open.raw.data;
	err = index_push(h, &b);
	if (err)
		return err; /* the block stays open: the next append tries again */
	h->open.raw = (struct buf)BUF_INIT;
	h->n_unwritten++;
	h->held += b.h.b.events;
	open_reset(h, h->next_no++);
	submit(h, true);
	return 0;
}

int history_append(struct history *h, const struct flow *ev)
{
	struct history_block *b = &h->open.b;
	int err;

	if (h->stopped) {
		h->lost++;
		return -ENOSPC;
	}
	err = flow_rec_encode(&h->open.st, &h->open.raw, ev);
	if (err)
		return err;
	if (!h->open.events++) {
		h->open.opened_ns = clock_mono_ns();
		memcpy(b->session, ev->uuid, sizeof(b->session));
		b->first_seq = ev->seq;
		b->min_ns = b->max_ns = ev->time_ns;
	}
	b->last_seq = ev->seq;
	if (ev->time_ns < b->min_ns)
		b->min_ns = ev->time_ns;
	if (ev->time_ns > b->max_ns)
		b->max_ns = ev->time_ns;
	h->appended++;
	if (h->open.events >= h->block_events)
		history_seal(h);
	return 0;
}

void history_drain(struct history *h)
{
	for (;;) {
		bool pending = false;

		reap(h, true);
		for (size_t i = 0; i < h->n_blks && !pending; i++)
			pending = h->blks[i].raw && !h->stopped;
		if (!pending && h->jdurable == h->open.raw.len && h->jblock == h->open.no)
			return;
		if (h->stopped)
			return;
		submit(h, true);
		if (!h->in_flight)
			return; /* nothing could be sent (out of memory) */
	}
}

/* ---- retention ------------------------------------------------------------------------------ */

static uint64_t disk_bytes(const struct history *h)
{
	uint64_t n = h->jsize;

	for (size_t i = 0; i < h->n_segs; i++)
		n += h->segs[i].bytes;
	return n;
}

/* Drops the oldest segment (never the one being written): its blocks leave the index. */
static void drop_oldest(struct history *h)
{
	struct seg *s = &h->segs[0];
	char path[4200];
	size_t i = 0;

	while (i < h->n_blks && h->blks[i].seg == s->id)
		i++;
	for (size_t k = 0; k < i; k++)
		if (!h->blks[k].bad)
			h->held -= h->blks[k].h.b.events;
	memmove(h->blks, h->blks + i, (h->n_blks - i) * sizeof(*h->blks));
	h->n_blks -= i;
	h->dropped += s->events;
	seg_path(h, s->id, path, sizeof(path));
	close(s->fd);
	if (unlink(path) && errno != ENOENT)
		logmsg(LOG_LEVEL_WARN, "history: removing %s: %s", path, strerror(errno));
	seg_index_path(h, s->id, path, sizeof(path));
	unlink(path);
	if (h->idx_pending && h->idx_seg == s->id)
		h->idx_pending = false;
	memmove(h->segs, h->segs + 1, (h->n_segs - 1) * sizeof(*h->segs));
	h->n_segs--;
}

/* Oldest segments first, while the history is over its size or they are all older than its
 * age. A batch in flight writes only to the newest segment (or ones it makes), so the others
 * can go at any time; the newest only when nothing is being written and all of it is too old
 * (its events sealed: the open block is younger). */
static void retain(struct history *h, uint64_t now_ns)
{
	while (h->n_segs) {
		const struct seg *s = &h->segs[0];
		bool too_old = h->max_age_ns && s->max_ns + h->max_age_ns < now_ns;
		bool last = h->n_segs == 1;

		if (last && (h->in_flight || !too_old))
			break;
		if (!too_old && !(h->max_bytes && disk_bytes(h) > h->max_bytes))
			break;
		drop_oldest(h);
	}
}

void history_sync(struct history *h, uint64_t now_ns)
{
	reap(h, false);
	if (h->stopped && clock_mono_ns() >= h->retry_at_ns) {
		h->stopped = false;
		h->jblock = 0; /* start the journal over; the state says ok once a write works */
	}
	/* An open block older than a segment's time span is sealed: at low rates blocks would
	 * otherwise wait for their 8192 events beyond the age retention keeps. */
	if (!h->stopped && h->open.events && h->seal_ns &&
	    clock_mono_ns() - h->open.opened_ns >= h->seal_ns)
		history_seal(h);
	if (!h->stopped)
		submit(h, true);
	retain(h, now_ns);
}

void history_get_stats(const struct history *h, struct history_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < h->n_blks; i++) {
		const struct history_block *b = &h->blks[i].h.b;

		if (h->blks[i].bad)
			continue;
		if (!st->oldest_ns || b->min_ns < st->oldest_ns)
			st->oldest_ns = b->min_ns;
		if (b->max_ns > st->newest_ns)
			st->newest_ns = b->max_ns;
	}
	if (h->open.events) {
		if (!st->oldest_ns || h->open.b.min_ns < st->oldest_ns)
			st->oldest_ns = h->open.b.min_ns;
		if (h->open.b.max_ns > st->newest_ns)
			st->newest_ns = h->open.b.max_ns;
	}
	st->events = h->held + h->open.events;
	st->bytes = disk_bytes(h);
	st->blocks = h->n_blks + (h->open.events ? 1 : 0);
	st->appended = h->appended;
	st->dropped = h->dropped;
	st->lost = h->lost;
	st->damaged_blocks = h->damaged_blocks;
	st->recovered = h->recovered;
	st->write_errors = h->write_errors;
	st->stopped = h->stopped || h->stop_logged; /* retrying: not written again yet */
	snprintf(st->state, sizeof(st->state), "%s", h->state);
}

bool history_last_block(const struct history *h, struct history_block *b)
{
	if (h->open.events) {
		*b = h->open.b;
		b->no = h->open.no;
		b->events = h->open.events;
		return true;
	}
	if (!h->n_blks)
		return false;
	*b = h->blks[h->n_blks - 1].h.b;
	return true;
}

bool history_prev_block(const struct history *h, uint64_t no, struct history_block *b)
{
	size_t i = history_lower(h, no);

	if (!i)
		return false;
	*b = h->blks[i - 1].h.b;
	return true;
}
