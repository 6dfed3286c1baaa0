/* dist/util.c — buffers, Redis URLs and blocking socket helpers for libweft_dist. */
#include "dist/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int dbuf_append(dbuf *b, const void *data, size_t n)
{
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off) {                             /* slide the pending bytes down */
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n) cap *= 2;
            char *p = realloc(b->p, cap);
            if (!p) return -ENOMEM;
            b->p = p;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* ---- URLs ----------------------------------------------------------------------------------- */

static char *dup_range(const char *a, const char *b)
{
    char *s = malloc((size_t)(b - a) + 1);
    if (s) {
        memcpy(s, a, (size_t)(b - a));
        s[b - a] = 0;
    }
    return s;
}

static int parse_db(const char *s, int *db)
{
    char *end;
    if (*s < '0' || *s > '9') return -EINVAL;    /* no sign, no space */
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v > 1000000) return -EINVAL;
    *db = (int)v;
    return 0;
}

void dist_url_free(dist_url *u)
{
    free(u->host);
    free(u->path);
    free(u->user);
    if (u->password) {
        /* Not left in freed memory for a later allocation (or a core dump) to show. */
        explicit_bzero(u->password, strlen(u->password));
        free(u->password);
    }
    memset(u, 0, sizeof *u);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The bytes [a, b) percent-decoded into a new string (a user name or password may hold
 * any byte but NUL, '@', ':' and '/' only written as %40, %3A, %2F): 0, -EINVAL (a '%' not
 * followed by two hex digits, %00, a control character or a space), -ENOMEM. */
static int decode_range(const char *a, const char *b, char **out)
{
    char *s = malloc((size_t)(b - a) + 1), *d = s;
    if (!s) return -ENOMEM;
    for (const char *p = a; p < b; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '%') {
            if (b - p < 3) goto bad;
            int hi = hexval(p[1]), lo = hexval(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) goto bad;
            *d++ = (char)(hi * 16 + lo);
            p += 2;
        } else if (ch <= ' ' || ch == 0x7f) {
            goto bad;
        } else {
            *d++ = (char)ch;
        }
    }
    *d = 0;
    *out = s;
    return 0;
bad:
    explicit_bzero(s, (size_t)(b - a) + 1);
    free(s);
    return -EINVAL;
}

/* "[user]:password@" at [p, at): user and password decoded. 0, -EINVAL, -ENOMEM. */
static int parse_userinfo(dist_url *u, const char *p, const char *at)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) return -EINVAL;                   /* AUTH needs a password */
    int rc = 0;
    if (colon > p) rc = decode_range(p, colon, &u->user);
    if (!rc) rc = decode_range(colon + 1, at, &u->password);
    if (!rc && (!*u->password || (u->user && !*u->user))) rc = -EINVAL;
    return rc;
}

/* Any character a URL may not hold here: a control character, a space, DEL. */
static bool has_junk(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) return true;
    return false;
}

int dist_url_parse(dist_url *u, const char *url)
{
    memset(u, 0, sizeof *u);
    int rc = -EINVAL;
    if (strlen(url) > 4096 || has_junk(url)) return -EINVAL;
    if (strncmp(url, "unix://", 7) == 0) {
        /* unix://[[user]:password@]/path[?db=N] */
        const char *p = url + 7;
        if (*p != '/') {
            const char *at = strchr(p, '@');
            if (!at || at[1] != '/') return -EINVAL;
            if ((rc = parse_userinfo(u, p, at)) != 0) goto fail;
            p = at + 1;
        }
        const char *q = strchr(p, '?');
        if (!*p || *p != '/' || (q && q == p + 1)) goto bad;
        u->path = q ? dup_range(p, q) : strdup(p);
        if (!u->path) goto nomem;
        if (strlen(u->path) >= 108) goto bad;    /* sun_path's size */
        if (q && (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, &u->db) != 0)) goto bad;
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) return -EINVAL;
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *at = memchr(p, '@', (size_t)((slash ? slash : p + strlen(p)) - p));
    if (at) {                                     /* [user]:password@ */
        /* The last '@' before the path: a password's own '@' should be %40, but one
         * written plainly is still the password's. */
        for (const char *x = at + 1; x < (slash ? slash : p + strlen(p)); x++)
            if (*x == '@') at = x;
        if ((rc = parse_userinfo(u, p, at)) != 0) goto fail;
        p = at + 1;
    }
    const char *end = slash ? slash : p + strlen(p);
    const char *host_end = end;
    u->port = 6379;
    if (*p == '[') {                              /* [IPv6]:port */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close) goto bad;
        if (!(u->host = dup_range(p + 1, close))) goto nomem;
        host_end = close + 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon) host_end = colon;
        if (!(u->host = dup_range(p, host_end))) goto nomem;
    }
    if (!*u->host || strchr(u->host, '%') || strchr(u->host, '?')) goto bad;
    if (host_end < end) {
        if (*host_end != ':' || host_end + 1 == end) goto bad;
        char *e;
        long port = strtol(host_end + 1, &e, 10);
        if (e != end || port <= 0 || port > 65535 || host_end[1] == '+' || host_end[1] == '-')
            goto bad;
        u->port = (uint16_t)port;
    }
    if (slash && slash[1] && parse_db(slash + 1, &u->db) != 0) goto bad;
    return 0;
bad:
    rc = -EINVAL;
fail:
    dist_url_free(u);
    return rc;
nomem:
    dist_url_free(u);
    return -ENOMEM;
}

/* ---- sockets ---------------------------------------------------------------------------------- */

int dist_connect(const dist_url *u, int64_t timeout, int *out)
{
    weft_socket *s;
    int rc = u->path ? weft_unix_connect(&s, u->path, timeout)
                     : weft_tcp_connect(&s, u->host, u->port, timeout);
    if (rc) return rc;
    /* The I/O thread polls the descriptor itself: a copy of its own, the weft socket
     * closed (it may be registered with the calling coroutine's loop). */
    int fd = fcntl(weft_socket_fd(s), F_DUPFD_CLOEXEC, 3);
    rc = fd < 0 ? -errno : 0;
    weft_socket_close(s);
    if (rc) return rc;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    *out = fd;
    return 0;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - weft_now();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd pf = { fd, events, 0 };
        int ms = (int)((left + WEFT_MS - 1) / WEFT_MS);
        int k = poll(&pf, 1, ms);
        if (k > 0) return 0;
        if (k < 0 && errno != EINTR) return -errno;
    }
}

int dist_write_all(int fd, const void *p, size_t n, int64_t timeout)
{
    int64_t deadline = weft_now() + timeout;
    const char *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            b += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc) return rc;
            continue;
        }
        return -errno;
    }
    return 0;
}

ssize_t dist_read_some(int fd, void *p, size_t n, int64_t deadline)
{
    for (;;) {
        ssize_t k = recv(fd, p, n, MSG_DONTWAIT);
        if (k >= 0) return k;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc) return rc;
    }
}
