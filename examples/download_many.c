/* download_many.c — seed scenario 6: downloading many pages, three ways.
 *
 * The classic demonstration of I/O-bound concurrency: fetch a list of URLs one after the
 * other, then with a thread pool, then with coroutines. Here the "sites" are 160 pages of
 * a local HTTP server (httpd.c, on a thread of its own), each of which takes 10 ms to
 * answer, as a distant server would: the time goes into waiting, not computing.
 *
 *   sequential   one keep-alive connection (a session), one page after the other:
 *                160 x 10 ms, 1.6 s at least.
 *   thread pool  weft_pool_submit for each page on a pool of 16 workers, weft_wait for all;
 *                each worker thread keeps its own connection in a thread-local
 *                (weft_local), since a connection must not be shared by two threads at once.
 *                About 160 / 16 x 10 ms.
 *   coroutines   a coroutine per page in a task group on one thread, each with its own
 *                connection: all 160 wait at the same time. About 10 ms plus the work.
 *
 * The same client function (httpc_get in httpd.c: weft_tcp_connect, then a stream —
 * write the request, readline the status and the headers, read_exactly the body) serves
 * all three: weft's calls block a thread when called from a thread and suspend only the
 * coroutine when called from a coroutine.
 *
 * Exits 0 if all 160 pages came back intact each time and both concurrent runs took well
 * under the sequential time. The printed ratios are usually about 0.08 (threads) and 0.03
 * (coroutines); the check asks only for less than 0.6, so that a loaded machine or
 * Valgrind (which runs one thread at a time) cannot make it fail.
 */
#include "httpd.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGES 160
#define LATENCY (10 * WEFT_MS)
#define WORKERS 16
#define TIMEOUT (30 * WEFT_SEC)
#define MAX_RATIO 0.6                /* of the sequential time, for either concurrent run */

/* Page i's content: its own text, of its own length (1 to 4 KB). */
static size_t make_page(char *buf, int i)
{
    int n = sprintf(buf, "<html><body><h1>site %d</h1><p>", i);
    size_t len = (size_t)n + 1000 + (size_t)(i * 397) % 3000;
    unsigned s = (unsigned)i + 1;
    for (size_t k = (size_t)n; k < len; k++) {
        s = s * 1103515245u + 12345u;
        buf[k] = (char)('a' + (s >> 16) % 26);
    }
    return len + (size_t)sprintf(buf + len, "</p></body></html>\n");
}
#define PAGE_MAX 4200

/* ---- the server: its own thread and loop ----------------------------------------------- */

typedef struct {
    weft_event *ready, *stop;
    uint16_t port;
    httpd_stats stats;
    int closed;
} site;

static int serve_page(const httpd_request *rq, httpd_response *rs, void *arg)
{
    (void)arg;
    int i;
    char end;
    if (sscanf(rq->target, "/site/%d%c", &i, &end) != 1 || i < 0 || i >= PAGES) {
        rs->status = 404;
        rs->body = "no such site\n";
        rs->body_len = strlen(rs->body);
        return 0;
    }
    int rc = weft_sleep(LATENCY);          /* the network's and the far server's time */
    if (rc) return rc;
    char *page = malloc(PAGE_MAX);
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
    int rc = httpd_start(&h, "127.0.0.1", 0, serve_page, NULL, NULL);
    if (rc) {
        weft_event_set(s->ready);          /* port 0 tells main it failed */
        return rc;
    }
    s->port = httpd_port(h);
    weft_event_set(s->ready);
    weft_event_wait(s->stop, WEFT_FOREVER);
    httpd_get_stats(h, &s->stats);
    s->closed = httpd_close(h, 2 * WEFT_SEC);
    return 0;
}

static int site_thread(void *arg, void **result)
{
    return weft_run(site_main, arg, result);
}

/* ---- the three ways -------------------------------------------------------------------- */

static uint16_t port;
static char *bodies[PAGES];
static size_t lens[PAGES];

static void target_of(char *buf, int i)
{
    sprintf(buf, "/site/%d", i);
}

/* Checks (and frees) the bodies of one run; returns how many were wrong. */
static int check_bodies(const char *how)
{
    char want[PAGE_MAX];
    int bad = 0;
    for (int i = 0; i < PAGES; i++) {
        size_t n = make_page(want, i);
        if (!bodies[i] || lens[i] != n || memcmp(bodies[i], want, n) != 0) {
            if (bad++ < 3) fprintf(stderr, "%s: page %d is wrong\n", how, i);
        }
        free(bodies[i]);
        bodies[i] = NULL;
    }
    return bad;
}

static int fetch_into(httpc *c, int i)
{
    char target[32];
    target_of(target, i);
    int rc = httpc_get(c, target, &bodies[i], &lens[i], TIMEOUT);
    return rc == 200 ? 0 : rc < 0 ? rc : -EPROTO;
}

static int sequential(void)
{
    httpc *session;
    int rc = httpc_create(&session, "127.0.0.1", port);
    for (int i = 0; i < PAGES && !rc; i++) rc = fetch_into(session, i);
    httpc_destroy(session);
    return rc;
}

