/* Compact coroutines (WEFT_SPAWN_COMPACT): many share one run stack, their frames copied out
 * and back in. Every test checks that each coroutine's frames come back exactly (a pattern
 * of its own in a local array, read after every switch), as well as the calls' results.
 * Where compact stacks are not available (ASan, TSan, aarch64) the flag is ignored and the
 * same tests run on ordinary coroutines: their results must not change. */
#include "check.h"
#include "loop/internal.h"

#include <pthread.h>

/* Frames copied in by the calling thread's loop so far (0 without compact stacks). */
static uint64_t copies(void)
{
#if WEFT__HAVE_COMPACT
    weft__loop *l = weft__tls_self.loop;
    return l && l->runstack ? l->runstack->copies : 0;
#else
    return 0;
#endif
}

static uint64_t saved_bytes(void)
{
#if WEFT__HAVE_COMPACT
    weft__loop *l = weft__tls_self.loop;
    return l && l->runstack ? l->runstack->saved_bytes : 0;
#else
    return 0;
#endif
}

static weft_spawn_opts compact_opts(void)
{
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.flags = WEFT_SPAWN_COMPACT;
    return o;
}

static int spawn_compact(weft_future **f, weft_fn fn, void *arg)
{
    weft_spawn_opts o = compact_opts();
    return weft_spawn_ex(f, &o, fn, arg);
}

/* A frame of n bytes with a pattern of id's own, and its check. */
static void fill(volatile unsigned char *b, size_t n, uintptr_t id)
{
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(id * 31 + i * 7);
}

static bool intact(volatile unsigned char *b, size_t n, uintptr_t id)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(id * 31 + i * 7)) return false;
    return true;
}

/* ---- yields ---------------------------------------------------------------------------- */

enum { ROUNDS = 200 };

static int yielder(void *arg, void **result)
{
    uintptr_t id = (uintptr_t)arg;
    size_t n = 16 + (id % 40) * 24;               /* different live sizes: 16..952 bytes */
    volatile unsigned char buf[1024];
    fill(buf, n, id);
    for (int r = 0; r < ROUNDS; r++) {
        CHECK_OK(weft_yield());
        if (!intact(buf, n, id)) return -EIO;
    }
    *result = (void *)(id * 3);
    return 0;
}

static void run_yielders(int n, bool mixed)
{
    weft_future **f = calloc((size_t)n, sizeof *f);
    CHECK(f);
    for (int i = 0; i < n; i++) {
        if (mixed && i % 3 == 0) CHECK_OK(weft_spawn(&f[i], yielder, (void *)(uintptr_t)i));
        else CHECK_OK(spawn_compact(&f[i], yielder, (void *)(uintptr_t)i));
    }
    for (int i = 0; i < n; i++) {
        void *res = NULL;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &res));
        CHECK_EQ((uintptr_t)res, (uintptr_t)i * 3);
        weft_future_release(f[i]);
    }
    free(f);
}

static void test_frames_survive_yields(void)
{
    uint64_t c0 = copies(), s0 = saved_bytes();
    run_yielders(64, false);
    if (weft_compact_stacks()) {          /* every switch between two of them copies */
        CHECK(copies() - c0 >= 64 * ROUNDS);
        CHECK(saved_bytes() - s0 >= 64 * ROUNDS * 16);
    } else {
        CHECK_EQ(copies(), 0);
    }
}

static void test_compact_and_plain_mixed(void)
{
    run_yielders(64, true);
}

/* From inside a coroutine (main is then a plain coroutine of weft_run's loop). */
static int yielders_main(void *arg, void **result)
{
    (void)arg; (void)result;
    run_yielders(40, true);
    return 0;
}

static void test_from_a_coroutine(void)
{
    CHECK_OK(weft_run(yielders_main, NULL, NULL));
}

/* ---- events ---------------------------------------------------------------------------- */

typedef struct {
    weft_event *go;
    atomic_int parked, woken;
    int64_t timeout;
} event_ctx;

static event_ctx ev;

static int event_waiter(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[300];
    fill(buf, sizeof buf, id);
    atomic_fetch_add(&ev.parked, 1);
    int rc = weft_event_wait(ev.go, ev.timeout);
    if (rc) return rc;
    if (!intact(buf, sizeof buf, id)) return -EIO;
    atomic_fetch_add(&ev.woken, 1);
    return 0;
}

