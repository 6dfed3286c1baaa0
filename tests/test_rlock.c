/* weft_rlock: reentry, ownership (threads and coroutines are each their own owner), waits
 * from threads and coroutines on several loops and across them, cancel, stress. */
#include "fault.h"
#include "core/internal.h"   /* weft__alloc_fail_countdown */

#include <pthread.h>
#include <stdatomic.h>


static void test_basics(void)
{
    weft_rlock *r;
    CHECK_RC(weft_rlock_create(NULL), -EINVAL);
    CHECK_RC(weft_rlock_acquire(NULL, 0), -EINVAL);
    CHECK_RC(weft_rlock_acquire(NULL, WEFT_FOREVER), -EINVAL);
    CHECK_RC(weft_rlock_release(NULL), -EINVAL);
    weft_rlock_destroy(NULL);

    CHECK_OK(weft_rlock_create(&r));
    CHECK_RC(weft_rlock_release(r), -EPERM);           /* never taken */
    CHECK_RC(weft_rlock_acquire(r, -2), -EINVAL);
    CHECK_RC(weft_rlock_acquire(r, INT64_MIN), -EINVAL);
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_OK(weft_rlock_acquire(r, 0));                 /* reentry needs no wait */
    CHECK_OK(weft_rlock_acquire(r, WEFT_FOREVER));
    CHECK_OK(weft_rlock_acquire(r, 10 * WEFT_MS));
    CHECK_RC(weft_rlock_acquire(r, -5), -EINVAL);       /* bad timeout even for the owner */
    for (int i = 0; i < 4; i++) CHECK_OK(weft_rlock_release(r));
    CHECK_RC(weft_rlock_release(r), -EPERM);            /* one release too many */
    CHECK_OK(weft_rlock_acquire(r, WEFT_FOREVER));
    CHECK_OK(weft_rlock_release(r));
    CHECK_RC(weft_rlock_release(r), -EPERM);
    weft_rlock_destroy(r);

    /* Destroying a held rlock is fine (no waiter). */
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_OK(weft_rlock_acquire(r, 0));
    weft_rlock_destroy(r);
}

/* ---- threads: the count, and other threads locked out until the last release ---------- */

typedef struct {
    weft_rlock *r;
    int64_t timeout;
    int release_rc;             /* what a release by this (non-owner) context returned */
} probe;

/* From another context: a release (must be -EPERM) then an acquire with p->timeout; if it
 * succeeds, the lock is released again. Returns the acquire's code. */
static int probe_body(void *arg, void **result)
{
    (void)result;
    probe *p = arg;
    p->release_rc = weft_rlock_release(p->r);
    int rc = weft_rlock_acquire(p->r, p->timeout);
    if (rc == 0) CHECK_OK(weft_rlock_release(p->r));
    return rc;
}

static int probe_from_thread(weft_rlock *r, int64_t timeout, int *release_rc)
{
    probe p = { r, timeout, 0 };
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, probe_body, &p));
    int rc = weft_thread_join(t, WEFT_FOREVER, NULL);
    weft_thread_release(t);
    if (release_rc) *release_rc = p.release_rc;
    return rc;
}

static void test_reentry_count_from_threads(void)
{
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    enum { LEVELS = 50 };
    for (int i = 0; i < LEVELS; i++) CHECK_OK(weft_rlock_acquire(r, i % 2 ? 0 : WEFT_FOREVER));
    for (int i = LEVELS; i > 0; i--) {
        if (i % 10 == 0 || i == 1) {
            int rel;
            CHECK_RC(probe_from_thread(r, 0, &rel), -ETIMEDOUT);   /* still held */
            CHECK_RC(rel, -EPERM);                                 /* not the owner */
        }
        CHECK_OK(weft_rlock_release(r));
    }
    CHECK_RC(weft_rlock_release(r), -EPERM);
    int rel;
    CHECK_OK(probe_from_thread(r, 0, &rel));            /* free now */
    CHECK_RC(rel, -EPERM);
    CHECK_OK(weft_rlock_acquire(r, 0));                  /* and usable again by us */
    CHECK_OK(weft_rlock_release(r));
    weft_rlock_destroy(r);
}

/* A thread waits with a timeout (-ETIMEDOUT, within generous bounds), then for good. */
typedef struct {
    weft_rlock *r;
    atomic_int phase;
} handoff;

