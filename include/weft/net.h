/* weft/net.h — sockets in blocking style: TCP (IPv4, IPv6), Unix stream sockets and UDP;
 * name resolution off the loop; servers with a coroutine per connection.
 *
 * Part of <weft.h>; include that instead of this file. Every call works from a coroutine
 * (it suspends only that coroutine while its loop's epoll watches the socket) and from a
 * thread (it blocks the thread), as every weft wait does (principle 1). The descriptor
 * underneath is always non-blocking and close-on-exec; SIGPIPE is never raised (a peer that
 * went away gives -EPIPE).
 *
 * Two coroutines of one loop may wait on one socket at once only in different directions (a
 * reader and a writer); a second reader (or writer) gets -EBUSY, as in asyncio. Coroutines
 * of other loops and threads may wait alongside.
 *
 * Timeouts are per call (ns from the call; WEFT_FOREVER; 0: do not wait). Deadline scopes
 * (weft_scope_enter) cut the waits as well. Cancellation follows docs/CANCELLATION.md: a
 * call that would wait in a cancelled coroutine returns -ECANCELED; one that can complete
 * at once (data already there) completes.
 *
 * Closing a socket that other coroutines or threads are blocked on wakes them: their calls
 * return -EBADF (for an adopted pipe, within about 20 ms: pipes cannot be shut down, so
 * their waits look at the socket every 20 ms). The memory and the descriptor number stay reserved until the last of
 * those calls has returned, so a reused descriptor number is never waited on by mistake.
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include "core.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- addresses -------------------------------------------------------------------------- */

/* A socket address of any family weft supports (AF_INET, AF_INET6, AF_UNIX). */
typedef struct weft_addr {
    socklen_t len;                     /* bytes of u in use */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
        struct sockaddr_storage ss;
    } u;                               /* the address, as each family's struct */
} weft_addr;

/* A numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "[::1]", "fe80::1%eth0") address and a
 * port. ip NULL or "" means the IPv4 wildcard 0.0.0.0. Never resolves names (see
 * weft_resolve). Errors: -EINVAL (a is NULL or ip is not a numeric address). Any context,
 * never blocks. */
WEFT_API int weft_addr_ip(weft_addr *a, const char *ip, uint16_t port);

/* A Unix-domain address: a path, or an abstract name written "@name". Errors: -EINVAL
 * (NULL, empty), -ENAMETOOLONG. Any context, never blocks. */
WEFT_API int weft_addr_unix(weft_addr *a, const char *path);

/* Writes "1.2.3.4:80", "[::1]:80" or "unix:/path" ("unix:@name") into buf (always
 * NUL-terminated when size > 0). Returns the length it needed (as snprintf), or -EINVAL
 * (NULL address, unknown family). */
WEFT_API int weft_addr_format(const weft_addr *a, char *buf, size_t size);

/* The port of an IPv4 / IPv6 address, 0 for other families. */
WEFT_API uint16_t weft_addr_port(const weft_addr *a);

/* Resolves host (a name or a numeric address; NULL: the wildcard, for listening) and port
 * with getaddrinfo, on weft's internal resolver threads, never on the caller's loop: a
 * coroutine waits without blocking its loop, and a slow DNS server never holds up file I/O
 * or the user's pools. family: AF_UNSPEC, AF_INET or AF_INET6; socktype: SOCK_STREAM or
 * SOCK_DGRAM. Stores up to max addresses in out (getaddrinfo's order) and returns how many
 * (>= 1). A numeric address is parsed at once, without a thread (also by a cancelled
 * caller: nothing to wait for).
 * Cancellation and timeouts follow the hand-off rule (docs/CANCELLATION.md): a caller
 * already cancelled, or past a deadline scope's deadline, or with timeout 0, gets
 * -ECANCELED / -ETIMEDOUT at once and no lookup is made; if the caller stops waiting
 * (timeout, cancellation, a scope) before the lookup has started, it never starts; once
 * started, it finishes on its own on the resolver thread and its answer is dropped (freed:
 * nothing is left behind). A lookup that ended as the wait was cut is reported as it ended.
 * Errors: -EINVAL, -ENOENT (no such host, or no address of that family), -EAGAIN
 * (temporary resolver failure, or no resolver thread could be started), -EIO (resolver
 * failure), -ENOMEM, -ETIMEDOUT, -ECANCELED. Any context; blocks on the lookup. */
WEFT_API int weft_resolve(const char *host, uint16_t port, int family, int socktype,
                          weft_addr *out, size_t max, int64_t timeout);

/* ---- sockets ---------------------------------------------------------------------------- */

typedef struct weft_socket weft_socket;

/* Creates a socket (socket(2) arguments: AF_INET / AF_INET6 / AF_UNIX; SOCK_STREAM /
 * SOCK_DGRAM; protocol usually 0). Errors: -EINVAL (s NULL), socket(2)'s errors (-EMFILE,
 * -EAFNOSUPPORT...), -ENOMEM. Any context, never blocks. */
WEFT_API int weft_socket_open(weft_socket **s, int family, int type, int protocol);

