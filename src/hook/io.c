/* hook/io.c — read, write, readv, writev and the socket transfers (recv*, send*).
 *
 * In a coroutine each call is tried without blocking: the socket calls with MSG_DONTWAIT
 * added, read/write/readv/writev as preadv2/pwritev2 with RWF_NOWAIT at the current
 * position (offset -1: pipes, sockets, FIFOs, eventfds, terminals alike; the descriptor's
 * own flags are never changed, so a child or another thread sharing it sees no
 * difference). On EAGAIN the descriptor's flags decide: non-blocking as its owner made it,
 * the caller gets EAGAIN as it would from libc; blocking, the coroutine parks until the
 * descriptor is ready (hook__wait) and tries again, under SO_RCVTIMEO / SO_SNDTIMEO for a
 * socket (their expiry is EAGAIN, as libc says). A blocking write, as libc's, returns only
 * when everything is written (or on an error after a part: the part's count); a recv with
 * MSG_WAITALL waits for all of it.
 *
 * Descriptors that are always ready (regular files, block devices) are read and written
 * as libc does (a read that RWF_NOWAIT cut short at uncached pages is finished by a plain
 * one). Those whose driver refuses RWF_NOWAIT (EOPNOTSUPP: FIFOs and ttys on this kernel)
 * wait for readiness, then make the plain call — a write of at most PIPE_BUF bytes at a
 * time, which readiness guarantees room for (a rare second reader may still take a read's
 * data first and block the thread: docs/HOOKS.md). EINVAL is libc's answer (an eventfd
 * read of fewer than 8 bytes), not a missing RWF_NOWAIT.
 */
#include "hook/internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { IO_READ, IO_WRITE };

/* Copies iov (cnt entries) for advancing it after a partial transfer; small ones on the
 * stack of the caller (buf). NULL on ENOMEM. */
static struct iovec *iov_copy(const struct iovec *iov, int cnt, struct iovec *buf, int bufn)
{
    struct iovec *v = cnt <= bufn ? buf : malloc((size_t)cnt * sizeof *v);
    if (v) memcpy(v, iov, (size_t)cnt * sizeof *v);
    return v;
}

/* Skips `done` bytes of *v / *cnt. */
static void iov_advance(struct iovec **v, int *cnt, size_t done)
{
    while (*cnt > 0 && done >= (*v)->iov_len) {
        done -= (*v)->iov_len;
        (*v)++;
        (*cnt)--;
    }
    if (*cnt > 0) {
        (*v)->iov_base = (char *)(*v)->iov_base + done;
        (*v)->iov_len -= done;
    }
}

static size_t iov_total(const struct iovec *v, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++) t += v[i].iov_len;
    return t;
}

/* Why a wait cut the call short: EAGAIN (the socket's own timeout) or weft's error. */
static ssize_t fail_wait(int rc, size_t done)
{
    if (done) return (ssize_t)done;     /* what was transferred is reported, as by libc */
    return hook__fail(rc);
}

/* Copies what is left of (v, cnt) into mine (once) so it can be advanced past done. */
static bool advance(const struct iovec *iov, int n, struct iovec small[8], struct iovec **mine,
                    struct iovec **v, int *cnt, size_t r)
{
    if (!*mine) {
        if (!(*mine = iov_copy(iov, n, small, 8))) return false;
        *v = *mine;
    }
    iov_advance(v, cnt, r);
    return true;
}

