/* shared/sem.c — a counting semaphore between processes: a count taken by
 * compare-and-swap, and the wait protocol of shared/internal.h. */
#include "shared/internal.h"

struct weft_shared_sem {
    _Atomic int32_t value;
    weft__shared_sync sync;
};

#define SEM_MAP 4096

int weft_shared_sem_create(weft_shared_sem **s, unsigned value)
{
    if (!s || value > INT32_MAX) return -EINVAL;
    weft_shared_sem *m = weft__shared_map(SEM_MAP);
    if (!m) return -ENOMEM;
    atomic_store(&m->value, (int32_t)value);
    *s = m;
    return 0;
}

static bool try_take(weft_shared_sem *s)
{
    int32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

int weft_shared_sem_acquire(weft_shared_sem *s, int64_t timeout)
{
    if (!s) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (weft__cancel_pending()) return -ECANCELED;
    if (try_take(s)) return 0;
    for (;;) {
        atomic_fetch_add_explicit(&s->sync.waiters, 1, memory_order_seq_cst);
        uint32_t seen = atomic_load_explicit(&s->sync.seq, memory_order_seq_cst);
        if (atomic_load_explicit(&s->value, memory_order_seq_cst) <= 0)
            rc = weft__shared_wait(&s->sync.seq, seen, deadline);
        atomic_fetch_sub_explicit(&s->sync.waiters, 1, memory_order_relaxed);
        if (rc) return rc;            /* a cancelled or timed-out wait takes nothing */
        if (try_take(s)) return 0;
    }
}

int weft_shared_sem_release(weft_shared_sem *s)
{
    if (!s) return -EINVAL;
    int32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    do {
        if (v == INT32_MAX) return -EOVERFLOW;
    } while (!atomic_compare_exchange_weak_explicit(&s->value, &v, v + 1, memory_order_seq_cst,
                                                    memory_order_relaxed));
    weft__shared_changed(&s->sync);
    return 0;
}

unsigned weft_shared_sem_value(weft_shared_sem *s)
{
    if (!s) return 0;
    int32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    return v > 0 ? (unsigned)v : 0;
}

void weft_shared_sem_destroy(weft_shared_sem *s)
{
    weft__shared_unmap(s, SEM_MAP);
}
