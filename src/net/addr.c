/* net/addr.c — socket addresses, and name resolution on weft's resolver threads.
 *
 * getaddrinfo blocks for as long as the DNS server takes, so it never runs on a loop: it
 * runs on a pool of its own ("weft-dns", created on first use), apart from the file-I/O
 * pool (file.c) and the user's pools, so a slow DNS server holds up nothing else. A caller
 * that stops waiting (timeout, cancellation) leaves the lookup to finish alone: the job
 * and the caller share the lookup's record, and whichever lets go last frees it (with its
 * answer). The job's share is held by its future's done-callback, embedded in the record:
 * adding it cannot fail, so the record can never lose the job's share while the job may
 * still write into it (issue 20 bug 2: a callback that could not be allocated dropped it).
 * The hand-off rule (pool/internal.h): a caller already cancelled or past a deadline scope
 * makes no lookup; a lookup that ended as the wait was cut is reported as it ended.
 */
#include "net/internal.h"
#include "pool/internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int weft_addr_ip(weft_addr *a, const char *ip, uint16_t port)
{
    if (!a) return -EINVAL;
    memset(a, 0, sizeof *a);
    if (!ip || !*ip) ip = "0.0.0.0";
    if (inet_pton(AF_INET, ip, &a->u.in4.sin_addr) == 1) {
        a->u.in4.sin_family = AF_INET;
        a->u.in4.sin_port = htons(port);
        a->len = sizeof a->u.in4;
        return 0;
    }
    /* IPv6, optionally in brackets, optionally with a %scope. */
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4];
    size_t n = strlen(ip);
    if (n >= sizeof buf) return -EINVAL;
    if (ip[0] == '[') {
        if (n < 2 || ip[n - 1] != ']') return -EINVAL;
        memcpy(buf, ip + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, ip, n + 1);
    }
    char *scope = strchr(buf, '%');
    if (scope) *scope++ = '\0';
    if (inet_pton(AF_INET6, buf, &a->u.in6.sin6_addr) != 1) return -EINVAL;
    if (scope) {
        unsigned idx = if_nametoindex(scope);
        if (!idx) {
            char *end;
            unsigned long v = strtoul(scope, &end, 10);
            if (!*scope || *end || v > UINT32_MAX) return -EINVAL;
            idx = (unsigned)v;
        }
        a->u.in6.sin6_scope_id = idx;
    }
    a->u.in6.sin6_family = AF_INET6;
    a->u.in6.sin6_port = htons(port);
    a->len = sizeof a->u.in6;
    return 0;
}

int weft_addr_unix(weft_addr *a, const char *path)
{
    if (!a || !path || !*path) return -EINVAL;
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    if (n >= sizeof a->u.un.sun_path) return -ENAMETOOLONG;
    a->u.un.sun_family = AF_UNIX;
    memcpy(a->u.un.sun_path, path, n);
    if (path[0] == '@') {                       /* abstract: a leading NUL, no terminator */
        a->u.un.sun_path[0] = '\0';
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int weft_addr_format(const weft_addr *a, char *buf, size_t size)
{
    if (!a || (!buf && size)) return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    switch (a->u.sa.sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof ip);
        return snprintf(buf, size, "%s:%u", ip, ntohs(a->u.in4.sin_port));
    case AF_INET6:
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip);
        return snprintf(buf, size, "[%s]:%u", ip, ntohs(a->u.in6.sin6_port));
    case AF_UNIX: {
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = a->len > off ? a->len - off : 0;
        if (n == 0) return snprintf(buf, size, "unix:");
        if (a->u.un.sun_path[0] == '\0')
            return snprintf(buf, size, "unix:@%.*s", (int)(n - 1), a->u.un.sun_path + 1);
        return snprintf(buf, size, "unix:%.*s", (int)strnlen(a->u.un.sun_path, n),
                        a->u.un.sun_path);
    }
    default:
        return -EINVAL;
    }
}

uint16_t weft_addr_port(const weft_addr *a)
{
    if (!a) return 0;
    if (a->u.sa.sa_family == AF_INET) return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6) return ntohs(a->u.in6.sin6_port);
    return 0;
}

/* ---- resolution ------------------------------------------------------------------------- */

static weft_pool *_Atomic dns_pool;

