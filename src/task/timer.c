/* task/timer.c — weft_timer: threading.Timer, on a coroutine or a thread.
 *
 * The runner (a detached coroutine, or a thread: non-daemon unless asked) waits on an event for the
 * delay; state moves once from WAITING to FIRED (the runner is about to call fn) or to
 * CANCELLED (weft_timer_cancel, or the runner's own wait being cancelled): the CAS decides
 * whether fn runs. A cancel completes the future itself and sets the event, so the runner
 * wakes and leaves at once. A runner coroutine cancelled before it first ran (its loop shut
 * down) never runs: a done-callback on its task then cancels the timer. References: the
 * caller's handle and the runner's (dropped by the thread runner, or by that callback).
 * The timer is its future: its reference count is the timer's (weft_timer_future hands
 * out one more, as every call that gives a future does), and weft_future_cancel on it is
 * weft_timer_cancel. A daemon runner thread is abandoned at exit with its reference.
 */
#include "future/internal.h"

enum { WAITING, FIRED, CANCELLED };

struct weft_timer {
    weft_future fut;                    /* completed with fn's outcome, or -ECANCELED */
    _Atomic uint32_t state;
    weft_event *wake;
    int64_t deadline;                   /* when fn is due: counted from weft_timer_start */
    weft_fn fn;
    void *arg;
};

static void timer_unref(weft_timer *t)
{
    weft_future_release(&t->fut);
}

static void timer_free(weft_future *f)
{
    weft_timer *t = weft__container_of(f, weft_timer, fut);
    weft_event_destroy(t->wake);
    weft__free(t);
}

static int timer_cancel(weft_future *f);
static const weft__future_ops timer_ops = { timer_cancel, timer_free, NULL, NULL, NULL, NULL };

static bool move_from_waiting(weft_timer *t, uint32_t to)
{
    uint32_t s = WAITING;
    return atomic_compare_exchange_strong_explicit(&t->state, &s, to, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* The runner itself ended without firing (cancelled: its loop shut down): so does the
 * timer, unless it was cancelled or fired already. */
static void cancel_unless_done(weft_timer *t)
{
    if (move_from_waiting(t, CANCELLED)) weft__future_complete(&t->fut, -ECANCELED, NULL);
}

static int runner(void *arg, void **result)
{
    (void)result;
    weft_timer *t = arg;
    int64_t left = t->deadline - weft_now();
    int rc = weft_event_wait(t->wake, left > 0 ? left : 0);
    if (rc == -ETIMEDOUT && move_from_waiting(t, FIRED)) {
        void *res = NULL;
        rc = t->fn(t->arg, &res);
        weft__future_complete(&t->fut, rc, res);
    }
    cancel_unless_done(t);
    return 0;
}

static int thread_runner(void *arg, void **result)
{
    runner(arg, result);
    timer_unref(arg);
    return 0;
}

/* The runner coroutine's task is done: it ran, or it was cancelled before it could. */
static void coroutine_runner_done(weft_future *task, void *arg)
{
    cancel_unless_done(arg);
    timer_unref(arg);
    weft_future_release(task);
}

int weft_timer_start(weft_timer **out, int64_t delay, weft_fn fn, void *arg,
                     const weft_timer_opts *opts)
{
    if (!out || !fn || delay < 0) return -EINVAL;
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    weft_timer *t = weft__calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    int rc = weft_event_create(&t->wake);
    if (rc) {
        weft__free(t);
        return rc;
    }
    weft__future_init(&t->fut, &timer_ops, 2);     /* the caller's and the runner's */
    atomic_init(&t->state, WAITING);
    weft__deadline(delay, &t->deadline);
    t->fn = fn;
    t->arg = arg;
    if (opts && opts->thread) {
        weft_thread *th;
        weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
        to.name = "weft-timer";
        to.daemon = opts->daemon;
        rc = weft__thread_start_quiet(&th, &to, thread_runner, t);
        if (rc == 0) weft_thread_release(th);
    } else {
        weft_future *task;
        rc = weft_spawn(&task, runner, t);
        if (rc == 0 && (rc = weft_future_add_done_callback(task, coroutine_runner_done, t))) {
            weft_future_cancel(task);          /* out of memory: it never runs */
            weft_future_release(task);
        }
    }
    if (rc) {
        weft_future_release(&t->fut);
        timer_unref(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int timer_cancel(weft_future *f)
{
    weft_timer *t = weft__container_of(f, weft_timer, fut);
    if (!move_from_waiting(t, CANCELLED)) return -EBUSY;
    weft__future_complete(&t->fut, -ECANCELED, NULL);
    weft_event_set(t->wake);
    return 0;
}

int weft_timer_cancel(weft_timer *t)
{
    return t ? timer_cancel(&t->fut) : -EINVAL;
}

weft_future *weft_timer_future(weft_timer *t)
{
    if (!t) return NULL;
    weft_future_retain(&t->fut);
    return &t->fut;
}

void weft_timer_release(weft_timer *t)
{
    if (t) timer_unref(t);
}
