/* Futures: completion, waiting from every context, cancellation, callbacks, references. */
#include "check.h"
#include "core/internal.h"   /* WEFT_DEBUG */

#include <stdatomic.h>

static void test_plain_future(void)
{
    weft_future *f;
    CHECK_OK(weft_future_create(&f));
    CHECK(!weft_future_done(f));
    void *r = (void *)1;
    CHECK_RC(weft_future_result(f, 0, &r), -ETIMEDOUT);
    CHECK_PTR(r, (void *)1);
    CHECK_RC(weft_future_result(f, 10 * WEFT_MS, &r), -ETIMEDOUT);
    CHECK_RC(weft_future_result(f, -3, &r), -EINVAL);
    CHECK_OK(weft_future_set_result(f, (void *)0xbeef));
    CHECK(weft_future_done(f));
    CHECK(!weft_future_cancelled(f));
    CHECK_OK(weft_future_result(f, 0, &r));
    CHECK_PTR(r, (void *)0xbeef);
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    CHECK_RC(weft_future_set_result(f, NULL), -EBUSY);
    CHECK_RC(weft_future_set_error(f, -EIO), -EBUSY);
    CHECK_RC(weft_future_cancel(f), -EBUSY);
    weft_future_release(f);

    CHECK_OK(weft_future_create(&f));
    CHECK_RC(weft_future_set_error(f, 5), -EINVAL);
    CHECK_RC(weft_future_set_error(f, 0), -EINVAL);
    CHECK_OK(weft_future_set_error(f, -EIO));
    r = NULL;
    CHECK_RC(weft_future_result(f, 0, &r), -EIO);
    CHECK(r == NULL);
    weft_future_release(f);

    CHECK_OK(weft_future_create(&f));
    CHECK_OK(weft_future_cancel(f));
    CHECK(weft_future_cancelled(f));
    CHECK_RC(weft_future_result(f, 0, NULL), -ECANCELED);
    CHECK_RC(weft_future_set_result(f, NULL), -EBUSY);
    weft_future_retain(f);
    weft_future_release(f);
    weft_future_release(f);

    CHECK_RC(weft_future_create(NULL), -EINVAL);
    CHECK_RC(weft_future_set_result(NULL, NULL), -EINVAL);
    CHECK_RC(weft_future_set_error(NULL, -1), -EINVAL);
    CHECK(!weft_future_done(NULL));
    CHECK(!weft_future_cancelled(NULL));
    weft_future_retain(NULL);
    weft_future_release(NULL);
}

static int noop(void *arg, void **result) { (void)arg; (void)result; return 0; }

static void test_task_is_not_user_completable(void)
{
    weft_future *t;
    CHECK_OK(weft_spawn(&t, noop, NULL));
    CHECK_RC(weft_future_set_result(t, NULL), -EINVAL);
    CHECK_RC(weft_future_set_error(t, -EIO), -EINVAL);
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, NULL));
    weft_future_release(t);
}

/* Callbacks: in order, exactly once, at once when already done, removable. */
static char trace[64];
static int ntrace;

static void cb(weft_future *f, void *arg)
{
    CHECK(weft_future_done(f));
    trace[ntrace++] = (char)(intptr_t)arg;
}

static void test_callbacks(void)
{
    weft_future *f;
    ntrace = 0;
    CHECK_OK(weft_future_create(&f));
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'a'));
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'b'));
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'x'));
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'c'));
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'x'));
    CHECK_EQ(weft_future_remove_done_callback(f, cb, (void *)'x'), 2);
    CHECK_EQ(weft_future_remove_done_callback(f, cb, (void *)'z'), 0);
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'d'));
    CHECK_EQ(ntrace, 0);
    CHECK_OK(weft_future_set_result(f, NULL));
    CHECK_EQ(ntrace, 4);
    CHECK(memcmp(trace, "abcd", 4) == 0);
    CHECK_OK(weft_future_add_done_callback(f, cb, (void *)'e'));   /* runs at once */
    CHECK_EQ(ntrace, 5);
    CHECK_EQ(weft_future_remove_done_callback(f, cb, (void *)'e'), 0);
    CHECK_RC(weft_future_add_done_callback(f, NULL, NULL), -EINVAL);
    CHECK_RC(weft_future_add_done_callback(NULL, cb, NULL), -EINVAL);
    CHECK_RC(weft_future_remove_done_callback(NULL, cb, NULL), -EINVAL);
    weft_future_release(f);
}

/* One future, waited for by threads and by coroutines on two loops, completed by a thread. */
typedef struct {
    weft_future *f;
    atomic_int waiting, got;
} fan;

static int wait_fan(void *arg, void **result)
{
    (void)result;
    fan *x = arg;
    atomic_fetch_add(&x->waiting, 1);
    void *r = NULL;
    CHECK_OK(weft_future_result(x->f, 10 * WEFT_SEC, &r));
    CHECK_PTR(r, (void *)0xfeed);
    atomic_fetch_add(&x->got, 1);
    return 0;
}

