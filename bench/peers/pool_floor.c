/*
 * The floor under any thread pool's round trip: the bare cross-CPU hand-off.
 *
 * Two pthreads, pinned to two distinct CPUs, two counters on lines of their own. The "submitter" stores i into one, the
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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* 128 apart: not a pair the adjacent-line prefetcher fetches together. */
static _Alignas(128) _Atomic unsigned long request;
static _Alignas(128) _Atomic unsigned long reply;
static unsigned long total;
static int cpus[2];                     /* two distinct CPUs the process may run on */

/* Pins the calling thread to cpu (best effort: unpinned, the floor is that of wherever the
 * scheduler puts the two threads). */
static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

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
    pin(cpus[1]);
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
    /* Two spinning threads on one CPU would wait a timeslice per hand-off (hours): with
     * fewer than two CPUs allowed there is no cross-CPU floor to measure. */
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
        fprintf(stderr, "pool_floor: needs two CPUs\n");
        return 2;
    }
    for (int c = 0, k = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &allowed)) cpus[k++] = c;
    pin(cpus[0]);
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
