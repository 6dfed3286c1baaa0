/* weft_queue of kind WEFT_QUEUE_SPSC: order, full / empty, timeouts, binding (-EPERM from
 * a third thread), shutdown (graceful and immediate), task_done / join, select, coroutine
 * producers and consumers, and a two-thread stress that checks every item arrives once
 * and in order, with tiny capacities that make both sides wait. */
#include "check.h"

#include <stdatomic.h>

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((intptr_t)(p))

static weft_queue *spsc(size_t capacity)
{
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    o.kind = WEFT_QUEUE_SPSC;
    o.capacity = capacity;
    weft_queue *q;
    CHECK_OK(weft_queue_create_ex(&q, &o));
    return q;
}

static void test_bad_capacity(void)
{
    weft_queue_opts o = WEFT_QUEUE_OPTS_INIT;
    o.kind = WEFT_QUEUE_SPSC;
    weft_queue *q;
    o.capacity = 0;
    CHECK_RC(weft_queue_create_ex(&q, &o), -EINVAL);        /* must be bounded */
    o.capacity = ((size_t)1 << 20) + 1;
    CHECK_RC(weft_queue_create_ex(&q, &o), -EINVAL);
    o.capacity = (size_t)1 << 20;
    CHECK_OK(weft_queue_create_ex(&q, &o));
    weft_queue_destroy(q);
    o.kind = (weft_queue_kind)(WEFT_QUEUE_SPSC + 1);
    o.capacity = 4;
    CHECK_RC(weft_queue_create_ex(&q, &o), -EINVAL);
}

