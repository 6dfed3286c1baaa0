/* Compact coroutines (WEFT_SPAWN_COMPACT): many share one run stack, their frames copied out
 * and back in. Every test checks that each coroutine's frames come back exactly (a pattern
 * of its own in a local array, read after every switch), as well as the calls' results.
 * Where compact stacks are not available (ASan, TSan, aarch64) the flag is ignored and the
 * same tests run on ordinary coroutines: their results must not change. */
#include "check.h"
#include "loop/internal.h"
#include "task/internal.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

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

/* ---- queues, locks, semaphores, conditions, barriers, once ---------------------------- */

enum { ITEMS = 3000, PRODUCERS = 4, CONSUMERS = 4 };

static weft_queue *items;
static _Atomic long got[PRODUCERS * ITEMS];

static int producer(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[160];
    fill(buf, sizeof buf, id);
    for (uintptr_t i = 0; i < ITEMS; i++) {
        int rc = weft_queue_put(items, (void *)(id * ITEMS + i + 1), 30 * WEFT_SEC);
        if (rc) return rc;
        if (!intact(buf, sizeof buf, id)) return -EIO;
    }
    return 0;
}

static int consumer(void *arg, void **result)
{
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[96];
    fill(buf, sizeof buf, id);
    long n = 0;
    for (;;) {
        void *item;
        int rc = weft_queue_get(items, &item, 30 * WEFT_SEC);
        if (rc == -ESHUTDOWN) break;
        if (rc) return rc;
        if (!intact(buf, sizeof buf, id)) return -EIO;
        atomic_fetch_add(&got[(uintptr_t)item - 1], 1);
        n++;
    }
    *result = (void *)(intptr_t)n;
    return 0;
}

/* Compact producers and consumers through a small queue: every put and get parks often. */
static void test_queue(void)
{
    CHECK_OK(weft_queue_create(&items, 4));
    memset(got, 0, sizeof got);
    weft_future *p[PRODUCERS], *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) CHECK_OK(spawn_compact(&c[i], consumer, (void *)(uintptr_t)(100 + i)));
    for (int i = 0; i < PRODUCERS; i++) CHECK_OK(spawn_compact(&p[i], producer, (void *)(uintptr_t)i));
    for (int i = 0; i < PRODUCERS; i++) {
        CHECK_OK(weft_future_result(p[i], 60 * WEFT_SEC, NULL));
        weft_future_release(p[i]);
    }
    CHECK_OK(weft_queue_shutdown(items, false));
    long total = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        void *n;
        CHECK_OK(weft_future_result(c[i], 60 * WEFT_SEC, &n));
        total += (intptr_t)n;
        weft_future_release(c[i]);
    }
    CHECK_EQ(total, PRODUCERS * ITEMS);
    for (int i = 0; i < PRODUCERS * ITEMS; i++) CHECK_EQ(atomic_load(&got[i]), 1);   /* once each */
    weft_queue_destroy(items);
}

static weft_lock *lk;
static weft_sem *sem;
static weft_cond *cv;
static weft_barrier *bar;
static weft_once once = WEFT_ONCE_INIT;
static long counter, in_sem, max_in_sem, once_runs, cond_turn;

static int once_fn(void *arg, void **result)
{
    (void)arg; (void)result;
    CHECK_OK(weft_sleep(WEFT_MS));              /* the others park on the once meanwhile */
    once_runs++;
    return 0;
}

static bool my_turn(void *arg)
{
    return cond_turn % 8 == (long)(uintptr_t)arg % 8;
}

static int sync_user(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[200];
    fill(buf, sizeof buf, id);
    CHECK_OK(weft_once_call(&once, once_fn, NULL));
    for (int i = 0; i < 200; i++) {
        CHECK_OK(weft_lock_acquire(lk, WEFT_FOREVER));
        long v = counter;
        if (i % 16 == 0) CHECK_OK(weft_yield());      /* others park on the lock */
        counter = v + 1;
        CHECK_OK(weft_lock_release(lk));
        CHECK_OK(weft_sem_acquire(sem, WEFT_FOREVER));
        if (++in_sem > max_in_sem) max_in_sem = in_sem;
        CHECK_OK(weft_yield());
        in_sem--;
        CHECK_OK(weft_sem_release(sem));
        if (!intact(buf, sizeof buf, id)) return -EIO;
    }
    for (int r = 0; r < 5; r++) {                    /* turns in order, through a condition */
        CHECK_OK(weft_cond_acquire(cv, WEFT_FOREVER));
        CHECK_OK(weft_cond_wait_for(cv, my_turn, (void *)id, 30 * WEFT_SEC));
        cond_turn++;
        CHECK(weft_cond_notify_all(cv) >= 0);
        CHECK_OK(weft_cond_release(cv));
    }
    int idx = weft_barrier_wait(bar, 30 * WEFT_SEC);
    if (idx < 0) return idx;
    if (!intact(buf, sizeof buf, id)) return -EIO;
    *result = (void *)(intptr_t)idx;
    return 0;
}

