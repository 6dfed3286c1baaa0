/* weft_stream: every call and its errors over socketpairs, pipes and loopback TCP, from a
 * plain thread (the peer on another thread), from a coroutine (the peer a coroutine on the
 * same loop) and from a thread's own context while its loop runs the peer as a coroutine
 * (principle 1); back-pressure, timeouts, cancellation, closing under a blocked read,
 * request/response without explicit drains, misuse, EPIPE without SIGPIPE, and a stress
 * run of many stream pairs on one loop and across two loops. */
#include "fault.h"
#include "net_check.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define T5 (5 * WEFT_SEC)   /* calls that must not wait long: a failure, never a hang */

/* A count (>= 0), or the error's name. */
#define CHECK_COUNT(expr) do { ssize_t c_ = (expr); if (c_ < 0) CHECK_RC((int)c_, 0); } while (0)

/* ---- links: two ends, each with a stream to read and a stream to write ------------------ */

typedef enum { T_SOCKPAIR, T_PIPE, T_TCP, T_COUNT } transport;
static const char *const tname[] = { "socketpair", "pipe", "tcp" };

typedef struct {
    weft_stream *rd, *wr;      /* one stream over a socket; two over a pair of pipes */
    weft_socket *sock;         /* the caller-owned socket (NULL for pipes) */
} end;

static void socket_end(end *e, weft_socket *s, const weft_stream_opts *o)
{
    e->sock = s;
    CHECK_OK(weft_stream_open(&e->rd, s, o));
    e->wr = e->rd;
}

/* a and b connected (a's writes are b's reads and the other way round). */
static void make_link(transport t, end *a, end *b, const weft_stream_opts *oa,
                      const weft_stream_opts *ob)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    switch (t) {
    case T_SOCKPAIR: {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        weft_socket *x, *y;
        CHECK_OK(weft_socket_adopt(&x, sv[0]));
        CHECK_OK(weft_socket_adopt(&y, sv[1]));
        socket_end(a, x, oa);
        socket_end(b, y, ob);
        break;
    }
    case T_PIPE: {
        int ab[2], ba[2];
        CHECK(pipe(ab) == 0);
        CHECK(pipe(ba) == 0);
        CHECK_OK(weft_stream_open_fd(&a->wr, ab[1], oa));
        CHECK_OK(weft_stream_open_fd(&b->rd, ab[0], ob));
        CHECK_OK(weft_stream_open_fd(&b->wr, ba[1], ob));
        CHECK_OK(weft_stream_open_fd(&a->rd, ba[0], oa));
        break;
    }
    case T_TCP: {
        weft_socket *l, *c, *s;
        CHECK_OK(weft_tcp_listen(&l, "127.0.0.1", 0, 0));
        weft_addr ad;
        CHECK_OK(weft_socket_local_addr(l, &ad));
        CHECK_OK(weft_tcp_connect(&c, "127.0.0.1", weft_addr_port(&ad), T5));
        CHECK_OK(weft_socket_accept(l, &s, NULL, T5));
        CHECK_OK(weft_socket_close(l));
        socket_end(a, c, oa);
        socket_end(b, s, ob);
        break;
    }
    default:
        CHECK(!"transport");
    }
}

/* Small kernel buffers, so that a writer meets back-pressure soon (TCP would otherwise
 * autotune to megabytes). */
static void small_buffers(end *e)
{
    int sz = 32 * 1024;
    if (e->sock) {
        int fd = weft_socket_fd(e->sock);
        CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
        CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    }
}

/* The end of what e sends: a socket shuts its sending side down, a pipe is closed. */
static void send_eof(end *e)
{
    if (e->sock) {
        CHECK_OK(weft_stream_write_eof(e->wr, T5));
    } else {
        CHECK_OK(weft_stream_close(e->wr, T5));
        e->wr = NULL;
    }
}

static void close_end(end *e)
{
    if (e->wr && e->wr != e->rd) CHECK_OK(weft_stream_close(e->wr, T5));
    CHECK_OK(weft_stream_close(e->rd, T5));
    if (e->sock) CHECK_OK(weft_socket_close(e->sock));
    memset(e, 0, sizeof *e);
}

/* ---- contexts ------------------------------------------------------------------------------ */

/* M_THREAD: the test body on the plain main thread, the peer on a thread of its own.
 * M_CORO: the body in a coroutine (weft_run), the peer a coroutine on the same loop.
 * M_MAIN_LOOP: the body on the main thread's own context, the peer a coroutine on the main
 * thread's loop (which runs while the body blocks). */
typedef enum { M_THREAD, M_CORO, M_MAIN_LOOP, M_COUNT } mode;
static const char *const mname[] = { "thread", "coroutine", "thread+loop" };

typedef struct {
    weft_thread *t;
    weft_future *f;
} peer;

static peer peer_start(mode m, weft_fn fn, void *arg)
{
    peer p = { NULL, NULL };
    if (m == M_THREAD) CHECK_OK(weft_thread_start(&p.t, NULL, fn, arg));
    else CHECK_OK(weft_spawn(&p.f, fn, arg));
    return p;
}

static void peer_join(peer p)
{
    if (p.t) {
        CHECK_OK(weft_thread_join(p.t, WEFT_FOREVER, NULL));
        weft_thread_release(p.t);
    } else {
        CHECK_OK(weft_future_result(p.f, WEFT_FOREVER, NULL));
        weft_future_release(p.f);
    }
}

typedef void (*body_fn)(transport t, mode m);

typedef struct {
    body_fn body;
    transport t;
    mode m;
} body_job;

static int body_in_coroutine(void *arg, void **result)
{
    (void)result;
    body_job *j = arg;
    j->body(j->t, j->m);
    return 0;
}

static void run_body(body_fn body, transport t, mode m)
{
    if (m == M_CORO) {
        body_job j = { body, t, m };
        CHECK_OK(weft_run(body_in_coroutine, &j, NULL));
    } else {
        body(t, m);
    }
    CHECK_EQ(weft_live_coroutines(), 0);
}

/* Every transport (or only the socket ones) in every context. */
static void each(body_fn body, bool sockets_only)
{
    for (int t = 0; t < T_COUNT; t++) {
        if (sockets_only && t == T_PIPE) continue;
        for (int m = 0; m < M_COUNT; m++) {
            int64_t t0 = weft_now();
            printf("    %-10s %-11s", tname[t], mname[m]);
            fflush(stdout);
            run_body(body, (transport)t, (mode)m);
            printf(" %8.1f ms\n", (double)(weft_now() - t0) / 1e6);
        }
    }
}

/* ---- a scripted peer: writes chunks (with pauses, optionally in small pieces), then
 * optionally ends its side; `sent` is set once everything was drained. ------------------- */

typedef struct {
    end *e;
    const char *const *chunks;     /* NUL-terminated strings, up to a NULL */
    size_t piece;                  /* > 0: send each chunk in pieces of 1..piece bytes */
    bool eof;
    weft_event *sent;
} script;

