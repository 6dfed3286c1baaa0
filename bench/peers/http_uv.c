/* Peer HTTP server: libuv, one loop (the default loop, on the main thread), keep-alive, the
 * minimal server.  Each connection (TCP_NODELAY) reads into its own 16 KiB buffer (the alloc
 * callback hands out its free tail); every request is taken as complete at its "\r\n\r\n"
 * (GET only); a request may arrive split across reads, and several pipelined in one read:
 * each is answered with the same fixed response (200, Content-Length: 13, text/plain,
 * "Hello, World!") by uv_write: the static response for one request, a malloc'd copy per
 * request for several.  SIGPIPE is ignored.
 *
 * Usage: http_uv PORT   (listens on 127.0.0.1:PORT until killed; driven by http_load)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <uv.h>

#include "net_peer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INBUF 16384

static char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                     "Content-Type: text/plain\r\n\r\nHello, World!";
#define RESPLEN (sizeof RESP - 1)

typedef struct {
    uv_tcp_t tcp;
    size_t inlen;
    char in[INBUF];
} conn_t;

typedef struct {
    uv_write_t req;
    char *owned; /* NULL for the static response */
} write_req_t;

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void close_conn(uv_stream_t *s)
{
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = (conn_t *)h;
    buf->base = c->in + c->inlen;
    buf->len = INBUF - c->inlen;
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *wr = (write_req_t *)req;
    uv_stream_t *s = req->handle;
    free(wr->owned);
    free(wr);
    if (status < 0) close_conn(s);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = (conn_t *)s;
    if (nread < 0) { close_conn(s); return; }
    if (nread == 0) return;
    c->inlen += (size_t)nread;
    long n = peer_http_requests(c->in, &c->inlen, (size_t)nread, INBUF);
    if (n < 0) { close_conn(s); return; }     /* request too large */
    size_t count = (size_t)n;
    if (count == 0) return;
    write_req_t *wr = malloc(sizeof *wr);
    if (!wr) { close_conn(s); return; }
    uv_buf_t out;
    if (count == 1) {
        wr->owned = NULL;
        out = uv_buf_init(RESP, (unsigned)RESPLEN);
    } else {
        wr->owned = malloc(count * RESPLEN);
        if (!wr->owned) { free(wr); close_conn(s); return; }
        for (size_t i = 0; i < count; i++) memcpy(wr->owned + i * RESPLEN, RESP, RESPLEN);
        out = uv_buf_init(wr->owned, (unsigned)(count * RESPLEN));
    }
    if (uv_write(&wr->req, s, &out, 1, on_write) != 0) {
        free(wr->owned);
        free(wr);
        close_conn(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) return;
    conn_t *c = malloc(sizeof *c);
    if (!c) return;
    c->inlen = 0;
    uv_tcp_init(uv_default_loop(), &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    return peer_uv_serve("http_uv", argc, argv, on_connection);
}
