/* The thread pool: submit/result from threads and coroutines, lazy and retiring workers,
 * initializer/finalizer/names, cancellation rules, shutdown, map, submitting from jobs,
 * compensation for waits on the pool's own jobs, to_thread, misuse. */
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>


static _Atomic int ran, running, max_running;

static void reset(void)
{
    atomic_store(&ran, 0);
    atomic_store(&running, 0);
    atomic_store(&max_running, 0);
}

static int square(void *arg, void **result)
{
    intptr_t x = (intptr_t)arg;
    atomic_fetch_add(&ran, 1);
    *result = (void *)(x * x);
    return 0;
}

/* Sleeps arg ns, counting how many run at once. */
static int sleeper(void *arg, void **result)
{
    (void)result;
    int now = atomic_fetch_add(&running, 1) + 1;
    int m = atomic_load(&max_running);
    while (now > m && !atomic_compare_exchange_weak(&max_running, &m, now)) {}
    int rc = weft_sleep((int64_t)(intptr_t)arg);
    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&ran, 1);
    return rc;
}

static void test_submit_and_result_from_a_thread(void)
{
    reset();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 3 }));
    CHECK_EQ(weft_pool_workers(p), 0);                 /* lazy: nothing before a job */
    weft_future *f[100];
    for (int i = 0; i < 100; i++) CHECK_OK(weft_pool_submit(p, &f[i], square, (void *)(intptr_t)i));
    for (int i = 0; i < 100; i++) {
        void *r;
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, &r));
        CHECK_EQ((intptr_t)r, i * i);
        weft_future_release(f[i]);
    }
    CHECK_BETWEEN(weft_pool_workers(p), 1, 3);
    CHECK_OK(weft_pool_shutdown(p, true, false));
    CHECK_OK(weft_pool_shutdown(p, true, false));      /* idempotent */
    CHECK_EQ(weft_pool_workers(p), 0);
    CHECK_RC(weft_pool_submit(p, NULL, square, NULL), -ESHUTDOWN);
    weft_pool_destroy(p);
    CHECK_EQ(atomic_load(&ran), 100);
}

/* A coroutine waits on a pool job without blocking its loop: another coroutine ticks. */
static _Atomic int ticks;

static int ticker(void *arg, void **result)
{
    (void)arg; (void)result;
    while (weft_sleep(1 * WEFT_MS) == 0) atomic_fetch_add(&ticks, 1);
    return 0;
}

/* The job returns once the ticker has ticked 5 times, which it can only do if the loop runs
 * while its other coroutine waits on the job (no timing bound decides: under Valgrind with
 * the suite in parallel 20 ms may hold fewer than 5 ticks). */
static int wait_for_ticks(void *arg, void **result)
{
    (void)arg; (void)result;
    int64_t give_up = weft_now() + 30 * WEFT_SEC;
    while (atomic_load(&ticks) < 5 && weft_now() < give_up) weft_sleep(1 * WEFT_MS);
    return atomic_load(&ticks) >= 5 ? 0 : -ETIMEDOUT;
}

static int coro_main(void *arg, void **result)
{
    (void)result;
    weft_pool *p = arg;
    weft_future *t, *f;
    atomic_store(&ticks, 0);
    CHECK_OK(weft_spawn(&t, ticker, NULL));
    CHECK_OK(weft_pool_submit(p, &f, wait_for_ticks, NULL));
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
    weft_future_cancel(t);
    weft_future_result(t, WEFT_FOREVER, NULL);
    weft_future_release(t);
    return 0;
}

static void test_coroutine_waits_without_blocking_its_loop(void)
{
    reset();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, NULL));
    CHECK_OK(weft_run(coro_main, p, NULL));
    weft_pool_destroy(p);
}

/* Other waits never raise the number of workers running jobs above max_workers. */
static void test_max_workers_bounds_concurrency(void)
{
    reset();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
    weft_future *f[10];
    for (int i = 0; i < 10; i++) CHECK_OK(weft_pool_submit(p, &f[i], sleeper, (void *)(5 * WEFT_MS)));
    for (int i = 0; i < 10; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    /* the bound is the point; a second worker starting late (a loaded machine) may leave
     * the jobs to one */
    CHECK_BETWEEN(atomic_load(&max_running), 1, 2);
    CHECK(weft_pool_workers(p) <= 2);
    weft_pool_destroy(p);
}

/* Initializer, finalizer, names, idle retirement. */
static _Atomic int inits, finis, named_ok;

static int init_worker(void *arg)
{
    CHECK_PTR(arg, (void *)&inits);
    atomic_fetch_add(&inits, 1);
    return 0;
}

static void fini_worker(void *arg)
{
    CHECK_PTR(arg, (void *)&finis);
    atomic_fetch_add(&finis, 1);
}

static int check_name(void *arg, void **result)
{
    (void)arg; (void)result;
    char name[32];
    pthread_getname_np(pthread_self(), name, sizeof name);
    if (strncmp(name, "crawler-", 8) == 0) atomic_fetch_add(&named_ok, 1);
    return weft_sleep(1 * WEFT_MS);
}

static void test_initializer_finalizer_names_retirement(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 2;
    o.name_prefix = "crawler";
    o.initializer = init_worker;
    o.initializer_arg = (void *)&inits;
    o.finalizer = fini_worker;
    o.finalizer_arg = (void *)&finis;
    o.idle_timeout = 20 * WEFT_MS;
    weft_pool *p;
    CHECK_OK(weft_pool_create_ex(&p, &o));
    weft_future *f[6];
    for (int i = 0; i < 6; i++) CHECK_OK(weft_pool_submit(p, &f[i], check_name, NULL));
    for (int i = 0; i < 6; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    CHECK_EQ(atomic_load(&named_ok), 6);
    int started = atomic_load(&inits);
    CHECK_BETWEEN(started, 1, 2);
    int64_t t0 = weft_now();                 /* idle workers retire */
    while (weft_pool_workers(p) > 0 && weft_now() - t0 < 5000 * WEFT_MS) weft_sleep(1 * WEFT_MS);
    CHECK_EQ(weft_pool_workers(p), 0);
    /* Read inits again: a second worker may have been starting when the jobs were done.
     * A worker leaves the count before it runs the finalizer (qemu once showed the count
     * at 0 with one finalizer still to run): give it a moment. */
    t0 = weft_now();
    while (atomic_load(&finis) != atomic_load(&inits) && weft_now() - t0 < 5000 * WEFT_MS)
        weft_sleep(1 * WEFT_MS);
    CHECK_EQ(atomic_load(&finis), atomic_load(&inits));
    weft_future *g;                          /* and start again when needed */
    CHECK_OK(weft_pool_submit(p, &g, square, (void *)3));
    CHECK_OK(weft_future_result(g, WEFT_FOREVER, NULL));
    weft_future_release(g);
    weft_pool_destroy(p);
    CHECK_EQ(atomic_load(&finis), atomic_load(&inits));
}

static int failing_init(void *arg)
{
    (void)arg;
    return -EACCES;
}

static void test_failing_initializer_breaks_the_pool(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 1;
    o.initializer = failing_init;
    weft_pool *p;
    CHECK_OK(weft_pool_create_ex(&p, &o));
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, &f, square, (void *)2));
    CHECK_RC(weft_future_result(f, WEFT_FOREVER, NULL), -EACCES);
    weft_future_release(f);
    int64_t t0 = weft_now();
    int rc;
    while ((rc = weft_pool_submit(p, &f, square, NULL)) == 0 && weft_now() - t0 < 5000 * WEFT_MS) {
        weft_future_result(f, WEFT_FOREVER, NULL);
        weft_future_release(f);
    }
    CHECK_RC(rc, -EACCES);
    weft_pool_destroy(p);
}

