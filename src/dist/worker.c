/* dist/worker.c — the worker: takes tasks from a queue's stream, runs them, records their
 * results once (weft/dist.h, docs/DIST.md).
 *
 * Everything runs as coroutines on one loop (the caller's, or weft_run's): the fetcher
 * (XREADGROUP on a connection of its own, blocking in the server up to 500 ms), one
 * coroutine per task (START, the run, FINISH on the command connection), and the keeper
 * (heartbeats, due delayed tasks, and the takeover of dead workers' tasks). A task runs
 * in its coroutine (COROUTINES), on a thread pool (THREADS) or a process pool (PROCESSES);
 * `slots`, a semaphore of `concurrency` permits, bounds the tasks taken at once.
 *
 * The takeover: a worker's entries stay pending in the stream's consumer group under its
 * name until it records their results. The keeper lists the group's consumers (XPENDING);
 * for each whose heartbeat key has expired it claims the entries idle for over
 * heartbeat_ttl (XCLAIM with that minimum idle time: of two keepers racing, one gets each
 * entry) and runs them; START counts the attempt, so a task that kills every worker that
 * takes it ends as WEFT_ETASKLOST after its attempts.
 *
 * Locking: `mu` guards the list of running jobs (a cold stop cancels them); the rest is
 * the loop's (one thread) or atomic.
 */
#include "dist/internal.h"
#include "dist/scripts.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct reg {
    struct reg *next;
    weft_proc_task fn;
    char name[];
} reg;

enum { RUNNING_ON, STOP_WARM, STOP_COLD };
enum { LOST_RUNS = 3 };              /* runs lost with their workers before ETASKLOST */

struct weft_dist_worker {
    weft_redis *cmd, *fetch;
    dist_scripts scripts;
    weft_dist_worker_opts o;
    char prefix[64], queue[160], name[128];
    char qkey[256], hbkey[256], workers_key[128];
    reg *regs;
    weft_pool *pool;                 /* THREADS */
    weft_procpool *ppool;            /* PROCESSES */
    weft_sem *slots;
    _Atomic int stop;
    _Atomic bool running;
    _Atomic unsigned long done, taken_over;
    _Atomic bool takeover_wanted;    /* a dead worker's tasks wait for free slots: the
                                        fetcher takes no new tasks meanwhile */
    pthread_mutex_t mu;
    dlist jobs;                      /* job.link (mu) */
    size_t njobs;                    /* mu */
    weft_event *idle;                /* set when njobs drops to 0 */
    weft_event *beat_stop;           /* set to end the heartbeat thread */
};

typedef struct job {
    dlist link;
    weft_dist_worker *w;
    weft_future *co;                 /* its coroutine (mu; set after spawn) */
    bool started;                    /* mu: its coroutine has begun (a coroutine cancelled
                                        before it begins never runs: its bookkeeping with
                                        it) */
    char id[DIST_ID_MAX + 1 + 16];   /* a task id, or "malformed-<msgid>" */
    char msgid[DIST_MSGID_MAX + 1];
} job;

static int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static weft_proc_task find(weft_dist_worker *w, const char *name)
{
    for (reg *r = w->regs; r; r = r->next)
        if (strcmp(r->name, name) == 0) return r->fn;
    return NULL;
}

/* ---- running one task ------------------------------------------------------------------ */

typedef struct call {
    weft_proc_task fn;
    const void *arg;
    size_t len;
    void *out;
    size_t out_len;
    int rc;
} call;

static int call_on_thread(void *arg, void **result)
{
    (void)result;
    call *c = arg;
    c->rc = c->fn(c->arg, c->len, &c->out, &c->out_len);
    return 0;
}

/* Runs fn as the mode says, bounded by timeout_ms (0: none). Returns its code; *out (the
 * caller frees) and *out_len its result. -ECANCELED if the job was cancelled (a cold stop). */
