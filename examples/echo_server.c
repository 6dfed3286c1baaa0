/* echo_server.c — a line echo server on streams, and a thousand clients at once.
 *
 * The server is weft_tcp_server plus one small function: for each connection, read a line
 * (weft_stream_readline), write it back (weft_stream_write), and send what is buffered
 * (weft_stream_drain) once no further line is already waiting — a client that sent
 * several lines in one go gets them back in one send. asyncio's echo server with
 * StreamReader / StreamWriter is the same program.
 *
 * Run as `echo_server --serve PORT` it serves on 127.0.0.1:PORT until killed (try
 * `nc 127.0.0.1 PORT`). Run without arguments (the test) it serves on a free port on the
 * main thread's loop and starts 1,000 client coroutines on another thread's loop
 * (`echo_server N`: N clients). Each client
 *   1. connects and has a first line echoed: the server now runs a coroutine for it;
 *   2. waits until every client has got that far: 1,000 connections are open at once;
 *   3. sends 8 lines of distinct content (any byte but '\n', up to 1,500 bytes each):
 *      the first 4 one at a time, each echo read before the next line goes, the other 4
 *      in one go before reading their echoes (they reach the server together, and its
 *      readline hands them out one by one); every byte echoed is compared;
 *   4. closes its sending side and sees the server close too.
 * Then one more client sends a line longer than the server accepts (64 KiB): the server
 * must tell it so before it closes, and close without a reset.
 *
 * Exits 0 if every client got every byte back, the server saw all the connections open at
 * the same moment, and the client with the long line read the server's message.
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define DEFAULT_CLIENTS 1000
#define LINES 8
#define LINE_MAX_BYTES 1500
#define TIMEOUT (30 * WEFT_SEC)
#define SERVER_MAX_LINE 65536            /* a longer line ends its connection, with a word */

/* ---- the server ------------------------------------------------------------------------ */

static int open_now, open_max;          /* the server's thread only */

/* A line over SERVER_MAX_LINE: says so, then ends the connection in stages — ends our
 * sending side (the client reads the message, then the end), and reads and drops what the
 * client still sends until it closes, falls quiet for a second, or five have passed.
 * Closing at once, with its line unread, would send a reset: the client's writes would
 * fail and it might never read why. */
static void refuse_long_line(weft_stream *st)
{
    char msg[80];
    int n = snprintf(msg, sizeof msg, "error: line longer than %d bytes; closing\n",
                     SERVER_MAX_LINE);
    if (weft_stream_write(st, msg, (size_t)n, TIMEOUT) || weft_stream_write_eof(st, TIMEOUT))
        return;
    int64_t until = weft_now() + 5 * WEFT_SEC;
    char sink[4096];
    for (int64_t now; (now = weft_now()) < until;) {
        int64_t wait = until - now < WEFT_SEC ? until - now : WEFT_SEC;
        if (weft_stream_read(st, sink, sizeof sink, wait) <= 0) break;
    }
}

static int echo_conn(weft_socket *sock, void *arg)
{
    (void)arg;
    weft_stream *st;
    weft_stream_opts so = { .max_line = SERVER_MAX_LINE };
    if (weft_stream_open(&st, sock, &so)) return -ENOMEM;
    if (++open_now > open_max) open_max = open_now;
    for (;;) {
        const char *line;
        ssize_t n = weft_stream_readline(st, &line, WEFT_FOREVER);
        if (n == -EMSGSIZE) refuse_long_line(st);
        if (n <= 0) break;               /* the client is done (0), or an error */
        if (weft_stream_write(st, line, (size_t)n, TIMEOUT)) break;
        if (weft_stream_read_buffered(st) == 0 && weft_stream_drain(st, TIMEOUT)) break;
    }
    open_now--;
    weft_stream_close(st, TIMEOUT);
    return 0;                            /* the server closes the socket */
}

/* ---- the clients ----------------------------------------------------------------------- */

typedef struct {
    uint16_t port;
    int clients;
    int ready;                           /* clients connected and echoed once */
    weft_event *all_ready;
    long long bytes;                     /* bytes echoed back intact */
    int failed;
} client_run;                            /* touched by the clients' loop only: no lock */

typedef struct {
    client_run *run;
    int id;
} client_arg;

/* Line j of client id: distinct for every (id, j), any byte but '\n', ends with '\n'. */
static size_t make_line(char *buf, int id, int j)
{
    unsigned s = (unsigned)id * 2654435761u + (unsigned)j * 40503u + 1;
    int n = snprintf(buf, 64, "client %d line %d:", id, j);
    size_t len = (size_t)n + 1 + (s >> 7) % LINE_MAX_BYTES;
    for (size_t k = (size_t)n; k < len; k++) {
        s = s * 1103515245u + 12345u;
        char c = (char)(s >> 16);
        buf[k] = c == '\n' ? '\t' : c;
    }
    buf[len] = '\n';
    return len + 1;
}

