/* The API gaps of issue 12, each with its misuse: the debug lock registry's hand-over, a
 * thread's future, waiter counts of Event and Condition, timers (a reference from
 * weft_timer_future, daemon timer threads), the option structs and their _INIT macros,
 * skipping an over-long stream record. (Running work on another thread's loop:
 * test_remote.c.) */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

/* ---- the debug lock registry: a hand-over is not a leak ----------------------------------
 * threading.Lock has no owner: a coroutine may take a lock and leave it to a thread to
 * release. Debug builds must report only a lock nobody ever released. */
#ifndef NDEBUG
static weft_lock *handed;

static int take_and_end(void *arg, void **result)
{
    (void)result;
    return weft_lock_acquire(arg, 0);
}

static int take_named(weft_lock *l)
{
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "taker";
    weft_future *f;
    CHECK_OK(weft_spawn_ex(&f, &o, take_and_end, l));
    int rc = weft_future_result(f, WEFT_FOREVER, NULL);
    weft_future_release(f);
    return rc;
}

/* A coroutine takes the lock and ends; this thread releases it later. */
static void hand_over_child(void)
{
    CHECK_OK(weft_lock_create(&handed));
    CHECK_OK(take_named(handed));
    CHECK_OK(weft_lock_release(handed));
    CHECK_OK(weft_lock_acquire(handed, 0));        /* and a thread takes it: no record */
    CHECK_OK(weft_lock_release(handed));
    weft_lock_destroy(handed);
    /* The same, the lock never destroyed: nothing at exit either. */
    weft_lock *kept;
    CHECK_OK(weft_lock_create(&kept));
    CHECK_OK(take_named(kept));
    CHECK_OK(weft_lock_release(kept));
    exit(0);
}

/* A coroutine takes the lock and waits for a thread to release it (the lock as a signal);
 * the thread that releases does so from another loop's coroutine. */
static int release_later(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    return weft_lock_release(arg);
}

static int signal_main(void *arg, void **result)
{
    (void)result;
    weft_lock *l = arg;
    CHECK_OK(weft_lock_acquire(l, 0));
    loop_job job = { release_later, l };
    weft_thread *t = start_loop_thread(&job);
    CHECK_OK(weft_lock_acquire(l, 5 * WEFT_SEC));   /* released by the other loop */
    join_and_release(t);
    return 0;                                       /* ends holding it... */
}

static void signal_child(void)
{
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    CHECK_OK(weft_run(signal_main, l, NULL));
    CHECK_OK(weft_lock_release(l));                 /* ...and this thread releases it */
    weft_lock_destroy(l);
    exit(0);
}

/* Real leaks: nobody ever releases. */
static void leak_destroyed_child(void)
{
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    CHECK_OK(take_named(l));
    weft_lock_destroy(l);
    exit(0);
}

static void leak_at_exit_child(void)
{
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    CHECK_OK(take_named(l));
    exit(0);
}

static int take_rlock(void *arg, void **result)
{
    (void)result;
    return weft_rlock_acquire(arg, 0);
}

static void leak_rlock_child(void)
{
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_run(take_rlock, r, NULL));
    CHECK_RC(weft_rlock_release(r), -EPERM);        /* only its (ended) owner could */
    weft_rlock_destroy(r);
    exit(0);
}

static void expect_clean_exit(child_result r, const char *want)
{
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 ||
        (want ? !strstr(r.err, want) : strstr(r.err, "weft:") != NULL)) {
        fprintf(stderr, "child status %#x, expected %s%s%s; its stderr:\n%s\n", r.status,
                want ? "\"" : "no report", want ? want : "", want ? "\"" : "", r.err);
        abort();
    }
}
#endif

static void test_lock_hand_over_is_not_reported(void)
{
#ifndef NDEBUG
    expect_clean_exit(in_child(hand_over_child), NULL);
    if (!TEST_TSAN && !under_qemu())                /* threads in a forked child */
        expect_clean_exit(in_child(signal_child), NULL);
#endif
}

static void test_lock_never_released_is_reported(void)
{
#ifndef NDEBUG
    child_result r = in_child(leak_destroyed_child);
    expect_clean_exit(r, "weft: coroutine 'taker' #");
    expect_clean_exit(r, "ended holding a weft lock that nobody released (destroyed still "
                         "held)");
    r = in_child(leak_at_exit_child);
    expect_clean_exit(r, "weft: coroutine 'taker' #");
    expect_clean_exit(r, "(still held at exit)");
    expect_clean_exit(in_child(leak_rlock_child), "(destroyed still held)");
#endif
}

