/*
 * Peer benchmark: uncontended pthread mutex acquire + release on one thread.
 *
 * A volatile counter is incremented inside the critical section so the
 * compiler can neither drop nor merge iterations; the mutex itself lives in
 * a global whose address escapes into the (opaque) libc calls.
 *
 * Usage: lock_pthread [pairs]   (default 50,000,000 lock/unlock pairs)
 * Prints exactly: RESULT lock <ns per acquire+release pair>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t counter;

static void run(uint64_t pairs)
{
    for (uint64_t i = 0; i < pairs; i++) {
        if (pthread_mutex_lock(&mutex) != 0)
            abort();
        counter = counter + 1;
        if (pthread_mutex_unlock(&mutex) != 0)
            abort();
    }
}


static uint64_t parse_count(const char *s)
{
    return (uint64_t)peer_count("lock_pthread", s, 1, UINT64_MAX);
}

int main(int argc, char **argv)
{
    uint64_t pairs = 50000000ULL;
    if (argc > 1)
        pairs = parse_count(argv[1]);

    uint64_t warm = pairs / 10 < 100000 ? 100000 : pairs / 10;
    run(warm);

    double t0 = peer_now_ns();
    run(pairs);
    double t1 = peer_now_ns();

    if (counter != warm + pairs) {
        fprintf(stderr, "lock_pthread: counter mismatch\n");
        return 1;
    }
    printf("RESULT lock %.3f\n", (t1 - t0) / (double)pairs);
    return 0;
}
