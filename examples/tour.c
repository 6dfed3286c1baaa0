/* tour.c — `make demo`: the seed notes' comparisons, measured on this machine.
 *
 * The seeds teach concurrency through a handful of contrasts: sequential vs threads vs
 * coroutines on I/O-bound work; threads vs processes on CPU-bound work (and why Python's
 * threads do not help there); a counter that loses updates until a lock guards it; awaiting
 * in turn vs spawning; a spinner that turns while something slow happens; one event waking
 * many waiters. This program runs each of them with weft and prints a short explanation and
 * a measured table; where python3 is installed, the seeds' own Python versions of the two
 * big workloads run beside weft in the same tour, on the same local server.
 *
 * On a terminal it uses colour and a spinner while a row runs; in a pipe (CI) it prints
 * plain lines. Exits 0 only if every result was right (every page intact, every count
 * exact). Under a minute; no network but 127.0.0.1.
 */
#include "httpd.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGES 160
#define LATENCY (50 * WEFT_MS)
#define POOL_WORKERS 5            /* the seed's choice */
#define TIMEOUT (60 * WEFT_SEC)

static bool tty;
static int failures;

static const char *bold(void) { return tty ? "\033[1m" : ""; }
static const char *dim(void) { return tty ? "\033[2m" : ""; }
static const char *green(void) { return tty ? "\033[32m" : ""; }
static const char *red(void) { return tty ? "\033[31m" : ""; }
static const char *plain(void) { return tty ? "\033[0m" : ""; }

static void heading(const char *title, const char *why)
{
    printf("\n%s%s%s\n%s%s%s\n", bold(), title, plain(), dim(), why, plain());
}

static void fail(const char *what)
{
    failures++;
    printf("  %sWRONG: %s%s\n", red(), what, plain());
}

/* ---- rows, with a spinner on a terminal -------------------------------------------------- */

typedef struct {
    weft_event *done;
    const char *label;
} spin_job;

static int spin(void *arg, void **result)
{
    (void)result;
    spin_job *j = arg;
    static const char frames[] = "|/-\\";
    for (unsigned i = 0; weft_event_wait(j->done, 80 * WEFT_MS) == -ETIMEDOUT; i++) {
        printf("\r  %-34s %c", j->label, frames[i % 4]);
        fflush(stdout);
    }
    return 0;
}

typedef struct {
    weft_thread *spinner;
    spin_job job;
    int64_t t0;
} row;

static void row_begin(row *r, const char *label)
{
    r->spinner = NULL;
    r->job.label = label;
    r->job.done = NULL;
    if (tty && weft_event_create(&r->job.done) == 0 &&
        weft_thread_start(&r->spinner, NULL, spin, &r->job) != 0)
        r->spinner = NULL;
    r->t0 = weft_now();
}

/* Stops the row's spinner; returns the row's time in seconds. */
static double row_stop(row *r)
{
    double s = (double)(weft_now() - r->t0) / 1e9;
    if (r->spinner) {
        weft_event_set(r->job.done);
        weft_thread_join(r->spinner, WEFT_FOREVER, NULL);
        weft_thread_release(r->spinner);
    }
    if (r->job.done) weft_event_destroy(r->job.done);
    return s;
}

/* Prints a row: its time (negative: did not run) and, when base > 0, the speed-up. */
static void row_print(const char *label, double s, double base, const char *note)
{
    if (s < 0) {
        printf("\r  %-34s %8s     (did not run)\n", label, "-");
        return;
    }
    printf("\r  %-34s %8.3f s", label, s);
    if (base > 0) printf("   %s%7.1fx%s", green(), base / s, plain());
    printf("   %s\n", note ? note : "");
}

/* Ends the row: prints its time and, when base > 0, the speed-up against base. */
static double row_end(row *r, double base, const char *note)
{
    double s = row_stop(r);
    row_print(r->job.label, s, base, note);
    return s;
}

/* Ends a row run by another program that measured itself (Python, without its start-up
 * time): prints that time. */
static void row_end_measured(row *r, double measured, double base, const char *note)
{
    row_stop(r);
    row_print(r->job.label, measured > 0 ? measured : -1, base, note);
}

/* ---- 1. I/O-bound: a local "internet" ------------------------------------------------------ */

typedef struct {
    weft_event *ready, *stop;
    uint16_t port;
} site;

