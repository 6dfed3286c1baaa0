/* Seed scenario 9: daemon vs non-daemon threads at program exit, and weft_shutdown.
 *
 * Each case is a small "program" run in a forked child (in_child) that prints to stderr;
 * the parent checks the child's output, its exit status and how long it took. The parent
 * itself never starts a weft thread: a child would inherit the registry of threads that do
 * not exist in it, and its exit would wait for them forever.
 */
#include "check.h"

#include <stdatomic.h>

/* A worker that takes arg nanoseconds, then says so. */
static int slow_worker(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_sleep((int64_t)(intptr_t)arg));
    fprintf(stderr, "worker done\n");
    return 0;
}

static void start_worker(bool daemon, int64_t ns)
{
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.daemon = daemon;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, &o, slow_worker, (void *)(intptr_t)ns));
    weft_thread_release(t);        /* nobody joins it: program exit decides its fate */
}

/* Runs fn in a child; returns the child's stderr and checks that it exited with 0.
 * *ms receives the child's run time in milliseconds. */
static child_result run_program(void (*fn)(void), long long *ms)
{
    int64_t t0 = weft_now();
    child_result r = in_child(fn);
    *ms = (weft_now() - t0) / WEFT_MS;
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
        fprintf(stderr, "child failed (status 0x%x); its stderr:\n%s", r.status, r.err);
    CHECK(WIFEXITED(r.status));
    CHECK_EQ(WEXITSTATUS(r.status), 0);
    return r;
}

/* Position of line in out, or -1. */
static long find_line(const char *out, const char *line)
{
    const char *p = strstr(out, line);
    return p ? (long)(p - out) : -1;
}

/* (a) Python: a non-daemon thread keeps the program alive after main is done. */
static void program_non_daemon(void)
{
    start_worker(false, 200 * WEFT_MS);
    fprintf(stderr, "main done\n");
    exit(0);                       /* runs atexit: weft_shutdown waits for the worker */
}

static void test_exit_waits_for_non_daemon(void)
{
    long long ms;
    child_result r = run_program(program_non_daemon, &ms);
    long main_at = find_line(r.err, "main done\n");
    long worker_at = find_line(r.err, "worker done\n");
    CHECK(main_at >= 0);
    CHECK(worker_at >= 0);
    CHECK(main_at < worker_at);
    CHECK_BETWEEN(ms, 190, 5000);
}

/* (b) A daemon thread is abandoned at exit. The daemon sleeps 5 s and the program must end
 * well before that (under 4 s, which also covers ThreadSanitizer's one-second atexit sleep
 * and a loaded machine); "worker done" never printed is what decides, the time only
 * confirms the exit did not wait. */
static int64_t daemon_ns(void) { return 5 * WEFT_SEC; }

static void program_daemon(void)
{
    start_worker(true, daemon_ns());
    fprintf(stderr, "main done\n");
    exit(0);
}

static void test_exit_abandons_daemon(void)
{
    long long ms;
    child_result r = run_program(program_daemon, &ms);
    CHECK(find_line(r.err, "main done\n") >= 0);
    CHECK_EQ(find_line(r.err, "worker done\n"), -1);
    CHECK_BETWEEN(ms, 0, 4000);
}

/* (c) weft_shutdown called explicitly. */
static atomic_int worker_finished;

static int flagging_worker(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_sleep(100 * WEFT_MS));
    atomic_store(&worker_finished, 1);
    return 0;
}

static int cleanup_ran;

static int main_loop_coroutine(void *arg, void **result)
{
    (void)arg; (void)result;
    if (weft_sleep(WEFT_FOREVER) == -ECANCELED) cleanup_ran = 1;
    return 0;
}

static int shutdown_in_coroutine(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_RC(weft_shutdown(), -EDEADLK);   /* from a thread only */
    return 0;
}

static int quick(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static void program_explicit_shutdown(void)
{
    CHECK_OK(weft_run(shutdown_in_coroutine, NULL, NULL));

    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, flagging_worker, NULL));
    /* A coroutine of the main thread's loop, blocked: shutdown cancels it. */
    CHECK_OK(weft_spawn(NULL, main_loop_coroutine, NULL));
    CHECK_OK(weft_yield());

    int64_t t0 = weft_now();
    CHECK_OK(weft_shutdown());
    CHECK_BETWEEN(weft_now() - t0, 90 * WEFT_MS, 5 * WEFT_SEC);
    CHECK_EQ(atomic_load(&worker_finished), 1);
    CHECK(!weft_thread_is_alive(t));
    CHECK_EQ(cleanup_ran, 1);
    weft_thread_release(t);

    /* From now on no new non-daemon thread; a daemon one is still allowed. */
    weft_thread *late = (weft_thread *)0x1;
    CHECK_RC(weft_thread_start(&late, NULL, quick, NULL), -ESHUTDOWN);
    CHECK(late == (weft_thread *)0x1);
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.daemon = true;
    weft_thread *d;
    CHECK_OK(weft_thread_start(&d, &o, quick, (void *)0xd));
    void *res = NULL;
    CHECK_OK(weft_thread_join(d, WEFT_SEC, &res));
    CHECK_PTR(res, (void *)0xd);
    weft_thread_release(d);

    CHECK_OK(weft_shutdown());             /* idempotent */
    fprintf(stderr, "shutdown checks passed\n");
    exit(0);
}