/* Cancellation rules: pending → never runs; running → weft_cancelled() and -ECANCELED
 * from its waits; done → -EBUSY; a second cancel changes nothing. */
static _Atomic int saw_cancelled_flag;

static int long_job(void *arg, void **result)
{
    (void)arg; (void)result;
    atomic_fetch_add(&running, 1);
    int rc = weft_sleep(10000 * WEFT_MS);                /* interrupted by the cancel */
    if (weft_cancelled()) atomic_fetch_add(&saw_cancelled_flag, 1);
    /* Cleanup may still wait, shielded. */
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK(!weft_cancelled());
    CHECK_OK(weft_scope_leave(&s));
    return rc;
}

static void test_cancellation_rules(void)
{
    reset();
    atomic_store(&saw_cancelled_flag, 0);
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 1 }));
    weft_future *a, *b;
    CHECK_OK(weft_pool_submit(p, &a, long_job, NULL));
    CHECK_OK(weft_pool_submit(p, &b, square, (void *)5));   /* queued behind a */
    while (atomic_load(&running) == 0) weft_sleep(100000);
    CHECK_OK(weft_future_cancel(b));                        /* pending: never runs */
    CHECK(weft_future_cancelled(b));
    CHECK_OK(weft_future_cancel(b) == -EBUSY ? 0 : -1);
    int64_t t0 = weft_now();
    CHECK_OK(weft_future_cancel(a));                        /* running: asked to stop */
    CHECK_OK(weft_future_cancel(a));                        /* again: nothing more */
    CHECK_RC(weft_future_result(a, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK(weft_now() - t0 < 2000 * WEFT_MS);                     /* not the full 10 s */
    CHECK_EQ(atomic_load(&saw_cancelled_flag), 1);
    CHECK_RC(weft_future_cancel(a), -EBUSY);
    weft_future_release(a);
    weft_future_release(b);
    CHECK_OK(weft_pool_shutdown(p, true, false));
    CHECK_EQ(atomic_load(&ran), 0);                         /* square never ran */
    weft_pool_destroy(p);
}

/* shutdown(wait) runs what is queued; shutdown(cancel_futures) cancels it. */
static void test_shutdown_semantics(void)
{
    reset();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 1 }));
    weft_future *f[20];
    for (int i = 0; i < 20; i++) CHECK_OK(weft_pool_submit(p, &f[i], sleeper, (void *)(100000)));
    CHECK_OK(weft_pool_shutdown(p, true, false));
    CHECK_EQ(atomic_load(&ran), 20);
    for (int i = 0; i < 20; i++) {
        CHECK_OK(weft_future_result(f[i], 0, NULL));
        weft_future_release(f[i]);
    }
    weft_pool_destroy(p);

    reset();
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 1 }));
    /* 50 ms jobs: the shutdown comes while the first still runs, however loaded the machine,
     * so at most one more can start before the queue is cancelled. */
    for (int i = 0; i < 20; i++) CHECK_OK(weft_pool_submit(p, &f[i], sleeper, (void *)(50 * WEFT_MS)));
    while (atomic_load(&running) == 0) weft_sleep(100000);
    CHECK_OK(weft_pool_shutdown(p, false, true));
    CHECK_OK(weft_pool_shutdown(p, true, true));
    int cancelled = 0;
    for (int i = 0; i < 20; i++) {
        int rc = weft_future_result(f[i], 0, NULL);
        CHECK(rc == 0 || rc == -ECANCELED);
        cancelled += rc == -ECANCELED;
        weft_future_release(f[i]);
    }
    CHECK_EQ(cancelled + atomic_load(&ran), 20);
    CHECK(cancelled >= 18);
    weft_pool_destroy(p);
}

/* Submitting from a job; shutdown(wait) from a job is refused; destroy from a job. */
static weft_pool *self_pool;

