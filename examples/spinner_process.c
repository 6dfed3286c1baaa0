/* spinner_process.c — seed scenario 1, process version: the spinner turns while a child
 * process does the slow work.
 *
 * The slow computation runs in another program (here a shell that thinks for a second and
 * prints 42). Inside weft_run, the main coroutine starts it and waits for its answer with
 * weft_subprocess_communicate; the wait suspends only main (the child's pipe and its pidfd
 * are in the loop's epoll), so the loop keeps drawing the spinner meanwhile. Then main
 * cancels the spinner, which clears its line and returns.
 *
 * What it shows:
 *   - a child process is one more thing a coroutine can wait for, without blocking its
 *     loop and without a SIGCHLD handler;
 *   - communicate reads the answer from the child's stdout; the return code comes with it.
 *
 * Exits 0 if the answer is right and the spinner drew frames while the child worked.
 */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void put(const char *s, size_t n)
{
    ssize_t r = write(STDOUT_FILENO, s, n);
    (void)r;
}

static int spin(void *arg, void **result)
{
    long *frames = arg;
    (void)result;
    static const char bars[] = "|/-\\";
    for (;;) {
        char frame[16];
        int n = snprintf(frame, sizeof frame, "\r%c thinking", bars[*frames % 4]);
        put(frame, (size_t)n);
        ++*frames;
        if (weft_sleep(50 * WEFT_MS) != 0) break;   /* cancelled: stop */
    }
    put("\r           \r", 13);                      /* clean up the line */
    return 0;
}

typedef struct {
    int answer;
    int returncode;
    long frames;
    long frames_during;
} outcome;

static int supervisor(void *arg, void **result)
{
    (void)result;
    outcome *out = arg;
    weft_future *spinner;
    int rc = weft_spawn(&spinner, spin, &out->frames);
    if (rc) return rc;

    const char *argv[] = { "sh", "-c", "sleep 1; echo 42", NULL };
    weft_subprocess_opts o = WEFT_SUBPROCESS_OPTS_INIT;
    o.stdout_mode = WEFT_STDIO_PIPE;
    weft_subprocess *child;
    rc = weft_subprocess_start(&child, argv, &o);
    if (rc == 0) {
        long before = out->frames;
        weft_subprocess_result r;
        rc = weft_subprocess_communicate(child, NULL, 0, 10 * WEFT_SEC, &r);
        out->frames_during = out->frames - before;
        if (rc == 0) {
            out->answer = atoi(r.out);
            out->returncode = r.returncode;
            weft_subprocess_result_free(&r);
        }
        weft_subprocess_destroy(child);
    }
    weft_future_cancel(spinner);
    weft_future_result(spinner, 5 * WEFT_SEC, NULL);
    weft_future_release(spinner);
    return rc;
}

int main(void)
{
    outcome out = { 0, -1, 0, 0 };
    int rc = weft_run(supervisor, &out, NULL);
    printf("Answer: %d (the child's return code: %d)\n", out.answer, out.returncode);
    printf("(the spinner drew %ld frames while the child worked)\n", out.frames_during);
    bool ok = rc == 0 && out.answer == 42 && out.returncode == 0 && out.frames_during >= 5;
    if (!ok) fprintf(stderr, "spinner_process: FAILED (%s)\n", weft_strerror(rc));
    return ok ? 0 : 1;
}
