/* dist/redis.c — a pipelined Redis connection with an I/O thread (weft/redis.h).
 *
 * Callers format a command (hiredis's formatting), put it on the connection's queue and
 * get a future (weft_future_create_hooked). The I/O thread owns the socket: it moves
 * queued commands to its output buffer and its list of commands in flight, writes, reads
 * into hiredis's reader — whose reply objects are built directly as weft_redis_reply
 * (custom reply functions) — and completes the oldest command in flight with each reply.
 * When the connection breaks, the commands in flight fail with -ECONNRESET and the queued
 * ones wait for the next connection, made with back-off (10 ms doubling to max_backoff).
 *
 * Uses weft's public API only (libweft_dist is a separate library over libweft).
 *
 * Locking: `mu` guards the queue, `closing`, `sleeping`/`woken` and each command's `state`
 * while queued; the socket, the buffers, the reader and the in-flight list belong to the
 * I/O thread alone. A command's memory is its future's: the future's free hook frees it
 * (the I/O thread holds one reference to the future until it completes it).
 */
#include "dist/internal.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { QUEUED, IN_FLIGHT, DONE };

typedef struct rcmd {
    dlist link;                      /* the queue (mu) or the in-flight list (I/O thread) */
    weft_future *fut;
    weft_redis *conn;
    int state;                       /* mu while QUEUED */
    bool taken;                      /* the reply was handed to a caller (weft_redis_call) */
    weft_redis_reply *reply;         /* the result, freed with the future unless taken */
    int64_t deadline;                /* not written by then: -ETIMEDOUT */
    char *cmd;                       /* the formatted command (hiredis's allocation) */
    size_t len;
    dist_reply_cb cb;                /* dist_redis_send_cb's: told the outcome, or NULL */
    void *cb_arg;
} rcmd;

struct weft_redis {
    pthread_mutex_t mu;
    dlist queue;                     /* rcmd.link, QUEUED, in order */
    bool closing;
    bool sleeping, woken;            /* the I/O thread in poll; an eventfd write pending */
    int evfd;
    weft_thread *io;
    _Atomic bool connected;
    weft_redis_opts o;
    dist_url url;
    /* the I/O thread's */
    int fd;
    redisReader *reader;
    dbuf out;
    dlist inflight;                  /* rcmd.link, oldest first */
    int64_t backoff;
    size_t reply_bytes;              /* what the reply being read has taken so far */
    bool too_big;                    /* it passed o.max_reply: the connection goes */
    weft_event *started;             /* set after the first connection attempt */
    int start_rc;
    char **init;                     /* dist_redis_add_init's commands (mu), formatted */
    size_t *init_len;
    int ninit;
};

/* ---- replies: hiredis's reader builds weft_redis_reply objects ---------------------------- */

/* Counts n more bytes against the connection's max_reply (the reader's privdata is the
 * connection): false once the reply being read would pass it. A reply from the server
 * can otherwise ask for any amount: "*2000000000\r\n" is 14 bytes and an array of 16 GB
 * of pointers, and a stream entry anyone with write access made huge comes back whole. */
static bool charge(const redisReadTask *task, size_t n)
{
    weft_redis *c = task->privdata;
    if (!c) return true;
    if (n > c->o.max_reply || c->reply_bytes > c->o.max_reply - n) {
        c->too_big = true;
        return false;
    }
    c->reply_bytes += n;
    return true;
}