/* Takes ownership of fd (a socket or a pipe/FIFO/tty made elsewhere) and makes it
 * non-blocking and close-on-exec; weft_socket_close closes it. Errors: -EINVAL (s NULL),
 * -EBADF, -ENOMEM (fd is left open). */
WEFT_API int weft_socket_adopt(weft_socket **s, int fd);

/* The descriptor, for setsockopt and the like (do not close it; do not make it blocking). */
WEFT_API int weft_socket_fd(const weft_socket *s);

/* bind(2) / listen(2). listen's backlog <= 0 means SOMAXCONN. Errors: -EINVAL, the
 * system call's errors (-EADDRINUSE...). Never block. */
WEFT_API int weft_socket_bind(weft_socket *s, const weft_addr *a);
WEFT_API int weft_socket_listen(weft_socket *s, int backlog);

/* Accepts a connection: *conn receives a new socket, peer (may be NULL) its address.
 * Errors: -EINVAL, -ETIMEDOUT, -ECANCELED, -EBADF (closed), accept4(2)'s errors (-EMFILE:
 * out of descriptors — the connection stays queued; servers back off, see below).
 * Blocks until a connection arrives. */
WEFT_API int weft_socket_accept(weft_socket *s, weft_socket **conn, weft_addr *peer,
                                int64_t timeout);

/* Connects to a. Errors: -EINVAL, -ECONNREFUSED, -ENETUNREACH, -ETIMEDOUT (this call's
 * timeout or the system's), -ECANCELED, -EBADF, connect(2)'s other errors. After a timeout
 * or cancellation the socket is in an unspecified state: close it. Blocks until connected. */
WEFT_API int weft_socket_connect(weft_socket *s, const weft_addr *a, int64_t timeout);

/* recv(2) / send(2) with flags (MSG_PEEK, MSG_OOB...; send adds MSG_NOSIGNAL). recv
 * returns the bytes read (>= 1; 0 at end of stream), send the bytes sent (>= 1, maybe
 * fewer than n). n == 0 returns 0 at once. Errors: -EINVAL, -ETIMEDOUT, -ECANCELED, -EBADF
 * (closed, also by another context while blocked), -ECONNRESET, -EPIPE, the system
 * call's others. Block until some bytes move. */
WEFT_API ssize_t weft_socket_recv(weft_socket *s, void *buf, size_t n, int flags,
                                  int64_t timeout);
WEFT_API ssize_t weft_socket_send(weft_socket *s, const void *buf, size_t n, int flags,
                                  int64_t timeout);

/* read: recv without flags. write: sends all n bytes (Python's sendall) and returns n; on
 * an error an unknown prefix may have been sent. Errors as recv/send; the timeout covers
 * the whole write. */
WEFT_API ssize_t weft_socket_read(weft_socket *s, void *buf, size_t n, int64_t timeout);
WEFT_API ssize_t weft_socket_write(weft_socket *s, const void *buf, size_t n,
                                   int64_t timeout);

/* Datagrams: recvfrom returns the datagram's length (truncated to n; MSG_TRUNC in flags
 * returns the real length) and its sender in from (may be NULL); sendto sends one datagram
 * to `to` (NULL: the connected peer). Errors as recv/send, -EMSGSIZE. */
WEFT_API ssize_t weft_socket_recvfrom(weft_socket *s, void *buf, size_t n, int flags,
                                      weft_addr *from, int64_t timeout);
WEFT_API ssize_t weft_socket_sendto(weft_socket *s, const void *buf, size_t n, int flags,
                                    const weft_addr *to, int64_t timeout);

/* shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR. Errors: -EINVAL, -ENOTCONN. Never blocks. */
WEFT_API int weft_socket_shutdown(weft_socket *s, int how);

/* The local / remote address. Errors: -EINVAL, -ENOTCONN, -EBADF. */
WEFT_API int weft_socket_local_addr(const weft_socket *s, weft_addr *a);
WEFT_API int weft_socket_peer_addr(const weft_socket *s, weft_addr *a);

/* Closes the socket and frees the handle (NULL: nothing). Calls blocked on it in other
 * coroutines or threads return -EBADF; the descriptor is closed when the last of them has
 * returned — at once if none is in progress, also for a socket a coroutine of another
 * thread's loop has waited on, whether that loop is running or not. It always closes,
 * whatever the caller's cancellation state and deadline scopes (it never waits). Returns
 * 0 (close(2)'s own error is not reported: the descriptor is gone either way). Any
 * context; never blocks. Using s afterwards is a use after free — except through
 * a stream over s, which holds it until weft_stream_close (its calls return -EBADF): a
 * thread that loops over calls on a socket another thread may close should read through a
 * stream. */
WEFT_API int weft_socket_close(weft_socket *s);

/* ---- conveniences ------------------------------------------------------------------------ */

/* A listening TCP socket on host:port (host NULL: every interface, IPv6 and IPv4 where the
 * system allows it; a name is resolved as by weft_resolve). SO_REUSEADDR is set; port 0
 * picks a free port (see weft_socket_local_addr). backlog <= 0: SOMAXCONN. Errors:
 * weft_resolve's, -EADDRINUSE, socket errors. May block on name resolution. */