static int expect_line(weft_stream *st, const char *want, size_t len)
{
    const char *line;
    ssize_t n = weft_stream_readline(st, &line, TIMEOUT);
    if (n < 0) return (int)n;
    return (size_t)n == len && memcmp(line, want, len) == 0 ? 0 : -EPROTO;
}

static int converse(client_run *run, int id, weft_stream *st)
{
    char hello[64];
    int n = snprintf(hello, sizeof hello, "hello from %d\n", id);
    int rc = weft_stream_write(st, hello, (size_t)n, TIMEOUT);
    if (!rc) rc = expect_line(st, hello, (size_t)n);     /* the read sends the write first */
    if (rc) return rc;

    if (++run->ready == run->clients) weft_event_set(run->all_ready);
    if ((rc = weft_event_wait(run->all_ready, TIMEOUT))) return rc;

    /* Lines are rebuilt rather than kept: 8 lines of 1.5 KB on each of a thousand stacks. */
    char line[LINE_MAX_BYTES + 64];
    for (int j = 0; j < LINES / 2 && !rc; j++) {          /* a line, then its echo */
        size_t len = make_line(line, id, j);
        rc = weft_stream_write(st, line, len, TIMEOUT);
        if (!rc) rc = expect_line(st, line, len);
        if (!rc) run->bytes += (long long)len;
    }
    for (int j = LINES / 2; j < LINES && !rc; j++) {      /* the rest in one go */
        size_t len = make_line(line, id, j);
        rc = weft_stream_write(st, line, len, TIMEOUT);
    }
    if (!rc) rc = weft_stream_drain(st, TIMEOUT);
    for (int j = LINES / 2; j < LINES && !rc; j++) {
        size_t len = make_line(line, id, j);
        rc = expect_line(st, line, len);
        if (!rc) run->bytes += (long long)len;
    }
    if (!rc) rc = weft_stream_write_eof(st, TIMEOUT);
    if (!rc) {
        const char *rest;
        ssize_t r = weft_stream_readline(st, &rest, TIMEOUT);
        rc = r == 0 ? 0 : r < 0 ? (int)r : -EPROTO;       /* the server closed: end */
    }
    return rc;
}

static int client(void *arg, void **result)
{
    (void)result;
    client_arg *ca = arg;
    client_run *run = ca->run;
    weft_socket *s;
    int rc = weft_tcp_connect(&s, "127.0.0.1", run->port, TIMEOUT);
    if (rc == 0) {
        weft_stream *st;
        rc = weft_stream_open(&st, s, NULL);
        if (rc == 0) {
            rc = converse(run, ca->id, st);
            weft_stream_close(st, TIMEOUT);
        }
        weft_socket_close(s);
    }
    if (rc) {
        if (run->failed++ < 5)
            fprintf(stderr, "client %d: %s\n", ca->id, weft_strerror(rc));
        if (run->ready < run->clients) {   /* let the others go on: they will not be */
            run->ready = run->clients;     /* counted as all open at once, see main */
            weft_event_set(run->all_ready);
        }
    }
    return rc;
}

/* The clients' thread: a loop of its own, a coroutine per client in a task group. */
static int clients_main(void *arg, void **result)
{
    (void)result;
    client_run *run = arg;
    client_arg *args = calloc((size_t)run->clients, sizeof *args);
    weft_group *g;
    if (!args || weft_group_create(&g)) {
        free(args);
        return -ENOMEM;
    }
    weft_spawn_opts so = WEFT_SPAWN_OPTS_INIT;
    so.name = "client";
    so.stack_size = 32 * 1024;             /* plenty for a client: more fit in memory */
    int rc = 0;
    for (int i = 0; i < run->clients && !rc; i++) {
        args[i] = (client_arg){ run, i };
        rc = weft_group_spawn(g, NULL, &so, client, &args[i]);
    }
    int w = weft_group_wait(g);
    weft_group_destroy(g);
    free(args);
    return rc ? rc : w;
}

static int clients_thread(void *arg, void **result)
{
    return weft_run(clients_main, arg, result);
}

/* A client whose line is too long: it must read the server's message, then the end —
 * not a reset, not silence. Runs on the server's loop (a coroutine: the server's
 * coroutine for the connection runs while this one waits). Returns 0 or why it failed. */
