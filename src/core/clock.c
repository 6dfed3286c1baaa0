/* core/clock.c — the monotonic clock every timeout and deadline is measured on. */
#include "core/internal.h"

int64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}
