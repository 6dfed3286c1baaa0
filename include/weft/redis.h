/* weft/redis.h — a Redis connection that fits weft: commands from coroutines park only the
 * coroutine, from threads they block the thread; many commands in flight share one
 * connection (pipelined: they go out together and their replies come back in order).
 *
 * Part of libweft_dist (link with -lweft_dist -lweft; it needs hiredis, whose reader and
 * command formatting it uses: the protocol is not parsed by hand). Not included by <weft.h>.
 *
 * Each connection has one I/O thread of its own ("weft-redis"): callers hand it formatted
 * commands and wait on futures; it writes them in batches, reads the replies, completes the
 * futures, and reconnects with back-off when the server goes away. So:
 *   - a command that has not been written when the connection breaks waits for the next
 *     connection (until its deadline, opts.command_timeout: then -ETIMEDOUT, never sent);
 *   - a command written but not answered when the connection breaks fails with
 *     -ECONNRESET: it may or may not have run on the server (a network's rule, not ours);
 *   - a blocking command (BLPOP, XREADGROUP BLOCK) holds up the commands behind it on the
 *     same connection: give blocking reads a connection of their own.
 */
#ifndef WEFT_REDIS_H
#define WEFT_REDIS_H

#include "core.h"
#include "future.h"

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_redis weft_redis;

/* The server answered with an error reply ("-ERR ...", "-WRONGTYPE ..."). */
#define WEFT_EREDIS (-4099)

/* A reply, as the server sent it (the types are RESP2's). */
enum {
    WEFT_REDIS_STRING = 1,            /* bulk string: str, len (binary-safe, NUL-terminated) */
    WEFT_REDIS_ARRAY = 2,             /* elements, element[] */
    WEFT_REDIS_INTEGER = 3,           /* integer */
    WEFT_REDIS_NIL = 4,               /* a missing value (nil bulk string or array) */
    WEFT_REDIS_STATUS = 5,            /* "+OK": str, len */
    WEFT_REDIS_ERROR = 6,             /* "-ERR ...": str, len (the server's message) */
};
typedef struct weft_redis_reply {
    int type;                         /* one of the WEFT_REDIS_ types above */
    long long integer;                /* INTEGER: the value */
    size_t len;                       /* STRING, STATUS, ERROR: the bytes of str */
    char *str;                        /* STRING, STATUS, ERROR: the text (NUL-terminated) */
    size_t elements;                  /* ARRAY: the number of elements */
    struct weft_redis_reply **element;  /* ARRAY: the elements */
} weft_redis_reply;

/* Options for weft_redis_connect. Initialise with WEFT_REDIS_OPTS_INIT. */
typedef struct weft_redis_opts {
    int64_t connect_timeout;          /* ns, for each connection attempt (default 5 s) */
    int64_t command_timeout;          /* ns: a command not written by then fails with
                                         -ETIMEDOUT (default 30 s; WEFT_FOREVER: never) */
    int64_t max_backoff;              /* ns: the longest pause between reconnection
                                         attempts (they start at 10 ms and double;
                                         default 1 s) */
    size_t max_reply;                 /* bytes one reply may take in memory (its strings,
                                         arrays and their bookkeeping; 0: the default,
                                         WEFT_REDIS_MAX_REPLY). A larger reply fails its
                                         command with -EMSGSIZE and the connection is
                                         made again (the commands behind it in flight
                                         get -ECONNRESET): never read whole. */
} weft_redis_opts;
/* The default weft_redis_opts.max_reply: 513 MiB, the server's largest string (its
 * proto-max-bulk-len, 512 MiB by default) and room for the rest of the reply. */
#define WEFT_REDIS_MAX_REPLY ((size_t)513 << 20)
#define WEFT_REDIS_OPTS_INIT { 5 * WEFT_SEC, 30 * WEFT_SEC, WEFT_SEC, 0 }

