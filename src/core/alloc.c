/* core/alloc.c — the single allocation hook, and weft__fatal.
 *
 * Every heap allocation in weft goes through weft__malloc / weft__calloc so that tests can
 * make the N-th one fail (weft__alloc_fail_countdown) and check each error path.
 */
#include "core/internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

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
 * the submitting thread and freed by a worker), so that neither goes to malloc. A batch is
 * a list of BATCH blocks; batches are chained through the second word of their first block.
 *
 * Fresh blocks are carved from chunks (8 KiB, doubling up to a 2 MiB huge page, filled at
 * once: map_chunk), not taken one by one from malloc: on this VM a first-touch page fault
 * costs ~16 us, and a million futures kept at once (128 MB of jobs) spent ~0.6 us each in
 * faults — most of pool-throughput-futures' time. Carved blocks
 * are never given back: the depot keeps every batch (no bound) and a thread's exit hands its
 * cache to the depot, so the memory stays at its high-water mark, reused by the next burst
 * (a burst reuses the previous one's pages). A size the carving cannot take (more than CARVE_SIZES
 * sizes) still comes from malloc; such blocks are told apart by address (is_carved). */
#define BATCH 256
#define DEPOT_MAX 64                 /* batches of malloc'd blocks (a size not carved) */
#define CHUNK ((size_t)2 << 20)      /* the largest chunk: one huge page */
#define CHUNK_FIRST ((size_t)8 << 10) /* the first of a size: a program with a few jobs or
                                         tasks keeps two pages per size, not 2 MiB (a
                                         chunk's last blocks go out as a short batch, so
                                         a chunk may hold less than a batch) */
#ifndef MADV_POPULATE_WRITE
#define WEFT__MADV_POPULATE_WRITE 23
#else
#define WEFT__MADV_POPULATE_WRITE MADV_POPULATE_WRITE
#endif
#define CARVE_SIZES 4

static weft__mutex depot_lock = WEFT__MUTEX_INIT;
static struct {
    size_t size;
    void *batches;
    unsigned n;
} depot[4];

/* Carving, under depot_lock: per size, the unused rest of its current chunk, and blocks
 * handed back one by one by a thread with no cache class for them (`loose`). Every chunk
 * ever mapped is on `chunks`, for is_carved: the record lives outside the chunk (malloc),
 * so that a chunk holds whole batches (a header inside cost up to a batch per chunk: half
 * of a task chunk's 128 KiB). */
static struct {
    size_t size;                     /* 0: slot unused */
    char *next, *end;
    size_t chunk;                    /* the length of its last chunk (they double) */
    void *loose;
} carve[CARVE_SIZES];
typedef struct chunk_rec {
    struct chunk_rec *next;
    char *base;
    size_t len;
} chunk_rec;
static chunk_rec *chunks;

/* A chunk of len bytes, its pages present, or NULL. Whole huge pages (CHUNK) are aligned
 * and asked for (MADV_HUGEPAGE) and filled in one call (MADV_POPULATE_WRITE, Linux 5.14):
 * here a first touch of a 4 KiB page, even one MAP_POPULATE filled, costs ~7 us (the
 * hypervisor's page tables: 128 MB took 220-290 ms to write once, 30 ms as huge pages). An
 * older kernel, or no huge page free, leaves the pages to fault in one by one. */