static void *set_later(void *arg)
{
    (void)arg;
    while (atomic_load(&ev.parked) < 100) sched_yield();
    usleep(2000);
    CHECK_OK(weft_event_set(ev.go));
    return NULL;
}

static void event_round(bool from_thread)
{
    enum { N = 100 };
    CHECK_OK(weft_event_create(&ev.go));
    atomic_store(&ev.parked, 0);
    atomic_store(&ev.woken, 0);
    ev.timeout = 30 * WEFT_SEC;
    weft_future *f[N];
    for (int i = 0; i < N; i++) CHECK_OK(spawn_compact(&f[i], event_waiter, (void *)(uintptr_t)i));
    pthread_t t;
    if (from_thread) {
        CHECK(pthread_create(&t, NULL, set_later, NULL) == 0);
    } else {
        CHECK_OK(weft_yield());                   /* every one runs and parks */
        CHECK_EQ(atomic_load(&ev.parked), N);
        CHECK_EQ(weft_event_waiters(ev.go), N);
        CHECK_OK(weft_event_set(ev.go));
    }
    for (int i = 0; i < N; i++) {
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
    if (from_thread) CHECK(pthread_join(t, NULL) == 0);
    CHECK_EQ(atomic_load(&ev.woken), N);
    weft_event_destroy(ev.go);
}

static void test_event_wait(void)
{
    event_round(false);
}

static void test_event_set_from_another_thread(void)
{
    event_round(true);
}

static void test_event_timeout(void)
{
    CHECK_OK(weft_event_create(&ev.go));
    atomic_store(&ev.parked, 0);
    atomic_store(&ev.woken, 0);
    ev.timeout = 5 * WEFT_MS;
    weft_future *f[8];
    for (int i = 0; i < 8; i++) CHECK_OK(spawn_compact(&f[i], event_waiter, (void *)(uintptr_t)i));
    for (int i = 0; i < 8; i++) {
        CHECK_RC(weft_future_result(f[i], 30 * WEFT_SEC, NULL), -ETIMEDOUT);
        weft_future_release(f[i]);
    }
    CHECK_EQ(atomic_load(&ev.woken), 0);
    CHECK_EQ(weft_event_waiters(ev.go), 0);
    weft_event_destroy(ev.go);
}

static void test_cancel_while_parked(void)
{
    CHECK_OK(weft_event_create(&ev.go));
    atomic_store(&ev.parked, 0);
    atomic_store(&ev.woken, 0);
    ev.timeout = WEFT_FOREVER;
    weft_future *f[10];
    for (int i = 0; i < 10; i++) CHECK_OK(spawn_compact(&f[i], event_waiter, (void *)(uintptr_t)i));
    CHECK_OK(weft_yield());
    CHECK_EQ(atomic_load(&ev.parked), 10);
    for (int i = 0; i < 10; i += 2) weft_future_cancel(f[i]);   /* half cancelled */
    for (int i = 0; i < 10; i += 2) CHECK_RC(weft_future_result(f[i], 30 * WEFT_SEC, NULL), -ECANCELED);
    CHECK_EQ(weft_event_waiters(ev.go), 5);
    CHECK_OK(weft_event_set(ev.go));
    for (int i = 1; i < 10; i += 2) CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, NULL));
    for (int i = 0; i < 10; i++) weft_future_release(f[i]);
    CHECK_EQ(atomic_load(&ev.woken), 5);
    weft_event_destroy(ev.go);
}

/* ---- sleep, join, futures of pool jobs ------------------------------------------------- */

static int sleeper(void *arg, void **result)
{
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[200];
    fill(buf, sizeof buf, id);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_sleep((int64_t)(1 + id % 3) * WEFT_MS));
        if (!intact(buf, sizeof buf, id)) return -EIO;
    }
    *result = (void *)(id + 1);
    return 0;
}

static void test_sleep(void)
{
    weft_future *f[30];
    for (int i = 0; i < 30; i++) CHECK_OK(spawn_compact(&f[i], sleeper, (void *)(uintptr_t)i));
    for (int i = 0; i < 30; i++) {
        void *res;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &res));
        CHECK_EQ((uintptr_t)res, (uintptr_t)i + 1);
        weft_future_release(f[i]);
    }
}

/* A compact parent joins compact and plain children (the joiner slot, then other waits:
 * the slot holds one joiner). */
