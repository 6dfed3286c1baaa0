/* future/combine.c — waiting on futures together or under conditions: gather (asyncio.gather),
 * wait_for (a wait with a timeout that cancels what it waited for) and shield.
 *
 * gather registers one embedded callback per future in a state block it shares with them:
 * each completion is O(1) work under the block's mutex, and the caller is woken only when
 * what it waits for has happened (everything done, or the first error). Callbacks may still
 * run after gather returned (it left on a timeout or the first error): the block is
 * reference-counted, one reference per callback that has not run or been taken back.
 */
#include "future/internal.h"

#include <stdlib.h>

typedef struct gather gather;

typedef struct gather_cb {
    weft__cb cb;                      /* arg = this */
    gather *st;
    size_t i;                         /* index of its future */
} gather_cb;

struct gather {
    weft__mutex m;
    _Atomic uint32_t refs;            /* the caller's + one per callback still attached */
    size_t pending;                   /* m: futures not yet done */
    int first_err;                    /* m: the first error seen, 0 while none */
    size_t first_idx;                 /* m: whose */
    bool stop_at_error;               /* !return_exceptions */
    weft__waiter *waiter;             /* m: the caller's, while it waits */
    gather_cb cbs[];                  /* one per future */
};

static void gather_unref(gather *st)
{
    if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) weft__free(st);
}

static void gather_done(weft_future *f, void *arg)
{
    gather_cb *gc = arg;
    gather *st = gc->st;
    int err = f->err;
    weft__wake wk;
    bool wake = false;
    weft__mutex_lock(&st->m);
    st->pending--;
    bool failed = err < 0 && !st->first_err;
    if (failed) {
        st->first_err = err;
        st->first_idx = gc->i;
    }
    if (st->waiter && (st->pending == 0 || (failed && st->stop_at_error))) {
        wake = weft__waiter_claim(st->waiter, WEFT__W_WOKEN, &wk);
        st->waiter = NULL;
    }
    weft__mutex_unlock(&st->m);
    if (wake) weft__wake_deliver(&wk);
    gather_unref(st);
}

/* Reports each outcome into errs (NULL: none): done ones collected, others -EBUSY. */
static void fill_errs(weft_future **fs, size_t n, int *errs)
{
    if (!errs) return;
    for (size_t i = 0; i < n; i++)
        errs[i] = weft_future_done(fs[i]) ? weft__future_take(fs[i], NULL) : -EBUSY;
}

/* Everything is already done, or (stop_at_error) one of them failed: no waiting. */
static bool settled(weft_future **fs, size_t n, bool stop_at_error, int *first)
{
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        if (!weft_future_done(fs[i])) all = false;
        else if (stop_at_error && fs[i]->err < 0) {
            *first = (int)i;
            return true;
        }
    }
    *first = -1;
    return all;
}

int weft_gather(weft_future **fs, size_t n, int64_t timeout, bool return_exceptions, int *errs)
{
    if (!fs && n) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!fs[i]) return -EINVAL;
        weft__future_check(fs[i]);
    }
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    bool stop = !return_exceptions;
    int first;
    if (settled(fs, n, stop, &first)) {
        fill_errs(fs, n, errs);
        return first >= 0 ? weft__future_take(fs[first], NULL) : 0;
    }
    if (timeout == 0) {
        fill_errs(fs, n, errs);
        return -ETIMEDOUT;
    }
    if (n >= UINT32_MAX) return -ENOMEM;            /* refs count them in 32 bits */
    gather *st = weft__malloc(sizeof *st + n * sizeof st->cbs[0]);
    if (!st) return -ENOMEM;
    st->m = (weft__mutex)WEFT__MUTEX_INIT;
    atomic_init(&st->refs, (uint32_t)n + 1);
    st->pending = n;
    st->first_err = 0;
    st->first_idx = 0;
    st->stop_at_error = stop;
    st->waiter = NULL;
    for (size_t i = 0; i < n; i++) {
        st->cbs[i].cb.fn = gather_done;
        st->cbs[i].cb.arg = &st->cbs[i];
        st->cbs[i].st = st;
        st->cbs[i].i = i;
    }
    for (size_t i = 0; i < n; i++) weft__future_add_cb(fs[i], &st->cbs[i].cb);

    weft__waiter w;
    weft__waiter_init(&w);
    weft__mutex_lock(&st->m);
    while (st->pending > 0 && !(stop && st->first_err)) {
        st->waiter = &w;
        weft__mutex_unlock(&st->m);
        rc = weft__waiter_park(&w, deadline);
        weft__mutex_lock(&st->m);
        st->waiter = NULL;
        if (rc) break;
        atomic_store_explicit(&w.state, WEFT__W_WAITING, memory_order_relaxed);
    }
    int first_err = st->first_err;
    size_t first_idx = st->first_idx;
    weft__mutex_unlock(&st->m);

    /* Take back the callbacks that have not run; each one taken back is a reference. */
    for (size_t i = 0; i < n; i++)
        if (weft__future_remove_cb(fs[i], &st->cbs[i].cb)) gather_unref(st);
    gather_unref(st);

    if (rc == -ECANCELED) {
        /* As asyncio: cancelling the gatherer cancels what it gathers. */
        for (size_t i = 0; i < n; i++) weft_future_cancel(fs[i]);
        fill_errs(fs, n, errs);
        return -ECANCELED;
    }
    fill_errs(fs, n, errs);
    if (rc) return rc;
    if (stop && first_err) return weft__future_take(fs[first_idx], NULL);
    return 0;
}

int weft_wait_for(weft_future *f, int64_t timeout, void **result)
{
    if (!f) return -EINVAL;
    weft__future_check(f);
    int rc = weft_future_result(f, timeout, result);
    if ((rc != -ETIMEDOUT && rc != -ECANCELED) || weft_future_done(f)) return rc;
    /* Cut short (its timeout, a deadline scope, the caller cancelled): cancel it and wait
     * until it has really ended, whatever else happens meanwhile. */
    weft_future_cancel(f);
    weft__future_wait(f, WEFT__NO_DEADLINE, true);
    int own = weft__future_take(f, result);
    /* If it ended anyway (it finished before the cancel reached it, or failed on its own),
     * that outcome is the truth; otherwise report why the wait was cut short. */
    return own == -ECANCELED ? rc : own;
}

typedef struct shield {
    weft__cb cb;
    weft_future *outer;
} shield;

static void shield_done(weft_future *f, void *arg)
{
    shield *s = arg;
    void *result = NULL;
    int err = weft__future_take(f, &result);    /* the outer future carries it on */
    weft__future_complete(s->outer, err, err >= 0 ? result : NULL);  /* -EBUSY: cancelled */
    weft_future_release(s->outer);
    weft__free(s);
}

int weft_shield(weft_future *f, weft_future **out)
{
    if (!f || !out) return -EINVAL;
    weft__future_check(f);
    shield *s = weft__malloc(sizeof *s);
    if (!s) return -ENOMEM;
    int rc = weft_future_create(&s->outer);
    if (rc) {
        weft__free(s);
        return rc;
    }
    weft_future_retain(s->outer);               /* the callback's reference */
    *out = s->outer;
    s->cb.fn = shield_done;
    s->cb.arg = s;
    weft__future_add_cb(f, &s->cb);
    return 0;
}
