/* spinner_multiprocess.c — seed scenario 1 with a child process: the spinner turns in
 * another process while this one does the slow work, and stops when told through an event
 * both processes share.
 *
 * The event (weft_shared_event) is made before the child starts, so the child has it too.
 * The child draws a frame, then waits on the event for 100 ms: a timeout means "draw the
 * next frame", the event set means "clear the line and stop" (Python's done.wait(.1)).
 * The parent computes (here: a second of sleeping, standing for a slow call), sets the
 * event, joins the child and prints the answer.
 *
 * What it shows:
 *   - a shared event is a signal between processes, with the same calls (set, wait with a
 *     timeout) as the event between threads;
 *   - the child's exit code comes back through weft_process_join.
 *
 * Exits 0 if the answer is right and the child drew frames and stopped on the event.
 * Where processes cannot be started (no pidfd_open: Valgrind), says so and exits 0.
 */
#include <weft.h>

#include <stdio.h>
#include <unistd.h>

static weft_shared_event *done;

static void put(const char *s, size_t n)
{
    ssize_t r = write(STDOUT_FILENO, s, n);
    (void)r;
}

/* The child: frames until the event is set; exits with how many it drew (at most 255). */
static int spin(void *arg)
{
    (void)arg;
    static const char bars[] = "|/-\\";
    int frames = 0;
    for (;;) {
        char frame[16];
        int n = snprintf(frame, sizeof frame, "\r%c thinking", bars[frames % 4]);
        put(frame, (size_t)n);
        frames++;
        int rc = weft_shared_event_wait(done, 100 * WEFT_MS);
        if (rc == 0) break;                           /* told to stop */
        if (rc != -ETIMEDOUT) return 0;
    }
    put("\r           \r", 13);
    return frames > 255 ? 255 : frames;
}

static int slow(void)
{
    weft_sleep(1 * WEFT_SEC);
    return 42;
}

int main(void)
{
    if (weft_shared_event_create(&done)) return 1;
    weft_process *child;
    int rc = weft_process_start(&child, NULL, spin, NULL);
    if (rc == -ENOSYS) {
        printf("(skipped: processes cannot be started here: no pidfd_open)\n");
        return 0;
    }
    if (rc) {
        fprintf(stderr, "weft_process_start: %s\n", weft_strerror(rc));
        return 1;
    }
    int answer = slow();
    weft_shared_event_set(done);
    int frames = 0;
    rc = weft_process_join(child, 10 * WEFT_SEC, &frames);
    weft_process_release(child);
    weft_shared_event_destroy(done);
    printf("Answer: %d (the spinner process drew %d frames)\n", answer, frames);
    return rc == 0 && answer == 42 && frames >= 3 ? 0 : 1;
}
