/* weft_barrier: indices, reuse, the action, breaking (timeout, cancel, failing action,
 * abort, reset), parties mixing threads and coroutines on two loops, stress. */
#include "fault.h"
#include "core/internal.h"   /* weft__alloc_fail_countdown */

#include <pthread.h>
#include <stdatomic.h>


/* Who is calling: a coroutine (its task) or a thread. */
typedef struct {
    weft_future *task;
    pthread_t thread;
} who;

static who me(void)
{
    who w = { weft_current_task(), pthread_self() };
    return w;
}

static bool same(who a, who b)
{
    return a.task == b.task && pthread_equal(a.thread, b.thread);
}

/* Runs fn(arg) on a new plain thread; the handle is returned. */
static weft_thread *thread_run(weft_fn fn, void *arg)
{
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, fn, arg));
    return t;
}

static int count_action(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static int fail_action(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return -EIO;
}

static void test_basics(void)
{
    weft_barrier *b;
    CHECK_RC(weft_barrier_create(NULL, 2, NULL, NULL), -EINVAL);
    CHECK_RC(weft_barrier_create(&b, 0, NULL, NULL), -EINVAL);
    CHECK_RC(weft_barrier_wait(NULL, 0), -EINVAL);
    CHECK_RC(weft_barrier_abort(NULL), -EINVAL);
    CHECK_RC(weft_barrier_reset(NULL), -EINVAL);
    CHECK(!weft_barrier_broken(NULL));
    CHECK_EQ(weft_barrier_parties(NULL), 0);
    CHECK_EQ(weft_barrier_n_waiting(NULL), 0);
    weft_barrier_destroy(NULL);

    /* One party: every wait completes at once, with index 0, running the action. */
    atomic_int acts = 0;
    CHECK_OK(weft_barrier_create(&b, 1, count_action, &acts));
    CHECK_EQ(weft_barrier_parties(b), 1);
    CHECK(!weft_barrier_broken(b));
    CHECK_RC(weft_barrier_wait(b, -2), -EINVAL);
    CHECK_EQ(atomic_load(&acts), 0);
    for (int i = 0; i < 5; i++) CHECK_RC(weft_barrier_wait(b, i % 2 ? 0 : WEFT_FOREVER), 0);
    CHECK_EQ(atomic_load(&acts), 5);
    CHECK_EQ(weft_barrier_n_waiting(b), 0);
    weft_barrier_destroy(b);

    /* Timeout 0 and a short timeout: -ETIMEDOUT, and the barrier is broken. */
    CHECK_OK(weft_barrier_create(&b, 2, NULL, NULL));
    CHECK_EQ(weft_barrier_parties(b), 2);
    CHECK_RC(weft_barrier_wait(b, 0), -ETIMEDOUT);
    CHECK(weft_barrier_broken(b));
    CHECK_EQ(weft_barrier_n_waiting(b), 0);
    CHECK_RC(weft_barrier_wait(b, WEFT_FOREVER), -EPIPE);   /* broken: at once */
    CHECK_RC(weft_barrier_wait(b, 0), -EPIPE);
    CHECK_RC(weft_barrier_wait(b, -2), -EINVAL);
    CHECK_OK(weft_barrier_reset(b));
    CHECK(!weft_barrier_broken(b));
    int64_t t0 = weft_now();
    CHECK_RC(weft_barrier_wait(b, 30 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 29 * WEFT_MS, 3 * WEFT_SEC);
    CHECK(weft_barrier_broken(b));
    CHECK_OK(weft_barrier_reset(b));
    CHECK_OK(weft_barrier_reset(b));                /* idempotent */
    CHECK(!weft_barrier_broken(b));
    CHECK_OK(weft_barrier_abort(b));
    CHECK_OK(weft_barrier_abort(b));
    CHECK(weft_barrier_broken(b));
    CHECK_RC(weft_barrier_wait(b, WEFT_FOREVER), -EPIPE);
    weft_barrier_destroy(b);

    /* A failing action breaks it, for its caller too. */
    atomic_store(&acts, 0);
    CHECK_OK(weft_barrier_create(&b, 1, fail_action, &acts));
    CHECK_RC(weft_barrier_wait(b, WEFT_FOREVER), -EPIPE);
    CHECK(weft_barrier_broken(b));
    CHECK_RC(weft_barrier_wait(b, WEFT_FOREVER), -EPIPE);
    CHECK_EQ(atomic_load(&acts), 1);                /* not run on a broken barrier */
    CHECK_OK(weft_barrier_reset(b));
    CHECK_RC(weft_barrier_wait(b, 0), -EPIPE);
    CHECK_EQ(atomic_load(&acts), 2);
    weft_barrier_destroy(b);
}

/* ---- rounds: indices, the action, with threads and coroutines on two loops --------------- */

enum { PARTIES = 6, MAX_ROUNDS = 300 };

typedef struct {
    weft_barrier *b;
    int rounds;
    atomic_int actions;
    atomic_int hits[MAX_ROUNDS][PARTIES];
    atomic_int returned[MAX_ROUNDS];
    who last[MAX_ROUNDS];                   /* who ran the action of each round */
} rounds;

static int rounds_action(void *arg)
{
    rounds *r = arg;
    int round = atomic_load(&r->actions);
    CHECK(round < r->rounds);
    r->last[round] = me();
    CHECK_EQ(atomic_load(&r->returned[round]), 0);
    if (round % 16 == 0) weft_sleep(200 * WEFT_US);   /* blocking in the action is fine */
    CHECK_EQ(atomic_load(&r->returned[round]), 0);    /* nobody went on meanwhile */
    atomic_fetch_add(&r->actions, 1);
    return 0;
}

static int rounds_party(void *arg, void **result)
{
    (void)result;
    rounds *r = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    for (int round = 0; round < r->rounds; round++) {
        if (rnd(&seed) % 8 == 0) weft_yield();
        int idx = weft_barrier_wait(r->b, 20 * WEFT_SEC);
        CHECK(idx >= 0 && idx < PARTIES);
        /* The action of this round ran (once), that of the next cannot have. */
        CHECK_EQ(atomic_load(&r->actions), round + 1);
        if (idx == PARTIES - 1) CHECK(same(r->last[round], me()));
        atomic_fetch_add(&r->hits[round][idx], 1);
        atomic_fetch_add(&r->returned[round], 1);
    }
    return 0;
}

static void test_rounds_mixed_parties(void)
{
    static rounds r;
    memset(&r, 0, sizeof r);
    r.rounds = slow_tools() ? 60 : MAX_ROUNDS;
    CHECK_OK(weft_barrier_create(&r.b, PARTIES, rounds_action, &r));
    spawn_job two = { 2, rounds_party, &r };
    loop_job loop = { spawn_all_and_wait, &two };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    t[2] = thread_run(rounds_party, &r);
    t[3] = thread_run(rounds_party, &r);
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    CHECK_EQ(atomic_load(&r.actions), r.rounds);
    for (int round = 0; round < r.rounds; round++) {
        CHECK_EQ(atomic_load(&r.returned[round]), PARTIES);
        for (int i = 0; i < PARTIES; i++) CHECK_EQ(atomic_load(&r.hits[round][i]), 1);
    }
    CHECK(!weft_barrier_broken(r.b));
    CHECK_EQ(weft_barrier_n_waiting(r.b), 0);
    weft_barrier_destroy(r.b);
}

/* Coroutines of one loop only: arrival order is deterministic, so are the indices. */
typedef struct {
    weft_barrier *b;
    int order;                  /* arrival ticket */
} same_loop;

static int arrive_in_order(void *arg, void **result)
{
    (void)result;
    same_loop *s = arg;
    for (int round = 0; round < 3; round++) {
        int ticket = s->order++ % 4;
        CHECK_RC(weft_barrier_wait(s->b, 5 * WEFT_SEC), ticket);
        CHECK_OK(weft_yield());
    }
    return 0;
}

static int same_loop_main(void *arg, void **result)
{
    (void)arg; (void)result;
    same_loop s = { 0 };
    CHECK_OK(weft_barrier_create(&s.b, 4, NULL, NULL));
    spawn_job four = { 4, arrive_in_order, &s };
    CHECK_OK(spawn_all_and_wait(&four, NULL));
    CHECK_EQ(s.order, 12);
    weft_barrier_destroy(s.b);
    return 0;
}

static void test_indices_follow_arrival(void)
{
    CHECK_OK(weft_run(same_loop_main, NULL, NULL));
}

/* ---- a coroutine's wait suspends only it --------------------------------------------------- */

typedef struct {
    weft_barrier *b;
    ticker_state tk;
} only_me;

static int coro_arrives_first(void *arg, void **result)
{
    (void)result;
    only_me *o = arg;
    ticker_start(&o->tk);
    ticker_wait_begins(&o->tk);
    CHECK_RC(weft_barrier_wait(o->b, 10 * WEFT_SEC), 0);
    CHECK(ticker_ticks_in_wait(&o->tk) >= 5);
    ticker_stop(&o->tk);
    return 0;
}

static void test_coroutine_wait_suspends_only_it(void)
{
    only_me o = { 0 };
    CHECK_OK(weft_barrier_create(&o.b, 2, NULL, NULL));
    loop_job job = { coro_arrives_first, &o };
    weft_thread *t = start_loop_thread(&job);
    ticker_await_ticks_in_wait(&o.tk, 5);
    CHECK_EQ(weft_barrier_n_waiting(o.b), 1);
    CHECK_RC(weft_barrier_wait(o.b, 10 * WEFT_SEC), 1);
    join_and_release(t);
    weft_barrier_destroy(o.b);
}

/* ---- breaking: timeout, cancel, failing action, abort, reset ------------------------------ */

typedef struct {
    weft_barrier *b;
    int64_t timeout;
    weft_future *f;             /* the coroutine party's task, for cancelling */
    atomic_int ready;
    atomic_int rc;
} party;

static int party_wait(void *arg, void **result)
{
    (void)result;
    party *p = arg;
    atomic_store(&p->ready, 1);
    int rc = weft_barrier_wait(p->b, p->timeout);
    atomic_store(&p->rc, rc);
    return 0;
}

static int coro_party_loop(void *arg, void **result)
{
    (void)result;
    party *p = arg;
    CHECK_OK(weft_spawn(&p->f, party_wait, p));
    CHECK_OK(weft_future_result(p->f, WEFT_FOREVER, NULL));
    weft_future_release(p->f);
    return 0;
}

static void wait_n_waiting(weft_barrier *b, unsigned n)
{
    while (weft_barrier_n_waiting(b) < n) weft_sleep(WEFT_MS);
    CHECK_EQ(weft_barrier_n_waiting(b), n);
}

/* A thread and a coroutine (another loop) wait; main does `what`; both get -EPIPE. */
enum { BY_TIMEOUT, BY_TIMEOUT_ZERO, BY_ABORT, BY_RESET, BY_CANCEL };

static void broken_for_others(int what)
{
    weft_barrier *b;
    CHECK_OK(weft_barrier_create(&b, 4, NULL, NULL));
    party th = { b, WEFT_FOREVER, NULL, 0, 0 }, co = { b, WEFT_FOREVER, NULL, 0, 0 };
    party victim = { b, WEFT_FOREVER, NULL, 0, 0 };
    weft_thread *t1 = thread_run(party_wait, &th);
    loop_job job = { coro_party_loop, &co };
    weft_thread *t2 = start_loop_thread(&job);
    loop_job vjob = { coro_party_loop, &victim };
    weft_thread *t3 = NULL;
    wait_n_waiting(b, 2);
    int64_t t0 = weft_now();
    switch (what) {
    case BY_TIMEOUT:
        CHECK_RC(weft_barrier_wait(b, 30 * WEFT_MS), -ETIMEDOUT);
        CHECK_BETWEEN(weft_now() - t0, 29 * WEFT_MS, 3 * WEFT_SEC);
        break;
    case BY_TIMEOUT_ZERO:
        CHECK_RC(weft_barrier_wait(b, 0), -ETIMEDOUT);
        break;
    case BY_ABORT:
        CHECK_OK(weft_barrier_abort(b));
        break;
    case BY_RESET:
        CHECK_OK(weft_barrier_reset(b));
        break;
    case BY_CANCEL:
        t3 = start_loop_thread(&vjob);
        wait_n_waiting(b, 3);
        CHECK_OK(weft_future_cancel(victim.f));
        join_and_release(t3);
        CHECK_RC(atomic_load(&victim.rc), -ECANCELED);
        break;
    }
    join_and_release(t1);
    join_and_release(t2);
    CHECK_RC(atomic_load(&th.rc), -EPIPE);
    CHECK_RC(atomic_load(&co.rc), -EPIPE);
    CHECK_EQ(weft_barrier_n_waiting(b), 0);
    if (what == BY_RESET) {
        CHECK(!weft_barrier_broken(b));             /* fresh again */
    } else {
        CHECK(weft_barrier_broken(b));
        CHECK_RC(weft_barrier_wait(b, WEFT_FOREVER), -EPIPE);
        CHECK_OK(weft_barrier_reset(b));
        CHECK(!weft_barrier_broken(b));
    }
    /* And usable: a full round of 4 (2 threads, a coroutine, us). */
    party p[3] = { { b, 10 * WEFT_SEC, NULL, 0, 0 }, { b, 10 * WEFT_SEC, NULL, 0, 0 },
                   { b, 10 * WEFT_SEC, NULL, 0, 0 } };
    t1 = thread_run(party_wait, &p[0]);
    t2 = thread_run(party_wait, &p[1]);
    loop_job pj = { coro_party_loop, &p[2] };
    t3 = start_loop_thread(&pj);
    wait_n_waiting(b, 3);
    CHECK_RC(weft_barrier_wait(b, 10 * WEFT_SEC), 3);
    join_and_release(t1);
    join_and_release(t2);
    join_and_release(t3);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        int rc = atomic_load(&p[i].rc);
        CHECK(rc >= 0 && rc < 3);
        seen |= 1 << rc;
    }
    CHECK_EQ(seen, 7);
    weft_barrier_destroy(b);
}

static void test_timeout_breaks_for_others(void)
{
    broken_for_others(BY_TIMEOUT);
    broken_for_others(BY_TIMEOUT_ZERO);
}

static void test_cancel_breaks_for_others(void)
{
    broken_for_others(BY_CANCEL);
}

static void test_abort_and_reset(void)
{
    broken_for_others(BY_ABORT);
    broken_for_others(BY_RESET);
}

/* A coroutine times out / is cancelled at the barrier while others of its own loop wait. */
static int coro_timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_barrier *b;
    CHECK_OK(weft_barrier_create(&b, 3, NULL, NULL));
    party p = { b, WEFT_FOREVER, NULL, 0, 0 };
    weft_future *f;
    CHECK_OK(weft_spawn(&f, party_wait, &p));
    CHECK_OK(weft_yield());
    CHECK_EQ(weft_barrier_n_waiting(b), 1);
    int64_t t0 = weft_now();
    CHECK_RC(weft_barrier_wait(b, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 3 * WEFT_SEC);
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    CHECK_RC(atomic_load(&p.rc), -EPIPE);
    weft_future_release(f);
    CHECK(weft_barrier_broken(b));
    CHECK_OK(weft_barrier_reset(b));

    /* Cancel (same loop) of one of two waiters. */
    party q = { b, WEFT_FOREVER, NULL, 0, 0 };
    weft_future *g;
    CHECK_OK(weft_spawn(&f, party_wait, &p));
    CHECK_OK(weft_spawn(&g, party_wait, &q));
    CHECK_OK(weft_yield());
    CHECK_EQ(weft_barrier_n_waiting(b), 2);
    CHECK_OK(weft_future_cancel(g));
    CHECK_OK(weft_future_result(g, 5 * WEFT_SEC, NULL));
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    CHECK_RC(atomic_load(&q.rc), -ECANCELED);
    CHECK_RC(atomic_load(&p.rc), -EPIPE);
    weft_future_release(f);
    weft_future_release(g);
    CHECK(weft_barrier_broken(b));
    weft_barrier_destroy(b);
    return 0;
}

static void test_coroutine_timeout_and_cancel(void)
{
    CHECK_OK(weft_run(coro_timeout_main, NULL, NULL));
}

/* A cancelled coroutine whose wait needs no waiting (it is the last party) completes it. */
static int cancelled_then_last(void *arg, void **result)
{
    (void)result;
    party *p = arg;
    atomic_store(&p->ready, 1);
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);
    atomic_store(&p->rc, weft_barrier_wait(p->b, WEFT_FOREVER));
    return 0;
}

