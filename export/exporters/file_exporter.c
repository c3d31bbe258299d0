/* Flows as NDJSON lines appended to a rotated file (see include/flowscope/exporters/file_exporter.h). The
 * buffer only ever holds whole lines; rotation and reload write it out first, so a record is
 * never split between files or lost on a configuration change. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "flowscope/base/buf.h"
#include "flowscope/exporters/file_exporter.h"
#include "flowscope/encode/flow_pb.h"
#include "flowscope/encode/pb_json.h"

#define DEFAULT_MAX_BYTES (100ULL << 20)
#define DEFAULT_KEEP 5
#define DEFAULT_BUFFER (64u << 10)
#define FILE_MODE 0640
#define GZ_CHUNK (64u << 10)

/* Everything a reload replaces. */
struct fe_config {
	char *path;
	char *node_name;
	uint64_t max_bytes;
	unsigned int keep;
	bool gzip;
	size_t buffer_bytes;
	bool *keep_field; /* per field of flow.Flow; NULL: no mask */
	struct flow_filter_set *filters;
};

struct file_exporter {
	struct fe_config cfg;
	int fd;
	uint64_t size;	  /* bytes of the file on disk (as far as we wrote it) */
	struct buf out;	  /* whole lines not yet written */
	uint64_t pending; /* records in out */
	struct buf line;  /* scratch for one record */
	struct file_exporter_stats st;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void config_free(struct fe_config *c)
{
	free(c->path);
	free(c->node_name);
	free(c->keep_field);
	flow_filter_set_free(c->filters);
	memset(c, 0, sizeof(*c));
}

/* Parses "time, IP,l4" into one flag per flow.Flow field; NULL for no mask. */
static int parse_mask(const char *fields, bool **out, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *d = &flow__flow__descriptor;
	const char *p = fields;
	bool *keep;

	*out = NULL;
	if (!fields || !fields[0])
		return 0;
	keep = calloc(d->n_fields, sizeof(*keep));
	if (!keep) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const ProtobufCFieldDescriptor *fd;
		char name[128];

		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n) {
			set_err(err, errlen, "empty field name in field mask '%s'", fields);
			free(keep);
			return -EINVAL;
		}
		if (n >= sizeof(name)) {
			set_err(err, errlen, "unknown field '%.*s' in field mask", (int)n, p);
			free(keep);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		fd = protobuf_c_message_descriptor_get_field_by_name(d, name);
		if (!fd) {
			set_err(err, errlen, "unknown field '%s' in field mask", name);
			free(keep);
			return -EINVAL;
		}
		keep[fd - d->fields] = true;
		if (!end)
			break;
		p = end + 1;
	}
	*out = keep;
	return 0;
}

/* Builds the configuration; takes opts->filters in any case. */
static int config_new(struct fe_config *c, const struct file_exporter_opts *opts, char *err,
		      size_t errlen)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->filters = opts ? opts->filters : NULL;
	if (!opts || !opts->path || !opts->path[0]) {
		set_err(err, errlen, "no file path");
		config_free(c);
		return -EINVAL;
	}
	r = parse_mask(opts->fields, &c->keep_field, err, errlen);
	if (r) {
		config_free(c);
		return r;
	}
	c->path = strdup(opts->path);
	c->node_name = strdup(opts->node_name ? opts->node_name : "");
	if (!c->path || !c->node_name) {
		set_err(err, errlen, "out of memory");
		config_free(c);
		return -ENOMEM;
	}
	c->max_bytes = opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES;
	c->keep = opts->keep ? opts->keep : DEFAULT_KEEP;
	c->gzip = opts->gzip;
	c->buffer_bytes = opts->buffer_bytes ? opts->buffer_bytes : DEFAULT_BUFFER;
	return 0;
}

/* Opens path for appending; returns the fd and its size, or a negative errno. */
static int open_file(const char *path, uint64_t *size, char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, FILE_MODE);
	int r;

	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, "opening %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &sb)) {
		r = -errno;
		set_err(err, errlen, "stat %s: %s", path, strerror(-r));
		close(fd);
		return r;
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
		e->st.bytes += done;
	}
	buf_reset(&e->out);
	e->pending = 0;
	return r;
}

