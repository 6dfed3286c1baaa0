/* examples/dist_tasks.c — seed scenario 14: tasks spread over worker processes through Redis
 * (what Python programmers do with RQ or Celery), and a worker killed in the middle.
 *
 *     # RQ                                    weft
 *     q = Queue(connection=Redis())           weft_dist_client_create(&c, url, NULL)
 *     job = q.enqueue(square, 7)              weft_dist_submit(c, &f, "square", &v, 8, &o)
 *     job.result                              weft_dist_result(f, timeout, &data, &len, &msg)
 *     $ rq worker                             weft_dist_worker_run(w)
 *
 * The program plays every part: it starts a redis-server of its own (a Unix socket in a
 * temporary directory), starts two workers — itself again, run as `dist_tasks worker URL
 * NAME` — submits 200 tasks of 20 ms each, and kills one worker with SIGKILL once 40 results
 * are in. The dead worker's heartbeat stops; a second later the other worker takes over the
 * tasks it held and runs them again. Every future still gets its result, exactly once: the
 * program checks the sum of all results and prints how long the takeover took.
 *
 * Needs redis-server (Debian's redis-server package, which `make` installs); without it
 * the program says so and exits 77 (a skipped test).
 */
#include <weft.h>
#include <weft/dist.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TASKS = 200, KILL_AFTER = 40 };

/* ---- the worker's side -------------------------------------------------------------------- */

/* The task: 20 ms of "work", then the square of its int64 argument. */
static int square(const void *arg, size_t len, void **out, size_t *out_len)
{
    int64_t v;
    if (len != sizeof v) return -EINVAL;
    memcpy(&v, arg, sizeof v);
    weft_sleep(20 * WEFT_MS);                    /* a coroutine worker: it parks */
    int64_t *r = malloc(sizeof *r);
    if (!r) return -ENOMEM;
    *r = v * v;
    *out = r;
    *out_len = sizeof *r;
    return 0;
}

static int worker_main(const char *url, const char *name)
{
    weft_dist_worker_opts o = WEFT_DIST_WORKER_OPTS_INIT;
    o.name = name;
    o.mode = WEFT_DIST_COROUTINES;
    o.concurrency = 16;
    o.heartbeat = 200 * WEFT_MS;                 /* dead after 1 s of silence */
    o.heartbeat_ttl = WEFT_SEC;
    weft_dist_worker *w;
    int rc = weft_dist_worker_create(&w, url, &o);
    if (!rc) rc = weft_dist_worker_register(w, "square", square);
    printf("ready\n");
    fflush(stdout);
    if (!rc) rc = weft_dist_worker_run_until_signalled(w);   /* SIGTERM: a warm stop */
    weft_dist_worker_destroy(w);
    return rc ? 1 : 0;
}

/* ---- the submitter's side ------------------------------------------------------------------- */