static int cancelled_last_loop(void *arg, void **result)
{
    (void)result;
    party *p = arg;
    CHECK_OK(weft_spawn(&p->f, cancelled_then_last, p));
    CHECK_OK(weft_future_result(p->f, WEFT_FOREVER, NULL));
    weft_future_release(p->f);
    return 0;
}

static void test_cancelled_last_party_completes(void)
{
    weft_barrier *b;
    atomic_int acts = 0;
    CHECK_OK(weft_barrier_create(&b, 2, count_action, &acts));
    party th = { b, 10 * WEFT_SEC, NULL, 0, 0 }, co = { b, 0, NULL, 0, 0 };
    weft_thread *t1 = thread_run(party_wait, &th);
    loop_job job = { cancelled_last_loop, &co };
    weft_thread *t2 = start_loop_thread(&job);
    wait_n_waiting(b, 1);
    while (!atomic_load(&co.ready)) weft_sleep(WEFT_MS);
    CHECK_OK(weft_future_cancel(co.f));
    join_and_release(t2);
    join_and_release(t1);
    CHECK_RC(atomic_load(&co.rc), 1);
    CHECK_RC(atomic_load(&th.rc), 0);
    CHECK_EQ(atomic_load(&acts), 1);
    CHECK(!weft_barrier_broken(b));
    weft_barrier_destroy(b);
}

