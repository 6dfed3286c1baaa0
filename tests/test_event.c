/* weft_event: one setter wakes every waiter — threads, and coroutines on several loops. */
#include "check.h"

#include <stdatomic.h>

static void test_basics(void)
{
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    CHECK(!weft_event_is_set(e));
    CHECK_RC(weft_event_wait(e, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_event_wait(e, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 2 * WEFT_SEC);
    CHECK_OK(weft_event_set(e));
    CHECK_OK(weft_event_set(e));
    CHECK(weft_event_is_set(e));
    CHECK_OK(weft_event_wait(e, 0));
    CHECK_OK(weft_event_wait(e, WEFT_FOREVER));
    CHECK_OK(weft_event_clear(e));
    CHECK(!weft_event_is_set(e));
    CHECK_RC(weft_event_wait(e, -7), -EINVAL);
    weft_event_destroy(e);
    CHECK_RC(weft_event_create(NULL), -EINVAL);
    CHECK_RC(weft_event_set(NULL), -EINVAL);
    CHECK_RC(weft_event_clear(NULL), -EINVAL);
    CHECK_RC(weft_event_wait(NULL, 0), -EINVAL);
    CHECK(!weft_event_is_set(NULL));
    weft_event_destroy(NULL);
}

/* A thread sets an event that coroutines on two loops and two plain threads wait for. */
typedef struct {
    weft_event *go;
    atomic_int woken;
    atomic_int waiting;
} gate;

static int wait_gate(void *arg, void **result)
{
    (void)result;
    gate *g = arg;
    atomic_fetch_add(&g->waiting, 1);
    CHECK_OK(weft_event_wait(g->go, 10 * WEFT_SEC));
    atomic_fetch_add(&g->woken, 1);
    return 0;
}

static void test_thread_wakes_coroutines_on_two_loops(void)
{
    gate g = { 0 };
    CHECK_OK(weft_event_create(&g.go));
    spawn_job five = { 5, wait_gate, &g };
    loop_job loop = { spawn_all_and_wait, &five };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    CHECK_OK(weft_thread_start(&t[2], NULL, wait_gate, &g));
    CHECK_OK(weft_thread_start(&t[3], NULL, wait_gate, &g));
    while (atomic_load(&g.waiting) < 12) weft_sleep(WEFT_MS);
    weft_sleep(10 * WEFT_MS);              /* let them all really block */
    CHECK_EQ(atomic_load(&g.woken), 0);
    CHECK_OK(weft_event_set(g.go));
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    CHECK_EQ(atomic_load(&g.woken), 12);
    weft_event_destroy(g.go);
}

/* A coroutine sets the event a thread waits for. */
static int set_later(void *arg, void **result)
{
    (void)result;
    weft_sleep(20 * WEFT_MS);
    return weft_event_set(arg);
}

static void test_coroutine_wakes_thread(void)
{
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    loop_job setter = { set_later, e };
    weft_thread *t = start_loop_thread(&setter);
    CHECK_OK(weft_event_wait(e, 10 * WEFT_SEC));
    join_and_release(t);
    weft_event_destroy(e);
}

/* The thread's own context waits while its coroutines run, and one of them sets it. */
static void test_thread_runs_its_loop_while_waiting(void)
{
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    CHECK_OK(weft_spawn(NULL, set_later, e));
    CHECK_OK(weft_event_wait(e, 10 * WEFT_SEC));
    weft_event_destroy(e);
}

static int wait_then_report(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg, WEFT_FOREVER);
}

static int cancel_and_timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, wait_then_report, e));
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(f);
    int64_t t0 = weft_now();
    CHECK_RC(weft_event_wait(e, 15 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 14 * WEFT_MS, 2 * WEFT_SEC);
    weft_event_destroy(e);      /* no waiter left behind by either */
    return 0;
}

static void test_cancel_and_timeout_in_coroutine(void)
{
    CHECK_OK(weft_run(cancel_and_timeout_main, NULL, NULL));
}

/* Stress, bounded in time: rounds of set/clear with waiters of every kind and random
 * timeouts. Each waiter that returns 0 saw a set of its round; no waiter hangs or is left
 * on the list. */
typedef struct {
    weft_event *e;
    atomic_int round;
    atomic_long ok, timeouts;
    atomic_int stop;
} storm;


static int storm_waiter(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (!atomic_load(&s->stop)) {
        int rc = weft_event_wait(s->e, (int64_t)(rnd(&seed) % 300) * WEFT_US);
        if (rc == 0) atomic_fetch_add(&s->ok, 1);
        else if (rc == -ETIMEDOUT) atomic_fetch_add(&s->timeouts, 1);
        else CHECK_OK(rc);
        if (rnd(&seed) % 2) weft_yield();
    }
    return 0;
}

static void test_stress_set_clear(void)
{
    storm s = { 0 };
    CHECK_OK(weft_event_create(&s.e));
    spawn_job ten = { 10, storm_waiter, &s };
    loop_job loop = { spawn_all_and_wait, &ten };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    CHECK_OK(weft_thread_start(&t[2], NULL, storm_waiter, &s));
    CHECK_OK(weft_thread_start(&t[3], NULL, storm_waiter, &s));
    int64_t until = weft_now() + (slow_tools() ? 1 : 2) * WEFT_SEC;
    unsigned seed = 1;
    while (weft_now() < until) {
        CHECK_OK(weft_event_set(s.e));
        if (rnd(&seed) % 3) weft_sleep((int64_t)(rnd(&seed) % 100) * WEFT_US);
        CHECK_OK(weft_event_clear(s.e));
        weft_sleep((int64_t)(rnd(&seed) % 200) * WEFT_US);
    }
    atomic_store(&s.stop, 1);
    CHECK_OK(weft_event_set(s.e));
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    CHECK(atomic_load(&s.ok) > 100);
    printf("   woken %ld, timed out %ld\n", atomic_load(&s.ok), atomic_load(&s.timeouts));
    weft_event_destroy(s.e);
}

static weft_event *busy;

static int busy_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_event_wait(busy, WEFT_FOREVER);
}

static int destroy_with_waiters(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_event_create(&busy));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    weft_yield();
    weft_event_destroy(busy);
    return 0;
}

static void destroy_busy_child(void) { weft_run(destroy_with_waiters, NULL, NULL); }

static void test_destroy_with_waiters_aborts(void)
{
    expect_abort(destroy_busy_child, "weft_event_destroy: 2 waiter(s) still waiting");
}

int main(void)
{
    RUN(test_basics);
    RUN(test_thread_wakes_coroutines_on_two_loops);
    RUN(test_coroutine_wakes_thread);
    RUN(test_thread_runs_its_loop_while_waiting);
    RUN(test_cancel_and_timeout_in_coroutine);
    RUN(test_stress_set_clear);
    RUN(test_destroy_with_waiters_aborts);
    return check_done();
}
