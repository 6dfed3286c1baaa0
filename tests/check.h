/* tests/check.h — the tests' assertions and helpers.
 *
 * Each test file is one process with a timeout (meson test). CHECK_* print both operands
 * and abort on failure. RUN(fn) runs one test function and prints its name and time.
 * in_child() runs a function in a forked child and captures its stderr and exit status,
 * for misuse that must end the process.
 */
#ifndef WEFT_TESTS_CHECK_H
#define WEFT_TESTS_CHECK_H

#include <weft.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", \
        __FILE__, __LINE__, #a, #b, a_, b_); abort(); } } while (0)

#define CHECK_PTR(a, b) do { const void *a_ = (a), *b_ = (b); \
    if (a_ != b_) { fprintf(stderr, "%s:%d: CHECK_PTR(%s, %s) failed: %p != %p\n", \
        __FILE__, __LINE__, #a, #b, a_, b_); abort(); } } while (0)

/* A weft return code: prints names, e.g. "ETIMEDOUT != OK". */
#define CHECK_RC(expr, want) do { int r_ = (expr), w_ = (want); \
    if (r_ != w_) { fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s (%d)\n", \
        __FILE__, __LINE__, #expr, weft_errname(r_), r_, weft_errname(w_), w_); abort(); } } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

/* Inclusive range, for timings: generous bounds, never the only check of correctness. */
#define CHECK_BETWEEN(v, lo, hi) do { long long v_ = (long long)(v), l_ = (lo), h_ = (hi); \
    if (v_ < l_ || v_ > h_) { fprintf(stderr, "%s:%d: CHECK_BETWEEN(%s) failed: %lld not in " \
        "[%lld, %lld]\n", __FILE__, __LINE__, #v, v_, l_, h_); abort(); } } while (0)

/* ---- The runner --------------------------------------------------------------------------
 * RUN(fn) runs one test function, unless WEFT_TEST names others: WEFT_TEST=a,b runs only the
 * tests whose names contain "a" or "b" (WEFT_TEST=cancel, WEFT_TEST=test_pool_map,...). A
 * test that cannot run here says so with SKIP("why") (void test functions) and is printed
 * "skip"; a binary whose every selected test skipped (or that selected none) exits 77,
 * which meson reports as SKIP (main ends with `return check_done();`).
 * After each test, the descriptors open in the process (files and sockets: see
 * check_open_fds) and the coroutines alive on the main thread's loop must be back to what
 * they were before it (libuv's MAKE_VALGRIND_HAPPY): a leak fails the test that made it.
 * Descriptors closed by another thread a moment later get a second's grace. */
static const char *check_skip_why_;
static int check_ran_, check_skipped_;

#define SKIP(why) do { check_skip_why_ = (why); return; } while (0)

static inline int check_wanted_(const char *name)
{
    const char *sel = getenv("WEFT_TEST");
    if (!sel || !*sel) return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", sel);
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save))
        if (strstr(name, tok)) return 1;
    return 0;
}

/* Files and sockets open in the process: what a test could leak. Epoll and event
 * descriptors (anon inodes) are left out, as they belong to the loops of pool threads,
 * which come and go beside the tests; pipes too, as sanitizers open their own. */
static inline int check_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        char target[256];
        ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
        if (len < 0) continue;              /* closed meanwhile */
        target[len] = '\0';
        if (strncmp(target, "anon_inode:", 11) == 0 || strncmp(target, "pipe:", 5) == 0)
            continue;
        n++;
    }
    closedir(d);
    return n;
}

/* The threads of this process now (/proc/self/task), or -1. */
static inline int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Waits (polling, up to timeout ns) until at most n threads are left; whether they were.
 * A thread may still be leaving after the work it did is seen done: a test that forks next
 * waits for it, or the child holds memory only that vanished thread pointed to. */
static inline int wait_threads_at_most(int n, int64_t timeout)
{
    int64_t t0 = weft_now();
    while (count_threads() > n) {
        if (weft_now() - t0 > timeout) return 0;
        usleep(1000);
    }
    return 1;
}

static inline void check_after_(const char *name, int64_t t0, int fds_before,
                                size_t coros_before)
{
    double ms = (double)(weft_now() - t0) / 1e6;
    if (check_skip_why_) {
        printf("skip %-38s %s\n", name, check_skip_why_);
        check_skip_why_ = NULL;
        check_skipped_++;
    } else {
        printf("ok %-40s %8.1f ms\n", name, ms);
        check_ran_++;
    }
    fflush(stdout);
    int fds = check_open_fds();
    for (int i = 0; i < 100 && fds > fds_before; i++) {
        usleep(10000);
        fds = check_open_fds();
    }
    if (fds > fds_before) {
        fprintf(stderr, "%s left %d descriptor(s) open (files and sockets: %d before, %d "
                "after)\n", name, fds - fds_before, fds_before, fds);
        abort();
    }
    size_t coros = weft_live_coroutines();
    if (coros > coros_before) {
        fprintf(stderr, "%s left %zu coroutine(s) alive on the main thread's loop\n", name,
                coros - coros_before);
        abort();
    }
}

#define RUN(fn) do { if (check_wanted_(#fn)) { \
    int fds_ = check_open_fds(); size_t coros_ = weft_live_coroutines(); \
    int64_t t0_ = weft_now(); fn(); check_after_(#fn, t0_, fds_, coros_); } } while (0)

/* The end of a test binary's main: 77 (meson's SKIP) if no selected test ran. */
static inline int check_done(void)
{
    return check_ran_ ? 0 : 77;
}

/* TEST_TSAN: built with ThreadSanitizer (gcc or clang). */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

/* Running under Valgrind. */
static inline int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "valgrind") != NULL;
}