static int hold_then_release(void *arg, void **result)
{
    (void)result;
    handoff *h = arg;
    CHECK_OK(weft_rlock_acquire(h->r, 0));
    CHECK_OK(weft_rlock_acquire(h->r, 0));
    atomic_store(&h->phase, 1);
    while (atomic_load(&h->phase) != 2) weft_sleep(WEFT_MS);
    CHECK_OK(weft_rlock_release(h->r));
    weft_sleep(20 * WEFT_MS);
    CHECK_OK(weft_rlock_release(h->r));
    return 0;
}

static void test_thread_timeouts(void)
{
    handoff h = { 0 };
    CHECK_OK(weft_rlock_create(&h.r));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, hold_then_release, &h));
    while (atomic_load(&h.phase) != 1) weft_sleep(WEFT_MS);
    CHECK_RC(weft_rlock_release(h.r), -EPERM);
    CHECK_RC(weft_rlock_acquire(h.r, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_rlock_acquire(h.r, 30 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 29 * WEFT_MS, 3 * WEFT_SEC);
    atomic_store(&h.phase, 2);
    CHECK_OK(weft_rlock_acquire(h.r, 10 * WEFT_SEC));   /* after its second release */
    CHECK_OK(weft_rlock_release(h.r));
    join_and_release(t);
    weft_rlock_destroy(h.r);
}

/* ---- coroutines: each is its own owner, also on one thread ------------------------------ */

typedef struct {
    weft_rlock *r;
    weft_event *go;
    atomic_int stage;
} two_owners;

static int owner_a(void *arg, void **result)
{
    (void)result;
    two_owners *s = arg;
    CHECK_OK(weft_rlock_acquire(s->r, 0));
    CHECK_OK(weft_rlock_acquire(s->r, 0));
    atomic_store(&s->stage, 1);
    CHECK_OK(weft_event_wait(s->go, 10 * WEFT_SEC));    /* B runs meanwhile */
    CHECK_EQ(atomic_load(&s->stage), 2);                /* B is blocked on it */
    CHECK_OK(weft_rlock_release(s->r));
    CHECK_OK(weft_yield());
    CHECK_EQ(atomic_load(&s->stage), 2);                /* one level is still held */
    atomic_store(&s->stage, 3);
    CHECK_OK(weft_rlock_release(s->r));                 /* B may go now */
    CHECK_RC(weft_rlock_release(s->r), -EPERM);
    return 0;
}

static int owner_b(void *arg, void **result)
{
    (void)result;
    two_owners *s = arg;
    CHECK_EQ(atomic_load(&s->stage), 1);                /* A holds it */
    CHECK_RC(weft_rlock_acquire(s->r, 0), -ETIMEDOUT);  /* same thread, other owner */
    CHECK_RC(weft_rlock_release(s->r), -EPERM);
    int64_t t0 = weft_now();
    CHECK_RC(weft_rlock_acquire(s->r, 10 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 9 * WEFT_MS, 3 * WEFT_SEC);
    atomic_store(&s->stage, 2);
    CHECK_OK(weft_event_set(s->go));
    CHECK_OK(weft_rlock_acquire(s->r, WEFT_FOREVER));
    CHECK_EQ(atomic_load(&s->stage), 3);                /* only after A's last release */
    CHECK_OK(weft_rlock_acquire(s->r, 0));
    CHECK_OK(weft_rlock_release(s->r));
    CHECK_OK(weft_rlock_release(s->r));
    return 0;
}

static int two_owners_main(void *arg, void **result)
{
    (void)arg; (void)result;
    two_owners s = { 0 };
    CHECK_OK(weft_rlock_create(&s.r));
    CHECK_OK(weft_event_create(&s.go));
    weft_future *a, *b;
    CHECK_OK(weft_spawn(&a, owner_a, &s));
    CHECK_OK(weft_spawn(&b, owner_b, &s));
    CHECK_OK(weft_future_result(a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(b, WEFT_FOREVER, NULL));
    /* main (a coroutine too) neither owned it nor can release it; now it is free. */
    CHECK_RC(weft_rlock_release(s.r), -EPERM);
    CHECK_OK(weft_rlock_acquire(s.r, 0));
    CHECK_OK(weft_rlock_release(s.r));
    weft_future_release(a);
    weft_future_release(b);
    weft_event_destroy(s.go);
    weft_rlock_destroy(s.r);
    return 0;
}

static void test_two_coroutines_one_thread_are_different_owners(void)
{
    CHECK_OK(weft_run(two_owners_main, NULL, NULL));
}

/* A plain thread and a coroutine of its own loop are different owners too. */
static int try_from_coroutine(void *arg, void **result)
{
    (void)result;
    weft_rlock *r = arg;
    CHECK_RC(weft_rlock_release(r), -EPERM);
    return weft_rlock_acquire(r, 0);
}

typedef struct {
    weft_rlock *r;
    weft_event *done;
    atomic_int holding;
} coro_owner;

static int hold_until_event(void *arg, void **result)
{
    (void)result;
    coro_owner *o = arg;
    CHECK_OK(weft_rlock_acquire(o->r, 0));
    CHECK_OK(weft_rlock_acquire(o->r, 0));
    atomic_store(&o->holding, 1);
    CHECK_OK(weft_event_wait(o->done, 10 * WEFT_SEC));
    CHECK_OK(weft_rlock_release(o->r));
    CHECK_OK(weft_rlock_release(o->r));
    return 0;
}

static void test_thread_and_its_coroutine_are_different_owners(void)
{
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_rlock_acquire(r, 0));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, try_from_coroutine, r));
    CHECK_RC(weft_future_result(f, 5 * WEFT_SEC, NULL), -ETIMEDOUT);
    weft_future_release(f);
    CHECK_OK(weft_rlock_release(r));

    /* The other way round: a coroutine of this thread's loop holds it. */
    coro_owner o = { r, NULL, 0 };
    CHECK_OK(weft_event_create(&o.done));
    CHECK_OK(weft_spawn(&f, hold_until_event, &o));
    CHECK_OK(weft_yield());                     /* runs it until it waits */
    CHECK(atomic_load(&o.holding));
    CHECK_RC(weft_rlock_release(r), -EPERM);
    CHECK_RC(weft_rlock_acquire(r, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_rlock_acquire(r, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 3 * WEFT_SEC);
    CHECK_OK(weft_event_set(o.done));
    CHECK_OK(weft_rlock_acquire(r, 10 * WEFT_SEC));    /* runs the loop: it releases */
    CHECK(weft_future_done(f));
    CHECK_OK(weft_future_result(f, 0, NULL));
    weft_future_release(f);
    CHECK_OK(weft_rlock_release(r));
    weft_event_destroy(o.done);
    weft_rlock_destroy(r);
}

/* ---- across threads and loops ----------------------------------------------------------- */

typedef struct {
    weft_rlock *r;
    ticker_state tk;
    atomic_int got;
} cross;

static int coro_waits(void *arg, void **result)
{
    (void)result;
    cross *x = arg;
    ticker_start(&x->tk);
    ticker_wait_begins(&x->tk);
    CHECK_OK(weft_rlock_acquire(x->r, 10 * WEFT_SEC));
    /* The thread released only after the ticker ran 5 times during our wait. */
    CHECK(ticker_ticks_in_wait(&x->tk) >= 5);
    atomic_store(&x->got, 1);
    CHECK_OK(weft_rlock_acquire(x->r, 0));
    CHECK_OK(weft_rlock_release(x->r));
    ticker_stop(&x->tk);
    CHECK_OK(weft_rlock_release(x->r));
    return 0;
}

static void test_coroutine_waits_thread_releases(void)
{
    cross x = { 0 };
    CHECK_OK(weft_rlock_create(&x.r));
    for (int i = 0; i < 3; i++) CHECK_OK(weft_rlock_acquire(x.r, 0));
    loop_job job = { coro_waits, &x };
    weft_thread *t = start_loop_thread(&job);
    ticker_await_ticks_in_wait(&x.tk, 5);
    CHECK_OK(weft_rlock_release(x.r));
    CHECK_OK(weft_rlock_release(x.r));
    weft_sleep(5 * WEFT_MS);
    CHECK(!atomic_load(&x.got));                /* one level still held */
    CHECK_OK(weft_rlock_release(x.r));
    join_and_release(t);
    CHECK(atomic_load(&x.got));
    CHECK_OK(weft_rlock_acquire(x.r, 0));
    CHECK_OK(weft_rlock_release(x.r));
    weft_rlock_destroy(x.r);
}

/* A thread waits for a coroutine on another loop to release all its levels. */
static int coro_holds(void *arg, void **result)
{
    (void)result;
    handoff *h = arg;
    CHECK_OK(weft_rlock_acquire(h->r, 0));
    CHECK_OK(weft_rlock_acquire(h->r, WEFT_FOREVER));
    atomic_store(&h->phase, 1);
    CHECK_OK(weft_sleep(20 * WEFT_MS));
    CHECK_OK(weft_rlock_release(h->r));
    CHECK_OK(weft_sleep(20 * WEFT_MS));
    atomic_store(&h->phase, 2);
    CHECK_OK(weft_rlock_release(h->r));
    return 0;
}

static void test_thread_waits_coroutine_releases(void)
{
    handoff h = { 0 };
    CHECK_OK(weft_rlock_create(&h.r));
    loop_job job = { coro_holds, &h };
    weft_thread *t = start_loop_thread(&job);
    while (atomic_load(&h.phase) == 0) weft_sleep(WEFT_MS);
    CHECK_RC(weft_rlock_release(h.r), -EPERM);
    CHECK_OK(weft_rlock_acquire(h.r, 10 * WEFT_SEC));
    CHECK_EQ(atomic_load(&h.phase), 2);
    CHECK_OK(weft_rlock_release(h.r));
    join_and_release(t);
    weft_rlock_destroy(h.r);
}

/* ---- cancel ----------------------------------------------------------------------------- */

static int waits_forever(void *arg, void **result)
{
    (void)result;
    return weft_rlock_acquire(arg, WEFT_FOREVER);
}

/* A cancelled coroutine that owns the rlock still re-enters it (no wait needed). */
static int owner_cancelled(void *arg, void **result)
{
    (void)result;
    weft_rlock *r = arg;
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);
    CHECK_OK(weft_rlock_acquire(r, WEFT_FOREVER));
    CHECK_OK(weft_rlock_release(r));
    CHECK_OK(weft_rlock_release(r));
    CHECK_RC(weft_rlock_release(r), -EPERM);
    CHECK_OK(weft_rlock_acquire(r, WEFT_FOREVER));      /* free: taken without a wait */
    CHECK_OK(weft_rlock_release(r));
    return 0;
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_OK(weft_rlock_acquire(r, 0));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, waits_forever, r));
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK(!weft_future_done(f));
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, 5 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(f);
    /* Still ours, with both levels. */
    CHECK_OK(weft_rlock_release(r));
    CHECK_OK(weft_rlock_release(r));
    CHECK_RC(weft_rlock_release(r), -EPERM);

    /* A coroutine cancelled while it owns the rlock (sleeping) keeps it, re-enters it. */
    CHECK_OK(weft_spawn(&f, owner_cancelled, r));
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK_OK(weft_future_cancel(f));
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    weft_future_release(f);
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_OK(weft_rlock_release(r));
    weft_rlock_destroy(r);      /* aborts if a waiter were left behind */
    return 0;
}

