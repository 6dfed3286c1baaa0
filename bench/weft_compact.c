/* compact-switch-<pad> — the cost of a switch between two coroutines that each hold `pad`
 * bytes of live stack (a local array, touched) while they ping-pong with weft_yield; ns per
 * one-way switch, libaco's table: the switch cost as a function of the live stack size.
 *   (default)  both compact (WEFT_SPAWN_COMPACT) on one run stack: every switch saves the
 *              outgoing one's live frames and restores the incoming one's (the worst case)
 *   --mixed    one compact, one plain: the compact one keeps the run stack, nothing copied
 *   --plain    both plain (their own stacks): weft_yield's ordinary switch
 * The live stack is pad plus ~250 bytes of frames (the task's entry, the loop, the switch).
 * run.py reports the three as systems weft, weft-mixed and weft-plain. */
#include "bench.h"

static long rounds;
static size_t pad;
static unsigned mode;                  /* 0 compact, 1 mixed, 2 plain */

static __attribute__((noinline)) int hold_and_yield(size_t n)
{
    volatile char buf[n + 1];
    for (size_t i = 0; i <= n; i += 64) buf[i] = (char)i;
    for (long i = 0; i < rounds; i++) weft_yield();
    return buf[0];
}

static int yielder(void *arg, void **result)
{
    (void)arg; (void)result;
    return hold_and_yield(pad) == 0 ? 0 : -EIO;
}

static int bench_main(void *arg, void **result)
{
    (void)arg;
    weft_spawn_opts c = WEFT_SPAWN_OPTS_INIT, p = WEFT_SPAWN_OPTS_INIT;
    c.flags = WEFT_SPAWN_COMPACT;
    weft_future *a, *b;
    BENCH_CHECK(weft_spawn_ex(&a, mode == 2 ? &p : &c, yielder, NULL));
    BENCH_CHECK(weft_spawn_ex(&b, mode == 0 ? &c : &p, yielder, NULL));
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_future_result(a, WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_future_result(b, WEFT_FOREVER, NULL));
    int64_t dt = weft_now() - t0;
    weft_future_release(a);
    weft_future_release(b);
    *result = (void *)(intptr_t)dt;            /* 2 * rounds switches */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--mixed") == 0) mode = 1, argc--, argv++;
    else if (argc > 1 && strcmp(argv[1], "--plain") == 0) mode = 2, argc--, argv++;
    if (mode != 2 && !weft_compact_stacks()) {
        fprintf(stderr, "compact stacks are not available in this build\n");
        return 1;
    }
    long n = bench_count(argc, argv, 4000000);
    static const size_t pads[] = { 0, 256, 1024, 4096, 16384 };
    for (size_t k = 0; k < sizeof pads / sizeof pads[0]; k++) {
        pad = pads[k];
        long scale = pad >= 4096 ? (long)(pad / 1024) : 1;   /* big copies: fewer rounds */
        void *dt;
        rounds = n / scale / 20;                            /* warm-up */
        BENCH_CHECK(weft_run(bench_main, NULL, &dt));
        rounds = n / scale / 2;
        BENCH_CHECK(weft_run(bench_main, NULL, &dt));
        char name[64];
        snprintf(name, sizeof name, "compact-switch-%zu", pad);
        bench_result(name, (double)(intptr_t)dt / (double)(2 * rounds));
    }
    return 0;
}
