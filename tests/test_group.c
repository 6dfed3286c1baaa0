/* Task groups: leaving waits for all, the first failure cancels the others, the owner's
 * cancellation reaches the children, outcomes kept per child, misuse and bad input. */
#include "fault.h"

#include <stdatomic.h>


static _Atomic int started, finished, saw_cancel;

static void reset_counts(void)
{
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    atomic_store(&saw_cancel, 0);
}

/* Sleeps arg ns, then returns 0; counts what it saw. */
static int sleeper(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add(&started, 1);
    int rc = weft_sleep((int64_t)(intptr_t)arg);
    if (rc == -ECANCELED) atomic_fetch_add(&saw_cancel, 1);
    atomic_fetch_add(&finished, 1);
    return rc;
}

/* Sleeps 1 ms, then fails with the error in arg. */
static int failer(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add(&started, 1);
    weft_sleep(1 * WEFT_MS);
    atomic_fetch_add(&finished, 1);
    return (int)(intptr_t)arg;
}

static int empty(void *arg, void **result)
{
    (void)arg;
    *result = (void *)0x5;
    return 0;
}

static int basic_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_RC(weft_group_result(g), -EBUSY);
    weft_future *first;
    CHECK_OK(weft_group_spawn(g, &first, NULL, empty, NULL));
    for (int i = 0; i < 99; i++) CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)WEFT_MS));
    CHECK_EQ(weft_group_size(g), 100);
    CHECK_RC(weft_group_child_result(g, 0), -EBUSY);      /* nothing ran yet */
    CHECK_OK(weft_group_wait(g));
    CHECK_EQ(atomic_load(&finished), 99);
    for (size_t i = 0; i < 100; i++) CHECK_OK(weft_group_child_result(g, i));
    CHECK_RC(weft_group_child_result(g, 100), -EINVAL);
    CHECK_EQ(weft_group_failures(g), 0);
    void *r = NULL;
    CHECK_OK(weft_future_result(first, 0, &r));            /* the handle still works */
    CHECK_PTR(r, (void *)0x5);
    weft_future_release(first);
    CHECK_OK(weft_group_wait(g));                          /* again: same outcome */
    CHECK_OK(weft_group_result(g));
    CHECK_RC(weft_group_spawn(g, NULL, NULL, empty, NULL), -ESHUTDOWN);
    CHECK_EQ(weft_live_coroutines(), 1);
    weft_group_destroy(g);
    return 0;
}

static void test_leaving_waits_for_every_child(void)
{
    reset_counts();
    CHECK_OK(weft_run(basic_main, NULL, NULL));
    CHECK_EQ(weft_live_coroutines(), 0);
}

static int empty_group_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_wait(g));
    CHECK_EQ(weft_group_size(g), 0);
    weft_group_destroy(g);
    return 0;
}

static void test_empty_group(void)
{
    CHECK_OK(weft_run(empty_group_main, NULL, NULL));
}

static int first_failure_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, failer, (void *)(intptr_t)-EIO));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    int64_t t0 = weft_now();
    CHECK_RC(weft_group_wait(g), -EIO);
    CHECK(weft_now() - t0 < 5000 * WEFT_MS);         /* the sleepers did not run to their end */
    CHECK_EQ(atomic_load(&saw_cancel), 2);
    CHECK_RC(weft_group_child_result(g, 0), -ECANCELED);
    CHECK_RC(weft_group_child_result(g, 1), -EIO);
    CHECK_RC(weft_group_child_result(g, 2), -ECANCELED);
    CHECK_EQ(weft_group_failures(g), 1);
    CHECK_RC(weft_group_result(g), -EIO);
    CHECK_RC(weft_group_spawn(g, NULL, NULL, empty, NULL), -ESHUTDOWN);
    weft_group_destroy(g);
    return 0;
}

static void test_first_failure_cancels_the_others(void)
{
    reset_counts();
    CHECK_OK(weft_run(first_failure_main, NULL, NULL));
}

