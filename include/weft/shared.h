/* weft/shared.h — primitives shared between processes: multiprocessing's Lock, Event,
 * Semaphore, Condition, Barrier, Queue, Value/Array and Pipe.
 *
 * Who shares them. Each object lives in its own shared mapping (MAP_SHARED | MAP_ANONYMOUS),
 * made by the process that creates it. Every process started from it afterwards — by
 * weft_process_start, by a process pool created afterwards (its workers), by the program's
 * own fork() — has the same object at the same address, and uses the same pointer. A
 * process started before the object was made does not see it. The memory stays as long as
 * one process still has it mapped: a child may go on using an object whose creator has
 * exited. Each process calls _destroy when it is done with an object (that unmaps it here
 * only; the others keep it); exiting does the same.
 *
 * Waiting. Every wait works from a thread and from a coroutine in any of the processes, with
 * the usual timeout (ns, 0 to try, WEFT_FOREVER) and the usual outcomes: -ETIMEDOUT, and
 * -ECANCELED for a cancelled coroutine (or pool job) — a cancelled wait has taken nothing.
 * A coroutine's wait does not block its loop: one thread per process ("weft-shared") waits
 * on the kernel's futexes for every waiting coroutine of the process at once (futex_waitv,
 * Linux 5.16; where it is missing, as under Valgrind or qemu, coroutines look again every
 * millisecond instead). A thread waits on the futex itself.
 *
 * A process that dies holding a lock. The lock records the process that owns it (its id
 * and start time, so that a recycled number is not taken for it; a lock belongs to a
 * process, not a thread: any thread may release it, and a thread that ends holding it has
 * not left it behind). A waiter that has waited 20 ms looks whether the owner is still
 * alive; if not, it takes the lock and is told -EOWNERDEAD: it holds the lock, and the state
 * the lock protects may be half-updated (repair it, then release as usual). The queue, condition, semaphore, event and barrier below keep
 * their own state consistent at every step, so the death of a process in the middle of one
 * of their calls loses at most the message or token it was handling.
 *
 * Wake-ups are broadcast: a release, post or notify wakes every waiter of the object, and
 * all but those that win go back to sleep. These objects are for coordinating processes, not
 * for millions of hand-offs a second; weft_procpool is the fast path between processes.
 *
 * Every call: -EINVAL for a NULL object or argument. Any context unless said otherwise.
 */
#ifndef WEFT_SHARED_H
#define WEFT_SHARED_H

#include "core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock (multiprocessing.Lock, robust) ----------------------------------------------- */

typedef struct weft_shared_lock weft_shared_lock;

/* A free lock. -ENOMEM (no memory or no mapping left). */
WEFT_API int weft_shared_lock_create(weft_shared_lock **l);

/* Takes the lock, waiting up to timeout. 0; -EOWNERDEAD: taken, but its last owner died
 * holding it (see above: found after 20 ms of waiting, or when a shorter timeout ends —
 * timeout 0 included — so a polling caller learns it too); -ETIMEDOUT; -ECANCELED. Not
 * reentrant: a thread (or a coroutine) that takes it twice waits for ever, as with
 * Python's Lock. A try (timeout 0) on a held lock reads /proc once: not for a spin loop. */
WEFT_API int weft_shared_lock_acquire(weft_shared_lock *l, int64_t timeout);

/* Frees the lock. Any thread of any process may release it (Python's rule). -EPERM if it
 * is not held. Never blocks. */
WEFT_API int weft_shared_lock_release(weft_shared_lock *l);

/* Whether somebody holds it now (a snapshot). */
WEFT_API bool weft_shared_lock_locked(weft_shared_lock *l);

/* Unmaps it from this process. No wait on it may be in progress in this process. A call
 * whose effect you have seen is no obstacle: a release (set, post, put, notify) touches
 * nothing of the object once its change is visible, so the waiter it woke may destroy the
 * object at once (the one-shot pattern). The same holds for every _destroy below. */
WEFT_API void weft_shared_lock_destroy(weft_shared_lock *l);

/* ---- Event ------------------------------------------------------------------------------ */

typedef struct weft_shared_event weft_shared_event;

