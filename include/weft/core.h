/* weft/core.h — errors, time, the unit of work, threads and thread-locals.
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * Contexts: a function is called from a *thread* (plain code on any thread, weft-made or not)
 * or from a *coroutine* (code running inside weft_run / weft_spawn). Unless a function's
 * comment says otherwise it may be called from both, and a "blocking" function suspends only
 * the calling coroutine, or blocks the calling thread while running that thread's loop (see
 * weft/task.h). No weft function may be called from a signal handler unless it says so.
 */
#ifndef WEFT_CORE_H
#define WEFT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Alignment of the public structs' opaque storage, in C and C++ alike. */
#ifdef __cplusplus
#define WEFT_ALIGNAS(n) alignas(n)
#else
#define WEFT_ALIGNAS(n) _Alignas(n)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version ------------- */

/* The version of these headers. WEFT_VERSION_NUMBER compares: major * 10000 + minor * 100 +
 * patch. The shared library's soname is libweft.so.<major>: a release that removes or
 * changes the meaning of a public name, or the size of a public struct, raises the major
 * version; additions raise the minor one. */
#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"
#define WEFT_VERSION_NUMBER \
    (WEFT_VERSION_MAJOR * 10000 + WEFT_VERSION_MINOR * 100 + WEFT_VERSION_PATCH)

/* The version of the library linked at run time ("0.1.0"): may differ from the headers'
 * WEFT_VERSION_STRING when a program runs against a newer shared library. Static string.
 * Any context. */
WEFT_API const char *weft_version(void);

/* The same, as a number to compare with WEFT_VERSION_NUMBER. Any context. */
WEFT_API int weft_version_number(void);

/* ---------------------------------------------------------------- errors and time ---- */

/* A human-readable description of 0 or a negative error code ("Connection timed out" for
 * -ETIMEDOUT). Never NULL; the string is static. Any context, also signal handlers. */
WEFT_API const char *weft_strerror(int err);

/* The symbolic name of 0 or a negative error code: "ETIMEDOUT" for -ETIMEDOUT, "OK" for 0,
 * "EUNKNOWN" for anything else. Never NULL; static. Any context, also signal handlers. */
WEFT_API const char *weft_errname(int err);

/* The monotonic clock (CLOCK_MONOTONIC) in nanoseconds. Any context. Never blocks. */
WEFT_API int64_t weft_now(void);

/* Durations, in the nanoseconds every timeout, deadline and sleep of weft takes. */
#define WEFT_US      1000LL
#define WEFT_MS      1000000LL
#define WEFT_SEC     1000000000LL
#define WEFT_FOREVER (-1LL)  /* as a timeout: no limit; 0 means do not wait */

/* The unit of work: returns 0 or a negative error code; may store a result in *result
 * (result is never NULL when weft calls it; *result starts as NULL). */
typedef int (*weft_fn)(void *arg, void **result);

/* ---------------------------------------------------------------- threads ------------- */

/* A thread started by weft: Python's threading.Thread. */
typedef struct weft_thread weft_thread;

/* Options for weft_thread_start. Initialise with WEFT_THREAD_OPTS_INIT; more fields may be
 * added at the end. */
typedef struct weft_thread_opts {
    const char *name;    /* copied whole; shown by weft_thread_name and, cut to 15 bytes, by
                            the OS (ps, gdb, /proc). NULL: "weft-N". */
    bool daemon;         /* false: weft_shutdown (and so normal program exit) waits for it;
                            true: abandoned at exit, as Python's daemon threads */
    size_t stack_size;   /* 0: the pthread default */
} weft_thread_opts;
#define WEFT_THREAD_OPTS_INIT { NULL, false, 0 }

/* Starts fn(arg) on a new thread. *t receives a handle owned by the caller, which must
 * eventually be given back with weft_thread_release (the thread itself keeps running).
 * opts may be NULL (a non-daemon thread named "weft-N").
 * Any context; does not block. Errors: -EINVAL (t or fn NULL, or a stack_size the system
 * refuses), -ENOMEM, -EAGAIN (the system refused another thread), -ESHUTDOWN (weft_shutdown
 * has begun: no new non-daemon thread). */