/* ---- the action: failing, blocking (others wait for it), abort while it runs ------------- */

typedef struct {
    atomic_int calls;
    int fail_on;                /* call number that fails */
    weft_event *hold;           /* if set, the action waits for it */
    atomic_int running;
} action_state;

static int test_action(void *arg)
{
    action_state *a = arg;
    int n = atomic_fetch_add(&a->calls, 1);
    atomic_store(&a->running, 1);
    if (a->hold) CHECK_OK(weft_event_wait(a->hold, 10 * WEFT_SEC));
    atomic_store(&a->running, 0);
    return n == a->fail_on ? -EIO : 0;
}

typedef struct {
    weft_barrier *b;
    int rounds;
    int rc[4];
} looper;

static int loop_rounds(void *arg, void **result)
{
    (void)result;
    looper *l = arg;
    for (int i = 0; i < l->rounds; i++) l->rc[i] = weft_barrier_wait(l->b, 10 * WEFT_SEC);
    return 0;
}

static int two_loopers(void *arg, void **result)
{
    (void)result;
    looper *l = arg;
    return spawn_all_and_wait(&(spawn_job){ 1, loop_rounds, l }, NULL);
}

static void test_failing_action_breaks(void)
{
    weft_barrier *b;
    action_state a = { .fail_on = 1 };
    CHECK_OK(weft_barrier_create(&b, 3, test_action, &a));
    /* A thread, a coroutine (another loop) and us; 2 rounds: the second action fails. */
    looper th = { b, 2, { 0 } }, co = { b, 2, { 0 } };
    weft_thread *t1 = thread_run(loop_rounds, &th);
    loop_job job = { two_loopers, &co };
    weft_thread *t2 = start_loop_thread(&job);
    int r0 = weft_barrier_wait(b, 10 * WEFT_SEC);
    int r1 = weft_barrier_wait(b, 10 * WEFT_SEC);
    join_and_release(t1);
    join_and_release(t2);
    CHECK(r0 >= 0 && th.rc[0] >= 0 && co.rc[0] >= 0);
    CHECK_EQ((1 << r0) | (1 << th.rc[0]) | (1 << co.rc[0]), 7);
    CHECK_RC(r1, -EPIPE);
    CHECK_RC(th.rc[1], -EPIPE);
    CHECK_RC(co.rc[1], -EPIPE);
    CHECK_EQ(atomic_load(&a.calls), 2);
    CHECK(weft_barrier_broken(b));
    CHECK_RC(weft_barrier_wait(b, 0), -EPIPE);
    CHECK_EQ(atomic_load(&a.calls), 2);
    /* Reset: works again, the action with it. */
    CHECK_OK(weft_barrier_reset(b));
    th.rounds = co.rounds = 1;
    t1 = thread_run(loop_rounds, &th);
    t2 = start_loop_thread(&job);
    r0 = weft_barrier_wait(b, 10 * WEFT_SEC);
    join_and_release(t1);
    join_and_release(t2);
    CHECK_EQ((1 << r0) | (1 << th.rc[0]) | (1 << co.rc[0]), 7);
    CHECK_EQ(atomic_load(&a.calls), 3);
    CHECK(!weft_barrier_broken(b));
    weft_barrier_destroy(b);
}