/* Thread pool: one connection per worker thread, kept in a thread-local. */
static weft_local *session_of_thread;
static atomic_int thread_sessions;

static void session_end(void *value)
{
    httpc_destroy(value);
}

static int pool_job(void *arg, void **result)
{
    (void)result;
    httpc *c = weft_local_get(session_of_thread);
    if (!c) {
        int rc = httpc_create(&c, "127.0.0.1", port);
        if (!rc) rc = weft_local_set(session_of_thread, c);
        if (rc) return rc;
        atomic_fetch_add(&thread_sessions, 1);
    }
    return fetch_into(c, (int)(intptr_t)arg);
}

static int with_threads(void)
{
    weft_pool *pool;
    int rc = weft_local_create(&session_of_thread, session_end);
    if (rc) return rc;
    if ((rc = weft_pool_create(&pool, &(weft_pool_opts){ .max_workers = WORKERS }))) return rc;
    weft_future *fs[PAGES];
    size_t n = 0;
    for (; n < PAGES && !rc; n++)
        if ((rc = weft_pool_submit(pool, &fs[n], pool_job, (void *)(intptr_t)n))) break;
    if (!rc) weft_wait(fs, n, WEFT_ALL_COMPLETED, WEFT_FOREVER, NULL);
    for (size_t i = 0; i < n; i++) {
        int r = weft_future_result(fs[i], 0, NULL);
        if (!rc) rc = r;
        weft_future_release(fs[i]);
    }
    weft_pool_destroy(pool);       /* its workers end: their sessions are closed */
    weft_local_destroy(session_of_thread);
    return rc;
}

/* Coroutines: one per page, each with a connection of its own, in a task group. */
static int coro_fetch(void *arg, void **result)
{
    (void)result;
    int i = (int)(intptr_t)arg;
    char target[32];
    target_of(target, i);
    int rc = http_get("127.0.0.1", port, target, &bodies[i], &lens[i], TIMEOUT);
    return rc == 200 ? 0 : rc < 0 ? rc : -EPROTO;
}

static int coro_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    for (int i = 0; i < PAGES && !rc; i++)
        rc = weft_group_spawn(g, NULL, NULL, coro_fetch, (void *)(intptr_t)i);
    int w = weft_group_wait(g);    /* the first failure cancels the others */
    weft_group_destroy(g);
    return rc ? rc : w;
}

static int with_coroutines(void)
{
    return weft_run(coro_main, NULL, NULL);
}

/* ---- main ------------------------------------------------------------------------------ */

static double run_timed(const char *how, int (*fn)(void), int *failures)
{
    int64_t t0 = weft_now();
    int rc = fn();
    double ms = (double)(weft_now() - t0) / WEFT_MS;
    int bad = check_bodies(how);
    if (rc) fprintf(stderr, "%s: %s\n", how, weft_strerror(rc));
    if (rc || bad) (*failures)++;
    printf("%-12s %d pages in %7.1f ms%s\n", how, PAGES, ms, rc || bad ? "  FAILED" : "");
    return ms;
}

int main(void)
{
    site s = { 0 };
    weft_thread *t;
    if (weft_event_create(&s.ready) || weft_event_create(&s.stop) ||
        weft_thread_start(&t, NULL, site_thread, &s)) {
        fprintf(stderr, "download_many: cannot start the server\n");
        return 1;
    }
    weft_event_wait(s.ready, WEFT_FOREVER);
    port = s.port;
    if (!port) {
        fprintf(stderr, "download_many: the server did not start\n");
        return 1;
    }
    printf("%d pages on http://127.0.0.1:%u/site/N, %d ms each\n", PAGES, port,
           (int)(LATENCY / WEFT_MS));

    int failures = 0;
    double seq = run_timed("sequential", sequential, &failures);
    double thr = run_timed("threads", with_threads, &failures);
    double cor = run_timed("coroutines", with_coroutines, &failures);
    printf("threads: %.2f of the sequential time (%d workers, %d connections); "
           "coroutines: %.2f\n", thr / seq, WORKERS, atomic_load(&thread_sessions), cor / seq);

    weft_event_set(s.stop);
    weft_thread_join(t, WEFT_FOREVER, NULL);
    weft_thread_release(t);
    weft_event_destroy(s.ready);
    weft_event_destroy(s.stop);
    printf("server: %llu requests on %llu connections, at most %d at once\n",
           (unsigned long long)s.stats.requests, (unsigned long long)s.stats.connections,
           s.stats.max_in_flight);

    if (thr >= MAX_RATIO * seq || cor >= MAX_RATIO * seq) {
        fprintf(stderr, "download_many: a concurrent run took %.2f of the sequential time "
                "or more\n", MAX_RATIO);
        failures++;
    }
    if (s.stats.requests != 3 * PAGES || s.closed != 0) {
        fprintf(stderr, "download_many: the server answered %llu requests (%d expected) and "
                "closed with %s\n", (unsigned long long)s.stats.requests, 3 * PAGES,
                weft_errname(s.closed));
        failures++;
    }
    bool ok = failures == 0;
    if (!ok) fprintf(stderr, "download_many: FAILED\n");
    return ok ? 0 : 1;
}
