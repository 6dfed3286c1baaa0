/* fiber/stack.c — coroutine stacks: guarded, pooled, and cheap by the million.
 *
 * Layout. Default-size stacks are carved from slabs of SLAB_STACKS stacks: one anonymous
 * private mapping (MAP_NORESERVE), each stack preceded by a guard page. Other sizes get a
 * mapping of their own. A stack's descriptor (weft__stack) sits in its top bytes, so the one
 * page a coroutine always touches also holds the bookkeeping. Only touched pages are
 * resident: a coroutine blocked near the top of its stack costs one page.
 *
 * Guard pages and the mapping limit. The kernel allows vm.max_map_count (65,530 here)
 * mappings per process, and a page with other protections splits a mapping in two, so
 * mprotect guards allow only ~32,000 stacks. weft therefore installs guards with
 * madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which marks page-table entries and splits
 * nothing: a million guarded stacks need a few hundred mappings (adjacent slabs even merge).
 * On older kernels weft falls back to mprotect guards while they fit in half the mapping
 * budget, and then to unguarded stacks with a canary word at the bottom, checked at every
 * switch away from the coroutine (loop/): an overflow is then caught late, not prevented,
 * and the canary costs a second resident page. A one-time warning says so on stderr.
 * The debug switch WEFT_DEBUG_STACK_GUARD=mprotect|canary forces a mode (for tests).
 *
 * Pooling. Freed default stacks go to a per-thread cache (LIFO, hot, no locking, up to
 * CACHE_MAX), then into a per-thread batch; a full batch (BATCH stacks) has every page
 * below each stack's top page handed back to the kernel (MADV_DONTNEED; guard markers
 * survive it) and moves to the process-wide pool under pool_lock. Slabs are never
 * unmapped: their address space is reused.
 *
 * System calls are batched: one process_madvise (with PIDFD_SELF, Linux 6.15+) installs the
 * guards of a whole slab or releases a whole batch; older kernels get one madvise per page
 * range. A million coroutines thus cost a few tens of thousands of system calls, not
 * millions.
 */
#include "fiber/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/uio.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define SLAB_STACKS 64
#define CACHE_MAX   32
#define BATCH       64
#ifndef PIDFD_SELF
#define PIDFD_SELF  (-10000)
#endif
#define CANARY      0x7765667473746b21ull   /* "weftstk!" */

enum guard_mode { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT, GUARD_CANARY };

static weft__mutex pool_lock = WEFT__MUTEX_INIT;
static weft__stack *pool;                 /* pool_lock */
static enum guard_mode mode;              /* pool_lock (read without it only for reports) */
static long mprotect_budget;              /* pool_lock: guard pages mprotect may still add */
static size_t page;                       /* set once, under pool_lock */

static _Atomic bool no_process_madvise;   /* the kernel (or Valgrind) lacks it */

static size_t round_pages(size_t n) { return (n + page - 1) & ~(page - 1); }

static void choose_mode(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    long max_maps = 65530;
    /* "e": close-on-exec. Another thread may be starting a program (its own posix_spawn,
     * not weft's, which closes every descriptor) at this moment. */
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
        fclose(f);
    }
    mprotect_budget = max_maps / 4;       /* two mappings per guard: half the limit */
    mode = GUARD_MADVISE;
#ifdef WEFT_HAVE_VALGRIND
    /* Valgrind does not know process_madvise and warns about it: use madvise. */
    if (RUNNING_ON_VALGRIND) atomic_store(&no_process_madvise, true);
#endif
    const char *force = getenv("WEFT_DEBUG_STACK_GUARD");
    if (force && strcmp(force, "mprotect") == 0) mode = GUARD_MPROTECT;
    if (force && strcmp(force, "canary") == 0) mode = GUARD_CANARY;
}

static void warn_canary(void)
{
    static bool warned;
    if (warned) return;
    warned = true;
    fprintf(stderr, "weft: out of mappings for stack guard pages (kernel without "
                    "MADV_GUARD_INSTALL); further stacks use canaries, which detect an "
                    "overflow late instead of preventing it\n");
}

/* madvise over n ranges: one process_madvise where the kernel allows it on the calling
 * process, else one madvise per range. Returns 0 if every range was advised. */
