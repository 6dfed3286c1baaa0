/* queue-mpmc — 2 producer threads, 2 consumer threads, capacity 1024, 10^7 items in all;
 * items per second (higher is better); count and sum checked. Beside Go's buffered
 * channel at GOMAXPROCS=2. */
#include "bench.h"

#include <stdatomic.h>

typedef struct {
    weft_queue *q;
    long per_producer;
    atomic_long sum, count;
} job;

static int producer(void *arg, void **result)
{
    (void)result;
    job *j = arg;
    for (long i = 1; i <= j->per_producer; i++)
        BENCH_CHECK(weft_queue_put(j->q, (void *)i, WEFT_FOREVER));
    return 0;
}

static int consumer(void *arg, void **result)
{
    (void)result;
    job *j = arg;
    long sum = 0, count = 0;
    void *it;
    while (weft_queue_get(j->q, &it, WEFT_FOREVER) == 0) {
        sum += (long)it;
        count++;
    }
    atomic_fetch_add(&j->sum, sum);
    atomic_fetch_add(&j->count, count);
    return 0;
}

static int64_t pass(long n)
{
    job j = { .per_producer = n / 2 };
    BENCH_CHECK(weft_queue_create(&j.q, 1024));
    weft_thread *t[4];
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_thread_start(&t[0], NULL, consumer, &j));
    BENCH_CHECK(weft_thread_start(&t[1], NULL, consumer, &j));
    BENCH_CHECK(weft_thread_start(&t[2], NULL, producer, &j));
    BENCH_CHECK(weft_thread_start(&t[3], NULL, producer, &j));
    BENCH_CHECK(weft_thread_join(t[2], WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_thread_join(t[3], WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_queue_shutdown(j.q, false));     /* consumers drain, then stop */
    BENCH_CHECK(weft_thread_join(t[0], WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_thread_join(t[1], WEFT_FOREVER, NULL));
    int64_t dt = weft_now() - t0;
    for (int i = 0; i < 4; i++) weft_thread_release(t[i]);
    long per = j.per_producer;
    if (atomic_load(&j.count) != 2 * per || atomic_load(&j.sum) != per * (per + 1)) {
        fprintf(stderr, "items lost or duplicated\n");
        exit(1);
    }
    weft_queue_destroy(j.q);
    return dt;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 10000000);
    pass(n / 10 > 100000 ? n / 10 : 100000);
    bench_result("queue-mpmc", (double)(n / 2 * 2) / ((double)pass(n) / 1e9));
    return 0;
}