static weft_redis_reply *new_reply(const redisReadTask *task, int type)
{
    if (!charge(task, sizeof(weft_redis_reply))) return NULL;
    weft_redis_reply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = type;
    if (task->parent) {
        weft_redis_reply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    if (!charge(task, len + 1)) return NULL;
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    weft_redis_reply *r = new_reply(task, task->type);
    if (!r) {
        free(copy);
        return NULL;
    }
    memcpy(copy, str, len);
    copy[len] = 0;
    r->str = copy;
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    weft_redis_reply **el = NULL;
    if (elements > 0 && !charge(task, (size_t)elements * sizeof *el)) return NULL;
    if (elements > 0 && !(el = calloc((size_t)elements, sizeof *el))) return NULL;
    weft_redis_reply *r = new_reply(task, WEFT_REDIS_ARRAY);
    if (!r) {
        free(el);
        return NULL;
    }
    r->element = el;
    r->elements = elements > 0 ? (size_t)elements : 0;
    return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    weft_redis_reply *r = new_reply(task, WEFT_REDIS_INTEGER);
    if (r) r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    return new_reply(task, WEFT_REDIS_NIL);
}

void weft_redis_reply_free(weft_redis_reply *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->elements; i++) weft_redis_reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

static void free_object(void *r)
{
    weft_redis_reply_free(r);
}

static redisReplyObjectFunctions reply_functions = {
    create_string, create_array, create_integer, create_nil, free_object,
};

int dist_reply_parse(const char *buf, size_t n, size_t max_reply, weft_redis_reply **out)
{
    *out = NULL;
    weft_redis fake;                             /* only what charge() reads */
    memset(&fake, 0, sizeof fake);
    fake.o.max_reply = max_reply;
    redisReader *rd = redisReaderCreateWithFunctions(&reply_functions);
    if (!rd) return -ENOMEM;
    rd->privdata = &fake;
    int rc = -EAGAIN;
    void *r = NULL;
    if (redisReaderFeed(rd, buf, n) != REDIS_OK) {
        rc = -ENOMEM;
    } else if (redisReaderGetReply(rd, &r) != REDIS_OK) {
        rc = fake.too_big ? -EMSGSIZE : rd->err == REDIS_ERR_OOM ? -ENOMEM : -EPROTO;
    } else if (r) {
        *out = r;
        rc = 0;
    } else if (rd->len - rd->pos > max_reply) {
        rc = -EMSGSIZE;
    }
    redisReaderFree(rd);
    return rc;
}

/* ---- commands' futures --------------------------------------------------------------------- */

static void wake(weft_redis *c)                  /* with mu held */
{
    if (c->sleeping && !c->woken) {
        c->woken = true;
        uint64_t one = 1;
        ssize_t n = write(c->evfd, &one, sizeof one);
        (void)n;
    }
}

/* weft_future_cancel: a command still queued is dropped (-ECANCELED, never sent); one
 * written to the server cannot be called back (-EBUSY). Any context; never blocks. */
static int cmd_cancel(weft_future *f, void *arg)
{
    rcmd *c = arg;
    weft_redis *conn = c->conn;
    pthread_mutex_lock(&conn->mu);
    if (c->state != QUEUED) {
        pthread_mutex_unlock(&conn->mu);
        return -EBUSY;
    }
    dlist_unlink(&c->link);
    c->state = DONE;
    pthread_mutex_unlock(&conn->mu);
    weft_future_set_error(f, -ECANCELED);
    weft_future_release(f);                      /* the I/O thread's reference */
    return 0;
}

static void cmd_free(void *result, void *arg)
{
    (void)result;
    rcmd *c = arg;
    if (!c->taken) weft_redis_reply_free(c->reply);
    redisFreeCommand(c->cmd);
    free(c);
}

static const weft_future_hooks cmd_hooks = { cmd_cancel, cmd_free };

/* Completes c (I/O thread or closer; c has left every list), then tells its callback. */
static void cmd_finish(rcmd *c, int err, weft_redis_reply *reply)
{
    c->state = DONE;
    if (err) {
        weft_redis_reply_free(reply);
        reply = NULL;
        weft_future_set_error(c->fut, err);
    } else {
        c->reply = reply;
        weft_future_set_result(c->fut, reply);
    }
    if (c->cb) {
        /* Nobody else reads these futures: collected here, not reported as unread. */
        (void)weft_future_result(c->fut, 0, NULL);
        c->cb(c->cb_arg, err, reply);           /* the reply lives as long as the future */
    }
    weft_future_release(c->fut);
}

/* ---- the I/O thread ------------------------------------------------------------------------ */

static void disconnect(weft_redis *c, int err)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    atomic_store(&c->connected, false);
    redisReaderFree(c->reader);
    c->reader = NULL;
    c->out.len = c->out.off = 0;
    while (!dlist_empty(&c->inflight)) {
        rcmd *x = dlist_entry(dlist_pop_front(&c->inflight), rcmd, link);
        cmd_finish(x, err, NULL);
    }
}