/* The others are held until the action (which blocks) has returned; abort while it runs
 * breaks the round for all, its runner included. */
static void test_action_runs_before_others_go(void)
{
    weft_barrier *b;
    action_state a = { .fail_on = -1 };
    CHECK_OK(weft_event_create(&a.hold));
    CHECK_OK(weft_barrier_create(&b, 3, test_action, &a));
    party p[2] = { { b, 10 * WEFT_SEC, NULL, 0, 0 }, { b, 10 * WEFT_SEC, NULL, 0, 0 } };
    atomic_store(&p[0].rc, 99);
    atomic_store(&p[1].rc, 99);
    weft_thread *t1 = thread_run(party_wait, &p[0]);
    loop_job job = { coro_party_loop, &p[1] };
    weft_thread *t2 = start_loop_thread(&job);
    wait_n_waiting(b, 2);
    party last = { b, 10 * WEFT_SEC, NULL, 0, 0 };
    weft_thread *t3 = thread_run(party_wait, &last);    /* runs the action, which blocks */
    while (!atomic_load(&a.running)) weft_sleep(WEFT_MS);
    weft_sleep(20 * WEFT_MS);
    CHECK_EQ(atomic_load(&p[0].rc), 99);                /* nobody went on yet */
    CHECK_EQ(atomic_load(&p[1].rc), 99);
    CHECK_OK(weft_event_set(a.hold));
    join_and_release(t1);
    join_and_release(t2);
    join_and_release(t3);
    CHECK_EQ((1 << atomic_load(&p[0].rc)) | (1 << atomic_load(&p[1].rc)), 3);
    CHECK_RC(atomic_load(&last.rc), 2);

    /* Abort while the action runs. */
    CHECK_OK(weft_event_clear(a.hold));
    atomic_store(&a.running, 0);
    t1 = thread_run(party_wait, &p[0]);
    t2 = start_loop_thread(&job);
    wait_n_waiting(b, 2);
    t3 = thread_run(party_wait, &last);
    while (!atomic_load(&a.running)) weft_sleep(WEFT_MS);
    CHECK_OK(weft_barrier_abort(b));
    join_and_release(t1);
    join_and_release(t2);
    CHECK_RC(atomic_load(&p[0].rc), -EPIPE);
    CHECK_RC(atomic_load(&p[1].rc), -EPIPE);
    CHECK_OK(weft_event_set(a.hold));
    join_and_release(t3);
    CHECK_RC(atomic_load(&last.rc), -EPIPE);
    CHECK(weft_barrier_broken(b));
    weft_barrier_destroy(b);
    weft_event_destroy(a.hold);
}

