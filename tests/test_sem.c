/* weft_sem: Semaphore and BoundedSemaphore from threads and coroutines on several loops:
 * errors, bounds, FIFO hand-off, cancel and timeouts, and no permit ever lost or created. */
#include "fault.h"
#include "core/internal.h"   /* weft__alloc_fail_countdown */

#include <stdatomic.h>


static void test_basics(void)
{
    weft_sem *s;
    CHECK_RC(weft_sem_create(NULL, 1, false), -EINVAL);
    CHECK_RC(weft_sem_create(&s, WEFT_SEM_MAX + 1u, false), -EINVAL);
    CHECK_RC(weft_sem_create(&s, WEFT_SEM_MAX + 1u, true), -EINVAL);
    CHECK_RC(weft_sem_create(&s, 0xffffffffu, false), -EINVAL);
    CHECK_RC(weft_sem_acquire(NULL, 0), -EINVAL);
    CHECK_RC(weft_sem_acquire(NULL, WEFT_FOREVER), -EINVAL);
    CHECK_RC(weft_sem_release(NULL), -EINVAL);
    CHECK_EQ(weft_sem_value(NULL), 0);
    weft_sem_destroy(NULL);

    CHECK_OK(weft_sem_create(&s, 2, false));
    CHECK_EQ(weft_sem_value(s), 2);
    CHECK_RC(weft_sem_acquire(s, -2), -EINVAL);
    CHECK_EQ(weft_sem_value(s), 2);
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_sem_acquire(s, WEFT_FOREVER));
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_RC(weft_sem_acquire(s, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_sem_acquire(s, 30 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 29 * WEFT_MS, 3 * WEFT_SEC);
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_OK(weft_sem_release(s));
    CHECK_EQ(weft_sem_value(s), 1);
    for (int i = 0; i < 5; i++) CHECK_OK(weft_sem_release(s));   /* unbounded: past 2 */
    CHECK_EQ(weft_sem_value(s), 6);
    for (int i = 0; i < 6; i++) CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_RC(weft_sem_acquire(s, 0), -ETIMEDOUT);
    weft_sem_destroy(s);

    /* Zero permits. */
    CHECK_OK(weft_sem_create(&s, 0, false));
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_RC(weft_sem_acquire(s, 0), -ETIMEDOUT);
    CHECK_OK(weft_sem_release(s));
    CHECK_OK(weft_sem_acquire(s, 0));
    weft_sem_destroy(s);

    /* The most permits: an unbounded semaphore cannot go past WEFT_SEM_MAX either. */
    CHECK_OK(weft_sem_create(&s, WEFT_SEM_MAX, false));
    CHECK_EQ(weft_sem_value(s), WEFT_SEM_MAX);
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_EQ(weft_sem_value(s), WEFT_SEM_MAX);
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_EQ(weft_sem_value(s), WEFT_SEM_MAX - 1);
    CHECK_OK(weft_sem_release(s));
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    weft_sem_destroy(s);
}

static void test_bounded(void)
{
    weft_sem *s;
    CHECK_OK(weft_sem_create(&s, 2, true));
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_EQ(weft_sem_value(s), 2);
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_sem_release(s));
    CHECK_OK(weft_sem_release(s));
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_EQ(weft_sem_value(s), 2);
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_sem_release(s));
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    weft_sem_destroy(s);

    CHECK_OK(weft_sem_create(&s, 0, true));
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_RC(weft_sem_acquire(s, 0), -ETIMEDOUT);
    weft_sem_destroy(s);

    CHECK_OK(weft_sem_create(&s, WEFT_SEM_MAX, true));
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_sem_release(s));
    weft_sem_destroy(s);
}

/* A bounded semaphore with a waiter: a release hands it the permit (no overflow: the count
 * was 0); counting it back up to the bound works, one more overflows. */
static int acquire_forever(void *arg, void **result)
{
    (void)result;
    return weft_sem_acquire(arg, WEFT_FOREVER);
}

static int bounded_waiter_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sem *s;
    CHECK_OK(weft_sem_create(&s, 1, true));
    CHECK_OK(weft_sem_acquire(s, 0));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, acquire_forever, s));
    CHECK_OK(weft_yield());                     /* it waits */
    CHECK_OK(weft_sem_release(s));              /* handed to it */
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    weft_future_release(f);
    CHECK_OK(weft_sem_release(s));              /* its permit back */
    CHECK_EQ(weft_sem_value(s), 1);
    CHECK_RC(weft_sem_release(s), -EOVERFLOW);
    CHECK_EQ(weft_sem_value(s), 1);
    weft_sem_destroy(s);
    return 0;
}