/* Two children fail at about the same time: the group reports the first, keeps both. */
static int two_failures_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, failer, (void *)(intptr_t)-EIO));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, failer, (void *)(intptr_t)-EPIPE));
    CHECK_RC(weft_group_wait(g), -EIO);               /* same deadline: FIFO order */
    CHECK_EQ(weft_group_failures(g), 2);
    CHECK_RC(weft_group_child_result(g, 0), -EIO);
    CHECK_RC(weft_group_child_result(g, 1), -EPIPE);
    weft_group_destroy(g);
    return 0;
}

static void test_every_failure_is_kept(void)
{
    CHECK_OK(weft_run(two_failures_main, NULL, NULL));
}

/* The owner is cancelled while it sleeps elsewhere: its children hear of it at once. */
static weft_group *owned;

static int owner(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_group_create(&owned));
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_group_spawn(owned, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    CHECK_RC(weft_sleep(10000 * WEFT_MS), -ECANCELED);
    /* The children were cancelled with the owner, not by its wait: give them time to run
     * (shielded, the owner can still sleep) and look. */
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_OK(weft_scope_leave(&s));
    CHECK_EQ(atomic_load(&saw_cancel), 3);
    CHECK_EQ(atomic_load(&finished), 3);
    CHECK_RC(weft_group_spawn(owned, NULL, NULL, empty, NULL), -ESHUTDOWN);
    int rc = weft_group_wait(owned);
    CHECK_EQ(atomic_load(&finished), 3);
    weft_group_destroy(owned);
    return rc;
}

static int cancel_owner_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, owner, NULL));
    CHECK_OK(weft_sleep(2 * WEFT_MS));
    CHECK_EQ(atomic_load(&started), 3);
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -ECANCELED);
    weft_future_release(t);
    CHECK_EQ(weft_live_coroutines(), 1);
    return 0;
}

static void test_cancelling_the_owner_cancels_the_children(void)
{
    reset_counts();
    CHECK_OK(weft_run(cancel_owner_main, NULL, NULL));
}

/* Cancelled while waiting in weft_group_wait: children cancelled, waited for, -ECANCELED. */
static int owner_waiting(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    int rc = weft_group_wait(g);
    CHECK_EQ(atomic_load(&finished), 3);               /* nothing outlives the group */
    CHECK_RC(weft_group_result(g), rc);
    weft_group_destroy(g);
    return rc;
}

static int cancel_waiting_owner_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, owner_waiting, NULL));
    CHECK_OK(weft_sleep(2 * WEFT_MS));
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -ECANCELED);
    weft_future_release(t);
    CHECK_EQ(atomic_load(&saw_cancel), 3);
    return 0;
}

static void test_cancelling_the_owner_while_it_waits(void)
{
    reset_counts();
    CHECK_OK(weft_run(cancel_waiting_owner_main, NULL, NULL));
}

/* A child failing while the owner is cancelled: the failure wins (not swallowed), and the
 * owner stays cancelled. */
static int failing_while_cancelled(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope shield;
    CHECK_OK(weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    int rc = weft_sleep(3 * WEFT_MS);                 /* cleanup that ends in an error */
    CHECK_OK(weft_scope_leave(&shield));
    return rc ? rc : -EIO;
}

static int owner_with_stubborn_child(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, failing_while_cancelled, NULL));
    int rc = weft_group_wait(g);
    weft_group_destroy(g);
    CHECK(weft_cancelled());
    return rc;
}

static int failure_beats_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, owner_with_stubborn_child, NULL));
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -EIO);
    weft_future_release(t);
    return 0;
}

static void test_a_failure_is_not_swallowed_by_cancellation(void)
{
    CHECK_OK(weft_run(failure_beats_cancel_main, NULL, NULL));
}

/* The owner is cancelled inside a shielded scope: its group is left alone until the owner
 * waits for it outside the shield. */
static int shielded_owner(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 2; i++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(5 * WEFT_MS)));
    int rc = weft_group_wait(g);                  /* the cancel arrives during this wait */
    CHECK_OK(rc);
    CHECK_EQ(atomic_load(&saw_cancel), 0);
    CHECK_OK(weft_scope_leave(&s));
    CHECK(weft_cancelled());
    weft_group_destroy(g);
    return -ECANCELED;
}