static void test_waiters_of_every_kind(void)
{
    fan x = { 0 };
    CHECK_OK(weft_future_create(&x.f));
    spawn_job four = { 4, wait_fan, &x };
    loop_job loop = { spawn_all_and_wait, &four };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    CHECK_OK(weft_thread_start(&t[2], NULL, wait_fan, &x));
    CHECK_OK(weft_thread_start(&t[3], NULL, wait_fan, &x));
    while (atomic_load(&x.waiting) < 10) weft_sleep(WEFT_MS);
    weft_sleep(5 * WEFT_MS);
    CHECK_EQ(atomic_load(&x.got), 0);
    CHECK_OK(weft_future_set_result(x.f, (void *)0xfeed));
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    CHECK_EQ(atomic_load(&x.got), 10);
    weft_future_release(x.f);
}

/* A thread waits on a coroutine of another thread's loop, and cancels another one there. */
typedef struct {
    weft_future *slow, *forever;
    weft_event *ready;
} remote;

static int slow_task(void *arg, void **result)
{
    (void)arg;
    weft_sleep(20 * WEFT_MS);
    *result = (void *)0x51;
    return 0;
}

static int forever_task(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_sleep(WEFT_FOREVER);
}

static int remote_main(void *arg, void **result)
{
    (void)result;
    remote *r = arg;
    CHECK_OK(weft_spawn(&r->slow, slow_task, NULL));
    CHECK_OK(weft_spawn(&r->forever, forever_task, NULL));
    CHECK_OK(weft_event_set(r->ready));
    CHECK_OK(weft_future_result(r->slow, WEFT_FOREVER, NULL));
    /* forever ends when the other thread cancels it */
    CHECK_RC(weft_future_result(r->forever, 10 * WEFT_SEC, NULL), -ECANCELED);
    return 0;
}

static void test_cross_thread_wait_and_cancel(void)
{
    remote r = { 0 };
    CHECK_OK(weft_event_create(&r.ready));
    loop_job job = { remote_main, &r };
    weft_thread *t = start_loop_thread(&job);
    CHECK_OK(weft_event_wait(r.ready, 10 * WEFT_SEC));
    void *res = NULL;
    CHECK_OK(weft_future_result(r.slow, 10 * WEFT_SEC, &res));
    CHECK_PTR(res, (void *)0x51);
    CHECK_OK(weft_future_cancel(r.forever));           /* posted to the other loop */
    CHECK_RC(weft_future_result(r.forever, 10 * WEFT_SEC, NULL), -ECANCELED);
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, NULL));
    weft_future_release(r.slow);
    weft_future_release(r.forever);
    weft_thread_release(t);
    weft_event_destroy(r.ready);
}

/* Stress, bounded in time: futures completed by threads while coroutines and threads wait
 * with random timeouts, and some get cancelled; every callback runs exactly once and every
 * future ends in exactly one way. */
#define NF 256

typedef struct {
    weft_future *f[NF];
    atomic_int callbacks[NF];
    atomic_int next_complete;
    atomic_long waits_ok, waits_timeout;
    atomic_int stop;
} hub;


