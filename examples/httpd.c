/* httpd.c — the small HTTP/1.1 server and client of httpd.h.
 *
 * Server: one coroutine per connection (weft_tcp_server). Each reads what the peer sends
 * into a buffer and feeds it to libhttp-parser; the parser's callbacks collect the target
 * and the body, and the one at the end of a request pauses the parser, so that the
 * coroutine can call the handler and write the response before it parses on (pipelined
 * requests are answered in order). Responses collect in the stream's write buffer, which
 * weft sends before the next read that has to wait: a batch of pipelined requests gets its
 * answers in one write.
 *
 * All of a server's state is touched only by the coroutines of its loop, one at a time,
 * so none of it needs a lock.
 */
#include "httpd.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TARGET_MAX 4096               /* longer request targets get 414 */
#define BODY_MAX (1 << 20)            /* larger request bodies get 413 */
#define IO_TIMEOUT (10 * WEFT_SEC)    /* a peer that stops reading or writing mid-request */

/* ---- server ---------------------------------------------------------------------------- */

typedef struct conn {
    struct conn *prev, *next;         /* in httpd.head: the open connections */
    weft_socket *sock;
    bool idle;                        /* waiting for the next request, none begun */
    http_parser parser;
    bool begun;                       /* a request has started and not yet completed */
    char target[TARGET_MAX];
    size_t target_len;
    char *body;
    size_t body_len, body_cap;
    int reject;                       /* a status to answer instead of the handler's */
    unsigned method;
    bool keep_alive;
} conn;

struct httpd {
    weft_server *srv;
    httpd_handler_fn fn;
    void *arg;
    uint16_t port;
    bool closing;
    conn head;                        /* the open connections: a circular list */
    int open, in_flight;
    httpd_stats st;
};

/* libhttp-parser's callbacks: they only record what they see. */

static int on_message_begin(http_parser *p)
{
    conn *c = p->data;
    c->begun = true;
    c->target_len = c->body_len = 0;
    c->reject = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->target_len + n >= TARGET_MAX) {
        c->reject = 414;
        return 0;
    }
    memcpy(c->target + c->target_len, at, n);
    c->target_len += n;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->reject) return 0;
    if (c->body_len + n > BODY_MAX) {
        c->reject = 413;
        return 0;
    }
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + n + 1) cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) return -1;                          /* the parser reports an error: 400 */
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn *c = p->data;
    c->begun = false;
    c->method = p->method;
    c->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1);        /* hand the request to the coroutine (serve_conn) */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Writes the status line, the headers and the body into the stream. */
static int send_response(weft_stream *st, const httpd_response *rs, bool head_only,
                         bool keep_alive, bool http10)
{
    const char *conn_hdr = !keep_alive ? "Connection: close\r\n"
                           : http10    ? "Connection: keep-alive\r\n" : "";
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nServer: weft-httpd\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     rs->status, http_status_str((enum http_status)rs->status),
                     rs->content_type ? rs->content_type : "text/plain; charset=utf-8",
                     rs->body_len, conn_hdr);
    if (n < 0 || (size_t)n >= sizeof head) return -EOVERFLOW;
    int rc = weft_stream_write(st, head, (size_t)n, IO_TIMEOUT);
    if (!rc && !head_only && rs->body_len)
        rc = weft_stream_write(st, rs->body, rs->body_len, IO_TIMEOUT);
    return rc;
}

/* A complete request is in c: runs the handler and writes its response. 0 to go on with
 * the connection; an error (or a request that asked to close) ends it. */
static int respond(httpd *h, conn *c, weft_stream *st)
{
    c->target[c->target_len] = '\0';
    if (c->body) c->body[c->body_len] = '\0';
    httpd_request rq = { http_method_str((enum http_method)c->method), c->target,
                         c->body ? c->body : "", c->body_len };
    httpd_response rs = { 200, NULL, "", 0, NULL };
    int rc = 0;
    if (c->reject) {
        rs.status = c->reject;
        rs.body = rs.status == 414 ? "URI too long\n" : "payload too large\n";
        rs.body_len = strlen(rs.body);
        c->keep_alive = false;            /* the rest of what it sent is not worth reading */
    } else {
        if (++h->in_flight > h->st.max_in_flight) h->st.max_in_flight = h->in_flight;
        rc = h->fn(&rq, &rs, h->arg);
        h->in_flight--;
        if (!rs.body) rs.body = "";
    }
    if (rc == 0) {
        /* A server that is closing answers this request, then closes the connection. */
        if (h->closing) c->keep_alive = false;
        rc = send_response(st, &rs, c->method == HTTP_HEAD, c->keep_alive,
                           c->parser.http_major == 1 && c->parser.http_minor == 0);
        if (rc == 0) h->st.requests++;
    }
    free(rs.owned);
    return rc ? rc : c->keep_alive ? 0 : -ECONNABORTED;
}