static int shielded_owner_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, shielded_owner, NULL));
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_OK(weft_future_cancel(t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -ECANCELED);
    weft_future_release(t);
    CHECK_EQ(atomic_load(&finished), 2);
    return 0;
}

static void test_shielded_owner_keeps_its_group(void)
{
    reset_counts();
    CHECK_OK(weft_run(shielded_owner_main, NULL, NULL));
}

static int group_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 4; i++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_group_cancel(g));
    CHECK_OK(weft_group_cancel(g));                      /* twice: no effect */
    CHECK_RC(weft_group_spawn(g, NULL, NULL, empty, NULL), -ESHUTDOWN);
    CHECK_RC(weft_group_wait(g), -ECANCELED);
    CHECK_EQ(atomic_load(&saw_cancel), 4);
    CHECK(!weft_cancelled());                            /* the owner itself was not */
    CHECK_OK(weft_sleep(1));
    CHECK_OK(weft_group_cancel(g));                      /* after the wait: nothing to do */
    weft_group_destroy(g);
    return 0;
}

static void test_group_cancel(void)
{
    reset_counts();
    CHECK_OK(weft_run(group_cancel_main, NULL, NULL));
}

/* Cancelled before the children first ran: they never run. */
static int cancel_before_start_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 4; i++) CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)1));
    CHECK_OK(weft_group_cancel(g));
    CHECK_RC(weft_group_wait(g), -ECANCELED);
    CHECK_EQ(atomic_load(&started), 0);
    for (size_t i = 0; i < 4; i++) CHECK_RC(weft_group_child_result(g, i), -ECANCELED);
    weft_group_destroy(g);
    return 0;
}

static void test_children_cancelled_before_start_never_run(void)
{
    reset_counts();
    CHECK_OK(weft_run(cancel_before_start_main, NULL, NULL));
}

/* weft_group_cancel from another thread. */
static int cancel_from_thread(void *arg, void **result)
{
    (void)result;
    weft_sleep(2 * WEFT_MS);
    return weft_group_cancel(arg);
}

static int remote_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 4; i++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, cancel_from_thread, g));
    CHECK_RC(weft_group_wait(g), -ECANCELED);
    join_and_release(t);
    /* Each was cancelled: asleep, or (a slow machine) before it first ran. */
    for (size_t i = 0; i < 4; i++) CHECK_RC(weft_group_child_result(g, i), -ECANCELED);
    weft_group_destroy(g);
    return 0;
}

static void test_group_cancel_from_another_thread(void)
{
    reset_counts();
    CHECK_OK(weft_run(remote_cancel_main, NULL, NULL));
    CHECK_EQ(atomic_load(&saw_cancel), atomic_load(&started));
}

/* A deadline scope that expires while the owner waits cancels the children. */
static int deadline_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)1));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 5 * WEFT_MS, 0));
    CHECK_RC(weft_group_wait(g), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK_OK(weft_group_child_result(g, 1));
    CHECK_RC(weft_group_child_result(g, 0), -ECANCELED);
    CHECK_EQ(atomic_load(&finished), 2);
    CHECK(!weft_cancelled());
    weft_group_destroy(g);
    return 0;
}

static void test_deadline_scope_cancels_the_children(void)
{
    reset_counts();
    CHECK_OK(weft_run(deadline_main, NULL, NULL));
}

/* Children may add siblings while the owner waits. */
static weft_group *shared_group;

static int spawns_sibling(void *arg, void **result)
{
    (void)result;
    intptr_t depth = (intptr_t)arg;
    atomic_fetch_add(&started, 1);
    weft_sleep(100000);
    if (depth > 0) CHECK_OK(weft_group_spawn(shared_group, NULL, NULL, spawns_sibling,
                                             (void *)(depth - 1)));
    return 0;
}

static int sibling_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_group_create(&shared_group));
    CHECK_OK(weft_group_spawn(shared_group, NULL, NULL, spawns_sibling, (void *)9));
    CHECK_OK(weft_group_wait(shared_group));
    CHECK_EQ(weft_group_size(shared_group), 10);
    CHECK_EQ(atomic_load(&started), 10);
    weft_group_destroy(shared_group);
    return 0;
}

