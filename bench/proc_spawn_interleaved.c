/* proc_spawn_interleaved — the measurement behind weft's choice of spawner: /bin/true started
 * and waited for by four methods in one process, one after the other in turn (the order
 * rotating every iteration), each start+wait timed on its own; prints the median and the
 * quartile of each. On a machine whose speed moves (this VM, other jobs), only times taken
 * side by side like this compare; run.py's groups compare whole runs.
 *   weft:              weft_subprocess_start + weft_subprocess_wait (clone3, CLONE_PIDFD,
 *                      CLONE_CLEAR_SIGHAND; the pidfd polled, then waitid)
 *   posix_spawn:       posix_spawn + waitpid
 *   posix_spawn+pidfd: posix_spawn + pidfd_open + poll + waitid(P_PIDFD): the design not taken
 *   fork+exec:         fork + execve + waitpid
 * Usage: proc_spawn_interleaved [iterations]   (default 2,000 each)
 * Prints: RESULT proc-spawn-interleaved-<method> <median us>, and the ratios to stderr. */
#include "bench.h"

#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char *const argv_true[] = { "/bin/true", NULL };

static void by_weft(void)
{
    weft_subprocess *p;
    BENCH_CHECK(weft_subprocess_start(&p, (const char *const *)argv_true, NULL));
    BENCH_CHECK(weft_subprocess_wait(p, WEFT_FOREVER, NULL));
    weft_subprocess_destroy(p);
}

static void by_posix_spawn(void)
{
    pid_t pid;
    int st;
    if (posix_spawn(&pid, argv_true[0], NULL, NULL, argv_true, environ) || waitpid(pid, &st, 0) != pid)
        exit(1);
}

static void by_posix_spawn_pidfd(void)
{
    pid_t pid;
    if (posix_spawn(&pid, argv_true[0], NULL, NULL, argv_true, environ)) exit(1);
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd f = { fd, POLLIN, 0 };
    while (poll(&f, 1, -1) < 0) {}
    siginfo_t si;
    if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0) exit(1);
    close(fd);
}

static void by_fork(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        execve(argv_true[0], argv_true, environ);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) exit(1);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 2000);
    enum { M = 4 };
    void (*fn[M])(void) = { by_weft, by_posix_spawn, by_posix_spawn_pidfd, by_fork };
    const char *name[M] = { "weft", "posix_spawn", "posix_spawn+pidfd", "fork+exec" };
    double *t[M];
    for (int k = 0; k < M; k++) t[k] = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < 50; i++) for (int k = 0; k < M; k++) fn[k]();     /* warm-up */
    for (long i = 0; i < n; i++)
        for (int j = 0; j < M; j++) {
            int k = (int)((i + j) % M);
            int64_t t0 = weft_now();
            fn[k]();
            t[k][i] = (double)(weft_now() - t0) / 1e3;
        }
    double med[M];
    for (int k = 0; k < M; k++) {
        qsort(t[k], (size_t)n, sizeof(double), cmp);
        med[k] = t[k][n / 2];
        printf("RESULT proc-spawn-interleaved-%s %.6g\n", name[k], med[k]);
        fprintf(stderr, "%-18s median %7.1f us, quartiles %7.1f .. %7.1f; weft is %.3fx its rate\n",
                name[k], med[k], t[k][n / 4], t[k][3 * n / 4], med[k] / med[0]);
    }
    return 0;
}
