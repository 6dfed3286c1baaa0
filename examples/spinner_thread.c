/* spinner_thread.c — seed scenario 1: a spinner on a thread while a slow call runs.
 *
 * The classic from Fluent Python: the main thread does something slow; meanwhile a second
 * thread animates a spinning bar so the user sees that the program is alive. When the slow
 * call returns, main sets an event; the spinner notices, clears its line and ends, and main
 * joins it before printing the answer.
 *
 * What it shows:
 *   - weft_thread_start / weft_thread_join (threading.Thread.start / .join), with a result;
 *   - weft_event as threading.Event, and the idiom "wait on the event with a timeout" as
 *     the spinner's pause: the wait is the 50 ms tick, and it returns early (0) the moment
 *     the event is set, so the spinner stops at once instead of finishing a sleep.
 *
 * Exits 0 if the answer is right, the spinner drew some frames and stopped when told.
 */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* Writes s to stdout at once: the spinner redraws one line with "\r", unbuffered. */
static void put(const char *s, size_t n)
{
    ssize_t r = write(STDOUT_FILENO, s, n);
    (void)r;   /* a spinner that cannot draw is still a spinner */
}

/* The spinner thread: draws "\r|", "\r/", "\r-", "\r\\" ... until `done` is set.
 * Its result is the number of frames it drew. */
static int spin(void *arg, void **result)
{
    weft_event *done = arg;
    static const char bars[] = "|/-\\";
    long frames = 0;
    for (;;) {
        char frame[2] = { '\r', bars[frames % 4] };
        put(frame, sizeof frame);
        frames++;
        int rc = weft_event_wait(done, 50 * WEFT_MS);
        if (rc == 0) break;                    /* set: time to stop */
        if (rc != -ETIMEDOUT) return rc;       /* anything else is a real error */
    }
    put("\r \r", 3);                           /* clear the line for the answer */
    *result = (void *)(intptr_t)frames;
    return 0;
}

/* The "slow computation": a blocking call that takes a second. */
static int slow(void)
{
    weft_sleep(1 * WEFT_SEC);
    return 42;
}

int main(void)
{
    weft_event *done;
    if (weft_event_create(&done) != 0) return 1;

    weft_thread_opts opts = WEFT_THREAD_OPTS_INIT;
    opts.name = "spinner";
    weft_thread *spinner;
    int rc = weft_thread_start(&spinner, &opts, spin, done);
    if (rc != 0) {
        fprintf(stderr, "cannot start the spinner: %s\n", weft_strerror(rc));
        return 1;
    }
    printf("spinner object: thread '%s'\n", weft_thread_name(spinner));
    fflush(stdout);        /* before the spinner's unbuffered writes share the line */

    int64_t t0 = weft_now();
    int answer = slow();
    weft_event_set(done);                      /* tell the spinner to stop... */
    void *frames = NULL;
    rc = weft_thread_join(spinner, 5 * WEFT_SEC, &frames);   /* ...and wait until it has */
    int64_t stopped_after = weft_now() - t0;
    weft_thread_release(spinner);
    weft_event_destroy(done);

    printf("Answer: %d\n", answer);
    printf("(the spinner drew %ld frames in %.2f s)\n", (long)(intptr_t)frames,
           (double)stopped_after / WEFT_SEC);

    /* Check our own outcome: the join worked, the spinner really spun (about 20 frames in
     * a second; generous bounds for a loaded machine) and stopped soon after the set. */
    bool ok = rc == 0 && answer == 42 && (intptr_t)frames >= 5 && (intptr_t)frames <= 200 &&
              stopped_after < 5 * WEFT_SEC;
    if (!ok) fprintf(stderr, "spinner_thread: FAILED (join: %s)\n", weft_strerror(rc));
    return ok ? 0 : 1;
}
