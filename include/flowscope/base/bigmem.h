/* Large tables allocated once for the life of their owner (the flow store, the event log, the
 * graph's tracked flows): anonymous mappings that ask for transparent huge pages and are faulted
 * in at allocation, so that the hot path never takes a page fault and touches few TLB entries.
 * On the KVM/PVM guests this runs on, a first touch or a TLB refill of a 4 KiB page in a table
 * of hundreds of MiB cost more than the work done per record (bench_collector). */
#ifndef FLOWSCOPE_BASE_BIGMEM_H
#define FLOWSCOPE_BASE_BIGMEM_H

#include <stddef.h>

/* len zeroed bytes, every page mapped; NULL with errno set. Free with bigmem_free(p, len). */
void *bigmem_alloc(size_t len);
void bigmem_free(void *p, size_t len);

#endif /* FLOWSCOPE_BASE_BIGMEM_H */