/* Page i: its own text, so that a mixed-up answer is seen. */
static size_t make_page(char *buf, int i)
{
    return (size_t)sprintf(buf, "<html><body>site %d, %d squared is %d</body></html>\n", i, i,
                           i * i);
}

static int serve_page(const httpd_request *rq, httpd_response *rs, void *arg)
{
    (void)arg;
    int i;
    if (sscanf(rq->target, "/site/%d", &i) != 1 || i < 0 || i >= PAGES) {
        rs->status = 404;
        rs->body = "no such site\n";
        rs->body_len = strlen(rs->body);
        return 0;
    }
    int rc = weft_sleep(LATENCY);            /* the network's and the far server's time */
    if (rc) return rc;
    char *page = malloc(128);
    if (!page) return -ENOMEM;
    rs->content_type = "text/html";
    rs->body = rs->owned = page;
    rs->body_len = make_page(page, i);
    return 0;
}

static int site_main(void *arg, void **result)
{
    (void)result;
    site *s = arg;
    httpd *h;
    httpd_opts o = HTTPD_OPTS_INIT;
    int rc = httpd_start(&h, "127.0.0.1", 0, serve_page, NULL, &o);
    if (rc) {
        weft_event_set(s->ready);
        return rc;
    }
    s->port = httpd_port(h);
    weft_event_set(s->ready);
    weft_event_wait(s->stop, WEFT_FOREVER);
    httpd_close(h, 2 * WEFT_SEC);
    return 0;
}

static int site_thread(void *arg, void **result)
{
    return weft_run(site_main, arg, result);
}

static uint16_t port;
static _Atomic int pages_wrong;

static int fetch(httpc *c, int i)
{
    char target[32], want[128];
    sprintf(target, "/site/%d", i);
    char *body = NULL;
    size_t len = 0;
    int rc = httpc_get(c, target, &body, &len, TIMEOUT);
    size_t n = make_page(want, i);
    if (rc != 200 || len != n || memcmp(body, want, n) != 0) atomic_fetch_add(&pages_wrong, 1);
    free(body);
    return rc == 200 ? 0 : rc < 0 ? rc : -EPROTO;
}

static int io_sequential(void)
{
    httpc *c;
    int rc = httpc_create(&c, "127.0.0.1", port);
    for (int i = 0; i < PAGES && rc == 0; i++) rc = fetch(c, i);
    httpc_destroy(c);
    return rc;
}

/* A pool job or a coroutine: one page on a connection of its own. */
static int fetch_one(void *arg, void **result)
{
    (void)result;
    httpc *c;
    int rc = httpc_create(&c, "127.0.0.1", port);
    if (rc == 0) rc = fetch(c, (int)(intptr_t)arg);
    httpc_destroy(c);
    return rc;
}

static int io_pool(void)
{
    weft_pool *p;
    weft_pool_opts o = { POOL_WORKERS };
    int rc = weft_pool_create(&p, &o);
    if (rc) return rc;
    weft_future *f[PAGES];
    for (int i = 0; i < PAGES; i++)
        if ((rc = weft_pool_submit(p, &f[i], fetch_one, (void *)(intptr_t)i)) != 0) return rc;
    for (int i = 0; i < PAGES; i++) {
        int r = weft_future_result(f[i], TIMEOUT, NULL);
        if (r && !rc) rc = r;
        weft_future_release(f[i]);
    }
    weft_pool_shutdown(p, true, false);
    weft_pool_destroy(p);
    return rc;
}

static int io_coroutines_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    for (int i = 0; i < PAGES && rc == 0; i++)
        rc = weft_group_spawn(g, NULL, NULL, fetch_one, (void *)(intptr_t)i);
    int w = weft_group_wait(g);
    weft_group_destroy(g);
    return rc ? rc : w;
}

static int io_coroutines(void)
{
    return weft_run(io_coroutines_main, NULL, NULL);
}

/* Runs a Python snippet (the seeds' way) with the port as argv[1]; its stdout is the time
 * in seconds it measured, or nothing if it could not run. Returns the time, or -1. */
