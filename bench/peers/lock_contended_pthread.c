/*
 * Peer benchmark: contended pthread mutex, two threads.
 *
 * Two pthreads each perform n/2 iterations of
 *     pthread_mutex_lock(&m); counter++; pthread_mutex_unlock(&m);
 * on one shared mutex and one shared counter (a default, i.e. normal,
 * glibc mutex: it spins not at all and sleeps in the kernel on contention).
 * Threads are not pinned.  Both are created first and released together; the
 * result is the wall time from the release until both have finished divided
 * by the total number of lock+unlock pairs (2 * (n/2)).  The final counter is
 * checked.  A warm-up pass of n/10 pairs (at least 100,000) runs first.
 *
 * Usage: lock_contended_pthread [pairs]   (default 10,000,000 pairs in total)
 * Prints exactly: RESULT lock-contended-threads <ns per acquire+release pair>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NTHREADS 2

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t counter; /* protected by mutex */
static uint64_t per_thread;
static _Atomic int go_flag;

static void *worker(void *arg)
{
    (void)arg;
    while (atomic_load_explicit(&go_flag, memory_order_acquire) == 0)
        ;
    const uint64_t n = per_thread;
    for (uint64_t i = 0; i < n; i++) {
        if (pthread_mutex_lock(&mutex) != 0)
            abort();
        counter++;
        if (pthread_mutex_unlock(&mutex) != 0)
            abort();
    }
    return NULL;
}


/* One pass of NTHREADS * per pairs; returns the elapsed nanoseconds. */
static double pass(uint64_t per)
{
    pthread_t t[NTHREADS];
    counter = 0;
    per_thread = per;
    atomic_store_explicit(&go_flag, 0, memory_order_relaxed);
    for (int i = 0; i < NTHREADS; i++) {
        if (pthread_create(&t[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "lock_contended_pthread: pthread_create failed\n");
            exit(1);
        }
    }
    double t0 = peer_now_ns();
    atomic_store_explicit(&go_flag, 1, memory_order_release);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    double t1 = peer_now_ns();
    if (counter != NTHREADS * per) {
        fprintf(stderr, "lock_contended_pthread: counter %llu, expected %llu\n",
                (unsigned long long)counter,
                (unsigned long long)(NTHREADS * per));
        exit(1);
    }
    return t1 - t0;
}

static uint64_t parse_count(const char *s)
{
    return (uint64_t)peer_count("lock_contended_pthread", s, NTHREADS, UINT64_MAX);
}

int main(int argc, char **argv)
{
    uint64_t pairs = 10000000ULL;
    if (argc > 1)
        pairs = parse_count(argv[1]);
    uint64_t per = pairs / NTHREADS;

    uint64_t warm = pairs / 10 < 100000 ? 100000 : pairs / 10;
    pass(warm / NTHREADS);

    double ns = pass(per);
    printf("RESULT lock-contended-threads %.3f\n",
           ns / (double)(NTHREADS * per));
    return 0;
}
