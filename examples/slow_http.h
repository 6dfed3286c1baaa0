/* examples/slow_http.h — a slow local HTTP/1.1 server for the libcurl examples, tests and
 * the curl-many benchmark (issue 16). Header-only; link httpd.c and httpd_reader.c (and
 * libhttp-parser) beside it.
 *
 * Why: a client library that blocks (libcurl's easy API) shows whether libweft_hook makes
 * it cooperative only against a server that takes its time, as a distant one does. This
 * one answers every request after a fixed delay (weft_sleep in the connection's
 * coroutine, so any number of requests wait at once), with a body that names the path
 * ("you asked for /item/17\n", SLOW_HTTP_BODY_FMT) unless the program supplies its own
 * bodies, Content-Length, and keep-alive (HTTP/1.1's default). It is httpd.c underneath:
 * a weft_tcp_server on 127.0.0.1, port 0 (a free one, reported in s->port).
 *
 * Two ways to run it:
 *
 *   slow_http_start           on a thread of its own in this process, running weft_run
 *                             (as download_many.c's server);
 *   slow_http_start_process   in a forked child process, so that the client's CPU time
 *                             (getrusage(RUSAGE_SELF)) and its thread count are its own.
 *                             Call it before the program starts any thread (fork copies
 *                             only the calling thread) and before curl_global_init.
 *
 * slow_http_stop ends either cleanly: the server stops accepting, finishes the requests it
 * is serving (2 s at most), and its counters land in s->stats. In the process mode the
 * child also ends when the parent dies (its control pipe reaches end of file).
 *
 * Contexts: start and stop may be called from a thread or a coroutine (they block in
 * weft_event_wait / weft_thread_join, or read / poll / waitpid on the child's pipes —
 * which park only the caller's coroutine in a program linked with libweft_hook).
 */
#ifndef EXAMPLES_SLOW_HTTP_H
#define EXAMPLES_SLOW_HTTP_H

#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The default body for a request of target T. */
#define SLOW_HTTP_BODY_FMT "you asked for %s\n"

/* A program's own bodies: fills rs (status, body, body_len, owned...) for target, in the
 * server's connection coroutine; returns 0, or a negative error to drop the connection. */
typedef int (*slow_http_body_fn)(const char *target, httpd_response *rs, void *arg);

typedef struct slow_http {
    /* set by the caller before start (zero: the defaults) */
    int64_t delay;             /* before each answer, in ns (0: at once) */
    slow_http_body_fn body;    /* NULL: SLOW_HTTP_BODY_FMT */
    void *body_arg;
    /* set by start */
    uint16_t port;             /* on 127.0.0.1 */
    /* set by stop */
    httpd_stats stats;         /* the server's counters at its close */
    int closed;                /* httpd_close's result: 0, or -ETIMEDOUT if it had to cancel */
    /* private */
    weft_thread *thread;       /* thread mode */
    weft_event *ready, *stop;
    pid_t pid;                 /* process mode: the child, and our ends of its pipes */
    int up_fd, ctl_fd;
} slow_http;

/* Writes target's default body into buf (SLOW_HTTP_BODY_FMT); returns its length, as
 * snprintf. For clients checking that they got their own answer. */
static inline int slow_http_expected(char *buf, size_t n, const char *target)
{
    return snprintf(buf, n, SLOW_HTTP_BODY_FMT, target);
}

/* The handler: waits s->delay (weft_sleep: only this connection's coroutine), then
 * answers. Blocks in weft_sleep. */
static inline int slow_http__serve(const httpd_request *rq, httpd_response *rs, void *arg)
{
    slow_http *s = arg;
    if (s->delay > 0) {
        int rc = weft_sleep(s->delay);
        if (rc) return rc;                 /* the server is closing: cancelled */
    }
    if (s->body) return s->body(rq->target, rs, s->body_arg);
    size_t n = strlen(SLOW_HTTP_BODY_FMT) + strlen(rq->target) + 1;
    char *b = malloc(n);
    if (!b) return -ENOMEM;
    rs->body = rs->owned = b;
    rs->body_len = (size_t)slow_http_expected(b, n, rq->target);
    return 0;
}

