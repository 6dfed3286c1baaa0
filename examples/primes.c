/* primes.c — seed scenario 5: CPU-bound work spread over processes, and over threads.
 *
 * Twenty numbers below 2^47 are checked for primality by trial division (a prime there
 * costs some millions of divisions). The same job runs four ways: on a process pool
 * (weft_procpool) with 1 worker and with one worker per CPU, and on a thread pool
 * (weft_pool) with 1 and with one per CPU. Each way prints one line per number as its
 * result comes in (in submission order), then the time; the summary gives the speed-ups.
 *
 * What it shows:
 *   - in C, threads already run in parallel: the thread pool gets the same speed-up as the
 *     process pool (Python needs processes for this, because of its GIL);
 *   - a process pool task is a function and bytes: the argument goes to a worker, the
 *     answer comes back as bytes; its futures are ordinary weft futures;
 *   - what a process adds is isolation (a crash in a task fails that task only), which
 *     this job does not need: the thread pool is the natural choice for it.
 *
 * Exits 0 if the four ways agree with each other and with what is known (13 primes; 2^47 - 1
 * = 2351 x 4513 x 13264529 is not one). Where processes cannot be pooled (no pidfd_open:
 * Valgrind, Linux < 5.3), the process rows are skipped, and said so.
 */
#include <weft.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "primes_numbers.h"

static void print_line(uint64_t n, bool prime)
{
    printf("  %16" PRIu64 "  %s\n", n, prime ? "prime" : "not prime");
}

/* Runs the job on a process pool of `workers`; the answers in prime[]. Seconds, or -1 if
 * process pools are not available here. */
static double on_processes(int workers, bool prime[COUNT])
{
    weft_procpool_opts o = WEFT_PROCPOOL_OPTS_INIT;
    o.workers = workers;
    weft_procpool *pool;
    int rc = weft_procpool_create(&pool, &o);
    if (rc == -ENOSYS) return -1;
    if (rc) {
        fprintf(stderr, "weft_procpool_create: %s\n", weft_strerror(rc));
        exit(1);
    }
    int64_t t0 = weft_now();
    weft_future *f[COUNT];
    for (int i = 0; i < COUNT; i++)
        if ((rc = weft_procpool_submit(pool, &f[i], check_task, &numbers[i],
                                       sizeof numbers[i])) != 0) {
            fprintf(stderr, "weft_procpool_submit: %s\n", weft_strerror(rc));
            exit(1);
        }
    for (int i = 0; i < COUNT; i++) {
        const void *d;
        size_t len;
        if ((rc = weft_procpool_result(f[i], WEFT_FOREVER, &d, &len)) != 0 || len != 1) {
            fprintf(stderr, "a task failed: %s\n", weft_strerror(rc));
            exit(1);
        }
        prime[i] = *(const unsigned char *)d;
        print_line(numbers[i], prime[i]);
        weft_future_release(f[i]);
    }
    double s = (double)(weft_now() - t0) / 1e9;
    weft_procpool_destroy(pool);
    return s;
}

static double on_threads(int workers, bool prime[COUNT])
{
    weft_pool *pool;
    int rc = weft_pool_create(&pool, &(weft_pool_opts){ workers });
    if (rc) {
        fprintf(stderr, "weft_pool_create: %s\n", weft_strerror(rc));
        exit(1);
    }
    int64_t t0 = weft_now();
    weft_future *f[COUNT];
    for (int i = 0; i < COUNT; i++)
        if ((rc = weft_pool_submit(pool, &f[i], check_job, (void *)&numbers[i])) != 0) {
            fprintf(stderr, "weft_pool_submit: %s\n", weft_strerror(rc));
            exit(1);
        }
    for (int i = 0; i < COUNT; i++) {
        void *r = NULL;
        if ((rc = weft_future_result(f[i], WEFT_FOREVER, &r)) != 0) {
            fprintf(stderr, "a job failed: %s\n", weft_strerror(rc));
            exit(1);
        }
        prime[i] = (uintptr_t)r != 0;
        print_line(numbers[i], prime[i]);
        weft_future_release(f[i]);
    }
    double s = (double)(weft_now() - t0) / 1e9;
    weft_pool_destroy(pool);
    return s;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cpus < 1 ? 1 : cpus > 64 ? 64 : (int)cpus;
    bool ans[4][COUNT];
    double t[4];
    const char *what[4] = { "processes, 1 worker", "processes, one per CPU",
                            "threads, 1 worker", "threads, one per CPU" };
    for (int k = 0; k < 4; k++) {
        printf("%s (%d):\n", what[k], k % 2 ? n : 1);
        t[k] = k < 2 ? on_processes(k % 2 ? n : 1, ans[k]) : on_threads(k % 2 ? n : 1, ans[k]);
        if (t[k] < 0) printf("  (skipped: no process pool here: pidfd_open is missing)\n");
        else printf("  %.3f s\n", t[k]);
    }
    int ok = 1, primes = 0;
    for (int i = 0; i < COUNT; i++) {
        for (int k = 0; k < 4; k++)
            if (t[k] >= 0 && ans[k][i] != ans[2][i]) ok = 0;
        primes += ans[2][i];
    }
    if (ans[2][COUNT - 1] || primes != KNOWN_PRIMES) ok = 0;
    printf("\n%d of the %d numbers are prime.\n", primes, COUNT);
    if (t[0] >= 0)
        printf("processes: %.2fx faster with %d workers than with 1\n", t[0] / t[1], n);
    printf("threads:   %.2fx faster with %d workers than with 1 (%d CPUs)\n", t[2] / t[3], n,
           n);
    if (!ok) {
        fprintf(stderr, "the four ways disagree, or 2^47 - 1 came out prime\n");
        return 1;
    }
    return 0;
}