/* ---- a thread's future ------------------------------------------------------------------ */

typedef struct {
    weft_event *go;             /* the thread waits for it before returning */
    int ret;
} thread_job;

static int thread_fn(void *arg, void **result)
{
    thread_job *j = arg;
    if (j->go) CHECK_OK(weft_event_wait(j->go, 10 * WEFT_SEC));
    *result = j;
    return j->ret;
}

/* The caller gets a reference of its own: it outlives the thread and its handle; the
 * future cannot be cancelled or completed by anyone but the thread. */
static void test_thread_future(void)
{
    CHECK(weft_thread_future(NULL) == NULL);
    thread_job j = { .ret = 7 };
    CHECK_OK(weft_event_create(&j.go));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, thread_fn, &j));
    weft_future *f = weft_thread_future(t);
    weft_future *g = weft_thread_future(t);         /* a second reference, same future */
    CHECK_PTR(f, g);
    weft_future_release(g);
    CHECK(!weft_future_done(f));
    CHECK_RC(weft_future_cancel(f), -EBUSY);        /* a thread cannot be cancelled */
    CHECK_RC(weft_future_set_result(f, NULL), -EINVAL);
    CHECK_RC(weft_future_set_error(f, -EIO), -EINVAL);
    CHECK(!weft_future_done(f) && weft_thread_is_alive(t));
    CHECK_RC(weft_future_result(f, 0, NULL), -ETIMEDOUT);
    weft_thread_release(t);                         /* the future stays ours */
    CHECK_OK(weft_event_set(j.go));
    void *res = NULL;
    CHECK_RC(weft_future_result(f, 10 * WEFT_SEC, &res), 7);
    CHECK_PTR(res, &j);
    CHECK(!weft_future_cancelled(f));
    weft_future_release(f);
    weft_event_destroy(j.go);
}

/* wait, gather and as_completed take a thread's future beside a task's and a pool job's. */
static int slow_job(void *arg, void **result)
{
    (void)result;
    return weft_event_wait(arg, 10 * WEFT_SEC);
}

static int mixed_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_event *late;
    CHECK_OK(weft_event_create(&late));
    thread_job j = { .ret = 0 };
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, thread_fn, &j));
    weft_future *fs[3];
    fs[0] = weft_thread_future(t);
    CHECK_OK(weft_spawn(&fs[1], slow_job, late));
    /* A pool of our own, destroyed at the end: no worker thread outlives the test (the
     * forked children of other tests would see its memory as leaked under Valgrind). */
    weft_pool *pool;
    CHECK_OK(weft_pool_create(&pool, &(weft_pool_opts){ .max_workers = 1 }));
    CHECK_OK(weft_pool_submit(pool, &fs[2], slow_job, late));
    /* The thread ends first (the others wait for `late`). */
    weft_as_completed *it;
    CHECK_OK(weft_as_completed_create(&it, fs, 3, 10 * WEFT_SEC));
    weft_future *first;
    CHECK_OK(weft_as_completed_next(it, &first));
    CHECK_PTR(first, fs[0]);
    bool done[3];
    CHECK_EQ(weft_wait(fs, 3, WEFT_FIRST_COMPLETED, 0, done), 1);
    CHECK(done[0] && !done[1] && !done[2]);
    CHECK_OK(weft_event_set(late));
    int errs[3];
    CHECK_OK(weft_gather(fs, 3, 10 * WEFT_SEC, true, errs));
    CHECK(errs[0] == 0 && errs[1] == 0 && errs[2] == 0);
    void *res = NULL;
    CHECK_OK(weft_future_result(fs[0], 0, &res));
    CHECK_PTR(res, &j);
    weft_future *f;
    CHECK_OK(weft_as_completed_next(it, &f));
    CHECK_OK(weft_as_completed_next(it, &f));
    CHECK_RC(weft_as_completed_next(it, &f), -ENOENT);
    weft_as_completed_destroy(it);
    weft_thread_release(t);
    for (int i = 0; i < 3; i++) weft_future_release(fs[i]);
    weft_pool_destroy(pool);
    weft_event_destroy(late);
    return 0;
}

static void test_thread_future_with_others(void)
{
    CHECK_OK(weft_run(mixed_main, NULL, NULL));
}