/* ---- thread mode -------------------------------------------------------------------------- */

/* The server thread's main coroutine: starts the server, waits for the stop event, closes.
 * Blocks in weft_event_wait (the server's coroutines run meanwhile). */
static inline int slow_http__thread_main(void *arg, void **result)
{
    (void)result;
    slow_http *s = arg;
    httpd *h;
    int rc = httpd_start(&h, "127.0.0.1", 0, slow_http__serve, s, NULL);
    if (rc) {
        weft_event_set(s->ready);          /* port 0 tells the starter it failed */
        return rc;
    }
    s->port = httpd_port(h);
    weft_event_set(s->ready);
    weft_event_wait(s->stop, WEFT_FOREVER);
    httpd_get_stats(h, &s->stats);
    s->closed = httpd_close(h, 2 * WEFT_SEC);
    return 0;
}

static inline int slow_http__thread(void *arg, void **result)
{
    return weft_run(slow_http__thread_main, arg, result);
}

/* Starts the server on a thread of its own; s->delay, s->body, s->body_arg as the caller
 * set them. Returns 0 with s->port set, or a negative error. Blocks until it listens. */
static inline int slow_http_start(slow_http *s)
{
    s->port = 0;
    s->pid = -1;
    s->up_fd = s->ctl_fd = -1;
    s->ready = s->stop = NULL;
    s->thread = NULL;
    int rc = weft_event_create(&s->ready);
    if (!rc) rc = weft_event_create(&s->stop);
    if (!rc) rc = weft_thread_start(&s->thread, NULL, slow_http__thread, s);
    if (!rc) {
        weft_event_wait(s->ready, WEFT_FOREVER);
        if (!s->port) {                    /* it failed: its result says why */
            rc = weft_thread_join(s->thread, WEFT_FOREVER, NULL);
            if (rc >= 0) rc = -EIO;
            weft_thread_release(s->thread);
            s->thread = NULL;
        }
    }
    if (rc) {
        if (s->ready) weft_event_destroy(s->ready);
        if (s->stop) weft_event_destroy(s->stop);
        s->ready = s->stop = NULL;
    }
    return rc;
}

/* ---- process mode ------------------------------------------------------------------------- */

/* What the child sends up its pipe: its port when it listens, its counters at the end. */
typedef struct {
    uint16_t port;
    int closed;
    httpd_stats stats;
} slow_http__report;

/* Reads exactly n bytes (a short count only at end of file). Blocks in read. */
static inline ssize_t slow_http__read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Writes all n bytes. Blocks in write (a pipe with room: never, in practice). */
static inline int slow_http__write_full(int fd, const void *buf, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, (const char *)buf + put, n - put);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        put += (size_t)w;
    }
    return 0;
}

/* The child's main coroutine: starts the server, reports its port, waits for its control
 * pipe to reach end of file (the parent's stop, or its death), closes, reports the
 * counters. Blocks in weft_io_wait on the control pipe (the server's coroutines run). */
static inline int slow_http__child_main(void *arg, void **result)
{
    (void)result;
    slow_http *s = arg;
    slow_http__report rep;
    memset(&rep, 0, sizeof rep);
    httpd *h;
    int rc = httpd_start(&h, "127.0.0.1", 0, slow_http__serve, s, NULL);
    if (rc) {
        slow_http__write_full(s->up_fd, &rep, sizeof rep);       /* port 0: failed */
        return rc;
    }
    rep.port = httpd_port(h);
    if ((rc = slow_http__write_full(s->up_fd, &rep, sizeof rep)) != 0) {
        httpd_close(h, 0);
        return rc;
    }
    for (;;) {                            /* nothing is ever written: only the end counts */
        rc = weft_io_wait(s->ctl_fd, WEFT_IO_READ, WEFT_FOREVER);
        if (rc < 0 && rc != -EINTR) break;
        char c;
        ssize_t n = read(s->ctl_fd, &c, 1);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    }
    httpd_get_stats(h, &rep.stats);
    rep.closed = httpd_close(h, 2 * WEFT_SEC);
    slow_http__write_full(s->up_fd, &rep, sizeof rep);
    return 0;
}

