/* Peer benchmark: bare fork + waitpid of a child that calls an empty function and _exits:
 * the floor under any "start a function in a process" API.
 * Usage: proc_start_c [n] (default 2,000). Prints RESULT proc-start <starts/s>. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int empty(void) { return 0; }

static void run(long n)
{
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(empty());
        if (pid < 0) { perror("fork"); exit(1); }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) exit(1);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000;
    run(50);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    run(n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("RESULT proc-start %.6g\n", (double)n / s);
    return 0;
}