static void test_cancel(void)
{
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

/* A coroutine on one loop waiting for an rlock held by a thread is cancelled from a third
 * thread; the rlock is unaffected. */
static int cancel_it(void *arg, void **result)
{
    (void)result;
    return weft_future_cancel(((parked_waiter *)arg)->f);
}

static void test_cancel_across_threads(void)
{
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_rlock_acquire(r, 0));
    parked_waiter x = { waits_forever, r, NULL, 0 };
    loop_job job = { park_and_expect_cancel, &x };
    weft_thread *t = start_loop_thread(&job);
    while (!atomic_load(&x.ready)) weft_sleep(WEFT_MS);
    weft_thread *c;
    CHECK_OK(weft_thread_start(&c, NULL, cancel_it, &x));
    join_and_release(c);
    join_and_release(t);
    CHECK_OK(weft_rlock_release(r));
    CHECK_RC(weft_rlock_release(r), -EPERM);
    weft_rlock_destroy(r);
}

/* ---- stress ----------------------------------------------------------------------------- */

/* Threads and coroutines on two loops take the rlock 1-3 levels deep (the outer acquire with
 * a random short timeout, the inner ones must never wait), some coroutines get cancelled.
 * Exactly one owner at a time; the guarded counter equals the number of sections. */
typedef struct {
    weft_rlock *r;
    atomic_int inside;
    long counter;               /* guarded by r */
    atomic_long sections, timeouts, cancels;
    int64_t until;
} stress;

