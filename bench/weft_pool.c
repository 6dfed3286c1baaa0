/* pool — the thread pool and as_completed.
 *   pool-throughput:  N (default 1,000,000) tiny jobs (an atomic increment) submitted from
 *                     this thread to a pool of 2 workers, then all awaited: the job that
 *                     brings the counter to N sets an event this thread waits on (as the C
 *                     and Go peers do); jobs/s.
 *   pool-throughput-futures: the same, but every job's future is kept, then each awaited
 *                     (weft_future_result) and released, as Python's peer does (weft-only
 *                     line: the peers other than Python have no per-job handle).
 *   pool-throughput-futures-warm: the same again at once, in the same process: the jobs'
 *                     memory has been used before (pool-throughput-futures' first million
 *                     jobs are mostly fresh pages, which on the reference VM cost more than
 *                     the jobs themselves).
 *   pool-futures-page-bound: not a pool: the jobs/s that pool-throughput-futures could
 *                     reach if filling its jobs' fresh pages were all it did (the kernel
 *                     clears them; on the reference VM's slow mode that alone is near the
 *                     cold figure, see bench/RESULTS.md).
 *   pool-roundtrip:   submit one job and wait for its result, 100,000 times; ns each.
 *   pool-roundtrip-caller-runs: the same on a pool created with caller_runs (the waiting
 *                     thread runs a job no worker has started, as oneTBB's wait does).
 *   as-completed-1k / as-completed-100k: that many user futures, completed by another
 *                     thread in a random order, consumed with weft_as_completed from the
 *                     iterator's creation to the last future; ns per completion (should stay
 *                     flat from 1k to 100k: O(1) per completion).
 * pool-* beside oneTBB, GLib, libuv, Go and Python (bench/peers/pool_*); as-completed-* are
 * weft-only. */
#include "bench.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

static _Atomic long counter;
static long target;
static weft_event *all_done;

static int increment(void *arg, void **result)
{
    (void)arg; (void)result;
    if (atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) + 1 == target)
        weft_event_set(all_done);
    return 0;
}

static double throughput(weft_pool *p, long n)
{
    atomic_store(&counter, 0);
    target = n;
    BENCH_CHECK(weft_event_clear(all_done));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) BENCH_CHECK(weft_pool_submit(p, NULL, increment, NULL));
    BENCH_CHECK(weft_event_wait(all_done, WEFT_FOREVER));
    int64_t dt = weft_now() - t0;
    return (double)n / ((double)dt / 1e9);
}

static double throughput_futures(weft_pool *p, long n)
{
    weft_future **fs = malloc((size_t)n * sizeof *fs);
    if (!fs) exit(1);
    atomic_store(&counter, 0);
    target = -1;
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) BENCH_CHECK(weft_pool_submit(p, &fs[i], increment, NULL));
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_future_result(fs[i], WEFT_FOREVER, NULL));
        weft_future_release(fs[i]);
    }
    int64_t dt = weft_now() - t0;
    if (atomic_load(&counter) != n) {
        fprintf(stderr, "pool-throughput: counter %ld, expected %ld\n", atomic_load(&counter), n);
        exit(1);
    }
    free(fs);
    return (double)n / ((double)dt / 1e9);
}

/* The bound that fresh memory alone puts on pool-throughput-futures: its n jobs, each kept
 * with its future, live in blocks of JOB_STRIDE bytes, of which it finds about n/10 in the
 * cache (left by the warm-up); the rest come from fresh memory, mapped as the library does
 * (2 MiB huge pages asked for and filled in one call, src/core/alloc.c). This times only
 * that filling (the kernel clearing the pages) for those blocks and returns n per that
 * time. The job blocks only: not the benchmark's own array of n future pointers. */
#define JOB_STRIDE 112                 /* a job with its future, as carved (src/pool/pool.c) */
#define HUGE_PAGE (2u << 20)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23         /* Linux 5.14; older headers lack it */
#endif