/* While the last party runs the action, a party of the next round arrives: it waits for the
 * action to end and is counted in the next round. */
static void test_early_arrival_joins_next_round(void)
{
    weft_barrier *b;
    action_state a = { .fail_on = -1 };
    CHECK_OK(weft_event_create(&a.hold));
    CHECK_OK(weft_barrier_create(&b, 2, test_action, &a));
    party first = { b, 10 * WEFT_SEC, NULL, 0, 0 }, last = { b, 10 * WEFT_SEC, NULL, 0, 0 };
    party early = { b, 10 * WEFT_SEC, NULL, 0, 0 };
    weft_thread *t1 = thread_run(party_wait, &first);
    wait_n_waiting(b, 1);
    weft_thread *t2 = thread_run(party_wait, &last);
    while (!atomic_load(&a.running)) weft_sleep(WEFT_MS);
    loop_job job = { coro_party_loop, &early };
    weft_thread *t3 = start_loop_thread(&job);
    while (!atomic_load(&early.ready)) weft_sleep(WEFT_MS);
    weft_sleep(10 * WEFT_MS);
    CHECK_OK(weft_event_set(a.hold));
    join_and_release(t1);
    join_and_release(t2);
    CHECK_RC(atomic_load(&first.rc), 0);
    CHECK_RC(atomic_load(&last.rc), 1);
    wait_n_waiting(b, 1);                   /* the early one, now in round 2 */
    CHECK_RC(weft_barrier_wait(b, 10 * WEFT_SEC), 1);
    join_and_release(t3);
    CHECK_RC(atomic_load(&early.rc), 0);
    CHECK_EQ(atomic_load(&a.calls), 2);
    weft_barrier_destroy(b);
    weft_event_destroy(a.hold);
}

