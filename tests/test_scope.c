/* Deadline scopes: every blocking call inside is bounded, nesting (earliest wins), leaving
 * removes the deadline, shielded scopes, threads as well as coroutines, misuse. */
#include "check.h"


/* Every kind of wait inside an expired scope returns -ETIMEDOUT; the scope says so. */
static void every_wait_is_bounded(void)
{
    weft_lock *lock;
    weft_event *ev;
    weft_queue *q;
    weft_sem *sem;
    weft_future *fut;
    CHECK_OK(weft_lock_create(&lock));
    CHECK_OK(weft_event_create(&ev));
    CHECK_OK(weft_queue_create(&q, 1));
    CHECK_OK(weft_sem_create(&sem, 0, 0));
    CHECK_OK(weft_future_create(&fut));
    int p[2];
    CHECK(pipe(p) == 0);

    weft_scope s;
    int64_t t0 = weft_now();
    CHECK_OK(weft_scope_enter(&s, 2 * WEFT_MS, 0));
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ETIMEDOUT);
    CHECK(weft_now() - t0 >= 2 * WEFT_MS);
    CHECK(weft_scope_expired(&s));
    CHECK_RC(weft_event_wait(ev, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_future_result(fut, WEFT_FOREVER, NULL), -ETIMEDOUT);
    void *item;
    CHECK_RC(weft_queue_get(q, &item, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_sem_acquire(sem, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, WEFT_FOREVER), -ETIMEDOUT);
    /* What need not wait still works after the deadline. */
    CHECK_OK(weft_lock_acquire(lock, WEFT_FOREVER));
    CHECK_OK(weft_queue_put(q, &item, WEFT_FOREVER));
    CHECK_RC(weft_queue_put(q, &item, WEFT_FOREVER), -ETIMEDOUT);   /* full: would wait */
    CHECK_OK(weft_event_set(ev));
    CHECK_OK(weft_event_wait(ev, WEFT_FOREVER));
    CHECK_RC(weft_io_wait(p[1], WEFT_IO_WRITE, WEFT_FOREVER), WEFT_IO_WRITE);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    /* Gone with the scope: the same waits now wait (briefly, with their own timeouts). */
    CHECK_RC(weft_sem_acquire(sem, 1 * WEFT_MS), -ETIMEDOUT);
    CHECK_OK(weft_sleep(1000));
    CHECK_OK(weft_lock_release(lock));

    close(p[0]);
    close(p[1]);
    weft_future_set_result(fut, NULL);
    weft_future_release(fut);
    weft_sem_destroy(sem);
    CHECK_OK(weft_queue_get(q, &item, 0));
    weft_queue_destroy(q);
    weft_event_destroy(ev);
    weft_lock_destroy(lock);
}

static int every_wait_main(void *arg, void **result)
{
    (void)arg; (void)result;
    every_wait_is_bounded();
    return 0;
}

static void test_every_wait_is_bounded_in_a_coroutine(void)
{
    CHECK_OK(weft_run(every_wait_main, NULL, NULL));
}

static void test_every_wait_is_bounded_in_a_thread(void)
{
    every_wait_is_bounded();
}

/* A call's own shorter timeout still comes first, and does not mark the scope. */
static int own_timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *ev;
    CHECK_OK(weft_event_create(&ev));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 1000 * WEFT_MS, 0));
    CHECK_RC(weft_event_wait(ev, 1 * WEFT_MS), -ETIMEDOUT);
    CHECK_OK(weft_sleep(1 * WEFT_MS));                   /* its own time up: a success */
    CHECK(!weft_scope_expired(&s));
    CHECK_OK(weft_scope_leave(&s));
    weft_event_destroy(ev);
    return 0;
}

static void test_own_timeout_first(void)
{
    CHECK_OK(weft_run(own_timeout_main, NULL, NULL));
}

/* Nested: the earliest deadline wins, whichever scope it belongs to; only the scope whose
 * deadline cut the wait is marked. */
static int nested_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope outer, mid, inner;
    int64_t t0 = weft_now();
    CHECK_OK(weft_scope_enter(&outer, 3 * WEFT_MS, 0));
    CHECK_OK(weft_scope_enter(&mid, 1000 * WEFT_MS, 0));
    CHECK_OK(weft_scope_enter(&inner, WEFT_FOREVER, 0));
    CHECK_RC(weft_sleep(1000 * WEFT_MS), -ETIMEDOUT);
    int64_t took = weft_now() - t0;
    CHECK_BETWEEN(took, 3 * WEFT_MS, 900 * WEFT_MS);
    CHECK_OK(weft_scope_leave(&inner));
    CHECK_OK(weft_scope_leave(&mid));
    CHECK_RC(weft_scope_leave(&outer), -ETIMEDOUT);

    CHECK_OK(weft_scope_enter(&outer, 1000 * WEFT_MS, 0));
    CHECK_OK(weft_scope_enter(&inner, 2 * WEFT_MS, 0));
    CHECK_RC(weft_sleep(1000 * WEFT_MS), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&inner), -ETIMEDOUT);
    CHECK_OK(weft_sleep(1 * WEFT_MS));                   /* the outer one has time left */
    CHECK_OK(weft_scope_leave(&outer));
    return 0;
}

static void test_nested_scopes_earliest_wins(void)
{
    CHECK_OK(weft_run(nested_main, NULL, NULL));
}

/* Shielded scope: cancellation and the outer deadlines stop at it; its own deadline and
 * those of scopes inside it still apply. */
