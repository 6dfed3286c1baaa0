/* weft_io_wait: fd readiness from coroutines (the loop's epoll), from threads (ppoll), and
 * from a thread whose loop has coroutines; timeouts, cancellation, misuse. */
#include "check.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <stdatomic.h>

static void make_pipe(int p[2])
{
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
}

static void test_thread_waits(void)
{
    int p[2];
    make_pipe(p);
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 2 * WEFT_SEC);
    CHECK_RC(weft_io_wait(p[1], WEFT_IO_WRITE, 0), (int)WEFT_IO_WRITE);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ | WEFT_IO_WRITE, WEFT_FOREVER), (int)WEFT_IO_READ);
    close(p[0]);
    close(p[1]);
}

static void test_bad_arguments(void)
{
    CHECK_RC(weft_io_wait(-1, WEFT_IO_READ, 0), -EINVAL);
    CHECK_RC(weft_io_wait(0, 0, 0), -EINVAL);
    CHECK_RC(weft_io_wait(0, 8, 0), -EINVAL);
    CHECK_RC(weft_io_wait(0, WEFT_IO_READ, -5), -EINVAL);
    int fd = open("/dev/null", O_RDONLY);
    close(fd);
    CHECK_RC(weft_io_wait(fd, WEFT_IO_READ, 0), -EBADF);   /* closed: ppoll says POLLNVAL */
}

/* A reader coroutine blocks on a pipe; a ticker on the same loop keeps running; another
 * thread writes. Then: a writer waiting for room in a full pipe. */
typedef struct {
    int p[2];
    ticker_state tk;
    atomic_int done;
} pipe_job;

static int reader(void *arg, void **result)
{
    (void)result;
    pipe_job *j = arg;
    char buf[16];
    for (;;) {
        ssize_t n = read(j->p[0], buf, sizeof buf);
        if (n > 0) break;
        CHECK(n < 0 && errno == EAGAIN);
        int rc = weft_io_wait(j->p[0], WEFT_IO_READ, 10 * WEFT_SEC);
        CHECK(rc > 0);
    }
    atomic_store(&j->done, 1);
    return 0;
}

static int reader_main(void *arg, void **result)
{
    (void)result;
    pipe_job *j = arg;
    weft_future *r;
    ticker_start(&j->tk);
    CHECK_OK(weft_spawn(&r, reader, arg));
    CHECK_OK(weft_future_result(r, WEFT_FOREVER, NULL));
    ticker_stop(&j->tk);
    weft_future_release(r);
    return 0;
}

static void test_coroutine_reads_a_pipe(void)
{
    pipe_job j = { .done = 0 };
    make_pipe(j.p);
    loop_job job = { reader_main, &j };
    weft_thread *t = start_loop_thread(&job);
    while (atomic_load(&j.tk.ticks) < 5) weft_sleep(WEFT_MS);   /* the loop runs meanwhile */
    CHECK(!atomic_load(&j.done));
    CHECK(write(j.p[1], "hello", 5) == 5);
    join_and_release(t);
    CHECK(atomic_load(&j.done));
    close(j.p[0]);
    close(j.p[1]);
}

static int writer(void *arg, void **result)
{
    (void)result;
    pipe_job *j = arg;
    char block[4096];
    memset(block, 'w', sizeof block);
    /* Fill the pipe, then wait for room. */
    while (write(j->p[1], block, sizeof block) > 0) {}
    CHECK(errno == EAGAIN);
    int rc = weft_io_wait(j->p[1], WEFT_IO_WRITE, 10 * WEFT_SEC);
    CHECK_RC(rc, (int)WEFT_IO_WRITE);
    atomic_store(&j->done, 1);
    return 0;
}

static int drain_later(void *arg, void **result)
{
    (void)result;
    pipe_job *j = arg;
    CHECK_OK(weft_sleep(10 * WEFT_MS));
    char buf[65536];
    while (read(j->p[0], buf, sizeof buf) > 0) {}
    return 0;
}

static int writer_main(void *arg, void **result)
{
    (void)result;
    weft_future *w, *d;
    CHECK_OK(weft_spawn(&w, writer, arg));
    CHECK_OK(weft_spawn(&d, drain_later, arg));
    CHECK_OK(weft_future_result(w, 10 * WEFT_SEC, NULL));
    CHECK_OK(weft_future_result(d, 10 * WEFT_SEC, NULL));
    weft_future_release(w);
    weft_future_release(d);
    return 0;
}