static void test_locks_semaphores_conditions_barriers(void)
{
    enum { N = 8 };
    CHECK_OK(weft_lock_create(&lk));
    CHECK_OK(weft_sem_create(&sem, 3, false));
    CHECK_OK(weft_cond_create(&cv, NULL));
    CHECK_OK(weft_barrier_create(&bar, N, NULL, NULL));
    counter = in_sem = max_in_sem = once_runs = cond_turn = 0;
    weft_future *f[N];
    for (int i = 0; i < N; i++) CHECK_OK(spawn_compact(&f[i], sync_user, (void *)(uintptr_t)i));
    bool seen[N] = { false };
    for (int i = 0; i < N; i++) {
        void *idx;
        CHECK_OK(weft_future_result(f[i], 60 * WEFT_SEC, &idx));
        CHECK((intptr_t)idx >= 0 && (intptr_t)idx < N && !seen[(intptr_t)idx]);
        seen[(intptr_t)idx] = true;                  /* each barrier index once */
        weft_future_release(f[i]);
    }
    CHECK_EQ(counter, N * 200);
    CHECK(max_in_sem >= 1 && max_in_sem <= 3);
    CHECK_EQ(once_runs, 1);
    CHECK_EQ(cond_turn, N * 5);
    weft_barrier_destroy(bar);
    weft_cond_destroy(cv);
    weft_sem_destroy(sem);
    weft_lock_destroy(lk);
}

/* ---- descriptors: weft_io_wait, weft_io_poll, files ------------------------------------ */

static int echo_reader(void *arg, void **result)
{
    int fd = (int)(intptr_t)arg;
    volatile unsigned char buf[128];
    fill(buf, sizeof buf, (uintptr_t)fd);
    long sum = 0;
    for (;;) {
        int rc = weft_io_wait(fd, WEFT_IO_READ, 30 * WEFT_SEC);
        if (rc < 0) return rc;
        unsigned char b[64];
        ssize_t k = read(fd, b, sizeof b);
        if (k == 0) break;
        if (k < 0 && errno == EAGAIN) continue;
        if (k < 0) return -errno;
        for (ssize_t i = 0; i < k; i++) sum += b[i];
        if (!intact(buf, sizeof buf, (uintptr_t)fd)) return -EIO;
    }
    *result = (void *)(intptr_t)sum;
    return 0;
}

static int poller(void *arg, void **result)
{
    (void)result;
    int fd = (int)(intptr_t)arg;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc = weft_io_poll(&p, 1, 30 * WEFT_SEC);
    return rc == 1 && (p.revents & POLLIN) ? 0 : -EIO;
}

static void test_io_wait(void)
{
    enum { PAIRS = 10 };
    int sv[PAIRS][2];
    weft_future *f[PAIRS], *pf[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]) == 0);
        CHECK_OK(spawn_compact(&f[i], echo_reader, (void *)(intptr_t)sv[i][0]));
        CHECK_OK(spawn_compact(&pf[i], poller, (void *)(intptr_t)sv[i][0]));
    }
    CHECK_OK(weft_yield());                       /* all parked on their sockets */
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < PAIRS; i++) {
            unsigned char b = (unsigned char)(r + i);
            CHECK(write(sv[i][1], &b, 1) == 1);
            if (r % 5 == 0) CHECK_OK(weft_sleep(WEFT_MS / 10));
        }
    for (int i = 0; i < PAIRS; i++) {
        CHECK(close(sv[i][1]) == 0);
        void *sum;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &sum));
        long want = 0;
        for (int r = 0; r < 20; r++) want += (unsigned char)(r + i);
        CHECK_EQ((intptr_t)sum, want);
        CHECK_OK(weft_future_result(pf[i], 30 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
        weft_future_release(pf[i]);
        CHECK(close(sv[i][0]) == 0);
    }
}

