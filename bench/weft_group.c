/* group — structured concurrency: task groups and deadline scopes; 1,000,000 by default.
 *   group-spawn:       R = count/1000 times { weft_group_create; 1,000 times
 *                      weft_group_spawn of an empty coroutine; weft_group_wait;
 *                      weft_group_destroy }, all in one weft_run coroutine; ns per child
 *                      (the group's creation, wait and destruction included).
 *   group-spawn-plain: the same shape without a group: 1,000 times weft_spawn into an array,
 *                      then weft_future_result + weft_future_release of each; ns per child.
 *   timeout-scope:     count times { weft_scope_enter (1 s deadline); weft_lock_acquire
 *                      (WEFT_FOREVER) + weft_lock_release of an uncontended lock;
 *                      weft_scope_leave } in a coroutine; ns per scope, the call included.
 *                      Measured apart (release build, 2-core dev VM): the bare
 *                      acquire+release in a coroutine, no scope, costs about 9.5 ns, and
 *                      enter+leave of an empty scope about 37 ns, so nearly all of the
 *                      figure (~41 ns) is the scope itself.
 * group-spawn beside Go's errgroup at GOMAXPROCS=1 (peers/group_spawn_go.go); the other two
 * are weft-only (run.py prints the derived ratio group-spawn / group-spawn-plain). */
#include "bench.h"

#define CHILDREN 1000

static long rounds;          /* group-spawn, group-spawn-plain: rounds of CHILDREN */
static long n;               /* timeout-scope: iterations */
static weft_lock *lock;
static weft_future *futs[CHILDREN];

static int empty(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static int grouped(void *arg, void **result)
{
    (void)arg;
    int64_t t0 = weft_now();
    for (long r = 0; r < rounds; r++) {
        weft_group *g;
        BENCH_CHECK(weft_group_create(&g));
        for (int i = 0; i < CHILDREN; i++)
            BENCH_CHECK(weft_group_spawn(g, NULL, NULL, empty, NULL));
        BENCH_CHECK(weft_group_wait(g));
        weft_group_destroy(g);
    }
    *result = (void *)(intptr_t)(weft_now() - t0);
    return 0;
}

static int plain(void *arg, void **result)
{
    (void)arg;
    int64_t t0 = weft_now();
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < CHILDREN; i++)
            BENCH_CHECK(weft_spawn(&futs[i], empty, NULL));
        for (int i = 0; i < CHILDREN; i++) {
            BENCH_CHECK(weft_future_result(futs[i], WEFT_FOREVER, NULL));
            weft_future_release(futs[i]);
        }
    }
    *result = (void *)(intptr_t)(weft_now() - t0);
    return 0;
}

static int scoped(void *arg, void **result)
{
    (void)arg;
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_scope s;
        BENCH_CHECK(weft_scope_enter(&s, 1000000000, 0));   /* 1 s: never expires here */
        BENCH_CHECK(weft_lock_acquire(lock, WEFT_FOREVER));
        BENCH_CHECK(weft_lock_release(lock));
        BENCH_CHECK(weft_scope_leave(&s));
    }
    *result = (void *)(intptr_t)(weft_now() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    long count = bench_count(argc, argv, 1000000);
    if (count < CHILDREN) count = CHILDREN;
    BENCH_CHECK(weft_lock_create(&lock));
    void *dt;

    rounds = count / CHILDREN / 10;                  /* warm-up: a tenth */
    if (rounds < 1) rounds = 1;
    n = count / 10;
    BENCH_CHECK(weft_run(grouped, NULL, &dt));
    BENCH_CHECK(weft_run(plain, NULL, &dt));
    BENCH_CHECK(weft_run(scoped, NULL, &dt));

    rounds = count / CHILDREN;
    n = count;
    /* WEFT_BENCH_ONLY=plain|group: one part alone, for perf. */
    const char *only = getenv("WEFT_BENCH_ONLY");
    if (only) {
        BENCH_CHECK(weft_run(strcmp(only, "plain") == 0 ? plain : grouped, NULL, &dt));
        bench_result(only, (double)(intptr_t)dt / (double)(rounds * CHILDREN));
        return 0;
    }
    BENCH_CHECK(weft_run(grouped, NULL, &dt));
    bench_result("group-spawn", (double)(intptr_t)dt / (double)(rounds * CHILDREN));
    BENCH_CHECK(weft_run(plain, NULL, &dt));
    bench_result("group-spawn-plain", (double)(intptr_t)dt / (double)(rounds * CHILDREN));
    BENCH_CHECK(weft_run(scoped, NULL, &dt));
    bench_result("timeout-scope", (double)(intptr_t)dt / (double)n);

    weft_lock_destroy(lock);
    return 0;
}
