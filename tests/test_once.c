/* weft_once_call: exactly once under contention from threads and coroutines on several
 * loops, failures retried by a later caller, recursion, cancelled waiters, stress. */
#include "check.h"

#include <stdatomic.h>


static int count_fn(void *arg, void **result)
{
    CHECK(result != NULL);
    CHECK(*result == NULL);
    atomic_fetch_add((atomic_int *)arg, 1);
    *result = (void *)1;
    return 0;
}

static int fail_fn(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add((atomic_int *)arg, 1);
    return -EIO;
}

static int positive_fn(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 7;
}

static void test_basics(void)
{
    weft_once once = WEFT_ONCE_INIT;
    atomic_int n = 0;
    CHECK_RC(weft_once_call(NULL, count_fn, &n), -EINVAL);
    CHECK_RC(weft_once_call(&once, NULL, &n), -EINVAL);
    CHECK_OK(weft_once_call(&once, count_fn, &n));
    CHECK_EQ(atomic_load(&n), 1);
    for (int i = 0; i < 5; i++) CHECK_OK(weft_once_call(&once, count_fn, &n));
    CHECK_OK(weft_once_call(&once, fail_fn, &n));    /* done: fn is not even looked at */
    CHECK_EQ(atomic_load(&n), 1);
    CHECK_RC(weft_once_call(&once, NULL, &n), -EINVAL);

    /* A failure leaves it undone: the next caller runs fn again. */
    weft_once o2 = WEFT_ONCE_INIT;
    atomic_int fails = 0;
    CHECK_RC(weft_once_call(&o2, fail_fn, &fails), -EIO);
    CHECK_RC(weft_once_call(&o2, fail_fn, &fails), -EIO);
    CHECK_EQ(atomic_load(&fails), 2);
    atomic_store(&n, 0);
    CHECK_OK(weft_once_call(&o2, count_fn, &n));
    CHECK_OK(weft_once_call(&o2, count_fn, &n));
    CHECK_OK(weft_once_call(&o2, fail_fn, &fails));
    CHECK_EQ(atomic_load(&n), 1);
    CHECK_EQ(atomic_load(&fails), 2);

    /* A positive return is a success; the call returns 0. */
    weft_once o3 = WEFT_ONCE_INIT;
    atomic_store(&n, 0);
    CHECK_OK(weft_once_call(&o3, positive_fn, &n));
    CHECK_OK(weft_once_call(&o3, positive_fn, &n));
    CHECK_EQ(atomic_load(&n), 1);

    /* A once inside a zeroed struct (static storage) works without WEFT_ONCE_INIT too. */
    static weft_once zeroed;
    atomic_store(&n, 0);
    CHECK_OK(weft_once_call(&zeroed, count_fn, &n));
    CHECK_OK(weft_once_call(&zeroed, count_fn, &n));
    CHECK_EQ(atomic_load(&n), 1);
}

/* ---- recursion -------------------------------------------------------------------------- */

typedef struct {
    weft_once once;
    int inner_rc;
    int runs;
} recursive;

static int calls_itself(void *arg, void **result)
{
    (void)result;
    recursive *r = arg;
    r->runs++;
    r->inner_rc = weft_once_call(&r->once, calls_itself, r);
    return 0;
}

static int recursion_main(void *arg, void **result)
{
    (void)arg; (void)result;
    recursive r = { WEFT_ONCE_INIT, 0, 0 };
    CHECK_OK(weft_once_call(&r.once, calls_itself, &r));
    CHECK_RC(r.inner_rc, -EDEADLK);
    CHECK_EQ(r.runs, 1);
    CHECK_OK(weft_once_call(&r.once, calls_itself, &r));
    CHECK_EQ(r.runs, 1);
    return 0;
}

static void test_recursive_call_deadlk(void)
{
    CHECK_OK(recursion_main(NULL, NULL));       /* from a thread */
    CHECK_OK(weft_run(recursion_main, NULL, NULL));     /* from a coroutine */
}

/* fn's failure after a recursive -EDEADLK still leaves it undone. */
static int calls_itself_and_fails(void *arg, void **result)
{
    (void)result;
    recursive *r = arg;
    r->runs++;
    r->inner_rc = weft_once_call(&r->once, calls_itself_and_fails, r);
    return r->runs == 1 ? -EAGAIN : 0;
}

