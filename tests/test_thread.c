/* Threads: start, join (result, return code, timeout, twice, from a coroutine, by several
 * joiners), liveness, names, self-join, bad arguments, the thread's loop drained before its
 * join returns, and a stress of many threads started and joined from several threads. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* Sleeps without weft, so that a coroutine's cleanup takes real time without being a
 * weft blocking call (a cancelled coroutine's weft waits return at once). */
static void plain_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

static int returns_arg(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static int fails_with_eio(void *arg, void **result)
{
    (void)arg; (void)result;
    return -EIO;
}

static void test_start_join_result_and_rc(void)
{
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, returns_arg, (void *)0x5eed));
    void *res = NULL;
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, &res));
    CHECK_PTR(res, (void *)0x5eed);
    CHECK(!weft_thread_is_alive(t));
    weft_thread_release(t);

    /* fn's error code is join's return value. */
    CHECK_OK(weft_thread_start(&t, NULL, fails_with_eio, NULL));
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), -EIO);
    weft_thread_release(t);

    /* A result pointer is optional. */
    CHECK_OK(weft_thread_start(&t, NULL, returns_arg, (void *)1));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
}

/* Waits for the event given as arg, then returns 0 with a result. */
static int waits_for_event(void *arg, void **result)
{
    CHECK_OK(weft_event_wait(arg, WEFT_FOREVER));
    *result = (void *)0xbeef;
    return 0;
}

static void test_join_timeout_then_success(void)
{
    weft_event *go;
    CHECK_OK(weft_event_create(&go));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, waits_for_event, go));
    void *res = (void *)0x1;

    CHECK_RC(weft_thread_join(t, 0, &res), -ETIMEDOUT);          /* do not wait */
    int64_t t0 = weft_now();
    CHECK_RC(weft_thread_join(t, 30 * WEFT_MS, &res), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 25 * WEFT_MS, 5 * WEFT_SEC);
    CHECK_PTR(res, (void *)0x1);                                  /* untouched */
    CHECK(weft_thread_is_alive(t));                               /* a timeout is no end */

    CHECK_OK(weft_event_set(go));
    CHECK_OK(weft_thread_join(t, 5 * WEFT_SEC, &res));
    CHECK_PTR(res, (void *)0xbeef);
    CHECK(!weft_thread_is_alive(t));
    weft_thread_release(t);
    weft_event_destroy(go);
}

static void test_join_twice_same_values(void)
{
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, returns_arg, (void *)0x77));
    void *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, &a));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, &b));
    CHECK_OK(weft_thread_join(t, 0, &c));            /* ended: even "do not wait" succeeds */
    CHECK_PTR(a, (void *)0x77);
    CHECK_PTR(b, (void *)0x77);
    CHECK_PTR(c, (void *)0x77);
    weft_thread_release(t);

    CHECK_OK(weft_thread_start(&t, NULL, fails_with_eio, NULL));
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), -EIO);
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), -EIO);
    CHECK_RC(weft_thread_join(t, 0, NULL), -EIO);
    weft_thread_release(t);
}

typedef struct {
    weft_thread *target;
    int rc;
    void *res;
} joiner_arg;

static int joiner(void *arg, void **result)
{
    (void)result;
    joiner_arg *j = arg;
    j->rc = weft_thread_join(j->target, 5 * WEFT_SEC, &j->res);
    return 0;
}

/* Several threads joining one thread all get its values once it ends. */
static void test_several_joiners(void)
{
    weft_event *go;
    CHECK_OK(weft_event_create(&go));
    weft_thread *target;
    CHECK_OK(weft_thread_start(&target, NULL, waits_for_event, go));
    enum { N = 4 };
    joiner_arg ja[N];
    weft_thread *j[N];
    for (int i = 0; i < N; i++) {
        ja[i] = (joiner_arg){ target, 1, NULL };
        CHECK_OK(weft_thread_start(&j[i], NULL, joiner, &ja[i]));
    }
    CHECK_OK(weft_sleep(10 * WEFT_MS));           /* let the joiners block */
    CHECK(weft_thread_is_alive(target));
    CHECK_OK(weft_event_set(go));
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_thread_join(j[i], 5 * WEFT_SEC, NULL));
        CHECK_OK(ja[i].rc);
        CHECK_PTR(ja[i].res, (void *)0xbeef);
        weft_thread_release(j[i]);
    }
    weft_thread_release(target);
    weft_event_destroy(go);
}

