/* core/futex.c — the futex wait and the internal mutex's slow path. */
#include "core/internal.h"

int weft__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != WEFT__NO_DEADLINE) {
        if (deadline <= weft_now()) return -ETIMEDOUT;
        ts = weft__timespec(deadline);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time: no drift across retries. */
    long r = syscall(SYS_futex, (void *)word, FUTEX_WAIT_BITSET_PRIVATE, expected, tsp,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT) return -ETIMEDOUT;
    return 0;
}

#if WEFT_DEBUG
_Thread_local weft__mutexes_owned weft__mutexes_self __attribute__((tls_model("initial-exec")));

void weft__mutex_note(weft__mutex *m)
{
    weft__mutexes_owned *o = weft__mutexes_get();
    if (o->n == WEFT__MUTEX_DEPTH)
        weft__fatal("more than %d internal mutexes held at once", WEFT__MUTEX_DEPTH);
    o->held[o->n++] = m;
}

void weft__mutex_forget(weft__mutex *m)
{
    weft__mutexes_owned *o = weft__mutexes_get();
    for (unsigned i = o->n; i-- > 0;) {
        if (o->held[i] != m) continue;
        for (; i + 1 < o->n; i++) o->held[i] = o->held[i + 1];
        o->n--;
        return;
    }
    weft__fatal("an internal mutex unlocked by a thread that does not hold it");
}
#endif

/* Drepper's "mutex 3": 0 free, 1 locked, 2 locked and someone may sleep. Spin first: the
 * critical sections it protects are a few dozen instructions. */
void weft__mutex_lock_slow(weft__mutex *m)
{
    for (int i = 0; i < 100; i++) {
        uint32_t expected = 0;
        if (atomic_load_explicit(&m->word, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&m->word, &expected, 1,
                                                  memory_order_acquire, memory_order_relaxed))
            return;
        weft__cpu_relax();
    }
    while (atomic_exchange_explicit(&m->word, 2, memory_order_acquire) != 0)
        weft__futex_wait(&m->word, 2, WEFT__NO_DEADLINE);
}
