/* pool/executor.c — what is built on the pool's submit: the hand-off protocol
 * (pool/internal.h), Executor.map, the default pool and to_thread.
 */
#include "pool/internal.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- hand-offs ------------------------------------------------------------------------- */

int weft__handoff_check(void)
{
    if (weft__cancel_pending()) return -ECANCELED;
    weft__scope *by;
    int64_t until = weft__scope_clamp(WEFT__NO_DEADLINE, &by);
    if (by && until <= weft_now()) {
        by->hit = true;                  /* as a wait it cut: weft_scope_leave says so */
        return -ETIMEDOUT;
    }
    return 0;
}

int weft__handoff_wait(weft_future *f, void **result)
{
    int rc = weft_future_result(f, WEFT_FOREVER, result);
    /* Done, also if it ended just as the wait was cut: that outcome is the truth (the
     * wait's own -ECANCELED would lose a result, or an fd the job opened). */
    if (weft_future_done(f)) return weft__future_take(f, result);
    if (rc != -ECANCELED && rc != -ETIMEDOUT) rc = -ECANCELED;   /* no other way, today */
    /* Cut short. Not started: it never will. Started: it may write into the caller's
     * memory until it ends, so wait for that, whatever else happens meanwhile. */
    weft_future_cancel(f);
    weft__future_wait(f, WEFT__NO_DEADLINE, true);
    int own = weft__future_take(f, result);
    return own == -ECANCELED ? rc : own;
}

/* ---- map ------------------------------------------------------------------------------- */

typedef struct {
    weft_fn fn;
    void **args;
    size_t first, count;
    void **results;
    int *errs;
    _Atomic bool *stop;               /* stop_at_error: set by the first failing item */
} chunk_job;

static int run_chunk(void *arg, void **result)
{
    (void)result;
    chunk_job *c = arg;
    int first_err = 0;
    for (size_t k = 0; k < c->count; k++) {
        size_t i = c->first + k;
        void *r = NULL;
        int err = (c->stop && atomic_load(c->stop)) || weft_cancelled()
                ? -ECANCELED : c->fn(c->args ? c->args[i] : NULL, &r);
        c->results[i] = err >= 0 ? r : NULL;
        c->errs[i] = err;
        if (err < 0 && !first_err) {
            first_err = err;
            if (c->stop && err != -ECANCELED) atomic_store(c->stop, true);
        }
    }
    return 0;
}

int weft_pool_map(weft_pool *pool, weft_fn fn, void **args, size_t n, size_t chunksize,
                  bool stop_at_error, void **results, int *errs)
{
    if (!pool || !fn || (!args && n)) return -EINVAL;
    if (weft__on_compact_stack(args)) return -EFAULT;  /* the workers read it: see
                                                          WEFT_SPAWN_COMPACT */
    if (weft__unlikely(weft__in_compact()))             /* and the items it points at */
        for (size_t i = 0; i < n; i++)
            if (weft__on_compact_stack(args[i])) return -EFAULT;
    if (n == 0) return 0;
    int rc = weft__handoff_check();
    if (rc) {
        for (size_t i = 0; i < n; i++) {         /* nothing ran */
            if (results) results[i] = NULL;
            if (errs) errs[i] = -ECANCELED;
        }
        return rc;
    }
    if (chunksize == 0) chunksize = 1;
    size_t nchunks = (n + chunksize - 1) / chunksize;
    /* One block: the chunks, their futures, and the per-item outcomes. */
    size_t bytes = nchunks * (sizeof(chunk_job) + sizeof(weft_future *)) +
                   n * (sizeof(void *) + sizeof(int)) + sizeof(_Atomic bool);
    char *mem = weft__malloc(bytes);
    if (!mem) return -ENOMEM;
    chunk_job *chunks = (chunk_job *)(void *)mem;
    weft_future **fs = (weft_future **)(void *)(chunks + nchunks);
    void **res = (void **)(fs + nchunks);
    int *err = (int *)(void *)(res + n);
    _Atomic bool *stop = (_Atomic bool *)(void *)(err + n);
    atomic_init(stop, false);
    for (size_t i = 0; i < n; i++) {             /* what an item that never runs reports */
        res[i] = NULL;
        err[i] = -ECANCELED;
    }
    size_t submitted = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * chunksize;
        chunks[c] = (chunk_job){ fn, args, first, n - first < chunksize ? n - first : chunksize,
                                 res, err, stop_at_error ? stop : NULL };
        rc = weft_pool_submit(pool, &fs[c], run_chunk, &chunks[c]);
        if (rc) break;
        submitted++;
    }
    /* Wait for every chunk: they write into mem. Once a wait is cut short — the caller is
     * cancelled, a deadline scope expires, whatever way a wait can fail — or a submit
     * failed, the chunks not yet started are cancelled and every other one is waited for
     * without limit, shielded: mem is freed only when no chunk can write into it any
     * more (a scope's -ETIMEDOUT used to fall through, and mem was freed under running
     * chunks: issue 11, bug 3). */
    int why = 0;                                 /* why the wait was cut, if it was */
    if (rc)
        for (size_t c = 0; c < submitted; c++) weft_future_cancel(fs[c]);
    for (size_t c = 0; c < submitted; c++) {
        if (!rc && !why) {
            int r = weft_future_result(fs[c], WEFT_FOREVER, NULL);
            if (weft_future_done(fs[c])) continue;
            why = r == -ETIMEDOUT ? -ETIMEDOUT : -ECANCELED;
            for (size_t k = c; k < submitted; k++) weft_future_cancel(fs[k]);
        }
        weft__future_wait(fs[c], WEFT__NO_DEADLINE, true);
    }
    for (size_t c = 0; c < submitted; c++) weft_future_release(fs[c]);
    /* The first failure in argument order; else -ECANCELED (or why the wait was cut) if
     * some item did not run (with stop_at_error, items before the failing one may be
     * cancelled too: any not yet started when it failed); else 0 — also when the wait was
     * cut but every item had run by then: that is what happened. */
    int first = 0;
    bool cancelled = false;
    for (size_t i = 0; i < n; i++) {
        if (results) results[i] = res[i];
        if (errs) errs[i] = err[i];
        if (err[i] == -ECANCELED) cancelled = true;
        else if (!first && err[i] < 0) first = err[i];
    }
    weft__free(mem);
    if (rc) return rc;
    if (first) return first;
    if (cancelled) return why ? why : -ECANCELED;
    return 0;
}