static int madvise_vec(struct iovec *iov, int n, int advice)
{
    if (!atomic_load_explicit(&no_process_madvise, memory_order_relaxed)) {
        size_t total = 0;
        for (int i = 0; i < n; i++) total += iov[i].iov_len;
        long r = syscall(SYS_process_madvise, PIDFD_SELF, iov, (size_t)n, advice, 0u);
        if (r == (long)total) return 0;
        if (r < 0 && (errno == EBADF || errno == ENOSYS || errno == EINVAL || errno == EPERM))
            atomic_store_explicit(&no_process_madvise, true, memory_order_relaxed);
    }
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (madvise(iov[i].iov_base, iov[i].iov_len, advice) != 0) rc = -errno;
    return rc;
}

/* Makes the page at p a guard page; returns the WEFT__STACK_* flag that results.
 * Called with pool_lock held (it may change the mode). */
static uint32_t install_guard(char *p)
{
    weft__assert_held(&pool_lock);
    if (mode == GUARD_MADVISE) {
        if (madvise(p, page, MADV_GUARD_INSTALL) == 0) return WEFT__STACK_GUARDED;
        mode = GUARD_MPROTECT;            /* EINVAL: an older kernel */
    }
    if (mode == GUARD_MPROTECT) {
        if (mprotect_budget > 0 && mprotect(p, page, PROT_NONE) == 0) {
            mprotect_budget--;
            return WEFT__STACK_GUARDED;
        }
        mode = GUARD_CANARY;
        warn_canary();
    }
    return WEFT__STACK_CANARY;
}

/* Writes the descriptor of a stack whose usable memory is [lo, lo + size). */
static weft__stack *describe(char *lo, size_t size, uint32_t flags)
{
    weft__stack *s = (weft__stack *)((uintptr_t)(lo + size - sizeof *s) & ~(uintptr_t)63);
    s->next = NULL;
    s->lo = lo;
    s->size = size;
    s->flags = flags;
    s->valgrind_id = VALGRIND_STACK_REGISTER(lo, lo + size);
    if (flags & WEFT__STACK_CANARY) *(uint64_t *)lo = CANARY ^ (uintptr_t)lo;
    return s;
}

/* Maps a new slab and puts all its stacks but the returned one into the pool.
 * Called with pool_lock held. */
