/* The thread pool under stress.
 *
 * Phase 1: up to a million jobs submitted at once to one pool (4 workers) by four threads
 * and by four coroutines on each of two loops, with random failures, random cancellations
 * (at once, so mostly while queued, and later, so sometimes while running: jobs that spin
 * or sleep until cancelled), jobs that submit jobs of their own (and wait for them, cancel
 * them or drop them), done callbacks added and taken back, futures kept and waited for
 * (weft_wait ALL / FIRST_COMPLETED / FIRST_EXCEPTION, as_completed, weft_future_result) or
 * released early. Then shutdown(wait=true).
 * Phase 2, in rounds: gate jobs hold the workers while the submitters fill the queue; the
 * gate opens and, while the submitters are still submitting, shutdown(wait=false,
 * cancel_futures=true): later submits fail with -ESHUTDOWN, queued jobs are cancelled,
 * nothing hangs.
 *
 * Every job has a record (its index is the job's id): what it did (started, finished, what
 * it returned, whether it saw weft_cancelled()), what its holder did (cancelled it and what
 * the cancel said, kept and waited for it) and what its done callback saw. At the end every
 * record must tell a consistent story: each future was completed exactly once and its done
 * callback ran exactly once; a job ran at most once and then its future holds what it
 * returned; a job that never ran was cancelled (by hand, or by the shutdown in phase 2); a
 * job cancelled while queued never ran; a job whose submit failed never ran and got no
 * future; the outcomes add up to the number of submissions; no failure went unretrieved.
 * Nothing here depends on timing for correctness: the expectations come from the records.
 *
 * The native run stops at 10^6 jobs or after about 3 s, whichever comes first (sanitizers
 * and Valgrind: 10^5 or 4 s), and counts what it submitted; it takes about 2 s in all. The
 * random generator is seeded with a fixed value (printed; WEFT_TEST_SEED=0x... overrides
 * it); each submitter's choices are reproducible, the interleaving is not.
 */
#include "check.h"

#include <stdatomic.h>

/* ---------------------------------------------------------------- random ------------ */

static uint64_t seed = 0x5EEDF00DCAFEBABEull;

/* ---------------------------------------------------------------- records ----------- */

enum {
    K_OK,        /* returns 0 and a result */
    K_FAIL,      /* returns -EIO or -EDOM */
    K_SPIN,      /* spins a few µs, polling weft_cancelled() */
    K_SLEEP,     /* weft_sleep a few dozen µs (-ECANCELED if cancelled meanwhile) */
    K_NESTED,    /* submits a job of its own; waits for it, cancels it or drops it */
    K_GATE,      /* phase 2: holds a worker until the gate opens */
    K_LONG,      /* waits (or spins) up to a few ms: its holder cancels it, likely running */
};

enum {
    C_NONE,      /* never cancelled */
    C_ZERO,      /* weft_future_cancel returned 0 */
    C_BUSY,      /* weft_future_cancel returned -EBUSY */
};

typedef struct {
    /* The job's (its worker thread). */
    atomic_int started, finished;
    int rc;                  /* what it returned */
    bool saw_cancel;         /* weft_cancelled() was true */
    bool late_start;         /* phase 2: started after shutdown(cancel_futures) returned */
    /* The callbacks'. */
    atomic_int cbs, extra_cbs;
    int cb_rc;               /* the outcome the done callback read */
    bool cb_res_ok;          /* and its result was the job's */
    /* The submitter's, or the nesting job's (set before the submit: kind, depth, param). */
    uint8_t kind, depth, cancel;
    uint32_t param;
    bool submitted, refused; /* weft_pool_submit returned 0 / -ESHUTDOWN */
    bool cancel_pre;         /* cancelled while queued: it must never run */
    bool has_extra, extra_pending, extra_removed;
    bool waited;             /* its holder waited for it and read waited_rc */
    int waited_rc;
} rec;

typedef struct {
    weft_pool *pool;
    rec *recs;
    long cap;                       /* ids available */
    atomic_long next_id;
    atomic_long submitted;          /* counted before the submit (undone if it fails) */
    atomic_long callbacks;          /* done callbacks run */
    atomic_long refused;            /* submits that returned -ESHUTDOWN */
    atomic_long late_starts;
    atomic_long started_jobs;
    atomic_long nested;             /* submits from jobs */
    atomic_long busy_not_done;      /* cancel said -EBUSY of a future not yet done */
    atomic_bool shut_returned;      /* phase 2: shutdown(cancel_futures) has returned */
    bool phase2;
    int64_t end;                    /* submitters stop then */
    weft_event *gate;
} stress;

