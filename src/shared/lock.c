/* shared/lock.c — the robust lock between processes.
 *
 * owner holds 0 (free) or the owning process's identity, installed by one compare-and-swap:
 * the process id (22 bits: pid_max is at most 2^22), a SLEEPERS bit (somebody waits on the
 * word: the release wakes everybody, and clears it) and the low 41 bits of the process's
 * start time (in clock ticks since boot, /proc's starttime). The word is also the futex
 * (its low half, which holds the pid and the bit: it changes at every release). Ownership belongs to the
 * process, not the thread: any thread may release (Python's rule), so a thread that took
 * the lock and ended has not left it behind. A waiter that has waited a slice
 * (WEFT__SHARED_SLICE), or whose timeout ends first, looks at /proc/<pid>/stat: no such
 * process, a zombie, or a process that started at another time (the number was recycled)
 * means the owner is dead, and the waiter swaps the dead identity for its own
 * (-EOWNERDEAD). Without a readable /proc (our own stat could not be read) nobody is
 * declared dead.
 *
 * The identity is computed once per process (one read of /proc/self/stat); the fork hook of
 * wait.c forgets it in a child.
 */
#include "shared/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PID_BITS 22
#define PID_MASK ((1u << PID_BITS) - 1)
#define SLEEPERS (UINT64_C(1) << PID_BITS)          /* somebody sleeps on the word */
#define START_SHIFT (PID_BITS + 1)
#define START_MASK ((UINT64_C(1) << (64 - START_SHIFT)) - 1)

static _Atomic uint64_t self_id;
static _Atomic bool proc_unreadable;

void weft__shared_forget_self(void) { atomic_store(&self_id, 0); }

/* The state letter and start time from a /proc .../stat file; false if there is no such
 * file (or it cannot be read: then *unknown). */
static bool read_stat(const char *path, char *state, unsigned long long *start, bool *unknown)
{
    *unknown = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *unknown = errno != ENOENT && errno != ESRCH;
        return false;
    }
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        *unknown = n < 0 && errno != ESRCH;
        return false;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');          /* the name may hold spaces and parentheses */
    if (!p) { *unknown = true; return false; }
    p++;
    /* Fields 3 (state) .. 22 (starttime). */
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ') p++;
        if (!*p) { *unknown = true; return false; }
        if (field == 3) *state = *p;
        if (field == 22) *start = strtoull(p, NULL, 10);
        while (*p && *p != ' ') p++;
    }
    return true;
}

uint64_t weft__shared_self(void)
{
    uint64_t id = atomic_load_explicit(&self_id, memory_order_relaxed);
    if (weft__likely(id != 0)) return id;
    weft__shared_fork_hook();
    char state;
    unsigned long long start = 0;
    bool unknown;
    if (!read_stat("/proc/self/stat", &state, &start, &unknown))
        atomic_store(&proc_unreadable, true);      /* then nobody is declared dead */
    id = ((uint64_t)getpid() & PID_MASK) | ((uint64_t)start & START_MASK) << START_SHIFT;
    atomic_store_explicit(&self_id, id, memory_order_relaxed);
    return id;
}

/* Whether the process with identity id still lives (true when it cannot be told). */
static bool owner_alive(uint64_t id)
{
    if (atomic_load(&proc_unreadable)) return true;
    unsigned pid = id & PID_MASK;
    uint64_t start = id >> START_SHIFT;
    char path[64], state = '?';
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    unsigned long long st = 0;
    bool unknown;
    if (!read_stat(path, &state, &st, &unknown)) return unknown;
    if (state == 'Z' || state == 'X' || state == 'x') return false;
    return ((uint64_t)st & START_MASK) == start;
}

static bool try_take(weft__shared_lock_state *l, uint64_t from, uint64_t me)
{
    return atomic_compare_exchange_strong_explicit(&l->owner, &from, me, memory_order_acquire,
                                                   memory_order_relaxed);
}

