/* future/thread.c — weft_thread (Python's threading.Thread) and weft_shutdown.
 *
 * A thread's completion is a future: joining is waiting on it, so a join works from a
 * coroutine as from a thread (principle 1), with a timeout. That is why threads live in
 * the future layer rather than in core. The pthread is detached; the future completes only
 * after the thread's weft state is gone (its loop drained, its locals destroyed), so a join
 * that returns means the thread's work, cleanup included, is over.
 *
 * Program exit follows Python: weft_shutdown (registered with atexit at the first start)
 * waits for every non-daemon thread; daemon threads are simply abandoned to exit().
 *
 * The future is handed out too (weft_thread_future), so that wait, gather and
 * as_completed take threads beside tasks and jobs. It cannot be cancelled (a thread has
 * always started, and nothing may stop it but itself) nor completed by anyone but the
 * thread: its ops refuse both, so a join, and weft_shutdown's join, always mean "ended".
 *
 * Locking: registry_lock guards the registry (non-daemon threads that have not finished),
 * the list of daemon threads that have not finished (kept only for a forked child, see
 * fork_child) and shutting_down. A thread leaves its list before its future completes.
 */
#include "future/internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct weft_thread {
    _Atomic uint32_t refs;              /* the caller's handle + the running thread */
    weft_future *done;                  /* completed with fn's return value and result */
    weft_fn fn;
    void *arg;
    bool daemon;
    weft__list link;                    /* registry_lock: in registry, or daemons */
    char *name;                         /* owned copy */
};

static weft__mutex registry_lock = WEFT__MUTEX_INIT;
static weft__list registry = { &registry, &registry };
static weft__list daemons = { &daemons, &daemons };
static bool shutting_down;
static unsigned long thread_count;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

/* A thread's future: weft_future_cancel says -EBUSY (it has started), and
 * weft_future_set_result / _set_error refuse a future with ops (-EINVAL). */
static int done_cancel(weft_future *f)
{
    (void)f;
    return -EBUSY;
}

static void done_free(weft_future *f)
{
    weft__free(f);
}

static const weft__future_ops done_ops = { done_cancel, done_free, NULL, NULL, NULL, NULL };

static int done_create(weft_future **out)
{
    weft_future *f = weft__malloc(sizeof *f);
    if (!f) return -ENOMEM;
    weft__future_init(f, &done_ops, 1);
    *out = f;
    return 0;
}

static void thread_unref(weft_thread *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) return;
    weft_future_release(t->done);
    weft__free(t->name);
    weft__free(t);
}

static void *thread_main(void *p)
{
    weft_thread *t = p;
    weft__tls_self.thread = t;
    char os_name[16];                               /* the kernel keeps 15 bytes */
    snprintf(os_name, sizeof os_name, "%.15s", t->name);
    pthread_setname_np(pthread_self(), os_name);
    void *result = NULL;
    int rc = t->fn(t->arg, &result);
    /* End the thread's weft state now, so that a join sees it finished. */
    if (weft__tls_self.loop && weft__exit_loop_hook) weft__exit_loop_hook();
    weft__locals_thread_exit();
    weft__mutex_lock(&registry_lock);
    weft__list_unlink(&t->link);
    weft__mutex_unlock(&registry_lock);
    weft__tls_self.thread = NULL;
    weft__future_complete(t->done, rc, result);
    thread_unref(t);
    return NULL;
}

/* fork (core/fork.c, registered with the first thread): the registry's lock is held over
 * the fork (and released on both sides: in the child the forking thread, its holder, is
 * the only one). In the child the parent's threads do not exist: its exit must not wait
 * for them, so the registry starts empty; their records, daemons' too, are left behind,
 * unfreed, on left_behind (reachable: a leak checker in the child does not report them). */
static weft__list left_behind = { &left_behind, &left_behind };

static void fork_prepare(void) { weft__mutex_lock(&registry_lock); }
static void fork_parent(void) { weft__mutex_unlock(&registry_lock); }
static void fork_child(void)
{
    weft__list *lists[] = { &registry, &daemons };
    for (int i = 0; i < 2; i++)
        while (!weft__list_empty(lists[i])) {
            weft__list *l = lists[i]->next;
            weft__list_unlink(l);
            weft__list_push_back(&left_behind, l);
        }
    weft__mutex_unlock(&registry_lock);
}

static void shut_down(void);

static void at_exit(void)
{
    shut_down();
}

static void register_at_exit(void)
{
    atexit(at_exit);
    weft__fork_hook(WEFT__FORK_THREAD, fork_prepare, fork_parent, fork_child);
}

/* Copies the name, or makes "weft-N". */
static char *make_name(const weft_thread_opts *opts, unsigned long n)
{
    char buf[32];
    const char *src = opts && opts->name ? opts->name : buf;
    if (src == buf) snprintf(buf, sizeof buf, "weft-%lu", n);
    size_t len = strlen(src) + 1;
    char *name = weft__malloc(len);
    if (name) memcpy(name, src, len);
    return name;
}

/* The asynchronous signals a weft-made thread blocks (weft__thread_start_quiet): all but the
 * synchronous ones, which a fault raises in the faulting thread whatever its mask (a blocked
 * SIGSEGV would kill the process without the stack-overflow report). */
