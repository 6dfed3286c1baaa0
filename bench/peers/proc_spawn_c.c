/*
 * Peer benchmark: starting /bin/true and waiting for it, bare C.
 *
 *   proc_spawn_c posix_spawn [n]        posix_spawn + waitpid (glibc: clone(CLONE_VM|
 *                                       CLONE_VFORK), as vfork)
 *   proc_spawn_c fork [n]               fork + execve + waitpid
 *   proc_spawn_c posix_spawn_pidfd [n]  posix_spawn + pidfd_open + poll + waitid(P_PIDFD):
 *                                       what weft would do on posix_spawn (the choice
 *                                       weft measured against clone3 + CLONE_PIDFD)
 *
 * proc-spawn-seq: n times { start; wait }. proc-spawn-8: 8 children in flight: start until 8
 * run, then wait for any one (waitpid(-1); poll over the pidfds) and start the next, n in
 * all. Spawns per second, after a warm-up of 100. Default n = 2,000.
 * Prints exactly:
 *   RESULT proc-spawn-seq <spawns/s>
 *   RESULT proc-spawn-8 <spawns/s>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static char *const argv_true[] = { "/bin/true", NULL };
static int mode;                      /* 0 posix_spawn, 1 fork, 2 posix_spawn + pidfd */

static pid_t start(int *pidfd)
{
    pid_t pid;
    if (mode == 1) {
        pid = fork();
        if (pid == 0) {
            execve(argv_true[0], argv_true, environ);
            _exit(127);
        }
    } else if (posix_spawn(&pid, argv_true[0], NULL, NULL, argv_true, environ) != 0) {
        pid = -1;
    }
    if (pid < 0) { perror("spawn"); exit(1); }
    if (mode == 2) {
        *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (*pidfd < 0) { perror("pidfd_open"); exit(1); }
    }
    return pid;
}

static void check(int status)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "/bin/true failed: %#x\n", status);
        exit(1);
    }
}

static void reap_pidfd(int pidfd)
{
    struct pollfd p = { pidfd, POLLIN, 0 };
    while (poll(&p, 1, -1) < 0) {}
    siginfo_t si;
    if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 || si.si_status != 0) {
        perror("waitid");
        exit(1);
    }
    close(pidfd);
}

static double seq(long n)
{
    double t0 = peer_now_ns();
    for (long i = 0; i < n; i++) {
        int pidfd = -1, status;
        pid_t pid = start(&pidfd);
        if (mode == 2) {
            reap_pidfd(pidfd);
        } else {
            if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); exit(1); }
            check(status);
        }
    }
    return (double)n * 1e9 / (peer_now_ns() - t0);
}

static double eight(long n)
{
    double t0 = peer_now_ns();
    long started = 0, done = 0;
    int pidfds[8];
    int running = 0;
    while (done < n) {
        while (running < 8 && started < n) {
            int fd = -1;
            start(&fd);
            pidfds[running++] = fd;
            started++;
        }
        if (mode == 2) {
            struct pollfd p[8];
            for (int i = 0; i < running; i++) p[i] = (struct pollfd){ pidfds[i], POLLIN, 0 };
            if (poll(p, (nfds_t)running, -1) < 0) continue;
            for (int i = running - 1; i >= 0; i--) {
                if (!p[i].revents) continue;
                reap_pidfd(pidfds[i]);
                pidfds[i] = pidfds[--running];
                done++;
            }
        } else {
            int status;
            if (waitpid(-1, &status, 0) < 0) { perror("waitpid"); exit(1); }
            check(status);
            running--;
            done++;
        }
    }
    return (double)n * 1e9 / (peer_now_ns() - t0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s posix_spawn|fork|posix_spawn_pidfd [n]\n", argv[0]);
        return 2;
    }
    mode = !strcmp(argv[1], "fork") ? 1 : !strcmp(argv[1], "posix_spawn_pidfd") ? 2 : 0;
    long n = argc > 2 ? (long)peer_count(argv[0], argv[2], 10, 10000000) : 2000;
    seq(100);
    printf("RESULT proc-spawn-seq %.6g\n", seq(n));
    eight(100);
    printf("RESULT proc-spawn-8 %.6g\n", eight(n));
    return 0;
}