static double run_python(const char *code, const char *arg)
{
    const char *argv[] = { "python3", "-c", code, arg, NULL };
    weft_subprocess_result r = { 0 };
    int rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 120 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE);
    double t = -1;
    if (rc == 0 && r.returncode == 0 && r.out) t = atof(r.out);
    else if (rc == 0 && r.err && r.err_len)
        printf("  %s(python: %.*s)%s\n", dim(), (int)(r.err_len > 200 ? 200 : r.err_len), r.err,
               plain());
    weft_subprocess_result_free(&r);
    return t > 0 ? t : -1;
}

/* WEFT_TOUR_NO_PYTHON=1 (the test runs) leaves Python's rows out. */
static bool have_python(void)
{
    const char *no = getenv("WEFT_TOUR_NO_PYTHON");
    return (!no || !*no || *no == '0') && access("/usr/bin/python3", X_OK) == 0;
}

static const char py_threads_io[] =
    "import sys, time, urllib.request\n"
    "from concurrent.futures import ThreadPoolExecutor\n"
    "port = sys.argv[1]\n"
    "def get(i):\n"
    "    with urllib.request.urlopen(f'http://127.0.0.1:{port}/site/{i}') as r:\n"
    "        b = r.read()\n"
    "    assert b == f'<html><body>site {i}, {i} squared is {i*i}</body></html>\\n'.encode()\n"
    "t = time.perf_counter()\n"
    "with ThreadPoolExecutor(5) as ex: list(ex.map(get, range(160)))\n"
    "print(time.perf_counter() - t)\n";

static const char py_asyncio_io[] =
    "import sys, time, asyncio\n"
    "port = int(sys.argv[1])\n"
    "async def get(i):\n"
    "    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
    "    w.write(f'GET /site/{i} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'.encode())\n"
    "    data = await r.read()\n"
    "    w.close()\n"
    "    assert data.endswith(f'site {i}, {i} squared is {i*i}</body></html>\\n'.encode())\n"
    "async def main():\n"
    "    await asyncio.gather(*(get(i) for i in range(160)))\n"
    "t = time.perf_counter()\n"
    "asyncio.run(main())\n"
    "print(time.perf_counter() - t)\n";

static void tour_io(void)
{
    heading("1. I/O-bound: 160 pages from a local server that answers each after 50 ms",
            "   The time goes into waiting: threads overlap the waits five at a time, "
            "coroutines all at once, on one thread.");
    site s = { 0 };
    weft_thread *t;
    if (weft_event_create(&s.ready) || weft_event_create(&s.stop) ||
        weft_thread_start(&t, NULL, site_thread, &s)) {
        fail("cannot start the local server");
        return;
    }
    weft_event_wait(s.ready, WEFT_FOREVER);
    port = s.port;
    if (!port) {
        fail("the local server did not start");
        return;
    }
    row r;
    row_begin(&r, "weft, sequential");
    int rc = io_sequential();
    double base = row_end(&r, 0, "one connection, one page after the other");
    if (rc) fail(weft_strerror(rc));
    row_begin(&r, "weft, thread pool of 5");
    rc = io_pool();
    row_end(&r, base, "weft_pool_submit per page");
    if (rc) fail(weft_strerror(rc));
    row_begin(&r, "weft, coroutines on one thread");
    rc = io_coroutines();
    row_end(&r, base, "a task group of 160 coroutines");
    if (rc) fail(weft_strerror(rc));
    if (have_python()) {
        char arg[16];
        sprintf(arg, "%u", port);
        row_begin(&r, "Python, ThreadPoolExecutor(5)");
        row_end_measured(&r, run_python(py_threads_io, arg), base, "urllib, as the seeds do");
        row_begin(&r, "Python, asyncio");
        row_end_measured(&r, run_python(py_asyncio_io, arg), base, "asyncio streams, 160 tasks");
    }
    if (atomic_load(&pages_wrong)) fail("some pages came back wrong");
    weft_event_set(s.stop);
    weft_thread_join(t, WEFT_FOREVER, NULL);
    weft_thread_release(t);
    weft_event_destroy(s.ready);
    weft_event_destroy(s.stop);
}

/* ---- 2. CPU-bound: the seeds' prime check ---------------------------------------------------- */

/* The twelve largest primes below 2^46: each costs about four million trial divisions. */
#define NUMBERS 12
static const uint64_t numbers[NUMBERS] = {
    70368744177643ull, 70368744177607ull, 70368744177601ull, 70368744177587ull,
    70368744177497ull, 70368744177467ull, 70368744177427ull, 70368744177377ull,
    70368744177359ull, 70368744177353ull, 70368744177331ull, 70368744177289ull,
};
static bool is_prime_answer[NUMBERS];

