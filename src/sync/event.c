/* sync/event.c — weft_event: threading.Event / gevent's Event for threads and coroutines.
 *
 * flag is read without the mutex (is_set, the fast path of wait, the fast path of set);
 * waiters are only ever added while the flag is clear, under m, and set claims them all
 * under m, so a set never misses a waiter that saw the flag clear. nwaiters counts the
 * list (under m) for weft_event_waiters.
 */
#include "sync/internal.h"

#include <stdio.h>

struct weft_event {
    _Atomic uint32_t flag;
    weft__mutex m;
    weft__list waiters;                 /* m */
    size_t nwaiters;                    /* m: nodes on waiters */
};

int weft_event_create(weft_event **out)
{
    if (!out) return -EINVAL;
    weft_event *e = weft__malloc(sizeof *e);
    if (!e) return -ENOMEM;
    atomic_init(&e->flag, 0);
    e->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&e->waiters);
    e->nwaiters = 0;
    *out = e;
    return 0;
}

int weft_event_set(weft_event *e)
{
    if (!e) return -EINVAL;
    /* Set already: there can be no waiters (they are all claimed when it is set). */
    if (atomic_load_explicit(&e->flag, memory_order_acquire)) return 0;
    weft__wakeq q;
    weft__wakeq_init(&q);
    weft__mutex_lock(&e->m);
    atomic_store_explicit(&e->flag, 1, memory_order_release);
    weft__list *n;
    while ((n = weft__list_pop_front(&e->waiters)) != NULL)
        weft__wakeq_claim(&q, weft__container_of(n, weft__wait_node, link)->waiter,
                          WEFT__W_WOKEN);
    e->nwaiters = 0;
    weft__mutex_unlock(&e->m);
    weft__wakeq_flush(&q);
    return 0;
}

int weft_event_clear(weft_event *e)
{
    if (!e) return -EINVAL;
    atomic_store_explicit(&e->flag, 0, memory_order_release);
    return 0;
}

bool weft_event_is_set(weft_event *e)
{
    return e && atomic_load_explicit(&e->flag, memory_order_acquire);
}

int weft_event_wait(weft_event *e, int64_t timeout)
{
    if (!e) return -EINVAL;
    if (atomic_load_explicit(&e->flag, memory_order_acquire)) return 0;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (timeout == 0) return -ETIMEDOUT;
    weft__park local, *p = weft__park_get(&local);
    weft__waiter_init(&p->w);
    weft__mutex_lock(&e->m);
    if (atomic_load_explicit(&e->flag, memory_order_relaxed)) {
        weft__mutex_unlock(&e->m);
        return 0;
    }
    weft__list_push_back(&e->waiters, &p->node.link);
    e->nwaiters++;
    weft__mutex_unlock(&e->m);
    rc = weft__waiter_park(&p->w, deadline);
    if (rc) {
        weft__mutex_lock(&e->m);
        if (weft__list_linked(&p->node.link)) e->nwaiters--;
        weft__wait_node_forget(&p->node);
        weft__mutex_unlock(&e->m);
    }
    return rc;
}

size_t weft_event_waiters(weft_event *e)
{
    if (!e) return 0;
    weft__mutex_lock(&e->m);
    size_t n = e->nwaiters;
    weft__mutex_unlock(&e->m);
    return n;
}

void weft_event_destroy(weft_event *e)
{
    if (!e) return;
    weft__mutex_lock(&e->m);
    if (!weft__list_empty(&e->waiters)) weft__destroy_busy("weft_event_destroy", &e->waiters);
    weft__mutex_unlock(&e->m);
    weft__free(e);
}

void weft__destroy_busy(const char *what, const weft__list *waiters)
{
    size_t n = 0;
    for (const weft__list *p = waiters->next; p != waiters; p = p->next) n++;
    weft__fatal("%s: %zu waiter(s) still waiting; destroying it would leave them on freed "
                "memory", what, n);
}
