/* The embedded flow history: every flow event flowd publishes, kept on disk in a directory,
 * bounded by size and age, readable in publication order from any point.
 *
 * Layout (one directory): segment files of blocks, and a journal. A block is up to
 * block_events records (history/flow_rec.h) compressed together with zstd, headed by its number,
 * time range, first and last sequence number, its collector session and two CRCs (header,
 * payload); blocks are numbered 1, 2, ... across segments and restarts. The open block - the
 * records since the last sealed one - lives in memory and, every sync interval, its new records
 * are appended to the journal and made durable: a crash loses at most one interval. A sealed
 * block is compressed, written to the current segment and made durable; only then is the
 * journal started over. On open, the segments are scanned (headers only), a torn tail is cut,
 * a damaged stretch is skipped and reported with the time range around it, and the journal's
 * valid records become a block of their own.
 *
 * Writes run off the loop, in the store's own writer thread, one batch at a time (a thread of
 * its own rather than libuv's pool so that closing can wait for the last write to be durable
 * without running the loop); the loop only encodes, compresses, keeps the index and picks up
 * finished batches when it appends or syncs. A write that fails (a full disk) stops the history: it
 * says so in its stats and in one log line, counts every event it could not keep, and tries again
 * every retry_ns (HISTORY_RETRY_NS), telling nothing more until a write works (one line again);
 * the collector never waits for it.
 *
 * Retention drops whole segments, oldest first: once the total passes max_bytes, or once a
 * segment's newest event is older than max_age. Segments are cut at segment_bytes and at
 * max_age / 8 of time, and an open block is sealed once max_age / 8 (at most an hour) old, so
 * that retention stays close to the caps at any event rate. */
#ifndef FLOWSCOPE_HISTORY_HISTORY_H
#define FLOWSCOPE_HISTORY_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/flow.h"

#define HISTORY_BLOCK_EVENTS 8192
#define HISTORY_RETRY_NS (30ULL * 1000000000)
/* An open block is sealed once this old (or max_age / 8, if less), however few events it has. */
#define HISTORY_SEAL_NS (3600ULL * 1000000000)

struct history;

struct history_opts {
	const char *dir;	/* created when missing (mode 0700) */
	uint64_t max_bytes;	/* 0: no size bound */
	uint64_t max_age_ns;	/* 0: no age bound */
	uint32_t block_events;	/* records per block; 0: HISTORY_BLOCK_EVENTS */
	uint64_t segment_bytes; /* 0: max_bytes / 8, at most 64 MiB, at least 64 KiB */
	int zstd_level;		/* 0: 3 */
	uint64_t retry_ns;	/* a stopped history tries again after this; 0: HISTORY_RETRY_NS */
	/* Each write done before the call that asked for it returns, without a writer thread
	 * (tools, tests). */
	bool foreground;
	/* Called first in the writer thread (flowd: it drops the capabilities, which the writer
	 * does not need: capabilities are per thread). NULL: nothing. */
	void (*thread_start)(void *ctx);
	void *thread_ctx;
};

/* Opens (creating) the history in o->dir and recovers it. Returns 0 or a negative errno with e
 * set ("history directory /x: Permission denied"). What recovery found (a cut tail, damaged
 * blocks) is logged (base/errmsg.h logmsg) and counted in the stats. */
int history_open(struct history **out, const struct history_opts *o, struct errmsg *e);

/* Seals the open block, writes everything pending and waits for it, closes. NULL is ignored. */
void history_close(struct history *h);

/* Keeps one flow event (encoded at once; ev is not kept). Never blocks: a block that fills is
 * handed to the writer. Returns 0, or -ENOSPC/-EIO while stopped (the event is counted lost),
 * or -ENOMEM. */
int history_append(struct history *h, const struct flow *ev);

/* Every sync interval (flowd: --history-sync, default 1 s): makes what was appended since the
 * last call durable (journal), applies retention, retries a stopped history. now_ns is the
 * wall clock (for max_age). */
void history_sync(struct history *h, uint64_t now_ns);

struct history_stats {
	uint64_t events;	       /* events held (on disk and pending) */
	uint64_t bytes;		       /* bytes on disk (segments and journal) */
	uint64_t blocks;	       /* blocks held */
	uint64_t oldest_ns, newest_ns; /* time range held (0, 0: empty) */
	uint64_t appended;	       /* events kept since open */
	uint64_t dropped;	       /* events dropped by retention since open */
	uint64_t lost;		       /* events not kept since open: history stopped, damage */
	uint64_t damaged_blocks;       /* blocks found damaged (open or read) and skipped */
	uint64_t recovered;	       /* events recovered from the journal at open */
	uint64_t write_errors;
	bool stopped;	 /* writes failed: not keeping events now */
	char state[160]; /* "ok", or why it stopped ("disk full: ...") */
};

void history_get_stats(const struct history *h, struct history_stats *st);

/* ---- reading -------------------------------------------------------------------------------
 * A cursor walks the history forwards in publication order, block by block, including what is
 * not on disk yet (the open block): what it returns is every event appended, in order, except
 * what retention dropped or damage lost. */
struct history_cursor;

/* A cursor at the oldest block, or NULL with errno set. */
struct history_cursor *history_cursor_new(struct history *h);
void history_cursor_free(struct history_cursor *c);

/* Blocks whose whole time range is before since or after until (0: unbounded) are skipped. */
void history_cursor_set_range(struct history_cursor *c, uint64_t since_ns, uint64_t until_ns);

/* Moves to the first event of the first block numbered no or above. */
void history_cursor_seek(struct history_cursor *c, uint64_t no);

/* The next event: 1 with *f set (its strings valid until the next call), 0 when the history
 * holds nothing further now (later appends are read by later calls), or -ENOMEM. A block found
 * damaged on reading is skipped (counted and logged by the store). */
int history_cursor_next(struct history_cursor *c, struct flow *f);

/* Like next, but only within the current block: 0 at its end (the cursor stays there). */
int history_cursor_next_in_block(struct history_cursor *c, struct flow *f);

/* The block the cursor is in (0 before the first), and how many of its events it has passed. */
uint64_t history_cursor_block(const struct history_cursor *c);
uint32_t history_cursor_index(const struct history_cursor *c);

/* What one block holds, by number; the blocks are numbered in publication order. */
struct history_block {
	uint64_t no;
	uint32_t events;
	uint64_t min_ns, max_ns;
	uint64_t first_seq, last_seq;
	uint8_t session[8]; /* uuid[0..7] of its first event */
};

/* The newest block (the open one when it holds events) into *b; false when empty. */
bool history_last_block(const struct history *h, struct history_block *b);
/* The block held just before block no (by number) into *b; false when none. */
bool history_prev_block(const struct history *h, uint64_t no, struct history_block *b);

#endif /* FLOWSCOPE_HISTORY_HISTORY_H */
