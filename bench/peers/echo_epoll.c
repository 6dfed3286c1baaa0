/* Peer echo server: bare epoll, one thread, level-triggered; on a readable connection, read
 * (64 KiB buffer) and write the bytes straight back.  A short write (never seen with 64-byte
 * ping-pong) keeps the rest in a per-connection buffer and waits for EPOLLOUT before reading
 * again.  Accepted sockets are non-blocking with TCP_NODELAY; SIGPIPE is ignored.
 *
 * Usage: echo_epoll PORT   (listens on 127.0.0.1:PORT until killed; driven by echo_load)
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

#define BUF (64 * 1024)

struct conn {
    int fd;
    size_t pend_off, pend_len; /* unwritten rest of a short write */
    char *pend;
};

static int ep;
static char buf[BUF];

static void fail(const char *what)
{
    fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void drop(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c->pend);
    free(c);
}

/* Write buf[0..n) then any rest: returns 0 when all is written, 1 when some is pending, -1 on
 * error. */
static int flush(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w > 0) { p += w; n -= (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->pend) c->pend = malloc(BUF);
            if (!c->pend) return -1;
            memmove(c->pend, p, n);
            c->pend_off = 0;
            c->pend_len = n;
            struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
            return 1;
        }
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int ls = peer_listen_loopback("echo_epoll", peer_server_port("echo_epoll", argc, argv));
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
                    if (fd < 0) break; /* EAGAIN, or a transient error */
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = calloc(1, sizeof *nc);
                    if (!nc) { close(fd); continue; }
                    nc->fd = fd;
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = nc };
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) drop(nc);
                }
                continue;
            }
            if (c->pend_len > 0) { /* waiting for EPOLLOUT */
                size_t len = c->pend_len;
                c->pend_len = 0;
                int r = flush(c, c->pend + c->pend_off, len);
                if (r < 0) { drop(c); continue; }
                if (r == 0) {
                    struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                }
                continue;
            }
            ssize_t r = read(c->fd, buf, BUF);
            if (r > 0) {
                if (flush(c, buf, (size_t)r) < 0) drop(c);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                drop(c);
            }
        }
    }
}
