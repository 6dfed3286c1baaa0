/* tests/redis_server.h — a redis-server of the test's own, on a Unix socket in a temporary
 * directory (never a port another program uses), started and stopped by the test.
 *
 * redis_start(&rs, aof) starts one (aof: the append-only file on, fsync always, so that a
 * kill -9 loses nothing accepted) and waits until it answers PING; redis_kill stops it
 * (SIGKILL: the test of a crash; the directory and its files stay, for a restart);
 * redis_restart starts it again on the same socket and files; redis_stop kills it and
 * removes the directory. SKIP when redis-server is not installed. */
#ifndef WEFT_TESTS_REDIS_SERVER_H
#define WEFT_TESTS_REDIS_SERVER_H

#include "check.h"

#include <weft/redis.h>

#include <stdlib.h>
#include <sys/stat.h>

typedef struct redis_server {
    char dir[64];
    char sock[128];
    char url[160];
    bool aof;
    weft_subprocess *proc;
} redis_server;

static bool redis_available(void)
{
    return access("/usr/bin/redis-server", X_OK) == 0;
}

/* A failing CHECK aborts the test: the server must not outlive it (it would hold the
 * test's output pipe open, and meson would wait for it). */
static volatile pid_t redis_pid_for_abort;

static void redis_on_abort(int sig)
{
    if (redis_pid_for_abort > 0) kill(redis_pid_for_abort, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int redis_launch(redis_server *rs)
{
    char log[128];
    snprintf(log, sizeof log, "%s/redis.log", rs->dir);
    const char *argv[] = { "/usr/bin/redis-server", "--port", "0", "--unixsocket", rs->sock,
                           "--dir", rs->dir, "--save", "", "--appendonly",
                           rs->aof ? "yes" : "no", "--appendfsync", "always",
                           "--daemonize", "no", "--loglevel", "warning", "--logfile", log,
                           NULL };
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_DEVNULL;
    o.stderr_mode = WEFT_STDIO_DEVNULL;
    int rc = weft_subprocess_start(&rs->proc, argv, &o);
    if (rc) return rc;
    redis_pid_for_abort = weft_subprocess_pid(rs->proc);
    signal(SIGABRT, redis_on_abort);
    /* Ready when it answers. */
    int64_t t0 = weft_now();
    while (weft_now() - t0 < 20 * WEFT_SEC) {
        weft_redis *r;
        weft_redis_opts ro = WEFT_REDIS_OPTS_INIT;
        ro.connect_timeout = WEFT_SEC;
        if (weft_redis_connect(&r, rs->url, &ro) == 0) {
            weft_redis_reply *rep;
            rc = weft_redis_callf(r, &rep, 5 * WEFT_SEC, "PING");
            weft_redis_reply_free(rep);
            weft_redis_close(r);
            if (rc == 0) return 0;
        }
        weft_sleep(20 * WEFT_MS);
    }
    return -ETIMEDOUT;
}

static int redis_start(redis_server *rs, bool aof)
{
    memset(rs, 0, sizeof *rs);
    /* A server of the caller's (debugging under Valgrind, which lacks pidfd_open): used
     * as it is; the restart test needs ours. */
    const char *given = getenv("WEFT_TEST_REDIS_SOCKET");
    if (given && !aof) {
        snprintf(rs->sock, sizeof rs->sock, "%s", given);
        snprintf(rs->url, sizeof rs->url, "unix://%s", rs->sock);
        strcpy(rs->dir, "/tmp");
        return 0;
    }
    rs->aof = aof;
    strcpy(rs->dir, "/tmp/weft-redis-XXXXXX");
    if (!mkdtemp(rs->dir)) return -errno;
    snprintf(rs->sock, sizeof rs->sock, "%s/redis.sock", rs->dir);
    snprintf(rs->url, sizeof rs->url, "unix://%s", rs->sock);
    return redis_launch(rs);
}

static void redis_kill(redis_server *rs)
{
    if (!rs->proc) return;
    weft_subprocess_kill(rs->proc);
    weft_subprocess_wait(rs->proc, WEFT_FOREVER, NULL);
    weft_subprocess_destroy(rs->proc);
    rs->proc = NULL;
    redis_pid_for_abort = 0;
    unlink(rs->sock);
}

static int redis_restart(redis_server *rs)
{
    redis_kill(rs);
    return redis_launch(rs);
}

static void redis_stop(redis_server *rs)
{
    redis_kill(rs);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rs->dir);
    if (strncmp(rs->dir, "/tmp/weft-redis-", 16) == 0) {
        int rc = system(cmd);
        (void)rc;
    }
}

#endif /* WEFT_TESTS_REDIS_SERVER_H */
