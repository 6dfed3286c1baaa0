/* hook/wait.c — the wait under every hooked call, and the look at a descriptor's flags.
 *
 * A hooked call in a coroutine first tries without blocking; on EAGAIN it comes here:
 * weft_io_wait parks the coroutine until the descriptor is ready (or weft_io_poll, through
 * an epoll instance of its own, when another coroutine of the loop already waits on the
 * same direction of the same fd: libraries sharing a descriptor). Coroutine context only.
 */
#include "hook/internal.h"

#include <fcntl.h>
#include <sys/stat.h>

extern _Atomic uint64_t hook__parks, hook__interrupts;

/* How often a wait looks whether its descriptor was closed (fd.c): the latency of that
 * EBADF against the cost of idle waits (1,000 coroutines idle in a read wake 5,000 times
 * a second at 200 ms; at 50 ms they took a fifth of a core). */
#define CLOSE_CHECK_NS (200 * WEFT_MS)

int hook__nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return (fl & O_NONBLOCK) != 0;
}

bool hook__always_ready(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return false;
    return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode);
}

int64_t hook__sockopt_deadline(int fd, int opt)
{
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
        return HOOK_NEVER;
    if (tv.tv_sec < 0 || tv.tv_sec > (INT64_MAX / 4) / WEFT_SEC) return HOOK_NEVER;
    return weft_now() + (int64_t)tv.tv_sec * WEFT_SEC + (int64_t)tv.tv_usec * WEFT_US;
}

/* One wait of at most `slice` ns (WEFT_FOREVER: none) on fd. */
static int wait_once(int fd, unsigned dir, int64_t slice)
{
    int rc = weft_io_wait(fd, dir, slice);
    if (rc == -EBUSY) {
        struct pollfd p = { .fd = fd, .events = (short)((dir & WEFT_IO_READ ? POLLIN : 0) |
                                                       (dir & WEFT_IO_WRITE ? POLLOUT : 0)) };
        rc = weft_io_poll(&p, 1, slice);
    }
    return rc;
}

int hook__wait(int fd, unsigned dir, int64_t deadline, uint32_t gen)
{
    int rc;
    atomic_fetch_add_explicit(&hook__parks, 1, memory_order_relaxed);
    for (;;) {
        if (hook__fd_closed_since(fd, gen)) { rc = -EBADF; break; }
        int64_t now = weft_now();
        if (deadline != HOOK_NEVER && now >= deadline) { rc = -EAGAIN; break; }
        int64_t slice = deadline == HOOK_NEVER ? WEFT_FOREVER : deadline - now;
        if (slice == WEFT_FOREVER || slice > CLOSE_CHECK_NS) slice = CLOSE_CHECK_NS;
        rc = wait_once(fd, dir, slice);
        if (rc > 0) {
            rc = hook__fd_closed_since(fd, gen) ? -EBADF : 0;
            break;
        }
        if (rc != -ETIMEDOUT) break;
        /* Our own slice or deadline ran out only if its time has passed: a deadline
         * scope's -ETIMEDOUT comes earlier (timers never fire early). */
        if (slice == WEFT_FOREVER || weft_now() < now + slice) break;
    }
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        atomic_fetch_add_explicit(&hook__interrupts, 1, memory_order_relaxed);
    return rc;
}
