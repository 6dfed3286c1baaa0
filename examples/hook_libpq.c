/* examples/hook_libpq.c — libweft_hook's proof with a real blocking library: libpq, the
 * PostgreSQL client, made cooperative without a line of it changed (issue 16).
 *
 *     # gevent                                 weft
 *     from gevent import monkey                link with libweft_hook (weft_hook_dep)
 *     monkey.patch_all()                       — nothing to call —
 *     import psycopg2                          #include <libpq-fe.h>
 *     gevent.joinall([spawn(q, i) ...])        weft_group_spawn(...); weft_group_wait(g)
 *
 * libpq blocks in libc: connect, poll, send and recv on its socket. Linked with
 * libweft_hook, those calls made from a weft coroutine park only that coroutine, so one
 * thread runs 100 clients at once: the program starts a PostgreSQL server of its own
 * (tests/pg_server.h: a temporary cluster on a Unix socket, nothing on TCP), then, on one
 * thread, 100 coroutines each PQconnectdb (all connected before any query), then each runs
 * SELECT pg_sleep(0.1), i and checks the answer is its own i. The 100 queries of 0.1 s must
 * take well under a second together (one after the other they take 10 s). Meanwhile a
 * plain thread uses libpq as it always did: there the same calls are libc's, blocking that
 * thread only. Prints both phases' times; exits 0 when every answer is right and the
 * queries overlapped, 1 (saying what went wrong) otherwise.
 *
 * Needs PostgreSQL (Debian's postgresql and libpq-dev, which `make` installs); without the
 * server the program says SKIP and exits 77 (a skipped test).
 */
#include <weft.h>
#include <weft/hook.h>          /* only for weft_hook_active and the park counter */

#include <libpq-fe.h>

#include "../tests/pg_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLIENTS = 100, THREAD_QUERIES = 3 };
#define QUERY_LIMIT (1 * WEFT_SEC)      /* the 100 queries of 0.1 s each, together */
#define STACK (256u * 1024u)            /* libpq and the resolver it may call want room */

typedef struct client {
    int i;
    PGconn *conn;
    bool connected;
    bool answered;      /* the query returned this client's own i */
    char err[200];      /* what went wrong, if anything */
} client;

static client clients[CLIENTS];
static const char *conninfo;

/* PQerrorMessage without its trailing newline, into c->err. */
static void client_error(client *c, const char *what, const char *msg)
{
    snprintf(c->err, sizeof c->err, "client %d: %s: %s", c->i, what, msg ? msg : "?");
    size_t n = strlen(c->err);
    while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == ' ')) c->err[--n] = '\0';
}

/* A coroutine: opens client i's connection. Blocks in PQconnectdb (connect, poll, send,
 * recv on its socket: under libweft_hook, only this coroutine waits). Failures are
 * recorded, not returned, so one does not cancel the other clients. */
static int connect_one(void *arg, void **result)
{
    (void)result;
    client *c = arg;
    c->conn = PQconnectdb(conninfo);
    if (PQstatus(c->conn) != CONNECTION_OK)
        client_error(c, "PQconnectdb", PQerrorMessage(c->conn));
    else
        c->connected = true;
    return 0;
}

/* Runs "SELECT pg_sleep(0.1), $1::int" on conn with $1 = want; true if it answered want,
 * else false with the reason in c. Blocks in PQexecParams (send, poll, recv). */
static bool query_sleep_echo(client *c, PGconn *conn, int want)
{
    char param[16];
    snprintf(param, sizeof param, "%d", want);
    const char *values[1] = { param };
    PGresult *res = PQexecParams(conn, "SELECT pg_sleep(0.1), $1::int", 1, NULL, values,
                                 NULL, NULL, 0);
    bool ok = false;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        client_error(c, "PQexecParams", PQerrorMessage(conn));
    } else if (PQntuples(res) != 1 || PQnfields(res) != 2) {
        client_error(c, "PQexecParams", "not one row of two columns");
    } else {
        long got = strtol(PQgetvalue(res, 0, 1), NULL, 10);
        if (got == want) {
            ok = true;
        } else {
            char msg[64];
            snprintf(msg, sizeof msg, "answered %ld, expected %d", got, want);
            client_error(c, "wrong answer", msg);
        }
    }
    PQclear(res);
    return ok;
}

/* A coroutine: client i's query on its open connection. Blocks in PQexecParams. */
static int query_one(void *arg, void **result)
{
    (void)result;
    client *c = arg;
    if (c->connected) c->answered = query_sleep_echo(c, c->conn, c->i);
    return 0;
}

/* A plain thread (no loop, no coroutine): libpq as ever, every call libc's, blocking this
 * thread — its three queries take 0.1 s each, one after the other — while the coroutines
 * on the main thread run. Blocks in PQconnectdb and PQexecParams. */
static client thread_client = { .i = -1 };
static int64_t thread_elapsed;
static bool thread_hooked;      /* weft_hook_active() there: must be false */

static int thread_main(void *arg, void **result)
{
    (void)arg; (void)result;
    client *c = &thread_client;
    thread_hooked = weft_hook_active();
    int64_t t0 = weft_now();
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        client_error(c, "PQconnectdb (thread)", PQerrorMessage(conn));
        PQfinish(conn);
        return 0;
    }
    c->connected = true;
    bool ok = true;
    for (int q = 0; q < THREAD_QUERIES && ok; q++)
        ok = query_sleep_echo(c, conn, 1000 + q);
    c->answered = ok;
    PQfinish(conn);
    thread_elapsed = weft_now() - t0;
    return 0;
}

