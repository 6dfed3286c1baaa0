/* The joiner slot (task/task.c): the first coroutine of a task's own loop that waits for
 * it parks in the task, not on its future's wait list, and the task completes without a
 * lock when nobody else watches. These tests drive every way that wait can end -- the
 * result, an error, the joiner's own timeout, a deadline scope, the joiner's cancellation,
 * the task's cancellation from another thread, no stack for the task -- and the slot's
 * neighbours: a second coroutine, a thread and a callback waiting for the same task. */
#include "check.h"

static int add_one(void *arg, void **result)
{
    *result = (void *)((intptr_t)arg + 1);
    return 0;
}

static int fail_with(void *arg, void **result)
{
    (void)result;
    return -(int)(intptr_t)arg;
}

static int wait_event(void *arg, void **result)
{
    *result = (void *)(intptr_t)7;
    return weft_event_wait(arg, WEFT_FOREVER);
}

/* ---- results and errors --------------------------------------------------------------- */

static int results_main(void *arg, void **result)
{
    (void)arg; (void)result;
    for (intptr_t i = 0; i < 1000; i++) {
        weft_future *f;
        CHECK_OK(weft_spawn(&f, add_one, (void *)i));
        void *r = NULL;
        CHECK_OK(weft_future_result(f, WEFT_FOREVER, &r));
        CHECK_EQ((intptr_t)r, i + 1);
        CHECK_OK(weft_future_result(f, 0, &r));           /* again: the same, at once */
        CHECK_EQ((intptr_t)r, i + 1);
        weft_future_release(f);
    }
    weft_future *f;
    CHECK_OK(weft_spawn(&f, fail_with, (void *)(intptr_t)EIO));
    CHECK_RC(weft_future_result(f, WEFT_FOREVER, NULL), -EIO);
    weft_future_release(f);
    return 0;
}

static void test_results_and_errors(void)
{
    CHECK_OK(weft_run(results_main, NULL, NULL));
}

/* ---- a task waiting for itself ------------------------------------------------------- */

static int self_join(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_future_result(weft_current_task(), WEFT_FOREVER, NULL);
}

static int self_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_future_result(weft_current_task(), WEFT_FOREVER, NULL), -EDEADLK);
    weft_future *f;
    CHECK_OK(weft_spawn(&f, self_join, NULL));
    CHECK_RC(weft_future_result(f, WEFT_FOREVER, NULL), -EDEADLK);
    weft_future_release(f);
    return 0;
}

static void test_self_join_is_deadlock(void)
{
    CHECK_OK(weft_run(self_main, NULL, NULL));
}

/* ---- the joiner's own time runs out; the slot is free again -------------------------- */

static int set_later(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_sleep(10 * WEFT_MS));
    return weft_event_set(arg);
}

static int timeout_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, wait_event, e));
    for (int i = 0; i < 3; i++) {
        CHECK_RC(weft_future_result(f, 5 * WEFT_MS, NULL), -ETIMEDOUT);
        CHECK(!weft_future_done(f));
    }
    weft_future *setter;
    CHECK_OK(weft_spawn(&setter, set_later, e));
    void *r = NULL;
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, &r));
    CHECK_EQ((intptr_t)r, 7);
    CHECK_OK(weft_future_result(setter, WEFT_FOREVER, NULL));
    weft_future_release(setter);
    weft_future_release(f);
    weft_event_destroy(e);
    return 0;
}

static void test_joiner_times_out(void)
{
    CHECK_OK(weft_run(timeout_main, NULL, NULL));
}

/* ---- a deadline scope cuts the join ------------------------------------------------------ */

static int scope_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, wait_event, e));
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 10 * WEFT_MS, 0));
    CHECK_RC(weft_future_result(f, WEFT_FOREVER, NULL), -ETIMEDOUT);
    CHECK(weft_scope_expired(&s));
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK(weft_future_cancelled(f));
    weft_future_release(f);
    weft_event_destroy(e);
    return 0;
}

static void test_scope_cuts_join(void)
{
    CHECK_OK(weft_run(scope_main, NULL, NULL));
}

/* ---- the joiner is cancelled ------------------------------------------------------------ */

typedef struct {
    weft_future *task;               /* what the joiner waits for */
    int rc;
    intptr_t value;
    bool cancelled_after;
} joiner_args;

static int joiner(void *arg, void **result)
{
    (void)result;
    joiner_args *a = arg;
    void *r = NULL;
    a->rc = weft_future_result(a->task, WEFT_FOREVER, &r);
    a->value = (intptr_t)r;
    a->cancelled_after = weft_cancelled();
    return 0;
}

