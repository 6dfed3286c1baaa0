/* weft_cond on a weft_lock and on a weft_rlock: errors, notify(n) / notify_all counts,
 * wait_for, the lock held again after every kind of return (notified, timeout, cancel),
 * waits from threads and coroutines on several loops, producer/consumer, stress. */
#include "fault.h"
#include "core/internal.h"   /* weft__alloc_fail_countdown */

#include <sched.h>
#include <stdatomic.h>


static bool always(void *arg) { (void)arg; return true; }
static bool never(void *arg) { (void)arg; return false; }

/* Runs fn(arg) on a new plain thread and returns its code. */
static int on_thread(weft_fn fn, void *arg)
{
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, fn, arg));
    int rc = weft_thread_join(t, WEFT_FOREVER, NULL);
    weft_thread_release(t);
    return rc;
}

static int try_acquire_cond(void *arg, void **result)
{
    (void)result;
    weft_cond *c = arg;
    int rc = weft_cond_acquire(c, 0);
    if (rc == 0) CHECK_OK(weft_cond_release(c));
    return rc;
}

static void test_errors(void)
{
    weft_cond *c;
    weft_lock *l;
    weft_rlock *r;
    CHECK_RC(weft_cond_create(NULL, NULL), -EINVAL);
    CHECK_OK(weft_lock_create(&l));
    CHECK_RC(weft_cond_create(NULL, l), -EINVAL);
    CHECK_OK(weft_rlock_create(&r));
    CHECK_RC(weft_cond_create_rlock(NULL, r), -EINVAL);
    CHECK_RC(weft_cond_create_rlock(&c, NULL), -EINVAL);
    CHECK(weft_cond_lock(NULL) == NULL);
    CHECK_RC(weft_cond_acquire(NULL, 0), -EINVAL);
    CHECK_RC(weft_cond_release(NULL), -EINVAL);
    CHECK_RC(weft_cond_wait(NULL, 0), -EINVAL);
    CHECK_RC(weft_cond_wait_for(NULL, always, NULL, 0), -EINVAL);
    CHECK_RC(weft_cond_notify(NULL, 1), -EINVAL);
    CHECK_RC(weft_cond_notify_all(NULL), -EINVAL);
    weft_cond_destroy(NULL);

    /* Its own lock. */
    CHECK_OK(weft_cond_create(&c, NULL));
    weft_lock *own = weft_cond_lock(c);
    CHECK(own != NULL);
    CHECK_RC(weft_cond_release(c), -EPERM);
    CHECK_RC(weft_cond_wait(c, 0), -EPERM);              /* not held */
    CHECK_RC(weft_cond_wait(c, WEFT_FOREVER), -EPERM);
    CHECK_RC(weft_cond_wait_for(c, always, NULL, 0), -EPERM);
    CHECK_RC(weft_cond_notify(c, 1), -EPERM);
    CHECK_RC(weft_cond_notify_all(c), -EPERM);
    CHECK_OK(weft_cond_acquire(c, 0));
    CHECK_RC(weft_cond_acquire(c, 0), -ETIMEDOUT);       /* a weft_lock: not reentrant */
    CHECK_RC(weft_lock_acquire(own, 0), -ETIMEDOUT);     /* it is that lock */
    CHECK_RC(weft_cond_wait(c, -2), -EINVAL);
    CHECK_RC(weft_cond_wait_for(c, NULL, NULL, 0), -EINVAL);
    CHECK_RC(weft_cond_wait_for(c, always, NULL, -2), -EINVAL);
    CHECK_RC(weft_cond_notify(c, -1), -EINVAL);
    CHECK_RC(weft_cond_notify(c, 0), 0);
    CHECK_RC(weft_cond_notify(c, 5), 0);                 /* nobody waits */
    CHECK_RC(weft_cond_notify_all(c), 0);
    CHECK_OK(weft_cond_release(c));
    CHECK_RC(weft_cond_release(c), -EPERM);
    weft_cond_destroy(c);                                /* with its own lock */

    /* On a given lock: the same lock; destroying the condition leaves it alone. */
    CHECK_OK(weft_cond_create(&c, l));
    CHECK_PTR(weft_cond_lock(c), l);
    CHECK_OK(weft_lock_acquire(l, 0));
    CHECK_RC(weft_cond_acquire(c, 0), -ETIMEDOUT);
    CHECK_OK(weft_cond_notify(c, 1));
    CHECK_OK(weft_cond_release(c));
    CHECK_RC(weft_lock_release(l), -EPERM);
    weft_cond_destroy(c);
    CHECK_OK(weft_lock_acquire(l, 0));
    CHECK_OK(weft_lock_release(l));
    weft_lock_destroy(l);

    /* On an rlock: reentrant through the condition; wait/notify need the caller to own it. */
    CHECK_OK(weft_cond_create_rlock(&c, r));
    CHECK(weft_cond_lock(c) == NULL);
    CHECK_RC(weft_cond_wait(c, 0), -EPERM);
    CHECK_RC(weft_cond_notify(c, 1), -EPERM);
    CHECK_RC(weft_cond_notify_all(c), -EPERM);
    CHECK_RC(weft_cond_wait_for(c, always, NULL, 0), -EPERM);
    CHECK_OK(weft_cond_acquire(c, 0));
    CHECK_OK(weft_cond_acquire(c, 0));
    CHECK_OK(weft_rlock_acquire(r, 0));
    CHECK_RC(on_thread(try_acquire_cond, c), -ETIMEDOUT);
    CHECK_OK(weft_cond_notify(c, 3));
    CHECK_RC(weft_cond_notify(c, -1), -EINVAL);
    CHECK_OK(weft_cond_release(c));
    CHECK_OK(weft_rlock_release(r));
    CHECK_OK(weft_cond_release(c));
    CHECK_RC(weft_cond_release(c), -EPERM);
    CHECK_OK(on_thread(try_acquire_cond, c));
    weft_cond_destroy(c);
    CHECK_OK(weft_rlock_acquire(r, 0));                  /* the rlock outlives it */
    CHECK_OK(weft_rlock_release(r));
    weft_rlock_destroy(r);
}

