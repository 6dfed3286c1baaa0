/* The Redis connection (weft/redis.h) against a redis-server of the test's own: commands
 * from threads and coroutines (the loop keeps running), binary-safe arguments, replies of
 * every type, error replies, pipelining from many contexts (order kept per caller), a
 * server that is down at connect, a server restarted under a live connection (reconnect;
 * commands in flight fail with -ECONNRESET, later ones succeed), a command that never gets
 * written (-ETIMEDOUT), cancel of a queued command, close with commands pending, bad URLs. */
#include "check.h"
#include "redis_server.h"

#include <weft/dist.h>

static redis_server rs;

static void test_basics(void)
{
    weft_redis *r;
    CHECK_OK(weft_redis_connect(&r, rs.url, NULL));
    CHECK(weft_redis_connected(r));
    weft_redis_reply *rep;
    const char bin[] = { 'a', 0, 'b', '\n', (char)0xff };
    const char *argv[3] = { "SET", "k:bin", bin };
    size_t lens[3] = { 3, 5, sizeof bin };
    CHECK_OK(weft_redis_call(r, &rep, 5 * WEFT_SEC, 3, argv, lens));
    CHECK_EQ(rep->type, WEFT_REDIS_STATUS);
    CHECK(strcmp(rep->str, "OK") == 0);
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "GET %s", "k:bin"));
    CHECK_EQ(rep->type, WEFT_REDIS_STRING);
    CHECK_EQ(rep->len, sizeof bin);
    CHECK(memcmp(rep->str, bin, sizeof bin) == 0);
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "GET %s", "k:none"));
    CHECK_EQ(rep->type, WEFT_REDIS_NIL);
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "RPUSH %s a %b c", "k:list", "bb", (size_t)2));
    CHECK_EQ(rep->type, WEFT_REDIS_INTEGER);
    CHECK_EQ(rep->integer, 3);
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "LRANGE %s 0 -1", "k:list"));
    CHECK_EQ(rep->type, WEFT_REDIS_ARRAY);
    CHECK_EQ(rep->elements, 3);
    CHECK(strcmp(rep->element[1]->str, "bb") == 0);
    weft_redis_reply_free(rep);
    /* An error reply: WEFT_EREDIS with the server's message. */
    CHECK_RC(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "INCR %s", "k:list"), WEFT_EREDIS);
    CHECK_EQ(rep->type, WEFT_REDIS_ERROR);
    CHECK(strstr(rep->str, "WRONGTYPE") != NULL);
    weft_redis_reply_free(rep);
    CHECK(strcmp(weft_errname(WEFT_EREDIS), "EREDIS") == 0);
    /* Through a future. */
    weft_future *f;
    const char *ping[1] = { "PING" };
    CHECK_OK(weft_redis_send(r, &f, 1, ping, NULL));
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    CHECK(strcmp(weft_redis_future_reply(f)->str, "PONG") == 0);
    weft_future_release(f);
    weft_redis_callf(r, &rep, 5 * WEFT_SEC, "DEL k:bin k:list");
    weft_redis_reply_free(rep);
    weft_redis_close(r);
}

static void test_bad_arguments(void)
{
    weft_redis *r;
    CHECK_RC(weft_redis_connect(NULL, rs.url, NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, NULL, NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, "http://x", NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, "redis://", NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, "redis://h:99999", NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, "redis://h/x", NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, "unix://relative", NULL), -EINVAL);
    CHECK_RC(weft_redis_connect(&r, "unix:///tmp/none-such-weft.sock", NULL), -ENOENT);
    CHECK_RC(weft_redis_connect(&r, "redis://127.0.0.1:1", NULL), -ECONNREFUSED);
    CHECK_OK(weft_redis_connect(&r, rs.url, NULL));
    weft_future *f;
    weft_redis_reply *rep;
    const char *argv[1] = { "PING" };
    CHECK_RC(weft_redis_send(NULL, &f, 1, argv, NULL), -EINVAL);
    CHECK_RC(weft_redis_send(r, NULL, 1, argv, NULL), -EINVAL);
    CHECK_RC(weft_redis_send(r, &f, 0, argv, NULL), -EINVAL);
    CHECK_RC(weft_redis_call(r, NULL, 0, 1, argv, NULL), -EINVAL);
    CHECK_RC(weft_redis_callf(r, &rep, WEFT_SEC, NULL), -EINVAL);
    CHECK(rep == NULL);
    CHECK_RC(weft_redis_callf(r, &rep, WEFT_SEC, ""), -EINVAL);   /* no reply would come */
    CHECK_RC(weft_redis_callf(r, &rep, WEFT_SEC, "   "), -EINVAL);
    CHECK_OK(weft_redis_callf(r, &rep, WEFT_SEC, "ECHO %s", "still in step"));
    CHECK(strcmp(rep->str, "still in step") == 0);
    weft_redis_reply_free(rep);
    weft_future *plain;
    CHECK_OK(weft_future_create(&plain));
    CHECK_OK(weft_future_set_result(plain, "x"));
    CHECK(weft_redis_future_reply(plain) == NULL);
    weft_future_release(plain);
    weft_redis_reply_free(NULL);
    weft_redis_close(NULL);
    weft_redis_close(r);
}