/* ---- the default pool and to_thread ---------------------------------------------------- */

static weft_pool *_Atomic default_pool;

/* Every slot weft__lazy_pool has filled, so that a forked child can forget them all: their
 * workers are the parent's threads, which the child does not have. */
#define LAZY_SLOTS 8
static weft_pool *_Atomic *lazy_slots[LAZY_SLOTS];
static int nlazy;
static pthread_mutex_t making = PTHREAD_MUTEX_INITIALIZER;

static weft_pool *left_behind[64];     /* the parent's pools, in a child (reachable) */
static int nleft;

/* fork (core/fork.c, registered with the first lazy pool): `making` is held over the fork;
 * the child forgets the pools, made afresh when next used. */
static void fork_prepare(void) { pthread_mutex_lock(&making); }
static void fork_parent(void) { pthread_mutex_unlock(&making); }
static void fork_child(void)
{
    pthread_mutex_init(&making, NULL);
    for (int i = 0; i < nlazy; i++) {
        weft_pool *p = atomic_exchange(lazy_slots[i], NULL);
        if (p && nleft < (int)(sizeof left_behind / sizeof left_behind[0]))
            left_behind[nleft++] = p;
    }
}

static void register_fork(void)
{
    weft__fork_hook(WEFT__FORK_POOL, fork_prepare, fork_parent, fork_child);
}

weft_pool *weft__lazy_pool(weft_pool *_Atomic *slot, const weft_pool_opts_ex *o)
{
    /* `making`: a pthread mutex, not weft's internal one: creating a pool starts threads,
     * which is more than the internal mutex's few-instruction sections allow. */
    weft_pool *p = atomic_load_explicit(slot, memory_order_acquire);
    if (weft__likely(p != NULL)) return p;
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    pthread_once(&fork_once, register_fork);
    pthread_mutex_lock(&making);
    p = atomic_load_explicit(slot, memory_order_relaxed);
    if (!p) {
        weft_pool *made;
        if (weft_pool_create_ex(&made, o) == 0) {
            p = made;
            atomic_store_explicit(slot, p, memory_order_release);
            if (nlazy < LAZY_SLOTS) lazy_slots[nlazy++] = slot;
        }
    }
    pthread_mutex_unlock(&making);
    return p;
}

weft_pool *weft_default_pool(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.name_prefix = "to_thread";
    return weft__lazy_pool(&default_pool, &o);
}

/* The hand-off protocol (pool/internal.h): an already-cancelled caller submits nothing; a
 * cut wait cancels the job and waits for it; a job that ran is reported as it ended. */
int weft_run_in_executor(weft_pool *pool, weft_fn fn, void *arg, void **result)
{
    if (!fn) return -EINVAL;
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    int rc = weft__handoff_check();
    if (rc) return rc;
    weft_pool *p = pool ? pool : weft_default_pool();
    if (!p) return -ENOMEM;
    weft_future *f;
    rc = weft_pool_submit(p, &f, fn, arg);
    if (rc) return rc;
    rc = weft__handoff_wait(f, result);
    weft_future_release(f);
    return rc;
}

int weft_to_thread(weft_fn fn, void *arg, void **result)
{
    return weft_run_in_executor(NULL, fn, arg, result);
}