static void basics(size_t capacity)
{
    weft_queue *q = spsc(capacity);
    void *it;
    CHECK(weft_queue_empty(q));
    CHECK_RC(weft_queue_get(q, &it, 0), -ETIMEDOUT);
    CHECK_RC(weft_queue_try_get(q, &it), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_queue_get(q, &it, 10 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 9 * WEFT_MS, 2 * WEFT_SEC);
    int n = (int)capacity;
    for (int i = 0; i < n; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    CHECK_EQ(weft_queue_qsize(q), n);                      /* exact capacity */
    CHECK(weft_queue_full(q));
    CHECK_RC(weft_queue_try_put(q, P(99)), -ETIMEDOUT);
    t0 = weft_now();
    CHECK_RC(weft_queue_put(q, P(99), 10 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 9 * WEFT_MS, 2 * WEFT_SEC);
    for (int i = 0; i < n; i++) {
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_EQ(I(it), i);
    }
    CHECK(weft_queue_empty(q));
    for (int r = 0; r < 1000; r++) {                       /* NULL items; wrap many times */
        CHECK_OK(weft_queue_put(q, NULL, 0));
        it = P(1);
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK(it == NULL);
        CHECK_OK(weft_queue_put(q, P(r), 0));
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_EQ(I(it), r);
    }
    CHECK_OK(weft_queue_put(q, P(1), 0));
    CHECK_OK(weft_queue_task_done(q));
    CHECK_RC(weft_queue_join(q, 0), -ETIMEDOUT);            /* 2001 put, 1 done */
    weft_queue_destroy(q);
}

static void test_basics(void)
{
    basics(1);
    basics(2);
    basics(3);
    basics(1000);
}

/* ------------------------------------------------------------------ binding ----------- */

typedef struct {
    weft_queue *q;
    int put_rc, get_rc;
    weft_select_case sel;
    int sel_rc;
} misuse_job;

static int third_thread(void *arg, void **result)
{
    (void)result;
    misuse_job *j = arg;
    void *it;
    j->put_rc = weft_queue_put(j->q, P(7), WEFT_FOREVER);
    j->get_rc = weft_queue_get(j->q, &it, WEFT_FOREVER);
    j->sel = (weft_select_case){ j->q, WEFT_SELECT_GET, NULL, 0 };
    j->sel_rc = weft_select(&j->sel, 1, WEFT_FOREVER);
    return 0;
}

static atomic_int getter_may_end;

/* Binds the getting side, then stays alive while the third thread tries (test_misuse;
 * test_bound_thread_gone covers a side whose thread has exited). */
static int getter_thread(void *arg, void **result)
{
    (void)result;
    void *it;
    CHECK_OK(weft_queue_get(arg, &it, WEFT_FOREVER));       /* binds the getting side */
    CHECK_EQ(I(it), 1);
    atomic_store(&getter_may_end, 1);
    while (atomic_load(&getter_may_end) != 2) weft_sleep(WEFT_MS);
    return 0;
}

/* One put or get (by the job's op), its result kept; the thread then exits. */
typedef struct { weft_queue *q; bool get; int rc; } one_op;

static int one_op_thread(void *arg, void **result)
{
    (void)result;
    one_op *o = arg;
    void *it;
    o->rc = o->get ? weft_queue_try_get(o->q, &it) : weft_queue_try_put(o->q, P(9));
    return 0;
}

static int run_one_op(weft_queue *q, bool get)
{
    one_op o = { q, get, 1 };
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, one_op_thread, &o));
    join_and_release(t);
    return o.rc;
}

/* A side stays bound to its thread after that thread has exited, even a failed first
 * operation binds, and no later thread takes the side over (the binding's token is a
 * number never reused; thread-local addresses are reused by later threads: with them a
 * later thread's put was accepted about half of the time). */
static void test_bound_thread_gone(void)
{
    weft_queue *q = spsc(4);
    CHECK_OK(run_one_op(q, false));                         /* putter bound, then gone */
    for (int i = 0; i < 20; i++) CHECK_RC(run_one_op(q, false), -EPERM);
    CHECK_OK(run_one_op(q, true));                          /* getter bound, then gone */
    for (int i = 0; i < 20; i++) CHECK_RC(run_one_op(q, true), -EPERM);
    CHECK_RC(weft_queue_try_put(q, P(1)), -EPERM);
    void *it;
    CHECK_RC(weft_queue_try_get(q, &it), -EPERM);
    CHECK_EQ(weft_queue_qsize(q), 0);
    weft_queue_destroy(q);

    q = spsc(4);
    CHECK_RC(run_one_op(q, true), -ETIMEDOUT);              /* empty, but binds the getter */
    CHECK_OK(weft_queue_try_put(q, P(1)));                  /* this thread: the putter */
    for (int i = 0; i < 5; i++) CHECK_RC(run_one_op(q, true), -EPERM);
    CHECK_RC(weft_queue_try_get(q, &it), -EPERM);
    CHECK_EQ(weft_queue_qsize(q), 1);
    weft_queue_destroy(q);
}

static void test_misuse(void)
{
    weft_queue *q = spsc(4);
    CHECK_OK(weft_queue_put(q, P(1), 0));                   /* binds this thread: putter */
    CHECK_OK(weft_queue_put(q, P(2), 0));
    weft_thread *t, *g;
    CHECK_OK(weft_thread_start(&g, NULL, getter_thread, q));
    while (atomic_load(&getter_may_end) != 1) weft_sleep(WEFT_MS);
    misuse_job j = { q, 0, 0, { 0 }, 0 };
    CHECK_OK(weft_thread_start(&t, NULL, third_thread, &j));
    join_and_release(t);
    atomic_store(&getter_may_end, 2);
    join_and_release(g);
    CHECK_EQ(j.put_rc, -EPERM);                             /* neither side: fails at once */
    CHECK_EQ(j.get_rc, -EPERM);
    CHECK_EQ(j.sel_rc, 0);
    CHECK_EQ(j.sel.rc, -EPERM);
    CHECK_EQ(weft_queue_qsize(q), 1);                       /* nothing changed */
    void *it;
    CHECK_RC(weft_queue_get(q, &it, 0), -EPERM);            /* we are the putter only */
    CHECK_OK(weft_queue_put(q, P(3), 0));
    CHECK_EQ(weft_queue_qsize(q), 2);
    weft_queue_destroy(q);

    q = spsc(4);                                            /* one thread, both sides */
    for (int i = 0; i < 3; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_queue_get(q, &it, 0));
        CHECK_EQ(I(it), i);
    }
    weft_queue_destroy(q);
}

/* ------------------------------------------------------------------ shutdown ---------- */

static int blocked_get(void *arg, void **result)
{
    void *it = P(-1);
    int rc = weft_queue_get(arg, &it, WEFT_FOREVER);
    *result = it;
    return rc;
}

static int blocked_put(void *arg, void **result)
{
    (void)result;
    return weft_queue_put(arg, P(42), WEFT_FOREVER);
}

static int put_two(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_queue_put(arg, P(42), WEFT_FOREVER));
    return weft_queue_put(arg, P(43), WEFT_FOREVER);        /* capacity 1: blocks */
}

