/* tests/test_subprocess_io.c — a child's pipes: communicate (megabytes both ways without a
 * deadlock, timeouts and cancellation that lose nothing), run, and the pipes as streams,
 * from plain threads (the poll loop), coroutines and threads with a loop (the task group),
 * and pool jobs. */
#include "subprocess_check.h"

#include <stdlib.h>

#define CHILD(...) ((const char *const[]){ PROC_CHILD, __VA_ARGS__, NULL })

static weft_subprocess *start_piped(const char *const *argv, bool in, bool out, bool err)
{
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    if (in) o.stdin_mode = WEFT_STDIO_PIPE;
    if (out) o.stdout_mode = WEFT_STDIO_PIPE;
    if (err) o.stderr_mode = WEFT_STDIO_PIPE;
    weft_subprocess *p;
    CHECK_OK(weft_subprocess_start(&p, argv, &o));
    return p;
}

/* "line 1\n" ... "line n\n" */
static char *lines(int from, int to)
{
    size_t cap = 16 * (size_t)(to - from + 2), len = 0;
    char *s = malloc(cap);
    CHECK(s != NULL);
    s[0] = '\0';
    for (int k = from; k <= to; k++) len += (size_t)snprintf(s + len, cap - len, "line %d\n", k);
    return s;
}

/* ---- 10 MB each way, all three pipes ----------------------------------------------------- */

static void body_ten_megabytes(void)
{
    size_t n = (size_t)(slow_tools() ? 4 : 10) << 20;
    unsigned char *in = malloc(n);
    CHECK(in != NULL);
    rng r;
    rng_seed(&r, 42);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng_next(&r);
        memcpy(in + i, &v, n - i < 8 ? n - i : 8);
    }
    /* The child writes each chunk to stdout and to stderr before it reads the next: a
     * parent that did not read both while writing would block it, and be blocked by it. */
    weft_subprocess *p = start_piped(CHILD("mix"), true, true, true);
    weft_subprocess_result res;
    int64_t t0 = weft_now();
    CHECK_OK(weft_subprocess_communicate(p, in, n, 60 * WEFT_SEC, &res));
    CHECK(weft_now() - t0 < 60 * WEFT_SEC);
    CHECK_EQ(res.returncode, 0);
    CHECK_EQ(res.out_len, n);
    CHECK_EQ(res.err_len, n);
    CHECK(memcmp(res.out, in, n) == 0);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)res.err[i] != (unsigned char)(in[i] ^ 0xff)) CHECK(!"stderr differs");
    CHECK(res.out[n] == '\0' && res.err[n] == '\0');
    weft_subprocess_result_free(&res);
    CHECK(res.out == NULL && res.returncode == 0);
    /* Once done, a second call has nothing more to give. */
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 0, &res));
    CHECK_EQ(res.out_len, 0);
    CHECK_EQ(res.err_len, 0);
    CHECK(res.out && res.out[0] == '\0');
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);
    free(in);
}

static void test_ten_megabytes_each_way(void)
{
    from_thread_and_coroutine(body_ten_megabytes);
}

/* Output only (no input: stdin is closed at once), megabytes on both outputs. */
static void body_outputs_only(void)
{
    weft_subprocess *p = start_piped(CHILD("out", "3000000", "2000000"), true, true, true);
    weft_subprocess_result res;
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 60 * WEFT_SEC, &res));
    CHECK_EQ(res.out_len, 3000000);
    CHECK_EQ(res.err_len, 2000000);
    for (size_t i = 0; i < res.out_len; i++) CHECK((unsigned char)res.out[i] == i % 251);
    for (size_t i = 0; i < res.err_len; i++) CHECK((unsigned char)res.err[i] == i % 251);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);
    /* No pipes at all: communicate is a wait. */
    p = start_piped(CHILD("exit", "6"), false, false, false);
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 10 * WEFT_SEC, &res));
    CHECK(res.out == NULL && res.err == NULL);
    CHECK_EQ(res.returncode, 6);
    weft_subprocess_destroy(p);
}

static void test_outputs_only(void)
{
    from_thread_and_coroutine(body_outputs_only);
}