static int script_peer(void *arg, void **result)
{
    (void)result;
    script *s = arg;
    unsigned seed = 7, pieces = 0;
    for (int i = 0; s->chunks[i]; i++) {
        const char *c = s->chunks[i];
        size_t n = strlen(c), off = 0;
        do {
            size_t k = n - off;
            if (s->piece && k > 1) {
                size_t p = 1 + rnd(&seed) % s->piece;
                if (p < k) k = p;
            }
            CHECK_OK(weft_stream_write(s->e->wr, k ? c + off : NULL, k, T5));
            CHECK_OK(weft_stream_drain(s->e->wr, T5));
            CHECK_EQ(weft_stream_write_buffered(s->e->wr), 0);
            off += k;
            /* Let the reader see a partial record: a coroutine reader on this loop runs at
             * the yield, one on another thread now and then during the sleep. */
            CHECK_OK(weft_yield());
            if (++pieces % 16 == 1) CHECK_OK(weft_sleep(100 * 1000));
        } while (off < n);
    }
    if (s->eof) send_eof(s->e);
    if (s->sent) CHECK_OK(weft_event_set(s->sent));
    return 0;
}

static weft_event *new_event(void)
{
    weft_event *e;
    CHECK_OK(weft_event_create(&e));
    return e;
}

/* The byte at offset i of a long test stream. */
static inline unsigned char pattern(size_t i)
{
    return (unsigned char)(i + (i >> 8) * 3 + (i >> 16) * 7);
}

static void fill_pattern(unsigned char *p, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = pattern(off + i);
}

static void check_pattern(const unsigned char *p, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(off + i)) {
            fprintf(stderr, "byte %zu: %d, expected %d\n", off + i, p[i], pattern(off + i));
            CHECK(!"stream content");
        }
    }
}

/* ---- end of stream after a short read (net/socket.c + loop/poll.c) --------------------------
 * A coroutine's socket, once registered with its loop (edge-triggered), is marked "drained"
 * after a short read, and the next read waits for an edge first. When data and the peer's
 * end of stream (one EPOLLIN|EPOLLRDHUP edge) arrive together, the short read takes the data
 * and no further edge comes: the end must be remembered (weft__pollfd.hangup), or the next
 * recv waits for its whole timeout instead of returning 0. A regression test. */
static weft_socket *eof_a, *eof_b;

static int eof_reader(void *arg, void **result)
{
    (void)arg; (void)result;
    char buf[100];
    /* Waits: this registers eof_a with the loop. */
    CHECK_EQ(weft_socket_recv(eof_a, buf, sizeof buf, 0, T5), 5);     /* short: "drained" */
    CHECK_EQ(weft_socket_recv(eof_a, buf, sizeof buf, 0, T5), 0);     /* the end, at once */
    return 0;
}

static int eof_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, eof_reader, NULL));
    CHECK_OK(weft_yield());                          /* the reader parks in recv */
    CHECK_EQ(weft_socket_send(eof_b, "hello", 5, 0, 0), 5);
    CHECK_OK(weft_socket_shutdown(eof_b, SHUT_WR));  /* data and FIN: one edge */
    CHECK_OK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
    return 0;
}

static void test_socket_eof_after_short_read(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_OK(weft_socket_adopt(&eof_a, sv[0]));
    CHECK_OK(weft_socket_adopt(&eof_b, sv[1]));
    CHECK_OK(weft_run(eof_main, NULL, NULL));
    CHECK_OK(weft_socket_close(eof_a));
    CHECK_OK(weft_socket_close(eof_b));
}

/* ---- read ----------------------------------------------------------------------------- */

typedef struct {
    end *e;
    size_t total;
    size_t piece;
} bulk;

static int bulk_writer(void *arg, void **result)
{
    (void)result;
    bulk *b = arg;
    unsigned char *buf = malloc(b->piece);
    CHECK(buf != NULL);
    for (size_t off = 0; off < b->total;) {
        size_t k = b->total - off < b->piece ? b->total - off : b->piece;
        fill_pattern(buf, off, k);
        CHECK_OK(weft_stream_write(b->e->wr, buf, k, T5));
        off += k;
    }
    free(buf);
    send_eof(b->e);
    return 0;
}

static void body_read(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    char buf[64];
    /* Buffered bytes first: everything was sent before the first read. */
    static const char *const hello[] = { "hello world", NULL };
    script s = { &b, hello, 0, false, new_event() };
    peer p = peer_start(m, script_peer, &s);
    CHECK_OK(weft_event_wait(s.sent, T5));
    ssize_t r = weft_stream_read(a.rd, buf, 3, T5);
    CHECK_BETWEEN(r, 1, 3);
    if (t != T_TCP) {                       /* one recv takes what a local peer sent */
        CHECK_EQ(r, 3);
        CHECK_EQ(weft_stream_read_buffered(a.rd), 8);
    }
    size_t got = (size_t)r;
    while (got < 11) {
        r = weft_stream_read(a.rd, buf + got, 11 - got, T5);
        CHECK(r > 0);
        got += (size_t)r;
    }
    CHECK(memcmp(buf, "hello world", 11) == 0);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 0);
    CHECK_EQ(weft_stream_read(a.rd, buf, 0, T5), 0);
    CHECK_EQ(weft_stream_read(a.rd, NULL, 0, T5), 0);
    peer_join(p);
    weft_event_destroy(s.sent);

    /* Large reads (straight into the caller's memory) mixed with small ones, then EOF. */
    bulk w = { &b, 300 * 1000, 7000 };
    p = peer_start(m, bulk_writer, &w);
    unsigned char *big = malloc(100 * 1000);
    CHECK(big != NULL);
    size_t off = 0;
    for (int i = 0;; i++) {
        size_t want = i % 3 == 0 ? 5 : i % 3 == 1 ? 100 * 1000 : 20 * 1000;
        r = weft_stream_read(a.rd, big, want, T5);
        CHECK_COUNT(r);
        CHECK(r <= (ssize_t)want);
        if (r == 0) break;
        check_pattern(big, off, (size_t)r);
        off += (size_t)r;
    }
    CHECK_EQ(off, w.total);
    CHECK_EQ(weft_stream_read(a.rd, big, 10, T5), 0);        /* and at EOF it stays */
    CHECK_EQ(weft_stream_read(a.rd, big, 100 * 1000, 0), 0);
    free(big);
    peer_join(p);
    close_end(&a);
    close_end(&b);
}

static void test_read(void) { each(body_read, false); }

/* ---- read_exactly ---------------------------------------------------------------------- */

