/* weft_queue: FIFO (ring and locked), LIFO, priority; shutdown (graceful and immediate),
 * task_done / join, timeouts and cancellation that lose nothing, threads and coroutines. */
#include "check.h"

#include <stdatomic.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((intptr_t)(p))

static void fifo_basics(size_t capacity)
{
    weft_queue *q;
    CHECK_OK(weft_queue_create(&q, capacity));
    void *it;
    CHECK(weft_queue_empty(q));
    CHECK_RC(weft_queue_get(q, &it, 0), -ETIMEDOUT);
    CHECK_RC(weft_queue_try_get(q, &it), -ETIMEDOUT);
    int n = capacity ? (int)capacity : 100;
    for (int i = 0; i < n; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    CHECK_EQ(weft_queue_qsize(q), n);
    if (capacity) {
        CHECK(weft_queue_full(q));
        CHECK_RC(weft_queue_try_put(q, P(99)), -ETIMEDOUT);
        int64_t t0 = weft_now();
        CHECK_RC(weft_queue_put(q, P(99), 10 * WEFT_MS), -ETIMEDOUT);
        CHECK_BETWEEN(weft_now() - t0, 9 * WEFT_MS, 2 * WEFT_SEC);
    } else {
        CHECK(!weft_queue_full(q));
    }
    for (int i = 0; i < n; i++) {
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_EQ(I(it), i);
    }
    CHECK(weft_queue_empty(q));
    /* NULL is a valid item; wrap around the ring many times. */
    for (int r = 0; r < 1000; r++) {
        CHECK_OK(weft_queue_put(q, NULL, 0));
        it = P(1);
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK(it == NULL);
        CHECK_OK(weft_queue_put(q, P(r), 0));
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_EQ(I(it), r);
    }
    weft_queue_destroy(q);
}

static void test_fifo(void)
{
    fifo_basics(1);
    fifo_basics(2);
    fifo_basics(3);
    fifo_basics(1000);
    fifo_basics(0);                                      /* unbounded: the locked store */
    fifo_basics(WEFT_SEM_MAX / 1024 + 5);                /* above the ring limit: locked */
}

static int cmp_int(const void *a, const void *b)
{
    return (I(a) > I(b)) - (I(a) < I(b));
}

static void test_lifo_and_priority(void)
{
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    o.kind = WEFT_QUEUE_LIFO;
    o.capacity = 3;
    weft_queue *q;
    CHECK_OK(weft_queue_create_ex(&q, &o));
    for (int i = 0; i < 3; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    CHECK_RC(weft_queue_put(q, P(9), 0), -ETIMEDOUT);
    void *it;
    for (int i = 2; i >= 0; i--) {
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_EQ(I(it), i);
    }
    weft_queue_destroy(q);

    o.kind = WEFT_QUEUE_PRIORITY;
    o.capacity = 0;
    CHECK_RC(weft_queue_create_ex(&q, &o), -EINVAL);      /* compare is required */
    o.compare = cmp_int;
    CHECK_OK(weft_queue_create_ex(&q, &o));
    int in[] = { 5, 1, 9, 3, 3, 7, 0, 8, 2, 6, 4, 100, -4 };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) CHECK_OK(weft_queue_put(q, P(in[i]), 0));
    intptr_t last = INTPTR_MIN;
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK(I(it) >= last);
        last = I(it);
    }
    CHECK_EQ(last, 100);
    weft_queue_destroy(q);
}

static void test_bad_arguments(void)
{
    weft_queue *q;
    CHECK_RC(weft_queue_create(NULL, 1), -EINVAL);
    CHECK_RC(weft_queue_create(&q, ((size_t)1 << 40) + 1), -EINVAL);
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    o.kind = (weft_queue_kind)7;
    CHECK_RC(weft_queue_create_ex(&q, &o), -EINVAL);
    CHECK_OK(weft_queue_create(&q, 4));
    CHECK_RC(weft_queue_put(NULL, NULL, 0), -EINVAL);
    CHECK_RC(weft_queue_get(NULL, NULL, 0), -EINVAL);
    CHECK_RC(weft_queue_get(q, NULL, 0), -EINVAL);
    CHECK_RC(weft_queue_put(q, NULL, -3), -EINVAL);
    CHECK_RC(weft_queue_shutdown(NULL, false), -EINVAL);
    CHECK_RC(weft_queue_task_done(NULL), -EINVAL);
    CHECK_RC(weft_queue_join(NULL, 0), -EINVAL);
    CHECK_RC(weft_queue_task_done(q), -EOVERFLOW);        /* nothing was ever put */
    CHECK_EQ(weft_queue_qsize(NULL), 0);
    weft_queue_destroy(q);
    weft_queue_destroy(NULL);
}

