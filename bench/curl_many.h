/* bench/curl_many.h — what the curl-many clients share (bench/weft_curl_many.c and
 * bench/peers/curl_many_c.c; bench/peers/curl_many_gevent.py does the same in Python).
 * Standalone: libcurl and libc, no weft.
 *
 * The workload (issue 16): `requests` GETs of http://127.0.0.1:PORT/item/<k>, k = 0 ..
 * requests-1, with `inflight` of them in flight at once, against the slow HTTP server that
 * bench/curl_many_load runs in a process of its own (examples/slow_http.h); every answer is
 * checked to be "you asked for /item/<k>\n" (slow_http.h's SLOW_HTTP_BODY_FMT). Each of
 * the `inflight` workers (a coroutine, a thread, a slot of the multi handle, a greenlet)
 * keeps one easy handle, so one kept-alive connection, for the whole pass, and takes the
 * next k from a shared counter. A pass is run once to warm up, then `passes` times
 * measured; everything (handles, connections, threads, coroutines) is made afresh per pass.
 *
 * Arguments: [--requests N] [--inflight C] [--passes P] [--name W] PORT (curl_many_load
 * appends the port). Output: `RESULT W-rps <requests/s>` and `RESULT W-cpu <client CPU µs
 * per request: user + sys of getrusage(RUSAGE_SELF), every thread of the process>` on
 * stdout, W being curl-many unless --name says otherwise (bench/run.py's curl-many-10ms
 * group runs the same clients against a server that waits 10 ms); details on stderr. A
 * wrong body or a failed transfer: a message, exit status 1.
 */
#ifndef WEFT_BENCH_CURL_MANY_H
#define WEFT_BENCH_CURL_MANY_H

#include <curl/curl.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The server's body for target T (examples/slow_http.h: SLOW_HTTP_BODY_FMT). */
#define CM_BODY_FMT "you asked for %s\n"

typedef struct {
    int requests, inflight, passes;
    unsigned port;
    const char *name;                    /* the workloads' prefix */
} cm_opts;

static inline int cm_int(const char *prog, const char *s, int min, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max) {
        fprintf(stderr, "%s: bad number '%s' (%d .. %d)\n", prog, s, min, max);
        exit(2);
    }
    return (int)v;
}

/* [--requests N] [--inflight C] [--passes P] [--name W] PORT; defaults 1,000, 100, 5,
 * curl-many. */
static inline void cm_parse(int argc, char **argv, cm_opts *o)
{
    const char *prog = argv[0];
    o->requests = 1000;
    o->inflight = 100;
    o->passes = 5;
    o->name = "curl-many";
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--requests") == 0) o->requests = cm_int(prog, v, 1, 10000000);
        else if (strcmp(argv[i], "--inflight") == 0) o->inflight = cm_int(prog, v, 1, 10000);
        else if (strcmp(argv[i], "--passes") == 0) o->passes = cm_int(prog, v, 1, 1000);
        else if (strcmp(argv[i], "--name") == 0) o->name = v;
        else break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: %s [--requests N] [--inflight C] [--passes P] [--name W] "
                "PORT\n", prog);
        exit(2);
    }
    o->port = (unsigned)cm_int(prog, argv[i], 1, 65535);
}

/* One worker's received body. */
typedef struct {
    char *data;
    size_t len, cap;
} cm_buf;

/* libcurl's write callback: appends to the cm_buf. Never blocks. */
static inline size_t cm_on_data(char *data, size_t size, size_t n, void *arg)
{
    cm_buf *b = (cm_buf *)arg;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + add + 1) cap *= 2;
        char *p = (char *)realloc(b->data, cap);
        if (!p) return 0;               /* libcurl fails the transfer: CURLE_WRITE_ERROR */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* A new easy handle writing into b: no signals (CURLOPT_NOSIGNAL), a 30 s bound. */
static inline CURL *cm_easy(cm_buf *b)
{
    CURL *e = curl_easy_init();
    if (!e) return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cm_on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    return e;
}

/* Points e at request k and empties b (before each transfer). */
static inline void cm_prepare(CURL *e, cm_buf *b, unsigned port, int k)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/item/%d", port, k);
    curl_easy_setopt(e, CURLOPT_URL, url);
    b->len = 0;
}

/* After request k's transfer ended with rc: true if it succeeded with status 200 and the
 * body for /item/<k>; otherwise a message (the first few) and false. */
static inline bool cm_check(CURL *e, CURLcode rc, const cm_buf *b, int k)
{
    static _Atomic int told;          /* the threads peer calls it from 100 threads */
    char want[64], target[32];
    snprintf(target, sizeof target, "/item/%d", k);
    int n = snprintf(want, sizeof want, CM_BODY_FMT, target);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status == 200 && b->len == (size_t)n &&
        memcmp(b->data, want, b->len) == 0)
        return true;
    if (told++ < 5)
        fprintf(stderr, "curl-many: request %d: %s, status %ld, body \"%.40s\"\n", k,
                curl_easy_strerror(rc), status, b->len ? b->data : "");
    return false;
}

/* The wall clock and the process's CPU time (user + sys, all threads), in ns. */
typedef struct {
    double wall, cpu;
} cm_mark;

static inline cm_mark cm_now(void)
{
    cm_mark m;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    m.wall = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    m.cpu = ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
            ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
    return m;
}

/* Runs pass() once to warm up and o->passes times measured, then prints the RESULT lines
 * (or, after a failed request, a message) and returns the exit status. pass returns the
 * number of requests that failed. */
static inline int cm_main(const char *system, const cm_opts *o, int (*pass)(const cm_opts *))
{
    int bad = pass(o);
    cm_mark t0 = cm_now();
    for (int p = 0; p < o->passes && !bad; p++) bad += pass(o);
    cm_mark t1 = cm_now();
    if (bad) {
        fprintf(stderr, "curl-many %s: %d requests failed\n", system, bad);
        return 1;
    }
    double n = (double)o->requests * o->passes;
    double rps = n / ((t1.wall - t0.wall) / 1e9);
    double cpu_us = (t1.cpu - t0.cpu) / 1e3 / n;
    fprintf(stderr, "%s %s: %d passes of %d requests, %d in flight: %.0f requests/s, "
            "client CPU %.1f us/request (%.0f%% of a CPU)\n", o->name, system, o->passes,
            o->requests, o->inflight, rps, cpu_us,
            100.0 * (t1.cpu - t0.cpu) / (t1.wall - t0.wall));
    printf("RESULT %s-rps %.6g\n", o->name, rps);
    printf("RESULT %s-cpu %.6g\n", o->name, cpu_us);
    fflush(stdout);
    return 0;
}

#endif /* WEFT_BENCH_CURL_MANY_H */