static void test_coroutine_waits_for_room(void)
{
    pipe_job j = { .done = 0 };
    make_pipe(j.p);
    CHECK_OK(weft_run(writer_main, &j, NULL));
    CHECK(atomic_load(&j.done));
    close(j.p[0]);
    close(j.p[1]);
}

/* Two coroutines on one loop: one waits to read, one to write, on the same socketpair end;
 * a second reader on the same fd is refused with -EBUSY. */
static int wait_read(void *arg, void **result)
{
    (void)result;
    return weft_io_wait(*(int *)arg, WEFT_IO_READ, 5 * WEFT_SEC);
}

static int both_main(void *arg, void **result)
{
    (void)result;
    int *p = arg;
    weft_future *r;
    CHECK_OK(weft_spawn(&r, wait_read, &p[0]));
    CHECK_OK(weft_yield());                              /* r is parked now */
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, 0), -EBUSY);
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_WRITE, WEFT_SEC), (int)WEFT_IO_WRITE);
    CHECK(!weft_future_done(r));                         /* the writer's wake-up left it */
    CHECK(write(p[1], "z", 1) == 1);
    CHECK_RC(weft_future_result(r, 5 * WEFT_SEC, NULL), (int)WEFT_IO_READ);
    weft_future_release(r);
    return 0;
}

static void test_reader_and_writer_on_one_fd(void)
{
    int p[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) == 0);
    CHECK_OK(weft_run(both_main, p, NULL));
    close(p[0]);
    close(p[1]);
}

/* Cancelled while waiting; a timed-out wait leaves the fd usable for the next one. */
static int cancel_main(void *arg, void **result)
{
    (void)result;
    int *p = arg;
    weft_future *r;
    CHECK_OK(weft_spawn(&r, wait_read, &p[0]));
    CHECK_OK(weft_sleep(2 * WEFT_MS));
    CHECK_OK(weft_future_cancel(r));
    CHECK_RC(weft_future_result(r, WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(r);
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, 5 * WEFT_MS), -ETIMEDOUT);
    CHECK(write(p[1], "q", 1) == 1);
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, WEFT_SEC), (int)WEFT_IO_READ);
    /* An fd number closed and reused meanwhile registers afresh. */
    close(p[0]);
    int q[2];
    make_pipe(q);
    CHECK(write(q[1], "r", 1) == 1);
    CHECK(weft_io_wait(q[0], WEFT_IO_READ, WEFT_SEC) > 0);
    close(q[0]);
    close(q[1]);
    /* Regular files are always ready. */
    int fd = open("/proc/self/stat", O_RDONLY);
    CHECK_RC(weft_io_wait(fd, WEFT_IO_READ, WEFT_SEC), (int)WEFT_IO_READ);
    close(fd);
    return 0;
}

static void test_cancel_timeout_reuse(void)
{
    int p[2];
    make_pipe(p);
    CHECK_OK(weft_run(cancel_main, p, NULL));
    close(p[1]);
}

/* The thread's own context waits for an fd while its coroutines run (epoll path for main). */
static int write_later(void *arg, void **result)
{
    (void)result;
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK(write(*(int *)arg, "m", 1) == 1);
    return 0;
}

static void test_thread_with_coroutines_waits_for_fd(void)
{
    int p[2];
    make_pipe(p);
    weft_future *w;
    CHECK_OK(weft_spawn(&w, write_later, &p[1]));
    CHECK_RC(weft_io_wait(p[0], WEFT_IO_READ, 5 * WEFT_SEC), (int)WEFT_IO_READ);
    CHECK_OK(weft_future_result(w, WEFT_FOREVER, NULL));
    weft_future_release(w);
    close(p[0]);
    close(p[1]);
}

/* ---- weft_io_poll ------------------------------------------------------------------------ */