static int run_task(weft_dist_worker *w, weft_proc_task fn, const void *arg, size_t len,
                    int64_t timeout_ms, void **out, size_t *out_len)
{
    /* Past INT64_MAX ns (292 years: a decoded field has up to 15 digits) is no limit. */
    int64_t timeout = timeout_ms > 0 && timeout_ms < INT64_MAX / WEFT_MS ? timeout_ms * WEFT_MS
                                                                          : WEFT_FOREVER;
    *out = NULL;
    *out_len = 0;
    if (w->o.mode == WEFT_DIST_PROCESSES) {
        weft_future *f;
        int rc = weft_procpool_submit(w->ppool, &f, fn, arg, len);
        if (rc) return rc;
        const void *data;
        size_t n;
        rc = weft_procpool_result(f, timeout, &data, &n);
        if (!weft_future_done(f)) {
            /* Past its timeout (or this job cancelled): the worker process is killed. */
            weft_future_cancel(f);
            weft_scope shield;
            weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
            weft_future_result(f, WEFT_FOREVER, NULL);
            weft_scope_leave(&shield);
        } else if (rc == 0 && n) {
            *out = malloc(n);
            if (*out) {
                memcpy(*out, data, n);
                *out_len = n;
            } else {
                rc = -ENOMEM;
            }
        }
        weft_future_release(f);
        return rc;
    }
    if (w->o.mode == WEFT_DIST_THREADS) {
        call *c = calloc(1, sizeof *c);
        if (!c) return -ENOMEM;
        c->fn = fn;
        c->arg = arg;
        c->len = len;
        weft_future *f;
        int rc = weft_pool_submit(w->pool, &f, call_on_thread, c);
        if (rc) {
            free(c);
            return rc;
        }
        rc = weft_future_result(f, timeout, NULL);
        if (rc == 0) {
            rc = c->rc;
            *out = c->out;
            *out_len = c->out_len;
            free(c);
        } else {
            /* A thread cannot be stopped: the call goes on; the slot (and c) are held
             * until it ends. */
            weft_scope shield;
            weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
            weft_future_result(f, WEFT_FOREVER, NULL);  /* the slot is held till it ends */
            weft_scope_leave(&shield);
            free(c->out);
            free(c);
        }
        weft_future_release(f);
        return rc;
    }
    weft_scope s;                                /* COROUTINES: the deadline is cooperative */
    weft_scope_enter(&s, timeout, 0);
    int rc = fn(arg, len, out, out_len);
    bool expired = weft_scope_expired(&s);
    weft_scope_leave(&s);
    if (expired && rc >= 0) {
        free(*out);
        *out = NULL;
        *out_len = 0;
        rc = -ETIMEDOUT;
    }
    return rc;
}

/* FINISH with the outcome; the scripts' call is shielded (a cold stop must not leave a
 * result half-told). Returns the script's answer (1 recorded, 2 retried, 0 nothing) or an
 * error. */
static int finish(weft_dist_worker *w, job *j, int rc, const void *data, size_t len, bool final)
{
    char rcs[16], now[24];
    snprintf(rcs, sizeof rcs, "%d", rc);
    snprintf(now, sizeof now, "%lld", (long long)epoch_ms());
    const char *msg = rc < 0 ? weft_errname(rc) : "";
    const char *argv[10] = { w->prefix, w->queue, j->id, j->msgid, rcs, msg,
                             data ? data : "", now, final ? "final" : "", w->name };
    size_t lens[10];
    for (int i = 0; i < 10; i++) lens[i] = i == 6 ? (data ? len : 0) : strlen(argv[i]);
    /* (data is bytes: no strlen on it) */
    weft_redis_reply *r;
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    int e = dist_eval(w->cmd, &w->scripts, DIST_FINISH, &r, 60 * WEFT_SEC, 10, argv, lens);
    weft_scope_leave(&shield);
    int ans = e ? e : (r->type == WEFT_REDIS_INTEGER ? (int)r->integer : -EPROTO);
    weft_redis_reply_free(r);
    if (ans == 1) atomic_fetch_add(&w->done, 1);
    return ans;
}

static void requeue(weft_dist_worker *w, job *j)
{
    const char *argv[4] = { w->prefix, w->queue, j->id, j->msgid };
    weft_redis_reply *r;
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    dist_eval(w->cmd, &w->scripts, DIST_REQUEUE, &r, 60 * WEFT_SEC, 4, argv, NULL);
    weft_scope_leave(&shield);
    weft_redis_reply_free(r);
}

