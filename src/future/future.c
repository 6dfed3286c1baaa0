/* future/future.c — futures: waiting, completion, callbacks, cancellation, references.
 *
 * Waiting follows the waiter protocol of loop/internal.h: a waiter links a node into
 * f->waiters under f->lock and parks; completion sets done, claims every waiter under the
 * lock and delivers the wake-ups after it. A waiter that times out or is cancelled unlinks
 * itself under the lock if completion has not already done so.
 * Debug builds poison a freed future and keep the last QUARANTINE of them from reuse, so a
 * use after the last release trips an assert instead of reading someone else's object.
 */
#include "future/internal.h"

#include <stdlib.h>

#define FUTURE_MAGIC 0x77667574u   /* "wfut" */
#define FUTURE_DEAD  0xdeadf00du

void weft__future_check(const weft_future *f)
{
    weft__assert(f->magic == FUTURE_MAGIC,
                 "a future used after its last weft_future_release (or not a future)");
    (void)f;
}

void weft__future_init(weft_future *f, const weft__future_ops *ops, uint32_t refs)
{
    f->magic = FUTURE_MAGIC;
    atomic_init(&f->refs, refs);
    atomic_init(&f->done, 0);
    atomic_init(&f->cancel_requested, 0);
    atomic_init(&f->retrieved, 0);
    f->lock = (weft__mutex)WEFT__MUTEX_INIT;
    f->err = 0;
    f->result = NULL;
    weft__list_init(&f->waiters);
    f->cbs = NULL;
    f->ops = ops;
}

int weft_future_create(weft_future **out)
{
    if (!out) return -EINVAL;
    weft_future *f = weft__malloc(sizeof *f);
    if (!f) return -ENOMEM;
    weft__future_init(f, NULL, 1);
    *out = f;
    return 0;
}

/* ---- futures completed by the program, with hooks (weft_future_create_hooked) ---------- */

typedef struct hooked {
    weft_future f;                    /* first */
    const weft_future_hooks *h;
    void *arg;
} hooked;

static int hooked_cancel(weft_future *f)
{
    hooked *x = (hooked *)f;
    atomic_store_explicit(&f->cancel_requested, 1, memory_order_relaxed);
    if (x->h->cancel) return x->h->cancel(f, x->arg);
    return weft__future_complete(f, -ECANCELED, NULL) == 0 ? 0 : -EBUSY;
}

static void hooked_free(weft_future *f)
{
    hooked *x = (hooked *)f;
    if (x->h->free) x->h->free(f->err == 0 ? f->result : NULL, x->arg);
    weft__free(x);
}

static const weft__future_ops hooked_ops = { hooked_cancel, hooked_free, NULL, NULL, NULL, NULL };

int weft_future_create_hooked(weft_future **out, const weft_future_hooks *h, void *arg)
{
    if (!out || !h) return -EINVAL;
    hooked *x = weft__malloc(sizeof *x);
    if (!x) return -ENOMEM;
    weft__future_init(&x->f, &hooked_ops, 1);
    x->h = h;
    x->arg = arg;
    *out = &x->f;
    return 0;
}

void *weft_future_hooked_arg(weft_future *f, const weft_future_hooks *h)
{
    if (!f || f->ops != &hooked_ops || ((hooked *)f)->h != h) return NULL;
    return ((hooked *)f)->arg;
}

static inline bool settable(const weft_future *f)
{
    return f && (!f->ops || f->ops == &hooked_ops);
}

static inline bool is_done(const weft_future *f) { return weft__future_is_done(f); }

/* After DONE is published, with f->lock held: claims every waiter into q and takes the
 * callback list; unlocks. Then delivers the wake-ups and runs the callbacks. */
