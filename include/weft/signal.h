/* weft/signal.h — signals as ordinary events, and a graceful Ctrl+C in one call.
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * A signal is received as an item: a *receiver* collects the signals of its set, and its
 * owner takes them one by one with weft_signal_next — from a thread (which blocks) or a
 * coroutine (which parks; its loop runs on), with a timeout, like any other weft wait. No
 * user code runs in a signal handler: weft's handler only counts the signal and wakes
 * weft's router thread (a self-pipe), which hands it to every receiver whose set holds it.
 * Any thread may take the signal from the kernel (the application's own threads keep their
 * masks); the threads weft makes for itself (pool workers, timer threads, the router)
 * block asynchronous signals, so that a program waiting with sigwait or signalfd on a
 * thread of its own still gets everything it asked for.
 *
 * Only the signals a program asked for are touched: weft installs its handler for a signal
 * when the first receiver of it opens, and puts the previous disposition back when the last
 * one closes. While weft handles a signal, a handler the program installs for it itself
 * replaces weft's (and weft's receivers stop seeing it).
 *
 * Counting: each time the kernel runs the handler is one delivery to each receiver. The
 * kernel merges a standard signal that arrives while the same one is pending, so two quick
 * SIGUSR1 may arrive as one; real-time signals (SIGRTMIN..SIGRTMAX) queue and arrive once
 * each. A receiver holds up to 65,536 undelivered signals; beyond that, new ones are
 * dropped for it (weft_signal_dropped counts them).
 *
 * After fork, the child has no router thread: receivers opened in the parent see nothing
 * in the child (open new ones there after exec, or do not rely on them).
 */
#ifndef WEFT_SIGNAL_H
#define WEFT_SIGNAL_H

#include "core.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_signal_receiver weft_signal_receiver;

/* Opens a receiver of the n signals in signals[] (n >= 1; duplicates are fine). From now on
 * every delivery of one of them is queued for it. Errors: -EINVAL (rx or signals NULL, n 0,
 * a number that is not a signal or cannot be caught: 0, SIGKILL, SIGSTOP, the synchronous
 * ones SIGSEGV, SIGBUS, SIGFPE, SIGILL, and those glibc keeps for itself between 32 and
 * SIGRTMIN), -ENOMEM, -EAGAIN (the router thread could not start), sigaction's errors. Any
 * context; never blocks (but for a lock held for microseconds). */
WEFT_API int weft_signal_open(weft_signal_receiver **rx, const int *signals, size_t n);

/* Waits up to timeout for the next signal received and stores its number in *signo.
 * Returns 0, -ETIMEDOUT (0: only look), -ECANCELED, -EINVAL. Blocks (see weft/core.h).
 * Several contexts may wait on one receiver: each signal goes to one of them. */
WEFT_API int weft_signal_next(weft_signal_receiver *rx, int64_t timeout, int *signo);

/* Signals dropped for this receiver because 65,536 were waiting (0 normally). */
WEFT_API unsigned long weft_signal_dropped(const weft_signal_receiver *rx);

/* Closes and frees the receiver; signals still queued for it are dropped. Nobody may be
 * waiting in weft_signal_next on it (as with any object: do not free what is in use). The
 * signals no other receiver wants get their previous disposition back. NULL is ignored.
 * Any context. */
WEFT_API void weft_signal_close(weft_signal_receiver *rx);

/* One-shot: waits up to timeout for one of the n signals and stores it in *signo (a
 * receiver opened and closed around the wait: signals that arrive before the call are not
 * seen). Errors: those of weft_signal_open and weft_signal_next. Blocks. */
WEFT_API int weft_signal_wait(const int *signals, size_t n, int64_t timeout, int *signo);

/* ---- handlers that run as ordinary code --------------------------------------------------- */

/* A handler: called with the signal's number and weft_signal_handle's arg. */
typedef void (*weft_signal_fn)(int signo, void *arg);
typedef struct weft_signal_handler weft_signal_handler;

/* asyncio's loop.add_signal_handler, without its limits: fn(signo, arg) runs for each
 * delivery of one of the n signals, as ordinary code — on a coroutine of the caller's loop
 * when called from a coroutine (it runs whenever that loop runs, like any other coroutine
 * there), else on a thread of its own. Never in a signal handler: fn may call anything,
 * weft included. Deliveries are handled one at a time, in order. Errors: those of
 * weft_signal_open, -EINVAL (h or fn NULL), weft_spawn's and weft_thread_start's. Any
 * context; never blocks. */
WEFT_API int weft_signal_handle(weft_signal_handler **h, const int *signals, size_t n,
                                weft_signal_fn fn, void *arg);

/* Stops the handler: deliveries not yet handled are dropped; a call of fn in progress
 * finishes first (this waits for it), then the signals go back to their previous
 * disposition if nothing else wants them, and h is freed. Not from fn itself, which would
 * wait for itself (reported on stderr, then abort). NULL is ignored. Blocks until fn's
 * coroutine or thread has ended. */
WEFT_API void weft_signal_unhandle(weft_signal_handler *h);

/* ---- graceful shutdown ------------------------------------------------------------------- */

/* weft_run with Ctrl+C handled as asyncio.Runner does: runs main(arg) as the main
 * coroutine of the calling thread's loop; the first SIGINT or SIGTERM cancels it
 * (docs/CANCELLATION.md: every wait in it returns -ECANCELED, its task groups cancel their
 * children, its cleanup runs — a pool shut down with cancel_futures there lets running jobs
 * finish and cancels the queued ones); a second SIGINT ends the process at once with status
 * 130 (128 + SIGINT; a second SIGTERM: 143), whatever the program is doing, without running
 * atexit handlers. Returns main's outcome as weft_run does (-ECANCELED if the signal
 * cancelled it and it let the cancellation through); weft_graceful_signal then says which
 * signal it was. SIGINT and SIGTERM get their previous dispositions back when it returns.
 * Errors besides main's: -EBUSY (another weft_run_graceful is running in the process),
 * and weft_run's and weft_signal_open's. From a thread (as weft_run); blocks until main
 * returns. */
WEFT_API int weft_run_graceful(weft_fn main, void *arg, void **result);

/* The signal that cancelled the last weft_run_graceful's main (SIGINT or SIGTERM), or 0 if
 * none did. Any context. */
WEFT_API int weft_graceful_signal(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SIGNAL_H */
