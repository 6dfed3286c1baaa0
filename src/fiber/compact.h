/* fiber/compact.h — compact (copied) stacks: many coroutines share one run stack.
 *
 * A compact fiber's frames live on its run stack while it runs, and stay there after it
 * switches away as long as no other compact fiber of that run stack needs it (it is the
 * run stack's "owner"). When one does, the switch saves the owner's live part
 * [owner's saved sp, top) into the owner's save buffer (grown to fit, never shrunk) and
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
 * Available on x86_64 in builds without ASan or TSan (neither tool is told about the
 * copies); elsewhere WEFT__HAVE_COMPACT is 0 and compact spawns run on stacks of their
 * own. Everything here runs on the run stack's loop thread.
 */
#ifndef WEFT_FIBER_COMPACT_H
#define WEFT_FIBER_COMPACT_H

#include "fiber/internal.h"

#if defined(__x86_64__) && !WEFT_ASAN && !WEFT_TSAN
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

/* The copying switch (compact_x86_64.S): pushes the callee-saved state as
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

#endif /* WEFT_FIBER_COMPACT_H */