/* ---- stress: random timeouts and cancels, every round all-or-nothing ----------------------
 * 6 parties (2 threads, 2 coroutines on each of two loops). Each attempt, every party waits
 * on the main barrier with a random timeout (0, short, or long); coroutine parties sometimes
 * wait through a child coroutine that they cancel if it takes too long. Then all meet on a
 * sync barrier (never broken) whose action checks the attempt: either every party got an
 * index (0..5 each once) and the action ran once, or exactly one party got -ETIMEDOUT or
 * -ECANCELED and the other five -EPIPE (then it resets the main barrier). */
typedef struct {
    weft_barrier *main, *sync;
    int64_t until;
    atomic_int next_slot;
    int outcome[PARTIES];
    atomic_int acts;
    int acts_seen;
    bool stop;
    long ok_rounds, broken_rounds, timeouts, cancels;
} storm;

static int storm_action(void *arg)
{
    storm *s = arg;
    atomic_fetch_add(&s->acts, 1);
    return 0;
}

static int storm_check(void *arg)
{
    storm *s = arg;
    int ok = 0, pipe = 0, own = 0, seen = 0;
    for (int i = 0; i < PARTIES; i++) {
        int rc = s->outcome[i];
        if (rc >= 0) {
            CHECK(rc < PARTIES);
            CHECK(!(seen & (1 << rc)));
            seen |= 1 << rc;
            ok++;
        } else if (rc == -EPIPE) {
            pipe++;
        } else {
            if (rc == -ETIMEDOUT) {
                s->timeouts++;
            } else {
                CHECK_RC(rc, -ECANCELED);
                s->cancels++;
            }
            own++;
        }
    }
    int acts = atomic_load(&s->acts);
    if (ok == PARTIES) {
        CHECK(!weft_barrier_broken(s->main));
        CHECK_EQ(acts, s->acts_seen + 1);
        s->ok_rounds++;
    } else {
        if (ok != 0 || own != 1 || pipe != PARTIES - 1) {
            fprintf(stderr, "attempt: ok %d, own %d, pipe %d:", ok, own, pipe);
            for (int i = 0; i < PARTIES; i++) fprintf(stderr, " %d", s->outcome[i]);
            fprintf(stderr, "\n");
            CHECK(0);
        }
        CHECK(weft_barrier_broken(s->main));
        CHECK(acts == s->acts_seen || acts == s->acts_seen + 1);
        CHECK_OK(weft_barrier_reset(s->main));
        s->broken_rounds++;
    }
    s->acts_seen = acts;
    s->stop = weft_now() >= s->until;
    return 0;
}

