/* sync/cond.c — weft_cond: threading.Condition / asyncio.Condition on a lock or an rlock.
 *
 * wait: link a node into the condition's list (under m), release the user's lock, park,
 * then take the user's lock back shielded (a cancelled coroutine still gets it back, so
 * the caller's "with lock" discipline holds on every path). notify claims waiters from
 * the head. The user's lock orders notifies against the waits that should see them: a
 * waiter is on the list before it releases the lock, and a notifier holds the lock.
 *
 * Locking: m guards the list (and its count, for weft_cond_waiters) only; it is never
 * held while the user's lock is taken.
 */
#include "sync/internal.h"

struct weft_cond {
    weft__mutex m;
    weft__list waiters;                 /* m */
    size_t nwaiters;                    /* m: nodes on waiters */
    weft_lock *lock;                    /* exactly one of lock and rlock */
    weft_rlock *rlock;
    bool own_lock;                      /* lock was made by weft_cond_create */
};

static int make(weft_cond **out, weft_lock *lock, weft_rlock *rlock)
{
    weft_cond *c = weft__malloc(sizeof *c);
    if (!c) return -ENOMEM;
    c->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&c->waiters);
    c->nwaiters = 0;
    c->lock = lock;
    c->rlock = rlock;
    c->own_lock = false;
    if (!lock && !rlock) {
        int rc = weft_lock_create(&c->lock);
        if (rc) {
            weft__free(c);
            return rc;
        }
        c->own_lock = true;
    }
    *out = c;
    return 0;
}

int weft_cond_create(weft_cond **c, weft_lock *lock)
{
    return c ? make(c, lock, NULL) : -EINVAL;
}

int weft_cond_create_rlock(weft_cond **c, weft_rlock *lock)
{
    return c && lock ? make(c, NULL, lock) : -EINVAL;
}

weft_lock *weft_cond_lock(weft_cond *c)
{
    return c ? c->lock : NULL;
}

int weft_cond_acquire(weft_cond *c, int64_t timeout)
{
    if (!c) return -EINVAL;
    return c->lock ? weft_lock_acquire(c->lock, timeout) : weft_rlock_acquire(c->rlock, timeout);
}

int weft_cond_release(weft_cond *c)
{
    if (!c) return -EINVAL;
    return c->lock ? weft_lock_release(c->lock) : weft_rlock_release(c->rlock);
}

/* Does the caller hold the condition's lock, as far as can be told? (A plain lock has no
 * owner: held by anyone counts, as Python's Condition does for a Lock.) */
static bool held(weft_cond *c)
{
    return c->lock ? weft__lock_held(c->lock) : weft__rlock_owned(c->rlock);
}

static int wait_until(weft_cond *c, int64_t deadline)
{
    weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own; free
                                                        again before the re-acquire below */
    weft__waiter_init(&p->w);
    weft__mutex_lock(&c->m);
    weft__list_push_back(&c->waiters, &p->node.link);
    c->nwaiters++;
    weft__mutex_unlock(&c->m);

    uint32_t levels = 0;
    if (c->lock) weft_lock_release(c->lock);
    else levels = weft__rlock_release_all(c->rlock);

    int rc = weft__waiter_park(&p->w, deadline);
    if (rc) {
        weft__mutex_lock(&c->m);
        if (weft__list_linked(&p->node.link)) c->nwaiters--;
        weft__wait_node_forget(&p->node);
        weft__mutex_unlock(&c->m);
    }
    if (c->lock) weft__lock_acquire(c->lock, WEFT__NO_DEADLINE, true);
    else weft__rlock_acquire(c->rlock, WEFT__NO_DEADLINE, true, levels);
    return rc;
}

int weft_cond_wait(weft_cond *c, int64_t timeout)
{
    if (!c) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (!held(c)) return -EPERM;
    return wait_until(c, deadline);
}

int weft_cond_wait_for(weft_cond *c, bool (*pred)(void *), void *arg, int64_t timeout)
{
    if (!c || !pred) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (!held(c)) return -EPERM;
    while (!pred(arg)) {
        if (deadline != WEFT__NO_DEADLINE && weft_now() >= deadline) return -ETIMEDOUT;
        rc = wait_until(c, deadline);
        if (rc == -ECANCELED) return rc;
        if (rc == -ETIMEDOUT) return pred(arg) ? 0 : -ETIMEDOUT;
    }
    return 0;
}

static int notify(weft_cond *c, int n)
{
    weft__wakeq q;
    weft__wakeq_init(&q);
    int woken = 0;
    weft__mutex_lock(&c->m);
    weft__list *p;
    while (woken < n && (p = weft__list_pop_front(&c->waiters)) != NULL) {
        c->nwaiters--;
        if (weft__wakeq_claim(&q, weft__container_of(p, weft__wait_node, link)->waiter,
                              WEFT__W_WOKEN))
            woken++;
    }
    weft__mutex_unlock(&c->m);
    weft__wakeq_flush(&q);
    return woken;
}

int weft_cond_notify(weft_cond *c, int n)
{
    if (!c || n < 0) return -EINVAL;
    if (!held(c)) return -EPERM;
    return notify(c, n);
}

int weft_cond_notify_all(weft_cond *c)
{
    if (!c) return -EINVAL;
    if (!held(c)) return -EPERM;
    return notify(c, INT32_MAX);
}

size_t weft_cond_waiters(weft_cond *c)
{
    if (!c) return 0;
    weft__mutex_lock(&c->m);
    size_t n = c->nwaiters;
    weft__mutex_unlock(&c->m);
    return n;
}

void weft_cond_destroy(weft_cond *c)
{
    if (!c) return;
    weft__mutex_lock(&c->m);
    if (!weft__list_empty(&c->waiters)) weft__destroy_busy("weft_cond_destroy", &c->waiters);
    weft__mutex_unlock(&c->m);
    if (c->own_lock) weft_lock_destroy(c->lock);
    weft__free(c);
}