/* ---- timeouts keep what was read; the next call goes on ---------------------------------- */

static void body_timeout_keeps_output(void)
{
    weft_subprocess *p = start_piped(CHILD("lines", "6", "60"), false, true, false);
    weft_subprocess_result res = { 77, NULL, 0, NULL, 0 };
    size_t len = 0;
    const char *got = NULL;
    int64_t t0 = weft_now();
    while (len == 0) {                  /* until the first line is in (starts may be slow) */
        CHECK(weft_now() - t0 < 30 * WEFT_SEC);
        CHECK_RC(weft_subprocess_communicate(p, NULL, 0, 20 * WEFT_MS, &res), -ETIMEDOUT);
        got = weft_subprocess_captured(p, 1, &len);
    }
    CHECK_EQ(res.returncode, 77);                          /* untouched */
    char *all = lines(1, 6);
    CHECK(got && len > 0 && len < strlen(all));
    CHECK(strncmp(got, all, len) == 0);                    /* a prefix, nothing lost */
    CHECK(weft_subprocess_captured(p, 2, NULL) == NULL);   /* not a pipe */
    CHECK_RC(weft_subprocess_wait(p, 0, NULL), -ETIMEDOUT); /* it runs on */
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 30 * WEFT_SEC, &res));
    CHECK(strcmp(res.out, all) == 0);                      /* all, once */
    CHECK_EQ(res.returncode, 0);
    weft_subprocess_result_free(&res);
    free(all);
    weft_subprocess_destroy(p);
}

static void test_timeout_keeps_output(void)
{
    from_thread_and_coroutine(body_timeout_keeps_output);
}

/* No time left: one pass without waiting still takes what is there, and completes if that
 * was all (a call that can complete without waiting completes); a child that never stops
 * writing cannot hold a call past its deadline. */
static void body_timeout_zero(void)
{
    weft_subprocess *p = start_piped(CHILD("both"), true, true, true);
    siginfo_t si;                              /* until it has ended, without reaping it */
    CHECK(waitid(P_PIDFD, (id_t)weft_subprocess_pidfd(p), &si, WEXITED | WNOWAIT) == 0);
    weft_subprocess_result res;
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 0, &res));
    CHECK(strcmp(res.out, "out\nout2\n") == 0 && strcmp(res.err, "err\n") == 0);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);

    p = start_piped(CHILD("out", "4000000000", "4000000000"), false, true, true);
    size_t out = 0, err = 0;
    for (int64_t t0 = weft_now(); out == 0 || err == 0; ) {
        int64_t t1 = weft_now();
        CHECK(t1 - t0 < 30 * WEFT_SEC);
        CHECK_RC(weft_subprocess_communicate(p, NULL, 0, 50 * WEFT_MS, &res), -ETIMEDOUT);
        CHECK(weft_now() - t1 < 5 * WEFT_SEC);             /* the flood cannot hold it */
        CHECK(weft_subprocess_captured(p, 1, &out) && weft_subprocess_captured(p, 2, &err));
    }
    CHECK_RC(weft_subprocess_communicate(p, NULL, 0, 0, &res), -ETIMEDOUT);
    weft_subprocess_destroy(p);
}

static void test_timeout_zero(void)
{
    from_thread_and_coroutine(body_timeout_zero);
}

/* A child that never reads its input: the write waits, the call times out, the child runs
 * on; once it is killed, communicate completes (the write's EPIPE is no error). */
static void body_input_never_read(void)
{
    size_t n = 1 << 20;
    char *in = malloc(n);
    CHECK(in != NULL);
    memset(in, 'x', n);
    weft_subprocess *p = start_piped(CHILD("noread", "100000"), true, true, false);
    weft_subprocess_result res;
    CHECK_RC(weft_subprocess_communicate(p, in, n, 100 * WEFT_MS, &res), -ETIMEDOUT);
    CHECK_RC(weft_subprocess_wait(p, 0, NULL), -ETIMEDOUT);
    CHECK_RC(weft_subprocess_communicate(p, in + 1, n - 1, 0, &res), -EINVAL);   /* not the same */
    CHECK_RC(weft_subprocess_communicate(p, in, n, 20 * WEFT_MS, &res), -ETIMEDOUT);
    CHECK_OK(weft_subprocess_kill(p));
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 30 * WEFT_SEC, &res));   /* NULL: same */
    CHECK_EQ(res.returncode, -SIGKILL);
    CHECK_EQ(res.out_len, 0);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);
    free(in);
}

