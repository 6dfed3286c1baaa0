/* Thread-locals: a value per thread, the destructor at thread exit, on replace and on
 * destroy (for every thread's value), id reuse after destroy, many locals, bad arguments. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- a destructor that counts, per value ------------------------------------------- */

enum { NVALS = 64 };
static int vals[NVALS];                   /* the values are &vals[i] */
static atomic_int dtor_calls[NVALS];      /* per value */
static atomic_int dtor_total;
static atomic_int dtor_on_main;           /* calls made on the main thread */
static pthread_t main_thread;

static void count_dtor(void *v)
{
    int *p = v;
    CHECK(p >= vals && p < vals + NVALS);
    atomic_fetch_add(&dtor_calls[p - vals], 1);
    atomic_fetch_add(&dtor_total, 1);
    if (pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&dtor_on_main, 1);
}

static void reset_counts(void)
{
    for (int i = 0; i < NVALS; i++) atomic_store(&dtor_calls[i], 0);
    atomic_store(&dtor_total, 0);
    atomic_store(&dtor_on_main, 0);
}

static int calls(int i) { return atomic_load(&dtor_calls[i]); }

/* ---- worker threads that act in phases, on the main thread's cue -------------------- */

/* Each worker does step 1, reports, waits for `go`, does step 2, reports, waits for `end`.
 * Between the steps the main thread acts while every worker is alive. */
typedef struct worker worker;
typedef void (*step_fn)(worker *w);
struct worker {
    int index;
    step_fn step1, step2;
    weft_event *done1, *done2;           /* the worker's reports */
    weft_event *go, *end;                /* shared cues from main */
    weft_local *a, *b;                   /* whatever the steps use */
    weft_thread *t;
};

static int worker_main(void *arg, void **result)
{
    (void)result;
    worker *w = arg;
    if (w->step1) w->step1(w);
    CHECK_OK(weft_event_set(w->done1));
    CHECK_OK(weft_event_wait(w->go, 10 * WEFT_SEC));
    if (w->step2) w->step2(w);
    CHECK_OK(weft_event_set(w->done2));
    CHECK_OK(weft_event_wait(w->end, 10 * WEFT_SEC));
    return 0;
}

static void workers_start(worker *w, int n, step_fn s1, step_fn s2, weft_local *a,
                          weft_local *b, weft_event *go, weft_event *end)
{
    for (int i = 0; i < n; i++) {
        w[i] = (worker){ .index = i, .step1 = s1, .step2 = s2, .go = go, .end = end,
                         .a = a, .b = b };
        CHECK_OK(weft_event_create(&w[i].done1));
        CHECK_OK(weft_event_create(&w[i].done2));
        CHECK_OK(weft_thread_start(&w[i].t, NULL, worker_main, &w[i]));
    }
}

static void workers_wait(worker *w, int n, int which)
{
    for (int i = 0; i < n; i++)
        CHECK_OK(weft_event_wait(which == 1 ? w[i].done1 : w[i].done2, 10 * WEFT_SEC));
}

/* Joining means the thread's locals have been destroyed (see weft_thread_join). */
static void workers_join(worker *w, int n)
{
    for (int i = 0; i < n; i++) {
        CHECK_OK(weft_thread_join(w[i].t, 10 * WEFT_SEC, NULL));
        weft_thread_release(w[i].t);
        weft_event_destroy(w[i].done1);
        weft_event_destroy(w[i].done2);
    }
}

/* ---- tests -------------------------------------------------------------------------- */

static void own_value_step1(worker *w)
{
    CHECK(weft_local_get(w->a) == NULL);           /* a new thread starts empty */
    CHECK_OK(weft_local_set(w->a, &vals[10 + w->index]));
}

static void own_value_step2(worker *w)
{
    /* Every thread has set its value by now: each still sees its own. */
    CHECK_PTR(weft_local_get(w->a), &vals[10 + w->index]);
}

static void test_per_thread_values(void)
{
    reset_counts();
    weft_local *l;
    CHECK_OK(weft_local_create(&l, count_dtor));
    CHECK(weft_local_get(l) == NULL);
    CHECK_OK(weft_local_set(l, &vals[0]));
    weft_event *go, *end;
    CHECK_OK(weft_event_create(&go));
    CHECK_OK(weft_event_create(&end));
    worker w[2];
    workers_start(w, 2, own_value_step1, own_value_step2, l, NULL, go, end);
    workers_wait(w, 2, 1);
    CHECK_PTR(weft_local_get(l), &vals[0]);        /* main's value is unaffected */
    CHECK_OK(weft_event_set(go));
    workers_wait(w, 2, 2);
    CHECK_OK(weft_event_set(end));
    workers_join(w, 2);
    CHECK_PTR(weft_local_get(l), &vals[0]);
    CHECK_EQ(calls(10), 1);                         /* each worker's value, at its exit */
    CHECK_EQ(calls(11), 1);
    CHECK_EQ(calls(0), 0);                          /* main's value lives on */
    weft_local_destroy(l);
    CHECK_EQ(calls(0), 1);
    CHECK_EQ(atomic_load(&dtor_total), 3);
    weft_event_destroy(go);
    weft_event_destroy(end);
}

