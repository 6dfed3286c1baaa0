/* Redis-distributed tasks (weft/dist.h) against a redis-server of the test's own: results
 * as futures from threads and coroutines; a task's error and its message; an unknown task
 * name; retries with back-off; a delayed task; an idempotency key; a cancel before the task
 * is taken (it never runs); 10 MB argument and result; the three worker modes (a hung task
 * killed at its timeout, a crashing task, in processes); bad arguments; inspection; and
 * the faults: worker processes killed with kill -9 during a run (every result arrives
 * exactly once, the killed worker's tasks are taken over), the server killed and restarted
 * with its append-only file (nothing accepted is lost; clients and workers reconnect),
 * 100,000 tasks queued before any worker, a worker's warm stop (SIGTERM: its tasks finish)
 * and cold stop (twice: its tasks go back to the queue). */
#include "check.h"
#include "dist_tasks.h"
#include "redis_server.h"

#include <sys/stat.h>

static redis_server rs;

/* ---- a worker in a thread of the test -------------------------------------------------- */

typedef struct {
    weft_dist_worker *w;
    weft_thread *t;
} local_worker;

static int worker_thread(void *arg, void **result)
{
    (void)result;
    return weft_dist_worker_run(arg);
}

static void local_start(local_worker *lw, const char *queue, int mode, int concurrency)
{
    weft_dist_worker_opts o = WEFT_DIST_WORKER_OPTS_INIT;
    o.queue = queue;
    o.mode = mode;
    o.concurrency = concurrency;
    o.heartbeat = 200 * WEFT_MS;
    o.heartbeat_ttl = WEFT_SEC;
    CHECK_OK(weft_dist_worker_create(&lw->w, rs.url, &o));
    CHECK_OK(dist_register_all(lw->w));
    CHECK_OK(weft_thread_start(&lw->t, NULL, worker_thread, lw->w));
}

static void local_stop(local_worker *lw)
{
    CHECK_OK(weft_dist_worker_stop(lw->w, false));
    void *r;
    CHECK_OK(weft_thread_join(lw->t, 60 * WEFT_SEC, &r));
    weft_thread_release(lw->t);
    weft_dist_worker_destroy(lw->w);
}

static weft_future *submit_int(weft_dist_client *c, const char *name, int64_t v,
                               const weft_dist_task_opts *o)
{
    weft_future *f;
    CHECK_OK(weft_dist_submit(c, &f, name, &v, sizeof v, o));
    return f;
}

static int64_t result_int(weft_future *f)
{
    const void *d;
    size_t n;
    CHECK_OK(weft_dist_result(f, 60 * WEFT_SEC, &d, &n, NULL));
    CHECK_EQ(n, sizeof(int64_t));
    int64_t v;
    memcpy(&v, d, sizeof v);
    return v;
}

static int result_rc(weft_future *f, const char **msg)
{
    return weft_dist_result(f, 60 * WEFT_SEC, NULL, NULL, msg);
}

/* ---- the calls -------------------------------------------------------------------------- */

