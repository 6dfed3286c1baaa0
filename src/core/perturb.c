/* core/perturb.c — schedule perturbation (see core/perturb.h). Built only with
 * meson -Dperturb=true.
 *
 * Configuration is read once (pthread_once) at the first point any thread reaches, then
 * only read. Each thread draws from its own xorshift64* generator, seeded from the seed and
 * the order in which threads first reach a point, so a seed repeats a run's decisions as
 * far as the threads' order of arrival repeats. No lock, no allocation: a point may sit
 * under the internal mutex or inside a lock-free protocol.
 */
#include "core/internal.h"
#include "core/perturb.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const point_names[WEFT__PP_COUNT] = {
#define WEFT__PP_NAME(e, name) name,
    WEFT__PERTURB_POINTS(WEFT__PP_NAME)
#undef WEFT__PP_NAME
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t seed;
static uint32_t rate;                 /* out of 2^16 */
static uint32_t max_ns;
static bool enabled[WEFT__PP_COUNT];
static _Atomic uint64_t threads;      /* threads that have drawn so far */

static _Thread_local uint64_t rng_state;

static uint64_t splitmix(uint64_t s)
{
    s += 0x9E3779B97F4A7C15ull;
    s = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ull;
    s = (s ^ (s >> 27)) * 0x94D049BB133111EBull;
    return s ^ (s >> 31);
}

static uint64_t next(void)
{
    uint64_t x = rng_state;
    if (weft__unlikely(!x)) {
        x = splitmix(seed ^ splitmix(atomic_fetch_add(&threads, 1) + 1));
        if (!x) x = 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* True if `name` is listed in the comma-separated `list`, whole or by a prefix. */
static bool listed(const char *list, const char *name)
{
    while (*list) {
        size_t n = strcspn(list, ",");
        if (n && strncmp(name, list, n) == 0) return true;
        list += n;
        if (*list == ',') list++;
    }
    return false;
}

static void configure(void)
{
    const char *s = getenv("WEFT_PERTURB_SEED");
    if (s && *s) {
        seed = strtoull(s, NULL, 0);
    } else {
        seed = (uint64_t)weft_now() ^ ((uint64_t)getpid() << 32);
        fprintf(stderr, "weft: schedule perturbation, WEFT_PERTURB_SEED=%llu\n",
                (unsigned long long)seed);
    }
    s = getenv("WEFT_PERTURB_RATE");
    double pct = s && *s ? strtod(s, NULL) : 10.0;
    if (pct < 0) pct = 0;
    if (pct > 100) pct = 100;
    rate = (uint32_t)(pct / 100.0 * 65536.0);
    s = getenv("WEFT_PERTURB_MAX_US");
    long us = s && *s ? strtol(s, NULL, 0) : 200;
    max_ns = (uint32_t)((us < 1 ? 1 : us > 100000 ? 100000 : us) * 1000);
    s = getenv("WEFT_PERTURB_POINTS");
    for (int i = 0; i < WEFT__PP_COUNT; i++)
        enabled[i] = !(s && *s) || listed(s, point_names[i]);
}

void weft__perturb_at(unsigned point)
{
    pthread_once(&once, configure);
    if (point >= WEFT__PP_COUNT || !enabled[point] || !rate) return;
    uint64_t r = next();
    if ((uint32_t)(r & 0xffff) >= rate) return;
    uint32_t kind = (uint32_t)(r >> 16) % 10, amount = (uint32_t)(r >> 32);
    if (kind < 5) {                                   /* half: give the CPU away */
        sched_yield();
    } else if (kind < 8) {                            /* a spin of up to 5 us */
        int64_t end = weft_now() + amount % (5 * WEFT_US);
        while (weft_now() < end) weft__cpu_relax();
    } else {                                          /* a sleep of up to max_ns */
        struct timespec ts = { 0, (long)(amount % max_ns) };
        weft__sys_nanosleep(&ts);
    }
}