/* A joiner that spawns its task and joins it (the common shape). */
static int spawn_and_join(void *arg, void **result)
{
    joiner_args *a = arg;
    CHECK_OK(weft_spawn(&a->task, add_one, (void *)(intptr_t)41));
    return joiner(a, result);
}

static int cancel_joiner_main(void *arg, void **result)
{
    (void)arg; (void)result;
    /* 1. The task never ends by itself: the joiner's cancel ends the join, and the slot is
     * free for the next joiner. */
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *t;
    CHECK_OK(weft_spawn(&t, wait_event, e));
    joiner_args a = { .task = t };
    weft_future *j;
    CHECK_OK(weft_spawn(&j, joiner, &a));
    CHECK_OK(weft_yield());                      /* t waits on e; j parks in t's slot */
    CHECK(!weft_future_done(j));
    CHECK_OK(weft_future_cancel(j));
    CHECK_OK(weft_future_result(j, WEFT_FOREVER, NULL));  /* it absorbed the cancel */
    CHECK_RC(a.rc, -ECANCELED);
    CHECK(a.cancelled_after);
    CHECK(!weft_future_done(t));
    CHECK_OK(weft_event_set(e));
    void *r = NULL;
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, &r));   /* the slot again */
    CHECK_EQ((intptr_t)r, 7);
    weft_future_release(j);
    weft_future_release(t);
    weft_event_destroy(e);
    /* 2. The cancel lands while the task is about to complete (docs/CANCELLATION.md rule
     * 8): the joiner was woken as cancelled, but the task ended before it ran again, so
     * the join reports the outcome. In FIFO order: j spawns its task and parks; this
     * coroutine cancels j; the task runs and completes; then j resumes. */
    joiner_args b = { 0 };
    CHECK_OK(weft_spawn(&j, spawn_and_join, &b));
    CHECK_OK(weft_yield());
    CHECK(b.task != NULL);
    CHECK_OK(weft_future_cancel(j));
    CHECK_OK(weft_future_result(j, WEFT_FOREVER, NULL));
    CHECK_OK(b.rc);
    CHECK_EQ(b.value, 42);
    CHECK(b.cancelled_after);                    /* the cancel still stands */
    weft_future_release(b.task);
    weft_future_release(j);
    return 0;
}

static void test_joiner_cancelled(void)
{
    CHECK_OK(weft_run(cancel_joiner_main, NULL, NULL));
}

/* ---- neighbours: a second coroutine, a thread and a callback wait for the same task ---- */

static _Atomic int callbacks;

static void count_callback(weft_future *f, void *arg)
{
    (void)arg;
    CHECK(weft_future_done(f));
    atomic_fetch_add(&callbacks, 1);
}

static int thread_waiter(void *arg, void **result)
{
    void *r = NULL;
    int rc = weft_future_result(arg, 10 * WEFT_SEC, &r);
    *result = r;
    return rc;
}

static int neighbours_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *t;
    CHECK_OK(weft_spawn(&t, wait_event, e));
    atomic_store(&callbacks, 0);
    CHECK_OK(weft_future_add_done_callback(t, count_callback, NULL));
    joiner_args a = { .task = t }, b = { .task = t };
    weft_future *ja, *jb;
    CHECK_OK(weft_spawn(&ja, joiner, &a));       /* the slot */
    CHECK_OK(weft_spawn(&jb, joiner, &b));       /* the wait list */
    weft_thread *th;
    CHECK_OK(weft_thread_start(&th, NULL, thread_waiter, t));
    CHECK_OK(weft_sleep(20 * WEFT_MS));          /* all of them waiting (not required) */
    CHECK_OK(weft_event_set(e));
    void *r = NULL;
    CHECK_OK(weft_future_result(t, WEFT_FOREVER, &r));   /* a third coroutine: the list */
    CHECK_EQ((intptr_t)r, 7);
    CHECK_OK(weft_future_result(ja, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(jb, WEFT_FOREVER, NULL));
    CHECK_OK(a.rc);
    CHECK_OK(b.rc);
    CHECK_EQ(a.value, 7);
    CHECK_EQ(b.value, 7);
    r = NULL;
    CHECK_OK(weft_thread_join(th, WEFT_FOREVER, &r));
    CHECK_EQ((intptr_t)r, 7);
    CHECK_EQ(atomic_load(&callbacks), 1);
    weft_thread_release(th);
    weft_future_release(ja);
    weft_future_release(jb);
    weft_future_release(t);
    weft_event_destroy(e);
    return 0;
}

static void test_neighbours_of_the_slot(void)
{
    CHECK_OK(weft_run(neighbours_main, NULL, NULL));
}

