/* Edges of the waits over futures (issues 12 and 20): an outcome that arrives as the wait
 * is cut is reported, never lost; a deadline scope's timeout ends one as_completed call, not
 * the iteration; waiting for oneself is -EDEADLK instead of a hang; bad arguments are
 * -EINVAL before any future is looked at. */
#include "check.h"

#include <stdint.h>

/* ---- an outcome that arrives as the wait is cut ------------------------------------------- */

typedef struct {
    weft_future *f;            /* the future waited for */
    int use_wait_for;          /* weft_wait_for, else weft_future_result */
    int rc;
    void *result;
    _Atomic int parked;
} cut_wait;

static int waiter_task(void *arg, void **result)
{
    (void)result;
    cut_wait *c = arg;
    atomic_store(&c->parked, 1);
    c->rc = c->use_wait_for ? weft_wait_for(c->f, 10 * WEFT_SEC, &c->result)
                            : weft_future_result(c->f, 10 * WEFT_SEC, &c->result);
    return 0;
}

/* In one turn of the loop, before the waiter runs again: its task is cancelled (which
 * claims its wait: it will see -ECANCELED), then the future completes with 42. The waiter
 * must report 42: the future is done, and rule 8 says the outcome wins. Before the fix,
 * weft_future_result and weft_wait_for returned -ECANCELED and the result was dropped. */
static int cancel_then_complete(void *arg, void **result)
{
    (void)result;
    cut_wait *c = arg;
    CHECK_OK(weft_future_create(&c->f));
    weft_future *t;
    CHECK_OK(weft_spawn(&t, waiter_task, c));
    while (!atomic_load(&c->parked)) CHECK_OK(weft_yield());
    CHECK_OK(weft_yield());                          /* it is parked in the wait now */
    CHECK_OK(weft_future_cancel(t));
    CHECK_OK(weft_future_set_result(c->f, (void *)(intptr_t)42));
    CHECK_OK(weft_future_result(t, 10 * WEFT_SEC, NULL));
    weft_future_release(t);
    weft_future_release(c->f);
    return 0;
}

static void test_outcome_wins_over_a_cut_wait(void)
{
    for (int use_wait_for = 0; use_wait_for < 2; use_wait_for++) {
        cut_wait c = { .use_wait_for = use_wait_for };
        CHECK_OK(weft_run(cancel_then_complete, &c, NULL));
        CHECK_RC(c.rc, 0);
        CHECK_EQ((intptr_t)c.result, 42);
    }
}

/* ---- as_completed and an enclosing deadline scope ---------------------------------------- */

static int as_completed_in_scope(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f;
    CHECK_OK(weft_future_create(&f));
    weft_as_completed *it;
    CHECK_OK(weft_as_completed_create(&it, &f, 1, WEFT_FOREVER));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 20 * WEFT_MS, 0));
    weft_future *got = NULL;
    CHECK_RC(weft_as_completed_next(it, &got), -ETIMEDOUT);   /* the scope's deadline */
    weft_scope_leave(&s);
    /* Outside the scope, the iteration (no timeout of its own) goes on. Before the fix,
     * every later call returned -ETIMEDOUT. */
    CHECK_OK(weft_future_set_result(f, NULL));
    CHECK_OK(weft_as_completed_next(it, &got));
    CHECK_PTR(got, f);
    CHECK_RC(weft_as_completed_next(it, &got), -ENOENT);
    weft_as_completed_destroy(it);
    /* Its own timeout still ends it for good. */
    weft_future *g;
    CHECK_OK(weft_future_create(&g));
    CHECK_OK(weft_as_completed_create(&it, &g, 1, 20 * WEFT_MS));
    CHECK_RC(weft_as_completed_next(it, &got), -ETIMEDOUT);
    CHECK_OK(weft_future_set_result(g, NULL));
    CHECK_RC(weft_as_completed_next(it, &got), -ETIMEDOUT);
    weft_as_completed_destroy(it);
    weft_future_release(f);
    weft_future_release(g);
    return 0;
}

static void test_scope_timeout_does_not_end_as_completed(void)
{
    CHECK_OK(weft_run(as_completed_in_scope, NULL, NULL));
}