static stress S;

#define WAIT_LIMIT (60 * WEFT_SEC)  /* a lost completion fails here, not at meson's timeout */
#define NO_ID 1                     /* submit_job: the ids are used up */

static atomic_long unretrieved;

static void count_unretrieved(weft_future *f, int err, void *arg)
{
    (void)f; (void)arg;
    fprintf(stderr, "unretrieved: a future failed with %s and nobody read it\n",
            weft_errname(err));
    atomic_fetch_add(&unretrieved, 1);
}

static long id_of(const rec *x)
{
    return (long)(x - S.recs);
}

static void *expected_result(const rec *x)
{
    return (void *)(uintptr_t)(id_of(x) * 2 + 1);
}

static int failure_of(const rec *x)
{
    return id_of(x) & 1 ? -EIO : -EDOM;
}

/* The done callback: exactly once per future. It reads the outcome (a 0 timeout on a done
 * future does not wait) and so also marks it retrieved. */
static void on_done(weft_future *f, void *arg)
{
    rec *x = arg;
    void *res = NULL;
    int rc = weft_future_result(f, 0, &res);
    CHECK(rc != -ETIMEDOUT);
    CHECK(weft_future_done(f));
    CHECK_EQ(weft_future_cancelled(f), rc == -ECANCELED);
    x->cb_rc = rc;
    x->cb_res_ok = rc != 0 || res == expected_result(x);
    atomic_fetch_add(&x->cbs, 1);
    atomic_fetch_add(&S.callbacks, 1);
}

/* A callback added and then taken back: it runs only if the remove came too late. */
static void extra_cb(weft_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add(&((rec *)arg)->extra_cbs, 1);
}

/* ---------------------------------------------------------------- jobs -------------- */

static void take_back_extra(weft_future *f, rec *x)
{
    if (!x->extra_pending) return;
    x->extra_pending = false;
    int n = weft_future_remove_done_callback(f, extra_cb, x);
    CHECK(n == 0 || n == 1);
    x->extra_removed = n == 1;
}

/* Its holder lets go of f. */
static void drop(weft_future *f, rec *x)
{
    take_back_extra(f, x);
    weft_future_release(f);
}

static int job_fn(void *arg, void **result);

/* Cancels f (held by the caller) and records what the cancel said. */
static void cancel_job(weft_future *f, rec *x)
{
    int rc = weft_future_cancel(f);
    if (rc == -EBUSY) {
        if (x->cancel == C_NONE) x->cancel = C_BUSY;   /* a second cancel keeps the first's */
        /* "-EBUSY: already done". During a shutdown(cancel_futures) the pool may have
         * claimed the job and not yet completed it: counted, not failed. */
        if (!weft_future_done(f)) {
            CHECK(S.phase2);
            atomic_fetch_add(&S.busy_not_done, 1);
        }
        return;
    }
    CHECK_OK(rc);
    CHECK(x->cancel != C_BUSY);                  /* once done, never pending again */
    x->cancel = C_ZERO;
    /* A job that never looks at weft_cancelled() and ends -ECANCELED was cancelled while
     * queued (a running one returns its own outcome). */
    if ((x->kind == K_OK || x->kind == K_FAIL) && weft_future_done(f) &&
        weft_future_cancelled(f))
        x->cancel_pre = true;
}

static uint8_t pick_kind(rng *r, int depth)
{
    uint32_t c = below(r, 1000);
    if (S.phase2) {
        if (c < 300) return K_SLEEP;
        if (c < 305) return K_LONG;
        if (c < 350) return K_SPIN;
        if (c < 400 && depth < 2) return K_NESTED;
        return c < 700 ? K_OK : K_FAIL;
    }
    if (c < 1) return K_LONG;
    if (c < 30) return K_SPIN;
    if (c < 40) return K_SLEEP;
    if (c < 70 && depth < 2) return K_NESTED;
    return c < 750 ? K_OK : K_FAIL;
}

/* Takes an id and submits a job for it (kind < 0: a random one), with its done callback
 * (and maybe an extra one, taken back). 0 and *f, NO_ID, or -ESHUTDOWN (phase 2). */
