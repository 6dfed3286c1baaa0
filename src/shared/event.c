/* shared/event.c — an event between processes: a flag and the wait protocol of
 * shared/internal.h. */
#include "shared/internal.h"

struct weft_shared_event {
    _Atomic uint32_t flag;
    weft__shared_sync sync;
};

#define EVENT_MAP 4096

int weft_shared_event_create(weft_shared_event **e)
{
    if (!e) return -EINVAL;
    weft_shared_event *m = weft__shared_map(EVENT_MAP);
    if (!m) return -ENOMEM;
    *e = m;
    return 0;
}

int weft_shared_event_set(weft_shared_event *e)
{
    if (!e) return -EINVAL;
    if (!atomic_exchange_explicit(&e->flag, 1, memory_order_seq_cst))
        weft__shared_changed(&e->sync);
    return 0;
}

int weft_shared_event_clear(weft_shared_event *e)
{
    if (!e) return -EINVAL;
    atomic_store_explicit(&e->flag, 0, memory_order_seq_cst);
    return 0;
}

bool weft_shared_event_is_set(weft_shared_event *e)
{
    return e && atomic_load_explicit(&e->flag, memory_order_acquire);
}

int weft_shared_event_wait(weft_shared_event *e, int64_t timeout)
{
    if (!e) return -EINVAL;
    if (atomic_load_explicit(&e->flag, memory_order_acquire)) return 0;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    for (;;) {
        atomic_fetch_add_explicit(&e->sync.waiters, 1, memory_order_seq_cst);
        uint32_t seen = atomic_load_explicit(&e->sync.seq, memory_order_seq_cst);
        if (!atomic_load_explicit(&e->flag, memory_order_seq_cst))
            rc = weft__shared_wait(&e->sync.seq, seen, deadline);
        atomic_fetch_sub_explicit(&e->sync.waiters, 1, memory_order_relaxed);
        if (atomic_load_explicit(&e->flag, memory_order_acquire)) return 0;  /* outcome wins */
        if (rc) return rc;
    }
}

void weft_shared_event_destroy(weft_shared_event *e)
{
    weft__shared_unmap(e, EVENT_MAP);
}
