/* Reading the history (see include/flowscope/history/history.h): blocks loaded from disk or,
 * until written, from memory, and the open block read in place, so that a cursor sees every
 * event appended, in order, wherever it is at the moment. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowscope/base/clock.h"
#include "history_int.h"

struct history_cursor {
	struct history *h;
	uint64_t since_ns, until_ns;
	uint64_t want;	/* the next block to look for */
	uint64_t no;	/* the block being read (0: none) */
	bool in_open;	/* reading the open block in place */
	struct buf buf; /* a sealed block's records */
	size_t off;	/* the next record */
	uint32_t index;
	struct flow_rec_state st;
	ZSTD_DCtx *dctx;
};

static int damaged(struct history *h, struct blk *b, const char *why)
{
	char path[4200], from[CLOCK_UTC_LEN], to[CLOCK_UTC_LEN];

	snprintf(path, sizeof(path), "%s/seg-%020" PRIu64 ".fsh", h->dir, b->seg);
	clock_utc(b->h.b.min_ns, from);
	clock_utc(b->h.b.max_ns, to);
	b->bad = true;
	h->damaged_blocks++;
	h->held -= b->h.b.events;
	h->lost += b->h.b.events;
	logmsg(LOG_LEVEL_WARN,
	       "history: %s: block %" PRIu64 " at offset %" PRIu64 " is damaged (%s): its %" PRIu32
	       " events from %s to %s are lost",
	       path, b->h.b.no, b->off, why, b->h.b.events, from, to);
	return -EBADMSG;
}

int history_load(struct history *h, struct blk *b, ZSTD_DCtx *dctx, struct buf *out)
{
	uint8_t *comp;
	struct seg *s;
	size_t n;
	int err;

	if (b->bad)
		return -EBADMSG;
	buf_reset(out);
	if (buf_reserve(out, b->h.rlen + 1))
		return -ENOMEM;
	if (b->raw) { /* not written yet */
		memcpy(out->data, b->raw, b->h.rlen);
		out->len = b->h.rlen;
		return 0;
	}
	s = history_seg(h, b->seg);
	comp = malloc(b->h.clen ? b->h.clen : 1);
	if (!comp)
		return -ENOMEM;
	err = s ? block_read_at(s->fd, comp, b->h.clen, b->off + BLOCK_HDR_LEN) : -ENOENT;
	if (err) {
		free(comp);
		return damaged(h, b, err == -EIO ? "the file ends inside it" : strerror(-err));
	}
	if (block_crc(comp, b->h.clen) != b->h.pcrc) {
		free(comp);
		return damaged(h, b, "checksum mismatch");
	}
	n = ZSTD_decompressDCtx(dctx, out->data, b->h.rlen, comp, b->h.clen);
	free(comp);
	if (ZSTD_isError(n) || n != b->h.rlen)
		return damaged(h, b, "it does not decompress");
	out->len = n;
	return 0;
}

struct history_cursor *history_cursor_new(struct history *h)
{
	struct history_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->h = h;
	c->dctx = ZSTD_createDCtx();
	if (!c->dctx) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->want = 1;
	return c;
}

void history_cursor_free(struct history_cursor *c)
{
	if (!c)
		return;
	ZSTD_freeDCtx(c->dctx);
	buf_free(&c->buf);
	free(c);
}

void history_cursor_set_range(struct history_cursor *c, uint64_t since_ns, uint64_t until_ns)
{
	c->since_ns = since_ns;
	c->until_ns = until_ns;
}

void history_cursor_seek(struct history_cursor *c, uint64_t no)
{
	c->want = no;
	c->no = 0;
	c->in_open = false;
}

uint64_t history_cursor_block(const struct history_cursor *c)
{
	return c->no;
}

uint32_t history_cursor_index(const struct history_cursor *c)
{
	return c->index;
}

static bool out_of_range(const struct history_cursor *c, const struct history_block *b)
{
	return (c->since_ns && b->max_ns < c->since_ns) || (c->until_ns && b->min_ns > c->until_ns);
}

static void enter(struct history_cursor *c, uint64_t no, bool in_open)
{
	c->no = no;
	c->in_open = in_open;
	c->off = 0;
	c->index = 0;
	flow_rec_reset(&c->st);
}

/* Finds and loads the next block from c->want on: 1 when there is one, 0 when the history
 * holds nothing from there yet, or -ENOMEM. */
static int next_block(struct history_cursor *c)
{
	struct history *h = c->h;

	for (;;) {
		size_t i = history_lower(h, c->want);
		int err;

		if (i == h->n_blks) {
			if (!h->open.events || h->open.no < c->want)
				return 0;
			if (c->until_ns && h->open.b.min_ns > c->until_ns)
				return 0; /* all after until (it grows, but only later) */
			enter(c, h->open.no, true);
			return 1;
		}
		c->want = h->blks[i].h.b.no + 1;
		if (h->blks[i].bad || out_of_range(c, &h->blks[i].h.b))
			continue;
		err = history_load(h, &h->blks[i], c->dctx, &c->buf);
		if (err == -ENOMEM)
			return err;
		if (err)
			continue;
		enter(c, h->blks[i].h.b.no, false);
		return 1;
	}
}

/* The open block the cursor read in place was sealed meanwhile: go on in its sealed copy at
 * the same place (the same bytes), or past it when it is gone (the history stopped). */
static int follow_seal(struct history_cursor *c)
{
	struct history *h = c->h;
	size_t i = history_lower(h, c->no);
	int err;

	c->in_open = false;
	if (i == h->n_blks || h->blks[i].h.b.no != c->no || h->blks[i].bad) {
		c->want = c->no + 1;
		c->no = 0;
		return 0;
	}
	err = history_load(h, &h->blks[i], c->dctx, &c->buf);
	if (err) {
		c->want = c->no + 1;
		c->no = 0;
		return err == -ENOMEM ? err : 0;
	}
	return 0;
}

int history_cursor_next_in_block(struct history_cursor *c, struct flow *f)
{
	const uint8_t *data, *p;
	size_t len;

	if (!c->no)
		return 0;
	if (c->in_open && c->h->open.no != c->no) {
		int err = follow_seal(c);

		if (err || !c->no)
			return err;
	}
	data = c->in_open ? (const uint8_t *)c->h->open.raw.data : (const uint8_t *)c->buf.data;
	len = c->in_open ? c->h->open.raw.len : c->buf.len;
	if (c->off >= len)
		return 0;
	p = data + c->off;
	if (flow_rec_decode(&c->st, &p, data + len, f)) {
		c->off = len; /* cannot happen for what we wrote ourselves; the rest is lost */
		return 0;
	}
	c->off = (size_t)(p - data);
	c->index++;
	return 1;
}

int history_cursor_next(struct history_cursor *c, struct flow *f)
{
	for (;;) {
		int r = history_cursor_next_in_block(c, f);

		if (r)
			return r;
		if (c->no && c->in_open && c->h->open.no == c->no)
			return 0; /* at the end of the open block: more may come */
		if (c->no) {
			c->want = c->no + 1;
			c->no = 0;
		}
		r = next_block(c);
		if (r <= 0)
			return r;
	}
}
