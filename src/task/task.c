/* task/task.c — coroutines as tasks: spawn, run, sleep, yield, cancel.
 *
 * A task is one allocation: its future (the handle users hold) and its coroutine. The loop
 * holds one reference from spawn until the coroutine has ended and its stack is released
 * (reap); the spawner's handle is another. The stack is taken when the task first runs and
 * returned when it ends, so a million spawned-and-finished tasks reuse one hot stack.
 *
 * Cancellation always goes through the task's loop, so only the loop's thread touches the
 * coroutine: from that thread directly, from another by posting the task's node to the
 * loop (holding a reference to the future and to the loop until the loop has taken it).
 * A cancel from another thread marks the future WATCHED under its lock (as a waiter does),
 * so the task's completion, which is owned (only its coroutine completes it) and otherwise
 * lock-free, takes that lock too: a task that is not done under the lock still has its
 * coroutine, hence its loop.
 *
 * The joiner: the first coroutine of the task's own loop that waits for it (spawn, then
 * weft_future_result: the common structured case) parks in the task's joiner slot rather
 * than on the future's wait list. Everything that touches the slot runs on that loop's
 * thread -- the join, the completion, the joiner's own timeout or cancellation --, so it
 * needs no lock, and a task that nobody else watches completes with one atomic exchange.
 * Other waiters (other threads, a second coroutine, callbacks) use the list as usual. The
 * slot shares its storage with the future's result (fut.joiner: no bigger task), which
 * nobody reads before the future is done: a join from another thread's loop must not look
 * at it, hence task_join's test of the loop first.
 */
#include "task/internal.h"
#include "sync/internal.h"

typedef struct weft__task {
    weft_future fut;
    weft__coro coro;                  /* coro.entry is the weft_fn */
    void *arg;
    weft__mpsc_node post;             /* a cancel from another thread, posted to the loop */
} weft__task;

static weft__task *task_of(weft_future *f) { return weft__container_of(f, weft__task, fut); }

/* The one completion of a task (its body's end, or no stack to start it): owned, so no
 * lock unless someone watches; then the joiner's wake-up. Loop thread only. */
static void task_complete(weft__task *t, int err, void *result)
{
    weft__waiter *j = t->fut.joiner;    /* the result's storage: read before it is written */
    weft__future_complete_owned(&t->fut, err, result);
    if (j) weft__waiter_wake_local(j, WEFT__W_WOKEN);  /* lost to its timeout or cancel: fine */
}

static void task_body(weft__coro *c)
{
    weft__task *t = weft__container_of(c, weft__task, coro);
    void *result = NULL;
    /* Cancelled before it first ran: it never runs. A cancel from another thread counts
     * from the moment it returned, not from when this loop takes its post (the loop may
     * run the task first: the post only makes it cancelled here). */
    weft_fn fn = (weft_fn)(uintptr_t)c->entry;
    bool cancelled = c->cancelled || atomic_load_explicit(&c->cancel_asked, memory_order_acquire);
    int err = cancelled ? -ECANCELED : fn(t->arg, &result);
    /* Task groups it created and did not wait for: wound up now, nothing outlives it. */
    if (weft__unlikely(!weft__list_empty(&c->cancel_hooks))) weft__coro_run_end_hooks(c);
#if WEFT_DEBUG
    /* Locks it still holds may be handed over: reported only if nobody releases them. */
    weft__locks_orphan(c);
#endif
    task_complete(t, err, result);
}

static void task_reap(weft__coro *c)
{
    weft_future_release(&weft__container_of(c, weft__task, coro)->fut);
}

static void task_no_stack(weft__coro *c)
{
    task_complete(weft__container_of(c, weft__task, coro), -ENOMEM, NULL);
}

static void cancel_run(weft__loop *l, weft__mpsc_node *n)
{
    (void)l;
    weft_future *f = &weft__container_of(n, weft__task, post)->fut;
    if (!weft__future_is_done(f))
        weft__coro_cancel(&task_of(f)->coro);
    weft_future_release(f);
}

static int task_cancel(weft_future *f)
{
    weft__task *t = task_of(f);
    weft__loop *l = t->coro.loop;
    if (weft__future_watch(f)) {                 /* locked; WATCHED: see the top */
        weft__mutex_unlock(&f->lock);
        return -EBUSY;
    }
    if (atomic_exchange_explicit(&f->cancel_requested, 1, memory_order_relaxed)) {
        weft__mutex_unlock(&f->lock);
        return 0;   /* asked before: it is on its way */
    }
    bool local = l == weft__tls_self.loop;
    if (!local) {
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
        weft__loop_ref(l);
    }
    weft__mutex_unlock(&f->lock);
    if (local) {
        weft__coro_cancel(&t->coro);
    } else {
        atomic_store_explicit(&t->coro.cancel_asked, true, memory_order_release);
        t->post.run = cancel_run;
        weft__loop_post(l, &t->post);
    }
    return 0;
}

static void task_free(weft_future *f)
{
    /* The last reference is gone, so nobody waits: a joiner still parked here would be
     * woken later through freed memory. (Once done, the slot's storage is the result: the
     * completion read and woke the joiner before writing it.) */
    weft__assert(weft__future_is_done(f) || f->joiner == NULL,
                 "a task freed with a coroutine parked in its joiner slot");
    weft__block_put(task_of(f), sizeof(weft__task));
}

static const char *task_name(weft_future *f)
{
    return task_of(f)->coro.name;
}

/* A coroutine waits for f: the joiner slot if the waiter runs on the task's loop and the
 * slot is free (see the top); 1 otherwise. Blocks (parks the coroutine) until the task ends,
 * deadline passes or the caller is cancelled. The caller's loop thread only. */
