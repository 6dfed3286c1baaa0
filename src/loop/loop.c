/* loop/loop.c — the per-thread loop: creation, references, the run queue, remote posting,
 * waking a sleeping loop, and shutdown.
 *
 * Threads: everything here runs on the loop's own thread except weft__loop_ref/_unref,
 * weft__loop_post and weft__loop_poke, which any thread may call while it holds (or, for
 * post, the caller guarantees) a reference.
 *
 * Sleep/wake protocol (no lost wake-ups): the loop stores `sleeping` (seq_cst), then checks
 * the remote queue (seq_cst) and only then sleeps; a poster pushes (seq_cst exchange), then
 * reads `sleeping` (seq_cst). Either the loop sees the node, or the poster sees the loop
 * asleep and wakes it: through the futex on `sleeping` itself when the loop has no file
 * descriptors to watch, through its eventfd when it sleeps in epoll_wait.
 */
#include "loop/internal.h"
#include "loop/mpsc.h"

#include <stdlib.h>

static _Atomic uint64_t next_id = 1;

uint64_t weft__new_id(void)
{
    return atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
}

static void coro_remote_run(weft__loop *l, weft__mpsc_node *n)
{
    weft__loop_ready(l, weft__container_of(n, weft__coro, remote));
}

static void main_remote_run(weft__loop *l, weft__mpsc_node *n)
{
    (void)n;
    /* Cleared before main is queued: a claim that comes after may post main again. */
    atomic_store_explicit(&l->main_posted, 0, memory_order_release);
    weft__loop_ready(l, &l->main);
}

static void loop_thread_exit(void);
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static void set_hook(void) { weft__exit_loop_hook = loop_thread_exit; }

weft__loop *weft__loop_get(void)
{
    weft__tls *t = weft__tls_get();
    if (weft__likely(t->loop != NULL)) return t->loop;
    weft__loop *l = weft__calloc(1, sizeof *l);
    if (!l) return NULL;
    weft__fiber_init_thread(&l->main.fiber);
    l->main.is_main = true;
    weft__list_init(&l->main.cancel_hooks);
    l->main.started = true;
    l->main.loop = l;
    l->main.name = "thread";
    l->main.remote.run = main_remote_run;
    l->current = &l->main;
    weft__mpsc_init(&l->remote);
    atomic_init(&l->refs, 1);
    weft__list_init(&l->live);
    l->epfd = l->evfd = -1;
    weft__overflow_setup(l);
    t->loop = l;
    pthread_once(&hook_once, set_hook);
    weft__tls_arm_exit_hook();
    return l;
}

void weft__loop_ref(weft__loop *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

void weft__loop_unref(weft__loop *l)
{
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1) return;
    /* A request posted after the loop's last drain (a cancel of a task that finished
     * meanwhile) still holds a reference to its future: let it drop it. No producer can
     * be mid-push: each holds a loop reference. Main's own node needs nothing. */
    weft__mpsc_node *n;
    while ((n = weft__mpsc_pop(&l->remote)) != NULL)
        if (n != &l->main.remote) n->run(l, n);
    if (l->epfd >= 0) close(l->epfd);
    if (l->evfd >= 0) close(l->evfd);
    free(l->heap);
    weft__free(l->fds);
#if WEFT__HAVE_COMPACT
    if (l->runstack) {                /* every compact coroutine has ended */
        weft__runstack_destroy(l->runstack);
        weft__free(l->runstack);
    }
#endif
    weft__free(l);
}

void weft__loop_poke(weft__loop *l)
{
    if (atomic_load_explicit(&l->sleeping, memory_order_seq_cst) == WEFT__AWAKE) return;
    uint32_t how = atomic_exchange_explicit(&l->sleeping, WEFT__AWAKE, memory_order_seq_cst);
    if (how == WEFT__SLEEP_FUTEX) {
        weft__futex_wake(&l->sleeping, 1);
    } else if (how == WEFT__SLEEP_EPOLL) {
        uint64_t one = 1;
        ssize_t r = weft__sys_write(l->evfd, &one, sizeof one);
        (void)r;   /* EAGAIN: the counter is already non-zero, the loop will wake */
    }
}

void weft__loop_post(weft__loop *l, weft__mpsc_node *n)
{
    weft__mpsc_push(&l->remote, n);
    weft__perturb(WEFT__PP_LOOP_POST);
    weft__loop_poke(l);
    weft__loop_unref(l);
}

