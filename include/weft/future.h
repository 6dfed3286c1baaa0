/* weft/future.h — futures: the common currency of every executor.
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * A future is reference-counted: every function that hands one out gives the caller a
 * reference, released with weft_future_release. A future is pending until it is completed
 * once — with a result, an error, or -ECANCELED — and then never changes.
 * A coroutine's future is its task handle (weft_spawn); weft_future_create makes a future
 * that the caller completes itself.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_future weft_future;

/* Waits until f is done, then returns 0 and stores the result (if result is non-NULL), or
 * returns the task's own error code, or -ECANCELED if it was cancelled. (A task that returns
 * a positive value, which weft_fn does not expect, has it returned and its result stored.)
 * Blocks (see weft/core.h) until f is done or timeout passes; 0 does not wait.
 * Errors besides the task's own: -EINVAL (f NULL, negative timeout other than WEFT_FOREVER),
 * -ETIMEDOUT, -ECANCELED (also when the calling coroutine is cancelled while it waits: check
 * weft_cancelled() to tell the two apart), -EDEADLK (a coroutine waiting on its own task).
 * A future done before the call, or completed as the wait was cut short, reports its own
 * outcome whatever the caller's cancellation state (docs/CANCELLATION.md rule 8). */
WEFT_API int weft_future_result(weft_future *f, int64_t timeout, void **result);

/* Cancels f. A pending future that has not started (a user future, a task not yet run) is
 * completed with -ECANCELED at once and 0 is returned. A running coroutine is asked to stop:
 * its current or next blocking call returns -ECANCELED (see weft/task.h), its future stays
 * pending until it returns, and 0 is returned. Cancelling again is harmless (0 while still
 * pending). -EBUSY: already done. -EINVAL: f NULL. Any context; never blocks. */
WEFT_API int weft_future_cancel(weft_future *f);

/* True once f is done (result, error or cancelled). Any context; never blocks. */
WEFT_API bool weft_future_done(weft_future *f);

/* True if f was completed with -ECANCELED. Any context; never blocks. */
WEFT_API bool weft_future_cancelled(weft_future *f);

/* Takes another reference. Any context. */
WEFT_API void weft_future_retain(weft_future *f);

/* Drops a reference; the last one frees f (a running task keeps its own reference, so
 * releasing a task handle does not stop the coroutine). NULL is ignored. Any context.
 * Debug builds assert on use after the last release. */
WEFT_API void weft_future_release(weft_future *f);

/* Creates a pending future to be completed by weft_future_set_result / _set_error.
 * Errors: -EINVAL (f NULL), -ENOMEM. Any context. */
WEFT_API int weft_future_create(weft_future **f);

/* A future completed by the program, for executors written outside weft (weft_dist's
 * tasks): what weft_future_cancel does and how the result is freed are the executor's.
 *   cancel(f, arg): called by weft_future_cancel on the pending future (any context; must
 *     not block). Return 0 if the cancel is taken — the executor completes f later
 *     (-ECANCELED if the work never ran; its own outcome if it had begun: a cancel of work
 *     in another's hands is a request) — or a negative error (-EBUSY: too late), which
 *     weft_future_cancel returns. NULL: the cancel completes f with -ECANCELED at once.
 *   free(result, arg): called once when the future is freed (after its last release),
 *     with the result if it completed with one (NULL otherwise). NULL: nothing to free.
 * hooks must stay valid as long as the future (a static const). The future is completed
 * with weft_future_set_result / _set_error. Errors: -EINVAL (f or hooks NULL), -ENOMEM.
 * Any context. */
typedef struct weft_future_hooks {
    int (*cancel)(weft_future *f, void *arg);   /* see cancel(f, arg) above */
    void (*free)(void *result, void *arg);      /* see free(result, arg) above */
} weft_future_hooks;
WEFT_API int weft_future_create_hooked(weft_future **f, const weft_future_hooks *hooks,
                                       void *arg);
/* The arg a future was created with, if it was created with these hooks (NULL otherwise):
 * how an executor recognises its own futures. Any context. */
