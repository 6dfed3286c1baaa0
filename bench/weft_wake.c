/* wake — thread -> coroutine -> thread round trip through two events; median and p99.
 * The main thread sets `ping`; a coroutine on another thread's loop, waiting for it,
 * clears it and sets `pong`; the main thread waits for `pong`. Beside a raw futex
 * ping-pong between two threads. */
#include "bench.h"

static weft_event *ping, *pong;
static long rounds;

static int responder(void *arg, void **result)
{
    (void)arg; (void)result;
    for (long i = 0; i < rounds; i++) {
        BENCH_CHECK(weft_event_wait(ping, WEFT_FOREVER));
        BENCH_CHECK(weft_event_clear(ping));
        BENCH_CHECK(weft_event_set(pong));
    }
    return 0;
}

static int loop_thread(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_run(responder, NULL, NULL);
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long measured = bench_count(argc, argv, 20000), warm = measured / 10;
    rounds = measured + warm;
    BENCH_CHECK(weft_event_create(&ping));
    BENCH_CHECK(weft_event_create(&pong));
    int64_t *rt = malloc((size_t)measured * sizeof *rt);
    weft_thread *t;
    BENCH_CHECK(weft_thread_start(&t, NULL, loop_thread, NULL));
    for (long i = 0; i < rounds; i++) {
        int64_t t0 = weft_now();
        BENCH_CHECK(weft_event_set(ping));
        BENCH_CHECK(weft_event_wait(pong, WEFT_FOREVER));
        BENCH_CHECK(weft_event_clear(pong));
        if (i >= warm) rt[i - warm] = weft_now() - t0;
    }
    BENCH_CHECK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
    qsort(rt, (size_t)measured, sizeof *rt, cmp);
    bench_result("wake-p50", (double)rt[measured / 2]);
    bench_result("wake-p99", (double)rt[measured * 99 / 100]);
    free(rt);
    return 0;
}
