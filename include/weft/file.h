/* weft/file.h — regular-file I/O that never blocks a loop.
 *
 * Part of <weft.h>; include that instead of this file. Regular files are always "ready" to
 * epoll, yet a read may wait for a disk or a network file system: in a coroutine these
 * calls therefore run on weft's internal file-I/O threads ("weft-file", apart from the
 * resolver's and the user's pools) while the coroutine waits without blocking its loop. A
 * thread without coroutines makes the system call itself.
 *
 * The calls take no timeout and do not stop halfway: a system call cannot be abandoned
 * safely while it writes into the caller's memory. They follow the hand-off rule
 * (docs/CANCELLATION.md): a call that returns -ECANCELED or -ETIMEDOUT was not made and
 * left nothing behind; a call that was made returns its real result. So:
 *   - a caller already cancelled (a cancelled coroutine, a pool job asked to stop; not in
 *     a shielded scope), or past the deadline of one of its deadline scopes, gets
 *     -ECANCELED / -ETIMEDOUT at once, and the system call is not made — in a coroutine
 *     and in a thread alike;
 *   - cancelling the waiting coroutine (or its scope expiring) cancels a call that has not
 *     started (-ECANCELED / -ETIMEDOUT); one that has started is waited for and its result
 *     returned (an open's descriptor, a write's byte count), never -ECANCELED.
 * weft_file_close is the exception: it always closes (see there).
 *
 * Errors of every call but close, besides those listed with it: -EINVAL (a bad argument:
 * NULL path or buffer, negative fd), -ECANCELED, -ETIMEDOUT (as above), -ENOMEM (the file
 * threads could not be set up), -EAGAIN (no file thread could be started).
 */
#ifndef WEFT_FILE_H
#define WEFT_FILE_H

#include "core.h"

#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* open(2) (O_CLOEXEC added). Returns the descriptor. Errors: open(2)'s (-ENOENT,
 * -EACCES, -EEXIST, -EMFILE...), and those above. A coroutine blocks only itself (even on
 * a FIFO's open, which waits for the other end). */
WEFT_API int weft_file_open(const char *path, int flags, mode_t mode);

/* read(2) / write(2) at the file position (offset < 0) or pread(2) / pwrite(2) at offset.
 * Return the bytes moved (read: 0 at the end of the file); write moves all n bytes unless
 * an error comes first (then it returns the error: some bytes may have been written).
 * Errors: read(2)'s / write(2)'s (-EBADF, -EISDIR, -ENOSPC, -EIO...; -ESPIPE: an offset
 * on a pipe), and those above. */
WEFT_API ssize_t weft_file_read(int fd, void *buf, size_t n, int64_t offset);
WEFT_API ssize_t weft_file_write(int fd, const void *buf, size_t n, int64_t offset);

/* stat(2) / fstat(2) / fsync(2). Errors: the system call's (-ENOENT, -EBADF, -EIO,
 * -EINVAL for a descriptor that cannot be synced...), and those above. */
WEFT_API int weft_file_stat(const char *path, struct stat *st);
WEFT_API int weft_file_fstat(int fd, struct stat *st);
WEFT_API int weft_file_sync(int fd);

/* close(2). Always releases the descriptor, whatever the caller's cancellation state and
 * deadline scopes: cleanup code in a cancelled coroutine may call it as is (no shielded
 * scope needed). It is never refused and never cut short (in a coroutine it still runs on
 * a file thread, and the coroutine waits for it, shielded); it returns close(2)'s own
 * outcome. Errors: -EINVAL (fd < 0), close(2)'s (-EBADF; -EIO: the descriptor is closed
 * all the same, as by close(2)). Never -ECANCELED or -ETIMEDOUT. */
WEFT_API int weft_file_close(int fd);

/* Reads a whole file into a new NUL-terminated buffer (free with free()); *len (may be
 * NULL) receives its length. Made of the calls above (open, fstat, reads, close): cut
 * short by cancellation or a deadline scope it returns -ECANCELED / -ETIMEDOUT having
 * closed what it opened and freed what it read. Errors: open's and read's, -ENOMEM,
 * -EFBIG (over 1 GiB), and those above. */
WEFT_API int weft_file_read_all(const char *path, char **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_FILE_H */
