/* The file exporter: every flow event as one NDJSON line (the API's JSON, one
 * observer.GetFlowsResponse per line) appended to a file, with size rotation (path.1, path.2, ...,
 * gzipped or not) and a reopen on SIGHUP for logrotate.
 *
 * Durability: lines are buffered and written with write(2) when the buffer fills and on every
 * flush (each second); the file is fsync'd by a sync flush, on close, before a rotation and
 * before a reopen. A record is never split: the buffer holds whole lines only, a failed write is
 * truncated back to the last whole line, and rotation happens between lines (a line larger than
 * the size limit is still written, alone in its file). Files are created 0640 and opened with
 * O_APPEND: an existing file is continued. Rotation when a line would make the file exceed the
 * limit: the buffer is written and fsync'd, path.(keep-1) is renamed to path.keep ... path to
 * path.1 (the oldest is replaced), a new path is opened, and with gzip path.1 is compressed to
 * path.1.gz (synchronously, zlib) and removed; if compressing fails it stays uncompressed.
 * Rotated files of both kinds are shifted, so a restart with gzip switched keeps the numbering. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/clock.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/exporters/exporter.h"

#define DEFAULT_MAX_BYTES (100ULL << 20)
#define DEFAULT_KEEP 5
#define DEFAULT_BUFFER (64u << 10)
#define FILE_MODE 0640
#define GZ_CHUNK (64u << 10)

struct file_cfg {
	const char *path;
	uint64_t max_bytes;
	uint32_t keep;
	bool gzip;
	uint64_t buffer_bytes;
};

static const struct opt file_opts[] = {
	{"export-file", 0, "PATH",
	 "append every flow event to PATH as NDJSON (SIEM); SIGHUP reopens it\n(for logrotate)",
	 opt_string, offsetof(struct file_cfg, path)},
	{"export-max-size", 0, "SIZE", "rotate PATH at this size (default 100M)", opt_size,
	 offsetof(struct file_cfg, max_bytes)},
	{"export-keep", 0, "N", "rotated files kept: PATH.1 ... PATH.N (default 5)", opt_u32,
	 offsetof(struct file_cfg, keep), 1, 1000},
	{"export-gzip", 0, NULL, "compress rotated files (PATH.1.gz ...)", opt_flag,
	 offsetof(struct file_cfg, gzip)},
	{"export-file-buffer", 0, "SIZE",
	 "bytes buffered before a write (default 64K; written each second anyway)", opt_size,
	 offsetof(struct file_cfg, buffer_bytes), 1, 1ULL << 30},
	{0},
};

struct file_exporter {
	struct file_cfg cfg;
	char *path;
	int fd;
	uint64_t size;	  /* bytes of the file on disk (as far as we wrote it) */
	struct buf out;	  /* whole lines not yet written */
	uint64_t pending; /* records in out */
	struct exporter_stats st;
	uint64_t rotations, bytes;
	/* Writes failing (a full disk): said once when they start, and once when they have worked
	 * for FAILING_QUIET_NS since the last failure (a nearly full disk makes them come and go),
	 * with what was dropped meanwhile. */
	bool failing;
	uint64_t dropped_before, last_fail_ns;
};

#define FAILING_QUIET_NS (5 * NSEC_PER_SEC)

static void tell_failing(struct file_exporter *e, int err)
{
	uint64_t now = clock_boot_ns();

	if (err) {
		if (!e->failing) {
			logmsg(LOG_LEVEL_WARN,
			       "file exporter: writing %s: %s: flow events are dropped (counted in "
			       "flowscope_exporter_flows_total{outcome=\"dropped\"}) until writes work "
			       "again",
			       e->path, strerror(-err));
			e->dropped_before = e->st.dropped;
		}
		e->failing = true;
		e->last_fail_ns = now;
	} else if (e->failing && now - e->last_fail_ns >= FAILING_QUIET_NS) {
		e->failing = false;
		logmsg(LOG_LEVEL_INFO, "file exporter: writing %s again, %llu flow events dropped",
		       e->path, (unsigned long long)(e->st.dropped - e->dropped_before));
	}
}

