/* weft/io.h — waiting for a file descriptor to become ready.
 *
 * Part of <weft.h>; include that instead of this file. The sockets and streams layer is
 * built on this; it is public for programs that bring their own non-blocking fds.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "core.h"

#include <poll.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_IO_READ  1u   /* readable, or end of file / hang-up / error pending */
#define WEFT_IO_WRITE 2u   /* writable, or hang-up / error pending */

/* Waits until fd is ready for one of `events` (WEFT_IO_READ | WEFT_IO_WRITE) and returns the
 * ready ones among them (> 0). A coroutine is suspended while its loop's epoll watches the
 * fd; a thread with live coroutines runs its loop meanwhile; other threads use ppoll.
 * Readiness is a hint: the next read or write may still say EAGAIN (then wait again).
 * Regular files are always ready. An fd that is ready already is reported as such also to
 * a cancelled coroutine or one past a deadline scope's deadline (nothing to wait for);
 * -ECANCELED / -ETIMEDOUT only when it would have to wait. Errors: -EINVAL (fd < 0, events 0 or unknown bits),
 * -ETIMEDOUT, -ECANCELED, -EBADF, -ENOMEM, -EBUSY (another coroutine of the same loop is
 * already waiting for the same direction of the same fd). */
WEFT_API int weft_io_wait(int fd, unsigned events, int64_t timeout);

/* poll(2) for coroutines: waits until one of the n descriptors in fds is ready for the
 * events it asks (POLLIN, POLLPRI, POLLRDHUP: reading; POLLOUT: writing; POLLERR, POLLHUP
 * and POLLNVAL are always reported, as by poll), fills every revents as poll does and
 * returns how many are non-zero (> 0). Entries with fd < 0 are ignored, as by poll; an
 * entry with events 0 is reported only with what was ready when another entry woke the
 * call. A coroutine is suspended (its loop watches every fd at once); a thread with live
 * coroutines runs its loop meanwhile; other threads use ppoll. When another coroutine of
 * the same loop already waits for one of these fds (weft_io_wait, a weft socket), the
 * call waits through an epoll instance of its own instead of failing with -EBUSY.
 * timeout in nanoseconds (0: look once; WEFT_FOREVER). What is ready now is reported also
 * to a cancelled coroutine or one past a deadline scope's deadline. Errors: -EINVAL (fds
 * NULL with n > 0, n above the descriptor limit, a bad timeout), -ETIMEDOUT (nothing
 * became ready in time, or a scope's deadline passed), -ECANCELED, -ENOMEM. Blocks. */
WEFT_API int weft_io_poll(struct pollfd *fds, size_t n, int64_t timeout);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_IO_H */
