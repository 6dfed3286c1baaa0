/* net/socket.c — the socket object and its blocking-style calls.
 *
 * Every transfer follows one pattern (io_loop): try the system call on the non-blocking
 * descriptor; on EAGAIN, wait for readiness (weft__pollfd_wait: a coroutine parks while its
 * loop's epoll watches the fd, edge-triggered; a thread polls) and try again. A coroutine
 * whose socket is known not to be ready (its last read came back short and no edge has
 * arrived since) waits first, saving the system call that would only say EAGAIN: an echo
 * round trip then costs one read and one write, as in a hand-written epoll server.
 *
 * Contexts: every call works from coroutines and threads; the blocking ones block as
 * documented in weft/net.h. A socket may be used from several threads at once (as the
 * kernel allows); its readiness bits are kept only by the loop it is registered with.
 */
#include "net/internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int weft__socket_wrap(weft_socket **out, int fd, bool is_socket, bool stream)
{
    weft_socket *s = weft__calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->poll.fd = fd;
    atomic_init(&s->poll.loop, NULL);
    atomic_init(&s->refs, 1);
    atomic_init(&s->closed, false);
    s->is_socket = is_socket;
    s->stream = stream;
    *out = s;
    return 0;
}

/* ---- references ------------------------------------------------------------------------- */

/* The second half of a release made on another thread than the registration's loop's
 * (destroy): the descriptor is closed already; the loop's fd table forgets the socket and
 * the memory goes, on the loop's thread, after any event its poll had already taken. */
static void release_run(weft__loop *l, weft__mpsc_node *n)
{
    weft_socket *s = weft__container_of(n, weft_socket, release);
    weft__pollfd_forget(l, &s->poll);
    weft__free(s);
}

/* The last reference: closes the descriptor now, whatever any loop does. A registration
 * with this thread's loop is removed here; one with another thread's loop is removed from
 * that loop's epoll from here too (EPOLL_CTL_DEL before close: with the file still open
 * elsewhere — a dup, a forked child — the registration would outlive the number and keep
 * reporting s), and only the memory waits for that loop's thread (release_run, the post
 * consuming the registration's loop reference), which may be busy in its own code, its
 * weft_run long returned: the descriptor does not wait for it. */
static void destroy(weft_socket *s)
{
    weft__loop *l = atomic_load_explicit(&s->poll.loop, memory_order_acquire);
    if (l && l != weft__tls_self.loop) {
        weft__pollfd_detach_remote(&s->poll);
        weft__parent_fd_close(s->poll.fd);
        s->release.run = release_run;
        weft__loop_post(l, &s->release);
        return;
    }
    weft__pollfd_detach(&s->poll, true);
    weft__parent_fd_close(s->poll.fd);  /* a subprocess's pipe is registered there */
    weft__free(s);
}

/* Starts a call: a reference, unless the socket is closed. */
static inline int enter(weft_socket *s)
{
    if (weft__unlikely(!s)) return -EINVAL;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_seq_cst);
    if (weft__unlikely(atomic_load_explicit(&s->closed, memory_order_seq_cst))) {
        if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) destroy(s);
        return -EBADF;
    }
    return 0;
}

static inline void leave(weft_socket *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) destroy(s);
}

int weft__socket_hold(weft_socket *s)
{
    return enter(s);
}

void weft__socket_unhold(weft_socket *s)
{
    leave(s);
}

static inline bool closed(const weft_socket *s)
{
    return atomic_load_explicit(&s->closed, memory_order_acquire);
}

int weft_socket_close(weft_socket *s)
{
    if (!s) return 0;
    weft__assert(!atomic_load_explicit(&s->closed, memory_order_relaxed),
                 "a socket closed twice");
    atomic_store_explicit(&s->closed, true, memory_order_seq_cst);
    weft__store_load_fence();       /* pairs with a user's refs++, then its closed read */
    if (atomic_load_explicit(&s->refs, memory_order_seq_cst) > 1) {
        /* Calls in progress: wake them, wherever they wait. shutdown wakes poll and epoll
         * waiters of every socket kind (listening and unconnected ones included). */
        if (s->is_socket) shutdown(s->poll.fd, SHUT_RDWR);
        weft__loop *l = atomic_load_explicit(&s->poll.loop, memory_order_relaxed);
        if (l && l == weft__tls_self.loop) weft__pollfd_wake_all(&s->poll);
    }
    leave(s);
    return 0;
}

/* ---- creation --------------------------------------------------------------------------- */

int weft_socket_open(weft_socket **s, int family, int type, int protocol)
{
    if (!s) return -EINVAL;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -errno;
    int rc = weft__socket_wrap(s, fd, true, (type & 0xf) == SOCK_STREAM);
    if (rc) close(fd);
    return rc;
}