static void test_roundtrip(void)
{
    local_worker lw;
    local_start(&lw, "rt", WEFT_DIST_THREADS, 4);
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "rt";
    enum { N = 500 };
    weft_future *f[N];
    for (int i = 0; i < N; i++) f[i] = submit_int(c, "square", i, &o);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(result_int(f[i]), (int64_t)i * i);
        weft_future_release(f[i]);
    }
    /* A task's error, with its message; an unknown name. */
    const char *msg;
    weft_future *e = submit_int(c, "fail", 0, &o);
    CHECK_RC(result_rc(e, &msg), -EDOM);
    CHECK(strcmp(msg, "EDOM") == 0);
    weft_future_release(e);
    e = submit_int(c, "no_such_task", 0, &o);
    CHECK_RC(result_rc(e, &msg), WEFT_ENOTASK);
    weft_future_release(e);
    /* Retries: flaky fails twice, the third attempt succeeds. */
    weft_dist_task_opts ro = o;
    ro.attempts = 3;
    ro.backoff = 20 * WEFT_MS;
    e = submit_int(c, "flaky", 5, &ro);
    CHECK_EQ(result_int(e), 25);
    weft_future_release(e);
    /* Failing on every attempt: the last error, and a dead letter. */
    e = submit_int(c, "fail", 0, &ro);
    CHECK_RC(result_rc(e, NULL), -EDOM);
    weft_future_release(e);
    /* A delay. */
    weft_dist_task_opts dl = o;
    dl.delay = 300 * WEFT_MS;
    int64_t t0 = weft_now();
    e = submit_int(c, "square", 3, &dl);
    CHECK_EQ(result_int(e), 9);
    CHECK(weft_now() - t0 >= 250 * WEFT_MS);
    weft_future_release(e);
    /* An idempotency key: the second submit is the first task. */
    weft_dist_task_opts ik = o;
    char key[64];
    snprintf(key, sizeof key, "k-%lld", (long long)weft_now());
    ik.idempotency_key = key;
    weft_future *a = submit_int(c, "square", 6, &ik);
    CHECK_EQ(result_int(a), 36);
    weft_future *b = submit_int(c, "square", 7, &ik);   /* not run: the first's outcome */
    CHECK_EQ(result_int(b), 36);
    weft_future_release(a);
    weft_future_release(b);
    /* Cancel before it is taken: it never runs. */
    weft_dist_task_opts later = o;
    later.delay = 400 * WEFT_MS;
    e = submit_int(c, "square", 8, &later);
    unsigned long done0 = weft_dist_worker_done(lw.w);
    CHECK_OK(weft_future_cancel(e));
    CHECK_RC(result_rc(e, NULL), -ECANCELED);
    CHECK(weft_future_cancelled(e));
    weft_sleep(600 * WEFT_MS);                   /* past its time: still nothing ran */
    CHECK_EQ(weft_dist_worker_done(lw.w), done0);
    CHECK_RC(weft_future_cancel(e), -EBUSY);
    weft_future_release(e);
    /* An argument is bytes: no NUL at its end is read past (ASan would see it). */
    char *three = malloc(3);
    memcpy(three, "a\0b", 3);
    CHECK_OK(weft_dist_submit(c, &e, "echo", three, 3, &o));
    const void *d3;
    size_t n3;
    CHECK_OK(weft_dist_result(e, 60 * WEFT_SEC, &d3, &n3, NULL));
    CHECK_EQ(n3, 3);
    CHECK(memcmp(d3, "a\0b", 3) == 0);
    weft_future_release(e);
    free(three);
    /* One client repeating its own idempotency key: both futures complete at once. */
    weft_dist_task_opts ik2 = o;
    char key2[64];
    snprintf(key2, sizeof key2, "k2-%lld", (long long)weft_now());
    ik2.idempotency_key = key2;
    weft_future *g1 = submit_int(c, "sleep_ms", 300, &ik2);
    weft_future *g2 = submit_int(c, "sleep_ms", 300, &ik2);
    t0 = weft_now();
    CHECK_EQ(result_int(g1), 90000);
    CHECK_EQ(result_int(g2), 90000);
    CHECK(strcmp(weft_dist_task_id(g1), weft_dist_task_id(g2)) == 0);
    printf("  both futures of one idempotent task done %.0f ms after the submits\n",
           (double)(weft_now() - t0) / 1e6);
    weft_future_release(g1);
    weft_future_release(g2);
    /* 10 MB in, 10 MB out. */
    size_t big = 10u << 20;
    char *arg = malloc(big);
    for (size_t i = 0; i < big; i++) arg[i] = (char)(i * 7 + 3);
    CHECK_OK(weft_dist_submit(c, &e, "echo", arg, big, &o));
    const void *d;
    size_t n;
    CHECK_OK(weft_dist_result(e, 60 * WEFT_SEC, &d, &n, NULL));
    CHECK_EQ(n, big);
    CHECK(memcmp(d, arg, big) == 0);
    weft_future_release(e);
    free(arg);
    /* Malformed entries in the queue (no id; an id with no record): dead-lettered as
     * EBADTASK, and the worker goes on. */
    weft_redis *raw;
    CHECK_OK(weft_redis_connect(&raw, rs.url, NULL));
    weft_redis_reply *rep;
    CHECK_OK(weft_redis_callf(raw, &rep, 5 * WEFT_SEC, "LLEN weft:dead:rt"));
    long long dead0 = rep->integer;
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(raw, &rep, 5 * WEFT_SEC, "XADD weft:q:rt * junk 1"));
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(raw, &rep, 5 * WEFT_SEC, "XADD weft:q:rt * id no-such-task"));
    weft_redis_reply_free(rep);
    e = submit_int(c, "square", 11, &o);
    CHECK_EQ(result_int(e), 121);
    weft_future_release(e);
    long long dead1 = dead0;
    t0 = weft_now();
    while (dead1 < dead0 + 2 && weft_now() - t0 < 10 * WEFT_SEC) {
        CHECK_OK(weft_redis_callf(raw, &rep, 5 * WEFT_SEC, "LLEN weft:dead:rt"));
        dead1 = rep->integer;
        weft_redis_reply_free(rep);
        weft_sleep(10 * WEFT_MS);
    }
    CHECK_EQ(dead1, dead0 + 2);
    CHECK_OK(weft_redis_callf(raw, &rep, 5 * WEFT_SEC, "HGET weft:r:no-such-task rc"));
    CHECK(rep->type == WEFT_REDIS_STRING && atoi(rep->str) == WEFT_EBADTASK);
    weft_redis_reply_free(rep);
    weft_redis_close(raw);
    /* Inspection: nothing left. */
    weft_dist_info info;
    CHECK_OK(weft_dist_inspect(rs.url, NULL, "rt", &info));
    CHECK_EQ(info.queued + info.running + info.delayed, 0);
    CHECK(info.dead >= 2);                       /* the two failures that used their attempts */
    bool seen = false;
    for (size_t i = 0; i < info.nworkers; i++) seen |= info.workers[i].alive;
    CHECK(seen);
    weft_dist_client_destroy(c);
    local_stop(&lw);
}

static void test_bad_arguments(void)
{
    weft_dist_client *c;
    CHECK_RC(weft_dist_client_create(NULL, rs.url, NULL), -EINVAL);
    CHECK_RC(weft_dist_client_create(&c, "nope://", NULL), -EINVAL);
    CHECK_RC(weft_dist_client_create(&c, "unix:///tmp/no-such-weft-redis.sock", NULL), -ENOENT);
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_future *f;
    int64_t v = 1;
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    CHECK_RC(weft_dist_submit(NULL, &f, "x", &v, sizeof v, NULL), -EINVAL);
    CHECK_RC(weft_dist_submit(c, NULL, "x", &v, sizeof v, NULL), -EINVAL);
    CHECK_RC(weft_dist_submit(c, &f, NULL, &v, sizeof v, NULL), -EINVAL);
    CHECK_RC(weft_dist_submit(c, &f, "", &v, sizeof v, NULL), -EINVAL);
    CHECK_RC(weft_dist_submit(c, &f, "x", NULL, 3, NULL), -EINVAL);
    o.attempts = -1;
    CHECK_RC(weft_dist_submit(c, &f, "x", &v, sizeof v, &o), -EINVAL);
    o = (weft_dist_task_opts)WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "";
    CHECK_RC(weft_dist_submit(c, &f, "x", &v, sizeof v, &o), -EINVAL);
    weft_future *plain;
    CHECK_OK(weft_future_create(&plain));
    CHECK_RC(weft_dist_result(plain, 0, NULL, NULL, NULL), -EINVAL);
    CHECK(weft_dist_task_id(plain) == NULL);
    weft_future_release(plain);
    /* A task nobody takes: its future waits; the wait's own timeout leaves it pending; the
     * client's end fails it with -ESHUTDOWN. */
    o = (weft_dist_task_opts)WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "nobody";
    CHECK_OK(weft_dist_submit(c, &f, "square", &v, sizeof v, &o));
    CHECK(weft_dist_task_id(f) != NULL);
    CHECK_RC(weft_dist_result(f, 50 * WEFT_MS, NULL, NULL, NULL), -ETIMEDOUT);
    CHECK(!weft_future_done(f));
    weft_dist_client_destroy(c);
    CHECK_RC(weft_future_result(f, 0, NULL), -ESHUTDOWN);
    weft_future_release(f);
    weft_dist_client_destroy(NULL);
    weft_dist_worker *w;
    weft_dist_worker_opts wo = WEFT_DIST_WORKER_OPTS_INIT;
    wo.mode = 7;
    CHECK_RC(weft_dist_worker_create(&w, rs.url, &wo), -EINVAL);
    wo = (weft_dist_worker_opts)WEFT_DIST_WORKER_OPTS_INIT;
    CHECK_OK(weft_dist_worker_create(&w, rs.url, &wo));
    CHECK_RC(weft_dist_worker_register(w, NULL, task_square), -EINVAL);
    CHECK_RC(weft_dist_worker_register(w, "a", NULL), -EINVAL);
    CHECK_OK(weft_dist_worker_register(w, "a", task_square));
    CHECK_RC(weft_dist_worker_register(w, "a", task_square), -EEXIST);
    CHECK_RC(weft_dist_worker_run(NULL), -EINVAL);
    CHECK_OK(weft_dist_worker_stop(w, false));    /* before the run: it ends at once */
    CHECK_OK(weft_dist_worker_run(w));
    CHECK_RC(weft_dist_worker_stop(NULL, false), -EINVAL);
    weft_dist_worker_destroy(w);
    weft_dist_worker_destroy(NULL);
    CHECK(strcmp(weft_errname(WEFT_ENOTASK), "ENOTASK") == 0);
    CHECK(strcmp(weft_errname(WEFT_ETASKLOST), "ETASKLOST") == 0);
}

