/* bench/weft_http.c — the http workload's weft server (bench/http_load.c drives it with wrk).
 *
 * Usage: weft_http PORT. One loop thread, a coroutine per connection; each request (up to
 * its blank line; requests may be pipelined or split across reads) gets the same fixed
 * keep-alive 200 response. Minimal on purpose, as the peers are: the workload measures the
 * runtime, not an HTTP implementation (examples/http_server.c is the real one).
 */
#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

static int serve_conn(weft_socket *conn, void *arg)
{
    (void)arg;
    char in[8192], out[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = weft_socket_recv(conn, in + have, sizeof in - have, 0, WEFT_FOREVER);
        if (n <= 0) return (int)n;
        have += (size_t)n;
        size_t used = 0, olen = 0;
        const char *end;
        while ((end = memmem(in + used, have - used, "\r\n\r\n", 4)) != NULL) {
            if (olen + sizeof response - 1 > sizeof out) {
                if (weft_socket_write(conn, out, olen, WEFT_FOREVER) < 0) return -1;
                olen = 0;
            }
            memcpy(out + olen, response, sizeof response - 1);
            olen += sizeof response - 1;
            used = (size_t)(end - in) + 4;
        }
        if (olen && weft_socket_write(conn, out, olen, WEFT_FOREVER) < 0) return -1;
        memmove(in, in + used, have - used);
        have -= used;
        if (have == sizeof in) return -EMSGSIZE;   /* a header block beyond 8 KiB */
    }
}

static int serve(void *arg, void **result)
{
    (void)result;
    weft_server *srv;
    int rc = weft_tcp_server(&srv, "127.0.0.1", (uint16_t)atoi(arg), serve_conn, NULL, NULL);
    if (rc) {
        fprintf(stderr, "weft_http: %s\n", weft_strerror(rc));
        return rc;
    }
    return weft_sleep(WEFT_FOREVER);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: weft_http PORT\n");
        return 2;
    }
    return weft_run(serve, argv[argc - 1], NULL) == 0 ? 0 : 1;
}
