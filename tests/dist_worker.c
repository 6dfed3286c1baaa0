/* tests/dist_worker.c — a weft_dist worker as a program of its own, for the tests that kill
 * workers (kill -9) or stop them with signals: dist_worker URL QUEUE MODE CONCURRENCY NAME
 * [LOGFILE]. MODE: coroutines, threads or processes. Heartbeat every 200 ms, dead after
 * 1 s without one (the tests' takeovers come fast). Runs until SIGTERM / SIGINT (twice: a
 * cold stop); prints "ready" once running and "done N" (results it recorded) at the end. */
#include "dist_tasks.h"

#include <weft.h>

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
    printf("ready\n");
    fflush(stdout);
    if (!rc) rc = weft_dist_worker_run_until_signalled(w);
    printf("done %lu\n", weft_dist_worker_done(w));
    fflush(stdout);
    weft_dist_worker_destroy(w);
    return rc ? 1 : 0;
}
