/* weft/loop.h — loop handles: sending work to another thread's loop (asyncio's
 * run_coroutine_threadsafe and loop.call_soon_threadsafe).
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * A weft_loop names a thread's loop so that other threads (and coroutines of other loops)
 * can start coroutines on it. Handles are reference-counted and stay valid after the
 * loop's thread has ended: posting to a loop that has shut down for good returns
 * -ESHUTDOWN, never touches freed memory.
 *
 * When posted work runs: when the loop next runs, as for weft_spawn from its own thread —
 * while its thread is inside weft_run (the usual "loop thread": weft_run of a main that
 * waits for a stop event), or blocked in a weft call while its loop has coroutines alive.
 * A thread blocked outside weft, or in a weft call with no coroutine alive (it then sleeps
 * on the futex and does not look at its loop), runs nothing until it next runs its loop.
 * Posts made from one thread to one loop start in the order they were made.
 *
 * Shutting down: once a loop is shut down for good (its thread is ending, or it called
 * weft_shutdown), posts are refused (-ESHUTDOWN) and those accepted but not yet started
 * are refused through their futures (-ESHUTDOWN): fn never runs. A loop draining at the
 * end of weft_run (not for good) accepts posts, but those it takes while draining are
 * refused the same way; after weft_run has returned, posts wait for the loop to run again.
 * Every accepted post thus either runs exactly once or is refused, and its future always
 * completes.
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_loop weft_loop;

/* A handle to the calling thread's loop (created if the thread has none, as weft_spawn
 * does), with a reference for the caller: give it back with weft_loop_release. Every call
 * on the same thread's loop returns the same handle. Any context; never blocks.
 * Errors: -EINVAL (loop NULL), -ENOMEM, -ESHUTDOWN (the loop is shutting down: weft_run's
 * final phase, thread exit, weft_shutdown). */
WEFT_API int weft_loop_current(weft_loop **loop);

/* Takes another reference / drops one (the last frees the handle, not the loop: a loop
 * belongs to its thread). NULL is ignored. Any context; never blocks. */
WEFT_API void weft_loop_retain(weft_loop *loop);
WEFT_API void weft_loop_release(weft_loop *loop);

/* run_coroutine_threadsafe: starts fn(arg, result) as a coroutine on loop (from any thread,
 * or from a coroutine of any loop; on the loop's own thread it is weft_spawn). *task
 * receives a future (a reference of the caller's) completed with fn's return value and
 * result, or with -ESHUTDOWN if the loop shut down before fn could start, -ENOMEM if the
 * coroutine could not be made there, -ECANCELED if cancelled before it started; task may
 * be NULL to detach the coroutine (a failure it returns is reported as an unread one, see
 * weft_set_unretrieved_hook; a refused detached post is dropped silently).
 * weft_future_cancel on the future cancels the coroutine through its loop, as on a task:
 * one not yet started never runs (the future is completed with -ECANCELED at once); a
 * running one is asked to stop (see weft/task.h). The future is not the task itself:
 * inside fn, weft_current_task() is the task on the target loop, whose outcome the future
 * mirrors (a coroutine waiting on its own future waits for ever).
 * Any context; never blocks (a post is one allocation and a lock-free push). Errors:
 * -EINVAL (loop or fn NULL), -ENOMEM, -ESHUTDOWN (the loop has shut down for good, or, on
 * the loop's own thread, is shutting down). */
WEFT_API int weft_loop_spawn(weft_loop *loop, weft_future **task, weft_fn fn, void *arg);

/* weft_loop_spawn with weft_spawn_ex's options (opts may be NULL; the name is not copied
 * and must outlive the coroutine). -EINVAL also for a stack_size weft_spawn_ex refuses. */
WEFT_API int weft_loop_spawn_ex(weft_loop *loop, weft_future **task,
                                const weft_spawn_opts *opts, weft_fn fn, void *arg);

/* call_soon_threadsafe: runs fn(arg) on loop's thread, as a detached coroutine of that
 * loop (so fn may block: it suspends only itself). Nothing tells the caller when it has
 * run; a post refused after it was accepted never runs. Any context; never blocks.
 * Errors as weft_loop_spawn. */
WEFT_API int weft_loop_call(weft_loop *loop, void (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_LOOP_H */
