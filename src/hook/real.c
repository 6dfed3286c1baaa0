/* hook/real.c — reaching libc's own functions (dlsym RTLD_NEXT), the per-thread switch and
 * the counters.
 *
 * Resolution is lazy and idempotent: the first hooked call of the process (which may come
 * from another library's constructor, before ours) fills the whole table; racing threads
 * store the same pointers. No code is patched at run time: libweft_hook's definitions win
 * by link order (or LD_PRELOAD), and its own calls to libc go through this table.
 */
#include "hook/internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

struct hook_real hook__real;
__thread bool hook__off __attribute__((tls_model("initial-exec")));

_Atomic uint64_t hook__parks, hook__interrupts;

static void *next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        /* a raw write: stdio may call write, which is ours and not resolved */
        char msg[128];
        int n = snprintf(msg, sizeof msg, "libweft_hook: libc has no %s\n", name);
        if (n > 0) (void)!syscall(SYS_write, 2, msg, (size_t)n);
        abort();
    }
    return p;
}

#define RESOLVE(name) \
    __atomic_store_n((void **)&hook__real.name, next(#name), __ATOMIC_RELAXED)

void hook__resolve(void)
{
    RESOLVE(read); RESOLVE(write); RESOLVE(readv); RESOLVE(writev);
    RESOLVE(recv); RESOLVE(recvfrom); RESOLVE(recvmsg);
    RESOLVE(send); RESOLVE(sendto); RESOLVE(sendmsg);
    RESOLVE(connect); RESOLVE(accept); RESOLVE(accept4);
    RESOLVE(close); RESOLVE(dup2); RESOLVE(dup3);
    RESOLVE(poll); RESOLVE(ppoll); RESOLVE(select); RESOLVE(pselect);
    RESOLVE(epoll_wait); RESOLVE(epoll_pwait);
    RESOLVE(sleep); RESOLVE(usleep); RESOLVE(nanosleep); RESOLVE(clock_nanosleep);
    RESOLVE(getaddrinfo); RESOLVE(getnameinfo);
    RESOLVE(gethostbyname); RESOLVE(gethostbyname2);
    RESOLVE(gethostbyname_r); RESOLVE(gethostbyname2_r);
}

/* Resolved before main, so that a program's first hooked call does not pay for it. */
__attribute__((constructor)) static void resolve_early(void)
{
    hook__resolve();
}

bool weft_hook_set_enabled(bool on)
{
    bool was = !hook__off;
    hook__off = !on;
    return was;
}

bool weft_hook_active(void)
{
    return hook__active();
}

uint64_t weft_hook_parks(void)
{
    return atomic_load_explicit(&hook__parks, memory_order_relaxed);
}

uint64_t weft_hook_interrupts(void)
{
    return atomic_load_explicit(&hook__interrupts, memory_order_relaxed);
}
