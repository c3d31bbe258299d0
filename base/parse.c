/* Value parsers shared by every front end (see include/flowscope/base/parse.h). */
#define _GNU_SOURCE /* strptime, timegm */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flowscope/base/parse.h"

int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* The unit of a duration at s and the text after it, or NULL ("ms" is tried before "m"). */
static const char *duration_unit(const char *s, double *ns)
{
	/* Go's units; micro also as U+00B5 (micro sign) and U+03BC (mu). */
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
		{"ms", 1e6}, {"s", 1e9},  {"m", 60e9},	      {"h", 3600e9},
	};
	size_t i, n;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		n = strlen(units[i].unit);
		if (!strncmp(s, units[i].unit, n)) {
			*ns = units[i].ns;
			return s + n;
		}
	}
	return NULL;
}

/* Digits with an optional fraction ("12", "1.5", ".5", "2."); the end of them, or NULL. */
static const char *decimal(const char *s, double *v)
{
	char tmp[64];
	size_t n = strspn(s, "0123456789"), m = 0;

	if (s[n] == '.')
		m = 1 + strspn(s + n + 1, "0123456789");
	if ((!n && m < 2) || n + m >= sizeof(tmp))
		return NULL;
	memcpy(tmp, s, n + m);
	tmp[n + m] = '\0';
	*v = strtod(tmp, NULL);
	return s + n + m;
}

int parse_duration_ns(const char *s, uint64_t *out)
{
	double total = 0, v, unit;
	const char *p;

	if (!s)
		return -EINVAL;
	p = decimal(s, &v);
	if (!p)
		return -EINVAL;
	if (!*p) { /* a bare number: seconds */
		total = v * 1e9;
	} else {
		/* Go's form: one or more number-unit terms ("1h43m", "1m30.5s", "250ms"). */
		for (p = s; *p;) {
			p = decimal(p, &v);
			p = p ? duration_unit(p, &unit) : NULL;
			if (!p)
				return -EINVAL;
			total += v * unit;
		}
	}
	if (!isfinite(total) || total >= 1.8e19)
		return -EINVAL;
	/* Round: 1.001 * 1e3 is 1000.9999... in binary. */
	*out = (uint64_t)(total + 0.5);
	return 0;
}

int parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	uint64_t p;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl >= host_len || parse_u64(colon + 1, 65535, &p) || p == 0)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {{"", 1},
		     {"K", 1ULL << 10},
		     {"k", 1ULL << 10},
		     {"M", 1ULL << 20},
		     {"G", 1ULL << 30}};
	char num[32];
	size_t n, i;
	uint64_t v;

	if (!s)
		return -EINVAL;
	n = strspn(s, "0123456789");
	if (!n || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].unit))
			continue;
		if (parse_u64(num, UINT64_MAX / units[i].mult, &v))
			return -ERANGE;
		*out = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	size_t i;

	for (i = 0; s && i < 4; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

int parse_url(const char *s, struct url *out)
{
	const char *sep, *hp, *slash;
	char hostport[300];
	size_t n;

	memset(out, 0, sizeof(*out));
	sep = s ? strstr(s, "://") : NULL;
	if (!sep || sep == s || (size_t)(sep - s) >= sizeof(out->scheme))
		return -EINVAL;
	for (n = 0; s + n < sep; n++) {
		if (!islower((unsigned char)s[n]) && !isdigit((unsigned char)s[n]) && s[n] != '+')
			return -EINVAL;
		out->scheme[n] = s[n];
	}
	hp = sep + 3;
	slash = strchr(hp, '/');
	n = slash ? (size_t)(slash - hp) : strlen(hp);
	if (n >= sizeof(hostport) || (slash && strlen(slash) >= sizeof(out->path)))
		return -EINVAL;
	memcpy(hostport, hp, n);
	hostport[n] = '\0';
	if (parse_hostport(hostport, out->host, sizeof(out->host), &out->port) || !out->host[0])
		return -EINVAL;
	if (slash)
		strcpy(out->path, slash);
	return 0;
}

int parse_rfc3339(const char *s, uint64_t *out)
{
	struct tm tm = {0};
	const char *p;
	long frac_ns = 0, off = 0, scale = 100000000;
	time_t t;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -EINVAL;
		for (p++; isdigit((unsigned char)*p); p++) {
			frac_ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
		    !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
			return -EINVAL;
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm) - off;
	if (t < 0)
		return -ERANGE;
	*out = (uint64_t)t * 1000000000ULL + (uint64_t)frac_ns;
	return 0;
}

int parse_time(const char *s, uint64_t now_ns, uint64_t *out)
{
	uint64_t ago;

	if (!parse_duration_ns(s, &ago)) {
		if (ago > now_ns)
			return -ERANGE;
		*out = now_ns - ago;
		return 0;
	}
	return parse_rfc3339(s, out);
}

/* "Z", "+01:00" or "-0530" at p: the offset east of UTC in seconds and the text after it, or
 * NULL. No zone at all leaves *off 0 and returns p (UTC, as Go's time.Parse has it). */
static const char *zone(const char *p, long *off)
{
	int h, m, sign = *p == '-' ? -1 : 1;

	*off = 0;
	if (*p == 'Z' || *p == 'z')
		return p + 1;
	if (*p != '+' && *p != '-')
		return p;
	if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
		return NULL;
	h = (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (*p == ':')
		p++;
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || h > 23)
		return NULL;
	m = (p[0] - '0') * 10 + (p[1] - '0');
	if (m > 59)
		return NULL;
	*off = sign * (h * 3600L + m * 60L);
	return p + 2;
}

/* A fraction of a second after a '.' at p (any number of digits, nanoseconds kept). */
static const char *fraction(const char *p, long *ns)
{
	long scale = 100000000;

	*ns = 0;
	if (*p != '.')
		return p;
	if (!isdigit((unsigned char)p[1]))
		return NULL;
	for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
		*ns += (*p - '0') * scale;
	return p;
}

static int finish(struct tm *tm, long frac_ns, long off, uint64_t *out)
{
	time_t t;

	tm->tm_isdst = 0;
	t = timegm(tm);
	if (t == (time_t)-1 || t - off < 0)
		return -ERANGE;
	*out = (uint64_t)(t - off) * 1000000000ULL + (uint64_t)frac_ns;
	return 0;
}

/* "2006-01-02", then optionally "T15", "T15:04" or "T15:04:05" with a fraction, then an
 * optional zone: every RFC 3339 cut of Hubble's layouts. */
static int date_time(const char *s, uint64_t *out)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	long frac = 0, off = 0;

	if (!p || p - s != 10)
		return -EINVAL;
	if (*p == 'T' || *p == 't') {
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
			return -EINVAL;
		tm.tm_hour = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == ':') {
			const char *q = strptime(p + 1, "%M", &tm);

			if (!q || q - p != 3)
				return -EINVAL;
			p = q;
			if (*p == ':') {
				q = strptime(p + 1, "%S", &tm);
				if (!q || q - p != 3)
					return -EINVAL;
				p = fraction(q, &frac);
				if (!p)
					return -EINVAL;
			}
		}
		if (tm.tm_hour > 23)
			return -EINVAL;
		p = zone(p, &off);
	}
	if (!p || *p)
		return -EINVAL;
	return finish(&tm, frac, off, out);
}