typedef struct {
    weft_local *l;
    int index;
} exit_arg;

/* Thread i sets a value if i % 3 != 0; i % 3 == 2 clears it again before exiting. */
static int sets_then_exits(void *arg, void **result)
{
    (void)result;
    exit_arg *e = arg;
    if (e->index % 3 == 0) return 0;
    CHECK_OK(weft_local_set(e->l, &vals[e->index]));
    if (e->index % 3 == 2) {
        CHECK_OK(weft_local_set(e->l, NULL));       /* the value goes to dtor now */
        CHECK_EQ(calls(e->index), 1);
    }
    return 0;
}

static void *plain_pthread(void *arg)
{
    void *unused;
    sets_then_exits(arg, &unused);
    return NULL;
}

static void test_dtor_at_thread_exit_once(void)
{
    reset_counts();
    weft_local *l;
    CHECK_OK(weft_local_create(&l, count_dtor));
    enum { N = 12 };
    exit_arg a[N];
    weft_thread *t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (exit_arg){ l, i };
        CHECK_OK(weft_thread_start(&t[i], NULL, sets_then_exits, &a[i]));
    }
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_thread_join(t[i], 10 * WEFT_SEC, NULL));
        weft_thread_release(t[i]);
    }
    for (int i = 0; i < N; i++) CHECK_EQ(calls(i), i % 3 == 0 ? 0 : 1);
    CHECK_EQ(atomic_load(&dtor_total), 2 * N / 3);
    CHECK_EQ(atomic_load(&dtor_on_main), 0);        /* each ran on its own thread */

    /* A thread that weft did not start gets the same treatment at its exit. */
    exit_arg pa = { l, 22 };                        /* 22 % 3 == 1: keeps its value */
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, plain_pthread, &pa), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_EQ(calls(22), 1);
    CHECK_EQ(atomic_load(&dtor_on_main), 0);

    weft_local_destroy(l);                          /* nothing left to destroy */
    CHECK_EQ(atomic_load(&dtor_total), 2 * N / 3 + 1);
}

static void test_replace_and_clear(void)
{
    reset_counts();
    weft_local *l;
    CHECK_OK(weft_local_create(&l, count_dtor));
    CHECK_OK(weft_local_set(l, &vals[1]));
    CHECK_EQ(atomic_load(&dtor_total), 0);
    CHECK_OK(weft_local_set(l, &vals[2]));          /* replaced: the old one goes */
    CHECK_EQ(calls(1), 1);
    CHECK_PTR(weft_local_get(l), &vals[2]);
    CHECK_OK(weft_local_set(l, &vals[2]));          /* the same value again: kept */
    CHECK_EQ(calls(2), 0);
    CHECK_OK(weft_local_set(l, NULL));              /* cleared: the old one goes */
    CHECK_EQ(calls(2), 1);
    CHECK(weft_local_get(l) == NULL);
    CHECK_OK(weft_local_set(l, NULL));              /* clearing nothing calls nothing */
    CHECK_EQ(atomic_load(&dtor_total), 2);
    CHECK_OK(weft_local_set(l, &vals[3]));          /* set again after a clear */
    CHECK_PTR(weft_local_get(l), &vals[3]);
    weft_local_destroy(l);
    CHECK_EQ(calls(3), 1);
    CHECK_EQ(atomic_load(&dtor_total), 3);
    CHECK_EQ(calls(1), 1);                          /* nothing called twice */
    CHECK_EQ(calls(2), 1);
}

static void set_a_step1(worker *w)
{
    CHECK_OK(weft_local_set(w->a, &vals[30 + w->index]));
}

