/* spinners.c — tour section 5: the seeds' spinner turns while a slow call runs — the
 * spinner as a thread, as a coroutine, and as a child process. Each counts its turns (one
 * every 20 ms); the count shows it kept turning while the slow call had the caller. */
#include "tour.h"

#include <stdatomic.h>
#include <stdio.h>

#define SLOW (300 * WEFT_MS)
#define TURN (20 * WEFT_MS)

typedef struct {
    weft_event *stop;
    _Atomic int turns;
} spinner;

/* A thread's or a coroutine's spinner: a turn per TURN until stop is set. */
static int spin(void *arg, void **result)
{
    (void)result;
    spinner *s = arg;
    while (weft_event_wait(s->stop, TURN) == -ETIMEDOUT) atomic_fetch_add(&s->turns, 1);
    return 0;
}

/* 1. A spinner thread; the slow call blocks the main thread. */
static int as_thread(spinner *s)
{
    weft_thread *t;
    int rc = weft_thread_start(&t, NULL, spin, s);
    if (rc) return rc;
    weft_sleep(SLOW);                               /* the slow call */
    weft_event_set(s->stop);
    rc = weft_thread_join(t, WEFT_FOREVER, NULL);
    weft_thread_release(t);
    return rc;
}

/* 2. A spinner coroutine; another coroutine of the same thread waits for a slow child
 * program (`sleep 0.3`): only that coroutine parks, the loop runs the spinner. */
static int as_coroutine(void *arg, void **result)
{
    (void)result;
    spinner *s = arg;
    weft_future *sp;
    int rc = weft_spawn(&sp, spin, s);
    if (rc) return rc;
    const char *argv[] = { "sleep", "0.3", NULL };
    weft_subprocess_result r = { 0 };
    rc = weft_subprocess_run(&r, argv, NULL, NULL, 0, 10 * WEFT_SEC, WEFT_SUBPROCESS_CHECK);
    weft_subprocess_result_free(&r);
    weft_event_set(s->stop);
    weft_future_result(sp, WEFT_FOREVER, NULL);
    weft_future_release(sp);
    return rc;
}

#ifndef TOUR_NO_FORK
/* 3. A spinner process, stopped through an event both processes share; its exit code is
 * the number of turns (at most 255). */
static weft_shared_event *shared_stop;

static int spin_in_child(void *arg)
{
    (void)arg;
    int turns = 0;
    while (weft_shared_event_wait(shared_stop, TURN) == -ETIMEDOUT) turns++;
    return turns > 255 ? 255 : turns;
}

/* Returns the child's turns (>= 0) or an error; -ENOSYS: no processes here. */
static int as_process(void)
{
    int rc = weft_shared_event_create(&shared_stop);
    if (rc) return rc;
    weft_process *p;
    rc = weft_process_start(&p, NULL, spin_in_child, NULL);
    if (rc == 0) {
        weft_sleep(SLOW);                           /* the slow call, here */
        weft_shared_event_set(shared_stop);
        int code = 0;
        rc = weft_process_join(p, 10 * WEFT_SEC, &code);
        weft_process_release(p);
        if (rc == 0) rc = code < 0 ? -EPROTO : code;
    }
    weft_shared_event_destroy(shared_stop);
    return rc;
}
#endif

static void report(tour_row *r, int rc, int turns)
{
    char note[96];
    snprintf(note, sizeof note, "the spinner turned %d times meanwhile", turns);
    tour_row_end(r, 0, note);
    if (rc < 0) tour_fail(weft_strerror(rc));
    else if (turns < 3) tour_fail("the spinner did not turn");
}

void tour_spinners(void)
{
    tour_heading("5. A spinner turns while a slow call (0.3 s) runs",
                 "As a thread beside a blocked thread, as a coroutine beside a coroutine "
                 "waiting for a child program, as a child process beside this one.");
    spinner s = { 0 };
    if (weft_event_create(&s.stop)) {
        tour_fail("no event");
        return;
    }
    tour_columns(false);
    tour_row r;
    tour_row_begin(&r, "spinner thread");
    int rc = as_thread(&s);
    report(&r, rc, atomic_load(&s.turns));

    weft_event_clear(s.stop);
    atomic_store(&s.turns, 0);
    tour_row_begin(&r, "spinner coroutine, `sleep 0.3` child");
    rc = weft_run(as_coroutine, &s, NULL);
    report(&r, rc, atomic_load(&s.turns));
    weft_event_destroy(s.stop);

    tour_row_begin(&r, "spinner process");
#ifdef TOUR_NO_FORK
    tour_row_skip(&r, TOUR_NO_FORK);
#else
    rc = as_process();
    if (rc == -ENOSYS) tour_row_skip(&r, "no pidfd_open here");
    else report(&r, rc < 0 ? rc : 0, rc < 0 ? 0 : rc);
#endif
}
