/* examples/download_many_curl.c — seed scenario 6 (download many sites) with libcurl's
 * blocking easy API, made concurrent by libweft_hook (issue 16).
 *
 * download_many.c fetches 160 pages with weft's own client; here the client is libcurl,
 * which knows nothing of weft: curl_easy_perform blocks its caller until the page is in.
 * The "sites" are 160 pages of a local server (slow_http.h, in a child process), each
 * answering after 10 ms as a distant server would, each page its own text of 1 to 4 KB.
 *
 *   sequential          one easy handle (a keep-alive connection) on the main thread, one
 *                       page after the other: 160 x 10 ms, 1.6 s at least.
 *   coroutines, hooks   a coroutine per page in a task group on one thread, each with an
 *                       easy handle of its own: the same curl_easy_perform, but libcurl's
 *                       poll/recv/connect park only its coroutine (libweft_hook), so all 160
 *       on              wait at once: about 10 ms plus the work.
 *   coroutines, hooks   the same coroutines with weft_hook_set_enabled(false): libcurl's
 *       off             calls block the thread, the coroutines run one after the other —
 *                       what the hooks are for (gevent without monkey.patch_all()).
 *
 * Prints the three times and the speed-up. Exits 0 when every page came back intact each
 * time and the coroutines with hooks took less than 0.6 of the sequential time (usually
 * ~0.03; the bound leaves room for a loaded machine).
 */
#include <weft.h>
#include <weft/hook.h>

#include <curl/curl.h>

#include "slow_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGES 160
#define LATENCY (10 * WEFT_MS)
#define MAX_RATIO 0.6                /* of the sequential time, for the hooked coroutines */
/* libcurl needs ~12 KiB of stack for a plain HTTP transfer (measured on a painted thread
 * stack, libcurl 7.88): the default 128 KiB leaves room for TLS and more, and default-size
 * stacks come from weft's pool (another size would be mapped and unmapped per coroutine). */
#define STACK WEFT_STACK_DEFAULT

/* Page i's content: its own text, of its own length (1 to 4 KB); as download_many.c's. */
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

/* The server's bodies (slow_http_body_fn, in the server process, after its delay):
 * /site/<i> is page i, anything else a 404. Never blocks. */
static int serve_page(const char *target, httpd_response *rs, void *arg)
{
    (void)arg;
    int i;
    char end;
    if (sscanf(target, "/site/%d%c", &i, &end) != 1 || i < 0 || i >= PAGES) {
        rs->status = 404;
        rs->body = "no such site\n";
        rs->body_len = strlen(rs->body);
        return 0;
    }
    char *page = malloc(PAGE_MAX);
    if (!page) return -ENOMEM;
    rs->content_type = "text/html";
    rs->body = rs->owned = page;
    rs->body_len = make_page(page, i);
    return 0;
}

/* ---- the client: libcurl's easy API, nothing of weft ------------------------------------ */

static uint16_t port;

typedef struct {
    char *data;
    size_t len;
} buffer;

static buffer bodies[PAGES];
static int errors;                   /* transfers that failed (status or curl error) */

/* libcurl's write callback: appends to the page's buffer. Never blocks. */
static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    buffer *b = arg;
    size_t add = size * n;
    char *p = realloc(b->data, b->len + add + 1);
    if (!p) return 0;                /* libcurl fails the transfer: CURLE_WRITE_ERROR */
    memcpy(p + b->len, data, add);
    b->len += add;
    p[b->len] = '\0';
    b->data = p;
    return add;
}

/* GETs page i with the easy handle e into bodies[i]. Blocks in curl_easy_perform (a thread:
 * libc's calls; a coroutine under libweft_hook: only the coroutine waits). */
static void get_page(CURL *e, int i)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/site/%d", port, i);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &bodies[i]);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
        if (errors++ < 3)
            fprintf(stderr, "page %d: %s, status %ld\n", i, curl_easy_strerror(rc), status);
    }
}

/* Checks (and frees) the bodies of one run; returns how many were wrong. */
static int check_bodies(const char *how)
{
    char want[PAGE_MAX];
    int bad = 0;
    for (int i = 0; i < PAGES; i++) {
        size_t n = make_page(want, i);
        if (!bodies[i].data || bodies[i].len != n || memcmp(bodies[i].data, want, n) != 0) {
            if (bad++ < 3) fprintf(stderr, "%s: page %d is wrong\n", how, i);
        }
        free(bodies[i].data);
        bodies[i].data = NULL;
        bodies[i].len = 0;
    }
    return bad;
}