/* Many contexts pipelining on one connection: each one's INCRs come back in its order. */
typedef struct { weft_redis *r; int who; } inc_arg;

static int incr_many(void *arg, void **result)
{
    (void)result;
    inc_arg *a = arg;
    char key[32];
    snprintf(key, sizeof key, "k:ctr:%d", a->who);
    enum { N = 500 };
    weft_future *f[N];
    const char *argv[2] = { "INCR", key };
    for (int i = 0; i < N; i++) CHECK_OK(weft_redis_send(a->r, &f[i], 2, argv, NULL));
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, NULL));
        CHECK_EQ(weft_redis_future_reply(f[i])->integer, i + 1);
        weft_future_release(f[i]);
    }
    return 0;
}

static _Atomic int ticks;

static int ticker(void *arg, void **result)
{
    (void)arg; (void)result;
    while (weft_sleep(WEFT_MS) == 0) atomic_fetch_add(&ticks, 1);
    return 0;
}

static int coroutines_main(void *arg, void **result)
{
    (void)result;
    weft_redis *r = arg;
    weft_future *t, *k;
    inc_arg a[4];
    weft_future *fs[4];
    CHECK_OK(weft_spawn(&t, ticker, NULL));
    for (int i = 0; i < 4; i++) {
        a[i] = (inc_arg){ r, 10 + i };
        CHECK_OK(weft_spawn(&fs[i], incr_many, &a[i]));
    }
    /* A blocking command parks this coroutine only: the ticker goes on. */
    weft_redis_reply *rep;
    int before = atomic_load(&ticks);
    weft_redis *slow;
    CHECK_OK(weft_redis_connect(&slow, rs.url, NULL));
    CHECK_OK(weft_redis_callf(slow, &rep, 5 * WEFT_SEC, "BLPOP k:never 0.3"));
    CHECK_EQ(rep->type, WEFT_REDIS_NIL);
    weft_redis_reply_free(rep);
    weft_redis_close(slow);
    CHECK(atomic_load(&ticks) - before > 20);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(weft_future_result(fs[i], 60 * WEFT_SEC, NULL));
        weft_future_release(fs[i]);
    }
    k = t;
    weft_future_cancel(k);
    weft_future_result(k, WEFT_FOREVER, NULL);
    weft_future_release(k);
    return 0;
}

static int thread_incr(void *arg, void **result)
{
    return incr_many(arg, result);
}

static void test_pipelining(void)
{
    weft_redis *r;
    CHECK_OK(weft_redis_connect(&r, rs.url, NULL));
    weft_thread *th[2];
    inc_arg ta[2] = { { r, 1 }, { r, 2 } };
    for (int i = 0; i < 2; i++) CHECK_OK(weft_thread_start(&th[i], NULL, thread_incr, &ta[i]));
    CHECK_OK(weft_run(coroutines_main, r, NULL));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_thread_join(th[i], WEFT_FOREVER, NULL));
        weft_thread_release(th[i]);
    }
    weft_redis_reply *rep;
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "FLUSHALL"));
    weft_redis_reply_free(rep);
    weft_redis_close(r);
}

/* The server restarted under a live connection: it reconnects; a command sent after the
 * restart succeeds. A command queued while the server is down and not written before its
 * command_timeout fails with -ETIMEDOUT; cancel takes back a queued command. */
