/* weft/task.h — coroutines as tasks on a per-thread event loop.
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * Every thread has at most one loop, created by weft_run or by the thread's first
 * weft_spawn (as gevent gives each thread a hub). A loop's coroutines run only on its
 * thread, one at a time, and switch only at weft's blocking calls and weft_yield.
 * While the thread itself is blocked in a weft call (a lock, an event, a future, a sleep,
 * a join...), its loop runs the coroutines meanwhile; outside such calls they wait.
 *
 * Cancellation (weft_future_cancel on a task) is sticky: from then on every weft call of
 * that coroutine that would have to wait returns -ECANCELED at once, and weft_yield and
 * weft_sleep return -ECANCELED; calls that can complete without waiting still complete.
 * The coroutine is expected to clean up and return (its return value becomes its future's
 * result). A task cancelled before it first ran never runs; its future gets -ECANCELED.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* asyncio.run: runs main(arg, result) as a coroutine on the calling thread's loop (created
 * if needed) and blocks until it returns; then the other coroutines still alive on that loop
 * are cancelled and run until they have returned. Returns main's return value and stores its
 * result (if result is non-NULL).
 * Call it from a thread, not from a coroutine: -EBUSY there (the loop is already running).
 * Errors besides main's own: -EINVAL (main NULL), -ENOMEM, -ESHUTDOWN (the loop is being
 * shut down). */
WEFT_API int weft_run(weft_fn main, void *arg, void **result);

/* create_task / gevent.spawn: a new coroutine running fn(arg, result) on the calling
 * thread's loop (a thread without one gets one). It starts when the caller next blocks or
 * yields (from a thread: its next blocking weft call). *task receives its future, which is
 * completed with fn's return value and result; task may be NULL to detach it.
 * Any context; never blocks. Errors: -EINVAL (fn NULL), -ENOMEM, -ESHUTDOWN (the loop is
 * shutting down: weft_run's final phase, thread exit, weft_shutdown), -EFAULT (called from
 * a compact coroutine with arg pointing into its own stack: see WEFT_SPAWN_COMPACT).
 * A failure to get a stack when the coroutine first runs completes its future with -ENOMEM. */
WEFT_API int weft_spawn(weft_future **task, weft_fn fn, void *arg);

/* Options for weft_spawn_ex. Initialise with WEFT_SPAWN_OPTS_INIT; more fields may be added
 * at the end. */
typedef struct weft_spawn_opts {
    const char *name;    /* not copied: must outlive the coroutine (a string literal, say);
                            names it in stack-overflow reports and weft_task_name */
    size_t stack_size;   /* usable bytes; 0: the default (WEFT_STACK_DEFAULT). Rounded up to
                            whole pages; each stack also has one guard page below it */
    unsigned flags;      /* WEFT_SPAWN_* below, or'ed; 0: none */
} weft_spawn_opts;
#define WEFT_SPAWN_OPTS_INIT { NULL, 0, 0 }

/* A compact coroutine (experimental; docs/COMPACT_STACKS.md): instead of a stack of its
 * own it runs on a run stack its loop shares among its compact coroutines, and while it is
 * switched out and another compact coroutine needs that stack, its live frames (a few
 * hundred bytes when it is parked in a weft call) are copied out to a buffer. A blocked
 * compact coroutine costs about 850 bytes instead of a 4 KiB page (its buffer follows the
 * depth at which it was last switched out); a switch that copies costs about 15 ns plus
 * 11 ns per KiB copied.
 * The contract: while it is switched out (parked, or after weft_yield), nothing else may
 * read or write its locals — do not hand a pointer to one of its locals to another
 * coroutine or thread that uses it meanwhile (an out-parameter of a child task, a buffer
 * for weft_to_thread, a queue item put by address...). Allocate such memory instead.
 * The calls that lend an argument to another context (weft_spawn*, weft_loop_spawn*,
 * weft_group_spawn, weft_run_in_executor, weft_to_thread, weft_pool_submit, weft_pool_map,
 * weft_timer_start, weft_thread_start, weft_loop_call, weft_future_add_done_callback)
 * return -EFAULT when called from a compact coroutine with a pointer into its stack.
 * It may block in every weft call and own task groups; subprocess spawns and libweft_hook's
 * DNS lookups run on its thread (blocking the loop for their duration) instead of a pool
 * thread. The table is in docs/COMPACT_STACKS.md. stack_size must be 0 or at most
 * WEFT_STACK_DEFAULT: a compact coroutine always gets the whole run stack.
 * Where compact stacks are not available (weft_compact_stacks() false: ASan and TSan
 * builds, kernels without guard pages) the flag is ignored. */
#define WEFT_SPAWN_COMPACT 1u

/* Whether WEFT_SPAWN_COMPACT gives compact coroutines in this build on this machine. Any
 * context; never blocks. */
