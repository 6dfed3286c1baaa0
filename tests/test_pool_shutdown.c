/* weft_pool_shutdown racing with submits: a submit is either refused (-ESHUTDOWN) or its job
 * runs, exactly once (no cancel_futures here).
 *
 * Each round (20,000, or 10 s; sanitizers and Valgrind: 3,000 or 30 s) makes a pool with
 * one or two workers, lets them go idle (spinning or asleep: a random pause after a first
 * job), then releases a submitter thread that submits jobs a few hundred ns apart (with
 * futures, or detached) until one is refused, while weft_pool_shutdown(wait=true,
 * cancel_futures=false) comes at a random moment: from this thread between two submits, or
 * from the submitter itself right after one. Once both are done: every job whose submit
 * returned 0 ran exactly once and its future holds its own outcome (never -ECANCELED);
 * every refused one never ran and got no future.
 *
 * The bug this guards against (issue 11, bug 2): an idle worker looked at the queue, then
 * at `stopping`, and left without looking at the queue again; a submit in between returned
 * 0 and the last worker's final drain cancelled its job (a detached one was freed unrun).
 * Before the fix this failed in about half the runs on a loaded 2-CPU machine (the window
 * is a few instructions wide; a worker preempted inside it loses every job submitted
 * meanwhile). Nothing here depends on timing for correctness: timing only decides how often
 * the race is hit; every round checks the rule.
 */
#include "check.h"

#include <sched.h>
#include <stdatomic.h>

#define PER_ROUND 64                 /* submits per round, at most: until one is refused */

typedef struct {
    atomic_int ran;
} slot;

static int count_job(void *arg, void **result)
{
    slot *s = arg;
    atomic_fetch_add(&s->ran, 1);
    *result = (void *)0x51;
    return 0;
}

static void spin_ns(int64_t ns)
{
    int64_t end = weft_now() + ns;
    while (weft_now() < end) {}
}

/* What the submitter thread is told to do, round by round. */
static struct {
    atomic_int go;                   /* round number to run (0: none yet; -1: stop) */
    atomic_int done;                 /* last round finished */
    atomic_int made;                 /* submits made in this round */
    weft_pool *pool;                 /* the round's pool */
    bool detached;
    int shut_after;                  /* > 0: the submitter shuts down after that submit */
    int rc[PER_ROUND];
    weft_future *f[PER_ROUND];
    slot slots[PER_ROUND];
    int64_t gap[PER_ROUND];          /* ns after each submit */
} R;

static int submitter(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int round = 1;; round++) {
        int go;
        for (unsigned i = 0; (go = atomic_load(&R.go)) != round && go != -1; i++)
            if (i > 200) sched_yield();       /* 2 CPUs: leave one to the workers */
        if (go == -1) break;
        /* Submits a few hundred ns apart, until the shutdown refuses one: every round
         * crosses the shutdown, with the workers now busy, now idle. */
        for (int i = 0; i < PER_ROUND; i++) {
            R.rc[i] = weft_pool_submit(R.pool, R.detached ? NULL : &R.f[i], count_job,
                                       &R.slots[i]);
            atomic_store(&R.made, i + 1);
            if (i + 1 == R.shut_after) CHECK_OK(weft_pool_shutdown(R.pool, true, false));
            if (R.rc[i] == -ESHUTDOWN) {
                for (int k = i + 1; k < PER_ROUND; k++) R.rc[k] = -ESHUTDOWN;
                break;
            }
            spin_ns(R.gap[i]);
        }
        atomic_store(&R.done, round);
    }
    return 0;
}

