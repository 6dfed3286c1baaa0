/* future/internal.h — the one future type, shared by every executor (coroutines, threads,
 * and later the pools), and what an executor plugs into it.
 *
 * Locking: f->lock guards the wait list and the callback list, and orders completion
 * (weft__future_complete sets done under it). It is a leaf lock: nothing else is taken while
 * holding it, and no callback or wake-up delivery runs under it (the wake batch may flush
 * under it when it is full, which only queues coroutines or wakes futexes).
 *
 * The state word `done` holds two bits: WEFT__F_DONE (err and result are final; release /
 * acquire) and WEFT__F_WATCHED (somebody took the lock to wait or to add a callback:
 * weft__future_watch). A completer that is the only one that can complete its future
 * (weft__future_complete_owned: a pool job claimed by its state, a task) publishes DONE with one
 * exchange and takes the lock only if WATCHED was set: a future nobody waited on completes
 * without a lock. Since WATCHED is set under the lock before a waiter links itself, a
 * completer that sees it finds the waiter linked once it has the lock; a waiter whose
 * read-modify-write sees DONE does not link at all. Between an owned completion's DONE and
 * its taking the lock, callbacks are still listed: removing one from a done future must
 * fail (it will run). A task's cancel watches its future (it sets WATCHED under the lock)
 * because tasks complete owned; a remote request's cancel checks done under the lock
 * without setting WATCHED: right only because requests complete with the locked
 * weft__future_complete.
 */
#ifndef WEFT_FUTURE_INTERNAL_H
#define WEFT_FUTURE_INTERNAL_H

#include "loop/internal.h"

typedef struct weft__future_ops {
    /* weft_future_cancel on a pending future of this kind; NULL: complete it -ECANCELED. */
    int (*cancel)(weft_future *f);
    /* Frees the object that contains f (after the last release). */
    void (*free)(weft_future *f);
    /* Its name for reports (a task's or thread's), or NULL; may itself be NULL. */
    const char *(*name)(weft_future *f);
    /* A thread is about to wait on f (delta +1) / has stopped waiting (-1), in
     * weft_future_result: a pool starts a compensating worker when one of its own workers
     * waits on one of its jobs. May be NULL. */
    void (*blocking)(weft_future *f, int delta);
    /* A plain thread (no loop to run, no deadline scope) is about to wait on f with no time
     * limit: the executor may run the work here (a pool created with caller_runs). True if
     * f is now done. May be NULL. */
    bool (*help)(weft_future *f);
    /* A coroutine is about to wait on f (not done) until deadline: the executor may take
     * the wait itself (a task of the same loop: its one joiner slot, no lock; see
     * task/task.c). Returns 1 if it did not (the caller then waits the usual way), else the
     * wait's outcome (0, or -ETIMEDOUT / -ECANCELED as weft__waiter_park's), or -EDEADLK
     * if f is the calling coroutine's own task. May be NULL. */
    int (*join)(weft_future *f, int64_t deadline);
} weft__future_ops;

typedef struct weft__cb {
    struct weft__cb *next;
    weft_future_cb fn;
    void *arg;
    bool embedded;                    /* the caller's storage (weft__future_add_cb): never
                                         freed by the future */
} weft__cb;

struct weft_future {
    uint32_t magic;                   /* FUTURE_MAGIC while alive (debug checks) */
    _Atomic uint32_t refs;
    _Atomic uint32_t done;            /* WEFT__F_DONE | WEFT__F_WATCHED (above) */
    _Atomic uint32_t cancel_requested;/* weft_future_cancel was called (executors' use) */
    _Atomic uint32_t retrieved;       /* somebody read the outcome (unretrieved.c) */
    weft__mutex lock;
    int err;                          /* final once done */
    union {
        void *result;                 /* final once done */
        struct weft__waiter *joiner;  /* a task's joiner, while not done (task/task.c); its
                                         loop's thread only */
    };
    weft__list waiters;               /* weft__wait_node; lock */
    weft__cb *cbs;                    /* lock; in the order added */
    const weft__future_ops *ops;      /* NULL: a plain future (weft_future_create) */
};

#define WEFT__F_DONE    1u
#define WEFT__F_WATCHED 2u

/* Whether f's outcome is final (acquire: err and result may be read). Any context. */
static inline bool weft__future_is_done(const weft_future *f)
{
    return (atomic_load_explicit(&f->done, memory_order_acquire) & WEFT__F_DONE) != 0;
}

/* Takes f->lock to link a waiter or a callback, which must be ordered with completion:
 * marks f WATCHED, so that even an owned completion (weft__future_complete_owned) takes the
 * lock. Returns whether f
 * is done; the lock is held either way. Any context; never blocks for long (a leaf lock). */
