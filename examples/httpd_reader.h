/* httpd_reader.h — the request side of httpd.c: bytes in, HTTP/1.x requests out, with the
 * rules of a careful server. No I/O and no weft: httpd.c feeds it what a connection
 * reads, and tests/fuzz/fuzz_http.c feeds it anything at all.
 *
 * libhttp-parser does the parsing; the reader adds what the parser leaves to its user:
 *   - only HTTP/1.x: another version gets 505 (HTTP/1.2 and later minor versions are read
 *     as 1.1, as RFC 9110 §2.5 asks); a request line without a version (HTTP/0.9) gets 400
 *     as soon as the line ends — see httpd_reader_feed;
 *   - limits: a target over HTTPD_TARGET_MAX bytes gets 414 as soon as it is that long, a
 *     header section over the parser's 80 KiB gets 431, a body over body_max gets 413 —
 *     from the Content-Length header, before any of the body is read;
 *   - Expect: "100-continue" on an HTTP/1.1 request with a body that will be accepted
 *     makes the reader stop after the headers (HTTPD_CONTINUE), so that the server sends
 *     "100 Continue" before the client sends the body; any other expectation gets 417.
 * A refused request ends the connection: what follows it is not read.
 *
 * One reader per connection, used by one context at a time.
 */
#ifndef EXAMPLES_HTTPD_READER_H
#define EXAMPLES_HTTPD_READER_H

#include "httpd.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTPD_TARGET_MAX 4096         /* longer request targets get 414 */

typedef enum {
    HTTPD_MORE,        /* every byte given was used: read more and feed it */
    HTTPD_CONTINUE,    /* the headers of an acceptable request that expects 100-continue:
                          send "HTTP/1.1 100 Continue", then feed the rest */
    HTTPD_REQUEST,     /* a whole request: httpd_reader_request, answer it, then feed the
                          rest (unless httpd_reader_keep_alive says the connection ends) */
    HTTPD_REFUSE,      /* answer httpd_reader_status and close: the request is refused */
} httpd_event;

typedef struct {
    http_parser parser;               /* parser.data points at the reader */
    size_t body_max;
    httpd_event event;                /* what a paused parser stopped for */
    bool begun;                       /* a request has started and not yet completed */
    int status;                       /* HTTPD_REFUSE: the status to answer */
    char target[HTTPD_TARGET_MAX];
    size_t target_len;
    char *body;                       /* malloc'd, kept from request to request */
    size_t body_len, body_cap;
    /* The header being read: its name, up to the length of the longest we look for. */
    char name[8];
    size_t name_len;                  /* > sizeof name: a longer name, none of ours */
    bool in_value;                    /* value bytes have come since the name */
    char expect[16];                  /* an Expect header's value, so far */
    size_t expect_len;                /* > sizeof expect: longer than any we meet */
    bool is_expect;                   /* the header being read is Expect */
    bool expect_continue, expect_other;   /* what the Expect headers asked for */
    bool keep_alive;                  /* of the request just completed */
} httpd_reader;

/* Ready for a connection's first request; body_max (> 0): the largest body accepted. */
void httpd_reader_init(httpd_reader *r, size_t body_max);

/* Frees the body buffer. */
void httpd_reader_destroy(httpd_reader *r);

/* Parses n (>= 1) bytes of in and stops at the first event; *used: the bytes it took
 * (all of them for HTTPD_MORE; after HTTPD_CONTINUE or HTTPD_REQUEST, feed the rest).
 * After HTTPD_REFUSE the reader takes nothing more. */
httpd_event httpd_reader_feed(httpd_reader *r, const char *in, size_t n, size_t *used);

/* A request has begun (some of it was fed) and is not complete. */
bool httpd_reader_begun(const httpd_reader *r);

/* After HTTPD_REQUEST: the request (valid until the next feed). */
void httpd_reader_request(httpd_reader *r, httpd_request *rq);

/* After HTTPD_REQUEST: it was a HEAD request (its answer has no body). */
bool httpd_reader_head(const httpd_reader *r);

/* After HTTPD_REQUEST: the client speaks HTTP/1.0 (keep-alive must be said explicitly). */
bool httpd_reader_http10(const httpd_reader *r);

/* After HTTPD_REQUEST: the connection may carry another request (HTTP/1.1 without
 * "Connection: close", HTTP/1.0 with "Connection: keep-alive"; never after an Upgrade or a
 * CONNECT, whose further bytes would be another protocol). */
bool httpd_reader_keep_alive(const httpd_reader *r);

/* After HTTPD_REFUSE: the status to answer (400, 413, 414, 417, 431, 500, 505). */
int httpd_reader_status(const httpd_reader *r);

#endif /* EXAMPLES_HTTPD_READER_H */