static char *map_chunk(size_t len)
{
    size_t span = len == CHUNK ? 2 * CHUNK : len;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    if (len == CHUNK) {
        char *a = (char *)(((uintptr_t)m + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
        if (a > m) munmap(m, (size_t)(a - m));
        if (a + CHUNK < m + span) munmap(a + CHUNK, (size_t)(m + span - (a + CHUNK)));
        m = a;
#ifdef MADV_HUGEPAGE
        (void)madvise(m, len, MADV_HUGEPAGE);
#endif
    }
    (void)madvise(m, len, WEFT__MADV_POPULATE_WRITE);
    return m;
}

/* The stride of carved blocks: malloc's alignment. */
static size_t carve_stride(size_t size) { return (size + 15) & ~(size_t)15; }

/* Whether p lies in a chunk. depot_lock held. Only on rare paths (a block put back by a
 * thread with no cache class for its size). */
static bool is_carved(const void *p)
{
    for (chunk_rec *c = chunks; c; c = c->next)
        if ((const char *)p >= c->base && (const char *)p < c->base + c->len) return true;
    return false;
}

/* The carving slot of size (taken if free), or -1. depot_lock held. */
static int carve_slot(size_t size)
{
    for (int i = 0; i < CARVE_SIZES; i++)
        if (carve[i].size == size) return i;
    for (int i = 0; i < CARVE_SIZES; i++)
        if (carve[i].size == 0) {
            carve[i].size = size;
            return i;
        }
    return -1;
}

/* A fresh batch of `size` blocks: reserved here (depot_lock held) as *b, *nb blocks at
 * carve_stride(size) (BATCH, or fewer: the last of a chunk), linked by the caller after
 * unlocking (so the lock is not held while
 * their lines are fetched). Or, rare, blocks handed back loose go straight into c (empty)
 * and *b stays NULL. Returns 0 on success; else the length of the chunk to map first (the
 * size's chunk has run out; the caller maps it without the lock and calls carve_install),
 * or SIZE_MAX if the size cannot be carved (no slot). */
static size_t carve_reserve(struct weft__block_class *c, size_t size, char **b,
                            unsigned *nb)
{
    *b = NULL;
    *nb = 0;
    int slot = carve_slot(size);
    if (slot < 0) return SIZE_MAX;
    size_t stride = carve_stride(size);
    if (carve[slot].loose) {                /* rare: hand those out first, one batch's worth */
        void *list = NULL;
        unsigned n = 0;
        while (carve[slot].loose && n < BATCH) {
            void *p = carve[slot].loose;
            carve[slot].loose = *(void **)p;
            *(void **)p = list;
            list = p;
            n++;
        }
        c->list = list;
        c->n = n;
        return 0;
    }
    size_t room = (size_t)(carve[slot].end - carve[slot].next) / stride;
    if (room == 0) {
        size_t len = carve[slot].chunk ? carve[slot].chunk * 2 : CHUNK_FIRST;
        if (len > CHUNK) len = CHUNK;
        while (len < stride) len *= 2;
        return len;
    }
    *nb = room < BATCH ? (unsigned)room : BATCH;
    *b = carve[slot].next;
    carve[slot].next += stride * *nb;
    return 0;
}

/* Makes the chunk m (len bytes, just mapped; rec its record, malloc'd) the size's current
 * one. depot_lock held. If another thread installed one meanwhile that still has room, m
 * and rec go back (a rare race: its filling was wasted, not its memory). */
static void carve_install(size_t size, char *m, size_t len, chunk_rec *rec)
{
    int slot = carve_slot(size);
    if (slot < 0 || (size_t)(carve[slot].end - carve[slot].next) >= carve_stride(size)) {
        munmap(m, len);
        weft__free(rec);
        return;
    }
    rec->base = m;
    rec->len = len;
    rec->next = chunks;
    chunks = rec;
    carve[slot].chunk = len;
    carve[slot].next = m;                   /* page-aligned: blocks start on a line */
    carve[slot].end = m + len;
}

/* Links a reserved batch b of n `size` blocks into c (empty). No lock: b is the caller's.
 * (c->n counts them: a short batch is fine, the depot only ever takes whole BATCHes.) */
static void carve_link(struct weft__block_class *c, size_t size, char *b, unsigned n)
{
    size_t stride = carve_stride(size);
    for (unsigned k = 0; k + 1 < n; k++) *(void **)(b + k * stride) = b + (k + 1) * stride;
    *(void **)(b + (n - 1) * stride) = NULL;
    c->list = b;
    c->n = n;
}

/* fork (core/fork.c): the depot stays consistent across it — its lock is held over the
 * fork and released on both sides (the child's copy, held by the forking thread, which is
 * the only one there). Registered before the depot's lock is first taken (depot_enter), not
 * with the first weft thread: a program with no weft thread of its own (a coroutine loop on
 * main, plain pthreads calling weft) uses the depot too. */
void weft__alloc_fork_prepare(void) { weft__mutex_lock(&depot_lock); }
void weft__alloc_fork_parent(void) { weft__mutex_unlock(&depot_lock); }
void weft__alloc_fork_child(void) { weft__mutex_unlock(&depot_lock); }
#define WEFT__HAVE_DEPOT_FORK 1

static pthread_once_t depot_fork_once = PTHREAD_ONCE_INIT;

static void depot_register_fork(void)
{
    weft__fork_hook(WEFT__FORK_ALLOC, weft__alloc_fork_prepare, weft__alloc_fork_parent,
                    weft__alloc_fork_child);
}

/* Takes depot_lock, the fork hook registered first. Any thread; blocks on depot_lock. */
static void depot_enter(void)
{
    pthread_once(&depot_fork_once, depot_register_fork);
    weft__mutex_lock(&depot_lock);
}

/* Takes a batch of `size` blocks from the depot into c (empty); false if none. */
static bool depot_take(struct weft__block_class *c, size_t size)
{
    bool got = false;
    depot_enter();
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
    char *b = NULL;
    unsigned nb = 0;
    /* Not under Valgrind: memcheck sees mmap'd memory as defined and never as heap blocks,
     * so carved blocks would hide leaks and uninitialised reads from `make test-valgrind`
     * (the blocks then come from malloc, as a size that is not carved). */
    if (!got && !RUNNING_ON_VALGRIND) {
        size_t len = carve_reserve(c, size, &b, &nb);
        if (len && len != SIZE_MAX) {
            /* A new chunk: mapped and filled (up to a millisecond for a huge page) without
             * the lock, which every thread's batch hand-over takes. */
            weft__mutex_unlock(&depot_lock);
            chunk_rec *rec = weft__malloc(sizeof *rec);
            char *m = rec ? map_chunk(len) : NULL;
            if (!m) weft__free(rec);
            depot_enter();
            if (m) {
                carve_install(size, m, len, rec);
                len = carve_reserve(c, size, &b, &nb);
            }
        }
        got = len == 0;
    }
    weft__mutex_unlock(&depot_lock);
    if (b) carve_link(c, size, b, nb);
    return got;
}

/* One block of `size` back: a carved one onto its size's loose list, a malloc'd one to
 * free. depot_lock held. */
static void give_one(void *p, size_t size)
{
    if (is_carved(p)) {
        for (int i = 0; i < CARVE_SIZES; i++)
            if (carve[i].size == size) {
                *(void **)p = carve[i].loose;
                carve[i].loose = p;
                return;
            }
        weft__fatal("a carved block of %zu bytes with no carving slot", size);
    }
    free(p);
}

/* Gives BATCH blocks of c (full) to the depot, or back to malloc if it is full (a size
 * that is not carved). */
static void depot_give(struct weft__block_class *c, size_t size)
{
    void *b = c->list, *last = b;
    for (int k = 1; k < BATCH; k++) last = *(void **)last;
    c->list = *(void **)last;
    c->n -= BATCH;
    *(void **)last = NULL;
    depot_enter();
    int slot = -1;
    for (int i = 0; i < 4 && slot < 0; i++)
        if (depot[i].size == size) slot = i;
    for (int i = 0; i < 4 && slot < 0; i++)
        if (depot[i].n == 0) {
            depot[i].size = size;
            slot = i;
        }
    /* A carved size keeps every batch (its blocks cannot go to free); a malloc'd one is
     * bounded. */
    bool carved = false;
    for (int i = 0; i < CARVE_SIZES; i++)
        if (carve[i].size == size) carved = true;
    if (slot >= 0 && (carved || depot[slot].n < DEPOT_MAX)) {
        ((void **)b)[1] = depot[slot].batches;
        depot[slot].batches = b;
        depot[slot].n++;
        b = NULL;
    }
    while (b) {                              /* no depot slot (rare): block by block */
        void *next = *(void **)b;
        give_one(b, size);
        b = next;
    }
    weft__mutex_unlock(&depot_lock);
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
    depot_enter();          /* no class for it: rare */
    give_one(p, size);
    weft__mutex_unlock(&depot_lock);
    return;
#endif
    (void)size;
    free(p);
}

void weft__blocks_thread_exit(void)
{
#if !WEFT_ASAN
    weft__tls *t = weft__tls_get();
    for (int i = 0; i < (int)(sizeof t->blocks / sizeof t->blocks[0]); i++) {
        /* Whole batches go to the depot as batches (no walk of the chunk list per block,
         * which the loose path below needs, under the lock every hand-over takes). */
        while (t->blocks[i].n >= BATCH) depot_give(&t->blocks[i], t->blocks[i].size);
        if (!t->blocks[i].list) continue;
        depot_enter();
        while (t->blocks[i].list) {
            void *p = t->blocks[i].list;
            t->blocks[i].list = *(void **)p;
            give_one(p, t->blocks[i].size);
        }
        weft__mutex_unlock(&depot_lock);
        t->blocks[i].n = 0;
        t->blocks[i].size = 0;        /* a later use (another key's destructor) re-arms */
    }
#endif
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
