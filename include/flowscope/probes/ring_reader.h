/* Drains the probes' per-CPU ring buffers from the libuv loop: one libbpf ring_buffer joins
 * every ring, and a uv_poll on its epoll fd wakes the loop when records arrive. */
#ifndef FLOWSCOPE_PROBES_RING_READER_H
#define FLOWSCOPE_PROBES_RING_READER_H

#include <stddef.h>
#include <uv.h>

struct ring_reader;

/* Called for each record; the data is only valid during the call. */
typedef void (*ring_reader_cb)(void *ctx, const void *data, size_t len);

/* Starts reading the n ring buffer map fds. Returns 0 or a negative errno. */
int ring_reader_start(struct ring_reader **out, uv_loop_t *loop, const int *fds, int n,
		      ring_reader_cb cb, void *ctx);
/* Optional: prefetch(ctx, data, len) is told of each record (up to 192 bytes) a few records
 * before cb gets it, in the same pass, to start the loads its handling will need; records keep
 * their order. NULL: none (cb at once). */
void ring_reader_set_prefetch(struct ring_reader *r, ring_reader_cb prefetch);
/* Reads whatever is left in the rings now (e.g. before shutdown); returns records read. */
int ring_reader_drain(struct ring_reader *r);
/* Bytes written to the rings and not read yet, summed over every ring, and their total size
 * (from each ring's producer and consumer positions). Returns 0 or a negative errno. */
int ring_reader_usage(struct ring_reader *r, uint64_t *pending, uint64_t *capacity);
/* Stops polling and frees r once the loop has closed its handle. */
void ring_reader_stop(struct ring_reader *r);

#endif /* FLOWSCOPE_PROBES_RING_READER_H */
