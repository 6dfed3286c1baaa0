/* httpd_check.c — httpd.c as a careful client sees it: exact bytes over 127.0.0.1.
 *
 * Not a seed example (make demo does not run it) but a test of the 'examples' suite. The
 * server runs on the main thread's loop with short limits (idle 300 ms, request 1 s, body
 * 1,000 bytes); the client is a thread of its own that uses plain POSIX sockets — no
 * weft, no HTTP library: it sends the bytes written here and reads the bytes that come
 * back. Each check prints a line; the program exits 0 if all passed.
 *
 * Checked: unknown versions get 505 and HTTP/0.9 gets 400, at once (no waiting for headers
 * a 0.9 client never sends); "Expect: 100-continue" gets "100 Continue" before the body is
 * sent, another expectation 417; an oversized body gets 413 from its Content-Length alone,
 * and a client that sends it anyway reads the 413 with no reset and no failed send; idle
 * connections are closed after the idle timeout, a request that stalls gets 408; long
 * targets 414; and the ordinary cases still work (keep-alive, pipelining, HTTP/1.0).
 */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IDLE_MS 300
#define REQUEST_MS 1000
#define BODY_MAX 1000
#define RECV_TIMEOUT_S 5              /* a reply that does not come fails the check */

/* ---- the server ------------------------------------------------------------------------ */

static int handler(const httpd_request *rq, httpd_response *rs, void *arg)
{
    (void)arg;
    static const char hello[] = "hello\n";
    if (strcmp(rq->target, "/echo") == 0) {
        rs->body = rq->body;
        rs->body_len = rq->body_len;
    } else if (strcmp(rq->target, "/") == 0) {
        rs->body = hello;
        rs->body_len = sizeof hello - 1;
    } else {
        rs->status = 404;
    }
    return 0;
}

/* ---- a raw client ---------------------------------------------------------------------- */

static uint16_t port;
static int failures;

typedef struct {
    int fd;
    char buf[64 * 1024];              /* received, not yet consumed */
    size_t len;
    int err;                          /* the last recv error (errno), 0 if none */
} peer;

