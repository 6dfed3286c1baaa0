/* bench/peers/peer.h — what the C and C++ peer programs share: the clock and the parsing of
 * a count argument. Standalone (no weft), usable from C11 and C++. */
#ifndef WEFT_BENCH_PEER_H
#define WEFT_BENCH_PEER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline double peer_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A decimal count in [min, max]; otherwise a message naming prog, and exit 2. */
static inline uint64_t peer_count(const char *prog, const char *s, uint64_t min, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: bad count '%s' (%llu .. %llu)\n", prog, s,
                (unsigned long long)min, (unsigned long long)max);
        exit(2);
    }
    return (uint64_t)v;
}

/* The pool peers' arguments: [tasks [roundtrips]] (defaults 1,000,000 and 100,000), each
 * at least 10 and at most max; otherwise a usage line naming prog, and exit 2. */
static inline void peer_pool_counts(const char *prog, int argc, char **argv, uint64_t max,
                                    unsigned long *tasks, unsigned long *roundtrips)
{
    *tasks = 1000000;
    *roundtrips = 100000;
    if (argc > 3) {
        fprintf(stderr, "usage: %s [tasks [roundtrips]]\n", prog);
        exit(2);
    }
    if (argc > 1) *tasks = (unsigned long)peer_count(prog, argv[1], 10, max);
    if (argc > 2) *roundtrips = (unsigned long)peer_count(prog, argv[2], 10, max);
}

#endif
