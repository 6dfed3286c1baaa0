/* future/wait.c — the watch block, and on it concurrent.futures.wait and as_completed
 * (gather, in combine.c, uses it too).
 *
 * Each attaches one embedded callback per future to a "watch" block: a completion takes the
 * block's mutex, counts itself (as_completed also appends its index to a ring of n slots),
 * and wakes the caller only if what it waits for now holds: O(1) per completion. Callbacks
 * may run after the caller has left, so the block is reference-counted: one reference for
 * the caller and one per callback not yet run or taken back.
 */
#include "future/internal.h"

#include <stdlib.h>

typedef struct weft__watch watch;

typedef struct watch_cb {
    weft__cb cb;                      /* arg = this */
    watch *w;
    size_t i;                         /* index of its future */
} watch_cb;

struct weft__watch {
    weft__mutex m;
    _Atomic uint32_t refs;
    size_t n;
    size_t ndone;                     /* m */
    size_t nfailed;                   /* m: done with an error other than -ECANCELED */
    size_t nerror;                    /* m: done with any error, -ECANCELED included */
    int when;                         /* WEFT_*_COMPLETED / EXCEPTION, WEFT__WATCH_*/
    size_t *ring;                     /* as_completed: indexes in completion order; m */
    size_t head;                      /* as_completed: next to hand out; caller only */
    int64_t deadline;                 /* as_completed */
    weft__waiter *waiter;             /* m: the caller's, while it waits */
    weft_future **fs;
    watch_cb cbs[];
};

static bool satisfied(const watch *w)
{
    switch (w->when) {
    case WEFT_FIRST_COMPLETED: return w->ndone > 0;
    case WEFT_FIRST_EXCEPTION: return w->nfailed > 0 || w->ndone == w->n;
    case WEFT_ALL_COMPLETED: return w->ndone == w->n;
    case WEFT__WATCH_ANY_ERROR: return w->nerror > 0 || w->ndone == w->n;
    default: return w->ndone > w->head;       /* WEFT__WATCH_NEXT: one is ready */
    }
}

static void unref(watch *w)
{
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1) weft__free(w);
}

static void watch_done(weft_future *f, void *arg)
{
    watch_cb *c = arg;
    watch *w = c->w;
    int err = f->err;
    weft__wake wk;
    bool wake = false;
    weft__mutex_lock(&w->m);
    if (w->ring) w->ring[w->ndone] = c->i;
    w->ndone++;
    if (err < 0) w->nerror++;
    if (err < 0 && err != -ECANCELED) w->nfailed++;
    if (w->waiter && satisfied(w)) {
        wake = weft__waiter_claim(w->waiter, WEFT__W_WOKEN, &wk);
        w->waiter = NULL;
    }
    weft__mutex_unlock(&w->m);
    if (wake) weft__wake_deliver(&wk);
    unref(w);
}

int weft__check_futures(weft_future **fs, size_t n)
{
    if (!fs && n) return -EINVAL;
    if (n >= UINT32_MAX) return -ENOMEM;       /* refs count them in 32 bits */
    for (size_t i = 0; i < n; i++)
        if (!fs[i]) return -EINVAL;
    /* The caller's own task among them: it cannot end while the caller waits for it (as
     * weft_future_result answers for one future). */
    weft_future *self = weft_current_task();
    for (size_t i = 0; i < n; i++) {
        weft__future_check(fs[i]);
        if (fs[i] == self) return -EDEADLK;
    }
    return 0;
}

watch *weft__watch_new(weft_future **fs, size_t n, int when, bool ring)
{
    size_t size = sizeof(watch) + n * sizeof(watch_cb);
    watch *w = weft__malloc(size + (ring ? n * sizeof(size_t) : 0));
    if (!w) return NULL;
    w->m = (weft__mutex)WEFT__MUTEX_INIT;
    atomic_init(&w->refs, (uint32_t)n + 1);
    w->n = n;
    w->ndone = 0;
    w->nfailed = 0;
    w->nerror = 0;
    w->when = when;
    w->ring = ring ? (size_t *)(void *)((char *)w + size) : NULL;
    w->head = 0;
    w->deadline = WEFT__NO_DEADLINE;
    w->waiter = NULL;
    w->fs = fs;
    for (size_t i = 0; i < n; i++) {
        w->cbs[i].cb.fn = watch_done;
        w->cbs[i].cb.arg = &w->cbs[i];
        w->cbs[i].w = w;
        w->cbs[i].i = i;
    }
    for (size_t i = 0; i < n; i++) weft__future_add_cb(fs[i], &w->cbs[i].cb);
    return w;
}