static int submit_job(rng *r, int depth, int kind, weft_future **f, rec **xp)
{
    long id = atomic_fetch_add_explicit(&S.next_id, 1, memory_order_relaxed);
    if (id >= S.cap) return NO_ID;
    rec *x = &S.recs[id];
    x->kind = kind >= 0 ? (uint8_t)kind : pick_kind(r, depth);
    x->depth = (uint8_t)depth;
    x->param = (uint32_t)rng_next(r);
    bool after_shutdown = atomic_load(&S.shut_returned);
    atomic_fetch_add(&S.submitted, 1);
    weft_future *g = (weft_future *)&S;          /* must stay untouched on failure */
    int rc = weft_pool_submit(S.pool, &g, job_fn, x);
    if (rc) {
        atomic_fetch_sub(&S.submitted, 1);
        CHECK(S.phase2);
        CHECK_RC(rc, -ESHUTDOWN);
        CHECK_PTR(g, (void *)&S);
        x->refused = true;
        atomic_fetch_add(&S.refused, 1);
        return rc;
    }
    CHECK(!after_shutdown);                      /* after shutdown: -ESHUTDOWN, always */
    x->submitted = true;
    if (below(r, 16) == 0) {
        x->has_extra = true;
        CHECK_OK(weft_future_add_done_callback(g, extra_cb, x));
    }
    CHECK_OK(weft_future_add_done_callback(g, on_done, x));
    x->extra_pending = x->has_extra;
    if (x->has_extra && below(r, 2)) take_back_extra(g, x);   /* else when it is dropped */
    *f = g;
    *xp = x;
    return 0;
}

static int nested_job(rec *x, void **result)
{
    rng r;
    rng_seed(&r, x->param);
    weft_future *c;
    rec *cx;
    int rc = submit_job(&r, x->depth + 1, -1, &c, &cx);
    if (rc == NO_ID || rc == -ESHUTDOWN) {
        *result = expected_result(x);
        return 0;
    }
    CHECK_OK(rc);
    atomic_fetch_add(&S.nested, 1);
    int ret = 0;
    switch (below(&r, 4)) {
    case 0:
    case 1: {            /* waits: a queued child runs here, a running one is waited for */
        void *res = NULL;
        int crc = weft_future_result(c, WAIT_LIMIT, &res);
        CHECK(crc != -ETIMEDOUT);
        if (weft_cancelled()) {                  /* this job was cancelled meanwhile */
            x->saw_cancel = true;
            ret = -ECANCELED;
        } else {
            CHECK(weft_future_done(c));
            cx->waited = true;
            cx->waited_rc = crc;
            CHECK(crc != 0 || res == expected_result(cx));
        }
        break;
    }
    case 2:
        cancel_job(c, cx);
        break;
    default:             /* dropped: it runs anyway */
        break;
    }
    drop(c, cx);
    if (ret == 0) *result = expected_result(x);
    return ret;
}

static int job_fn(void *arg, void **result)
{
    rec *x = arg;
    CHECK_EQ(atomic_fetch_add(&x->started, 1), 0);
    atomic_fetch_add_explicit(&S.started_jobs, 1, memory_order_relaxed);
    if (atomic_load(&S.shut_returned)) {
        x->late_start = true;
        atomic_fetch_add(&S.late_starts, 1);
    }
    int rc = 0;
    switch (x->kind) {
    case K_OK:
        *result = expected_result(x);
        break;
    case K_FAIL:
        rc = failure_of(x);
        break;
    case K_SPIN: {
        int64_t until = weft_now() + (int64_t)(2 + x->param % 20) * WEFT_US;
        while (weft_now() < until && !weft_cancelled()) {}
        if (weft_cancelled()) {
            x->saw_cancel = true;
            rc = -ECANCELED;
        } else {
            *result = expected_result(x);
        }
        break;
    }
    case K_SLEEP:
        rc = weft_sleep((int64_t)(20 + x->param % 200) * WEFT_US);
        if (rc) {
            CHECK_RC(rc, -ECANCELED);
            CHECK(weft_cancelled());
            x->saw_cancel = true;
        } else {
            *result = expected_result(x);
        }
        break;
    case K_NESTED:
        rc = nested_job(x, result);
        break;
    case K_LONG:
        if (x->param & 1) {
            int64_t until = weft_now() + 2 * WEFT_MS;
            while (weft_now() < until && !weft_cancelled()) {}
            rc = weft_cancelled() ? -ECANCELED : 0;
        } else {
            rc = weft_sleep(5 * WEFT_MS);
            CHECK(rc == 0 || rc == -ECANCELED);
            CHECK_EQ(rc == -ECANCELED, weft_cancelled());
        }
        if (rc) x->saw_cancel = true;
        else *result = expected_result(x);
        break;
    case K_GATE:
        CHECK_OK(weft_event_wait(S.gate, WAIT_LIMIT));
        *result = expected_result(x);
        break;
    default:
        CHECK(!"unknown kind");
    }
    x->rc = rc;
    atomic_fetch_add(&x->finished, 1);
    return rc;
}

