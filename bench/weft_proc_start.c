/* bench/weft_proc_start.c — proc-start: weft_process_start of an empty function, then
 * weft_process_join, n times one after the other (from a plain thread). Starts per second,
 * after a warm-up of 50. The peers: bare fork + waitpid (peers/proc_start_c.c) and Python's
 * multiprocessing.Process with the fork start method (peers/proc_start_py.py).
 *
 * Usage: weft_proc_start [n]   (default 2,000). Prints RESULT proc-start <starts/s>.
 */
#include "bench.h"

static int empty(void *arg)
{
    (void)arg;
    return 0;
}

static void run(long n)
{
    for (long i = 0; i < n; i++) {
        weft_process *p;
        BENCH_CHECK(weft_process_start(&p, NULL, empty, NULL));
        int code = -1;
        BENCH_CHECK(weft_process_join(p, WEFT_FOREVER, &code));
        if (code != 0) { fprintf(stderr, "exit code %d\n", code); exit(1); }
        weft_process_release(p);
    }
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 2000);
    run(50);
    int64_t t0 = weft_now();
    run(n);
    bench_result("proc-start", (double)n / ((double)(weft_now() - t0) / 1e9));
    return 0;
}
