/* bench/http_load.c — driver of the http workloads: `wrk -t1 -c50 -d<S>s` against a minimal
 * keep-alive HTTP server running one loop thread.  Metrics: µs of the SERVER's CPU time per
 * request (workload http, lower is better) and requests/s as wrk reports them (http-rps).
 *
 * Usage: http_load [--seconds S] [--connections C] [--pin] -- SERVER_CMD [ARGS...]
 *
 *   S      wrk's duration in whole seconds (default 10)
 *   C      wrk's connections (default 50); wrk always runs one thread (-t1)
 *   --pin  wrk (and http_load) on the first CPU this process may use, the server on the
 *          second.  Off by default: with 50 busy connections placement matters little, and
 *          on a shared machine an unpinned server can move away from other load.
 *
 * It picks a free TCP port P on 127.0.0.1 and starts `SERVER_CMD ARGS... P` as its child (the
 * port is appended as the last argument; the server's stdout goes to stderr), waits (at most
 * 10 s) until P accepts connections, then checks the server on one connection: three
 * pipelined `GET /` requests, two whole in a first write and the third split between it and a
 * second write 20 ms later, must get three `HTTP/1.1 200` responses framed by their
 * Content-Length (so a server that answers once per read, or not at all, is caught before it
 * is measured).  Then it runs
 *
 *     wrk -t1 -c<C> -d<S>s http://127.0.0.1:P/
 *
 * and measures the server's CPU time from just before wrk starts until wrk has exited: the sum
 * of field 1 (ns on CPU) of /proc/<pid>/task/<tid>/schedstat over the server's threads, as
 * bench/echo_load.c does (server_cpu_ns in bench/load.h; fallback utime+stime of
 * /proc/<pid>/stat).  wrk's output goes to stderr; from it come the total requests ("N requests
 * in ...") and "Requests/sec".  It prints
 *
 *     RESULT http <server CPU µs per request>
 *     RESULT http-rps <requests per second>
 *
 * and fails if wrk reports non-2xx/3xx responses or socket errors on more than 1% of the
 * requests.  Finally SIGTERM to the server, SIGKILL 2 s later, reap.
 *
 * It never hangs (an overall alarm kills the server and wrk).  Exit status 0 on success; 1 with
 * a message on stderr if the server dies, never listens or answers wrongly, or wrk fails; 2 on
 * bad usage; 3 if the alarm fired.  If wrk is not on PATH, or the server exits with status 77
 * before it listens (declares itself unavailable, e.g. a missing Python module), it prints
 * `SKIP wrk-not-installed` / `SKIP server-unavailable` on stdout and exits 0 (bench/run.py then
 * reports a SKIP).  RLIMIT_NOFILE's soft limit is raised to the hard limit first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define LOAD_PROG "http_load"
#include "load.h" /* the server child, its CPU time, die */

#include <ctype.h>
#include <netinet/tcp.h>

static void send_all(int s, const char *p)
{
    size_t n = strlen(p);
    while (n > 0) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("check request: send: %s", w < 0 ? strerror(errno) : "0 bytes");
        p += w;
        n -= (size_t)w;
    }
}

/* Length of one complete response at buf[0..n), 0 if incomplete; dies if malformed. */
static size_t response_len(const char *buf, size_t n)
{
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) return 0;
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 && strncmp(buf, "HTTP/1.0 200", 12) != 0)
        die("check request: the response does not start with \"HTTP/1.1 200\": %.40s", buf);
    long clen = -1;
    for (const char *p = buf; p < end; ) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (!eol) break;
        if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (clen < 0) die("check request: no Content-Length in the response");
    size_t total = (size_t)(end + 4 - buf) + (size_t)clen;
    return total <= n ? total : 0;
}

/* Three pipelined GETs, two complete in the first write and the third split across two writes:
 * three 200 responses must come back (one response per read would give two). */
static void check_server(void)
{
    int s = try_connect();
    if (s < 0) die("check request: connect: %s", strerror(errno));
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = { .tv_sec = 2, .tv_usec = 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    send_all(s, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET / HTTP/1.1\r\nHo");
    usleep(20000);
    send_all(s, "st: 127.0.0.1\r\n\r\n");
    char buf[8192];
    size_t n = 0;
    int got = 0;
    buf[0] = '\0';
    double deadline = now_s() + 5;
    while (got < 3) {
        size_t len;
        while (got < 3 && (len = response_len(buf, n)) > 0) {
            memmove(buf, buf + len, n - len);
            n -= len;
            buf[n] = '\0';
            got++;
        }
        if (got == 3) break;
        if (n == sizeof buf - 1) die("check request: response too large");
        ssize_t r = recv(s, buf + n, sizeof buf - 1 - n, 0);
        if (r > 0) { n += (size_t)r; buf[n] = '\0'; continue; }
        if (r < 0 && errno == EINTR && now_s() < deadline) continue;
        die("check request: %d of 3 pipelined responses, then %s", got,
            r == 0 ? "the connection was closed" : strerror(errno));
    }
    if (n != 0) die("check request: %zu unexpected bytes after the three responses", n);
    close(s);
}

static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", name);
        if (access(buf, X_OK) == 0) return 1;
        path += len;
        if (*path == ':') path++;
    }
    return 0;
}

