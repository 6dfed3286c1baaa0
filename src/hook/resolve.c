/* hook/resolve.c — name resolution in a coroutine: getaddrinfo, getnameinfo and the
 * gethostbyname family run on a pool of their own (`weft-hook-dns`, up to 8 threads,
 * made on first use), while the coroutine waits for the answer.
 *
 * glibc's resolver makes its own system calls internally (they cannot be hooked), so a
 * lookup in a coroutine would block the thread for as long as the DNS server takes; on a
 * pool thread it blocks only that thread. The calls follow weft's hand-off rule: a
 * coroutine already cancelled (or past a scope's deadline) makes no lookup and gets
 * EAI_SYSTEM with errno ECANCELED (ETIMEDOUT); one cancelled while the lookup runs waits
 * for it (the lookup writes into the caller's memory) and gets its answer.
 * gethostbyname and gethostbyname2 run as gethostbyname2_r into a buffer of the call's
 * own; the caller's thread keeps the last one (freed by its next call), so the pointer it
 * returns stays valid until the calling thread's next gethostbyname, as glibc's static
 * buffer does in a program without threads — other coroutines' lookups meanwhile do not
 * overwrite it. h_errno is carried back to the caller's thread. A forked child forgets
 * the parent's pool (its threads do not exist there) and makes its own.
 */
#include "hook/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static _Atomic(weft_pool *) dns_pool;

/* In a forked child the pool's workers do not exist: forget it (its memory is lost). */
static void forget_pool_in_child(void)
{
    atomic_store_explicit(&dns_pool, NULL, memory_order_relaxed);
}

__attribute__((constructor)) static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_pool_in_child);
}

/* The pool, made by the first caller (a losing racer destroys its own). */
static weft_pool *pool(void)
{
    weft_pool *p = atomic_load_explicit(&dns_pool, memory_order_acquire);
    if (p) return p;
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.max_workers = 8;
    o.name_prefix = "weft-hook-dns";
    if (weft_pool_create_ex(&p, &o)) return NULL;
    weft_pool *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&dns_pool, &none, p, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        weft_pool_destroy(p);
        p = none;
    }
    return p;
}

enum call { GAI, GNI, GHBN2_R };

struct lookup {
    enum call call;
    int ret, err, herr;            /* the call's answer, errno, h_errno */
    const char *name, *service;
    const struct addrinfo *hints;
    struct addrinfo **res;
    const struct sockaddr *sa;
    socklen_t salen, hostlen, servlen;
    char *host, *serv;
    int flags, af;
    struct hostent *he, **result;
    char *buf;
    size_t buflen;
    int *h_errnop;
};

/* Runs on a pool thread (not a coroutine: the calls below are libc's). */
static int run(void *arg, void **result)
{
    (void)result;
    struct lookup *l = arg;
    errno = 0;
    switch (l->call) {
    case GAI: l->ret = REAL(getaddrinfo)(l->name, l->service, l->hints, l->res); break;
    case GNI: l->ret = REAL(getnameinfo)(l->sa, l->salen, l->host, l->hostlen, l->serv,
                                         l->servlen, l->flags); break;
    case GHBN2_R: l->ret = REAL(gethostbyname2_r)(l->name, l->af, l->he, l->buf, l->buflen,
                                                  l->result, l->h_errnop); break;
    }
    l->err = errno;
    l->herr = h_errno;
    return 0;
}

/* Runs l on the pool and waits; 0, or weft's error (the lookup did not run). A compact
 * coroutine cannot lend l (on its stack) to a pool thread: it makes the call itself,
 * blocking its thread as an unhooked call would (on its run stack: WEFT_STACK_DEFAULT
 * bytes, as a plain coroutine's), unless it is cancelled already or a deadline scope has
 * expired (-ECANCELED, -ETIMEDOUT: what the hand-off's wait would have said at once). */
static int offload(struct lookup *l)
{
    if (weft_in_compact_coroutine()) {
        /* A wait of 1 ns makes both checks, as every blocking call does (this library sees
         * only libweft's public API); once the lookup runs, nothing cuts it short. A cancel
         * already known (also one posted from another thread) skips the park. */
        if (weft_cancelled()) return -ECANCELED;
        int rc = weft_sleep(1);
        if (rc) return rc;
        run(l, NULL);
        errno = l->err;
        h_errno = l->herr;
        return 0;
    }
    weft_pool *p = pool();
    if (!p) return -ENOMEM;
    int rc = weft_run_in_executor(p, run, l, NULL);
    if (rc) return rc;
    errno = l->err;
    h_errno = l->herr;
    return 0;
}

