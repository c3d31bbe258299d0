/* History engines, measured side by side in one run (issue 13 asks the engine to be chosen by
 * measurement): N synthetic flow events (time, addresses, ports, protocol, verdict, event type,
 * node, counters, flow id; spread over 10 hours, 20% to port 443) written and queried by
 *   sqlite: SQLite in WAL mode (synchronous=NORMAL), one prepared INSERT, a transaction per
 *     8192 events, an index on time (the baseline);
 *   blocks: an append-only file of blocks of 8192 events, each column stored together (times
 *     as varint deltas), compressed with zstd level 1, each block headed by its time range and
 *     a 64-bit bloom of its destination ports; fdatasync per block.
 * Per engine: ingest events/s on one core, bytes per event on disk, `--since 1h --to-port 443`
 * (count the matching events of the last hour), a broad query (every event of the last hour),
 * and the time to open the store again and find its time range. Rounds alternate the engines;
 * medians with min..max.
 * Usage: bench_history [ROUNDS [N]]  (defaults 3, 1000000); files in a temporary directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <zstd.h>

#define BLOCK 8192
#define SPAN_NS (10ULL * 3600 * 1000000000ULL)
#define HOUR_NS (3600ULL * 1000000000ULL)

struct ev {
	uint64_t time_ns;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t proto, verdict, event, flags;
	uint16_t node;
	uint64_t bytes;
	uint32_t packets;
	uint64_t flow_id;
};

static struct ev *evs;
static long n_evs;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_history: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Connections (a pool of 20000) each telling a few events; times grow. */
static void generate(long n)
{
	static const uint16_t ports[] = {443, 443, 80, 53, 8080, 5432, 6379, 443, 9090, 22};
	uint64_t t = 1796000000ULL * 1000000000ULL, step = SPAN_NS / (uint64_t)n;
	unsigned int seed = 12345;
	long i;

	evs = calloc((size_t)n, sizeof(*evs));
	if (!evs)
		die("calloc");
	for (i = 0; i < n; i++) {
		struct ev *e = &evs[i];
		unsigned int c = (unsigned int)rand_r(&seed) % 20000;

		t += step / 2 + (uint64_t)rand_r(&seed) % step;
		e->time_ns = t;
		e->src[10] = e->src[11] = e->dst[10] = e->dst[11] = 0xff;
		e->src[12] = 10;
		e->src[13] = (uint8_t)(c >> 8);
		e->src[14] = (uint8_t)c;
		e->src[15] = 1;
		e->dst[12] = 10;
		e->dst[13] = 200;
		e->dst[15] = (uint8_t)(c % 50);
		e->sport = (uint16_t)(32768 + c);
		e->dport = c % 5 == 0 ? 443 : ports[c % 10];
		e->proto = e->dport == 53 ? 17 : 6;
		e->verdict = c % 97 == 0 ? 2 : 1;
		e->event = (uint8_t)(rand_r(&seed) % 4);
		e->flags = (uint8_t)(rand_r(&seed) % 32);
		e->node = (uint16_t)(c % 16);
		e->bytes = (uint64_t)(rand_r(&seed) % 100000);
		e->packets = (uint32_t)(e->bytes / 700 + 1);
		e->flow_id = c + 1;
	}
	n_evs = n;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (long)st.st_size;
}

/* ---- sqlite ------------------------------------------------------------------------------- */

static void sq(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench_history: sqlite: %s: %s\n", sql, err);
		exit(1);
	}
}

static void sqlite_ingest(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long i;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite3_open");
	sq(db, "PRAGMA journal_mode=WAL");
	sq(db, "PRAGMA synchronous=NORMAL");
	sq(db, "CREATE TABLE ev (time INTEGER, src BLOB, dst BLOB, sport INTEGER, dport INTEGER, "
	       "proto INTEGER, verdict INTEGER, event INTEGER, flags INTEGER, node INTEGER, "
	       "bytes INTEGER, packets INTEGER, flow_id INTEGER)");
	sq(db, "CREATE INDEX ev_time ON ev (time)");
	if (sqlite3_prepare_v2(db, "INSERT INTO ev VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st,
			       NULL) != SQLITE_OK)
		die("prepare");
	for (i = 0; i < n_evs; i++) {
		const struct ev *e = &evs[i];

		if (i % BLOCK == 0)
			sq(db, "BEGIN");
		sqlite3_bind_int64(st, 1, (sqlite3_int64)e->time_ns);
		sqlite3_bind_blob(st, 2, e->src, 16, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, e->dst, 16, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, e->sport);
		sqlite3_bind_int(st, 5, e->dport);
		sqlite3_bind_int(st, 6, e->proto);
		sqlite3_bind_int(st, 7, e->verdict);
		sqlite3_bind_int(st, 8, e->event);
		sqlite3_bind_int(st, 9, e->flags);
		sqlite3_bind_int(st, 10, e->node);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)e->bytes);
		sqlite3_bind_int(st, 12, (int)e->packets);
		sqlite3_bind_int64(st, 13, (sqlite3_int64)e->flow_id);
		if (sqlite3_step(st) != SQLITE_DONE)
			die("insert");
		sqlite3_reset(st);
		if (i % BLOCK == BLOCK - 1 || i == n_evs - 1)
			sq(db, "COMMIT");
	}
	sqlite3_finalize(st);
	sq(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
}

