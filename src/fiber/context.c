/* fiber/context.c — building new contexts, and the sanitizer bookkeeping of fibers.
 *
 * weft__ctx_make writes, at the top of a fresh stack, the frame that weft__ctx_switch pops
 * (see switch_<arch>.S): callee-saved registers zero except the two that carry the entry
 * function and its argument to weft__ctx_entry, plus the floating-point control state of
 * the creating thread (as a new thread inherits it).
 */
#include "fiber/internal.h"

#include <string.h>
#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif

void weft__ctx_entry(void);

#if defined(__x86_64__)

void *weft__ctx_make(void *top, void (*entry)(void *), void *arg)
{
    /* After the final `ret` of the switch the stack pointer must be 16-byte aligned (the
     * entry stub then calls, as the ABI expects); so the return address sits at 8 mod 16.
     * 16 spare bytes above it keep the stub's frame inside the stack. */
    uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
    uint64_t *ret_slot = (uint64_t *)(t - 24);
    uint64_t *sp = ret_slot - 7;
    memset(sp, 0, 8 * 8 + 16);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ __volatile__("stmxcsr %0" : "=m"(mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(fpucw));
    memcpy((char *)sp, &mxcsr, 4);
    memcpy((char *)sp + 4, &fpucw, 2);
    sp[3] = (uint64_t)(uintptr_t)arg;     /* r13 */
    sp[4] = (uint64_t)(uintptr_t)entry;   /* r12 */
    ret_slot[0] = (uint64_t)(uintptr_t)weft__ctx_entry;
    return sp;
}

#elif defined(__aarch64__)

void *weft__ctx_make(void *top, void (*entry)(void *), void *arg)
{
    uintptr_t t = ((uintptr_t)top & ~(uintptr_t)15) - 16;
    uint64_t *sp = (uint64_t *)(t - 176);
    memset(sp, 0, 176 + 16);
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    sp[0] = (uint64_t)(uintptr_t)entry;   /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg;     /* x20 */
    sp[11] = (uint64_t)(uintptr_t)weft__ctx_entry;  /* x30 */
    sp[20] = fpcr;
    return sp;
}

#else
#error "weft: no context switch for this architecture (x86_64 and aarch64 are supported)"
#endif

#if WEFT_ASAN
_Thread_local weft__fiber *weft__fiber_from;
#endif

/* The reap slot of the builds whose switch does not reap (see internal.h): never set. */
void *weft__ctx_no_reap;

void weft__fiber_init_thread(weft__fiber *f)
{
    memset(f, 0, sizeof *f);
#if WEFT_TSAN
    f->tsan = __tsan_get_current_fiber();
#endif
}

typedef struct {
    void (*entry)(void *);
    void *arg;
} first_call;

/* Where a fiber's entry function would return to (switch_<arch>.S): it must not. */
noreturn void weft__fiber_returned(void);
void weft__fiber_returned(void)
{
    weft__fatal("a fiber's entry function returned");
}

/* The first thing a fiber runs: tells ASan the switch has finished (learning the bounds of
 * the stack it came from), then calls the real entry -- a tail call, so that it adds no
 * entry to the CPU's return-stack buffer (see weft__ctx_entry in switch_x86_64.S). The
 * trampoline's arguments live in the fiber's own frame above, copied here before anything
 * else can reuse them. */
static void fiber_start(void *p)
{
    first_call fc = *(first_call *)p;
#if WEFT_ASAN
    const void *bottom; size_t size;
    __sanitizer_finish_switch_fiber(NULL, &bottom, &size);
    weft__fiber_from->asan_bottom = bottom;
    weft__fiber_from->asan_size = size;
#endif
    fc.entry(fc.arg);                   /* a tail call at -O2; never returns */
}

void weft__fiber_init(weft__fiber *f, weft__stack *s, void (*entry)(void *), void *arg)
{
    memset(f, 0, sizeof *f);
    /* The entry and argument travel in a small record at the very top of the stack. */
    uintptr_t top = (uintptr_t)weft__stack_top(s) - sizeof(first_call);
    top &= ~(uintptr_t)15;
    first_call *fc = (first_call *)top;
#if WEFT_ASAN
    /* A fiber that finished cleared its live frames' shadow on leaving (below), but one
     * abandoned in mid-run (a raw fiber of the tests, a thread that exited with a fiber
     * switched out) left its redzones poisoned; the frame written here and the first
     * frames above it must not trip on them (a false stack-buffer-overflow in ctx_make,
     * seen at -O0, whose frames are larger). The top page costs 512 bytes of shadow. */
    size_t fresh = (size_t)((char *)weft__stack_top(s) - s->lo);
    if (fresh > 4096) fresh = 4096;
    __asan_unpoison_memory_region((char *)weft__stack_top(s) - fresh, fresh);
#endif
    fc->entry = entry;
    fc->arg = arg;
    f->sp = weft__ctx_make((void *)top, fiber_start, fc);
#if WEFT_ASAN
    f->asan_bottom = s->lo;
    f->asan_size = (size_t)((char *)top - s->lo);
#endif
#if WEFT_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
}

#if WEFT_ASAN
/* A fiber leaving for good never returns from the frames it is in, so their redzones would
 * stay poisoned in its stack's shadow, and the next fiber on that stack, with frames of
 * other shapes at those depths, would trip on them (a false stack-buffer-overflow, seen
 * when a coroutine's first frame freed a zombie's stack of its own size). Only the frames
 * from here to the top are live: clearing them costs a few hundred bytes of shadow, not
 * the whole stack's. noinline: its own frame (no locals) is below all of its callers'. */
__attribute__((noinline)) void weft__fiber_asan_leaving(const weft__fiber *f)
{
    char *here = __builtin_frame_address(0);
    char *top = (char *)f->asan_bottom + f->asan_size;
    if (here < top) __asan_unpoison_memory_region(here, (size_t)(top - here));
}
#endif

#if WEFT_TSAN
void weft__fiber_destroy(weft__fiber *f)
{
    if (f->tsan) __tsan_destroy_fiber(f->tsan);
    f->tsan = NULL;
}
#endif
