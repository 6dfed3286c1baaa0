/* bench/weft_signal.c — signal-latency: a signal sent to the process with kill(2), and the
 * time until weft_signal_next hands it to the waiter; one at a time, n times, median and p99
 * in ns. From a plain thread (signal-latency) and from a coroutine (signal-latency-coro).
 * The path: weft's handler counts the signal and writes the self-pipe, the router thread
 * wakes and queues it to the receiver, whose waiter wakes. The peers: a bare signalfd read
 * (peers/signal_c.c, the kernel's own path, which needs the signal blocked in every thread)
 * and asyncio's loop.add_signal_handler (peers/signal_py.py).
 *
 * Usage: weft_signal [n]   (default 20,000). Prints RESULT signal-latency <ns> and
 * RESULT signal-latency-coro <ns> (medians).
 */
#include "bench.h"

#include <signal.h>
#include <unistd.h>

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static long n_iter;
static double median_ns;

static int measure(void *arg, void **result)
{
    (void)arg; (void)result;
    int sig = SIGUSR1;
    weft_signal_receiver *rx;
    BENCH_CHECK(weft_signal_open(&rx, &sig, 1));
    int64_t *t = malloc(sizeof *t * (size_t)n_iter);
    for (long i = -1000; i < n_iter; i++) {          /* 1,000 to warm up */
        int64_t t0 = weft_now();
        kill(getpid(), SIGUSR1);
        int got = 0;
        BENCH_CHECK(weft_signal_next(rx, 10 * WEFT_SEC, &got));
        if (i >= 0) t[i] = weft_now() - t0;
    }
    qsort(t, (size_t)n_iter, sizeof *t, cmp64);
    median_ns = (double)t[n_iter / 2];
    free(t);
    weft_signal_close(rx);
    return 0;
}

int main(int argc, char **argv)
{
    n_iter = bench_count(argc, argv, 20000);
    measure(NULL, NULL);
    bench_result("signal-latency", median_ns);
    BENCH_CHECK(weft_run(measure, NULL, NULL));
    bench_result("signal-latency-coro", median_ns);
    return 0;
}
