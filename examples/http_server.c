/* http_server.c — a minimal HTTP/1.1 server on weft, tested by clients weft did not write.
 *
 * The server is httpd.c: weft_tcp_server gives a coroutine per connection, each reads
 * requests through a weft_stream and parses them with libhttp-parser. It serves:
 *
 *     GET  /       "Hello, World!"
 *     GET  /slow   the same after 50 ms (weft_sleep: only this request's coroutine waits,
 *                  the server goes on serving everybody else)
 *     POST /echo   the request body back
 *     anything else: 404
 *
 * Run as `http_server --serve PORT [IDLE_SECONDS]` it serves on 127.0.0.1:PORT until
 * killed (try curl or wrk on it); a connection idle IDLE_SECONDS (default 5) is closed. Run without arguments (the test) it serves on a free port and checks itself
 * with curl and wrk, which run from a separate thread: popen blocks the thread that calls
 * it, so it must not be called from a coroutine of the server's loop; the main coroutine
 * meanwhile waits in weft_thread_join, and while it waits, the loop serves.
 *
 * What it shows:
 *   - a server is a function per connection, written in blocking style;
 *   - a slow request does not hold up the others (ten parallel /slow requests from curl
 *     take about 50 ms, not 500);
 *   - keep-alive: curl sends two requests over one connection;
 *   - a careful server: curl's "Expect: 100-continue" gets its 100 Continue, a body over
 *     the 1 MiB limit gets 413 at once (httpd_check tests the rest, byte for byte);
 *   - a graceful close (weft_server_close): no new connections, idle ones closed, the
 *     requests being served finish.
 *
 * Exits 0 if every curl answer was right, wrk saw no socket error and no non-2xx answer,
 * and the server closed without having to cancel anybody. Without curl or wrk it says it
 * skipped and exits 0 (tools/deps.sh installs both for `make`).
 */
#include "httpd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOW_MS 50
#define PARALLEL 10

static int handler(const httpd_request *rq, httpd_response *rs, void *arg)
{
    (void)arg;
    static const char hello[] = "Hello, World!\n";
    bool slow = strcmp(rq->target, "/slow") == 0;
    if (slow || strcmp(rq->target, "/") == 0) {
        if (slow) {
            int rc = weft_sleep(SLOW_MS * WEFT_MS);
            if (rc) return rc;                  /* cancelled: drop the connection */
        }
        rs->body = hello;
        rs->body_len = sizeof hello - 1;
    } else if (strcmp(rq->target, "/echo") == 0 && strcmp(rq->method, "POST") == 0) {
        rs->content_type = "application/octet-stream";
        rs->body = rq->body;
        rs->body_len = rq->body_len;
    } else {
        static const char nf[] = "not found\n";
        rs->status = 404;
        rs->body = nf;
        rs->body_len = sizeof nf - 1;
    }
    return 0;
}

/* ---- the clients: curl and wrk, run from a thread of their own ------------------------- */

static bool have_program(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char dir[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n && n < sizeof dir - strlen(name) - 2) {
            snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, name);
            if (access(dir, X_OK) == 0) return true;
        }
        path += n + (path[n] == ':');
    }
    return false;
}

/* Runs a shell command and returns what it printed (malloc'd), or NULL if it failed. */
static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t n;
    while (out && (n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *b = realloc(out, cap *= 2);
            if (!b) { free(out); out = NULL; }
            else out = b;
        }
    }
    int status = pclose(p);
    if (!out) return NULL;
    out[len] = '\0';
    if (status != 0) {
        fprintf(stderr, "`%s` failed (status %d); it printed:\n%s\n", cmd, status, out);
        free(out);
        return NULL;
    }
    return out;
}

typedef struct {
    uint16_t port;
    bool skipped;
    int failures;
} client_run;

static void check(client_run *cr, bool ok, const char *what, const char *out)
{
    printf("%-58s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) {
        cr->failures++;
        fprintf(stderr, "  output was: %s\n", out ? out : "(none)");
    }
}

