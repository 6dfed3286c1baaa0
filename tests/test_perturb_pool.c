/* Issue 11, bug 2: pool shutdown dropped a job it had accepted (src/pool/pool.c,
 * next_job / worker_main; fixed in 8dd543f). An idle worker looked at the queue, then at
 * `stopping`, and left without looking again; a submit in between returned 0, and the last
 * worker's final drain cancelled its job (a detached one was freed unrun).
 *
 * Each try: a pool of one or two workers, warmed by one job and left idle for a random
 * moment; a submitter thread submits jobs (with futures, or detached) a little apart until
 * one is refused, while this thread calls weft_pool_shutdown(wait=true, cancel_futures=
 * false) at a random moment. Then: every submit that returned 0 ran exactly once, every
 * refused one never ran. Perturbation points that widen the window: pool.next.empty (the
 * worker between its look at the queue and at the flag), pool.stopping, pool.submit,
 * pool.leave. tests/test_pool_shutdown.c is the plain regression test of the same rule.
 */
#include "perturb_check.h"

#define PER_TRY 32

static atomic_int ran[PER_TRY];

static int count_job(void *arg, void **result)
{
    (void)result;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static struct {
    weft_pool *pool;
    bool detached;
    atomic_int go, done, made;
    int rc[PER_TRY];
    weft_future *f[PER_TRY];
} T;

static int submitter(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int round = 1;; round++) {
        int go;
        while ((go = atomic_load(&T.go)) != round && go != -1) sched_yield();
        if (go == -1) return 0;
        for (int i = 0; i < PER_TRY; i++) T.rc[i] = -ESHUTDOWN;
        for (int i = 0; i < PER_TRY; i++) {
            T.rc[i] = weft_pool_submit(T.pool, T.detached ? NULL : &T.f[i], count_job,
                                       &ran[i]);
            atomic_store(&T.made, i + 1);
            if (T.rc[i] == -ESHUTDOWN) break;
            CHECK_OK(T.rc[i]);
            int64_t end = weft_now() + 100 + (i * 137) % 500;    /* a few hundred ns apart */
            while (weft_now() < end) {}
        }
        atomic_store(&T.done, round);
    }
}

static void test_submit_racing_shutdown(void)
{
    int tries = perturb_tries(slow_tools() ? 3000 : 6000);
    int64_t budget = 30 * WEFT_SEC, t0 = weft_now();
    rng r;
    rng_seed(&r, 2);
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, submitter, NULL));
    int round = 0, lost = 0, accepted = 0, refused = 0;
    while (round < tries && weft_now() - t0 < budget) {
        round++;
        weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
        o.max_workers = 1 + (int)below(&r, 2);
        CHECK_OK(weft_pool_create_ex(&T.pool, &o));
        atomic_int warm = 0;
        weft_future *wf;
        CHECK_OK(weft_pool_submit(T.pool, &wf, count_job, &warm));
        CHECK_OK(weft_future_result(wf, WEFT_FOREVER, NULL));
        weft_future_release(wf);
        int64_t idle_until = weft_now() + (int64_t)below(&r, 40) * WEFT_US;
        while (weft_now() < idle_until) {}
        T.detached = below(&r, 2) == 0;
        for (int i = 0; i < PER_TRY; i++) { atomic_store(&ran[i], 0); T.f[i] = NULL; }
        atomic_store(&T.made, 0);
        int after = 1 + (int)below(&r, 4);
        atomic_store(&T.go, round);
        while (atomic_load(&T.made) < after && atomic_load(&T.done) != round) {}
        CHECK_OK(weft_pool_shutdown(T.pool, true, false));
        while (atomic_load(&T.done) != round) sched_yield();
        int bad = 0;
        for (int i = 0; i < PER_TRY; i++) {
            int n = atomic_load(&ran[i]);
            if (T.rc[i] == -ESHUTDOWN) {
                CHECK_EQ(n, 0);
                refused++;
                continue;
            }
            accepted++;
            if (n != 1) bad++;
            if (!T.detached) weft_future_release(T.f[i]);
        }
        if (bad) {
            lost++;
            fprintf(stderr, "try %d (%s, %d worker(s)): %d accepted submit(s) never ran\n",
                    round, T.detached ? "detached" : "with futures", o.max_workers, bad);
        }
        weft_pool_destroy(T.pool);
    }
    atomic_store(&T.go, -1);
    join_and_release(t);
    printf("   %d tries: %d submits accepted, %d refused; %d tries lost an accepted job\n",
           round, accepted, refused, lost);
    fflush(stdout);
    CHECK_EQ(lost, 0);
}

int main(void)
{
    RUN(test_submit_racing_shutdown);
    return check_done();
}
