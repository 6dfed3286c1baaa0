/* sync/lock.c — weft_lock: threading.Lock for threads and coroutines.
 *
 * state: LOCKED, WAITERS (the wait list may be non-empty) and WOKEN (a waiter has been
 * woken and has not yet tried again). The fast paths are one compare-and-swap each:
 * acquire takes the lock whenever LOCKED is clear, waiters or not (a running acquirer may
 * take a lock that waiters wait for: no convoys), release LOCKED -> 0. A release that
 * finds waiters clears LOCKED and, unless a woken waiter is already on its way (WOKEN) or
 * someone took the lock meanwhile, wakes the first waiter that can still be claimed and
 * sets WOKEN. The woken waiter clears WOKEN, then tries again; if a running acquirer got
 * there first it waits again at the head of the list. So a thread that releases and
 * re-acquires in a loop while another waits pays for one wake-up, not one per release
 * (Go's sync.Mutex does the same).
 *
 * Locking: m guards the wait list and every change of WAITERS; LOCKED and WOKEN may change
 * without it. Invariant: the list is non-empty => WAITERS is set (both change under m).
 * Debug builds remember which coroutine took each lock, to report one that ended holding a
 * lock nobody ever released. Not at its end: a coroutine may take a lock and leave it to a
 * thread to release (threading.Lock has no owner), so an ended holder only makes the lock
 * an orphan; a release forgets it, and an orphan is reported when its lock is destroyed
 * still held, or at exit if it is still there. Any context may release a lock, so the
 * records (the lock's, the coroutine's held_locks list, the orphan list) are guarded by one
 * process-wide debug mutex, taken only when a coroutine acquires or a recorded lock is
 * released.
 */
#include "sync/internal.h"

enum { LOCKED = WEFT__LOCK_LOCKED, WAITERS = WEFT__LOCK_WAITERS, WOKEN = WEFT__LOCK_WOKEN };

void weft__lock_init(weft_lock *l)
{
    atomic_init(&l->state, 0);
    l->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&l->waiters);
#if WEFT_DEBUG
    atomic_init(&l->recorded, 0);
    l->owner = NULL;
#endif
}

int weft_lock_create(weft_lock **out)
{
    if (!out) return -EINVAL;
    weft_lock *l = weft__malloc(sizeof *l);
    if (!l) return -ENOMEM;
    weft__lock_init(l);
    *out = l;
    return 0;
}

/* ---- the debug registry ---------------------------------------------------------------- */

#if WEFT_DEBUG
#include <stdio.h>
#include <stdlib.h>

static weft__mutex debug_lock = WEFT__MUTEX_INIT;
static weft__list orphans = { &orphans, &orphans };   /* debug_lock */
static pthread_once_t at_exit_once = PTHREAD_ONCE_INIT;

/* With debug_lock held: l has no record any more. */
static void forget(weft_lock *l)
{
    weft__assert_held(&debug_lock);
    if (!atomic_load_explicit(&l->recorded, memory_order_relaxed)) return;
    weft__list_unlink(&l->owner_link);
    l->owner = NULL;
    atomic_store_explicit(&l->recorded, 0, memory_order_relaxed);
}

/* With debug_lock held: reports orphan l, still held `when`. */
static void report(weft_lock *l, const char *when)
{
    weft__assert_held(&debug_lock);
    fprintf(stderr, "weft: coroutine %s%s%s#%llu ended holding a weft lock that nobody "
            "released (%s)\n", l->orphan_name[0] ? "'" : "", l->orphan_name,
            l->orphan_name[0] ? "' " : "", (unsigned long long)l->orphan_id, when);
}

/* At exit: the orphans still held were never released by anyone. */
static void report_at_exit(void)
{
    weft__mutex_lock(&debug_lock);
    for (weft__list *n = orphans.next; n != &orphans; n = n->next) {
        weft_lock *l = weft__container_of(n, weft_lock, owner_link);
        if (weft__lock_held(l)) report(l, "still held at exit");
    }
    weft__mutex_unlock(&debug_lock);
}

static void register_at_exit(void)
{
    atexit(report_at_exit);
}
#endif

static inline void note_acquired(weft_lock *l)
{
#if WEFT_DEBUG
    weft__coro *c = weft__coro_current();
    if (!c) return;
    weft__mutex_lock(&debug_lock);
    /* A record left by a release that raced with the acquire it released (it looked before
     * the acquirer wrote its record): the acquirer's is the true one now. */
    forget(l);
    l->owner = c;
    weft__list_push_back(&c->held_locks, &l->owner_link);
    atomic_store_explicit(&l->recorded, WEFT__LOCK_OWNED, memory_order_relaxed);
    weft__mutex_unlock(&debug_lock);
#else
    (void)l;
#endif
}

static inline void note_released(weft_lock *l)
{
#if WEFT_DEBUG
    if (!atomic_load_explicit(&l->recorded, memory_order_relaxed)) return;
    weft__mutex_lock(&debug_lock);
    forget(l);
    weft__mutex_unlock(&debug_lock);
#else
    (void)l;
#endif
}