static void curl_checks(client_run *cr, const char *url)
{
    char cmd[1024];
    /* Two requests in one curl: the second must reuse the first one's connection. */
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 "
             "-w '[%%{http_code} %%{num_connects}]\\n' %s/ %s/", url, url);
    char *out = run(cmd);
    check(cr, out && strcmp(out, "Hello, World!\n[200 1]\nHello, World!\n[200 0]\n") == 0,
          "curl: GET / twice, one connection (keep-alive)", out);
    free(out);

    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 --data-binary 'weft says hi' %s/echo",
             url);
    out = run(cmd);
    check(cr, out && strcmp(out, "weft says hi") == 0, "curl: POST /echo", out);
    free(out);

    /* curl waits for "100 Continue" before it sends the body; told to wait 30 s for it
     * (longer than --max-time), it fails if the server never sends one. */
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 --expect100-timeout 30 "
             "-H 'Expect: 100-continue' --data-binary 'weft continues' %s/echo", url);
    out = run(cmd);
    check(cr, out && strcmp(out, "weft continues") == 0,
          "curl: POST /echo with Expect: 100-continue", out);
    free(out);

    /* 2 MB, over the server's 1 MiB limit, sent without waiting (no Expect): the server
     * answers 413 at the headers and drops the rest; curl must read the 413, not fail on
     * a reset in the middle of its upload. */
    snprintf(cmd, sizeof cmd, "head -c 2000000 /dev/zero | curl -sS --max-time 10 "
             "-o /dev/null -w '%%{http_code}' -H 'Expect:' --data-binary @- %s/echo", url);
    out = run(cmd);
    check(cr, out && strcmp(out, "413") == 0, "curl: POST /echo of 2 MB is 413", out);
    free(out);

    snprintf(cmd, sizeof cmd, "curl -s --max-time 10 -o /dev/null -w '%%{http_code}' %s/nope",
             url);
    out = run(cmd);
    check(cr, out && strcmp(out, "404") == 0, "curl: GET /nope is 404", out);
    free(out);

    /* Ten /slow requests at once, on ten connections. */
    int n = snprintf(cmd, sizeof cmd, "curl -sS --no-progress-meter --max-time 10 "
                     "-Z --parallel-immediate --parallel-max %d", PARALLEL);
    for (int i = 0; i < PARALLEL; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s/slow", url);
    int64_t t0 = weft_now();
    out = run(cmd);
    double ms = (double)(weft_now() - t0) / WEFT_MS;
    int got = 0;
    for (const char *s = out; s && (s = strstr(s, "Hello, World!\n")); s++) got++;
    char what[128];
    snprintf(what, sizeof what, "curl: %d parallel GET /slow (%d ms each) in %.0f ms",
             PARALLEL, SLOW_MS, ms);
    check(cr, got == PARALLEL, what, out);
    free(out);
}

static void wrk_check(client_run *cr, const char *url)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "wrk -t1 -c50 -d1s --timeout 5s %s/", url);
    char *out = run(cmd);
    const char *s = out ? strstr(out, " requests in ") : NULL;
    long requests = 0;
    if (s) {
        while (s > out && s[-1] >= '0' && s[-1] <= '9') s--;
        requests = strtol(s, NULL, 10);
    }
    bool ok = requests > 0 && !strstr(out, "Socket errors") && !strstr(out, "Non-2xx");
    char what[128];
    snprintf(what, sizeof what, "wrk -t1 -c50 -d1s: %ld requests, no errors, all 2xx",
             requests);
    check(cr, ok, what, out);
    free(out);
}

