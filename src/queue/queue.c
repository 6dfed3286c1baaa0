/* queue/queue.c — the blocking layer: put, get, shutdown, task_done and join.
 *
 * See queue/internal.h for the no-lost-wake-up argument. Every wait follows the waiter
 * protocol: register a node under m (and count it), re-try the store, park. The node is
 * taken off by a waker (who also uncounts it and claims the waiter) or by the waiter
 * itself after a timeout or cancel. A waiter that finds its node taken off without having
 * parked was claimed meanwhile: it parks once to consume that wake-up (a coroutine must
 * never be left with a wake-up on its way).
 *
 * Locking: m guards the three lists and the counts' changes; the store has its own
 * synchronisation (lock-free ring, or its own mutex, never taken while m is held... except
 * by shutdown, which closes the store under m: order m -> store mutex).
 */
#include "queue/internal.h"

int weft_queue_create_ex(weft_queue **out, const weft_queue_opts *opts)
{
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    if (opts) o = *opts;
    if (!out || o.kind > WEFT_QUEUE_SPSC || o.capacity > ((size_t)1 << 40) ||
        (o.kind == WEFT_QUEUE_PRIORITY && !o.compare) ||
        (o.kind == WEFT_QUEUE_SPSC && (o.capacity == 0 || o.capacity > WEFT__RING_MAX)))
        return -EINVAL;
    weft_queue *q = weft__calloc(1, sizeof *q);
    if (!q) return -ENOMEM;
    q->kind = o.kind;
    q->capacity = o.capacity;
    q->m = (weft__mutex)WEFT__MUTEX_INIT;
    weft__list_init(&q->getters);
    weft__list_init(&q->putters);
    weft__list_init(&q->joiners);
    int rc;
    if (o.kind == WEFT_QUEUE_SPSC) {
        q->ops = &weft__spsc_ops;
        rc = weft__spsc_init(&q->store.spsc, o.capacity);
    } else if (o.kind == WEFT_QUEUE_FIFO && o.capacity > 0 && o.capacity <= WEFT__RING_MAX) {
        q->ops = &weft__ring_ops;
        rc = weft__ring_init(&q->store.ring, o.capacity);
    } else {
        q->ops = &weft__locked_ops;
        rc = weft__locked_init(&q->store.locked, o.kind, o.compare);
    }
    if (rc) {
        weft__free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int weft_queue_create(weft_queue **q, size_t capacity)
{
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    o.capacity = capacity;
    return weft_queue_create_ex(q, &o);
}

void weft__queue_wake_one(weft_queue *q, weft__list *list, _Atomic uint32_t *count)
{
    weft__wake wk;
    bool woke = false;
    weft__mutex_lock(&q->m);
    weft__list *p;
    while (!woke && (p = weft__list_pop_front(list)) != NULL) {
        atomic_fetch_sub_explicit(count, 1, memory_order_relaxed);
        woke = weft__waiter_claim(weft__container_of(p, weft__wait_node, link)->waiter,
                                  WEFT__W_WOKEN, &wk);
    }
    weft__mutex_unlock(&q->m);
    if (woke) weft__wake_deliver(&wk);
}

/* With m held: every waiter of list, claimed. */
static void wake_all_locked(weft__list *list, _Atomic uint32_t *count, weft__wakeq *wq)
{
    weft__list *p;
    while ((p = weft__list_pop_front(list)) != NULL) {
        if (count) atomic_fetch_sub_explicit(count, 1, memory_order_relaxed);
        weft__wakeq_claim(wq, weft__container_of(p, weft__wait_node, link)->waiter,
                          WEFT__W_WOKEN);
    }
}

int weft__queue_try_put(weft_queue *q, void *item)
{
    if (q->kind == WEFT_QUEUE_SPSC) return weft__spsc_put(q, item);
    int rc = q->ops->try_put(q, item);
    if (rc == 0 && atomic_load_explicit(&q->ngetters, memory_order_seq_cst))
        weft__queue_wake_one(q, &q->getters, &q->ngetters);
    return rc;
}

int weft__queue_try_get(weft_queue *q, void **item)
{
    if (q->kind == WEFT_QUEUE_SPSC) return weft__spsc_get(q, item);
    int rc = q->ops->try_get(q, item);
    if (rc == 0 && atomic_load_explicit(&q->nputters, memory_order_seq_cst))
        weft__queue_wake_one(q, &q->putters, &q->nputters);
    return rc;
}

typedef int (*attempt_fn)(weft_queue *q, void *arg);

static int attempt_put(weft_queue *q, void *arg) { return weft__queue_try_put(q, arg); }
static int attempt_get(weft_queue *q, void *arg) { return weft__queue_try_get(q, arg); }

/* A thread whose queue is momentarily empty (full) is usually racing another thread that
 * is a few instructions from changing that: it re-tries the store for a short while before
 * it registers. A coroutine does not spin (the other side may be waiting for its loop): it
 * yields once if another coroutine is ready, then re-tries. */
#define STORE_SPIN_NS (2 * WEFT_US)
/* Pauses between re-tries double from 1 to this: each re-try reads the other side's line
 * (an SPSC tail, an MPMC slot) and takes it from the thread writing it, so polling less
 * often lets it write undisturbed (queue-spsc +17 % on the SPSC kind, +10-15 % on the
 * MPMC ring, same run), while 8 pauses (~0.2-0.4 us) bound how late an item is seen, as
 * the futures' result spin does. */
#define SPIN_PAUSE_MAX 8

static int spin_attempt(weft_queue *q, attempt_fn attempt, void *arg)
{
    int rc = -EAGAIN;
    if (weft__coro_current()) {
        /* A coroutine's partner is often on its own loop, one yield away (a ping-pong):
         * letting it run first saves registering, a wake-up and a park on both sides. */
        return weft__yield_if_others() ? attempt(q, arg) : rc;
    }
    int64_t end = 0;
    unsigned pause = 1;
    for (unsigned i = 0; rc == -EAGAIN; i++) {
        for (unsigned k = 0; k < pause; k++) weft__cpu_relax();
        if (pause < SPIN_PAUSE_MAX) pause *= 2;
        if ((i & 15) == 15) {
            int64_t now = weft_now();
            if (!end) end = now + STORE_SPIN_NS;
            else if (now >= end) break;
        }
        rc = attempt(q, arg);
    }
    return rc;
}

/* The slow path of put and get: until the attempt stops saying "would block" (EAGAIN), or
 * the deadline passes, or a cancel: register on list, re-try, park. A waiter woken by a
 * waker re-tries before it registers again (the waker took its node off the list). */
static int wait_for(weft_queue *q, weft__list *list, _Atomic uint32_t *count,
                    attempt_fn attempt, void *arg, int64_t deadline)
{
    int rc = spin_attempt(q, attempt, arg);
    while (rc == -EAGAIN) {
        weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
        weft__waiter *w = &p->w;
        weft__waiter_init(w);
        weft__mutex_lock(&q->m);
        weft__list_push_back(list, &p->node.link);
        atomic_fetch_add_explicit(count, 1, memory_order_seq_cst);
        weft__mutex_unlock(&q->m);
        if (q->kind == WEFT_QUEUE_SPSC) weft__spsc_waiter_fence(q);

        rc = attempt(q, arg);
        int park_rc = rc == -EAGAIN ? weft__waiter_park(w, deadline) : 0;
        if (rc == -EAGAIN && park_rc == 0) {
            rc = attempt(q, arg);          /* woken: the waker unlisted us */
            continue;
        }
        weft__mutex_lock(&q->m);
        if (weft__list_linked(&p->node.link)) {
            weft__list_unlink(&p->node.link);
            atomic_fetch_sub_explicit(count, 1, memory_order_relaxed);
        }
        weft__mutex_unlock(&q->m);
        if (park_rc) return park_rc;       /* timed out or cancelled: nothing was done */
        /* The attempt succeeded while we were listed. Unlisted, the waiter's state is
         * final: claimed meanwhile, it must consume the wake-up on its way. */
        if (atomic_load_explicit(&w->state, memory_order_acquire) & WEFT__W_STATUS)
            weft__waiter_park_raw(w, WEFT__NO_DEADLINE);
    }
    return rc;
}

/* put's and get's way out when the first attempt would block: kept out of line so that
 * their fast path saves no registers and sets up no frame (the waiter and its node live
 * here). Same contexts and blocking as wait_for. */
static __attribute__((noinline)) int wait_slow(weft_queue *q, weft__list *list,
                                               _Atomic uint32_t *count, attempt_fn attempt,
                                               void *arg, int64_t timeout)
{
    if (timeout == 0) return -ETIMEDOUT;
    int64_t deadline;
    if (weft__deadline(timeout, &deadline)) return -EINVAL;   /* callers checked already */
    return wait_for(q, list, count, attempt, arg, deadline);
}

int weft_queue_put(weft_queue *q, void *item, int64_t timeout)
{
    if (!q || timeout < WEFT_FOREVER) return -EINVAL;
    int rc = weft__queue_try_put(q, item);
    if (weft__likely(rc != WEFT__QUEUE_FULL)) return rc;
    return wait_slow(q, &q->putters, &q->nputters, attempt_put, item, timeout);
}

int weft_queue_get(weft_queue *q, void **item, int64_t timeout)
{
    if (!q || !item || timeout < WEFT_FOREVER) return -EINVAL;
    int rc = weft__queue_try_get(q, item);
    if (weft__likely(rc != WEFT__QUEUE_EMPTY)) return rc;
    return wait_slow(q, &q->getters, &q->ngetters, attempt_get, item, timeout);
}

int weft_queue_try_put(weft_queue *q, void *item)
{
    return weft_queue_put(q, item, 0);
}

int weft_queue_try_get(weft_queue *q, void **item)
{
    return weft_queue_get(q, item, 0);
}

/* With m held: wakes the joiners if every item put is done. */
static void wake_joiners_if_done(weft_queue *q, weft__wakeq *wq)
{
    weft__assert_held(&q->m);
    if (atomic_load_explicit(&q->done, memory_order_seq_cst) >= q->ops->puts(q))
        wake_all_locked(&q->joiners, NULL, wq);
}

/* Any context but with m not held; takes m, never blocks otherwise. */
void weft__queue_dropped(weft_queue *q, uint64_t n)
{
    weft__wakeq wq;
    weft__wakeq_init(&wq);
    weft__mutex_lock(&q->m);
    atomic_fetch_add_explicit(&q->done, n, memory_order_seq_cst);
    wake_joiners_if_done(q, &wq);
    weft__mutex_unlock(&q->m);
    weft__wakeq_flush(&wq);
}

int weft_queue_shutdown(weft_queue *q, bool immediate)
{
    if (!q) return -EINVAL;
    weft__wakeq wq;
    weft__wakeq_init(&wq);
    /* SPSC: close and wait out a put in progress, not holding m (spsc.c). */
    if (q->kind == WEFT_QUEUE_SPSC) weft__spsc_seal(q);
    weft__mutex_lock(&q->m);
    q->ops->close(q);
    if (immediate) {
        void *item;
        uint64_t dropped = 0;
        if (q->kind == WEFT_QUEUE_SPSC) dropped = weft__spsc_discard(q);  /* see spsc.c */
        else while (q->ops->try_get(q, &item) == 0) dropped++;
        atomic_fetch_add_explicit(&q->done, dropped, memory_order_seq_cst);
        wake_joiners_if_done(q, &wq);
    }
    /* Putters fail from now on; getters drain, then fail: all of them re-try. */
    wake_all_locked(&q->putters, &q->nputters, &wq);
    wake_all_locked(&q->getters, &q->ngetters, &wq);
    weft__mutex_unlock(&q->m);
    weft__wakeq_flush(&wq);
    return 0;
}

size_t weft_queue_qsize(weft_queue *q)
{
    return q ? q->ops->size(q) : 0;
}

bool weft_queue_empty(weft_queue *q)
{
    return weft_queue_qsize(q) == 0;
}

bool weft_queue_full(weft_queue *q)
{
    return q && q->capacity && weft_queue_qsize(q) >= q->capacity;
}

int weft_queue_task_done(weft_queue *q)
{
    if (!q) return -EINVAL;
    uint64_t done = atomic_fetch_add_explicit(&q->done, 1, memory_order_seq_cst) + 1;
    uint64_t puts = q->ops->puts(q);
    if (done > puts) {
        atomic_fetch_sub_explicit(&q->done, 1, memory_order_relaxed);
        return -EOVERFLOW;
    }
    if (done == puts) {
        weft__wakeq wq;
        weft__wakeq_init(&wq);
        weft__mutex_lock(&q->m);
        wake_joiners_if_done(q, &wq);
        weft__mutex_unlock(&q->m);
        weft__wakeq_flush(&wq);
    }
    return 0;
}

int weft_queue_join(weft_queue *q, int64_t timeout)
{
    if (!q) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    for (;;) {
        if (atomic_load_explicit(&q->done, memory_order_seq_cst) >= q->ops->puts(q)) return 0;
        if (timeout == 0) return -ETIMEDOUT;
        weft__park local, *p = weft__park_get(&local);   /* a compact coroutine's own */
        weft__waiter_init(&p->w);
        weft__mutex_lock(&q->m);
        if (atomic_load_explicit(&q->done, memory_order_seq_cst) >= q->ops->puts(q)) {
            weft__mutex_unlock(&q->m);
            return 0;
        }
        weft__list_push_back(&q->joiners, &p->node.link);
        weft__mutex_unlock(&q->m);
        rc = weft__waiter_park(&p->w, deadline);
        if (rc) {
            weft__mutex_lock(&q->m);
            weft__wait_node_forget(&p->node);
            weft__mutex_unlock(&q->m);
            return rc;
        }
    }
}

void weft_queue_destroy(weft_queue *q)
{
    if (!q) return;
    weft__mutex_lock(&q->m);
    const char *what = "weft_queue_destroy";
    if (!weft__list_empty(&q->getters)) weft__destroy_busy(what, &q->getters);
    if (!weft__list_empty(&q->putters)) weft__destroy_busy(what, &q->putters);
    if (!weft__list_empty(&q->joiners)) weft__destroy_busy(what, &q->joiners);
    weft__mutex_unlock(&q->m);
    q->ops->fini(q);
    weft__free(q);
}