/* Connects to url and starts the connection's I/O thread:
 *   redis://[[user]:password@]host[:port][/db]     (port 6379, db 0 by default)
 *   unix://[[user]:password@]/path/to/socket[?db=N]
 * user and password are percent-decoded (write '@', ':', '/', '%' and any byte that is not
 * printable ASCII as %XX; %00 is refused): with a user, "AUTH user password" (an ACL
 * user, Redis 6+), without, "AUTH password" (requirepass). AUTH and SELECT are sent on
 * every (re)connection when the URL has them. The password is never printed by weft
 * and is wiped from weft's memory when the connection is closed. opts may be NULL. The
 * first connection is made here, so that a server that is down is reported at once.
 * Errors: -EINVAL (r or url NULL; a URL of another form or malformed: a bad %-escape, a
 * user without a password, an empty host, a port or db that is not a plain number, a
 * space or control character, a socket path too long), -ENOMEM, the connect errors
 * (-ECONNREFUSED, -ENOENT for a missing socket, -ETIMEDOUT, name resolution's),
 * WEFT_EREDIS (AUTH or SELECT refused: a wrong password, an unknown user). A URL without
 * a password sends no AUTH, so a server that wants one (requirepass, or its default user
 * off) is not found out here: connect returns 0 and each command then fails with
 * WEFT_EREDIS and the error reply "NOAUTH Authentication required." Blocks (a
 * coroutine parks) until connected. */
WEFT_API int weft_redis_connect(weft_redis **r, const char *url, const weft_redis_opts *opts);

/* Queues one command (argc arguments, argv[i] of lens[i] bytes: binary-safe; lens NULL:
 * NUL-terminated strings) and gives its future: its result is the weft_redis_reply
 * (owned by the future: valid until the future's last release), an error reply included;
 * its errors -ETIMEDOUT, -ECONNRESET (above), -ESHUTDOWN (the connection was closed
 * first), -ENOMEM. Commands sent one after the other, from any contexts, run on the
 * server in that order. Errors: -EINVAL (r, f or argv NULL, argc < 1), -ENOMEM,
 * -ESHUTDOWN. Any context; never blocks. */
WEFT_API int weft_redis_send(weft_redis *r, weft_future **f, int argc, const char *const *argv,
                             const size_t *lens);

/* weft_redis_send, then waits for the reply: 0 and *reply (the caller's: free it with
 * weft_redis_reply_free), or WEFT_EREDIS with *reply holding the server's error reply (the
 * caller frees it too), or -ETIMEDOUT (timeout passed: the command may still run), and
 * send's errors, with *reply NULL. Blocks (a coroutine parks). */
WEFT_API int weft_redis_call(weft_redis *r, weft_redis_reply **reply, int64_t timeout,
                             int argc, const char *const *argv, const size_t *lens);

/* weft_redis_call with the command in hiredis's format: "SET %s %b" (%s a C string, %b a
 * pointer and a size_t length, %d and friends numbers); each space-separated word is one
 * argument. -EINVAL for a format hiredis cannot read, or one with no word at all. */
WEFT_API int weft_redis_callf(weft_redis *r, weft_redis_reply **reply, int64_t timeout,
                              const char *fmt, ...);
WEFT_API int weft_redis_vcallf(weft_redis *r, weft_redis_reply **reply, int64_t timeout,
                               const char *fmt, va_list ap);

/* The reply of a future made by weft_redis_send (borrowed: valid while the caller holds
 * the future), or NULL if it is not done, failed, or is not such a future. */
WEFT_API const weft_redis_reply *weft_redis_future_reply(weft_future *f);

/* Frees a reply and its elements. NULL: nothing. */
WEFT_API void weft_redis_reply_free(weft_redis_reply *reply);

/* true while the I/O thread holds a live connection. */
WEFT_API bool weft_redis_connected(weft_redis *r);

/* Closes the connection: commands not yet answered fail with -ESHUTDOWN, the I/O thread
 * ends. Futures given out stay valid until released. Blocks (a coroutine parks) until the
 * I/O thread has ended. NULL: nothing. */
WEFT_API void weft_redis_close(weft_redis *r);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_REDIS_H */