static double page_bound(long n)
{
    long fresh = n - n / 10;
    size_t len = ((size_t)fresh * JOB_STRIDE + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    char *m = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("pool-futures-page-bound: mmap");
        exit(1);
    }
    char *a = (char *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    (void)madvise(a, len, MADV_HUGEPAGE);
    int64_t t0 = weft_now();
    if (madvise(a, len, MADV_POPULATE_WRITE) != 0)
        for (size_t off = 0; off < len; off += 4096) a[off] = 1;   /* older kernels */
    int64_t dt = weft_now() - t0;
    munmap(m, len + HUGE_PAGE);
    return (double)n / ((double)dt / 1e9);
}

static double roundtrip(weft_pool *p, long n)
{
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_future *f;
        BENCH_CHECK(weft_pool_submit(p, &f, increment, NULL));
        BENCH_CHECK(weft_future_result(f, WEFT_FOREVER, NULL));
        weft_future_release(f);
    }
    return (double)(weft_now() - t0) / (double)n;
}

typedef struct {
    weft_future **fs;
    long *order;
    long n;
} completer_job;

static int completer(void *arg, void **result)
{
    (void)result;
    completer_job *c = arg;
    for (long k = 0; k < c->n; k++) weft_future_set_result(c->fs[c->order[k]], NULL);
    return 0;
}

static double as_completed(long n)
{
    weft_future **fs = malloc((size_t)n * sizeof *fs);
    long *order = malloc((size_t)n * sizeof *order);
    if (!fs || !order) exit(1);
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_future_create(&fs[i]));
        order[i] = i;
    }
    for (long i = n - 1; i > 0; i--) {                 /* a random completion order */
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        long j = (long)(x % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    completer_job job = { fs, order, n };
    int64_t t0 = weft_now();
    weft_as_completed *it;
    BENCH_CHECK(weft_as_completed_create(&it, fs, (size_t)n, WEFT_FOREVER));
    weft_thread *t;
    BENCH_CHECK(weft_thread_start(&t, NULL, completer, &job));
    for (long k = 0; k < n; k++) {
        weft_future *f;
        BENCH_CHECK(weft_as_completed_next(it, &f));
    }
    int64_t dt = weft_now() - t0;
    weft_as_completed_destroy(it);
    BENCH_CHECK(weft_thread_join(t, WEFT_FOREVER, NULL));
    weft_thread_release(t);
    for (long i = 0; i < n; i++) weft_future_release(fs[i]);
    free(fs);
    free(order);
    return (double)dt / (double)n;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 1000000);
    long rt = n / 10;
    weft_pool *p;
    BENCH_CHECK(weft_pool_create(&p, &(weft_pool_opts){ .max_workers = 2 }));
    BENCH_CHECK(weft_event_create(&all_done));
    throughput(p, n / 10);                             /* warm-up: threads, caches */
    throughput_futures(p, n / 10);
    roundtrip(p, rt / 10);
    as_completed(1000);
    bench_result("pool-throughput", throughput(p, n));
    bench_result("pool-throughput-futures", throughput_futures(p, n));
    bench_result("pool-throughput-futures-warm", throughput_futures(p, n));
    bench_result("pool-futures-page-bound", page_bound(n));
    bench_result("pool-roundtrip", roundtrip(p, rt));
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 2;
    o.caller_runs = true;
    weft_pool *cr;
    BENCH_CHECK(weft_pool_create_ex(&cr, &o));
    roundtrip(cr, rt / 10);
    bench_result("pool-roundtrip-caller-runs", roundtrip(cr, rt));
    weft_pool_destroy(cr);
    double small = 0, big;
    for (int i = 0; i < 10; i++) small += as_completed(1000);   /* short: average ten */
    bench_result("as-completed-1k", small / 10);
    big = as_completed(100000);
    bench_result("as-completed-100k", big);
    weft_pool_destroy(p);
    weft_event_destroy(all_done);
    return 0;
}
