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

/* Tables of a huge page or more are mapped in whole huge pages (their tail shares no page with
 * anything else); smaller ones in whole pages, so a small table costs no 2 MiB. */
static size_t map_len(size_t len)
{
	size_t unit = len >= HUGE_PAGE ? HUGE_PAGE : (size_t)sysconf(_SC_PAGESIZE);

	return (len + unit - 1) & ~(unit - 1);
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