/* The resolver pool, made on first use (NULL: not now). */
static weft_pool *dns_pool_get(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 8;          /* lookups mostly wait on the network, not the CPU */
    o.name_prefix = "weft-dns";
    return weft__lazy_pool(&dns_pool, &o);
}

typedef struct lookup {
    _Atomic int refs;           /* the job's done-callback (`done`) + the caller */
    weft__cb done;              /* on the job's future: runs when it completes, whether the
                                   job ran or was cancelled before it started */
    char *host;                 /* copied: the caller may be gone when the job runs */
    char service[8];
    struct addrinfo hints;
    struct addrinfo *res;
    int gai;                    /* getaddrinfo's result */
    int sys_errno;
} lookup;

static void lookup_put(lookup *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1) return;
    if (k->res) freeaddrinfo(k->res);
    weft__free(k->host);
    weft__free(k);
}

static int lookup_job(void *arg, void **result)
{
    (void)result;
    lookup *k = arg;
    k->gai = getaddrinfo(k->host, k->service, &k->hints, &k->res);
    k->sys_errno = errno;
    return 0;
}

/* Runs when the job's future completes, whether the job ran or was cancelled first. */
static void lookup_done(weft_future *f, void *arg)
{
    (void)f;
    lookup_put(arg);
}

static int lookup_error(const lookup *k)
{
    switch (k->gai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return -ENOENT;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SYSTEM: return k->sys_errno ? -k->sys_errno : -EIO;
    case EAI_FAMILY: case EAI_SOCKTYPE: case EAI_SERVICE: case EAI_BADFLAGS: return -EINVAL;
    default: return -EIO;
    }
}

int weft_resolve(const char *host, uint16_t port, int family, int socktype, weft_addr *out,
                 size_t max, int64_t timeout)
{
    if (!out || max == 0 || (timeout < 0 && timeout != WEFT_FOREVER) ||
        (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) ||
        (socktype != SOCK_STREAM && socktype != SOCK_DGRAM))
        return -EINVAL;
    /* A numeric address needs no lookup (and no thread); one of the other family is left
     * to getaddrinfo, which refuses it. */
    if (host && *host && weft_addr_ip(out, host, port) == 0 &&
        (family == AF_UNSPEC || out->u.sa.sa_family == family))
        return 1;
    /* A lookup nobody would wait for is not made (the hand-off rule). */
    int rc = weft__handoff_check();
    if (rc) return rc;
    if (timeout == 0) return -ETIMEDOUT;
    weft_pool *pool = dns_pool_get();
    if (!pool) return -ENOMEM;
    lookup *k = weft__calloc(1, sizeof *k);
    if (!k) return -ENOMEM;
    if (host && !(k->host = weft__strdup(host))) { weft__free(k); return -ENOMEM; }
    snprintf(k->service, sizeof k->service, "%u", port);
    k->hints.ai_family = family;
    k->hints.ai_socktype = socktype;
    k->hints.ai_flags = AI_NUMERICSERV | (host ? AI_ADDRCONFIG : AI_PASSIVE);
    atomic_init(&k->refs, 2);
    k->done.fn = lookup_done;
    k->done.arg = k;
    weft_future *f;
    rc = weft_pool_submit(pool, &f, lookup_job, k);
    if (rc) { weft__free(k->host); weft__free(k); return rc; }
    weft__future_add_cb(f, &k->done);   /* never fails; done already: runs here and now */
    rc = weft_future_result(f, timeout, NULL);
    if (weft_future_done(f))
        rc = weft__future_take(f, NULL); /* ended, maybe just as the wait was cut: it counts */
    else
        weft_future_cancel(f);          /* not started: it never will; else it finishes alone */
    weft_future_release(f);
    int n = 0;
    if (rc == 0 && k->gai) rc = lookup_error(k);
    if (rc == 0) {
        for (struct addrinfo *ai = k->res; ai && (size_t)n < max; ai = ai->ai_next) {
            if (ai->ai_addrlen > sizeof out[n].u) continue;
            memset(&out[n], 0, sizeof out[n]);
            memcpy(&out[n].u, ai->ai_addr, ai->ai_addrlen);
            out[n].len = ai->ai_addrlen;
            n++;
        }
        if (n == 0) rc = -ENOENT;
    }
    lookup_put(k);
    return rc ? rc : n;
}