static inline bool weft__future_watch(weft_future *f)
{
    weft__mutex_lock(&f->lock);
    uint32_t old = atomic_fetch_or_explicit(&f->done, WEFT__F_WATCHED, memory_order_acq_rel);
    return (old & WEFT__F_DONE) != 0;
}

/* Initialises an embedded future with refs references. */
void weft__future_init(weft_future *f, const weft__future_ops *ops, uint32_t refs);

/* Completes f: stores err and result, wakes every waiter, runs the callbacks on the calling
 * context. -EBUSY if it was already done. Any context; never blocks. */
int weft__future_complete(weft_future *f, int err, void *result);

/* weft__future_complete for a completer that is the only one that can complete f (it won
 * the claim on its executor's state: a pool job's QUEUED -> RUNNING or -> CANCELLED; a task,
 * completed only by its own coroutine or its failed start): no
 * check for a second completion, and no lock unless somebody watches f (waits on it or added
 * a callback). Every completion of such a future must go through here. Any context; never
 * blocks. */
void weft__future_complete_owned(weft_future *f, int err, void *result);

/* Adds cb (caller-owned storage, cb->fn and cb->arg set) as a done callback: run at
 * completion, or at once on the calling context if f is already done. The storage must
 * stay valid until the callback has run or weft__future_remove_cb took it back. Any
 * context; never blocks. */
void weft__future_add_cb(weft_future *f, weft__cb *cb);

/* weft__future_add_cb for a future nobody else can reach yet (a task not yet started):
 * no locking. */
static inline void weft__future_add_cb_unshared(weft_future *f, weft__cb *cb)
{
    cb->embedded = true;
    cb->next = f->cbs;
    f->cbs = cb;
    /* Nobody else can reach f yet: a plain store, no read-modify-write. */
    atomic_store_explicit(&f->done,
                          atomic_load_explicit(&f->done, memory_order_relaxed) | WEFT__F_WATCHED,
                          memory_order_relaxed);
}

/* Takes cb back if it has not run; true if it was removed (it will not run). */
bool weft__future_remove_cb(weft_future *f, weft__cb *cb);

/* Waits for f to be done until the absolute deadline, bypassing deadline scopes and, if
 * shielded, cancellation: for waits that must not be cut short (wait_for's wait for the
 * cancelled future, a group's wait for its cancelled children). 0 (done), -ETIMEDOUT,
 * -ECANCELED (not shielded only). Blocks. */
int weft__future_wait(weft_future *f, int64_t deadline, bool shielded);

/* weft_thread_start for the threads weft makes for itself (pool workers, timer threads):
 * the new thread blocks every asynchronous signal, so that none meant for the application
 * is delivered to it. */
int weft__thread_start_quiet(weft_thread **t, const weft_thread_opts *opts, weft_fn fn,
                             void *arg);

/* The outcome of a done future, marking it collected (no unretrieved report). */
static inline int weft__future_take(weft_future *f, void **result)
{
    atomic_store_explicit(&f->retrieved, 1, memory_order_relaxed);
    if (result && f->err >= 0) *result = f->result;
    return f->err;
}

/* ---- watching many futures (wait.c; used by weft_wait, as_completed and gather) ---- */

/* A block with one embedded callback per future: O(1) work per completion, the waiter woken
 * only when the block's condition holds. Conditions: WEFT_FIRST_COMPLETED,
 * WEFT_FIRST_EXCEPTION, WEFT_ALL_COMPLETED, or these: */
#define WEFT__WATCH_NEXT      0   /* one not yet handed out is done (as_completed) */
#define WEFT__WATCH_ANY_ERROR 4   /* one ended with any error (-ECANCELED too), or all done */
typedef struct weft__watch weft__watch;

/* -EINVAL (fs NULL with n > 0, a NULL future), -ENOMEM (n too large for the block), or 0. */
int weft__check_futures(weft_future **fs, size_t n);

/* Attaches the callbacks (those of futures already done run at once). ring: also record
 * the completion order. NULL: -ENOMEM. Any context. */
weft__watch *weft__watch_new(weft_future **fs, size_t n, int when, bool ring);

/* Until the condition holds or the absolute deadline passes: 0, -ETIMEDOUT, -ECANCELED.
 * Blocks (a thread or a coroutine). */
int weft__watch_wait(weft__watch *w, int64_t deadline);

/* (ring) The index of the first future, in completion order, that ended with an error
 * (-ECANCELED included); n if none. */
size_t weft__watch_first_error(weft__watch *w);

/* Takes back the callbacks that have not run and drops the caller's reference. */
void weft__watch_free(weft__watch *w);

/* unretrieved.c: called when f is freed; reports a failure nobody collected. */
void weft__future_report_unretrieved(weft_future *f);

/* Debug check on every entry point: the future is alive. */
void weft__future_check(const weft_future *f);

#endif /* WEFT_FUTURE_INTERNAL_H */
