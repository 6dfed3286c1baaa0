/* fiber/compact.h — PROTOTYPE of compact (copied) stacks; see docs/COMPACT_STACKS.md.
 *
 * Not used by the loop, the primitives or tasks: a fiber-level experiment that measures
 * what copying stacks costs (issue 18 part 5). x86_64, plain builds only (no ASan / TSan:
 * neither is told about the copies).
 *
 * Several compact fibers share one run stack. A compact fiber's frames live on the run
 * stack while it runs, and stay there after it switches away as long as no other compact
 * fiber of that run stack needs it ("owner"). When one does, the switch saves the owner's
 * live part [owner's saved sp, top) into the owner's save buffer (grown to fit) and
 * restores the incoming fiber's saved part to the same addresses. The copies run on a
 * small scratch stack of the run stack's own (neither fiber's frames may move under the
 * code doing the copying). A switch to a plain fiber, or to the current owner, is the
 * plain switch: nothing is copied.
 *
 * The contract (libaco's): while a compact fiber is switched out, nothing may read or write
 * its stack memory: no pointer into it may be held by anyone else.
 */
#ifndef WEFT_FIBER_COMPACT_H
#define WEFT_FIBER_COMPACT_H

#include "fiber/internal.h"

#if defined(__x86_64__) && !WEFT_ASAN && !WEFT_TSAN
#define WEFT__HAVE_COMPACT 1

typedef struct weft__cfiber weft__cfiber;

typedef struct weft__runstack {
    weft__stack *stack;         /* guarded, from weft__stack_get */
    char *top;                  /* 16-byte aligned: a fiber's frames are [sp, top) */
    weft__cfiber *owner;        /* whose frames are on it now, or NULL */
    char *scratch_map;          /* the scratch stack's mapping (with a guard page) */
    size_t scratch_len;
    char *scratch_top;
    /* The copy in progress (here, not on either fiber's stack: the restore overwrites
     * the outgoing fiber's frames before the switch reads where to go). */
    weft__cfiber *to;
    weft__fiber *from;
    void *next_sp;              /* where the switch goes: to's sp, or back to from's */
    int err;
    /* Statistics (the benchmark's copy-bytes column). */
    uint64_t copies, saved_bytes, restored_bytes;
} weft__runstack;

enum { WEFT__CF_NEW, WEFT__CF_ON_STACK, WEFT__CF_SAVED };

struct weft__cfiber {
    weft__fiber f;              /* f.sp: its saved stack pointer (a run-stack address) */
    weft__runstack *rs;
    char *save;                 /* its frames while another fiber owns the run stack */
    uint32_t save_len, save_cap;
    uint32_t state;             /* WEFT__CF_* */
    void (*entry)(void *);
    void *arg;
};

/* A run stack of `size` usable bytes (0: WEFT_STACK_DEFAULT). 0 or -ENOMEM. */
int weft__runstack_init(weft__runstack *rs, size_t size);
/* No compact fiber of rs may be switched in again. */
void weft__runstack_destroy(weft__runstack *rs);

/* c will run entry(arg) on rs at its first switch-in; entry must never return. */
void weft__cfiber_init(weft__cfiber *c, weft__runstack *rs, void (*entry)(void *), void *arg);
/* Forgets c (not running, never switched in again): frees its save buffer. */
void weft__cfiber_release(weft__cfiber *c);

/* The copying switch (compact_x86_64.S): pushes the callee-saved state as
 * weft__ctx_switch does, stores the stack pointer in *save_sp, moves to scratch_top and
 * calls between(arg) there, then loads *load_sp (read after the call) and pops the same
 * frame. Frames are interchangeable with weft__ctx_switch's and weft__ctx_make's. */
int weft__ctx_switch_copy(void **save_sp, void **load_sp, void (*between)(void *),
                          void *arg, void *scratch_top);

/* Out of line: the copying case of weft__cfiber_switch. Returns -ENOMEM (nothing
 * switched) if a save buffer could not grow. */
int weft__cfiber_switch_copy(weft__fiber *from, weft__cfiber *to);

/* Switches from the running fiber `from` (plain or the .f of a compact one) to `to`
 * (to_c: its compact fiber, or NULL if `to` is plain). Copies only when to_c must take
 * its run stack from another compact fiber (or starts). 0, or -ENOMEM (see above). */
static inline int weft__cfiber_switch(weft__fiber *from, weft__fiber *to, weft__cfiber *to_c)
{
    if (!to_c || weft__likely(to_c->rs->owner == to_c)) {
        weft__ctx_switch(&from->sp, to->sp, &weft__ctx_no_reap);
        return 0;
    }
    return weft__cfiber_switch_copy(from, to_c);
}

#else
#define WEFT__HAVE_COMPACT 0
#endif

#endif /* WEFT_FIBER_COMPACT_H */