static void test_input_never_read(void)
{
    from_thread_and_coroutine(body_input_never_read);
}

/* A child that closes its stdout early and keeps running: the stream reads the end while
 * the child lives; communicate then waits for the child itself. */
static void body_closes_stdout_early(void)
{
    weft_subprocess *p = start_piped(CHILD("closeout", "600"), false, true, true);
    const char *line;
    CHECK_EQ(weft_stream_readline(weft_subprocess_stdout(p), &line, 10 * WEFT_SEC), 4);
    CHECK(strncmp(line, "bye\n", 4) == 0);
    CHECK_EQ(weft_stream_readline(weft_subprocess_stdout(p), &line, 10 * WEFT_SEC), 0);
    CHECK_RC(weft_subprocess_wait(p, 0, NULL), -ETIMEDOUT);   /* ended output, live child */
    weft_subprocess_result res;
    CHECK_RC(weft_subprocess_communicate(p, NULL, 0, 30 * WEFT_MS, &res), -ETIMEDOUT);
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 30 * WEFT_SEC, &res));
    CHECK_EQ(res.returncode, 0);
    CHECK_EQ(res.out_len, 0);                              /* "bye" was the program's */
    CHECK_EQ(res.err_len, 0);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);
}

static void test_closes_stdout_early(void)
{
    from_thread_and_coroutine(body_closes_stdout_early);
}

/* What the program read or wrote through the streams itself is respected: bytes it wrote
 * to stdin without draining go first; bytes a stream holds are not read again. */
static void body_streams_and_communicate(void)
{
    weft_subprocess *p = start_piped(CHILD("echo"), true, true, false);
    CHECK_OK(weft_stream_write(weft_subprocess_stdin(p), "abc\n", 4, WEFT_SEC));
    weft_subprocess_result res;
    CHECK_OK(weft_subprocess_communicate(p, "def\n", 4, 30 * WEFT_SEC, &res));
    CHECK(strcmp(res.out, "abc\ndef\n") == 0);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);

    p = start_piped(CHILD("lines", "5", "0"), false, true, false);
    const char *line;
    CHECK_EQ(weft_stream_readline(weft_subprocess_stdout(p), &line, 10 * WEFT_SEC), 7);
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 30 * WEFT_SEC, &res));
    char *rest = lines(2, 5);
    CHECK(strcmp(res.out, rest) == 0);
    free(rest);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);

    /* stdin by hand: write, end it, read the answer. */
    p = start_piped(CHILD("readall"), true, true, false);
    weft_stream *in = weft_subprocess_stdin(p);
    for (int i = 0; i < 1000; i++) CHECK_OK(weft_stream_write(in, "0123456789", 10, WEFT_SEC));
    CHECK_OK(weft_stream_write_eof(in, 10 * WEFT_SEC));
    CHECK_EQ(weft_stream_readline(weft_subprocess_stdout(p), &line, 10 * WEFT_SEC), 6);
    CHECK(strncmp(line, "10000\n", 6) == 0);
    int code;
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, &code));
    CHECK_EQ(code, 0);
    weft_subprocess_destroy(p);
}

static void test_streams_and_communicate(void)
{
    from_thread_and_coroutine(body_streams_and_communicate);
}

/* ---- run --------------------------------------------------------------------------------- */

