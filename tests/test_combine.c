/* gather, wait_for, shield, and the report of errors nobody collected. */
#include "check.h"

#include <stdatomic.h>


static _Atomic int cleaned_up;

/* Sleeps arg ns and returns 0 with result arg; cancelled, it cleans up (shielded, 1 ms)
 * before it returns. */
static int worker(void *arg, void **result)
{
    int rc = weft_sleep((int64_t)(intptr_t)arg);
    if (rc == -ECANCELED) {
        weft_scope s;
        CHECK_OK(weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
        CHECK_OK(weft_sleep(1 * WEFT_MS));
        CHECK_OK(weft_scope_leave(&s));
        atomic_fetch_add(&cleaned_up, 1);
        return rc;
    }
    *result = arg;
    return rc;
}

static int fails_after(void *arg, void **result)
{
    (void)result;
    weft_sleep((int64_t)(intptr_t)arg);
    return -EIO;
}

static int set_later(void *arg, void **result)
{
    (void)result;
    weft_sleep(2 * WEFT_MS);
    return weft_future_set_result(arg, (void *)0x99);
}

/* gather over futures of three sources: tasks, a plain future set by a thread, a timer. */
static int gather_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *fs[4];
    CHECK_OK(weft_spawn(&fs[0], worker, (void *)(3 * WEFT_MS)));
    CHECK_OK(weft_spawn(&fs[1], worker, (void *)(1 * WEFT_MS)));
    CHECK_OK(weft_future_create(&fs[2]));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, set_later, fs[2]));
    CHECK_OK(weft_spawn(&fs[3], worker, (void *)0));
    int errs[4] = { 1, 1, 1, 1 };
    CHECK_OK(weft_gather(fs, 4, WEFT_FOREVER, false, errs));
    for (int i = 0; i < 4; i++) CHECK_OK(errs[i]);
    void *r;
    CHECK_OK(weft_future_result(fs[0], 0, &r));
    CHECK_PTR(r, (void *)(3 * WEFT_MS));
    CHECK_OK(weft_future_result(fs[2], 0, &r));
    CHECK_PTR(r, (void *)0x99);
    join_and_release(t);
    for (int i = 0; i < 4; i++) weft_future_release(fs[i]);
    CHECK_OK(weft_gather(NULL, 0, WEFT_FOREVER, false, NULL));    /* nothing: done */
    return 0;
}

static void test_gather_of_any_source(void)
{
    CHECK_OK(weft_run(gather_main, NULL, NULL));
}

/* Waits for the event arg, then succeeds: a task that cannot end before the test lets it. */
static int gated(void *arg, void **result)
{
    *result = arg;
    return weft_event_wait(arg, WEFT_FOREVER);
}

/* Without return_exceptions: the first error comes back at once, the rest run on. */
static int gather_first_error_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *go;
    CHECK_OK(weft_event_create(&go));
    weft_future *fs[3];
    CHECK_OK(weft_spawn(&fs[0], gated, go));
    CHECK_OK(weft_spawn(&fs[1], fails_after, (void *)(1 * WEFT_MS)));
    CHECK_OK(weft_spawn(&fs[2], gated, go));
    int errs[3] = { 1, 1, 1 };                /* must all be written */
    CHECK_RC(weft_gather(fs, 3, WEFT_FOREVER, false, errs), -EIO);   /* returns before go */
    CHECK_RC(errs[0], -EBUSY);
    CHECK_RC(errs[1], -EIO);
    CHECK_RC(errs[2], -EBUSY);
    CHECK(!weft_future_done(fs[0]));                  /* not cancelled: still running */
    CHECK_OK(weft_event_set(go));
    /* With return_exceptions: everything, each outcome in errs. */
    CHECK_OK(weft_gather(fs, 3, WEFT_FOREVER, true, errs));
    CHECK_OK(errs[0]);
    CHECK_RC(errs[1], -EIO);
    CHECK_OK(errs[2]);
    /* Already settled: the fast paths give the same answers. */
    CHECK_RC(weft_gather(fs, 3, WEFT_FOREVER, false, NULL), -EIO);
    CHECK_OK(weft_gather(fs, 3, 0, true, NULL));
    for (int i = 0; i < 3; i++) weft_future_release(fs[i]);
    weft_event_destroy(go);
    return 0;
}

static void test_gather_first_error_and_return_exceptions(void)
{
    CHECK_OK(weft_run(gather_first_error_main, NULL, NULL));
}

/* A timeout cancels nothing; cancelling the gatherer cancels what it gathers. */
static int gatherer(void *arg, void **result)
{
    (void)result;
    return weft_gather(arg, 2, WEFT_FOREVER, true, NULL);
}