static int job_main(void *arg, void **result)
{
    (void)result;
    job *j = arg;
    weft_dist_worker *w = j->w;
    pthread_mutex_lock(&w->mu);
    j->started = true;                           /* a cold stop cancels it from now on */
    pthread_mutex_unlock(&w->mu);
    char now[24], max[24];
    snprintf(now, sizeof now, "%lld", (long long)epoch_ms());
    snprintf(max, sizeof max, "%zu", w->o.max_message);
    const char *argv[5] = { w->prefix, j->id, w->name, now, max };
    weft_redis_reply *r = NULL;
    if (atomic_load(&w->stop) == STOP_COLD) goto done;   /* left pending: taken over */
    int e = dist_eval(w->cmd, &w->scripts, DIST_START, &r, 60 * WEFT_SEC, 5, argv, NULL);
    if (e == -ECANCELED) {
        /* A cold stop before START ran (or while): the entry stays pending for the
         * takeover, or START ran and counted the attempt — put it back either way. */
        requeue(w, j);
    } else if (e == 0) {
        /* Every field checked before use (dist/message.c); a bad message is recorded as
         * such, final: dead-lettered. */
        dist_start s;
        int what = dist_decode_start(r, w->o.max_message, &s);
        if (what == 0) {
            finish(w, j, 0, NULL, 0, true);       /* has a result: acknowledge only */
        } else if (what < 0) {
            finish(w, j, what, NULL, 0, true);
        } else {
            weft_proc_task fn = find(w, s.name);
            /* The earlier runs that neither failed nor ended it died with their workers
             * (or their outcome was lost): after LOST_RUNS of those it is given up. */
            if (s.attempt - 1 - s.failures >= LOST_RUNS) {
                finish(w, j, WEFT_ETASKLOST, NULL, 0, true);
            } else if (!fn) {
                finish(w, j, WEFT_ENOTASK, NULL, 0, true);
            } else {
                void *out;
                size_t out_len;
                int rc = run_task(w, fn, s.arg, s.arg_len, s.timeout_ms, &out, &out_len);
                if (rc >= 0 && out_len > w->o.max_message) rc = -EMSGSIZE;
                if (rc == -ECANCELED && atomic_load(&w->stop) == STOP_COLD) requeue(w, j);
                else finish(w, j, rc < 0 ? rc : 0, rc < 0 ? NULL : out, out_len, false);
                free(out);
            }
        }
    }
    /* Other errors (the connection): the entry stays pending under this worker's name;
     * a keeper's takeover (ours included) runs it again. */
done:
    weft_redis_reply_free(r);
    pthread_mutex_lock(&w->mu);
    dlist_unlink(&j->link);
    bool last = --w->njobs == 0;
    pthread_mutex_unlock(&w->mu);
    weft_sem_release(w->slots);
    if (last) weft_event_set(w->idle);
    if (j->co) weft_future_release(j->co);
    free(j);
    return 0;
}

/* Starts a job for a decoded stream entry, holding one slot. */
static void start_job(weft_dist_worker *w, const dist_entry *e)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        weft_sem_release(w->slots);              /* left pending: taken over later */
        return;
    }
    j->w = w;
    strcpy(j->msgid, e->msgid);
    /* A malformed entry (not exactly {id: <task id>}) gets an id no task has: START
     * finds no record, and FINISH records WEFT_EBADTASK under it, acknowledges the entry
     * and dead-letters the id. */
    if (e->id[0]) strcpy(j->id, e->id);
    else snprintf(j->id, sizeof j->id, "malformed-%s", j->msgid);
    pthread_mutex_lock(&w->mu);
    dlist_push_back(&w->jobs, &j->link);
    w->njobs++;
    weft_event_clear(w->idle);
    pthread_mutex_unlock(&w->mu);
    weft_future *co;
    if (weft_spawn(&co, job_main, j) != 0) {
        pthread_mutex_lock(&w->mu);
        dlist_unlink(&j->link);
        bool last = --w->njobs == 0;
        pthread_mutex_unlock(&w->mu);
        if (last) weft_event_set(w->idle);
        free(j);
        weft_sem_release(w->slots);
        return;
    }
    pthread_mutex_lock(&w->mu);
    j->co = co;                                  /* the job frees j: this is before it can */
    pthread_mutex_unlock(&w->mu);
}

