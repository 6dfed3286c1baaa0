/* weft/file.h — regular-file I/O that never blocks a loop.
 *
 * Part of <weft.h>; include that instead of this file. Regular files are always "ready" to
 * epoll, yet a read may wait for a disk or a network file system: in a coroutine these
 * calls therefore run on weft's internal file-I/O threads ("weft-file", apart from the
 * resolver's and the user's pools) while the coroutine waits without blocking its loop. A
 * thread without coroutines makes the system call itself.
 *
 * The calls take no timeout and do not stop halfway: a system call cannot be abandoned
 * safely while it writes into the caller's memory. Cancelling the waiting coroutine
 * cancels a call that has not started (-ECANCELED); one that has started is waited for,
 * and its result returned.
 */
#ifndef WEFT_FILE_H
#define WEFT_FILE_H

#include "core.h"

#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* open(2) (O_CLOEXEC added). Returns the descriptor or a negative error. */
WEFT_API int weft_file_open(const char *path, int flags, mode_t mode);

/* read(2) / write(2) at the file position (offset < 0) or pread(2) / pwrite(2) at offset.
 * Return the bytes moved or a negative error; write moves all n bytes unless an error
 * comes first (then it returns the error). */
WEFT_API ssize_t weft_file_read(int fd, void *buf, size_t n, int64_t offset);
WEFT_API ssize_t weft_file_write(int fd, const void *buf, size_t n, int64_t offset);

/* stat(2) / fstat(2) / fsync(2) / close(2). */
WEFT_API int weft_file_stat(const char *path, struct stat *st);
WEFT_API int weft_file_fstat(int fd, struct stat *st);
WEFT_API int weft_file_sync(int fd);
WEFT_API int weft_file_close(int fd);

/* Reads a whole file into a new NUL-terminated buffer (free with free()); *len (may be
 * NULL) receives its length. Errors: open/read errors, -ENOMEM, -EFBIG (over 1 GiB). */
WEFT_API int weft_file_read_all(const char *path, char **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_FILE_H */
