/* weft/queue.h — one queue for threads and coroutines alike, and select over queues.
 *
 * Part of <weft.h>; include that instead of this file.
 *
 * A weft_queue is Python's queue.Queue, asyncio.Queue and janus in one: a thread or a
 * coroutine on any loop may put and get, and a wait suspends only the calling coroutine
 * (or blocks the calling thread, running its loop meanwhile). Items are pointers (NULL is a
 * valid item). Nothing is ever lost or half-done: a get that times out or is cancelled takes
 * no item, a put that times out or is cancelled leaves none behind.
 *
 * A bounded FIFO queue (capacity up to 2^20) is a lock-free ring: a put or get that need
 * not wait is one compare-and-swap (plus one load to see whether anybody waits), with no
 * lock and no system call. Larger, unbounded, LIFO and priority queues keep their items
 * under a short internal lock. An SPSC queue (WEFT_QUEUE_SPSC, one putting and one getting
 * thread) needs no compare-and-swap at all.
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_queue weft_queue;

/* A FIFO queue holding at most capacity items (0: unbounded). Errors: -EINVAL (q NULL,
 * capacity above 2^40), -ENOMEM. Any context. */
WEFT_API int weft_queue_create(weft_queue **q, size_t capacity);

/* The order in which a queue's items come out (weft_queue_opts.kind). */
typedef enum weft_queue_kind {
    WEFT_QUEUE_FIFO,                  /* queue.Queue */
    WEFT_QUEUE_LIFO,                  /* queue.LifoQueue */
    WEFT_QUEUE_PRIORITY,              /* queue.PriorityQueue: smallest first */
    WEFT_QUEUE_SPSC,                  /* FIFO, one putting and one getting thread (below) */
} weft_queue_kind;

/* WEFT_QUEUE_SPSC: a bounded FIFO queue (capacity 1 to 2^20, exact; required) for exactly
 * one putting thread and one getting thread, which may be the same thread. A put or get
 * that need not wait is a few plain loads and one release store: no locked instruction, no
 * system call. The first put (try_put, select case) binds the putting side to the calling
 * thread for the queue's life, whether or not it succeeds, and the first get the getting
 * side; afterwards a put (get) from any other thread fails with -EPERM and changes nothing
 * (so does a select case: it is ready at once, with rc -EPERM) — also after the bound
 * thread has exited. A select binds the side of every SPSC case it tries, not only of the
 * case that fires: it tries cases in a random order until one completes, so which others
 * it bound is left to chance; a thread that must not bind a side must not list it. Any
 * number of coroutines on the bound thread may put (get): items come out in the order
 * their puts completed. Everything else works as for FIFO: timeouts, cancellation, waiting
 * from threads and coroutines, select, shutdown, task_done / join, qsize, from any thread
 * where the function allows it. Differences: weft_queue_shutdown waits for a put in
 * progress on the ring (a few instructions; a put never waits there) so that a put racing
 * with it either fails with -ESHUTDOWN or lands before any get can fail with -ESHUTDOWN
 * (the getter gets its item); while that shutdown waits, a get on the empty queue waits
 * (or times out) rather than failing with -ESHUTDOWN; an immediate shutdown called from a
 * thread other than the bound getter only marks the items left, which the getter's next
 * get drops (that get fails with -ESHUTDOWN; until then they count in qsize and join waits
 * for them); an immediate shutdown before any get binds the getting side to nobody (later
 * gets: -ESHUTDOWN). Waiting costs more than on a FIFO queue (a membarrier system call on
 * the waiting side, which spares the other side a fence on every operation): a hand-off
 * queue that is nearly always empty or full (capacity 1 or 2) is faster as FIFO. */

/* Options for weft_queue_create_ex; initialise with WEFT_QUEUE_OPTS_INIT; more fields may
 * be added at the end. */
typedef struct weft_queue_opts {
    weft_queue_kind kind;             /* the order items come out in (default FIFO) */
    size_t capacity;                  /* 0: unbounded */
    /* PRIORITY (required): < 0 when a must come out before b, > 0 after, 0 either way
     * (equal items come out in no particular order). Called under the queue's lock: it
     * must be quick and must not call weft. */
    int (*compare)(const void *a, const void *b);
} weft_queue_opts;
#define WEFT_QUEUE_OPTS_INIT { WEFT_QUEUE_FIFO, 0, NULL }

/* opts NULL: WEFT_QUEUE_OPTS_INIT (an unbounded FIFO queue). Errors: -EINVAL (q NULL, bad
 * kind, PRIORITY without compare, capacity above 2^40, SPSC with capacity 0 or above
 * 2^20), -ENOMEM. */
