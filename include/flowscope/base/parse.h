/* Parsers of the values users type (options, query parameters, filter values, config files),
 * shared by every front end so that one value means the same everywhere. Each returns 0 or
 * -EINVAL (-ERANGE where a number is out of its range) and never reads past the string. */
#ifndef FLOWSCOPE_BASE_PARSE_H
#define FLOWSCOPE_BASE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Decimal unsigned integer in [0, max], no sign, no trailing text. */
int parse_u64(const char *s, uint64_t max, uint64_t *out);

/* A duration: a number with a unit ns, us (also µs), ms, s, m or h (fractions allowed: "1.5s"),
 * or several such terms as Go writes them ("1h43m", "1m30.5s"); a bare number means seconds. */
int parse_duration_ns(const char *s, uint64_t *out);

/* A size in bytes: a whole number, optionally with K, M or G (powers of 1024; "k" too). */
int parse_size(const char *s, uint64_t *out);

/* "1", "true", "yes", "on" / "0", "false", "no", "off" (any case). */
int parse_bool(const char *s, bool *out);

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (host left empty); port 1..65535. */
int parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

/* "SCHEME://HOST:PORT[/PATH]" with a lower-case scheme of letters, digits and '+'; the path
 * (with its '/') goes to path, "" when there is none. Pass host/path NULL when unwanted. */
struct url {
	char scheme[16];
	char host[256];
	uint16_t port;
	char path[256];
};
int parse_url(const char *s, struct url *out);

/* An instant as wall-clock ns: RFC 3339 ("2026-11-24T10:00:00Z", "...T10:00:00.5+01:00"),
 * or a duration before now_ns ("5m" = five minutes ago). */
int parse_time(const char *s, uint64_t now_ns, uint64_t *out);
/* RFC 3339 only. */
int parse_rfc3339(const char *s, uint64_t *out);
/* What Hubble's --since/--until accept, and what its printer writes: a duration before now_ns
 * ("90s", "1h43m"); "2006-01-02", "2006-01-02T15", "2006-01-02T15:04" or
 * "2006-01-02T15:04:05[.frac]", each with "Z", "+07:00" (or "+0700") or no zone, which is UTC
 * as in Go; RFC 1123 with a numeric zone ("Mon, 02 Jan 2006 15:04:05 -0700"); and StampMilli
 * ("Jan  2 15:04:05.000", UTC, the latest such instant up to a day after now_ns). */
int parse_hubble_time(const char *s, uint64_t now_ns, uint64_t *out);

/* An IPv4 or IPv6 address with an optional "/LEN". Addresses are in the first 4 (IPv4) or 16
 * bytes; bits is the prefix length (32 or 128 without "/LEN"). Bits set past the prefix are
 * kept as written: callers that must refuse them compare with cidr_masked(). */
struct cidr {
	uint8_t addr[16];
	uint8_t family; /* 4 or 6 */
	uint8_t bits;
	bool has_len; /* "/LEN" was given */
};
int parse_cidr(const char *s, struct cidr *out);

/* c with the bits past its prefix cleared. */
void cidr_masked(const struct cidr *c, struct cidr *out);

/* Does addr (family 4 or 6) fall inside c? */
static inline bool cidr_contains(const struct cidr *c, uint8_t family, const uint8_t *addr)
{
	unsigned int full = c->bits / 8, rest = c->bits % 8;

	if (c->family != family || memcmp(c->addr, addr, full))
		return false;
	return !rest || !((c->addr[full] ^ addr[full]) & (0xff00 >> rest) & 0xff);
}

#endif /* FLOWSCOPE_BASE_PARSE_H */