static void answer_bad_request(httpd *h, weft_stream *st)
{
    static const char msg[] = "bad request\n";
    httpd_response rs = { 400, NULL, msg, sizeof msg - 1, NULL };
    h->st.bad_requests++;
    send_response(st, &rs, false, false, false);
}

/* Reads, parses and answers requests until the peer closes, an error, or the server
 * closes while the connection waits between requests. */
static void serve_requests(httpd *h, conn *c, weft_stream *st)
{
    char in[16 * 1024];
    size_t off = 0, len = 0;
    for (;;) {
        if (off == len) {
            if (h->closing && !c->begun) return;
            c->idle = !c->begun;          /* httpd_close may shut its read side */
            ssize_t n = weft_stream_read(st, in, sizeof in,
                                         c->begun ? IO_TIMEOUT : WEFT_FOREVER);
            c->idle = false;
            if (n <= 0) return;           /* end of stream, error, cancelled */
            off = 0;
            len = (size_t)n;
        }
        off += http_parser_execute(&c->parser, &settings, in + off, len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (respond(h, c, st)) return;
        } else if (e != HPE_OK) {
            answer_bad_request(h, st);
            return;
        }
    }
}

static int serve_conn(weft_socket *sock, void *arg)
{
    httpd *h = arg;
    conn *c = calloc(1, sizeof *c);
    weft_stream *st = NULL;
    if (!c || weft_stream_open(&st, sock, NULL)) {
        free(c);
        return -ENOMEM;
    }
    c->sock = sock;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = &h->head;                   /* link it, for httpd_close */
    c->prev = h->head.prev;
    c->prev->next = c->next->prev = c;
    h->st.connections++;
    if (++h->open > h->st.max_connections) h->st.max_connections = h->open;

    serve_requests(h, c, st);

    weft_stream_close(st, IO_TIMEOUT);   /* sends what is still buffered */
    h->open--;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c->body);
    free(c);
    return 0;                             /* the server closes sock */
}

int httpd_start(httpd **out, const char *host, uint16_t port, httpd_handler_fn fn, void *arg)
{
    httpd *h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->fn = fn;
    h->arg = arg;
    h->head.next = h->head.prev = &h->head;
    int rc = weft_tcp_server(&h->srv, host, port, serve_conn, h, NULL);
    if (rc) {
        free(h);
        return rc;
    }
    weft_addr a;
    weft_server_addr(h->srv, &a);
    h->port = weft_addr_port(&a);
    *out = h;
    return 0;
}

uint16_t httpd_port(const httpd *h)
{
    return h->port;
}

void httpd_get_stats(const httpd *h, httpd_stats *st)
{
    *st = h->st;
}

int httpd_close(httpd *h, int64_t grace)
{
    h->closing = true;
    /* Connections waiting for a next request would wait forever: shutting down their
     * read side makes their read return the end of the stream, and their coroutine ends. */
    for (conn *c = h->head.next; c != &h->head; c = c->next)
        if (c->idle) weft_socket_shutdown(c->sock, SHUT_RD);
    int rc = weft_server_close(h->srv, grace);
    free(h);
    return rc;
}

/* ---- client ---------------------------------------------------------------------------- */

struct httpc {
    char host[256];
    uint16_t port;
    weft_socket *sock;                /* NULL while not connected */
    weft_stream *st;
};

int httpc_create(httpc **out, const char *host, uint16_t port)
{
    httpc *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    *out = c;
    return 0;
}

static void disconnect(httpc *c)
{
    if (!c->sock) return;
    weft_stream_close(c->st, 0);
    weft_socket_close(c->sock);
    c->sock = NULL;
    c->st = NULL;
}

void httpc_destroy(httpc *c)
{
    if (!c) return;
    disconnect(c);
    free(c);
}

/* The time left until deadline (< 0: none), as a weft timeout. */
static int64_t left(int64_t deadline)
{
    if (deadline < 0) return WEFT_FOREVER;
    int64_t l = deadline - weft_now();
    return l > 0 ? l : 0;
}

