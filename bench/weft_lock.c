/* lock — uncontended weft_lock acquire + release on one thread; ns per pair.
 * Beside pthread_mutex_lock + unlock. */
#include "bench.h"

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 50000000);
    weft_lock *l;
    BENCH_CHECK(weft_lock_create(&l));
    volatile long inside = 0;
    for (long i = 0; i < n / 10; i++) {          /* warm-up */
        weft_lock_acquire(l, WEFT_FOREVER);
        inside++;
        weft_lock_release(l);
    }
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_lock_acquire(l, WEFT_FOREVER);
        inside++;
        weft_lock_release(l);
    }
    int64_t dt = weft_now() - t0;
    if (inside != n + n / 10) return 1;
    bench_result("lock", (double)dt / (double)n);
    weft_lock_destroy(l);
    return 0;
}
