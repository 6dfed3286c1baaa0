/* bench/echo_load.c — load generator and driver of the echo workloads (echo-c1, echo-c50,
 * echo-c1000): 64-byte ping-pong against a single-threaded echo server, metric = µs of the
 * SERVER's CPU time per round trip (lower is better).
 *
 * Usage: echo_load [--seconds S] [--conns N[,N...]] [--no-pin] [--no-spin]
 *                  -- SERVER_CMD [ARGS...]
 *
 *   S          measured seconds per connection count (default 2; fractions allowed)
 *   N,...      connection counts, run in this order (default 1,50,1000)
 *   --no-pin   do not pin (default: this process on the first CPU it may use, the server
 *              and all its threads on the second, when there are two)
 *   --no-spin  block in epoll_wait (default: busy-poll it with a zero timeout)
 *
 * Why pin and spin.  On a 2-vCPU VM the scheduler sometimes puts client and server on one
 * CPU and sometimes on two, and a cross-CPU wake-up can cost tens of µs (an IPI to a halted
 * vCPU): unpinned, echo-c1 came out anywhere between 12 and 80 µs for the same server.  And a
 * server's write that wakes a sleeping client pays for that wake-up in the server's CPU time.
 * So the client owns one CPU and never sleeps (it saturates its core, as the load generator
 * does anyway at 50 and 1,000 connections), and the server runs on the other: its CPU time is
 * its own work plus its own sleeping and waking, the same placement for every server.
 *
 * It picks a free TCP port P on 127.0.0.1 and starts `SERVER_CMD ARGS... P` as its child (the
 * port is appended as the last argument; the server must listen on 127.0.0.1:P, echo every
 * byte back on every connection, and run until killed, SIGPIPE being its own business; its
 * stdout is redirected to stderr so that only this program's RESULT lines reach stdout).  It waits (at most 10 s) until P
 * accepts connections, then for each connection count N:
 *
 *   - opens N client connections (blocking connect, then non-blocking, TCP_NODELAY);
 *   - warms up: every connection in ping-pong for 0.2 s, and at least until every
 *     connection has had one echo back (at most 10 s);
 *   - measures for S seconds: each connection sends 64 bytes, reads 64 back (partial reads
 *     are reassembled), checks them (each message carries the connection's id and a sequence
 *     number, so a server that mixes up, drops, duplicates or reorders data is caught), and
 *     sends the next; all N connections are driven by one epoll loop in this process
 *     (level-triggered, busy-polled);
 *   - the server's CPU time over exactly that window is the sum of field 1 (ns on CPU) of
 *     /proc/<pid>/task/<tid>/schedstat over all its threads (Go runs several), read before
 *     and after; without schedstat, utime+stime of /proc/<pid>/stat (clock ticks);
 *   - prints `RESULT echo-c<N> <server CPU µs per round trip>` on stdout, and round trips/s
 *     and the server's CPU use on stderr;
 *   - closes the N connections and pauses 0.1 s.
 *
 * Finally it sends SIGTERM to the server, SIGKILL 2 s later if it is still there, and reaps it.
 *
 * It never hangs: an alarm bounds the whole run (the server is killed if it fires), connects
 * and the listen wait are bounded.  Exit status 0 on success; 1 (with a message on stderr) if
 * the server dies, closes a connection, echoes wrong bytes or never listens; 2 on bad usage;
 * 3 if the alarm fired.  A server that exits with status 77 before it listens declares itself
 * unavailable here (e.g. a Python module is not installed): echo_load then prints
 * `SKIP server-unavailable` on stdout and exits 0 (bench/run.py reports the system as SKIPped).
 * RLIMIT_NOFILE's soft limit is raised to the hard limit first (the server inherits it).
 * The server's side of all this (start, CPU time, stop, die, alarm) is bench/load.h, shared
 * with bench/http_load.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define LOAD_PROG "echo_load"
#include "load.h" /* the server child, its CPU time, die */

#include <netinet/tcp.h>
#include <sys/epoll.h>

#define MSG 64
#define MAX_CONNS 100000
#define WARMUP_S 0.2
#define WARMUP_MAX_S 10.0