static int submits_more(void *arg, void **result)
{
    (void)result;
    intptr_t depth = (intptr_t)arg;
    atomic_fetch_add(&ran, 1);
    if (depth > 0) CHECK_OK(weft_pool_submit(self_pool, NULL, submits_more, (void *)(depth - 1)));
    CHECK_RC(weft_pool_shutdown(self_pool, true, false), -EDEADLK);
    return 0;
}

static void test_submit_from_a_job(void)
{
    reset();
    CHECK_OK(weft_pool_create(&self_pool, &(weft_pool_opts){ .max_workers = 2 }));
    CHECK_OK(weft_pool_submit(self_pool, NULL, submits_more, (void *)9));
    int64_t t0 = weft_now();
    while (atomic_load(&ran) < 10 && weft_now() - t0 < 5000 * WEFT_MS) weft_sleep(100000);
    CHECK_EQ(atomic_load(&ran), 10);
    weft_pool_destroy(self_pool);
}

static _Atomic int submit_returned;

static int destroys_its_pool(void *arg, void **result)
{
    (void)result;
    /* Not while its submitter is still inside weft_pool_submit (a pool, like any object,
     * is not destroyed under a call on it). */
    while (!atomic_load(&submit_returned)) weft_sleep(100000);
    weft_pool_destroy(arg);                  /* does not wait for itself */
    atomic_fetch_add(&ran, 1);
    return 0;
}

static void test_destroy_from_a_job(void)
{
    reset();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 1 }));
    CHECK_OK(weft_pool_submit(p, NULL, destroys_its_pool, p));
    atomic_store(&submit_returned, 1);
    int64_t t0 = weft_now();
    while (atomic_load(&ran) < 1 && weft_now() - t0 < 5000 * WEFT_MS) weft_sleep(100000);
    CHECK_EQ(atomic_load(&ran), 1);
    weft_sleep(5 * WEFT_MS);                      /* let the worker end (ASan checks the rest) */
}

/* A recursive fan-out that deadlocks Python's ThreadPoolExecutor: each job submits two
 * children and waits for them, with only 2 workers. Compensating workers let it finish. */
static weft_pool *fan_pool;

static int fib(void *arg, void **result)
{
    intptr_t n = (intptr_t)arg;
    if (n < 2) {
        *result = (void *)n;
        return 0;
    }
    weft_future *a, *b;
    CHECK_OK(weft_pool_submit(fan_pool, &a, fib, (void *)(n - 1)));
    CHECK_OK(weft_pool_submit(fan_pool, &b, fib, (void *)(n - 2)));
    void *ra, *rb;
    CHECK_OK(weft_future_result(a, WEFT_FOREVER, &ra));
    CHECK_OK(weft_future_result(b, WEFT_FOREVER, &rb));
    weft_future_release(a);
    weft_future_release(b);
    *result = (void *)((intptr_t)ra + (intptr_t)rb);
    return 0;
}

static void test_recursive_fan_out_completes(void)
{
    CHECK_OK(weft_pool_create(&fan_pool, &(weft_pool_opts){ .max_workers = 2 }));
    weft_future *f;
    CHECK_OK(weft_pool_submit(fan_pool, &f, fib, (void *)8));
    void *r;
    CHECK_OK(weft_future_result(f, 30000 * WEFT_MS, &r));
    CHECK_EQ((intptr_t)r, 21);
    weft_future_release(f);
    weft_pool_destroy(fan_pool);
}

/* A worker waiting on a job that runs elsewhere stops counting: another job still runs. */
static weft_future *slow_job;

static int waits_on_slow(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_future_result(slow_job, WEFT_FOREVER, NULL);
}

static void test_compensation_for_a_running_job(void)
{
    reset();
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
    CHECK_OK(weft_pool_submit(p, &slow_job, sleeper, (void *)(200 * WEFT_MS)));
    while (atomic_load(&running) == 0) weft_sleep(100000);
    weft_future *w, *z;
    CHECK_OK(weft_pool_submit(p, &w, waits_on_slow, NULL));
    weft_sleep(5 * WEFT_MS);                              /* w is waiting on slow_job now */
    CHECK_OK(weft_pool_submit(p, &z, square, (void *)4));
    CHECK_OK(weft_future_result(z, 100 * WEFT_MS, NULL)); /* ran although 2 workers are busy */
    CHECK(!weft_future_done(slow_job));
    CHECK_OK(weft_future_result(w, WEFT_FOREVER, NULL));
    CHECK_EQ(atomic_load(&max_running), 1);
    weft_future_release(z);
    weft_future_release(w);
    weft_future_release(slow_job);
    weft_pool_destroy(p);
}

/* map: results in argument order, chunked, first error, stop_at_error. */
static int fails_on_7(void *arg, void **result)
{
    intptr_t x = (intptr_t)arg;
    if (x == 7) return -EDOM;
    *result = (void *)(x + 100);
    return 0;
}

