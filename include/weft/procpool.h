/* weft/procpool.h — a pool of worker processes (concurrent.futures.ProcessPoolExecutor),
 * which survives its workers.
 *
 * A task is a function and an argument of bytes; it runs in one of the pool's worker
 * processes and gives back bytes. Its future mixes with every other weft future
 * (weft_wait, weft_as_completed, weft_future_result from threads and coroutines).
 *
 * Workers are started by fork (weft/process.h says what a child gets), so a task function
 * is any function of the program: its address is the same in the workers. Each worker runs
 * one task at a time; the pool keeps a few more queued in each worker's pipe, so that many
 * small tasks flow at the speed of the pipes, not of a round trip each.
 *
 * Beyond Python's executor:
 *   - a worker that dies (kill -9, a crash, the OOM killer, exit() inside a task) fails
 *     only the task it was running, with WEFT_EWORKERDIED; the tasks queued behind it,
 *     which it had not begun, go to another worker; it is replaced, and the pool goes on;
 *   - a per-task timeout (opts.task_timeout, from the moment the task begins in a worker):
 *     past it, the worker is killed and replaced, and the task's future gets -ETIMEDOUT;
 *   - cancelling (weft_future_cancel) a task no worker has begun means it never runs
 *     (-ECANCELED); cancelling one a worker has begun kills that worker (pebble's rule:
 *     the task may have run in part) and replaces it, and the future gets -ECANCELED.
 *     A task sent to a worker's pipe but not begun is cancelled when the worker reaches
 *     it, the same way. For a task in a worker's hands, a cancel that returned 0 is a
 *     request: if the task ends before the kill lands, its own outcome stands (read the
 *     future, as after any cancel).
 *   - a worker that cannot be replaced (fork failing with EAGAIN at the process limit, no
 *     descriptor left: EMFILE, no memory) is tried again every 50 ms; tasks wait in the
 *     queue meanwhile (none fails for it). If the pool runs out of memory while reading
 *     what a dead worker wrote, the tasks it held fail with WEFT_EWORKERDIED rather than
 *     run a second time: a task runs at most once. A result that cannot be copied for
 *     want of memory makes that task's future -ENOMEM.
 * Workers ignore SIGINT (a Ctrl+C is the parent's to handle: weft_run_graceful lets the
 * running tasks finish); they are daemon processes: they die with the parent, even when
 * it is killed with kill -9.
 */
#ifndef WEFT_PROCPOOL_H
#define WEFT_PROCPOOL_H

#include "core.h"
#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_procpool weft_procpool;

/* A task, run in a worker process. arg and len: its argument bytes (the worker's copy of
 * what weft_procpool_submit was given). It may give back result bytes: *out set to a
 * buffer from malloc (the worker frees it once sent) and *out_len to its length; both
 * start NULL / 0. Returns 0 (or any value >= 0): the future succeeds with those bytes;
 * a negative errno value: the future's error (the bytes are dropped). A length without a
 * buffer (*out NULL, *out_len > 0) cannot be sent: the worker dies (WEFT_EWORKERDIED). */
typedef int (*weft_proc_task)(const void *arg, size_t len, void **out, size_t *out_len);

/* Options for weft_procpool_create. Initialise with WEFT_PROCPOOL_OPTS_INIT; more fields
 * may be added at the end. */
typedef struct weft_procpool_opts {
    int workers;                   /* worker processes; 0: the number of CPUs */
    int max_tasks_per_child;       /* a worker leaves after this many tasks and is
                                      replaced (leaky libraries); 0: never */
    int64_t task_timeout;          /* ns from a task's start in a worker; 0: none */
    int (*initializer)(void *arg); /* run once in each new worker before any task; a
                                      non-zero return breaks the pool (below) */
    void *initarg;                 /* initializer's argument */
    size_t max_message;            /* the largest argument or result, in bytes (0: the
                                      default, WEFT_PROCPOOL_MAX_MESSAGE). A larger
                                      argument: weft_procpool_submit fails with
                                      -EMSGSIZE; a larger result: the task's future
                                      gets -EMSGSIZE (the worker drops the bytes). The
                                      manager never holds more than this for a result,
                                      whatever a worker writes: a worker whose frame is
                                      larger or malformed is killed and its task fails
                                      (-EMSGSIZE, -EPROTO). There is no upper
                                      bound: SIZE_MAX turns the limit off (then a
                                      worker's frame header decides how much the
                                      manager allocates for a result). For
                                      weft_procpool_map's chunks, see there. */
} weft_procpool_opts;
/* The default weft_procpool_opts.max_message: 256 MiB. */
#define WEFT_PROCPOOL_MAX_MESSAGE ((size_t)256 << 20)
#define WEFT_PROCPOOL_OPTS_INIT { 0, 0, 0, NULL, NULL, 0 }

/* The task's worker died while running it (killed, crashed, exited). */
#define WEFT_EWORKERDIED (-4097)
/* The pool is broken: a worker's initializer failed (or died), so no worker can run tasks;
 * queued and later tasks get this error. */
#define WEFT_EPOOLBROKEN (-4098)

/* Creates a pool and starts its workers (forked by the pool's manager thread: each is a copy
 * of the whole program at that moment, so a pool made early forks faster and copies less).
 * Errors: -EINVAL (pp NULL, a negative count or timeout, more than 256 workers), -ENOMEM,
 * -EAGAIN (no process or thread could be started), -EMFILE, -ENOSYS (no pidfd_open: Linux
 * < 5.3, Valgrind). Any context; waits (a coroutine parks) until the workers are forked,
 * a millisecond or so each, and is not cut short by a cancel. opts may be NULL (the
 * defaults: a worker per CPU, no limits). */
