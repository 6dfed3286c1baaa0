/*
 * Peer benchmark: raw futex wake-up round trip between two threads.
 *
 * Thread A sets word1 and FUTEX_WAKEs B, then FUTEX_WAITs on word2.
 * Thread B FUTEX_WAITs on word1, clears it, sets word2 and wakes A.
 * A clears word2 and the next round starts.  No spinning: a waiter checks
 * its word once and then sleeps in the kernel.  Threads are not pinned, so
 * the scheduler decides whether they share a CPU.
 *
 * Every round trip is timed with clock_gettime(CLOCK_MONOTONIC); the median
 * and 99th percentile are reported.
 *
 * Usage: wake_futex [round_trips]   (default 20,000, after 2,000 warm-up: as bench/weft_wake.c)
 * Prints exactly:
 *   RESULT wake-p50 <ns>
 *   RESULT wake-p99 <ns>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 2000UL

static _Atomic int word1; /* A -> B: "your turn" */
static _Atomic int word2; /* B -> A: "done" */
static unsigned long total_rounds;

static void futex_wait(_Atomic int *addr, int expected)
{
    long r = syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, expected,
                     NULL, NULL, 0);
    if (r != 0 && errno != EAGAIN && errno != EINTR) {
        perror("futex wait");
        exit(1);
    }
}

static void futex_wake(_Atomic int *addr)
{
    if (syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
                0) < 0) {
        perror("futex wake");
        exit(1);
    }
}

/* Block until *addr becomes non-zero, then reset it to zero. */
static void wait_for(_Atomic int *addr)
{
    while (atomic_load_explicit(addr, memory_order_acquire) == 0)
        futex_wait(addr, 0);
    atomic_store_explicit(addr, 0, memory_order_relaxed);
}

static void signal_word(_Atomic int *addr)
{
    atomic_store_explicit(addr, 1, memory_order_release);
    futex_wake(addr);
}

static void *thread_b(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < total_rounds; i++) {
        wait_for(&word1);
        signal_word(&word2);
    }
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static unsigned long parse_count(const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0) {
        fprintf(stderr, "wake_futex: bad iteration count '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    unsigned long n = 20000UL;
    if (argc > 1)
        n = parse_count(argv[1]);
    total_rounds = WARMUP + n;

    uint64_t *samples = malloc(n * sizeof *samples);
    if (samples == NULL) {
        perror("malloc");
        return 1;
    }

    pthread_t tb;
    int err = pthread_create(&tb, NULL, thread_b, NULL);
    if (err != 0) {
        fprintf(stderr, "pthread_create: error %d\n", err);
        return 1;
    }

    for (unsigned long i = 0; i < WARMUP; i++) {
        signal_word(&word1);
        wait_for(&word2);
    }
    for (unsigned long i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        signal_word(&word1);
        wait_for(&word2);
        samples[i] = now_ns() - t0;
    }
    pthread_join(tb, NULL);

    qsort(samples, n, sizeof *samples, cmp_u64);
    uint64_t p50 = samples[n / 2];
    uint64_t p99 = samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    printf("RESULT wake-p50 %llu\n", (unsigned long long)p50);
    printf("RESULT wake-p99 %llu\n", (unsigned long long)p99);
    free(samples);
    return 0;
}
