/* examples/hook_hiredis.c — hiredis's blocking API, cooperative in coroutines
 * (libweft_hook: docs/HOOKS.md).
 *
 * hiredis's redisCommand blocks its caller until the reply arrives. Linked with
 * libweft_hook, the read and poll underneath park the calling coroutine instead, so 100
 * coroutines on one thread can each sit in a blocking BLPOP at the same time:
 *
 *   1. 100 coroutines each run `BLPOP hook:<i> 5` on a connection of their own; a
 *      pusher coroutine pushes "value-<i>" to every list 100 ms later. All 100 answers
 *      come back together, after about 100 ms (one after the other, on one thread
 *      without the hooks: the first BLPOP would wait its whole 5 s for a push that the
 *      blocked thread could never make).
 *   2. A socket timeout (redisSetTimeout, SO_RCVTIMEO underneath) still works: a BLPOP on
 *      an empty list gives up after 100 ms with hiredis's I/O error, while a ticker
 *      coroutine keeps counting.
 *   3. A plain thread uses hiredis at the same moment, blocking itself only, as always.
 *
 * It starts a redis-server of its own on a Unix socket in a temporary directory. Exit 0
 * when every answer is right and phase 1 took well under a second; 77 (skipped) without
 * redis-server.
 */
#include <weft.h>
#include <weft/hook.h>

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 100

static char sock[96];
static int failures;

static void fail(const char *what, int i)
{
    fprintf(stderr, "hook_hiredis: %s (%d)\n", what, i);
    failures++;
}

static redisContext *connect_redis(void)
{
    redisContext *c = redisConnectUnix(sock);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    return c;
}

/* ---- phase 1: 100 blocking BLPOPs at once ----------------------------------------------- */

static redisContext *conns[N];

static int blpop(void *arg, void **result)
{
    (void)result;
    int i = (int)(intptr_t)arg;
    redisReply *r = redisCommand(conns[i], "BLPOP hook:%d 5", i);   /* blocks: parks */
    char want[32];
    snprintf(want, sizeof want, "value-%d", i);
    if (!r) fail(conns[i]->errstr, i);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
             strcmp(r->element[1]->str, want) != 0) {
        fprintf(stderr, "hook_hiredis: BLPOP hook:%d answered type %d \"%s\"\n", i,
                r->type, r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STRING ? r->str : "");
        fail("wrong BLPOP answer", i);
    }
    if (r) freeReplyObject(r);
    return 0;
}

static int pusher(void *arg, void **result)
{
    (void)arg; (void)result;
    redisContext *c = connect_redis();
    if (!c) { fail("pusher could not connect", 0); return 0; }
    usleep(100 * 1000);                          /* hooked too: the coroutine sleeps */
    for (int i = 0; i < N; i++) redisAppendCommand(c, "RPUSH hook:%d value-%d", i, i);
    for (int i = 0; i < N; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) { fail("RPUSH", i); break; }
        freeReplyObject(r);
    }
    redisFree(c);
    return 0;
}

/* ---- phase 2: a socket timeout, while a ticker counts -------------------------------------- */

static _Atomic bool ticking = true;
static _Atomic int ticks;

static int ticker(void *arg, void **result)
{
    (void)arg; (void)result;
    while (ticking && weft_sleep(WEFT_MS) == 0) ticks++;
    return 0;
}

/* ---- phase 3: a plain thread ---------------------------------------------------------------- */

static void *thread_client(void *arg)
{
    (void)arg;
    redisContext *c = connect_redis();
    if (!c) { fail("thread could not connect", 0); return NULL; }
    for (int i = 0; i < 100; i++) {
        redisReply *r = redisCommand(c, "INCR hook:thread");
        if (!r || r->type != REDIS_REPLY_INTEGER) fail("thread INCR", i);
        if (r) freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static int run(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < N; i++)
        if (!(conns[i] = connect_redis())) { fail("connect", i); return 1; }
    pthread_t th;
    if (pthread_create(&th, NULL, thread_client, NULL) != 0) return 1;

    weft_future *f[N + 1];
    int64_t t0 = weft_now();
    for (int i = 0; i < N; i++) weft_spawn(&f[i], blpop, (void *)(intptr_t)i);
    weft_spawn(&f[N], pusher, NULL);
    for (int i = 0; i <= N; i++) {
        weft_future_result(f[i], WEFT_FOREVER, NULL);
        weft_future_release(f[i]);
    }
    double secs = (double)(weft_now() - t0) / WEFT_SEC;
    printf("%d blocking BLPOPs in %d coroutines on one thread, answered after 100 ms: "
           "%.3f s in all (one at a time: over %d s)\n", N, N, secs, N / 10);
    if (secs >= 1.0) fail("phase 1 took a second or more", 0);

    weft_future *tk;
    weft_spawn(&tk, ticker, NULL);
    struct timeval tv = { 0, 100 * 1000 };
    redisSetTimeout(conns[0], tv);
    t0 = weft_now();
    redisReply *r = redisCommand(conns[0], "BLPOP hook:empty 5");
    double waited = (double)(weft_now() - t0) / WEFT_MS;
    ticking = false;
    weft_future_result(tk, WEFT_FOREVER, NULL);
    weft_future_release(tk);
    printf("BLPOP with a 100 ms socket timeout: %s after %.0f ms (\"%s\"); a ticker "
           "coroutine counted %d turns meanwhile\n", r ? "an answer" : "gave up", waited,
           conns[0]->errstr, ticks);
    if (r) { fail("the timed-out BLPOP answered", 0); freeReplyObject(r); }
    if (waited < 80 || waited > 3000) fail("the socket timeout was not ~100 ms", (int)waited);
    if (ticks < 20) fail("the thread was blocked during the timeout", ticks);

    pthread_join(th, NULL);
    for (int i = 0; i < N; i++) redisFree(conns[i]);
    printf("a plain thread ran 100 INCRs meanwhile, blocking only itself\n");
    return 0;
}

int main(void)
{
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        printf("skipped: this example needs redis-server (apt-get install redis-server)\n");
        return 77;
    }
    char dir[] = "/tmp/weft-hook-redis-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    /* Through setpriv --pdeathsig (util-linux): the server is killed if this example dies
     * first (a test's timeout), instead of running on. */
    const char *argv[] = { "/usr/bin/setpriv", "--pdeathsig", "KILL",
                           "/usr/bin/redis-server", "--port", "0", "--unixsocket", sock,
                           "--dir", dir, "--save", "", "--appendonly", "no", NULL };
    const char *const *args = access(argv[0], X_OK) == 0 ? argv : argv + 3;
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_DEVNULL;
    o.stderr_mode = WEFT_STDIO_DEVNULL;
    weft_subprocess *server;
    if (weft_subprocess_start(&server, args, &o) != 0) {
        fprintf(stderr, "hook_hiredis: could not start redis-server\n");
        return 1;
    }
    redisContext *probe = NULL;
    for (int i = 0; i < 250 && !probe; i++)                 /* until it answers (5 s) */
        if (!(probe = connect_redis())) usleep(20 * 1000);
    int rc = 1;
    if (probe) {
        redisFree(probe);
        rc = weft_run(run, NULL, NULL) == 0 && failures == 0 ? 0 : 1;
    } else {
        fprintf(stderr, "hook_hiredis: redis-server did not answer\n");
    }
    weft_subprocess_destroy(server);                         /* killed and reaped */
    char path[160];
    snprintf(path, sizeof path, "%s/redis.sock", dir);
    unlink(path);
    rmdir(dir);
    printf(rc == 0 ? "hook_hiredis: ok\n" : "hook_hiredis: FAILED\n");
    return rc;
}
