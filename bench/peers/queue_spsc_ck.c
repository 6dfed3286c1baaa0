/*
 * Peer benchmark: Concurrency Kit ck_ring, single producer / single consumer.
 *
 * Two pthreads share one ck_ring of 1024 slots (ck_ring keeps one slot free,
 * so at most 1023 items are in flight).  The producer enqueues the values
 * 1..n with ck_ring_enqueue_spsc, the consumer takes them with
 * ck_ring_dequeue_spsc and checks that they arrive in order.  Neither side
 * ever sleeps: on a full (producer) or empty (consumer) ring it executes a
 * pause instruction (ck_pr_stall) and tries again.  Threads are not pinned.
 *
 * Both threads are created first and released together; the time from the
 * release until both have finished is the measured interval.  A warm-up pass
 * of n/10 items (at least 100,000) runs before the timed pass.
 *
 * Usage: queue_spsc_ck [items]   (default 10,000,000 items)
 * Prints exactly: RESULT queue-spsc <items per second>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "peer.h"
#include <ck_pr.h>
#include <ck_ring.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RING_SLOTS 1024u

static ck_ring_t ring;
static ck_ring_buffer_t slots[RING_SLOTS];

static _Atomic int go_flag;   /* 0: wait, 1: run */
static uint64_t pass_items;   /* items of the current pass */
static int consumer_ok;       /* set by the consumer */

static void wait_for_start(void)
{
    while (atomic_load_explicit(&go_flag, memory_order_acquire) == 0)
        ck_pr_stall();
}

static void *producer(void *arg)
{
    (void)arg;
    wait_for_start();
    const uint64_t n = pass_items;
    for (uint64_t i = 1; i <= n; i++) {
        /* Values start at 1 so that no NULL entry is ever passed. */
        while (!ck_ring_enqueue_spsc(&ring, slots, (void *)(uintptr_t)i))
            ck_pr_stall();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    wait_for_start();
    const uint64_t n = pass_items;
    int ok = 1;
    for (uint64_t i = 1; i <= n; i++) {
        void *v;
        while (!ck_ring_dequeue_spsc(&ring, slots, &v))
            ck_pr_stall();
        if ((uintptr_t)v != i)
            ok = 0;
    }
    consumer_ok = ok;
    return NULL;
}


/* One pass of n items; returns the elapsed nanoseconds. */
static double pass(uint64_t n)
{
    pthread_t p, c;
    ck_ring_init(&ring, RING_SLOTS);
    pass_items = n;
    consumer_ok = 0;
    atomic_store_explicit(&go_flag, 0, memory_order_relaxed);
    if (pthread_create(&c, NULL, consumer, NULL) != 0 ||
        pthread_create(&p, NULL, producer, NULL) != 0) {
        fprintf(stderr, "queue_spsc_ck: pthread_create failed\n");
        exit(1);
    }
    double t0 = peer_now_ns();
    atomic_store_explicit(&go_flag, 1, memory_order_release);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    double t1 = peer_now_ns();
    if (!consumer_ok || ck_ring_size(&ring) != 0) {
        fprintf(stderr, "queue_spsc_ck: items lost or out of order\n");
        exit(1);
    }
    return t1 - t0;
}

static uint64_t parse_count(const char *s)
{
    return (uint64_t)peer_count("queue_spsc_ck", s, 1, UINT64_MAX);
}

int main(int argc, char **argv)
{
    uint64_t items = 10000000ULL;
    if (argc > 1)
        items = parse_count(argv[1]);

    uint64_t warm = items / 10 < 100000 ? 100000 : items / 10;
    pass(warm);

    double ns = pass(items);
    printf("RESULT queue-spsc %.1f\n", (double)items / (ns / 1e9));
    return 0;
}