static void body_read_exactly(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    char buf[128];
    static const char *const digits[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
                                          "abcde", NULL };
    script s = { &b, digits, 0, true, NULL };
    peer p = peer_start(m, script_peer, &s);
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 10, T5));
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 0, T5));
    CHECK_OK(weft_stream_read_exactly(a.rd, NULL, 0, T5));
    /* The stream ends after 5 of the 8 bytes: they stay readable. */
    CHECK_RC(weft_stream_read_exactly(a.rd, buf, 8, T5), -ENODATA);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 5);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(weft_stream_read(a.rd, buf, sizeof buf, T5), 5);
    CHECK(memcmp(buf, "abcde", 5) == 0);
    CHECK_EQ(weft_stream_read(a.rd, buf, sizeof buf, T5), 0);
    CHECK_RC(weft_stream_read_exactly(a.rd, buf, 1, T5), -ENODATA);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 0);
    peer_join(p);
    close_end(&a);
    close_end(&b);

    /* Put back with bytes that were buffered before the call. */
    make_link(t, &a, &b, NULL, NULL);
    static const char *const eight[] = { "abcdefgh", NULL };
    script s2 = { &b, eight, 3, true, NULL };
    p = peer_start(m, script_peer, &s2);
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 2, T5));
    CHECK(memcmp(buf, "ab", 2) == 0);
    CHECK_RC(weft_stream_read_exactly(a.rd, buf, 100, T5), -ENODATA);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 6);
    CHECK_RC(weft_stream_read_exactly(a.rd, buf, 7, T5), -ENODATA);  /* still there */
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 6, T5));
    CHECK(memcmp(buf, "cdefgh", 6) == 0);
    CHECK_RC(weft_stream_read_exactly(a.rd, buf, 1, T5), -ENODATA);
    peer_join(p);
    close_end(&a);
    close_end(&b);

    /* A large exact read (several fills, beyond the initial buffer). */
    make_link(t, &a, &b, NULL, NULL);
    bulk w = { &b, 200 * 1000, 3000 };
    p = peer_start(m, bulk_writer, &w);
    unsigned char *big = malloc(w.total + 1);
    CHECK(big != NULL);
    CHECK_OK(weft_stream_read_exactly(a.rd, big, 7, T5));
    CHECK_OK(weft_stream_read_exactly(a.rd, big + 7, w.total - 7, T5));
    check_pattern(big, 0, w.total);
    CHECK_RC(weft_stream_read_exactly(a.rd, big, 1, T5), -ENODATA);
    free(big);
    peer_join(p);
    close_end(&a);
    close_end(&b);
}

static void test_read_exactly(void) { each(body_read_exactly, false); }

/* ---- readline ------------------------------------------------------------------------- */

static void expect_line(weft_stream *st, const char *want)
{
    const char *line = NULL;
    ssize_t n = weft_stream_readline(st, &line, T5);
    if (n != (ssize_t)strlen(want) || memcmp(line, want, strlen(want)) != 0) {
        fprintf(stderr, "readline: %zd (%s) \"%.*s\", expected \"%s\"\n", n,
                n < 0 ? weft_errname((int)n) : "", n > 0 ? (int)n : 0, n > 0 ? line : "",
                want);
        CHECK(!"readline");
    }
}

static void body_readline(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    static char longline[3001];
    for (int i = 0; i < 3000; i++) longline[i] = (char)('a' + i % 26);
    longline[2999] = '\n';
    static const char *const chunks[] = {
        "li", "ne o", "ne\nline", " two\n", "a\nb\nc\n", "", "\n", longline,
        "thr", "ee", NULL };
    script s = { &b, chunks, 0, true, NULL };
    peer p = peer_start(m, script_peer, &s);
    expect_line(a.rd, "line one\n");
    expect_line(a.rd, "line two\n");
    expect_line(a.rd, "a\n");                 /* three lines that came in one piece */
    expect_line(a.rd, "b\n");
    expect_line(a.rd, "c\n");
    expect_line(a.rd, "\n");
    expect_line(a.rd, longline);
    expect_line(a.rd, "three");               /* the last, unterminated line */
    const char *line = (const char *)1;
    CHECK_EQ(weft_stream_readline(a.rd, &line, T5), 0);
    CHECK_EQ(weft_stream_readline(a.rd, &line, T5), 0);
    CHECK_EQ(weft_stream_readline(a.rd, &line, 0), 0);
    peer_join(p);
    close_end(&a);
    close_end(&b);

    /* The same lines, sent a few bytes at a time. */
    make_link(t, &a, &b, NULL, NULL);
    script s2 = { &b, chunks, 5, true, NULL };
    p = peer_start(m, script_peer, &s2);
    expect_line(a.rd, "line one\n");
    expect_line(a.rd, "line two\n");
    expect_line(a.rd, "a\n");
    expect_line(a.rd, "b\n");
    expect_line(a.rd, "c\n");
    expect_line(a.rd, "\n");
    expect_line(a.rd, longline);
    expect_line(a.rd, "three");
    CHECK_EQ(weft_stream_readline(a.rd, &line, T5), 0);
    peer_join(p);
    close_end(&a);
    close_end(&b);

    /* max_line 16: a longer line is refused and stays buffered; exactly 16 is fine. */
    weft_stream_opts o = { .max_line = 16 };
    make_link(t, &a, &b, &o, NULL);
    static const char *const over[] = {
        "0123456789abcdefghijklmnopqrstuvwxyzABCD\nok\n", "fifteen-chars..\n",
        "0123456789abcdefghij", NULL };
    script s3 = { &b, over, 0, true, NULL };
    p = peer_start(m, script_peer, &s3);
    CHECK_RC((int)weft_stream_readline(a.rd, &line, T5), -EMSGSIZE);
    CHECK(weft_stream_read_buffered(a.rd) >= 16);
    CHECK_RC((int)weft_stream_readline(a.rd, &line, T5), -EMSGSIZE);    /* still refused */
    char buf[64];
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 41, T5));              /* still there */
    CHECK(memcmp(buf, over[0], 41) == 0);
    expect_line(a.rd, "ok\n");
    expect_line(a.rd, "fifteen-chars..\n");
    /* 20 bytes and then the end, without a '\n': too long as well. */
    CHECK_RC((int)weft_stream_readline(a.rd, &line, T5), -EMSGSIZE);
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 20, T5));
    CHECK_EQ(weft_stream_readline(a.rd, &line, T5), 0);
    peer_join(p);
    close_end(&a);
    close_end(&b);
}

static void test_readline(void) { each(body_readline, false); }

/* ---- read_until -------------------------------------------------------------------------- */

static void expect_record(weft_stream *st, const char *delim, const char *want)
{
    const char *rec = NULL;
    ssize_t n = weft_stream_read_until(st, delim, strlen(delim), &rec, T5);
    if (n != (ssize_t)strlen(want) || memcmp(rec, want, strlen(want)) != 0) {
        fprintf(stderr, "read_until: %zd (%s) \"%.*s\", expected \"%s\"\n", n,
                n < 0 ? weft_errname((int)n) : "", n > 0 ? (int)n : 0, n > 0 ? rec : "",
                want);
        CHECK(!"read_until");
    }
}