static void body_run(void)
{
    weft_subprocess_result r;
    CHECK_OK(weft_subprocess_run(&r, CHILD("both"), NULL, NULL, 0, 30 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE));
    CHECK(strcmp(r.out, "out\nout2\n") == 0 && strcmp(r.err, "err\n") == 0);
    CHECK_EQ(r.out_len, 9);
    CHECK_EQ(r.returncode, 0);
    weft_subprocess_result_free(&r);
    /* input, merged stderr through opts */
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_PIPE;
    o.stderr_mode = WEFT_STDIO_STDOUT;
    CHECK_OK(weft_subprocess_run(&r, CHILD("echo"), &o, "hello", 5, 30 * WEFT_SEC, 0));
    CHECK(strcmp(r.out, "hello") == 0 && r.err == NULL);
    weft_subprocess_result_free(&r);
    /* check */
    CHECK_RC(weft_subprocess_run(&r, CHILD("exit", "3"), NULL, NULL, 0, 30 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CHECK | WEFT_SUBPROCESS_CAPTURE),
             WEFT_SUBPROCESS_FAILED);
    CHECK_EQ(r.returncode, 3);
    CHECK(r.out && r.out_len == 0);
    weft_subprocess_result_free(&r);
    CHECK_RC(weft_subprocess_run(&r, CHILD("signal", "9"), NULL, NULL, 0, 30 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CHECK), WEFT_SUBPROCESS_FAILED);
    CHECK_EQ(r.returncode, -SIGKILL);
    weft_subprocess_result_free(&r);
    CHECK_OK(weft_subprocess_run(&r, CHILD("exit", "0"), NULL, NULL, 0, 30 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CHECK));
    CHECK(r.out == NULL && r.err == NULL);
    /* start errors */
    CHECK_RC(weft_subprocess_run(&r, (const char *const[]){ "/nonexistent", NULL }, NULL, NULL,
                                 0, 30 * WEFT_SEC, WEFT_SUBPROCESS_CAPTURE), -ENOENT);
    CHECK(r.out == NULL);
    /* The timeout kills and reaps the child; what was read so far comes back. */
    int64_t t0 = weft_now();
    CHECK_RC(weft_subprocess_run(&r, CHILD("lines", "1000", "20"), NULL, NULL, 0,
                                 WEFT_SEC, WEFT_SUBPROCESS_CAPTURE), -ETIMEDOUT);
    CHECK(weft_now() - t0 < 10 * WEFT_SEC);
    CHECK_EQ(r.returncode, -SIGKILL);
    char *all = lines(1, 1000);
    CHECK(r.out && r.out_len > 0 && r.out_len < strlen(all));
    CHECK(strncmp(r.out, all, r.out_len) == 0);
    free(all);
    weft_subprocess_result_free(&r);
    CHECK_EQ(count_children(NULL), 0);
    CHECK_RC(weft_subprocess_run(&r, CHILD("sleep", "100000"), NULL, NULL, 0, 50 * WEFT_MS, 0),
             -ETIMEDOUT);
    CHECK_EQ(r.returncode, -SIGKILL);
    CHECK_EQ(count_children(NULL), 0);
    /* A child that never reads, with input: killed at the timeout too. */
    static char in[1 << 20];
    CHECK_RC(weft_subprocess_run(&r, CHILD("noread", "100000"), NULL, in, sizeof in,
                                 50 * WEFT_MS, WEFT_SUBPROCESS_CAPTURE), -ETIMEDOUT);
    weft_subprocess_result_free(&r);
    CHECK_EQ(count_children(NULL), 0);
}

static void test_run(void)
{
    from_thread_and_coroutine(body_run);
}

/* ---- coroutines: cancellation, streams line by line, the loop keeps running ------------- */

typedef struct {
    weft_subprocess *p;
    int rc;
    weft_subprocess_result res;
} comm;

static int communicate_forever(void *arg, void **result)
{
    (void)result;
    comm *c = arg;
    c->rc = weft_subprocess_communicate(c->p, NULL, 0, WEFT_FOREVER, &c->res);
    return c->rc == -ECANCELED ? -ECANCELED : 0;
}