/* Go's RFC1123Z: "Mon, 02 Jan 2006 15:04:05 -0700". */
static int rfc1123z(const char *s, uint64_t *out)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%a, %d %b %Y %H:%M:%S ", &tm);
	long off = 0;

	if (!p || (*p != '+' && *p != '-'))
		return -EINVAL;
	p = zone(p, &off);
	if (!p || *p)
		return -EINVAL;
	return finish(&tm, 0, off, out);
}

/* Go's StampMilli as Hubble prints it ("Jan _2 15:04:05.000", UTC): the latest such instant
 * that is not more than a day after now. */
static int stamp(const char *s, uint64_t now_ns, uint64_t *out)
{
	struct tm tm = {0}, now_tm;
	time_t now = (time_t)(now_ns / 1000000000ULL);
	const char *p = strptime(s, "%b %e %H:%M:%S", &tm);
	long frac = 0;
	int r;

	if (!p || !isalpha((unsigned char)s[0]))
		return -EINVAL;
	p = fraction(p, &frac);
	if (!p || *p || !gmtime_r(&now, &now_tm))
		return -EINVAL;
	tm.tm_year = now_tm.tm_year;
	r = finish(&tm, frac, 0, out);
	if (!r && *out > now_ns + 86400ULL * 1000000000ULL) {
		tm.tm_year--;
		r = finish(&tm, frac, 0, out);
	}
	return r;
}

int parse_hubble_time(const char *s, uint64_t now_ns, uint64_t *out)
{
	uint64_t ago;

	if (!s || !*s)
		return -EINVAL;
	if (!parse_duration_ns(s, &ago)) {
		if (ago > now_ns)
			return -ERANGE;
		*out = now_ns - ago;
		return 0;
	}
	if (isdigit((unsigned char)s[0]))
		return date_time(s, out);
	if (strchr(s, ','))
		return rfc1123z(s, out);
	return stamp(s, now_ns, out);
}

int parse_cidr(const char *s, struct cidr *c)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t alen = slash ? (size_t)(slash - s) : (s ? strlen(s) : 0);
	uint64_t bits;

	memset(c, 0, sizeof(*c));
	if (!s || !alen || alen >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET, tmp, c->addr) == 1) {
		c->family = 4;
		c->bits = 32;
	} else if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
		c->family = 6;
		c->bits = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (strlen(slash + 1) > 3 || parse_u64(slash + 1, c->bits, &bits))
			return -ERANGE;
		c->bits = (uint8_t)bits;
		c->has_len = true;
	}
	return 0;
}

void cidr_masked(const struct cidr *c, struct cidr *out)
{
	unsigned int full = c->bits / 8, rest = c->bits % 8;

	memset(out, 0, sizeof(*out));
	out->family = c->family;
	out->bits = c->bits;
	out->has_len = c->has_len;
	memcpy(out->addr, c->addr, full);
	if (rest)
		out->addr[full] = c->addr[full] & (uint8_t)(0xff << (8 - rest));
}
