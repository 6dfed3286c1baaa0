/* tests/fault_sys.c — system-call fault injection for the tests (LD_PRELOAD, plain builds).
 *
 * libweft_fault_sys.so wraps the calls weft's I/O stands on and makes some of them fail or
 * come up short, the ways the kernel may, so that the paths nobody sees on a quiet machine
 * run in CI (`make test-fault`). Only outcomes the kernel can really produce are injected,
 * else the tests would fail for weft's correct behaviour:
 *   - EINTR from the waits (epoll_wait, epoll_pwait2, ppoll, poll), from accept4 on a
 *     blocking socket, and from read and write on a blocking pipe or device (a signal in a
 *     blocking call: weft's signal router, file calls on FIFOs);
 *   - short reads on those pipes, as when a signal comes after part of the transfer —
 *     never on datagrams, whose boundaries are part of their meaning, and never on
 *     non-blocking descriptors (see perturb_len);
 *   - resource errors, only when asked for by name (WEFT_FAULT_NTH): EMFILE from socket,
 *     accept4, pipe2, eventfd, epoll_create1; ENOMEM from epoll_ctl ADD.
 *
 * Environment:
 *   WEFT_FAULT_RATE   per mille of the eligible calls that get EINTR or come up short
 *                     (0 or unset: none)
 *   WEFT_FAULT_SEED   seed (default: from the clock; printed to stderr once)
 *   WEFT_FAULT_NTH    "call:n:ERRNO[,call:n:ERRNO...]": the n-th call of that name (counted
 *                     over the process) fails once with ERRNO (e.g. "accept4:3:EMFILE")
 * Thread-safe; no allocation on the call paths; the real calls are found with dlsym. The
 * library removes LD_PRELOAD from the environment as it loads: children run without it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum call { C_READ, C_WRITE, C_RECV, C_SEND, C_CONNECT, C_ACCEPT4, C_EPOLL_WAIT, C_EPOLL_PWAIT2,
            C_PPOLL, C_POLL, C_SOCKET, C_PIPE2, C_EVENTFD, C_EPOLL_CREATE1, C_EPOLL_CTL,
            C_COUNT };
static const char *const names[C_COUNT] = {
    "read", "write", "recv", "send", "connect", "accept4", "epoll_wait", "epoll_pwait2",
    "ppoll", "poll", "socket", "pipe2", "eventfd", "epoll_create1", "epoll_ctl",
};

#define NTH_MAX 8
static struct { int call; long n; int err; _Atomic long seen; } nth[NTH_MAX];
static int nnth;
static unsigned rate;                 /* per mille */
static uint64_t seed;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic unsigned long injected[C_COUNT];

static int errno_named(const char *s)
{
    static const struct { const char *n; int e; } t[] = {
        { "EMFILE", EMFILE }, { "ENFILE", ENFILE }, { "ENOMEM", ENOMEM }, { "EINTR", EINTR },
        { "EAGAIN", EAGAIN }, { "ENOBUFS", ENOBUFS }, { "ECONNRESET", ECONNRESET },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].n) == 0) return t[i].e;
    return 0;
}

static void report(void)
{
    unsigned long total = 0;
    for (int i = 0; i < C_COUNT; i++) total += atomic_load(&injected[i]);
    if (total) {
        fprintf(stderr, "fault_sys: %lu faults injected (", total);
        for (int i = 0, first = 1; i < C_COUNT; i++)
            if (atomic_load(&injected[i])) {
                fprintf(stderr, "%s%s %lu", first ? "" : ", ", names[i], atomic_load(&injected[i]));
                first = 0;
            }
        fprintf(stderr, ")\n");
    }
}

/* The library stays in this process only: the programs it starts (test children, the
 * subprocess tests' helpers) run without it, since they were not written to survive it. */
__attribute__((constructor)) static void keep_to_this_process(void)
{
    unsetenv("LD_PRELOAD");
}

static void setup(void)
{
    const char *r = getenv("WEFT_FAULT_RATE");
    rate = r ? (unsigned)atoi(r) : 0;
    const char *s = getenv("WEFT_FAULT_SEED");
    seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
    if (rate) fprintf(stderr, "fault_sys: rate %u/1000, WEFT_FAULT_SEED=%llu\n", rate,
                      (unsigned long long)seed);
    const char *spec = getenv("WEFT_FAULT_NTH");
    if (spec) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", spec);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && nnth < NTH_MAX;
             tok = strtok_r(NULL, ",", &save)) {
            char name[32], err[32];
            long n;
            if (sscanf(tok, "%31[^:]:%ld:%31s", name, &n, err) != 3) continue;
            for (int c = 0; c < C_COUNT; c++)
                if (strcmp(names[c], name) == 0) {
                    nth[nnth].call = c;
                    nth[nnth].n = n;
                    nth[nnth].err = errno_named(err);
                    nnth++;
                }
        }
    }
    atexit(report);
}

/* xorshift64*, one stream per thread, seeded from the seed and the thread. */
static uint64_t rnd(void)
{
    static _Thread_local uint64_t x;
    if (!x) x = (seed ^ ((uint64_t)(uintptr_t)&x * 0x9E3779B97F4A7C15ull)) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 0x2545F4914F6CDD1Dull;
}

static bool roll(void)
{
    pthread_once(&once, setup);
    return rate && rnd() % 1000 < rate;
}

/* The error the n-th call of this kind must fail with (once), or 0. */
static int nth_error(int call)
{
    pthread_once(&once, setup);
    for (int i = 0; i < nnth; i++)
        if (nth[i].call == call && atomic_fetch_add(&nth[i].seen, 1) + 1 == nth[i].n) {
            atomic_fetch_add(&injected[call], 1);
            return nth[i].err;
        }
    return 0;
}

