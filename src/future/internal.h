/* future/internal.h — the one future type, shared by every executor (coroutines, threads,
 * and later the pools), and what an executor plugs into it.
 *
 * Locking: f->lock guards the wait list and the callback list, and orders completion
 * (done is set under it). It is a leaf lock: nothing else is taken while holding it, and no
 * callback or wake-up delivery runs under it (the wake batch may flush under it when it is
 * full, which only queues coroutines or wakes futexes).
 */
#ifndef WEFT_FUTURE_INTERNAL_H
#define WEFT_FUTURE_INTERNAL_H

#include "loop/internal.h"

typedef struct weft__future_ops {
    /* weft_future_cancel on a pending future of this kind; NULL: complete it -ECANCELED. */
    int (*cancel)(weft_future *f);
    /* Frees the object that contains f (after the last release). */
    void (*free)(weft_future *f);
} weft__future_ops;

typedef struct weft__cb {
    struct weft__cb *next;
    weft_future_cb fn;
    void *arg;
} weft__cb;

struct weft_future {
    uint32_t magic;                   /* FUTURE_MAGIC while alive (debug checks) */
    _Atomic uint32_t refs;
    _Atomic uint32_t done;            /* 1 once err/result are final (release/acquire) */
    _Atomic uint32_t cancel_requested;/* weft_future_cancel was called (executors' use) */
    weft__mutex lock;
    int err;                          /* final once done */
    void *result;
    weft__list waiters;               /* weft__wait_node; lock */
    weft__cb *cbs;                    /* lock; in the order added */
    const weft__future_ops *ops;      /* NULL: a plain future (weft_future_create) */
    weft__mpsc_node post;             /* for executors that post the future to a loop */
};

/* Initialises an embedded future with refs references. */
void weft__future_init(weft_future *f, const weft__future_ops *ops, uint32_t refs);

/* Completes f: stores err and result, wakes every waiter, runs the callbacks on the calling
 * context. -EBUSY if it was already done. Any context; never blocks. */
int weft__future_complete(weft_future *f, int err, void *result);

/* Debug check on every entry point: the future is alive. */
void weft__future_check(const weft_future *f);

#endif /* WEFT_FUTURE_INTERNAL_H */