int file_exporter_flush(struct file_exporter *e, bool sync)
{
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
	const struct fe_config *c = &e->cfg;
	size_t len = strlen(c->path) + 32;
	char *from = malloc(len), *to = malloc(len);
	uint64_t size = 0;
	unsigned int i;
	int r, fd, gz;

	if (!from || !to) {
		r = -ENOMEM;
		goto out;
	}
	r = file_exporter_flush(e, true);
	if (r)
		goto out;
	/* The oldest goes; both kinds, in case gzip was switched by a reload. */
	for (gz = 0; gz < 2; gz++) {
		rotated_name(to, len, c->path, c->keep, gz);
		if (unlink(to) && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	for (i = c->keep; i > 0; i--) {
		for (gz = 0; gz < 2; gz++) {
			if (i == 1 && gz)
				break; /* path itself is never compressed */
			rotated_name(from, len, c->path, i - 1, gz);
			rotated_name(to, len, c->path, i, gz);
			if (rename(from, to) && errno != ENOENT) {
				r = -errno;
				goto fail;
			}
		}
	}
	fd = open_file(c->path, &size, NULL, 0);
	if (fd < 0) {
		r = fd; /* keep writing to the old file (now path.1) */
		goto fail;
	}
	close(e->fd);
	e->fd = fd;
	e->size = size;
	e->st.rotations++;
	if (c->gzip) {
		rotated_name(from, len, c->path, 1, false);
		rotated_name(to, len, c->path, 1, true);
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

/* Zeroes one field of m in place (the response is one allocation: nothing to free). */
static void clear_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	char *base = (char *)m;
	size_t n;

	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		*(size_t *)(base + fd->quantifier_offset) = 0;
		*(void **)(base + fd->offset) = NULL;
		return;
	}
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *which = (uint32_t *)(base + fd->quantifier_offset);

		if (*which != fd->id)
			return; /* the storage belongs to another member */
		*which = 0;
	} else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset) {
		*(protobuf_c_boolean *)(base + fd->quantifier_offset) = 0;
	}
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		n = sizeof(uint64_t);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		n = sizeof(double);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		n = sizeof(float);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		n = sizeof(protobuf_c_boolean);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		n = sizeof(int);
		break;
	case PROTOBUF_C_TYPE_STRING:
		n = sizeof(char *);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		n = sizeof(ProtobufCBinaryData);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		n = sizeof(ProtobufCMessage *);
		break;
	default:
		n = sizeof(uint32_t);
		break;
	}
	memset(base + fd->offset, 0, n);
}

/* The record for f in e->line: the API's line, or its masked version. */
static int encode(struct file_exporter *e, const struct flow *f)
{
	const bool *keep = e->cfg.keep_field;
	Observer__GetFlowsResponse *resp;
	const ProtobufCMessageDescriptor *d;
	unsigned int i;
	int r;

	buf_reset(&e->line);
	if (!keep)
		return flow_pb_json_line(&e->line, f, e->cfg.node_name);
	resp = flow_pb_response_new(f, e->cfg.node_name);
	if (!resp)
		return -ENOMEM;
	d = resp->flow->base.descriptor;
	for (i = 0; i < d->n_fields; i++)
		if (!keep[i])
			clear_field(&resp->flow->base, &d->fields[i]);
	r = pb_json_write(&e->line, &resp->base);
	if (!r)
		r = buf_putc(&e->line, '\n');
	flow_pb_response_free(resp);
	if (r)
		buf_reset(&e->line);
	return r;
}

int file_exporter_write(struct file_exporter *e, const struct flow *f)
{
	uint64_t used;
	int r;

	if (e->cfg.filters && !flow_filter_set_match(e->cfg.filters, f, e->cfg.node_name)) {
		e->st.filtered++;
		return 0;
	}
	r = encode(e, f);
	if (r)
		goto drop;
	used = e->size + e->out.len;
	if (used && used + e->line.len > e->cfg.max_bytes) {
		r = rotate(e);
		if (r)
			goto drop_counted;
	}
	r = buf_append(&e->out, e->line.data, e->line.len);
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

int file_exporter_open(struct file_exporter **out, const struct file_exporter_opts *opts, char *err,
		       size_t errlen)
{
	struct file_exporter *e;
	int r;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e) {
		if (opts)
			flow_filter_set_free(opts->filters);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = config_new(&e->cfg, opts, err, errlen);
	if (r) {
		free(e);
		return r;
	}
	e->fd = open_file(e->cfg.path, &e->size, err, errlen);
	if (e->fd < 0) {
		r = e->fd;
		config_free(&e->cfg);
		free(e);
		return r;
	}
	*out = e;
	return 0;
}

int file_exporter_reload(struct file_exporter *e, const struct file_exporter_opts *opts, char *err,
			 size_t errlen)
{
	struct fe_config c;
	uint64_t size = 0;
	struct stat sb;
	int r, fd;

	r = config_new(&c, opts, err, errlen);
	if (r)
		return r;
	fd = open_file(c.path, &size, err, errlen);
	if (fd < 0) {
		config_free(&c);
		return fd;
	}
	/* Everything taken with the old options goes to the old file. */
	r = file_exporter_flush(e, true);
	if (r) {
		set_err(err, errlen, "writing %s: %s", e->cfg.path, strerror(-r));
		close(fd);
		config_free(&c);
		return r;
	}
	/* It may be the same file, which just grew. */
	if (!fstat(fd, &sb))
		size = (uint64_t)sb.st_size;
	close(e->fd);
	e->fd = fd;
	e->size = size;
	config_free(&e->cfg);
	e->cfg = c;
	return 0;
}

void file_exporter_close(struct file_exporter *e)
{
	if (!e)
		return;
	file_exporter_flush(e, true);
	close(e->fd);
	config_free(&e->cfg);
	buf_free(&e->out);
	buf_free(&e->line);
	free(e);
}

void file_exporter_get_stats(const struct file_exporter *e, struct file_exporter_stats *st)
{
	*st = e->st;
	st->queued_bytes = e->out.len;
}