static int long_line_check(uint16_t port)
{
    weft_socket *s;
    int rc = weft_tcp_connect(&s, "127.0.0.1", port, TIMEOUT);
    if (rc) return rc;
    weft_stream *st;
    if ((rc = weft_stream_open(&st, s, NULL))) {
        weft_socket_close(s);
        return rc;
    }
    size_t n = SERVER_MAX_LINE + 4096;   /* no '\n' at all */
    char *big = malloc(n);
    if (!big) rc = -ENOMEM;
    else {
        memset(big, 'x', n);
        rc = weft_stream_write(st, big, n, TIMEOUT);
        if (!rc) rc = weft_stream_drain(st, TIMEOUT);
        free(big);
    }
    char want[80];
    snprintf(want, sizeof want, "error: line longer than %d bytes; closing\n", SERVER_MAX_LINE);
    const char *line;
    ssize_t r = rc ? rc : weft_stream_readline(st, &line, TIMEOUT);
    if (r >= 0) {
        bool said = (size_t)r == strlen(want) && memcmp(line, want, (size_t)r) == 0;
        r = !said ? -EPROTO : weft_stream_readline(st, &line, TIMEOUT);
        rc = r == 0 ? 0 : r < 0 ? (int)r : -EPROTO;      /* then the end of the stream */
    } else {
        rc = (int)r;
    }
    weft_stream_close(st, 0);
    weft_socket_close(s);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

/* Each connection takes two descriptors here (the client's and the server's): raise the
 * soft limit to the hard one, and use fewer clients if even that is too low. */
static int fit_clients(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want;
    rlim_t need = 2 * (rlim_t)want + 64;
    if (rl.rlim_cur < need && rl.rlim_cur != RLIM_INFINITY) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        int n = (int)((rl.rlim_cur - 64) / 2);
        printf("only %d clients: the descriptor limit is %llu\n", n,
               (unsigned long long)rl.rlim_cur);
        return n;
    }
    return want;
}

static int self_test(void *arg, void **result)
{
    (void)result;
    client_run *run = arg;
    weft_server *srv;
    int rc = weft_tcp_server(&srv, "127.0.0.1", 0, echo_conn, NULL, NULL);
    if (rc) return rc;
    weft_addr a;
    weft_server_addr(srv, &a);
    run->port = weft_addr_port(&a);
    rc = weft_event_create(&run->all_ready);
    int64_t t0 = weft_now();
    weft_thread *t = NULL;
    if (!rc) rc = weft_thread_start(&t, NULL, clients_thread, run);
    int clients_rc = 0;
    if (!rc) {
        /* While this coroutine waits for the clients' thread, its loop serves them. */
        rc = weft_thread_join(t, 120 * WEFT_SEC, NULL);
        if (!rc) clients_rc = weft_thread_join(t, 0, NULL);
        weft_thread_release(t);
    }
    double ms = (double)(weft_now() - t0) / WEFT_MS;
    int long_rc = rc ? 0 : long_line_check(run->port);
    int closed = weft_server_close(srv, 2 * WEFT_SEC);
    if (run->all_ready) weft_event_destroy(run->all_ready);
    if (rc) return rc;
    printf("%d clients, %d lines each: %lld bytes echoed intact in %.0f ms\n", run->clients,
           LINES, run->bytes, ms);
    printf("server: %d connections open at once at most; closed %s\n", open_max,
           closed == 0 ? "gracefully" : "after cancelling handlers");
    if (clients_rc || run->failed) {
        fprintf(stderr, "echo_server: %d clients failed (%s)\n", run->failed,
                weft_strerror(clients_rc));
        return clients_rc ? clients_rc : -EPROTO;
    }
    if (long_rc) {
        fprintf(stderr, "echo_server: a client with a line too long got no message before "
                "the end (%s)\n", weft_strerror(long_rc));
        return long_rc;
    }
    printf("a client's line over %d bytes: the server said so, then closed\n",
           SERVER_MAX_LINE);
    return open_max == run->clients && closed == 0 ? 0 : -EPROTO;
}

static int serve_forever(void *arg, void **result)
{
    (void)result;
    weft_server *srv;
    int rc = weft_tcp_server(&srv, "127.0.0.1", (uint16_t)atoi(arg), echo_conn, NULL, NULL);
    if (rc) {
        fprintf(stderr, "echo_server: cannot listen: %s\n", weft_strerror(rc));
        return rc;
    }
    weft_addr a;
    weft_server_addr(srv, &a);
    printf("echoing lines on 127.0.0.1:%u (Ctrl+C to stop)\n", weft_addr_port(&a));
    fflush(stdout);
    return weft_sleep(WEFT_FOREVER);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return weft_run(serve_forever, argv[2], NULL) == 0 ? 0 : 1;
    int want = argc == 2 ? atoi(argv[1]) : DEFAULT_CLIENTS;
    if (argc > 2 || want <= 0) {
        fprintf(stderr, "usage: %s [CLIENTS | --serve PORT]\n", argv[0]);
        return 2;
    }
    client_run run = { 0, fit_clients(want), 0, NULL, 0, 0 };
    int rc = weft_run(self_test, &run, NULL);
    if (rc) fprintf(stderr, "echo_server: FAILED (%s)\n", weft_strerror(rc));
    return rc ? 1 : 0;
}
