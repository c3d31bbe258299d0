/* The history's on-disk formats (internal to collector/history): block headers, journal
 * framing, and reading a segment file back into its blocks. All integers little-endian. */
#ifndef FLOWSCOPE_HISTORY_BLOCK_H
#define FLOWSCOPE_HISTORY_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/history/history.h"

#define BLOCK_MAGIC 0x42485346u	  /* "FSHB" */
#define JOURNAL_MAGIC 0x4a485346u /* "FSHJ" */
#define BLOCK_VERSION 1
#define BLOCK_HDR_LEN 80
#define JOURNAL_HDR_LEN 16
#define CHUNK_HDR_LEN 8
#define BLOCK_MAX_RAW (64u << 20) /* a header claiming more is damaged */

/* Little-endian integers in the files, whatever the host. */
static inline void le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p)
{
	return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

struct block_hdr {
	struct history_block b;
	uint32_t clen, rlen; /* compressed payload after the header; the records' length */
	uint32_t pcrc;	     /* CRC-32 of the compressed payload */
};

void block_hdr_pack(const struct block_hdr *h, uint8_t out[BLOCK_HDR_LEN]);
/* False when the bytes are not a block header (magic, version, CRC, lengths). */
bool block_hdr_unpack(const uint8_t in[BLOCK_HDR_LEN], struct block_hdr *h);

uint32_t block_crc(const void *data, size_t len);

/* All of len bytes at off: 0, -EIO when the file ends before, or a read's negative errno. */
int block_read_at(int fd, void *buf, size_t len, uint64_t off);

void journal_hdr_pack(uint64_t block_no, uint8_t out[JOURNAL_HDR_LEN]);
bool journal_hdr_unpack(const uint8_t in[JOURNAL_HDR_LEN], uint64_t *block_no);
void chunk_hdr_pack(const void *payload, uint32_t len, uint8_t out[CHUNK_HDR_LEN]);

/* One block found in a segment file. */
struct scanned_block {
	struct block_hdr h;
	uint64_t off; /* of its header */
};

/* What a scan of a segment found besides its blocks. */
struct scan_result {
	uint64_t good_end;	/* where the last good block ends: a torn tail starts here */
	uint64_t damaged_bytes; /* bytes skipped between good blocks */
	unsigned int damaged;	/* stretches skipped */
};

/* Reads the headers of every block in the file (size bytes) in order, resynchronising past
 * damage on the next valid header; calls found for each good block and damaged for each
 * stretch skipped (the offsets of the stretch). verify_last checks the last block's payload CRC
 * too (a torn write can leave a whole header). Returns 0 or a negative errno (read error). */
int block_scan(int fd, uint64_t size, bool verify_last,
	       int (*found)(const struct scanned_block *sb, void *ctx),
	       void (*damaged)(uint64_t from, uint64_t to, void *ctx), void *ctx,
	       struct scan_result *res);

#endif /* FLOWSCOPE_HISTORY_BLOCK_H */
