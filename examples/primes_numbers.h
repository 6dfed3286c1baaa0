/* primes_numbers.h — the numbers the primes examples check (seed scenario 5), the check
 * itself, and the check as a process pool task and a thread pool job: shared by primes.c,
 * primes_homegrown.c and bench/weft_primes.c. */
#ifndef PRIMES_NUMBERS_H
#define PRIMES_NUMBERS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { COUNT = 20 };

/* Trial division: a prime near 2^47 costs some millions of divisions. */
static inline bool is_prime(uint64_t n)
{
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0) return false;
    return true;
}

/* The 13 largest primes below 2^47, 6 products of two primes near 2^23.5 (as costly to
 * rule out as a prime is to confirm), and 2^47 - 1 (composite, found at once). */
static const uint64_t numbers[COUNT] = {
    140737488355213, 140737151366261, 140737488355201, 140737488355181, 140736724288997,
    140737488355049, 140737488355031, 140736107400481, 140737488354989, 140737488354893,
    140735395607881, 140737488354787, 140737488354709, 140734612638163, 140737488354679,
    140737488354613, 140734138112083, 140737488354557, 140737488354511, 140737488355327,
};
enum { KNOWN_PRIMES = 13 };

/* The process pool's task: 8 bytes in (the number), 1 byte out (prime or not). */
static inline int check_task(const void *arg, size_t len, void **out, size_t *out_len)
{
    uint64_t n;
    if (len != sizeof n) return -EINVAL;
    memcpy(&n, arg, sizeof n);
    unsigned char *r = malloc(1);
    if (!r) return -ENOMEM;
    *r = is_prime(n);
    *out = r;
    *out_len = 1;
    return 0;
}

/* The thread pool's job: the number in, the answer as the result pointer. */
static inline int check_job(void *arg, void **result)
{
    *result = (void *)(uintptr_t)is_prime(*(const uint64_t *)arg);
    return 0;
}

#endif /* PRIMES_NUMBERS_H */