/* ---------------------------------------------------------------- submitters -------- */

enum { WINDOW = 48, RING = 32 };

typedef struct {
    int slot;
    bool coro;
    rng r;
    long submitted, refused, cancels_now, cancels_later, released_early;
    long waits[5];
} submitter;

/* After a wait: the future is done and says what the record says. */
static void check_waited(weft_future *f, rec *x)
{
    void *res = NULL;
    int rc = weft_future_result(f, 0, &res);
    CHECK(rc != -ETIMEDOUT);
    if (atomic_load(&x->started)) {
        CHECK_EQ(atomic_load(&x->finished), 1);
        CHECK_RC(rc, x->rc);
    } else {
        CHECK_RC(rc, -ECANCELED);
    }
    CHECK(rc != 0 || res == expected_result(x));
    x->waited = true;
    x->waited_rc = rc;
}

/* Waits for the kept futures one way or another, then releases them. */
static void drain_window(submitter *s, weft_future **fs, rec **xs, int n)
{
    bool done[WINDOW];
    int how = (int)below(&s->r, 5);
    s->waits[how]++;
    switch (how) {
    case 0:
        CHECK_EQ(weft_wait(fs, (size_t)n, WEFT_ALL_COMPLETED, WAIT_LIMIT, done), n);
        for (int i = 0; i < n; i++) CHECK(done[i]);
        break;
    case 1: {
        int k = weft_wait(fs, (size_t)n, WEFT_FIRST_COMPLETED, WAIT_LIMIT, done);
        CHECK_BETWEEN(k, 1, n);
        int seen = 0;
        for (int i = 0; i < n; i++) {
            if (done[i]) CHECK(weft_future_done(fs[i]));
            seen += done[i];
        }
        CHECK_EQ(seen, k);
        k = weft_wait(fs, (size_t)n, WEFT_FIRST_EXCEPTION, WAIT_LIMIT, done);
        CHECK_BETWEEN(k, 1, n);
        if (k < n) {                            /* returned early: something failed */
            bool failed = false;
            for (int i = 0; i < n; i++)
                if (done[i]) {
                    int rc = weft_future_result(fs[i], 0, NULL);
                    failed |= rc < 0 && rc != -ECANCELED;
                }
            CHECK(failed);
        }
        CHECK_EQ(weft_wait(fs, (size_t)n, WEFT_ALL_COMPLETED, WAIT_LIMIT, NULL), n);
        break;
    }
    case 2: {
        weft_as_completed *it;
        CHECK_OK(weft_as_completed_create(&it, fs, (size_t)n, WAIT_LIMIT));
        bool seen[WINDOW] = { false };
        for (int k = 0; k < n; k++) {
            weft_future *f = NULL;
            CHECK_OK(weft_as_completed_next(it, &f));
            CHECK(weft_future_done(f));
            int i = 0;
            while (i < n && fs[i] != f) i++;
            CHECK(i < n);
            CHECK(!seen[i]);
            seen[i] = true;
        }
        weft_future *f = NULL;
        CHECK_RC(weft_as_completed_next(it, &f), -ENOENT);
        weft_as_completed_destroy(it);
        break;
    }
    case 3:
        for (int i = 0; i < n; i++) CHECK(weft_future_result(fs[i], WAIT_LIMIT, NULL) != -ETIMEDOUT);
        break;
    default:                                     /* released unread (some cancelled first) */
        for (int i = 0; i < n; i++) {
            if (below(&s->r, 4) == 0) cancel_job(fs[i], xs[i]);
            drop(fs[i], xs[i]);
        }
        s->released_early += n;
        return;
    }
    for (int i = 0; i < n; i++) {
        check_waited(fs[i], xs[i]);
        drop(fs[i], xs[i]);
    }
}