static void test_bounded_with_waiter(void)
{
    CHECK_OK(weft_run(bounded_waiter_main, NULL, NULL));
}

/* BoundedSemaphore(0): every release is an over-release, also when someone waits (Python
 * raises ValueError there too: its bound check comes before any wake-up). */
static int bounded_zero_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sem *s;
    CHECK_OK(weft_sem_create(&s, 0, true));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, acquire_forever, s));
    CHECK_OK(weft_yield());                     /* it waits */
    int rc = weft_sem_release(s);
    if (rc == 0) {
        /* The waiter got a permit that never existed. */
        CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    } else {
        CHECK_OK(weft_future_cancel(f));
        CHECK_RC(weft_future_result(f, 5 * WEFT_SEC, NULL), -ECANCELED);
    }
    weft_future_release(f);
    weft_sem_destroy(s);
    return rc;
}

static void test_bounded_zero_with_waiter(void)
{
    CHECK_RC(weft_run(bounded_zero_main, NULL, NULL), -EOVERFLOW);
}

/* ---- FIFO hand-off ------------------------------------------------------------------------ */

typedef struct {
    weft_sem *s;
    int next_id, n;
    int order[8];
    atomic_int got;
    atomic_int parked;
} fifo;

static int fifo_waiter(void *arg, void **result)
{
    (void)result;
    fifo *q = arg;
    int me = q->next_id++;
    CHECK_OK(weft_sem_acquire(q->s, 10 * WEFT_SEC));
    q->order[q->n++] = me;
    atomic_fetch_add(&q->got, 1);
    return 0;
}

static int fifo_same_loop_main(void *arg, void **result)
{
    (void)arg; (void)result;
    fifo q = { 0 };
    CHECK_OK(weft_sem_create(&q.s, 0, false));
    weft_future *f[5];
    for (int i = 0; i < 5; i++) CHECK_OK(weft_spawn(&f[i], fifo_waiter, &q));
    CHECK_OK(weft_yield());                     /* all five wait, in spawn order */
    CHECK_EQ(q.next_id, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_OK(weft_sem_release(q.s));
        /* Handed straight to the longest waiter: not in the count, not for us. */
        CHECK_EQ(weft_sem_value(q.s), 0);
        CHECK_RC(weft_sem_acquire(q.s, 0), -ETIMEDOUT);
        CHECK_EQ(q.n, i);
        CHECK_OK(weft_future_result(f[i], 5 * WEFT_SEC, NULL));
        CHECK_EQ(q.n, i + 1);
        CHECK_EQ(q.order[i], i);
    }
    for (int i = 0; i < 5; i++) weft_future_release(f[i]);
    CHECK_OK(weft_sem_release(q.s));            /* nobody waits: to the count */
    CHECK_EQ(weft_sem_value(q.s), 1);
    weft_sem_destroy(q.s);
    return 0;
}

static void test_fifo_same_loop(void)
{
    CHECK_OK(weft_run(fifo_same_loop_main, NULL, NULL));
}

