/* shared/lock.c — the robust lock between processes.
 *
 * owner holds 0 (free) or the owning process's identity, installed by one compare-and-swap:
 * the process id (22 bits: pid_max is at most 2^22) and the low 42 bits of the process's
 * start time (in clock ticks since boot, /proc's starttime). Ownership belongs to the
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
#define START_MASK ((UINT64_C(1) << (64 - PID_BITS)) - 1)

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
    id = ((uint64_t)getpid() & PID_MASK) | ((uint64_t)start & START_MASK) << PID_BITS;
    atomic_store_explicit(&self_id, id, memory_order_relaxed);
    return id;
}

/* Whether the process with identity id still lives (true when it cannot be told). */
static bool owner_alive(uint64_t id)
{
    if (atomic_load(&proc_unreadable)) return true;
    unsigned pid = id & PID_MASK;
    uint64_t start = id >> PID_BITS;
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
    int64_t next_check = weft_now() + WEFT__SHARED_SLICE;
    for (;;) {
        atomic_fetch_add_explicit(&l->sync.waiters, 1, memory_order_seq_cst);
        uint32_t seen = atomic_load_explicit(&l->sync.seq, memory_order_seq_cst);
        uint64_t o = atomic_load_explicit(&l->owner, memory_order_seq_cst);
        int rc = 0;
        bool dead = false;
        if (o != 0 && weft_now() >= next_check) {
            dead = !owner_alive(o);
            next_check = weft_now() + WEFT__SHARED_SLICE;
        }
        if (o != 0 && !dead) rc = weft__shared_wait(&l->sync.seq, seen, deadline);
        atomic_fetch_sub_explicit(&l->sync.waiters, 1, memory_order_relaxed);
        if (o == 0 && try_take(l, 0, me)) return 0;
        /* Before giving up on a timeout, one look at the owner: a short or zero timeout
         * would otherwise never learn that it died (a poll with timeout 0 costs one read
         * of /proc while the lock is held). */
        if (rc == -ETIMEDOUT && o != 0 && !dead &&
            atomic_load_explicit(&l->owner, memory_order_relaxed) == o)
            dead = !owner_alive(o);
        if (dead && try_take(l, o, me)) return -EOWNERDEAD;
        if (rc) return rc;
    }
}

int weft__shared_lock_give(weft__shared_lock_state *l)
{
    if (atomic_exchange_explicit(&l->owner, 0, memory_order_release) == 0) return -EPERM;
    weft__shared_changed(&l->sync);
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