static void submit_loop(submitter *s)
{
    weft_future *keep[WINDOW], *ring[RING];
    rec *keepx[WINDOW], *ringx[RING];
    int nkeep = 0, nring = 0;
    for (long i = 0;; i++) {
        if ((i & 31) == 0 && weft_now() >= S.end) break;
        if (s->coro && (i & 63) == 63) CHECK_OK(weft_yield());
        weft_future *f;
        rec *x;
        int rc = submit_job(&s->r, 0, -1, &f, &x);
        if (rc == NO_ID) break;
        if (rc == -ESHUTDOWN) {                  /* and so is every later one */
            s->refused++;
            for (int k = 0; k < 3; k++) {
                rc = submit_job(&s->r, 0, -1, &f, &x);
                if (rc == NO_ID) break;
                CHECK_RC(rc, -ESHUTDOWN);
                s->refused++;
            }
            break;
        }
        s->submitted++;
        uint32_t c = below(&s->r, 1000);
        if (c < 40) {                            /* at once: most likely still queued */
            cancel_job(f, x);
            s->cancels_now++;
        }
        c = below(&s->r, 100);
        if (c < 10 && x->kind != K_LONG) { /* kept, to be waited for */
            keep[nkeep] = f;
            keepx[nkeep++] = x;
            if (nkeep == WINDOW) {
                drain_window(s, keep, keepx, nkeep);
                nkeep = 0;
            }
        } else if (c < 20 || x->kind == K_LONG) {   /* held a while, maybe cancelled later */
            if (nring == RING) {
                int k = (int)below(&s->r, RING);
                if (below(&s->r, 2) || ringx[k]->kind == K_LONG) {
                    cancel_job(ring[k], ringx[k]);
                    s->cancels_later++;
                }
                drop(ring[k], ringx[k]);
                ring[k] = f;
                ringx[k] = x;
            } else {
                ring[nring] = f;
                ringx[nring++] = x;
            }
        } else {
            drop(f, x);
        }
    }
    for (int k = 0; k < nring; k++) {
        if (below(&s->r, 2) || ringx[k]->kind == K_LONG) {
            cancel_job(ring[k], ringx[k]);
            s->cancels_later++;
        }
        drop(ring[k], ringx[k]);
    }
    if (nkeep) drain_window(s, keep, keepx, nkeep);
}

static int thread_submitter(void *arg, void **result)
{
    (void)result;
    submit_loop(arg);
    return 0;
}

static int coro_submitter(void *arg, void **result)
{
    (void)result;
    CHECK(weft_in_coroutine());
    submit_loop(arg);
    return 0;
}

typedef struct {
    submitter *s;
    int n;
} loop_arg;

static int loop_main(void *arg, void **result)
{
    (void)result;
    loop_arg *L = arg;
    weft_future *t[8];
    for (int i = 0; i < L->n; i++) CHECK_OK(weft_spawn(&t[i], coro_submitter, &L->s[i]));
    for (int i = 0; i < L->n; i++) {
        CHECK_OK(weft_future_result(t[i], WEFT_FOREVER, NULL));
        weft_future_release(t[i]);
    }
    return 0;
}

/* ---------------------------------------------------------------- checks ------------ */

typedef struct {
    long submitted, refused, ok, failed, cancelled, never_ran, ran_cancelled, cancel_pre,
         drained, extra_ran, extra_removed, waited;
} tally;

/* Waits until every submitted future's callback has run (nothing is left to run then:
 * a job submits before it completes). */
static void wait_quiescent(const char *phase)
{
    int64_t t0 = weft_now();
    while (atomic_load(&S.callbacks) != atomic_load(&S.submitted)) {
        if (weft_now() - t0 > WAIT_LIMIT) {
            fprintf(stderr, "%s: %ld of %ld callbacks after %lld s; futures never done:\n",
                    phase, atomic_load(&S.callbacks), atomic_load(&S.submitted),
                    (long long)(WAIT_LIMIT / WEFT_SEC));
            long n = atomic_load(&S.next_id), shown = 0;
            if (n > S.cap) n = S.cap;
            for (long id = 0; id < n && shown < 10; id++) {
                rec *x = &S.recs[id];
                if (x->submitted && atomic_load(&x->cbs) == 0) {
                    fprintf(stderr, "  job %ld: kind %d depth %d started %d finished %d "
                            "cancel %d\n", id, x->kind, x->depth, atomic_load(&x->started),
                            atomic_load(&x->finished), x->cancel);
                    shown++;
                }
            }
            abort();
        }
        weft_sleep(200 * WEFT_US);
    }
}