/* Events of the last hour (with dport, those to that port): every row read, as a query
 * answering them would. */
static long sqlite_query(const char *path, int dport)
{
	uint64_t since = evs[n_evs - 1].time_ns - HOUR_NS;
	sqlite3 *db;
	sqlite3_stmt *st;
	long n = 0;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite3_open");
	if (sqlite3_prepare_v2(
		    db,
		    dport ? "SELECT * FROM ev WHERE time >= ? AND dport = ? ORDER BY time"
			  : "SELECT * FROM ev WHERE time >= ? ORDER BY time",
		    -1, &st, NULL) != SQLITE_OK)
		die("prepare");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	if (dport)
		sqlite3_bind_int(st, 2, dport);
	while (sqlite3_step(st) == SQLITE_ROW)
		n += sqlite3_column_int64(st, 0) != 0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void sqlite_open_range(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite3_open");
	if (sqlite3_prepare_v2(db, "SELECT min(time), max(time) FROM ev", -1, &st, NULL) !=
	    SQLITE_OK)
		die("prepare");
	if (sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_int64(st, 1))
		die("range");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- blocks ------------------------------------------------------------------------------- */

struct block_head {
	uint32_t magic, count;
	uint64_t min_time, max_time;
	uint64_t port_bloom;
	uint32_t raw_len, comp_len;
};

#define MAGIC 0x46534231 /* "FSB1" */

static uint64_t port_bit(uint16_t port)
{
	return 1ULL << ((port * 2654435761U) >> 26 & 63);
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t get_varint(const uint8_t *p, uint64_t *v)
{
	size_t n = 0;
	int shift = 0;

	*v = 0;
	do {
		*v |= (uint64_t)(p[n] & 0x7f) << shift;
		shift += 7;
	} while (p[n++] & 0x80);
	return n;
}

/* Columns of e[0..n) into out (returns the length); decode() undoes it. */
static size_t encode(const struct ev *e, int n, uint8_t *out)
{
	size_t o = 0;
	uint64_t prev = e[0].time_ns;
	int i;

	memcpy(out, &prev, 8);
	o = 8;
	for (i = 0; i < n; prev = e[i].time_ns, i++)
		o += put_varint(out + o, e[i].time_ns - prev);
#define COL(field, size)                                                                           \
	for (i = 0; i < n; i++, o += (size))                                                       \
		memcpy(out + o, &e[i].field, (size));
	COL(src, 16)
	COL(dst, 16)
	COL(sport, 2)
	COL(dport, 2)
	COL(proto, 1)
	COL(verdict, 1)
	COL(event, 1)
	COL(flags, 1)
	COL(node, 2)
#undef COL
	for (i = 0; i < n; i++)
		o += put_varint(out + o, e[i].bytes);
	for (i = 0; i < n; i++)
		o += put_varint(out + o, e[i].packets);
	for (i = 0; i < n; i++)
		o += put_varint(out + o, e[i].flow_id);
	return o;
}

static void decode(const uint8_t *in, int n, struct ev *e)
{
	size_t o = 8;
	uint64_t t, d;
	int i;

	memcpy(&t, in, 8);
	for (i = 0; i < n; i++) {
		o += get_varint(in + o, &d);
		t += d;
		e[i].time_ns = t;
	}
#define COL(field, size)                                                                           \
	for (i = 0; i < n; i++, o += (size))                                                       \
		memcpy(&e[i].field, in + o, (size));
	COL(src, 16)
	COL(dst, 16)
	COL(sport, 2)
	COL(dport, 2)
	COL(proto, 1)
	COL(verdict, 1)
	COL(event, 1)
	COL(flags, 1)
	COL(node, 2)
#undef COL
	for (i = 0; i < n; i++)
		o += get_varint(in + o, &e[i].bytes);
	for (i = 0; i < n; i++) {
		o += get_varint(in + o, &d);
		e[i].packets = (uint32_t)d;
	}
	for (i = 0; i < n; i++)
		o += get_varint(in + o, &e[i].flow_id);
}

static uint8_t raw[BLOCK * 128], comp[BLOCK * 136];

static void blocks_ingest(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	long i;

	if (fd < 0 || !cc)
		die("open");
	for (i = 0; i < n_evs; i += BLOCK) {
		int n = n_evs - i < BLOCK ? (int)(n_evs - i) : BLOCK, k;
		struct block_head h = {.magic = MAGIC, .count = (uint32_t)n};
		size_t len = encode(&evs[i], n, raw), c;

		h.min_time = evs[i].time_ns;
		h.max_time = evs[i + n - 1].time_ns;
		for (k = 0; k < n; k++)
			h.port_bloom |= port_bit(evs[i + k].dport);
		c = ZSTD_compressCCtx(cc, comp, sizeof(comp), raw, len, 1);
		if (ZSTD_isError(c))
			die("zstd");
		h.raw_len = (uint32_t)len;
		h.comp_len = (uint32_t)c;
		if (write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
		    write(fd, comp, c) != (ssize_t)c)
			die("write");
		fdatasync(fd);
	}
	ZSTD_freeCCtx(cc);
	close(fd);
}

/* The same two queries: blocks outside the time range or without the port are skipped. */
static long blocks_query(const char *path, int dport)
{
	static struct ev out[BLOCK];
	uint64_t since = evs[n_evs - 1].time_ns - HOUR_NS;
	int fd = open(path, O_RDONLY);
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	struct block_head h;
	long n = 0;

	if (fd < 0 || !dc)
		die("open");
	while (read(fd, &h, sizeof(h)) == (ssize_t)sizeof(h)) {
		int k;

		if (h.magic != MAGIC)
			die("magic");
		if (h.max_time < since || (dport && !(h.port_bloom & port_bit((uint16_t)dport)))) {
			lseek(fd, h.comp_len, SEEK_CUR);
			continue;
		}
		if (read(fd, comp, h.comp_len) != (ssize_t)h.comp_len)
			die("read");
		if (ZSTD_isError(ZSTD_decompressDCtx(dc, raw, sizeof(raw), comp, h.comp_len)))
			die("zstd");
		decode(raw, (int)h.count, out);
		for (k = 0; k < (int)h.count; k++)
			n += out[k].time_ns >= since && (!dport || out[k].dport == dport);
	}
	ZSTD_freeDCtx(dc);
	close(fd);
	return n;
}

static void blocks_open_range(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct block_head h;
	uint64_t lo = 0, hi = 0;

	if (fd < 0)
		die("open");
	while (read(fd, &h, sizeof(h)) == (ssize_t)sizeof(h)) {
		if (h.magic != MAGIC)
			die("magic");
		if (!lo)
			lo = h.min_time;
		hi = h.max_time;
		lseek(fd, h.comp_len, SEEK_CUR);
	}
	close(fd);
	if (!hi || hi < lo)
		die("range");
}

/* ---- main --------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum { INGEST, SELECTIVE, BROAD, OPEN, NMEAS };

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 3, r, e, m;
	long n = argc > 2 ? atol(argv[2]) : 1000000, want_sel = 0, want_broad = 0, i;
	const char *names[] = {"sqlite", "blocks"};
	double v[2][NMEAS][32], bytes[2] = {0, 0};
	char dir[] = "/tmp/bench_history.XXXXXX", path[2][64];
	uint64_t since;

	if (rounds < 1 || rounds > 32 || n < BLOCK || n > 20000000) {
		fprintf(stderr, "usage: %s [ROUNDS (1..32) [N (%d..20000000)]]\n", argv[0], BLOCK);
		return 2;
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	generate(n);
	since = evs[n - 1].time_ns - HOUR_NS;
	for (i = 0; i < n; i++) {
		want_broad += evs[i].time_ns >= since;
		want_sel += evs[i].time_ns >= since && evs[i].dport == 443;
	}
	for (r = 0; r < rounds; r++) {
		for (e = 0; e < 2; e++) {
			int k = (e + r) % 2;
			double t0;
			long got;

			snprintf(path[k], sizeof(path[k]), "%s/%s", dir, names[k]);
			unlink(path[k]);
			t0 = now_s();
			if (k)
				blocks_ingest(path[k]);
			else
				sqlite_ingest(path[k]);
			v[k][INGEST][r] = n / (now_s() - t0);
			bytes[k] = (double)file_size(path[k]) / n;
			t0 = now_s();
			got = k ? blocks_query(path[k], 443) : sqlite_query(path[k], 443);
			v[k][SELECTIVE][r] = (now_s() - t0) * 1e3;
			if (got != want_sel) {
				fprintf(stderr, "bench_history: %s found %ld, want %ld\n", names[k],
					got, want_sel);
				return 1;
			}
			t0 = now_s();
			got = k ? blocks_query(path[k], 0) : sqlite_query(path[k], 0);
			v[k][BROAD][r] = (now_s() - t0) * 1e3;
			if (got != want_broad) {
				fprintf(stderr, "bench_history: %s found %ld, want %ld\n", names[k],
					got, want_broad);
				return 1;
			}
			t0 = now_s();
			if (k)
				blocks_open_range(path[k]);
			else
				sqlite_open_range(path[k]);
			v[k][OPEN][r] = (now_s() - t0) * 1e3;
			unlink(path[k]);
			snprintf(path[k], sizeof(path[k]), "%s/%s-wal", dir, names[k]);
			unlink(path[k]);
			snprintf(path[k], sizeof(path[k]), "%s/%s-shm", dir, names[k]);
			unlink(path[k]);
		}
	}
	rmdir(dir);
	printf("History engines: %ld flow events over 10 h, median of %d rounds (min..max); "
	       "queries over the last hour (%ld events, %ld to port 443)\n",
	       n, rounds, want_broad, want_sel);
	printf("%-8s %28s %8s %24s %24s %22s\n", "engine", "ingest events/s", "B/event",
	       "1h to-port 443 ms", "1h all ms", "open+range ms");
	{
		double med[2][NMEAS];

		for (e = 0; e < 2; e++) {
			double lo[NMEAS], hi[NMEAS];

			for (m = 0; m < NMEAS; m++) {
				qsort(v[e][m], rounds, sizeof(double), cmp_double);
				med[e][m] =
					rounds % 2
						? v[e][m][rounds / 2]
						: (v[e][m][rounds / 2 - 1] + v[e][m][rounds / 2]) /
							  2;
				lo[m] = v[e][m][0];
				hi[m] = v[e][m][rounds - 1];
			}
			printf("%-8s %9.0f (%7.0f..%7.0f) %8.1f %7.1f (%6.1f..%6.1f) %7.1f (%6.1f..%6.1f) "
			       "%6.2f (%6.2f..%6.2f)\n",
			       names[e], med[e][INGEST], lo[INGEST], hi[INGEST], bytes[e],
			       med[e][SELECTIVE], lo[SELECTIVE], hi[SELECTIVE], med[e][BROAD],
			       lo[BROAD], hi[BROAD], med[e][OPEN], lo[OPEN], hi[OPEN]);
		}
		printf("blocks against sqlite: ingest %.2fx, bytes %.2fx, 1h to-port 443 %.2fx faster, 1h "
		       "all %.2fx faster, open %.2fx faster\n",
		       med[1][INGEST] / med[0][INGEST], bytes[1] / bytes[0],
		       med[0][SELECTIVE] / med[1][SELECTIVE], med[0][BROAD] / med[1][BROAD],
		       med[0][OPEN] / med[1][OPEN]);
		for (e = 0; e < 2; e++)
			printf("{\"bench\":\"history\",\"engine\":\"%s\",\"events\":%ld,"
			       "\"ingest_per_s\":%.0f,\"ingest_ratio\":%.3f,\"bytes_per_event\":%.1f,"
			       "\"selective_ms\":%.1f,\"broad_ms\":%.1f,\"open_ms\":%.2f,"
			       "\"baseline\":\"sqlite\",\"rounds\":%d}\n",
			       names[e], n, med[e][INGEST], med[e][INGEST] / med[0][INGEST],
			       bytes[e], med[e][SELECTIVE], med[e][BROAD], med[e][OPEN], rounds);
	}
	return 0;
}