/* Timeouts (0 and short), wait_for's predicate checks, from a thread; the lock held after. */
static int pred_calls;
static bool count_never(void *arg) { (void)arg; pred_calls++; return false; }

static void timeouts_on(weft_cond *c, int levels)
{
    for (int i = 0; i < levels; i++) CHECK_OK(weft_cond_acquire(c, 0));
    CHECK_RC(weft_cond_wait(c, 0), -ETIMEDOUT);
    CHECK_RC(on_thread(try_acquire_cond, c), -ETIMEDOUT);   /* held again */
    int64_t t0 = weft_now();
    CHECK_RC(weft_cond_wait(c, 30 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 29 * WEFT_MS, 3 * WEFT_SEC);
    CHECK_RC(on_thread(try_acquire_cond, c), -ETIMEDOUT);
    CHECK_OK(weft_cond_wait_for(c, always, NULL, 0));       /* true: no wait at all */
    CHECK_OK(weft_cond_wait_for(c, always, NULL, WEFT_FOREVER));
    CHECK_RC(weft_cond_wait_for(c, never, NULL, 0), -ETIMEDOUT);
    pred_calls = 0;
    t0 = weft_now();
    CHECK_RC(weft_cond_wait_for(c, count_never, NULL, 30 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 29 * WEFT_MS, 3 * WEFT_SEC);
    CHECK(pred_calls >= 1);
    CHECK_RC(on_thread(try_acquire_cond, c), -ETIMEDOUT);
    for (int i = 0; i < levels; i++) CHECK_OK(weft_cond_release(c));
    CHECK_RC(weft_cond_release(c), -EPERM);
    CHECK_OK(on_thread(try_acquire_cond, c));
}

/* timeouts_on a condition with its own lock (taken once), then on an rlock taken
 * rlock_levels deep. */
static void timeouts_on_lock_and_rlock(int rlock_levels)
{
    weft_cond *c;
    CHECK_OK(weft_cond_create(&c, NULL));
    timeouts_on(c, 1);
    weft_cond_destroy(c);
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_cond_create_rlock(&c, r));
    timeouts_on(c, rlock_levels);
    weft_cond_destroy(c);
    weft_rlock_destroy(r);
}

static void test_timeouts_from_thread(void)
{
    timeouts_on_lock_and_rlock(3);
}

static int timeouts_main(void *arg, void **result)
{
    (void)arg; (void)result;
    ticker_state tk = { 0 };
    ticker_start(&tk);
    timeouts_on_lock_and_rlock(2);
    CHECK(atomic_load(&tk.ticks) >= 4);          /* the loop ran during each 30 ms wait */
    ticker_stop(&tk);
    return 0;
}

static void test_timeouts_from_coroutine(void)
{
    CHECK_OK(weft_run(timeouts_main, NULL, NULL));
}

/* ---- the lock is held again after every kind of return ---------------------------------
 * A waiter (thread or coroutine on another loop) takes the condition's lock `levels` times,
 * waits, publishes the code and then spins (it cannot block: it may be cancelled) until the
 * main thread has seen the lock held — a try-acquire from the main thread fails — before it
 * releases every level (an rlock: then one release more is -EPERM). */
typedef struct {
    weft_cond *c;
    bool rlock;
    int levels;
    int64_t timeout;
    weft_future *f;             /* the coroutine waiter's task */
    atomic_int state;           /* 1 about to wait, 2 returned, 3 checked */
    atomic_int rc;
} held_probe;

static int probe_waiter(void *arg, void **result)
{
    (void)result;
    held_probe *p = arg;
    for (int i = 0; i < p->levels; i++) CHECK_OK(weft_cond_acquire(p->c, WEFT_FOREVER));
    atomic_store(&p->state, 1);
    int rc = weft_cond_wait(p->c, p->timeout);
    atomic_store(&p->rc, rc);
    atomic_store(&p->state, 2);
    while (atomic_load(&p->state) != 3) sched_yield();
    for (int i = 0; i < p->levels; i++) CHECK_OK(weft_cond_release(p->c));
    if (p->rlock) CHECK_RC(weft_cond_release(p->c), -EPERM);
    return 0;
}

static int probe_loop(void *arg, void **result)
{
    (void)result;
    held_probe *p = arg;
    CHECK_OK(weft_spawn(&p->f, probe_waiter, p));
    CHECK_OK(weft_future_result(p->f, WEFT_FOREVER, NULL));
    weft_future_release(p->f);
    return 0;
}

/* Waits for the waiter's return, checks the lock is held, lets the waiter go. */
static int probe_check(held_probe *p)
{
    while (atomic_load(&p->state) != 2) weft_sleep(WEFT_MS);
    CHECK_RC(weft_cond_acquire(p->c, 0), -ETIMEDOUT);
    atomic_store(&p->state, 3);
    return atomic_load(&p->rc);
}

enum { NOTIFIED, TIMEOUT, TIMEOUT_WHILE_HELD, TIMEOUT_ZERO, CANCEL };

static void held_after_return(bool rlock, bool coroutine, int how)
{
    weft_rlock *r = NULL;
    held_probe p = { .rlock = rlock, .levels = rlock ? 3 : 1 };
    if (rlock) {
        CHECK_OK(weft_rlock_create(&r));
        CHECK_OK(weft_cond_create_rlock(&p.c, r));
    } else {
        CHECK_OK(weft_cond_create(&p.c, NULL));
    }
    /* TIMEOUT_WHILE_HELD: the main thread must take the lock before the waiter's timeout
     * passes (else the waiter re-takes it and holds it until the main thread checks in:
     * a deadlock of the test). 500 ms leaves room even under qemu. */
    p.timeout = how == TIMEOUT ? 20 * WEFT_MS : how == TIMEOUT_WHILE_HELD ? 500 * WEFT_MS
              : how == TIMEOUT_ZERO ? 0 : 10 * WEFT_SEC;
    weft_thread *t;
    loop_job job = { probe_loop, &p };
    if (coroutine) t = start_loop_thread(&job);
    else CHECK_OK(weft_thread_start(&t, NULL, probe_waiter, &p));
    while (atomic_load(&p.state) == 0) weft_sleep(WEFT_MS);
    switch (how) {
    case NOTIFIED:
        /* Taking it proves every level was released by the wait. */
        CHECK_OK(weft_cond_acquire(p.c, 10 * WEFT_SEC));
        CHECK_RC(weft_cond_notify(p.c, 1), 1);
        CHECK_RC(weft_cond_notify(p.c, 1), 0);
        weft_sleep(10 * WEFT_MS);
        CHECK_EQ(atomic_load(&p.state), 1);     /* cannot return while we hold it */
        CHECK_OK(weft_cond_release(p.c));
        CHECK_OK(probe_check(&p));
        break;
    case TIMEOUT:
    case TIMEOUT_ZERO:
        CHECK_RC(probe_check(&p), -ETIMEDOUT);
        break;
    case TIMEOUT_WHILE_HELD:
        CHECK_OK(weft_cond_acquire(p.c, 10 * WEFT_SEC));
        weft_sleep(700 * WEFT_MS);              /* its timeout passes meanwhile */
        CHECK_EQ(atomic_load(&p.state), 1);
        CHECK_OK(weft_cond_release(p.c));
        CHECK_RC(probe_check(&p), -ETIMEDOUT);
        break;
    case CANCEL:
        CHECK_OK(weft_cond_acquire(p.c, 10 * WEFT_SEC));
        CHECK_OK(weft_future_cancel(p.f));
        weft_sleep(20 * WEFT_MS);
        CHECK_EQ(atomic_load(&p.state), 1);     /* the cancel does not skip the re-acquire */
        CHECK(!weft_future_done(p.f));
        CHECK_OK(weft_cond_release(p.c));
        CHECK_RC(probe_check(&p), -ECANCELED);
        break;
    }
    join_and_release(t);
    CHECK_OK(weft_cond_acquire(p.c, 0));        /* free again */
    CHECK_OK(weft_cond_release(p.c));
    weft_cond_destroy(p.c);                     /* aborts if a waiter were left behind */
    weft_rlock_destroy(r);
}

static void test_lock_held_after_every_return(void)
{
    for (int rlock = 0; rlock < 2; rlock++) {
        for (int coroutine = 0; coroutine < 2; coroutine++) {
            held_after_return(rlock, coroutine, NOTIFIED);
            held_after_return(rlock, coroutine, TIMEOUT);
            held_after_return(rlock, coroutine, TIMEOUT_WHILE_HELD);
            held_after_return(rlock, coroutine, TIMEOUT_ZERO);
            if (coroutine) held_after_return(rlock, coroutine, CANCEL);
        }
    }
}

/* ---- notify(n) wakes exactly up to n; notify_all the rest -------------------------------
 * Waiters: 2 plain threads, and 4 coroutines on each of two loops. A waiter counts itself
 * under the lock before waiting, so once the main thread holds the lock and sees all of them
 * counted, all are on the condition's list. */
typedef struct {
    weft_cond *c;
    bool rlock;
    int waiting, woken;         /* under the lock */
} crowd;

enum { CROWD = 2 + 2 * 4 };

static int crowd_waiter(void *arg, void **result)
{
    (void)result;
    crowd *w = arg;
    CHECK_OK(weft_cond_acquire(w->c, WEFT_FOREVER));
    if (w->rlock) CHECK_OK(weft_cond_acquire(w->c, 0));
    w->waiting++;
    CHECK_OK(weft_cond_wait(w->c, 20 * WEFT_SEC));
    w->woken++;
    if (w->rlock) CHECK_OK(weft_cond_release(w->c));
    CHECK_OK(weft_cond_release(w->c));
    return 0;
}

static int locked_get(crowd *w, int *field)
{
    CHECK_OK(weft_cond_acquire(w->c, WEFT_FOREVER));
    int v = *field;
    CHECK_OK(weft_cond_release(w->c));
    return v;
}

static void wait_field(crowd *w, int *field, int want)
{
    while (locked_get(w, field) < want) weft_sleep(WEFT_MS);
    CHECK_EQ(locked_get(w, field), want);
}

static void notify_counts(bool rlock)
{
    crowd w = { .rlock = rlock };
    weft_rlock *r = NULL;
    if (rlock) {
        CHECK_OK(weft_rlock_create(&r));
        CHECK_OK(weft_cond_create_rlock(&w.c, r));
    } else {
        CHECK_OK(weft_cond_create(&w.c, NULL));
    }
    spawn_job four = { 4, crowd_waiter, &w };
    loop_job loop = { spawn_all_and_wait, &four };
    weft_thread *t[4];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    CHECK_OK(weft_thread_start(&t[2], NULL, crowd_waiter, &w));
    CHECK_OK(weft_thread_start(&t[3], NULL, crowd_waiter, &w));
    wait_field(&w, &w.waiting, CROWD);

    CHECK_OK(weft_cond_acquire(w.c, 10 * WEFT_SEC));
    CHECK_RC(weft_cond_notify(w.c, 2), 2);
    CHECK_RC(weft_cond_notify(w.c, 0), 0);
    CHECK_OK(weft_cond_release(w.c));
    wait_field(&w, &w.woken, 2);
    weft_sleep(10 * WEFT_MS);
    CHECK_EQ(locked_get(&w, &w.woken), 2);       /* nobody else woke */

    CHECK_OK(weft_cond_acquire(w.c, 10 * WEFT_SEC));
    CHECK_RC(weft_cond_notify(w.c, 3), 3);
    CHECK_OK(weft_cond_release(w.c));
    wait_field(&w, &w.woken, 5);

    CHECK_OK(weft_cond_acquire(w.c, 10 * WEFT_SEC));
    CHECK_RC(weft_cond_notify_all(w.c), CROWD - 5);      /* exactly the rest were waiting */
    CHECK_RC(weft_cond_notify_all(w.c), 0);
    CHECK_OK(weft_cond_release(w.c));
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    CHECK_EQ(w.woken, CROWD);

    /* notify(n) with more than n waiters... and n larger than the crowd. */
    CHECK_OK(weft_cond_acquire(w.c, 0));
    CHECK_RC(weft_cond_notify(w.c, 1000), 0);
    CHECK_OK(weft_cond_release(w.c));
    weft_cond_destroy(w.c);
    weft_rlock_destroy(r);
}

static void test_notify_n_and_all(void)
{
    notify_counts(false);
    notify_counts(true);
}

/* Notify by a thread that does not hold the condition's lock. */
typedef struct {
    weft_cond *c;
    atomic_int holding, done;
} holder;

static int hold_cond_lock(void *arg, void **result)
{
    (void)result;
    holder *h = arg;
    CHECK_OK(weft_cond_acquire(h->c, 0));
    atomic_store(&h->holding, 1);
    while (!atomic_load(&h->done)) weft_sleep(WEFT_MS);
    CHECK_OK(weft_cond_release(h->c));
    return 0;
}

static void test_notify_permission(void)
{
    /* rlock: held by another thread is not enough. */
    weft_rlock *r;
    holder h = { 0 };
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_cond_create_rlock(&h.c, r));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, hold_cond_lock, &h));
    while (!atomic_load(&h.holding)) weft_sleep(WEFT_MS);
    CHECK_RC(weft_cond_notify(h.c, 1), -EPERM);
    CHECK_RC(weft_cond_notify_all(h.c), -EPERM);
    CHECK_RC(weft_cond_wait(h.c, 0), -EPERM);
    CHECK_RC(weft_cond_wait(h.c, 10 * WEFT_MS), -EPERM);
    CHECK_RC(weft_cond_wait_for(h.c, never, NULL, 10 * WEFT_MS), -EPERM);
    atomic_store(&h.done, 1);
    join_and_release(t);
    weft_cond_destroy(h.c);
    weft_rlock_destroy(r);

    /* Plain lock: no owner, held by anyone counts (as Python's Condition on a Lock). */
    holder h2 = { 0 };
    CHECK_OK(weft_cond_create(&h2.c, NULL));
    CHECK_RC(weft_cond_notify(h2.c, 1), -EPERM);
    CHECK_OK(weft_thread_start(&t, NULL, hold_cond_lock, &h2));
    while (!atomic_load(&h2.holding)) weft_sleep(WEFT_MS);
    CHECK_RC(weft_cond_notify(h2.c, 1), 0);
    CHECK_RC(weft_cond_notify_all(h2.c), 0);
    atomic_store(&h2.done, 1);
    join_and_release(t);
    CHECK_RC(weft_cond_notify_all(h2.c), -EPERM);
    weft_cond_destroy(h2.c);
}