/* ---- the keeper: heartbeats, due tasks, takeovers ------------------------------------------ */

/* True if a job of ours runs stream entry msgid. */
static bool running_here(weft_dist_worker *w, const char *msgid)
{
    bool found = false;
    pthread_mutex_lock(&w->mu);
    for (dlist *l = w->jobs.next; l != &w->jobs && !found; l = l->next)
        found = strcmp(dlist_entry(l, job, link)->msgid, msgid) == 0;
    pthread_mutex_unlock(&w->mu);
    return found;
}

static void takeover(weft_dist_worker *w)
{
    weft_redis_reply *sum;
    if (weft_redis_callf(w->cmd, &sum, 10 * WEFT_SEC, "XPENDING %s workers", w->qkey) != 0) {
        weft_redis_reply_free(sum);
        return;
    }
    const weft_redis_reply *cons = sum->elements == 4 ? sum->element[3] : NULL;
    long long idle_ms = w->o.heartbeat_ttl / WEFT_MS;
    bool more = false;                           /* dead workers' tasks left unclaimed */
    for (size_t i = 0; cons && cons->type == WEFT_REDIS_ARRAY && i < cons->elements; i++) {
        const weft_redis_reply *c = cons->element[i];
        if (c->type != WEFT_REDIS_ARRAY || c->elements < 1 || !c->element[0]->str) continue;
        const char *name = c->element[0]->str;
        /* Our own entries too: those no job of ours holds were left by an earlier run
         * under our name (killed, restarted with the same name), by a job whose START or
         * FINISH was lost with a broken connection, or by a fetch whose reply never came. */
        bool self = strcmp(name, w->name) == 0;
        if (!self) {
            weft_redis_reply *alive;
            int rc = weft_redis_callf(w->cmd, &alive, 10 * WEFT_SEC, "EXISTS %s:w:%s",
                                      w->prefix, name);
            bool dead = rc == 0 && alive->type == WEFT_REDIS_INTEGER && alive->integer == 0;
            weft_redis_reply_free(alive);
            if (!dead) continue;
        }
        /* As many entries as there are free slots, taken without waiting (the keeper's
         * heartbeats must go on); the rest wait for a later round. */
        size_t slots = 0;
        while (slots < 100 && weft_sem_acquire(w->slots, 0) == 0) slots++;
        if (slots == 0) {
            more = true;                         /* the fetcher will leave slots free */
            continue;
        }
        weft_redis_reply *ids;
        int rc = weft_redis_callf(w->cmd, &ids, 10 * WEFT_SEC,
                              "XPENDING %s workers IDLE %lld - + %d %s", w->qkey, idle_ms, (int)slots,
                              name);
        size_t claimed = 0;
        if (rc == 0 && ids->type == WEFT_REDIS_ARRAY && ids->elements) {
            const char *argv[7 + 100];
            argv[0] = "XCLAIM";
            argv[1] = w->qkey;
            argv[2] = "workers";
            argv[3] = w->name;
            char idle[24];
            snprintf(idle, sizeof idle, "%lld", idle_ms);
            argv[4] = idle;
            int n = 5;
            for (size_t k = 0; k < ids->elements && k < 100; k++)
                if (ids->element[k]->elements >= 1 && ids->element[k]->element[0]->str &&
                    !(self && running_here(w, ids->element[k]->element[0]->str)))
                    argv[n++] = ids->element[k]->element[0]->str;
            /* JUSTID: the entries themselves are read by the TAKE script, which checks
             * them on the server (an entry too big to read must not come here: it would
             * break this connection at every round). */
            argv[n++] = "JUSTID";
            weft_redis_reply *got = NULL, *ids2 = NULL;
            if (n > 6 && weft_redis_call(w->cmd, &got, 10 * WEFT_SEC, n, argv, NULL) == 0 &&
                got->type == WEFT_REDIS_ARRAY && got->elements) {
                const char *targv[2 + 100];
                int tn = 0;
                targv[tn++] = w->prefix;
                targv[tn++] = w->queue;
                for (size_t k = 0; k < got->elements && tn < 2 + 100; k++)
                    if (got->element[k]->type == WEFT_REDIS_STRING)
                        targv[tn++] = got->element[k]->str;
                if (tn > 2 && dist_eval(w->cmd, &w->scripts, DIST_TAKE, &ids2, 10 * WEFT_SEC,
                                        tn, targv, NULL) == 0 &&
                    ids2->type == WEFT_REDIS_ARRAY && ids2->elements == (size_t)(tn - 2)) {
                    for (size_t k = 0; k < ids2->elements; k++) {
                        if (claimed == slots) break;       /* cannot happen: COUNT slots */
                        const weft_redis_reply *id = ids2->element[k];
                        if (id->type != WEFT_REDIS_STRING || id->len == 0 ||
                            id->len > DIST_ID_MAX || strlen(targv[2 + k]) > DIST_MSGID_MAX)
                            continue;              /* gone, or dead-lettered by TAKE */
                        dist_entry e;
                        memset(&e, 0, sizeof e);
                        strcpy(e.msgid, targv[2 + k]);
                        memcpy(e.id, id->str, id->len);
                        start_job(w, &e);
                        claimed++;
                    }
                }
            }
            weft_redis_reply_free(ids2);
            weft_redis_reply_free(got);
            atomic_fetch_add(&w->taken_over, claimed);
        }
        for (size_t k = claimed; k < slots; k++) weft_sem_release(w->slots);
        if (claimed == slots) more = true;       /* there may be more */
        if (self && claimed == slots) more = false;   /* ours: no hurry, next round */
        weft_redis_reply_free(ids);
        /* A dead worker stays a consumer of the group (XGROUP DELCONSUMER is not atomic
         * with "it holds nothing": a worker wrongly thought dead could lose an entry). */
    }
    weft_redis_reply_free(sum);
    atomic_store(&w->takeover_wanted, more);
}

