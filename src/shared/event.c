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
    /* Only a set moves seq: once it has moved since the first look, a set happened while
     * we waited, even if a clear came before we looked again (Python's wait returns True). */
    atomic_fetch_add_explicit(&e->sync.waiters, 1, memory_order_seq_cst);
    uint32_t first = atomic_load_explicit(&e->sync.seq, memory_order_seq_cst);
    for (;;) {
        uint32_t seen = atomic_load_explicit(&e->sync.seq, memory_order_seq_cst);
        bool set = seen != first || atomic_load_explicit(&e->flag, memory_order_seq_cst);
        if (!set) rc = weft__shared_wait(&e->sync.seq, seen, deadline);
        set = set || atomic_load_explicit(&e->sync.seq, memory_order_seq_cst) != first ||
              atomic_load_explicit(&e->flag, memory_order_acquire);
        if (set || rc) {
            atomic_fetch_sub_explicit(&e->sync.waiters, 1, memory_order_relaxed);
            return set ? 0 : rc;                  /* the outcome wins over the timeout */
        }
    }
}

void weft_shared_event_destroy(weft_shared_event *e)
{
    weft__shared_unmap(e, EVENT_MAP);
}
