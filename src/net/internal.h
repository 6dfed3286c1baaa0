/* net/internal.h — what the files of the net layer share: the socket object.
 *
 * Layer rule: net uses every layer above it in docs/ARCHITECTURE.md (core ... pool) and is
 * used by none of them.
 */
#ifndef WEFT_NET_INTERNAL_H
#define WEFT_NET_INTERNAL_H

#include "loop/internal.h"
#include "loop/mpsc.h"

#include <weft/net.h>

/* A socket (or a pipe, FIFO or tty adopted with weft_socket_adopt).
 *
 * refs counts the handle (until weft_socket_close) plus each call in progress: the
 * descriptor is closed and the struct freed by whoever drops the last one, so a call that
 * is blocked when another context closes the socket never sees a reused descriptor
 * number. Closing sets `closed` and, if calls are in progress, shuts the socket down: that
 * wakes every kind of waiter (epoll edge, ppoll HUP), and each then reports -EBADF.
 * The descriptor's registration (poll) belongs to the loop it is bound to, so the last
 * reference dropped on another thread posts the release to that loop. */
struct weft_socket {
    weft__pollfd poll;                /* first: holds the fd */
    _Atomic uint32_t refs;
    _Atomic bool closed;
    bool is_socket;                   /* else a pipe or the like: read/write, not recv/send */
    bool stream;                      /* SOCK_STREAM or a pipe: a short read means drained */
    bool writes_ended;                /* a pipe's write end closed by end_writes: sends say
                                         -EPIPE (as after a socket's SHUT_WR) */
    weft__mpsc_node release;          /* posted to the bound loop by a foreign last ref */
};

/* A new socket object owning fd (already non-blocking and close-on-exec). -ENOMEM: fd
 * is left open. */
int weft__socket_wrap(weft_socket **s, int fd, bool is_socket, bool stream);

/* Ends the sending side: shutdown(SHUT_WR) for a socket; for a pipe's write end, closes
 * the pipe (the descriptor number stays reserved; later sends: -EPIPE), first waking the
 * coroutines of this loop parked on it (their sends return -EPIPE; threads polling it
 * see it within their 20 ms slice). -ENOTSOCK for other descriptors; -EBUSY for a pipe
 * registered with another thread's loop. */
int weft__socket_end_writes(weft_socket *s);

/* Holds s for the length of a call made of several socket calls (a stream call): a
 * weft_socket_close from another thread between two of them then cannot free it, and the
 * next one returns -EBADF. -EBADF if s is closed already. Any context; never blocks. */
int weft__socket_hold(weft_socket *s);
void weft__socket_unhold(weft_socket *s);

/* What is left of an absolute deadline, as a timeout (WEFT_FOREVER for none). */
static inline int64_t weft__remaining(int64_t deadline)
{
    if (deadline == WEFT__NO_DEADLINE) return WEFT_FOREVER;
    int64_t now = weft_now();
    return deadline > now ? deadline - now : 0;
}

#endif /* WEFT_NET_INTERNAL_H */
