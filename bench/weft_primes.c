/* bench/weft_primes.c — primes: the seeds' job (the 20 numbers of
 * examples/primes_numbers.h, trial division) on 1 and on 2 workers, as a wall-time
 * speed-up: on a process pool (weft_procpool) and on a thread pool (weft_pool). Ideal 2.0;
 * the peer (peers/primes_bare.c) is the same job on bare forked processes and bare pthreads
 * taking numbers from a shared counter: the machine's own ceiling.
 *
 * The 1-worker and 2-worker runs alternate, 3 of each, and the speed-up is the ratio of
 * their sums (this machine changes speed mode between runs: alternating shares it out).
 * Usage: weft_primes. Prints RESULT primes-processes <x> and RESULT primes-threads <x>.
 */
#include "bench.h"

#include <weft/procpool.h>

#include "../examples/primes_numbers.h"

static int primes_found;

/* One pass of the job; seconds (the pool already made: its start is not timed). */
static double on_processes(weft_procpool *p)
{
    int64_t t0 = weft_now();
    weft_future *f[COUNT];
    for (int i = 0; i < COUNT; i++)
        BENCH_CHECK(weft_procpool_submit(p, &f[i], check_task, &numbers[i], sizeof numbers[i]));
    int primes = 0;
    for (int i = 0; i < COUNT; i++) {
        const void *d;
        size_t len;
        BENCH_CHECK(weft_procpool_result(f[i], WEFT_FOREVER, &d, &len));
        primes += *(const unsigned char *)d;
        weft_future_release(f[i]);
    }
    primes_found = primes;
    return (double)(weft_now() - t0) / 1e9;
}

static double on_threads(weft_pool *p)
{
    int64_t t0 = weft_now();
    weft_future *f[COUNT];
    for (int i = 0; i < COUNT; i++)
        BENCH_CHECK(weft_pool_submit(p, &f[i], check_job, (void *)&numbers[i]));
    int primes = 0;
    for (int i = 0; i < COUNT; i++) {
        void *r;
        BENCH_CHECK(weft_future_result(f[i], WEFT_FOREVER, &r));
        primes += (uintptr_t)r != 0;
        weft_future_release(f[i]);
    }
    primes_found = primes;
    return (double)(weft_now() - t0) / 1e9;
}

int main(void)
{
    weft_procpool *pp[2];
    weft_pool *tp[2];
    for (int k = 0; k < 2; k++) {
        weft_procpool_opts o = WEFT_PROCPOOL_OPTS_INIT;
        o.workers = k + 1;
        BENCH_CHECK(weft_procpool_create(&pp[k], &o));
        BENCH_CHECK(weft_pool_create(&tp[k], &(weft_pool_opts){ k + 1 }));
    }
    double tproc[2] = { 0, 0 }, tthr[2] = { 0, 0 };
    for (int rep = 0; rep < 3; rep++)
        for (int k = 0; k < 2; k++) {
            tproc[k] += on_processes(pp[k]);
            if (primes_found != KNOWN_PRIMES) { fprintf(stderr, "wrong count\n"); return 1; }
            tthr[k] += on_threads(tp[k]);
            if (primes_found != KNOWN_PRIMES) { fprintf(stderr, "wrong count\n"); return 1; }
        }
    for (int k = 0; k < 2; k++) {
        weft_procpool_destroy(pp[k]);
        weft_pool_destroy(tp[k]);
    }
    bench_result("primes-processes", tproc[0] / tproc[1]);
    bench_result("primes-threads", tthr[0] / tthr[1]);
    return 0;
}