/* The waiters are coroutines on another loop; a plain thread releases. */
static int fifo_loop(void *arg, void **result)
{
    (void)result;
    fifo *q = arg;
    weft_future *f[5];
    for (int i = 0; i < 5; i++) CHECK_OK(weft_spawn(&f[i], fifo_waiter, q));
    CHECK_OK(weft_yield());
    atomic_store(&q->parked, 1);
    for (int i = 0; i < 5; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_fifo_thread_releases(void)
{
    fifo q = { 0 };
    CHECK_OK(weft_sem_create(&q.s, 0, false));
    loop_job job = { fifo_loop, &q };
    weft_thread *t = start_loop_thread(&job);
    while (!atomic_load(&q.parked)) weft_sleep(WEFT_MS);
    for (int i = 0; i < 5; i++) {
        CHECK_OK(weft_sem_release(q.s));
        CHECK_RC(weft_sem_acquire(q.s, 0), -ETIMEDOUT);     /* it went to the waiter */
        while (atomic_load(&q.got) < i + 1) weft_sleep(WEFT_MS / 10);
    }
    join_and_release(t);
    CHECK_EQ(q.n, 5);
    for (int i = 0; i < 5; i++) CHECK_EQ(q.order[i], i);
    CHECK_EQ(weft_sem_value(q.s), 0);
    weft_sem_destroy(q.s);
}

/* ---- cancel ------------------------------------------------------------------------------- */

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sem *s;
    CHECK_OK(weft_sem_create(&s, 0, false));
    weft_future *a, *b;
    CHECK_OK(weft_spawn(&a, acquire_forever, s));
    CHECK_OK(weft_spawn(&b, acquire_forever, s));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(a));            /* same loop: its wait is over at once */
    CHECK_OK(weft_sem_release(s));              /* skips a (still listed), goes to b */
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_RC(weft_future_result(a, 5 * WEFT_SEC, NULL), -ECANCELED);
    CHECK_OK(weft_future_result(b, 5 * WEFT_SEC, NULL));
    weft_future_release(a);
    weft_future_release(b);

    /* The only waiter is cancelled: the release goes to the count, not lost. */
    CHECK_OK(weft_spawn(&a, acquire_forever, s));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(a));
    CHECK_OK(weft_sem_release(s));
    CHECK_EQ(weft_sem_value(s), 1);
    CHECK_RC(weft_future_result(a, 5 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(a);
    CHECK_EQ(weft_sem_value(s), 1);

    /* Cancelled while waiting, after a while. */
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_spawn(&a, acquire_forever, s));
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK(!weft_future_done(a));
    CHECK_OK(weft_future_cancel(a));
    CHECK_RC(weft_future_result(a, 5 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(a);
    CHECK_EQ(weft_sem_value(s), 0);
    CHECK_OK(weft_sem_release(s));
    CHECK_EQ(weft_sem_value(s), 1);
    weft_sem_destroy(s);                        /* no waiter left behind */
    return 0;
}

static void test_cancel(void)
{
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

/* A cancelled coroutine still takes a free permit (no wait needed), not a missing one. */
static int cancelled_acquirer(void *arg, void **result)
{
    (void)result;
    weft_sem *s = arg;
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);
    CHECK_OK(weft_sem_acquire(s, WEFT_FOREVER));
    CHECK_RC(weft_sem_acquire(s, WEFT_FOREVER), -ECANCELED);
    CHECK_RC(weft_sem_acquire(s, 10 * WEFT_MS), -ECANCELED);
    int rc = weft_sem_acquire(s, 0);
    CHECK(rc == -ETIMEDOUT || rc == -ECANCELED);
    return 0;
}

static int sticky_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sem *s;
    CHECK_OK(weft_sem_create(&s, 1, false));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, cancelled_acquirer, s));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(f));
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    weft_future_release(f);
    CHECK_EQ(weft_sem_value(s), 0);
    weft_sem_destroy(s);
    return 0;
}

static void test_cancelled_coroutine(void)
{
    CHECK_OK(weft_run(sticky_main, NULL, NULL));
}

/* ---- across threads and loops ------------------------------------------------------------- */

typedef struct {
    weft_sem *s;
    ticker_state tk;
    atomic_int waiting;         /* test_thread_waits_coroutine_releases: the thread waits */
    atomic_int got;
} cross;