int weft__coro_init(weft__coro *c, weft__loop *l, const weft__coro_ops *ops,
                    uint32_t stack_size)
{
    if (l->shutting_down) return -ESHUTDOWN;
    c->ops = ops;
    c->loop = l;
    c->stack = NULL;
    c->stack_size = stack_size;
    c->waiter = NULL;
    c->cancelled = false;
    atomic_init(&c->cancel_asked, false);
    c->scope = NULL;
    weft__list_init(&c->cancel_hooks);
    c->canary = false;
    c->started = false;
    c->is_main = false;
    c->queued = false;
    c->compact = false;
    c->shields = 0;
#if WEFT_DEBUG
    weft__list_init(&c->held_locks);
#endif
    c->remote.run = coro_remote_run;
    c->id = 0;                        /* given when first asked (weft__coro_id): no
                                         atomic increment per spawn */
    weft__list_push_back(&l->live, &c->live_link);
    l->nlive++;
    return 0;
}

int weft__coro_make_compact(weft__coro *c)
{
#if WEFT__HAVE_COMPACT
    weft__loop *l = c->loop;
    weft__assert_loop_thread(l);
    if (!l->runstack) {
        if (!weft_compact_stacks()) return -ENOTSUP;   /* no guard pages: not here */
        weft__runstack *rs = weft__malloc(sizeof *rs);
        if (!rs) return -ENOMEM;
        if (weft__runstack_init(rs) != 0) {
            weft__free(rs);
            return -ENOMEM;
        }
        if (rs->stack->flags & WEFT__STACK_CANARY) {   /* no guard page to catch an */
            weft__runstack_destroy(rs);                  /* overflow: not here */
            weft__free(rs);
            return -ENOTSUP;
        }
        l->runstack = rs;
    }
    weft__compact *cpt = weft__malloc(sizeof *cpt);
    if (!cpt) return -ENOMEM;
    memset(cpt, 0, sizeof *cpt);
    c->cpt = cpt;
    c->compact = true;
    return 0;
#else
    (void)c;
    return -ENOTSUP;
#endif
}

void weft__coro_forget(weft__coro *c)
{
    weft__list_unlink(&c->live_link);
    c->loop->nlive--;
}

bool weft_compact_stacks(void)
{
#if WEFT__HAVE_COMPACT
    if (strcmp(weft__stack_guard_mode(), "unset") == 0) {   /* the first stack chooses */
        weft__stack *s = weft__stack_get(0);
        if (s) weft__stack_put(s);
    }
    return strcmp(weft__stack_guard_mode(), "canary") != 0;
#else
    return false;
#endif
}

weft__stack *weft__coro_stack(const weft__coro *c)
{
#if WEFT__HAVE_COMPACT
    if (c->compact) return c->loop->runstack->stack;
#endif
    return c->stack;
}

void weft__coro_cancel(weft__coro *c)
{
    weft__assert_loop_thread(c->loop);
    c->cancelled = true;
    if (c->waiter && !c->waiter->shielded) weft__waiter_wake(c->waiter, WEFT__W_CANCELLED);
    for (weft__list *n = c->cancel_hooks.next; n != &c->cancel_hooks; n = n->next) {
        weft__cancel_hook *h = weft__container_of(n, weft__cancel_hook, link);
        h->cancelled(h);
    }
}

void weft__coro_run_end_hooks(weft__coro *c)
{
    while (!weft__list_empty(&c->cancel_hooks)) {
        weft__cancel_hook *h = weft__container_of(c->cancel_hooks.next, weft__cancel_hook, link);
        h->ended(h);              /* unlinks it */
    }
}

void (*weft__loop_close_hook)(weft__loop *l);

void weft__loop_drain(weft__loop *l, bool forever)
{
    weft__assert(l->current == &l->main, "the loop is drained from its thread's own context");
    bool was = l->shutting_down;
    l->shutting_down = true;
    if (forever && l->handle) weft__loop_close_hook(l);   /* no post gets in from now on */
    while (l->nlive > 0) {
        for (weft__list *n = l->live.next; n != &l->live; n = n->next) {
            weft__coro *c = weft__container_of(n, weft__coro, live_link);
            if (!c->cancelled) weft__coro_cancel(c);
        }
        weft__waiter w;
        weft__waiter_init(&w);
        l->empty_waiter = &w;
        weft__waiter_park_raw(&w, WEFT__NO_DEADLINE);
        l->empty_waiter = NULL;
    }
    l->shutting_down = forever || was;
}

/* Thread exit (pthread key destructor, or weft's own thread trampoline): the loop's
 * coroutines are cancelled and run to their end, then the loop goes. */
static void loop_thread_exit(void)
{
    weft__tls *t = weft__tls_get();
    weft__loop *l = t->loop;
    if (!l) return;
    if (l->current != &l->main)
        weft__fatal("a thread ended (pthread_exit?) inside coroutine #%llu",
                    (unsigned long long)weft__coro_id(l->current));
    weft__loop_drain(l, true);
    t->loop = NULL;
    weft__overflow_teardown(l);
    weft__perturb(WEFT__PP_LOOP_EXIT);
    weft__loop_unref(l);
}
