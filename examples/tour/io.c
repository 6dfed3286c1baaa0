/* io.c — tour section 1, I/O-bound: 160 pages from a local server that answers each after
 * 50 ms, fetched sequentially, by a thread pool of 5 (the seeds' choice), by coroutines on
 * one thread and by a process pool of 5; the seeds' Python beside them. */
#include "../httpd.h"
#include "tour.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGES 160
#define LATENCY (50 * WEFT_MS)
#define WORKERS 5            /* the seeds' choice */

/* ---- a local "internet" ------------------------------------------------------------------ */

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

/* ---- the clients --------------------------------------------------------------------------- */

static uint16_t port;
static _Atomic int pages_wrong;

/* Fetches page i; *body (malloc'd) and *len receive it. 0, or an error. */
static int get_page(httpc *c, int i, char **body, size_t *len)
{
    char target[32];
    sprintf(target, "/site/%d", i);
    int rc = httpc_get(c, target, body, len, TOUR_TIMEOUT);
    return rc == 200 ? 0 : rc < 0 ? rc : -EPROTO;
}

static void check_page(int i, const char *body, size_t len)
{
    char want[128];
    size_t n = make_page(want, i);
    if (len != n || !body || memcmp(body, want, n) != 0) atomic_fetch_add(&pages_wrong, 1);
}

static int fetch(httpc *c, int i)
{
    char *body = NULL;
    size_t len = 0;
    int rc = get_page(c, i, &body, &len);
    if (rc == 0) check_page(i, body, len);
    free(body);
    return rc;
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
    weft_pool_opts o = { WORKERS };
    int rc = weft_pool_create(&p, &o);
    if (rc) return rc;
    weft_future *f[PAGES];
    int n = 0;
    for (; n < PAGES && rc == 0; n++)
        if ((rc = weft_pool_submit(p, &f[n], fetch_one, (void *)(intptr_t)n)) != 0) break;
    for (int i = 0; i < n; i++) {
        int r = weft_future_result(f[i], TOUR_TIMEOUT, NULL);
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

#ifndef TOUR_NO_FORK
/* A process pool task, run in a worker process: the page whose number is the argument,
 * given back as the result bytes (the parent checks them). */
static int fetch_in_worker(const void *arg, size_t len, void **out, size_t *out_len)
{
    int i;
    if (len != sizeof i) return -EINVAL;
    memcpy(&i, arg, sizeof i);
    httpc *c;
    int rc = httpc_create(&c, "127.0.0.1", port);
    char *body = NULL;
    if (rc == 0) rc = get_page(c, i, &body, out_len);
    httpc_destroy(c);
    *out = body;
    return rc;
}

/* 0, or an error; -ENOSYS: processes cannot be started here (no pidfd_open: Valgrind). */
static int io_processes(void)
{
    weft_procpool *p;
    weft_procpool_opts o = WEFT_PROCPOOL_OPTS_INIT;
    o.workers = WORKERS;
    int rc = weft_procpool_create(&p, &o);
    if (rc) return rc;
    weft_future *f[PAGES];
    int n = 0;
    for (; n < PAGES; n++)
        if ((rc = weft_procpool_submit(p, &f[n], fetch_in_worker, &n, sizeof n)) != 0) break;
    for (int i = 0; i < n; i++) {
        const void *body;
        size_t len;
        int r = weft_procpool_result(f[i], TOUR_TIMEOUT, &body, &len);
        if (r == 0) check_page(i, body, len);
        else if (!rc) rc = r;
        weft_future_release(f[i]);
    }
    weft_procpool_destroy(p);
    return rc;
}
#endif

/* The seeds' Python: urllib in an executor of 5 (threads or processes), and asyncio. */
static const char py_executor_io[] =
    "import sys, time, urllib.request\n"
    "from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor\n"
    "port = sys.argv[1]\n"
    "def get(i):\n"
    "    with urllib.request.urlopen(f'http://127.0.0.1:{port}/site/{i}') as r:\n"
    "        b = r.read()\n"
    "    assert b == f'<html><body>site {i}, {i} squared is {i*i}</body></html>\\n'.encode()\n"
    "Ex = ThreadPoolExecutor if sys.argv[2] == 'threads' else ProcessPoolExecutor\n"
    "t = time.perf_counter()\n"
    "with Ex(5) as ex: list(ex.map(get, range(160)))\n"
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

static void row_result(int rc)
{
    if (rc) tour_fail(weft_strerror(rc));
}

void tour_io(void)
{
    tour_heading("1. I/O-bound: 160 pages from a local server that answers each after 50 ms",
                 "The time goes into waiting: threads and processes overlap the waits five "
                 "at a time, coroutines all at once, on one thread.");
    site s = { 0 };
    weft_thread *t;
    if (weft_event_create(&s.ready) || weft_event_create(&s.stop) ||
        weft_thread_start(&t, NULL, site_thread, &s)) {
        tour_fail("cannot start the local server");
        return;                 /* (the tour then exits 1; what was made is left to exit) */
    }
    weft_event_wait(s.ready, WEFT_FOREVER);
    port = s.port;
    if (!port) {
        tour_fail("the local server did not start");
        return;
    }
    tour_columns(true);
    tour_row r;
    tour_row_begin(&r, "weft, sequential");
    int rc = io_sequential();
    double base = tour_row_end(&r, 0, "one connection, one page after the other");
    row_result(rc);
    tour_row_begin(&r, "weft, thread pool of 5");
    rc = io_pool();
    tour_row_end(&r, base, "weft_pool_submit per page");
    row_result(rc);
    tour_row_begin(&r, "weft, coroutines on one thread");
    rc = weft_run(io_coroutines_main, NULL, NULL);
    double co = tour_row_end(&r, base, "a task group of 160 coroutines");
    row_result(rc);
    /* 160 waits of 50 ms overlapped take a fraction of their 8 s sum, on any machine. */
    if (rc == 0 && co > base / 4) tour_fail("the coroutines did not overlap their waits");
    tour_row_begin(&r, "weft, process pool of 5");
#ifdef TOUR_NO_FORK
    tour_row_skip(&r, TOUR_NO_FORK);
#else
    rc = io_processes();
    if (rc == -ENOSYS) {
        tour_row_skip(&r, "no pidfd_open here");
    } else {
        tour_row_end(&r, base, "weft_procpool_submit per page, pages sent back");
        row_result(rc);
    }
#endif
    if (tour_have_python()) {
        char arg[16];
        sprintf(arg, "%u", port);
        tour_row_begin(&r, "Python, ThreadPoolExecutor(5)");
        tour_row_end_measured(&r, tour_python(py_executor_io, arg, "threads"), base,
                              "urllib, as the seeds do");
        tour_row_begin(&r, "Python, ProcessPoolExecutor(5)");
        tour_row_end_measured(&r, tour_python(py_executor_io, arg, "processes"), base,
                              "urllib in 5 processes");
        tour_row_begin(&r, "Python, asyncio");
        tour_row_end_measured(&r, tour_python(py_asyncio_io, arg, NULL), base,
                              "asyncio streams, 160 tasks");
    }
    if (atomic_load(&pages_wrong)) tour_fail("some pages came back wrong");
    weft_event_set(s.stop);
    weft_thread_join(t, WEFT_FOREVER, NULL);
    weft_thread_release(t);
    weft_event_destroy(s.ready);
    weft_event_destroy(s.stop);
}
