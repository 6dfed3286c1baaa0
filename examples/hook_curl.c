/* examples/hook_curl.c — libweft_hook's proof with libcurl's easy API: 100 blocking
 * curl_easy_perform calls at once, on one thread (issue 16).
 *
 *     # gevent                                 weft
 *     from gevent import monkey                link with libweft_hook (weft_hook_dep)
 *     monkey.patch_all()                       — nothing to call —
 *     import requests                          #include <curl/curl.h>
 *     gevent.joinall([spawn(get, i) ...])      weft_spawn_ex(...) x 100, then join them
 *
 * curl_easy_perform blocks its caller until the transfer is done: underneath, libcurl
 * connects, sends, and waits in poll() for its socket and recv()s the answer. Linked with
 * libweft_hook, those libc calls made from a weft coroutine park only that coroutine, so
 * one thread runs 100 transfers at once, libcurl unchanged.
 *
 * The program starts a local HTTP server (slow_http.h) in a child process, which answers
 * each GET after 100 ms with a body naming the path; then, on one thread, weft_run's main
 * coroutine spawns 100 coroutines, each doing one easy-API GET of
 * http://127.0.0.1:PORT/item/<i> and checking that the body is its own. One after the other
 * the 100 transfers would take 10 s; together they must take well under a second.
 * Exit 0 when every body is right and they overlapped; 1 (saying what went wrong) else.
 */
#include <weft.h>
#include <weft/hook.h>          /* only for weft_hook_active and the park counter */

#include <curl/curl.h>

#include "slow_http.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLIENTS = 100 };
#define DELAY (100 * WEFT_MS)           /* the server's, before each answer */
#define LIMIT (1 * WEFT_SEC)            /* the 100 transfers of 0.1 s each, together */
/* libcurl needs ~12 KiB of stack for a plain HTTP transfer (measured on a painted thread
 * stack, libcurl 7.88): the default 128 KiB leaves room for TLS and more, and default-size
 * stacks come from weft's pool (another size would be mapped and unmapped per coroutine). */
#define STACK WEFT_STACK_DEFAULT

static uint16_t port;

typedef struct client {
    int i;
    char *body;                         /* what the server sent */
    size_t len;
    bool ok;                            /* 200 and the body for its own path */
    char err[CURL_ERROR_SIZE + 64];
} client;

static client clients[CLIENTS];

/* libcurl's write callback: appends to the client's body. Never blocks. */
static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    client *c = arg;
    size_t add = size * n;
    char *b = realloc(c->body, c->len + add + 1);
    if (!b) return 0;                   /* libcurl fails the transfer: CURLE_WRITE_ERROR */
    memcpy(b + c->len, data, add);
    c->len += add;
    b[c->len] = '\0';
    c->body = b;
    return add;
}

/* A coroutine: client i's GET of /item/<i> with the easy API, then its checks. Blocks in
 * curl_easy_perform (connect, poll, send, recv: under libweft_hook only this coroutine
 * waits). Failures are recorded, not returned, so one does not stop the others. */
static int fetch(void *arg, void **result)
{
    (void)result;
    client *c = arg;
    char url[64], target[32], want[64], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(target, sizeof target, "/item/%d", c->i);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, target);
    slow_http_expected(want, sizeof want, target);
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(c->err, sizeof c->err, "client %d: curl_easy_init failed", c->i);
        return 0;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);       /* no SIGALRM for timeouts */
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(e);               /* blocks: parks this coroutine */
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK)
        snprintf(c->err, sizeof c->err, "client %d: %s (%s)", c->i, curl_easy_strerror(rc),
                 errbuf);
    else if (status != 200)
        snprintf(c->err, sizeof c->err, "client %d: status %ld", c->i, status);
    else if (!c->body || strcmp(c->body, want) != 0)
        snprintf(c->err, sizeof c->err, "client %d: got \"%.40s\", expected \"%.40s\"",
                 c->i, c->body ? c->body : "", want);
    else
        c->ok = true;
    return 0;
}

