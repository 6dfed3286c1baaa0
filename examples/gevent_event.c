/* gevent_event.c — seed scenario 10: one setter wakes five waiters (gevent's Event).
 *
 * gevent's example: five greenlets wait on an Event; one more sleeps, then sets it, and
 * all five wake. weft_event is that Event, and it works across every boundary:
 *
 *   phase 1  everything on one loop: inside weft_run, five waiter coroutines and a setter
 *            coroutine that sleeps 100 ms, then sets the event;
 *   phase 2  across threads and loops: two threads each run their own loop (weft_run) with
 *            waiter coroutines on it (3 + 2), and a plain setter *thread* sets the event.
 *            One call from a thread wakes coroutines suspended on two other loops.
 *
 * What it shows: weft_event_wait suspends only the calling coroutine, whatever sets the
 * event; waking works from a coroutine, from another thread, and into other loops.
 *
 * Exits 0 if, in both phases, all five waiters woke because of the set.
 */
#include <weft.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

enum { WAITERS = 5 };

typedef struct {
    weft_event *evt;
    atomic_int waiting;       /* waiters that have started waiting */
    atomic_int woken;         /* waiters woken by the set */
    int64_t t0;               /* when the phase began, for the printout */
} phase;

typedef struct {
    phase *ph;
    int id;
} waiter_arg;

static double ms_since(int64_t t0)
{
    return (double)(weft_now() - t0) / WEFT_MS;
}

/* A waiter: waits (bounded, so that a lost wake-up fails instead of hanging). */
static int waiter(void *arg, void **result)
{
    (void)result;
    waiter_arg *w = arg;
    atomic_fetch_add(&w->ph->waiting, 1);
    int rc = weft_event_wait(w->ph->evt, 5 * WEFT_SEC);
    if (rc != 0) {
        fprintf(stderr, "waiter %d: %s\n", w->id, weft_strerror(rc));
        return rc;
    }
    atomic_fetch_add(&w->ph->woken, 1);
    printf("  waiter %d woke at %5.1f ms\n", w->id, ms_since(w->ph->t0));
    return 0;
}

/* The setter, usable as a coroutine or as a thread: once every waiter waits, a little
 * more time (so they are really parked in their waits), then one set wakes them all. */
static int setter(void *arg, void **result)
{
    (void)result;
    phase *ph = arg;
    while (atomic_load(&ph->waiting) < WAITERS) weft_sleep(WEFT_MS);
    weft_sleep(100 * WEFT_MS);
    printf("  setter: setting the event at %5.1f ms (%s)\n", ms_since(ph->t0),
           weft_in_coroutine() ? "from a coroutine" : "from a thread");
    return weft_event_set(ph->evt);
}

/* Spawns waiters [first, first + n) on the calling loop and waits for them all. */
static int run_waiters(phase *ph, int first, int n)
{
    waiter_arg args[WAITERS];
    weft_future *f[WAITERS];
    int rc = 0;
    for (int i = 0; i < n; i++) {
        args[i] = (waiter_arg){ ph, first + i };
        int r = weft_spawn(&f[i], waiter, &args[i]);
        if (r != 0) { n = i; rc = r; break; }
    }
    for (int i = 0; i < n; i++) {
        int r = weft_future_result(f[i], WEFT_FOREVER, NULL);
        if (rc == 0) rc = r;
        weft_future_release(f[i]);
    }
    return rc;
}

/* ---- phase 1: one loop, six coroutines ---------------------------------------------- */

static int phase1_main(void *arg, void **result)
{
    (void)result;
    phase *ph = arg;
    weft_future *set;
    int rc = weft_spawn(&set, setter, ph);
    if (rc != 0) return rc;
    rc = run_waiters(ph, 0, WAITERS);
    int r = weft_future_result(set, WEFT_FOREVER, NULL);
    weft_future_release(set);
    return rc != 0 ? rc : r;
}

/* ---- phase 2: two loops on two threads, a setter thread ----------------------------- */

typedef struct {
    phase *ph;
    int first, n;             /* the waiters this loop hosts */
} loop_arg;

static int loop_main(void *arg, void **result)
{
    (void)result;
    loop_arg *la = arg;
    return run_waiters(la->ph, la->first, la->n);
}

/* A thread's body: its own loop, running its share of the waiters. */
static int loop_thread(void *arg, void **result)
{
    return weft_run(loop_main, arg, result);
}

static int phase2(phase *ph)
{
    loop_arg la[2] = { { ph, 0, 3 }, { ph, 3, 2 } };
    weft_thread *loops[2], *set;
    int started = 0, rc = 0;
    while (started < 2 &&
           (rc = weft_thread_start(&loops[started], NULL, loop_thread, &la[started])) == 0)
        started++;
    if (rc == 0) rc = weft_thread_start(&set, NULL, setter, ph);
    if (rc == 0) {
        rc = weft_thread_join(set, WEFT_FOREVER, NULL);
        weft_thread_release(set);
    } else {
        weft_event_set(ph->evt);   /* let the started waiters go */
    }
    for (int i = 0; i < started; i++) {
        int r = weft_thread_join(loops[i], WEFT_FOREVER, NULL);
        if (rc == 0) rc = r;
        weft_thread_release(loops[i]);
    }
    return rc;
}

/* Runs one phase; true if all five waiters woke. */
static bool run_phase(const char *title, int (*body)(phase *))
{
    phase ph;
    if (weft_event_create(&ph.evt) != 0) return false;
    atomic_init(&ph.waiting, 0);
    atomic_init(&ph.woken, 0);
    ph.t0 = weft_now();
    printf("%s\n", title);
    int rc = body(&ph);
    int woken = atomic_load(&ph.woken);
    printf("  %d of %d waiters woke (%s)\n", woken, WAITERS, weft_strerror(rc));
    weft_event_destroy(ph.evt);
    return rc == 0 && woken == WAITERS;
}

static int phase1(phase *ph)
{
    return weft_run(phase1_main, ph, NULL);
}

int main(void)
{
    bool ok1 = run_phase("phase 1: five waiter coroutines and a setter coroutine, one loop",
                         phase1);
    bool ok2 = run_phase("phase 2: waiter coroutines on two loops (two threads), "
                         "a setter thread", phase2);
    if (!ok1 || !ok2) fprintf(stderr, "gevent_event: FAILED\n");
    return ok1 && ok2 ? 0 : 1;
}
