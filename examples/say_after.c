/* say_after.c — seed scenario 2: asyncio's say_after, sequential and concurrent.
 *
 * From the asyncio documentation:
 *
 *     async def say_after(delay, what):
 *         await asyncio.sleep(delay)
 *         print(what)
 *
 * Awaiting say_after(1, 'hello') and then say_after(2, 'world') takes 1 + 2 = 3 s; running
 * both as tasks and then awaiting them takes only the longest delay, 2 s; so does running
 * them in a TaskGroup (async with asyncio.TaskGroup() as tg: tg.create_task(...)), where
 * leaving the block waits for both. Here the delays are 100 ms and 200 ms, so the runs take
 * about 300 ms, 200 ms and 200 ms.
 *
 * What it shows:
 *   - "await coro()" in weft is a plain function call: say_after is an ordinary C function
 *     with the weft_fn signature, and calling it from a coroutine runs it right there,
 *     suspending the caller in its sleep (there are no function colours);
 *   - weft_spawn (asyncio.create_task) starts it as a task that runs concurrently;
 *     weft_future_result (await task) waits for it;
 *   - a task group (weft_group_*, asyncio.TaskGroup): spawn into it, leave it with
 *     weft_group_wait; had one task failed, the other would have been cancelled and the
 *     first error returned.
 *
 * Exits 0 if the sequential run took at least the sum of the delays and the concurrent run
 * took at least the longest delay but less than the sum.
 */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

typedef struct {
    int64_t delay;          /* nanoseconds */
    const char *what;
} say_arg;

static int say_after(void *arg, void **result)
{
    (void)result;
    const say_arg *s = arg;
    int rc = weft_sleep(s->delay);
    if (rc != 0) return rc;                    /* cancelled */
    printf("%s\n", s->what);
    return 0;
}

/* Prints "<label> at HH:MM:SS.mmm", like the docs' time.strftime('%X') (with milliseconds,
 * since our delays are short). */
static void print_time(const char *label)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%X", &tm);
    printf("%s at %s.%03ld\n", label, hms, ts.tv_nsec / 1000000);
}

static const say_arg hello = { 100 * WEFT_MS, "hello" };
static const say_arg world = { 200 * WEFT_MS, "world" };

/* await say_after(...); await say_after(...): one after the other. */
static int sequential(void *arg, void **result)
{
    (void)arg; (void)result;
    print_time("started");
    int rc = say_after((void *)&hello, NULL);
    if (rc == 0) rc = say_after((void *)&world, NULL);
    print_time("finished");
    return rc;
}

/* task1 = create_task(...); task2 = create_task(...); await task1; await task2. */
static int concurrent(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *task1, *task2;
    int rc = weft_spawn(&task1, say_after, (void *)&hello);
    if (rc != 0) return rc;
    rc = weft_spawn(&task2, say_after, (void *)&world);
    if (rc != 0) {
        weft_future_release(task1);
        return rc;
    }
    print_time("started");
    /* Wait until both tasks are completed (should take around 200 ms). */
    rc = weft_future_result(task1, WEFT_FOREVER, NULL);
    int rc2 = weft_future_result(task2, WEFT_FOREVER, NULL);
    print_time("finished");
    weft_future_release(task1);
    weft_future_release(task2);
    return rc != 0 ? rc : rc2;
}

/* async with asyncio.TaskGroup() as tg: tg.create_task(...) twice; leaving waits for both. */
static int grouped(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_group *tg;
    int rc = weft_group_create(&tg);
    if (rc != 0) return rc;
    print_time("started");
    rc = weft_group_spawn(tg, NULL, NULL, say_after, (void *)&hello);
    if (rc == 0) rc = weft_group_spawn(tg, NULL, NULL, say_after, (void *)&world);
    if (rc != 0) weft_group_cancel(tg);        /* the one spawned, if any, is stopped */
    int wrc = weft_group_wait(tg);             /* the end of the "async with" block */
    print_time("finished");
    weft_group_destroy(tg);
    return rc != 0 ? rc : wrc;
}

/* Runs main_fn under weft_run; returns its duration in ms, or -1 if it failed. */
static long timed_run(const char *title, weft_fn main_fn)
{
    printf("-- %s\n", title);
    int64_t t0 = weft_now();
    int rc = weft_run(main_fn, NULL, NULL);
    long ms = (long)((weft_now() - t0) / WEFT_MS);
    if (rc != 0) {
        fprintf(stderr, "%s failed: %s\n", title, weft_strerror(rc));
        return -1;
    }
    printf("took %ld ms\n", ms);
    return ms;
}

int main(void)
{
    long seq = timed_run("awaiting one after the other", sequential);
    long con = timed_run("as two concurrent tasks", concurrent);
    long grp = timed_run("in a task group", grouped);

    /* Generous upper bounds for a loaded machine; the concurrent runs must beat the sum of
     * the delays, which no one-after-the-other run can. */
    bool ok = seq >= 300 && seq < 5000 && con >= 200 && con < 300 && grp >= 200 && grp < 300;
    if (!ok) fprintf(stderr, "say_after: FAILED (sequential %ld ms, expected >= 300; "
                     "concurrent %ld ms and group %ld ms, expected in [200, 300))\n",
                     seq, con, grp);
    return ok ? 0 : 1;
}
