/* shared/mem.c — Value / Array: shared bytes and a lock for them, in one mapping (the
 * lock's state in the first 64 bytes, the bytes after it). */
#include "shared/internal.h"

struct weft_shared_mem {
    size_t size, map_size;
    weft__shared_lock_state lock_state __attribute__((aligned(16)));
    char data[] __attribute__((aligned(64)));
};

/* A public lock is nothing but its state (lock.c): the state here can be handed out as one. */
_Static_assert(sizeof(weft__shared_lock_state) <= 64, "the lock fits before the data");

int weft_shared_mem_create(weft_shared_mem **m, size_t size)
{
    if (!m || size == 0 || size > ((size_t)1 << 40)) return -EINVAL;
    size_t map_size = sizeof(weft_shared_mem) + size;
    weft_shared_mem *p = weft__shared_map(map_size);
    if (!p) return -ENOMEM;
    p->size = size;
    p->map_size = map_size;
    *m = p;
    return 0;
}

void *weft_shared_mem_data(weft_shared_mem *m) { return m ? m->data : NULL; }
size_t weft_shared_mem_size(weft_shared_mem *m) { return m ? m->size : 0; }
weft_shared_lock *weft_shared_mem_lock(weft_shared_mem *m)
{
    return m ? (weft_shared_lock *)(void *)&m->lock_state : NULL;
}

void weft_shared_mem_destroy(weft_shared_mem *m)
{
    if (m) weft__shared_unmap(m, m->map_size);
}
