/* subprocess_run.c — seed scenario 12: run a program, capture its stdout, stderr and return
 * code, with a timeout.
 *
 * Python:
 *     r = subprocess.run(["sh", "-c", "..."], capture_output=True, timeout=5)
 *     print(r.returncode, r.stdout, r.stderr)
 *
 * weft_subprocess_run is that call: start, then communicate (feed stdin, read stdout and
 * stderr at the same time, so that no pipe fills up and blocks the child), then wait. What
 * else it shows:
 *   - a timeout kills the child and reaps it, and the output read so far is kept (Python's
 *     TimeoutExpired.output);
 *   - WEFT_SUBPROCESS_CHECK turns a non-zero return code into an error (check=True);
 *   - a program that does not exist is the start's own error (-ENOENT), not exit code 127;
 *   - a child killed by a signal has a negative return code, as in Python;
 *   - the Popen style from a coroutine: read the child's stdout line by line as it comes,
 *     while the loop runs another coroutine.
 *
 * Exits 0 if every outcome is the expected one.
 */
#include <weft.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void expect(bool ok, const char *what)
{
    printf("  %-58s %s\n", what, ok ? "ok" : "FAILED");
    if (!ok) failures++;
}

static void capture(void)
{
    const char *argv[] = { "sh", "-c", "echo hello; echo oops >&2; exit 3", NULL };
    weft_subprocess_result r;
    int rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 5 * WEFT_SEC,
                                 WEFT_SUBPROCESS_CAPTURE);
    printf("run(sh -c ...): %s, returncode %d, stdout \"%.*s\", stderr \"%.*s\"\n",
           weft_strerror(rc), r.returncode, (int)r.out_len - 1, r.out, (int)r.err_len - 1,
           r.err);
    expect(rc == 0 && r.returncode == 3, "return code 3");
    expect(r.out && strcmp(r.out, "hello\n") == 0, "stdout captured");
    expect(r.err && strcmp(r.err, "oops\n") == 0, "stderr captured, apart");
    weft_subprocess_result_free(&r);

    /* input, and check=True */
    const char *tr[] = { "tr", "a-z", "A-Z", NULL };
    rc = weft_subprocess_run(&r, tr, NULL, "shout\n", 6, 5 * WEFT_SEC,
                             WEFT_SUBPROCESS_CAPTURE | WEFT_SUBPROCESS_CHECK);
    expect(rc == 0 && r.out && strcmp(r.out, "SHOUT\n") == 0, "input fed to tr, output read");
    weft_subprocess_result_free(&r);
    rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 5 * WEFT_SEC,
                             WEFT_SUBPROCESS_CAPTURE | WEFT_SUBPROCESS_CHECK);
    expect(rc == WEFT_SUBPROCESS_FAILED && r.returncode == 3,
           "check: exit status 3 is WEFT_SUBPROCESS_FAILED");
    weft_subprocess_result_free(&r);
}

static void timeout(void)
{
    const char *argv[] = { "sh", "-c", "echo started; exec sleep 10", NULL };
    weft_subprocess_result r;
    int64_t t0 = weft_now();
    int rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 300 * WEFT_MS,
                                 WEFT_SUBPROCESS_CAPTURE);
    double ms = (double)(weft_now() - t0) / 1e6;
    printf("run(sleep 10, timeout 0.3 s): %s after %.0f ms, returncode %d, stdout \"%.*s\"\n",
           weft_strerror(rc), ms, r.returncode, r.out ? (int)r.out_len - 1 : 0,
           r.out ? r.out : "");
    expect(rc == -ETIMEDOUT && ms < 3000, "timed out");
    expect(r.returncode == -SIGKILL, "the child was killed (returncode -9) and reaped");
    expect(r.out && strcmp(r.out, "started\n") == 0, "what it wrote before is kept");
    weft_subprocess_result_free(&r);
}

static void missing(void)
{
    const char *argv[] = { "no-such-program-anywhere", NULL };
    weft_subprocess_result r;
    int rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 5 * WEFT_SEC, 0);
    printf("run(no-such-program-anywhere): %s\n", weft_strerror(rc));
    expect(rc == -ENOENT, "a missing program is -ENOENT from the call itself");
    weft_subprocess_result_free(&r);
}

/* The Popen style, in a coroutine: lines as they come, while another coroutine ticks. */
static int ticker(void *arg, void **result)
{
    (void)result;
    int *ticks = arg;
    while (weft_sleep(10 * WEFT_MS) == 0) ++*ticks;
    return 0;
}

static int lines(void *arg, void **result)
{
    (void)arg; (void)result;
    int ticks = 0;
    weft_future *t;
    if (weft_spawn(&t, ticker, &ticks)) return -ENOMEM;
    const char *argv[] = { "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done", NULL };
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_PIPE;
    weft_subprocess *p;
    int rc = weft_subprocess_start(&p, argv, &o);
    int n = 0;
    if (rc == 0) {
        const char *line;
        ssize_t len;
        while ((len = weft_stream_readline(weft_subprocess_stdout(p), &line, 5 * WEFT_SEC)) > 0) {
            printf("  child says: %.*s", (int)len, line);
            n++;
        }
        int code = -1;
        rc = weft_subprocess_wait(p, 5 * WEFT_SEC, &code);
        expect(rc == 0 && code == 0 && n == 3, "three lines read as they came, then exit 0");
        weft_subprocess_destroy(p);
    }
    weft_future_cancel(t);
    weft_future_result(t, WEFT_FOREVER, NULL);
    weft_future_release(t);
    printf("  (the other coroutine ticked %d times meanwhile)\n", ticks);
    expect(ticks >= 10, "the loop ran the other coroutine while we waited");
    return rc;
}

int main(void)
{
    capture();
    timeout();
    missing();
    printf("reading a child's output line by line, in a coroutine:\n");
    weft_run(lines, NULL, NULL);
    if (failures) fprintf(stderr, "subprocess_run: %d FAILED\n", failures);
    return failures ? 1 : 0;
}
