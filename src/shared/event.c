/* shared/event.c — an event between processes: one futex word holding the flag (bit 0),
 * a "somebody sleeps" bit (bit 1) and the number of sets (bits 2..31), changed in one atomic
 * step each, so that set touches nothing after its change (a waiter may have seen it,
 * returned and unmapped the event): the wake-up is a system call on the address only. */
#include "shared/internal.h"

struct weft_shared_event {
    _Atomic uint32_t word;
};

enum { FLAG = 1u, SLEEPING = 2u, ONE_SET = 4u };

#define EVENT_MAP 4096

int weft_shared_event_create(weft_shared_event **e)
{
    if (!e) return -EINVAL;
    weft_shared_event *m = weft__shared_map(EVENT_MAP);
    if (!m) return -ENOMEM;
    *e = m;
    return 0;
}

int weft_shared_event_set(weft_shared_event *e)
{
    if (!e) return -EINVAL;
    uint32_t w = atomic_load_explicit(&e->word, memory_order_relaxed);
    do {
        if (w & FLAG) return 0;
    } while (!atomic_compare_exchange_weak_explicit(&e->word, &w,
                                                    ((w | FLAG) & ~SLEEPING) + ONE_SET,
                                                    memory_order_seq_cst, memory_order_relaxed));
    weft__perturb(WEFT__PP_SHARED_WAKE);
    if (w & SLEEPING) weft__shared_wake(&e->word);
    return 0;
}

int weft_shared_event_clear(weft_shared_event *e)
{
    if (!e) return -EINVAL;
    atomic_fetch_and_explicit(&e->word, ~FLAG, memory_order_seq_cst);
    return 0;
}

bool weft_shared_event_is_set(weft_shared_event *e)
{
    return e && (atomic_load_explicit(&e->word, memory_order_acquire) & FLAG);
}

int weft_shared_event_wait(weft_shared_event *e, int64_t timeout)
{
    if (!e) return -EINVAL;
    uint32_t w = atomic_load_explicit(&e->word, memory_order_acquire);
    if (w & FLAG) return 0;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    /* A set since the first look ends the wait even if a clear came before we looked
     * again (Python's wait returns True): the count of sets tells. */
    uint32_t sets = w / ONE_SET;
    for (;;) {
        w = atomic_load_explicit(&e->word, memory_order_seq_cst);
        if ((w & FLAG) || w / ONE_SET != sets) return 0;   /* the outcome wins */
        if (rc) return rc;
        rc = weft__shared_sleep(&e->word, w, SLEEPING, deadline);
    }
}

void weft_shared_event_destroy(weft_shared_event *e)
{
    weft__shared_unmap(e, EVENT_MAP);
}