struct conn {
    int fd;
    uint32_t id;
    uint64_t seq;      /* sequence number of the message in flight */
    unsigned rpos;     /* bytes of the echo received so far */
    unsigned wpos;     /* bytes of the message written so far */
    int want_out;      /* EPOLLOUT registered (a write was short) */
    uint64_t done;     /* round trips completed */
    unsigned char out[MSG];
    unsigned char in[MSG];
};

static int ep = -1;
static uint64_t total_rt;
static int spin = 1;              /* busy-poll: epoll_wait with timeout 0 */

/* ---- the ping-pong ------------------------------------------------------ */

static void fill(struct conn *c)
{
    uint64_t x = c->seq * 0x9E3779B97F4A7C15ull ^ ((uint64_t)c->id << 32) ^ 0x5555u;
    memcpy(c->out, &c->seq, 8);
    memcpy(c->out + 8, &c->id, 4);
    for (int i = 12; i < MSG; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        c->out[i] = (unsigned char)x;
    }
}

static void set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) != 0) die("epoll_ctl: %s", strerror(errno));
}

static void send_rest(struct conn *c)
{
    while (c->wpos < MSG) {
        ssize_t n = send(c->fd, c->out + c->wpos, MSG - c->wpos, MSG_NOSIGNAL);
        if (n > 0) { c->wpos += (unsigned)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) { c->want_out = 1; set_events(c, EPOLLIN | EPOLLOUT); }
            return;
        }
        die("send on connection %u: %s", c->id, n < 0 ? strerror(errno) : "0 bytes");
    }
    if (c->want_out) { c->want_out = 0; set_events(c, EPOLLIN); }
}

static void start_message(struct conn *c)
{
    fill(c);
    c->wpos = 0;
    send_rest(c);
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->rpos, MSG - c->rpos);
        if (n > 0) {
            c->rpos += (unsigned)n;
            if (c->rpos < MSG) continue;
            if (c->wpos < MSG || memcmp(c->in, c->out, MSG) != 0)
                die("wrong echo on connection %u (message %llu): the server sent back "
                    "other bytes than it was sent", c->id, (unsigned long long)c->seq);
            c->rpos = 0;
            c->done++;
            total_rt++;
            c->seq++;
            start_message(c);
            return;
        }
        if (n == 0) die("the server closed connection %u", c->id);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        die("read on connection %u: %s", c->id, strerror(errno));
    }
}

/* Drive all connections until time `until` (CLOCK_MONOTONIC seconds); if `need_all`, keep
 * going past `until` (up to `hard_until`) until every connection has had an echo. */
static void run(struct conn *cs, int n, double until, int need_all, double hard_until)
{
    static struct epoll_event evs[1024];
    double next_check = now_s() + 0.05;
    for (;;) {
        double t = now_s();
        if (t >= next_check) { /* a server that dies may leave connections open (a child) */
            next_check = t + 0.05;
            if (server_gone()) die("the server exited during the run");
        }
        if (t >= until) {
            if (!need_all) return;
            int all = 1;
            for (int i = 0; i < n && all; i++) all = cs[i].done > 0;
            if (all) return;
            if (t >= hard_until) {
                int k = 0;
                for (int i = 0; i < n; i++) k += cs[i].done > 0;
                die("only %d of %d connections got an echo within %.0f s", k, n,
                    WARMUP_MAX_S);
            }
        }
        double left = (t < until ? until : hard_until) - t;
        int ms = (int)(left * 1000.0) + 1;
        if (ms > 100) ms = 100;
        int k = epoll_wait(ep, evs, 1024, spin ? 0 : ms);
        if (k < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
            if ((evs[i].events & EPOLLOUT) && c->want_out) send_rest(c);
        }
    }
}

