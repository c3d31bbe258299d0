/* flowctl's checked standard output (see cli/out.h). */
#include <errno.h>
#include <unistd.h>

#include "out.h"

#define OUT_CHUNK 65536

int out_flush(struct out *o)
{
	size_t off = 0;

	while (!o->err && o->fd >= 0 && off < o->b.len) {
		ssize_t n = write(o->fd, o->b.data + off, o->b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			o->err = -errno;
		else
			off += (size_t)n;
	}
	if (o->fd >= 0 || o->err)
		buf_reset(&o->b);
	return o->err;
}

int out_maybe_flush(struct out *o)
{
	return o->b.len >= OUT_CHUNK ? out_flush(o) : o->err;
}

void out_free(struct out *o)
{
	buf_free(&o->b);
}
