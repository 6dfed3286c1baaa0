/* producer_consumer.c — seed scenario 4: producer / consumer over a queue, with a poison pill.
 *
 * A producer puts work items on a bounded queue; consumers take them until they get the
 * "poison pill", a sentinel that means "no more work": each consumer that swallows one
 * stops. The producer puts one pill per consumer after its last item.
 *
 * The same code runs twice: first with plain threads, then with coroutines on one loop.
 * Nothing changes but how the workers are started — weft_queue_put and weft_queue_get
 * block a thread, or suspend a coroutine, as the caller is. (weft_queue_shutdown is the
 * modern alternative to poison pills: consumers drain the queue and then get -ESHUTDOWN.)
 *
 * Exits 0 if every item was consumed exactly once (count and sum) in both runs.
 */
#include <weft.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define ITEMS 100000
#define CONSUMERS 3
#define PILL ((void *)-1)

typedef struct {
    weft_queue *queue;
    atomic_long count, sum;
} work;

static int producer(void *arg, void **result)
{
    (void)result;
    work *w = arg;
    for (intptr_t i = 1; i <= ITEMS; i++) {
        int rc = weft_queue_put(w->queue, (void *)i, WEFT_FOREVER);  /* waits while full */
        if (rc) return rc;
    }
    for (int i = 0; i < CONSUMERS; i++) weft_queue_put(w->queue, PILL, WEFT_FOREVER);
    return 0;
}

static int consumer(void *arg, void **result)
{
    (void)result;
    work *w = arg;
    for (;;) {
        void *item;
        int rc = weft_queue_get(w->queue, &item, WEFT_FOREVER);      /* waits while empty */
        if (rc) return rc;
        if (item == PILL) return 0;                                  /* swallowed: stop */
        atomic_fetch_add(&w->count, 1);
        atomic_fetch_add(&w->sum, (intptr_t)item);
    }
}

static int check(const char *how, work *w)
{
    long count = atomic_load(&w->count), sum = atomic_load(&w->sum);
    long want = (long)ITEMS * (ITEMS + 1) / 2;
    printf("%-10s %ld items consumed, sum %ld (expected %d and %ld)\n", how, count, sum,
           ITEMS, want);
    return count == ITEMS && sum == want ? 0 : 1;
}

static int with_threads(void)
{
    work w = { 0 };
    weft_queue_create(&w.queue, 64);
    weft_thread *p, *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) weft_thread_start(&c[i], NULL, consumer, &w);
    weft_thread_start(&p, NULL, producer, &w);
    weft_thread_join(p, WEFT_FOREVER, NULL);
    weft_thread_release(p);
    for (int i = 0; i < CONSUMERS; i++) {
        weft_thread_join(c[i], WEFT_FOREVER, NULL);
        weft_thread_release(c[i]);
    }
    weft_queue_destroy(w.queue);
    return check("threads:", &w);
}

static int coroutines_main(void *arg, void **result)
{
    (void)result;
    work *w = arg;
    weft_future *p, *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) weft_spawn(&c[i], consumer, w);
    weft_spawn(&p, producer, w);
    weft_future_result(p, WEFT_FOREVER, NULL);
    weft_future_release(p);
    for (int i = 0; i < CONSUMERS; i++) {
        weft_future_result(c[i], WEFT_FOREVER, NULL);
        weft_future_release(c[i]);
    }
    return 0;
}

static int with_coroutines(void)
{
    work w = { 0 };
    weft_queue_create(&w.queue, 64);
    weft_run(coroutines_main, &w, NULL);
    weft_queue_destroy(w.queue);
    return check("coroutines:", &w);
}

int main(void)
{
    int failed = with_threads();
    failed |= with_coroutines();
    return failed;
}
