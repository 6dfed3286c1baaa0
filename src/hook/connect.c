/* hook/connect.c — connect, accept and accept4 on a blocking socket, in a coroutine.
 *
 * Neither has a per-call "do not wait" flag, so the socket is made non-blocking for the
 * duration of the call and given its flags back before the call returns. Another thread
 * (or process) starting a blocking call on the same socket in that window would get
 * EAGAIN (calls already blocked are not affected): a listening socket shared by threads
 * that accept in blocking mode *and* by coroutines is the one case to avoid
 * (docs/HOOKS.md). A connect that waits does so under SO_SNDTIMEO (its expiry is
 * EINPROGRESS, as libc's), an accept under SO_RCVTIMEO (EAGAIN). A descriptor closed by
 * another thread during the wait (its number perhaps reused already) gets no flags back.
 */
#include "hook/internal.h"

#include <fcntl.h>

/* Makes fd non-blocking for a call; returns its flags to give back, -1 with errno. */
static int nonblock_begin(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    return fl;
}

static void nonblock_end(int fd, int fl)
{
    int saved = errno;
    fcntl(fd, F_SETFL, fl);
    errno = saved;
}

/* True when fd reports writable now (a connect in progress has finished). */
static bool writable_now(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    return REAL(poll)(&p, 1, 0) == 1 && (p.revents & (POLLOUT | POLLERR | POLLHUP));
}

HOOK_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!hook__active()) return REAL(connect)(fd, addr, len);
    int nb = hook__nonblocking(fd);
    if (nb != 0) return REAL(connect)(fd, addr, len);   /* its owner waits (or EBADF) */
    uint32_t gen = hook__fd_gen(fd);
    int fl = nonblock_begin(fd);
    if (fl < 0) return -1;
    int64_t deadline = hook__sockopt_deadline(fd, SO_SNDTIMEO);
    int r, rc = 0;
    bool backlog_full = false;
    for (;;) {
        r = REAL(connect)(fd, addr, len);
        /* a Unix socket whose listener's backlog is full says EAGAIN (never
         * EINPROGRESS): the blocking call waits for room, so do we, then try again */
        if (r < 0 && errno == EAGAIN && addr && addr->sa_family == AF_UNIX) {
            backlog_full = true;
            if ((rc = hook__wait(fd, WEFT_IO_WRITE, deadline, gen))) break;
            continue;
        }
        backlog_full = false;
        if (r == 0 || errno != EINPROGRESS) {
            nonblock_end(fd, fl);
            return r;
        }
        /* in progress: wait until the socket says it is done (a stray wake-up, from an
         * old registration of a reused number, is not enough) */
        do rc = hook__wait(fd, WEFT_IO_WRITE, deadline, gen);
        while (rc == 0 && !writable_now(fd));
        break;
    }
    /* flags back — unless the number was closed meanwhile (and may be another socket's) */
    if (!hook__fd_closed_since(fd, gen)) nonblock_end(fd, fl);
    if (rc == -EAGAIN) return hook__fail(backlog_full ? -EAGAIN : -EINPROGRESS);
    if (rc) return hook__fail(rc);
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) return -1;
    if (err) return hook__fail(-err);
    return 0;
}

static int accept_hooked(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int nb = hook__nonblocking(fd);
    if (nb != 0) return REAL(accept4)(fd, addr, len, flags);
    uint32_t gen = hook__fd_gen(fd);
    int64_t deadline = HOOK_NEVER;
    bool first = true;
    for (;;) {
        int fl = nonblock_begin(fd);
        if (fl < 0) return -1;
        int r = REAL(accept4)(fd, addr, len, flags);
        nonblock_end(fd, fl);
        if (r >= 0) return r;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (first) {
            deadline = hook__sockopt_deadline(fd, SO_RCVTIMEO);
            first = false;
        }
        int rc = hook__wait(fd, WEFT_IO_READ, deadline, gen);
        if (rc) return hook__fail(rc);
    }
}
HOOK_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (!hook__active()) return REAL(accept4)(fd, addr, len, flags);
    return accept_hooked(fd, addr, len, flags);
}

HOOK_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (!hook__active()) return REAL(accept)(fd, addr, len);
    return accept_hooked(fd, addr, len, 0);
}