/* Starts the server in a forked child process. Call before the program starts any thread
 * (and before curl_global_init). Returns 0 with s->port set, or a negative error. Blocks
 * until the child listens (read on its pipe). */
static inline int slow_http_start_process(slow_http *s)
{
    s->port = 0;
    s->thread = NULL;
    s->ready = s->stop = NULL;
    int up[2], ctl[2];
    if (pipe2(up, O_CLOEXEC) != 0) return -errno;
    if (pipe2(ctl, O_CLOEXEC) != 0) {
        int e = -errno;
        close(up[0]);
        close(up[1]);
        return e;
    }
    fflush(stdout);                        /* or the child would print them again */
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(up[0]); close(up[1]); close(ctl[0]); close(ctl[1]);
        return e;
    }
    if (pid == 0) {
        close(up[0]);
        close(ctl[1]);
        s->up_fd = up[1];
        s->ctl_fd = ctl[0];
        signal(SIGINT, SIG_IGN);           /* ^C is for the parent, which then stops us */
        int rc = weft_run(slow_http__child_main, s, NULL);
        _exit(rc == 0 ? 0 : 1);            /* not exit: the parent's atexit work is its own */
    }
    close(up[1]);
    close(ctl[0]);
    s->pid = pid;
    s->up_fd = up[0];
    s->ctl_fd = ctl[1];
    slow_http__report rep;
    ssize_t n = slow_http__read_full(s->up_fd, &rep, sizeof rep);
    if (n == (ssize_t)sizeof rep && rep.port) {
        s->port = rep.port;
        return 0;
    }
    close(s->ctl_fd);
    close(s->up_fd);
    s->ctl_fd = s->up_fd = -1;
    waitpid(pid, NULL, 0);
    s->pid = -1;
    return n < 0 ? (int)n : -EIO;
}

/* ---- stop --------------------------------------------------------------------------------- */

/* Stops the server started by either start: it finishes the requests in progress (2 s at
 * most) and closes; s->stats and s->closed are its counters and its close's result.
 * Returns 0, or -EIO if a child did not report (it is then killed). Blocks in
 * weft_thread_join, or in poll / read / waitpid on the child (at most ~10 s). */
static inline int slow_http_stop(slow_http *s)
{
    int rc = 0;
    if (s->thread) {
        weft_event_set(s->stop);
        weft_thread_join(s->thread, WEFT_FOREVER, NULL);
        weft_thread_release(s->thread);
        weft_event_destroy(s->ready);
        weft_event_destroy(s->stop);
        s->thread = NULL;
        s->ready = s->stop = NULL;
        return 0;
    }
    if (s->pid <= 0) return 0;
    close(s->ctl_fd);                      /* end of file: the child closes its server */
    s->ctl_fd = -1;
    slow_http__report rep;
    struct pollfd p = { s->up_fd, POLLIN, 0 };
    int ready;
    do ready = poll(&p, 1, 10 * 1000); while (ready < 0 && errno == EINTR);
    if (ready == 1 && slow_http__read_full(s->up_fd, &rep, sizeof rep) == (ssize_t)sizeof rep) {
        s->stats = rep.stats;
        s->closed = rep.closed;
    } else {
        kill(s->pid, SIGKILL);
        rc = -EIO;
    }
    close(s->up_fd);
    s->up_fd = -1;
    int status;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {}
    s->pid = -1;
    return rc;
}

#endif /* EXAMPLES_SLOW_HTTP_H */