static void test_recursive_then_fail(void)
{
    recursive r = { WEFT_ONCE_INIT, 0, 0 };
    CHECK_RC(weft_once_call(&r.once, calls_itself_and_fails, &r), -EAGAIN);
    CHECK_RC(r.inner_rc, -EDEADLK);
    CHECK_OK(weft_once_call(&r.once, calls_itself_and_fails, &r));
    CHECK_RC(r.inner_rc, -EDEADLK);
    CHECK_EQ(r.runs, 2);
}

/* ---- waiters from every context --------------------------------------------------------- */

/* fn blocks until released (an event), so that every other caller has to wait for it. */
typedef struct {
    weft_once once;
    weft_event *go;
    atomic_int runs;
    atomic_int fail_first;      /* how many runs fail (-EIO) */
    atomic_int started;         /* callers that called weft_once_call */
    atomic_int ok, failed, other;
    atomic_int running;
    int value;                  /* set by fn; read by callers after a 0 */
} gated;

static int gated_fn(void *arg, void **result)
{
    (void)result;
    gated *g = arg;
    CHECK_EQ(atomic_fetch_add(&g->running, 1), 0);   /* never two runs at once */
    int n = atomic_fetch_add(&g->runs, 1);
    int rc = weft_event_wait(g->go, 20 * WEFT_SEC);
    if (rc == 0 && n < atomic_load(&g->fail_first)) rc = -EIO;
    if (rc == 0) g->value = 42;
    atomic_fetch_sub(&g->running, 1);
    return rc;
}

static int gated_caller(void *arg, void **result)
{
    (void)result;
    gated *g = arg;
    atomic_fetch_add(&g->started, 1);
    int rc = weft_once_call(&g->once, gated_fn, g);
    if (rc == 0) {
        CHECK_EQ(g->value, 42);
        atomic_fetch_add(&g->ok, 1);
    } else if (rc == -EIO) {
        atomic_fetch_add(&g->failed, 1);
    } else {
        atomic_fetch_add(&g->other, 1);
    }
    return 0;
}

enum { CALLERS = 2 + 2 * 4 };   /* 2 threads, 4 coroutines on each of two loops */

static void run_gated(gated *g)
{
    CHECK_OK(weft_event_create(&g->go));
    spawn_job four = { 4, gated_caller, g };
    loop_job loop = { spawn_all_and_wait, &four };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    CHECK_OK(weft_thread_start(&t[2], NULL, gated_caller, g));
    CHECK_OK(weft_thread_start(&t[3], NULL, gated_caller, g));
    while (atomic_load(&g->started) < CALLERS) weft_sleep(WEFT_MS);
    weft_sleep(10 * WEFT_MS);                 /* let them all reach their wait */
    CHECK_EQ(atomic_load(&g->runs), 1);
    CHECK_EQ(atomic_load(&g->ok) + atomic_load(&g->failed), 0);
    CHECK_OK(weft_event_set(g->go));
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    weft_event_destroy(g->go);
}

static void test_waiters_get_zero(void)
{
    static gated g;
    memset(&g, 0, sizeof g);
    run_gated(&g);
    CHECK_EQ(atomic_load(&g.runs), 1);
    CHECK_EQ(atomic_load(&g.ok), CALLERS);
    CHECK_EQ(atomic_load(&g.failed), 0);
    CHECK_EQ(atomic_load(&g.other), 0);
}

/* The first runs fail: each failing run's caller gets the error, the next caller (a waiter
 * or a newcomer) runs fn in turn; once one succeeds everybody else gets 0. */
static void test_failures_retried_by_waiters(void)
{
    static gated g;
    for (int fails = 1; fails <= 3; fails += 2) {
        memset(&g, 0, sizeof g);
        atomic_store(&g.fail_first, fails);
        run_gated(&g);
        CHECK_EQ(atomic_load(&g.runs), fails + 1);
        CHECK_EQ(atomic_load(&g.failed), fails);
        CHECK_EQ(atomic_load(&g.ok), CALLERS - fails);
        CHECK_EQ(atomic_load(&g.other), 0);
    }
}

/* ---- a waiting coroutine is suspended alone; cancel -------------------------------------- */

typedef struct {
    weft_once once;
    weft_event *go;
    ticker_state tk;
    atomic_int runs;
} only_me;

static int slow_init(void *arg, void **result)
{
    (void)result;
    only_me *o = arg;
    atomic_fetch_add(&o->runs, 1);
    return weft_event_wait(o->go, 20 * WEFT_SEC);
}

