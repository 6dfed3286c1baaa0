/* spinner_coro.c — seed scenario 1, coroutine version: a spinner coroutine, cancelled.
 *
 * The asyncio flavour of the spinner: everything runs on one thread, inside weft_run. The
 * main coroutine spawns a spinner coroutine, then makes the slow call itself. A blocking
 * weft call in a coroutine suspends only that coroutine, so the loop runs the spinner while
 * main waits. When the slow call returns, main cancels the spinner (weft_future_cancel, as
 * task.cancel()) and waits for it. Cancellation is not a kill: it arrives as -ECANCELED
 * from the spinner's current blocking call (its sleep), and the spinner cleans up — clears
 * its line — and returns normally.
 *
 * What it shows:
 *   - weft_run (asyncio.run), weft_spawn (create_task), weft_future_result (await task);
 *   - cooperative cancellation: a blocking call returning -ECANCELED, then cleanup;
 *   - no function colours: slow() is a plain C function that happens to call weft_sleep.
 *
 * Exits 0 if the answer is right, the spinner drew some frames and cleaned up.
 */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static void put(const char *s, size_t n)
{
    ssize_t r = write(STDOUT_FILENO, s, n);
    (void)r;
}

/* The spinner coroutine. Its result is the number of frames drawn; it returns 0 after a
 * clean stop, so the cancellation is "absorbed" and its future carries that result. */
static int spin(void *arg, void **result)
{
    bool *cleaned_up = arg;
    static const char bars[] = "|/-\\";
    long frames = 0;
    for (;;) {
        char frame[2] = { '\r', bars[frames % 4] };
        put(frame, sizeof frame);
        frames++;
        int rc = weft_sleep(50 * WEFT_MS);     /* only this coroutine sleeps */
        if (rc == -ECANCELED) break;           /* main says stop */
        if (rc != 0) return rc;
    }
    put("\r \r", 3);                           /* the cleanup: clear the line */
    *cleaned_up = true;
    *result = (void *)(intptr_t)frames;
    return 0;
}

/* The slow call: in a coroutine, weft_sleep lets the loop run the others meanwhile. */
static int slow(void)
{
    weft_sleep(1 * WEFT_SEC);
    return 42;
}

typedef struct {
    int answer;
    long frames;
    bool cleaned_up;
} outcome;

static int supervisor(void *arg, void **result)
{
    (void)result;
    outcome *out = arg;
    weft_spawn_opts opts = WEFT_SPAWN_OPTS_INIT;
    opts.name = "spinner";
    weft_future *spinner;
    int rc = weft_spawn_ex(&spinner, &opts, spin, &out->cleaned_up);
    if (rc != 0) return rc;
    /* It has not started yet: a spawned task first runs when its spawner blocks. */
    printf("spinner object: task '%s'\n", weft_task_name(spinner));
    fflush(stdout);

    out->answer = slow();
    weft_future_cancel(spinner);               /* ask it to stop... */
    void *frames = NULL;
    rc = weft_future_result(spinner, 5 * WEFT_SEC, &frames);   /* ...and wait until it has */
    out->frames = (long)(intptr_t)frames;
    weft_future_release(spinner);
    return rc;
}

int main(void)
{
    outcome out = { 0, 0, false };
    int rc = weft_run(supervisor, &out, NULL);
    printf("Answer: %d\n", out.answer);
    printf("(the spinner drew %ld frames)\n", out.frames);

    bool ok = rc == 0 && out.answer == 42 && out.cleaned_up && out.frames >= 5 &&
              out.frames <= 200;
    if (!ok) fprintf(stderr, "spinner_coro: FAILED (%s)\n", weft_strerror(rc));
    return ok ? 0 : 1;
}