static void body_read_until(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    static const char *const chunks[] = {
        "HEAD", "ER\r", "\n\r", "\nBODY\r", "\n", "\r", "\nx\r\n\r\ny\r\n\r\n", "TA", "IL",
        NULL };
    script s = { &b, chunks, 0, true, NULL };
    peer p = peer_start(m, script_peer, &s);
    expect_record(a.rd, "\r\n\r\n", "HEADER\r\n\r\n");
    expect_record(a.rd, "\r\n\r\n", "BODY\r\n\r\n");
    expect_record(a.rd, "\r\n\r\n", "x\r\n\r\n");
    expect_record(a.rd, "\r\n\r\n", "y\r\n\r\n");
    const char *rec;
    /* The end comes in the middle of a record: it stays buffered. */
    CHECK_RC((int)weft_stream_read_until(a.rd, "\r\n\r\n", 4, &rec, T5), -ENODATA);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 4);
    CHECK_RC((int)weft_stream_read_until(a.rd, "\r\n\r\n", 4, &rec, T5), -ENODATA);
    char buf[16];
    CHECK_EQ(weft_stream_read(a.rd, buf, sizeof buf, T5), 4);
    CHECK(memcmp(buf, "TAIL", 4) == 0);
    CHECK_EQ(weft_stream_read_until(a.rd, "\r\n\r\n", 4, &rec, T5), 0);
    peer_join(p);
    close_end(&a);
    close_end(&b);

    /* The same, a byte or two at a time; a one-byte delimiter; max_line. */
    weft_stream_opts o = { .max_line = 12 };
    make_link(t, &a, &b, &o, NULL);
    static const char *const chunks2[] = {
        "HEADER\r\n\r\n", "a;bb;;", "twelve-byte;", "thirteen-byte;", NULL };
    script s2 = { &b, chunks2, 2, true, NULL };
    p = peer_start(m, script_peer, &s2);
    expect_record(a.rd, "\r\n\r\n", "HEADER\r\n\r\n");
    expect_record(a.rd, ";", "a;");
    expect_record(a.rd, ";", "bb;");
    expect_record(a.rd, ";", ";");
    expect_record(a.rd, ";", "twelve-byte;");
    CHECK_RC((int)weft_stream_read_until(a.rd, ";", 1, &rec, T5), -EMSGSIZE);
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 14, T5));
    CHECK(memcmp(buf, "thirteen-byte;", 14) == 0);
    CHECK_EQ(weft_stream_read_until(a.rd, ";", 1, &rec, T5), 0);
    peer_join(p);
    close_end(&a);
    close_end(&b);
}

static void test_read_until(void) { each(body_read_until, false); }

/* A search for one delimiter that found nothing must not hide another delimiter already
 * buffered from the next call. */
static void body_mixed_delimiters(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    static const char *const chunks[] = { "abc\ndef;ghi", NULL };
    script s = { &b, chunks, 0, false, new_event() };
    peer p = peer_start(m, script_peer, &s);
    CHECK_OK(weft_event_wait(s.sent, T5));
    const char *rec;
    CHECK_RC((int)weft_stream_read_until(a.rd, "XYZ", 3, &rec, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 11);
    CHECK_EQ(weft_stream_readline(a.rd, &rec, 0), 4);
    CHECK(memcmp(rec, "abc\n", 4) == 0);
    CHECK_EQ(weft_stream_read_until(a.rd, ";", 1, &rec, 0), 4);
    CHECK(memcmp(rec, "def;", 4) == 0);
    peer_join(p);
    weft_event_destroy(s.sent);
    close_end(&a);
    close_end(&b);
}

static void test_mixed_delimiters(void) { each(body_mixed_delimiters, true); }

/* ---- writing: back-pressure -------------------------------------------------------------- */

typedef struct {
    end *e;
    size_t total;
    _Atomic size_t received;
} slow;

static int slow_reader(void *arg, void **result)
{
    (void)result;
    slow *s = arg;
    unsigned char *buf = malloc(100 * 1000);
    CHECK(buf != NULL);
    unsigned seed = 3;
    size_t off = 0;
    for (;;) {
        CHECK_OK(weft_sleep(WEFT_MS));
        size_t want = 1 + rnd(&seed) % (100 * 1000);
        ssize_t r = weft_stream_read(s->e->rd, buf, want, T5);
        CHECK_COUNT(r);
        if (r == 0) break;
        check_pattern(buf, off, (size_t)r);
        off += (size_t)r;
        atomic_store(&s->received, off);
    }
    CHECK_EQ(off, s->total);
    free(buf);
    return 0;
}

static _Atomic int ticks;
static _Atomic bool stop_ticking;

static int ticker(void *arg, void **result)
{
    (void)arg; (void)result;
    while (!atomic_load(&stop_ticking) && weft_sleep(WEFT_MS) == 0) atomic_fetch_add(&ticks, 1);
    return 0;
}

static void body_back_pressure(transport t, mode m)
{
    const size_t high = 1024;
    weft_stream_opts o = { .write_high = high };
    end a, b;
    make_link(t, &a, &b, &o, NULL);
    small_buffers(&a);
    small_buffers(&b);
    slow s = { &b, slow_tools() ? 1000 * 1000 : 2 * 1000 * 1000, 0 };
    weft_future *tick = NULL;
    atomic_store(&stop_ticking, false);
    if (m != M_THREAD) CHECK_OK(weft_spawn(&tick, ticker, NULL));
    peer p = peer_start(m, slow_reader, &s);
    unsigned char *buf = malloc(3 * high);
    CHECK(buf != NULL);
    unsigned seed = 11;
    int ticks0 = atomic_load(&ticks);
    for (size_t off = 0; off < s.total;) {
        size_t k = 1 + rnd(&seed) % (3 * high);       /* below and above the mark */
        if (k > s.total - off) k = s.total - off;
        fill_pattern(buf, off, k);
        CHECK_OK(weft_stream_write(a.wr, buf, k, T5));
        CHECK(weft_stream_write_buffered(a.wr) < high);
        off += k;
    }
    CHECK_OK(weft_stream_drain(a.wr, T5));
    CHECK_EQ(weft_stream_write_buffered(a.wr), 0);
    /* The writer had to wait for the slow reader: nearly everything has been read by now
     * (at most the kernel's buffers, far below 512 KB, are still in flight). */
    CHECK(atomic_load(&s.received) + 512 * 1000 >= s.total);
    if (tick) CHECK(atomic_load(&ticks) > ticks0);   /* the loop kept running others */
    send_eof(&a);
    peer_join(p);
    CHECK_EQ(atomic_load(&s.received), s.total);
    if (tick) {
        atomic_store(&stop_ticking, true);
        CHECK_OK(weft_future_result(tick, T5, NULL));
        weft_future_release(tick);
    }
    free(buf);
    close_end(&a);
    close_end(&b);
}

static void test_back_pressure(void) { each(body_back_pressure, false); }

/* ---- write_eof: a half-close; the other direction keeps working ---------------------------- */

static int echo_then_close(void *arg, void **result)
{
    (void)result;
    end *e = arg;
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t r = weft_stream_read(e->rd, buf + got, sizeof buf - got, T5);
        CHECK_COUNT(r);
        if (r == 0) break;
        got += (size_t)r;
    }
    CHECK_EQ(got, 3);
    CHECK(memcmp(buf, "bye", 3) == 0);
    CHECK_OK(weft_stream_write(e->wr, "back", 4, T5));
    CHECK_OK(weft_stream_write_eof(e->wr, T5));
    return 0;
}

static void body_write_eof(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    peer p = peer_start(m, echo_then_close, &b);
    CHECK_OK(weft_stream_write(a.wr, "bye", 3, T5));
    CHECK_EQ(weft_stream_write_buffered(a.wr), 3);
    CHECK_OK(weft_stream_write_eof(a.wr, T5));
    CHECK_EQ(weft_stream_write_buffered(a.wr), 0);
    char buf[8];
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 4, T5));
    CHECK(memcmp(buf, "back", 4) == 0);
    CHECK_EQ(weft_stream_read(a.rd, buf, sizeof buf, T5), 0);
    /* Writing after our own EOF: the socket refuses. */
    CHECK_OK(weft_stream_write(a.wr, "late", 4, T5));
    CHECK_RC(weft_stream_drain(a.wr, T5), -EPIPE);
    CHECK_EQ(weft_stream_write_buffered(a.wr), 0);   /* dropped after the error */
    peer_join(p);
    close_end(&a);
    close_end(&b);
}

