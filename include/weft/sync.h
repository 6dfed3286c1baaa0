/* weft/sync.h — Lock and Event, for threads and coroutines alike.
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * Each works from threads, from coroutines on any loop, and across them: a thread may set
 * an event that coroutines on two loops wait for; a coroutine may wait for a lock that a
 * thread holds. Waiting suspends only the calling coroutine, or blocks the calling thread
 * (running its loop's coroutines meanwhile, if it has any). Every wait takes a timeout in
 * nanoseconds (WEFT_FOREVER: none; 0: do not wait) and returns -ECANCELED if the calling
 * coroutine is cancelled while it waits.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* threading.Lock: not reentrant, no owner — any thread or coroutine may release it.
 * Not fair: a release wakes the longest waiter, but a running acquirer may take the lock
 * first (the woken waiter then waits again, keeping its place at the head). */
typedef struct weft_lock weft_lock;

/* Errors: -EINVAL (l NULL), -ENOMEM. Any context. */
WEFT_API int weft_lock_create(weft_lock **l);

/* Takes the lock, waiting up to timeout. 0 on success; -ETIMEDOUT; -ECANCELED; -EINVAL
 * (l NULL, bad timeout). Like threading.Lock it is not reentrant: acquiring it again waits
 * until someone (any context) releases it. Fast path: one atomic compare-and-swap.
 * Debug builds report on stderr a coroutine that ends while holding a lock. */
WEFT_API int weft_lock_acquire(weft_lock *l, int64_t timeout);

/* Releases the lock; if someone waits, wakes one. -EPERM if it is not held; -EINVAL.
 * Any context; never blocks. Fast path: one atomic compare-and-swap. */
WEFT_API int weft_lock_release(weft_lock *l);

/* Destroys the lock (held or not). Destroying a lock that somebody is waiting for is
 * reported on stderr and aborts the process: it would leave the waiters on freed memory.
 * NULL is ignored. */
WEFT_API void weft_lock_destroy(weft_lock *l);

/* threading.Event / gevent Event: a flag that waiters wait to be set. */
typedef struct weft_event weft_event;

/* Errors: -EINVAL (e NULL), -ENOMEM. Any context. */
WEFT_API int weft_event_create(weft_event **e);

/* Sets the flag and wakes every waiter. 0, or -EINVAL. Any context; never blocks. */
WEFT_API int weft_event_set(weft_event *e);

/* Clears the flag. 0, or -EINVAL. Any context; never blocks. */
WEFT_API int weft_event_clear(weft_event *e);

/* The flag. Any context; never blocks. False for NULL. */
WEFT_API bool weft_event_is_set(weft_event *e);

/* Waits until the flag is set: 0 (also if it is set already), -ETIMEDOUT, -ECANCELED,
 * -EINVAL. A waiter woken by a set returns 0 even if the flag was cleared again at once. */
WEFT_API int weft_event_wait(weft_event *e, int64_t timeout);

/* Destroys the event; destroying one with waiters is reported and aborts (see
 * weft_lock_destroy). NULL is ignored. */
WEFT_API void weft_event_destroy(weft_event *e);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_SYNC_H */
