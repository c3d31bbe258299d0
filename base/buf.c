/* Growable byte buffer (see include/flowscope/base/buf.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/buf.h"

int buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap;
	char *p;

	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* One formatting pass when the text fits the spare capacity (the usual case), two otherwise. */
int buf_printf(struct buf *b, const char *fmt, ...)
{
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= room) {
		if (buf_reserve(b, (size_t)n))
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	char tmp[20], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int buf_put_i64(struct buf *b, int64_t v)
{
	if (v >= 0)
		return buf_put_u64(b, (uint64_t)v);
	return buf_putc(b, '-') ?: buf_put_u64(b, -(uint64_t)v);
}

const char *json_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* Runs of characters that need no escape are copied whole (a call per character was most of a
 * JSON line's strings). */
int buf_json_str(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run;

	if (buf_reserve(b, len + 2))
		return -ENOMEM;
	b->data[b->len++] = '"';
	while (i < len) {
		unsigned char c;
		char esc[6] = {'\\', 'u', '0', '0'};
		int err;

		for (run = i; run < len; run++) {
			c = (unsigned char)s[run];
			if (c == '"' || c == '\\' || c < 0x20)
				break;
		}
		if (run > i && (err = buf_append(b, s + i, run - i)))
			return err;
		if (run == len)
			break;
		c = (unsigned char)s[run];
		esc[1] = c == '"' || c == '\\' ? (char)c
			 : c == '\n'	       ? 'n'
			 : c == '\r'	       ? 'r'
			 : c == '\t'	       ? 't'
					       : 'u';
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		if ((err = buf_append(b, esc, esc[1] == 'u' ? sizeof(esc) : 2)))
			return err;
		i = run + 1;
	}
	return buf_putc(b, '"');
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
