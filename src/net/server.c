/* net/server.c — start_server: an accepting coroutine and a coroutine per connection.
 *
 * Everything of a server lives on one loop (the thread that started it): the acceptor, the
 * handlers, and the bookkeeping below, which is therefore touched by that thread only and
 * needs no lock. Two events carry the hand-offs: `room` (a handler ended while the
 * acceptor waited for the connection limit to allow one more) and `idle` (the last handler
 * ended while close waited).
 *
 * A connection's bookkeeping (closing its socket, unlinking it, the count, the events)
 * runs in its task's done-callback, not in the handler's coroutine: a handler cancelled
 * before it first ran never runs (docs/CANCELLATION.md rule 4) — weft_run's drain, a thread's
 * exit, a close with no grace — but its task still completes, on the server's loop, so the
 * callback runs on the server's thread either way.
 */
#include "net/internal.h"
#include "future/internal.h"

#include <string.h>
#include <sys/socket.h>

typedef struct conn {
    weft__list link;                  /* in server.conns */
    weft_server *srv;
    weft_socket *sock;
    weft_future *task;
    weft__cb done;                    /* conn_done, on task */
} conn;

struct weft_server {
    weft_socket *listener;
    weft_conn_fn fn;
    void *arg;
    weft_server_opts opts;
    weft__loop *loop;
    weft_future *acceptor;
    weft__list conns;
    size_t active;
    bool closing;
    weft_event *room, *idle;
    weft_addr addr;
};

#define BACKOFF_MIN (1 * WEFT_MS)
#define BACKOFF_MAX (100 * WEFT_MS)

static int conn_main(void *arg, void **result)
{
    (void)result;
    conn *c = arg;
    c->srv->fn(c->sock, c->srv->arg);   /* its outcome is the handler's business (weft/net.h) */
    return 0;
}

/* The task's done-callback: whether the handler ran or not (cancelled before it started),
 * on the server's loop thread. Never blocks. The loop still holds its own reference to the
 * task, so releasing ours here is allowed. */
static void conn_done(weft_future *f, void *arg)
{
    (void)f;
    conn *c = arg;
    weft_server *srv = c->srv;
    weft_socket_close(c->sock);
    weft__list_unlink(&c->link);
    weft_future_release(c->task);
    weft__free(c);                      /* c->done included: the future has let go of it */
    srv->active--;
    if (srv->opts.max_connections > 0) weft_event_set(srv->room);
    if (srv->active == 0) weft_event_set(srv->idle);
}

/* Out of descriptors or memory: the condition passes when connections end, so wait and
 * retry (the pending connection stays in the listen backlog meanwhile). */
static bool resource_error(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM;
}

static int acceptor_main(void *arg, void **result)
{
    (void)result;
    weft_server *srv = arg;
    int64_t backoff = BACKOFF_MIN;
    while (!srv->closing) {
        int max = srv->opts.max_connections;
        if (max > 0 && srv->active >= (size_t)max) {
            weft_event_clear(srv->room);
            /* Only a cut wait fails here (-ECANCELED; -ETIMEDOUT should a scope ever
             * apply): any error ends the acceptor, never a spin. */
            if (weft_event_wait(srv->room, WEFT_FOREVER) != 0) break;
            continue;
        }
        weft_socket *sock;
        int rc = weft_socket_accept(srv->listener, &sock, NULL, WEFT_FOREVER);
        if (rc == -ECANCELED || rc == -ETIMEDOUT || rc == -EBADF || srv->closing) {
            if (rc == 0) weft_socket_close(sock);
            break;
        }
        if (rc) {
            /* Resource exhaustion, or a connection's own error (EPROTO, EPERM from a
             * firewall...): never spin on it, never give up serving. */
            if (weft_sleep(resource_error(rc) ? backoff : BACKOFF_MIN) != 0) break;
            if (resource_error(rc) && backoff < BACKOFF_MAX) backoff *= 2;
            continue;
        }
        backoff = BACKOFF_MIN;
        conn *c = weft__calloc(1, sizeof *c);
        weft_spawn_opts so = WEFT_SPAWN_OPTS_INIT;
        so.name = "weft-conn";
        so.stack_size = srv->opts.stack_size;
        so.flags = srv->opts.spawn_flags;
        if (c) {
            c->srv = srv;
            c->sock = sock;
            weft__list_push_back(&srv->conns, &c->link);
            srv->active++;
            weft_event_clear(srv->idle);
            rc = weft_spawn_ex(&c->task, &so, conn_main, c);
            if (rc == 0) {
                /* Not started yet (this coroutine has not yielded): embedded, cannot fail. */
                c->done.fn = conn_done;
                c->done.arg = c;
                weft__future_add_cb(c->task, &c->done);
            } else {
                weft__list_unlink(&c->link);
                weft__free(c);
                srv->active--;
                if (srv->active == 0) weft_event_set(srv->idle);
            }
        } else {
            rc = -ENOMEM;
        }
        if (rc) {
            weft_socket_close(sock);
            if (rc == -ESHUTDOWN) break;
            if (weft_sleep(backoff) != 0) break;
            if (backoff < BACKOFF_MAX) backoff *= 2;
        }
    }
    return 0;
}

