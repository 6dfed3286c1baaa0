/* core/internal.h — what every layer of weft shares: allocation, fatal errors, deadlines,
 * the futex, the internal mutex, intrusive lists and the per-thread state.
 *
 * Layer rule: src/core depends on libc and pthreads only, and on nothing else in weft.
 * Internal non-static symbols are named weft__*; the library is built with
 * -fvisibility=hidden, so only WEFT_API functions are exported.
 */
#ifndef WEFT_CORE_INTERNAL_H
#define WEFT_CORE_INTERNAL_H

#include <weft.h>

#include "core/perturb.h"

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define weft__likely(x)   __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)
#define weft__container_of(p, type, member) \
    ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Debug builds (NDEBUG not defined, the default for `make` and `make test`) keep asserts,
 * poison freed objects and report misuse such as a coroutine ending with a lock held. */
#ifdef NDEBUG
#define WEFT_DEBUG 0
#else
#define WEFT_DEBUG 1
#endif

/* Prints "weft: <message>" to stderr and aborts. For misuse that cannot be reported by a
 * return value and would otherwise corrupt memory. Async-signal-safe formatting is not
 * promised. */
noreturn void weft__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An assert that stays on in debug builds and prints the failed condition. */
#if WEFT_DEBUG
#define weft__assert(cond, what) \
    do { if (weft__unlikely(!(cond))) \
        weft__fatal("%s:%d: %s (%s)", __FILE__, __LINE__, what, #cond); } while (0)
#else
#define weft__assert(cond, what) ((void)0)
#endif

/* ---- allocation: the one hook every weft allocation goes through --------------------- */

/* Built with AddressSanitizer / ThreadSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif
#ifndef WEFT_ASAN
#define WEFT_ASAN 0
#endif
#ifndef WEFT_TSAN
#define WEFT_TSAN 0
#endif

void *weft__malloc(size_t n);
void *weft__calloc(size_t n, size_t size);
void *weft__aligned_alloc(size_t align, size_t size);   /* size rounded up to align */
void *weft__realloc(void *p, size_t n);            /* NULL: p untouched, as realloc */
char *weft__strdup(const char *s);
void  weft__free(void *p);

/* Fork safety (core/fork.c): a module registers its hook on first use, once; from then
 * on every fork of the process calls prepare (before it, in rank order), then parent or
 * child (after it, in reverse rank order). A module whose lock is held while it calls into
 * another module has the lower rank. Any context; may be called again (the last wins). */
enum {
    WEFT__FORK_PROCESS,              /* proc/process.c: the registry of processes */
    WEFT__FORK_SHARED,               /* shared/wait.c: the coroutines' futex table */
    WEFT__FORK_SIGNAL,               /* proc/signal.c: the router's state */
    WEFT__FORK_POOL,                 /* pool/executor.c: the lazy pools */
    WEFT__FORK_THREAD,               /* future/thread.c: the registry of threads */
    WEFT__FORK_PARENT_FD,            /* core/parent_fd.c: descriptors children must not keep */
    WEFT__FORK_ALLOC,                /* core/alloc.c: the allocation depot */
    WEFT__FORK_RANKS
};
void weft__fork_hook(int rank, void (*prepare)(void), void (*parent)(void),
                     void (*child)(void));

/* Descriptors a forked child must not keep (core/parent_fd.c): in the child of every fork
 * they point at /dev/null (the number stays taken). weft__parent_pipe / _socketpair make a
 * pair with both ends registered before any fork can copy them (flags: pipe2's, or
 * SOCK_CLOEXEC / SOCK_NONBLOCK); 0 or -errno. weft__parent_fd_close closes fd, forgetting
 * it first if registered (any descriptor may be passed: the unregistered ones cost an
 * atomic load and close outside the lock). Any context; they block
 * only on the table's short lock. */
int weft__parent_pipe(int fds[2], int flags, int min_fd);    /* both ends >= min_fd */
int weft__parent_socketpair(int fds[2], int flags);
int weft__parent_fd_close(int fd);
/* The calling thread's next fork leaves fd (registered) open in its child: the end handed
 * to the child. -1: none. Set it just before the fork and back to -1 after. */
void weft__parent_fd_keep_in_child(int fd);

/* Around fork (the hooks above): the allocation depot's lock. */
void weft__alloc_fork_prepare(void);
void weft__alloc_fork_parent(void);
void weft__alloc_fork_child(void);

/* A per-thread cache of freed blocks of a few sizes (tasks, pool jobs: spawned and freed by the
 * thousand: without it glibc trims its heap top after each batch and the next batch faults
 * every page back in). weft__block_get returns a block of `size` bytes (NULL: -ENOMEM;
 * the allocation hook counts it like a malloc); weft__block_put takes one back (any thread;
 * blocks of another size, or beyond the cache's bound, are freed). Freed at thread exit.
 * Off under ASan, so that it still sees a use after free. */
void *weft__block_get(size_t size);
void  weft__block_put(void *p, size_t size);
void  weft__blocks_thread_exit(void);
/* Test hook: when > 0, counts allocations down and fails the one that reaches 0. */
extern _Atomic long weft__alloc_fail_countdown;

/* ---- system calls that must not be hooked ------------------------------------------------
 * libweft_hook (docs/HOOKS.md) replaces libc's read, write, nanosleep... for the whole
 * program, and weft's own code runs in coroutines too: the loop's eventfd, the fatal and
 * stack-overflow messages (the latter in a SIGSEGV handler) and the perturbation sleeps
 * must reach the kernel directly, never park a coroutine (a perturbation sleep holds an
 * internal mutex). */
static inline ssize_t weft__sys_write(int fd, const void *buf, size_t n)
{
    return (ssize_t)syscall(SYS_write, fd, buf, n);
}

static inline ssize_t weft__sys_read(int fd, void *buf, size_t n)
{
    return (ssize_t)syscall(SYS_read, fd, buf, n);
}

static inline void weft__sys_nanosleep(const struct timespec *ts)
{
    syscall(SYS_nanosleep, ts, NULL);
}

/* ---- deadlines ------------------------------------------------------------------------ */

#define WEFT__NO_DEADLINE INT64_MAX

/* Turns a timeout (ns from now, WEFT_FOREVER, 0) into an absolute deadline on weft_now's
 * clock (WEFT__NO_DEADLINE for none). -EINVAL for a negative timeout other than FOREVER. */
static inline int weft__deadline(int64_t timeout, int64_t *deadline)
{
    if (timeout == WEFT_FOREVER) { *deadline = WEFT__NO_DEADLINE; return 0; }
    if (timeout < 0) return -EINVAL;
    int64_t now = weft_now();
    *deadline = timeout > WEFT__NO_DEADLINE - now ? WEFT__NO_DEADLINE : now + timeout;
    return 0;
}

static inline struct timespec weft__timespec(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / WEFT_SEC), (long)(ns % WEFT_SEC) };
    return ts;
}

