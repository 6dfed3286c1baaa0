/* weft/process.h — processes running a function (Python's multiprocessing.Process).
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * In C threads already run in parallel; a process is for what threads cannot give:
 * isolation (a crash, a leak or a hang in fn does not take the program down, and the
 * program can kill it), and code that is not thread-safe.
 *
 * Start method: fork. The child is a copy of the parent with one thread, the one that
 * called weft_process_start, and runs fn(arg) there — on the caller's stack, or its
 * coroutine's. What a user must know (as Python's docs say of fork):
 *   - weft is made safe in the child: its internal locks are held across the fork and its
 *     state that belongs to the parent's threads (the loops, weft's own pools, the signal
 *     router, the registry of threads) is forgotten there: fn may call weft afresh
 *     (weft_run, weft_to_thread, new pools, new threads). glibc makes malloc safe the
 *     same way. The same holds for a program's own fork(): its child may use weft (on
 *     the forking thread, which keeps its weft state), and its exit does not wait for the
 *     parent's threads.
 *   - Everything else is copied as it was at the fork: locks the application's other
 *     threads held then stay held in the child for ever; the application's pools and
 *     threads do not exist there (do not use a weft_pool made before the fork); a
 *     descriptor is shared with the parent — except weft's own ends of conversations
 *     that closing ends (a subprocess's pipes, a process pool's sockets): in every child
 *     they point at /dev/null, so that a child never keeps a subprocess from seeing the
 *     end of its input, or the parent from reading the end of its output.
 *   - stdout and stderr are flushed before the fork (no output printed twice), and the
 *     child ends with _exit(fn's return value & 0xff) after flushing them again: atexit
 *     handlers and weft's exit rules do not run in the child.
 * A waiting coroutine does not block its loop (the child's pidfd is in the poller); a
 * signal never reaches a recycled PID (it goes through the pidfd).
 */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include "core.h"

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_process weft_process;

/* Options for weft_process_start. Initialise with WEFT_PROCESS_OPTS_INIT; more fields may
 * be added at the end. */
typedef struct weft_process_opts {
    bool daemon;      /* true: killed when the parent process ends, even by kill -9 (the
                         kernel's parent-death signal; note that Linux sends it when the
                         *thread* that started the child ends, so start daemons from a
                         thread that lives as long as they should); false: the parent's
                         normal exit waits for it, as Python's does */
} weft_process_opts;
#define WEFT_PROCESS_OPTS_INIT { false }

/* Starts fn(arg) in a child process (see the start method above); *p receives the handle
 * (give it back with weft_process_release). opts may be NULL (non-daemon). Errors: -EINVAL
 * (p or fn NULL), -EAGAIN (the process limit, or fork's EAGAIN), -ENOMEM, -EMFILE (no
 * descriptor for the pidfd), -ENOSYS (no pidfd_open: a kernel before 5.3, or Valgrind
 * 3.19, which does not know the call). Any context;
 * blocks the calling thread for the fork (a millisecond or so for a large parent). */
WEFT_API int weft_process_start(weft_process **p, const weft_process_opts *opts,
                                int (*fn)(void *arg), void *arg);

/* Waits up to timeout for the child to end and stores its exit code in *exitcode (may be
 * NULL): fn's return value & 0xff (or what it passed to exit), or minus the signal number
 * if a signal ended it (-9: killed). Joining again returns the same at once; several
 * contexts may join at once. Errors: -EINVAL, -ETIMEDOUT, -ECANCELED (the child is
 * untouched), -ECHILD (the exit status was taken by somebody else: a waitpid(-1) of the
 * program's, or SIGCHLD set to SIG_IGN, which makes the kernel reap children at once).
 * Blocks (see weft/core.h). */
WEFT_API int weft_process_join(weft_process *p, int64_t timeout, int *exitcode);

/* True while the child has not ended. Never blocks. */
WEFT_API bool weft_process_is_alive(weft_process *p);

/* SIGTERM / SIGKILL to the child: 0, or -ESRCH once it has ended (nothing is sent then,
 * never to a recycled PID), -EINVAL. Any context; never blocks. */
WEFT_API int weft_process_terminate(weft_process *p);
WEFT_API int weft_process_kill(weft_process *p);

/* The child's process id (for logs). */
WEFT_API pid_t weft_process_pid(const weft_process *p);

/* Gives the handle back. A child that has ended is reaped now. One still running goes on:
 * a non-daemon child is waited for at the parent's normal exit, a daemon child is killed
 * then (as Python does); either way it is reaped, never left a zombie. The handle is gone
 * after the call (a second release is a use after free). NULL is ignored. */
WEFT_API void weft_process_release(weft_process *p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PROCESS_H */
