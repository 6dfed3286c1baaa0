/* bench/peers/net_peer.h — what the C network peers (echo_*, http_* servers) share: a
 * listening socket on 127.0.0.1, counting the complete requests in an HTTP input buffer, and
 * (when <uv.h> is included first) a libuv server's main. Standalone (no weft). Each server
 * takes its port as its last argument (bench/load.h appends it). */
#ifndef WEFT_BENCH_NET_PEER_H
#define WEFT_BENCH_NET_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The port argument; exits 2 with a usage line if there is none. SIGPIPE is ignored (a
 * client that goes away must not kill the server). */
static inline unsigned short peer_server_port(const char *prog, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", prog);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    return (unsigned short)atoi(argv[argc - 1]);
}

/* A non-blocking listening TCP socket on 127.0.0.1:port (SO_REUSEADDR); exits 1 with a
 * message naming prog on failure. */
static inline int peer_listen_loopback(const char *prog, unsigned short port)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, SOMAXCONN) != 0) {
        fprintf(stderr, "%s: listen on 127.0.0.1:%u: %s\n", prog, port, strerror(errno));
        exit(1);
    }
    return ls;
}

/* in[0, *inlen) holds received bytes, of which the last `fresh` just arrived. Counts the
 * complete requests (each ends with a blank line; one may straddle two reads), drops them
 * from the buffer and returns their number; -1 if a request does not fit in cap bytes. */
static inline long peer_http_requests(char *in, size_t *inlen, size_t fresh, size_t cap)
{
    size_t old = *inlen - fresh;
    size_t from = old >= 3 ? old - 3 : 0, consumed = 0;
    long count = 0;
    for (;;) {
        char *e = (char *)memmem(in + from, *inlen - from, "\r\n\r\n", 4);
        if (!e) break;
        count++;
        consumed = from = (size_t)(e - in) + 4;
    }
    if (consumed == 0 && *inlen == cap) return -1;
    memmove(in, in + consumed, *inlen - consumed);
    *inlen -= consumed;
    return count;
}

#ifdef UV_VERSION_MAJOR
/* A libuv server's main: listens on 127.0.0.1:<last argument> on the default loop and runs
 * it, calling on_connection for each connection. */
static inline int peer_uv_serve(const char *prog, int argc, char **argv,
                                uv_connection_cb on_connection)
{
    unsigned short port = peer_server_port(prog, argc, argv);
    static uv_tcp_t server;
    struct sockaddr_in addr;
    int rc = uv_ip4_addr("127.0.0.1", port, &addr);
    if (!rc) rc = uv_tcp_init(uv_default_loop(), &server);
    if (!rc) rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc) {
        fprintf(stderr, "%s: listen on 127.0.0.1:%u: %s\n", prog, port, uv_strerror(rc));
        return 1;
    }
    return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
#endif

#endif
