/* switch — two coroutines ping-pong with weft_yield; ns per one-way switch.
 * Beside boost.context's raw jump_fcontext and Go's runtime.Gosched (GOMAXPROCS=1). */
#include "bench.h"

static long rounds;

static int yielder(void *arg, void **result)
{
    (void)arg; (void)result;
    for (long i = 0; i < rounds; i++) weft_yield();
    return 0;
}

static int bench_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *a, *b;
    BENCH_CHECK(weft_spawn(&a, yielder, NULL));
    BENCH_CHECK(weft_spawn(&b, yielder, NULL));
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_future_result(a, WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_future_result(b, WEFT_FOREVER, NULL));
    int64_t dt = weft_now() - t0;
    weft_future_release(a);
    weft_future_release(b);
    /* Each weft_yield hands the CPU to the other coroutine: 2 * rounds switches. */
    *result = (void *)(intptr_t)dt;
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 20000000);
    void *dt;
    rounds = n / 20;                              /* warm-up */
    BENCH_CHECK(weft_run(bench_main, NULL, &dt));
    rounds = n / 2;
    BENCH_CHECK(weft_run(bench_main, NULL, &dt));
    bench_result("switch", (double)(intptr_t)dt / (double)(2 * rounds));
    return 0;
}
