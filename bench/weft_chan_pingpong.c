/* chan-pingpong — two coroutines on one loop ping-pong one item through two queues of
 * capacity 1; ns per round trip. Beside Go's two unbuffered channels at GOMAXPROCS=1. */
#include "bench.h"

static weft_queue *ping, *pong;
static long rounds;

static int ponger(void *arg, void **result)
{
    (void)arg; (void)result;
    for (long i = 0; i < rounds; i++) {
        void *it;
        BENCH_CHECK(weft_queue_get(ping, &it, WEFT_FOREVER));
        BENCH_CHECK(weft_queue_put(pong, (void *)((long)it + 1), WEFT_FOREVER));
    }
    return 0;
}

static int pinger(void *arg, void **result)
{
    (void)arg;
    weft_future *f;
    BENCH_CHECK(weft_spawn(&f, ponger, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < rounds; i++) {
        void *it;
        BENCH_CHECK(weft_queue_put(ping, (void *)i, WEFT_FOREVER));
        BENCH_CHECK(weft_queue_get(pong, &it, WEFT_FOREVER));
        if ((long)it != i + 1) exit(1);
    }
    *result = (void *)(intptr_t)(weft_now() - t0);
    BENCH_CHECK(weft_future_result(f, WEFT_FOREVER, NULL));
    weft_future_release(f);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 1000000);
    BENCH_CHECK(weft_queue_create(&ping, 1));
    BENCH_CHECK(weft_queue_create(&pong, 1));
    void *dt;
    rounds = n / 10;
    BENCH_CHECK(weft_run(pinger, NULL, &dt));
    rounds = n;
    BENCH_CHECK(weft_run(pinger, NULL, &dt));
    bench_result("chan-pingpong", (double)(intptr_t)dt / (double)n);
    return 0;
}
