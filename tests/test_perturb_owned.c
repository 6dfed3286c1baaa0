/* A done callback of a pool job that is done cannot be taken back (src/future/future.c,
 * found reviewing 87a0fae): an owned completion publishes DONE with one exchange and only
 * then takes the future's lock to run the callbacks; weft_future_remove_done_callback in
 * between found the callback still listed, took it, and it never ran.
 *
 * Each try: submit a job, add a callback, wait until the future says done, try to remove
 * the callback — it must refuse (0) — and, once the pool is gone, every callback must have
 * run. The perturbation point future.owned (between the exchange and the lock) widens the
 * window; natively it is a few instructions wide. tests/test_pool.c runs the same rule
 * (test_remove_callback_of_a_done_job) in the plain builds.
 */
#include "perturb_check.h"

#include <sched.h>
#include <stdatomic.h>

static _Atomic int runs;

static void counted(weft_future *f, void *arg)
{
    (void)f; (void)arg;
    atomic_fetch_add(&runs, 1);
}

static int job(void *arg, void **result)
{
    (void)arg;
    *result = (void *)1;
    return 0;
}

static void test_done_callback_is_never_taken_back(void)
{
    weft_pool_opts o = { .max_workers = 1 };
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, &o));
    int tries = perturb_tries(2000), refused = 0;
    atomic_store(&runs, 0);
    for (int i = 0; i < tries; i++) {
        weft_future *f;
        CHECK_OK(weft_pool_submit(p, &f, job, NULL));
        CHECK_OK(weft_future_add_done_callback(f, counted, NULL));
        while (!weft_future_done(f)) sched_yield();
        int removed = weft_future_remove_done_callback(f, counted, NULL);
        CHECK_EQ(removed, 0);
        if (removed == 0) refused++;
        weft_future_release(f);
    }
    weft_pool_destroy(p);                      /* its worker is gone: every callback ran */
    CHECK_EQ(atomic_load(&runs), refused);
}

int main(void)
{
    RUN(test_done_callback_is_never_taken_back);
    return check_done();
}