static void test_is_alive(void)
{
    weft_event *go;
    CHECK_OK(weft_event_create(&go));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, waits_for_event, go));
    CHECK(weft_thread_is_alive(t));
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK(weft_thread_is_alive(t));               /* still waiting for the event */
    CHECK_OK(weft_event_set(go));
    CHECK_OK(weft_thread_join(t, 5 * WEFT_SEC, NULL));
    CHECK(!weft_thread_is_alive(t));
    CHECK(!weft_thread_is_alive(NULL));
    weft_thread_release(t);
    weft_event_destroy(go);
}

/* Stores the OS's name for the calling thread into arg (16 bytes). */
static int read_os_name(void *arg, void **result)
{
    (void)result;
    return -pthread_getname_np(pthread_self(), arg, 16);
}

static bool is_default_name(const char *name)
{
    if (strncmp(name, "weft-", 5) != 0 || name[5] == 0) return false;
    for (const char *p = name + 5; *p; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

static void test_names(void)
{
    char given[64] = "a-rather-long-worker-name";
    char os_name[16] = "";
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.name = given;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, &o, read_os_name, os_name));
    given[0] = 'X';                                     /* the name was copied */
    CHECK(strcmp(weft_thread_name(t), "a-rather-long-worker-name") == 0);
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    CHECK(strcmp(os_name, "a-rather-long-w") == 0);     /* the kernel keeps 15 bytes */
    CHECK(strcmp(weft_thread_name(t), "a-rather-long-worker-name") == 0);  /* after the end */
    weft_thread_release(t);

    /* No name (NULL opts, or opts without a name): "weft-N", different for each thread. */
    weft_thread *d1, *d2;
    CHECK_OK(weft_thread_start(&d1, NULL, read_os_name, os_name));
    CHECK_OK(weft_thread_join(d1, WEFT_FOREVER, NULL));
    CHECK(is_default_name(os_name));
    CHECK(strcmp(os_name, weft_thread_name(d1)) == 0);
    weft_thread_opts unnamed = WEFT_THREAD_OPTS_INIT;
    CHECK_OK(weft_thread_start(&d2, &unnamed, returns_arg, NULL));
    CHECK(is_default_name(weft_thread_name(d1)));
    CHECK(is_default_name(weft_thread_name(d2)));
    CHECK(strcmp(weft_thread_name(d1), weft_thread_name(d2)) != 0);
    CHECK_OK(weft_thread_join(d2, WEFT_FOREVER, NULL));
    weft_thread_release(d1);
    weft_thread_release(d2);
}

typedef struct {
    weft_event *handle_ready;
    weft_thread *self;
} self_join_arg;

static int self_join_coro(void *arg, void **result)
{
    (void)result;
    /* A coroutine of the thread's own loop would wait for itself just the same. */
    CHECK_RC(weft_thread_join(arg, WEFT_FOREVER, NULL), -EDEADLK);
    return 0;
}

static int joins_itself(void *arg, void **result)
{
    (void)result;
    self_join_arg *s = arg;
    /* The handle is stored after weft_thread_start returns: wait until it is there. */
    CHECK_OK(weft_event_wait(s->handle_ready, WEFT_FOREVER));
    CHECK_RC(weft_thread_join(s->self, WEFT_FOREVER, NULL), -EDEADLK);
    CHECK_RC(weft_thread_join(s->self, 10 * WEFT_MS, NULL), -EDEADLK);
    CHECK(weft_thread_is_alive(s->self));
    CHECK_OK(weft_run(self_join_coro, s->self, NULL));
    return 42;
}

