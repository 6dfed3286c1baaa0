/* Peer HTTP server: bare epoll, one thread, level-triggered, keep-alive.  Every request is
 * taken as complete at its "\r\n\r\n" (GET only: no body is read); a request may arrive split
 * across reads, and several pipelined in one read: each gets the same fixed response,
 *   HTTP/1.1 200 OK, Content-Length: 13, Content-Type: text/plain, body "Hello, World!".
 * One request in one read (the common case) is answered with one write of the static
 * response; a short write keeps the rest and waits for EPOLLOUT before reading again.
 * Accepted sockets are non-blocking with TCP_NODELAY; SIGPIPE is ignored.
 *
 * Usage: http_epoll PORT   (listens on 127.0.0.1:PORT until killed; driven by http_load)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_peer.h"

#define INBUF 16384

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
                           "Content-Type: text/plain\r\n\r\nHello, World!";
#define RESPLEN (sizeof RESP - 1)

struct conn {
    int fd;
    size_t inlen;
    char *out;                 /* pending output (after a short write), or NULL */
    size_t outoff, outlen;
    char in[INBUF];
};

static int ep;

static void fail(const char *what)
{
    fprintf(stderr, "http_epoll: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void drop(struct conn *c)
{
    close(c->fd);
    free(c->out);
    free(c);
}

static void set_events(struct conn *c, unsigned ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write p[0..n); keep what does not go out in c->out.  -1 on error, 1 if some is pending. */
static int send_out(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w > 0) { p += w; n -= (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            char *keep = malloc(n);
            if (!keep) return -1;
            memcpy(keep, p, n);
            free(c->out);
            c->out = keep;
            c->outoff = 0;
            c->outlen = n;
            set_events(c, EPOLLOUT);
            return 1;
        }
        return -1;
    }
    return 0;
}

static int on_readable(struct conn *c)
{
    ssize_t r = read(c->fd, c->in + c->inlen, INBUF - c->inlen);
    if (r == 0) return -1;
    if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    c->inlen += (size_t)r;
    long n = peer_http_requests(c->in, &c->inlen, (size_t)r, INBUF);
    if (n < 0) return -1;                          /* request too large */
    size_t count = (size_t)n;
    if (count == 0) return 0;
    if (count == 1) return send_out(c, RESP, RESPLEN) < 0 ? -1 : 0;
    char *all = malloc(count * RESPLEN);
    if (!all) return -1;
    for (size_t i = 0; i < count; i++) memcpy(all + i * RESPLEN, RESP, RESPLEN);
    int rc = send_out(c, all, count * RESPLEN);
    free(all);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    int ls = peer_listen_loopback("http_epoll", peer_server_port("http_epoll", argc, argv));
    int one = 1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail("epoll_create1");
    struct epoll_event le = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le) != 0) fail("epoll_ctl");

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = malloc(sizeof *nc);
                    if (!nc) { close(fd); continue; }
                    nc->fd = fd;
                    nc->inlen = 0;
                    nc->out = NULL;
                    nc->outoff = nc->outlen = 0;
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = nc };
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) drop(nc);
                }
                continue;
            }
            if (c->out) { /* flushing after a short write */
                char *p = c->out;
                size_t off = c->outoff, len = c->outlen;
                c->out = NULL;
                int r = send_out(c, p + off, len - off);
                free(p);
                if (r < 0) drop(c);
                else if (r == 0) set_events(c, EPOLLIN);
                continue;
            }
            if (on_readable(c) < 0) drop(c);
        }
    }
}
