/* shared/sem.c — a counting semaphore between processes: one futex word holding the
 * count (bits 0..30) and a "somebody sleeps" bit (bit 31), changed in one atomic step each,
 * so that release touches nothing after its change (a waiter may have taken the token,
 * returned and unmapped the semaphore): the wake-up is a system call on the address only.
 * A release clears the bit and wakes everybody; who still must wait sets it again. */
#include "shared/internal.h"

struct weft_shared_sem {
    _Atomic uint32_t word;
};

#define SLEEPING 0x80000000u
#define COUNT 0x7fffffffu
#define SEM_MAP 4096

int weft_shared_sem_create(weft_shared_sem **s, unsigned value)
{
    if (!s || value > INT32_MAX) return -EINVAL;
    weft_shared_sem *m = weft__shared_map(SEM_MAP);
    if (!m) return -ENOMEM;
    atomic_store(&m->word, value);
    *s = m;
    return 0;
}

int weft_shared_sem_acquire(weft_shared_sem *s, int64_t timeout)
{
    if (!s) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if (weft__cancel_pending()) return -ECANCELED;
    for (;;) {
        uint32_t w = atomic_load_explicit(&s->word, memory_order_seq_cst);
        if (w & COUNT) {
            if (atomic_compare_exchange_weak_explicit(&s->word, &w, w - 1,
                                                      memory_order_acquire,
                                                      memory_order_relaxed))
                return 0;
            continue;
        }
        if (rc) return rc;             /* a cancelled or timed-out wait takes nothing */
        rc = weft__shared_sleep(&s->word, w, SLEEPING, deadline);
    }
}

int weft_shared_sem_release(weft_shared_sem *s)
{
    if (!s) return -EINVAL;
    uint32_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    do {
        if ((w & COUNT) == COUNT) return -EOVERFLOW;
    } while (!atomic_compare_exchange_weak_explicit(&s->word, &w, (w & COUNT) + 1,
                                                    memory_order_seq_cst,
                                                    memory_order_relaxed));
    weft__perturb(WEFT__PP_SHARED_WAKE);
    if (w & SLEEPING) weft__shared_wake(&s->word);
    return 0;
}

unsigned weft_shared_sem_value(weft_shared_sem *s)
{
    return s ? atomic_load_explicit(&s->word, memory_order_relaxed) & COUNT : 0;
}

void weft_shared_sem_destroy(weft_shared_sem *s)
{
    weft__shared_unmap(s, SEM_MAP);
}
