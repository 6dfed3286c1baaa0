/* bench/weft_shared_queue.c — shared-queue: one producer process puts n 8-byte messages
 * (an int64 counter) on a weft_shared_queue of 1,000 slots, one consumer process takes
 * them and checks the sum; messages per second, from the first put to the consumer's end.
 * The peers (peers/shared_queue_py.py): Python's multiprocessing.Queue and SimpleQueue,
 * the same job.
 *
 * Usage: weft_shared_queue [n]   (default 1,000,000). Prints RESULT shared-queue <msgs/s>.
 */
#include "bench.h"

#include <weft/process.h>
#include <weft/shared.h>

static weft_shared_queue *q;
static long n;

static int consumer(void *arg)
{
    (void)arg;
    int64_t sum = 0;
    for (long i = 0; i < n; i++) {
        int64_t v;
        size_t len;
        if (weft_shared_queue_get(q, &v, sizeof v, &len, WEFT_FOREVER) || len != sizeof v)
            return 1;
        sum += v;
    }
    return sum == (int64_t)n * (n - 1) / 2 ? 0 : 2;
}

int main(int argc, char **argv)
{
    n = bench_count(argc, argv, 1000000);
    BENCH_CHECK(weft_shared_queue_create(&q, 1000, 64 * 1024));
    int64_t t0 = weft_now();
    weft_process *c;
    BENCH_CHECK(weft_process_start(&c, NULL, consumer, NULL));
    for (int64_t i = 0; i < n; i++)
        BENCH_CHECK(weft_shared_queue_put(q, &i, sizeof i, WEFT_FOREVER));
    int code = -1;
    BENCH_CHECK(weft_process_join(c, WEFT_FOREVER, &code));
    double s = (double)(weft_now() - t0) / 1e9;
    if (code != 0) {
        fprintf(stderr, "consumer failed (%d)\n", code);
        return 1;
    }
    weft_process_release(c);
    weft_shared_queue_destroy(q);
    bench_result("shared-queue", (double)n / s);
    return 0;
}