static int coro_waits_ticking(void *arg, void **result)
{
    (void)result;
    only_me *o = arg;
    ticker_start(&o->tk);
    ticker_wait_begins(&o->tk);
    CHECK_OK(weft_once_call(&o->once, slow_init, o));
    CHECK(ticker_ticks_in_wait(&o->tk) >= 5);
    ticker_stop(&o->tk);
    return 0;
}

static int run_slow_init(void *arg, void **result)
{
    (void)result;
    only_me *o = arg;
    return weft_once_call(&o->once, slow_init, o);
}

static void test_coroutine_wait_suspends_only_it(void)
{
    only_me o = { .once = WEFT_ONCE_INIT };
    CHECK_OK(weft_event_create(&o.go));
    weft_thread *runner;
    CHECK_OK(weft_thread_start(&runner, NULL, run_slow_init, &o));   /* a thread runs fn */
    while (atomic_load(&o.runs) == 0) weft_sleep(WEFT_MS);
    loop_job job = { coro_waits_ticking, &o };
    weft_thread *t = start_loop_thread(&job);
    ticker_await_ticks_in_wait(&o.tk, 5);
    CHECK_OK(weft_event_set(o.go));
    join_and_release(t);
    join_and_release(runner);
    CHECK_EQ(atomic_load(&o.runs), 1);
    weft_event_destroy(o.go);
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    only_me o = { .once = WEFT_ONCE_INIT };
    CHECK_OK(weft_event_create(&o.go));
    weft_future *runner, *waiter, *late;
    CHECK_OK(weft_spawn(&runner, run_slow_init, &o));
    CHECK_OK(weft_spawn(&waiter, run_slow_init, &o));
    CHECK_OK(weft_yield());                     /* runner in fn, waiter waiting */
    CHECK_EQ(atomic_load(&o.runs), 1);
    CHECK_OK(weft_future_cancel(waiter));
    CHECK_RC(weft_future_result(waiter, 5 * WEFT_SEC, NULL), -ECANCELED);
    CHECK(!weft_future_done(runner));           /* fn still runs */
    CHECK_OK(weft_spawn(&late, run_slow_init, &o));
    CHECK_OK(weft_yield());                     /* another waiter, after the cancelled one */
    CHECK_OK(weft_event_set(o.go));
    CHECK_OK(weft_future_result(runner, 5 * WEFT_SEC, NULL));
    CHECK_OK(weft_future_result(late, 5 * WEFT_SEC, NULL));
    CHECK_EQ(atomic_load(&o.runs), 1);
    weft_future_release(runner);
    weft_future_release(waiter);
    weft_future_release(late);

    /* The coroutine running fn is cancelled: fn's wait fails, fn fails, the once stays
     * undone and a waiter runs fn in turn. */
    only_me p = { .once = WEFT_ONCE_INIT };
    CHECK_OK(weft_event_create(&p.go));
    CHECK_OK(weft_spawn(&runner, run_slow_init, &p));
    CHECK_OK(weft_spawn(&waiter, run_slow_init, &p));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(runner));
    CHECK_RC(weft_future_result(runner, 5 * WEFT_SEC, NULL), -ECANCELED);   /* fn's error */
    CHECK_OK(weft_yield());
    CHECK_EQ(atomic_load(&p.runs), 2);          /* the waiter runs it now */
    CHECK(!weft_future_done(waiter));
    CHECK_OK(weft_event_set(p.go));
    CHECK_OK(weft_future_result(waiter, 5 * WEFT_SEC, NULL));
    CHECK_EQ(atomic_load(&p.runs), 2);
    weft_future_release(runner);
    weft_future_release(waiter);
    weft_event_destroy(o.go);
    weft_event_destroy(p.go);
    return 0;
}