static int coro_waits(void *arg, void **result)
{
    (void)result;
    cross *x = arg;
    ticker_start(&x->tk);
    CHECK_RC(weft_sem_acquire(x->s, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_sem_acquire(x->s, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 3 * WEFT_SEC);
    ticker_wait_begins(&x->tk);
    CHECK_OK(weft_sem_acquire(x->s, 10 * WEFT_SEC));
    CHECK(ticker_ticks_in_wait(&x->tk) >= 5);
    atomic_store(&x->got, 1);
    ticker_stop(&x->tk);
    return 0;
}

static void test_coroutine_waits_thread_releases(void)
{
    cross x = { 0 };
    CHECK_OK(weft_sem_create(&x.s, 0, false));
    loop_job job = { coro_waits, &x };
    weft_thread *t = start_loop_thread(&job);
    ticker_await_ticks_in_wait(&x.tk, 5);
    CHECK(!atomic_load(&x.got));
    CHECK_OK(weft_sem_release(x.s));
    join_and_release(t);
    CHECK(atomic_load(&x.got));
    CHECK_EQ(weft_sem_value(x.s), 0);
    weft_sem_destroy(x.s);
}

static int release_later(void *arg, void **result)
{
    (void)result;
    cross *x = arg;
    while (!atomic_load(&x->waiting)) weft_sleep(WEFT_MS);
    CHECK_OK(weft_sleep(10 * WEFT_MS));
    CHECK_OK(weft_sem_release(x->s));
    return 0;
}

static void test_thread_waits_coroutine_releases(void)
{
    cross x = { 0 };
    CHECK_OK(weft_sem_create(&x.s, 0, false));
    loop_job job = { release_later, &x };
    weft_thread *t = start_loop_thread(&job);
    atomic_store(&x.waiting, 1);
    CHECK_OK(weft_sem_acquire(x.s, 10 * WEFT_SEC));
    join_and_release(t);
    CHECK_EQ(weft_sem_value(x.s), 0);
    weft_sem_destroy(x.s);
}

/* The thread's own loop runs while it waits; one of its coroutines releases. */
static int release_now(void *arg, void **result)
{
    (void)result;
    return weft_sem_release(arg);
}

static void test_thread_runs_its_loop_while_waiting(void)
{
    weft_sem *s;
    CHECK_OK(weft_sem_create(&s, 0, false));
    CHECK_OK(weft_spawn(NULL, release_now, s));
    CHECK_OK(weft_sem_acquire(s, 10 * WEFT_SEC));
    weft_sem_destroy(s);
}

/* ---- a bounded semaphore as a K-slot gate: threads and coroutines on two loops ------------ */

enum { SLOTS = 3 };

typedef struct {
    weft_sem *s;
    atomic_int inside, max_inside;
    atomic_long entries, timeouts, cancels;
    int64_t until;
} gate;

static int gate_worker(void *arg, void **result)
{
    (void)result;
    gate *g = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    while (weft_now() < g->until) {
        int64_t timeout = rnd(&seed) % 8 == 0 ? 0 : (int64_t)(rnd(&seed) % 400) * WEFT_US;
        int rc = weft_sem_acquire(g->s, timeout);
        if (rc == -ECANCELED) { atomic_fetch_add(&g->cancels, 1); return 0; }
        if (rc == -ETIMEDOUT) { atomic_fetch_add(&g->timeouts, 1); continue; }
        CHECK_OK(rc);
        int in = atomic_fetch_add(&g->inside, 1) + 1;
        CHECK(in <= SLOTS);
        int m = atomic_load(&g->max_inside);
        while (in > m && !atomic_compare_exchange_weak(&g->max_inside, &m, in)) {}
        if (rnd(&seed) % 3 == 0) weft_yield();
        atomic_fetch_sub(&g->inside, 1);
        atomic_fetch_add(&g->entries, 1);
        CHECK_OK(weft_sem_release(g->s));        /* bounded: never an overflow here */
    }
    return 0;
}

static int gate_loop(void *arg, void **result)
{
    (void)result;
    gate *g = arg;
    spawn_and_cancel_randomly(10, gate_worker, g, g->until, 20);
    return 0;
}

static void test_gate(void)
{
    gate g = { .until = weft_now() + (slow_tools() ? 500 : 1000) * WEFT_MS };
    CHECK_OK(weft_sem_create(&g.s, SLOTS, true));
    run_on_two_threads_and_two_loops(gate_worker, &g, gate_loop, &g);
    CHECK_EQ(atomic_load(&g.inside), 0);
    CHECK(atomic_load(&g.max_inside) <= SLOTS);
    CHECK(atomic_load(&g.entries) > 100);
    CHECK_EQ(weft_sem_value(g.s), SLOTS);        /* every permit came back */
    CHECK_RC(weft_sem_release(g.s), -EOVERFLOW);
    printf("   entries %ld, timeouts %ld, cancels %ld, most inside %d\n",
           atomic_load(&g.entries), atomic_load(&g.timeouts), atomic_load(&g.cancels),
           atomic_load(&g.max_inside));
    weft_sem_destroy(g.s);
}

/* ---- stress: no permit lost or invented when timeouts and cancels race with releases -----
 * Acquirers (threads and coroutines on two loops) take permits with random short timeouts
 * and keep them; releasers (a thread and a coroutine per loop) hand out new ones; chaos
 * cancels acquiring coroutines. At the end value == initial + releases - acquires. */
enum { INITIAL = 3 };

typedef struct {
    weft_sem *s;
    atomic_long acquired, released, timeouts, cancels;
    int64_t until;
} ledger;

static int ledger_acquirer(void *arg, void **result)
{
    (void)result;
    ledger *l = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    while (weft_now() < l->until) {
        int64_t timeout = rnd(&seed) % 8 == 0 ? 0 : (int64_t)(rnd(&seed) % 300) * WEFT_US;
        int rc = weft_sem_acquire(l->s, timeout);
        if (rc == 0) {
            atomic_fetch_add(&l->acquired, 1);
        } else if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&l->timeouts, 1);
        } else {
            CHECK_RC(rc, -ECANCELED);
            atomic_fetch_add(&l->cancels, 1);
            return 0;
        }
    }
    return 0;
}

