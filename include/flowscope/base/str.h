/* Small string helpers for hot paths. */
#ifndef FLOWSCOPE_BASE_STR_H
#define FLOWSCOPE_BASE_STR_H

#include <stddef.h>
#include <stdint.h>

/* src into dst of size (> 0) bytes, cut short to fit and NUL-terminated: snprintf's "%s"
 * without its formatting (a tenth of a flow's encoding, perf). */
static inline void str_copy(char *dst, size_t size, const char *src)
{
	size_t n;

	for (n = 0; n + 1 < size && src[n]; n++)
		dst[n] = src[n];
	dst[n] = '\0';
}

/* A bounded string being written: what snprintf into p[len] would leave (cut, NUL-terminated)
 * by appends, without parsing a format. */
struct str_writer {
	char *p;
	size_t len, n;
};

/* A writer of p[len], emptied; p NULL or len 0: one that writes nothing. */
static inline struct str_writer str_writer_at(char *p, size_t len)
{
	if (p && len)
		p[0] = '\0';
	return (struct str_writer){.p = p, .len = p ? len : 0};
}

/* Appends at most max bytes of the string s (whatever fits). */
static inline void str_put(struct str_writer *w, const char *s, size_t max)
{
	size_t k = __builtin_strlen(s);

	if (!w->len)
		return;
	if (k > max)
		k = max;
	if (k > w->len - 1 - w->n)
		k = w->len - 1 - w->n;
	__builtin_memcpy(w->p + w->n, s, k);
	w->n += k;
	w->p[w->n] = '\0';
}

static inline void str_puts(struct str_writer *w, const char *s)
{
	str_put(w, s, (size_t)-1);
}

/* Appends v in decimal. */
static inline void str_put_u32(struct str_writer *w, uint32_t v)
{
	char t[11], *q = t + sizeof(t) - 1;

	*q = '\0';
	do
		*--q = (char)('0' + v % 10);
	while (v /= 10);
	str_puts(w, q);
}

#endif /* FLOWSCOPE_BASE_STR_H */