static void deliver_locked(weft_future *f, weft__wakeq *q)
{
    weft__list *n;
    while ((n = weft__list_pop_front(&f->waiters)) != NULL)
        weft__wakeq_claim(q, weft__container_of(n, weft__wait_node, link)->waiter,
                          WEFT__W_WOKEN);
    weft__cb *cb = f->cbs;
    f->cbs = NULL;
    weft__mutex_unlock(&f->lock);
    weft__wakeq_flush(q);
    while (cb) {
        /* Read all of it first: an embedded node may be gone once its callback ran. */
        weft__cb *next = cb->next;
        bool embedded = cb->embedded;
        weft_future_cb fn = cb->fn;
        void *arg = cb->arg;
        if (!embedded) weft__free(cb);
        fn(f, arg);
        cb = next;
    }
}

int weft__future_complete(weft_future *f, int err, void *result)
{
    weft__mutex_lock(&f->lock);
    if (is_done(f)) {
        weft__mutex_unlock(&f->lock);
        return -EBUSY;
    }
    f->err = err;
    f->result = result;
    atomic_fetch_or_explicit(&f->done, WEFT__F_DONE, memory_order_release);
    weft__wakeq q;
    weft__wakeq_init(&q);
    deliver_locked(f, &q);
    return 0;
}

void weft__future_complete_owned(weft_future *f, int err, void *result)
{
    f->err = err;
    f->result = result;
    /* One exchange publishes the outcome and reads whether anyone watches (internal.h). */
    uint32_t old = atomic_exchange_explicit(&f->done, WEFT__F_DONE, memory_order_acq_rel);
    weft__assert(!(old & WEFT__F_DONE), "an owned future completed twice");
    if (!(old & WEFT__F_WATCHED)) return;
    weft__perturb(WEFT__PP_FUTURE_OWNED);
    weft__mutex_lock(&f->lock);
    weft__wakeq q;
    weft__wakeq_init(&q);
    deliver_locked(f, &q);
}

int weft_future_set_result(weft_future *f, void *result)
{
    if (!settable(f)) return -EINVAL;
    weft__future_check(f);
    return weft__future_complete(f, 0, result);
}

int weft_future_set_error(weft_future *f, int err)
{
    if (!settable(f) || err >= 0) return -EINVAL;
    weft__future_check(f);
    return weft__future_complete(f, err, NULL);
}

/* Waits until f is done: 0, or the park's -ETIMEDOUT / -ECANCELED. raw: no deadline
 * scopes, and shielded from cancellation. */
static int wait_done(weft_future *f, int64_t deadline, bool raw)
{
    weft__park local, *p = weft__park_get(&local);
    weft__waiter *w = &p->w;
    weft__waiter_init(w);
    w->shielded = raw;
    if (weft__future_watch(f)) {
        weft__mutex_unlock(&f->lock);
        return 0;
    }
    weft__list_push_back(&f->waiters, &p->node.link);
    weft__mutex_unlock(&f->lock);
    int rc = raw ? weft__waiter_park_raw(w, deadline) : weft__waiter_park(w, deadline);
    if (rc) {
        weft__mutex_lock(&f->lock);
        if (weft__list_linked(&p->node.link)) weft__list_unlink(&p->node.link);
        weft__mutex_unlock(&f->lock);
    }
    return rc;
}

int weft__future_wait(weft_future *f, int64_t deadline, bool shielded)
{
    if (is_done(f)) return 0;
    return wait_done(f, deadline, shielded);
}

/* A plain thread (no loop to run, no deadline scope, not a cancelled job) about to wait:
 * first watch `done` alone for up to RESULT_SPIN_NS. A result that comes within that time
 * (a pool's round trip) is then taken without registering a waiter under the future's lock,
 * so the completing thread touches one line of ours fewer and the waiter's never. Reads back
 * off from 1 to 8 pauses: a few leave the line to the completing thread's writes, more would
 * leave the result unseen for microseconds. True if done. */
#define RESULT_SPIN_NS (10 * WEFT_US)
#define RESULT_SPIN_PAUSE_MAX 8     /* a pause is 20-50 ns here: a look every <= ~0.4 us */