static bool blocks(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

/* A stream socket, or (for reads) a pipe: where a transfer may come up short. */
static bool may_be_short(int fd, bool reading)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return false;
    if (S_ISFIFO(st.st_mode)) return reading;
    if (!S_ISSOCK(st.st_mode)) return false;
    int type = 0;
    socklen_t len = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

#define REAL(ret, name, ...) \
    static ret (*real_##name)(__VA_ARGS__); \
    if (!real_##name) real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

static int fail(int call, int err)
{
    atomic_fetch_add(&injected[call], 1);
    errno = err;
    return -1;
}

/* A call on a descriptor that blocks (a signal may interrupt it) and that is a socket, a
 * pipe or a device — never a regular file, whose reads and writes signals do not cut: it
 * fails with EINTR, or, on a stream socket or (reading) a pipe, comes up short as when a
 * signal arrives after part of the transfer. Non-blocking descriptors (all of weft's
 * sockets) are left alone: there a short transfer means "no more now", and faking one
 * would make an edge-triggered poller wait for an edge that never comes, which the kernel
 * never does. Returns the length to pass on, or 0 with *interrupted set (return -1). */
static size_t perturb_len(int call, int fd, size_t n, bool reading, bool *interrupted)
{
    *interrupted = false;
    if (n < 1 || !roll() || !blocks(fd)) return n;
    /* Pipes and devices only: blocking sockets here are the tests' own (their helpers do
     * not retry), weft's are non-blocking. */
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) return n;
    if (n >= 2 && (rnd() & 1) && may_be_short(fd, reading)) {
        atomic_fetch_add(&injected[call], 1);
        return 1 + (size_t)(rnd() % (n - 1));
    }
    *interrupted = true;
    fail(call, EINTR);
    return 0;
}

ssize_t read(int fd, void *buf, size_t n)
{
    REAL(ssize_t, read, int, void *, size_t);
    bool intr;
    size_t m = perturb_len(C_READ, fd, n, true, &intr);
    return intr ? -1 : real_read(fd, buf, m);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, write, int, const void *, size_t);
    bool intr;
    size_t m = perturb_len(C_WRITE, fd, n, false, &intr);
    return intr ? -1 : real_write(fd, buf, m);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    REAL(ssize_t, recv, int, void *, size_t, int);
    bool intr = false;
    size_t m = (flags & MSG_PEEK) ? n : perturb_len(C_RECV, fd, n, true, &intr);
    if (!(flags & MSG_PEEK) && intr) return -1;
    return real_recv(fd, buf, m, flags);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    REAL(ssize_t, send, int, const void *, size_t, int);
    bool intr;
    size_t m = perturb_len(C_SEND, fd, n, false, &intr);
    return intr ? -1 : real_send(fd, buf, m, flags);
}

int connect(int fd, const struct sockaddr *a, socklen_t len)
{
    REAL(int, connect, int, const struct sockaddr *, socklen_t);
    /* Only chosen failures: weft connects non-blocking sockets, where EINTR cannot come;
     * the blocking connects are the tests' own. */
    int e = nth_error(C_CONNECT);
    if (e) { errno = e; return -1; }
    return real_connect(fd, a, len);
}

int accept4(int fd, struct sockaddr *a, socklen_t *len, int flags)
{
    REAL(int, accept4, int, struct sockaddr *, socklen_t *, int);
    int e = nth_error(C_ACCEPT4);
    if (e) { errno = e; return -1; }
    if (blocks(fd) && roll()) return fail(C_ACCEPT4, EINTR);
    return real_accept4(fd, a, len, flags);
}

int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout)
{
    REAL(int, epoll_wait, int, struct epoll_event *, int, int);
    if (timeout != 0 && roll()) return fail(C_EPOLL_WAIT, EINTR);
    return real_epoll_wait(ep, ev, max, timeout);
}

int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t,
                 const sigset_t *mask)
{
    REAL(int, epoll_pwait2, int, struct epoll_event *, int, const struct timespec *,
         const sigset_t *);
    if ((!t || t->tv_sec || t->tv_nsec) && roll()) return fail(C_EPOLL_PWAIT2, EINTR);
    return real_epoll_pwait2(ep, ev, max, t, mask);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
    REAL(int, ppoll, struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    if ((!t || t->tv_sec || t->tv_nsec) && roll()) return fail(C_PPOLL, EINTR);
    return real_ppoll(fds, n, t, mask);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    REAL(int, poll, struct pollfd *, nfds_t, int);
    if (timeout != 0 && roll()) return fail(C_POLL, EINTR);
    return real_poll(fds, n, timeout);
}

int socket(int domain, int type, int protocol)
{
    REAL(int, socket, int, int, int);
    int e = nth_error(C_SOCKET);
    if (e) { errno = e; return -1; }
    return real_socket(domain, type, protocol);
}

int pipe2(int p[2], int flags)
{
    REAL(int, pipe2, int *, int);
    int e = nth_error(C_PIPE2);
    if (e) { errno = e; return -1; }
    return real_pipe2(p, flags);
}

int eventfd(unsigned int v, int flags)
{
    REAL(int, eventfd, unsigned int, int);
    int e = nth_error(C_EVENTFD);
    if (e) { errno = e; return -1; }
    return real_eventfd(v, flags);
}

int epoll_create1(int flags)
{
    REAL(int, epoll_create1, int);
    int e = nth_error(C_EPOLL_CREATE1);
    if (e) { errno = e; return -1; }
    return real_epoll_create1(flags);
}

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    REAL(int, epoll_ctl, int, int, int, struct epoll_event *);
    if (op == EPOLL_CTL_ADD) {
        int e = nth_error(C_EPOLL_CTL);
        if (e) { errno = e; return -1; }
    }
    return real_epoll_ctl(ep, op, fd, ev);
}