static void one_count(int n, double seconds)
{
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    if (!cs) die("out of memory");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct conn *c = &cs[i];
        c->id = (uint32_t)i;
        c->fd = try_connect();
        if (c->fd < 0) {
            if (server_gone()) die("the server died while connections were opened");
            die("connection %d of %d to 127.0.0.1:%u: %s", i + 1, n, (unsigned)port,
                strerror(errno));
        }
        int one = 1;
        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            die("TCP_NODELAY: %s", strerror(errno));
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0)
            die("O_NONBLOCK: %s", strerror(errno));
        struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) != 0) die("epoll_ctl: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) start_message(&cs[i]);

    double t = now_s();
    run(cs, n, t + WARMUP_S, 1, t + WARMUP_MAX_S);

    uint64_t cpu0 = server_cpu_ns();
    double t0 = now_s();
    uint64_t rt0 = total_rt;
    run(cs, n, t0 + seconds, 0, 0);
    double t1 = now_s();
    uint64_t cpu1 = server_cpu_ns();
    uint64_t rts = total_rt - rt0;
    if (rts == 0) die("no round trip completed in %.2f s with %d connections", seconds, n);

    double us = (double)(cpu1 - cpu0) / 1e3 / (double)rts;
    double secs = t1 - t0;
    printf("RESULT echo-c%d %.6g\n", n, us);
    fflush(stdout);
    uint64_t minc = UINT64_MAX, maxc = 0;
    for (int i = 0; i < n; i++) {
        if (cs[i].done < minc) minc = cs[i].done;
        if (cs[i].done > maxc) maxc = cs[i].done;
    }
    fprintf(stderr, "echo-c%d: %.0f round trips/s, server CPU %.3f s in %.3f s (%.0f%% of a CPU), "
            "%.3f us/round trip; per-connection round trips (all phases) %llu..%llu\n",
            n, (double)rts / secs, (double)(cpu1 - cpu0) / 1e9, secs,
            100.0 * (double)(cpu1 - cpu0) / 1e9 / secs, us,
            (unsigned long long)minc, (unsigned long long)maxc);

    for (int i = 0; i < n; i++) close(cs[i].fd);
    close(ep);
    ep = -1;
    free(cs);
    usleep(100000); /* let the server take the closes before the next count */
    if (server_gone()) die("the server exited after the %d-connection run", n);
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_load [--seconds S] [--conns N[,N...]] [--no-pin] [--no-spin]\n"
                    "                 -- SERVER_CMD [ARGS...]\n"
                    "  (the port is appended to the server's arguments)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    int conns[16] = { 1, 50, 1000 };
    int nconns = 3;
    int pin = 1;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) { i++; break; }
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 3600)) usage();
        } else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
            char *s = argv[++i], *end;
            nconns = 0;
            for (;;) {
                long v = strtol(s, &end, 10);
                if (end == s || v < 1 || v > MAX_CONNS || nconns == 16) usage();
                conns[nconns++] = (int)v;
                if (*end == '\0') break;
                if (*end != ',') usage();
                s = end + 1;
            }
        } else if (strcmp(argv[i], "--no-pin") == 0) {
            pin = 0;
        } else if (strcmp(argv[i], "--no-spin") == 0) {
            spin = 0;
        } else {
            usage();
        }
    }
    if (i >= argc) usage();
    int maxn = 0;
    for (int k = 0; k < nconns; k++) if (conns[k] > maxn) maxn = conns[k];

    /* Pin this process to the first CPU it may use and the server to the second. */
    pin_cpus(pin);
    if (client_cpu >= 0)
        fprintf(stderr, "echo_load: client on CPU %d, server on CPU %d; client %s\n", client_cpu,
                server_cpu, spin ? "busy-polls" : "blocks in epoll_wait");
    else
        fprintf(stderr, "echo_load: not pinned; client %s\n",
                spin ? "busy-polls" : "blocks in epoll_wait");

    raise_nofile();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)maxn + 32) {
        fprintf(stderr, "echo_load: RLIMIT_NOFILE is %llu, too low for %d connections\n",
                (unsigned long long)rl.rlim_cur, maxn);
        return 1;
    }
    double budget = LISTEN_WAIT_S + 10;
    for (int k = 0; k < nconns; k++) budget += seconds + WARMUP_MAX_S + 10 + conns[k] / 100.0;
    prepare((unsigned)budget + 1);

    start_server(argv + i, argc - i);
    for (int k = 0; k < nconns; k++) one_count(conns[k], seconds);
    stop_server();
    return 0;
}