static void test_join_self_is_edeadlk(void)
{
    self_join_arg s;
    CHECK_OK(weft_event_create(&s.handle_ready));
    CHECK_OK(weft_thread_start(&s.self, NULL, joins_itself, &s));
    CHECK_OK(weft_event_set(s.handle_ready));
    CHECK_RC(weft_thread_join(s.self, 5 * WEFT_SEC, NULL), 42);
    weft_thread_release(s.self);
    weft_event_destroy(s.handle_ready);
}

/* ---- join from a coroutine: only that coroutine waits ------------------------------- */

typedef struct {
    weft_event *release_thread;    /* the thread waits for it */
    int ticks;                     /* the ticker's progress */
} coro_join_ctx;

/* Sets release_thread only after ten ticks of its own on the loop: the thread can end
 * only if this coroutine runs while main is inside weft_thread_join. */
static int ticker(void *arg, void **result)
{
    (void)result;
    coro_join_ctx *c = arg;
    for (int i = 0; i < 10; i++) {
        CHECK_OK(weft_sleep(WEFT_MS));
        c->ticks++;
    }
    CHECK_OK(weft_event_set(c->release_thread));
    return 0;
}

static int coro_join_main(void *arg, void **result)
{
    (void)result;
    coro_join_ctx *c = arg;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, waits_for_event, c->release_thread));
    weft_future *tick;
    CHECK_OK(weft_spawn(&tick, ticker, c));
    CHECK_EQ(c->ticks, 0);
    void *res = NULL;
    /* A bounded wait: if the join blocked the whole loop, the ticker would never set the
     * event and this would time out instead of hanging the test. */
    CHECK_OK(weft_thread_join(t, 5 * WEFT_SEC, &res));
    CHECK_PTR(res, (void *)0xbeef);
    CHECK_EQ(c->ticks, 10);
    CHECK_OK(weft_future_result(tick, WEFT_FOREVER, NULL));
    weft_future_release(tick);
    weft_thread_release(t);
    return 0;
}

static void test_join_from_coroutine_suspends_only_it(void)
{
    coro_join_ctx c = { NULL, 0 };
    CHECK_OK(weft_event_create(&c.release_thread));
    CHECK_OK(weft_run(coro_join_main, &c, NULL));
    CHECK_EQ(c.ticks, 10);
    weft_event_destroy(c.release_thread);
}

static int join_until_cancelled(void *arg, void **result)
{
    (void)result;
    return weft_thread_join(arg, WEFT_FOREVER, NULL);
}

static int cancelled_join_main(void *arg, void **result)
{
    (void)result;
    weft_event *go = arg;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, waits_for_event, go));
    weft_future *j;
    CHECK_OK(weft_spawn(&j, join_until_cancelled, t));
    CHECK_OK(weft_sleep(5 * WEFT_MS));                  /* the joiner is waiting */
    CHECK(!weft_future_done(j));
    CHECK_OK(weft_future_cancel(j));
    CHECK_RC(weft_future_result(j, 5 * WEFT_SEC, NULL), -ECANCELED);
    CHECK(weft_thread_is_alive(t));                     /* cancelling a join stops nobody */
    CHECK_OK(weft_event_set(go));
    CHECK_OK(weft_thread_join(t, 5 * WEFT_SEC, NULL));
    weft_future_release(j);
    weft_thread_release(t);
    return 0;
}

static void test_join_cancelled_in_coroutine(void)
{
    weft_event *go;
    CHECK_OK(weft_event_create(&go));
    CHECK_OK(weft_run(cancelled_join_main, go, NULL));
    weft_event_destroy(go);
}

/* ---- bad arguments, options --------------------------------------------------------- */

