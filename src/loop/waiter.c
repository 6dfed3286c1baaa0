/* loop/waiter.c — park and unpark: the one mechanism under every blocking call.
 *
 * The state word moves exactly once from WAITING to WOKEN, TIMEDOUT or CANCELLED, by a
 * compare-and-swap (or, for a coroutine waiter whose every claimer runs on its loop's thread,
 * a plain load and store: weft__waiter_wake_local); whoever wins delivers the wake-up (see loop/internal.h for the protocol
 * primitives follow). Three kinds of waiter, chosen by weft__waiter_init:
 *   coroutine     park = switch away; a deadline is a timer on its loop; cancellation
 *                 claims it from the loop thread; unpark = run queue (local) or remote post.
 *   thread + loop the thread's own context while its loop has live coroutines: park runs
 *                 the loop (sched.c main_run) until claimed; unpark as for a coroutine.
 *   thread        spins briefly, then sleeps on the state word itself (FUTEX_WAIT) after
 *                 setting the SLEEPING flag; a claimer calls FUTEX_WAKE only if that flag
 *                 was set, so a wake-up that lands during the spin costs no system call.
 */
#include "loop/internal.h"
#include "loop/mpsc.h"

static int status_rc(uint32_t s)
{
    switch (s & WEFT__W_STATUS) {
    case WEFT__W_WOKEN: return 0;
    case WEFT__W_TIMEDOUT: return -ETIMEDOUT;
    default: return -ECANCELED;
    }
}

void weft__waiter_init(weft__waiter *w)
{
    atomic_init(&w->state, WEFT__W_WAITING);
    w->shielded = false;
    w->no_spin = false;
    w->cut = false;
    w->timer.index = WEFT__TIMER_IDLE;
    w->data = NULL;
    weft__tls *t = weft__tls_get();
    if (weft__waits_on_loop(t)) {
        weft__loop *l = t->loop;
        w->coro = l->current;
        w->loop = l;
        /* A compact coroutine's frames move while it is parked: its waiter must be its park
         * record (weft__park_get), which stays put. A call not converted yet stops here
         * rather than corrupt another coroutine's frames later. */
        if (weft__unlikely(l->current->compact) && w != &l->current->cpt->park.w)
            weft__fatal("a compact coroutine blocked in a call that does not support "
                        "compact stacks (docs/COMPACT_STACKS.md lists those that do)");
    } else {
        w->coro = NULL;
        w->loop = NULL;
    }
}

static void deadline_fire(weft__loop *l, weft__timer *t)
{
    (void)l;
    weft__waiter_wake(weft__container_of(t, weft__waiter, timer), WEFT__W_TIMEDOUT);
}

/* A pool job's thread waits in slices of JOB_SLICE, to see its job's cancel flag. */
#define JOB_SLICE (1000 * 1000)

static bool job_cancelled(const weft__waiter *w)
{
    const _Atomic bool *flag = weft__tls_get()->job_cancel;
    return flag && !w->shielded && atomic_load_explicit(flag, memory_order_relaxed);
}

/* Claims w for cancellation; false if a waker claimed it first. */
static bool claim_cancelled(weft__waiter *w, uint32_t *s)
{
    return atomic_compare_exchange_strong_explicit(&w->state, s, WEFT__W_CANCELLED,
                                                   memory_order_acq_rel,
                                                   memory_order_acquire);
}

