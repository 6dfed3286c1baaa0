/* tests/fault.h — allocation fault injection for the tests (needs weft's internals). */
#ifndef WEFT_TESTS_FAULT_H
#define WEFT_TESTS_FAULT_H

#include "check.h"
#include "core/internal.h"

/* Runs op with the k-th allocation failing (weft__alloc_fail_countdown), for k = 1.. until
 * op no longer allocates that many times (it succeeds). Each failure must be a clean
 * -ENOMEM (the ASan and Valgrind runs check that nothing leaks), or a success when weft can
 * do without that allocation. Returns how many k failed. */
static inline int fail_each_allocation(int (*op)(void))
{
    int failures = 0;
    for (long k = 1; k < 64; k++) {
        atomic_store(&weft__alloc_fail_countdown, k);
        int rc = op();
        long left = atomic_exchange(&weft__alloc_fail_countdown, 0);
        if (rc == 0) {
            if (left > 0) return failures;   /* op is done with fewer than k allocations */
            continue;   /* the k-th failed and weft did without it (a loop's overflow stack) */
        }
        CHECK_RC(rc, -ENOMEM);
        failures++;
    }
    CHECK(!"an operation kept failing");
    return failures;
}

#endif /* WEFT_TESTS_FAULT_H */