static void test_null_arguments(void)
{
    weft_thread *t = NULL;
    CHECK_RC(weft_thread_start(NULL, NULL, returns_arg, NULL), -EINVAL);
    CHECK_RC(weft_thread_start(&t, NULL, NULL, NULL), -EINVAL);
    CHECK(t == NULL);
    CHECK_RC(weft_thread_join(NULL, WEFT_FOREVER, NULL), -EINVAL);
    CHECK_RC(weft_thread_join(NULL, 0, NULL), -EINVAL);
    CHECK(!weft_thread_is_alive(NULL));
    weft_thread_release(NULL);                          /* ignored */
}

static int uses_big_stack(void *arg, void **result)
{
    (void)arg; (void)result;
    volatile char big[512 * 1024];                      /* above a small default */
    for (size_t i = 0; i < sizeof big; i += 4096) big[i] = (char)i;
    return big[4096] == (char)4096 ? 0 : -EIO;
}

/* A daemon thread can be joined like any other; a stack size is honoured. */
static void test_options_daemon_and_stack(void)
{
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.daemon = true;
    o.stack_size = 2 * 1024 * 1024;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, &o, uses_big_stack, NULL));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
}

typedef struct {
    weft_event *go, *finished;
    atomic_int ran_to_end;
} released_ctx;

static int runs_after_release(void *arg, void **result)
{
    (void)result;
    released_ctx *c = arg;
    CHECK_OK(weft_event_wait(c->go, WEFT_FOREVER));
    atomic_store(&c->ran_to_end, 1);
    CHECK_OK(weft_event_set(c->finished));
    return 0;
}

/* Releasing the handle does not stop the thread. */
static void test_release_before_end(void)
{
    released_ctx c = { NULL, NULL, 0 };
    CHECK_OK(weft_event_create(&c.go));
    CHECK_OK(weft_event_create(&c.finished));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, runs_after_release, &c));
    weft_thread_release(t);
    CHECK_OK(weft_event_set(c.go));
    CHECK_OK(weft_event_wait(c.finished, 5 * WEFT_SEC));
    CHECK_EQ(atomic_load(&c.ran_to_end), 1);
    /* The thread may still be running, but it touches neither event after its set returns
     * (and weft_event_destroy waits for a set in progress to let go of the event). */
    weft_event_destroy(c.go);
    weft_event_destroy(c.finished);
}

/* An impossible stack size is refused (pthreads' own error), and nothing is handed out. */
static void test_bad_stack_size(void)
{
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.stack_size = 1;
    weft_thread *t = (weft_thread *)0x1;
    CHECK_RC(weft_thread_start(&t, &o, returns_arg, NULL), -EINVAL);
    CHECK(t == (weft_thread *)0x1);
}

/* The tests' fault injector (core/alloc.c): when > 0, the allocation that counts it down
 * to 0 fails. */
extern _Atomic long weft__alloc_fail_countdown;

/* Every allocation weft_thread_start makes may fail: -ENOMEM, nothing handed out, nothing
 * leaked (the sanitizer and Valgrind runs check that), and the next try works. */
static void test_start_allocation_failures(void)
{
    int failures = 0;
    for (long k = 1; ; k++) {
        CHECK(k < 20);
        weft_thread *t = (weft_thread *)0x1;
        atomic_store(&weft__alloc_fail_countdown, k);
        int rc = weft_thread_start(&t, NULL, returns_arg, (void *)0x42);
        atomic_store(&weft__alloc_fail_countdown, 0);
        if (rc == 0) {
            void *res = NULL;
            CHECK_OK(weft_thread_join(t, 5 * WEFT_SEC, &res));
            CHECK_PTR(res, (void *)0x42);
            weft_thread_release(t);
            break;
        }
        CHECK_RC(rc, -ENOMEM);
        CHECK(t == (weft_thread *)0x1);
        failures++;
    }
    CHECK(failures >= 2);          /* the handle and its future */
}

/* ---- a thread's leftover coroutines end before its join returns --------------------- */

static atomic_int leftovers_cleaned;
static atomic_int leftovers_ran_early;