static void count_cb(weft_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static int completer(void *arg, void **result)
{
    (void)result;
    hub *h = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    int i;
    while ((i = atomic_fetch_add(&h->next_complete, 1)) < NF) {
        int rc = rnd(&seed) % 5 == 0 ? weft_future_cancel(h->f[i])
                                     : weft_future_set_result(h->f[i], (void *)(intptr_t)i);
        CHECK_OK(rc);
        weft_sleep((int64_t)(rnd(&seed) % 50) * WEFT_US);
    }
    return 0;
}

static int hub_waiter(void *arg, void **result)
{
    (void)result;
    hub *h = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (!atomic_load(&h->stop)) {
        int i = (int)(rnd(&seed) % NF);
        void *r = NULL;
        int rc = weft_future_result(h->f[i], (int64_t)(rnd(&seed) % 200) * WEFT_US, &r);
        if (rc == -ETIMEDOUT) { atomic_fetch_add(&h->waits_timeout, 1); continue; }
        CHECK(rc == 0 || rc == -ECANCELED);
        if (rc == 0) CHECK_EQ((intptr_t)r, i);
        atomic_fetch_add(&h->waits_ok, 1);
        if (rnd(&seed) % 3 == 0) weft_yield();
    }
    return 0;
}

static void test_stress(void)
{
    int rounds = slow_tools() ? 3 : 20;
    long total_ok = 0, total_to = 0;
    for (int round = 0; round < rounds; round++) {
        hub *h = calloc(1, sizeof *h);
        for (int i = 0; i < NF; i++) {
            CHECK_OK(weft_future_create(&h->f[i]));
            CHECK_OK(weft_future_add_done_callback(h->f[i], count_cb, &h->callbacks[i]));
        }
        spawn_job eight = { 8, hub_waiter, h };
        loop_job loop = { spawn_all_and_wait, &eight };
        weft_thread *t[5];
        t[0] = start_loop_thread(&loop);
        t[1] = start_loop_thread(&loop);
        CHECK_OK(weft_thread_start(&t[2], NULL, hub_waiter, h));
        CHECK_OK(weft_thread_start(&t[3], NULL, completer, h));
        CHECK_OK(weft_thread_start(&t[4], NULL, completer, h));
        CHECK_OK(weft_thread_join(t[3], WEFT_FOREVER, NULL));
        CHECK_OK(weft_thread_join(t[4], WEFT_FOREVER, NULL));
        atomic_store(&h->stop, 1);
        for (int i = 0; i < 5; i++) join_and_release(t[i]);
        for (int i = 0; i < NF; i++) {
            CHECK(weft_future_done(h->f[i]));
            CHECK_EQ(atomic_load(&h->callbacks[i]), 1);
            weft_future_release(h->f[i]);
        }
        total_ok += atomic_load(&h->waits_ok);
        total_to += atomic_load(&h->waits_timeout);
        free(h);
    }
    printf("   waits done %ld, timed out %ld\n", total_ok, total_to);
}

/* Debug builds: using a future after its last release trips an assert. */
static void use_after_release(void)
{
    weft_future *f;
    CHECK_OK(weft_future_create(&f));
    weft_future_release(f);
    weft_future_done(f);
}

static void test_use_after_release(void)
{
#if !defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
    expect_abort(use_after_release, "used after its last weft_future_release");
#else
    (void)use_after_release;   /* release builds: no check; ASan reports it on its own */
#endif
}

/* Hooked futures: the executor decides what a cancel does and frees the result. */
static int hook_cancel_calls, hook_freed;
static void *hook_freed_result;

static int cancel_request(weft_future *f, void *arg)
{
    (void)f;
    hook_cancel_calls++;
    return *(int *)arg;              /* 0: taken (completed later), or -EBUSY */
}

static void free_result(void *result, void *arg)
{
    (void)arg;
    hook_freed++;
    hook_freed_result = result;
    free(result);
}

static const weft_future_hooks hooks = { cancel_request, free_result };
static const weft_future_hooks no_hooks = { NULL, NULL };

static void test_hooked(void)
{
    int answer = 0;
    weft_future *f;
    CHECK_RC(weft_future_create_hooked(NULL, &hooks, &answer), -EINVAL);
    CHECK_RC(weft_future_create_hooked(&f, NULL, &answer), -EINVAL);
    /* A cancel taken as a request: the future stays pending until the executor says. */
    CHECK_OK(weft_future_create_hooked(&f, &hooks, &answer));
    CHECK_OK(weft_future_cancel(f));
    CHECK_EQ(hook_cancel_calls, 1);
    CHECK(!weft_future_done(f));
    CHECK_OK(weft_future_set_error(f, -ECANCELED));
    CHECK(weft_future_cancelled(f));
    weft_future_release(f);
#if !WEFT_DEBUG                                   /* (debug builds free later: quarantine) */
    CHECK_EQ(hook_freed, 1);                      /* the hook runs with no result */
    CHECK(hook_freed_result == NULL);
#endif
    /* Too late: the cancel says so and the future completes with its result. */
    answer = -EBUSY;
    CHECK_OK(weft_future_create_hooked(&f, &hooks, &answer));
    CHECK_RC(weft_future_cancel(f), -EBUSY);
    void *r = malloc(8);
    CHECK_OK(weft_future_set_result(f, r));
    void *got;
    CHECK_OK(weft_future_result(f, 0, &got));
    CHECK(got == r);
    CHECK_RC(weft_future_cancel(f), -EBUSY);      /* done: no call */
    CHECK_EQ(hook_cancel_calls, 2);
    weft_future_release(f);
#if !WEFT_DEBUG
    CHECK_EQ(hook_freed, 2);
    CHECK(hook_freed_result == r);
#endif
    /* No hooks: a plain future's rules. */
    CHECK_OK(weft_future_create_hooked(&f, &no_hooks, NULL));
    CHECK_OK(weft_future_cancel(f));
    CHECK(weft_future_cancelled(f));
    weft_future_release(f);
}

int main(void)
{
    RUN(test_plain_future);
    RUN(test_task_is_not_user_completable);
    RUN(test_callbacks);
    RUN(test_waiters_of_every_kind);
    RUN(test_cross_thread_wait_and_cancel);
    RUN(test_stress);
    RUN(test_use_after_release);
    RUN(test_hooked);
    return check_done();
}
