/* queue/store.c — the locked store: unbounded (or very large) FIFO queues, LIFO and
 * priority queues. One growable array under a short internal mutex, used as a ring (FIFO),
 * a stack (LIFO) or a binary min-heap (PRIORITY, by the user's compare). The blocking
 * layer enforces the capacity of bounded LIFO/priority/large FIFO queues here too.
 *
 * Locking: l->m guards everything in weft__locked; user code (compare) runs under it.
 */
#include "queue/internal.h"

#include <stdlib.h>

static weft__locked *locked_of(weft_queue *q) { return &q->store.locked; }

int weft__locked_init(weft__locked *l, weft_queue_kind kind,
                      int (*compare)(const void *, const void *))
{
    (void)kind;
    l->m = (weft__mutex)WEFT__MUTEX_INIT;
    l->closed = false;
    l->first = l->n = 0;
    atomic_init(&l->puts, 0);
    l->size = 16;
    l->compare = compare;
    l->buf = weft__malloc(l->size * sizeof *l->buf);
    return l->buf ? 0 : -ENOMEM;
}

/* Doubles the array, unrolling the FIFO ring to start at 0. With m held. */
static int grow(weft__locked *l)
{
    weft__assert_held(&l->m);
    size_t size = l->size * 2;
    void **buf = weft__malloc(size * sizeof *buf);
    if (!buf) return -ENOMEM;
    for (size_t i = 0; i < l->n; i++) buf[i] = l->buf[(l->first + i) % l->size];
    weft__free(l->buf);
    l->buf = buf;
    l->size = size;
    l->first = 0;
    return 0;
}

static void heap_up(weft__locked *l, size_t i)
{
    void *x = l->buf[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->compare(l->buf[parent], x) <= 0) break;
        l->buf[i] = l->buf[parent];
        i = parent;
    }
    l->buf[i] = x;
}

static void heap_down(weft__locked *l, size_t i)
{
    void *x = l->buf[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n) break;
        if (c + 1 < l->n && l->compare(l->buf[c + 1], l->buf[c]) < 0) c++;
        if (l->compare(x, l->buf[c]) <= 0) break;
        l->buf[i] = l->buf[c];
        i = c;
    }
    l->buf[i] = x;
}

static int locked_try_put(weft_queue *q, void *item)
{
    weft__locked *l = locked_of(q);
    int rc = 0;
    weft__mutex_lock(&l->m);
    if (l->closed) rc = -ESHUTDOWN;
    else if (q->capacity && l->n >= q->capacity) rc = WEFT__QUEUE_FULL;
    else if (l->n == l->size) rc = grow(l);
    if (rc == 0) {
        switch (q->kind) {
        case WEFT_QUEUE_FIFO:
        case WEFT_QUEUE_SPSC:               /* never here: the SPSC kind has its own ring */
            l->buf[(l->first + l->n) % l->size] = item;
            l->n++;
            break;
        case WEFT_QUEUE_LIFO: l->buf[l->n++] = item; break;
        case WEFT_QUEUE_PRIORITY: l->buf[l->n] = item; heap_up(l, l->n++); break;
        }
        atomic_store_explicit(&l->puts, atomic_load_explicit(&l->puts, memory_order_relaxed) + 1,
                              memory_order_seq_cst);
    }
    weft__mutex_unlock(&l->m);
    return rc;
}

static int locked_try_get(weft_queue *q, void **item)
{
    weft__locked *l = locked_of(q);
    weft__mutex_lock(&l->m);
    if (l->n == 0) {
        int rc = l->closed ? -ESHUTDOWN : WEFT__QUEUE_EMPTY;
        weft__mutex_unlock(&l->m);
        return rc;
    }
    switch (q->kind) {
    case WEFT_QUEUE_FIFO:
    case WEFT_QUEUE_SPSC:                   /* never here (spsc.c) */
        *item = l->buf[l->first];
        l->first = (l->first + 1) % l->size;
        l->n--;
        break;
    case WEFT_QUEUE_LIFO:
        *item = l->buf[--l->n];
        break;
    case WEFT_QUEUE_PRIORITY:
        *item = l->buf[0];
        l->buf[0] = l->buf[--l->n];
        if (l->n) heap_down(l, 0);
        break;
    }
    weft__mutex_unlock(&l->m);
    return 0;
}

static void locked_close(weft_queue *q)
{
    weft__locked *l = locked_of(q);
    weft__mutex_lock(&l->m);
    l->closed = true;
    weft__mutex_unlock(&l->m);
}

static size_t locked_size(weft_queue *q)
{
    weft__locked *l = locked_of(q);
    weft__mutex_lock(&l->m);
    size_t n = l->n;
    weft__mutex_unlock(&l->m);
    return n;
}

static uint64_t locked_puts(weft_queue *q)
{
    return atomic_load_explicit(&locked_of(q)->puts, memory_order_seq_cst);
}

static void locked_fini(weft_queue *q)
{
    weft__free(locked_of(q)->buf);
}

const weft__store_ops weft__locked_ops = {
    locked_try_put, locked_try_get, locked_close, locked_size, locked_puts, locked_fini,
};