static void test_destroy_calls_dtor_for_every_thread(void)
{
    reset_counts();
    weft_local *l;
    CHECK_OK(weft_local_create(&l, count_dtor));
    CHECK_OK(weft_local_set(l, &vals[29]));         /* the calling thread's value */
    weft_event *go, *end;
    CHECK_OK(weft_event_create(&go));
    CHECK_OK(weft_event_create(&end));
    enum { N = 3 };
    worker w[N];
    workers_start(w, N, set_a_step1, NULL, l, NULL, go, end);
    workers_wait(w, N, 1);                          /* all set, all alive */
    weft_local_destroy(l);
    for (int i = 29; i < 30 + N; i++) CHECK_EQ(calls(i), 1);
    CHECK_EQ(atomic_load(&dtor_on_main), N + 1);    /* on the calling thread */
    CHECK_OK(weft_event_set(go));
    CHECK_OK(weft_event_set(end));
    workers_join(w, N);
    CHECK_EQ(atomic_load(&dtor_total), N + 1);      /* thread exit calls nothing more */
    weft_event_destroy(go);
    weft_event_destroy(end);
}

/* Step 2 of the id-reuse test: a is gone; b (maybe with a's id) starts empty. */
static void reuse_step2(worker *w)
{
    CHECK(weft_local_get(w->b) == NULL);
    CHECK_OK(weft_local_set(w->b, &vals[40 + w->index]));
    CHECK_PTR(weft_local_get(w->b), &vals[40 + w->index]);
}

static void test_ids_reused_start_empty(void)
{
    reset_counts();
    weft_local *a;
    CHECK_OK(weft_local_create(&a, count_dtor));
    CHECK_OK(weft_local_set(a, &vals[39]));
    weft_event *go, *end;
    CHECK_OK(weft_event_create(&go));
    CHECK_OK(weft_event_create(&end));
    enum { N = 3 };
    worker w[N];
    /* step2 reads w->b, which main fills in before the go cue (the event orders it). */
    workers_start(w, N, set_a_step1, reuse_step2, a, NULL, go, end);
    workers_wait(w, N, 1);
    weft_local_destroy(a);
    CHECK_EQ(atomic_load(&dtor_total), N + 1);

    weft_local *b;
    CHECK_OK(weft_local_create(&b, count_dtor));    /* the freed id is taken again */
    CHECK(weft_local_get(b) == NULL);               /* no trace of a's value, here... */
    for (int i = 0; i < N; i++) w[i].b = b;
    CHECK_OK(weft_event_set(go));
    workers_wait(w, N, 2);                          /* ...nor in any worker */
    CHECK_OK(weft_event_set(end));
    workers_join(w, N);
    for (int i = 0; i < N; i++) CHECK_EQ(calls(40 + i), 1);   /* b's values, at exit */
    for (int i = 30; i < 30 + N; i++) CHECK_EQ(calls(i), 1);  /* a's, not again */
    CHECK_EQ(calls(39), 1);
    CHECK_EQ(atomic_load(&dtor_total), 2 * N + 1);
    weft_local_destroy(b);
    CHECK_EQ(atomic_load(&dtor_total), 2 * N + 1);
    weft_event_destroy(go);
    weft_event_destroy(end);
}

/* Many locals in one thread (the slot array grows), destroyed in a mixed order, re-created:
 * the survivors keep their values, the new ones start empty. */
static void test_many_locals_and_reuse(void)
{
    reset_counts();
    enum { N = 40 };
    weft_local *l[N];
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_local_create(&l[i], count_dtor));
        CHECK_OK(weft_local_set(l[i], &vals[i]));
    }
    for (int i = 0; i < N; i++) CHECK_PTR(weft_local_get(l[i]), &vals[i]);
    for (int i = 0; i < N; i += 2) weft_local_destroy(l[i]);    /* the even ones */
    CHECK_EQ(atomic_load(&dtor_total), N / 2);
    for (int i = 0; i < N; i += 2) {
        CHECK_OK(weft_local_create(&l[i], count_dtor));
        CHECK(weft_local_get(l[i]) == NULL);
    }
    for (int i = 1; i < N; i += 2) CHECK_PTR(weft_local_get(l[i]), &vals[i]);
    for (int i = 0; i < N; i++) weft_local_destroy(l[i]);
    CHECK_EQ(atomic_load(&dtor_total), N);
    for (int i = 0; i < N; i++) CHECK_EQ(calls(i), 1);
}

static int nop_dtor_calls;
static void nop(void *v) { (void)v; nop_dtor_calls++; }

