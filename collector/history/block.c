/* The history's on-disk formats (see block.h): headers packed byte by byte so that files read
 * the same on any host, and the scan that rebuilds a segment's index and finds its damage. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "block.h"

uint32_t block_crc(const void *data, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);

	while (len) {
		uInt n = len > (1u << 30) ? 1u << 30 : (uInt)len;

		c = crc32(c, data, n);
		data = (const uint8_t *)data + n;
		len -= n;
	}
	return (uint32_t)c;
}

void block_hdr_pack(const struct block_hdr *h, uint8_t out[BLOCK_HDR_LEN])
{
	memset(out, 0, BLOCK_HDR_LEN);
	le_put32(out, BLOCK_MAGIC);
	out[4] = BLOCK_VERSION;
	le_put32(out + 8, h->clen);
	le_put32(out + 12, h->rlen);
	le_put32(out + 16, h->b.events);
	le_put32(out + 20, h->pcrc);
	le_put64(out + 24, h->b.no);
	le_put64(out + 32, h->b.min_ns);
	le_put64(out + 40, h->b.max_ns);
	le_put64(out + 48, h->b.first_seq);
	le_put64(out + 56, h->b.last_seq);
	memcpy(out + 64, h->b.session, 8);
	le_put32(out + 76, block_crc(out, 76));
}

bool block_hdr_unpack(const uint8_t in[BLOCK_HDR_LEN], struct block_hdr *h)
{
	if (le_get32(in) != BLOCK_MAGIC || in[4] != BLOCK_VERSION ||
	    le_get32(in + 76) != block_crc(in, 76))
		return false;
	h->clen = le_get32(in + 8);
	h->rlen = le_get32(in + 12);
	h->b.events = le_get32(in + 16);
	h->pcrc = le_get32(in + 20);
	h->b.no = le_get64(in + 24);
	h->b.min_ns = le_get64(in + 32);
	h->b.max_ns = le_get64(in + 40);
	h->b.first_seq = le_get64(in + 48);
	h->b.last_seq = le_get64(in + 56);
	memcpy(h->b.session, in + 64, 8);
	return h->b.no && h->b.events && h->rlen && h->rlen <= BLOCK_MAX_RAW &&
	       h->clen <= BLOCK_MAX_RAW && h->b.min_ns <= h->b.max_ns;
}

void journal_hdr_pack(uint64_t block_no, uint8_t out[JOURNAL_HDR_LEN])
{
	memset(out, 0, JOURNAL_HDR_LEN);
	le_put32(out, JOURNAL_MAGIC);
	out[4] = BLOCK_VERSION;
	le_put64(out + 8, block_no);
}

bool journal_hdr_unpack(const uint8_t in[JOURNAL_HDR_LEN], uint64_t *block_no)
{
	if (le_get32(in) != JOURNAL_MAGIC || in[4] != BLOCK_VERSION)
		return false;
	*block_no = le_get64(in + 8);
	return *block_no != 0;
}

void chunk_hdr_pack(const void *payload, uint32_t len, uint8_t out[CHUNK_HDR_LEN])
{
	le_put32(out, len);
	le_put32(out + 4, block_crc(payload, len));
}

int block_read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EIO; /* the file is shorter than its size said */
		done += (size_t)n;
	}
	return 0;
}

/* The header at off, when there is a whole, valid one whose payload fits in the file. */
static bool header_at(int fd, uint64_t off, uint64_t size, struct block_hdr *h)
{
	uint8_t raw[BLOCK_HDR_LEN];

	if (off + BLOCK_HDR_LEN > size || block_read_at(fd, raw, sizeof(raw), off))
		return false;
	return block_hdr_unpack(raw, h) && off + BLOCK_HDR_LEN + h->clen <= size;
}

static bool payload_ok(int fd, const struct block_hdr *h, uint64_t off)
{
	uint8_t *p = malloc(h->clen ? h->clen : 1);
	bool ok;

	if (!p)
		return true; /* cannot tell: keep it; reading checks again */
	ok = !block_read_at(fd, p, h->clen, off + BLOCK_HDR_LEN) &&
	     block_crc(p, h->clen) == h->pcrc;
	free(p);
	return ok;
}

/* The next offset after from where a valid header starts, or size when none: damage is
 * skipped by looking for the magic byte by byte (in pages read at once). */
static uint64_t resync(int fd, uint64_t from, uint64_t size)
{
	uint8_t page[65536];
	uint64_t base = from;

	while (base + BLOCK_HDR_LEN <= size) {
		size_t len = size - base < sizeof(page) ? (size_t)(size - base) : sizeof(page);
		struct block_hdr h;

		if (block_read_at(fd, page, len, base))
			return size;
		for (size_t i = 0; i + 4 <= len; i++)
			if (le_get32(page + i) == BLOCK_MAGIC && header_at(fd, base + i, size, &h))
				return base + i;
		base += len > 3 ? len - 3 : len;
	}
	return size;
}

int block_scan(int fd, uint64_t size, bool verify_last,
	       int (*found)(const struct scanned_block *sb, void *ctx),
	       void (*damaged)(uint64_t from, uint64_t to, void *ctx), void *ctx,
	       struct scan_result *res)
{
	struct scanned_block sb, prev = {0};
	bool have_prev = false;
	uint64_t off = 0;
	int err;

	memset(res, 0, sizeof(*res));
	while (off < size) {
		if (!header_at(fd, off, size, &sb.h)) {
			uint64_t next = resync(fd, off + 1, size);

			if (next >= size)
				break; /* nothing valid after: a torn tail (the caller cuts it) */
			damaged(off, next, ctx);
			res->damaged++;
			res->damaged_bytes += next - off;
			off = next;
			continue;
		}
		sb.off = off;
		if (have_prev) {
			err = found(&prev, ctx);
			if (err)
				return err;
		}
		prev = sb;
		have_prev = true;
		off += BLOCK_HDR_LEN + sb.h.clen;
	}
	if (have_prev) {
		if (verify_last && !payload_ok(fd, &prev.h, prev.off)) {
			res->good_end = prev.off; /* written in part: the tail */
			return 0;
		}
		err = found(&prev, ctx);
		if (err)
			return err;
		res->good_end = prev.off + BLOCK_HDR_LEN + prev.h.clen;
	}
	return 0;
}
