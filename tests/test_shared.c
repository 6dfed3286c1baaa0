/* weft/shared.h: the primitives between processes — each call, misuse, a lock whose owner
 * dies, waits from coroutines that leave their loop running, and a cross-process queue
 * stress (four processes, threads and coroutines, count and checksum exact).
 *
 * The processes are weft_process_start children (fork): they see the objects made before
 * they started. A child that fails a CHECK aborts; its parent sees the exit code. */
#include "check.h"

#include <sys/wait.h>
#include <weft/shared.h>

/* Starts fn(arg) in n processes and checks that each exits 0 within the time. */
static void run_processes(int n, int (*fn)(void *), void *arg)
{
    weft_process *p[16];
    for (int i = 0; i < n; i++) CHECK_OK(weft_process_start(&p[i], NULL, fn, arg));
    for (int i = 0; i < n; i++) {
        int code = -1;
        CHECK_OK(weft_process_join(p[i], 120 * WEFT_SEC, &code));
        CHECK_EQ(code, 0);
        weft_process_release(p[i]);
    }
}

/* ---- lock ------------------------------------------------------------------------------ */

static void test_lock_calls(void)
{
    CHECK_RC(weft_shared_lock_create(NULL), -EINVAL);
    CHECK_RC(weft_shared_lock_acquire(NULL, 0), -EINVAL);
    CHECK_RC(weft_shared_lock_release(NULL), -EINVAL);
    CHECK(!weft_shared_lock_locked(NULL));
    weft_shared_lock_destroy(NULL);
    weft_shared_lock *l;
    CHECK_OK(weft_shared_lock_create(&l));
    CHECK_RC(weft_shared_lock_acquire(l, -5), -EINVAL);
    CHECK(!weft_shared_lock_locked(l));
    CHECK_RC(weft_shared_lock_release(l), -EPERM);
    CHECK_OK(weft_shared_lock_acquire(l, 0));
    CHECK(weft_shared_lock_locked(l));
    CHECK_RC(weft_shared_lock_acquire(l, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_shared_lock_acquire(l, 30 * WEFT_MS), -ETIMEDOUT);
    CHECK(weft_now() - t0 >= 30 * WEFT_MS);
    CHECK_OK(weft_shared_lock_release(l));
    CHECK_OK(weft_shared_lock_acquire(l, WEFT_FOREVER));
    CHECK_OK(weft_shared_lock_release(l));
    weft_shared_lock_destroy(l);
}

/* Four processes, two threads each, add to a plain counter under the lock. */
typedef struct {
    weft_shared_mem *mem;
    long rounds;
} counting;

static int count_up(void *arg, void **result)
{
    (void)result;
    counting *c = arg;
    long *n = weft_shared_mem_data(c->mem);
    weft_shared_lock *l = weft_shared_mem_lock(c->mem);
    for (long i = 0; i < c->rounds; i++) {
        CHECK_OK(weft_shared_lock_acquire(l, WEFT_FOREVER));
        long v = *n;
        if ((i & 255) == 0) weft_yield();  /* a coroutine or thread switch while held */
        *n = v + 1;
        CHECK_OK(weft_shared_lock_release(l));
    }
    return 0;
}

static int count_proc(void *arg)
{
    if (TEST_TSAN) {                /* no thread in a forked child of a threaded process */
        count_up(arg, NULL);
        counting *c = arg, half = { c->mem, c->rounds };
        return count_up(&half, NULL);
    }
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, count_up, arg));
    /* The other half from coroutines on this thread's loop. */
    counting *c = arg, half = { c->mem, c->rounds / 2 };
    weft_future *f[2];
    CHECK_OK(weft_spawn(&f[0], count_up, &half));
    CHECK_OK(weft_spawn(&f[1], count_up, &half));
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    join_and_release(t);
    return 0;
}

static void test_lock_across_processes(void)
{
    counting c = { NULL, slow_tools() ? 2000 : 20000 };
    CHECK_OK(weft_shared_mem_create(&c.mem, sizeof(long)));
    CHECK(((uintptr_t)weft_shared_mem_data(c.mem) & 15) == 0);
    CHECK_EQ(weft_shared_mem_size(c.mem), sizeof(long));
    run_processes(4, count_proc, &c);
    CHECK_EQ(*(long *)weft_shared_mem_data(c.mem), 4 * 2 * c.rounds);
    weft_shared_mem_destroy(c.mem);
}

/* The owner dies holding the lock: a process killed, a thread that ends. */
static weft_shared_lock *doomed;

static int hold_and_die(void *arg)
{
    (void)arg;
    CHECK_OK(weft_shared_lock_acquire(doomed, WEFT_FOREVER));
    _exit(3);
}

