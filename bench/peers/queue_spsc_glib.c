/*
 * Peer benchmark: GLib GAsyncQueue, single producer / single consumer.
 *
 * Two GThreads: the producer pushes the values 1..n with g_async_queue_push,
 * the consumer takes them with g_async_queue_pop (which blocks on a condition
 * variable when the queue is empty) and checks that they arrive in order.
 * GAsyncQueue cannot carry NULL, so the values start at 1.
 *
 * NOTE: GAsyncQueue is UNBOUNDED -- there is no capacity and the producer
 * never waits -- so unlike the other queue-spsc peers this is not a queue of
 * capacity 1024: the producer may run ahead of the consumer by any amount
 * (each queued item costs a list node).  It is the closest thing GLib offers.
 *
 * Both threads are created first and released together; the time from the
 * release until both have finished is the measured interval.  A warm-up pass
 * of n/10 items (at least 100,000) runs before the timed pass.
 *
 * Usage: queue_spsc_glib [items]   (default 10,000,000 items)
 * Prints exactly: RESULT queue-spsc <items per second>
 */
#include <glib.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static GAsyncQueue *queue;
static guint64 pass_items;
static gboolean consumer_ok;

/* Start gate: both threads wait here until main releases them. */
static GMutex gate_lock;
static GCond gate_cond;
static gboolean gate_open;

static void wait_for_start(void)
{
    g_mutex_lock(&gate_lock);
    while (!gate_open)
        g_cond_wait(&gate_cond, &gate_lock);
    g_mutex_unlock(&gate_lock);
}

static gpointer producer(gpointer arg)
{
    (void)arg;
    wait_for_start();
    const guint64 n = pass_items;
    for (guint64 i = 1; i <= n; i++)
        g_async_queue_push(queue, (gpointer)(guintptr)i);
    return NULL;
}

static gpointer consumer(gpointer arg)
{
    (void)arg;
    wait_for_start();
    const guint64 n = pass_items;
    gboolean ok = TRUE;
    for (guint64 i = 1; i <= n; i++) {
        gpointer v = g_async_queue_pop(queue);
        if ((guintptr)v != i)
            ok = FALSE;
    }
    consumer_ok = ok;
    return NULL;
}

/* One pass of n items; returns the elapsed nanoseconds. */
static double pass(guint64 n)
{
    queue = g_async_queue_new();
    pass_items = n;
    consumer_ok = FALSE;
    gate_open = FALSE;
    GThread *c = g_thread_new("consumer", consumer, NULL);
    GThread *p = g_thread_new("producer", producer, NULL);

    gint64 t0 = g_get_monotonic_time();
    g_mutex_lock(&gate_lock);
    gate_open = TRUE;
    g_cond_broadcast(&gate_cond);
    g_mutex_unlock(&gate_lock);
    g_thread_join(p);
    g_thread_join(c);
    gint64 t1 = g_get_monotonic_time();

    if (!consumer_ok || g_async_queue_length(queue) != 0) {
        fprintf(stderr, "queue_spsc_glib: items lost or out of order\n");
        exit(1);
    }
    g_async_queue_unref(queue);
    queue = NULL;
    return (double)(t1 - t0) * 1e3; /* g_get_monotonic_time is in us */
}

static guint64 parse_count(const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0) {
        fprintf(stderr, "queue_spsc_glib: bad item count '%s'\n", s);
        exit(2);
    }
    return (guint64)v;
}

int main(int argc, char **argv)
{
    guint64 items = 10000000ULL;
    if (argc > 1)
        items = parse_count(argv[1]);

    guint64 warm = items / 10 < 100000 ? 100000 : items / 10;
    pass(warm);

    double ns = pass(items);
    printf("RESULT queue-spsc %.1f\n", (double)items / (ns / 1e9));
    return 0;
}