static int start_process(weft_subprocess **p, const char *const argv[], bool wait_ready)
{
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = wait_ready ? WEFT_STDIO_PIPE : WEFT_STDIO_DEVNULL;
    if (!wait_ready) o.stderr_mode = WEFT_STDIO_DEVNULL;   /* (the server's chatter) */
    int rc = weft_subprocess_start(p, argv, &o);
    if (rc || !wait_ready) return rc;
    const char *line;
    if (weft_stream_readline(weft_subprocess_stdout(*p), &line, 30 * WEFT_SEC) > 0) return 0;
    weft_subprocess_destroy(*p);                 /* it never became ready: killed, reaped */
    return -EIO;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "worker") == 0) return worker_main(argv[2], argv[3]);
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        printf("skipped: this example needs redis-server (apt-get install redis-server)\n");
        return 77;
    }
    /* A redis-server of our own. */
    char dir[] = "/tmp/weft-dist-XXXXXX", sock[64], url[80];
    if (!mkdtemp(dir)) return 1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(url, sizeof url, "unix://%s", sock);
    const char *redis_argv[] = { "/usr/bin/redis-server", "--port", "0", "--unixsocket", sock,
                                 "--dir", dir, "--save", "", "--daemonize", "no", NULL };
    weft_subprocess *redis;
    int rc = start_process(&redis, redis_argv, false);
    weft_dist_client *c = NULL;
    for (int i = 0; rc == 0 && i < 200 && !c; i++)          /* until it answers */
        if (weft_dist_client_create(&c, url, NULL) != 0) weft_sleep(20 * WEFT_MS);
    if (rc || !c) {
        fprintf(stderr, "dist_tasks: could not start redis-server\n");
        if (!rc) weft_subprocess_destroy(redis);  /* killed and reaped */
        return 1;
    }
    /* Two workers: this program again, in worker mode. */
    weft_subprocess *workers[2];
    for (int i = 0; i < 2; i++) {
        const char *wargv[] = { "/proc/self/exe", "worker", url, i ? "worker-b" : "worker-a",
                                NULL };
        if ((rc = start_process(&workers[i], wargv, true)) != 0) {
            fprintf(stderr, "dist_tasks: worker: %s\n", weft_strerror(rc));
            for (int k = 0; k < i; k++) weft_subprocess_destroy(workers[k]);
            weft_dist_client_destroy(c);
            weft_subprocess_destroy(redis);      /* nothing of ours outlives the program */
            return 1;
        }
    }
    printf("redis-server and 2 worker processes started; submitting %d tasks\n", TASKS);
    weft_dist_task_opts o = WEFT_DIST_TASK_OPTS_INIT;
    o.attempts = 3;                              /* a takeover counts as an attempt */
    weft_future *f[TASKS];
    for (int64_t i = 0; i < TASKS; i++)
        if ((rc = weft_dist_submit(c, &f[i], "square", &i, sizeof i, &o)) != 0) return 1;
    /* Kill worker-a with SIGKILL once KILL_AFTER results are in. */
    weft_as_completed *it;
    weft_as_completed_create(&it, f, TASKS, WEFT_FOREVER);
    int64_t killed_at = 0, sum = 0;
    int results = 0, errors = 0;
    weft_future *done;
    while (weft_as_completed_next(it, &done) == 0) {
        const void *data;
        size_t len;
        const char *msg;
        if (weft_dist_result(done, 0, &data, &len, &msg) == 0 && len == sizeof(int64_t)) {
            int64_t v;
            memcpy(&v, data, sizeof v);
            sum += v;
            results++;
        } else {
            errors++;
        }
        if (results == KILL_AFTER && !killed_at) {
            weft_subprocess_kill(workers[0]);
            killed_at = weft_now();
            printf("%d results in: worker-a killed with SIGKILL, tasks in its hands\n",
                   results);
        }
    }
    weft_as_completed_destroy(it);
    int64_t want = 0;
    for (int64_t i = 0; i < TASKS; i++) want += i * i;
    printf("all %d futures done %.2f s after the kill: %d results, %d errors, sum %lld "
           "(expected %lld)\n", TASKS, (double)(weft_now() - killed_at) / 1e9, results, errors,
           (long long)sum, (long long)want);
    for (int i = 0; i < TASKS; i++) weft_future_release(f[i]);
    weft_dist_client_destroy(c);
    weft_subprocess_terminate(workers[1]);      /* a warm stop */
    for (int i = 0; i < 2; i++) {
        weft_subprocess_wait(workers[i], 30 * WEFT_SEC, NULL);
        weft_subprocess_destroy(workers[i]);
    }
    weft_subprocess_destroy(redis);              /* killed and reaped */
    unlink(sock);
    rmdir(dir);
    bool ok = results == TASKS && errors == 0 && sum == want;
    printf(ok ? "every task's result arrived exactly once\n" : "FAILED\n");
    return ok ? 0 : 1;
}