/* The calling thread may spin or run work while it waits: a plain thread (no loop to run,
 * no deadline scope), not a job that was asked to stop. */
static bool plain_thread_wait(void)
{
    weft__tls *t = weft__tls_get();
    return !weft__waits_on_loop(t) && !t->scope &&
           !(t->job_cancel && atomic_load_explicit(t->job_cancel, memory_order_relaxed));
}

static bool spin_until_done(weft_future *f, int64_t deadline)
{
    int64_t end = weft_now() + RESULT_SPIN_NS;
    if (end > deadline) end = deadline;
    unsigned pause = 1;
    for (unsigned i = 1;; i++) {
        if (is_done(f)) return true;
        if ((i & 15) == 0 && weft_now() >= end) return false;
        for (unsigned k = 0; k < pause; k++) weft__cpu_relax();
        if (pause < RESULT_SPIN_PAUSE_MAX) pause *= 2;
    }
}

int weft_future_result(weft_future *f, int64_t timeout, void **result)
{
    if (!f) return -EINVAL;
    weft__future_check(f);
    if (is_done(f)) return weft__future_take(f, result);
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (timeout == 0) return -ETIMEDOUT;
    weft__coro *self = weft__coro_current();
    /* An executor's own wait first (it answers -EDEADLK for the caller's own task too). */
    if (self && f->ops && f->ops->join && (rc = f->ops->join(f, deadline)) != 1)
        return rc && !is_done(f) ? rc : weft__future_take(f, result);   /* as below */
    if (self && self->ops->task(self) == f) return -EDEADLK;
    bool plain = !self && plain_thread_wait();
    if (plain && timeout == WEFT_FOREVER && f->ops && f->ops->help && f->ops->help(f))
        return weft__future_take(f, result);
    void (*blocking)(weft_future *, int) = !self && f->ops ? f->ops->blocking : NULL;
    if (blocking) blocking(f, +1);
    rc = plain && spin_until_done(f, deadline) ? 0 : wait_done(f, deadline, false);
    if (blocking) blocking(f, -1);
    /* A wait cut short (timeout, cancellation, a scope) by a future that completed
     * meanwhile reports the outcome (docs/CANCELLATION.md rule 8): a result that may own
     * memory is never dropped. */
    return rc && !is_done(f) ? rc : weft__future_take(f, result);
}

int weft_future_cancel(weft_future *f)
{
    if (!f) return -EINVAL;
    weft__future_check(f);
    if (is_done(f)) return -EBUSY;
    if (f->ops && f->ops->cancel) return f->ops->cancel(f);
    atomic_store_explicit(&f->cancel_requested, 1, memory_order_relaxed);
    return weft__future_complete(f, -ECANCELED, NULL) == 0 ? 0 : -EBUSY;
}

bool weft_future_done(weft_future *f)
{
    if (!f) return false;
    weft__future_check(f);
    return is_done(f);
}

bool weft_future_cancelled(weft_future *f)
{
    if (!f) return false;
    weft__future_check(f);
    return is_done(f) && f->err == -ECANCELED;
}