static void test_cancel(void)
{
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

/* A waiting coroutine on one loop is cancelled from another thread. */
static void test_cancel_across_threads(void)
{
    only_me o = { .once = WEFT_ONCE_INIT };
    CHECK_OK(weft_event_create(&o.go));
    weft_thread *runner;
    CHECK_OK(weft_thread_start(&runner, NULL, run_slow_init, &o));
    while (atomic_load(&o.runs) == 0) weft_sleep(WEFT_MS);
    parked_waiter x = { run_slow_init, &o, NULL, 0 };
    loop_job job = { park_and_expect_cancel, &x };
    weft_thread *t = start_loop_thread(&job);
    while (!atomic_load(&x.ready)) weft_sleep(WEFT_MS);
    CHECK_OK(weft_future_cancel(x.f));
    join_and_release(t);
    CHECK(weft_thread_is_alive(runner));
    CHECK_OK(weft_event_set(o.go));
    join_and_release(runner);
    CHECK_OK(weft_once_call(&o.once, slow_init, &o));
    CHECK_EQ(atomic_load(&o.runs), 1);
    weft_event_destroy(o.go);
}

/* The thread's own context runs fn (blocking), while its own loop's coroutines wait for it;
 * and the other way round, a coroutine of its loop runs fn while the thread waits. */
static int sleepy_init(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add((atomic_int *)arg, 1);
    return weft_sleep(20 * WEFT_MS);
}

typedef struct {
    weft_once once;
    atomic_int runs;
} simple;

static int simple_caller(void *arg, void **result)
{
    (void)result;
    simple *s = arg;
    return weft_once_call(&s->once, sleepy_init, &s->runs);
}

static void test_thread_and_its_own_coroutines(void)
{
    simple s = { WEFT_ONCE_INIT, 0 };
    weft_future *f[3];
    for (int i = 0; i < 3; i++) CHECK_OK(weft_spawn(&f[i], simple_caller, &s));
    CHECK_OK(weft_once_call(&s.once, sleepy_init, &s.runs));   /* they run during the sleep */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_future_result(f[i], 5 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
    CHECK_EQ(atomic_load(&s.runs), 1);

    simple t = { WEFT_ONCE_INIT, 0 };
    CHECK_OK(weft_spawn(&f[0], simple_caller, &t));
    CHECK_OK(weft_yield());                     /* the coroutine is in fn now */
    CHECK_EQ(atomic_load(&t.runs), 1);
    CHECK_OK(weft_once_call(&t.once, sleepy_init, &t.runs));   /* waits: not -EDEADLK */
    CHECK(weft_future_done(f[0]));
    CHECK_OK(weft_future_result(f[0], 0, NULL));
    weft_future_release(f[0]);
    CHECK_EQ(atomic_load(&t.runs), 1);
}

/* ---- stress: many onces, every kind of caller, random failures, yields and cancels --------
 * Workers (2 threads, 12 coroutines on each of two loops) walk the same array of onces in
 * step, so that several of them hit each fresh once together; some fns fail, fns yield and
 * sleep, coroutines get cancelled. Per once: at most one successful run, runs never overlap,
 * every -EIO a caller saw is one failed run, and afterwards it is done or runs fn once more. */
enum { ONCES = 512 };

typedef struct {
    weft_once once[ONCES];
    atomic_int runs[ONCES], fails[ONCES], eio[ONCES], successes[ONCES];
    atomic_int value[ONCES];
    atomic_int running[ONCES];
    atomic_long calls, ok, errs, cancelled;
    unsigned fail_pct;
    atomic_int finished;        /* workers done with the array */
} storm;

typedef struct {
    storm *s;
    int i;
} storm_arg;

static int storm_fn(void *arg, void **result)
{
    (void)result;
    storm_arg *a = arg;
    storm *s = a->s;
    int i = a->i;
    CHECK_EQ(atomic_fetch_add(&s->running[i], 1), 0);
    CHECK_EQ(atomic_load(&s->value[i]), 0);
    atomic_fetch_add(&s->runs[i], 1);
    unsigned seed = (unsigned)weft_now() ^ (unsigned)i;
    int rc = 0;
    if (rnd(&seed) % 2) rc = weft_yield();
    if (rc == 0 && rnd(&seed) % 8 == 0) rc = weft_sleep((int64_t)(rnd(&seed) % 100) * WEFT_US);
    if (rc == 0 && rnd(&seed) % 100 < s->fail_pct) {
        rc = -EIO;
        atomic_fetch_add(&s->eio[i], 1);
    }
    if (rc == 0) {
        atomic_store(&s->value[i], 1);
        atomic_fetch_add(&s->successes[i], 1);
    } else {
        atomic_fetch_add(&s->fails[i], 1);
    }
    atomic_fetch_sub(&s->running[i], 1);
    return rc;
}

static int storm_call(storm *s, int i)
{
    storm_arg a = { s, i };
    atomic_fetch_add(&s->calls, 1);
    int rc = weft_once_call(&s->once[i], storm_fn, &a);
    if (rc == 0) {
        CHECK_EQ(atomic_load(&s->value[i]), 1);
        atomic_fetch_add(&s->ok, 1);
    } else if (rc == -ECANCELED) {
        atomic_fetch_add(&s->cancelled, 1);
    } else {
        CHECK_RC(rc, -EIO);
        atomic_fetch_add(&s->errs, 1);
    }
    return rc;
}

static int storm_worker(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    for (int pos = 0; pos < ONCES; pos++) {
        if (storm_call(s, pos) == -ECANCELED && weft_cancelled()) break;
        int ahead = pos + (int)(rnd(&seed) % 4);
        if (ahead < ONCES && storm_call(s, ahead) == -ECANCELED && weft_cancelled()) break;
        if (rnd(&seed) % 4 == 0 && weft_yield() == -ECANCELED) break;
    }
    atomic_fetch_add(&s->finished, 1);
    return 0;
}

enum { STORM_CORO = 12 };

static int storm_loop(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    weft_future *f[STORM_CORO];
    for (int i = 0; i < STORM_CORO; i++) CHECK_OK(weft_spawn(&f[i], storm_worker, s));
    while (atomic_load(&s->finished) < 2 + 2 * STORM_CORO) {
        weft_sleep((int64_t)(rnd(&seed) % 500) * WEFT_US);
        if (rnd(&seed) % 4 == 0) weft_future_cancel(f[rnd(&seed) % STORM_CORO]);
    }
    for (int i = 0; i < STORM_CORO; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

static void storm_round(storm *s, unsigned fail_pct, long totals[4])
{
    memset(s, 0, sizeof *s);
    s->fail_pct = fail_pct;
    run_on_two_threads_and_two_loops(storm_worker, s, storm_loop, s);
    long fails = 0, eio = 0, done = 0;
    for (int i = 0; i < ONCES; i++) {
        CHECK(atomic_load(&s->successes[i]) <= 1);                  /* never twice */
        CHECK_EQ(atomic_load(&s->runs[i]),
                 atomic_load(&s->successes[i]) + atomic_load(&s->fails[i]));
        CHECK_EQ(atomic_load(&s->value[i]), atomic_load(&s->successes[i]));
        fails += atomic_load(&s->fails[i]);
        eio += atomic_load(&s->eio[i]);
        done += atomic_load(&s->successes[i]);
    }
    /* Every failed run's caller got its error: -EIO exactly as often as fn failed so, and
     * -ECANCELED for runs whose own wait was cancelled (plus cancelled waiters). */
    CHECK_EQ(atomic_load(&s->errs), eio);
    CHECK(atomic_load(&s->cancelled) >= fails - eio);
    CHECK_EQ(atomic_load(&s->calls),
             atomic_load(&s->ok) + atomic_load(&s->errs) + atomic_load(&s->cancelled));
    if (fail_pct == 0) CHECK_EQ(eio, 0);
    if (fail_pct == 100) CHECK_EQ(done, 0);
    /* Afterwards a once that is done stays done (fn not run), one that is not runs fn now,
     * exactly once. */
    s->fail_pct = 0;
    for (int i = 0; i < ONCES; i++) {
        int before = atomic_load(&s->runs[i]);
        int had = atomic_load(&s->successes[i]);
        CHECK_OK(storm_call(s, i));
        CHECK_OK(storm_call(s, i));
        CHECK_EQ(atomic_load(&s->runs[i]), before + (had ? 0 : 1));
        CHECK_EQ(atomic_load(&s->successes[i]), 1);
    }
    totals[0] += atomic_load(&s->calls);
    totals[1] += fails;
    totals[2] += atomic_load(&s->cancelled);
    totals[3]++;
}

static void test_stress(void)
{
    static storm s;
    int64_t d = (slow_tools() ? 300 : 600) * WEFT_MS;
    static const unsigned pct[] = { 0, 30, 100 };
    for (int k = 0; k < 3; k++) {
        long totals[4] = { 0 };
        int64_t until = weft_now() + d;
        while (weft_now() < until) storm_round(&s, pct[k], totals);
        printf("   fail %3u%%: %ld rounds, calls %ld, failed runs %ld, cancelled %ld\n", pct[k],
               totals[3], totals[0], totals[1], totals[2]);
    }
}

int main(void)
{
    RUN(test_basics);
    RUN(test_recursive_call_deadlk);
    RUN(test_recursive_then_fail);
    RUN(test_waiters_get_zero);
    RUN(test_failures_retried_by_waiters);
    RUN(test_coroutine_wait_suspends_only_it);
    RUN(test_cancel);
    RUN(test_cancel_across_threads);
    RUN(test_thread_and_its_own_coroutines);
    RUN(test_stress);
    return check_done();
}