static void quiet_mask(sigset_t *set)
{
    sigfillset(set);
    static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT,
                                        SIGSYS };
    for (size_t i = 0; i < sizeof sync_signals / sizeof sync_signals[0]; i++)
        sigdelset(set, sync_signals[i]);
}

static int start(weft_thread **out, const weft_thread_opts *opts, weft_fn fn, void *arg,
                 bool quiet);

int weft_thread_start(weft_thread **out, const weft_thread_opts *opts, weft_fn fn, void *arg)
{
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* see WEFT_SPAWN_COMPACT */
    return start(out, opts, fn, arg, false);
}

int weft__thread_start_quiet(weft_thread **out, const weft_thread_opts *opts, weft_fn fn,
                             void *arg)
{
    return start(out, opts, fn, arg, true);
}

static int start(weft_thread **out, const weft_thread_opts *opts, weft_fn fn, void *arg,
                 bool quiet)
{
    if (!out || !fn) return -EINVAL;
    weft_thread *t = weft__calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    unsigned long n;
    weft__mutex_lock(&registry_lock);
    n = ++thread_count;
    weft__mutex_unlock(&registry_lock);
    t->name = make_name(opts, n);
    if (!t->name || done_create(&t->done) != 0) {
        weft__free(t->name);
        weft__free(t);
        return -ENOMEM;
    }
    atomic_init(&t->refs, 2);
    t->fn = fn;
    t->arg = arg;
    t->daemon = opts && opts->daemon;
    pthread_once(&atexit_once, register_at_exit);

    weft__mutex_lock(&registry_lock);
    if (shutting_down && !t->daemon) {
        weft__mutex_unlock(&registry_lock);
        weft_future_release(t->done);
        weft__free(t->name);
        weft__free(t);
        return -ESHUTDOWN;
    }
    weft__list_push_back(t->daemon ? &daemons : &registry, &t->link);
    weft__mutex_unlock(&registry_lock);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = 0;
    if (opts && opts->stack_size) rc = pthread_attr_setstacksize(&attr, opts->stack_size);
    pthread_t pt;
    /* A quiet thread starts with the asynchronous signals blocked (it inherits the mask in
     * force at pthread_create), so that signals meant for the application never land on
     * it: a program that waits for them with sigwait or signalfd on its own thread gets
     * them all. */
    sigset_t quiet_set, old;
    if (quiet) {
        quiet_mask(&quiet_set);
        pthread_sigmask(SIG_BLOCK, &quiet_set, &old);
    }
    if (rc == 0) rc = pthread_create(&pt, &attr, thread_main, t);
    if (quiet) pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* A concurrent weft_shutdown may already hold a reference and wait on the future:
         * end the thread as if it had run and failed, then drop both of our references. */
        weft__mutex_lock(&registry_lock);
        weft__list_unlink(&t->link);
        weft__mutex_unlock(&registry_lock);
        weft__future_complete(t->done, -rc, NULL);
        atomic_store_explicit(&t->done->retrieved, 1, memory_order_relaxed);  /* returned */
        thread_unref(t);
        thread_unref(t);
        return -rc;
    }
    *out = t;
    return 0;
}

int weft_thread_join(weft_thread *t, int64_t timeout, void **result)
{
    if (!t) return -EINVAL;
    if (weft__tls_self.thread == t) return -EDEADLK;
    return weft_future_result(t->done, timeout, result);
}

weft_future *weft_thread_future(weft_thread *t)
{
    if (!t) return NULL;
    weft_future_retain(t->done);
    return t->done;
}

bool weft_thread_is_alive(weft_thread *t)
{
    return t && !weft_future_done(t->done);
}

const char *weft_thread_name(weft_thread *t)
{
    return t ? t->name : NULL;
}

void weft_thread_release(weft_thread *t)
{
    if (t) thread_unref(t);
}

/* The first registered thread other than the caller, retained; NULL if none is left. */
static weft_thread *next_to_join(void)
{
    weft_thread *found = NULL;
    weft__mutex_lock(&registry_lock);
    for (weft__list *n = registry.next; n != &registry; n = n->next) {
        weft_thread *t = weft__container_of(n, weft_thread, link);
        if (t == weft__tls_self.thread) continue;
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
        found = t;
        break;
    }
    weft__mutex_unlock(&registry_lock);
    return found;
}

/* Drains the calling thread's loop (unless called inside one of its coroutines, as exit()
 * may be: then the joins block the thread itself), then joins the non-daemon threads. */
static void shut_down(void)
{
    weft__tls *tls = weft__tls_get();
    bool in_coroutine = weft__coro_current() != NULL;
    weft__mutex_lock(&registry_lock);
    shutting_down = true;
    weft__mutex_unlock(&registry_lock);
    if (in_coroutine) tls->thread_wait = true;
    else if (tls->loop) weft__loop_drain(tls->loop, true);
    weft_thread *t;
    while ((t = next_to_join()) != NULL) {
        weft_future_result(t->done, WEFT_FOREVER, NULL);
        thread_unref(t);
    }
    tls->thread_wait = false;
}

int weft_shutdown(void)
{
    if (weft__coro_current()) return -EDEADLK;
    shut_down();
    return 0;
}
