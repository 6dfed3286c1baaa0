/* shared/wait.c — waiting on a futex word of a shared mapping, from any context.
 *
 * A thread (or a loop's own context with no coroutine to run) sleeps on the futex itself
 * (shared: no FUTEX_PRIVATE_FLAG, since the word is seen by other processes).
 *
 * A coroutine must not block its loop, and a futex cannot be polled. So one thread of the
 * process, "weft-shared", waits for all of them at once with futex_waitv: a table of up to
 * SLOTS (word, value seen, future) entries plus its own control word. A coroutine fills a
 * slot, bumps the control word (the thread rebuilds its vector), and waits on the slot's
 * future with its deadline and cancellation like any other future wait. The thread, woken
 * by any of the words, completes the future of every slot whose word no longer holds the
 * value seen (futex_waitv reports one word, but a wake on another may have come at the same
 * time: the values tell). A slot is emptied under `mu` by whoever finishes with it first
 * (the thread that completes it, or the coroutine that timed out or was cancelled).
 *
 * Where futex_waitv is missing (ENOSYS: kernels before 5.16, Valgrind, qemu-user), or the
 * table is full, a coroutine looks again every millisecond instead.
 *
 * Fork: the thread does not exist in a child, and the slots belong to the parent's
 * coroutines: the child starts with an empty table and no thread (made again on use).
 */
#include "shared/internal.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449       /* the same number on every architecture */
#endif

enum { SLOTS = 120 };             /* futex_waitv takes 128 words at most */

typedef struct slot {
    _Atomic uint32_t *word;       /* NULL: free; the kernel's view of the word */
    uint32_t seen;
    _Atomic uint64_t *word64;     /* non-NULL: a 64-bit word (word is its low half), whose
                                     change the thread looks for with 64-bit loads */
    uint64_t seen64;
    weft_future *fut;
} slot;

static struct {
    weft__mutex mu;
    slot slots[SLOTS];
    unsigned used;
    _Atomic uint32_t control;     /* bumped when the table changes */
    bool started;                 /* the thread runs (or failed to start: no_waitv) */
    _Atomic bool no_waitv;        /* futex_waitv is missing: coroutines poll */
} W = { .mu = WEFT__MUTEX_INIT };

static void fork_prepare(void) { weft__mutex_lock(&W.mu); }
static void fork_parent(void) { weft__mutex_unlock(&W.mu); }

static void fork_child(void)
{
    for (unsigned i = 0; i < SLOTS; i++) W.slots[i].word = NULL;  /* parent's coroutines */
    W.used = 0;
    W.started = false;
    weft__mutex_unlock(&W.mu);
    weft__shared_forget_self();       /* the child's thread has another id */
}

void weft__shared_fork_hook(void)
{
    static _Atomic bool hooked;
    if (!atomic_load_explicit(&hooked, memory_order_acquire) && !atomic_exchange(&hooked, true))
        weft__fork_hook(WEFT__FORK_SHARED, fork_prepare, fork_parent, fork_child);
}

void weft__shared_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* The thread's loop. Only it reads the words of the table's slots, and only under mu: a
 * slot's word stays mapped while the slot is filled (its coroutine is still waiting). */
static int waiter_main(void *arg, void **result)
{
    (void)arg; (void)result;
    struct futex_waitv vec[SLOTS + 1];
    for (;;) {
        weft__mutex_lock(&W.mu);
        unsigned n = 0;
        vec[n++] = (struct futex_waitv){
            .val = atomic_load_explicit(&W.control, memory_order_seq_cst),
            .uaddr = (uintptr_t)&W.control,
            .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG };
        for (unsigned i = 0; i < SLOTS; i++) {
            slot *s = &W.slots[i];
            if (!s->word) continue;
            vec[n++] = (struct futex_waitv){ .val = s->seen, .uaddr = (uintptr_t)s->word,
                                             .flags = FUTEX_32 };
        }
        weft__mutex_unlock(&W.mu);
        long r = syscall(SYS_futex_waitv, vec, n, 0, NULL, CLOCK_MONOTONIC);
        bool gone = r < 0 && errno == ENOSYS;
        if (gone) atomic_store(&W.no_waitv, true);
        weft__mutex_lock(&W.mu);
        for (unsigned i = 0; i < SLOTS; i++) {
            slot *s = &W.slots[i];
            if (!s->word) continue;
            bool same = s->word64
                ? atomic_load_explicit(s->word64, memory_order_seq_cst) == s->seen64
                : atomic_load_explicit(s->word, memory_order_seq_cst) == s->seen;
            if (!gone && same) continue;
            weft_future_set_result(s->fut, NULL);
            weft_future_release(s->fut);
            s->word = NULL;
            W.used--;
        }
        if (gone) W.started = false;
        weft__mutex_unlock(&W.mu);
        if (gone) return 0;
    }
}