static int gather_timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *fs[2];
    CHECK_OK(weft_spawn(&fs[0], worker, (void *)(10000 * WEFT_MS)));   /* ends cancelled */
    CHECK_OK(weft_spawn(&fs[1], worker, (void *)(1 * WEFT_MS)));
    CHECK_RC(weft_gather(fs, 2, 2 * WEFT_MS, true, NULL), -ETIMEDOUT);
    CHECK(!weft_future_done(fs[0]));
    CHECK_RC(weft_gather(fs, 2, 0, false, NULL), -ETIMEDOUT);

    atomic_store(&cleaned_up, 0);
    weft_future *g;
    CHECK_OK(weft_spawn(&g, gatherer, fs));
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_OK(weft_future_cancel(g));
    CHECK_RC(weft_future_result(g, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK_RC(weft_future_result(fs[0], WEFT_FOREVER, NULL), -ECANCELED);
    CHECK_EQ(atomic_load(&cleaned_up), 1);
    weft_future_release(g);
    for (int i = 0; i < 2; i++) weft_future_release(fs[i]);
    return 0;
}

static void test_gather_timeout_and_cancel(void)
{
    CHECK_OK(weft_run(gather_timeout_main, NULL, NULL));
}

/* Many futures completing from several threads at once, gathered from a thread: no
 * completion lost (the gather would hang), then again from a coroutine. */
static int complete_half(void *arg, void **result)
{
    (void)result;
    weft_future **fs = arg;
    for (int i = 0; i < 500; i++) weft_future_set_result(fs[i], NULL);
    return 0;
}

static void test_gather_many_from_threads(void)
{
    for (int round = 0; round < 20; round++) {
        weft_future *fs[1000];
        for (int i = 0; i < 1000; i++) CHECK_OK(weft_future_create(&fs[i]));
        weft_thread *a, *b;
        CHECK_OK(weft_thread_start(&a, NULL, complete_half, fs));
        CHECK_OK(weft_thread_start(&b, NULL, complete_half, fs + 500));
        CHECK_OK(weft_gather(fs, 1000, 10000 * WEFT_MS, round & 1, NULL));
        join_and_release(a);
        join_and_release(b);
        for (int i = 0; i < 1000; i++) weft_future_release(fs[i]);
    }
}

static void test_gather_bad_arguments(void)
{
    weft_future *fs[2] = { NULL, NULL };
    CHECK_RC(weft_gather(NULL, 1, 0, false, NULL), -EINVAL);
    CHECK_RC(weft_gather(fs, 2, 0, false, NULL), -EINVAL);
    CHECK_OK(weft_future_create(&fs[0]));
    fs[1] = fs[0];
    CHECK_RC(weft_gather(fs, 2, -7, false, NULL), -EINVAL);
    CHECK_OK(weft_future_set_result(fs[0], NULL));
    CHECK_OK(weft_gather(fs, 2, -1, false, NULL));     /* the same future twice is fine */
    weft_future_release(fs[0]);
}

/* wait_for: in time → the result; too late → the task is cancelled AND has ended (its
 * cleanup ran) before -ETIMEDOUT comes back. */
static int wait_for_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    void *r = NULL;
    CHECK_OK(weft_spawn(&t, worker, (void *)(1 * WEFT_MS)));
    CHECK_OK(weft_wait_for(t, 1000 * WEFT_MS, &r));
    CHECK_PTR(r, (void *)(1 * WEFT_MS));
    weft_future_release(t);

    atomic_store(&cleaned_up, 0);
    CHECK_OK(weft_spawn(&t, worker, (void *)(10000 * WEFT_MS)));
    CHECK_RC(weft_wait_for(t, 2 * WEFT_MS, NULL), -ETIMEDOUT);
    CHECK(weft_future_done(t));
    CHECK_EQ(atomic_load(&cleaned_up), 1);
    CHECK(weft_future_cancelled(t));
    weft_future_release(t);

    /* A deadline scope cuts it the same way. */
    CHECK_OK(weft_spawn(&t, worker, (void *)(10000 * WEFT_MS)));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 2 * WEFT_MS, 0));
    CHECK_RC(weft_wait_for(t, WEFT_FOREVER, NULL), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK(weft_future_done(t));
    weft_future_release(t);

    /* The awaited task fails on its own: its error, not a timeout. */
    CHECK_OK(weft_spawn(&t, fails_after, (void *)0));
    CHECK_RC(weft_wait_for(t, 1000 * WEFT_MS, NULL), -EIO);
    weft_future_release(t);
    CHECK_RC(weft_wait_for(NULL, 0, NULL), -EINVAL);
    return 0;
}

static void test_wait_for(void)
{
    CHECK_OK(weft_run(wait_for_main, NULL, NULL));
}

/* The waiter of wait_for is cancelled: the awaited task is cancelled and waited for. */
static int waits_for(void *arg, void **result)
{
    (void)result;
    return weft_wait_for(arg, WEFT_FOREVER, NULL);
}

