/*
 * The floor under any thread pool's round trip: the bare cross-CPU hand-off.
 *
 * Two pthreads, two counters on lines of their own. The "submitter" stores i into one, the
 * "worker" spins (pause) until it sees i and stores i into the other, the submitter spins
 * until it sees that: one request and one reply cross between the two CPUs, each one cache
 * line, with nothing else done — no job, no allocation, no queue, no future, no sleep.
 * A pool whose workers run on another CPU than the waiting thread cannot round-trip faster
 * than this (issue 18: on the reference VM this floor follows the machine's speed mode,
 * 120-160 ns in the fast one and 460-600 ns in the slow one, while Go's channel round trip
 * stays near 260 ns because its two goroutines share one P, i.e. one CPU).
 *
 * Usage: pool_floor [roundtrips]   (default 1,000,000; a warm-up of a tenth first)
 * Prints exactly: RESULT pool-roundtrip <ns per round trip>
 */
#include "peer.h"

#include <pthread.h>
#include <stdatomic.h>

static _Alignas(64) _Atomic unsigned long request;
static _Alignas(64) _Atomic unsigned long reply;
static unsigned long total;

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker(void *arg)
{
    (void)arg;
    for (unsigned long i = 1; i <= total; i++) {
        while (atomic_load_explicit(&request, memory_order_acquire) != i) relax();
        atomic_store_explicit(&reply, i, memory_order_release);
    }
    return NULL;
}

/* Round trips from..to (the worker answers each); returns ns each. */
static double run(unsigned long from, unsigned long to)
{
    double t0 = peer_now_ns();
    for (unsigned long i = from; i <= to; i++) {
        atomic_store_explicit(&request, i, memory_order_release);
        while (atomic_load_explicit(&reply, memory_order_acquire) != i) relax();
    }
    return (peer_now_ns() - t0) / (double)(to - from + 1);
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? (unsigned long)peer_count(argv[0], argv[1], 10, 1000000000)
                               : 1000000;
    unsigned long warm = n / 10;
    total = warm + n;
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    if (warm) run(1, warm);
    double ns = run(warm + 1, total);
    pthread_join(t, NULL);
    printf("RESULT pool-roundtrip %.1f\n", ns);
    return 0;
}