static int file_user(void *arg, void **result)
{
    (void)arg; (void)result;
    char path[] = "/tmp/weft-compact-XXXXXX";    /* on the compact stack: made in place */
    int fd = mkstemp(path);
    if (fd < 0) return -errno;
    char out[300], in[300];
    for (size_t i = 0; i < sizeof out; i++) out[i] = (char)(i * 13);
    ssize_t n = weft_file_write(fd, out, sizeof out, 0);
    if (n == (ssize_t)sizeof out) n = weft_file_read(fd, in, sizeof in, 0);
    struct stat st;
    int rc = weft_file_stat(path, &st);
    weft_file_close(fd);
    unlink(path);
    if (n != (ssize_t)sizeof in) return n < 0 ? (int)n : -EIO;
    if (rc) return rc;
    return memcmp(in, out, sizeof in) == 0 && st.st_size == (off_t)sizeof out ? 0 : -EIO;
}

static void test_files(void)
{
    weft_future *f[4];
    for (int i = 0; i < 4; i++) CHECK_OK(spawn_compact(&f[i], file_user, NULL));
    for (int i = 0; i < 4; i++) {
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
}

/* ---- a TCP echo server with compact handlers, compact clients ------------------------- */

static int echo_handler(weft_socket *conn, void *arg)
{
    (void)arg;
    char buf[512];                               /* the compact handler's own buffer */
    for (;;) {
        ssize_t n = weft_socket_read(conn, buf, sizeof buf, 30 * WEFT_SEC);
        if (n <= 0) return (int)n;
        if (weft_socket_write(conn, buf, (size_t)n, 30 * WEFT_SEC) != n) return -EIO;
    }
}

static uint16_t echo_port;

static int echo_client(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    weft_socket *s;
    int rc = weft_tcp_connect(&s, "127.0.0.1", echo_port, 30 * WEFT_SEC);
    if (rc) return rc;
    for (int m = 0; m < 20 && !rc; m++) {
        size_t n = 1 + (id * 7 + (size_t)m * 13) % 400;
        unsigned char out[400], in[400];
        fill(out, n, id + (uintptr_t)m);
        if (weft_socket_write(s, out, n, 30 * WEFT_SEC) != (ssize_t)n) rc = -EIO;
        size_t got = 0;
        while (!rc && got < n) {
            ssize_t k = weft_socket_read(s, in + got, n - got, 30 * WEFT_SEC);
            if (k <= 0) rc = k < 0 ? (int)k : -EPIPE;
            else got += (size_t)k;
        }
        if (!rc && !intact(in, n, id + (uintptr_t)m)) rc = -EIO;
    }
    weft_socket_close(s);
    return rc;
}

static void test_echo_server(void)
{
    weft_server_opts so = WEFT_SERVER_OPTS_INIT;
    weft_server *srv;
    so.spawn_flags = 2;
    CHECK_RC(weft_tcp_server(&srv, "127.0.0.1", 0, echo_handler, NULL, &so), -EINVAL);
    so.spawn_flags = WEFT_SPAWN_COMPACT;
    CHECK_OK(weft_tcp_server(&srv, "127.0.0.1", 0, echo_handler, NULL, &so));
    weft_addr a;
    CHECK_OK(weft_server_addr(srv, &a));
    echo_port = weft_addr_port(&a);
    enum { CLIENTS = 40 };
    weft_future *f[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) CHECK_OK(spawn_compact(&f[i], echo_client, (void *)(uintptr_t)i));
    for (int i = 0; i < CLIENTS; i++) {
        CHECK_OK(weft_future_result(f[i], 60 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
    CHECK_OK(weft_server_close(srv, 5 * WEFT_SEC));
}

/* ---- waits for many futures ------------------------------------------------------------ */

static int many_waiter(void *arg, void **result)
{
    (void)arg;
    weft_future *kids[5];                        /* the array is only read by this caller */
    for (int i = 0; i < 5; i++) CHECK_OK(spawn_compact(&kids[i], sleeper, (void *)(uintptr_t)i));
    int rc = weft_wait(kids, 5, WEFT_ALL_COMPLETED, 30 * WEFT_SEC, NULL);
    if (rc == 5) rc = 0;                         /* all five done */
    uintptr_t sum = 0;
    for (int i = 0; i < 5; i++) {
        void *res = NULL;
        if (!rc) rc = weft_future_result(kids[i], 0, &res);
        sum += (uintptr_t)res;
        weft_future_release(kids[i]);
    }
    *result = (void *)sum;
    return rc;
}

static void test_wait_for_many(void)
{
    weft_future *f[6];
    for (int i = 0; i < 6; i++) CHECK_OK(spawn_compact(&f[i], many_waiter, NULL));
    for (int i = 0; i < 6; i++) {
        void *sum;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &sum));
        CHECK_EQ((uintptr_t)sum, 1 + 2 + 3 + 4 + 5);
        weft_future_release(f[i]);
    }
}

/* ---- subprocesses (the race review: communicate's readers got a record on the stack) ---- */

static atomic_bool scribbling;

/* Overwrites the run stack with junk at every turn while the runs below are parked: what
 * the subprocess's children read from a compact caller's stack would be junk. */
static int scribbler(void *arg, void **result)
{
    (void)arg; (void)result;
    while (atomic_load(&scribbling)) {
        volatile unsigned char junk[12000];
        memset((void *)junk, 0x5a, sizeof junk);
        CHECK_OK(weft_sleep(WEFT_MS / 10));
    }
    return 0;
}

static int run_echo(void *arg, void **result)
{
    (void)result;
    uintptr_t id = (uintptr_t)arg;
    const char *argv[] = { "/bin/sh", "-c", "cat; echo err >&2", NULL };
    weft_subprocess_result r;
    unsigned char in[8192];                      /* on its stack: the writer gets a copy */
    fill(in, sizeof in, id);
    int rc = weft_subprocess_run(&r, argv, NULL, in, sizeof in, 30 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE);
    if (rc) return rc;
    bool ok = r.returncode == 0 && r.out_len == sizeof in && intact((unsigned char *)r.out,
                                                                     r.out_len, id);
    weft_subprocess_result_free(&r);
    return ok ? 0 : -EIO;
}

static void test_subprocess_run(void)
{
    atomic_store(&scribbling, true);
    weft_future *s, *f[3];
    CHECK_OK(spawn_compact(&s, scribbler, NULL));
    for (int i = 0; i < 3; i++) CHECK_OK(spawn_compact(&f[i], run_echo, (void *)(uintptr_t)i));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_future_result(f[i], 60 * WEFT_SEC, NULL));
        weft_future_release(f[i]);
    }
    atomic_store(&scribbling, false);
    CHECK_OK(weft_future_result(s, 60 * WEFT_SEC, NULL));
    weft_future_release(s);
}