/* Coroutine workers and a client used from coroutines; process workers: a hung task
 * killed at its timeout, a crashing task failing alone. */
static int coroutine_client(void *arg, void **result)
{
    (void)result;
    weft_dist_client *c = arg;
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "co";
    weft_future *f[50];
    for (int i = 0; i < 50; i++) f[i] = submit_int(c, "slow_square", i, &o);
    CHECK_EQ(weft_wait(f, 50, WEFT_ALL_COMPLETED, 60 * WEFT_SEC, NULL), 50);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(result_int(f[i]), (int64_t)i * i);
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_modes(void)
{
    local_worker co, pr;
    /* The process pool first: forked before the other worker's threads exist (gcc 12's
     * ASan allocator is not fork-safe: a child forked while a thread is in malloc hangs). */
    local_start(&pr, "pr", WEFT_DIST_PROCESSES, 2);
    local_start(&co, "co", WEFT_DIST_COROUTINES, 50);
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    int64_t t0 = weft_now();
    CHECK_OK(weft_run(coroutine_client, c, NULL));
    CHECK(weft_now() - t0 < 30 * WEFT_SEC);      /* 50 at once, not one after the other */
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "pr";
    o.timeout = 300 * WEFT_MS;
    weft_future *hang = submit_int(c, "hang", 0, &o);
    weft_future *crash = submit_int(c, "crash", 0, &o);
    weft_future *ok = submit_int(c, "square", 12, &o);
    CHECK_RC(result_rc(hang, NULL), -ETIMEDOUT);
    CHECK_RC(result_rc(crash, NULL), WEFT_EWORKERDIED);
    CHECK_EQ(result_int(ok), 144);
    weft_future_release(hang);
    weft_future_release(crash);
    weft_future_release(ok);
    weft_dist_client_destroy(c);
    local_stop(&pr);
    local_stop(&co);
}

/* ---- faults ------------------------------------------------------------------------------ */

typedef struct {
    weft_subprocess *p;
    char log[128];
} proc_worker;

static void proc_start(proc_worker *pw, const char *queue, const char *mode, const char *name,
                       int concurrency)
{
    char conc[16];
    snprintf(conc, sizeof conc, "%d", concurrency);
    snprintf(pw->log, sizeof pw->log, "%s/%s.log", rs.dir, name);
    const char *argv[] = { DIST_WORKER, rs.url, queue, mode, conc, name, pw->log, NULL };
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_PIPE;
    CHECK_OK(weft_subprocess_start(&pw->p, argv, &o));
    const char *line;
    CHECK(weft_stream_readline(weft_subprocess_stdout(pw->p), &line, 30 * WEFT_SEC) > 0);
    CHECK(strncmp(line, "ready", 5) == 0);
}

/* Counts each value's runs in a worker's log. */
static void count_runs(const char *path, int *runs, int n)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    long long v;
    while (fscanf(fp, "%lld", &v) == 1)
        if (v >= 0 && v < n) runs[v]++;
    fclose(fp);
}

/* CI runs 3 rounds of 1,000 tasks; WEFT_DIST_KILL_ROUNDS and WEFT_DIST_KILL_TASKS give the
 * issue's full run (20 rounds of 10,000), by hand. */
static int kill_rounds = 3, kill_tasks = 1000;

