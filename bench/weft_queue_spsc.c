/* queue-spsc — one producer thread, one consumer thread, a weft_queue of capacity 1024,
 * 10^7 items; items per second (higher is better). The consumer checks every item arrives
 * in order. Beside Go's buffered channel, ck_ring, GLib's GAsyncQueue, Python's Queue.
 * Usage: weft_queue_spsc [--spsc] [count]; --spsc: a WEFT_QUEUE_SPSC queue (run.py's
 * system weft-spsc) instead of the default FIFO one (the MPMC ring, system weft). */
#include "bench.h"

typedef struct {
    weft_queue *q;
    long n;
} job;

static int producer(void *arg, void **result)
{
    (void)result;
    job *j = arg;
    for (long i = 1; i <= j->n; i++) BENCH_CHECK(weft_queue_put(j->q, (void *)i, WEFT_FOREVER));
    return 0;
}

static int consumer(void *arg, void **result)
{
    (void)result;
    job *j = arg;
    for (long i = 1; i <= j->n; i++) {
        void *it;
        BENCH_CHECK(weft_queue_get(j->q, &it, WEFT_FOREVER));
        if ((long)it != i) {
            fprintf(stderr, "item %ld arrived as %ld\n", i, (long)it);
            exit(1);
        }
    }
    return 0;
}

/* Moves n items through a fresh queue; returns the elapsed ns. */
static weft_queue_kind kind = WEFT_QUEUE_FIFO;

static int64_t pass(long n)
{
    job j = { NULL, n };
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    o.kind = kind;
    o.capacity = 1024;
    BENCH_CHECK(weft_queue_create_ex(&j.q, &o));
    weft_thread *p, *c;
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_thread_start(&c, NULL, consumer, &j));
    BENCH_CHECK(weft_thread_start(&p, NULL, producer, &j));
    BENCH_CHECK(weft_thread_join(p, WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_thread_join(c, WEFT_FOREVER, NULL));
    int64_t dt = weft_now() - t0;
    weft_thread_release(p);
    weft_thread_release(c);
    weft_queue_destroy(j.q);
    return dt;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--spsc") == 0) {
        kind = WEFT_QUEUE_SPSC;
        argc--;
        argv++;
    }
    long n = bench_count(argc, argv, 10000000);
    pass(n / 10 > 100000 ? n / 10 : 100000);       /* warm-up */
    bench_result("queue-spsc", (double)n / ((double)pass(n) / 1e9));
    return 0;
}