/* Running under a sanitizer or Valgrind: scale big workloads down. */
static inline int slow_tools(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return 1;
#endif
#endif
    const char *p = getenv("LD_PRELOAD");
    return (p && strstr(p, "valgrind")) || getenv("WEFT_TEST_SLOW") != NULL;
}

/* The tests' own transfers on blocking pipes: whole, whatever signals do. A signal may cut a
 * blocking pipe read or write short or make it fail with EINTR (make test-fault injects
 * exactly that), so the tests' helpers go on until the count is done or the pipe ends.
 * Return the count done (less on a read only at the end), or -1 with errno on an error. */
static inline ssize_t write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static inline ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return done ? (ssize_t)done : -1;
        if (r == 0) break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

/* The tests' pseudo-random numbers: an LCG, one seed per caller (reproducible per thread). */
static inline unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

/* A better generator for the stress tests that draw many decisions per item: xorshift64*,
 * seeded through splitmix64 so that neighbouring seeds give unrelated streams. */
typedef struct {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform enough in [0, n). */
static inline uint32_t below(rng *r, uint32_t n)
{
    return (uint32_t)((rng_next(r) >> 32) % n);
}

static inline void rng_seed(rng *r, uint64_t s)
{
    s += 0x9E3779B97F4A7C15ull;
    s = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ull;
    s = (s ^ (s >> 27)) * 0x94D049BB133111EBull;
    s ^= s >> 31;
    r->s = s ? s : 1;                            /* never 0: xorshift would stay at 0 */
}

/* Stress helper, called from a coroutine: spawns n coroutines running fn(arg) on its loop,
 * cancels one of them at random every 0..max_gap_ms ms until `until`, then waits for each
 * (each must return 0, cancelled or not) and releases it. */
static inline void spawn_and_cancel_randomly(int n, weft_fn fn, void *arg, int64_t until,
                                             int max_gap_ms)
{
    unsigned seed = (unsigned)(uintptr_t)&seed;
    weft_future **f = calloc((size_t)n, sizeof *f);
    CHECK(f != NULL);
    for (int i = 0; i < n; i++) CHECK_OK(weft_spawn(&f[i], fn, arg));
    while (weft_now() < until) {
        weft_sleep((int64_t)(rnd(&seed) % (unsigned)max_gap_ms) * WEFT_MS);
        weft_future_cancel(f[rnd(&seed) % (unsigned)n]);
    }
    for (int i = 0; i < n; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    free(f);
}

/* Run under an emulator (make test-aarch64: meson's exe wrapper is qemu-user, which cannot
 * start threads in a forked child of a threaded process). */
static inline int under_qemu(void)
{
    const char *w = getenv("MESON_EXE_WRAPPER");
    return w && strstr(w, "qemu") != NULL;
}

/* Spawns n coroutines running fn(arg) on the calling thread's loop and waits for them
 * all; each must return 0. A weft_fn itself (arg: a spawn_job), so a loop can run it. */
typedef struct {
    int n;
    weft_fn fn;
    void *arg;
} spawn_job;

static inline int spawn_all_and_wait(void *job_, void **result)
{
    (void)result;
    spawn_job *job = job_;
    weft_future **f = calloc((size_t)job->n, sizeof *f);
    CHECK(f != NULL);
    for (int i = 0; i < job->n; i++) CHECK_OK(weft_spawn(&f[i], job->fn, job->arg));
    for (int i = 0; i < job->n; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    free(f);
    return 0;
}

/* A new thread whose body is weft_run(fn, arg): a second (third...) loop. The job must
 * outlive the thread. */
typedef struct {
    weft_fn fn;
    void *arg;
} loop_job;

static inline int loop_thread_body(void *job_, void **result)
{
    loop_job *job = job_;
    return weft_run(job->fn, job->arg, result);
}

static inline weft_thread *start_loop_thread(loop_job *job)
{
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, loop_thread_body, job));
    return t;
}

static inline void join_and_release(weft_thread *t)
{
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
}

/* Runs fn(arg) on two plain threads while two more threads each run a loop whose main
 * coroutine is loop_main(loop_arg); returns once all four have ended. */
static inline void run_on_two_threads_and_two_loops(weft_fn fn, void *arg, weft_fn loop_main,
                                                    void *loop_arg)
{
    loop_job loop = { loop_main, loop_arg };
    weft_thread *t[4];
    CHECK_OK(weft_thread_start(&t[0], NULL, fn, arg));
    CHECK_OK(weft_thread_start(&t[1], NULL, fn, arg));
    t[2] = start_loop_thread(&loop);
    t[3] = start_loop_thread(&loop);
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
}

/* A coroutine that counts while its loop runs: proof that a wait suspended only its caller.
 * The waiting coroutine starts it, marks the start of its wait, checks the ticks counted
 * during the wait once it returns, and stops it; another thread can wait for those ticks
 * before it ends the wait. */
typedef struct {
    atomic_int ticks;
    atomic_int stop;
    atomic_int base;            /* ticks when the wait began */
    atomic_int waiting;         /* the wait has begun */
    weft_future *task;
} ticker_state;

static inline int ticker_main(void *arg, void **result)
{
    (void)result;
    ticker_state *t = arg;
    while (!atomic_load(&t->stop)) {
        atomic_fetch_add(&t->ticks, 1);
        if (weft_sleep(WEFT_MS) != 0) break;
    }
    return 0;
}

/* Spawns the ticker on the calling coroutine's loop. */
static inline void ticker_start(ticker_state *t)
{
    CHECK_OK(weft_spawn(&t->task, ticker_main, t));
}

/* Called by the waiting coroutine just before its wait: notes the count, says it waits. */
static inline void ticker_wait_begins(ticker_state *t)
{
    atomic_store(&t->base, atomic_load(&t->ticks));
    atomic_store(&t->waiting, 1);
}

/* Ticks counted since ticker_wait_begins. */
static inline int ticker_ticks_in_wait(ticker_state *t)
{
    return atomic_load(&t->ticks) - atomic_load(&t->base);
}

/* From another thread: returns once the wait has begun and n ticks have passed in it. */
static inline void ticker_await_ticks_in_wait(ticker_state *t, int n)
{
    while (!atomic_load(&t->waiting) || atomic_load(&t->ticks) < atomic_load(&t->base) + n)
        weft_sleep(WEFT_MS);
}

/* Stops the ticker and waits for it to end. */
static inline void ticker_stop(ticker_state *t)
{
    atomic_store(&t->stop, 1);
    CHECK_OK(weft_future_result(t->task, WEFT_FOREVER, NULL));
    weft_future_release(t->task);
}

/* A coroutine parked in a wait, to be cancelled from another thread: a loop's main
 * coroutine (park_and_expect_cancel, arg: a parked_waiter) spawns fn(arg), lets it park,
 * sets `ready` and expects it to end with -ECANCELED; the other thread cancels `f` once
 * `ready` is set. */
typedef struct {
    weft_fn fn;
    void *arg;
    weft_future *f;
    atomic_int ready;
} parked_waiter;

static inline int park_and_expect_cancel(void *arg, void **result)
{
    (void)result;
    parked_waiter *p = arg;
    CHECK_OK(weft_spawn(&p->f, p->fn, p->arg));
    CHECK_OK(weft_yield());                 /* it is parked now */
    atomic_store(&p->ready, 1);
    CHECK_RC(weft_future_result(p->f, 10 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(p->f);
    return 0;
}

typedef struct {
    int status;            /* as from waitpid */
    char err[8192];        /* captured stderr */
} child_result;

/* Runs fn() in a forked child (which exits 0 if fn returns); captures stderr. */
static inline child_result in_child(void (*fn)(void))
{
    child_result r;
    memset(&r, 0, sizeof r);
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        alarm(120);                 /* a child that hangs dies (SIGALRM), the test reports it */
        fn();
        fflush(NULL);
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t k;
    while ((k = read(p[0], r.err + n, sizeof r.err - 1 - n)) > 0 || (k < 0 && errno == EINTR))
        if (k > 0) n += (size_t)k;
    close(p[0]);
    CHECK(waitpid(pid, &r.status, 0) == pid);
    return r;
}

/* Runs child() in a child process and checks that it was aborted with `message` on stderr
 * (misuse that must end the process with a report, such as destroying a primitive that
 * somebody waits on). */
static inline void expect_abort(void (*child)(void), const char *message)
{
    child_result r = in_child(child);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT) || !strstr(r.err, message)) {
        fprintf(stderr, "expected an abort with \"%s\"; status %#x, stderr:\n%s\n", message,
                r.status, r.err);
        abort();
    }
}

#endif /* WEFT_TESTS_CHECK_H */