/* Opens path for appending; returns the fd and its size, or a negative errno. */
static int open_file(const char *path, uint64_t *size, struct errmsg *e)
{
	struct stat sb;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, FILE_MODE);
	int r;

	if (fd < 0) {
		r = -errno;
		return errmsg_set(e, r, "opening %s: %s", path, strerror(-r));
	}
	if (fstat(fd, &sb)) {
		r = -errno;
		close(fd);
		return errmsg_set(e, r, "stat %s: %s", path, strerror(-r));
	}
	*size = (uint64_t)sb.st_size;
	return fd;
}

/* Writes the buffer out. On failure, cuts the file back to its last whole line and drops (and
 * counts) the buffered records. */
static int write_out(struct file_exporter *e)
{
	size_t done = 0;
	int r = 0;

	while (done < e->out.len) {
		ssize_t n = write(e->fd, e->out.data + done, e->out.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (r) {
		if (done && ftruncate(e->fd, (off_t)e->size))
			e->size += done; /* a partial line stays; nothing more we can do */
		e->st.errors++;
		e->st.dropped += e->pending;
	} else {
		e->size += done;
		e->st.written += e->pending;
		e->bytes += done;
	}
	buf_reset(&e->out);
	e->pending = 0;
	tell_failing(e, r);
	return r;
}

static int file_flush(void *state, bool sync)
{
	struct file_exporter *e = state;
	int r = 0;

	if (e->out.len)
		r = write_out(e);
	if (sync && fsync(e->fd) && !r) {
		r = -errno;
		e->st.errors++;
	}
	return r;
}

static void rotated_name(char *dst, size_t len, const char *path, unsigned int i, bool gz)
{
	if (i)
		snprintf(dst, len, "%s.%u%s", path, i, gz ? ".gz" : "");
	else
		snprintf(dst, len, "%s", path);
}

/* Compresses src into dst (through dst.tmp, fsync'd); removes src when done. */
static int gzip_file(const char *src, const char *dst)
{
	size_t tlen = strlen(dst) + 5;
	char *tmp = malloc(tlen);
	char *chunk = malloc(GZ_CHUNK);
	gzFile gz = NULL;
	int in = -1, fd, r = 0;

	if (!tmp || !chunk) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(tmp, tlen, "%s.tmp", dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		r = -errno;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	gz = gzdopen(fd, "wb");
	if (!gz) {
		close(fd);
		r = -ENOMEM;
		goto out_unlink;
	}
	for (;;) {
		ssize_t n = read(in, chunk, GZ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (gzwrite(gz, chunk, (unsigned int)n) != (int)n) {
			r = -EIO;
			break;
		}
	}
	if (gzclose(gz) != Z_OK && !r)
		r = -EIO;
	if (!r) {
		/* The compressed data must be on disk before the original goes. */
		fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd))
			r = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (!r && rename(tmp, dst))
		r = -errno;
	if (!r) {
		unlink(src);
		goto out;
	}
out_unlink:
	unlink(tmp);
out:
	if (in >= 0)
		close(in);
	free(chunk);
	free(tmp);
	return r;
}

/* Writes and fsyncs the buffer, shifts the rotated files, moves path to path.1, opens a new
 * path and compresses path.1 when asked to. */
static int rotate(struct file_exporter *e)
{
	const struct file_cfg *c = &e->cfg;
	size_t len = strlen(e->path) + 32;
	char *from = malloc(len), *to = malloc(len);
	uint64_t size = 0;
	unsigned int i;
	int r, fd, gz;

	if (!from || !to) {
		r = -ENOMEM;
		goto out;
	}
	r = file_flush(e, true);
	if (r)
		goto out;
	/* The oldest goes; both kinds, in case gzip was switched by a reload. */
	for (gz = 0; gz < 2; gz++) {
		rotated_name(to, len, e->path, c->keep, gz);
		if (unlink(to) && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	for (i = c->keep; i > 0; i--) {
		for (gz = 0; gz < 2; gz++) {
			if (i == 1 && gz)
				break; /* path itself is never compressed */
			rotated_name(from, len, e->path, i - 1, gz);
			rotated_name(to, len, e->path, i, gz);
			if (rename(from, to) && errno != ENOENT) {
				r = -errno;
				goto fail;
			}
		}
	}
	fd = open_file(e->path, &size, NULL);
	if (fd < 0) {
		r = fd; /* keep writing to the old file (now path.1) */
		goto fail;
	}
	close(e->fd);
	e->fd = fd;
	e->size = size;
	e->rotations++;
	if (c->gzip) {
		rotated_name(from, len, e->path, 1, false);
		rotated_name(to, len, e->path, 1, true);
		if (gzip_file(from, to))
			e->st.errors++; /* path.1 stays uncompressed: nothing is lost */
	}
	goto out;
fail:
	e->st.errors++;
out:
	free(from);
	free(to);
	return r;
}

static int file_take(void *state, struct export_event *ev)
{
	struct file_exporter *e = state;
	const struct buf *line = export_event_json(ev);
	uint64_t used;
	int r;

	if (!line) {
		r = -ENOMEM;
		goto drop;
	}
	used = e->size + e->out.len;
	if (used && used + line->len > e->cfg.max_bytes) {
		r = rotate(e);
		if (r)
			goto drop_counted;
	}
	r = buf_append(&e->out, line->data, line->len);
	if (r)
		goto drop;
	e->pending++;
	if (e->out.len >= e->cfg.buffer_bytes)
		return write_out(e); /* counts its own errors and drops, this record's too */
	return 0;
drop:
	e->st.errors++;
drop_counted:
	e->st.dropped++;
	return r;
}

static void file_config_init(void *cfg)
{
	struct file_cfg *c = cfg;

	c->max_bytes = DEFAULT_MAX_BYTES;
	c->keep = DEFAULT_KEEP;
	c->buffer_bytes = DEFAULT_BUFFER;
}

static bool file_enabled(const void *cfg)
{
	return ((const struct file_cfg *)cfg)->path != NULL;
}

static int file_open(void **state, const void *cfg, const struct exporter_env *env,
		     struct errmsg *err)
{
	struct file_exporter *e = calloc(1, sizeof(*e));
	int r;

	(void)env;
	if (!e)
		return errmsg_set(err, -ENOMEM, "out of memory");
	e->cfg = *(const struct file_cfg *)cfg;
	e->path = strdup(e->cfg.path);
	if (!e->path) {
		free(e);
		return errmsg_set(err, -ENOMEM, "out of memory");
	}
	r = e->fd = open_file(e->path, &e->size, err);
	if (r < 0) {
		free(e->path);
		free(e);
		return r;
	}
	*state = e;
	return 0;
}

/* SIGHUP: the file may have been moved away (logrotate). What is buffered goes to the file it
 * was taken for, then path is opened again (created if it is gone). On error the file in use
 * stays in use. */
static int file_reload(void *state, struct errmsg *err)
{
	struct file_exporter *e = state;
	uint64_t size = 0;
	struct stat sb;
	int r, fd;

	fd = open_file(e->path, &size, err);
	if (fd < 0)
		return fd;
	r = file_flush(e, true);
	if (r) {
		close(fd);
		return errmsg_set(err, r, "writing %s: %s", e->path, strerror(-r));
	}
	/* It may be the same file, which just grew. */
	if (!fstat(fd, &sb))
		size = (uint64_t)sb.st_size;
	close(e->fd);
	e->fd = fd;
	e->size = size;
	return 0;
}

static void file_close(void *state)
{
	struct file_exporter *e = state;

	file_flush(e, true);
	close(e->fd);
	buf_free(&e->out);
	free(e->path);
	free(e);
}

static void file_stats(const void *state, struct exporter_stats *st)
{
	const struct file_exporter *e = state;

	*st = e->st;
	st->queued = e->out.len;
	st->n_extra = 2;
	st->extra[0].name = "rotations";
	st->extra[0].value = e->rotations;
	st->extra[1].name = "bytes";
	st->extra[1].value = e->bytes;
}

const struct exporter_type file_exporter = {
	.name = "file",
	.title = "Export to a file:",
	.opts = file_opts,
	.config_size = sizeof(struct file_cfg),
	.config_init = file_config_init,
	.enabled = file_enabled,
	.open = file_open,
	.take = file_take,
	.flush = file_flush,
	.reload = file_reload,
	.close = file_close,
	.stats = file_stats,
};
