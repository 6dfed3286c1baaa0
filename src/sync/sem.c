/* sync/sem.c — weft_sem: Semaphore and BoundedSemaphore for threads and coroutines.
 *
 * state: the free permits (low 31 bits) and WAITERS (bit 31: the wait list may be
 * non-empty). Fast paths are one CAS: acquire takes a permit when there is one and nobody
 * waits; release adds one when nobody waits. With waiters, release takes m and hands its
 * permit straight to the first waiter it can claim: a waiter woken by a release owns a
 * permit, so nothing is lost when a timeout races with the release (the claim decides), and
 * permits go out in FIFO order.
 *
 * Invariant (under m): the list is non-empty => WAITERS is set and the count is 0. A waiter
 * sets WAITERS only by a CAS that also sees the count at 0, so a concurrent fast release
 * either lands first (the waiter then takes that permit) or fails its CAS and goes slow.
 */
#include "sync/internal.h"

#define WAITERS 0x80000000u
#define COUNT   0x7fffffffu

struct weft_sem {
    _Atomic uint32_t state;
    uint32_t initial;                   /* the bound, for a bounded semaphore */
    bool bounded;
    weft__mutex m;
    weft__list waiters;                 /* m */
};

int weft_sem_create(weft_sem **out, unsigned value, bool bounded)
{
    if (!out || value > WEFT_SEM_MAX) return -EINVAL;
    weft_sem *s = weft__malloc(sizeof *s);
    if (!s) return -ENOMEM;
    atomic_init(&s->state, value);
    s->initial = value;
    s->bounded = bounded;
    s->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&s->waiters);
    *out = s;
    return 0;
}

static bool try_take(weft_sem *s)
{
    uint32_t v = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (!(v & WAITERS) && (v & COUNT)) {
        if (atomic_compare_exchange_weak_explicit(&s->state, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

/* With m held: take a permit if there is one, else mark WAITERS. True: taken. */
static bool take_or_mark(weft_sem *s)
{
    weft__assert_held(&s->m);
    uint32_t v = atomic_load_explicit(&s->state, memory_order_relaxed);
    for (;;) {
        uint32_t want = (v & COUNT) ? v - 1 : v | WAITERS;
        if (atomic_compare_exchange_weak_explicit(&s->state, &v, want, memory_order_acquire,
                                                  memory_order_relaxed))
            return (v & COUNT) != 0;
    }
}

int weft_sem_acquire(weft_sem *s, int64_t timeout)
{
    if (!s || timeout < WEFT_FOREVER) return -EINVAL;
    if (weft__likely(try_take(s))) return 0;
    int64_t deadline;
    weft__deadline(timeout, &deadline);
    weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
    weft__waiter_init(&p->w);
    weft__mutex_lock(&s->m);
    if (take_or_mark(s)) {
        weft__mutex_unlock(&s->m);
        return 0;
    }
    if (timeout == 0) {
        if (weft__list_empty(&s->waiters))
            atomic_fetch_and_explicit(&s->state, ~WAITERS, memory_order_relaxed);
        weft__mutex_unlock(&s->m);
        return -ETIMEDOUT;
    }
    weft__list_push_back(&s->waiters, &p->node.link);
    weft__mutex_unlock(&s->m);
    int rc = weft__waiter_park(&p->w, deadline);
    if (rc == 0) return 0;                 /* a release handed us its permit */
    weft__mutex_lock(&s->m);
    weft__wait_node_forget(&p->node);
    if (weft__list_empty(&s->waiters))
        atomic_fetch_and_explicit(&s->state, ~WAITERS, memory_order_relaxed);
    weft__mutex_unlock(&s->m);
    return rc;
}

static int release_slow(weft_sem *s)
{
    weft__wake wk;
    bool handed = false;
    weft__mutex_lock(&s->m);
    /* The bound holds whether or not someone waits (as BoundedSemaphore checks before it
     * wakes anyone): with waiters the count is 0, so this refuses only a bound of 0. */
    uint32_t now = atomic_load_explicit(&s->state, memory_order_relaxed) & COUNT;
    if (s->bounded && now >= s->initial) {
        weft__mutex_unlock(&s->m);
        return -EOVERFLOW;
    }
    weft__list *p;
    while (!handed && (p = weft__list_pop_front(&s->waiters)) != NULL)
        handed = weft__waiter_claim(weft__container_of(p, weft__wait_node, link)->waiter,
                                    WEFT__W_WOKEN, &wk);
    int rc = 0;
    if (weft__list_empty(&s->waiters))
        atomic_fetch_and_explicit(&s->state, ~WAITERS, memory_order_relaxed);
    if (!handed) {
        /* Every waiter had timed out or been cancelled: the permit goes to the count. */
        if (now >= COUNT) rc = -EOVERFLOW;
        else atomic_fetch_add_explicit(&s->state, 1, memory_order_release);
    }
    weft__mutex_unlock(&s->m);
    if (handed) weft__wake_deliver(&wk);
    return rc;
}

int weft_sem_release(weft_sem *s)
{
    if (!s) return -EINVAL;
    uint32_t v = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (!(v & WAITERS)) {
        if ((s->bounded && v >= s->initial) || v >= COUNT) return -EOVERFLOW;
        if (atomic_compare_exchange_weak_explicit(&s->state, &v, v + 1, memory_order_release,
                                                  memory_order_relaxed))
            return 0;
    }
    return release_slow(s);
}

unsigned weft_sem_value(weft_sem *s)
{
    return s ? atomic_load_explicit(&s->state, memory_order_relaxed) & COUNT : 0;
}

void weft_sem_destroy(weft_sem *s)
{
    if (!s) return;
    weft__mutex_lock(&s->m);
    if (!weft__list_empty(&s->waiters)) weft__destroy_busy("weft_sem_destroy", &s->waiters);
    weft__mutex_unlock(&s->m);
    weft__free(s);
}
