/* threads.c — tour sections 3 and 7: the lost update (two threads, a counter, without and
 * with a lock), and daemon vs non-daemon threads at the program's exit. */
#include "tour.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- 3. The lost update ------------------------------------------------------------------ */

#define ADDS 1000000
static _Atomic long counter;
static weft_lock *counter_lock;

/* Between the read and the write, now and then the thread gives up its CPU, as Python's
 * interpreter switches threads every 5 ms, whatever bytecode it is in: the other thread's
 * additions made meanwhile are then overwritten. (Without it, on a machine with a core per
 * thread, the two steps collide too, just less visibly.) */
static void in_between(int i)
{
    if (i % 10000 == 0) sched_yield();
}

/* counter = counter + 1 in two steps, as `count += 1` is (relaxed atomics: the race is real,
 * without undefined behaviour). */
static int add_unlocked(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < ADDS; i++) {
        long v = atomic_load_explicit(&counter, memory_order_relaxed);
        in_between(i);
        atomic_store_explicit(&counter, v + 1, memory_order_relaxed);
    }
    return 0;
}

static int add_locked(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < ADDS; i++) {
        weft_lock_acquire(counter_lock, WEFT_FOREVER);
        long v = atomic_load_explicit(&counter, memory_order_relaxed);
        in_between(i);
        atomic_store_explicit(&counter, v + 1, memory_order_relaxed);
        weft_lock_release(counter_lock);
    }
    return 0;
}

/* Both threads start adding at the same moment (a thread's million additions take a few
 * milliseconds: without the gate the first could be done before the second starts). */
static weft_barrier *gate;

static int add_unlocked_gated(void *arg, void **result)
{
    weft_barrier_wait(gate, WEFT_FOREVER);
    return add_unlocked(arg, result);
}

static int add_locked_gated(void *arg, void **result)
{
    weft_barrier_wait(gate, WEFT_FOREVER);
    return add_locked(arg, result);
}

/* The counter after two threads ran fn, or -1 if they could not run. */
static long count_with(weft_fn fn)
{
    atomic_store(&counter, 0);
    weft_thread *t[2];
    int started = 0;
    if (weft_barrier_create(&gate, 2, NULL, NULL) != 0) return -1;
    for (; started < 2; started++)
        if (weft_thread_start(&t[started], NULL, fn, NULL) != 0) break;
    if (started < 2) weft_barrier_abort(gate);     /* the one started does not wait for ever */
    for (int i = 0; i < started; i++) {
        weft_thread_join(t[i], WEFT_FOREVER, NULL);
        weft_thread_release(t[i]);
    }
    weft_barrier_destroy(gate);
    return started == 2 ? atomic_load(&counter) : -1;
}

void tour_counter(void)
{
    tour_heading("3. The lost update: two threads each add 1 to a counter a million times",
                 "Reading and writing back are two steps; another thread's step can fall in "
                 "between, and an addition is lost.");
    if (weft_lock_create(&counter_lock) != 0) {
        tour_fail("no lock");
        return;
    }
    tour_columns(false);
    tour_row r;
    tour_row_begin(&r, "without a lock");
    long c = 2L * ADDS;
    for (int tries = 0; tries < 5 && c == 2L * ADDS; tries++)   /* a race may not strike */
        c = count_with(add_unlocked_gated);
    char note[96];
    if (c < 0) snprintf(note, sizeof note, "(the threads could not start)");
    else snprintf(note, sizeof note, "counter = %ld (%ld additions lost)", c, 2L * ADDS - c);
    tour_row_end(&r, 0, note);
    if (c < 0) tour_fail("no threads");
    else if (c == 2L * ADDS)
        tour_remark("this time no addition was lost in 5 tries: the race is real, but "
                    "chance decides when it strikes");
    tour_row_begin(&r, "with a weft_lock");
    c = count_with(add_locked_gated);
    snprintf(note, sizeof note, "counter = %ld", c);
    tour_row_end(&r, 0, note);
    if (c != 2L * ADDS) tour_fail("the locked counter is wrong");
    weft_lock_destroy(counter_lock);
}

/* ---- 7. Daemon and non-daemon threads at exit ---------------------------------------------- */

#define WORK (300 * WEFT_MS)

#ifdef TOUR_TSAN
/* TSan sleeps a second at exit by default (to catch races with exit), which lets a daemon
 * thread finish its work and hides what this section shows. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "atexit_sleep_ms=0"; }
#endif

static void say(const char *line)
{
    fputs(line, stdout);
    fflush(stdout);
}

/* The thread of the child program: says it started, works WORK, says it finished. */
static int worker(void *arg, void **result)
{
    (void)result;
    say("thread: started\n");
    weft_event_set(arg);
    weft_sleep(WORK);
    say("thread: finished its work\n");
    return 0;
}

/* Static: the thread may still be inside weft_event_set when main's wait returns, so main
 * never destroys it; the program's end does. */
static weft_event *started;

int tour_exit_child(const char *kind)
{
    weft_thread *t;
    weft_thread_opts o = WEFT_THREAD_OPTS_INIT;
    o.daemon = strcmp(kind, "daemon") == 0;
    if (weft_event_create(&started) || weft_thread_start(&t, &o, worker, started)) return 2;
    weft_event_wait(started, WEFT_FOREVER);
    weft_thread_release(t);              /* not joined: what happens at exit is the point */
    say("main: returning from main\n");
    return 0;
}

/* Runs `self --exit-demo kind` as a child program and shows how long its exit took and
 * whether the thread's last line came out. */
static void exit_row(const char *self, const char *kind, const char *label)
{
    const char *argv[] = { self, "--exit-demo", kind, NULL };
    tour_row r;
    tour_row_begin(&r, label);
    weft_subprocess_result res = { 0 };
    int rc = weft_subprocess_run(&res, argv, NULL, NULL, 0, TOUR_TIMEOUT,
                                 WEFT_SUBPROCESS_CAPTURE);
    bool daemon = strcmp(kind, "daemon") == 0;
    bool finished = rc == 0 && res.out && strstr(res.out, "thread: finished") != NULL;
    bool returned = rc == 0 && res.out && strstr(res.out, "main: returning") != NULL;
    tour_row_end(&r, 0, finished ? "exit waited for it: \"thread: finished its work\""
                                 : "exit did not wait: the thread's last line never came");
    if (rc || res.returncode != 0 || !returned) tour_fail("the child program failed");
    else if (finished == daemon) tour_fail(daemon ? "exit waited for a daemon thread"
                                                  : "exit did not wait for the thread");
    weft_subprocess_result_free(&res);
}

void tour_exit(const char *self)
{
    tour_heading("7. A program returns from main while a thread works (300 ms left)",
                 "Exit waits for non-daemon threads, as Python's does; a daemon thread is "
                 "abandoned mid-work (weft_thread_opts.daemon).");
    tour_columns(false);
    exit_row(self, "non-daemon", "non-daemon thread");
    exit_row(self, "daemon", "daemon thread");
}