static void test_map(void)
{
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
    void *args[50], *res[50];
    int errs[50];
    for (int i = 0; i < 50; i++) args[i] = (void *)(intptr_t)i;
    CHECK_OK(weft_pool_map(p, square, args, 7, 0, false, res, errs));
    for (int i = 0; i < 7; i++) CHECK_EQ((intptr_t)res[i], i * i);
    CHECK_OK(weft_pool_map(p, square, args, 50, 8, false, res, NULL));
    for (int i = 0; i < 50; i++) CHECK_EQ((intptr_t)res[i], i * i);
    CHECK_RC(weft_pool_map(p, fails_on_7, args, 50, 4, false, res, errs), -EDOM);
    for (int i = 0; i < 50; i++) {
        if (i == 7) CHECK_RC(errs[i], -EDOM);
        else {
            CHECK_OK(errs[i]);
            CHECK_EQ((intptr_t)res[i], i + 100);
        }
    }
    CHECK_RC(weft_pool_map(p, fails_on_7, args, 50, 1, true, res, errs), -EDOM);
    CHECK_RC(errs[7], -EDOM);
    /* The others ran, or never started. (How many were stopped depends on scheduling:
     * under Valgrind one worker may run them all before the other reaches item 7.) */
    for (int i = 0; i < 50; i++) {
        if (i == 7) continue;
        CHECK(errs[i] == 0 || errs[i] == -ECANCELED);
        if (errs[i] == 0) CHECK_EQ((intptr_t)res[i], i + 100);
    }
    /* One worker runs the items in order: every item after the failing one is stopped. */
    weft_pool *one;
    CHECK_OK(weft_pool_create(&one, &(weft_pool_opts){ .max_workers = 1 }));
    CHECK_RC(weft_pool_map(one, fails_on_7, args, 50, 1, true, res, errs), -EDOM);
    for (int i = 0; i < 7; i++) CHECK_OK(errs[i]);
    for (int i = 8; i < 50; i++) CHECK_RC(errs[i], -ECANCELED);
    weft_pool_destroy(one);
    CHECK_OK(weft_pool_map(p, square, args, 0, 1, false, NULL, NULL));
    CHECK_RC(weft_pool_map(p, NULL, args, 1, 1, false, NULL, NULL), -EINVAL);
    CHECK_RC(weft_pool_map(NULL, square, args, 1, 1, false, NULL, NULL), -EINVAL);
    weft_pool_destroy(p);
}

/* map cut short by a deadline scope (issue 11, bug 3): the wait loop handled -ECANCELED only;
 * a scope's -ETIMEDOUT made every later wait fail at once and the block the chunks write
 * into was freed under them (a use-after-free under ASan; here, chunks still running when
 * map returned). Now any cut wait cancels what has not started and waits for the rest:
 * when map returns, nothing of it runs; the items that ran report their outcome, the
 * others -ECANCELED; map says -ETIMEDOUT if some item did not run, 0 if all did. */
static _Atomic int items_running, items_ended;

static int slow_item(void *arg, void **result)
{
    atomic_fetch_add(&items_running, 1);
    /* 50 ms in a system call, deaf to cancellation: the chunk writes its outcome after. */
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    while (nanosleep(&ts, &ts) != 0) {}
    *result = (void *)((intptr_t)arg + 1000);
    atomic_fetch_add(&items_ended, 1);
    atomic_fetch_sub(&items_running, 1);
    return 0;
}

#define MAP_N 6

/* A 5 ms scope around a map of 6 items of 50 ms on 2 workers (arg: the pool). */
static int map_in_expiring_scope(void *arg, void **result)
{
    (void)result;
    weft_pool *p = arg;
    void *args[MAP_N], *res[MAP_N];
    int errs[MAP_N];
    for (int i = 0; i < MAP_N; i++) {
        args[i] = (void *)(intptr_t)i;
        res[i] = (void *)1;
        errs[i] = 1;
    }
    atomic_store(&items_ended, 0);
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 5 * WEFT_MS, 0));
    int rc = weft_pool_map(p, slow_item, args, MAP_N, 1, false, res, errs);
    int running = atomic_load(&items_running), ended = atomic_load(&items_ended);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    if (running != 0) {
        fprintf(stderr, "weft_pool_map returned %s with %d item(s) still running\n",
                weft_errname(rc), running);
        abort();
    }
    int ran = 0;
    for (int i = 0; i < MAP_N; i++) {
        if (errs[i] == 0) {
            CHECK_EQ((intptr_t)res[i], i + 1000);
            ran++;
        } else {
            CHECK_RC(errs[i], -ECANCELED);
            CHECK_PTR(res[i], NULL);
        }
    }
    CHECK_EQ(ran, ended);                        /* what ran is what is reported */
    CHECK(ran < MAP_N);                          /* 2 workers, 50 ms each, 5 ms allowed */
    CHECK_RC(rc, -ETIMEDOUT);
    /* Already past the deadline: nothing is submitted, nothing runs. */
    CHECK_OK(weft_scope_enter(&s, 0, 0));
    CHECK_RC(weft_pool_map(p, slow_item, args, MAP_N, 1, false, res, errs), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK_EQ(atomic_load(&items_ended), ended);
    for (int i = 0; i < MAP_N; i++) CHECK_RC(errs[i], -ECANCELED);
    return 0;
}

static void test_map_cut_by_a_deadline_scope(void)
{
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
    void *args[2] = { (void *)1, (void *)2 };
    CHECK_OK(weft_pool_map(p, square, args, 2, 1, false, NULL, NULL));   /* workers up */
    CHECK_OK(map_in_expiring_scope(p, NULL));                 /* a thread */
    CHECK_OK(weft_run(map_in_expiring_scope, p, NULL));       /* a coroutine */
    weft_pool_destroy(p);
}

/* to_thread from a coroutine; cancelling the coroutine cancels the job, which is waited
 * for. */
static _Atomic int job_started, job_ended;

static int blocking_call(void *arg, void **result)
{
    (void)arg;
    atomic_store(&job_started, 1);
    int rc = weft_sleep(10000 * WEFT_MS);
    atomic_store(&job_ended, 1);
    *result = (void *)0x42;
    return rc;
}

static int quick_call(void *arg, void **result)
{
    (void)arg;
    *result = (void *)0x43;
    return 0;
}

static int to_thread_user(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_to_thread(blocking_call, NULL, NULL);
}

static int to_thread_main(void *arg, void **result)
{
    (void)arg; (void)result;
    void *r;
    CHECK_OK(weft_to_thread(quick_call, NULL, &r));
    CHECK_PTR(r, (void *)0x43);
    weft_pool *own;
    CHECK_OK(weft_pool_create(&own, &(weft_pool_opts){ .max_workers = 1 }));
    r = NULL;
    CHECK_OK(weft_run_in_executor(own, quick_call, NULL, &r));
    CHECK_PTR(r, (void *)0x43);
    weft_pool_destroy(own);
    weft_future *t;
    CHECK_OK(weft_spawn(&t, to_thread_user, NULL));
    /* Cancel once the job runs (a job cancelled before it starts never runs: rule 1). */
    while (!atomic_load(&job_started)) CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK_EQ(atomic_load(&job_ended), 1);               /* waited for */
    weft_future_release(t);
    return 0;
}