/* Python 3.13 shutdown semantics. */
static void test_shutdown(void)
{
    weft_queue *q;
    void *it;
    CHECK_OK(weft_queue_create(&q, 8));
    CHECK_OK(weft_queue_put(q, P(1), 0));
    CHECK_OK(weft_queue_put(q, P(2), 0));
    CHECK_OK(weft_queue_shutdown(q, false));
    CHECK_RC(weft_queue_put(q, P(3), WEFT_FOREVER), -ESHUTDOWN);
    CHECK_OK(weft_queue_get(q, &it, WEFT_FOREVER));       /* drain what is left */
    CHECK_EQ(I(it), 1);
    CHECK_OK(weft_queue_get(q, &it, WEFT_FOREVER));
    CHECK_EQ(I(it), 2);
    CHECK_RC(weft_queue_get(q, &it, WEFT_FOREVER), -ESHUTDOWN);
    CHECK_OK(weft_queue_shutdown(q, false));              /* again: harmless */
    weft_queue_destroy(q);

    for (int kind = 0; kind < 2; kind++) {                /* ring and locked store */
        CHECK_OK(weft_queue_create(&q, kind ? 0 : 8));
        for (int i = 0; i < 5; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_OK(weft_queue_task_done(q));
        CHECK_RC(weft_queue_join(q, 0), -ETIMEDOUT);
        CHECK_OK(weft_queue_shutdown(q, true));           /* discards 4, each counts done */
        CHECK_RC(weft_queue_get(q, &it, 0), -ESHUTDOWN);
        CHECK_EQ(weft_queue_qsize(q), 0);
        CHECK_OK(weft_queue_join(q, 0));
        weft_queue_destroy(q);
    }
}

/* Blocked callers of every kind wake on shutdown. */
typedef struct {
    weft_queue *q;
    atomic_int shut_seen;
} shut_job;

static int blocked_getter(void *arg, void **result)
{
    (void)result;
    shut_job *j = arg;
    void *it;
    CHECK_RC(weft_queue_get(j->q, &it, 10 * WEFT_SEC), -ESHUTDOWN);
    atomic_fetch_add(&j->shut_seen, 1);
    return 0;
}

static int blocked_putter(void *arg, void **result)
{
    (void)result;
    shut_job *j = arg;
    CHECK_RC(weft_queue_put(j->q, P(7), 10 * WEFT_SEC), -ESHUTDOWN);
    atomic_fetch_add(&j->shut_seen, 1);
    return 0;
}

static void test_shutdown_wakes_everyone(void)
{
    shut_job g = { 0 }, p = { 0 };
    CHECK_OK(weft_queue_create(&g.q, 1));
    CHECK_OK(weft_queue_create(&p.q, 1));
    CHECK_OK(weft_queue_put(p.q, P(1), 0));               /* full: putters block */
    spawn_job gs = { 3, blocked_getter, &g }, ps = { 3, blocked_putter, &p };
    loop_job lg = { spawn_all_and_wait, &gs }, lp = { spawn_all_and_wait, &ps };
    weft_thread *t[4];
    t[0] = start_loop_thread(&lg);
    t[1] = start_loop_thread(&lp);
    CHECK_OK(weft_thread_start(&t[2], NULL, blocked_getter, &g));
    CHECK_OK(weft_thread_start(&t[3], NULL, blocked_putter, &p));
    weft_sleep(30 * WEFT_MS);
    CHECK_EQ(atomic_load(&g.shut_seen) + atomic_load(&p.shut_seen), 0);
    CHECK_OK(weft_queue_shutdown(g.q, false));
    CHECK_OK(weft_queue_shutdown(p.q, false));
    for (int i = 0; i < 4; i++) join_and_release(t[i]);
    CHECK_EQ(atomic_load(&g.shut_seen), 4);
    CHECK_EQ(atomic_load(&p.shut_seen), 4);
    void *it;
    CHECK_OK(weft_queue_get(p.q, &it, 0));                /* the item put before stays */
    weft_queue_destroy(g.q);
    weft_queue_destroy(p.q);
}

/* task_done / join from threads and coroutines. */
static int worker(void *arg, void **result)
{
    (void)result;
    weft_queue *q = arg;
    void *it;
    while (weft_queue_get(q, &it, WEFT_FOREVER) == 0) {
        weft_yield();
        CHECK_OK(weft_queue_task_done(q));
    }
    return 0;
}

static int join_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_queue *q;
    CHECK_OK(weft_queue_create(&q, 16));
    weft_future *w[3];
    for (int i = 0; i < 3; i++) CHECK_OK(weft_spawn(&w[i], worker, q));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, worker, q));
    for (int i = 0; i < 1000; i++) CHECK_OK(weft_queue_put(q, P(i), WEFT_FOREVER));
    CHECK_OK(weft_queue_join(q, 10 * WEFT_SEC));
    CHECK_EQ(weft_queue_qsize(q), 0);
    CHECK_OK(weft_queue_shutdown(q, false));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_future_result(w[i], WEFT_FOREVER, NULL));
        weft_future_release(w[i]);
    }
    join_and_release(t);
    CHECK_RC(weft_queue_task_done(q), -EOVERFLOW);
    weft_queue_destroy(q);
    return 0;
}

