/* hook/fd.c — descriptors closed while a coroutine waits on them, and close/dup2/dup3.
 *
 * A coroutine parked on fd waits in its loop's epoll. If another thread (or coroutine)
 * closes fd meanwhile, the kernel drops the registration with the file — with any event
 * not yet collected, so even a shutdown before the close wakes nobody — and the wait
 * would never end. So the hooked close (and dup2 / dup3, which close their target) bumps
 * fd's generation, and every hooked wait comes back every 50 ms to look at it (wait.c):
 * a coroutine blocked on a descriptor another thread closes gets EBADF within 50 ms.
 * (libc's blocking read on a socket another thread closes goes on waiting for data;
 * the hooked one does better.) Nothing is done to the descriptor itself: a close by
 * the hooks has no effect libc's would not have.
 *
 * Descriptors from HOOK_FDS up are not tracked: a close of one of them while a coroutine
 * waits on it is noticed by the wait's own timeout only (docs/HOOKS.md).
 */
#include "hook/internal.h"

#define HOOK_FDS 65536

struct fd_state {
    _Atomic uint32_t gen;
};

static struct fd_state fds[HOOK_FDS];   /* zero pages until touched */

static struct fd_state *state(int fd)
{
    return fd >= 0 && fd < HOOK_FDS ? &fds[fd] : NULL;
}

uint32_t hook__fd_gen(int fd)
{
    struct fd_state *s = state(fd);
    return s ? atomic_load_explicit(&s->gen, memory_order_acquire) : 0;
}

bool hook__fd_closed_since(int fd, uint32_t gen)
{
    struct fd_state *s = state(fd);
    return s && atomic_load_explicit(&s->gen, memory_order_acquire) != gen;
}

/* Called before fd stops naming its file. Any context. */
static void closing(int fd)
{
    struct fd_state *s = state(fd);
    if (s) atomic_fetch_add_explicit(&s->gen, 1, memory_order_release);
}

/* close: in every context (a thread may close what a coroutine waits on). */
HOOK_EXPORT int close(int fd)
{
    closing(fd);
    return REAL(close)(fd);
}

HOOK_EXPORT int dup2(int oldfd, int newfd)
{
    if (oldfd != newfd) closing(newfd);
    return REAL(dup2)(oldfd, newfd);
}

HOOK_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd) closing(newfd);
    return REAL(dup3)(oldfd, newfd, flags);
}