static void test_write_eof(void) { each(body_write_eof, true); }

/* ---- timeouts -------------------------------------------------------------------------- */

static void expect_timeout_near(int rc, int64_t t0, int64_t timeout)
{
    CHECK_RC(rc, -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, timeout - WEFT_MS, timeout + 3 * WEFT_SEC);
}

static void body_timeouts(transport t, mode m)
{
    (void)m;
    weft_stream_opts o = { .write_high = 1024 };
    end a, b;
    make_link(t, &a, &b, &o, NULL);
    small_buffers(&a);
    small_buffers(&b);
    const char *line;
    char buf[32];
    int64_t t0 = weft_now();
    expect_timeout_near((int)weft_stream_readline(a.rd, &line, 50 * WEFT_MS), t0, 50 * WEFT_MS);
    t0 = weft_now();
    expect_timeout_near((int)weft_stream_read(a.rd, buf, 1, 10 * WEFT_MS), t0, 10 * WEFT_MS);
    t0 = weft_now();
    expect_timeout_near((int)weft_stream_read(a.rd, buf, 1, 0), t0, 0);
    expect_timeout_near((int)weft_stream_readline(a.rd, &line, 0), t0, 0);
    t0 = weft_now();
    expect_timeout_near(weft_stream_read_exactly(a.rd, buf, 4, 10 * WEFT_MS), t0, 10 * WEFT_MS);
    t0 = weft_now();
    expect_timeout_near((int)weft_stream_read_until(a.rd, "--", 2, &line, 10 * WEFT_MS), t0,
                        10 * WEFT_MS);
    /* After a timeout, the stream goes on; a partial exact read is kept. */
    CHECK_OK(weft_stream_write(b.wr, "abc", 3, T5));
    CHECK_OK(weft_stream_drain(b.wr, T5));
    t0 = weft_now();
    expect_timeout_near(weft_stream_read_exactly(a.rd, buf, 10, 10 * WEFT_MS), t0, 10 * WEFT_MS);
    CHECK_EQ(weft_stream_read_buffered(a.rd), 3);
    CHECK_OK(weft_stream_write(b.wr, "defghij\nline\n", 13, T5));
    CHECK_OK(weft_stream_drain(b.wr, T5));
    CHECK_OK(weft_stream_read_exactly(a.rd, buf, 10, T5));
    CHECK(memcmp(buf, "abcdefghij", 10) == 0);
    expect_line(a.rd, "\n");
    expect_line(a.rd, "line\n");
    /* Buffered data needs no wait: a zero timeout is enough. */
    CHECK_OK(weft_stream_write(b.wr, "x\ny\n", 4, T5));
    CHECK_OK(weft_stream_drain(b.wr, T5));
    expect_line(a.rd, "x\n");
    if (t != T_TCP) CHECK_EQ(weft_stream_read_buffered(a.rd), 2);   /* one recv took both */
    if (weft_stream_read_buffered(a.rd) == 2) {
        CHECK_EQ(weft_stream_readline(a.rd, &line, 0), 2);
        CHECK(memcmp(line, "y\n", 2) == 0);
    } else {
        expect_line(a.rd, "y\n");
    }

    /* Writes: nobody reads b, so the kernel's buffers fill and a write times out; the
     * buffered bytes are dropped. Small writes (buffered) and large ones (sent directly). */
    char *chunk = calloc(1, 1000);
    CHECK(chunk != NULL);
    int rc = 0;
    for (int i = 0; i < 100000 && rc == 0; i++) rc = weft_stream_write(a.wr, chunk, 1000, 10 * WEFT_MS);
    CHECK_RC(rc, -ETIMEDOUT);
    CHECK_EQ(weft_stream_write_buffered(a.wr), 0);
    t0 = weft_now();
    char *huge = calloc(1, 4 * 1000 * 1000);
    CHECK(huge != NULL);
    expect_timeout_near(weft_stream_write(a.wr, huge, 4 * 1000 * 1000, 10 * WEFT_MS), t0,
                        10 * WEFT_MS);
    CHECK_OK(weft_stream_write(a.wr, chunk, 1000, 0));       /* buffered: below the mark */
    CHECK_EQ(weft_stream_write_buffered(a.wr), 1000);
    t0 = weft_now();
    expect_timeout_near(weft_stream_drain(a.wr, 10 * WEFT_MS), t0, 10 * WEFT_MS);
    CHECK_EQ(weft_stream_write_buffered(a.wr), 0);
    CHECK_OK(weft_stream_drain(a.wr, 0));                    /* nothing left to send */
    free(huge);
    free(chunk);
    close_end(&a);
    close_end(&b);
}

static void test_timeouts(void) { each(body_timeouts, false); }

/* ---- cancellation (coroutines) ------------------------------------------------------------ */

typedef struct {
    end *e;
    weft_event *gate;
    _Atomic int stage;
} canc;

static int cancelled_reader(void *arg, void **result)
{
    (void)result;
    canc *c = arg;
    const char *line;
    atomic_store(&c->stage, 1);
    ssize_t n = weft_stream_readline(c->e->rd, &line, WEFT_FOREVER);
    CHECK_RC((int)n, -ECANCELED);
    CHECK(weft_cancelled());
    /* Sticky: a read that would wait fails at once. */
    CHECK_RC((int)weft_stream_readline(c->e->rd, &line, WEFT_FOREVER), -ECANCELED);
    CHECK_RC((int)weft_stream_read(c->e->rd, (char[4]){ 0 }, 4, T5), -ECANCELED);
    /* What needs no wait still works: buffering, and sending into a socket with room. */
    CHECK_OK(weft_stream_write(c->e->wr, "bye\n", 4, T5));
    CHECK_OK(weft_stream_drain(c->e->wr, T5));
    atomic_store(&c->stage, 2);
    return -ECANCELED;
}

/* Cancelled while waiting on something else, with lines buffered: those still come (no
 * wait needed), the next one that would wait fails. */
static int cancelled_with_buffered_lines(void *arg, void **result)
{
    (void)result;
    canc *c = arg;
    expect_line(c->e->rd, "a\n");
    atomic_store(&c->stage, 1);
    CHECK_RC(weft_event_wait(c->gate, WEFT_FOREVER), -ECANCELED);
    const char *line;
    CHECK_EQ(weft_stream_readline(c->e->rd, &line, WEFT_FOREVER), 2);
    CHECK(memcmp(line, "b\n", 2) == 0);
    CHECK_RC((int)weft_stream_readline(c->e->rd, &line, WEFT_FOREVER), -ECANCELED);
    atomic_store(&c->stage, 2);
    return 0;
}

/* Cancelled while blocked by back-pressure. */
static int cancelled_writer(void *arg, void **result)
{
    (void)result;
    canc *c = arg;
    char *chunk = calloc(1, 4096);
    CHECK(chunk != NULL);
    atomic_store(&c->stage, 1);
    int rc;
    while ((rc = weft_stream_write(c->e->wr, chunk, 4096, WEFT_FOREVER)) == 0) {}
    free(chunk);
    CHECK_RC(rc, -ECANCELED);
    CHECK_EQ(weft_stream_write_buffered(c->e->wr), 0);
    atomic_store(&c->stage, 2);
    return 0;
}

