/* Large, prefaulted, huge-page-backed allocations (see include/flowscope/base/bigmem.h). */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flowscope/base/bigmem.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HUGE_PAGE (2u << 20)

/* Mappings are whole huge pages: a table's tail shares no page with anything else. */
static size_t map_len(size_t len)
{
	return (len + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
}

void *bigmem_alloc(size_t len)
{
	size_t n = map_len(len ? len : 1);
	long page = sysconf(_SC_PAGESIZE);
	volatile char *c;
	void *p;

	if (n < len) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Both are hints: without huge pages (THP "never") or POPULATE_WRITE (before 5.14) the
	 * table still works, with 4 KiB pages touched here one by one. */
	(void)madvise(p, n, MADV_HUGEPAGE);
	if (madvise(p, n, MADV_POPULATE_WRITE) != 0)
		for (c = p; c < (volatile char *)p + n; c += page)
			*c = 0;
	return p;
}

void bigmem_free(void *p, size_t len)
{
	if (p)
		munmap(p, map_len(len ? len : 1));
}
