/* future/combine.c — waiting on futures together or under conditions: gather (asyncio.gather),
 * wait_for (a wait with a timeout that cancels what it waited for) and shield.
 *
 * gather watches its futures with the watch block of wait.c (one embedded callback each,
 * O(1) per completion, woken when everything is done or at the first error).
 */
#include "future/internal.h"

#include <stdlib.h>

/* Reports each outcome into errs (NULL: none): done ones collected, others -EBUSY. */
static void fill_errs(weft_future **fs, size_t n, int *errs)
{
    if (!errs) return;
    for (size_t i = 0; i < n; i++)
        errs[i] = weft_future_done(fs[i]) ? weft__future_take(fs[i], NULL) : -EBUSY;
}

int weft_gather(weft_future **fs, size_t n, int64_t timeout, bool return_exceptions, int *errs)
{
    int rc = weft__check_futures(fs, n);
    if (rc) return rc;
    int64_t deadline;
    if ((rc = weft__deadline(timeout, &deadline)) != 0) return rc;
    if (n == 0) return 0;
    bool stop = !return_exceptions;
    /* The ring gives the completion order: "the first error" is the first to happen. */
    weft__watch *w = weft__watch_new(fs, n, stop ? WEFT__WATCH_ANY_ERROR : WEFT_ALL_COMPLETED,
                                     true);
    if (!w) return -ENOMEM;
    rc = weft__watch_wait(w, deadline);
    size_t first = stop ? weft__watch_first_error(w) : n;
    weft__watch_free(w);
    if (rc == -ECANCELED) {
        /* As asyncio: cancelling the gatherer cancels what it gathers. */
        for (size_t i = 0; i < n; i++) weft_future_cancel(fs[i]);
        fill_errs(fs, n, errs);
        return -ECANCELED;
    }
    fill_errs(fs, n, errs);
    if (rc) return rc;
    return first < n ? weft__future_take(fs[first], NULL) : 0;
}

int weft_wait_for(weft_future *f, int64_t timeout, void **result)
{
    if (!f) return -EINVAL;
    weft__future_check(f);
    int rc = weft_future_result(f, timeout, result);
    if (rc != -ETIMEDOUT && rc != -ECANCELED) return rc;
    /* Done after all (it completed as the wait was cut): its outcome wins (rule 8). */
    if (weft_future_done(f)) return weft__future_take(f, result);
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
