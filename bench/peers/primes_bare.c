/* Peer benchmark: the primes job (examples/primes_numbers.h) on bare forked processes and
 * on bare pthreads, 1 and 2 of each, taking numbers from a shared atomic counter (in a
 * MAP_SHARED page for the processes): the speed-up the machine itself allows.
 * 1-worker and 2-worker runs alternate, 3 of each (see bench/weft_primes.c).
 * Prints RESULT primes-processes <x> and RESULT primes-threads <x>. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../examples/primes_numbers.h"

typedef struct {
    _Atomic int next;
    _Atomic int primes;
} shared;

static shared *S;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
    (void)arg;
    int i;
    while ((i = atomic_fetch_add(&S->next, 1)) < COUNT)
        if (is_prime(numbers[i])) atomic_fetch_add(&S->primes, 1);
    return NULL;
}

static double run(int workers, int processes)
{
    atomic_store(&S->next, 0);
    atomic_store(&S->primes, 0);
    double t0 = now();
    pid_t pid[2];
    pthread_t th[2];
    for (int w = 0; w < workers; w++) {
        if (processes) {
            if ((pid[w] = fork()) == 0) {
                work(NULL);
                _exit(0);
            }
        } else {
            pthread_create(&th[w], NULL, work, NULL);
        }
    }
    for (int w = 0; w < workers; w++) {
        if (processes) waitpid(pid[w], NULL, 0);
        else pthread_join(th[w], NULL);
    }
    double t = now() - t0;
    if (atomic_load(&S->primes) != KNOWN_PRIMES) {
        fprintf(stderr, "wrong count\n");
        exit(1);
    }
    return t;
}

int main(void)
{
    S = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED) return 1;
    double tp[2] = { 0, 0 }, tt[2] = { 0, 0 };
    for (int rep = 0; rep < 3; rep++)
        for (int k = 0; k < 2; k++) {
            tp[k] += run(k + 1, 1);
            tt[k] += run(k + 1, 0);
        }
    printf("RESULT primes-processes %.6g\n", tp[0] / tp[1]);
    printf("RESULT primes-threads %.6g\n", tt[0] / tt[1]);
    return 0;
}