WEFT_API int weft_thread_start(weft_thread **t, const weft_thread_opts *opts,
                               weft_fn fn, void *arg);

/* Waits until the thread has ended, then returns fn's return value and, if that is not an
 * error (>= 0), stores fn's result (if result is non-NULL). Joining again returns the same
 * values at once. "Ended" includes the thread's own weft cleanup: its loop's coroutines have
 * been cancelled and run to their end, and its weft_local values destroyed.
 * Blocks (a coroutine is suspended; a thread runs its loop meanwhile) until the thread ends
 * or timeout passes. Errors: -EINVAL (t NULL, negative timeout other than WEFT_FOREVER),
 * -ETIMEDOUT, -EDEADLK (a thread joining itself), -ECANCELED (the calling coroutine was
 * cancelled while it waited). */
WEFT_API int weft_thread_join(weft_thread *t, int64_t timeout, void **result);

/* The thread's future, for weft_wait, weft_gather, weft_as_completed and done-callbacks
 * beside tasks and pool jobs: completed, once the thread has ended in weft_thread_join's
 * sense, with fn's return value and result (waiting on it is joining, minus the -EDEADLK
 * check: a thread waiting on its own future waits for ever). Returns a new reference, which
 * the caller gives back with weft_future_release; it stays valid after weft_thread_release.
 * weft_future_cancel on it returns -EBUSY and changes nothing (a thread cannot be
 * cancelled); weft_future_set_result / _set_error return -EINVAL. NULL if t is NULL.
 * Any context; never blocks. */
WEFT_API struct weft_future *weft_thread_future(weft_thread *t);   /* weft/future.h */

/* True until the thread has ended, in weft_thread_join's sense. Any context; never blocks. */
WEFT_API bool weft_thread_is_alive(weft_thread *t);

/* The thread's name (valid until weft_thread_release). Any context. */
WEFT_API const char *weft_thread_name(weft_thread *t);

/* Gives back the caller's handle. The thread keeps running; weft_shutdown still joins it
 * unless it is a daemon. Any context. NULL is ignored. */
WEFT_API void weft_thread_release(weft_thread *t);

/* Program exit, as Python's interpreter exit: cancels the coroutines of the calling thread's
 * loop and runs them until they have ended, then joins every non-daemon weft thread that is
 * still running (including those started meanwhile); daemon threads are abandoned. After it
 * has begun, weft_thread_start of a non-daemon thread fails with -ESHUTDOWN.
 * weft registers it with atexit() the first time a thread is started, so returning from
 * main() or calling exit() waits for non-daemon threads; calling it yourself earlier is fine
 * (it is idempotent). Call it from a thread, not a coroutine (-EDEADLK otherwise); a
 * non-daemon thread calling it does not wait for itself. Blocks until those threads end. */
WEFT_API int weft_shutdown(void);

/* ---------------------------------------------------------------- thread-locals ------- */

/* Python's threading.local: one value slot per thread. */
typedef struct weft_local weft_local;

/* Creates a thread-local slot. dtor (may be NULL) is called with each non-NULL value when
 * its thread exits, when the value is replaced, and by weft_local_destroy. As with pthread
 * keys, the main thread's values are not destroyed at exit(). Coroutines share the value of
 * the thread they run on.
 * Errors: -EINVAL (l NULL), -ENOMEM. Any context. */
WEFT_API int weft_local_create(weft_local **l, void (*dtor)(void *value));

/* The calling thread's value, NULL if it has none. Any context; never blocks (no lock). */
WEFT_API void *weft_local_get(weft_local *l);

/* Sets the calling thread's value (NULL clears it); the old value, if any and different,
 * goes to dtor. Errors: -EINVAL (l NULL), -ENOMEM. Any context; never blocks for long. */
WEFT_API int weft_local_set(weft_local *l, void *value);

/* Destroys the slot, calling dtor for every thread's value still set (on the calling
 * thread). No other thread may use l during or after this call. NULL is ignored. */
WEFT_API void weft_local_destroy(weft_local *l);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CORE_H */