static int64_t storm_timeout(unsigned *seed)
{
    switch (rnd(seed) % 4) {
    case 0: return 0;
    case 1: return 5 * WEFT_SEC;
    default: return (int64_t)(rnd(seed) % 800) * WEFT_US;
    }
}

typedef struct {
    storm *s;
    int64_t timeout;
    int rc;
} child_job;

static int storm_child(void *arg, void **result)
{
    (void)result;
    child_job *j = arg;
    j->rc = weft_barrier_wait(j->s->main, j->timeout);
    return 0;
}

static int storm_party(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    int slot = atomic_fetch_add(&s->next_slot, 1);
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now() ^ (unsigned)slot;
    for (;;) {
        int rc;
        if (weft_in_coroutine() && rnd(&seed) % 3 == 0) {
            child_job j = { s, rnd(&seed) % 2 ? WEFT_FOREVER : storm_timeout(&seed), 0 };
            weft_future *f;
            CHECK_OK(weft_spawn(&f, storm_child, &j));
            CHECK_OK(weft_yield());          /* it has arrived (or finished) now */
            int r = weft_future_result(f, (int64_t)(rnd(&seed) % 1000) * WEFT_US, NULL);
            if (r == -ETIMEDOUT) {
                weft_future_cancel(f);
                r = weft_future_result(f, WEFT_FOREVER, NULL);
            }
            CHECK_OK(r);
            weft_future_release(f);
            rc = j.rc;
        } else {
            rc = weft_barrier_wait(s->main, storm_timeout(&seed));
        }
        s->outcome[slot] = rc;
        CHECK(weft_barrier_wait(s->sync, 30 * WEFT_SEC) >= 0);
        if (s->stop) return 0;
    }
}

static void test_stress(void)
{
    static storm s;
    memset(&s, 0, sizeof s);
    s.until = weft_now() + (slow_tools() ? 1 : 2) * WEFT_SEC;
    CHECK_OK(weft_barrier_create(&s.main, PARTIES, storm_action, &s));
    CHECK_OK(weft_barrier_create(&s.sync, PARTIES, storm_check, &s));
    spawn_job two = { 2, storm_party, &s };
    loop_job loop = { spawn_all_and_wait, &two };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    t[2] = thread_run(storm_party, &s);
    t[3] = thread_run(storm_party, &s);
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    printf("   rounds: %ld whole, %ld broken (%ld timeouts, %ld cancels)\n", s.ok_rounds,
           s.broken_rounds, s.timeouts, s.cancels);
    CHECK_EQ(s.timeouts + s.cancels, s.broken_rounds);
    CHECK(s.ok_rounds > 10);
    CHECK(s.broken_rounds > 10);
    CHECK(!weft_barrier_broken(s.sync));
    CHECK(!weft_barrier_broken(s.main));
    weft_barrier_destroy(s.main);
    weft_barrier_destroy(s.sync);
}

/* ---- misuse --------------------------------------------------------------------------------- */

static weft_barrier *busy;

static int busy_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_barrier_wait(busy, WEFT_FOREVER);
}

static int destroy_with_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_barrier_create(&busy, 3, NULL, NULL));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    weft_yield();
    weft_barrier_destroy(busy);
    return 0;
}

static void destroy_busy_child(void) { weft_run(destroy_with_waiter, NULL, NULL); }

static void test_destroy_with_waiter_aborts(void)
{
    expect_abort(destroy_busy_child, "weft_barrier_destroy: 1 waiter(s) still waiting");
}

