/* hook/sleep.c — sleep, usleep, nanosleep, clock_nanosleep in a coroutine: weft_sleep.
 *
 * A cancelled coroutine's sleep fails with ECANCELED (nanosleep, usleep; clock_nanosleep
 * returns it), a deadline scope's expiry with ETIMEDOUT, never EINTR: the usual
 * `while (nanosleep(&t, &t) && errno == EINTR);` would otherwise spin. sleep() cut short
 * returns 0 with errno set (not the seconds left, as after a signal: the usual
 * `while (left) left = sleep(left);` would spin in a cancelled coroutine). The remaining
 * time is stored in rem.
 * Clocks other than CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME (CPU-time clocks)
 * go to libc.
 */
#include "hook/internal.h"

extern _Atomic uint64_t hook__parks;

/* Sleeps ns in the coroutine; 0 or weft's error. *left receives what remains. */
static int nap(int64_t ns, int64_t *left)
{
    int64_t end = weft_now() + ns;
    atomic_fetch_add_explicit(&hook__parks, 1, memory_order_relaxed);
    int rc = weft_sleep(ns > 0 ? ns : 0);
    int64_t l = end - weft_now();
    *left = rc && l > 0 ? l : 0;
    return rc;
}

static void store_rem(struct timespec *rem, int64_t left)
{
    if (rem) {
        rem->tv_sec = (time_t)(left / WEFT_SEC);
        rem->tv_nsec = (long)(left % WEFT_SEC);
    }
}

static bool bad_timespec(const struct timespec *t)
{
    return t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= WEFT_SEC;
}

static int64_t to_ns(const struct timespec *t)
{
    if (t->tv_sec > (INT64_MAX - WEFT_SEC) / WEFT_SEC) return INT64_MAX / 2;   /* "for ever" */
    return (int64_t)t->tv_sec * WEFT_SEC + t->tv_nsec;
}

HOOK_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (!hook__active() || !req) return REAL(nanosleep)(req, rem);
    if (bad_timespec(req)) { errno = EINVAL; return -1; }
    int64_t left;
    int rc = nap(to_ns(req), &left);
    if (!rc) return 0;
    store_rem(rem, left);
    return hook__fail(rc);
}

HOOK_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                                struct timespec *rem)
{
    if (!hook__active() || !req ||
        (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME))
        return REAL(clock_nanosleep)(clock, flags, req, rem);
    if (bad_timespec(req)) return EINVAL;
    int64_t ns = to_ns(req);
    if (flags & TIMER_ABSTIME) {
        struct timespec now;
        clock_gettime(clock, &now);
        ns -= to_ns(&now);
    }
    int64_t left;
    int rc = nap(ns, &left);
    if (!rc) return 0;
    if (!(flags & TIMER_ABSTIME)) store_rem(rem, left);
    return -rc;
}

HOOK_EXPORT int usleep(useconds_t us)
{
    if (!hook__active()) return REAL(usleep)(us);
    int64_t left;
    int rc = nap((int64_t)us * WEFT_US, &left);
    return rc ? hook__fail(rc) : 0;
}

HOOK_EXPORT unsigned sleep(unsigned s)
{
    if (!hook__active()) return REAL(sleep)(s);
    int64_t left;
    int rc = nap((int64_t)s * WEFT_SEC, &left);
    (void)left;
    if (rc) errno = -rc;
    return 0;
}
