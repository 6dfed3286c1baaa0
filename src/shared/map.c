/* shared/map.c — the shared mappings every shared object lives in.
 *
 * Anonymous and MAP_SHARED: a child made by fork (weft_process_start, a pool's workers,
 * the program's own fork) shares the pages, at the same address; nothing has a name that
 * another user could open. Any context; never blocks (beyond the page-table work). */
#include "shared/internal.h"

#include <sys/mman.h>

void *weft__shared_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void weft__shared_unmap(void *p, size_t size)
{
    if (p) munmap(p, size);
}
