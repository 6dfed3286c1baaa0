/* coroutines.c — tour sections 4 and 6: say_after awaited in turn, spawned, and in a task
 * group; one event waking five waiters, coroutines and threads alike. */
#include "tour.h"

#include <stdatomic.h>
#include <stdio.h>

/* ---- 4. say_after ---------------------------------------------------------------------------- */

static int say_after(void *arg, void **result)
{
    (void)result;
    int64_t ms = (intptr_t)arg;
    return weft_sleep(ms * WEFT_MS);
}

static int in_turn(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = say_after((void *)(intptr_t)100, NULL);
    return rc ? rc : say_after((void *)(intptr_t)200, NULL);
}

static int spawned(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *a, *b;
    int rc = weft_spawn(&a, say_after, (void *)(intptr_t)100);
    if (rc) return rc;
    rc = weft_spawn(&b, say_after, (void *)(intptr_t)200);
    if (rc) { weft_future_cancel(a); weft_future_release(a); return rc; }
    int ra = weft_future_result(a, WEFT_FOREVER, NULL), rb = weft_future_result(b, WEFT_FOREVER, NULL);
    weft_future_release(a);
    weft_future_release(b);
    return ra ? ra : rb;
}

static int grouped(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    rc = weft_group_spawn(g, NULL, NULL, say_after, (void *)(intptr_t)100);
    if (rc == 0) rc = weft_group_spawn(g, NULL, NULL, say_after, (void *)(intptr_t)200);
    int w = weft_group_wait(g);
    weft_group_destroy(g);
    return rc ? rc : w;
}

void tour_say_after(void)
{
    tour_heading("4. say_after(100 ms), say_after(200 ms)",
                 "Awaited in turn, the waits add up; spawned as tasks, or in a task group "
                 "(which also cancels the rest if one fails), they overlap.");
    static const struct { const char *label; weft_fn fn; } ways[] = {
        { "awaited in turn", in_turn }, { "spawned, then awaited", spawned },
        { "in a task group", grouped },
    };
    tour_columns(true);
    double base = 0;
    for (int i = 0; i < 3; i++) {
        tour_row r;
        tour_row_begin(&r, ways[i].label);
        if (weft_run(ways[i].fn, NULL, NULL) != 0) tour_fail(ways[i].label);
        double s = tour_row_end(&r, base, NULL);
        if (i == 0) base = s;
        /* Two sleeps one after the other cannot take less than their sum. */
        if (i == 0 && s < 0.29) tour_fail("sleeps in turn ended early");
    }
}

/* ---- 6. One event, five waiters ----------------------------------------------------------- */

typedef struct {
    weft_event *go;
    _Atomic int woken;
    _Atomic int64_t last_wake;    /* when the last waiter woke (weft_now) */
    int64_t set_at;               /* when the event was set */
} crowd;

static int waiter(void *arg, void **result)
{
    (void)result;
    crowd *c = arg;
    int rc = weft_event_wait(c->go, 10 * WEFT_SEC);
    if (rc == 0) {
        int64_t now = weft_now(), seen = atomic_load(&c->last_wake);
        while (now > seen && !atomic_compare_exchange_weak(&c->last_wake, &seen, now)) {}
        atomic_fetch_add(&c->woken, 1);
    }
    return rc;
}

static int event_main(void *arg, void **result)
{
    (void)result;
    crowd *c = arg;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    for (int i = 0; i < 3 && rc == 0; i++) rc = weft_group_spawn(g, NULL, NULL, waiter, c);
    weft_thread *t[2];                   /* and two plain threads wait on the same event */
    int threads = 0;
    for (; threads < 2; threads++)
        if (weft_thread_start(&t[threads], NULL, waiter, c) != 0) break;
    weft_sleep(50 * WEFT_MS);                /* every waiter is waiting by then */
    c->set_at = weft_now();
    weft_event_set(c->go);
    int w = weft_group_wait(g);
    if (!rc) rc = w;
    weft_group_destroy(g);
    for (int i = 0; i < threads; i++) {
        weft_thread_join(t[i], WEFT_FOREVER, NULL);
        weft_thread_release(t[i]);
    }
    return rc;
}

void tour_event(void)
{
    tour_heading("6. One event wakes five waiters (gevent's Event)",
                 "One weft_event_set wakes coroutines and threads alike; none of them polls.");
    crowd c = { 0 };
    if (weft_event_create(&c.go)) {
        tour_fail("no event");
        return;
    }
    tour_columns(false);
    tour_row r;
    tour_row_begin(&r, "3 coroutines + 2 threads, 1 set");
    int rc = weft_run(event_main, &c, NULL);
    char note[128];
    snprintf(note, sizeof note, "%d of 5 woke, the last %.0f us after the set (after a 50 ms "
             "pause to let them all wait)", atomic_load(&c.woken),
             (double)(atomic_load(&c.last_wake) - c.set_at) / 1e3);
    tour_row_end(&r, 0, note);
    if (rc || atomic_load(&c.woken) != 5) tour_fail("not every waiter woke");
    weft_event_destroy(c.go);
}