/* The number after `key` in text (skipping spaces), or -1. */
static double number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) return -1;
    p += strlen(key);
    while (*p == ' ' || *p == '\t') p++;
    if (!isdigit((unsigned char)*p)) return -1;
    return strtod(p, NULL);
}

static void usage(void)
{
    fprintf(stderr, "usage: http_load [--seconds S] [--connections C] [--pin] -- SERVER_CMD [ARGS...]\n"
                    "  (the port is appended to the server's arguments)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long seconds = 10, conns = 50;
    int pin = 0;
    int i = 1;
    for (; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--") == 0) { i++; break; }
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtol(argv[++i], &end, 10);
            if (*end || seconds < 1 || seconds > 3600) usage();
        } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            conns = strtol(argv[++i], &end, 10);
            if (*end || conns < 1 || conns > 100000) usage();
        } else if (strcmp(argv[i], "--pin") == 0) {
            pin = 1;
        } else {
            usage();
        }
    }
    if (i >= argc) usage();

    /* --pin: wrk (and this process) on the first CPU we may use, the server on the second. */
    pin_cpus(pin);
    if (client_cpu >= 0)
        fprintf(stderr, "http_load: wrk on CPU %d, server on CPU %d\n", client_cpu, server_cpu);
    if (!on_path("wrk")) {
        fprintf(stderr, "http_load: wrk is not on PATH (Debian: wrk)\n");
        printf("SKIP wrk-not-installed\n");
        return 0;
    }

    raise_nofile();
    prepare((unsigned)(LISTEN_WAIT_S + 10 + seconds + 30));

    start_server(argv + i, argc - i);
    check_server();

    char cbuf[32], dbuf[32], url[64];
    snprintf(cbuf, sizeof cbuf, "-c%ld", conns);
    snprintf(dbuf, sizeof dbuf, "-d%lds", seconds);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)port);
    char *wargv[] = { "wrk", "-t1", cbuf, dbuf, url, NULL };
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) die("pipe: %s", strerror(errno));

    uint64_t cpu0 = server_cpu_ns();
    double t0 = now_s();
    client_pid = spawn(wargv, pfd[1], pfd[0], client_cpu);
    close(pfd[1]);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    if (!text) die("out of memory");
    for (;;) {
        if (len + 1 == cap) {
            char *t = realloc(text, cap * 2);
            if (!t) die("out of memory");
            text = t;
            cap *= 2;
        }
        ssize_t r = read(pfd[0], text + len, cap - 1 - len);
        if (r > 0) { len += (size_t)r; continue; }
        if (r < 0 && errno == EINTR) continue;
        break;
    }
    text[len] = '\0';
    close(pfd[0]);
    int wst;
    while (waitpid(client_pid, &wst, 0) < 0 && errno == EINTR) {}
    client_pid = -1;
    double t1 = now_s();
    uint64_t cpu1 = server_cpu_ns();

    fprintf(stderr, "%s", text);
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        char d[128];
        describe_status(wst, d, sizeof d);
        die("wrk %s", d);
    }
    if (server_gone()) die("the server exited during the wrk run");
    /* "  123456 requests in 10.00s, 12.34MB read" */
    double requests = -1;
    const char *p = strstr(text, " requests in ");
    if (p) {
        const char *q = p;
        while (q > text && isdigit((unsigned char)q[-1])) q--;
        if (q < p) requests = strtod(q, NULL);
    }
    double rps = number_after(text, "Requests/sec:");
    if (requests <= 0 || rps <= 0)
        die("cannot find the request count and Requests/sec in wrk's output");
    double non2xx = number_after(text, "Non-2xx or 3xx responses:");
    if (non2xx > 0) die("wrk saw %.0f non-2xx/3xx responses", non2xx);
    /* "  Socket errors: connect 0, read 0, write 0, timeout 0" (only when there are some) */
    double errs = 0;
    const char *se = strstr(text, "Socket errors:");
    if (se) {
        double ec = 0, er = 0, ew = 0, et = 0;
        if (sscanf(se, "Socket errors: connect %lf, read %lf, write %lf, timeout %lf",
                   &ec, &er, &ew, &et) != 4)
            die("cannot parse wrk's socket error line");
        errs = ec + er + ew + et;
        if (errs > requests / 100)
            die("wrk saw %.0f socket errors in %.0f requests", errs, requests);
    }

    double us = (double)(cpu1 - cpu0) / 1e3 / requests;
    printf("RESULT http %.6g\n", us);
    printf("RESULT http-rps %.6g\n", rps);
    fflush(stdout);
    fprintf(stderr, "http: %.0f requests, %.0f req/s (wrk), server CPU %.3f s in %.3f s "
            "(%.0f%% of a CPU), %.3f us/request%s\n", requests, rps,
            (double)(cpu1 - cpu0) / 1e9, t1 - t0, 100.0 * (double)(cpu1 - cpu0) / 1e9 / (t1 - t0),
            us, errs > 0 ? " (some socket errors, see above)" : "");
    stop_server();
    return 0;
}