/* A cancelled compact coroutine starts no child (the hand-off rule, as a plain one). */
static int cancelled_spawner(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sleep(WEFT_FOREVER);                    /* cancelled here */
    const char *argv[] = { "/bin/true", NULL };
    weft_subprocess *p;
    int rc = weft_subprocess_start(&p, argv, NULL);
    if (rc == 0) {
        weft_subprocess_destroy(p);
        return -EIO;
    }
    return rc == -ECANCELED ? 0 : rc;
}

static void test_cancelled_spawn_starts_nothing(void)
{
    weft_future *f;
    CHECK_OK(spawn_compact(&f, cancelled_spawner, NULL));
    CHECK_OK(weft_yield());
    weft_future_cancel(f);
    CHECK_OK(weft_future_result(f, 30 * WEFT_SEC, NULL));
    weft_future_release(f);
}

/* ---- files: a FIFO's open waits without stopping the loop (the newcomer's find) -------- */

static char fifo_path[64];

static int fifo_reader(void *arg, void **result)
{
    (void)arg;
    int fd = weft_file_open(fifo_path, O_RDONLY, 0);   /* waits for the writer below */
    if (fd < 0) return fd;
    char buf[16];
    ssize_t n = weft_file_read(fd, buf, sizeof buf, -1);
    weft_file_close(fd);
    *result = (void *)(intptr_t)n;
    return n == 5 && memcmp(buf, "fifo!", 5) == 0 ? 0 : -EIO;
}

static int fifo_writer(void *arg, void **result)
{
    (void)arg; (void)result;
    int fd = weft_file_open(fifo_path, O_WRONLY, 0);
    if (fd < 0) return fd;
    ssize_t n = weft_file_write(fd, "fifo!", 5, -1);
    weft_file_close(fd);
    return n == 5 ? 0 : -EIO;
}

