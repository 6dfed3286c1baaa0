/* task/remote.c — loop handles and posts from other threads (weft_loop_spawn,
 * weft_loop_call): asyncio's run_coroutine_threadsafe and call_soon_threadsafe.
 *
 * A post is a request: a future of its own (what the poster holds) and what to start. The
 * poster pushes it on the handle's inbox (an intrusive MPSC queue: one exchange) and, unless
 * one is already on its way, puts the handle's `kick` node on the loop's remote queue and
 * wakes the loop. The loop's thread runs the kick from its scheduler: it takes every
 * request, makes each a task and links a done-callback that completes the request's future
 * with the task's outcome. The loop's remote queue thus carries one node per burst, and
 * the requests stay apart from the loop's own nodes, so that they can be refused at close.
 *
 * The gate (who keeps what alive). `gate` counts the posters between their check and their
 * last touch of the loop; its CLOSED bit is set by the loop's thread when the loop shuts
 * down for good (weft__loop_drain(forever): thread exit, weft_shutdown), which then waits
 * for the count to drain and refuses what is left in the inbox. So a poster that saw the
 * gate open touches a loop that is alive (its thread keeps it until after the close), one
 * that finds it closed touches nothing but the handle, and no request can be stranded in
 * an inbox nobody will read. The handle itself is reference-counted: the callers' handles,
 * the loop's own (until the close) and a kick in flight (the kick may run after the close,
 * even in the loop's final unref on another thread: it then only drops its reference).
 *
 * A request's state moves once from QUEUED to STARTED (the loop's thread takes it) or
 * CANCELLED (weft_future_cancel before that: its future is completed at once). After
 * STARTED, the task is published in req->task under the future's lock, which orders a
 * cancel against it: a cancel that finds no task yet leaves cancel_requested for the loop's
 * thread to see when it publishes; one that finds it cancels the task through its loop.
 * References on the request's future: the poster's (unless detached) and the request's own,
 * dropped once it is refused, cancelled before starting, or its task's outcome is copied.
 */
#include "task/internal.h"
#include "loop/mpsc.h"

#include <sched.h>
#include <weft/loop.h>

#define HANDLE_MAGIC 0x776c6f6fu   /* "wloo" */
#define HANDLE_DEAD  0xdead100bu
#define CLOSED       0x80000000u

struct weft_loop {
    uint32_t magic;
    _Atomic uint32_t refs;            /* callers' handles, the loop's (until closed), a kick */
    _Atomic uint32_t gate;            /* CLOSED | posters inside */
    _Atomic uint32_t kicked;          /* `kick` is on the loop's remote queue */
    weft__loop *loop;                 /* read by posters inside the open gate only */
    weft__mpsc inbox;                 /* requests; consumer: the loop's thread */
    weft__mpsc_node kick;
};

enum { QUEUED, STARTED, CANCELLED };

typedef struct remote_req {
    weft_future fut;                  /* the poster's view of the task */
    weft__mpsc_node node;             /* in the handle's inbox */
    _Atomic uint32_t state;           /* QUEUED -> STARTED | CANCELLED */
    bool detached;
    weft_future *task;                /* fut.lock: the task once started */
    weft__cb done;                    /* on the task: copies its outcome into fut */
    weft_fn fn;
    void *arg;
    void (*call)(void *arg);          /* weft_loop_call: fn is call_body, arg the request */
    void *call_arg;
    weft_spawn_opts opts;
} remote_req;

static remote_req *req_of(weft_future *f) { return weft__container_of(f, remote_req, fut); }

/* ---- the handle ------------------------------------------------------------------------ */

static void check(const weft_loop *h)
{
    weft__assert(h->magic == HANDLE_MAGIC,
                 "a weft_loop used after its last weft_loop_release (or not a handle)");
    (void)h;
}

static void handle_unref(weft_loop *h)
{
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1) return;
    h->magic = HANDLE_DEAD;
    weft__free(h);
}

void weft_loop_retain(weft_loop *h)
{
    if (!h) return;
    check(h);
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}

void weft_loop_release(weft_loop *h)
{
    if (!h) return;
    check(h);
    handle_unref(h);
}

static void close_handle(weft__loop *l);
static void kick_run(weft__loop *l, weft__mpsc_node *n);
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static void set_hook(void) { weft__loop_close_hook = close_handle; }