static void test_to_thread(void)
{
    CHECK_OK(weft_run(to_thread_main, NULL, NULL));
    CHECK(weft_default_pool() != NULL);
}

/* Detached submits (no future): each one that returned 0 runs exactly once, also when
 * shutdown comes down on four submitting threads (a submit is refused or its job runs);
 * a failure nobody can read is reported once, -ECANCELED and success are not. */
typedef struct {
    weft_pool *p;
    _Atomic long ok;                 /* read by the main thread while it waits */
    long refused;
} detached_submitter;

static _Atomic long detached_ran;

static int count_detached(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK(!weft_cancelled());
    atomic_fetch_add_explicit(&detached_ran, 1, memory_order_relaxed);
    return 0;
}

static int submit_detached_until_refused(void *arg, void **result)
{
    (void)result;
    detached_submitter *d = arg;
    for (;;) {                               /* until the shutdown the test makes */
        int rc = weft_pool_submit(d->p, NULL, count_detached, NULL);
        if (rc == -ESHUTDOWN) {
            d->refused++;
            if (d->refused == 1000) break;   /* refused from now on: enough seen */
            continue;
        }
        CHECK_OK(rc);
        CHECK_EQ(d->refused, 0);             /* once refused, never accepted again */
        atomic_fetch_add_explicit(&d->ok, 1, memory_order_relaxed);
    }
    return 0;
}

static _Atomic int reported;
static _Atomic int reported_err;

static void count_report(weft_future *f, int err, void *arg)
{
    (void)f; (void)arg;
    atomic_fetch_add(&reported, 1);
    atomic_store(&reported_err, err);
}

static int fail_with(void *arg, void **result)
{
    (void)result;
    return (int)(intptr_t)arg;
}

static void test_detached_jobs(void)
{
    for (int round = 0; round < 4; round++) {
        atomic_store(&detached_ran, 0);
        weft_pool *p;
        CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
        detached_submitter d[4];
        weft_thread *th[4];
        for (int i = 0; i < 4; i++) {
            d[i] = (detached_submitter){ .p = p };
            CHECK_OK(weft_thread_start(&th[i], NULL, submit_detached_until_refused, &d[i]));
        }
        CHECK_OK(weft_sleep((5 + 10 * round) * WEFT_MS));
        /* Shut down while they submit: after some jobs went in (slow tools may not have run
         * the submitters yet). */
        int64_t t0 = weft_now();
        for (;;) {
            long sum = 0;
            for (int i = 0; i < 4; i++) sum += atomic_load(&d[i].ok);
            if (sum > 0) break;
            CHECK(weft_now() - t0 < 30 * WEFT_SEC);
            CHECK_OK(weft_sleep(WEFT_MS));
        }
        CHECK_OK(weft_pool_shutdown(p, round % 2 == 0, false));
        for (int i = 0; i < 4; i++) join_and_release(th[i]);
        CHECK_OK(weft_pool_shutdown(p, true, false));
        long ok = 0;
        for (int i = 0; i < 4; i++) {
            ok += atomic_load(&d[i].ok);
            CHECK(d[i].refused >= 1);        /* each thread saw the shutdown */
        }
        CHECK(ok > 0);
        CHECK_EQ(atomic_load(&detached_ran), ok);
        weft_pool_destroy(p);
    }

    weft_set_unretrieved_hook(count_report, NULL);
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 1 }));
    CHECK_OK(weft_pool_submit(p, NULL, fail_with, (void *)(intptr_t)-EIO));
    CHECK_OK(weft_pool_submit(p, NULL, fail_with, (void *)(intptr_t)-ECANCELED));
    CHECK_OK(weft_pool_submit(p, NULL, fail_with, (void *)(intptr_t)0));
    CHECK_OK(weft_pool_shutdown(p, true, false));
    CHECK_EQ(atomic_load(&reported), 1);
    CHECK_RC(atomic_load(&reported_err), -EIO);
    weft_pool_destroy(p);
    weft_set_unretrieved_hook(NULL, NULL);
}

/* caller_runs: a thread's unbounded wait on a job no worker has started runs it on that
 * thread (even with every worker busy); a wait with a timeout, a coroutine's wait and a pool
 * without the option leave it to a worker. Then four threads race the workers for their
 * own jobs (taken back off the inbox, or claimed by state): each job runs exactly once. */
static int record_thread(void *arg, void **result)
{
    (void)arg;
    *result = (void *)(uintptr_t)pthread_self();
    return 0;
}

static int wait_event(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg, WEFT_FOREVER);
}

static void *ran_on(weft_pool *p, int64_t timeout)
{
    weft_future *f;
    void *who = NULL;
    CHECK_OK(weft_pool_submit(p, &f, record_thread, NULL));
    CHECK_OK(weft_future_result(f, timeout, &who));
    weft_future_release(f);
    return who;
}

static int coro_ran_on(void *arg, void **result)
{
    *result = ran_on(arg, WEFT_FOREVER);
    return 0;
}

#define RACE_JOBS 20000
static _Atomic int race_runs[4][RACE_JOBS];

typedef struct { weft_pool *p; int id; } racer;

static int count_run(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add((_Atomic int *)arg, 1);
    return 0;
}