/* One blocking round trip of a formatted command on a fresh connection: 0, or an error. */
static int handshake_raw(weft_redis *c, const char *cmd, size_t n)
{
    int rc = dist_write_all(c->fd, cmd, n, c->o.connect_timeout);
    if (rc) return rc;
    int64_t deadline = weft_now() + c->o.connect_timeout;
    for (;;) {
        void *r = NULL;
        /* A reply passing max_reply breaks the reader (charge): say so, not -EPROTO. */
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
            return c->too_big ? -EMSGSIZE : -EPROTO;
        if (r) {
            weft_redis_reply *reply = r;
            c->reply_bytes = 0;                  /* max_reply is per reply */
            rc = reply->type == WEFT_REDIS_ERROR ? WEFT_EREDIS : 0;
            weft_redis_reply_free(reply);
            return rc;
        }
        /* Bytes of a reply not yet whole count against max_reply too (the read path's
         * rule): a server answering AUTH with an endless string is refused, not buffered. */
        if (c->reader->len - c->reader->pos > c->o.max_reply) return -EMSGSIZE;
        char buf[4096];
        ssize_t k = dist_read_some(c->fd, buf, sizeof buf, deadline);
        if (k < 0) return (int)k;
        if (k == 0) return -ECONNRESET;
        if (redisReaderFeed(c->reader, buf, (size_t)k) != REDIS_OK) return -ENOMEM;
    }
}

/* handshake_raw for an argument vector (AUTH, SELECT). */
static int handshake_call(weft_redis *c, int argc, const char **argv)
{
    char *cmd;
    int n = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (n < 0) return -ENOMEM;
    int rc = handshake_raw(c, cmd, (size_t)n);
    explicit_bzero(cmd, (size_t)n);              /* AUTH's password */
    redisFreeCommand(cmd);
    return rc;
}

/* A new connection, with AUTH and SELECT: 0 or an error. Any context (blocks). */
static int connect_once(weft_redis *c)
{
    int fd;
    int rc = dist_connect(&c->url, c->o.connect_timeout, &fd);
    if (rc) return rc;
    c->fd = fd;
    c->reader = redisReaderCreateWithFunctions(&reply_functions);
    if (!c->reader) rc = -ENOMEM;
    else c->reader->privdata = c;                /* charge()'s: max_reply */
    c->reply_bytes = 0;
    c->too_big = false;
    if (!rc && c->url.password) {
        const char *argv[3] = { "AUTH", c->url.user ? c->url.user : c->url.password,
                                c->url.password };
        rc = handshake_call(c, c->url.user ? 3 : 2, argv);
    }
    if (!rc && c->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->url.db);
        const char *argv[2] = { "SELECT", db };
        rc = handshake_call(c, 2, argv);
    }
    /* The init commands, copied under mu and sent without it (mu is the submitters'
     * lock: they must not wait for a handshake). The commands themselves never change. */
    pthread_mutex_lock(&c->mu);
    int ninit = c->ninit;
    char **init = ninit ? malloc((size_t)ninit * sizeof *init) : NULL;
    size_t *init_len = ninit ? malloc((size_t)ninit * sizeof *init_len) : NULL;
    if (init && init_len) {
        memcpy(init, c->init, (size_t)ninit * sizeof *init);
        memcpy(init_len, c->init_len, (size_t)ninit * sizeof *init_len);
    } else if (ninit) {
        rc = rc ? rc : -ENOMEM;
    }
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; !rc && i < ninit; i++) rc = handshake_raw(c, init[i], init_len[i]);
    free(init);
    free(init_len);
    if (rc) {
        disconnect(c, -ECONNRESET);
        return rc;
    }
    atomic_store(&c->connected, true);
    c->backoff = 0;
    return 0;
}

/* A reply passed max_reply: the command waiting for it fails with -EMSGSIZE (the
 * connection's reader is broken: it goes, and the commands behind get -ECONNRESET).
 * Returns false (the connection must go). */
static bool fail_too_big(weft_redis *c)
{
    if (c->too_big && !dlist_empty(&c->inflight)) {
        rcmd *x = dlist_entry(dlist_pop_front(&c->inflight), rcmd, link);
        cmd_finish(x, -EMSGSIZE, NULL);
    }
    return false;
}

/* Feeds what the server sent to the reader and completes commands: false if the
 * connection must go (end of file, an error, a reply nobody asked for). */
static bool read_replies(weft_redis *c)
{
    char buf[65536];
    for (;;) {
        ssize_t k = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        if (k <= 0) return false;
        if (redisReaderFeed(c->reader, buf, (size_t)k) != REDIS_OK) return false;
        for (;;) {
            void *r = NULL;
            if (redisReaderGetReply(c->reader, &r) != REDIS_OK) return fail_too_big(c);
            /* hiredis keeps a bulk string's bytes until all have come: counted here
             * (what it has buffered and not parsed) before they pile up. */
            if (!r && c->reader->len - c->reader->pos > c->o.max_reply) {
                c->too_big = true;
                return fail_too_big(c);
            }
            if (!r) break;
            c->reply_bytes = 0;
            if (dlist_empty(&c->inflight)) {
                weft_redis_reply_free(r);
                return false;
            }
            rcmd *x = dlist_entry(dlist_pop_front(&c->inflight), rcmd, link);
            cmd_finish(x, 0, r);
        }
        if ((size_t)k < sizeof buf) return true;
    }
}