/* ---- edges: a self-join with the slot taken, a callback cancelling the joiner, a joiner
 * of another loop (review of the joiner slot) ---------------------------------------------- */

static weft_event *edge_event;
static int edge_self_rc;

/* Waits for the event, then for itself while another coroutine holds its slot. */
static int self_join_late(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_event_wait(edge_event, WEFT_FOREVER));
    edge_self_rc = weft_future_result(weft_current_task(), WEFT_FOREVER, NULL);
    return 0;
}

static weft_future *edge_joiner;

static void cancel_the_joiner(weft_future *f, void *arg)
{
    (void)f; (void)arg;
    CHECK_OK(weft_future_cancel(edge_joiner));
}

static int other_loop_join(void *arg, void **result)
{
    return weft_future_result(arg, 10 * WEFT_SEC, result);
}

static int other_loop(void *arg, void **result)
{
    return weft_run(other_loop_join, arg, result);
}

static int edges_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_event_create(&edge_event));
    /* 1. The task waits for itself while a joiner holds its slot: still -EDEADLK. */
    weft_future *t;
    CHECK_OK(weft_spawn(&t, self_join_late, NULL));
    joiner_args a = { .task = t };
    CHECK_OK(weft_spawn(&edge_joiner, joiner, &a));
    CHECK_OK(weft_yield());                      /* t waits; the joiner takes the slot */
    CHECK_OK(weft_event_set(edge_event));
    CHECK_OK(weft_future_result(edge_joiner, WEFT_FOREVER, NULL));
    CHECK_RC(edge_self_rc, -EDEADLK);
    CHECK_OK(a.rc);
    weft_future_release(edge_joiner);
    weft_future_release(t);
    /* 2. A done-callback cancels the joiner before the completion wakes it (the slot is
     * woken after the callbacks): the join reports the outcome (CANCELLATION.md rule 8). */
    CHECK_OK(weft_event_clear(edge_event));
    CHECK_OK(weft_spawn(&t, wait_event, edge_event));
    joiner_args b = { .task = t };
    CHECK_OK(weft_spawn(&edge_joiner, joiner, &b));
    CHECK_OK(weft_future_add_done_callback(t, cancel_the_joiner, NULL));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_event_set(edge_event));
    CHECK_OK(weft_future_result(edge_joiner, WEFT_FOREVER, NULL));
    CHECK_OK(b.rc);
    CHECK_EQ(b.value, 7);
    CHECK(b.cancelled_after);
    weft_future_release(edge_joiner);
    weft_future_release(t);
    /* 3. A coroutine of another thread's loop waits too (the list), beside the slot. */
    CHECK_OK(weft_event_clear(edge_event));
    CHECK_OK(weft_spawn(&t, wait_event, edge_event));
    joiner_args c = { .task = t };
    CHECK_OK(weft_spawn(&edge_joiner, joiner, &c));
    weft_thread *th;
    CHECK_OK(weft_thread_start(&th, NULL, other_loop, t));
    CHECK_OK(weft_sleep(20 * WEFT_MS));          /* both waiting (not required) */
    CHECK_OK(weft_event_set(edge_event));
    CHECK_OK(weft_future_result(edge_joiner, WEFT_FOREVER, NULL));
    CHECK_OK(c.rc);
    CHECK_EQ(c.value, 7);
    void *r = NULL;
    CHECK_OK(weft_thread_join(th, WEFT_FOREVER, &r));
    CHECK_EQ((intptr_t)r, 7);
    weft_thread_release(th);
    weft_future_release(edge_joiner);
    weft_future_release(t);
    weft_event_destroy(edge_event);
    return 0;
}

static void test_edges_of_the_slot(void)
{
    CHECK_OK(weft_run(edges_main, NULL, NULL));
}

/* ---- the task is cancelled from another thread while joined ----------------------------- */

static int cancel_later(void *arg, void **result)
{
    (void)result;
    weft_sleep(20 * WEFT_MS);
    return weft_future_cancel(arg);
}