static int stress_worker(void *arg, void **result)
{
    (void)result;
    stress *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    while (weft_now() < s->until) {
        int64_t timeout = rnd(&seed) % 8 == 0 ? 0 : (int64_t)(rnd(&seed) % 300) * WEFT_US;
        int rc = weft_rlock_acquire(s->r, timeout);
        if (rc == -ECANCELED) { atomic_fetch_add(&s->cancels, 1); return 0; }
        if (rc == -ETIMEDOUT) { atomic_fetch_add(&s->timeouts, 1); continue; }
        CHECK_OK(rc);
        CHECK_EQ(atomic_fetch_add(&s->inside, 1), 0);
        int depth = 1 + (int)(rnd(&seed) % 3);
        for (int i = 1; i < depth; i++) CHECK_OK(weft_rlock_acquire(s->r, 0));
        long v = s->counter;
        if (rnd(&seed) % 4 == 0) weft_yield();       /* may fail once cancelled: fine */
        s->counter = v + 1;
        for (int i = 1; i < depth; i++) CHECK_OK(weft_rlock_release(s->r));
        CHECK_EQ(atomic_fetch_sub(&s->inside, 1), 1);
        atomic_fetch_add(&s->sections, 1);
        CHECK_OK(weft_rlock_release(s->r));
    }
    return 0;
}