static bool write_out(weft_redis *c)
{
    while (c->out.off < c->out.len) {
        ssize_t k = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            c->out.off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;
    }
    c->out.off = c->out.len = 0;
    return true;
}

/* With mu held: fails the queued commands whose deadline has passed (moved to `out`). */
static int64_t expire_locked(weft_redis *c, int64_t now, dlist *out)
{
    int64_t next = INT64_MAX;
    for (dlist *l = c->queue.next; l != &c->queue;) {
        rcmd *x = dlist_entry(l, rcmd, link);
        l = l->next;
        if (x->deadline <= now) {
            dlist_unlink(&x->link);
            x->state = DONE;
            dlist_push_back(out, &x->link);
        } else if (x->deadline < next) {
            next = x->deadline;
        }
    }
    return next;
}

static int io_main(void *arg, void **result)
{
    (void)result;
    weft_redis *c = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);      /* signals are the program's threads' */
    c->start_rc = connect_once(c);               /* a server that is down: said at once */
    weft_event_set(c->started);
    if (c->start_rc) return 0;
    int64_t retry_at = 0;
    for (;;) {
        int64_t now = weft_now();
        if (c->fd < 0 && now >= retry_at) {
            if (connect_once(c) != 0) {
                c->backoff = c->backoff ? c->backoff * 2 : 10 * WEFT_MS;
                if (c->backoff > c->o.max_backoff) c->backoff = c->o.max_backoff;
                retry_at = weft_now() + c->backoff;
            }
        }
        dlist expired;
        dlist_init(&expired);
        pthread_mutex_lock(&c->mu);
        if (c->closing) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        int64_t next = INT64_MAX;
        if (c->fd >= 0) {                         /* queued -> in flight */
            while (!dlist_empty(&c->queue)) {
                rcmd *x = dlist_entry(c->queue.next, rcmd, link);
                if (dbuf_append(&c->out, x->cmd, x->len) != 0) break;
                dlist_unlink(&x->link);
                x->state = IN_FLIGHT;
                dlist_push_back(&c->inflight, &x->link);
            }
        } else {
            next = expire_locked(c, now, &expired);
        }
        c->sleeping = true;
        pthread_mutex_unlock(&c->mu);
        while (!dlist_empty(&expired))
            cmd_finish(dlist_entry(dlist_pop_front(&expired), rcmd, link), -ETIMEDOUT, NULL);
        if (c->fd >= 0 && !write_out(c)) {
            disconnect(c, -ECONNRESET);
            retry_at = weft_now();
            pthread_mutex_lock(&c->mu);
            c->sleeping = false;
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        struct pollfd pf[2] = { { c->evfd, POLLIN, 0 }, { c->fd, POLLIN, 0 } };
        if (c->out.off < c->out.len) pf[1].events |= POLLOUT;
        int64_t wait_ns = -1;
        if (c->fd < 0) {
            wait_ns = retry_at > now ? retry_at - now : 0;
            if (next != INT64_MAX && next - now < wait_ns) wait_ns = next > now ? next - now : 0;
        }
        int ms = wait_ns < 0 ? -1 : (int)((wait_ns + WEFT_MS - 1) / WEFT_MS);
        int k = poll(pf, c->fd >= 0 ? 2 : 1, ms);
        pthread_mutex_lock(&c->mu);
        c->sleeping = false;
        c->woken = false;
        pthread_mutex_unlock(&c->mu);
        if (k <= 0) continue;
        if (pf[0].revents) {
            uint64_t v;
            ssize_t n = read(c->evfd, &v, sizeof v);
            (void)n;
        }
        if (c->fd >= 0 && pf[1].revents) {
            bool ok = true;
            if (pf[1].revents & POLLOUT) ok = write_out(c);
            if (ok && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) ok = read_replies(c);
            if (!ok) {
                disconnect(c, -ECONNRESET);
                retry_at = weft_now();            /* the first retry at once */
            }
        }
    }
    disconnect(c, -ESHUTDOWN);
    return 0;
}