static void test_task_done_and_join(void)
{
    CHECK_OK(weft_run(join_main, NULL, NULL));
}

/* Seed scenario 4: producer / consumer with a poison pill, threads and coroutines mixed. */
#define PILL ((void *)-1)

typedef struct {
    weft_queue *q;
    atomic_long sum, count;
} pc_job;

static int consumer(void *arg, void **result)
{
    (void)result;
    pc_job *j = arg;
    for (;;) {
        void *it;
        CHECK_OK(weft_queue_get(j->q, &it, WEFT_FOREVER));
        if (it == PILL) return 0;
        atomic_fetch_add(&j->sum, I(it));
        atomic_fetch_add(&j->count, 1);
    }
}

static int producer(void *arg, void **result)
{
    (void)result;
    pc_job *j = arg;
    for (int i = 1; i <= 10000; i++) CHECK_OK(weft_queue_put(j->q, P(i), WEFT_FOREVER));
    return 0;
}

static void test_poison_pill(void)
{
    pc_job j = { 0 };
    CHECK_OK(weft_queue_create(&j.q, 64));
    spawn_job cs = { 2, consumer, &j }, ps = { 2, producer, &j };
    loop_job lc = { spawn_all_and_wait, &cs }, lp = { spawn_all_and_wait, &ps };
    weft_thread *t[4];
    t[0] = start_loop_thread(&lc);                        /* 2 consuming coroutines */
    t[1] = start_loop_thread(&lp);                        /* 2 producing coroutines */
    CHECK_OK(weft_thread_start(&t[2], NULL, consumer, &j));
    CHECK_OK(weft_thread_start(&t[3], NULL, producer, &j));
    join_and_release(t[1]);
    join_and_release(t[3]);
    for (int i = 0; i < 3; i++) CHECK_OK(weft_queue_put(j.q, PILL, WEFT_FOREVER));
    join_and_release(t[0]);
    join_and_release(t[2]);
    CHECK_EQ(atomic_load(&j.count), 30000);
    CHECK_EQ(atomic_load(&j.sum), 3L * 10000 * 10001 / 2);
    CHECK(weft_queue_empty(j.q));
    weft_queue_destroy(j.q);
}

/* A coroutine blocked in get is cancelled: it takes nothing; the item put afterwards is
 * still there for the next getter. Same for a blocked put: it leaves nothing behind. */
static int get_forever(void *arg, void **result)
{
    void *it = NULL;
    int rc = weft_queue_get(arg, &it, WEFT_FOREVER);
    *result = it;
    return rc;
}

