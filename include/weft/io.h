/* weft/io.h — waiting for a file descriptor to become ready.
 *
 * Part of <weft.h>; include that instead of this file. The sockets and streams layer is
 * built on this; it is public for programs that bring their own non-blocking fds.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "core.h"

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

#ifdef __cplusplus
}
#endif
#endif /* WEFT_IO_H */