int weft_loop_current(weft_loop **out)
{
    if (!out) return -EINVAL;
    weft__loop *l = weft__loop_get();
    if (!l) return -ENOMEM;
    if (l->shutting_down) return -ESHUTDOWN;
    weft_loop *h = l->handle;
    if (!h) {
        h = weft__calloc(1, sizeof *h);
        if (!h) return -ENOMEM;
        h->magic = HANDLE_MAGIC;
        atomic_init(&h->refs, 1);               /* the loop's */
        atomic_init(&h->gate, 0);
        atomic_init(&h->kicked, 0);
        h->loop = l;
        weft__mpsc_init(&h->inbox);
        h->kick.run = kick_run;
        pthread_once(&hook_once, set_hook);
        l->handle = h;
    }
    weft_loop_retain(h);
    *out = h;
    return 0;
}

/* ---- the request's future ---------------------------------------------------------------- */

static void req_refuse(remote_req *r, int err);

/* weft_future_cancel on a request's future. Any thread. */
static int req_cancel(weft_future *f)
{
    remote_req *r = req_of(f);
    weft__mutex_lock(&f->lock);
    if (weft__future_is_done(f)) {
        weft__mutex_unlock(&f->lock);
        return -EBUSY;
    }
    if (atomic_exchange_explicit(&f->cancel_requested, 1, memory_order_relaxed)) {
        weft__mutex_unlock(&f->lock);
        return 0;                               /* asked before: on its way */
    }
    uint32_t s = QUEUED;
    if (atomic_compare_exchange_strong_explicit(&r->state, &s, CANCELLED,
                                                memory_order_acq_rel, memory_order_acquire)) {
        weft__mutex_unlock(&f->lock);
        /* Not started: it never will be (the loop's thread skips it when it takes it). */
        weft__future_complete(f, -ECANCELED, NULL);
        return 0;
    }
    /* Started: the task is published under this lock, or will be and then sees the flag. */
    weft_future *task = r->task;
    if (task) weft_future_retain(task);
    weft__mutex_unlock(&f->lock);
    if (task) {
        weft_future_cancel(task);               /* through the task's loop */
        weft_future_release(task);
    }
    return 0;
}

static void req_free(weft_future *f)
{
    weft__free(req_of(f));
}

static const char *req_name(weft_future *f)
{
    return req_of(f)->opts.name;
}

static const weft__future_ops req_ops = { req_cancel, req_free, req_name, NULL, NULL, NULL };

/* ---- on the loop's thread ---------------------------------------------------------------- */

/* The task ended (on the loop's thread): its outcome becomes the request's. */
static void task_done(weft_future *task, void *arg)
{
    remote_req *r = arg;
    void *result = NULL;
    int err = weft__future_take(task, &result);
    weft__future_complete(&r->fut, err, result);
    weft_future_release(task);                  /* the request's reference */
    weft_future_release(&r->fut);               /* the request's own */
}

static int call_body(void *arg, void **result)
{
    (void)result;
    remote_req *r = arg;
    r->call(r->call_arg);
    return 0;
}

/* A request that will not run: its future gets err (a detached one goes quietly). */
static void req_refuse(remote_req *r, int err)
{
    weft__future_complete(&r->fut, err, NULL);
    if (r->detached) atomic_store_explicit(&r->fut.retrieved, 1, memory_order_relaxed);
    weft_future_release(&r->fut);
}

/* Makes r (STARTED) a task of the calling thread's loop and starts it. Returns 0, or the
 * error the task could not be made with (r is then untouched). */
static int req_start_task(remote_req *r)
{
    weft_future *task;
    int rc = weft__task_new(&task, &r->opts, r->fn, r->arg, 2);   /* the loop's + ours */
    if (rc) return rc;
    r->done.fn = task_done;
    r->done.arg = r;
    weft__future_add_cb_unshared(task, &r->done);
    weft__mutex_lock(&r->fut.lock);
    r->task = task;
    bool cancel = atomic_load_explicit(&r->fut.cancel_requested, memory_order_relaxed);
    weft__mutex_unlock(&r->fut.lock);
    if (cancel) weft_future_cancel(task);       /* before its first run: it never runs */
    weft__task_start(task);
    return 0;
}

/* QUEUED -> STARTED: the loop's thread takes r. False if a cancel took it first (its
 * future is complete then). */
static bool req_claim(remote_req *r)
{
    uint32_t s = QUEUED;
    return atomic_compare_exchange_strong_explicit(&r->state, &s, STARTED,
                                                   memory_order_acq_rel, memory_order_acquire);
}

/* Takes r off the inbox (loop thread): starts it, unless it was cancelled meanwhile. */
static void req_take(remote_req *r)
{
    if (!req_claim(r)) {
        weft_future_release(&r->fut);           /* the request's own reference */
        return;
    }
    int rc = req_start_task(r);
    if (rc) req_refuse(r, rc);                  /* -ESHUTDOWN while draining, -ENOMEM */
}