static int cancel_communicate(void *arg, void **result)
{
    (void)arg; (void)result;
    comm c = { start_piped(CHILD("lines", "8", "40"), true, true, true), 1,
               { 0, NULL, 0, NULL, 0 } };
    weft_future *f;
    CHECK_OK(weft_spawn(&f, communicate_forever, &c));
    size_t len = 0;
    for (int64_t t0 = weft_now(); len == 0; ) {            /* until the first line is in */
        CHECK(weft_now() - t0 < 30 * WEFT_SEC);
        CHECK_OK(weft_sleep(5 * WEFT_MS));
        weft_subprocess_captured(c.p, 1, &len);
    }
    CHECK_OK(weft_future_cancel(f));
    CHECK_RC(weft_future_result(f, 10 * WEFT_SEC, NULL), -ECANCELED);
    weft_future_release(f);
    CHECK_RC(c.rc, -ECANCELED);
    CHECK(c.res.out == NULL);
    const char *got = weft_subprocess_captured(c.p, 1, &len);
    char *all = lines(1, 8);
    CHECK(len > 0 && len < strlen(all) && strncmp(got, all, len) == 0);
    CHECK_RC(weft_subprocess_wait(c.p, 0, NULL), -ETIMEDOUT);   /* untouched */
    CHECK_OK(weft_subprocess_communicate(c.p, NULL, 0, 30 * WEFT_SEC, &c.res));
    CHECK(strcmp(c.res.out, all) == 0);
    CHECK_EQ(c.res.returncode, 0);
    free(all);
    weft_subprocess_result_free(&c.res);
    weft_subprocess_destroy(c.p);
    return 0;
}

static void test_cancelled_communicate_keeps_output(void)
{
    CHECK_OK(weft_run(cancel_communicate, NULL, NULL));
    check_no_children();
}

typedef struct {
    atomic_int done;
    weft_subprocess_result res;
    int rc;
} runner;

static int run_sleeper(void *arg, void **result)
{
    (void)result;
    runner *r = arg;
    r->rc = weft_subprocess_run(&r->res, CHILD("sleep", "100000"), NULL, NULL, 0,
                                WEFT_FOREVER, WEFT_SUBPROCESS_CAPTURE);
    return 0;
}

static int cancel_run(void *arg, void **result)
{
    (void)arg; (void)result;
    runner r = { 0 };
    weft_future *f;
    CHECK_OK(weft_spawn(&f, run_sleeper, &r));
    CHECK_OK(weft_sleep(50 * WEFT_MS));
    CHECK_EQ(count_children(NULL), 1);
    CHECK_OK(weft_future_cancel(f));
    CHECK_OK(weft_future_result(f, 10 * WEFT_SEC, NULL));
    weft_future_release(f);
    CHECK_RC(r.rc, -ECANCELED);
    CHECK_EQ(r.res.returncode, -SIGKILL);                  /* killed and reaped */
    CHECK_EQ(count_children(NULL), 0);
    weft_subprocess_result_free(&r.res);
    return 0;
}

static void test_cancelled_run_kills_the_child(void)
{
    CHECK_OK(weft_run(cancel_run, NULL, NULL));
}

static int read_lines_while_ticking(void *arg, void **result)
{
    (void)arg; (void)result;
    ticker_state t = { 0 };
    ticker_start(&t);
    weft_subprocess *p = start_piped(CHILD("lines", "5", "40"), false, true, false);
    ticker_wait_begins(&t);
    const char *line;
    for (int k = 1; k <= 5; k++) {
        char want[32];
        int len = snprintf(want, sizeof want, "line %d\n", k);
        CHECK_EQ(weft_stream_readline(weft_subprocess_stdout(p), &line, 10 * WEFT_SEC), len);
        CHECK(strncmp(line, want, (size_t)len) == 0);
    }
    CHECK_EQ(weft_stream_readline(weft_subprocess_stdout(p), &line, 10 * WEFT_SEC), 0);
    CHECK(ticker_ticks_in_wait(&t) >= 20);                 /* ~200 ms of waiting */
    ticker_stop(&t);
    CHECK_OK(weft_subprocess_wait(p, 10 * WEFT_SEC, NULL));
    weft_subprocess_destroy(p);
    return 0;
}

static void test_lines_from_a_coroutine(void)
{
    CHECK_OK(weft_run(read_lines_while_ticking, NULL, NULL));
    check_no_children();
}

