/* loop/overflow.c — stack overflows end the process with a message naming the coroutine.
 *
 * A coroutine that runs past the bottom of its stack touches the guard page below it and
 * gets SIGSEGV. The handler runs on a per-thread alternate signal stack (the coroutine's
 * own stack is exhausted), checks whether the faulting address is the running coroutine's
 * guard page, and if so writes "weft: stack overflow in coroutine ..." and aborts. Other
 * faults go to the handler that was installed before weft's (ASan's, say), or to the
 * default action. The handler is installed once per process, the signal stack once per
 * thread that has a loop (unless the thread already has one).
 * Only async-signal-safe calls in the handler, except dladdr to name an unnamed coroutine's
 * function (the process is about to abort anyway).
 */
#include "loop/internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* A tiny formatter that does not allocate. */
typedef struct { char buf[512]; size_t n; } msg;

static void put(msg *m, const char *s)
{
    while (*s && m->n < sizeof m->buf - 1) m->buf[m->n++] = *s++;
}

static void put_num(msg *m, uint64_t v, unsigned base)
{
    char tmp[24];
    int i = 0;
    do { tmp[i++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
    if (base == 16) put(m, "0x");
    while (i) { char c[2] = { tmp[--i], 0 }; put(m, c); }
}

static void describe(msg *m, const weft__coro *c)
{
    put(m, "coroutine ");
    if (c->name) { put(m, "'"); put(m, c->name); put(m, "' "); }
    put(m, "#");
    put_num(m, weft__coro_id((weft__coro *)c), 10);   /* lock-free: signal-safe */
    if (c->entry) {
        Dl_info info;
        put(m, " (function ");
        if (dladdr(c->entry, &info) && info.dli_sname) put(m, info.dli_sname);
        else put_num(m, (uint64_t)(uintptr_t)c->entry, 16);
        put(m, ")");
    }
}

static void report_and_abort(const weft__coro *c, const char *how)
{
    msg m = { .n = 0 };
    put(&m, "weft: stack overflow in ");
    describe(&m, c);
    put(&m, how);
    put(&m, ": its stack has ");
    put_num(&m, weft__coro_stack(c)->size, 10);
    if (c->compact)        /* the shared run stack's size is fixed: a stack of its own */
        put(&m, " bytes (a compact coroutine's shared run stack); spawn it without "
                "WEFT_SPAWN_COMPACT and give it more with weft_spawn_opts.stack_size\n");
    else
        put(&m, " bytes; give it more with weft_spawn_opts.stack_size\n");
    ssize_t r = weft__sys_write(STDERR_FILENO, m.buf, m.n);
    (void)r;
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* The stack pointer at the fault. */
static uintptr_t fault_sp(void *uctx)
{
    ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    weft__loop *l = weft__tls_self.loop;
    weft__coro *c = l ? l->current : NULL;
    weft__stack *s = c && !c->is_main ? weft__coro_stack(c) : NULL;
    if (s) {
        if (weft__stack_guard_hit(s, si->si_addr)) report_and_abort(c, "");
        /* Without a guard page (canary mode) the overflow ran on until it hit something
         * unmapped: the stack pointer below the stack, or a smashed canary, tells. */
        uintptr_t sp = fault_sp(uctx), lo = (uintptr_t)s->lo;
        if ((sp < lo && lo - sp < ((uintptr_t)1 << 30)) || !weft__stack_canary_ok(s))
            report_and_abort(c, " (found without a guard page)");
    }
    /* Not ours: pass it on. */
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) { previous.sa_sigaction(sig, si, uctx); return; }
    } else if (previous.sa_handler == SIG_IGN) {
        return;
    } else if (previous.sa_handler != SIG_DFL) {
        previous.sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the faulting instruction faults again. */
    signal(SIGSEGV, SIG_DFL);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous);
}

void weft__overflow_setup(weft__loop *l)
{
    pthread_once(&install_once, install);
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  /* has one */
    void *mem = weft__malloc(ALTSTACK_SIZE);
    if (!mem) return;   /* overflows are then reported as plain SIGSEGV */
    stack_t ss = { .ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) == 0) l->altstack = mem;
    else weft__free(mem);
}

void weft__overflow_teardown(weft__loop *l)
{
    if (!l->altstack) return;
    stack_t ss = { .ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE };
    sigaltstack(&ss, NULL);
    weft__free(l->altstack);
    l->altstack = NULL;
}

void weft__overflow_check_canary(weft__coro *c)
{
    if (!weft__stack_canary_ok(weft__coro_stack(c))) report_and_abort(c, " (found by its canary)");
}
