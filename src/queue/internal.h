/* queue/internal.h — queues: storage backends and the blocking layer on top of them.
 *
 * A queue is storage (a "store": try_put / try_get that never wait) plus the waiting: lists
 * of parked getters, putters and joiners under one mutex m, and counts of registered
 * getters and putters that the fast paths read to decide whether to wake anyone.
 *
 * No lost wake-up: a getter registers (count++, seq_cst) and only then re-tries the store
 * before parking; a putter changes the store (a seq_cst RMW: the ring's tail CAS, or the
 * store's mutex) and only then reads the count (seq_cst). One of the two sees the other.
 * Wake-ups are "retry": a woken getter tries the store again (another may have been
 * faster; then it waits again). Each success that may unblock the other side wakes one
 * waiter there, so no item or slot is left with a sleeper who could use it.
 * The SPSC ring (spsc.c) has no RMW on its fast path: there the waiter runs a membarrier
 * after registering, and the fast side a compiler barrier; spsc.c gives the argument.
 */
#ifndef WEFT_QUEUE_INTERNAL_H
#define WEFT_QUEUE_INTERNAL_H

#include "sync/internal.h"

#include <weft/queue.h>

/* Store results besides 0 and -ESHUTDOWN. */
#define WEFT__QUEUE_EMPTY (-EAGAIN)
#define WEFT__QUEUE_FULL  (-EAGAIN)

typedef struct weft__store_ops {
    int (*try_put)(weft_queue *q, void *item);     /* 0, FULL, -ESHUTDOWN, -ENOMEM */
    int (*try_get)(weft_queue *q, void **item);    /* 0, EMPTY, -ESHUTDOWN (shut and empty) */
    void (*close)(weft_queue *q);                  /* puts fail from now on */
    size_t (*size)(weft_queue *q);
    uint64_t (*puts)(weft_queue *q);               /* items ever put (task_done/join) */
    void (*fini)(weft_queue *q);
} weft__store_ops;

/* The lock-free ring (ring.c): Vyukov-style slots with stamps, positions that carry a lap,
 * exact capacity, and a mark bit in the tail that closes it (after crossbeam's array
 * channel). */
typedef struct weft__ring_slot {
    _Atomic uint64_t stamp;
    void *item;
} weft__ring_slot;

typedef struct weft__ring {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) uint64_t cap, mark_bit, one_lap;
    weft__ring_slot *slots;
} weft__ring;

/* The single-producer single-consumer ring (spsc.c, WEFT_QUEUE_SPSC): a Lamport ring whose
 * two positions count items ever put (tail) and taken (head), each on its own line with the
 * owning side's cached copy of the other one, so that a put or get usually touches no line
 * the other side writes. Plain loads and release stores only: the putter and the getter are
 * single threads, bound at first use (putter, getter: the thread's token, see spsc.c). */
typedef struct weft__spsc {
    /* Read-mostly: written at creation, at binding (once per side) and at shutdown. */
    _Alignas(64) void **slots;
    uint64_t cap, mask;                 /* cap exact; mask + 1 = slots, a power of two */
    _Atomic(const void *) putter, getter;   /* bound thread tokens; NULL until first use */
    _Atomic uint32_t state;             /* WEFT__SPSC_CLOSED | _SEALED | _DISCARD */
    bool asym;                          /* membarrier registered: the fast side need not
                                           fence (spsc.c's ordering argument) */
    /* The putter's published line: tail, which a getter that has caught up reads in a
     * loop. Nothing else the putter writes per put lives here: each store to a line the
     * getter keeps reading costs a transfer (in_put beside tail halved the throughput). */
    _Alignas(64) _Atomic uint64_t tail;
    /* The putter's private line: its copy of head, and in_put (1 while the putter is inside
     * an attempt; only a shutdown reads it, and waits for 0, see spsc.c). */
    _Alignas(64) uint64_t head_cache;
    _Atomic uint32_t in_put;
    /* The getter's line. */
    _Alignas(64) _Atomic uint64_t head;
    uint64_t tail_cache;
} weft__spsc;