WEFT_API void *weft_future_hooked_arg(weft_future *f, const weft_future_hooks *hooks);

/* Completes f with a result (error code 0), waking every waiter and running the
 * done-callbacks on the calling context. -EBUSY if f was already done (for example
 * cancelled), -EINVAL if f is NULL or is a task (a task completes when its coroutine returns).
 * Any context; does not block (callbacks are not expected to block). */
WEFT_API int weft_future_set_result(weft_future *f, void *result);

/* Completes f with a negative error code (err must be < 0; -EINVAL otherwise); as above. */
WEFT_API int weft_future_set_error(weft_future *f, int err);

/* A done-callback: runs once, when f completes (on the context that completes it), or at
 * once on the calling context if f is already done. It must not block and must not
 * release the caller's last reference to f. */
typedef void (*weft_future_cb)(weft_future *f, void *arg);

/* Adds a done-callback; callbacks run in the order they were added. Errors: -EINVAL,
 * -ENOMEM. Any context; never blocks (except to run cb itself when f is done). */
WEFT_API int weft_future_add_done_callback(weft_future *f, weft_future_cb cb, void *arg);

/* Removes every not-yet-run callback equal to (cb, arg); returns how many were removed
 * (0 if f is done or none matched), or -EINVAL. Any context; never blocks. */
WEFT_API int weft_future_remove_done_callback(weft_future *f, weft_future_cb cb, void *arg);

/* ---------------------------------------------------------------- waiting on many ----- */

/* concurrent.futures.wait's return_when. */
#define WEFT_FIRST_COMPLETED 1  /* any future done */
#define WEFT_FIRST_EXCEPTION 2  /* any future failed (an error other than -ECANCELED), else
                                   as WEFT_ALL_COMPLETED */
#define WEFT_ALL_COMPLETED   3  /* every future done */

/* concurrent.futures.wait over futures of any source (coroutines, threads, pools, user
 * futures): waits until `when` holds or timeout passes, then returns how many of fs are
 * done (a timeout is not an error: compare with n) and, if done is non-NULL, sets done[i]
 * for each. O(1) work per completion (a callback on each future; nothing polls). Errors:
 * -EINVAL (fs NULL with n > 0, a NULL future, bad when or timeout: `when` and timeout are
 * checked before any future is looked at), -EDEADLK (fs holds the calling coroutine's own
 * task, which cannot end while it waits), -ENOMEM, -ECANCELED (the calling coroutine was
 * cancelled; nothing is cancelled with it). Blocks (see weft/core.h). */
WEFT_API int weft_wait(weft_future **fs, size_t n, int when, int64_t timeout, bool *done);

/* concurrent.futures.as_completed as an iterator: each weft_as_completed_next hands out
 * the next future of fs to be done, in the order they completed (those done already
 * first), each exactly once. The iterator does not take references: fs's futures must
 * outlive it. O(1) work per completion. */
typedef struct weft_as_completed weft_as_completed;

/* timeout bounds the whole iteration, counted from this call (WEFT_FOREVER: none).
 * Errors: -EINVAL, -EDEADLK (fs holds the calling coroutine's own task), -ENOMEM. Any
 * context. */
WEFT_API int weft_as_completed_create(weft_as_completed **it, weft_future **fs, size_t n,
                                      int64_t timeout);

/* Waits for the next future to be done and stores it in *f (a future of fs; no new
 * reference). Returns 0, -ENOENT once all n were handed out, -ETIMEDOUT once the
 * iteration's timeout has passed (also on later calls) or when an enclosing deadline scope
 * cut this call (that one only: a later call outside the scope goes on), -ECANCELED (the
 * calling coroutine was cancelled), -EINVAL. Blocks (see weft/core.h). One caller at a
 * time. */
WEFT_API int weft_as_completed_next(weft_as_completed *it, weft_future **f);

/* Frees the iterator (its callbacks on futures not yet done are taken back). NULL is
 * ignored. */
WEFT_API void weft_as_completed_destroy(weft_as_completed *it);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_FUTURE_H */