/* Under mu: starts the thread if it is not running. False if it cannot run. */
static bool ensure_thread(void)
{
    if (W.started) return true;
    if (atomic_load(&W.no_waitv)) return false;
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.name = "weft-shared";
    o.daemon = true;
    weft_thread *t;
    if (weft__thread_start_quiet(&t, &o, waiter_main, NULL) != 0) return false;
    weft_thread_release(t);
    W.started = true;
    return true;
}

/* Empties s if it is still filled (the thread may have completed it first). */
static void leave_slot(slot *s, weft_future *f)
{
    weft__mutex_lock(&W.mu);
    if (s->word && s->fut == f) {
        s->word = NULL;
        W.used--;
        weft_future_release(f);                   /* the table's reference */
        atomic_fetch_add_explicit(&W.control, 1, memory_order_seq_cst);
        weft__futex_wake(&W.control, 1);
    }
    weft__mutex_unlock(&W.mu);
}

/* A coroutine's wait through the thread; polls every millisecond if the thread cannot. */
static int coro_wait(_Atomic uint32_t *word, uint32_t seen, _Atomic uint64_t *word64,
                     uint64_t seen64, int64_t deadline)
{
    weft_future *f;
    if (weft_future_create(&f) != 0) return weft_sleep(WEFT_MS);
    slot *s = NULL;
    weft__shared_fork_hook();
    weft__mutex_lock(&W.mu);
    if (W.used < SLOTS && ensure_thread()) {
        for (unsigned i = 0; i < SLOTS; i++)
            if (!W.slots[i].word) { s = &W.slots[i]; break; }
        s->word = word;
        s->seen = seen;
        s->word64 = word64;
        s->seen64 = seen64;
        s->fut = f;
        weft_future_retain(f);                    /* the table's reference */
        W.used++;
        atomic_fetch_add_explicit(&W.control, 1, memory_order_seq_cst);
        weft__futex_wake(&W.control, 1);
    }
    weft__mutex_unlock(&W.mu);
    int rc;
    if (!s) {
        rc = weft_sleep(WEFT_MS);                 /* no thread: look again soon */
    } else {
        rc = weft__future_wait(f, deadline, false);
        leave_slot(s, f);
    }
    weft_future_release(f);
    return rc;
}

/* The wait of both entry points: word is what the kernel compares (32 bits), word64 (if
 * not NULL) the whole word whose change the waiting thread looks for. */
static int wait_word(_Atomic uint32_t *word, uint32_t seen, _Atomic uint64_t *word64,
                     uint64_t seen64, int64_t deadline)
{
    if (weft__cancel_pending()) return -ECANCELED;
    int64_t now = weft_now();
    if (deadline != WEFT__NO_DEADLINE && deadline <= now) return -ETIMEDOUT;
    int64_t slice = now + WEFT__SHARED_SLICE;
    int64_t until = deadline < slice ? deadline : slice;
    weft__loop *l = weft__tls_self.loop;
    if (l && (l->current != &l->main || l->nlive > 0)) {
        int rc = coro_wait(word, seen, word64, seen64, until);
        if (rc == -ETIMEDOUT && until != deadline) rc = 0;
        return rc;
    }
    struct timespec ts = weft__timespec(until);
    syscall(SYS_futex, (void *)word, FUTEX_WAIT_BITSET, seen, &ts, NULL,
            FUTEX_BITSET_MATCH_ANY);
    if (deadline != WEFT__NO_DEADLINE && weft_now() >= deadline) return -ETIMEDOUT;
    return 0;
}

int weft__shared_wait(_Atomic uint32_t *word, uint32_t seen, int64_t deadline)
{
    return wait_word(word, seen, NULL, 0, deadline);
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the low half comes first");

int weft__shared_wait64(_Atomic uint64_t *word, uint64_t seen, int64_t deadline)
{
    /* The kernel's futexes are 32 bits: it compares the low half (little-endian: the first
     * four bytes), which must change whenever the word does in a way waiters care about. */
    return wait_word((_Atomic uint32_t *)(void *)word, (uint32_t)seen, word, seen, deadline);
}

void weft__shared_wake64(_Atomic uint64_t *word)
{
    weft__shared_wake((_Atomic uint32_t *)(void *)word);
}
