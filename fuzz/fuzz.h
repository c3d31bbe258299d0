/* Shared by the libFuzzer targets (fuzz/fuzz_*.c): silence the library's log, turn an input into
 * a NUL-terminated string or a file, and split it into parts. Nothing here prints per input. */
#ifndef FLOWSCOPE_FUZZ_H
#define FLOWSCOPE_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/pb_pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The library logs through one sink (none: dropped): a target keeps it quiet. */
static inline void fuzz_quiet(void)
{
	logmsg_set_sink(NULL, NULL);
}

/* data as a C string (a copy, NUL-terminated; NULs inside cut it short as they would in a real
 * string). Free with free(). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Differential check of the one-pass encoder: m packed by pb_pack and by protobuf-c must be the
 * same bytes (aborts otherwise: a finding). */
static inline void fuzz_same_pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *want = malloc(n + 1);
	struct buf b = BUF_INIT;

	if (!want || protobuf_c_message_pack(m, want) != n || pb_pack_append(&b, m) || b.len != n ||
	    memcmp(b.data, want, n))
		abort();
	buf_free(&b);
	free(want);
}

/* A private directory for the target's files (under TMPDIR or /tmp), made once. */
static inline const char *fuzz_dir(void)
{
	static char dir[256];

	if (!dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/flowscope-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

/* Writes data to path whole (replacing it). */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *p = data;

	if (fd < 0)
		abort();
	while (size) {
		ssize_t n = write(fd, p, size);

		if (n <= 0)
			abort();
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

/* The next part of an input split at sep: [*p, end) up to sep (not included); *p moves past
 * it. Returns the part's length, or -1 when nothing is left. */
static inline ssize_t fuzz_next_part(const uint8_t **p, const uint8_t *end, uint8_t sep,
				     const uint8_t **part)
{
	const uint8_t *s = *p, *q;

	if (s > end)
		return -1;
	q = memchr(s, sep, (size_t)(end - s));
	if (!q)
		q = end;
	*part = s;
	*p = q + 1;
	return q - s;
}

#endif /* FLOWSCOPE_FUZZ_H */