static void kill9_round(int round)
{
    char queue[32], na[32], nb[32];
    snprintf(queue, sizeof queue, "k9-%d", round);
    snprintf(na, sizeof na, "k9a-%d", round);
    snprintf(nb, sizeof nb, "k9b-%d", round);
    proc_worker a, b;
    proc_start(&a, queue, "threads", na, 8);
    proc_start(&b, queue, "threads", nb, 8);
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = queue;
    o.attempts = 3;                              /* a takeover counts one */
    const int N = kill_tasks;
    weft_future **f = calloc((size_t)N, sizeof *f);
    for (int i = 0; i < N; i++) f[i] = submit_int(c, "slow_square", i, &o);
    /* Kill a worker with tasks in its hands, once a fifth of the results are in. */
    int got = 0;
    while (got < N / 5) {
        got = 0;
        for (int i = 0; i < N; i++) got += weft_future_done(f[i]);
        weft_sleep(5 * WEFT_MS);
    }
    CHECK_OK(weft_subprocess_kill(a.p));
    int64_t killed_at = weft_now();
    int64_t sum = 0, want = 0;
    for (int i = 0; i < N; i++) {
        int64_t v = result_int(f[i]);            /* exactly one outcome each: its result */
        CHECK_EQ(v, (int64_t)i * i);
        sum += v;
        want += (int64_t)i * i;
        weft_future_release(f[i]);
    }
    CHECK_EQ(sum, want);
    int64_t took = weft_now() - killed_at;
    free(f);
    /* Every task ran at least once; the killed worker's unfinished ones ran twice. */
    int *runs = calloc((size_t)N, sizeof *runs);
    count_runs(a.log, runs, N);
    count_runs(b.log, runs, N);
    int twice = 0;
    for (int i = 0; i < N; i++) {
        CHECK(runs[i] >= 1);
        twice += runs[i] > 1;
    }
    free(runs);
    printf("  round %d: %d tasks, %d finished twice (by the killed worker too), all results in %.2f s after "
           "it\n", round, N, twice, (double)took / 1e9);
    weft_dist_client_destroy(c);
    weft_subprocess_wait(a.p, WEFT_FOREVER, NULL);
    weft_subprocess_destroy(a.p);
    CHECK_OK(weft_subprocess_terminate(b.p));
    int code = -1;
    CHECK_OK(weft_subprocess_wait(b.p, 30 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_subprocess_destroy(b.p);
}

static void test_kill9(void)
{
    if (getenv("WEFT_DIST_KILL_ROUNDS")) kill_rounds = atoi(getenv("WEFT_DIST_KILL_ROUNDS"));
    if (getenv("WEFT_DIST_KILL_TASKS")) kill_tasks = atoi(getenv("WEFT_DIST_KILL_TASKS"));
    for (int round = 0; round < kill_rounds; round++) kill9_round(round);
}

/* The server killed with kill -9 and restarted (append-only file, fsync always): the tasks
 * it had accepted are all there; client and worker reconnect on their own. */
static void test_server_restart(void)
{
    redis_server aof;
    redis_server saved = rs;
    CHECK_OK(redis_start(&aof, true));
    rs = aof;
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "restart";
    enum { N = 300 };
    weft_future *f[N];
    for (int i = 0; i < N; i++) f[i] = submit_int(c, "square", i, &o);
    weft_dist_info info;
    int64_t t0 = weft_now();
    do {
        CHECK_OK(weft_dist_inspect(rs.url, NULL, "restart", &info));
    } while (info.queued < N && weft_now() - t0 < 30 * WEFT_SEC);
    CHECK_EQ(info.queued, N);                    /* accepted */
    CHECK_OK(redis_restart(&rs));                /* kill -9, then start on the same files */
    local_worker lw;
    local_start(&lw, "restart", WEFT_DIST_THREADS, 4);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(result_int(f[i]), (int64_t)i * i);
        weft_future_release(f[i]);
    }
    weft_dist_client_destroy(c);
    local_stop(&lw);
    redis_stop(&rs);                             /* the AOF server (rs is its handle now) */
    rs = saved;
}

/* 100,000 tasks queued before any worker starts (the count). */
static void test_many_queued(void)
{
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "many";
    enum { N = 100000 };
    weft_future **f = calloc(N, sizeof *f);
    int64_t s0 = weft_now();
    for (int i = 0; i < N; i++) f[i] = submit_int(c, "square", i, &o);
    weft_dist_info info;
    do CHECK_OK(weft_dist_inspect(rs.url, NULL, "many", &info));
    while (info.queued < N && weft_now() - s0 < 60 * WEFT_SEC);
    CHECK_EQ(info.queued, N);
    printf("  %d submits accepted in %.2f s\n", N, (double)(weft_now() - s0) / 1e9);
    local_worker lw;
    int64_t t0 = weft_now();
    local_start(&lw, "many", WEFT_DIST_COROUTINES, 200);
    int64_t sum = 0, want = 0;
    for (int i = 0; i < N; i++) {
        sum += result_int(f[i]);
        want += (int64_t)i * i;
        weft_future_release(f[i]);
    }
    CHECK_EQ(sum, want);
    printf("  %d tasks run and their results back in %.2f s\n", N,
           (double)(weft_now() - t0) / 1e9);
    free(f);
    weft_dist_client_destroy(c);
    local_stop(&lw);
}

/* SIGTERM: the worker finishes what it runs, takes nothing more, exits; twice: it stops
 * at once and its tasks go back to the queue. Another worker then runs what is left. */
static void test_warm_and_cold_stop(void)
{
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    for (int cold = 0; cold < 2; cold++) {
        char queue[16];
        snprintf(queue, sizeof queue, "stop-%d", cold);
        proc_worker pw;
        proc_start(&pw, queue, "processes", cold ? "cold" : "warm", 2);
        weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
        o.queue = queue;
        weft_future *f[8];
        /* Long enough for the second signal to find the tasks running (under TSan a
         * look at the queue takes a while). */
        const int ms = cold ? 2000 : 400;
        for (int i = 0; i < 8; i++) f[i] = submit_int(c, "sleep_ms", ms + i, &o);
        weft_dist_info info;
        int64_t t0 = weft_now();
        do {
            weft_sleep(20 * WEFT_MS);
            CHECK_OK(weft_dist_inspect(rs.url, NULL, queue, &info));
        } while (info.running < 2 && weft_now() - t0 < 30 * WEFT_SEC);
        CHECK_OK(weft_subprocess_terminate(pw.p));
        if (cold) {
            /* The second only once the first was taken: sent sooner, the two may merge
             * into one (pending in the kernel, or deferred by TSan). */
            const char *line;
            CHECK(weft_stream_readline(weft_subprocess_stdout(pw.p), &line, 30 * WEFT_SEC) > 0);
            CHECK(strncmp(line, "signal", 6) == 0);
            CHECK_OK(weft_subprocess_terminate(pw.p));
        }
        int code = -1;
        CHECK_OK(weft_subprocess_wait(pw.p, 30 * WEFT_SEC, &code));
        CHECK_EQ(code, 0);
        int done = 0;
        for (int i = 0; i < 8; i++) done += weft_future_done(f[i]);
        if (cold) CHECK_EQ(done, 0);             /* the two running went back */
        else CHECK_EQ(done, 2);                  /* the two running finished */
        CHECK_OK(weft_dist_inspect(rs.url, NULL, queue, &info));
        CHECK_EQ(info.queued, 8 - done);
        CHECK_EQ(info.running, 0);
        weft_subprocess_destroy(pw.p);
        local_worker lw;
        local_start(&lw, queue, WEFT_DIST_THREADS, 8);
        for (int i = 0; i < 8; i++) {
            CHECK_EQ(result_int(f[i]), (int64_t)(ms + i) * (ms + i));
            weft_future_release(f[i]);
        }
        local_stop(&lw);
    }
    weft_dist_client_destroy(c);
}

/* A worker killed and started again under the same name takes back its own tasks (they
 * stay pending under that name, and no other worker sees it dead). */
static void test_restart_same_name(void)
{
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    proc_worker pw;
    proc_start(&pw, "same", "threads", "same-name", 2);
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "same";
    weft_future *f = submit_int(c, "sleep_ms", 1500, &o);
    weft_dist_info info;
    int64_t t0 = weft_now();
    do {
        weft_sleep(20 * WEFT_MS);
        CHECK_OK(weft_dist_inspect(rs.url, NULL, "same", &info));
    } while (info.running < 1 && weft_now() - t0 < 30 * WEFT_SEC);
    CHECK_OK(weft_subprocess_kill(pw.p));
    weft_subprocess_wait(pw.p, WEFT_FOREVER, NULL);
    weft_subprocess_destroy(pw.p);
    proc_start(&pw, "same", "threads", "same-name", 2);
    CHECK_EQ(result_int(f), 1500 * 1500);
    weft_future_release(f);
    CHECK_OK(weft_subprocess_terminate(pw.p));
    weft_subprocess_wait(pw.p, 30 * WEFT_SEC, NULL);
    weft_subprocess_destroy(pw.p);
    weft_dist_client_destroy(c);
}

/* A cold stop while the fetcher's read brings tasks: the worker still ends, and the tasks
 * it took but did not begin are taken over by another worker. */
static void test_cold_stop_while_fetching(void)
{
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.queue = "coldfetch";
    for (int round = 0; round < 3; round++) {
        local_worker lw;
        local_start(&lw, "coldfetch", WEFT_DIST_THREADS, 4);
        weft_sleep(50 * WEFT_MS);                /* blocked in its read */
        weft_future *f[4];
        for (int i = 0; i < 4; i++) f[i] = submit_int(c, "sleep_ms", 100 + i, &o);
        CHECK_OK(weft_dist_worker_stop(lw.w, true));
        CHECK_OK(weft_thread_join(lw.t, 30 * WEFT_SEC, NULL));   /* it ends */
        weft_thread_release(lw.t);
        weft_dist_worker_destroy(lw.w);
        local_worker other;
        local_start(&other, "coldfetch", WEFT_DIST_THREADS, 4);
        for (int i = 0; i < 4; i++) {
            CHECK_EQ(result_int(f[i]), (int64_t)(100 + i) * (100 + i));
            weft_future_release(f[i]);
        }
        local_stop(&other);
    }
    weft_dist_client_destroy(c);
}

/* ---- issue 19: ACL users, malformed and oversized messages, limits ------------------------ */

/* Runs cmd (space-separated words, no quoting) on r: the reply's type. */
static int run_words(weft_redis *r, const char *cmd, weft_redis_reply **out)
{
    char *copy = strdup(cmd), *save = NULL;
    const char *argv[64];
    int argc = 0;
    for (char *w = strtok_r(copy, " ", &save); w && argc < 64; w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    int rc = weft_redis_call(r, out, 10 * WEFT_SEC, argc, argv, NULL);
    free(copy);
    return rc;
}

/* The ACL lines of docs/DIST.md, run as written there (the password placeholders filled
 * in): a worker and a client under those users run tasks (submit, result, failure and
 * dead letter, retry, delay and cancel, idempotency key, takeover's XPENDING); the client
 * user cannot read the queue, list keys or flush; a wrong password or unknown user fails
 * the connect with WEFT_EREDIS, a malformed URL with -EINVAL. The password has '@', ':',
 * '/' and '%' in it: percent-decoded from the URL. */
static void test_acl_users(void)
{
    FILE *doc = fopen(WEFT_SOURCE_ROOT "/docs/DIST.md", "r");
    CHECK(doc != NULL);
    weft_redis *admin;
    CHECK_OK(weft_redis_connect(&admin, rs.url, NULL));
    char line[4096];
    int users = 0;
    const char *pw = "p@ss:w/rd%";
    while (fgets(line, sizeof line, doc)) {
        if (strncmp(line, "ACL SETUSER weft-", 17) != 0) continue;
        line[strcspn(line, "\n")] = 0;
        char cmd[4200];
        const char *ph = strstr(line, "-PASSWORD");
        CHECK(ph != NULL);
        const char *gt = strchr(line, '>');
        CHECK(gt != NULL && gt < ph);
        snprintf(cmd, sizeof cmd, "%.*s%s%s", (int)(gt + 1 - line), line, pw,
                 ph + strlen("-PASSWORD"));
        weft_redis_reply *rep;
        CHECK_OK(run_words(admin, cmd, &rep));
        CHECK_EQ(rep->type, WEFT_REDIS_STATUS);
        weft_redis_reply_free(rep);
        users++;
    }
    fclose(doc);
    CHECK_EQ(users, 2);
    char wurl[256], curl[256];
    const char *enc = "p%40ss%3Aw%2Frd%25";
    snprintf(wurl, sizeof wurl, "unix://weft-worker:%s@%s", enc, rs.sock);
    snprintf(curl, sizeof curl, "unix://weft-client:%s@%s", enc, rs.sock);

    weft_dist_worker_opts o = WEFT_DIST_WORKER_OPTS_INIT;
    o.queue = "acl";
    o.heartbeat = 200 * WEFT_MS;
    o.heartbeat_ttl = WEFT_SEC;
    local_worker lw;
    CHECK_OK(weft_dist_worker_create(&lw.w, wurl, &o));
    CHECK_OK(dist_register_all(lw.w));
    CHECK_OK(weft_thread_start(&lw.t, NULL, worker_thread, lw.w));
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, curl, NULL));
    weft_dist_task_opts to = WEFT_DIST_TASK_OPTS_INIT;
    to.queue = "acl";
    weft_future *f = submit_int(c, "square", 12, &to);
    CHECK_EQ(result_int(f), 144);
    weft_future_release(f);
    to.attempts = 2;                             /* FINISH's retry, then its dead letter */
    f = submit_int(c, "fail", 1, &to);
    CHECK_RC(result_rc(f, NULL), -EDOM);
    weft_future_release(f);
    to.attempts = 1;
    to.idempotency_key = "acl-key";
    f = submit_int(c, "square", 3, &to);
    weft_future *g = submit_int(c, "square", 4, &to);
    CHECK_EQ(result_int(f), 9);
    CHECK_EQ(result_int(g), 9);
    weft_future_release(f);
    weft_future_release(g);
    to.idempotency_key = NULL;
    to.delay = 60 * WEFT_SEC;                    /* CANCEL */
    f = submit_int(c, "square", 5, &to);
    weft_sleep(100 * WEFT_MS);
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(result_rc(f, NULL), -ECANCELED);
    weft_future_release(f);
    to.delay = 100 * WEFT_MS;                    /* PROMOTE */
    f = submit_int(c, "square", 6, &to);
    CHECK_EQ(result_int(f), 36);
    weft_future_release(f);
    weft_dist_client_destroy(c);

    /* What the client user may not do. */
    weft_redis *cl;
    CHECK_OK(weft_redis_connect(&cl, curl, NULL));
    const char *denied[] = { "KEYS *", "SCAN 0", "FLUSHALL", "XRANGE weft:q:acl - +",
                             "LRANGE weft:dead:acl 0 -1", "CONFIG GET requirepass",
                             "EVAL return 1 0", "HGETALL weft:workers" };
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++) {
        weft_redis_reply *rep;
        CHECK_RC(run_words(cl, denied[i], &rep), WEFT_EREDIS);
        CHECK(strstr(rep->str, "NOPERM") != NULL);
        weft_redis_reply_free(rep);
    }
    weft_redis_close(cl);

    /* Inspection refused (NOPERM) is an error, not zero counts; an inspector user with
     * what DIST.md lists succeeds; a queue no worker has read counts zeros. */
    weft_dist_info info;
    info.queued = 77;
    CHECK_RC(weft_dist_inspect(curl, NULL, "acl", &info), WEFT_EREDIS);
    CHECK_EQ(info.queued + info.running + info.dead + (long)info.nworkers, 0);
    CHECK_RC(weft_dist_inspect(wurl, NULL, "acl", &info), WEFT_EREDIS);
    {
        weft_redis_reply *rep;
        CHECK_OK(run_words(admin, "ACL SETUSER weft-inspect on >ipw resetkeys resetchannels "
                                  "-@all +xlen +zcard +llen +xpending +hgetall +exists "
                                  "%R~weft:*", &rep));
        weft_redis_reply_free(rep);
    }
    char iurl[256];
    snprintf(iurl, sizeof iurl, "unix://weft-inspect:ipw@%s", rs.sock);
    CHECK_OK(weft_dist_inspect(iurl, NULL, "acl", &info));
    CHECK(info.dead >= 1);
    CHECK(info.nworkers >= 1);
    CHECK_OK(weft_dist_inspect(iurl, NULL, "acl-never-read", &info));
    CHECK_EQ(info.queued + info.running + info.delayed + info.dead, 0);

    /* Wrong passwords, unknown users, malformed URLs. */
    char bad[256];
    snprintf(bad, sizeof bad, "unix://weft-client:wrong@%s", rs.sock);
    CHECK_RC(weft_dist_client_create(&c, bad, NULL), WEFT_EREDIS);
    CHECK_RC(weft_redis_connect(&cl, bad, NULL), WEFT_EREDIS);
    snprintf(bad, sizeof bad, "unix://nobody:%s@%s", enc, rs.sock);
    CHECK_RC(weft_redis_connect(&cl, bad, NULL), WEFT_EREDIS);
    snprintf(bad, sizeof bad, "unix://weft-client:p@ss:w/rd%%@%s", rs.sock);  /* not encoded */
    CHECK(weft_redis_connect(&cl, bad, NULL) < 0);
    snprintf(bad, sizeof bad, "unix://weft-client:p%%4@%s", rs.sock);
    CHECK_RC(weft_redis_connect(&cl, bad, NULL), -EINVAL);
    snprintf(bad, sizeof bad, "unix://weft-client:p%%00x@%s", rs.sock);
    CHECK_RC(weft_redis_connect(&cl, bad, NULL), -EINVAL);
    snprintf(bad, sizeof bad, "unix://weft-worker:%s@%s", "wrong", rs.sock);
    weft_dist_worker *w2;
    CHECK_RC(weft_dist_worker_create(&w2, bad, &o), WEFT_EREDIS);
    local_stop(&lw);
    weft_redis_reply *rep;
    CHECK_OK(run_words(admin, "ACL DELUSER weft-worker weft-client weft-inspect", &rep));
    weft_redis_reply_free(rep);
    weft_redis_close(admin);
}