static int get_one_then_wait(void *arg, void **result)
{
    (void)result;
    void *it;
    CHECK_OK(weft_queue_get(arg, &it, WEFT_FOREVER));
    weft_sleep(50 * WEFT_MS);                               /* meanwhile: immediate shutdown */
    int rc = weft_queue_get(arg, &it, WEFT_FOREVER);
    CHECK_EQ(rc, -ESHUTDOWN);
    return 0;
}

static void test_shutdown(void)
{
    /* Graceful: puts fail, gets drain and then fail. */
    weft_queue *q = spsc(4);
    CHECK_OK(weft_queue_put(q, P(1), 0));
    CHECK_OK(weft_queue_put(q, P(2), 0));
    CHECK_OK(weft_queue_shutdown(q, false));
    CHECK_RC(weft_queue_put(q, P(3), 0), -ESHUTDOWN);
    void *it;
    CHECK_OK(weft_queue_get(q, &it, 0));
    CHECK_EQ(I(it), 1);
    CHECK_OK(weft_queue_get(q, &it, WEFT_FOREVER));
    CHECK_EQ(I(it), 2);
    CHECK_RC(weft_queue_get(q, &it, WEFT_FOREVER), -ESHUTDOWN);
    weft_queue_destroy(q);

    /* A blocked getter (another thread) wakes with -ESHUTDOWN. */
    q = spsc(2);
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, blocked_get, q));
    weft_sleep(20 * WEFT_MS);
    CHECK_OK(weft_queue_shutdown(q, false));
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), -ESHUTDOWN);
    weft_thread_release(t);
    weft_queue_destroy(q);

    /* A blocked putter (another thread) wakes with -ESHUTDOWN; its item is not put. */
    q = spsc(1);
    CHECK_OK(weft_thread_start(&t, NULL, put_two, q));
    weft_sleep(20 * WEFT_MS);                               /* it put 42, then blocks */
    CHECK_EQ(weft_queue_qsize(q), 1);
    CHECK_OK(weft_queue_shutdown(q, false));
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), -ESHUTDOWN);
    weft_thread_release(t);
    CHECK_OK(weft_queue_get(q, &it, 0));                    /* 42 is still there, 43 not */
    CHECK_EQ(I(it), 42);
    CHECK_RC(weft_queue_get(q, &it, 0), -ESHUTDOWN);
    weft_queue_destroy(q);

    q = spsc(1);
    CHECK_OK(weft_queue_put(q, P(1), 0));                   /* this thread: putter */
    CHECK_OK(weft_thread_start(&t, NULL, blocked_get, q));  /* getter takes 1 */
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
    weft_thread_release(t);
    CHECK_OK(weft_queue_put(q, P(2), 0));
    int64_t t0 = weft_now();
    CHECK_RC(weft_queue_put(q, P(3), 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 2 * WEFT_SEC);
    weft_queue_destroy(q);

    /* Immediate, from the getting thread: the items left are dropped at once, join returns. */
    q = spsc(8);
    for (int i = 0; i < 5; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    CHECK_OK(weft_queue_get(q, &it, 0));                    /* this thread: both sides */
    CHECK_OK(weft_queue_task_done(q));
    CHECK_OK(weft_queue_shutdown(q, true));
    CHECK_EQ(weft_queue_qsize(q), 0);
    CHECK_OK(weft_queue_join(q, 0));
    CHECK_RC(weft_queue_get(q, &it, 0), -ESHUTDOWN);
    weft_queue_destroy(q);

    /* Immediate before any get: nobody may get any more. */
    q = spsc(8);
    for (int i = 0; i < 3; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    CHECK_OK(weft_queue_shutdown(q, true));
    CHECK_EQ(weft_queue_qsize(q), 0);
    CHECK_OK(weft_queue_join(q, 0));
    CHECK_RC(weft_queue_get(q, &it, 0), -ESHUTDOWN);
    CHECK_OK(weft_thread_start(&t, NULL, blocked_get, q));
    CHECK_RC(weft_thread_join(t, WEFT_FOREVER, NULL), -ESHUTDOWN);
    weft_thread_release(t);
    weft_queue_destroy(q);

    /* Immediate from a third thread while the getter is another: its next get drops. */
    q = spsc(8);
    for (int i = 0; i < 4; i++) CHECK_OK(weft_queue_put(q, P(i), 0));
    CHECK_OK(weft_thread_start(&t, NULL, get_one_then_wait, q));
    while (weft_queue_qsize(q) != 3) weft_sleep(WEFT_MS);
    CHECK_OK(weft_queue_task_done(q));
    CHECK_OK(weft_queue_shutdown(q, true));
    CHECK_RC(weft_queue_put(q, P(9), 0), -ESHUTDOWN);
    CHECK_OK(weft_queue_join(q, 5 * WEFT_SEC));             /* once the getter dropped 3 */
    CHECK_EQ(weft_queue_qsize(q), 0);
    join_and_release(t);
    weft_queue_destroy(q);
}

/* ------------------------------------------------------- shutdown racing a put ---------- */

/* A putter putting as fast as it can, a getter getting until -ESHUTDOWN (or no getter), and
 * a shutdown at a random moment from a third thread. Afterwards every successful put is
 * accounted for: taken by the getter or dropped by an immediate shutdown; qsize is 0 and
 * join returns. A put that lands after the getter concluded "shut down and empty" (or after
 * an immediate shutdown discarded what was left) would be stranded: qsize 1, join hangs.
 * The variants reach the ring by other paths too (race_how), since each path has its own
 * idea of "closed but not sealed": select's readiness test, try_get's polling, the waits
 * of tiny capacities, a seal made on the putting thread itself. */
typedef enum {
    RACE_WAIT,                          /* put / get with a timeout */
    RACE_SELECT,                        /* weft_select: the SPSC case and a never-ready one */
    RACE_POLL,                          /* try_put / try_get in a loop: nobody ever parks */
    RACE_CORO,                          /* two putting coroutines and a shutting one, one loop */
} race_how;

typedef struct {
    const char *name;
    race_how how;
    bool with_getter;
    int shutters;                       /* threads that shut down (RACE_CORO: a coroutine) */
    int immediate;                      /* 0 graceful, 1 immediate, 2 each at random */
    size_t caps[2];                     /* a round's capacity: either, at random */
    unsigned max_delay;                 /* a shutdown's spins before it: below this */
} race_variant;

typedef struct {
    weft_queue *q;
    weft_queue *never;                  /* RACE_SELECT: a FIFO queue nobody puts into */
    race_how how;
    atomic_int go;                      /* 1: start */
    unsigned delay[2];                  /* each shutter's spins before it shuts down */
    bool immediate[2];
    long puts[2], gets;                 /* puts per producer (two only in RACE_CORO) */
    int get_rc;
} race_job;

/* Items carry their producer in the low bit and its count from 1 above it, so the getter
 * sees a loss, a duplicate or a reordering within each producer's sequence. */
#define RACE_ITEM(who, k) P(((intptr_t)(k) << 1) | (who))

static void race_wait_go(race_job *r)
{
    while (!atomic_load_explicit(&r->go, memory_order_acquire)) {}
}

static int race_put(race_job *r, void *it)
{
    if (r->how == RACE_SELECT) {
        weft_select_case c[2] = { { r->q, WEFT_SELECT_PUT, it, 0 },
                                  { r->never, WEFT_SELECT_GET, NULL, 0 } };
        int i = weft_select(c, 2, 5 * WEFT_SEC);
        if (i < 0) return i;
        CHECK_EQ(i, 0);
        return c[0].rc;
    }
    if (r->how == RACE_POLL) {
        int rc;
        while ((rc = weft_queue_try_put(r->q, it)) == -ETIMEDOUT) {}
        return rc;
    }
    return weft_queue_put(r->q, it, 5 * WEFT_SEC);
}

static int race_get(race_job *r, void **it)
{
    if (r->how == RACE_SELECT) {
        /* Select's own readiness test, not get's: a closed but not yet sealed, empty SPSC
         * queue must not count as ready, or the getter would end before a racing put. */
        weft_select_case c[2] = { { r->never, WEFT_SELECT_GET, NULL, 0 },
                                  { r->q, WEFT_SELECT_GET, NULL, 0 } };
        int i = weft_select(c, 2, 5 * WEFT_SEC);
        if (i < 0) return i;
        CHECK_EQ(i, 1);
        *it = c[1].item;
        return c[1].rc;
    }
    if (r->how == RACE_POLL) {
        int rc;
        while ((rc = weft_queue_try_get(r->q, it)) == -ETIMEDOUT) {}
        return rc;
    }
    return weft_queue_get(r->q, it, 5 * WEFT_SEC);
}

static int race_putter(void *arg, void **result)
{
    (void)result;
    race_job *r = arg;
    race_wait_go(r);
    long n = 0;
    int rc;
    while ((rc = race_put(r, RACE_ITEM(0, n + 1))) == 0) n++;
    CHECK_EQ(rc, -ESHUTDOWN);
    CHECK_RC(weft_queue_try_put(r->q, P(1)), -ESHUTDOWN);   /* and stays shut */
    r->puts[0] = n;
    return 0;
}

static int race_getter(void *arg, void **result)
{
    (void)result;
    race_job *r = arg;
    race_wait_go(r);
    long n = 0, last[2] = { 0, 0 };
    void *it;
    int rc;
    while ((rc = race_get(r, &it)) == 0) {
        n++;
        int who = (int)(I(it) & 1);
        long k = (long)(I(it) >> 1);
        if (k != last[who] + 1) {
            fprintf(stderr, "producer %d's item %ld arrived after its %ld\n", who, k,
                    last[who]);
            CHECK(0);
        }
        last[who] = k;
        CHECK_OK(weft_queue_task_done(r->q));
    }
    r->gets = n;
    r->get_rc = rc;
    if (rc == -ESHUTDOWN) CHECK_RC(weft_queue_try_get(r->q, &it), -ESHUTDOWN);
    return 0;
}

static void race_spin(unsigned n)
{
    for (unsigned i = 0; i < n; i++) atomic_signal_fence(memory_order_seq_cst);
}

/* One of a round's shutters (its delay and kind), or of RACE_CORO's producers. */
typedef struct { race_job *r; int who; } race_part;

/* Shutdown is allowed from any thread, so two shutters are neither putter nor getter: each
 * waits out the racing put and seals by itself, whichever comes first. */
static int race_shutter(void *arg, void **result)
{
    (void)result;
    race_part *s = arg;
    race_wait_go(s->r);
    race_spin(s->r->delay[s->who]);
    CHECK_OK(weft_queue_shutdown(s->r->q, s->r->immediate[s->who]));
    return 0;
}

/* RACE_CORO: two coroutines of the putting thread put (yielding now and then, so their
 * items interleave), and a third shuts down from that same thread: it finds no put in
 * progress (an attempt never yields midway) but must still stop the other's next one. */
static int race_co_put(void *arg, void **result)
{
    (void)result;
    race_part *c = arg;
    long n = 0;
    int rc;
    while ((rc = weft_queue_put(c->r->q, RACE_ITEM(c->who, n + 1), 5 * WEFT_SEC)) == 0) {
        if ((++n & 7) == 0) CHECK_OK(weft_yield());
    }
    CHECK_EQ(rc, -ESHUTDOWN);
    CHECK_RC(weft_queue_try_put(c->r->q, P(1)), -ESHUTDOWN);
    c->r->puts[c->who] = n;
    return 0;
}

static int race_co_shut(void *arg, void **result)
{
    (void)result;
    race_job *r = arg;
    /* Yields, not spins: the putters run only while this coroutine is off the loop. */
    for (unsigned i = 0; i < r->delay[0] % 256; i++) CHECK_OK(weft_yield());
    CHECK_OK(weft_queue_shutdown(r->q, r->immediate[0]));
    return 0;
}

static int race_co_main(void *arg, void **result)
{
    (void)result;
    race_job *r = arg;
    race_wait_go(r);
    race_part c[2] = { { r, 0 }, { r, 1 } };
    weft_future *f[3];
    CHECK_OK(weft_spawn(&f[0], race_co_put, &c[0]));
    CHECK_OK(weft_spawn(&f[1], race_co_put, &c[1]));
    CHECK_OK(weft_spawn(&f[2], race_co_shut, r));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    return 0;
}

/* Runs rounds until max_rounds or max_ns; returns the rounds that stranded an item (or
 * lost one: fewer got than put with no immediate shutdown, or more got than put). */
static int shutdown_race(const race_variant *v, int max_rounds, int64_t max_ns)
{
    int64_t end = weft_now() + max_ns;
    int rounds = 0, stranded = 0, graceful = 0;
    rng x;
    rng_seed(&x, (uint64_t)weft_now());
    weft_queue *never = NULL;
    if (v->how == RACE_SELECT) CHECK_OK(weft_queue_create(&never, 0));
    for (; rounds < max_rounds && weft_now() < end; rounds++) {
        size_t cap = v->caps[below(&x, 2)];
        race_job r = { .q = spsc(cap), .never = never, .how = v->how, .get_rc = -ESHUTDOWN };
        bool any_immediate = false;
        for (int i = 0; i < 2; i++) {
            r.delay[i] = below(&x, v->max_delay);
            r.immediate[i] = v->immediate == 2 ? below(&x, 2) == 1 : v->immediate == 1;
            if (i < (v->shutters ? v->shutters : 1)) any_immediate |= r.immediate[i];
        }
        graceful += !any_immediate;
        weft_thread *t[4];
        int nt = 0;
        loop_job lj = { race_co_main, &r };
        race_part sh[2] = { { &r, 0 }, { &r, 1 } };
        if (v->how == RACE_CORO) {
            t[nt++] = start_loop_thread(&lj);
        } else {
            CHECK_OK(weft_thread_start(&t[nt++], NULL, race_putter, &r));
        }
        if (v->with_getter) CHECK_OK(weft_thread_start(&t[nt++], NULL, race_getter, &r));
        for (int i = 0; i < v->shutters; i++)
            CHECK_OK(weft_thread_start(&t[nt++], NULL, race_shutter, &sh[i]));
        atomic_store_explicit(&r.go, 1, memory_order_release);
        for (int i = 0; i < nt; i++) join_and_release(t[i]);
        CHECK_EQ(r.get_rc, -ESHUTDOWN);
        long puts = r.puts[0] + r.puts[1];
        bool bad = weft_queue_qsize(r.q) != 0 || weft_queue_join(r.q, 0) != 0 ||
                   r.gets > puts || (!any_immediate && puts != r.gets);
        if (bad) {
            if (stranded < 3)
                fprintf(stderr, "   round %d (capacity %zu): %ld put, %ld got, qsize %zu\n",
                        rounds, cap, puts, r.gets, weft_queue_qsize(r.q));
            stranded++;
        }
        weft_queue_destroy(r.q);
    }
    weft_queue_destroy(never);
    if (v->immediate == 2)
        printf("   %s: %d of %d rounds stranded an item (%d all graceful)\n", v->name,
               stranded, rounds, graceful);
    else
        printf("   %s: %d of %d rounds stranded an item\n", v->name, stranded, rounds);
    return stranded;
}

static void test_shutdown_race(void)
{
    int rounds = slow_tools() ? 300 : 3000;
    int64_t ns = slow_tools() ? 4 * WEFT_SEC : 3 * WEFT_SEC / 2;
    static const race_variant bug1 = { "graceful shutdown", RACE_WAIT, true, 1, 0,
                                       { 1024, 1024 }, 4000 };
    static const race_variant bug2 = { "immediate shutdown before any get", RACE_WAIT, false,
                                       1, 1, { 1u << 20, 1u << 20 }, 4000 };
    static const race_variant imm = { "immediate shutdown", RACE_WAIT, true, 1, 1,
                                      { 1024, 1024 }, 4000 };
    CHECK_EQ(shutdown_race(&bug1, rounds, ns), 0);         /* bug 1 */
    CHECK_EQ(shutdown_race(&bug2, rounds, ns), 0);         /* bug 2 */
    CHECK_EQ(shutdown_race(&imm, rounds, ns), 0);
}

/* The same race on the other paths to the ring (the race reviewer's five modes), graceful
 * and immediate shutdowns at random. Capacity 4 makes the putter wait often, 1024 seldom. */
static void test_shutdown_race_paths(void)
{
    int rounds = slow_tools() ? 300 : 3000;
    int64_t ns = slow_tools() ? 5 * WEFT_SEC / 2 : 3 * WEFT_SEC / 2;
    static const race_variant v[] = {
        { "select on both sides", RACE_SELECT, true, 1, 2, { 4, 1024 }, 20000 },
        { "try_put / try_get polling", RACE_POLL, true, 1, 2, { 4, 1024 }, 20000 },
        { "capacity 1 or 2", RACE_WAIT, true, 1, 2, { 1, 2 }, 20000 },
        { "two concurrent shutdowns", RACE_WAIT, true, 2, 2, { 4, 1024 }, 20000 },
        { "coroutines put and shut down on one loop", RACE_CORO, true, 0, 2, { 4, 1024 },
          20000 },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        CHECK_EQ(shutdown_race(&v[i], rounds, ns), 0);
}

/* ---------------------------------------------------------------- coroutines ---------- */

typedef struct {
    weft_queue *q;
    long n;
    int coros;                          /* producers sharing the putting thread */
    atomic_long got;
} co_job;

static int co_producer(void *arg, void **result)
{
    (void)result;
    co_job *j = arg;
    for (long i = 1; i <= j->n; i++) CHECK_OK(weft_queue_put(j->q, P(i), WEFT_FOREVER));
    return 0;
}

static int co_consumer(void *arg, void **result)
{
    (void)result;
    co_job *j = arg;
    long total = j->n * j->coros, sum = 0;
    for (long k = 0; k < total; k++) {
        void *it;
        CHECK_OK(weft_queue_get(j->q, &it, WEFT_FOREVER));
        if (j->coros == 1) CHECK_EQ(I(it), k + 1);        /* one producer: exact order */
        sum += I(it);
    }
    CHECK_EQ(sum, j->coros * (j->n * (j->n + 1) / 2));
    atomic_store(&j->got, total);
    return 0;
}

/* Producer coroutines on one loop thread, the consumer a coroutine on another. */
static void coro_two_loops(int producers, size_t capacity, long n)
{
    co_job j = { spsc(capacity), n, producers, 0 };
    spawn_job ps = { producers, co_producer, &j }, cs = { 1, co_consumer, &j };
    loop_job lp = { spawn_all_and_wait, &ps }, lc = { spawn_all_and_wait, &cs };
    weft_thread *t[2];
    int64_t t0 = weft_now();
    t[0] = start_loop_thread(&lc);
    t[1] = start_loop_thread(&lp);
    join_and_release(t[1]);
    join_and_release(t[0]);
    CHECK_EQ(atomic_load(&j.got), n * producers);
    printf("   %d producing coroutine(s), capacity %zu: %ld items in %.3f s\n", producers,
           capacity, n * producers, (double)(weft_now() - t0) / 1e9);
    weft_queue_destroy(j.q);
}

/* Producer and consumer coroutines on the same loop: one thread holds both sides. */
static int one_loop_main(void *arg, void **result)
{
    (void)result;
    co_job *j = arg;
    weft_future *p, *c;
    CHECK_OK(weft_spawn(&c, co_consumer, j));
    CHECK_OK(weft_spawn(&p, co_producer, j));
    CHECK_OK(weft_future_result(p, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(c, WEFT_FOREVER, NULL));
    weft_future_release(p);
    weft_future_release(c);
    return 0;
}

/* A coroutine blocked in get is cancelled: it takes nothing. */
static int cancel_main(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_queue *q = spsc(1);
    weft_future *g;
    CHECK_OK(weft_spawn(&g, blocked_get, q));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(g));
    CHECK_RC(weft_future_result(g, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(g);
    CHECK_OK(weft_queue_put(q, P(5), 0));
    weft_future *p;
    CHECK_OK(weft_spawn(&p, blocked_put, q));               /* full: it blocks */
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_cancel(p));
    CHECK_RC(weft_future_result(p, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(p);
    void *it;
    CHECK_OK(weft_queue_get(q, &it, 0));
    CHECK_EQ(I(it), 5);
    CHECK_RC(weft_queue_get(q, &it, 0), -ETIMEDOUT);        /* 42 was never put */
    weft_queue_destroy(q);
    return 0;
}

static void test_coroutines(void)
{
    long n = slow_tools() ? 5000 : 100000;
    /* At capacities 1 and 2 nearly every item waits, and each wait makes a membarrier
     * (tens of µs per item here): fewer items there. */
    coro_two_loops(1, 1, n / 4);
    coro_two_loops(1, 64, n);
    coro_two_loops(3, 2, n / 12);                           /* three coroutines put */
    co_job j = { spsc(2), n, 1, 0 };
    CHECK_OK(weft_run(one_loop_main, &j, NULL));
    CHECK_EQ(atomic_load(&j.got), n);
    weft_queue_destroy(j.q);
    CHECK_OK(weft_run(cancel_main, NULL, NULL));
}

/* ------------------------------------------------------------------- select ----------- */

static int select_getter(void *arg, void **result)
{
    (void)result;
    weft_queue **qs = arg;
    long seen[2] = { 0, 0 };
    for (int k = 0; k < 2000; k++) {
        weft_select_case c[2] = { { qs[0], WEFT_SELECT_GET, NULL, 0 },
                                  { qs[1], WEFT_SELECT_GET, NULL, 0 } };
        int i = weft_select(c, 2, 5 * WEFT_SEC);
        CHECK(i == 0 || i == 1);
        CHECK_EQ(c[i].rc, 0);
        CHECK_EQ(I(c[i].item), ++seen[i]);                  /* each queue in order */
    }
    return 0;
}

/* Both sides select over two SPSC queues (capacities 1 and 3): the putter puts each
 * queue's next item into whichever has room, the getter takes from whichever has one. */
static void test_select(void)
{
    weft_queue *qs[2] = { spsc(1), spsc(3) };
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, select_getter, qs));
    long next[2] = { 1, 1 };
    while (next[0] <= 1000 || next[1] <= 1000) {
        weft_select_case c[2] = {
            { next[0] <= 1000 ? qs[0] : NULL, WEFT_SELECT_PUT, P(next[0]), 0 },
            { next[1] <= 1000 ? qs[1] : NULL, WEFT_SELECT_PUT, P(next[1]), 0 } };
        int i = weft_select(c, 2, 5 * WEFT_SEC);
        CHECK(i == 0 || i == 1);
        CHECK_EQ(c[i].rc, 0);
        next[i]++;
    }
    join_and_release(t);
    weft_queue_destroy(qs[0]);
    weft_queue_destroy(qs[1]);
}

/* ------------------------------------------------------------------- stress ----------- */

typedef struct {
    weft_queue *q;
    long n;
    bool short_waits;                   /* waits of 1 µs that time out and retry */
} stress_job;

static int stress_producer(void *arg, void **result)
{
    (void)result;
    stress_job *s = arg;
    for (long i = 1; i <= s->n; i++) {
        if (!s->short_waits) {
            CHECK_OK(weft_queue_put(s->q, P(i), WEFT_FOREVER));
            continue;
        }
        int rc;
        while ((rc = weft_queue_put(s->q, P(i), WEFT_US)) == -ETIMEDOUT) {}
        CHECK_OK(rc);
    }
    return 0;
}

static int stress_consumer(void *arg, void **result)
{
    (void)result;
    stress_job *s = arg;
    for (long i = 1; i <= s->n; i++) {
        void *it;
        int rc;
        if (s->short_waits) {
            while ((rc = weft_queue_get(s->q, &it, WEFT_US)) == -ETIMEDOUT) {}
        } else {
            rc = weft_queue_get(s->q, &it, WEFT_FOREVER);
        }
        CHECK_OK(rc);
        if (I(it) != i) {
            fprintf(stderr, "item %ld arrived as %ld\n", i, (long)I(it));
            CHECK(0);
        }
    }
    void *it;
    CHECK_RC(weft_queue_get(s->q, &it, 0), -ETIMEDOUT);     /* nothing extra */
    return 0;
}

static void stress_run(size_t capacity, long n, bool short_waits)
{
    stress_job s = { spsc(capacity), n, short_waits };
    weft_thread *p, *c;
    int64_t t0 = weft_now();
    CHECK_OK(weft_thread_start(&c, NULL, stress_consumer, &s));
    CHECK_OK(weft_thread_start(&p, NULL, stress_producer, &s));
    join_and_release(p);
    join_and_release(c);
    printf("   capacity %zu%s: %ld items in %.3f s\n", capacity,
           short_waits ? " (1 us waits)" : "", n, (double)(weft_now() - t0) / 1e9);
    weft_queue_destroy(s.q);
}

static void test_stress(void)
{
    long big = slow_tools() ? 100000 : 2000000, small = slow_tools() ? 20000 : 200000;
    stress_run(1024, big, false);
    stress_run(1, small, false);                            /* both sides wait all the time */
    stress_run(2, small, false);
    stress_run(3, small / 4, true);
}

int main(void)
{
    RUN(test_bad_capacity);
    RUN(test_basics);
    RUN(test_misuse);
    RUN(test_bound_thread_gone);
    RUN(test_shutdown);
    RUN(test_shutdown_race);
    RUN(test_shutdown_race_paths);
    RUN(test_coroutines);
    RUN(test_select);
    RUN(test_stress);
    return check_done();
}
