/* A growable byte buffer for building JSON lines and protobuf frames. */
#ifndef FLOWSCOPE_BASE_BUF_H
#define FLOWSCOPE_BASE_BUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* All return 0 or -ENOMEM; on failure the buffer keeps its previous content. */
int buf_grow(struct buf *b, size_t extra); /* buf_reserve() when there is not room */

/* Room for extra more bytes and the NUL after them. */
static inline int buf_reserve(struct buf *b, size_t extra)
{
	return b->len + extra < b->cap ? 0 : buf_grow(b, extra);
}

/* Inline: JSON and frames are written a few bytes at a time (a call and a NUL per byte was a
 * tenth of an NDJSON line). */
static inline int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len))
		return -ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static inline int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

static inline int buf_putc(struct buf *b, char c)
{
	if (buf_reserve(b, 1))
		return -ENOMEM;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return 0;
}
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal integers, without printf. */
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_i64(struct buf *b, int64_t v);
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
int buf_json_str(struct buf *b, const char *s, size_t len);
/* s as the inside of a JSON string (quotes, backslashes and control characters escaped) in
 * out, cut short to fit len; returns out (for a printf argument). */
const char *json_escape(const char *s, char *out, size_t len);
void buf_reset(struct buf *b); /* len = 0, keeps memory */
void buf_free(struct buf *b);

#endif /* FLOWSCOPE_BASE_BUF_H */