static int ledger_releaser(void *arg, void **result)
{
    (void)result;
    ledger *l = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    while (weft_now() < l->until) {
        int n = 1 + (int)(rnd(&seed) % 4);
        for (int i = 0; i < n; i++) {
            CHECK_OK(weft_sem_release(l->s));
            atomic_fetch_add(&l->released, 1);
        }
        weft_sleep((int64_t)(rnd(&seed) % 200) * WEFT_US);
    }
    return 0;
}

static int ledger_loop(void *arg, void **result)
{
    (void)result;
    ledger *l = arg;
    weft_future *rel;
    CHECK_OK(weft_spawn(&rel, ledger_releaser, l));
    spawn_and_cancel_randomly(12, ledger_acquirer, l, l->until, 10);
    CHECK_OK(weft_future_result(rel, WEFT_FOREVER, NULL));
    weft_future_release(rel);
    return 0;
}

static void test_stress_no_permit_lost(void)
{
    ledger l = { .until = weft_now() + (slow_tools() ? 1 : 2) * WEFT_SEC };
    CHECK_OK(weft_sem_create(&l.s, INITIAL, false));
    loop_job loop = { ledger_loop, &l };
    weft_thread *t[5];
    CHECK_OK(weft_thread_start(&t[0], NULL, ledger_acquirer, &l));
    CHECK_OK(weft_thread_start(&t[1], NULL, ledger_acquirer, &l));
    CHECK_OK(weft_thread_start(&t[2], NULL, ledger_releaser, &l));
    t[3] = start_loop_thread(&loop);
    t[4] = start_loop_thread(&loop);
    for (int i = 0; i < 5; i++) join_and_release(t[i]);
    long acquired = atomic_load(&l.acquired), released = atomic_load(&l.released);
    printf("   released %ld, acquired %ld, timeouts %ld, cancels %ld, left %u\n", released,
           acquired, atomic_load(&l.timeouts), atomic_load(&l.cancels), weft_sem_value(l.s));
    CHECK_EQ(weft_sem_value(l.s), INITIAL + released - acquired);
    CHECK(acquired > 100);
    CHECK(atomic_load(&l.timeouts) > 0);
    /* The count is real: exactly that many can be taken now, and no more. */
    unsigned left = weft_sem_value(l.s);
    for (unsigned i = 0; i < left; i++) CHECK_OK(weft_sem_acquire(l.s, 0));
    CHECK_RC(weft_sem_acquire(l.s, 0), -ETIMEDOUT);
    weft_sem_destroy(l.s);                      /* no waiter left behind */
}

/* ---- misuse -------------------------------------------------------------------------------- */

static weft_sem *busy;

static int busy_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_sem_acquire(busy, WEFT_FOREVER);
}

static int destroy_with_waiters(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_sem_create(&busy, 0, false));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    weft_yield();
    weft_sem_destroy(busy);
    return 0;
}

static void destroy_busy_child(void) { weft_run(destroy_with_waiters, NULL, NULL); }

static void test_destroy_with_waiters_aborts(void)
{
    expect_abort(destroy_busy_child, "weft_sem_destroy: 2 waiter(s) still waiting");
}

/* ---- out of memory ------------------------------------------------------------------- */


static int op_sem(void)
{
    weft_sem *s;
    int rc = weft_sem_create(&s, 1, true);
    if (rc) return rc;
    CHECK_OK(weft_sem_acquire(s, 0));
    CHECK_OK(weft_sem_release(s));
    weft_sem_destroy(s);
    return 0;
}

static void test_out_of_memory(void)
{
    CHECK_EQ(fail_each_allocation(op_sem), 1);
}

int main(void)
{
    RUN(test_basics);
    RUN(test_bounded);
    RUN(test_bounded_with_waiter);
    RUN(test_fifo_same_loop);
    RUN(test_fifo_thread_releases);
    RUN(test_cancel);
    RUN(test_cancelled_coroutine);
    RUN(test_coroutine_waits_thread_releases);
    RUN(test_thread_waits_coroutine_releases);
    RUN(test_thread_runs_its_loop_while_waiting);
    RUN(test_gate);
    RUN(test_stress_no_permit_lost);
    RUN(test_out_of_memory);
    RUN(test_destroy_with_waiters_aborts);
    RUN(test_bounded_zero_with_waiter);
    return check_done();
}
