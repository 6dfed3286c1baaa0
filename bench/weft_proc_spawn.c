/* proc-spawn — start /bin/true and wait for it, 2,000 times; spawns per second.
 *   proc-spawn-seq:      one at a time, from a plain thread (start, wait, destroy);
 *   proc-spawn-8:        8 coroutines on one loop, each doing the same in a loop, so 8 children
 *                        are in flight;
 *   proc-spawn-seq-coro: one at a time from a coroutine (the wait in the loop's epoll;
 *                        weft only).
 * Beside bare posix_spawn and fork+exec (bench/peers/proc_spawn_c.c), Go os/exec, Python
 * subprocess and asyncio, libuv uv_spawn. Each measurement follows a warm-up of 100. */
#include "bench.h"

static const char *const argv_true[] = { "/bin/true", NULL };

static void one(void)
{
    weft_subprocess *p;
    BENCH_CHECK(weft_subprocess_start(&p, argv_true, NULL));
    int code = -1;
    BENCH_CHECK(weft_subprocess_wait(p, WEFT_FOREVER, &code));
    if (code != 0) { fprintf(stderr, "/bin/true said %d\n", code); exit(1); }
    weft_subprocess_destroy(p);
}

static double seq(long n)
{
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) one();
    return (double)n * 1e9 / (double)(weft_now() - t0);
}

static long todo;                      /* one loop: no atomics needed */
static double rate;                    /* what a loop measured */

static int worker(void *arg, void **result)
{
    (void)arg; (void)result;
    while (todo > 0) {
        todo--;
        one();
    }
    return 0;
}

static int in_flight(void *arg, void **result)
{
    long n = *(long *)arg;
    todo = n;
    weft_future *f[8];
    int64_t t0 = weft_now();
    for (int i = 0; i < 8; i++) BENCH_CHECK(weft_spawn(&f[i], worker, NULL));
    for (int i = 0; i < 8; i++) {
        BENCH_CHECK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    rate = (double)n * 1e9 / (double)(weft_now() - t0);
    (void)result;
    return 0;
}

static int seq_coro(void *arg, void **result)
{
    (void)result;
    rate = seq(*(long *)arg);
    return 0;
}

static double on_loop(weft_fn fn, long n)
{
    BENCH_CHECK(weft_run(fn, &n, NULL));
    return rate;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 2000);
    seq(100);
    bench_result("proc-spawn-seq", seq(n));
    on_loop(in_flight, 100);
    bench_result("proc-spawn-8", on_loop(in_flight, n));
    on_loop(seq_coro, 100);
    bench_result("proc-spawn-seq-coro", on_loop(seq_coro, n));
    return 0;
}