static void check_records(tally *t)
{
    memset(t, 0, sizeof *t);
    long n = atomic_load(&S.next_id);
    if (n > S.cap) n = S.cap;
    for (long id = 0; id < n; id++) {
        rec *x = &S.recs[id];
        int started = atomic_load(&x->started), finished = atomic_load(&x->finished);
        int cbs = atomic_load(&x->cbs), extra = atomic_load(&x->extra_cbs);
        if (x->refused) {                        /* no future: nothing ran, nothing called */
            CHECK(!x->submitted);
            CHECK(S.phase2);
            CHECK_EQ(started, 0);
            CHECK_EQ(cbs, 0);
            t->refused++;
            continue;
        }
        if (!x->submitted) {
            fprintf(stderr, "job %ld: id taken, never submitted nor refused\n", id);
            abort();
        }
        t->submitted++;
        if (cbs != 1 || started > 1 || finished != started) {
            fprintf(stderr, "job %ld (kind %d depth %d cancel %d): %d callbacks, started %d, "
                    "finished %d\n", id, x->kind, x->depth, x->cancel, cbs, started, finished);
            abort();
        }
        CHECK(x->cb_res_ok);
        if (x->has_extra) {
            CHECK_EQ(extra + x->extra_removed, 1);
            t->extra_ran += extra;
            t->extra_removed += x->extra_removed;
        } else {
            CHECK_EQ(extra, 0);
        }
        if (started) {
            CHECK_RC(x->cb_rc, x->rc);           /* its future holds what it returned */
            if (x->saw_cancel) {
                CHECK_EQ(x->cancel, C_ZERO);     /* only a cancel that said 0 reaches it */
                CHECK_RC(x->rc, -ECANCELED);
                t->ran_cancelled++;
            } else if (x->kind == K_FAIL) {
                CHECK_RC(x->rc, failure_of(x));
            } else {
                CHECK_OK(x->rc);
            }
            CHECK(!x->cancel_pre);
            if (!S.phase2 && x->cancel == C_BUSY) CHECK(x->rc != -ECANCELED || x->saw_cancel);
        } else {
            CHECK_RC(x->cb_rc, -ECANCELED);      /* never ran: cancelled */
            t->never_ran++;
            if (x->cancel == C_ZERO) {
                t->cancel_pre++;
            } else {
                /* Phase 1 cancels nothing but by hand; phase 2's shutdown drains. */
                if (!S.phase2) {
                    fprintf(stderr, "job %ld (kind %d depth %d): never ran, ended %s, but its "
                            "cancel %s\n", id, x->kind, x->depth, weft_errname(x->cb_rc),
                            x->cancel == C_NONE ? "was never called" : "said EBUSY");
                    abort();
                }
                t->drained++;
            }
        }
        if (x->late_start) CHECK(S.phase2);
        if (x->waited) {
            CHECK_RC(x->waited_rc, x->cb_rc);
            t->waited++;
        }
        if (x->cb_rc == 0) t->ok++;
        else if (x->cb_rc == -ECANCELED) t->cancelled++;
        else t->failed++;
    }
    CHECK_EQ(t->ok + t->failed + t->cancelled, t->submitted);
    CHECK_EQ(t->submitted, atomic_load(&S.submitted));
    CHECK_EQ(t->submitted, atomic_load(&S.callbacks));
    CHECK_EQ(t->refused, atomic_load(&S.refused));
}

static void print_tally(const tally *t, const submitter *s, int ns, long nested,
                        double secs)
{
    long by_hand = 0, now = 0, later = 0, early = 0, waits[5] = { 0 };
    for (int i = 0; i < ns; i++) {
        by_hand += s[i].submitted;
        now += s[i].cancels_now;
        later += s[i].cancels_later;
        early += s[i].released_early;
        for (int k = 0; k < 5; k++) waits[k] += s[i].waits[k];
    }
    printf("   %ld jobs in %.2f s (%ld by submitters, %ld from jobs; %ld refused): "
           "%ld ok, %ld failed, %ld cancelled\n"
           "   cancels: %ld at once, %ld later; %ld never ran (%ld by hand, %ld by shutdown), "
           "%ld stopped while running\n"
           "   waited: %ld (wait %ld, wait-first %ld, as_completed %ld, result %ld; "
           "%ld released unread); extra callbacks %ld ran, %ld taken back\n",
           t->submitted, secs, by_hand, nested, t->refused, t->ok, t->failed,
           t->cancelled, now, later, t->never_ran, t->cancel_pre, t->drained,
           t->ran_cancelled, t->waited, waits[0], waits[1], waits[2], waits[3], early,
           t->extra_ran, t->extra_removed);
    fflush(stdout);
}