/* Polls until list key holds n entries (30 s at most): its length. */
static long wait_llen(weft_redis *r, const char *key, long n)
{
    long len = -1;
    for (int i = 0; i < 300; i++) {
        weft_redis_reply *rep;
        CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "LLEN %s", key));
        len = (long)rep->integer;
        weft_redis_reply_free(rep);
        if (len >= n) break;
        weft_sleep(100 * WEFT_MS);
    }
    return len;
}

static long long result_of(weft_redis *r, const char *id)
{
    weft_redis_reply *rep;
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "HGET weft:r:%s rc", id));
    long long rc = rep->type == WEFT_REDIS_STRING ? atoll(rep->str) : 1;
    weft_redis_reply_free(rep);
    return rc;
}

/* Writes a task record as a foreign submitter would, with the given fields (pairs after
 * the id), and queues it. */
static void put_record(weft_redis *r, const char *id, int nf, const char *const *fv,
                       const size_t *lens)
{
    const char *argv[40];
    size_t l[40];
    char key[160];
    snprintf(key, sizeof key, "weft:t:%s", id);
    argv[0] = "HSET";
    l[0] = 4;
    argv[1] = key;
    l[1] = strlen(key);
    for (int i = 0; i < nf; i++) {
        argv[2 + i] = fv[i];
        l[2 + i] = lens && lens[i] != (size_t)-1 ? lens[i] : strlen(fv[i]);
    }
    weft_redis_reply *rep;
    CHECK_OK(weft_redis_call(r, &rep, 10 * WEFT_SEC, 2 + nf, argv, l));
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XADD weft:q:mal * id %s", id));
    weft_redis_reply_free(rep);
}