/* Joining still means "ended" after a cancel attempt: the future completes with the
 * thread's own outcome, not -ECANCELED, and weft_thread_join agrees. */
static void test_thread_future_cancel_changes_nothing(void)
{
    thread_job j = { .ret = -EIO };
    CHECK_OK(weft_event_create(&j.go));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, thread_fn, &j));
    weft_future *f = weft_thread_future(t);
    for (int i = 0; i < 3; i++) CHECK_RC(weft_future_cancel(f), -EBUSY);
    CHECK_RC(weft_thread_join(t, 0, NULL), -ETIMEDOUT);
    CHECK_OK(weft_event_set(j.go));
    CHECK_RC(weft_thread_join(t, 10 * WEFT_SEC, NULL), -EIO);
    CHECK_RC(weft_future_result(f, 0, NULL), -EIO);
    CHECK_RC(weft_future_cancel(f), -EBUSY);
    weft_future_release(f);
    weft_thread_release(t);
    weft_event_destroy(j.go);
}

/* ---- waiter counts: Event and Condition --------------------------------------------------- */

/* Polls (from a thread) until get() == want; fails after 10 s. */
static void await_count(size_t (*get)(void *), void *obj, size_t want)
{
    int64_t end = weft_now() + 10 * WEFT_SEC;
    while (get(obj) != want) {
        if (weft_now() > end) {
            fprintf(stderr, "waiters: %zu, expected %zu\n", get(obj), want);
            abort();
        }
        weft_sleep(WEFT_MS);
    }
}

static size_t event_count(void *e) { return weft_event_waiters(e); }
static size_t cond_count(void *c) { return weft_cond_waiters(c); }

typedef struct {
    weft_event *e;
    int64_t timeout;
    int want;
} event_waiter;

static int wait_event(void *arg, void **result)
{
    (void)result;
    event_waiter *w = arg;
    CHECK_RC(weft_event_wait(w->e, w->timeout), w->want);
    return 0;
}

/* Three threads and two coroutines (of a loop thread) park; the count says so; a timed-out
 * and a cancelled waiter leave it; a set empties it. */
typedef struct {
    event_waiter *ok;
    weft_future *cancelled;
    atomic_int spawned;
    weft_event *done;
} event_loop;

static int event_loop_main(void *arg, void **result)
{
    (void)result;
    event_loop *x = arg;
    event_waiter *c = malloc(sizeof *c);
    CHECK(c != NULL);
    *c = (event_waiter){ x->ok->e, WEFT_FOREVER, -ECANCELED };
    weft_future *a;
    CHECK_OK(weft_spawn(&a, wait_event, x->ok));
    CHECK_OK(weft_spawn(&x->cancelled, wait_event, c));
    atomic_store(&x->spawned, 1);
    CHECK_OK(weft_future_result(a, 10 * WEFT_SEC, NULL));
    CHECK_OK(weft_future_result(x->cancelled, 10 * WEFT_SEC, NULL));
    weft_future_release(a);
    weft_future_release(x->cancelled);
    free(c);
    return 0;
}

static void test_event_waiters(void)
{
    CHECK_EQ(weft_event_waiters(NULL), 0);
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    CHECK_EQ(weft_event_waiters(e), 0);
    event_waiter ok = { e, 10 * WEFT_SEC, 0 }, late = { e, 30 * WEFT_MS, -ETIMEDOUT };
    weft_thread *t[4];
    for (int i = 0; i < 3; i++) CHECK_OK(weft_thread_start(&t[i], NULL, wait_event, &ok));
    event_loop x = { .ok = &ok };
    loop_job job = { event_loop_main, &x };
    weft_thread *lt = start_loop_thread(&job);
    await_count(event_count, e, 5);
    CHECK_OK(weft_thread_start(&t[3], NULL, wait_event, &late));
    join_and_release(t[3]);                         /* timed out: no longer counted */
    CHECK_EQ(weft_event_waiters(e), 5);
    while (!atomic_load(&x.spawned)) weft_sleep(WEFT_MS);
    CHECK_OK(weft_future_cancel(x.cancelled));      /* from another thread */
    await_count(event_count, e, 4);
    CHECK_OK(weft_event_set(e));
    CHECK_EQ(weft_event_waiters(e), 0);
    for (int i = 0; i < 3; i++) join_and_release(t[i]);
    join_and_release(lt);
    CHECK_EQ(weft_event_waiters(e), 0);
    CHECK_RC(weft_event_wait(e, 0), 0);             /* set: no wait, never counted */
    weft_event_destroy(e);
}

