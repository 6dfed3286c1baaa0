/* Peer echo server: libuv, one loop (the default loop, on the main thread).  uv_listen; each
 * accepted connection (TCP_NODELAY) has uv_read_start with an alloc callback that mallocs the
 * suggested size (64 KiB), and every read is written back with uv_write, the buffer freed in
 * the write callback: the canonical libuv echo server.  SIGPIPE is ignored.
 *
 * Usage: echo_uv PORT   (listens on 127.0.0.1:PORT until killed; driven by echo_load)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <uv.h>

#include "net_peer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req_t;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *wr = (write_req_t *)req;
    uv_handle_t *h = (uv_handle_t *)req->handle;
    free(wr->buf.base);
    free(wr);
    if (status < 0 && !uv_is_closing(h)) uv_close(h, on_close);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        write_req_t *wr = malloc(sizeof *wr);
        if (!wr) { free(buf->base); uv_close((uv_handle_t *)s, on_close); return; }
        wr->buf = uv_buf_init(buf->base, (unsigned)nread);
        if (uv_write(&wr->req, s, &wr->buf, 1, on_write) != 0) {
            free(buf->base);
            free(wr);
            uv_close((uv_handle_t *)s, on_close);
        }
        return;
    }
    free(buf->base);
    if (nread < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c) return;
    uv_tcp_init(uv_default_loop(), c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    return peer_uv_serve("echo_uv", argc, argv, on_connection);
}
