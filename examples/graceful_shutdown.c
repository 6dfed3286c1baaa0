/* graceful_shutdown.c — seed scenario 8: Ctrl+C that lets in-flight work finish.
 *
 * The seed notes' complaint: a ThreadPoolExecutor that will not stop on Ctrl+C, a second
 * Ctrl+C needed to get out, work half-written when the process dies. Here main runs under
 * weft_run_graceful: the first SIGINT cancels main, whose cleanup shuts the pool down with
 * cancel_futures — the jobs already running finish and write their whole record, the
 * queued ones never start — and a second Ctrl+C would end the process at once (status
 * 130). To run unattended (make demo, CI), a thread presses "Ctrl+C" itself (kill SIGINT)
 * 150 ms in; press it yourself with `examples/graceful_shutdown --wait`.
 *
 * Exits 0 if every job either completed or was cancelled, some of each, and each completed
 * job's record is whole.
 */
#include <weft.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define JOBS 100

static char records[JOBS][48];        /* what each job "writes": whole, or not at all */
static bool all_accounted;

static int job(void *arg, void **result)
{
    (void)result;
    int i = (int)(intptr_t)arg;
    usleep(20000);                            /* 20 ms of work that cannot be interrupted */
    snprintf(records[i], sizeof records[i], "job %d: all of its work, written", i);
    return 0;
}

static int press_ctrl_c(void *arg, void **result)
{
    (void)arg; (void)result;
    usleep(150000);
    printf("  (pressing Ctrl+C: SIGINT to the process)\n");
    fflush(stdout);
    kill(getpid(), SIGINT);
    return 0;
}

static int main_coroutine(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_pool *pool;
    weft_pool_opts o = { 4 };
    int rc = weft_pool_create(&pool, &o);
    if (rc) return rc;
    weft_future *f[JOBS];
    for (int i = 0; i < JOBS; i++)
        if ((rc = weft_pool_submit(pool, &f[i], job, (void *)(intptr_t)i)) != 0) return rc;
    printf("  %d jobs submitted to a pool of 4; waiting for them\n", JOBS);
    for (int i = 0; i < JOBS && rc == 0; i++) rc = weft_future_result(f[i], WEFT_FOREVER, NULL);
    if (rc == -ECANCELED) printf("  main cancelled by the signal: shutting the pool down\n");
    /* Cleanup runs shielded: a cancelled coroutine's waits would return at once. */
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_pool_shutdown(pool, true, true);     /* running ones finish, queued ones cancelled */
    int done = 0, cancelled = 0, torn = 0;
    for (int i = 0; i < JOBS; i++) {
        int r = weft_future_result(f[i], WEFT_FOREVER, NULL);
        if (r == 0) {
            done++;
            char want[48];
            snprintf(want, sizeof want, "job %d: all of its work, written", i);
            torn += strcmp(records[i], want) != 0;
        } else if (r == -ECANCELED) {
            cancelled++;
            torn += records[i][0] != '\0';    /* a cancelled job never started */
        }
        weft_future_release(f[i]);
    }
    weft_scope_leave(&shield);
    weft_pool_destroy(pool);
    printf("  %d jobs completed (records whole: %s), %d cancelled before they started\n", done,
           torn ? "NO" : "yes", cancelled);
    all_accounted = torn == 0 && done > 0 && cancelled > 0 && done + cancelled == JOBS;
    return rc;
}

int main(int argc, char **argv)
{
    bool wait_for_user = argc > 1 && strcmp(argv[1], "--wait") == 0;
    weft_thread *presser = NULL;
    if (wait_for_user) printf("press Ctrl+C (twice to leave at once)\n");
    else if (weft_thread_start(&presser, NULL, press_ctrl_c, NULL) != 0) return 1;
    int rc = weft_run_graceful(main_coroutine, NULL, NULL);
    if (presser) {
        weft_thread_join(presser, WEFT_FOREVER, NULL);
        weft_thread_release(presser);
    }
    printf("weft_run_graceful: %s (signal %d)\n", weft_errname(rc), weft_graceful_signal());
    return rc == -ECANCELED && all_accounted ? 0 : 1;
}