/* ---- the futex ------------------------------------------------------------------------ */

/* Sleeps while *word == expected, until woken or the absolute CLOCK_MONOTONIC deadline
 * (WEFT__NO_DEADLINE: none). Spurious returns happen; callers re-check. Returns 0, or
 * -ETIMEDOUT once the deadline has passed. */
int weft__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline);

/* Wakes up to n threads sleeping on word. Harmless if the word's memory has been reused:
 * at worst a spurious wake-up, which every futex user tolerates. */
static inline void weft__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The store-to-load barrier of the "publish, then look" (Dekker) pattern: one side stores its
 * flag then loads the other side's, the other side does the same (or an atomic RMW, then a
 * load), and at least one must see the other's store. C11 promises that for seq_cst
 * accesses alone, and the hardware gives it (x86 compiles the store to xchg, aarch64's ldar
 * may not pass an earlier stlr), but emulators do not always: qemu-user turns aarch64's
 * stlr/ldar pair into plain x86 moves, which the host's store buffer reorders, and a loop
 * then slept with a post it never saw (issue 20's lost wake-up). A full fence between the
 * store and the load holds under every translation. Only on slow paths (before sleeping,
 * shutting down, closing): it costs an mfence / dmb ish. */
static inline void weft__store_load_fence(void)
{
    atomic_thread_fence(memory_order_seq_cst);
}

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* How long a waiter spins, watching for its wake-up, before it sleeps in the kernel. A
 * futex wake-up of a sleeping vCPU costs 50-80 us on this kind of machine (the host must
 * wake the halted vCPU); one caught while spinning costs well under one. Spinning about as
 * long as a sleep-and-wake costs is the classic 2-competitive choice: never more than twice
 * the better of the two. 20 us let ~1% of ping-pong hand-offs fall asleep (p99 108 us);
 * 50 us keeps p99 under 1 us. A wait that does sleep has burnt at most that much CPU first.
 * Measured in time, not iterations: a pause takes 3 ns on some CPUs, 30-40 ns on others. */
#define WEFT__SPIN_NS (50 * WEFT_US)

/* ---- the internal mutex --------------------------------------------------------------- */

/* A small futex mutex (0 free, 1 locked, 2 locked with sleepers) for weft's own short
 * critical sections: wait-lists and bookkeeping, never user code. Taking it blocks the
 * whole thread (never suspends a coroutine), so nothing may wait or switch while holding
 * one. Spins briefly before sleeping. Lock order between two of them: see each user.
 *
 * Debug builds record, per thread, which internal mutexes it holds (a short list: they
 * nest a few deep at most; the mutex itself stays one word, as weft_once's fixed size
 * needs), so that "m held" rules can be asserted (weft__mutex_held, as SQLite's
 * sqlite3_mutex_held), an unlock by a thread that does not hold the mutex aborts, and a
 * wait or switch with one held aborts (weft__assert_no_mutex: weft__sched_park and the
 * waiter's park). */
typedef struct { _Atomic uint32_t word; } weft__mutex;
#define WEFT__MUTEX_INIT { 0 }

void weft__mutex_lock_slow(weft__mutex *m);

#if WEFT_DEBUG
/* The internal mutexes the calling thread holds, innermost last (core/futex.c). */
#define WEFT__MUTEX_DEPTH 8
typedef struct weft__mutexes_owned {
    unsigned n;
    weft__mutex *held[WEFT__MUTEX_DEPTH];
} weft__mutexes_owned;
extern _Thread_local weft__mutexes_owned weft__mutexes_self
    __attribute__((tls_model("initial-exec")));

static inline weft__mutexes_owned *weft__mutexes_get(void)
{
    weft__mutexes_owned *o = &weft__mutexes_self;
    __asm__("" : "+r"(o));              /* as weft__tls_get: no UBSan check of the address */
    return o;
}

/* Debug bookkeeping of lock and unlock (core/futex.c); the second aborts if the calling
 * thread does not hold m. */
void weft__mutex_note(weft__mutex *m);
void weft__mutex_forget(weft__mutex *m);

/* True if the calling thread holds m. Debug builds only (assertions). */
static inline bool weft__mutex_held(weft__mutex *m)
{
    const weft__mutexes_owned *o = weft__mutexes_get();
    for (unsigned i = o->n; i-- > 0;)
        if (o->held[i] == m) return true;
    return false;
}
#define weft__assert_held(m) weft__assert(weft__mutex_held(m), "internal mutex not held")
/* Before anything that waits or switches: the calling thread holds no internal mutex. */
#define weft__assert_no_mutex() \
    weft__assert(weft__mutexes_get()->n == 0, "a wait or switch with an internal mutex held")
#else
#define weft__assert_held(m) ((void)0)
#define weft__assert_no_mutex() ((void)0)
#endif

static inline void weft__mutex_lock(weft__mutex *m)
{
    uint32_t expected = 0;
    if (weft__unlikely(!atomic_compare_exchange_strong_explicit(
            &m->word, &expected, 1, memory_order_acquire, memory_order_relaxed)))
        weft__mutex_lock_slow(m);
#if WEFT_DEBUG
    weft__mutex_note(m);
#endif
    weft__perturb(WEFT__PP_MUTEX_LOCKED);
}

static inline void weft__mutex_unlock(weft__mutex *m)
{
    weft__perturb(WEFT__PP_MUTEX_UNLOCK);
#if WEFT_DEBUG
    weft__mutex_forget(m);
#endif
    if (weft__unlikely(atomic_exchange_explicit(&m->word, 0, memory_order_release) == 2))
        weft__futex_wake(&m->word, 1);
}

/* ---- intrusive doubly-linked lists (circular, with a head sentinel) ------------------- */

typedef struct weft__list { struct weft__list *prev, *next; } weft__list;

static inline void weft__list_init(weft__list *h) { h->prev = h->next = h; }
static inline bool weft__list_empty(const weft__list *h) { return h->next == h; }
/* A node that is not on any list has next == NULL (after weft__list_unlink or memset). */
static inline bool weft__list_linked(const weft__list *n) { return n->next != NULL; }

static inline void weft__list_push_back(weft__list *h, weft__list *n)
{
    n->prev = h->prev; n->next = h;
    h->prev->next = n; h->prev = n;
}

static inline void weft__list_push_front(weft__list *h, weft__list *n)
{
    n->next = h->next; n->prev = h;
    h->next->prev = n; h->next = n;
}

static inline void weft__list_unlink(weft__list *n)
{
    n->prev->next = n->next; n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

static inline weft__list *weft__list_pop_front(weft__list *h)
{
    if (weft__list_empty(h)) return NULL;
    weft__list *n = h->next;
    weft__list_unlink(n);
    return n;
}

/* ---- per-thread state ----------------------------------------------------------------- */

struct weft__loop;
struct weft__local_slots;
struct weft__stack;
struct weft__scope;

/* Everything weft keeps per thread. Only its own thread touches it, except where a field
 * says otherwise. initial-exec TLS: one instruction to reach, also from a signal handler. */
typedef struct weft__tls {
    struct weft__loop *loop;            /* this thread's loop, or NULL (loop/ owns it) */
    struct weft_thread *thread;         /* the weft_thread running here, or NULL */
    struct weft__local_slots *locals;   /* weft_local values (core/local.c) */
    struct weft__block_class {          /* weft__block_put's cache, per block size: a list
                                           through the blocks' first word (alloc.c) */
        void *list;
        unsigned n;
        size_t size;
    } blocks[4];
    struct weft__stack *stack_cache;    /* hot free stacks of the default size (fiber/) */
    unsigned stack_cache_n;
    struct weft__stack *stack_batch;    /* freed stacks waiting to be released in a batch */
    unsigned stack_batch_n;
    bool exit_hook;                     /* the thread-exit destructor is armed */
    bool stack_hook;                    /* ...and the stack cache's part of it set up
                                           (fiber/stack.c) */
    bool thread_wait;                   /* waits block the thread even inside a coroutine
                                           (the atexit path; loop/waiter.c) */
    uint64_t id;                        /* this thread's context id, once asked for
                                           (weft__context_id); 0 until then */
    struct weft__scope *scope;          /* innermost deadline scope of the thread's own
                                           context (loop/scope.c) */
    const _Atomic bool *job_cancel;     /* set while a pool worker runs a job: its cancel
                                           flag (pool/pool.c; read by weft_cancelled and by
                                           thread waits) */
    void *pool;                         /* the pool this thread works for (pool/pool.c) */
    void *inline_jobs;                  /* the jobs this thread runs as their waiter,
                                           innermost first: a chain of frames on its stack
                                           (pool/pool.c, run_claimed), or NULL */
    int pool_blocked;                   /* its waits on that pool's jobs now counted as
                                           blocked (pool/pool.c) */
} weft__tls;

extern _Thread_local weft__tls weft__tls_self __attribute__((tls_model("initial-exec")));

/* A pointer to the calling thread's block. Use this rather than &weft__tls_self: gcc 12's
 * UBSan null check of a thread-local's address is `add GOTTPOFF(%rip),%rax; je`, and the
 * linker relaxes that add into an lea, which sets no flags, so the je reads stale ones.
 * The empty asm hides where the pointer comes from. */
static inline weft__tls *weft__tls_get(void)
{
    weft__tls *t = &weft__tls_self;
    __asm__("" : "+r"(t));
    return t;
}

/* Makes sure weft__thread_exit_hooks run when this thread exits (pthread key). */
void weft__tls_arm_exit_hook(void);

/* Called at thread exit, in this order: the loop's shutdown (set by loop/ when it creates
 * a loop), the locals, the stack cache (set by fiber/). */
extern void (*weft__exit_loop_hook)(void);
extern void (*weft__exit_stack_hook)(void);
void weft__locals_thread_exit(void);

#endif /* WEFT_CORE_INTERNAL_H */