/* ---- a cancelled or timed-out waiter is not counted by notify ---------------------------- */

static int wait_forever_locked(void *arg, void **result)
{
    (void)result;
    weft_cond *c = arg;
    CHECK_OK(weft_cond_acquire(c, WEFT_FOREVER));
    int rc = weft_cond_wait(c, WEFT_FOREVER);
    CHECK_RC(weft_cond_release(c), 0);          /* held again, whatever rc is */
    return rc;
}

static int notify_skips_cancelled_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_cond *c;
    CHECK_OK(weft_cond_create(&c, NULL));
    weft_future *a, *b;
    CHECK_OK(weft_spawn(&a, wait_forever_locked, c));
    CHECK_OK(weft_spawn(&b, wait_forever_locked, c));
    CHECK_OK(weft_yield());                     /* both wait now */
    CHECK_OK(weft_cond_acquire(c, 0));          /* both released it */
    CHECK_OK(weft_future_cancel(a));            /* same loop: a's wait is over at once */
    CHECK_RC(weft_cond_notify(c, 1), 1);        /* skips a, wakes b */
    CHECK_RC(weft_cond_notify(c, 1), 0);
    CHECK_OK(weft_cond_release(c));
    CHECK_RC(weft_future_result(a, 5 * WEFT_SEC, NULL), -ECANCELED);
    CHECK_OK(weft_future_result(b, 5 * WEFT_SEC, NULL));
    weft_future_release(a);
    weft_future_release(b);

    /* Only one waiter, cancelled: notify wakes nobody. */
    CHECK_OK(weft_spawn(&a, wait_forever_locked, c));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_cond_acquire(c, 0));
    CHECK_OK(weft_future_cancel(a));
    CHECK_RC(weft_cond_notify_all(c), 0);
    CHECK_OK(weft_cond_release(c));
    CHECK_RC(weft_future_result(a, 5 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(a);
    weft_cond_destroy(c);
    return 0;
}

static void test_notify_skips_cancelled(void)
{
    CHECK_OK(weft_run(notify_skips_cancelled_main, NULL, NULL));
}

/* Cancelled before it even waits (sticky): the wait returns -ECANCELED at once, locked. */
static int cancelled_then_waits(void *arg, void **result)
{
    (void)result;
    weft_cond *c = arg;
    CHECK_RC(weft_sleep(WEFT_FOREVER), -ECANCELED);
    CHECK_OK(weft_cond_acquire(c, WEFT_FOREVER));       /* free: no wait needed */
    CHECK_RC(weft_cond_wait(c, WEFT_FOREVER), -ECANCELED);
    CHECK_RC(weft_cond_wait_for(c, never, NULL, WEFT_FOREVER), -ECANCELED);
    CHECK_OK(weft_cond_wait_for(c, always, NULL, WEFT_FOREVER));   /* true: no wait */
    CHECK_RC(weft_cond_acquire(c, 0), -ETIMEDOUT);      /* still held */
    CHECK_OK(weft_cond_release(c));
    return 0;
}

static int sticky_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_cond *c;
    CHECK_OK(weft_cond_create(&c, NULL));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, cancelled_then_waits, c));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(f));
    CHECK_OK(weft_future_result(f, 5 * WEFT_SEC, NULL));
    weft_future_release(f);
    weft_cond_destroy(c);
    return 0;
}