/* A header line's value if its name is `name` (case-insensitive), else NULL. The line is
 * not NUL-terminated (it lies in the stream's buffer) but ends with '\n'. */
static const char *header_value(const char *line, size_t n, const char *name)
{
    size_t len = strlen(name);
    if (n <= len || strncasecmp(line, name, len) != 0 || line[len] != ':') return NULL;
    return line + len + 1 + strspn(line + len + 1, " \t");
}

/* The status line and the headers, a line at a time, up to the blank line. Returns the
 * status, and *clen (-1 if absent) and *close (the server will close the connection). */
static int read_head(weft_stream *st, int64_t deadline, long *clen, bool *close)
{
    const char *line;
    ssize_t n = weft_stream_readline(st, &line, left(deadline));
    if (n == 0) return -ECONNRESET;       /* closed before answering: see httpc_get */
    if (n < 0) return (int)n;
    if (n < 13 || line[n - 1] != '\n' || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return -EPROTO;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9') return -EPROTO;
        status = status * 10 + (line[i] - '0');
    }
    *clen = -1;
    *close = line[7] == '0';              /* HTTP/1.0 closes unless it says otherwise */
    for (;;) {
        n = weft_stream_readline(st, &line, left(deadline));
        if (n <= 0) return n ? (int)n : -EPROTO;
        if (line[n - 1] != '\n') return -EPROTO;         /* cut short by the end */
        if (line[0] == '\r' || line[0] == '\n') return status;   /* the blank line */
        const char *v;
        if ((v = header_value(line, (size_t)n, "Content-Length")))
            *clen = strtol(v, NULL, 10);                  /* stops at the '\r' */
        else if ((v = header_value(line, (size_t)n, "Connection")))
            *close = line + n - v >= 5 && strncasecmp(v, "close", 5) == 0;
    }
}

/* One request and its response on the open connection. *answered: some of the response
 * arrived (a failure after that is not a stale connection). */
static int exchange(httpc *c, const char *target, char **body, size_t *len, int64_t deadline,
                    bool *answered)
{
    char req[TARGET_MAX + 512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%u\r\n"
                     "User-Agent: weft-httpc\r\n\r\n", target, c->host, c->port);
    if (n < 0 || (size_t)n >= sizeof req) return -EINVAL;
    /* Buffered only: the stream sends it before the read below starts to wait. */
    int rc = weft_stream_write(c->st, req, (size_t)n, left(deadline));
    if (rc) return rc;
    long clen = -1;
    bool close = true;
    int status = read_head(c->st, deadline, &clen, &close);
    if (status == -ECONNRESET || status == -EPIPE) return status;
    *answered = true;
    if (status < 0) return status;
    if (clen < 0 || clen > (1L << 30)) return -EPROTO;
    char *b = malloc((size_t)clen + 1);
    if (!b) return -ENOMEM;
    rc = weft_stream_read_exactly(c->st, b, (size_t)clen, left(deadline));
    if (rc) {
        free(b);
        return rc == -ENODATA ? -EPROTO : rc;
    }
    b[clen] = '\0';
    *body = b;
    if (len) *len = (size_t)clen;
    if (close) disconnect(c);
    return status;
}

int httpc_get(httpc *c, const char *target, char **body, size_t *len, int64_t timeout)
{
    int64_t deadline = timeout == WEFT_FOREVER ? -1 : weft_now() + timeout;
    for (int attempt = 0;; attempt++) {
        bool fresh = c->sock == NULL;
        if (fresh) {
            int rc = weft_tcp_connect(&c->sock, c->host, c->port, left(deadline));
            if (rc) {
                c->sock = NULL;
                return rc;
            }
            rc = weft_stream_open(&c->st, c->sock, NULL);
            if (rc) {
                weft_socket_close(c->sock);
                c->sock = NULL;
                return rc;
            }
        }
        bool answered = false;
        int rc = exchange(c, target, body, len, deadline, &answered);
        if (rc >= 0) return rc;
        disconnect(c);
        /* A kept-alive connection may have been closed by the server while unused: that
         * (and only that) is worth one more try on a new connection. */
        if (fresh || answered || attempt > 0 || (rc != -ECONNRESET && rc != -EPIPE))
            return rc;
    }
}

int http_get(const char *host, uint16_t port, const char *target, char **body, size_t *len,
             int64_t timeout)
{
    httpc *c;
    int rc = httpc_create(&c, host, port);
    if (rc) return rc;
    rc = httpc_get(c, target, body, len, timeout);
    httpc_destroy(c);
    return rc;
}
