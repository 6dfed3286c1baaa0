/* The API gaps of issue 12, each with its misuse: the debug lock registry's hand-over, a
 * thread's future, waiter counts of Event and Condition, timers (a reference from
 * weft_timer_future, daemon timer threads), the option structs and their _INIT macros,
 * skipping an over-long stream record. (Running work on another thread's loop:
 * test_remote.c.) */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

/* ---- the debug lock registry: a hand-over is not a leak ----------------------------------
 * threading.Lock has no owner: a coroutine may take a lock and leave it to a thread to
 * release. Debug builds must report only a lock nobody ever released. */
#ifndef NDEBUG
static weft_lock *handed;

static int take_and_end(void *arg, void **result)
{
    (void)result;
    return weft_lock_acquire(arg, 0);
}

static int take_named(weft_lock *l)
{
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "taker";
    weft_future *f;
    CHECK_OK(weft_spawn_ex(&f, &o, take_and_end, l));
    int rc = weft_future_result(f, WEFT_FOREVER, NULL);
    weft_future_release(f);
    return rc;
}

/* A coroutine takes the lock and ends; this thread releases it later. */
static void hand_over_child(void)
{
    CHECK_OK(weft_lock_create(&handed));
    CHECK_OK(take_named(handed));
    CHECK_OK(weft_lock_release(handed));
    CHECK_OK(weft_lock_acquire(handed, 0));        /* and a thread takes it: no record */
    CHECK_OK(weft_lock_release(handed));
    weft_lock_destroy(handed);
    /* The same, the lock never destroyed: nothing at exit either. */
    weft_lock *kept;
    CHECK_OK(weft_lock_create(&kept));
    CHECK_OK(take_named(kept));
    CHECK_OK(weft_lock_release(kept));
    exit(0);
}

/* A coroutine takes the lock and waits for a thread to release it (the lock as a signal);
 * the thread that releases does so from another loop's coroutine. */
static int release_later(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    return weft_lock_release(arg);
}

static int signal_main(void *arg, void **result)
{
    (void)result;
    weft_lock *l = arg;
    CHECK_OK(weft_lock_acquire(l, 0));
    loop_job job = { release_later, l };
    weft_thread *t = start_loop_thread(&job);
    CHECK_OK(weft_lock_acquire(l, 5 * WEFT_SEC));   /* released by the other loop */
    join_and_release(t);
    return 0;                                       /* ends holding it... */
}

static void signal_child(void)
{
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    CHECK_OK(weft_run(signal_main, l, NULL));
    CHECK_OK(weft_lock_release(l));                 /* ...and this thread releases it */
    weft_lock_destroy(l);
    exit(0);
}

/* Real leaks: nobody ever releases. */
static void leak_destroyed_child(void)
{
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    CHECK_OK(take_named(l));
    weft_lock_destroy(l);
    exit(0);
}

static void leak_at_exit_child(void)
{
    weft_lock *l;
    CHECK_OK(weft_lock_create(&l));
    CHECK_OK(take_named(l));
    exit(0);
}

static int take_rlock(void *arg, void **result)
{
    (void)result;
    return weft_rlock_acquire(arg, 0);
}

static void leak_rlock_child(void)
{
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_run(take_rlock, r, NULL));
    CHECK_RC(weft_rlock_release(r), -EPERM);        /* only its (ended) owner could */
    weft_rlock_destroy(r);
    exit(0);
}

static void expect_clean_exit(child_result r, const char *want)
{
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 ||
        (want ? !strstr(r.err, want) : strstr(r.err, "weft:") != NULL)) {
        fprintf(stderr, "child status %#x, expected %s%s%s; its stderr:\n%s\n", r.status,
                want ? "\"" : "no report", want ? want : "", want ? "\"" : "", r.err);
        abort();
    }
}
#endif

static void test_lock_hand_over_is_not_reported(void)
{
#ifndef NDEBUG
    expect_clean_exit(in_child(hand_over_child), NULL);
    if (!TEST_TSAN && !under_qemu())                /* threads in a forked child */
        expect_clean_exit(in_child(signal_child), NULL);
#endif
}

static void test_lock_never_released_is_reported(void)
{
#ifndef NDEBUG
    child_result r = in_child(leak_destroyed_child);
    expect_clean_exit(r, "weft: coroutine 'taker' #");
    expect_clean_exit(r, "ended holding a weft lock that nobody released (destroyed still "
                         "held)");
    r = in_child(leak_at_exit_child);
    expect_clean_exit(r, "weft: coroutine 'taker' #");
    expect_clean_exit(r, "(still held at exit)");
    expect_clean_exit(in_child(leak_rlock_child), "(destroyed still held)");
#endif
}

int main(void)
{
    RUN(test_lock_hand_over_is_not_reported);
    RUN(test_lock_never_released_is_reported);
    return 0;
}