static int clients(void *arg, void **result)
{
    (void)result;
    client_run *cr = arg;
    if (!have_program("curl") || !have_program("wrk")) {
        cr->skipped = true;
        return 0;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", cr->port);
    curl_checks(cr, url);
    wrk_check(cr, url);
    return 0;
}

/* ---- the server's side ----------------------------------------------------------------- */

static int self_test(void *arg, void **result)
{
    (void)arg; (void)result;
    httpd *h;
    int rc = httpd_start(&h, "127.0.0.1", 0, handler, NULL, NULL);
    if (rc) {
        fprintf(stderr, "http_server: cannot listen: %s\n", weft_strerror(rc));
        return rc;
    }
    client_run cr = { httpd_port(h), false, 0 };
    printf("serving on http://127.0.0.1:%u/\n", cr.port);

    /* A daemon thread: should curl or wrk hang, the program can still exit. */
    weft_thread *t;
    weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
    to.name = "clients";
    to.daemon = true;
    rc = weft_thread_start(&t, &to, clients, &cr);
    if (rc == 0) {
        rc = weft_thread_join(t, 60 * WEFT_SEC, NULL);   /* the loop serves meanwhile */
        weft_thread_release(t);
    }
    if (rc) {
        fprintf(stderr, "http_server: the client thread: %s\n", weft_strerror(rc));
        httpd_close(h, 0);
        return rc;
    }

    /* A keep-alive connection left open and idle (our own client, a coroutine of this
     * loop): the graceful close must end it at once, not wait out the grace period. */
    httpc *idle;
    char *body = NULL;
    if (httpc_create(&idle, "127.0.0.1", cr.port) == 0) {
        int status = httpc_get(idle, "/", &body, NULL, 5 * WEFT_SEC);
        check(&cr, status == 200 && strcmp(body, "Hello, World!\n") == 0,
              "weft's own client: GET /, then its connection stays open", body);
    }
    httpd_stats st;
    httpd_get_stats(h, &st);
    int64_t t0 = weft_now();
    int closed = httpd_close(h, 2 * WEFT_SEC);
    double ms = (double)(weft_now() - t0) / WEFT_MS;
    httpc_destroy(idle);
    free(body);
    if (cr.skipped) {
        printf("skipped: curl/wrk not installed\n");
        return 0;
    }
    printf("server: %llu requests on %llu connections (at most %d open, %d handlers at "
           "once)\n", (unsigned long long)st.requests, (unsigned long long)st.connections,
           st.max_connections, st.max_in_flight);
    printf("closed %s in %.1f ms\n", closed == 0 ? "gracefully" : "after cancelling handlers",
           ms);
    /* The parallel /slow requests overlapped (served one at a time they would still all
     * arrive within curl's limit), nothing had to be cancelled at close, and the one
     * request refused was the 2 MB POST. */
    if (st.max_in_flight < PARALLEL / 2 || closed != 0 || st.bad_requests != 1) {
        fprintf(stderr, "http_server: %d handlers at once, closed %d, %d refused\n",
                st.max_in_flight, closed, st.bad_requests);
        cr.failures++;
    }
    return cr.failures ? -EPROTO : 0;
}

typedef struct {
    uint16_t port;
    httpd_opts opts;
} serve_args;

static int serve_forever(void *arg, void **result)
{
    (void)result;
    serve_args *sa = arg;
    httpd *h;
    int rc = httpd_start(&h, "127.0.0.1", sa->port, handler, NULL, &sa->opts);
    if (rc) {
        fprintf(stderr, "http_server: cannot listen: %s\n", weft_strerror(rc));
        return rc;
    }
    printf("serving on http://127.0.0.1:%u/ (Ctrl+C to stop)\n", httpd_port(h));
    fflush(stdout);
    return weft_sleep(WEFT_FOREVER);
}

int main(int argc, char **argv)
{
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "--serve") == 0) {
        serve_args sa = { (uint16_t)atoi(argv[2]), HTTPD_OPTS_INIT };
        if (argc == 4) sa.opts.idle_timeout = (int64_t)(atof(argv[3]) * WEFT_SEC);
        return weft_run(serve_forever, &sa, NULL) == 0 ? 0 : 1;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--serve PORT [IDLE_SECONDS]]\n", argv[0]);
        return 2;
    }
    int rc = weft_run(self_test, NULL, NULL);
    if (rc) fprintf(stderr, "http_server: FAILED\n");
    return rc ? 1 : 0;
}
