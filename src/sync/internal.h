/* sync/internal.h — shared helpers of the synchronisation primitives. */
#ifndef WEFT_SYNC_INTERNAL_H
#define WEFT_SYNC_INTERNAL_H

#include "loop/internal.h"

/* Aborts with a message if a primitive is destroyed while someone waits on it: freeing it
 * would leave the waiters on freed memory, and returning quietly would hide the bug. */
void weft__destroy_busy(const char *what, const weft__list *waiters);

/* Unlinks a waiter's node after its park returned a timeout or a cancel, if no waker has
 * already taken it off the list. Call with the primitive's mutex held. */
static inline void weft__wait_node_forget(weft__wait_node *n)
{
    if (weft__list_linked(&n->link)) weft__list_unlink(&n->link);
}

/* weft_lock's state (lock.c); here so that rlock.c and cond.c can build on it. */
enum { WEFT__LOCK_LOCKED = 1u, WEFT__LOCK_WAITERS = 2u, WEFT__LOCK_WOKEN = 4u };

struct weft_lock {
    _Atomic uint32_t state;             /* LOCKED | WAITERS | WOKEN */
    weft__mutex m;
    weft__list waiters;                 /* m */
#if WEFT_DEBUG
    /* The debug registry (lock.c), under its debug_lock: which coroutine took the lock and
     * has not released it; once that coroutine has ended, its id and name (an orphan). */
    _Atomic uint32_t recorded;          /* 0, or WEFT__LOCK_OWNED / WEFT__LOCK_ORPHAN */
    weft__coro *owner;                  /* OWNED: the live coroutine that took it */
    weft__list owner_link;              /* OWNED: in owner->held_locks; ORPHAN: in orphans */
    uint64_t orphan_id;                 /* ORPHAN: the ended coroutine's id and name */
    char orphan_name[32];
#endif
};

/* Initialises an embedded lock. */
void weft__lock_init(weft_lock *l);

/* Takes l, waiting until the absolute deadline (WEFT__NO_DEADLINE: none; a deadline in
 * the past: do not wait). shielded: a cancelled coroutine waits anyway (Condition's
 * re-acquire). 0, -ETIMEDOUT, -ECANCELED. */
int weft__lock_acquire(weft_lock *l, int64_t deadline, bool shielded);

/* Forgets l's debug record (it is being destroyed, held or not). */
void weft__lock_fini(weft_lock *l);

/* rlock.c, for cond.c: take r with count levels (deadline and shielded as above); is the
 * caller the owner; release every level and return how many there were. */
int weft__rlock_acquire(weft_rlock *r, int64_t deadline, bool shielded, uint32_t count);
bool weft__rlock_owned(weft_rlock *r);
uint32_t weft__rlock_release_all(weft_rlock *r);

/* True if l is held (by anyone). */
static inline bool weft__lock_held(weft_lock *l)
{
    return atomic_load_explicit(&l->state, memory_order_relaxed) & WEFT__LOCK_LOCKED;
}

/* Debug builds, as coroutine c ends: the weft_locks it still holds become orphans. Handing
 * a lock over is allowed (another context may release it), so nothing is reported now; an
 * orphan still held when the lock is destroyed or the program exits is. c's records go (a
 * later release must not reach c once it is gone). Called by task.c. */
enum { WEFT__LOCK_OWNED = 1, WEFT__LOCK_ORPHAN = 2 };
void weft__locks_orphan(weft__coro *c);

#endif /* WEFT_SYNC_INTERNAL_H */
