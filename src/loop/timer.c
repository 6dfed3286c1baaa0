/* loop/timer.c — deadlines: a binary min-heap of timers per loop.
 *
 * O(log n) add and remove (each timer knows its index), O(1) peek. Loop thread only.
 * A timing wheel would make add O(1), but waits here are mostly short and few per loop;
 * the heap keeps exact deadlines and needs no tick.
 */
#include "loop/internal.h"

#include <stdlib.h>

static void place(weft__loop *l, size_t i, weft__timer *t)
{
    l->heap[i] = t;
    t->index = i;
}

static void sift_up(weft__loop *l, size_t i)
{
    weft__timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->deadline <= t->deadline) break;
        place(l, i, l->heap[parent]);
        i = parent;
    }
    place(l, i, t);
}

static void sift_down(weft__loop *l, size_t i)
{
    weft__timer *t = l->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->nheap) break;
        if (child + 1 < l->nheap && l->heap[child + 1]->deadline < l->heap[child]->deadline)
            child++;
        if (t->deadline <= l->heap[child]->deadline) break;
        place(l, i, l->heap[child]);
        i = child;
    }
    place(l, i, t);
}

void weft__timer_add(weft__loop *l, weft__timer *t)
{
    weft__assert_loop_thread(l);
    if (l->nheap == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        /* Not through weft__malloc: a timer must always be armable (a failed arm would turn
         * a bounded wait into an unbounded one); running out here is fatal. */
        weft__timer **h = realloc(l->heap, cap * sizeof *h);
        if (!h) weft__fatal("out of memory for timers");
        l->heap = h;
        l->heap_cap = cap;
    }
    place(l, l->nheap++, t);
    sift_up(l, t->index);
}

void weft__timer_remove(weft__loop *l, weft__timer *t)
{
    size_t i = t->index;
    t->index = WEFT__TIMER_IDLE;
    weft__timer *last = l->heap[--l->nheap];
    if (i == l->nheap) return;
    place(l, i, last);
    if (i > 0 && l->heap[(i - 1) / 2]->deadline > last->deadline) sift_up(l, i);
    else sift_down(l, i);
}

void weft__timers_run(weft__loop *l, int64_t now)
{
    weft__assert_loop_thread(l);
    while (l->nheap && l->heap[0]->deadline <= now) {
        weft__timer *t = l->heap[0];
        weft__timer_del(l, t);
        t->fire(l, t);
    }
}

int64_t weft__timers_next(const weft__loop *l)
{
    return l->nheap ? l->heap[0]->deadline : WEFT__NO_DEADLINE;
}
