/* Published flows appended to a file for SIEM pipelines: one NDJSON line per flow, the same JSON
 * as the API (flow_pb_json_line(): one observer.GetFlowsResponse per line), optionally reduced to
 * some fields of the flow object, with size-based rotation (path.1, path.2, ..., gzipped or not).
 *
 * Durability: lines are buffered in memory and written with write(2) when the buffer fills and
 * at least on every file_exporter_flush() call (flowd calls it once a second and on shutdown).
 * The file is fsync'd by file_exporter_flush(e, true), on close, before a rotation and before a
 * reload closes it. A record is never split: the buffer holds whole lines only, a failed write is
 * truncated back to the last whole line, and rotation happens between lines (a single line larger
 * than max_bytes is still written, alone in its file).
 *
 * Files are created with mode 0640 and opened with O_APPEND: an existing file is continued.
 * Rotation when a line would make the file exceed max_bytes: the buffer is written and fsync'd,
 * path.(keep-1) is renamed to path.keep ... path.1 to path.2 (the oldest, path.keep, is
 * replaced), path to path.1, and a new path is opened. With gzip, path.1 is then compressed to
 * path.1.gz (synchronously, zlib) and removed; if compressing fails it stays uncompressed.
 * Rotated files of both kinds (path.N and path.N.gz) are shifted, so switching gzip on a reload
 * keeps the numbering.
 *
 * Not thread-safe: call everything from one thread (flowd's loop). */
#ifndef FLOWSCOPE_FILE_EXPORTER_H
#define FLOWSCOPE_FILE_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"
#include "flowscope/filter/flow_filter.h"

struct file_exporter;

struct file_exporter_opts {
	/* The file written; rotated files are path.1, path.2, ... (path.1.gz ... with gzip). */
	const char *path;
	uint64_t max_bytes; /* rotate when the file would exceed this; 0: 100 MiB */
	unsigned int keep;  /* rotated files kept; 0: 5 */
	bool gzip;	    /* compress rotated files (zlib; done synchronously at rotation) */
	/* Field mask: comma-separated top-level keys of the flow object to keep (proto field
	 * names as the JSON has them, e.g. "time,verdict,IP,l4,source,destination"; spaces
	 * around names are ignored, an unknown or empty name is an error); NULL or "": everything.
	 * The response's own "node_name" and "time" are always kept. */
	const char *fields;
	/* Owned by the exporter from the call on, whether it succeeds or not (freed on failure,
	 * or when replaced by a reload); NULL: every flow. */
	struct flow_filter_set *filters;
	const char *node_name; /* for the JSON and node_name filters; NULL: "" */
	size_t buffer_bytes;   /* bytes buffered before a write(); 0: 64 KiB */
};

/* Opens (creating or appending) path. Returns 0 or a negative errno with a message in err
 * (e.g. "unknown field 'foo' in field mask"). */
int file_exporter_open(struct file_exporter **out, const struct file_exporter_opts *opts, char *err,
		       size_t errlen);
/* Appends the flow if it passes the filters (buffered; may write, or rotate first). Returns 0 or
 * a negative errno (counted in stats.errors; the flow is counted in stats.dropped). When writing
 * the buffer fails, every record it held is dropped (and counted) too. */
int file_exporter_write(struct file_exporter *e, const struct flow *f);
/* Writes out the buffer (write(2)); with sync, fsync(2) too. Returns 0 or a negative errno
 * (counted in stats.errors; if write(2) failed, the buffered records are dropped and counted). */
int file_exporter_flush(struct file_exporter *e, bool sync);
/* Reopens path with new options (SIGHUP; also after an external tool moved the file away):
 * everything buffered with the old options is written to the old file (and fsync'd) first, so
 * no record is lost. On error keeps the old configuration and file and returns the error
 * (message in err); opts->filters is freed then. */
int file_exporter_reload(struct file_exporter *e, const struct file_exporter_opts *opts, char *err,
			 size_t errlen);
/* Flushes (with fsync) and closes; NULL is ignored. */
void file_exporter_close(struct file_exporter *e);

struct file_exporter_stats {
	uint64_t written;      /* records written to the file (write(2) done) */
	uint64_t filtered;     /* flows the filters rejected */
	uint64_t dropped;      /* records lost to an error */
	uint64_t errors;       /* errors (encoding, write, fsync, rotation, compression) */
	uint64_t rotations;    /* rotations done */
	uint64_t bytes;	       /* bytes of the records written */
	uint64_t queued_bytes; /* bytes buffered, not written yet */
};

void file_exporter_get_stats(const struct file_exporter *e, struct file_exporter_stats *st);

#endif /* FLOWSCOPE_FILE_EXPORTER_H */