static void test_fifo_open_does_not_stop_the_loop(void)
{
    snprintf(fifo_path, sizeof fifo_path, "/tmp/weft-compact-fifo-%d", (int)getpid());
    unlink(fifo_path);
    CHECK(mkfifo(fifo_path, 0600) == 0);
    weft_future *r, *w;
    CHECK_OK(spawn_compact(&r, fifo_reader, NULL));
    CHECK_OK(weft_yield());                       /* the reader is in its open */
    CHECK_OK(weft_spawn(&w, fifo_writer, NULL));  /* a plain writer on the same loop */
    CHECK_OK(weft_future_result(r, 30 * WEFT_SEC, NULL));
    CHECK_OK(weft_future_result(w, 30 * WEFT_SEC, NULL));
    weft_future_release(r);
    weft_future_release(w);
    unlink(fifo_path);
}

/* ---- save buffers shrink after a deep switch ------------------------------------------- */

static atomic_int deep_phase;

static __attribute__((noinline)) int go_deep_and_yield(void)
{
    volatile unsigned char big[20000];
    fill(big, sizeof big, 9);
    CHECK_OK(weft_yield());                      /* saved with ~20 KB live */
    return intact(big, sizeof big, 9) ? 0 : -EIO;
}

static int deep_then_shallow(void *arg, void **result)
{
    (void)arg; (void)result;
    int rc = go_deep_and_yield();
    atomic_store(&deep_phase, 1);
    CHECK_OK(weft_yield());                      /* saved again, shallow */
    CHECK_OK(weft_yield());
    return rc;
}

static int other_compact(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < 6; i++) CHECK_OK(weft_yield());
    return 0;
}