/* An event, not set. -ENOMEM (no memory or no mapping left), -EINVAL (e NULL). */
WEFT_API int weft_shared_event_create(weft_shared_event **e);
/* set wakes every waiter of every process; clear makes later waits wait. Never block. */
WEFT_API int weft_shared_event_set(weft_shared_event *e);
WEFT_API int weft_shared_event_clear(weft_shared_event *e);
WEFT_API bool weft_shared_event_is_set(weft_shared_event *e);
/* 0 once set (at once if it is), -ETIMEDOUT, -ECANCELED. */
WEFT_API int weft_shared_event_wait(weft_shared_event *e, int64_t timeout);
WEFT_API void weft_shared_event_destroy(weft_shared_event *e);

/* ---- Semaphore -------------------------------------------------------------------------- */

typedef struct weft_shared_sem weft_shared_sem;

/* value: the initial count (at most INT32_MAX). */
WEFT_API int weft_shared_sem_create(weft_shared_sem **s, unsigned value);
/* Takes one: 0, -ETIMEDOUT, -ECANCELED. */
WEFT_API int weft_shared_sem_acquire(weft_shared_sem *s, int64_t timeout);
/* Gives one back. -EOVERFLOW past INT32_MAX. Never blocks. */
WEFT_API int weft_shared_sem_release(weft_shared_sem *s);
WEFT_API unsigned weft_shared_sem_value(weft_shared_sem *s);
WEFT_API void weft_shared_sem_destroy(weft_shared_sem *s);

/* ---- Condition -------------------------------------------------------------------------- */

typedef struct weft_shared_cond weft_shared_cond;

/* A condition over lock (a shared lock, which the condition does not own: destroy it
 * separately). */
WEFT_API int weft_shared_cond_create(weft_shared_cond **c, weft_shared_lock *lock);
/* With the lock held: releases it, waits for a notify (or the timeout), takes it again —
 * also after -ETIMEDOUT and -ECANCELED (the retake itself is not cut short). As with
 * pthread conditions a wait may end without a notify meant for it: wait in a loop over
 * the predicate. 0, -ETIMEDOUT, -ECANCELED, -EOWNERDEAD (retaken from a dead owner), -EPERM
 * (the lock is not held). */
WEFT_API int weft_shared_cond_wait(weft_shared_cond *c, int64_t timeout);
/* Wakes the waiters (all of them: see "Wake-ups are broadcast"). Never blocks. */
WEFT_API int weft_shared_cond_notify_all(weft_shared_cond *c);
WEFT_API void weft_shared_cond_destroy(weft_shared_cond *c);

/* ---- Barrier ---------------------------------------------------------------------------- */

typedef struct weft_shared_barrier weft_shared_barrier;

/* parties: how many must arrive (1 .. 2^31-1). */
WEFT_API int weft_shared_barrier_create(weft_shared_barrier **b, unsigned parties);
/* Waits until `parties` callers have arrived; returns the caller's arrival index
 * (0 .. parties-1, as Python's Barrier.wait), or -ETIMEDOUT / -ECANCELED: the barrier is
 * then broken, and every other waiter and every later wait get -EPIPE (Python's
 * BrokenBarrierError) until weft_shared_barrier_reset. */
WEFT_API int weft_shared_barrier_wait(weft_shared_barrier *b, int64_t timeout);
/* Breaks it (waiters get -EPIPE); reset makes it whole and empty again. */
WEFT_API int weft_shared_barrier_abort(weft_shared_barrier *b);
WEFT_API int weft_shared_barrier_reset(weft_shared_barrier *b);
WEFT_API void weft_shared_barrier_destroy(weft_shared_barrier *b);

/* ---- Queue of byte messages ------------------------------------------------------------- */

typedef struct weft_shared_queue weft_shared_queue;

/* A queue holding at most max_items messages (0: no limit but the bytes) and at most
 * max_bytes bytes of messages (each takes its length rounded up to 8, plus 8). A message
 * longer than max_bytes - 8 can never be put (-EMSGSIZE). max_bytes: 64 .. 2^31. */
WEFT_API int weft_shared_queue_create(weft_shared_queue **q, size_t max_items,
                                      size_t max_bytes);
/* Copies len bytes in, waiting while it is full. 0, -ETIMEDOUT, -ECANCELED, -ESHUTDOWN,
 * -EMSGSIZE. */
WEFT_API int weft_shared_queue_put(weft_shared_queue *q, const void *data, size_t len,
                                   int64_t timeout);
/* Takes the oldest message, waiting while it is empty: copies it to buf (cap bytes) and
 * sets *len. A message longer than cap is not taken: -EMSGSIZE, with *len its length.
 * 0, -ETIMEDOUT, -ECANCELED, -ESHUTDOWN (shut down and empty). */