WEFT_API int weft_queue_create_ex(weft_queue **q, const weft_queue_opts *opts);

/* Puts item, waiting up to timeout while the queue is full. 0; -ETIMEDOUT (0 waits not at
 * all); -ECANCELED; -ESHUTDOWN (shut down, before or during the wait); -ENOMEM (an
 * unbounded queue could not grow); -EPERM (SPSC: not the bound putting thread); -EINVAL. */
WEFT_API int weft_queue_put(weft_queue *q, void *item, int64_t timeout);

/* Takes the next item into *item, waiting up to timeout while the queue is empty. 0;
 * -ETIMEDOUT; -ECANCELED; -ESHUTDOWN once the queue is shut down and empty (at once after
 * an immediate shutdown); -EPERM (SPSC: not the bound getting thread); -EINVAL. */
WEFT_API int weft_queue_get(weft_queue *q, void **item, int64_t timeout);

/* put / get with timeout 0. */
WEFT_API int weft_queue_try_put(weft_queue *q, void *item);
WEFT_API int weft_queue_try_get(weft_queue *q, void **item);

/* Python 3.13's Queue.shutdown: from now on puts fail with -ESHUTDOWN; gets take what is
 * left and then fail with -ESHUTDOWN; blocked putters (and, once it is empty, getters)
 * wake with -ESHUTDOWN. immediate: the items left are discarded (each counts as task_done)
 * and every blocked getter and putter wakes at once; joiners wake once the items taken
 * before are marked done too (task_done), as in Python. Shutting down again is
 * harmless (and may make a graceful shutdown immediate). 0, or -EINVAL. Never blocks,
 * except that on an SPSC queue it waits for a put in progress on another thread to end
 * its attempt at the ring (which never waits: only preemption makes this last; after a
 * fork that happened while another thread was mid-put, a shutdown of that queue in the
 * child never returns). Not from a signal handler. */
WEFT_API int weft_queue_shutdown(weft_queue *q, bool immediate);

/* Items in the queue now (a snapshot), whether it is empty, whether it is full. */
WEFT_API size_t weft_queue_qsize(weft_queue *q);
WEFT_API bool weft_queue_empty(weft_queue *q);
WEFT_API bool weft_queue_full(weft_queue *q);

/* One item taken from the queue has been processed (Queue.task_done). 0, -EOVERFLOW (more
 * calls than items ever put), -EINVAL. Never blocks. */
WEFT_API int weft_queue_task_done(weft_queue *q);

/* Waits until every item put has been marked done (Queue.join). 0, -ETIMEDOUT, -ECANCELED,
 * -EINVAL. */
WEFT_API int weft_queue_join(weft_queue *q, int64_t timeout);

/* Destroys the queue. Items still in it are dropped (they are the caller's pointers).
 * Destroying a queue that somebody waits on is reported on stderr and aborts (the waiters
 * would be left on freed memory). NULL is ignored. */
WEFT_API void weft_queue_destroy(weft_queue *q);

/* ---------------------------------------------------------------- select ------------- */

/* What a select case does: take an item from its queue, or put one in. */
typedef enum weft_select_op { WEFT_SELECT_GET, WEFT_SELECT_PUT } weft_select_op;

/* One case of weft_select: a get from, or a put into, one queue. */
typedef struct weft_select_case {
    weft_queue *queue;                /* NULL: this case is never ready (Go's nil channel) */
    weft_select_op op;                /* get or put */
    void *item;                       /* PUT: the item to put; GET: receives the item */
    int rc;                           /* out, for the case that fired: 0, -ESHUTDOWN, or
                                         -EPERM (SPSC queue bound to another thread) */
} weft_select_case;

/* Go's select / libdill's choose: waits until one of the n cases can complete, completes
 * exactly that one, and returns its index; its rc says how (0, or -ESHUTDOWN: a shut-down
 * queue is always "ready", as a closed channel is — but an empty SPSC queue's get case
 * only once its shutdown has waited out a racing put, see weft_queue_shutdown; or -EPERM: an SPSC queue bound to
 * another thread, also "ready" at once). Among cases ready at the same time the
 * choice is random, so none starves. Errors: -ETIMEDOUT (0: only look), -ECANCELED,
 * -EINVAL (cases NULL, n 0 or above 1024, a bad op, a negative timeout other than
 * WEFT_FOREVER; nothing is completed then). Works from threads and coroutines;
 * the queues may be shared with any number of other getters, putters and selects. */
WEFT_API int weft_select(weft_select_case *cases, size_t n, int64_t timeout);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_QUEUE_H */
