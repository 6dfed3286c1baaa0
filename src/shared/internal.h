/* shared/internal.h — what the files of the shared layer (weft/shared.h) share: the
 * shared mappings, the cross-process wait, and the robust lock's inside.
 *
 * Layer rule: shared uses core, loop and future (waits, futures, threads) and is used by
 * none of them.
 *
 * Files: wait.c waits on a futex word of a shared mapping from any context (the
 * "weft-shared" thread for coroutines); map.c makes and unmaps the mappings; lock.c is
 * the robust lock (owners and their liveness); event.c, sem.c, cond.c, barrier.c,
 * queue.c, mem.c, msgpipe.c are one object each.
 *
 * Two protocols (no lost wake-up across processes, and a changer touches the object's
 * memory no more once a waiter can see its change: the waiter may return and unmap it):
 *  - lock, event, semaphore: the state and a "somebody sleeps" bit in one futex word. A
 *    waiter sets the bit (CAS) and sleeps while the word is what it set; a changer
 *    changes the word in one atomic step, and if the bit was set, wakes everybody (a
 *    system call on the address: harmless if it is unmapped by then).
 *  - queue, barrier, condition (whose state changes under an internal robust lock): a
 *    sequence word `seq` and a count of sleepers, both handled under the lock (waiters
 *    count themselves and read seq before giving the lock up; changers bump seq and read
 *    the count before giving it up), the wake-up after (weft__shared_bump).
 * All seq_cst.
 */
#ifndef WEFT_SHARED_INTERNAL_H
#define WEFT_SHARED_INTERNAL_H

#include "loop/internal.h"
#include "future/internal.h"

#include <weft/shared.h>

/* ---- map.c ------------------------------------------------------------------------------ */

/* size bytes of zeroed shared anonymous memory (rounded up to pages), or NULL (errno). */
void *weft__shared_map(size_t size);
void weft__shared_unmap(void *p, size_t size);

/* ---- wait.c ----------------------------------------------------------------------------- */

/* How long one wait lasts at most before its caller looks again (the owner of a lock may
 * have died; a pool job may have been cancelled). */
#define WEFT__SHARED_SLICE (20 * WEFT_MS)

/* Waits while *word == seen, until deadline (WEFT__NO_DEADLINE: none) or at most one slice.
 * 0: woken, the word changed, or the slice ended (the caller looks again); -ETIMEDOUT
 * (the deadline has passed); -ECANCELED (a cancelled coroutine or pool job, unshielded).
 * Any context; blocks the thread (a thread, or a loop with no coroutine) or the coroutine
 * (its loop runs on). */
int weft__shared_wait(_Atomic uint32_t *word, uint32_t seen, int64_t deadline);

/* Wakes every waiter on word, in every process. Any context; never blocks. */
void weft__shared_wake(_Atomic uint32_t *word);

/* The sleep of the one-word protocol: the caller saw w in *word and must wait. Sets
 * `sleeping` in the word (CAS) and waits while the word holds w | sleeping. 0 also when
 * the CAS lost (the word moved: the caller looks again); else weft__shared_wait's. */
static inline int weft__shared_sleep(_Atomic uint32_t *word, uint32_t w, uint32_t sleeping,
                                     int64_t deadline)
{
    if (!(w & sleeping) &&
        !atomic_compare_exchange_strong_explicit(word, &w, w | sleeping, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return 0;
    return weft__shared_wait(word, w | sleeping, deadline);
}

/* The same on a 64-bit word: the kernel compares its low half (which must change whenever
 * the word changes in a way its waiters care about); the coroutines' thread compares all of
 * it. And the wake-up of its waiters. */
int weft__shared_wait64(_Atomic uint64_t *word, uint64_t seen, int64_t deadline);
void weft__shared_wake64(_Atomic uint64_t *word);

/* The waiter's side of the protocol above, around weft__shared_wait. */
typedef struct weft__shared_sync {
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
} weft__shared_sync;

/* The changer's side, under the object's internal lock (the waiters count themselves and
 * read seq under it too): seq++, and whether anybody sleeps. The wake-up itself
 * (weft__shared_wake on seq) comes after the lock is let go — only a system call on the
 * address, harmless if a caller of this process has unmapped the object meanwhile (its
 * wait ended as the lock was given: an object may be destroyed as soon as the calls that
 * use it have returned, and the changer's call is not in its way any more). */
static inline bool weft__shared_bump(weft__shared_sync *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_seq_cst);
    return atomic_load_explicit(&s->waiters, memory_order_seq_cst) != 0;
}

/* ---- lock.c ----------------------------------------------------------------------------- */

/* The lock's shared state: 0 (free) or the owner's identity and a "somebody sleeps" bit
 * (lock.c), in one word, so that a release touches nothing after the word. */
typedef struct weft__shared_lock_state {
    _Atomic uint64_t owner;
} weft__shared_lock_state;

/* The lock's calls on a state embedded in another object (the queue's, the mem's). */
int weft__shared_lock_take(weft__shared_lock_state *l, int64_t deadline);
int weft__shared_lock_give(weft__shared_lock_state *l);
/* The take that is not cut short (by a deadline, a cancel): for an object's internal lock,
 * held for a few instructions, and for a condition's retake. 0 or -EOWNERDEAD. */
int weft__shared_lock_take_shielded(weft__shared_lock_state *l);

/* The calling thread's identity as a lock owner; forgotten in a fork's child. */
uint64_t weft__shared_self(void);
void weft__shared_forget_self(void);

/* The state inside a public lock (for the condition). */
weft__shared_lock_state *weft__shared_lock_state_of(weft_shared_lock *l);

/* wait.c: registers the layer's fork hook (once). Any context. */
void weft__shared_fork_hook(void);

#endif /* WEFT_SHARED_INTERNAL_H */
