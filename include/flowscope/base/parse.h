/* Parsing of command-line and query values shared by flowd, flowctl and the HTTP API. */
#ifndef FLOWSCOPE_PARSE_H
#define FLOWSCOPE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal unsigned integer in [0, max], no sign, no trailing text. 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);

/* A duration: a number with a unit ns, us, ms, s, m or h (fractions allowed: "1.5s"); a bare
 * number means seconds. Returns 0 or -EINVAL. */
int parse_duration_ns(const char *s, uint64_t *out);

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (host left empty). Returns 0 or -EINVAL. */
int parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

#endif /* FLOWSCOPE_PARSE_H */
