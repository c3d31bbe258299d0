/* Small string helpers for hot paths. */
#ifndef FLOWSCOPE_BASE_STR_H
#define FLOWSCOPE_BASE_STR_H

#include <stddef.h>

/* src into dst of size (> 0) bytes, cut short to fit and NUL-terminated: snprintf's "%s"
 * without its formatting (a tenth of a flow's encoding, perf). */
static inline void str_copy(char *dst, size_t size, const char *src)
{
	size_t n;

	for (n = 0; n + 1 < size && src[n]; n++)
		dst[n] = src[n];
	dst[n] = '\0';
}

#endif /* FLOWSCOPE_BASE_STR_H */
