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

/* ---- compact fibers (compact.c, compact_<arch>.S): many share one run stack -------------
 *
 * A compact fiber's frames live on its run stack while it runs, and stay there after it
 * switches away as long as no other compact fiber of that run stack needs it (it is the
 * run stack's "owner"). When one does, the switch saves the owner's live part
 * [owner's saved sp, top) into the owner's save buffer (grown to fit, shrunk when far too
 * big: compact.c) and
 * restores the incoming fiber's saved part to the same addresses, so pointers into a
 * compact fiber's own frames stay valid *for itself*. The copies run on a scratch stack
 * of the run stack's own: neither fiber's frames may move under the code doing them. A
 * switch to a plain fiber, or to the current owner, is the plain switch: nothing is copied.
 *
 * The contract (libaco's): while a compact fiber is switched out, nothing may read or
 * write its stack memory — no pointer into it may be held by anyone else. The loop layer
 * keeps that for weft's own bookkeeping (the park record, loop/internal.h); users keep it
 * for theirs (docs/COMPACT_STACKS.md).
 *
 * Available on x86_64 and aarch64 in builds without ASan or TSan (neither tool is told
 * about the copies); elsewhere WEFT__HAVE_COMPACT is 0 and compact spawns run on stacks of
 * their own. Everything here runs on the run stack's loop thread.
 */
#if (defined(__x86_64__) || defined(__aarch64__)) && !WEFT_ASAN && !WEFT_TSAN
#define WEFT__HAVE_COMPACT 1
#else
#define WEFT__HAVE_COMPACT 0
#endif

typedef struct weft__cfiber weft__cfiber;

typedef struct weft__runstack {
    weft__stack *stack;         /* guarded, from weft__stack_get (default size) */
    char *top;                  /* 16-byte aligned: a fiber's frames are [sp, top) */
    weft__cfiber *owner;        /* whose frames are on it now, or NULL */
    weft__stack *scratch;       /* where the copies run */
    /* The copy in progress (here, not on either fiber's stack: the restore overwrites
     * the outgoing fiber's frames before the switch reads where to go). */
    weft__cfiber *to;
    void *next_sp;              /* where the switch goes: to's saved sp */
    /* Statistics, for tests and benchmarks. */
    uint64_t copies, saved_bytes, restored_bytes;
} weft__runstack;

enum { WEFT__CF_NEW, WEFT__CF_ON_STACK, WEFT__CF_SAVED, WEFT__CF_ENDED };

struct weft__cfiber {
    weft__fiber *f;             /* its fiber: f->sp is its saved stack pointer (a run-stack
                                   address) while switched out */
    weft__runstack *rs;
    char *save;                 /* its frames while another fiber owns the run stack */
    uint32_t save_len, save_cap;
    uint32_t state;             /* WEFT__CF_* */
    void (*entry)(void *);
    void *arg;
};

#if WEFT__HAVE_COMPACT

/* A run stack of WEFT_STACK_DEFAULT usable bytes, and its scratch stack. 0 or -ENOMEM. */
int weft__runstack_init(weft__runstack *rs);
/* No compact fiber of rs is alive any more. */
void weft__runstack_destroy(weft__runstack *rs);

/* c (whose fiber is f) will run entry(arg) on rs at its first switch-in; entry must never
 * return: it ends with weft__cfiber_end, then a final switch away. */
void weft__cfiber_init(weft__cfiber *c, weft__fiber *f, weft__runstack *rs,
                       void (*entry)(void *), void *arg);
/* The running compact fiber c is about to switch away for the last time: its frames need
 * no saving (the run stack is free for the next one). */
static inline void weft__cfiber_end(weft__cfiber *c)
{
    if (c->rs->owner == c) c->rs->owner = NULL;
    c->state = WEFT__CF_ENDED;
}
/* Forgets an ended (or never started) c: frees its save buffer. */
void weft__cfiber_release(weft__cfiber *c);

/* The copying switch (compact_x86_64.S, compact_aarch64.S): pushes the callee-saved state as
 * weft__ctx_switch does, stores the stack pointer in *save_sp, moves to scratch_top and
 * calls between(arg) there, then loads *load_sp (read after the call) and pops the same
 * frame; on the resumed side it reaps as weft__ctx_switch does (reap: the loop's zombie
 * slot). Frames are interchangeable with weft__ctx_switch's and weft__ctx_make's. */
int weft__ctx_switch_copy(void **save_sp, void **load_sp, void (*between)(void *),
                          void *arg, void *scratch_top, void **reap);

/* Switches from the running fiber `from` (plain, or the fiber of a compact one) to the
 * compact fiber `to`, which does not own its run stack: saves the owner's frames (if it
 * has not ended), restores to's (or makes its first frame). Out of memory for a save
 * buffer is fatal (the process ends with a message): nothing else could run. */
void weft__cfiber_switch_in(weft__fiber *from, weft__cfiber *to, void **reap);

/* Whether to must be switched in by weft__cfiber_switch_in (it does not own its run
 * stack) rather than by the plain switch. */
static inline bool weft__cfiber_needs_copy(const weft__cfiber *to)
{
    return to->rs->owner != to;
}

#endif /* WEFT__HAVE_COMPACT */

#endif /* WEFT_FIBER_INTERNAL_H */