/* The threads of this process now (entries of /proc/self/task). */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        if (de->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* The main coroutine: spawns the 100 clients, joins them, reports. Blocks in
 * weft_future_result (the clients run meanwhile). */
static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    if (!weft_hook_active())
        fprintf(stderr, "hook_curl: warning: the hooks are not active in this coroutine: "
                "libcurl's calls will block the thread\n");
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "curl-client";
    o.stack_size = STACK;
    weft_future *f[CLIENTS];
    int spawned = 0, rc = 0;
    uint64_t parks0 = weft_hook_parks();
    int64_t t0 = weft_now();
    for (; spawned < CLIENTS; spawned++) {
        clients[spawned].i = spawned;
        if ((rc = weft_spawn_ex(&f[spawned], &o, fetch, &clients[spawned])) != 0) break;
    }
    int threads = thread_count();       /* while the transfers are in flight */
    for (int i = 0; i < spawned; i++) {
        weft_future_result(f[i], WEFT_FOREVER, NULL);
        weft_future_release(f[i]);
    }
    int64_t took = weft_now() - t0;
    uint64_t parks = weft_hook_parks() - parks0;
    if (rc) {
        fprintf(stderr, "hook_curl: weft_spawn_ex: %s\n", weft_strerror(rc));
        return 1;
    }

    int bad = 0;
    for (int i = 0; i < CLIENTS; i++) {
        if (!clients[i].ok && bad++ < 5) fprintf(stderr, "hook_curl: %s\n", clients[i].err);
        free(clients[i].body);
    }
    printf("%d x curl_easy_perform of a page answered after %d ms, in %d coroutines on one "
           "thread (%d thread%s in this process): %.3f s in all (one after the other: %.0f s)\n",
           CLIENTS, (int)(DELAY / WEFT_MS), CLIENTS, threads, threads == 1 ? "" : "s",
           (double)took / WEFT_SEC, CLIENTS * (double)DELAY / WEFT_SEC);
    printf("libcurl's calls parked a coroutine %llu times (poll, recv, connect... under "
           "libweft_hook); %d of %d bodies right\n", (unsigned long long)parks,
           CLIENTS - bad, CLIENTS);
    if (bad) return 1;
    if (took >= LIMIT) {
        fprintf(stderr, "hook_curl: the %d transfers took %.3f s, not under %.1f s: they ran "
                "one after the other (is the program linked with libweft_hook?)\n", CLIENTS,
                (double)took / WEFT_SEC, (double)LIMIT / WEFT_SEC);
        return 1;
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The server first: it forks, and this process has no other thread yet. */
    slow_http srv = { .delay = DELAY };
    int rc = slow_http_start_process(&srv);
    if (rc) {
        fprintf(stderr, "hook_curl: cannot start the server: %s\n", weft_strerror(rc));
        return 1;
    }
    port = srv.port;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "hook_curl: curl_global_init failed\n");
        slow_http_stop(&srv);
        return 1;
    }
    rc = weft_run(main_coro, NULL, NULL);
    curl_global_cleanup();
    int src = slow_http_stop(&srv);
    printf("server (a child process): %llu requests on %llu connections, at most %d at once\n",
           (unsigned long long)srv.stats.requests, (unsigned long long)srv.stats.connections,
           srv.stats.max_in_flight);
    if (rc == 0 && (src != 0 || srv.stats.requests != CLIENTS)) {
        fprintf(stderr, "hook_curl: the server answered %llu requests (%d expected)%s\n",
                (unsigned long long)srv.stats.requests, CLIENTS,
                src ? " and did not stop cleanly" : "");
        rc = 1;
    }
    printf(rc == 0 ? "hook_curl: ok\n" : "hook_curl: FAILED\n");
    return rc == 0 ? 0 : 1;
}