/* A thread whose loop has live coroutines communicates through the task group, so its
 * coroutines run meanwhile. */
static void test_thread_with_a_loop(void)
{
    int fds = count_fds();
    ticker_state t = { 0 };
    ticker_start(&t);                                      /* the thread now has a loop */
    weft_subprocess *p = start_piped(CHILD("lines", "4", "50"), true, true, true);
    ticker_wait_begins(&t);
    weft_subprocess_result res;
    CHECK_OK(weft_subprocess_communicate(p, "x", 1, 30 * WEFT_SEC, &res));
    char *all = lines(1, 4);
    CHECK(strcmp(res.out, all) == 0);
    free(all);
    CHECK(ticker_ticks_in_wait(&t) >= 20);
    ticker_stop(&t);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);
    check_no_children();
    CHECK_FDS(fds);
}

/* In a pool job, cancelling the job ends a communicate within a few milliseconds. */
static int communicate_in_job(void *arg, void **result)
{
    (void)result;
    weft_subprocess *p = arg;
    weft_subprocess_result res;
    return weft_subprocess_communicate(p, NULL, 0, WEFT_FOREVER, &res);
}

static int wait_in_job(void *arg, void **result)
{
    (void)result;
    return weft_subprocess_wait(arg, WEFT_FOREVER, NULL);
}

static void test_pool_job_cancelled(void)
{
    weft_pool *pool;
    CHECK_OK(weft_pool_create(&pool, NULL));
    weft_fn fns[2] = { communicate_in_job, wait_in_job };
    for (int i = 0; i < 2; i++) {
        weft_subprocess *p = start_piped(CHILD("sleep", "100000"), true, true, true);
        weft_future *f;
        CHECK_OK(weft_pool_submit(pool, &f, fns[i], p));
        CHECK_OK(weft_sleep(50 * WEFT_MS));
        int64_t t0 = weft_now();
        CHECK_OK(weft_future_cancel(f));
        CHECK_RC(weft_future_result(f, 10 * WEFT_SEC, NULL), -ECANCELED);
        CHECK(weft_now() - t0 < 2 * WEFT_SEC);
        weft_future_release(f);
        CHECK_RC(weft_subprocess_wait(p, 0, NULL), -ETIMEDOUT);   /* untouched */
        weft_subprocess_destroy(p);
    }
    weft_pool_destroy(pool);
    check_no_children();
}

/* A deadline scope around communicate cuts it like its own timeout. */
static void body_communicate_in_scope(void)
{
    weft_subprocess *p = start_piped(CHILD("lines", "3", "100"), false, true, false);
    weft_subprocess_result res;
    weft_scope s;
    CHECK_OK(weft_scope_enter(&s, 40 * WEFT_MS, 0));
    CHECK_RC(weft_subprocess_communicate(p, NULL, 0, WEFT_FOREVER, &res), -ETIMEDOUT);
    CHECK_RC(weft_scope_leave(&s), -ETIMEDOUT);
    CHECK_OK(weft_subprocess_communicate(p, NULL, 0, 30 * WEFT_SEC, &res));
    char *all = lines(1, 3);
    CHECK(strcmp(res.out, all) == 0);
    free(all);
    weft_subprocess_result_free(&res);
    weft_subprocess_destroy(p);
}

static void test_communicate_in_scope(void)
{
    from_thread_and_coroutine(body_communicate_in_scope);
}

int main(void)
{
    warm_up();
    RUN(test_ten_megabytes_each_way);
    RUN(test_outputs_only);
    RUN(test_timeout_keeps_output);
    RUN(test_timeout_zero);
    RUN(test_input_never_read);
    RUN(test_closes_stdout_early);
    RUN(test_streams_and_communicate);
    RUN(test_run);
    RUN(test_cancelled_communicate_keeps_output);
    RUN(test_cancelled_run_kills_the_child);
    RUN(test_lines_from_a_coroutine);
    RUN(test_thread_with_a_loop);
    RUN(test_pool_job_cancelled);
    RUN(test_communicate_in_scope);
    return check_done();
}
