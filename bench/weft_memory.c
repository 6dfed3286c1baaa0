/* memory — 1,000,000 coroutines, each blocked on one event; peak RSS per coroutine.
 * Measured as Go's peer measures it: VmHWM after all are blocked, minus VmHWM before,
 * divided by the count. Default stack settings. Beside 1,000,000 goroutines on a channel.
 * --compact: the same with compact coroutines (WEFT_SPAWN_COMPACT: frames copied out of a
 * shared run stack, docs/COMPACT_STACKS.md); run.py reports it as system weft-compact. */
#include "bench.h"

static long n, started;
static weft_event *go;
static weft_spawn_opts opts = WEFT_SPAWN_OPTS_INIT;

static int member(void *arg, void **result)
{
    (void)arg; (void)result;
    started++;
    return weft_event_wait(go, WEFT_FOREVER);
}

static int bench_main(void *arg, void **result)
{
    (void)arg; (void)result;
    long before = bench_peak_rss_kib();
    for (long i = 0; i < n; i++) BENCH_CHECK(weft_spawn_ex(NULL, &opts, member, NULL));
    BENCH_CHECK(weft_yield());                     /* every one runs and blocks */
    if (started != n) {
        fprintf(stderr, "only %ld of %ld started\n", started, n);
        exit(1);
    }
    long after = bench_peak_rss_kib();
    bench_result("memory", (double)(after - before) * 1024.0 / (double)n);
    BENCH_CHECK(weft_event_set(go));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--compact") == 0) {
        if (!weft_compact_stacks()) {
            fprintf(stderr, "compact stacks are not available in this build\n");
            return 1;
        }
        opts.flags = WEFT_SPAWN_COMPACT;
        argc--;
        argv++;
    }
    n = bench_count(argc, argv, 1000000);
    BENCH_CHECK(weft_event_create(&go));
    BENCH_CHECK(weft_run(bench_main, NULL, NULL));
    return 0;
}
