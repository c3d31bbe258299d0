/* Internal to flowctl: its standard output, buffered in memory and written with every write
 * checked, so that a reader that goes away (`flowctl observe -f | head -1`) ends flowctl quietly
 * instead of being ignored, and a full disk is an error, not lost output. */
#ifndef FLOWSCOPE_CLI_OUT_H
#define FLOWSCOPE_CLI_OUT_H

#include <errno.h>
#include <stdbool.h>

#include "flowscope/base/buf.h"

struct out {
	int fd;	      /* where flushes go; -1: nowhere (tests read b) */
	struct buf b; /* what is not written yet */
	int err;      /* the first write error (-errno), then nothing more is written */
};

#define OUT_INIT(fd)                                                                               \
	{                                                                                          \
		(fd), BUF_INIT, 0                                                                  \
	}

/* Writes everything buffered. Returns 0 or the (first) write error, -EPIPE when the reader has
 * gone. */
int out_flush(struct out *o);

/* out_flush() once enough is buffered to be worth a write. */
int out_maybe_flush(struct out *o);

/* The reader went away: the one error that is not worth a message. */
static inline bool out_closed(const struct out *o)
{
	return o->err == -EPIPE;
}

void out_free(struct out *o);

#endif /* FLOWSCOPE_CLI_OUT_H */