static void test_restart(void)
{
    weft_redis *r;
    weft_redis_opts o = WEFT_REDIS_OPTS_INIT;
    o.command_timeout = 300 * WEFT_MS;
    o.max_backoff = 50 * WEFT_MS;
    o.connect_timeout = 200 * WEFT_MS;
    CHECK_OK(weft_redis_connect(&r, rs.url, &o));
    weft_redis_reply *rep;
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "SET k:x 1"));
    weft_redis_reply_free(rep);
    redis_kill(&rs);
    int64_t t0 = weft_now();
    while (weft_redis_connected(r) && weft_now() - t0 < 5 * WEFT_SEC) weft_sleep(WEFT_MS);
    CHECK(!weft_redis_connected(r));
    int rc = weft_redis_callf(r, &rep, 5 * WEFT_SEC, "GET k:x");
    CHECK(rc == -ETIMEDOUT || rc == -ECONNRESET);
    CHECK(rep == NULL);
    weft_future *f;
    const char *argv[1] = { "PING" };
    CHECK_OK(weft_redis_send(r, &f, 1, argv, NULL));
    CHECK_OK(weft_future_cancel(f));
    CHECK(weft_future_cancelled(f));
    weft_future_release(f);
    CHECK_OK(redis_restart(&rs));
    t0 = weft_now();
    do {
        rc = weft_redis_callf(r, &rep, 5 * WEFT_SEC, "PING");
        if (rc) weft_sleep(20 * WEFT_MS);
        else weft_redis_reply_free(rep);
    } while (rc && weft_now() - t0 < 10 * WEFT_SEC);
    CHECK_OK(rc);
    CHECK(weft_redis_connected(r));
    weft_redis_close(r);
}

static void test_close_with_pending(void)
{
    weft_redis *r;
    CHECK_OK(weft_redis_connect(&r, rs.url, NULL));
    weft_future *f[100];
    const char *argv[3] = { "BLPOP", "k:never", "0.2" };
    for (int i = 0; i < 100; i++) CHECK_OK(weft_redis_send(r, &f[i], 3, argv, NULL));
    weft_redis_close(r);                         /* pending: -ESHUTDOWN or -ECONNRESET */
    for (int i = 0; i < 100; i++) {
        CHECK(weft_future_done(f[i]));
        int rc = weft_future_result(f[i], 0, NULL);
        CHECK(rc == 0 || rc == -ESHUTDOWN);
        weft_future_release(f[i]);
    }
}

/* URLs (issue 19): percent-decoded user and password, Unix sockets with a password, and
 * -EINVAL for every malformed form; a password-only AUTH (requirepass), a wrong one
 * WEFT_EREDIS. */
static void test_urls(void)
{
    weft_redis *r;
    const char *bad[] = {
        "redis://h:", "redis://h:+80", "redis://h:-1", "redis://h:80x", "redis://:@h",
        "redis://user@h", "redis://u:@h", "redis://:p%4@h", "redis://:p%zz@h",
        "redis://:p%00@h", "redis://:p w@h", "redis://h/ 1", "redis://h/-1", "redis://h/+1",
        "redis://[::1", "redis://h\n", "redis://h%41", "unix://", "unix://u:p@",
        "unix://u:p@relative", "unix://:p@/x?db=", "unix:///x?db=a", "unix:///x?dbx=1",
        "unix:///x?", "unix://user@/x", "rediss://h", "REDIS://h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = weft_redis_connect(&r, bad[i], NULL);
        if (rc != -EINVAL) printf("  %s: %s\n", bad[i], weft_errname(rc));
        CHECK_RC(rc, -EINVAL);
    }
    char longpath[300] = "unix:///";
    memset(longpath + 8, 'a', 200);
    longpath[208] = 0;
    CHECK_RC(weft_redis_connect(&r, longpath, NULL), -EINVAL);
    /* requirepass, with a password holding ':', '@', '/', '%' and a UTF-8 byte pair. */
    weft_redis *admin;
    CHECK_OK(weft_redis_connect(&admin, rs.url, NULL));
    weft_redis_reply *rep;
    const char *pw = "s3:cr@t/%\xc3\xa9";
    const char *set[4] = { "CONFIG", "SET", "requirepass", pw };
    CHECK_OK(weft_redis_call(admin, &rep, 5 * WEFT_SEC, 4, set, NULL));
    weft_redis_reply_free(rep);
    char url[300];
    snprintf(url, sizeof url, "unix://:s3%%3Acr%%40t%%2F%%25%%C3%%A9@%s?db=2", rs.sock);
    CHECK_OK(weft_redis_connect(&r, url, NULL));
    CHECK_OK(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "PING"));
    weft_redis_reply_free(rep);
    weft_redis_close(r);
    snprintf(url, sizeof url, "unix://:s3%%3Acr%%40t@%s", rs.sock);
    CHECK_RC(weft_redis_connect(&r, url, NULL), WEFT_EREDIS);
    /* No password at all: the connect sends nothing to refuse, so it succeeds, and each
     * command fails with NOAUTH (redis.h); weft_dist_inspect fails, not counts of zero. */
    CHECK_OK(weft_redis_connect(&r, rs.url, NULL));
    CHECK_RC(weft_redis_callf(r, &rep, 5 * WEFT_SEC, "PING"), WEFT_EREDIS);
    CHECK(strncmp(rep->str, "NOAUTH", 6) == 0);
    weft_redis_reply_free(rep);
    weft_redis_close(r);
    weft_dist_info info;
    CHECK_RC(weft_dist_inspect(rs.url, NULL, NULL, &info), WEFT_EREDIS);
    snprintf(url, sizeof url, "unix://default:s3%%3Acr%%40t%%2F%%25%%C3%%A9@%s", rs.sock);
    CHECK_OK(weft_redis_connect(&r, url, NULL));   /* the same as the ACL user "default" */
    const char *unset[4] = { "CONFIG", "SET", "requirepass", "" };
    CHECK_OK(weft_redis_call(r, &rep, 5 * WEFT_SEC, 4, unset, NULL));
    weft_redis_reply_free(rep);
    weft_redis_close(r);
    weft_redis_close(admin);
}