static bool is_prime(uint64_t n)
{
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    uint64_t root = (uint64_t)sqrt((double)n);
    for (uint64_t d = 3; d <= root + 1 && d < n; d += 2)
        if (n % d == 0) return false;
    return true;
}

static int check_job(void *arg, void **result)
{
    *result = (void *)(intptr_t)is_prime(numbers[(intptr_t)arg]);
    return 0;
}

static const char py_primes[] =
    "import sys, time, math\n"
    "from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor\n"
    "def is_prime(n):\n"
    "    if n < 2: return False\n"
    "    if n % 2 == 0: return n == 2\n"
    "    for d in range(3, math.isqrt(n) + 2, 2):\n"
    "        if n % d == 0: return n == d\n"
    "    return True\n"
    "nums = [int(x) for x in sys.argv[1].split(',')]\n"
    "how = sys.argv[2]\n"
    "t = time.perf_counter()\n"
    "if how == 'seq': list(map(is_prime, nums))\n"
    "elif how == 'threads':\n"
    "    with ThreadPoolExecutor(2) as ex: list(ex.map(is_prime, nums))\n"
    "else:\n"
    "    with ProcessPoolExecutor(2) as ex: list(ex.map(is_prime, nums))\n"
    "print(time.perf_counter() - t)\n";

static void tour_cpu(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char why[200];
    snprintf(why, sizeof why, "   Pure computation: threads run in parallel in C (this machine "
             "has %ld cores); Python's threads wait for the GIL.", cores);
    heading("2. CPU-bound: is each of 12 numbers just below 2^46 prime?", why);
    row r;
    row_begin(&r, "weft, sequential");
    for (int i = 0; i < NUMBERS; i++) is_prime_answer[i] = is_prime(numbers[i]);
    double base = row_end(&r, 0, NULL);
    weft_pool *p;
    weft_pool_opts o = { (int)(cores > 0 ? cores : 2) };
    if (weft_pool_create(&p, &o) != 0) {
        fail("no pool");
        return;
    }
    char label[64];
    snprintf(label, sizeof label, "weft, thread pool of %d", o.max_workers);
    row_begin(&r, label);
    weft_future *f[NUMBERS];
    int rc = 0;
    for (int i = 0; i < NUMBERS && !rc; i++)
        rc = weft_pool_submit(p, &f[i], check_job, (void *)(intptr_t)i);
    for (int i = 0; i < NUMBERS && !rc; i++) {
        void *res;
        if (weft_future_result(f[i], TIMEOUT, &res) != 0 || (bool)(intptr_t)res != is_prime_answer[i])
            fail("a thread's answer differs");
        weft_future_release(f[i]);
    }
    row_end(&r, base, "one job per number");
    weft_pool_shutdown(p, true, false);
    weft_pool_destroy(p);
    int primes = 0;
    for (int i = 0; i < NUMBERS; i++) primes += is_prime_answer[i];
    printf("  %s%d of the 12 are prime%s\n", dim(), primes, plain());
    if (!have_python()) return;
    char list[NUMBERS * 21];
    size_t k = 0;
    for (int i = 0; i < NUMBERS; i++)
        k += (size_t)sprintf(list + k, "%s%llu", i ? "," : "", (unsigned long long)numbers[i]);
    static const char *hows[] = { "seq", "threads", "processes" };
    static const char *labels[] = { "Python, sequential", "Python, ThreadPoolExecutor(2)",
                                    "Python, ProcessPoolExecutor(2)" };
    double py_base = 0;       /* Python's rows: speed-up against Python's sequential time */
    for (int i = 0; i < 3; i++) {
        const char *argv[] = { "python3", "-c", py_primes, list, hows[i], NULL };
        row_begin(&r, labels[i]);
        weft_subprocess_result res = { 0 };
        double t = -1;
        if (weft_subprocess_run(&res, argv, NULL, NULL, 0, 120 * WEFT_SEC,
                                WEFT_SUBPROCESS_CAPTURE) == 0 &&
            res.returncode == 0 && res.out)
            t = atof(res.out);
        weft_subprocess_result_free(&res);
        if (i == 0) py_base = t;
        char note[64];
        snprintf(note, sizeof note, "%.0f times weft's sequential time", t / base);
        row_end_measured(&r, t, i ? py_base : 0, t > 0 ? note : NULL);
    }
}

