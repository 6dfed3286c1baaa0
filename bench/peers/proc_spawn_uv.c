/*
 * Peer benchmark: libuv's uv_spawn starting /bin/true, its exit callback as the wait.
 *
 * proc-spawn-seq: the exit callback of child i closes its handle and spawns child i+1, all
 * inside one uv_run. proc-spawn-8: 8 children are started, and each exit callback starts
 * the next until n have run. Spawns per second, after a warm-up of 100 (libuv's SIGCHLD
 * handling is set up by the first spawn).
 *
 * Usage: proc_spawn_uv [n]   (default 2,000)
 * Prints exactly:
 *   RESULT proc-spawn-seq <spawns/s>
 *   RESULT proc-spawn-8 <spawns/s>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"
#include <uv.h>

#include <stdlib.h>
#include <string.h>

static long left, running;
static uv_process_t *handles;
static long next_handle;

static void spawn_one(void);

static void on_close(uv_handle_t *h)
{
    (void)h;
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    if (status != 0 || sig != 0) {
        fprintf(stderr, "/bin/true failed\n");
        exit(1);
    }
    uv_close((uv_handle_t *)p, on_close);
    running--;
    if (left > 0) spawn_one();
}

static void spawn_one(void)
{
    static char *args[] = { "/bin/true", NULL };
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.file = args[0];
    o.args = args;
    o.exit_cb = on_exit_cb;
    left--;
    running++;
    int rc = uv_spawn(uv_default_loop(), &handles[next_handle++], &o);
    if (rc) {
        fprintf(stderr, "uv_spawn: %s\n", uv_strerror(rc));
        exit(1);
    }
}

static double run(long n, int width)
{
    handles = calloc((size_t)n, sizeof *handles);
    next_handle = 0;
    left = n;
    double t0 = peer_now_ns();
    for (int i = 0; i < width && left > 0; i++) spawn_one();
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    double rate = (double)n * 1e9 / (peer_now_ns() - t0);
    free(handles);
    return rate;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? (long)peer_count(argv[0], argv[1], 10, 10000000) : 2000;
    run(100, 1);
    printf("RESULT proc-spawn-seq %.6g\n", run(n, 1));
    run(100, 8);
    printf("RESULT proc-spawn-8 %.6g\n", run(n, 8));
    return 0;
}
