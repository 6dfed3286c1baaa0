/*
 * Peer benchmark: GLib GThreadPool with 2 worker threads.
 *
 * One pool, g_thread_pool_new(func, NULL, 2, FALSE, &err) (max_threads 2,
 * not exclusive: GLib starts the threads on demand, up to 2), serves both
 * workloads; the warm-up passes start its threads.
 *
 * pool-throughput: the main thread pushes N tasks (g_thread_pool_push), each
 * an atomic increment of a shared counter, then waits for all of them.  The
 * wait: the task whose increment brings the counter to N signals a GCond, on
 * which the main thread sleeps (under a GMutex, with a done flag).  This
 * keeps the pool alive and measures exactly "submitted, then all awaited".
 * (g_thread_pool_free(pool, FALSE, TRUE) would also wait for all tasks, but
 * it destroys the pool, so its teardown would be timed as well.)  Interval:
 * from the first push until the main thread has seen the counter reach N.
 * Reported as tasks per second.
 *
 * pool-roundtrip: R times, push one task and wait for its result: the task
 * pushes its argument + 1 onto a GAsyncQueue, which the main thread pops
 * (g_async_queue_pop blocks on a condition variable).  Reported as ns per
 * round trip.
 *
 * Each workload first runs a warm-up pass of a tenth of its count.
 *
 * Usage: pool_glib [tasks [roundtrips]]   (default 1,000,000 and 100,000)
 * Prints exactly:
 *   RESULT pool-throughput <tasks per second>
 *   RESULT pool-roundtrip <ns per round trip>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, setenv under -std=c11 */
#endif
#include "peer.h"
#include <glib.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- pool-throughput ---------------------------------------------------- */

static atomic_ulong counter;
static unsigned long target;   /* set before a pass, read by the tasks */
static GMutex done_lock;
static GCond done_cond;
static gboolean done;

static void count_task(gpointer data, gpointer user_data)
{
    (void)data;
    (void)user_data;
    if (atomic_fetch_add(&counter, 1) + 1 == target) {
        g_mutex_lock(&done_lock);
        done = TRUE;
        g_cond_signal(&done_cond);
        g_mutex_unlock(&done_lock);
    }
}

/* ---- pool-roundtrip ----------------------------------------------------- */

static GAsyncQueue *replies;

static void reply_task(gpointer data, gpointer user_data)
{
    (void)user_data;
    /* GAsyncQueue cannot carry NULL: arguments start at 1. */
    g_async_queue_push(replies, GSIZE_TO_POINTER(GPOINTER_TO_SIZE(data) + 1));
}

/* The task function is per pool; one pool serves both workloads, so the
 * pushed item says which task to run: tag bit 0 set = count_task. */
static void dispatch(gpointer data, gpointer user_data)
{
    gsize v = GPOINTER_TO_SIZE(data);
    if (v & 1)
        count_task(data, user_data);
    else
        reply_task(GSIZE_TO_POINTER(v >> 1), user_data);
}

/* ------------------------------------------------------------------------- */


static void push(GThreadPool *pool, gsize item)
{
    GError *err = NULL;
    if (!g_thread_pool_push(pool, GSIZE_TO_POINTER(item), &err)) {
        fprintf(stderr, "pool_glib: g_thread_pool_push: %s\n",
                err ? err->message : "failed");
        exit(1);
    }
}

/* N counter tasks, then wait for all; returns the elapsed ns. */
static double throughput_pass(GThreadPool *pool, unsigned long n)
{
    atomic_store(&counter, 0);
    target = n;
    g_mutex_lock(&done_lock);
    done = FALSE;
    g_mutex_unlock(&done_lock);

    double t0 = peer_now_ns();
    for (unsigned long i = 0; i < n; i++)
        push(pool, 1);
    g_mutex_lock(&done_lock);
    while (!done)
        g_cond_wait(&done_cond, &done_lock);
    g_mutex_unlock(&done_lock);
    double t1 = peer_now_ns();

    if (atomic_load(&counter) != n) {
        fprintf(stderr, "pool_glib: counter %lu, expected %lu\n",
                (unsigned long)atomic_load(&counter), n);
        exit(1);
    }
    return t1 - t0;
}

/* R round trips; returns the elapsed ns. */
static double roundtrip_pass(GThreadPool *pool, unsigned long r)
{
    double t0 = peer_now_ns();
    for (gsize i = 1; i <= r; i++) {
        push(pool, i << 1);
        gsize got = GPOINTER_TO_SIZE(g_async_queue_pop(replies));
        if (got != i + 1) {
            fprintf(stderr, "pool_glib: round trip %zu: reply %zu\n",
                    (size_t)i, (size_t)got);
            exit(1);
        }
    }
    return peer_now_ns() - t0;
}

int main(int argc, char **argv)
{
    unsigned long tasks, roundtrips;
    peer_pool_counts("pool_glib", argc, argv, 1ULL << 40, &tasks, &roundtrips);

    GError *err = NULL;
    GThreadPool *pool = g_thread_pool_new(dispatch, NULL, 2, FALSE, &err);
    if (pool == NULL) {
        fprintf(stderr, "pool_glib: g_thread_pool_new: %s\n",
                err ? err->message : "failed");
        return 1;
    }
    replies = g_async_queue_new();

    throughput_pass(pool, tasks / 10);
    double ns = throughput_pass(pool, tasks);
    printf("RESULT pool-throughput %.1f\n", (double)tasks / (ns / 1e9));

    roundtrip_pass(pool, roundtrips / 10);
    ns = roundtrip_pass(pool, roundtrips);
    printf("RESULT pool-roundtrip %.1f\n", ns / (double)roundtrips);

    g_thread_pool_free(pool, FALSE, TRUE);
    g_async_queue_unref(replies);
    if (fflush(stdout) != 0) {
        perror("pool_glib: stdout");
        return 1;
    }
    return 0;
}