static int hold_and_end(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_shared_lock_acquire(doomed, WEFT_FOREVER);
}

static void test_lock_owner_dies(void)
{
    CHECK_OK(weft_shared_lock_create(&doomed));
    weft_process *p;
    CHECK_OK(weft_process_start(&p, NULL, hold_and_die, NULL));
    int code;
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    CHECK_EQ(code, 3);
    weft_process_release(p);
    CHECK(weft_shared_lock_locked(doomed));
    CHECK_RC(weft_shared_lock_acquire(doomed, 0), -EOWNERDEAD);     /* a try learns it too */
    CHECK_OK(weft_shared_lock_release(doomed));
    CHECK_OK(weft_process_start(&p, NULL, hold_and_die, NULL));
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    weft_process_release(p);
    int64_t t0 = weft_now();
    CHECK_RC(weft_shared_lock_acquire(doomed, 10 * WEFT_SEC), -EOWNERDEAD);
    CHECK(weft_now() - t0 < 5 * WEFT_SEC);
    CHECK_OK(weft_shared_lock_release(doomed));          /* repaired: an ordinary lock */
    CHECK_OK(weft_shared_lock_acquire(doomed, 0));
    CHECK_OK(weft_shared_lock_release(doomed));

    /* A thread of this process that ends holding it has not left it behind: the lock
     * belongs to the process, which lives (and any thread may release it). */
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, hold_and_end, NULL));
    join_and_release(t);
    CHECK_RC(weft_shared_lock_acquire(doomed, 60 * WEFT_MS), -ETIMEDOUT);
    CHECK_RC(weft_shared_lock_acquire(doomed, 0), -ETIMEDOUT);
    CHECK_OK(weft_shared_lock_release(doomed));
    CHECK_OK(weft_shared_lock_acquire(doomed, 0));
    CHECK_OK(weft_shared_lock_release(doomed));
    weft_shared_lock_destroy(doomed);
}

/* A coroutine waiting on a lock held by another process leaves its loop running; one
 * cancelled while it waits gets -ECANCELED and has not taken the lock. */
static weft_shared_lock *held;
static weft_shared_event *go, *done;

static int hold_until_told(void *arg)
{
    (void)arg;
    CHECK_OK(weft_shared_lock_acquire(held, WEFT_FOREVER));
    CHECK_OK(weft_shared_event_set(done));                /* "I hold it" */
    CHECK_OK(weft_shared_event_wait(go, 60 * WEFT_SEC));
    CHECK_OK(weft_shared_lock_release(held));
    return 0;
}

static int wait_for_lock(void *arg, void **result)
{
    (void)result;
    ticker_state *t = arg;
    ticker_wait_begins(t);
    return weft_shared_lock_acquire(held, 60 * WEFT_SEC);
}