static int race_for_own_jobs(void *arg, void **result)
{
    (void)result;
    racer *r = arg;
    rng g;
    rng_seed(&g, 0x5eed + (uint64_t)r->id);
    for (int i = 0; i < RACE_JOBS;) {
        int batch = 1 + (int)below(&g, 3);
        if (batch > RACE_JOBS - i) batch = RACE_JOBS - i;
        weft_future *f[3];
        for (int k = 0; k < batch; k++)
            CHECK_OK(weft_pool_submit(r->p, &f[k], count_run, &race_runs[r->id][i + k]));
        if (below(&g, 8) == 0) {
            int c = weft_future_cancel(f[0]);
            CHECK(c == 0 || c == -EBUSY);
        }
        for (int k = batch - 1; k >= 0; k--) {   /* newest first: the top comes back */
            int rc = weft_future_result(f[k], WEFT_FOREVER, NULL);
            CHECK(rc == 0 || rc == -ECANCELED);
            CHECK_EQ(atomic_load(&race_runs[r->id][i + k]), rc == 0 ? 1 : 0);
            weft_future_release(f[k]);
        }
        i += batch;
    }
    return 0;
}

static void test_caller_runs(void)
{
    void *me = (void *)(uintptr_t)pthread_self();
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 2;
    o.caller_runs = true;
    weft_pool *p;
    CHECK_OK(weft_pool_create_ex(&p, &o));
    /* Both workers busy: the caller runs it, no hand-off to wait for. (With a worker free,
     * which of the two gets the job first is a race.) */
    weft_event *gate;
    CHECK_OK(weft_event_create(&gate));
    weft_future *busy[2];
    for (int i = 0; i < 2; i++) CHECK_OK(weft_pool_submit(p, &busy[i], wait_event, gate));
    while (weft_pool_workers(p) < 2) CHECK_OK(weft_sleep(WEFT_MS));
    CHECK_PTR(ran_on(p, WEFT_FOREVER), me);
    CHECK_OK(weft_event_set(gate));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_future_result(busy[i], WEFT_FOREVER, NULL));
        weft_future_release(busy[i]);
    }
    CHECK(ran_on(p, 10 * WEFT_SEC) != me);            /* a time limit: a worker runs it */
    void *from_coro = NULL;
    CHECK_OK(weft_run(coro_ran_on, p, &from_coro));   /* a coroutine never runs jobs */
    CHECK(from_coro != me);
    /* Cancelled before the wait: never runs, the wait says so. */
    CHECK_OK(weft_event_clear(gate));
    for (int i = 0; i < 2; i++) CHECK_OK(weft_pool_submit(p, &busy[i], wait_event, gate));
    atomic_store(&race_runs[0][0], 0);
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, &f, count_run, &race_runs[0][0]));
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, WEFT_FOREVER, NULL), -ECANCELED);
    weft_future_release(f);
    CHECK_OK(weft_event_set(gate));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_future_result(busy[i], WEFT_FOREVER, NULL));
        weft_future_release(busy[i]);
    }
    CHECK_EQ(atomic_load(&race_runs[0][0]), 0);
    weft_event_destroy(gate);

    /* The race: every job runs once, whoever gets it. */
    memset(race_runs, 0, sizeof race_runs);
    racer r[4];
    weft_thread *th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (racer){ p, i };
        CHECK_OK(weft_thread_start(&th[i], NULL, race_for_own_jobs, &r[i]));
    }
    for (int i = 0; i < 4; i++) join_and_release(th[i]);
    long runs = 0;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < RACE_JOBS; k++) {
            CHECK(atomic_load(&race_runs[i][k]) <= 1);
            runs += atomic_load(&race_runs[i][k]);
        }
    CHECK(runs > 4 * RACE_JOBS * 3 / 4);              /* cancels hit some first jobs only */
    weft_pool_destroy(p);

    /* Without the option the caller never runs it. */
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
    CHECK(ran_on(p, WEFT_FOREVER) != me);
    weft_pool_destroy(p);
}

/* A pool job's future completes without its lock unless somebody watches it (a waiter, a
 * done callback): here every job is watched just as it may be completing. A coroutine
 * submits, adds a done callback and waits (a coroutine's wait always registers a waiter);
 * every callback must run exactly once, every wait must return the job's own result. */
#define OWNED_RACE_MAX 20000
static _Atomic int owned_cb_runs[OWNED_RACE_MAX];

static void owned_cb(weft_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add(&owned_cb_runs[(intptr_t)arg], 1);
}

static int owned_race_main(void *arg, void **result)
{
    weft_pool *p = arg;
    int n = slow_tools() ? 2000 : OWNED_RACE_MAX;
    for (int i = 0; i < n; i++) {
        weft_future *f;
        CHECK_OK(weft_pool_submit(p, &f, square, (void *)(intptr_t)i));
        CHECK_OK(weft_future_add_done_callback(f, owned_cb, (void *)(intptr_t)i));
        void *r = NULL;
        CHECK_OK(weft_future_result(f, WEFT_FOREVER, &r));
        CHECK_EQ((intptr_t)r, (intptr_t)i * i);
        weft_future_release(f);
    }
    *result = (void *)(intptr_t)n;
    return 0;
}

static void test_completion_races_with_watchers(void)
{
    reset();
    weft_pool_opts o = { .max_workers = 2 };
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &o));
    void *n = NULL;
    CHECK_OK(weft_run(owned_race_main, p, &n));
    /* A callback runs on the completing worker after the waiters are woken: only once the
     * workers are gone has every one of them run (Valgrind caught the last one pending). */
    weft_pool_destroy(p);
    for (intptr_t i = 0; i < (intptr_t)n; i++)
        if (atomic_load(&owned_cb_runs[i]) != 1) {
            CHECK_EQ(atomic_load(&owned_cb_runs[i]), 1);
            break;
        }
}

/* caller_runs: a waiter that takes its job back off the queue while another thread cancels
 * it must report the cancel, not 0 — the cancel wins the job's state, and the waiter then
 * waits for the cancel's completion (it returned "done" at once and read the future before
 * the cancel had written it: 1,147 wrong results in 200,000 at 87a0fae). */
