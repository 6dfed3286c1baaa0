/* net/connect.c — the conveniences: listening and connecting by host name, Unix sockets,
 * UDP. Any context; they block where weft/net.h says (resolution, connecting).
 */
#include "net/internal.h"

#include <netinet/tcp.h>
#include <string.h>

#define MAX_ADDRS 16

static int listen_on(weft_socket **out, const weft_addr *a, int type, int backlog)
{
    weft_socket *s;
    int rc = weft_socket_open(&s, a->u.sa.sa_family, type, 0);
    if (rc) return rc;
    int fd = weft_socket_fd(s), one = 1;
    if (a->u.sa.sa_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->u.sa.sa_family == AF_INET6) {
        /* The wildcard serves IPv4 too where the system allows it. */
        int v6only = IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr) ? 0 : 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if ((rc = weft_socket_bind(s, a)) ||
        (type == SOCK_STREAM && (rc = weft_socket_listen(s, backlog)))) {
        weft_socket_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weft_tcp_listen(weft_socket **s, const char *host, uint16_t port, int backlog)
{
    if (!s) return -EINVAL;
    weft_addr a;
    int rc;
    if (!host) {
        /* Every interface: IPv6 dual-stack if there is IPv6, else IPv4. */
        weft_addr_ip(&a, "::", port);
        rc = listen_on(s, &a, SOCK_STREAM, backlog);
        if (rc != -EAFNOSUPPORT && rc != -EADDRNOTAVAIL) return rc;
        weft_addr_ip(&a, "0.0.0.0", port);
        return listen_on(s, &a, SOCK_STREAM, backlog);
    }
    weft_addr as[MAX_ADDRS];
    int n = weft_resolve(host, port, AF_UNSPEC, SOCK_STREAM, as, MAX_ADDRS, WEFT_FOREVER);
    if (n < 0) return n;
    rc = -ENOENT;
    for (int i = 0; i < n; i++)
        if ((rc = listen_on(s, &as[i], SOCK_STREAM, backlog)) == 0) break;
    return rc;
}

static int connect_to(weft_socket **out, const weft_addr *a, int64_t timeout)
{
    weft_socket *s;
    int rc = weft_socket_open(&s, a->u.sa.sa_family, SOCK_STREAM, 0);
    if (rc) return rc;
    if (a->u.sa.sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(weft_socket_fd(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    rc = weft_socket_connect(s, a, timeout);
    if (rc) {
        weft_socket_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weft_tcp_connect(weft_socket **s, const char *host, uint16_t port, int64_t timeout)
{
    if (!s || !host || (timeout < 0 && timeout != WEFT_FOREVER)) return -EINVAL;
    int64_t deadline;
    weft__deadline(timeout, &deadline);
    weft_addr as[MAX_ADDRS];
    int n = weft_resolve(host, port, AF_UNSPEC, SOCK_STREAM, as, MAX_ADDRS, timeout);
    if (n < 0) return n;
    int rc = -ENOENT;
    for (int i = 0; i < n; i++) {
        rc = connect_to(s, &as[i], weft__remaining(deadline));
        /* The next address is worth a try unless time or the caller says stop. */
        if (rc == 0 || rc == -ETIMEDOUT || rc == -ECANCELED) break;
    }
    return rc;
}

int weft_unix_listen(weft_socket **s, const char *path, int backlog)
{
    if (!s) return -EINVAL;
    weft_addr a;
    int rc = weft_addr_unix(&a, path);
    return rc ? rc : listen_on(s, &a, SOCK_STREAM, backlog);
}

int weft_unix_connect(weft_socket **s, const char *path, int64_t timeout)
{
    if (!s || (timeout < 0 && timeout != WEFT_FOREVER)) return -EINVAL;
    weft_addr a;
    int rc = weft_addr_unix(&a, path);
    return rc ? rc : connect_to(s, &a, timeout);
}

int weft_udp_open(weft_socket **s, const char *host, uint16_t port)
{
    if (!s) return -EINVAL;
    weft_addr a;
    int rc = weft_addr_ip(&a, host, port);
    return rc ? rc : listen_on(s, &a, SOCK_DGRAM, 0);
}