static void test_submit_racing_shutdown(void)
{
    int rounds_max = slow_tools() ? 3000 : 20000;
    int64_t budget = (slow_tools() ? 30 : 10) * WEFT_SEC, t0 = weft_now();
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, submitter, NULL));
    rng r;
    rng_seed(&r, 11);
    long accepted = 0, refused = 0, mixed = 0, rounds = 0;
    for (int round = 1; round <= rounds_max; round++) {
        weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
        o.max_workers = 1 + (int)below(&r, 2);
        CHECK_OK(weft_pool_create_ex(&R.pool, &o));
        /* A worker exists and goes idle: it spins for 20 µs, then sleeps. */
        weft_future *warm;
        slot ws = { 0 };
        CHECK_OK(weft_pool_submit(R.pool, &warm, count_job, &ws));
        CHECK_OK(weft_future_result(warm, WEFT_FOREVER, NULL));
        weft_future_release(warm);
        spin_ns((int64_t)below(&r, 40) * WEFT_US);
        R.detached = below(&r, 2) == 0;
        for (int i = 0; i < PER_ROUND; i++) {
            atomic_store(&R.slots[i].ran, 0);
            R.f[i] = NULL;
            R.gap[i] = (int64_t)below(&r, 600);
        }
        atomic_store(&R.made, 0);
        /* Half the rounds, the submitter shuts the pool down itself right after one of its
         * submits (a submit returns 0, the shutdown follows at once); else this thread
         * does, once the submitter is under way, at a random moment between two of its
         * submits. */
        R.shut_after = below(&r, 2) ? 1 + (int)below(&r, 8) : 0;
        int after = (int)below(&r, 4);
        atomic_store(&R.go, round);
        if (!R.shut_after) {
            while (atomic_load(&R.made) < after) {}
            spin_ns((int64_t)below(&r, 1500));
            CHECK_OK(weft_pool_shutdown(R.pool, true, false));
        }
        while (atomic_load(&R.done) != round) sched_yield();
        if (R.shut_after) CHECK_OK(weft_pool_shutdown(R.pool, true, false)); /* waits too */
        int ok = 0;
        for (int i = 0; i < PER_ROUND; i++) {
            int ran = atomic_load(&R.slots[i].ran);
            if (R.rc[i] == -ESHUTDOWN) {
                CHECK_EQ(ran, 0);
                CHECK(R.detached || R.f[i] == NULL);
                refused++;
                continue;
            }
            CHECK_OK(R.rc[i]);
            ok++;
            accepted++;
            if (ran != 1) {
                fprintf(stderr, "round %d (%s, %d worker(s)): submit %d returned 0, its job "
                        "ran %d time(s)%s\n", round, R.detached ? "detached" : "with futures",
                        o.max_workers, i, ran,
                        R.detached ? "" : weft_future_done(R.f[i])
                        ? (weft_future_cancelled(R.f[i]) ? "; its future says ECANCELED" : "")
                        : "; its future is pending");
                fprintf(stderr, "(shut down %s; submits:", R.shut_after ? "by the submitter"
                        : "by the main thread");
                for (int k = 0; k < PER_ROUND && R.rc[k] != -ESHUTDOWN; k++)
                    fprintf(stderr, " %d:%s/ran %d", k, weft_errname(R.rc[k]),
                            atomic_load(&R.slots[k].ran));
                fprintf(stderr, ")\n");
                abort();
            }
            if (!R.detached) {
                void *res = NULL;
                CHECK_OK(weft_future_result(R.f[i], 0, &res));   /* done, and its own */
                CHECK_PTR(res, (void *)0x51);
                weft_future_release(R.f[i]);
            }
        }
        if (ok > 0 && ok < PER_ROUND) mixed++;      /* the shutdown came in the middle */
        weft_pool_destroy(R.pool);
        rounds = round;
        if (weft_now() - t0 > budget) break;      /* bounded in time */
    }
    atomic_store(&R.go, -1);
    join_and_release(t);
    printf("   %ld rounds: %ld submits accepted (each ran once), %ld refused, %ld rounds "
           "split by the shutdown\n", rounds, accepted, refused, mixed);
    CHECK(accepted > 0 && refused > 0);
}

int main(void)
{
    RUN(test_submit_racing_shutdown);
    return check_done();
}