static void test_explicit_shutdown(void)
{
    long long ms;
    child_result r = run_program(program_explicit_shutdown, &ms);
    CHECK(find_line(r.err, "shutdown checks passed\n") >= 0);
}

/* (d) exit() from inside a coroutine still waits for a non-daemon thread. */
static int exits_from_coroutine(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK(weft_in_coroutine());
    start_worker(false, 200 * WEFT_MS);
    fprintf(stderr, "main done\n");
    exit(0);
}

static void program_exit_in_coroutine(void)
{
    weft_run(exits_from_coroutine, NULL, NULL);
    fprintf(stderr, "weft_run returned\n");   /* never: exit() does not return */
}

static void test_exit_from_coroutine_waits(void)
{
    long long ms;
    child_result r = run_program(program_exit_in_coroutine, &ms);
    long main_at = find_line(r.err, "main done\n");
    long worker_at = find_line(r.err, "worker done\n");
    CHECK(main_at >= 0);
    CHECK(worker_at > main_at);
    CHECK_EQ(find_line(r.err, "weft_run returned\n"), -1);
    CHECK_BETWEEN(ms, 190, 5000);
}

/* (e) A non-daemon thread that calls weft_shutdown waits for the other non-daemon threads,
 * not for itself. */
static int shuts_down(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_shutdown());
    fprintf(stderr, "shutdown returned\n");
    return 0;
}

static void program_shutdown_from_thread(void)
{
    start_worker(false, 200 * WEFT_MS);
    weft_thread *s;
    CHECK_OK(weft_thread_start(&s, NULL, shuts_down, NULL));
    CHECK_OK(weft_thread_join(s, 5 * WEFT_SEC, NULL));
    weft_thread_release(s);
    fprintf(stderr, "main done\n");
    exit(0);
}

static void test_shutdown_from_non_daemon_thread(void)
{
    long long ms;
    child_result r = run_program(program_shutdown_from_thread, &ms);
    long worker_at = find_line(r.err, "worker done\n");
    long shut_at = find_line(r.err, "shutdown returned\n");
    long main_at = find_line(r.err, "main done\n");
    CHECK(worker_at >= 0);
    CHECK(shut_at > worker_at);          /* it waited for the worker... */
    CHECK(main_at > shut_at);            /* ...and not for itself (or the join would fail) */
    CHECK_BETWEEN(ms, 190, 5000);
}

/* weft_thread_start puts a non-daemon thread on the shutdown registry before
 * pthread_create. When pthread refuses the thread (here a stack size below
 * PTHREAD_STACK_MIN, in real life EAGAIN at the thread limit), a concurrent weft_shutdown
 * may already hold a reference and wait on its future: the failed start completes the
 * future (as a thread that ran and failed) and drops only its own references. (It once
 * freed them at once: the shutdown waited on a freed future.) Each child below races a
 * stream of failing starts against weft_shutdown; about half of them hit the window. */
static atomic_long failed_starts;

static int keeps_failing_to_start(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.stack_size = 1;                      /* pthread refuses it, after registration */
    for (;;) {
        weft_thread *t;
        int rc = weft_thread_start(&t, &o, quick, NULL);
        if (rc == -ESHUTDOWN) return 0;
        CHECK_RC(rc, -EINVAL);
        atomic_fetch_add(&failed_starts, 1);
    }
}

static void program_shutdown_vs_failed_start(void)
{
    alarm(3);                              /* a lost wake-up would hang: SIGALRM ends it */
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.daemon = true;
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, &o, keeps_failing_to_start, NULL));
    while (atomic_load(&failed_starts) < 100) weft_yield();
    CHECK_OK(weft_shutdown());
    fprintf(stderr, "shutdown returned\n");
}

static void test_shutdown_races_failed_start(void)
{
    for (int i = 0; i < 20; i++) {
        child_result r = in_child(program_shutdown_vs_failed_start);
        if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
            fprintf(stderr, "child %d failed (status 0x%x); its stderr:\n%s", i, r.status,
                    r.err);
        CHECK(WIFEXITED(r.status));
        CHECK_EQ(WEXITSTATUS(r.status), 0);
        CHECK(find_line(r.err, "shutdown returned\n") >= 0);
    }
}

int main(void)
{
    RUN(test_exit_waits_for_non_daemon);
    RUN(test_exit_abandons_daemon);
    RUN(test_explicit_shutdown);
    RUN(test_exit_from_coroutine_waits);
    RUN(test_shutdown_from_non_daemon_thread);
    RUN(test_shutdown_races_failed_start);
    return check_done();
}
