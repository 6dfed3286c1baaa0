/* httpd.c — the small HTTP/1.1 server and client of httpd.h.
 *
 * Server: one coroutine per connection (weft_tcp_server). Each reads what the peer sends
 * into a buffer and feeds it to its request reader (httpd_reader.c: libhttp-parser and a
 * careful server's rules), which stops at each event: a request complete (the coroutine
 * calls the handler and writes the response, then feeds on: pipelined requests are
 * answered in order), "100 Continue" to send, or a refusal (answered, and the connection
 * ends). Responses collect in the stream's write buffer, which weft sends before the next
 * read that has to wait: a batch of pipelined requests gets its answers in one write.
 *
 * Timeouts: a connection waits for its next request idle_timeout at most, then it is
 * closed without a word (a client of a kept-alive connection must expect that, RFC 9112
 * §9.5; a 408 there could be taken for the answer to a request that crossed it); a
 * request, once its first byte came, must arrive whole within request_timeout, else it
 * gets 408. A peer that stops reading our answer fails its write after IO_TIMEOUT.
 *
 * All of a server's state is touched only by the coroutines of its loop, one at a time,
 * so none of it needs a lock.
 */
#include "httpd.h"
#include "httpd_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_IDLE (5 * WEFT_SEC)
#define DEFAULT_REQUEST (10 * WEFT_SEC)
#define DEFAULT_BODY_MAX ((size_t)1 << 20)
#define IO_TIMEOUT (10 * WEFT_SEC)    /* a peer that stops reading what we send */
#define LINGER_QUIET WEFT_SEC         /* a connection ending stops reading after a quiet second */
#define LINGER_MAX (5 * WEFT_SEC)     /* or after five in all */

/* The time left until deadline (< 0: none), as a weft timeout. */
static int64_t left(int64_t deadline)
{
    if (deadline < 0) return WEFT_FOREVER;
    int64_t l = deadline - weft_now();
    return l > 0 ? l : 0;
}

/* The deadline `timeout` from now (WEFT_FOREVER: none, -1). */
static int64_t after(int64_t timeout)
{
    return timeout == WEFT_FOREVER ? -1 : weft_now() + timeout;
}

/* ---- server ---------------------------------------------------------------------------- */

typedef struct conn {
    struct conn *prev, *next;         /* in httpd.head: the open connections */
    weft_socket *sock;
    bool idle;                        /* waiting for the next request, none begun */
    httpd_reader rd;
} conn;

struct httpd {
    weft_server *srv;
    httpd_handler_fn fn;
    void *arg;
    httpd_opts opts;                  /* with the defaults filled in */
    uint16_t port;
    bool closing;
    conn head;                        /* the open connections: a circular list */
    int open, in_flight;
    httpd_stats st;
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

/* The reader has a whole request: runs the handler and writes its response. Returns 0 to
 * go on with the connection, 1 if the answer ended it ("Connection: close"), or an error
 * (the handler's, or the write's). */
static int respond(httpd *h, conn *c, weft_stream *st)
{
    httpd_request rq;
    httpd_reader_request(&c->rd, &rq);
    httpd_response rs = { 200, NULL, "", 0, NULL };
    if (++h->in_flight > h->st.max_in_flight) h->st.max_in_flight = h->in_flight;
    int rc = h->fn(&rq, &rs, h->arg);
    h->in_flight--;
    if (!rs.body) rs.body = "";
    /* A server that is closing answers this request, then closes the connection. */
    bool keep_alive = httpd_reader_keep_alive(&c->rd) && !h->closing;
    if (rc == 0) {
        rc = send_response(st, &rs, httpd_reader_head(&c->rd), keep_alive,
                           httpd_reader_http10(&c->rd));
        if (rc == 0) h->st.requests++;
    }
    free(rs.owned);
    return rc ? rc : keep_alive ? 0 : 1;
}

/* Answers `status` (its reason phrase as the body) with "Connection: close". */
static int refuse(weft_stream *st, int status)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%s\n", http_status_str((enum http_status)status));
    httpd_response rs = { status, NULL, body, (size_t)n, NULL };
    return send_response(st, &rs, false, false, false);
}