static void test_null_arguments(void)
{
    CHECK_RC(weft_local_create(NULL, nop), -EINVAL);
    CHECK_RC(weft_local_set(NULL, &vals[0]), -EINVAL);
    CHECK(weft_local_get(NULL) == NULL);
    weft_local_destroy(NULL);                       /* ignored */

    /* No destructor at all: values are simply dropped. */
    weft_local *l;
    CHECK_OK(weft_local_create(&l, NULL));
    CHECK_OK(weft_local_set(l, &vals[0]));
    CHECK_OK(weft_local_set(l, &vals[1]));
    CHECK_PTR(weft_local_get(l), &vals[1]);
    weft_local_destroy(l);
    CHECK_EQ(nop_dtor_calls, 0);
}

/* The tests' fault injector (core/alloc.c): when > 0, the allocation that counts it down
 * to 0 fails. */
extern _Atomic long weft__alloc_fail_countdown;

/* Fails the k-th allocation of weft_local_set, k = 1, 2, ... until it succeeds. */
static int set_with_failures(weft_local *l, void *v)
{
    int failures = 0;
    for (long k = 1; ; k++) {
        CHECK(k < 20);
        atomic_store(&weft__alloc_fail_countdown, k);
        int rc = weft_local_set(l, v);
        atomic_store(&weft__alloc_fail_countdown, 0);
        if (rc == 0) break;
        CHECK_RC(rc, -ENOMEM);
        CHECK(weft_local_get(l) == NULL);          /* a failed set sets nothing */
        failures++;
    }
    CHECK_PTR(weft_local_get(l), v);
    return failures;
}

/* On a fresh thread (no slot array yet): the slot array, then the entry. */
static int set_fails_on_fresh_thread(void *arg, void **result)
{
    (void)result;
    CHECK_EQ(set_with_failures(arg, &vals[51]), 2);
    return 0;
}

static void test_allocation_failures(void)
{
    reset_counts();
    weft_local *l = (weft_local *)0x1;
    atomic_store(&weft__alloc_fail_countdown, 1);
    CHECK_RC(weft_local_create(&l, count_dtor), -ENOMEM);
    atomic_store(&weft__alloc_fail_countdown, 0);
    CHECK(l == (weft_local *)0x1);
    CHECK_OK(weft_local_create(&l, count_dtor));

    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, set_fails_on_fresh_thread, l));
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, NULL));
    weft_thread_release(t);
    CHECK_EQ(calls(51), 1);                         /* the value that got in, at exit */

    set_with_failures(l, &vals[50]);                /* main: at least the entry */
    weft_local_destroy(l);
    CHECK_EQ(calls(50), 1);
    CHECK_EQ(atomic_load(&dtor_total), 2);
}

/* Thread exits racing weft_local_destroy: each value goes to dtor exactly once, whichever
 * of the two reaches it. The threads have finished using the local before the destroy
 * (its contract); only their exit overlaps it. */
typedef struct {
    weft_local *l;
    int index;
    weft_event *set_done;
} race_arg;

static int set_and_leave(void *arg, void **result)
{
    (void)result;
    race_arg *r = arg;
    CHECK_OK(weft_local_set(r->l, &vals[r->index]));
    CHECK_OK(weft_event_set(r->set_done));
    return 0;
}

static void test_exit_races_destroy(void)
{
    enum { N = 8 };
    int rounds = slow_tools() ? 20 : 200;
    for (int round = 0; round < rounds; round++) {
        reset_counts();
        weft_local *l;
        CHECK_OK(weft_local_create(&l, count_dtor));
        race_arg a[N];
        weft_thread *t[N];
        for (int i = 0; i < N; i++) {
            a[i] = (race_arg){ l, i, NULL };
            CHECK_OK(weft_event_create(&a[i].set_done));
            CHECK_OK(weft_thread_start(&t[i], NULL, set_and_leave, &a[i]));
        }
        for (int i = 0; i < N; i++) CHECK_OK(weft_event_wait(a[i].set_done, 10 * WEFT_SEC));
        weft_local_destroy(l);
        for (int i = 0; i < N; i++) {
            CHECK_OK(weft_thread_join(t[i], 10 * WEFT_SEC, NULL));
            weft_thread_release(t[i]);
            weft_event_destroy(a[i].set_done);
        }
        for (int i = 0; i < N; i++) CHECK_EQ(calls(i), 1);
        CHECK_EQ(atomic_load(&dtor_total), N);
    }
}

int main(void)
{
    main_thread = pthread_self();
    RUN(test_per_thread_values);
    RUN(test_dtor_at_thread_exit_once);
    RUN(test_replace_and_clear);
    RUN(test_destroy_calls_dtor_for_every_thread);
    RUN(test_ids_reused_start_empty);
    RUN(test_many_locals_and_reuse);
    RUN(test_null_arguments);
    RUN(test_allocation_failures);
    RUN(test_exit_races_destroy);
    return check_done();
}
