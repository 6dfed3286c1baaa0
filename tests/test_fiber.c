/* The raw context switch (fiber layer): registers, floating-point control state and stack
 * alignment survive switches. Runs on x86_64 and, under qemu, on aarch64. */
#include "check.h"
#include "fiber/internal.h"

#include <fenv.h>
#include <math.h>

static weft__fiber main_fiber, other_fiber;
static weft__stack *other_stack;

/* No scheduler here: a reap slot that is never set. */
static void to_main(void)
{
    weft__fiber_switch(&other_fiber, &main_fiber, false, &weft__ctx_no_reap);
}
static void to_other(void)
{
    weft__fiber_switch(&main_fiber, &other_fiber, false, &weft__ctx_no_reap);
}

/* Integer and floating-point values live across switches in callee-saved registers (the
 * compiler keeps them there around the call); any one clobbered shows in the sums. */
static unsigned long ints_seen;
static double floats_seen;

static void busy_entry(void *arg)
{
    long n = (long)(intptr_t)arg;
    unsigned long a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8;
    double x = 0.5, y = 1.5, z = 2.5, w = 3.5;
    for (unsigned long i = 0; i < (unsigned long)n; i++) {
        a += i; b ^= i; c += a; d -= b; e += c ^ d; f += e; g ^= f; h += g;
        x += 0.25; y *= 1.0000001; z -= 0.125; w += x;
        to_main();
    }
    ints_seen = a + b + c + d + e + f + g + h;
    floats_seen = x + y + z + w;
    to_main();
    weft__fatal("resumed after the end");
}

static void reference(long n, unsigned long *ints, double *floats)
{
    volatile unsigned long a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8;
    volatile double x = 0.5, y = 1.5, z = 2.5, w = 3.5;
    for (unsigned long i = 0; i < (unsigned long)n; i++) {
        a += i; b ^= i; c += a; d -= b; e += c ^ d; f += e; g ^= f; h += g;
        x += 0.25; y *= 1.0000001; z -= 0.125; w += x;
    }
    *ints = a + b + c + d + e + f + g + h;
    *floats = x + y + z + w;
}

static void test_registers_survive(void)
{
    const long n = 100000;
    weft__fiber_init_thread(&main_fiber);
    other_stack = weft__stack_get(0);
    CHECK(other_stack != NULL);
    weft__fiber_init(&other_fiber, other_stack, busy_entry, (void *)(intptr_t)n);
    /* The main side keeps its own live values too. */
    unsigned long m1 = 11, m2 = 22, m3 = 33;
    double md = 0.0;
    for (unsigned long i = 0; i <= (unsigned long)n; i++) {
        to_other();
        m1 += m2; m2 ^= m3 + i; m3 += 7; md += 0.5;
    }
    unsigned long ints;
    double floats;
    reference(n, &ints, &floats);
    CHECK_EQ(ints_seen, ints);
    CHECK(floats_seen == floats);
    unsigned long e1 = 11, e2 = 22, e3 = 33;
    for (unsigned long i = 0; i <= (unsigned long)n; i++) { e1 += e2; e2 ^= e3 + i; e3 += 7; }
    CHECK_EQ(m1, e1);
    CHECK_EQ(m2, e2);
    CHECK(md == 0.5 * (double)(n + 1));
    weft__fiber_destroy(&other_fiber);
    weft__stack_put(other_stack);
}

/* Each context keeps its own rounding mode (MXCSR + x87 control word, or FPCR). */
static int other_mode_seen;

static void rounding_entry(void *arg)
{
    (void)arg;
    fesetround(FE_UPWARD);
    to_main();
    other_mode_seen = fegetround();
    to_main();
    weft__fatal("resumed after the end");
}

static void test_fp_control_is_per_context(void)
{
    weft__fiber_init_thread(&main_fiber);
    other_stack = weft__stack_get(0);
    weft__fiber_init(&other_fiber, other_stack, rounding_entry, NULL);
    CHECK_EQ(fegetround(), FE_TONEAREST);
    to_other();
    CHECK_EQ(fegetround(), FE_TONEAREST);       /* the other context's change stayed there */
    volatile double third = 1.0 / 3.0;
    CHECK(nearbyint(third * 3.0 - 1.0) == 0.0);
    fesetround(FE_DOWNWARD);
    to_other();
    CHECK_EQ(other_mode_seen, FE_UPWARD);
    CHECK_EQ(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    weft__fiber_destroy(&other_fiber);
    weft__stack_put(other_stack);
}

/* The ABI's stack alignment holds in a new context: printf of doubles uses aligned SSE
 * spills on x86_64 and would fault on a misaligned stack. */
static char printed[64];

static void aligned_entry(void *arg)
{
    (void)arg;
    double v = 2.5;
    snprintf(printed, sizeof printed, "%.3f %Lf", v, (long double)v);
    CHECK_EQ((uintptr_t)__builtin_frame_address(0) % 16, 0);
    to_main();
    weft__fatal("resumed after the end");
}

static void test_alignment(void)
{
    weft__fiber_init_thread(&main_fiber);
    other_stack = weft__stack_get(0);
    weft__fiber_init(&other_fiber, other_stack, aligned_entry, NULL);
    to_other();
    CHECK(strcmp(printed, "2.500 2.500000") == 0);
    weft__fiber_destroy(&other_fiber);
    weft__stack_put(other_stack);
}

int main(void)
{
    RUN(test_registers_survive);
    RUN(test_fp_control_is_per_context);
    RUN(test_alignment);
    return check_done();
}