static void wait_stage(canc *c, int stage)
{
    int64_t t0 = weft_now();
    while (atomic_load(&c->stage) < stage) {
        CHECK(weft_now() - t0 < T5);
        CHECK_OK(weft_sleep(WEFT_MS));
    }
}


static int cancel_main(void *arg, void **result)
{
    (void)result;
    transport t = *(transport *)arg;
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    canc c = { &a, NULL, 0 };
    weft_future *f;
    CHECK_OK(weft_spawn(&f, cancelled_reader, &c));
    wait_stage(&c, 1);
    CHECK_OK(weft_sleep(2 * WEFT_MS));
    CHECK(!weft_future_done(f));
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, T5, NULL), -ECANCELED);
    CHECK_EQ(atomic_load(&c.stage), 2);
    weft_future_release(f);
    expect_line(b.rd, "bye\n");
    /* The stream still works afterwards (for a context that is not cancelled). */
    CHECK_OK(weft_stream_write(b.wr, "after\n", 6, T5));
    CHECK_OK(weft_stream_drain(b.wr, T5));
    expect_line(a.rd, "after\n");

    /* Buffered lines complete in a cancelled coroutine (a local peer's two lines come in
     * one recv; TCP gives no such promise). */
    if (t != T_TCP) {
        canc c2 = { &a, new_event(), 0 };
        CHECK_OK(weft_stream_write(b.wr, "a\nb\n", 4, T5));
        CHECK_OK(weft_stream_drain(b.wr, T5));
        CHECK_OK(weft_spawn(&f, cancelled_with_buffered_lines, &c2));
        wait_stage(&c2, 1);
        CHECK_EQ(weft_stream_read_buffered(a.rd), 2);
        CHECK_OK(weft_future_cancel(f));
        CHECK_OK(weft_future_result(f, T5, NULL));
        CHECK_EQ(atomic_load(&c2.stage), 2);
        weft_future_release(f);
        weft_event_destroy(c2.gate);
    }
    close_end(&a);
    close_end(&b);

    /* A writer held up by back-pressure. */
    weft_stream_opts o = { .write_high = 1024 };
    make_link(t, &a, &b, &o, NULL);
    small_buffers(&a);
    small_buffers(&b);
    canc c3 = { &a, NULL, 0 };
    CHECK_OK(weft_spawn(&f, cancelled_writer, &c3));
    wait_stage(&c3, 1);
    CHECK_OK(weft_sleep(20 * WEFT_MS));
    CHECK(!weft_future_done(f));
    CHECK_OK(weft_future_cancel(f));
    CHECK_OK(weft_future_result(f, T5, NULL));
    CHECK_EQ(atomic_load(&c3.stage), 2);
    weft_future_release(f);
    close_end(&a);
    close_end(&b);
    return 0;
}

/* A coroutine on another thread's loop, blocked in readline, cancelled from this thread. */
typedef struct {
    end *e;
    _Atomic(weft_future *) f;
    canc c;
} remote;

static int remote_main(void *arg, void **result)
{
    (void)result;
    remote *r = arg;
    weft_future *f;
    CHECK_OK(weft_spawn(&f, cancelled_reader, &r->c));
    weft_future_retain(f);
    atomic_store(&r->f, f);
    CHECK_RC(weft_future_result(f, T5, NULL), -ECANCELED);
    weft_future_release(f);
    return 0;
}

static void test_cancel(void)
{
    for (int t = 0; t < T_COUNT; t++) CHECK_OK(weft_run(cancel_main, &t, NULL));

    end a, b;
    make_link(T_SOCKPAIR, &a, &b, NULL, NULL);
    remote r = { &a, NULL, { &a, NULL, 0 } };
    loop_job job = { remote_main, &r };
    uint32_t idle = socket_refs(a.sock);
    weft_thread *th = start_loop_thread(&job);
    wait_stage(&r.c, 1);
    wait_call_in_progress(a.sock, idle);
    while (!atomic_load(&r.f)) CHECK_OK(weft_sleep(WEFT_MS));
    CHECK_OK(weft_future_cancel(atomic_load(&r.f)));
    join_and_release(th);
    CHECK_EQ(atomic_load(&r.c.stage), 2);
    weft_future_release(atomic_load(&r.f));
    expect_line(b.rd, "bye\n");
    close_end(&a);
    close_end(&b);
}

/* The socket closed between two stream calls (as another thread may do at any moment): the
 * next call that needs the socket fails with -EBADF, buffered bytes stay readable, and the
 * stream closes cleanly (it held the socket: under ASan a free under it would show). */
static void test_close_between_calls(void)
{
    for (int t = 0; t < T_COUNT; t++) {
        if (t == T_PIPE) continue;                 /* one socket per end only */
        end a, b;
        make_link((transport)t, &a, &b, NULL, NULL);
        CHECK_OK(weft_stream_write(b.wr, "one\ntwo\nthr", 12, T5));
        CHECK_OK(weft_stream_drain(b.wr, T5));
        expect_line(a.rd, "one\n");              /* all 12 bytes are buffered now... */
        CHECK_OK(weft_socket_close(a.sock));
        a.sock = NULL;
        expect_line(a.rd, "two\n");              /* ...so this needs no socket */
        const char *line;
        CHECK_RC((int)weft_stream_readline(a.rd, &line, T5), -EBADF);   /* "thr" + more */
        CHECK_RC(weft_stream_write(a.wr, "x", 1, T5), 0);              /* buffered */
        CHECK_RC(weft_stream_drain(a.wr, T5), -EBADF);
        weft_stream *s2;
        CHECK_RC(weft_stream_open(&s2, weft_stream_socket(a.rd), NULL), -EBADF);
        close_end(&a);
        close_end(&b);
    }
}

/* ---- closing the socket under a blocked read ------------------------------------------------ */

static int blocked_reader(void *arg, void **result)
{
    (void)result;
    end *e = arg;
    const char *line;
    CHECK_RC((int)weft_stream_readline(e->rd, &line, T5), -EBADF);
    return 0;
}

static void body_close_while_reading(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);
    CHECK_OK(weft_stream_write(b.wr, "partial", 7, T5));     /* buffered, no newline */
    CHECK_OK(weft_stream_drain(b.wr, T5));
    uint32_t idle = socket_refs(a.sock);
    peer p = peer_start(m, blocked_reader, &a);
    wait_call_in_progress(a.sock, idle);
    int64_t t0 = weft_now();
    CHECK_OK(weft_socket_close(a.sock));
    peer_join(p);
    CHECK_BETWEEN(weft_now() - t0, 0, 2 * WEFT_SEC);
    a.sock = NULL;                             /* closed above */
    close_end(&a);                             /* the stream: nothing to drain */
    close_end(&b);
}

static void test_close_while_reading(void) { each(body_close_while_reading, true); }

/* ---- request/response without drains: reads send what is buffered first -------------------- */

static int responder(void *arg, void **result)
{
    (void)result;
    end *e = arg;
    char out[128];
    for (;;) {
        const char *line;
        ssize_t n = weft_stream_readline(e->rd, &line, T5);
        CHECK_COUNT(n);
        if (n == 0) break;
        CHECK(n < 100);
        memcpy(out, "re:", 3);
        memcpy(out + 3, line, (size_t)n);
        CHECK_OK(weft_stream_write(e->wr, out, (size_t)n + 3, T5));   /* no drain */
    }
    close_end(e);
    return 0;
}

