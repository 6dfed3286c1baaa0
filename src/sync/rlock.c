/* sync/rlock.c — weft_rlock: threading.RLock for threads and coroutines.
 *
 * A weft_lock plus an owner and a count. The owner is the context id (weft__context_id: a
 * coroutine's or a thread's), written only by the owner and read by anyone: a context can
 * only ever see its own id there if it is the owner, so a relaxed load decides reentry.
 * count is touched only by the owner.
 */
#include "sync/internal.h"

struct weft_rlock {
    weft_lock lock;
    _Atomic uint64_t owner;             /* context id, 0 when free */
    uint32_t count;                     /* owner only */
};

int weft_rlock_create(weft_rlock **out)
{
    if (!out) return -EINVAL;
    weft_rlock *r = weft__malloc(sizeof *r);
    if (!r) return -ENOMEM;
    weft__lock_init(&r->lock);
    atomic_init(&r->owner, 0);
    r->count = 0;
    *out = r;
    return 0;
}

int weft__rlock_acquire(weft_rlock *r, int64_t deadline, bool shielded, uint32_t count)
{
    uint64_t me = weft__context_id();
    if (atomic_load_explicit(&r->owner, memory_order_relaxed) == me) {
        r->count += count;
        return 0;
    }
    int rc = weft__lock_acquire(&r->lock, deadline, shielded);
    if (rc) return rc;
    atomic_store_explicit(&r->owner, me, memory_order_relaxed);
    r->count = count;
    return 0;
}

int weft_rlock_acquire(weft_rlock *r, int64_t timeout)
{
    if (!r) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    return weft__rlock_acquire(r, deadline, false, 1);
}

bool weft__rlock_owned(weft_rlock *r)
{
    return atomic_load_explicit(&r->owner, memory_order_relaxed) == weft__context_id();
}

uint32_t weft__rlock_release_all(weft_rlock *r)
{
    uint32_t count = r->count;
    r->count = 0;
    atomic_store_explicit(&r->owner, 0, memory_order_relaxed);
    weft_lock_release(&r->lock);
    return count;
}

int weft_rlock_release(weft_rlock *r)
{
    if (!r) return -EINVAL;
    if (!weft__rlock_owned(r)) return -EPERM;
    if (--r->count > 0) return 0;
    atomic_store_explicit(&r->owner, 0, memory_order_relaxed);
    return weft_lock_release(&r->lock);
}

void weft_rlock_destroy(weft_rlock *r)
{
    if (!r) return;
    weft__mutex_lock(&r->lock.m);
    if (!weft__list_empty(&r->lock.waiters))
        weft__destroy_busy("weft_rlock_destroy", &r->lock.waiters);
    weft__mutex_unlock(&r->lock.m);
    weft__lock_fini(&r->lock);
    weft__free(r);
}