int weft__shared_lock_take(weft__shared_lock_state *l, int64_t deadline)
{
    uint64_t me = weft__shared_self();
    if (weft__likely(try_take(l, 0, me))) return 0;
    for (int i = 0; i < 64; i++) {            /* held for a moment, usually */
        weft__cpu_relax();
        if (atomic_load_explicit(&l->owner, memory_order_relaxed) == 0 && try_take(l, 0, me))
            return 0;
    }
    /* A release wakes every sleeper and clears the bit, so a taker never needs to set it:
     * whoever still waits is awake, and sets it again before sleeping. */
    int64_t next_check = weft_now() + WEFT__SHARED_SLICE;
    for (;;) {
        uint64_t o = atomic_load_explicit(&l->owner, memory_order_seq_cst);
        if (o == 0) {
            if (try_take(l, 0, me)) return 0;
            continue;
        }
        if (weft_now() >= next_check) {
            next_check = weft_now() + WEFT__SHARED_SLICE;
            /* Keep the sleepers bit of the dead owner's word: the others still sleep on
             * it, and this owner's release must wake them. */
            if (!owner_alive(o)) {
                if (try_take(l, o, me | (o & SLEEPERS))) return -EOWNERDEAD;
                continue;
            }
        }
        if (!(o & SLEEPERS)) {
            if (!try_take(l, o, o | SLEEPERS)) continue;
            o |= SLEEPERS;
        }
        int rc = weft__shared_wait64(&l->owner, o, deadline);
        if (rc == -ETIMEDOUT) {
            /* Before giving up, one more look: free now, or a dead owner (a short or zero
             * timeout would otherwise never learn that it died; a poll with timeout 0
             * costs one read of /proc while the lock is held). */
            uint64_t now_o = atomic_load_explicit(&l->owner, memory_order_seq_cst);
            if (now_o == 0 && try_take(l, 0, me)) return 0;
            if (now_o != 0 && !owner_alive(now_o) && try_take(l, now_o, me | (now_o & SLEEPERS)))
                return -EOWNERDEAD;
        }
        if (rc) return rc;
    }
}

int weft__shared_lock_take_shielded(weft__shared_lock_state *l)
{
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    int rc = weft__shared_lock_take(l, WEFT__NO_DEADLINE);
    weft_scope_leave(&shield);
    return rc;
}

int weft__shared_lock_give(weft__shared_lock_state *l)
{
    uint64_t old = atomic_exchange_explicit(&l->owner, 0, memory_order_seq_cst);
    if (old == 0) return -EPERM;
    /* The exchange was the last touch of the object's memory: a waiter may have unmapped
     * it since; the wake-up is a system call on the address only. */
    weft__perturb(WEFT__PP_SHARED_WAKE);
    if (old & SLEEPERS) weft__shared_wake64(&l->owner);
    return 0;
}

/* ---- the public lock: one mapping holding the state ------------------------------------ */

struct weft_shared_lock {
    weft__shared_lock_state st;
};

#define LOCK_MAP 4096

int weft_shared_lock_create(weft_shared_lock **l)
{
    if (!l) return -EINVAL;
    weft_shared_lock *m = weft__shared_map(LOCK_MAP);
    if (!m) return -ENOMEM;
    *l = m;
    return 0;
}

int weft_shared_lock_acquire(weft_shared_lock *l, int64_t timeout)
{
    if (!l) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (weft__cancel_pending()) return -ECANCELED;
    return weft__shared_lock_take(&l->st, deadline);
}

int weft_shared_lock_release(weft_shared_lock *l)
{
    if (!l) return -EINVAL;
    return weft__shared_lock_give(&l->st);
}

bool weft_shared_lock_locked(weft_shared_lock *l)
{
    return l && atomic_load_explicit(&l->st.owner, memory_order_relaxed) != 0;
}

void weft_shared_lock_destroy(weft_shared_lock *l)
{
    weft__shared_unmap(l, LOCK_MAP);
}

weft__shared_lock_state *weft__shared_lock_state_of(weft_shared_lock *l)
{
    return &l->st;
}