/* ---- the public calls ------------------------------------------------------------------------ */

int weft_redis_connect(weft_redis **out, const char *url, const weft_redis_opts *opts)
{
    static const weft_redis_opts defaults = WEFT_REDIS_OPTS_INIT;
    if (!out || !url) return -EINVAL;
    weft_redis *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->o = opts ? *opts : defaults;
    if (c->o.connect_timeout <= 0) c->o.connect_timeout = defaults.connect_timeout;
    if (c->o.command_timeout <= 0 && c->o.command_timeout != WEFT_FOREVER)
        c->o.command_timeout = defaults.command_timeout;
    if (c->o.max_backoff <= 0) c->o.max_backoff = defaults.max_backoff;
    if (c->o.max_reply == 0) c->o.max_reply = WEFT_REDIS_MAX_REPLY;
    int rc = dist_url_parse(&c->url, url);
    if (rc) {
        free(c);
        return rc;
    }
    pthread_mutex_init(&c->mu, NULL);
    dlist_init(&c->queue);
    dlist_init(&c->inflight);
    c->fd = -1;
    c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->evfd < 0) rc = -errno;
    if (!rc) rc = weft_event_create(&c->started);
    if (!rc) {
        /* The I/O thread makes the first connection (so that a coroutine here only parks);
         * its outcome is this call's. */
        weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
        to.name = "weft-redis";
        to.daemon = true;
        rc = weft_thread_start(&c->io, &to, io_main, c);
        if (!rc) {
            weft_scope shield;
            weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
            weft_event_wait(c->started, WEFT_FOREVER);
            rc = c->start_rc;
            if (rc) weft_thread_join(c->io, WEFT_FOREVER, NULL);
            weft_scope_leave(&shield);
            if (rc) weft_thread_release(c->io);
        }
        weft_event_destroy(c->started);
    }
    if (rc) {
        if (c->evfd >= 0) close(c->evfd);
        dist_url_free(&c->url);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Queues x (fresh, cb set or not) for cmd; *f its future. Consumes cmd and x on failure. */
static int enqueue_cmd(weft_redis *c, weft_future **f, rcmd *x, char *cmd, int len)
{
    x->cmd = cmd;
    x->len = (size_t)len;
    x->conn = c;
    int rc = weft_future_create_hooked(&x->fut, &cmd_hooks, x);
    if (rc) {
        redisFreeCommand(cmd);
        free(x);
        return rc;
    }
    x->deadline = c->o.command_timeout == WEFT_FOREVER ? INT64_MAX
                                                      : weft_now() + c->o.command_timeout;
    weft_future_retain(x->fut);                  /* the I/O thread's, till it completes */
    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        weft_future_release(x->fut);
        weft_future_release(x->fut);             /* frees x and cmd */
        return -ESHUTDOWN;
    }
    x->state = QUEUED;
    dlist_push_back(&c->queue, &x->link);
    wake(c);
    pthread_mutex_unlock(&c->mu);
    *f = x->fut;
    return 0;
}

static int enqueue(weft_redis *c, weft_future **f, rcmd **out, char *cmd, int len)
{
    rcmd *x = calloc(1, sizeof *x);
    if (!x) {
        redisFreeCommand(cmd);
        return -ENOMEM;
    }
    int rc = enqueue_cmd(c, f, x, cmd, len);
    if (rc == 0 && out) *out = x;
    return rc;
}

int dist_redis_send_cb(weft_redis *c, int argc, const char *const *argv, const size_t *lens,
                       dist_reply_cb cb, void *arg)
{
    if (!c || !argv || argc < 1 || !cb) return -EINVAL;
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
    if (len < 0) return -ENOMEM;
    rcmd *x = calloc(1, sizeof *x);
    if (!x) {
        redisFreeCommand(cmd);
        return -ENOMEM;
    }
    x->cb = cb;
    x->cb_arg = arg;
    weft_future *f;
    int rc = enqueue_cmd(c, &f, x, cmd, len);
    if (rc == 0) weft_future_release(f);         /* the I/O thread's reference remains */
    return rc;
}

