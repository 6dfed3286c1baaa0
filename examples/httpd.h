/* httpd.h — a small HTTP/1.1 server and client on weft, shared by the network examples
 * (http_server, download_many, crawler). Not part of the library: an example of building
 * a protocol on weft's sockets and streams.
 *
 * The server (httpd_*) is weft_tcp_server underneath: an accepting coroutine, and a
 * coroutine per connection that reads with a weft_stream, feeds the bytes to the request
 * reader (httpd_reader.h: libhttp-parser plus a careful server's rules), calls the handler
 * for each request (keep-alive and pipelining supported) and writes the response back
 * through the stream. The handler runs in the connection's coroutine, so it may block in
 * weft calls (weft_sleep, a lock, a queue...): only that connection waits.
 *
 * As a careful server, it closes connections left idle (idle_timeout) and requests that
 * take too long to arrive (408); it speaks HTTP/1.x only (505 for other versions, 400 for
 * a versionless HTTP/0.9 line); it sends "100 Continue" to a client that waits for it
 * before sending a body (417 for any other expectation); it refuses an oversized body
 * (413) from its Content-Length, before the client sends it. When it ends a connection
 * after an answer, it does so in stages (RFC 9112 §9.6): it ends its sending side, then
 * reads and drops what the client still sends (until it falls quiet for a second, for
 * five seconds at most), then closes — a close with unread bytes would send a reset,
 * which can destroy the answer at the client before it is read, and makes a client still
 * sending a body fail instead of reading it.
 *
 * The client (httpc_*) is the other half in the plainest style: weft_tcp_connect, then a
 * stream over the socket — write the request, readline the status line and the headers,
 * read_exactly the Content-Length bytes of the body. It keeps its connection open between
 * requests (HTTP/1.1 keep-alive). It works from coroutines and from threads alike, as
 * every weft call does.
 *
 * Everything of one server (its counters included) lives on the thread that started it.
 */
#ifndef EXAMPLES_HTTPD_H
#define EXAMPLES_HTTPD_H

#include <weft.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- server ---------------------------------------------------------------------------- */

typedef struct {
    const char *method;       /* "GET", "POST", "HEAD"... */
    const char *target;       /* the request target as sent: "/page/3?x=1" */
    const char *body;         /* the request body (NUL-terminated; "" if none) */
    size_t body_len;
} httpd_request;

typedef struct {
    int status;               /* 200 unless the handler says otherwise */
    const char *content_type; /* "text/plain; charset=utf-8" unless set */
    const char *body;         /* "" unless set; not copied */
    size_t body_len;
    char *owned;              /* if set, freed (free()) once the response is sent */
} httpd_response;

/* Fills *rs. Returns 0 to send the response, a negative error to drop the connection
 * without one (a handler whose coroutine was cancelled, say). */
typedef int (*httpd_handler_fn)(const httpd_request *rq, httpd_response *rs, void *arg);

typedef struct httpd httpd;

typedef struct {
    uint64_t requests;        /* responses sent */
    uint64_t connections;     /* connections accepted */
    int max_connections;      /* most connections open at once */
    int max_in_flight;        /* most handler calls running at once */
    int bad_requests;         /* requests refused (400, 413, 414, 417, 431, 505...) */
    int timeouts;             /* connections closed by the idle or the request timeout */
} httpd_stats;

typedef struct {
    int64_t idle_timeout;     /* how long a connection may wait for its next request,
                                 from its start or its last answer (0: 5 s; WEFT_FOREVER:
                                 no limit); then it is closed without a word */
    int64_t request_timeout;  /* how long a request may take to arrive whole, from its
                                 first byte (0: 10 s; WEFT_FOREVER: no limit); then it
                                 gets 408 and is closed */
    size_t body_max;          /* the largest request body accepted (0: 1 MiB); a larger
                                 one gets 413, from its Content-Length before any of it */
} httpd_opts;

#define HTTPD_OPTS_INIT { 0, 0, 0 }

/* Starts a server on host:port (port 0: a free one, see httpd_port) on the calling
 * thread's loop; it runs whenever that thread waits in weft calls (weft_run...). opts may
 * be NULL (the defaults). Errors: -EINVAL (a negative timeout other than WEFT_FOREVER),
 * -ENOMEM, weft_tcp_server's. */
int httpd_start(httpd **h, const char *host, uint16_t port, httpd_handler_fn fn, void *arg,
                const httpd_opts *opts);

uint16_t httpd_port(const httpd *h);

/* The counters so far. On the server's thread (or after it has ended). */
void httpd_get_stats(const httpd *h, httpd_stats *st);

/* Graceful close: stops accepting; connections idle between requests are closed (their
 * read side is shut down, so their coroutines see the end of the stream), requests being
 * served finish and get "Connection: close"; after `grace`, what is left is cancelled
 * (weft_server_close). Returns weft_server_close's result (0, or -ETIMEDOUT if some
 * handler had to be cancelled). Frees h. On the server's thread. */
int httpd_close(httpd *h, int64_t grace);

/* ---- client ---------------------------------------------------------------------------- */

typedef struct httpc httpc;

/* A keep-alive client for host:port (a numeric address, or a name): one connection, used
 * by one coroutine or thread at a time. Connects at the first request. Never fails but for
 * -ENOMEM. */
int httpc_create(httpc **c, const char *host, uint16_t port);

/* GET target: on success returns the status code (200, 404...) and stores the body in
 * *body (malloc'd, NUL-terminated; free() it) and its length in *len (may be NULL). A
 * connection the server has closed meanwhile is opened again (once). Errors: weft's
 * (-ECONNREFUSED, -ETIMEDOUT, -ECANCELED...), -EPROTO (not an HTTP/1.x response or no
 * Content-Length), -ENOMEM. timeout covers the whole exchange. */
int httpc_get(httpc *c, const char *target, char **body, size_t *len, int64_t timeout);

/* Closes the connection and frees c. NULL: nothing. */
void httpc_destroy(httpc *c);

/* One GET on a connection of its own: httpc_create + httpc_get + httpc_destroy. */
int http_get(const char *host, uint16_t port, const char *target, char **body, size_t *len,
             int64_t timeout);

#endif /* EXAMPLES_HTTPD_H */