static void reset(rec *recs, long cap, bool phase2, int64_t duration)
{
    memset(recs, 0, sizeof *recs * (size_t)cap);
    memset(&S, 0, sizeof S);
    S.recs = recs;
    S.cap = cap;
    S.phase2 = phase2;
    S.end = weft_now() + duration;
}

static rec *records;
static long records_cap;

/* ---------------------------------------------------------------- phase 1 ----------- */

enum { NTHREADS = 4, NLOOPS = 2, NCOROS = 4 };

static void test_million_jobs(void)
{
    long cap = slow_tools() ? 100000 : 1000000;
    reset(records, cap, false, (slow_tools() ? 4000 : 3000) * WEFT_MS);
    CHECK_OK(weft_pool_create(&S.pool, &(weft_pool_opts){ .max_workers = 4 }));
    static submitter subs[NTHREADS + NLOOPS * NCOROS];
    int ns = NTHREADS + NLOOPS * NCOROS;
    for (int i = 0; i < ns; i++) {
        memset(&subs[i], 0, sizeof subs[i]);
        subs[i].slot = i;
        subs[i].coro = i >= NTHREADS;
        rng_seed(&subs[i].r, seed + (uint64_t)i);
    }
    int64_t t0 = weft_now();
    weft_thread *th[NTHREADS + NLOOPS];
    loop_arg la[NLOOPS];
    loop_job lj[NLOOPS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK_OK(weft_thread_start(&th[i], NULL, thread_submitter, &subs[i]));
    for (int l = 0; l < NLOOPS; l++) {
        la[l] = (loop_arg){ &subs[NTHREADS + l * NCOROS], NCOROS };
        lj[l] = (loop_job){ loop_main, &la[l] };
        th[NTHREADS + l] = start_loop_thread(&lj[l]);
    }
    for (int i = 0; i < NTHREADS + NLOOPS; i++) join_and_release(th[i]);
    wait_quiescent("phase 1");
    CHECK_OK(weft_pool_shutdown(S.pool, true, false));
    CHECK_EQ(weft_pool_workers(S.pool), 0);
    weft_pool_destroy(S.pool);
    double secs = (double)(weft_now() - t0) / 1e9;

    tally t;
    check_records(&t);
    print_tally(&t, subs, ns, atomic_load(&S.nested), secs);
    CHECK(t.submitted >= (slow_tools() ? 2000 : 20000));
    CHECK(t.ok > 0 && t.failed > 0 && t.cancelled > 0 && t.cancel_pre > 0);
    CHECK_EQ(t.drained, 0);
    CHECK_EQ(atomic_load(&S.late_starts), 0);
    CHECK_EQ(atomic_load(&S.busy_not_done), 0);
    CHECK_EQ(atomic_load(&unretrieved), 0);
}

/* ---------------------------------------------------------------- phase 2 ----------- */

/* One round: four gate jobs hold the workers while the submitters fill the queue; the gate
 * opens, the workers get going (and the queue keeps filling), and after `run` jobs have
 * started, shutdown(wait=false, cancel_futures=true) comes down on a queue still being
 * filled. */
enum { NS2 = 6 };

static void shutdown_round(int round, long run, tally *t, submitter *subs, long *nested)
{
    reset(records, records_cap < 200000 ? records_cap : 200000, true, 30 * WEFT_SEC);
    CHECK_OK(weft_event_create(&S.gate));
    CHECK_OK(weft_pool_create(&S.pool, &(weft_pool_opts){ .max_workers = 4 }));
    rng r;
    rng_seed(&r, seed ^ (0xABCDEFull + (uint64_t)round));
    weft_future *gates[4];
    rec *gx[4];
    for (int i = 0; i < 4; i++) CHECK_OK(submit_job(&r, 0, K_GATE, &gates[i], &gx[i]));
    for (int i = 0; i < NS2; i++) {
        memset(&subs[i], 0, sizeof subs[i]);
        subs[i].slot = i;
        subs[i].coro = i >= 4;
        rng_seed(&subs[i].r, seed + 100 * (uint64_t)(round + 1) + (uint64_t)i);
    }
    int64_t t0 = weft_now();
    weft_thread *th[5];
    for (int i = 0; i < 4; i++) CHECK_OK(weft_thread_start(&th[i], NULL, thread_submitter, &subs[i]));
    loop_arg la = { &subs[4], 2 };
    loop_job lj = { loop_main, &la };
    th[4] = start_loop_thread(&lj);

    /* Fewer than it takes to block every submitter on a full window of kept futures. */
    while (atomic_load(&S.submitted) < 400 && weft_now() - t0 < 5 * WEFT_SEC)
        weft_sleep(20 * WEFT_US);
    CHECK_OK(weft_event_set(S.gate));
    while (atomic_load(&S.started_jobs) < 4 + run && weft_now() - t0 < 5 * WEFT_SEC)
        weft_sleep(20 * WEFT_US);
    CHECK_OK(weft_pool_shutdown(S.pool, false, true));
    atomic_store(&S.shut_returned, true);
    weft_future *f = (weft_future *)&S;
    CHECK_RC(weft_pool_submit(S.pool, &f, job_fn, NULL), -ESHUTDOWN);
    CHECK_PTR(f, (void *)&S);
    CHECK_RC(weft_pool_submit(S.pool, NULL, job_fn, NULL), -ESHUTDOWN);
    for (int i = 0; i < 5; i++) join_and_release(th[i]);
    for (int i = 0; i < 4; i++) {
        CHECK(weft_future_result(gates[i], WAIT_LIMIT, NULL) != -ETIMEDOUT);
        check_waited(gates[i], gx[i]);
        drop(gates[i], gx[i]);
    }
    wait_quiescent("phase 2");
    CHECK_OK(weft_pool_shutdown(S.pool, true, true)); /* again: waits for the workers */
    int alive = weft_pool_workers(S.pool);
    if (alive != 0) {
        /* A submit that passed its shutdown check before the shutdown and pushed its job
         * after the last worker had ended starts a worker that nobody waits for. */
        fprintf(stderr, "round %d: shutdown(wait=true) returned with %d worker(s) alive\n",
                round, alive);
        abort();
    }
    weft_pool_destroy(S.pool);
    weft_event_destroy(S.gate);

    check_records(t);
    for (int i = 0; i < 4; i++) CHECK(subs[i].refused >= 1 || atomic_load(&S.next_id) >= S.cap);
    CHECK(t->refused >= 1);
    /* Only jobs a worker had already taken from the queue may start after the shutdown
     * returned: at most one per worker thread (4 plus at most 16 compensating ones). */
    CHECK(atomic_load(&S.late_starts) <= 20);
    CHECK_EQ(atomic_load(&unretrieved), 0);
    *nested = atomic_load(&S.nested);
}

static void test_shutdown_while_submitting(void)
{
    int rounds = slow_tools() ? 6 : 24;
    tally sum, t;
    memset(&sum, 0, sizeof sum);
    static submitter subs[NS2], acc[NS2];
    memset(acc, 0, sizeof acc);
    long nested = 0, n, late = 0, busy = 0;
    int64_t t0 = weft_now();
    for (int round = 0; round < rounds; round++) {
        shutdown_round(round, (round % 4) * 150, &t, subs, &n);
        nested += n;
        late += atomic_load(&S.late_starts);
        busy += atomic_load(&S.busy_not_done);
        long *d = &sum.submitted, *s = &t.submitted;
        for (size_t k = 0; k < sizeof sum / sizeof(long); k++) d[k] += s[k];
        for (int i = 0; i < NS2; i++) {
            acc[i].submitted += subs[i].submitted;
            acc[i].cancels_now += subs[i].cancels_now;
            acc[i].cancels_later += subs[i].cancels_later;
            acc[i].released_early += subs[i].released_early;
            for (int k = 0; k < 5; k++) acc[i].waits[k] += subs[i].waits[k];
        }
    }
    printf("   %d rounds:\n", rounds);
    print_tally(&sum, acc, NS2, nested, (double)(weft_now() - t0) / 1e9);
    printf("   %ld started after the shutdown returned; %ld cancels said EBUSY of a future "
           "not yet done\n", late, busy);
    CHECK(sum.drained > 0);                        /* the queue was not empty */
    CHECK(sum.ok > 0 && sum.failed > 0);
}

int main(void)
{
    const char *s = getenv("WEFT_TEST_SEED");
    if (s) seed = strtoull(s, NULL, 0);
    printf("seed %#llx (WEFT_TEST_SEED to change)\n", (unsigned long long)seed);
    records_cap = slow_tools() ? 100000 : 1000000;
    records = calloc((size_t)records_cap, sizeof *records);
    CHECK(records != NULL);
    weft_set_unretrieved_hook(count_unretrieved, NULL);
    RUN(test_million_jobs);
    RUN(test_shutdown_while_submitting);
    weft_set_unretrieved_hook(NULL, NULL);
    free(records);
    return check_done();
}