static int wait_for_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    atomic_store(&cleaned_up, 0);
    weft_future *inner, *outer;
    CHECK_OK(weft_spawn(&inner, worker, (void *)(10000 * WEFT_MS)));
    CHECK_OK(weft_spawn(&outer, waits_for, inner));
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_OK(weft_future_cancel(outer));
    CHECK_RC(weft_future_result(outer, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK(weft_future_done(inner));                  /* ended before wait_for returned */
    CHECK_EQ(atomic_load(&cleaned_up), 1);
    weft_future_release(inner);
    weft_future_release(outer);
    return 0;
}

static void test_wait_for_cancelled_waiter(void)
{
    CHECK_OK(weft_run(wait_for_cancel_main, NULL, NULL));
}

/* shield: cancelling the shield (directly, or through wait_for) leaves the task running;
 * the shield carries the task's outcome otherwise. */
static int shield_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t, *s;
    CHECK_OK(weft_spawn(&t, worker, (void *)(5 * WEFT_MS)));
    CHECK_OK(weft_shield(t, &s));
    CHECK_RC(weft_wait_for(s, 1 * WEFT_MS, NULL), -ETIMEDOUT);
    CHECK(weft_future_cancelled(s));
    CHECK(!weft_future_done(t));                       /* untouched */
    void *r;
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, &r));
    CHECK_PTR(r, (void *)(5 * WEFT_MS));
    weft_future_release(s);
    weft_future_release(t);

    CHECK_OK(weft_spawn(&t, fails_after, (void *)(1 * WEFT_MS)));
    CHECK_OK(weft_shield(t, &s));
    CHECK_RC(weft_future_result(s, WEFT_FOREVER, NULL), -EIO);
    weft_future_release(t);
    weft_future_release(s);

    CHECK_OK(weft_spawn(&t, worker, (void *)0));
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, NULL));
    CHECK_OK(weft_shield(t, &s));                      /* already done: done at once */
    CHECK(weft_future_done(s));
    CHECK_OK(weft_future_result(s, 0, &r));
    CHECK_PTR(r, (void *)0);
    weft_future_release(t);
    weft_future_release(s);
    CHECK_RC(weft_shield(NULL, &s), -EINVAL);
    CHECK_RC(weft_shield(s, NULL), -EINVAL);
    return 0;
}

static void test_shield(void)
{
    CHECK_OK(weft_run(shield_main, NULL, NULL));
}

/* Errors nobody collected: reported once, through the hook; read, cancelled or successful
 * outcomes are not reported. */
static _Atomic int reports;
static _Atomic int reported_err;

static void count_report(weft_future *f, int err, void *arg)
{
    CHECK(f != NULL);
    CHECK_PTR(arg, (void *)&reports);
    atomic_store(&reported_err, err);
    atomic_fetch_add(&reports, 1);
}

static int detached_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_spawn(NULL, fails_after, (void *)0));      /* detached, fails */
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_EQ(atomic_load(&reports), 1);
    CHECK_RC(atomic_load(&reported_err), -EIO);

    weft_future *t;
    CHECK_OK(weft_spawn(&t, fails_after, (void *)0));         /* read: not reported */
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -EIO);
    weft_future_release(t);
    CHECK_OK(weft_spawn(&t, fails_after, (void *)0));         /* released unread */
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_EQ(atomic_load(&reports), 1);                       /* still referenced */
    weft_future_release(t);
    CHECK_EQ(atomic_load(&reports), 2);
    CHECK_OK(weft_spawn(&t, worker, (void *)(1000 * WEFT_MS)));    /* cancelled: not reported */
    CHECK_OK(weft_yield());
    weft_future_cancel(t);
    CHECK_OK(weft_sleep(3 * WEFT_MS));
    weft_future_release(t);
    CHECK_OK(weft_spawn(NULL, worker, (void *)0));            /* success: not reported */
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_EQ(atomic_load(&reports), 2);
    return 0;
}

static void test_unretrieved_errors_reported_once(void)
{
    weft_set_unretrieved_hook(count_report, (void *)&reports);
    CHECK_OK(weft_run(detached_main, NULL, NULL));
    CHECK_EQ(atomic_load(&reports), 2);
    weft_set_unretrieved_hook(NULL, NULL);
}

static int named_failure(void *arg, void **result)
{
    (void)arg; (void)result;
    return -ECONNREFUSED;
}

static int default_report_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_spawn_opts o = { .name = "fetcher" };
    CHECK_OK(weft_spawn_ex(NULL, &o, named_failure, NULL));
    return weft_sleep(1 * WEFT_MS);
}

static void report_to_stderr(void)
{
    CHECK_OK(weft_run(default_report_main, NULL, NULL));
}

static void test_default_report_on_stderr(void)
{
    child_result r = in_child(report_to_stderr);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    CHECK(strstr(r.err, "task 'fetcher' failed with ECONNREFUSED") != NULL);
    CHECK(strstr(r.err, "nobody read its outcome") != NULL);
}

int main(void)
{
    RUN(test_gather_of_any_source);
    RUN(test_gather_first_error_and_return_exceptions);
    RUN(test_gather_timeout_and_cancel);
    RUN(test_gather_many_from_threads);
    RUN(test_gather_bad_arguments);
    RUN(test_wait_for);
    RUN(test_wait_for_cancelled_waiter);
    RUN(test_shield);
    RUN(test_unretrieved_errors_reported_once);
    RUN(test_default_report_on_stderr);
    return check_done();
}
