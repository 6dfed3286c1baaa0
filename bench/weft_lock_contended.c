/* lock-contended — one weft_lock hammered
 *   -threads: by 2 threads, n/2 lock + counter++ + unlock each (n = 10^7);
 *   -coros:   by 100 coroutines on one loop, n/100 each (n = 10^6), yielding while holding
 *             the lock every 100th iteration (the definition in
 *             bench/peers/lock_contended_go_coros.go);
 * ns per acquire+release pair (wall time / pairs). Beside pthread_mutex and Go's
 * sync.Mutex. */
#include "bench.h"

static weft_lock *lock;
static long counter, per;
static weft_event *go;

static int hammer(void *arg, void **result)
{
    (void)result;
    bool yield = arg != NULL;
    weft_event_wait(go, WEFT_FOREVER);
    for (long i = 0; i < per; i++) {
        weft_lock_acquire(lock, WEFT_FOREVER);
        counter++;
        if (yield && i % 100 == 99) weft_yield();
        weft_lock_release(lock);
    }
    return 0;
}

static int64_t threads_pass(long n)
{
    per = n / 2;
    counter = 0;
    BENCH_CHECK(weft_event_clear(go));
    weft_thread *t[2];
    for (int i = 0; i < 2; i++) BENCH_CHECK(weft_thread_start(&t[i], NULL, hammer, NULL));
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_event_set(go));
    for (int i = 0; i < 2; i++) {
        BENCH_CHECK(weft_thread_join(t[i], WEFT_FOREVER, NULL));
        weft_thread_release(t[i]);
    }
    int64_t dt = weft_now() - t0;
    if (counter != 2 * per) exit(1);
    return dt;
}

static int coros_main(void *arg, void **result)
{
    long n = (long)arg;
    per = n / 100;
    counter = 0;
    BENCH_CHECK(weft_event_clear(go));
    weft_future *f[100];
    for (int i = 0; i < 100; i++) BENCH_CHECK(weft_spawn(&f[i], hammer, (void *)1));
    BENCH_CHECK(weft_yield());                     /* all wait at the gate */
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_event_set(go));
    for (int i = 0; i < 100; i++) {
        BENCH_CHECK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    *result = (void *)(intptr_t)(weft_now() - t0);
    if (counter != 100 * per) exit(1);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 10000000);
    BENCH_CHECK(weft_lock_create(&lock));
    BENCH_CHECK(weft_event_create(&go));
    threads_pass(n / 10);
    bench_result("lock-contended-threads", (double)threads_pass(n) / (double)(n / 2 * 2));
    long m = n / 10;                                   /* 10^6 by default */
    void *dt;
    BENCH_CHECK(weft_run(coros_main, (void *)(m / 10 > 10000 ? m / 10 : 10000), &dt));
    BENCH_CHECK(weft_run(coros_main, (void *)m, &dt));
    bench_result("lock-contended-coros", (double)(intptr_t)dt / (double)(m / 100 * 100));
    return 0;
}
