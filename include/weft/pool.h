/* weft/pool.h — the thread pool executor (concurrent.futures.ThreadPoolExecutor) and
 * to_thread.
 *
 * Part of <weft.h>; include that instead of this file. Jobs are weft_fn functions run on
 * the pool's worker threads; each submission gives a future, waitable from threads and
 * coroutines alike (a coroutine waiting on it does not block its loop). Workers start
 * lazily, up to max_workers, and end after idling.
 *
 * Cancellation follows docs/CANCELLATION.md: cancelling a job that has not started means it
 * never runs (its future gets -ECANCELED); a running job sees weft_cancelled() become true,
 * and its weft calls that would wait return -ECANCELED (one already waiting, within about a
 * millisecond); what the job returns is its future's outcome. The calls that submit and
 * wait (weft_pool_map, weft_to_thread, weft_run_in_executor) follow the hand-off rule: if
 * they return -ECANCELED or -ETIMEDOUT, the work did not happen; if it happened, they
 * report how it ended.
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_pool weft_pool;

/* The options of the fixed core API (../shared/API.md): exactly one field, so that
 * `&(weft_pool_opts){ 4 }` compiles cleanly under -Wextra in every caller. Every other
 * option is in weft_pool_opts_ex below, which begins with the same field; that is the one
 * convention: weft_X_opts plus a WEFT_X_OPTS_INIT, and for the pool only, because its
 * short struct is fixed, an _ex struct that carries everything. */
typedef struct {
    int max_workers;     /* 0: a sensible default, min(32, CPUs + 4) as Python's */
} weft_pool_opts;
#define WEFT_POOL_OPTS_INIT { 0 }

/* Creates a pool (no thread starts before the first submission). opts may be NULL (every
 * default). Errors: -EINVAL (pool NULL, max_workers < 0), -ENOMEM. Any context; never
 * blocks. */
WEFT_API int weft_pool_create(weft_pool **pool, const weft_pool_opts *opts);

/* Every option of a pool. Initialise with WEFT_POOL_OPTS_EX_INIT (or zero it: every zero
 * field means its default); more fields may be added at the end. */
typedef struct weft_pool_opts_ex {
    int max_workers;                 /* 0: a sensible default, min(32, CPUs + 4) as Python's */
    const char *name_prefix;         /* worker names "<prefix>-<n>" (copied); NULL: "pool" */
    int (*initializer)(void *arg);   /* run by each worker before its first job; an error
                                        breaks the pool: queued and later jobs fail with it */
    void *initializer_arg;           /* initializer's argument */
    void (*finalizer)(void *arg);    /* run by each worker as it ends */
    void *finalizer_arg;             /* finalizer's argument */
    int64_t idle_timeout;            /* a worker idle this long ends (0: 60 s; WEFT_FOREVER:
                                        never) */
    int max_extra_workers;           /* workers started while others wait on this pool's own
                                        futures (0: 4 * max_workers, at least 16) */
    bool caller_runs;                /* a thread that waits with no time limit (no timeout,
                                        no deadline scope, no loop to run) for a job no worker
                                        has started runs it itself, as oneTBB's
                                        task_group::wait and Java's ForkJoinPool join do: a
                                        submit-and-wait then costs no hand-off. The waits
                                        that do: weft_future_result and
                                        weft_run_in_executor with WEFT_FOREVER (so also
                                        weft_pool_map's, for items no worker took yet);
                                        weft_wait and weft_as_completed never do. Off by
                                        default: with it a job may run outside the workers
                                        (without the initializer's per-thread state, before
                                        the initializer has run or failed, under another
                                        thread's name, and beside max_workers running ones:
                                        do not use it for a pool of 1 that serialises its
                                        jobs). Such a job is still the pool's: shutdown(wait)
                                        waits for it, and from inside it is -EDEADLK.
                                        Coroutines never run jobs. */
} weft_pool_opts_ex;
#define WEFT_POOL_OPTS_EX_INIT { 0, NULL, NULL, NULL, NULL, NULL, 0, 0, false }

/* weft_pool_create with every option (opts NULL: every default). Errors: -EINVAL (pool
 * NULL, max_workers or max_extra_workers < 0, a negative idle_timeout other than
 * WEFT_FOREVER), -ENOMEM. Any context; never blocks. */
WEFT_API int weft_pool_create_ex(weft_pool **pool, const weft_pool_opts_ex *opts);