static void test_children_spawn_siblings(void)
{
    reset_counts();
    CHECK_OK(weft_run(sibling_main, NULL, NULL));
}

/* Only the creator waits: another coroutine (here: a child) gets -EPERM. */
static int waits_on_own_group(void *arg, void **result)
{
    (void)result;
    return weft_group_wait(arg);
}

static int eperm_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    weft_future *f;
    CHECK_OK(weft_group_spawn(g, &f, NULL, waits_on_own_group, g));
    CHECK_RC(weft_group_wait(g), -EPERM);
    CHECK_RC(weft_future_result(f, 0, NULL), -EPERM);
    weft_future_release(f);
    weft_group_destroy(g);
    return 0;
}

static void test_only_the_owner_waits(void)
{
    CHECK_OK(weft_run(eperm_main, NULL, NULL));
}

/* A thread owns a group: the thread's wait runs its loop, which runs the children. */
static void test_thread_owner(void)
{
    reset_counts();
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 10; i++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(1 * WEFT_MS)));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, failer, (void *)(intptr_t)-ENOENT));
    CHECK_RC(weft_group_wait(g), -ENOENT);
    CHECK_EQ(atomic_load(&finished), 11);
    weft_group_destroy(g);
    CHECK_EQ(weft_live_coroutines(), 0);
}

/* Destroying a group nobody waited for cancels and waits for its children. */
static int destroy_unwaited_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    CHECK_OK(weft_yield());
    weft_group_destroy(g);
    CHECK_EQ(atomic_load(&finished), 3);
    CHECK_EQ(weft_live_coroutines(), 1);
    return 0;
}

static void test_destroy_without_wait(void)
{
    reset_counts();
    CHECK_OK(weft_run(destroy_unwaited_main, NULL, NULL));
}

/* The owner returns without waiting: its group is wound up before its future completes. */
static weft_group *left_behind;

static int forgets_its_group(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_group_create(&left_behind));
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_group_spawn(left_behind, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    CHECK_OK(weft_yield());
    return 0;
}

static int forgotten_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *t;
    CHECK_OK(weft_spawn(&t, forgets_its_group, NULL));
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, NULL));
    CHECK_EQ(atomic_load(&finished), 3);           /* before its future completed */
    CHECK_EQ(atomic_load(&saw_cancel), 3);
    weft_future_release(t);
    for (int i = 0; i < 300; i++) CHECK_OK(weft_spawn(NULL, empty, NULL));  /* reuse memory */
    CHECK_OK(weft_sleep(1 * WEFT_MS));
    CHECK_RC(weft_group_result(left_behind), -ECANCELED);
    CHECK_RC(weft_group_wait(left_behind), -EPERM);  /* not ours */
    weft_group_destroy(left_behind);
    CHECK_EQ(weft_live_coroutines(), 1);
    return 0;
}

static void test_owner_returning_without_wait(void)
{
    reset_counts();
    CHECK_OK(weft_run(forgotten_main, NULL, NULL));
}

/* Group children on a group created by a thread but spawned from coroutines of another loop
 * are run by that other loop; the owner's wait sees them all. */
static weft_group *cross_group;

static int spawn_into_cross_group(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < 50; i++)
        CHECK_OK(weft_group_spawn(cross_group, NULL, NULL, sleeper, (void *)(intptr_t)(i * 1000)));
    return 0;
}

static void test_children_on_other_loops(void)
{
    reset_counts();
    CHECK_OK(weft_group_create(&cross_group));
    loop_job job = { spawn_into_cross_group, NULL };
    weft_thread *t = start_loop_thread(&job);
    join_and_release(t);              /* its weft_run drained them: they ended already */
    CHECK_OK(weft_group_wait(cross_group));
    CHECK_EQ(weft_group_size(cross_group), 50);
    CHECK_EQ(atomic_load(&finished), 50);
    weft_group_destroy(cross_group);
}