/* A write to a pipe whose reader has gone raises SIGPIPE; sockets avoid it per call
 * (MSG_NOSIGNAL), pipes cannot. As Python does, a process that has not chosen what
 * SIGPIPE does gets it ignored, so such writes fail with -EPIPE. */
static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &ign, NULL);
    }
}

int weft_socket_adopt(weft_socket **s, int fd)
{
    if (!s) return -EINVAL;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    bool is_socket = S_ISSOCK(st.st_mode);
    int type = SOCK_STREAM;
    socklen_t len = sizeof type;
    if (is_socket) getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    else ignore_sigpipe();
    return weft__socket_wrap(s, fd, is_socket, is_socket && type == SOCK_STREAM);
}

int weft_socket_fd(const weft_socket *s)
{
    return s ? s->poll.fd : -EINVAL;
}

/* ---- the transfer loop ------------------------------------------------------------------ */

/* A pipe closed under a blocked call cannot be shut down to wake it (only sockets can), so
 * waits on pipes come back every PIPE_SLICE to look at `closed`. */
#define PIPE_SLICE (20 * WEFT_MS)

static int wait_ready(weft_socket *s, unsigned dir, int64_t deadline)
{
    if (s->is_socket) return weft__pollfd_wait(&s->poll, dir, deadline);
    weft__scope *by;
    int64_t until = weft__scope_clamp(deadline, &by);   /* the wait's real end */
    for (;;) {
        int64_t slice = weft_now() + PIPE_SLICE;
        if (slice >= until) return weft__pollfd_wait(&s->poll, dir, deadline);
        int rc = weft__pollfd_wait(&s->poll, dir, slice);
        if (rc != -ETIMEDOUT) return rc;
        if (closed(s)) return -EBADF;
    }
}

/* One attempt at the system call: >= 0, or -errno. */
typedef ssize_t (*io_op)(weft_socket *s, void *ctx);

/* Runs op until it does not say EAGAIN, waiting for `dir` readiness in between. `want`:
 * the bytes asked for, when a shorter result means the socket has been drained (stream
 * reads and writes without MSG_PEEK); 0 otherwise. */
static ssize_t io_loop(weft_socket *s, unsigned dir, int64_t timeout, io_op op, void *ctx,
                       size_t want)
{
    int64_t deadline = 0;
    bool have_deadline = false;
    /* With a zero timeout the bits are not trusted: an edge may wait unharvested. */
    bool wait_first = timeout != 0 && weft__pollfd_known_idle(&s->poll, dir);
    for (;;) {
        if (!wait_first) {
            ssize_t r = op(s, ctx);
            if (r >= 0) {
                if (want && (size_t)r < want) weft__pollfd_drained(&s->poll, dir);
                if (r == 0 && want && closed(s)) return -EBADF;
                return r;
            }
            if (r == -EINTR) continue;
            if (r != -EAGAIN) return closed(s) ? -EBADF : r;
            weft__pollfd_idle(&s->poll, dir);
        }
        wait_first = false;
        if (closed(s)) return -EBADF;
        if (!have_deadline) {
            int rc = weft__deadline(timeout, &deadline);
            if (rc) return rc;
            have_deadline = true;
        }
        int rc = wait_ready(s, dir, deadline);
        if (rc < 0) return closed(s) ? -EBADF : rc;
    }
}

static inline int check_timeout(int64_t timeout)
{
    return timeout < 0 && timeout != WEFT_FOREVER ? -EINVAL : 0;
}

typedef struct {
    void *buf;
    size_t n;
    int flags;
    weft_addr *addr;
} xfer;

static ssize_t do_recv(weft_socket *s, void *p)
{
    xfer *x = p;
    ssize_t r = s->is_socket ? recv(s->poll.fd, x->buf, x->n, x->flags | MSG_DONTWAIT)
                             : read(s->poll.fd, x->buf, x->n);
    return r < 0 ? -errno : r;
}

static ssize_t do_send(weft_socket *s, void *p)
{
    xfer *x = p;
    if (weft__unlikely(s->writes_ended)) return -EPIPE;
    ssize_t r = s->is_socket ? send(s->poll.fd, x->buf, x->n, x->flags | MSG_NOSIGNAL | MSG_DONTWAIT)
                             : write(s->poll.fd, x->buf, x->n);
    return r < 0 ? -errno : r;
}

/* A short stream transfer means drained, unless it only peeked or read urgent data. */
static size_t drain_mark(const weft_socket *s, size_t n, int flags)
{
    return s->stream && !(flags & (MSG_PEEK | MSG_OOB)) ? n : 0;
}