/* ---- 3. The lost update --------------------------------------------------------------------- */

#define ADDS 1000000
static _Atomic long counter;
static weft_lock *counter_lock;

/* Between the read and the write, now and then the thread gives up its CPU, as Python's
 * interpreter switches threads every 5 ms, whatever bytecode it is in: the other thread's
 * additions made meanwhile are then overwritten. (Without it, on a machine with a core per
 * thread, the two steps collide too, just less visibly.) */
static void in_between(int i)
{
    if (i % 10000 == 0) sched_yield();
}

/* counter = counter + 1 in two steps, as `count += 1` is (relaxed atomics: the race is real,
 * without undefined behaviour). */
static int add_unlocked(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < ADDS; i++) {
        long v = atomic_load_explicit(&counter, memory_order_relaxed);
        in_between(i);
        atomic_store_explicit(&counter, v + 1, memory_order_relaxed);
    }
    return 0;
}

static int add_locked(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < ADDS; i++) {
        weft_lock_acquire(counter_lock, WEFT_FOREVER);
        long v = atomic_load_explicit(&counter, memory_order_relaxed);
        in_between(i);
        atomic_store_explicit(&counter, v + 1, memory_order_relaxed);
        weft_lock_release(counter_lock);
    }
    return 0;
}

static long count_with(weft_fn fn)
{
    atomic_store(&counter, 0);
    weft_thread *t[2];
    for (int i = 0; i < 2; i++) weft_thread_start(&t[i], NULL, fn, NULL);
    for (int i = 0; i < 2; i++) {
        weft_thread_join(t[i], WEFT_FOREVER, NULL);
        weft_thread_release(t[i]);
    }
    return atomic_load(&counter);
}

static void tour_counter(void)
{
    heading("3. The lost update: two threads each add 1 to a counter a million times",
            "   Reading and writing back are two steps; another thread's step can fall in "
            "between, and an addition is lost.");
    if (weft_lock_create(&counter_lock) != 0) {
        fail("no lock");
        return;
    }
    row r;
    row_begin(&r, "without a lock");
    long c = count_with(add_unlocked);
    char note[96];
    snprintf(note, sizeof note, "counter = %ld (%ld additions lost)", c, 2L * ADDS - c);
    row_end(&r, 0, note);
    row_begin(&r, "with a weft_lock");
    c = count_with(add_locked);
    snprintf(note, sizeof note, "counter = %ld", c);
    row_end(&r, 0, note);
    if (c != 2L * ADDS) fail("the locked counter is wrong");
    weft_lock_destroy(counter_lock);
}

/* ---- 4. say_after: in turn, spawned, in a task group ------------------------------------------ */

static int say_after(void *arg, void **result)
{
    (void)result;
    int64_t ms = (intptr_t)arg;
    return weft_sleep(ms * WEFT_MS);
}

static int in_turn(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = say_after((void *)(intptr_t)100, NULL);
    return rc ? rc : say_after((void *)(intptr_t)200, NULL);
}

static int spawned(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *a, *b;
    int rc = weft_spawn(&a, say_after, (void *)(intptr_t)100);
    if (rc) return rc;
    rc = weft_spawn(&b, say_after, (void *)(intptr_t)200);
    if (rc) { weft_future_cancel(a); weft_future_release(a); return rc; }
    int ra = weft_future_result(a, WEFT_FOREVER, NULL), rb = weft_future_result(b, WEFT_FOREVER, NULL);
    weft_future_release(a);
    weft_future_release(b);
    return ra ? ra : rb;
}

static int grouped(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    weft_group_spawn(g, NULL, NULL, say_after, (void *)(intptr_t)100);
    weft_group_spawn(g, NULL, NULL, say_after, (void *)(intptr_t)200);
    rc = weft_group_wait(g);
    weft_group_destroy(g);
    return rc;
}

static void tour_say_after(void)
{
    heading("4. say_after(100 ms), say_after(200 ms)",
            "   Awaited in turn, the waits add up; spawned as tasks, or in a task group "
            "(which also cancels the rest if one fails), they overlap.");
    static const struct { const char *label; weft_fn fn; } ways[] = {
        { "awaited in turn", in_turn }, { "spawned, then awaited", spawned },
        { "in a task group", grouped },
    };
    double base = 0;
    for (int i = 0; i < 3; i++) {
        row r;
        row_begin(&r, ways[i].label);
        if (weft_run(ways[i].fn, NULL, NULL) != 0) fail(ways[i].label);
        double s = row_end(&r, base, NULL);
        if (i == 0) base = s;
    }
}