/* Ends a connection after its last answer, in stages (RFC 9112 §9.6): sends what is
 * buffered and ends our sending side (the client reads the answer, then the end); then
 * reads and drops what the client still sends — until it closes too, falls quiet for
 * LINGER_QUIET, or LINGER_MAX has passed (Apache's lingering close has the same bounds, 2 s
 * and 30 s) — so that the close finds no unread bytes (which would make it send a reset). */
static void close_in_stages(weft_stream *st)
{
    if (weft_stream_write_eof(st, IO_TIMEOUT)) return;
    int64_t until = weft_now() + LINGER_MAX;
    char sink[4096];
    for (int64_t now; (now = weft_now()) < until;) {
        int64_t wait = until - now < LINGER_QUIET ? until - now : LINGER_QUIET;
        if (weft_stream_read(st, sink, sizeof sink, wait) <= 0) break;
    }
}

/* Reads, parses and answers requests until the peer closes, an error, a timeout, a
 * refusal, an answer that ends the connection, or the server closes while the connection
 * waits between requests. */
static void serve_requests(httpd *h, conn *c, weft_stream *st)
{
    char in[16 * 1024];
    size_t off = 0, len = 0;
    /* Idle: when the wait for a request ends; in a request: when it must be whole. Both
     * count from a moment (the last answer, the request's first byte), not from each read:
     * bytes that begin no request (empty lines) or come one at a time do not extend them. */
    int64_t deadline = after(h->opts.idle_timeout);
    for (;;) {
        if (off == len) {
            bool begun = httpd_reader_begun(&c->rd);
            if (h->closing && !begun) return;
            c->idle = !begun;             /* httpd_close may shut its read side */
            ssize_t n = weft_stream_read(st, in, sizeof in, left(deadline));
            c->idle = false;
            if (n == -ETIMEDOUT) {
                h->st.timeouts++;
                if (begun && refuse(st, 408) == 0) close_in_stages(st);
                return;                   /* idle: closed in silence */
            }
            if (n <= 0) return;           /* end of stream, error, cancelled */
            off = 0;
            len = (size_t)n;
        }
        bool begun = httpd_reader_begun(&c->rd);
        size_t used;
        httpd_event ev = httpd_reader_feed(&c->rd, in + off, len - off, &used);
        off += used;
        if (!begun && httpd_reader_begun(&c->rd))    /* a request started in these bytes */
            deadline = after(h->opts.request_timeout);
        int rc = 0;
        switch (ev) {
        case HTTPD_MORE:
            break;
        case HTTPD_CONTINUE: {
            /* Buffered: it goes out before the read that waits for the body. */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            rc = weft_stream_write(st, cont, sizeof cont - 1, IO_TIMEOUT);
            break;
        }
        case HTTPD_REQUEST:
            rc = respond(h, c, st);
            deadline = after(h->opts.idle_timeout);   /* idle again, from now */
            break;
        case HTTPD_REFUSE:
            h->st.bad_requests++;
            rc = refuse(st, httpd_reader_status(&c->rd));
            if (rc == 0) rc = 1;
            break;
        }
        if (rc == 1) close_in_stages(st);
        if (rc) return;
    }
}

static int serve_conn(weft_socket *sock, void *arg)
{
    httpd *h = arg;
    conn *c = malloc(sizeof *c);
    weft_stream *st = NULL;
    if (!c || weft_stream_open(&st, sock, NULL)) {
        free(c);
        return -ENOMEM;
    }
    c->sock = sock;
    c->idle = false;
    httpd_reader_init(&c->rd, h->opts.body_max);
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
    httpd_reader_destroy(&c->rd);
    free(c);
    return 0;                             /* the server closes sock */
}

static bool bad_timeout(int64_t t)
{
    return t < 0 && t != WEFT_FOREVER;
}

int httpd_start(httpd **out, const char *host, uint16_t port, httpd_handler_fn fn, void *arg,
                const httpd_opts *opts)
{
    httpd_opts o = HTTPD_OPTS_INIT;
    if (opts) o = *opts;
    if (bad_timeout(o.idle_timeout) || bad_timeout(o.request_timeout)) return -EINVAL;
    if (!o.idle_timeout) o.idle_timeout = DEFAULT_IDLE;
    if (!o.request_timeout) o.request_timeout = DEFAULT_REQUEST;
    if (!o.body_max) o.body_max = DEFAULT_BODY_MAX;
    httpd *h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->fn = fn;
    h->arg = arg;
    h->opts = o;
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
    char req[HTTPD_TARGET_MAX + 512];
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