/* Sequential: one handle, so one kept-alive connection, on the main thread. Blocks in
 * curl_easy_perform, 160 times. */
static int sequential(void)
{
    CURL *e = curl_easy_init();
    if (!e) return -ENOMEM;
    for (int i = 0; i < PAGES; i++) get_page(e, i);
    curl_easy_cleanup(e);
    return 0;
}

/* A coroutine: page i with a handle of its own. Blocks in curl_easy_perform. */
static int coro_fetch(void *arg, void **result)
{
    (void)result;
    CURL *e = curl_easy_init();
    if (!e) return -ENOMEM;
    get_page(e, (int)(intptr_t)arg);
    curl_easy_cleanup(e);
    return 0;
}

/* weft_run's main: a coroutine per page in a task group, the hooks on or off for this
 * thread as arg says. Blocks in weft_group_wait. */
static int coro_main(void *arg, void **result)
{
    (void)result;
    bool was = weft_hook_set_enabled(arg != NULL);
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "curl-page";
    o.stack_size = STACK;
    for (int i = 0; i < PAGES && !rc; i++)
        rc = weft_group_spawn(g, NULL, &o, coro_fetch, (void *)(intptr_t)i);
    int w = weft_group_wait(g);      /* even after a failed spawn: leave the group */
    weft_group_destroy(g);
    weft_hook_set_enabled(was);
    return rc ? rc : w;
}

static int with_hooks(void)
{
    return weft_run(coro_main, (void *)1, NULL);
}

static int without_hooks(void)
{
    return weft_run(coro_main, NULL, NULL);
}

/* ---- main ------------------------------------------------------------------------------- */

static double run_timed(const char *how, int (*fn)(void), int *failures)
{
    errors = 0;
    int64_t t0 = weft_now();
    int rc = fn();
    double ms = (double)(weft_now() - t0) / WEFT_MS;
    int bad = check_bodies(how);
    if (rc) fprintf(stderr, "%s: %s\n", how, weft_strerror(rc));
    if (rc || bad || errors) (*failures)++;
    printf("%-22s %d pages in %7.1f ms%s\n", how, PAGES, ms,
           rc || bad || errors ? "  FAILED" : "");
    return ms;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The server first: it forks, and this process has no other thread yet. */
    slow_http srv = { .delay = LATENCY, .body = serve_page };
    int rc = slow_http_start_process(&srv);
    if (rc) {
        fprintf(stderr, "download_many_curl: cannot start the server: %s\n", weft_strerror(rc));
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "download_many_curl: curl_global_init failed\n");
        slow_http_stop(&srv);
        return 1;
    }
    port = srv.port;
    printf("%d pages on http://127.0.0.1:%u/site/N, %d ms each, fetched with libcurl's "
           "easy API (%s)\n", PAGES, port, (int)(LATENCY / WEFT_MS), curl_version());

    int failures = 0;
    double seq = run_timed("sequential", sequential, &failures);
    double off = run_timed("coroutines, hooks off", without_hooks, &failures);
    double on = run_timed("coroutines, hooks on", with_hooks, &failures);
    printf("speed-up of the coroutines over the sequential run: %.1fx with the hooks "
           "(%.3f of its time), %.2fx without them\n", seq / on, on / seq, seq / off);

    curl_global_cleanup();
    int src = slow_http_stop(&srv);
    printf("server (a child process): %llu requests on %llu connections, at most %d at once\n",
           (unsigned long long)srv.stats.requests, (unsigned long long)srv.stats.connections,
           srv.stats.max_in_flight);

    if (on >= MAX_RATIO * seq) {
        fprintf(stderr, "download_many_curl: the hooked coroutines took %.2f of the sequential "
                "time (at most %.2f expected): is the program linked with libweft_hook?\n",
                on / seq, MAX_RATIO);
        failures++;
    }
    if (src != 0 || srv.stats.requests != 3 * PAGES) {
        fprintf(stderr, "download_many_curl: the server answered %llu requests (%d expected)%s\n",
                (unsigned long long)srv.stats.requests, 3 * PAGES,
                src ? " and did not stop cleanly" : "");
        failures++;
    }
    if (failures) fprintf(stderr, "download_many_curl: FAILED\n");
    return failures ? 1 : 0;
}
