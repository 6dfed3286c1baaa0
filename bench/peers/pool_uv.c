/*
 * Peer benchmark: libuv's thread pool (uv_queue_work) with 2 threads.
 *
 * UV_THREADPOOL_SIZE=2 is set with setenv() before the first uv_queue_work
 * (libuv reads it once, when it starts its pool).  Everything is submitted
 * from the loop thread (the main thread, on the default loop).
 *
 * pool-throughput: N uv_queue_work calls from the loop thread (outside
 * uv_run), each work callback an atomic increment of a shared counter, then
 * uv_run(UV_RUN_DEFAULT), which returns when no request is active any more,
 * i.e. when every after-work callback has run on the loop thread: that is
 * the "wait for all".  Interval: from the first uv_queue_work until uv_run
 * returns.  The N uv_work_t requests live in one array, allocated and
 * touched before the timed pass.  Reported as tasks per second.
 *
 * pool-roundtrip: one request at a time: the after-work callback of round
 * trip i checks the work callback's result and queues round trip i+1, all
 * inside one uv_run.  Reported as ns per round trip.
 *
 * Each workload first runs a warm-up pass of a tenth of its count.
 *
 * Usage: pool_uv [tasks [roundtrips]]   (default 1,000,000 and 100,000)
 * Prints exactly:
 *   RESULT pool-throughput <tasks per second>
 *   RESULT pool-roundtrip <ns per round trip>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, setenv under -std=c11 */
#endif
#include "peer.h"
#include <uv.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uv_loop_t *loop;

static void check_uv(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "pool_uv: %s: %s\n", what, uv_strerror(rc));
        exit(1);
    }
}


/* ---- pool-throughput ---------------------------------------------------- */

static atomic_ulong counter;
static unsigned long after_count; /* loop thread only */
static int after_errors;

static void count_work(uv_work_t *req)
{
    (void)req;
    atomic_fetch_add(&counter, 1);
}

static void count_after(uv_work_t *req, int status)
{
    (void)req;
    if (status != 0)
        after_errors++;
    after_count++;
}

static double throughput_pass(uv_work_t *reqs, unsigned long n)
{
    atomic_store(&counter, 0);
    after_count = 0;
    after_errors = 0;

    double t0 = peer_now_ns();
    for (unsigned long i = 0; i < n; i++)
        check_uv(uv_queue_work(loop, &reqs[i], count_work, count_after),
                 "uv_queue_work");
    int rc = uv_run(loop, UV_RUN_DEFAULT);
    double t1 = peer_now_ns();

    if (rc != 0 || after_errors != 0 || after_count != n
            || atomic_load(&counter) != n) {
        fprintf(stderr, "pool_uv: throughput pass: uv_run %d, %d errors, "
                "%lu after-callbacks and counter %lu of %lu\n", rc,
                after_errors, after_count, (unsigned long)atomic_load(&counter),
                n);
        exit(1);
    }
    return t1 - t0;
}

/* ---- pool-roundtrip ----------------------------------------------------- */

static uv_work_t rt_req;
static unsigned long rt_arg, rt_result, rt_left;

static void reply_work(uv_work_t *req)
{
    (void)req;
    rt_result = rt_arg + 1; /* published to the loop thread by libuv */
}

static void reply_after(uv_work_t *req, int status)
{
    check_uv(status, "round trip after-work status");
    if (rt_result != rt_arg + 1) {
        fprintf(stderr, "pool_uv: round trip %lu: result %lu\n", rt_arg,
                rt_result);
        exit(1);
    }
    if (--rt_left == 0)
        return;
    rt_arg++;
    check_uv(uv_queue_work(loop, req, reply_work, reply_after),
             "uv_queue_work");
}

static double roundtrip_pass(unsigned long r)
{
    rt_arg = 1;
    rt_result = 0;
    rt_left = r;

    double t0 = peer_now_ns();
    check_uv(uv_queue_work(loop, &rt_req, reply_work, reply_after),
             "uv_queue_work");
    int rc = uv_run(loop, UV_RUN_DEFAULT);
    double t1 = peer_now_ns();

    if (rc != 0 || rt_left != 0) {
        fprintf(stderr, "pool_uv: roundtrip pass: uv_run %d, %lu left\n", rc,
                rt_left);
        exit(1);
    }
    return t1 - t0;
}

/* ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    unsigned long tasks, roundtrips;
    peer_pool_counts("pool_uv", argc, argv, 1ULL << 32, &tasks, &roundtrips);

    if (setenv("UV_THREADPOOL_SIZE", "2", 1) != 0) {
        perror("pool_uv: setenv");
        return 1;
    }
    loop = uv_default_loop();
    if (loop == NULL) {
        fprintf(stderr, "pool_uv: uv_default_loop failed\n");
        return 1;
    }

    uv_work_t *reqs = malloc(tasks * sizeof *reqs);
    if (reqs == NULL) {
        perror("pool_uv: malloc");
        return 1;
    }
    memset(reqs, 0, tasks * sizeof *reqs); /* fault the pages in now */

    throughput_pass(reqs, tasks / 10);
    double ns = throughput_pass(reqs, tasks);
    printf("RESULT pool-throughput %.1f\n", (double)tasks / (ns / 1e9));

    roundtrip_pass(roundtrips / 10);
    ns = roundtrip_pass(roundtrips);
    printf("RESULT pool-roundtrip %.1f\n", ns / (double)roundtrips);

    free(reqs);
    check_uv(uv_loop_close(loop), "uv_loop_close");
    if (fflush(stdout) != 0) {
        perror("pool_uv: stdout");
        return 1;
    }
    return 0;
}
