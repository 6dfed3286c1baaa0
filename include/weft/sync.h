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
 * Debug builds report on stderr a lock that a coroutine took and that nobody released:
 * when the lock is destroyed still held, or at exit. (A coroutine that ends holding a lock
 * that another context releases later, a hand-over, is fine and not reported.) */
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

/* How many wait for the event now: waits that a weft_event_set at this instant would end
 * (a wait counts from just before it parks until it is woken, times out or is cancelled).
 * For tests and monitoring ("all five waiters are parked"); the value may be stale as soon
 * as it is returned. 0 for NULL. Any context; never blocks (takes the event's internal lock
 * for a moment). */
WEFT_API size_t weft_event_waiters(weft_event *e);

/* Destroys the event; destroying one with waiters is reported and aborts (see
 * weft_lock_destroy). NULL is ignored. */
WEFT_API void weft_event_destroy(weft_event *e);


/* threading.RLock: reentrant. Its owner is the thread or the coroutine that took it (two
 * coroutines on one thread are different owners); only the owner may release it, as many
 * times as it acquired it. */
typedef struct weft_rlock weft_rlock;

/* Errors: -EINVAL, -ENOMEM. Any context. */
WEFT_API int weft_rlock_create(weft_rlock **r);

/* Takes it (again, if the caller owns it: no wait). 0, -ETIMEDOUT, -ECANCELED, -EINVAL. */
WEFT_API int weft_rlock_acquire(weft_rlock *r, int64_t timeout);

/* Undoes one acquire; the last one frees it for others. -EPERM if the caller does not own
 * it; -EINVAL. Never blocks. */
WEFT_API int weft_rlock_release(weft_rlock *r);

/* Destroys it; with waiters: reported, abort. NULL is ignored. */
WEFT_API void weft_rlock_destroy(weft_rlock *r);

/* threading.Condition / asyncio.Condition, on a weft_lock or a weft_rlock. */
typedef struct weft_cond weft_cond;

/* Creates a condition on lock; NULL: on a weft_lock of its own (weft_cond_lock returns it).
 * Errors: -EINVAL (c NULL), -ENOMEM. Any context. */
WEFT_API int weft_cond_create(weft_cond **c, weft_lock *lock);

/* Creates a condition on a reentrant lock (not NULL). */
WEFT_API int weft_cond_create_rlock(weft_cond **c, weft_rlock *lock);

/* The weft_lock the condition uses (NULL for one made on a weft_rlock). */
WEFT_API weft_lock *weft_cond_lock(weft_cond *c);

/* Acquire / release the condition's lock (whichever kind). As weft_lock_acquire/_release. */
WEFT_API int weft_cond_acquire(weft_cond *c, int64_t timeout);
WEFT_API int weft_cond_release(weft_cond *c);

/* Releases the lock (all levels of an rlock), waits for a notify, then takes the lock back
 * before returning, whatever happened: also after a timeout or a cancel, which does not
 * interrupt the re-acquire. 0 (notified), -ETIMEDOUT, -ECANCELED, -EPERM (the lock is not
 * held; for an rlock: not by the caller), -EINVAL. Wake-ups are never spurious, but the
 * condition may have changed again before the lock is back: re-check it (or use
 * weft_cond_wait_for). */
WEFT_API int weft_cond_wait(weft_cond *c, int64_t timeout);

/* Waits until pred(arg) is true (checked first, and after every wake-up, with the lock
 * held). 0 when it is, -ETIMEDOUT if it is still false when timeout has passed,
 * -ECANCELED, -EPERM, -EINVAL. */
WEFT_API int weft_cond_wait_for(weft_cond *c, bool (*pred)(void *arg), void *arg,
                                int64_t timeout);

/* Wakes up to n waiters (n >= 0) / every waiter. The lock must be held by the caller (an
 * rlock) or by someone (a lock): -EPERM otherwise. Returns how many were woken, or -EINVAL.
 * Never blocks. */
WEFT_API int weft_cond_notify(weft_cond *c, int n);
WEFT_API int weft_cond_notify_all(weft_cond *c);

/* How many wait on the condition now: waits that weft_cond_notify_all at this instant
 * would wake (a wait counts from before it releases the lock until it is notified, times
 * out or is cancelled; one notified and taking the lock back no longer counts). For tests
 * and monitoring; the value may be stale as soon as it is returned (while the caller holds
 * the condition's lock nobody can start waiting, so it can only go down: timeouts, cancels).
 * 0 for NULL. Any context; never blocks. */