/* Malformed and oversized messages pushed straight into Redis (as anyone with access to
 * it could): the worker survives, runs none of them, records each as WEFT_EBADTASK or
 * -EMSGSIZE and dead-letters it (malformed stream entries as malformed-<stream id>), and
 * a good task after them still runs. max_message is 1 MiB here; the oversized messages are
 * 10 times that. */
static void test_malformed_messages(void)
{
    weft_redis *r;
    CHECK_OK(weft_redis_connect(&r, rs.url, NULL));
    weft_dist_worker_opts o = WEFT_DIST_WORKER_OPTS_INIT;
    o.queue = "mal";
    o.heartbeat = 200 * WEFT_MS;
    o.heartbeat_ttl = 500 * WEFT_MS;
    o.max_message = 1 << 20;
    local_worker lw;
    CHECK_OK(weft_dist_worker_create(&lw.w, rs.url, &o));
    CHECK_OK(dist_register_all(lw.w));
    CHECK_OK(weft_thread_start(&lw.t, NULL, worker_thread, lw.w));
    size_t big = 10 << 20;
    char *huge = malloc(big);
    CHECK(huge != NULL);
    memset(huge, 'x', big);

    /* Bad task records: each should end as EBADTASK (or EMSGSIZE) under its id. */
    struct { const char *id; int nf; const char *fv[16]; size_t lens[16]; long long rc; } recs[] = {
        { "bad-version", 4, { "v", "2", "name", "square", "arg", "" }, { -1, -1, -1, -1 },
          WEFT_EBADTASK },
        { "bad-noname", 4, { "v", "1", "arg", "x" }, { -1, -1, -1, -1 }, WEFT_EBADTASK },
        { "bad-nul-name", 6, { "v", "1", "name", "square\0x", "arg", "" },
          { -1, -1, -1, 8, -1, -1 }, WEFT_EBADTASK },
        { "bad-timeout", 8, { "v", "1", "name", "square", "arg", "", "timeout", "-5" },
          { -1, -1, -1, -1, -1, -1, -1, -1 }, WEFT_EBADTASK },
        { "bad-timeout2", 8, { "v", "1", "name", "square", "arg", "", "timeout", "1e9" },
          { -1, -1, -1, -1, -1, -1, -1, -1 }, WEFT_EBADTASK },
        { "bad-attempt", 8, { "v", "1", "name", "square", "arg", "", "attempt", "many" },
          { -1, -1, -1, -1, -1, -1, -1, -1 }, WEFT_EBADTASK },
        { "bad-attempts", 10, { "v", "1", "name", "square", "arg", "", "attempts", "x",
                                 "ttl", "y" },
          { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 }, WEFT_EBADTASK },
        { "big-name", 4, { "v", "1", "name", huge, "arg", "" }, { -1, -1, -1, 300, -1, -1 },
          WEFT_EBADTASK },
        { "big-arg", 6, { "v", "1", "name", "square", "arg", huge },
          { -1, -1, -1, -1, -1, big }, -EMSGSIZE },
        /* A number field past the worker's limit: START's reply would be refused, and the
         * task retried for ever (the security review). */
        { "big-failures", 8, { "v", "1", "name", "square", "arg", "", "failures", huge },
          { -1, -1, -1, -1, -1, -1, -1, big }, WEFT_EBADTASK },
    };
    size_t nrec = sizeof recs / sizeof *recs;
    for (size_t i = 0; i < nrec; i++) {
        for (int k = 0; k < recs[i].nf; k++)
            if (recs[i].lens[k] == 0) recs[i].lens[k] = (size_t)-1;
        put_record(r, recs[i].id, recs[i].nf, recs[i].fv, recs[i].lens);
    }
    weft_redis_reply *rep;
    /* A record of the wrong type, an id with no record at all. */
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "SET weft:t:bad-type x"));
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XADD weft:q:mal * id bad-type"));
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XADD weft:q:mal * id mal-no-such-task"));
    weft_redis_reply_free(rep);
    size_t nids = nrec + 2;
    /* Malformed stream entries: no id, extra fields, an id too long, binary, huge. */
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    const char *entries[] = { "XADD weft:q:mal * foo bar", "XADD weft:q:mal * id x extra y",
                              NULL, NULL, NULL };
    int nent = 0;
    for (; entries[nent]; nent++) {
        CHECK_OK(run_words(r, entries[nent], &rep));
        weft_redis_reply_free(rep);
    }
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XADD weft:q:mal * id %s", longid));
    weft_redis_reply_free(rep);
    nent++;
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XADD weft:q:mal * id %b", "a\x01 b",
                              (size_t)4));
    weft_redis_reply_free(rep);
    nent++;
    CHECK_OK(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "XADD weft:q:mal * id fine pad %b",
                              huge, big));
    weft_redis_reply_free(rep);
    nent++;
    /* Every one dead-lettered, the worker alive. */
    long want = (long)(nids + (size_t)nent);
    if (wait_llen(r, "weft:dead:mal", want) != want) {
        /* What is there, for the report. */
        CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "LRANGE weft:dead:mal 0 -1"));
        for (size_t i = 0; i < rep->elements; i++) printf("  dead: %s\n", rep->element[i]->str);
        weft_redis_reply_free(rep);
        CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XPENDING weft:q:mal workers - + 100"));
        for (size_t i = 0; i < rep->elements; i++)
            printf("  pending: %s idle %lld delivered %lld\n", rep->element[i]->element[0]->str,
                   rep->element[i]->element[2]->integer, rep->element[i]->element[3]->integer);
        weft_redis_reply_free(rep);
        CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XLEN weft:q:mal"));
        printf("  stream length %lld\n", rep->integer);
        fflush(stdout);
        weft_redis_reply_free(rep);
        CHECK(false);
    }
    for (size_t i = 0; i < nrec; i++) CHECK_EQ(result_of(r, recs[i].id), recs[i].rc);
    CHECK_EQ(result_of(r, "bad-type"), WEFT_EBADTASK);
    CHECK_EQ(result_of(r, "mal-no-such-task"), WEFT_EBADTASK);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "LRANGE weft:dead:mal 0 -1"));
    int malformed = 0;
    for (size_t i = 0; i < rep->elements; i++)
        if (strncmp(rep->element[i]->str, "malformed-", 10) == 0) malformed++;
    CHECK_EQ(malformed, nent);
    weft_redis_reply_free(rep);
    /* Nothing left pending: every entry was acknowledged. */
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "XPENDING weft:q:mal workers"));
    CHECK_EQ(rep->element[0]->integer, 0);
    weft_redis_reply_free(rep);
    /* Still working. */
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, NULL));
    weft_dist_task_opts to = WEFT_DIST_TASK_OPTS_INIT;
    to.queue = "mal";
    weft_future *f = submit_int(c, "square", 9, &to);
    CHECK_EQ(result_int(f), 81);
    weft_future_release(f);
    /* 10 times the worker's limit from a client with the default: -EMSGSIZE, recorded. */
    CHECK_OK(weft_dist_submit(c, &f, "echo", huge, big, &to));
    const char *msg;
    CHECK_RC(result_rc(f, &msg), -EMSGSIZE);
    CHECK(strcmp(msg, "EMSGSIZE") == 0);
    weft_future_release(f);
    weft_dist_client_destroy(c);
    local_stop(&lw);
    free(huge);
    weft_redis_close(r);
}

