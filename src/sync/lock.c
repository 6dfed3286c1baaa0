/* sync/lock.c — weft_lock: threading.Lock for threads and coroutines.
 *
 * state: LOCKED (bit 0) and WAITERS (bit 1: the wait list may be non-empty). The fast paths
 * are one compare-and-swap each: acquire 0 -> LOCKED (or WAITERS -> WAITERS|LOCKED, so a
 * running acquirer may take a lock that waiters wait for: no convoys), release LOCKED -> 0.
 * With WAITERS set, release takes the mutex, clears LOCKED and wakes the first waiter that
 * can still be claimed; the woken waiter tries again and, if a running acquirer got there
 * first, waits again at the head of the list.
 *
 * Locking: m guards the wait list and every change of WAITERS; LOCKED alone may change
 * without it. Invariant: the list is non-empty => WAITERS is set (both change under m).
 * Debug builds record the owner (a coroutine, tagged, or a thread) to count the locks a
 * coroutine holds and report it if it ends holding one.
 */
#include "sync/internal.h"

enum { LOCKED = 1u, WAITERS = 2u };

struct weft_lock {
    _Atomic uint32_t state;
    weft__mutex m;
    weft__list waiters;                 /* m */
#if WEFT_DEBUG
    _Atomic(uintptr_t) owner;           /* coroutine | 1, or &weft__tls_self of a thread */
#endif
};

int weft_lock_create(weft_lock **out)
{
    if (!out) return -EINVAL;
    weft_lock *l = weft__malloc(sizeof *l);
    if (!l) return -ENOMEM;
    atomic_init(&l->state, 0);
    l->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&l->waiters);
#if WEFT_DEBUG
    atomic_init(&l->owner, 0);
#endif
    *out = l;
    return 0;
}

static inline void note_acquired(weft_lock *l)
{
#if WEFT_DEBUG
    weft__coro *c = weft__coro_current();
    if (c) atomic_fetch_add_explicit(&c->locks_held, 1, memory_order_relaxed);
    atomic_store_explicit(&l->owner, c ? (uintptr_t)c | 1 : (uintptr_t)&weft__tls_self,
                          memory_order_relaxed);
#else
    (void)l;
#endif
}

static inline void note_released(weft_lock *l)
{
#if WEFT_DEBUG
    uintptr_t o = atomic_exchange_explicit(&l->owner, 0, memory_order_relaxed);
    if (o & 1)
        atomic_fetch_sub_explicit(&((weft__coro *)(o & ~(uintptr_t)1))->locks_held, 1,
                                  memory_order_relaxed);
#else
    (void)l;
#endif
}

static inline bool try_take(weft_lock *l)
{
    uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
    while (!(s & LOCKED)) {
        if (atomic_compare_exchange_weak_explicit(&l->state, &s, s | LOCKED,
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Sets WAITERS unless the lock is free; with m held. False: it was free (try again). */
static bool mark_waiters(weft_lock *l)
{
    uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
    for (;;) {
        if (!(s & LOCKED)) return false;
        if (s & WAITERS) return true;
        if (atomic_compare_exchange_weak_explicit(&l->state, &s, s | WAITERS,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

static int acquire_slow(weft_lock *l, int64_t timeout)
{
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (!weft__coro_current()) {
        /* A thread may wait for a holder running on another CPU: spin a little first. */
        for (int i = 0; i < 100; i++) {
            weft__cpu_relax();
            if (try_take(l)) return 0;
        }
    }
    if (timeout == 0) return try_take(l) ? 0 : -ETIMEDOUT;
    weft__waiter w;
    weft__waiter_init(&w);
    weft__wait_node node = { .waiter = &w };
    bool requeue = false;
    for (;;) {
        weft__mutex_lock(&l->m);
        if (try_take(l)) {
            weft__mutex_unlock(&l->m);
            return 0;
        }
        if (!mark_waiters(l)) {
            weft__mutex_unlock(&l->m);
            continue;
        }
        /* A waiter that was woken but lost the race keeps its place at the head. */
        if (requeue) weft__list_push_front(&l->waiters, &node.link);
        else weft__list_push_back(&l->waiters, &node.link);
        weft__mutex_unlock(&l->m);
        rc = weft__waiter_park(&w, deadline);
        if (rc) break;
        atomic_store_explicit(&w.state, WEFT__W_WAITING, memory_order_relaxed);
        requeue = true;
    }
    weft__mutex_lock(&l->m);
    weft__wait_node_forget(&node);
    if (weft__list_empty(&l->waiters))
        atomic_fetch_and_explicit(&l->state, ~WAITERS, memory_order_relaxed);
    weft__mutex_unlock(&l->m);
    return rc;
}

int weft_lock_acquire(weft_lock *l, int64_t timeout)
{
    if (!l || timeout < WEFT_FOREVER) return -EINVAL;
    int rc = weft__likely(try_take(l)) ? 0 : acquire_slow(l, timeout);
    if (rc == 0) note_acquired(l);
    return rc;
}

static int release_slow(weft_lock *l)
{
    weft__wake wk;
    bool wake = false;
    weft__mutex_lock(&l->m);
    uint32_t s = atomic_fetch_and_explicit(&l->state, ~LOCKED, memory_order_release);
    if (!(s & LOCKED)) {
        weft__mutex_unlock(&l->m);
        return -EPERM;
    }
    weft__list *n;
    while (!wake && (n = weft__list_pop_front(&l->waiters)) != NULL)
        wake = weft__waiter_claim(weft__container_of(n, weft__wait_node, link)->waiter,
                                  WEFT__W_WOKEN, &wk);
    if (weft__list_empty(&l->waiters))
        atomic_fetch_and_explicit(&l->state, ~WAITERS, memory_order_relaxed);
    weft__mutex_unlock(&l->m);
    if (wake) weft__wake_deliver(&wk);
    return 0;
}

int weft_lock_release(weft_lock *l)
{
    if (!l) return -EINVAL;
    if (!(atomic_load_explicit(&l->state, memory_order_relaxed) & LOCKED)) return -EPERM;
    note_released(l);
    uint32_t s = LOCKED;
    if (weft__likely(atomic_compare_exchange_strong_explicit(
            &l->state, &s, 0, memory_order_release, memory_order_relaxed)))
        return 0;
    return release_slow(l);
}

void weft_lock_destroy(weft_lock *l)
{
    if (!l) return;
    weft__mutex_lock(&l->m);
    if (!weft__list_empty(&l->waiters)) weft__destroy_busy("weft_lock_destroy", &l->waiters);
    weft__mutex_unlock(&l->m);
    weft__free(l);
}
