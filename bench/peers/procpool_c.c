/* Peer benchmark: a bare C process pool — 2 forked workers, each with a pipe in and a pipe
 * out, tasks (an int) written to them with up to 16 in flight per worker, each worker
 * echoing its int back; the floor under a process pool with one task per message.
 * Usage: procpool_c [n] (default 100,000). Prints RESULT procpool-tasks <tasks/s>. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { WORKERS = 2, IN_FLIGHT = 16 };

static void worker(int in, int out)
{
    int buf[1024];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r <= 0) _exit(0);
        /* whole ints only: writes are of 4 bytes, and pipes keep them whole */
        if (write(out, buf, (size_t)r) != r) _exit(1);
    }
}

static double run(long n)
{
    int to[WORKERS][2], from[WORKERS][2];
    pid_t pid[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        if (pipe(to[w]) || pipe(from[w])) exit(1);
        pid[w] = fork();
        if (pid[w] == 0) {
            for (int o = 0; o < w; o++) {          /* the earlier workers' parent ends */
                close(to[o][1]);
                close(from[o][0]);
            }
            close(to[w][1]);
            close(from[w][0]);
            worker(to[w][0], from[w][1]);
        }
        close(to[w][0]);
        close(from[w][1]);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long sent = 0, got = 0, sum = 0;
    int inflight[WORKERS] = { 0 };
    while (got < n) {
        for (int w = 0; w < WORKERS; w++)
            while (inflight[w] < IN_FLIGHT && sent < n) {
                int v = (int)sent++;
                if (write(to[w][1], &v, sizeof v) != sizeof v) exit(1);
                inflight[w]++;
            }
        struct pollfd pf[WORKERS];
        for (int w = 0; w < WORKERS; w++) pf[w] = (struct pollfd){ from[w][0], POLLIN, 0 };
        poll(pf, WORKERS, -1);
        for (int w = 0; w < WORKERS; w++) {
            if (!(pf[w].revents & POLLIN)) continue;
            int buf[IN_FLIGHT];
            ssize_t r = read(from[w][0], buf, sizeof buf);
            if (r <= 0 || r % (ssize_t)sizeof(int)) exit(1);
            for (ssize_t i = 0; i < r / (ssize_t)sizeof(int); i++) sum += buf[i];
            inflight[w] -= (int)(r / (ssize_t)sizeof(int));
            got += r / (ssize_t)sizeof(int);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (sum != n * (n - 1) / 2) { fprintf(stderr, "wrong sum\n"); exit(1); }
    for (int w = 0; w < WORKERS; w++) {
        close(to[w][1]);
        close(from[w][0]);
        waitpid(pid[w], NULL, 0);
    }
    return (double)n / ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    run(2000);
    printf("RESULT procpool-tasks %.6g\n", run(n));
    return 0;
}