static int put_forever(void *arg, void **result)
{
    (void)result;
    return weft_queue_put(arg, P(666), WEFT_FOREVER);
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_queue *q;
    CHECK_OK(weft_queue_create(&q, 1));
    weft_future *g;
    CHECK_OK(weft_spawn(&g, get_forever, q));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(g));
    CHECK_RC(weft_future_result(g, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(g);
    CHECK_OK(weft_queue_put(q, P(5), 0));
    CHECK_EQ(weft_queue_qsize(q), 1);
    weft_future *p;
    CHECK_OK(weft_spawn(&p, put_forever, q));              /* full: it blocks */
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(p));
    CHECK_RC(weft_future_result(p, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(p);
    void *it;
    CHECK_OK(weft_queue_get(q, &it, 0));
    CHECK_EQ(I(it), 5);
    CHECK_RC(weft_queue_get(q, &it, 0), -ETIMEDOUT);       /* 666 was never put */
    weft_queue_destroy(q);
    return 0;
}

static void test_cancel_loses_nothing(void)
{
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

/* Stress, bounded in time: producers and consumers — plain threads and coroutines on two
 * loops — with random timeouts and cancellations. Every item is received exactly once:
 * the count and the checksum match what the producers put. */
typedef struct {
    weft_queue *q;
    long per_producer;
    atomic_long put_sum, put_count, got_sum, got_count, timeouts, cancels;
    atomic_int producers_left;
    atomic_long next_id;
    unsigned char *seen;             /* one flag per item id: each seen exactly once */
} stress;


static int stress_producer(void *arg, void **result)
{
    (void)result;
    stress *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (long n = 0; n < s->per_producer;) {
        long id = atomic_fetch_add(&s->next_id, 1) + 1;
        for (;;) {
            int64_t timeout = rnd(&seed) % 4 == 0 ? 0 : (int64_t)(rnd(&seed) % 100) * WEFT_US;
            int rc = weft_queue_put(s->q, P(id), timeout);
            if (rc == 0) break;
            if (rc == -ECANCELED) {   /* the item was not put: give its id back as done */
                atomic_fetch_add(&s->cancels, 1);
                s->seen[id] = 2;
                goto out;
            }
            CHECK_RC(rc, -ETIMEDOUT);
            atomic_fetch_add(&s->timeouts, 1);
        }
        atomic_fetch_add(&s->put_sum, id);
        atomic_fetch_add(&s->put_count, 1);
        n++;
    }
out:
    if (atomic_fetch_sub(&s->producers_left, 1) == 1) CHECK_OK(weft_queue_shutdown(s->q, false));
    return 0;
}

static int stress_consumer(void *arg, void **result)
{
    (void)result;
    stress *s = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (;;) {
        void *it = NULL;
        int64_t timeout = rnd(&seed) % 4 == 0 ? 0 : (int64_t)(rnd(&seed) % 100) * WEFT_US;
        int rc = weft_queue_get(s->q, &it, timeout);
        if (rc == -ESHUTDOWN) return 0;
        if (rc == -ETIMEDOUT || rc == -ECANCELED) {
            atomic_fetch_add(rc == -ETIMEDOUT ? &s->timeouts : &s->cancels, 1);
            if (rc == -ECANCELED) return 0;
            continue;
        }
        CHECK_OK(rc);
        long id = I(it);
        CHECK_EQ(s->seen[id], 0);
        s->seen[id] = 1;
        atomic_fetch_add(&s->got_sum, id);
        atomic_fetch_add(&s->got_count, 1);
    }
}

/* A loop with consumers and producers; a canceller hits random consumers (a replacement is
 * spawned for each one cancelled, so the queue is always drained). */
static int stress_loop(void *arg, void **result)
{
    (void)result;
    stress *s = arg;
    enum { N = 8 };
    weft_future *c[N], *p[2];
    for (int i = 0; i < N; i++) CHECK_OK(weft_spawn(&c[i], stress_consumer, s));
    for (int i = 0; i < 2; i++) CHECK_OK(weft_spawn(&p[i], stress_producer, s));
    unsigned seed = 99;
    for (int round = 0; atomic_load(&s->producers_left) > 0; round++) {
        weft_sleep((int64_t)(rnd(&seed) % 5) * WEFT_MS);
        int i = (int)(rnd(&seed) % N);
        if (weft_future_cancel(c[i]) == 0) {
            CHECK_OK(weft_future_result(c[i], WEFT_FOREVER, NULL));
            weft_future_release(c[i]);
            CHECK_OK(weft_spawn(&c[i], stress_consumer, s));
        }
    }
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_future_result(c[i], WEFT_FOREVER, NULL));
        weft_future_release(c[i]);
    }
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_future_result(p[i], WEFT_FOREVER, NULL));
        weft_future_release(p[i]);
    }
    return 0;
}

static void stress_run(size_t capacity, long total)
{
    stress *s = calloc(1, sizeof *s);
    s->per_producer = total / 6;                 /* 2 thread producers + 2 loops x 2 */
    s->seen = calloc((size_t)total + 16, 1);
    atomic_store(&s->producers_left, 6);
    CHECK_OK(weft_queue_create(&s->q, capacity));
    loop_job lj = { stress_loop, s };
    weft_thread *t[6];
    t[0] = start_loop_thread(&lj);
    t[1] = start_loop_thread(&lj);
    CHECK_OK(weft_thread_start(&t[2], NULL, stress_producer, s));
    CHECK_OK(weft_thread_start(&t[3], NULL, stress_producer, s));
    CHECK_OK(weft_thread_start(&t[4], NULL, stress_consumer, s));
    CHECK_OK(weft_thread_start(&t[5], NULL, stress_consumer, s));
    for (int i = 0; i < 6; i++) join_and_release(t[i]);
    CHECK_EQ(atomic_load(&s->got_count), atomic_load(&s->put_count));
    CHECK_EQ(atomic_load(&s->got_sum), atomic_load(&s->put_sum));
    CHECK(weft_queue_empty(s->q));
    printf("   capacity %zu: %ld items, %ld timeouts, %ld cancels\n", capacity,
           atomic_load(&s->got_count), atomic_load(&s->timeouts), atomic_load(&s->cancels));
    weft_queue_destroy(s->q);
    free(s->seen);
    free(s);
}