/* Queues fn(arg) (FIFO). *f receives its future; f NULL: a detached job, nobody waits
 * (cheaper: no future is made; a failure it returns other than -ECANCELED is reported as
 * an unread one, see weft_set_unretrieved_hook). A submit racing with weft_pool_shutdown is
 * either refused or its job runs (unless cancel_futures cancels it). Any context, including
 * the pool's own jobs; never blocks. Errors: -EINVAL, -ENOMEM, -ESHUTDOWN (after
 * weft_pool_shutdown), the initializer's error (a broken pool), -EAGAIN (no worker thread
 * could be started and none runs); on an error *f is left as it was. */
WEFT_API int weft_pool_submit(weft_pool *pool, weft_future **f, weft_fn fn, void *arg);

/* Stops accepting jobs (later submissions: -ESHUTDOWN). cancel_futures: jobs not yet
 * started are cancelled (their futures get -ECANCELED). wait: returns once every queued job
 * has run and every worker has ended. Calling it again is harmless (and may wait).
 * Errors: -EINVAL, -EDEADLK (wait from one of the pool's own jobs: it would wait for
 * itself). Blocks if wait. */
WEFT_API int weft_pool_shutdown(weft_pool *pool, bool wait, bool cancel_futures);

/* Shuts down (wait=true) if still running, then frees the pool. From one of its own jobs,
 * it does not wait: the pool goes once its last worker has ended. As for any object, no
 * other call on the pool may be in progress or follow (a job that destroys its pool must
 * not race with a submit still returning). NULL is ignored. */
WEFT_API void weft_pool_destroy(weft_pool *pool);

/* Worker threads alive now (for tests and monitoring). */
WEFT_API int weft_pool_workers(weft_pool *pool);

/* Executor.map: fn over args[0..n) in chunks of chunksize items (0: 1) per job; waits for
 * all and stores results[i] (may be NULL) and errs[i] (may be NULL) in order (an item that
 * never ran: NULL and -ECANCELED). Returns 0 or the first error in argument order other
 * than -ECANCELED (-ECANCELED if that is the only one). stop_at_error: once an error is
 * seen, the items not yet started — before or after the failing one — are cancelled (they
 * get -ECANCELED).
 * Cut short — the caller is cancelled, or a deadline scope around it expires — the items
 * not yet started never run, and those running are waited for (they write into results
 * and errs; a running item sees weft_cancelled(), and the rest of its chunk is skipped):
 * map never returns while one of its items runs. It then returns the first failure if an
 * item failed, else -ECANCELED / -ETIMEDOUT if some item did not run, else (every item
 * had run) 0. A caller already cancelled or past a scope's deadline gets -ECANCELED /
 * -ETIMEDOUT at once and nothing runs. Blocks. Errors besides fn's: -EINVAL, -ENOMEM,
 * -ESHUTDOWN or the pool's other submit errors (the items submitted are cancelled or
 * waited for as above), -ECANCELED, -ETIMEDOUT. n == 0: 0 at once. */
WEFT_API int weft_pool_map(weft_pool *pool, weft_fn fn, void **args, size_t n,
                           size_t chunksize, bool stop_at_error, void **results, int *errs);

/* asyncio.to_thread / run_in_executor: runs fn(arg) on the default pool (created on first
 * use, max_workers default) and waits for it; from a coroutine, without blocking the loop.
 * Returns fn's outcome; stores its result if result is non-NULL and fn succeeded.
 * Cancellation and deadline scopes (the hand-off rule, docs/CANCELLATION.md):
 *   - a caller already cancelled, or past a deadline scope's deadline, gets -ECANCELED /
 *     -ETIMEDOUT at once, and fn never runs;
 *   - if the caller is cancelled (or the scope expires) while it waits, the job is
 *     cancelled: if it had not started it never runs and the call returns -ECANCELED
 *     (-ETIMEDOUT); if it had, it sees weft_cancelled() and is waited for, and the call
 *     returns what fn returned — -ECANCELED again if fn gave up and said so;
 *   - a job that ran to the end is reported as it ended, never as -ECANCELED.
 * Errors besides fn's: -EINVAL (fn NULL), -ENOMEM, -EAGAIN (no worker thread could be
 * started), -ECANCELED, -ETIMEDOUT, -EFAULT (called from a compact coroutine with arg
 * pointing into its own stack, which the job could not use: WEFT_SPAWN_COMPACT). Blocks. */
WEFT_API int weft_to_thread(weft_fn fn, void *arg, void **result);

/* loop.run_in_executor: weft_to_thread on the given pool (NULL: the default pool). Errors
 * as weft_to_thread's, and the pool's submit errors (-ESHUTDOWN, a broken pool's). */
WEFT_API int weft_run_in_executor(weft_pool *pool, weft_fn fn, void *arg, void **result);

/* The default pool (created on first use); never destroyed. NULL: -ENOMEM. */
WEFT_API weft_pool *weft_default_pool(void);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_POOL_H */