static void test_cancelled_coroutine_waits(void)
{
    CHECK_OK(weft_run(sticky_main, NULL, NULL));
}

/* ---- wait_for ---------------------------------------------------------------------------- */

typedef struct {
    weft_cond *c;
    int value;                  /* under the lock */
    int checks;                 /* pred calls, under the lock */
    atomic_int stop;
} counter_cv;

static bool value_reached_5(void *arg)
{
    counter_cv *s = arg;
    s->checks++;
    return s->value >= 5;
}

static int bump_and_notify(void *arg, void **result)
{
    (void)result;
    counter_cv *s = arg;
    for (int i = 0; i < 5; i++) {
        weft_sleep(2 * WEFT_MS);
        CHECK_OK(weft_cond_acquire(s->c, WEFT_FOREVER));
        s->value++;
        CHECK(weft_cond_notify_all(s->c) >= 0);
        CHECK_OK(weft_cond_release(s->c));
    }
    return 0;
}

static int notify_without_change(void *arg, void **result)
{
    (void)result;
    counter_cv *s = arg;
    while (!atomic_load(&s->stop)) {
        CHECK_OK(weft_cond_acquire(s->c, WEFT_FOREVER));
        CHECK(weft_cond_notify_all(s->c) >= 0);
        CHECK_OK(weft_cond_release(s->c));
        weft_sleep(WEFT_MS);
    }
    return 0;
}