ssize_t weft_socket_recv(weft_socket *s, void *buf, size_t n, int flags, int64_t timeout)
{
    if ((!buf && n) || check_timeout(timeout)) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    ssize_t r = 0;
    if (n) {
        xfer x = { buf, n, flags, NULL };
        r = io_loop(s, WEFT_IO_READ, timeout, do_recv, &x, drain_mark(s, n, flags));
    }
    leave(s);
    return r;
}

ssize_t weft_socket_send(weft_socket *s, const void *buf, size_t n, int flags,
                         int64_t timeout)
{
    if ((!buf && n) || check_timeout(timeout)) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    ssize_t r = 0;
    if (n) {
        xfer x = { (void *)buf, n, flags, NULL };
        r = io_loop(s, WEFT_IO_WRITE, timeout, do_send, &x, drain_mark(s, n, flags));
    }
    leave(s);
    return r;
}

ssize_t weft_socket_read(weft_socket *s, void *buf, size_t n, int64_t timeout)
{
    return weft_socket_recv(s, buf, n, 0, timeout);
}

ssize_t weft_socket_write(weft_socket *s, const void *buf, size_t n, int64_t timeout)
{
    if ((!buf && n) || check_timeout(timeout) || n > SSIZE_MAX) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    int64_t deadline;
    weft__deadline(timeout, &deadline);
    size_t done = 0;
    ssize_t r = 0;
    for (int64_t left = timeout; done < n; left = weft__remaining(deadline)) {
        xfer x = { (char *)buf + done, n - done, 0, NULL };
        r = io_loop(s, WEFT_IO_WRITE, left, do_send, &x, drain_mark(s, n - done, 0));
        if (r < 0) break;
        done += (size_t)r;
    }
    leave(s);
    return r < 0 ? r : (ssize_t)n;
}

static ssize_t do_recvfrom(weft_socket *s, void *p)
{
    xfer *x = p;
    socklen_t len = sizeof x->addr->u;
    ssize_t r = recvfrom(s->poll.fd, x->buf, x->n, x->flags, &x->addr->u.sa, &len);
    if (r < 0) return -errno;
    x->addr->len = len;
    return r;
}

static ssize_t do_sendto(weft_socket *s, void *p)
{
    xfer *x = p;
    ssize_t r = sendto(s->poll.fd, x->buf, x->n, x->flags | MSG_NOSIGNAL,
                       x->addr ? &x->addr->u.sa : NULL, x->addr ? x->addr->len : 0);
    return r < 0 ? -errno : r;
}

ssize_t weft_socket_recvfrom(weft_socket *s, void *buf, size_t n, int flags, weft_addr *from,
                             int64_t timeout)
{
    if ((!buf && n) || check_timeout(timeout)) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    weft_addr scratch;
    xfer x = { buf, n, flags, from ? from : &scratch };
    ssize_t r = s->is_socket ? io_loop(s, WEFT_IO_READ, timeout, do_recvfrom, &x, 0)
                             : -ENOTSOCK;
    leave(s);
    return r;
}

ssize_t weft_socket_sendto(weft_socket *s, const void *buf, size_t n, int flags,
                           const weft_addr *to, int64_t timeout)
{
    if ((!buf && n) || check_timeout(timeout)) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    xfer x = { (void *)buf, n, flags, (weft_addr *)to };
    ssize_t r = s->is_socket ? io_loop(s, WEFT_IO_WRITE, timeout, do_sendto, &x, 0)
                             : -ENOTSOCK;
    leave(s);
    return r;
}

/* ---- connections ------------------------------------------------------------------------ */

typedef struct {
    weft_addr *peer;
    int fd;
} accept_ctx;

static ssize_t do_accept(weft_socket *s, void *p)
{
    accept_ctx *a = p;
    weft_addr scratch;
    weft_addr *peer = a->peer ? a->peer : &scratch;
    socklen_t len = sizeof peer->u;
    for (;;) {
        int fd = accept4(s->poll.fd, &peer->u.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            peer->len = len;
            a->fd = fd;
            return 0;
        }
        /* The connection went away before it was accepted: take the next one. */
        if (errno == ECONNABORTED) { len = sizeof peer->u; continue; }
        return -errno;
    }
}

int weft_socket_accept(weft_socket *s, weft_socket **conn, weft_addr *peer, int64_t timeout)
{
    if (!conn || check_timeout(timeout)) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    accept_ctx a = { peer, -1 };
    rc = (int)io_loop(s, WEFT_IO_READ, timeout, do_accept, &a, 0);
    if (rc == 0) {
        rc = weft__socket_wrap(conn, a.fd, true, s->stream);
        if (rc) close(a.fd);
    }
    leave(s);
    return rc;
}