typedef struct {
    weft_cond *c;
    int64_t timeout;
    atomic_int woken, timedout;
} cond_waiter;

static int wait_cond(void *arg, void **result)
{
    (void)result;
    cond_waiter *w = arg;
    CHECK_OK(weft_cond_acquire(w->c, WEFT_FOREVER));
    int rc = weft_cond_wait(w->c, w->timeout);
    CHECK_OK(weft_cond_release(w->c));
    CHECK(rc == 0 || rc == -ETIMEDOUT);
    atomic_fetch_add(rc == 0 ? &w->woken : &w->timedout, 1);
    return 0;
}

static int spawn_two_cond_waiters(void *arg, void **result)
{
    (void)result;
    spawn_job job = { 2, wait_cond, arg };
    return spawn_all_and_wait(&job, NULL);
}

static void test_cond_waiters(void)
{
    CHECK_EQ(weft_cond_waiters(NULL), 0);
    weft_cond *c;
    CHECK_OK(weft_cond_create(&c, NULL));
    CHECK_EQ(weft_cond_waiters(c), 0);
    cond_waiter w = { .c = c, .timeout = 10 * WEFT_SEC };
    cond_waiter quick = { .c = c, .timeout = 30 * WEFT_MS };
    weft_thread *t[4];
    for (int i = 0; i < 2; i++) CHECK_OK(weft_thread_start(&t[i], NULL, wait_cond, &w));
    loop_job job = { spawn_two_cond_waiters, &w };
    t[2] = start_loop_thread(&job);
    await_count(cond_count, c, 4);
    CHECK_OK(weft_thread_start(&t[3], NULL, wait_cond, &quick));
    join_and_release(t[3]);                         /* timed out, lock taken back, gone */
    CHECK_EQ(atomic_load(&quick.timedout), 1);
    CHECK_OK(weft_cond_acquire(c, WEFT_FOREVER));
    CHECK_EQ(weft_cond_waiters(c), 4);              /* under the lock nobody can join */
    CHECK_EQ(weft_cond_notify(c, 1), 1);
    CHECK_EQ(weft_cond_waiters(c), 3);              /* a notified one no longer counts */
    CHECK_EQ(weft_cond_notify_all(c), 3);
    CHECK_EQ(weft_cond_waiters(c), 0);
    CHECK_OK(weft_cond_release(c));
    for (int i = 0; i < 3; i++) join_and_release(t[i]);
    CHECK_EQ(atomic_load(&w.woken), 4);
    CHECK_EQ(weft_cond_waiters(c), 0);
    weft_cond_destroy(c);
}

/* ---- timers: the future is the caller's reference; daemon timer threads ------------------ */

static int timer_job(void *arg, void **result)
{
    atomic_int *runs = arg;
    atomic_fetch_add(runs, 1);
    *result = arg;
    return weft_in_coroutine() ? 1 : 2;
}

/* weft_timer_future gives a reference: it outlives the timer handle, each call's must be
 * released (ASan and Valgrind see a leak or a use after free otherwise). */
static void test_timer_future_is_a_reference(void)
{
    CHECK(weft_timer_future(NULL) == NULL);
    int threads = count_threads();
    for (int mode = 0; mode < 3; mode++) {
        atomic_int runs = 0;
        weft_timer_opts o = WEFT_TIMER_OPTS_INIT;
        o.thread = mode > 0;
        o.daemon = mode == 2;
        weft_timer *t;
        CHECK_OK(weft_timer_start(&t, 5 * WEFT_MS, timer_job, &runs, &o));
        weft_future *f = weft_timer_future(t), *g = weft_timer_future(t);
        CHECK_PTR(f, g);
        weft_timer_release(t);                      /* before it fires */
        weft_future_release(g);
        void *res = NULL;
        CHECK_RC(weft_future_result(f, 10 * WEFT_SEC, &res), mode ? 2 : 1);
        CHECK_PTR(res, &runs);
        CHECK_EQ(atomic_load(&runs), 1);
        weft_future_release(f);
        /* A thread timer's thread leaves once it has run (test_daemon_timer forks next:
         * a child forked while it is leaving would hold its record, reachable from no
         * thread, and Valgrind would call that a leak). */
        CHECK(wait_threads_at_most(threads, 10 * WEFT_SEC));
    }
}