void weft__locks_orphan(weft__coro *c)
{
#if WEFT_DEBUG
    weft__mutex_lock(&debug_lock);
    bool any = !weft__list_empty(&c->held_locks);
    weft__list *p;
    while ((p = weft__list_pop_front(&c->held_locks)) != NULL) {
        weft_lock *l = weft__container_of(p, weft_lock, owner_link);
        l->owner = NULL;
        l->orphan_id = weft__coro_id(c);
        snprintf(l->orphan_name, sizeof l->orphan_name, "%s", c->name ? c->name : "");
        weft__list_push_back(&orphans, &l->owner_link);
        atomic_store_explicit(&l->recorded, WEFT__LOCK_ORPHAN, memory_order_relaxed);
    }
    weft__mutex_unlock(&debug_lock);
    if (any) pthread_once(&at_exit_once, register_at_exit);
#else
    (void)c;
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
    weft__assert_held(&l->m);
    uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
    for (;;) {
        if (!(s & LOCKED)) return false;
        if (s & WAITERS) return true;
        if (atomic_compare_exchange_weak_explicit(&l->state, &s, s | WAITERS,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

static int acquire_slow(weft_lock *l, int64_t deadline, bool shielded)
{
    int rc;
    if (!weft__coro_current()) {
        /* A thread may wait for a holder running on another CPU: spin a little first, but
         * look at the lock only now and then. Looking at every pause would catch each brief
         * gap between the holder's release and its next acquire and pull the lock's cache
         * line across CPUs at every hand-over; a holder in a streak should keep it. */
        for (int i = 0; i < 4; i++) {
            for (int k = 0; k < 30; k++) weft__cpu_relax();
            if (try_take(l)) return 0;
        }
    }
    if (deadline != WEFT__NO_DEADLINE && deadline <= weft_now())
        return try_take(l) ? 0 : -ETIMEDOUT;
    weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
    weft__waiter *w = &p->w;
    weft__waiter_init(w);
    w->shielded = shielded;
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
        if (requeue) weft__list_push_front(&l->waiters, &p->node.link);
        else weft__list_push_back(&l->waiters, &p->node.link);
        weft__mutex_unlock(&l->m);
        /* Shielded (Condition's re-acquire): neither cancellation nor a deadline scope may
         * return without the lock. */
        rc = shielded ? weft__waiter_park_raw(w, deadline) : weft__waiter_park(w, deadline);
        if (rc) break;
        /* Woken: let the next release wake someone again, then try. */
        atomic_fetch_and_explicit(&l->state, ~WOKEN, memory_order_relaxed);
        if (try_take(l)) return 0;
        atomic_store_explicit(&w->state, WEFT__W_WAITING, memory_order_relaxed);
        requeue = true;
        /* Lost to a running acquirer: it is in a streak. Sleep at once rather than spin,
         * so that its releases find nobody to wake for a while (as Go's loser parks). */
        w->no_spin = true;
    }
    weft__mutex_lock(&l->m);
    weft__wait_node_forget(&p->node);
    if (weft__list_empty(&l->waiters))
        atomic_fetch_and_explicit(&l->state, ~WAITERS, memory_order_relaxed);
    weft__mutex_unlock(&l->m);
    return rc;
}

int weft__lock_acquire(weft_lock *l, int64_t deadline, bool shielded)
{
    int rc = weft__likely(try_take(l)) ? 0 : acquire_slow(l, deadline, shielded);
    if (rc == 0) note_acquired(l);
    return rc;
}

int weft_lock_acquire(weft_lock *l, int64_t timeout)
{
    if (!l || timeout < WEFT_FOREVER) return -EINVAL;
    if (weft__likely(try_take(l))) {
        note_acquired(l);
        return 0;
    }
    int64_t deadline;
    weft__deadline(timeout, &deadline);
    return weft__lock_acquire(l, deadline, false);
}

static int release_slow(weft_lock *l)
{
    uint32_t s = atomic_fetch_and_explicit(&l->state, ~LOCKED, memory_order_release);
    if (!(s & LOCKED)) return -EPERM;
    if ((s & WOKEN) || !(s & WAITERS)) return 0;
    weft__wake wk;
    bool wake = false;
    weft__mutex_lock(&l->m);
    s = atomic_load_explicit(&l->state, memory_order_relaxed);
    /* Someone took the lock meanwhile (its release wakes a waiter), or a woken waiter is
     * on its way: nothing to do. */
    if (!(s & (LOCKED | WOKEN))) {
        /* WOKEN goes up before the claim: the waiter may run (and clear it) the instant it
         * is claimed, and a WOKEN set after that would stay up with nobody to clear it. */
        atomic_fetch_or_explicit(&l->state, WOKEN, memory_order_relaxed);
        weft__list *n;
        while (!wake && (n = weft__list_pop_front(&l->waiters)) != NULL)
            wake = weft__waiter_claim(weft__container_of(n, weft__wait_node, link)->waiter,
                                      WEFT__W_WOKEN, &wk);
        if (!wake) atomic_fetch_and_explicit(&l->state, ~WOKEN, memory_order_relaxed);
        if (weft__list_empty(&l->waiters))
            atomic_fetch_and_explicit(&l->state, ~WAITERS, memory_order_relaxed);
    }
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

void weft__lock_fini(weft_lock *l)
{
#if WEFT_DEBUG
    /* Destroying a held lock is fine, but one an ended coroutine left held was never
     * released by anyone: that is the leak the registry is for. The record goes either way. */
    if (!atomic_load_explicit(&l->recorded, memory_order_relaxed)) return;
    weft__mutex_lock(&debug_lock);
    if (atomic_load_explicit(&l->recorded, memory_order_relaxed) == WEFT__LOCK_ORPHAN &&
        weft__lock_held(l))
        report(l, "destroyed still held");
    forget(l);
    weft__mutex_unlock(&debug_lock);
#else
    (void)l;
#endif
}

void weft_lock_destroy(weft_lock *l)
{
    if (!l) return;
    weft__mutex_lock(&l->m);
    if (!weft__list_empty(&l->waiters)) weft__destroy_busy("weft_lock_destroy", &l->waiters);
    weft__mutex_unlock(&l->m);
    weft__lock_fini(l);
    weft__free(l);
}