static void heartbeat(weft_dist_worker *w)
{
    long long now = epoch_ms(), ttl = w->o.heartbeat_ttl / WEFT_MS;
    weft_redis_reply *r;
    weft_redis_callf(w->cmd, &r, 10 * WEFT_SEC, "SET %s %lld PX %lld", w->hbkey, now, ttl);
    weft_redis_reply_free(r);
    weft_redis_callf(w->cmd, &r, 10 * WEFT_SEC, "HSET %s %s %lld", w->workers_key, w->name, now);
    weft_redis_reply_free(r);
}

static void promote(weft_dist_worker *w)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)epoch_ms());
    const char *argv[3] = { w->prefix, w->queue, now };
    weft_redis_reply *r;
    dist_eval(w->cmd, &w->scripts, DIST_PROMOTE, &r, 10 * WEFT_SEC, 3, argv, NULL);
    weft_redis_reply_free(r);
}

/* The heartbeat has a thread of its own: a task that holds the loop (a coroutine worker's
 * CPU-bound task) must not make the worker look dead, or its tasks would run twice. */
static int beat_main(void *arg, void **result)
{
    (void)result;
    weft_dist_worker *w = arg;
    do heartbeat(w);
    while (weft_event_wait(w->beat_stop, w->o.heartbeat) == -ETIMEDOUT);
    return 0;
}

static int keeper_main(void *arg, void **result)
{
    (void)result;
    weft_dist_worker *w = arg;
    int64_t next_round = 0;
    while (atomic_load(&w->stop) == RUNNING_ON) {
        int64_t now = weft_now();
        if (now >= next_round || atomic_load(&w->takeover_wanted)) {
            takeover(w);                         /* (wanted: into the slots the fetcher
                                                    leaves free) */
            next_round = now + w->o.heartbeat;
        }
        promote(w);                              /* delayed and backed-off tasks */
        if (weft_sleep(100 * WEFT_MS) != 0) break;
    }
    return 0;
}

/* ---- the run ----------------------------------------------------------------------------- */

static int ensure_group(weft_dist_worker *w)
{
    weft_redis_reply *r;
    int rc = weft_redis_callf(w->cmd, &r, 10 * WEFT_SEC, "XGROUP CREATE %s workers 0 MKSTREAM",
                              w->qkey);
    if (rc == WEFT_EREDIS && strncmp(r->str, "BUSYGROUP", 9) == 0) rc = 0;
    weft_redis_reply_free(r);
    return rc;
}

