/* loop/mpsc.h — Dmitry Vyukov's intrusive multi-producer single-consumer queue.
 *
 * Producers (any thread) swap themselves in as the head, then link the old head to
 * themselves: wait-free, one exchange. The consumer (the loop's thread) follows next links
 * from the tail. Between a producer's exchange and its link the queue looks empty to the
 * consumer although it is not: weft__mpsc_pop returns NULL then, and weft__mpsc_empty says
 * false, so a loop about to sleep spins instead (the producer is a few instructions away
 * from finishing). A node may be on the queue at most once.
 */
#ifndef WEFT_LOOP_MPSC_H
#define WEFT_LOOP_MPSC_H

#include "loop/internal.h"

static inline void weft__mpsc_init(weft__mpsc *q)
{
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

/* Any thread. The exchange is seq_cst: it orders the push before the producer's following
 * read of loop->sleeping (the loop's side: store sleeping, then weft__mpsc_empty). */
static inline void weft__mpsc_push(weft__mpsc *q, weft__mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    weft__mpsc_node *prev = atomic_exchange_explicit(&q->head, n, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Consumer only. False if something was pushed, even if it cannot be popped yet. */
static inline bool weft__mpsc_empty(weft__mpsc *q)
{
    return q->tail == &q->stub &&
           atomic_load_explicit(&q->head, memory_order_seq_cst) == &q->stub;
}

/* Consumer only: the oldest node, or NULL (empty, or a producer is mid-push). */
static inline weft__mpsc_node *weft__mpsc_pop(weft__mpsc *q)
{
    weft__mpsc_node *tail = q->tail;
    weft__mpsc_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next) return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire)) return NULL;
    weft__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

#endif /* WEFT_LOOP_MPSC_H */
