/* bench/bench.h — shared bits of the weft benchmark programs.
 *
 * Each program prints `RESULT <workload> <value>` lines on stdout, nothing else; bench/run.py
 * runs it beside its peers, interleaved, and prints the BENCH and RATIO lines. argv[1], if
 * given, overrides the iteration count. Every program warms up before it measures.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline long bench_count(int argc, char **argv, long dflt)
{
    return argc > 1 ? atol(argv[1]) : dflt;
}

static inline void bench_result(const char *workload, double value)
{
    printf("RESULT %s %.6g\n", workload, value);
    fflush(stdout);
}

#define BENCH_CHECK(expr) do { int rc_ = (expr); if (rc_ != 0) { \
    fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, weft_strerror(rc_)); \
    exit(1); } } while (0)

/* Peak resident set (VmHWM) in KiB. */
static inline long bench_peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) v = atol(line + 6);
    if (f) fclose(f);
    return v;
}

#endif /* WEFT_BENCH_H */