void weft_future_retain(weft_future *f)
{
    if (!f) return;
    weft__future_check(f);
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

#if WEFT_DEBUG
/* Freed futures wait here, poisoned, before their memory is really given back. */
#define QUARANTINE 256
static weft__mutex quarantine_lock = WEFT__MUTEX_INIT;
static weft_future *quarantine[QUARANTINE];
static unsigned quarantine_next;
#endif

static void destroy(weft_future *f)
{
    weft__assert(weft__list_empty(&f->waiters), "a future freed while someone waits on it");
    /* The common case (a success) without the call: the function checks it all again. */
    if (weft__unlikely(f->err < 0)) weft__future_report_unretrieved(f);
    weft__cb *cb = f->cbs;
    while (cb) {
        weft__cb *next = cb->next;
        if (!cb->embedded) weft__free(cb);
        cb = next;
    }
    f->magic = FUTURE_DEAD;
#if WEFT_DEBUG
    weft__mutex_lock(&quarantine_lock);
    weft_future *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = f;
    quarantine_next = (quarantine_next + 1) % QUARANTINE;
    weft__mutex_unlock(&quarantine_lock);
    f = old;
    if (!f) return;
#endif
    if (f->ops) f->ops->free(f);
    else weft__free(f);
}

void weft_future_release(weft_future *f)
{
    if (!f) return;
    weft__future_check(f);
    /* The last reference (a joined task's handle, whose loop let go of it at the task's
     * end): nobody else holds one, so nobody can take another; an acquire load of 1
     * synchronises with the other holders' releasing decrements as the RMW would, and
     * saves a locked instruction. */
    if (atomic_load_explicit(&f->refs, memory_order_acquire) == 1 ||
        atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        destroy(f);
}

int weft_future_add_done_callback(weft_future *f, weft_future_cb fn, void *arg)
{
    if (!f || !fn) return -EINVAL;
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    weft__future_check(f);
    if (!is_done(f)) {
        weft__cb *cb = weft__malloc(sizeof *cb);
        if (!cb) return -ENOMEM;
        cb->next = NULL;
        cb->fn = fn;
        cb->arg = arg;
        cb->embedded = false;
        if (!weft__future_watch(f)) {
            weft__cb **tail = &f->cbs;      /* callbacks are few: walk to the end */
            while (*tail) tail = &(*tail)->next;
            *tail = cb;
            weft__mutex_unlock(&f->lock);
            return 0;
        }
        weft__mutex_unlock(&f->lock);
        weft__free(cb);
    }
    fn(f, arg);
    return 0;
}

int weft_future_remove_done_callback(weft_future *f, weft_future_cb fn, void *arg)
{
    if (!f || !fn) return -EINVAL;
    weft__future_check(f);
    int removed = 0;
    weft__cb *gone = NULL;
    weft__mutex_lock(&f->lock);
    if (is_done(f)) {
        /* Its callbacks are delivered, or about to be (an owned completion publishes DONE
         * before it takes the lock to run them): none is taken back. */
        weft__mutex_unlock(&f->lock);
        return 0;
    }
    weft__cb **pp = &f->cbs;
    while (*pp) {
        weft__cb *cb = *pp;
        if (cb->fn == fn && cb->arg == arg && !cb->embedded) {
            *pp = cb->next;
            cb->next = gone;
            gone = cb;
            removed++;
        } else {
            pp = &cb->next;
        }
    }
    weft__mutex_unlock(&f->lock);
    while (gone) {
        weft__cb *next = gone->next;
        weft__free(gone);
        gone = next;
    }
    return removed;
}

void weft__future_add_cb(weft_future *f, weft__cb *cb)
{
    cb->next = NULL;
    cb->embedded = true;
    if (!is_done(f)) {
        if (!weft__future_watch(f)) {
            weft__cb **tail = &f->cbs;
            while (*tail) tail = &(*tail)->next;
            *tail = cb;
            weft__mutex_unlock(&f->lock);
            return;
        }
        weft__mutex_unlock(&f->lock);
    }
    cb->fn(f, cb->arg);
}

bool weft__future_remove_cb(weft_future *f, weft__cb *cb)
{
    bool removed = false;
    weft__mutex_lock(&f->lock);
    if (is_done(f)) {                       /* as in weft_future_remove_done_callback */
        weft__mutex_unlock(&f->lock);
        return false;
    }
    for (weft__cb **pp = &f->cbs; *pp; pp = &(*pp)->next) {
        if (*pp == cb) {
            *pp = cb->next;
            removed = true;
            break;
        }
    }
    weft__mutex_unlock(&f->lock);
    return removed;
}