static int coro_lock_main(void *arg, void **result)
{
    (void)arg; (void)result;
    ticker_state t = { 0 };
    ticker_start(&t);
    weft_process *p;
    CHECK_OK(weft_process_start(&p, NULL, hold_until_told, NULL));
    CHECK_OK(weft_shared_event_wait(done, 60 * WEFT_SEC));  /* a coroutine's wait, too */

    weft_future *w;
    CHECK_OK(weft_spawn(&w, wait_for_lock, &t));
    while (ticker_ticks_in_wait(&t) < 20 || !atomic_load(&t.waiting)) weft_sleep(WEFT_MS);
    CHECK(!weft_future_done(w));
    CHECK_OK(weft_future_cancel(w));
    CHECK_RC(weft_future_result(w, 10 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(w);

    atomic_store(&t.waiting, 0);
    CHECK_OK(weft_spawn(&w, wait_for_lock, &t));
    ticker_await_ticks_in_wait(&t, 20);          /* the loop ran while it waited */
    CHECK_OK(weft_shared_event_set(go));
    CHECK_OK(weft_future_result(w, 60 * WEFT_SEC, NULL));     /* handed over */
    weft_future_release(w);
    CHECK_OK(weft_shared_lock_release(held));
    int code;
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_process_release(p);
    ticker_stop(&t);
    return 0;
}

static void test_lock_from_coroutines(void)
{
    CHECK_OK(weft_shared_lock_create(&held));
    CHECK_OK(weft_shared_event_create(&go));
    CHECK_OK(weft_shared_event_create(&done));
    CHECK_OK(weft_run(coro_lock_main, NULL, NULL));
    weft_shared_event_destroy(done);
    weft_shared_event_destroy(go);
    weft_shared_lock_destroy(held);
}

/* ---- event, semaphore ------------------------------------------------------------------- */

static weft_shared_event *ev;
static weft_shared_sem *sem;

static int set_after_a_while(void *arg)
{
    (void)arg;
    weft_sleep(30 * WEFT_MS);
    CHECK_OK(weft_shared_event_set(ev));
    for (int i = 0; i < 3; i++) CHECK_OK(weft_shared_sem_release(sem));
    return 0;
}

static int pulse(void *arg)
{
    (void)arg;
    weft_sleep(30 * WEFT_MS);
    CHECK_OK(weft_shared_event_set(ev));
    CHECK_OK(weft_shared_event_clear(ev));
    return 0;
}

static void test_event_and_sem(void)
{
    CHECK_RC(weft_shared_event_create(NULL), -EINVAL);
    CHECK_RC(weft_shared_event_wait(NULL, 0), -EINVAL);
    CHECK_RC(weft_shared_sem_create(NULL, 0), -EINVAL);
    CHECK_RC(weft_shared_sem_create(&sem, (unsigned)INT32_MAX + 1), -EINVAL);
    CHECK_OK(weft_shared_event_create(&ev));
    CHECK(!weft_shared_event_is_set(ev));
    CHECK_RC(weft_shared_event_wait(ev, 0), -ETIMEDOUT);
    CHECK_RC(weft_shared_event_wait(ev, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_OK(weft_shared_sem_create(&sem, 1));
    CHECK_EQ(weft_shared_sem_value(sem), 1u);
    CHECK_OK(weft_shared_sem_acquire(sem, 0));
    CHECK_RC(weft_shared_sem_acquire(sem, 0), -ETIMEDOUT);

    weft_process *p;
    CHECK_OK(weft_process_start(&p, NULL, set_after_a_while, NULL));
    CHECK_OK(weft_shared_event_wait(ev, 60 * WEFT_SEC));
    CHECK(weft_shared_event_is_set(ev));
    CHECK_OK(weft_shared_event_wait(ev, 0));
    for (int i = 0; i < 3; i++) CHECK_OK(weft_shared_sem_acquire(sem, 60 * WEFT_SEC));
    int code;
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_process_release(p);
    CHECK_EQ(weft_shared_sem_value(sem), 0u);
    CHECK_OK(weft_shared_event_clear(ev));
    CHECK_RC(weft_shared_event_wait(ev, 0), -ETIMEDOUT);
    /* A set cleared at once still ends a wait that was under way (found by review). */
    CHECK_OK(weft_process_start(&p, NULL, pulse, NULL));
    CHECK_OK(weft_shared_event_wait(ev, 60 * WEFT_SEC));
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_process_release(p);
    weft_shared_sem_destroy(sem);
    CHECK_OK(weft_shared_sem_create(&sem, INT32_MAX));
    CHECK_RC(weft_shared_sem_release(sem), -EOVERFLOW);
    weft_shared_sem_destroy(sem);
    weft_shared_event_destroy(ev);
}

/* ---- condition ------------------------------------------------------------------------- */

typedef struct {
    weft_shared_mem *mem;            /* a long: the value; its lock is the condition's */
    weft_shared_cond *cond;
} cond_state;

static int bump_values(void *arg)
{
    cond_state *s = arg;
    long *v = weft_shared_mem_data(s->mem);
    weft_shared_lock *l = weft_shared_mem_lock(s->mem);
    for (int i = 0; i < 50; i++) {
        CHECK_OK(weft_shared_lock_acquire(l, WEFT_FOREVER));
        ++*v;
        CHECK_OK(weft_shared_cond_notify_all(s->cond));
        CHECK_OK(weft_shared_lock_release(l));
        weft_sleep(WEFT_MS / 2);
    }
    return 0;
}

static void test_cond(void)
{
    cond_state s;
    CHECK_OK(weft_shared_mem_create(&s.mem, sizeof(long)));
    weft_shared_lock *l = weft_shared_mem_lock(s.mem);
    CHECK_RC(weft_shared_cond_create(NULL, l), -EINVAL);
    CHECK_RC(weft_shared_cond_create(&s.cond, NULL), -EINVAL);
    CHECK_OK(weft_shared_cond_create(&s.cond, l));
    CHECK_RC(weft_shared_cond_wait(s.cond, 0), -EPERM);   /* the lock is not held */
    CHECK_OK(weft_shared_lock_acquire(l, 0));
    CHECK_RC(weft_shared_cond_wait(s.cond, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK(weft_shared_lock_locked(l));                     /* held again after it */
    CHECK_OK(weft_shared_lock_release(l));

    weft_process *p;
    CHECK_OK(weft_process_start(&p, NULL, bump_values, &s));
    long *v = weft_shared_mem_data(s.mem);
    CHECK_OK(weft_shared_lock_acquire(l, WEFT_FOREVER));
    while (*v < 50) CHECK_OK(weft_shared_cond_wait(s.cond, 60 * WEFT_SEC));
    CHECK_OK(weft_shared_lock_release(l));
    int code;
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_process_release(p);
    weft_shared_cond_destroy(s.cond);
    weft_shared_mem_destroy(s.mem);
}

/* ---- barrier ---------------------------------------------------------------------------- */

enum { ROUNDS = 200, PARTIES = 4 };
static weft_shared_barrier *bar;
static weft_shared_mem *seen_index;   /* int[ROUNDS][PARTIES]: how often each index came */

static int through_barrier(void *arg)
{
    (void)arg;
    _Atomic int *seen = weft_shared_mem_data(seen_index);
    for (int r = 0; r < ROUNDS; r++) {
        int i = weft_shared_barrier_wait(bar, 60 * WEFT_SEC);
        CHECK(i >= 0 && i < PARTIES);
        atomic_fetch_add(&seen[r * PARTIES + i], 1);
    }
    return 0;
}

static void test_barrier(void)
{
    CHECK_RC(weft_shared_barrier_create(&bar, 0), -EINVAL);
    CHECK_RC(weft_shared_barrier_wait(NULL, 0), -EINVAL);
    CHECK_OK(weft_shared_barrier_create(&bar, PARTIES));
    CHECK_OK(weft_shared_mem_create(&seen_index, sizeof(int) * ROUNDS * PARTIES));
    run_processes(PARTIES, through_barrier, NULL);
    _Atomic int *seen = weft_shared_mem_data(seen_index);
    for (int k = 0; k < ROUNDS * PARTIES; k++) CHECK_EQ(atomic_load(&seen[k]), 1);

    /* A waiter that times out breaks it for the others and for later waits; reset mends. */
    CHECK_RC(weft_shared_barrier_wait(bar, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_RC(weft_shared_barrier_wait(bar, 0), -EPIPE);
    CHECK_OK(weft_shared_barrier_reset(bar));
    weft_shared_barrier_destroy(bar);
    CHECK_OK(weft_shared_barrier_create(&bar, 1));
    CHECK_EQ(weft_shared_barrier_wait(bar, 0), 0);
    CHECK_OK(weft_shared_barrier_abort(bar));
    CHECK_RC(weft_shared_barrier_wait(bar, 0), -EPIPE);
    weft_shared_barrier_destroy(bar);
    weft_shared_mem_destroy(seen_index);
}

/* ---- queue ------------------------------------------------------------------------------ */

static void test_queue_calls(void)
{
    weft_shared_queue *q;
    CHECK_RC(weft_shared_queue_create(NULL, 0, 1024), -EINVAL);
    CHECK_RC(weft_shared_queue_create(&q, 0, 8), -EINVAL);
    CHECK_OK(weft_shared_queue_create(&q, 3, 256));
    char buf[300];
    size_t len;
    CHECK_RC(weft_shared_queue_put(q, buf, 249, 0), -EMSGSIZE);   /* never fits */
    CHECK_RC(weft_shared_queue_put(q, buf, (size_t)-1, 0), -EMSGSIZE); /* found by review */
    weft_shared_queue *q100;
    CHECK_OK(weft_shared_queue_create(&q100, 0, 100));
    CHECK_RC(weft_shared_queue_put(q100, buf, 93, 0), -EMSGSIZE);  /* max_bytes - 8 = 92 */
    CHECK_OK(weft_shared_queue_put(q100, buf, 92, 0));
    weft_shared_queue_destroy(q100);
    CHECK_RC(weft_shared_queue_put(q, NULL, 5, 0), -EINVAL);
    CHECK_RC(weft_shared_queue_get(q, buf, sizeof buf, NULL, 0), -EINVAL);
    CHECK_RC(weft_shared_queue_get(q, buf, sizeof buf, &len, 0), -ETIMEDOUT);
    CHECK_OK(weft_shared_queue_put(q, "one", 3, 0));
    CHECK_OK(weft_shared_queue_put(q, "", 0, 0));
    CHECK_OK(weft_shared_queue_put(q, "three", 5, 0));
    CHECK_EQ(weft_shared_queue_qsize(q), 3u);
    CHECK_RC(weft_shared_queue_put(q, "four", 4, 10 * WEFT_MS), -ETIMEDOUT);   /* 3 items */
    CHECK_RC(weft_shared_queue_get(q, buf, 2, &len, 0), -EMSGSIZE);   /* left in place */
    CHECK_EQ(len, 3u);
    CHECK_OK(weft_shared_queue_get(q, buf, sizeof buf, &len, 0));
    CHECK(len == 3 && memcmp(buf, "one", 3) == 0);
    CHECK_OK(weft_shared_queue_get(q, NULL, 0, &len, 0));
    CHECK_EQ(len, 0u);
    CHECK_OK(weft_shared_queue_shutdown(q, false));
    CHECK_RC(weft_shared_queue_put(q, "x", 1, 0), -ESHUTDOWN);
    CHECK_OK(weft_shared_queue_get(q, buf, sizeof buf, &len, 0));  /* what is left */
    CHECK(len == 5 && memcmp(buf, "three", 5) == 0);
    CHECK_RC(weft_shared_queue_get(q, buf, sizeof buf, &len, WEFT_FOREVER), -ESHUTDOWN);
    weft_shared_queue_destroy(q);

    /* Bytes bound, wrap-around: many messages of every length through a small ring. */
    CHECK_OK(weft_shared_queue_create(&q, 0, 200));
    unsigned seed = 1;
    uint8_t msg[120], out[120];
    size_t lens[128];                /* the lengths in the queue, by message number */
    int in_queue = 0, put_n = 0, got_n = 0;
    for (int i = 0; i < 20000; i++) {
        if (rnd(&seed) % 2 && in_queue < 100) {
            size_t n = rnd(&seed) % 100;
            for (size_t k = 0; k < n; k++) msg[k] = (uint8_t)(put_n * 7 + k);
            int rc = weft_shared_queue_put(q, msg, n, 0);
            if (rc == -ETIMEDOUT) continue;              /* full by bytes */
            CHECK_OK(rc);
            lens[put_n++ % 128] = n;
            in_queue++;
        } else if (in_queue > 0) {
            CHECK_OK(weft_shared_queue_get(q, out, sizeof out, &len, 0));
            CHECK_EQ(len, lens[got_n % 128]);
            for (size_t k = 0; k < len; k++) CHECK_EQ(out[k], (uint8_t)(got_n * 7 + k));
            got_n++;
            in_queue--;
        }
    }
    CHECK_EQ(weft_shared_queue_qsize(q), (size_t)in_queue);
    CHECK_OK(weft_shared_queue_shutdown(q, true));          /* immediate: dropped */
    CHECK_EQ(weft_shared_queue_qsize(q), 0u);
    CHECK_RC(weft_shared_queue_get(q, out, sizeof out, &len, 0), -ESHUTDOWN);
    weft_shared_queue_destroy(q);
}

/* Two producer and two consumer processes, each with a thread and four coroutines, pass
 * 10^6 messages (10^5 under the slow tools) of 8..47 bytes: the count, the sum of the ids
 * and a checksum over them come out exact, and every payload arrives intact. */
typedef struct {
    weft_shared_queue *q;
    weft_shared_mem *totals;         /* stress_totals */
    long per_producer;
} stress_job;

typedef struct {
    _Atomic long count;
    _Atomic uint64_t sum, hash;
} stress_totals;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

typedef struct {
    stress_job *job;
    uint64_t first, n;
} stress_part;

static int produce_part(void *arg, void **result)
{
    (void)result;
    stress_part *p = arg;
    uint8_t msg[64];
    for (uint64_t id = p->first; id < p->first + p->n; id++) {
        size_t len = 8 + id % 40;
        memcpy(msg, &id, 8);
        for (size_t k = 8; k < len; k++) msg[k] = (uint8_t)(id * 31 + k);
        CHECK_OK(weft_shared_queue_put(p->job->q, msg, len, 60 * WEFT_SEC));
    }
    return 0;
}

static int consume_part(void *arg, void **result)
{
    (void)result;
    stress_job *job = arg;
    stress_totals *t = weft_shared_mem_data(job->totals);
    uint8_t msg[64];
    long count = 0;
    uint64_t sum = 0, hash = 0;
    for (;;) {
        size_t len;
        int rc = weft_shared_queue_get(job->q, msg, sizeof msg, &len, 60 * WEFT_SEC);
        if (rc == -ESHUTDOWN) break;
        CHECK_OK(rc);
        uint64_t id;
        CHECK(len >= 8);
        memcpy(&id, msg, 8);
        CHECK_EQ(len, 8 + id % 40);
        for (size_t k = 8; k < len; k++) CHECK_EQ(msg[k], (uint8_t)(id * 31 + k));
        count++;
        sum += id;
        hash += mix64(id);
    }
    atomic_fetch_add(&t->count, count);
    atomic_fetch_add(&t->sum, sum);
    atomic_fetch_add(&t->hash, hash);
    return 0;
}

/* In a child: a thread and four coroutines of this thread's loop, run fn on parts (under
 * TSan, the child's own thread runs them one after another: the coroutines' waits would
 * start weft's waiting thread, which TSan refuses in the child of a threaded process). */
static void thread_and_coroutines(weft_fn fn, void *args[5])
{
    if (TEST_TSAN) {                /* no thread in a forked child of a threaded process: */
        for (int i = 0; i < 5; i++) CHECK_OK(fn(args[i], NULL));   /* one after another */
        return;
    }
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, NULL, fn, args[0]));
    weft_future *f[4];
    for (int i = 0; i < 4; i++) CHECK_OK(weft_spawn(&f[i], fn, args[1 + i]));
    for (int i = 0; i < 4; i++) {
        CHECK_OK(weft_future_result(f[i], WEFT_FOREVER, NULL));
        weft_future_release(f[i]);
    }
    join_and_release(t);
}

static _Atomic int producer_number;  /* copied into each child at its start */

static int producer_proc(void *arg)
{
    stress_job *job = arg;
    int me = atomic_load(&producer_number);
    uint64_t base = (uint64_t)me * (uint64_t)job->per_producer, part = (uint64_t)job->per_producer / 5;
    stress_part parts[5];
    void *args[5];
    for (int i = 0; i < 5; i++) {
        parts[i] = (stress_part){ job, base + (uint64_t)i * part,
                                  i == 4 ? (uint64_t)job->per_producer - 4 * part : part };
        args[i] = &parts[i];
    }
    thread_and_coroutines(produce_part, args);
    return 0;
}

static int consumer_proc(void *arg)
{
    void *args[5] = { arg, arg, arg, arg, arg };
    thread_and_coroutines(consume_part, args);
    return 0;
}

static void test_queue_stress(void)
{
    stress_job job = { NULL, NULL, slow_tools() ? 50000 : 500000 };
    CHECK_OK(weft_shared_queue_create(&job.q, 1000, 64 * 1024));
    CHECK_OK(weft_shared_mem_create(&job.totals, sizeof(stress_totals)));
    int64_t t0 = weft_now();
    weft_process *prod[2], *cons[2];
    for (int i = 0; i < 2; i++) CHECK_OK(weft_process_start(&cons[i], NULL, consumer_proc, &job));
    for (int i = 0; i < 2; i++) {
        atomic_store(&producer_number, i);
        CHECK_OK(weft_process_start(&prod[i], NULL, producer_proc, &job));
    }
    int code;
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_process_join(prod[i], 120 * WEFT_SEC, &code));
        CHECK_EQ(code, 0);
        weft_process_release(prod[i]);
    }
    CHECK_OK(weft_shared_queue_shutdown(job.q, false));   /* the consumers drain, then end */
    for (int i = 0; i < 2; i++) {
        CHECK_OK(weft_process_join(cons[i], 120 * WEFT_SEC, &code));
        CHECK_EQ(code, 0);
        weft_process_release(cons[i]);
    }
    stress_totals *t = weft_shared_mem_data(job.totals);
    uint64_t n = 2 * (uint64_t)job.per_producer, sum = n * (n - 1) / 2, hash = 0;
    for (uint64_t id = 0; id < n; id++) hash += mix64(id);
    CHECK_EQ(atomic_load(&t->count), (long)n);
    CHECK_EQ(atomic_load(&t->sum), sum);
    CHECK_EQ(atomic_load(&t->hash), hash);
    CHECK_EQ(weft_shared_queue_qsize(job.q), 0u);
    printf("   %llu messages through 4 processes in %.2f s\n", (unsigned long long)n,
           (double)(weft_now() - t0) / WEFT_SEC);
    weft_shared_mem_destroy(job.totals);
    weft_shared_queue_destroy(job.q);
}

/* ---- pipe ------------------------------------------------------------------------------- */

static weft_msgpipe *pa, *pb;

static int echo_back(void *arg)
{
    (void)arg;
    weft_msgpipe_destroy(pa);                        /* the parent's end */
    for (;;) {
        void *m;
        size_t n;
        int rc = weft_msgpipe_recv(pb, &m, &n, 60 * WEFT_SEC);
        if (rc == -EPIPE) break;
        CHECK_OK(rc);
        CHECK_OK(weft_msgpipe_send(pb, m, n, 60 * WEFT_SEC));
        free(m);
    }
    weft_msgpipe_destroy(pb);
    return 0;
}

static void test_msgpipe(void)
{
    CHECK_RC(weft_msgpipe_create(NULL, &pb), -EINVAL);
    CHECK_OK(weft_msgpipe_create(&pa, &pb));
    void *m;
    size_t n;
    CHECK_RC(weft_msgpipe_send(NULL, "x", 1, 0), -EINVAL);
    CHECK_RC(weft_msgpipe_recv(pa, NULL, &n, 0), -EINVAL);
    CHECK_RC(weft_msgpipe_recv(pa, &m, &n, 10 * WEFT_MS), -ETIMEDOUT);

    weft_process *p;
    CHECK_OK(weft_process_start(&p, NULL, echo_back, NULL));
    weft_msgpipe_destroy(pb);                        /* the child's end */
    /* Small, empty and 8 MB messages (far more than the socket holds) come back whole. */
    size_t sizes[] = { 5, 0, 8u << 20, 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *buf = malloc(sizes[i] + 1);
        CHECK(buf != NULL);
        for (size_t k = 0; k < sizes[i]; k++) buf[k] = (char)(k * 13 + i);
        /* A receive cut short by its timeout takes nothing: the next one gets all of it. */
        CHECK_RC(weft_msgpipe_recv(pa, &m, &n, 0), -ETIMEDOUT);
        CHECK_OK(weft_msgpipe_send(pa, buf, sizes[i], 60 * WEFT_SEC));
        int rc;
        while ((rc = weft_msgpipe_recv(pa, &m, &n, WEFT_MS)) == -ETIMEDOUT) {}
        CHECK_OK(rc);
        CHECK_EQ(n, sizes[i]);
        CHECK(memcmp(m, buf, n) == 0);
        free(m);
        free(buf);
    }
    /* Our end closed: the child's receive gets -EPIPE, and it exits 0. */
    weft_msgpipe_destroy(pa);
    int code;
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_process_release(p);
}

/* The child's end gone first: our receive reports -EPIPE, our send too. */
static int just_exit(void *arg)
{
    (void)arg;
    return 0;
}

static void test_msgpipe_peer_gone(void)
{
    CHECK_OK(weft_msgpipe_create(&pa, &pb));
    weft_process *p;
    CHECK_OK(weft_process_start(&p, NULL, just_exit, NULL));
    CHECK_OK(weft_process_join(p, 60 * WEFT_SEC, NULL));
    weft_process_release(p);
    weft_msgpipe_destroy(pb);                        /* the last copy of that end */
    void *m;
    size_t n;
    CHECK_RC(weft_msgpipe_recv(pa, &m, &n, WEFT_SEC), -EPIPE);
    CHECK_RC(weft_msgpipe_send(pa, "x", 1, WEFT_SEC), -EPIPE);
    weft_msgpipe_destroy(pa);
}

/* shared.h's -EMSGSIZE rule: the receiver's end refuses the message and is out of step,
 * the sender is not told (its sends succeed, into the void) until the receiver destroys
 * its end; then the sender's sends get -EPIPE. */
static void test_msgpipe_oversized_then_destroy(void)
{
    CHECK_OK(weft_msgpipe_create(&pa, &pb));
    CHECK_OK(weft_msgpipe_set_max_message(pb, 16));
    char big[100] = { 0 };
    CHECK_OK(weft_msgpipe_send(pa, big, sizeof big, WEFT_SEC));
    void *m;
    size_t n;
    CHECK_RC(weft_msgpipe_recv(pb, &m, &n, WEFT_SEC), -EMSGSIZE);
    CHECK_RC(weft_msgpipe_recv(pb, &m, &n, WEFT_SEC), -EPIPE);
    CHECK_OK(weft_msgpipe_send(pa, "lost", 4, WEFT_SEC));     /* not told */
    weft_msgpipe_destroy(pb);
    CHECK_RC(weft_msgpipe_send(pa, "x", 1, WEFT_SEC), -EPIPE);
    weft_msgpipe_destroy(pa);
}

/* ---- an object outlives the process that made it ---------------------------------------- */

static weft_shared_mem *verdict;     /* an int: 1 when the grandchild is done */

static int make_and_leave(void *arg)
{
    (void)arg;
    weft_shared_queue *q;
    CHECK_OK(weft_shared_queue_create(&q, 0, 1024));
    CHECK_OK(weft_shared_queue_put(q, "hello", 5, 0));
    pid_t me = getpid();
    pid_t g = fork();
    CHECK(g >= 0);
    if (g == 0) {
        alarm(60);
        while (getppid() == me) usleep(1000);       /* the creator has exited */
        char buf[16];
        size_t n;
        CHECK_OK(weft_shared_queue_get(q, buf, sizeof buf, &n, 0));
        CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
        CHECK_OK(weft_shared_queue_put(q, "again", 5, 0));
        CHECK_OK(weft_shared_queue_get(q, buf, sizeof buf, &n, 0));
        atomic_store((_Atomic int *)weft_shared_mem_data(verdict), 1);
        _exit(0);
    }
    return 0;                                       /* without destroying q */
}

static void test_used_after_creator_exited(void)
{
    CHECK_OK(weft_shared_mem_create(&verdict, sizeof(int)));
    run_processes(1, make_and_leave, NULL);
    _Atomic int *v = weft_shared_mem_data(verdict);
    int64_t t0 = weft_now();
    while (!atomic_load(v) && weft_now() - t0 < 60 * WEFT_SEC) weft_sleep(WEFT_MS);
    CHECK_EQ(atomic_load(v), 1);
    weft_shared_mem_destroy(verdict);
}

/* ---- destroy as soon as the wait returns (found by review) -------------------------------
 * The one-shot pattern: a thread waits, another sets (releases, posts, puts), and the waiter
 * destroys the object as soon as its wait returns — while the setter may still be inside
 * its call. The setter must not touch the object after its change is visible. The window
 * is nanoseconds wide; under schedule perturbation (point shared.wake, make test-perturb)
 * a setter that touched the word after its change crashed here at once (checked by
 * putting such a touch back into event_set). */
typedef struct {
    weft_shared_event *ev;
    weft_shared_sem *sem;
    weft_shared_lock *lock;
    weft_shared_queue *q;
    _Atomic int phase;
} one_shot;

static int waits_then_destroys(void *arg, void **result)
{
    (void)result;
    one_shot *o = arg;
    atomic_store(&o->phase, 1);
    CHECK_OK(weft_shared_event_wait(o->ev, 60 * WEFT_SEC));
    weft_shared_event_destroy(o->ev);
    CHECK_OK(weft_shared_sem_acquire(o->sem, 60 * WEFT_SEC));
    weft_shared_sem_destroy(o->sem);
    CHECK_OK(weft_shared_lock_acquire(o->lock, 60 * WEFT_SEC));
    CHECK_OK(weft_shared_lock_release(o->lock));
    weft_shared_lock_destroy(o->lock);
    char buf[8];
    size_t n;
    CHECK_OK(weft_shared_queue_get(o->q, buf, sizeof buf, &n, 60 * WEFT_SEC));
    weft_shared_queue_destroy(o->q);
    return 0;
}

static int arrive_and_destroy_if_first(void *arg, void **result)
{
    (void)result;
    weft_shared_barrier *b = arg;
    int i = weft_shared_barrier_wait(b, 60 * WEFT_SEC);
    CHECK(i == 0 || i == 1);
    if (i == 0) weft_shared_barrier_destroy(b);   /* the last arrival may be waking us */
    return 0;
}

static void test_destroy_after_wait(void)
{
    /* The barrier: the party let through first destroys it (found by review: its waiters
     * decided without the lock, and the last arrival touched it after they could). */
    for (int i = 0; i < (slow_tools() ? 200 : 1000); i++) {
        weft_shared_barrier *b;
        CHECK_OK(weft_shared_barrier_create(&b, 2));
        weft_thread *t[2];
        for (int k = 0; k < 2; k++)
            CHECK_OK(weft_thread_start(&t[k], NULL, arrive_and_destroy_if_first, b));
        for (int k = 0; k < 2; k++) join_and_release(t[k]);
    }

    int rounds = slow_tools() ? 300 : 3000;
    for (int i = 0; i < rounds; i++) {
        one_shot o = { .phase = 0 };
        CHECK_OK(weft_shared_event_create(&o.ev));
        CHECK_OK(weft_shared_sem_create(&o.sem, 0));
        CHECK_OK(weft_shared_lock_create(&o.lock));
        CHECK_OK(weft_shared_queue_create(&o.q, 0, 64));
        CHECK_OK(weft_shared_lock_acquire(o.lock, 0));
        weft_thread *t;
        CHECK_OK(weft_thread_start(&t, NULL, waits_then_destroys, &o));
        while (!atomic_load(&o.phase)) {}
        if (i & 1) weft_sleep(WEFT_MS / 10);      /* the waiter asleep, or about to be */
        /* Each call below may still be running when the waiter has destroyed the object:
         * copies of the pointers, since the thread unmaps them. */
        weft_shared_event *ev = o.ev;
        weft_shared_sem *sem = o.sem;
        weft_shared_lock *lock = o.lock;
        weft_shared_queue *q = o.q;
        CHECK_OK(weft_shared_event_set(ev));
        CHECK_OK(weft_shared_sem_release(sem));
        CHECK_OK(weft_shared_lock_release(lock));
        CHECK_OK(weft_shared_queue_put(q, "x", 1, 0));
        join_and_release(t);
    }
}

int main(void)
{
    RUN(test_lock_calls);
    RUN(test_lock_across_processes);
    RUN(test_lock_owner_dies);
    RUN(test_lock_from_coroutines);
    RUN(test_event_and_sem);
    RUN(test_cond);
    RUN(test_barrier);
    RUN(test_queue_calls);
    RUN(test_queue_stress);
    RUN(test_msgpipe);
    RUN(test_msgpipe_peer_gone);
    RUN(test_msgpipe_oversized_then_destroy);
    RUN(test_used_after_creator_exited);
    RUN(test_destroy_after_wait);
    return check_done();
}