/* The blocking path of read/readv (dir IO_READ) and write/writev (IO_WRITE) on fd. */
static ssize_t rw_hooked(int fd, const struct iovec *iov, int cnt, int dir)
{
    if (cnt < 0 || cnt > IOV_MAX) { errno = EINVAL; return -1; }
    uint32_t gen = hook__fd_gen(fd);
    unsigned wdir = dir == IO_READ ? WEFT_IO_READ : WEFT_IO_WRITE;
    struct iovec small[8];
    struct iovec *mine = NULL, *v = (struct iovec *)iov;
    int n = cnt;
    size_t done = 0, want = iov_total(iov, cnt);
    int nonblock = -2;
    int64_t deadline = HOOK_NEVER;
    ssize_t r;
    for (;;) {
        r = dir == IO_READ ? preadv2(fd, v, n, -1, RWF_NOWAIT)
                           : pwritev2(fd, v, n, -1, RWF_NOWAIT);
        if (r >= 0) {
            done += (size_t)r;
            if (done == want || r == 0) break;
            if (dir == IO_READ) {
                /* a read returns what there is — but a regular file read short only
                 * because part of it was not cached yet: the rest as libc reads it */
                if (hook__always_ready(fd) && advance(iov, cnt, small, &mine, &v, &n, (size_t)r)) {
                    ssize_t more = REAL(readv)(fd, v, n);
                    if (more > 0) done += (size_t)more;
                }
                break;
            }
            /* a blocking write goes on until all is out */
            if (!advance(iov, cnt, small, &mine, &v, &n, (size_t)r)) break;
            continue;
        }
        if (errno == EOPNOTSUPP) {
            /* a driver without RWF_NOWAIT (FIFOs, ttys here): wait for readiness, then
             * the plain call — a write of at most PIPE_BUF bytes, which readiness
             * promises room for, so that it cannot block the thread */
            if (nonblock == -2) nonblock = hook__nonblocking(fd);
            if (nonblock == 0 && !hook__always_ready(fd)) {
                int rc = hook__wait(fd, wdir, deadline, gen);
                if (rc) { r = fail_wait(rc, done); goto out; }
            }
            if (dir == IO_READ) {
                r = REAL(readv)(fd, v, n);
            } else {
                size_t len = v[0].iov_len < PIPE_BUF || nonblock != 0 ? v[0].iov_len : PIPE_BUF;
                r = REAL(write)(fd, v[0].iov_base, len);
            }
            if (r > 0) done += (size_t)r;
            if (r > 0 && dir == IO_WRITE && nonblock == 0 && done < want) {
                if (!advance(iov, cnt, small, &mine, &v, &n, (size_t)r)) break;
                continue;
            }
            if (r < 0 && errno == EAGAIN && nonblock == 0) continue;   /* raced: wait again */
            break;
        }
        if (errno == EINVAL) {
            /* a real EINVAL (an eventfd read of fewer than 8 bytes, say): libc's answer */
            r = dir == IO_READ ? REAL(readv)(fd, v, n) : REAL(writev)(fd, v, n);
            if (r > 0) done += (size_t)r;
            break;
        }
        if (errno != EAGAIN) break;
        if (nonblock == -2) {
            nonblock = hook__nonblocking(fd);
            if (nonblock != 0 || hook__always_ready(fd)) {
                /* EAGAIN as its owner expects, or a file whose data is not cached yet:
                 * that read blocks in libc as it would anyway */
                if (nonblock == 0) {
                    r = dir == IO_READ ? REAL(readv)(fd, v, n) : REAL(writev)(fd, v, n);
                    if (r > 0) done += (size_t)r;
                }
                break;
            }
            deadline = hook__sockopt_deadline(fd, dir == IO_READ ? SO_RCVTIMEO : SO_SNDTIMEO);
        }
        int rc = hook__wait(fd, wdir, deadline, gen);
        if (rc) { r = fail_wait(rc, done); goto out; }
    }
    if (done) r = (ssize_t)done;
out:
    if (mine && mine != small) free(mine);
    return r;
}

HOOK_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    if (!hook__active()) return REAL(read)(fd, buf, n);
    struct iovec v = { buf, n };
    return rw_hooked(fd, &v, 1, IO_READ);
}

HOOK_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    if (!hook__active()) return REAL(write)(fd, buf, n);
    struct iovec v = { (void *)buf, n };
    return rw_hooked(fd, &v, 1, IO_WRITE);
}

HOOK_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    if (!hook__active()) return REAL(readv)(fd, iov, cnt);
    return rw_hooked(fd, iov, cnt, IO_READ);
}

HOOK_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (!hook__active()) return REAL(writev)(fd, iov, cnt);
    return rw_hooked(fd, iov, cnt, IO_WRITE);
}

/* ---- sockets ------------------------------------------------------------------------ */

/* True when a partial transfer on fd may be continued: a stream socket, no peek, no
 * ancillary data (a descriptor passed with the first part must not be asked for twice). */
