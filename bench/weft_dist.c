/* bench/weft_dist.c — dist-throughput and dist-latency: weft_dist (weft/dist.h) through a
 * redis-server this program starts itself (Unix socket in a temporary directory, no
 * persistence: --save "" and no append-only file, as for the peers), with 2 worker processes
 * (this program again, `weft_dist worker ...`), stopped after.
 *
 * dist-throughput: one client submits n tasks "identity" (returns its 8-byte argument) to
 * one queue, then reads every result back and checks it; tasks per second from the first
 * submit to the last result, after a warm-up of 2,000 tasks.
 * dist-latency-p50 / -p99: one task at a time, submit -> result, µs; m round trips after a
 * warm-up of 200.
 *
 * The workers run in WEFT_DIST_COROUTINES mode with its default concurrency (1,000 tasks at
 * once per worker), default heartbeats. Measured here (20,000 tasks): THREADS with its default
 * concurrency (the number of CPUs, 2) gave ~3,500 tasks/s, THREADS with 64 ~20,000,
 * COROUTINES ~24,000: a worker takes as many tasks per fetch as it has free slots, so the
 * figure follows the concurrency, and coroutines make a large one cheap. The latency is the
 * same in both modes within noise. Peers: Celery and RQ (peers/dist_celery_py.py,
 * peers/dist_rq_py.py).
 *
 * Usage: weft_dist [n [m [coroutines|threads [concurrency]]]]
 *        (defaults 100,000; 2,000; coroutines; 0 = the mode's default)
 *        weft_dist worker URL MODE CONCURRENCY NAME [LOGFILE]    (a worker, until SIGTERM)
 *        weft_dist kill-client URL N     (for bench/dist_kill_table.py: submits N tasks
 *                                         "sleep20", prints "R <i> <realtime ns> <rc>" per
 *                                         result as it arrives)
 */
#include "bench.h"

#include <weft/dist.h>

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* ---- the worker's side -------------------------------------------------------------------- */

static int log_fd = -1;

static int identity(const void *arg, size_t len, void **out, size_t *out_len)
{
    void *r = malloc(len ? len : 1);
    if (!r) return -ENOMEM;
    memcpy(r, arg, len);
    *out = r;
    *out_len = len;
    return 0;
}

static long long realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void log_line(char kind, const void *arg, size_t len)
{
    if (log_fd < 0) return;
    int64_t v = 0;
    if (len == sizeof v) memcpy(&v, arg, sizeof v);
    char line[96];
    int k = snprintf(line, sizeof line, "%c %lld %ld %lld\n", kind, (long long)v,
                     (long)getpid(), realtime_ns());
    ssize_t w = write(log_fd, line, (size_t)k);     /* O_APPEND: one line per write */
    (void)w;
}

/* The kill table's task: logs its start and end (S/E <arg> <pid> <realtime ns>) and sleeps
 * 20 ms in between. */
static int sleep20(const void *arg, size_t len, void **out, size_t *out_len)
{
    log_line('S', arg, len);
    weft_sleep(20 * WEFT_MS);
    log_line('E', arg, len);
    return identity(arg, len, out, out_len);
}

static int worker_main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: weft_dist worker URL MODE CONCURRENCY NAME [LOGFILE]\n");
        return 2;
    }
    weft_dist_worker_opts o = WEFT_DIST_WORKER_OPTS_INIT;
    o.mode = strcmp(argv[3], "coroutines") == 0 ? WEFT_DIST_COROUTINES
             : strcmp(argv[3], "processes") == 0 ? WEFT_DIST_PROCESSES : WEFT_DIST_THREADS;
    o.concurrency = atoi(argv[4]);
    o.name = argv[5];
    if (argc > 6) log_fd = open(argv[6], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    weft_dist_worker *w;
    BENCH_CHECK(weft_dist_worker_create(&w, argv[2], &o));
    BENCH_CHECK(weft_dist_worker_register(w, "identity", identity));
    BENCH_CHECK(weft_dist_worker_register(w, "sleep20", sleep20));
    printf("ready\n");
    fflush(stdout);
    int rc = weft_dist_worker_run_until_signalled(w);
    weft_dist_worker_destroy(w);
    return rc ? 1 : 0;
}

/* ---- the client's side -------------------------------------------------------------------- */

static int64_t result_int(weft_future *f)
{
    const void *d;
    size_t len;
    const char *msg;
    int rc = weft_dist_result(f, 60 * WEFT_SEC, &d, &len, &msg);
    int64_t v;
    if (rc != 0 || len != sizeof v) {
        fprintf(stderr, "weft_dist: task failed: %s %s\n", weft_strerror(rc), msg ? msg : "");
        exit(1);
    }
    memcpy(&v, d, sizeof v);
    return v;
}

static void throughput_run(weft_dist_client *c, long n, weft_future **f)
{
    for (long i = 0; i < n; i++) {
        int64_t v = i;
        BENCH_CHECK(weft_dist_submit(c, &f[i], "identity", &v, sizeof v, NULL));
    }
    for (long i = 0; i < n; i++) {
        if (result_int(f[i]) != i) { fprintf(stderr, "wrong result\n"); exit(1); }
        weft_future_release(f[i]);
    }
}