static int wait_for_main(void *arg, void **result)
{
    (void)arg; (void)result;
    counter_cv s = { 0 };
    weft_rlock *r;
    CHECK_OK(weft_rlock_create(&r));
    CHECK_OK(weft_cond_create_rlock(&s.c, r));

    /* A thread makes it true step by step; we (a coroutine) wait holding 2 levels. */
    weft_thread *t;
    CHECK_OK(weft_cond_acquire(s.c, 0));
    CHECK_OK(weft_cond_acquire(s.c, 0));
    CHECK_OK(weft_thread_start(&t, NULL, bump_and_notify, &s));
    CHECK_OK(weft_cond_wait_for(s.c, value_reached_5, &s, 10 * WEFT_SEC));
    CHECK_EQ(s.value, 5);
    CHECK(s.checks >= 2);
    CHECK_RC(on_thread(try_acquire_cond, s.c), -ETIMEDOUT);
    CHECK_OK(weft_cond_release(s.c));
    CHECK_OK(weft_cond_release(s.c));
    CHECK_RC(weft_cond_release(s.c), -EPERM);
    join_and_release(t);

    /* Notified again and again, never true: waits out the whole timeout. */
    s.value = 0;
    s.checks = 0;
    weft_future *n;
    CHECK_OK(weft_spawn(&n, notify_without_change, &s));
    CHECK_OK(weft_cond_acquire(s.c, 0));
    int64_t t0 = weft_now();
    CHECK_RC(weft_cond_wait_for(s.c, value_reached_5, &s, 50 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 49 * WEFT_MS, 3 * WEFT_SEC);
    CHECK(s.checks >= 2);                       /* it woke and re-checked, and waited on */
    CHECK_RC(on_thread(try_acquire_cond, s.c), -ETIMEDOUT);
    CHECK_OK(weft_cond_release(s.c));
    atomic_store(&s.stop, 1);
    CHECK_OK(weft_future_result(n, WEFT_FOREVER, NULL));
    weft_future_release(n);
    weft_cond_destroy(s.c);
    weft_rlock_destroy(r);
    return 0;
}

static void test_wait_for(void)
{
    CHECK_OK(weft_run(wait_for_main, NULL, NULL));
}

/* A thread waits (wait_for) on a plain-lock condition for coroutines of two loops. */
static int bump_coro(void *arg, void **result)
{
    (void)result;
    counter_cv *s = arg;
    weft_sleep(WEFT_MS);
    CHECK_OK(weft_cond_acquire(s->c, WEFT_FOREVER));
    s->value++;
    CHECK(weft_cond_notify(s->c, 1) >= 0);
    CHECK_OK(weft_cond_release(s->c));
    return 0;
}

static void test_thread_waits_for_coroutines(void)
{
    counter_cv s = { 0 };
    CHECK_OK(weft_cond_create(&s.c, NULL));
    CHECK_OK(weft_cond_acquire(s.c, 0));
    spawn_job five = { 5, bump_coro, &s };
    loop_job loop = { spawn_all_and_wait, &five };
    weft_thread *t[2];
    t[0] = start_loop_thread(&loop);
    t[1] = start_loop_thread(&loop);
    s.checks = 0;
    CHECK_OK(weft_cond_wait_for(s.c, value_reached_5, &s, 10 * WEFT_SEC));
    CHECK(s.value >= 5);
    CHECK_OK(weft_cond_release(s.c));
    for (int i = 0; i < 2; i++) join_and_release(t[i]);
    CHECK_EQ(s.value, 10);
    weft_cond_destroy(s.c);
}

/* ---- a coroutine's wait suspends only it ------------------------------------------------- */

typedef struct {
    weft_cond *c;
    ticker_state tk;
    int flag;                   /* under the lock */
} only_me;

static bool flag_set(void *arg) { return ((only_me *)arg)->flag != 0; }

static int coro_waits_ticking(void *arg, void **result)
{
    (void)result;
    only_me *o = arg;
    ticker_start(&o->tk);
    CHECK_OK(weft_cond_acquire(o->c, WEFT_FOREVER));
    ticker_wait_begins(&o->tk);
    CHECK_OK(weft_cond_wait_for(o->c, flag_set, o, 10 * WEFT_SEC));
    CHECK(ticker_ticks_in_wait(&o->tk) >= 5);
    CHECK_OK(weft_cond_release(o->c));
    ticker_stop(&o->tk);
    return 0;
}

static void test_coroutine_wait_suspends_only_it(void)
{
    only_me o = { 0 };
    CHECK_OK(weft_cond_create(&o.c, NULL));
    loop_job job = { coro_waits_ticking, &o };
    weft_thread *t = start_loop_thread(&job);
    ticker_await_ticks_in_wait(&o.tk, 5);
    CHECK_OK(weft_cond_acquire(o.c, 10 * WEFT_SEC));
    o.flag = 1;
    CHECK_RC(weft_cond_notify(o.c, 1), 1);
    CHECK_OK(weft_cond_release(o.c));
    join_and_release(t);
    weft_cond_destroy(o.c);
}

/* ---- producer / consumer: two conditions on one lock, every kind of context ------------- */

enum { CAP = 4, PRODUCERS = 6 };

typedef struct {
    weft_lock *lock;
    weft_cond *not_full, *not_empty;
    int buf[CAP];
    int head, count;            /* under lock */
    int consumed, total;        /* under lock */
    bool done;                  /* under lock: every item consumed */
    atomic_int next_producer;
    int items;
    atomic_uchar *seen;
} pc;

static bool has_room(void *arg) { pc *q = arg; return q->count < CAP; }
static bool has_item_or_done(void *arg) { pc *q = arg; return q->count > 0 || q->done; }

static int producer(void *arg, void **result)
{
    (void)result;
    pc *q = arg;
    int me = atomic_fetch_add(&q->next_producer, 1);
    for (int i = 0; i < q->items; i++) {
        CHECK_OK(weft_lock_acquire(q->lock, WEFT_FOREVER));
        if (i % 2) {
            CHECK_OK(weft_cond_wait_for(q->not_full, has_room, q, 20 * WEFT_SEC));
        } else {
            while (q->count == CAP) CHECK_OK(weft_cond_wait(q->not_full, 20 * WEFT_SEC));
        }
        q->buf[(q->head + q->count) % CAP] = me * q->items + i;
        q->count++;
        CHECK(weft_cond_notify(q->not_empty, 1) >= 0);
        CHECK_OK(weft_lock_release(q->lock));
        if (i % 5 == 0) weft_yield();
    }
    return 0;
}

static int consumer(void *arg, void **result)
{
    (void)result;
    pc *q = arg;
    for (;;) {
        CHECK_OK(weft_lock_acquire(q->lock, WEFT_FOREVER));
        CHECK_OK(weft_cond_wait_for(q->not_empty, has_item_or_done, q, 20 * WEFT_SEC));
        if (q->count == 0) {            /* done */
            CHECK_OK(weft_lock_release(q->lock));
            return 0;
        }
        int id = q->buf[q->head];
        q->head = (q->head + 1) % CAP;
        q->count--;
        CHECK(id >= 0 && id < q->total);
        CHECK_EQ(atomic_fetch_add(&q->seen[id], 1), 0);   /* never twice */
        if (++q->consumed == q->total) {
            q->done = true;
            CHECK(weft_cond_notify_all(q->not_empty) >= 0);
        }
        CHECK(weft_cond_notify(q->not_full, 1) >= 0);
        CHECK_OK(weft_lock_release(q->lock));
    }
}

static int pc_loop(void *arg, void **result)
{
    (void)result;
    pc *q = arg;
    weft_future *f[4];
    CHECK_OK(weft_spawn(&f[0], producer, q));
    CHECK_OK(weft_spawn(&f[1], consumer, q));
    CHECK_OK(weft_spawn(&f[2], producer, q));
    CHECK_OK(weft_spawn(&f[3], consumer, q));
    for (int i = 0; i < 4; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_producer_consumer(void)
{
    pc q = { .items = slow_tools() ? 200 : 3000 };
    q.total = PRODUCERS * q.items;
    q.seen = calloc((size_t)q.total, sizeof *q.seen);
    CHECK(q.seen != NULL);
    CHECK_OK(weft_lock_create(&q.lock));
    CHECK_OK(weft_cond_create(&q.not_full, q.lock));
    CHECK_OK(weft_cond_create(&q.not_empty, q.lock));
    loop_job loop = { pc_loop, &q };
    weft_thread *t[6];
    t[0] = start_loop_thread(&loop);    /* 2 producers + 2 consumers each */
    t[1] = start_loop_thread(&loop);
    CHECK_OK(weft_thread_start(&t[2], NULL, producer, &q));
    CHECK_OK(weft_thread_start(&t[3], NULL, producer, &q));
    CHECK_OK(weft_thread_start(&t[4], NULL, consumer, &q));
    CHECK_OK(weft_thread_start(&t[5], NULL, consumer, &q));
    for (int i = 0; i < 6; i++) join_and_release(t[i]);
    CHECK_EQ(q.consumed, q.total);
    CHECK_EQ(q.count, 0);
    for (int i = 0; i < q.total; i++) CHECK_EQ(atomic_load(&q.seen[i]), 1);
    weft_cond_destroy(q.not_full);
    weft_cond_destroy(q.not_empty);
    weft_lock_destroy(q.lock);
    free(q.seen);
}

/* ---- stress: tokens through an rlock condition, random timeouts and cancels -------------
 * Producers add tokens and notify some; consumers wait_for a token with random short
 * timeouts (taking the rlock 1 or 2 levels deep), some coroutines are cancelled. Every
 * return leaves the caller owning every level (its releases succeed, one more is -EPERM);
 * a success always finds a token; at the end produced == consumed + left, exactly. */
typedef struct {
    weft_rlock *r;
    weft_cond *c;
    long tokens, produced, consumed;    /* under r */
    atomic_long ok, timeouts, cancels;
    int64_t until;
} storm;

static bool has_token(void *arg) { return ((storm *)arg)->tokens > 0; }

static int storm_consumer(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    while (weft_now() < s->until) {
        int rc = weft_cond_acquire(s->c, WEFT_FOREVER);
        if (rc == -ECANCELED) { atomic_fetch_add(&s->cancels, 1); return 0; }
        CHECK_OK(rc);
        int levels = 1 + (int)(rnd(&seed) % 2);
        if (levels == 2) CHECK_OK(weft_rlock_acquire(s->r, 0));
        int64_t timeout = rnd(&seed) % 8 == 0 ? 0 : (int64_t)(rnd(&seed) % 500) * WEFT_US;
        bool with_pred = rnd(&seed) % 2;
        rc = with_pred ? weft_cond_wait_for(s->c, has_token, s, timeout)
                       : weft_cond_wait(s->c, timeout);
        if (rc == 0) {
            if (with_pred) CHECK(s->tokens > 0);
            /* A plain wait may find the token taken by someone faster: then it goes on. */
            if (s->tokens > 0) {
                s->tokens--;
                s->consumed++;
                atomic_fetch_add(&s->ok, 1);
            }
        } else if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&s->timeouts, 1);
        } else {
            CHECK_RC(rc, -ECANCELED);
        }
        for (int i = 0; i < levels; i++) CHECK_OK(weft_rlock_release(s->r));
        CHECK_RC(weft_rlock_release(s->r), -EPERM);
        if (rc == -ECANCELED) { atomic_fetch_add(&s->cancels, 1); return 0; }
    }
    return 0;
}

static int storm_producer(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)weft_now();
    while (weft_now() < s->until) {
        CHECK_OK(weft_cond_acquire(s->c, WEFT_FOREVER));
        int k = 1 + (int)(rnd(&seed) % 3);
        s->tokens += k;
        s->produced += k;
        int n = rnd(&seed) % 4 == 0 ? weft_cond_notify_all(s->c)
                                    : weft_cond_notify(s->c, (int)(rnd(&seed) % (unsigned)k) + 1);
        CHECK(n >= 0);
        CHECK_OK(weft_cond_release(s->c));
        weft_sleep((int64_t)(rnd(&seed) % 300) * WEFT_US);
    }
    return 0;
}

