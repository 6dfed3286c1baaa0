/* shared/barrier.c — a barrier between processes. Its counters change under an internal
 * robust lock; waiters sleep on the sync word (the protocol of shared/internal.h) and
 * decide by the generation (the barrier let its parties through), `broken` (aborted, or a
 * waiter gave up) and `resets` (reset while they waited). */
#include "shared/internal.h"

struct weft_shared_barrier {
    weft__shared_lock_state lock;
    weft__shared_sync sync;
    uint32_t parties;
    _Atomic uint64_t round;           /* arrived in this generation (low 32 bits) and the
                                         generation (high): one word, so that a process
                                         killed as it lets the others through leaves
                                         either the old round or the new one */
    _Atomic uint32_t broken;
    _Atomic uint32_t resets;
};

#define BARRIER_MAP 4096

int weft_shared_barrier_create(weft_shared_barrier **b, unsigned parties)
{
    if (!b || parties == 0 || parties > INT32_MAX) return -EINVAL;
    weft_shared_barrier *m = weft__shared_map(BARRIER_MAP);
    if (!m) return -ENOMEM;
    m->parties = parties;
    *b = m;
    return 0;
}

/* The internal lock, shielded and unbounded (held for a few instructions). A dead holder
 * left nothing half-done: every change under it is one store (reset's two stores leave a
 * reset barrier either way). */
static void take(weft_shared_barrier *b) { weft__shared_lock_take_shielded(&b->lock); }

static void give(weft_shared_barrier *b) { weft__shared_lock_give(&b->lock); }

/* After a change, with the lock held: bump seq, let the lock go, wake the sleepers (the
 * wake-up touches no memory of the barrier: a waiter let through may have unmapped it). */
static void give_and_wake(weft_shared_barrier *b)
{
    bool sleepers = weft__shared_bump(&b->sync);
    give(b);
    weft__perturb(WEFT__PP_SHARED_WAKE);
    if (sleepers) weft__shared_wake(&b->sync.seq);
}

int weft_shared_barrier_wait(weft_shared_barrier *b, int64_t timeout)
{
    if (!b) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (weft__cancel_pending()) return -ECANCELED;
    take(b);
    if (atomic_load(&b->broken)) {
        give(b);
        return -EPIPE;
    }
    uint32_t resets = atomic_load(&b->resets);
    uint64_t r = atomic_load(&b->round);
    uint32_t gen = (uint32_t)(r >> 32), index = (uint32_t)r;
    if (index + 1 == b->parties) {
        atomic_store(&b->round, (uint64_t)(gen + 1) << 32);          /* count 0, gen + 1 */
        give_and_wake(b);
        return (int)index;
    }
    atomic_store(&b->round, r + 1);
    /* Waiters decide under the lock (as the queue's do): a changer's last touch of the
     * barrier is then its lock's release, and whoever it lets through may unmap it. */
    for (;;) {
        bool reset = atomic_load(&b->resets) != resets;
        bool through = !reset && (uint32_t)(atomic_load(&b->round) >> 32) != gen;
        if (reset || (!through && atomic_load(&b->broken))) {
            give(b);
            return -EPIPE;
        }
        if (through) {
            give(b);
            return (int)index;                /* also after a timeout: the outcome wins */
        }
        if (rc) {                             /* gave up: break it for the others */
            atomic_store(&b->broken, 1);
            give_and_wake(b);
            return rc;
        }
        atomic_fetch_add_explicit(&b->sync.waiters, 1, memory_order_seq_cst);
        uint32_t seen = atomic_load_explicit(&b->sync.seq, memory_order_seq_cst);
        give(b);
        rc = weft__shared_wait(&b->sync.seq, seen, deadline);
        atomic_fetch_sub_explicit(&b->sync.waiters, 1, memory_order_relaxed);
        take(b);
    }
}

int weft_shared_barrier_abort(weft_shared_barrier *b)
{
    if (!b) return -EINVAL;
    take(b);
    atomic_store(&b->broken, 1);
    give_and_wake(b);
    return 0;
}

int weft_shared_barrier_reset(weft_shared_barrier *b)
{
    if (!b) return -EINVAL;
    take(b);
    atomic_fetch_add(&b->resets, 1);
    atomic_store(&b->round, atomic_load(&b->round) & ~(uint64_t)UINT32_MAX);
    atomic_store(&b->broken, 0);
    give_and_wake(b);
    return 0;
}

void weft_shared_barrier_destroy(weft_shared_barrier *b)
{
    weft__shared_unmap(b, BARRIER_MAP);
}