/* Started with daemon, the timer thread does not hold up program exit (a pending timer
 * never fires); a coroutine timer ignores daemon. */
static int say_fired(void *arg, void **result)
{
    (void)arg; (void)result;
    fprintf(stderr, "timer fired\n");
    return 0;
}

static void exit_with_daemon_timer(void)
{
    weft_timer *t;
    weft_timer_opts o = WEFT_TIMER_OPTS_INIT;
    o.thread = true;
    o.daemon = true;
    CHECK_OK(weft_timer_start(&t, 20 * WEFT_SEC, say_fired, NULL, &o));
    weft_timer_release(t);
    exit(0);                    /* weft_shutdown does not join a daemon thread */
}

static void shutdown_then_daemon_timer(void)
{
    CHECK_OK(weft_shutdown());
    weft_timer *t;
    weft_timer_opts o = WEFT_TIMER_OPTS_INIT;
    o.thread = true;
    CHECK_RC(weft_timer_start(&t, 0, say_fired, NULL, &o), -ESHUTDOWN);
    o.daemon = true;                                /* a daemon one is still allowed */
    CHECK_OK(weft_timer_start(&t, 0, say_fired, NULL, &o));
    weft_future *f = weft_timer_future(t);
    CHECK_OK(weft_future_result(f, 10 * WEFT_SEC, NULL));
    weft_future_release(f);
    weft_timer_release(t);
    exit(0);
}

static void test_daemon_timer(void)
{
    if (TEST_TSAN || under_qemu()) SKIP("threads in a forked child");
    int64_t t0 = weft_now();
    child_result r = in_child(exit_with_daemon_timer);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        fprintf(stderr, "status %#x: %s\n", (unsigned)r.status, r.err);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    CHECK(strstr(r.err, "timer fired") == NULL);
    CHECK(weft_now() - t0 < 10 * WEFT_SEC);         /* did not wait for the 20 s timer */
    r = in_child(shutdown_then_daemon_timer);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) fprintf(stderr, "%s\n", r.err);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    CHECK(strstr(r.err, "timer fired\n") != NULL);
}

/* ---- option structs: one convention, each with an _INIT ----------------------------------- */

static atomic_int inits;

static int count_init(void *arg)
{
    CHECK_PTR(arg, &inits);
    atomic_fetch_add(&inits, 1);
    return 0;
}

static int worker_name(void *arg, void **result)
{
    (void)arg;
    static __thread char name[16];
    pthread_getname_np(pthread_self(), name, sizeof name);
    *result = name;
    return 0;
}

static void test_pool_opts(void)
{
    /* Every field through weft_pool_create_ex (weft_pool_opts is the fixed core's). */
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 1;
    o.name_prefix = "gaps";
    o.initializer = count_init;
    o.initializer_arg = &inits;
    o.idle_timeout = WEFT_FOREVER;
    weft_pool *p;
    CHECK_OK(weft_pool_create_ex(&p, &o));
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, &f, worker_name, NULL));
    void *name = NULL;
    CHECK_OK(weft_future_result(f, 10 * WEFT_SEC, &name));
    CHECK(strcmp(name, "gaps-1") == 0);
    CHECK_EQ(atomic_load(&inits), 1);
    weft_future_release(f);
    weft_pool_destroy(p);
    /* The core's one-field struct, positionally as outside programs write it. */
    CHECK_OK(weft_pool_create(&p, &(weft_pool_opts){ 2 }));
    weft_pool_destroy(p);
    weft_pool_opts_ex ex = WEFT_POOL_OPTS_EX_INIT;
    ex.max_workers = 1;
    CHECK_OK(weft_pool_create_ex(&p, &ex));
    weft_pool_destroy(p);
    /* Misuse of any field: -EINVAL. */
    weft_pool_opts_ex bad = WEFT_POOL_OPTS_EX_INIT;
    bad.max_extra_workers = -1;
    CHECK_RC(weft_pool_create_ex(&p, &bad), -EINVAL);
    bad = (weft_pool_opts_ex)WEFT_POOL_OPTS_EX_INIT;
    bad.idle_timeout = -5;
    CHECK_RC(weft_pool_create_ex(&p, &bad), -EINVAL);
    bad = (weft_pool_opts_ex)WEFT_POOL_OPTS_EX_INIT;
    bad.max_workers = -1;
    CHECK_RC(weft_pool_create_ex(&p, &bad), -EINVAL);
    CHECK_RC(weft_pool_create_ex(NULL, &o), -EINVAL);
    CHECK_RC(weft_pool_create(NULL, NULL), -EINVAL);
    CHECK_RC(weft_pool_create(&p, &(weft_pool_opts){ -1 }), -EINVAL);
}