static void test_poll_thread_and_bad_arguments(void)
{
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    struct pollfd p[3] = { { a[0], POLLIN, 0 }, { b[0], POLLIN, 0 }, { -1, POLLIN, 0 } };
    CHECK_RC(weft_io_poll(p, 3, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_RC(weft_io_poll(p, 3, 20 * WEFT_MS), -ETIMEDOUT);
    CHECK_BETWEEN(weft_now() - t0, 19 * WEFT_MS, 2 * WEFT_SEC);
    CHECK(write(b[1], "x", 1) == 1);
    CHECK_RC(weft_io_poll(p, 3, WEFT_FOREVER), 1);
    CHECK_EQ(p[0].revents, 0);
    CHECK(p[1].revents & POLLIN);
    CHECK_EQ(p[2].revents, 0);
    CHECK_RC(weft_io_poll(NULL, 1, 0), -EINVAL);
    CHECK_RC(weft_io_poll(p, 3, -7), -EINVAL);
    CHECK_RC(weft_io_poll(p, (size_t)1 << 40, 0), -EINVAL);
    CHECK_RC(weft_io_poll(NULL, 0, 0), -ETIMEDOUT);
    int fd = open("/dev/null", O_RDONLY);
    close(fd);
    struct pollfd nv = { fd, POLLIN, 0 };
    CHECK_RC(weft_io_poll(&nv, 1, WEFT_SEC), 1);        /* closed: POLLNVAL, as poll says */
    CHECK(nv.revents & POLLNVAL);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}

typedef struct {
    int a[2], b[2];
    int rc;
    short revents[2];
} poll_job;

static int poller(void *arg, void **result)
{
    (void)result;
    poll_job *j = arg;
    struct pollfd p[2] = { { j->a[0], POLLIN, 0 }, { j->b[1], 0, 0 } };
    j->rc = weft_io_poll(p, 2, 5 * WEFT_SEC);
    j->revents[0] = p[0].revents;
    j->revents[1] = p[1].revents;
    return 0;
}

/* Another coroutine of the loop waits on the same fd: weft_io_poll does not fail -EBUSY. */
static int io_waiter(void *arg, void **result)
{
    (void)result;
    poll_job *j = arg;
    CHECK_RC(weft_io_wait(j->a[0], WEFT_IO_READ, 5 * WEFT_SEC), (int)WEFT_IO_READ);
    return 0;
}

static int poll_main(void *arg, void **result)
{
    (void)result;
    poll_job *j = arg;
    ticker_state tk = { 0 };
    ticker_start(&tk);
    weft_future *w, *p;
    CHECK_OK(weft_spawn(&w, io_waiter, j));
    CHECK_OK(weft_spawn(&p, poller, j));
    CHECK_OK(weft_sleep(20 * WEFT_MS));
    CHECK(!weft_future_done(p));
    CHECK(write(j->a[1], "x", 1) == 1);
    CHECK_OK(weft_future_result(p, WEFT_FOREVER, NULL));
    CHECK_OK(weft_future_result(w, WEFT_FOREVER, NULL));
    CHECK_RC(j->rc, 1);
    CHECK(j->revents[0] & POLLIN);
    CHECK_EQ(j->revents[1], 0);
    weft_future_release(w);
    weft_future_release(p);
    /* cancelled while polling: -ECANCELED; a scope: -ETIMEDOUT */
    char c;
    CHECK(read(j->a[0], &c, 1) == 1);
    CHECK_OK(weft_spawn(&p, poller, j));
    CHECK_OK(weft_sleep(5 * WEFT_MS));
    CHECK_OK(weft_future_cancel(p));
    weft_future_result(p, WEFT_FOREVER, NULL);
    weft_future_release(p);
    CHECK_RC(j->rc, -ECANCELED);
    weft_scope sc;
    CHECK_OK(weft_scope_enter(&sc, 10 * WEFT_MS, 0));
    struct pollfd q = { j->a[0], POLLIN, 0 };
    CHECK_RC(weft_io_poll(&q, 1, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&sc), -ETIMEDOUT);
    /* a writable end is reported at once, also past a deadline */
    struct pollfd r = { j->a[1], POLLOUT, 0 };
    CHECK_RC(weft_io_poll(&r, 1, WEFT_FOREVER), 1);
    ticker_stop(&tk);
    CHECK(tk.ticks >= 5);
    return 0;
}

static void test_poll_coroutines(void)
{
    poll_job j;
    make_pipe(j.a);
    make_pipe(j.b);
    CHECK_OK(weft_run(poll_main, &j, NULL));
    close(j.a[0]); close(j.a[1]); close(j.b[0]); close(j.b[1]);
}

int main(void)
{
    RUN(test_thread_waits);
    RUN(test_bad_arguments);
    RUN(test_coroutine_reads_a_pipe);
    RUN(test_coroutine_waits_for_room);
    RUN(test_reader_and_writer_on_one_fd);
    RUN(test_cancel_timeout_reuse);
    RUN(test_thread_with_coroutines_waits_for_fd);
    RUN(test_poll_thread_and_bad_arguments);
    RUN(test_poll_coroutines);
    return check_done();
}