static int parent(void *arg, void **result)
{
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[256];
    fill(buf, sizeof buf, id);
    weft_future *kids[6];
    for (int i = 0; i < 6; i++) {
        uintptr_t kid = id * 100 + (uintptr_t)i;
        if (i % 2) CHECK_OK(weft_spawn(&kids[i], sleeper, (void *)kid));
        else CHECK_OK(spawn_compact(&kids[i], sleeper, (void *)kid));
    }
    uintptr_t sum = 0;
    for (int i = 0; i < 6; i++) {
        void *res;
        int rc = weft_future_result(kids[i], 30 * WEFT_SEC, &res);
        weft_future_release(kids[i]);
        if (rc) return rc;
        if (!intact(buf, sizeof buf, id)) return -EIO;
        sum += (uintptr_t)res;
    }
    *result = (void *)sum;
    return 0;
}

static void test_join_children(void)
{
    weft_future *f[8];
    for (int i = 0; i < 8; i++) CHECK_OK(spawn_compact(&f[i], parent, (void *)(uintptr_t)i));
    for (int i = 0; i < 8; i++) {
        void *res;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &res));
        uintptr_t want = 0;
        for (uintptr_t k = 0; k < 6; k++) want += (uintptr_t)i * 100 + k + 1;
        CHECK_EQ((uintptr_t)res, want);
        weft_future_release(f[i]);
    }
}

static int square_job(void *arg, void **result)
{
    uintptr_t x = (uintptr_t)arg;
    *result = (void *)(x * x);
    return 0;
}

static weft_pool *pool;

static int submitter(void *arg, void **result)
{
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[128];
    fill(buf, sizeof buf, id);
    uintptr_t sum = 0;
    for (uintptr_t k = 0; k < 50; k++) {
        weft_future *jf;
        int rc = weft_pool_submit(pool, &jf, square_job, (void *)k);
        if (rc) return rc;
        void *res;
        rc = weft_future_result(jf, 30 * WEFT_SEC, &res);
        weft_future_release(jf);
        if (rc) return rc;
        if (!intact(buf, sizeof buf, id)) return -EIO;
        sum += (uintptr_t)res;
    }
    *result = (void *)sum;
    return 0;
}

static void test_wait_for_pool_jobs(void)
{
    CHECK_OK(weft_pool_create(&pool, NULL));
    weft_future *f[20];
    for (int i = 0; i < 20; i++) CHECK_OK(spawn_compact(&f[i], submitter, (void *)(uintptr_t)i));
    uintptr_t want = 0;
    for (uintptr_t k = 0; k < 50; k++) want += k * k;
    for (int i = 0; i < 20; i++) {
        void *res;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &res));
        CHECK_EQ((uintptr_t)res, want);
        weft_future_release(f[i]);
    }
    weft_pool_destroy(pool);
}

/* ---- deep frames: the save buffer grows ------------------------------------------------ */

static int dive(uintptr_t id, int depth)
{
    volatile unsigned char buf[512];
    fill(buf, sizeof buf, id + (uintptr_t)depth);
    int r = 0;
    if (depth > 0) r = dive(id, depth - 1);
    else CHECK_OK(weft_yield());
    CHECK_OK(weft_yield());
    if (!intact(buf, sizeof buf, id + (uintptr_t)depth)) return -EIO;
    return r;
}

static int diver(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    int rc = 0;
    for (int d = 0; d < 60 && !rc; d += 7) rc = dive(id, d);   /* up to ~35 KiB live */
    return rc;
}