static weft_event *help_gate;
static _Atomic(weft_future *) help_target;
static _Atomic int help_go, help_finished;
static _Atomic int help_ran;

/* Spins stay busy natively (the race needs both threads running); Valgrind runs one
 * thread at a time, so there a spin yields. */
static void help_pause(void)
{
    if (under_valgrind()) sched_yield();
}

static int help_blocker(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_event_wait(help_gate, WEFT_FOREVER);
}

static int help_job(void *arg, void **result)
{
    (void)arg;
    atomic_fetch_add(&help_ran, 1);
    *result = (void *)1;
    return 0;
}

static int help_canceller(void *arg, void **result)
{
    (void)arg; (void)result;
    for (;;) {
        weft_future *f;
        while (!(f = atomic_load(&help_target))) {
            if (atomic_load(&help_finished)) return 0;
            help_pause();
        }
        atomic_store(&help_go, 1);
        weft_future_cancel(f);
        atomic_store(&help_target, NULL);
    }
}

static void test_caller_runs_races_with_cancel(void)
{
    int iters = under_valgrind() ? 300 : slow_tools() ? 5000 : 100000;
    CHECK_OK(weft_event_create(&help_gate));
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 1;
    o.caller_runs = true;
    weft_pool *p;
    CHECK_OK(weft_pool_create_ex(&p, &o));
    weft_future *b;                           /* keeps the one worker busy */
    CHECK_OK(weft_pool_submit(p, &b, help_blocker, NULL));
    atomic_store(&help_finished, 0);
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, help_canceller, NULL));
    long wrong = 0, cancelled = 0;
    for (int i = 0; i < iters; i++) {
        weft_future *f;
        CHECK_OK(weft_pool_submit(p, &f, help_job, NULL));
        int before = atomic_load(&help_ran);
        atomic_store(&help_go, 0);
        atomic_store(&help_target, f);
        while (!atomic_load(&help_go)) help_pause();
        void *r = NULL;
        int rc = weft_future_result(f, WEFT_FOREVER, &r);
        if (rc == 0 && (atomic_load(&help_ran) == before || r != (void *)1)) wrong++;
        else if (rc == -ECANCELED) cancelled++;
        else CHECK_OK(rc);
        while (atomic_load(&help_target)) help_pause();
        weft_future_release(f);
    }
    atomic_store(&help_finished, 1);
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
    CHECK_EQ(wrong, 0);
    printf("  %d waits raced a cancel: %ld cancelled, %ld ran\n", iters, cancelled,
           iters - cancelled - wrong);
    weft_event_set(help_gate);
    CHECK_OK(weft_future_result(b, WEFT_FOREVER, NULL));
    weft_future_release(b);
    weft_pool_destroy(p);
    weft_event_destroy(help_gate);
}

/* caller_runs and shutdown (a newcomer's findings). A job its waiting thread runs is one of
 * the pool's jobs: shutdown(wait) returns only after it has run (it returned while the job
 * still ran, and weft_pool_destroy then freed the pool under it), and a shutdown(wait) of
 * the pool from inside it is -EDEADLK (it hung: it waited for a worker that waited on the
 * job). The single worker is kept busy, so the queued job can only run on its waiter. */
typedef struct {
    weft_pool *p;
    weft_event *started;
    _Atomic int done;
    int shutdown_rc;
    bool try_shutdown;                 /* the job calls shutdown(wait) on its own pool */
    pthread_t waiter, runner;          /* who waited on the job, who ran it */
} inline_job;

static int slow_inline_job(void *arg, void **result)
{
    (void)result;
    inline_job *ij = arg;
    ij->runner = pthread_self();
    CHECK_OK(weft_event_set(ij->started));
    if (ij->try_shutdown) ij->shutdown_rc = weft_pool_shutdown(ij->p, true, false);
    CHECK_OK(weft_sleep(100 * WEFT_MS));
    atomic_store(&ij->done, 1);
    return 0;
}

/* Submits fn(arg) to p and waits with no time limit: on a caller_runs pool whose workers
 * are busy, the calling thread runs it. */
static void submit_and_wait(weft_pool *p, weft_fn fn, void *arg)
{
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, &f, fn, arg));
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
}

static int submit_and_wait_inline(void *arg, void **result)
{
    (void)result;
    inline_job *ij = arg;
    ij->waiter = pthread_self();
    submit_and_wait(ij->p, slow_inline_job, ij);   /* runs it: the worker is busy */
    return 0;
}

static void inline_shutdown_case(bool try_shutdown)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 1;
    o.caller_runs = true;
    inline_job ij = { .try_shutdown = try_shutdown, .shutdown_rc = 1 };
    CHECK_OK(weft_pool_create_ex(&ij.p, &o));
    CHECK_OK(weft_event_create(&ij.started));
    weft_event *gate;
    CHECK_OK(weft_event_create(&gate));
    weft_future *busy;
    CHECK_OK(weft_pool_submit(ij.p, &busy, wait_event, gate));
    while (weft_pool_workers(ij.p) < 1) CHECK_OK(weft_sleep(WEFT_MS));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, submit_and_wait_inline, &ij));
    CHECK_OK(weft_event_wait(ij.started, 10 * WEFT_SEC));
    CHECK_OK(weft_event_set(gate));                 /* the worker may leave now */
    CHECK_OK(weft_future_result(busy, WEFT_FOREVER, NULL));
    weft_future_release(busy);
    CHECK_OK(weft_pool_shutdown(ij.p, true, false));
    CHECK_EQ(atomic_load(&ij.done), 1);             /* the inline job has run to its end */
    weft_pool_destroy(ij.p);                        /* nothing may use it now (ASan) */
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, NULL));
    weft_thread_release(t);
    CHECK(pthread_equal(ij.runner, ij.waiter));     /* the case under test: run inline */
    if (try_shutdown) CHECK_RC(ij.shutdown_rc, -EDEADLK);
    weft_event_destroy(gate);
    weft_event_destroy(ij.started);
}

