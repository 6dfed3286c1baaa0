/* counter.c — seed scenario 3: the lost-update counter, fixed by a Lock.
 *
 * Workers increment a shared counter by reading it, doing a little work, and writing it
 * back. Unguarded, two workers read the same value and one update is lost. With a
 * weft_lock around the read-modify-write the total is exact.
 *
 * With coroutines the loss is deterministic: a coroutine that yields (any blocking weft
 * call does) between its read and its write lets the others read the same old value. With
 * threads it depends on timing; this program shows it and does not insist on it.
 * (The read and the write are separate relaxed atomic operations: a logic race that loses
 * updates, not a C data race, which would be undefined behaviour.)
 *
 * Exits 0 if the locked totals are exact (and the unguarded coroutine total is short, as it
 * must be).
 */
#include <weft.h>

#include <stdatomic.h>
#include <stdio.h>

#define WORKERS 10
#define ROUNDS 10000

static _Atomic long counter;
static weft_lock *lock;

/* counter += 1, the slow way: read, let others run, write back. */
static void increment(void)
{
    long v = atomic_load_explicit(&counter, memory_order_relaxed);
    weft_yield();                 /* a coroutine switch; on a thread: sched_yield */
    atomic_store_explicit(&counter, v + 1, memory_order_relaxed);
}

static int unguarded(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < ROUNDS; i++) increment();
    return 0;
}

static int guarded(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < ROUNDS; i++) {
        weft_lock_acquire(lock, WEFT_FOREVER);
        increment();
        weft_lock_release(lock);
    }
    return 0;
}

static weft_fn worker;             /* what spawn_workers runs */

static int spawn_workers(void *arg, void **result)
{
    (void)arg; (void)result;
    weft_future *f[WORKERS];
    for (int i = 0; i < WORKERS; i++) weft_spawn(&f[i], worker, NULL);
    for (int i = 0; i < WORKERS; i++) {
        weft_future_result(f[i], WEFT_FOREVER, NULL);
        weft_future_release(f[i]);
    }
    return 0;
}

static long run_coroutines(weft_fn fn)
{
    atomic_store(&counter, 0);
    worker = fn;
    weft_run(spawn_workers, NULL, NULL);
    return atomic_load(&counter);
}

static long run_threads(weft_fn fn)
{
    atomic_store(&counter, 0);
    weft_thread *t[WORKERS];
    for (int i = 0; i < WORKERS; i++) weft_thread_start(&t[i], NULL, fn, NULL);
    for (int i = 0; i < WORKERS; i++) {
        weft_thread_join(t[i], WEFT_FOREVER, NULL);
        weft_thread_release(t[i]);
    }
    return atomic_load(&counter);
}

int main(void)
{
    weft_lock_create(&lock);
    long want = (long)WORKERS * ROUNDS;
    long cu = run_coroutines(unguarded), cg = run_coroutines(guarded);
    long tu = run_threads(unguarded), tg = run_threads(guarded);
    printf("expected %ld\n", want);
    printf("coroutines, no lock:   %6ld (%ld updates lost)\n", cu, want - cu);
    printf("coroutines, with lock: %6ld\n", cg);
    printf("threads, no lock:      %6ld (%ld updates lost)\n", tu, want - tu);
    printf("threads, with lock:    %6ld\n", tg);
    weft_lock_destroy(lock);
    return cg == want && tg == want && cu < want ? 0 : 1;
}