typedef struct run_args {
    weft_dist_worker *w;
    weft_signal_receiver *rx;        /* SIGTERM and SIGINT, or NULL */
} run_args;

static int signal_watch_main(void *arg, void **result)
{
    (void)result;
    run_args *a = arg;
    weft_dist_worker *w = a->w;
    weft_signal_receiver *rx = a->rx;
    int seen = 0;
    while (atomic_load(&w->running) && seen < 2) {
        int signo;
        int rc = weft_signal_next(rx, 200 * WEFT_MS, &signo);
        if (rc == 0) weft_dist_worker_stop(w, ++seen == 2);
        else if (rc != -ETIMEDOUT) break;
    }
    return 0;
}

static int run_body(void *arg, void **result)
{
    (void)result;
    run_args *a = arg;
    weft_dist_worker *w = a->w;
    int rc = ensure_group(w);
    if (rc) return rc;
    weft_event_clear(w->beat_stop);
    weft_thread *beat = NULL;
    weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
    to.name = "weft-dist-beat";
    rc = weft_thread_start(&beat, &to, beat_main, w);
    if (rc) return rc;
    weft_future *keeper = NULL, *watcher = NULL;
    rc = weft_spawn(&keeper, keeper_main, w);
    if (!rc && a->rx) rc = weft_spawn(&watcher, signal_watch_main, a);
    while (!rc && atomic_load(&w->stop) == RUNNING_ON) {
        /* Wait for a free slot, then ask for as many tasks as there are free slots (to
         * 100). The slots are taken only for the tasks that come: held while blocking in
         * XREADGROUP, they would starve the keeper's takeovers. */
        if (atomic_load(&w->takeover_wanted)) {
            /* A dead worker's tasks come first (they have waited longest): leave the
             * slots that free up to the keeper. */
            weft_sleep(20 * WEFT_MS);
            continue;
        }
        if (weft_sem_acquire(w->slots, 200 * WEFT_MS) != 0) continue;
        weft_sem_release(w->slots);
        unsigned free_slots = weft_sem_value(w->slots);
        int n = free_slots < 1 ? 1 : free_slots > 100 ? 100 : (int)free_slots;
        weft_redis_reply *r;
        int e = weft_redis_callf(w->fetch, &r, 10 * WEFT_SEC,
                                 "XREADGROUP GROUP workers %s COUNT %d BLOCK 500 STREAMS %s >",
                                 w->name, n, w->qkey);
        if (e == 0 && r->type == WEFT_REDIS_ARRAY && r->elements == 1 &&
            r->element[0]->elements == 2) {
            const weft_redis_reply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                dist_entry de;
                if (dist_decode_entry(entries->element[i], &de) != 0)
                    continue;                    /* no stream id: nothing to do with it */
                /* Ours now (pending under our name): wait for its slot if the keeper took
                 * one meanwhile. A cold stop may cut this wait: the rest stay pending, to
                 * be taken over. */
                int got;
                while ((got = weft_sem_acquire(w->slots, 200 * WEFT_MS)) == -ETIMEDOUT &&
                       atomic_load(&w->stop) != STOP_COLD) {}
                if (got != 0) break;             /* a cold stop: the rest stay pending */
                start_job(w, &de);
            }
        } else if (e == WEFT_EREDIS && r && strncmp(r->str, "NOGROUP", 7) == 0) {
            ensure_group(w);                     /* the stream was deleted (or a restart) */
        } else if (e != 0) {
            weft_sleep(100 * WEFT_MS);           /* the connection is down: it comes back */
        }
        weft_redis_reply_free(r);
    }
    /* Stopping: a cold stop cancels the jobs (each puts its task back); a warm one lets
     * them finish. */
    if (atomic_load(&w->stop) == STOP_COLD) {
        pthread_mutex_lock(&w->mu);
        for (dlist *l = w->jobs.next; l != &w->jobs; l = l->next) {
            job *j = dlist_entry(l, job, link);
            if (j->co && j->started) weft_future_cancel(j->co);
        }
        pthread_mutex_unlock(&w->mu);
    }
    weft_scope shield;
    weft_scope_enter(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_event_wait(w->idle, WEFT_FOREVER);
    if (keeper) {
        weft_future_cancel(keeper);
        weft_future_result(keeper, WEFT_FOREVER, NULL);
        weft_future_release(keeper);
    }
    atomic_store(&w->running, false);
    if (watcher) {
        weft_future_result(watcher, WEFT_FOREVER, NULL);
        weft_future_release(watcher);
    }
    weft_event_set(w->beat_stop);
    weft_thread_join(beat, WEFT_FOREVER, NULL);
    weft_thread_release(beat);
    /* A clean end: no takeover needed. Briefly (the server may be gone: then the key
     * expires by itself). */
    weft_redis_reply *r;
    weft_redis_callf(w->cmd, &r, WEFT_SEC, "DEL %s", w->hbkey);
    weft_redis_reply_free(r);
    weft_redis_callf(w->cmd, &r, WEFT_SEC, "HDEL %s %s", w->workers_key, w->name);
    weft_redis_reply_free(r);
    weft_scope_leave(&shield);
    return rc;
}