static int storm_loop(void *arg, void **result)
{
    (void)result;
    storm *s = arg;
    weft_future *p;
    CHECK_OK(weft_spawn(&p, storm_producer, s));
    spawn_and_cancel_randomly(12, storm_consumer, s, s->until, 20);
    CHECK_OK(weft_future_result(p, WEFT_FOREVER, NULL));
    weft_future_release(p);
    return 0;
}

static void test_stress(void)
{
    storm s = { .until = weft_now() + (slow_tools() ? 1 : 2) * WEFT_SEC };
    CHECK_OK(weft_rlock_create(&s.r));
    CHECK_OK(weft_cond_create_rlock(&s.c, s.r));
    loop_job loop = { storm_loop, &s };
    weft_thread *t[5];
    CHECK_OK(weft_thread_start(&t[0], NULL, storm_consumer, &s));
    CHECK_OK(weft_thread_start(&t[1], NULL, storm_consumer, &s));
    CHECK_OK(weft_thread_start(&t[2], NULL, storm_producer, &s));
    t[3] = start_loop_thread(&loop);
    t[4] = start_loop_thread(&loop);
    for (int i = 0; i < 5; i++) join_and_release(t[i]);
    CHECK_EQ(s.produced, s.consumed + s.tokens);
    CHECK_EQ(s.consumed, atomic_load(&s.ok));
    CHECK(s.consumed > 50);
    CHECK_OK(weft_cond_acquire(s.c, 0));        /* left free */
    CHECK_RC(weft_cond_notify_all(s.c), 0);     /* nobody left waiting */
    CHECK_OK(weft_cond_release(s.c));
    printf("   produced %ld, consumed %ld, timeouts %ld, cancels %ld\n", s.produced,
           s.consumed, atomic_load(&s.timeouts), atomic_load(&s.cancels));
    weft_cond_destroy(s.c);
    weft_rlock_destroy(s.r);
}

