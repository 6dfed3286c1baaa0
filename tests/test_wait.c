/* weft_wait (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED) and as_completed. */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>


static int sleeps(void *arg, void **result)
{
    (void)result;
    return weft_sleep((int64_t)(intptr_t)arg);
}

/* A task that ends, with rc, only when its gate opens: the test decides the order. */
typedef struct {
    weft_event *go;
    int rc;
} gated_job;

static int gated(void *arg, void **result)
{
    (void)result;
    gated_job *g = arg;
    CHECK_OK(weft_event_wait(g->go, WEFT_FOREVER));
    return g->rc;
}

static int wait_main(void *arg, void **result)
{
    (void)arg; (void)result;
    gated_job g[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, -EIO } };
    weft_future *fs[3];
    bool done[3];
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_event_create(&g[i].go));
        CHECK_OK(weft_spawn(&fs[i], gated, &g[i]));
    }
    CHECK_OK(weft_event_set(g[1].go));
    CHECK_EQ(weft_wait(fs, 3, WEFT_FIRST_COMPLETED, WEFT_FOREVER, done), 1);
    CHECK(!done[0] && done[1] && !done[2]);
    CHECK_OK(weft_event_set(g[2].go));                                 /* fails */
    CHECK_EQ(weft_wait(fs, 3, WEFT_FIRST_EXCEPTION, WEFT_FOREVER, done), 2);
    CHECK(!done[0] && done[1] && done[2]);
    CHECK_EQ(weft_wait(fs, 3, WEFT_ALL_COMPLETED, 1 * WEFT_MS, done), 2);   /* timed out */
    CHECK_EQ(weft_wait(fs, 3, WEFT_ALL_COMPLETED, 0, NULL), 2);
    CHECK_OK(weft_event_set(g[0].go));
    CHECK_EQ(weft_wait(fs, 3, WEFT_ALL_COMPLETED, WEFT_FOREVER, done), 3);
    CHECK(done[0] && done[1] && done[2]);
    CHECK_RC(weft_future_result(fs[2], 0, NULL), -EIO);
    for (int i = 0; i < 3; i++) {
        weft_future_release(fs[i]);
        weft_event_destroy(g[i].go);
    }
    return 0;
}

static void test_wait_conditions(void)
{
    CHECK_OK(weft_run(wait_main, NULL, NULL));
}

/* A cancelled future is not an exception: FIRST_EXCEPTION goes on to ALL_COMPLETED. */
static int cancelled_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *fs[2];
    CHECK_OK(weft_spawn(&fs[0], sleeps, (void *)(1000 * WEFT_MS)));
    CHECK_OK(weft_spawn(&fs[1], sleeps, (void *)(3 * WEFT_MS)));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(fs[0]));
    CHECK_EQ(weft_wait(fs, 2, WEFT_FIRST_EXCEPTION, WEFT_FOREVER, NULL), 2);
    CHECK(weft_future_cancelled(fs[0]));
    for (int i = 0; i < 2; i++) weft_future_release(fs[i]);
    return 0;
}

static void test_cancelled_is_not_an_exception(void)
{
    CHECK_OK(weft_run(cancelled_main, NULL, NULL));
}

/* The waiter cancelled: -ECANCELED, the futures untouched. */
static int waits_all(void *arg, void **result)
{
    (void)result;
    return weft_wait(arg, 1, WEFT_ALL_COMPLETED, WEFT_FOREVER, NULL);
}

