/* core/alloc.c — the single allocation hook, and weft__fatal.
 *
 * Every heap allocation in weft goes through weft__malloc / weft__calloc so that tests can
 * make the N-th one fail (weft__alloc_fail_countdown) and check each error path.
 */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Atomic long weft__alloc_fail_countdown = 0;

static bool should_fail(void)
{
    if (weft__likely(atomic_load_explicit(&weft__alloc_fail_countdown, memory_order_relaxed) <= 0))
        return false;
    return atomic_fetch_sub(&weft__alloc_fail_countdown, 1) == 1;
}

void *weft__malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *weft__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n, size);
}

void *weft__aligned_alloc(size_t align, size_t size)
{
    return should_fail() ? NULL : aligned_alloc(align, (size + align - 1) / align * align);
}

void *weft__realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *weft__strdup(const char *s)
{
    return should_fail() ? NULL : strdup(s);
}

void weft__free(void *p)
{
    free(p);
}

#define BLOCKS_MAX 1024
#define NCLASSES ((int)(sizeof(((weft__tls *)0)->blocks) / sizeof(((weft__tls *)0)->blocks[0])))

#if !WEFT_ASAN
/* The class for size, or (take_free) a free class; NULL if none. */
static struct weft__block_class *block_class(weft__tls *t, size_t size, bool take_free)
{
    for (int i = 0; i < NCLASSES; i++)
        if (t->blocks[i].size == size) return &t->blocks[i];
    if (take_free)
        for (int i = 0; i < NCLASSES; i++)
            if (t->blocks[i].n == 0) {
                /* The thread's cache is in use from now on: free it at thread exit (a
                 * thread that only takes blocks, a detached submitter, holds some too). */
                if (weft__unlikely(!t->exit_hook)) weft__tls_arm_exit_hook();
                t->blocks[i].size = size;
                return &t->blocks[i];
            }
    return NULL;
}

/* The depot: full batches of blocks handed between threads (a pool's jobs are allocated by
 * the submitting thread and freed by a worker), so that neither goes to malloc. Bounded: a
 * batch beyond DEPOT_MAX is freed. A batch is a list of BATCH blocks; batches are chained
 * through the second word of their first block. */
#define BATCH 256
#define DEPOT_MAX 64

static weft__mutex depot_lock = WEFT__MUTEX_INIT;
static struct {
    size_t size;
    void *batches;
    unsigned n;
} depot[4];

/* fork (core/fork.c, registered with the first thread): the depot stays consistent across it — its lock is held over the
 * fork and released on both sides (the child's copy, held by the forking thread, which is
 * the only one there). */
void weft__alloc_fork_prepare(void) { weft__mutex_lock(&depot_lock); }
void weft__alloc_fork_parent(void) { weft__mutex_unlock(&depot_lock); }
void weft__alloc_fork_child(void) { weft__mutex_unlock(&depot_lock); }
#define WEFT__HAVE_DEPOT_FORK 1

/* Takes a batch of `size` blocks from the depot into c (empty); false if none. */
static bool depot_take(struct weft__block_class *c, size_t size)
{
    bool got = false;
    weft__mutex_lock(&depot_lock);
    for (int i = 0; i < 4; i++) {
        if (depot[i].size == size && depot[i].batches) {
            void *b = depot[i].batches;
            depot[i].batches = ((void **)b)[1];
            depot[i].n--;
            c->list = b;
            c->n = BATCH;
            got = true;
            break;
        }
    }
    weft__mutex_unlock(&depot_lock);
    return got;
}

/* Gives BATCH blocks of c (full) to the depot, or back to malloc if it is full. */
static void depot_give(struct weft__block_class *c, size_t size)
{
    void *b = c->list, *last = b;
    for (int k = 1; k < BATCH; k++) last = *(void **)last;
    c->list = *(void **)last;
    c->n -= BATCH;
    *(void **)last = NULL;
    weft__mutex_lock(&depot_lock);
    int slot = -1;
    for (int i = 0; i < 4 && slot < 0; i++)
        if (depot[i].size == size) slot = i;
    for (int i = 0; i < 4 && slot < 0; i++)
        if (depot[i].n == 0) {
            depot[i].size = size;
            slot = i;
        }
    if (slot >= 0 && depot[slot].n < DEPOT_MAX) {
        ((void **)b)[1] = depot[slot].batches;
        depot[slot].batches = b;
        depot[slot].n++;
        b = NULL;
    }
    weft__mutex_unlock(&depot_lock);
    while (b) {
        void *next = *(void **)b;
        free(b);
        b = next;
    }
}

#endif /* !WEFT_ASAN */

void *weft__block_get(size_t size)
{
#if !WEFT_ASAN
    weft__tls *t = weft__tls_get();
    struct weft__block_class *c = block_class(t, size, true);
    if (c && (c->list || depot_take(c, size))) {
        if (should_fail()) return NULL;
        void *p = c->list;
        c->list = *(void **)p;
        c->n--;
        /* Blocks often come back from another thread (a pool's worker freed them): fetch
         * the next one's line now, so the next get does not wait for it. */
        if (c->list) __builtin_prefetch(c->list, 1);
        return p;
    }
#endif
    return weft__malloc(size);
}

void weft__block_put(void *p, size_t size)
{
#if !WEFT_ASAN
    weft__tls *t = weft__tls_get();
    struct weft__block_class *c = block_class(t, size, true);
    if (c) {
        if (c->n >= BLOCKS_MAX) depot_give(c, size);
        *(void **)p = c->list;
        c->list = p;
        c->n++;
        return;
    }
#endif
    (void)size;
    free(p);
}

void weft__blocks_thread_exit(void)
{
    weft__tls *t = weft__tls_get();
    for (int i = 0; i < (int)(sizeof t->blocks / sizeof t->blocks[0]); i++) {
        while (t->blocks[i].list) {
            void *p = t->blocks[i].list;
            t->blocks[i].list = *(void **)p;
            free(p);
        }
        t->blocks[i].n = 0;
        t->blocks[i].size = 0;        /* a later use (another key's destructor) re-arms */
    }
}

void weft__fatal(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t r = weft__sys_write(STDERR_FILENO, "weft: ", 6);
    r = weft__sys_write(STDERR_FILENO, buf, (size_t)n);
    (void)r;
    abort();
}

#ifndef WEFT__HAVE_DEPOT_FORK
/* ASan builds have no depot (every block goes to malloc, for ASan to see): nothing to do. */
void weft__alloc_fork_prepare(void) {}
void weft__alloc_fork_parent(void) {}
void weft__alloc_fork_child(void) {}
#endif