static int run(weft_dist_worker *w, bool signals)
{
    if (!w) return -EINVAL;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&w->running, &expected, true)) return -EBUSY;
    /* A stop asked for before the run (a SIGTERM between create and run) is kept: the
     * run then ends at once. */
    /* On the heap: the signal watcher coroutine reads it while this caller waits (a
     * compact caller's frames move meanwhile, and weft_spawn refuses a pointer to them). */
    run_args *a = calloc(1, sizeof *a);
    if (!a) {
        atomic_store(&w->running, false);
        return -ENOMEM;
    }
    a->w = w;
    /* The signals are watched from before the run begins: a SIGTERM that came before the
     * watcher's coroutine first ran killed the worker (their default action). */
    static const int sigs[2] = { SIGTERM, SIGINT };
    int rc = signals ? weft_signal_open(&a->rx, sigs, 2) : 0;
    if (rc) {
        atomic_store(&w->running, false);
        free(a);
        return rc;
    }
    void *res = NULL;
    rc = weft_in_coroutine() ? run_body(a, &res) : weft_run(run_body, a, &res);
    atomic_store(&w->running, false);
    if (a->rx) weft_signal_close(a->rx);
    free(a);
    atomic_store(&w->stop, RUNNING_ON);          /* for a later run */
    return rc;
}

int weft_dist_worker_run(weft_dist_worker *w)
{
    return run(w, false);
}

int weft_dist_worker_run_until_signalled(weft_dist_worker *w)
{
    return run(w, true);
}

int weft_dist_worker_stop(weft_dist_worker *w, bool now)
{
    if (!w) return -EINVAL;
    int want = now ? STOP_COLD : STOP_WARM, cur = atomic_load(&w->stop);
    while (cur < want && !atomic_compare_exchange_weak(&w->stop, &cur, want)) {}
    return 0;
}

unsigned long weft_dist_worker_done(weft_dist_worker *w)
{
    return w ? atomic_load(&w->done) : 0;
}

unsigned long weft_dist_worker_taken_over(weft_dist_worker *w)
{
    return w ? atomic_load(&w->taken_over) : 0;
}

int weft_dist_worker_register(weft_dist_worker *w, const char *name, weft_proc_task fn)
{
    if (!w || !name || !*name || !fn) return -EINVAL;
    if (atomic_load(&w->running)) return -EBUSY;
    if (find(w, name)) return -EEXIST;
    reg *r = malloc(sizeof *r + strlen(name) + 1);
    if (!r) return -ENOMEM;
    r->fn = fn;
    strcpy(r->name, name);
    r->next = w->regs;
    w->regs = r;
    return 0;
}

