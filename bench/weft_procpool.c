/* bench/weft_procpool.c — procpool-tasks: a process pool of 2 workers runs n tasks that
 * return their int argument (as bytes), one task per message; all submitted, then every
 * result read back and checked. Tasks per second, after a warm-up of 2,000. The peers: a
 * bare C fork + pipes pool (peers/procpool_c.c) and Python's ProcessPoolExecutor.map and
 * multiprocessing.Pool.imap_unordered, chunk size 1 (peers/procpool_py.py).
 *
 * procpool-chunked: the same job through weft_procpool_map with chunks of 1,000 items
 * (n * 10 items); beside Python's ProcessPoolExecutor.map(chunksize=1000) and
 * multiprocessing's Pool.map (its default chunk size).
 *
 * Usage: weft_procpool [n]   (default 100,000). Prints RESULT procpool-tasks <tasks/s> and
 * RESULT procpool-chunked <tasks/s>.
 */
#include "bench.h"

#include <weft/procpool.h>

static int identity(const void *arg, size_t len, void **out, size_t *out_len)
{
    int *r = malloc(sizeof *r);
    if (!r || len != sizeof *r) return -EINVAL;
    memcpy(r, arg, sizeof *r);
    *out = r;
    *out_len = sizeof *r;
    return 0;
}

static void run(weft_procpool *p, long n, weft_future **f)
{
    for (long i = 0; i < n; i++) {
        int v = (int)i;
        BENCH_CHECK(weft_procpool_submit(p, &f[i], identity, &v, sizeof v));
    }
    for (long i = 0; i < n; i++) {
        const void *d;
        size_t len;
        BENCH_CHECK(weft_procpool_result(f[i], WEFT_FOREVER, &d, &len));
        int v;
        memcpy(&v, d, sizeof v);
        if (len != sizeof v || v != (int)i) { fprintf(stderr, "wrong result\n"); exit(1); }
        weft_future_release(f[i]);
    }
}

static long seen_sum;

static void add_item(void *arg, size_t i, int rc, const void *data, size_t len)
{
    (void)arg; (void)i;
    int v;
    if (rc != 0 || len != sizeof v) { fprintf(stderr, "item failed\n"); exit(1); }
    memcpy(&v, data, sizeof v);
    seen_sum += v;
}

static void run_chunked(weft_procpool *p, const int *items, long n)
{
    seen_sum = 0;
    BENCH_CHECK(weft_procpool_map(p, identity, items, sizeof *items, (size_t)n, 1000,
                                  add_item, NULL));
    if (seen_sum != n * (n - 1) / 2) { fprintf(stderr, "wrong sum\n"); exit(1); }
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 100000);
    weft_procpool_opts o = WEFT_PROCPOOL_OPTS_INIT;
    o.workers = 2;
    weft_procpool *p;
    BENCH_CHECK(weft_procpool_create(&p, &o));
    weft_future **f = malloc(sizeof *f * (size_t)(n > 2000 ? n : 2000));
    run(p, 2000, f);
    int64_t t0 = weft_now();
    run(p, n, f);
    bench_result("procpool-tasks", (double)n / ((double)(weft_now() - t0) / 1e9));
    long m = n * 10;
    int *items = malloc(sizeof *items * (size_t)m);
    for (long i = 0; i < m; i++) items[i] = (int)i;
    run_chunked(p, items, m / 10);
    t0 = weft_now();
    run_chunked(p, items, m);
    bench_result("procpool-chunked", (double)m / ((double)(weft_now() - t0) / 1e9));
    free(items);
    weft_procpool_destroy(p);
    free(f);
    return 0;
}
