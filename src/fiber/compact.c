/* fiber/compact.c — PROTOTYPE: compact fibers whose frames are copied to and from a shared
 * run stack (see compact.h and docs/COMPACT_STACKS.md). */
#include "fiber/compact.h"

#if WEFT__HAVE_COMPACT

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The copies (memcpy, and realloc when a save buffer grows) run here. */
#define SCRATCH (64u * 1024u)

int weft__runstack_init(weft__runstack *rs, size_t size)
{
    memset(rs, 0, sizeof *rs);
    rs->stack = weft__stack_get(size);
    if (!rs->stack) return -ENOMEM;
    rs->top = weft__stack_top(rs->stack);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    rs->scratch_len = SCRATCH + page;
    rs->scratch_map = mmap(NULL, rs->scratch_len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (rs->scratch_map == MAP_FAILED) {
        weft__stack_put(rs->stack);
        return -ENOMEM;
    }
    if (mprotect(rs->scratch_map, page, PROT_NONE) != 0) { /* guard: best effort */ }
    rs->scratch_top = rs->scratch_map + rs->scratch_len;   /* page-aligned: 16-aligned */
    return 0;
}

void weft__runstack_destroy(weft__runstack *rs)
{
    weft__stack_put(rs->stack);
    munmap(rs->scratch_map, rs->scratch_len);
    rs->owner = NULL;
}

void weft__cfiber_init(weft__cfiber *c, weft__runstack *rs, void (*entry)(void *), void *arg)
{
    memset(c, 0, sizeof *c);
    c->rs = rs;
    c->state = WEFT__CF_NEW;
    c->entry = entry;
    c->arg = arg;
}

void weft__cfiber_release(weft__cfiber *c)
{
    if (c->rs->owner == c) c->rs->owner = NULL;
    free(c->save);
    c->save = NULL;
    c->save_len = c->save_cap = 0;
}

/* Saves the owner's live frames into its buffer. False: no memory (nothing changed). */
static bool save_owner(weft__runstack *rs, weft__cfiber *o)
{
    size_t live = (size_t)(rs->top - (char *)o->f.sp);
    if (live > o->save_cap) {
        size_t cap = (live + 63) & ~(size_t)63;     /* grown to fit, never shrunk */
        char *b = realloc(o->save, cap);
        if (!b) return false;
        o->save = b;
        o->save_cap = (uint32_t)cap;
    }
    memcpy(o->save, o->f.sp, live);
    o->save_len = (uint32_t)live;
    o->state = WEFT__CF_SAVED;
    rs->saved_bytes += live;
    return true;
}

/* Runs on the scratch stack, between the outgoing fiber's save of its registers and the
 * incoming one's restore: the run stack belongs to neither now. */
static void between(void *p)
{
    weft__runstack *rs = p;
    weft__cfiber *to = rs->to, *o = rs->owner;
    if (o && o != to && o->state == WEFT__CF_ON_STACK && !save_owner(rs, o)) {
        rs->err = -ENOMEM;
        rs->next_sp = rs->from->sp;            /* back where we came from: no switch */
        return;
    }
    if (to->state == WEFT__CF_NEW) {
        to->f.sp = weft__ctx_make(rs->top, to->entry, to->arg);
    } else {
        memcpy(to->f.sp, to->save, to->save_len);
        rs->restored_bytes += to->save_len;
    }
    to->state = WEFT__CF_ON_STACK;
    rs->owner = to;
    rs->copies++;
    rs->err = 0;
    rs->next_sp = to->f.sp;
}

int weft__cfiber_switch_copy(weft__fiber *from, weft__cfiber *to)
{
    weft__runstack *rs = to->rs;
    rs->to = to;
    rs->from = from;
    weft__ctx_switch_copy(&from->sp, &rs->next_sp, between, rs, rs->scratch_top);
    /* Back in `from`: at once if the save failed (rs still names this switch, err set), or
     * resumed later by another switch (a later copy switch names other fibers, or
     * succeeded and left err 0). */
    return rs->from == from && rs->to == to ? rs->err : 0;
}

#endif