void weft__watch_free(watch *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (weft__future_remove_cb(w->fs[i], &w->cbs[i].cb)) unref(w);
    unref(w);
}

int weft__watch_wait(watch *w, int64_t deadline)
{
    int rc = 0;
    weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
    weft__waiter *wt = &p->w;
    weft__waiter_init(wt);
    weft__mutex_lock(&w->m);
    if (!satisfied(w) && deadline != WEFT__NO_DEADLINE && deadline <= weft_now())
        rc = -ETIMEDOUT;                       /* a zero timeout: no park */
    while (!rc && !satisfied(w)) {
        w->waiter = wt;
        weft__mutex_unlock(&w->m);
        rc = weft__waiter_park(wt, deadline);
        weft__mutex_lock(&w->m);
        w->waiter = NULL;
        if (rc) break;
        atomic_store_explicit(&wt->state, WEFT__W_WAITING, memory_order_relaxed);
    }
    if (rc && satisfied(w)) rc = 0;            /* it happened as the wait gave up */
    weft__mutex_unlock(&w->m);
    return rc;
}

int weft_wait(weft_future **fs, size_t n, int when, int64_t timeout, bool *done)
{
    /* The plain arguments first: a bad `when` or timeout is -EINVAL, whatever fs holds. */
    if (when < WEFT_FIRST_COMPLETED || when > WEFT_ALL_COMPLETED) return -EINVAL;
    if (timeout < 0 && timeout != WEFT_FOREVER) return -EINVAL;
    int rc = weft__check_futures(fs, n);
    if (rc) return rc;
    int64_t deadline;
    if ((rc = weft__deadline(timeout, &deadline)) != 0) return rc;
    if (n > 0) {
        watch *w = weft__watch_new(fs, n, when, false);
        if (!w) return -ENOMEM;
        rc = weft__watch_wait(w, deadline);
        weft__watch_free(w);
        if (rc == -ECANCELED) return rc;
    }
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        bool d = weft_future_done(fs[i]);
        if (done) done[i] = d;
        count += d;
    }
    return count;
}

struct weft_as_completed {
    watch *w;
    bool timed_out;
};

int weft_as_completed_create(weft_as_completed **out, weft_future **fs, size_t n,
                             int64_t timeout)
{
    if (!out) return -EINVAL;
    int rc = weft__check_futures(fs, n);
    if (rc) return rc;
    int64_t deadline;
    if ((rc = weft__deadline(timeout, &deadline)) != 0) return rc;
    weft_as_completed *it = weft__malloc(sizeof *it);
    if (!it) return -ENOMEM;
    it->w = weft__watch_new(fs, n, WEFT__WATCH_NEXT, true);
    if (!it->w) {
        weft__free(it);
        return -ENOMEM;
    }
    it->w->deadline = deadline;
    it->timed_out = false;
    *out = it;
    return 0;
}

int weft_as_completed_next(weft_as_completed *it, weft_future **f)
{
    if (!it || !f) return -EINVAL;
    watch *w = it->w;
    if (w->head == w->n) return -ENOENT;
    if (it->timed_out) return -ETIMEDOUT;
    int rc = weft__watch_wait(w, w->deadline);
    /* Only the iteration's own timeout ends it for good; an enclosing deadline scope's
     * -ETIMEDOUT ends this call only (a later call outside the scope goes on). */
    if (rc == -ETIMEDOUT && w->deadline != WEFT__NO_DEADLINE && weft_now() >= w->deadline)
        it->timed_out = true;
    if (rc) return rc;
    weft__mutex_lock(&w->m);
    size_t i = w->ring[w->head++];
    weft__mutex_unlock(&w->m);
    *f = w->fs[i];
    return 0;
}

void weft_as_completed_destroy(weft_as_completed *it)
{
    if (!it) return;
    weft__watch_free(it->w);
    weft__free(it);
}

size_t weft__watch_first_error(watch *w)
{
    size_t first = w->n;
    weft__mutex_lock(&w->m);
    for (size_t k = 0; k < w->ndone && first == w->n; k++)
        if (w->fs[w->ring[k]]->err < 0) first = w->ring[k];
    weft__mutex_unlock(&w->m);
    return first;
}