static int leftover_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);
    plain_sleep_ms(20);                 /* slow cleanup: a join returning early would see it */
    atomic_fetch_add(&leftovers_cleaned, 1);
    return 0;
}

static int never_started(void *arg, void **result)
{
    (void)arg; (void)result;
    atomic_fetch_add(&leftovers_ran_early, 1);
    return 0;
}

enum { STARTED = 5, UNSTARTED = 3 };

/* Spawns coroutines and returns without waiting for them; hands the futures out. */
static int spawns_and_leaves(void *arg, void **result)
{
    (void)result;
    weft_future **f = arg;
    for (int i = 0; i < STARTED; i++) CHECK_OK(weft_spawn(&f[i], leftover_coro, NULL));
    CHECK_OK(weft_yield());             /* they start and block in their sleep */
    for (int i = STARTED; i < STARTED + UNSTARTED; i++)
        CHECK_OK(weft_spawn(&f[i], never_started, NULL));
    CHECK_EQ(atomic_load(&leftovers_cleaned), 0);
    return 0;
}

static void test_thread_end_cancels_its_coroutines(void)
{
    atomic_store(&leftovers_cleaned, 0);
    atomic_store(&leftovers_ran_early, 0);
    weft_future *f[STARTED + UNSTARTED];
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, spawns_and_leaves, f));
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, NULL));
    CHECK_EQ(atomic_load(&leftovers_cleaned), STARTED);
    CHECK_EQ(atomic_load(&leftovers_ran_early), 0);
    for (int i = 0; i < STARTED + UNSTARTED; i++) {
        CHECK(weft_future_done(f[i]));
        if (i < STARTED) CHECK_OK(weft_future_result(f[i], 0, NULL));   /* absorbed cancel */
        else CHECK(weft_future_cancelled(f[i]));                          /* never ran */
        weft_future_release(f[i]);
    }
    weft_thread_release(t);
}

/* ---- stress: many threads started and joined from several threads ------------------- */

typedef struct {
    long first, count;     /* this starter's value range */
    long sum;
} starter_arg;

enum { STARTERS = 4, MAX_PER_STARTER = 2000 };
static atomic_uchar seen[STARTERS * MAX_PER_STARTER + 1];   /* how often each value came back */

static int value_thread(void *arg, void **result)
{
    *result = arg;
    return 0;
}

/* Starts its threads in batches (so that several are alive at once), joins them all. */
static int starter(void *arg, void **result)
{
    (void)result;
    starter_arg *s = arg;
    enum { BATCH = 16 };
    for (long base = 0; base < s->count; base += BATCH) {
        weft_thread *t[BATCH];
        long n = s->count - base < BATCH ? s->count - base : BATCH;
        for (long i = 0; i < n; i++) {
            weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
            o.daemon = (i & 1) != 0;
            o.stack_size = 64 * 1024;
            CHECK_OK(weft_thread_start(&t[i], &o, value_thread,
                                       (void *)(intptr_t)(s->first + base + i)));
        }
        for (long i = 0; i < n; i++) {
            void *r = NULL;
            CHECK_OK(weft_thread_join(t[i], 10 * WEFT_SEC, &r));
            long v = (long)(intptr_t)r;
            CHECK_BETWEEN(v, 1, STARTERS * MAX_PER_STARTER);
            atomic_fetch_add(&seen[v], 1);
            s->sum += v;
            weft_thread_release(t[i]);
        }
    }
    return 0;
}

static void test_stress_many_threads(void)
{
    long per = slow_tools() ? 100 : MAX_PER_STARTER;
    starter_arg s[STARTERS];
    weft_thread *st[STARTERS];
    int64_t t0 = weft_now();
    for (int i = 0; i < STARTERS; i++) {
        s[i] = (starter_arg){ i * per + 1, per, 0 };
        CHECK_OK(weft_thread_start(&st[i], NULL, starter, &s[i]));
    }
    long sum = 0;
    for (int i = 0; i < STARTERS; i++) {
        CHECK_OK(weft_thread_join(st[i], 30 * WEFT_SEC, NULL));
        sum += s[i].sum;
        weft_thread_release(st[i]);
    }
    long n = STARTERS * per;                /* values 1..n, each exactly once */
    for (long v = 1; v <= n; v++) CHECK_EQ(atomic_load(&seen[v]), 1);
    CHECK_EQ(sum, n * (n + 1) / 2);
    CHECK_BETWEEN(weft_now() - t0, 0, 30 * WEFT_SEC);
}