static bool may_continue(int fd, const struct msghdr *m, int flags)
{
    if (flags & MSG_PEEK || m->msg_controllen) return false;
    int type = 0;
    socklen_t len = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* recvmsg/sendmsg carry every socket transfer here (recv, recvfrom, send, sendto are
 * built on them by the callers below). */
static ssize_t msg_hooked(int fd, struct msghdr *m, int flags, int dir)
{
    if (flags & MSG_DONTWAIT)     /* the caller asked not to wait */
        return dir == IO_READ ? REAL(recvmsg)(fd, m, flags) : REAL(sendmsg)(fd, m, flags);
    uint32_t gen = hook__fd_gen(fd);
    struct iovec small[8];
    struct iovec *mine = NULL, *orig = m->msg_iov;
    int orig_cnt = (int)m->msg_iovlen;
    size_t done = 0, want = iov_total(orig, orig_cnt);
    bool all = dir == IO_WRITE || (flags & MSG_WAITALL);
    int nonblock = -2;
    int64_t deadline = HOOK_NEVER;
    ssize_t r;
    for (;;) {
        r = dir == IO_READ ? REAL(recvmsg)(fd, m, flags | MSG_DONTWAIT)
                           : REAL(sendmsg)(fd, m, flags | MSG_DONTWAIT);
        if (r >= 0) {
            done += (size_t)r;
            if (!all || done >= want || r == 0) break;
            /* a stream socket's partial transfer: go on with the rest, as the blocking
             * call does (a datagram is never split; a peek would see the same bytes) */
            if (!mine && !may_continue(fd, m, flags)) break;
            if (!mine) {
                if (!(mine = iov_copy(m->msg_iov, (int)m->msg_iovlen, small, 8))) break;
                m->msg_iov = mine;
            }
            struct iovec *v = m->msg_iov;
            int cnt = (int)m->msg_iovlen;
            iov_advance(&v, &cnt, (size_t)r);
            m->msg_iov = v;
            m->msg_iovlen = (size_t)cnt;
            continue;
        }
        if (errno == EINTR) continue;   /* no signal reached the caller: nothing to report */
        if (errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (nonblock == -2) {
            nonblock = hook__nonblocking(fd);
            if (nonblock != 0) break;
            deadline = hook__sockopt_deadline(fd, dir == IO_READ ? SO_RCVTIMEO : SO_SNDTIMEO);
        }
        int rc = hook__wait(fd, dir == IO_READ ? WEFT_IO_READ : WEFT_IO_WRITE, deadline, gen);
        if (rc) { r = fail_wait(rc, done); goto out; }
    }
    if (done) r = (ssize_t)done;
out:
    if (mine) {
        m->msg_iov = orig;
        m->msg_iovlen = (size_t)orig_cnt;
        if (mine != small) free(mine);
    }
    return r;
}

HOOK_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    if (!hook__active()) return REAL(recvmsg)(fd, m, flags);
    return msg_hooked(fd, m, flags, IO_READ);
}

HOOK_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (!hook__active()) return REAL(sendmsg)(fd, m, flags);
    struct msghdr copy = *m;    /* advanced on partial sends; the caller's stays as given */
    return msg_hooked(fd, &copy, flags, IO_WRITE);
}

HOOK_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
                             socklen_t *fromlen)
{
    if (!hook__active()) return REAL(recvfrom)(fd, buf, n, flags, from, fromlen);
    struct iovec v = { buf, n };
    struct msghdr m = { .msg_name = from, .msg_namelen = from && fromlen ? *fromlen : 0,
                        .msg_iov = &v, .msg_iovlen = 1 };
    ssize_t r = msg_hooked(fd, &m, flags, IO_READ);
    if (r >= 0 && from && fromlen) *fromlen = m.msg_namelen;
    return r;
}

HOOK_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    if (!hook__active()) return REAL(recv)(fd, buf, n, flags);
    struct iovec v = { buf, n };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
    return msg_hooked(fd, &m, flags, IO_READ);
}

HOOK_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *to, socklen_t tolen)
{
    if (!hook__active()) return REAL(sendto)(fd, buf, n, flags, to, tolen);
    struct iovec v = { (void *)buf, n };
    struct msghdr m = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
                        .msg_iov = &v, .msg_iovlen = 1 };
    return msg_hooked(fd, &m, flags, IO_WRITE);
}

HOOK_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    if (!hook__active()) return REAL(send)(fd, buf, n, flags);
    struct iovec v = { (void *)buf, n };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
    return msg_hooked(fd, &m, flags, IO_WRITE);
}

/* ---- _FORTIFY_SOURCE forms: libraries built with it call these instead -------------- */

extern void __chk_fail(void) __attribute__((noreturn));

HOOK_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen) __chk_fail();
    return read(fd, buf, n);
}

HOOK_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen) __chk_fail();
    return recv(fd, buf, n, flags);
}

HOOK_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                   struct sockaddr *from, socklen_t *fromlen)
{
    if (n > buflen) __chk_fail();
    return recvfrom(fd, buf, n, flags, from, fromlen);
}