/* max_message on the client's side: an argument 10 times the limit is refused at submit;
 * a result 10 times the limit is not read (-EMSGSIZE); a result over the worker's limit is
 * recorded as -EMSGSIZE. A reply over a connection's max_reply fails its command with
 * -EMSGSIZE and the connection goes on. Task ids are 128 random bits, not a counter. */
static void test_message_limits(void)
{
    local_worker lw;
    local_start(&lw, "lim", WEFT_DIST_COROUTINES, 4);
    weft_dist_client_opts co = WEFT_DIST_CLIENT_OPTS_INIT;
    co.max_message = 1 << 20;
    weft_dist_client *c;
    CHECK_OK(weft_dist_client_create(&c, rs.url, &co));
    size_t big = 10 << 20;
    char *huge = calloc(1, big);
    CHECK(huge != NULL);
    weft_dist_task_opts to = WEFT_DIST_TASK_OPTS_INIT;
    to.queue = "lim";
    weft_future *f;
    CHECK_RC(weft_dist_submit(c, &f, "echo", huge, big, &to), -EMSGSIZE);
    CHECK_OK(weft_dist_submit(c, &f, "echo", huge, co.max_message, &to));  /* at the limit */
    const void *d;
    size_t n;
    CHECK_OK(weft_dist_result(f, 60 * WEFT_SEC, &d, &n, NULL));
    CHECK_EQ(n, co.max_message);
    weft_future_release(f);
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_RC(weft_dist_submit(c, &f, longname, "", 0, &to), -EINVAL);
    /* A result 10 times the client's limit (the worker's is the default). */
    weft_dist_client *c2;
    CHECK_OK(weft_dist_client_create(&c2, rs.url, NULL));
    CHECK_OK(weft_dist_submit(c2, &f, "echo", huge, big, &to));
    const char *id = weft_dist_task_id(f);
    CHECK_OK(weft_dist_result(f, 60 * WEFT_SEC, &d, &n, NULL));
    CHECK_EQ(n, big);
    /* Ids: <16 hex>-<32 hex>, two of one client unrelated. */
    weft_future *g;
    CHECK_OK(weft_dist_submit(c2, &g, "square", "", 0, &to));
    const char *id2 = weft_dist_task_id(g);
    CHECK_EQ(strlen(id), 49);
    CHECK(strncmp(id, id2, 17) == 0 && strcmp(id + 17, id2 + 17) != 0);
    CHECK(strspn(id + 17, "0123456789abcdef") == 32);
    /* The same result read by the client with the 1 MiB limit: the connection's
     * max_reply says -EMSGSIZE, and it goes on. */
    weft_redis *r;
    weft_redis_opts ro = WEFT_REDIS_OPTS_INIT;
    ro.max_reply = 1 << 20;
    CHECK_OK(weft_redis_connect(&r, rs.url, &ro));
    weft_redis_reply *rep;
    CHECK_RC(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "HGET weft:r:%s data", id), -EMSGSIZE);
    CHECK(rep == NULL);
    CHECK_RC(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "HSTRLEN weft:r:%s data", id), 0);
    CHECK_EQ(rep->integer, (long long)big);
    weft_redis_reply_free(rep);
    weft_future_release(g);
    weft_future_release(f);
    weft_redis_close(r);
    weft_dist_client_destroy(c2);
    weft_dist_client_destroy(c);
    local_stop(&lw);
    free(huge);
}

int main(void)
{
    if (!redis_available()) {
        printf("skipped: no /usr/bin/redis-server (apt-get install redis-server)\n");
        return 77;
    }
    CHECK_OK(redis_start(&rs, false));
    RUN(test_roundtrip);
    RUN(test_bad_arguments);
    RUN(test_modes);
    RUN(test_kill9);
    RUN(test_server_restart);
    RUN(test_many_queued);
    RUN(test_warm_and_cold_stop);
    RUN(test_restart_same_name);
    RUN(test_cold_stop_while_fetching);
    RUN(test_acl_users);
    RUN(test_malformed_messages);
    RUN(test_message_limits);
    redis_stop(&rs);
    return check_done();
}
