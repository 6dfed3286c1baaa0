/* dist/client.c — submitting tasks and receiving their results (weft/dist.h).
 *
 * Two connections: `cmd` carries the submits (the SUBMIT script: many in flight, pipelined)
 * and the result reads; `listen` is the listener thread's, blocked in BLMPOP on the
 * client's own list (prefix:c:<client id>), where a worker's FINISH (or a CANCEL) pushes
 * the id of each task whose result it recorded. The listener reads those results and
 * completes the futures. Every second it also reads directly the results of the tasks whose
 * check is due — a second after the submit, then 2, 4, 8 and every 16 s (a long queue is
 * not polled at full rate), at most 5,000 a round: a notification lost with a broken
 * connection (popped, never received) or raced by an idempotent submit's re-keying delays
 * a future by that much at most, never for ever.
 *
 * Locking: `mu` guards the table of pending tasks and each task's `state`; the table holds
 * a reference to each task's future. A task's memory is its future's (free hook).
 */
#include "dist/internal.h"
#include "dist/scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { SUBMITTING, PENDING, DONE };
enum { BUCKETS = 1 << 16 };

typedef struct dtask {
    weft_future *fut;
    weft_dist_client *c;
    struct dtask *next;              /* the bucket's chain (mu) */
    int state;                       /* mu */
    char id[80];                     /* mu once re-keyed by an idempotent submit */
    int64_t next_check;              /* mu: when the sweep reads its result next */
    int64_t check_every;             /* mu: 1 s, doubling to 16 s */
    /* the outcome, set before the future completes */
    char *data;
    size_t len;
    char *msg;
} dtask;