static void test_save_buffer_shrinks(void)
{
    atomic_store(&deep_phase, 0);
    weft_future *a, *b;
    CHECK_OK(spawn_compact(&a, deep_then_shallow, NULL));
    CHECK_OK(spawn_compact(&b, other_compact, NULL));
    weft__coro *c = weft__task_coro(a);
    size_t deep_cap = 0, shallow_cap = SIZE_MAX;    /* seen while a was saved, per phase */
    while (!weft_future_done(a)) {
        CHECK_OK(weft_yield());
#if WEFT__HAVE_COMPACT
        if (c->compact && c->cpt->cf.state == WEFT__CF_SAVED) {
            size_t cap = c->cpt->cf.save_cap;
            if (atomic_load(&deep_phase) == 0 && cap > deep_cap) deep_cap = cap;
            if (atomic_load(&deep_phase) == 1 && cap < shallow_cap) shallow_cap = cap;
        }
#else
        (void)c;
#endif
    }
    if (weft_compact_stacks()) {                 /* saved deep, then saved shallow: shrunk */
        CHECK(deep_cap >= 20000);
        CHECK(shallow_cap < 2048);
    }
    CHECK_OK(weft_future_result(a, 30 * WEFT_SEC, NULL));
    CHECK_OK(weft_future_result(b, 30 * WEFT_SEC, NULL));
    weft_future_release(a);
    weft_future_release(b);
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

static void noop_cb(weft_future *f, void *arg)
{
    (void)f; (void)arg;
}

static void noop_call(void *arg)
{
    (void)arg;
}

/* Every call that lends its argument to another context refuses a compact caller's own
 * stack: the other context would use it while the frames are copied out. */
static int lender(void *arg, void **result)
{
    (void)arg; (void)result;
    int local = 0;
    static int not_on_stack;
    weft_future *never = NULL;
    CHECK_OK(weft_future_create(&never));
    weft_pool *p = weft_default_pool();
    weft_timer *t = NULL;
    weft_thread *th = NULL;
    weft_loop *self = NULL;
    CHECK_OK(weft_loop_current(&self));
    void *args[1] = { &not_on_stack };
    void **heap_args = malloc(sizeof *heap_args);   /* the array on the heap, its item not */
    CHECK(heap_args);
    heap_args[0] = &local;
    int rc[9] = {
        weft_spawn(NULL, nothing, &local),
        weft_to_thread(nothing, &local, NULL),
        weft_pool_submit(p, NULL, nothing, &local),
        weft_timer_start(&t, WEFT_SEC, nothing, &local, NULL),
        weft_thread_start(&th, NULL, nothing, &local),
        weft_loop_call(self, noop_call, &local),
        weft_future_add_done_callback(never, noop_cb, &local),
        weft_pool_map(p, nothing, args, 1, 1, false, NULL, NULL),
        weft_pool_map(p, nothing, heap_args, 1, 1, false, NULL, NULL),
    };
    free(heap_args);
    int ok = weft_to_thread(nothing, &not_on_stack, NULL);
    weft_loop_release(self);
    weft_future_release(never);
    if (ok) return -EIO;
    if (!weft_compact_stacks()) {              /* then they were all accepted: undo */
        if (t) weft_timer_cancel(t), weft_timer_release(t);
        if (th) weft_thread_join(th, WEFT_FOREVER, NULL), weft_thread_release(th);
        return 0;
    }
    for (int i = 0; i < 7; i++)
        if (rc[i] != -EFAULT) {
            fprintf(stderr, "lending call %d returned %d\n", i, rc[i]);
            return -EIO;
        }
    return rc[7] == -EFAULT && rc[8] == -EFAULT && weft_in_compact_coroutine() ? 0 : -EIO;
}

static void test_lending_own_stack_refused(void)
{
    weft_future *f;
    CHECK_OK(spawn_compact(&f, lender, NULL));
    CHECK_OK(weft_future_result(f, 30 * WEFT_SEC, NULL));
    weft_future_release(f);
    CHECK(!weft_in_compact_coroutine());
}

/* A compact owner with a group of compact and plain children. */
static int group_owner(void *arg, void **result)
{
    uintptr_t id = (uintptr_t)arg;
    volatile unsigned char buf[200];
    fill(buf, sizeof buf, id);
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    weft_future *kids[6];
    for (int i = 0; i < 6; i++) {
        weft_spawn_opts o = compact_opts();
        if (i % 2) o.flags = 0;
        rc = weft_group_spawn(g, &kids[i], &o, sleeper, (void *)(id * 10 + (uintptr_t)i));
        if (rc) return rc;
    }
    rc = weft_group_wait(g);
    uintptr_t sum = 0;
    for (int i = 0; i < 6; i++) {
        void *res = NULL;
        if (!rc) rc = weft_future_result(kids[i], 0, &res);
        sum += (uintptr_t)res;
        weft_future_release(kids[i]);
    }
    weft_group_destroy(g);
    if (!intact(buf, sizeof buf, id)) return -EIO;
    *result = (void *)sum;
    return rc;
}

static void test_task_groups(void)
{
    weft_future *f[5];
    for (int i = 0; i < 5; i++) CHECK_OK(spawn_compact(&f[i], group_owner, (void *)(uintptr_t)i));
    for (int i = 0; i < 5; i++) {
        void *sum;
        CHECK_OK(weft_future_result(f[i], 30 * WEFT_SEC, &sum));
        uintptr_t want = 0;
        for (uintptr_t k = 0; k < 6; k++) want += (uintptr_t)i * 10 + k + 1;
        CHECK_EQ((uintptr_t)sum, want);
        weft_future_release(f[i]);
    }
}

/* A compact owner cancelled while parked inside a shielded scope: the group is not
 * cancelled until it leaves the shield (its shield count, not its scopes, tells). */
static atomic_int shield_phase;

static int forever_child(void *arg, void **result)
{
    (void)arg; (void)result;
    return weft_sleep(WEFT_FOREVER);
}

static int shielded_owner(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    weft_spawn_opts o = compact_opts();
    weft_future *kid;
    CHECK_OK(weft_group_spawn(g, &kid, &o, forever_child, NULL));
    weft_scope sc;
    CHECK_OK(weft_scope_enter(&sc, WEFT_FOREVER, WEFT_SCOPE_SHIELD));
    atomic_store(&shield_phase, 1);
    rc = weft_sleep(20 * WEFT_MS);               /* cancelled meanwhile: shielded */
    bool kid_alive = !weft_future_done(kid);      /* the group was not cancelled yet */
    CHECK_OK(weft_scope_leave(&sc));
    int wrc = weft_group_wait(g);                 /* now the cancel reaches group and child */
    int krc = weft_future_result(kid, 0, NULL);
    weft_future_release(kid);
    weft_group_destroy(g);
    if (rc) return rc;
    return kid_alive && wrc == -ECANCELED && krc == -ECANCELED ? 0 : -EIO;
}

static void test_group_owner_shielded(void)
{
    atomic_store(&shield_phase, 0);
    weft_future *f;
    CHECK_OK(spawn_compact(&f, shielded_owner, NULL));
    while (atomic_load(&shield_phase) == 0) CHECK_OK(weft_sleep(WEFT_MS));
    weft_future_cancel(f);
    int rc = weft_future_result(f, 30 * WEFT_SEC, NULL);
    CHECK(rc == 0 || rc == -ECANCELED);
    weft_future_release(f);
}

/* A wait that does not take the park record: weft's own calls all do; this one stands for
 * a future call that forgets to (the guard in weft__waiter_init). */
static int stack_waiter(void *arg, void **result)
{
    (void)arg; (void)result;
    weft__waiter w;
    weft__waiter_init(&w);
    return 0;
}

static void unconverted_child(void)
{
    weft_future *f;
    CHECK_OK(spawn_compact(&f, stack_waiter, NULL));
    weft_future_result(f, 30 * WEFT_SEC, NULL);   /* the process ends in there */
}

static void test_unconverted_wait_ends_the_process(void)
{
    if (!weft_compact_stacks()) SKIP("compact stacks not available in this build");
    if (slow_tools()) SKIP("forks a child");
    expect_abort(unconverted_child, "compact coroutine blocked in a call that does not support");
}

/* ---- select ------------------------------------------------------------------------------ */

enum { SEL_QUEUES = 20, SEL_ITEMS = 500 };

static weft_queue *selq[SEL_QUEUES];

/* Takes SEL_ITEMS items from whichever of the queues has one (all 20 cases: beyond the
 * 16 a plain select keeps on its stack). */
static int selector(void *arg, void **result)
{
    (void)arg;
    volatile unsigned char buf[100];
    fill(buf, sizeof buf, 5);
    long sum = 0;
    for (int k = 0; k < SEL_ITEMS; k++) {
        weft_select_case c[SEL_QUEUES];
        for (int i = 0; i < SEL_QUEUES; i++)
            c[i] = (weft_select_case){ .queue = selq[i], .op = WEFT_SELECT_GET };
        int i = weft_select(c, k % 2 ? SEL_QUEUES : 3, 30 * WEFT_SEC);
        if (i < 0) return i;
        if (c[i].rc) return c[i].rc;
        sum += (intptr_t)c[i].item;
        if (!intact(buf, sizeof buf, 5)) return -EIO;
    }
    *result = (void *)(intptr_t)sum;
    return 0;
}

static int feeder(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int k = 0; k < SEL_ITEMS; k++) {
        int rc = weft_queue_put(selq[k % 3], (void *)(intptr_t)(k + 1), 30 * WEFT_SEC);
        if (rc) return rc;
        if (k % 4 == 0) CHECK_OK(weft_yield());
    }
    return 0;
}