static int echo_once(weft_socket *conn, void *arg)
{
    (void)arg;
    char buf[8];
    ssize_t n = weft_socket_read(conn, buf, sizeof buf, 10 * WEFT_SEC);
    if (n > 0) weft_socket_write(conn, buf, (size_t)n, 10 * WEFT_SEC);
    return 0;
}

static int server_opts_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_server_opts so = WEFT_SERVER_OPTS_INIT;
    so.max_connections = 1;
    weft_server *srv;
    CHECK_OK(weft_tcp_server(&srv, "127.0.0.1", 0, echo_once, NULL, &so));
    weft_addr a;
    CHECK_OK(weft_server_addr(srv, &a));
    weft_socket *c;
    CHECK_OK(weft_tcp_connect(&c, "127.0.0.1", weft_addr_port(&a), 10 * WEFT_SEC));
    weft_stream_opts o = WEFT_STREAM_OPTS_INIT;
    o.max_line = 4;
    weft_stream *st;
    CHECK_OK(weft_stream_open(&st, c, &o));
    CHECK_OK(weft_stream_write(st, "abcdef\n", 7, WEFT_FOREVER));
    const char *line;
    CHECK_RC(weft_stream_readline(st, &line, 10 * WEFT_SEC), -EMSGSIZE);   /* max_line 4 */
    CHECK_OK(weft_stream_close(st, WEFT_FOREVER));
    weft_socket_close(c);
    CHECK_OK(weft_server_close(srv, 10 * WEFT_SEC));
    return 0;
}

static void test_server_and_stream_opts_init(void)
{
    weft_server_opts so = WEFT_SERVER_OPTS_INIT;
    CHECK(so.max_connections == 0 && so.backlog == 0 && so.stack_size == 0);
    weft_stream_opts o = WEFT_STREAM_OPTS_INIT;
    CHECK(o.max_line == 0 && o.write_high == 0);
    CHECK_OK(weft_run(server_opts_main, NULL, NULL));
}

/* ---- skipping an over-long line after -EMSGSIZE ------------------------------------------ */

/* A stream (max_line 16) over one end of a socketpair; *peer is the other end's fd. */
static weft_stream *small_stream(int *peer)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    weft_stream_opts o = WEFT_STREAM_OPTS_INIT;
    o.max_line = 16;
    weft_stream *st;
    CHECK_OK(weft_stream_open_fd(&st, sv[0], &o));
    *peer = sv[1];
    return st;
}

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    CHECK_EQ(write(fd, s, n), (ssize_t)n);
}

static void expect_line(weft_stream *st, const char *want)
{
    const char *line;
    ssize_t n = weft_stream_readline(st, &line, 10 * WEFT_SEC);
    CHECK_EQ(n, (ssize_t)strlen(want));
    CHECK(memcmp(line, want, (size_t)n) == 0);
}

static void test_skip_line_after_emsgsize(void)
{
    int peer;
    weft_stream *st = small_stream(&peer);
    char longline[102];
    memset(longline, 'x', 100);
    strcpy(longline + 100, "\n");
    put(peer, "short\n");
    put(peer, longline);
    put(peer, "next\n");
    expect_line(st, "short\n");
    const char *line;
    CHECK_RC(weft_stream_readline(st, &line, 10 * WEFT_SEC), -EMSGSIZE);
    CHECK(weft_stream_read_buffered(st) >= 16);     /* the bytes stayed... */
    CHECK_EQ(weft_stream_skip_line(st, 10 * WEFT_SEC), 101);   /* ...until skipped */
    expect_line(st, "next\n");
    /* At the end of the stream, the last unterminated bytes are the line; then 0. */
    put(peer, "tail");
    close(peer);
    CHECK_EQ(weft_stream_skip_line(st, 10 * WEFT_SEC), 4);
    CHECK_EQ(weft_stream_skip_line(st, 10 * WEFT_SEC), 0);
    CHECK_OK(weft_stream_close(st, 0));
}