/* The kick: run from the loop's remote queue (normally by its scheduler, on its thread). */
static void kick_run(weft__loop *l, weft__mpsc_node *n)
{
    weft_loop *h = weft__container_of(n, weft_loop, kick);
    /* Cleared before the inbox is read: a poster that pushes after this sees it clear and
     * kicks again (its push is then read by that kick, or by this one). */
    atomic_store_explicit(&h->kicked, 0, memory_order_seq_cst);
    weft__store_load_fence();       /* pairs with a poster's push, then its kicked exchange */
    if (weft__tls_self.loop == l && l->handle == h) {   /* not closed, not the final unref */
        weft__mpsc_node *rn;
        while ((rn = weft__mpsc_pop(&h->inbox)) != NULL)
            req_take(weft__container_of(rn, remote_req, node));
    }
    handle_unref(h);
}

/* weft__loop_close_hook: the loop shuts down for good (its thread). */
static void close_handle(weft__loop *l)
{
    weft_loop *h = l->handle;
    l->handle = NULL;
    atomic_fetch_or_explicit(&h->gate, CLOSED, memory_order_seq_cst);
    /* Posters inside are a few instructions from leaving (a push, a kick): let them. */
    for (unsigned i = 0; atomic_load_explicit(&h->gate, memory_order_acquire) != CLOSED; i++) {
        if (i < 100) weft__cpu_relax();
        else sched_yield();
    }
    /* Nobody can push now, and nobody is mid-push: the inbox is complete. */
    weft__mpsc_node *rn;
    while ((rn = weft__mpsc_pop(&h->inbox)) != NULL) {
        remote_req *r = weft__container_of(rn, remote_req, node);
        if (req_claim(r)) req_refuse(r, -ESHUTDOWN);
        else weft_future_release(&r->fut);      /* cancelled: complete already */
    }
    handle_unref(h);                            /* the loop's reference */
}

/* ---- posting ------------------------------------------------------------------------------ */

/* Pushes r for h's loop, or returns -ESHUTDOWN (r untouched) if the loop has closed. */
static int post(weft_loop *h, remote_req *r)
{
    uint32_t g = atomic_fetch_add_explicit(&h->gate, 1, memory_order_seq_cst);
    if (g & CLOSED) {
        atomic_fetch_sub_explicit(&h->gate, 1, memory_order_release);
        return -ESHUTDOWN;
    }
    weft__mpsc_push(&h->inbox, &r->node);
    if (!atomic_exchange_explicit(&h->kicked, 1, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);   /* the kick's */
        weft__loop_ref(h->loop);                /* consumed by the post */
        weft__loop_post(h->loop, &h->kick);
    }
    /* Our last touch of the loop is above: from here the closer may go on. */
    atomic_fetch_sub_explicit(&h->gate, 1, memory_order_release);
    return 0;
}

static int submit(weft_loop *h, weft_future **task, const weft_spawn_opts *opts, weft_fn fn,
                  void *arg, void (*call)(void *), void *call_arg)
{
    if (!h || !fn) return -EINVAL;
    check(h);
    size_t stack = opts ? opts->stack_size : 0;
    if (stack && (stack < WEFT_STACK_MIN || stack > (size_t)1 << 30)) return -EINVAL;
    remote_req *r = weft__malloc(sizeof *r);
    if (!r) return -ENOMEM;
    weft__future_init(&r->fut, &req_ops, task ? 2 : 1);
    atomic_init(&r->state, QUEUED);
    r->detached = task == NULL;
    r->task = NULL;
    r->fn = fn;
    r->arg = call ? (void *)r : arg;
    r->call = call;
    r->call_arg = call_arg;
    r->opts = opts ? *opts : (weft_spawn_opts)WEFT_SPAWN_OPTS_INIT;
    int rc;
    weft__loop *mine = weft__tls_self.loop;
    if (mine && mine->handle == h) {
        /* On the loop's own thread: weft_spawn, its errors at once. Nobody else can see r
         * yet, so it is STARTED without a claim. */
        atomic_store_explicit(&r->state, STARTED, memory_order_relaxed);
        rc = req_start_task(r);
    } else {
        rc = post(h, r);
    }
    if (rc) {
        weft__free(r);
        return rc;
    }
    if (task) *task = &r->fut;
    return 0;
}

int weft_loop_spawn_ex(weft_loop *h, weft_future **task, const weft_spawn_opts *opts,
                       weft_fn fn, void *arg)
{
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    return submit(h, task, opts, fn, arg, NULL, NULL);
}

int weft_loop_spawn(weft_loop *h, weft_future **task, weft_fn fn, void *arg)
{
    return weft_loop_spawn_ex(h, task, NULL, fn, arg);
}

int weft_loop_call(weft_loop *h, void (*fn)(void *arg), void *arg)
{
    if (!fn) return -EINVAL;
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    return submit(h, NULL, NULL, call_body, NULL, fn, arg);
}
