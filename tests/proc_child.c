/* tests/proc_child.c — the child program of the subprocess tests (no weft: a plain program
 * with predictable behaviour). Usage: proc_child MODE [ARGS...]
 *
 *   exit N            exits with status N
 *   echo              copies stdin to stdout until end of input
 *   mix               reads stdin in chunks; writes each chunk to stdout and its bytes
 *                     complemented (^0xff) to stderr, before reading the next one
 *   out N M           writes N bytes to stdout and M to stderr (byte k is k % 251), interleaved
 *   both              writes "out\n" to stdout, then "err\n" to stderr, then "out2\n"
 *   sleep MS          sleeps MS milliseconds, then exits 0
 *   exitafter MS N    sleeps MS milliseconds, then exits with status N
 *   closeout MS       writes "bye\n", closes stdout and stderr, sleeps MS ms, exits 0
 *   noread MS         never reads stdin; sleeps MS ms, exits 0
 *   lines N MS        writes "line K\n" for K = 1..N, one every MS ms
 *   signal SIG        raises SIG (ends killed by it, unless ignored: then exits 0)
 *   fds               writes the numbers of its open descriptors ("0 1 2\n")
 *   env NAME          writes the value of NAME ("(unset)" if it is not set)
 *   environ           writes its whole environment, one "NAME=value" a line, as received
 *   args ARGS...      writes each of ARGS on a line of its own, exactly as received
 *   cwd               writes its working directory
 *   ids               writes "pid pgid sid"
 *   sigs              writes "blocked=<64-bit hex> pipe=<dfl|ign|other> hup=<...> usr1=<...>"
 *   readall           reads stdin to the end, writes its length in decimal, exits 0
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char *disposition(int sig)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return sa.sa_handler == SIG_DFL ? "dfl" : sa.sa_handler == SIG_IGN ? "ign" : "other";
}

static int mode_mix(void)
{
    static char buf[65536], inv[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? 1 : 0;
        for (ssize_t i = 0; i < n; i++) inv[i] = (char)(buf[i] ^ 0xff);
        if (write_all(1, buf, (size_t)n) || write_all(2, inv, (size_t)n)) return 1;
    }
}

static int mode_out(long n, long m)
{
    static char chunk[251 * 64];
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (char)(i % 251);
    long done[2] = { 0, 0 }, want[2] = { n, m };
    while (done[0] < want[0] || done[1] < want[1]) {
        for (int k = 0; k < 2; k++) {
            long left = want[k] - done[k];
            if (left <= 0) continue;
            size_t len = left < (long)sizeof chunk ? (size_t)left : sizeof chunk;
            if (write_all(k + 1, chunk, len)) return 1;   /* chunk is a multiple of 251 */
            done[k] += (long)len;
        }
    }
    return 0;
}

static int mode_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 1;
    int self = dirfd(d);
    int fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != self) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 1; i < n; i++)       /* sort */
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j]; fds[j] = fds[j - 1]; fds[j - 1] = t;
        }
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", fds[i]);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 100;
    const char *m = argv[1];
    long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
    if (!strcmp(m, "exit")) return (int)a;
    if (!strcmp(m, "echo")) {
        static char buf[65536];
        ssize_t n;
        while ((n = read(0, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && write_all(1, buf, (size_t)n)) return 1;
        return n < 0;
    }
    if (!strcmp(m, "mix")) return mode_mix();
    if (!strcmp(m, "out")) return mode_out(a, b);
    if (!strcmp(m, "both")) {
        write_all(1, "out\n", 4);
        write_all(2, "err\n", 4);
        write_all(1, "out2\n", 5);
        return 0;
    }
    if (!strcmp(m, "sleep")) { sleep_ms(a); return 0; }
    if (!strcmp(m, "exitafter")) { sleep_ms(a); return (int)b; }
    if (!strcmp(m, "closeout")) {
        write_all(1, "bye\n", 4);
        close(1);
        close(2);
        sleep_ms(a);
        return 0;
    }
    if (!strcmp(m, "noread")) { sleep_ms(a); return 0; }
    if (!strcmp(m, "lines")) {
        for (long k = 1; k <= a; k++) {
            printf("line %ld\n", k);
            fflush(stdout);
            if (b) sleep_ms(b);
        }
        return 0;
    }
    if (!strcmp(m, "signal")) { raise((int)a); return 0; }
    if (!strcmp(m, "fds")) return mode_fds();
    if (!strcmp(m, "environ")) {
        extern char **environ;
        for (char **e = environ; *e; e++) printf("%s\n", *e);
        return 0;
    }
    if (!strcmp(m, "args")) {
        for (int i = 2; i < argc; i++) printf("%s\n", argv[i]);
        return 0;
    }
    if (!strcmp(m, "env")) {
        const char *v = argc > 2 ? getenv(argv[2]) : NULL;
        printf("%s\n", v ? v : "(unset)");
        return 0;
    }
    if (!strcmp(m, "cwd")) {
        char buf[4096];
        printf("%s\n", getcwd(buf, sizeof buf) ? buf : "?");
        return 0;
    }
    if (!strcmp(m, "ids")) {
        printf("%d %d %d\n", (int)getpid(), (int)getpgid(0), (int)getsid(0));
        return 0;
    }
    if (!strcmp(m, "sigs")) {
        sigset_t s;
        sigprocmask(SIG_SETMASK, NULL, &s);
        uint64_t bits = 0;
        for (int sig = 1; sig <= 64; sig++)
            if (sigismember(&s, sig) == 1) bits |= 1ull << (sig - 1);
        printf("blocked=%llx pipe=%s hup=%s usr1=%s\n", (unsigned long long)bits,
               disposition(SIGPIPE), disposition(SIGHUP), disposition(SIGUSR1));
        return 0;
    }
    if (!strcmp(m, "readall")) {
        static char buf[65536];
        long long total = 0;
        ssize_t n;
        while ((n = read(0, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) total += n;
        printf("%lld\n", total);
        return 0;
    }
    return 100;
}