WEFT_API int weft_shared_queue_get(weft_shared_queue *q, void *buf, size_t cap, size_t *len,
                                   int64_t timeout);
/* Python 3.13's shutdown, as weft_queue_shutdown: puts fail with -ESHUTDOWN from now on;
 * gets take what is left, then fail with -ESHUTDOWN; immediate: what is left is dropped.
 * Waiters in every process wake. Never blocks. */
WEFT_API int weft_shared_queue_shutdown(weft_shared_queue *q, bool immediate);
/* Messages in it now (a snapshot). */
WEFT_API size_t weft_shared_queue_qsize(weft_shared_queue *q);
WEFT_API void weft_shared_queue_destroy(weft_shared_queue *q);

/* ---- Value / Array: shared bytes with a lock -------------------------------------------- */

typedef struct weft_shared_mem weft_shared_mem;

/* size bytes of zeroed shared memory (Value: one number; Array: many), and a lock for it. */
WEFT_API int weft_shared_mem_create(weft_shared_mem **m, size_t size);
/* The bytes (at least 16-byte aligned: lock-free atomics on them work across processes
 * too), their size, and their lock (part of m: weft_shared_mem_destroy unmaps it; never
 * call weft_shared_lock_destroy on it). */
WEFT_API void *weft_shared_mem_data(weft_shared_mem *m);
WEFT_API size_t weft_shared_mem_size(weft_shared_mem *m);
WEFT_API weft_shared_lock *weft_shared_mem_lock(weft_shared_mem *m);
WEFT_API void weft_shared_mem_destroy(weft_shared_mem *m);

/* ---- Pipe: a duplex message channel (multiprocessing.Pipe) ------------------------------ */

typedef struct weft_msgpipe weft_msgpipe;

/* Two connected ends: what one sends the other receives, message by message, in order.
 * Give one end to a child (start it after this call) and keep the other; each process
 * destroys the end it does not use (so that the other side sees the end when the user
 * exits). An end is used by one process; threads and coroutines of that process may share
 * it (sends are whole messages, not interleaved). */
WEFT_API int weft_msgpipe_create(weft_msgpipe **a, weft_msgpipe **b);
/* Sends len bytes (any size: a long message is written in pieces). 0, -ETIMEDOUT,
 * -ECANCELED, -EPIPE (the other end is gone). A timeout or cancel in the middle of a message
 * breaks the end (-EPIPE from then on): a half-sent message cannot be taken back. */
WEFT_API int weft_msgpipe_send(weft_msgpipe *p, const void *data, size_t len,
                               int64_t timeout);
/* Receives the next message into *data (malloc'd, also for an empty message: the caller
 * frees it) and *len. 0,
 * -ETIMEDOUT, -ECANCELED (nothing taken), -EPIPE (the other end is gone and everything it
 * sent has been received), -ENOMEM, -EMSGSIZE (the next message is longer than this end's
 * maximum, weft_msgpipe_set_max_message: nothing is allocated for it, and the end can no
 * longer receive — later receives return -EPIPE — as Python's recv_bytes(maxlength)).
 * The sender is not told of an -EMSGSIZE: its sends go on returning 0 (and block once the
 * channel's buffer is full) while this end exists, and what it sends is lost. So destroy
 * this end after -EMSGSIZE: then the peer's sends get -EPIPE.
 * Any context; blocks (a coroutine parks) until a message is whole, the timeout or a
 * cancel. */
WEFT_API int weft_msgpipe_recv(weft_msgpipe *p, void **data, size_t *len, int64_t timeout);

/* The default longest message an end receives: 64 MiB (a length the peer sends is checked
 * against it before anything is allocated). */
#define WEFT_MSGPIPE_MAX_MESSAGE ((size_t)64 << 20)

/* Sets the longest message this end receives (0: no limit, any length the other process
 * names is allocated); the default is WEFT_MSGPIPE_MAX_MESSAGE. Applies to messages whose
 * length has not been read yet. 0, or -EINVAL (p NULL). Any context, any thread; never
 * blocks. */
WEFT_API int weft_msgpipe_set_max_message(weft_msgpipe *p, size_t max);
/* Closes this end here (in this process; a child's copy stays open until it destroys its
 * own). */
WEFT_API void weft_msgpipe_destroy(weft_msgpipe *p);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SHARED_H */