static void body_request_response(transport t, mode m)
{
    end a, b;
    make_link(t, &a, &b, NULL, NULL);       /* default write_high: 64 KiB, never reached */
    peer p = peer_start(m, responder, &b);
    char req[64], want[80];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(req, sizeof req, "request %d\n", i);
        CHECK_OK(weft_stream_write(a.wr, req, (size_t)n, T5));
        CHECK_EQ(weft_stream_write_buffered(a.wr), n);
        snprintf(want, sizeof want, "re:%s", req);
        expect_line(a.rd, want);
    }
    CHECK_OK(weft_stream_write_eof(a.wr, T5));
    const char *line;
    CHECK_EQ(weft_stream_readline(a.rd, &line, T5), 0);
    peer_join(p);
    close_end(&a);
}

static void test_request_response(void) { each(body_request_response, true); }

/* ---- misuse ------------------------------------------------------------------------------- */

static void test_misuse(void)
{
    end a, b;
    make_link(T_SOCKPAIR, &a, &b, NULL, NULL);
    weft_stream *st = a.rd;
    const char *line;
    char buf[8];
    CHECK_RC(weft_stream_open(NULL, a.sock, NULL), -EINVAL);
    weft_stream *x = (weft_stream *)1;
    CHECK_RC(weft_stream_open(&x, NULL, NULL), -EINVAL);
    CHECK_RC(weft_stream_open_fd(NULL, 0, NULL), -EINVAL);
    CHECK_RC(weft_stream_open_fd(&x, -1, NULL), -EBADF);
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    close(fd);
    CHECK_RC(weft_stream_open_fd(&x, fd, NULL), -EBADF);
    CHECK_PTR(weft_stream_socket(st), a.sock);
    CHECK_PTR(weft_stream_socket(NULL), NULL);
    CHECK_EQ(weft_stream_read_buffered(NULL), 0);
    CHECK_EQ(weft_stream_write_buffered(NULL), 0);

    CHECK_RC((int)weft_stream_read(NULL, buf, 1, 0), -EINVAL);
    CHECK_RC((int)weft_stream_read(st, NULL, 1, 0), -EINVAL);
    CHECK_RC(weft_stream_read_exactly(NULL, buf, 1, 0), -EINVAL);
    CHECK_RC(weft_stream_read_exactly(st, NULL, 1, 0), -EINVAL);
    CHECK_RC((int)weft_stream_readline(NULL, &line, 0), -EINVAL);
    CHECK_RC((int)weft_stream_readline(st, NULL, 0), -EINVAL);
    CHECK_RC((int)weft_stream_read_until(NULL, "x", 1, &line, 0), -EINVAL);
    CHECK_RC((int)weft_stream_read_until(st, NULL, 1, &line, 0), -EINVAL);
    CHECK_RC((int)weft_stream_read_until(st, "x", 0, &line, 0), -EINVAL);
    CHECK_RC((int)weft_stream_read_until(st, "x", 1, NULL, 0), -EINVAL);
    CHECK_RC(weft_stream_write(NULL, "x", 1, 0), -EINVAL);
    CHECK_RC(weft_stream_write(st, NULL, 1, 0), -EINVAL);
    CHECK_OK(weft_stream_write(st, NULL, 0, 0));
    CHECK_OK(weft_stream_write(st, "", 0, 0));
    CHECK_RC(weft_stream_drain(NULL, 0), -EINVAL);
    CHECK_RC(weft_stream_write_eof(NULL, 0), -EINVAL);
    CHECK_OK(weft_stream_close(NULL, 0));

    /* Negative timeouts other than WEFT_FOREVER, with data buffered or not. */
    for (int round = 0; round < 2; round++) {
        CHECK_RC((int)weft_stream_read(st, buf, 1, -5), -EINVAL);
        CHECK_RC(weft_stream_read_exactly(st, buf, 1, -2), -EINVAL);
        CHECK_RC((int)weft_stream_readline(st, &line, -WEFT_SEC), -EINVAL);
        CHECK_RC((int)weft_stream_read_until(st, "x", 1, &line, -7), -EINVAL);
        CHECK_RC(weft_stream_write(st, "x", 1, -5), -EINVAL);
        CHECK_RC(weft_stream_drain(st, -5), -EINVAL);
        CHECK_RC(weft_stream_write_eof(st, -5), -EINVAL);
        CHECK_EQ(weft_stream_write_buffered(st), 0);
        CHECK_OK(weft_stream_write(b.wr, "x\nyz", 4, T5));
        CHECK_OK(weft_stream_drain(b.wr, T5));
        CHECK_EQ(weft_stream_read(st, buf, 1, T5), 1);   /* now some is buffered */
    }
    /* Nothing was consumed by the refused calls. */
    CHECK_OK(weft_stream_read_exactly(st, buf, 6, T5));
    CHECK(memcmp(buf, "yzx\nyz", 6) == 0);
    /* WEFT_FOREVER is accepted. */
    CHECK_OK(weft_stream_write(st, "z\n", 2, WEFT_FOREVER));
    CHECK_OK(weft_stream_drain(st, WEFT_FOREVER));
    expect_line(b.rd, "z\n");
    /* close with a bad timeout: refused drain, but the stream is freed (ASan, Valgrind). */
    CHECK_OK(weft_stream_write(st, "q", 1, T5));
    CHECK_RC(weft_stream_close(st, -3), -EINVAL);
    a.rd = a.wr = NULL;
    CHECK_OK(weft_socket_close(a.sock));
    a.sock = NULL;
    close_end(&b);

    /* open_fd's errors leave the descriptor to the caller. */
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_RC(weft_stream_open_fd(NULL, p[0], NULL), -EINVAL);
    CHECK(fcntl(p[0], F_GETFD) >= 0);
    close(p[0]);
    close(p[1]);
}

/* Allocation failures: clean -ENOMEM; open_fd leaves the descriptor open. */
static int alloc_fd = -1;

static int open_fd_op(void)
{
    weft_stream *st;
    int rc = weft_stream_open_fd(&st, alloc_fd, NULL);
    if (rc) {
        CHECK(fcntl(alloc_fd, F_GETFD) >= 0);
        return rc;
    }
    int p[2];
    CHECK(pipe(p) == 0);                   /* alloc_fd goes with the stream: a new one */
    close(p[1]);
    CHECK_OK(weft_stream_close(st, 0));
    alloc_fd = p[0];
    return 0;
}

static void test_alloc_failures(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[1]);
    alloc_fd = p[0];
    CHECK(fail_each_allocation(open_fd_op) >= 1);
    close(alloc_fd);
}

/* ---- EPIPE instead of SIGPIPE ------------------------------------------------------------ */