/* Nested: a thread runs a job of P as its waiter, that job waits on a job of Q and runs it
 * too, and that one shuts P down with wait: -EDEADLK (only the innermost pool was
 * remembered, and the shutdown waited for its own thread: a reviewer's finding). Both
 * workers are kept busy, so both jobs can only run on the waiting thread. */
static weft_pool *nest_p, *nest_q;
static _Atomic int nest_rc = 1;

static int nest_inner(void *arg, void **result)
{
    (void)arg; (void)result;
    atomic_store(&nest_rc, weft_pool_shutdown(nest_p, true, false));
    return 0;
}

static int nest_outer(void *arg, void **result)
{
    (void)arg; (void)result;
    submit_and_wait(nest_q, nest_inner, NULL);
    return 0;
}

static int nest_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    submit_and_wait(nest_p, nest_outer, NULL);
    return 0;
}

static void test_caller_runs_nested_shutdown(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 1;
    o.caller_runs = true;
    CHECK_OK(weft_pool_create_ex(&nest_p, &o));
    CHECK_OK(weft_pool_create_ex(&nest_q, &o));
    weft_event *gate;
    CHECK_OK(weft_event_create(&gate));
    weft_future *bp, *bq;
    CHECK_OK(weft_pool_submit(nest_p, &bp, wait_event, gate));
    CHECK_OK(weft_pool_submit(nest_q, &bq, wait_event, gate));
    while (weft_pool_workers(nest_p) < 1 || weft_pool_workers(nest_q) < 1)
        CHECK_OK(weft_sleep(WEFT_MS));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, nest_waiter, NULL));
    for (int i = 0; i < 1000 && atomic_load(&nest_rc) == 1; i++) CHECK_OK(weft_sleep(WEFT_MS));
    CHECK_RC(atomic_load(&nest_rc), -EDEADLK);       /* 1: still waiting for itself */
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, NULL));
    weft_thread_release(t);
    CHECK_OK(weft_event_set(gate));
    weft_future_release(bp);
    weft_future_release(bq);
    weft_pool_destroy(nest_q);
    weft_pool_destroy(nest_p);
    weft_event_destroy(gate);
}

static void test_caller_runs_shutdown(void)
{
    inline_shutdown_case(false);
    inline_shutdown_case(true);
    test_caller_runs_nested_shutdown();
}

/* A done callback of a job that is done cannot be taken back: it runs (or is running). An
 * owned completion publishes DONE before it takes the lock to run the callbacks, and a
 * remove in between found the callback still listed and took it (the perturbation point
 * future.owned widens that window in make test-perturb). */
static _Atomic int removed_cb_runs;

static void removed_cb(weft_future *f, void *arg)
{
    (void)f; (void)arg;
    atomic_fetch_add(&removed_cb_runs, 1);
}

static void test_remove_callback_of_a_done_job(void)
{
    weft_pool_opts o = { .max_workers = 1 };
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &o));
    int n = under_valgrind() ? 300 : slow_tools() ? 2000 : 20000, kept = 0;
    atomic_store(&removed_cb_runs, 0);
    for (int i = 0; i < n; i++) {
        weft_future *f;
        CHECK_OK(weft_pool_submit(p, &f, square, (void *)(intptr_t)2));
        CHECK_OK(weft_future_add_done_callback(f, removed_cb, NULL));
        while (!weft_future_done(f)) sched_yield();
        int removed = weft_future_remove_done_callback(f, removed_cb, NULL);
        CHECK_EQ(removed, 0);
        if (removed == 0) kept++;
        CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
        weft_future_release(f);
    }
    weft_pool_destroy(p);                      /* the workers are gone: every callback ran */
    CHECK_EQ(atomic_load(&removed_cb_runs), kept);
}

static void test_bad_arguments(void)
{
    weft_pool *p;
    CHECK_RC(weft_pool_create(NULL, NULL), -EINVAL);
    CHECK_RC(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = -1 }), -EINVAL);
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.idle_timeout = -5;
    CHECK_RC(weft_pool_create_ex(&p, &o), -EINVAL);
    CHECK_OK(weft_pool_create(&p, NULL));
    CHECK_RC(weft_pool_submit(NULL, NULL, square, NULL), -EINVAL);
    CHECK_RC(weft_pool_submit(p, NULL, NULL, NULL), -EINVAL);
    CHECK_RC(weft_pool_shutdown(NULL, true, false), -EINVAL);
    CHECK_RC(weft_to_thread(NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_pool_workers(NULL), 0);
    weft_pool_destroy(NULL);
    weft_pool_destroy(p);                      /* never used: no thread ever started */
}

int main(void)
{
    RUN(test_submit_and_result_from_a_thread);
    RUN(test_coroutine_waits_without_blocking_its_loop);
    RUN(test_max_workers_bounds_concurrency);
    RUN(test_initializer_finalizer_names_retirement);
    RUN(test_failing_initializer_breaks_the_pool);
    RUN(test_cancellation_rules);
    RUN(test_shutdown_semantics);
    RUN(test_submit_from_a_job);
    RUN(test_destroy_from_a_job);
    RUN(test_recursive_fan_out_completes);
    RUN(test_compensation_for_a_running_job);
    RUN(test_map);
    RUN(test_map_cut_by_a_deadline_scope);
    RUN(test_to_thread);
    RUN(test_detached_jobs);
    RUN(test_caller_runs);
    RUN(test_completion_races_with_watchers);
    RUN(test_caller_runs_races_with_cancel);
    RUN(test_caller_runs_shutdown);
    RUN(test_remove_callback_of_a_done_job);
    RUN(test_bad_arguments);
    return check_done();
}
