/* shared/msgpipe.c — multiprocessing.Pipe: two connected ends of a Unix stream socket pair,
 * each message an 8-byte length then its bytes.
 *
 * The socket is non-blocking; a wait for room or data is weft_io_wait (a coroutine's loop
 * runs on). Within one process, sends are serialised by send_lock and receives by
 * recv_lock (weft locks: threads and coroutines alike). A receive keeps what it has read
 * of a message in the end (hdr, buf, got), so one cut short by a timeout or a cancel takes
 * nothing: the next receive goes on from there. A send cut short after its first byte
 * cannot take the bytes back: the end is broken (-EPIPE from then on).
 */
#include "shared/internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct weft_msgpipe {
    int fd;
    weft_lock *send_lock, *recv_lock;
    bool send_broken;                 /* under send_lock */
    /* The message being received, under recv_lock. */
    unsigned char hdr[8];
    size_t hdr_got;
    bool recv_broken;                 /* a length that cannot be (or over max_message):
                                         out of step for good */
    _Atomic size_t max_message;       /* the longest message a receive accepts (0: any);
                                         atomic: set from any thread, read by receives */
    char *buf;
    size_t len, got;
};

static int end_new(weft_msgpipe **out, int fd)
{
    weft_msgpipe *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->fd = fd;
    atomic_init(&p->max_message, (size_t)WEFT_MSGPIPE_MAX_MESSAGE);
    int rc = weft_lock_create(&p->send_lock);
    if (rc == 0 && (rc = weft_lock_create(&p->recv_lock)) != 0) weft_lock_destroy(p->send_lock);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int weft_msgpipe_create(weft_msgpipe **a, weft_msgpipe **b)
{
    if (!a || !b) return -EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    int rc = end_new(a, sv[0]);
    if (rc == 0 && (rc = end_new(b, sv[1])) != 0) {
        weft_msgpipe_destroy(*a);
        sv[0] = -1;
    }
    if (rc) {
        if (sv[0] >= 0) close(sv[0]);
        close(sv[1]);
    }
    return rc;
}

static int64_t left(int64_t deadline)
{
    if (deadline == WEFT__NO_DEADLINE) return WEFT_FOREVER;
    int64_t d = deadline - weft_now();
    return d > 0 ? d : 0;
}

int weft_msgpipe_send(weft_msgpipe *p, const void *data, size_t len, int64_t timeout)
{
    if (!p || (!data && len)) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if ((rc = weft_lock_acquire(p->send_lock, timeout)) != 0) return rc;
    if (p->send_broken) {
        weft_lock_release(p->send_lock);
        return -EPIPE;
    }
    uint64_t n64 = len;
    size_t total = 8 + len, sent = 0;
    while (sent < total) {
        struct iovec iov[2];
        int niov = 0;
        if (sent < 8) iov[niov++] = (struct iovec){ (char *)&n64 + sent, 8 - sent };
        size_t doff = sent < 8 ? 0 : sent - 8;
        if (len > doff) iov[niov++] = (struct iovec){ (char *)data + doff, len - doff };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
        ssize_t r = sendmsg(p->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno != EAGAIN) {
            rc = errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
            break;
        }
        if ((rc = weft_io_wait(p->fd, WEFT_IO_WRITE, left(deadline))) < 0) break;
        rc = 0;
    }
    if (rc && sent > 0) p->send_broken = true;  /* half a message is in the socket */
    weft_lock_release(p->send_lock);
    return rc;
}

/* Reads what is there into dst (up to n bytes): > 0 read, 0 end of stream, -EAGAIN, or
 * -errno. */
static ssize_t read_some(int fd, void *dst, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, dst, n, MSG_DONTWAIT);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

int weft_msgpipe_recv(weft_msgpipe *p, void **data, size_t *len, int64_t timeout)
{
    if (!p || !data || !len) return -EINVAL;
    int64_t deadline;
    int rc = weft__deadline(timeout, &deadline);
    if (rc) return rc;
    if ((rc = weft_lock_acquire(p->recv_lock, timeout)) != 0) return rc;
    if (p->recv_broken) {
        weft_lock_release(p->recv_lock);
        return -EPIPE;
    }
    for (;;) {
        ssize_t r;
        if (p->hdr_got < 8) {
            r = read_some(p->fd, p->hdr + p->hdr_got, 8 - p->hdr_got);
            if (r > 0 && (p->hdr_got += (size_t)r) == 8) {
                uint64_t n;
                memcpy(&n, p->hdr, 8);
                /* The length comes from the other process: checked before anything is
                 * allocated for it, so a peer cannot make this one allocate (and, with
                 * overcommit, fill) whatever it names. */
                size_t max = atomic_load_explicit(&p->max_message, memory_order_relaxed);
                if (n > SIZE_MAX - 1 || (max && n > max)) {
                    p->recv_broken = true;           /* later receives: -EPIPE */
                    rc = -EMSGSIZE;
                    break;
                }
                p->len = (size_t)n;
                p->got = 0;                          /* the buffer: next branch */
            }
        } else if (!p->buf) {                        /* -ENOMEM: tried again next time */
            p->buf = malloc(p->len ? p->len : 1);
            if (!p->buf) { rc = -ENOMEM; break; }
            continue;
        } else if (p->got < p->len) {
            r = read_some(p->fd, p->buf + p->got, p->len - p->got);
            if (r > 0) p->got += (size_t)r;
        } else {
            *data = p->buf;
            *len = p->len;
            p->buf = NULL;
            p->hdr_got = 0;
            rc = 0;
            break;
        }
        if (r > 0) continue;
        if (r == 0) { rc = -EPIPE; break; }          /* the other end is gone */
        if (r != -EAGAIN) { rc = (int)r; break; }
        if ((rc = weft_io_wait(p->fd, WEFT_IO_READ, left(deadline))) < 0) break;
    }
    weft_lock_release(p->recv_lock);
    return rc;
}

int weft_msgpipe_set_max_message(weft_msgpipe *p, size_t max)
{
    if (!p) return -EINVAL;
    atomic_store_explicit(&p->max_message, max, memory_order_relaxed);
    return 0;
}

void weft_msgpipe_destroy(weft_msgpipe *p)
{
    if (!p) return;
    close(p->fd);
    free(p->buf);
    weft_lock_destroy(p->send_lock);
    weft_lock_destroy(p->recv_lock);
    free(p);
}