/* Spawns fn(&clients[i]) for every client into a new task group and waits for them all.
 * Returns the group's outcome. Blocks in weft_group_wait (the main coroutine parks; the
 * clients run). */
static int run_all(weft_fn fn)
{
    weft_group *g;
    int rc = weft_group_create(&g);
    if (rc) return rc;
    weft_spawn_opts o = WEFT_SPAWN_OPTS_INIT;
    o.name = "pq-client";
    o.stack_size = STACK;
    for (int i = 0; i < CLIENTS && rc == 0; i++)
        rc = weft_group_spawn(g, NULL, &o, fn, &clients[i]);
    int wrc = weft_group_wait(g);              /* even after a failed spawn: leave the group */
    weft_group_destroy(g);
    return rc ? rc : wrc;
}

static int failures(const char *phase, bool (*bad)(const client *))
{
    int n = 0;
    for (int i = 0; i < CLIENTS; i++) {
        if (!bad(&clients[i])) continue;
        if (n++ < 5) fprintf(stderr, "hook_libpq: %s: %s\n", phase, clients[i].err);
    }
    if (n > 5) fprintf(stderr, "hook_libpq: %s: ... %d clients failed in all\n", phase, n);
    return n;
}

static bool not_connected(const client *c) { return !c->connected; }
static bool not_answered(const client *c) { return c->connected && !c->answered; }

/* The main coroutine. Blocks in the two phases and in joining the plain thread. */
static int main_coro(void *arg, void **result)
{
    (void)arg; (void)result;
    for (int i = 0; i < CLIENTS; i++) clients[i].i = i;
    if (!weft_hook_active())
        fprintf(stderr, "hook_libpq: warning: the hooks are not active in this coroutine: "
                "libpq's calls will block the thread\n");

    weft_thread *th;
    int rc = weft_thread_start(&th, NULL, thread_main, NULL);
    if (rc) {
        fprintf(stderr, "hook_libpq: weft_thread_start: %s\n", weft_strerror(rc));
        return 1;
    }

    int64_t t0 = weft_now();
    rc = run_all(connect_one);
    int64_t t1 = weft_now();
    int bad_connect = failures("connect", not_connected);
    printf("connect phase: %d clients connected in %.3f s (one thread, %d coroutines)\n",
           CLIENTS - bad_connect, (double)(t1 - t0) / WEFT_SEC, CLIENTS);

    uint64_t parks0 = weft_hook_parks();
    int64_t t2 = weft_now();
    if (rc == 0) rc = run_all(query_one);
    int64_t t3 = weft_now();
    uint64_t parks = weft_hook_parks() - parks0;
    int64_t query_time = t3 - t2;
    int bad_query = failures("query", not_answered);
    printf("query phase:   %d x SELECT pg_sleep(0.1), i answered correctly in %.3f s "
           "(one after the other: %.1f s)\n",
           CLIENTS - bad_connect - bad_query, (double)query_time / WEFT_SEC, CLIENTS * 0.1);
    printf("               libpq's calls parked a coroutine %llu times meanwhile (poll, "
           "recv... under libweft_hook)\n", (unsigned long long)parks);

    for (int i = 0; i < CLIENTS; i++) PQfinish(clients[i].conn);   /* NULL is ignored */

    int trc = weft_thread_join(th, 30 * WEFT_SEC, NULL);
    weft_thread_release(th);
    if (trc) {
        fprintf(stderr, "hook_libpq: joining the plain thread: %s\n", weft_strerror(trc));
        return 1;
    }
    if (thread_client.answered)
        printf("plain thread:  its own connection and %d queries of 0.1 s, blocking it as "
               "usual (libc's calls), alongside: %.3f s, answers correct\n", THREAD_QUERIES,
               (double)thread_elapsed / WEFT_SEC);
    else
        fprintf(stderr, "hook_libpq: plain thread: %s\n", thread_client.err);
    if (thread_hooked) {
        fprintf(stderr, "hook_libpq: the hooks claimed a plain thread's calls\n");
        return 1;
    }

    if (rc) {
        fprintf(stderr, "hook_libpq: running the clients: %s\n", weft_strerror(rc));
        return 1;
    }
    bool ok = bad_connect == 0 && bad_query == 0 && thread_client.answered;
    if (ok && query_time >= QUERY_LIMIT) {
        fprintf(stderr, "hook_libpq: the %d queries took %.3f s, not under %.1f s: they ran "
                "one after the other (is the program linked with libweft_hook?)\n",
                CLIENTS, (double)query_time / WEFT_SEC, (double)QUERY_LIMIT / WEFT_SEC);
        ok = false;
    }
    return ok ? 0 : 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    pg_server pg;
    pg_start_or_skip(&pg);                  /* SKIP (77) without PostgreSQL */
    conninfo = pg.conninfo;
    int rc = weft_run(main_coro, NULL, NULL);
    pg_stop(&pg);
    if (rc == 0) printf("hook_libpq: every answer right; the queries overlapped\n");
    return rc == 0 ? 0 : 1;
}