static ssize_t do_connect_result(weft_socket *s, void *p)
{
    (void)p;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->poll.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    if (err) return -err;
    /* Not yet connected (a spurious edge)? A connected socket has a peer. */
    struct sockaddr_storage ss;
    len = sizeof ss;
    if (getpeername(s->poll.fd, (struct sockaddr *)&ss, &len) < 0)
        return errno == ENOTCONN ? -EAGAIN : -errno;
    return 0;
}

int weft_socket_connect(weft_socket *s, const weft_addr *a, int64_t timeout)
{
    if (!a || check_timeout(timeout)) return -EINVAL;
    int rc = enter(s);
    if (rc) return rc;
    int64_t deadline;
    weft__deadline(timeout, &deadline);
    for (int backoff = 1;; backoff = backoff < 64 ? backoff * 2 : 64) {
        if (connect(s->poll.fd, &a->u.sa, a->len) == 0) { rc = 0; break; }
        rc = -errno;
        if (rc == -EINTR || rc == -EINPROGRESS) {
            /* In progress: writable means done, one way or the other. */
            weft__pollfd_idle(&s->poll, WEFT_IO_WRITE);
            rc = (int)io_loop(s, WEFT_IO_WRITE, weft__remaining(deadline), do_connect_result,
                              NULL, 0);
            break;
        }
        if (rc != -EAGAIN) break;
        /* A Unix socket's listener has a full backlog: no readiness says when it has room,
         * so retry after a short sleep (growing to 64 ms), within the timeout. */
        int64_t now = weft_now();
        if (now >= deadline) { rc = -ETIMEDOUT; break; }
        int64_t nap = (int64_t)backoff * WEFT_MS;
        if (deadline != WEFT__NO_DEADLINE && nap > deadline - now) nap = deadline - now;
        rc = weft_sleep(nap);
        if (rc) break;
        if (closed(s)) { rc = -EBADF; break; }
    }
    leave(s);
    return rc;
}

/* ---- small things ----------------------------------------------------------------------- */

int weft_socket_bind(weft_socket *s, const weft_addr *a)
{
    if (!s || !a) return -EINVAL;
    return bind(s->poll.fd, &a->u.sa, a->len) < 0 ? -errno : 0;
}

int weft_socket_listen(weft_socket *s, int backlog)
{
    if (!s) return -EINVAL;
    return listen(s->poll.fd, backlog > 0 ? backlog : SOMAXCONN) < 0 ? -errno : 0;
}

int weft_socket_shutdown(weft_socket *s, int how)
{
    if (!s || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)) return -EINVAL;
    return shutdown(s->poll.fd, how) < 0 ? -errno : 0;
}

int weft__socket_end_writes(weft_socket *s)
{
    if (s->is_socket) return weft_socket_shutdown(s, SHUT_WR);
    /* A pipe's write end: put /dev/null in its place, which closes the pipe (the reader
     * sees the end) and keeps the descriptor number ours until weft_socket_close. */
    int fl = fcntl(s->poll.fd, F_GETFL);
    if (fl < 0) return -errno;
    if ((fl & O_ACCMODE) != O_WRONLY) return -ENOTSOCK;
    /* The epoll registration belongs to the pipe's open file, not to the number: after the
     * dup3 it could no longer be deleted (and, with the pipe still open elsewhere, would
     * keep reporting events for s after s is freed). Delete it first, on its loop. */
    weft__loop *l = atomic_load_explicit(&s->poll.loop, memory_order_relaxed);
    if (l && l != weft__tls_self.loop) return -EBUSY;
    /* Coroutines of this loop parked on the registration (a writer waiting for room) are
     * woken first: the registration goes, so nothing else would wake them. They run after
     * this call (same thread), see writes_ended and return -EPIPE. */
    if (l) weft__pollfd_wake_all(&s->poll);
    weft__pollfd_detach(&s->poll, true);
    int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (nul < 0) return -errno;
    int rc = dup3(nul, s->poll.fd, O_CLOEXEC) < 0 ? -errno : 0;
    close(nul);
    if (rc == 0) s->writes_ended = true;
    return rc;
}

int weft_socket_local_addr(const weft_socket *s, weft_addr *a)
{
    if (!s || !a) return -EINVAL;
    socklen_t len = sizeof a->u;
    if (getsockname(s->poll.fd, &a->u.sa, &len) < 0) return -errno;
    a->len = len;
    return 0;
}

int weft_socket_peer_addr(const weft_socket *s, weft_addr *a)
{
    if (!s || !a) return -EINVAL;
    socklen_t len = sizeof a->u;
    if (getpeername(s->poll.fd, &a->u.sa, &len) < 0) return -errno;
    a->len = len;
    return 0;
}