/* weft_redis_opts.max_reply: a string or an array over it fails its command with
 * -EMSGSIZE (never read whole); the connection comes back and the next command works. */
static void test_max_reply(void)
{
    weft_redis *big;
    CHECK_OK(weft_redis_connect(&big, rs.url, NULL));
    size_t n = 10 << 20;                          /* 10 times the limit below */
    char *v = calloc(1, n);
    CHECK(v != NULL);
    weft_redis_reply *rep;
    CHECK_OK(weft_redis_callf(big, &rep, 30 * WEFT_SEC, "SET k:big %b", v, n));
    weft_redis_reply_free(rep);
    free(v);
    for (int i = 0; i < 20; i++) {                /* 200,000 short elements */
        const char *argv[10002];
        argv[0] = "RPUSH";
        argv[1] = "k:many";
        for (int k = 0; k < 10000; k++) argv[2 + k] = "x";
        CHECK_OK(weft_redis_call(big, &rep, 30 * WEFT_SEC, 10002, argv, NULL));
        weft_redis_reply_free(rep);
    }
    weft_redis_opts o = WEFT_REDIS_OPTS_INIT;
    o.max_reply = 1 << 20;
    weft_redis *r;
    CHECK_OK(weft_redis_connect(&r, rs.url, &o));
    CHECK_RC(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "GET k:big"), -EMSGSIZE);
    CHECK(rep == NULL);
    CHECK_OK(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "STRLEN k:big"));
    CHECK_EQ(rep->integer, (long long)n);
    weft_redis_reply_free(rep);
    CHECK_RC(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "LRANGE k:many 0 -1"), -EMSGSIZE);
    CHECK_OK(weft_redis_callf(r, &rep, 30 * WEFT_SEC, "LRANGE k:many 0 99"));
    CHECK_EQ(rep->elements, 100);
    weft_redis_reply_free(rep);
    CHECK_OK(weft_redis_callf(big, &rep, 30 * WEFT_SEC, "DEL k:big k:many"));
    weft_redis_reply_free(rep);
    weft_redis_close(r);
    weft_redis_close(big);
}

int main(void)
{
    if (!redis_available()) {
        printf("skipped: no /usr/bin/redis-server (apt-get install redis-server)\n");
        return 77;
    }
    CHECK_OK(redis_start(&rs, false));
    RUN(test_basics);
    RUN(test_bad_arguments);
    RUN(test_pipelining);
    RUN(test_restart);
    RUN(test_close_with_pending);
    RUN(test_urls);
    RUN(test_max_reply);
    redis_stop(&rs);
    return check_done();
}
