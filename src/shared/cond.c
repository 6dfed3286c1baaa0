/* shared/cond.c — a condition between processes over a shared lock: a sequence word that
 * every notify bumps (the protocol of shared/internal.h), read before the lock is let go,
 * so that a notify between the release and the wait is not lost. */
#include "shared/internal.h"

struct weft_shared_cond {
    weft_shared_lock *lock;           /* the same address in every process sharing it */
    weft__shared_sync sync;
};

#define COND_MAP 4096

int weft_shared_cond_create(weft_shared_cond **c, weft_shared_lock *lock)
{
    if (!c || !lock) return -EINVAL;
    weft_shared_cond *m = weft__shared_map(COND_MAP);
    if (!m) return -ENOMEM;
    m->lock = lock;
    *c = m;
    return 0;
}

int weft_shared_cond_wait(weft_shared_cond *c, int64_t timeout)
{
    if (!c) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    weft__shared_lock_state *st = weft__shared_lock_state_of(c->lock);
    if (atomic_load_explicit(&st->owner, memory_order_relaxed) == 0) return -EPERM;
    atomic_fetch_add_explicit(&c->sync.waiters, 1, memory_order_seq_cst);
    uint32_t seen = atomic_load_explicit(&c->sync.seq, memory_order_seq_cst);
    weft__shared_lock_give(st);
    /* The slices of the wait are not wake-ups: wait until seq moves, or the end. */
    while (rc == 0 && atomic_load_explicit(&c->sync.seq, memory_order_seq_cst) == seen)
        rc = weft__shared_wait(&c->sync.seq, seen, deadline);
    atomic_fetch_sub_explicit(&c->sync.waiters, 1, memory_order_relaxed);
    int again = weft__shared_lock_take_shielded(st);   /* whatever the wait's end */
    return again == -EOWNERDEAD ? again : rc;
}

int weft_shared_cond_notify_all(weft_shared_cond *c)
{
    if (!c) return -EINVAL;
    /* Count first, bump last: the bump is the last touch of the condition before the
     * wake-up (a waiter may return and unmap it once it sees seq move). A waiter counted
     * after the look read seq under the lock before the notifier took it, or sees the
     * bump itself. */
    bool sleepers = atomic_load_explicit(&c->sync.waiters, memory_order_seq_cst) != 0;
    atomic_fetch_add_explicit(&c->sync.seq, 1, memory_order_seq_cst);
    if (sleepers) weft__shared_wake(&c->sync.seq);
    return 0;
}

void weft_shared_cond_destroy(weft_shared_cond *c)
{
    weft__shared_unmap(c, COND_MAP);
}