WEFT_API int weft_tcp_listen(weft_socket **s, const char *host, uint16_t port, int backlog);

/* Connects to host:port (a name or a numeric address), trying each resolved address in
 * turn until one accepts, all within timeout (name resolution included). TCP_NODELAY is
 * set. Errors: weft_resolve's, the last address's connect error, -ETIMEDOUT, -ECANCELED.
 * Blocks until connected. */
WEFT_API int weft_tcp_connect(weft_socket **s, const char *host, uint16_t port,
                              int64_t timeout);

/* Unix stream sockets at a path ("@name": abstract). weft_unix_listen removes nothing: an
 * existing file at path gives -EADDRINUSE. */
WEFT_API int weft_unix_listen(weft_socket **s, const char *path, int backlog);
WEFT_API int weft_unix_connect(weft_socket **s, const char *path, int64_t timeout);

/* A UDP socket bound to host:port (host NULL: 0.0.0.0; port 0: any). Numeric hosts only. */
WEFT_API int weft_udp_open(weft_socket **s, const char *host, uint16_t port);

/* ---- servers: a coroutine per connection --------------------------------------------------- */

typedef struct weft_server weft_server;

/* A connection handler: runs as a coroutine on the server's loop, one per connection. The
 * server closes conn when the handler returns (the handler must not close it); the return
 * value is ignored (a handler reports its own errors). A handler cancelled before it first
 * ran (weft_run returning, its thread ending, a close with no grace) never runs, and the
 * server closes its connection all the same. */
typedef int (*weft_conn_fn)(weft_socket *conn, void *arg);

/* Options for weft_server_start and weft_tcp_server. Initialise with
 * WEFT_SERVER_OPTS_INIT (zero fields mean the defaults); more fields may be added at the
 * end. */
typedef struct weft_server_opts {
    int max_connections;    /* handlers running at once; further connections wait in the
                               listen backlog (0: no limit) */
    int backlog;            /* for weft_tcp_server (<= 0: SOMAXCONN) */
    uint32_t stack_size;    /* the handlers' stacks (0: weft's default) */
    unsigned spawn_flags;   /* WEFT_SPAWN_* for the handlers: WEFT_SPAWN_COMPACT makes them
                               compact coroutines (about 850 bytes per idle connection
                               instead of 4.3 KB; docs/COMPACT_STACKS.md for the contract) */
} weft_server_opts;
#define WEFT_SERVER_OPTS_INIT { 0, 0, 0, 0 }

/* Serves listener (a listening socket; the server takes it over and closes it): an
 * accepting coroutine on the calling thread's loop spawns fn(conn, arg) for each
 * connection. Running out of descriptors (EMFILE, ENFILE) or memory while accepting makes
 * it back off (1 ms doubling up to 100 ms) and retry, never spin or stop. opts may be NULL.
 * Errors: -EINVAL, -ENOMEM, -ESHUTDOWN (the loop is shutting down). Any context; never
 * blocks. The server's coroutines run while the thread waits in weft calls (weft_run). */
WEFT_API int weft_server_start(weft_server **srv, weft_socket *listener, weft_conn_fn fn,
                               void *arg, const weft_server_opts *opts);

/* weft_tcp_listen + weft_server_start. */
WEFT_API int weft_tcp_server(weft_server **srv, const char *host, uint16_t port,
                             weft_conn_fn fn, void *arg, const weft_server_opts *opts);

/* The address it listens on (for port 0). */
WEFT_API int weft_server_addr(const weft_server *srv, weft_addr *a);

/* Handlers running now. */
WEFT_API size_t weft_server_connections(const weft_server *srv);

/* Ends the running handlers' connections, as asyncio's Server.close_clients /
 * abort_clients (Python 3.13): hard false shuts each connection's read side (a handler's
 * reads see end of stream, its writes still go out: one idle between requests ends at once,
 * one answering a request finishes it); hard true shuts both sides (its writes fail with
 * -EPIPE too). Handlers still run until they return; new connections are still accepted.
 * Typically followed by weft_server_close. Returns the number of connections shut (one
 * its peer already reset is not), or -EINVAL, -EPERM (not the server's thread). Never
 * blocks. */
WEFT_API int weft_server_close_clients(weft_server *srv, bool hard);

/* Graceful close: stops accepting at once (the listener is closed), waits up to `grace`
 * for the running handlers to return, then cancels those still running and waits for
 * them to end; frees the server. Returns 0, or -ETIMEDOUT if handlers had to be
 * cancelled. Must be called on the server's thread (from a coroutine or its own context).
 * Blocks for at most about `grace` plus the cancelled handlers' clean-up. It always
 * releases everything, whatever the caller's cancellation state and deadline scopes:
 * cancellation (or a scope's deadline) cuts only the grace wait, as if it were over — the
 * handlers are cancelled and waited for, shielded — and is then returned (-ECANCELED,
 * -ETIMEDOUT). -EINVAL, -EPERM (not the server's thread), -EDEADLK (called from one of its
 * handlers): nothing done. */
WEFT_API int weft_server_close(weft_server *srv, int64_t grace);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_NET_H */