int dist_redis_add_init(weft_redis *c, int argc, const char *const *argv)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, NULL);
    if (len < 0) return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    char **init = realloc(c->init, (size_t)(c->ninit + 1) * sizeof *init);
    size_t *lens = init ? realloc(c->init_len, (size_t)(c->ninit + 1) * sizeof *lens) : NULL;
    if (init) c->init = init;
    if (lens) c->init_len = lens;
    if (!init || !lens) {
        pthread_mutex_unlock(&c->mu);
        redisFreeCommand(cmd);
        return -ENOMEM;
    }
    c->init[c->ninit] = cmd;
    c->init_len[c->ninit++] = (size_t)len;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int weft_redis_send(weft_redis *c, weft_future **f, int argc, const char *const *argv,
                    const size_t *lens)
{
    if (!c || !f || !argv || argc < 1) return -EINVAL;
    for (int i = 0; i < argc; i++)
        if (!argv[i]) return -EINVAL;
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
    if (len < 0) return -ENOMEM;
    return enqueue(c, f, NULL, cmd, len);
}

/* Waits for x's future and hands its reply to the caller. */
static int wait_reply(rcmd *x, weft_redis_reply **reply, int64_t timeout)
{
    weft_future *f = x->fut;
    void *r = NULL;
    int rc = weft_future_result(f, timeout, &r);
    if (rc == 0) {
        /* The reply belongs to the future's command: taken, the future's free hook leaves
         * it to the caller. */
        x->taken = true;
        *reply = r;
        rc = ((weft_redis_reply *)r)->type == WEFT_REDIS_ERROR ? WEFT_EREDIS : 0;
    }
    weft_future_release(f);
    return rc;
}

int weft_redis_call(weft_redis *c, weft_redis_reply **reply, int64_t timeout, int argc,
                    const char *const *argv, const size_t *lens)
{
    if (!reply) return -EINVAL;
    *reply = NULL;
    if (!c || !argv || argc < 1) return -EINVAL;
    for (int i = 0; i < argc; i++)
        if (!argv[i]) return -EINVAL;
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
    if (len < 0) return -ENOMEM;
    weft_future *f;
    rcmd *x;
    int rc = enqueue(c, &f, &x, cmd, len);
    return rc ? rc : wait_reply(x, reply, timeout);
}

int weft_redis_vcallf(weft_redis *c, weft_redis_reply **reply, int64_t timeout,
                      const char *fmt, va_list ap)
{
    if (!reply) return -EINVAL;
    *reply = NULL;
    if (!c || !fmt) return -EINVAL;
    char *cmd;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len == -2) return -EINVAL;               /* a format hiredis cannot read */
    if (len < 0) return -ENOMEM;
    if (len < 4 || strncmp(cmd, "*0\r\n", 4) == 0) {
        /* No word at all: the server would send no reply, and every later reply would be
         * taken for the one before it. */
        redisFreeCommand(cmd);
        return -EINVAL;
    }
    weft_future *f;
    rcmd *x;
    int rc = enqueue(c, &f, &x, cmd, len);
    return rc ? rc : wait_reply(x, reply, timeout);
}

int weft_redis_callf(weft_redis *c, weft_redis_reply **reply, int64_t timeout,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = weft_redis_vcallf(c, reply, timeout, fmt, ap);
    va_end(ap);
    return rc;
}

const weft_redis_reply *weft_redis_future_reply(weft_future *f)
{
    if (!weft_future_hooked_arg(f, &cmd_hooks) || !weft_future_done(f)) return NULL;
    void *r = NULL;
    return weft_future_result(f, 0, &r) == 0 ? r : NULL;
}

bool weft_redis_connected(weft_redis *c)
{
    return c && atomic_load(&c->connected);
}

void weft_redis_close(weft_redis *c)
{
    if (!c) return;
    dlist queued;
    dlist_init(&queued);
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    while (!dlist_empty(&c->queue)) {
        rcmd *x = dlist_entry(dlist_pop_front(&c->queue), rcmd, link);
        x->state = DONE;
        dlist_push_back(&queued, &x->link);
    }
    c->sleeping = true;                          /* wake it whatever it does */
    c->woken = false;
    wake(c);
    pthread_mutex_unlock(&c->mu);
    while (!dlist_empty(&queued))
        cmd_finish(dlist_entry(dlist_pop_front(&queued), rcmd, link), -ESHUTDOWN, NULL);
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_thread_join(c->io, WEFT_FOREVER, NULL);
    weft_scope_leave(&shield);
    weft_thread_release(c->io);
    close(c->evfd);
    dist_url_free(&c->url);
    pthread_mutex_destroy(&c->mu);
    for (int i = 0; i < c->ninit; i++) redisFreeCommand(c->init[i]);
    free(c->init);
    free(c->init_len);
    free(c->out.p);
    free(c);
}