WEFT_API int weft_procpool_create(weft_procpool **pp, const weft_procpool_opts *opts);

/* Queues fn(arg, len) (the bytes are copied now; arg may be NULL when len is 0). *f
 * receives the task's future (release it with weft_future_release); its result, once
 * done, is read with weft_procpool_result (weft_future_result on it gives the same error
 * code, and as result a pointer internal to the pool: do not use it). Errors: -EINVAL (pool, f or fn NULL; arg NULL
 * with len > 0), -EMSGSIZE (len over opts.max_message), -ENOMEM, -ESHUTDOWN (after
 * weft_procpool_shutdown), WEFT_EPOOLBROKEN.
 * Any context; never blocks. */
WEFT_API int weft_procpool_submit(weft_procpool *pool, weft_future **f, weft_proc_task fn,
                                  const void *arg, size_t len);

/* Waits up to timeout ns (WEFT_FOREVER: no limit) for a task's future and gives its
 * outcome: 0 with *data and *len set to the result bytes (valid until the future is
 * released; data NULL and len 0 when the task gave none), or the task's error: its
 * negative return value, WEFT_EWORKERDIED, -ETIMEDOUT (its task_timeout), -ECANCELED,
 * WEFT_EPOOLBROKEN, -EMSGSIZE (its result was over opts.max_message), -EPROTO (its worker
 * wrote a malformed frame and was killed); or this wait's own -ETIMEDOUT / -ECANCELED as weft_future_result's
 * (weft_future_done(f) tells them apart: a task's own outcome leaves it done). data and
 * len may be NULL. -EINVAL for a future that is not a process pool task's.
 * Any context; blocks as weft_future_result. */
WEFT_API int weft_procpool_result(weft_future *f, int64_t timeout, const void **data,
                                  size_t *len);

/* What weft_procpool_map gives for item i: the task's return code (its negative errno,
 * WEFT_EWORKERDIED...) and, if 0, its result bytes (valid during the call only). */
typedef void (*weft_procpool_each)(void *arg, size_t i, int rc, const void *data, size_t len);

/* Python's map with a chunk size: fn runs on each of n items (item i is the item_size bytes
 * at items + i * item_size), chunk_size items to a message (0: 1; a worker runs a chunk's
 * items one after the other), and each(arg, i, ...) is called for every item, in order
 * of i, on the calling context, as the results come. A chunk is one task: a worker that
 * dies running it fails every item of the chunk (WEFT_EWORKERDIED), and a task_timeout
 * applies to the whole chunk. opts.max_message applies to a chunk in both directions:
 * its argument is its items' bytes (chunk_size * item_size, the chunk size capped at n;
 * at most max_message, as submit's argument: the map's own 24-byte chunk header is not
 * counted), else the whole map fails with -EMSGSIZE before anything runs and each is
 * never called; its result is, per item, a 16-byte header (code, length) and the
 * item's result bytes, and a chunk whose total is over max_message gives every item of
 * the chunk -EMSGSIZE (through each; the map goes on). So choose chunk_size with
 * chunk_size * item_size <= max_message and chunk_size * (16 + the largest result)
 * <= max_message. Returns 0 once every item has been reported (their own errors go to
 * each); -EINVAL (pool, fn or each NULL; items NULL or item_size 0 with n > 0; n *
 * item_size over SIZE_MAX), -EMSGSIZE (above), -ENOMEM, -ESHUTDOWN, WEFT_EPOOLBROKEN
 * (then the chunks already queued are cancelled, and each is not called); -ECANCELED / -ETIMEDOUT if the caller is cancelled
 * (or past a deadline) while waiting: the chunks not finished are cancelled as by
 * weft_future_cancel (a running one by killing its worker), and each is not called for
 * the items not reported yet. Any context; blocks. */
WEFT_API int weft_procpool_map(weft_procpool *pool, weft_proc_task fn, const void *items,
                               size_t item_size, size_t n, size_t chunk_size,
                               weft_procpool_each each, void *arg);

/* Stops taking tasks (-ESHUTDOWN from then on). cancel_futures: every task no worker has
 * received is cancelled (-ECANCELED); the others finish. wait: waits until every task has
 * finished and every worker has left (from a coroutine, without blocking its loop).
 * Calling it again is harmless. 0; -EINVAL (pool NULL); a wait's -ECANCELED (the
 * shutdown goes on); -EDEADLK for wait from a done-callback of one of the pool's futures
 * run on the pool's own thread (it cannot wait for itself; the shutdown goes on). Any
 * context; blocks if wait. */
WEFT_API int weft_procpool_shutdown(weft_procpool *pool, bool wait, bool cancel_futures);

/* Shuts the pool down (waiting, tasks not cancelled) and frees it. Futures stay valid
 * (also for weft_future_cancel, which then returns -EBUSY: they are done). From a
 * done-callback run on the pool's own thread it does not wait: the pool shuts down and
 * is freed once its last task has finished. The handle is gone after the call (any use
 * of it, a second destroy included, is a use after free). A task that never ends keeps
 * destroy waiting unless the pool has a task_timeout: to leave at once, cancel the running
 * futures after weft_procpool_shutdown(pool, false, true). NULL: nothing. Any context;
 * blocks (but there). */
WEFT_API void weft_procpool_destroy(weft_procpool *pool);

/* Counters, for monitoring and tests: workers alive now, and workers replaced so far
 * (after a death, a timeout, a cancel or max_tasks_per_child). They follow the pool's
 * manager thread, which counts a worker gone once it has reaped it: just after a future
 * reported a worker's death they may not show it yet. 0 for NULL. Any context. */
WEFT_API int weft_procpool_workers(weft_procpool *pool);
WEFT_API unsigned long weft_procpool_replaced(weft_procpool *pool);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PROCPOOL_H */