WEFT_API bool weft_compact_stacks(void);
#define WEFT_STACK_DEFAULT (128u * 1024u)
#define WEFT_STACK_MIN     (16u * 1024u)

/* weft_spawn with options; opts may be NULL. -EINVAL also for a stack_size below
 * WEFT_STACK_MIN or above 1 GiB. */
WEFT_API int weft_spawn_ex(weft_future **task, const weft_spawn_opts *opts,
                           weft_fn fn, void *arg);

/* Suspends the calling coroutine for ns nanoseconds (its loop runs the others), or blocks
 * the calling thread (running its loop's coroutines meanwhile, if it has any).
 * ns == 0 is weft_yield(); WEFT_FOREVER sleeps until cancelled.
 * Returns 0 when the time has passed; -ECANCELED if the coroutine is (or gets) cancelled;
 * -ETIMEDOUT if a deadline scope (weft/group.h) ended it early; -EINVAL for a negative ns
 * other than WEFT_FOREVER. */
WEFT_API int weft_sleep(int64_t ns);

/* Coroutines alive on the calling thread's loop: spawned and not yet ended (the caller
 * included, if it is one). 0 for a thread without a loop. For tests and leak checks. */
WEFT_API size_t weft_live_coroutines(void);

/* Lets the other runnable coroutines of this loop run, then returns 0. From a thread, runs
 * the coroutines of its loop that are runnable now (or calls sched_yield if it has none).
 * -ECANCELED if the calling coroutine has been cancelled. */
WEFT_API int weft_yield(void);

/* True if the calling coroutine has been cancelled (for long computations that never
 * block). False on a thread. Any context; never blocks. */
WEFT_API bool weft_cancelled(void);

/* True when called from a coroutine. Any context. */
WEFT_API bool weft_in_coroutine(void);

/* True if the caller is a compact coroutine (WEFT_SPAWN_COMPACT, and compact stacks are
 * available). Any context; never blocks. */
WEFT_API bool weft_in_compact_coroutine(void);

/* The calling coroutine's task (borrowed: valid while the coroutine runs; retain it to keep
 * it longer), or NULL on a thread. */
WEFT_API weft_future *weft_current_task(void);

/* The name given in weft_spawn_opts, or NULL (also for futures that are not tasks). */
WEFT_API const char *weft_task_name(weft_future *task);


/* threading.Timer: runs fn(arg, result) once `delay` ns have passed, unless cancelled
 * first. By default fn runs as a coroutine on the calling thread's loop (so it runs when
 * that thread blocks in weft calls, or inside weft_run); with opts.thread it runs on a new
 * thread, non-daemon as Python's Timer (program exit waits for it) unless opts.daemon. */
typedef struct weft_timer weft_timer;

/* Options for weft_timer_start. Initialise with WEFT_TIMER_OPTS_INIT; more fields may be
 * added at the end. */
typedef struct weft_timer_opts {
    bool thread;          /* run on a new thread rather than as a coroutine */
    bool daemon;          /* with thread: a daemon thread (Timer.daemon = True): program exit
                             (weft_shutdown) does not wait for it, and a timer still pending
                             then never fires. Ignored without thread. */
} weft_timer_opts;
#define WEFT_TIMER_OPTS_INIT { false, false }

/* Starts the timer; *t is the caller's handle (weft_timer_release). delay >= 0; opts may
 * be NULL (a coroutine timer). Errors: -EINVAL, -ENOMEM, -EAGAIN (no thread), -ESHUTDOWN
 * (a coroutine timer: the caller's loop is shutting down; a non-daemon thread timer:
 * weft_shutdown has begun; a daemon one is not refused, as weft_thread_start).
 * Any context; never blocks. */
WEFT_API int weft_timer_start(weft_timer **t, int64_t delay, weft_fn fn, void *arg,
                              const weft_timer_opts *opts);

/* Cancels the timer if fn has not started: 0, and its future completes with -ECANCELED.
 * -EBUSY if fn has started (or finished) or the timer was already cancelled; -EINVAL.
 * Any context; never blocks. */
WEFT_API int weft_timer_cancel(weft_timer *t);

/* The timer's future: completed with fn's return value and result, or -ECANCELED. Wait
 * on it to join; it works with weft_wait, weft_gather and the other calls that take
 * futures. Returns a new reference, which the caller gives back with weft_future_release
 * (as every call that hands out a future); it stays valid after weft_timer_release.
 * weft_future_cancel on it is weft_timer_cancel (-EBUSY once fn has started).
 * NULL if t is NULL. Any context; never blocks. */
WEFT_API weft_future *weft_timer_future(weft_timer *t);

/* Gives back the caller's handle; the timer still fires unless cancelled. NULL ignored. */
WEFT_API void weft_timer_release(weft_timer *t);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TASK_H */