static int park_thread(weft__waiter *w, int64_t deadline)
{
    uint32_t s;
    bool in_job = weft__tls_get()->job_cancel != NULL && !w->shielded;
    if (in_job && job_cancelled(w)) {
        s = WEFT__W_WAITING;
        if (claim_cancelled(w, &s)) return -ECANCELED;
    }
    int64_t spin_end = 0;
    for (unsigned i = 0; !w->no_spin; i++) {
        s = atomic_load_explicit(&w->state, memory_order_acquire);
        if (s & WEFT__W_STATUS) return status_rc(s);
        if ((i & 31) == 0) {              /* read the clock now and then (WEFT__SPIN_NS) */
            int64_t now = weft_now();
            if (!spin_end) spin_end = now + WEFT__SPIN_NS;
            else if (now >= spin_end || now >= deadline) break;
        }
        weft__cpu_relax();
    }
    weft__perturb(WEFT__PP_WAITER_SLEEP);
    s = WEFT__W_WAITING;
    if (!atomic_compare_exchange_strong_explicit(&w->state, &s,
                                                 WEFT__W_WAITING | WEFT__W_SLEEPING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return status_rc(s);
    for (;;) {
        int64_t until = deadline;
        if (in_job) {
            int64_t slice = weft_now() + JOB_SLICE;
            if (slice < until) until = slice;
        }
        int r = weft__futex_wait(&w->state, WEFT__W_WAITING | WEFT__W_SLEEPING, until);
        s = atomic_load_explicit(&w->state, memory_order_acquire);
        if (s & WEFT__W_STATUS) return status_rc(s);
        if (in_job && job_cancelled(w) && claim_cancelled(w, &s)) return -ECANCELED;
        if (r == -ETIMEDOUT && until == deadline &&
            atomic_compare_exchange_strong_explicit(&w->state, &s, WEFT__W_TIMEDOUT,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            return -ETIMEDOUT;
    }
}

static int park(weft__waiter *w, int64_t deadline);

/* Applies the calling context's deadline scopes (scope.c), then parks. */
int weft__waiter_park(weft__waiter *w, int64_t deadline)
{
    weft__scope *sc = *weft__scope_slot();
    if (weft__likely(!sc)) return park(w, deadline);
    weft__limits lim;
    weft__scope_limits(sc, &lim);
    if (lim.shielded) w->shielded = true;
    if (lim.deadline >= deadline) lim.by = NULL;  /* the call's own timeout wins ties */
    else deadline = lim.deadline;
    int rc = park(w, deadline);
    if (rc == -ETIMEDOUT && lim.by) {
        lim.by->hit = true;
        w->cut = true;
    }
    return rc;
}

int weft__waiter_park_raw(weft__waiter *w, int64_t deadline)
{
    return park(w, deadline);
}

static int park(weft__waiter *w, int64_t deadline)
{
    weft__assert_no_mutex();
    weft__coro *c = w->coro;
    if (!c) return park_thread(w, deadline);
    weft__loop *l = w->loop;
    if (c->cancelled && !w->shielded) {
        uint32_t s = WEFT__W_WAITING;
        if (atomic_compare_exchange_strong_explicit(&w->state, &s, WEFT__W_CANCELLED,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            return -ECANCELED;
        /* A waker claimed it first: its wake-up is on the way and must be consumed by
         * parking, or it would later make this coroutine runnable while it runs. */
    }
    if (deadline != WEFT__NO_DEADLINE) {
        w->timer.deadline = deadline;
        w->timer.fire = deadline_fire;
        weft__timer_add(l, &w->timer);
    }
    c->waiter = w;
    weft__sched_park(l, w);
    c->waiter = NULL;
    weft__timer_del(l, &w->timer);
    return status_rc(atomic_load_explicit(&w->state, memory_order_acquire));
}

bool weft__waiter_claim(weft__waiter *w, uint32_t why, weft__wake *wk)
{
    /* Read before the CAS: once it succeeds a thread waiter may return and be gone. */
    weft__coro *c = w->coro;
    weft__loop *l = w->loop;
    /* The reference keeps another thread's loop valid for the wake-up that follows (the
     * post and the poke), and it is taken BEFORE the claim: once the CAS succeeds, a waiter
     * that is its thread's main context may see its state change and return (main_run
     * does not wait for the post), and its thread may exit and free the loop. Until the
     * CAS the waiter is still parked and listed where the caller found it, so the loop is
     * alive now. A lost claim gives the reference back (it cannot be the last one: the
     * waiter's own loop holds its own until it ends). */
    bool ref = c && l != weft__tls_self.loop;
    if (ref) weft__loop_ref(l);
    uint32_t old = atomic_load_explicit(&w->state, memory_order_relaxed);
    do {
        if (old & WEFT__W_STATUS) {
            if (ref) weft__loop_unref(l);
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&w->state, &old, why, memory_order_acq_rel,
                                                    memory_order_relaxed));
    weft__perturb(WEFT__PP_WAITER_CLAIM);
    wk->coro = c;
    wk->loop = l;
    wk->futex = (!c && (old & WEFT__W_SLEEPING)) ? &w->state : NULL;
    return true;
}

void weft__wake_deliver(const weft__wake *wk)
{
    weft__coro *c = wk->coro;
    if (!c) {
        if (wk->futex) weft__futex_wake(wk->futex, 1);
        return;
    }
    weft__loop *l = wk->loop;
    if (l == weft__tls_self.loop) {
        weft__loop_ready(l, c);
        return;
    }
    /* Main's node may still be on the queue from an earlier wake-up that main noticed
     * without waiting for it; pushing it twice would corrupt the queue. */
    if (!c->is_main || !atomic_exchange_explicit(&l->main_posted, 1, memory_order_acq_rel))
        weft__mpsc_push(&l->remote, &c->remote);
    weft__perturb(WEFT__PP_WAITER_DELIVER);
    weft__loop_poke(l);
    weft__loop_unref(l);
}
