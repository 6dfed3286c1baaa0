/* future/unretrieved.c — failures nobody collected (asyncio's "Task exception was never
 * retrieved").
 *
 * A future remembers whether its outcome was read (weft__future_take). When a failed one
 * (an error other than -ECANCELED) is freed unread — a detached coroutine that failed, a
 * handle released without a look — the hook is called once, from whatever context drops
 * the last reference. The hook is read under a mutex so that setting it races with nothing.
 */
#include "future/internal.h"

#include <stdio.h>

static weft__mutex hook_lock = WEFT__MUTEX_INIT;
static weft_unretrieved_fn hook_fn;
static void *hook_arg;

void weft_set_unretrieved_hook(weft_unretrieved_fn fn, void *arg)
{
    weft__mutex_lock(&hook_lock);
    hook_fn = fn;
    hook_arg = arg;
    weft__mutex_unlock(&hook_lock);
}

static void report_stderr(weft_future *f, int err)
{
    const char *name = f->ops && f->ops->name ? f->ops->name(f) : NULL;
    fprintf(stderr, "weft: %s%s%s failed with %s (%s) and nobody read its outcome\n",
            name ? "task '" : "a future", name ? name : "", name ? "'" : "",
            weft_errname(err), weft_strerror(err));
}

void weft__future_report_unretrieved(weft_future *f)
{
    if (!weft__future_is_done(f) || f->err >= 0 ||
        f->err == -ECANCELED || atomic_load_explicit(&f->retrieved, memory_order_relaxed))
        return;
    weft__mutex_lock(&hook_lock);
    weft_unretrieved_fn fn = hook_fn;
    void *arg = hook_arg;
    weft__mutex_unlock(&hook_lock);
    if (fn) fn(f, f->err, arg);
    else report_stderr(f, f->err);
}
