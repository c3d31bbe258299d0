/* Error messages handed back to callers and the log sink (see include/flowscope/base/errmsg.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/errmsg.h"

#define NSEC_PER_SEC 1000000000ULL

static logmsg_sink sink;
static void *sink_ctx;

int errmsg_set(struct errmsg *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return code;
}

void errmsg_prefix(struct errmsg *e, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->text)];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->text, sizeof(old));
	/* Too long a text is cut; checking the result says so to GCC's -Wformat-truncation. */
	if (snprintf(e->text, sizeof(e->text), "%s: %s", prefix, old) < 0)
		e->text[0] = '\0';
}

const char *errmsg_text(const struct errmsg *e, int code)
{
	if (e && e->text[0])
		return e->text;
	return strerror(code < 0 ? -code : code);
}

void logmsg_set_sink(logmsg_sink s, void *ctx)
{
	sink = s;
	sink_ctx = ctx;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	char text[1024];

	if (!sink)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	sink(level, text, sink_ctx);
}

void logmsg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void logmsg_limited(struct logmsg_limit *l, enum log_level level, const char *fmt, ...)
{
	uint64_t now = clock_mono_ns();
	char text[900];
	va_list ap;

	if (l->last_ns && now - l->last_ns < NSEC_PER_SEC) {
		l->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (l->suppressed)
		logmsg(level, "%s (and %llu more since the last report)", text,
		       (unsigned long long)l->suppressed);
	else
		logmsg(level, "%s", text);
	l->last_ns = now;
	l->suppressed = 0;
}