static void test_stress(void)
{
    long total = slow_tools() ? 60000 : 600000;
    stress_run(1, total / 10);
    stress_run(0, total);
    stress_run(1024, slow_tools() ? total : 10000000);   /* the 10^7 */
}

/* The stress: 10^7 items through one queue, threads and coroutines on two loops,
 * count and checksum exact (no random timeouts here: throughput). */
typedef struct {
    weft_queue *q;
    long per_producer;
    atomic_long sum, count;
} big;

static int big_producer(void *arg, void **result)
{
    (void)result;
    big *b = arg;
    for (long i = 1; i <= b->per_producer; i++) CHECK_OK(weft_queue_put(b->q, P(i), WEFT_FOREVER));
    return 0;
}

static int big_consumer(void *arg, void **result)
{
    (void)result;
    big *b = arg;
    long sum = 0, count = 0;
    void *it;
    while (weft_queue_get(b->q, &it, WEFT_FOREVER) == 0) {
        sum += I(it);
        count++;
    }
    atomic_fetch_add(&b->sum, sum);
    atomic_fetch_add(&b->count, count);
    return 0;
}

static void test_ten_million(void)
{
    big b = { 0 };
    long total = slow_tools() ? 200000 : 10000000;
    b.per_producer = total / 4;
    CHECK_OK(weft_queue_create(&b.q, 1024));
    spawn_job prod = { 1, big_producer, &b }, cons = { 2, big_consumer, &b };
    loop_job lp = { spawn_all_and_wait, &prod }, lc = { spawn_all_and_wait, &cons };
    weft_thread *t[6];
    int64_t t0 = weft_now();
    t[0] = start_loop_thread(&lp);
    t[1] = start_loop_thread(&lp);
    t[2] = start_loop_thread(&lc);
    CHECK_OK(weft_thread_start(&t[3], NULL, big_producer, &b));
    CHECK_OK(weft_thread_start(&t[4], NULL, big_producer, &b));
    CHECK_OK(weft_thread_start(&t[5], NULL, big_consumer, &b));
    for (int i = 0; i < 2; i++) join_and_release(t[i]);
    join_and_release(t[3]);
    join_and_release(t[4]);
    CHECK_OK(weft_queue_shutdown(b.q, false));
    join_and_release(t[2]);
    join_and_release(t[5]);
    CHECK_EQ(atomic_load(&b.count), total);
    CHECK_EQ(atomic_load(&b.sum), 4 * (b.per_producer * (b.per_producer + 1) / 2));
    printf("   %ld items in %.2f s\n", total, (double)(weft_now() - t0) / 1e9);
    weft_queue_destroy(b.q);
}

static weft_queue *busy;

static int busy_get(void *arg, void **result)
{
    (void)arg; (void)result;
    void *it;
    return weft_queue_get(busy, &it, WEFT_FOREVER);
}

static int destroy_busy_main(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_queue_create(&busy, 4));
    CHECK_OK(weft_spawn(NULL, busy_get, NULL));
    weft_sleep(WEFT_MS);                               /* the getter runs out of work and parks */
    weft_queue_destroy(busy);
    return 0;
}

static void destroy_busy_child(void) { weft_run(destroy_busy_main, NULL, NULL); }

static void test_destroy_with_waiters_aborts(void)
{
    expect_abort(destroy_busy_child, "weft_queue_destroy: 1 waiter(s) still waiting");
}

int main(void)
{
    RUN(test_fifo);
    RUN(test_lifo_and_priority);
    RUN(test_bad_arguments);
    RUN(test_shutdown);
    RUN(test_shutdown_wakes_everyone);
    RUN(test_task_done_and_join);
    RUN(test_poison_pill);
    RUN(test_cancel_loses_nothing);
    RUN(test_stress);
    RUN(test_ten_million);
    RUN(test_destroy_with_waiters_aborts);
    return check_done();
}