#define WEFT__SPSC_CLOSED  1u           /* puts fail */
#define WEFT__SPSC_DISCARD 2u           /* immediate shutdown: the getter drops what is left */
#define WEFT__SPSC_SEALED  4u           /* closed and no put in progress: tail is final */

/* The locked store (store.c): a growable array used as a FIFO ring, a stack or a heap. */
typedef struct weft__locked {
    weft__mutex m;
    bool closed;                        /* m */
    void **buf;                         /* m */
    size_t first, n, size;              /* m: FIFO starts at first; stack/heap at 0 */
    _Atomic uint64_t puts;              /* items ever put; written under m */
    int (*compare)(const void *, const void *);
} weft__locked;

struct weft_queue {
    const weft__store_ops *ops;
    weft_queue_kind kind;
    size_t capacity;                    /* 0: unbounded */
    _Atomic uint32_t ngetters, nputters;/* registered waiters (seq_cst; changed under m) */
    _Atomic uint64_t done;              /* task_done calls + items an immediate shutdown
                                           discarded; unfinished = ops->puts(q) - done */
    weft__mutex m;
    weft__list getters, putters, joiners;  /* m: weft__wait_node */
    union {
        weft__ring ring;
        weft__locked locked;
        weft__spsc spsc;
    } store;
};

extern const weft__store_ops weft__ring_ops;
extern const weft__store_ops weft__locked_ops;
int weft__ring_init(weft__ring *r, size_t cap);
int weft__locked_init(weft__locked *l, weft_queue_kind kind,
                      int (*compare)(const void *, const void *));

extern const weft__store_ops weft__spsc_ops;
int weft__spsc_init(weft__spsc *s, size_t cap);

/* The SPSC kind's halves of the blocking layer (spsc.c): one attempt at the ring plus the
 * wake-up a success owes the other side, with the binding check (-EPERM from a thread that
 * is not the bound putter / getter). Contexts: the bound thread (any coroutine on it). */
int weft__spsc_put(weft_queue *q, void *item);
int weft__spsc_get(weft_queue *q, void **item);
/* The waiter's half of the asymmetric fence: called by a getter or putter of an SPSC queue
 * after it registered (count++) and before it re-tries the ring. May make a system call. */
void weft__spsc_waiter_fence(weft_queue *q);
/* weft_queue_shutdown, before it takes m: closes the ring (puts fail), waits until no put
 * is in progress (a put never waits inside an attempt), then seals it (tail is final; a
 * getter may now conclude "shut down and empty"). Any thread but not from inside a put. */
void weft__spsc_seal(weft_queue *q);
/* weft_queue_shutdown(immediate), with m held, after weft__spsc_seal: marks the ring for discarding and, if the
 * caller is the bound getter (or no getter ever bound), drops what is left now. Returns the
 * items dropped. */
uint64_t weft__spsc_discard(weft_queue *q);
/* queue.c: n items were dropped by an immediate shutdown: count them done and wake the
 * joiners if every item put is done now. Takes m (never call with m held). */
void weft__queue_dropped(weft_queue *q, uint64_t n);

/* Rings serve bounded FIFO queues up to this capacity. */
#define WEFT__RING_MAX ((size_t)1 << 20)

/* The blocking layer's halves of an operation that did not wait (queue.c), for select:
 * one attempt at the store plus the wake-up that a success owes the other side. */
int weft__queue_try_put(weft_queue *q, void *item);
int weft__queue_try_get(weft_queue *q, void **item);

/* Wakes one waiter of list (counted by count), if any can be claimed. */
void weft__queue_wake_one(weft_queue *q, weft__list *list, _Atomic uint32_t *count);

#endif /* WEFT_QUEUE_INTERNAL_H */
