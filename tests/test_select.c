/* weft_select: one case completes, fairly; timeouts, cancellation, shut-down queues; and a
 * stress where selects compete with plain getters and putters without losing an item. */
#include "check.h"

#include <stdatomic.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((intptr_t)(p))

static void test_basics(void)
{
    weft_queue *a, *b;
    CHECK_OK(weft_queue_create(&a, 4));
    CHECK_OK(weft_queue_create(&b, 1));
    weft_select_case c[3] = {
        { a, WEFT_SELECT_GET, NULL, 0 },
        { b, WEFT_SELECT_GET, NULL, 0 },
        { NULL, WEFT_SELECT_GET, NULL, 0 },               /* never ready */
    };
    CHECK_RC(weft_select(c, 3, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_select(c, 3, 10 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 9 * WEFT_MS, 2 * WEFT_SEC);
    CHECK_OK(weft_queue_put(b, P(42), 0));
    CHECK_EQ(weft_select(c, 3, 0), 1);
    CHECK_EQ(c[1].rc, 0);
    CHECK_EQ(I(c[1].item), 42);
    CHECK(weft_queue_empty(b));

    /* A put case on a full queue and a get case on an empty one: neither; then room. */
    CHECK_OK(weft_queue_put(b, P(1), 0));
    weft_select_case d[2] = {
        { b, WEFT_SELECT_PUT, P(2), 0 },
        { a, WEFT_SELECT_GET, NULL, 0 },
    };
    CHECK_RC(weft_select(d, 2, 0), -ETIMEDOUT);
    void *it;
    CHECK_OK(weft_queue_get(b, &it, 0));
    CHECK_EQ(weft_select(d, 2, 0), 0);
    CHECK_OK(weft_queue_get(b, &it, 0));
    CHECK_EQ(I(it), 2);

    /* A shut-down queue is always ready, with -ESHUTDOWN. */
    CHECK_OK(weft_queue_shutdown(a, false));
    CHECK_EQ(weft_select(c, 3, WEFT_FOREVER), 0);
    CHECK_EQ(c[0].rc, -ESHUTDOWN);

    CHECK_RC(weft_select(NULL, 1, 0), -EINVAL);
    CHECK_RC(weft_select(c, 0, 0), -EINVAL);
    c[2].op = (weft_select_op)9;
    CHECK_RC(weft_select(c, 3, 0), -EINVAL);
    CHECK_RC(weft_select(c, 2, -2), -EINVAL);
    weft_queue_destroy(a);
    weft_queue_destroy(b);
}

/* With every case ready, each gets chosen (random start): none starves. */
static void test_fair(void)
{
    enum { N = 4 };
    weft_queue *q[N];
    weft_select_case c[N];
    int hits[N] = { 0 };
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_queue_create(&q[i], 0));
        c[i] = (weft_select_case){ q[i], WEFT_SELECT_GET, NULL, 0 };
        for (int k = 0; k < 1000; k++) CHECK_OK(weft_queue_put(q[i], P(k), 0));
    }
    for (int k = 0; k < 1000; k++) {
        int i = weft_select(c, N, 0);
        CHECK(i >= 0 && i < N);
        hits[i]++;
    }
    for (int i = 0; i < N; i++) {
        CHECK(hits[i] > 150);                           /* ~250 each */
        weft_queue_destroy(q[i]);
    }
}

/* A coroutine selects over two queues fed by a thread; its loop runs meanwhile. */
typedef struct {
    weft_queue *a, *b;
    ticker_state tk;
    atomic_int got;
} feed;

static int selector(void *arg, void **result)
{
    (void)result;
    feed *f = arg;
    ticker_start(&f->tk);
    int sum = 0;
    for (int k = 0; k < 2; k++) {
        weft_select_case c[2] = { { f->a, WEFT_SELECT_GET, NULL, 0 },
                                  { f->b, WEFT_SELECT_GET, NULL, 0 } };
        int i = weft_select(c, 2, 10 * WEFT_SEC);
        CHECK(i == 0 || i == 1);
        sum += (int)I(c[i].item);
        atomic_fetch_add(&f->got, 1);
    }
    CHECK_EQ(sum, 30);
    ticker_stop(&f->tk);
    return 0;
}

static void test_coroutine_selects_thread_feeds(void)
{
    feed f = { 0 };
    CHECK_OK(weft_queue_create(&f.a, 2));
    CHECK_OK(weft_queue_create(&f.b, 2));
    loop_job lj = { selector, &f };
    weft_thread *t = start_loop_thread(&lj);
    while (atomic_load(&f.tk.ticks) < 3) weft_sleep(WEFT_MS);
    CHECK_OK(weft_queue_put(f.b, P(20), 0));
    while (atomic_load(&f.got) < 1) weft_sleep(WEFT_MS);
    CHECK_OK(weft_queue_put(f.a, P(10), 0));
    join_and_release(t);
    weft_queue_destroy(f.a);
    weft_queue_destroy(f.b);
}

static int select_forever(void *arg, void **result)
{
    (void)result;
    weft_select_case c[1] = { { arg, WEFT_SELECT_GET, NULL, 0 } };
    return weft_select(c, 1, WEFT_FOREVER);
}