static void test_deep_frames(void)
{
    weft_future *f[12];
    for (int i = 0; i < 12; i++) CHECK_OK(spawn_compact(&f[i], diver, (void *)(uintptr_t)i));
    for (int i = 0; i < 12; i++) {
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
}

/* ---- misuse ---------------------------------------------------------------------------- */

static int nothing(void *arg, void **result)
{
    (void)arg; (void)result;
    return 0;
}

static void test_bad_options(void)
{
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.flags = 2;
    CHECK_RC(weft_spawn_ex(NULL, &o, nothing, NULL), -EINVAL);
    o.flags = WEFT_SPAWN_COMPACT;
    o.stack_size = WEFT_STACK_DEFAULT * 2;        /* above the run stack's size */
    CHECK_RC(weft_spawn_ex(NULL, &o, nothing, NULL), -EINVAL);
    o.stack_size = WEFT_STACK_MIN;                /* fits: accepted */
    weft_future *f;
    CHECK_OK(weft_spawn_ex(&f, &o, nothing, NULL));
    CHECK_OK(weft_future_result(f, 30 * WEFT_SEC, NULL));
    weft_future_release(f);
}

static int make_group(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    rc = weft_group_wait(g);                  /* no children: returns at once */
    weft_group_destroy(g);
    return rc;
}

static void test_group_refused(void)
{
    weft_future *f;
    CHECK_OK(spawn_compact(&f, make_group, NULL));
    CHECK_RC(weft_future_result(f, 30 * WEFT_SEC, NULL),
             weft_compact_stacks() ? -ENOTSUP : 0);
    weft_future_release(f);
}

static int get_from_empty_queue(void *arg, void **result)
{
    (void)result;
    void *item;
    return weft_queue_get(arg, &item, WEFT_FOREVER);
}

static void unsupported_child(void)
{
    weft_queue *q;
    CHECK_OK(weft_queue_create(&q, 4));
    weft_future *f;
    CHECK_OK(spawn_compact(&f, get_from_empty_queue, q));
    weft_future_result(f, 30 * WEFT_SEC, NULL);   /* the process ends in there */
}

static void test_unsupported_wait_ends_the_process(void)
{
    if (!weft_compact_stacks()) SKIP("compact stacks not available in this build");
    if (slow_tools()) SKIP("forks a child");
    expect_abort(unsupported_child, "compact coroutine blocked in a call that does not support");
}

/* ---- stress: a token ring, bounded in time --------------------------------------------- */

enum { RING = 200 };

static struct {
    weft_event *ev[RING];
    long seen[RING];
    long token;                   /* hops so far: each member checks it is its turn */
    long laps;
} ring;

/* Waits for its event LAPS times; each time checks that the token is its own (nothing lost
 * or passed twice) and its frame intact, then passes the token on. */
static int ring_member(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    size_t n = 32 + (id % 9) * 50;
    volatile unsigned char buf[512];
    fill(buf, n, id);
    for (long lap = 0; lap < ring.laps; lap++) {
        int rc = weft_event_wait(ring.ev[id], 60 * WEFT_SEC);
        if (rc) return rc;
        CHECK_OK(weft_event_clear(ring.ev[id]));
        if (!intact(buf, n, id)) return -EIO;
        if (ring.token != lap * RING + (long)id) return -EPROTO;
        ring.token++;
        ring.seen[id]++;
        if (id % 7 == 0) CHECK_OK(weft_yield());
        CHECK_OK(weft_event_set(ring.ev[(id + 1) % RING]));
    }
    return 0;
}

static void test_token_ring_stress(void)
{
    memset(&ring, 0, sizeof ring);
    ring.laps = slow_tools() ? 20 : 1000;
    for (int i = 0; i < RING; i++) CHECK_OK(weft_event_create(&ring.ev[i]));
    weft_future *f[RING];
    for (int i = 0; i < RING; i++) CHECK_OK(spawn_compact(&f[i], ring_member, (void *)(uintptr_t)i));
    int64_t t0 = weft_now();
    CHECK_OK(weft_event_set(ring.ev[0]));
    for (int i = 0; i < RING; i++) {
        CHECK_OK(weft_future_result(f[i], 60 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
    for (int i = 0; i < RING; i++) {
        CHECK_EQ(ring.seen[i], ring.laps);
        weft_event_destroy(ring.ev[i]);
    }
    CHECK_EQ(ring.token, ring.laps * RING);
    fprintf(stderr, "  %ld hops among %d compact coroutines in %.0f ms\n", ring.token, RING,
            (double)(weft_now() - t0) / 1e6);
}

int main(void)
{
    RUN(test_frames_survive_yields);
    RUN(test_compact_and_plain_mixed);
    RUN(test_from_a_coroutine);
    RUN(test_event_wait);
    RUN(test_event_set_from_another_thread);
    RUN(test_event_timeout);
    RUN(test_cancel_while_parked);
    RUN(test_sleep);
    RUN(test_join_children);
    RUN(test_wait_for_pool_jobs);
    RUN(test_deep_frames);
    RUN(test_bad_options);
    RUN(test_group_refused);
    RUN(test_unsupported_wait_ends_the_process);
    RUN(test_token_ring_stress);
    return check_done();
}