/* Misuse: destroying, from another thread, a group whose owner coroutine still runs. */
static int destroy_elsewhere(void *arg, void **result)
{
    (void)result;
    weft_group_destroy(arg);
    return 0;
}

static int wrong_thread_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_OK(weft_group_spawn(g, NULL, NULL, sleeper, (void *)(10000 * WEFT_MS)));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, destroy_elsewhere, g));
    weft_thread_join(t, WEFT_FOREVER, NULL);
    return 0;
}

static void destroy_from_wrong_thread(void)
{
    weft_run(wrong_thread_main, NULL, NULL);
}

static void test_destroy_from_another_thread_aborts(void)
{
    /* TSan and qemu-user refuse new threads in a forked child of a threaded process. */
    if (TEST_TSAN || under_qemu()) SKIP("threads in a forked child");
    expect_abort(destroy_from_wrong_thread, "not waited for, by a thread other than its owner");
}

static void test_bad_arguments(void)
{
    CHECK_RC(weft_group_create(NULL), -EINVAL);
    CHECK_RC(weft_group_spawn(NULL, NULL, NULL, empty, NULL), -EINVAL);
    weft_group *g;
    CHECK_OK(weft_group_create(&g));
    CHECK_RC(weft_group_spawn(g, NULL, NULL, NULL, NULL), -EINVAL);
    weft_spawn_opts o = { .stack_size = 1 };
    CHECK_RC(weft_group_spawn(g, NULL, &o, empty, NULL), -EINVAL);
    CHECK_EQ(weft_group_size(g), 0);
    CHECK_RC(weft_group_wait(NULL), -EINVAL);
    CHECK_RC(weft_group_result(NULL), -EINVAL);
    CHECK_RC(weft_group_cancel(NULL), -EINVAL);
    CHECK_RC(weft_group_child_result(NULL, 0), -EINVAL);
    CHECK_RC(weft_group_child_result(g, 0), -EINVAL);
    CHECK_EQ(weft_group_size(NULL), 0);
    CHECK_EQ(weft_group_failures(NULL), 0);
    weft_group_destroy(NULL);
    CHECK_OK(weft_group_wait(g));
    weft_group_destroy(g);
}

static weft_group *fault_group;

static int spawn_one(void)
{
    return weft_group_spawn(fault_group, NULL, NULL, empty, NULL);
}

static int create_one(void)
{
    weft_group *g;
    int rc = weft_group_create(&g);
    if (!rc) weft_group_destroy(g);
    return rc;
}

static void test_allocation_failures(void)
{
    CHECK(fail_each_allocation(create_one) >= 1);
    CHECK_OK(weft_group_create(&fault_group));
    for (int round = 0; round < 40; round++) fail_each_allocation(spawn_one);
    CHECK_OK(weft_group_wait(fault_group));
    size_t n = weft_group_size(fault_group);
    CHECK_EQ(n, 40);                                   /* failed spawns left no trace */
    for (size_t i = 0; i < n; i++) CHECK_OK(weft_group_child_result(fault_group, i));
    weft_group_destroy(fault_group);
}

int main(void)
{
    RUN(test_leaving_waits_for_every_child);
    RUN(test_empty_group);
    RUN(test_first_failure_cancels_the_others);
    RUN(test_every_failure_is_kept);
    RUN(test_cancelling_the_owner_cancels_the_children);
    RUN(test_cancelling_the_owner_while_it_waits);
    RUN(test_a_failure_is_not_swallowed_by_cancellation);
    RUN(test_shielded_owner_keeps_its_group);
    RUN(test_group_cancel);
    RUN(test_children_cancelled_before_start_never_run);
    RUN(test_group_cancel_from_another_thread);
    RUN(test_deadline_scope_cancels_the_children);
    RUN(test_children_spawn_siblings);
    RUN(test_only_the_owner_waits);
    RUN(test_thread_owner);
    RUN(test_destroy_without_wait);
    RUN(test_owner_returning_without_wait);
    RUN(test_children_on_other_loops);
    RUN(test_destroy_from_another_thread_aborts);
    RUN(test_bad_arguments);
    RUN(test_allocation_failures);
    return check_done();
}