static int cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int weft_dist_worker_create(weft_dist_worker **out, const char *url,
                            const weft_dist_worker_opts *opts)
{
    static const weft_dist_worker_opts defaults = WEFT_DIST_WORKER_OPTS_INIT;
    if (!out || !url) return -EINVAL;
    const weft_dist_worker_opts *o = opts ? opts : &defaults;
    if (o->mode < WEFT_DIST_COROUTINES || o->mode > WEFT_DIST_PROCESSES ||
        o->concurrency < 0 || o->heartbeat < 0 || o->heartbeat_ttl < 0 ||
        o->max_message > ((size_t)512 << 20))
        return -EINVAL;
    weft_dist_worker *w = calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->o = *o;
    if (!w->o.heartbeat) w->o.heartbeat = defaults.heartbeat;
    if (!w->o.max_message) w->o.max_message = WEFT_DIST_MAX_MESSAGE;
    if (!w->o.heartbeat_ttl) w->o.heartbeat_ttl = defaults.heartbeat_ttl;
    if (w->o.heartbeat_ttl < 2 * w->o.heartbeat) w->o.heartbeat_ttl = 2 * w->o.heartbeat;
    if (!w->o.concurrency) w->o.concurrency = o->mode == WEFT_DIST_COROUTINES ? 1000 : cpus();
    const char *prefix = o->prefix ? o->prefix : "weft";
    const char *queue = o->queue ? o->queue : "default";
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    if (o->name) snprintf(w->name, sizeof w->name, "%s", o->name);
    else snprintf(w->name, sizeof w->name, "%s.%d", host, (int)getpid());
    if (!*prefix || !*queue || strlen(prefix) >= sizeof w->prefix ||
        strlen(queue) >= sizeof w->queue || (o->name && strlen(o->name) >= sizeof w->name) ||
        !*w->name) {
        free(w);
        return -EINVAL;
    }
    strcpy(w->prefix, prefix);
    strcpy(w->queue, queue);
    snprintf(w->qkey, sizeof w->qkey, "%s:q:%s", prefix, queue);
    snprintf(w->hbkey, sizeof w->hbkey, "%s:w:%s", prefix, w->name);
    snprintf(w->workers_key, sizeof w->workers_key, "%s:workers", prefix);
    pthread_mutex_init(&w->mu, NULL);
    dlist_init(&w->jobs);
    int rc = weft_sem_create(&w->slots, (unsigned)w->o.concurrency, false);
    if (!rc) rc = weft_event_create(&w->idle);
    if (!rc) rc = weft_event_create(&w->beat_stop);
    if (!rc) weft_event_set(w->idle);
    if (!rc && o->mode == WEFT_DIST_PROCESSES) {
        weft_procpool_opts po = WEFT_PROCPOOL_OPTS_INIT;   /* first: fork before threads */
        po.workers = w->o.concurrency;
        po.max_message = w->o.max_message;       /* a larger result: -EMSGSIZE there */
        rc = weft_procpool_create(&w->ppool, &po);
    }
    if (!rc && o->mode == WEFT_DIST_THREADS) {
        weft_pool_opts po = { .max_workers = w->o.concurrency };
        rc = weft_pool_create(&w->pool, &po);
    }
    /* Bounded replies: START's carries at most max_message of argument (the script
     * checks); the fetcher's XREADGROUP carries up to 100 entries of a task id each — an
     * entry larger than that (someone else's) fails the read with -EMSGSIZE, stays pending
     * under our name, and our takeover's TAKE script dead-letters it without reading it. */
    weft_redis_opts ro = WEFT_REDIS_OPTS_INIT;
    ro.max_reply = w->o.max_message + (1 << 20);
    if (!rc) rc = weft_redis_connect(&w->cmd, url, &ro);
    ro.max_reply = 1 << 20;
    if (!rc) rc = weft_redis_connect(&w->fetch, url, &ro);
    if (!rc) rc = dist_scripts_load(w->cmd, &w->scripts);
    if (rc) {
        weft_dist_worker_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

void weft_dist_worker_destroy(weft_dist_worker *w)
{
    if (!w) return;
    weft_redis_close(w->fetch);
    weft_redis_close(w->cmd);
    if (w->ppool) weft_procpool_destroy(w->ppool);
    if (w->pool) weft_pool_destroy(w->pool);
    if (w->slots) weft_sem_destroy(w->slots);
    if (w->idle) weft_event_destroy(w->idle);
    if (w->beat_stop) weft_event_destroy(w->beat_stop);
    while (w->regs) {
        reg *r = w->regs;
        w->regs = r->next;
        free(r);
    }
    pthread_mutex_destroy(&w->mu);
    free(w);
}
