/* The history store's state, shared by its files (collector/history) and nobody else. */
#ifndef FLOWSCOPE_HISTORY_INT_H
#define FLOWSCOPE_HISTORY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include "block.h"
#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/history/flow_rec.h"
#include "flowscope/history/history.h"

#define JOB_MAX_BLOCKS 64
/* Sealed blocks waiting for the writer at most (about 36 MB of records at 8192 events). */
#define HISTORY_MAX_UNWRITTEN 64

/* A sealed block in the index: on disk at (seg, off), and until written also in memory. */
struct blk {
	struct block_hdr h;
	uint64_t seg; /* the id of its segment (the number of its first block) */
	uint64_t off; /* of its header in the segment */
	uint8_t *raw; /* its records while not yet written (compressed by the writer) */
	bool writing; /* in the batch the writer has now */
	bool bad;     /* found damaged on reading: skipped */
};

struct seg {
	uint64_t id;
	int fd;
	uint64_t bytes; /* where the next block goes */
	uint64_t events;
	uint64_t min_ns, max_ns;
};

/* A block for the writer: its header (clen, pcrc filled there), records, and where it went. */
struct job_block {
	struct block_hdr h;
	const uint8_t *raw;
	uint64_t seg, off;
};

/* The segment being written, as the writer has it (the loop's copy is updated at the end). */
struct job_seg {
	uint64_t id;
	int fd; /* -1: none yet */
	uint64_t bytes, min_ns;
	bool created; /* by this batch */
};

/* One batch for the writer. */
struct job {
	struct job_block blocks[JOB_MAX_BLOCKS];
	size_t n;
	struct job_seg seg; /* in: the current segment; out: where the last block went */
	struct job_seg made[JOB_MAX_BLOCKS]; /* segments this batch created */
	size_t n_made;
	struct buf comp; /* a block compressed */
	struct buf idx;	 /* a finished segment's index, to write (len 0: none) */
	char idx_path[4200];
	bool journal, journal_reset;
	int jfd;
	uint64_t jblock, joff; /* the journal's block and where the chunk goes */
	uint8_t jhdr[JOURNAL_HDR_LEN];
	struct buf chunk; /* chunk header and records */
	size_t jdurable;  /* the open block's bytes in the journal once this is done */
	int err;	  /* 0 or the first failure's negative errno */
	const char *what; /* what failed */
	size_t failed_at; /* blocks before it were written */
};

struct open_block {
	uint64_t no;
	uint32_t events;
	uint64_t opened_ns;	/* monotonic time of its first event */
	struct history_block b; /* times, sequence numbers, session */
	struct buf raw;		/* the records */
	struct flow_rec_state st;
};

struct history {
	char dir[4096];
	uint64_t max_bytes, max_age_ns, segment_bytes, retry_ns;
	uint64_t seal_ns; /* an open block this old is sealed at the next sync */
	uint32_t block_events;
	int zstd_level;
	bool foreground;
	void (*thread_start)(void *ctx); /* history_opts' */
	void *thread_ctx;
	ZSTD_CCtx *cctx;
	struct blk *blks; /* by number */
	size_t n_blks, cap_blks;
	struct seg *segs; /* oldest first */
	size_t n_segs, cap_segs;
	uint64_t next_no;
	struct open_block open;
	/* The journal: which block it holds, its length, how much of the open block is in it. */
	int jfd, lockfd;
	uint64_t jblock, jsize;
	size_t jdurable;
	/* The writer. */
	pthread_t thread;
	bool have_thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool job_queued, job_done, quit; /* under mu */
	bool in_flight;			 /* the loop's view: a batch is out */
	struct job job;
	/* State and counters. */
	unsigned int n_unwritten; /* sealed blocks not written yet */
	bool idx_pending;	  /* a finished segment's index is still to be written */
	uint64_t idx_seg;
	struct logmsg_limit slow_log;
	bool stopped, stop_logged;
	uint64_t retry_at_ns;
	char state[160];
	uint64_t held, appended, dropped, lost, damaged_blocks, recovered, write_errors;
};

size_t history_lower(const struct history *h, uint64_t no); /* first index with no >= no */
struct seg *history_seg(struct history *h, uint64_t id);    /* NULL: gone */
void open_reset(struct history *h, uint64_t no);
void *history_writer_main(void *arg);
/* Seals the open block and hands everything to the writer (history_open, history_close). */
int history_seal(struct history *h);
/* Segment index files (seg_index.c): the path; the index of segment id from the loaded index
 * (its written blocks); writing it (a temporary file renamed); reading it, checked against the
 * segment's size and its CRC, calling found for each block only once all of it is valid
 * (-EINVAL when it is not, -ENOENT when there is none). */
void seg_index_path(const struct history *h, uint64_t id, char *out, size_t len);
int seg_index_build(const struct history *h, uint64_t id, struct buf *out);
int seg_index_write(const char *path, const struct buf *idx);
int seg_index_read(const char *path, uint64_t seg_bytes,
		   int (*found)(const struct scanned_block *sb, void *ctx), void *ctx);

/* Waits for the writer until nothing is pending. */
void history_drain(struct history *h);
/* The block's records, decompressed and checked, into out (rlen bytes). -EBADMSG: damaged
 * (marked bad, counted, logged once). */
int history_load(struct history *h, struct blk *b, ZSTD_DCtx *dctx, struct buf *out);

#endif /* FLOWSCOPE_HISTORY_INT_H */