static int task_join(weft_future *f, int64_t deadline)
{
    weft__task *t = task_of(f);
    weft__loop *l = weft__tls_self.loop;
    if (t->coro.loop != l || t->fut.joiner) return 1;   /* the loop first: see the top */
    if (l->current == &t->coro) return -EDEADLK;   /* a task waiting for itself */
    weft__park local, *p = weft__park_get(&local);
    weft__waiter *w = &p->w;
    weft__waiter_init(w);
    t->fut.joiner = w;
    int rc = weft__waiter_park(w, deadline);
    /* Its timeout or cancellation came first: free the slot (once done, it is the result). */
    if (!weft__future_is_done(f) && t->fut.joiner == w) t->fut.joiner = NULL;
    return rc;
}

static const weft__future_ops task_ops = { task_cancel, task_free, task_name, NULL, NULL,
                                           task_join };

static weft_future *task_future(weft__coro *c)
{
    return &weft__container_of(c, weft__task, coro)->fut;
}

static const weft__coro_ops task_coro_ops = { task_body, task_reap, task_no_stack, task_future };

int weft__task_new(weft_future **task, const weft_spawn_opts *opts, weft_fn fn, void *arg,
                  uint32_t refs)
{
    if (!fn) return -EINVAL;
    size_t stack = opts ? opts->stack_size : 0;
    if (stack && (stack < WEFT_STACK_MIN || stack > (size_t)1 << 30)) return -EINVAL;
    unsigned flags = opts ? opts->flags : 0;
    if (flags & ~WEFT_SPAWN_COMPACT) return -EINVAL;
    if (weft__on_compact_stack(arg)) return -EFAULT;   /* the child would read it while the
                                                          compact caller is copied out */
    if ((flags & WEFT_SPAWN_COMPACT) && stack > WEFT_STACK_DEFAULT) return -EINVAL;
    weft__loop *l = weft__tls_self.loop;     /* weft__loop_get's fast path, inline */
    if (weft__unlikely(!l) && !(l = weft__loop_get())) return -ENOMEM;
    if (l->shutting_down) return -ESHUTDOWN;
    weft__task *t = weft__block_get(sizeof *t);
    if (!t) return -ENOMEM;
    weft__future_init(&t->fut, &task_ops, refs);
    t->arg = arg;
    weft__coro *c = &t->coro;
    weft__coro_init(c, l, &task_coro_ops, (uint32_t)stack);
    if (weft__unlikely(flags & WEFT_SPAWN_COMPACT) && weft__coro_make_compact(c) == -ENOMEM) {
        weft__coro_forget(c);            /* never ran: as if never made */
        weft__block_put(t, sizeof *t);
        return -ENOMEM;
    }                                    /* -ENOTSUP: an ordinary coroutine, as documented */
    c->name = opts ? opts->name : NULL;
    c->entry = (const void *)(uintptr_t)fn;
    *task = &t->fut;
    return 0;
}

weft__coro *weft__task_coro(weft_future *task)
{
    return &task_of(task)->coro;
}

void weft__task_start(weft_future *task)
{
    weft__coro *c = &task_of(task)->coro;
    weft__loop_ready(c->loop, c);
}

int weft_spawn_ex(weft_future **task, const weft_spawn_opts *opts, weft_fn fn, void *arg)
{
    weft_future *f;
    int rc = weft__task_new(&f, opts, fn, arg, task ? 2 : 1);
    if (rc) return rc;
    weft__task_start(f);
    if (task) *task = f;
    return 0;
}

int weft_spawn(weft_future **task, weft_fn fn, void *arg)
{
    return weft_spawn_ex(task, NULL, fn, arg);
}

int weft_run(weft_fn main, void *arg, void **result)
{
    if (!main) return -EINVAL;
    weft__loop *l = weft__loop_get();
    if (!l) return -ENOMEM;
    if (l->current != &l->main || l->in_run) return -EBUSY;
    weft_future *f;
    int rc = weft_spawn(&f, main, arg);
    if (rc) return rc;
    l->in_run = true;
    rc = weft_future_result(f, WEFT_FOREVER, result);
    weft__loop_drain(l, false);
    l->in_run = false;
    weft_future_release(f);
    return rc;
}

int weft_sleep(int64_t ns)
{
    if (ns == 0) return weft_yield();
    int64_t deadline;
    int rc = weft__deadline(ns, &deadline);
    if (rc) return rc;
    /* The one mechanism for every context: a coroutine parks on its loop; a thread sleeps
     * on the futex (no spin first: only a deadline, a scope or a pool job's cancel ends
     * it), and the waiter applies deadline scopes and a job's cancellation alike. */
    weft__park local, *p = weft__park_get(&local);
    weft__waiter_init(&p->w);
    p->w.no_spin = true;
    rc = weft__waiter_park(&p->w, deadline);
    /* Its own time up is a sleep's success; a deadline scope cutting it short is not. */
    return rc == -ETIMEDOUT && !p->w.cut ? 0 : rc;
}

bool weft_cancelled(void)
{
    return weft__cancel_pending();      /* not inside a shielded scope */
}

size_t weft_live_coroutines(void)
{
    weft__loop *l = weft__tls_self.loop;
    return l ? l->nlive : 0;
}

bool weft_in_compact_coroutine(void)
{
    return weft__in_compact();
}

bool weft_in_coroutine(void)
{
    return weft__coro_current() != NULL;
}

weft_future *weft_current_task(void)
{
    weft__coro *c = weft__coro_current();
    return c ? c->ops->task(c) : NULL;
}

const char *weft_task_name(weft_future *f)
{
    if (!f) return NULL;
    weft__future_check(f);
    return f->ops == &task_ops ? task_of(f)->coro.name : NULL;
}