static int waiter_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f, *w;
    CHECK_OK(weft_future_create(&f));
    CHECK_OK(weft_spawn(&w, waits_all, &f));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(w));
    CHECK_RC(weft_future_result(w, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK(!weft_future_done(f));
    CHECK_OK(weft_future_set_result(f, NULL));
    weft_future_release(f);
    weft_future_release(w);
    return 0;
}

static void test_cancelled_waiter(void)
{
    CHECK_OK(weft_run(waiter_cancel_main, NULL, NULL));
}

static void test_wait_bad_arguments(void)
{
    weft_future *f;
    CHECK_OK(weft_future_create(&f));
    weft_future *fs[2] = { f, NULL };
    CHECK_RC(weft_wait(NULL, 1, WEFT_ALL_COMPLETED, 0, NULL), -EINVAL);
    CHECK_RC(weft_wait(fs, 2, WEFT_ALL_COMPLETED, 0, NULL), -EINVAL);
    CHECK_RC(weft_wait(fs, 1, 0, 0, NULL), -EINVAL);
    CHECK_RC(weft_wait(fs, 1, 4, 0, NULL), -EINVAL);
    CHECK_RC(weft_wait(fs, 1, WEFT_ALL_COMPLETED, -3, NULL), -EINVAL);
    CHECK_EQ(weft_wait(NULL, 0, WEFT_ALL_COMPLETED, WEFT_FOREVER, NULL), 0);
    weft_as_completed *it;
    CHECK_RC(weft_as_completed_create(NULL, fs, 1, 0), -EINVAL);
    CHECK_RC(weft_as_completed_create(&it, fs, 2, 0), -EINVAL);
    CHECK_RC(weft_as_completed_next(NULL, &f), -EINVAL);
    weft_as_completed_destroy(NULL);
    weft_future_cancel(f);
    weft_future_release(f);
}

/* as_completed: done ones first (in index order), then in completion order; each once. */
static int as_completed_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *fs[4];
    CHECK_OK(weft_spawn(&fs[0], sleeps, (void *)(9 * WEFT_MS)));
    CHECK_OK(weft_spawn(&fs[1], sleeps, (void *)(3 * WEFT_MS)));
    CHECK_OK(weft_future_create(&fs[2]));
    CHECK_OK(weft_future_set_result(fs[2], NULL));
    CHECK_OK(weft_spawn(&fs[3], sleeps, (void *)(6 * WEFT_MS)));
    weft_as_completed *it;
    CHECK_OK(weft_as_completed_create(&it, fs, 4, WEFT_FOREVER));
    int want[4] = { 2, 1, 3, 0 };
    for (int k = 0; k < 4; k++) {
        weft_future *f;
        CHECK_OK(weft_as_completed_next(it, &f));
        CHECK_PTR(f, fs[want[k]]);
        CHECK(weft_future_done(f));
    }
    weft_future *f;
    CHECK_RC(weft_as_completed_next(it, &f), -ENOENT);
    weft_as_completed_destroy(it);

    /* An overall timeout. */
    weft_future *slow;
    CHECK_OK(weft_spawn(&slow, sleeps, (void *)(1000 * WEFT_MS)));
    CHECK_OK(weft_as_completed_create(&it, &slow, 1, 2 * WEFT_MS));
    CHECK_RC(weft_as_completed_next(it, &f), -ETIMEDOUT);
    CHECK_RC(weft_as_completed_next(it, &f), -ETIMEDOUT);
    weft_as_completed_destroy(it);                 /* its callback is taken back */
    CHECK_OK(weft_future_cancel(slow));
    weft_future_release(slow);
    for (int i = 0; i < 4; i++) weft_future_release(fs[i]);
    return 0;
}

static void test_as_completed_order(void)
{
    CHECK_OK(weft_run(as_completed_main, NULL, NULL));
}

/* Stress: futures completed by two threads in a random order, consumed by as_completed in
 * a thread, and weft_wait FIRST_COMPLETED rounds; every future handed out exactly once. */
#define N 20000
static weft_future *many[N];

static int complete_odd_or_even(void *arg, void **result)
{
    (void)result;
    intptr_t parity = (intptr_t)arg;
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)parity;
    for (int i = (int)parity; i < N; i += 2) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        if (x % 7 == 0) weft_future_set_error(many[i], -EIO);
        else if (x % 11 == 0) weft_future_cancel(many[i]);
        else weft_future_set_result(many[i], (void *)(intptr_t)i);
        if (x % 64 == 0) sched_yield();
    }
    return 0;
}

static void test_as_completed_stress(void)
{
    int n = slow_tools() ? N / 10 : N;
    for (int i = 0; i < n; i++) CHECK_OK(weft_future_create(&many[i]));
    for (int i = n; i < N; i++) many[i] = NULL;
    weft_as_completed *it;
    CHECK_OK(weft_as_completed_create(&it, many, (size_t)n, 60 * 1000 * WEFT_MS));
    unsigned char *seen = calloc((size_t)n, 1);
    CHECK(seen != NULL);
    weft_thread *a, *b;
    CHECK_OK(weft_thread_start(&a, NULL, complete_odd_or_even, (void *)0));
    CHECK_OK(weft_thread_start(&b, NULL, complete_odd_or_even, (void *)1));
    for (int k = 0; k < n; k++) {
        weft_future *f;
        CHECK_OK(weft_as_completed_next(it, &f));
        size_t i = 0;
        /* Its index: futures are distinct; find it through its result or error path. */
        void *r = NULL;
        int rc = weft_future_result(f, 0, &r);
        if (rc == 0) i = (size_t)(intptr_t)r;
        else {
            for (i = 0; i < (size_t)n && many[i] != f; i++) {}
        }
        CHECK(i < (size_t)n);
        CHECK_EQ(seen[i], 0);
        seen[i] = 1;
    }
    weft_future *f;
    CHECK_RC(weft_as_completed_next(it, &f), -ENOENT);
    weft_as_completed_destroy(it);
    join_and_release(a);
    join_and_release(b);
    CHECK_EQ(weft_wait(many, (size_t)n, WEFT_ALL_COMPLETED, 0, NULL), n);
    for (int i = 0; i < n; i++) weft_future_release(many[i]);
    free(seen);
}

int main(void)
{
    RUN(test_wait_conditions);
    RUN(test_cancelled_is_not_an_exception);
    RUN(test_cancelled_waiter);
    RUN(test_wait_bad_arguments);
    RUN(test_as_completed_order);
    RUN(test_as_completed_stress);
    return check_done();
}