/* ---- misuse ------------------------------------------------------------------------------ */

static weft_cond *busy;

static int busy_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_cond_acquire(busy, WEFT_FOREVER));
    return weft_cond_wait(busy, WEFT_FOREVER);
}

static int destroy_with_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_cond_create(&busy, NULL));
    CHECK_OK(weft_spawn(NULL, busy_waiter, NULL));
    weft_yield();
    weft_cond_destroy(busy);
    return 0;
}

static void destroy_busy_child(void) { weft_run(destroy_with_waiter, NULL, NULL); }

static void test_destroy_with_waiter_aborts(void)
{
    expect_abort(destroy_busy_child, "weft_cond_destroy: 1 waiter(s) still waiting");
}

/* ---- out of memory ------------------------------------------------------------------- */


static int op_cond(void)
{
    weft_cond *c;
    int rc = weft_cond_create(&c, NULL);       /* the condition and its own lock */
    if (rc) return rc;
    CHECK(weft_cond_lock(c) != NULL);
    weft_cond_destroy(c);
    weft_lock *l;
    if ((rc = weft_lock_create(&l)) != 0) return rc;
    rc = weft_cond_create(&c, l);
    if (rc == 0) weft_cond_destroy(c);
    weft_lock_destroy(l);
    if (rc) return rc;
    weft_rlock *r;
    if ((rc = weft_rlock_create(&r)) != 0) return rc;
    rc = weft_cond_create_rlock(&c, r);
    if (rc == 0) weft_cond_destroy(c);
    weft_rlock_destroy(r);
    return rc;
}

static void test_out_of_memory(void)
{
    CHECK_EQ(fail_each_allocation(op_cond), 6);
}

int main(void)
{
    RUN(test_errors);
    RUN(test_timeouts_from_thread);
    RUN(test_timeouts_from_coroutine);
    RUN(test_lock_held_after_every_return);
    RUN(test_notify_n_and_all);
    RUN(test_notify_permission);
    RUN(test_notify_skips_cancelled);
    RUN(test_cancelled_coroutine_waits);
    RUN(test_wait_for);
    RUN(test_thread_waits_for_coroutines);
    RUN(test_coroutine_wait_suspends_only_it);
    RUN(test_producer_consumer);
    RUN(test_stress);
    RUN(test_out_of_memory);
    RUN(test_destroy_with_waiter_aborts);
    return check_done();
}
