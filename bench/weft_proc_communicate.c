/* proc-communicate — 64 MB through a child's stdin and back from its stdout (/bin/cat):
 * weft_subprocess_communicate(input = 64 MB), every byte checked; MB/s: 64 MB over the time
 * from the start to the child's exit, the median of 3 runs after a warm-up run.
 *   proc-communicate:      from a plain thread (one ppoll loop);
 *   proc-communicate-coro: from a coroutine (a task group on its loop; weft only).
 * Beside Python's Popen.communicate and a bare C poll loop (bench/peers/proc_communicate_*).
 * argv[1]: megabytes (default 64). */
#include "bench.h"

static size_t size;
static unsigned char *input;
static double mbs;

static double once(void)
{
    const char *argv[] = { "/bin/cat", NULL };
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdin_mode = o.stdout_mode = WEFT_STDIO_PIPE;
    int64_t t0 = weft_now();
    weft_subprocess *p;
    BENCH_CHECK(weft_subprocess_start(&p, argv, &o));
    weft_subprocess_result r;
    BENCH_CHECK(weft_subprocess_communicate(p, input, size, WEFT_FOREVER, &r));
    double secs = (double)(weft_now() - t0) / 1e9;
    if (r.returncode != 0 || r.out_len != size || memcmp(r.out, input, size) != 0) {
        fprintf(stderr, "cat gave back something else (%d, %zu bytes)\n", r.returncode, r.out_len);
        exit(1);
    }
    weft_subprocess_result_free(&r);
    weft_subprocess_destroy(p);
    return (double)size / (1 << 20) / secs;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median3(void)
{
    once();                                  /* warm-up */
    double v[3] = { once(), once(), once() };
    qsort(v, 3, sizeof v[0], cmp);
    return v[1];
}

static int coro(void *arg, void **result)
{
    (void)arg; (void)result;
    mbs = median3();
    return 0;
}

int main(int argc, char **argv)
{
    size = (size_t)bench_count(argc, argv, 64) << 20;
    input = malloc(size);
    if (!input) return 1;
    for (size_t i = 0; i < size; i++) input[i] = (unsigned char)(i * 2654435761u >> 24);
    bench_result("proc-communicate", median3());
    BENCH_CHECK(weft_run(coro, NULL, NULL));
    bench_result("proc-communicate-coro", mbs);
    free(input);
    return 0;
}