HOOK_EXPORT int getaddrinfo(const char *name, const char *service,
                            const struct addrinfo *hints, struct addrinfo **res)
{
    if (!hook__active()) return REAL(getaddrinfo)(name, service, hints, res);
    struct lookup l = { .call = GAI, .name = name, .service = service, .hints = hints,
                        .res = res };
    int rc = offload(&l);
    if (rc) { errno = -rc; return EAI_SYSTEM; }
    return l.ret;
}

HOOK_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                            socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
    if (!hook__active()) return REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
    struct lookup l = { .call = GNI, .sa = sa, .salen = salen, .host = host,
                        .hostlen = hostlen, .serv = serv, .servlen = servlen, .flags = flags };
    int rc = offload(&l);
    if (rc) { errno = -rc; return EAI_SYSTEM; }
    return l.ret;
}

/* The last gethostbyname result of this thread: a hostent and its buffer, one block. */
struct host_block {
    struct hostent he;
    size_t size;
    char buf[];
};
static __thread struct host_block *last_host;

static void free_last_host(void)
{
    free(last_host);
    last_host = NULL;
}

/* gethostbyname2 for a coroutine: gethostbyname2_r on the pool into a block of the call's
 * own, grown on ERANGE; the thread keeps it until its next call. */
static struct hostent *by_name(const char *name, int af)
{
    for (size_t size = 1024; size <= (1u << 20); size *= 4) {
        struct host_block *b = malloc(sizeof *b + size);
        if (!b) { h_errno = NETDB_INTERNAL; errno = ENOMEM; return NULL; }
        b->size = size;
        struct hostent *result = NULL;
        int herr = 0;
        struct lookup l = { .call = GHBN2_R, .name = name, .af = af, .he = &b->he,
                            .buf = b->buf, .buflen = size, .result = &result,
                            .h_errnop = &herr };
        int rc = offload(&l);
        if (rc) { free(b); errno = -rc; h_errno = NO_RECOVERY; return NULL; }
        if (l.ret == ERANGE) { free(b); continue; }
        if (!result) { free(b); h_errno = herr; return NULL; }
        free_last_host();
        last_host = b;
        return &b->he;
    }
    h_errno = NETDB_INTERNAL;
    errno = ERANGE;
    return NULL;
}

HOOK_EXPORT struct hostent *gethostbyname(const char *name)
{
    if (!hook__active()) return REAL(gethostbyname)(name);
    return by_name(name, AF_INET);
}

HOOK_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
    if (!hook__active()) return REAL(gethostbyname2)(name, af);
    return by_name(name, af);
}

/* gethostbyname_r and gethostbyname2_r in a coroutine: gethostbyname2_r on the pool. A
 * lookup that did not run (cancelled, past a deadline, no pool) says NO_RECOVERY, not
 * TRY_AGAIN: the usual `while (... h_errno == TRY_AGAIN)` would spin in a cancelled
 * coroutine. */
static int by_name_r(const char *name, int af, struct hostent *he, char *buf, size_t buflen,
                     struct hostent **result, int *h_errnop)
{
    struct lookup l = { .call = GHBN2_R, .name = name, .af = af, .he = he, .buf = buf,
                        .buflen = buflen, .result = result, .h_errnop = h_errnop };
    int rc = offload(&l);
    if (rc) {
        if (result) *result = NULL;
        if (h_errnop) *h_errnop = NO_RECOVERY;
        return -rc;
    }
    return l.ret;
}

HOOK_EXPORT int gethostbyname_r(const char *name, struct hostent *he, char *buf,
                                size_t buflen, struct hostent **result, int *h_errnop)
{
    if (!hook__active()) return REAL(gethostbyname_r)(name, he, buf, buflen, result, h_errnop);
    return by_name_r(name, AF_INET, he, buf, buflen, result, h_errnop);
}

HOOK_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *he, char *buf,
                                 size_t buflen, struct hostent **result, int *h_errnop)
{
    if (!hook__active())
        return REAL(gethostbyname2_r)(name, af, he, buf, buflen, result, h_errnop);
    return by_name_r(name, af, he, buf, buflen, result, h_errnop);
}