static double roundtrip_us(weft_dist_client *c, int64_t v)
{
    int64_t t0 = weft_now();
    weft_future *f;
    BENCH_CHECK(weft_dist_submit(c, &f, "identity", &v, sizeof v, NULL));
    if (result_int(f) != v) { fprintf(stderr, "wrong result\n"); exit(1); }
    weft_future_release(f);
    return (double)(weft_now() - t0) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* kill-client: N tasks sleep20 (attempts 3: a takeover counts one), results as they come. */
static int kill_client_main(const char *url, long n)
{
    weft_dist_client *c;
    BENCH_CHECK(weft_dist_client_create(&c, url, NULL));
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.attempts = 3;
    weft_future **f = calloc((size_t)n, sizeof *f);
    for (long i = 0; i < n; i++) {
        int64_t v = i;
        BENCH_CHECK(weft_dist_submit(c, &f[i], "sleep20", &v, sizeof v, &o));
    }
    printf("submitted %ld\n", n);
    fflush(stdout);
    weft_as_completed *it;
    BENCH_CHECK(weft_as_completed_create(&it, f, (size_t)n, WEFT_FOREVER));
    weft_future *done;
    while (weft_as_completed_next(it, &done) == 0) {
        const void *d;
        size_t len;
        const char *msg;
        int rc = weft_dist_result(done, 0, &d, &len, &msg);
        int64_t v = -1;
        if (rc == 0 && len == sizeof v) memcpy(&v, d, sizeof v);
        else for (long i = 0; i < n; i++) if (f[i] == done) v = i;
        printf("R %lld %lld %d\n", (long long)v, realtime_ns(), rc);
        fflush(stdout);
    }
    weft_as_completed_destroy(it);
    for (long i = 0; i < n; i++) weft_future_release(f[i]);
    weft_dist_client_destroy(c);
    free(f);
    return 0;
}

static int start_process(weft_subprocess **p, const char *const argv[], bool wait_ready)
{
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = wait_ready ? WEFT_STDIO_PIPE : WEFT_STDIO_DEVNULL;
    int rc = weft_subprocess_start(p, argv, &o);
    if (rc || !wait_ready) return rc;
    const char *line;
    return weft_stream_readline(weft_subprocess_stdout(*p), &line, 30 * WEFT_SEC) > 0 ? 0
                                                                                        : -EIO;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "worker") == 0) return worker_main(argc, argv);
    if (argc == 4 && strcmp(argv[1], "kill-client") == 0)
        return kill_client_main(argv[2], atol(argv[3]));
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        printf("SKIP redis-server-not-installed\n");
        return 0;
    }
    long n = bench_count(argc, argv, 100000);
    long m = argc > 2 ? atol(argv[2]) : 2000;
    const char *mode = argc > 3 ? argv[3] : "coroutines";
    const char *conc = argc > 4 ? argv[4] : "0";

    char dir[] = "/tmp/weft-bench-dist-XXXXXX", sock[80], url[96];
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(url, sizeof url, "unix://%s", sock);
    const char *redis_argv[] = { "/usr/bin/redis-server", "--port", "0", "--unixsocket", sock,
                                 "--dir", dir, "--save", "", "--appendonly", "no",
                                 "--daemonize", "no", NULL };
    weft_subprocess *redis;
    BENCH_CHECK(start_process(&redis, redis_argv, false));
    weft_dist_client *c = NULL;
    for (int i = 0; i < 500 && !c; i++)
        if (weft_dist_client_create(&c, url, NULL) != 0) weft_sleep(20 * WEFT_MS);
    if (!c) { fprintf(stderr, "weft_dist: redis-server did not answer\n"); return 1; }
    weft_subprocess *workers[2];
    for (int i = 0; i < 2; i++) {
        const char *wargv[] = { "/proc/self/exe", "worker", url, mode, conc,
                                i ? "bench-b" : "bench-a", NULL };
        BENCH_CHECK(start_process(&workers[i], wargv, true));
    }

    weft_future **f = malloc(sizeof *f * (size_t)(n > 2000 ? n : 2000));
    throughput_run(c, 2000, f);
    int64_t t0 = weft_now();
    throughput_run(c, n, f);
    bench_result("dist-throughput", (double)n / ((double)(weft_now() - t0) / 1e9));
    free(f);

    for (int i = 0; i < 200; i++) roundtrip_us(c, i);
    double *lat = malloc(sizeof *lat * (size_t)m);
    for (long i = 0; i < m; i++) lat[i] = roundtrip_us(c, i);
    qsort(lat, (size_t)m, sizeof *lat, cmp_double);
    bench_result("dist-latency-p50", lat[m / 2]);
    bench_result("dist-latency-p99", lat[(size_t)((double)m * 0.99)]);
    free(lat);

    weft_dist_client_destroy(c);
    for (int i = 0; i < 2; i++) weft_subprocess_terminate(workers[i]);   /* warm stops */
    for (int i = 0; i < 2; i++) {
        weft_subprocess_wait(workers[i], 30 * WEFT_SEC, NULL);
        weft_subprocess_destroy(workers[i]);
    }
    weft_subprocess_destroy(redis);              /* killed and reaped */
    unlink(sock);
    rmdir(dir);
    return 0;
}
