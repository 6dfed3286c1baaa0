/* httpd_reader.c — the request reader of httpd_reader.h.
 *
 * libhttp-parser calls back as it meets the parts of a request; the callbacks record them
 * in the reader, and those that need the server to act now (a request complete, a refusal,
 * "100 Continue" to send) pause the parser: http_parser_execute then returns at once, with
 * the bytes after that point not yet taken, and httpd_reader_feed tells its caller what
 * happened. The caller acts and feeds the rest.
 *
 * The parser's content_length and flags fields are read in on_headers_complete: that is
 * where http_parser.h says they hold the request's framing.
 */
#include "httpd_reader.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Stops the parser at the current byte and refuses the request with `status`. */
static int refuse(http_parser *p, int status)
{
    httpd_reader *r = p->data;
    r->status = status;
    r->event = HTTPD_REFUSE;
    http_parser_pause(p, 1);
    return 0;
}

static int on_message_begin(http_parser *p)
{
    httpd_reader *r = p->data;
    r->begun = true;
    r->target_len = r->body_len = 0;
    r->name_len = r->expect_len = 0;
    r->in_value = r->is_expect = false;
    r->expect_continue = r->expect_other = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    httpd_reader *r = p->data;
    if (r->target_len + n >= HTTPD_TARGET_MAX) return refuse(p, 414);
    memcpy(r->target + r->target_len, at, n);
    r->target_len += n;
    /* A request line that ends right after the target has no version: HTTP/0.9, which the
     * parser accepts and marks as 0.9 just before this (last) call for the target. The
     * mark cannot be left from an earlier request: every request of a connection before
     * this one was HTTP/1.x (any other is refused, and the connection ends). HTTP/1.1's
     * grammar has no such line, and RFC 9112 §3 asks for 400 on an invalid request line;
     * answering now, not after headers that a 0.9 client never sends, means it is not left
     * waiting. A true 0.9 client would show our HTTP/1.1 answer as the page: it still
     * says what went wrong, where closing in silence would say nothing. */
    if (p->http_major == 0 && p->http_minor == 9) return refuse(p, 400);
    return 0;
}

/* The value of the header just read is complete: note what an Expect header asks. */
static void end_header(httpd_reader *r)
{
    if (r->is_expect) {
        size_t len = r->expect_len;
        if (len > sizeof r->expect) {
            r->expect_other = true;               /* longer than "100-continue" */
        } else {
            while (len && (r->expect[len - 1] == ' ' || r->expect[len - 1] == '\t')) len--;
            if (len == 12 && strncasecmp(r->expect, "100-continue", 12) == 0)
                r->expect_continue = true;
            else
                r->expect_other = true;           /* "", a list, anything else */
        }
    }
    r->name_len = r->expect_len = 0;
    r->in_value = r->is_expect = false;
}

/* A header's name and its value may each come in several calls (split across reads). */
static int on_header_field(http_parser *p, const char *at, size_t n)
{
    httpd_reader *r = p->data;
    if (r->in_value) end_header(r);           /* a new header begins */
    if (r->name_len + n <= sizeof r->name) memcpy(r->name + r->name_len, at, n);
    r->name_len += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    httpd_reader *r = p->data;
    if (!r->in_value) {
        r->in_value = true;
        r->is_expect = r->name_len == 6 && strncasecmp(r->name, "expect", 6) == 0;
    }
    if (r->is_expect) {
        if (r->expect_len + n <= sizeof r->expect) memcpy(r->expect + r->expect_len, at, n);
        r->expect_len += n;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    httpd_reader *r = p->data;
    if (r->in_value) end_header(r);
    if (p->http_major != 1) return refuse(p, 505);        /* HTTP/0.x, 2.0, 9.9... */
    if (r->expect_other) return refuse(p, 417);
    bool has_length = p->flags & F_CONTENTLENGTH;
    if (has_length && p->content_length > r->body_max) return refuse(p, 413);
    bool has_body = (p->flags & F_CHUNKED) || (has_length && p->content_length > 0);
    /* An HTTP/1.0 client cannot expect 100 Continue: RFC 9110 §10.1.1 says to ignore it.
     * Without a body there is nothing to wait for. */
    if (r->expect_continue && has_body && p->http_minor >= 1) {
        r->event = HTTPD_CONTINUE;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    httpd_reader *r = p->data;
    /* Only a chunked body can grow past body_max here: a Content-Length one was refused
     * in on_headers_complete. */
    if (r->body_len + n > r->body_max) return refuse(p, 413);
    if (r->body_len + n + 1 > r->body_cap) {      /* + 1: the NUL httpd_reader_request adds */
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return refuse(p, 500);
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    httpd_reader *r = p->data;
    r->begun = false;
    /* After an Upgrade or a CONNECT the bytes that follow are another protocol. */
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    r->event = HTTPD_REQUEST;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void httpd_reader_init(httpd_reader *r, size_t body_max)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    r->body_max = body_max;
}

void httpd_reader_destroy(httpd_reader *r)
{
    free(r->body);
    r->body = NULL;
    r->body_cap = 0;
}

httpd_event httpd_reader_feed(httpd_reader *r, const char *in, size_t n, size_t *used)
{
    *used = 0;
    if (r->status) return HTTPD_REFUSE;
    if (n == 0) return HTTPD_MORE;            /* 0 bytes would tell the parser "end of input" */
    *used = http_parser_execute(&r->parser, &settings, in, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&r->parser, 0);
        return r->event;
    }
    if (e != HPE_OK || *used != n) {
        /* The parser stopped on an error (or, which our pauses rule out, early). */
        r->status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
        return HTTPD_REFUSE;
    }
    return HTTPD_MORE;
}

bool httpd_reader_begun(const httpd_reader *r)
{
    return r->begun;
}

void httpd_reader_request(httpd_reader *r, httpd_request *rq)
{
    r->target[r->target_len] = '\0';
    if (r->body) r->body[r->body_len] = '\0';
    rq->method = http_method_str((enum http_method)r->parser.method);
    rq->target = r->target;
    rq->body = r->body ? r->body : "";
    rq->body_len = r->body_len;
}

bool httpd_reader_head(const httpd_reader *r)
{
    return r->parser.method == HTTP_HEAD;
}

bool httpd_reader_http10(const httpd_reader *r)
{
    return r->parser.http_major == 1 && r->parser.http_minor == 0;
}

bool httpd_reader_keep_alive(const httpd_reader *r)
{
    return r->keep_alive;
}

int httpd_reader_status(const httpd_reader *r)
{
    return r->status;
}