static int remote_cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_future *t;
    CHECK_OK(weft_spawn(&t, wait_event, e));
    weft_thread *th;
    CHECK_OK(weft_thread_start(&th, NULL, cancel_later, t));
    CHECK_RC(weft_future_result(t, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK(weft_future_cancelled(t));
    CHECK(!weft_cancelled());                    /* the task was, not this coroutine */
    CHECK_OK(weft_thread_join(th, WEFT_FOREVER, NULL));
    CHECK_RC(weft_future_cancel(t), -EBUSY);     /* done: a cancel now changes nothing */
    weft_thread_release(th);
    weft_future_release(t);
    weft_event_destroy(e);
    return 0;
}

static void test_task_cancelled_from_thread(void)
{
    CHECK_OK(weft_run(remote_cancel_main, NULL, NULL));
}

/* ---- stress: joins that end every way, tasks cancelled from another thread -------------
 * Each child yields a few times (each yield may report a cancel), then marks itself run
 * and returns 2i. The joiner sometimes first joins with a timeout too short to see the end;
 * a canceller thread cancels whatever child is published to it. Every child must have
 * exactly one outcome, and it must agree with what the child did: a result of 2i if it
 * marked itself run (once), -ECANCELED if it did not. */

enum { STRESS_MAX = 1 << 20 };
static _Atomic unsigned char ran[STRESS_MAX];
static _Atomic(weft_future *) target;           /* retained for the canceller */
static _Atomic bool stress_over;
static _Atomic long remote_cancels;

static int child(void *arg, void **result)
{
    intptr_t i = (intptr_t)arg;
    for (int k = (int)(i % 32); k > 0; k--)
        if (weft_yield() == -ECANCELED) return -ECANCELED;
    atomic_fetch_add(&ran[i], 1);
    *result = (void *)(2 * i);
    return 0;
}

static int canceller(void *arg, void **result)
{
    (void)arg; (void)result;
    while (!atomic_load(&stress_over)) {
        weft_future *f = atomic_exchange(&target, NULL);
        if (f) {
            if (weft_future_cancel(f) == 0) atomic_fetch_add(&remote_cancels, 1);
            weft_future_release(f);
        }
        sched_yield();
    }
    return 0;
}

static long stress_n;
static long outcomes_ok, outcomes_cancelled;

static int stress_main(void *arg, void **result)
{
    (void)result;
    int64_t until = weft_now() + (int64_t)(intptr_t)arg;
    unsigned seed = 1;
    for (intptr_t i = 0; i < STRESS_MAX && weft_now() < until; i++) {
        seed = seed * 1103515245u + 12345u;
        weft_future *f;
        CHECK_OK(weft_spawn(&f, child, (void *)i));
        if ((seed >> 16) % 3 == 0) {             /* published to the canceller */
            weft_future_retain(f);
            weft_future *old = atomic_exchange(&target, f);
            if (old) weft_future_release(old);
        }
        void *r = NULL;
        int rc = -ETIMEDOUT;
        if ((seed >> 20) % 3 == 0) rc = weft_future_result(f, 1, &r);
        if (rc == -ETIMEDOUT) rc = weft_future_result(f, WEFT_FOREVER, &r);
        weft_future *mine = f;                   /* take it back if still published */
        if (atomic_compare_exchange_strong(&target, &mine, NULL)) weft_future_release(f);
        if (rc == 0) {
            CHECK_EQ((intptr_t)r, 2 * i);
            CHECK_EQ(atomic_load(&ran[i]), 1);
            outcomes_ok++;
        } else {
            CHECK_RC(rc, -ECANCELED);
            CHECK_EQ(atomic_load(&ran[i]), 0);
            outcomes_cancelled++;
        }
        weft_future_release(f);
        stress_n = i + 1;
    }
    return 0;
}

static void test_stress(void)
{
    atomic_store(&stress_over, false);
    weft_thread *th;
    CHECK_OK(weft_thread_start(&th, NULL, canceller, NULL));
    int64_t span = slow_tools() ? 300 * WEFT_MS : WEFT_SEC;
    CHECK_OK(weft_run(stress_main, (void *)(intptr_t)span, NULL));
    atomic_store(&stress_over, true);
    CHECK_OK(weft_thread_join(th, WEFT_FOREVER, NULL));
    weft_thread_release(th);
    weft_future *left = atomic_exchange(&target, NULL);
    if (left) weft_future_release(left);
    CHECK_EQ(outcomes_ok + outcomes_cancelled, stress_n);
    long runs = 0;
    for (long i = 0; i < stress_n; i++) runs += atomic_load(&ran[i]);
    CHECK_EQ(runs, outcomes_ok);
    CHECK(stress_n > 100);
    printf("   %ld joins: %ld results, %ld cancelled (%ld remote cancels taken)\n", stress_n,
           outcomes_ok, outcomes_cancelled, atomic_load(&remote_cancels));
}

int main(void)
{
    RUN(test_results_and_errors);
    RUN(test_self_join_is_deadlock);
    RUN(test_joiner_times_out);
    RUN(test_scope_cuts_join);
    RUN(test_joiner_cancelled);
    RUN(test_neighbours_of_the_slot);
    RUN(test_edges_of_the_slot);
    RUN(test_task_cancelled_from_thread);
    RUN(test_stress);
    return check_done();
}
