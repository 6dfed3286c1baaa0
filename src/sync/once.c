/* sync/once.c — weft_once_call: run-once initialisation that waits the weft way.
 *
 * The caller-owned weft_once (zeroed by WEFT_ONCE_INIT) holds, privately, a state word, an
 * internal mutex and a wait list. The first caller marks it RUNNING and runs fn outside the
 * mutex; later callers wait on the list. When fn succeeds the state becomes DONE and every
 * waiter returns 0; when it fails the state goes back to IDLE and the waiters, woken, try
 * again (one of them runs fn). DONE is read without the mutex (acquire) on the fast path.
 */
#include "sync/internal.h"

#include <assert.h>

enum { IDLE = 0, RUNNING = 1, DONE = 2 };

typedef struct once_impl {
    _Atomic uint32_t state;
    weft__mutex m;
    weft__list waiters;                 /* m; zeroed (not yet initialised) until first use */
    uint64_t runner;                    /* m: context id of the caller running fn */
} once_impl;

static_assert(sizeof(once_impl) <= sizeof(weft_once), "weft_once is too small");

int weft_once_call(weft_once *once, weft_fn fn, void *arg)
{
    if (!once || !fn) return -EINVAL;
    once_impl *o = (once_impl *)(void *)once;
    if (atomic_load_explicit(&o->state, memory_order_acquire) == DONE) return 0;
    uint64_t me = weft__context_id();
    weft__mutex_lock(&o->m);
    if (!o->waiters.next) weft__list_init(&o->waiters);
    for (;;) {
        uint32_t s = atomic_load_explicit(&o->state, memory_order_relaxed);
        if (s == DONE) break;
        if (s == IDLE) {
            atomic_store_explicit(&o->state, RUNNING, memory_order_relaxed);
            o->runner = me;
            weft__mutex_unlock(&o->m);
            void *result = NULL;
            int rc = fn(arg, &result);
            weft__wakeq q;
            weft__wakeq_init(&q);
            weft__mutex_lock(&o->m);
            atomic_store_explicit(&o->state, rc < 0 ? IDLE : DONE, memory_order_release);
            o->runner = 0;
            weft__list *p;
            while ((p = weft__list_pop_front(&o->waiters)) != NULL)
                weft__wakeq_claim(&q, weft__container_of(p, weft__wait_node, link)->waiter,
                                  WEFT__W_WOKEN);
            weft__mutex_unlock(&o->m);
            weft__wakeq_flush(&q);
            return rc < 0 ? rc : 0;
        }
        if (o->runner == me) {             /* fn calls us back: it would wait for itself */
            weft__mutex_unlock(&o->m);
            return -EDEADLK;
        }
        weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
        weft__waiter_init(&p->w);
        weft__list_push_back(&o->waiters, &p->node.link);
        weft__mutex_unlock(&o->m);
        int rc = weft__waiter_park(&p->w, WEFT__NO_DEADLINE);
        weft__mutex_lock(&o->m);
        if (rc) {
            weft__wait_node_forget(&p->node);
            weft__mutex_unlock(&o->m);
            return rc;
        }
    }
    weft__mutex_unlock(&o->m);
    return 0;
}
