/* hook/poll.c — poll, ppoll, select, pselect, epoll_wait, epoll_pwait in a coroutine.
 *
 * poll and ppoll wait in weft_io_poll (every fd of the set watched by the loop at once);
 * select and pselect are poll over their sets (nfds above FD_SETSIZE is cut to it, as an
 * fd_set holds no more and the kernel clamps nfds likewise); epoll_wait waits for the epoll
 * descriptor itself to become readable, then asks it without blocking. A zero timeout
 * goes to libc as it is. Their own timeout expiring returns 0, as libc's; cancellation is
 * -1/ECANCELED and a deadline scope -1/ETIMEDOUT (a library polling with no timeout and
 * retrying on 0 or EINTR would otherwise spin). The signal masks of ppoll, pselect and
 * epoll_pwait are not applied in a coroutine: the thread keeps running other coroutines
 * meanwhile, so no mask could be swapped in for this call alone (docs/HOOKS.md).
 */
#include "hook/internal.h"

#include <limits.h>
#include <stdlib.h>

extern _Atomic uint64_t hook__parks, hook__interrupts;

/* weft_io_poll with a deadline; returns poll's answer (count, 0 on its own timeout) or -1
 * with errno. */
static int poll_until(struct pollfd *fds, nfds_t n, int64_t deadline)
{
    int64_t timeout = WEFT_FOREVER;
    if (deadline != HOOK_NEVER) {
        timeout = deadline - weft_now();
        if (timeout < 0) timeout = 0;
    }
    atomic_fetch_add_explicit(&hook__parks, 1, memory_order_relaxed);
    if (n == 0) {                       /* poll with no descriptors: a sleep */
        int rc = weft_sleep(timeout);
        if (rc == 0) return 0;
        atomic_fetch_add_explicit(&hook__interrupts, 1, memory_order_relaxed);
        return hook__fail(rc);
    }
    int rc = weft_io_poll(fds, (size_t)n, timeout);
    if (rc >= 0) return rc;
    if (rc == -ETIMEDOUT && deadline != HOOK_NEVER && weft_now() >= deadline) return 0;
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        atomic_fetch_add_explicit(&hook__interrupts, 1, memory_order_relaxed);
    return hook__fail(rc);
}

static int64_t ms_deadline(int ms)
{
    return ms < 0 ? HOOK_NEVER : weft_now() + (int64_t)ms * WEFT_MS;
}

static int64_t ts_deadline(const struct timespec *t)
{
    if (!t) return HOOK_NEVER;
    if (t->tv_sec > (INT64_MAX / 4) / WEFT_SEC) return HOOK_NEVER;
    return weft_now() + (int64_t)t->tv_sec * WEFT_SEC + t->tv_nsec;
}

HOOK_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (timeout == 0 || !hook__active()) return REAL(poll)(fds, n, timeout);
    return poll_until(fds, n, ms_deadline(timeout));
}

HOOK_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
                      const sigset_t *mask)
{
    if ((t && t->tv_sec == 0 && t->tv_nsec == 0) || !hook__active())
        return REAL(ppoll)(fds, n, t, mask);
    if (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= WEFT_SEC)) {
        errno = EINVAL;
        return -1;
    }
    return poll_until(fds, n, ts_deadline(t));
}

extern void __chk_fail(void) __attribute__((noreturn));

HOOK_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof *fds < n) __chk_fail();
    return poll(fds, n, timeout);
}

HOOK_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
                            const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof *fds < n) __chk_fail();
    return ppoll(fds, n, t, mask);
}

/* select's sets as a pollfd array, and back. Returns select's answer, -1 with errno. */
static int select_until(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int64_t deadline)
{
    if (nfds < 0) { errno = EINVAL; return -1; }
    if (nfds > FD_SETSIZE) nfds = FD_SETSIZE;
    struct pollfd small[16];
    int count = 0;
    for (int fd = 0; fd < nfds; fd++)
        if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex)))
            count++;
    struct pollfd *p = count <= 16 ? small : malloc((size_t)count * sizeof *p);
    if (!p) { errno = ENOMEM; return -1; }
    int i = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) |
                           (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
                           (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));
        if (ev) p[i++] = (struct pollfd){ .fd = fd, .events = ev };
    }
    int r = poll_until(p, (nfds_t)count, deadline);
    if (r >= 0) {
        for (i = 0; i < count; i++)
            if (p[i].revents & POLLNVAL) { r = -1; errno = EBADF; break; }
    }
    if (r >= 0) {
        if (rd) FD_ZERO(rd);
        if (wr) FD_ZERO(wr);
        if (ex) FD_ZERO(ex);
        r = 0;
        for (i = 0; i < count; i++) {
            short re = p[i].revents, ev = p[i].events;
            if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) { FD_SET(p[i].fd, rd); r++; }
            if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR | POLLHUP))) { FD_SET(p[i].fd, wr); r++; }
            if ((ev & POLLPRI) && (re & POLLPRI)) { FD_SET(p[i].fd, ex); r++; }
        }
    }
    if (p != small) free(p);
    return r;
}

/* What select writes back into its timeval: the time left (Linux does). */
static void store_left(struct timeval *tv, int64_t deadline)
{
    if (!tv || deadline == HOOK_NEVER) return;
    int64_t left = deadline - weft_now();
    if (left < 0) left = 0;
    tv->tv_sec = (time_t)(left / WEFT_SEC);
    tv->tv_usec = (suseconds_t)(left % WEFT_SEC / WEFT_US);
}

HOOK_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    if ((tv && tv->tv_sec == 0 && tv->tv_usec == 0) || !hook__active())
        return REAL(select)(nfds, rd, wr, ex, tv);
    if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
        errno = EINVAL;
        return -1;
    }
    int64_t deadline = HOOK_NEVER;
    if (tv && tv->tv_sec <= (INT64_MAX / 4) / WEFT_SEC)
        deadline = weft_now() + (int64_t)tv->tv_sec * WEFT_SEC + (int64_t)tv->tv_usec * WEFT_US;
    int r = select_until(nfds, rd, wr, ex, deadline);
    store_left(tv, deadline);
    return r;
}

HOOK_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
                        const struct timespec *t, const sigset_t *mask)
{
    if ((t && t->tv_sec == 0 && t->tv_nsec == 0) || !hook__active())
        return REAL(pselect)(nfds, rd, wr, ex, t, mask);
    if (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= WEFT_SEC)) {
        errno = EINVAL;
        return -1;
    }
    return select_until(nfds, rd, wr, ex, ts_deadline(t));
}

static int epoll_until(int epfd, struct epoll_event *ev, int max, int64_t deadline)
{
    if (max <= 0 || !ev) { errno = EINVAL; return -1; }
    for (;;) {
        int r = REAL(epoll_wait)(epfd, ev, max, 0);
        if (r != 0) return r;
        struct pollfd p = { .fd = epfd, .events = POLLIN };
        r = poll_until(&p, 1, deadline);
        if (r <= 0) return r;
        if (p.revents & POLLNVAL) { errno = EBADF; return -1; }
    }
}

HOOK_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    if (timeout == 0 || !hook__active()) return REAL(epoll_wait)(epfd, ev, max, timeout);
    return epoll_until(epfd, ev, max, ms_deadline(timeout));
}

HOOK_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                            const sigset_t *mask)
{
    if (timeout == 0 || !hook__active())
        return REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
    return epoll_until(epfd, ev, max, ms_deadline(timeout));
}