struct weft_dist_client {
    weft_redis *cmd, *listen;
    dist_scripts scripts;
    char prefix[64];
    char client_id[40];
    char reply_key[128];
    weft_dist_client_opts o;
    pthread_mutex_t mu;
    dtask **table;                   /* BUCKETS chains */
    size_t pending;
    _Atomic bool closing;
    weft_thread *listener;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int random_bytes(unsigned char *p, size_t n);

/* ---- the table (mu held) ----------------------------------------------------------------- */

static void table_add_locked(weft_dist_client *c, dtask *t)
{
    dtask **b = &c->table[hash_id(t->id) & (BUCKETS - 1)];
    t->next = *b;
    *b = t;
    c->pending++;
}

static void table_remove_locked(weft_dist_client *c, dtask *t)
{
    for (dtask **p = &c->table[hash_id(t->id) & (BUCKETS - 1)]; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            c->pending--;
            return;
        }
}

/* ---- futures ------------------------------------------------------------------------------- */

static int task_cancel(weft_future *f, void *arg);

static void task_free(void *result, void *arg)
{
    (void)result;
    dtask *t = arg;
    free(t->data);
    free(t->msg);
    free(t);
}

static const weft_future_hooks task_hooks = { task_cancel, task_free };

/* Completes t (it has left the table: the caller holds the table's reference, dropped
 * here). data and msg are t's from now on. Any context. */
static void task_complete(dtask *t, int rc, char *data, size_t len, char *msg)
{
    t->data = data;
    t->len = len;
    t->msg = msg;
    if (rc < 0) weft_future_set_error(t->fut, rc);
    else weft_future_set_result(t->fut, t);
    weft_future_release(t->fut);
}

/* Takes t out of the table if it is still there (and not done): true if the caller now
 * completes it. */
static bool task_take(dtask *t)
{
    weft_dist_client *c = t->c;
    pthread_mutex_lock(&c->mu);
    bool mine = t->state != DONE;
    if (mine) {
        t->state = DONE;
        table_remove_locked(c, t);
    }
    pthread_mutex_unlock(&c->mu);
    return mine;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* Completes t from a result hash's reply (HMGET rc msg data): true if there was one. */
static bool complete_from(dtask *t, const weft_redis_reply *r)
{
    if (!r || r->type != WEFT_REDIS_ARRAY || r->elements != 3 ||
        r->element[0]->type != WEFT_REDIS_STRING)
        return false;
    if (!task_take(t)) return true;
    int rc = atoi(r->element[0]->str);
    const weft_redis_reply *m = r->element[1], *d = r->element[2];
    char *msg = dup_bytes(m->type == WEFT_REDIS_STRING ? m->str : "",
                          m->type == WEFT_REDIS_STRING ? m->len : 0);
    char *data = rc >= 0 && d->type == WEFT_REDIS_STRING ? dup_bytes(d->str, d->len) : NULL;
    if (!msg || (rc >= 0 && d->type == WEFT_REDIS_STRING && !data)) {
        free(msg);
        free(data);
        task_complete(t, -ENOMEM, NULL, 0, NULL);
        return true;
    }
    task_complete(t, rc, data, data ? d->len : 0, msg);
    return true;
}

/* The CANCEL script's answer: 0 means the result -ECANCELED is recorded (and notified);
 * complete at once rather than wait for the notification. */
static void on_cancel_reply(void *arg, int err, const weft_redis_reply *r)
{
    dtask *t = arg;
    if (!err && r->type == WEFT_REDIS_INTEGER && r->integer == 0 && task_take(t))
        task_complete(t, -ECANCELED, NULL, 0, NULL);
    weft_future_release(t->fut);                 /* the callback's */
}

/* weft_future_cancel: a request to the server (see weft/dist.h). Never blocks. */
static int task_cancel(weft_future *f, void *arg)
{
    (void)f;
    dtask *t = arg;
    weft_dist_client *c = t->c;
    char now[24], id[80];
    pthread_mutex_lock(&c->mu);
    bool open = t->state != DONE;
    memcpy(id, t->id, sizeof id);
    pthread_mutex_unlock(&c->mu);
    if (!open) return -EBUSY;
    if (atomic_load(&c->closing)) return -ESHUTDOWN;   /* the connection is going */
    snprintf(now, sizeof now, "%lld", (long long)(weft_now() / WEFT_MS));
    const char *argv[3] = { c->prefix, id, now };
    weft_future_retain(t->fut);                  /* the callback's */
    int rc = dist_eval_send_cb(c->cmd, &c->scripts, DIST_CANCEL, 3, argv, NULL,
                               on_cancel_reply, t);
    if (rc) weft_future_release(t->fut);
    return rc;
}

/* The SUBMIT script's answer (runs on the command connection's I/O thread). */
static void on_submitted(void *arg, int err, const weft_redis_reply *r)
{
    dtask *t = arg;
    weft_dist_client *c = t->c;
    if (r && r->type == WEFT_REDIS_ERROR) err = WEFT_EREDIS;
    else if (r && r->type != WEFT_REDIS_STRING) err = -EPROTO;
    if (err) {
        if (task_take(t)) task_complete(t, err, NULL, 0, dup_bytes(r ? r->str : "", r ? r->len : 0));
        weft_future_release(t->fut);             /* the callback's */
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (t->state == SUBMITTING) {
        t->state = PENDING;
        if (strcmp(r->str, t->id) != 0) {       /* an earlier task's */
            if (r->len >= sizeof t->id) {
                /* An id we cannot hold (another language's submitter): say so. */
                pthread_mutex_unlock(&c->mu);
                if (task_take(t)) task_complete(t, -ENAMETOOLONG, NULL, 0, NULL);
                weft_future_release(t->fut);     /* the callback's */
                return;
            }
            table_remove_locked(c, t);
            memcpy(t->id, r->str, r->len + 1);
            table_add_locked(c, t);
        }
    }
    pthread_mutex_unlock(&c->mu);
    weft_future_release(t->fut);                 /* the callback's */
}

/* ---- the listener ---------------------------------------------------------------------- */

/* Reads the results of the given tasks (pipelined) and completes those that have one. */
static void fetch_results(weft_dist_client *c, dtask **ts, size_t n)
{
    weft_future **rf = calloc(n, sizeof *rf);
    if (!rf) return;
    for (size_t i = 0; i < n; i++) {
        char key[200];
        pthread_mutex_lock(&c->mu);              /* (an idempotent submit may re-key it) */
        snprintf(key, sizeof key, "%s:r:%s", c->prefix, ts[i]->id);
        pthread_mutex_unlock(&c->mu);
        const char *argv[5] = { "HMGET", key, "rc", "msg", "data" };
        if (weft_redis_send(c->cmd, &rf[i], 5, argv, NULL) != 0) rf[i] = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = rf[i] ? weft_future_result(rf[i], 30 * WEFT_SEC, NULL) : -ENOMEM;
        if (rc == 0) complete_from(ts[i], weft_redis_future_reply(rf[i]));
        /* A result over max_message was not read (the connection's max_reply): it never
         * will be, so that is the task's outcome. */
        else if (rc == -EMSGSIZE && task_take(ts[i]))
            task_complete(ts[i], -EMSGSIZE, NULL, 0, NULL);
        weft_future_release(rf[i]);
        weft_future_release(ts[i]->fut);         /* fetch's reference */
    }
    free(rf);
}

/* The pending tasks named in ids (with a reference each), or for the sweep (ids NULL)
 * those whose check is due at `now` (their next check put off). */
static size_t collect(weft_dist_client *c, const weft_redis_reply *ids, int64_t now,
                      dtask ***out)
{
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    size_t cap = ids ? ids->elements : c->pending < 5000 ? c->pending : 5000, n = 0;
    pthread_mutex_unlock(&c->mu);
    dtask **ts = cap ? calloc(cap, sizeof *ts) : NULL;
    if (!ts) return 0;
    pthread_mutex_lock(&c->mu);
    if (ids) {
        /* Every pending task under each id: a client that repeats an idempotency key
         * holds several futures of one task. */
        size_t grown = cap;
        for (size_t i = 0; i < ids->elements; i++) {
            const weft_redis_reply *e = ids->element[i];
            if (e->type != WEFT_REDIS_STRING) continue;
            for (dtask *t = c->table[hash_id(e->str) & (BUCKETS - 1)]; t; t = t->next) {
                if (strcmp(t->id, e->str) != 0 || t->state == DONE) continue;
                if (n == grown) {
                    dtask **more = realloc(ts, 2 * grown * sizeof *ts);
                    if (!more) break;
                    ts = more;
                    grown *= 2;
                }
                weft_future_retain(t->fut);
                ts[n++] = t;
            }
        }
    } else {
        for (size_t b = 0; b < BUCKETS && n < cap; b++)
            for (dtask *t = c->table[b]; t && n < cap; t = t->next)
                if (t->state == PENDING && t->next_check <= now) {
                    t->next_check = now + t->check_every;
                    if (t->check_every < 16 * WEFT_SEC) t->check_every *= 2;
                    weft_future_retain(t->fut);
                    ts[n++] = t;
                }
    }
    pthread_mutex_unlock(&c->mu);
    *out = ts;
    return n;
}

static int listener_main(void *arg, void **result)
{
    (void)result;
    weft_dist_client *c = arg;
    int64_t next_sweep = weft_now() + WEFT_SEC;
    while (!atomic_load(&c->closing)) {
        weft_redis_reply *r;
        /* Waited for longer than the connection's command timeout: a pop given up by
         * this wait would still be sent later, and its ids lost (the sweep would find
         * them, late). */
        int rc = weft_redis_callf(c->listen, &r, c->o.submit_timeout + 5 * WEFT_SEC,
                                  "BLMPOP 0.1 1 %s LEFT COUNT 1000", c->reply_key);
        /* A reply [key, [id...]], or nil after the 0.1 s. */
        if (rc == 0 && r->type == WEFT_REDIS_ARRAY && r->elements == 2 &&
            r->element[1]->type == WEFT_REDIS_ARRAY) {
            dtask **ts;
            size_t n = collect(c, r->element[1], 0, &ts);
            if (n) fetch_results(c, ts, n);
            free(ts);
        } else if (rc != 0) {
            weft_sleep(50 * WEFT_MS);            /* the connection is down: it comes back */
        }
        weft_redis_reply_free(r);
        int64_t now = weft_now();
        if (now >= next_sweep) {
            next_sweep = now + WEFT_SEC;
            dtask **ts;
            size_t n = collect(c, NULL, now, &ts);
            if (n) fetch_results(c, ts, n);
            free(ts);
        }
    }
    return 0;
}

/* ---- the public calls ---------------------------------------------------------------------- */

int weft_dist_client_create(weft_dist_client **out, const char *url,
                            const weft_dist_client_opts *opts)
{
    static const weft_dist_client_opts defaults = WEFT_DIST_CLIENT_OPTS_INIT;
    if (!out || !url) return -EINVAL;
    weft_dist_client *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->o = opts ? *opts : defaults;
    const char *prefix = c->o.prefix ? c->o.prefix : "weft";
    if (!*prefix || strlen(prefix) >= sizeof c->prefix) {
        free(c);
        return -EINVAL;
    }
    strcpy(c->prefix, prefix);
    if (c->o.connect_timeout <= 0) c->o.connect_timeout = defaults.connect_timeout;
    if (c->o.submit_timeout <= 0) c->o.submit_timeout = defaults.submit_timeout;
    if (c->o.max_message == 0) c->o.max_message = WEFT_DIST_MAX_MESSAGE;
    if (c->o.max_message > ((size_t)512 << 20)) {
        free(c);
        return -EINVAL;
    }
    unsigned char rnd[8];
    int rrc = random_bytes(rnd, sizeof rnd);
    if (rrc) {
        free(c);
        return rrc;
    }
    for (int i = 0; i < 8; i++) snprintf(c->client_id + 2 * i, 3, "%02x", rnd[i]);
    snprintf(c->reply_key, sizeof c->reply_key, "%s:c:%s", c->prefix, c->client_id);
    c->table = calloc(BUCKETS, sizeof *c->table);
    pthread_mutex_init(&c->mu, NULL);
    weft_redis_opts ro = WEFT_REDIS_OPTS_INIT;
    ro.connect_timeout = c->o.connect_timeout;
    ro.command_timeout = c->o.submit_timeout;
    /* The result reads carry at most max_message of data (a larger one: -EMSGSIZE). */
    ro.max_reply = c->o.max_message + (1 << 20);
    int rc = c->table ? 0 : -ENOMEM;
    if (!rc) rc = weft_redis_connect(&c->cmd, url, &ro);
    if (!rc) rc = weft_redis_connect(&c->listen, url, &ro);
    if (!rc) rc = dist_scripts_load(c->cmd, &c->scripts);
    if (!rc) {
        weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
        to.name = "weft-dist-client";
        to.daemon = true;
        rc = weft_thread_start(&c->listener, &to, listener_main, c);
    }
    if (rc) {
        weft_redis_close(c->listen);
        weft_redis_close(c->cmd);
        pthread_mutex_destroy(&c->mu);
        free(c->table);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* n bytes from the kernel's random source (getrandom): 0 or -errno. Task ids are made of
 * these: an id is the capability to read a task's result, so it must not be guessable
 * from another (a counter was: the next id of a client was its last plus one), and there
 * is no fallback to the clock. Any context; blocks only before the kernel's pool is
 * initialised at boot. */
static int random_bytes(unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Nanoseconds as a decimal string of milliseconds. */
static void ms_str(char *buf, size_t n, int64_t ns)
{
    snprintf(buf, n, "%lld", (long long)(ns / WEFT_MS));
}

static int64_t epoch_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
}

int weft_dist_submit(weft_dist_client *c, weft_future **f, const char *name, const void *arg,
                     size_t len, const weft_dist_task_opts *opts)
{
    static const weft_dist_task_opts defaults = WEFT_DIST_TASK_OPTS_INIT;
    if (!c || !f || !name || !*name || (!arg && len) || strlen(name) > DIST_NAME_MAX)
        return -EINVAL;
    if (len > c->o.max_message) return -EMSGSIZE;
    const weft_dist_task_opts *o = opts ? opts : &defaults;
    const char *queue = o->queue ? o->queue : "default";
    if (!*queue || o->attempts < 0 || o->backoff < 0 || o->timeout < 0 || o->delay < 0 ||
        o->eta < 0 || o->result_ttl < 0 || (o->result_ttl && o->result_ttl < WEFT_MS) ||
        strlen(queue) > 200 ||
        (o->idempotency_key && (!*o->idempotency_key || strlen(o->idempotency_key) > 200)))
        return -EINVAL;
    if (atomic_load(&c->closing)) return -ESHUTDOWN;
    dtask *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    t->c = c;
    t->next_check = weft_now() + WEFT_SEC;
    t->check_every = WEFT_SEC;
    /* <client id>-<128 random bits>: unguessable, even from this client's other ids. */
    unsigned char rnd[16];
    int rrc = random_bytes(rnd, sizeof rnd);
    if (rrc) {
        free(t);
        return rrc;
    }
    int at = snprintf(t->id, sizeof t->id, "%s-", c->client_id);
    for (int i = 0; i < 16; i++) snprintf(t->id + at + 2 * i, 3, "%02x", rnd[i]);
    int rc = weft_future_create_hooked(&t->fut, &task_hooks, t);
    if (rc) {
        free(t);
        return rc;
    }
    /* The times: on the server, ms since the Unix epoch (its clock and ours: the workers
     * compare them with their own). */
    int64_t now = epoch_ns(), not_before = 0;
    if (o->delay) not_before = now + o->delay;
    if (o->eta > not_before) not_before = o->eta;
    char attempts[16], timeout[24], backoff[24], ttl[24], nb[24], nowms[24];
    snprintf(attempts, sizeof attempts, "%d", o->attempts ? o->attempts : 1);
    ms_str(timeout, sizeof timeout, o->timeout);
    ms_str(backoff, sizeof backoff, o->backoff);
    ms_str(ttl, sizeof ttl, o->result_ttl ? o->result_ttl : defaults.result_ttl);
    ms_str(nb, sizeof nb, not_before);
    ms_str(nowms, sizeof nowms, now);
    const char *argv[13] = { c->prefix, queue, t->id, name, arg ? arg : "", attempts, timeout,
                             backoff, ttl, c->reply_key, nb, nowms,
                             o->idempotency_key ? o->idempotency_key : "" };
    size_t lens[13];
    for (int i = 0; i < 13; i++) lens[i] = i == 4 ? len : strlen(argv[i]);   /* arg: bytes */
    /* In the table before the server can finish it: a notification may overtake the
     * submit's own answer (another connection). */
    weft_future_retain(t->fut);                  /* the table's */
    t->state = SUBMITTING;
    pthread_mutex_lock(&c->mu);
    table_add_locked(c, t);
    pthread_mutex_unlock(&c->mu);
    weft_future_retain(t->fut);                  /* the callback's */
    rc = dist_eval_send_cb(c->cmd, &c->scripts, DIST_SUBMIT, 13, argv, lens, on_submitted, t);
    if (rc) {
        weft_future_release(t->fut);             /* the callback's */
        if (task_take(t)) weft_future_release(t->fut);
        weft_future_release(t->fut);
        return rc;
    }
    *f = t->fut;
    return 0;
}

int weft_dist_result(weft_future *f, int64_t timeout, const void **data, size_t *len,
                     const char **message)
{
    if (data) *data = NULL;
    if (len) *len = 0;
    if (message) *message = "";
    dtask *t = weft_future_hooked_arg(f, &task_hooks);
    if (!t) return -EINVAL;
    int rc = weft_future_result(f, timeout, NULL);
    if (!weft_future_done(f)) return rc;         /* the wait's own error */
    if (data) *data = t->data;
    if (len) *len = t->len;
    if (message && t->msg) *message = t->msg;
    return rc;
}

const char *weft_dist_task_id(weft_future *f)
{
    dtask *t = weft_future_hooked_arg(f, &task_hooks);
    return t ? t->id : NULL;
}

void weft_dist_client_destroy(weft_dist_client *c)
{
    if (!c) return;
    /* (A cancel racing this destroy is the caller's use after free, as for any handle:
     * the futures stay valid, the client does not.) */
    atomic_store(&c->closing, true);
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_thread_join(c->listener, WEFT_FOREVER, NULL);
    weft_scope_leave(&shield);
    weft_thread_release(c->listener);
    weft_redis_close(c->listen);
    weft_redis_close(c->cmd);                    /* submits' callbacks have all run */
    for (size_t b = 0; b < BUCKETS; b++)
        while (c->table[b]) {
            dtask *t = c->table[b];
            pthread_mutex_lock(&c->mu);
            t->state = DONE;
            table_remove_locked(c, t);
            pthread_mutex_unlock(&c->mu);
            task_complete(t, -ESHUTDOWN, NULL, 0, NULL);
        }
    pthread_mutex_destroy(&c->mu);
    free(c->table);
    free(c);
}