/* A line far longer than the buffer, arriving in pieces from a thread while the skip
 * waits: skipped whole, one buffer at a time. */
typedef struct {
    int fd;
    size_t len;                 /* bytes of 'y' before the '\n' */
} slow_writer;

static int write_slowly(void *arg, void **result)
{
    (void)result;
    slow_writer *w = arg;
    char chunk[4096];
    memset(chunk, 'y', sizeof chunk);
    for (size_t sent = 0; sent < w->len;) {
        size_t n = w->len - sent < sizeof chunk ? w->len - sent : sizeof chunk;
        CHECK_EQ(write(w->fd, chunk, n), (ssize_t)n);
        sent += n;
        if (sent % (64 * 1024) == 0) weft_sleep(WEFT_MS);
    }
    put(w->fd, "\nafter\n");
    return 0;
}

static void test_skip_line_longer_than_the_buffer(void)
{
    int peer;
    weft_stream *st = small_stream(&peer);
    slow_writer w = { peer, 1 << 20 };
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, write_slowly, &w));
    const char *line;
    CHECK_RC(weft_stream_readline(st, &line, 10 * WEFT_SEC), -EMSGSIZE);
    CHECK_EQ(weft_stream_skip_line(st, 30 * WEFT_SEC), (ssize_t)w.len + 1);
    expect_line(st, "after\n");
    join_and_release(t);
    close(peer);
    CHECK_OK(weft_stream_close(st, 0));
}

/* A multi-byte delimiter split between two reads; a skip cut short by its timeout goes on
 * where it stopped when called again. */
static void test_skip_until_and_resume(void)
{
    int peer;
    weft_stream *st = small_stream(&peer);
    put(peer, "0123456789abcdefghij\r\n\r");           /* 20 bytes, then 3 of the 4 */
    const char *rec;
    CHECK_RC(weft_stream_read_until(st, "\r\n\r\n", 4, &rec, 10 * WEFT_SEC), -EMSGSIZE);
    CHECK_RC(weft_stream_skip_until(st, "\r\n\r\n", 4, 20 * WEFT_MS), -ETIMEDOUT);
    put(peer, "\nrest\n");                          /* the delimiter's last byte */
    CHECK_EQ(weft_stream_skip_until(st, "\r\n\r\n", 4, 10 * WEFT_SEC), 4);  /* kept: 3 + 1 */
    expect_line(st, "rest\n");
    /* skip_line cut short, resumed. */
    put(peer, "0123456789012345678901234567890123456789");
    CHECK_RC(weft_stream_skip_line(st, 20 * WEFT_MS), -ETIMEDOUT);
    put(peer, "end\nnext\n");
    CHECK_EQ(weft_stream_skip_line(st, 10 * WEFT_SEC), 4);
    expect_line(st, "next\n");
    /* The stream ends before the delimiter: -ENODATA, and nothing is left. */
    put(peer, "no delimiter");
    close(peer);
    CHECK_RC(weft_stream_skip_until(st, "\r\n", 2, 10 * WEFT_SEC), -ENODATA);
    CHECK_EQ(weft_stream_read_buffered(st), 0);
    CHECK_EQ(weft_stream_skip_until(st, "\r\n", 2, 10 * WEFT_SEC), 0);
    /* Misuse. */
    CHECK_RC(weft_stream_skip_line(NULL, 0), -EINVAL);
    CHECK_RC(weft_stream_skip_line(st, -7), -EINVAL);
    CHECK_RC(weft_stream_skip_until(st, NULL, 1, 0), -EINVAL);
    CHECK_RC(weft_stream_skip_until(st, "\n", 0, 0), -EINVAL);
    CHECK_OK(weft_stream_close(st, 0));
}

int main(void)
{
    RUN(test_lock_hand_over_is_not_reported);
    RUN(test_lock_never_released_is_reported);
    RUN(test_thread_future);
    RUN(test_thread_future_with_others);
    RUN(test_thread_future_cancel_changes_nothing);
    RUN(test_event_waiters);
    RUN(test_cond_waiters);
    RUN(test_timer_future_is_a_reference);
    RUN(test_daemon_timer);
    RUN(test_pool_opts);
    RUN(test_server_and_stream_opts_init);
    RUN(test_skip_line_after_emsgsize);
    RUN(test_skip_line_longer_than_the_buffer);
    RUN(test_skip_until_and_resume);
    return check_done();
}
