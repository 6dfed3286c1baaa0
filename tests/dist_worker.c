/* tests/dist_worker.c — a weft_dist worker as a program of its own, for the tests that kill
 * workers (kill -9) or stop them with signals: dist_worker URL QUEUE MODE CONCURRENCY NAME
 * [LOGFILE]. MODE: coroutines, threads or processes. Heartbeat every 200 ms, dead after
 * 1 s without one (the tests' takeovers come fast). Runs until SIGTERM / SIGINT (twice: a
 * cold stop); prints "ready" once running, "signal" each time it has seen SIGTERM / SIGINT
 * (so a test sends the second one only once the first was taken: two sent before the
 * first is handled merge into one, in the kernel or in TSan's deferral) and "done N"
 * (results it recorded) at the end. */
#include "dist_tasks.h"

#include <weft.h>

/* Prints "signal" for each SIGTERM / SIGINT the worker's own receiver will see too (the
 * router gives every receiver each signal it counted). */
static _Atomic bool watching = true;

static int echo_signals(void *arg, void **result)
{
    (void)result;
    weft_signal_receiver *rx = arg;
    int signo;
    while (atomic_load(&watching))
        if (weft_signal_next(rx, 100 * WEFT_MS, &signo) == 0) {
            printf("signal\n");
            fflush(stdout);
        }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: dist_worker URL QUEUE MODE CONCURRENCY NAME [LOGFILE]\n");
        return 2;
    }
    weft_dist_worker_opts o = WEFT_DIST_WORKER_OPTS_INIT;
    o.queue = argv[2];
    o.mode = strcmp(argv[3], "threads") == 0     ? WEFT_DIST_THREADS
             : strcmp(argv[3], "processes") == 0 ? WEFT_DIST_PROCESSES
                                                 : WEFT_DIST_COROUTINES;
    o.concurrency = atoi(argv[4]);
    o.name = argv[5];
    o.heartbeat = 200 * WEFT_MS;
    o.heartbeat_ttl = WEFT_SEC;
    if (argc > 6) dist_log_fd = open(argv[6], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    weft_dist_worker *w;
    int rc = weft_dist_worker_create(&w, argv[1], &o);
    if (rc) {
        fprintf(stderr, "dist_worker: create: %s\n", weft_strerror(rc));
        return 1;
    }
    rc = dist_register_all(w);
    static const int sigs[2] = { SIGTERM, SIGINT };
    weft_signal_receiver *rx = NULL;
    weft_thread *echo = NULL;
    if (!rc) rc = weft_signal_open(&rx, sigs, 2);
    if (!rc) rc = weft_thread_start(&echo, NULL, echo_signals, rx);
    printf("ready\n");
    fflush(stdout);
    if (!rc) rc = weft_dist_worker_run_until_signalled(w);
    atomic_store(&watching, false);
    if (echo) {
        weft_thread_join(echo, WEFT_FOREVER, NULL);
        weft_thread_release(echo);
    }
    if (rx) weft_signal_close(rx);
    printf("done %lu\n", weft_dist_worker_done(w));
    fflush(stdout);
    weft_dist_worker_destroy(w);
    return rc ? 1 : 0;
}