/* weft_thread_opts.name is copied whole (a fixed char[64] once cut it to 63 bytes without
 * a word); only the OS's copy is cut, to 15 bytes. */
static void test_long_name_kept_whole(void)
{
    char name[101];
    memset(name, 'n', 100);
    name[100] = 0;
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.name = name;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, &o, returns_arg, NULL));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    const char *got = weft_thread_name(t);
    size_t len = strlen(got);
    weft_thread_release(t);
    CHECK_EQ(len, 100);
}

/* ---- a program's own fork (os.fork): the child has only the forking thread ---------------
 * The parent's threads do not exist in the child: its exit must not wait for them, and the
 * default pool, whose workers are the parent's, is made afresh when the child uses it. */
static int wait_for_event(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg, 60 * WEFT_SEC);
}

static int triple(void *arg, void **result)
{
    *result = (void *)((intptr_t)arg * 3);
    return 0;
}

static void use_weft_after_fork(void)
{
    void *res = NULL;
    CHECK_OK(weft_to_thread(triple, (void *)14, &res));
    CHECK_EQ((intptr_t)res, 42);
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, triple, (void *)5));
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, &res));
    CHECK_EQ((intptr_t)res, 15);
    weft_thread_release(t);
    fprintf(stderr, "child done\n");
    exit(0);                    /* atexit: weft_shutdown joins the child's threads only */
}

static void test_fork_while_threads_run(void)
{
    /* TSan does not start threads in the child of a multi-threaded fork; qemu-user may
     * hang doing it. */
    if (TEST_TSAN || under_qemu()) SKIP("threads in a forked child");
    /* Valgrind's leak check at the child's exit sees the blocks the parent's pool threads
     * cache (in their thread-local storage, which no thread of the child scans) as lost. */
    if (under_valgrind()) SKIP("Valgrind: the parent threads' caches look lost in the child");
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, wait_for_event, e));   /* not daemon: exit joins */
    void *res = NULL;
    CHECK_OK(weft_to_thread(triple, (void *)1, &res));          /* the default pool is up */
    int64_t t0 = weft_now();
    child_result r = in_child(use_weft_after_fork);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        fprintf(stderr, "child: status %#x: %s\n", (unsigned)r.status, r.err);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    CHECK(strstr(r.err, "child done\n") != NULL);
    CHECK(weft_now() - t0 < 60 * WEFT_SEC);
    CHECK_OK(weft_event_set(e));
    CHECK_OK(weft_thread_join(t, 10 * WEFT_SEC, NULL));
    weft_thread_release(t);
    weft_event_destroy(e);
}

int main(void)
{
    RUN(test_start_join_result_and_rc);
    RUN(test_join_timeout_then_success);
    RUN(test_join_twice_same_values);
    RUN(test_several_joiners);
    RUN(test_is_alive);
    RUN(test_names);
    RUN(test_join_self_is_edeadlk);
    RUN(test_join_from_coroutine_suspends_only_it);
    RUN(test_join_cancelled_in_coroutine);
    RUN(test_null_arguments);
    RUN(test_options_daemon_and_stack);
    RUN(test_release_before_end);
    RUN(test_bad_stack_size);
    RUN(test_start_allocation_failures);
    RUN(test_thread_end_cancels_its_coroutines);
    RUN(test_stress_many_threads);
    RUN(test_fork_while_threads_run);
    RUN(test_long_name_kept_whole);
    return check_done();
}