static void test_select(void)
{
    for (int i = 0; i < SEL_QUEUES; i++) CHECK_OK(weft_queue_create(&selq[i], 2));
    weft_future *s, *f;
    CHECK_OK(spawn_compact(&s, selector, NULL));
    CHECK_OK(spawn_compact(&f, feeder, NULL));
    void *sum;
    CHECK_OK(weft_future_result(s, 60 * WEFT_SEC, &sum));
    CHECK_OK(weft_future_result(f, 60 * WEFT_SEC, NULL));
    CHECK_EQ((intptr_t)sum, (long)SEL_ITEMS * (SEL_ITEMS + 1) / 2);
    weft_future_release(s);
    weft_future_release(f);
    for (int i = 0; i < SEL_QUEUES; i++) weft_queue_destroy(selq[i]);
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
    RUN(test_queue);
    RUN(test_locks_semaphores_conditions_barriers);
    RUN(test_io_wait);
    RUN(test_files);
    RUN(test_echo_server);
    RUN(test_subprocess_run);
    RUN(test_cancelled_spawn_starts_nothing);
    RUN(test_fifo_open_does_not_stop_the_loop);
    RUN(test_save_buffer_shrinks);
    RUN(test_select);
    RUN(test_wait_for_many);
    RUN(test_deep_frames);
    RUN(test_bad_options);
    RUN(test_lending_own_stack_refused);
    RUN(test_task_groups);
    RUN(test_group_owner_shielded);
    RUN(test_unconverted_wait_ends_the_process);
    RUN(test_token_ring_stress);
    return check_done();
}