/* ---- 5. The spinner, and one event waking many ------------------------------------------------- */

typedef struct {
    weft_event *stop;
    _Atomic int turns;
} spinner;

static int spinner_coro(void *arg, void **result)
{
    (void)result;
    spinner *s = arg;
    while (weft_event_wait(s->stop, 20 * WEFT_MS) == -ETIMEDOUT) atomic_fetch_add(&s->turns, 1);
    return 0;
}

/* A coroutine spinner turns while a coroutine waits for a slow child process. */
static int spinner_and_child(void *arg, void **result)
{
    (void)result;
    spinner *s = arg;
    weft_future *sp;
    int rc = weft_spawn(&sp, spinner_coro, s);
    if (rc) return rc;
    const char *argv[] = { "sleep", "0.3", NULL };
    weft_subprocess_result r = { 0 };
    rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 10 * WEFT_SEC, 0);
    weft_subprocess_result_free(&r);
    weft_event_set(s->stop);
    weft_future_result(sp, WEFT_FOREVER, NULL);
    weft_future_release(sp);
    return rc;
}

typedef struct {
    weft_event *go;
    _Atomic int woken;
} crowd;

static int waiter(void *arg, void **result)
{
    (void)result;
    crowd *c = arg;
    int rc = weft_event_wait(c->go, 10 * WEFT_SEC);
    if (rc == 0) atomic_fetch_add(&c->woken, 1);
    return rc;
}

static int event_main(void *arg, void **result)
{
    (void)result;
    crowd *c = arg;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    for (int i = 0; i < 3; i++) weft_group_spawn(g, NULL, NULL, waiter, c);
    weft_thread *t[2];                   /* and two plain threads wait on the same event */
    for (int i = 0; i < 2; i++) weft_thread_start(&t[i], NULL, waiter, c);
    weft_sleep(50 * WEFT_MS);
    weft_event_set(c->go);
    rc = weft_group_wait(g);
    weft_group_destroy(g);
    for (int i = 0; i < 2; i++) {
        weft_thread_join(t[i], WEFT_FOREVER, NULL);
        weft_thread_release(t[i]);
    }
    return rc;
}

static void tour_spinner_and_event(void)
{
    heading("5. A spinner turns while a child process works; one event wakes five waiters",
            "   The coroutine waiting for the child parks; its loop keeps running the spinner. "
            "One weft_event wakes coroutines and threads alike.");
    spinner s = { 0 };
    crowd c = { 0 };
    if (weft_event_create(&s.stop) || weft_event_create(&c.go)) {
        fail("no event");
        return;
    }
    row r;
    row_begin(&r, "spinner while `sleep 0.3` runs");
    int rc = weft_run(spinner_and_child, &s, NULL);
    char note[96];
    snprintf(note, sizeof note, "the spinner turned %d times meanwhile", atomic_load(&s.turns));
    row_end(&r, 0, note);
    if (rc || atomic_load(&s.turns) < 3) fail("the spinner did not turn");
    row_begin(&r, "3 coroutines + 2 threads, 1 set");
    rc = weft_run(event_main, &c, NULL);
    snprintf(note, sizeof note, "%d of 5 woke", atomic_load(&c.woken));
    row_end(&r, 0, note);
    if (rc || atomic_load(&c.woken) != 5) fail("not every waiter woke");
    weft_event_destroy(s.stop);
    weft_event_destroy(c.go);
}

int main(void)
{
    tty = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    printf("%sweft tour%s — the seed notes' comparisons, measured on this machine%s\n", bold(),
           plain(), have_python() ? " (Python beside weft)" : " (python3 not found: weft only)");
    int64_t t0 = weft_now();
    tour_io();
    tour_cpu();
    tour_counter();
    tour_say_after();
    tour_spinner_and_event();
    printf("\n%stour: %s in %.1f s%s\n", bold(), failures ? "SOME RESULTS WERE WRONG" :
           "every result checked", (double)(weft_now() - t0) / 1e9, plain());
    return failures ? 1 : 0;
}