static int shield_body(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope outer;
    CHECK_OK(weft_scope_enter(&outer, 2 * WEFT_MS, 0));
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);        /* cancelled while waiting */
    CHECK(weft_cancelled());
    CHECK_RC(weft_yield(), -ECANCELED);

    weft_scope shield;
    CHECK_OK(weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    CHECK(!weft_cancelled());                              /* not inside the shield */
    CHECK_OK(weft_yield());
    int64_t t0 = weft_now();
    CHECK_OK(weft_sleep(5 * WEFT_MS));                          /* past the outer deadline too */
    CHECK(weft_now() - t0 >= 5 * WEFT_MS);
    weft_scope inner;
    CHECK_OK(weft_scope_enter(&inner, 1 * WEFT_MS, 0));
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ETIMEDOUT);        /* deadlines inside still apply */
    CHECK_RC(weft_scope_leave(&inner), -ETIMEDOUT);
    CHECK_OK(weft_scope_leave(&shield));

    CHECK(weft_cancelled());                               /* sticky: still cancelled */
    CHECK_RC(weft_sleep(1), -ECANCELED);
    CHECK_OK(weft_scope_leave(&outer));   /* the wait was cut by cancellation, not by it */
    return 7;
}

static int shield_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, shield_body, NULL));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), 7);
    weft_future_release(t);
    return 0;
}

static void test_shielded_scope(void)
{
    CHECK_OK(weft_run(shield_main, NULL, NULL));
}

/* A shielded scope with its own deadline bounds cleanup code: it may wait, but not for
 * ever (Trio's "shielded cancel scope with a timeout" for cleanup). */
static int bounded_cleanup(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 2 * WEFT_MS, WEFT_SCOPE_SHIELD));
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    return -ECANCELED;
}

static int bounded_cleanup_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, bounded_cleanup, NULL));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -ECANCELED);
    weft_future_release(t);
    return 0;
}

static void test_shield_with_deadline_bounds_cleanup(void)
{
    CHECK_OK(weft_run(bounded_cleanup_main, NULL, NULL));
}

/* Scopes belong to their context: one coroutine's scope does not bound another's waits. */
static int other_sleeps(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_sleep(5 * WEFT_MS);
}

static int per_context_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 1 * WEFT_MS, 0));
    weft_future *t;
    CHECK_OK(weft_spawn(&t, other_sleeps, NULL));
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, NULL));   /* it slept its full 5 ms */
    weft_future_release(t);
    return 0;
}

static void test_scopes_are_per_context(void)
{
    CHECK_OK(weft_run(per_context_main, NULL, NULL));
}

/* A thread's scope also bounds a thread's wait while its loop runs coroutines. */
static void test_thread_scope_with_coroutines(void)
{
    weft_future *t;
    CHECK_OK(weft_spawn(&t, other_sleeps, NULL));
    weft_event *ev;
    CHECK_OK(weft_event_create(&ev));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 1 * WEFT_MS, 0));
    CHECK_RC(weft_event_wait(ev, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, NULL));
    weft_future_release(t);
    weft_event_destroy(ev);
}

static int misuse_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope a, b;
    CHECK_RC(weft_scope_enter(NULL, 1, 0), -EINVAL);
    CHECK_RC(weft_scope_enter(&a, -5, 0), -EINVAL);
    CHECK_RC(weft_scope_enter(&a, 1, 0x10), -EINVAL);
    CHECK_RC(weft_scope_leave(NULL), -EINVAL);
    CHECK(!weft_scope_expired(NULL));
    CHECK_OK(weft_scope_enter(&a, WEFT_FOREVER, 0));
    CHECK_OK(weft_scope_enter(&b, WEFT_FOREVER, 0));
    CHECK_RC(weft_scope_leave(&a), -EINVAL);               /* not the innermost */
    CHECK(!weft_scope_expired(&a));
    CHECK_OK(weft_scope_leave(&b));
    CHECK_OK(weft_scope_leave(&a));
    CHECK_RC(weft_scope_leave(&a), -EINVAL);               /* left already */
    /* A zero timeout: expired at once; waits fail at once, non-waits succeed. */
    CHECK_OK(weft_scope_enter(&a, 0, 0));
    CHECK(weft_scope_expired(&a));
    CHECK_RC(weft_sleep(1 * WEFT_MS), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&a), -ETIMEDOUT);
    return 0;
}

static void test_misuse(void)
{
    CHECK_OK(weft_run(misuse_main, NULL, NULL));
}

/* Scope enter/leave is cheap and does not allocate: a million of them. */
static int many_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    for (int i = 0; i < 1000000; i++) {
        weft_scope s;
        CHECK_OK(weft_scope_enter(&s, 1000 * WEFT_MS, 0));
        CHECK_OK(weft_lock_acquire(l, WEFT_FOREVER));
        CHECK_OK(weft_lock_release(l));
        CHECK_OK(weft_scope_leave(&s));
    }
    weft_lock_destroy(l);
    return 0;
}

static void test_many_scopes(void)
{
    CHECK_OK(weft_run(many_main, NULL, NULL));
}

int main(void)
{
    RUN(test_every_wait_is_bounded_in_a_coroutine);
    RUN(test_every_wait_is_bounded_in_a_thread);
    RUN(test_own_timeout_first);
    RUN(test_nested_scopes_earliest_wins);
    RUN(test_shielded_scope);
    RUN(test_shield_with_deadline_bounds_cleanup);
    RUN(test_scopes_are_per_context);
    RUN(test_thread_scope_with_coroutines);
    RUN(test_misuse);
    RUN(test_many_scopes);
    return check_done();
}
