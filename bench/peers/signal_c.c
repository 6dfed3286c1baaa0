/* Peer benchmark: signal-latency through a bare signalfd: SIGUSR1 blocked (one thread),
 * kill(getpid(), SIGUSR1), then read(2) on the signalfd; median ns over n, after 1,000.
 * Usage: signal_c [n] (default 20,000). Prints RESULT signal-latency <ns>. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static int64_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) { perror("signalfd"); return 1; }
    int64_t *t = malloc(sizeof *t * (size_t)n);
    for (long i = -1000; i < n; i++) {
        int64_t t0 = now();
        kill(getpid(), SIGUSR1);
        struct signalfd_siginfo si;
        if (read(fd, &si, sizeof si) != sizeof si) return 1;
        if (i >= 0) t[i] = now() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp64);
    printf("RESULT signal-latency %.6g\n", (double)t[n / 2]);
    return 0;
}