static weft__stack *new_slab(void)
{
    weft__assert_held(&pool_lock);
    size_t usable = round_pages(WEFT_STACK_DEFAULT), stride = usable + page;
    char *base = mmap(NULL, stride * SLAB_STACKS, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return NULL;
    uint32_t guard = WEFT__STACK_GUARDED;
    if (mode == GUARD_MADVISE) {
        struct iovec iov[SLAB_STACKS];
        for (int i = 0; i < SLAB_STACKS; i++)
            iov[i] = (struct iovec){ base + (size_t)i * stride, page };
        if (madvise_vec(iov, SLAB_STACKS, MADV_GUARD_INSTALL) != 0) mode = GUARD_MPROTECT;
    }
    weft__stack *first = NULL;
    for (int i = SLAB_STACKS - 1; i >= 0; i--) {
        char *g = base + (size_t)i * stride;
        if (mode != GUARD_MADVISE) guard = install_guard(g);
        weft__stack *s = describe(g + page, usable, WEFT__STACK_POOLED | guard);
        if (i == 0) { first = s; break; }
        s->next = pool;
        pool = s;
    }
    return first;
}

static weft__stack *map_one(size_t size)
{
    weft__mutex_lock(&pool_lock);         /* `page` is set by choose_mode: the process's */
    if (mode == GUARD_UNKNOWN) choose_mode();   /* first stack may be this one */
    weft__mutex_unlock(&pool_lock);
    size_t usable = round_pages(size);
    char *base = mmap(NULL, usable + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return NULL;
    weft__mutex_lock(&pool_lock);
    if (mode == GUARD_UNKNOWN) choose_mode();
    uint32_t flags = install_guard(base);
    weft__mutex_unlock(&pool_lock);
    return describe(base + page, usable, flags);
}

static void stack_cache_drain(void);
static void release_batch(void);
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static void set_hook(void) { weft__exit_stack_hook = stack_cache_drain; }

weft__stack *weft__stack_get(size_t size)
{
    weft__tls *t = weft__tls_get();
    if (size == 0 || size == WEFT_STACK_DEFAULT) {
        weft__stack *s = t->stack_cache;
        if (s) {
            t->stack_cache = s->next;
            t->stack_cache_n--;
            return s;
        }
        if ((s = t->stack_batch) != NULL) {      /* dirty, not yet released: fine */
            t->stack_batch = s->next;
            t->stack_batch_n--;
            return s;
        }
        weft__mutex_lock(&pool_lock);
        if (mode == GUARD_UNKNOWN) choose_mode();
        s = pool;
        if (s) pool = s->next;
        else s = new_slab();
        weft__mutex_unlock(&pool_lock);
        if (s && (s->flags & WEFT__STACK_CANARY))
            *(uint64_t *)s->lo = CANARY ^ (uintptr_t)s->lo;
        return s;
    }
    return map_one(size);
}

void weft__stack_put(weft__stack *s)
{
    if (!(s->flags & WEFT__STACK_POOLED)) {
        size_t size = s->size;
        char *lo = s->lo;
        VALGRIND_STACK_DEREGISTER(s->valgrind_id);
        munmap(lo - page, size + page);
        return;
    }
    weft__tls *t = weft__tls_get();
    if (t->stack_cache_n < CACHE_MAX) {
        /* Once per thread (not at every put into an empty cache, which a loop that
         * spawns and joins one coroutine at a time does each time). */
        if (weft__unlikely(!t->stack_hook)) {
            pthread_once(&hook_once, set_hook);
            weft__tls_arm_exit_hook();
            t->stack_hook = true;
        }
        s->next = t->stack_cache;
        t->stack_cache = s;
        t->stack_cache_n++;
        return;
    }
    s->next = t->stack_batch;
    t->stack_batch = s;
    if (++t->stack_batch_n == BATCH) release_batch();
}

/* Hands the pages of a full batch (all but each top page, which holds the descriptor) back
 * to the kernel in one system call, then moves the batch to the process-wide pool. */
static void release_batch(void)
{
    weft__tls *t = weft__tls_get();
    struct iovec iov[BATCH];
    int n = 0;
    weft__stack *last = NULL;
    for (weft__stack *s = t->stack_batch; s; s = s->next) {
        char *top_page = (char *)((uintptr_t)s & ~(uintptr_t)(page - 1));
        if (top_page > s->lo) iov[n++] = (struct iovec){ s->lo, (size_t)(top_page - s->lo) };
        last = s;
    }
    if (!last) return;
    madvise_vec(iov, n, MADV_DONTNEED);
    weft__mutex_lock(&pool_lock);
    last->next = pool;
    pool = t->stack_batch;
    weft__mutex_unlock(&pool_lock);
    t->stack_batch = NULL;
    t->stack_batch_n = 0;
}

/* Thread exit: the cached stacks go to the process-wide pool. */
static void stack_cache_drain(void)
{
    weft__tls *t = weft__tls_get();
    while (t->stack_cache) {
        weft__stack *s = t->stack_cache;
        t->stack_cache = s->next;
        t->stack_cache_n = CACHE_MAX;     /* so that put() passes it on to the batch */
        weft__stack_put(s);
    }
    t->stack_cache_n = 0;
    release_batch();
}

bool weft__stack_guard_hit(const weft__stack *s, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)s->lo;
    if (s->flags & WEFT__STACK_GUARDED) return a >= lo - page && a < lo;
    return a >= lo - page && a < lo + page;
}

bool weft__stack_canary_ok(const weft__stack *s)
{
    return !(s->flags & WEFT__STACK_CANARY) ||
           *(const uint64_t *)s->lo == (CANARY ^ (uintptr_t)s->lo);
}

const char *weft__stack_guard_mode(void)
{
    switch (mode) {
    case GUARD_MADVISE: return "madvise";
    case GUARD_MPROTECT: return "mprotect";
    case GUARD_CANARY: return "canary";
    default: return "unset";
    }
}
