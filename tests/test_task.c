/* Coroutines as tasks: run, spawn, sleep, yield, cancel, results, ordering, shutdown. */
#include "check.h"

static int order[64];
static int norder;

static int record(void *arg, void **result)
{
    order[norder++] = (int)(intptr_t)arg;
    *result = (void *)((intptr_t)arg * 10);
    return 0;
}

static int main_returns_value(void *arg, void **result)
{
    CHECK(weft_in_coroutine());
    CHECK(weft_current_task() != NULL);
    *result = arg;
    return 7;
}

static void test_run_returns_main_value(void)
{
    void *res = NULL;
    CHECK_RC(weft_run(main_returns_value, (void *)0x1234, &res), 7);
    CHECK_PTR(res, (void *)0x1234);
    CHECK(!weft_in_coroutine());
    CHECK(weft_current_task() == NULL);
    CHECK_RC(weft_run(NULL, NULL, NULL), -EINVAL);
}

static int spawn_order_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f[5];
    norder = 0;
    for (int i = 0; i < 5; i++) CHECK_OK(weft_spawn(&f[i], record, (void *)(intptr_t)i));
    CHECK_EQ(norder, 0);            /* spawned tasks start when the spawner gives way */
    CHECK_OK(weft_yield());
    CHECK_EQ(norder, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(order[i], i);       /* FIFO */
        void *r = NULL;
        CHECK(weft_future_done(f[i]));
        CHECK_OK(weft_future_result(f[i], 0, &r));
        CHECK_EQ((intptr_t)r, i * 10);
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_spawn_runs_in_fifo_order(void)
{
    CHECK_OK(weft_run(spawn_order_main, NULL, NULL));
}

static int sleeper(void *arg, void **result)
{
    (void)result;
    return weft_sleep((int64_t)(intptr_t)arg);
}

/* say_after's lesson: sequential awaits add up, concurrent tasks overlap. */
static int sleep_overlap_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int64_t t0 = weft_now();
    weft_future *a, *b;
    CHECK_OK(weft_spawn(&a, sleeper, (void *)(intptr_t)(50 * WEFT_MS)));
    CHECK_OK(weft_spawn(&b, sleeper, (void *)(intptr_t)(100 * WEFT_MS)));
    CHECK_OK(weft_future_result(a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(b, WEFT_FOREVER, NULL));
    int64_t dt = weft_now() - t0;
    CHECK_BETWEEN(dt, 100 * WEFT_MS, 1000 * WEFT_MS);
    weft_future_release(a);
    weft_future_release(b);
    return 0;
}

static void test_sleeps_overlap(void)
{
    CHECK_OK(weft_run(sleep_overlap_main, NULL, NULL));
}

static int forever_sleeper(void *arg, void **result)
{
    (void)result;
    int *cleaned = arg;
    int rc = weft_sleep(WEFT_FOREVER);
    CHECK_RC(rc, -ECANCELED);
    CHECK(weft_cancelled());
    /* Cancellation is sticky: another wait also fails at once... */
    CHECK_RC(weft_sleep(10 * WEFT_SEC), -ECANCELED);
    CHECK_RC(weft_yield(), -ECANCELED);
    /* ...but work that needs no wait still completes. */
    *cleaned = 1;
    return -ECANCELED;
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int cleaned = 0;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, forever_sleeper, &cleaned));
    CHECK_OK(weft_sleep(5 * WEFT_MS));     /* let it block */
    CHECK(!weft_future_done(f));
    CHECK_OK(weft_future_cancel(f));
    CHECK_OK(weft_future_cancel(f));       /* again: harmless */
    CHECK_RC(weft_future_result(f, WEFT_SEC, NULL), -ECANCELED);
    CHECK_EQ(cleaned, 1);
    CHECK(weft_future_cancelled(f));
    CHECK_RC(weft_future_cancel(f), -EBUSY);
    weft_future_release(f);
    return 0;
}

static void test_cancel_wakes_blocked_coroutine(void)
{
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

static int must_not_run(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK(!"a task cancelled before it started must never run");
    return 0;
}

static int cancel_before_start_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, must_not_run, NULL));
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(f);
    return 0;
}

static void test_cancel_before_start(void)
{
    CHECK_OK(weft_run(cancel_before_start_main, NULL, NULL));
}

static int catches_cancel(void *arg, void **result)
{
    (void)arg;
    int rc = weft_sleep(WEFT_FOREVER);
    *result = (void *)(intptr_t)rc;
    return 0;                              /* carries on: its own result stands */
}

static int catch_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, catches_cancel, NULL));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(f));
    void *r = NULL;
    CHECK_OK(weft_future_result(f, WEFT_SEC, &r));
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK(!weft_future_cancelled(f));
    weft_future_release(f);
    return 0;
}

static void test_coroutine_may_absorb_cancel(void)
{
    CHECK_OK(weft_run(catch_main, NULL, NULL));
}

static int leftover_cancelled;

static int leftover(void *arg, void **result)
{
    (void)arg; (void)result;
    if (weft_sleep(WEFT_FOREVER) == -ECANCELED) leftover_cancelled++;
    return 0;
}

static int leaves_children(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < 10; i++) CHECK_OK(weft_spawn(NULL, leftover, NULL));
    CHECK_OK(weft_yield());
    return 0;
}

static void test_run_cancels_leftovers(void)
{
    leftover_cancelled = 0;
    CHECK_OK(weft_run(leaves_children, NULL, NULL));
    CHECK_EQ(leftover_cancelled, 10);
}

static int spawner_during_drain(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sleep(WEFT_FOREVER);
    /* The loop is shutting down now. */
    CHECK_RC(weft_spawn(NULL, record, NULL), -ESHUTDOWN);
    return 0;
}