/* ---- a wait that times out or is cancelled while the previous round is being released -----
 * weft/sync.h: "-ETIMEDOUT / -ECANCELED (this wait timed out or was cancelled: the barrier
 * breaks for the others)". A party that arrives while the last party of the previous round
 * runs the action and leaves (timeout or cancel) before the action ends: the round being
 * released completes, then the barrier is broken — another early arrival gets -EPIPE, and so
 * does the next wait — or the next round would wait for a party that has gone. */
static void early_arrival_leaves(bool cancel)
{
    weft_barrier *b;
    action_state a = { .fail_on = -1 };
    CHECK_OK(weft_event_create(&a.hold));
    CHECK_OK(weft_barrier_create(&b, 2, test_action, &a));
    party first = { b, 10 * WEFT_SEC, NULL, 0, 0 }, last = { b, 10 * WEFT_SEC, NULL, 0, 0 };
    party other = { b, 10 * WEFT_SEC, NULL, 0, 0 }, leaver = { b, WEFT_FOREVER, NULL, 0, 0 };
    weft_thread *t1 = thread_run(party_wait, &first);
    wait_n_waiting(b, 1);
    weft_thread *t2 = thread_run(party_wait, &last);
    while (!atomic_load(&a.running)) weft_sleep(WEFT_MS);
    loop_job ojob = { coro_party_loop, &other };        /* another early arrival */
    weft_thread *t3 = start_loop_thread(&ojob);
    while (!atomic_load(&other.ready)) weft_sleep(WEFT_MS);
    if (cancel) {
        loop_job ljob = { coro_party_loop, &leaver };
        weft_thread *t4 = start_loop_thread(&ljob);
        while (!atomic_load(&leaver.ready)) weft_sleep(WEFT_MS);
        weft_sleep(10 * WEFT_MS);
        CHECK_OK(weft_future_cancel(leaver.f));
        join_and_release(t4);
        CHECK_RC(atomic_load(&leaver.rc), -ECANCELED);
    } else {
        weft_sleep(10 * WEFT_MS);
        CHECK_RC(weft_barrier_wait(b, 20 * WEFT_MS), -ETIMEDOUT);   /* early; times out */
    }
    CHECK_OK(weft_event_set(a.hold));
    join_and_release(t1);
    join_and_release(t2);
    join_and_release(t3);
    CHECK_RC(atomic_load(&first.rc), 0);                /* the released round completed */
    CHECK_RC(atomic_load(&last.rc), 1);
    CHECK_RC(atomic_load(&other.rc), -EPIPE);
    CHECK(weft_barrier_broken(b));
    CHECK_RC(weft_barrier_wait(b, 50 * WEFT_MS), -EPIPE);   /* a party of the next round */
    CHECK_EQ(atomic_load(&a.calls), 1);
    CHECK_OK(weft_barrier_reset(b));
    CHECK(!weft_barrier_broken(b));
    weft_barrier_destroy(b);
    weft_event_destroy(a.hold);
}

static void test_early_arrival_timeout_breaks(void)
{
    early_arrival_leaves(false);
}

static void test_early_arrival_cancel_breaks(void)
{
    early_arrival_leaves(true);
}

/* ---- out of memory ------------------------------------------------------------------- */


static int op_barrier(void)
{
    weft_barrier *b;
    int rc = weft_barrier_create(&b, 1, NULL, NULL);
    if (rc) return rc;
    CHECK_RC(weft_barrier_wait(b, 0), 0);
    weft_barrier_destroy(b);
    return 0;
}

static void test_out_of_memory(void)
{
    CHECK_EQ(fail_each_allocation(op_barrier), 1);
}

int main(void)
{
    RUN(test_basics);
    RUN(test_rounds_mixed_parties);
    RUN(test_indices_follow_arrival);
    RUN(test_coroutine_wait_suspends_only_it);
    RUN(test_timeout_breaks_for_others);
    RUN(test_cancel_breaks_for_others);
    RUN(test_abort_and_reset);
    RUN(test_coroutine_timeout_and_cancel);
    RUN(test_cancelled_last_party_completes);
    RUN(test_failing_action_breaks);
    RUN(test_action_runs_before_others_go);
    RUN(test_early_arrival_joins_next_round);
    RUN(test_stress);
    RUN(test_out_of_memory);
    RUN(test_destroy_with_waiter_aborts);
    RUN(test_early_arrival_timeout_breaks);
    RUN(test_early_arrival_cancel_breaks);
    return check_done();
}