static peer *dial(void)
{
    peer *p = calloc(1, sizeof *p);
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { RECV_TIMEOUT_S, 0 };
    setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(p->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    return p;
}

static void hang_up(peer *p)
{
    close(p->fd);
    free(p);
}

/* Sends all of s; false if a send failed (the server reset the connection, say). */
static bool send_bytes(peer *p, const char *s, size_t n)
{
    while (n) {
        ssize_t r = send(p->fd, s, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return false;
        s += r;
        n -= (size_t)r;
    }
    return true;
}

static bool send_str(peer *p, const char *s)
{
    return send_bytes(p, s, strlen(s));
}

/* One recv into the buffer: > 0 bytes, 0 at the end, < 0 on an error or the timeout. */
static ssize_t more(peer *p)
{
    if (p->len == sizeof p->buf) return -1;
    ssize_t r;
    do r = recv(p->fd, p->buf + p->len, sizeof p->buf - p->len, 0);
    while (r < 0 && errno == EINTR);
    p->err = r < 0 ? errno : 0;
    if (r > 0) p->len += (size_t)r;
    return r;
}

/* Reads one response: its head (through the blank line) and its Content-Length body.
 * Returns the status (-1: none came, or not HTTP/1.1) and copies the whole response,
 * NUL-terminated, into out (cap bytes at most). */
static int response(peer *p, char *out, size_t cap)
{
    char *end;
    while (!(end = memmem(p->buf, p->len, "\r\n\r\n", 4)))
        if (more(p) <= 0) return -1;
    size_t head = (size_t)(end - p->buf) + 4;
    size_t clen = 0;
    char *cl = memmem(p->buf, head, "\r\nContent-Length: ", 18);
    if (cl) clen = strtoul(cl + 18, NULL, 10);
    while (p->len < head + clen)
        if (more(p) <= 0) return -1;
    size_t n = head + clen;
    size_t c = n < cap ? n : cap - 1;
    memcpy(out, p->buf, c);
    out[c] = '\0';
    memmove(p->buf, p->buf + n, p->len - n);
    p->len -= n;
    if (strncmp(out, "HTTP/1.1 ", 9) != 0) return -1;
    return atoi(out + 9);
}

/* Waits for the server to close: true if it did (the end of the stream, after nothing
 * more than what is already buffered), false on a reset, more bytes, or the timeout. */
static bool closed_by_server(peer *p)
{
    size_t had = p->len;
    ssize_t r;
    while ((r = more(p)) > 0) {}
    return r == 0 && p->len == had;
}

static double ms_since(int64_t t0)
{
    return (double)(weft_now() - t0) / WEFT_MS;
}

static void check(bool ok, const char *what, const char *got)
{
    printf("%-64s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) {
        failures++;
        fprintf(stderr, "  got: %s\n", got && *got ? got : "(nothing)");
    }
    fflush(stdout);
}

static bool has(const char *resp, const char *s)
{
    return strstr(resp, s) != NULL;
}

/* ---- the checks ------------------------------------------------------------------------ */

/* A request refused with `status`: answered with Connection: close, then closed. */
static void refused(const char *what, const char *req, int status)
{
    peer *p = dial();
    char r[4096] = "";
    int64_t t0 = weft_now();
    send_str(p, req);
    int st = response(p, r, sizeof r);
    double ms = ms_since(t0);
    char name[128];
    snprintf(name, sizeof name, "%s: %d, then close (%.0f ms)", what, status, ms);
    check(st == status && has(r, "Connection: close\r\n") && closed_by_server(p), name, r);
    hang_up(p);
}

static void versions(void)
{
    refused("HTTP/9.9", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505);
    refused("HTTP/2.0 (as a request line)", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    refused("HTTP/0.9 explicitly", "GET / HTTP/0.9\r\n\r\n", 505);
    /* A real HTTP/0.9 request: one line, no version, nothing after it. */
    refused("HTTP/0.9 request line (no version, no headers)", "GET /\r\n", 400);

    /* HTTP/1.2 is read as 1.1 (same major version): answered, and kept alive. */
    peer *p = dial();
    char r[4096] = "";
    send_str(p, "GET / HTTP/1.2\r\nHost: x\r\n\r\n");
    int st = response(p, r, sizeof r);
    check(st == 200 && !has(r, "Connection:") && has(r, "\r\n\r\nhello\n"),
          "HTTP/1.2: 200 in HTTP/1.1, kept alive", r);
    hang_up(p);

    /* HTTP/1.0: answered, then closed (it did not ask for keep-alive). */
    p = dial();
    send_str(p, "GET / HTTP/1.0\r\n\r\n");
    st = response(p, r, sizeof r);
    check(st == 200 && has(r, "Connection: close\r\n") && closed_by_server(p),
          "HTTP/1.0: 200, then close", r);
    hang_up(p);
}

static void expect_continue(void)
{
    /* The client sends the head only, and waits for 100 before sending the body. */
    peer *p = dial();
    char r[4096] = "";
    send_str(p, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\n\r\n");
    int st = response(p, r, sizeof r);
    check(st == 100 && strcmp(r, "HTTP/1.1 100 Continue\r\n\r\n") == 0,
          "Expect: 100-continue: 100 Continue before the body", r);
    send_str(p, "hello");
    st = response(p, r, sizeof r);
    check(st == 200 && has(r, "\r\n\r\nhello") && !has(r, "Connection: close"),
          "... then the body, echoed (200), connection kept", r);
    send_str(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    st = response(p, r, sizeof r);
    check(st == 200 && has(r, "\r\n\r\nhello\n"), "... and the next request on it", r);
    hang_up(p);

    /* Case-insensitive, and with no body nothing to continue: the answer comes at once. */
    p = dial();
    send_str(p, "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n");
    st = response(p, r, sizeof r);
    check(st == 200, "Expect: 100-Continue without a body: the answer, no 100", r);
    hang_up(p);

    /* An HTTP/1.0 client cannot take a 100 (RFC 9110 §10.1.1: ignore the expectation). */
    p = dial();
    send_str(p, "POST /echo HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
    st = response(p, r, sizeof r);
    check(st == 200 && has(r, "\r\n\r\nhi"), "HTTP/1.0 with Expect: 100-continue: no 100", r);
    hang_up(p);

    refused("Expect: tea (another expectation)",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: tea\r\n\r\n", 417);
    refused("Expect: 100-continue, tea (a list)", "POST /echo HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 5\r\nExpect: 100-continue, tea\r\n\r\n", 417);
    /* Too large: 413 instead of 100 (the client need not send the body at all). */
    refused("Expect: 100-continue with a body too large",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
            "Expect: 100-continue\r\n\r\n", 413);
}

static void too_large(void)
{
    /* The head alone says the body is too large: the answer must not wait for it. */
    refused("Content-Length over the limit, body not sent",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413);

    /* A client that sends the body anyway, without waiting for an answer (as most do):
     * every byte of it is taken (no failed send), and the 413 is read intact (no reset). */
    peer *p = dial();
    static char body[4 << 20];
    memset(body, 'x', sizeof body);
    char head[256];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             sizeof body);
    bool sent = send_str(p, head) && send_bytes(p, body, sizeof body);
    char r[4096] = "";
    int st = response(p, r, sizeof r);
    char what[128];
    snprintf(what, sizeof what, "a %zu MB body sent anyway: all sent, 413 read, no reset",
             sizeof body >> 20);
    check(sent && st == 413 && closed_by_server(p), what, r);
    hang_up(p);

    /* A chunked body gives no size in advance: refused as soon as it passes the limit. */
    p = dial();
    send_str(p, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "7d0\r\n");                       /* 2,000 bytes announced... */
    char chunk[1200];
    memset(chunk, 'y', sizeof chunk);
    send_bytes(p, chunk, sizeof chunk);           /* ...and 1,200 sent: past the limit */
    st = response(p, r, sizeof r);
    check(st == 413 && closed_by_server(p), "chunked body over the limit: 413 before its end",
          r);
    hang_up(p);

    /* Within the limit: served. */
    p = dial();
    send_str(p, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    char ok[1000];
    memset(ok, 'z', sizeof ok);
    send_bytes(p, ok, sizeof ok);
    st = response(p, r, sizeof r);
    check(st == 200 && has(r, "Content-Length: 1000\r\n"), "a body of exactly the limit: 200", r);
    hang_up(p);
}

static void timeouts(void)
{
    /* Kept alive after a request, then idle: closed after the idle timeout. */
    peer *p = dial();
    char r[4096] = "";
    send_str(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    int st = response(p, r, sizeof r);
    int64_t t0 = weft_now();
    bool closed = closed_by_server(p);
    double ms = ms_since(t0);
    char what[128];
    snprintf(what, sizeof what, "idle after a request: closed after %.0f ms (idle %d ms)", ms,
             IDLE_MS);
    check(st == 200 && closed && ms >= IDLE_MS / 2 && ms < 4000, what, r);
    hang_up(p);

    /* Connected and silent from the start: closed too, without a word. */
    p = dial();
    t0 = weft_now();
    closed = closed_by_server(p);
    ms = ms_since(t0);
    snprintf(what, sizeof what, "silent from the start: closed after %.0f ms", ms);
    check(closed && p->len == 0 && ms >= IDLE_MS / 2 && ms < 4000, what, NULL);
    hang_up(p);

    /* Empty lines (which begin no request) a third of the idle timeout apart: they do not
     * keep the connection open, it is closed on time all the same. */
    p = dial();
    t0 = weft_now();
    closed = false;
    for (int i = 0; i < 30 && !closed; i++) {           /* 3 s of empty lines */
        usleep(IDLE_MS / 3 * 1000);
        char b;
        ssize_t r = recv(p->fd, &b, 1, MSG_DONTWAIT);   /* the end (0), or a reset */
        closed = r == 0 || (r < 0 && errno != EAGAIN) || !send_str(p, "\r\n");
    }
    ms = ms_since(t0);
    snprintf(what, sizeof what, "empty lines every %d ms: closed after %.0f ms all the same",
             IDLE_MS / 3, ms);
    check(closed && ms < 2000, what, NULL);
    hang_up(p);

    /* A request that stops half-way: 408 after the request timeout, then closed. */
    p = dial();
    t0 = weft_now();
    send_str(p, "GET / HTTP/1.1\r\nHost: x\r\n");
    st = response(p, r, sizeof r);
    ms = ms_since(t0);
    snprintf(what, sizeof what, "a request that stalls: 408 after %.0f ms (request %d ms)",
             ms, REQUEST_MS);
    check(st == 408 && ms >= REQUEST_MS / 2 && ms < 5000 && closed_by_server(p), what, r);
    hang_up(p);
}

static void ordinary(void)
{
    /* Two requests in one send: two answers, in order. */
    peer *p = dial();
    char r[4096] = "", r2[4096] = "";
    send_str(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    int st = response(p, r, sizeof r);
    int st2 = response(p, r2, sizeof r2);
    check(st == 200 && has(r, "\r\n\r\nhello\n") && st2 == 200 && has(r2, "\r\n\r\nabc"),
          "two pipelined requests: two answers in order", r2);
    hang_up(p);

    /* A target longer than the limit: 414 as soon as it is too long. */
    p = dial();
    static char req[8192];
    memcpy(req, "GET /", 5);
    memset(req + 5, 'a', 5000);
    req[5005] = '\0';                             /* the line is not even finished */
    send_str(p, req);
    st = response(p, r, sizeof r);
    check(st == 414 && closed_by_server(p), "a 5,000-byte target, line unfinished: 414", r);
    hang_up(p);

    refused("garbage", "\x01\x02 hello\r\n\r\n", 400);
}

static int client_main(void *arg, void **result)
{
    (void)arg; (void)result;
    versions();
    expect_continue();
    too_large();
    timeouts();
    ordinary();
    return 0;
}

static int self_test(void *arg, void **result)
{
    (void)arg; (void)result;
    httpd_opts o = HTTPD_OPTS_INIT;
    o.idle_timeout = IDLE_MS * WEFT_MS;
    o.request_timeout = REQUEST_MS * WEFT_MS;
    o.body_max = BODY_MAX;
    httpd *h;
    int rc = httpd_start(&h, "127.0.0.1", 0, handler, NULL, &o);
    if (rc) {
        fprintf(stderr, "httpd_check: cannot listen: %s\n", weft_strerror(rc));
        return rc;
    }
    port = httpd_port(h);
    /* The client's thread blocks in POSIX calls; this coroutine waits for it in a weft
     * call, so the loop serves meanwhile. A daemon: should it hang, we can still exit. */
    weft_thread *t;
    weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
    to.name = "raw client";
    to.daemon = true;
    rc = weft_thread_start(&t, &to, client_main, NULL);
    if (rc == 0) {
        rc = weft_thread_join(t, 120 * WEFT_SEC, NULL);
        weft_thread_release(t);
    }
    httpd_stats st;
    httpd_get_stats(h, &st);
    httpd_close(h, WEFT_SEC);
    printf("server: %llu requests on %llu connections, %d refused, %d timed out\n",
           (unsigned long long)st.requests, (unsigned long long)st.connections,
           st.bad_requests, st.timeouts);
    if (rc) fprintf(stderr, "httpd_check: the client thread: %s\n", weft_strerror(rc));
    return rc ? rc : failures ? -EPROTO : 0;
}

int main(void)
{
    int rc = weft_run(self_test, NULL, NULL);
    if (rc) fprintf(stderr, "httpd_check: FAILED (%d checks)\n", failures);
    return rc ? 1 : 0;
}