static int stress_loop(void *arg, void **result)
{
    (void)result;
    stress *s = arg;
    spawn_and_cancel_randomly(16, stress_worker, s, s->until, 20);
    return 0;
}

static void test_stress(void)
{
    stress s = { .until = weft_now() + (slow_tools() ? 1 : 2) * WEFT_SEC };
    CHECK_OK(weft_rlock_create(&s.r));
    run_on_two_threads_and_two_loops(stress_worker, &s, stress_loop, &s);
    CHECK_EQ(atomic_load(&s.inside), 0);
    CHECK_EQ(s.counter, atomic_load(&s.sections));
    CHECK(atomic_load(&s.sections) > 100);
    CHECK_RC(weft_rlock_release(s.r), -EPERM);
    CHECK_OK(weft_rlock_acquire(s.r, 0));               /* left free */
    CHECK_OK(weft_rlock_release(s.r));
    printf("   sections %ld, timeouts %ld, cancels %ld\n", atomic_load(&s.sections),
           atomic_load(&s.timeouts), atomic_load(&s.cancels));
    weft_rlock_destroy(s.r);                            /* no waiter left behind */
}

/* ---- misuse ----------------------------------------------------------------------------- */

static weft_rlock *busy;

static int busy_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_rlock_acquire(busy, WEFT_FOREVER);
}

static int destroy_with_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_rlock_create(&busy));
    CHECK_OK(weft_rlock_acquire(busy, 0));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    weft_yield();
    weft_rlock_destroy(busy);
    return 0;
}

static void destroy_busy_child(void) { weft_run(destroy_with_waiter, NULL, NULL); }

static void test_destroy_with_waiter_aborts(void)
{
    expect_abort(destroy_busy_child, "weft_rlock_destroy: 1 waiter(s) still waiting");
}

/* ---- out of memory ------------------------------------------------------------------- */


static int op_rlock(void)
{
    weft_rlock *r;
    int rc = weft_rlock_create(&r);
    if (rc) return rc;
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_OK(weft_rlock_release(r));
    weft_rlock_destroy(r);
    return 0;
}

static void test_out_of_memory(void)
{
    CHECK_EQ(fail_each_allocation(op_rlock), 1);
}

int main(void)
{
    RUN(test_basics);
    RUN(test_reentry_count_from_threads);
    RUN(test_thread_timeouts);
    RUN(test_two_coroutines_one_thread_are_different_owners);
    RUN(test_thread_and_its_coroutine_are_different_owners);
    RUN(test_coroutine_waits_thread_releases);
    RUN(test_thread_waits_coroutine_releases);
    RUN(test_cancel);
    RUN(test_cancel_across_threads);
    RUN(test_stress);
    RUN(test_out_of_memory);
    RUN(test_destroy_with_waiter_aborts);
    return check_done();
}