static void server_free(weft_server *srv)
{
    if (srv->room) weft_event_destroy(srv->room);
    if (srv->idle) weft_event_destroy(srv->idle);
    weft__free(srv);
}

int weft_server_start(weft_server **out, weft_socket *listener, weft_conn_fn fn, void *arg,
                      const weft_server_opts *opts)
{
    if (!out || !listener || !fn || (opts && opts->max_connections < 0)) return -EINVAL;
    if (opts && ((opts->spawn_flags & ~WEFT_SPAWN_COMPACT) ||
                 ((opts->spawn_flags & WEFT_SPAWN_COMPACT) &&
                  opts->stack_size > WEFT_STACK_DEFAULT)))
        return -EINVAL;                      /* weft_spawn_ex would refuse every handler */
    weft__loop *l = weft__loop_get();
    if (!l) return -ENOMEM;
    weft_server *srv = weft__calloc(1, sizeof *srv);
    if (!srv) return -ENOMEM;
    srv->listener = listener;
    srv->fn = fn;
    srv->arg = arg;
    if (opts) srv->opts = *opts;
    srv->loop = l;
    weft__list_init(&srv->conns);
    int rc = weft_socket_local_addr(listener, &srv->addr);
    if (!rc) rc = weft_event_create(&srv->room);
    if (!rc) rc = weft_event_create(&srv->idle);
    if (!rc) rc = weft_event_set(srv->idle);
    weft_spawn_opts so = WEFT_SPAWN_OPTS_INIT;
    so.name = "weft-accept";
    if (!rc) rc = weft_spawn_ex(&srv->acceptor, &so, acceptor_main, srv);
    if (rc) {
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int weft_tcp_server(weft_server **srv, const char *host, uint16_t port, weft_conn_fn fn,
                    void *arg, const weft_server_opts *opts)
{
    if (!srv || !fn) return -EINVAL;
    weft_socket *s;
    int rc = weft_tcp_listen(&s, host, port, opts ? opts->backlog : 0);
    if (rc) return rc;
    rc = weft_server_start(srv, s, fn, arg, opts);
    if (rc) weft_socket_close(s);
    return rc;
}

int weft_server_addr(const weft_server *srv, weft_addr *a)
{
    if (!srv || !a) return -EINVAL;
    *a = srv->addr;
    return 0;
}

size_t weft_server_connections(const weft_server *srv)
{
    return srv ? srv->active : 0;
}

int weft_server_close_clients(weft_server *srv, bool hard)
{
    if (!srv) return -EINVAL;
    if (weft__tls_self.loop != srv->loop) return -EPERM;
    int n = 0;
    for (weft__list *l = srv->conns.next; l != &srv->conns; l = l->next) {
        /* The handler owns the socket (the server closes it when the handler returns):
         * only shut it down here. One the peer already reset says -ENOTCONN: not counted. */
        if (weft_socket_shutdown(weft__container_of(l, conn, link)->sock,
                                 hard ? SHUT_RDWR : SHUT_RD) == 0)
            n++;
    }
    return n;
}

int weft_server_close(weft_server *srv, int64_t grace)
{
    if (!srv || (grace < 0 && grace != WEFT_FOREVER)) return -EINVAL;
    if (weft__tls_self.loop != srv->loop) return -EPERM;
    weft_future *self = weft_current_task();
    for (weft__list *n = srv->conns.next; n != &srv->conns; n = n->next)
        if (self && weft__container_of(n, conn, link)->task == self) return -EDEADLK;
    srv->closing = true;
    /* Stop accepting: the acceptor's accept returns -EBADF, its other waits -ECANCELED. */
    weft_future_cancel(srv->acceptor);
    weft_socket_close(srv->listener);
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_future_result(srv->acceptor, WEFT_FOREVER, NULL);
    weft_future_release(srv->acceptor);
    int rc = 0;
    weft_scope_leave(&shield);
    int w = weft_event_wait(srv->idle, grace);
    if (w != 0) {
        rc = w == -ECANCELED ? -ECANCELED : -ETIMEDOUT;
        for (weft__list *n = srv->conns.next; n != &srv->conns; n = n->next)
            weft_future_cancel(weft__container_of(n, conn, link)->task);
        weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
        weft_event_wait(srv->idle, WEFT_FOREVER);
        weft_scope_leave(&shield);
    }
    server_free(srv);
    return rc;
}
