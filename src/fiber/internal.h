/* fiber/internal.h — execution contexts: the context switch, stacks, and the sanitizer and
 * Valgrind annotations that make both visible to those tools.
 *
 * A fiber is a saved stack pointer plus, in sanitizer builds, what ASan and TSan need to
 * know about the stack. This layer knows nothing of scheduling: loop/ decides who runs.
 * Everything here is used by one thread at a time (a fiber runs only on its loop's thread).
 */
#ifndef WEFT_FIBER_INTERNAL_H
#define WEFT_FIBER_INTERNAL_H

#include "core/internal.h"


#if WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* ---- the raw switch (switch_<arch>.S) -------------------------------------------------- */

/* Saves the callee-saved state on the current stack, stores the stack pointer in *save_sp,
 * and resumes the context whose saved stack pointer is load_sp. The resumed context gets 0
 * back, after weft__ctx_reap(reap) if *reap is not NULL (reap must be the same slot for
 * every switch of a thread: the resumed side finds it in a register the switcher set). */
int weft__ctx_switch(void **save_sp, void *load_sp, void **reap);

/* Defined by the scheduler (loop/sched.c): releases what *reap names, on the resumed
 * context, before it goes on. Returns 0 (the switch's value). */
int weft__ctx_reap(void **reap);

/* Whether the switch itself reaps (WEFT__CTX_REAPS): not in sanitizer builds, which must
 * tell ASan and TSan the switch has finished before any other code runs on the new stack;
 * they pass weft__ctx_no_reap (always NULL) and reap in C after the annotations. */
#if WEFT_ASAN || WEFT_TSAN
#define WEFT__CTX_REAPS 0
#else
#define WEFT__CTX_REAPS 1
#endif
extern void *weft__ctx_no_reap;

/* Prepares a new context on the stack whose (16-byte aligned) top is top: the first switch
 * to the returned stack pointer calls entry(arg), which must never return. */
void *weft__ctx_make(void *top, void (*entry)(void *), void *arg);

/* ---- stacks (stack.c) ------------------------------------------------------------------ */

/* A stack's descriptor lives in the top bytes of the stack's own memory (the page that is
 * touched first anyway); code runs below it, down to lo. One guard page lies under lo. */
typedef struct weft__stack {
    struct weft__stack *next;   /* free-list link while pooled */
    char *lo;                   /* lowest usable byte */
    size_t size;                /* usable bytes from lo to the descriptor's end */
    uint32_t flags;             /* WEFT__STACK_* */
    uint32_t valgrind_id;
} weft__stack;

enum {
    WEFT__STACK_POOLED  = 1u << 0,   /* default size, from a slab: goes back to the pool */
    WEFT__STACK_GUARDED = 1u << 1,   /* the page below lo faults on access */
    WEFT__STACK_CANARY  = 1u << 2,   /* no guard page: a canary word at lo is checked */
};

/* Gets a stack of at least size usable bytes (0: WEFT_STACK_DEFAULT), or NULL (no memory).
 * Default-size stacks come from a per-thread cache, then a process-wide pool, then new
 * slabs; other sizes are mapped one by one. Only touched pages become resident. */
weft__stack *weft__stack_get(size_t size);

/* Gives a stack back (any thread). Pages below the top page are returned to the kernel
 * when the stack leaves the per-thread cache. */
void weft__stack_put(weft__stack *s);

/* The initial stack pointer: just below the descriptor, 16-byte aligned. */
static inline void *weft__stack_top(weft__stack *s)
{
    return (void *)((uintptr_t)s & ~(uintptr_t)15);
}

/* True if addr lies in s's guard page (or, for a canary stack, within its lowest page). */
bool weft__stack_guard_hit(const weft__stack *s, const void *addr);

/* For canary stacks: false if the canary was overwritten (an overflow happened). */
bool weft__stack_canary_ok(const weft__stack *s);

/* How guard pages are made: "madvise" (MADV_GUARD_INSTALL, Linux 6.13+: no extra kernel
 * mapping per stack), "mprotect" (older kernels: two mappings per stack, within a budget
 * of vm.max_map_count), then "canary". For tests and docs. */
const char *weft__stack_guard_mode(void);

/* ---- fibers ---------------------------------------------------------------------------- */

typedef struct weft__fiber {
    void *sp;                   /* saved stack pointer while switched out */
#if WEFT_ASAN
    void *asan_fake;            /* ASan's fake-stack handle while switched out */
    const void *asan_bottom;    /* stack bounds; a thread's own context learns them */
    size_t asan_size;           /*   when it first switches away (fiber.c) */
#endif
#if WEFT_TSAN
    void *tsan;                 /* TSan's fiber handle */
#endif
} weft__fiber;

/* Initialises f as the calling thread's own context (its original stack). */
void weft__fiber_init_thread(weft__fiber *f);

/* Initialises f to run entry(arg) on stack s at its first switch-in. entry must never
 * return: it ends with weft__fiber_switch(..., exiting = true). */
void weft__fiber_init(weft__fiber *f, weft__stack *s, void (*entry)(void *), void *arg);

/* Releases the sanitizer state of a fiber that has exited (called by another context after
 * the final switch away from it). Only TSan has any: elsewhere nothing, and no call (it is
 * on every coroutine's end). */
#if WEFT_TSAN
void weft__fiber_destroy(weft__fiber *f);
#else
static inline void weft__fiber_destroy(weft__fiber *f) { (void)f; }
#endif

#if WEFT_ASAN
extern _Thread_local weft__fiber *weft__fiber_from;
/* Clears the shadow of the calling fiber's live frames: it is leaving for good. */
void weft__fiber_asan_leaving(const weft__fiber *f);
#endif

/* Switches from the running fiber `from` to `to`. Returns when some context switches back
 * to `from`. exiting: from will never run again (lets ASan drop its fake stack). reap: see
 * weft__ctx_switch (ignored, weft__ctx_no_reap passed instead, unless WEFT__CTX_REAPS). */
static inline void weft__fiber_switch(weft__fiber *from, weft__fiber *to, bool exiting,
                                      void **reap)
{
#if WEFT_ASAN
    if (exiting) weft__fiber_asan_leaving(from);
    weft__fiber_from = from;
    __sanitizer_start_switch_fiber(exiting ? NULL : &from->asan_fake,
                                   to->asan_bottom, to->asan_size);
#else
    (void)exiting;
#endif
#if WEFT_TSAN
    __tsan_switch_to_fiber(to->tsan, 0);
#endif
#if WEFT__CTX_REAPS
    weft__ctx_switch(&from->sp, to->sp, reap);
#else
    (void)reap;
    weft__ctx_switch(&from->sp, to->sp, &weft__ctx_no_reap);
#endif
#if WEFT_ASAN
    const void *bottom; size_t size;
    __sanitizer_finish_switch_fiber(from->asan_fake, &bottom, &size);
    weft__fiber_from->asan_bottom = bottom;
    weft__fiber_from->asan_size = size;
#endif
}

#endif /* WEFT_FIBER_INTERNAL_H */
