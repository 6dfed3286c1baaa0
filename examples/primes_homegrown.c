/* primes_homegrown.c — seed scenarios 4 and 5: a homegrown process pool, fed through a
 * queue shared by processes and stopped with poison pills.
 *
 * The parent puts the twenty numbers of primes_numbers.h on a jobs queue, starts one worker
 * process per CPU (or as many as the first argument says) and puts one poison pill (the
 * number 0) per worker after them. Each worker takes numbers until it takes a pill, and
 * puts (number, prime?, seconds) on a results queue; the parent prints each result as it
 * comes, then joins the workers. The same job runs first with one worker, then with all of
 * them, and the speed-up is printed.
 *
 * What it shows:
 *   - weft_shared_queue carries byte messages between processes: anything put before or
 *     after a child started is seen by it, since the queue was made before;
 *   - the poison pill: one sentinel per consumer, queued behind the real work, ends each
 *     consumer after the work is done, with no other signal;
 *   - the results come back in the order the workers finish, not the order of the jobs.
 *
 * Exits 0 if the results are right (13 primes) and complete. Where processes cannot be
 * started (no pidfd_open: Valgrind), says so and exits 0.
 */
#include <weft.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "primes_numbers.h"

typedef struct {
    uint64_t n;
    uint64_t prime;
    double seconds;
} result;

static weft_shared_queue *jobs, *results;

/* A worker process: numbers in, results out, until the pill. */
static int worker(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t n;
        size_t len;
        int rc = weft_shared_queue_get(jobs, &n, sizeof n, &len, WEFT_FOREVER);
        if (rc) return 1;
        if (n == 0) return 0;                         /* the poison pill */
        int64_t t0 = weft_now();
        result r = { .n = n, .prime = is_prime(n) };
        r.seconds = (double)(weft_now() - t0) / 1e9;
        if (weft_shared_queue_put(results, &r, sizeof r, WEFT_FOREVER)) return 1;
    }
}

/* One run with `workers` processes. Seconds, or -1 (no processes here); *primes counted. */
static double run(int workers, int *primes)
{
    int64_t t0 = weft_now();
    for (int i = 0; i < COUNT; i++)
        if (weft_shared_queue_put(jobs, &numbers[i], sizeof numbers[i], 0)) exit(1);
    weft_process *p[64];
    for (int i = 0; i < workers; i++) {
        int rc = weft_process_start(&p[i], NULL, worker, NULL);
        if (rc == -ENOSYS && i == 0) return -1;
        if (rc) {
            fprintf(stderr, "weft_process_start: %s\n", weft_strerror(rc));
            exit(1);
        }
        uint64_t pill = 0;
        if (weft_shared_queue_put(jobs, &pill, sizeof pill, 0)) exit(1);
    }
    *primes = 0;
    for (int i = 0; i < COUNT; i++) {
        result r;
        size_t len;
        if (weft_shared_queue_get(results, &r, sizeof r, &len, 60 * WEFT_SEC) || len != sizeof r)
            exit(1);
        printf("  %16" PRIu64 "  %c %9.6fs\n", r.n, r.prime ? 'P' : ' ', r.seconds);
        *primes += (int)r.prime;
    }
    for (int i = 0; i < workers; i++) {
        int code = -1;
        if (weft_process_join(p[i], 60 * WEFT_SEC, &code) || code != 0) {
            fprintf(stderr, "a worker failed (exit code %d)\n", code);
            exit(1);
        }
        weft_process_release(p[i]);
    }
    return (double)(weft_now() - t0) / 1e9;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = argc > 1 ? atoi(argv[1]) : (int)cpus;
    if (workers < 1) workers = 1;
    if (workers > 64) workers = 64;
    /* Both queues are made before any worker starts: every worker sees them. */
    if (weft_shared_queue_create(&jobs, 0, 4096) || weft_shared_queue_create(&results, 0, 4096)) {
        fprintf(stderr, "cannot make the queues\n");
        return 1;
    }
    double t[2];
    int primes[2], n[2] = { 1, workers };
    for (int k = 0; k < 2; k++) {
        printf("Checking %d numbers with %d process%s:\n", COUNT, n[k], n[k] > 1 ? "es" : "");
        t[k] = run(n[k], &primes[k]);
        if (t[k] < 0) {
            printf("  (skipped: processes cannot be started here: no pidfd_open)\n");
            return 0;
        }
        printf("  %d primes; total time: %.2fs\n", primes[k], t[k]);
    }
    printf("%.2fx faster with %d processes than with 1\n", t[0] / t[1], workers);
    weft_shared_queue_destroy(jobs);
    weft_shared_queue_destroy(results);
    if (primes[0] != KNOWN_PRIMES || primes[1] != KNOWN_PRIMES) {
        fprintf(stderr, "expected %d primes\n", KNOWN_PRIMES);
        return 1;
    }
    return 0;
}