static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_queue *q;
    CHECK_OK(weft_queue_create(&q, 1));
    weft_future *f;
    CHECK_OK(weft_spawn(&f, select_forever, q));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(f);
    CHECK_OK(weft_queue_put(q, P(3), 0));               /* nobody took anything */
    void *it;
    CHECK_OK(weft_queue_get(q, &it, 0));
    CHECK_EQ(I(it), 3);
    weft_queue_destroy(q);                               /* no node left behind */
    return 0;
}

static void test_cancel(void)
{
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

/* Stress, bounded in time: items flow from producers (plain puts, and selects that put to
 * one of two queues) to consumers (plain gets on either queue, and selects over both), on
 * threads and on coroutines of two loops, with random timeouts. Every item arrives exactly
 * once: counts and checksums match. A lost wake-up would hang the test (timeout). */
typedef struct {
    weft_queue *q[2];
    long per_producer;
    atomic_long next, put_sum, put_count, got_sum, got_count;
    atomic_int producers_left;
} flow;


static int flow_producer(void *arg, void **result)
{
    (void)result;
    flow *f = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (long n = 0; n < f->per_producer; n++) {
        long id = atomic_fetch_add(&f->next, 1) + 1;
        int64_t timeout = (int64_t)(rnd(&seed) % 200) * WEFT_US;
        for (;;) {
            int rc;
            if (rnd(&seed) % 2) {
                weft_select_case c[2] = { { f->q[0], WEFT_SELECT_PUT, P(id), 0 },
                                          { f->q[1], WEFT_SELECT_PUT, P(id), 0 } };
                rc = weft_select(c, 2, timeout);
                if (rc >= 0) rc = c[rc].rc;
            } else {
                rc = weft_queue_put(f->q[rnd(&seed) % 2], P(id), timeout);
            }
            if (rc == 0) break;
            CHECK_RC(rc, -ETIMEDOUT);
        }
        atomic_fetch_add(&f->put_sum, id);
        atomic_fetch_add(&f->put_count, 1);
    }
    if (atomic_fetch_sub(&f->producers_left, 1) == 1) {
        CHECK_OK(weft_queue_shutdown(f->q[0], false));
        CHECK_OK(weft_queue_shutdown(f->q[1], false));
    }
    return 0;
}

static int flow_consumer(void *arg, void **result)
{
    (void)result;
    flow *f = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    bool open[2] = { true, true };
    while (open[0] || open[1]) {
        int64_t timeout = (int64_t)(rnd(&seed) % 200) * WEFT_US;
        void *it = NULL;
        int rc, which;
        if (rnd(&seed) % 2) {
            weft_select_case c[2] = { { open[0] ? f->q[0] : NULL, WEFT_SELECT_GET, NULL, 0 },
                                      { open[1] ? f->q[1] : NULL, WEFT_SELECT_GET, NULL, 0 } };
            rc = weft_select(c, 2, timeout);
            which = rc;
            if (rc >= 0) {
                it = c[rc].item;
                rc = c[rc].rc;
            }
        } else {
            which = open[0] && open[1] ? (int)(rnd(&seed) % 2) : open[0] ? 0 : 1;
            rc = weft_queue_get(f->q[which], &it, timeout);
        }
        if (rc == -ETIMEDOUT) continue;
        if (rc == -ESHUTDOWN) {
            open[which] = false;
            continue;
        }
        CHECK_OK(rc);
        atomic_fetch_add(&f->got_sum, I(it));
        atomic_fetch_add(&f->got_count, 1);
    }
    return 0;
}

static int flow_loop(void *arg, void **result)
{
    (void)result;
    weft_future *f[6];
    for (int i = 0; i < 6; i++)
        CHECK_OK(weft_spawn(&f[i], i < 2 ? flow_producer : flow_consumer, arg));
    for (int i = 0; i < 6; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

static void test_stress(void)
{
    for (int round = 0; round < 3; round++) {
        flow *f = calloc(1, sizeof *f);
        size_t cap = round == 0 ? 1 : round == 1 ? 16 : 0;
        CHECK_OK(weft_queue_create(&f->q[0], cap));
        CHECK_OK(weft_queue_create(&f->q[1], cap));
        f->per_producer = slow_tools() ? 2000 : 40000;
        atomic_store(&f->producers_left, 6);
        loop_job lj = { flow_loop, f };
        weft_thread *t[6];
        t[0] = start_loop_thread(&lj);
        t[1] = start_loop_thread(&lj);
        for (int i = 2; i < 6; i++)
            CHECK_OK(weft_thread_start(&t[i], NULL, i < 4 ? flow_producer : flow_consumer, f));
        for (int i = 0; i < 6; i++) join_and_release(t[i]);
        CHECK_EQ(atomic_load(&f->got_count), 6 * f->per_producer);
        CHECK_EQ(atomic_load(&f->got_count), atomic_load(&f->put_count));
        CHECK_EQ(atomic_load(&f->got_sum), atomic_load(&f->put_sum));
        printf("   capacity %zu: %ld items\n", cap, atomic_load(&f->got_count));
        weft_queue_destroy(f->q[0]);
        weft_queue_destroy(f->q[1]);
        free(f);
    }
}

int main(void)
{
    RUN(test_basics);
    RUN(test_fair);
    RUN(test_coroutine_selects_thread_feeds);
    RUN(test_cancel);
    RUN(test_stress);
    return check_done();
}
