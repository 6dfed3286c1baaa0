/* weft/stream.h — buffered streams over a socket or a pipe (asyncio's StreamReader and
 * StreamWriter in one object).
 *
 * Part of <weft.h>; include that instead of this file. Reads fill a buffer and hand out
 * lines, delimited records or exact sizes; writes collect in a buffer that is sent when it
 * passes the high-water mark (the writer then waits until the peer has taken enough:
 * back-pressure), at weft_stream_drain, and before any read that must wait for the peer
 * (so a request is never left unsent while its reply is awaited). Works from threads and
 * coroutines, as the socket calls do. A stream is used by one context at a time.
 */
#ifndef WEFT_STREAM_H
#define WEFT_STREAM_H

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_stream weft_stream;

/* Options for weft_stream_open and weft_stream_open_fd. Initialise with
 * WEFT_STREAM_OPTS_INIT (zero fields mean the defaults); more fields may be added at the
 * end. */
typedef struct weft_stream_opts {
    size_t max_line;     /* the longest line or record a read may return (0: 64 KiB, as
                            asyncio's limit); longer: -EMSGSIZE. Reading lines and records,
                            the read buffer never grows past twice this (16 KiB at
                            least), whatever the peer sends */
    size_t write_high;   /* bytes buffered before a write sends and waits (0: 64 KiB) */
} weft_stream_opts;
#define WEFT_STREAM_OPTS_INIT { 0, 0 }

/* A stream over s, which stays the caller's (close it after weft_stream_close). The stream
 * keeps a reference to s until weft_stream_close: closing s meanwhile, from any thread and
 * at any moment (a stream call blocked or not), makes the stream's calls that need the
 * socket fail with -EBADF, and the descriptor closes with the stream. opts may be NULL.
 * Errors: -EINVAL, -ENOMEM, -EBADF (s is closed). Never blocks. */
WEFT_API int weft_stream_open(weft_stream **st, weft_socket *s, const weft_stream_opts *opts);

/* A stream over a descriptor it takes over (a pipe, a FIFO, a tty, a socket), closed by
 * weft_stream_close. Errors: as weft_socket_adopt. */
WEFT_API int weft_stream_open_fd(weft_stream **st, int fd, const weft_stream_opts *opts);

/* The socket under the stream. */
WEFT_API weft_socket *weft_stream_socket(weft_stream *st);

/* Reads up to n bytes: what is buffered, else what one read brings (>= 1), 0 at the end of
 * the stream. Errors: -EINVAL, -ETIMEDOUT, -ECANCELED, the socket's errors.
 * Every read that must wait for the peer first sends what is buffered for writing: that
 * send is a write, under the timeout given to the weft_stream_write that last buffered
 * bytes (counted from the start of the send) as well as the read's own; if it fails (say
 * -ETIMEDOUT: the peer does not read) the read returns its error and the buffered bytes
 * are dropped, as after a failed write. */
WEFT_API ssize_t weft_stream_read(weft_stream *st, void *buf, size_t n, int64_t timeout);

/* Reads exactly n bytes into buf. Returns 0; -ENODATA if the stream ended first (the bytes
 * that did arrive stay buffered for weft_stream_read); otherwise as weft_stream_read. */
WEFT_API int weft_stream_read_exactly(weft_stream *st, void *buf, size_t n, int64_t timeout);

/* Reads through the next '\n' (included) and points *line at it, inside the stream's
 * buffer: valid until the next call on the stream. Returns the line's length; at the end
 * of the stream the last, unterminated bytes form the line; 0 once nothing is left.
 * -EMSGSIZE: no '\n' within max_line bytes (they stay buffered: weft_stream_skip_line
 * drops the line, or weft_stream_read takes them piecemeal). Errors as
 * weft_stream_read. */
WEFT_API ssize_t weft_stream_readline(weft_stream *st, const char **line, int64_t timeout);

/* As readline, through the delimiter delim (dlen >= 1 bytes, included in the record).
 * -ENODATA: the stream ended before the delimiter (the bytes stay buffered); -EMSGSIZE:
 * no delimiter within max_line bytes. */
WEFT_API ssize_t weft_stream_read_until(weft_stream *st, const void *delim, size_t dlen,
                                        const char **data, int64_t timeout);

/* After readline's -EMSGSIZE (or to drop a line unread): discards everything through the
 * next '\n' (included), reading and dropping as much as it takes, however long the line;
 * the stream's buffer does not grow. Returns how many bytes were discarded; at the
 * end of the stream the last, unterminated bytes count as the line (as for readline); 0 if
 * nothing was left. Errors: -EINVAL, -ETIMEDOUT, -ECANCELED, the socket's. A skip cut short
 * by an error has already discarded part of the line (a line of any length cannot be kept):
 * calling it again discards the rest. Blocks as weft_stream_read. */
WEFT_API ssize_t weft_stream_skip_line(weft_stream *st, int64_t timeout);

/* As weft_stream_skip_line, through the delimiter delim (dlen >= 1 bytes, included), after
 * read_until's -EMSGSIZE. -ENODATA: the stream ended before the delimiter (what was left
 * has been discarded). */
WEFT_API ssize_t weft_stream_skip_until(weft_stream *st, const void *delim, size_t dlen,
                                        int64_t timeout);

/* Buffers n bytes for sending. While more than write_high bytes are buffered, it sends and
 * waits for the peer (back-pressure) until the buffer is under the mark. Returns 0.
 * Errors: -EINVAL, -ENOMEM, -ETIMEDOUT, -ECANCELED, -EPIPE, -ECONNRESET, the socket's;
 * after an error the buffered bytes are dropped. */
WEFT_API int weft_stream_write(weft_stream *st, const void *buf, size_t n, int64_t timeout);

/* Sends everything buffered, waiting as needed. Errors as weft_stream_write. */
WEFT_API int weft_stream_drain(weft_stream *st, int64_t timeout);

/* Drains, then ends the sending side (the peer reads end of stream): shutdown(SHUT_WR) on
 * a socket; on the write end of a pipe (opened write-only), closes the pipe (the stream
 * stays usable for nothing but weft_stream_close; later writes fail with -EPIPE, as on a
 * socket). A write blocked on the pipe meanwhile (another coroutine's, through
 * weft_stream_socket) returns -EPIPE: at once for a coroutine of the caller's loop, within
 * 20 ms for a thread. -ENOTSOCK for other descriptors; -EBUSY for a pipe that a coroutine
 * of another thread's loop has waited on (end it from that thread). */
WEFT_API int weft_stream_write_eof(weft_stream *st, int64_t timeout);

/* Bytes read and not yet consumed / written and not yet sent. */
WEFT_API size_t weft_stream_read_buffered(const weft_stream *st);
WEFT_API size_t weft_stream_write_buffered(const weft_stream *st);

/* Drains (within timeout), then frees the stream (and closes the descriptor of a stream
 * made by weft_stream_open_fd). Returns the drain's result; the stream is freed (and the
 * descriptor closed) either way, whatever the caller's cancellation state and deadline
 * scopes: a cancelled caller's drain sends only what needs no wait and returns -ECANCELED
 * (-ETIMEDOUT past a scope's deadline), the rest is dropped. NULL: nothing. */
WEFT_API int weft_stream_close(weft_stream *st, int64_t timeout);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_STREAM_H */
