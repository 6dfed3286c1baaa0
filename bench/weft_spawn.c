/* spawn — spawn + run + join of an empty coroutine, 1,000,000 times; ns each.
 *   spawn-seq:   spawn one, wait for it, release it; repeat.
 *   spawn-batch: spawn all (detached), then wait once for the last to finish, like Go's
 *                `go` + WaitGroup.
 * Beside Go at GOMAXPROCS=1. */
#include "bench.h"

static long n;
static long remaining;
static weft_event *all_done;

static int empty(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int counted(void *arg, void **result)
{
    (void)arg; (void)result;
    if (--remaining == 0) weft_event_set(all_done);   /* one loop: no atomics needed */
    return 0;
}

static int seq(void *arg, void **result)
{
    (void)arg;
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_future *f;
        BENCH_CHECK(weft_spawn(&f, empty, NULL));
        BENCH_CHECK(weft_future_result(f, WEFT_FOREVER, NULL));
        weft_future_release(f);
    }
    *result = (void *)(intptr_t)(weft_now() - t0);
    return 0;
}

static int batch(void *arg, void **result)
{
    (void)arg;
    BENCH_CHECK(weft_event_clear(all_done));
    remaining = n;
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) BENCH_CHECK(weft_spawn(NULL, counted, NULL));
    BENCH_CHECK(weft_event_wait(all_done, WEFT_FOREVER));
    *result = (void *)(intptr_t)(weft_now() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    long count = bench_count(argc, argv, 1000000);
    BENCH_CHECK(weft_event_create(&all_done));
    void *dt;
    n = count / 10;                                  /* warm-up */
    BENCH_CHECK(weft_run(seq, NULL, &dt));
    BENCH_CHECK(weft_run(batch, NULL, &dt));
    n = count;
    BENCH_CHECK(weft_run(seq, NULL, &dt));
    bench_result("spawn-seq", (double)(intptr_t)dt / (double)n);
    BENCH_CHECK(weft_run(batch, NULL, &dt));
    bench_result("spawn-batch", (double)(intptr_t)dt / (double)n);
    weft_event_destroy(all_done);
    return 0;
}