/* ---- waiting for oneself ------------------------------------------------------------------- */

static int waits_for_itself(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *self = weft_current_task();
    CHECK(self != NULL);
    weft_future *other;
    CHECK_OK(weft_future_create(&other));
    weft_future *fs[2] = { other, self };
    CHECK_RC(weft_wait(fs, 2, WEFT_ALL_COMPLETED, WEFT_SEC, NULL), -EDEADLK);
    CHECK_RC(weft_wait(fs, 2, WEFT_FIRST_COMPLETED, WEFT_SEC, NULL), -EDEADLK);
    CHECK_RC(weft_gather(fs, 2, WEFT_SEC, true, NULL), -EDEADLK);
    weft_as_completed *it;
    CHECK_RC(weft_as_completed_create(&it, fs, 2, WEFT_SEC), -EDEADLK);
    CHECK_RC(weft_wait_for(self, WEFT_SEC, NULL), -EDEADLK);
    weft_future_release(other);
    return 0;
}

static weft_group *shared_group;
static _Atomic int child_checked;

static int child_waits_for_its_group(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_group_wait(shared_group), -EPERM);        /* not the owner */
    atomic_store(&child_checked, 1);
    return 0;
}

static int group_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_group_create(&shared_group));
    CHECK_OK(weft_group_spawn(shared_group, NULL, NULL, child_waits_for_its_group, NULL));
    CHECK_OK(weft_group_wait(shared_group));
    weft_group_destroy(shared_group);
    return 0;
}

static void test_waiting_for_oneself_is_edeadlk(void)
{
    CHECK_OK(weft_run(waits_for_itself, NULL, NULL));
    CHECK_OK(weft_run(group_main, NULL, NULL));
    CHECK(atomic_load(&child_checked));
}

static int child_destroys_its_group(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group_destroy(shared_group);        /* aborts: it would wait for itself */
    return 0;
}

static int destroy_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_group_create(&shared_group));
    CHECK_OK(weft_group_spawn(shared_group, NULL, NULL, child_destroys_its_group, NULL));
    return weft_group_wait(shared_group);
}

static void destroy_from_child(void)
{
    weft_run(destroy_main, NULL, NULL);
    exit(0);                                  /* not reached */
}

static void test_group_destroyed_by_its_child_aborts(void)
{
    /* TSan and qemu-user refuse new threads in a forked child of a threaded process; this
     * child runs a loop on its only thread, which needs none, but the pools of earlier
     * tests may have left threads in the parent. */
    if (TEST_TSAN || under_qemu()) SKIP("fork of a threaded process");
    expect_abort(destroy_from_child, "destroyed by one of its own children");
}

/* ---- bad arguments first ------------------------------------------------------------------ */

static void test_bad_arguments_before_futures(void)
{
    /* Not futures at all: a bad `when` or timeout must be -EINVAL without looking at them
     * (a debug build aborted on the first, checking its magic). */
    uint64_t junk[16] = { 0 };
    weft_future *fs[2] = { (weft_future *)(void *)junk, (weft_future *)(void *)junk };
    CHECK_RC(weft_wait(fs, 2, 99, WEFT_SEC, NULL), -EINVAL);
    CHECK_RC(weft_wait(fs, 2, WEFT_ALL_COMPLETED, -5, NULL), -EINVAL);
    CHECK_RC(weft_wait(NULL, 2, WEFT_ALL_COMPLETED, WEFT_SEC, NULL), -EINVAL);
    weft_future *none[1] = { NULL };
    CHECK_RC(weft_wait(none, 1, WEFT_ALL_COMPLETED, WEFT_SEC, NULL), -EINVAL);
    CHECK_EQ(weft_wait(NULL, 0, WEFT_ALL_COMPLETED, 0, NULL), 0);
}

int main(void)
{
    RUN(test_outcome_wins_over_a_cut_wait);
    RUN(test_scope_timeout_does_not_end_as_completed);
    RUN(test_waiting_for_oneself_is_edeadlk);
    RUN(test_group_destroyed_by_its_child_aborts);
    RUN(test_bad_arguments_before_futures);
    return check_done();
}