static void test_epipe(void)
{
    /* As if nobody had touched SIGPIPE yet: the default disposition kills. */
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    CHECK(sigaction(SIGPIPE, &dfl, &old) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    weft_stream *st;
    CHECK_OK(weft_stream_open_fd(&st, p[1], NULL));
    CHECK_OK(weft_stream_write(st, "x", 1, T5));               /* buffered */
    CHECK_RC(weft_stream_drain(st, T5), -EPIPE);
    CHECK_EQ(weft_stream_write_buffered(st), 0);
    char *big = calloc(1, 100 * 1000);
    CHECK(big != NULL);
    CHECK_RC(weft_stream_write(st, big, 100 * 1000, T5), -EPIPE);   /* sent directly */
    CHECK_OK(weft_stream_write(st, "y", 1, T5));
    CHECK_RC(weft_stream_close(st, T5), -EPIPE);
    CHECK(sigaction(SIGPIPE, &old, NULL) == 0);

    /* Sockets: the peer has gone. */
    for (int t = 0; t < T_COUNT; t++) {
        if (t == T_PIPE) continue;
        end a, b;
        make_link((transport)t, &a, &b, NULL, NULL);
        close_end(&b);
        int rc = 0;
        for (int i = 0; i < 100 && rc == 0; i++) {     /* TCP: the first may still go out */
            CHECK_OK(weft_stream_write(a.wr, big, 1000, T5));
            rc = weft_stream_drain(a.wr, T5);
            if (rc == 0) CHECK_OK(weft_sleep(WEFT_MS));
        }
        CHECK(rc == -EPIPE || rc == -ECONNRESET);
        close_end(&a);
    }
    free(big);
}

/* ---- stress: many stream pairs, random lines, checked for loss, duplication, order --------- */

typedef struct {
    end a, b;
    unsigned seed;         /* the content, shared by writer and reader */
    int lines;
} spair;

/* Line i of a pair: "<i> <len> <len random chars>\n". */
static size_t make_line(char *out, unsigned *seed, int i)
{
    size_t len = rnd(seed) % 4 == 0 ? rnd(seed) % 3000 : rnd(seed) % 60;
    int h = sprintf(out, "%d %zu ", i, len);
    for (size_t k = 0; k < len; k++) {
        static const char cs[] = "abcdefghijklmnopqrstuvwxyz0123456789 ;,.-_=+*/";
        out[h + k] = cs[rnd(seed) % (sizeof cs - 1)];
    }
    out[h + len] = '\n';
    return (size_t)h + len + 1;
}

static int stress_writer(void *arg, void **result)
{
    (void)result;
    spair *sp = arg;
    unsigned seed = sp->seed, split = sp->seed ^ 0x5555u;
    char *line = malloc(4096);
    CHECK(line != NULL);
    for (int i = 0; i < sp->lines; i++) {
        size_t n = make_line(line, &seed, i);
        for (size_t off = 0; off < n;) {
            size_t k = 1 + rnd(&split) % (n - off);
            CHECK_OK(weft_stream_write(sp->a.wr, line + off, k, T5));
            off += k;
        }
        unsigned r = rnd(&split) % 16;
        if (r == 0) CHECK_OK(weft_stream_drain(sp->a.wr, T5));
        else if (r == 1) CHECK_OK(weft_yield());
    }
    free(line);
    CHECK_OK(weft_stream_write_eof(sp->a.wr, T5));
    return 0;
}

static int stress_reader(void *arg, void **result)
{
    (void)result;
    spair *sp = arg;
    unsigned seed = sp->seed, how = sp->seed ^ 0xaaaau;
    char *want = malloc(4096);
    CHECK(want != NULL);
    for (int i = 0;; i++) {
        const char *line;
        ssize_t n = rnd(&how) % 2 ? weft_stream_readline(sp->b.rd, &line, T5)
                                  : weft_stream_read_until(sp->b.rd, "\n", 1, &line, T5);
        CHECK_COUNT(n);
        if (n == 0) {
            CHECK_EQ(i, sp->lines);
            break;
        }
        CHECK(i < sp->lines);
        size_t m = make_line(want, &seed, i);
        if ((size_t)n != m || memcmp(line, want, m) != 0) {
            fprintf(stderr, "pair %u line %d: got \"%.*s\"\n", sp->seed, i,
                    (int)(n < 80 ? n : 80), line);
            CHECK(!"stress line");
        }
    }
    free(want);
    return 0;
}

static spair *stress_pairs(int n, int lines)
{
    spair *sp = calloc((size_t)n, sizeof *sp);
    CHECK(sp != NULL);
    for (int i = 0; i < n; i++) {
        static const size_t highs[] = { 1, 64, 4096, 0 };
        weft_stream_opts wo = { .write_high = highs[i % 4] };
        weft_stream_opts ro = { .max_line = i % 2 ? 4096 : 0 };
        make_link(T_SOCKPAIR, &sp[i].a, &sp[i].b, &wo, &ro);
        sp[i].seed = 1000u + (unsigned)i;
        sp[i].lines = lines;
    }
    return sp;
}

static void stress_free(spair *sp, int n)
{
    for (int i = 0; i < n; i++) {
        close_end(&sp[i].a);
        close_end(&sp[i].b);
    }
    free(sp);
}

typedef struct {
    spair *sp;
    int n;
    weft_fn fn;
} stress_job;

static int stress_side(void *arg, void **result)
{
    (void)result;
    stress_job *j = arg;
    weft_future **f = calloc((size_t)j->n, sizeof *f);
    CHECK(f != NULL);
    for (int i = 0; i < j->n; i++) CHECK_OK(weft_spawn(&f[i], j->fn, &j->sp[i]));
    for (int i = 0; i < j->n; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    free(f);
    return 0;
}

static int stress_one_loop(void *arg, void **result)
{
    (void)result;
    stress_job *j = arg;
    stress_job w = { j->sp, j->n, stress_writer }, r = { j->sp, j->n, stress_reader };
    weft_future *fw, *fr;
    CHECK_OK(weft_spawn(&fw, stress_side, &w));
    CHECK_OK(weft_spawn(&fr, stress_side, &r));
    CHECK_OK(weft_future_result(fw, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(fr, WEFT_FOREVER, NULL));
    weft_future_release(fw);
    weft_future_release(fr);
    return 0;
}

static void test_stress(void)
{
    int n = 50, lines = slow_tools() ? 40 : 300;
    /* One loop: 50 writers and 50 readers. */
    spair *sp = stress_pairs(n, lines);
    stress_job j = { sp, n, NULL };
    CHECK_OK(weft_run(stress_one_loop, &j, NULL));
    stress_free(sp, n);
    /* Two loops: writers on one thread, readers on another. */
    n = 20;
    sp = stress_pairs(n, lines);
    stress_job w = { sp, n, stress_writer }, r = { sp, n, stress_reader };
    loop_job lw = { stress_side, &w }, lr = { stress_side, &r };
    weft_thread *tw = start_loop_thread(&lw), *tr = start_loop_thread(&lr);
    join_and_release(tw);
    join_and_release(tr);
    stress_free(sp, n);
}

int main(void)
{
    RUN(test_socket_eof_after_short_read);
    RUN(test_misuse);
    RUN(test_alloc_failures);
    RUN(test_read);
    RUN(test_read_exactly);
    RUN(test_readline);
    RUN(test_read_until);
    RUN(test_mixed_delimiters);
    RUN(test_back_pressure);
    RUN(test_write_eof);
    RUN(test_timeouts);
    RUN(test_cancel);
    RUN(test_close_while_reading);
    RUN(test_close_between_calls);
    RUN(test_request_response);
    RUN(test_epipe);
    RUN(test_stress);
    return check_done();
}
