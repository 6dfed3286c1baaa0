/* fiber/compact.c — compact fibers whose frames are copied to and from a shared run stack
 * (see fiber/internal.h and docs/COMPACT_STACKS.md). The run stack's loop thread only. */
#include "fiber/internal.h"

#if WEFT__HAVE_COMPACT

#include <stdlib.h>
#include <string.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

int weft__runstack_init(weft__runstack *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->stack = weft__stack_get(0);
    if (!rs->stack) return -ENOMEM;
    rs->scratch = weft__stack_get(0);
    if (!rs->scratch) {
        weft__stack_put(rs->stack);
        return -ENOMEM;
    }
    rs->top = weft__stack_top(rs->stack);
    return 0;
}

void weft__runstack_destroy(weft__runstack *rs)
{
    weft__stack_put(rs->stack);
    weft__stack_put(rs->scratch);
    rs->stack = rs->scratch = NULL;
    rs->owner = NULL;
}

void weft__cfiber_init(weft__cfiber *c, weft__fiber *f, weft__runstack *rs,
                       void (*entry)(void *), void *arg)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->rs = rs;
    c->state = WEFT__CF_NEW;
    c->entry = entry;
    c->arg = arg;
}

void weft__cfiber_release(weft__cfiber *c)
{
    if (c->rs && c->rs->owner == c) c->rs->owner = NULL;
    free(c->save);
    c->save = NULL;
    c->save_len = c->save_cap = 0;
}

/* Saves the owner's live frames into its buffer (on the scratch stack). The buffer grows
 * to fit (a new block: the old bytes need no copying), and shrinks when it is more than
 * four times what is saved plus 1 KiB: a coroutine that once went deep does not keep a
 * deep buffer for the rest of its life, and one that alternates between two depths does
 * not reallocate at every save. */
static void save_owner(weft__runstack *rs, weft__cfiber *o)
{
    size_t live = (size_t)(rs->top - (char *)o->f->sp);
    size_t cap = (live + 63) & ~(size_t)63;
    if (live > o->save_cap) {
        free(o->save);
        o->save = malloc(cap);
        if (!o->save) weft__fatal("out of memory saving a compact coroutine's stack");
        o->save_cap = (uint32_t)cap;
    } else if (o->save_cap > 4 * live + 1024) {
        char *b = realloc(o->save, cap);        /* a failed shrink keeps the old buffer */
        if (b) {
            o->save = b;
            o->save_cap = (uint32_t)cap;
        }
    }
    memcpy(o->save, o->f->sp, live);
    o->save_len = (uint32_t)live;
    o->state = WEFT__CF_SAVED;
    rs->saved_bytes += live;
}

/* Runs on the scratch stack, between the outgoing fiber's save of its registers and the
 * incoming one's restore: the run stack belongs to neither now. */
static void between(void *p)
{
    weft__runstack *rs = p;
    weft__cfiber *to = rs->to, *o = rs->owner;
    if (o && o->state == WEFT__CF_ON_STACK) save_owner(rs, o);
    /* Memcheck marked the run stack below each earlier stack pointer unaddressable as
     * frames were popped; the incoming frames are written there now (the copy then carries
     * their definedness from the save buffer). */
    if (to->state == WEFT__CF_NEW) {
        VALGRIND_MAKE_MEM_UNDEFINED(rs->top - 256, 256);
        to->f->sp = weft__ctx_make(rs->top, to->entry, to->arg);
    } else {
        VALGRIND_MAKE_MEM_UNDEFINED(to->f->sp, to->save_len);
        memcpy(to->f->sp, to->save, to->save_len);
        rs->restored_bytes += to->save_len;
    }
    to->state = WEFT__CF_ON_STACK;
    rs->owner = to;
    rs->copies++;
    rs->next_sp = to->f->sp;
}

void weft__cfiber_switch_in(weft__fiber *from, weft__cfiber *to, void **reap)
{
    weft__runstack *rs = to->rs;
    rs->to = to;
    weft__ctx_switch_copy(&from->sp, &rs->next_sp, between, rs,
                          weft__stack_top(rs->scratch), reap);
}

#endif
