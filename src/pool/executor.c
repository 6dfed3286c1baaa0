/* pool/executor.c — what is built on the pool's submit: Executor.map, the default pool and
 * to_thread.
 */
#include "future/internal.h"

#include <pthread.h>
#include <stdlib.h>

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
    if (n == 0) return 0;
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
    int rc = 0;
    size_t submitted = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * chunksize;
        chunks[c] = (chunk_job){ fn, args, first, n - first < chunksize ? n - first : chunksize,
                                 res, err, stop_at_error ? stop : NULL };
        for (size_t i = first; i < first + chunks[c].count; i++) err[i] = -ECANCELED;
        rc = weft_pool_submit(pool, &fs[c], run_chunk, &chunks[c]);
        if (rc) break;
        submitted++;
    }
    /* Wait for every chunk (they point into mem); if the caller is cancelled, or a submit
     * failed, cancel what has not started first. */
    int wrc = rc ? -ECANCELED : 0;
    for (size_t c = 0; c < submitted; c++) {
        if (wrc) weft_future_cancel(fs[c]);
        int r = weft_future_result(fs[c], WEFT_FOREVER, NULL);
        if (r == -ECANCELED && !weft_future_done(fs[c])) {
            /* The caller was cancelled: cancel the rest, then wait for this one raw. */
            wrc = -ECANCELED;
            for (size_t k = c; k < submitted; k++) weft_future_cancel(fs[k]);
            weft__future_wait(fs[c], WEFT__NO_DEADLINE, true);
        }
    }
    for (size_t c = 0; c < submitted; c++) weft_future_release(fs[c]);
    /* The first failure in argument order; -ECANCELED only if nothing failed otherwise
     * (with stop_at_error, items before the failing one may be cancelled too: any not yet
     * started when it failed). */
    int first = 0, cancelled = 0;
    for (size_t i = 0; i < n; i++) {
        if (results) results[i] = res[i];
        if (errs) errs[i] = err[i];
        if (err[i] == -ECANCELED) cancelled = err[i];
        else if (!first && err[i] < 0) first = err[i];
    }
    if (!first) first = cancelled;
    weft__free(mem);
    if (rc) return rc;
    if (wrc) return wrc;
    return first;
}

/* ---- the default pool and to_thread ---------------------------------------------------- */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static weft_pool *default_pool;

static void make_default(void)
{
    weft_pool_opts_ex o = WEFT_POOL_OPTS_EX_INIT;
    o.name_prefix = "to_thread";
    if (weft_pool_create_ex(&default_pool, &o) != 0) default_pool = NULL;
}

weft_pool *weft_default_pool(void)
{
    pthread_once(&default_once, make_default);
    return default_pool;
}

int weft_run_in_executor(weft_pool *pool, weft_fn fn, void *arg, void **result)
{
    if (!fn) return -EINVAL;
    weft_pool *p = pool ? pool : weft_default_pool();
    if (!p) return -ENOMEM;
    weft_future *f;
    int rc = weft_pool_submit(p, &f, fn, arg);
    if (rc) return rc;
    rc = weft_wait_for(f, WEFT_FOREVER, result);   /* cancelled: cancels f, waits for it */
    weft_future_release(f);
    return rc;
}

int weft_to_thread(weft_fn fn, void *arg, void **result)
{
    return weft_run_in_executor(NULL, fn, arg, result);
}