static int drain_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_spawn(NULL, spawner_during_drain, NULL));
    CHECK_OK(weft_yield());
    return 0;
}

static void test_spawn_during_drain_is_refused(void)
{
    CHECK_OK(weft_run(drain_main, NULL, NULL));
    /* ...and the loop takes spawns again afterwards. */
    CHECK_OK(weft_run(main_returns_value, NULL, NULL) == 7 ? 0 : -1);
}

static int nested_run(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_run(main_returns_value, NULL, NULL), -EBUSY);
    return 0;
}

static int self_wait(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_future_result(weft_current_task(), WEFT_FOREVER, NULL), -EDEADLK);
    return 0;
}

static void test_nested_run_and_self_wait(void)
{
    CHECK_OK(weft_run(nested_run, NULL, NULL));
    CHECK_OK(weft_run(self_wait, NULL, NULL));
}

/* gevent: a thread's spawned coroutines run while the thread blocks in weft calls. */
static void test_thread_spawn_runs_while_blocked(void)
{
    norder = 0;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, record, (void *)(intptr_t)42));
    CHECK_EQ(norder, 0);
    void *r;
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, &r));   /* runs the loop */
    CHECK_EQ((intptr_t)r, 420);
    CHECK_EQ(norder, 1);
    weft_future_release(f);

    CHECK_OK(weft_spawn(NULL, record, (void *)(intptr_t)1));
    CHECK_OK(weft_yield());                              /* runs what is runnable */
    CHECK_EQ(norder, 2);

    CHECK_OK(weft_spawn(NULL, record, (void *)(intptr_t)2));
    CHECK_OK(weft_sleep(WEFT_MS));                       /* so does a sleep */
    CHECK_EQ(norder, 3);
}

static int yield_counter(void *arg, void **result)
{
    (void)result;
    int *count = arg;
    for (int i = 0; i < 1000; i++) {
        (*count)++;
        CHECK_OK(weft_yield());
    }
    return 0;
}

static int ping_pong_main(void *arg, void **result)
{
    (void)arg; (void)result;
    int a = 0, b = 0;
    weft_future *fa, *fb;
    CHECK_OK(weft_spawn(&fa, yield_counter, &a));
    CHECK_OK(weft_spawn(&fb, yield_counter, &b));
    CHECK_OK(weft_yield());
    /* Round robin: after each yield of ours both have moved by one. */
    CHECK_EQ(a, 1);
    CHECK_EQ(b, 1);
    CHECK_OK(weft_future_result(fa, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(fb, WEFT_FOREVER, NULL));
    CHECK_EQ(a + b, 2000);
    weft_future_release(fa);
    weft_future_release(fb);
    return 0;
}

static void test_yield_is_round_robin(void)
{
    CHECK_OK(weft_run(ping_pong_main, NULL, NULL));
}

static int bad_sleep(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_sleep(-5), -EINVAL);
    return 0;
}

static void test_bad_arguments(void)
{
    CHECK_RC(weft_spawn(NULL, NULL, NULL), -EINVAL);
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.stack_size = 100;
    CHECK_RC(weft_spawn_ex(NULL, &o, record, NULL), -EINVAL);
    CHECK_RC(weft_sleep(-2), -EINVAL);
    CHECK_OK(weft_run(bad_sleep, NULL, NULL));
    CHECK_RC(weft_future_result(NULL, 0, NULL), -EINVAL);
    CHECK_RC(weft_future_cancel(NULL), -EINVAL);
    CHECK(weft_task_name(NULL) == NULL);
}

static int named(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK(strcmp(weft_task_name(weft_current_task()), "worker") == 0);
    char big[64 * 1024];                   /* a bigger stack was asked for */
    memset(big, 1, sizeof big);
    return big[100] == 1 ? 0 : -1;
}

static void test_spawn_options(void)
{
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "worker";
    o.stack_size = 512 * 1024;
    weft_future *f;
    CHECK_OK(weft_spawn_ex(&f, &o, named, NULL));
    CHECK(strcmp(weft_task_name(f), "worker") == 0);
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
}

/* Many short-lived tasks, in waves: stacks are reused, nothing leaks or is lost. */
static int incr(void *arg, void **result)
{
    (void)result;
    (*(long *)arg)++;
    return 0;
}

static int waves_main(void *arg, void **result)
{
    (void)arg; (void)result;
    long count = 0;
    int waves = slow_tools() ? 20 : 200;
    for (int w = 0; w < waves; w++) {
        weft_future *f[100];
        for (int i = 0; i < 100; i++) CHECK_OK(weft_spawn(&f[i], incr, &count));
        for (int i = 0; i < 100; i++) {
            CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
            weft_future_release(f[i]);
        }
    }
    CHECK_EQ(count, waves * 100L);
    return 0;
}

static void test_waves_of_tasks(void)
{
    CHECK_OK(weft_run(waves_main, NULL, NULL));
}

int main(void)
{
    RUN(test_run_returns_main_value);
    RUN(test_spawn_runs_in_fifo_order);
    RUN(test_sleeps_overlap);
    RUN(test_cancel_wakes_blocked_coroutine);
    RUN(test_cancel_before_start);
    RUN(test_coroutine_may_absorb_cancel);
    RUN(test_run_cancels_leftovers);
    RUN(test_spawn_during_drain_is_refused);
    RUN(test_nested_run_and_self_wait);
    RUN(test_thread_spawn_runs_while_blocked);
    RUN(test_yield_is_round_robin);
    RUN(test_bad_arguments);
    RUN(test_spawn_options);
    RUN(test_waves_of_tasks);
    return check_done();
}