WEFT_API size_t weft_cond_waiters(weft_cond *c);

/* Destroys the condition (and its own lock, if it made one); with waiters: reported, abort.
 * NULL is ignored. */
WEFT_API void weft_cond_destroy(weft_cond *c);

/* threading.Semaphore and BoundedSemaphore. Permits are handed to waiters in FIFO order:
 * a release that finds a waiter gives it the permit directly, so none is lost to a timeout
 * racing with the release. */
typedef struct weft_sem weft_sem;

/* A semaphore with `value` permits (value <= WEFT_SEM_MAX). bounded: releasing past the
 * initial value is an error (-EOVERFLOW), as BoundedSemaphore raises. Errors: -EINVAL,
 * -ENOMEM. Any context. */
#define WEFT_SEM_MAX 0x7fffffffu
WEFT_API int weft_sem_create(weft_sem **s, unsigned value, bool bounded);

/* Takes a permit. 0, -ETIMEDOUT, -ECANCELED, -EINVAL. Fast path: one compare-and-swap. */
WEFT_API int weft_sem_acquire(weft_sem *s, int64_t timeout);

/* Gives a permit back (to the longest waiter, if any). 0, -EOVERFLOW (bounded, or past
 * WEFT_SEM_MAX), -EINVAL. Any context; never blocks. */
WEFT_API int weft_sem_release(weft_sem *s);

/* The number of free permits now. */
WEFT_API unsigned weft_sem_value(weft_sem *s);

/* Destroys it; with waiters: reported, abort. NULL is ignored. */
WEFT_API void weft_sem_destroy(weft_sem *s);

/* threading.Barrier / asyncio.Barrier: `parties` callers meet, then all go on; reusable. */
typedef struct weft_barrier weft_barrier;

/* action (may be NULL) is run by the last party to arrive, before the others are let go; if
 * it returns an error the barrier breaks. Errors: -EINVAL (parties 0), -ENOMEM. */
WEFT_API int weft_barrier_create(weft_barrier **b, unsigned parties,
                                 int (*action)(void *arg), void *arg);

/* Waits for the other parties. Returns this caller's arrival index (0 .. parties-1, the
 * last to arrive gets parties-1), or: -EPIPE (the barrier is or gets broken: aborted, reset
 * while waiting, its action failed, or another party timed out or was cancelled),
 * -ETIMEDOUT / -ECANCELED (this wait timed out or was cancelled: the barrier breaks for
 * the others), -EINVAL. */
WEFT_API int weft_barrier_wait(weft_barrier *b, int64_t timeout);

/* Breaks the barrier: current and future waits return -EPIPE until weft_barrier_reset. */
WEFT_API int weft_barrier_abort(weft_barrier *b);

/* Back to the fresh state: parties waiting in the current round get -EPIPE. If the last
 * party is running the action meanwhile, it still gets its index, and parties that arrived
 * during the action take part in the next round. */
WEFT_API int weft_barrier_reset(weft_barrier *b);

/* Whether the barrier is broken (aborted, or a wait in it timed out or was cancelled),
 * until weft_barrier_reset; the number of parties it was created for; the number waiting
 * in the current round. Any context; never block. */
WEFT_API bool weft_barrier_broken(weft_barrier *b);
WEFT_API unsigned weft_barrier_parties(weft_barrier *b);
WEFT_API unsigned weft_barrier_n_waiting(weft_barrier *b);

/* Destroys it; with waiters: reported, abort. NULL is ignored. */
WEFT_API void weft_barrier_destroy(weft_barrier *b);

/* Run-once initialisation (pthread_once), for threads and coroutines alike. */
typedef struct weft_once {
    WEFT_ALIGNAS(8) uint32_t opaque_[8];
} weft_once;
#define WEFT_ONCE_INIT { { 0 } }

/* Runs fn(arg, &result) once: the first caller runs it; callers that arrive meanwhile wait
 * (a coroutine is suspended) and return 0 once it has succeeded. If fn fails (returns < 0)
 * the once stays undone: its caller gets the error, and a waiting caller runs fn in turn.
 * Later calls return 0 at once. Errors: fn's, -ECANCELED (while waiting), -EDEADLK (fn
 * itself calls weft_once_call on the same once), -EINVAL. */
WEFT_API int weft_once_call(weft_once *once, weft_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_SYNC_H */
