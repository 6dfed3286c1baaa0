/* Issue 11, bug 4: a waker can touch a freed loop (src/loop/waiter.c, weft__waiter_claim).
 * The claim's CAS comes before weft__loop_ref; when the waiter is a thread's own context
 * (main, running its loop because it has live coroutines), main returns as soon as it sees
 * the state change, and its thread may end and free the loop before the claimer has taken
 * its reference: the claimer's ref, its post of main's node and its poke then touch freed
 * memory (ASan: heap-use-after-free in weft__waiter_claim / weft__wake_deliver).
 *
 * Each try: a thread with a loop (one coroutine asleep, so its own waits run the loop)
 * waits on an event; this thread sets the event once the wait is parked; the waiting
 * thread returns at once and ends, freeing its loop. Perturbation point that widens the
 * window: waiter.claim. The check is ASan's (this test is meant for the ASan perturbation
 * build); without ASan a hit may pass unseen or crash.
 */
#include "perturb_check.h"

static int sleeper(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_sleep(WEFT_FOREVER);            /* cancelled at thread exit */
    return 0;
}

static int waiting_thread(void *arg, void **result)
{
    (void)result;
    weft_event *ev = arg;
    CHECK_OK(weft_spawn(NULL, sleeper, NULL));
    CHECK_OK(weft_yield());                 /* the sleeper parks: the loop has a live one */
    CHECK_OK(weft_event_wait(ev, 10 * WEFT_SEC));
    return 0;                               /* the thread ends: its loop goes */
}

static void test_wake_of_an_ending_thread(void)
{
    int tries = perturb_tries(slow_tools() ? 2000 : 5000);
    int64_t budget = 30 * WEFT_SEC, t0 = weft_now();
    int done = 0;
    for (int i = 0; i < tries && weft_now() - t0 < budget; i++, done++) {
        weft_event *ev;
        CHECK_OK(weft_event_create(&ev));
        weft_thread *t;
        CHECK_OK(weft_thread_start(&t, NULL, waiting_thread, ev));
        while (weft_event_waiters(ev) == 0) sched_yield();
        CHECK_OK(weft_event_set(ev));
        join_and_release(t);
        weft_event_destroy(ev);
    }
    printf("   %d tries\n", done);
    fflush(stdout);
}

int main(void)
{
    RUN(test_wake_of_an_ending_thread);
    return check_done();
}
