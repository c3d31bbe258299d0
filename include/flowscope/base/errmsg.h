/* The one way messages leave library code. Functions return 0 or a negative errno; those that
 * can fail for a reason the user must act on also take a struct errmsg (NULL allowed) and put
 * the reason there, phrased so that it says what to do. Things worth telling that are not the
 * answer to a call (a stale filter replaced, a client speaking bad HTTP/2, a peer that refused
 * TLS) go to logmsg(), whose sink only a binary installs: library code never prints. */
#ifndef FLOWSCOPE_BASE_ERRMSG_H
#define FLOWSCOPE_BASE_ERRMSG_H

#include <stdint.h>

struct errmsg {
	char text[512]; /* "" when no message was set */
};

/* Sets e's text (when e is not NULL) and returns code, so that `return errmsg_set(e, -EINVAL,
 * "invalid port '%s'", s);` reports and fails in one statement. */
int errmsg_set(struct errmsg *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts "prefix: " in front of e's text ("--export-allow: invalid port 'x'"). */
void errmsg_prefix(struct errmsg *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text, or strerror(-code) when none was set. */
const char *errmsg_text(const struct errmsg *e, int code);

enum log_level {
	LOG_LEVEL_WARN, /* something is wrong but flowd goes on */
	LOG_LEVEL_INFO, /* a change worth knowing: a reload, a reconnection */
};

typedef void (*logmsg_sink)(enum log_level level, const char *text, void *ctx);

/* Installs the sink (NULL: messages are dropped). Binaries call this once at start. */
void logmsg_set_sink(logmsg_sink sink, void *ctx);

void logmsg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* At most one message a second through l; the next one that passes says how many were held
 * back meanwhile. For events a remote party can repeat at will. */
struct logmsg_limit {
	uint64_t last_ns;
	uint64_t suppressed;
};

void logmsg_limited(struct logmsg_limit *l, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* FLOWSCOPE_BASE_ERRMSG_H */
